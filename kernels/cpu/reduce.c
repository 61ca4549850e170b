/* SPDX-License-Identifier: BSD-3-Clause */
/* Reductions (sum, max, min over any set of dims) and arg-reductions.
 *
 * The dims of the input are sorted by stride (innermost = smallest) and
 * coalesced, so every layout lands on one of two loops:
 *   rows: the innermost dim is reduced. Each output reduces rows of
 *         contiguous (or strided) elements, in blocks of REDUCE_BLOCK with
 *         REDUCE_LANES independent accumulators (a vectorizable loop).
 *   cols: the innermost dim is kept. Each task accumulates a strip of up to
 *         COLS_WIDTH outputs while walking the reduced dims, so the inner loop
 *         runs along contiguous memory.
 * Float values accumulate in double. The order of every addition depends only
 * on the shapes and strides, never on the thread count, so a sum gives the same
 * bits on every run and with any number of threads. Max/min propagate NaN. */
#include <math.h>
#include <stdlib.h>

#include "kernels/cpu/iter.h"
#include "kernels/reduce_layout.h"

#define REDUCE_BLOCK 4096  /* elements of a row reduced as one unit */
#define REDUCE_LANES 16    /* independent accumulators in a block */
#define COLS_WIDTH 4096     /* outputs accumulated together in the cols loop (32 KB of doubles) */
#define COLS_CHUNK 65536   /* least elements per task when the cols loop splits the reduced dims */
#define COLS_MAX_CHUNKS 64 /* most pieces the reduced dims are split into */

#define COMBINE_SUM(a, v) (a) += (v)
#define COMBINE_MAX(a, v) (a) = ((v) > (a) || (v) != (v)) ? (v) : (a)
#define COMBINE_MIN(a, v) (a) = ((v) < (a) || (v) != (v)) ? (v) : (a)

static double identity(int op) {
  return op == AX_REDUCE_SUM ? 0.0 : op == AX_REDUCE_MAX ? -INFINITY : INFINITY;
}

static inline double combine(int op, double a, double v) {
  if (op == AX_REDUCE_SUM) COMBINE_SUM(a, v);
  else if (op == AX_REDUCE_MAX) COMBINE_MAX(a, v);
  else COMBINE_MIN(a, v);
  return a;
}

/* ---------------- layout ---------------- */

typedef ax_reduce_dims dimlist;

static int64_t dims_numel(const dimlist *d) {
  int64_t n = 1;
  for (int i = 0; i < d->n; i++) n *= d->size[i];
  return n;
}

/* Offsets (input and output, in elements) of flat index i in row-major order of d. */
static void dims_offset(const dimlist *d, int64_t i, int64_t *in_off, int64_t *out_off) {
  if (d->n <= 1) { /* the common case after coalescing: no division */
    *in_off = d->n ? i * d->in[0] : 0;
    if (out_off) *out_off = d->n ? i * d->out[0] : 0;
    return;
  }
  int64_t a = 0, b = 0;
  for (int k = d->n - 1; k >= 0; k--) {
    int64_t q = i % d->size[k];
    i /= d->size[k];
    a += q * d->in[k];
    b += q * d->out[k];
  }
  *in_off = a;
  if (out_off) *out_off = b;
}

typedef ax_reduce_layout layout;
#define make_layout ax_reduce_layout_make

/* ---------------- typed loops ---------------- */

