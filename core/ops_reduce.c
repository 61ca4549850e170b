/* SPDX-License-Identifier: BSD-3-Clause */
/* Reductions: sum, mean, amax, amin over any set of dims; max, min, argmax,
 * argmin along one dim; var, std, logsumexp, norm.
 *
 * sum, amax and amin run the backend's reduce kernel; max/min/argmax/argmin
 * run arg_reduce. The kernels always see the "keepdim" shape (size 1 on the
 * reduced dims); keepdim only changes the shape of the tensor handed back.
 * The rest are composed from ops, so their gradients come for free, except
 * norm, whose backward is written out to give 0 (not NaN) at a zero norm.
 * Ops that make temporaries run them in a scope of their own (ax__scope_return). */
#include <math.h>

#include "core/internal.h"

typedef uint32_t dim_mask; /* bit d set: dim d is reduced */

/* Parses (ndims, dims) for x into a mask; ndims = 0 means every dim. */
static bool parse_dims(const char *op, const ax_tensor *x, int ndims, const int *dims, dim_mask *mask) {
  if (ndims < 0 || ndims > AX_MAX_DIMS || (ndims > 0 && !dims)) {
    ax_error("%s: invalid list of %d dims for %s", op, ndims, ax__shp(x));
    return false;
  }
  if (ndims == 0) {
    *mask = (1u << x->ndim) - 1;
    return true;
  }
  *mask = 0;
  for (int i = 0; i < ndims; i++) {
    int d = ax__wrap_dim(op, dims[i], x->ndim);
    if (d < 0) return false;
    if (x->ndim == 0) continue; /* 0 and -1 name the lone "dim" of a scalar: nothing to reduce */
    if (*mask & (1u << d)) {
      ax_error("%s: dim %d appears more than once in the dims to reduce of %s", op, dims[i], ax__shp(x));
      return false;
    }
    *mask |= 1u << d;
  }
  return true;
}

/* The dims in mask as a list; returns how many. */
static int mask_dims(dim_mask mask, int ndim, int *dims) {
  int n = 0;
  for (int d = 0; d < ndim; d++)
    if (mask & (1u << d)) dims[n++] = d;
  return n;
}

static int64_t mask_count(const ax_tensor *x, dim_mask mask) {
  int64_t n = 1;
  for (int d = 0; d < x->ndim; d++)
    if (mask & (1u << d)) n *= x->shape[d];
  return n;
}

/* Output shape with (keep) or without the reduced dims; returns its ndim. */
static int reduced_shape(int ndim, const int64_t *shape, dim_mask mask, bool keepdim, int64_t *out) {
  int n = 0;
  for (int d = 0; d < ndim; d++) {
    if (!(mask & (1u << d))) out[n++] = shape[d];
    else if (keepdim) out[n++] = 1;
  }
  return n;
}

/* t (the shape of a reduction of a tensor of in_shape) reshaped to the keepdim shape, so it broadcasts against the input. */
static ax_tensor *as_keepdim(ax_tensor *t, int ndim, const int64_t *in_shape, dim_mask mask) {
  int64_t shape[AX_MAX_DIMS];
  int nd = reduced_shape(ndim, in_shape, mask, true, shape);
  return ax_reshape(t, nd, shape);
}

/* A kernel view of a contiguous reduction result `out` in the keepdim shape of x. */
static ax_kt keepdim_kt(const ax_tensor *out, const ax_tensor *x, dim_mask mask) {
  ax_kt k = ax__kt(out);
  k.ndim = x->ndim;
  reduced_shape(x->ndim, x->shape, mask, true, k.shape);
  ax__contiguous_strides(k.ndim, k.shape, k.strides);
  return k;
}

static bool is_integer(ax_dtype dt) { return dt == AX_I32 || dt == AX_I64 || dt == AX_U8 || dt == AX_BOOL; }

/* Runs the reduce kernel; out_dt is the result's dtype. */
static ax_tensor *reduce_run(const char *op, int kop, ax_tensor *x, dim_mask mask, bool keepdim, ax_dtype out_dt) {
  int64_t shape[AX_MAX_DIMS];
  int nd = reduced_shape(x->ndim, x->shape, mask, keepdim, shape);
  ax_tensor *out = ax__new(op, out_dt, x->device, nd, shape);
  if (!out) return NULL;
  const ax_backend *be = out->storage->backend;
  AX_KERNEL_CHECK(be, reduce, op);
  ax_kt ok = keepdim_kt(out, x, mask), xk = ax__kt(x);
  if (!AX_KCALL(op, be, reduce, kop, &ok, &xk)) return NULL;
  return out;
}

static void set_mask_args(ax_node *n, dim_mask mask, bool keepdim) {
  n->iargs[0] = mask;
  n->iargs[1] = keepdim;
}

