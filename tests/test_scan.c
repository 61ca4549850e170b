/* SPDX-License-Identifier: BSD-3-Clause */
/* Scans (cumsum, cumprod, cummax, logcumsumexp): values against plain loops along
 * every dim (negative dims, permuted inputs, f32 and f64), the CPU kernel's reverse
 * (suffix) scans, cummax's ties and NaN (PyTorch's rule), cumprod's gradient at
 * zeros (PyTorch's rule, checked by finite differences, which are exact for a
 * product), logcumsumexp without overflow, gradient checks, errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "kernels/backend.h"
#include "testutil.h"

TestSuite(scan, .init = tu_capture_errors);

#define F64 (&(ax_tensor_opts){.dtype = AX_F64})

enum { S_SUM, S_PROD, S_MAX, S_LSE, S_COUNT };

/* The scan of n values x[0], x[s], ... into y (and idx for max), by a plain loop in double;
 * reverse runs from the end. */
static void line_ref(int op, const double *x, int64_t n, int64_t s, bool reverse, double *y, int64_t *idx) {
  double acc = 0;
  int64_t best = 0;
  for (int64_t k = 0; k < n; k++) {
    int64_t i = reverse ? n - 1 - k : k;
    double v = x[i * s];
    if (k == 0) {
      acc = v, best = i;
    } else if (op == S_SUM) {
      acc += v;
    } else if (op == S_PROD) {
      acc *= v;
    } else if (op == S_MAX) {
      if (!isnan(acc) && (isnan(v) || v >= acc)) acc = v, best = i;
    } else { /* log(exp(acc) + exp(v)) by the definition, shifted by the larger */
      double m = fmax(acc, v);
      acc = isinf(m) && m < 0 ? -INFINITY : m + log(exp(acc - m) + exp(v - m));
    }
    y[i * s] = acc;
    if (idx) idx[i * s] = best;
  }
}

/* The scan of contiguous f64 x (as a flat array of shape `shape`) along dim. */
static void ref(int op, const double *x, int ndim, const int64_t *shape, int dim, bool reverse, double *y,
                int64_t *idx) {
  int64_t inner = 1, outer = 1, n = shape[dim];
  for (int d = dim + 1; d < ndim; d++) inner *= shape[d];
  for (int d = 0; d < dim; d++) outer *= shape[d];
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      int64_t base = o * n * inner + i;
      line_ref(op, x + base, n, inner, reverse, y + base, idx ? idx + base : NULL);
    }
}

static ax_tensor *run(int op, ax_tensor *x, int dim, ax_tensor **idx) {
  switch (op) {
    case S_SUM: return ax_cumsum(x, dim);
    case S_PROD: return ax_cumprod(x, dim);
    case S_MAX: return ax_cummax(x, dim, idx);
    default: return ax_logcumsumexp(x, dim);
  }
}

static const char *names[] = {"cumsum", "cumprod", "cummax", "logcumsumexp"};

/* x rounded down to multiples of 1/k (k > 0; ties for cummax), or x itself (k = 0) */
static ax_tensor *quantize(ax_tensor *x, int k) {
  if (k == 0) return x;
  return ax_div_scalar(ax_cast(ax_cast(ax_mul_scalar(x, k), AX_I64), AX_F64), k);
}

