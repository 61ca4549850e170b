/* SPDX-License-Identifier: BSD-3-Clause */
/* ax_conv2d and ax_conv_transpose2d: naive-loop references, PyTorch values,
 * gradient checks and errors. */
#include <criterion/criterion.h>
#include <math.h>

#include "testutil.h"

#include "fixtures/conv_ref.h"

TestSuite(conv, .init = tu_capture_errors);

#define F64 (&(ax_tensor_opts){.dtype = AX_F64})

typedef struct geom {
  int sh, sw, ph, pw, dh, dw, g, oph, opw;
} geom;

static ax_conv2d_opts to_opts(geom c) {
  return (ax_conv2d_opts){.stride_hw = {c.sh, c.sw}, .padding_hw = {c.ph, c.pw}, .dilation_hw = {c.dh, c.dw},
                          .groups = c.g, .output_padding_hw = {c.oph, c.opw}};
}

/* The direct 7-loop convolution on contiguous f64 copies; transposed scatters
 * x through the same index map instead of gathering. */
static ax_tensor *reference(ax_tensor *x, ax_tensor *w, ax_tensor *b, geom c, bool transposed) {
  ax_tensor *xc = ax_contiguous(ax_cast(x, AX_F64)), *wc = ax_contiguous(ax_cast(w, AX_F64));
  const double *px = ax_data_ptr(xc), *pw = ax_data_ptr(wc);
  int64_t n = x->shape[0], ci = x->shape[1], h = x->shape[2], wd = x->shape[3], kh = w->shape[2], kw = w->shape[3];
  int64_t co = transposed ? w->shape[1] * c.g : w->shape[0];
  int64_t oh = transposed ? (h - 1) * c.sh - 2 * c.ph + c.dh * (kh - 1) + c.oph + 1
                          : (h + 2 * c.ph - c.dh * (kh - 1) - 1) / c.sh + 1;
  int64_t ow = transposed ? (wd - 1) * c.sw - 2 * c.pw + c.dw * (kw - 1) + c.opw + 1
                          : (wd + 2 * c.pw - c.dw * (kw - 1) - 1) / c.sw + 1;
  ax_tensor *y = ax_zeros(AX_SHAPE(n, co, oh, ow), F64);
  double *py = ax_data_ptr(y);
  /* conv: "big" is the input side, "small" the output; transposed swaps them */
  int64_t cbig = transposed ? co : ci, hb = transposed ? oh : h, wb = transposed ? ow : wd;
  int64_t csm = transposed ? ci : co, hs = transposed ? h : oh, ws = transposed ? wd : ow;
  int64_t cgb = cbig / c.g, cgs = csm / c.g;
  for (int64_t in = 0; in < n; in++)
    for (int64_t s = 0; s < csm; s++)
      for (int64_t yy = 0; yy < hs; yy++)
        for (int64_t xx = 0; xx < ws; xx++)
          for (int64_t cb = 0; cb < cgb; cb++)
            for (int64_t i = 0; i < kh; i++)
              for (int64_t j = 0; j < kw; j++) {
                int64_t iy = yy * c.sh - c.ph + i * c.dh, ix = xx * c.sw - c.pw + j * c.dw;
                if (iy < 0 || iy >= hb || ix < 0 || ix >= wb) continue;
                int64_t g = s / cgs, big = g * cgb + cb;
                int64_t bi = ((in * cbig + big) * hb + iy) * wb + ix, si = ((in * csm + s) * hs + yy) * ws + xx;
                /* conv weight [co, ci/g]: [s][cb]; transposed weight [ci, co/g]: [s][cb] as well */
                double wv = pw[((s * cgb + cb) * kh + i) * kw + j];
                if (transposed)
                  py[bi] += wv * px[si];
                else
                  py[si] += wv * px[bi];
              }
  if (b) {
    ax_tensor *bc = ax_contiguous(ax_cast(b, AX_F64));
    const double *pb = ax_data_ptr(bc);
    for (int64_t i = 0; i < n * co * oh * ow; i++) py[i] += pb[(i / (oh * ow)) % co];
  }
  return y;
}

