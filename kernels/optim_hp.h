/* SPDX-License-Identifier: BSD-3-Clause */
/* The per-step scalars of the fused optimizer update, shared by the CPU and CUDA
 * kernels so both apply exactly the same rule (C and CUDA-safe, header only).
 * Option switches become coefficients (a disabled term multiplies by 0), so the
 * element loops have no data-dependent branches:
 *   g' = gs g + wd p + l1 sign(p)                       (wd = 0 for AdamW)
 *   SGD:     buf = keep buf + take g';  p -= lr (nes_g g' + nes_buf buf)  (no buf: p -= lr g')
 *   Adam:    m = b1 m + (1-b1) g';  v = b2 v + (1-b2) g'^2;
 *            p = p decay - step_size m / (sqrt(v) / bc2_sqrt + eps)   (decay = 1 - lr wd for AdamW)
 *   RMSprop: sq = a sq + (1-a) g'^2;  [ga = a ga + (1-a) g';  var = sq - ga^2]
 *            u = g' / (sqrt(var) + eps);  [buf = mom buf + u;  u = buf];  p -= lr u
 *
 * Stochastic rounding (bf16 parameters with no f32 master copy): the f32 result
 * x is rounded up or down to a bf16 neighbour with probabilities proportional to
 * its distance from the other one, so E[round(x)] = x and an update smaller
 * than half an ulp still moves the weight on average. The 16 random bits of
 * element i of parameter j (its position in the kernel call) at per-parameter
 * step s are word i % 4 of Philox(counter (i / 4, sr_counter(s, j)), key
 * sr_seed): the same bits on the CPU and CUDA, and a different stream every
 * step without drawing from the global generator. */
#ifndef AXON_KERNELS_OPTIM_HP_H
#define AXON_KERNELS_OPTIM_HP_H

#include <math.h>

#include "kernels/backend.h"
#include "kernels/philox.h"

typedef struct ax_optim_hp {
  int kind;
  double gs, wd, l1, lr, decay;
  double mom, buf_keep, buf_take, nes_g, nes_buf;
  double b1, b2, step_size, bc2_sqrt, eps;
  double alpha;
  int centered, has_momentum;
  int sr;                   /* stochastic rounding of bf16 parameters */
  uint64_t sr_key, sr_step;
} ax_optim_hp;

/* The high Philox counter word of parameter j at step s; the top bit keeps these
 * streams apart from the (seed, offset) streams of the random ops. */
AX_HOST_DEVICE uint64_t ax_optim_sr_counter(uint64_t step, int j) {
  return (1ull << 63) | (step << 20) | (uint64_t)(uint32_t)j;
}

/* f32 bits u rounded to bf16 with the 16 random bits r: adding r below the cut
 * carries into the kept bits with probability (dropped bits) / 2^16. inf / NaN
 * are kept (a NaN stays quiet). */
AX_HOST_DEVICE uint16_t ax_f32_bits_to_bf16_sr(uint32_t u, uint32_t r) {
  if ((u & 0x7f800000u) == 0x7f800000u) return (uint16_t)((u >> 16) | ((u & 0x7fffffu) ? 0x40u : 0u));
  return (uint16_t)((u + (r & 0xffffu)) >> 16);
}

static inline ax_optim_hp ax_optim_hp_make(const ax_optim_args *a) {
  ax_optim_hp h;
  h.kind = a->kind;
  h.gs = a->grad_scale;
  h.wd = a->kind == AX_OPTIM_ADAMW ? 0 : a->weight_decay;
  h.l1 = a->l1;
  h.lr = a->lr;
  h.decay = a->kind == AX_OPTIM_ADAMW ? 1 - a->lr * a->weight_decay : 1;
  h.mom = a->momentum;
  /* SGD's first update copies g' into the buffer (PyTorch: buf = clone(g)) */
  h.buf_keep = a->step <= 1 ? 0 : a->momentum;
  h.buf_take = a->step <= 1 ? 1 : 1 - a->dampening;
  h.nes_g = a->nesterov ? 1 : 0;
  h.nes_buf = a->nesterov ? a->momentum : 1;
  h.b1 = a->beta1;
  h.b2 = a->beta2;
  h.step_size = a->kind == AX_OPTIM_ADAM || a->kind == AX_OPTIM_ADAMW ? a->lr / (1 - pow(a->beta1, (double)a->step)) : 0;
  h.bc2_sqrt = sqrt(1 - pow(a->beta2, (double)a->step));
  h.eps = a->eps;
  h.alpha = a->alpha;
  h.centered = a->centered;
  h.has_momentum = a->momentum != 0;
  h.sr = a->stochastic_rounding;
  h.sr_key = a->sr_seed;
  h.sr_step = (uint64_t)a->step;
  return h;
}

#endif
