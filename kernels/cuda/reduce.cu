/* SPDX-License-Identifier: BSD-3-Clause */
/* Reductions (sum, max, min over any set of dims) and arg-reductions on CUDA.
 *
 * The layout is classified as on the CPU (kernels/cpu/reduce.c): dims sorted by
 * input stride, size-1 dims dropped, neighbours of the same kind merged, then
 *   rows: the innermost dim is reduced. Each output is reduced by a warp (short
 *         rows, 8 outputs per block) or a block of 256 (long rows); the lanes
 *         walk the row with a stride of the group width, so loads coalesce.
 *   cols: the innermost dim is kept. Threads across x own neighbouring outputs
 *         (coalesced loads) and threads across y split the reduced index;
 *         their partials meet in shared memory.
 * With few outputs and long reductions both split the reduced index over a
 * grid dimension: each split writes a partial (in the accumulation type) to a
 * workspace and a second kernel combines a output's partials in split order.
 * No atomics: the combination order depends only on shapes and the device's SM
 * count, so the same input gives the same bits on every run.
 *
 * Accumulation: f32 for f32/bf16/f16, f64 for f64, i64 for integers (sums of
 * integers write i64, as the op layer asks). Max/min propagate NaN, as the CPU.
 * arg_reduce keeps the first index of the max (min), or of the first NaN. */
#include <stdint.h>
#include <string.h>

#include "kernels/cuda/rows.cuh"
#include "kernels/reduce_layout.h"

