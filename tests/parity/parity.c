/* SPDX-License-Identifier: BSD-3-Clause */
/* The GPU parity runner: main() and the pr_* helpers of parity.h.
 *
 *   axon_parity [-v] [--tier full|emulate] [--kernels] [--families] [FAMILY ...]
 *
 * Runs every linked family (or those named) against the CPU on cuda:0 and
 * prints each failing case as it happens, then a table per op: cases, passed,
 * the worst NMSE, the bound it was held to and the seconds its cases took.
 * Exit status 1 if any case failed, 0 otherwise; without a CUDA device every
 * case is skipped with one line and the status is 0. -v prints every case.
 * --tier picks the sizes (parity.h; default: emulate on the emulated device,
 * full elsewhere). On the emulated device the run ends with the kernel list
 * (parity.h), and with no family named a kernel never launched is a failure;
 * --kernels prints the list alone. --families prints each family of
 * kernels/kernels.def, "linked" or "missing", one a line, and exits (0).
 *
 * Every new CUDA tensor is poisoned (NaN, or 0x7f bytes for integers and
 * bool), so an element a kernel never writes fails its comparison. Errors
 * reported while a family runs are failures too: the error handler keeps the
 * message and the next pr_check fails with it (an op that returned NULL fails
 * as "op: <message>"). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/internal.h"
#include "kernels/cuda/runtime.h"
#include "kernels/half.h"
#include "parity.h"

/* kernels/cuda/runtime.h: weak, since the runner also links without the CUDA backend */
int ax_cuda_is_emulated(void) __attribute__((weak));
int ax_cuda_kernel_counts(ax_cuda_kernel_count *out, int cap) __attribute__((weak));

/* ---------------- bounds and error ---------------- */

double pr_bound(ax_dtype dt, pr_kind kind) {
  if (kind == PR_EXACT || !ax_dtype_is_float(dt)) return 0;
  bool elementwise = kind == PR_ELEMENTWISE;
  switch (dt) {
    case AX_F32: return elementwise ? 1e-10 : 1e-7;
    case AX_F64: return elementwise ? 1e-24 : 1e-20;
    case AX_BF16: return 1e-4;
    case AX_F16: return 1e-5;
    default: return 0;
  }
}

static double load(const unsigned char *buf, ax_dtype dt, int64_t i) {
  switch (dt) {
    case AX_F32: { float v; memcpy(&v, buf + 4 * i, 4); return v; }
    case AX_F64: { double v; memcpy(&v, buf + 8 * i, 8); return v; }
    case AX_BF16: { uint16_t v; memcpy(&v, buf + 2 * i, 2); return ax_bf16_to_f32(v); }
    case AX_F16: { uint16_t v; memcpy(&v, buf + 2 * i, 2); return ax_f16_to_f32(v); }
    case AX_I32: { int32_t v; memcpy(&v, buf + 4 * i, 4); return v; }
    case AX_I64: { int64_t v; memcpy(&v, buf + 8 * i, 8); return (double)v; }
    case AX_I8: return (int8_t)buf[i];
    default: return buf[i]; /* u8, and bool as its raw byte: a poisoned 0x7f is not 1 */
  }
}

/* Host copies of t's elements (t's dtype, contiguous); NULL after an error. */
static unsigned char *host_bytes(ax_tensor *t) {
  size_t n = ax_nbytes(t);
  unsigned char *buf = malloc(n ? n : 1);
  if (buf && ax_to_data(t, buf, n) != 0) {
    free(buf);
    return NULL;
  }
  return buf;
}

