/* SPDX-License-Identifier: BSD-3-Clause */
/* 2-D convolution on CUDA: implicit GEMM, no im2col buffer.
 *
 * All three passes are one tiled GEMM, C [M, N] = A [M, R] x B [R, N], per
 * group, whose tile loaders compute addresses from the GEMM indices:
 *
 *   pass              M        N             R (reduced)     A                 B
 *   forward           og       n*oh*ow       cg*kh*kw        weight            x at the window tap
 *   backward input    cg       n*h*w         og*kh*kw        weight (c, o)     gy at the output pixel
 *                                                                              that saw this tap
 *   backward weight   og       cg*kh*kw      n*oh*ow         gy                x at the window tap
 *
 * Backward input gathers, for each input pixel and tap, the one output pixel
 * whose window put that tap there (when the stride divides the distance), so
 * there is no col2im scatter and no atomics. Backward weight reduces over the
 * whole batch into a small output, so the reduction is split across blocks
 * (split-K): each split writes its partial sums (in the accumulation type) to
 * a workspace and a second kernel adds them up.
 *
 * Tiles: 64 x 64 outputs per block of 256 threads, 4 x 4 per thread, 16-deep
 * slices of R staged through shared memory; the next slice is loaded into
 * registers while the current one is multiplied. Elements are converted to
 * the accumulation type (float, or double for f64) as they are loaded, so
 * bf16 and f16 accumulate in f32.
 *
 * Index arithmetic: every quotient a loader or the store takes (by kh*kw, kw,
 * oh*ow, ow, h*w, w, the strides) has a GEMM index (< 2^31: fits_int) as its
 * dividend, so it is a 32-bit multiply-shift (ax_divmod32, divisors set up on
 * the host), never a 64-bit division; only the final element offsets are 64-bit.
 *
 * AXON_CONV=cudnn (read once) sends the three entries to conv_cudnn.cu instead.
 */
#include <stdlib.h>
#include <string.h>

#include <atomic>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/loops.cuh"
#include "axon/settings.h"

#ifdef AXON_HAVE_CUDNN
extern "C" void ax_cuda_cudnn_conv2d(ax_kt *y, const ax_kt *x, const ax_kt *w, const ax_kt *bias,
                                     const ax_conv_params *p);
extern "C" void ax_cuda_cudnn_conv2d_backward_input(ax_kt *gx, const ax_kt *gy, const ax_kt *w,
                                                    const ax_conv_params *p);
extern "C" void ax_cuda_cudnn_conv2d_backward_weight(ax_kt *gw, const ax_kt *gy, const ax_kt *x,
                                                     const ax_conv_params *p);
#endif

