/* SPDX-License-Identifier: BSD-3-Clause */
/* ax_classifier_cross_entropy against ax_cross_entropy(ax_linear(h, W, b), target):
 * the loss and the gradients of h, W and b agree (f64, 1e-10) for several N and V,
 * every reduction, ignored rows, label smoothing, no bias, and chunks forced small
 * (AXON_CLASSIFIER_CHUNK_ROWS) so that rows span several chunks; gradient check;
 * bf16 / f16 (and under autocast) against f64; errors. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "testutil.h"

TestSuite(classifier, .init = tu_capture_errors);

#define F64 (&(ax_tensor_opts){.dtype = AX_F64})
#define I64 (&(ax_tensor_opts){.dtype = AX_I64})

/* n targets in [0, v), every third one replaced by ignore when ignore_some */
static ax_tensor *targets(int64_t n, int64_t v, bool ignore_some, int64_t ignore) {
  ax_tensor *t = ax_cast(ax_mul_scalar(ax_rand(AX_SHAPE(n), F64), (double)v - 1e-9), AX_I64);
  int64_t *p = ax_data_ptr(t);
  for (int64_t i = 0; ignore_some && i < n; i += 3) p[i] = ignore;
  return t;
}

typedef struct cmp_case {
  int64_t n, c, v;
  bool bias, ignore_some;
  ax_cross_entropy_opts o;
  const char *chunk; /* AXON_CLASSIFIER_CHUNK_ROWS, or NULL for the default */
} cmp_case;

static void compare(cmp_case k) {
  ax_scope_begin();
  if (k.chunk) setenv("AXON_CLASSIFIER_CHUNK_ROWS", k.chunk, 1);
  else unsetenv("AXON_CLASSIFIER_CHUNK_ROWS");
  int64_t ignore = k.o.has_ignore_index ? k.o.ignore_index : -100;
  ax_tensor *h0 = tu_randn(AX_F64, AX_SHAPE(k.n, k.c)), *w0 = tu_randn(AX_F64, AX_SHAPE(k.v, k.c));
  ax_tensor *b0 = tu_randn(AX_F64, AX_SHAPE(k.v)), *t = targets(k.n, k.v, k.ignore_some, ignore);
  ax_tensor *h = tu_leaf(h0), *w = tu_leaf(w0), *b = k.bias ? tu_leaf(b0) : NULL;
  ax_tensor *hr = tu_leaf(h0), *wr = tu_leaf(w0), *br = k.bias ? tu_leaf(b0) : NULL;
  ax_tensor *got = ax_classifier_cross_entropy(h, w, b, t, &k.o);
  ax_tensor *want = ax_cross_entropy(ax_linear(hr, wr, br), t, &k.o);
  cr_assert_not_null(got, "%s", ax_last_error());
  cr_assert_not_null(want);
  cr_assert(ax_same_shape(got, want));
#define WHAT "N %lld V %lld bias %d ignore %d reduction %d ls %g chunk %s"
#define ARGS (long long)k.n, (long long)k.v, k.bias, k.ignore_some, (int)k.o.reduction, k.o.label_smoothing, \
             k.chunk ? k.chunk : "default"
  cr_expect(tu_allclose(got, want, 1e-10, 1e-10), WHAT, ARGS);
  ax_tensor *g = got->ndim ? tu_randn(AX_F64, got->ndim, got->shape) : NULL;
  cr_assert_eq(ax_backward(got, g), 0);
  cr_assert_eq(ax_backward(want, g), 0);
  cr_expect(tu_allclose(h->grad, hr->grad, 1e-10, 1e-10), WHAT, ARGS);
  cr_expect(tu_allclose(w->grad, wr->grad, 1e-10, 1e-10), WHAT, ARGS);
  if (b) cr_expect(tu_allclose(b->grad, br->grad, 1e-10, 1e-10), WHAT, ARGS);
#undef ARGS
#undef WHAT
  unsetenv("AXON_CLASSIFIER_CHUNK_ROWS");
  ax_scope_end();
}

