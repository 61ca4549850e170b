/* SPDX-License-Identifier: BSD-3-Clause */
/* bench_cpu: the CPU kernels measured against the machine's ceilings.
 *
 *   bench_cpu [--threads N] [--json FILE] [--quick] [gemm] [add] [softmax] [sum]
 *
 * GEMM (square f32) is compared with OpenBLAS's cblas_sgemm on the same
 * shapes in the same run when the build found OpenBLAS. The memory-bound
 * kernels are compared with memcpy of the same 64 MiB on the same threads,
 * which is the roofline they can hope to reach. Each timing is the median of
 * several runs after warm-up; ours and the reference run in alternating blocks.
 *
 * The kernels are called directly (kernels/cpu/cpu.h) on plain buffers: this
 * measures the kernel, not the op layer's allocation and dispatch.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/cpu/cpu.h"

#ifdef AXON_BENCH_OPENBLAS
#include <cblas.h>
#endif

#define MAX_RESULTS 32
#define MAX_REPS 64

typedef struct result {
  char kernel[32], shape[40];
  const char *unit; /* GFLOP/s or GB/s */
  double ms, rate;
  char ref[32]; /* "" when there is no reference */
  double ref_ms, ref_rate;
} result;

static result results[MAX_RESULTS];
static int num_results;
static int quick;

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof(double), cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef void (*bench_fn)(void *ctx);

static void sleep_s(double s) {
  struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&t, NULL);
}

/* Times `reps` runs of `fn` after one warm-up run into t[0 .. reps). */
static void time_block(bench_fn fn, void *ctx, int reps, double *t) {
  fn(ctx);
  for (int r = 0; r < reps; r++) {
    double t0 = now_s();
    fn(ctx);
    t[r] = now_s() - t0;
  }
}

/* Median seconds per run of ours and of ref (NULL: none). They run in
 * alternating blocks, a few rounds each, so that a noisy neighbour hurts both
 * alike. settle_s is slept before every block: OpenBLAS's idle workers spin
 * for about 0.1 s after a call, and on a machine with as many cores as
 * threads a spinning worker of one library stalls the other's team. */
static void time_pair(bench_fn ours, void *ours_ctx, bench_fn ref, void *ref_ctx, int reps,
                      double settle_s, double *ours_s, double *ref_s) {
  double t_ours[MAX_REPS], t_ref[MAX_REPS];
  int rounds = quick ? 1 : 3;
  int per_round = (reps + rounds - 1) / rounds;
  if (per_round * rounds > MAX_REPS) per_round = MAX_REPS / rounds;
  for (int round = 0; round < rounds; round++) {
    sleep_s(settle_s);
    time_block(ours, ours_ctx, per_round, t_ours + round * per_round);
    if (ref) {
      sleep_s(settle_s);
      time_block(ref, ref_ctx, per_round, t_ref + round * per_round);
    }
  }
  *ours_s = median(t_ours, rounds * per_round);
  *ref_s = ref ? median(t_ref, rounds * per_round) : 0;
}

static result *add_result(const char *kernel, const char *shape, const char *unit) {
  if (num_results == MAX_RESULTS) {
    fprintf(stderr, "bench_cpu: too many results\n");
    exit(1);
  }
  result *r = &results[num_results++];
  memset(r, 0, sizeof *r);
  snprintf(r->kernel, sizeof r->kernel, "%s", kernel);
  snprintf(r->shape, sizeof r->shape, "%s", shape);
  r->unit = unit;
  return r;
}

static void print_result(const result *r) {
  printf("%-10s %-20s %10.3f %9.1f %-8s", r->kernel, r->shape, r->ms, r->rate, r->unit);
  if (r->ref[0])
    printf("  %-12s %10.3f %9.1f %-8s %6.2f\n", r->ref, r->ref_ms, r->ref_rate, r->unit,
           r->rate / r->ref_rate);
  else
    printf("  %-12s %10s %9s %-8s %6s\n", "-", "-", "-", "", "-");
  fflush(stdout);
}

