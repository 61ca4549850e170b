/* SPDX-License-Identifier: BSD-3-Clause */
/* The cuBLAS alternate of the GEMM entry (AXON_GEMM=cublas; see gemm.cu).
 *
 * cuBLAS is column-major; a row-major C [m, n] is a column-major C^T [n, m],
 * and C^T = op(B)^T op(A)^T, so we ask for that product with the operands
 * swapped and the same transpose flags: nothing is copied. f32 is computed in
 * true f32 (CUBLAS_COMPUTE_32F, no TF32) so that it agrees with the CPU
 * reference; AXON_GEMM_TF32=1 allows TF32 tensor cores for speed. bf16/f16
 * accumulate in f32 and write C in their own dtype, like gemm.cu.
 *
 * The handle: runtime.cu's ax_cuda_cublas() when it is linked in (weak
 * reference), else one handle per device created here on first use. */
#include <cublas_v2.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/common.cuh"
#include "axon/settings.h"

extern "C" cublasHandle_t ax_cuda_cublas(void) __attribute__((weak));

#define AX_CUBLAS_MAX_DEVICES 64

static bool cublas_check_at(cublasStatus_t s, const char *what, const char *file, int line) {
  if (s == CUBLAS_STATUS_SUCCESS) return true;
  ax_cuda_error("cuBLAS error %s (%s) in %s at %s:%d", cublasGetStatusName(s), cublasGetStatusString(s), what, file,
           line);
  return false;
}
#define AX_CUBLAS_CHECK(call) cublas_check_at((call), #call, __FILE__, __LINE__)

static cublasHandle_t handle_for_current_device(void) {
  if (ax_cuda_cublas) return ax_cuda_cublas();
  static cublasHandle_t handles[AX_CUBLAS_MAX_DEVICES];
  int dev = ax_cuda_current_device();
  if (dev < 0 || dev >= AX_CUBLAS_MAX_DEVICES) {
    ax_cuda_error("ax_cuda_gemm: cuda:%d is past the %d devices the cuBLAS handle table holds", dev,
             AX_CUBLAS_MAX_DEVICES);
    return NULL;
  }
  if (!handles[dev] && !AX_CUBLAS_CHECK(cublasCreate(&handles[dev]))) return NULL;
  return handles[dev];
}

static bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

static bool allow_tf32(void) { return ax_settings_get()->gemm_tf32; /* AXON_GEMM_TF32 */ }

extern "C" bool ax_cuda_gemm_cublas(const ax_gemm_args *g) {
  if (!fits_int(g->m) || !fits_int(g->n) || !fits_int(g->k) || !fits_int(g->batch) || !fits_int(g->lda) ||
      !fits_int(g->ldb) || !fits_int(g->ldc))
    return false;
  cudaDataType_t type;
  cublasComputeType_t compute;
  switch (g->dtype) {
  case AX_F32: type = CUDA_R_32F, compute = allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F; break;
  case AX_F64: type = CUDA_R_64F, compute = CUBLAS_COMPUTE_64F; break;
  case AX_BF16: type = CUDA_R_16BF, compute = CUBLAS_COMPUTE_32F; break;
  case AX_F16: type = CUDA_R_16F, compute = CUBLAS_COMPUTE_32F; break;
  default: return false;
  }
  cublasHandle_t h = handle_for_current_device();
  if (!h) return true; /* reported */
  if (!AX_CUBLAS_CHECK(cublasSetStream(h, ax_cuda_stream()))) return true;
  /* alpha and beta have the compute type's precision */
  float alpha_f = (float)g->alpha, beta_f = (float)g->beta;
  const void *alpha = compute == CUBLAS_COMPUTE_64F ? (const void *)&g->alpha : (const void *)&alpha_f;
  const void *beta = compute == CUBLAS_COMPUTE_64F ? (const void *)&g->beta : (const void *)&beta_f;
  /* cuBLAS insists on ld >= rows of the stored column-major matrix even where a
   * dimension is 1 and the ld never matters; the op layer may pass ld = 1 then */
  int64_t ldb = g->ldb, lda = g->lda, ldc = g->ldc;
  int64_t b_rows = g->trans_b ? g->k : g->n, a_rows = g->trans_a ? g->m : g->k;
  if (ldb < b_rows) ldb = b_rows;
  if (lda < a_rows) lda = a_rows;
  if (ldc < g->n) ldc = g->n;
  if (!fits_int(lda) || !fits_int(ldb) || !fits_int(ldc)) return false;
  AX_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      h, g->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, g->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, (int)g->n, (int)g->m,
      (int)g->k, alpha, g->b, type, (int)ldb, (long long)g->stride_b, g->a, type, (int)lda,
      (long long)g->stride_a, beta, g->c, type, (int)ldc, (long long)g->stride_c, (int)g->batch, compute,
      CUBLAS_GEMM_DEFAULT));
  return true;
}
