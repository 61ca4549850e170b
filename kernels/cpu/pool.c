/* SPDX-License-Identifier: BSD-3-Clause */
/* 2-D max and average pooling over contiguous NCHW planes.
 *
 * Windows follow PyTorch exactly: max pooling skips out-of-bounds taps (as if
 * padded with -inf), keeps the first maximum and lets NaN win; average pooling
 * clips a window at the padded border for count_include_pad and at the input
 * for the in-bounds count; adaptive windows are [floor(i*h/oh), ceil((i+1)*h/oh)).
 * Forward kernels are parallel over output rows; backward kernels scatter into
 * gx and are parallel over planes, since windows of one plane may overlap.
 * The element type is a macro parameter: f32 and f64 get native loops, bf16
 * and f16 are computed in f32 through the conversion helpers. `indices` may be
 * NULL when nothing needs them (inference). */
#include <math.h>
#include <string.h>

#include "kernels/cpu/iter.h"
#include "kernels/half.h"

#define LOAD_ID(v) (v)
#define STORE_F32(v) ((float)(v))
#define STORE_F64(v) ((double)(v))
#define LOAD_BF16(v) ax_bf16_to_f32(v)
#define STORE_BF16(v) ax_f32_to_bf16(v)
#define LOAD_F16(v) ax_f16_to_f32(v)
#define STORE_F16(v) ax_f32_to_f16(v)

/* The bits of an element, for exact equality tests that treat NaN like any value. */
static inline uint32_t ax_pool_bits_f32(const float *v) { uint32_t u; memcpy(&u, v, 4); return u; }
static inline uint64_t ax_pool_bits_f64(const double *v) { uint64_t u; memcpy(&u, v, 8); return u; }
static inline uint16_t ax_pool_bits_bf16(const uint16_t *v) { return *v; }
static inline uint16_t ax_pool_bits_f16(const uint16_t *v) { return *v; }

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* Output rows (plane, oh) for the forward kernels; worth threads when the work is large. */
static bool big(const ax_pool_params *p) {
  return p->n * p->c * p->h * p->w >= AX_CPU_PARALLEL_MIN && !omp_in_parallel();
}

/* The average window of output o along one dim: [*s, *e) in bounds, *len its size clipped
 * only at the padded border (the count_include_pad divisor). */
static inline void avg_window(const ax_pool_params *p, int64_t o, bool is_h, int64_t *s, int64_t *e, int64_t *len) {
  int64_t in = is_h ? p->h : p->w, out = is_h ? p->oh : p->ow;
  if (p->adaptive) {
    *s = o * in / out;
    *e = ((o + 1) * in + out - 1) / out;
    *len = *e - *s;
    return;
  }
  int64_t k = is_h ? p->kh : p->kw, st = is_h ? p->sh : p->sw, pad = is_h ? p->ph : p->pw;
  int64_t a = o * st - pad, b = min64(a + k, in + pad);
  *len = b - a;
  *s = max64(a, 0);
  *e = min64(b, in);
}

static inline int64_t avg_divisor(const ax_pool_params *p, int64_t h0, int64_t h1, int64_t lh, int64_t w0, int64_t w1,
                                  int64_t lw) {
  return p->count_include_pad && !p->adaptive ? lh * lw : (h1 - h0) * (w1 - w0);
}

