/* SPDX-License-Identifier: BSD-3-Clause */
/* The op layer of the fused optimizer update: checks, contiguous views, one kernel call. */
#include <stdlib.h>

#include "core/internal.h"
#include "core/optim_kernel.h"

ax_dtype ax__optim_state_dtype(ax_dtype dt) { return dt == AX_BF16 || dt == AX_F16 ? AX_F32 : dt; }

static bool check_one(const char *op, int i, ax_tensor *p, ax_tensor *g, ax_tensor *const *states[3], ax_device dev) {
  if (!p || !g) {
    ax_error("%s: parameter %d or its gradient is NULL", op, i);
    return false;
  }
  if (!ax_dtype_is_float(p->dtype)) {
    ax_error("%s: parameter %d must be floating-point, got %s %s", op, i, ax_dtype_name(p->dtype), ax__shp(p));
    return false;
  }
  if (!ax_device_eq(p->device, dev) || !ax_device_eq(g->device, dev)) {
    ax_error("%s: parameter %d and its gradient must be on %s (got %s %s and %s %s)", op, i, ax__dev(dev),
             ax__dev(p->device), ax__shp(p), ax__dev(g->device), ax__shp(g));
    return false;
  }
  if (g->dtype != p->dtype || !ax_same_shape(p, g)) {
    ax_error("%s: parameter %d is %s %s but its gradient is %s %s", op, i, ax_dtype_name(p->dtype), ax__shp(p),
             ax_dtype_name(g->dtype), ax__shp(g));
    return false;
  }
  for (int k = 0; k < 3; k++) {
    ax_tensor *s = states[k] ? states[k][i] : NULL;
    if (!s) continue;
    if (!ax_same_shape(p, s) || s->dtype != ax__optim_state_dtype(p->dtype) || !ax_device_eq(s->device, dev) ||
        !ax_is_contiguous(s)) {
      ax_error("%s: state %d of parameter %d (%s %s) does not fit the parameter (%s %s)", op, k, i,
               ax_dtype_name(s->dtype), ax__shp(s), ax_dtype_name(p->dtype), ax__shp(p));
      return false;
    }
  }
  return true;
}

int ax__optim_step(const char *op, const ax_optim_args *a, int n, ax_tensor *const *params, ax_tensor *const *grads,
                   ax_tensor *const *state0, ax_tensor *const *state1, ax_tensor *const *state2) {
  if (n <= 0) return 0;
  ax_tensor *const *states[3] = {state0, state1, state2};
  if (!params[0]) {
    ax_error("%s: parameter 0 is NULL", op);
    return -1;
  }
  ax_device dev = params[0]->device;
  for (int i = 0; i < n; i++)
    if (!check_one(op, i, params[i], grads[i], states, dev)) return -1;
  const ax_backend *be = ax__backend(dev, op);
  if (!be) return -1;
  if (!be->optim_step || !be->copy) {
    ax_error("%s: not implemented on the %s backend yet (kernel 'optim_step')", op, be->name);
    return -1;
  }

  /* kernels see contiguous operands: a strided parameter is updated in a contiguous
   * copy that is written back afterwards */
  ax_kt *kts = calloc((size_t)n * 5, sizeof *kts);
  ax_kt **ptrs = calloc((size_t)n * 5, sizeof *ptrs);
  ax_tensor **work = calloc((size_t)n, sizeof *work);
  if (!kts || !ptrs || !work) {
    free(kts), free(ptrs), free(work);
    ax_error("%s: out of host memory for %d parameters", op, n);
    return -1;
  }
  int rc = 0;
  ax_scope_begin();
  for (int i = 0; i < n && rc == 0; i++) {
    work[i] = ax_is_contiguous(params[i]) ? params[i] : ax_contiguous(params[i]);
    ax_tensor *g = ax_contiguous(grads[i]);
    if (!work[i] || !g) {
      rc = -1;
      break;
    }
    kts[i] = ax__kt(work[i]);
    kts[n + i] = ax__kt(g);
    ptrs[i] = &kts[i];
    ptrs[n + i] = &kts[n + i];
    for (int k = 0; k < 3; k++) {
      ax_tensor *s = states[k] ? states[k][i] : NULL;
      if (s) kts[(2 + k) * n + i] = ax__kt(s);
      ptrs[(2 + k) * n + i] = s ? &kts[(2 + k) * n + i] : NULL;
    }
  }
  if (rc == 0) {
    if (!AX_KCALL(op, be, optim_step, a, n, ptrs, ptrs + n, ptrs + 2 * n, ptrs + 3 * n, ptrs + 4 * n)) rc = -1;
    for (int i = 0; i < n && rc == 0; i++) {
      if (work[i] == params[i]) continue;
      ax_kt dst = ax__kt(params[i]), src = ax__kt(work[i]);
      if (!AX_KCALL(op, be, copy, &dst, &src)) rc = -1;
    }
  }
  ax_scope_end();
  free(kts), free(ptrs), free(work);
  return rc;
}