typedef struct conv_case {
  int64_t n, c, h, w, o, kh, kw;
  geom g;
} conv_case;

static const conv_case CASES[] = {
    {4, 3, 9, 8, 5, 3, 3, {1, 1, 1, 1, 1, 1, 1, 0, 0}},      /* 3x3 pad 1 */
    {3, 4, 11, 10, 6, 3, 2, {2, 3, 1, 0, 2, 1, 2, 0, 0}},    /* stride, dilation, groups, rectangular */
    {5, 6, 7, 7, 6, 3, 3, {2, 2, 1, 1, 1, 1, 6, 0, 0}},      /* depthwise, stride 2 */
    {2, 8, 5, 6, 4, 1, 1, {1, 1, 0, 0, 1, 1, 1, 0, 0}},      /* pointwise */
    {3, 4, 6, 6, 8, 1, 1, {2, 2, 0, 0, 1, 1, 2, 0, 0}},      /* strided 1x1, grouped */
    {1, 1, 28, 28, 32, 3, 3, {1, 1, 1, 1, 1, 1, 1, 0, 0}},   /* first CNN layer, one image */
    {6, 1, 12, 12, 32, 3, 3, {1, 1, 1, 1, 1, 1, 1, 0, 0}},   /* K = 9 < o: transposed weight-gradient layout */
    {2, 3, 5, 5, 2, 5, 5, {1, 1, 3, 3, 1, 1, 1, 0, 0}},      /* padding wider than half the kernel */
};
#define N_CASES (int)(sizeof CASES / sizeof CASES[0])

static ax_tensor *rnd(ax_dtype dt, int64_t a, int64_t b, int64_t c, int64_t d) { return tu_randn(dt, AX_SHAPE(a, b, c, d)); }

Test(conv, forward_matches_direct_loops_f32_f64) {
  for (int dt = 0; dt < 2; dt++)
    for (int i = 0; i < N_CASES; i++) {
      ax_scope_begin();
      const conv_case *k = &CASES[i];
      ax_dtype t = dt ? AX_F64 : AX_F32;
      ax_tensor *x = rnd(t, k->n, k->c, k->h, k->w), *w = rnd(t, k->o, k->c / k->g.g, k->kh, k->kw);
      ax_tensor *b = tu_randn(t, AX_SHAPE(k->o));
      ax_conv2d_opts o = to_opts(k->g);
      ax_tensor *y = ax_conv2d(x, w, i % 2 ? b : NULL, &o);
      cr_assert_not_null(y, "case %d", i);
      double tol = dt ? 1e-12 : 1e-4;
      cr_expect(tu_allclose(y, reference(x, w, i % 2 ? b : NULL, k->g, false), tol, tol), "case %d dtype %d", i, dt);
      ax_scope_end();
    }
}

Test(conv, transpose_forward_matches_direct_loops) {
  for (int dt = 0; dt < 2; dt++)
    for (int i = 0; i < N_CASES; i++) {
      conv_case k = CASES[i];
      k.g.oph = k.g.sh > 1 ? 1 : 0;
      if (k.g.ph * 2 >= (k.h - 1) * k.g.sh + k.g.dh * (k.kh - 1) + k.g.oph + 1) continue; /* empty output */
      ax_scope_begin();
      ax_dtype t = dt ? AX_F64 : AX_F32;
      /* transposed weight [c_in, c_out/g, kh, kw]; reuse the case with o as the input channels */
      ax_tensor *x = rnd(t, k.n, k.o, k.h, k.w), *w = rnd(t, k.o, k.c / k.g.g, k.kh, k.kw);
      ax_tensor *b = tu_randn(t, AX_SHAPE(k.c));
      ax_conv2d_opts o = to_opts(k.g);
      ax_tensor *y = ax_conv_transpose2d(x, w, i % 2 ? b : NULL, &o);
      cr_assert_not_null(y, "case %d", i);
      double tol = dt ? 1e-12 : 1e-4;
      cr_expect(tu_allclose(y, reference(x, w, i % 2 ? b : NULL, k.g, true), tol, tol), "case %d dtype %d", i, dt);
      ax_scope_end();
    }
}