/* Reduces one block of n <= REDUCE_BLOCK elements (element stride s) to a double. */
#define DEFINE_BLOCK(NAME, T, COMBINE, INIT)                                             \
  static double NAME(const T *x, int64_t n, int64_t s) {                                 \
    double acc[REDUCE_LANES];                                                            \
    for (int j = 0; j < REDUCE_LANES; j++) acc[j] = INIT;                                \
    int64_t i = 0;                                                                       \
    if (s == 1) {                                                                        \
      for (; i + REDUCE_LANES <= n; i += REDUCE_LANES)                                   \
        for (int j = 0; j < REDUCE_LANES; j++) {                                         \
          double v = x[i + j];                                                           \
          COMBINE(acc[j], v);                                                            \
        }                                                                                \
    } else {                                                                             \
      for (; i + REDUCE_LANES <= n; i += REDUCE_LANES)                                   \
        for (int j = 0; j < REDUCE_LANES; j++) {                                         \
          double v = x[(i + j) * s];                                                     \
          COMBINE(acc[j], v);                                                            \
        }                                                                                \
    }                                                                                    \
    for (int j = 0; i < n; i++, j++) {                                                   \
      double v = x[i * s];                                                               \
      COMBINE(acc[j], v);                                                                \
    }                                                                                    \
    for (int w = REDUCE_LANES / 2; w > 0; w /= 2)                                        \
      for (int j = 0; j < w; j++) COMBINE(acc[j], acc[j + w]);                           \
    return acc[0];                                                                       \
  }

DEFINE_BLOCK(block_sum_f32, float, COMBINE_SUM, 0.0)
DEFINE_BLOCK(block_max_f32, float, COMBINE_MAX, -INFINITY)
DEFINE_BLOCK(block_min_f32, float, COMBINE_MIN, INFINITY)
DEFINE_BLOCK(block_sum_f64, double, COMBINE_SUM, 0.0)
DEFINE_BLOCK(block_max_f64, double, COMBINE_MAX, -INFINITY)
DEFINE_BLOCK(block_min_f64, double, COMBINE_MIN, INFINITY)

static double block_generic(int op, int dt, const char *p, int64_t n, int64_t s) {
  int64_t es = (int64_t)ax_iter_elem_size(dt);
  double acc = identity(op);
  for (int64_t i = 0; i < n; i++) acc = combine(op, acc, ax_cpu_load(p + i * s * es, dt));
  return acc;
}

static double block_reduce(int op, int dt, const char *p, int64_t n, int64_t s) {
  if (dt == AX_F32) {
    const float *x = (const float *)p;
    return op == AX_REDUCE_SUM ? block_sum_f32(x, n, s) : op == AX_REDUCE_MAX ? block_max_f32(x, n, s) : block_min_f32(x, n, s);
  }
  if (dt == AX_F64) {
    const double *x = (const double *)p;
    return op == AX_REDUCE_SUM ? block_sum_f64(x, n, s) : op == AX_REDUCE_MAX ? block_max_f64(x, n, s) : block_min_f64(x, n, s);
  }
  return block_generic(op, dt, p, n, s);
}

/* acc[j] = combine(acc[j], row[j * s]) for j < n and each of nr <= STRIP_ROWS rows.
 * Four rows at once combine in registers first, so the accumulators (too big
 * for L1 in a wide strip) are loaded and stored once per four rows. */
#define STRIP_ROWS 4
#define DEFINE_STRIP(NAME, T, COMBINE)                                                             \
  static void NAME(double *restrict acc, const char *const *rows, int nr, int64_t n, int64_t s) { \
    if (nr == 4 && s == 1) {                                                                       \
      const T *x0 = (const T *)rows[0], *x1 = (const T *)rows[1];                                  \
      const T *x2 = (const T *)rows[2], *x3 = (const T *)rows[3];                                  \
      for (int64_t j = 0; j < n; j++) {                                                            \
        double a = x0[j], b = x1[j], c = x2[j], d = x3[j];                                         \
        COMBINE(a, b);                                                                             \
        COMBINE(c, d);                                                                             \
        COMBINE(a, c);                                                                             \
        COMBINE(acc[j], a);                                                                        \
      }                                                                                            \
      return;                                                                                      \
    }                                                                                              \
    for (int r = 0; r < nr; r++) {                                                                 \
      const T *x = (const T *)rows[r];                                                             \
      if (s == 1)                                                                                  \
        for (int64_t j = 0; j < n; j++) {                                                          \
          double v = x[j];                                                                         \
          COMBINE(acc[j], v);                                                                      \
        }                                                                                          \
      else                                                                                         \
        for (int64_t j = 0; j < n; j++) {                                                          \
          double v = x[j * s];                                                                     \
          COMBINE(acc[j], v);                                                                      \
        }                                                                                          \
    }                                                                                              \
  }

