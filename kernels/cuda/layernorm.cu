/* SPDX-License-Identifier: BSD-3-Clause */
/* Layer norm, RMS norm and the embedding gradient on CUDA (see kernels/backend.h).
 *
 * Forward: a warp per row up to 1024 columns (4 rows a block), a block per row
 * above; one pass gathers sum(x - k) and sum((x - k)^2) shifted by the row's
 * first element k (so the one-pass variance does not cancel when |mean| >> std),
 * a second pass, mostly from L1/L2, writes y. 16-byte packs when the row length
 * and the pointers allow. bf16 / f16 compute in f32, f64 in f64.
 *
 * Backward: a persistent grid; each block takes rows blockIdx.x, + gridDim.x,
 * ... one at a time (the whole block on a row): a pass for the row's two sums,
 * then a pass writing gx that also adds gy xhat and gy into the block's column
 * accumulators (shared memory when 2 C accumulators fit in 48 KB, else the
 * block's slice of the scratch buffer). Each column is always touched by the
 * same thread, so no atomics; a second kernel adds the blocks' partials in
 * block order. The grid depends only on the shape and the GPU, so the bits of
 * gweight / gbias are the same every run.
 *
 * Embedding backward: positions are sorted by index with our radix sort (sort.cuh)
 * (stable: a bucket keeps ascending positions) next to a histogram and its
 * exclusive scan (bucket bounds); then a warp per vocabulary row sums its
 * bucket's gy rows in that order (f32 accumulation for bf16 / f16) and writes
 * the row once, zeros for unused rows. No float atomics: the same bits every run. */
#include "kernels/cuda/sort.cuh"

#include "kernels/cuda/rows.cuh"