Test(classifier, matches_linear_then_cross_entropy) {
  ax_cross_entropy_opts mean = {0}, sum = {.reduction = AX_REDUCTION_SUM}, none = {.reduction = AX_REDUCTION_NONE};
  ax_cross_entropy_opts smooth = {.label_smoothing = 0.1, .has_ignore_index = true, .ignore_index = 2};
  compare((cmp_case){1, 4, 5, true, false, mean, NULL});
  compare((cmp_case){7, 6, 5, true, true, mean, NULL});
  compare((cmp_case){7, 6, 5, true, true, mean, "2"});
  compare((cmp_case){7, 3, 1000, true, false, sum, "3"});
  compare((cmp_case){300, 8, 5, false, true, none, "64"});
  compare((cmp_case){300, 5, 1000, true, true, mean, NULL});
  compare((cmp_case){300, 5, 1000, true, true, smooth, "7"});
  compare((cmp_case){1, 3, 1000, false, false, sum, "1"});
  compare((cmp_case){7, 4, 1, true, false, none, "3"}); /* one class */
}

/* every target ignored: the mean is 0/0 = NaN, as in PyTorch; gradients are zero */
Test(classifier, all_ignored) {
  ax_scope_begin();
  ax_tensor *h = tu_leaf(tu_randn(AX_F64, AX_SHAPE(3, 4))), *w = tu_leaf(tu_randn(AX_F64, AX_SHAPE(5, 4)));
  ax_tensor *t = ax_from_data((int64_t[]){-100, -100, -100}, AX_SHAPE(3), I64);
  ax_tensor *l = ax_classifier_cross_entropy(h, w, NULL, t, &(ax_cross_entropy_opts){.reduction = AX_REDUCTION_SUM});
  cr_assert_not_null(l);
  cr_expect_eq(ax_item(l), 0.0);
  cr_assert_eq(ax_backward(l, NULL), 0);
  cr_expect_eq(ax_item(ax_sum(ax_abs(w->grad), AX_ALL, false)), 0.0);
  cr_expect(isnan(ax_item(ax_classifier_cross_entropy(h, w, NULL, t, NULL))));
  ax_scope_end();
}

typedef struct gc_ctx {
  ax_tensor *t;
} gc_ctx;

static ax_tensor *cls_fn(ax_tensor **in, void *ctx) {
  return ax_classifier_cross_entropy(in[0], in[1], in[2], ((gc_ctx *)ctx)->t,
                                     &(ax_cross_entropy_opts){.reduction = AX_REDUCTION_NONE, .label_smoothing = 0.05});
}

Test(classifier, gradcheck) {
  ax_scope_begin();
  setenv("AXON_CLASSIFIER_CHUNK_ROWS", "2", 1);
  ax_tensor *in[3] = {tu_leaf(ax_transpose(tu_randn(AX_F64, AX_SHAPE(3, 5)), 0, 1)), /* non-contiguous h [5, 3] */
                      tu_leaf(tu_randn(AX_F64, AX_SHAPE(4, 3))), tu_leaf(tu_randn(AX_F64, AX_SHAPE(4)))};
  gc_ctx ctx = {ax_from_data((int64_t[]){3, 0, -100, 1, 3}, AX_SHAPE(5), I64)};
  cr_expect(TU_GRADCHECK(cls_fn, in, 3, &ctx));
  unsetenv("AXON_CLASSIFIER_CHUNK_ROWS");
  ax_scope_end();
}

Test(classifier, f32_matches_f64) {
  ax_scope_begin();
  ax_tensor *h = tu_randn(AX_F64, AX_SHAPE(50, 16)), *w = ax_mul_scalar(tu_randn(AX_F64, AX_SHAPE(300, 16)), 0.3);
  ax_tensor *t = targets(50, 300, true, -100);
  ax_tensor *h32 = tu_leaf(ax_cast(h, AX_F32)), *w32 = tu_leaf(ax_cast(w, AX_F32));
  ax_tensor *h64 = tu_leaf(ax_cast(h32, AX_F64)), *w64 = tu_leaf(ax_cast(w32, AX_F64));
  ax_tensor *l32 = ax_classifier_cross_entropy(h32, w32, NULL, t, NULL);
  ax_tensor *l64 = ax_classifier_cross_entropy(h64, w64, NULL, t, NULL);
  cr_assert_not_null(l32);
  cr_expect_eq(l32->dtype, AX_F32);
  cr_expect(fabs(ax_item(l32) - ax_item(l64)) < 1e-5 * fabs(ax_item(l64)));
  cr_assert_eq(ax_backward(l32, NULL), 0);
  cr_assert_eq(ax_backward(l64, NULL), 0);
  cr_expect(tu_allclose(ax_cast(h32->grad, AX_F64), h64->grad, 1e-6, 1e-4));
  cr_expect(tu_allclose(ax_cast(w32->grad, AX_F64), w64->grad, 1e-6, 1e-4));
  ax_scope_end();
}

