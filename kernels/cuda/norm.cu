/* Batch norm on contiguous x viewed as [n, c, s], the same arithmetic as
 * kernels/cpu/norm.c. Statistics and the backward use one block per channel:
 * each thread sums its strided share in double (shifted by the channel's first
 * element, so the one-pass variance does not cancel), then a warp-shuffle and
 * shared-memory tree in a fixed order, so results are deterministic. The
 * backward block then reuses its sums for the elementwise gx pass. The apply
 * pass is elementwise over all of x. Per-channel vectors are [c] with any stride. */
#include "kernels/cuda/common.cuh"

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

/* Over channel ch's elements j < n*s: sum(a - ka) and sum((a - ka) * (b - kb)). */
template <typename T>
__device__ void channel_sums(const T *a, const T *b, int64_t n, int64_t c, int64_t s, int64_t ch, double ka, double kb,
                             double *s1, double *s2) {
  double x = 0, y = 0;
  for (int64_t j = threadIdx.x; j < n * s; j += blockDim.x) {
    int64_t k = (j / s * c + ch) * s + j % s;
    double da = (double)ax_acc_load(a[k]) - ka;
    x += da;
    y += da * ((double)ax_acc_load(b[k]) - kb);
  }
  block_sum2(&x, &y);
  *s1 = x;
  *s2 = y;
}

template <typename T>
__global__ void stats_kernel(vec mean, vec invstd, const T *x, int64_t n, int64_t c, int64_t s, double eps) {
  int64_t ch = blockIdx.x;
  double k = n * s > 0 ? (double)ax_acc_load(x[ch * s]) : 0.0, s1, s2;
  channel_sums(x, x, n, c, s, ch, k, k, &s1, &s2);
  if (threadIdx.x == 0) {
    double m = (double)(n * s), d = m > 0 ? s1 / m : 0.0, var = m > 0 ? s2 / m - d * d : 0.0;
    if (var < 0) var = 0;
    put(mean, ch, k + d);
    put(invstd, ch, 1.0 / sqrt(var + eps));
  }
}

template <typename T>
__global__ void apply_kernel(T *y, const T *x, vec mean, vec invstd, vec weight, vec bias, int64_t c, int64_t s,
                             int64_t total) {
  typedef typename ax_acc<T>::type acc;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t ch = i / s % c;
    double sc = at(invstd, ch, 1.0) * at(weight, ch, 1.0), sh = at(bias, ch, 0.0) - at(mean, ch, 0.0) * sc;
    y[i] = ax_acc_store<T>(ax_acc_load(x[i]) * (acc)sc + (acc)sh);
  }
}

/* gx = k*gy + b*x + c per channel (see kernels/cpu/norm.c for the derivation). */
template <typename T>
__global__ void backward_kernel(T *gx, T *gw, int64_t gws, T *gb, int64_t gbs, const T *gy, const T *x, vec mean,
                                vec invstd, vec weight, int training, int64_t n, int64_t c, int64_t s) {
  typedef typename ax_acc<T>::type acc;
  int64_t ch = blockIdx.x;
  double mu = at(mean, ch, 0.0), is = at(invstd, ch, 1.0), k = at(weight, ch, 1.0) * is;
  double s1 = 0, s2 = 0, m = (double)(n * s);
  if (gw || gb || (gx && training)) channel_sums(gy, x, n, c, s, ch, 0.0, mu, &s1, &s2);
  if (threadIdx.x == 0) {
    if (gb) gb[ch * gbs] = ax_acc_store<T>((acc)s1);
    if (gw) gw[ch * gws] = ax_acc_store<T>((acc)(s2 * is));
  }
  if (!gx) return;
  double kb = 0, kc = 0;
  if (training && m > 0) {
    kb = -k * is * is * s2 / m;
    kc = -kb * mu - k * s1 / m;
  }
  acc a = (acc)k, b = (acc)kb, cc = (acc)kc;
  for (int64_t j = threadIdx.x; j < n * s; j += blockDim.x) {
    int64_t e = (j / s * c + ch) * s + j % s;
    gx[e] = ax_acc_store<T>(ax_acc_load(gy[e]) * a + ax_acc_load(x[e]) * b + cc);
  }
}

struct bn_shape {
  int64_t n, c, s;
};
bn_shape shape_of(const ax_kt *x) {
  bn_shape r = {x->shape[0], x->shape[1], 1};
  for (int d = 2; d < x->ndim; d++) r.s *= x->shape[d];
  return r;
}

}  // namespace

extern "C" void ax_cuda_batch_norm_stats(ax_kt *mean, ax_kt *invstd, const ax_kt *x, double eps) {
  bn_shape sh = shape_of(x);
  if (sh.c == 0) return;
  AX_CUDA_DISPATCH_FLOAT(x->dtype, "ax_cuda_batch_norm_stats", {
    ax_cuda_launch(stats_kernel<scalar_t>, (unsigned)sh.c, kThreads, 0, ax_cuda_stream(),
        vec_of(mean), vec_of(invstd), (const scalar_t *)x->data, sh.n, sh.c, sh.s, eps);
    AX_CUDA_LAUNCH_CHECK("batch_norm_stats");
  })
}

extern "C" void ax_cuda_batch_norm_apply(ax_kt *y, const ax_kt *x, const ax_kt *mean, const ax_kt *invstd,
                                         const ax_kt *weight, const ax_kt *bias) {
  bn_shape sh = shape_of(x);
  int64_t total = sh.n * sh.c * sh.s;
  if (total == 0) return;
  AX_CUDA_DISPATCH_FLOAT(x->dtype, "ax_cuda_batch_norm_apply", {
    ax_cuda_launch(apply_kernel<scalar_t>, ax_cuda_blocks(total, 256), 256, 0, ax_cuda_stream(),
        (scalar_t *)y->data, (const scalar_t *)x->data, vec_of(mean), vec_of(invstd), vec_of(weight), vec_of(bias),
        sh.c, sh.s, total);
    AX_CUDA_LAUNCH_CHECK("batch_norm_apply");
  })
}

extern "C" void ax_cuda_batch_norm_backward(ax_kt *gx, ax_kt *gweight, ax_kt *gbias, const ax_kt *gy, const ax_kt *x,
                                            const ax_kt *mean, const ax_kt *invstd, const ax_kt *weight, int training) {
  bn_shape sh = shape_of(x);
  if (sh.c == 0) return;
  AX_CUDA_DISPATCH_FLOAT(x->dtype, "ax_cuda_batch_norm_backward", {
    ax_cuda_launch(backward_kernel<scalar_t>, (unsigned)sh.c, kThreads, 0, ax_cuda_stream(),
        gx ? (scalar_t *)gx->data : nullptr, gweight ? (scalar_t *)gweight->data : nullptr,
        gweight ? gweight->strides[0] : 0, gbias ? (scalar_t *)gbias->data : nullptr, gbias ? gbias->strides[0] : 0,
        (const scalar_t *)gy->data, (const scalar_t *)x->data, vec_of(mean), vec_of(invstd), vec_of(weight), training,
        sh.n, sh.c, sh.s);
    AX_CUDA_LAUNCH_CHECK("batch_norm_backward");
  })
}
