/* SPDX-License-Identifier: BSD-3-Clause */
/* Parity of mixed precision on CUDA against the CPU:
 *  - an autocast linear layer (f32 x, weight, bias cast to bf16 / f16, tensor-core
 *    GEMM with f32 accumulation on CUDA, the packing-converting GEMM on the CPU):
 *    the 16-bit output and the f32 gradients of x, weight and bias. Both devices
 *    round the same f32 sums once, so they differ only where the summation order
 *    moves a sum across a rounding boundary: bf16's bound (1e-4) for all of them.
 *  - stochastic rounding of bf16 parameters (SGD with momentum, AdamW): both
 *    backends draw the same Philox bits for the same (seed, step, parameter,
 *    element), so the parameters agree bit for bit except where the f32 update
 *    itself differs in its last bit (FMA contraction) and the random offset
 *    happens to straddle it: a rare one-ulp flip. The bound 1e-7 is ~50x that
 *    noise and ~50x below what unrelated random bits give. */
#include <stdio.h>

#include "parity.h"

typedef struct linear_case {
  int64_t rows, in, out;
  int batch3;    /* x is [2, rows, in] */
  int strided_x; /* x is a transposed view */
  int bias;
} linear_case;

static const linear_case linear_cases[] = {
    {7, 33, 129, 0, 0, 1}, {129, 64, 65, 1, 0, 1}, {1, 4097, 7, 0, 0, 0},
    {65, 129, 33, 0, 1, 1}, {256, 256, 256, 0, 0, 1},
};

static ax_tensor *leaf(ax_tensor *t) {
  ax_tensor *l = ax_detach(t);
  ax_set_requires_grad(l, true);
  return l;
}

static ax_tensor *autocast_linear(ax_dtype dt, ax_tensor *x, ax_tensor *w, ax_tensor *b, int strided) {
  ax_autocast_begin(dt);
  ax_tensor *y = ax_linear(strided ? ax_transpose(x, -1, -2) : x, w, b);
  ax_autocast_end();
  return y;
}

static void run_linear(ax_dtype dt, const linear_case *c) {
  ax_scope_begin();
  int64_t xs[3];
  int nd = 0;
  if (c->batch3) xs[nd++] = 2;
  if (c->strided_x) xs[nd++] = c->in, xs[nd++] = c->rows;
  else xs[nd++] = c->rows, xs[nd++] = c->in;
  ax_tensor *x = pr_randn(AX_F32, nd, xs), *w = pr_randn(AX_F32, AX_SHAPE(c->out, c->in));
  ax_tensor *b = pr_randn(AX_F32, AX_SHAPE(c->out));
  ax_tensor *cx = leaf(x), *cw = leaf(w), *cb = leaf(b);
  ax_tensor *gx = leaf(pr_cuda(x)), *gw = leaf(pr_cuda(w)), *gb = leaf(pr_cuda(b));
  ax_tensor *ref = autocast_linear(dt, cx, cw, c->bias ? cb : NULL, c->strided_x);
  ax_tensor *got = autocast_linear(dt, gx, gw, c->bias ? gb : NULL, c->strided_x);
  char desc[160];
  snprintf(desc, sizeof desc, "%s x [%s%lld, %lld]%s -> %lld%s", ax_dtype_name(dt), c->batch3 ? "2, " : "",
           (long long)c->rows, (long long)c->in, c->strided_x ? " strided" : "", (long long)c->out,
           c->bias ? " +bias" : "");
  if (!ref) {
    printf("skip autocast_linear %s: the CPU reference failed: %s\n", desc, ax_last_error());
    ax_scope_end();
    return;
  }
  char d[200];
  snprintf(d, sizeof d, "%s fwd", desc);
  pr_check_bound("autocast_linear", d, ref, got, pr_bound(AX_BF16, PR_GEMM));
  ax_tensor *gy = pr_randn(ref->dtype, ref->ndim, ref->shape);
  ax_backward(ref, gy);
  if (got) ax_backward(got, pr_cuda(gy));
  ax_tensor *cpu[3] = {cx, cw, cb}, *gpu[3] = {gx, gw, gb};
  const char *names[3] = {"x", "weight", "bias"};
  for (int i = 0; i < (c->bias ? 3 : 2); i++) {
    snprintf(d, sizeof d, "%s grad %s", desc, names[i]);
    pr_check_bound("autocast_linear", d, cpu[i]->grad, gpu[i]->grad, pr_bound(AX_BF16, PR_GEMM));
  }
  ax_scope_end();
}

#define N_SR 5

static ax_optimizer *make_opt(int kind, ax_tensor **p, int n) {
  if (kind == 0) return ax_sgd(p, n, &(ax_sgd_opts){.lr = 0.01, .momentum = 0.9, .stochastic_rounding = true});
  return ax_adamw(p, n, &(ax_adam_opts){.lr = 1e-3, .stochastic_rounding = true});
}

static void run_sr(int kind) {
  ax_scope_begin();
  const int64_t full_sizes[N_SR][2] = {{1, 1}, {7, 1}, {4097, 1}, {3, 70001}, {129, 65}};
  const int64_t emu_sizes[N_SR][2] = {{1, 1}, {7, 1}, {4097, 1}, {3, 7001}, {129, 65}}; /* the emulate tier */
  const int64_t(*sizes)[2] = pr_emulated_tier() ? emu_sizes : full_sizes;
  ax_tensor *cpu[N_SR], *gpu[N_SR];
  for (int i = 0; i < N_SR; i++) {
    ax_tensor *v = pr_randn(AX_BF16, 2, sizes[i]);
    cpu[i] = leaf(v);
    gpu[i] = leaf(pr_cuda(v));
  }
  ax_manual_seed(2024);
  ax_optimizer *oc = make_opt(kind, cpu, N_SR), *og = make_opt(kind, gpu, N_SR);
  for (int step = 0; step < 3; step++) {
    for (int i = 0; i < N_SR; i++) {
      ax_tensor *g = ax_mul_scalar(pr_randn(AX_BF16, 2, sizes[i]), 0.01); /* updates below one bf16 ulp */
      ax_zero_grad(cpu[i]);
      ax_zero_grad(gpu[i]);
      cpu[i]->grad = ax_persist(ax_contiguous(g));
      gpu[i]->grad = ax_persist(pr_cuda(g));
    }
    if (ax_optimizer_step(oc) || ax_optimizer_step(og)) {
      fprintf(stderr, "parity autocast: SR step failed: %s\n", ax_last_error());
      break;
    }
  }
  char desc[128];
  for (int i = 0; i < N_SR; i++) {
    snprintf(desc, sizeof desc, "%s bf16 [%lld, %lld] 3 steps", kind ? "adamw" : "sgd momentum",
             (long long)sizes[i][0], (long long)sizes[i][1]);
    pr_check_bound("stochastic_rounding", desc, cpu[i], gpu[i], 1e-7);
  }
  ax_optimizer_free(oc);
  ax_optimizer_free(og);
  ax_scope_end();
}

void pr_family_autocast(void) {
  ax_dtype dts[2] = {AX_BF16, AX_F16};
  for (int d = 0; d < 2; d++)
    for (size_t i = 0; i < sizeof linear_cases / sizeof linear_cases[0]; i++) run_linear(dts[d], &linear_cases[i]);
  run_sr(0);
  run_sr(1);
}
