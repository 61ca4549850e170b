/* SPDX-License-Identifier: BSD-3-Clause */
/* Magnitude pruning (docs/compression.md).
 *
 * The prunable weights of a model are its parameters with two or more dims (the weights
 * of Linear [out, in] and Conv2d [out, in, kh, kw]; biases and norm parameters are kept).
 * Unstructured pruning zeroes the individual weights of smallest |w|: over all prunable
 * weights at once (global, the default) or each layer on its own (per_layer). Structured
 * pruning zeroes whole output units (a conv's output channel, a linear layer's row) of
 * smallest L1 or L2 norm; it leaves the model's last prunable layer alone (its rows are the
 * classes), and the global variant ranks units by their norm divided by the mean norm of
 * their layer's units, so layers of different fan-in (and weight scale) compare.
 *
 * The masks are not stored: a pruned weights file is an ordinary one whose pruned
 * weights are exactly 0, and ax_pruner_from_zeros rebuilds the masks from those zeros
 * before fine-tuning. During fine-tuning the masks zero the pruned weights' gradients
 * before every optimizer step and the pruned weights after it (AdamW's decoupled weight
 * decay and momentum would otherwise revive them): ax_pruner_pre_step / _post_step are
 * the training engine's step hooks (ax_trainer_config.pre_optim_step / post_optim_step).
 */
#ifndef AXON_PRUNE_H
#define AXON_PRUNE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "axon/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ax_prune_spec {
  double sparsity; /* the fraction to zero, in [0, 1): of the weights, or (structured) of the units */
  bool per_layer;  /* each layer to `sparsity` (default: one ranking over all prunable weights) */
  bool structured; /* whole output channels / rows instead of single weights */
  int norm;        /* structured: the unit's norm, 1 (L1, 0 means 1) or 2 */
} ax_prune_spec;

typedef struct ax_pruner ax_pruner; /* one 0/1 mask per prunable weight, on the weight's device */

/* Zeroes the weights of model that spec selects (round(sparsity x count) of them, ties
 * broken by position) and returns the masks. NULL with a reason (a sparsity outside [0, 1),
 * no prunable weights, a non-f32 weight). */
ax_pruner *ax_prune_magnitude(ax_module *model, const ax_prune_spec *spec, char *err, size_t errlen);
/* The masks of a pruned model: 0 where a prunable weight is exactly 0. NULL with a reason. */
ax_pruner *ax_pruner_from_zeros(ax_module *model, char *err, size_t errlen);
void ax_pruner_free(ax_pruner *p);
int ax_pruner_mask_grads(ax_pruner *p); /* zeroes the gradients of the pruned weights; 0 or -1 */
int ax_pruner_apply(ax_pruner *p);      /* zeroes the pruned weights; 0 or -1 */
double ax_pruner_sparsity(const ax_pruner *p); /* the masks' fraction of zeros */
/* The engine's hooks (ud is the ax_pruner): mask_grads and apply. */
int ax_pruner_pre_step(void *ud);
int ax_pruner_post_step(void *ud);

/* ---- the sparsity report: what the weights hold now (exact zeros), layer by layer ---- */
typedef struct ax_prune_layer {
  char name[96];      /* "layer1.0.conv1.weight" */
  int64_t numel, zeros;
  int64_t units, zero_units; /* output channels / rows, and those entirely zero */
} ax_prune_layer;
/* Writes at most max layers to out (out may be NULL) and returns the number of prunable
 * layers; *numel and *zeros (may be NULL) get the totals. -1 after an error. */
int ax_prune_report(ax_module *model, ax_prune_layer *out, int max, int64_t *numel, int64_t *zeros);
/* The report as a table: layer, shape, weights, zeros, sparsity, zero units; then the total. */
int ax_prune_report_print(ax_module *model, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
