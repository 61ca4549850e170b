/* SPDX-License-Identifier: BSD-3-Clause */
/* Parity of the CUDA flash attention (forward and backward) against the CPU:
 * f32, f64, bf16, f16 (the CPU runs the half types in f32 on the same rounded
 * values); T in {1, 7, 64, 129, 1024}, D in {32, 64, 96, 128, 256}, causal on
 * and off, Tq != Tk (both ways: Tq > Tk leaves rows with no visible key), q/k/v
 * as strided views of one [B, T, 3, H, D] buffer (the GPT case, no copy), a
 * bool key mask, a float mask, and dropout (the same Philox draw on both
 * devices).
 *
 * Which CUDA path each case takes: for bf16 / f16, every case with D = 64 or 128
 * runs the tensor-core forward (attention_mma.cuh) AND backward
 * (attention_mma_bwd.cuh), since their rows are 16-byte aligned (the QKV_VIEWS
 * strides are multiples of 8 elements too), except the MISALIGNED ones (q, k, v
 * narrowed from [.., D + 1] rows), which take the warp kernels; D = 32, 96 and
 * 256, and f32 / f64 always take the warp kernels. With AXON_ATTN_MMA=0 every
 * case takes the warp kernels. */
#include <math.h>
#include <stdio.h>

#include "parity.h"

enum { PLAIN, QKV_VIEWS, BOOL_MASK, FLOAT_MASK, DROPOUT, MISALIGNED };

typedef struct attn_case {
  int64_t b, h, tq, tk, d;
  int causal, kind;
} attn_case;

static const attn_case cases[] = {
    {2, 3, 1, 1, 64, 0, PLAIN},
    {2, 3, 7, 7, 64, 1, PLAIN},
    {1, 2, 64, 64, 128, 1, QKV_VIEWS},
    {2, 2, 129, 129, 64, 1, QKV_VIEWS},
    {1, 4, 1024, 1024, 64, 1, QKV_VIEWS},
    {1, 2, 1024, 1024, 128, 0, PLAIN},
    {2, 3, 129, 200, 32, 1, PLAIN},
    {1, 2, 200, 70, 64, 1, PLAIN},
    {2, 2, 7, 129, 128, 0, BOOL_MASK},
    {2, 2, 64, 33, 64, 1, FLOAT_MASK},
    {2, 2, 129, 129, 64, 1, DROPOUT},
    {1, 1, 1024, 1024, 128, 1, DROPOUT},
    {2, 1, 33, 33, 96, 0, PLAIN},
    {1, 1, 5, 9, 256, 1, PLAIN},
    /* more tensor-core cases for the half types (D 64 / 128, awkward T) */
    {1, 3, 65, 130, 128, 1, PLAIN},
    {2, 2, 130, 65, 64, 0, DROPOUT},
    {1, 2, 77, 77, 64, 1, BOOL_MASK},
    {2, 1, 100, 50, 128, 0, FLOAT_MASK},
    {1, 2, 300, 300, 128, 1, QKV_VIEWS},
    /* the same shapes on rows that are not 16-byte aligned: the warp kernels */
    {2, 2, 129, 129, 64, 1, MISALIGNED},
    {1, 2, 33, 70, 128, 0, MISALIGNED},
};

/* The emulate tier: the same kinds of cases with small T (the emulator's time grows
 * with T^2 D): every D (32 / 64 / 96 / 128 / 256: the warp kernels' three widths and the
 * tensor-core kernels' two), crossing the warp kernels' 16-row and 32-key tiles and the
 * tensor-core kernels' 64-row and 64-key tiles, causal, Tq != Tk both ways, both masks,
 * dropout, the qkv views and misaligned rows. */
static const attn_case emu_cases[] = {
    {2, 3, 1, 1, 64, 0, PLAIN},
    {1, 2, 7, 7, 64, 1, PLAIN},
    {1, 1, 17, 33, 32, 1, PLAIN},
    {1, 1, 33, 17, 96, 0, FLOAT_MASK},
    {1, 1, 5, 9, 256, 1, PLAIN},
    {1, 1, 20, 20, 64, 1, QKV_VIEWS},
    {1, 1, 9, 40, 128, 0, BOOL_MASK},
    {1, 1, 33, 33, 64, 1, DROPOUT},
    {1, 1, 33, 20, 128, 1, MISALIGNED},
    {1, 1, 9, 20, 64, 0, MISALIGNED},
};
/* bf16 / f16 only: past the tensor-core kernels' 64-row and 64-key tiles (f32 and f64
 * take the warp kernels, whose tiles the cases above cross) */
static const attn_case emu_half_cases[] = {
    {1, 1, 65, 66, 64, 1, QKV_VIEWS},
    {1, 1, 20, 70, 128, 0, BOOL_MASK},
};

typedef struct attn_ctx {
  const attn_case *c;
} attn_ctx;