namespace {

using axr::narrow;
using axr::widen;

template <typename A> struct Pair {
  A a, b;
};
template <typename A> struct PairSumF {
  __device__ __forceinline__ Pair<A> operator()(Pair<A> x, Pair<A> y) const { return Pair<A>{x.a + y.a, x.b + y.b}; }
};

__device__ __forceinline__ float rsq(float v) { return 1.0f / sqrtf(v); }
__device__ __forceinline__ double rsq(double v) { return 1.0 / sqrt(v); }

/* ---------------- forward ---------------- */

struct LnArgs {
  const void *x, *w, *b;
  void *y, *mean, *rstd; /* mean may be NULL (rms) */
  int64_t rows, cols, ws, bs;
  double eps;
  int rms;
  bool vec;
};

template <typename T, typename A>
__global__ void layer_norm_kernel(LnArgs a) {
  constexpr int N = axr::VecWidth<T>::n;
  int64_t r = (int64_t)blockIdx.x * blockDim.y + threadIdx.y;
  if (r >= a.rows) return; /* whole groups only */
  const T *x = (const T *)a.x + r * a.cols;
  T *y = (T *)a.y + r * a.cols;
  const T *w = (const T *)a.w, *b = (const T *)a.b;
  A k = a.rms ? A(0) : widen<A>(x[0]);
  Pair<A> s{A(0), A(0)};
  axr::visit1(x, a.cols, a.vec, [&](int64_t, T v) {
    A d = widen<A>(v) - k;
    s.a += d;
    s.b += d * d;
  });
  s = axr::group_reduce(s, PairSumF<A>());
  A n = (A)a.cols, dm = s.a / n, var = s.b / n - (a.rms ? A(0) : dm * dm);
  A mean = a.rms ? A(0) : k + dm, rstd = rsq((var > A(0) ? var : A(0)) + (A)a.eps);
  if (threadIdx.x == 0) {
    if (a.mean) ((A *)a.mean)[r] = mean;
    ((A *)a.rstd)[r] = rstd;
  }
  if (a.vec) {
    for (int64_t p = threadIdx.x; p < a.cols / N; p += blockDim.x) {
      axr::Pack<T, N> px = ((const axr::Pack<T, N> *)x)[p], pw, pb, po;
      if (w) pw = ((const axr::Pack<T, N> *)w)[p];
      if (b) pb = ((const axr::Pack<T, N> *)b)[p];
#pragma unroll
      for (int j = 0; j < N; j++) {
        A v = (widen<A>(px.v[j]) - mean) * rstd;
        if (w) v *= widen<A>(pw.v[j]);
        if (b) v += widen<A>(pb.v[j]);
        po.v[j] = narrow<T, A>(v);
      }
      ((axr::Pack<T, N> *)y)[p] = po;
    }
  } else {
    for (int64_t c = threadIdx.x; c < a.cols; c += blockDim.x) {
      A v = (widen<A>(x[c]) - mean) * rstd;
      if (w) v *= widen<A>(w[c * a.ws]);
      if (b) v += widen<A>(b[c * a.bs]);
      y[c] = narrow<T, A>(v);
    }
  }
}

template <typename T>
void layer_norm_run(LnArgs a) {
  typedef typename ax_acc<T>::type A;
  if (a.rows == 0 || a.cols == 0) return;
  bool params_vec = (!a.w || a.ws == 1) && (!a.b || a.bs == 1);
  a.vec = params_vec && axr::can_vec<T>(a.cols, a.x, a.y, (const void *)((uintptr_t)a.w | (uintptr_t)a.b));
  dim3 grid, block;
  axr::row_launch_shape(a.rows, a.cols, 1024, &grid, &block);
  ax_cuda_launch(layer_norm_kernel<T, A>, grid, block, 0, ax_cuda_stream(), a);
  AX_CUDA_LAUNCH_CHECK("layer_norm_kernel");
}

/* ---------------- backward ---------------- */

struct LnBwdArgs {
  const void *gy, *x, *w, *mean, *rstd;
  void *gx;      /* may be NULL */
  void *partial; /* [gridDim.x][2][cols] of A, or NULL when neither gweight nor gbias is wanted */
  int64_t rows, cols, ws;
  int rms;
  bool vec, smem;
};

template <typename T, typename A>
__global__ void layer_norm_backward_kernel(LnBwdArgs a) {
  AX_DYNAMIC_SMEM(unsigned char, smem_raw);
  const int64_t cols = a.cols;
  A *acc = nullptr;
  if (a.partial) {
    acc = a.smem ? (A *)smem_raw : (A *)a.partial + (int64_t)blockIdx.x * 2 * cols;
    for (int64_t c = threadIdx.x; c < 2 * cols; c += blockDim.x) acc[c] = A(0);
    __syncthreads(); /* from here on, column c belongs to the thread that visits it */
  }
  const T *w = (const T *)a.w;
  A n = (A)cols;
  for (int64_t r = blockIdx.x; r < a.rows; r += gridDim.x) {
    const T *x = (const T *)a.x + r * cols, *gy = (const T *)a.gy + r * cols;
    A mu = a.mean ? ((const A *)a.mean)[r] : A(0), rs = ((const A *)a.rstd)[r];
    auto wt = [&](int64_t c) { return w ? widen<A>(w[c * a.ws]) : A(1); };
    auto add = [&](int64_t c, A g, A xh) {
      if (acc) {
        acc[c] += g * xh;
        acc[cols + c] += g;
      }
    };
    if (a.gx) {
      Pair<A> s{A(0), A(0)};
      axr::visit2(gy, x, cols, a.vec, [&](int64_t c, T g, T v) {
        A gw = widen<A>(g) * wt(c);
        s.a += gw;
        s.b += gw * (widen<A>(v) - mu) * rs;
      });
      s = axr::block_reduce(s, PairSumF<A>());
      A ma = a.rms ? A(0) : s.a / n, mb = s.b / n;
      axr::map2((T *)a.gx + r * cols, gy, x, cols, a.vec, [&](int64_t c, T g, T v) {
        A gg = widen<A>(g), xh = (widen<A>(v) - mu) * rs;
        add(c, gg, xh);
        return narrow<T, A>(rs * (gg * wt(c) - ma - xh * mb));
      });
    } else if (acc) {
      axr::visit2(gy, x, cols, a.vec, [&](int64_t c, T g, T v) { add(c, widen<A>(g), (widen<A>(v) - mu) * rs); });
    }
  }
  if (acc && a.smem) {
    __syncthreads();
    A *out = (A *)a.partial + (int64_t)blockIdx.x * 2 * cols;
    for (int64_t c = threadIdx.x; c < 2 * cols; c += blockDim.x) out[c] = acc[c];
  }
}

/* gweight[c] = sum over blocks of partial[b][0][c], gbias from [b][1][c], in block order:
 * 32 columns a block, 32 lanes over the blocks, then a fixed tree in shared memory. */
template <typename T, typename A>
__global__ void column_sums_kernel(const A *partial, int blocks, int64_t cols, T *gw, int64_t gws, T *gb,
                                   int64_t gbs) {
  AX_SHARED(A, sh, [2][32][33]);
  int64_t c = (int64_t)blockIdx.x * 32 + threadIdx.x;
  A s0 = 0, s1 = 0;
  if (c < cols)
    for (int b = threadIdx.y; b < blocks; b += 32) {
      s0 += partial[(int64_t)b * 2 * cols + c];
      s1 += partial[(int64_t)b * 2 * cols + cols + c];
    }
  sh[0][threadIdx.y][threadIdx.x] = s0;
  sh[1][threadIdx.y][threadIdx.x] = s1;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    A t0 = 0, t1 = 0;
    for (int j = 0; j < 32; j++) {
      t0 += sh[0][j][threadIdx.x];
      t1 += sh[1][j][threadIdx.x];
    }
    if (gw) gw[c * gws] = narrow<T, A>(t0);
    if (gb) gb[c * gbs] = narrow<T, A>(t1);
  }
}

