/* SPDX-License-Identifier: BSD-3-Clause */
/* ax_batch_norm: PyTorch values (output, running statistics, gradients),
 * precision, gradient checks in training and eval modes, errors. */
#include <criterion/criterion.h>
#include <math.h>

#include "testutil.h"

#include "fixtures/norm_ref.h"

TestSuite(norm, .init = tu_capture_errors);

#define F64 (&(ax_tensor_opts){.dtype = AX_F64})

typedef double (*gen_fn)(int64_t i);
static double gen_x(int64_t i) { return 2 * sin(0.7 * i + 0.1) + 0.5; }
static double gen_w(int64_t i) { return 1 + 0.5 * sin(1.3 * i); }
static double gen_b(int64_t i) { return sin(2.1 * i + 0.3); }
static double gen_rm(int64_t i) { return 0.1 * sin(0.9 * i); }
static double gen_rv(int64_t i) { return 1 + 0.5 * sin(0.4 * i) * sin(0.4 * i); }
static double gen_g(int64_t i) { return cos(0.3 * i); }

static ax_tensor *fill(int ndim, const int64_t *shape, gen_fn f) {
  ax_tensor *t = ax_empty(ndim, shape, F64);
  double *p = ax_data_ptr(t);
  for (int64_t i = 0; i < ax_numel(t); i++) p[i] = f(i);
  return t;
}

typedef struct ref_case {
  int ndim;
  int64_t shape[4];
  bool training, use_w, use_b;
  double momentum, eps;
  const double *y, *rm, *rv, *gx, *gw, *gb;
} ref_case;

static void check_torch(ref_case k) {
  ax_scope_begin();
  int64_t c = k.shape[1];
  ax_tensor *x = tu_leaf(fill(k.ndim, k.shape, gen_x));
  ax_tensor *w = k.use_w ? tu_leaf(fill(1, &c, gen_w)) : NULL, *b = k.use_b ? tu_leaf(fill(1, &c, gen_b)) : NULL;
  ax_tensor *rm = fill(1, &c, gen_rm), *rv = fill(1, &c, gen_rv);
  ax_tensor *y = ax_batch_norm(x, rm, rv, w, b, k.training, k.momentum, k.eps);
  cr_assert_not_null(y);
  cr_assert_eq(y->ndim, k.ndim);
  cr_expect(tu_allclose_data(y, k.y, ax_numel(y), 1e-12, 1e-10));
  cr_expect(tu_allclose_data(rm, k.rm, c, 1e-12, 1e-10));
  cr_expect(tu_allclose_data(rv, k.rv, c, 1e-12, 1e-10));
  cr_expect(!rm->requires_grad && !rv->requires_grad);
  ax_tensor *g = fill(k.ndim, k.shape, gen_g);
  cr_assert_eq(ax_backward(ax_sum(ax_mul(y, g), 0, NULL, false), NULL), 0);
  cr_expect(tu_allclose_data(x->grad, k.gx, ax_numel(x), 1e-12, 1e-9));
  if (w) cr_expect(tu_allclose_data(w->grad, k.gw, c, 1e-12, 1e-10));
  if (b) cr_expect(tu_allclose_data(b->grad, k.gb, c, 1e-12, 1e-10));
  ax_scope_end();
}

Test(norm, matches_pytorch) {
  check_torch((ref_case){4, {3, 4, 5, 2}, true, true, true, 0.1, 1e-5, bn_train4_y, bn_train4_rm, bn_train4_rv,
                         bn_train4_gx, bn_train4_gw, bn_train4_gb});
  check_torch((ref_case){2, {6, 3}, true, true, false, 0.3, 1e-3, bn_train2_y, bn_train2_rm, bn_train2_rv,
                         bn_train2_gx, bn_train2_gw, NULL});
  check_torch((ref_case){3, {2, 3, 4}, false, true, true, 0.1, 1e-5, bn_eval3_y, bn_eval3_rm, bn_eval3_rv,
                         bn_eval3_gx, bn_eval3_gw, bn_eval3_gb});
}

/* Per-channel mean and biased variance of y over every dim but 1. */
static void channel_moments(ax_tensor *y, ax_tensor **mean, ax_tensor **var) {
  int dims[8], nd = 0;
  for (int d = 0; d < y->ndim; d++)
    if (d != 1) dims[nd++] = d;
  *mean = ax_mean(y, nd, dims, false);
  ax_tensor *centered = ax_sub(y, ax_mean(y, nd, dims, true));
  *var = ax_mean(ax_mul(centered, centered), nd, dims, false);
}

