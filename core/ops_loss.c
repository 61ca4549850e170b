/* SPDX-License-Identifier: BSD-3-Clause */
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

/* Class weights [C] (PyTorch's `weight`): checked and cast to the log-probabilities' dtype, detached. */
static ax_tensor *class_weight(const char *op, const ax_tensor *lp, ax_tensor *w) {
  int64_t classes = lp->shape[lp->ndim == 1 ? 0 : 1];
  if (!ax__check_same_device(op, lp, w)) return NULL;
  if (!ax_dtype_is_float(w->dtype) || w->ndim != 1 || w->shape[0] != classes) {
    ax_error("%s: weight must be a float tensor of one weight per class [%lld] (input %s), got %s %s", op,
             (long long)classes, ax__shp(lp), ax_dtype_name(w->dtype), ax__shp(w));
    return NULL;
  }
  return ax_cast(ax_detach(w), lp->dtype);
}

/* The class-weighted loss, composed from ops (PyTorch's nll_loss with weight, and its label
 * smoothing): per element (1 - eps) w[t] (-lp[t]) + eps / C sum_c w[c] (-lp[c]), 0 where
 * ignored; the mean divides by the sum of w[t] over the targets not ignored. */
static ax_tensor *weighted_class_loss(const char *op, ax_tensor *lp, ax_tensor *target, ax_tensor *weight,
                                      int64_t ignore, double eps, ax_reduction r) {
  int cdim = lp->ndim == 1 ? 0 : 1;
  int64_t classes = lp->shape[cdim];
  ax_tensor *w = class_weight(op, lp, weight);
  if (!w || !check_target_range(op, lp, target, classes, ignore)) return NULL;
  ax_tensor *ignored = ax_eq_scalar(target, (double)ignore);
  ax_tensor *safe = ax_where(ignored, ax_zeros_like(target), target);
  ax_tensor *zero = ax_zeros(0, NULL, &(ax_tensor_opts){.dtype = lp->dtype, .device = lp->device});
  ax_tensor *wt = ax_where(ignored, zero, ax_reshape(ax_index_select(w, 0, ax_reshape(safe, AX_SHAPE(-1))),
                                                     target->ndim, target->shape));
  ax_tensor *picked = ax_squeeze(ax_gather(lp, cdim, ax_unsqueeze(safe, cdim)), cdim);
  ax_tensor *loss = ax_neg(ax_mul(picked, wt)); /* 0 where ignored: wt is 0 there */
  if (eps > 0) {
    int64_t wshape[AX_MAX_DIMS];
    for (int d = 0; d < lp->ndim; d++) wshape[d] = d == cdim ? classes : 1;
    ax_tensor *smooth = ax_neg(ax_sum(ax_mul(lp, ax_reshape(w, lp->ndim, wshape)), 1, (int[]){cdim}, false));
    smooth = ax_where(ignored, zero, smooth);
    loss = ax_add(ax_mul_scalar(loss, 1 - eps), ax_mul_scalar(smooth, eps / (double)classes));
  }
  if (r == AX_REDUCTION_NONE) return loss;
  ax_tensor *total = ax_sum(loss, AX_ALL, false);
  return r == AX_REDUCTION_SUM ? total : ax_div(total, ax_sum(wt, AX_ALL, false));
}

