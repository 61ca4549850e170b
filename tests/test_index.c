/* SPDX-License-Identifier: BSD-3-Clause */
/* index_select, gather, scatter_add: known answers, large cases against plain
 * loops (the parallel paths), determinism, gradients, errors. */
#include <criterion/criterion.h>
#include <string.h>

#include "testutil.h"

TestSuite(index, .init = tu_capture_errors);

#define F64 (&(ax_tensor_opts){.dtype = AX_F64})
#define I64 (&(ax_tensor_opts){.dtype = AX_I64})
#define I32 (&(ax_tensor_opts){.dtype = AX_I32})

static ax_tensor *iota(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  return ax_reshape(ax_arange(0, (double)n, 1, F64), ndim, shape);
}

static ax_tensor *idx64(int ndim, const int64_t *shape, const int64_t *v) { return ax_from_data(v, ndim, shape, I64); }

/* n random i64 values in [0, hi) in the given shape */
static ax_tensor *random_index(int ndim, const int64_t *shape, int64_t hi) {
  return ax_cast(ax_mul_scalar(ax_rand(ndim, shape, F64), (double)hi - 1e-9), AX_I64);
}

/* ---------------- known answers ---------------- */

Test(index, index_select_values) {
  ax_scope_begin();
  ax_tensor *x = iota(AX_SHAPE(3, 4));
  ax_tensor *r = ax_index_select(x, 0, idx64(AX_SHAPE(3), (int64_t[]){2, 0, 2}));
  cr_assert_not_null(r);
  cr_expect_eq(r->shape[0], 3);
  cr_expect(tu_allclose_data(r, (double[]){8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11}, 12, 0, 0));
  ax_tensor *c = ax_index_select(x, -1, ax_from_data((int32_t[]){3, 1}, AX_SHAPE(2), I32));
  cr_expect(tu_allclose_data(c, (double[]){3, 1, 7, 5, 11, 9}, 6, 0, 0));
  /* non-contiguous input and index */
  ax_tensor *xt = ax_transpose(x, 0, 1);
  cr_expect(tu_allclose_data(ax_index_select(xt, 1, idx64(AX_SHAPE(2), (int64_t[]){2, 0})),
                             (double[]){8, 0, 9, 1, 10, 2, 11, 3}, 8, 0, 0));
  ax_tensor *every_other = ax_slice(idx64(AX_SHAPE(5), (int64_t[]){2, 9, 0, 9, 1}), 0, 0, 5, 2);
  cr_expect(tu_allclose_data(ax_index_select(x, 0, every_other), (double[]){8, 9, 10, 11, 0, 1, 2, 3, 4, 5, 6, 7},
                             12, 0, 0));
  /* a 0-dim index selects one slice and keeps the dim; an empty index gives an empty result */
  ax_tensor *one = ax_index_select(x, 1, ax_scalar(2, I64));
  cr_assert_not_null(one);
  cr_expect(one->ndim == 2 && one->shape[1] == 1);
  cr_expect(tu_allclose_data(one, (double[]){2, 6, 10}, 3, 0, 0));
  ax_tensor *none = ax_index_select(x, 0, ax_zeros(AX_SHAPE(0), I64));
  cr_assert_not_null(none);
  cr_expect(none->shape[0] == 0 && none->shape[1] == 4);
  /* any dtype */
  ax_tensor *u8 = ax_from_data((uint8_t[]){10, 20, 30}, AX_SHAPE(3), &(ax_tensor_opts){.dtype = AX_U8});
  ax_tensor *u = ax_index_select(u8, 0, idx64(AX_SHAPE(4), (int64_t[]){2, 2, 0, 1}));
  cr_assert_not_null(u);
  cr_expect_eq(u->dtype, AX_U8);
  cr_expect(tu_allclose_data(u, (double[]){30, 30, 10, 20}, 4, 0, 0));
  cr_expect_eq(ax_item(ax_index_select(ax_scalar(4, F64), 0, ax_scalar(0, I64))), 4);
  ax_scope_end();
}