static int sm_count(void) {
  int sms = 0;
  if (!AX_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, ax_cuda_current_device())))
    return 1;
  return sms > 0 ? sms : 1;
}

template <typename T>
void layer_norm_backward_run(LnBwdArgs a, ax_kt *gweight, ax_kt *gbias) {
  typedef typename ax_acc<T>::type A;
  constexpr int N = axr::VecWidth<T>::n;
  cudaStream_t st = ax_cuda_stream();
  bool params = gweight || gbias;
  if (a.rows == 0 || a.cols == 0) { /* nothing to sum: the parameter gradients are zero */
    /* ax_cuda_fill, not a kernel of this file: the op layer (ops_layernorm.c) fills the
     * gradients of an empty x itself and never gets here, so a kernel per dtype for it
     * was compiled and never launched */
    ax_kt *outs[2] = {gweight, gbias};
    for (int i = 0; i < 2; i++)
      if (outs[i] && a.cols > 0) ax_cuda_fill(outs[i], 0.0);
    return;
  }
  a.vec = (!a.w || a.ws == 1) && axr::can_vec<T>(a.cols, a.x, a.gy, a.gx);
  int64_t units = a.vec ? a.cols / N : a.cols;
  int threads = 32;
  while (threads < 512 && threads < units) threads *= 2;
  int64_t grid = (int64_t)sm_count() * (1024 / threads);
  if (grid > 1024) grid = 1024;
  if (grid > a.rows) grid = a.rows;
  size_t acc_bytes = 2 * (size_t)a.cols * sizeof(A), smem = 0;
  if (params && (size_t)grid * acc_bytes > ((size_t)64 << 20)) /* keep the partials' scratch under 64 MB */
    grid = (int64_t)(((size_t)64 << 20) / acc_bytes) > 0 ? (int64_t)(((size_t)64 << 20) / acc_bytes) : 1;
  if (params) {
    a.smem = acc_bytes <= 48 * 1024;
    smem = a.smem ? acc_bytes : 0;
    a.partial = ax_cuda_scratch_alloc(acc_bytes * (size_t)grid);
    if (!a.partial) return;
  }
  ax_cuda_launch(layer_norm_backward_kernel<T, A>, (unsigned)grid, threads, smem, st, a);
  bool ok = AX_CUDA_LAUNCH_CHECK("layer_norm_backward_kernel");
  if (params && ok) {
    dim3 block(32, 32), cgrid((unsigned)((a.cols + 31) / 32));
    ax_cuda_launch(column_sums_kernel<T, A>, cgrid, block, 0, st,
        (const A *)a.partial, (int)grid, a.cols, gweight ? (T *)gweight->data : nullptr,
        gweight ? gweight->strides[0] : 0, gbias ? (T *)gbias->data : nullptr, gbias ? gbias->strides[0] : 0);
    AX_CUDA_LAUNCH_CHECK("column_sums_kernel");
  }
  if (params) ax_cuda_scratch_free(a.partial);
}

