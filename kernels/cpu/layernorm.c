/* SPDX-License-Identifier: BSD-3-Clause */
/* Layer norm and RMS norm over the last dim of contiguous x [rows, cols], and
 * the embedding gradient (a deterministic scatter-add of gy rows).
 *
 * Layer norm: a row is a few KB, so it stays in cache: the statistics take
 * two passes over it in double (the mean, then the centered sum of squares,
 * which cannot cancel the way sum(x^2) - n mean^2 does) and the output a third;
 * memory sees one read and one write. Rows run in parallel.
 * Backward (xhat = (x - mean) rstd, g = gy w):
 *   gx = rstd (g - mean(g) - xhat mean(g xhat))   (RMS: without mean(g); xhat = x rstd)
 *   gweight = sum over rows of gy xhat, gbias = sum of gy.
 * The column sums are per-thread partials in double over a static block of
 * rows each, added in thread order: the same bits for a given thread count.
 *
 * Embedding backward: the rows of gy are bucketed by index with a stable
 * counting sort, then each vocabulary row is summed by one thread in ascending
 * position order (f32 / f64 directly in the output, exactly index_add's
 * order, so the bits match it; bf16 / f16 in an f32 accumulator, rounded once).
 * No atomics, and the result does not depend on the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/iter.h"
#include "kernels/half.h"

#define LANES 8
#define LOAD_ID(v) (v)
#define LOAD_BF16(v) ax_bf16_to_f32(v)
#define STORE_BF16(v) ax_f32_to_bf16(v)
#define LOAD_F16(v) ax_f16_to_f32(v)
#define STORE_F16(v) ax_f32_to_f16(v)
#define STORE_F32(v) ((float)(v))
#define STORE_F64(v) ((double)(v))

/* Per-row kernels for one element type T computing in ACC (float, or double for f64). w and b are
 * [n] arrays of ACC (ones / zeros stand in for a missing weight / bias). */
#define LN_ROWS(T, ACC, LOAD, STORE, SFX)                                                                      \
  static void ln_row_##SFX(void *vy, const void *vx, int64_t n, const void *vw, const void *vb, double eps,   \
                           int rms, double *mean, double *rstd) {                                           \
    T *y = vy;                                                                                               \
    const T *x = vx;                                                                                         \
    const ACC *w = vw, *b = vb;                                                                              \
    double s[LANES] = {0}, q[LANES] = {0}, mu = 0, sq = 0;                                                   \
    int64_t i, tail = n - n % LANES;                                                                         \
    if (!rms) {                                                                                              \
      for (i = 0; i < tail; i += LANES)                                                                      \
        for (int j = 0; j < LANES; j++) s[j] += (double)LOAD(x[i + j]);                                      \
      for (; i < n; i++) s[0] += (double)LOAD(x[i]);                                                         \
      for (int j = 0; j < LANES; j++) mu += s[j];                                                            \
      mu = n ? mu / (double)n : 0.0;                                                                         \
    }                                                                                                        \
    for (i = 0; i < tail; i += LANES)                                                                        \
      for (int j = 0; j < LANES; j++) {                                                                      \
        double d = (double)LOAD(x[i + j]) - mu;                                                              \
        q[j] += d * d;                                                                                       \
      }                                                                                                      \
    for (; i < n; i++) q[0] += ((double)LOAD(x[i]) - mu) * ((double)LOAD(x[i]) - mu);                        \
    for (int j = 0; j < LANES; j++) sq += q[j];                                                              \
    double r = 1.0 / sqrt((n ? sq / (double)n : 0.0) + eps);                                                 \
    ACC m = (ACC)mu, rr = (ACC)r;                                                                            \
    for (i = 0; i < n; i++) y[i] = STORE((LOAD(x[i]) - m) * rr * w[i] + b[i]);                               \
    *mean = mu;                                                                                              \
    *rstd = r;                                                                                               \
  }                                                                                                          \
  /* gx (may be NULL) for one row; gw / gb (may be NULL) += this row's terms */                             \
  static void ln_row_grad_##SFX(void *vgx, const void *vgy, const void *vx, int64_t n, const void *vw,       \
                                double mu, double r, int rms, double *gw, double *gb) {                      \
    T *gx = vgx;                                                                                             \
    const T *gy = vgy, *x = vx;                                                                              \
    const ACC *w = vw;                                                                                       \
    ACC m = (ACC)mu, rr = (ACC)r;                                                                            \
    if (gx) {                                                                                                \
      double sa[LANES] = {0}, sb[LANES] = {0}, a = 0, bsum = 0;                                              \
      int64_t i, tail = n - n % LANES;                                                                       \
      for (i = 0; i < tail; i += LANES)                                                                      \
        for (int j = 0; j < LANES; j++) {                                                                    \
          double g = (double)LOAD(gy[i + j]) * (double)w[i + j];                                             \
          sa[j] += g;                                                                                        \
          sb[j] += g * ((double)LOAD(x[i + j]) - mu);                                                        \
        }                                                                                                    \
      for (; i < n; i++) {                                                                                   \
        double g = (double)LOAD(gy[i]) * (double)w[i];                                                       \
        sa[0] += g;                                                                                          \
        sb[0] += g * ((double)LOAD(x[i]) - mu);                                                              \
      }                                                                                                      \
      for (int j = 0; j < LANES; j++) {                                                                      \
        a += sa[j];                                                                                          \
        bsum += sb[j];                                                                                       \
      }                                                                                                      \
      ACC ma = rms ? (ACC)0 : (ACC)(a / (double)n), mb = (ACC)(bsum * r / (double)n);                         \
      for (i = 0; i < n; i++) gx[i] = STORE(rr * (LOAD(gy[i]) * w[i] - ma - (LOAD(x[i]) - m) * rr * mb));    \
    }                                                                                                        \
    if (gw)                                                                                                  \
      for (int64_t i = 0; i < n; i++) gw[i] += (double)LOAD(gy[i]) * (((double)LOAD(x[i]) - mu) * r);        \
    if (gb)                                                                                                  \
      for (int64_t i = 0; i < n; i++) gb[i] += (double)LOAD(gy[i]);                                          \
  }

