/* SPDX-License-Identifier: BSD-3-Clause */
/* Scans along one dim: cumsum, cumprod, cummax, logcumsumexp (PyTorch's
 * torch.cumsum / cumprod / cummax / logcumsumexp). Each runs the backend's one
 * `scan` kernel; the backward passes are written with public ops and with the
 * same kernel run in the other direction (reverse = 1, a suffix scan):
 *
 *   cumsum        gx = suffix-sum(g)
 *   cumprod       gx = suffix-sum(g * y) / x before the first zero of the line,
 *                 suffix-sum(g * y') at the first zero (y' = cumprod of x with
 *                 that zero replaced by 1), 0 after it; PyTorch's rule, so zeros
 *                 give the exact gradient rather than 0/0
 *   cummax        gx = g scattered (added) to the positions in the indices
 *   logcumsumexp  gx_k = sum_{j >= k} g_j exp(x_k - y_j), computed as
 *                 exp(x + suffix-logcumsumexp(log(g) - y)) for the positive and
 *                 the negative part of g, as PyTorch does
 *
 * A backward scan runs in the direction opposite to its forward, so the
 * formulas hold for a reverse scan too (the internal suffix scans use them). */
#include <math.h>

#include "core/internal.h"

static ax_tensor *scan_run(const char *op, int kop, ax_tensor *x, int dim, int reverse, ax_tensor **indices);

/* The internal scan: public name "ax_cumsum" etc., any direction. */
static ax_tensor *scan_dir(int kop, ax_tensor *x, int dim, int reverse) {
  static const char *names[AX_NUM_SCAN] = {"ax_cumsum", "ax_cumprod", "ax_cummax", "ax_logcumsumexp"};
  return scan_run(names[kop], kop, x, dim, reverse, NULL);
}

static ax_tensor *scalar_like(const ax_tensor *t, double v) {
  return ax_full(0, NULL, v, &(ax_tensor_opts){.dtype = t->dtype, .device = t->device});
}

/* iargs: 0 = dim, 1 = reverse, 2 = op; saved: 0 = x (prod, logsumexp), 1 = indices (max) */
static void scan_backward(ax_node *n, ax_tensor *g) {
  int dim = (int)n->iargs[0], rev = (int)n->iargs[1], kop = (int)n->iargs[2];
  ax_tensor *y = n->output, *x = n->saved[0];
  if (g->dtype != y->dtype) g = ax_cast(g, y->dtype);
  ax_tensor *gx = NULL;
  switch (kop) {
    case AX_SCAN_SUM: gx = scan_dir(AX_SCAN_SUM, g, dim, !rev); break;
    case AX_SCAN_PROD: {
      ax_tensor *is_zero = ax_eq_scalar(x, 0.0);
      ax_tensor *count = scan_dir(AX_SCAN_SUM, ax_cast(is_zero, x->dtype), dim, rev); /* zeros so far */
      ax_tensor *none_yet = ax_eq_scalar(count, 0.0);
      ax_tensor *first = ax_eq_scalar(ax_mul(ax_cast(is_zero, x->dtype), count), 1.0);
      ax_tensor *one = scalar_like(x, 1.0), *zero = scalar_like(x, 0.0);
      ax_tensor *before = ax_div(scan_dir(AX_SCAN_SUM, ax_mul(g, y), dim, !rev), ax_where(none_yet, x, one));
      ax_tensor *y1 = scan_dir(AX_SCAN_PROD, ax_where(first, one, x), dim, rev);
      ax_tensor *at = scan_dir(AX_SCAN_SUM, ax_mul(g, y1), dim, !rev);
      gx = ax_where(none_yet, before, ax_where(first, at, zero));
      break;
    }
    case AX_SCAN_MAX: gx = ax_scatter_add(ax_zeros_like(g), dim, n->saved[1], g); break;
    default: { /* logsumexp */
      ax_tensor *zero = scalar_like(g, 0.0);
      ax_tensor *pos = ax_log(ax_maximum(g, zero)), *neg = ax_log(ax_maximum(ax_neg(g), zero));
      ax_tensor *gp = ax_exp(ax_add(x, scan_dir(AX_SCAN_LOGSUMEXP, ax_sub(pos, y), dim, !rev)));
      ax_tensor *gn = ax_exp(ax_add(x, scan_dir(AX_SCAN_LOGSUMEXP, ax_sub(neg, y), dim, !rev)));
      gx = ax_sub(gp, gn);
      break;
    }
  }
  ax__accumulate(n, 0, gx); /* NULL after an error: the edge is still consumed */
}