namespace {

using axr::narrow;
using axr::widen;

/* ---------------- ops ---------------- */

template <typename A> __device__ __forceinline__ A lowest() { return -axr::pos_inf<A>(); }
template <> __device__ __forceinline__ int64_t lowest<int64_t>() { return INT64_MIN; }
template <typename A> __device__ __forceinline__ A highest() { return axr::pos_inf<A>(); }
template <> __device__ __forceinline__ int64_t highest<int64_t>() { return INT64_MAX; }

struct SumOp {
  template <typename A> static __device__ __forceinline__ A ident() { return A(0); }
  template <typename A> __device__ __forceinline__ A operator()(A a, A v) const { return a + v; }
};
struct MaxOp {
  template <typename A> static __device__ __forceinline__ A ident() { return lowest<A>(); }
  template <typename A> __device__ __forceinline__ A operator()(A a, A v) const { return (v > a || v != v) ? v : a; }
};
struct MinOp {
  template <typename A> static __device__ __forceinline__ A ident() { return highest<A>(); }
  template <typename A> __device__ __forceinline__ A operator()(A a, A v) const { return (v < a || v != v) ? v : a; }
};

/* ---------------- layout ---------------- */

typedef ax_reduce_dims Dims; /* kernels/reduce_layout.h */

__host__ __device__ __forceinline__ int64_t dims_numel(const Dims &d) {
  int64_t n = 1;
  for (int i = 0; i < d.n; i++) n *= d.size[i];
  return n;
}

/* Offsets of flat index i (row-major over d) in the in / out / aux tensors. */
__device__ __forceinline__ void dims_offset(const Dims &d, int64_t i, int64_t *in, int64_t *out, int64_t *aux) {
  int64_t a = 0, b = 0, c = 0;
  if (d.n == 1) {
    a = i * d.in[0], b = i * d.out[0], c = i * d.aux[0];
  } else {
    for (int k = d.n - 1; k >= 0; k--) {
      int64_t q = i / d.size[k], r = i - q * d.size[k];
      a += r * d.in[k], b += r * d.out[k], c += r * d.aux[k];
      i = q;
    }
  }
  *in = a;
  if (out) *out = b;
  if (aux) *aux = c;
}

/* The same classification as the CPU reductions (kernels/reduce_layout.h), so the same loops apply. */
typedef ax_reduce_layout Layout;
static void make_layout(Layout *L, const ax_kt *out, const ax_kt *in) { ax_reduce_layout_make(L, out, in); }

static int sm_count(void) {
  static int cached[64];
  int dev = ax_cuda_current_device() & 63;
  if (!cached[dev]) {
    int v = 0;
    if (cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || v <= 0) {
      cudaGetLastError();
      v = 132;
    }
    cached[dev] = v;
  }
  return cached[dev];
}

/* How many pieces to cut each reduction into, when `groups` blocks alone would
 * leave the GPU idle; at least `min_piece` elements per piece. Four blocks of
 * 256 per SM keep about 2 MB of loads in flight on an H100, which its
 * bandwidth-latency product asks for. */
static int choose_splits(int64_t groups, int64_t nred, int64_t min_piece) {
  int64_t want = 4 * (int64_t)sm_count();
  if (groups >= want || nred < 2 * min_piece) return 1;
  int64_t s = (want + groups - 1) / groups, by_size = nred / min_piece;
  if (s > by_size) s = by_size;
  if (s > 1024) s = 1024;
  return s < 1 ? 1 : (int)s;
}

/* ---------------- reduce kernels ---------------- */

struct ReduceArgs {
  const void *in;
  void *out;
  void *ws;          /* partials [nout, splits] in the accumulation type, when splits > 1 */
  Dims kept;         /* every kept dim: in and out strides */
  Dims outer;        /* rows: the reduced dims other than the row; cols: every reduced dim */
  int64_t len, stride; /* rows: the innermost reduced dim */
  int64_t nout, nred, chunk;
  int splits;
};

/* The result of output o (or its partial when split). */
template <typename O, typename A>
__device__ __forceinline__ void put(const ReduceArgs &a, int64_t o, int split, A v) {
  if (a.splits > 1) {
    ((A *)a.ws)[o * a.splits + split] = v;
  } else {
    int64_t io, oo;
    dims_offset(a.kept, o, &io, &oo, nullptr);
    ((O *)a.out)[oo] = narrow<O, A>(v);
  }
}

/* rows: blockDim (tx, ty); output blockIdx.x * ty + threadIdx.y, split blockIdx.y.
 * tx is 32 (a warp per output) or 256 with ty = 1 (a block per output). */
template <typename T, typename O, typename A, typename Op>
__global__ void reduce_rows_kernel(ReduceArgs a) {
  Op op;
  int64_t o = (int64_t)blockIdx.x * blockDim.y + threadIdx.y;
  if (o >= a.nout) return; /* a whole warp (tx = 32) or block (ty = 1) leaves together */
  int split = blockIdx.y, tx = blockDim.x;
  int64_t base, j0 = (int64_t)split * a.chunk, j1 = j0 + a.chunk < a.nred ? j0 + a.chunk : a.nred;
  dims_offset(a.kept, o, &base, nullptr, nullptr);
  const T *x = (const T *)a.in + base;
  A acc = Op::template ident<A>();
  if (a.outer.n == 0) {
    /* one row: four loads in flight per thread */
    A acc1 = acc, acc2 = acc, acc3 = acc;
    int64_t j = j0 + threadIdx.x, s = a.stride;
    for (; j + 3 * tx < j1; j += 4 * tx) {
      acc = op(acc, widen<A>(x[j * s]));
      acc1 = op(acc1, widen<A>(x[(j + tx) * s]));
      acc2 = op(acc2, widen<A>(x[(j + 2 * tx) * s]));
      acc3 = op(acc3, widen<A>(x[(j + 3 * tx) * s]));
    }
    for (; j < j1; j += tx) acc = op(acc, widen<A>(x[j * s]));
    acc = op(op(acc, acc1), op(acc2, acc3));
  } else if (j0 + threadIdx.x < j1) {
    /* several reduced dims: walk (outer unit u, position i in the row) incrementally */
    int64_t j = j0 + threadIdx.x, u = j / a.len, i = j - u * a.len, uoff;
    dims_offset(a.outer, u, &uoff, nullptr, nullptr);
    for (; j < j1; j += tx) {
      acc = op(acc, widen<A>(x[uoff + i * a.stride]));
      i += tx;
      if (i >= a.len) {
        u += i / a.len;
        i %= a.len;
        dims_offset(a.outer, u, &uoff, nullptr, nullptr);
      }
    }
  }
  if (tx == 32) {
    acc = axr::warp_reduce(acc, op);
    if (threadIdx.x == 0) put<O, A>(a, o, split, acc);
  } else {
    acc = axr::block_reduce(acc, op);
    if (threadIdx.x == 0) put<O, A>(a, o, split, acc);
  }
}

/* cols: blockDim (tx, ty), tx * ty = 256; output blockIdx.x * tx + threadIdx.x,
 * reduced indices of split blockIdx.y taken ty apart. */
template <typename T, typename O, typename A, typename Op>
__global__ void reduce_cols_kernel(ReduceArgs a) {
  AX_SHARED(A, sh, [256]);
  Op op;
  int tx = blockDim.x, ty = blockDim.y, split = blockIdx.y;
  int64_t o = (int64_t)blockIdx.x * tx + threadIdx.x;
  A acc = Op::template ident<A>();
  if (o < a.nout) {
    int64_t base, j0 = (int64_t)split * a.chunk, j1 = j0 + a.chunk < a.nred ? j0 + a.chunk : a.nred;
    dims_offset(a.kept, o, &base, nullptr, nullptr);
    const T *x = (const T *)a.in + base;
    if (a.outer.n == 1) {
      int64_t s = a.outer.in[0];
      for (int64_t j = j0 + threadIdx.y; j < j1; j += ty) acc = op(acc, widen<A>(x[j * s]));
    } else {
      for (int64_t j = j0 + threadIdx.y; j < j1; j += ty) {
        int64_t off;
        dims_offset(a.outer, j, &off, nullptr, nullptr);
        acc = op(acc, widen<A>(x[off]));
      }
    }
  }
  int t = threadIdx.y * tx + threadIdx.x;
  sh[t] = acc;
  for (int h = ty / 2; h > 0; h >>= 1) { /* halve the rows of partials: a fixed tree */
    __syncthreads();
    if ((int)threadIdx.y < h) sh[t] = op(sh[t], sh[t + h * tx]);
  }
  if (threadIdx.y == 0 && o < a.nout) put<O, A>(a, o, split, sh[threadIdx.x]);
}

/* The partials of each output, combined in split order. */
template <typename O, typename A, typename Op>
__global__ void reduce_combine_kernel(ReduceArgs a) {
  Op op;
  for (int64_t o = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; o < a.nout; o += (int64_t)gridDim.x * blockDim.x) {
    const A *p = (const A *)a.ws + o * a.splits;
    A acc = p[0];
    for (int s = 1; s < a.splits; s++) acc = op(acc, p[s]);
    int64_t io, oo;
    dims_offset(a.kept, o, &io, &oo, nullptr);
    ((O *)a.out)[oo] = narrow<O, A>(acc);
  }
}

template <typename T, typename O, typename A, typename Op>
void reduce_launch(const Layout &L, const ax_kt *out, const ax_kt *in) {
  cudaStream_t st = ax_cuda_stream();
  ReduceArgs a;
  memset(&a, 0, sizeof a);
  a.in = in->data;
  a.out = out->data;
  a.kept = L.kept;
  a.nout = dims_numel(L.kept);
  a.nred = dims_numel(L.red);
  dim3 block, grid;
  /* short rows (under half a warp) go to the cols loop: a thread per output wastes no lanes */
  bool rows = L.inner_reduced && a.nred > 16;
  if (rows) {
    a.outer = L.red;
    a.outer.n--;
    a.len = L.red.size[L.red.n - 1];
    a.stride = L.red.in[L.red.n - 1];
    int tx = a.nred <= 2048 ? 32 : 256, ty = 256 / tx;
    int64_t groups = (a.nout + ty - 1) / ty;
    a.splits = choose_splits(groups, a.nred, 16 * 1024);
    block = dim3(tx, ty);
    grid = dim3((unsigned)groups, a.splits);
  } else {
    a.outer = L.red;
    int tx = 32;
    while (tx > 1 && tx / 2 >= a.nout) tx /= 2; /* few outputs: more threads along the reduction */
    int ty = 256 / tx;
    int64_t groups = (a.nout + tx - 1) / tx;
    a.splits = choose_splits(groups, a.nred, 8 * ty);
    block = dim3(tx, ty);
    grid = dim3((unsigned)groups, a.splits);
  }
  if (grid.x > 0x7fffffffu || a.nout > 0x7fffffffLL * 8) {
    ax_cuda_error("ax_cuda_reduce: too many outputs (%lld)", (long long)a.nout);
    return;
  }
  a.chunk = (a.nred + a.splits - 1) / a.splits;
  if (a.splits > 1) {
    /* the partials, from the caching allocator (stream ordered: reused only by later work on st) */
    a.ws = ax_cuda_scratch_alloc((size_t)a.nout * a.splits * sizeof(A));
    if (!a.ws) return;
  }
  if (rows) {
    ax_cuda_launch(reduce_rows_kernel<T, O, A, Op>, grid, block, 0, st, a);
    AX_CUDA_LAUNCH_CHECK("reduce_rows_kernel");
  } else {
    ax_cuda_launch(reduce_cols_kernel<T, O, A, Op>, grid, block, 0, st, a);
    AX_CUDA_LAUNCH_CHECK("reduce_cols_kernel");
  }
  if (a.splits > 1) {
    ax_cuda_launch(reduce_combine_kernel<O, A, Op>, ax_cuda_blocks(a.nout, 256), 256, 0, st, a);
    AX_CUDA_LAUNCH_CHECK("reduce_combine_kernel");
    ax_cuda_scratch_free(a.ws);
  }
}

template <typename T, typename O, typename A>
void reduce_op(int op, const Layout &L, const ax_kt *out, const ax_kt *in) {
  if (op == AX_REDUCE_SUM) reduce_launch<T, O, A, SumOp>(L, out, in);
  else if (op == AX_REDUCE_MAX) reduce_launch<T, O, A, MaxOp>(L, out, in);
  else reduce_launch<T, O, A, MinOp>(L, out, in);
}

/* Integer inputs: sums into i64 (the op layer widens them, as PyTorch does), max /
 * min into the input's dtype. Only these pairings are instantiated: choosing the
 * output type by dtype alone also compiled i32 / u8 sums into their own dtype and
 * i32 / u8 maxima into i64, which no caller asks for (kernels that never ran). */
template <typename T>
void reduce_int(int op, const Layout &L, const ax_kt *out, const ax_kt *in) {
  if (op == AX_REDUCE_SUM && out->dtype == AX_I64) reduce_launch<T, int64_t, int64_t, SumOp>(L, out, in);
  else if (op == AX_REDUCE_MAX && out->dtype == in->dtype) reduce_launch<T, T, int64_t, MaxOp>(L, out, in);
  else if (op == AX_REDUCE_MIN && out->dtype == in->dtype) reduce_launch<T, T, int64_t, MinOp>(L, out, in);
  else ax_cuda_error("ax_cuda_reduce: cannot reduce dtype %d into dtype %d with op %d", in->dtype, out->dtype, op);
}

/* ---------------- arg_reduce ---------------- */

/* Whether (v, i) beats (b, bi): NaN first (lowest index among NaNs), then the larger
 * (smaller) value, then the lower index. Associative, so any tree agrees with a scan. */
template <bool MAX, typename A>
__device__ __forceinline__ bool beats(A v, int64_t i, A b, int64_t bi) {
  bool vn = v != v, bn = b != b;
  if (vn || bn) return vn && (!bn || i < bi);
  if (MAX ? v > b : v < b) return true;
  return v == b && i < bi;
}

template <typename A> struct Best { A v; int64_t i; };

template <bool MAX, typename A> struct BestOp {
  __device__ __forceinline__ Best<A> operator()(Best<A> a, Best<A> b) const { return beats<MAX>(b.v, b.i, a.v, a.i) ? b : a; }
};

struct ArgArgs {
  const void *in;
  void *values; /* may be null */
  int64_t *indices;
  Dims kept;    /* in, indices (out) and values (aux) strides */
  int64_t n, stride, nout;
};

template <typename T, typename A>
__device__ __forceinline__ void arg_put(const ArgArgs &a, int64_t o, Best<A> b) {
  int64_t io, xo, vo;
  dims_offset(a.kept, o, &io, &xo, &vo);
  a.indices[xo] = b.i;
  if (a.values) ((T *)a.values)[vo] = narrow<T, A>(b.v); /* exact: A holds every T */
}

/* One warp per output (tx = 32, 8 outputs a block) or one block of 256. */
template <typename T, typename A, bool MAX>
__global__ void arg_rows_kernel(ArgArgs a) {
  int64_t o = (int64_t)blockIdx.x * blockDim.y + threadIdx.y;
  if (o >= a.nout) return;
  int64_t base;
  dims_offset(a.kept, o, &base, nullptr, nullptr);
  const T *x = (const T *)a.in + base;
  Best<A> b{widen<A>(x[0]), 0};
  for (int64_t i = threadIdx.x; i < a.n; i += blockDim.x) {
    A v = widen<A>(x[i * a.stride]);
    if (beats<MAX>(v, i, b.v, b.i)) b = Best<A>{v, i};
  }
  BestOp<MAX, A> f;
  if (blockDim.x == 32) {
    b = axr::warp_reduce(b, f);
    if (threadIdx.x == 0) arg_put<T, A>(a, o, b);
  } else {
    b = axr::block_reduce(b, f);
    if (threadIdx.x == 0) arg_put<T, A>(a, o, b);
  }
}

/* One thread per output: neighbouring outputs are neighbours in memory when the
 * reduced dim is not the innermost. */
template <typename T, typename A, bool MAX>
__global__ void arg_cols_kernel(ArgArgs a) {
  for (int64_t o = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; o < a.nout; o += (int64_t)gridDim.x * blockDim.x) {
    int64_t base;
    dims_offset(a.kept, o, &base, nullptr, nullptr);
    const T *x = (const T *)a.in + base;
    Best<A> b{widen<A>(x[0]), 0};
    for (int64_t i = 1; i < a.n; i++) {
      A v = widen<A>(x[i * a.stride]);
      if (beats<MAX>(v, i, b.v, b.i)) b = Best<A>{v, i};
    }
    arg_put<T, A>(a, o, b);
  }
}

template <typename T, typename A, bool MAX>
void arg_launch(const ArgArgs &a) {
  cudaStream_t st = ax_cuda_stream();
  if (a.stride == 1 || a.stride == -1) {
    int tx = a.n <= 2048 ? 32 : 256, ty = 256 / tx;
    ax_cuda_launch(arg_rows_kernel<T, A, MAX>, (unsigned)((a.nout + ty - 1) / ty), dim3(tx, ty), 0, st, a);
    AX_CUDA_LAUNCH_CHECK("arg_rows_kernel");
  } else {
    ax_cuda_launch(arg_cols_kernel<T, A, MAX>, ax_cuda_blocks(a.nout, 256), 256, 0, st, a);
    AX_CUDA_LAUNCH_CHECK("arg_cols_kernel");
  }
}

template <typename T, typename A>
void arg_op(int op, const ArgArgs &a) {
  if (op == AX_REDUCE_MAX) arg_launch<T, A, true>(a);
  else arg_launch<T, A, false>(a);
}

}  // namespace

