/* SPDX-License-Identifier: BSD-3-Clause */
/* Parity of the CUDA scans (kernels/cuda/scan.cu) against the CPU: cumsum, cumprod,
 * cummax (values and indices) and logcumsumexp, forward and the gradient of x (whose
 * backward passes run the suffix scans), f32 / f64 / bf16 / f16; and the backend entry
 * itself with reverse = 1 for every op. Layouts reach both kernels: the scanned dim
 * contiguous (the block-per-line kernel, with lines of one tile up to several tiles of
 * 1024), strided with few lines (the same kernel, strided loads) and strided with many
 * lines (the thread-per-line kernel), including a transposed view. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "parity.h"

enum { S_SUM, S_PROD, S_MAX, S_LSE, S_COUNT };
static const char *names[] = {"cumsum", "cumprod", "cummax", "logcumsumexp"};

typedef struct {
  int op, dim, transposed, want_indices;
} sctx;

static ax_tensor *scan_fn(ax_tensor *const *x, const void *vc) {
  const sctx *c = vc;
  ax_tensor *in = c->transposed ? ax_transpose(x[0], 0, 1) : x[0];
  ax_tensor *idx = NULL;
  switch (c->op) {
    case S_SUM: return ax_cumsum(in, c->dim);
    case S_PROD: return ax_cumprod(in, c->dim);
    case S_MAX: {
      ax_tensor *y = ax_cummax(in, c->dim, &idx);
      return c->want_indices ? idx : y;
    }
    default: return ax_logcumsumexp(in, c->dim);
  }
}

/* Inputs of op: products of values near 1 stay in range over thousands of elements;
 * bf16 / f16 values repeat, so cummax meets ties. */
static ax_tensor *input(int op, ax_dtype dt, int64_t r, int64_t c) {
  if (op == S_PROD) return pr_uniform(dt, 2, (int64_t[]){r, c}, 0.9, 1.1);
  return pr_randn(dt, 2, (int64_t[]){r, c});
}

static void forward_and_grad(int op, ax_dtype dt, int64_t r, int64_t c, int dim, int transposed) {
  ax_scope_begin();
  ax_tensor *x = input(op, dt, r, c);
  char desc[160];
  snprintf(desc, sizeof desc, "%s [%lld,%lld]%s dim %d", ax_dtype_name(dt), (long long)(transposed ? c : r),
           (long long)(transposed ? r : c), transposed ? " transposed" : "", dim);
  sctx ctx = {op, dim, transposed, 0};
  pr_run(names[op], desc, scan_fn, &ctx, 1, &x, (bool[]){true}, PR_REDUCTION, PR_REDUCTION);
  if (op == S_MAX) { /* the indices, exactly */
    ctx.want_indices = 1;
    snprintf(desc + strlen(desc), sizeof desc - strlen(desc), " indices");
    pr_run("cummax", desc, scan_fn, &ctx, 1, &x, (bool[]){false}, PR_EXACT, PR_EXACT);
  }
  ax_scope_end();
}

/* The backend's scan entry on both devices, reverse = 1 (no op runs a reverse cummax or
 * cumprod forward, so they are reached only here). */
