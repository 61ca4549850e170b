/* SPDX-License-Identifier: BSD-3-Clause */
/* Fused optimizer updates (PyTorch's torch.optim rules, see ax_optim_args).
 *
 * The op layer hands contiguous operands. Each tensor is one loop over its
 * elements, cut into OpenMP chunks when it is large. f32 and f64 parameters
 * run in their own precision (as PyTorch does); bf16/f16 parameters have f32
 * state and are updated through an f32 buffer of a block of elements, rounded
 * to nearest or (bf16 with stochastic_rounding) stochastically. The
 * per-step scalars come from kernels/optim_hp.h, shared with the CUDA kernel. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "kernels/cpu/iter.h"
#include "kernels/optim_hp.h"

/* Loops for one element type T (states are T too). The gradient term reads p
 * before the update; sign(0) = 0. */
#define AX_OPTIM_LOOPS(T, SQRT, sfx)                                                                           \
  static void sgd_##sfx(const ax_optim_hp *h, int64_t n, T *restrict p, const T *restrict g, T *restrict buf) {  \
    const T gs = (T)h->gs, wd = (T)h->wd, l1 = (T)h->l1, lr = (T)h->lr;                                       \
    const T keep = (T)h->buf_keep, take = (T)h->buf_take, ng = (T)h->nes_g, nb = (T)h->nes_buf;                \
    if (!buf) {                                                                                                \
      for (int64_t i = 0; i < n; i++) {                                                                        \
        T x = p[i];                                                                                            \
        p[i] = x - lr * (gs * g[i] + wd * x + l1 * (T)((x > 0) - (x < 0)));                                    \
      }                                                                                                        \
      return;                                                                                                  \
    }                                                                                                          \
    for (int64_t i = 0; i < n; i++) {                                                                          \
      T x = p[i], d = gs * g[i] + wd * x + l1 * (T)((x > 0) - (x < 0));                                        \
      T b = keep * buf[i] + take * d;                                                                          \
      buf[i] = b;                                                                                              \
      p[i] = x - lr * (ng * d + nb * b);                                                                       \
    }                                                                                                          \
  }                                                                                                            \
  static void adam_##sfx(const ax_optim_hp *h, int64_t n, T *restrict p, const T *restrict g, T *restrict m,     \
                         T *restrict v) {                                                                      \
    const T gs = (T)h->gs, wd = (T)h->wd, l1 = (T)h->l1, decay = (T)h->decay, b1 = (T)h->b1, b2 = (T)h->b2;    \
    const T step_size = (T)h->step_size, bc2_sqrt = (T)h->bc2_sqrt, eps = (T)h->eps;                           \
    for (int64_t i = 0; i < n; i++) {                                                                          \
      T x = p[i], d = gs * g[i] + wd * x + l1 * (T)((x > 0) - (x < 0));                                        \
      T mi = b1 * m[i] + (1 - b1) * d, vi = b2 * v[i] + (1 - b2) * d * d;                                      \
      m[i] = mi;                                                                                               \
      v[i] = vi;                                                                                               \
      p[i] = x * decay - step_size * mi / (SQRT(vi) / bc2_sqrt + eps);                                         \
    }                                                                                                          \
  }                                                                                                            \
  static void rmsprop_##sfx(const ax_optim_hp *h, int64_t n, T *restrict p, const T *restrict g, T *restrict sq,  \
                            T *restrict buf, T *restrict ga) {                                                 \
    const T gs = (T)h->gs, wd = (T)h->wd, l1 = (T)h->l1, lr = (T)h->lr, a = (T)h->alpha, eps = (T)h->eps,      \
            mom = (T)h->mom;                                                                                   \
    for (int64_t i = 0; i < n; i++) {                                                                          \
      T x = p[i], d = gs * g[i] + wd * x + l1 * (T)((x > 0) - (x < 0));                                        \
      T s = a * sq[i] + (1 - a) * d * d, var = s;                                                              \
      sq[i] = s;                                                                                               \
      if (ga) {                                                                                                \
        T gm = a * ga[i] + (1 - a) * d;                                                                        \
        ga[i] = gm;                                                                                            \
        var = s - gm * gm;                                                                                     \
      }                                                                                                        \
      T step = d / (SQRT(var) + eps);                                                                          \
      if (buf) {                                                                                               \
        step = mom * buf[i] + step;                                                                            \
        buf[i] = step;                                                                                         \
      }                                                                                                        \
      p[i] = x - lr * step;                                                                                    \
    }                                                                                                          \
  }                                                                                                            \
  /* elements [b, e) of one tensor */                                                                          \
  static void range_##sfx(const ax_optim_hp *h, int64_t b, int64_t e, void *p, const void *g, void *s0, void *s1, \
                          void *s2) {                                                                          \
    T *P = (T *)p + b, *S0 = s0 ? (T *)s0 + b : NULL, *S1 = s1 ? (T *)s1 + b : NULL;                           \
    T *S2 = s2 ? (T *)s2 + b : NULL;                                                                           \
    const T *G = (const T *)g + b;                                                                             \
    if (h->kind == AX_OPTIM_SGD) sgd_##sfx(h, e - b, P, G, h->has_momentum ? S0 : NULL);                       \
    else if (h->kind == AX_OPTIM_RMSPROP)                                                                      \
      rmsprop_##sfx(h, e - b, P, G, S0, h->has_momentum ? S1 : NULL, h->centered ? S2 : NULL);                 \
    else adam_##sfx(h, e - b, P, G, S0, S1);                                                                   \
  }

