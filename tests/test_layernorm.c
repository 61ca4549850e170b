/* SPDX-License-Identifier: BSD-3-Clause */
/* ax_layer_norm, ax_rms_norm, ax_embedding and their modules: PyTorch values,
 * gradient checks (x, weight, bias; non-contiguous inputs; C = 1; one row),
 * f32 against f64, embedding determinism and agreement with index_add, errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "testutil.h"

#include "fixtures/layernorm_ref.h"

TestSuite(layernorm, .init = tu_capture_errors);

#define F64 (&(ax_tensor_opts){.dtype = AX_F64})
#define I64 (&(ax_tensor_opts){.dtype = AX_I64})
#define I32 (&(ax_tensor_opts){.dtype = AX_I32})

typedef double (*gen_fn)(int64_t i);
static double gen_x(int64_t i) { return 2 * sin(0.7 * i + 0.1) + 0.5; }
static double gen_w(int64_t i) { return 1 + 0.5 * sin(1.3 * i); }
static double gen_b(int64_t i) { return sin(2.1 * i + 0.3); }
static double gen_e(int64_t i) { return sin(0.37 * i + 0.2); }
static double gen_g(int64_t i) { return cos(0.3 * i); }

static ax_tensor *fill(int ndim, const int64_t *shape, gen_fn f) {
  ax_tensor *t = ax_empty(ndim, shape, F64);
  double *p = ax_data_ptr(t);
  for (int64_t i = 0; i < ax_numel(t); i++) p[i] = f(i);
  return tu_leaf(t);
}

/* backward of sum(y * g) with the fixtures' g */
static void backward_weighted(ax_tensor *y) {
  ax_tensor *g = fill(y->ndim, y->shape, gen_g);
  cr_assert_eq(ax_backward(ax_sum(ax_mul(y, ax_detach(g)), 0, NULL, false), NULL), 0);
}

Test(layernorm, layer_norm_matches_pytorch) {
  ax_scope_begin();
  ax_tensor *x = fill(AX_SHAPE(3, 2, 5), gen_x), *w = fill(AX_SHAPE(5), gen_w), *b = fill(AX_SHAPE(5), gen_b);
  ax_tensor *y = ax_layer_norm(x, w, b, 1e-5);
  cr_assert_not_null(y);
  cr_expect(ax_same_shape(x, y));
  cr_expect(tu_allclose_data(y, ln_y, 30, 1e-12, 1e-10));
  backward_weighted(y);
  cr_expect(tu_allclose_data(x->grad, ln_gx, 30, 1e-12, 1e-9));
  cr_expect(tu_allclose_data(w->grad, ln_gw, 5, 1e-12, 1e-10));
  cr_expect(tu_allclose_data(b->grad, ln_gb, 5, 1e-12, 1e-10));

  ax_tensor *x2 = fill(AX_SHAPE(4, 7), gen_x), *y2 = ax_layer_norm(x2, NULL, NULL, 1e-3);
  cr_expect(tu_allclose_data(y2, ln_plain_y, 28, 1e-12, 1e-10));
  backward_weighted(y2);
  cr_expect(tu_allclose_data(x2->grad, ln_plain_gx, 28, 1e-12, 1e-9));
  ax_scope_end();
}

Test(layernorm, rms_norm_matches_pytorch) {
  ax_scope_begin();
  ax_tensor *x = fill(AX_SHAPE(3, 6), gen_x), *w = fill(AX_SHAPE(6), gen_w);
  ax_tensor *y = ax_rms_norm(x, w, 1e-6);
  cr_assert_not_null(y);
  cr_expect(tu_allclose_data(y, rms_y, 18, 1e-12, 1e-10));
  backward_weighted(y);
  cr_expect(tu_allclose_data(x->grad, rms_gx, 18, 1e-12, 1e-9));
  cr_expect(tu_allclose_data(w->grad, rms_gw, 6, 1e-12, 1e-10));
  ax_scope_end();
}

