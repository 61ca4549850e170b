/* SPDX-License-Identifier: BSD-3-Clause */
/* ax_scaled_dot_product_attention: PyTorch values, gradient checks (causal,
 * masks, strided q/k/v, Tq != Tk, dropout), the composite softmax(q k^T s + m) v
 * on shapes that cross the kernel's tile edges, dropout's mask, rows with no
 * visible key, the output layout and the errors. */
#include <criterion/criterion.h>
#include <math.h>

#include "testutil.h"

#include "fixtures/attention_ref.h"

TestSuite(attention, .init = tu_capture_errors);

#define F32 (&(ax_tensor_opts){.dtype = AX_F32})

typedef double (*gen_fn)(int64_t i);
static double gen_q(int64_t i) { return sin(0.37 * i + 0.1); }
static double gen_k(int64_t i) { return cos(0.23 * i + 0.4); }
static double gen_v(int64_t i) { return sin(0.11 * i) + 0.5 * cos(0.7 * i); }
static double gen_g(int64_t i) { return cos(0.3 * i); }

/* f32 from the formula evaluated in double, like the fixture script. */
static ax_tensor *fill(int ndim, const int64_t *shape, gen_fn f) {
  ax_tensor *t = ax_empty(ndim, shape, F32);
  float *p = ax_data_ptr(t);
  for (int64_t i = 0; i < ax_numel(t); i++) p[i] = (float)f(i);
  return t;
}

/* A bool tensor with value f(index) (row-major). */
static ax_tensor *bool_tensor(int ndim, const int64_t *shape, bool (*f)(const int64_t *idx)) {
  ax_tensor *t = ax_empty(ndim, shape, &(ax_tensor_opts){.dtype = AX_BOOL});
  uint8_t *p = ax_data_ptr(t);
  int64_t idx[4] = {0};
  for (int64_t i = 0; i < ax_numel(t); i++) {
    int64_t r = i;
    for (int d = ndim - 1; d >= 0; d--) idx[d] = r % shape[d], r /= shape[d];
    p[i] = f(idx);
  }
  return t;
}

/* ---- the composite reference: softmax(q k^T * scale + mask) (* keep) v ---- */

static ax_tensor *causal_mask(int64_t tq, int64_t tk) {
  ax_tensor *i = ax_unsqueeze(ax_arange(0, (double)tq, 1, &(ax_tensor_opts){.dtype = AX_F64}), 1);
  ax_tensor *j = ax_arange(0, (double)tk, 1, &(ax_tensor_opts){.dtype = AX_F64});
  return ax_le(ax_sub_scalar(j, (double)(tk - tq)), i); /* j <= i + tk - tq */
}

static ax_tensor *composite(ax_tensor *q, ax_tensor *k, ax_tensor *v, const ax_sdpa_opts *o, ax_tensor *keep) {
  double scale = o->scale ? o->scale : 1 / sqrt((double)q->shape[3]);
  ax_tensor *s = ax_mul_scalar(ax_matmul(q, ax_transpose(k, 2, 3)), scale);
  ax_tensor *ninf = ax_scalar(-INFINITY, &(ax_tensor_opts){.dtype = q->dtype});
  if (o->attn_mask && o->attn_mask->dtype == AX_BOOL) s = ax_where(o->attn_mask, s, ninf);
  if (o->attn_mask && o->attn_mask->dtype != AX_BOOL) s = ax_add(s, o->attn_mask);
  if (o->causal) s = ax_where(causal_mask(q->shape[2], k->shape[2]), s, ninf);
  ax_tensor *w = ax_softmax(s, -1);
  if (keep) w = ax_mul(w, keep);
  return ax_matmul(w, v);
}

/* ---- PyTorch values ---- */

typedef struct torch_case {
  int64_t b, h, tq, tk, d;
  bool causal;
  int mask; /* 0 none, 1 float fm[i, j] = 0.5 sin(i + 2 j) [Tq, Tk], 2 bool [B, 1, 1, Tk] */
  double scale;
  const double *y, *gq, *gk, *gv;
} torch_case;

static bool key_visible(const int64_t *idx) { return (idx[3] + idx[0]) % 3 != 0; }

