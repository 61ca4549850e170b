/* SPDX-License-Identifier: BSD-3-Clause */
/* Parity of the CUDA layer norm, RMS norm and embedding gradient against the CPU:
 * outputs and the gradients of x, weight and bias (layer / RMS norm) and of the
 * embedding weight, for f32, f64, bf16 and f16. For bf16/f16 the reference runs
 * in f32 on the same rounded values and is rounded at the end. Layer norm sizes:
 * C in {1, 7, 64, 129, 768, 4097} x rows in {1, 3, 1024}, a strided x (a
 * transposed view), no affine parameters, a mean far from 0. Embedding: a
 * GPT-2-sized table (V = 50257, C = 768) with many repeated indices, odd C
 * (no 16-byte packs), i32 and 2-D index tensors. classifier_cross_entropy (f32, f64,
 * bf16, f16) with ignored rows and a GPT-2-sized vocabulary in one chunk and in three. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "parity.h"

static bool half_type(ax_dtype dt) { return dt == AX_BF16 || dt == AX_F16; }

static ax_tensor *leaf(ax_tensor *t) {
  ax_tensor *l = ax_detach(t);
  ax_set_requires_grad(l, true);
  return l;
}

/* ---------------- layer_norm / rms_norm ---------------- */

typedef struct ln_case {
  int64_t rows, cols;
  int rms, affine, strided;
  double shift; /* added to x: a mean far from 0 must not cancel the variance */
} ln_case;

static ax_tensor *norm(const ln_case *c, ax_tensor *x, ax_tensor *w, ax_tensor *b) {
  if (c->strided) x = ax_transpose(x, 0, 1);
  if (!c->affine) w = b = NULL;
  return c->rms ? ax_rms_norm(x, w, 1e-5) : ax_layer_norm(x, w, b, 1e-5);
}

static void run_ln(ax_dtype dt, const ln_case *c) {
  ax_scope_begin();
  int64_t xs[2] = {c->strided ? c->cols : c->rows, c->strided ? c->rows : c->cols};
  ax_tensor *x = ax_add_scalar(pr_randn(dt, 2, xs), c->shift);
  /* RMS norm of one column: y = w x / sqrt(x^2 + eps) and dy/dx = w eps / (x^2 + eps)^1.5,
   * which both devices compute as w r (1 - x^2 r^2): for |x| >> sqrt(eps) the two terms
   * cancel to a few of their last bits (f32 on either device is then 1e-3 off the f64
   * value, and the NMSE of one against the other up to 1e-3: noise, not a bound). In the
   * emulate tier x is drawn at the scale of sqrt(eps), where the gradient is well
   * conditioned. (The full tier still draws x ~ N(0, 1) there and may fail by chance.) */
  if (c->rms && c->cols == 1 && pr_emulated_tier()) x = ax_mul_scalar(x, sqrt(1e-5));
  ax_tensor *w = pr_uniform(dt, 1, &c->cols, 0.5, 1.5), *b = pr_randn(dt, 1, &c->cols);
  ax_dtype rdt = half_type(dt) ? AX_F32 : dt;
  ax_tensor *rx = leaf(ax_cast(x, rdt)), *rw = leaf(ax_cast(w, rdt)), *rb = leaf(ax_cast(b, rdt));
  ax_tensor *ref = norm(c, rx, rw, rb);
  if (!ref) {
    fprintf(stderr, "parity layer_norm: the CPU reference failed: %s\n", ax_last_error());
    ax_scope_end();
    return;
  }
  ax_tensor *gy = pr_randn(dt, ref->ndim, ref->shape);
  ax_backward(ref, ax_cast(gy, rdt));
  ax_tensor *cx = leaf(pr_cuda(x)), *cw = leaf(pr_cuda(w)), *cb = leaf(pr_cuda(b));
  ax_tensor *got = norm(c, cx, cw, cb);
  if (got) ax_backward(got, pr_cuda(gy));
  const char *what[4] = {"fwd", "grad x", "grad weight", "grad bias"};
  ax_tensor *refs[4] = {ref, rx->grad, rw->grad, rb->grad}, *gots[4] = {got, cx->grad, cw->grad, cb->grad};
  for (int i = 0; i < 4; i++) {
    if ((i >= 2 && !c->affine) || (i == 3 && c->rms)) continue;
    char desc[160];
    snprintf(desc, sizeof desc, "%s [%lld, %lld]%s%s%s %s", ax_dtype_name(dt), (long long)c->rows, (long long)c->cols,
             c->strided ? " strided" : "", c->affine ? "" : " no-affine", c->shift != 0 ? " shifted" : "", what[i]);
    pr_check(c->rms ? "rms_norm" : "layer_norm", desc, refs[i] ? ax_cast(refs[i], dt) : NULL, gots[i],
             PR_REDUCTION);
  }
  ax_scope_end();
}