Test(layernorm, embedding_matches_pytorch) {
  ax_scope_begin();
  ax_tensor *e = fill(AX_SHAPE(5, 3), gen_e);
  ax_tensor *idx = ax_from_data((int64_t[]){1, 3, 1, 0, 4, 1}, AX_SHAPE(2, 3), I64);
  ax_tensor *y = ax_embedding(e, idx);
  cr_assert_not_null(y);
  cr_assert_eq(y->ndim, 3);
  cr_expect(y->shape[0] == 2 && y->shape[1] == 3 && y->shape[2] == 3);
  cr_expect(tu_allclose_data(y, emb_y, 18, 0, 0));
  backward_weighted(y);
  cr_expect(tu_allclose_data(e->grad, emb_gw, 15, 1e-14, 1e-12));
  ax_scope_end();
}

/* ---------------- gradient checks ---------------- */

typedef struct norm_ctx {
  bool rms, use_w, use_b, transpose;
  double eps;
} norm_ctx;

static ax_tensor *norm_fn(ax_tensor **in, void *vctx) {
  norm_ctx *c = vctx;
  ax_tensor *w = c->use_w ? in[1] : NULL, *b = c->use_b ? in[2] : NULL;
  return c->rms ? ax_rms_norm(in[0], w, c->eps) : ax_layer_norm(in[0], w, b, c->eps);
}

/* x of shape (nd, shape) (a transposed view of the swapped shape when transpose) */
static void gradcheck_norm(norm_ctx ctx, int nd, const int64_t *shape) {
  ax_scope_begin();
  int64_t cols = shape[nd - 1];
  ax_tensor *x;
  if (ctx.transpose) { /* a non-contiguous x: the transpose of a [C, ..., first] tensor */
    int64_t sw[8];
    memcpy(sw, shape, sizeof(int64_t) * (size_t)nd);
    sw[0] = shape[nd - 1], sw[nd - 1] = shape[0];
    x = tu_leaf(ax_transpose(tu_randn(AX_F64, nd, sw), 0, nd - 1));
    cr_assert(!ax_is_contiguous(x));
  } else {
    x = tu_leaf(tu_randn(AX_F64, nd, shape));
  }
  ax_tensor *in[3] = {x, tu_leaf(tu_uniform(AX_F64, 1, &cols, 0.5, 1.5)), tu_leaf(tu_randn(AX_F64, 1, &cols))};
  if (!ctx.use_w) ax_set_requires_grad(in[1], false);
  if (!ctx.use_b || ctx.rms) ax_set_requires_grad(in[2], false);
  cr_expect(TU_GRADCHECK(norm_fn, in, 3, &ctx), "%s x ndim %d C %lld w %d b %d transposed %d", ctx.rms ? "rms" : "ln",
            nd, (long long)cols, ctx.use_w, ctx.use_b, ctx.transpose);
  ax_scope_end();
}

Test(layernorm, layer_norm_gradcheck) {
  gradcheck_norm((norm_ctx){false, true, true, false, 1e-5}, AX_SHAPE(4, 6));
  gradcheck_norm((norm_ctx){false, true, true, false, 1e-5}, AX_SHAPE(2, 3, 5));
  gradcheck_norm((norm_ctx){false, true, true, true, 1e-5}, AX_SHAPE(5, 4));
  gradcheck_norm((norm_ctx){false, true, true, false, 1e-5}, AX_SHAPE(1, 9)); /* one row */
  gradcheck_norm((norm_ctx){false, true, true, false, 1e-5}, AX_SHAPE(7));    /* 1-D */
  gradcheck_norm((norm_ctx){false, true, true, false, 1e-1}, AX_SHAPE(3, 1)); /* C = 1: y = b */
  gradcheck_norm((norm_ctx){false, false, false, false, 1e-5}, AX_SHAPE(3, 5));
  gradcheck_norm((norm_ctx){false, true, false, true, 1e-3}, AX_SHAPE(2, 2, 3));
  gradcheck_norm((norm_ctx){false, false, true, false, 1e-5}, AX_SHAPE(4, 3));
}