/* ---------------- sum ---------------- */

static void sum_backward(ax_node *n, ax_tensor *g) {
  ax_tensor *gk = as_keepdim(g, n->in_ndim, n->in_shape, (dim_mask)n->iargs[0]);
  ax__accumulate(n, 0, ax_expand(gk, n->in_ndim, n->in_shape));
}

ax_tensor *ax_sum(ax_tensor *x, int ndims, const int *dims, bool keepdim) {
  if (!x) return NULL;
  dim_mask mask;
  if (!parse_dims("ax_sum", x, ndims, dims, &mask)) return NULL;
  /* integer sums widen to i64, as in PyTorch */
  ax_tensor *out = reduce_run("ax_sum", AX_REDUCE_SUM, x, mask, keepdim, is_integer(x->dtype) ? AX_I64 : x->dtype);
  ax_node *n = ax__record(out, "sum", sum_backward, 1, &x);
  if (n) set_mask_args(n, mask, keepdim);
  return out;
}

ax_tensor *ax_mean(ax_tensor *x, int ndims, const int *dims, bool keepdim) {
  if (!x) return NULL;
  dim_mask mask;
  if (!parse_dims("ax_mean", x, ndims, dims, &mask) || !ax__check_float("ax_mean", x)) return NULL;
  /* an empty reduction gives 0 / 0 = NaN, as in PyTorch */
  ax_scope_begin();
  return ax__scope_return(ax_div_scalar(ax_sum(x, ndims, dims, keepdim), (double)mask_count(x, mask)));
}

/* ---------------- amax, amin ---------------- */

/* Gradient of an extremum y (keepdim shape) of v over mask: g split evenly among the elements equal to y. */
static ax_tensor *tie_grad(ax_tensor *v, ax_tensor *y, ax_tensor *g, dim_mask mask) {
  int dims[AX_MAX_DIMS], nd = mask_dims(mask, v->ndim, dims);
  ax_tensor *hit = ax_cast(ax_eq(v, y), v->dtype);
  ax_tensor *count = nd ? ax_sum(hit, nd, dims, true) : hit;
  return ax_mul(hit, ax_div(g, count));
}

static void extremum_backward(ax_node *n, ax_tensor *g) {
  dim_mask mask = (dim_mask)n->iargs[0];
  ax_tensor *x = n->saved[0];
  ax_tensor *y = as_keepdim(n->output, x->ndim, x->shape, mask);
  ax_tensor *gk = as_keepdim(g, x->ndim, x->shape, mask);
  ax__accumulate(n, 0, tie_grad(x, y, gk, mask));
}

static ax_tensor *extremum(const char *op, int kop, ax_tensor *x, int ndims, const int *dims, bool keepdim) {
  if (!x) return NULL;
  dim_mask mask;
  if (!parse_dims(op, x, ndims, dims, &mask)) return NULL;
  if (mask_count(x, mask) == 0 && ax_numel(x) == 0) {
    int64_t shape[AX_MAX_DIMS];
    int nd = reduced_shape(x->ndim, x->shape, mask, keepdim, shape);
    if (ax__shape_numel(nd, shape) > 0) {
      ax_error("%s: cannot reduce %s over a dim of size 0 (the result has no identity)", op, ax__shp(x));
      return NULL;
    }
  }
  ax_tensor *out = reduce_run(op, kop, x, mask, keepdim, x->dtype);
  ax_node *n = ax__record(out, op + 3, extremum_backward, 1, &x);
  if (n) {
    set_mask_args(n, mask, keepdim);
    ax__save(n, 0, x);
  }
  return out;
}

ax_tensor *ax_amax(ax_tensor *x, int ndims, const int *dims, bool keepdim) {
  return extremum("ax_amax", AX_REDUCE_MAX, x, ndims, dims, keepdim);
}
ax_tensor *ax_amin(ax_tensor *x, int ndims, const int *dims, bool keepdim) {
  return extremum("ax_amin", AX_REDUCE_MIN, x, ndims, dims, keepdim);
}

/* ---------------- max, min, argmax, argmin along one dim ---------------- */

/* Gradient to the index position: g where the position along dim equals the index, else 0. */
static void index_max_backward(ax_node *n, ax_tensor *g) {
  int dim = (int)n->iargs[0];
  ax_tensor *idx = n->saved[0]; /* keepdim shape, i64 */
  int64_t shape[AX_MAX_DIMS];
  for (int d = 0; d < n->in_ndim; d++) shape[d] = d == dim ? n->in_shape[d] : 1;
  ax_tensor *pos = ax_reshape(ax_arange(0, (double)n->in_shape[dim], 1, &(ax_tensor_opts){.dtype = AX_I64, .device = g->device}),
                              n->in_ndim, shape);
  ax_tensor *hit = ax_cast(ax_eq(pos, idx), g->dtype);
  dim_mask mask = 1u << dim;
  ax_tensor *gk = as_keepdim(g, n->in_ndim, n->in_shape, mask);
  ax__accumulate(n, 0, ax_mul(hit, gk));
}

