/* SPDX-License-Identifier: BSD-3-Clause */
/* Batch norm on contiguous x viewed as [n, c, s], the same arithmetic as
 * kernels/cpu/norm.c. Statistics and the backward reduce each channel: each
 * thread sums its strided share in double (shifted by the channel's first
 * element, so the one-pass variance does not cancel), then a warp-shuffle and
 * shared-memory tree in a fixed order, so results are deterministic.
 *  - many channels: one block per channel; the backward block then reuses its
 *    sums for the elementwise gx pass;
 *  - few channels with many elements each (fewer blocks than two per SM): each
 *    channel's elements are split into chunks, one block per (chunk, channel)
 *    writes its partial sums to scratch, a second kernel adds them per channel
 *    in chunk order (deterministic, no atomics) and finishes the statistics or
 *    the gradient coefficients, and the backward's gx is an elementwise pass.
 * The apply pass is elementwise over all of x. Element indices use 32-bit fast
 * division (ax_divmod32) when x has fewer than 2^31 elements, 64-bit division
 * otherwise (chosen on the host). Per-channel vectors are [c] with any stride. */
#include <string.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/loops.cuh"

namespace {

const int kThreads = 512;

/* A per-channel vector of any float dtype: the batch statistics are f32 for
 * bf16 / f16 input, running statistics and affine parameters have their own. */
struct vec {
  void *data;
  int64_t stride;
  int dtype;
};
vec vec_of(const ax_kt *t) { return vec{t ? t->data : nullptr, t ? t->strides[0] : 0, t ? t->dtype : AX_F32}; }

__device__ __forceinline__ double at(vec v, int64_t i, double missing) {
  if (!v.data) return missing;
  i *= v.stride;
  switch (v.dtype) {
    case AX_F64: return ((const double *)v.data)[i];
    case AX_BF16: return (double)__bfloat162float(((const __nv_bfloat16 *)v.data)[i]);
    case AX_F16: return (double)__half2float(((const __half *)v.data)[i]);
    default: return (double)((const float *)v.data)[i];
  }
}
__device__ __forceinline__ void put(vec v, int64_t i, double x) {
  i *= v.stride;
  switch (v.dtype) {
    case AX_F64: ((double *)v.data)[i] = x; break;
    case AX_BF16: ((__nv_bfloat16 *)v.data)[i] = __float2bfloat16((float)x); break;
    case AX_F16: ((__half *)v.data)[i] = __float2half((float)x); break;
    default: ((float *)v.data)[i] = (float)x;
  }
}

/* Sums a and b over the block; every thread gets the totals. */
__device__ void block_sum2(double *a, double *b) {
  AX_SHARED(double, sa, [32]);
  AX_SHARED(double, sb, [32]);
  double x = *a, y = *b;
  for (int o = 16; o > 0; o >>= 1) {
    x += __shfl_down_sync(0xffffffffu, x, o);
    y += __shfl_down_sync(0xffffffffu, y, o);
  }
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  if (lane == 0) {
    sa[warp] = x;
    sb[warp] = y;
  }
  __syncthreads();
  if (warp == 0) {
    x = lane < nw ? sa[lane] : 0.0;
    y = lane < nw ? sb[lane] : 0.0;
    for (int o = 16; o > 0; o >>= 1) {
      x += __shfl_down_sync(0xffffffffu, x, o);
      y += __shfl_down_sync(0xffffffffu, y, o);
    }
    if (lane == 0) {
      sa[0] = x;
      sb[0] = y;
    }
  }
  __syncthreads();
  *a = sa[0];
  *b = sb[0];
}

/* The [n, c, s] geometry with its fast divisors (valid when I32). */
struct bn_index {
  int64_t n, c, s;
  ax_divmod32 ds, dc;
};

/* Element j (< n*s) of channel ch. */
template <bool I32>
__device__ __forceinline__ int64_t elem_of(const bn_index &g, int64_t ch, int64_t j) {
  int64_t q = I32 ? (int64_t)g.ds.div((uint32_t)j) : j / g.s;
  return (q * g.c + ch) * g.s + (j - q * g.s);
}
/* The channel of element i of x. */
template <bool I32>
__device__ __forceinline__ int64_t channel_of(const bn_index &g, int64_t i) {
  if (I32) {
    uint32_t q = g.ds.div((uint32_t)i);
    return (int64_t)(q - g.dc.div(q) * (uint32_t)g.c);
  }
  return i / g.s % g.c;
}

/* Over channel ch's elements j in [beg, end): sum(a - ka) and sum((a - ka) * (b - kb)), block totals. */
template <typename T, bool I32>
__device__ void chunk_sums(const T *a, const T *b, const bn_index &g, int64_t ch, int64_t beg, int64_t end, double ka,
                           double kb, double *s1, double *s2) {
  double x = 0, y = 0;
  for (int64_t j = beg + threadIdx.x; j < end; j += blockDim.x) {
    int64_t k = elem_of<I32>(g, ch, j);
    double da = (double)ax_acc_load(a[k]) - ka;
    x += da;
    y += da * ((double)ax_acc_load(b[k]) - kb);
  }
  block_sum2(&x, &y);
  *s1 = x;
  *s2 = y;
}

template <typename T>
__device__ __forceinline__ double shift_of(const T *x, const bn_index &g, int64_t ch) {
  return g.n * g.s > 0 ? (double)ax_acc_load(x[ch * g.s]) : 0.0;
}

__device__ __forceinline__ void finish_stats(vec mean, vec invstd, int64_t ch, double m, double k, double s1, double s2,
                                             double eps) {
  double d = m > 0 ? s1 / m : 0.0, var = m > 0 ? s2 / m - d * d : 0.0;
  if (var < 0) var = 0;
  put(mean, ch, k + d);
  put(invstd, ch, 1.0 / sqrt(var + eps));
}

/* One block per channel. */
template <typename T, bool I32>
__global__ void stats_kernel(vec mean, vec invstd, const T *x, bn_index g, double eps) {
  int64_t ch = blockIdx.x;
  double k = shift_of(x, g, ch), s1, s2;
  chunk_sums<T, I32>(x, x, g, ch, 0, g.n * g.s, k, k, &s1, &s2);
  if (threadIdx.x == 0) finish_stats(mean, invstd, ch, (double)(g.n * g.s), k, s1, s2, eps);
}

/* Split: block (split, ch) sums chunk `split` of channel ch into ws[ch][split][0..1]. */
template <typename T, bool I32>
__global__ void stats_partial_kernel(double *ws, const T *x, bn_index g, int64_t chunk) {
  int64_t ch = blockIdx.y, split = blockIdx.x, m = g.n * g.s;
  int64_t beg = split * chunk, end = beg + chunk < m ? beg + chunk : m;
  double k = shift_of(x, g, ch), s1, s2;
  chunk_sums<T, I32>(x, x, g, ch, beg, end, k, k, &s1, &s2);
  if (threadIdx.x == 0) {
    ws[(ch * gridDim.x + split) * 2] = s1;
    ws[(ch * gridDim.x + split) * 2 + 1] = s2;
  }
}

/* Split: a thread per channel adds its partials in split order. */
template <typename T>
__global__ void stats_finish_kernel(vec mean, vec invstd, const double *ws, const T *x, bn_index g, int splits,
                                    double eps) {
  for (int64_t ch = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; ch < g.c; ch += (int64_t)gridDim.x * blockDim.x) {
    double s1 = 0, s2 = 0;
    for (int k = 0; k < splits; k++) {
      s1 += ws[(ch * splits + k) * 2];
      s2 += ws[(ch * splits + k) * 2 + 1];
    }
    finish_stats(mean, invstd, ch, (double)(g.n * g.s), shift_of(x, g, ch), s1, s2, eps);
  }
}

template <typename T, bool I32>
__global__ void apply_kernel(T *y, const T *x, vec mean, vec invstd, vec weight, vec bias, bn_index g, int64_t total) {
  typedef typename ax_acc<T>::type acc;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t ch = channel_of<I32>(g, i);
    double sc = at(invstd, ch, 1.0) * at(weight, ch, 1.0), sh = at(bias, ch, 0.0) - at(mean, ch, 0.0) * sc;
    y[i] = ax_acc_store<T>(ax_acc_load(x[i]) * (acc)sc + (acc)sh);
  }
}