extern "C" ax_kstatus ax_cuda_reduce(int op, ax_kt *out, const ax_kt *in) {
  AX_CUDA_ENTRY;
  int64_t nin = 1, nout = 1;
  for (int d = 0; d < in->ndim; d++) nin *= in->shape[d];
  for (int d = 0; d < out->ndim; d++) nout *= out->shape[d];
  if (nout == 0) return ax_cuda_kstatus();
  if (nin == 0) { /* empty reduction: the identity (the op layer refuses it for max/min) */
    ax_cuda_fill(out, op == AX_REDUCE_SUM ? 0.0 : op == AX_REDUCE_MAX ? -INFINITY : INFINITY);
    return ax_cuda_kstatus();
  }
  Layout L;
  make_layout(&L, out, in);
  if (L.red.n == 0) { /* every reduced dim has size 1 */
    ax_cuda_copy(out, in);
    return ax_cuda_kstatus();
  }
  switch (in->dtype) {
    case AX_F32: reduce_op<float, float, float>(op, L, out, in); break;
    case AX_F64: reduce_op<double, double, double>(op, L, out, in); break;
    case AX_BF16: reduce_op<__nv_bfloat16, __nv_bfloat16, float>(op, L, out, in); break;
    case AX_F16: reduce_op<__half, __half, float>(op, L, out, in); break;
    case AX_I32: reduce_int<int32_t>(op, L, out, in); break;
    case AX_I64: reduce_int<int64_t>(op, L, out, in); break;
    case AX_U8:
    case AX_BOOL: reduce_int<uint8_t>(op, L, out, in); break; /* bool is one byte holding 0 or 1 */
    default: ax_cuda_error("ax_cuda_reduce: dtype %d is not supported on the cuda backend", in->dtype);
  }
  return ax_cuda_kstatus();
}

