/* SPDX-License-Identifier: BSD-3-Clause */
/* Elementwise ops: unary math and activations, binary arithmetic with NumPy
 * broadcasting, comparisons, where. Each runs one backend kernel (unary,
 * unary_backward, binary, where); gradients of broadcast inputs are summed
 * back to the input's shape with ax__sum_to. */
#include <math.h>

#include "core/internal.h"

/* ---------------- unary ---------------- */

static void unary_backward(ax_node *n, ax_tensor *g) {
  ax_tensor *x = n->saved[0];
  if (g->dtype != x->dtype) g = ax_cast(g, x->dtype);
  if (!g) return;
  ax_tensor *gx = ax__new("ax_backward", x->dtype, x->device, x->ndim, x->shape);
  if (!gx) return;
  const ax_backend *be = gx->storage->backend;
  if (!be->unary_backward) {
    ax_error("%s: not implemented on the %s backend yet (kernel 'unary_backward')", n->name, be->name);
    return;
  }
  ax_kt gk = ax__kt(gx), gyk = ax__kt(g), xk = ax__kt(x), yk = ax__kt(n->output);
  if (!AX_KCALL(n->name, be, unary_backward, (int)n->iargs[0], &gk, &gyk, &xk, &yk, n->dargs[0], n->dargs[1])) return;
  ax__accumulate(n, 0, gx);
}

static bool is_integer(ax_dtype dt) { return dt == AX_I32 || dt == AX_I64 || dt == AX_U8; }

/* op is the public name ("ax_relu"); its node is named without the prefix.
 * int_ok: the op also runs (forward only) on i32/i64/u8. */
static ax_tensor *unary(const char *op, int kop, ax_tensor *x, double alpha, double beta, bool int_ok) {
  if (!x) return NULL;
  if (!(int_ok && is_integer(x->dtype)) && !ax__check_float(op, x)) return NULL;
  ax_tensor *out = ax__new(op, x->dtype, x->device, x->ndim, x->shape);
  if (!out) return NULL;
  const ax_backend *be = out->storage->backend;
  AX_KERNEL_CHECK(be, unary, op);
  ax_kt ok = ax__kt(out), xk = ax__kt(x);
  if (!AX_KCALL(op, be, unary, kop, &ok, &xk, alpha, beta)) return NULL;
  ax_node *n = ax__record(out, op + 3, unary_backward, 1, &x);
  if (n) {
    ax__save(n, 0, x);
    n->iargs[0] = kop;
    n->dargs[0] = alpha;
    n->dargs[1] = beta;
  }
  return out;
}

ax_tensor *ax_neg(ax_tensor *x) { return unary("ax_neg", AX_UNARY_NEG, x, 0, 0, true); }
ax_tensor *ax_abs(ax_tensor *x) { return unary("ax_abs", AX_UNARY_ABS, x, 0, 0, true); }
ax_tensor *ax_exp(ax_tensor *x) { return unary("ax_exp", AX_UNARY_EXP, x, 0, 0, false); }
ax_tensor *ax_log(ax_tensor *x) { return unary("ax_log", AX_UNARY_LOG, x, 0, 0, false); }
ax_tensor *ax_sqrt(ax_tensor *x) { return unary("ax_sqrt", AX_UNARY_SQRT, x, 0, 0, false); }
ax_tensor *ax_rsqrt(ax_tensor *x) { return unary("ax_rsqrt", AX_UNARY_RSQRT, x, 0, 0, false); }
ax_tensor *ax_square(ax_tensor *x) { return unary("ax_square", AX_UNARY_SQUARE, x, 0, 0, true); }
ax_tensor *ax_pow_scalar(ax_tensor *x, double p) { return unary("ax_pow_scalar", AX_UNARY_POW, x, p, 0, false); }
ax_tensor *ax_clamp(ax_tensor *x, double lo, double hi) {
  if (x && (isnan(lo) || isnan(hi))) {
    ax_error("ax_clamp: bounds must not be NaN (got %g, %g) for %s", lo, hi, ax__shp(x));
    return NULL;
  }
  return unary("ax_clamp", AX_UNARY_CLAMP, x, lo, hi, true);
}
ax_tensor *ax_relu(ax_tensor *x) { return unary("ax_relu", AX_UNARY_RELU, x, 0, 0, false); }
ax_tensor *ax_leaky_relu(ax_tensor *x, double slope) {
  return unary("ax_leaky_relu", AX_UNARY_LEAKY_RELU, x, slope, 0, false);
}
ax_tensor *ax_sigmoid(ax_tensor *x) { return unary("ax_sigmoid", AX_UNARY_SIGMOID, x, 0, 0, false); }
ax_tensor *ax_tanh(ax_tensor *x) { return unary("ax_tanh", AX_UNARY_TANH, x, 0, 0, false); }
ax_tensor *ax_gelu(ax_tensor *x) { return unary("ax_gelu", AX_UNARY_GELU, x, 0, 0, false); }
ax_tensor *ax_gelu_tanh(ax_tensor *x) { return unary("ax_gelu_tanh", AX_UNARY_GELU_TANH, x, 0, 0, false); }
ax_tensor *ax_silu(ax_tensor *x) { return unary("ax_silu", AX_UNARY_SILU, x, 0, 0, false); }

