/* SPDX-License-Identifier: BSD-3-Clause */
/* Scans along one dim on CUDA: cumsum, cumprod, cummax (values and i64 indices)
 * and logcumsumexp, forward (prefix) or reverse (suffix). The same results as
 * the CPU (kernels/cpu/scan.c), up to rounding: f32 / bf16 / f16 accumulate in
 * f32, f64 in f64.
 *
 * Two kernels, picked from the layout of the scanned dim:
 *   lines: the scanned dim is contiguous (stride 1), or there are few lines. A
 *          block of 256 threads scans one line (grid-stride over the lines) in
 *          tiles of 1024 elements: each thread scans its 4 elements in
 *          registers, the block scans the 256 thread totals in shared memory
 *          (Hillis-Steele, double buffered) and a carry takes the previous
 *          tiles' total into the next tile.
 *   cols:  the scanned dim is strided and there are many lines: one thread per
 *          line walks it in order; neighbouring threads own neighbouring lines,
 *          so their loads coalesce.
 * The order of every combination depends only on the shape, so the same input
 * gives the same bits on every run. cummax is PyTorch's: the running max moves
 * to element i when i is NaN or >= the max so far (the later index wins a tie,
 * in scan order) and stays on the first NaN; logcumsumexp combines with
 * PyTorch's log-add-exp. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels/cuda/rows.cuh"

namespace {

using axr::narrow;
using axr::widen;

__device__ __forceinline__ float l1p(float x) { return log1pf(x); }
__device__ __forceinline__ double l1p(double x) { return log1p(x); }

/* ---------------- ops: a state, its identity, and combine(earlier, later) ---------------- */

template <typename A> struct SumOp {
  typedef A S;
  static __device__ __forceinline__ S ident() { return A(0); }
  static __device__ __forceinline__ S make(A v, int64_t) { return v; }
  static __device__ __forceinline__ S combine(S a, S b) { return a + b; }
};

template <typename A> struct ProdOp {
  typedef A S;
  static __device__ __forceinline__ S ident() { return A(1); }
  static __device__ __forceinline__ S make(A v, int64_t) { return v; }
  static __device__ __forceinline__ S combine(S a, S b) { return a * b; }
};

/* log(exp(a) + exp(b)), as PyTorch's _log_add_exp_helper: NaN propagates, two
 * infinities of one sign give that infinity; -inf is the identity. */
template <typename A> struct LseOp {
  typedef A S;
  static __device__ __forceinline__ S ident() { return -axr::pos_inf<A>(); }
  static __device__ __forceinline__ S make(A v, int64_t) { return v; }
  static __device__ __forceinline__ S combine(S a, S b) {
    A lo = b != b ? b : (a < b ? a : b), hi = b != b ? b : (a < b ? b : a);
    if (lo != hi || isfinite(lo)) return hi + l1p(axr::ex(lo - hi));
    return a;
  }
};

/* (value, index); i < 0 marks the identity. The later state wins unless the
 * earlier one is NaN, or the later one is a smaller number: a max under a total
 * order (first NaN > numbers; then value; then scan position), so associative. */
template <typename A> struct MaxState { A v; int64_t i; };
template <typename A> struct MaxOp {
  typedef MaxState<A> S;
  static __device__ __forceinline__ S ident() { return S{-axr::pos_inf<A>(), -1}; }
  static __device__ __forceinline__ S make(A v, int64_t i) { return S{v, i}; }
  static __device__ __forceinline__ S combine(S a, S b) {
    if (b.i < 0) return a;
    if (a.i < 0) return b;
    if (a.v != a.v) return a;
    return (b.v != b.v || b.v >= a.v) ? b : a;
  }
};

template <typename A> __device__ __forceinline__ A value_of(A s) { return s; }
template <typename A> __device__ __forceinline__ A value_of(MaxState<A> s) { return s.v; }
template <typename A> __device__ __forceinline__ int64_t index_of(A) { return 0; }
template <typename A> __device__ __forceinline__ int64_t index_of(MaxState<A> s) { return s.i; }

