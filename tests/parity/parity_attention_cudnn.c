/* SPDX-License-Identifier: BSD-3-Clause */
/* Parity of AXON_ATTN=cudnn (kernels/cuda/attention_cudnn.cu, cuDNN's fused
 * flash attention) against the CPU: bf16 and f16, D = 64 and 128, causal on and
 * off, Tq == Tk and Tq != Tk, q/k/v as views of one [B, T, 3, H, D] buffer,
 * float and bool masks: the output, the row log-sum-exp the forward saves
 * (called through the backend tables, since the op keeps it to itself) and the
 * gradients of q, k and v. Dropout cannot match the CPU (cuDNN draws its own
 * Philox stream), so it is checked for consistency instead: with V = I the
 * output is the dropped weight matrix itself, which must hold 0 or P / (1 - p)
 * with P the CPU's weights, and with dO = I the gradient of V is its transpose.
 * Configurations cuDNN cannot run must fail with a clear error.
 *
 * The family selects cuDNN itself (ax_cuda_attention_force_backend) and gives
 * the choice back to AXON_ATTN when it ends, so it runs with the others:
 *   axon_parity attention_cudnn              (this family alone)
 *   AXON_ATTN=cudnn axon_parity attention    (the native family's cases on cuDNN;
 *                                             its f32 / f64 cases then fail by design)
 * Without cuDNN in the build (the emulated device has none) the cuDNN cases print
 * one line and are skipped. The path's two helper kernels (attention_mask.cu: a
 * mask written as cuDNN's bias, and the dropout seed) need no cuDNN and run first
 * on every CUDA build, the emulated device included. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "parity.h"

/* kernels/cuda/attention_cudnn.cu, runtime.h (weak: absent from a CPU-only build) */
bool ax_cuda_attention_force_backend(int backend) __attribute__((weak));
int ax_cuda_is_emulated(void) __attribute__((weak));

/* kernels/cuda/attention_mask.cu: the path's helper kernels, which run without cuDNN.
 * Declared strong in a CUDA build, so that the runner links them (a weak reference
 * does not pull an object out of the static library). */
#if AXON_HAVE_CUDA
#include "kernels/cuda/cuda.h"
#define HAVE_ATTN_HELPERS 1
#else
#define HAVE_ATTN_HELPERS 0
#endif

#define OP "sdpa (cudnn)"

enum { PLAIN, QKV_VIEWS, BOOL_MASK, FLOAT_MASK };

typedef struct cudnn_case {
  int64_t b, h, tq, tk, d;
  int causal, kind;
} cudnn_case;

static const cudnn_case cases[] = {
    {2, 3, 128, 128, 64, 0, PLAIN},
    {2, 2, 129, 129, 64, 1, QKV_VIEWS},
    {1, 2, 256, 256, 128, 1, QKV_VIEWS},
    {1, 4, 1024, 1024, 64, 1, QKV_VIEWS},
    {1, 2, 1024, 1024, 128, 0, PLAIN},
    {2, 2, 64, 200, 128, 0, PLAIN},  /* Tq < Tk */
    {2, 2, 200, 64, 64, 0, PLAIN},   /* Tq > Tk */
    {2, 2, 70, 200, 64, 1, PLAIN},   /* causal, bottom-right diagonal */
    {2, 2, 96, 96, 64, 0, FLOAT_MASK},
    {2, 2, 96, 96, 128, 1, FLOAT_MASK},
    {2, 2, 64, 129, 64, 0, BOOL_MASK}, /* key padding [B, 1, 1, Tk]: becomes a bias copy */
};

/* ---- forward and backward against the CPU ---- */

static ax_sdpa_opts opts_of(const cudnn_case *c, ax_tensor *mask) {
  return (ax_sdpa_opts){.causal = c->causal != 0, .attn_mask = mask};
}

/* q, k, v from the case's inputs (the qkv buffer is split into [B, H, T, D] views). */
static void split(const cudnn_case *c, ax_tensor *const *x, ax_tensor **q, ax_tensor **k, ax_tensor **v) {
  if (c->kind != QKV_VIEWS) {
    *q = x[0], *k = x[1], *v = x[2];
    return;
  }
  ax_tensor *parts[3];
  for (int i = 0; i < 3; i++) parts[i] = ax_transpose(ax_squeeze(ax_narrow(x[0], 2, i, 1), 2), 1, 2);
  *q = parts[0], *k = parts[1], *v = parts[2];
}

