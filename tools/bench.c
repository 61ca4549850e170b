/* SPDX-License-Identifier: BSD-3-Clause */
/* `axon bench`: every kernel timed against the machine's ceilings, on the CPU or
 * a GPU, through the public ops (what a model pays, dispatch included).
 *
 *   axon bench [--device cpu|cuda] [--json FILE] [--quick] [OP|GROUP ...]
 *
 * Groups: memory (copy ... cross_entropy), gemm, conv, attention. Each row is
 * printed, and the JSON file rewritten with every row so far, the moment it is
 * measured: a run that is killed keeps what it measured (the GPU session runs
 * one process per group under a time limit, scripts/gpu/session1.sh).
 *
 * Method. Each op runs once to warm up (allocator caches, cuBLAS heuristics),
 * once more to size a batch, then in batches of back-to-back calls between two
 * ax_synchronize: a batch's wall time over its call count is what CUDA events
 * around the same launches would measure, and it works on the CPU too. The
 * reported time is the median over the batches. Inputs rotate among several
 * copies totalling at least 128 MB (more than twice an H100's 50 MB L2), so a
 * call never finds its inputs in a cache the previous call warmed.
 *
 * The ceilings are measured in the same run: copy bandwidth with the vendor's
 * copy (cudaMemcpy device to device; on the CPU, memcpy split over the OpenMP
 * threads), and matrix peak as cuBLAS's rate at 8192^3 in the same dtype (on
 * the CPU none is known). An op's roofline time is the larger of bytes / copy
 * bandwidth and FLOPs / peak, where bytes are what it cannot avoid moving
 * (inputs read once, outputs written once); "% roof" is roofline time over
 * measured time. GEMM is also run on cuBLAS (the vendor column) in the same
 * run, and our result is checked against cuBLAS's (a fast wrong answer is not
 * a result). Results go to docs/benchmarks.md with date, device and commit. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "axon.h"
#include "tools/cli.h"
#include "tools/commands.h"

#if defined(AXON_HAVE_CUDA)
#include <cuda_runtime_api.h> /* only for the copy-bandwidth reference (cudaMemcpy) */
#endif

/* kernels/cuda (weak: absent from a CPU-only build) */
void ax_cuda_gemm_set_impl(int impl) __attribute__((weak));
bool ax_cuda_attention_force_backend(int backend) __attribute__((weak));
bool ax_cuda_conv_force_backend(int backend) __attribute__((weak));
int ax_cuda_device_name(int dev, char *buf, size_t n) __attribute__((weak));
enum { GEMM_DEFAULT = 0, GEMM_NATIVE = 1, GEMM_CUBLAS = 2 };

#define ROTATE_BYTES (128.0 * 1024 * 1024)
#define MAX_SETS 16
#define MAX_RESULTS 64
#define MAX_BATCHES 15

typedef struct result {
  char op[24], shape[40];
  ax_dtype dtype;
  double us;           /* median per call; NAN if the op failed */
  double bytes, flops; /* the work it cannot avoid */
  double roof_pct;     /* NAN when no ceiling is known */
  char vendor[16];     /* "" when there is none */
  double vendor_us;
  char note[320]; /* an error, or a failed check */
  bool unreliable; /* a memory-bound op above 100% of its roofline */
} result;

static struct {
  ax_device dev;
  bool quick;
  bool tiny; /* --quick on the emulated device: sizes a host emulator runs in seconds, no vendor */
  const char *json, *date, *name; /* where each row is written as it is measured */
  bool printed_header;
  result res[MAX_RESULTS];
  int nres;
  double copy_bytes_per_s;           /* 0 until measured */
  double peak_flops[AX_NUM_DTYPES];  /* 0 until measured, <0 when unknown */
  char error[256];                   /* the last error an op reported */
} B;

