/* SPDX-License-Identifier: BSD-3-Clause */
/* Softmax and log-softmax over the last dim of a contiguous [rows, cols] view,
 * and their backward passes, on CUDA.
 *
 *   cols <= 1024: a warp per row (4 rows a block) holding the row in registers
 *                 (up to 32 values a lane): the row is read once and written once.
 *   longer rows:  a block per row. One read pass keeps a running (max, sum of
 *                 exp) per thread (the online softmax), merged across the block;
 *                 a second pass reads the row again (mostly from L2) and writes.
 *                 16-byte loads and stores when the row length and pointers allow.
 * Accumulation in f32 (f64 for f64). NaN and infinity follow kernels/cpu/softmax.c:
 * NaN anywhere gives a NaN row, an all -inf row gives NaN, +inf gives NaN. */
#include "kernels/cuda/rows.cuh"

namespace {

using axr::narrow;
using axr::widen;

/* ---------------- forward ---------------- */

template <typename T, typename A, int VPT>
__global__ void softmax_warp_kernel(T *__restrict__ y, const T *__restrict__ x, int64_t rows, int cols, int take_log) {
  int64_t r = (int64_t)blockIdx.x * blockDim.y + threadIdx.y;
  if (r >= rows) return;
  const T *xr = x + r * cols;
  T *yr = y + r * cols;
  int lane = threadIdx.x;
  A v[VPT];
  A m = -axr::pos_inf<A>();
  axr::MaxNanF<A> mx;
#pragma unroll
  for (int k = 0; k < VPT; k++) {
    int c = lane + 32 * k;
    v[k] = c < cols ? widen<A>(xr[c]) : -axr::pos_inf<A>();
    m = mx(m, v[k]);
  }
  m = axr::shfl_first(axr::warp_reduce(m, mx), 32);
  if (isinf(m)) m = m > 0 ? m : A(0);
  A s = 0;
#pragma unroll
  for (int k = 0; k < VPT; k++) {
    int c = lane + 32 * k;
    v[k] -= m;
    if (c < cols) s += axr::ex(v[k]);
  }
  s = axr::shfl_first(axr::warp_reduce(s, axr::SumF<A>()), 32);
  if (take_log) {
    A ls = axr::lg(s);
#pragma unroll
    for (int k = 0; k < VPT; k++) {
      int c = lane + 32 * k;
      if (c < cols) yr[c] = narrow<T, A>(v[k] - ls);
    }
  } else {
    A inv = A(1) / s;
#pragma unroll
    for (int k = 0; k < VPT; k++) {
      int c = lane + 32 * k;
      if (c < cols) yr[c] = narrow<T, A>(axr::ex(v[k]) * inv);
    }
  }
}

template <typename T, typename A>
__global__ void softmax_block_kernel(T *__restrict__ y, const T *__restrict__ x, int64_t cols, int take_log, bool vec) {
  int64_t r = blockIdx.x;
  const T *xr = x + r * cols;
  T *yr = y + r * cols;
  axr::MaxSum<A> p = axr::ms_empty<A>();
  axr::visit1(xr, cols, vec, [&](int64_t, T v) { axr::ms_add(p, widen<A>(v)); });
  p = axr::ms_final(axr::group_reduce(p, axr::MaxSumF<A>()));
  if (take_log) {
    A ls = axr::lg(p.s);
    axr::map1(yr, xr, cols, vec, [&](int64_t, T v) { return narrow<T, A>((widen<A>(v) - p.m) - ls); });
  } else {
    A inv = A(1) / p.s;
    axr::map1(yr, xr, cols, vec, [&](int64_t, T v) { return narrow<T, A>(axr::ex(widen<A>(v) - p.m) * inv); });
  }
}

/* ---------------- backward ----------------
 * softmax: gx = y (gy - sum(gy y)); log_softmax: gx = gy - exp(y) sum(gy). */

template <typename T, typename A, int VPT>
__global__ void softmax_backward_warp_kernel(T *__restrict__ gx, const T *__restrict__ gy, const T *__restrict__ y,
                                             int64_t rows, int cols, int take_log) {
  int64_t r = (int64_t)blockIdx.x * blockDim.y + threadIdx.y;
  if (r >= rows) return;
  int64_t off = r * cols;
  int lane = threadIdx.x;
  A g[VPT], yv[VPT], s = 0;
#pragma unroll
  for (int k = 0; k < VPT; k++) {
    int c = lane + 32 * k;
    g[k] = c < cols ? widen<A>(gy[off + c]) : A(0);
    yv[k] = c < cols ? widen<A>(y[off + c]) : A(0);
    s += take_log ? g[k] : g[k] * yv[k];
  }
  s = axr::shfl_first(axr::warp_reduce(s, axr::SumF<A>()), 32);
#pragma unroll
  for (int k = 0; k < VPT; k++) {
    int c = lane + 32 * k;
    if (c < cols) gx[off + c] = narrow<T, A>(take_log ? g[k] - axr::ex(yv[k]) * s : yv[k] * (g[k] - s));
  }
}

template <typename T, typename A>
__global__ void softmax_backward_block_kernel(T *__restrict__ gx, const T *__restrict__ gy, const T *__restrict__ y,
                                              int64_t cols, int take_log, bool vec) {
  int64_t off = (int64_t)blockIdx.x * cols;
  A s = 0;
  axr::visit2(gy + off, y + off, cols, vec, [&](int64_t, T g, T yv) {
    s += take_log ? widen<A>(g) : widen<A>(g) * widen<A>(yv);
  });
  s = axr::group_reduce(s, axr::SumF<A>());
  axr::map2(gx + off, gy + off, y + off, cols, vec, [&](int64_t, T g, T yv) {
    A ga = widen<A>(g), ya = widen<A>(yv);
    return narrow<T, A>(take_log ? ga - axr::ex(ya) * s : ya * (ga - s));
  });
}

/* Registers per lane for the warp path: the smallest power of two covering cols / 32. */
static int values_per_lane(int64_t cols) {
  int v = 1;
  while (32 * v < cols) v *= 2;
  return v;
}

#define AX_SOFTMAX_VPT_CASES(VPT_VAR, LAUNCH) \
  switch (VPT_VAR) {                          \
    case 1: LAUNCH(1); break;                 \
    case 2: LAUNCH(2); break;                 \
    case 4: LAUNCH(4); break;                 \
    case 8: LAUNCH(8); break;                 \
    case 16: LAUNCH(16); break;               \
    default: LAUNCH(32); break;               \
  }

constexpr int64_t WARP_MAX_COLS = 1024;

template <typename T>
void softmax_run(ax_kt *out, const ax_kt *in, int take_log) {
  typedef typename ax_acc<T>::type A;
  int64_t cols = in->shape[in->ndim - 1], rows = 1;
  for (int d = 0; d < in->ndim - 1; d++) rows *= in->shape[d];
  if (rows == 0 || cols == 0) return;
  cudaStream_t st = ax_cuda_stream();
  dim3 grid, block;
  axr::row_launch_shape(rows, cols, WARP_MAX_COLS, &grid, &block);
  T *y = (T *)out->data;
  const T *x = (const T *)in->data;
  if (cols <= WARP_MAX_COLS) {
#define LAUNCH(V) ax_cuda_launch(softmax_warp_kernel<T, A, V>, grid, block, 0, st, y, x, rows, (int)cols, take_log)
    AX_SOFTMAX_VPT_CASES(values_per_lane(cols), LAUNCH)
#undef LAUNCH
    AX_CUDA_LAUNCH_CHECK("softmax_warp_kernel");
  } else {
    bool vec = axr::can_vec<T>(cols, y, x);
    ax_cuda_launch(softmax_block_kernel<T, A>, grid, block, 0, st, y, x, cols, take_log, vec);
    AX_CUDA_LAUNCH_CHECK("softmax_block_kernel");
  }
}

template <typename T>
void softmax_backward_run(ax_kt *gx, const ax_kt *gy, const ax_kt *y, int take_log) {
  typedef typename ax_acc<T>::type A;
  int64_t cols = y->shape[y->ndim - 1], rows = 1;
  for (int d = 0; d < y->ndim - 1; d++) rows *= y->shape[d];
  if (rows == 0 || cols == 0) return;
  cudaStream_t st = ax_cuda_stream();
  dim3 grid, block;
  axr::row_launch_shape(rows, cols, WARP_MAX_COLS, &grid, &block);
  T *g = (T *)gx->data;
  const T *gyp = (const T *)gy->data, *yp = (const T *)y->data;
  if (cols <= WARP_MAX_COLS) {
#define LAUNCH(V) ax_cuda_launch(softmax_backward_warp_kernel<T, A, V>, grid, block, 0, st, g, gyp, yp, rows, (int)cols, take_log)
    AX_SOFTMAX_VPT_CASES(values_per_lane(cols), LAUNCH)
#undef LAUNCH
    AX_CUDA_LAUNCH_CHECK("softmax_backward_warp_kernel");
  } else {
    bool vec = axr::can_vec<T>(cols, g, gyp, yp);
    ax_cuda_launch(softmax_backward_block_kernel<T, A>, grid, block, 0, st, g, gyp, yp, cols, take_log, vec);
    AX_CUDA_LAUNCH_CHECK("softmax_backward_block_kernel");
  }
}

}  // namespace

extern "C" ax_kstatus ax_cuda_softmax(ax_kt *out, const ax_kt *in, int log) {
  AX_CUDA_ENTRY;
  AX_CUDA_DISPATCH_FLOAT(in->dtype, "ax_cuda_softmax", softmax_run<scalar_t>(out, in, log))
  return ax_cuda_kstatus();
}

extern "C" ax_kstatus ax_cuda_softmax_backward(ax_kt *gx, const ax_kt *gy, const ax_kt *y, int log) {
  AX_CUDA_ENTRY;
  AX_CUDA_DISPATCH_FLOAT(y->dtype, "ax_cuda_softmax_backward", softmax_backward_run<scalar_t>(gx, gy, y, log))
  return ax_cuda_kstatus();
}
