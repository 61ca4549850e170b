/* SPDX-License-Identifier: BSD-3-Clause */
/* Dropout: out[i] = in[i] / (1 - p) where u_i >= p, else 0, on contiguous views.
 * u_i is the Philox uniform that the CPU's ax_cpu_random draws for element i
 * (kernels/philox.h is shared host/device code): f64 from the first two words,
 * every other dtype from the first word in f32, compared in that precision, so
 * the mask is bit-identical to the CPU's for the same (seed, offset). */
#include "kernels/cuda/common.cuh"
#include "kernels/philox.h"

namespace {

template <typename T>
__global__ void dropout_kernel(T *out, const T *in, double p, uint64_t seed, uint64_t offset, int64_t n) {
  typedef typename ax_acc<T>::type acc;
  acc scale = (acc)(p < 1 ? 1.0 / (1.0 - p) : 0.0), thr = (acc)p;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    ax_philox4 r = ax_philox4x32_10((uint64_t)i, offset, seed);
    /* acc is double exactly for f64, which draws 53 bits like the CPU */
    acc u = sizeof(acc) == 8 ? (acc)ax_uint2_to_unit_double(r.v[0], r.v[1]) : (acc)ax_uint_to_unit_float(r.v[0]);
    out[i] = u >= thr ? ax_acc_store<T>(ax_acc_load(in[i]) * scale) : ax_acc_store<T>((acc)0);
  }
}

}  // namespace

extern "C" ax_kstatus ax_cuda_dropout(ax_kt *out, const ax_kt *in, double p, uint64_t seed, uint64_t offset) {
  AX_CUDA_ENTRY;
  int64_t n = 1;
  for (int d = 0; d < out->ndim; d++) n *= out->shape[d];
  if (n == 0) return ax_cuda_kstatus();
  AX_CUDA_DISPATCH_FLOAT(out->dtype, "ax_cuda_dropout", {
    ax_cuda_launch(dropout_kernel<scalar_t>, ax_cuda_blocks(n, 256), 256, 0, ax_cuda_stream(),
        (scalar_t *)out->data, (const scalar_t *)in->data, p, seed, offset, n);
    AX_CUDA_LAUNCH_CHECK("dropout");
  })
  return ax_cuda_kstatus();
}