static ax_tensor *run(ax_tensor *const *x, const void *vctx) {
  const cudnn_case *c = vctx;
  ax_tensor *q, *k, *v;
  split(c, x, &q, &k, &v);
  ax_sdpa_opts o = opts_of(c, c->kind == BOOL_MASK || c->kind == FLOAT_MASK ? x[3] : NULL);
  return ax_scaled_dot_product_attention(q, k, v, &o);
}

/* The saved log-sum-exp: the attention kernel of x's backend called directly, in f32
 * on the CPU (as the op runs half types there) and in x's dtype on CUDA. */
static ax_tensor *lse_of(const cudnn_case *c, ax_tensor *const *x, bool cpu) {
  ax_tensor *in[4] = {x[0], x[1], x[2], x[3]};
  int n = c->kind == QKV_VIEWS ? 1 : 3;
  if (cpu)
    for (int i = 0; i < n; i++) in[i] = ax_cast(in[i], AX_F32);
  if (cpu && c->kind == FLOAT_MASK) in[3] = ax_cast(in[3], AX_F32);
  ax_tensor *q, *k, *v;
  split(c, in, &q, &k, &v);
  q = ax_contiguous(q), k = ax_contiguous(k), v = ax_contiguous(v);
  if (!q || !k || !v) return NULL;
  int64_t oshape[4] = {c->b, c->h, c->tq, c->d}, lshape[3] = {c->b, c->h, c->tq};
  ax_tensor *out = ax__new(OP, q->dtype, q->device, 4, oshape);
  ax_tensor *lse = ax__new(OP, AX_F32, q->device, 3, lshape);
  const ax_backend *be = ax__backend(q->device, OP);
  if (!out || !lse || !be) return NULL;
  ax_attn_params p = {.b = c->b, .h = c->h, .tq = c->tq, .tk = c->tk, .d = c->d, .scale = 1.0 / sqrt((double)c->d),
                      .causal = c->causal};
  int64_t full[4] = {c->b, c->h, c->tq, c->tk};
  bool masked = c->kind == BOOL_MASK || c->kind == FLOAT_MASK;
  ax_kt ko = ax__kt(out), kl = ax__kt(lse), kq = ax__kt(q), kk = ax__kt(k), kv = ax__kt(v),
        km = masked ? ax__kt_broadcast(in[3], 4, full) : (ax_kt){0};
  be->attention(&ko, &kl, &kq, &kk, &kv, masked ? &km : NULL, &p);
  return lse;
}

static void run_case(ax_dtype dt, const cudnn_case *c) {
  ax_scope_begin();
  ax_tensor *x[4] = {NULL, NULL, NULL, NULL};
  int n = 3;
  if (c->kind == QKV_VIEWS) {
    x[0] = pr_randn(dt, 5, (int64_t[]){c->b, c->tq, 3, c->h, c->d});
    n = 1;
  } else {
    x[0] = pr_randn(dt, 4, (int64_t[]){c->b, c->h, c->tq, c->d});
    x[1] = pr_randn(dt, 4, (int64_t[]){c->b, c->h, c->tk, c->d});
    x[2] = pr_randn(dt, 4, (int64_t[]){c->b, c->h, c->tk, c->d});
  }
  if (c->kind == BOOL_MASK) x[n++] = ax_gt_scalar(pr_uniform(AX_F32, 4, (int64_t[]){c->b, 1, 1, c->tk}, 0, 1), 0.25);
  if (c->kind == FLOAT_MASK) x[n++] = pr_randn(dt, 2, (int64_t[]){c->tq, c->tk});
  if (c->kind == QKV_VIEWS) x[3] = NULL;
  bool grad[4] = {true, true, true, false};
  char desc[160];
  const char *kinds[] = {"", " qkv-views", " bool-mask", " float-mask"};
  snprintf(desc, sizeof desc, "%s B%lld H%lld Tq%lld Tk%lld D%lld%s%s", ax_dtype_name(dt), (long long)c->b,
           (long long)c->h, (long long)c->tq, (long long)c->tk, (long long)c->d, c->causal ? " causal" : "",
           kinds[c->kind]);
  pr_run(OP, desc, run, c, n, x, grad, PR_GEMM, PR_GEMM);

  /* lse: ours and cuDNN's Stats must be the same quantity */
  ax_tensor *g[4] = {NULL, NULL, NULL, NULL};
  for (int i = 0; i < n; i++) g[i] = pr_cuda(x[i]);
  char d2[200];
  snprintf(d2, sizeof d2, "%s lse", desc);
  pr_check_bound(OP, d2, lse_of(c, x, true), lse_of(c, g, false), 1e-6);
  ax_scope_end();
}

