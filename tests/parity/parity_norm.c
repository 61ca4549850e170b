/* SPDX-License-Identifier: BSD-3-Clause */
/* Parity of the CUDA batch norm (statistics, apply, backward) against the CPU:
 * output, the running statistics after the call, and the gradients of x,
 * weight and bias, in training and eval modes, for f32, f64, bf16 and f16.
 * For bf16/f16 the reference runs in f32 on the same rounded values. Cases:
 * the default CNN's two layers, [N, C] and 5-D inputs, odd channel counts,
 * inputs with mean 3, no affine parameters, and strided inputs; few channels
 * with many elements each, where each channel's reduction is split across
 * blocks (ragged last chunk; training, eval and eval without affine
 * parameters); and a few cases again with 64-bit element indices
 * (ax_cuda_force_index64), the path otherwise taken past 2^31 elements. */
#include <stdio.h>

#include "parity.h"

typedef struct bn_case {
  int ndim;
  int64_t shape[5];
  int training, affine, strided; /* strided: x is a transposed view (dims 0 and ndim-1 swapped) */
} bn_case;

static const bn_case cases[] = {
    {4, {16, 32, 28, 28}, 1, 1, 0}, /* the default CNN */
    {4, {16, 64, 14, 14}, 1, 1, 1},
    {2, {129, 33}, 1, 1, 0},
    {2, {2, 4097}, 1, 0, 0},
    {5, {3, 7, 5, 4, 3}, 1, 1, 1},
    {3, {1, 3, 4097}, 1, 1, 0},
    {4, {5, 13, 7, 9}, 0, 1, 0},
    {2, {7, 129}, 0, 1, 1},
    {3, {4, 5, 6}, 0, 0, 0},
    {3, {2, 5, 12289}, 1, 1, 0}, /* split: 7 chunks of 3512, the last one ragged */
    {3, {3, 2, 5000}, 0, 1, 1},  /* split, eval */
    {3, {3, 2, 5000}, 0, 0, 0},  /* split, eval, no affine: gx only, no sums */
};

/* The emulate tier: the two CNN layers smaller (planes of 13x13 and 7x7: still odd,
 * still several warps' worth of each channel's elements), 257 channels for 4097. */
static const bn_case emu_cases[] = {
    {4, {3, 32, 13, 13}, 1, 1, 0},
    {4, {3, 64, 7, 7}, 1, 1, 1},
    {2, {129, 33}, 1, 1, 0},
    {2, {2, 257}, 1, 0, 0}, /* a block per channel: 4097 of them are 2M emulated threads */
    {5, {3, 7, 5, 4, 3}, 1, 1, 1},
    {3, {1, 3, 4097}, 1, 1, 0},
    {4, {5, 13, 7, 9}, 0, 1, 0},
    {2, {7, 129}, 0, 1, 1},
    {3, {4, 5, 6}, 0, 0, 0},
    {3, {2, 5, 12289}, 1, 1, 0},
    {3, {3, 2, 5000}, 0, 1, 1},
    {3, {3, 2, 5000}, 0, 0, 0},
};

/* Again with 64-bit element indices: a block per channel, and split channels. */
static const bn_case index64_cases[] = {
    {2, {129, 33}, 1, 1, 0},
    {3, {1, 3, 4097}, 1, 1, 0},
};
void ax_cuda_force_index64(int on) __attribute__((weak));

static bool half_type(ax_dtype dt) { return dt == AX_BF16 || dt == AX_F16; }

static ax_tensor *leaf(ax_tensor *t) {
  ax_tensor *l = ax_detach(t);
  ax_set_requires_grad(l, true);
  return l;
}

static ax_tensor *view(ax_tensor *x, const bn_case *c) { return c->strided ? ax_transpose(x, 0, c->ndim - 1) : x; }

static void run_case(ax_dtype dt, const bn_case *c) {
  ax_scope_begin();
  int64_t xs[5], ch = c->shape[1];
  for (int d = 0; d < c->ndim; d++) xs[d] = c->shape[d];
  if (c->strided) xs[0] = c->shape[c->ndim - 1], xs[c->ndim - 1] = c->shape[0];
  ax_tensor *x = pr_randn(dt, c->ndim, xs);
  x = ax_add_scalar(x, 3.0); /* a mean well away from 0: the shifted one-pass variance must not cancel */
  ax_tensor *w = pr_uniform(dt, 1, &ch, 0.5, 1.5), *b = pr_randn(dt, 1, &ch);
  ax_tensor *rm = pr_randn(dt, 1, &ch), *rv = pr_uniform(dt, 1, &ch, 0.5, 2.0);
  ax_dtype rdt = half_type(dt) ? AX_F32 : dt;

  ax_tensor *rx = leaf(ax_cast(x, rdt)), *rw = leaf(ax_cast(w, rdt)), *rb = leaf(ax_cast(b, rdt));
  ax_tensor *rrm = ax_cast(rm, rdt), *rrv = ax_cast(rv, rdt);
  ax_tensor *ref = ax_batch_norm(view(rx, c), rrm, rrv, c->affine ? rw : NULL, c->affine ? rb : NULL, c->training,
                                 0.1, 1e-5);
  if (!ref) {
    fprintf(stderr, "parity batch_norm: the CPU reference failed: %s\n", ax_last_error());
    ax_scope_end();
    return;
  }
  ax_tensor *gy = pr_randn(dt, ref->ndim, ref->shape);
  ax_backward(ref, ax_cast(gy, rdt));

  ax_tensor *cx = leaf(pr_cuda(x)), *cw = leaf(pr_cuda(w)), *cb = leaf(pr_cuda(b));
  ax_tensor *crm = ax_detach(pr_cuda(rm)), *crv = ax_detach(pr_cuda(rv));
  ax_tensor *got = ax_batch_norm(view(cx, c), crm, crv, c->affine ? cw : NULL, c->affine ? cb : NULL, c->training,
                                 0.1, 1e-5);
  if (got) ax_backward(got, pr_cuda(gy));

  const char *what[6] = {"fwd", "running_mean", "running_var", "grad x", "grad weight", "grad bias"};
  ax_tensor *refs[6] = {ref, rrm, rrv, rx->grad, rw->grad, rb->grad};
  ax_tensor *gots[6] = {got, crm, crv, cx->grad, cw->grad, cb->grad};
  for (int i = 0; i < 6; i++) {
    if (i >= 4 && !c->affine) continue;
    char desc[160];
    snprintf(desc, sizeof desc, "%s x[%lld,%lld,...] ndim %d%s %s%s %s", ax_dtype_name(dt), (long long)c->shape[0],
             (long long)ch, c->ndim, c->strided ? " strided" : "", c->training ? "train" : "eval",
             c->affine ? "" : " no-affine", what[i]);
    pr_check("batch_norm", desc, refs[i] ? ax_cast(refs[i], dt) : NULL, gots[i], PR_REDUCTION);
  }
  ax_scope_end();
}

void pr_family_norm(void) {
  const ax_dtype dts[] = {AX_F32, AX_F64, AX_BF16, AX_F16};
  const bn_case *list = pr_emulated_tier() ? emu_cases : cases;
  for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++)
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(dts[d], &list[i]);
  if (!ax_cuda_force_index64) return;
  ax_cuda_force_index64(1);
  for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++)
    for (size_t i = 0; i < sizeof index64_cases / sizeof index64_cases[0]; i++) run_case(dts[d], &index64_cases[i]);
  ax_cuda_force_index64(0);
}
