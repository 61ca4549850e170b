/* SPDX-License-Identifier: BSD-3-Clause */
/* Parity of the CUDA reductions against the CPU: sum, mean, amax, amin over one
 * dim, several dims and all dims; the composites that run on them (var, std,
 * logsumexp, norm); max / min with indices, argmax / argmin. Forward and the
 * gradient of x (the same upstream gradient on both sides) for f32, f64, bf16
 * and f16, exact results for integer sums and maxima and for every index.
 * Shapes: rows 1, 7, 129, 4097 by cols 1, 7, 33, 1000, 4097, 50257 (up to 4M
 * elements), contiguous and transposed views (the reduced dim strided), a 3-D
 * case whose reduced dims cannot be merged. bf16 ties are frequent, so the
 * first-index rule on ties is exercised too. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "parity.h"

enum { R_SUM, R_MEAN, R_AMAX, R_AMIN, R_VAR, R_STD, R_LSE, R_NORM2, R_NORM_INF, R_MAX, R_MIN, R_ARGMAX, R_ARGMIN, R_N };
static const char *names[R_N] = {"sum", "mean", "amax", "amin", "var", "std", "logsumexp", "norm2", "norm_inf",
                                 "max", "min", "argmax", "argmin"};

typedef struct {
  int which, ndims, dims[AX_MAX_DIMS]; /* ndims 0: every dim; max/min/arg*: dims[0] */
} rcase;

static ax_tensor *apply(ax_tensor *x, const rcase *c) {
  const int *d = c->ndims ? c->dims : NULL;
  int n = c->ndims;
  switch (c->which) {
    case R_SUM: return ax_sum(x, n, d, false);
    case R_MEAN: return ax_mean(x, n, d, true);
    case R_AMAX: return ax_amax(x, n, d, false);
    case R_AMIN: return ax_amin(x, n, d, true);
    case R_VAR: return ax_var(x, n, d, true, false);
    case R_STD: return ax_std(x, n, d, false, false);
    case R_LSE: return ax_logsumexp(x, n, d, false);
    case R_NORM2: return ax_norm(x, 2, n, d, false);
    case R_NORM_INF: return ax_norm(x, INFINITY, n, d, false);
    case R_MAX: return ax_max(x, c->dims[0], false, NULL);
    case R_MIN: return ax_min(x, c->dims[0], true, NULL);
    case R_ARGMAX: return ax_argmax(x, c->dims[0], false);
    default: return ax_argmin(x, c->dims[0], true);
  }
}

static bool is_float(ax_dtype dt) { return dt == AX_F32 || dt == AX_F64 || dt == AX_BF16 || dt == AX_F16; }

static ax_tensor *leaf(ax_tensor *t, bool grad) {
  ax_tensor *l = ax_detach(t);
  if (grad) ax_set_requires_grad(l, true);
  return l;
}

/* x is stored as given; `transposed` views its two last dims swapped. */
static void run(const rcase *c, ax_tensor *x, bool transposed) {
  ax_scope_begin();
  bool grad = is_float(x->dtype) && c->which < R_ARGMAX;
  ax_tensor *rx = leaf(x, grad), *cx = leaf(pr_cuda(x), grad);
  ax_tensor *rin = transposed ? ax_transpose(rx, -2, -1) : rx, *cin = transposed ? ax_transpose(cx, -2, -1) : cx;
  char desc[200], shp[96] = "[", dims[48] = "";
  for (int d = 0; d < rin->ndim; d++)
    snprintf(shp + strlen(shp), sizeof shp - strlen(shp), "%s%lld", d ? "," : "", (long long)rin->shape[d]);
  strcat(shp, "]");
  if (!c->ndims) strcpy(dims, "all");
  for (int i = 0; i < c->ndims; i++)
    snprintf(dims + strlen(dims), sizeof dims - strlen(dims), "%s%d", i ? "," : "", c->dims[i]);
  snprintf(desc, sizeof desc, "%s %s%s dims %s", ax_dtype_name(x->dtype), transposed ? "transposed " : "", shp, dims);
  ax_tensor *ref = apply(rin, c), *got = apply(cin, c);
  if (!ref) {
    fprintf(stderr, "parity %s %s: the CPU reference failed: %s\n", names[c->which], desc, ax_last_error());
    ax_scope_end();
    return;
  }
  /* selections (max, min, inf-norm, indices) and integer results are exact; sums round */
  bool rounds = c->which == R_SUM || c->which == R_MEAN || (c->which >= R_VAR && c->which <= R_NORM2);
  pr_kind kind = is_float(x->dtype) && rounds ? PR_REDUCTION : PR_EXACT;
  char d2[220];
  snprintf(d2, sizeof d2, "%s fwd", desc);
  pr_check(names[c->which], d2, ref, got, kind);
  if (c->which == R_MAX || c->which == R_MIN) { /* the indices too */
    ax_tensor *ri = NULL, *ci = NULL;
    if (c->which == R_MAX) ax_max(rin, c->dims[0], false, &ri), ax_max(cin, c->dims[0], false, &ci);
    else ax_min(rin, c->dims[0], false, &ri), ax_min(cin, c->dims[0], false, &ci);
    snprintf(d2, sizeof d2, "%s indices", desc);
    pr_check(names[c->which], d2, ri, ci, PR_EXACT);
  }
  if (grad && got) {
    ax_tensor *gy = pr_randn(ref->dtype, ref->ndim, ref->shape);
    ax_backward(ref, gy);
    ax_backward(got, pr_cuda(gy));
    snprintf(d2, sizeof d2, "%s grad", desc);
    pr_check(names[c->which], d2, rx->grad, cx->grad, PR_REDUCTION);
  }
  ax_scope_end();
}