Test(norm, f32_large_and_offset_inputs_match_f64) {
  /* [8, 16, 16, 16] crosses the parallel threshold; the offset channel has |mean| / std = 1e4 */
  ax_scope_begin();
  ax_tensor *x64 = tu_randn(AX_F64, AX_SHAPE(8, 16, 16, 16));
  ax_tensor *shift = ax_zeros(AX_SHAPE(1, 16, 1, 1), F64);
  ((double *)ax_data_ptr(shift))[3] = 1e4;
  x64 = ax_add(x64, shift);
  ax_tensor *x32 = ax_cast(x64, AX_F32);
  ax_tensor *x32_as64 = ax_cast(x32, AX_F64); /* the f64 reference sees the same rounded values */
  ax_tensor *w = tu_uniform(AX_F64, AX_SHAPE(16), 0.5, 1.5), *b = tu_randn(AX_F64, AX_SHAPE(16));
  ax_tensor *y64 = ax_batch_norm(x32_as64, NULL, NULL, w, b, true, 0.1, 1e-5);
  ax_tensor *y32 = ax_batch_norm(x32, NULL, NULL, ax_cast(w, AX_F32), ax_cast(b, AX_F32), true, 0.1, 1e-5);
  cr_assert_not_null(y32);
  /* x * scale + shift in f32 (PyTorch's form too) rounds at x's ulp, 1e-3 near 1e4 */
  cr_expect(tu_allclose(y32, y64, 1.5e-3, 1e-4));
  /* normalized without affine: per-channel mean 0, variance 1 */
  ax_tensor *m, *v;
  channel_moments(ax_batch_norm(x64, NULL, NULL, NULL, NULL, true, 0.1, 0.0), &m, &v);
  cr_expect(tu_allclose(m, ax_zeros(AX_SHAPE(16), F64), 1e-9, 0));
  cr_expect(tu_allclose(v, ax_ones(AX_SHAPE(16), F64), 1e-9, 1e-9));
  ax_scope_end();
}

Test(norm, running_statistics_follow_pytorch_rule_and_eval_uses_them) {
  ax_scope_begin();
  ax_tensor *x = tu_randn(AX_F32, AX_SHAPE(5, 3, 4));
  ax_tensor *rm = ax_zeros(AX_SHAPE(3), NULL), *rv = ax_ones(AX_SHAPE(3), NULL);
  for (int step = 0; step < 3; step++) cr_assert_not_null(ax_batch_norm(x, rm, rv, NULL, NULL, true, 0.25, 1e-5));
  /* after k steps on the same batch: r = batch + (r0 - batch) * 0.75^k */
  ax_tensor *xm = ax_mean(x, 2, (const int[]){0, 2}, false);
  ax_tensor *xv = ax_var(x, 2, (const int[]){0, 2}, true, false); /* unbiased */
  double f = pow(0.75, 3);
  cr_expect(tu_allclose(rm, ax_mul_scalar(xm, 1 - f), 1e-5, 1e-4));
  cr_expect(tu_allclose(rv, ax_add_scalar(ax_mul_scalar(xv, 1 - f), f), 1e-5, 1e-4));
  /* eval: (x - rm) / sqrt(rv + eps), buffers unchanged */
  ax_tensor *rm0 = ax_clone(rm), *rv0 = ax_clone(rv);
  ax_tensor *y = ax_batch_norm(x, rm, rv, NULL, NULL, false, 0.25, 1e-5);
  ax_tensor *ref = ax_mul(ax_sub(x, ax_reshape(rm, AX_SHAPE(1, 3, 1))),
                          ax_reshape(ax_rsqrt(ax_add_scalar(rv, 1e-5)), AX_SHAPE(1, 3, 1)));
  cr_expect(tu_allclose(y, ref, 1e-6, 1e-5));
  cr_expect(tu_allclose(rm, rm0, 0, 0) && tu_allclose(rv, rv0, 0, 0));
  /* eval without running statistics normalizes with the batch's */
  cr_expect(tu_allclose(ax_batch_norm(x, NULL, NULL, NULL, NULL, false, 0.1, 1e-5),
                        ax_batch_norm(x, NULL, NULL, NULL, NULL, true, 0.1, 1e-5), 0, 0));
  ax_scope_end();
}

Test(norm, half_precision_matches_f32) {
  ax_scope_begin();
  ax_tensor *x = ax_cast(tu_randn(AX_F32, AX_SHAPE(4, 3, 5, 5)), AX_BF16);
  ax_tensor *y = ax_batch_norm(x, NULL, NULL, NULL, NULL, true, 0.1, 1e-5);
  cr_assert_not_null(y);
  cr_expect(tu_allclose(ax_cast(y, AX_F32), ax_batch_norm(ax_cast(x, AX_F32), NULL, NULL, NULL, NULL, true, 0.1, 1e-5),
                        2e-2, 2e-2));
  ax_scope_end();
}

/* ---- gradient checks (f64) ---- */
typedef struct gc_ctx {
  bool training, use_w, use_b;
  ax_tensor *rm, *rv;
} gc_ctx;

static ax_tensor *bn_fn(ax_tensor **in, void *ctx) {
  gc_ctx *c = ctx;
  return ax_batch_norm(in[0], c->rm, c->rv, c->use_w ? in[1] : NULL, c->use_b ? in[2] : NULL, c->training, 0.1, 1e-5);
}

