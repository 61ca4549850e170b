/* SPDX-License-Identifier: BSD-3-Clause */
/* 2-D convolution on the CPU: im2col into the blocked GEMM of gemm.c.
 *
 * For image n and group g, with K = (c/groups) * kh * kw and P = oh * ow:
 *   forward          y_ng [og, P]  = w_g [og, K]  x col_ng [K, P]
 *   backward input   gcol [K, P]   = w_g^T        x gy_ng [og, P],  then col2im into gx_n
 *   backward weight  gw_g [og, K] += gy_ng        x col_ng^T        (summed over n)
 * where col_ng[(c*kh + i)*kw + j][oy*ow + ox] = x[n, g*cg + c, oy*sh - ph + i*dh, ox*sw - pw + j*dw]
 * (zero outside the image).
 *
 * One image's GEMMs are small (64 x 196 x 288 for a 32->64 layer on 14x14),
 * and a small GEMM spends much of its time packing and on ragged edges, so
 * the images are taken a chunk at a time: the col matrices of B images sit
 * side by side as one [K, B*P] matrix, gy's planes for those images are
 * gathered into one [og, B*P] matrix, and each pass is one GEMM per chunk and
 * group whose long side is B*P. B is chosen so that the chunk's col matrix
 * stays in L2 between its packing and its use. The forward GEMM writes an
 * [og, B*P] block that is then scattered into y (adding the bias on the way).
 *
 * Threads: chunks are shared among the threads, each with its own scratch,
 * and the GEMMs run on one thread (ax_cpu_gemm does not open a nested team
 * inside a parallel region). With fewer images than threads the chunks are
 * walked in turn and each GEMM uses all threads instead. The weight gradient
 * sums over images, so each thread accumulates its own partial gradient and
 * the partials are added at the end.
 *
 * f32 and f64 share one body: the bottom of this file is included twice, once
 * per element type, like gemm.c.
 */
#ifndef AX_CONV_BODY

#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "kernels/cpu/cpu.h"

/* Scratch (col matrices, per-thread partials: a few MB) comes from the caching
 * allocator, so a training step does not map and unmap it on every call. */
static void *conv_alloc(size_t nbytes) {
  void *p = ax_cpu_alloc(nbytes, 0);
  if (!p) ax_cpu_fail(AX_K_NOMEM, "out of memory for %zu bytes of convolution scratch", nbytes);
  return p;
}

static void conv_free(void *p, size_t nbytes) { ax_cpu_free(p, nbytes, 0); }

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Output columns ox whose input column ox*s + off lies in [0, w): [*lo, *hi). */
static void valid_range(int64_t ow, int64_t s, int64_t off, int64_t w, int64_t *lo, int64_t *hi) {
  /* smallest ox with ox*s + off >= 0, and smallest with ox*s + off >= w */
  int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
  int64_t b = w - off <= 0 ? 0 : (w - off + s - 1) / s;
  *lo = min64(a, ow);
  *hi = max64(*lo, min64(b, ow));
}

/* How many threads share the images (1: the GEMMs get the threads instead). */
static int image_threads(const ax_conv_params *p) {
  int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
  return p->n >= nt ? nt : 1;
}

/* Images per chunk: enough columns (B*P) for an efficient GEMM, few enough
 * that the chunk's col matrix (K x B*P) stays in a 1 MiB L2, and no more than
 * one thread's share of the batch. */
#define CONV_L2_BYTES (1 << 20)
static int64_t chunk_images(const ax_conv_params *p, size_t elem, int nt) {
  int64_t k = p->c / p->groups * p->kh * p->kw, cols = CONV_L2_BYTES / (int64_t)(elem * (size_t)(k ? k : 1));
  cols = cols < 512 ? 512 : cols > 4096 ? 4096 : cols;
  int64_t per = (cols + p->oh * p->ow - 1) / (p->oh * p->ow), share = (p->n + nt - 1) / nt;
  per = per > share ? share : per;
  return per < 1 ? 1 : per;
}

enum { PASS_FORWARD, PASS_INPUT, PASS_WEIGHT };

#define AX_CONV_CAT_(a, b) a##_##b
#define AX_CONV_CAT(a, b) AX_CONV_CAT_(a, b)
#define FN(name) AX_CONV_CAT(name, AX_CONV_SUFFIX)