double pr_nmse(ax_tensor *ref, ax_tensor *got) {
  if (!ref || !got || !ax_same_shape(ref, got) || ref->dtype != got->dtype) return INFINITY;
  unsigned char *r = host_bytes(ref), *g = host_bytes(got);
  double num = 0, den = 0;
  bool bad = !r || !g;
  int64_t n = ax_numel(ref);
  for (int64_t i = 0; i < n && !bad; i++) {
    double a = load(r, ref->dtype, i), b = load(g, got->dtype, i);
    if (!isfinite(a) || !isfinite(b)) {
      /* NaN never passes unless the reference has NaN there too; infinities must match */
      bool same = (isnan(a) && isnan(b)) || (isinf(a) && a == b);
      if (!same) bad = true;
      continue;
    }
    num += (a - b) * (a - b);
    den += a * a;
  }
  free(r);
  free(g);
  if (bad) return INFINITY;
  return den > 0 ? num / den : num; /* an all-zero reference: the absolute error */
}

/* ---------------- results ---------------- */

#define MAX_OPS 512

typedef struct op_stats {
  char name[64];
  int cases, passed;
  double seconds; /* wall time since the previous record, summed */
  double worst, worst_bound; /* the case with the largest nmse / bound */
  char worst_desc[160];
} op_stats;

static op_stats ops[MAX_OPS];
static int n_ops, total_cases, total_failed;
static bool verbose;
static char pending_error[1024]; /* the first error reported since the last check */
static int pending_errors;

static void record_error(const char *message, void *user) {
  (void)user;
  if (!pending_errors++) snprintf(pending_error, sizeof pending_error, "%s", message);
  if (verbose) fprintf(stderr, "  error: %s\n", message);
}

static op_stats *stats_for(const char *op) {
  for (int i = 0; i < n_ops; i++)
    if (!strcmp(ops[i].name, op)) return &ops[i];
  if (n_ops == MAX_OPS) return &ops[MAX_OPS - 1];
  op_stats *s = &ops[n_ops++];
  memset(s, 0, sizeof *s);
  snprintf(s->name, sizeof s->name, "%s", op);
  s->worst = -1;
  return s;
}

static double now_s(void);
static double last_record; /* when the previous case was recorded (or its family began) */

static void record(const char *op, const char *desc, bool pass, double nmse, double bound, const char *why) {
  op_stats *s = stats_for(op);
  double t = now_s(), dt = t - last_record;
  s->seconds += dt;
  last_record = t;
  s->cases++;
  total_cases++;
  if (pass) s->passed++;
  else total_failed++;
  double score = bound > 0 ? nmse / bound : (nmse > 0 ? INFINITY : 0);
  double worst_score = s->worst_bound > 0 ? s->worst / s->worst_bound : (s->worst > 0 ? INFINITY : 0);
  if (s->worst < 0 || score > worst_score || (isnan(nmse) && !isnan(s->worst))) {
    s->worst = nmse;
    s->worst_bound = bound;
    snprintf(s->worst_desc, sizeof s->worst_desc, "%s", desc);
  }
  if (!pass)
    printf("FAIL %s %s: %s\n", op, desc, why);
  else if (verbose)
    printf("ok   %s %s: nmse %.3g (bound %.3g) %.3f s\n", op, desc, nmse, bound, dt);
  fflush(stdout);
}

static bool check(const char *op, const char *desc, ax_tensor *ref, ax_tensor *got, double bound);

bool pr_check(const char *op, const char *desc, ax_tensor *ref, ax_tensor *got, pr_kind kind) {
  return check(op, desc, ref, got, ref ? pr_bound(ref->dtype, kind) : 0);
}

bool pr_check_bound(const char *op, const char *desc, ax_tensor *ref, ax_tensor *got, double bound) {
  return check(op, desc, ref, got, bound);
}

bool pr_expect_error(const char *op, const char *desc, bool returned_failure, const char *needle) {
  char why[1200];
  bool pass = returned_failure && pending_errors > 0 && strstr(pending_error, needle) != NULL;
  if (!pass)
    snprintf(why, sizeof why, "expected a failure with an error containing \"%s\"; %s%s", needle,
             returned_failure ? "it failed" : "it succeeded",
             pending_errors ? ", error: " : " and reported no error");
  if (!pass && pending_errors) strncat(why, pending_error, sizeof why - strlen(why) - 1);
  else if (pass && verbose) printf("     (error: %s)\n", pending_error);
  pending_errors = 0;
  record(op, desc, pass, pass ? 0 : INFINITY, 0, why);
  return pass;
}