LN_ROWS(float, float, LOAD_ID, STORE_F32, f32)
LN_ROWS(double, double, LOAD_ID, STORE_F64, f64)
LN_ROWS(uint16_t, float, LOAD_BF16, STORE_BF16, bf16)
LN_ROWS(uint16_t, float, LOAD_F16, STORE_F16, f16)

typedef void (*ln_row_fn)(void *y, const void *x, int64_t n, const void *w, const void *b, double eps, int rms,
                          double *mean, double *rstd);
typedef void (*ln_row_grad_fn)(void *gx, const void *gy, const void *x, int64_t n, const void *w, double mu, double r,
                               int rms, double *gw, double *gb);

typedef struct ln_type {
  ln_row_fn row;
  ln_row_grad_fn grad;
} ln_type;

static ln_type type_of(int dt) {
  switch (dt) {
    case AX_F64: return (ln_type){ln_row_f64, ln_row_grad_f64};
    case AX_BF16: return (ln_type){ln_row_bf16, ln_row_grad_bf16};
    case AX_F16: return (ln_type){ln_row_f16, ln_row_grad_f16};
    default: return (ln_type){ln_row_f32, ln_row_grad_f32};
  }
}

/* A [n] vector of the accumulation type (double for f64 x, else float) holding v (any dtype and
 * stride), or `missing` everywhere when v is NULL. Freed by the caller. */
static void *acc_vector(const ax_kt *v, int64_t n, int x_dtype, double missing) {
  bool dbl = x_dtype == AX_F64;
  void *out = malloc((size_t)(n ? n : 1) * (dbl ? sizeof(double) : sizeof(float)));
  if (!out) return NULL;
  size_t es = v ? ax_iter_elem_size(v->dtype) : 0;
  for (int64_t i = 0; i < n; i++) {
    double a = v ? ax_cpu_load((const char *)v->data + i * v->strides[0] * (int64_t)es, v->dtype) : missing;
    if (dbl) ((double *)out)[i] = a;
    else ((float *)out)[i] = (float)a;
  }
  return out;
}

/* mean / rstd are [rows] of f32 or f64 with any stride */
static double stat_get(const ax_kt *s, int64_t r) {
  return s->dtype == AX_F64 ? ((const double *)s->data)[r * s->strides[0]] : ((const float *)s->data)[r * s->strides[0]];
}
static void stat_set(ax_kt *s, int64_t r, double v) {
  if (s->dtype == AX_F64) ((double *)s->data)[r * s->strides[0]] = v;
  else ((float *)s->data)[r * s->strides[0]] = (float)v;
}