#define AX_CONV_BODY
#define T float
#define AX_CONV_SUFFIX f32
#define AX_CONV_DTYPE AX_F32
#include "conv.c"
#undef T
#undef AX_CONV_SUFFIX
#undef AX_CONV_DTYPE

#define T double
#define AX_CONV_SUFFIX f64
#define AX_CONV_DTYPE AX_F64
#include "conv.c"
#undef T
#undef AX_CONV_SUFFIX
#undef AX_CONV_DTYPE
#undef AX_CONV_BODY

ax_kstatus ax_cpu_conv2d(ax_kt *y, const ax_kt *x, const ax_kt *w, const ax_kt *bias, const ax_conv_params *p) {
  switch (y->dtype) {
  case AX_F32: return conv_forward_f32(y->data, x->data, w->data, bias ? bias->data : NULL, p);
  case AX_F64: return conv_forward_f64(y->data, x->data, w->data, bias ? bias->data : NULL, p);
  default: return ax_cpu_fail(AX_K_UNSUPPORTED, "no CPU convolution for %s", ax_dtype_name(y->dtype));
  }
}

ax_kstatus ax_cpu_conv2d_backward_input(ax_kt *gx, const ax_kt *gy, const ax_kt *w, const ax_conv_params *p) {
  switch (gx->dtype) {
  case AX_F32: return conv_backward_input_f32(gx->data, gy->data, w->data, p);
  case AX_F64: return conv_backward_input_f64(gx->data, gy->data, w->data, p);
  default: return ax_cpu_fail(AX_K_UNSUPPORTED, "no CPU convolution for %s", ax_dtype_name(gx->dtype));
  }
}

ax_kstatus ax_cpu_conv2d_backward_weight(ax_kt *gw, const ax_kt *gy, const ax_kt *x, const ax_conv_params *p) {
  switch (gw->dtype) {
  case AX_F32: return conv_backward_weight_f32(gw->data, gy->data, x->data, p);
  case AX_F64: return conv_backward_weight_f64(gw->data, gy->data, x->data, p);
  default: return ax_cpu_fail(AX_K_UNSUPPORTED, "no CPU convolution for %s", ax_dtype_name(gw->dtype));
  }
}

#else /* AX_CONV_BODY: one element type T */

/* col [K, ld] (this image's P columns of it) from one group's input planes
 * x [cg, h, w] (add = 0), or the reverse (add = 1): x += col scattered back
 * (col2im; overlapping windows add). */
static void FN(im2col)(T *restrict col, int64_t ld, T *restrict x, const ax_conv_params *p, int64_t cg, int add) {
  const int64_t h = p->h, w = p->w, oh = p->oh, ow = p->ow;
  for (int64_t c = 0; c < cg; c++) {
    T *plane = x + c * h * w;
    for (int64_t i = 0; i < p->kh; i++) {
      for (int64_t j = 0; j < p->kw; j++) {
        T *row = col + ((c * p->kh + i) * p->kw + j) * ld;
        int64_t xoff = j * p->dw - p->pw, lo, hi;
        valid_range(ow, p->sw, xoff, w, &lo, &hi);
        for (int64_t oy = 0; oy < oh; oy++) {
          int64_t iy = oy * p->sh - p->ph + i * p->dh;
          T *r = row + oy * ow;
          if (iy < 0 || iy >= h) {
            if (!add) memset(r, 0, (size_t)ow * sizeof(T));
            continue;
          }
          T *src = plane + iy * w + xoff;
          if (add) {
            if (p->sw == 1)
              for (int64_t ox = lo; ox < hi; ox++) src[ox] += r[ox];
            else
              for (int64_t ox = lo; ox < hi; ox++) src[ox * p->sw] += r[ox];
            continue;
          }
          for (int64_t ox = 0; ox < lo; ox++) r[ox] = 0;
          if (p->sw == 1)
            memcpy(r + lo, src + lo, (size_t)(hi - lo) * sizeof(T));
          else
            for (int64_t ox = lo; ox < hi; ox++) r[ox] = src[ox * p->sw];
          for (int64_t ox = hi; ox < ow; ox++) r[ox] = 0;
        }
      }
    }
  }
}

/* The col matrix [K, nb*P] of images n0 .. n0+nb-1, group g. */
static void FN(im2col_chunk)(T *col, const T *x, const ax_conv_params *p, int64_t n0, int64_t nb, int64_t g) {
  const int64_t cg = p->c / p->groups, P = p->oh * p->ow, xs = p->c * p->h * p->w;
  for (int64_t b = 0; b < nb; b++)
    FN(im2col)(col + b * P, nb * P, (T *)x + (n0 + b) * xs + g * cg * p->h * p->w, p, cg, 0);
}