Test(scan, every_dim_and_layout_matches_a_loop) {
  ax_scope_begin();
  static double xs[4 * 5 * 6], want[4 * 5 * 6];
  static int64_t want_idx[4 * 5 * 6];
  const ax_dtype dts[] = {AX_F64, AX_F32};
  for (int di = 0; di < 2; di++)
    for (int op = 0; op < S_COUNT; op++)
      for (int layout = 0; layout < 2; layout++)
        for (int dim = -3; dim < 3; dim++) {
          ax_scope_begin();
          /* values in [0.5, 1.5) keep products in range; a few ties for cummax */
          ax_tensor *base = quantize(tu_uniform(AX_F64, AX_SHAPE(4, 5, 6), 0.5, 1.5), op == S_MAX ? 4 : 0);
          /* layout 1: a permuted (non-contiguous) view with the same logical shape */
          ax_tensor *x = layout ? ax_permute(ax_contiguous(ax_permute(base, (int[]){2, 0, 1})), (int[]){1, 2, 0}) : base;
          cr_assert(layout == 0 || !ax_is_contiguous(x));
          memcpy(xs, ax_data_ptr(ax_contiguous(base)), sizeof xs);
          ax_tensor *idx = NULL;
          ax_tensor *y = run(op, ax_cast(x, dts[di]), dim, &idx);
          cr_assert_not_null(y, "%s dim %d", names[op], dim);
          cr_expect_eq(y->dtype, dts[di]);
          ref(op, xs, 3, (int64_t[]){4, 5, 6}, dim < 0 ? dim + 3 : dim, false, want, op == S_MAX ? want_idx : NULL);
          double tol = dts[di] == AX_F64 ? 1e-12 : 1e-5;
          cr_expect(tu_allclose_data(y, want, 120, tol, tol), "%s %s layout %d dim %d", names[op],
                    ax_dtype_name(dts[di]), layout, dim);
          if (op == S_MAX) {
            cr_assert_not_null(idx);
            cr_expect_eq(idx->dtype, AX_I64);
            for (int64_t i = 0; i < 120; i++) cr_expect_eq((int64_t)tu_get(idx, i), want_idx[i], "dim %d at %lld", dim, (long long)i);
          }
          ax_scope_end();
        }
  ax_scope_end();
}

/* The CPU kernel itself, forward and reverse, on a strided view: the reverse scans are what the
 * backward passes run. */
Test(scan, cpu_kernel_reverse_scans_match_a_loop) {
  ax_scope_begin();
  static double xs[7 * 9], want[7 * 9];
  static int64_t want_idx[7 * 9];
  for (int op = 0; op < S_COUNT; op++)
    for (int reverse = 0; reverse < 2; reverse++)
      for (int dim = 0; dim < 2; dim++) {
        ax_tensor *x = quantize(tu_uniform(AX_F64, AX_SHAPE(7, 9), 0.5, 1.5), op == S_MAX ? 3 : 0);
        memcpy(xs, ax_data_ptr(x), sizeof xs);
        ax_tensor *xt = ax_transpose(x, 0, 1); /* [9, 7], strided */
        ax_tensor *y = ax_zeros(AX_SHAPE(9, 7), F64);
        ax_tensor *idx = ax_zeros(AX_SHAPE(9, 7), &(ax_tensor_opts){.dtype = AX_I64});
        ax_kt ky = {ax_data_ptr(y), AX_F64, 2, {9, 7}, {7, 1}}, ki = {ax_data_ptr(idx), AX_I64, 2, {9, 7}, {7, 1}};
        ax_kt kx = {ax_data_ptr(xt), AX_F64, 2, {9, 7}, {1, 9}};
        cr_assert_eq(ax_cpu_backend.scan(op, &ky, &ki, &kx, dim, reverse), 0);
        /* the reference on the contiguous [7, 9] original: dim 0 of xt is dim 1 of x */
        ref(op, xs, 2, (int64_t[]){7, 9}, 1 - dim, reverse, want, op == S_MAX ? want_idx : NULL);
        ax_tensor *yt = ax_contiguous(ax_transpose(y, 0, 1));
        cr_expect(tu_allclose_data(yt, want, 63, 1e-12, 1e-12), "%s reverse %d dim %d", names[op], reverse, dim);
        if (op == S_MAX) {
          ax_tensor *it = ax_contiguous(ax_transpose(idx, 0, 1));
          for (int64_t i = 0; i < 63; i++) cr_expect_eq((int64_t)tu_get(it, i), want_idx[i], "reverse %d dim %d", reverse, dim);
        }
      }
  /* bf16 through the generic path: small integers are exact */
  ax_tensor *h = ax_cast(ax_from_data((double[]){1, 2, 3, 4}, AX_SHAPE(4), F64), AX_BF16);
  cr_expect(tu_allclose_data(ax_cumsum(h, 0), (double[]){1, 3, 6, 10}, 4, 0, 0));
  cr_expect(tu_allclose_data(ax_cumprod(h, 0), (double[]){1, 2, 6, 24}, 4, 0, 0));
  ax_scope_end();
}

typedef struct { int op, dim; } gctx;
static ax_tensor *gfn(ax_tensor **in, void *vc) {
  const gctx *c = vc;
  return run(c->op, in[0], c->dim, NULL);
}