/* ---- dropout: consistency instead of parity ---- */

/* [1, H, n, n] identity in dt on CUDA. */
static ax_tensor *identity(ax_dtype dt, int64_t h, int64_t n) {
  ax_tensor *i = ax_unsqueeze(ax_arange(0, (double)n, 1, NULL), 1), *j = ax_arange(0, (double)n, 1, NULL);
  ax_tensor *eye = ax_cast(ax_eq(i, j), dt);
  return pr_cuda(ax_contiguous(ax_expand(ax_unsqueeze(ax_unsqueeze(eye, 0), 0), 4, (int64_t[]){1, h, n, n})));
}

static void dropout_case(ax_dtype dt, int64_t h, int64_t t, bool causal) {
  ax_scope_begin();
  const double p = 0.2;
  int64_t shape[4] = {1, h, t, t};
  ax_tensor *q = pr_randn(dt, 4, shape), *k = pr_randn(dt, 4, shape);
  ax_tensor *eye = identity(dt, h, t);
  char desc[120];
  snprintf(desc, sizeof desc, "%s H%lld T%lld D%lld%s dropout %.1f", ax_dtype_name(dt), (long long)h, (long long)t,
           (long long)t, causal ? " causal" : "", p);

  /* the weights without dropout, on the CPU (V = I makes the output the weight matrix) */
  ax_sdpa_opts plain = {.causal = causal};
  ax_tensor *w = ax_scaled_dot_product_attention(ax_cast(q, AX_F32), ax_cast(k, AX_F32),
                                                 ax_to(ax_cast(eye, AX_F32), AX_CPU), &plain);

  ax_tensor *gq = pr_cuda(q), *gk = pr_cuda(k), *gv = ax_detach(eye);
  ax_set_requires_grad(gq, true), ax_set_requires_grad(gk, true), ax_set_requires_grad(gv, true);
  ax_sdpa_opts drop = {.causal = causal, .dropout_p = p};
  ax_rng_set_state(4321, 7);
  ax_tensor *y = ax_scaled_dot_product_attention(gq, gk, gv, &drop);
  if (y) ax_backward(y, eye); /* dO = I: grad V = (dropped weights)^T */
  ax_tensor *yc = y ? ax_to(ax_cast(y, AX_F32), AX_CPU) : NULL;

  /* each weight is dropped (0) or scaled: expected = kept ? w / (1 - p) : 0 */
  ax_tensor *kept = yc ? ax_ne_scalar(yc, 0) : NULL;
  ax_tensor *expect = kept ? ax_mul(ax_cast(kept, AX_F32), ax_div_scalar(w, 1 - p)) : NULL;
  char d[160];
  snprintf(d, sizeof d, "%s fwd = 0 or w/(1-p)", desc);
  pr_check_bound(OP, d, expect, yc, 1e-3);

  /* the fraction dropped, among the weights the mask could drop (causal hides some) */
  double visible = causal ? (double)t * (t + 1) / 2 : (double)t * t;
  double dropped = kept ? 1 - ax_item(ax_sum(ax_cast(kept, AX_F32), 0, NULL, false)) / (visible * h) : NAN;
  bool frac_ok = fabs(dropped - p) < 0.05;
  if (!frac_ok) ax_error("%s: dropped %.3f of the weights, expected about %.2f", OP, dropped, p);
  snprintf(d, sizeof d, "%s dropped fraction", desc);
  pr_check_bound(OP, d, ax_scalar(1, NULL), ax_scalar(1, NULL), 0);

  /* the backward saw the forward's mask: grad V = Y^T with dO = I */
  snprintf(d, sizeof d, "%s bwd grad V = Y^T", desc);
  ax_tensor *gvc = gv->grad ? ax_to(ax_cast(gv->grad, AX_F32), AX_CPU) : NULL;
  pr_check_bound(OP, d, yc ? ax_contiguous(ax_transpose(yc, 2, 3)) : NULL, gvc, 1e-4);

  /* grad q and grad k: finite (0 * w is 0, so the sum is finite iff every element is) */
  for (int i = 0; i < 2; i++) {
    ax_tensor *gr = i == 0 ? gq->grad : gk->grad;
    ax_tensor *s = gr ? ax_to(ax_sum(ax_mul_scalar(ax_cast(gr, AX_F32), 0), 0, NULL, false), AX_CPU) : NULL;
    snprintf(d, sizeof d, "%s grad %c finite", desc, i == 0 ? 'q' : 'k');
    pr_check_bound(OP, d, ax_scalar(0, NULL), s, 0);
  }
  ax_scope_end();
}

