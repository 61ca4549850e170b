/* SPDX-License-Identifier: BSD-3-Clause */
/* ax_cpu_gemm called directly, against a naive f64 reference: every transpose
 * combination, alpha/beta (beta = 0 must not read C), batches with broadcast
 * (stride 0) operands, leading dimensions wider than the rows, sizes that are
 * not multiples of the micro-tile or cache blocks, f32 and f64.
 *
 * The error of each element is measured against the size of what was summed,
 * |alpha| sum_p |a_ip b_pj| + |beta c_ij|, so cancellation does not make a
 * correct result look wrong. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "kernels/cpu/cpu.h"

typedef struct gemm_case {
  int dtype, trans_a, trans_b;
  int64_t m, n, k, batch;
  double alpha, beta;
  int broadcast_a, broadcast_b; /* stride 0 across the batch */
} gemm_case;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static double uniform(void) { /* [-1, 1) */
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng_state >> 11) / (double)(1ull << 52) - 1.0;
}

static double get(const void *p, int dtype, int64_t i) {
  return dtype == AX_F32 ? ((const float *)p)[i] : ((const double *)p)[i];
}

static void set(void *p, int dtype, int64_t i, double v) {
  if (dtype == AX_F32) ((float *)p)[i] = (float)v;
  else ((double *)p)[i] = v;
}

/* Runs one case; returns the worst error relative to the summed magnitude
 * (NaN if C was read when beta == 0, or anything is NaN). */
static double run_case(const gemm_case *gc) {
  const int dt = gc->dtype;
  const size_t es = dt == AX_F32 ? sizeof(float) : sizeof(double);
  const int64_t m = gc->m, n = gc->n, k = gc->k, batch = gc->batch;
  /* padded leading dimensions: the kernel must honour lda/ldb/ldc */
  int64_t lda = (gc->trans_a ? m : k) + 3, a_rows = gc->trans_a ? k : m;
  int64_t ldb = (gc->trans_b ? k : n) + 2, b_rows = gc->trans_b ? n : k;
  int64_t ldc = n + 5;
  int64_t stride_a = gc->broadcast_a ? 0 : a_rows * lda;
  int64_t stride_b = gc->broadcast_b ? 0 : b_rows * ldb;
  int64_t stride_c = m * ldc;
  int64_t na = (gc->broadcast_a ? 1 : batch) * a_rows * lda;
  int64_t nb = (gc->broadcast_b ? 1 : batch) * b_rows * ldb;
  int64_t nc = batch * stride_c;

  void *a = malloc((size_t)na * es), *b = malloc((size_t)nb * es), *c = malloc((size_t)nc * es);
  double *c0 = malloc((size_t)nc * sizeof(double));
  cr_assert(a && b && c && c0);
  for (int64_t i = 0; i < na; i++) set(a, dt, i, uniform());
  for (int64_t i = 0; i < nb; i++) set(b, dt, i, uniform());
  for (int64_t i = 0; i < nc; i++) {
    /* beta == 0: NaN in C would poison any result that read it */
    set(c, dt, i, gc->beta == 0 ? NAN : uniform());
    c0[i] = get(c, dt, i);
  }

  ax_gemm_args args = {
      .dtype = dt, .trans_a = gc->trans_a, .trans_b = gc->trans_b,
      .m = m, .n = n, .k = k, .alpha = gc->alpha, .beta = gc->beta,
      .a = a, .lda = lda, .stride_a = stride_a,
      .b = b, .ldb = ldb, .stride_b = stride_b,
      .c = c, .ldc = ldc, .stride_c = stride_c, .batch = batch};
  ax_cpu_gemm(&args);

  double worst = 0;
  for (int64_t bi = 0; bi < batch; bi++)
    for (int64_t i = 0; i < m; i++) {
      for (int64_t j = 0; j < n; j++) {
        double sum = 0, magnitude = 0;
        for (int64_t p = 0; p < k; p++) {
          double x = get(a, dt, bi * stride_a + (gc->trans_a ? p * lda + i : i * lda + p));
          double y = get(b, dt, bi * stride_b + (gc->trans_b ? j * ldb + p : p * ldb + j));
          sum += x * y;
          magnitude += fabs(x * y);
        }
        int64_t o = bi * stride_c + i * ldc + j;
        double expect = gc->alpha * sum, scale = fabs(gc->alpha) * magnitude;
        if (gc->beta != 0) {
          expect += gc->beta * c0[o];
          scale += fabs(gc->beta * c0[o]);
        }
        double err = fabs(get(c, dt, o) - expect) / (scale > 0 ? scale : 1);
        if (!(err <= worst)) worst = err; /* NaN sticks */
      }
      /* the padding between rows of C is never written */
      for (int64_t j = n; j < ldc; j++) {
        int64_t o = bi * stride_c + i * ldc + j;
        double now = get(c, dt, o);
        if (!(now == c0[o] || (isnan(now) && isnan(c0[o])))) worst = NAN;
      }
    }
  free(a);
  free(b);
  free(c);
  free(c0);
  return worst;
}

