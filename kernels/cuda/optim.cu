/* SPDX-License-Identifier: BSD-3-Clause */
/* The fused multi-tensor optimizer update (PyTorch's multi_tensor_apply idea):
 * one launch updates every parameter of a dtype. The tensor list (pointers,
 * sizes, and each tensor's first block) travels by value as the kernel's
 * argument (~17 KB: kernel parameters up to 32 KB need CUDA 12.1+ and sm_70+);
 * block b finds its (tensor, chunk) by a binary search of the block starts.
 * Lists longer than AX_OPTIM_LIST_CAP tensors take one launch per CAP tensors.
 *
 * Operands are contiguous (the op layer guarantees it). State is f64 for f64
 * parameters and f32 otherwise; arithmetic is in the state type, so bf16/f16
 * parameters are updated in f32 and rounded once (bf16 with stochastic_rounding:
 * stochastically, with the CPU kernel's Philox bits). The rule and its per-step
 * scalars come from kernels/optim_hp.h, shared with the CPU kernel. */
#include "kernels/cuda/common.cuh"
#include "kernels/optim_hp.h"

#define AX_OPTIM_LIST_CAP 320
#define AX_OPTIM_CHUNK 8192 /* elements per block */
#define AX_OPTIM_THREADS 256

struct optim_list {
  int n;
  int block_start[AX_OPTIM_LIST_CAP + 1]; /* block_start[n] = blocks in the launch */
  int64_t numel[AX_OPTIM_LIST_CAP];
  void *p[AX_OPTIM_LIST_CAP];
  const void *g[AX_OPTIM_LIST_CAP];
  void *s[3][AX_OPTIM_LIST_CAP];
  int index[AX_OPTIM_LIST_CAP]; /* position in the call's parameter list (the stochastic rounding stream) */
};

/* The scalars of ax_optim_hp in the arithmetic type S. */
template <typename S> struct optim_hp_t {
  S gs, wd, l1, lr, decay, mom, keep, take, nes_g, nes_buf, b1, b2, step_size, bc2_sqrt, eps, alpha;
  int kind, centered, has_momentum, sr;
  uint64_t sr_key, sr_step;
};

template <typename S> static optim_hp_t<S> hp_as(const ax_optim_hp &h) {
  optim_hp_t<S> r;
  r.gs = (S)h.gs, r.wd = (S)h.wd, r.l1 = (S)h.l1, r.lr = (S)h.lr, r.decay = (S)h.decay, r.mom = (S)h.mom;
  r.keep = (S)h.buf_keep, r.take = (S)h.buf_take, r.nes_g = (S)h.nes_g, r.nes_buf = (S)h.nes_buf;
  r.b1 = (S)h.b1, r.b2 = (S)h.b2, r.step_size = (S)h.step_size, r.bc2_sqrt = (S)h.bc2_sqrt, r.eps = (S)h.eps;
  r.alpha = (S)h.alpha;
  r.kind = h.kind, r.centered = h.centered, r.has_momentum = h.has_momentum;
  r.sr = h.sr, r.sr_key = h.sr_key, r.sr_step = h.sr_step;
  return r;
}

/* element loads and stores in the arithmetic type (double stays double) */
template <typename S, typename T> __device__ __forceinline__ S optim_load(T v) { return (S)ax_to_f(v); }
template <> __device__ __forceinline__ double optim_load<double, double>(double v) { return v; }
template <typename T, typename S> __device__ __forceinline__ T optim_store(S v) { return ax_from_f<T>((float)v); }
template <> __device__ __forceinline__ double optim_store<double, double>(double v) { return v; }

/* The rounding of an updated element: to nearest, or stochastic for bf16 parameters
 * when asked (element i of parameter j, bits as in kernels/optim_hp.h). */
template <typename T, typename S> struct optim_round {
  static __device__ __forceinline__ T store(S v, const optim_hp_t<S> &, int, int64_t) { return optim_store<T>(v); }
};
template <> struct optim_round<__nv_bfloat16, float> {
  static __device__ __forceinline__ __nv_bfloat16 store(float v, const optim_hp_t<float> &h, int j, int64_t i) {
    if (!h.sr) return optim_store<__nv_bfloat16>(v);
    ax_philox4 r = ax_philox4x32_10((uint64_t)i >> 2, ax_optim_sr_counter(h.sr_step, j), h.sr_key);
    uint32_t bits = (i & 3) == 0 ? r.v[0] : (i & 3) == 1 ? r.v[1] : (i & 3) == 2 ? r.v[2] : r.v[3];
    return __ushort_as_bfloat16(ax_f32_bits_to_bf16_sr(__float_as_uint(v), bits));
  }
};