Test(index, gather_values) {
  ax_scope_begin();
  ax_tensor *x = ax_from_data((double[]){1, 2, 3, 4}, AX_SHAPE(2, 2), F64);
  ax_tensor *g1 = ax_gather(x, 1, idx64(AX_SHAPE(2, 2), (int64_t[]){0, 0, 1, 0}));
  cr_expect(tu_allclose_data(g1, (double[]){1, 1, 4, 3}, 4, 0, 0));
  ax_tensor *g0 = ax_gather(x, 0, ax_from_data((int32_t[]){1, 0, 0, 0}, AX_SHAPE(2, 2), I32));
  cr_expect(tu_allclose_data(g0, (double[]){3, 2, 1, 2}, 4, 0, 0));
  /* index smaller than the input outside dim, and larger along dim */
  ax_tensor *y = iota(AX_SHAPE(3, 4));
  ax_tensor *g2 = ax_gather(y, 1, idx64(AX_SHAPE(2, 1), (int64_t[]){3, 0}));
  cr_assert_not_null(g2);
  cr_expect(g2->shape[0] == 2 && g2->shape[1] == 1);
  cr_expect(tu_allclose_data(g2, (double[]){3, 4}, 2, 0, 0));
  ax_tensor *g3 = ax_gather(y, 0, idx64(AX_SHAPE(5, 1), (int64_t[]){2, 1, 0, 1, 2}));
  cr_expect(tu_allclose_data(g3, (double[]){8, 4, 0, 4, 8}, 5, 0, 0));
  /* transposed input and index */
  ax_tensor *it = ax_transpose(idx64(AX_SHAPE(2, 2), (int64_t[]){0, 1, 1, 1}), 0, 1); /* [[0,1],[1,1]] */
  cr_expect(tu_allclose_data(ax_gather(ax_transpose(x, 0, 1), 1, it), (double[]){1, 3, 4, 4}, 4, 0, 0));
  cr_expect_eq(ax_item(ax_gather(ax_scalar(7, F64), 0, ax_scalar(0, I64))), 7);
  /* integer data, every element size */
  ax_dtype dts[4] = {AX_U8, AX_BF16, AX_I32, AX_I64};
  for (int k = 0; k < 4; k++) {
    ax_tensor *xi = ax_transpose(ax_cast(x, dts[k]), 0, 1); /* [[1,3],[2,4]] */
    ax_tensor *gi = ax_gather(xi, 1, idx64(AX_SHAPE(2, 3), (int64_t[]){1, 0, 1, 0, 0, 1}));
    cr_assert_not_null(gi);
    cr_expect_eq(gi->dtype, dts[k]);
    cr_expect(tu_allclose_data(gi, (double[]){3, 1, 3, 2, 2, 4}, 6, 0, 0), "%s", ax_dtype_name(dts[k]));
  }
  ax_scope_end();
}

