/* SPDX-License-Identifier: BSD-3-Clause */
/* Views (reshape, view, permute, transpose, narrow, slice, expand, squeeze,
 * unsqueeze, flatten) and joins (cat, stack, split, chunk): values, storage
 * sharing, gradients, errors. */
#include <criterion/criterion.h>
#include <string.h>

#include "testutil.h"

TestSuite(view, .init = tu_capture_errors);

#define F64 (&(ax_tensor_opts){.dtype = AX_F64})

/* 0, 1, 2, ... in the given shape (f64, contiguous) */
static ax_tensor *iota(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  return ax_reshape(ax_arange(0, (double)n, 1, F64), ndim, shape);
}

static bool shape_is(const ax_tensor *t, int ndim, const int64_t *shape) {
  if (!t || t->ndim != ndim) return false;
  for (int i = 0; i < ndim; i++)
    if (t->shape[i] != shape[i]) return false;
  return true;
}

static bool strides_are(const ax_tensor *t, int ndim, const int64_t *strides) {
  if (!t || t->ndim != ndim) return false;
  for (int i = 0; i < ndim; i++)
    if (t->shape[i] != 1 && t->strides[i] != strides[i]) return false;
  return true;
}

/* ---------------- reshape and view ---------------- */

Test(view, reshape_contiguous_is_a_view_with_inferred_dim) {
  ax_scope_begin();
  ax_tensor *x = iota(AX_SHAPE(2, 3, 4));
  ax_tensor *y = ax_reshape(x, AX_SHAPE(4, -1));
  cr_assert(shape_is(y, AX_SHAPE(4, 6)));
  cr_expect(ax_shares_storage(x, y));
  cr_expect_eq(ax_data_ptr(x), ax_data_ptr(y));
  double e[24];
  for (int i = 0; i < 24; i++) e[i] = i;
  cr_expect(tu_allclose_data(y, e, 24, 0, 0));
  cr_expect(shape_is(ax_reshape(x, AX_SHAPE(-1)), AX_SHAPE(24)));
  cr_expect(shape_is(ax_view(x, AX_SHAPE(2, 12)), AX_SHAPE(2, 12)));
  /* one element to 0 dims and back */
  ax_tensor *s = ax_reshape(ax_scalar(3, F64), AX_SHAPE(1, 1));
  cr_expect(shape_is(s, AX_SHAPE(1, 1)));
  ax_tensor *z = ax_reshape(s, 0, NULL);
  cr_assert_not_null(z);
  cr_expect_eq(z->ndim, 0);
  cr_expect_eq(ax_item(z), 3);
  ax_scope_end();
}

Test(view, reshape_of_a_transpose_copies_and_view_refuses) {
  ax_scope_begin();
  ax_tensor *x = iota(AX_SHAPE(2, 3));
  ax_tensor *t = ax_transpose(x, 0, 1); /* [[0,3],[1,4],[2,5]] */
  ax_tensor *r = ax_reshape(t, AX_SHAPE(6));
  cr_assert_not_null(r);
  cr_expect_not(ax_shares_storage(r, x));
  cr_expect(tu_allclose_data(r, (double[]){0, 3, 1, 4, 2, 5}, 6, 0, 0));
  cr_expect_eq(tu_error_count(), 0);
  cr_expect_null(ax_view(t, AX_SHAPE(6)));
  cr_expect(tu_error_contains("ax_view", "[3, 2]", "[6]", "ax_reshape", NULL));
  ax_scope_end();
}

Test(view, reshape_follows_the_stride_compatibility_rule) {
  ax_scope_begin();
  /* [3, 2, 4] with strides [4, 12, 1]: dims 1 and 2 are not adjacent in memory */
  ax_tensor *x = iota(AX_SHAPE(2, 3, 4));
  ax_tensor *p = ax_permute(x, (int[]){1, 0, 2});
  ax_tensor *split = ax_reshape(p, AX_SHAPE(3, 2, 2, 2)); /* splits the last dim: still a view */
  cr_assert_not_null(split);
  cr_expect(ax_shares_storage(split, x));
  cr_expect(strides_are(split, AX_SHAPE(4, 12, 2, 1)));
  cr_expect(tu_allclose(split, ax_contiguous(ax_reshape(ax_contiguous(p), AX_SHAPE(3, 2, 2, 2))), 0, 0));
  ax_tensor *merged = ax_reshape(p, AX_SHAPE(3, 8)); /* merges dims 1 and 2: needs a copy */
  cr_assert_not_null(merged);
  cr_expect_not(ax_shares_storage(merged, x));
  cr_expect(tu_allclose(merged, ax_reshape(ax_contiguous(p), AX_SHAPE(3, 8)), 0, 0));
  cr_expect_null(ax_view(p, AX_SHAPE(3, 8)));

  /* a column slice of [4, 6]: rows split, but rows cannot be merged */
  ax_tensor *y = iota(AX_SHAPE(4, 6));
  ax_tensor *cols = ax_narrow(y, 1, 2, 3);
  ax_tensor *rows = ax_view(cols, AX_SHAPE(2, 2, 3));
  cr_assert_not_null(rows);
  cr_expect(ax_shares_storage(rows, y));
  cr_expect(strides_are(rows, AX_SHAPE(12, 6, 1)));
  ax_tensor *flat = ax_reshape(cols, AX_SHAPE(12));
  cr_expect_not(ax_shares_storage(flat, y));
  cr_expect(tu_allclose_data(flat, (double[]){2, 3, 4, 8, 9, 10, 14, 15, 16, 20, 21, 22}, 12, 0, 0));

  /* size-1 dims may go anywhere; an expanded dim splits but never merges */
  ax_tensor *e = ax_expand(ax_reshape(ax_arange(0, 3, 1, F64), AX_SHAPE(3, 1)), AX_SHAPE(3, 4));
  ax_tensor *e1 = ax_view(e, AX_SHAPE(1, 3, 2, 1, 2));
  cr_assert_not_null(e1);
  cr_expect(ax_shares_storage(e1, e));
  ax_tensor *e2 = ax_reshape(e, AX_SHAPE(12));
  cr_expect_not(ax_shares_storage(e2, e));
  cr_expect(tu_allclose_data(e2, (double[]){0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2}, 12, 0, 0));

  /* [2, 1, 3] with strides [3, 6, 1]: the size-1 dim's stride is irrelevant, so it flattens as a view */
  ax_tensor *big = iota(AX_SHAPE(4, 2, 3));
  ax_tensor *odd = ax_permute(ax_narrow(big, 0, 1, 1), (int[]){1, 0, 2});
  cr_expect(strides_are(odd, AX_SHAPE(3, 1, 1)) && odd->strides[1] == 6);
  ax_tensor *oflat = ax_view(odd, AX_SHAPE(6));
  cr_assert_not_null(oflat);
  cr_expect(ax_shares_storage(oflat, big));
  cr_expect(tu_allclose_data(oflat, (double[]){6, 7, 8, 9, 10, 11}, 6, 0, 0));
  ax_scope_end();
}

