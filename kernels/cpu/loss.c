/* SPDX-License-Identifier: BSD-3-Clause */
/* Fused cross-entropy over contiguous logits [rows, cols] (see kernels/backend.h).
 *
 * Per row: the max, the sum of exp(x - max) and (with label smoothing) the
 * plain sum of x, then loss = lse - (1-ls) x[t] - ls mean(x). The backward
 * recomputes exp(x - lse) from the saved lse, so the probabilities are never
 * stored. Rows run in parallel; a row's statistics are computed in a fixed
 * order, so results do not depend on the thread count. f32 uses the
 * vectorizable exp of vmath.h with sums flushed to double every block; f64
 * uses libm; bf16/f16 go through double one element at a time.
 *
 * A target outside [0, cols) that is not ignore_index gives a NaN loss (the
 * op layer reports it on the CPU before calling; the kernel stays in bounds
 * regardless). */
#include <math.h>

#include "kernels/cpu/iter.h"
#include "kernels/cpu/vmath.h"

typedef struct {
  double max, expsum, sum; /* sum: only when label smoothing asks for it */
} row_stats;

#define STAT_BLOCK 4096 /* f32 partial sums flushed to double every block */

static row_stats stats_f32(const float *x, int64_t n, bool want_sum) {
  float m = -INFINITY;
  int nan = 0;
#pragma omp simd reduction(max : m) reduction(| : nan)
  for (int64_t i = 0; i < n; i++) {
    m = x[i] > m ? x[i] : m;
    nan |= x[i] != x[i];
  }
  row_stats st = {nan ? NAN : m, 0, 0};
  if (isinf(m)) m = m > 0 ? m : 0; /* all -inf: lse = -inf; +inf: NaN, as softmax does */
  for (int64_t b = 0; b < n; b += STAT_BLOCK) {
    int64_t e = b + STAT_BLOCK < n ? b + STAT_BLOCK : n;
    float s = 0, t = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = b; i < e; i++) s += ax_fast_expf(x[i] - m);
    if (want_sum) {
#pragma omp simd reduction(+ : t)
      for (int64_t i = b; i < e; i++) t += x[i];
    }
    st.expsum += s;
    st.sum += t;
  }
  if (!nan) st.max = m;
  return st;
}

static row_stats stats_f64(const double *x, int64_t n, bool want_sum) {
  double m = -INFINITY, s = 0, t = 0;
  for (int64_t i = 0; i < n; i++) m = (x[i] > m || x[i] != x[i]) ? x[i] : m;
  if (isinf(m)) m = m > 0 ? m : 0;
  for (int64_t i = 0; i < n; i++) s += exp(x[i] - m);
  if (want_sum)
    for (int64_t i = 0; i < n; i++) t += x[i];
  return (row_stats){m, s, t};
}

static row_stats stats_generic(const char *x, int64_t n, int dt, bool want_sum) {
  int64_t es = (int64_t)ax_iter_elem_size(dt);
  double m = -INFINITY, s = 0, t = 0;
  for (int64_t i = 0; i < n; i++) {
    double v = ax_cpu_load(x + i * es, dt);
    m = (v > m || v != v) ? v : m;
  }
  if (isinf(m)) m = m > 0 ? m : 0;
  for (int64_t i = 0; i < n; i++) {
    double v = ax_cpu_load(x + i * es, dt);
    s += exp(v - m);
    t += want_sum ? v : 0;
  }
  return (row_stats){m, s, t};
}

static inline double load(const char *p, int dt) {
  return dt == AX_F32 ? *(const float *)p : dt == AX_F64 ? *(const double *)p : ax_cpu_load(p, dt);
}

static inline void store(char *p, int dt, double v) {
  if (dt == AX_F32) *(float *)p = (float)v;
  else if (dt == AX_F64) *(double *)p = v;
  else ax_cpu_store(p, dt, v);
}

static inline int64_t target_of(const ax_kt *target, int64_t r) {
  return ((const int64_t *)target->data)[r * (target->ndim ? target->strides[0] : 0)];
}

static inline int64_t stride0(const ax_kt *t) { return t->ndim ? t->strides[0] : 0; }

static bool parallel_rows(int64_t rows, int64_t cols) {
  return rows > 1 && rows * cols >= AX_CPU_PARALLEL_MIN && !omp_in_parallel();
}