static bool check(const char *op, const char *desc, ax_tensor *ref, ax_tensor *got, double bound) {
  char why[1200];
  if (pending_errors) { /* the op (or its backward) reported an error */
    snprintf(why, sizeof why, "%s: %s%s", op, pending_error, pending_errors > 1 ? " (and more errors)" : "");
    pending_errors = 0;
    record(op, desc, false, INFINITY, 0, why);
    return false;
  }
  if (!ref || !got) {
    snprintf(why, sizeof why, "%s", !ref ? "no reference result (the CPU side failed)" : "no result from CUDA");
    record(op, desc, false, INFINITY, 0, why);
    return false;
  }
  ax_scope_begin();
  double nmse = pr_nmse(ref, got);
  ax_scope_end();
  if (pending_errors) { /* comparing needed a copy that failed: the device is in trouble */
    snprintf(why, sizeof why, "%s: %s", op, pending_error);
    pending_errors = 0;
    record(op, desc, false, INFINITY, bound, why);
    return false;
  }
  bool pass = nmse <= bound;
  if (!pass) {
    if (!ax_same_shape(ref, got) || ref->dtype != got->dtype)
      snprintf(why, sizeof why, "result is %s %s, expected %s %s", ax_dtype_name(got->dtype), ax__shp(got),
               ax_dtype_name(ref->dtype), ax__shp(ref));
    else
      snprintf(why, sizeof why, "nmse %.3g > bound %.3g%s", nmse, bound, isinf(nmse) ? " (NaN/Inf or unwritten elements)" : "");
  }
  record(op, desc, pass, nmse, bound, why);
  return pass;
}

double pr_eps(ax_dtype dt) { return dt == AX_F64 ? 0x1p-52 : 0x1p-23; }

double pr_max_abs(ax_tensor *t) {
  if (!t || ax_numel(t) == 0) return 0;
  ax_scope_begin();
  ax_tensor *m = ax_to(ax_cast(ax_amax(ax_abs(ax_detach(t)), 0, NULL, false), AX_F64), AX_CPU);
  double v = m ? *(const double *)ax_data_ptr(m) : INFINITY;
  ax_scope_end();
  return v;
}

bool pr_check_zero(const char *op, const char *desc, ax_tensor *ref, ax_tensor *got, double tol) {
  char why[1200];
  if (pending_errors || !ref || !got) return check(op, desc, ref, got, 0); /* reports the error */
  if (!ax_same_shape(ref, got) || ref->dtype != got->dtype) return check(op, desc, ref, got, 0);
  double worst = fmax(pr_max_abs(ref), pr_max_abs(got)); /* NaN fails below */
  if (pending_errors) return check(op, desc, ref, got, 0);
  double ratio = tol > 0 ? worst / tol : INFINITY;
  bool pass = ratio <= 1;
  if (!pass)
    snprintf(why, sizeof why, "an exact zero: elements up to %.3g (reference %.3g, cuda %.3g) > tolerance %.3g", worst,
             pr_max_abs(ref), pr_max_abs(got), tol);
  record(op, desc, pass, ratio, 1, why);
  return pass;
}

static void run_case(const char *op, const char *desc, pr_op_fn fn, const void *ctx, int n, ax_tensor *const *bases,
                     const bool *grad, pr_kind fwd_kind, pr_kind bwd_kind, pr_zero_tol_fn zero_tol);