Test(view, writes_through_a_view_reach_the_base) {
  ax_scope_begin();
  ax_tensor *base = ax_zeros(AX_SHAPE(3, 4), F64);
  ax_tensor *col = ax_narrow(ax_transpose(base, 0, 1), 0, 1, 1); /* column 1, as a [1, 3] row */
  cr_assert_eq(ax_copy_(col, ax_from_data((double[]){7, 8, 9}, AX_SHAPE(1, 3), F64)), 0);
  cr_expect(tu_allclose_data(base, (double[]){0, 7, 0, 0, 0, 8, 0, 0, 0, 9, 0, 0}, 12, 0, 0));
  /* and writes to the base are seen by its views */
  ax_tensor *every_other = ax_slice(ax_reshape(base, AX_SHAPE(12)), 0, 1, 12, 4);
  cr_expect(tu_allclose_data(every_other, (double[]){7, 8, 9}, 3, 0, 0));
  cr_assert_eq(ax_copy_(base, ax_scalar(1, F64)), 0);
  cr_expect(tu_allclose_data(every_other, (double[]){1, 1, 1}, 3, 0, 0));
  /* element offsets of a slice */
  ax_tensor *s = ax_slice(base, 1, 1, 4, 2);
  cr_expect_eq((char *)ax_data_ptr(s) - (char *)ax_data_ptr(base), (ptrdiff_t)sizeof(double));
  cr_expect(strides_are(s, AX_SHAPE(4, 2)));
  ax_scope_end();
}

/* ---------------- the other views: known answers ---------------- */

Test(view, permute_and_transpose_values) {
  ax_scope_begin();
  ax_tensor *x = iota(AX_SHAPE(2, 3, 4));
  ax_tensor *p = ax_permute(x, (int[]){2, 0, -2});
  cr_assert(shape_is(p, AX_SHAPE(4, 2, 3)));
  cr_expect(ax_shares_storage(p, x));
  cr_expect(strides_are(p, AX_SHAPE(1, 12, 4)));
  /* p[i][j][k] = x[j][k][i] = 12 j + 4 k + i */
  cr_expect_eq(tu_get(p, 1 * 6 + 1 * 3 + 2), 12 + 8 + 1);
  ax_tensor *t = ax_transpose(x, -1, 0);
  cr_assert(shape_is(t, AX_SHAPE(4, 3, 2)));
  cr_expect_eq(tu_get(t, 3 * 6 + 2 * 2 + 1), 12 + 8 + 3);
  ax_tensor *s = ax_scalar(5, F64);
  cr_expect_not_null(ax_permute(s, NULL));
  cr_expect_not_null(ax_transpose(s, 0, -1));
  ax_scope_end();
}

Test(view, narrow_and_slice_values) {
  ax_scope_begin();
  ax_tensor *x = iota(AX_SHAPE(10));
  cr_expect(tu_allclose_data(ax_narrow(x, 0, 2, 3), (double[]){2, 3, 4}, 3, 0, 0));
  cr_expect(tu_allclose_data(ax_narrow(x, 0, -3, 3), (double[]){7, 8, 9}, 3, 0, 0));
  cr_expect(shape_is(ax_narrow(x, 0, 10, 0), AX_SHAPE(0)));
  cr_expect(tu_allclose_data(ax_slice(x, 0, 1, 8, 3), (double[]){1, 4, 7}, 3, 0, 0));
  cr_expect(tu_allclose_data(ax_slice(x, 0, -4, 100, 2), (double[]){6, 8}, 2, 0, 0));
  cr_expect(tu_allclose_data(ax_slice(x, -1, -100, 2, 1), (double[]){0, 1}, 2, 0, 0));
  cr_expect(shape_is(ax_slice(x, 0, 7, 3, 1), AX_SHAPE(0)));
  cr_expect(shape_is(ax_slice(x, 0, 20, 30, 1), AX_SHAPE(0)));
  cr_expect(tu_allclose_data(ax_slice(x, 0, 0, INT64_MAX, 4), (double[]){0, 4, 8}, 3, 0, 0));
  ax_tensor *m = iota(AX_SHAPE(3, 4));
  cr_expect(tu_allclose_data(ax_slice(ax_slice(m, 1, 1, 4, 2), 0, 0, 3, 2), (double[]){1, 3, 9, 11}, 4, 0, 0));
  ax_scope_end();
}