/* -log_probs[target] per element, 0 where ignored. */
static ax_tensor *nll_impl(const char *op, ax_tensor *lp, ax_tensor *target, const ax_cross_entropy_opts *opts) {
  ax_reduction r = opts ? opts->reduction : AX_REDUCTION_MEAN;
  if (!check_reduction(op, r)) return NULL;
  int64_t ignore = ignore_of(opts);
  if (opts && opts->weight) return weighted_class_loss(op, lp, target, opts->weight, ignore, 0.0, r);
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
  if (o && o->weight) /* class weights: composed (log_softmax, gather, index_select), not the fused kernel */
    return ax__scope_return(weighted_class_loss(op, ax_log_softmax(logits, logits->ndim == 1 ? 0 : 1), target,
                                                o->weight, ignore, eps, r));
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

/* softplus(x) = log(1 + exp(x)) = max(x, 0) + log(1 + exp(-|x|)): no overflow for any x. */
static ax_tensor *softplus(ax_tensor *x) { return ax_add(ax_relu(x), ax_log(ax_add_scalar(ax_exp(ax_neg(ax_abs(x))), 1))); }

/* saved: x (0), y (1), pos_weight p (2, may be NULL).
 * d/dx = sigmoid(x) (1 + (p - 1) y) - p y, d/dy = p softplus(-x) - softplus(x); with no p
 * these are sigmoid(x) - y and -x. */
static void bce_backward(ax_node *n, ax_tensor *g) {
  ax_tensor *x = n->saved[0], *y = n->saved[1], *p = n->saved[2];
  if (!p) {
    if (ax__input_needs_grad(n, 0)) ax__accumulate(n, 0, ax_mul(g, ax_sub(ax_sigmoid(x), y)));
    if (ax__input_needs_grad(n, 1)) ax__accumulate(n, 1, ax_neg(ax_mul(g, x)));
    return;
  }
  if (ax__input_needs_grad(n, 0)) {
    ax_tensor *lw = ax_add_scalar(ax_mul(ax_sub_scalar(p, 1), y), 1);
    ax__accumulate(n, 0, ax_mul(g, ax_sub(ax_mul(ax_sigmoid(x), lw), ax_mul(p, y))));
  }
  if (ax__input_needs_grad(n, 1)) ax__accumulate(n, 1, ax_mul(g, ax_sub(ax_mul(p, softplus(ax_neg(x))), softplus(x))));
}

/* A weight or pos_weight: same device, cast to the logits' dtype, broadcasting to their shape. */
static ax_tensor *bce_factor(const char *op, const char *what, ax_tensor *x, ax_tensor *f) {
  if (!f) return NULL;
  if (!ax__check_same_device(op, x, f)) return NULL;
  bool ok = ax_dtype_is_float(f->dtype) && f->ndim <= x->ndim;
  for (int d = 0; ok && d < f->ndim; d++) {
    int64_t a = f->shape[f->ndim - 1 - d], b = x->shape[x->ndim - 1 - d];
    ok = a == b || a == 1;
  }
  if (!ok) {
    ax_error("%s: %s %s %s must be a float tensor broadcasting to the logits %s", op, what, ax_dtype_name(f->dtype),
             ax__shp(f), ax__shp(x));
    return NULL;
  }
  return ax_cast(ax_detach(f), x->dtype);
}

/* (1 - y) x + (1 + (p - 1) y) softplus(-x); with no p: max(x, 0) - x y + log(1 + exp(-|x|)). */
ax_tensor *ax_bce_with_logits_ex(ax_tensor *logits, ax_tensor *target, const ax_bce_opts *o) {
  const char *op = "ax_bce_with_logits";
  ax_reduction r = o ? o->reduction : AX_REDUCTION_MEAN;
  if (!logits || !target || !check_pair(op, logits, target, r)) return NULL;
  ax_scope_begin();
  ax_tensor *p = NULL, *w = NULL;
  if (o && o->pos_weight && !(p = bce_factor(op, "pos_weight", logits, o->pos_weight))) return ax__scope_return(NULL);
  if (o && o->weight && !(w = bce_factor(op, "weight", logits, o->weight))) return ax__scope_return(NULL);
  ax_no_grad_begin();
  ax_tensor *x = logits, *l;
  if (!p) l = ax_add(ax_sub(ax_relu(x), ax_mul(x, target)), ax_log(ax_add_scalar(ax_exp(ax_neg(ax_abs(x))), 1)));
  else
    l = ax_add(ax_sub(x, ax_mul(x, target)), ax_mul(ax_add_scalar(ax_mul(ax_sub_scalar(p, 1), target), 1), softplus(ax_neg(x))));
  ax_no_grad_end();
  ax_node *n = ax__record(l, "bce_with_logits", bce_backward, 2, (ax_tensor *[]){logits, target});
  if (n) {
    ax__save(n, 0, logits);
    ax__save(n, 1, target);
    if (p) ax__save(n, 2, ax_expand(p, x->ndim, x->shape));
  }
  if (w) l = ax_mul(l, w);
  return reduce_loss(l, r);
}

ax_tensor *ax_bce_with_logits(ax_tensor *logits, ax_tensor *target, ax_reduction r) {
  return ax_bce_with_logits_ex(logits, target, &(ax_bce_opts){.reduction = r});
}

/* ---------------- KL divergence, distillation ---------------- */

/* Composed from ops, so it runs (and differentiates) on every backend. Without log_target,
 * target log target is written t log(t'), t' = t where t != 0 and 1 elsewhere: 0 at t = 0 with
 * gradients 0 (t log t) and -input (-t input) there, like PyTorch's xlogy; NaN for t < 0. */
ax_tensor *ax_kl_div(ax_tensor *input, ax_tensor *target, ax_reduction r, bool log_target) {
  const char *op = "ax_kl_div";
  if (!input || !target) return NULL;
  if (r != AX_REDUCTION_BATCHMEAN && !check_reduction(op, r)) return NULL;
  if (!check_pair(op, input, target, AX_REDUCTION_MEAN)) return NULL;
  ax_scope_begin();
  ax_tensor *l;
  if (log_target) l = ax_mul(ax_exp(target), ax_sub(target, input));
  else {
    ax_tensor *nz = ax_ne_scalar(target, 0);
    ax_tensor *one = ax_ones(0, NULL, &(ax_tensor_opts){.dtype = target->dtype, .device = target->device});
    l = ax_sub(ax_mul(target, ax_log(ax_where(nz, target, one))), ax_mul(target, input));
  }
  if (r != AX_REDUCTION_BATCHMEAN) return reduce_loss(l, r);
  ax_tensor *sum = ax_sum(l, AX_ALL, false);
  return ax__scope_return(input->ndim ? ax_div_scalar(sum, (double)input->shape[0]) : sum);
}

ax_tensor *ax_distill_loss(ax_tensor *student_logits, ax_tensor *teacher_logits, double T) {
  const char *op = "ax_distill_loss";
  ax_tensor *s = student_logits, *t = teacher_logits;
  if (!s || !t) return NULL;
  if (!(T > 0) || isinf(T)) {
    ax_error("%s: temperature must be > 0 and finite, got %g", op, T);
    return NULL;
  }
  if (s->ndim != 2 || t->ndim != 2 || s->shape[0] != t->shape[0] || s->shape[1] != t->shape[1]) {
    ax_error("%s: student logits %s and teacher logits %s must both be [N, C] with the same N and number of "
             "classes C", op, ax__shp(s), ax__shp(t));
    return NULL;
  }
  if (!ax__check_float(op, s) || !ax__check_same_dtype(op, s, t) || !ax__check_same_device(op, s, t)) return NULL;
  ax_scope_begin();
  ax_tensor *ls = ax_log_softmax(ax_div_scalar(s, T), 1), *lt = ax_log_softmax(ax_div_scalar(t, T), 1);
  return ax__scope_return(ax_mul_scalar(ax_kl_div(ls, lt, AX_REDUCTION_BATCHMEAN, true), T * T));
}