/* x, w, b from the generator's formulas; checks y and the gradients of sum(y * cos(0.3 i)). */
static ax_tensor *fill(int ndim, const int64_t *shape, double a, double b) {
  ax_tensor *t = ax_empty(ndim, shape, F64);
  double *p = ax_data_ptr(t);
  for (int64_t i = 0; i < ax_numel(t); i++) p[i] = sin(a * i + b);
  return tu_leaf(t);
}

static void check_torch(bool tr, const int64_t *xs, const int64_t *ws, geom c, const int64_t *ys, const double *y_ref,
                        const double *gx, const double *gw, const double *gb) {
  ax_scope_begin();
  ax_tensor *x = fill(4, xs, 0.7, 0.1), *w = fill(4, ws, 1.3, 0.5);
  int64_t nb = tr ? ws[1] * (c.g ? c.g : 1) : ws[0];
  ax_tensor *b = fill(1, &nb, 2.1, 0.3);
  ax_conv2d_opts o = to_opts(c);
  ax_tensor *y = tr ? ax_conv_transpose2d(x, w, b, &o) : ax_conv2d(x, w, b, &o);
  cr_assert_not_null(y);
  for (int d = 0; d < 4; d++) cr_assert_eq(y->shape[d], ys[d]);
  int64_t n = ax_numel(y);
  cr_expect(tu_allclose_data(y, y_ref, n, 1e-12, 1e-12));
  ax_tensor *g = ax_empty(4, ys, F64);
  double *pg = ax_data_ptr(g);
  for (int64_t i = 0; i < n; i++) pg[i] = cos(0.3 * i);
  cr_assert_eq(ax_backward(ax_sum(ax_mul(y, g), 0, NULL, false), NULL), 0);
  cr_expect(tu_allclose_data(x->grad, gx, ax_numel(x), 1e-12, 1e-12));
  cr_expect(tu_allclose_data(w->grad, gw, ax_numel(w), 1e-12, 1e-12));
  cr_expect(tu_allclose_data(b->grad, gb, nb, 1e-12, 1e-12));
  ax_scope_end();
}

Test(conv, matches_pytorch) {
  check_torch(false, (int64_t[]){2, 4, 6, 5}, (int64_t[]){6, 2, 3, 2}, (geom){2, 1, 1, 2, 1, 2, 2, 0, 0}, conv_a_yshape,
              conv_a_y, conv_a_gx, conv_a_gw, conv_a_gb);
  check_torch(false, (int64_t[]){1, 3, 7, 7}, (int64_t[]){4, 3, 3, 3}, (geom){2, 2, 1, 1, 1, 1, 1, 0, 0}, conv_b_yshape,
              conv_b_y, conv_b_gx, conv_b_gw, conv_b_gb);
  check_torch(true, (int64_t[]){2, 4, 3, 4}, (int64_t[]){4, 3, 3, 2}, (geom){2, 3, 1, 0, 1, 1, 2, 1, 2},
              convt_a_yshape, convt_a_y, convt_a_gx, convt_a_gw, convt_a_gb);
  check_torch(true, (int64_t[]){1, 2, 4, 4}, (int64_t[]){2, 3, 3, 3}, (geom){2, 2, 1, 1, 2, 2, 1, 1, 1},
              convt_b_yshape, convt_b_y, convt_b_gx, convt_b_gw, convt_b_gb);
}

