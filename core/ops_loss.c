/* Softmax, log-softmax and the losses.
 *
 * softmax/log_softmax run the backend's kernels on a contiguous [rows, cols]
 * layout: the op moves `dim` last (a transposed copy) when it is not, and
 * moves the result back. Their backward uses the softmax_backward kernel.
 * cross_entropy runs the fused cross_entropy kernels (see below). The other
 * losses are composed from ops (log_softmax, gather, where, sum), so
 * they run on every backend; bce_with_logits records its own gradient
 * (sigmoid(x) - y), which the composed form would get wrong at x = 0.
 * Each op runs its temporaries in a scope of its own (ax__scope_return). */
#include <math.h>

#include "core/internal.h"

/* ---------------- softmax, log_softmax ---------------- */

/* A kernel view of contiguous t as [rows, cols], cols = its last dim. */
static ax_kt rows_kt(const ax_tensor *t) {
  ax_kt k = ax__kt(t);
  int64_t cols = t->ndim ? t->shape[t->ndim - 1] : 1, n = ax_numel(t);
  k.ndim = 2;
  k.shape[0] = cols ? n / cols : 0;
  k.shape[1] = cols;
  k.strides[0] = cols;
  k.strides[1] = 1;
  return k;
}

/* t with dim swapped with the last dim, contiguous (t itself when dim is last and t is contiguous). */
static ax_tensor *dim_last(ax_tensor *t, int dim) {
  int last = t->ndim - 1;
  return ax_contiguous(dim == last || t->ndim == 0 ? t : ax_transpose(t, dim, last));
}

static void softmax_backward(ax_node *n, ax_tensor *g) {
  int dim = (int)n->iargs[0], log = (int)n->iargs[1], last = n->in_ndim - 1;
  bool moved = n->in_ndim > 0 && dim != last;
  ax_tensor *y = moved ? n->saved[0] : n->output, *gc = dim_last(g, dim);
  ax_tensor *gx = ax__new(n->name, y->dtype, y->device, y->ndim, y->shape);
  if (!gc || !gx) return;
  const ax_backend *be = gx->storage->backend;
  if (!be->softmax_backward) {
    ax_error("%s: not implemented on the %s backend yet (kernel 'softmax_backward')", n->name, be->name);
    return;
  }
  ax_kt gk = rows_kt(gx), gyk = rows_kt(gc), yk = rows_kt(y);
  if (ax_numel(gx) > 0 && !AX_KCALL(n->name, be, softmax_backward, &gk, &gyk, &yk, log)) return;
  ax__accumulate(n, 0, moved ? ax_transpose(gx, dim, last) : gx);
}

static ax_tensor *softmax_impl(const char *op, ax_tensor *x, int dim, int log) {
  if (!x) return NULL;
  if (!ax__check_float(op, x)) return NULL;
  int d = ax__wrap_dim(op, dim, x->ndim);
  if (d < 0) return NULL;
  int last = x->ndim - 1;
  bool moved = x->ndim > 0 && d != last;
  ax_scope_begin();
  x = ax__autocast_f32(x); /* autocast keeps softmax in f32 */
  if (!x) return ax__scope_return(NULL);
  ax_no_grad_begin(); /* the moves are internal: one node is recorded for the whole op */
  ax_tensor *xc = dim_last(x, d);
  ax_tensor *yc = xc ? ax__new(op, x->dtype, x->device, xc->ndim, xc->shape) : NULL;
  const ax_backend *be = yc ? yc->storage->backend : NULL;
  ax_tensor *y = NULL;
  if (be && !be->softmax) {
    ax_error("%s: not implemented on the %s backend yet (kernel 'softmax')", op, be->name);
  } else if (be) {
    ax_kt yk = rows_kt(yc), xk = rows_kt(xc);
    if (ax_numel(yc) == 0 || AX_KCALL(op, be, softmax, &yk, &xk, log))
      y = moved ? ax_contiguous(ax_transpose(yc, d, last)) : yc;
  }
  ax_no_grad_end();
  ax_node *n = ax__record(y, log ? "log_softmax" : "softmax", softmax_backward, 1, &x);
  if (n) { /* save before the scope ends: yc belongs to it */
    n->iargs[0] = d;
    n->iargs[1] = log;
    if (moved) ax__save(n, 0, yc);
  }
  return ax__scope_return(y);
}