static bool check_stats(const char *op, const ax_kt *x, const ax_kt *rstd) {
  int want = x->dtype == AX_F64 ? AX_F64 : AX_F32;
  if (rstd->dtype == want) return true;
  ax_cuda_error("%s: mean / rstd must be dtype %d for x of dtype %d, got %d", op, want, x->dtype, rstd->dtype);
  return false;
}

/* ---------------- embedding backward ---------------- */

/* An index out of range (the forward pass found it too, reported at the next
 * synchronization) becomes key v_count: it sorts after every row and is summed
 * into none (counts[v_count] lies past the rows the sums read). */
template <typename I>
__global__ void embedding_keys_kernel(const I *index, int64_t istride, int64_t n, int *keys, int *pos, int *counts,
                                      int64_t v_count, ax_cuda_status *status) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t k64 = (int64_t)index[i * istride];
    if (k64 < 0 || k64 >= v_count) {
      ax_cuda_report_index(status, AX_STATUS_EMBEDDING_BACKWARD, 0, k64, v_count);
      k64 = v_count;
    }
    int k = (int)k64;
    keys[i] = k;
    pos[i] = (int)i;
    atomicAdd(&counts[k], 1); /* integer counts: the same result in any order */
  }
}

/* A warp per vocabulary row v: gweight[v] = sum of gy[order[k]] for k in [start[v], start[v+1]). */
template <typename T, typename A>
__global__ void embedding_sum_kernel(T *gw, const T *gy, const int *start, const int *order, int64_t v_count,
                                     int64_t cols, bool vec) {
  constexpr int N = axr::VecWidth<T>::n;
  int64_t v = (int64_t)blockIdx.x * blockDim.y + threadIdx.y;
  if (v >= v_count) return;
  int beg = start[v], end = start[v + 1];
  T *out = gw + v * cols;
  if (vec) {
    for (int64_t p = threadIdx.x; p < cols / N; p += blockDim.x) {
      A acc[N];
#pragma unroll
      for (int j = 0; j < N; j++) acc[j] = A(0);
      for (int k = beg; k < end; k++) {
        axr::Pack<T, N> pg = ((const axr::Pack<T, N> *)(gy + (int64_t)order[k] * cols))[p];
#pragma unroll
        for (int j = 0; j < N; j++) acc[j] += widen<A>(pg.v[j]);
      }
      axr::Pack<T, N> po;
#pragma unroll
      for (int j = 0; j < N; j++) po.v[j] = narrow<T, A>(acc[j]);
      ((axr::Pack<T, N> *)out)[p] = po;
    }
  } else {
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      A acc = A(0);
      for (int k = beg; k < end; k++) acc += widen<A>(gy[(int64_t)order[k] * cols + c]);
      out[c] = narrow<T, A>(acc);
    }
  }
}

template <typename T>
void embedding_sum_run(ax_kt *gweight, const ax_kt *gy, const int *start, const int *order) {
  typedef typename ax_acc<T>::type A;
  int64_t v_count = gweight->shape[0], cols = gweight->shape[1];
  bool vec = axr::can_vec<T>(cols, gweight->data, gy->data);
  dim3 block(32, 4), grid((unsigned)((v_count + 3) / 4));
  ax_cuda_launch(embedding_sum_kernel<T, A>, grid, block, 0, ax_cuda_stream(), (T *)gweight->data, (const T *)gy->data, start,
                                                                   order, v_count, cols, vec);
  AX_CUDA_LAUNCH_CHECK("embedding_sum_kernel");
}

}  // namespace

extern "C" ax_kstatus ax_cuda_layer_norm(ax_kt *y, ax_kt *mean, ax_kt *rstd, const ax_kt *x, const ax_kt *weight,
                                   const ax_kt *bias, double eps, int rms) {
  AX_CUDA_ENTRY;
  if (!check_stats("ax_cuda_layer_norm", x, rstd)) return ax_cuda_kstatus();
  LnArgs a;
  memset(&a, 0, sizeof a);
  a.x = x->data;
  a.y = y->data;
  a.w = weight ? weight->data : nullptr;
  a.b = bias ? bias->data : nullptr;
  a.ws = weight ? weight->strides[0] : 0;
  a.bs = bias ? bias->strides[0] : 0;
  a.mean = mean ? mean->data : nullptr;
  a.rstd = rstd->data;
  a.rows = x->shape[0];
  a.cols = x->shape[1];
  a.eps = eps;
  a.rms = rms;
  AX_CUDA_DISPATCH_FLOAT(x->dtype, "ax_cuda_layer_norm", layer_norm_run<scalar_t>(a))
  return ax_cuda_kstatus();
}

