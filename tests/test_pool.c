/* SPDX-License-Identifier: BSD-3-Clause */
/* ax_max_pool2d, ax_avg_pool2d, ax_adaptive_avg_pool2d: PyTorch values,
 * direct-loop references, gradient checks and errors. */
#include <criterion/criterion.h>
#include <math.h>

#include "testutil.h"

#include "fixtures/pool_ref.h"

TestSuite(pool, .init = tu_capture_errors);

#define F64 (&(ax_tensor_opts){.dtype = AX_F64})

/* x[i] = sin(a i + b) as a leaf, like the fixture generator. */
static ax_tensor *fill(int ndim, const int64_t *shape, double a, double b, bool leaf) {
  ax_tensor *t = ax_empty(ndim, shape, F64);
  double *p = ax_data_ptr(t);
  for (int64_t i = 0; i < ax_numel(t); i++) p[i] = sin(a * i + b);
  return leaf ? tu_leaf(t) : t;
}

typedef enum { MAX, AVG, ADAPTIVE } kind;

static ax_tensor *run(kind k, ax_tensor *x, const ax_pool2d_opts *o, int64_t oh, int64_t ow, ax_tensor **ind) {
  if (k == MAX) return ax_max_pool2d(x, o, ind);
  if (k == AVG) return ax_avg_pool2d(x, o);
  return ax_adaptive_avg_pool2d(x, oh, ow);
}

static void check_torch(kind k, const int64_t *xs, ax_pool2d_opts o, const int64_t *ys, const double *y_ref,
                        const int64_t *ind_ref, const double *gx_ref) {
  ax_scope_begin();
  ax_tensor *x = fill(4, xs, 0.7, 0.1, true), *ind = NULL;
  ax_tensor *y = run(k, x, &o, ys[2], ys[3], ind_ref ? &ind : NULL);
  cr_assert_not_null(y);
  for (int d = 0; d < 4; d++)
    cr_assert_eq(y->shape[d], ys[d], "dim %d: %lld vs %lld", d, (long long)y->shape[d], (long long)ys[d]);
  int64_t n = ax_numel(y);
  cr_expect(tu_allclose_data(y, y_ref, n, 1e-12, 1e-12));
  if (ind_ref) {
    cr_assert_not_null(ind);
    cr_assert_eq(ind->dtype, AX_I64);
    const int64_t *pi = ax_data_ptr(ind);
    for (int64_t i = 0; i < n; i++)
      cr_expect_eq(pi[i], ind_ref[i], "index %lld: %lld vs %lld", (long long)i, (long long)pi[i], (long long)ind_ref[i]);
  }
  ax_tensor *g = fill(4, ys, 0.3, 1.5707963267948966, false); /* cos(0.3 i) = sin(0.3 i + pi/2) */
  cr_assert_eq(ax_backward(ax_sum(ax_mul(y, g), 0, NULL, false), NULL), 0);
  cr_expect(tu_allclose_data(x->grad, gx_ref, ax_numel(x), 1e-12, 1e-12));
  ax_scope_end();
}

#define SHAPE4(a, b, c, d) ((const int64_t[]){a, b, c, d})

Test(pool, max_matches_pytorch) {
  check_torch(MAX, SHAPE4(2, 3, 7, 6), (ax_pool2d_opts){.kernel = 3, .stride = 2, .padding = 1, .ceil_mode = true},
              max_a_yshape, max_a_y, max_a_ind, max_a_gx);
  check_torch(MAX, SHAPE4(1, 2, 9, 8),
              (ax_pool2d_opts){.kernel_hw = {3, 2}, .stride_hw = {2, 1}, .padding_hw = {1, 0}, .dilation_hw = {2, 1}},
              max_b_yshape, max_b_y, max_b_ind, max_b_gx);
  check_torch(MAX, SHAPE4(2, 2, 7, 7), (ax_pool2d_opts){.kernel = 2, .ceil_mode = true}, max_c_yshape, max_c_y,
              max_c_ind, max_c_gx);
  check_torch(MAX, SHAPE4(2, 3, 8, 6), (ax_pool2d_opts){.kernel = 2, .stride = 2}, max_d_yshape, max_d_y, max_d_ind,
              max_d_gx);
  check_torch(MAX, SHAPE4(1, 2, 5, 5), (ax_pool2d_opts){.kernel = 3, .stride = 3, .padding = 1, .ceil_mode = true},
              max_e_yshape, max_e_y, max_e_ind, max_e_gx);
}