namespace {

/* Element <-> accumulation type (common.cuh); f64 must not pass through float. */
template <typename T> __device__ __forceinline__ typename ax_acc<T>::type widen(T v) { return ax_acc_load(v); }
template <typename T> __device__ __forceinline__ T narrow(typename ax_acc<T>::type v) { return ax_acc_store<T>(v); }

constexpr int BM = 64, BN = 64, BK = 16, THREADS = 256;
constexpr int TM = BM / 16, TN = BN / 16; /* per-thread outputs: rows ty + 16 i, cols tx + 16 j */

enum Pass { FORWARD, BACKWARD_INPUT, BACKWARD_WEIGHT };

struct ConvArgs {
  const void *a_src, *b_src; /* forward (w, x), backward input (w, gy), backward weight (gy, x) */
  const void *bias;          /* forward only, may be null */
  void *out;                 /* y, gx, gw, or the split-K workspace (accumulation type) */
  ax_conv_params p;
  int m, n, r;               /* GEMM sizes of one group */
  int splits, r_per_split;
  /* divisors: kh*kw, kw, oh*ow, ow, h*w, w, sh, sw */
  ax_divmod32 taps, kw, P, ow, hw, w, sh, sw;
};

/* q = v / d, r = v - q * d for 0 <= v < 2^31. */
__device__ __forceinline__ int64_t qr(const ax_divmod32 &d, int64_t v, int64_t *r) {
  int64_t q = (int64_t)d.div((uint32_t)v);
  *r = v - q * (int64_t)d.d;
  return q;
}

void init_divisors(ConvArgs &a) {
  const ax_conv_params &p = a.p;
  auto set = [](ax_divmod32 &d, int64_t v) { d.init((uint32_t)(v < 1 ? 1 : v >= (1LL << 31) ? (1LL << 31) - 1 : v)); };
  set(a.taps, p.kh * p.kw), set(a.kw, p.kw), set(a.P, p.oh * p.ow), set(a.ow, p.ow);
  set(a.hw, p.h * p.w), set(a.w, p.w), set(a.sh, p.sh), set(a.sw, p.sw);
}

/* A[m][k] of group g. */
template <typename T, int PASS>
__device__ __forceinline__ typename ax_acc<T>::type load_a(const ConvArgs &a, int g, int m, int k) {
  typedef typename ax_acc<T>::type A;
  const T *src = (const T *)a.a_src;
  const ax_conv_params &p = a.p;
  if (m >= a.m || k >= a.r) return A(0);
  int64_t og = p.o / p.groups, cg = p.c / p.groups, taps = p.kh * p.kw;
  if (PASS == FORWARD) return widen<T>(src[(g * og + m) * (int64_t)a.r + k]);
  if (PASS == BACKWARD_INPUT) {
    int64_t t, o = qr(a.taps, k, &t);
    return widen<T>(src[((g * og + o) * cg + m) * taps + t]);
  }
  int64_t P = p.oh * p.ow, pix, img = qr(a.P, k, &pix);
  return widen<T>(src[(img * p.o + g * og + m) * P + pix]);
}
/* x at window tap (c, i, j) of output pixel (img, oy, ox) of group g, or 0 in the padding. */
template <typename T>
__device__ __forceinline__ typename ax_acc<T>::type load_x_tap(const ConvArgs &a, const T *x, int g, int64_t tap,
                                                                int64_t out_pix) {
  typedef typename ax_acc<T>::type A;
  const ax_conv_params &p = a.p;
  int64_t t, j, q, ox;
  int64_t c = qr(a.taps, tap, &t), i = qr(a.kw, t, &j);
  int64_t img = qr(a.P, out_pix, &q), oy = qr(a.ow, q, &ox);
  int64_t iy = oy * p.sh - p.ph + i * p.dh, ix = ox * p.sw - p.pw + j * p.dw;
  if (iy < 0 || iy >= p.h || ix < 0 || ix >= p.w) return A(0);
  int64_t cg = p.c / p.groups;
  return widen<T>(x[((img * p.c + g * cg + c) * p.h + iy) * p.w + ix]);
}

/* B[k][n] of group g. */
template <typename T, int PASS>
__device__ __forceinline__ typename ax_acc<T>::type load_b(const ConvArgs &a, int g, int k, int n) {
  typedef typename ax_acc<T>::type A;
  const T *src = (const T *)a.b_src;
  const ax_conv_params &p = a.p;
  if (k >= a.r || n >= a.n) return A(0);
  if (PASS == FORWARD) return load_x_tap<T>(a, src, g, k, n);
  if (PASS == BACKWARD_WEIGHT) return load_x_tap<T>(a, src, g, n, k);
  /* backward input: tap (o, i, j) of input pixel (img, iy, ix) came from output
   * pixel ((iy + ph - i dh) / sh, (ix + pw - j dw) / sw) when that divides exactly */
  int64_t t, j, q, ix;
  int64_t o = qr(a.taps, k, &t), i = qr(a.kw, t, &j);
  int64_t img = qr(a.hw, n, &q), iy = qr(a.w, q, &ix);
  int64_t ty = iy + p.ph - i * p.dh, tx = ix + p.pw - j * p.dw;
  if (ty < 0 || tx < 0) return A(0);
  int64_t ry, rx, oy = qr(a.sh, ty, &ry), ox = qr(a.sw, tx, &rx);
  if (ry || rx) return A(0);
  if (oy >= p.oh || ox >= p.ow) return A(0);
  int64_t og = p.o / p.groups;
  return widen<T>(src[((img * p.o + g * og + o) * p.oh + oy) * p.ow + ox]);
}

template <typename T, int PASS>
__device__ __forceinline__ void store_c(const ConvArgs &a, int g, int split, int m, int n,
                                        typename ax_acc<T>::type v) {
  typedef typename ax_acc<T>::type A;
  if (m >= a.m || n >= a.n) return;
  const ax_conv_params &p = a.p;
  int64_t og = p.o / p.groups, cg = p.c / p.groups;
  if (PASS == FORWARD) {
    int64_t P = p.oh * p.ow, q, img = qr(a.P, n, &q);
    if (a.bias) v += widen<T>(((const T *)a.bias)[g * og + m]);
    ((T *)a.out)[(img * p.o + g * og + m) * P + q] = narrow<T>(v);
  } else if (PASS == BACKWARD_INPUT) {
    int64_t hw = p.h * p.w, q, img = qr(a.hw, n, &q);
    ((T *)a.out)[(img * p.c + g * cg + m) * hw + q] = narrow<T>(v);
  } else if (a.splits == 1) {
    ((T *)a.out)[(g * og + m) * (int64_t)a.n + n] = narrow<T>(v);
  } else {
    ((A *)a.out)[((int64_t)split * p.o + g * og + m) * a.n + n] = v;
  }
}
/* Grid: x over N tiles, y over M tiles, z over groups * splits. */
template <typename T, int PASS>
__global__ void __launch_bounds__(THREADS) conv_igemm(ConvArgs a) {
  typedef typename ax_acc<T>::type A;
  AX_SHARED(A, as, [BK][BM + 4]);
  AX_SHARED(A, bs, [BK][BN + 4]);
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int g = blockIdx.z / a.splits, split = blockIdx.z % a.splits;
  const int k_begin = split * a.r_per_split, k_end = min(a.r, k_begin + a.r_per_split);

  /* each thread loads 4 elements of each tile: A walks k fastest (contiguous
   * in the weight and in gy), B walks n fastest (contiguous in x and gy) */
  constexpr int LOADS = BM * BK / THREADS;
  A ra[LOADS], rb[LOADS];
  auto fetch = [&](int k0) {
#pragma unroll
    for (int l = 0; l < LOADS; l++) {
      int e = tid + l * THREADS;
      int k = k0 + e % BK, kk = k0 + e / BN;
      ra[l] = k < k_end ? load_a<T, PASS>(a, g, m0 + e / BK, k) : A(0);
      rb[l] = kk < k_end ? load_b<T, PASS>(a, g, kk, n0 + e % BN) : A(0);
    }
  };
  auto stash = [&]() {
#pragma unroll
    for (int l = 0; l < LOADS; l++) {
      int e = tid + l * THREADS;
      as[e % BK][e / BK] = ra[l];
      bs[e / BN][e % BN] = rb[l];
    }
  };

  A acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; i++)
#pragma unroll
    for (int j = 0; j < TN; j++) acc[i][j] = 0;