Test(layernorm, rms_norm_gradcheck) {
  gradcheck_norm((norm_ctx){true, true, false, false, 1e-6}, AX_SHAPE(4, 6));
  gradcheck_norm((norm_ctx){true, true, false, true, 1e-6}, AX_SHAPE(5, 3));
  gradcheck_norm((norm_ctx){true, true, false, false, 1e-6}, AX_SHAPE(2, 2, 4));
  gradcheck_norm((norm_ctx){true, true, false, false, 1e-6}, AX_SHAPE(1, 5));
  gradcheck_norm((norm_ctx){true, true, false, false, 1e-2}, AX_SHAPE(3, 1));
  gradcheck_norm((norm_ctx){true, false, false, false, 1e-6}, AX_SHAPE(3, 4));
}

/* only the gradients that are asked for are computed, and they agree with all three together */
Test(layernorm, partial_gradients) {
  ax_scope_begin();
  ax_tensor *x0 = tu_randn(AX_F64, AX_SHAPE(6, 5)), *w0 = tu_uniform(AX_F64, AX_SHAPE(5), 0.5, 1.5);
  ax_tensor *b0 = tu_randn(AX_F64, AX_SHAPE(5)), *g = tu_randn(AX_F64, AX_SHAPE(6, 5));
  ax_tensor *x = tu_leaf(x0), *w = tu_leaf(w0), *b = tu_leaf(b0);
  cr_assert_eq(ax_backward(ax_layer_norm(x, w, b, 1e-5), g), 0);
  for (int only = 0; only < 3; only++) {
    ax_tensor *xs = only == 0 ? tu_leaf(x0) : x0, *ws = only == 1 ? tu_leaf(w0) : w0, *bs = only == 2 ? tu_leaf(b0) : b0;
    cr_assert_eq(ax_backward(ax_layer_norm(xs, ws, bs, 1e-5), g), 0);
    ax_tensor *got = only == 0 ? xs->grad : only == 1 ? ws->grad : bs->grad;
    ax_tensor *want = only == 0 ? x->grad : only == 1 ? w->grad : b->grad;
    cr_expect(tu_allclose(got, want, 0, 0), "only input %d", only);
    cr_expect((only == 0 || !xs->grad) && (only == 1 || !ws->grad) && (only == 2 || !bs->grad));
  }
  ax_scope_end();
}

/* f32 (and bf16 storage) against f64 on rows large enough to run in parallel, with a big offset */
Test(layernorm, f32_matches_f64) {
  ax_scope_begin();
  ax_tensor *x64 = ax_add_scalar(tu_randn(AX_F64, AX_SHAPE(96, 768)), 100.0);
  ax_tensor *w64 = tu_uniform(AX_F64, AX_SHAPE(768), 0.5, 1.5), *b64 = tu_randn(AX_F64, AX_SHAPE(768));
  ax_tensor *g64 = tu_randn(AX_F64, AX_SHAPE(96, 768));
  ax_dtype dts[2] = {AX_F32, AX_BF16};
  for (int k = 0; k < 2; k++) {
    ax_tensor *x = tu_leaf(ax_cast(x64, dts[k])), *w = tu_leaf(ax_cast(w64, dts[k])), *b = tu_leaf(ax_cast(b64, dts[k]));
    ax_tensor *xr = tu_leaf(ax_cast(x, AX_F64)), *wr = tu_leaf(ax_cast(w, AX_F64)), *br = tu_leaf(ax_cast(b, AX_F64));
    ax_tensor *y = ax_layer_norm(x, w, b, 1e-5), *yr = ax_layer_norm(xr, wr, br, 1e-5);
    cr_assert_not_null(y);
    cr_expect_eq(y->dtype, dts[k]);
    double tol = k == 0 ? 1e-5 : 2e-2;
    cr_expect(tu_allclose(ax_cast(y, AX_F64), yr, tol, tol), "%s forward", ax_dtype_name(dts[k]));
    cr_assert_eq(ax_backward(y, ax_cast(g64, dts[k])), 0);
    cr_assert_eq(ax_backward(yr, ax_cast(ax_cast(g64, dts[k]), AX_F64)), 0);
    cr_expect(tu_allclose(ax_cast(x->grad, AX_F64), xr->grad, tol, tol), "%s gx", ax_dtype_name(dts[k]));
    cr_expect(tu_allclose(ax_cast(w->grad, AX_F64), wr->grad, 10 * tol, tol), "%s gw", ax_dtype_name(dts[k]));
    cr_expect(tu_allclose(ax_cast(b->grad, AX_F64), br->grad, 10 * tol, tol), "%s gb", ax_dtype_name(dts[k]));
  }
  ax_scope_end();
}

