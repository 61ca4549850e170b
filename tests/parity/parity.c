/* The GPU parity runner: main() and the pr_* helpers of parity.h.
 *
 *   axon_parity [-v] [FAMILY ...]
 *
 * Runs every linked family (or those named) against the CPU on cuda:0 and
 * prints each failing case as it happens, then a table per op: cases, passed,
 * the worst NMSE and the bound it was held to. Exit status 1 if any case
 * failed, 0 otherwise; without a CUDA device every case is skipped with one
 * line and the status is 0. -v prints every case.
 *
 * Every new CUDA tensor is poisoned (NaN, or 0x7f bytes for integers and
 * bool), so an element a kernel never writes fails its comparison. Errors
 * reported while a family runs are failures too: the error handler keeps the
 * message and the next pr_check fails with it (an op that returned NULL fails
 * as "op: <message>"). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "kernels/half.h"
#include "parity.h"

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

static void record(const char *op, const char *desc, bool pass, double nmse, double bound, const char *why) {
  op_stats *s = stats_for(op);
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
    printf("ok   %s %s: nmse %.3g (bound %.3g)\n", op, desc, nmse, bound);
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

void pr_run(const char *op, const char *desc, pr_op_fn fn, const void *ctx, int n, ax_tensor *const *bases,
            const bool *grad, pr_kind fwd_kind, pr_kind bwd_kind) {
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
      pr_check(op, d, cpu[i]->grad, gpu[i] ? gpu[i]->grad : NULL, bwd_kind);
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

/* ---------------- main ---------------- */

typedef struct family {
  const char *name;
  void (*run)(void);
} family;

#define PR_ENTRY(f) {#f, pr_family_##f},
static const family families[] = {PR_FAMILIES(PR_ENTRY)};
#undef PR_ENTRY
#define N_FAMILIES (int)(sizeof families / sizeof families[0])

static int usage(const char *argv0) {
  fprintf(stderr, "usage: %s [-v] [FAMILY ...]\nfamilies:", argv0);
  for (int i = 0; i < N_FAMILIES; i++) fprintf(stderr, " %s%s", families[i].name, families[i].run ? "" : " (not linked)");
  fprintf(stderr, "\n");
  return 2;
}

static bool wanted(const char *name, int argc, char **argv) {
  bool any = false;
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] == '-') continue;
    any = true;
    if (!strcmp(argv[i], name)) return true;
  }
  return !any;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-v")) verbose = true;
    else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return usage(argv[0]), 0;
    else if (argv[i][0] == '-') return usage(argv[0]);
    else {
      bool known = false;
      for (int f = 0; f < N_FAMILIES; f++) known = known || !strcmp(argv[i], families[f].name);
      if (!known) {
        fprintf(stderr, "%s: unknown family '%s'\n", argv[0], argv[i]);
        return usage(argv[0]);
      }
    }
  }
  int linked = 0;
  for (int f = 0; f < N_FAMILIES; f++) linked += families[f].run && wanted(families[f].name, argc, argv);
  if (ax_cuda_device_count() == 0) {
    printf("axon_parity: no CUDA device (%s): the parity cases of %d famil%s skipped\n",
           ax_has_cuda() ? "none usable found" : "this build has no CUDA backend", linked, linked == 1 ? "y" : "ies");
    return 0;
  }

  ax_set_error_handler(record_error, NULL);
  ax__set_poison_new_tensors(true);
  for (int f = 0; f < N_FAMILIES; f++) {
    if (!families[f].run || !wanted(families[f].name, argc, argv)) continue;
    printf("== %s\n", families[f].name);
    fflush(stdout);
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
  }
  ax__set_poison_new_tensors(false);

  printf("\n%-28s %6s %6s %12s %10s  %s\n", "op", "cases", "passed", "worst nmse", "bound", "worst case");
  for (int i = 0; i < n_ops; i++)
    printf("%-28s %6d %6d %12.3g %10.3g  %s\n", ops[i].name, ops[i].cases, ops[i].passed, ops[i].worst,
           ops[i].worst_bound, ops[i].worst_desc);
  printf("\n%d cases, %d passed, %d failed\n", total_cases, total_cases - total_failed, total_failed);
  return total_failed ? 1 : 0;
}