void pr_run(const char *op, const char *desc, pr_op_fn fn, const void *ctx, int n, ax_tensor *const *bases,
            const bool *grad, pr_kind fwd_kind, pr_kind bwd_kind) {
  run_case(op, desc, fn, ctx, n, bases, grad, fwd_kind, bwd_kind, NULL);
}

void pr_run_zero(const char *op, const char *desc, pr_op_fn fn, const void *ctx, int n, ax_tensor *const *bases,
                 const bool *grad, pr_kind fwd_kind, pr_kind bwd_kind, pr_zero_tol_fn zero_tol) {
  run_case(op, desc, fn, ctx, n, bases, grad, fwd_kind, bwd_kind, zero_tol);
}

static void run_case(const char *op, const char *desc, pr_op_fn fn, const void *ctx, int n, ax_tensor *const *bases,
                     const bool *grad, pr_kind fwd_kind, pr_kind bwd_kind, pr_zero_tol_fn zero_tol) {
  enum { MAX_IN = 8 };
  ax_tensor *cpu[MAX_IN], *gpu[MAX_IN];
  char d[256];
  ax_scope_begin();
  bool any_grad = false;
  for (int i = 0; i < n && i < MAX_IN; i++) {
    cpu[i] = ax_detach(bases[i]);
    gpu[i] = pr_cuda(bases[i]);
    if (grad && grad[i]) {
      any_grad = true;
      ax_set_requires_grad(cpu[i], true);
      if (gpu[i]) ax_set_requires_grad(gpu[i], true);
    }
  }
  ax_tensor *ref = fn(cpu, ctx);
  if (!ref) { /* a CPU failure is the CPU suites' business; say so once and skip */
    printf("skip %s %s: the CPU reference failed: %s\n", op, desc, pending_errors ? pending_error : "?");
    pending_errors = 0;
    ax_scope_end();
    return;
  }
  ax_tensor *got = fn(gpu, ctx);
  snprintf(d, sizeof d, "%s fwd", desc);
  pr_check(op, d, ref, got, fwd_kind);
  if (any_grad && ax_dtype_is_float(ref->dtype)) {
    ax_tensor *gy = pr_randn(ref->dtype, ref->ndim, ref->shape);
    ax_backward(ref, gy);
    /* the seed gradient lives where the output does (ax_to(x, cpu) has a CPU output) */
    if (got) ax_backward(got, got->device.type == AX_DEVICE_CPU ? gy : pr_cuda(gy));
    for (int i = 0; i < n && i < MAX_IN; i++) {
      if (!grad[i]) continue;
      snprintf(d, sizeof d, "%s grad %d", desc, i);
      double tol = zero_tol ? zero_tol(i, bases, gy, ctx) : 0;
      if (tol > 0) { /* an exact zero */
        strncat(d, " (zero)", sizeof d - strlen(d) - 1);
        pr_check_zero(op, d, cpu[i]->grad, gpu[i] ? gpu[i]->grad : NULL, tol);
      } else {
        pr_check(op, d, cpu[i]->grad, gpu[i] ? gpu[i]->grad : NULL, bwd_kind);
      }
    }
  }
  ax_scope_end();
}

/* ---------------- inputs ---------------- */

static uint64_t case_counter;

/* A CPU tensor from the generator reseeded by the case counter, leaving the global stream as it was. */
static ax_tensor *seeded(bool normal, ax_dtype dt, int ndim, const int64_t *shape) {
  uint64_t seed, offset;
  ax_rng_get_state(&seed, &offset);
  ax_rng_set_state(0x9a417e5ull + 7919ull * case_counter++, 0);
  ax_dtype gen = ax_dtype_is_float(dt) ? dt : AX_F64;
  ax_tensor *t = normal ? ax_randn(ndim, shape, &(ax_tensor_opts){.dtype = gen})
                        : ax_rand(ndim, shape, &(ax_tensor_opts){.dtype = gen});
  ax_rng_set_state(seed, offset);
  return t;
}