static const int64_t ROWS[] = {1, 7, 129, 4097}, COLS[] = {1, 7, 33, 1000, 4097, 50257};
#define MAX_ELEMS (4LL << 20)
#define COMPOSITE_MAX_ELEMS (256LL << 10) /* var/std/logsumexp/norm: several CPU ops each */
/* The emulate tier: 1025 rows for 4097 and the same columns, up to 16K elements (still
 * split columns of 1025 and block-wide rows of 4097; split rows: split_rows() below);
 * composites up to 1100 elements; reductions to at most 1100 outputs, 130 for the
 * selections (a warp per output was most of the time: 50257 outputs of a transposed
 * [1, 50257] are 1.6M emulated threads, and the gradients as many elementwise ones). */
#define EMU_MAX_ELEMS (16LL << 10)
#define EMU_COMPOSITE_MAX_ELEMS 1100

/* The emulate tier's limit on outputs (see above): 1100, and 130 for the selections,
 * whose rows kernel reduces a value and an index per output with warp shuffles. */
static bool emulate_skips(int which, int d, int64_t nout) {
  return pr_emulated_tier() && d >= 0 && nout > (which >= R_MAX ? 130 : 1100);
}

static void two_d(ax_dtype dt) {
  int64_t max_elems = pr_emulated_tier() ? EMU_MAX_ELEMS : MAX_ELEMS;
  int64_t composite_max = pr_emulated_tier() ? EMU_COMPOSITE_MAX_ELEMS : COMPOSITE_MAX_ELEMS;
  for (size_t i = 0; i < sizeof ROWS / sizeof ROWS[0]; i++)
    for (size_t j = 0; j < sizeof COLS / sizeof COLS[0]; j++) {
      int64_t r = ROWS[i] == 4097 && pr_emulated_tier() ? 1025 : ROWS[i], c = COLS[j];
      if (r * c > max_elems) continue;
      for (int t = 0; t < 2; t++) {
        /* transposed: stored [c, r], viewed [r, c] */
        ax_tensor *x = t ? pr_randn(dt, 2, (int64_t[]){c, r}) : pr_randn(dt, 2, (int64_t[]){r, c});
        for (int w = 0; w < R_N; w++) {
          if (w >= R_VAR && w <= R_NORM_INF && r * c > composite_max) continue;
          for (int d = -1; d < 2; d++) { /* -1: every dim */
            if (d < 0 && w >= R_MAX) continue;
            /* emulate tier: at most 1100 outputs (a warp each, on the rows path); the kernels
             * with many outputs are the same code as with a thousand */
            if (emulate_skips(w, d, d ? r : c)) continue;
            rcase rc = {.which = w, .ndims = d < 0 ? 0 : 1, .dims = {d < 0 ? 0 : d}};
            run(&rc, x, t);
          }
        }
      }
    }
}

/* emulate tier: a row of 50257 split over blocks (the full tier's larger cases do it) */
static void split_rows(ax_dtype dt) {
  ax_tensor *x = pr_randn(dt, 2, (int64_t[]){1, 50257});
  const rcase cases[] = {{R_SUM, 0, {0}}, {R_AMAX, 1, {1}}, {R_AMIN, 0, {0}}, {R_MEAN, 1, {1}}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run(&cases[i], x, false);
}

/* [7, 129, 33] over (0, 2), (0, 1), (1): dims that do not merge, and a middle dim */
static void three_d(ax_dtype dt) {
  /* the emulate tier: [5, 33, 17] */
  ax_tensor *x = pr_emulated_tier() ? pr_randn(dt, 3, (int64_t[]){5, 33, 17}) : pr_randn(dt, 3, (int64_t[]){7, 129, 33});
  const rcase cases[] = {{R_SUM, 2, {0, 2}}, {R_AMAX, 2, {0, 2}}, {R_MEAN, 2, {0, 1}}, {R_AMIN, 1, {1}},
                         {R_VAR, 2, {0, 2}}, {R_LSE, 1, {1}},     {R_NORM2, 2, {1, 2}}, {R_MAX, 1, {1}},
                         {R_ARGMIN, 1, {0}}, {R_ARGMAX, 1, {2}}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    for (int t = 0; t < 2; t++) run(&cases[i], x, t);
}

/* integer sums (into i64) and maxima: exact */
static void integers(ax_dtype dt) {
  const int64_t shapes[][2] = {{7, 33}, {129, 1000}, {1, 50257}, {4097, 7}};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    if (pr_emulated_tier() && i == 1) continue; /* 129K elements; the others reach every kernel */
    ax_tensor *x = ax_cast(pr_uniform(AX_F64, 2, shapes[i], -50, 50), dt);
    const int ops[] = {R_SUM, R_AMAX, R_AMIN, R_MAX, R_ARGMAX, R_ARGMIN};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
      for (int d = -1; d < 2; d++) {
        if (d < 0 && ops[k] >= R_MAX) continue;
        rcase rc = {.which = ops[k], .ndims = d < 0 ? 0 : 1, .dims = {d < 0 ? 0 : d}};
        for (int t = 0; t < 2; t++) /* transposed: viewed [cols, rows] */
          if (!emulate_skips(ops[k], d, (d == 0) == (t == 0) ? shapes[i][1] : shapes[i][0])) run(&rc, x, t);
      }
  }
}

void pr_family_reduce(void) {
  const ax_dtype dts[] = {AX_F32, AX_F64, AX_BF16, AX_F16};
  for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
    two_d(dts[d]);
    if (pr_emulated_tier()) split_rows(dts[d]);
    three_d(dts[d]);
  }
  integers(AX_I32);
  integers(AX_I64);
  if (pr_emulated_tier()) { /* u8 and bool share their own kernels (the full tier leaves them to the CPU suites) */
    integers(AX_U8);
    integers(AX_BOOL);
  }
}