  if (k_begin < k_end) fetch(k_begin);
  for (int k0 = k_begin; k0 < k_end; k0 += BK) {
    __syncthreads(); /* the previous slice is no longer being read */
    stash();
    __syncthreads();
    if (k0 + BK < k_end) fetch(k0 + BK); /* overlaps the global loads with the FMAs below */
#pragma unroll
    for (int kk = 0; kk < BK; kk++) {
      A av[TM], bv[TN];
#pragma unroll
      for (int i = 0; i < TM; i++) av[i] = as[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < TN; j++) bv[j] = bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] += av[i] * bv[j];
    }
  }
#pragma unroll
  for (int i = 0; i < TM; i++)
#pragma unroll
    for (int j = 0; j < TN; j++) store_c<T, PASS>(a, g, split, m0 + ty + 16 * i, n0 + tx + 16 * j, acc[i][j]);
}

/* gw[e] = sum over splits of the workspace. */
template <typename T>
__global__ void sum_splits(T *gw, const typename ax_acc<T>::type *ws, int64_t count, int splits) {
  typedef typename ax_acc<T>::type A;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < count; e += (int64_t)gridDim.x * blockDim.x) {
    A s = 0;
    for (int k = 0; k < splits; k++) s += ws[k * count + e];
    gw[e] = narrow<T>(s);
  }
}