static void record_error(const char *msg, void *user) {
  (void)user;
  snprintf(B.error, sizeof B.error, "%s", msg);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static bool on_gpu(void) { return B.dev.type == AX_DEVICE_CUDA; }

/* ---- timing ---- */

typedef struct op_ctx op_ctx;
typedef bool (*op_fn)(op_ctx *c, int set);

/* Up to MAX_SETS copies of an op's operands; call i uses set i % nsets. */
struct op_ctx {
  op_fn fn;
  int nsets;
  ax_tensor *x[MAX_SETS], *y[MAX_SETS], *z[MAX_SETS];
  void *px[MAX_SETS], *py[MAX_SETS]; /* raw device pointers (copy reference) */
  size_t nbytes;
  int mode; /* op-specific (attention: ATTN_* bits) */
};

static bool call(op_ctx *c, int i) {
  ax_scope_begin(); /* outputs are freed at once, as in a training step */
  bool ok = c->fn(c, i % c->nsets);
  ax_scope_end();
  return ok;
}

/* Median microseconds per call, NAN (B.error says why) if a call failed. */
static double time_op(op_ctx *c) {
  B.error[0] = 0;
  double t0 = now_s();
  if (!call(c, 0)) return NAN;
  ax_synchronize(B.dev);
  t0 = now_s();
  if (!call(c, 1)) return NAN;
  ax_synchronize(B.dev);
  double one = now_s() - t0;
  double target = B.quick ? 0.01 : 0.05; /* seconds per batch */
  int reps = one > 0 ? (int)(target / one) : 1000;
  reps = reps < 1 ? 1 : reps > 1000 ? 1000 : reps;
  int batches = B.quick ? 3 : 11;
  double t[MAX_BATCHES];
  int it = 2;
  for (int b = 0; b < batches; b++) {
    t0 = now_s();
    for (int r = 0; r < reps; r++)
      if (!call(c, it++)) return NAN;
    ax_synchronize(B.dev);
    t[b] = (now_s() - t0) / reps;
  }
  qsort(t, (size_t)batches, sizeof(double), cmp_double);
  return 1e6 * t[batches / 2];
}

static int sets_for(double bytes_per_set) {
  if (B.tiny) return 1;
  int n = (int)ceil(ROTATE_BYTES / (bytes_per_set > 1 ? bytes_per_set : 1));
  return n < 1 ? 1 : n > MAX_SETS ? MAX_SETS : n;
}

/* A tensor of uniform values in [lo, hi) on the bench device. */
static ax_tensor *input(ax_dtype dt, int ndim, const int64_t *shape, double lo, double hi) {
  ax_scope_begin();
  ax_tensor *u = ax_add_scalar(ax_mul_scalar(ax_rand(ndim, shape, NULL), hi - lo), lo);
  if (u && dt != AX_F32) u = ax_cast(u, dt);
  if (u && on_gpu()) u = ax_to(u, B.dev);
  if (u) ax_keep(u);
  ax_scope_end();
  return u;
}

/* ---- results ---- */

static result *add_result(const char *op, const char *shape, ax_dtype dt, double bytes, double flops) {
  if (B.nres == MAX_RESULTS) return NULL;
  result *r = &B.res[B.nres++];
  memset(r, 0, sizeof *r);
  snprintf(r->op, sizeof r->op, "%s", op);
  snprintf(r->shape, sizeof r->shape, "%s", shape);
  r->dtype = dt;
  r->bytes = bytes, r->flops = flops;
  r->us = r->vendor_us = r->roof_pct = NAN;
  return r;
}

static double peak_flops(ax_dtype dt);

static void finish(result *r) {
  if (!isnan(r->us) || r->note[0]) return;
  snprintf(r->note, sizeof r->note, "%s", B.error[0] ? B.error : "failed");
}

static void fill_roofline(result *r) {
  if (isnan(r->us)) return;
  double t_mem = B.copy_bytes_per_s > 0 ? r->bytes / B.copy_bytes_per_s : 0;
  double t_flop = 0;
  if (r->flops > 0) {
    double peak = peak_flops(r->dtype);
    if (peak <= 0) return; /* compute-bound and no known peak: no honest ceiling */
    t_flop = r->flops / peak;
  }
  double t = t_mem > t_flop ? t_mem : t_flop;
  if (t > 0) r->roof_pct = 100.0 * t / (1e-6 * r->us);
  /* A memory-bound op cannot beat the copy it is measured against; above 100% the
   * ceiling or the time was measured on a busy machine (a compute-bound op may beat
   * cuBLAS's 8192^3 rate, which is a measurement, not a law). */
  if (r->roof_pct > 100 && t_mem >= t_flop) {
    r->unreliable = true;
    if (!r->note[0])
      snprintf(r->note, sizeof r->note,
               "above 100%% of its roofline: unreliable (the machine was loaded while the ceiling or this op "
               "was timed); measure again");
  }
}

static void print_header(void) {
  printf("%-14s %-22s %-5s %11s %16s %7s  %-9s %11s %7s\n", "op", "shape", "dtype", "time (us)", "rate", "% roof",
         "vendor", "vendor (us)", "speed");
}

static void print_result(const result *r) {
  char rate[32] = "-", roof[16] = "-", vus[16] = "-", speed[16] = "-";
  if (!isnan(r->us)) {
    double s = 1e-6 * r->us;
    if (r->flops > 0) {
      if (on_gpu()) snprintf(rate, sizeof rate, "%.1f TFLOP/s", r->flops / s * 1e-12);
      else snprintf(rate, sizeof rate, "%.1f GFLOP/s", r->flops / s * 1e-9);
    } else {
      snprintf(rate, sizeof rate, "%.1f GB/s", r->bytes / s * 1e-9);
    }
    if (!isnan(r->roof_pct)) snprintf(roof, sizeof roof, "%.1f%%%s", r->roof_pct, r->unreliable ? "!" : "");
  }
  if (!isnan(r->vendor_us)) {
    snprintf(vus, sizeof vus, "%.1f", r->vendor_us);
    if (!isnan(r->us)) snprintf(speed, sizeof speed, "%.2f", r->vendor_us / r->us);
  }
  char us[16] = "failed";
  if (!isnan(r->us)) snprintf(us, sizeof us, "%.1f", r->us);
  printf("%-14s %-22s %-5s %11s %16s %7s  %-9s %11s %7s\n", r->op, r->shape, ax_dtype_name(r->dtype), us, rate,
         roof, r->vendor[0] ? r->vendor : "-", vus, speed);
  if (r->note[0]) printf("    note: %s\n", r->note);
  fflush(stdout);
}

static int write_json(const char *path, const char *date, const char *device);

/* A row is done: its roofline, its line, and the JSON file with every row so far. */
static void emit(result *r) {
  if (!r) return;
  fill_roofline(r);
  if (!B.printed_header) print_header(), B.printed_header = true;
  print_result(r);
  if (B.json) write_json(B.json, B.date, B.name);
}

/* ---- the copy ceiling ---- */

static bool copy_vendor(op_ctx *c, int s) {
#if defined(AXON_HAVE_CUDA)
  if (on_gpu()) {
    cudaError_t e = cudaMemcpyAsync(c->px[s], c->py[s], c->nbytes, cudaMemcpyDeviceToDevice, 0);
    if (e != cudaSuccess) snprintf(B.error, sizeof B.error, "cudaMemcpyAsync: %s", cudaGetErrorString(e));
    return e == cudaSuccess;
  }
#endif
  char *dst = c->px[s];
  const char *src = c->py[s];
  size_t n = c->nbytes;
#pragma omp parallel
  {
    size_t nt = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
    size_t lo = n * t / nt, hi = n * (t + 1) / nt;
    memcpy(dst + lo, src + lo, hi - lo);
  }
  return true;
}

static bool copy_ours(op_ctx *c, int s) { return ax_copy_(c->z[s], c->x[s]) == 0; }

/* copy: ours (ax_copy_) against the vendor's copy, which also sets the bandwidth ceiling;
 * with record false only the ceiling is measured */
static void bench_copy(int64_t rows, int64_t cols, bool record) {
  ax_scope_begin();
  int64_t shape[2] = {rows, cols};
  double nbytes = (double)rows * cols * 4;
  op_ctx c = {.fn = copy_ours, .nsets = sets_for(2 * nbytes), .nbytes = (size_t)nbytes};
  for (int s = 0; s < c.nsets; s++) {
    c.x[s] = input(AX_F32, 2, shape, -1, 1);
    c.z[s] = input(AX_F32, 2, shape, -1, 1);
    c.px[s] = c.z[s] ? ax_data_ptr(c.z[s]) : NULL;
    c.py[s] = c.x[s] ? ax_data_ptr(c.x[s]) : NULL;
  }
  bool ok = c.x[c.nsets - 1] && c.z[c.nsets - 1];
  op_ctx v = c;
  v.fn = copy_vendor;
  double vendor_us = ok ? time_op(&v) : NAN;
  if (!isnan(vendor_us)) B.copy_bytes_per_s = 2 * nbytes / (1e-6 * vendor_us);
  char sh[40];
  snprintf(sh, sizeof sh, "%lldx%lld", (long long)rows, (long long)cols);
  result *r = record ? add_result("copy", sh, AX_F32, 2 * nbytes, 0) : NULL;
  if (r) {
    snprintf(r->vendor, sizeof r->vendor, on_gpu() ? "cudaMemcpy" : "memcpy");
    r->vendor_us = vendor_us;
    r->us = ok ? time_op(&c) : NAN;
    finish(r);
    emit(r);
  }
  ax_scope_end();
}

/* ---- memory-bound ops ---- */

static bool op_copy_t(op_ctx *c, int s) { return ax_contiguous(ax_transpose(c->x[s], 0, 1)) != NULL; }
static bool op_add(op_ctx *c, int s) { return ax_add(c->x[s], c->y[s]) != NULL; }
static bool op_relu(op_ctx *c, int s) { return ax_relu(c->x[s]) != NULL; }
static bool op_gelu(op_ctx *c, int s) { return ax_gelu(c->x[s]) != NULL; }
static bool op_sum_rows(op_ctx *c, int s) { return ax_sum(c->x[s], 1, (const int[]){1}, false) != NULL; }
static bool op_sum_all(op_ctx *c, int s) { return ax_sum(c->x[s], 0, NULL, false) != NULL; }
static bool op_softmax(op_ctx *c, int s) { return ax_softmax(c->x[s], -1) != NULL; }
static bool op_cross_entropy(op_ctx *c, int s) { return ax_cross_entropy(c->x[s], c->y[s], NULL) != NULL; }

/* One op on x [rows, cols] (and y of y_shape when y_dims > 0, uniform in [y_lo, y_hi)). */
static void bench_mem(const char *name, op_fn fn, int64_t rows, int64_t cols, int y_dims, const int64_t *y_shape,
                      ax_dtype y_dtype, double y_lo, double y_hi, double bytes) {
  ax_scope_begin();
  int64_t shape[2] = {rows, cols};
  double x_bytes = (double)rows * cols * 4, y_bytes = 0;
  if (y_dims > 0) {
    y_bytes = ax_dtype_size(y_dtype);
    for (int d = 0; d < y_dims; d++) y_bytes *= (double)y_shape[d];
  }
  op_ctx c = {.fn = fn, .nsets = sets_for(x_bytes + y_bytes)};
  bool ok = true;
  for (int s = 0; s < c.nsets && ok; s++) {
    c.x[s] = input(AX_F32, 2, shape, -4, 4);
    if (y_dims > 0) c.y[s] = input(y_dtype, y_dims, y_shape, y_lo, y_hi);
    ok = c.x[s] && (y_dims == 0 || c.y[s]);
  }
  char sh[40];
  snprintf(sh, sizeof sh, "%lldx%lld", (long long)rows, (long long)cols);
  if (y_dims == 1) snprintf(sh + strlen(sh), sizeof sh - strlen(sh), " +%lld", (long long)y_shape[0]);
  result *r = add_result(name, sh, AX_F32, bytes, 0);
  if (r) {
    r->us = ok ? time_op(&c) : NAN;
    finish(r);
    emit(r);
  }
  ax_scope_end();
}

static void bench_memory_ops(int64_t n, int64_t ce_rows, int64_t vocab, bool (*want)(const char *)) {
  double b = (double)n * n * 4;
  int64_t sq[2] = {n, n}, row[1] = {n}, tgt[1] = {ce_rows};
  bench_copy(n, n, want("copy")); /* every run needs the ceiling */
  if (want("copy_t")) bench_mem("copy_t", op_copy_t, n, n, 0, NULL, AX_F32, 0, 0, 2 * b);
  if (want("add")) {
    bench_mem("add", op_add, n, n, 2, sq, AX_F32, -4, 4, 3 * b);
    bench_mem("add_bcast", op_add, n, n, 1, row, AX_F32, -4, 4, 2 * b);
  }
  if (want("relu")) bench_mem("relu", op_relu, n, n, 0, NULL, AX_F32, 0, 0, 2 * b);
  if (want("gelu")) bench_mem("gelu", op_gelu, n, n, 0, NULL, AX_F32, 0, 0, 2 * b);
  if (want("sum")) {
    bench_mem("sum_rows", op_sum_rows, n, n, 0, NULL, AX_F32, 0, 0, b);
    bench_mem("sum_all", op_sum_all, n, n, 0, NULL, AX_F32, 0, 0, b);
  }
  if (want("softmax")) bench_mem("softmax", op_softmax, n, n, 0, NULL, AX_F32, 0, 0, 2 * b);
  if (want("cross_entropy"))
    bench_mem("cross_entropy", op_cross_entropy, ce_rows, vocab, 1, tgt, AX_I64, 0, (double)vocab - 0.5,
              (double)ce_rows * vocab * 4);
}

/* ---- GEMM: ours and cuBLAS ---- */

static bool op_matmul(op_ctx *c, int s) { return ax_matmul(c->x[s], c->y[s]) != NULL; }

typedef struct gemm_timing {
  ax_dtype dt;
  int64_t n;
  int impl;
  double us;
} gemm_timing;
static gemm_timing gemm_cache[16];
static int gemm_cached;

static void set_gemm_impl(int impl) {
  if (ax_cuda_gemm_set_impl) ax_cuda_gemm_set_impl(impl);
}

/* n^3 GEMM of dtype dt on implementation impl (GEMM_DEFAULT on the CPU), in microseconds. */
static double gemm_us(ax_dtype dt, int64_t n, int impl) {
  for (int i = 0; i < gemm_cached; i++)
    if (gemm_cache[i].dt == dt && gemm_cache[i].n == n && gemm_cache[i].impl == impl) return gemm_cache[i].us;
  ax_scope_begin();
  int64_t shape[2] = {n, n};
  double es = (double)ax_dtype_size(dt);
  op_ctx c = {.fn = op_matmul, .nsets = sets_for(2 * es * n * n)};
  bool ok = true;
  for (int s = 0; s < c.nsets && ok; s++) {
    c.x[s] = input(dt, 2, shape, -1, 1);
    c.y[s] = input(dt, 2, shape, -1, 1);
    ok = c.x[s] && c.y[s];
  }
  set_gemm_impl(impl);
  double us = ok ? time_op(&c) : NAN;
  set_gemm_impl(GEMM_DEFAULT);
  ax_scope_end();
  if (gemm_cached < 16) gemm_cache[gemm_cached++] = (gemm_timing){dt, n, impl, us};
  return us;
}

/* cuBLAS at 8192^3 is the matrix ceiling of a dtype (measured once, on demand). */
static double peak_flops(ax_dtype dt) {
  if (B.peak_flops[dt] != 0) return B.peak_flops[dt];
  B.peak_flops[dt] = -1;
  if (!on_gpu() || !ax_cuda_gemm_set_impl || ax_cuda_emulated() || (dt != AX_F32 && dt != AX_BF16 && dt != AX_F16 && dt != AX_F64))
    return -1;
  double us = gemm_us(dt, 8192, GEMM_CUBLAS);
  if (!isnan(us)) B.peak_flops[dt] = 2.0 * 8192 * 8192 * 8192 / (1e-6 * us);
  return B.peak_flops[dt];
}

/* NMSE of our n^3 product against cuBLAS's on the same inputs; NAN if it could not be computed. */
static double gemm_check(ax_dtype dt, int64_t n) {
  ax_scope_begin();
  int64_t shape[2] = {n, n};
  ax_tensor *a = input(dt, 2, shape, -1, 1), *b = input(dt, 2, shape, -1, 1);
  set_gemm_impl(GEMM_NATIVE);
  ax_tensor *ours = ax_cast(ax_matmul(a, b), AX_F32);
  set_gemm_impl(GEMM_CUBLAS);
  ax_tensor *ref = ax_cast(ax_matmul(a, b), AX_F32);
  set_gemm_impl(GEMM_DEFAULT);
  ax_tensor *num = ax_sum(ax_square(ax_sub(ours, ref)), 0, NULL, false);
  ax_tensor *den = ax_sum(ax_square(ref), 0, NULL, false);
  double e = num && den ? ax_item(num) / ax_item(den) : NAN;
  ax_scope_end();
  return e;
}

static void bench_gemm(ax_dtype dt, int64_t n) {
  char sh[40];
  snprintf(sh, sizeof sh, "%lldx%lldx%lld", (long long)n, (long long)n, (long long)n);
  double es = (double)ax_dtype_size(dt);
  result *r = add_result("gemm", sh, dt, 3 * es * n * n, 2.0 * n * n * n);
  if (!r) return;
  bool vendor = on_gpu() && ax_cuda_gemm_set_impl && !ax_cuda_emulated();
  r->us = gemm_us(dt, n, on_gpu() && ax_cuda_gemm_set_impl ? GEMM_NATIVE : GEMM_DEFAULT);
  finish(r);
  if (vendor) {
    r->vendor_us = gemm_us(dt, n, GEMM_CUBLAS);
    snprintf(r->vendor, sizeof r->vendor, "cublas");
    double e = gemm_check(dt, n), bound = dt == AX_F32 ? 1e-8 : 1e-4;
    if (!(e <= bound) && !r->note[0])
      snprintf(r->note, sizeof r->note, "differs from cuBLAS: NMSE %.3g (bound %.0g)%s%s", e, bound,
               B.error[0] ? ": " : "", B.error);
  }
  emit(r);
}

/* ---- conv2d: the default CNN's layers (3x3, padding 1, batch 128) ---- */

enum { CONV_ENV = -1, CONV_NATIVE = 0, CONV_CUDNN = 1 }; /* ax_cuda_conv_force_backend */

static bool op_conv(op_ctx *c, int s) {
  return ax_conv2d(c->x[s], c->y[s], c->z[s], &(ax_conv2d_opts){.padding = 1}) != NULL;
}

static void bench_conv(const char *name, int64_t n, int64_t cin, int64_t hw, int64_t cout) {
  ax_scope_begin();
  int64_t xs[4] = {n, cin, hw, hw}, ws[4] = {cout, cin, 3, 3}, bs[1] = {cout};
  double x_bytes = 4.0 * n * cin * hw * hw, y_bytes = 4.0 * n * cout * hw * hw, w_bytes = 4.0 * cout * cin * 9;
  op_ctx c = {.fn = op_conv, .nsets = sets_for(x_bytes + w_bytes)};
  bool ok = true;
  for (int s = 0; s < c.nsets && ok; s++) {
    c.x[s] = input(AX_F32, 4, xs, -1, 1);
    c.y[s] = input(AX_F32, 4, ws, -0.3, 0.3);
    c.z[s] = input(AX_F32, 1, bs, -0.1, 0.1);
    ok = c.x[s] && c.y[s] && c.z[s];
  }
  char sh[40];
  snprintf(sh, sizeof sh, "%lldx%lldx%lldx%lld>%lld", (long long)n, (long long)cin, (long long)hw, (long long)hw,
           (long long)cout);
  result *r = add_result(name, sh, AX_F32, x_bytes + y_bytes + w_bytes, 2.0 * n * cout * hw * hw * cin * 9);
  if (r) {
    /* on a GPU: ours (AXON_CONV=native), then cuDNN in the vendor column */
    bool vendor = on_gpu() && ok && !ax_cuda_emulated() && ax_cuda_conv_force_backend &&
                  ax_cuda_conv_force_backend(CONV_CUDNN);
    if (on_gpu() && ax_cuda_conv_force_backend) ax_cuda_conv_force_backend(CONV_NATIVE);
    r->us = ok ? time_op(&c) : NAN;
    finish(r);
    if (vendor) {
      ax_cuda_conv_force_backend(CONV_CUDNN);
      r->vendor_us = time_op(&c);
      snprintf(r->vendor, sizeof r->vendor, "cudnn");
      if (isnan(r->vendor_us) && !r->note[0])
        snprintf(r->note, sizeof r->note, "cuDNN failed: %s", B.error[0] ? B.error : "?");
    }
    if (on_gpu() && ax_cuda_conv_force_backend) ax_cuda_conv_force_backend(CONV_ENV);
    emit(r);
  }
  ax_scope_end();
}

/* ---- attention: causal flash attention, forward and forward + backward ----
 * On a GPU: bf16 at T = 1024 and 4096, D = 64 and 128, 16K tokens per call, ours
 * (the native kernels, whatever AXON_ATTN says) against cuDNN's fused flash
 * attention (attention_cudnn.cu) in the vendor column, with our output checked
 * against cuDNN's. The speed column (cuDNN's time over ours = our TFLOP/s over
 * cuDNN's) of the "attention f+b" rows is issue 5's target: >= 0.70 at T = 1024
 * and 4096, D = 64 and 128; the note under each row gives cuDNN's TFLOP/s. On
 * the CPU: f32 at the GPT-on-CPU size (B 32, H 4, T 128, D 64), with the
 * composite softmax(q k^T * scale + causal mask) v built from matmul and
 * softmax in the vendor column. FLOPs are 4 B H T^2 D / 2 forward (causal) and
 * 3.5x that with the backward, FlashAttention's convention. */

enum { ATTN_TRAIN = 1, ATTN_COMPOSITE = 2 };
enum { ATTN_ENV = -1, ATTN_NATIVE = 0, ATTN_CUDNN = 1 }; /* ax_cuda_attention_force_backend */
static ax_tensor *attn_causal; /* [T, T] bool, for the composite */

/* False when the build has no CUDA or (for ATTN_CUDNN) no cuDNN. */
static bool set_attn_backend(int backend) {
  return ax_cuda_attention_force_backend && ax_cuda_attention_force_backend(backend);
}

/* NMSE of our causal forward against cuDNN's on q, k, v; NAN if it could not be computed. */
static double attention_check(ax_tensor *q, ax_tensor *k, ax_tensor *v) {
  ax_scope_begin();
  ax_sdpa_opts o = {.causal = true};
  set_attn_backend(ATTN_NATIVE);
  ax_tensor *ours = ax_cast(ax_scaled_dot_product_attention(q, k, v, &o), AX_F32);
  set_attn_backend(ATTN_CUDNN);
  ax_tensor *ref = ax_cast(ax_scaled_dot_product_attention(q, k, v, &o), AX_F32);
  ax_tensor *num = ax_sum(ax_square(ax_sub(ours, ref)), 0, NULL, false);
  ax_tensor *den = ax_sum(ax_square(ref), 0, NULL, false);
  double e = num && den ? ax_item(num) / ax_item(den) : NAN;
  ax_scope_end();
  return e;
}

/* cuDNN's time for the same op in the vendor column, its rate in the note, and our result checked against its. */
static void attention_vendor(result *r, op_ctx *c) {
  set_attn_backend(ATTN_CUDNN);
  r->vendor_us = time_op(c);
  snprintf(r->vendor, sizeof r->vendor, "cudnn");
  if (r->note[0]) return;
  if (isnan(r->vendor_us)) {
    snprintf(r->note, sizeof r->note, "cuDNN failed: %s", B.error[0] ? B.error : "?");
    return;
  }
  B.error[0] = 0;
  double e = c->mode & ATTN_TRAIN ? 0 : attention_check(c->x[0], c->y[0], c->z[0]);
  if (!(e <= 1e-4))
    snprintf(r->note, sizeof r->note, "differs from cuDNN: NMSE %.3g (bound 1e-4)%s%s", e, B.error[0] ? ": " : "",
             B.error);
  else
    snprintf(r->note, sizeof r->note, "cuDNN %.1f TFLOP/s", r->flops / (1e-6 * r->vendor_us) * 1e-12);
}

static bool op_attention(op_ctx *c, int s) {
  ax_tensor *q = c->x[s], *k = c->y[s], *v = c->z[s], *y;
  if (c->mode & ATTN_COMPOSITE) {
    ax_tensor *sc = ax_mul_scalar(ax_matmul(q, ax_transpose(k, 2, 3)), 1 / sqrt((double)q->shape[3]));
    sc = ax_where(attn_causal, sc, ax_scalar(-INFINITY, &(ax_tensor_opts){.dtype = q->dtype, .device = q->device}));
    y = ax_matmul(ax_softmax(sc, -1), v);
  } else {
    y = ax_scaled_dot_product_attention(q, k, v, &(ax_sdpa_opts){.causal = true});
  }
  if (y && (c->mode & ATTN_TRAIN)) return ax_backward(ax_sum(y, AX_ALL, false), NULL) == 0;
  return y != NULL;
}

static void bench_attention(ax_dtype dt, int64_t b, int64_t h, int64_t t, int64_t d, bool train) {
  ax_scope_begin();
  int64_t shape[4] = {b, h, t, d};
  double es = (double)ax_dtype_size(dt), io = es * b * h * t * d;
  op_ctx c = {.fn = op_attention, .nsets = sets_for(3 * io), .mode = train ? ATTN_TRAIN : 0};
  bool ok = true;
  for (int s = 0; s < c.nsets && ok; s++) {
    ax_tensor **slots[3] = {&c.x[s], &c.y[s], &c.z[s]};
    for (int i = 0; i < 3 && ok; i++) {
      *slots[i] = input(dt, 4, shape, -1, 1);
      if (*slots[i] && train) ax_set_requires_grad(*slots[i], true);
      ok = *slots[i] && (!train || (*slots[i])->requires_grad);
    }
  }
  char sh[40];
  snprintf(sh, sizeof sh, "B%lld H%lld T%lld D%lld", (long long)b, (long long)h, (long long)t, (long long)d);
  result *r = add_result(train ? "attention f+b" : "attention", sh, dt, io * (train ? 8 : 4),
                         2.0 * b * h * t * t * d * (train ? 3.5 : 1.0));
  if (r) {
    bool vendor = on_gpu() && ok && !ax_cuda_emulated() && set_attn_backend(ATTN_CUDNN);
    if (on_gpu()) set_attn_backend(ATTN_NATIVE);
    r->us = ok ? time_op(&c) : NAN;
    finish(r);
    if (vendor) attention_vendor(r, &c);
    set_attn_backend(ATTN_ENV);
    if (!on_gpu() && ok) {
      ax_tensor *i = ax_unsqueeze(ax_arange(0, (double)t, 1, NULL), 1), *j = ax_arange(0, (double)t, 1, NULL);
      attn_causal = ax_le(j, i);
      c.mode |= ATTN_COMPOSITE;
      r->vendor_us = attn_causal ? time_op(&c) : NAN;
      snprintf(r->vendor, sizeof r->vendor, "composite");
    }
    emit(r);
  }
  ax_scope_end();
  attn_causal = NULL; /* freed with the scope */
}

/* ---- output ---- */

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', f);
    if ((unsigned char)*s >= 0x20) fputc(*s, f);
  }
  fputc('"', f);
}

