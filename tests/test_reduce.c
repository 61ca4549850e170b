/* SPDX-License-Identifier: BSD-3-Clause */
/* Reductions: every layout path of the reduce kernel against a plain loop,
 * accuracy and determinism of big sums, NaN and ties, known answers for
 * mean/var/std/logsumexp/norm/max/argmax, gradient checks, errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "testutil.h"

TestSuite(reduce, .init = tu_capture_errors);

#define F64 (&(ax_tensor_opts){.dtype = AX_F64})

enum { R_SUM, R_MAX, R_MIN };

/* The reduction of x (any layout) over the dims in mask, by a plain loop in double; out holds ax_numel(result) values. */
static void reference(ax_tensor *x, unsigned mask, int op, double *out) {
  ax_tensor *c = ax_contiguous(ax_cast(x, AX_F64));
  const double *v = ax_data_ptr(c);
  int64_t nout = 1, oshape[AX_MAX_DIMS];
  for (int d = 0; d < x->ndim; d++) {
    oshape[d] = (mask >> d & 1) ? 1 : x->shape[d];
    nout *= oshape[d];
  }
  for (int64_t o = 0; o < nout; o++) out[o] = op == R_SUM ? 0 : op == R_MAX ? -INFINITY : INFINITY;
  int64_t n = ax_numel(x);
  for (int64_t i = 0; i < n; i++) {
    int64_t rem = i, o = 0, mul = 1;
    for (int d = x->ndim - 1; d >= 0; d--) {
      int64_t q = rem % x->shape[d];
      rem /= x->shape[d];
      if (!(mask >> d & 1)) o += q * mul;
      mul *= oshape[d];
    }
    if (op == R_SUM) out[o] += v[i];
    else if (op == R_MAX) out[o] = fmax(out[o], v[i]);
    else out[o] = fmin(out[o], v[i]);
  }
}

static ax_tensor *run_op(int op, ax_tensor *x, int nd, const int *dims, bool keep) {
  return op == R_SUM ? ax_sum(x, nd, dims, keep) : op == R_MAX ? ax_amax(x, nd, dims, keep) : ax_amin(x, nd, dims, keep);
}

/* Every subset of dims of x, for every op and both keepdims, against the reference. */
static void check_all_subsets(ax_tensor *x, double tol) {
  static double expect[1 << 20];
  for (unsigned mask = 0; mask < (1u << x->ndim); mask++) {
    int dims[AX_MAX_DIMS], nd = 0;
    for (int d = 0; d < x->ndim; d++)
      if (mask >> d & 1) dims[nd++] = d - ((d & 1) ? x->ndim : 0); /* some negative */
    for (int op = 0; op < 3; op++)
      for (int keep = 0; keep < 2; keep++) {
        if (nd == 0 && mask == 0 && x->ndim > 0) continue; /* nd = 0 means all dims */
        ax_tensor *y = run_op(op, x, nd, dims, keep);
        cr_assert_not_null(y);
        cr_expect_eq(y->ndim, keep ? x->ndim : x->ndim - nd, "ndim");
        cr_expect_eq(y->dtype, x->dtype);
        reference(x, mask, op, expect);
        cr_expect(tu_allclose_data(y, expect, ax_numel(y), tol, tol), "shape %s mask %u op %d keep %d",
                  ax_shape_str(x, (char[64]){0}, 64), mask, op, keep);
      }
  }
}

Test(reduce, every_dim_subset_matches_a_loop) {
  ax_scope_begin();
  ax_dtype dts[2] = {AX_F32, AX_F64};
  for (int t = 0; t < 2; t++) {
    double tol = dts[t] == AX_F32 ? 1e-5 : 1e-12;
    check_all_subsets(tu_randn(dts[t], AX_SHAPE(4, 5, 6)), tol);
    check_all_subsets(ax_permute(tu_randn(dts[t], AX_SHAPE(4, 5, 6)), (int[]){2, 0, 1}), tol);
    check_all_subsets(ax_slice(tu_randn(dts[t], AX_SHAPE(7, 9)), 1, 1, 9, 3), tol);
    check_all_subsets(ax_transpose(tu_randn(dts[t], AX_SHAPE(33, 300)), 0, 1), tol);
    check_all_subsets(tu_randn(dts[t], AX_SHAPE(3, 1, 2, 1, 5)), tol);
    check_all_subsets(ax_expand(tu_randn(dts[t], AX_SHAPE(1, 7)), AX_SHAPE(6, 7)), tol);
  }
  ax_scope_end();
}