#define POOL_KERNELS(T, ACC, UINT, LOAD, STORE, SFX)                                                               \
  static void max_fwd_##SFX(T *y, int64_t *ind, const T *x, const ax_pool_params *p) {                              \
    int64_t H = p->h, W = p->w, rows = p->n * p->c * p->oh;                                                         \
    _Pragma("omp parallel for schedule(static) if (big(p))")                                                        \
    for (int64_t r = 0; r < rows; r++) {                                                                            \
      int64_t oh = r % p->oh;                                                                                       \
      const T *xp = x + (r / p->oh) * H * W;                                                                        \
      T *yr = y + r * p->ow;                                                                                        \
      int64_t *ir = ind ? ind + r * p->ow : NULL;                                                                   \
      int64_t h0 = oh * p->sh - p->ph, h1 = min64(h0 + (int64_t)(p->kh - 1) * p->dh + 1, H);                        \
      while (h0 < 0) h0 += p->dh;                                                                                   \
      if (p->kh == 2 && p->kw == 2 && p->sw == 2 && p->pw == 0 && p->dh == 1 && p->dw == 1 && h1 - h0 == 2 &&     \
          2 * p->ow <= W) {                                                                                         \
        /* the CNN's 2x2 stride-2 window: both rows in bounds, no column clipping */                                \
        const T *a = xp + h0 * W, *b = a + W;                                                                       \
        /* selects, not branches: each comparison is a coin flip on real activations */                           \
        for (int64_t ow = 0; ow < p->ow; ow++) {                                                                    \
          ACC v0 = LOAD(a[2 * ow]), v1 = LOAD(a[2 * ow + 1]), v2 = LOAD(b[2 * ow]), v3 = LOAD(b[2 * ow + 1]);       \
          ACC m = (v1 > v0) | (v1 != v1) ? v1 : v0;                                                                 \
          m = (v2 > m) | (v2 != v2) ? v2 : m;                                                                       \
          yr[ow] = STORE((v3 > m) | (v3 != v3) ? v3 : m);                                                           \
        }                                                                                                           \
        /* the index: the first element with the maximum's bits, which is the one the scan kept (for a NaN   \
         * maximum, the first NaN of that payload rather than the last); integer arithmetic, no branches */        \
        for (int64_t ow = 0; ir && ow < p->ow; ow++) {                                                              \
          UINT u0 = ax_pool_bits_##SFX(a + 2 * ow), u1 = ax_pool_bits_##SFX(a + 2 * ow + 1);                        \
          UINT u2 = ax_pool_bits_##SFX(b + 2 * ow), um = ax_pool_bits_##SFX(yr + ow);                               \
          int64_t e0 = u0 == um, e1 = u1 == um, e2 = u2 == um;                                                      \
          int64_t mi = (1 - e0) * (e1 + (1 - e1) * (W + 1 - e2));                                                   \
          ir[ow] = h0 * W + 2 * ow + mi;                                                                            \
        }                                                                                                           \
        continue;                                                                                                   \
      }                                                                                                             \
      for (int64_t ow = 0; ow < p->ow; ow++) {                                                                      \
        int64_t w0 = ow * p->sw - p->pw, w1 = min64(w0 + (int64_t)(p->kw - 1) * p->dw + 1, W);                      \
        while (w0 < 0) w0 += p->dw;                                                                                 \
        ACC m = -INFINITY;                                                                                          \
        int64_t mi = h0 * W + w0;                                                                                   \
        for (int64_t ih = h0; ih < h1; ih += p->dh)                                                                 \
          for (int64_t iw = w0; iw < w1; iw += p->dw) {                                                             \
            ACC v = LOAD(xp[ih * W + iw]);                                                                          \
            if (v > m || v != v) {                                                                                  \
              m = v;                                                                                                \
              mi = ih * W + iw;                                                                                     \
            }                                                                                                       \
          }                                                                                                         \
        yr[ow] = STORE(m);                                                                                          \
        if (ir) ir[ow] = mi;                                                                                        \
      }                                                                                                             \
    }                                                                                                               \
  }                                                                                                                 \
                                                                                                                    \
  static void max_bwd_##SFX(T *gx, const T *gy, const int64_t *ind, const ax_pool_params *p) {                      \
    int64_t hw = p->h * p->w, ohw = p->oh * p->ow, planes = p->n * p->c;                                            \
    _Pragma("omp parallel for schedule(static) if (big(p))")                                                        \
    for (int64_t pl = 0; pl < planes; pl++) {                                                                       \
      T *g = gx + pl * hw;                                                                                          \
      const T *gyp = gy + pl * ohw;                                                                                 \
      const int64_t *ip = ind + pl * ohw;                                                                           \
      memset(g, 0, (size_t)hw * sizeof(T));                                                                         \
      for (int64_t o = 0; o < ohw; o++) {                                                                           \
        int64_t i = ip[o];                                                                                          \
        if (i >= 0 && i < hw) g[i] = STORE(LOAD(g[i]) + LOAD(gyp[o]));                                              \
      }                                                                                                             \
    }                                                                                                               \
  }                                                                                                                 \
                                                                                                                    \
  static void avg_fwd_##SFX(T *y, const T *x, const ax_pool_params *p) {                                            \
    int64_t H = p->h, W = p->w, rows = p->n * p->c * p->oh;                                                         \
    _Pragma("omp parallel for schedule(static) if (big(p))")                                                        \
    for (int64_t r = 0; r < rows; r++) {                                                                            \
      const T *xp = x + (r / p->oh) * H * W;                                                                        \
      T *yr = y + r * p->ow;                                                                                        \
      int64_t h0, h1, lh;                                                                                           \
      avg_window(p, r % p->oh, true, &h0, &h1, &lh);                                                                \
      for (int64_t ow = 0; ow < p->ow; ow++) {                                                                      \
        int64_t w0, w1, lw;                                                                                         \
        avg_window(p, ow, false, &w0, &w1, &lw);                                                                    \
        if (h0 >= h1 || w0 >= w1) {                                                                                 \
          yr[ow] = STORE(0);                                                                                        \
          continue;                                                                                                 \
        }                                                                                                           \
        ACC s = 0;                                                                                                  \
        for (int64_t ih = h0; ih < h1; ih++)                                                                        \
          for (int64_t iw = w0; iw < w1; iw++) s += LOAD(xp[ih * W + iw]);                                          \
        yr[ow] = STORE(s / (ACC)avg_divisor(p, h0, h1, lh, w0, w1, lw));                                            \
      }                                                                                                             \
    }                                                                                                               \
  }                                                                                                                 \
                                                                                                                    \
  static void avg_bwd_##SFX(T *gx, const T *gy, const ax_pool_params *p) {                                          \
    int64_t H = p->h, W = p->w, planes = p->n * p->c;                                                               \
    _Pragma("omp parallel for schedule(static) if (big(p))")                                                        \
    for (int64_t pl = 0; pl < planes; pl++) {                                                                       \
      T *g = gx + pl * H * W;                                                                                       \
      const T *gyp = gy + pl * p->oh * p->ow;                                                                       \
      memset(g, 0, (size_t)(H * W) * sizeof(T));                                                                    \
      for (int64_t oh = 0; oh < p->oh; oh++) {                                                                      \
        int64_t h0, h1, lh;                                                                                         \
        avg_window(p, oh, true, &h0, &h1, &lh);                                                                     \
        for (int64_t ow = 0; ow < p->ow; ow++) {                                                                    \
          int64_t w0, w1, lw;                                                                                       \
          avg_window(p, ow, false, &w0, &w1, &lw);                                                                  \
          if (h0 >= h1 || w0 >= w1) continue;                                                                       \
          ACC v = LOAD(gyp[oh * p->ow + ow]) / (ACC)avg_divisor(p, h0, h1, lh, w0, w1, lw);                         \
          for (int64_t ih = h0; ih < h1; ih++)                                                                      \
            for (int64_t iw = w0; iw < w1; iw++) g[ih * W + iw] = STORE(LOAD(g[ih * W + iw]) + v);                  \
        }                                                                                                           \
      }                                                                                                             \
    }                                                                                                               \
  }