Test(pool, avg_matches_pytorch) {
  check_torch(AVG, SHAPE4(2, 3, 7, 6), (ax_pool2d_opts){.kernel = 3, .stride = 2, .padding = 1, .ceil_mode = true},
              avg_a_yshape, avg_a_y, NULL, avg_a_gx);
  check_torch(AVG, SHAPE4(2, 3, 7, 6),
              (ax_pool2d_opts){.kernel = 3, .stride = 2, .padding = 1, .ceil_mode = true, .exclude_pad = true},
              avg_b_yshape, avg_b_y, NULL, avg_b_gx);
  check_torch(AVG, SHAPE4(1, 2, 5, 8), (ax_pool2d_opts){.kernel_hw = {2, 3}, .stride_hw = {1, 2}, .padding = 1},
              avg_c_yshape, avg_c_y, NULL, avg_c_gx);
  check_torch(AVG, SHAPE4(1, 2, 5, 5), (ax_pool2d_opts){.kernel = 3, .stride = 3, .padding = 1, .ceil_mode = true},
              avg_d_yshape, avg_d_y, NULL, avg_d_gx);
}

Test(pool, adaptive_matches_pytorch) {
  check_torch(ADAPTIVE, SHAPE4(2, 3, 7, 5), (ax_pool2d_opts){0}, adaptive_a_yshape, adaptive_a_y, NULL,
              adaptive_a_gx);
  check_torch(ADAPTIVE, SHAPE4(1, 2, 4, 4), (ax_pool2d_opts){0}, adaptive_b_yshape, adaptive_b_y, NULL,
              adaptive_b_gx);
}

/* Direct max / average pooling (floor mode) on an f64 copy. */
static ax_tensor *reference(kind k, ax_tensor *x, int kh, int kw, int s, int p, int d) {
  ax_tensor *xc = ax_contiguous(ax_cast(x, AX_F64));
  const double *px = ax_data_ptr(xc);
  int64_t n = x->shape[0], c = x->shape[1], h = x->shape[2], w = x->shape[3];
  int64_t oh = (h + 2 * p - d * (kh - 1) - 1) / s + 1, ow = (w + 2 * p - d * (kw - 1) - 1) / s + 1;
  ax_tensor *y = ax_zeros(AX_SHAPE(n, c, oh, ow), F64);
  double *py = ax_data_ptr(y);
  for (int64_t pl = 0; pl < n * c; pl++)
    for (int64_t i = 0; i < oh; i++)
      for (int64_t j = 0; j < ow; j++) {
        double m = -INFINITY, sum = 0;
        for (int a = 0; a < kh; a++)
          for (int b = 0; b < kw; b++) {
            int64_t ih = i * s - p + a * d, iw = j * s - p + b * d;
            if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
            double v = px[(pl * h + ih) * w + iw];
            m = v > m ? v : m;
            sum += v;
          }
        py[(pl * oh + i) * ow + j] = k == MAX ? m : sum / (kh * kw);
      }
  return y;
}

