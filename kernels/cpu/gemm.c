/* SPDX-License-Identifier: BSD-3-Clause */
/* Blocked GEMM in the style of GotoBLAS / BLIS, in portable C.
 *
 * C = alpha * op(A) op(B) + beta * C is computed as a sum over KC-deep slabs:
 *
 *   for jc in n, step NC        B block [KC x NC] is packed once and shared by
 *     for pc in k, step KC      all threads; it lives in L3 (or L2).
 *       pack B block
 *       for ic in m, step MC    each thread packs its own A blocks [MC x KC],
 *         pack A block          which stay in its L2 ...
 *         for jr in nc, step NR     ... while one B micro-panel [KC x NR]
 *           for ir in mc, step MR       stays in L1 and the A micro-panels
 *             micro-kernel              stream past it.
 *
 * Packing reorders each micro-panel so the micro-kernel reads both operands
 * contiguously, absorbs trans_a / trans_b (no whole-matrix copies) and pads
 * the edges, so the micro-kernel always computes a full MR x NR tile and only
 * the write-back knows about ragged edges. The padding is zeros, not whatever
 * the scratch held: those lanes are never stored, but stale denormals in them
 * would still slow every FMA.
 *
 * Threads: each KC slab, all threads pack the B block together, then claim
 * blocks of rows of C (at most MC) from a shared counter in shrinking chunks,
 * so a thread that shares its core with other work does less of the slab
 * instead of holding everyone up at the barrier. When m is too short to go
 * round, threads split the columns instead. Problems under about 2 MFLOP run
 * on the calling thread; batches of small matrices give each thread whole
 * matrices. m == 1 or n == 1 skips packing (which would pad the single row or
 * column out to a whole micro-tile) for a plain matrix-vector loop.
 *
 * The micro-kernel keeps an MR x NR accumulator tile in vector registers: per
 * k step it loads NR/VL vectors of B and broadcasts MR scalars of A into
 * MR * NR/VL fused multiply-adds. It is written with GCC vector extensions
 * sized from the -march the library was built with (AVX-512: 64-byte vectors
 * and 32 registers; AVX: 32 bytes and 16 registers; anything else: 16 bytes),
 * so the same C builds everywhere and becomes zmm FMAs with -march=native on
 * an AVX-512 machine.
 *
 * f32 and f64 share one body: the bottom of this file is included once per
 * element type (a C template). bf16 and f16 reuse the f32 body with a second
 * type S for the stored operands: packing converts S to f32 (the packs are
 * written anyway, so the conversion is free next to the O(mnk) FMAs), C is
 * accumulated in an f32 buffer over every KC slab and rounded to S once at the
 * end. That is exactly what tensor cores compute (16-bit inputs, f32
 * accumulation, one rounding of the result), at the f32 kernel's speed.
 */
#ifndef AX_GEMM_BODY

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "kernels/cpu/cpu.h"
#include "kernels/half.h"

/* ISO C mode (-std=c11) turns GCC's fp-contract off, and a*b + c on vectors
 * must become an FMA or the micro-kernel runs at half speed. Clang contracts
 * within one expression by default. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=fast")
#endif

#if defined(__AVX512F__)
#define AX_GEMM_VEC_BYTES 64
#define AX_GEMM_MR 12 /* 12 x 2 accumulators + 2 B vectors of 32 zmm registers */
#elif defined(__AVX__)
#define AX_GEMM_VEC_BYTES 32
#define AX_GEMM_MR 6 /* 6 x 2 accumulators + 2 B + 1 broadcast of 16 ymm registers */
#else
#define AX_GEMM_VEC_BYTES 16
#define AX_GEMM_MR 6
#endif
#define AX_GEMM_NV 2 /* vectors across a micro-tile row: NR = NV * VL */

/* Below this many FLOPs a GEMM runs on the calling thread: waking the team
 * costs more than it saves. */
#define AX_GEMM_PARALLEL_MIN_FLOPS (1 << 21)