ax_tensor *ax_softmax(ax_tensor *x, int dim) { return softmax_impl("ax_softmax", x, dim, 0); }
ax_tensor *ax_log_softmax(ax_tensor *x, int dim) { return softmax_impl("ax_log_softmax", x, dim, 1); }

/* ---------------- reductions of per-element losses ---------------- */

static bool check_reduction(const char *op, ax_reduction r) {
  if (r == AX_REDUCTION_MEAN || r == AX_REDUCTION_SUM || r == AX_REDUCTION_NONE) return true;
  ax_error("%s: invalid reduction %d (use AX_REDUCTION_MEAN, _SUM or _NONE)", op, (int)r);
  return false;
}

/* Reduces the per-element loss l and closes the scope the loss opened for its temporaries. */
static ax_tensor *reduce_loss(ax_tensor *l, ax_reduction r) {
  if (r != AX_REDUCTION_NONE) l = r == AX_REDUCTION_SUM ? ax_sum(l, AX_ALL, false) : ax_mean(l, AX_ALL, false);
  return ax__scope_return(l);
}

/* ---------------- cross entropy, nll ---------------- */

/* Checks logits [N, C, d...] (or [C]) against target [N, d...] (or []). */
static bool check_class_target(const char *op, const ax_tensor *input, const ax_tensor *target) {
  if (!ax__check_float(op, input) || !ax__check_same_device(op, input, target)) return false;
  if (target->dtype != AX_I64) {
    ax_error("%s: target must hold i64 class indices, got %s %s", op, ax_dtype_name(target->dtype), ax__shp(target));
    return false;
  }
  if (input->ndim < 1) {
    ax_error("%s: input must be [N, C], [N, C, d...] or [C], got %s", op, ax__shp(input));
    return false;
  }
  int cdim = input->ndim == 1 ? 0 : 1;
  int64_t want[AX_MAX_DIMS];
  int nd = 0;
  for (int d = 0; d < input->ndim; d++)
    if (d != cdim) want[nd++] = input->shape[d];
  bool ok = target->ndim == nd;
  for (int d = 0; ok && d < nd; d++) ok = target->shape[d] == want[d];
  if (!ok) {
    ax_error("%s: target shape %s does not match input %s (expected %s: the input's shape without the class dim %d)",
             op, ax__shp(target), ax__shp(input), ax__shp_raw(nd, want), cdim);
    return false;
  }
  return true;
}

static int64_t ignore_of(const ax_cross_entropy_opts *o) { return o && o->has_ignore_index ? o->ignore_index : -100; }

/* The one host read of nll_loss and (on the CPU) cross_entropy: a bad class
 * index must be an error, never an out-of-bounds read. */
static bool check_target_range(const char *op, const ax_tensor *input, ax_tensor *target, int64_t classes,
                               int64_t ignore) {
  if (ax_numel(target) == 0) return true;
  ax_tensor *safe = ax_where(ax_eq_scalar(target, (double)ignore), ax_zeros_like(target), target);
  if (!safe) return false;
  int64_t lo = (int64_t)ax_item(ax_amin(safe, AX_ALL, false)), hi = (int64_t)ax_item(ax_amax(safe, AX_ALL, false));
  if (lo >= 0 && hi < classes) return true;
  ax_error("%s: target %lld is out of range for %lld classes (input %s; valid targets are 0..%lld, or the "
           "ignore_index %lld)",
           op, (long long)(lo < 0 ? lo : hi), (long long)classes, ax__shp(input), (long long)classes - 1,
           (long long)ignore);
  return false;
}

/* Sums or averages per-element losses; mean divides by the number of targets
 * not ignored (0 / 0 = NaN when all are, as in PyTorch). */