/* ---------------- layout ---------------- */

struct ScanArgs {
  const void *in;
  void *out;
  int64_t *indices; /* cummax only */
  int64_t n, s_in, s_out, s_idx; /* the scanned dim */
  int64_t nlines;
  int nk; /* the other dims */
  int64_t size[AX_MAX_DIMS], st_in[AX_MAX_DIMS], st_out[AX_MAX_DIMS], st_idx[AX_MAX_DIMS]; /* strides */
  int reverse;
};

__device__ __forceinline__ void line_offsets(const ScanArgs &a, int64_t o, int64_t *pi, int64_t *po, int64_t *px) {
  int64_t i = 0, u = 0, x = 0;
  for (int k = a.nk - 1; k >= 0; k--) {
    int64_t q = o / a.size[k], r = o - q * a.size[k];
    i += r * a.st_in[k], u += r * a.st_out[k], x += r * a.st_idx[k];
    o = q;
  }
  *pi = i, *po = u, *px = x;
}

template <typename T, typename Op>
__device__ __forceinline__ void put(const ScanArgs &a, T *out, int64_t *idx, int64_t i, typename Op::S s) {
  out[i * a.s_out] = narrow<T>(value_of(s));
  if (idx) idx[i * a.s_idx] = index_of(s);
}

/* ---------------- lines: a block per line ---------------- */

#define SCAN_THREADS 256
#define SCAN_ITEMS 4

template <typename T, typename A, typename Op>
__global__ void scan_lines_kernel(ScanArgs a) {
  typedef typename Op::S S;
  AX_SHARED(S, sh, [2][SCAN_THREADS]);
  const int t = threadIdx.x;
  for (int64_t line = blockIdx.x; line < a.nlines; line += gridDim.x) {
    int64_t oi, oo, ox;
    line_offsets(a, line, &oi, &oo, &ox);
    const T *x = (const T *)a.in + oi;
    T *y = (T *)a.out + oo;
    int64_t *idx = a.indices ? a.indices + ox : nullptr;
    S carry = Op::ident();
    for (int64_t c0 = 0; c0 < a.n; c0 += SCAN_THREADS * SCAN_ITEMS) {
      /* this thread's items, at scan positions p = c0 + t*ITEMS + j */
      S local[SCAN_ITEMS];
      S run = Op::ident();
#pragma unroll
      for (int j = 0; j < SCAN_ITEMS; j++) {
        int64_t p = c0 + (int64_t)t * SCAN_ITEMS + j;
        if (p < a.n) {
          int64_t i = a.reverse ? a.n - 1 - p : p;
          run = Op::combine(run, Op::make(widen<A>(x[i * a.s_in]), i));
        }
        local[j] = run;
      }
      /* inclusive scan of the thread totals */
      int src = 0;
      sh[0][t] = run;
      __syncthreads();
      for (int d = 1; d < SCAN_THREADS; d <<= 1) {
        S v = sh[src][t];
        if (t >= d) v = Op::combine(sh[src][t - d], v);
        sh[src ^ 1][t] = v;
        src ^= 1;
        __syncthreads();
      }
      S before = t > 0 ? Op::combine(carry, sh[src][t - 1]) : carry;
#pragma unroll
      for (int j = 0; j < SCAN_ITEMS; j++) {
        int64_t p = c0 + (int64_t)t * SCAN_ITEMS + j;
        if (p < a.n) put<T, Op>(a, y, idx, a.reverse ? a.n - 1 - p : p, Op::combine(before, local[j]));
      }
      carry = Op::combine(carry, sh[src][SCAN_THREADS - 1]);
      __syncthreads(); /* every thread has read sh before the next tile writes it */
    }
  }
}

/* ---------------- cols: a thread per line ---------------- */

