/* SPDX-License-Identifier: BSD-3-Clause */
/* ax_matmul (every torch.matmul case) and ax_linear. */
#include <criterion/criterion.h>
#include <math.h>

#include "testutil.h"

TestSuite(matmul, .init = tu_capture_errors);

#define F64 (&(ax_tensor_opts){.dtype = AX_F64})

/* C[i][j] = sum_p A[i][p] B[p][j] on plain arrays of a contiguous f64 copy. */
static ax_tensor *reference_mm(ax_tensor *a, ax_tensor *b) {
  ax_tensor *ac = ax_contiguous(ax_cast(a, AX_F64)), *bc = ax_contiguous(ax_cast(b, AX_F64));
  int64_t m = a->shape[0], k = a->shape[1], n = b->shape[1];
  ax_tensor *c = ax_zeros(AX_SHAPE(m, n), F64);
  const double *pa = ax_data_ptr(ac), *pb = ax_data_ptr(bc);
  double *pc = ax_data_ptr(c);
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0;
      for (int64_t p = 0; p < k; p++) s += pa[i * k + p] * pb[p * n + j];
      pc[i * n + j] = s;
    }
  return c;
}

Test(matmul, known_answer_2x3_by_3x2) {
  ax_scope_begin();
  ax_tensor *a = ax_from_data((float[]){1, 2, 3, 4, 5, 6}, AX_SHAPE(2, 3), NULL);
  ax_tensor *b = ax_from_data((float[]){7, 8, 9, 10, 11, 12}, AX_SHAPE(3, 2), NULL);
  double c[4] = {58, 64, 139, 154};
  ax_tensor *y = ax_matmul(a, b);
  cr_assert_not_null(y);
  cr_expect_eq(y->ndim, 2);
  cr_expect(tu_allclose_data(y, c, 4, 0, 0));
  ax_scope_end();
}

Test(matmul, odd_sizes_and_transposes_match_reference) {
  ax_scope_begin();
  int64_t sizes[][3] = {{1, 1, 1}, {7, 5, 3}, {129, 65, 33}, {64, 200, 17}, {3, 1, 300}};
  for (int s = 0; s < 5; s++) {
    int64_t m = sizes[s][0], k = sizes[s][1], n = sizes[s][2];
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++) {
        ax_tensor *a = ta ? ax_transpose(ax_randn(AX_SHAPE(k, m), NULL), 0, 1) : ax_randn(AX_SHAPE(m, k), NULL);
        ax_tensor *b = tb ? ax_transpose(ax_randn(AX_SHAPE(n, k), NULL), 0, 1) : ax_randn(AX_SHAPE(k, n), NULL);
        ax_tensor *c = ax_matmul(a, b);
        cr_assert_not_null(c);
        cr_expect(tu_allclose(c, reference_mm(a, b), 1e-4, 1e-4), "m=%lld k=%lld n=%lld ta=%d tb=%d", (long long)m,
                  (long long)k, (long long)n, ta, tb);
      }
  }
  ax_scope_end();
}

Test(matmul, f64_is_accurate) {
  ax_scope_begin();
  ax_tensor *a = ax_randn(AX_SHAPE(33, 47), F64), *b = ax_randn(AX_SHAPE(47, 29), F64);
  cr_expect(tu_allclose(ax_matmul(a, b), reference_mm(a, b), 1e-12, 1e-12));
  ax_scope_end();
}

