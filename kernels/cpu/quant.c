/* SPDX-License-Identifier: BSD-3-Clause */
/* int8 quantization on the CPU (docs/quantization.md): per-tensor quantization of
 * activations, the int8 GEMM with int32 accumulation, requantization, im2row.
 *
 * The GEMM c[m, n] = sum_k a[m, k] b[n, k] has three paths, chosen at run time
 * (the build is portable: no -march), each exact (int32 accumulation):
 *   - VNNI (AVX-512 VNNI vpdpbusd, 64 products an instruction): vpdpbusd multiplies
 *     unsigned by signed bytes, so a is shifted to u = a + 128 and the result
 *     corrected by 128 * sum_k b[n, k]; b is packed in panels of 16 columns so that
 *     each instruction feeds 16 outputs (see gemm_vnni);
 *   - AVX2 (vpmaddwd on bytes sign-extended to int16, 16 products a step), on
 *     2 x 4 tiles of dot products over rows padded to a multiple of 16;
 *   - the reference, a plain loop.
 * An edge tile repeats its last row / column and stores only the real ones. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <immintrin.h>
#include <omp.h>

#include "kernels/cpu/cpu.h"
#include "kernels/cpu/quant.h"

#define TM 2
#define TN 4

static int64_t numel_of(const ax_kt *t) {
  int64_t n = 1;
  for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
  return n;
}

static inline int8_t q8(float v) {
  v = rintf(v);
  if (v != v) return 0;
  return (int8_t)(v > 127.f ? 127.f : v < -127.f ? -127.f : v);
}

/* one chunk; compiled twice so that AVX2 machines round with vroundps instead of a libm call */
#define QUANT_BODY \
  for (int64_t i = i0; i < i1; i++) q[i] = q8(x[i] / scale);
__attribute__((target("avx2,fma"))) static void quant_avx2(int8_t *q, const float *x, float scale, int64_t i0,
                                                             int64_t i1) { QUANT_BODY }
static void quant_plain(int8_t *q, const float *x, float scale, int64_t i0, int64_t i1) { QUANT_BODY }

ax_kstatus ax_cpu_quantize_s8(ax_kt *out, const ax_kt *in, float scale) {
  if (out->dtype != AX_I8 || in->dtype != AX_F32)
    return ax_cpu_fail(AX_K_UNSUPPORTED, "quantize_s8: f32 -> i8 only (got %d -> %d)", in->dtype, out->dtype);
  int64_t n = numel_of(in), chunk = 16384, nchunks = (n + chunk - 1) / chunk;
  void (*fn)(int8_t *, const float *, float, int64_t, int64_t) =
      ax_cpu_s8_path_supported(AX_S8_AVX2) ? quant_avx2 : quant_plain;
#pragma omp parallel for schedule(static) if (nchunks > 1 && !omp_in_parallel())
  for (int64_t c = 0; c < nchunks; c++) fn(out->data, in->data, scale, c * chunk, c * chunk + chunk < n ? c * chunk + chunk : n);
  return AX_K_OK;
}

/* ---------------- the GEMM paths ---------------- */

static void gemm_ref(int32_t *c, const int8_t *a, const int8_t *b, int64_t m, int64_t n, int64_t k) {
#pragma omp parallel for schedule(static) if (m * n * k >= AX_CPU_PARALLEL_MIN && !omp_in_parallel())
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      int32_t s = 0;
      for (int64_t p = 0; p < k; p++) s += (int32_t)a[i * k + p] * (int32_t)b[j * k + p];
      c[i * n + j] = s;
    }
}

__attribute__((target("avx2,fma"))) static void avx2_tile(int32_t *c, int64_t ldc, const int16_t **ar,
                                                            const int16_t **br, int64_t kp, int mr, int nr) {
  __m256i acc[TM][TN];
  for (int i = 0; i < TM; i++)
    for (int j = 0; j < TN; j++) acc[i][j] = _mm256_setzero_si256();
  for (int64_t p = 0; p < kp; p += 16) {
    __m256i va0 = _mm256_loadu_si256((const __m256i *)(ar[0] + p)), va1 = _mm256_loadu_si256((const __m256i *)(ar[1] + p));
    for (int j = 0; j < TN; j++) {
      __m256i vb = _mm256_loadu_si256((const __m256i *)(br[j] + p));
      acc[0][j] = _mm256_add_epi32(acc[0][j], _mm256_madd_epi16(va0, vb));
      acc[1][j] = _mm256_add_epi32(acc[1][j], _mm256_madd_epi16(va1, vb));
    }
  }
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nr; j++) {
      __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc[i][j]), _mm256_extracti128_si256(acc[i][j], 1));
      s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
      s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
      c[i * ldc + j] = _mm_cvtsi128_si32(s);
    }
}