Test(classifier, errors) {
  ax_scope_begin();
  ax_tensor *h = tu_randn(AX_F32, AX_SHAPE(2, 3)), *w = tu_randn(AX_F32, AX_SHAPE(5, 3));
  ax_tensor *t = ax_from_data((int64_t[]){0, 4}, AX_SHAPE(2), I64);
  const char *op = "ax_classifier_cross_entropy";
  cr_expect_null(ax_classifier_cross_entropy(h, tu_randn(AX_F32, AX_SHAPE(5, 4)), NULL, t, NULL));
  cr_expect(tu_error_contains(op, "[2, 3]", "[5, 4]", NULL), "%s", ax_last_error());
  cr_expect_null(ax_classifier_cross_entropy(h, w, tu_randn(AX_F32, AX_SHAPE(4)), t, NULL));
  cr_expect(tu_error_contains(op, "bias", "[4]", "[5, 3]", NULL), "%s", ax_last_error());
  cr_expect_null(ax_classifier_cross_entropy(h, w, NULL, ax_from_data((int64_t[]){0, 5}, AX_SHAPE(2), I64), NULL));
  cr_expect(tu_error_contains(op, "target 5", "5 classes", NULL), "%s", ax_last_error());
  cr_expect_null(ax_classifier_cross_entropy(h, w, NULL, ax_cast(t, AX_I32), NULL));
  cr_expect(tu_error_contains(op, "i64", "i32", NULL), "%s", ax_last_error());
  cr_expect_null(ax_classifier_cross_entropy(h, w, NULL, ax_from_data((int64_t[]){0}, AX_SHAPE(1), I64), NULL));
  cr_expect(tu_error_contains(op, "target [1]", "[2, 3]", NULL), "%s", ax_last_error());
  cr_expect_null(ax_classifier_cross_entropy(h, ax_cast(w, AX_F64), NULL, t, NULL));
  cr_expect(tu_error_contains(op, "f64", NULL), "%s", ax_last_error());
  cr_expect_null(ax_classifier_cross_entropy(ax_cast(h, AX_I64), ax_cast(w, AX_I64), NULL, t, NULL));
  cr_expect(tu_error_contains(op, "i64 [2, 3]", NULL), "%s", ax_last_error());
  cr_expect_null(ax_classifier_cross_entropy(h, w, NULL, t, &(ax_cross_entropy_opts){.label_smoothing = 2}));
  cr_expect(tu_error_contains(op, "label_smoothing", NULL), "%s", ax_last_error());
  cr_expect_null(ax_classifier_cross_entropy(NULL, w, NULL, t, NULL));
  ax_scope_end();
}

/* bf16 / f16: GEMMs in the 16-bit dtype with f32 accumulation, the loss in f32, and
 * gW / gb summed across chunks in f32. Compared with the f64 op on the same (rounded)
 * inputs: the loss within the rounding of the logits, gradients within a few 16-bit ulps. */