Test(reduce, large_layouts_use_every_parallel_path) {
  ax_scope_begin();
  /* long rows with few outputs, many short rows, tall columns (split into chunks), wide columns */
  check_all_subsets(tu_randn(AX_F32, AX_SHAPE(2, 70001)), 1e-5);
  check_all_subsets(tu_randn(AX_F32, AX_SHAPE(5000, 13)), 1e-5);
  check_all_subsets(tu_randn(AX_F64, AX_SHAPE(70001, 3)), 1e-12);
  check_all_subsets(tu_randn(AX_F32, AX_SHAPE(3, 600, 301)), 1e-5);
  check_all_subsets(ax_transpose(tu_randn(AX_F32, AX_SHAPE(300, 700)), 0, 1), 1e-5);
  ax_scope_end();
}

Test(reduce, scalars_and_empty_tensors) {
  ax_scope_begin();
  ax_tensor *s = ax_scalar(3.5, F64);
  cr_expect_float_eq(ax_item(ax_sum(s, AX_ALL, false)), 3.5, 0);
  cr_expect_float_eq(ax_item(ax_sum(s, AX_DIMS(0), true)), 3.5, 0);
  cr_expect_float_eq(ax_item(ax_amax(s, AX_DIMS(-1), false)), 3.5, 0);
  cr_expect_eq(ax_sum(s, AX_ALL, false)->ndim, 0);
  ax_tensor *e = ax_zeros(AX_SHAPE(0, 3), F64);
  ax_tensor *se = ax_sum(e, AX_DIMS(0), false);
  cr_expect(tu_allclose_data(se, (double[]){0, 0, 0}, 3, 0, 0));
  cr_expect_eq(ax_numel(ax_sum(e, AX_DIMS(1), false)), 0);
  cr_expect(isnan(ax_item(ax_mean(e, AX_ALL, false))));
  cr_expect_null(ax_amax(e, AX_DIMS(0), false));
  cr_expect(tu_error_contains("ax_amax", "[0, 3]", NULL));
  ax_scope_end();
}

Test(reduce, integer_sums_widen_to_i64) {
  ax_scope_begin();
  ax_tensor *x = ax_from_data((int32_t[]){1, 2, 3, 2000000000, 2000000000, 6}, AX_SHAPE(2, 3), &(ax_tensor_opts){.dtype = AX_I32});
  ax_tensor *s = ax_sum(x, AX_DIMS(1), false);
  cr_expect_eq(s->dtype, AX_I64);
  int64_t got[2];
  ax_to_data(s, got, sizeof got);
  cr_expect_eq(got[0], 6);
  cr_expect_eq(got[1], 4000000006LL);
  ax_tensor *m = ax_amax(x, AX_DIMS(0), false);
  cr_expect_eq(m->dtype, AX_I32);
  cr_expect(tu_allclose_data(m, (double[]){2000000000, 2000000000, 6}, 3, 0, 0));
  ax_tensor *b = ax_gt_scalar(ax_from_data((float[]){1, -1, 2, 0.5f}, AX_SHAPE(4), NULL), 0.7);
  cr_expect_float_eq(ax_item(ax_sum(b, AX_ALL, false)), 2.0, 0);
  ax_scope_end();
}

/* 16M f32 values: sum accurate to ~1e-6 relative, the same bits twice and with 1 or 2 threads. */
Test(reduce, big_sum_is_accurate_and_deterministic) {
  ax_scope_begin();
  int64_t n = (int64_t)1 << 24;
  ax_tensor *x = ax_add_scalar(ax_rand(AX_SHAPE(n), NULL), 0.25);
  const float *v = ax_data_ptr(x);
  double ref = 0;
  for (int64_t i = 0; i < n; i++) ref += v[i];
  float a = (float)ax_item(ax_sum(x, AX_ALL, false));
  float b = (float)ax_item(ax_sum(x, AX_ALL, false));
  int threads = ax_num_threads();
  ax_set_num_threads(1);
  float c = (float)ax_item(ax_sum(x, AX_ALL, false));
  ax_tensor *rows1 = ax_sum(ax_reshape(x, AX_SHAPE(64, n / 64)), AX_DIMS(1), false);
  ax_tensor *cols1 = ax_sum(ax_reshape(x, AX_SHAPE(n / 64, 64)), AX_DIMS(0), false);
  ax_set_num_threads(threads > 1 ? threads : 2);
  ax_tensor *rows2 = ax_sum(ax_reshape(x, AX_SHAPE(64, n / 64)), AX_DIMS(1), false);
  ax_tensor *cols2 = ax_sum(ax_reshape(x, AX_SHAPE(n / 64, 64)), AX_DIMS(0), false);
  ax_set_num_threads(threads);
  cr_expect(fabs(a - ref) <= 1e-6 * fabs(ref), "sum %.9g, reference %.9g", a, ref);
  cr_expect(memcmp(&a, &b, sizeof a) == 0 && memcmp(&a, &c, sizeof a) == 0, "%.9g %.9g %.9g", a, b, c);
  cr_expect(memcmp(ax_data_ptr(rows1), ax_data_ptr(rows2), 64 * sizeof(float)) == 0);
  cr_expect(memcmp(ax_data_ptr(cols1), ax_data_ptr(cols2), 64 * sizeof(float)) == 0);
  ax_scope_end();
}