/* the padded copies: rows of kp elements (kind 1: u8 a + 128 for VNNI, 2: i16 for AVX2), zeros past k */
static void pad_rows(void *dst, const int8_t *src, int64_t rows, int64_t k, int64_t kp, int kind) {
#pragma omp parallel for schedule(static) if (rows * kp >= AX_CPU_PARALLEL_MIN && !omp_in_parallel())
  for (int64_t r = 0; r < rows; r++) {
    const int8_t *s = src + r * k;
    if (kind == 2) {
      int16_t *d = (int16_t *)dst + r * kp;
      for (int64_t p = 0; p < kp; p++) d[p] = p < k ? s[p] : 0;
    } else {
      uint8_t *d = (uint8_t *)dst + r * kp;
      for (int64_t p = 0; p < kp; p++) d[p] = p < k ? (uint8_t)(kind == 1 ? s[p] + 128 : (uint8_t)s[p]) : 0;
    }
  }
}

typedef struct simd_job {
  int32_t *c;
  const int16_t *a, *b;
  int64_t m, n, kp;
} simd_job;

static void run_tiles(const simd_job *j) {
  int64_t mt = (j->m + TM - 1) / TM, nt = (j->n + TN - 1) / TN, tiles = mt * nt;
#pragma omp parallel for schedule(dynamic, 4) if (tiles > 1 && j->m * j->n * j->kp >= AX_CPU_PARALLEL_MIN && \
                                                  !omp_in_parallel())
  for (int64_t t = 0; t < tiles; t++) {
    int64_t i0 = t / nt * TM, j0 = t % nt * TN;
    int mr = (int)(j->m - i0 < TM ? j->m - i0 : TM), nr = (int)(j->n - j0 < TN ? j->n - j0 : TN);
    const int16_t *ar[TM], *br[TN];
    for (int i = 0; i < TM; i++) ar[i] = j->a + (i0 + (i < mr ? i : mr - 1)) * j->kp;
    for (int q = 0; q < TN; q++) br[q] = j->b + (j0 + (q < nr ? q : nr - 1)) * j->kp;
    avx2_tile(j->c + i0 * j->n + j0, j->n, ar, br, j->kp, mr, nr);
  }
}

static ax_kstatus gemm_avx2(int32_t *c, const int8_t *a, const int8_t *b, int64_t m, int64_t n, int64_t k) {
  int64_t kp = (k + 15) / 16 * 16;
  size_t na = (size_t)(m * kp) * 2, nb = (size_t)(n * kp) * 2;
  char *buf = ax_cpu_alloc(na + nb, 0);
  if (!buf) return ax_cpu_fail(AX_K_NOMEM, "gemm_s8: out of memory for %zu bytes of scratch", na + nb);
  pad_rows(buf, a, m, k, kp, 2);
  pad_rows(buf + na, b, n, k, kp, 2);
  simd_job job = {c, (const int16_t *)buf, (const int16_t *)(buf + na), m, n, kp};
  run_tiles(&job);
  ax_cpu_free(buf, na + nb, 0);
  return AX_K_OK;
}

/* ---- VNNI: b packed in panels of 16 columns, [panel][k / 4][16 columns][4 bytes], so that one
 * vpdpbusd of a row's 4 bytes (broadcast) against 64 bytes of the panel adds 4 products into
 * each of 16 columns: no horizontal sums. A micro-tile is 4 rows x 2 panels (8 accumulators). */
#define VMR 4
#define VNP 2

static void pack_panels(uint8_t *bp, int32_t *corr, const int8_t *b, int64_t n, int64_t k, int64_t kq, int64_t np) {
  for (int64_t p = 0; p < np; p++)
    for (int64_t q = 0; q < kq; q++)
      for (int col = 0; col < 16; col++)
        for (int t = 0; t < 4; t++) {
          int64_t j = p * 16 + col, kk = q * 4 + t;
          bp[((p * kq + q) * 16 + col) * 4 + t] = (uint8_t)(j < n && kk < k ? b[j * k + kk] : 0);
        }
  for (int64_t j = 0; j < np * 16; j++) {
    int32_t s = 0;
    for (int64_t kk = 0; j < n && kk < k; kk++) s += b[j * k + kk];
    corr[j] = 128 * s;
  }
}

typedef struct vnni_job {
  int32_t *c;
  const uint8_t *a, *bp; /* a: rows of kq * 4 bytes, u8 = a + 128, zeros past k */
  const int32_t *corr;
  int64_t m, n, kq, np;
} vnni_job;