static ax_tensor *reduce_class_loss(ax_tensor *loss, ax_tensor *target, int64_t ignore, ax_reduction r) {
  if (r == AX_REDUCTION_NONE) return loss;
  ax_tensor *total = ax_sum(loss, AX_ALL, false);
  if (r == AX_REDUCTION_SUM) return total;
  return ax_div(total, ax_cast(ax_sum(ax_ne_scalar(target, (double)ignore), AX_ALL, false), loss->dtype));
}

/* -log_probs[target] per element, 0 where ignored. */
static ax_tensor *nll_impl(const char *op, ax_tensor *lp, ax_tensor *target, const ax_cross_entropy_opts *opts) {
  ax_reduction r = opts ? opts->reduction : AX_REDUCTION_MEAN;
  if (!check_reduction(op, r)) return NULL;
  int64_t ignore = ignore_of(opts);
  int cdim = lp->ndim == 1 ? 0 : 1;
  if (!check_target_range(op, lp, target, lp->shape[cdim], ignore)) return NULL;
  ax_tensor *ignored = ax_eq_scalar(target, (double)ignore);
  ax_tensor *safe = ax_where(ignored, ax_zeros_like(target), target); /* ignored targets pick class 0, then 0 out */
  ax_tensor *picked = ax_squeeze(ax_gather(lp, cdim, ax_unsqueeze(safe, cdim)), cdim);
  ax_tensor *zero = ax_zeros(0, NULL, &(ax_tensor_opts){.dtype = lp->dtype, .device = lp->device});
  return reduce_class_loss(ax_where(ignored, zero, ax_neg(picked)), target, ignore, r);
}

/* t viewed as 1-D [numel] (t contiguous). */
static ax_kt flat_kt(const ax_tensor *t) {
  ax_kt k = ax__kt(t);
  k.ndim = 1;
  k.shape[0] = ax_numel(t);
  k.strides[0] = 1;
  return k;
}

/* Logits [N, C, d...] as contiguous [N*d..., C] (class dim last), [N, C] as is, [C] as [1, C]. */
static ax_tensor *class_rows(ax_tensor *x, int64_t rows) {
  int nd = x->ndim, cdim = nd == 1 ? 0 : 1;
  int64_t classes = x->shape[cdim];
  if (nd > 2) {
    int perm[AX_MAX_DIMS] = {0};
    for (int d = 1; d < nd - 1; d++) perm[d] = d + 1;
    perm[nd - 1] = 1;
    x = ax_permute(x, perm);
  }
  return ax_reshape(ax_contiguous(x), AX_SHAPE(rows, classes));
}

/* The inverse of class_rows for a gradient g [rows, C] and an input of shape (nd, shape). */
static ax_tensor *class_unrows(ax_tensor *g, int nd, const int64_t *shape) {
  if (nd <= 2) return ax_reshape(g, nd, shape);
  int64_t moved[AX_MAX_DIMS];
  int perm[AX_MAX_DIMS] = {0};
  moved[0] = shape[0];
  for (int d = 2; d < nd; d++) moved[d - 1] = shape[d];
  moved[nd - 1] = shape[1];
  perm[1] = nd - 1;
  for (int d = 2; d < nd; d++) perm[d] = d - 1;
  return ax_permute(ax_reshape(g, nd, moved), perm);
}

/* saved: logits as [rows, C] (0), lse [rows] (1), target [rows] (2) */
static void cross_entropy_backward(ax_node *n, ax_tensor *g) {
  ax_tensor *x = n->saved[0], *lse = n->saved[1], *t = n->saved[2], *gc = ax_contiguous(g);
  ax_tensor *gx = ax__new(n->name, x->dtype, x->device, 2, x->shape);
  if (!gc || !gx) return;
  const ax_backend *be = gx->storage->backend;
  if (!be->cross_entropy_backward) {
    ax_error("%s: not implemented on the %s backend yet (kernel 'cross_entropy_backward')", n->name, be->name);
    return;
  }
  ax_kt gk = ax__kt(gx), glk = flat_kt(gc), xk = ax__kt(x), zk = ax__kt(lse), tk = ax__kt(t);
  if (ax_numel(gx) > 0 && !AX_KCALL(n->name, be, cross_entropy_backward, &gk, &glk, &xk, &zk, &tk, n->iargs[0], n->dargs[0]))
    return;
  ax__accumulate(n, 0, class_unrows(gx, n->in_ndim, n->in_shape));
}

