/* SPDX-License-Identifier: BSD-3-Clause */
/* Deterministic device-wide helpers of our own (no CUB, so that they run on the
 * emulated device too): an exclusive prefix sum of ints and a stable LSD radix
 * sort of (int key, int value) pairs. Used by embedding_backward (layernorm.cu)
 * to group token positions by vocabulary row in position order, so that the
 * gradient sums run in the same order on every run. */
#ifndef AXON_KERNELS_CUDA_SORT_CUH
#define AXON_KERNELS_CUDA_SORT_CUH

#include "kernels/cuda/common.cuh"

namespace axsort {

constexpr int SCAN_THREADS = 1024;
constexpr int RADIX_BITS = 8, RADIX = 1 << RADIX_BITS;
constexpr int CHUNK = 2048; /* elements of one block of a radix pass */

/* out[i] = in[0] + ... + in[i-1] for i < m: one block, each thread a contiguous run. */
__global__ void scan_exclusive_kernel(const int *in, int *out, int64_t m) {
  AX_SHARED(int, part, [SCAN_THREADS]);
  const int t = threadIdx.x;
  const int64_t seg = (m + SCAN_THREADS - 1) / SCAN_THREADS, beg = t * seg, end = beg + seg < m ? beg + seg : m;
  int s = 0;
  for (int64_t i = beg; i < end; i++) s += in[i];
  part[t] = s;
  __syncthreads();
  if (t == 0) {
    int run = 0;
    for (int k = 0; k < SCAN_THREADS; k++) {
      int v = part[k];
      part[k] = run;
      run += v;
    }
  }
  __syncthreads();
  int run = part[t];
  for (int64_t i = beg; i < end; i++) {
    int v = in[i];
    out[i] = run;
    run += v;
  }
}

/* hist[d * chunks + c]: how many keys of chunk c have digit d. */
__global__ void radix_hist_kernel(const int *keys, int64_t n, int shift, int *hist, int chunks) {
  AX_SHARED(int, h, [RADIX]);
  for (int d = threadIdx.x; d < RADIX; d += blockDim.x) h[d] = 0;
  __syncthreads();
  const int64_t beg = (int64_t)blockIdx.x * CHUNK, end = beg + CHUNK < n ? beg + CHUNK : n;
  for (int64_t i = beg + threadIdx.x; i < end; i += blockDim.x) atomicAdd(&h[(keys[i] >> shift) & (RADIX - 1)], 1);
  __syncthreads();
  for (int d = threadIdx.x; d < RADIX; d += blockDim.x) hist[(int64_t)d * chunks + blockIdx.x] = h[d];
}

/* One warp per chunk, 32 keys at a time in order: a key's place is its digit's
 * running offset plus the number of lower lanes with the same digit (stable). */
__global__ void radix_scatter_kernel(const int *keys, const int *vals, int *keys_out, int *vals_out, int64_t n,
                                     int shift, const int *offsets, int chunks) {
  AX_SHARED(int, base, [RADIX]);
  const int lane = threadIdx.x;
  for (int d = lane; d < RADIX; d += 32) base[d] = offsets[(int64_t)d * chunks + blockIdx.x];
  __syncthreads();
  const int64_t beg = (int64_t)blockIdx.x * CHUNK, end = beg + CHUNK < n ? beg + CHUNK : n;
  for (int64_t t0 = beg; t0 < end; t0 += 32) {
    const int64_t i = t0 + lane;
    const bool valid = i < end;
    const int key = valid ? keys[i] : 0, d = valid ? (key >> shift) & (RADIX - 1) : -1;
    int rank = 0, count = 0;
    for (int src = 0; src < 32; src++) {
      int other = __shfl_sync(0xFFFFFFFFu, d, src);
      if (other == d) count++, rank += src < lane;
    }
    const int at = valid ? base[d] + rank : 0;
    __syncthreads(); /* every lane has read base before the last of each digit moves it */
    if (valid) {
      keys_out[at] = key;
      vals_out[at] = vals[i];
      if (rank == count - 1) base[d] += count;
    }
    __syncthreads();
  }
}

/* Scratch ints the sort of n pairs needs besides its four key/value buffers. */
inline size_t radix_scratch_ints(int64_t n) {
  int64_t chunks = (n + CHUNK - 1) / CHUNK;
  return 2 * (size_t)RADIX * (size_t)(chunks > 0 ? chunks : 1);
}

/* Sorts (keys, vals) by the low `bits` bits of the keys (non-negative), stably.
 * k0/v0 hold the input; the result is left in *keys_res / *vals_res (k0/v0 or
 * k1/v1). Returns false after reporting an error. */
inline bool radix_sort_pairs(int *k0, int *v0, int *k1, int *v1, int64_t n, int bits, int *scratch, cudaStream_t st,
                             int **keys_res, int **vals_res) {
  const int chunks = (int)((n + CHUNK - 1) / CHUNK);
  int *hist = scratch, *offs = scratch + (size_t)RADIX * chunks;
  int *ki = k0, *vi = v0, *ko = k1, *vo = v1;
  for (int shift = 0; shift < bits && n > 0; shift += RADIX_BITS) {
    ax_cuda_launch(radix_hist_kernel, (unsigned)chunks, 256, 0, st, (const int *)ki, n, shift, hist, chunks);
    if (!AX_CUDA_LAUNCH_CHECK("radix_hist_kernel")) return false;
    ax_cuda_launch(scan_exclusive_kernel, 1, SCAN_THREADS, 0, st, (const int *)hist, offs, (int64_t)RADIX * chunks);
    if (!AX_CUDA_LAUNCH_CHECK("scan_exclusive_kernel")) return false;
    ax_cuda_launch(radix_scatter_kernel, (unsigned)chunks, 32, 0, st, (const int *)ki, (const int *)vi, ko, vo, n,
                   shift, (const int *)offs, chunks);
    if (!AX_CUDA_LAUNCH_CHECK("radix_scatter_kernel")) return false;
    int *t = ki; ki = ko; ko = t;
    t = vi; vi = vo; vo = t;
  }
  *keys_res = ki;
  *vals_res = vi;
  return true;
}

/* out[0..m) = exclusive prefix sums of in[0..m). */
inline bool scan_exclusive(const int *in, int *out, int64_t m, cudaStream_t st) {
  if (m <= 0) return true;
  ax_cuda_launch(scan_exclusive_kernel, 1, SCAN_THREADS, 0, st, in, out, m);
  return AX_CUDA_LAUNCH_CHECK("scan_exclusive_kernel");
}

}  // namespace axsort

#endif