Test(pool, matches_direct_loops_f32_f64_large_and_strided) {
  typedef struct { int64_t n, c, h, w; int kh, kw, s, p, d; } pc;
  const pc cases[] = {
      {4, 8, 32, 33, 2, 2, 2, 0, 1}, /* the CNN's 2x2 fast path, odd width, above the parallel threshold */
      {3, 5, 13, 11, 3, 3, 2, 1, 1}, {2, 3, 9, 10, 3, 2, 1, 1, 2}, {5, 2, 6, 6, 2, 2, 2, 1, 1},
      {1, 1, 1, 1, 1, 1, 1, 0, 1},   {2, 4, 17, 16, 4, 4, 3, 2, 1},
  };
  for (int dt = 0; dt < 2; dt++)
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      ax_scope_begin();
      pc k = cases[i];
      ax_dtype t = dt ? AX_F64 : AX_F32;
      ax_tensor *x = tu_randn(t, AX_SHAPE(k.n, k.c, k.h, k.w));
      if (i % 2) x = ax_transpose(tu_randn(t, AX_SHAPE(k.n, k.c, k.w, k.h)), 2, 3); /* non-contiguous */
      ax_pool2d_opts o = {.kernel_hw = {k.kh, k.kw}, .stride = k.s, .padding = k.p, .dilation = k.d};
      double tol = dt ? 1e-12 : 1e-5;
      ax_tensor *ind = NULL, *y = ax_max_pool2d(x, &o, i % 3 != 1 ? &ind : NULL);
      cr_assert_not_null(y, "case %zu", i);
      cr_expect(tu_allclose(y, reference(MAX, x, k.kh, k.kw, k.s, k.p, k.d), tol, tol), "max case %zu dtype %d", i, dt);
      if (ind) { /* the index points at the maximum */
        ax_tensor *flat = ax_reshape(ax_contiguous(x), AX_SHAPE(k.n, k.c, k.h * k.w));
        ax_tensor *at = ax_gather(flat, 2, ax_reshape(ind, AX_SHAPE(k.n, k.c, -1)));
        cr_expect(tu_allclose(ax_reshape(at, y->ndim, y->shape), y, 0, 0), "index case %zu", i);
      }
      if (k.d == 1) {
        ax_tensor *a = ax_avg_pool2d(x, &o);
        cr_assert_not_null(a, "case %zu", i);
        cr_expect(tu_allclose(a, reference(AVG, x, k.kh, k.kw, k.s, k.p, 1), tol, tol), "avg case %zu dtype %d", i, dt);
      }
      ax_scope_end();
    }
}

Test(pool, three_dim_input_and_global_average) {
  ax_scope_begin();
  ax_tensor *x = tu_randn(AX_F32, AX_SHAPE(3, 6, 5)), *ind = NULL;
  ax_tensor *y = ax_max_pool2d(x, &(ax_pool2d_opts){.kernel = 2}, &ind);
  cr_assert_not_null(y);
  cr_expect(y->ndim == 3 && y->shape[0] == 3 && y->shape[1] == 3 && y->shape[2] == 2);
  cr_expect(ind && ind->ndim == 3 && ind->shape[1] == 3);
  ax_tensor *ref = ax_squeeze(ax_max_pool2d(ax_unsqueeze(x, 0), &(ax_pool2d_opts){.kernel = 2}, NULL), 0);
  cr_expect(tu_allclose(y, ref, 0, 0));
  /* adaptive to 1x1 is the mean over each plane */
  ax_tensor *g = ax_adaptive_avg_pool2d(x, 1, 1);
  cr_assert_not_null(g);
  cr_expect(g->ndim == 3 && g->shape[0] == 3 && g->shape[1] == 1 && g->shape[2] == 1);
  cr_expect(tu_allclose(ax_reshape(g, AX_SHAPE(3)), ax_mean(x, 2, (const int[]){1, 2}, false), 1e-6, 1e-5));
  ax_scope_end();
}