AX_OPTIM_LOOPS(float, sqrtf, f32)
AX_OPTIM_LOOPS(double, sqrt, f64)

/* Elements [i, i + m) of bf16 parameter `param` from f32 values, rounded stochastically. */
static void store_bf16_sr(const ax_optim_hp *h, int param, int64_t i, int64_t m, const float *v, uint16_t *dst) {
  uint64_t hi = ax_optim_sr_counter(h->sr_step, param);
  ax_philox4 r = ax_philox4x32_10((uint64_t)i >> 2, hi, h->sr_key);
  for (int64_t j = 0; j < m; j++) {
    int64_t e = i + j;
    if (j > 0 && (e & 3) == 0) r = ax_philox4x32_10((uint64_t)e >> 2, hi, h->sr_key);
    uint32_t u;
    memcpy(&u, &v[j], 4);
    dst[e] = ax_f32_bits_to_bf16_sr(u, r.v[e & 3]);
  }
}

/* bf16/f16 parameters: f32 state; the parameter and gradient go through f32 buffers. */
static void range_half(const ax_optim_hp *h, int dtype, int param, int64_t b, int64_t e, void *p, const void *g,
                       void *s0, void *s1, void *s2) {
  enum { BLOCK = 256 };
  float pb[BLOCK], gb[BLOCK];
  size_t es = ax_iter_elem_size(dtype);
  for (int64_t i = b; i < e; i += BLOCK) {
    int64_t m = e - i < BLOCK ? e - i : BLOCK;
    for (int64_t j = 0; j < m; j++) {
      pb[j] = (float)ax_cpu_load((char *)p + (i + j) * es, dtype);
      gb[j] = (float)ax_cpu_load((const char *)g + (i + j) * es, dtype);
    }
    /* the f32 loop on the buffers, with the state pointers moved to element i */
    range_f32(h, 0, m, pb, gb, s0 ? (float *)s0 + i : NULL, s1 ? (float *)s1 + i : NULL, s2 ? (float *)s2 + i : NULL);
    if (h->sr && dtype == AX_BF16)
      store_bf16_sr(h, param, i, m, pb, p);
    else
      for (int64_t j = 0; j < m; j++) ax_cpu_store((char *)p + (i + j) * es, dtype, pb[j]);
  }
}

static void update_range(const ax_optim_hp *h, int param, const ax_kt *p, const ax_kt *g, const ax_kt *s0,
                         const ax_kt *s1, const ax_kt *s2, int64_t b, int64_t e) {
  void *d0 = s0 ? s0->data : NULL, *d1 = s1 ? s1->data : NULL, *d2 = s2 ? s2->data : NULL;
  switch (p->dtype) {
    case AX_F32: range_f32(h, b, e, p->data, g->data, d0, d1, d2); break;
    case AX_F64: range_f64(h, b, e, p->data, g->data, d0, d1, d2); break;
    default: range_half(h, p->dtype, param, b, e, p->data, g->data, d0, d1, d2); break;
  }
}

ax_kstatus ax_cpu_optim_step(const ax_optim_args *a, int n, ax_kt *const *params, ax_kt *const *grads,
                       ax_kt *const *state0, ax_kt *const *state1, ax_kt *const *state2) {
  ax_optim_hp h = ax_optim_hp_make(a);
  for (int i = 0; i < n; i++) {
    const ax_kt *p = params[i], *g = grads[i];
    const ax_kt *s0 = state0 ? state0[i] : NULL, *s1 = state1 ? state1[i] : NULL, *s2 = state2 ? state2[i] : NULL;
    int64_t numel = 1;
    for (int d = 0; d < p->ndim; d++) numel *= p->shape[d];
    if (numel < AX_CPU_PARALLEL_MIN || omp_get_max_threads() == 1 || omp_in_parallel()) {
      update_range(&h, i, p, g, s0, s1, s2, 0, numel);
      continue;
    }
#pragma omp parallel
    {
      int nt = omp_get_num_threads(), t = omp_get_thread_num();
      int64_t chunk = ((numel + nt - 1) / nt + 15) & ~(int64_t)15; /* vector-aligned chunk starts */
      int64_t b = (int64_t)t * chunk, e = b + chunk < numel ? b + chunk : numel;
      if (b < e) update_range(&h, i, p, g, s0, s1, s2, b, e);
    }
  }
  return AX_K_OK;
}
