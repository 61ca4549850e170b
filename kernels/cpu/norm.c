/* SPDX-License-Identifier: BSD-3-Clause */
/* Batch norm over contiguous x viewed as [n, c, s] (s = product of the dims after C).
 *
 * Every pass reads memory once: statistics are sums of (x - k) and (x - k)^2 in
 * double, shifted by the channel's first element k so that the one-pass
 * variance does not cancel when |mean| >> std; the backward is two passes (per
 * channel sum(gy) and sum(gy * (x - mean)), then gx = a*gy + b*x + c). The
 * reductions run over rows (n, c) split into one block per thread; each thread
 * sums into private per-channel partials, added in thread order, so results are
 * deterministic for a given thread count. Per-channel vectors ([c] mean, invstd,
 * weight, bias) are read and written through ax_cpu_load/store (any stride). */
#include <math.h>
#include <stdlib.h>

#include "kernels/cpu/iter.h"
#include "kernels/half.h"

#define LOAD_ID(v) (v)
#define LOAD_BF16(v) ax_bf16_to_f32(v)
#define STORE_BF16(v) ax_f32_to_bf16(v)
#define LOAD_F16(v) ax_f16_to_f32(v)
#define STORE_F16(v) ax_f32_to_f16(v)
#define STORE_CAST_F32(v) ((float)(v))
#define STORE_CAST_F64(v) ((double)(v))

/* Independent accumulators so the compiler can vectorize a reduction without reassociating. */
#define LANES 8

typedef struct bn_shape { int64_t n, c, s; } bn_shape;

static bn_shape shape_of(const ax_kt *x) {
  bn_shape r = {x->shape[0], x->shape[1], 1};
  for (int d = 2; d < x->ndim; d++) r.s *= x->shape[d];
  return r;
}

static int threads_for(int64_t numel) {
  return numel >= AX_CPU_PARALLEL_MIN && !omp_in_parallel() ? omp_get_max_threads() : 1;
}

/* s[0] += sum(a - ka), s[1] += sum((a - ka) * (b - kb)) over one row of n elements. */
#define ROW_SUMS(T, LOAD, SFX)                                                                               \
  static void row_sums_##SFX(const void *va, const void *vb, int64_t n, double ka, double kb, double *s) {   \
    const T *a = va, *b = vb;                                                                               \
    double s1[LANES] = {0}, s2[LANES] = {0};                                                                \
    int64_t i = 0;                                                                                          \
    for (; i + LANES <= n; i += LANES)                                                                      \
      for (int j = 0; j < LANES; j++) {                                                                     \
        double da = (double)LOAD(a[i + j]) - ka;                                                            \
        s1[j] += da;                                                                                        \
        s2[j] += da * ((double)LOAD(b[i + j]) - kb);                                                        \
      }                                                                                                     \
    for (; i < n; i++) {                                                                                    \
      double da = (double)LOAD(a[i]) - ka;                                                                  \
      s1[0] += da;                                                                                          \
      s2[0] += da * ((double)LOAD(b[i]) - kb);                                                              \
    }                                                                                                       \
    for (int j = 0; j < LANES; j++) {                                                                       \
      s[0] += s1[j];                                                                                        \
      s[1] += s2[j];                                                                                        \
    }                                                                                                       \
  }

/* y = x * scale[c] + shift[c] on each row; gx uses the same loop with gy and x. */
#define ROW_AFFINE(T, ACC, LOAD, STORE, SFX)                                                                 \
  static void row_affine_##SFX(void *vy, const void *vx, int64_t n, double scale, double shift) {          \
    T *y = vy;                                                                                              \
    const T *x = vx;                                                                                        \
    ACC a = (ACC)scale, b = (ACC)shift;                                                                     \
    for (int64_t i = 0; i < n; i++) y[i] = STORE(LOAD(x[i]) * a + b);                                       \
  }                                                                                                         \
  static void row_grad_##SFX(void *vgx, const void *vgy, const void *vx, int64_t n, double ka, double kb,  \
                             double kc) {                                                                   \
    T *gx = vgx;                                                                                            \
    const T *gy = vgy, *x = vx;                                                                             \
    ACC a = (ACC)ka, b = (ACC)kb, c = (ACC)kc;                                                              \
    for (int64_t i = 0; i < n; i++) gx[i] = STORE(LOAD(gy[i]) * a + LOAD(x[i]) * b + c);                    \
  }

ROW_SUMS(float, LOAD_ID, f32)
ROW_SUMS(double, LOAD_ID, f64)
ROW_SUMS(uint16_t, LOAD_BF16, bf16)
ROW_SUMS(uint16_t, LOAD_F16, f16)
ROW_AFFINE(float, float, LOAD_ID, STORE_CAST_F32, f32)
ROW_AFFINE(double, double, LOAD_ID, STORE_CAST_F64, f64)
ROW_AFFINE(uint16_t, float, LOAD_BF16, STORE_BF16, bf16)
ROW_AFFINE(uint16_t, float, LOAD_F16, STORE_F16, f16)