Test(index, scatter_add_values_out_of_place) {
  ax_scope_begin();
  ax_tensor *x = ax_ones(AX_SHAPE(3, 5), F64);
  ax_tensor *src = ax_add_scalar(iota(AX_SHAPE(2, 5)), 1); /* 1..10 */
  ax_tensor *index = idx64(AX_SHAPE(2, 5), (int64_t[]){0, 1, 2, 0, 0, 2, 0, 0, 1, 2});
  ax_tensor *out = ax_scatter_add(x, 0, index, src);
  cr_assert_not_null(out);
  cr_expect(tu_allclose_data(out, (double[]){2, 8, 9, 5, 6, 1, 3, 1, 10, 1, 7, 1, 4, 1, 11}, 15, 0, 0));
  cr_expect(tu_allclose(x, ax_ones(AX_SHAPE(3, 5), F64), 0, 0)); /* x unchanged */
  /* repeated indices along dim 1 accumulate; src larger than index */
  ax_tensor *z = ax_zeros(AX_SHAPE(2, 3), F64);
  ax_tensor *s2 = iota(AX_SHAPE(2, 4));
  ax_tensor *i2 = ax_from_data((int32_t[]){2, 2, 0, 1, 1, 1}, AX_SHAPE(2, 3), I32);
  cr_expect(tu_allclose_data(ax_scatter_add(z, 1, i2, s2), (double[]){2, 0, 1, 0, 15, 0}, 6, 0, 0));
  /* f32 and i64 */
  ax_tensor *zf = ax_zeros(AX_SHAPE(3), NULL);
  ax_tensor *sf = ax_from_data((float[]){1.5f, 2.5f, 4}, AX_SHAPE(3), NULL);
  ax_tensor *ii = idx64(AX_SHAPE(3), (int64_t[]){1, 1, 0});
  cr_expect(tu_allclose_data(ax_scatter_add(zf, 0, ii, sf), (double[]){4, 4, 0}, 3, 0, 0));
  ax_tensor *zi = ax_zeros(AX_SHAPE(3), I64);
  ax_tensor *si = ax_from_data((int64_t[]){5, 6, 7}, AX_SHAPE(3), I64);
  cr_expect(tu_allclose_data(ax_scatter_add(zi, 0, ii, si), (double[]){7, 11, 0}, 3, 0, 0));
  /* the general path: u8 and bf16 */
  ax_tensor *zu = ax_cast(ax_full(AX_SHAPE(3), 1, NULL), AX_U8), *su = ax_cast(sf, AX_U8);
  ax_tensor *ou = ax_scatter_add(zu, 0, ii, su);
  cr_assert_not_null(ou);
  cr_expect_eq(ou->dtype, AX_U8);
  cr_expect(tu_allclose_data(ou, (double[]){5, 4, 1}, 3, 0, 0));
  ax_tensor *ob = ax_scatter_add(ax_cast(zf, AX_BF16), 0, ii, ax_cast(sf, AX_BF16));
  cr_expect(tu_allclose_data(ob, (double[]){4, 4, 0}, 3, 0, 0));
  ax_scope_end();
}

/* ---------------- large cases: the parallel paths against plain loops ---------------- */

Test(index, embedding_lookup_and_its_gradient_match_loops) {
  ax_scope_begin();
  int64_t rows = 500, dim = 64, n = 4096;
  ax_tensor *w = tu_leaf(tu_randn(AX_F32, AX_SHAPE(rows, dim)));
  ax_tensor *ids = random_index(AX_SHAPE(n), rows);
  ax_tensor *e = ax_index_select(w, 0, ids);
  cr_assert_not_null(e);
  const float *pw = ax_data_ptr(w), *pe = ax_data_ptr(e);
  const int64_t *pi = ax_data_ptr(ids);
  bool same = true;
  for (int64_t j = 0; j < n && same; j++)
    for (int64_t k = 0; k < dim; k++)
      if (pe[j * dim + k] != pw[pi[j] * dim + k]) same = false;
  cr_expect(same, "index_select differs from a loop");

  ax_tensor *g = tu_randn(AX_F32, AX_SHAPE(n, dim));
  cr_assert_eq(ax_backward(e, g), 0);
  float *ref = calloc((size_t)(rows * dim), sizeof *ref);
  const float *pg = ax_data_ptr(g);
  for (int64_t j = 0; j < n; j++) /* the same order of additions as the kernel: bit-identical */
    for (int64_t k = 0; k < dim; k++) ref[pi[j] * dim + k] += pg[j * dim + k];
  cr_expect_eq(memcmp(ax_data_ptr(w->grad), ref, (size_t)(rows * dim) * sizeof *ref), 0);
  free(ref);

  /* along dim 1 too */
  ax_tensor *cols = random_index(AX_SHAPE(300), dim);
  ax_tensor *c = ax_index_select(w, 1, cols);
  const float *pc = ax_data_ptr(c);
  const int64_t *pci = ax_data_ptr(cols);
  same = true;
  for (int64_t r = 0; r < rows && same; r++)
    for (int64_t j = 0; j < 300; j++)
      if (pc[r * 300 + j] != pw[r * dim + pci[j]]) same = false;
  cr_expect(same, "index_select along dim 1 differs from a loop");
  ax_scope_end();
}

