/* SPDX-License-Identifier: BSD-3-Clause */
/* Flash attention on the CPU: the T x T score matrix is never stored.
 *
 * Forward: one task per (batch, head, tile of QT query rows), OpenMP over all
 * tasks. A task walks the key tiles of KT keys that its rows can see (under
 * causal, the tiles right of the diagonal are skipped) and keeps, per query
 * row, the running max m, the running sum l of exp(s - m) and the unnormalized
 * output in a QT x D accumulator: the online softmax. Each tile is two small
 * GEMMs through the CPU GEMM kernel (packed, vectorized micro-kernels):
 *   S = scale * Q K^T       [QT x KT]
 *   acc = acc * c + P V      c = exp(m_old - m_new) rescales the earlier tiles
 * and the elementwise work between them (mask, max, exp) runs over contiguous
 * rows of S, which the compiler vectorizes. The row's log-sum-exp m + log(l)
 * is saved for the backward.
 *
 * Backward: one task per (batch, head), which owns that head's rows of gq, gk
 * and gv, so there are no races and the sums run in a fixed order (the same
 * bits every run). Per (query tile, key tile) it recomputes P = exp(S - lse)
 * and runs five GEMMs:
 *   dP = dO V^T,  dV += (P Z)^T dO,  dS = P (Z dP - D_i),  dQ += scale dS K,
 *   dK += scale dS^T Q
 * where D_i = rowsum(dO * O) and Z the dropout factors (0 or 1/(1-p)).
 *
 * A query row that sees no key has lse = +inf (so exp(s - lse) is 0 in the
 * backward) and output 0. Dropout draws the Philox uniform of element
 * ((b*H + h)*Tq + i)*Tk + j, exactly as ax_cpu_random would for a contiguous
 * [B, H, Tq, Tk] tensor (f64 from two words, f32 from one, compared with p
 * in that precision, like dropout.c).
 *
 * f32 and f64 share one body: the bottom of this file is included twice (the
 * pattern of gemm.c). */
#ifndef AX_ATTN_BODY

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu.h"
#include "kernels/cpu/vmath.h"
#include "kernels/philox.h"

#define QT 64  /* query rows per tile */
#define KT 128 /* keys per tile: the whole sequence at GPT-on-CPU sizes (T = 128) */