DEFINE_STRIP(strip_sum_f32, float, COMBINE_SUM)
DEFINE_STRIP(strip_max_f32, float, COMBINE_MAX)
DEFINE_STRIP(strip_min_f32, float, COMBINE_MIN)
DEFINE_STRIP(strip_sum_f64, double, COMBINE_SUM)
DEFINE_STRIP(strip_max_f64, double, COMBINE_MAX)
DEFINE_STRIP(strip_min_f64, double, COMBINE_MIN)

static void strip_accumulate(int op, int dt, double *acc, const char *const *rows, int nr, int64_t n, int64_t s) {
  if (dt == AX_F32) {
    if (op == AX_REDUCE_SUM) strip_sum_f32(acc, rows, nr, n, s);
    else if (op == AX_REDUCE_MAX) strip_max_f32(acc, rows, nr, n, s);
    else strip_min_f32(acc, rows, nr, n, s);
  } else if (dt == AX_F64) {
    if (op == AX_REDUCE_SUM) strip_sum_f64(acc, rows, nr, n, s);
    else if (op == AX_REDUCE_MAX) strip_max_f64(acc, rows, nr, n, s);
    else strip_min_f64(acc, rows, nr, n, s);
  } else {
    int64_t es = (int64_t)ax_iter_elem_size(dt);
    for (int r = 0; r < nr; r++)
      for (int64_t j = 0; j < n; j++) acc[j] = combine(op, acc[j], ax_cpu_load(rows[r] + j * s * es, dt));
  }
}

static inline void store(char *p, int dt, double v) {
  if (dt == AX_F32) *(float *)p = (float)v;
  else if (dt == AX_F64) *(double *)p = v;
  else ax_cpu_store(p, dt, v);
}

/* ---------------- rows: innermost dim reduced ---------------- */

typedef struct {
  int op, in_dt, out_dt;
  const char *in;
  char *out;
  int64_t in_es, out_es;
  dimlist kept, outer;   /* outer: the reduced dims other than the row */
  int64_t len, stride;   /* the row */
  int64_t nblk, units;   /* blocks per row; rows * blocks per output */
} rows_plan;

/* Unit u of the output whose input starts at base: block (u % nblk) of row (u / nblk). */
static double rows_unit(const rows_plan *P, const char *base, int64_t u) {
  int64_t r = u / P->nblk, b = u % P->nblk, off;
  dims_offset(&P->outer, r, &off, NULL);
  int64_t start = b * REDUCE_BLOCK, n = P->len - start;
  if (n > REDUCE_BLOCK) n = REDUCE_BLOCK;
  return block_reduce(P->op, P->in_dt, base + (off + start * P->stride) * P->in_es, n, P->stride);
}

/* One output per task; the units of an output in order. */
static void rows_by_output(const rows_plan *P, int64_t nout, bool parallel) {
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t o = 0; o < nout; o++) {
    int64_t ioff, ooff;
    dims_offset(&P->kept, o, &ioff, &ooff);
    const char *base = P->in + ioff * P->in_es;
    double acc = identity(P->op);
    for (int64_t u = 0; u < P->units; u++) acc = combine(P->op, acc, rows_unit(P, base, u));
    store(P->out + ooff * P->out_es, P->out_dt, acc);
  }
}