static float *alloc_floats(int64_t n) {
  float *p = aligned_alloc(64, ((size_t)n * sizeof(float) + 63) & ~(size_t)63);
  if (!p) {
    fprintf(stderr, "bench_cpu: out of memory\n");
    exit(1);
  }
  return p;
}

/* Deterministic values in [-1, 1), written by the threads that will read them. */
static void fill_uniform(float *p, int64_t n, uint64_t seed) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) {
    uint64_t x = (uint64_t)i * 0x9e3779b97f4a7c15ull + seed;
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 29;
    p[i] = (float)((double)(x >> 11) / (double)(1ull << 52) - 1.0);
  }
}

static ax_kt view_2d(float *data, int64_t rows, int64_t cols) {
  ax_kt t = {.data = data, .dtype = AX_F32, .ndim = 2};
  t.shape[0] = rows;
  t.shape[1] = cols;
  t.strides[0] = cols;
  t.strides[1] = 1;
  return t;
}

/* ---- GEMM ---- */

typedef struct gemm_ctx {
  int64_t n;
  const float *a, *b;
  float *c;
} gemm_ctx;

static void run_axon_sgemm(void *vctx) {
  gemm_ctx *g = vctx;
  ax_gemm_args args = {.dtype = AX_F32, .m = g->n, .n = g->n, .k = g->n, .alpha = 1, .beta = 0,
                       .a = g->a, .lda = g->n, .b = g->b, .ldb = g->n,
                       .c = g->c, .ldc = g->n, .batch = 1};
  ax_cpu_gemm(&args);
}

#ifdef AXON_BENCH_OPENBLAS
static void run_openblas_sgemm(void *vctx) {
  gemm_ctx *g = vctx;
  int n = (int)g->n;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, g->a, n, g->b, n, 0.0f,
              g->c, n);
}
#endif

static void bench_gemm(void) {
  const int64_t sizes[] = {256, 512, 1024, 2048};
  for (int s = 0; s < 4; s++) {
    int64_t n = sizes[s];
    float *a = alloc_floats(n * n), *b = alloc_floats(n * n);
    float *c = alloc_floats(n * n), *c_ref = alloc_floats(n * n);
    fill_uniform(a, n * n, 1);
    fill_uniform(b, n * n, 2);
    gemm_ctx ours = {n, a, b, c}, ref = {n, a, b, c_ref};
    /* about a second per size, at least 5 runs for a median */
    int reps = (int)(4e10 / (2.0 * n * n * n));
    reps = reps < 6 ? 6 : reps > 30 ? 30 : reps;
    if (quick) reps = 3;

    char shape[40];
    snprintf(shape, sizeof shape, "%lldx%lldx%lld", (long long)n, (long long)n, (long long)n);
    result *r = add_result("sgemm", shape, "GFLOP/s");
    double flops = 2.0 * n * n * n, t, t_ref;
#ifdef AXON_BENCH_OPENBLAS
    time_pair(run_axon_sgemm, &ours, run_openblas_sgemm, &ref, reps, 0.3, &t, &t_ref);
    snprintf(r->ref, sizeof r->ref, "openblas");
    r->ref_ms = 1e3 * t_ref;
    r->ref_rate = flops / t_ref * 1e-9;
    /* a fast wrong answer is not a result */
    double worst = 0;
    for (int64_t i = 0; i < n * n; i++) {
      double d = fabs((double)c[i] - c_ref[i]) / (1.0 + fabs((double)c_ref[i]));
      if (!(d <= worst)) worst = d;
    }
    if (!(worst < 1e-3)) fprintf(stderr, "bench_cpu: sgemm n=%lld differs from OpenBLAS by %g\n", (long long)n, worst);
#else
    (void)ref;
    time_pair(run_axon_sgemm, &ours, NULL, NULL, reps, 0, &t, &t_ref);
#endif
    r->ms = 1e3 * t;
    r->rate = flops / t * 1e-9;
    print_result(r);
    free(a);
    free(b);
    free(c);
    free(c_ref);
  }
}

