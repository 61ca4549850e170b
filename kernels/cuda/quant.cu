/* SPDX-License-Identifier: BSD-3-Clause */
/* int8 quantization on CUDA (docs/quantization.md); the CPU kernels (kernels/cpu/quant.c)
 * are the reference and these compute the same bits.
 *
 * The GEMM c [M, N] i32 = a [M, K] i8 x b [N, K]^T i8 has two kernels:
 *   - tensor cores (mma.sync.m16n8k32 s8, sm_80 and later): a warp owns a 16 x 32
 *     tile of c (four m16n8 accumulators) and walks K 32 at a time; the fragments
 *     are gathered from global memory byte by byte with zeros past the edges;
 *   - dp4a (sm_61 and later): one thread per element of c, four products a step;
 *     taken when M < 16 (batch 1) and on GPUs without int8 mma.
 * Both accumulate in int32, so the result is exact. */
#include "kernels/cuda/common.cuh"

#if (defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800) || defined(AX_CUDA_EMULATE)
#define AX_QUANT_HAVE_MMA 1
#else
#define AX_QUANT_HAVE_MMA 0
#endif

namespace {

__device__ __forceinline__ int8_t q8(float v) {
  v = rintf(v);
  if (v != v) return 0;
  return (int8_t)(v > 127.f ? 127.f : v < -127.f ? -127.f : v);
}

__global__ void quantize_s8_kernel(int8_t *q, const float *x, float scale, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    q[i] = q8(x[i] / scale);
}

/* four bytes of row r (from column k0), zeros past the matrix, packed little-endian */
__device__ __forceinline__ uint32_t pack4(const int8_t *m, int64_t rows, int64_t k, int64_t r, int64_t k0) {
  uint32_t v = 0;
  if (r < rows)
    for (int h = 0; h < 4; h++)
      if (k0 + h < k) v |= (uint32_t)(uint8_t)m[r * k + k0 + h] << (8 * h);
  return v;
}

#if defined(AX_CUDA_EMULATE)
static inline void mma_16832_s8(int c[4], const uint32_t a[4], const uint32_t b[2]) {
  ax_emu_mma_16832_s8(c, a, b[0], b[1]);
}
#else
__device__ __forceinline__ void mma_16832_s8(int c[4], const uint32_t a[4], const uint32_t b[2]) {
#if AX_QUANT_HAVE_MMA
  asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
               "{%0,%1,%2,%3};\n"
               : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}
#endif

#define MMA_WARPS 4
#define MMA_TN 4 /* m16n8 tiles along n per warp: a warp owns 16 x 32 of c */

__global__ void gemm_s8_mma_kernel(int32_t *c, const int8_t *a, const int8_t *b, int64_t m, int64_t n, int64_t k) {
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, q = lane % 4;
  int64_t m0 = (int64_t)blockIdx.y * 16, n0 = ((int64_t)blockIdx.x * MMA_WARPS + warp) * 8 * MMA_TN;
  int acc[MMA_TN][4] = {};
  for (int64_t k0 = 0; k0 < k; k0 += 32) {
    uint32_t fa[4] = {pack4(a, m, k, m0 + g, k0 + 4 * q), pack4(a, m, k, m0 + g + 8, k0 + 4 * q),
                      pack4(a, m, k, m0 + g, k0 + 16 + 4 * q), pack4(a, m, k, m0 + g + 8, k0 + 16 + 4 * q)};
    for (int t = 0; t < MMA_TN; t++) {
      int64_t col = n0 + t * 8 + g;
      uint32_t fb[2] = {pack4(b, n, k, col, k0 + 4 * q), pack4(b, n, k, col, k0 + 16 + 4 * q)};
      mma_16832_s8(acc[t], fa, fb);
    }
  }
  for (int t = 0; t < MMA_TN; t++)
    for (int i = 0; i < 4; i++) {
      int64_t r = m0 + g + (i >= 2 ? 8 : 0), col = n0 + t * 8 + 2 * q + (i & 1);
      if (r < m && col < n) c[r * n + col] = acc[t][i];
    }
}

__global__ void gemm_s8_dp4a_kernel(int32_t *c, const int8_t *a, const int8_t *b, int64_t m, int64_t n, int64_t k) {
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < m * n; e += (int64_t)gridDim.x * blockDim.x) {
    int64_t i = e / n, j = e % n;
    int s = 0;
    for (int64_t p = 0; p < k; p += 4) s = __dp4a((int)pack4(a, m, k, i, p), (int)pack4(b, n, k, j, p), s);
    c[e] = s;
  }
}

__global__ void requant_s8_kernel(void *out, const int32_t *acc, const float *scale, const float *bias, int64_t m,
                                  int64_t n, float out_scale, int relu, int to_i8) {
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < m * n; e += (int64_t)gridDim.x * blockDim.x) {
    int64_t j = e % n;
    float v = fmaf((float)acc[e], scale[j], bias ? bias[j] : 0.f);
    if (relu && !(v > 0.f)) v = v != v ? v : 0.f;
    if (to_i8) ((int8_t *)out)[e] = q8(v / out_scale);
    else ((float *)out)[e] = v;
  }
}