static void rows_run(rows_plan *P) {
  int64_t nout = dims_numel(&P->kept), total = nout * P->units * (P->len < REDUCE_BLOCK ? P->len : REDUCE_BLOCK);
  int nt = omp_get_max_threads();
  bool parallel = total >= AX_CPU_PARALLEL_MIN && nt > 1 && !omp_in_parallel();
  double *part = NULL;
  /* few outputs with long reductions: the units of each output in parallel, combined in the same order */
  if (parallel && nout < 4 * nt && P->units > 1) part = malloc((size_t)P->units * sizeof *part);
  if (!part) {
    rows_by_output(P, nout, parallel);
    return;
  }
  for (int64_t o = 0; o < nout; o++) {
    int64_t ioff, ooff;
    dims_offset(&P->kept, o, &ioff, &ooff);
    const char *base = P->in + ioff * P->in_es;
#pragma omp parallel for schedule(static)
    for (int64_t u = 0; u < P->units; u++) part[u] = rows_unit(P, base, u);
    double acc = identity(P->op);
    for (int64_t u = 0; u < P->units; u++) acc = combine(P->op, acc, part[u]);
    store(P->out + ooff * P->out_es, P->out_dt, acc);
  }
  free(part);
}

/* ---------------- cols: innermost dim kept ---------------- */

typedef struct {
  int op, in_dt, out_dt;
  const char *in;
  char *out;
  int64_t in_es, out_es;
  dimlist kept, red;              /* kept: without the strip dim */
  int64_t width, win, wout;       /* the strip dim: size and strides */
  int64_t nstrip, nchunk, chunk;  /* strips per kept index; chunks of the reduced index space */
} cols_plan;

static int64_t strip_width(const cols_plan *P, int64_t st) {
  int64_t w = P->width - st * COLS_WIDTH;
  return w < COLS_WIDTH ? w : COLS_WIDTH;
}

/* Accumulates reduced indices [r0, r1) of strip (o, st) into acc. */
static void cols_task(const cols_plan *P, int64_t o, int64_t st, int64_t r0, int64_t r1, double *acc) {
  int64_t ioff;
  dims_offset(&P->kept, o, &ioff, NULL);
  int64_t j0 = st * COLS_WIDTH, w = strip_width(P, st);
  for (int64_t j = 0; j < w; j++) acc[j] = identity(P->op);
  const char *base = P->in + (ioff + j0 * P->win) * P->in_es;
  /* odometer over the reduced dims, so each step is an add, not a division */
  int64_t idx[AX_MAX_DIMS], rem = r0, roff = 0;
  const dimlist *R = &P->red;
  for (int k = R->n - 1; k >= 0; k--) {
    idx[k] = rem % R->size[k];
    rem /= R->size[k];
    roff += idx[k] * R->in[k];
  }
  const char *rows[STRIP_ROWS];
  /* four rows at a time only pay off when the accumulators spill out of L1 (measured) */
  int nr = 0, group = w > 1024 ? STRIP_ROWS : 1;
  for (int64_t r = r0; r < r1; r++) {
    rows[nr++] = base + roff * P->in_es;
    if (nr == group || r + 1 == r1) {
      strip_accumulate(P->op, P->in_dt, acc, rows, nr, w, P->win);
      nr = 0;
    }
    for (int k = R->n - 1; k >= 0; k--) {
      roff += R->in[k];
      if (++idx[k] < R->size[k]) break;
      roff -= idx[k] * R->in[k];
      idx[k] = 0;
    }
  }
}

static void cols_store(const cols_plan *P, int64_t o, int64_t st, const double *acc) {
  int64_t ooff;
  dims_offset(&P->kept, o, &(int64_t){0}, &ooff);
  int64_t j0 = st * COLS_WIDTH, w = strip_width(P, st);
  char *p = P->out + (ooff + j0 * P->wout) * P->out_es;
  for (int64_t j = 0; j < w; j++) store(p + j * P->wout * P->out_es, P->out_dt, acc[j]);
}

/* Reduced-dim chunk c of strip s (a task) into acc. */
static void cols_chunk(const cols_plan *P, int64_t s, int64_t c, double *acc) {
  int64_t nred = dims_numel(&P->red), r0 = c * P->chunk, r1 = r0 + P->chunk;
  cols_task(P, s / P->nstrip, s % P->nstrip, r0, r1 < nred ? r1 : nred, acc);
}

static void combine_strip(int op, double *acc, const double *part, int64_t w) {
  for (int64_t j = 0; j < w; j++) acc[j] = combine(op, acc[j], part[j]);
}

