/* SPDX-License-Identifier: BSD-3-Clause */
/* Gradient clipping: torch.nn.utils.clip_grad_norm_ and clip_grad_value_. */
#include <math.h>
#include <stdlib.h>

#include "core/internal.h"

static bool check_params(const char *op, ax_tensor *const *params, int n) {
  if (n < 0 || (n > 0 && !params)) {
    ax_error("%s: bad parameter list (n = %d)", op, n);
    return false;
  }
  return true;
}

double ax_clip_grad_norm(ax_tensor *const *params, int n, double max_norm, double norm_type) {
  if (!check_params("ax_clip_grad_norm", params, n)) return -1;
  if (!(norm_type > 0) || !(max_norm >= 0)) {
    ax_error("ax_clip_grad_norm: need norm_type > 0 (or INFINITY) and max_norm >= 0 (got %g, %g)", norm_type,
             max_norm);
    return -1;
  }
  ax_tensor **norms = calloc((size_t)(n > 0 ? n : 1), sizeof *norms);
  if (!norms) {
    ax_error("ax_clip_grad_norm: out of host memory");
    return -1;
  }
  ax_no_grad_begin();
  ax_scope_begin();
  /* one norm per grad, gathered on the first grad's device: one transfer at the end */
  int m = 0;
  double total = 0;
  ax_device dev = AX_CPU;
  for (int i = 0; i < n && total >= 0; i++) {
    ax_tensor *g = params[i] ? params[i]->grad : NULL;
    if (!g || ax_numel(g) == 0) continue;
    if (m == 0) dev = g->device;
    ax_tensor *nrm = ax_cast(ax_norm(g, norm_type, AX_ALL, false), AX_F64);
    norms[m] = ax_device_eq(g->device, dev) ? nrm : ax_to(nrm, dev);
    if (!norms[m++]) total = -1;
  }
  if (m > 0 && total >= 0) {
    ax_tensor *t = ax_norm(ax_stack(norms, m, 0), norm_type, AX_ALL, false);
    total = t ? ax_item(t) : -1;
  }
  double coef = max_norm / (total + 1e-6);
  if (total >= 0 && isfinite(total) && coef < 1) {
    for (int i = 0; i < n; i++) {
      ax_tensor *g = params[i] ? params[i]->grad : NULL;
      if (g && ax_numel(g) > 0 && ax_copy_(g, ax_mul_scalar(g, coef))) total = -1;
    }
  }
  ax_scope_end();
  ax_no_grad_end();
  free(norms);
  return total;
}

void ax_clip_grad_value(ax_tensor *const *params, int n, double clip) {
  if (!check_params("ax_clip_grad_value", params, n)) return;
  if (!(clip >= 0)) {
    ax_error("ax_clip_grad_value: clip must be >= 0, got %g", clip);
    return;
  }
  ax_no_grad_begin();
  ax_scope_begin();
  for (int i = 0; i < n; i++) {
    ax_tensor *g = params[i] ? params[i]->grad : NULL;
    if (g && ax_numel(g) > 0) ax_copy_(g, ax_clamp(g, -clip, clip));
  }
  ax_scope_end();
  ax_no_grad_end();
}