static void json_number(FILE *f, const char *key, double v) {
  fprintf(f, ", \"%s\": ", key);
  if (isnan(v) || isinf(v)) fputs("null", f);
  else fprintf(f, "%.6g", v);
}

/* Written to PATH.tmp, then renamed: a reader (or a kill) never sees half a file. */
static int write_json(const char *path, const char *date, const char *device) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) {
    fprintf(stderr, "axon bench: cannot write %s\n", tmp);
    return 1;
  }
  fprintf(f, "{\"date\": ");
  json_string(f, date);
  fprintf(f, ", \"device\": ");
  json_string(f, device);
  fprintf(f, ", \"quick\": %s", B.quick ? "true" : "false");
  json_number(f, "copy_gb_per_s", B.copy_bytes_per_s * 1e-9);
  fprintf(f, ",\n \"results\": [");
  for (int i = 0; i < B.nres; i++) {
    const result *r = &B.res[i];
    fprintf(f, "%s\n  {\"op\": ", i ? "," : "");
    json_string(f, r->op);
    fprintf(f, ", \"shape\": ");
    json_string(f, r->shape);
    fprintf(f, ", \"dtype\": ");
    json_string(f, ax_dtype_name(r->dtype));
    json_number(f, "us", r->us);
    json_number(f, "bytes", r->bytes);
    json_number(f, "flops", r->flops);
    json_number(f, "gb_per_s", isnan(r->us) ? NAN : r->bytes / r->us * 1e-3);
    json_number(f, "tflop_per_s", isnan(r->us) || r->flops == 0 ? NAN : r->flops / r->us * 1e-6);
    json_number(f, "roofline_pct", r->roof_pct);
    if (r->unreliable) fprintf(f, ", \"roofline_unreliable\": true");
    if (r->vendor[0]) {
      fprintf(f, ", \"vendor\": ");
      json_string(f, r->vendor);
      json_number(f, "vendor_us", r->vendor_us);
    }
    if (r->note[0]) {
      fprintf(f, ", \"note\": ");
      json_string(f, r->note);
    }
    fputc('}', f);
  }
  fprintf(f, "\n]}\n");
  if (fclose(f) != 0 || rename(tmp, path) != 0) {
    fprintf(stderr, "axon bench: cannot write %s\n", path);
    return 1;
  }
  return 0;
}

