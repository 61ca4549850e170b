/* SPDX-License-Identifier: BSD-3-Clause */
/* Building blocks of the row-wise kernels (reduce.cu, softmax.cu, loss.cu):
 * element <-> accumulator conversions that keep f64 exact (common.cuh's
 * ax_to_f goes through float), warp and block reductions whose combination
 * order depends only on the launch shape (so results are deterministic), and
 * the online (max, sum of exp) pair of softmax and cross-entropy. */
#ifndef AXON_KERNELS_CUDA_ROWS_CUH
#define AXON_KERNELS_CUDA_ROWS_CUH

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <type_traits>

#include "kernels/cuda/common.cuh"

namespace axr {

template <typename A, typename T> __device__ __forceinline__ A widen(T v) { return (A)v; }
template <> __device__ __forceinline__ float widen<float, __nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <> __device__ __forceinline__ float widen<float, __half>(__half v) { return __half2float(v); }
template <typename T, typename A> __device__ __forceinline__ T narrow(A v) { return (T)v; }
template <> __device__ __forceinline__ __nv_bfloat16 narrow<__nv_bfloat16, float>(float v) { return __float2bfloat16(v); }
template <> __device__ __forceinline__ __half narrow<__half, float>(float v) { return __float2half(v); }

/* expf / logf, not the __expf intrinsics: the CPU reference is within an ulp or two */
__device__ __forceinline__ float ex(float x) { return expf(x); }
__device__ __forceinline__ double ex(double x) { return exp(x); }
__device__ __forceinline__ float lg(float x) { return logf(x); }
__device__ __forceinline__ double lg(double x) { return log(x); }

template <typename A> __device__ __forceinline__ A pos_inf() { return (A)INFINITY; }

/* Running (max, sum of exp(x - max)) of a stream of values. */
template <typename A> struct MaxSum { A m, s; };

template <typename A> __device__ __forceinline__ MaxSum<A> ms_empty() { return MaxSum<A>{-pos_inf<A>(), A(0)}; }

/* NaN leaves m alone but makes s NaN; -inf adds nothing; a second +inf makes s NaN (inf - inf). */
template <typename A> __device__ __forceinline__ void ms_add(MaxSum<A> &p, A v) {
  if (v > p.m) {
    p.s = p.s * ex(p.m - v) + A(1);
    p.m = v;
  } else if (v != -pos_inf<A>()) {
    p.s += ex(v - p.m);
  }
}

template <typename A> __device__ __forceinline__ MaxSum<A> ms_merge(MaxSum<A> a, MaxSum<A> b) {
  A m = a.m > b.m ? a.m : b.m;
  A s = (a.m == -pos_inf<A>() ? A(0) : a.s * ex(a.m - m)) + (b.m == -pos_inf<A>() ? A(0) : b.s * ex(b.m - m));
  return MaxSum<A>{m, s};
}

/* The CPU's conventions: an all -inf (or empty) row shifts by 0, so softmax is 0/0 = NaN;
 * a row with +inf is NaN throughout. */
template <typename A> __device__ __forceinline__ MaxSum<A> ms_final(MaxSum<A> p) {
  if (p.m == -pos_inf<A>()) p.m = A(0);
  if (p.m == pos_inf<A>()) p.s = (A)NAN;
  return p;
}

/* Shuffles of any value: arithmetic types directly, small structs (MaxSum, an
 * arg-reduction's (value, index)) word by word. */
template <typename V> __device__ __forceinline__ V shfl_down(V v, int o, int w) {
  if constexpr (std::is_arithmetic<V>::value) {
    return __shfl_down_sync(0xffffffffu, v, o, w);
  } else {
    static_assert(sizeof(V) % 4 == 0, "shuffled structs are whole words");
    unsigned u[sizeof(V) / 4];
    memcpy(u, &v, sizeof(V));
    for (unsigned k = 0; k < sizeof(V) / 4; k++) u[k] = __shfl_down_sync(0xffffffffu, u[k], o, w);
    memcpy(&v, u, sizeof(V));
    return v;
  }
}

/* Lane 0's value of each segment of `width` lanes. */
template <typename V> __device__ __forceinline__ V shfl_first(V v, int w) {
  if constexpr (std::is_arithmetic<V>::value) {
    return __shfl_sync(0xffffffffu, v, 0, w);
  } else {
    unsigned u[sizeof(V) / 4];
    memcpy(u, &v, sizeof(V));
    for (unsigned k = 0; k < sizeof(V) / 4; k++) u[k] = __shfl_sync(0xffffffffu, u[k], 0, w);
    memcpy(&v, u, sizeof(V));
    return v;
  }
}

/* Tree over the `width` lanes of each segment (a power of two <= 32); lane 0 of each
 * segment gets the result. All 32 lanes of the warp must call it. */
template <typename V, typename F> __device__ __forceinline__ V warp_reduce(V v, F f, int width = 32) {
  for (int o = width / 2; o > 0; o >>= 1) v = f(v, shfl_down(v, o, width));
  return v;
}

/* Reduction over a 1-D block of blockDim.x threads (a power of two, 32..1024);
 * every thread gets the result. */
template <typename V, typename F> __device__ __forceinline__ V block_reduce(V v, F f) {
  AX_SHARED(V, sh, [32]);
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_reduce(v, f);
  if (nw == 1) return shfl_first(v, 32);
  __syncthreads(); /* the previous call's readers are done with sh */
  if (lane == 0) sh[w] = v;
  __syncthreads();
  if (w == 0) {
    v = warp_reduce(sh[lane % nw], f, nw);
    if (lane == 0) sh[0] = v;
  }
  __syncthreads();
  return sh[0];
}

/* ---------------- row loops ----------------
 * A row is handled by a group: blockDim.x threads (a warp with blockDim.y rows
 * per block, or the whole block with blockDim.y = 1). With `vec` (the row
 * length a multiple of N = 16 / sizeof(T) and the pointers 16-byte aligned)
 * elements move as 16-byte packs. f gets the element's column and value(s). */

template <typename T> struct VecWidth { static constexpr int n = 16 / sizeof(T); };
template <typename T, int N> struct alignas(16) Pack { T v[N]; };

/* Whether rows of `cols` elements at these pointers can use 16-byte packs. */
template <typename T> static inline bool can_vec(int64_t cols, const void *a, const void *b = nullptr,
                                                 const void *c = nullptr) {
  const int n = VecWidth<T>::n;
  return cols % n == 0 && ((uintptr_t)a | (uintptr_t)b | (uintptr_t)c) % 16 == 0;
}

template <typename T, typename F> __device__ __forceinline__ void visit1(const T *a, int64_t cols, bool vec, F f) {
  constexpr int N = VecWidth<T>::n;
  if (vec) {
    for (int64_t p = threadIdx.x; p < cols / N; p += blockDim.x) {
      Pack<T, N> pa = ((const Pack<T, N> *)a)[p];
#pragma unroll
      for (int k = 0; k < N; k++) f(p * N + k, pa.v[k]);
    }
  } else {
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) f(i, a[i]);
  }
}