/* values (when want_values) and indices of the max/min of x along dim; runs inside the caller's scope. */
static ax_tensor *arg_impl(const char *op, int kop, ax_tensor *x, int dim, bool keepdim, bool want_values,
                          ax_tensor **indices) {
  if (!x) return NULL;
  int d = ax__wrap_dim(op, dim, x->ndim);
  if (d < 0) return NULL;
  if (x->ndim > 0 && x->shape[d] == 0) {
    ax_error("%s: cannot reduce %s over dim %d of size 0", op, ax__shp(x), dim);
    return NULL;
  }
  dim_mask mask = x->ndim ? 1u << d : 0;
  int64_t shape[AX_MAX_DIMS];
  int nd = reduced_shape(x->ndim, x->shape, mask, keepdim, shape);
  ax_tensor *idx = ax__new(op, AX_I64, x->device, nd, shape);
  ax_tensor *val = want_values ? ax__new(op, x->dtype, x->device, nd, shape) : NULL;
  if (!idx || (want_values && !val)) return NULL;
  const ax_backend *be = idx->storage->backend;
  AX_KERNEL_CHECK(be, arg_reduce, op);
  ax_kt ik = keepdim_kt(idx, x, mask), xk = ax__kt(x), vk = {0};
  if (val) vk = keepdim_kt(val, x, mask);
  if (x->ndim == 0) { /* a scalar is a one-element row */
    xk.ndim = ik.ndim = vk.ndim = 1;
    xk.shape[0] = ik.shape[0] = vk.shape[0] = 1;
    xk.strides[0] = ik.strides[0] = vk.strides[0] = 1;
  }
  if (!AX_KCALL(op, be, arg_reduce, kop, val ? &vk : NULL, &ik, &xk, d)) return NULL;
  if (indices) *indices = idx;
  if (!val) return idx;
  ax_node *n = ax__record(val, op + 3, index_max_backward, 1, &x);
  if (n && x->ndim > 0) {
    n->iargs[0] = d;
    ax__save(n, 0, as_keepdim(idx, x->ndim, x->shape, mask));
  } else if (n) {
    n->backward = sum_backward; /* a scalar's max is the scalar itself */
    set_mask_args(n, 0, keepdim);
  }
  return val;
}

/* arg_impl in a scope of its own, so its temporaries never outlive it; the outputs move to the caller's. */
static ax_tensor *arg_run(const char *op, int kop, ax_tensor *x, int dim, bool keepdim, bool want_values,
                          ax_tensor **indices) {
  ax_tensor *idx = NULL;
  ax_scope_begin();
  ax_tensor *out = arg_impl(op, kop, x, dim, keepdim, want_values, &idx);
  if (want_values) ax_retain(idx);
  out = ax__scope_return(out);
  if (want_values && idx) ax__scope_adopt(idx);
  if (indices) *indices = want_values ? idx : out;
  return out;
}

ax_tensor *ax_max(ax_tensor *x, int dim, bool keepdim, ax_tensor **indices) {
  return arg_run("ax_max", AX_REDUCE_MAX, x, dim, keepdim, true, indices);
}
ax_tensor *ax_min(ax_tensor *x, int dim, bool keepdim, ax_tensor **indices) {
  return arg_run("ax_min", AX_REDUCE_MIN, x, dim, keepdim, true, indices);
}
ax_tensor *ax_argmax(ax_tensor *x, int dim, bool keepdim) {
  return arg_run("ax_argmax", AX_REDUCE_MAX, x, dim, keepdim, false, NULL);
}
ax_tensor *ax_argmin(ax_tensor *x, int dim, bool keepdim) {
  return arg_run("ax_argmin", AX_REDUCE_MIN, x, dim, keepdim, false, NULL);
}

/* ---------------- var, std, logsumexp ---------------- */

static ax_tensor *var_impl(const char *op, ax_tensor *x, int ndims, const int *dims, bool unbiased, bool keepdim) {
  dim_mask mask;
  if (!parse_dims(op, x, ndims, dims, &mask) || !ax__check_float(op, x)) return NULL;
  /* two passes (subtract the mean, then sum squares): no cancellation as in E[x^2] - E[x]^2 */
  ax_tensor *d = ax_sub(x, ax_mean(x, ndims, dims, true));
  double n = (double)mask_count(x, mask) - (unbiased ? 1.0 : 0.0);
  return ax_div_scalar(ax_sum(ax_square(d), ndims, dims, keepdim), n);
}