static void gradcheck(ax_tensor *x, bool training, bool use_w, bool use_b) {
  int64_t c = x->shape[1];
  ax_tensor *in[3] = {x, tu_leaf(tu_uniform(AX_F64, 1, &c, 0.5, 1.5)), tu_leaf(tu_randn(AX_F64, 1, &c))};
  gc_ctx ctx = {training, use_w, use_b, tu_randn(AX_F64, 1, &c), tu_uniform(AX_F64, 1, &c, 0.5, 2.0)};
  if (!use_w) ax_set_requires_grad(in[1], false);
  if (!use_b) ax_set_requires_grad(in[2], false);
  cr_expect(TU_GRADCHECK(bn_fn, in, 3, &ctx), "x %dd [.., %lld, ..] training %d weight %d bias %d", x->ndim,
            (long long)c, training, use_w, use_b);
}

static ax_tensor *leaf(int ndim, const int64_t *shape) { return tu_leaf(tu_randn(AX_F64, ndim, shape)); }

Test(norm, gradcheck_training) {
  ax_scope_begin();
  gradcheck(leaf(AX_SHAPE(4, 3)), true, true, true);
  gradcheck(leaf(AX_SHAPE(3, 2, 4, 3)), true, true, true);
  gradcheck(leaf(AX_SHAPE(2, 3, 5)), true, false, false);
  gradcheck(leaf(AX_SHAPE(2, 1)), true, true, false); /* two values per channel */
  gradcheck(tu_leaf(ax_transpose(tu_randn(AX_F64, AX_SHAPE(2, 4, 3, 3)), 1, 3)), true, true, true); /* strided */
  ax_scope_end();
}

Test(norm, gradcheck_eval) {
  ax_scope_begin();
  gradcheck(leaf(AX_SHAPE(4, 3)), false, true, true);
  gradcheck(leaf(AX_SHAPE(2, 2, 3, 3)), false, true, true);
  gradcheck(leaf(AX_SHAPE(1, 3, 2)), false, false, true); /* one sample: fine in eval */
  gradcheck(tu_leaf(ax_transpose(tu_randn(AX_F64, AX_SHAPE(3, 2, 4)), 0, 2)), false, true, false);
  ax_scope_end();
}

/* ---- errors ---- */
Test(norm, errors_name_the_op_and_shapes) {
  ax_scope_begin();
  ax_tensor *x = tu_randn(AX_F32, AX_SHAPE(4, 3, 5)), *c3 = ax_ones(AX_SHAPE(3), NULL);
  cr_expect_null(ax_batch_norm(NULL, NULL, NULL, NULL, NULL, true, 0.1, 1e-5));
  cr_expect_null(ax_batch_norm(x, NULL, NULL, ax_ones(AX_SHAPE(4), NULL), NULL, true, 0.1, 1e-5));
  cr_expect(tu_error_contains("ax_batch_norm", "weight", "[4]", "[4, 3, 5]", NULL));
  cr_expect_null(ax_batch_norm(x, ax_zeros(AX_SHAPE(3, 1), NULL), c3, NULL, NULL, true, 0.1, 1e-5));
  cr_expect(tu_error_contains("ax_batch_norm", "running_mean", "[3, 1]", "[4, 3, 5]", NULL));
  cr_expect_null(ax_batch_norm(x, c3, NULL, NULL, NULL, true, 0.1, 1e-5));
  cr_expect(tu_error_contains("ax_batch_norm", "running_var", "[4, 3, 5]", NULL));
  cr_expect_null(ax_batch_norm(tu_randn(AX_F32, AX_SHAPE(7)), NULL, NULL, NULL, NULL, true, 0.1, 1e-5));
  cr_expect(tu_error_contains("ax_batch_norm", "[7]", NULL));
  cr_expect_null(ax_batch_norm(ax_cast(x, AX_I32), NULL, NULL, NULL, NULL, true, 0.1, 1e-5));
  cr_expect(tu_error_contains("ax_batch_norm", "i32", "[4, 3, 5]", NULL));
  cr_expect_null(ax_batch_norm(x, NULL, NULL, NULL, ax_zeros(AX_SHAPE(3), F64), true, 0.1, 1e-5));
  cr_expect(tu_error_contains("ax_batch_norm", "[4, 3, 5]", "[3]", NULL));
  cr_expect_null(ax_batch_norm(tu_randn(AX_F32, AX_SHAPE(1, 3)), NULL, NULL, NULL, NULL, true, 0.1, 1e-5));
  cr_expect(tu_error_contains("ax_batch_norm", "more than 1 value", "[1, 3]", NULL));
  cr_expect_null(ax_batch_norm(x, NULL, NULL, NULL, NULL, true, 0.1, -1.0));
  cr_expect(tu_error_contains("ax_batch_norm", "eps", "[4, 3, 5]", NULL));
  ax_scope_end();
}