static void cols_run(cols_plan *P) {
  int64_t nkept = dims_numel(&P->kept), nred = dims_numel(&P->red);
  int64_t strips = nkept * P->nstrip, tasks = strips * P->nchunk;
  bool parallel = nkept * P->width * nred >= AX_CPU_PARALLEL_MIN && omp_get_max_threads() > 1 && !omp_in_parallel();
  double *part = P->nchunk > 1 ? malloc((size_t)tasks * COLS_WIDTH * sizeof *part) : NULL;
  if (!part) { /* one task per strip, its chunks in order (also the fallback if the partials do not fit) */
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t s = 0; s < strips; s++) {
      double acc[COLS_WIDTH], tmp[COLS_WIDTH];
      cols_chunk(P, s, 0, acc);
      for (int64_t c = 1; c < P->nchunk; c++) {
        cols_chunk(P, s, c, tmp);
        combine_strip(P->op, acc, tmp, strip_width(P, s % P->nstrip));
      }
      cols_store(P, s / P->nstrip, s % P->nstrip, acc);
    }
    return;
  }
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t t = 0; t < tasks; t++) cols_chunk(P, t / P->nchunk, t % P->nchunk, part + t * COLS_WIDTH);
  for (int64_t s = 0; s < strips; s++) {
    double *acc = part + s * P->nchunk * COLS_WIDTH;
    for (int64_t c = 1; c < P->nchunk; c++)
      combine_strip(P->op, acc, acc + c * COLS_WIDTH, strip_width(P, s % P->nstrip));
    cols_store(P, s / P->nstrip, s % P->nstrip, acc);
  }
  free(part);
}

/* ---------------- entry points ---------------- */

ax_kstatus ax_cpu_reduce(int op, ax_kt *out, const ax_kt *in) {
  int64_t nin = 1, nout = 1;
  for (int d = 0; d < in->ndim; d++) nin *= in->shape[d];
  for (int d = 0; d < out->ndim; d++) nout *= out->shape[d];
  if (nout == 0) return AX_K_OK;
  if (nin == 0) { /* empty reduction: the identity (the op layer refuses it for max/min) */
    ax_cpu_fill(out, identity(op));
    return AX_K_OK;
  }
  layout L;
  make_layout(&L, out, in);
  if (L.red.n == 0) { /* every reduced dim has size 1 */
    ax_cpu_copy(out, in);
    return AX_K_OK;
  }
  int64_t in_es = (int64_t)ax_iter_elem_size(in->dtype), out_es = (int64_t)ax_iter_elem_size(out->dtype);
  if (L.inner_reduced) {
    rows_plan P = {.op = op, .in_dt = in->dtype, .out_dt = out->dtype, .in = in->data, .out = out->data,
                   .in_es = in_es, .out_es = out_es};
    P.kept = L.kept;
    P.outer = L.red;
    P.outer.n--;
    P.len = L.red.size[L.red.n - 1];
    P.stride = L.red.in[L.red.n - 1];
    P.nblk = (P.len + REDUCE_BLOCK - 1) / REDUCE_BLOCK;
    P.units = dims_numel(&P.outer) * P.nblk;
    rows_run(&P);
    return AX_K_OK;
  }
  cols_plan P = {.op = op, .in_dt = in->dtype, .out_dt = out->dtype, .in = in->data, .out = out->data,
                 .in_es = in_es, .out_es = out_es};
  P.kept = L.kept;
  P.kept.n--;
  P.red = L.red;
  P.width = L.kept.size[L.kept.n - 1];
  P.win = L.kept.in[L.kept.n - 1];
  P.wout = L.kept.out[L.kept.n - 1];
  P.nstrip = (P.width + COLS_WIDTH - 1) / COLS_WIDTH;
  int64_t nred = dims_numel(&P.red), w = P.width < COLS_WIDTH ? P.width : COLS_WIDTH;
  /* split the reduced dims only when there are few strips; decided from shapes alone */
  P.chunk = nred;
  if (dims_numel(&P.kept) * P.nstrip < COLS_MAX_CHUNKS) {
    int64_t by_size = (COLS_CHUNK + w - 1) / w, by_count = (nred + COLS_MAX_CHUNKS - 1) / COLS_MAX_CHUNKS;
    P.chunk = by_size > by_count ? by_size : by_count;
    if (P.chunk > nred) P.chunk = nred;
  }
  P.nchunk = (nred + P.chunk - 1) / P.chunk;
  cols_run(&P);
  return AX_K_OK;
}