/* set by ax_cpu_fail_next_scratch_alloc (kernels/cpu/isa.c): one flag for every ISA copy */
extern atomic_int ax__cpu_fail_next_scratch;
#define fail_next_scratch ax__cpu_fail_next_scratch

static void *alloc_aligned(size_t nbytes) {
  nbytes = (nbytes + 63) & ~(size_t)63;
  void *p = atomic_exchange(&fail_next_scratch, 0) ? NULL : aligned_alloc(64, nbytes ? nbytes : 64);
  if (!p) ax_cpu_fail(AX_K_NOMEM, "out of memory for %zu bytes of GEMM scratch", nbytes);
  return p;
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Share `count` units among `parts` workers as evenly as possible. */
static void split_range(int64_t count, int parts, int index, int64_t *lo, int64_t *hi) {
  *lo = count * index / parts;
  *hi = count * (index + 1) / parts;
}

/* Arrange nt threads as a tm x tn grid over the (m panels, n panels) of C:
 * splitting m gives each thread its own A block and lets all share one B
 * block, so it is preferred; n is split only when m is too short to keep
 * every thread busy. */
static void choose_thread_grid(int nt, int64_t m_panels, int64_t n_panels, int *tm, int *tn) {
  int64_t best = -1;
  *tm = nt;
  *tn = 1;
  for (int cand = nt; cand >= 1; cand--) {
    if (nt % cand) continue;
    int64_t cost = ceil_div(m_panels, cand) * ceil_div(n_panels, nt / cand);
    if (best < 0 || cost < best) {
      best = cost;
      *tm = cand;
      *tn = nt / cand;
    }
  }
}

/* Which blocks of rows of C a thread packs and computes within one KC slab.
 * Shared (several threads over all of m): rows are claimed from a common
 * counter in chunks that shrink as the work runs out (guided scheduling), so a
 * thread slowed by other work on its core costs the team only its last small
 * chunk. Private: the thread walks its own fixed range. */
typedef struct row_schedule {
  atomic_llong *next; /* shared next MR panel, or NULL for a private range */
  int64_t cursor, end; /* in rows (private) */
  int64_t m, max_rows; /* rows in all; MC */
  int64_t mr;
  int nt;
} row_schedule;

static int next_row_block(row_schedule *s, int64_t *ic, int64_t *mc) {
  if (!s->next) {
    if (s->cursor >= s->end) return 0;
    *ic = s->cursor;
    *mc = min64(s->max_rows, s->end - s->cursor);
    s->cursor += *mc;
    return 1;
  }
  int64_t panels = ceil_div(s->m, s->mr), max_panels = s->max_rows / s->mr;
  long long cur = atomic_load_explicit(s->next, memory_order_relaxed);
  for (;;) {
    if (cur >= panels) return 0;
    int64_t chunk = (panels - cur) / (2 * s->nt);
    chunk = chunk < 1 ? 1 : chunk > max_panels ? max_panels : chunk;
    if (atomic_compare_exchange_weak_explicit(s->next, &cur, cur + chunk, memory_order_relaxed,
                                              memory_order_relaxed)) {
      *ic = cur * s->mr;
      *mc = min64(chunk * s->mr, s->m - *ic);
      return 1;
    }
  }
}

#define AX_GEMM_CAT_(a, b) a##_##b
#define AX_GEMM_CAT(a, b) AX_GEMM_CAT_(a, b)
#define FN(name) AX_GEMM_CAT(name, AX_GEMM_SUFFIX)

#define AX_GEMM_BODY
/* S: the stored type of A, B and C; LOAD / STORE convert it to and from T. */
#define AX_GEMM_CONVERT 0
#define S T
#define LOAD(x) (x)
/* f32, sized for Zen 4 / Skylake-X class cores (32 KiB L1, 1 MiB L2): the A
 * block (MC x KC x 4 B = 144 KiB) stays in L2 and the shared B block (KC x NC
 * x 4 B = 4 MiB) in L3. The B micro-panel (KC x NR x 4 B = 32 KiB with
 * AVX-512) fills L1, yet KC = 256 measured faster than 192 or 128: fewer
 * passes over C. MC is a multiple of MR and NC of NR for every vector width. */
#define T float
#define AX_GEMM_SUFFIX f32
#define AX_GEMM_MC 144
#define AX_GEMM_KC 256
#define AX_GEMM_NC 4096
#include "gemm.c"
#undef T
#undef AX_GEMM_SUFFIX
#undef AX_GEMM_MC
#undef AX_GEMM_KC
#undef AX_GEMM_NC

/* f64: the same bytes per block as f32 (the B micro-panel has half the columns). */
#define T double
#define AX_GEMM_SUFFIX f64
#define AX_GEMM_MC 72
#define AX_GEMM_KC 256
#define AX_GEMM_NC 2048
#include "gemm.c"
#undef T
#undef AX_GEMM_SUFFIX
#undef AX_GEMM_MC
#undef AX_GEMM_KC
#undef AX_GEMM_NC
#undef AX_GEMM_CONVERT
#undef S
#undef LOAD

/* bf16 / f16: f32 arithmetic and blocking over 16-bit storage. */
#define AX_GEMM_CONVERT 1
#define T float
#define S uint16_t
#define AX_GEMM_MC 144
#define AX_GEMM_KC 256
#define AX_GEMM_NC 4096
#define AX_GEMM_SUFFIX bf16
#define LOAD(x) ax_bf16_to_f32(x)
#define STORE(x) ax_f32_to_bf16(x)
#include "gemm.c"
#undef AX_GEMM_SUFFIX
#undef LOAD
#undef STORE
#define AX_GEMM_SUFFIX f16
#define LOAD(x) ax_f16_to_f32(x)
#define STORE(x) ax_f32_to_f16(x)
#include "gemm.c"
#undef AX_GEMM_SUFFIX
#undef LOAD
#undef STORE
#undef T
#undef S
#undef AX_GEMM_MC
#undef AX_GEMM_KC
#undef AX_GEMM_NC
#undef AX_GEMM_CONVERT
#undef AX_GEMM_BODY

ax_kstatus ax_cpu_gemm(const ax_gemm_args *args) {
  if (args->m <= 0 || args->n <= 0 || args->batch <= 0) return AX_K_OK;
  switch (args->dtype) {
  case AX_F32: return gemm_f32(args);
  case AX_F64: return gemm_f64(args);
  case AX_BF16: return gemm_bf16(args);
  case AX_F16: return gemm_f16(args);
  default: return ax_cpu_fail(AX_K_UNSUPPORTED, "no CPU GEMM for dtype %d", args->dtype);
  }
}

#else /* AX_GEMM_BODY: one element type T */

#define VL ((int64_t)(AX_GEMM_VEC_BYTES / sizeof(T)))
#define MR ((int64_t)AX_GEMM_MR)
#define NR ((int64_t)(AX_GEMM_NV * AX_GEMM_VEC_BYTES / sizeof(T)))
#define MC ((int64_t)AX_GEMM_MC)
#define KC ((int64_t)AX_GEMM_KC)
#define NC ((int64_t)AX_GEMM_NC)

typedef T FN(vec) __attribute__((vector_size(AX_GEMM_VEC_BYTES)));

/* Pack op(A)[0:mc, 0:kc] (a points at its element [0][0]) as MR-row panels,
 * each stored k-major: panel[p * MR + i]. Rows past mc are zero. */
static void FN(pack_a)(int64_t mc, int64_t kc, const S *a, int64_t lda, int trans,
                       T *restrict buf) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR) {
    int64_t mr = min64(MR, mc - i0);
    T *restrict dst = buf + i0 * kc;
    if (!trans) {
      /* row i of the panel is contiguous in A: read rows, write strided */
      for (int64_t i = 0; i < mr; i++) {
        const S *src = a + (i0 + i) * lda;
        for (int64_t p = 0; p < kc; p++) dst[p * MR + i] = LOAD(src[p]);
      }
    } else {
      for (int64_t p = 0; p < kc; p++) {
        const S *src = a + p * lda + i0;
        for (int64_t i = 0; i < mr; i++) dst[p * MR + i] = LOAD(src[i]);
      }
    }
    if (mr < MR)
      for (int64_t p = 0; p < kc; p++)
        for (int64_t i = mr; i < MR; i++) dst[p * MR + i] = 0;
  }
}