template <typename T, typename F>
__device__ __forceinline__ void visit2(const T *a, const T *b, int64_t cols, bool vec, F f) {
  constexpr int N = VecWidth<T>::n;
  if (vec) {
    for (int64_t p = threadIdx.x; p < cols / N; p += blockDim.x) {
      Pack<T, N> pa = ((const Pack<T, N> *)a)[p], pb = ((const Pack<T, N> *)b)[p];
#pragma unroll
      for (int k = 0; k < N; k++) f(p * N + k, pa.v[k], pb.v[k]);
    }
  } else {
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) f(i, a[i], b[i]);
  }
}

/* out[i] = f(i, a[i]) */
template <typename T, typename F> __device__ __forceinline__ void map1(T *out, const T *a, int64_t cols, bool vec, F f) {
  constexpr int N = VecWidth<T>::n;
  if (vec) {
    for (int64_t p = threadIdx.x; p < cols / N; p += blockDim.x) {
      Pack<T, N> pa = ((const Pack<T, N> *)a)[p], po;
#pragma unroll
      for (int k = 0; k < N; k++) po.v[k] = f(p * N + k, pa.v[k]);
      ((Pack<T, N> *)out)[p] = po;
    }
  } else {
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) out[i] = f(i, a[i]);
  }
}

/* out[i] = f(i, a[i], b[i]) */
template <typename T, typename F>
__device__ __forceinline__ void map2(T *out, const T *a, const T *b, int64_t cols, bool vec, F f) {
  constexpr int N = VecWidth<T>::n;
  if (vec) {
    for (int64_t p = threadIdx.x; p < cols / N; p += blockDim.x) {
      Pack<T, N> pa = ((const Pack<T, N> *)a)[p], pb = ((const Pack<T, N> *)b)[p], po;
#pragma unroll
      for (int k = 0; k < N; k++) po.v[k] = f(p * N + k, pa.v[k], pb.v[k]);
      ((Pack<T, N> *)out)[p] = po;
    }
  } else {
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) out[i] = f(i, a[i], b[i]);
  }
}

/* The reduction over a row's group; every thread of the group gets the result. */
template <typename V, typename F> __device__ __forceinline__ V group_reduce(V v, F f) {
  if (blockDim.x == 32) return shfl_first(warp_reduce(v, f), 32);
  return block_reduce(v, f);
}

/* Launch shape for rows of `cols`: a warp per row (4 rows a block) up to
 * `warp_max` columns, else a block of 512 (fewer for modest rows). */
static inline void row_launch_shape(int64_t rows, int64_t cols, int64_t warp_max, dim3 *grid, dim3 *block) {
  if (cols <= warp_max) {
    *block = dim3(32, 4);
    *grid = dim3((unsigned)((rows + 3) / 4));
  } else {
    *block = dim3(cols <= 4096 ? 128 : cols <= 16384 ? 256 : 512, 1);
    *grid = dim3((unsigned)rows);
  }
}

template <typename A> struct SumF {
  __device__ __forceinline__ A operator()(A a, A b) const { return a + b; }
};
template <typename A> struct MaxSumF {
  __device__ __forceinline__ MaxSum<A> operator()(MaxSum<A> a, MaxSum<A> b) const { return ms_merge(a, b); }
};
/* max that propagates NaN, as the CPU's */
template <typename A> struct MaxNanF {
  __device__ __forceinline__ A operator()(A a, A v) const { return (v > a || v != v) ? v : a; }
};

}  // namespace axr

#endif
