/* SPDX-License-Identifier: BSD-3-Clause */
/* 2-D max and average pooling on contiguous NCHW planes, the windows exactly as
 * kernels/cpu/pool.c draws them (PyTorch's rules). Forward: one thread per
 * output. Backward: one thread per input position, gathering from the outputs
 * whose windows cover it (for max pooling, those whose index points at it), so
 * the sums are deterministic and need no atomics (bf16/f16 included). Every
 * type accumulates in float (double for f64). `indices` may be NULL. */
#include "kernels/cuda/common.cuh"

namespace {

const int kThreads = 256;

__device__ __forceinline__ int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
__device__ __forceinline__ int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* The average window of output o along one dim: [*s, *e) in bounds; *len is its size clipped only
 * at the padded border (the count_include_pad divisor). */
__device__ __forceinline__ void avg_window(const ax_pool_params &p, int64_t o, bool is_h, int64_t *s, int64_t *e,
                                           int64_t *len) {
  int64_t in = is_h ? p.h : p.w, out = is_h ? p.oh : p.ow;
  if (p.adaptive) {
    *s = o * in / out;
    *e = ((o + 1) * in + out - 1) / out;
    *len = *e - *s;
    return;
  }
  int64_t k = is_h ? p.kh : p.kw, st = is_h ? p.sh : p.sw, pad = is_h ? p.ph : p.pw;
  int64_t a = o * st - pad, b = min64(a + k, in + pad);
  *len = b - a;
  *s = max64(a, 0);
  *e = min64(b, in);
}

__device__ __forceinline__ int64_t avg_divisor(const ax_pool_params &p, int64_t h0, int64_t h1, int64_t lh, int64_t w0,
                                               int64_t w1, int64_t lw) {
  return p.count_include_pad && !p.adaptive ? lh * lw : (h1 - h0) * (w1 - w0);
}

/* Outputs along one dim whose window may cover input position i: [*lo, *hi). */
__device__ __forceinline__ void covering(const ax_pool_params &p, int64_t i, bool is_h, int64_t *lo, int64_t *hi) {
  int64_t in = is_h ? p.h : p.w, out = is_h ? p.oh : p.ow;
  if (p.adaptive) {
    *lo = i * out / in;
    *hi = ((i + 1) * out + in - 1) / in;
  } else {
    int64_t k = is_h ? p.kh : p.kw, st = is_h ? p.sh : p.sw, pad = is_h ? p.ph : p.pw, d = is_h ? p.dh : p.dw;
    int64_t first = i + pad - (k - 1) * d; /* window start of the earliest output that reaches i */
    *lo = first <= 0 ? 0 : (first + st - 1) / st;
    *hi = (i + pad) / st + 1;
  }
  *lo = max64(*lo, 0);
  *hi = min64(*hi, out);
}

template <typename T>
__global__ void max_fwd(T *y, int64_t *ind, const T *x, ax_pool_params p, int64_t total) {
  typedef typename ax_acc<T>::type acc;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t ow = i % p.ow, t = i / p.ow, oh = t % p.oh, pl = t / p.oh;
    const T *xp = x + pl * p.h * p.w;
    int64_t h0 = oh * p.sh - p.ph, w0 = ow * p.sw - p.pw;
    int64_t h1 = min64(h0 + (int64_t)(p.kh - 1) * p.dh + 1, p.h), w1 = min64(w0 + (int64_t)(p.kw - 1) * p.dw + 1, p.w);
    while (h0 < 0) h0 += p.dh;
    while (w0 < 0) w0 += p.dw;
    acc m = -INFINITY;
    int64_t mi = h0 * p.w + w0;
    for (int64_t ih = h0; ih < h1; ih += p.dh)
      for (int64_t iw = w0; iw < w1; iw += p.dw) {
        acc v = ax_acc_load(xp[ih * p.w + iw]);
        if (v > m || v != v) {
          m = v;
          mi = ih * p.w + iw;
        }
      }
    y[i] = ax_acc_store<T>(m);
    if (ind) ind[i] = mi;
  }
}

template <typename T>
__global__ void max_bwd(T *gx, const T *gy, const int64_t *ind, ax_pool_params p, int64_t total) {
  typedef typename ax_acc<T>::type acc;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t iw = i % p.w, t = i / p.w, ih = t % p.h, pl = t / p.h, here = ih * p.w + iw;
    int64_t oh0, oh1, ow0, ow1;
    covering(p, ih, true, &oh0, &oh1);
    covering(p, iw, false, &ow0, &ow1);
    const T *g = gy + pl * p.oh * p.ow;
    const int64_t *ip = ind + pl * p.oh * p.ow;
    acc s = 0;
    for (int64_t oh = oh0; oh < oh1; oh++)
      for (int64_t ow = ow0; ow < ow1; ow++)
        if (ip[oh * p.ow + ow] == here) s += ax_acc_load(g[oh * p.ow + ow]);
    gx[i] = ax_acc_store<T>(s);
  }
}