/* ---- gradient checks (f64) ---- */
typedef struct gc_ctx {
  geom g;
  bool transposed, bias;
} gc_ctx;

static ax_tensor *conv_fn(ax_tensor **in, void *ctx) {
  gc_ctx *c = ctx;
  ax_conv2d_opts o = to_opts(c->g);
  ax_tensor *b = c->bias ? in[2] : NULL;
  return c->transposed ? ax_conv_transpose2d(in[0], in[1], b, &o) : ax_conv2d(in[0], in[1], b, &o);
}

static void gradcheck(ax_tensor *x, int64_t o, int64_t kh, int64_t kw, geom g, bool transposed, bool bias) {
  int gr = g.g ? g.g : 1;
  int64_t cin = x->shape[x->ndim - 3];
  ax_tensor *w = transposed ? tu_leaf(tu_randn(AX_F64, AX_SHAPE(cin, o / gr, kh, kw)))
                            : tu_leaf(tu_randn(AX_F64, AX_SHAPE(o, cin / gr, kh, kw)));
  ax_tensor *in[3] = {x, w, tu_leaf(tu_randn(AX_F64, AX_SHAPE(o)))};
  gc_ctx ctx = {g, transposed, bias};
  cr_expect(TU_GRADCHECK(conv_fn, in, bias ? 3 : 2, &ctx), "transposed %d o %lld k %lldx%lld", transposed,
            (long long)o, (long long)kh, (long long)kw);
}

static ax_tensor *leaf4(int64_t n, int64_t c, int64_t h, int64_t w) { return tu_leaf(rnd(AX_F64, n, c, h, w)); }

Test(conv, gradcheck_conv2d) {
  ax_scope_begin();
  gradcheck(leaf4(2, 2, 5, 5), 3, 3, 3, (geom){1, 1, 1, 1, 1, 1, 1, 0, 0}, false, true);
  gradcheck(leaf4(2, 4, 7, 6), 4, 3, 2, (geom){2, 1, 1, 2, 2, 1, 2, 0, 0}, false, true);   /* stride, pad, dilation, groups */
  gradcheck(leaf4(2, 3, 5, 5), 3, 3, 3, (geom){2, 2, 1, 1, 1, 1, 3, 0, 0}, false, false);  /* depthwise */
  gradcheck(leaf4(3, 4, 3, 4), 2, 1, 1, (geom){1, 1, 0, 0, 1, 1, 1, 0, 0}, false, true);   /* pointwise */
  gradcheck(leaf4(1, 1, 1, 1), 2, 1, 1, (geom){1, 1, 0, 0, 1, 1, 1, 0, 0}, false, true);   /* one pixel */
  gradcheck(leaf4(3, 1, 6, 6), 12, 3, 3, (geom){1, 1, 1, 1, 1, 1, 1, 0, 0}, false, true);  /* K < o layout */
  /* non-contiguous input: [N, C, W, H] storage seen as [N, C, H, W] */
  gradcheck(tu_leaf(ax_transpose(rnd(AX_F64, 2, 2, 5, 4), 2, 3)), 3, 2, 3, (geom){1, 2, 0, 1, 1, 1, 1, 0, 0}, false, true);
  gradcheck(tu_leaf(tu_randn(AX_F64, AX_SHAPE(2, 5, 4))), 3, 3, 3, (geom){1, 1, 1, 1, 1, 1, 1, 0, 0}, false, true); /* [C,H,W] */
  ax_scope_end();
}