Test(scan, cummax_ties_and_nan_follow_pytorch) {
  ax_scope_begin();
  /* ties: the later index; NaN: taken at once and kept, with the first NaN's index */
  ax_tensor *x = ax_from_data((double[]){1, 3, 3, 2, NAN, 5, NAN, 7}, AX_SHAPE(8), F64);
  ax_tensor *idx = NULL;
  ax_tensor *y = ax_cummax(x, 0, &idx);
  double want[] = {1, 3, 3, 3, NAN, NAN, NAN, NAN};
  int64_t want_idx[] = {0, 1, 2, 2, 4, 4, 4, 4};
  for (int i = 0; i < 8; i++) {
    double v = tu_get(y, i);
    cr_expect(isnan(want[i]) ? isnan(v) : v == want[i], "value %d: %g", i, v);
    cr_expect_eq((int64_t)tu_get(idx, i), want_idx[i], "index %d", i);
  }
  /* -inf first, then a tie at -inf */
  y = ax_cummax(ax_from_data((double[]){-INFINITY, -INFINITY, 0}, AX_SHAPE(3), F64), -1, &idx);
  cr_expect(tu_allclose_data(y, (double[]){-INFINITY, -INFINITY, 0}, 3, 0, 0));
  cr_expect_eq((int64_t)tu_get(idx, 1), 1);
  /* the gradient goes to the index (summed where an index repeats) */
  ax_tensor *xl = tu_leaf(ax_from_data((double[]){1, 3, 2, 4}, AX_SHAPE(4), F64));
  ax_backward(ax_sum(ax_cummax(xl, 0, NULL), AX_ALL, false), NULL);
  cr_expect(tu_allclose_data(xl->grad, (double[]){1, 2, 0, 1}, 4, 0, 0));
  ax_scope_end();
}

/* d/dx_k of sum_j w_j prod_{m <= j} x_m, by its definition (the product without x_k) */
static void cumprod_grad_ref(const double *x, const double *w, int n, double *g) {
  for (int k = 0; k < n; k++) {
    g[k] = 0;
    for (int j = k; j < n; j++) {
      double p = w[j];
      for (int m = 0; m <= j; m++)
        if (m != k) p *= x[m];
      g[k] += p;
    }
  }
}

Test(scan, cumprod_gradient_is_exact_at_zeros) {
  ax_scope_begin();
  double cases[][6] = {{2, 0, 3, 0.5, 4, 1.5}, {0, 2, 3, 1, 1, 2}, {2, 3, 1, 1, 2, 0}, {0, 0, 3, 2, 1, 1},
                       {1.5, 2, 0.5, 3, 2, 1}};
  double w[6] = {0.3, -1.2, 0.7, 2.0, -0.4, 1.1}, want[6];
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    ax_scope_begin();
    ax_tensor *x = tu_leaf(ax_from_data(cases[c], AX_SHAPE(6), F64));
    ax_backward(ax_cumprod(x, 0), ax_from_data(w, AX_SHAPE(6), F64));
    cumprod_grad_ref(cases[c], w, 6, want);
    cr_expect(tu_allclose_data(x->grad, want, 6, 1e-12, 1e-12), "case %zu", c);
    ax_scope_end();
  }
  /* the same along dim 1 of a [2, 6] with zeros, by finite differences (exact for a product) */
  ax_tensor *x2 = ax_from_data((double[]){2, 0, 3, 0.5, 4, 1.5, 0, 2, 3, 0, 1, 2}, AX_SHAPE(2, 6), F64);
  ax_tensor *in[1] = {tu_leaf(x2)};
  gctx c = {S_PROD, 1};
  cr_expect(TU_GRADCHECK(gfn, in, 1, &c));
  c.dim = 0;
  cr_expect(TU_GRADCHECK(gfn, in, 1, &c));
  ax_scope_end();
}