Test(view, expand_squeeze_unsqueeze_flatten) {
  ax_scope_begin();
  ax_tensor *x = ax_from_data((double[]){1, 2, 3}, AX_SHAPE(3, 1), F64);
  ax_tensor *e = ax_expand(x, AX_SHAPE(2, -1, 4));
  cr_assert(shape_is(e, AX_SHAPE(2, 3, 4)));
  cr_expect(ax_shares_storage(e, x));
  cr_expect_eq(e->strides[0], 0);
  cr_expect_eq(e->strides[2], 0);
  cr_expect_eq(tu_get(e, 12 + 4 * 2 + 3), 3);
  cr_expect(shape_is(ax_expand(ax_scalar(2, F64), AX_SHAPE(2, 2)), AX_SHAPE(2, 2)));

  ax_tensor *y = ax_zeros(AX_SHAPE(1, 3, 1, 2), F64);
  cr_expect(shape_is(ax_squeeze(y, AX_SQUEEZE_ALL), AX_SHAPE(3, 2)));
  cr_expect(shape_is(ax_squeeze(y, 2), AX_SHAPE(1, 3, 2)));
  cr_expect(shape_is(ax_squeeze(y, -4), AX_SHAPE(3, 1, 2)));
  cr_expect(shape_is(ax_squeeze(y, 1), AX_SHAPE(1, 3, 1, 2))); /* not size 1: unchanged */
  cr_expect_eq(ax_squeeze(ax_zeros(AX_SHAPE(1, 1), F64), AX_SQUEEZE_ALL)->ndim, 0);

  ax_tensor *z = iota(AX_SHAPE(2, 3));
  cr_expect(shape_is(ax_unsqueeze(z, 0), AX_SHAPE(1, 2, 3)));
  cr_expect(shape_is(ax_unsqueeze(z, 1), AX_SHAPE(2, 1, 3)));
  cr_expect(shape_is(ax_unsqueeze(z, -1), AX_SHAPE(2, 3, 1)));
  cr_expect(shape_is(ax_unsqueeze(ax_scalar(1, F64), 0), AX_SHAPE(1)));
  ax_tensor *u = ax_unsqueeze(ax_transpose(z, 0, 1), 1);
  cr_expect(strides_are(u, AX_SHAPE(1, 3, 3)));

  ax_tensor *f = iota(AX_SHAPE(2, 3, 4, 5));
  cr_expect(shape_is(ax_flatten(f, 0, -1), AX_SHAPE(120)));
  cr_expect(shape_is(ax_flatten(f, 1, 2), AX_SHAPE(2, 12, 5)));
  cr_expect(shape_is(ax_flatten(f, 3, 3), AX_SHAPE(2, 3, 4, 5)));
  cr_expect(ax_shares_storage(ax_flatten(f, 1, -1), f));
  cr_expect(shape_is(ax_flatten(ax_scalar(1, F64), 0, -1), AX_SHAPE(1)));
  ax_tensor *ft = ax_flatten(ax_transpose(z, 0, 1), 0, 1);
  cr_expect(tu_allclose_data(ft, (double[]){0, 3, 1, 4, 2, 5}, 6, 0, 0));
  ax_scope_end();
}

/* ---------------- cat, stack, split, chunk ---------------- */

Test(view, cat_and_stack_values) {
  ax_scope_begin();
  ax_tensor *a = iota(AX_SHAPE(2, 2));
  ax_tensor *b = ax_add_scalar(iota(AX_SHAPE(2, 3)), 10);
  ax_tensor *c = ax_cat((ax_tensor *[]){a, b}, 2, 1);
  cr_assert(shape_is(c, AX_SHAPE(2, 5)));
  cr_expect(tu_allclose_data(c, (double[]){0, 1, 10, 11, 12, 2, 3, 13, 14, 15}, 10, 0, 0));
  /* non-contiguous inputs, negative dim, an empty input */
  ax_tensor *t = ax_transpose(iota(AX_SHAPE(2, 2)), 0, 1);
  ax_tensor *empty = ax_zeros(AX_SHAPE(0, 2), F64);
  ax_tensor *c0 = ax_cat((ax_tensor *[]){t, empty, a}, 3, -2);
  cr_expect(tu_allclose_data(c0, (double[]){0, 2, 1, 3, 0, 1, 2, 3}, 8, 0, 0));
  ax_tensor *one = ax_cat((ax_tensor *[]){a}, 1, 0);
  cr_expect_not(ax_shares_storage(one, a));
  /* integer cat */
  ax_tensor *i1 = ax_from_data((int64_t[]){1, 2}, AX_SHAPE(2), &(ax_tensor_opts){.dtype = AX_I64});
  ax_tensor *ic = ax_cat((ax_tensor *[]){i1, i1}, 2, 0);
  cr_assert_not_null(ic);
  cr_expect_eq(ic->dtype, AX_I64);
  cr_expect(tu_allclose_data(ic, (double[]){1, 2, 1, 2}, 4, 0, 0));

  ax_tensor *s = ax_stack((ax_tensor *[]){a, t}, 2, 1);
  cr_assert(shape_is(s, AX_SHAPE(2, 2, 2)));
  cr_expect(tu_allclose_data(s, (double[]){0, 1, 0, 2, 2, 3, 1, 3}, 8, 0, 0));
  cr_expect(shape_is(ax_stack((ax_tensor *[]){a, a, a}, 3, -1), AX_SHAPE(2, 2, 3)));
  ax_tensor *sc = ax_stack((ax_tensor *[]){ax_scalar(1, F64), ax_scalar(2, F64)}, 2, 0);
  cr_expect(tu_allclose_data(sc, (double[]){1, 2}, 2, 0, 0));
  ax_scope_end();
}