/* ---------------- binary ---------------- */

/* Hands g (the output's shape) to input i, summed down to that input's shape. */
static void give(ax_node *n, int i, ax_tensor *g) {
  ax_tensor *in = n->inputs[i];
  ax__accumulate(n, i, ax__sum_to(g, in->ndim, in->shape));
}

static void add_backward(ax_node *n, ax_tensor *g) {
  if (ax__input_needs_grad(n, 0)) give(n, 0, g);
  if (ax__input_needs_grad(n, 1)) give(n, 1, g);
}

static void sub_backward(ax_node *n, ax_tensor *g) {
  if (ax__input_needs_grad(n, 0)) give(n, 0, g);
  if (ax__input_needs_grad(n, 1)) give(n, 1, ax_neg(g));
}

/* saved: 0 = a (kept only when b needs grad), 1 = b (when a needs grad) */
static void mul_backward(ax_node *n, ax_tensor *g) {
  if (ax__input_needs_grad(n, 0)) give(n, 0, ax_mul(g, n->saved[1]));
  if (ax__input_needs_grad(n, 1)) give(n, 1, ax_mul(g, n->saved[0]));
}

/* d(a/b)/db = -a/b^2 = -out/b; saved: 1 = b */
static void div_backward(ax_node *n, ax_tensor *g) {
  ax_tensor *b = n->saved[1];
  if (ax__input_needs_grad(n, 0)) give(n, 0, ax_div(g, b));
  if (ax__input_needs_grad(n, 1)) give(n, 1, ax_neg(ax_div(ax_mul(g, n->output), b)));
}

/* d(a^b)/da = b a^(b-1), taken as 0 where b = 0 (0 * 0^-1 would be NaN); d(a^b)/db = a^b log(a),
 * taken as 0 where a = 0 and b >= 0 (the limit from a > 0, where log(a) = -inf would make
 * 0 * -inf = NaN). Both are PyTorch's rules. saved: 0 = a, 1 = b */
static void pow_backward(ax_node *n, ax_tensor *g) {
  ax_tensor *a = n->saved[0], *b = n->saved[1];
  ax_tensor *zero = ax_full(0, NULL, 0.0, &(ax_tensor_opts){.dtype = g->dtype, .device = g->device});
  if (ax__input_needs_grad(n, 0)) {
    ax_tensor *ga = ax_mul(g, ax_mul(b, ax_pow(a, ax_sub_scalar(b, 1.0))));
    give(n, 0, ax_where(ax_eq_scalar(b, 0.0), zero, ga));
  }
  if (ax__input_needs_grad(n, 1)) {
    ax_tensor *at_zero = ax_mul(ax_cast(ax_eq_scalar(a, 0.0), g->dtype), ax_cast(ax_ge_scalar(b, 0.0), g->dtype));
    ax_tensor *gb = ax_mul(g, ax_mul(n->output, ax_log(a)));
    give(n, 1, ax_where(ax_eq_scalar(at_zero, 1.0), zero, gb));
  }
}

/* The gradient goes to the winner, split evenly on ties (as PyTorch does).
 * iargs[0]: the comparison that makes a the winner (GT for max, LT for min). */