ax_tensor *ax_var(ax_tensor *x, int ndims, const int *dims, bool unbiased, bool keepdim) {
  if (!x) return NULL;
  ax_scope_begin();
  return ax__scope_return(var_impl("ax_var", x, ndims, dims, unbiased, keepdim));
}
ax_tensor *ax_std(ax_tensor *x, int ndims, const int *dims, bool unbiased, bool keepdim) {
  if (!x) return NULL;
  ax_scope_begin();
  return ax__scope_return(ax_sqrt(var_impl("ax_std", x, ndims, dims, unbiased, keepdim)));
}

static ax_tensor *logsumexp(ax_tensor *x, int ndims, const int *dims, bool keepdim) {
  dim_mask mask;
  if (!parse_dims("ax_logsumexp", x, ndims, dims, &mask) || !ax__check_float("ax_logsumexp", x)) return NULL;
  /* shift by the max (a constant for autograd: its gradient cancels exactly); an infinite max
   * (all -inf, or +inf) is replaced by 0 so the shift never makes inf - inf */
  ax_no_grad_begin();
  ax_tensor *m = ax_amax(x, ndims, dims, true);
  m = ax_where(ax_eq_scalar(ax_abs(m), INFINITY), ax_zeros_like(m), m);
  ax_no_grad_end();
  ax_tensor *s = ax_sum(ax_exp(ax_sub(x, m)), ndims, dims, keepdim);
  if (!keepdim) {
    int64_t shape[AX_MAX_DIMS];
    int nd = m ? reduced_shape(x->ndim, x->shape, mask, false, shape) : 0;
    m = ax_reshape(m, nd, shape);
  }
  return ax_add(ax_log(s), m);
}

ax_tensor *ax_logsumexp(ax_tensor *x, int ndims, const int *dims, bool keepdim) {
  if (!x) return NULL;
  ax_scope_begin();
  return ax__scope_return(logsumexp(x, ndims, dims, keepdim));
}

/* ---------------- norm ---------------- */

/* -1, 0 or 1 by the sign of x. */
static ax_tensor *sign_of(ax_tensor *x) {
  return ax_sub(ax_cast(ax_gt_scalar(x, 0), x->dtype), ax_cast(ax_lt_scalar(x, 0), x->dtype));
}

static void norm_backward(ax_node *n, ax_tensor *g) {
  dim_mask mask = (dim_mask)n->iargs[0];
  double p = n->dargs[0];
  ax_tensor *x = n->saved[0];
  ax_tensor *y = as_keepdim(n->output, x->ndim, x->shape, mask);
  ax_tensor *gk = as_keepdim(g, x->ndim, x->shape, mask);
  ax_tensor *gx;
  if (p == 1) {
    gx = ax_mul(sign_of(x), gk);
  } else if (isinf(p)) {
    gx = ax_mul(sign_of(x), tie_grad(ax_abs(x), y, gk, mask));
  } else {
    /* d||x||_p / dx = sign(x) |x|^(p-1) / ||x||^(p-1); taken as 0 where the norm is 0 */
    ax_tensor *zero = ax_eq_scalar(y, 0);
    ax_tensor *scale = ax_div(gk, p == 2 ? y : ax_pow_scalar(y, p - 1));
    scale = ax_where(zero, ax_zeros_like(scale), scale);
    ax_tensor *dx = p == 2 ? x : ax_mul(sign_of(x), ax_pow_scalar(ax_abs(x), p - 1));
    gx = ax_mul(dx, scale);
  }
  ax__accumulate(n, 0, gx);
}

ax_tensor *ax_norm(ax_tensor *x, double p, int ndims, const int *dims, bool keepdim) {
  if (!x) return NULL;
  dim_mask mask;
  if (!parse_dims("ax_norm", x, ndims, dims, &mask) || !ax__check_float("ax_norm", x)) return NULL;
  if (!(p > 0)) {
    ax_error("ax_norm: p must be > 0 or INFINITY, got %g (for %s)", p, ax__shp(x));
    return NULL;
  }
  ax_scope_begin();
  ax_no_grad_begin();
  ax_tensor *out;
  if (p == 2) out = ax_sqrt(ax_sum(ax_square(x), ndims, dims, keepdim));
  else if (p == 1) out = ax_sum(ax_abs(x), ndims, dims, keepdim);
  else if (isinf(p)) out = ax_amax(ax_abs(x), ndims, dims, keepdim);
  else out = ax_pow_scalar(ax_sum(ax_pow_scalar(ax_abs(x), p), ndims, dims, keepdim), 1.0 / p);
  ax_no_grad_end();
  out = ax__scope_return(out);
  ax_node *n = ax__record(out, "norm", norm_backward, 1, &x);
  if (n) {
    set_mask_args(n, mask, keepdim);
    n->dargs[0] = p;
    ax__save(n, 0, x);
  }
  return out;
}