Test(view, split_and_chunk_are_views) {
  ax_scope_begin();
  ax_tensor *x = iota(AX_SHAPE(10));
  ax_tensor *p[8];
  cr_assert_eq(ax_split(x, 3, 0, p, 8), 4);
  int64_t sizes[4] = {3, 3, 3, 1};
  for (int i = 0; i < 4; i++) {
    cr_expect(shape_is(p[i], AX_SHAPE(sizes[i])));
    cr_expect(ax_shares_storage(p[i], x));
    cr_expect_eq(tu_get(p[i], 0), 3 * i);
  }
  cr_expect_eq(ax_split(x, 20, 0, p, 8), 1);
  cr_expect(shape_is(p[0], AX_SHAPE(10)));
  cr_expect_eq(ax_split(x, 3, 0, p, 2), 4); /* counts all, writes 2 */
  cr_expect_eq(ax_split(x, 3, 0, NULL, 0), 4);

  cr_assert_eq(ax_chunk(x, 3, 0, p, 8), 3);
  cr_expect(shape_is(p[0], AX_SHAPE(4)));
  cr_expect(shape_is(p[2], AX_SHAPE(2)));
  cr_expect(tu_allclose_data(p[2], (double[]){8, 9}, 2, 0, 0));
  cr_expect_eq(ax_chunk(ax_narrow(x, 0, 0, 4), 3, 0, p, 8), 2); /* 4 in 3 chunks: 2 + 2, like PyTorch */
  cr_expect_eq(ax_chunk(ax_zeros(AX_SHAPE(0, 2), F64), 3, 0, p, 8), 3);
  cr_expect(shape_is(p[2], AX_SHAPE(0, 2)));

  ax_tensor *m = iota(AX_SHAPE(2, 5));
  cr_assert_eq(ax_chunk(m, 2, -1, p, 8), 2);
  cr_expect(tu_allclose_data(p[1], (double[]){3, 4, 8, 9}, 4, 0, 0));
  cr_expect_eq(tu_error_count(), 0);
  ax_scope_end();
}

Test(view, null_inputs_give_null_without_a_new_error) {
  ax_scope_begin();
  cr_expect_null(ax_reshape(NULL, AX_SHAPE(2)));
  cr_expect_null(ax_view(NULL, AX_SHAPE(2)));
  cr_expect_null(ax_permute(NULL, (int[]){0}));
  cr_expect_null(ax_transpose(NULL, 0, 1));
  cr_expect_null(ax_narrow(NULL, 0, 0, 1));
  cr_expect_null(ax_slice(NULL, 0, 0, 1, 1));
  cr_expect_null(ax_expand(NULL, AX_SHAPE(2)));
  cr_expect_null(ax_squeeze(NULL, 0));
  cr_expect_null(ax_unsqueeze(NULL, 0));
  cr_expect_null(ax_flatten(NULL, 0, -1));
  ax_tensor *a = ax_zeros(AX_SHAPE(2), F64);
  cr_expect_null(ax_cat((ax_tensor *[]){a, NULL}, 2, 0));
  cr_expect_null(ax_stack((ax_tensor *[]){NULL, a}, 2, 0));
  cr_expect_eq(ax_split(NULL, 1, 0, NULL, 0), -1);
  cr_expect_eq(ax_chunk(NULL, 1, 0, NULL, 0), -1);
  cr_expect_eq(tu_error_count(), 0);
  ax_scope_end();
}

/* ---------------- errors ---------------- */

Test(view, shape_errors_name_the_op_and_shapes) {
  ax_scope_begin();
  ax_tensor *x = ax_zeros(AX_SHAPE(2, 3), F64);
  cr_expect_null(ax_reshape(x, AX_SHAPE(4, 2)));
  cr_expect(tu_error_contains("ax_reshape", "[2, 3]", "[4, 2]", NULL));
  cr_expect_null(ax_reshape(x, AX_SHAPE(-1, -1)));
  cr_expect(tu_error_contains("ax_reshape", "-1", NULL));
  cr_expect_null(ax_reshape(x, AX_SHAPE(4, -1)));
  cr_expect(tu_error_contains("ax_reshape", "[2, 3]", "[4, -1]", NULL));
  cr_expect_null(ax_reshape(x, AX_SHAPE(-2, -3)));
  cr_expect(tu_error_contains("ax_reshape", "-2", NULL));
  cr_expect_null(ax_view(x, AX_SHAPE(5)));
  cr_expect(tu_error_contains("ax_view", "[2, 3]", "[5]", NULL));

  cr_expect_null(ax_permute(x, (int[]){0, 0}));
  cr_expect(tu_error_contains("ax_permute", "[2, 3]", NULL));
  cr_expect_null(ax_permute(x, (int[]){0, 2}));
  cr_expect(tu_error_contains("ax_permute", "dim 2", NULL));
  cr_expect_null(ax_transpose(x, 0, 5));
  cr_expect(tu_error_contains("ax_transpose", "dim 5", NULL));

  cr_expect_null(ax_narrow(x, 1, 2, 2));
  cr_expect(tu_error_contains("ax_narrow", "start 2", "length 2", "size 3", "[2, 3]", NULL));
  cr_expect_null(ax_narrow(x, 0, -3, 1));
  cr_expect(tu_error_contains("ax_narrow", NULL));
  cr_expect_null(ax_narrow(ax_scalar(1, F64), 0, 0, 1));
  cr_expect(tu_error_contains("ax_narrow", "0-dim", NULL));
  cr_expect_null(ax_slice(x, 1, 0, 3, 0));
  cr_expect(tu_error_contains("ax_slice", "step", "[2, 3]", NULL));
  cr_expect_null(ax_slice(x, 2, 0, 3, 1));
  cr_expect(tu_error_contains("ax_slice", "dim 2", NULL));

  cr_expect_null(ax_expand(x, AX_SHAPE(2, 4)));
  cr_expect(tu_error_contains("ax_expand", "[2, 3]", "[2, 4]", NULL));
  cr_expect_null(ax_expand(x, AX_SHAPE(3)));
  cr_expect(tu_error_contains("ax_expand", "[2, 3]", NULL));
  cr_expect_null(ax_expand(x, AX_SHAPE(-1, 2, 3)));
  cr_expect(tu_error_contains("ax_expand", "leading", NULL));

  cr_expect_null(ax_squeeze(x, 2));
  cr_expect(tu_error_contains("ax_squeeze", "dim 2", NULL));
  cr_expect_null(ax_unsqueeze(x, 4));
  cr_expect(tu_error_contains("ax_unsqueeze", "dim 4", NULL));
  cr_expect_null(ax_unsqueeze(ax_zeros(AX_SHAPE(1, 1, 1, 1, 1, 1, 1, 1), F64), 0));
  cr_expect(tu_error_contains("ax_unsqueeze", "8", NULL));
  cr_expect_null(ax_flatten(x, 1, 0));
  cr_expect(tu_error_contains("ax_flatten", "[2, 3]", NULL));
  ax_scope_end();
}