Test(index, gather_and_scatter_add_match_loops) {
  ax_scope_begin();
  int64_t a = 300, b = 200;
  ax_tensor *x = tu_randn(AX_F32, AX_SHAPE(a, b));
  ax_tensor *index = random_index(AX_SHAPE(a, b), b);
  ax_tensor *g = ax_gather(x, 1, index);
  cr_assert_not_null(g);
  const float *px = ax_data_ptr(x), *pg = ax_data_ptr(g);
  const int64_t *pi = ax_data_ptr(index);
  bool same = true;
  for (int64_t i = 0; i < a * b && same; i++)
    if (pg[i] != px[(i / b) * b + pi[i]]) same = false;
  cr_expect(same, "gather differs from a loop");

  /* scatter along dim 0 of [a, b]: each output element sums its sources in row order */
  ax_tensor *rows_idx = random_index(AX_SHAPE(a, b), 7);
  ax_tensor *s = ax_scatter_add(ax_zeros(AX_SHAPE(7, b), NULL), 0, rows_idx, x);
  cr_assert_not_null(s);
  float *ref = calloc((size_t)(7 * b), sizeof *ref);
  const int64_t *pr = ax_data_ptr(rows_idx);
  for (int64_t i = 0; i < a; i++)
    for (int64_t j = 0; j < b; j++) ref[pr[i * b + j] * b + j] += px[i * b + j];
  cr_expect_eq(memcmp(ax_data_ptr(s), ref, (size_t)(7 * b) * sizeof *ref), 0);
  free(ref);
  ax_scope_end();
}

Test(index, sums_are_bit_identical_across_runs_and_thread_counts) {
  ax_scope_begin();
  int64_t n = 100000, k = 4; /* few columns: the outer space is too small to split */
  ax_tensor *src = tu_randn(AX_F32, AX_SHAPE(n, k));
  ax_tensor *ids = random_index(AX_SHAPE(n), 3); /* many repeats */
  ax_tensor *per_elem = random_index(AX_SHAPE(n, k), 3);
  /* plain loops adding in index order: the order every run must use */
  float ref_ia[12] = {0}, ref_sa[12] = {0};
  const float *ps = ax_data_ptr(src);
  const int64_t *pi = ax_data_ptr(ids), *pe = ax_data_ptr(per_elem);
  for (int64_t j = 0; j < n; j++)
    for (int64_t c = 0; c < k; c++) {
      ref_ia[pi[j] * k + c] += ps[j * k + c];
      ref_sa[pe[j * k + c] * k + c] += ps[j * k + c];
    }
  int threads = ax_num_threads();
  for (int run = 0; run < 3; run++) {
    ax_set_num_threads(run == 2 ? 1 : threads);
    ax_tensor *w = tu_leaf(ax_zeros(AX_SHAPE(3, k), NULL));
    cr_assert_eq(ax_backward(ax_index_select(w, 0, ids), src), 0); /* index_add */
    ax_tensor *sa = ax_scatter_add(ax_zeros(AX_SHAPE(3, k), NULL), 0, per_elem, src);
    cr_expect_eq(memcmp(ax_data_ptr(w->grad), ref_ia, sizeof ref_ia), 0, "index_add, run %d", run);
    cr_expect_eq(memcmp(ax_data_ptr(sa), ref_sa, sizeof ref_sa), 0, "scatter_add, run %d", run);
  }
  ax_set_num_threads(threads);
  ax_scope_end();
}

/* ---------------- gradients ---------------- */

typedef struct { int dim; ax_tensor *index; } ictx;

static ax_tensor *f_index_select(ax_tensor **in, void *c) {
  ictx *v = c;
  return ax_index_select(in[0], v->dim, v->index);
}
static ax_tensor *f_gather(ax_tensor **in, void *c) {
  ictx *v = c;
  return ax_gather(in[0], v->dim, v->index);
}
static ax_tensor *f_scatter_add(ax_tensor **in, void *c) {
  ictx *v = c;
  return ax_scatter_add(in[0], v->dim, v->index, in[1]);
}