/* ---------------- arg-reductions ---------------- */

/* Index of the max (min) of n elements with stride s: first occurrence, first NaN wins. */
#define DEFINE_ARG(NAME, T, BETTER)                                    \
  static int64_t NAME(const T *x, int64_t n, int64_t s) {              \
    int64_t best = 0;                                                  \
    T b = x[0];                                                        \
    if (b != b) return 0;                                              \
    for (int64_t i = 1; i < n; i++) {                                  \
      T v = x[i * s];                                                  \
      if (v != v) return i;                                            \
      if (v BETTER b) {                                                \
        b = v;                                                         \
        best = i;                                                      \
      }                                                                \
    }                                                                  \
    return best;                                                       \
  }

DEFINE_ARG(argmax_f32, float, >)
DEFINE_ARG(argmin_f32, float, <)
DEFINE_ARG(argmax_f64, double, >)
DEFINE_ARG(argmin_f64, double, <)

static int64_t arg_generic(int op, int dt, const char *p, int64_t n, int64_t s) {
  int64_t es = (int64_t)ax_iter_elem_size(dt), best = 0;
  double b = ax_cpu_load(p, dt);
  if (b != b) return 0;
  for (int64_t i = 1; i < n; i++) {
    double v = ax_cpu_load(p + i * s * es, dt);
    if (v != v) return i;
    if (op == AX_REDUCE_MAX ? v > b : v < b) {
      b = v;
      best = i;
    }
  }
  return best;
}

static int64_t arg_index(int op, int dt, const char *p, int64_t n, int64_t s) {
  if (dt == AX_F32) return op == AX_REDUCE_MAX ? argmax_f32((const float *)p, n, s) : argmin_f32((const float *)p, n, s);
  if (dt == AX_F64) return op == AX_REDUCE_MAX ? argmax_f64((const double *)p, n, s) : argmin_f64((const double *)p, n, s);
  return arg_generic(op, dt, p, n, s);
}

ax_kstatus ax_cpu_arg_reduce(int op, ax_kt *values, ax_kt *indices, const ax_kt *in, int dim) {
  int64_t n = in->shape[dim], s = in->strides[dim];
  /* the other dims: input strides and index strides; value strides kept alongside */
  dimlist d = {0}, dv = {0};
  for (int k = 0; k < in->ndim; k++) {
    if (k == dim) continue;
    d.size[d.n] = dv.size[d.n] = in->shape[k];
    d.in[d.n] = dv.in[d.n] = in->strides[k];
    d.out[d.n] = indices->strides[k];
    dv.out[d.n] = values ? values->strides[k] : 0;
    d.n++;
    dv.n++;
  }
  int64_t nout = dims_numel(&d);
  if (n == 0 || nout == 0) return AX_K_OK;
  int dt = in->dtype;
  int64_t es = (int64_t)ax_iter_elem_size(dt);
  bool parallel = nout * n >= AX_CPU_PARALLEL_MIN && nout > 1 && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t o = 0; o < nout; o++) {
    int64_t ioff, xoff, voff;
    dims_offset(&d, o, &ioff, &xoff);
    const char *p = (const char *)in->data + ioff * es;
    int64_t i = arg_index(op, dt, p, n, s);
    ((int64_t *)indices->data)[xoff] = i;
    if (values) {
      dims_offset(&dv, o, &ioff, &voff);
      char *v = (char *)values->data + voff * es;
      memcpy(v, p + i * s * es, (size_t)es);
    }
  }
  return AX_K_OK;
}