static ax_tensor *scan_impl(const char *op, int kop, ax_tensor *x, int dim, int reverse, ax_tensor **indices) {
  if (!x || !ax__check_float(op, x)) return NULL;
  if (x->ndim == 0) { /* a scalar is its own scan, as in PyTorch (dim 0 or -1) */
    if (ax__wrap_dim(op, dim, 1) < 0) return NULL;
    ax_tensor *y = scan_impl(op, kop, ax_reshape(x, 1, (int64_t[]){1}), 0, reverse, indices);
    if (indices && *indices) *indices = ax_reshape(*indices, 0, NULL);
    return y ? ax_reshape(y, 0, NULL) : NULL;
  }
  int d = ax__wrap_dim(op, dim, x->ndim);
  if (d < 0) return NULL;
  const ax_backend *be = ax__backend(x->device, op);
  if (!be) return NULL;
  AX_KERNEL_CHECK(be, scan, op);
  ax_tensor *y = ax__new(op, x->dtype, x->device, x->ndim, x->shape);
  ax_tensor *idx = kop == AX_SCAN_MAX ? ax__new(op, AX_I64, x->device, x->ndim, x->shape) : NULL;
  if (!y || (kop == AX_SCAN_MAX && !idx)) return NULL;
  ax_kt ky = ax__kt(y), kx = ax__kt(x), ki = idx ? ax__kt(idx) : (ax_kt){0};
  if (!AX_KCALL(op, be, scan, kop, &ky, idx ? &ki : NULL, &kx, d, reverse)) return NULL;
  if (indices) *indices = idx;
  ax_node *n = ax__record(y, op + 3, scan_backward, 1, &x);
  if (n) {
    n->iargs[0] = d;
    n->iargs[1] = reverse;
    n->iargs[2] = kop;
    if (kop == AX_SCAN_PROD || kop == AX_SCAN_LOGSUMEXP) ax__save(n, 0, x);
    if (kop == AX_SCAN_MAX) ax__save(n, 1, idx);
  }
  return y;
}

/* scan_impl in a scope of its own; the values (and cummax's indices) move to the caller's. */
static ax_tensor *scan_run(const char *op, int kop, ax_tensor *x, int dim, int reverse, ax_tensor **indices) {
  if (indices) *indices = NULL;
  if (!x) return NULL;
  ax_tensor *idx = NULL;
  ax_scope_begin();
  ax_tensor *y = scan_impl(op, kop, x, dim, reverse, indices ? &idx : NULL);
  if (y && idx) ax_retain(idx);
  y = ax__scope_return(y);
  if (y && idx) {
    ax__scope_adopt(idx);
    *indices = idx;
  }
  return y;
}

ax_tensor *ax_cumsum(ax_tensor *x, int dim) { return scan_run("ax_cumsum", AX_SCAN_SUM, x, dim, 0, NULL); }
ax_tensor *ax_cumprod(ax_tensor *x, int dim) { return scan_run("ax_cumprod", AX_SCAN_PROD, x, dim, 0, NULL); }
ax_tensor *ax_cummax(ax_tensor *x, int dim, ax_tensor **indices) {
  return scan_run("ax_cummax", AX_SCAN_MAX, x, dim, 0, indices);
}
ax_tensor *ax_logcumsumexp(ax_tensor *x, int dim) {
  return scan_run("ax_logcumsumexp", AX_SCAN_LOGSUMEXP, x, dim, 0, NULL);
}