static void maxmin_backward(ax_node *n, ax_tensor *g) {
  ax_tensor *a = n->saved[0], *b = n->saved[1];
  ax_tensor *wins = n->iargs[0] == AX_BINARY_GT ? ax_gt(a, b) : ax_lt(a, b);
  ax_tensor *w = ax_add(ax_cast(wins, g->dtype), ax_mul_scalar(ax_cast(ax_eq(a, b), g->dtype), 0.5));
  ax_tensor *ga = ax_mul(g, w);
  if (ax__input_needs_grad(n, 0)) give(n, 0, ga);
  if (ax__input_needs_grad(n, 1)) give(n, 1, ax_sub(g, ga));
}

static bool is_compare(int kop) { return kop >= AX_BINARY_EQ; }

static ax_tensor *binary(const char *op, int kop, ax_tensor *a, ax_tensor *b) {
  if (!a || !b) return NULL;
  if (!ax__check_same_device(op, a, b) || !ax__check_same_dtype(op, a, b)) return NULL;
  if ((kop == AX_BINARY_DIV || kop == AX_BINARY_POW) && !ax__check_float(op, a)) return NULL;
  if (a->dtype == AX_BOOL && (kop == AX_BINARY_ADD || kop == AX_BINARY_SUB || kop == AX_BINARY_MUL)) {
    ax_error("%s: arithmetic is not defined on bool tensors (%s and %s); cast them first", op, ax__shp(a),
             ax__shp(b));
    return NULL;
  }
  int ndim;
  int64_t shape[AX_MAX_DIMS];
  if (!ax__broadcast_shape(op, a, b, &ndim, shape)) return NULL;
  ax_tensor *out = ax__new(op, is_compare(kop) ? AX_BOOL : a->dtype, a->device, ndim, shape);
  if (!out) return NULL;
  const ax_backend *be = out->storage->backend;
  AX_KERNEL_CHECK(be, binary, op);
  ax_kt ok = ax__kt(out), ak = ax__kt_broadcast(a, ndim, shape), bk = ax__kt_broadcast(b, ndim, shape);
  if (!AX_KCALL(op, be, binary, kop, &ok, &ak, &bk)) return NULL;
  if (is_compare(kop)) return out;

  static const ax_backward_fn backward[] = {
      [AX_BINARY_ADD] = add_backward, [AX_BINARY_SUB] = sub_backward, [AX_BINARY_MUL] = mul_backward,
      [AX_BINARY_DIV] = div_backward, [AX_BINARY_MAX] = maxmin_backward, [AX_BINARY_MIN] = maxmin_backward,
      [AX_BINARY_POW] = pow_backward,
  };
  ax_tensor *in[2] = {a, b};
  ax_node *n = ax__record(out, op + 3, backward[kop], 2, in);
  if (!n) return out;
  bool ga = ax__input_needs_grad(n, 0), gb = ax__input_needs_grad(n, 1);
  switch (kop) {
    case AX_BINARY_MUL:
      if (gb) ax__save(n, 0, a);
      if (ga) ax__save(n, 1, b);
      break;
    case AX_BINARY_DIV: ax__save(n, 1, b); break;
    case AX_BINARY_POW:
      ax__save(n, 0, a);
      ax__save(n, 1, b);
      break;
    case AX_BINARY_MAX:
    case AX_BINARY_MIN:
      ax__save(n, 0, a);
      ax__save(n, 1, b);
      n->iargs[0] = kop == AX_BINARY_MAX ? AX_BINARY_GT : AX_BINARY_LT;
      break;
    default: break;
  }
  return out;
}