#define LEAF(...) tu_leaf(tu_randn(AX_F64, AX_SHAPE(__VA_ARGS__)))
#define LEAF_T(...) tu_leaf(ax_transpose(tu_randn(AX_F64, AX_SHAPE(__VA_ARGS__)), 0, 1))

Test(index, gradcheck_index_select) {
  ax_scope_begin();
  ictx c = {0, idx64(AX_SHAPE(5), (int64_t[]){3, 0, 3, 1, 3})}; /* repeats accumulate */
  cr_expect(TU_GRADCHECK(f_index_select, (ax_tensor *[]){LEAF(4, 3)}, 1, &c));
  cr_expect(TU_GRADCHECK(f_index_select, (ax_tensor *[]){LEAF_T(3, 4)}, 1, &c));
  c = (ictx){-1, ax_from_data((int32_t[]){2, 2, 0}, AX_SHAPE(3), I32)};
  cr_expect(TU_GRADCHECK(f_index_select, (ax_tensor *[]){LEAF(2, 2, 3)}, 1, &c));
  c = (ictx){0, ax_scalar(1, I64)};
  cr_expect(TU_GRADCHECK(f_index_select, (ax_tensor *[]){LEAF(3)}, 1, &c));
  ax_scope_end();
}

Test(index, gradcheck_gather) {
  ax_scope_begin();
  ictx c = {1, idx64(AX_SHAPE(3, 2), (int64_t[]){0, 0, 3, 1, 2, 2})};
  cr_expect(TU_GRADCHECK(f_gather, (ax_tensor *[]){LEAF(3, 4)}, 1, &c));
  cr_expect(TU_GRADCHECK(f_gather, (ax_tensor *[]){LEAF_T(4, 3)}, 1, &c));
  c = (ictx){0, ax_from_data((int32_t[]){1, 0, 1, 1, 1, 0}, AX_SHAPE(3, 2), I32)}; /* larger than x along dim */
  cr_expect(TU_GRADCHECK(f_gather, (ax_tensor *[]){LEAF(2, 3)}, 1, &c));
  ax_scope_end();
}

Test(index, gradcheck_scatter_add) {
  ax_scope_begin();
  ictx c = {0, idx64(AX_SHAPE(2, 3), (int64_t[]){2, 0, 2, 2, 1, 0})};
  cr_expect(TU_GRADCHECK(f_scatter_add, ((ax_tensor *[]){LEAF(3, 3), LEAF(2, 3)}), 2, &c));
  /* src larger than index; transposed inputs */
  cr_expect(TU_GRADCHECK(f_scatter_add, ((ax_tensor *[]){LEAF_T(3, 3), LEAF_T(4, 3)}), 2, &c));
  c = (ictx){-1, idx64(AX_SHAPE(2, 2), (int64_t[]){1, 1, 0, 2})};
  /* only one input needs grad */
  cr_expect(TU_GRADCHECK(f_scatter_add, ((ax_tensor *[]){LEAF(2, 3), tu_randn(AX_F64, AX_SHAPE(2, 2))}), 2, &c));
  cr_expect(TU_GRADCHECK(f_scatter_add, ((ax_tensor *[]){tu_randn(AX_F64, AX_SHAPE(2, 3)), LEAF(3, 2)}), 2, &c));
  ax_scope_end();
}

/* ---------------- errors ---------------- */