Test(reduce, nan_propagates_through_max_and_min) {
  ax_scope_begin();
  ax_tensor *x = ax_from_data((float[]){1, NAN, 3, 4, 5, 6}, AX_SHAPE(2, 3), NULL);
  ax_tensor *m = ax_amax(x, AX_DIMS(1), false);
  cr_expect(isnan(tu_get(m, 0)));
  cr_expect_float_eq(tu_get(m, 1), 6, 0);
  cr_expect(isnan(tu_get(ax_amin(x, AX_ALL, false), 0)));
  ax_tensor *idx;
  ax_tensor *v = ax_max(x, 1, false, &idx);
  cr_expect(isnan(tu_get(v, 0)));
  cr_expect_eq((int64_t)tu_get(idx, 0), 1);
  cr_expect_eq((int64_t)tu_get(ax_argmin(x, 1, false), 0), 1);
  ax_scope_end();
}

Test(reduce, max_min_argmax_known_answers_and_first_tie) {
  ax_scope_begin();
  ax_tensor *x = ax_from_data((double[]){3, 7, 7, 1, 2, 2, 0, 9, 9}, AX_SHAPE(3, 3), F64);
  ax_tensor *idx = NULL;
  ax_tensor *v = ax_max(x, 1, false, &idx);
  cr_expect(tu_allclose_data(v, (double[]){7, 2, 9}, 3, 0, 0));
  cr_expect(tu_allclose_data(idx, (double[]){1, 1, 1}, 3, 0, 0));
  cr_expect_eq(idx->dtype, AX_I64);
  v = ax_min(x, 0, true, &idx);
  cr_expect_eq(v->ndim, 2);
  cr_expect_eq(v->shape[0], 1);
  cr_expect(tu_allclose_data(v, (double[]){0, 2, 2}, 3, 0, 0));
  cr_expect(tu_allclose_data(idx, (double[]){2, 1, 1}, 3, 0, 0));
  cr_expect(tu_allclose_data(ax_argmax(x, -1, false), (double[]){1, 1, 1}, 3, 0, 0));
  cr_expect(tu_allclose_data(ax_argmin(ax_transpose(x, 0, 1), 1, false), (double[]){2, 1, 1}, 3, 0, 0));
  cr_expect_eq(ax_argmax(x, 0, true)->ndim, 2);
  /* integer input, and a 0-dim one */
  ax_tensor *xi = ax_from_data((int64_t[]){5, -2, 8, 8}, AX_SHAPE(4), &(ax_tensor_opts){.dtype = AX_I64});
  cr_expect_eq((int64_t)ax_item(ax_argmax(xi, 0, false)), 2);
  cr_expect_eq((int64_t)ax_item(ax_argmin(xi, 0, false)), 1);
  cr_expect_eq((int64_t)ax_item(ax_argmax(ax_scalar(4, NULL), 0, false)), 0);
  cr_expect_float_eq(ax_item(ax_max(ax_scalar(4, NULL), 0, false, NULL)), 4, 0);
  ax_scope_end();
}