/* Fused: the backend's cross_entropy kernel gives the per-row loss and the
 * logsumexp (kept for the backward, which recomputes the probabilities from
 * it); the softmax is never materialized. Label smoothing eps gives
 * (1 - eps) nll + eps mean_c(-log_probs), as in PyTorch. Target range: on the
 * CPU a target outside [0, C) that is not ignore_index is an error (read on the
 * host); on CUDA the targets are not read back (that would synchronize every
 * step), and such a target gives a NaN loss for its row instead. */
ax_tensor *ax_cross_entropy(ax_tensor *logits, ax_tensor *target, const ax_cross_entropy_opts *o) {
  const char *op = "ax_cross_entropy";
  if (!logits || !target) return NULL;
  if (!check_class_target(op, logits, target)) return NULL;
  double eps = o ? o->label_smoothing : 0.0;
  if (!(eps >= 0 && eps <= 1)) {
    ax_error("%s: label_smoothing must be in [0, 1], got %g", op, eps);
    return NULL;
  }
  ax_reduction r = o ? o->reduction : AX_REDUCTION_MEAN;
  if (!check_reduction(op, r)) return NULL;
  int64_t ignore = ignore_of(o), classes = logits->shape[logits->ndim == 1 ? 0 : 1];
  ax_scope_begin();
  logits = ax__autocast_f32(logits); /* autocast: the loss of bf16/f16 logits in f32 */
  if (!logits) return ax__scope_return(NULL);
  if (!ax_backend_has(logits->storage->backend, AX_KID_cross_entropy, AX_CAP_DEVICE_INDICES) &&
      !check_target_range(op, logits, target, classes, ignore))
    return ax__scope_return(NULL);
  ax_no_grad_begin(); /* the layout moves are internal: one node is recorded for the whole op */
  int64_t rows = ax_numel(target);
  ax_tensor *xc = class_rows(logits, rows), *tc = ax_reshape(ax_contiguous(target), AX_SHAPE(rows));
  ax_tensor *loss = xc && tc ? ax__new(op, logits->dtype, logits->device, target->ndim, target->shape) : NULL;
  /* lse in f32 for bf16/f16 logits: rounded to 8 bits it would skew every probability of the backward */
  ax_dtype lse_dt = logits->dtype == AX_F64 ? AX_F64 : AX_F32;
  ax_tensor *lse = loss ? ax__new(op, lse_dt, logits->device, 1, &xc->shape[0]) : NULL;
  const ax_backend *be = lse ? lse->storage->backend : NULL;
  if (be && !be->cross_entropy) {
    ax_error("%s: not implemented on the %s backend yet (kernel 'cross_entropy')", op, be->name);
    loss = NULL;
  } else if (be) {
    ax_kt lk = flat_kt(loss), zk = ax__kt(lse), xk = ax__kt(xc), tk = ax__kt(tc);
    if (ax_numel(xc) > 0) {
      if (!AX_KCALL(op, be, cross_entropy, &lk, &zk, &xk, &tk, ignore, eps)) loss = NULL;
    } else if (ax_numel(loss) > 0) loss = ax_full(loss->ndim, loss->shape, NAN, /* C = 0: no class to pick */
                                               &(ax_tensor_opts){.dtype = logits->dtype, .device = logits->device});
  }
  ax_no_grad_end();
  if (!loss) return ax__scope_return(NULL);
  ax_node *n = ax__record(loss, "cross_entropy", cross_entropy_backward, 1, &logits);
  if (n) { /* save before the scope ends: xc, tc and lse belong to it */
    n->iargs[0] = ignore;
    n->dargs[0] = eps;
    ax__save(n, 0, xc);
    ax__save(n, 1, lse);
    ax__save(n, 2, tc);
  }
  return ax__scope_return(reduce_class_loss(loss, target, ignore, r));
}

