/* SPDX-License-Identifier: BSD-3-Clause */
/* Compression and model-selection pieces of `axon train` / `axon prune` / `axon eval`
 * (docs/compression.md, docs/metrics.md): initial weights, pruned fine-tuning,
 * distillation, k-fold cross-validation and the metrics JSON. */
#ifndef AXON_TOOLS_COMPRESS_H
#define AXON_TOOLS_COMPRESS_H

#include <stdbool.h>
#include <stdio.h>

#include "axon.h"
#include "tools/trainer.h"

/* Loads the weights file path into model (strictly); a file naming another zoo model is an
 * error. what names the flag in messages ("--init"). 0, or -1 with a reason. */
int ax_tool_load_weights(ax_module *model, const char *model_name, const char *path, const char *what, char *err,
                         size_t errlen);

/* What `axon train` adds around the engine for --init, --keep-sparsity and --teacher. */
typedef struct ax_tool_compress ax_tool_compress;
/* Before the model moves to the device: --init's weights. */
int ax_tool_compress_init(const ax_train_config *c, ax_module *model, char *err, size_t errlen);
/* After the move: the masks, the teacher, and the hooks, loss and metrics fields set in e
 * and d (d's functions wrapped when distilling). *out (NULL when nothing is asked). */
int ax_tool_compress_setup(const ax_train_config *c, ax_module *model, ax_trainer_config *e, ax_train_data *d,
                           FILE *log, ax_tool_compress **out, char *err, size_t errlen);
void ax_tool_compress_free(ax_tool_compress *x);

/* axon train --cv K: the folds, a run each, the table. */
int ax_tool_train_cv(const ax_train_config *c, char *err, size_t errlen);

/* axon eval --metrics-json FILE: every metric of the model on the loader, as one JSON object. */
int ax_tool_eval_metrics_json(ax_module *model, ax_loader *ld, ax_device dev, const char *path, const char *weights,
                              char *err, size_t errlen);
#endif