/* ---------------- embedding ---------------- */

typedef struct emb_case {
  int64_t v, c, n0, n1; /* index [n0, n1] (n1 = 0: 1-D [n0]) */
  ax_dtype index_dt;
} emb_case;

static void run_embedding(ax_dtype dt, const emb_case *c) {
  ax_scope_begin();
  int nd = c->n1 ? 2 : 1;
  int64_t is[2] = {c->n0, c->n1}, ws[2] = {c->v, c->c};
  /* u^4 * V: heavily skewed toward small indices, so the low rows repeat thousands of times */
  ax_tensor *u = pr_uniform(AX_F64, nd, is, 0, 1);
  ax_tensor *idx = ax_cast(ax_mul_scalar(ax_square(ax_square(u)), (double)c->v - 1e-6), c->index_dt);
  ax_tensor *w = pr_randn(dt, 2, ws);
  ax_dtype rdt = half_type(dt) ? AX_F32 : dt;
  ax_tensor *rw = leaf(ax_cast(w, rdt));
  ax_tensor *ref = ax_embedding(rw, idx);
  if (!ref) {
    fprintf(stderr, "parity embedding: the CPU reference failed: %s\n", ax_last_error());
    ax_scope_end();
    return;
  }
  ax_tensor *gy = pr_randn(dt, ref->ndim, ref->shape);
  ax_backward(ref, ax_cast(gy, rdt));
  ax_tensor *cw = leaf(pr_cuda(w));
  ax_tensor *got = ax_embedding(cw, pr_cuda(idx));
  if (got) ax_backward(got, pr_cuda(gy));
  char desc[160];
  snprintf(desc, sizeof desc, "%s V %lld C %lld index %s [%lld%s%lld] fwd", ax_dtype_name(dt), (long long)c->v,
           (long long)c->c, ax_dtype_name(c->index_dt), (long long)c->n0, c->n1 ? ", " : "", (long long)c->n1);
  pr_check("embedding", desc, ax_cast(ref, dt), got, PR_EXACT);
  snprintf(desc, sizeof desc, "%s V %lld C %lld index %s [%lld%s%lld] grad weight", ax_dtype_name(dt),
           (long long)c->v, (long long)c->c, ax_dtype_name(c->index_dt), (long long)c->n0, c->n1 ? ", " : "",
           (long long)c->n1);
  pr_check("embedding", desc, rw->grad ? ax_cast(rw->grad, dt) : NULL, cw->grad, PR_REDUCTION);
  ax_scope_end();
}

/* ---------------- classifier_cross_entropy (gemm + cross_entropy kernels, chunked) ---------------- */

static void run_classifier(ax_dtype dt, int64_t n, int64_t c, int64_t v) {
  ax_scope_begin();
  int64_t hs[2] = {n, c}, ws[2] = {v, c};
  ax_tensor *h = pr_randn(dt, 2, hs), *w = ax_mul_scalar(pr_randn(dt, 2, ws), 0.2), *b = pr_randn(dt, 1, &v);
  ax_tensor *t = ax_cast(ax_mul_scalar(pr_uniform(AX_F64, 1, &n, 0, 1), (double)v - 1e-6), AX_I64);
  ax_tensor *ignored = ax_lt_scalar(pr_uniform(AX_F64, 1, &n, 0, 1), 0.1); /* ~10% of the rows ignored */
  t = ax_where(ignored, ax_full_like(t, -100), t);
  ax_tensor *rh = leaf(h), *rw = leaf(w), *rb = leaf(b), *ch = leaf(pr_cuda(h)), *cw = leaf(pr_cuda(w));
  ax_tensor *cb = leaf(pr_cuda(b));
  ax_tensor *ref = ax_classifier_cross_entropy(rh, rw, rb, t, NULL);
  ax_tensor *got = ax_classifier_cross_entropy(ch, cw, cb, pr_cuda(t), NULL);
  if (ref) ax_backward(ref, NULL);
  if (got) ax_backward(got, NULL);
  const char *what[4] = {"fwd", "grad h", "grad weight", "grad bias"};
  ax_tensor *refs[4] = {ref, rh->grad, rw->grad, rb->grad}, *gots[4] = {got, ch->grad, cw->grad, cb->grad};
  for (int i = 0; i < 4; i++) {
    char desc[160];
    snprintf(desc, sizeof desc, "%s h [%lld, %lld] V %lld %s", ax_dtype_name(dt), (long long)n, (long long)c,
             (long long)v, what[i]);
    pr_check("classifier_cross_entropy", desc, refs[i], gots[i], PR_GEMM);
  }
  ax_scope_end();
}