/* ---- command line ---- */

static const char *const op_names[] = {"copy", "copy_t", "add",  "relu",   "gelu", "sum",
                                       "softmax", "cross_entropy", "gemm", "conv2d", "attention"};
#define NUM_OPS ((int)(sizeof op_names / sizeof op_names[0]))
static bool wanted[NUM_OPS], any_wanted;

static bool want(const char *op) {
  if (!any_wanted) return true;
  for (int i = 0; i < NUM_OPS; i++)
    if (!strcmp(op_names[i], op)) return wanted[i];
  return false;
}

static const char *usage_line = "usage: axon bench [--device cpu|cuda] [--json FILE] [--quick] [OP|GROUP ...]";

static const char *const bench_devices[] = {"cpu", "cuda", NULL};

/* Marks the ops and groups named among argv as wanted; the options and their values go
 * to rest (for the flag parser). 0, or -1 after a message (a usage error). */
static int select_ops(int argc, char **argv, char **rest, int *nrest) {
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] == '-') {
      if (*nrest >= 62) {
        fprintf(stderr, "axon bench: too many arguments\n");
        return -1;
      }
      rest[(*nrest)++] = argv[i];
      if ((!strcmp(a, "--device") || !strcmp(a, "--json")) && i + 1 < argc) rest[(*nrest)++] = argv[++i];
      continue;
    }
    if (!strcmp(a, "memory")) { /* a group: the memory-bound ops */
      for (int k = 0; k < NUM_OPS; k++)
        if (strcmp(op_names[k], "gemm") && strcmp(op_names[k], "conv2d") && strcmp(op_names[k], "attention"))
          wanted[k] = any_wanted = true;
      continue;
    }
    if (!strcmp(a, "conv")) a = "conv2d";
    int k = 0;
    while (k < NUM_OPS && strcmp(op_names[k], a)) k++;
    if (k == NUM_OPS) {
      fprintf(stderr, "axon bench: unknown op or group '%s' (ops: copy copy_t add relu gelu sum softmax cross_entropy gemm conv2d attention; groups: memory gemm conv attention)\n", a);
      return -1;
    }
    wanted[k] = any_wanted = true;
  }
  return 0;
}