typedef void (*row_sums_fn)(const void *a, const void *b, int64_t n, double ka, double kb, double *s);
typedef void (*row_affine_fn)(void *y, const void *x, int64_t n, double scale, double shift);
typedef void (*row_grad_fn)(void *gx, const void *gy, const void *x, int64_t n, double ka, double kb, double kc);

static row_sums_fn sums_for(int dt) {
  switch (dt) {
    case AX_F64: return row_sums_f64;
    case AX_BF16: return row_sums_bf16;
    case AX_F16: return row_sums_f16;
    default: return row_sums_f32;
  }
}
static row_affine_fn affine_for(int dt) {
  switch (dt) {
    case AX_F64: return row_affine_f64;
    case AX_BF16: return row_affine_bf16;
    case AX_F16: return row_affine_f16;
    default: return row_affine_f32;
  }
}
static row_grad_fn grad_for(int dt) {
  switch (dt) {
    case AX_F64: return row_grad_f64;
    case AX_BF16: return row_grad_bf16;
    case AX_F16: return row_grad_f16;
    default: return row_grad_f32;
  }
}

/* Element i of a [c] view, as a double (1 / 0 stand in for a missing weight / bias). */
static double vec_at(const ax_kt *v, int64_t i, double missing) {
  if (!v) return missing;
  size_t es = ax_iter_elem_size(v->dtype);
  return ax_cpu_load((const char *)v->data + i * v->strides[0] * (int64_t)es, v->dtype);
}
static void vec_set(ax_kt *v, int64_t i, double value) {
  size_t es = ax_iter_elem_size(v->dtype);
  ax_cpu_store((char *)v->data + i * v->strides[0] * (int64_t)es, v->dtype, value);
}

/* out[c][0..1] = per-channel sums of row_sums over rows (n, c), with a shifted by ka[c]
 * and b by kb[c]. */
static bool channel_sums(int dt, const void *a, const void *b, bn_shape sh, const double *ka, const double *kb,
                         double *out) {
  row_sums_fn f = sums_for(dt);
  size_t es = ax_iter_elem_size(dt);
  int64_t rows = sh.n * sh.c;
  int nt = threads_for(rows * sh.s);
  if (nt > rows) nt = (int)rows;
  if (nt < 1) nt = 1;
  double *part = calloc((size_t)nt * (size_t)sh.c * 2, sizeof(double));
  if (!part) return false;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    int t = omp_get_thread_num();
    double *mine = part + (size_t)t * (size_t)sh.c * 2;
    int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    for (int64_t r = r0; r < r1; r++) {
      int64_t c = r % sh.c;
      f((const char *)a + r * sh.s * (int64_t)es, (const char *)b + r * sh.s * (int64_t)es, sh.s, ka[c], kb[c],
        mine + 2 * c);
    }
  }
  for (int64_t c = 0; c < sh.c * 2; c++) out[c] = 0;
  for (int t = 0; t < nt; t++)
    for (int64_t c = 0; c < sh.c * 2; c++) out[c] += part[(size_t)t * (size_t)sh.c * 2 + (size_t)c];
  free(part);
  return true;
}

static ax_kstatus out_of_memory(const char *what, int64_t channels) {
  return ax_cpu_fail(AX_K_NOMEM, "out of memory for the %s of %lld channels", what, (long long)channels);
}

ax_kstatus ax_cpu_batch_norm_stats(ax_kt *mean, ax_kt *invstd, const ax_kt *x, double eps) {
  bn_shape sh = shape_of(x);
  size_t es = ax_iter_elem_size(x->dtype);
  double *k = calloc((size_t)sh.c * 3, sizeof(double));
  if (!k) return out_of_memory("batch statistics", sh.c);
  double *sums = k + sh.c;
  for (int64_t c = 0; c < sh.c; c++) /* the shift: the channel's first element */
    k[c] = sh.n * sh.s > 0 ? ax_cpu_load((const char *)x->data + c * sh.s * (int64_t)es, x->dtype) : 0.0;
  if (!channel_sums(x->dtype, x->data, x->data, sh, k, k, sums)) {
    free(k);
    return out_of_memory("partial sums", sh.c);
  }
  double m = (double)(sh.n * sh.s);
  for (int64_t c = 0; c < sh.c; c++) {
    double d = m > 0 ? sums[2 * c] / m : 0.0, var = m > 0 ? sums[2 * c + 1] / m - d * d : 0.0;
    if (var < 0) var = 0;
    vec_set(mean, c, k[c] + d);
    vec_set(invstd, c, 1.0 / sqrt(var + eps));
  }
  free(k);
  return AX_K_OK;
}

