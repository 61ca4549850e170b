/* SPDX-License-Identifier: BSD-3-Clause */
/* Runs kernels/cuda/gemm.cu's kernels on the host, without a GPU, on the CUDA
 * execution model of kernels/cuda/emulate/device.h (a coroutine per CUDA thread, warp-wide PTX
 * computed from the PTX ISA's fragment layouts, cp.async landing at its wait,
 * Hopper's wgmma reading descriptor-addressed swizzled shared memory and handing
 * its accumulators back at wait_group): gemm_simt, gemm_tc and gemm_wgmma (both
 * tile widths).
 * It checks the kernels' tile, pipeline, transpose, edge and batch index math
 * against a naive reference; it cannot check timing or the hardware's memory
 * ordering. The GPU parity suite remains the real test. Built and run by ctest
 * (gemm_emulate, label "cpu;emulate") when the CUDA toolkit's headers are there:
 *
 *   g++ -std=c++17 -O1 -fno-strict-aliasing -DAX_GEMM_EMULATE -DAX_CUDA_EMULATE -I/usr/local/cuda/include -I include -I . \
 *       -x c++ tests/parity/gemm_emulate.cpp -o gemm_emulate && ./gemm_emulate
 */
#include "kernels/cuda/emulate/device.h"

#include <stdarg.h>
#include <stdio.h>

#include "kernels/backend.h"

extern "C" void ax_error(const char *fmt, ...) {
  (void)fmt;
  fprintf(stderr, "ax_error called\n");
  abort();
}
extern "C" void ax_cuda_error(const char *fmt, ...) { /* kernel files report through this (common.cuh) */
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  ax_error("%s", msg);
}
extern "C" cudaStream_t ax_cuda_stream(void) { return 0; }
extern "C" int ax_cuda_current_device(void) { return 0; }
extern "C" const char *ax_dtype_name(ax_dtype dt) { (void)dt; return "?"; }
extern "C" bool ax_cuda_gemm_cublas(const ax_gemm_args *) { return false; }
/* launches run at once here (the emulated runtime queues them) */
cudaError_t ax_emu_submit(const void *, dim3, dim3, size_t, cudaStream_t, std::function<void()> run) {
  run();
  return cudaSuccess;
}

#include "kernels/cuda/gemm.cu"

/* ---- running a grid ---- */

typedef void (*kernel_fn)(gemm_params);

/* gridDim.z is capped at 3 so that the kernels' batch loop runs more than once */
static void run_grid(kernel_fn k, const gemm_params &p, unsigned threads, size_t smem) {
  dim3 grid((unsigned)((int64_t)p.tiles_m * p.tiles_n), 1, (unsigned)std::min<int64_t>(p.batch, 3));
  ax_emu_run_grid(grid, dim3(threads), smem, [&] { k(p); });
}

/* ---- cases against a naive reference ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double uniform() {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng >> 11) / (double)(1ull << 52) - 1.0;
}

template <typename T> static double get(const T *p, int64_t i) { return (double)(float)p[i]; }
template <> double get<double>(const double *p, int64_t i) { return p[i]; }
template <typename T> static T make(double v) { return (T)(float)v; }
template <> double make<double>(double v) { return v; }

struct gcase {
  int64_t m, n, k, batch;
  int ta, tb, pad, bcast_a, bcast_b, offset; /* offset: elements to misalign the operands by */
  double alpha, beta;
};

static int failures, cases_run;