/* Number of SMs of the current device, asked once per device. */
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

bool fits_int(const char *what, int64_t v) {
  if (v < (1LL << 31)) return true;
  ax_cuda_error("%s: the implicit GEMM is too large for 32-bit tile indices (%lld)", what, (long long)v);
  return false;
}

template <typename T, int PASS>
void launch(ConvArgs a, const char *name) {
  const ax_conv_params &p = a.p;
  init_divisors(a);
  int64_t tiles = ((a.m + BM - 1) / BM) * (int64_t)((a.n + BN - 1) / BN) * p.groups;
  a.splits = 1;
  a.r_per_split = a.r;
  void *gw = a.out;
  typedef typename ax_acc<T>::type A;
  if (PASS == BACKWARD_WEIGHT) {
    /* enough blocks for two waves, each split still a few hundred deep */
    int64_t want = (2 * (int64_t)sm_count() + tiles - 1) / tiles, most = (a.r + 255) / 256;
    int splits = (int)(want < most ? want : most);
    if (splits > 1) {
      a.r_per_split = ((a.r + splits - 1) / splits + BK - 1) / BK * BK;
      a.splits = (a.r + a.r_per_split - 1) / a.r_per_split;
    }
    if (a.splits > 1) {
      a.out = ax_cuda_scratch_alloc((size_t)a.splits * p.o * a.n * sizeof(A)); /* the caching allocator's */
      if (!a.out) return;
    }
  }
  dim3 grid((unsigned)((a.n + BN - 1) / BN), (unsigned)((a.m + BM - 1) / BM), (unsigned)(p.groups * a.splits));
  if (grid.y > 65535 || grid.z > 65535) {
    ax_cuda_error("%s: too many output channels or groups for one launch (%u x %u)", name, grid.y, grid.z);
    if (a.splits > 1) ax_cuda_scratch_free(a.out);
    return;
  }
  if (a.m != 0 && a.n != 0) {
    ax_cuda_launch(conv_igemm<T, PASS>, grid, THREADS, 0, ax_cuda_stream(), a);
    if (AX_CUDA_LAUNCH_CHECK("conv_igemm") && a.splits > 1) {
      int64_t count = (int64_t)p.o * a.n;
      ax_cuda_launch(sum_splits<T>, ax_cuda_blocks(count, 256), 256, 0, ax_cuda_stream(), (T *)gw, (const A *)a.out,
                     count, a.splits);
      AX_CUDA_LAUNCH_CHECK("sum_splits");
    }
  }
  if (a.splits > 1) ax_cuda_scratch_free(a.out);
}

/* -1: follow AXON_CONV; 0: native; 1: cuDNN (ax_cuda_conv_force_backend: tests and the benchmark). */
std::atomic<int> forced_conv{-1};

/* Which implementation runs. AXON_CONV=native|cudnn (the settings); unset, cuDNN when the
 * build has it, since no GPU benchmark has shown the native kernels faster yet
 * (docs/benchmarks.md): the vendor library is the default until one does. */
bool use_cudnn() {
  int f = forced_conv.load(std::memory_order_relaxed);
  if (f >= 0) return f == 1;
  ax_impl impl = ax_settings_get()->conv; /* AXON_CONV (docs/settings.md) */
#ifdef AXON_HAVE_CUDNN
  return impl != AX_IMPL_NATIVE;
#else
  static std::atomic<bool> told{false};
  if (impl == AX_IMPL_VENDOR && !told.exchange(true))
    fprintf(stderr, "axon: warning: AXON_CONV=cudnn: %s; using the native conv kernels\n", AX_CUDA_NO_CUDNN);
  return false;
#endif
}

} /* namespace */

/* Overrides AXON_CONV: 1 cuDNN, 0 native, -1 back to AXON_CONV and the default; false (no
 * change) when cuDNN is asked for but not in the build. */
