/* SPDX-License-Identifier: BSD-3-Clause */
/* `axon train --data-csv FILE` / `--data-npz FILE`: a dataset of the user's own arrays,
 * split into training and test sets, for the feature MLP (docs/data.md). */
#ifndef AXON_TOOLS_TRAIN_FEATURES_H
#define AXON_TOOLS_TRAIN_FEATURES_H

#include <stdio.h>

#include "axon.h"
#include "tools/trainer.h"

typedef struct ax_feature_source {
  const char *csv, *npz;   /* exactly one */
  const char *label_col;   /* CSV: the label column's name or index (NULL: the last) */
  int64_t test_size;       /* rows held out as the test set (0: a fifth); npz with x_test / y_test: ignored */
  uint64_t seed;           /* of the split */
} ax_feature_source;

/* The training and test datasets. 0, or -1 with a reason naming the file. */
int ax_tool_load_features(const ax_feature_source *s, ax_dataset **train, ax_dataset **test, char *err, size_t errlen);
/* "30" or "1,28,28": the shape of one sample of ds, into buf. */
void ax_tool_sample_shape(const ax_dataset *ds, char *buf, size_t n);
/* Elements per sample. */
int64_t ax_tool_sample_size(const ax_dataset *ds);

/* axon eval of the feature MLP's weights (sd, from c->weights): the same test split as
 * training (the file's axon_split_seed, axon_test_size, axon_label_col) of c->data_csv /
 * c->data_npz or the file's axon_dataset, normalized as the file records. 0, or -1 with a
 * reason (data whose sample shape is not the file's names both). */
int ax_tool_eval_features(const ax_eval_config *c, const ax_state_dict *sd, FILE *out, double *accuracy, char *err,
                          size_t errlen);

#endif