/* Keys [0, end) are visible to query i (causal, bottom-right aligned). */
static int64_t visible_end(const ax_attn_params *p, int64_t i) {
  if (!p->causal) return p->tk;
  int64_t e = i + p->tk - p->tq + 1;
  return e < 0 ? 0 : e > p->tk ? p->tk : e;
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

static void *scratch(size_t nbytes) {
  return aligned_alloc(64, (nbytes + 63) & ~(size_t)63); /* NULL: the kernel fails with AX_K_NOMEM */
}

/* Set when a tile's GEMM found no scratch, on the thread that ran it; each thread
 * hands it to the kernel's status at the end of its parallel region. */
static _Thread_local int tile_failed;

/* The GEMM of one tile product: C = alpha * op(A) op(B) + beta * C, unit batch. */
static void tile_gemm(int dtype, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                      const void *a, int64_t lda, const void *b, int64_t ldb, double beta, void *c, int64_t ldc) {
  ax_gemm_args g = {.dtype = dtype, .trans_a = trans_a, .trans_b = trans_b, .m = m, .n = n, .k = k,
                    .alpha = alpha, .beta = beta, .a = a, .lda = lda, .b = b, .ldb = ldb, .c = c, .ldc = ldc,
                    .batch = 1};
  if (ax_cpu_gemm(&g) != AX_K_OK) tile_failed = 1;
}

#define AX_ATTN_CAT_(a, b) a##_##b
#define AX_ATTN_CAT(a, b) AX_ATTN_CAT_(a, b)
#define FN(name) AX_ATTN_CAT(name, AX_ATTN_SUFFIX)

#define AX_ATTN_BODY
#define T float
#define AX_ATTN_SUFFIX f32
#define AX_ATTN_DTYPE AX_F32
#define EXP(x) ax_fast_expf(x)
#define LOG(x) logf(x)
#define UNIFORM(r) ax_uint_to_unit_float((r).v[0])
#include "attention.c"
#undef T
#undef AX_ATTN_SUFFIX
#undef AX_ATTN_DTYPE
#undef EXP
#undef LOG
#undef UNIFORM

#define T double
#define AX_ATTN_SUFFIX f64
#define AX_ATTN_DTYPE AX_F64
#define EXP(x) exp(x)
#define LOG(x) log(x)
#define UNIFORM(r) ax_uint2_to_unit_double((r).v[0], (r).v[1])
#include "attention.c"
#undef T
#undef AX_ATTN_SUFFIX
#undef AX_ATTN_DTYPE
#undef EXP
#undef LOG
#undef UNIFORM
#undef AX_ATTN_BODY

ax_kstatus ax_cpu_attention(ax_kt *out, ax_kt *lse, const ax_kt *q, const ax_kt *k, const ax_kt *v, const ax_kt *mask,
                      const ax_attn_params *p) {
  if (q->dtype == AX_F64) return attention_f64(out, lse, q, k, v, mask, p);
  return attention_f32(out, lse, q, k, v, mask, p);
}

ax_kstatus ax_cpu_attention_backward(ax_kt *gq, ax_kt *gk, ax_kt *gv, const ax_kt *gout, const ax_kt *q, const ax_kt *k,
                               const ax_kt *v, const ax_kt *out, const ax_kt *lse, const ax_kt *mask,
                               const ax_attn_params *p) {
  if (q->dtype == AX_F64) return attention_backward_f64(gq, gk, gv, gout, q, k, v, out, lse, mask, p);
  return attention_backward_f32(gq, gk, gv, gout, q, k, v, out, lse, mask, p);
}

#else /* AX_ATTN_BODY: one element type T */

/* Row i of head (b, h) of a [B, H, T, D] view (unit stride on D). */
static T *FN(row)(const ax_kt *t, int64_t b, int64_t h, int64_t i) {
  return (T *)t->data + b * t->strides[0] + h * t->strides[1] + i * t->strides[2];
}

/* Scores of query rows [i0, i0 + rows) x keys [j0, j0 + cols) of head (b, h), in s
 * (row stride KT): the mask is added (float) or applied (bool), and keys the row
 * cannot see under causal become -inf. */
static void FN(mask_tile)(T *s, int64_t rows, int64_t cols, int64_t i0, int64_t j0, const ax_kt *mask, int64_t b,
                          int64_t h, const ax_attn_params *p) {
  for (int64_t r = 0; r < rows; r++) {
    T *row = s + r * KT;
    if (mask) {
      int64_t off = b * mask->strides[0] + h * mask->strides[1] + (i0 + r) * mask->strides[2] + j0 * mask->strides[3];
      int64_t ms = mask->strides[3];
      if (mask->dtype == AX_BOOL) {
        const uint8_t *m = (const uint8_t *)mask->data + off;
        for (int64_t c = 0; c < cols; c++)
          if (!m[c * ms]) row[c] = -INFINITY;
      } else {
        const T *m = (const T *)mask->data + off;
        for (int64_t c = 0; c < cols; c++) row[c] += m[c * ms];
      }
    }
    int64_t hidden = visible_end(p, i0 + r) - j0; /* first key of the tile this row cannot see */
    for (int64_t c = hidden < 0 ? 0 : hidden; c < cols; c++) row[c] = -INFINITY;
  }
}

/* Dropout factors of one tile row: 0 where the draw is < p, else 1/(1-p). */
static void FN(dropout_row)(T *z, int64_t cols, uint64_t first, const ax_attn_params *p) {
  T thr = (T)p->dropout_p, keep = (T)(p->dropout_p < 1 ? 1.0 / (1.0 - p->dropout_p) : 0.0);
  for (int64_t c = 0; c < cols; c++) {
    ax_philox4 r = ax_philox4x32_10(first + (uint64_t)c, p->offset, p->seed);
    z[c] = UNIFORM(r) < thr ? 0 : keep;
  }
}

static T FN(row_max)(const T *x, int64_t n) {
  T m = -INFINITY;
#pragma omp simd reduction(max : m)
  for (int64_t c = 0; c < n; c++) m = x[c] > m ? x[c] : m;
  return m;
}

/* One (b, h, query tile) of the forward. s: QT x KT, z: KT, acc: QT x D, m, l: QT. */
static void FN(forward_tile)(ax_kt *out, ax_kt *lse, const ax_kt *q, const ax_kt *k, const ax_kt *v,
                             const ax_kt *mask, const ax_attn_params *p, int64_t b, int64_t h, int64_t i0,
                             T *s, T *z, T *acc, T *m, T *l) {
  const int64_t d = p->d, rows = min64(QT, p->tq - i0), kend = visible_end(p, i0 + rows - 1);
  for (int64_t r = 0; r < rows; r++) m[r] = -INFINITY, l[r] = 0;
  memset(acc, 0, sizeof(T) * (size_t)(rows * d));
  for (int64_t j0 = 0; j0 < kend; j0 += KT) {
    int64_t cols = min64(KT, kend - j0);
    tile_gemm(AX_ATTN_DTYPE, 0, 1, rows, cols, d, p->scale, FN(row)(q, b, h, i0), q->strides[2],
              FN(row)(k, b, h, j0), k->strides[2], 0, s, KT);
    FN(mask_tile)(s, rows, cols, i0, j0, mask, b, h, p);
    for (int64_t r = 0; r < rows; r++) {
      T *srow = s + r * KT, *arow = acc + r * d;
      T mnew = FN(row_max)(srow, cols);
      mnew = mnew > m[r] ? mnew : m[r];
      if (mnew == -INFINITY) { /* nothing visible yet in this row */
        memset(srow, 0, sizeof(T) * (size_t)cols);
        continue;
      }
      T corr = EXP(m[r] - mnew), sum = 0; /* exp(-inf) = 0 on the first visible tile */
#pragma omp simd reduction(+ : sum)
      for (int64_t c = 0; c < cols; c++) {
        T e = srow[c] == -INFINITY ? 0 : EXP(srow[c] - mnew);
        srow[c] = e;
        sum += e;
      }
      l[r] = l[r] * corr + sum;
      m[r] = mnew;
      if (corr != 1)
        for (int64_t c = 0; c < d; c++) arow[c] *= corr;
      if (p->dropout_p > 0) {
        FN(dropout_row)(z, cols, (uint64_t)(((b * p->h + h) * p->tq + i0 + r) * p->tk + j0), p);
        for (int64_t c = 0; c < cols; c++) srow[c] *= z[c];
      }
    }
    tile_gemm(AX_ATTN_DTYPE, 0, 0, rows, d, cols, 1, s, KT, FN(row)(v, b, h, j0), v->strides[2], 1, acc, d);
  }
  T *lrow = (T *)lse->data + (b * p->h + h) * p->tq + i0;
  for (int64_t r = 0; r < rows; r++) {
    T inv = l[r] > 0 ? 1 / l[r] : 0, *orow = FN(row)(out, b, h, i0 + r);
    for (int64_t c = 0; c < d; c++) orow[c] = acc[r * d + c] * inv;
    lrow[r] = l[r] > 0 ? m[r] + LOG(l[r]) : (T)INFINITY;
  }
}

static ax_kstatus FN(attention)(ax_kt *out, ax_kt *lse, const ax_kt *q, const ax_kt *k, const ax_kt *v,
                          const ax_kt *mask, const ax_attn_params *p) {
  const int64_t tiles = (p->tq + QT - 1) / QT, tasks = p->b * p->h * tiles;
  double work = (double)p->b * p->h * p->tq * p->tk * p->d;
  int failed = 0;
#pragma omp parallel if (work >= AX_CPU_PARALLEL_MIN * 16.0)
  {
    tile_failed = 0;
    T *s = scratch(sizeof(T) * (QT * KT + KT + QT * p->d + 2 * QT));
    T *z = NULL, *acc = NULL, *m = NULL, *l = NULL;
    if (s) z = s + QT * KT, acc = z + KT, m = acc + QT * p->d, l = m + QT;
#pragma omp for schedule(dynamic)
    for (int64_t t = 0; t < tasks; t++) {
      if (!s) continue; /* every thread must reach the loop */
      int64_t bh = t / tiles, i0 = (t % tiles) * QT;
      FN(forward_tile)(out, lse, q, k, v, mask, p, bh / p->h, bh % p->h, i0, s, z, acc, m, l);
    }
    free(s);
    if (!s || tile_failed) {
#pragma omp atomic write
      failed = 1;
    }
  }
  return failed ? ax_cpu_fail(AX_K_NOMEM, "out of memory for attention scratch") : AX_K_OK;
}

static void FN(zero_rows)(const ax_kt *t, int64_t b, int64_t h, int64_t n, int64_t d) {
  for (int64_t i = 0; i < n; i++) memset(FN(row)(t, b, h, i), 0, sizeof(T) * (size_t)d);
}

/* One (b, h) of the backward. s, dp, pz: QT x KT; di: QT. */
static void FN(backward_head)(ax_kt *gq, ax_kt *gk, ax_kt *gv, const ax_kt *gout, const ax_kt *q, const ax_kt *k,
                              const ax_kt *v, const ax_kt *out, const ax_kt *lse, const ax_kt *mask,
                              const ax_attn_params *p, int64_t b, int64_t h, T *s, T *dp, T *pz, T *di) {
  const int64_t d = p->d;
  FN(zero_rows)(gq, b, h, p->tq, d);
  FN(zero_rows)(gk, b, h, p->tk, d);
  FN(zero_rows)(gv, b, h, p->tk, d);
  const T *lrow = (const T *)lse->data + (b * p->h + h) * p->tq;
  for (int64_t i0 = 0; i0 < p->tq; i0 += QT) {
    const int64_t rows = min64(QT, p->tq - i0), kend = visible_end(p, i0 + rows - 1);
    for (int64_t r = 0; r < rows; r++) {
      const T *o = FN(row)(out, b, h, i0 + r), *g = FN(row)(gout, b, h, i0 + r);
      T sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t c = 0; c < d; c++) sum += o[c] * g[c];
      di[r] = sum;
    }
    const T *qrows = FN(row)(q, b, h, i0), *grows = FN(row)(gout, b, h, i0);
    for (int64_t j0 = 0; j0 < kend; j0 += KT) {
      int64_t cols = min64(KT, kend - j0);
      const T *krows = FN(row)(k, b, h, j0), *vrows = FN(row)(v, b, h, j0);
      tile_gemm(AX_ATTN_DTYPE, 0, 1, rows, cols, d, p->scale, qrows, q->strides[2], krows, k->strides[2], 0, s, KT);
      FN(mask_tile)(s, rows, cols, i0, j0, mask, b, h, p);
      for (int64_t r = 0; r < rows; r++) {
        T *srow = s + r * KT, L = lrow[i0 + r];
#pragma omp simd
        for (int64_t c = 0; c < cols; c++) srow[c] = srow[c] == -INFINITY || L == INFINITY ? 0 : EXP(srow[c] - L);
      }
      tile_gemm(AX_ATTN_DTYPE, 0, 1, rows, cols, d, 1, grows, gout->strides[2], vrows, v->strides[2], 0, dp, KT);
      const T *pv = s; /* the weights that multiplied V: P, or P Z under dropout */
      if (p->dropout_p > 0) {
        for (int64_t r = 0; r < rows; r++) {
          T *zrow = pz + r * KT, *srow = s + r * KT, *dprow = dp + r * KT;
          FN(dropout_row)(zrow, cols, (uint64_t)(((b * p->h + h) * p->tq + i0 + r) * p->tk + j0), p);
          for (int64_t c = 0; c < cols; c++) {
            dprow[c] *= zrow[c];
            zrow[c] *= srow[c];
          }
        }
        pv = pz;
      }
      tile_gemm(AX_ATTN_DTYPE, 1, 0, cols, d, rows, 1, pv, KT, grows, gout->strides[2], 1, FN(row)(gv, b, h, j0),
                gv->strides[2]);
      for (int64_t r = 0; r < rows; r++) {
        T *srow = s + r * KT, *dprow = dp + r * KT, dr = di[r];
#pragma omp simd
        for (int64_t c = 0; c < cols; c++) srow[c] *= dprow[c] - dr;
      }
      tile_gemm(AX_ATTN_DTYPE, 0, 0, rows, d, cols, p->scale, s, KT, krows, k->strides[2], 1,
                FN(row)(gq, b, h, i0), gq->strides[2]);
      tile_gemm(AX_ATTN_DTYPE, 1, 0, cols, d, rows, p->scale, s, KT, qrows, q->strides[2], 1,
                FN(row)(gk, b, h, j0), gk->strides[2]);
    }
  }
}