/* The emulate tier: the same kinds of cases, smaller (a vocabulary of 4097, 65 rows
 * instead of 1024, GPT-2's tables cut to 1031 x 72). The classifier's three chunks: 16
 * rows each of 40. */
static void emulate_tier(void) {
  const ax_dtype dts[] = {AX_F32, AX_F64, AX_BF16, AX_F16};
  for (size_t d = 0; d < 4; d++) {
    run_classifier(dts[d], 7, 33, 1000);
    run_classifier(dts[d], 40, 16, 4097); /* one chunk on both */
    setenv("AXON_CLASSIFIER_CHUNK_ROWS", "16", 1); /* three chunks on both, the last partial */
    run_classifier(dts[d], 40, 16, 4097);
    unsetenv("AXON_CLASSIFIER_CHUNK_ROWS");
  }
  const int64_t cols[] = {1, 7, 64, 129, 768, 4097}, rows[] = {1, 3, 65};
  for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
      for (size_t j = 0; j < sizeof rows / sizeof rows[0]; j++)
        for (int rms = 0; rms < 2; rms++) {
          ln_case c = {rows[j], cols[i], rms, 1, rows[j] == 3, 0.0};
          run_ln(dts[d], &c);
        }
    const ln_case extra[] = {
        {65, 768, 0, 0, 0, 0.0},    /* no affine parameters */
        {33, 768, 0, 1, 0, 30.0},   /* a mean 30 std from 0 */
        {9, 4097, 1, 0, 1, 0.0},    /* rms, strided, no weight */
        {129, 1024, 0, 1, 0, 0.0},  /* more rows than the backward has blocks */
    };
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) run_ln(dts[d], &extra[i]);
    const emb_case emb[] = {
        {1031, 72, 8, 64, AX_I64}, /* a [B, T] batch */
        {257, 72, 300, 0, AX_I32},
        {1000, 7, 4100, 0, AX_I64}, /* odd C: no 16-byte packs; repeats; three blocks of the radix sort */
        {5, 3, 1, 0, AX_I32},
    };
    for (size_t i = 0; i < sizeof emb / sizeof emb[0]; i++) run_embedding(dts[d], &emb[i]);
  }
}

void pr_family_layernorm(void) {
  if (pr_emulated_tier()) {
    emulate_tier();
    return;
  }
  const ax_dtype cls_dts[] = {AX_F32, AX_F64, AX_BF16, AX_F16};
  for (size_t d = 0; d < 4; d++) {
    run_classifier(cls_dts[d], 7, 33, 1000);
    run_classifier(cls_dts[d], 300, 64, 50257); /* one chunk on the GPU; 166-row chunks (f32) on the CPU */
    setenv("AXON_CLASSIFIER_CHUNK_ROWS", "128", 1); /* three chunks on both, the last partial */
    run_classifier(cls_dts[d], 300, 64, 50257);
    unsetenv("AXON_CLASSIFIER_CHUNK_ROWS");
  }
  const ax_dtype dts[] = {AX_F32, AX_F64, AX_BF16, AX_F16};
  const int64_t cols[] = {1, 7, 64, 129, 768, 4097}, rows[] = {1, 3, 1024};
  for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
      for (size_t j = 0; j < sizeof rows / sizeof rows[0]; j++)
        for (int rms = 0; rms < 2; rms++) {
          ln_case c = {rows[j], cols[i], rms, 1, rows[j] == 3, 0.0};
          run_ln(dts[d], &c);
        }
    const ln_case extra[] = {
        {1024, 768, 0, 0, 0, 0.0},   /* no affine parameters */
        {257, 768, 0, 1, 0, 30.0},   /* a mean 30 std from 0 */
        {33, 4097, 1, 0, 1, 0.0},    /* rms, strided, no weight */
        {4096, 1024, 0, 1, 0, 0.0},  /* a GPT-2-medium-sized batch */
    };
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) run_ln(dts[d], &extra[i]);
    const emb_case emb[] = {
        {50257, 768, 8, 512, AX_I64}, /* GPT-2's token table, a [B, T] batch */
        {1024, 768, 4096, 0, AX_I32}, /* its position table shape */
        {1000, 7, 20000, 0, AX_I64},  /* odd C: no 16-byte packs; thousands of repeats */
        {5, 3, 1, 0, AX_I32},
    };
    for (size_t i = 0; i < sizeof emb / sizeof emb[0]; i++) run_embedding(dts[d], &emb[i]);
  }
}
