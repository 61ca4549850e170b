/* Training checkpoints shared by the trainers: the model's state under "model.",
 * the optimizer's under "optimizer.", and string metadata (step, RNG, ...) in one
 * safetensors file written atomically (docs/file-formats.md). */
#ifndef AXON_TOOLS_CHECKPOINT_H
#define AXON_TOOLS_CHECKPOINT_H

#include <stdint.h>

#include "axon.h"

/* A new dict holding model.* and optimizer.* (the caller adds metadata, saves, frees). */
ax_state_dict *ax_tool_ckpt_collect(ax_module *model, ax_optimizer *opt);
/* Loads model.* (strictly) and optimizer.* of sd into model and opt. 0, or -1 with a reason. */
int ax_tool_ckpt_restore(const ax_state_dict *sd, ax_module *model, ax_optimizer *opt, const char *path, char *err,
                         size_t errlen);
/* Integer / real metadata; -1 with "PATH: not an axon training checkpoint (no KEY)" when absent or bad. */
int ax_tool_meta_i64(const ax_state_dict *sd, const char *key, int64_t *v, const char *path, char *err, size_t n);
int ax_tool_meta_f64(const ax_state_dict *sd, const char *key, double *v, const char *path, char *err, size_t n);
int ax_tool_meta_set_i64(ax_state_dict *sd, const char *key, int64_t v);

#endif