/* Pack NR-column panel j0 of op(B)[0:kc, 0:nc] (b points at element [0][0]),
 * k-major: panel[p * NR + j]. Columns past nc are zero. */
static void FN(pack_b_panel)(int64_t j0, int64_t nc, int64_t kc, const S *b, int64_t ldb,
                             int trans, T *restrict buf) {
  int64_t nr = min64(NR, nc - j0);
  T *restrict dst = buf + j0 * kc;
  if (!trans) {
    for (int64_t p = 0; p < kc; p++) {
      const S *src = b + p * ldb + j0;
      if (nr == NR && !AX_GEMM_CONVERT) {
        memcpy(dst + p * NR, src, NR * sizeof(T));
      } else {
        for (int64_t j = 0; j < nr; j++) dst[p * NR + j] = LOAD(src[j]);
        for (int64_t j = nr; j < NR; j++) dst[p * NR + j] = 0;
      }
    }
  } else {
    /* column j of the panel is row j0 + j of the stored B */
    for (int64_t j = 0; j < nr; j++) {
      const S *src = b + (j0 + j) * ldb;
      for (int64_t p = 0; p < kc; p++) dst[p * NR + j] = LOAD(src[p]);
    }
    for (int64_t j = nr; j < NR; j++)
      for (int64_t p = 0; p < kc; p++) dst[p * NR + j] = 0;
  }
}