__attribute__((target("avx512vnni,avx512bw,avx512f"))) static void vnni_tile(const vnni_job *j, int64_t i0, int64_t p0) {
  __m512i acc[VMR][VNP];
  const uint8_t *ar[VMR];
  const uint8_t *bp[VNP];
  int mr = (int)(j->m - i0 < VMR ? j->m - i0 : VMR), pr = (int)(j->np - p0 < VNP ? j->np - p0 : VNP);
  for (int i = 0; i < VMR; i++) ar[i] = j->a + (i0 + (i < mr ? i : mr - 1)) * j->kq * 4;
  for (int p = 0; p < VNP; p++) bp[p] = j->bp + (p0 + (p < pr ? p : pr - 1)) * j->kq * 64;
  for (int i = 0; i < VMR; i++)
    for (int p = 0; p < VNP; p++) acc[i][p] = _mm512_setzero_si512();
  for (int64_t q = 0; q < j->kq; q++) {
    __m512i vb0 = _mm512_loadu_si512(bp[0] + q * 64), vb1 = _mm512_loadu_si512(bp[1] + q * 64);
    for (int i = 0; i < VMR; i++) {
      int32_t quad;
      memcpy(&quad, ar[i] + q * 4, 4);
      __m512i va = _mm512_set1_epi32(quad);
      acc[i][0] = _mm512_dpbusd_epi32(acc[i][0], va, vb0);
      acc[i][1] = _mm512_dpbusd_epi32(acc[i][1], va, vb1);
    }
  }
  for (int p = 0; p < pr; p++) {
    int64_t col = (p0 + p) * 16;
    __mmask16 mask = (__mmask16)(j->n - col >= 16 ? 0xFFFF : (1u << (j->n - col)) - 1);
    __m512i corr = _mm512_loadu_si512(j->corr + col);
    for (int i = 0; i < mr; i++)
      _mm512_mask_storeu_epi32(j->c + (i0 + i) * j->n + col, mask, _mm512_sub_epi32(acc[i][p], corr));
  }
}

static ax_kstatus gemm_vnni(int32_t *c, const int8_t *a, const int8_t *b, int64_t m, int64_t n, int64_t k) {
  int64_t kq = (k + 3) / 4, np = (n + 15) / 16;
  size_t na = (size_t)(m * kq * 4), nb = (size_t)(np * kq * 64), nc = (size_t)np * 64;
  char *buf = ax_cpu_alloc(na + nb + nc + 64, 0);
  if (!buf) return ax_cpu_fail(AX_K_NOMEM, "gemm_s8: out of memory for %zu bytes of scratch", na + nb + nc + 64);
  int32_t *corr = (int32_t *)(buf + (na + nb + 63) / 64 * 64);
  pad_rows(buf, a, m, k, kq * 4, 1);
  pack_panels((uint8_t *)buf + na, corr, b, n, k, kq, np);
  vnni_job job = {c, (const uint8_t *)buf, (const uint8_t *)buf + na, corr, m, n, kq, np};
  int64_t mt = (m + VMR - 1) / VMR, pt = (np + VNP - 1) / VNP, tiles = mt * pt;
#pragma omp parallel for schedule(dynamic, 8) if (tiles > 1 && m * n * k >= AX_CPU_PARALLEL_MIN && !omp_in_parallel())
  for (int64_t t = 0; t < tiles; t++) vnni_tile(&job, t / pt * VMR, t % pt * VNP);
  ax_cpu_free(buf, na + nb + nc + 64, 0);
  return AX_K_OK;
}

int ax_cpu_s8_path_supported(int path) {
  __builtin_cpu_init();
  switch (path) {
    case AX_S8_REFERENCE: return 1;
    case AX_S8_AVX2: return __builtin_cpu_supports("avx2") != 0;
    case AX_S8_VNNI:
      return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512f");
  }
  return 0;
}

const char *ax_cpu_s8_path_name(int path) {
  static const char *names[AX_S8_NUM_PATHS] = {"reference", "avx2", "vnni"};
  return (unsigned)path < AX_S8_NUM_PATHS ? names[path] : "invalid";
}

int ax_cpu_s8_path_default(void) {
  return ax_cpu_s8_path_supported(AX_S8_VNNI) ? AX_S8_VNNI : ax_cpu_s8_path_supported(AX_S8_AVX2) ? AX_S8_AVX2 : AX_S8_REFERENCE;
}

