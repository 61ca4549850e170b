/* SPDX-License-Identifier: BSD-3-Clause */
/* Parity of the int8 kernels on CUDA against the CPU: quantize, the int8 GEMM (its
 * tensor-core mma path for M >= 16 and its dp4a path for smaller M, edges of every
 * tile), requantization to f32 and i8 (with and without bias and ReLU) and im2row.
 * Every result is integer arithmetic or one fmaf and one division in f32 on both
 * devices, so all comparisons are exact. */
#include <stdio.h>
#include <stdlib.h>

#include "axon/quant.h"
#include "parity.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static ax_tensor *i8(int64_t r, int64_t c) {
  int8_t *d = malloc((size_t)(r * c > 0 ? r * c : 1));
  for (int64_t i = 0; i < r * c; i++) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    d[i] = (int8_t)(rng >> 56);
  }
  ax_tensor *t = ax_from_data(d, AX_SHAPE(r, c), &(ax_tensor_opts){.dtype = AX_I8});
  free(d);
  return t;
}

static void gemm_case(int64_t m, int64_t n, int64_t k) {
  ax_scope_begin();
  ax_tensor *a = i8(m, k), *b = i8(n, k);
  char desc[96];
  snprintf(desc, sizeof desc, "[%lld x %lld x %lld] %s", (long long)m, (long long)n, (long long)k,
           m >= 16 ? "mma" : "dp4a");
  pr_check("matmul_s8", desc, ax_matmul_s8(a, b), ax_matmul_s8(pr_cuda(a), pr_cuda(b)), PR_EXACT);
  ax_scope_end();
}

static void quantize_case(int64_t n, float scale) {
  ax_scope_begin();
  ax_tensor *x = pr_randn(AX_F32, 1, (int64_t[]){n});
  char desc[64];
  snprintf(desc, sizeof desc, "[%lld] scale %g", (long long)n, (double)scale);
  pr_check("quantize_s8", desc, ax_quantize_s8(x, scale), ax_quantize_s8(pr_cuda(x), scale), PR_EXACT);
  ax_scope_end();
}

static void requant_case(int64_t m, int64_t n, bool bias, bool relu, ax_dtype out) {
  ax_scope_begin();
  ax_tensor *acc = ax_matmul_s8(i8(m, 40), i8(n, 40));
  ax_tensor *s = ax_mul_scalar(ax_abs(pr_randn(AX_F32, 1, (int64_t[]){n})), 1e-3);
  ax_tensor *b = bias ? pr_randn(AX_F32, 1, (int64_t[]){n}) : NULL;
  char desc[96];
  snprintf(desc, sizeof desc, "[%lld x %lld]%s%s -> %s", (long long)m, (long long)n, bias ? " bias" : "",
           relu ? " relu" : "", ax_dtype_name(out));
  ax_tensor *ref = ax_requantize(acc, s, b, out, 0.05f, relu);
  ax_tensor *got = ax_requantize(pr_cuda(acc), pr_cuda(s), b ? pr_cuda(b) : NULL, out, 0.05f, relu);
  pr_check("requantize", desc, ref, got, PR_EXACT);
  ax_scope_end();
}

static void im2row_case(int64_t n, int64_t c, int64_t h, int64_t w, int kh, int kw, int s, int p, int d) {
  ax_scope_begin();
  ax_tensor *x = ax_reshape(i8(n * c, h * w), AX_SHAPE(n, c, h, w));
  ax_conv2d_opts o = {.stride_hw = {s, s}, .padding_hw = {p, p}, .dilation_hw = {d, d}, .groups = 1};
  char desc[96];
  snprintf(desc, sizeof desc, "[%lld,%lld,%lld,%lld] k%dx%d s%d p%d d%d", (long long)n, (long long)c, (long long)h,
           (long long)w, kh, kw, s, p, d);
  pr_check("im2row_s8", desc, ax_im2row_s8(x, kh, kw, &o), ax_im2row_s8(pr_cuda(x), kh, kw, &o), PR_EXACT);
  ax_scope_end();
}

void pr_family_quant(void) {
  const int64_t gemms[][3] = {{1, 10, 128}, {1, 1, 1}, {5, 7, 33},  {15, 9, 3},    {16, 8, 32},
                              {16, 128, 64}, {37, 45, 77}, {64, 10, 128}, {128, 64, 288}};
  for (size_t i = 0; i < sizeof gemms / sizeof *gemms; i++) gemm_case(gemms[i][0], gemms[i][1], gemms[i][2]);
  quantize_case(1, 0.1f);
  quantize_case(1000, 0.01f);
  quantize_case(33333, 0.02f);
  for (int bias = 0; bias < 2; bias++)
    for (int relu = 0; relu < 2; relu++) {
      requant_case(17, 33, bias, relu, AX_F32);
      requant_case(3, 10, bias, relu, AX_I8);
    }
  im2row_case(2, 3, 9, 8, 3, 3, 1, 1, 1);
  im2row_case(1, 2, 7, 7, 3, 3, 2, 0, 2);
  im2row_case(3, 1, 28, 28, 1, 1, 2, 0, 1);
}