/* Times every wanted op at the sizes of this device (B.dev, B.tiny). */
static void run_benches(bool quick) {
  /* sizes: 64 MB f32 tensors (the targets are stated for >= 64 MB); smaller for a quick CPU run */
  bool small = quick && !on_gpu();
  int64_t n = B.tiny ? 256 : small ? 1024 : 4096, ce_rows = B.tiny ? 8 : small ? 64 : 512, vocab = B.tiny ? 1024 : 50304;
  bench_memory_ops(n, ce_rows, vocab, want);
  if (want("gemm")) {
    if (on_gpu()) {
      const ax_dtype dts[2] = {AX_F32, AX_BF16};
      for (int d = 0; d < 2; d++) {
        bench_gemm(dts[d], B.tiny ? 64 : 4096);
        bench_gemm(dts[d], B.tiny ? 129 : 8192);
      }
    } else {
      bench_gemm(AX_F32, small ? 256 : 1024);
      bench_gemm(AX_F32, small ? 512 : 2048);
    }
  }
  if (want("conv2d")) {
    int64_t batch = B.tiny ? 1 : small ? 16 : 128;
    bench_conv("conv2d cnn.1", batch, 1, 28, 32);
    bench_conv("conv2d cnn.2", batch, 32, 14, 64);
  }
  if (want("attention"))
    for (int train = 0; train < 2; train++) {
      if (B.tiny) {
        bench_attention(AX_BF16, 1, 2, 128, 64, train);
      } else if (on_gpu()) {
        const int64_t ts[2] = {1024, 4096}, ds[2] = {64, 128};
        for (int ti = 0; ti < 2; ti++)
          for (int di = 0; di < 2; di++)
            bench_attention(AX_BF16, 16384 / ts[ti], 2048 / ds[di], ts[ti], ds[di], train);
      } else {
        bench_attention(AX_F32, small ? 8 : 32, 4, 128, 64, train);
      }
    }
}