ax_kstatus ax_cpu_cross_entropy(ax_kt *loss, ax_kt *lse, const ax_kt *logits, const ax_kt *target, int64_t ignore_index,
                          double label_smoothing) {
  int64_t rows = logits->shape[0], cols = logits->shape[1];
  int dt = logits->dtype, ldt = loss->dtype, sdt = lse->dtype;
  int64_t es = (int64_t)ax_iter_elem_size(dt), les = (int64_t)ax_iter_elem_size(ldt) * stride0(loss),
          ses = (int64_t)ax_iter_elem_size(sdt) * stride0(lse);
  double ls = label_smoothing;
  bool want_sum = ls > 0;
#pragma omp parallel for schedule(static) if (parallel_rows(rows, cols))
  for (int64_t r = 0; r < rows; r++) {
    const char *x = (const char *)logits->data + r * logits->strides[0] * es;
    int64_t t = target_of(target, r);
    double l, z;
    if (t == ignore_index) {
      l = 0;
      z = 0;
    } else {
      row_stats st = dt == AX_F32   ? stats_f32((const float *)x, cols, want_sum)
                     : dt == AX_F64 ? stats_f64((const double *)x, cols, want_sum)
                                    : stats_generic(x, cols, dt, want_sum);
      z = st.max + log(st.expsum);
      double xt = t >= 0 && t < cols ? load(x + t * es, dt) : NAN;
      /* z - (1 - ls) xt - ls mean(x), arranged without cancellation (a loss near 0 stays exact) */
      l = (z - xt) + (want_sum ? ls * (xt - st.sum / (double)cols) : 0);
    }
    store((char *)loss->data + r * les, ldt, l);
    store((char *)lse->data + r * ses, sdt, z);
  }
  return AX_K_OK;
}

/* One row of glogits: g (exp(x - z) - ls/cols); the target's is redone by the caller. */
static void backward_row_f32(float *restrict gx, const float *restrict x, int64_t n, float g, float z, float off) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) gx[i] = g * (ax_fast_expf(x[i] - z) - off);
}

static void backward_row_f64(double *restrict gx, const double *restrict x, int64_t n, double g, double z, double off) {
  for (int64_t i = 0; i < n; i++) gx[i] = g * (exp(x[i] - z) - off);
}

ax_kstatus ax_cpu_cross_entropy_backward(ax_kt *glogits, const ax_kt *gloss, const ax_kt *logits, const ax_kt *lse,
                                   const ax_kt *target, int64_t ignore_index, double label_smoothing) {
  int64_t rows = logits->shape[0], cols = logits->shape[1];
  int dt = logits->dtype;
  int64_t es = (int64_t)ax_iter_elem_size(dt);
  int64_t ges = (int64_t)ax_iter_elem_size(gloss->dtype) * stride0(gloss),
          ses = (int64_t)ax_iter_elem_size(lse->dtype) * stride0(lse);
  double ls = label_smoothing, off = ls / (double)cols;
#pragma omp parallel for schedule(static) if (parallel_rows(rows, cols))
  for (int64_t r = 0; r < rows; r++) {
    const char *x = (const char *)logits->data + r * logits->strides[0] * es;
    char *gx = (char *)glogits->data + r * glogits->strides[0] * es;
    int64_t t = target_of(target, r);
    if (t == ignore_index) {
      for (int64_t i = 0; i < cols; i++) store(gx + i * es, dt, 0);
      continue;
    }
    double g = load((const char *)gloss->data + r * ges, gloss->dtype);
    double z = load((const char *)lse->data + r * ses, lse->dtype);
    if (dt == AX_F32) backward_row_f32((float *)gx, (const float *)x, cols, (float)g, (float)z, (float)off);
    else if (dt == AX_F64) backward_row_f64((double *)gx, (const double *)x, cols, g, z, off);
    else
      for (int64_t i = 0; i < cols; i++) store(gx + i * es, dt, g * (exp(load(x + i * es, dt) - z) - off));
    /* the target: g ((exp(x - z) - 1) + ls (1 - 1/cols)), which is g (p - ls/cols) - g (1 - ls)
     * without the cancellation (one class gives exactly 0) */
    if (t >= 0 && t < cols)
      store(gx + t * es, dt, g * ((exp(load(x + t * es, dt) - z) - 1) + ls * (1 - 1 / (double)cols)));
  }
  return AX_K_OK;
}