/* C[0:mr, 0:nr] = alpha * (packed A panel x packed B panel) + beta * C;
 * beta == 0 never reads C. */
static void FN(micro_kernel)(int64_t kc, const T *restrict a, const T *restrict b, T *c,
                             int64_t ldc, int64_t mr, int64_t nr, T alpha, T beta) {
  typedef FN(vec) vec;
  vec acc[AX_GEMM_MR][AX_GEMM_NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
    for (int v = 0; v < AX_GEMM_NV; v++) acc[i][v] = (vec){0};

  for (int64_t p = 0; p < kc; p++) {
    vec bv[AX_GEMM_NV];
#pragma GCC unroll 4
    for (int v = 0; v < AX_GEMM_NV; v++) memcpy(&bv[v], b + p * NR + v * VL, sizeof(vec));
#pragma GCC unroll 32
    for (int i = 0; i < MR; i++) {
      T ai = a[p * MR + i];
#pragma GCC unroll 4
      for (int v = 0; v < AX_GEMM_NV; v++) acc[i][v] += bv[v] * ai;
    }
  }

  if (mr == MR && nr == NR) {
#pragma GCC unroll 32
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
      for (int v = 0; v < AX_GEMM_NV; v++) {
        T *cp = c + i * ldc + v * VL;
        vec out = acc[i][v] * alpha;
        if (beta != 0) {
          vec old;
          memcpy(&old, cp, sizeof(vec));
          out += old * beta;
        }
        memcpy(cp, &out, sizeof(vec));
      }
  } else {
    T tile[AX_GEMM_MR][AX_GEMM_NV * AX_GEMM_VEC_BYTES / sizeof(T)];
    memcpy(tile, acc, sizeof(tile));
    for (int64_t i = 0; i < mr; i++)
      for (int64_t j = 0; j < nr; j++) {
        T out = alpha * tile[i][j];
        if (beta != 0) out += beta * c[i * ldc + j];
        c[i * ldc + j] = out;
      }
  }
}

/* One C matrix, computed by thread t of nt (all nt call it together; nt == 1
 * runs it alone with no synchronisation). bbuf and next_panel are shared,
 * abuf is t's own. */
static void FN(gemm_matrix)(const ax_gemm_args *g, const S *a, const S *b, T *c, T *bbuf,
                            T *abuf, atomic_llong *next_panel, int nt, int t) {
  const int64_t m = g->m, n = g->n, k = g->k;
  const T alpha = (T)g->alpha;
  int tm, tn;
  choose_thread_grid(nt, ceil_div(m, MR), ceil_div(min64(n, NC), NR), &tm, &tn);
  row_schedule rows = {.m = m, .max_rows = MC, .mr = MR, .nt = nt};
  if (nt > 1 && tn == 1) rows.next = next_panel;

  for (int64_t jc = 0; jc < n; jc += NC) {
    int64_t nc = min64(NC, n - jc);
    int64_t n_panels = ceil_div(nc, NR);
    int64_t jp_lo, jp_hi;
    split_range(n_panels, tn, t % tn, &jp_lo, &jp_hi);
    for (int64_t pc = 0; pc < k; pc += KC) {
      int64_t kc = min64(KC, k - pc);
      /* the first slab applies beta; later slabs accumulate onto it */
      T beta = pc == 0 ? (T)g->beta : 1;

      if (rows.next) {
        if (t == 0) atomic_store_explicit(rows.next, 0, memory_order_relaxed);
      } else {
        split_range(ceil_div(m, MR), tm, t / tn, &rows.cursor, &rows.end);
        rows.cursor *= MR;
        rows.end = min64(rows.end * MR, m);
      }

      /* all threads pack the shared B block together */
      const S *bsrc = g->trans_b ? b + jc * g->ldb + pc : b + pc * g->ldb + jc;
      int64_t pack_lo, pack_hi;
      split_range(n_panels, nt, t, &pack_lo, &pack_hi);
      for (int64_t jp = pack_lo; jp < pack_hi; jp++)
        FN(pack_b_panel)(jp * NR, nc, kc, bsrc, g->ldb, g->trans_b, bbuf);
      if (nt > 1) {
#pragma omp barrier
      }

      int64_t ic, mc;
      while (next_row_block(&rows, &ic, &mc)) {
        const S *asrc = g->trans_a ? a + pc * g->lda + ic : a + ic * g->lda + pc;
        FN(pack_a)(mc, kc, asrc, g->lda, g->trans_a, abuf);
        for (int64_t jp = jp_lo; jp < jp_hi; jp++) {
          int64_t jr = jp * NR, nr = min64(NR, nc - jr);
          for (int64_t ir = 0; ir < mc; ir += MR)
            FN(micro_kernel)(kc, abuf + ir * kc, bbuf + jr * kc, c + (ic + ir) * g->ldc + jc + jr,
                             g->ldc, min64(MR, mc - ir), nr, alpha, beta);
        }
      }
      /* nobody repacks bbuf (or resets the row counter) while another thread still uses it */
      if (nt > 1) {
#pragma omp barrier
      }
    }
  }
}

/* m == 1 or n == 1: a matrix-vector product, out[x] = alpha * sum_p
 * M[x*rs + p*cs] v[p] + beta * out[x*os], with M unit-strided along x or p.
 * Packing would pad the lone row or column to a whole micro-tile (MR or NR
 * times the work), so the matrix is streamed once instead. v is contiguous. */
#define GEMV_CHUNK 512 /* outputs accumulated at once when M is unit-strided along x */
static void FN(gemv)(int64_t len, int64_t k, const S *mat, int64_t rs, int64_t cs,
                     const T *restrict v, T *out, int64_t os, T alpha, T beta, int nt) {
  if (cs == 1) { /* each output is the dot product of a contiguous row with v */
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t x = 0; x < len; x++) {
      const S *restrict row = mat + x * rs;
      T sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t p = 0; p < k; p++) sum += LOAD(row[p]) * v[p];
      out[x * os] = alpha * sum + (beta == 0 ? 0 : beta * out[x * os]);
    }
  } else { /* columns are contiguous: accumulate v[p] * column p into a chunk of outputs */
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t x0 = 0; x0 < len; x0 += GEMV_CHUNK) {
      int64_t xn = min64(GEMV_CHUNK, len - x0);
      T acc[GEMV_CHUNK] = {0};
      for (int64_t p = 0; p < k; p++) {
        const S *restrict col = mat + p * cs + x0;
        T vp = v[p];
#pragma omp simd
        for (int64_t x = 0; x < xn; x++) acc[x] += vp * LOAD(col[x]);
      }
      for (int64_t x = 0; x < xn; x++)
        out[(x0 + x) * os] = alpha * acc[x] + (beta == 0 ? 0 : beta * out[(x0 + x) * os]);
    }
  }
}
#undef GEMV_CHUNK