Test(matmul, vector_cases) {
  ax_scope_begin();
  ax_tensor *v = ax_from_data((double[]){1, 2, 3}, AX_SHAPE(3), F64);
  ax_tensor *w = ax_from_data((double[]){4, 5, 6}, AX_SHAPE(3), F64);
  ax_tensor *dot = ax_matmul(v, w);
  cr_expect_eq(dot->ndim, 0);
  cr_expect_float_eq(ax_item(dot), 32.0, 0);
  ax_tensor *m = ax_from_data((double[]){1, 0, 0, 1, 1, 1}, AX_SHAPE(2, 3), F64);
  ax_tensor *mv = ax_matmul(m, v); /* [2] */
  cr_expect_eq(mv->ndim, 1);
  cr_expect(tu_allclose_data(mv, (double[]){1, 6}, 2, 0, 0));
  ax_tensor *vm = ax_matmul(ax_from_data((double[]){1, 2}, AX_SHAPE(2), F64), m); /* [3] */
  cr_expect_eq(vm->ndim, 1);
  cr_expect(tu_allclose_data(vm, (double[]){3, 2, 2}, 3, 0, 0));
  ax_scope_end();
}

Test(matmul, batched_broadcast_shapes_and_values) {
  ax_scope_begin();
  ax_tensor *a = ax_randn(AX_SHAPE(2, 1, 4, 3), NULL);
  ax_tensor *b = ax_randn(AX_SHAPE(5, 3, 6), NULL);
  ax_tensor *c = ax_matmul(a, b);
  cr_assert_not_null(c);
  int64_t expect[4] = {2, 5, 4, 6};
  cr_assert_eq(c->ndim, 4);
  for (int i = 0; i < 4; i++) cr_expect_eq(c->shape[i], expect[i]);
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 5; j++) {
      ax_tensor *ai = ax_reshape(ax_narrow(a, 0, i, 1), AX_SHAPE(4, 3));
      ax_tensor *bj = ax_reshape(ax_narrow(b, 0, j, 1), AX_SHAPE(3, 6));
      ax_tensor *cij = ax_reshape(ax_narrow(ax_narrow(c, 0, i, 1), 1, j, 1), AX_SHAPE(4, 6));
      cr_expect(tu_allclose(cij, reference_mm(ai, bj), 1e-5, 1e-5), "batch (%d, %d)", i, j);
    }
  /* matrix times a batch of vectors: [4, 3] x [2, 3, 1] */
  ax_tensor *d = ax_matmul(ax_randn(AX_SHAPE(4, 3), NULL), ax_randn(AX_SHAPE(2, 3, 1), NULL));
  cr_expect_eq(d->ndim, 3);
  cr_expect_eq(d->shape[0], 2);
  cr_expect_eq(d->shape[1], 4);
  ax_scope_end();
}

Test(matmul, empty_inner_dim_gives_zeros) {
  ax_scope_begin();
  ax_tensor *c = ax_matmul(ax_zeros(AX_SHAPE(2, 0), NULL), ax_zeros(AX_SHAPE(0, 3), NULL));
  cr_assert_not_null(c);
  cr_expect(tu_allclose_data(c, (double[]){0, 0, 0, 0, 0, 0}, 6, 0, 0));
  ax_scope_end();
}

static ax_tensor *mm_fn(ax_tensor **x, void *ctx) { return ax_matmul(x[0], x[1]); }