/* The per-channel gradient results from the sums s1 = sum(gy), s2 = sum(gy * (x - mean)):
 * gb, gw, and gx = a*gy + b*x + cc (see kernels/cpu/norm.c for the derivation). */
struct bn_grad {
  double a, b, cc;
};
template <typename T>
__device__ __forceinline__ bn_grad finish_grad(T *gw, int64_t gws, T *gb, int64_t gbs, vec mean, vec invstd,
                                               vec weight, int training, int64_t ch, double m, double s1, double s2) {
  typedef typename ax_acc<T>::type acc;
  double mu = at(mean, ch, 0.0), is = at(invstd, ch, 1.0), k = at(weight, ch, 1.0) * is;
  if (gb) gb[ch * gbs] = ax_acc_store<T>((acc)s1);
  if (gw) gw[ch * gws] = ax_acc_store<T>((acc)(s2 * is));
  bn_grad r = {k, 0, 0};
  if (training && m > 0) {
    r.b = -k * is * is * s2 / m;
    r.cc = -r.b * mu - k * s1 / m;
  }
  return r;
}

/* One block per channel: the sums, gw / gb, then gx over the channel. */
template <typename T, bool I32>
__global__ void backward_kernel(T *gx, T *gw, int64_t gws, T *gb, int64_t gbs, const T *gy, const T *x, vec mean,
                                vec invstd, vec weight, int training, bn_index g) {
  typedef typename ax_acc<T>::type acc;
  int64_t ch = blockIdx.x, m = g.n * g.s;
  double s1 = 0, s2 = 0;
  if (gw || gb || (gx && training)) chunk_sums<T, I32>(gy, x, g, ch, 0, m, 0.0, at(mean, ch, 0.0), &s1, &s2);
  bn_grad r = finish_grad<T>(threadIdx.x == 0 ? gw : nullptr, gws, threadIdx.x == 0 ? gb : nullptr, gbs, mean, invstd,
                             weight, training, ch, (double)m, s1, s2);
  if (!gx) return;
  acc a = (acc)r.a, b = (acc)r.b, cc = (acc)r.cc;
  for (int64_t j = threadIdx.x; j < m; j += blockDim.x) {
    int64_t e = elem_of<I32>(g, ch, j);
    gx[e] = ax_acc_store<T>(ax_acc_load(gy[e]) * a + ax_acc_load(x[e]) * b + cc);
  }
}