template <typename T> static void check(const char *kernel, const gcase &c, kernel_fn fn, int bm, int bn,
                                        unsigned threads, bool want_tc_aligned, size_t smem) {
  int64_t a_rows = c.ta ? c.k : c.m, a_cols = c.ta ? c.m : c.k;
  int64_t b_rows = c.tb ? c.n : c.k, b_cols = c.tb ? c.k : c.n;
  int64_t lda = a_cols + c.pad, ldb = b_cols + c.pad, ldc = c.n + c.pad;
  int64_t sa = c.bcast_a ? 0 : a_rows * lda, sb = c.bcast_b ? 0 : b_rows * ldb, sc = c.m * ldc;
  std::vector<T> A(c.offset + (c.bcast_a ? 1 : c.batch) * a_rows * lda);
  std::vector<T> Bm(c.offset + (c.bcast_b ? 1 : c.batch) * b_rows * ldb);
  std::vector<T> C(c.offset + c.batch * sc), C0;
  for (auto &v : A) v = make<T>(uniform());
  for (auto &v : Bm) v = make<T>(uniform());
  for (auto &v : C) v = make<T>(c.beta == 0 ? NAN : uniform());
  C0 = C;
  ax_gemm_args g = {};
  g.dtype = 0, g.trans_a = c.ta, g.trans_b = c.tb, g.m = c.m, g.n = c.n, g.k = c.k;
  g.alpha = c.alpha, g.beta = c.beta;
  g.a = A.data() + c.offset, g.lda = lda, g.stride_a = sa;
  g.b = Bm.data() + c.offset, g.ldb = ldb, g.stride_b = sb;
  g.c = C.data() + c.offset, g.ldc = ldc, g.stride_c = sc, g.batch = c.batch;
  gemm_params p = make_params(&g, bm, bn, sizeof(T));
  if (want_tc_aligned && !(aligned_for(g.a, lda, sa, 8, 2) && aligned_for(g.b, ldb, sb, 8, 2))) return;
  run_grid(fn, p, threads, smem);
  double worst = 0;
  for (int64_t z = 0; z < c.batch; z++)
    for (int64_t i = 0; i < c.m; i++)
      for (int64_t j = 0; j < c.n + c.pad; j++) {
        int64_t ci = c.offset + z * sc + i * ldc + j;
        if (j >= c.n) { /* padding must be untouched */
          bool same = std::isnan(get(C0.data(), ci)) ? std::isnan(get(C.data(), ci)) : get(C.data(), ci) == get(C0.data(), ci);
          if (!same) worst = INFINITY;
          continue;
        }
        double s = 0, mag = 0;
        for (int64_t q = 0; q < c.k; q++) {
          double av = get(A.data(), c.offset + z * sa + (c.ta ? q * lda + i : i * lda + q));
          double bv = get(Bm.data(), c.offset + z * sb + (c.tb ? j * ldb + q : q * ldb + j));
          s += av * bv;
          mag += fabs(av * bv);
        }
        double ref = c.alpha * s + (c.beta != 0 ? c.beta * get(C0.data(), ci) : 0);
        mag = fabs(c.alpha) * mag + (c.beta != 0 ? fabs(c.beta * get(C0.data(), ci)) : 0) + 1e-30;
        double e = fabs(get(C.data(), ci) - ref) / mag;
        if (!(e <= worst)) worst = e;
      }
  double tol = sizeof(T) == 8 ? 1e-13 : sizeof(T) == 4 ? 1e-5 : 1e-2;
  cases_run++;
  if (!(worst <= tol)) {
    failures++;
    printf("FAIL %-22s m%lld n%lld k%lld batch%lld ta%d tb%d pad%d bcast%d%d off%d alpha%g beta%g: error %g\n", kernel,
           (long long)c.m, (long long)c.n, (long long)c.k, (long long)c.batch, c.ta, c.tb, c.pad, c.bcast_a,
           c.bcast_b, c.offset, c.alpha, c.beta, worst);
  }
}

template <typename T, typename Acc, int BM, int BN, int TT> static void simt_all(const char *name, const gcase &c) {
  kernel_fn k[4] = {gemm_simt<T, Acc, BM, BN, TT, false, false>, gemm_simt<T, Acc, BM, BN, TT, false, true>,
                    gemm_simt<T, Acc, BM, BN, TT, true, false>, gemm_simt<T, Acc, BM, BN, TT, true, true>};
  check<T>(name, c, k[c.ta * 2 + c.tb], BM, BN, (BM / TT) * (BN / TT), false, 0);
}

template <typename T> static void tc_all(const char *name, const gcase &c) {
  kernel_fn k[4] = {gemm_tc<T, false, false>, gemm_tc<T, false, true>, gemm_tc<T, true, false>, gemm_tc<T, true, true>};
  size_t smem = (size_t)TC_STAGES * (tc_tile_elems(!c.ta, TC_BM) + tc_tile_elems(c.tb, TC_BN)) * sizeof(T);
  check<T>(name, c, k[c.ta * 2 + c.tb], TC_BM, TC_BN, TC_THREADS, true, smem);
}

template <typename T, int BN> static void wgmma_all(const char *name, const gcase &c) {
  kernel_fn k[4] = {gemm_wgmma<T, BN, false, false>, gemm_wgmma<T, BN, false, true>, gemm_wgmma<T, BN, true, false>,
                    gemm_wgmma<T, BN, true, true>};
  check<T>(name, c, k[c.ta * 2 + c.tb], WG_BM, BN, WG_THREADS, true, wg_smem_bytes(BN));
}