static int threads_for(int64_t rows, int64_t numel) {
  if (numel < AX_CPU_PARALLEL_MIN || omp_in_parallel()) return 1;
  int nt = omp_get_max_threads();
  return rows < nt ? (int)(rows > 0 ? rows : 1) : nt;
}

ax_kstatus ax_cpu_layer_norm(ax_kt *y, ax_kt *mean, ax_kt *rstd, const ax_kt *x, const ax_kt *weight, const ax_kt *bias,
                       double eps, int rms) {
  int64_t cols = x->shape[x->ndim - 1], rows = cols ? 1 : 0;
  for (int d = 0; d < x->ndim - 1; d++) rows *= x->shape[d];
  if (!cols) { /* no elements: a row's statistics are those of an empty set */
    rows = 1;
    for (int d = 0; d < x->ndim - 1; d++) rows *= x->shape[d];
    for (int64_t r = 0; r < rows; r++) {
      if (mean) stat_set(mean, r, 0.0);
      stat_set(rstd, r, 1.0 / sqrt(eps));
    }
    return AX_K_OK;
  }
  ln_row_fn f = type_of(x->dtype).row;
  void *w = acc_vector(weight, cols, x->dtype, 1.0), *b = acc_vector(bias, cols, x->dtype, 0.0);
  if (!w || !b) {
    free(w), free(b);
    return ax_cpu_fail(AX_K_NOMEM, "out of memory for the weight and bias of %lld columns", (long long)cols);
  }
  int64_t es = (int64_t)ax_iter_elem_size(x->dtype);
  char *py = y->data;
  const char *px = x->data;
  int nt = threads_for(rows, rows * cols);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
  for (int64_t r = 0; r < rows; r++) {
    double mu, rs;
    f(py + r * cols * es, px + r * cols * es, cols, w, b, eps, rms, &mu, &rs);
    if (mean) stat_set(mean, r, mu);
    stat_set(rstd, r, rs);
  }
  free(w);
  free(b);
  return AX_K_OK;
}

/* Writes a [cols] column sum (double) into v of any float dtype and stride. */
static void store_vector(ax_kt *v, const double *s, int64_t n) {
  size_t es = ax_iter_elem_size(v->dtype);
  for (int64_t i = 0; i < n; i++) ax_cpu_store((char *)v->data + i * v->strides[0] * (int64_t)es, v->dtype, s[i]);
}

ax_kstatus ax_cpu_layer_norm_backward(ax_kt *gx, ax_kt *gweight, ax_kt *gbias, const ax_kt *gy, const ax_kt *x,
                                const ax_kt *mean, const ax_kt *rstd, const ax_kt *weight, int rms) {
  int64_t cols = x->shape[x->ndim - 1], rows = 1;
  for (int d = 0; d < x->ndim - 1; d++) rows *= x->shape[d];
  int nt = threads_for(rows, rows * cols);
  size_t width = (size_t)(cols ? cols : 1);
  /* per thread: gweight partials then gbias partials */
  double *part = (gweight || gbias) ? calloc((size_t)nt * 2 * width, sizeof(double)) : NULL;
  ln_row_grad_fn f = type_of(x->dtype).grad;
  void *w = acc_vector(weight, cols, x->dtype, 1.0);
  if (!w || ((gweight || gbias) && !part)) {
    free(part), free(w);
    return ax_cpu_fail(AX_K_NOMEM, "out of memory for the partial sums of %lld columns", (long long)cols);
  }
  int64_t es = (int64_t)ax_iter_elem_size(x->dtype);
  char *pgx = gx ? gx->data : NULL;
  const char *pgy = gy->data, *px = x->data;
  if (cols > 0) {
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
      int t = omp_get_thread_num();
      double *gw = gweight ? part + (size_t)t * 2 * width : NULL, *gb = gbias ? part + ((size_t)t * 2 + 1) * width : NULL;
      int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
      for (int64_t r = r0; r < r1; r++)
        f(pgx ? pgx + r * cols * es : NULL, pgy + r * cols * es, px + r * cols * es, cols, w,
          mean ? stat_get(mean, r) : 0.0, stat_get(rstd, r), rms, gw, gb);
    }
  }
  for (int t = 1; t < nt && part; t++) /* fixed order: thread 0, 1, ... */
    for (size_t i = 0; i < 2 * width; i++) part[i] += part[(size_t)t * 2 * width + i];
  if (gweight) store_vector(gweight, part, cols);
  if (gbias) store_vector(gbias, part + width, cols);
  free(part);
  free(w);
  return AX_K_OK;
}