Test(index, out_of_range_indices_are_clear_errors) {
  ax_scope_begin();
  ax_tensor *x = ax_zeros(AX_SHAPE(5, 2), F64);
  cr_expect_null(ax_index_select(x, 0, idx64(AX_SHAPE(3), (int64_t[]){1, 7, 2})));
  cr_expect(tu_error_contains("ax_index_select: index 7 is out of range for dim 0 of size 5", NULL));
  cr_expect_null(ax_index_select(x, 1, ax_from_data((int32_t[]){-1}, AX_SHAPE(1), I32)));
  cr_expect(tu_error_contains("ax_index_select", "index -1", "dim 1 of size 2", NULL));
  cr_expect_null(ax_gather(x, 1, idx64(AX_SHAPE(1, 2), (int64_t[]){0, 2})));
  cr_expect(tu_error_contains("ax_gather", "index 2", "dim 1 of size 2", NULL));
  /* a bad value hidden behind a stride */
  ax_tensor *strided = ax_slice(idx64(AX_SHAPE(4), (int64_t[]){0, 99, 1, 5}), 0, 0, 4, 2);
  cr_expect_not_null(ax_index_select(x, 0, strided));
  cr_expect_null(ax_index_select(x, 0, ax_slice(idx64(AX_SHAPE(4), (int64_t[]){0, 99, 1, 5}), 0, 1, 4, 2)));
  cr_expect(tu_error_contains("ax_index_select", "index 99", NULL));
  cr_expect_null(ax_scatter_add(x, 0, idx64(AX_SHAPE(1, 1), (int64_t[]){5}), ax_ones(AX_SHAPE(1, 1), F64)));
  cr_expect(tu_error_contains("ax_scatter_add", "index 5", "dim 0 of size 5", NULL));
  cr_expect_null(ax_index_select(ax_scalar(1, F64), 0, ax_scalar(1, I64)));
  cr_expect(tu_error_contains("ax_index_select", "index 1", "size 1", NULL));
  ax_scope_end();
}

Test(index, dtype_and_shape_errors) {
  ax_scope_begin();
  ax_tensor *x = ax_zeros(AX_SHAPE(3, 4), F64);
  ax_tensor *fidx = ax_zeros(AX_SHAPE(2), NULL);
  cr_expect_null(ax_index_select(x, 0, fidx));
  cr_expect(tu_error_contains("ax_index_select", "i64 or i32", "f32", "[2]", NULL));
  cr_expect_null(ax_gather(x, 0, ax_zeros(AX_SHAPE(3, 4), &(ax_tensor_opts){.dtype = AX_U8})));
  cr_expect(tu_error_contains("ax_gather", "i64 or i32", "u8", NULL));
  cr_expect_null(ax_index_select(x, 0, ax_zeros(AX_SHAPE(2, 2), I64)));
  cr_expect(tu_error_contains("ax_index_select", "1-D", "[2, 2]", NULL));
  cr_expect_null(ax_index_select(x, 2, ax_zeros(AX_SHAPE(2), I64)));
  cr_expect(tu_error_contains("ax_index_select", "dim 2", NULL));

  cr_expect_null(ax_gather(x, 1, ax_zeros(AX_SHAPE(3), I64)));
  cr_expect(tu_error_contains("ax_gather", "[3]", "[3, 4]", NULL));
  cr_expect_null(ax_gather(x, 1, ax_zeros(AX_SHAPE(4, 1), I64)));
  cr_expect(tu_error_contains("ax_gather", "[4, 1]", "[3, 4]", "dim 0", NULL));

  ax_tensor *i = ax_zeros(AX_SHAPE(2, 2), I64);
  cr_expect_null(ax_scatter_add(x, 0, i, ax_zeros(AX_SHAPE(2, 2), NULL)));
  cr_expect(tu_error_contains("ax_scatter_add", "f64", "f32", NULL));
  cr_expect_null(ax_scatter_add(x, 0, i, ax_zeros(AX_SHAPE(2, 1), F64)));
  cr_expect(tu_error_contains("ax_scatter_add", "[2, 2]", "[2, 1]", NULL));
  cr_expect_null(ax_scatter_add(x, 0, i, ax_zeros(AX_SHAPE(4), F64)));
  cr_expect(tu_error_contains("ax_scatter_add", "[4]", "[3, 4]", NULL));
  cr_expect_null(ax_scatter_add(x, 0, ax_zeros(AX_SHAPE(2, 5), I64), ax_zeros(AX_SHAPE(2, 5), F64)));
  cr_expect(tu_error_contains("ax_scatter_add", "[2, 5]", "[3, 4]", NULL));

  cr_expect_null(ax_index_select(NULL, 0, i));
  cr_expect_null(ax_gather(x, 0, NULL));
  cr_expect_null(ax_scatter_add(x, 0, i, NULL));
  ax_scope_end();
}