extern "C" ax_kstatus ax_cuda_arg_reduce(int op, ax_kt *values, ax_kt *indices, const ax_kt *in, int dim) {
  AX_CUDA_ENTRY;
  ArgArgs a;
  memset(&a, 0, sizeof a);
  a.in = in->data;
  a.values = values ? values->data : nullptr;
  a.indices = (int64_t *)indices->data;
  a.n = in->shape[dim];
  a.stride = in->strides[dim];
  for (int k = 0; k < in->ndim; k++) {
    if (k == dim) continue;
    int i = a.kept.n++;
    a.kept.size[i] = in->shape[k];
    a.kept.in[i] = in->strides[k];
    a.kept.out[i] = indices->strides[k];
    a.kept.aux[i] = values ? values->strides[k] : 0;
  }
  a.nout = dims_numel(a.kept);
  if (a.n == 0 || a.nout == 0) return ax_cuda_kstatus();
  if (a.kept.n == 0) { /* a 1-D input: one output */
    a.kept.n = 1;
    a.kept.size[0] = 1;
  }
  switch (in->dtype) {
    case AX_F32: arg_op<float, float>(op, a); break;
    case AX_F64: arg_op<double, double>(op, a); break;
    case AX_BF16: arg_op<__nv_bfloat16, float>(op, a); break;
    case AX_F16: arg_op<__half, float>(op, a); break;
    case AX_I32: arg_op<int32_t, int64_t>(op, a); break;
    case AX_I64: arg_op<int64_t, int64_t>(op, a); break;
    case AX_U8:
    case AX_BOOL: arg_op<uint8_t, int64_t>(op, a); break;
    default: ax_cuda_error("ax_cuda_arg_reduce: dtype %d is not supported on the cuda backend", in->dtype);
  }
  return ax_cuda_kstatus();
}