/* ---------------- embedding ---------------- */

typedef struct emb_ctx {
  ax_tensor *idx;
} emb_ctx;

static ax_tensor *emb_fn(ax_tensor **in, void *vctx) { return ax_embedding(in[0], ((emb_ctx *)vctx)->idx); }

Test(layernorm, embedding_gradcheck) {
  ax_scope_begin();
  ax_tensor *w = tu_leaf(tu_randn(AX_F64, AX_SHAPE(6, 4)));
  emb_ctx c64 = {ax_from_data((int64_t[]){5, 0, 5, 2, 5, 1}, AX_SHAPE(2, 3), I64)};
  cr_expect(TU_GRADCHECK(emb_fn, &w, 1, &c64), "i64 [2, 3]");
  emb_ctx c32 = {ax_from_data((int32_t[]){3, 3, 3, 0}, AX_SHAPE(4), I32)};
  cr_expect(TU_GRADCHECK(emb_fn, &w, 1, &c32), "i32 [4]");
  emb_ctx c0 = {ax_from_data((int64_t[]){4}, 0, NULL, I64)}; /* a 0-dim index: one row [C] */
  cr_expect(TU_GRADCHECK(emb_fn, &w, 1, &c0), "0-dim");
  ax_tensor *wt = tu_leaf(ax_transpose(tu_randn(AX_F64, AX_SHAPE(3, 5)), 0, 1)); /* [5, 3] non-contiguous */
  emb_ctx cs = {ax_from_data((int64_t[]){4, 1, 4, 4}, AX_SHAPE(2, 2), I64)};
  cr_expect(TU_GRADCHECK(emb_fn, &wt, 1, &cs), "non-contiguous weight");
  ax_scope_end();
}

/* many repeats of a few indices: two runs give the same bits, equal to index_select's
 * gradient (the index_add kernel) */
Test(layernorm, embedding_backward_deterministic) {
  ax_scope_begin();
  int64_t n = 20000;
  ax_tensor *idx = ax_cast(ax_mul_scalar(ax_square(ax_rand(AX_SHAPE(n), F64)), 37.0), AX_I64);
  ax_tensor *w0 = tu_randn(AX_F32, AX_SHAPE(40, 33)), *g = tu_randn(AX_F32, AX_SHAPE(n, 33));
  ax_tensor *grads[3];
  for (int run = 0; run < 3; run++) {
    ax_tensor *w = tu_leaf(w0);
    ax_tensor *y = run < 2 ? ax_embedding(w, idx) : ax_index_select(w, 0, idx);
    cr_assert_eq(ax_backward(y, g), 0);
    grads[run] = w->grad;
  }
  cr_expect_eq(memcmp(ax_data_ptr(grads[0]), ax_data_ptr(grads[1]), ax_nbytes(grads[0])), 0, "two runs differ");
  cr_expect_eq(memcmp(ax_data_ptr(grads[0]), ax_data_ptr(grads[2]), ax_nbytes(grads[0])), 0,
               "embedding's gradient differs from index_add's");
  /* the rows no index picks get zeros */
  cr_expect_eq(tu_get(grads[0], 39 * 33), 0.0);
  ax_scope_end();
}