Test(view, join_errors_name_the_op_and_shapes) {
  ax_scope_begin();
  ax_tensor *a = ax_zeros(AX_SHAPE(2, 3), F64), *b = ax_zeros(AX_SHAPE(3, 3), F64);
  cr_expect_null(ax_cat((ax_tensor *[]){a, b}, 2, 1));
  cr_expect(tu_error_contains("ax_cat", "[2, 3]", "[3, 3]", NULL));
  cr_expect_null(ax_cat((ax_tensor *[]){a, ax_zeros(AX_SHAPE(2, 3), NULL)}, 2, 0));
  cr_expect(tu_error_contains("ax_cat", "f32", "f64", NULL));
  cr_expect_null(ax_cat((ax_tensor *[]){a, ax_zeros(AX_SHAPE(6), F64)}, 2, 0));
  cr_expect(tu_error_contains("ax_cat", "[6]", "[2, 3]", NULL));
  cr_expect_null(ax_cat((ax_tensor *[]){a}, 0, 0));
  cr_expect(tu_error_contains("ax_cat", "at least one", NULL));
  cr_expect_null(ax_cat((ax_tensor *[]){ax_scalar(1, F64)}, 1, 0));
  cr_expect(tu_error_contains("ax_cat", "0-dim", NULL));
  cr_expect_null(ax_cat((ax_tensor *[]){a, a}, 2, 2));
  cr_expect(tu_error_contains("ax_cat", "dim 2", NULL));
  cr_expect_null(ax_stack((ax_tensor *[]){a, b}, 2, 0));
  cr_expect(tu_error_contains("ax_stack", "[2, 3]", "[3, 3]", NULL));
  cr_expect_null(ax_stack((ax_tensor *[]){a, ax_zeros(AX_SHAPE(2, 3), NULL)}, 2, 0));
  cr_expect(tu_error_contains("ax_stack", "f32", "f64", NULL));
  cr_expect_null(ax_stack((ax_tensor *[]){a, a}, 2, 3));
  cr_expect(tu_error_contains("ax_stack", "dim 3", NULL));
  ax_tensor *p[4];
  cr_expect_eq(ax_split(a, 0, 1, p, 4), -1);
  cr_expect(tu_error_contains("ax_split", "split_size", "[2, 3]", NULL));
  cr_expect_eq(ax_split(a, 1, 2, p, 4), -1);
  cr_expect(tu_error_contains("ax_split", "dim 2", NULL));
  cr_expect_eq(ax_chunk(a, 0, 1, p, 4), -1);
  cr_expect(tu_error_contains("ax_chunk", "chunks", "[2, 3]", NULL));
  ax_scope_end();
}

/* ---------------- gradients ---------------- */

typedef struct { int ndim; int64_t shape[AX_MAX_DIMS]; int dims[AX_MAX_DIMS]; int64_t a, b, c; } vctx;

static ax_tensor *f_reshape(ax_tensor **in, void *c) {
  vctx *v = c;
  return ax_reshape(in[0], v->ndim, v->shape);
}
static ax_tensor *f_view(ax_tensor **in, void *c) {
  vctx *v = c;
  return ax_view(in[0], v->ndim, v->shape);
}
/* a view of a view, then an op that reads every element at a new position */
static ax_tensor *f_reshape_mul(ax_tensor **in, void *c) {
  vctx *v = c;
  ax_tensor *r = ax_reshape(in[0], v->ndim, v->shape);
  return ax_mul(r, r);
}
static ax_tensor *f_permute(ax_tensor **in, void *c) { return ax_permute(in[0], ((vctx *)c)->dims); }
static ax_tensor *f_transpose(ax_tensor **in, void *c) {
  vctx *v = c;
  return ax_transpose(in[0], (int)v->a, (int)v->b);
}
static ax_tensor *f_narrow(ax_tensor **in, void *c) {
  vctx *v = c;
  return ax_narrow(in[0], v->dims[0], v->a, v->b);
}
static ax_tensor *f_slice(ax_tensor **in, void *c) {
  vctx *v = c;
  return ax_slice(in[0], v->dims[0], v->a, v->b, v->c);
}
static ax_tensor *f_expand(ax_tensor **in, void *c) {
  vctx *v = c;
  return ax_expand(in[0], v->ndim, v->shape);
}
static ax_tensor *f_squeeze(ax_tensor **in, void *c) { return ax_squeeze(in[0], ((vctx *)c)->dims[0]); }
static ax_tensor *f_unsqueeze(ax_tensor **in, void *c) { return ax_unsqueeze(in[0], ((vctx *)c)->dims[0]); }
static ax_tensor *f_flatten(ax_tensor **in, void *c) {
  vctx *v = c;
  return ax_flatten(in[0], (int)v->a, (int)v->b);
}