/* The ceilings the roofline percentages were measured against. */
static void print_footer(void) {
  if (!B.printed_header) print_header();
  printf("\ncopy ceiling: %.1f GB/s (%s, read + write counted)", B.copy_bytes_per_s * 1e-9,
         on_gpu() ? "cudaMemcpy device to device" : "memcpy on every thread");
  for (int d = 0; d < AX_NUM_DTYPES; d++)
    if (B.peak_flops[d] > 0) printf("; %s peak: %.1f TFLOP/s (cuBLAS 8192^3)", ax_dtype_name((ax_dtype)d), B.peak_flops[d] * 1e-12);
  printf("\nspeed: vendor time / our time (above 1: ours is faster)\n");
}

int ax_tool_bench(int argc, char **argv) {
  const char *device = NULL, *json = NULL;
  bool quick = false;
  const ax_flag flags[] = {
      {"device", AX_FLAG_STRING, &device, "cpu|cuda", "where to run (default: cuda when a GPU is usable, else cpu)",
       .choices = bench_devices},
      {"json", AX_FLAG_STRING, &json, "FILE", "also write the results as JSON (rewritten after every row)",
       .rules = AX_RULE_OUT_FILE},
      {"quick", AX_FLAG_BOOL, &quick, NULL, "fewer and shorter runs, smaller CPU sizes (a smoke test)"},
  };
  /* op names are positional; the flag parser sees the rest */
  char *rest[64];
  int nrest = 0;
  if (select_ops(argc, argv, rest, &nrest)) return AX_EXIT_USAGE;
  int rc = ax_cli_parse("bench", usage_line,
                        "Times each kernel (median of batches, inputs rotated past the L2 cache) and prints time,\n"
                        "GB/s or FLOP/s, % of the roofline measured in the same run (copy bandwidth; cuBLAS at\n"
                        "8192^3 for matrix peak) and the vendor library's time where there is one.\n"
                        "OP: copy copy_t add relu gelu sum softmax cross_entropy gemm conv2d attention (default: all);\n"
                        "GROUP: memory (copy ... cross_entropy), gemm, conv, attention. Each row is printed, and the\n"
                        "JSON file rewritten, as soon as it is measured; a roofline above 100% for a memory-bound op\n"
                        "is marked '!' (unreliable: the machine was busy).",
                        flags, (int)(sizeof flags / sizeof flags[0]), nrest, rest);
  if (rc != 0) return rc > 0 ? 0 : AX_EXIT_USAGE;

  memset(&B, 0, sizeof B);
  B.quick = quick;
  if (!device) B.dev = ax_default_device();
  else if (!strcmp(device, "cpu")) B.dev = AX_CPU;
  else if (!strcmp(device, "cuda")) B.dev = AX_CUDA(0);
  else {
    fprintf(stderr, "axon bench: bad value '%s' for option '--device' (cpu or cuda)\n", device);
    return AX_EXIT_USAGE;
  }
  if (on_gpu() && ax_cuda_device_count() == 0) {
    fprintf(stderr, "axon bench: no usable CUDA device (%s)\n",
            ax_has_cuda() ? "none found" : "this build has no CUDA backend");
    return 1;
  }

  char date[32], name[256];
  time_t t = time(NULL);
  strftime(date, sizeof date, "%Y-%m-%d %H:%M", localtime(&t));
  if (on_gpu()) {
    if (!ax_cuda_device_name || ax_cuda_device_name(0, name, sizeof name) != 0) snprintf(name, sizeof name, "cuda:0");
  } else {
    char cpu[200];
    snprintf(name, sizeof name, "%s, %d threads", ax_cpu_name(cpu, sizeof cpu), ax_num_threads());
  }
  B.tiny = quick && on_gpu() && ax_cuda_emulated();
  B.json = json, B.date = date, B.name = name;
  printf("axon bench   %s   %s%s\n\n", date, name, B.tiny ? "   (quick, emulated-device sizes)" : quick ? "   (quick)" : "");
  fflush(stdout);
  ax_error_handler old = ax_set_error_handler(record_error, NULL);
  ax_scope_begin();

  run_benches(quick);
  print_footer();

  ax_scope_end();
  ax_set_error_handler(old, NULL);
  return json && write_json(json, date, name) ? 1 : 0; /* the last rewrite: every row, and the ceilings */
}