static void check_torch(torch_case c) {
  ax_scope_begin();
  ax_tensor *q = tu_leaf(fill(AX_SHAPE(c.b, c.h, c.tq, c.d), gen_q));
  ax_tensor *k = tu_leaf(fill(AX_SHAPE(c.b, c.h, c.tk, c.d), gen_k));
  ax_tensor *v = tu_leaf(fill(AX_SHAPE(c.b, c.h, c.tk, c.d), gen_v));
  ax_sdpa_opts o = {.causal = c.causal, .scale = c.scale};
  if (c.mask == 1) {
    o.attn_mask = ax_empty(AX_SHAPE(c.tq, c.tk), F32);
    float *p = ax_data_ptr(o.attn_mask);
    for (int64_t i = 0; i < c.tq; i++)
      for (int64_t j = 0; j < c.tk; j++) p[i * c.tk + j] = (float)(0.5 * sin((double)(i + 2 * j)));
  } else if (c.mask == 2) {
    o.attn_mask = bool_tensor(AX_SHAPE(c.b, 1, 1, c.tk), key_visible);
  }
  ax_tensor *y = ax_scaled_dot_product_attention(q, k, v, &o);
  cr_assert_not_null(y, "%s", ax_last_error());
  cr_expect(tu_allclose_data(y, c.y, ax_numel(y), 1e-5, 1e-5));
  ax_tensor *g = fill(4, y->shape, gen_g);
  cr_assert_eq(ax_backward(ax_sum(ax_mul(y, g), AX_ALL, false), NULL), 0);
  cr_expect(tu_allclose_data(q->grad, c.gq, ax_numel(q), 1e-5, 1e-5));
  cr_expect(tu_allclose_data(k->grad, c.gk, ax_numel(k), 1e-5, 1e-5));
  cr_expect(tu_allclose_data(v->grad, c.gv, ax_numel(v), 1e-5, 1e-5));
  ax_scope_end();
}

Test(attention, matches_pytorch) {
  check_torch((torch_case){2, 3, 5, 7, 8, false, 0, 0, plain_y, plain_gq, plain_gk, plain_gv});
  check_torch((torch_case){2, 2, 6, 6, 4, true, 0, 0, causal_square_y, causal_square_gq, causal_square_gk,
                           causal_square_gv});
  check_torch((torch_case){1, 2, 4, 7, 8, true, 0, 0.5, causal_rect_y, causal_rect_gq, causal_rect_gk,
                           causal_rect_gv});
  check_torch((torch_case){2, 2, 5, 6, 8, false, 1, 0.3, float_mask_y, float_mask_gq, float_mask_gk,
                           float_mask_gv});
  check_torch((torch_case){3, 2, 4, 5, 8, false, 2, 0, bool_mask_y, bool_mask_gq, bool_mask_gk, bool_mask_gv});
}

/* ---- gradient checks (f64) ---- */

typedef struct sdpa_ctx {
  ax_sdpa_opts o;
  uint64_t seed; /* dropout: every evaluation redraws the same mask */
} sdpa_ctx;

static ax_tensor *sdpa_fn(ax_tensor **in, void *vctx) {
  sdpa_ctx *c = vctx;
  if (c->o.dropout_p > 0) ax_manual_seed(c->seed);
  return ax_scaled_dot_product_attention(in[0], in[1], in[2], &c->o);
}

static bool row_two_hidden(const int64_t *idx) { return idx[2] != 2 && (idx[3] + idx[1]) % 4 != 1; }

static void gradcheck_case(ax_tensor *q, ax_tensor *k, ax_tensor *v, sdpa_ctx c, const char *what) {
  ax_tensor *in[3] = {q, k, v};
  cr_expect(TU_GRADCHECK(sdpa_fn, in, 3, &c), "%s", what);
}

