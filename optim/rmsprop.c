/* SPDX-License-Identifier: BSD-3-Clause */
/* RMSprop, plain or centered, with optional momentum (torch.optim.RMSprop). */
#include "core/internal.h"
#include "optim/optim_internal.h"

ax_optimizer *ax_rmsprop(ax_tensor *const *params, int n, const ax_rmsprop_opts *opts) {
  ax_rmsprop_opts o = opts ? *opts : (ax_rmsprop_opts){0};
  ax_optim_args a = {.kind = AX_OPTIM_RMSPROP, .lr = o.lr, .weight_decay = ax__opt_or(o.weight_decay, 0),
                     .l1 = ax__opt_or(o.l1, 0), .grad_scale = ax__opt_or(o.grad_scale, 1),
                     .stochastic_rounding = o.stochastic_rounding,
                     .alpha = ax__opt_or(o.alpha, 0.99), .eps = ax__opt_or(o.eps, 1e-8),
                     .momentum = ax__opt_or(o.momentum, 0), .centered = o.centered};
  if (!(a.alpha >= 0 && a.alpha <= 1) || !(a.eps >= 0) || !(a.momentum >= 0)) {
    ax_error("ax_rmsprop: alpha must be in [0, 1], eps and momentum >= 0 (got %g, %g, %g)", a.alpha, a.eps,
             a.momentum);
    return NULL;
  }
  return ax__optimizer_new("ax_rmsprop", "rmsprop", &a, params, n, "square_avg",
                           a.momentum != 0 ? "momentum_buffer" : NULL, a.centered ? "grad_avg" : NULL);
}
