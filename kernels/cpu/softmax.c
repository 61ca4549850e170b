/* SPDX-License-Identifier: BSD-3-Clause */
/* Softmax and log-softmax over the last dim of a contiguous [rows, cols]
 * tensor, and their backward passes. Rows are independent and run in
 * parallel; each row is read from cache after its first pass (max), so the
 * two-pass form costs little over an online one. f32 uses a vectorizable exp;
 * row sums are kept in double. */
#include <math.h>

#include "kernels/cpu/iter.h"
#include "kernels/cpu/vmath.h"

static void rows_cols(const ax_kt *t, int64_t *rows, int64_t *cols) {
  int64_t n = 1;
  for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
  *cols = t->ndim ? t->shape[t->ndim - 1] : 1;
  *rows = *cols ? n / *cols : 0;
}

/* `omp simd` reductions let the compiler reorder these sums (a fixed order for
 * a given build), which plain C forbids without -ffast-math. */
static float max_f32(const float *x, int64_t n) {
  float m = -INFINITY;
  int nan = 0;
#pragma omp simd reduction(max : m) reduction(| : nan)
  for (int64_t i = 0; i < n; i++) {
    m = x[i] > m ? x[i] : m;
    nan |= x[i] != x[i];
  }
  return nan ? NAN : m;
}

#define EXP_BLOCK 4096 /* float partial sums, flushed to double every block: long rows stay accurate */

/* y = exp(x - shift) (y may be NULL); returns the sum of those values. */
static double exp_sum_f32(float *restrict y, const float *restrict x, int64_t n, float shift) {
  double total = 0;
  for (int64_t b = 0; b < n; b += EXP_BLOCK) {
    int64_t e = b + EXP_BLOCK < n ? b + EXP_BLOCK : n;
    float s = 0;
    if (y) {
#pragma omp simd reduction(+ : s)
      for (int64_t i = b; i < e; i++) {
        y[i] = ax_fast_expf(x[i] - shift);
        s += y[i];
      }
    } else {
#pragma omp simd reduction(+ : s)
      for (int64_t i = b; i < e; i++) s += ax_fast_expf(x[i] - shift);
    }
    total += s;
  }
  return total;
}

static void softmax_row_f32(float *y, const float *x, int64_t n, int take_log) {
  float m = max_f32(x, n);
  if (isinf(m)) m = m > 0 ? m : 0; /* all -inf: exp(x - 0) = 0; +inf: NaN, as in PyTorch */
  if (take_log) {
    /* (x - m) - log(s), not x - (m + log(s)): m + log(s) would round to m's ulp */
    float ls = (float)log(exp_sum_f32(NULL, x, n, m));
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] - m) - ls;
  } else {
    float inv = (float)(1.0 / exp_sum_f32(y, x, n, m));
    for (int64_t i = 0; i < n; i++) y[i] *= inv;
  }
}

static void softmax_row_f64(double *y, const double *x, int64_t n, int take_log) {
  double m = -INFINITY;
  for (int64_t i = 0; i < n; i++) m = (x[i] > m || x[i] != x[i]) ? x[i] : m;
  if (isinf(m)) m = m > 0 ? m : 0;
  double s = 0;
  for (int64_t i = 0; i < n; i++) {
    double v = exp(x[i] - m);
    if (!take_log) y[i] = v;
    s += v;
  }
  if (take_log) {
    double ls = log(s);
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] - m) - ls;
  } else {
    for (int64_t i = 0; i < n; i++) y[i] /= s;
  }
}

/* bf16 / f16: through double, one element at a time */
static void softmax_row_generic(char *y, const char *x, int64_t n, int dt, int take_log) {
  int64_t es = (int64_t)ax_iter_elem_size(dt);
  double m = -INFINITY, s = 0;
  for (int64_t i = 0; i < n; i++) {
    double v = ax_cpu_load(x + i * es, dt);
    m = (v > m || v != v) ? v : m;
  }
  if (isinf(m)) m = m > 0 ? m : 0;
  for (int64_t i = 0; i < n; i++) s += exp(ax_cpu_load(x + i * es, dt) - m);
  for (int64_t i = 0; i < n; i++) {
    double v = ax_cpu_load(x + i * es, dt) - m;
    ax_cpu_store(y + i * es, dt, take_log ? v - log(s) : exp(v) / s);
  }
}