/* Batch item bi of a GEMM with m == 1 or n == 1; vbuf holds k elements. */
static void FN(gemv_item)(const ax_gemm_args *g, int64_t bi, T *vbuf, int nt) {
  const S *a = (const S *)g->a + bi * g->stride_a, *b = (const S *)g->b + bi * g->stride_b;
  T *c = (T *)g->c + bi * g->stride_c;
  const S *mat, *vec;
  int64_t len, rs, cs, vs, os;
  if (g->n == 1) { /* C[:, 0] = op(A) . op(B)[:, 0] */
    mat = a, len = g->m, os = g->ldc;
    rs = g->trans_a ? 1 : g->lda;
    cs = g->trans_a ? g->lda : 1;
    vec = b, vs = g->trans_b ? 1 : g->ldb;
  } else { /* C[0, :] = op(B)^T . op(A)[0, :] */
    mat = b, len = g->n, os = 1;
    rs = g->trans_b ? g->ldb : 1;
    cs = g->trans_b ? 1 : g->ldb;
    vec = a, vs = g->trans_a ? g->lda : 1;
  }
  for (int64_t p = 0; p < g->k; p++) vbuf[p] = LOAD(vec[p * vs]);
  FN(gemv)(len, g->k, mat, rs, cs, vbuf, c, os, (T)g->alpha, (T)g->beta, nt);
}