Test(matmul, gradcheck_all_cases) {
  ax_scope_begin();
  struct { int na; int64_t a[4]; int nb; int64_t b[4]; } cases[] = {
      {2, {3, 4}, 2, {4, 5}},       {1, {4}, 1, {4}},          {2, {3, 4}, 1, {4}},
      {1, {4}, 2, {4, 2}},          {3, {2, 3, 4}, 3, {2, 4, 2}}, {3, {2, 3, 4}, 2, {4, 2}},
      {4, {2, 1, 2, 3}, 3, {3, 3, 2}}, {1, {3}, 3, {2, 3, 2}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    ax_tensor *in[2] = {tu_leaf(tu_randn(AX_F64, cases[c].na, cases[c].a)),
                        tu_leaf(tu_randn(AX_F64, cases[c].nb, cases[c].b))};
    cr_expect(TU_GRADCHECK(mm_fn, in, 2, NULL), "case %zu", c);
  }
  /* transposed (non-contiguous) leaves */
  ax_tensor *in[2] = {tu_leaf(ax_transpose(tu_randn(AX_F64, AX_SHAPE(4, 3)), 0, 1)),
                      tu_leaf(ax_transpose(tu_randn(AX_F64, AX_SHAPE(5, 4)), 0, 1))};
  cr_expect(TU_GRADCHECK(mm_fn, in, 2, NULL));
  ax_scope_end();
}

static ax_tensor *linear_fn(ax_tensor **x, void *ctx) { return ax_linear(x[0], x[1], ctx ? x[2] : NULL); }

Test(matmul, linear_known_answer_and_gradcheck) {
  ax_scope_begin();
  ax_tensor *x = ax_from_data((double[]){1, 2}, AX_SHAPE(1, 2), F64);
  ax_tensor *w = ax_from_data((double[]){1, 0, 0, 1, 1, 1}, AX_SHAPE(3, 2), F64);
  ax_tensor *b = ax_from_data((double[]){10, 20, 30}, AX_SHAPE(3), F64);
  cr_expect(tu_allclose_data(ax_linear(x, w, b), (double[]){11, 22, 33}, 3, 0, 0));
  cr_expect(tu_allclose_data(ax_linear(x, w, NULL), (double[]){1, 2, 3}, 3, 0, 0));
  ax_tensor *in[3] = {tu_leaf(tu_randn(AX_F64, AX_SHAPE(2, 3, 4))), tu_leaf(tu_randn(AX_F64, AX_SHAPE(5, 4))),
                      tu_leaf(tu_randn(AX_F64, AX_SHAPE(5)))};
  cr_expect(TU_GRADCHECK(linear_fn, in, 3, (void *)1));
  cr_expect(TU_GRADCHECK(linear_fn, in, 2, NULL));
  ax_scope_end();
}

Test(matmul, errors) {
  ax_scope_begin();
  cr_expect_null(ax_matmul(ax_zeros(AX_SHAPE(2, 3, 4), NULL), ax_zeros(AX_SHAPE(3, 4, 5), NULL)));
  cr_expect(tu_error_contains("ax_matmul", "[2, 3, 4]", "[3, 4, 5]", "broadcast", NULL));
  cr_expect_null(ax_matmul(ax_scalar(1, NULL), ax_zeros(AX_SHAPE(3), NULL)));
  cr_expect(tu_error_contains("ax_matmul", "[]", NULL));
  cr_expect_null(ax_matmul(ax_zeros(AX_SHAPE(2, 2), &(ax_tensor_opts){.dtype = AX_I64}),
                           ax_zeros(AX_SHAPE(2, 2), &(ax_tensor_opts){.dtype = AX_I64})));
  cr_expect(tu_error_contains("ax_matmul", "floating-point", NULL));
  cr_expect_null(ax_linear(ax_zeros(AX_SHAPE(2, 3), NULL), ax_zeros(AX_SHAPE(4, 5), NULL), NULL));
  cr_expect(tu_error_contains("ax_linear", "[2, 3]", "[4, 5]", NULL));
  cr_expect_null(ax_linear(ax_zeros(AX_SHAPE(2, 5), NULL), ax_zeros(AX_SHAPE(4, 5), NULL), ax_zeros(AX_SHAPE(3), NULL)));
  cr_expect(tu_error_contains("ax_linear", "bias", NULL));
  ax_scope_end();
}

/* bf16 / f16 on the CPU: f32 accumulation, bf16 result (values checked in test_amp.c) */
Test(matmul, half_precision_on_cpu) {
  ax_scope_begin();
  ax_tensor *a = ax_cast(tu_randn(AX_F32, AX_SHAPE(2, 3)), AX_BF16), *b = ax_cast(tu_randn(AX_F32, AX_SHAPE(3, 4)), AX_BF16);
  ax_tensor *c = ax_matmul(a, b);
  cr_assert_not_null(c);
  cr_expect_eq(c->dtype, AX_BF16);
  ax_scope_end();
}