/* x: q, k, v (or the qkv buffer), then the mask when the case has one. */
static ax_tensor *run(ax_tensor *const *x, const void *vctx) {
  const attn_case *c = ((const attn_ctx *)vctx)->c;
  ax_tensor *q = x[0], *k = x[1], *v = x[2];
  ax_sdpa_opts o = {.causal = c->causal != 0};
  if (c->kind == QKV_VIEWS) {
    ax_tensor *parts[3];
    for (int i = 0; i < 3; i++) parts[i] = ax_transpose(ax_squeeze(ax_narrow(x[0], 2, i, 1), 2), 1, 2);
    q = parts[0], k = parts[1], v = parts[2];
  }
  if (c->kind == MISALIGNED) q = ax_narrow(q, 3, 0, c->d), k = ax_narrow(k, 3, 0, c->d), v = ax_narrow(v, 3, 0, c->d);
  if (c->kind == BOOL_MASK || c->kind == FLOAT_MASK) o.attn_mask = x[3];
  if (c->kind == DROPOUT) {
    o.dropout_p = 0.2;
    ax_rng_set_state(1234, 5); /* the same draw on both devices */
  }
  return ax_scaled_dot_product_attention(q, k, v, &o);
}

/* With one key (Tk = 1, no mask) the softmax is the constant 1: the gradients of q and
 * k are exactly zero. Both devices compute dS = P (dP - D_i) = dO.v - rowsum(dO * O),
 * two dot products of D terms that cancel, so dS is rounding noise of at most
 * 2 D eps sum|dO_c v_c| <= 2 D^2 eps max|dO| max|v|, and dQ = scale dS K, dK = scale
 * dS Q (summed over Tq rows for dK). */
static double zero_grad_tol(int i, ax_tensor *const *x, ax_tensor *gy, const void *vctx) {
  const attn_case *c = ((const attn_ctx *)vctx)->c;
  if (c->tk != 1 || c->kind == BOOL_MASK || c->kind == FLOAT_MASK || c->kind == QKV_VIEWS || i > 1) return 0;
  double d = (double)c->d, scale = 1.0 / sqrt(d), rows = i == 1 ? (double)c->tq : 1.0;
  return rows * scale * 2 * d * d * pr_eps(x[0]->dtype) * pr_max_abs(gy) * pr_max_abs(x[2]) * pr_max_abs(x[1 - i]);
}

static void run_case(ax_dtype dt, const attn_case *c) {
  ax_scope_begin();
  ax_tensor *x[4];
  int n = 3;
  if (c->kind == QKV_VIEWS) {
    x[0] = pr_randn(dt, 5, (int64_t[]){c->b, c->tq, 3, c->h, c->d});
    n = 1;
  } else {
    int64_t w = c->d + (c->kind == MISALIGNED); /* rows of D + 1 elements, narrowed to D by run() */
    x[0] = pr_randn(dt, 4, (int64_t[]){c->b, c->h, c->tq, w});
    x[1] = pr_randn(dt, 4, (int64_t[]){c->b, c->h, c->tk, w});
    x[2] = pr_randn(dt, 4, (int64_t[]){c->b, c->h, c->tk, w});
  }
  if (c->kind == BOOL_MASK) /* a key-padding mask [B, 1, 1, Tk] */
    x[n++] = ax_gt_scalar(pr_uniform(AX_F32, 4, (int64_t[]){c->b, 1, 1, c->tk}, 0, 1), 0.25);
  if (c->kind == FLOAT_MASK) x[n++] = pr_randn(dt, 2, (int64_t[]){c->tq, c->tk});
  bool grad[4] = {true, true, true, false};
  char desc[160];
  const char *kinds[] = {"", " qkv-views", " bool-mask", " float-mask", " dropout", " misaligned"};
  snprintf(desc, sizeof desc, "%s B%lld H%lld Tq%lld Tk%lld D%lld%s%s", ax_dtype_name(dt), (long long)c->b,
           (long long)c->h, (long long)c->tq, (long long)c->tk, (long long)c->d, c->causal ? " causal" : "",
           kinds[c->kind]);
  pr_run_zero("scaled_dot_product_attention", desc, run, &(attn_ctx){c}, n, x, grad, PR_GEMM, PR_GEMM, zero_grad_tol);
  ax_scope_end();
}

/* kernels/cuda/attention_cudnn.cu (weak: absent from a CPU-only build) */
bool ax_cuda_attention_force_backend(int backend) __attribute__((weak));

void pr_family_attention(void) {
  /* the native kernels, whatever AXON_ATTN says (cuDNN, the default where it applies,
   * has its own family: attention_cudnn) */
  if (ax_cuda_attention_force_backend) ax_cuda_attention_force_backend(0);
  const ax_dtype dts[] = {AX_F32, AX_F64, AX_BF16, AX_F16};
  bool emu = pr_emulated_tier();
  size_t n = emu ? sizeof emu_cases / sizeof emu_cases[0] : sizeof cases / sizeof cases[0];
  for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
    for (size_t i = 0; i < n; i++) run_case(dts[d], emu ? &emu_cases[i] : &cases[i]);
    if (emu && (dts[d] == AX_BF16 || dts[d] == AX_F16))
      for (size_t i = 0; i < sizeof emu_half_cases / sizeof emu_half_cases[0]; i++) run_case(dts[d], &emu_half_cases[i]);
  }
  if (ax_cuda_attention_force_backend) ax_cuda_attention_force_backend(-1);
}