Test(attention, gradcheck_options) {
  ax_scope_begin();
  int64_t B = 2, H = 2, Tq = 5, Tk = 7, D = 4;
  ax_tensor *q = tu_leaf(tu_randn(AX_F64, AX_SHAPE(B, H, Tq, D)));
  ax_tensor *k = tu_leaf(tu_randn(AX_F64, AX_SHAPE(B, H, Tk, D)));
  ax_tensor *v = tu_leaf(tu_randn(AX_F64, AX_SHAPE(B, H, Tk, D)));
  gradcheck_case(q, k, v, (sdpa_ctx){{0}}, "plain");
  gradcheck_case(q, k, v, (sdpa_ctx){{.causal = true}}, "causal, Tq < Tk");
  gradcheck_case(q, k, v, (sdpa_ctx){{.scale = 0.7}}, "scale");
  /* bool [1, H, Tq, Tk], with query row 2 seeing no key */
  ax_tensor *bm = bool_tensor(AX_SHAPE(1, H, Tq, Tk), row_two_hidden);
  gradcheck_case(q, k, v, (sdpa_ctx){{.attn_mask = bm}}, "bool mask");
  ax_tensor *fm = tu_randn(AX_F64, AX_SHAPE(B, 1, Tq, Tk));
  gradcheck_case(q, k, v, (sdpa_ctx){{.attn_mask = fm, .causal = true}}, "float mask + causal");
  gradcheck_case(q, k, v, (sdpa_ctx){{.dropout_p = 0.3}, .seed = 5}, "dropout");
  /* Tq > Tk under causal: the first rows see nothing */
  gradcheck_case(k, q, tu_leaf(tu_randn(AX_F64, AX_SHAPE(B, H, Tq, D))), (sdpa_ctx){{.causal = true}},
                 "causal, Tq > Tk");
  ax_tensor *one[3];
  for (int i = 0; i < 3; i++) one[i] = tu_leaf(tu_randn(AX_F64, AX_SHAPE(1, 1, 1, 1)));
  gradcheck_case(one[0], one[1], one[2], (sdpa_ctx){{.causal = true}}, "one element");
  ax_scope_end();
}

Test(attention, gradcheck_strided_inputs) {
  ax_scope_begin();
  int64_t B = 2, T = 6, H = 2, D = 4;
  /* q, k, v as GPT makes them: slices of one [B, T, 3, H, D] buffer, viewed [B, H, T, D] */
  ax_tensor *qkv = tu_randn(AX_F64, AX_SHAPE(B, T, 3, H, D));
  ax_tensor *in[3];
  for (int i = 0; i < 3; i++) in[i] = tu_leaf(ax_transpose(ax_squeeze(ax_narrow(qkv, 2, i, 1), 2), 1, 2));
  cr_assert(!ax_is_contiguous(in[0]));
  gradcheck_case(in[0], in[1], in[2], (sdpa_ctx){{.causal = true}}, "qkv views");
  /* a last dim without unit stride (the op makes it contiguous) */
  ax_tensor *kt = tu_leaf(ax_transpose(tu_randn(AX_F64, AX_SHAPE(B, H, D, T + 1)), 2, 3));
  ax_tensor *vt = tu_leaf(ax_transpose(tu_randn(AX_F64, AX_SHAPE(B, H, D, T + 1)), 2, 3));
  gradcheck_case(in[0], kt, vt, (sdpa_ctx){0}, "transposed k, v");
  ax_scope_end();
}

/* ---- the composite on shapes that cross tile edges ---- */

static void check_composite(ax_dtype dt, int64_t b, int64_t h, int64_t tq, int64_t tk, int64_t d, ax_sdpa_opts o,
                            double tol, const char *what) {
  ax_scope_begin();
  ax_tensor *q = tu_leaf(tu_randn(dt, AX_SHAPE(b, h, tq, d)));
  ax_tensor *k = tu_leaf(tu_randn(dt, AX_SHAPE(b, h, tk, d)));
  ax_tensor *v = tu_leaf(tu_randn(dt, AX_SHAPE(b, h, tk, d)));
  ax_tensor *q2 = tu_leaf(q), *k2 = tu_leaf(k), *v2 = tu_leaf(v);
  ax_tensor *y = ax_scaled_dot_product_attention(q, k, v, &o), *ref = composite(q2, k2, v2, &o, NULL);
  cr_assert_not_null(y, "%s: %s", what, ax_last_error());
  cr_expect(tu_allclose(y, ref, tol, tol), "%s: forward", what);
  ax_tensor *g = tu_randn(dt, 4, y->shape);
  cr_assert_eq(ax_backward(ax_sum(ax_mul(y, g), AX_ALL, false), NULL), 0);
  cr_assert_eq(ax_backward(ax_sum(ax_mul(ref, g), AX_ALL, false), NULL), 0);
  cr_expect(tu_allclose(q->grad, q2->grad, tol, tol), "%s: dq", what);
  cr_expect(tu_allclose(k->grad, k2->grad, tol, tol), "%s: dk", what);
  cr_expect(tu_allclose(v->grad, v2->grad, tol, tol), "%s: dv", what);
  ax_scope_end();
}