ax_tensor *pr_randn(ax_dtype dt, int ndim, const int64_t *shape) {
  ax_tensor *t = seeded(true, dt, ndim, shape);
  if (ax_dtype_is_float(dt) || !t) return t;
  /* integers: normal * 8 truncated (u8 wraps, bool is "nonzero") */
  return ax_cast(ax_mul_scalar(t, 8.0), dt);
}

ax_tensor *pr_uniform(ax_dtype dt, int ndim, const int64_t *shape, double lo, double hi) {
  ax_tensor *u = seeded(false, dt, ndim, shape);
  ax_tensor *t = ax_add_scalar(ax_mul_scalar(u, hi - lo), lo);
  return ax_dtype_is_float(dt) ? t : ax_cast(t, dt);
}

ax_tensor *pr_cuda(ax_tensor *cpu) {
  if (!cpu) return NULL;
  ax_tensor *g = ax_detach(ax_to(cpu, AX_CUDA(0)));
  if (g && cpu->requires_grad) ax_set_requires_grad(g, true);
  return g;
}

/* ---------------- tiers ---------------- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool emulate_tier;

bool pr_emulated_tier(void) { return emulate_tier; }

/* ---------------- the kernel list ---------------- */

/* Every kernel instantiation of the library with its launches (emulated device only).
 * Returns how many were never launched, or -1 when the device does not count launches. */
static int kernel_list(bool print_all) {
  if (!ax_cuda_kernel_counts) return -1;
  int n = ax_cuda_kernel_counts(NULL, 0);
  if (n < 0) return -1;
  ax_cuda_kernel_count *k = calloc((size_t)n + 1, sizeof *k);
  if (!k) return -1;
  n = ax_cuda_kernel_counts(k, n);
  int never = 0, launched = 0;
  if (print_all) printf("\n%10s %10s %12s  %s\n", "launches", "blocks", "threads", "kernel");
  for (int i = 0; i < n; i++) {
    if (k[i].launches) launched++;
    else never++;
    if (print_all) printf("%10llu %10llu %12llu  %s\n", k[i].launches, k[i].blocks, k[i].threads, k[i].name);
  }
  printf("\nkernel instantiations: %d, launched: %d\nkernels never launched: %d\n", n, launched, never);
  for (int i = 0; i < n; i++)
    if (!k[i].launches) printf("  %s\n", k[i].name);
  free(k);
  return never;
}

/* ---------------- main ---------------- */

typedef struct family {
  const char *name;
  void (*run)(void);
} family;

static const family families[] = {
#define AX_FAMILY(f) {#f, pr_family_##f},
#include "kernels/kernels.def"
};
#define N_FAMILIES (int)(sizeof families / sizeof families[0])

static int usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s [-v] [--tier full|emulate] [--kernels] [--families] [FAMILY ...]\n"
          "  --tier     full: the sizes for a GPU; emulate: sizes for the emulated device\n"
          "             (default: emulate on the emulated device, full elsewhere)\n"
          "  --kernels  print every kernel instantiation of the library with its launches\n"
          "             (emulated device only) and exit without running a case\n"
          "  --families print each family with 'linked' or 'missing' and exit\n"
          "families:",
          argv0);
  for (int i = 0; i < N_FAMILIES; i++) fprintf(stderr, " %s%s", families[i].name, families[i].run ? "" : " (not linked)");
  fprintf(stderr, "\n");
  return 2;
}

static bool wanted(const char *name, int argc, char **argv) {
  bool any = false;
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] == '-') {
      if (!strcmp(argv[i], "--tier")) i++; /* its value */
      continue;
    }
    any = true;
    if (!strcmp(argv[i], name)) return true;
  }
  return !any;
}