static double tolerance(int dtype) { return dtype == AX_F32 ? 1e-5 : 1e-12; }

static void expect_case(gemm_case gc) {
  double err = run_case(&gc);
  cr_expect(err <= tolerance(gc.dtype),
            "%s ta=%d tb=%d m=%lld n=%lld k=%lld batch=%lld alpha=%g beta=%g bcast=%d%d: error %g",
            gc.dtype == AX_F32 ? "f32" : "f64", gc.trans_a, gc.trans_b, (long long)gc.m,
            (long long)gc.n, (long long)gc.k, (long long)gc.batch, gc.alpha, gc.beta,
            gc.broadcast_a, gc.broadcast_b, err);
}

static const int dtypes[] = {AX_F32, AX_F64};

Test(gemm_kernel, odd_sizes_all_transposes) {
  const int64_t sizes[] = {1, 7, 129};
  for (int d = 0; d < 2; d++)
    for (int t = 0; t < 4; t++)
      for (int im = 0; im < 3; im++)
        for (int in = 0; in < 3; in++)
          for (int ik = 0; ik < 3; ik++)
            expect_case((gemm_case){.dtype = dtypes[d], .trans_a = t & 1, .trans_b = t >> 1,
                                    .m = sizes[im], .n = sizes[in], .k = sizes[ik], .batch = 1,
                                    .alpha = 1, .beta = 0});
}

Test(gemm_kernel, alpha_beta) {
  const double alphas[] = {1, 0.5, -2}, betas[] = {0, 1, -0.75};
  for (int d = 0; d < 2; d++)
    for (int t = 0; t < 4; t++)
      for (int ia = 0; ia < 3; ia++)
        for (int ib = 0; ib < 3; ib++)
          expect_case((gemm_case){.dtype = dtypes[d], .trans_a = t & 1, .trans_b = t >> 1,
                                  .m = 37, .n = 45, .k = 29, .batch = 1,
                                  .alpha = alphas[ia], .beta = betas[ib]});
}

Test(gemm_kernel, batched_with_broadcast_operands) {
  for (int d = 0; d < 2; d++)
    for (int t = 0; t < 4; t++)
      for (int bc = 0; bc < 4; bc++) {
        /* small matrices (one per thread), larger ones (threads split each matrix) */
        expect_case((gemm_case){.dtype = dtypes[d], .trans_a = t & 1, .trans_b = t >> 1,
                                .m = 7, .n = 33, .k = 12, .batch = 9, .alpha = 1, .beta = 0.5,
                                .broadcast_a = bc & 1, .broadcast_b = bc >> 1});
        expect_case((gemm_case){.dtype = dtypes[d], .trans_a = t & 1, .trans_b = t >> 1,
                                .m = 131, .n = 97, .k = 140, .batch = 3, .alpha = 1, .beta = 0,
                                .broadcast_a = bc & 1, .broadcast_b = bc >> 1});
        /* matrix-vector products (m or n is 1) take their own path */
        expect_case((gemm_case){.dtype = dtypes[d], .trans_a = t & 1, .trans_b = t >> 1,
                                .m = 1, .n = 70, .k = 50, .batch = 5, .alpha = 2, .beta = 1,
                                .broadcast_a = bc & 1, .broadcast_b = bc >> 1});
        expect_case((gemm_case){.dtype = dtypes[d], .trans_a = t & 1, .trans_b = t >> 1,
                                .m = 900, .n = 1, .k = 700, .batch = 2, .alpha = 1, .beta = 0,
                                .broadcast_a = bc & 1, .broadcast_b = bc >> 1});
      }
}

/* Shapes past the cache blocks (KC, MC, NC) so every slab and block edge is hit. */
Test(gemm_kernel, crosses_cache_blocks) {
  const int64_t shapes[][3] = {{290, 70, 530}, {50, 4300, 300}, {1, 300, 700}, {600, 1, 257}};
  for (int d = 0; d < 2; d++)
    for (int t = 0; t < 4; t++)
      for (int s = 0; s < 4; s++)
        expect_case((gemm_case){.dtype = dtypes[d], .trans_a = t & 1, .trans_b = t >> 1,
                                .m = shapes[s][0], .n = shapes[s][1], .k = shapes[s][2],
                                .batch = 1, .alpha = 0.75, .beta = s % 2 ? -1 : 0});
}

Test(gemm_kernel, empty_k_scales_c) {
  for (int d = 0; d < 2; d++) {
    expect_case((gemm_case){.dtype = dtypes[d], .m = 5, .n = 6, .k = 0, .batch = 2, .alpha = 1, .beta = 0});
    expect_case((gemm_case){.dtype = dtypes[d], .m = 5, .n = 6, .k = 0, .batch = 2, .alpha = 1, .beta = 0.5});
    expect_case((gemm_case){.dtype = dtypes[d], .m = 5, .n = 6, .k = 4, .batch = 2, .alpha = 0, .beta = 2});
  }
}
