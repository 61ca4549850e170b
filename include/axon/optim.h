/* SPDX-License-Identifier: BSD-3-Clause */
/* Optimizers, learning-rate schedules and gradient clipping.
 *
 * An optimizer holds references to a list of parameters (leaf tensors) and
 * updates them in place from their .grad with PyTorch's torch.optim rules
 * (SGD, Adam, AdamW, RMSprop). Parameters whose grad is NULL are skipped, as
 * in PyTorch. State tensors (momentum buffers, moment estimates) are
 * persistent, created on the parameter's device at its first update, f32 for
 * bf16/f16 parameters and of the parameter's dtype otherwise. On CUDA a step
 * is one fused multi-tensor kernel launch.
 *
 * Options are structs with designated initializers; a field left 0 takes
 * PyTorch's default where the header says so. Where 0 is also a meaningful
 * value (Adam's beta1, AdamW's weight_decay) pass AX_OPTIM_ZERO to mean a true 0.
 * lr has no default: 0 is an error.
 *
 * Two extensions to PyTorch: `l1` adds l1 * sign(param) to the gradient (after
 * the L2 weight decay term), and `grad_scale` multiplies the gradient before
 * anything else (0 means 1; set 1/S to undo a loss scale S).
 *
 * bf16 parameters (no f32 master copy) are updated in f32 and rounded once; with
 * `stochastic_rounding` the rounding is stochastic (up or down with probabilities
 * that make it exact on average), so updates below half a bf16 ulp are not lost.
 * The random bits come from Philox keyed by the global seed (ax_manual_seed) and
 * counted by parameter step and element: deterministic for a seed, identical on
 * the CPU and CUDA, and the global generator is not advanced. No effect on other dtypes.
 *
 * Schedules are pure functions of the step: ax_lr_at(s, k) is the learning rate
 * of optimizer step k (0-based), which equals PyTorch's scheduler lr after k
 * calls to scheduler.step(). Use it as
 *   ax_optimizer_set_lr(opt, ax_lr_at(sched, ax_optimizer_step_count(opt)));
 *   ax_optimizer_step(opt);
 * or let ax_lr_schedule_apply do the first line.
 */
#ifndef AXON_OPTIM_H
#define AXON_OPTIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "axon/io.h"
#include "axon/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "Exactly zero" for option fields where 0 means "PyTorch's default". */
#define AX_OPTIM_ZERO (-0x1p-1000)

typedef struct ax_optimizer ax_optimizer;

typedef struct ax_sgd_opts {
  double lr;           /* required */
  double momentum;     /* 0: plain SGD */
  double dampening;    /* 0 */
  bool nesterov;       /* needs momentum > 0 and dampening 0 */
  double weight_decay; /* L2, added to the gradient; 0 */
  double l1;           /* 0 */
  double grad_scale;   /* 0 means 1 */
  bool stochastic_rounding; /* bf16 parameters: round updates stochastically (see below) */
} ax_sgd_opts;

typedef struct ax_adam_opts {
  double lr;           /* required (PyTorch's 1e-3 is a good start) */
  double beta1, beta2; /* 0 means 0.9 / 0.999 */
  double eps;          /* 0 means 1e-8 */
  double weight_decay; /* Adam: L2 added to the gradient, 0 means 0; AdamW: decoupled
                        * p *= 1 - lr * wd, 0 means 0.01 (PyTorch's AdamW default) */
  double l1;           /* 0 */
  double grad_scale;   /* 0 means 1 */
  bool stochastic_rounding; /* bf16 parameters: round updates stochastically (see below) */
} ax_adam_opts;

typedef struct ax_rmsprop_opts {
  double lr;           /* required (PyTorch's default is 1e-2) */
  double alpha;        /* smoothing constant; 0 means 0.99 */
  double eps;          /* 0 means 1e-8 */
  double weight_decay; /* L2; 0 */
  double momentum;     /* 0 */
  bool centered;       /* normalize by the estimated variance of the gradient */
  double l1;           /* 0 */
  double grad_scale;   /* 0 means 1 */
  bool stochastic_rounding; /* bf16 parameters: round updates stochastically (see below) */
} ax_rmsprop_opts;

/* ---- optimizers (NULL after reporting bad options or parameters) ---- */
ax_optimizer *ax_sgd(ax_tensor *const *params, int n, const ax_sgd_opts *o);
ax_optimizer *ax_adam(ax_tensor *const *params, int n, const ax_adam_opts *o);
ax_optimizer *ax_adamw(ax_tensor *const *params, int n, const ax_adam_opts *o);
ax_optimizer *ax_rmsprop(ax_tensor *const *params, int n, const ax_rmsprop_opts *o);
/* One update of every parameter that has a grad (grad mode off). 0, or -1 after an error (nothing updated). */
int ax_optimizer_step(ax_optimizer *opt);
void ax_optimizer_zero_grad(ax_optimizer *opt);               /* drops every parameter's grad */
double ax_optimizer_get_lr(const ax_optimizer *opt);
void ax_optimizer_set_lr(ax_optimizer *opt, double lr);
int64_t ax_optimizer_step_count(const ax_optimizer *opt);     /* steps taken so far */
int ax_optimizer_num_params(const ax_optimizer *opt);
const char *ax_optimizer_name(const ax_optimizer *opt);       /* "sgd", "adam", "adamw", "rmsprop" */
void ax_optimizer_free(ax_optimizer *opt);                    /* releases its state and parameter references */