ax_tensor *ax_nll_loss(ax_tensor *log_probs, ax_tensor *target, const ax_cross_entropy_opts *o) {
  if (!log_probs || !target) return NULL;
  if (!check_class_target("ax_nll_loss", log_probs, target)) return NULL;
  ax_scope_begin();
  return ax__scope_return(nll_impl("ax_nll_loss", log_probs, target, o));
}

/* ---------------- regression losses ---------------- */

static bool check_pair(const char *op, const ax_tensor *input, const ax_tensor *target, ax_reduction r) {
  if (!check_reduction(op, r) || !ax__check_float(op, input) || !ax__check_same_device(op, input, target) ||
      !ax__check_same_dtype(op, input, target))
    return false;
  if (!ax_same_shape(input, target)) {
    ax_error("%s: input %s and target %s must have the same shape", op, ax__shp(input), ax__shp(target));
    return false;
  }
  return true;
}

ax_tensor *ax_mse_loss(ax_tensor *input, ax_tensor *target, ax_reduction r) {
  if (!input || !target || !check_pair("ax_mse_loss", input, target, r)) return NULL;
  ax_scope_begin();
  return reduce_loss(ax_square(ax_sub(input, target)), r);
}

ax_tensor *ax_l1_loss(ax_tensor *input, ax_tensor *target, ax_reduction r) {
  if (!input || !target || !check_pair("ax_l1_loss", input, target, r)) return NULL;
  ax_scope_begin();
  return reduce_loss(ax_abs(ax_sub(input, target)), r);
}

/* 0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere (l1 when beta = 0). */
ax_tensor *ax_smooth_l1_loss(ax_tensor *input, ax_tensor *target, ax_reduction r, double beta) {
  if (!input || !target || !check_pair("ax_smooth_l1_loss", input, target, r)) return NULL;
  if (!(beta >= 0)) {
    ax_error("ax_smooth_l1_loss: beta must be >= 0, got %g", beta);
    return NULL;
  }
  ax_scope_begin();
  ax_tensor *d = ax_sub(input, target), *ad = ax_abs(d);
  if (beta == 0) return reduce_loss(ad, r);
  ax_tensor *quad = ax_mul_scalar(ax_square(d), 0.5 / beta), *lin = ax_sub_scalar(ad, 0.5 * beta);
  return reduce_loss(ax_where(ax_lt_scalar(ad, beta), quad, lin), r);
}

/* d/dx = sigmoid(x) - y, d/dy = -x */
static void bce_backward(ax_node *n, ax_tensor *g) {
  ax_tensor *x = n->saved[0], *y = n->saved[1];
  if (ax__input_needs_grad(n, 0)) ax__accumulate(n, 0, ax_mul(g, ax_sub(ax_sigmoid(x), y)));
  if (ax__input_needs_grad(n, 1)) ax__accumulate(n, 1, ax_neg(ax_mul(g, x)));
}

/* max(x, 0) - x y + log(1 + exp(-|x|)): no overflow for any x. */
ax_tensor *ax_bce_with_logits(ax_tensor *logits, ax_tensor *target, ax_reduction r) {
  if (!logits || !target || !check_pair("ax_bce_with_logits", logits, target, r)) return NULL;
  ax_scope_begin();
  ax_no_grad_begin();
  ax_tensor *x = logits;
  ax_tensor *l = ax_add(ax_sub(ax_relu(x), ax_mul(x, target)), ax_log(ax_add_scalar(ax_exp(ax_neg(ax_abs(x))), 1)));
  ax_no_grad_end();
  ax_node *n = ax__record(l, "bce_with_logits", bce_backward, 2, (ax_tensor *[]){logits, target});
  if (n) {
    ax__save(n, 0, logits);
    ax__save(n, 1, target);
  }
  return reduce_loss(l, r);
}