Test(layernorm, half_types_forward_and_backward) {
  ax_scope_begin();
  ax_tensor *w64 = tu_randn(AX_F64, AX_SHAPE(7, 5)), *g64 = tu_randn(AX_F64, AX_SHAPE(9, 5));
  ax_tensor *idx = ax_from_data((int32_t[]){1, 1, 6, 0, 1, 2, 6, 1, 1}, AX_SHAPE(9), I32);
  ax_dtype dts[2] = {AX_BF16, AX_F16};
  for (int k = 0; k < 2; k++) {
    ax_tensor *w = tu_leaf(ax_cast(w64, dts[k])), *g = ax_cast(g64, dts[k]);
    ax_tensor *wr = tu_leaf(ax_cast(w, AX_F64));
    ax_tensor *y = ax_embedding(w, idx), *yr = ax_embedding(wr, idx);
    cr_assert_not_null(y);
    cr_expect(tu_allclose(ax_cast(y, AX_F64), yr, 0, 0));
    cr_assert_eq(ax_backward(y, g), 0);
    cr_assert_eq(ax_backward(yr, ax_cast(g, AX_F64)), 0);
    /* summed in f32 and rounded once: within half an ulp of the exact sum */
    cr_expect(tu_allclose(ax_cast(w->grad, AX_F64), wr->grad, 1e-6, k == 0 ? 4e-3 : 5e-4), "%s",
              ax_dtype_name(dts[k]));
  }
  ax_scope_end();
}

/* ---------------- errors ---------------- */

Test(layernorm, errors) {
  ax_scope_begin();
  ax_tensor *x = tu_randn(AX_F32, AX_SHAPE(2, 3)), *w4 = tu_randn(AX_F32, AX_SHAPE(4));
  cr_expect_null(ax_layer_norm(x, w4, NULL, 1e-5));
  cr_expect(tu_error_contains("ax_layer_norm", "weight", "[4]", "[2, 3]", NULL), "%s", ax_last_error());
  cr_expect_null(ax_layer_norm(x, NULL, tu_randn(AX_F32, AX_SHAPE(3, 1)), 1e-5));
  cr_expect(tu_error_contains("ax_layer_norm", "bias", "[3, 1]", "[2, 3]", NULL), "%s", ax_last_error());
  cr_expect_null(ax_rms_norm(x, w4, 1e-5));
  cr_expect(tu_error_contains("ax_rms_norm", "[4]", "[2, 3]", NULL), "%s", ax_last_error());
  cr_expect_null(ax_layer_norm(ax_cast(x, AX_I64), NULL, NULL, 1e-5));
  cr_expect(tu_error_contains("ax_layer_norm", "i64", "[2, 3]", NULL), "%s", ax_last_error());
  cr_expect_null(ax_layer_norm(x, tu_randn(AX_F64, AX_SHAPE(3)), NULL, 1e-5));
  cr_expect(tu_error_contains("ax_layer_norm", "f64", NULL), "%s", ax_last_error());
  cr_expect_null(ax_layer_norm(x, NULL, NULL, -1.0));
  cr_expect(tu_error_contains("ax_layer_norm", "eps", NULL), "%s", ax_last_error());
  cr_expect_null(ax_layer_norm(ax_full(0, NULL, 1.0, NULL), NULL, NULL, 1e-5));
  cr_expect(tu_error_contains("ax_layer_norm", "[]", NULL), "%s", ax_last_error());
  cr_expect_null(ax_layer_norm(NULL, NULL, NULL, 1e-5));

  ax_tensor *e = tu_randn(AX_F32, AX_SHAPE(5, 3));
  cr_expect_null(ax_embedding(e, ax_from_data((int64_t[]){0, 5}, AX_SHAPE(2), I64)));
  cr_expect(tu_error_contains("ax_embedding", "index 5", "5 embeddings", "[5, 3]", NULL), "%s", ax_last_error());
  cr_expect_null(ax_embedding(e, ax_from_data((int32_t[]){-1, 2}, AX_SHAPE(1, 2), I32)));
  cr_expect(tu_error_contains("ax_embedding", "index -1", "[1, 2]", NULL), "%s", ax_last_error());
  cr_expect_null(ax_embedding(e, ax_from_data((float[]){0, 1}, AX_SHAPE(2), NULL)));
  cr_expect(tu_error_contains("ax_embedding", "i64 or i32", "f32", NULL), "%s", ax_last_error());
  cr_expect_null(ax_embedding(tu_randn(AX_F32, AX_SHAPE(5)), ax_from_data((int64_t[]){0}, AX_SHAPE(1), I64)));
  cr_expect(tu_error_contains("ax_embedding", "2-D", "[5]", NULL), "%s", ax_last_error());
  cr_expect_null(ax_embedding(e, NULL));
  ax_scope_end();
}