Test(pool, max_propagates_nan_and_handles_infinity) {
  ax_scope_begin();
  double v[8] = {1, NAN, 3, 4, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
  ax_tensor *x = ax_from_data(v, AX_SHAPE(1, 2, 2, 2), F64), *ind;
  ax_tensor *y = ax_max_pool2d(x, &(ax_pool2d_opts){.kernel = 2}, &ind);
  cr_assert_not_null(y);
  cr_expect(isnan(tu_get(y, 0)));
  cr_expect_eq(tu_get(ind, 0), 1);
  cr_expect(isinf(tu_get(y, 1)) && tu_get(y, 1) < 0);
  cr_expect_eq(tu_get(ind, 1), 0);
  ax_scope_end();
}

Test(pool, half_precision_matches_f32) {
  ax_scope_begin();
  ax_tensor *x = ax_cast(tu_randn(AX_F32, AX_SHAPE(2, 3, 8, 7)), AX_BF16), *xf = ax_cast(x, AX_F32);
  ax_pool2d_opts o = {.kernel = 3, .stride = 2, .padding = 1};
  cr_expect(tu_allclose(ax_max_pool2d(x, &o, NULL), ax_max_pool2d(xf, &o, NULL), 0, 0));
  cr_expect(tu_allclose(ax_avg_pool2d(x, &o), ax_avg_pool2d(xf, &o), 1e-2, 1e-2));
  ax_scope_end();
}

/* ---- gradient checks (f64) ---- */
typedef struct gc_ctx {
  kind k;
  ax_pool2d_opts o;
  int64_t oh, ow;
} gc_ctx;

static ax_tensor *pool_fn(ax_tensor **in, void *ctx) {
  gc_ctx *c = ctx;
  return run(c->k, in[0], &c->o, c->oh, c->ow, NULL);
}

static void gradcheck(kind k, ax_tensor *x, ax_pool2d_opts o, int64_t oh, int64_t ow) {
  gc_ctx ctx = {k, o, oh, ow};
  cr_expect(TU_GRADCHECK(pool_fn, &x, 1, &ctx), "kind %d kernel %d/%dx%d stride %d padding %d ceil %d", k, o.kernel,
            o.kernel_hw[0], o.kernel_hw[1], o.stride, o.padding, o.ceil_mode);
}

static ax_tensor *leaf4(int64_t n, int64_t c, int64_t h, int64_t w) {
  return tu_leaf(tu_randn(AX_F64, AX_SHAPE(n, c, h, w)));
}
/* [N, C, W, H] storage seen as [N, C, H, W] */
static ax_tensor *strided4(int64_t n, int64_t c, int64_t h, int64_t w) {
  return tu_leaf(ax_transpose(tu_randn(AX_F64, AX_SHAPE(n, c, w, h)), 2, 3));
}

Test(pool, gradcheck_max) {
  ax_scope_begin();
  gradcheck(MAX, leaf4(2, 2, 6, 6), (ax_pool2d_opts){.kernel = 2}, 0, 0);
  gradcheck(MAX, leaf4(2, 2, 7, 5), (ax_pool2d_opts){.kernel = 3, .stride = 2, .padding = 1, .ceil_mode = true}, 0, 0);
  gradcheck(MAX, leaf4(1, 3, 7, 6), (ax_pool2d_opts){.kernel_hw = {2, 3}, .stride = 1, .dilation_hw = {2, 1}}, 0, 0);
  gradcheck(MAX, leaf4(1, 1, 1, 1), (ax_pool2d_opts){.kernel = 1}, 0, 0);
  gradcheck(MAX, strided4(2, 2, 6, 5), (ax_pool2d_opts){.kernel = 2, .ceil_mode = true}, 0, 0);
  gradcheck(MAX, tu_leaf(tu_randn(AX_F64, AX_SHAPE(2, 5, 4))), (ax_pool2d_opts){.kernel = 2, .stride = 1}, 0, 0);
  ax_scope_end();
}

Test(pool, gradcheck_avg) {
  ax_scope_begin();
  gradcheck(AVG, leaf4(2, 2, 6, 6), (ax_pool2d_opts){.kernel = 2}, 0, 0);
  gradcheck(AVG, leaf4(2, 2, 7, 5), (ax_pool2d_opts){.kernel = 3, .stride = 2, .padding = 1, .ceil_mode = true}, 0, 0);
  gradcheck(AVG, leaf4(2, 2, 7, 5),
            (ax_pool2d_opts){.kernel = 3, .stride = 2, .padding = 1, .ceil_mode = true, .exclude_pad = true}, 0, 0);
  gradcheck(AVG, leaf4(1, 1, 1, 1), (ax_pool2d_opts){.kernel = 1}, 0, 0);
  gradcheck(AVG, strided4(1, 3, 5, 6), (ax_pool2d_opts){.kernel_hw = {3, 2}, .stride = 1, .padding = 1}, 0, 0);
  gradcheck(AVG, tu_leaf(tu_randn(AX_F64, AX_SHAPE(2, 5, 4))), (ax_pool2d_opts){.kernel = 2, .stride = 1}, 0, 0);
  ax_scope_end();
}

Test(pool, gradcheck_adaptive) {
  ax_scope_begin();
  gradcheck(ADAPTIVE, leaf4(2, 2, 7, 5), (ax_pool2d_opts){0}, 3, 2);
  gradcheck(ADAPTIVE, leaf4(1, 2, 3, 4), (ax_pool2d_opts){0}, 5, 6); /* larger than the input: windows overlap */
  gradcheck(ADAPTIVE, leaf4(2, 3, 4, 4), (ax_pool2d_opts){0}, 1, 1);
  gradcheck(ADAPTIVE, tu_leaf(ax_transpose(tu_randn(AX_F64, AX_SHAPE(3, 5, 6)), 1, 2)), (ax_pool2d_opts){0}, 2, 4);
  ax_scope_end();
}

/* ---- errors ---- */
Test(pool, errors_name_the_op_and_shapes) {
  ax_scope_begin();
  ax_tensor *x = tu_randn(AX_F32, AX_SHAPE(2, 3, 8, 8)), *ind = (ax_tensor *)1;
  cr_expect_null(ax_max_pool2d(NULL, &(ax_pool2d_opts){.kernel = 2}, &ind));
  cr_expect_null(ind);
  cr_expect_null(ax_max_pool2d(tu_randn(AX_F32, AX_SHAPE(8, 8)), &(ax_pool2d_opts){.kernel = 2}, NULL));
  cr_expect(tu_error_contains("ax_max_pool2d", "[8, 8]", NULL));
  cr_expect_null(ax_avg_pool2d(ax_cast(x, AX_I64), &(ax_pool2d_opts){.kernel = 2}));
  cr_expect(tu_error_contains("ax_avg_pool2d", "i64", "[2, 3, 8, 8]", NULL));
  cr_expect_null(ax_max_pool2d(x, &(ax_pool2d_opts){.kernel = 3, .padding = 2}, NULL));
  cr_expect(tu_error_contains("ax_max_pool2d", "padding", "[2, 3, 8, 8]", NULL));
  cr_expect_null(ax_max_pool2d(x, NULL, NULL));
  cr_expect(tu_error_contains("ax_max_pool2d", "kernel", "[2, 3, 8, 8]", NULL));
  cr_expect_null(ax_max_pool2d(x, &(ax_pool2d_opts){.kernel = 9}, NULL));
  cr_expect(tu_error_contains("ax_max_pool2d", "too small", "[2, 3, 8, 8]", NULL));
  cr_expect_null(ax_avg_pool2d(x, &(ax_pool2d_opts){.kernel = 2, .dilation = 2}));
  cr_expect(tu_error_contains("ax_avg_pool2d", "dilation", "[2, 3, 8, 8]", NULL));
  cr_expect_null(ax_adaptive_avg_pool2d(x, 0, 3));
  cr_expect(tu_error_contains("ax_adaptive_avg_pool2d", "[2, 3, 8, 8]", NULL));
  cr_expect_null(ax_adaptive_avg_pool2d(tu_randn(AX_F32, AX_SHAPE(2, 3, 4, 5, 6)), 2, 2));
  cr_expect(tu_error_contains("ax_adaptive_avg_pool2d", "[2, 3, 4, 5, 6]", NULL));
  ax_scope_end();
}