/* ---- what cuDNN cannot run: a clear error, never a crash or a silent fallback ---- */

static char caught[1024];
static void catch_error(const char *message, void *user) {
  (void)user;
  snprintf(caught, sizeof caught, "%s", message);
}

static void expect_error(ax_dtype dt, int64_t tq, int64_t tk, int64_t d, bool causal, const char *want) {
  ax_scope_begin();
  ax_tensor *q = pr_cuda(pr_randn(dt, 4, (int64_t[]){1, 2, tq, d}));
  ax_tensor *k = pr_cuda(pr_randn(dt, 4, (int64_t[]){1, 2, tk, d}));
  ax_tensor *v = pr_cuda(pr_randn(dt, 4, (int64_t[]){1, 2, tk, d}));
  caught[0] = 0;
  ax_error_handler prev = ax_set_error_handler(catch_error, NULL);
  ax_scaled_dot_product_attention(q, k, v, &(ax_sdpa_opts){.causal = causal}); /* kernels report, ops still return */
  ax_set_error_handler(prev, NULL);
  char desc[160];
  snprintf(desc, sizeof desc, "%s Tq%lld Tk%lld D%lld%s is an error", ax_dtype_name(dt), (long long)tq, (long long)tk,
           (long long)d, causal ? " causal" : "");
  if (!strstr(caught, want))
    ax_error("%s: expected an error containing \"%s\", got \"%s\"", OP, want, caught);
  pr_check_bound(OP, desc, ax_scalar(1, NULL), ax_scalar(1, NULL), 0);
  ax_scope_end();
}

/* ---- the helper kernels (attention_mask.cu), on every CUDA build ---- */

/* The mask as the op hands it to the cuDNN path (broadcast to [b, h, tq, tk], stride 0
 * on broadcast dims) written as a contiguous [mb, mh, tq, ld] bias: each element the
 * mask's value (bool: 0 where true, the dtype's lowest where false), the padding
 * columns tk..ld untouched. */
#if HAVE_ATTN_HELPERS
static void mask_bias_case(ax_dtype dt, bool is_bool, int64_t b, int64_t h, int64_t tq, int64_t tk, bool per_head,
                           bool transposed) {
  char desc[160];
  snprintf(desc, sizeof desc, "%s %s mask [%lld,%lld,%lld,%lld]%s%s -> bias", ax_dtype_name(dt),
           is_bool ? "bool" : "float", (long long)b, (long long)(per_head ? h : 1), (long long)(is_bool ? 1 : tq),
           (long long)tk, per_head ? "" : " (heads broadcast)", transposed ? " transposed view" : "");
  ax_scope_begin();
  int64_t mh_src = per_head ? h : 1, tq_src = is_bool ? 1 : tq;
  ax_tensor *mask_cpu, *mask_gpu;
  if (is_bool) {
    int64_t shape[4] = {b, mh_src, tq_src, tk};
    ax_tensor *u = pr_uniform(AX_F32, 4, shape, 0, 1);
    mask_cpu = ax_gt(u, ax_full_like(u, 0.5));
    mask_gpu = pr_cuda(mask_cpu);
  } else if (transposed) {
    int64_t shape[4] = {b, mh_src, tk, tq_src};
    ax_tensor *base = pr_randn(dt, 4, shape);
    mask_cpu = ax_transpose(base, 2, 3), mask_gpu = ax_transpose(pr_cuda(base), 2, 3);
  } else {
    int64_t shape[4] = {b, mh_src, tq_src, tk};
    mask_cpu = pr_randn(dt, 4, shape);
    mask_gpu = pr_cuda(mask_cpu);
  }
  const int64_t full[4] = {b, h, tq, tk};
  ax_kt km = ax__kt_broadcast(mask_gpu, 4, full);
  int64_t mb = km.strides[0] != 0 ? b : 1, mh = km.strides[1] != 0 ? h : 1, ld = (tk + 7) / 8 * 8;
  const double pad = 7.0;
  int64_t oshape[4] = {mb, mh, tq, ld};
  ax_tensor *got = ax_full(4, oshape, pad, &(ax_tensor_opts){.dtype = dt, .device = AX_CUDA(0)});
  bool ok = ax_cuda_attn_mask_to_bias(ax_data_ptr(got), dt, &km, mb, mh, tq, tk, ld);
  /* the reference: the mask's values broadcast, in f32 on the CPU */
  double lowest = dt == AX_BF16 ? -3.3895313892515355e38 : -65504.0;
  ax_tensor *vals = is_bool ? ax_where(mask_cpu, ax_zeros(AX_SHAPE(1), &(ax_tensor_opts){.dtype = AX_F32}),
                                       ax_full(AX_SHAPE(1), lowest, &(ax_tensor_opts){.dtype = AX_F32}))
                            : ax_cast(mask_cpu, AX_F32);
  int64_t eshape[4] = {mb, mh, tq, tk};
  ax_tensor *ref = ax_full(4, oshape, pad, &(ax_tensor_opts){.dtype = AX_F32});
  ax_copy_(ax_narrow(ref, 3, 0, tk), ax_expand(vals, 4, eshape));
  if (ok) pr_check(OP, desc, ax_cast(ref, dt), got, PR_EXACT);
  else pr_expect_error(OP, desc, false, "");
  ax_scope_end();
}

