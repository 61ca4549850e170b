/* SPDX-License-Identifier: BSD-3-Clause */
/* Scans along one dim: cumsum, cumprod, cummax (values and i64 indices) and
 * logcumsumexp, forward (prefix) or reverse (suffix).
 *
 * Every line (one index of each other dim) is scanned by one thread, in order;
 * lines run in parallel when there are enough elements. Values accumulate in
 * double and every prefix is stored rounded to the output's dtype, so the
 * result does not depend on the thread count. f32 and f64 run typed loops;
 * bf16 and f16 go through ax_cpu_load / ax_cpu_store.
 *
 * cummax follows PyTorch: the running max moves to element i when i is NaN or
 * >= the max so far (the later index wins a tie), and stays on the first NaN
 * once one is seen. logcumsumexp combines with PyTorch's log-add-exp (NaN
 * propagates; two infinities of the same sign give that infinity). */
#include <math.h>

#include "kernels/cpu/iter.h"

/* log(exp(a) + exp(b)), as PyTorch's _log_add_exp_helper */
static inline double log_add_exp(double a, double b) {
  double lo = isnan(b) ? b : (a < b ? a : b), hi = isnan(b) ? b : (a < b ? b : a);
  if (lo != hi || isfinite(lo)) return hi + log1p(exp(lo - hi));
  return a; /* both +inf or both -inf */
}

typedef struct {
  int op, dt, reverse;
  int64_t n, s_in, s_out, s_idx; /* the scanned dim: length and strides (elements) */
} scan_line;

/* One line: in / out / idx point at the line's element 0. */
#define DEFINE_LINE(NAME, T, LOAD, STORE)                                                              \
  static void NAME(const scan_line *L, const char *in, char *out, int64_t *idx) {                    \
    const T *x = (const T *)in;                                                                       \
    T *y = (T *)out;                                                                                  \
    double acc = 0;                                                                                   \
    int64_t best = 0;                                                                                 \
    for (int64_t k = 0; k < L->n; k++) {                                                              \
      int64_t i = L->reverse ? L->n - 1 - k : k;                                                      \
      double v = LOAD(x + i * L->s_in);                                                               \
      if (k == 0) {                                                                                   \
        acc = v;                                                                                      \
        best = i;                                                                                     \
      } else {                                                                                        \
        switch (L->op) {                                                                              \
          case AX_SCAN_SUM: acc += v; break;                                                          \
          case AX_SCAN_PROD: acc *= v; break;                                                         \
          case AX_SCAN_MAX:                                                                           \
            if (!isnan(acc) && (isnan(v) || v >= acc)) acc = v, best = i;                             \
            break;                                                                                    \
          default: acc = log_add_exp(acc, v); break;                                                  \
        }                                                                                             \
      }                                                                                               \
      STORE(y + i * L->s_out, acc);                                                                   \
      if (idx) idx[i * L->s_idx] = best;                                                              \
    }                                                                                                 \
  }

#define LOAD_PLAIN(p) ((double)*(p))
#define STORE_F32(p, v) (*(p) = (float)(v))
#define STORE_F64(p, v) (*(p) = (v))
DEFINE_LINE(line_f32, float, LOAD_PLAIN, STORE_F32)
DEFINE_LINE(line_f64, double, LOAD_PLAIN, STORE_F64)

/* bf16 / f16: 2-byte elements, converted through the shared helpers */
static void line_half(const scan_line *L, const char *in, char *out, int64_t *idx) {
  double acc = 0;
  int64_t best = 0;
  for (int64_t k = 0; k < L->n; k++) {
    int64_t i = L->reverse ? L->n - 1 - k : k;
    double v = ax_cpu_load(in + i * L->s_in * 2, L->dt);
    if (k == 0) {
      acc = v;
      best = i;
    } else {
      switch (L->op) {
        case AX_SCAN_SUM: acc += v; break;
        case AX_SCAN_PROD: acc *= v; break;
        case AX_SCAN_MAX:
          if (!isnan(acc) && (isnan(v) || v >= acc)) acc = v, best = i;
          break;
        default: acc = log_add_exp(acc, v); break;
      }
    }
    ax_cpu_store(out + i * L->s_out * 2, L->dt, acc);
    if (idx) idx[i * L->s_idx] = best;
  }
}

ax_kstatus ax_cpu_scan(int op, ax_kt *out, ax_kt *indices, const ax_kt *in, int dim, int reverse) {
  if (op < 0 || op >= AX_NUM_SCAN || dim < 0 || dim >= in->ndim)
    return ax_cpu_fail(AX_K_UNSUPPORTED, "scan: op %d along dim %d of %d dims", op, dim, in->ndim);
  int dt = in->dtype;
  void (*line)(const scan_line *, const char *, char *, int64_t *) =
      dt == AX_F32 ? line_f32 : dt == AX_F64 ? line_f64 : (dt == AX_BF16 || dt == AX_F16) ? line_half : NULL;
  if (!line) return ax_cpu_fail(AX_K_UNSUPPORTED, "scan: dtype %d is not a float dtype", dt);
  int64_t *idx_base = op == AX_SCAN_MAX && indices ? (int64_t *)indices->data : NULL;
  scan_line L = {op, dt, reverse != 0, in->shape[dim], in->strides[dim], out->strides[dim],
                 idx_base ? indices->strides[dim] : 0};
  /* the other dims: sizes and the strides of in, out and indices */
  int nk = 0;
  int64_t size[AX_MAX_DIMS], sin[AX_MAX_DIMS], sout[AX_MAX_DIMS], sidx[AX_MAX_DIMS], nlines = 1;
  for (int k = 0; k < in->ndim; k++) {
    if (k == dim) continue;
    size[nk] = in->shape[k];
    sin[nk] = in->strides[k];
    sout[nk] = out->strides[k];
    sidx[nk] = idx_base ? indices->strides[k] : 0;
    nlines *= size[nk++];
  }
  if (L.n == 0 || nlines == 0) return AX_K_OK;
  int64_t es = (int64_t)ax_iter_elem_size(dt);
  bool parallel = nlines > 1 && nlines * L.n >= AX_CPU_PARALLEL_MIN && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t o = 0; o < nlines; o++) {
    int64_t r = o, a = 0, b = 0, c = 0;
    for (int k = nk - 1; k >= 0; k--) {
      int64_t q = r % size[k];
      r /= size[k];
      a += q * sin[k], b += q * sout[k], c += q * sidx[k];
    }
    line(&L, (const char *)in->data + a * es, (char *)out->data + b * es, idx_base ? idx_base + c : NULL);
  }
  return AX_K_OK;
}