POOL_KERNELS(float, float, uint32_t, LOAD_ID, STORE_F32, f32)
POOL_KERNELS(double, double, uint64_t, LOAD_ID, STORE_F64, f64)
POOL_KERNELS(uint16_t, float, uint16_t, LOAD_BF16, STORE_BF16, bf16)
POOL_KERNELS(uint16_t, float, uint16_t, LOAD_F16, STORE_F16, f16)

/* Calls NAME_<dtype>(args...) for a floating dtype. */
#define DISPATCH(dtype, NAME, ...)                 \
  switch (dtype) {                                 \
    case AX_F32: NAME##_f32(__VA_ARGS__); break;   \
    case AX_F64: NAME##_f64(__VA_ARGS__); break;   \
    case AX_BF16: NAME##_bf16(__VA_ARGS__); break; \
    case AX_F16: NAME##_f16(__VA_ARGS__); break;   \
  }

ax_kstatus ax_cpu_max_pool2d(ax_kt *y, ax_kt *indices, const ax_kt *x, const ax_pool_params *p) {
  int64_t *ind = indices ? indices->data : NULL;
  DISPATCH(x->dtype, max_fwd, y->data, ind, x->data, p)
  return AX_K_OK;
}

ax_kstatus ax_cpu_max_pool2d_backward(ax_kt *gx, const ax_kt *gy, const ax_kt *indices, const ax_pool_params *p) {
  DISPATCH(gx->dtype, max_bwd, gx->data, gy->data, indices->data, p)
  return AX_K_OK;
}

ax_kstatus ax_cpu_avg_pool2d(ax_kt *y, const ax_kt *x, const ax_pool_params *p) {
  DISPATCH(x->dtype, avg_fwd, y->data, x->data, p)
  return AX_K_OK;
}

ax_kstatus ax_cpu_avg_pool2d_backward(ax_kt *gx, const ax_kt *gy, const ax_pool_params *p) {
  DISPATCH(gx->dtype, avg_bwd, gx->data, gy->data, p)
  return AX_K_OK;
}