Test(reduce, mean_var_std_logsumexp_norm_known_answers) {
  ax_scope_begin();
  /* rows {1,2,3,4} and {2,4,6,8}; values checked with Python */
  ax_tensor *x = ax_from_data((double[]){1, 2, 3, 4, 2, 4, 6, 8}, AX_SHAPE(2, 4), F64);
  cr_expect(tu_allclose_data(ax_mean(x, AX_DIMS(1), false), (double[]){2.5, 5}, 2, 1e-15, 1e-15));
  cr_expect(tu_allclose_data(ax_mean(x, AX_DIMS(0), true), (double[]){1.5, 3, 4.5, 6}, 4, 1e-15, 1e-15));
  cr_expect(tu_allclose_data(ax_var(x, AX_DIMS(1), true, false), (double[]){5.0 / 3, 20.0 / 3}, 2, 1e-14, 1e-14));
  cr_expect(tu_allclose_data(ax_var(x, AX_DIMS(1), false, false), (double[]){1.25, 5}, 2, 1e-14, 1e-14));
  cr_expect_float_eq(ax_item(ax_var(x, AX_ALL, true, false)), 37.5 / 7, 1e-14); /* mean 3.75, squares sum to 37.5 */
  cr_expect(tu_allclose_data(ax_std(x, AX_DIMS(1), true, false), (double[]){1.2909944487358056, 2.581988897471611}, 2,
                             1e-14, 1e-14));
  cr_expect(tu_allclose_data(ax_logsumexp(x, AX_DIMS(1), false), (double[]){4.440189698561196, 8.145077938960782}, 2,
                             1e-13, 1e-13));
  cr_expect(tu_allclose_data(ax_norm(x, 2, AX_DIMS(1), false), (double[]){5.477225575051661, 10.954451150103322}, 2,
                             1e-14, 1e-14));
  cr_expect(tu_allclose_data(ax_norm(x, 1, AX_DIMS(1), false), (double[]){10, 20}, 2, 1e-14, 1e-14));
  cr_expect(tu_allclose_data(ax_norm(ax_neg(x), INFINITY, AX_DIMS(1), false), (double[]){4, 8}, 2, 0, 0));
  cr_expect(tu_allclose_data(ax_norm(x, 3, AX_DIMS(1), false), (double[]){4.641588833612778, 9.283177667225557}, 2,
                             1e-13, 1e-13));
  cr_expect_float_eq(ax_item(ax_norm(x, 2, AX_ALL, false)), sqrt(150.0), 1e-13);
  /* stability: huge and -inf entries */
  ax_tensor *big = ax_from_data((double[]){1000, 1000, -INFINITY, -INFINITY}, AX_SHAPE(2, 2), F64);
  ax_tensor *lse = ax_logsumexp(big, AX_DIMS(1), true);
  cr_expect_eq(lse->ndim, 2);
  cr_expect_float_eq(tu_get(lse, 0), 1000 + log(2.0), 1e-12);
  cr_expect(isinf(tu_get(lse, 1)) && tu_get(lse, 1) < 0);
  /* var of values with a large offset: the two-pass form keeps it exact */
  ax_tensor *off = ax_add_scalar(ax_from_data((float[]){1, 2, 3, 4}, AX_SHAPE(4), NULL), 1e4);
  cr_expect_float_eq(ax_item(ax_var(off, AX_ALL, true, false)), 5.0 / 3, 1e-6);
  ax_scope_end();
}

/* ---------------- gradient checks ---------------- */

typedef struct {
  int which, nd;
  int dims[AX_MAX_DIMS];
  bool keep;
  double p;
} rctx;

enum { G_SUM, G_MEAN, G_AMAX, G_AMIN, G_MAX, G_MIN, G_VAR, G_VAR_BIASED, G_STD, G_LSE, G_NORM, G_COUNT };

static ax_tensor *rfn(ax_tensor **in, void *vc) {
  rctx *c = vc;
  ax_tensor *x = in[0];
  switch (c->which) {
    case G_SUM: return ax_sum(x, c->nd, c->dims, c->keep);
    case G_MEAN: return ax_mean(x, c->nd, c->dims, c->keep);
    case G_AMAX: return ax_amax(x, c->nd, c->dims, c->keep);
    case G_AMIN: return ax_amin(x, c->nd, c->dims, c->keep);
    case G_MAX: return ax_max(x, c->dims[0], c->keep, NULL);
    case G_MIN: return ax_min(x, c->dims[0], c->keep, NULL);
    case G_VAR: return ax_var(x, c->nd, c->dims, true, c->keep);
    case G_VAR_BIASED: return ax_var(x, c->nd, c->dims, false, c->keep);
    case G_STD: return ax_std(x, c->nd, c->dims, true, c->keep);
    case G_LSE: return ax_logsumexp(x, c->nd, c->dims, c->keep);
    default: return ax_norm(x, c->p, c->nd, c->dims, c->keep);
  }
}