__global__ void im2row_s8_kernel(int8_t *col, const int8_t *x, ax_conv_params p) {
  int64_t k = p.c * p.kh * p.kw, total = p.n * p.oh * p.ow * k;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    int64_t r = e / k, kk = e % k;
    int64_t ox = r % p.ow, oy = r / p.ow % p.oh, n = r / (p.ow * p.oh);
    int64_t j = kk % p.kw, i = kk / p.kw % p.kh, c = kk / (p.kw * p.kh);
    int64_t y = oy * p.sh - p.ph + i * p.dh, xx = ox * p.sw - p.pw + j * p.dw;
    col[e] = (y >= 0 && y < p.h && xx >= 0 && xx < p.w) ? x[((n * p.c + c) * p.h + y) * p.w + xx] : (int8_t)0;
  }
}

int64_t numel_of(const ax_kt *t) {
  int64_t n = 1;
  for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
  return n;
}

}  // namespace

extern "C" ax_kstatus ax_cuda_quantize_s8(ax_kt *out, const ax_kt *in, float scale) {
  AX_CUDA_ENTRY;
  if (out->dtype != AX_I8 || in->dtype != AX_F32) {
    ax_cuda_error("ax_cuda_quantize_s8: f32 -> i8 only (got %d -> %d)", in->dtype, out->dtype);
    return ax_cuda_kstatus();
  }
  int64_t n = numel_of(in);
  if (n == 0) return ax_cuda_kstatus();
  ax_cuda_launch(quantize_s8_kernel, ax_cuda_blocks(n, 256), 256, 0, ax_cuda_stream(), (int8_t *)out->data,
                 (const float *)in->data, scale, n);
  AX_CUDA_LAUNCH_CHECK("quantize_s8");
  return ax_cuda_kstatus();
}

/* the int8 mma needs sm_80 (the emulated device is an sm_90) */
static bool quant_have_mma(void) {
#if defined(AX_CUDA_EMULATE)
  return true;
#else
  int dev = ax_cuda_current_device(), major = 0;
  return cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess && major >= 8;
#endif
}

extern "C" ax_kstatus ax_cuda_gemm_s8(ax_kt *c, const ax_kt *a, const ax_kt *b) {
  AX_CUDA_ENTRY;
  if (c->dtype != AX_I32 || a->dtype != AX_I8 || b->dtype != AX_I8) {
    ax_cuda_error("ax_cuda_gemm_s8: i8 x i8 -> i32 only");
    return ax_cuda_kstatus();
  }
  int64_t m = a->shape[0], n = b->shape[0], k = a->shape[1];
  if (m == 0 || n == 0) return ax_cuda_kstatus();
  int32_t *cp = (int32_t *)c->data;
  const int8_t *ap = (const int8_t *)a->data, *bp = (const int8_t *)b->data;
  if (m >= 16 && quant_have_mma() && (m + 15) / 16 <= 65535) {
    dim3 grid((unsigned)((n + 8 * MMA_TN * MMA_WARPS - 1) / (8 * MMA_TN * MMA_WARPS)), (unsigned)((m + 15) / 16));
    ax_cuda_launch(gemm_s8_mma_kernel, grid, 32 * MMA_WARPS, 0, ax_cuda_stream(), cp, ap, bp, m, n, k);
    AX_CUDA_LAUNCH_CHECK("gemm_s8_mma");
  } else {
    ax_cuda_launch(gemm_s8_dp4a_kernel, ax_cuda_blocks(m * n, 256), 256, 0, ax_cuda_stream(), cp, ap, bp, m, n, k);
    AX_CUDA_LAUNCH_CHECK("gemm_s8_dp4a");
  }
  return ax_cuda_kstatus();
}

extern "C" ax_kstatus ax_cuda_requant_s8(ax_kt *out, const ax_kt *acc, const ax_kt *scale, const ax_kt *bias,
                                         float out_scale, int relu) {
  AX_CUDA_ENTRY;
  if (acc->dtype != AX_I32 || (out->dtype != AX_F32 && out->dtype != AX_I8)) {
    ax_cuda_error("ax_cuda_requant_s8: i32 -> f32 or i8 only");
    return ax_cuda_kstatus();
  }
  int64_t m = acc->shape[0], n = acc->shape[1];
  if (m * n == 0) return ax_cuda_kstatus();
  ax_cuda_launch(requant_s8_kernel, ax_cuda_blocks(m * n, 256), 256, 0, ax_cuda_stream(), out->data,
                 (const int32_t *)acc->data, (const float *)scale->data, bias ? (const float *)bias->data : nullptr, m,
                 n, out_scale, relu, out->dtype == AX_I8 ? 1 : 0);
  AX_CUDA_LAUNCH_CHECK("requant_s8");
  return ax_cuda_kstatus();
}

extern "C" ax_kstatus ax_cuda_im2row_s8(ax_kt *col, const ax_kt *x, const ax_conv_params *p) {
  AX_CUDA_ENTRY;
  if (col->dtype != AX_I8 || x->dtype != AX_I8 || p->groups != 1) {
    ax_cuda_error("ax_cuda_im2row_s8: i8 with groups 1 only");
    return ax_cuda_kstatus();
  }
  int64_t total = numel_of(col);
  if (total == 0) return ax_cuda_kstatus();
  ax_cuda_launch(im2row_s8_kernel, ax_cuda_blocks(total, 256), 256, 0, ax_cuda_stream(), (int8_t *)col->data,
                 (const int8_t *)x->data, *p);
  AX_CUDA_LAUNCH_CHECK("im2row_s8");
  return ax_cuda_kstatus();
}