Test(layernorm, empty_inputs) {
  ax_scope_begin();
  ax_tensor *x = tu_leaf(ax_zeros(AX_SHAPE(0, 4), F64)), *w = tu_leaf(ax_ones(AX_SHAPE(4), F64));
  ax_tensor *b = tu_leaf(ax_zeros(AX_SHAPE(4), F64));
  ax_tensor *y = ax_layer_norm(x, w, b, 1e-5);
  cr_assert_not_null(y);
  cr_expect_eq(ax_numel(y), 0);
  cr_assert_eq(ax_backward(ax_sum(y, 0, NULL, false), NULL), 0);
  cr_expect(tu_allclose_data(w->grad, (double[]){0, 0, 0, 0}, 4, 0, 0));
  ax_tensor *e = tu_leaf(ax_ones(AX_SHAPE(3, 2), F64));
  ax_tensor *ye = ax_embedding(e, ax_zeros(AX_SHAPE(0), I64));
  cr_assert_not_null(ye);
  cr_expect(ye->ndim == 2 && ye->shape[0] == 0 && ye->shape[1] == 2);
  cr_assert_eq(ax_backward(ax_sum(ye, 0, NULL, false), NULL), 0);
  cr_expect(tu_allclose_data(e->grad, (double[]){0, 0, 0, 0, 0, 0}, 6, 0, 0));
  ax_scope_end();
}

/* ---------------- modules ---------------- */

