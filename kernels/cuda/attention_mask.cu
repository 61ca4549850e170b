/* SPDX-License-Identifier: BSD-3-Clause */
/* The two small kernels of the cuDNN attention path (attention_cudnn.cu), kept
 * apart from its cuDNN code so that they compile without cuDNN and run on the
 * emulated device too (tests/parity/parity_attention_cudnn.c checks them there). */
#include <stdint.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda.h"

namespace {

/* Bool masks and layouts cuDNN cannot read as a bias become a contiguous
 * [mb, mh, tq, ld] bias of the I/O type: true -> 0, false -> `hidden`. */
template <typename T>
__global__ void mask_to_bias(T *out, const void *mask, int is_bool, int64_t s0, int64_t s1, int64_t s2, int64_t s3,
                             int64_t mh, int64_t tq, int64_t tk, int64_t ld, int64_t n, float hidden) {
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < n; idx += (int64_t)gridDim.x * blockDim.x) {
    int64_t j = idx % tk, r = idx / tk, i = r % tq;
    r /= tq;
    int64_t hh = r % mh, bb = r / mh;
    int64_t off = bb * s0 + hh * s1 + i * s2 + j * s3;
    float v = is_bool ? (((const uint8_t *)mask)[off] ? 0.0f : hidden) : ax_to_f(((const T *)mask)[off]);
    out[((bb * mh + hh) * tq + i) * ld + j] = ax_from_f<T>(v);
  }
}

/* The seed and offset tensors of cuDNN's RNG (device INT64, 16 bytes apart). */
__global__ void put_seed(int64_t *p, uint64_t seed, uint64_t offset) {
  p[0] = (int64_t)seed;
  p[2] = (int64_t)offset;
}

} // namespace

extern "C" bool ax_cuda_attn_mask_to_bias(void *dst, int dtype, const ax_kt *m, int64_t mb, int64_t mh, int64_t tq,
                                          int64_t tk, int64_t ld) {
  if ((dtype != AX_BF16 && dtype != AX_F16) || m->ndim != 4 || (m->dtype != AX_BOOL && m->dtype != dtype) || ld < tk) {
    ax_cuda_error("attention mask to bias: needs a bf16 or f16 bias, a 4-D bool mask or one of the bias's dtype, and "
             "ld >= tk (got a %d-D mask, ld %lld, tk %lld)",
             m->ndim, (long long)ld, (long long)tk);
    return false;
  }
  int64_t n = mb * mh * tq * tk;
  if (n == 0) return true;
  int is_bool = m->dtype == AX_BOOL;
  unsigned blocks = ax_cuda_blocks(n, 256);
  cudaStream_t st = ax_cuda_stream();
  int64_t s0 = mb == 1 ? 0 : m->strides[0], s1 = mh == 1 ? 0 : m->strides[1];
  if (dtype == AX_BF16)
    ax_cuda_launch(mask_to_bias<__nv_bfloat16>, blocks, 256, 0, st, (__nv_bfloat16 *)dst, m->data, is_bool, s0, s1,
                   m->strides[2], m->strides[3], mh, tq, tk, ld, n, -3.3895314e38f);
  else
    ax_cuda_launch(mask_to_bias<__half>, blocks, 256, 0, st, (__half *)dst, m->data, is_bool, s0, s1, m->strides[2],
                   m->strides[3], mh, tq, tk, ld, n, -65504.0f);
  return AX_CUDA_LAUNCH_CHECK("mask_to_bias");
}

extern "C" bool ax_cuda_attn_put_seed(int64_t *dst, uint64_t seed, uint64_t offset) {
  ax_cuda_launch(put_seed, 1, 1, 0, ax_cuda_stream(), dst, seed, offset);
  return AX_CUDA_LAUNCH_CHECK("put_seed");
}