static void glue_cases(void) {
  const ax_dtype dts[] = {AX_BF16, AX_F16};
  for (int t = 0; t < 2; t++) {
    mask_bias_case(dts[t], true, 2, 3, 5, 129, false, false); /* key padding [B,1,1,Tk]: the common bool mask */
    mask_bias_case(dts[t], true, 1, 2, 7, 9, true, false);    /* per head, one batch */
    mask_bias_case(dts[t], false, 2, 3, 6, 40, true, true);   /* a float mask as a transposed view */
    mask_bias_case(dts[t], false, 3, 2, 4, 17, false, false); /* heads broadcast */
  }
  /* the dropout seed and offset land 16 bytes apart and nothing else is written */
  ax_scope_begin();
  ax_tensor *sd = ax_full(AX_SHAPE(4), -1, &(ax_tensor_opts){.dtype = AX_I64, .device = AX_CUDA(0)});
  const uint64_t seed = 0x123456789abcdefULL, offset = 4242;
  if (ax_cuda_attn_put_seed((int64_t *)ax_data_ptr(sd), seed, offset)) {
    int64_t want[4] = {(int64_t)seed, -1, (int64_t)offset, -1};
    pr_check(OP, "dropout seed and offset", ax_from_data(want, AX_SHAPE(4), &(ax_tensor_opts){.dtype = AX_I64}), sd,
             PR_EXACT);
  } else {
    pr_expect_error(OP, "dropout seed and offset", false, "");
  }
  /* a mask of another dtype than the bias is refused, not misread */
  int64_t shape[4] = {1, 1, 4, 8};
  ax_tensor *m32 = ax_zeros(4, shape, &(ax_tensor_opts){.dtype = AX_F32, .device = AX_CUDA(0)});
  ax_tensor *out = ax_zeros(4, shape, &(ax_tensor_opts){.dtype = AX_BF16, .device = AX_CUDA(0)});
  ax_kt k32 = ax__kt(m32);
  pr_expect_error(OP, "f32 mask for a bf16 bias", !ax_cuda_attn_mask_to_bias(ax_data_ptr(out), AX_BF16, &k32, 1, 1, 4,
                                                                              8, 8),
                  "a 4-D bool mask or one of the bias's dtype");
  ax_scope_end();
}

#else
static void glue_cases(void) {}
#endif

void pr_family_attention_cudnn(void) {
  glue_cases();
  if (!ax_cuda_attention_force_backend || !ax_cuda_attention_force_backend(1)) {
    printf("skip attention_cudnn: %s\n", ax_cuda_is_emulated && ax_cuda_is_emulated() == 1
                                             ? "cuDNN is not available on the emulated device"
                                             : "this build has no cuDNN");
    return;
  }
  const ax_dtype dts[] = {AX_BF16, AX_F16};
  for (size_t t = 0; t < 2; t++) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(dts[t], &cases[i]);
    dropout_case(dts[t], 2, 64, false);
    dropout_case(dts[t], 2, 128, true);
  }
  expect_error(AX_F32, 64, 64, 64, false, "supports bf16 and f16, got f32");
  expect_error(AX_BF16, 64, 64, 72 + 1, false, "D a multiple of 8");
  expect_error(AX_BF16, 100, 60, 64, true, "Tq > Tk");
  ax_cuda_attention_force_backend(-1);
}