Test(conv, gradcheck_conv_transpose2d) {
  ax_scope_begin();
  gradcheck(leaf4(2, 2, 3, 3), 3, 3, 3, (geom){1, 1, 1, 1, 1, 1, 1, 0, 0}, true, true);
  gradcheck(leaf4(2, 4, 3, 3), 4, 3, 2, (geom){2, 3, 1, 0, 1, 2, 2, 1, 2}, true, true); /* output padding, groups */
  gradcheck(leaf4(1, 3, 3, 4), 3, 3, 3, (geom){2, 2, 1, 1, 1, 1, 3, 1, 0}, true, false); /* depthwise */
  gradcheck(leaf4(2, 3, 2, 3), 2, 2, 2, (geom){2, 2, 0, 0, 2, 2, 1, 1, 1}, true, true);  /* dilation */
  gradcheck(tu_leaf(ax_transpose(rnd(AX_F64, 1, 2, 4, 3), 2, 3)), 2, 3, 3, (geom){2, 1, 1, 0, 1, 1, 1, 1, 0}, true,
            true);
  gradcheck(tu_leaf(tu_randn(AX_F64, AX_SHAPE(2, 3, 3))), 2, 2, 2, (geom){1, 1, 0, 0, 1, 1, 1, 0, 0}, true, true);
  ax_scope_end();
}

Test(conv, unbatched_input_gives_unbatched_output) {
  ax_scope_begin();
  ax_tensor *x = tu_randn(AX_F32, AX_SHAPE(3, 6, 6)), *w = tu_randn(AX_F32, AX_SHAPE(4, 3, 3, 3));
  ax_tensor *y = ax_conv2d(x, w, NULL, &(ax_conv2d_opts){.padding = 1});
  cr_assert_not_null(y);
  cr_expect_eq(y->ndim, 3);
  cr_expect(tu_allclose(y, ax_squeeze(reference(ax_unsqueeze(x, 0), w, NULL, (geom){1, 1, 1, 1, 1, 1, 1, 0, 0}, false), 0),
                        1e-4, 1e-4));
  ax_scope_end();
}

/* ---- errors ---- */
Test(conv, shape_errors_name_the_op_and_shapes) {
  ax_scope_begin();
  ax_tensor *x = tu_randn(AX_F32, AX_SHAPE(2, 4, 5, 5)), *w = tu_randn(AX_F32, AX_SHAPE(3, 2, 3, 3));
  cr_expect_null(ax_conv2d(x, w, NULL, NULL)); /* 4 channels, weight wants 2 */
  cr_expect(tu_error_contains("ax_conv2d", "[2, 4, 5, 5]", "[3, 2, 3, 3]", NULL));
  cr_expect_null(ax_conv2d(x, w, NULL, &(ax_conv2d_opts){.groups = 2})); /* 3 outputs, 2 groups */
  cr_expect(tu_error_contains("ax_conv2d", "groups 2", NULL));
  cr_expect_null(ax_conv2d(x, tu_randn(AX_F32, AX_SHAPE(4, 3, 3, 3)), NULL, &(ax_conv2d_opts){.groups = 3}));
  cr_expect(tu_error_contains("ax_conv2d", "divisible", NULL));
  cr_expect_null(ax_conv2d(tu_randn(AX_F32, AX_SHAPE(4, 5)), w, NULL, NULL));
  cr_expect(tu_error_contains("ax_conv2d", "[4, 5]", NULL));
  cr_expect_null(ax_conv2d(x, tu_randn(AX_F32, AX_SHAPE(3, 4, 3)), NULL, NULL));
  cr_expect(tu_error_contains("ax_conv2d", "[3, 4, 3]", NULL));
  cr_expect_null(ax_conv2d(x, tu_randn(AX_F32, AX_SHAPE(3, 4, 7, 3)), NULL, NULL)); /* kernel taller than input */
  cr_expect(tu_error_contains("ax_conv2d", "[2, 4, 5, 5]", "[3, 4, 7, 3]", "empty", NULL));
  cr_expect_null(ax_conv2d(x, tu_randn(AX_F32, AX_SHAPE(3, 4, 3, 3)), tu_randn(AX_F32, AX_SHAPE(4)), NULL));
  cr_expect(tu_error_contains("ax_conv2d", "bias", "[4]", NULL));
  cr_expect_null(ax_conv2d(x, w, NULL, &(ax_conv2d_opts){.padding = -1}));
  cr_expect(tu_error_contains("ax_conv2d", "negative", NULL));
  cr_expect_null(ax_conv_transpose2d(x, tu_randn(AX_F32, AX_SHAPE(3, 2, 3, 3)), NULL, NULL));
  cr_expect(tu_error_contains("ax_conv_transpose2d", "[2, 4, 5, 5]", "[3, 2, 3, 3]", NULL));
  cr_expect_null(ax_conv_transpose2d(x, tu_randn(AX_F32, AX_SHAPE(4, 2, 3, 3)), NULL,
                                     &(ax_conv2d_opts){.stride = 2, .output_padding = 2}));
  cr_expect(tu_error_contains("ax_conv_transpose2d", "output_padding", NULL));
  cr_expect_null(ax_conv_transpose2d(tu_randn(AX_F32, AX_SHAPE(1, 4, 1, 1)), tu_randn(AX_F32, AX_SHAPE(4, 2, 1, 1)),
                                     NULL, &(ax_conv2d_opts){.padding = 1}));
  cr_expect(tu_error_contains("ax_conv_transpose2d", "empty", NULL));
  ax_scope_end();
}