/* Between a [n, o, P] tensor and the [og, nb*P] block of images n0.. and
 * group g: gather (to_block) or scatter plus bias (bias may be NULL). */
static void FN(move_block)(T *block, T *t, const ax_conv_params *p, int64_t n0, int64_t nb, int64_t g,
                           int to_block, const T *bias) {
  const int64_t og = p->o / p->groups, P = p->oh * p->ow;
  for (int64_t o = 0; o < og; o++)
    for (int64_t b = 0; b < nb; b++) {
      T *blk = block + o * nb * P + b * P, *plane = t + ((n0 + b) * p->o + g * og + o) * P;
      if (to_block) {
        memcpy(blk, plane, (size_t)P * sizeof(T));
      } else {
        T v = bias ? bias[g * og + o] : 0;
        for (int64_t q = 0; q < P; q++) plane[q] = blk[q] + v;
      }
    }
}

static ax_kstatus FN(gemm)(int ta, int tb, int64_t m, int64_t n, int64_t k, const T *a, int64_t lda,
                     const T *b, int64_t ldb, T beta, T *c, int64_t ldc) {
  ax_gemm_args g = {.dtype = AX_CONV_DTYPE, .trans_a = ta, .trans_b = tb, .m = m, .n = n, .k = k,
                    .alpha = 1, .beta = beta, .a = a, .lda = lda, .b = b, .ldb = ldb,
                    .c = c, .ldc = ldc, .batch = 1};
  return ax_cpu_gemm(&g);
}

/* Per-pass state shared by every chunk. */
typedef struct FN(job) {
  const ax_conv_params *p;
  T *out;           /* y, gx, or the base of the per-thread partial weight gradients */
  const T *a, *b;   /* forward (x, w), input (gy, w), weight (gy, x) */
  const T *bias;
  int64_t part_stride;
  int transposed;   /* weight pass: partials are [K, og] per group */
} FN(job);

/* One chunk of images for one pass. scratch holds col [K, nb*P] and the
 * [og, nb*P] block; part is this thread's partial weight gradient. */
static ax_kstatus FN(run_chunk)(int pass, const FN(job) *j, int64_t n0, int64_t nb, T *scratch, T *part) {
  const ax_conv_params *p = j->p;
  const int64_t G = p->groups, cg = p->c / G, og = p->o / G, P = p->oh * p->ow, cols = nb * P;
  const int64_t K = cg * p->kh * p->kw, plane = p->h * p->w;
  T *col = scratch, *blk = scratch + K * cols;
  if (pass == PASS_INPUT) memset(j->out + n0 * p->c * plane, 0, (size_t)(nb * p->c * plane) * sizeof(T));
  for (int64_t g = 0; g < G; g++) {
    if (pass == PASS_FORWARD) {
      FN(im2col_chunk)(col, j->a, p, n0, nb, g);
      if (FN(gemm)(0, 0, og, cols, K, j->b + g * og * K, K, col, cols, 0, blk, cols)) return AX_K_NOMEM;
      FN(move_block)(blk, j->out, p, n0, nb, g, 0, j->bias);
    } else if (pass == PASS_INPUT) {
      FN(move_block)(blk, (T *)j->a, p, n0, nb, g, 1, NULL);
      if (FN(gemm)(1, 0, K, cols, og, j->b + g * og * K, K, blk, cols, 0, col, cols)) return AX_K_NOMEM;
      for (int64_t b = 0; b < nb; b++)
        FN(im2col)(col + b * P, cols, j->out + (n0 + b) * p->c * plane + g * cg * plane, p, cg, 1);
    } else {
      FN(im2col_chunk)(col, j->b, p, n0, nb, g);
      FN(move_block)(blk, (T *)j->a, p, n0, nb, g, 1, NULL);
      T *dst = part + g * og * K;
      ax_kstatus st = j->transposed ? FN(gemm)(0, 1, K, og, cols, col, cols, blk, cols, 1, dst, og)
                                    : FN(gemm)(0, 1, og, K, cols, blk, cols, col, cols, 1, dst, K);
      if (st) return AX_K_NOMEM;
    }
  }
  return AX_K_OK;
}