int main(void) {
  std::vector<gcase> cs;
  const int64_t sizes[][3] = {{1, 1, 1}, {7, 5, 13}, {33, 17, 9}, {130, 66, 40}, {64, 64, 64}};
  for (auto &s : sizes)
    for (int t = 0; t < 4; t++) cs.push_back({s[0], s[1], s[2], 1, t / 2, t % 2, 0, 0, 0, 0, 1, 0});
  /* alpha/beta, padded ld, misaligned operands, batches with broadcast (batch 5 > gridDim.z 3) */
  cs.push_back({20, 12, 11, 1, 0, 0, 3, 0, 0, 0, 0.5, -2});
  cs.push_back({20, 12, 11, 1, 1, 1, 0, 0, 0, 1, 2, 0});
  cs.push_back({9, 10, 19, 5, 0, 1, 0, 1, 0, 0, 1, 0});
  cs.push_back({9, 10, 19, 5, 1, 0, 2, 0, 1, 0, 1, 1});
  /* shapes for the tensor-core kernel: 16-byte rows, edges off the 128x128x32 tile */
  const int64_t tc_sizes[][3] = {{8, 8, 8}, {136, 200, 72}, {24, 16, 40}};
  for (auto &s : tc_sizes)
    for (int t = 0; t < 4; t++) cs.push_back({s[0], s[1], s[2], 1, t / 2, t % 2, 0, 0, 0, 0, 1, 0});
  cs.push_back({40, 24, 104, 4, 0, 0, 0, 1, 0, 0, 1, 0.5});   /* batch, broadcast A, beta */
  cs.push_back({40, 24, 104, 4, 1, 1, 8, 0, 1, 0, -1, 0});    /* padded by 8: still aligned */
  cs.push_back({30, 22, 50, 2, 0, 1, 14, 0, 0, 0, 1, 0});     /* padded ld 64 (k 50): partial chunks */
  cs.push_back({30, 22, 50, 2, 1, 0, 10, 0, 0, 0, 1, 0});     /* MN-major partial chunks */

  for (const gcase &c : cs) {
    simt_all<float, float, 128, 128, 8>("simt f32 128x128", c);
    simt_all<float, float, 64, 64, 8>("simt f32 64x64", c);
    simt_all<double, double, 32, 32, 4>("simt f64 32x32", c);
    if (c.m * c.n * c.k <= 40000) {
      simt_all<__nv_bfloat16, float, 64, 64, 8>("simt bf16 64x64", c);
      simt_all<__half, float, 64, 64, 8>("simt f16 64x64", c);
    }
    tc_all<__nv_bfloat16>("tc bf16", c);
    tc_all<__half>("tc f16", c);
    wgmma_all<__nv_bfloat16, 128>("wgmma bf16 128x128", c);
    wgmma_all<__half, 256>("wgmma f16 128x256", c);
  }
  /* the wgmma kernel's own shapes: several 64-deep k-tiles (the 4-stage ring wraps),
   * both warpgroups' rows, two column atoms of MN-major tiles, edges on every side */
  std::vector<gcase> wcs;
  const int64_t wg_sizes[][3] = {{136, 200, 328}, {256, 256, 64}, {72, 136, 520}};
  for (auto &s : wg_sizes)
    for (int t = 0; t < 4; t++) wcs.push_back({s[0], s[1], s[2], 1, t / 2, t % 2, 0, 0, 0, 0, 1, 0});
  wcs.push_back({130, 140, 200, 3, 0, 1, 8, 0, 1, 0, 0.5, -1.5}); /* batches, broadcast B, beta */
  wcs.push_back({130, 140, 200, 3, 1, 0, 0, 1, 0, 0, 1, 1});      /* broadcast A, beta 1 */
  wcs.push_back({66, 70, 130, 2, 0, 0, 14, 0, 0, 0, 1, 0});       /* padded ld: partial chunks at every edge */
  wcs.push_back({66, 70, 130, 2, 1, 1, 10, 0, 0, 0, 2, 0.25});
  wcs.push_back({40, 24, 0, 2, 0, 0, 0, 0, 0, 0, 1, 0.5});       /* k = 0: C = beta C */
  wcs.push_back({1100, 264, 64, 1, 0, 1, 0, 0, 0, 0, 1, 0});      /* more tile rows than one raster group */
  for (const gcase &c : wcs) {
    wgmma_all<__nv_bfloat16, 128>("wgmma bf16 128x128", c);
    wgmma_all<__half, 128>("wgmma f16 128x128", c);
    wgmma_all<__nv_bfloat16, 256>("wgmma bf16 128x256", c);
    wgmma_all<__half, 256>("wgmma f16 128x256", c);
  }
  printf("%d kernel runs (%lld warp or warpgroup MMAs), %d failed\n", cases_run, emu_mma_count, failures);
  return failures != 0;
}