Test(attention, matches_the_composite_across_tiles) {
  check_composite(AX_F32, 1, 2, 130, 130, 64, (ax_sdpa_opts){0}, 2e-5, "f32 T=130");
  check_composite(AX_F32, 1, 2, 130, 130, 64, (ax_sdpa_opts){.causal = true}, 2e-5, "f32 T=130 causal");
  check_composite(AX_F32, 2, 1, 70, 300, 32, (ax_sdpa_opts){.causal = true, .scale = 0.1}, 2e-5,
                  "f32 Tq=70 Tk=300 causal");
  check_composite(AX_F64, 1, 2, 130, 257, 64, (ax_sdpa_opts){.causal = true}, 1e-11, "f64 Tq=130 Tk=257 causal");
  ax_scope_begin();
  ax_tensor *fm = tu_randn(AX_F32, AX_SHAPE(1, 130, 140));
  check_composite(AX_F32, 2, 3, 130, 140, 16, (ax_sdpa_opts){.attn_mask = fm}, 2e-5, "f32 float mask");
  ax_scope_end();
}

/* ---- dropout ---- */

Test(attention, dropout_is_the_rand_mask_of_the_documented_counter) {
  const double ps[2] = {0.2, 0.6};
  for (int di = 0; di < 2; di++)
    for (int pi = 0; pi < 2; pi++) {
      ax_scope_begin();
      ax_dtype dt = di ? AX_F64 : AX_F32;
      int64_t B = 2, H = 3, Tq = 70, Tk = 140, D = 16;
      ax_tensor *q = tu_leaf(tu_randn(dt, AX_SHAPE(B, H, Tq, D)));
      ax_tensor *k = tu_leaf(tu_randn(dt, AX_SHAPE(B, H, Tk, D)));
      ax_tensor *v = tu_leaf(tu_randn(dt, AX_SHAPE(B, H, Tk, D)));
      ax_tensor *q2 = tu_leaf(q), *k2 = tu_leaf(k), *v2 = tu_leaf(v);
      ax_sdpa_opts o = {.dropout_p = ps[pi], .causal = pi == 1};
      ax_manual_seed(77);
      ax_tensor *u = ax_rand(AX_SHAPE(B, H, Tq, Tk), &(ax_tensor_opts){.dtype = dt});
      ax_tensor *keep = ax_mul_scalar(ax_cast(ax_ge_scalar(u, ps[pi]), dt), 1 / (1 - ps[pi]));
      ax_manual_seed(77);
      ax_tensor *y = ax_scaled_dot_product_attention(q, k, v, &o);
      cr_assert_not_null(y, "%s", ax_last_error());
      ax_tensor *ref = composite(q2, k2, v2, &o, keep);
      double tol = di ? 1e-11 : 3e-5;
      cr_expect(tu_allclose(y, ref, tol, tol), "forward dtype %d p %g", dt, ps[pi]);
      ax_tensor *g = tu_randn(dt, 4, y->shape);
      cr_assert_eq(ax_backward(ax_sum(ax_mul(y, g), AX_ALL, false), NULL), 0);
      cr_assert_eq(ax_backward(ax_sum(ax_mul(ref, g), AX_ALL, false), NULL), 0);
      cr_expect(tu_allclose(q->grad, q2->grad, tol, tol), "dq dtype %d p %g", dt, ps[pi]);
      cr_expect(tu_allclose(k->grad, k2->grad, tol, tol), "dk dtype %d p %g", dt, ps[pi]);
      cr_expect(tu_allclose(v->grad, v2->grad, tol, tol), "dv dtype %d p %g", dt, ps[pi]);
      ax_scope_end();
    }
}

Test(attention, dropout_draws_one_offset_and_p_zero_draws_none) {
  ax_scope_begin();
  ax_tensor *q = tu_randn(AX_F32, AX_SHAPE(1, 1, 3, 4));
  uint64_t s0, o0, o1, o2;
  ax_rng_get_state(&s0, &o0);
  cr_assert_not_null(ax_scaled_dot_product_attention(q, q, q, NULL));
  ax_rng_get_state(NULL, &o1);
  cr_assert_not_null(ax_scaled_dot_product_attention(q, q, q, &(ax_sdpa_opts){.dropout_p = 0.5}));
  ax_rng_get_state(NULL, &o2);
  cr_expect(o1 == o0 && o2 == o1 + 1);
  ax_scope_end();
}