/* Runs a pass over the batch in chunks, shared among nt threads. */
static ax_kstatus FN(run_pass)(int pass, FN(job) *j) {
  const ax_conv_params *p = j->p;
  const int64_t cg = p->c / p->groups, og = p->o / p->groups, K = cg * p->kh * p->kw, P = p->oh * p->ow;
  int nt = image_threads(p);
  int64_t per = chunk_images(p, sizeof(T), nt), chunks = (p->n + per - 1) / per;
  int64_t scratch_elems = ((K + og) * per * P + 15) & ~(int64_t)15;
  size_t scratch_bytes = (size_t)(scratch_elems * nt) * sizeof(T);
  T *scratch = conv_alloc(scratch_bytes);
  if (!scratch) return AX_K_NOMEM;
  int failed = 0; /* a GEMM in a worker found no scratch */
  /* The weight pass sums per-thread partials: a static assignment of chunks to
   * threads keeps that sum in the same order on every run (training must be
   * reproducible: resume gives bit-identical losses). The other passes write
   * disjoint outputs and balance dynamically. */
  if (pass == PASS_WEIGHT) {
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t ci = 0; ci < chunks; ci++) {
      int t = omp_get_thread_num();
      int64_t n0 = ci * per, nb = min64(per, p->n - n0);
      if (FN(run_chunk)(pass, j, n0, nb, scratch + scratch_elems * t, j->out + j->part_stride * t)) {
#pragma omp atomic write
        failed = 1;
      }
    }
  } else {
#pragma omp parallel for num_threads(nt) schedule(dynamic) if (nt > 1)
    for (int64_t ci = 0; ci < chunks; ci++) {
      int t = omp_get_thread_num();
      int64_t n0 = ci * per, nb = min64(per, p->n - n0);
      if (FN(run_chunk)(pass, j, n0, nb, scratch + scratch_elems * t, j->out + j->part_stride * t)) {
#pragma omp atomic write
        failed = 1;
      }
    }
  }
  conv_free(scratch, scratch_bytes);
  /* set here, on the calling thread, where last_error() reads it */
  return failed ? ax_cpu_fail(AX_K_NOMEM, "out of memory for convolution GEMM scratch") : AX_K_OK;
}

static ax_kstatus FN(conv_forward)(T *y, const T *x, const T *w, const T *bias, const ax_conv_params *p) {
  FN(job) j = {.p = p, .out = y, .a = x, .b = w, .bias = bias};
  return FN(run_pass)(PASS_FORWARD, &j);
}

static ax_kstatus FN(conv_backward_input)(T *gx, const T *gy, const T *w, const ax_conv_params *p) {
  FN(job) j = {.p = p, .out = gx, .a = gy, .b = w};
  return FN(run_pass)(PASS_INPUT, &j);
}

/* Partial gradients per thread are [o, K] (one [og, K] block per group), or
 * with `transposed` [K, og] per group: when K is narrower than og (a first
 * layer: K = 9), putting K on the GEMM's row side wastes less of each
 * micro-tile. */
static ax_kstatus FN(conv_backward_weight)(T *gw, const T *gy, const T *x, const ax_conv_params *p) {
  const int64_t G = p->groups, og = p->o / G, K = p->c / G * p->kh * p->kw, wn = p->o * K;
  int nt = image_threads(p);
  int64_t stride = (wn + 15) & ~(int64_t)15;
  size_t parts_bytes = (size_t)(stride * nt) * sizeof(T);
  T *parts = conv_alloc(parts_bytes);
  if (!parts) return AX_K_NOMEM;
  memset(parts, 0, parts_bytes);
  FN(job) j = {.p = p, .out = parts, .a = gy, .b = x, .part_stride = stride, .transposed = K < og};
  ax_kstatus st = FN(run_pass)(PASS_WEIGHT, &j);
  if (st) {
    conv_free(parts, parts_bytes);
    return st;
  }
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && wn >= AX_CPU_PARALLEL_MIN)
  for (int64_t e = 0; e < wn; e++) {
    /* gw[g*og*K + o*K + k] lives at part[g*og*K + k*og + o] when transposed */
    int64_t src = e;
    if (j.transposed) {
      int64_t g = e / (og * K), r = e % (og * K), o = r / K, k = r % K;
      src = g * og * K + k * og + o;
    }
    T s = 0;
    for (int t = 0; t < nt; t++) s += parts[stride * t + src];
    gw[e] = s;
  }
  conv_free(parts, parts_bytes);
  return AX_K_OK;
}

#endif /* AX_CONV_BODY */
