/* SPDX-License-Identifier: BSD-3-Clause */
/* Parity of the fused CUDA optimizer step (one multi-tensor launch) against the CPU:
 * SGD (momentum, dampening, nesterov, L2, L1, grad_scale), Adam, AdamW, RMSprop
 * (centered, momentum), in f32, f64, bf16 and f16 (f32 state). One optimizer holds
 * parameters of awkward sizes (1, 7, 129, 4097, a 3 x 70001 tensor spanning many
 * blocks, a transposed one), so a launch covers many tensors and chunk edges.
 * Four steps with fresh random gradients; the parameters and every state tensor
 * are compared after the last. A parameter without a gradient must stay put. */
#include <stdio.h>

#include "parity.h"

typedef ax_optimizer *(*make_fn)(ax_tensor **params, int n);

static ax_optimizer *sgd_nesterov(ax_tensor **p, int n) {
  return ax_sgd(p, n, &(ax_sgd_opts){.lr = 0.05, .momentum = 0.9, .nesterov = true, .weight_decay = 1e-2});
}
static ax_optimizer *sgd_dampening_l1(ax_tensor **p, int n) {
  return ax_sgd(p, n, &(ax_sgd_opts){.lr = 0.05, .momentum = 0.8, .dampening = 0.3, .l1 = 1e-3, .grad_scale = 0.5});
}
static ax_optimizer *sgd_plain(ax_tensor **p, int n) { return ax_sgd(p, n, &(ax_sgd_opts){.lr = 0.1}); }
static ax_optimizer *adam(ax_tensor **p, int n) {
  return ax_adam(p, n, &(ax_adam_opts){.lr = 1e-2, .weight_decay = 1e-2, .l1 = 1e-4});
}
static ax_optimizer *adamw(ax_tensor **p, int n) { return ax_adamw(p, n, &(ax_adam_opts){.lr = 1e-2}); }
static ax_optimizer *rmsprop(ax_tensor **p, int n) {
  return ax_rmsprop(p, n, &(ax_rmsprop_opts){.lr = 1e-2, .momentum = 0.9, .centered = true, .weight_decay = 1e-3});
}
static ax_optimizer *rmsprop_plain(ax_tensor **p, int n) { return ax_rmsprop(p, n, &(ax_rmsprop_opts){.lr = 1e-3}); }

static const struct {
  const char *name;
  make_fn make;
} configs[] = {{"sgd nesterov wd", sgd_nesterov}, {"sgd dampening l1 scale", sgd_dampening_l1},
               {"sgd", sgd_plain},                {"adam wd l1", adam},
               {"adamw", adamw},                  {"rmsprop centered momentum", rmsprop},
               {"rmsprop", rmsprop_plain}};

#define N_PARAMS 7

static void run_case(const char *name, make_fn make, ax_dtype dt) {
  ax_scope_begin();
  const int64_t shapes[N_PARAMS][2] = {{1, 1}, {7, 1}, {129, 1}, {4097, 1}, {3, 70001}, {33, 65}, {5, 1}};
  /* the emulate tier: 3 x 7001 still spans three blocks of 8192 elements, the last partial */
  const int64_t emu_shapes[N_PARAMS][2] = {{1, 1}, {7, 1}, {129, 1}, {4097, 1}, {3, 7001}, {33, 65}, {5, 1}};
  const int64_t(*sh)[2] = pr_emulated_tier() ? emu_shapes : shapes;
  ax_tensor *cpu[N_PARAMS], *gpu[N_PARAMS];
  for (int i = 0; i < N_PARAMS; i++) {
    ax_tensor *v = pr_randn(dt, 2, sh[i]);
    if (i == 5) v = ax_transpose(v, 0, 1); /* a strided parameter */
    cpu[i] = ax_detach(v);
    gpu[i] = pr_cuda(ax_contiguous(v));
    if (i == 5) gpu[i] = ax_transpose(ax_contiguous(ax_transpose(gpu[i], 0, 1)), 0, 1);
    ax_set_requires_grad(cpu[i], true);
    ax_set_requires_grad(gpu[i], true);
  }
  ax_tensor *start_last = ax_clone(cpu[N_PARAMS - 1]);
  ax_optimizer *oc = make(cpu, N_PARAMS), *og = make(gpu, N_PARAMS);
  for (int step = 0; step < 4; step++) {
    for (int i = 0; i < N_PARAMS - 1; i++) { /* the last parameter never gets a gradient */
      ax_tensor *g = pr_randn(dt, cpu[i]->ndim, cpu[i]->shape);
      ax_zero_grad(cpu[i]);
      ax_zero_grad(gpu[i]);
      cpu[i]->grad = ax_persist(g);
      gpu[i]->grad = ax_persist(pr_cuda(g));
    }
    if (ax_optimizer_step(oc) || ax_optimizer_step(og)) {
      fprintf(stderr, "parity optim %s: step failed: %s\n", name, ax_last_error());
      break;
    }
  }
  char desc[160];
  for (int i = 0; i < N_PARAMS; i++) {
    snprintf(desc, sizeof desc, "%s %s param %d [%lld,%lld]%s", name, ax_dtype_name(dt), i, (long long)cpu[i]->shape[0],
             (long long)cpu[i]->shape[1], i == 5 ? " strided" : "");
    pr_check("optim_step", desc, cpu[i], gpu[i], PR_ELEMENTWISE);
  }
  pr_check("optim_step", "no grad: unchanged", start_last, gpu[N_PARAMS - 1], PR_EXACT);
  ax_state_dict *sc = ax_state_dict_new(), *sg = ax_state_dict_new();
  ax_optimizer_state_dict(oc, sc);
  ax_optimizer_state_dict(og, sg);
  for (int e = 0; e < ax_state_dict_size(sc); e++) {
    const char *key = ax_state_dict_name(sc, e);
    snprintf(desc, sizeof desc, "%s %s %s", name, ax_dtype_name(dt), key);
    ax_tensor *got = ax_state_dict_get(sg, key);
    if (!got) fprintf(stderr, "parity optim %s: the CUDA optimizer has no '%s'\n", name, key);
    pr_check("optim_step", desc, ax_state_dict_tensor(sc, e), got, PR_ELEMENTWISE);
  }
  ax_state_dict_free(sc);
  ax_state_dict_free(sg);
  ax_optimizer_free(oc);
  ax_optimizer_free(og);
  ax_scope_end();
}

void pr_family_optim(void) {
  const ax_dtype dts[] = {AX_F32, AX_F64, AX_BF16, AX_F16};
  for (size_t c = 0; c < sizeof configs / sizeof configs[0]; c++)
    for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) run_case(configs[c].name, configs[c].make, dts[d]);
}