int main(int argc, char **argv) {
  const char *tier = NULL;
  bool kernels_only = false, filtered = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-v")) verbose = true;
    else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return usage(argv[0]), 0;
    else if (!strcmp(argv[i], "--kernels")) kernels_only = true;
    else if (!strcmp(argv[i], "--families")) {
      for (int f = 0; f < N_FAMILIES; f++) printf("%s %s\n", families[f].name, families[f].run ? "linked" : "missing");
      return 0;
    }
    else if (!strcmp(argv[i], "--tier") || !strncmp(argv[i], "--tier=", 7)) {
      tier = argv[i][6] == '=' ? argv[i] + 7 : i + 1 < argc ? argv[++i] : "";
      if (strcmp(tier, "full") && strcmp(tier, "emulate")) {
        fprintf(stderr, "%s: --tier takes full or emulate, not '%s'\n", argv[0], tier);
        return usage(argv[0]);
      }
    }
    else if (argv[i][0] == '-') return usage(argv[0]);
    else {
      bool known = false;
      for (int f = 0; f < N_FAMILIES; f++) known = known || !strcmp(argv[i], families[f].name);
      if (!known) {
        fprintf(stderr, "%s: unknown family '%s'\n", argv[0], argv[i]);
        return usage(argv[0]);
      }
      filtered = true;
    }
  }
  bool emulated = ax_cuda_is_emulated && ax_cuda_is_emulated() == 1;
  emulate_tier = tier ? !strcmp(tier, "emulate") : emulated;
  if (kernels_only) {
    if (kernel_list(true) < 0) printf("axon_parity: this device does not count kernel launches (not emulated)\n");
    return 0;
  }
  int linked = 0;
  for (int f = 0; f < N_FAMILIES; f++) linked += families[f].run && wanted(families[f].name, argc, argv);
  if (ax_cuda_device_count() == 0) {
    printf("axon_parity: no CUDA device (%s): the parity cases of %d famil%s skipped\n",
           ax_has_cuda() ? "none usable found" : "this build has no CUDA backend", linked, linked == 1 ? "y" : "ies");
    return 0;
  }

  printf("axon_parity: %s tier on %s\n", emulate_tier ? "emulate" : "full",
         emulated ? "the emulated device" : "cuda:0");
  ax_set_error_handler(record_error, NULL);
  ax__set_poison_new_tensors(true);
  for (int f = 0; f < N_FAMILIES; f++) {
    if (!families[f].run || !wanted(families[f].name, argc, argv)) continue;
    printf("== %s\n", families[f].name);
    fflush(stdout);
    double t0 = now_s();
    last_record = t0;
    pending_errors = 0;
    ax_scope_begin();
    families[f].run();
    ax_scope_end();
    if (pending_errors) { /* reported outside any check */
      char why[1100];
      snprintf(why, sizeof why, "%s", pending_error);
      pending_errors = 0;
      record(families[f].name, "(errors outside a case)", false, INFINITY, 0, why);
    }
    printf("== %s: %.1f s\n", families[f].name, now_s() - t0);
    fflush(stdout);
  }
  ax__set_poison_new_tensors(false);

  printf("\n%-28s %6s %6s %12s %10s %7s  %s\n", "op", "cases", "passed", "worst nmse", "bound", "seconds", "worst case");
  for (int i = 0; i < n_ops; i++)
    printf("%-28s %6d %6d %12.3g %10.3g %7.2f  %s\n", ops[i].name, ops[i].cases, ops[i].passed, ops[i].worst,
           ops[i].worst_bound, ops[i].seconds, ops[i].worst_desc);
  printf("\n%d cases, %d passed, %d failed\n", total_cases, total_cases - total_failed, total_failed);
  /* The emulated device counts launches: every kernel instantiation of the library must
   * have run once the whole suite has (a family filter runs part of it: listed only). */
  int never = kernel_list(true);
  if (never > 0 && !filtered) printf("FAIL %d kernel instantiation%s never launched by the whole suite\n", never, never == 1 ? "" : "s");
  return total_failed || (never > 0 && !filtered) ? 1 : 0;
}