/* ---- rows without a visible key, layout ---- */

static bool hide_row_one(const int64_t *idx) { return idx[2] != 1; }

Test(attention, a_row_with_no_visible_key_gives_zero) {
  ax_scope_begin();
  ax_tensor *q = tu_leaf(tu_randn(AX_F32, AX_SHAPE(2, 2, 4, 8)));
  ax_tensor *k = tu_leaf(tu_randn(AX_F32, AX_SHAPE(2, 2, 6, 8)));
  ax_tensor *v = tu_leaf(tu_randn(AX_F32, AX_SHAPE(2, 2, 6, 8)));
  ax_tensor *m = bool_tensor(AX_SHAPE(1, 1, 4, 6), hide_row_one);
  ax_tensor *y = ax_scaled_dot_product_attention(q, k, v, &(ax_sdpa_opts){.attn_mask = m});
  cr_assert_not_null(y);
  ax_tensor *row1 = ax_narrow(y, 2, 1, 1), *rest = ax_narrow(y, 2, 2, 2);
  cr_expect(tu_allclose(row1, ax_zeros(AX_SHAPE(2, 2, 1, 8), NULL), 0, 0));
  /* the other rows are the composite's (which is NaN on row 1, like PyTorch) */
  ax_tensor *ref = composite(q, k, v, &(ax_sdpa_opts){.attn_mask = m}, NULL);
  cr_expect(tu_allclose(rest, ax_narrow(ref, 2, 2, 2), 1e-5, 1e-5));
  cr_assert_eq(ax_backward(ax_sum(y, AX_ALL, false), NULL), 0);
  cr_expect(tu_allclose(ax_narrow(q->grad, 2, 1, 1), ax_zeros(AX_SHAPE(2, 2, 1, 8), NULL), 0, 0));
  cr_expect(tu_allclose(ax_sum(ax_abs(q->grad), AX_ALL, false), ax_sum(ax_abs(q->grad), AX_ALL, false), 0, 0),
            "gradients are finite");
  /* causal with Tq > Tk: queries 0..Tq-Tk-1 see nothing */
  ax_tensor *yc = ax_scaled_dot_product_attention(k, q, q, &(ax_sdpa_opts){.causal = true});
  cr_expect(tu_allclose(ax_narrow(yc, 2, 0, 2), ax_zeros(AX_SHAPE(2, 2, 2, 8), NULL), 0, 0));
  ax_scope_end();
}

Test(attention, result_is_a_view_of_btHd_storage) {
  ax_scope_begin();
  ax_tensor *q = tu_randn(AX_F32, AX_SHAPE(2, 3, 5, 4));
  ax_tensor *y = ax_scaled_dot_product_attention(q, q, q, NULL);
  cr_assert_not_null(y);
  cr_expect(y->shape[0] == 2 && y->shape[1] == 3 && y->shape[2] == 5 && y->shape[3] == 4);
  cr_expect(ax_is_contiguous(ax_transpose(y, 1, 2)));
  ax_scope_end();
}

Test(attention, half_precision_on_the_cpu_runs_in_f32) {
  ax_scope_begin();
  ax_tensor *q = tu_randn(AX_F32, AX_SHAPE(1, 2, 9, 8)), *k = tu_randn(AX_F32, AX_SHAPE(1, 2, 11, 8));
  ax_sdpa_opts o = {.causal = true};
  ax_tensor *ref = ax_scaled_dot_product_attention(q, k, k, &o);
  ax_dtype dts[2] = {AX_BF16, AX_F16};
  for (int i = 0; i < 2; i++) {
    ax_tensor *y = ax_scaled_dot_product_attention(ax_cast(q, dts[i]), ax_cast(k, dts[i]), ax_cast(k, dts[i]), &o);
    cr_assert_not_null(y, "%s", ax_last_error());
    cr_expect_eq(y->dtype, dts[i]);
    cr_expect(ax_is_contiguous(ax_transpose(y, 1, 2)));
    cr_expect(tu_allclose(ax_cast(y, AX_F32), ref, 3e-2, 3e-2));
  }
  ax_scope_end();
}

