/* SPDX-License-Identifier: BSD-3-Clause */
/* Mixed precision: autocast regions, dynamic loss scaling, activation
 * recomputation (checkpointing). docs/mixed-precision.md has the whole story.
 *
 * Autocast. Between ax_autocast_begin(AX_BF16) and ax_autocast_end() (per
 * thread, nesting), ax_matmul and ax_linear cast their f32 inputs to bf16 (or
 * f16) with the differentiable ax_cast, multiply with f32 accumulation and
 * return bf16, as PyTorch's autocast does; gradients flow back through the
 * casts, so f32 parameters get f32 gradients. softmax, log_softmax and
 * cross_entropy compute in f32 inside a region (a bf16 input is cast up).
 * ax_autocast_begin(AX_F32) opens a nested region with autocast off.
 *
 * Loss scaling (PyTorch's GradScaler). f16 gradients underflow; multiplying the
 * loss by S before ax_backward lifts them, and the optimizer step divides by S
 * again (through ax_optim_args.grad_scale, fused into the update):
 *
 *   ax_tensor *loss = ...;
 *   ax_backward(ax_loss_scaler_scale(scaler, loss), NULL);
 *   ax_loss_scaler_step(scaler, opt);   // skipped when a gradient has an inf/NaN
 *   ax_optimizer_zero_grad(opt);
 *
 * The scale halves after every skipped step and doubles after growth_interval
 * clean ones.
 *
 * Recomputation. ax_checkpoint(fn, ctx, n, inputs) runs fn without recording a
 * graph (its activations are freed at once) and records one node whose
 * backward runs fn again, with the same random numbers, and backpropagates
 * through that.
 */
#ifndef AXON_AMP_H
#define AXON_AMP_H

#include <stdbool.h>
#include <stdint.h>

#include "axon/io.h"
#include "axon/optim.h"
#include "axon/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- autocast ---- */
void ax_autocast_begin(ax_dtype dt); /* AX_BF16 or AX_F16; AX_F32 turns autocast off inside */
void ax_autocast_end(void);
int ax_autocast_dtype(void);         /* the active dtype, or -1 outside any (enabled) region */

/* ---- dynamic loss scaling ---- */
typedef struct ax_loss_scaler_opts {
  double init_scale;       /* 0 means 65536 */
  double growth_factor;    /* 0 means 2 */
  double backoff_factor;   /* 0 means 0.5 */
  int64_t growth_interval; /* clean steps before the scale grows; 0 means 2000 */
} ax_loss_scaler_opts;

typedef struct ax_loss_scaler ax_loss_scaler;
ax_loss_scaler *ax_loss_scaler_new(const ax_loss_scaler_opts *o); /* o may be NULL; NULL after bad options */
void ax_loss_scaler_free(ax_loss_scaler *s);
ax_tensor *ax_loss_scaler_scale(ax_loss_scaler *s, ax_tensor *loss); /* loss * scale (differentiable) */
/* Optional, before clipping: checks the gradients for inf/NaN and divides them by the
 * scale in place, so the next ax_loss_scaler_step steps on them as they are. Returns true
 * when every gradient is finite. */
bool ax_loss_scaler_unscale(ax_loss_scaler *s, ax_optimizer *opt);
/* Checks every gradient of opt's parameters for inf/NaN (one host read for all). If one is
 * found, skips the step and multiplies the scale by backoff_factor; otherwise runs
 * ax_optimizer_step with the gradients divided by the scale, and multiplies the scale by
 * growth_factor after growth_interval such steps in a row. Returns true if it stepped. */
bool ax_loss_scaler_step(ax_loss_scaler *s, ax_optimizer *opt);
double ax_loss_scaler_scale_value(const ax_loss_scaler *s);
int64_t ax_loss_scaler_growth_tracker(const ax_loss_scaler *s); /* clean steps since the last change */
int64_t ax_loss_scaler_skipped_steps(const ax_loss_scaler *s);  /* steps skipped so far */
void ax_loss_scaler_set_state(ax_loss_scaler *s, double scale, int64_t growth_tracker);
/* Checkpoints: "scale" (0-dim f64) and "growth_tracker" (0-dim i64) under prefix (e.g.
 * "scaler."), PyTorch GradScaler.state_dict's values. Load returns 0, or -1 with a reason. */
void ax_loss_scaler_state_dict(const ax_loss_scaler *s, ax_state_dict *sd, const char *prefix);
int ax_loss_scaler_load_state_dict(ax_loss_scaler *s, const ax_state_dict *sd, const char *prefix, char *err,
                                   size_t errlen);

/* ---- activation recomputation ---- */
typedef ax_tensor *(*ax_checkpoint_fn)(void *ctx, ax_tensor *const *inputs);
/* fn(ctx, inputs) with its activations dropped now and recomputed in the backward
 * pass. fn must be a function of its inputs, of the tensors reachable from ctx
 * (parameters, which get their gradients as usual) and of the random generator
 * (dropout draws the same numbers when recomputed). Autocast and grad mode are
 * replayed as they were. A parameter used both inside and outside fn has its grad
 * hook (ax_set_grad_hook) called once its gradient inside fn is complete. */
ax_tensor *ax_checkpoint(ax_checkpoint_fn fn, void *ctx, int n, ax_tensor *const *inputs);

#ifdef __cplusplus
}
#endif
#endif