/* Split: block (split, ch) sums its chunk of gy and gy * (x - mean) into ws[ch][split][0..1]. */
template <typename T, bool I32>
__global__ void backward_partial_kernel(double *ws, const T *gy, const T *x, vec mean, bn_index g, int64_t chunk) {
  int64_t ch = blockIdx.y, split = blockIdx.x, m = g.n * g.s;
  int64_t beg = split * chunk, end = beg + chunk < m ? beg + chunk : m;
  double s1, s2;
  chunk_sums<T, I32>(gy, x, g, ch, beg, end, 0.0, at(mean, ch, 0.0), &s1, &s2);
  if (threadIdx.x == 0) {
    ws[(ch * gridDim.x + split) * 2] = s1;
    ws[(ch * gridDim.x + split) * 2 + 1] = s2;
  }
}

/* Split: a thread per channel adds the partials (splits 0: no sums needed), writes
 * gw / gb and the channel's gx coefficients coef[ch][0..2]. */
template <typename T>
__global__ void backward_finish_kernel(double *coef, T *gw, int64_t gws, T *gb, int64_t gbs, const double *ws,
                                       vec mean, vec invstd, vec weight, int training, bn_index g, int splits) {
  for (int64_t ch = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; ch < g.c; ch += (int64_t)gridDim.x * blockDim.x) {
    double s1 = 0, s2 = 0;
    for (int k = 0; k < splits; k++) {
      s1 += ws[(ch * splits + k) * 2];
      s2 += ws[(ch * splits + k) * 2 + 1];
    }
    bn_grad r = finish_grad<T>(gw, gws, gb, gbs, mean, invstd, weight, training, ch, (double)(g.n * g.s), s1, s2);
    coef[ch * 3] = r.a;
    coef[ch * 3 + 1] = r.b;
    coef[ch * 3 + 2] = r.cc;
  }
}

/* Split: gx elementwise over all of x from the channel coefficients. */
template <typename T, bool I32>
__global__ void backward_gx_kernel(T *gx, const T *gy, const T *x, const double *coef, bn_index g, int64_t total) {
  typedef typename ax_acc<T>::type acc;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t ch = channel_of<I32>(g, i);
    acc a = (acc)coef[ch * 3], b = (acc)coef[ch * 3 + 1], cc = (acc)coef[ch * 3 + 2];
    gx[i] = ax_acc_store<T>(ax_acc_load(gy[i]) * a + ax_acc_load(x[i]) * b + cc);
  }
}

bn_index shape_of(const ax_kt *x) {
  bn_index r;
  memset(&r, 0, sizeof r);
  r.n = x->shape[0];
  r.c = x->shape[1];
  r.s = 1;
  for (int d = 2; d < x->ndim; d++) r.s *= x->shape[d];
  return r;
}