/* k == 0 or alpha == 0: C = beta * C, without reading A or B. */
static void FN(scale_c)(const ax_gemm_args *g) {
  for (int64_t bi = 0; bi < g->batch; bi++) {
    T *c = (T *)g->c + bi * g->stride_c;
    for (int64_t i = 0; i < g->m; i++)
      for (int64_t j = 0; j < g->n; j++)
        c[i * g->ldc + j] = g->beta == 0 ? 0 : (T)g->beta * c[i * g->ldc + j];
  }
}

/* C is T here (the f32 accumulator of a bf16 / f16 GEMM). */
static ax_kstatus FN(gemm_core)(const ax_gemm_args *g) {
  if (g->k == 0 || g->alpha == 0) {
    FN(scale_c)(g);
    return AX_K_OK;
  }
  const S *a = g->a, *b = g->b;
  T *c = g->c;
  double flops = 2.0 * g->m * g->n * g->k;
  int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (flops * g->batch < AX_GEMM_PARALLEL_MIN_FLOPS) nt = 1;
  /* Many small matrices: one whole matrix per thread beats splitting each. */
  int per_matrix = nt > 1 && g->batch > 1 &&
                   (g->batch >= 4 * nt || flops < 4.0 * AX_GEMM_PARALLEL_MIN_FLOPS);

  if (g->m == 1 || g->n == 1) {
    size_t v_elems = ((size_t)g->k + 15) & ~(size_t)15;
    T *scratch = alloc_aligned(v_elems * nt * sizeof(T));
    if (!scratch) return AX_K_NOMEM;
    if (per_matrix) {
#pragma omp parallel for num_threads(nt) schedule(dynamic)
      for (int64_t bi = 0; bi < g->batch; bi++)
        FN(gemv_item)(g, bi, scratch + v_elems * omp_get_thread_num(), 1);
    } else {
      for (int64_t bi = 0; bi < g->batch; bi++) FN(gemv_item)(g, bi, scratch, nt);
    }
    free(scratch);
    return AX_K_OK;
  }

  /* scratch sized to the problem, not to the block limits; every thread's
   * buffers start on their own cache line (sizes are multiples of 16 elements) */
  size_t b_elems = (size_t)min64(KC, g->k) * ceil_div(min64(NC, g->n), NR) * NR;
  size_t a_elems = (size_t)min64(KC, g->k) * ceil_div(min64(MC, g->m), MR) * MR;
  b_elems = (b_elems + 15) & ~(size_t)15;
  a_elems = (a_elems + 15) & ~(size_t)15;

  if (nt == 1 || per_matrix) {
    T *scratch = alloc_aligned((b_elems + a_elems) * nt * sizeof(T));
    if (!scratch) return AX_K_NOMEM;
#pragma omp parallel for num_threads(nt) schedule(dynamic) if (nt > 1)
    for (int64_t bi = 0; bi < g->batch; bi++) {
      T *mine = scratch + (b_elems + a_elems) * omp_get_thread_num();
      FN(gemm_matrix)(g, a + bi * g->stride_a, b + bi * g->stride_b, c + bi * g->stride_c, mine,
                      mine + b_elems, NULL, 1, 0);
    }
    free(scratch);
    return AX_K_OK;
  }

  T *scratch = alloc_aligned((b_elems + a_elems * nt) * sizeof(T));
  if (!scratch) return AX_K_NOMEM;
  atomic_llong next_panel = 0;
#pragma omp parallel num_threads(nt)
  {
    int team = omp_get_num_threads(), t = omp_get_thread_num();
    for (int64_t bi = 0; bi < g->batch; bi++)
      FN(gemm_matrix)(g, a + bi * g->stride_a, b + bi * g->stride_b, c + bi * g->stride_c,
                      scratch, scratch + b_elems + a_elems * t, &next_panel, team, t);
  }
  free(scratch);
  return AX_K_OK;
}