/* Runs a per-row function over rows (n, c) in parallel; fn gets the row's channel. */
#define FOR_ROWS(sh, r, c, body)                                                         \
  do {                                                                                   \
    int64_t rows_ = (sh).n * (sh).c;                                                     \
    int nt_ = threads_for(rows_ * (sh).s);                                               \
    _Pragma("omp parallel for num_threads(nt_) schedule(static) if (nt_ > 1)")           \
    for (int64_t r = 0; r < rows_; r++) {                                                \
      int64_t c = r % (sh).c;                                                            \
      body;                                                                              \
    }                                                                                    \
  } while (0)

ax_kstatus ax_cpu_batch_norm_apply(ax_kt *y, const ax_kt *x, const ax_kt *mean, const ax_kt *invstd, const ax_kt *weight,
                             const ax_kt *bias) {
  bn_shape sh = shape_of(x);
  int64_t es = (int64_t)ax_iter_elem_size(x->dtype);
  double *scale = malloc((size_t)sh.c * 2 * sizeof(double));
  if (!scale) return out_of_memory("scales", sh.c);
  double *shift = scale + sh.c;
  for (int64_t c = 0; c < sh.c; c++) {
    scale[c] = vec_at(invstd, c, 1.0) * vec_at(weight, c, 1.0);
    shift[c] = vec_at(bias, c, 0.0) - vec_at(mean, c, 0.0) * scale[c];
  }
  row_affine_fn f = affine_for(x->dtype);
  char *py = y->data;
  const char *px = x->data;
  FOR_ROWS(sh, r, c, f(py + r * sh.s * es, px + r * sh.s * es, sh.s, scale[c], shift[c]));
  free(scale);
  return AX_K_OK;
}

/* With xhat = (x - mean) * invstd, M = n*s, k = weight * invstd:
 * gbias = sum(gy), gweight = sum(gy * xhat);
 * training: gx = k * (gy - gbias/M - xhat * gweight/M); eval: gx = k * gy. */
ax_kstatus ax_cpu_batch_norm_backward(ax_kt *gx, ax_kt *gweight, ax_kt *gbias, const ax_kt *gy, const ax_kt *x,
                                const ax_kt *mean, const ax_kt *invstd, const ax_kt *weight, int training) {
  bn_shape sh = shape_of(x);
  int64_t es = (int64_t)ax_iter_elem_size(x->dtype);
  double *v = malloc((size_t)sh.c * 7 * sizeof(double));
  if (!v) return out_of_memory("gradient terms", sh.c);
  double *mu = v, *zero = v + sh.c, *sums = v + 2 * sh.c, *ka = v + 4 * sh.c, *kb = v + 5 * sh.c, *kc = v + 6 * sh.c;
  for (int64_t c = 0; c < sh.c; c++) {
    mu[c] = vec_at(mean, c, 0.0);
    zero[c] = 0.0;
  }
  bool need_sums = gweight || gbias || (gx && training);
  if (need_sums && !channel_sums(x->dtype, gy->data, x->data, sh, zero, mu, sums)) {
    free(v);
    return out_of_memory("partial sums", sh.c);
  }
  double m = (double)(sh.n * sh.s);
  for (int64_t c = 0; c < sh.c; c++) {
    double is = vec_at(invstd, c, 1.0), k = vec_at(weight, c, 1.0) * is;
    if (gbias) vec_set(gbias, c, sums[2 * c]);
    if (gweight) vec_set(gweight, c, sums[2 * c + 1] * is);
    ka[c] = k;
    kb[c] = kc[c] = 0.0;
    if (training && m > 0) { /* gx = k*gy - k*is^2*S2/M * (x - mu) - k*S1/M */
      kb[c] = -k * is * is * sums[2 * c + 1] / m;
      kc[c] = -kb[c] * mu[c] - k * sums[2 * c] / m;
    }
  }
  if (gx) {
    char *pgx = gx->data;
    const char *pgy = gy->data, *px = x->data;
    if (training) {
      row_grad_fn f = grad_for(x->dtype);
      FOR_ROWS(sh, r, c, f(pgx + r * sh.s * es, pgy + r * sh.s * es, px + r * sh.s * es, sh.s, ka[c], kb[c], kc[c]));
    } else {
      row_affine_fn f = affine_for(x->dtype);
      FOR_ROWS(sh, r, c, f(pgx + r * sh.s * es, pgy + r * sh.s * es, sh.s, ka[c], 0.0));
    }
  }
  free(v);
  return AX_K_OK;
}