ax_kstatus ax_cpu_gemm_s8_path(int path, int32_t *c, const int8_t *a, const int8_t *b, int64_t m, int64_t n,
                               int64_t k) {
  if (!ax_cpu_s8_path_supported(path))
    return ax_cpu_fail(AX_K_UNSUPPORTED, "gemm_s8: this CPU has no %s path", ax_cpu_s8_path_name(path));
  if (m == 0 || n == 0) return AX_K_OK;
  if (path == AX_S8_REFERENCE || k == 0) {
    gemm_ref(c, a, b, m, n, k);
    return AX_K_OK;
  }
  return path == AX_S8_VNNI ? gemm_vnni(c, a, b, m, n, k) : gemm_avx2(c, a, b, m, n, k);
}

ax_kstatus ax_cpu_gemm_s8(ax_kt *c, const ax_kt *a, const ax_kt *b) {
  if (c->dtype != AX_I32 || a->dtype != AX_I8 || b->dtype != AX_I8)
    return ax_cpu_fail(AX_K_UNSUPPORTED, "gemm_s8: i8 x i8 -> i32 only");
  return ax_cpu_gemm_s8_path(ax_cpu_s8_path_default(), c->data, a->data, b->data, a->shape[0], b->shape[0], a->shape[1]);
}

/* ---------------- requantization ---------------- */

typedef struct rq_args {
  void *out;
  const int32_t *acc;
  const float *scale, *bias;
  int64_t m, n;
  float out_scale;
  int relu, to_i8;
} rq_args;

/* one row; fmaf is one rounding on every path (the CUDA kernel computes the same) */
#define RQ_ROW_BODY                                                                    \
  for (int64_t j = 0; j < r->n; j++) {                                                 \
    float v = fmaf((float)r->acc[i * r->n + j], r->scale[j], r->bias ? r->bias[j] : 0.f); \
    if (r->relu && !(v > 0.f)) v = v != v ? v : 0.f;                                   \
    if (r->to_i8) ((int8_t *)r->out)[i * r->n + j] = q8(v / r->out_scale);             \
    else ((float *)r->out)[i * r->n + j] = v;                                           \
  }

__attribute__((target("avx2,fma"))) static void rq_row_fma(const rq_args *r, int64_t i) { RQ_ROW_BODY }
static void rq_row_plain(const rq_args *r, int64_t i) { RQ_ROW_BODY }

ax_kstatus ax_cpu_requant_s8(ax_kt *out, const ax_kt *acc, const ax_kt *scale, const ax_kt *bias, float out_scale,
                             int relu) {
  if (acc->dtype != AX_I32 || (out->dtype != AX_F32 && out->dtype != AX_I8))
    return ax_cpu_fail(AX_K_UNSUPPORTED, "requant_s8: i32 -> f32 or i8 only");
  rq_args r = {out->data, acc->data, scale->data, bias ? bias->data : NULL, acc->shape[0], acc->shape[1],
               out_scale, relu, out->dtype == AX_I8};
  void (*row)(const rq_args *, int64_t) =
      ax_cpu_s8_path_supported(AX_S8_AVX2) && __builtin_cpu_supports("fma") ? rq_row_fma : rq_row_plain;
#pragma omp parallel for schedule(static) if (r.m * r.n >= AX_CPU_PARALLEL_MIN && !omp_in_parallel())
  for (int64_t i = 0; i < r.m; i++) row(&r, i);
  return AX_K_OK;
}

/* ---------------- im2row ---------------- */

ax_kstatus ax_cpu_im2row_s8(ax_kt *col, const ax_kt *x, const ax_conv_params *p) {
  if (col->dtype != AX_I8 || x->dtype != AX_I8 || p->groups != 1)
    return ax_cpu_fail(AX_K_UNSUPPORTED, "im2row_s8: i8 with groups 1 only");
  int64_t rows = p->n * p->oh * p->ow, k = p->c * p->kh * p->kw;
  const int8_t *xs = x->data;
  int8_t *cs = col->data;
#pragma omp parallel for schedule(static) if (rows * k >= AX_CPU_PARALLEL_MIN && !omp_in_parallel())
  for (int64_t r = 0; r < rows; r++) {
    int64_t ox = r % p->ow, oy = r / p->ow % p->oh, n = r / (p->ow * p->oh);
    int8_t *d = cs + r * k;
    for (int64_t c = 0; c < p->c; c++)
      for (int64_t i = 0; i < p->kh; i++) {
        int64_t y = oy * p->sh - p->ph + i * p->dh;
        const int8_t *src = xs + ((n * p->c + c) * p->h + y) * p->w;
        for (int64_t j = 0; j < p->kw; j++) {
          int64_t xx = ox * p->sw - p->pw + j * p->dw;
          *d++ = (y >= 0 && y < p->h && xx >= 0 && xx < p->w) ? src[xx] : 0;
        }
      }
  }
  return AX_K_OK;
}