/* n distinct values of both signs, |x| in [0.01, 3): max/min have no ties and |x| no kinks. */
static ax_tensor *distinct_values(int64_t n) {
  ax_tensor *mag = ax_add(ax_arange(0, (double)n, 1, F64), ax_add_scalar(ax_mul_scalar(ax_rand(AX_SHAPE(n), F64), 0.5), 0.2));
  ax_tensor *sign = ax_sub_scalar(ax_mul_scalar(ax_cast(ax_gt_scalar(ax_rand(AX_SHAPE(n), F64), 0.5), AX_F64), 2), 1);
  return ax_mul_scalar(ax_mul(mag, sign), 0.05);
}

Test(reduce, gradcheck_every_reduction) {
  ax_scope_begin();
  /* dim sets for a 3-D [3, 4, 5] input */
  struct { int nd; int dims[3]; } sets[] = {{0, {0}}, {1, {1}}, {1, {-1}}, {2, {0, 2}}, {3, {0, 1, 2}}};
  for (int which = 0; which < G_COUNT; which++) {
    double ps[] = {2, 1, 3, 0.5, INFINITY};
    int np = which == G_NORM ? 5 : 1;
    for (int pi = 0; pi < np; pi++)
      for (int s = 0; s < 5; s++)
        for (int keep = 0; keep < 2; keep++)
          for (int layout = 0; layout < 2; layout++) {
            if ((which == G_MAX || which == G_MIN) && sets[s].nd != 1) continue;
            ax_scope_begin();
            /* distinct values away from 0: max ties and |x| kinks are not differentiable */
            ax_tensor *base = distinct_values(60);
            ax_tensor *x = layout ? ax_permute(ax_reshape(base, AX_SHAPE(5, 3, 4)), (int[]){1, 2, 0})
                                  : ax_reshape(base, AX_SHAPE(3, 4, 5));
            rctx c = {which, sets[s].nd, {0}, keep, ps[pi]};
            memcpy(c.dims, sets[s].dims, sizeof sets[s].dims);
            ax_tensor *in[1] = {tu_leaf(x)};
            cr_expect(TU_GRADCHECK(rfn, in, 1, &c), "op %d p %g set %d keep %d layout %d", which, ps[pi], s, keep,
                      layout);
            ax_scope_end();
          }
  }
  ax_scope_end();
}

Test(reduce, amax_gradient_is_shared_among_ties) {
  ax_scope_begin();
  ax_tensor *x = tu_leaf(ax_from_data((double[]){1, 3, 3, 2, 5, 0}, AX_SHAPE(2, 3), F64));
  ax_backward(ax_sum(ax_amax(x, AX_DIMS(1), false), AX_ALL, false), NULL);
  cr_expect(tu_allclose_data(x->grad, (double[]){0, 0.5, 0.5, 0, 1, 0}, 6, 0, 0));
  ax_zero_grad(x);
  ax_backward(ax_amin(x, AX_ALL, false), NULL);
  cr_expect(tu_allclose_data(x->grad, (double[]){0, 0, 0, 0, 0, 1}, 6, 0, 0));
  /* max along a dim: the whole gradient to the (first) index */
  ax_zero_grad(x);
  ax_backward(ax_sum(ax_max(x, 1, true, NULL), AX_ALL, false), NULL);
  cr_expect(tu_allclose_data(x->grad, (double[]){0, 1, 0, 0, 1, 0}, 6, 0, 0));
  /* norm at zero: gradient 0, not NaN */
  ax_tensor *z = tu_leaf(ax_zeros(AX_SHAPE(3), F64));
  ax_backward(ax_norm(z, 2, AX_ALL, false), NULL);
  cr_expect(tu_allclose_data(z->grad, (double[]){0, 0, 0}, 3, 0, 0));
  ax_scope_end();
}

Test(reduce, gradcheck_scalar_and_one_element) {
  ax_scope_begin();
  for (int which = 0; which < G_COUNT; which++) {
    if (which == G_VAR || which == G_STD) continue; /* unbiased over one element divides by 0 */
    ax_tensor *in[1] = {tu_leaf(ax_scalar(0.7, F64))};
    rctx c = {which, 0, {0}, false, 3};
    cr_expect(TU_GRADCHECK(rfn, in, 1, &c), "0-dim op %d", which);
    ax_tensor *in1[1] = {tu_leaf(ax_full(AX_SHAPE(1, 1), 0.7, F64))};
    rctx c1 = {which, 1, {1}, true, 3};
    cr_expect(TU_GRADCHECK(rfn, in1, 1, &c1), "[1, 1] op %d", which);
  }
  ax_scope_end();
}