Test(conv, dtype_errors) {
  ax_scope_begin();
  ax_tensor *x = tu_randn(AX_F32, AX_SHAPE(1, 2, 4, 4)), *w = tu_randn(AX_F64, AX_SHAPE(3, 2, 3, 3));
  cr_expect_null(ax_conv2d(x, w, NULL, NULL));
  cr_expect(tu_error_contains("ax_conv2d", NULL));
  ax_tensor *xi = ax_zeros(AX_SHAPE(1, 2, 4, 4), &(ax_tensor_opts){.dtype = AX_I64});
  cr_expect_null(ax_conv2d(xi, ax_cast(w, AX_I64), NULL, NULL));
  cr_expect(tu_error_contains("ax_conv2d", "i64", NULL));
  cr_expect_null(ax_conv2d(x, ax_cast(w, AX_F32), tu_randn(AX_F64, AX_SHAPE(3)), NULL));
  cr_expect(tu_error_contains("ax_conv2d", NULL));
  cr_expect_null(ax_conv2d(ax_cast(x, AX_BF16), ax_cast(w, AX_BF16), NULL, NULL));
  cr_expect(tu_error_contains("ax_conv2d", "bf16", "cpu", NULL));
  cr_expect_null(ax_conv2d(NULL, w, NULL, NULL));
  ax_scope_end();
}

Test(conv, empty_batch_gives_empty_output_and_zero_weight_grad) {
  ax_scope_begin();
  ax_tensor *x = tu_leaf(ax_zeros(AX_SHAPE(0, 3, 5, 5), F64)), *w = tu_leaf(tu_randn(AX_F64, AX_SHAPE(4, 3, 3, 3)));
  ax_tensor *b = tu_leaf(tu_randn(AX_F64, AX_SHAPE(4)));
  ax_tensor *y = ax_conv2d(x, w, b, &(ax_conv2d_opts){.padding = 1});
  cr_assert_not_null(y);
  cr_expect_eq(y->shape[0], 0);
  cr_expect_eq(y->shape[1], 4);
  cr_assert_eq(ax_backward(ax_sum(y, 0, NULL, false), NULL), 0);
  cr_assert_not_null(w->grad);
  cr_expect(tu_allclose(w->grad, ax_zeros(AX_SHAPE(4, 3, 3, 3), F64), 0, 0));
  ax_tensor *t = ax_conv_transpose2d(ax_zeros(AX_SHAPE(0, 4, 3, 3), F64), w, NULL, &(ax_conv2d_opts){.stride = 2});
  cr_assert_not_null(t);
  cr_expect_eq(t->shape[0], 0);
  cr_expect_eq(t->shape[2], 7);
  ax_scope_end();
}
