/* SPDX-License-Identifier: BSD-3-Clause */
/* SGD with momentum, dampening, Nesterov momentum and L2 / L1 penalties (torch.optim.SGD). */
#include "core/internal.h"
#include "optim/optim_internal.h"

ax_optimizer *ax_sgd(ax_tensor *const *params, int n, const ax_sgd_opts *opts) {
  ax_sgd_opts o = opts ? *opts : (ax_sgd_opts){0};
  ax_optim_args a = {.kind = AX_OPTIM_SGD, .lr = o.lr, .weight_decay = ax__opt_or(o.weight_decay, 0),
                     .l1 = ax__opt_or(o.l1, 0), .grad_scale = ax__opt_or(o.grad_scale, 1),
                     .stochastic_rounding = o.stochastic_rounding,
                     .momentum = ax__opt_or(o.momentum, 0), .dampening = ax__opt_or(o.dampening, 0),
                     .nesterov = o.nesterov};
  if (!(a.momentum >= 0) || !(a.dampening >= 0) || !(a.dampening <= 1)) {
    ax_error("ax_sgd: momentum must be >= 0 and dampening in [0, 1] (got %g, %g)", a.momentum, a.dampening);
    return NULL;
  }
  if (a.nesterov && (a.momentum <= 0 || a.dampening != 0)) {
    ax_error("ax_sgd: nesterov momentum needs momentum > 0 and dampening 0 (got %g, %g)", a.momentum, a.dampening);
    return NULL;
  }
  return ax__optimizer_new("ax_sgd", "sgd", &a, params, n, a.momentum != 0 ? "momentum_buffer" : NULL, NULL, NULL);
}
