/* Training checkpoints shared by the trainers: the model's state under "model.",
 * the optimizer's under "optimizer.", and string metadata (step, RNG, ...) in one
 * safetensors file written atomically (docs/file-formats.md). */
#ifndef AXON_TOOLS_CHECKPOINT_H
#define AXON_TOOLS_CHECKPOINT_H

#include <stdint.h>

#include "axon.h"

/* A new dict holding model.* and optimizer.* (the caller adds metadata, saves, frees).
 * With a ZeRO optimizer (zero != NULL, opt ignored) the optimizer state is gathered from
 * every rank in the plain optimizer's format: a collective, so every rank must call it. */
ax_state_dict *ax_tool_ckpt_collect(ax_module *model, ax_optimizer *opt, ax_zero *zero);
/* The start of writing a checkpoint into folder dir, called by every rank: collects the
 * dict (gathering a ZeRO state, a collective), then on rank 0 creates dir and returns the
 * dict in *out (the caller adds metadata, saves, frees); on other ranks *out is NULL.
 * 0, or -1 with a reason (nothing left to free). */
int ax_tool_ckpt_begin(const char *dir, ax_module *model, ax_optimizer *opt, ax_zero *zero, ax_state_dict **out,
                       char *err, size_t errlen);
/* Loads model.* (strictly) and optimizer.* of sd into model and opt (or zero, which takes
 * its slices of a plain optimizer's state). Refuses a NaN or infinity in any floating-point
 * tensor of sd (naming it). 0, or -1 with a reason. */
int ax_tool_ckpt_restore(const ax_state_dict *sd, ax_module *model, ax_optimizer *opt, ax_zero *zero, const char *path,
                         char *err, size_t errlen);
/* Integer / real metadata in [lo, hi] (a NaN is never in range); -1 with "PATH: not an
 * axon training checkpoint (no KEY)" when absent, or a reason when malformed or out of range.
 * Every scalar a resume reads goes through one of these, so nothing from the file reaches
 * an int conversion or the training state unchecked. */
int ax_tool_meta_i64(const ax_state_dict *sd, const char *key, int64_t lo, int64_t hi, int64_t *v, const char *path,
                     char *err, size_t n);
int ax_tool_meta_u64(const ax_state_dict *sd, const char *key, uint64_t *v, const char *path, char *err, size_t n);
int ax_tool_meta_f64(const ax_state_dict *sd, const char *key, double lo, double hi, double *v, const char *path,
                     char *err, size_t n);
/* Step and sample counts read from a checkpoint: at most 2^53 (exact as doubles). */
#define AX_TOOL_MAX_COUNT ((int64_t)1 << 53)
int ax_tool_meta_set_i64(ax_state_dict *sd, const char *key, int64_t v);
int ax_tool_meta_set_u64(ax_state_dict *sd, const char *key, uint64_t v);

#endif
