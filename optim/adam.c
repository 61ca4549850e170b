/* SPDX-License-Identifier: BSD-3-Clause */
/* Adam (L2 weight decay in the gradient) and AdamW (decoupled weight decay), as
 * torch.optim.Adam / AdamW without amsgrad. */
#include "core/internal.h"
#include "optim/optim_internal.h"

static ax_optimizer *adam_like(const char *op, const char *name, int kind, double default_wd,
                               ax_tensor *const *params, int n, const ax_adam_opts *opts) {
  ax_adam_opts o = opts ? *opts : (ax_adam_opts){0};
  ax_optim_args a = {.kind = kind, .lr = o.lr, .weight_decay = ax__opt_or(o.weight_decay, default_wd),
                     .l1 = ax__opt_or(o.l1, 0), .grad_scale = ax__opt_or(o.grad_scale, 1),
                     .stochastic_rounding = o.stochastic_rounding,
                     .beta1 = ax__opt_or(o.beta1, 0.9), .beta2 = ax__opt_or(o.beta2, 0.999),
                     .eps = ax__opt_or(o.eps, 1e-8)};
  if (!(a.beta1 >= 0 && a.beta1 < 1) || !(a.beta2 >= 0 && a.beta2 < 1) || !(a.eps >= 0)) {
    ax_error("%s: betas must be in [0, 1) and eps >= 0 (got %g, %g, %g)", op, a.beta1, a.beta2, a.eps);
    return NULL;
  }
  return ax__optimizer_new(op, name, &a, params, n, "exp_avg", "exp_avg_sq", NULL);
}

ax_optimizer *ax_adam(ax_tensor *const *params, int n, const ax_adam_opts *o) {
  return adam_like("ax_adam", "adam", AX_OPTIM_ADAM, 0, params, n, o);
}

ax_optimizer *ax_adamw(ax_tensor *const *params, int n, const ax_adam_opts *o) {
  return adam_like("ax_adamw", "adamw", AX_OPTIM_ADAMW, 0.01, params, n, o);
}