/* ---- memory-bound kernels, 64 MiB of f32 each ---- */

#define BIG_ROWS 4096
#define BIG_COLS 4096
#define BIG_ELEMS ((int64_t)BIG_ROWS * BIG_COLS)
#define BIG_BYTES ((double)BIG_ELEMS * sizeof(float))

typedef struct mem_ctx {
  float *x, *y, *out, *scalar;
} mem_ctx;

/* The copy roofline: each thread copies its own contiguous share. */
static void run_memcpy(void *vctx) {
  mem_ctx *m = vctx;
#pragma omp parallel
  {
    int nt = omp_get_num_threads(), t = omp_get_thread_num();
    int64_t lo = BIG_ELEMS * t / nt, hi = BIG_ELEMS * (t + 1) / nt;
    memcpy(m->out + lo, m->x + lo, (size_t)(hi - lo) * sizeof(float));
  }
}

static void run_add(void *vctx) {
  mem_ctx *m = vctx;
  ax_kt out = view_2d(m->out, BIG_ROWS, BIG_COLS), x = view_2d(m->x, BIG_ROWS, BIG_COLS),
        y = view_2d(m->y, BIG_ROWS, BIG_COLS);
  ax_cpu_binary(AX_BINARY_ADD, &out, &x, &y);
}

static void run_softmax(void *vctx) {
  mem_ctx *m = vctx;
  ax_kt out = view_2d(m->out, BIG_ROWS, BIG_COLS), x = view_2d(m->x, BIG_ROWS, BIG_COLS);
  ax_cpu_softmax(&out, &x, 0);
}

static void run_sum(void *vctx) {
  mem_ctx *m = vctx;
  ax_kt out = view_2d(m->scalar, 1, 1), x = view_2d(m->x, BIG_ROWS, BIG_COLS);
  ax_cpu_reduce(AX_REDUCE_SUM, &out, &x);
}

/* One memory-bound kernel moving `bytes_moved` per run, against memcpy. */
static void bench_memory_kernel(const char *kernel, bench_fn fn, mem_ctx *m, double bytes_moved) {
  int reps = quick ? 3 : 15;
  double t, t_copy;
  time_pair(fn, m, run_memcpy, m, reps, 0, &t, &t_copy);
  result *r = add_result(kernel, "4096x4096 f32", "GB/s");
  r->ms = 1e3 * t;
  r->rate = bytes_moved / t * 1e-9;
  snprintf(r->ref, sizeof r->ref, "memcpy");
  r->ref_ms = 1e3 * t_copy;
  r->ref_rate = 2 * BIG_BYTES / t_copy * 1e-9; /* read + write */
  print_result(r);
}

/* ---- report ---- */

/* Other work on the machine skews every number: say how busy it was. */
static double load_average(void) {
  double load = -1;
  FILE *f = fopen("/proc/loadavg", "r");
  if (f) {
    if (fscanf(f, "%lf", &load) != 1) load = -1;
    fclose(f);
  }
  return load;
}

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', f);
    if ((unsigned char)*s >= 0x20) fputc(*s, f);
  }
  fputc('"', f);
}