static void reverse_entry(int op, ax_dtype dt, int64_t r, int64_t c, int dim) {
  ax_scope_begin();
  ax_tensor *x = input(op, dt, r, c), *gx = pr_cuda(x);
  const ax_backend *cpu = ax__backend(AX_CPU, "parity_scan"), *cuda = gx ? ax__backend(gx->device, "parity_scan") : NULL;
  if (!cpu || !cuda) {
    pr_check(names[op], "reverse entry: no backend", NULL, NULL, PR_EXACT);
    ax_scope_end();
    return;
  }
  ax_tensor *y = ax__new("parity_scan", dt, AX_CPU, 2, x->shape), *gy = ax__new("parity_scan", dt, gx->device, 2, x->shape);
  ax_tensor *i = ax__new("parity_scan", AX_I64, AX_CPU, 2, x->shape), *gi = ax__new("parity_scan", AX_I64, gx->device, 2, x->shape);
  ax_kt ky = ax__kt(y), kgy = ax__kt(gy), ki = ax__kt(i), kgi = ax__kt(gi), kx = ax__kt(x), kgx = ax__kt(gx);
  bool max = op == S_MAX;
  char desc[160];
  snprintf(desc, sizeof desc, "%s [%lld,%lld] dim %d reverse entry", ax_dtype_name(dt), (long long)r, (long long)c, dim);
  int s1 = cpu->scan(op, &ky, max ? &ki : NULL, &kx, dim, 1);
  int s2 = cuda->scan(op, &kgy, max ? &kgi : NULL, &kgx, dim, 1);
  if (s1 != 0 || s2 != 0) printf("%s %s: status %d (cpu) %d (cuda)\n", names[op], desc, s1, s2);
  pr_check(names[op], desc, s1 == 0 ? y : NULL, s2 == 0 ? gy : NULL, PR_REDUCTION);
  if (max) {
    snprintf(desc + strlen(desc), sizeof desc - strlen(desc), " indices");
    pr_check(names[op], desc, i, gi, PR_EXACT);
  }
  ax_scope_end();
}

/* cumprod with zeros: the backward's first-zero paths (where, the product with the zero
 * replaced) on both devices */
static void cumprod_zeros(ax_dtype dt) {
  ax_scope_begin();
  ax_tensor *u = pr_uniform(dt, 2, (int64_t[]){33, 40}, 0.5, 1.5);
  ax_tensor *keep = ax_cast(ax_gt_scalar(pr_uniform(AX_F32, 2, (int64_t[]){33, 40}, 0, 1), 0.05), dt);
  ax_tensor *x = ax_mul(u, keep); /* about 5% zeros, some lines with two or more */
  sctx ctx = {S_PROD, 1, 0, 0};
  char desc[96];
  snprintf(desc, sizeof desc, "%s [33,40] dim 1 with zeros", ax_dtype_name(dt));
  pr_run("cumprod", desc, scan_fn, &ctx, 1, &x, (bool[]){true}, PR_REDUCTION, PR_REDUCTION);
  ax_scope_end();
}

void pr_family_scan(void) {
  const ax_dtype dts[] = {AX_F32, AX_F64, AX_BF16, AX_F16};
  bool emu = pr_emulated_tier();
  /* {rows, cols, dim, transposed}: dim 1 contiguous (1 tile, 2 tiles, 5 tiles), dim 0 with
   * few lines (strided, block per line) and many lines (thread per line), transposed */
  struct { int64_t r, c; int dim, tr; } emu_cases[] = {
      {1, 1, 1, 0}, {7, 33, 1, 0}, {3, 1100, 1, 0}, {1, 4100, 1, 0}, {33, 7, 0, 0}, {300, 130, 0, 0}, {130, 300, 1, 1}};
  struct { int64_t r, c; int dim, tr; } full_cases[] = {
      {1, 1, 1, 0}, {7, 33, 1, 0}, {129, 4097, 1, 0}, {1, 1 << 20, 1, 0}, {4097, 33, 0, 0}, {4097, 300, 0, 0},
      {300, 4097, 1, 1}};
  for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++)
    for (int op = 0; op < S_COUNT; op++) {
      size_t n = emu ? sizeof emu_cases / sizeof emu_cases[0] : sizeof full_cases / sizeof full_cases[0];
      for (size_t k = 0; k < n; k++) {
        int64_t r = emu ? emu_cases[k].r : full_cases[k].r, c = emu ? emu_cases[k].c : full_cases[k].c;
        int dim = emu ? emu_cases[k].dim : full_cases[k].dim, tr = emu ? emu_cases[k].tr : full_cases[k].tr;
        forward_and_grad(op, dts[d], r, c, dim, tr);
      }
      reverse_entry(op, dts[d], 7, 1100, 1); /* block per line, two tiles */
      reverse_entry(op, dts[d], 300, 130, 0); /* thread per line */
    }
  for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) cumprod_zeros(dts[d]);
}