#define GRADCHECK1(fn, leaf, ...)                                                \
  do {                                                                           \
    vctx c_ = {__VA_ARGS__};                                                     \
    ax_tensor *in_[1] = {(leaf)};                                                \
    cr_expect(TU_GRADCHECK(fn, in_, 1, &c_), "%s on %s", #fn, #leaf);            \
  } while (0)

#define LEAF(...) tu_leaf(tu_randn(AX_F64, AX_SHAPE(__VA_ARGS__)))
#define LEAF_T(...) tu_leaf(ax_transpose(tu_randn(AX_F64, AX_SHAPE(__VA_ARGS__)), 0, 1))

Test(view, gradcheck_reshape_view_flatten) {
  ax_scope_begin();
  GRADCHECK1(f_reshape, LEAF(2, 3, 2), .ndim = 2, .shape = {4, -1});
  GRADCHECK1(f_reshape, LEAF_T(3, 4), .ndim = 1, .shape = {12}); /* copies */
  GRADCHECK1(f_reshape, LEAF_T(3, 4), .ndim = 3, .shape = {2, 2, 3}); /* splits: a view */
  GRADCHECK1(f_reshape, LEAF(1), .ndim = 0);
  GRADCHECK1(f_reshape, tu_leaf(ax_scalar(0.5, F64)), .ndim = 2, .shape = {1, 1});
  GRADCHECK1(f_reshape_mul, LEAF_T(3, 4), .ndim = 2, .shape = {6, 2});
  GRADCHECK1(f_view, LEAF(2, 6), .ndim = 3, .shape = {3, 2, 2});
  GRADCHECK1(f_view, LEAF_T(2, 6), .ndim = 3, .shape = {3, 2, 2});
  GRADCHECK1(f_flatten, LEAF(2, 3, 2), .a = 1, .b = 2);
  GRADCHECK1(f_flatten, LEAF_T(3, 2), .a = 0, .b = -1);
  ax_scope_end();
}

Test(view, gradcheck_permute_transpose) {
  ax_scope_begin();
  GRADCHECK1(f_permute, LEAF(2, 3, 4), .dims = {2, 0, 1});
  GRADCHECK1(f_permute, LEAF_T(3, 2), .dims = {1, 0});
  GRADCHECK1(f_transpose, LEAF(2, 3, 4), .a = 0, .b = 2);
  GRADCHECK1(f_transpose, LEAF_T(3, 4), .a = -1, .b = 0);
  GRADCHECK1(f_transpose, tu_leaf(ax_scalar(2, F64)), .a = 0, .b = 0);
  ax_scope_end();
}

Test(view, gradcheck_narrow_slice) {
  ax_scope_begin();
  GRADCHECK1(f_narrow, LEAF(5, 3), .dims = {0}, .a = 1, .b = 3);
  GRADCHECK1(f_narrow, LEAF_T(5, 4), .dims = {1}, .a = -2, .b = 2);
  GRADCHECK1(f_slice, LEAF(7, 2), .dims = {0}, .a = 1, .b = 7, .c = 2);
  GRADCHECK1(f_slice, LEAF_T(3, 8), .dims = {0}, .a = -5, .b = 100, .c = 3);
  GRADCHECK1(f_slice, LEAF(4), .dims = {0}, .a = 2, .b = 3, .c = 1);
  ax_scope_end();
}

Test(view, gradcheck_expand_squeeze_unsqueeze) {
  ax_scope_begin();
  GRADCHECK1(f_expand, LEAF(3, 1), .ndim = 3, .shape = {2, 3, 4});
  GRADCHECK1(f_expand, LEAF_T(1, 3), .ndim = 2, .shape = {-1, 2});
  GRADCHECK1(f_expand, tu_leaf(ax_scalar(1.5, F64)), .ndim = 2, .shape = {2, 3});
  GRADCHECK1(f_squeeze, LEAF(1, 3, 1), .dims = {AX_SQUEEZE_ALL});
  GRADCHECK1(f_squeeze, LEAF(2, 1, 3), .dims = {1});
  GRADCHECK1(f_squeeze, LEAF_T(1, 3), .dims = {0});
  GRADCHECK1(f_unsqueeze, LEAF(2, 3), .dims = {1});
  GRADCHECK1(f_unsqueeze, LEAF_T(2, 3), .dims = {-1});
  GRADCHECK1(f_unsqueeze, tu_leaf(ax_scalar(1, F64)), .dims = {0});
  ax_scope_end();
}

static ax_tensor *f_cat(ax_tensor **in, void *c) { return ax_cat(in, 3, (int)((vctx *)c)->a); }
static ax_tensor *f_stack(ax_tensor **in, void *c) { return ax_stack(in, 2, (int)((vctx *)c)->a); }
/* every piece, in reverse order, each scaled differently so swapped pieces would show */
static ax_tensor *f_split(ax_tensor **in, void *c) {
  vctx *v = c;
  ax_tensor *p[8], *q[8];
  int n = v->c ? ax_chunk(in[0], (int)v->b, (int)v->a, p, 8) : ax_split(in[0], v->b, (int)v->a, p, 8);
  if (n < 0) return NULL;
  for (int i = 0; i < n; i++) q[n - 1 - i] = ax_mul_scalar(p[i], i + 1);
  return ax_cat(q, n, (int)v->a);
}
/* only the middle piece is used: the others' gradients must be zero */
static ax_tensor *f_split_middle(ax_tensor **in, void *c) {
  ax_tensor *p[8];
  return ax_split(in[0], 2, 0, p, 8) == 3 ? ax_exp(p[1]) : NULL;
}

Test(view, gradcheck_cat_stack_split_chunk) {
  ax_scope_begin();
  {
    ax_tensor *in[3] = {LEAF(2, 3), LEAF_T(2, 2), LEAF(2, 1)};
    vctx c = {.a = 1};
    cr_expect(TU_GRADCHECK(f_cat, in, 3, &c));
  }
  {
    ax_tensor *in[3] = {LEAF(2, 3), LEAF_T(3, 1), LEAF(4, 3)};
    vctx c = {.a = -2};
    cr_expect(TU_GRADCHECK(f_cat, in, 3, &c));
  }
  {
    /* the middle input needs no grad: the others still land in the right places */
    ax_tensor *in[3] = {LEAF(2, 2), tu_randn(AX_F64, AX_SHAPE(3, 2)), LEAF(1, 2)};
    vctx c = {.a = 0};
    cr_expect(TU_GRADCHECK(f_cat, in, 3, &c));
  }
  {
    ax_tensor *in[2] = {LEAF(2, 3), LEAF_T(3, 2)};
    vctx c = {.a = 1};
    cr_expect(TU_GRADCHECK(f_stack, in, 2, &c));
    c.a = -1;
    cr_expect(TU_GRADCHECK(f_stack, in, 2, &c));
  }
  GRADCHECK1(f_split, LEAF(7, 2), .a = 0, .b = 3);
  GRADCHECK1(f_split, LEAF_T(2, 5), .a = -1, .b = 2);
  GRADCHECK1(f_split, LEAF(3, 5), .a = 1, .b = 3, .c = 1); /* chunk */
  GRADCHECK1(f_split_middle, LEAF(6, 2), .a = 0);
  ax_scope_end();
}

/* split by sizes {2, 0, 3} (an empty piece too), each piece weighted differently, joined back */
static ax_tensor *f_split_sizes(ax_tensor **in, void *c) {
  vctx *v = c;
  ax_tensor *p[3], *q[3];
  if (ax_split_sizes(in[0], (const int64_t[]){2, 0, 3}, 3, (int)v->a, p) != 3) return NULL;
  for (int i = 0; i < 3; i++) q[2 - i] = ax_mul_scalar(ax_exp(p[i]), i + 1);
  return ax_cat(q, 3, (int)v->a);
}

Test(view, split_sizes_views_values_gradients_errors) {
  ax_scope_begin();
  ax_tensor *x = iota(AX_SHAPE(3, 5));
  ax_tensor *p[4];
  cr_assert_eq(ax_split_sizes(x, (const int64_t[]){1, 3, 0, 1}, 4, -1, p), 4);
  cr_expect(shape_is(p[0], AX_SHAPE(3, 1)) && shape_is(p[1], AX_SHAPE(3, 3)) && shape_is(p[2], AX_SHAPE(3, 0)) &&
            shape_is(p[3], AX_SHAPE(3, 1)));
  for (int i = 0; i < 4; i++) cr_expect(ax_shares_storage(p[i], x), "piece %d is a view", i);
  cr_expect(tu_allclose_data(p[1], (double[]){1, 2, 3, 6, 7, 8, 11, 12, 13}, 9, 0, 0));
  cr_expect(tu_allclose_data(p[3], (double[]){4, 9, 14}, 3, 0, 0));
  cr_assert_eq(ax_split_sizes(x, (const int64_t[]){2, 1}, 2, 0, p), 2);
  cr_expect(tu_allclose_data(p[1], (double[]){10, 11, 12, 13, 14}, 5, 0, 0));
  /* gradients: each piece's lands in its part of x (the empty piece contributes nothing) */
  GRADCHECK1(f_split_sizes, LEAF(5, 2), .a = 0);
  GRADCHECK1(f_split_sizes, LEAF_T(5, 3), .a = -1);
  /* errors name the op and the shape */
  cr_expect_eq(ax_split_sizes(x, (const int64_t[]){2, 2}, 2, 1, p), -1);
  cr_expect(tu_error_contains("ax_split_sizes", "sum to 4", "[3, 5]", NULL));
  cr_expect_eq(ax_split_sizes(x, (const int64_t[]){6, -1}, 2, 1, p), -1);
  cr_expect(tu_error_contains("ax_split_sizes", "-1", NULL));
  cr_expect_eq(ax_split_sizes(x, (const int64_t[]){3}, 1, 2, p), -1);
  cr_expect(tu_error_contains("ax_split_sizes", NULL));
  cr_expect_eq(ax_split_sizes(x, NULL, 0, 0, p), -1);
  cr_expect_eq(ax_split_sizes(ax_scalar(1, F64), (const int64_t[]){1}, 1, 0, p), -1);
  cr_expect(tu_error_contains("ax_split_sizes", "0-dim", NULL));
  ax_scope_end();
}

Test(view, gradient_of_a_slice_lands_in_place) {
  ax_scope_begin();
  ax_tensor *x = tu_leaf(ax_zeros(AX_SHAPE(6), F64));
  ax_tensor *y = ax_slice(x, 0, 1, 6, 2); /* x[1], x[3], x[5] */
  cr_assert_eq(ax_backward(y, ax_from_data((double[]){1, 2, 3}, AX_SHAPE(3), F64)), 0);
  cr_expect(tu_allclose_data(x->grad, (double[]){0, 1, 0, 2, 0, 3}, 6, 0, 0));
  ax_tensor *z = tu_leaf(ax_zeros(AX_SHAPE(2, 3), F64));
  ax_tensor *e = ax_expand(ax_unsqueeze(z, 0), AX_SHAPE(4, 2, 3));
  cr_assert_eq(ax_backward(ax_sum(e, AX_ALL, false), NULL), 0);
  cr_expect(tu_allclose_data(z->grad, (double[]){4, 4, 4, 4, 4, 4}, 6, 0, 0));
  ax_scope_end();
}

/* Backward through many slices adds each slice's gradient in place into one
 * gradient buffer: values for overlapping and strided slices of a leaf and of a
 * non-leaf (whose gradient arrives both from slices and whole), and fan-out
 * where the first gradient is shared with another input. */
Test(view, many_slices_accumulate_into_one_gradient) {
  ax_scope_begin();
  ax_tensor *x = tu_leaf(tu_uniform(AX_F64, AX_SHAPE(5, 4), -1, 1));
  ax_tensor *y = ax_mul_scalar(x, 3); /* non-leaf: its gradient is built in the node */
  ax_tensor *loss = ax_sum(y, AX_ALL, false);  /* y whole first: its first gradient is shared */
  for (int i = 0; i < 4; i++) /* columns 0..3, each weighted by i+1 */
    loss = ax_add(loss, ax_mul_scalar(ax_sum(ax_narrow(y, 1, i, 1), AX_ALL, false), i + 1));
  loss = ax_add(loss, ax_sum(ax_slice(y, 0, 0, 5, 2), AX_ALL, false)); /* rows 0, 2, 4 */
  loss = ax_add(loss, ax_sum(ax_slice(x, 0, 1, 5, 3), AX_ALL, false)); /* rows 1, 4 of the leaf */
  ax_tensor *parts[2];
  cr_assert_eq(ax_split(x, 2, 0, parts, 2), 3);
  loss = ax_add(loss, ax_sum(parts[1], AX_ALL, false)); /* rows 2, 3 of the leaf */
  cr_assert_eq(ax_backward(loss, NULL), 0, "%s", ax_last_error());
  double want[20];
  for (int r = 0; r < 5; r++)
    for (int c = 0; c < 4; c++)
      want[r * 4 + c] = 3 * (1 + (c + 1) + (r % 2 == 0)) + (r == 1 || r == 4) + (r == 2 || r == 3);
  cr_expect(tu_allclose_data(x->grad, want, 20, 1e-12, 0));
  /* a second pass adds into the leaf's existing .grad */
  cr_assert_eq(ax_backward(ax_sum(ax_narrow(x, 0, 4, 1), AX_ALL, false), NULL), 0);
  for (int c = 0; c < 4; c++) want[16 + c] += 1;
  cr_expect(tu_allclose_data(x->grad, want, 20, 1e-12, 0));
  ax_scope_end();
}

/* A recurrent loop's per-step slices: k slices of a leaf of n bytes. The backward
 * pass makes one gradient of n bytes and adds each slice into it; it must not
 * make an n-byte zero tensor per slice next to it (which would cost k n bytes of
 * writes and, at its peak, 2n). */
Test(view, slices_backward_allocates_the_gradient_once) {
  ax_scope_begin();
  const int64_t rows = 64, cols = 4096; /* 1 MiB of f32 */
  const size_t n = (size_t)(rows * cols) * 4;
  ax_tensor *x = ax_zeros(AX_SHAPE(rows, cols), &(ax_tensor_opts){.dtype = AX_F32});
  ax_set_requires_grad(x, true);
  ax_tensor *loss = NULL;
  for (int64_t t = 0; t < rows; t++) {
    ax_tensor *s = ax_mul_scalar(ax_sum(ax_squeeze(ax_narrow(x, 0, t, 1), 0), AX_ALL, false), (double)(t + 1));
    loss = loss ? ax_add(loss, s) : s;
  }
  size_t live = ax_memory_stats_get(AX_CPU).live_bytes;
  cr_assert_lt(ax_memory_stats_get(AX_CPU).peak_bytes, live + n / 2, "the forward pass allocated a copy of x");
  cr_assert_eq(ax_backward(loss, NULL), 0, "%s", ax_last_error());
  size_t peak = ax_memory_stats_get(AX_CPU).peak_bytes;
  cr_expect_lt(peak, live + n + n / 2, "backward peak %zu bytes above %zu live (n = %zu)", peak - live, live, n);
  ax_tensor *want = ax_expand(ax_unsqueeze(ax_arange(1, (double)rows + 1, 1, &(ax_tensor_opts){.dtype = AX_F32}), 1),
                              AX_SHAPE(rows, cols));
  cr_expect(tu_allclose(x->grad, want, 0, 0));
  ax_scope_end();
}

Test(view, views_of_grad_requiring_tensors_record_nodes) {
  ax_scope_begin();
  ax_tensor *x = LEAF(2, 3);
  ax_tensor *t = ax_transpose(x, 0, 1);
  cr_expect(t->requires_grad);
  cr_expect_str_eq(ax_grad_fn_name(t), "transpose");
  cr_expect_str_eq(ax_grad_fn_name(ax_reshape(x, AX_SHAPE(6))), "reshape");
  ax_no_grad_begin();
  ax_tensor *u = ax_reshape(x, AX_SHAPE(6));
  ax_no_grad_end();
  cr_expect_not(u->requires_grad);
  cr_expect(ax_shares_storage(u, x));
  ax_scope_end();
}