Test(attention, autocast_runs_f32_inputs_in_the_region_dtype) {
  ax_scope_begin();
  ax_tensor *q = tu_leaf(tu_randn(AX_F32, AX_SHAPE(1, 2, 9, 8))), *k = tu_leaf(tu_randn(AX_F32, AX_SHAPE(1, 2, 11, 8)));
  ax_sdpa_opts o = {.causal = true, .attn_mask = tu_randn(AX_F32, AX_SHAPE(9, 11))};
  ax_tensor *ref = ax_scaled_dot_product_attention(q, k, k, &o);
  ax_autocast_begin(AX_BF16);
  ax_tensor *y = ax_scaled_dot_product_attention(q, k, k, &o);
  ax_autocast_end();
  cr_assert_not_null(y, "%s", ax_last_error());
  cr_expect_eq(y->dtype, AX_BF16);
  cr_expect(tu_allclose(ax_cast(y, AX_F32), ref, 3e-2, 3e-2));
  cr_assert_eq(ax_backward(ax_sum(ax_cast(y, AX_F32), AX_ALL, false), NULL), 0);
  cr_expect(q->grad && q->grad->dtype == AX_F32, "the gradient reaches the f32 leaf in f32");
  ax_scope_end();
}

/* ---- errors ---- */

Test(attention, errors_name_the_op_and_shapes) {
  ax_scope_begin();
  ax_tensor *q = tu_randn(AX_F32, AX_SHAPE(2, 3, 5, 8)), *k = tu_randn(AX_F32, AX_SHAPE(2, 3, 7, 8));
  cr_expect_null(ax_scaled_dot_product_attention(NULL, k, k, NULL));
  ax_tensor *kb = tu_randn(AX_F32, AX_SHAPE(4, 3, 7, 8));
  cr_expect_null(ax_scaled_dot_product_attention(q, kb, kb, NULL));
  cr_expect(tu_error_contains("ax_scaled_dot_product_attention", "[2, 3, 5, 8]", "[4, 3, 7, 8]", NULL));
  cr_expect_null(ax_scaled_dot_product_attention(q, k, tu_randn(AX_F32, AX_SHAPE(2, 3, 6, 8)), NULL));
  cr_expect(tu_error_contains("ax_scaled_dot_product_attention", "[2, 3, 7, 8]", "[2, 3, 6, 8]", NULL));
  ax_tensor *kd = tu_randn(AX_F32, AX_SHAPE(2, 3, 7, 4));
  cr_expect_null(ax_scaled_dot_product_attention(q, kd, kd, NULL));
  cr_expect(tu_error_contains("ax_scaled_dot_product_attention", "D", "[2, 3, 5, 8]", "[2, 3, 7, 4]", NULL));
  cr_expect_null(ax_scaled_dot_product_attention(ax_reshape(q, AX_SHAPE(6, 5, 8)), k, k, NULL));
  cr_expect(tu_error_contains("ax_scaled_dot_product_attention", "4-D", "[6, 5, 8]", NULL));
  cr_expect_null(ax_scaled_dot_product_attention(q, ax_cast(k, AX_F64), k, NULL));
  cr_expect(tu_error_contains("ax_scaled_dot_product_attention", "f32", "f64", NULL));
  cr_expect_null(ax_scaled_dot_product_attention(ax_cast(q, AX_I64), k, k, NULL));
  cr_expect(tu_error_contains("ax_scaled_dot_product_attention", "i64", NULL));
  ax_tensor *bad_mask = tu_randn(AX_F32, AX_SHAPE(5, 6));
  cr_expect_null(ax_scaled_dot_product_attention(q, k, k, &(ax_sdpa_opts){.attn_mask = bad_mask}));
  cr_expect(tu_error_contains("ax_scaled_dot_product_attention", "[5, 6]", "[2, 3, 5, 7]", NULL));
  ax_tensor *int_mask = ax_zeros(AX_SHAPE(5, 7), &(ax_tensor_opts){.dtype = AX_I32});
  cr_expect_null(ax_scaled_dot_product_attention(q, k, k, &(ax_sdpa_opts){.attn_mask = int_mask}));
  cr_expect(tu_error_contains("ax_scaled_dot_product_attention", "i32", "[5, 7]", NULL));
  cr_expect_null(ax_scaled_dot_product_attention(q, k, k, &(ax_sdpa_opts){.dropout_p = 1.5}));
  cr_expect(tu_error_contains("ax_scaled_dot_product_attention", "1.5", "[2, 3, 5, 8]", NULL));
  ax_scope_end();
}