Test(layernorm, modules) {
  ax_scope_begin();
  char repr[160];
  ax_module *ln = ax_nn_layer_norm(5, 1e-5, true);
  cr_assert_not_null(ln);
  ax_module_repr(ln, repr, sizeof repr);
  cr_expect_str_eq(repr, "LayerNorm((5,), eps=1e-05, elementwise_affine=True)");
  const char *names[4];
  ax_tensor *ps[4];
  cr_assert_eq(ax_module_named_parameters(ln, names, ps, 4), 2);
  cr_expect_str_eq(names[0], "weight");
  cr_expect_str_eq(names[1], "bias");
  cr_expect(tu_allclose_data(ps[0], (double[]){1, 1, 1, 1, 1}, 5, 0, 0));
  cr_expect(tu_allclose_data(ps[1], (double[]){0, 0, 0, 0, 0}, 5, 0, 0));
  ax_tensor *x = ax_cast(fill(AX_SHAPE(3, 2, 5), gen_x), AX_F32);
  ax_tensor *y = ax_module_forward(ln, x);
  cr_assert_not_null(y);
  ax_tensor *want = ax_layer_norm(x, NULL, NULL, 1e-5);
  cr_expect(tu_allclose(y, want, 1e-6, 1e-6));
  ax_module_free(ln);

  ax_module *plain = ax_nn_layer_norm(8, 1e-6, false);
  cr_expect_eq(ax_module_parameters(plain, NULL, 0), 0);
  ax_module_repr(plain, repr, sizeof repr);
  cr_expect_str_eq(repr, "LayerNorm((8,), eps=1e-06, elementwise_affine=False)");
  ax_module_free(plain);

  ax_module *rms = ax_nn_rms_norm(6, 1e-6);
  cr_assert_not_null(rms);
  cr_assert_eq(ax_module_named_parameters(rms, names, ps, 4), 1);
  cr_expect_str_eq(names[0], "weight");
  ax_module_repr(rms, repr, sizeof repr);
  cr_expect_str_eq(repr, "RMSNorm((6,), eps=1e-06, elementwise_affine=True)");
  cr_assert_eq(ax_module_to_dtype(rms, AX_F64), 0);
  ax_tensor *xr = fill(AX_SHAPE(3, 6), gen_x);
  ax_no_grad_begin(); /* an in-place write to a parameter */
  cr_expect_eq(ax_copy_(ax_module_tensor(rms, "weight"), fill(AX_SHAPE(6), gen_w)), 0, "%s", ax_last_error());
  ax_no_grad_end();
  cr_expect(tu_allclose_data(ax_module_forward(rms, xr), rms_y, 18, 1e-12, 1e-10));
  ax_module_free(rms);

  ax_manual_seed(7);
  ax_module *emb = ax_nn_embedding(1000, 16);
  cr_assert_not_null(emb);
  ax_module_repr(emb, repr, sizeof repr);
  cr_expect_str_eq(repr, "Embedding(1000, 16)");
  ax_tensor *ew = ax_module_tensor(emb, "weight");
  cr_assert_not_null(ew);
  cr_expect(ew->ndim == 2 && ew->shape[0] == 1000 && ew->shape[1] == 16 && ew->requires_grad);
  double mean = ax_item(ax_mean(ew, 0, NULL, false)), sd = sqrt(ax_item(ax_mean(ax_square(ew), 0, NULL, false)));
  cr_expect(fabs(mean) < 0.03 && fabs(sd - 1) < 0.03, "N(0, 1) init: mean %g, std %g", mean, sd);
  ax_tensor *ye = ax_module_forward(emb, ax_from_data((int64_t[]){999, 0}, AX_SHAPE(1, 2), I64));
  cr_assert_not_null(ye);
  cr_expect(ye->ndim == 3 && ye->shape[2] == 16);
  cr_expect_eq(tu_get(ye, 0), tu_get(ew, 999 * 16));
  ax_module_free(emb);

  cr_expect_null(ax_nn_layer_norm(0, 1e-5, true));
  cr_expect(tu_error_contains("ax_nn_layer_norm", NULL), "%s", ax_last_error());
  cr_expect_null(ax_nn_embedding(-1, 3));
  cr_expect(tu_error_contains("ax_nn_embedding", NULL), "%s", ax_last_error());
  ax_scope_end();
}

/* autocast keeps layer / RMS norm in f32: bf16 x with f32 parameters gives an f32 result */
Test(layernorm, autocast_runs_in_f32) {
  ax_scope_begin();
  ax_tensor *x = tu_leaf(tu_randn(AX_BF16, AX_SHAPE(4, 8))), *w = tu_leaf(tu_uniform(AX_F32, AX_SHAPE(8), 0.5, 1.5));
  ax_tensor *b = tu_leaf(tu_randn(AX_F32, AX_SHAPE(8)));
  ax_autocast_begin(AX_BF16);
  ax_tensor *y = ax_layer_norm(x, w, b, 1e-5), *r = ax_rms_norm(x, w, 1e-5);
  ax_autocast_end();
  cr_assert_not_null(y, "%s", ax_last_error());
  cr_assert_not_null(r, "%s", ax_last_error());
  cr_expect_eq(y->dtype, AX_F32);
  cr_expect_eq(r->dtype, AX_F32);
  cr_expect(tu_allclose(y, ax_layer_norm(ax_cast(x, AX_F32), w, b, 1e-5), 0, 0));
  cr_assert_eq(ax_backward(ax_sum(ax_add(y, r), AX_ALL, false), NULL), 0);
  cr_assert_not_null(x->grad);
  cr_expect_eq(x->grad->dtype, AX_BF16);
  cr_expect_eq(w->grad->dtype, AX_F32);
  ax_scope_end();
}