template <typename T>
__global__ void avg_fwd(T *y, const T *x, ax_pool_params p, int64_t total) {
  typedef typename ax_acc<T>::type acc;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t ow = i % p.ow, t = i / p.ow, oh = t % p.oh, pl = t / p.oh;
    const T *xp = x + pl * p.h * p.w;
    int64_t h0, h1, lh, w0, w1, lw;
    avg_window(p, oh, true, &h0, &h1, &lh);
    avg_window(p, ow, false, &w0, &w1, &lw);
    acc s = 0;
    for (int64_t ih = h0; ih < h1; ih++)
      for (int64_t iw = w0; iw < w1; iw++) s += ax_acc_load(xp[ih * p.w + iw]);
    acc v = h0 < h1 && w0 < w1 ? s / (acc)avg_divisor(p, h0, h1, lh, w0, w1, lw) : (acc)0;
    y[i] = ax_acc_store<T>(v);
  }
}

template <typename T>
__global__ void avg_bwd(T *gx, const T *gy, ax_pool_params p, int64_t total) {
  typedef typename ax_acc<T>::type acc;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t iw = i % p.w, t = i / p.w, ih = t % p.h, pl = t / p.h;
    int64_t oh0, oh1, ow0, ow1;
    covering(p, ih, true, &oh0, &oh1);
    covering(p, iw, false, &ow0, &ow1);
    const T *g = gy + pl * p.oh * p.ow;
    acc s = 0;
    for (int64_t oh = oh0; oh < oh1; oh++) {
      int64_t h0, h1, lh;
      avg_window(p, oh, true, &h0, &h1, &lh);
      if (ih < h0 || ih >= h1) continue;
      for (int64_t ow = ow0; ow < ow1; ow++) {
        int64_t w0, w1, lw;
        avg_window(p, ow, false, &w0, &w1, &lw);
        if (iw < w0 || iw >= w1) continue;
        acc v = ax_acc_load(g[oh * p.ow + ow]);
        s += v / (acc)avg_divisor(p, h0, h1, lh, w0, w1, lw);
      }
    }
    gx[i] = ax_acc_store<T>(s);
  }
}

int64_t out_numel(const ax_pool_params *p) { return p->n * p->c * p->oh * p->ow; }
int64_t in_numel(const ax_pool_params *p) { return p->n * p->c * p->h * p->w; }

}  // namespace

extern "C" ax_kstatus ax_cuda_max_pool2d(ax_kt *y, ax_kt *indices, const ax_kt *x, const ax_pool_params *p) {
  AX_CUDA_ENTRY;
  int64_t n = out_numel(p);
  if (n == 0) return ax_cuda_kstatus();
  int64_t *ind = indices ? (int64_t *)indices->data : nullptr;
  AX_CUDA_DISPATCH_FLOAT(x->dtype, "ax_cuda_max_pool2d", {
    ax_cuda_launch(max_fwd<scalar_t>, ax_cuda_blocks(n, kThreads), kThreads, 0, ax_cuda_stream(),
        (scalar_t *)y->data, ind, (const scalar_t *)x->data, *p, n);
    AX_CUDA_LAUNCH_CHECK("max_pool2d");
  })
  return ax_cuda_kstatus();
}

extern "C" ax_kstatus ax_cuda_max_pool2d_backward(ax_kt *gx, const ax_kt *gy, const ax_kt *indices, const ax_pool_params *p) {
  AX_CUDA_ENTRY;
  int64_t n = in_numel(p);
  if (n == 0) return ax_cuda_kstatus();
  AX_CUDA_DISPATCH_FLOAT(gx->dtype, "ax_cuda_max_pool2d_backward", {
    ax_cuda_launch(max_bwd<scalar_t>, ax_cuda_blocks(n, kThreads), kThreads, 0, ax_cuda_stream(),
        (scalar_t *)gx->data, (const scalar_t *)gy->data, (const int64_t *)indices->data, *p, n);
    AX_CUDA_LAUNCH_CHECK("max_pool2d_backward");
  })
  return ax_cuda_kstatus();
}

extern "C" ax_kstatus ax_cuda_avg_pool2d(ax_kt *y, const ax_kt *x, const ax_pool_params *p) {
  AX_CUDA_ENTRY;
  int64_t n = out_numel(p);
  if (n == 0) return ax_cuda_kstatus();
  AX_CUDA_DISPATCH_FLOAT(x->dtype, "ax_cuda_avg_pool2d", {
    ax_cuda_launch(avg_fwd<scalar_t>, ax_cuda_blocks(n, kThreads), kThreads, 0, ax_cuda_stream(),
        (scalar_t *)y->data, (const scalar_t *)x->data, *p, n);
    AX_CUDA_LAUNCH_CHECK("avg_pool2d");
  })
  return ax_cuda_kstatus();
}

extern "C" ax_kstatus ax_cuda_avg_pool2d_backward(ax_kt *gx, const ax_kt *gy, const ax_pool_params *p) {
  AX_CUDA_ENTRY;
  int64_t n = in_numel(p);
  if (n == 0) return ax_cuda_kstatus();
  AX_CUDA_DISPATCH_FLOAT(gx->dtype, "ax_cuda_avg_pool2d_backward", {
    ax_cuda_launch(avg_bwd<scalar_t>, ax_cuda_blocks(n, kThreads), kThreads, 0, ax_cuda_stream(),
        (scalar_t *)gx->data, (const scalar_t *)gy->data, *p, n);
    AX_CUDA_LAUNCH_CHECK("avg_pool2d_backward");
  })
  return ax_cuda_kstatus();
}