#if AX_GEMM_CONVERT
/* The whole product accumulates in an f32 copy of C (one rounding per element
 * of the result, none per KC slab), which is then rounded into C. */
static ax_kstatus FN(gemm)(const ax_gemm_args *g) {
  const int64_t m = g->m, n = g->n, total = m * n * g->batch;
  T *acc = alloc_aligned((size_t)total * sizeof(T));
  if (!acc) return AX_K_NOMEM;
  S *c = g->c;
  if (g->beta != 0) { /* beta == 0: the f32 kernels never read C */
#pragma omp parallel for schedule(static) if (total >= (1 << 16) && !omp_in_parallel())
    for (int64_t r = 0; r < m * g->batch; r++) {
      const S *src = c + (r / m) * g->stride_c + (r % m) * g->ldc;
      for (int64_t j = 0; j < n; j++) acc[r * n + j] = LOAD(src[j]);
    }
  }
  ax_gemm_args f = *g;
  f.c = acc, f.ldc = n, f.stride_c = m * n;
  ax_kstatus st = FN(gemm_core)(&f);
  if (st != AX_K_OK) {
    free(acc);
    return st;
  }
#pragma omp parallel for schedule(static) if (total >= (1 << 16) && !omp_in_parallel())
  for (int64_t r = 0; r < m * g->batch; r++) {
    S *dst = c + (r / m) * g->stride_c + (r % m) * g->ldc;
    for (int64_t j = 0; j < n; j++) dst[j] = STORE(acc[r * n + j]);
  }
  free(acc);
  return AX_K_OK;
}
#else
static ax_kstatus FN(gemm)(const ax_gemm_args *g) { return FN(gemm_core)(g); }
#endif

#undef VL
#undef MR
#undef NR
#undef MC
#undef KC
#undef NC

#endif /* AX_GEMM_BODY */