Test(scan, gradcheck_every_scan) {
  ax_scope_begin();
  for (int op = 0; op < S_COUNT; op++)
    for (int layout = 0; layout < 2; layout++)
      for (int dim = -3; dim < 3; dim++) {
        ax_scope_begin();
        /* distinct values (cummax's max must not tie), away from 0 */
        ax_tensor *base = ax_add_scalar(ax_mul_scalar(ax_rand(AX_SHAPE(3, 4, 5), F64), 1.5), 0.5);
        ax_tensor *x = layout ? ax_permute(ax_contiguous(ax_permute(base, (int[]){2, 0, 1})), (int[]){1, 2, 0}) : base;
        ax_tensor *in[1] = {tu_leaf(x)};
        gctx c = {op, dim};
        cr_expect(TU_GRADCHECK(gfn, in, 1, &c), "%s layout %d dim %d", names[op], layout, dim);
        ax_scope_end();
      }
  /* 0-dim and one-element inputs */
  for (int op = 0; op < S_COUNT; op++) {
    ax_tensor *in[1] = {tu_leaf(ax_scalar(0.7, F64))};
    gctx c = {op, -1};
    cr_expect(TU_GRADCHECK(gfn, in, 1, &c), "0-dim %s", names[op]);
    ax_tensor *y = run(op, in[0], 0, NULL);
    cr_expect(y && y->ndim == 0 && fabs(tu_get(y, 0) - 0.7) < 1e-15, "0-dim %s value", names[op]);
  }
  ax_scope_end();
}

Test(scan, logcumsumexp_is_stable) {
  ax_scope_begin();
  ax_tensor *y = ax_logcumsumexp(ax_from_data((double[]){1000, 1000, -INFINITY, 990}, AX_SHAPE(4), F64), 0);
  double l2 = 1000 + log(2.0);
  cr_expect(tu_allclose_data(y, (double[]){1000, l2, l2, l2 + log1p(exp(990 - l2))}, 4, 1e-12, 1e-12));
  y = ax_logcumsumexp(ax_from_data((double[]){-INFINITY, -INFINITY, 0}, AX_SHAPE(3), F64), 0);
  cr_expect(tu_allclose_data(y, (double[]){-INFINITY, -INFINITY, 0}, 3, 0, 0));
  y = ax_logcumsumexp(ax_cast(ax_from_data((double[]){100, 100}, AX_SHAPE(2), F64), AX_F32), 0);
  cr_expect(tu_allclose_data(y, (double[]){100, 100 + log(2.0)}, 2, 1e-5, 1e-6));
  /* its gradient is a softmax-weighted sum: finite where exp would overflow */
  ax_tensor *x = tu_leaf(ax_from_data((double[]){800, 801, 799}, AX_SHAPE(3), F64));
  ax_backward(ax_sum(ax_logcumsumexp(x, 0), AX_ALL, false), NULL);
  double e0 = exp(-1.0), e2 = exp(-2.0), s2 = e0 + 1, s3 = e0 + 1 + e2;
  double want[] = {1 + e0 / s2 + e0 / s3, 1 / s2 + 1 / s3, e2 / s3};
  cr_expect(tu_allclose_data(x->grad, want, 3, 1e-12, 1e-12));
  ax_scope_end();
}

Test(scan, errors_name_the_op_and_shape) {
  ax_scope_begin();
  ax_tensor *x = ax_zeros(AX_SHAPE(2, 3), NULL);
  cr_expect_null(ax_cumsum(x, 2));
  cr_expect(tu_error_contains("ax_cumsum", NULL));
  cr_expect_null(ax_cumprod(x, -3));
  cr_expect(tu_error_contains("ax_cumprod", NULL));
  ax_tensor *xi = ax_zeros(AX_SHAPE(2, 3), &(ax_tensor_opts){.dtype = AX_I64});
  ax_tensor *idx = (ax_tensor *)1;
  cr_expect_null(ax_cummax(xi, 0, &idx));
  cr_expect_null(idx);
  cr_expect(tu_error_contains("ax_cummax", "i64", NULL));
  cr_expect_null(ax_logcumsumexp(xi, 0));
  cr_expect(tu_error_contains("ax_logcumsumexp", NULL));
  cr_expect_null(ax_cumsum(NULL, 0));
  /* empty dims are fine: an empty result */
  ax_tensor *e = ax_cumsum(ax_zeros(AX_SHAPE(3, 0), NULL), 1);
  cr_expect(e && e->shape[0] == 3 && e->shape[1] == 0);
  ax_scope_end();
}