template <typename T, typename A, typename Op>
__global__ void scan_cols_kernel(ScanArgs a) {
  for (int64_t line = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; line < a.nlines;
       line += (int64_t)gridDim.x * blockDim.x) {
    int64_t oi, oo, ox;
    line_offsets(a, line, &oi, &oo, &ox);
    const T *x = (const T *)a.in + oi;
    T *y = (T *)a.out + oo;
    int64_t *idx = a.indices ? a.indices + ox : nullptr;
    typename Op::S run = Op::ident();
    for (int64_t p = 0; p < a.n; p++) {
      int64_t i = a.reverse ? a.n - 1 - p : p;
      run = Op::combine(run, Op::make(widen<A>(x[i * a.s_in]), i));
      put<T, Op>(a, y, idx, i, run);
    }
  }
}

/* Few lines get a block each even when strided: a thread per line would leave the GPU idle. */
#define SCAN_FEW_LINES 64

template <typename T, typename A, typename Op>
void scan_launch(const ScanArgs &a) {
  cudaStream_t st = ax_cuda_stream();
  if (a.s_in == 1 || a.nlines <= SCAN_FEW_LINES) {
    unsigned grid = (unsigned)(a.nlines < 65535 * 32 ? a.nlines : 65535 * 32);
    ax_cuda_launch(scan_lines_kernel<T, A, Op>, grid, SCAN_THREADS, 0, st, a);
    AX_CUDA_LAUNCH_CHECK("scan_lines_kernel");
    return;
  }
  ax_cuda_launch(scan_cols_kernel<T, A, Op>, ax_cuda_blocks(a.nlines, 256), 256, 0, st, a);
  AX_CUDA_LAUNCH_CHECK("scan_cols_kernel");
}

template <typename T>
void scan_op(int op, const ScanArgs &a) {
  typedef typename ax_acc<T>::type A;
  switch (op) {
    case AX_SCAN_SUM: scan_launch<T, A, SumOp<A>>(a); break;
    case AX_SCAN_PROD: scan_launch<T, A, ProdOp<A>>(a); break;
    case AX_SCAN_MAX: scan_launch<T, A, MaxOp<A>>(a); break;
    default: scan_launch<T, A, LseOp<A>>(a); break; /* AX_SCAN_LOGSUMEXP (checked by the entry) */
  }
}

}  // namespace

extern "C" ax_kstatus ax_cuda_scan(int op, ax_kt *out, ax_kt *indices, const ax_kt *in, int dim, int reverse) {
  AX_CUDA_ENTRY;
  if (op < 0 || op >= AX_NUM_SCAN || dim < 0 || dim >= in->ndim) {
    ax_cuda_error("ax_cuda_scan: op %d along dim %d of %d dims is not a scan", op, dim, in->ndim);
    return ax_cuda_kstatus();
  }
  ScanArgs a;
  memset(&a, 0, sizeof a);
  a.in = in->data;
  a.out = out->data;
  a.indices = op == AX_SCAN_MAX && indices ? (int64_t *)indices->data : nullptr;
  a.n = in->shape[dim];
  a.s_in = in->strides[dim];
  a.s_out = out->strides[dim];
  a.s_idx = a.indices ? indices->strides[dim] : 0;
  a.reverse = reverse != 0;
  a.nlines = 1;
  for (int k = 0; k < in->ndim; k++) {
    if (k == dim) continue;
    int i = a.nk++;
    a.size[i] = in->shape[k];
    a.st_in[i] = in->strides[k];
    a.st_out[i] = out->strides[k];
    a.st_idx[i] = a.indices ? indices->strides[k] : 0;
    a.nlines *= in->shape[k];
  }
  if (a.n == 0 || a.nlines == 0) return ax_cuda_kstatus();
  switch (in->dtype) {
    case AX_F32: scan_op<float>(op, a); break;
    case AX_F64: scan_op<double>(op, a); break;
    case AX_BF16: scan_op<__nv_bfloat16>(op, a); break;
    case AX_F16: scan_op<__half>(op, a); break;
    default: ax_cuda_error("ax_cuda_scan: dtype %d is not supported on the cuda backend", in->dtype);
  }
  return ax_cuda_kstatus();
}