extern "C" bool ax_cuda_conv_force_backend(int backend) {
#ifndef AXON_HAVE_CUDNN
  if (backend == 1) return false;
#endif
  forced_conv.store(backend < 0 ? -1 : backend == 1 ? 1 : 0, std::memory_order_relaxed);
  return true;
}

extern "C" ax_kstatus ax_cuda_conv2d(ax_kt *y, const ax_kt *x, const ax_kt *w, const ax_kt *bias, const ax_conv_params *p) {
  AX_CUDA_ENTRY;
#ifdef AXON_HAVE_CUDNN
  if (use_cudnn() && p->n && p->c && p->o) {
    ax_cuda_cudnn_conv2d(y, x, w, bias, p);
    return ax_cuda_kstatus();
  }
#else
  use_cudnn();
#endif
  ConvArgs a = {w->data, x->data, bias ? bias->data : nullptr, y->data, *p};
  int64_t n = p->n * p->oh * p->ow, r = p->c / p->groups * p->kh * p->kw;
  if (!fits_int("ax_cuda_conv2d", n) || !fits_int("ax_cuda_conv2d", r)) return ax_cuda_kstatus();
  a.m = (int)(p->o / p->groups), a.n = (int)n, a.r = (int)r;
  AX_CUDA_DISPATCH_FLOAT(y->dtype, "ax_cuda_conv2d", launch<scalar_t, FORWARD>(a, "ax_cuda_conv2d"));
  return ax_cuda_kstatus();
}

extern "C" ax_kstatus ax_cuda_conv2d_backward_input(ax_kt *gx, const ax_kt *gy, const ax_kt *w, const ax_conv_params *p) {
  AX_CUDA_ENTRY;
#ifdef AXON_HAVE_CUDNN
  if (use_cudnn() && p->n && p->c && p->o) {
    ax_cuda_cudnn_conv2d_backward_input(gx, gy, w, p);
    return ax_cuda_kstatus();
  }
#else
  use_cudnn();
#endif
  ConvArgs a = {w->data, gy->data, nullptr, gx->data, *p};
  int64_t n = p->n * p->h * p->w, r = p->o / p->groups * p->kh * p->kw;
  if (!fits_int("ax_cuda_conv2d_backward_input", n) || !fits_int("ax_cuda_conv2d_backward_input", r)) return ax_cuda_kstatus();
  a.m = (int)(p->c / p->groups), a.n = (int)n, a.r = (int)r;
  AX_CUDA_DISPATCH_FLOAT(gx->dtype, "ax_cuda_conv2d_backward_input",
                         launch<scalar_t, BACKWARD_INPUT>(a, "ax_cuda_conv2d_backward_input"));
  return ax_cuda_kstatus();
}

extern "C" ax_kstatus ax_cuda_conv2d_backward_weight(ax_kt *gw, const ax_kt *gy, const ax_kt *x, const ax_conv_params *p) {
  AX_CUDA_ENTRY;
#ifdef AXON_HAVE_CUDNN
  if (use_cudnn() && p->n && p->c && p->o) {
    ax_cuda_cudnn_conv2d_backward_weight(gw, gy, x, p);
    return ax_cuda_kstatus();
  }
#else
  use_cudnn();
#endif
  ConvArgs a = {gy->data, x->data, nullptr, gw->data, *p};
  int64_t n = p->c / p->groups * p->kh * p->kw, r = p->n * p->oh * p->ow;
  if (!fits_int("ax_cuda_conv2d_backward_weight", n) || !fits_int("ax_cuda_conv2d_backward_weight", r)) return ax_cuda_kstatus();
  a.m = (int)(p->o / p->groups), a.n = (int)n, a.r = (int)r;
  AX_CUDA_DISPATCH_FLOAT(gw->dtype, "ax_cuda_conv2d_backward_weight",
                         launch<scalar_t, BACKWARD_WEIGHT>(a, "ax_cuda_conv2d_backward_weight"));
  return ax_cuda_kstatus();
}