/* One element i of one tensor; s0..s2 may be NULL where the configuration has no such state. */
template <typename S>
__device__ __forceinline__ S optim_element(const optim_hp_t<S> &h, S x, S g, S *s0, S *s1, S *s2, int64_t i) {
  S d = h.gs * g + h.wd * x + h.l1 * (S)((x > 0) - (x < 0));
  if (h.kind == AX_OPTIM_SGD) {
    if (s0) {
      S b = h.keep * s0[i] + h.take * d;
      s0[i] = b;
      d = h.nes_g * d + h.nes_buf * b;
    }
    return x - h.lr * d;
  }
  if (h.kind == AX_OPTIM_RMSPROP) {
    S a = h.alpha, sq = a * s0[i] + (1 - a) * d * d, var = sq;
    s0[i] = sq;
    if (h.centered) {
      S gm = a * s2[i] + (1 - a) * d;
      s2[i] = gm;
      var = sq - gm * gm;
    }
    S u = d / (sqrt(var) + h.eps);
    if (h.has_momentum) {
      u = h.mom * s1[i] + u;
      s1[i] = u;
    }
    return x - h.lr * u;
  }
  S m = h.b1 * s0[i] + (1 - h.b1) * d, v = h.b2 * s1[i] + (1 - h.b2) * d * d;
  s0[i] = m;
  s1[i] = v;
  return x * h.decay - h.step_size * m / (sqrt(v) / h.bc2_sqrt + h.eps);
}

template <typename T, typename S>
__global__ void optim_multi_tensor_kernel(const optim_list L, const optim_hp_t<S> h) {
  int b = (int)blockIdx.x, lo = 0, hi = L.n - 1;
  while (lo < hi) { /* the last tensor whose first block is <= b */
    int mid = (lo + hi + 1) >> 1;
    if (L.block_start[mid] <= b) lo = mid;
    else hi = mid - 1;
  }
  int64_t begin = (int64_t)(b - L.block_start[lo]) * AX_OPTIM_CHUNK;
  int64_t end = min(begin + (int64_t)AX_OPTIM_CHUNK, L.numel[lo]);
  T *p = (T *)L.p[lo];
  const T *g = (const T *)L.g[lo];
  S *s0 = (S *)L.s[0][lo], *s1 = (S *)L.s[1][lo], *s2 = (S *)L.s[2][lo];
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    S x = optim_load<S>(p[i]);
    p[i] = optim_round<T, S>::store(optim_element<S>(h, x, optim_load<S>(g[i]), s0, s1, s2, i), h, L.index[lo], i);
  }
}

/* Every parameter of dtype T among the n, in launches of up to AX_OPTIM_LIST_CAP tensors. */
template <typename T>
static void launch_dtype(const ax_optim_hp &hp, int dtype, int n, ax_kt *const *params, ax_kt *const *grads,
                         ax_kt *const *const states[3]) {
  typedef typename ax_acc<T>::type S;
  const optim_hp_t<S> h = hp_as<S>(hp);
  optim_list L;
  L.n = 0;
  L.block_start[0] = 0;
  for (int i = 0; i <= n; i++) {
    bool flush = i == n ? L.n > 0 : L.n == AX_OPTIM_LIST_CAP;
    if (flush) {
      ax_cuda_launch(optim_multi_tensor_kernel<T, S>, L.block_start[L.n], AX_OPTIM_THREADS, 0, ax_cuda_stream(), L, h);
      if (!AX_CUDA_LAUNCH_CHECK("optim_multi_tensor_kernel")) return;
      L.n = 0;
    }
    if (i == n || params[i]->dtype != dtype) continue;
    int64_t numel = 1;
    for (int d = 0; d < params[i]->ndim; d++) numel *= params[i]->shape[d];
    if (numel == 0) continue;
    int k = L.n++;
    L.numel[k] = numel;
    L.index[k] = i;
    L.p[k] = params[i]->data;
    L.g[k] = grads[i]->data;
    for (int s = 0; s < 3; s++) L.s[s][k] = states[s] && states[s][i] ? states[s][i]->data : NULL;
    L.block_start[k + 1] = L.block_start[k] + (int)((numel + AX_OPTIM_CHUNK - 1) / AX_OPTIM_CHUNK);
  }
}

extern "C" ax_kstatus ax_cuda_optim_step(const ax_optim_args *a, int n, ax_kt *const *params, ax_kt *const *grads,
                                   ax_kt *const *state0, ax_kt *const *state1, ax_kt *const *state2) {
  AX_CUDA_ENTRY;
  const ax_optim_hp hp = ax_optim_hp_make(a);
  ax_kt *const *const states[3] = {state0, state1, state2};
  bool seen[AX_NUM_DTYPES] = {false};
  for (int i = 0; i < n; i++) seen[params[i]->dtype] = true;
  for (int dt = 0; dt < AX_NUM_DTYPES; dt++) {
    if (!seen[dt]) continue;
    AX_CUDA_DISPATCH_FLOAT(dt, "ax_cuda_optim_step", launch_dtype<scalar_t>(hp, dt, n, params, grads, states));
  }
  return ax_cuda_kstatus();
}
