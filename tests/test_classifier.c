/* ax_classifier_cross_entropy against ax_cross_entropy(ax_linear(h, W, b), target):
 * the loss and the gradients of h, W and b agree (f64, 1e-10) for several N and V,
 * every reduction, ignored rows, label smoothing, no bias, and chunks forced small
 * (AXON_CLASSIFIER_CHUNK_ROWS) so that rows span several chunks; gradient check;
 * errors. */
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

/* inside autocast, bf16 h meets f32 weights in f32 (like cross_entropy) */
Test(classifier, autocast_runs_in_f32) {
  ax_scope_begin();
  ax_tensor *h = tu_leaf(tu_randn(AX_BF16, AX_SHAPE(6, 8))), *w = tu_leaf(tu_randn(AX_F32, AX_SHAPE(11, 8)));
  ax_tensor *t = ax_from_data((int64_t[]){0, 10, 3, -100, 7, 7}, AX_SHAPE(6), I64);
  ax_autocast_begin(AX_BF16);
  ax_tensor *l = ax_classifier_cross_entropy(h, w, NULL, t, NULL);
  ax_autocast_end();
  cr_assert_not_null(l, "%s", ax_last_error());
  cr_expect_eq(l->dtype, AX_F32);
  ax_tensor *want = ax_cross_entropy(ax_linear(ax_cast(h, AX_F32), w, NULL), t, NULL);
  cr_expect(fabs(ax_item(l) - ax_item(want)) < 1e-5);
  cr_assert_eq(ax_backward(l, NULL), 0);
  cr_expect(h->grad && h->grad->dtype == AX_BF16 && w->grad && w->grad->dtype == AX_F32);
  ax_scope_end();
}