/* Whether 32-bit element indices hold (and sets up the divisors). */
bool use32(bn_index &g) {
  int64_t total = g.n * g.c * g.s;
  if (total >= (1LL << 31) || ax_cuda_index64_forced) return false;
  g.ds.init((uint32_t)(g.s > 0 ? g.s : 1));
  g.dc.init((uint32_t)(g.c > 0 ? g.c : 1));
  return true;
}

int sm_count() {
  static int cached[64];
  int dev = ax_cuda_current_device();
  if (dev < 0 || dev >= 64) return 80;
  if (!cached[dev]) {
    int n = 0;
    if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || n <= 0) n = 80;
    cached[dev] = n;
  }
  return cached[dev];
}

/* Chunks per channel: 1 (a block per channel) unless the channels give fewer
 * blocks than two per SM and each has more than 4096 elements; then enough
 * blocks for two per SM, each chunk at least 4096 elements (at most 1024 chunks). */
int splits_for(const bn_index &g, int64_t *chunk) {
  int64_t m = g.n * g.s, want = 2 * (int64_t)sm_count();
  *chunk = m;
  if (g.c >= want || m <= 4096) return 1;
  int64_t s = (want + g.c - 1) / g.c, by_size = (m + 4095) / 4096;
  if (s > by_size) s = by_size;
  if (s > 1024) s = 1024;
  if (s <= 1) return 1;
  *chunk = (m + s - 1) / s;
  return (int)((m + *chunk - 1) / *chunk);
}

template <typename T, bool I32>
void stats_run(ax_kt *mean, ax_kt *invstd, const ax_kt *x, bn_index g, double eps) {
  cudaStream_t st = ax_cuda_stream();
  int64_t chunk;
  int splits = splits_for(g, &chunk);
  if (splits == 1) {
    ax_cuda_launch(stats_kernel<T, I32>, (unsigned)g.c, kThreads, 0, st, vec_of(mean), vec_of(invstd),
                   (const T *)x->data, g, eps);
    AX_CUDA_LAUNCH_CHECK("batch_norm stats_kernel");
    return;
  }
  double *ws = (double *)ax_cuda_scratch_alloc((size_t)g.c * splits * 2 * sizeof(double));
  if (!ws) return;
  ax_cuda_launch(stats_partial_kernel<T, I32>, dim3((unsigned)splits, (unsigned)g.c), kThreads, 0, st, ws,
                 (const T *)x->data, g, chunk);
  if (AX_CUDA_LAUNCH_CHECK("batch_norm stats_partial_kernel")) {
    ax_cuda_launch(stats_finish_kernel<T>, ax_cuda_blocks(g.c, 256), 256, 0, st, vec_of(mean), vec_of(invstd), ws,
                   (const T *)x->data, g, splits, eps);
    AX_CUDA_LAUNCH_CHECK("batch_norm stats_finish_kernel");
  }
  ax_cuda_scratch_free(ws);
}

template <typename T, bool I32>
void backward_run(ax_kt *gx, ax_kt *gweight, ax_kt *gbias, const ax_kt *gy, const ax_kt *x, const ax_kt *mean,
                  const ax_kt *invstd, const ax_kt *weight, int training, bn_index g) {
  cudaStream_t st = ax_cuda_stream();
  T *gxp = gx ? (T *)gx->data : nullptr, *gw = gweight ? (T *)gweight->data : nullptr;
  T *gb = gbias ? (T *)gbias->data : nullptr;
  int64_t gws = gweight ? gweight->strides[0] : 0, gbs = gbias ? gbias->strides[0] : 0;
  int64_t chunk;
  int splits = splits_for(g, &chunk);
  if (splits == 1) {
    ax_cuda_launch(backward_kernel<T, I32>, (unsigned)g.c, kThreads, 0, st, gxp, gw, gws, gb, gbs, (const T *)gy->data,
                   (const T *)x->data, vec_of(mean), vec_of(invstd), vec_of(weight), training, g);
    AX_CUDA_LAUNCH_CHECK("batch_norm backward_kernel");
    return;
  }
  bool sums = gw || gb || (gxp && training);
  size_t parts = sums ? (size_t)g.c * splits * 2 : 0;
  double *ws = (double *)ax_cuda_scratch_alloc((parts + (size_t)g.c * 3) * sizeof(double));
  if (!ws) return;
  double *coef = ws + parts;
  bool ok = true;
  if (sums) {
    ax_cuda_launch(backward_partial_kernel<T, I32>, dim3((unsigned)splits, (unsigned)g.c), kThreads, 0, st, ws,
                   (const T *)gy->data, (const T *)x->data, vec_of(mean), g, chunk);
    ok = AX_CUDA_LAUNCH_CHECK("batch_norm backward_partial_kernel");
  }
  if (ok) {
    ax_cuda_launch(backward_finish_kernel<T>, ax_cuda_blocks(g.c, 256), 256, 0, st, coef, gw, gws, gb, gbs, ws,
                   vec_of(mean), vec_of(invstd), vec_of(weight), training, g, sums ? splits : 0);
    ok = AX_CUDA_LAUNCH_CHECK("batch_norm backward_finish_kernel");
  }
  int64_t total = g.n * g.c * g.s;
  if (ok && gxp && total > 0) {
    ax_cuda_launch(backward_gx_kernel<T, I32>, ax_cuda_blocks(total, 256), 256, 0, st, gxp, (const T *)gy->data,
                   (const T *)x->data, (const double *)coef, g, total);
    AX_CUDA_LAUNCH_CHECK("batch_norm backward_gx_kernel");
  }
  ax_cuda_scratch_free(ws);
}