ax_tensor *ax_add(ax_tensor *a, ax_tensor *b) { return binary("ax_add", AX_BINARY_ADD, a, b); }
ax_tensor *ax_sub(ax_tensor *a, ax_tensor *b) { return binary("ax_sub", AX_BINARY_SUB, a, b); }
ax_tensor *ax_mul(ax_tensor *a, ax_tensor *b) { return binary("ax_mul", AX_BINARY_MUL, a, b); }
ax_tensor *ax_div(ax_tensor *a, ax_tensor *b) { return binary("ax_div", AX_BINARY_DIV, a, b); }
ax_tensor *ax_maximum(ax_tensor *a, ax_tensor *b) { return binary("ax_maximum", AX_BINARY_MAX, a, b); }
ax_tensor *ax_minimum(ax_tensor *a, ax_tensor *b) { return binary("ax_minimum", AX_BINARY_MIN, a, b); }
ax_tensor *ax_pow(ax_tensor *a, ax_tensor *b) { return binary("ax_pow", AX_BINARY_POW, a, b); }
ax_tensor *ax_eq(ax_tensor *a, ax_tensor *b) { return binary("ax_eq", AX_BINARY_EQ, a, b); }
ax_tensor *ax_ne(ax_tensor *a, ax_tensor *b) { return binary("ax_ne", AX_BINARY_NE, a, b); }
ax_tensor *ax_lt(ax_tensor *a, ax_tensor *b) { return binary("ax_lt", AX_BINARY_LT, a, b); }
ax_tensor *ax_le(ax_tensor *a, ax_tensor *b) { return binary("ax_le", AX_BINARY_LE, a, b); }
ax_tensor *ax_gt(ax_tensor *a, ax_tensor *b) { return binary("ax_gt", AX_BINARY_GT, a, b); }
ax_tensor *ax_ge(ax_tensor *a, ax_tensor *b) { return binary("ax_ge", AX_BINARY_GE, a, b); }

/* ---------------- scalar forms ---------------- */

/* Whether s converts exactly to dt (always for floats, whose rounding is the point). */
static bool representable(double s, ax_dtype dt) {
  switch (dt) {
    case AX_I32: return s == floor(s) && s >= -2147483648.0 && s <= 2147483647.0;
    case AX_I64: return s == floor(s) && s >= -9223372036854775808.0 && s < 9223372036854775808.0;
    case AX_U8: return s == floor(s) && s >= 0 && s <= 255;
    case AX_BOOL: return s == 0 || s == 1;
    default: return true;
  }
}

static ax_tensor *scalar_of(const ax_tensor *a, double s) {
  return ax_full(0, NULL, s, &(ax_tensor_opts){.dtype = a->dtype, .device = a->device});
}

/* a op s, or s op a when reversed: s becomes a 0-dim tensor of a's dtype, broadcast. */
static ax_tensor *binary_scalar(const char *op, int kop, ax_tensor *a, double s, bool reversed) {
  if (!a) return NULL;
  if (!representable(s, a->dtype)) {
    ax_error("%s: scalar %g cannot be represented exactly as %s (tensor %s); cast the tensor to a float dtype",
             op, s, ax_dtype_name(a->dtype), ax__shp(a));
    return NULL;
  }
  ax_tensor *t = scalar_of(a, s);
  return reversed ? binary(op, kop, t, a) : binary(op, kop, a, t);
}

ax_tensor *ax_add_scalar(ax_tensor *a, double s) { return binary_scalar("ax_add_scalar", AX_BINARY_ADD, a, s, false); }
ax_tensor *ax_sub_scalar(ax_tensor *a, double s) { return binary_scalar("ax_sub_scalar", AX_BINARY_SUB, a, s, false); }
ax_tensor *ax_rsub_scalar(ax_tensor *a, double s) { return binary_scalar("ax_rsub_scalar", AX_BINARY_SUB, a, s, true); }
ax_tensor *ax_mul_scalar(ax_tensor *a, double s) { return binary_scalar("ax_mul_scalar", AX_BINARY_MUL, a, s, false); }
ax_tensor *ax_div_scalar(ax_tensor *a, double s) { return binary_scalar("ax_div_scalar", AX_BINARY_DIV, a, s, false); }
ax_tensor *ax_rdiv_scalar(ax_tensor *a, double s) { return binary_scalar("ax_rdiv_scalar", AX_BINARY_DIV, a, s, true); }
ax_tensor *ax_maximum_scalar(ax_tensor *a, double s) {
  return binary_scalar("ax_maximum_scalar", AX_BINARY_MAX, a, s, false);
}
ax_tensor *ax_minimum_scalar(ax_tensor *a, double s) {
  return binary_scalar("ax_minimum_scalar", AX_BINARY_MIN, a, s, false);
}