static void low_precision_case(ax_dtype dt, const char *chunk, bool autocast) {
  ax_scope_begin();
  if (chunk) setenv("AXON_CLASSIFIER_CHUNK_ROWS", chunk, 1);
  ax_tensor *t = targets(64, 40, true, -100);
  ax_tensor *h0 = ax_cast(tu_randn(AX_F64, AX_SHAPE(64, 24)), dt);
  ax_tensor *w0 = ax_cast(ax_mul_scalar(tu_randn(AX_F64, AX_SHAPE(40, 24)), 0.5), autocast ? AX_F32 : dt);
  ax_tensor *b0 = ax_cast(tu_randn(AX_F64, AX_SHAPE(40)), autocast ? AX_F32 : dt);
  ax_tensor *h = tu_leaf(h0), *w = tu_leaf(w0), *b = tu_leaf(b0);
  if (autocast) ax_autocast_begin(dt);
  ax_tensor *l = ax_classifier_cross_entropy(h, w, b, t, &(ax_cross_entropy_opts){.reduction = AX_REDUCTION_SUM});
  if (autocast) ax_autocast_end();
  cr_assert_not_null(l, "%s", ax_last_error());
  cr_expect_eq(l->dtype, AX_F32, "the loss of 16-bit logits is f32");
  /* the reference sees the inputs as the op does: h, and W, b rounded to dt */
  ax_tensor *hr = tu_leaf(ax_cast(h0, AX_F64)), *wr = tu_leaf(ax_cast(ax_cast(w0, dt), AX_F64));
  ax_tensor *br = tu_leaf(ax_cast(ax_cast(b0, dt), AX_F64));
  ax_tensor *lr = ax_classifier_cross_entropy(hr, wr, br, t, &(ax_cross_entropy_opts){.reduction = AX_REDUCTION_SUM});
  double eps = dt == AX_BF16 ? 0x1p-8 : 0x1p-11; /* half an ulp, relative */
  /* 43 rows of loss, each off by at most about |logits| eps */
  cr_expect(fabs(ax_item(l) - ax_item(lr)) < 43 * 8 * eps, "%s loss %g vs %g", ax_dtype_name(dt), ax_item(l), ax_item(lr));
  cr_assert_eq(ax_backward(l, NULL), 0, "%s", ax_last_error());
  cr_assert_eq(ax_backward(lr, NULL), 0);
  cr_expect_eq(w->grad->dtype, w->dtype);
  cr_expect_eq(h->grad->dtype, dt);
  /* gW sums 64 rows of products of ~1-sized values: a few ulps of its magnitude */
  cr_expect(tu_allclose(ax_cast(w->grad, AX_F64), wr->grad, 8 * eps * 4, 8 * eps), "%s gW (chunk %s)",
            ax_dtype_name(dt), chunk ? chunk : "default");
  cr_expect(tu_allclose(ax_cast(b->grad, AX_F64), br->grad, 8 * eps, 8 * eps), "%s gb", ax_dtype_name(dt));
  cr_expect(tu_allclose(ax_cast(h->grad, AX_F64), hr->grad, 8 * eps, 8 * eps), "%s gh", ax_dtype_name(dt));
  unsetenv("AXON_CLASSIFIER_CHUNK_ROWS");
  ax_scope_end();
}

/* gW summed over one-row chunks: W = 0 gives p = 1/4 for each of 4 classes, every
 * target is class 0, so gW[1, :] = 0.25 (h[0] + ... + h[63]) with h[0] = 1 and the
 * other rows tiny. Each tiny row adds less than half a 16-bit ulp of 0.25: summed in
 * the 16-bit dtype they would all be lost (0.25, 11% low in bf16); summed in f32 and
 * rounded once they are not. */
static void chunk_sum_case(ax_dtype dt, double tiny) {
  ax_scope_begin();
  setenv("AXON_CLASSIFIER_CHUNK_ROWS", "1", 1);
  ax_tensor_opts o = {.dtype = dt};
  ax_tensor *rows[2] = {ax_ones(AX_SHAPE(1, 3), &o), ax_full(AX_SHAPE(63, 3), tiny, &o)};
  ax_tensor *h = ax_cat(rows, 2, 0);
  ax_tensor *w = tu_leaf(ax_zeros(AX_SHAPE(4, 3), &o));
  ax_tensor *t = ax_zeros(AX_SHAPE(64), I64);
  ax_tensor *l = ax_classifier_cross_entropy(h, w, NULL, t, &(ax_cross_entropy_opts){.reduction = AX_REDUCTION_SUM});
  cr_assert_not_null(l, "%s", ax_last_error());
  cr_assert_eq(ax_backward(l, NULL), 0, "%s", ax_last_error());
  double want = 0.25 * (1 + 63 * tiny), got = ax_item(ax_narrow(ax_narrow(w->grad, 0, 1, 1), 1, 0, 1));
  double ulp = 0.25 * (dt == AX_BF16 ? 0x1p-7 : 0x1p-10); /* at 0.25; the lost sum is 16 ulps */
  cr_expect(fabs(got - want) < ulp, "%s gW[1, 0] = %g, want %g", ax_dtype_name(dt), got, want);
  unsetenv("AXON_CLASSIFIER_CHUNK_ROWS");
  ax_scope_end();
}

Test(classifier, gw_is_summed_across_chunks_in_f32) {
  chunk_sum_case(AX_BF16, 0x1p-9);
  chunk_sum_case(AX_F16, 0x1p-13);
}

Test(classifier, bf16_and_f16_one_chunk_and_many) {
  low_precision_case(AX_BF16, NULL, false);
  low_precision_case(AX_BF16, "8", false);
  low_precision_case(AX_F16, "8", false);
  low_precision_case(AX_F16, "5", false);
}

/* inside autocast, f32 weights are cast to the region's dtype as for a linear layer and
 * their gradients come back in f32 */
Test(classifier, autocast_runs_the_gemms_in_16_bits) {
  low_precision_case(AX_BF16, NULL, true);
  low_precision_case(AX_BF16, "7", true);
  low_precision_case(AX_F16, "7", true);
}