ax_kstatus ax_cpu_softmax(ax_kt *out, const ax_kt *in, int take_log) {
  int64_t rows, cols;
  rows_cols(in, &rows, &cols);
  int dt = in->dtype;
  int64_t es = (int64_t)ax_iter_elem_size(dt);
  bool parallel = rows > 1 && rows * cols >= AX_CPU_PARALLEL_MIN && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t r = 0; r < rows; r++) {
    const char *x = (const char *)in->data + r * cols * es;
    char *y = (char *)out->data + r * cols * es;
    if (dt == AX_F32) softmax_row_f32((float *)y, (const float *)x, cols, take_log);
    else if (dt == AX_F64) softmax_row_f64((double *)y, (const double *)x, cols, take_log);
    else softmax_row_generic(y, x, cols, dt, take_log);
  }
  return AX_K_OK;
}

/* softmax: gx = y (gy - sum(gy y)); log_softmax: gx = gy - exp(y) sum(gy). */
#define DEFINE_SOFTMAX_BACKWARD_ROW(NAME, T, EXP)                                        \
  static void NAME(T *restrict gx, const T *restrict gy, const T *restrict y, int64_t n, \
                   int take_log) {                                                       \
    double s = 0;                                                                        \
    if (take_log) {                                                                      \
      _Pragma("omp simd reduction(+ : s)") for (int64_t i = 0; i < n; i++) s += gy[i];   \
      T st = (T)s;                                                                       \
      _Pragma("omp simd") for (int64_t i = 0; i < n; i++) gx[i] = gy[i] - EXP(y[i]) * st; \
    } else {                                                                             \
      _Pragma("omp simd reduction(+ : s)") for (int64_t i = 0; i < n; i++) s += (double)gy[i] * y[i]; \
      T st = (T)s;                                                                       \
      _Pragma("omp simd") for (int64_t i = 0; i < n; i++) gx[i] = y[i] * (gy[i] - st);   \
    }                                                                                    \
  }

DEFINE_SOFTMAX_BACKWARD_ROW(softmax_backward_row_f32, float, ax_fast_expf)
DEFINE_SOFTMAX_BACKWARD_ROW(softmax_backward_row_f64, double, exp)

static void softmax_backward_row_generic(char *gx, const char *gy, const char *y, int64_t n, int dt, int take_log) {
  int64_t es = (int64_t)ax_iter_elem_size(dt);
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += ax_cpu_load(gy + i * es, dt) * (take_log ? 1.0 : ax_cpu_load(y + i * es, dt));
  for (int64_t i = 0; i < n; i++) {
    double g = ax_cpu_load(gy + i * es, dt), v = ax_cpu_load(y + i * es, dt);
    ax_cpu_store(gx + i * es, dt, take_log ? g - exp(v) * s : v * (g - s));
  }
}

ax_kstatus ax_cpu_softmax_backward(ax_kt *gx, const ax_kt *gy, const ax_kt *y, int take_log) {
  int64_t rows, cols;
  rows_cols(y, &rows, &cols);
  int dt = y->dtype;
  int64_t es = (int64_t)ax_iter_elem_size(dt);
  bool parallel = rows > 1 && rows * cols >= AX_CPU_PARALLEL_MIN && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t r = 0; r < rows; r++) {
    int64_t off = r * cols * es;
    char *g = (char *)gx->data + off;
    const char *gi = (const char *)gy->data + off, *yi = (const char *)y->data + off;
    if (dt == AX_F32) softmax_backward_row_f32((float *)g, (const float *)gi, (const float *)yi, cols, take_log);
    else if (dt == AX_F64) softmax_backward_row_f64((double *)g, (const double *)gi, (const double *)yi, cols, take_log);
    else softmax_backward_row_generic(g, gi, yi, cols, dt, take_log);
  }
  return AX_K_OK;
}