/* ---------------- errors ---------------- */

Test(reduce, errors_name_the_op_and_shape) {
  ax_scope_begin();
  ax_tensor *x = ax_zeros(AX_SHAPE(2, 3), NULL);
  cr_expect_null(ax_sum(x, AX_DIMS(2), false));
  cr_expect(tu_error_contains("ax_sum", "2", NULL));
  cr_expect_null(ax_mean(x, AX_DIMS(-3), false));
  cr_expect(tu_error_contains("ax_mean", NULL));
  cr_expect_null(ax_amax(x, AX_DIMS(1, -1), false));
  cr_expect(tu_error_contains("ax_amax", "more than once", "[2, 3]", NULL));
  cr_expect_null(ax_var(x, AX_DIMS(0, 0), true, false));
  cr_expect(tu_error_contains("ax_var", "more than once", NULL));
  cr_expect_null(ax_max(x, 5, false, NULL));
  cr_expect(tu_error_contains("ax_max", NULL));
  cr_expect_null(ax_argmin(x, -3, false));
  cr_expect(tu_error_contains("ax_argmin", NULL));
  cr_expect_null(ax_norm(x, 0, AX_ALL, false));
  cr_expect(tu_error_contains("ax_norm", "p must be", NULL));
  cr_expect_null(ax_norm(x, -1, AX_ALL, false));
  ax_tensor *xi = ax_zeros(AX_SHAPE(2, 3), &(ax_tensor_opts){.dtype = AX_I64});
  cr_expect_null(ax_mean(xi, AX_ALL, false));
  cr_expect(tu_error_contains("ax_mean", "i64", NULL));
  cr_expect_null(ax_logsumexp(xi, AX_ALL, false));
  cr_expect(tu_error_contains("ax_logsumexp", NULL));
  cr_expect_null(ax_max(ax_zeros(AX_SHAPE(3, 0), NULL), 1, false, NULL));
  cr_expect(tu_error_contains("ax_max", "[3, 0]", NULL));
  cr_expect_null(ax_sum(NULL, AX_ALL, false));
  ax_scope_end();
}

Test(reduce, half_precision_through_the_generic_path) {
  ax_scope_begin();
  ax_tensor *x = tu_randn(AX_F32, AX_SHAPE(6, 7));
  ax_dtype dts[2] = {AX_BF16, AX_F16};
  for (int t = 0; t < 2; t++) {
    ax_tensor *h = ax_cast(x, dts[t]), *back = ax_cast(h, AX_F32);
    cr_expect(tu_allclose(ax_sum(h, AX_DIMS(1), false), ax_sum(back, AX_DIMS(1), false), 2e-2, 1e-2));
    cr_expect(tu_allclose(ax_amax(h, AX_DIMS(0), false), ax_amax(back, AX_DIMS(0), false), 0, 0));
    cr_expect(tu_allclose(ax_argmin(h, 1, false), ax_argmin(back, 1, false), 0, 0));
  }
  ax_scope_end();
}

/* Called with no scope open, the composite reductions leave nothing behind but their results. */
Test(reduce, no_leaks_outside_any_scope) {
  size_t tensors = ax_memory_stats_get(AX_CPU).live_tensors, bytes = ax_memory_stats_get(AX_CPU).live_bytes;
  ax_tensor *x = ax_randn(AX_SHAPE(3, 4), F64);
  ax_set_requires_grad(x, true);
  ax_tensor *idx = NULL, *idx2 = NULL;
  ax_tensor *results[] = {
      ax_sum(x, AX_DIMS(0), false), ax_mean(x, AX_ALL, false), ax_amax(x, AX_DIMS(1), true),
      ax_max(x, 1, false, &idx), ax_min(x, 0, true, &idx2), ax_argmax(x, 1, false),
      ax_var(x, AX_DIMS(1), true, false), ax_std(x, AX_ALL, false, false), ax_logsumexp(x, AX_DIMS(0), false),
      ax_norm(x, 3, AX_DIMS(1), false), idx, idx2,
  };
  for (size_t i = 0; i < sizeof results / sizeof results[0]; i++) {
    cr_expect_not_null(results[i], "result %zu", i);
    ax_free(results[i]);
  }
  ax_free(x);
  cr_expect_eq(ax_memory_stats_get(AX_CPU).live_tensors, tensors);
  cr_expect_eq(ax_memory_stats_get(AX_CPU).live_bytes, bytes);
}