/* Comparisons with a scalar that an integer tensor cannot hold (x < 0.5)
 * compare in f64 rather than round the scalar. */
static ax_tensor *compare_scalar(const char *op, int kop, ax_tensor *a, double s) {
  if (!a) return NULL;
  if (isnan(s) || representable(s, a->dtype)) return binary(op, kop, a, scalar_of(a, s));
  ax_tensor *a64 = ax_cast(a, AX_F64);
  return a64 ? binary(op, kop, a64, scalar_of(a64, s)) : NULL;
}

ax_tensor *ax_eq_scalar(ax_tensor *a, double s) { return compare_scalar("ax_eq_scalar", AX_BINARY_EQ, a, s); }
ax_tensor *ax_ne_scalar(ax_tensor *a, double s) { return compare_scalar("ax_ne_scalar", AX_BINARY_NE, a, s); }
ax_tensor *ax_lt_scalar(ax_tensor *a, double s) { return compare_scalar("ax_lt_scalar", AX_BINARY_LT, a, s); }
ax_tensor *ax_le_scalar(ax_tensor *a, double s) { return compare_scalar("ax_le_scalar", AX_BINARY_LE, a, s); }
ax_tensor *ax_gt_scalar(ax_tensor *a, double s) { return compare_scalar("ax_gt_scalar", AX_BINARY_GT, a, s); }
ax_tensor *ax_ge_scalar(ax_tensor *a, double s) { return compare_scalar("ax_ge_scalar", AX_BINARY_GE, a, s); }

/* ---------------- where ---------------- */

/* saved: 0 = cond; inputs: a, b */
static void where_backward(ax_node *n, ax_tensor *g) {
  ax_tensor *cond = n->saved[0];
  ax_tensor *zero = ax_full(0, NULL, 0.0, &(ax_tensor_opts){.dtype = g->dtype, .device = g->device});
  if (ax__input_needs_grad(n, 0)) give(n, 0, ax_where(cond, g, zero));
  if (ax__input_needs_grad(n, 1)) give(n, 1, ax_where(cond, zero, g));
}

ax_tensor *ax_where(ax_tensor *cond, ax_tensor *a, ax_tensor *b) {
  if (!cond || !a || !b) return NULL;
  if (cond->dtype != AX_BOOL) {
    ax_error("ax_where: the condition must be a bool tensor, got %s %s", ax_dtype_name(cond->dtype), ax__shp(cond));
    return NULL;
  }
  if (!ax__check_same_device("ax_where", cond, a) || !ax__check_same_device("ax_where", a, b) ||
      !ax__check_same_dtype("ax_where", a, b))
    return NULL;
  const ax_tensor *ts[3] = {cond, a, b};
  int ndim = 0;
  int64_t shape[AX_MAX_DIMS];
  for (int k = 0; k < 3; k++)
    if (ts[k]->ndim > ndim) ndim = ts[k]->ndim;
  for (int i = 0; i < ndim; i++) {
    shape[i] = 1;
    for (int k = 0; k < 3; k++) {
      int j = ts[k]->ndim - ndim + i;
      int64_t sz = j >= 0 ? ts[k]->shape[j] : 1;
      if (sz == 1) continue;
      if (shape[i] != 1 && shape[i] != sz) {
        ax_error("ax_where: shapes %s (cond), %s and %s do not broadcast (dim %d)", ax__shp(cond), ax__shp(a),
                 ax__shp(b), i);
        return NULL;
      }
      shape[i] = sz;
    }
  }
  ax_tensor *out = ax__new("ax_where", a->dtype, a->device, ndim, shape);
  if (!out) return NULL;
  const ax_backend *be = out->storage->backend;
  AX_KERNEL_CHECK(be, where, "ax_where");
  ax_kt ok = ax__kt(out), ck = ax__kt_broadcast(cond, ndim, shape), ak = ax__kt_broadcast(a, ndim, shape),
        bk = ax__kt_broadcast(b, ndim, shape);
  if (!AX_KCALL("ax_where", be, where, &ok, &ck, &ak, &bk)) return NULL;
  ax_tensor *in[2] = {a, b};
  ax_node *n = ax__record(out, "where", where_backward, 2, in);
  if (n) ax__save(n, 0, cond);
  return out;
}