extern "C" ax_kstatus ax_cuda_layer_norm_backward(ax_kt *gx, ax_kt *gweight, ax_kt *gbias, const ax_kt *gy, const ax_kt *x,
                                            const ax_kt *mean, const ax_kt *rstd, const ax_kt *weight, int rms) {
  AX_CUDA_ENTRY;
  if (!check_stats("ax_cuda_layer_norm_backward", x, rstd)) return ax_cuda_kstatus();
  LnBwdArgs a;
  memset(&a, 0, sizeof a);
  a.gy = gy->data;
  a.x = x->data;
  a.gx = gx ? gx->data : nullptr;
  a.w = weight ? weight->data : nullptr;
  a.ws = weight ? weight->strides[0] : 0;
  a.mean = mean ? mean->data : nullptr;
  a.rstd = rstd->data;
  a.rows = x->shape[0];
  a.cols = x->shape[1];
  a.rms = rms;
  AX_CUDA_DISPATCH_FLOAT(x->dtype, "ax_cuda_layer_norm_backward", layer_norm_backward_run<scalar_t>(a, gweight, gbias))
  return ax_cuda_kstatus();
}

extern "C" ax_kstatus ax_cuda_embedding_backward(ax_kt *gweight, const ax_kt *index, const ax_kt *gy) {
  AX_CUDA_ENTRY;
  static const char op[] = "ax_cuda_embedding_backward";
  int64_t v_count = gweight->shape[0], n = index->ndim ? index->shape[0] : 1;
  int64_t istride = index->ndim ? index->strides[0] : 0;
  if (n >= INT32_MAX || v_count >= INT32_MAX) {
    ax_cuda_error("%s: %lld indices into %lld rows: at most 2^31 - 1 of each", op, (long long)n, (long long)v_count);
    return ax_cuda_kstatus();
  }
  cudaStream_t st = ax_cuda_stream();
  int bits = 1;
  while (bits < 31 && (1LL << bits) <= v_count) bits++; /* keys 0 .. v_count (an index out of range) */
  /* ints: counts [V + 1], start [V + 1], keys and positions twice [N] each (sort in / out), the sort's histograms */
  size_t ints = 2 * (size_t)(v_count + 1) + 4 * (size_t)n + axsort::radix_scratch_ints(n);
  int *scratch = (int *)ax_cuda_scratch_alloc(ints * sizeof(int));
  if (!scratch) return ax_cuda_kstatus();
  int *counts = scratch, *start = counts + v_count + 1, *keys = start + v_count + 1, *keys2 = keys + n;
  int *pos = keys2 + n, *pos2 = pos + n, *sort_tmp = pos2 + n, *keys_sorted = keys, *order = pos;
  bool ok = AX_CUDA_CHECK(cudaMemsetAsync(counts, 0, (size_t)(v_count + 1) * sizeof(int), st));
  if (ok && n > 0) {
    unsigned blocks = ax_cuda_blocks(n, 256);
    ax_cuda_status *status = ax_cuda_status_arm();
    if (index->dtype == AX_I64)
      ax_cuda_launch(embedding_keys_kernel<int64_t>, blocks, 256, 0, st, (const int64_t *)index->data, istride, n,
                     keys, pos, counts, v_count, status);
    else
      ax_cuda_launch(embedding_keys_kernel<int32_t>, blocks, 256, 0, st, (const int32_t *)index->data, istride, n,
                     keys, pos, counts, v_count, status);
    ok = AX_CUDA_LAUNCH_CHECK("embedding_keys_kernel") &&
         axsort::radix_sort_pairs(keys, pos, keys2, pos2, n, bits, sort_tmp, st, &keys_sorted, &order);
  }
  ok = ok && axsort::scan_exclusive(counts, start, v_count + 1, st);
  if (ok) AX_CUDA_DISPATCH_FLOAT(gweight->dtype, op, embedding_sum_run<scalar_t>(gweight, gy, start, order))
  ax_cuda_scratch_free(scratch);
  return ax_cuda_kstatus();
}
