/* SPDX-License-Identifier: BSD-3-Clause */
/* int8 quantization on the CPU (docs/quantization.md): per-tensor quantization of
 * activations, the int8 GEMM with int32 accumulation, requantization, im2row.
 *
 * The GEMM c[m, n] = sum_k a[m, k] b[n, k] has three paths, chosen at run time
 * (the build is portable: no -march), each exact (int32 accumulation):
 *   - VNNI (AVX-512 VNNI vpdpbusd, 64 products a step): vpdpbusd multiplies
 *     unsigned by signed bytes, so a is shifted to u = a + 128 and the result
 *     corrected by 128 * sum_k b[n, k];
 *   - AVX2 (vpmaddwd on bytes sign-extended to int16, 16 products a step);
 *   - the reference, a plain loop.
 * Both SIMD paths copy the operands into scratch rows padded with zeros to a
 * multiple of the step, then compute 2 x 4 tiles of c (an edge tile repeats its
 * last row / column and stores only the real ones). */
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

ax_kstatus ax_cpu_quantize_s8(ax_kt *out, const ax_kt *in, float scale) {
  if (out->dtype != AX_I8 || in->dtype != AX_F32)
    return ax_cpu_fail(AX_K_UNSUPPORTED, "quantize_s8: f32 -> i8 only (got %d -> %d)", in->dtype, out->dtype);
  int64_t n = numel_of(in);
  const float *x = in->data;
  int8_t *q = out->data;
#pragma omp parallel for schedule(static) if (n >= AX_CPU_PARALLEL_MIN && !omp_in_parallel())
  for (int64_t i = 0; i < n; i++) q[i] = q8(x[i] / scale);
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

__attribute__((target("avx512vnni,avx512bw,avx512f"))) static void vnni_tile(int32_t *c, int64_t ldc, const uint8_t *const *ar,
                                                                             const int8_t *const *br, int64_t kp,
                                                                             const int32_t *corr, int mr, int nr) {
  __m512i acc[TM][TN];
  for (int i = 0; i < TM; i++)
    for (int j = 0; j < TN; j++) acc[i][j] = _mm512_setzero_si512();
  for (int64_t p = 0; p < kp; p += 64) {
    __m512i va0 = _mm512_loadu_si512(ar[0] + p), va1 = _mm512_loadu_si512(ar[1] + p);
    for (int j = 0; j < TN; j++) {
      __m512i vb = _mm512_loadu_si512(br[j] + p);
      acc[0][j] = _mm512_dpbusd_epi32(acc[0][j], va0, vb);
      acc[1][j] = _mm512_dpbusd_epi32(acc[1][j], va1, vb);
    }
  }
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nr; j++) c[i * ldc + j] = _mm512_reduce_add_epi32(acc[i][j]) - 128 * corr[j];
}

__attribute__((target("avx2,fma"))) static void avx2_tile(int32_t *c, int64_t ldc, const int16_t *const *ar,
                                                            const int16_t *const *br, int64_t kp, int mr, int nr) {
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

/* the padded copies: rows of kp elements (u8 a + 128 / i8 for VNNI, i16 for AVX2), zeros past k */
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
  const void *a, *b;
  const int32_t *corr;
  int64_t m, n, kp;
  size_t es;
  int vnni;
} simd_job;

static void run_tiles(const simd_job *j) {
  int64_t mt = (j->m + TM - 1) / TM, nt = (j->n + TN - 1) / TN, tiles = mt * nt;
#pragma omp parallel for schedule(dynamic, 4) if (tiles > 1 && j->m * j->n * j->kp >= AX_CPU_PARALLEL_MIN && \
                                                  !omp_in_parallel())
  for (int64_t t = 0; t < tiles; t++) {
    int64_t i0 = t / nt * TM, j0 = t % nt * TN;
    int mr = (int)(j->m - i0 < TM ? j->m - i0 : TM), nr = (int)(j->n - j0 < TN ? j->n - j0 : TN);
    const void *ar[TM], *br[TN];
    for (int i = 0; i < TM; i++) ar[i] = (const char *)j->a + (i0 + (i < mr ? i : mr - 1)) * j->kp * j->es;
    for (int q = 0; q < TN; q++) br[q] = (const char *)j->b + (j0 + (q < nr ? q : nr - 1)) * j->kp * j->es;
    int32_t *c = j->c + i0 * j->n + j0;
    if (j->vnni)
      vnni_tile(c, j->n, (const uint8_t *const *)ar, (const int8_t *const *)br, j->kp, j->corr + j0, mr, nr);
    else
      avx2_tile(c, j->n, (const int16_t *const *)ar, (const int16_t *const *)br, j->kp, mr, nr);
  }
}

static ax_kstatus gemm_simd(int vnni, int32_t *c, const int8_t *a, const int8_t *b, int64_t m, int64_t n, int64_t k) {
  int64_t step = vnni ? 64 : 16, kp = (k + step - 1) / step * step;
  size_t es = vnni ? 1 : 2, na = (size_t)(m * kp) * es, nb = (size_t)(n * kp) * es, nc = vnni ? (size_t)n * 4 : 0;
  char *buf = ax_cpu_alloc(na + nb + nc + 64, 0);
  if (!buf) return ax_cpu_fail(AX_K_NOMEM, "gemm_s8: out of memory for %zu bytes of scratch", na + nb + nc + 64);
  int32_t *corr = (int32_t *)(buf + (na + nb + 3) / 4 * 4);
  pad_rows(buf, a, m, k, kp, vnni ? 1 : 2);
  pad_rows(buf + na, b, n, k, kp, vnni ? 0 : 2);
  for (int64_t j = 0; vnni && j < n; j++) {
    int32_t s = 0;
    for (int64_t p = 0; p < k; p++) s += b[j * k + p];
    corr[j] = s;
  }
  simd_job job = {c, buf, buf + na, corr, m, n, kp, es, vnni};
  run_tiles(&job);
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
  return gemm_simd(path == AX_S8_VNNI, c, a, b, m, n, k);
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