static ax_kstatus FN(attention_backward)(ax_kt *gq, ax_kt *gk, ax_kt *gv, const ax_kt *gout, const ax_kt *q,
                                   const ax_kt *k, const ax_kt *v, const ax_kt *out, const ax_kt *lse,
                                   const ax_kt *mask, const ax_attn_params *p) {
  const int64_t heads = p->b * p->h;
  double work = (double)heads * p->tq * p->tk * p->d;
  int failed = 0;
#pragma omp parallel if (heads > 1 && work >= AX_CPU_PARALLEL_MIN * 16.0)
  {
    tile_failed = 0;
    T *s = scratch(sizeof(T) * (3 * QT * KT + QT));
    T *dp = NULL, *pz = NULL, *di = NULL;
    if (s) dp = s + QT * KT, pz = dp + QT * KT, di = pz + QT * KT;
#pragma omp for schedule(dynamic)
    for (int64_t bh = 0; bh < heads; bh++)
      if (s) FN(backward_head)(gq, gk, gv, gout, q, k, v, out, lse, mask, p, bh / p->h, bh % p->h, s, dp, pz, di);
    free(s);
    if (!s || tile_failed) {
#pragma omp atomic write
      failed = 1;
    }
  }
  return failed ? ax_cpu_fail(AX_K_NOMEM, "out of memory for attention scratch") : AX_K_OK;
}

#endif /* AX_ATTN_BODY */