/* ---------------- embedding backward ---------------- */

static inline int64_t index_at(const ax_kt *ix, int64_t i) {
  int64_t s = ix->ndim ? ix->strides[0] : 0;
  return ix->dtype == AX_I64 ? ((const int64_t *)ix->data)[i * s] : (int64_t)((const int32_t *)ix->data)[i * s];
}

/* out[0..c) = sum of gy rows pos[0..count) in that order; `buf` is [c] floats for the half types */
#define EMB_SUM(T, ACC, LOAD, STORE, SFX)                                                                    \
  static void emb_sum_##SFX(void *vout, const void *vgy, int64_t c, const int64_t *pos, int64_t count,      \
                            float *buf) {                                                                   \
    T *out = vout;                                                                                          \
    const T *gy = vgy;                                                                                      \
    ACC *acc = sizeof(T) == sizeof(ACC) ? (ACC *)(void *)out : (ACC *)(void *)buf;                         \
    for (int64_t j = 0; j < c; j++) acc[j] = 0;                                                             \
    for (int64_t k = 0; k < count; k++) {                                                                   \
      const T *row = gy + pos[k] * c;                                                                       \
      for (int64_t j = 0; j < c; j++) acc[j] += LOAD(row[j]);                                               \
    }                                                                                                       \
    if (sizeof(T) != sizeof(ACC))                                                                           \
      for (int64_t j = 0; j < c; j++) out[j] = STORE(acc[j]);                                               \
  }

EMB_SUM(float, float, LOAD_ID, STORE_F32, f32)
EMB_SUM(double, double, LOAD_ID, STORE_F64, f64)
EMB_SUM(uint16_t, float, LOAD_BF16, STORE_BF16, bf16)
EMB_SUM(uint16_t, float, LOAD_F16, STORE_F16, f16)

typedef void (*emb_sum_fn)(void *out, const void *gy, int64_t c, const int64_t *pos, int64_t count, float *buf);

ax_kstatus ax_cpu_embedding_backward(ax_kt *gweight, const ax_kt *index, const ax_kt *gy) {
  int64_t v_count = gweight->shape[0], c = gweight->shape[1], n = index->ndim ? index->shape[0] : 1;
  emb_sum_fn f = gweight->dtype == AX_F64 ? emb_sum_f64
                 : gweight->dtype == AX_BF16 ? emb_sum_bf16
                 : gweight->dtype == AX_F16 ? emb_sum_f16
                                             : emb_sum_f32;
  /* stable counting sort of the positions by index: start[v] .. start[v+1] are v's positions, ascending */
  int64_t *start = calloc((size_t)v_count + 2, sizeof(int64_t)), *pos = malloc((size_t)(n ? n : 1) * sizeof(int64_t));
  if (!start || !pos) {
    free(start), free(pos);
    return ax_cpu_fail(AX_K_NOMEM, "out of memory to sort %lld indices into %lld rows", (long long)n, (long long)v_count);
  }
  for (int64_t i = 0; i < n; i++) start[index_at(index, i) + 2]++;
  for (int64_t v = 2; v <= v_count + 1; v++) start[v] += start[v - 1];
  for (int64_t i = 0; i < n; i++) pos[start[index_at(index, i) + 1]++] = i; /* start[v+1] ends at v's end */
  int64_t es = (int64_t)ax_iter_elem_size(gweight->dtype);
  char *out = gweight->data;
  const char *g = gy->data;
  int nt = threads_for(v_count, (v_count + n) * c), failed = 0;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    float *buf = es == 2 ? malloc((size_t)(c ? c : 1) * sizeof(float)) : NULL;
#pragma omp for schedule(dynamic, 64)
    for (int64_t v = 0; v < v_count; v++) {
      if (es == 2 && !buf) { /* every thread must reach the loop: skip its rows and fail below */
#pragma omp atomic write
        failed = 1;
        continue;
      }
      f(out + v * c * es, g, c, pos + start[v], start[v + 1] - start[v], buf);
    }
    free(buf);
  }
  free(start);
  free(pos);
  return failed ? ax_cpu_fail(AX_K_NOMEM, "out of memory for a row of %lld columns", (long long)c) : AX_K_OK;
}