template <typename T>
void apply_run(ax_kt *y, const ax_kt *x, const ax_kt *mean, const ax_kt *invstd, const ax_kt *weight, const ax_kt *bias,
               bn_index g, bool i32) {
  int64_t total = g.n * g.c * g.s;
  if (i32)
    ax_cuda_launch(apply_kernel<T, true>, ax_cuda_blocks(total, 256), 256, 0, ax_cuda_stream(), (T *)y->data,
                   (const T *)x->data, vec_of(mean), vec_of(invstd), vec_of(weight), vec_of(bias), g, total);
  else
    ax_cuda_launch(apply_kernel<T, false>, ax_cuda_blocks(total, 256), 256, 0, ax_cuda_stream(), (T *)y->data,
                   (const T *)x->data, vec_of(mean), vec_of(invstd), vec_of(weight), vec_of(bias), g, total);
  AX_CUDA_LAUNCH_CHECK("batch_norm apply_kernel");
}

}  // namespace

extern "C" ax_kstatus ax_cuda_batch_norm_stats(ax_kt *mean, ax_kt *invstd, const ax_kt *x, double eps) {
  AX_CUDA_ENTRY;
  bn_index g = shape_of(x);
  if (g.c == 0) return ax_cuda_kstatus();
  bool i32 = use32(g);
  AX_CUDA_DISPATCH_FLOAT(x->dtype, "ax_cuda_batch_norm_stats",
                         i32 ? stats_run<scalar_t, true>(mean, invstd, x, g, eps)
                             : stats_run<scalar_t, false>(mean, invstd, x, g, eps))
  return ax_cuda_kstatus();
}

extern "C" ax_kstatus ax_cuda_batch_norm_apply(ax_kt *y, const ax_kt *x, const ax_kt *mean, const ax_kt *invstd,
                                         const ax_kt *weight, const ax_kt *bias) {
  AX_CUDA_ENTRY;
  bn_index g = shape_of(x);
  if (g.n * g.c * g.s == 0) return ax_cuda_kstatus();
  bool i32 = use32(g);
  AX_CUDA_DISPATCH_FLOAT(x->dtype, "ax_cuda_batch_norm_apply", apply_run<scalar_t>(y, x, mean, invstd, weight, bias, g, i32))
  return ax_cuda_kstatus();
}

extern "C" ax_kstatus ax_cuda_batch_norm_backward(ax_kt *gx, ax_kt *gweight, ax_kt *gbias, const ax_kt *gy, const ax_kt *x,
                                            const ax_kt *mean, const ax_kt *invstd, const ax_kt *weight, int training) {
  AX_CUDA_ENTRY;
  bn_index g = shape_of(x);
  if (g.c == 0) return ax_cuda_kstatus();
  bool i32 = use32(g);
  AX_CUDA_DISPATCH_FLOAT(x->dtype, "ax_cuda_batch_norm_backward",
                         i32 ? backward_run<scalar_t, true>(gx, gweight, gbias, gy, x, mean, invstd, weight, training, g)
                             : backward_run<scalar_t, false>(gx, gweight, gbias, gy, x, mean, invstd, weight, training, g))
  return ax_cuda_kstatus();
}