/* Adds the state under PyTorch's names: "state.<i>.momentum_buffer" (SGD, RMSprop),
 * "state.<i>.exp_avg", "state.<i>.exp_avg_sq" (Adam/AdamW), "state.<i>.square_avg",
 * "state.<i>.grad_avg" (RMSprop, centered), "state.<i>.step" (0-dim i64, every kind:
 * updates of parameter i), and "step" (0-dim i64, optimizer steps) and "lr" (0-dim f64).
 * i is the parameter's position in the list. The dict references the live state tensors:
 * save it before the next step. */
void ax_optimizer_state_dict(ax_optimizer *opt, ax_state_dict *sd);
/* Restores a state saved by ax_optimizer_state_dict (values are copied, converted to each
 * parameter's device and state dtype). 0, or -1 with a reason naming the key in err
 * (missing key, unknown key, shape mismatch, too few/many parameters); nothing is
 * modified on error. */
int ax_optimizer_load_state_dict(ax_optimizer *opt, const ax_state_dict *sd, char *err, size_t errlen);

/* ---- optimizers of your own: a wrapper whose every call goes to ops ----
 * For an optimizer that is not one of the update rules above (dist.h's ZeRO-1 wraps one
 * that steps this rank's shard and gathers the parameters). Each ax_optimizer_* call on the
 * result calls the matching op with impl; free releases impl. Entries may not be NULL. */
typedef struct ax_optimizer_ops {
  const char *name;
  int (*step)(void *impl);
  void (*zero_grad)(void *impl);
  double (*get_lr)(const void *impl);
  void (*set_lr)(void *impl, double lr);
  int64_t (*step_count)(const void *impl);
  int (*num_params)(const void *impl);
  /* may be collective (ZeRO gathers the state): then every rank calls it */
  void (*state_dict)(void *impl, ax_state_dict *sd);
  int (*load_state_dict)(void *impl, const ax_state_dict *sd, char *err, size_t errlen);
  void (*free)(void *impl);
} ax_optimizer_ops;
/* NULL (after reporting) when out of memory; impl is then freed with ops->free. */
ax_optimizer *ax_optimizer_wrap(const ax_optimizer_ops *ops, void *impl);
/* impl of a wrapper made with these ops, else NULL */
void *ax_optimizer_impl(const ax_optimizer *opt, const ax_optimizer_ops *ops);

/* ---- learning-rate schedules ----
 * ax_lr_warmup takes ownership of `then`; freeing the warm-up frees it. NULL after an error. */
typedef struct ax_lr_schedule ax_lr_schedule;
/* StepLR: base_lr * gamma^floor(k / step_size) */
ax_lr_schedule *ax_lr_step(double base_lr, int64_t step_size, double gamma);
/* MultiStepLR: base_lr * gamma^(number of milestones <= k); milestones increasing */
ax_lr_schedule *ax_lr_multistep(double base_lr, const int64_t *milestones, int n, double gamma);
/* ExponentialLR: base_lr * gamma^k */
ax_lr_schedule *ax_lr_exponential(double base_lr, double gamma);
/* CosineAnnealingLR: eta_min + (base_lr - eta_min) (1 + cos(pi k / t_max)) / 2 */
ax_lr_schedule *ax_lr_cosine(double base_lr, int64_t t_max, double eta_min);

typedef struct ax_onecycle_opts {
  double pct_start;        /* 0 means 0.3 */
  double div_factor;       /* initial lr = max_lr / div_factor; 0 means 25 */
  double final_div_factor; /* final lr = initial / final_div_factor; 0 means 1e4 */
} ax_onecycle_opts;
/* OneCycleLR (two phases, cosine annealing), the learning rate only: no momentum
 * cycling. Steps past total_steps - 1 keep the final lr. o may be NULL. total_steps = 1
 * (one batch, one epoch) is a cycle without phases: its one step runs at max_lr. */
ax_lr_schedule *ax_lr_onecycle(double max_lr, int64_t total_steps, const ax_onecycle_opts *o);
/* Linear warm-up before `then` (LinearLR followed by `then` in a SequentialLR): for
 * k < warmup_steps, then(0) * (start_factor + (1 - start_factor) k / warmup_steps);
 * afterwards then(k - warmup_steps). */
ax_lr_schedule *ax_lr_warmup(ax_lr_schedule *then, int64_t warmup_steps, double start_factor);
/* A constant learning rate (a schedule that does nothing, for uniform code). */
ax_lr_schedule *ax_lr_constant(double lr);
double ax_lr_at(const ax_lr_schedule *s, int64_t step);
/* Sets opt's lr to ax_lr_at(s, ax_optimizer_step_count(opt)) and returns it. */
double ax_lr_schedule_apply(const ax_lr_schedule *s, ax_optimizer *opt);
void ax_lr_schedule_free(ax_lr_schedule *s);

/* ---- gradient clipping (grads of params that have one; grad mode off) ---- */
/* PyTorch's clip_grad_norm_: total = the norm_type-norm (2, any p > 0, or INFINITY) of all
 * grads together; when max_norm / (total + 1e-6) < 1 every grad is scaled by it. Returns
 * total (a non-finite total is returned and the grads are left as they are), or -1 on error. */
double ax_clip_grad_norm(ax_tensor *const *params, int n, double max_norm, double norm_type);
/* Clamps every grad element to [-clip, clip]. */
void ax_clip_grad_value(ax_tensor *const *params, int n, double clip);

#ifdef __cplusplus
}
#endif
#endif