static int write_json(const char *path, const char *cpu, int threads, const char *date,
                      double load) {
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    return 1;
  }
  fprintf(f, "{\n  \"date\": ");
  json_string(f, date);
  fprintf(f, ",\n  \"cpu\": ");
  json_string(f, cpu);
  fprintf(f, ",\n  \"threads\": %d,\n  \"load_average\": %.2f,\n  \"results\": [", threads, load);
  for (int i = 0; i < num_results; i++) {
    const result *r = &results[i];
    fprintf(f, "%s\n    {\"kernel\": ", i ? "," : "");
    json_string(f, r->kernel);
    fprintf(f, ", \"shape\": ");
    json_string(f, r->shape);
    fprintf(f, ", \"unit\": ");
    json_string(f, r->unit);
    fprintf(f, ", \"ms\": %.6g, \"rate\": %.6g", r->ms, r->rate);
    if (r->ref[0]) {
      fprintf(f, ", \"ref\": ");
      json_string(f, r->ref);
      fprintf(f, ", \"ref_ms\": %.6g, \"ref_rate\": %.6g, \"ratio\": %.4f", r->ref_ms, r->ref_rate,
              r->rate / r->ref_rate);
    }
    fprintf(f, "}");
  }
  fprintf(f, "\n  ]\n}\n");
  return fclose(f) != 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: bench_cpu [--threads N] [--json FILE] [--quick] [gemm] [add] [softmax] [sum]\n"
          "  no kernel names: run them all\n");
}

int main(int argc, char **argv) {
  int threads = 0;
  const char *json_path = NULL;
  int want_gemm = 0, want_add = 0, want_softmax = 0, want_sum = 0, any = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
    else if (!strcmp(argv[i], "--quick")) quick = 1;
    else if (!strcmp(argv[i], "gemm")) want_gemm = any = 1;
    else if (!strcmp(argv[i], "add")) want_add = any = 1;
    else if (!strcmp(argv[i], "softmax")) want_softmax = any = 1;
    else if (!strcmp(argv[i], "sum")) want_sum = any = 1;
    else {
      usage();
      return 2;
    }
  }
  if (!any) want_gemm = want_add = want_softmax = want_sum = 1;
  if (threads > 0) omp_set_num_threads(threads);
  threads = omp_get_max_threads();
#ifdef AXON_BENCH_OPENBLAS
  openblas_set_num_threads(threads);
#endif

  char cpu[256], date[32];
  ax_cpu_name(cpu, sizeof cpu);
  time_t now = time(NULL);
  strftime(date, sizeof date, "%Y-%m-%d %H:%M", localtime(&now));
  printf("axon bench_cpu   %s%s\n", date, quick ? "   (quick)" : "");
  printf("cpu      %s\n", cpu);
  double load = load_average();
  printf("threads  %d\n", threads);
  printf("load     %.2f (1-minute average before the run; other work skews the numbers)\n", load);
#ifdef AXON_BENCH_OPENBLAS
  printf("openblas %s\n", openblas_get_config());
#else
  printf("openblas not found at build time\n");
#endif
  printf("\n%-10s %-20s %10s %9s %-8s  %-12s %10s %9s %-8s %6s\n", "kernel", "shape", "ms",
         "rate", "", "reference", "ms", "rate", "", "ratio");

  if (want_gemm) bench_gemm();

  if (want_add || want_softmax || want_sum) {
    mem_ctx m = {alloc_floats(BIG_ELEMS), alloc_floats(BIG_ELEMS), alloc_floats(BIG_ELEMS),
                 alloc_floats(16)};
    fill_uniform(m.x, BIG_ELEMS, 3);
    fill_uniform(m.y, BIG_ELEMS, 4);
    fill_uniform(m.out, BIG_ELEMS, 5);
    sleep_s(0.3); /* let OpenBLAS's workers from the GEMM runs go idle */
    /* bytes a kernel cannot avoid moving: inputs read once, outputs written once */
    if (want_add) bench_memory_kernel("add", run_add, &m, 3 * BIG_BYTES);
    if (want_softmax) bench_memory_kernel("softmax", run_softmax, &m, 2 * BIG_BYTES);
    if (want_sum) bench_memory_kernel("sum", run_sum, &m, BIG_BYTES);
    free(m.x);
    free(m.y);
    free(m.out);
    free(m.scalar);
  }

  printf("\nratio: ours / reference rate (memcpy: the copy roofline, read + write counted)\n");
  if (json_path && write_json(json_path, cpu, threads, date, load)) return 1;
  return 0;
}
