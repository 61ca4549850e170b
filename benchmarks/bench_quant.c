/* SPDX-License-Identifier: BSD-3-Clause */
/* CPU inference speed of an int8-quantized zoo model against the same model in f32,
 * side by side in one process (docs/quantization.md, docs/benchmarks.md): for each
 * batch size, the f32 model and its Int8Model (BatchNorm folded, calibrated on random
 * batches: the speed does not depend on the weights) each run `iters` forward passes
 * after `warmup`, alternating, and the best of `reps` rounds is reported as images/s,
 * with the int8 path the GEMM took (vnni, avx2 or reference: the best the CPU has).
 * One JSON line per (model, batch size). benchmarks/bench_quant_torch.py is PyTorch's side.
 *
 *   build/bench_quant --model cnn --threads 2              # batch 128 and batch 1
 *   build/bench_quant --quick                              # a few passes: checks that it runs
 */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "axon.h"
#include "kernels/cpu/quant.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* seconds per forward pass of m on x (best of reps rounds of iters passes) */
static double time_forward(ax_module *m, ax_tensor *x, int warmup, int iters, int reps) {
  double best = 1e30;
  ax_no_grad_begin();
  for (int i = 0; i < warmup; i++) {
    ax_scope_begin();
    ax_module_forward(m, x);
    ax_scope_end();
  }
  for (int r = 0; r < reps; r++) {
    double t0 = now_s();
    for (int i = 0; i < iters; i++) {
      ax_scope_begin();
      if (!ax_module_forward(m, x)) {
        fprintf(stderr, "bench_quant: forward failed: %s\n", ax_last_error());
        exit(1);
      }
      ax_scope_end();
    }
    double t = (now_s() - t0) / iters;
    if (t < best) best = t;
  }
  ax_no_grad_end();
  return best;
}

static ax_module *make_int8(const char *name, ax_module *f32) {
  char err[512];
  ax_state_dict *sd = ax_state_dict_new();
  ax_module *copy = ax_model_create(name, err, sizeof err);
  ax_module_state_dict(f32, sd);
  ax_module_load_state_dict(copy, sd, true, err, sizeof err);
  ax_state_dict_free(sd);
  ax_module *qm = ax_quant_prepare(copy, name, err, sizeof err);
  for (int i = 0; qm && i < 2; i++) {
    ax_scope_begin();
    ax_module_forward(qm, ax_randn(AX_SHAPE(32, 1, 28, 28), NULL));
    ax_scope_end();
  }
  if (!qm || ax_quant_convert(qm, NULL, err, sizeof err)) {
    fprintf(stderr, "bench_quant: %s\n", err);
    exit(1);
  }
  return qm;
}

int main(int argc, char **argv) {
  const char *name = "cnn";
  int threads = 2, iters128 = 20, iters1 = 200, reps = 3, warmup = 3;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--model") && v) name = argv[++i];
    else if (!strcmp(a, "--threads") && v) threads = atoi(argv[++i]);
    else if (!strcmp(a, "--iters") && v) iters128 = atoi(argv[++i]), iters1 = 10 * iters128;
    else if (!strcmp(a, "--quick")) iters128 = 1, iters1 = 2, reps = 1, warmup = 1;
    else {
      fprintf(stderr, "usage: bench_quant [--model cnn|resnet|mlp] [--threads N] [--iters N] [--quick]\n");
      return 2;
    }
  }
  ax_set_num_threads(threads);
  ax_manual_seed(0);
  char err[256];
  ax_module *f32 = ax_model_create(name, err, sizeof err);
  if (!f32) {
    fprintf(stderr, "bench_quant: %s\n", err);
    return 2;
  }
  ax_module_train(f32, false);
  ax_module *qm = make_int8(name, f32);
  const int batches[2] = {128, 1};
  for (int b = 0; b < 2; b++) {
    ax_scope_begin();
    ax_tensor *x = ax_randn(AX_SHAPE(batches[b], 1, 28, 28), NULL);
    int iters = batches[b] == 1 ? iters1 : iters128;
    double tf = time_forward(f32, x, warmup, iters, reps), tq = time_forward(qm, x, warmup, iters, reps);
    printf("{\"bench\": \"quant\", \"model\": \"%s\", \"batch\": %d, \"threads\": %d, \"int8_path\": \"%s\", "
           "\"f32_img_per_s\": %.1f, \"int8_img_per_s\": %.1f, \"speedup\": %.2f}\n",
           name, batches[b], threads, ax_cpu_s8_path_name(ax_cpu_s8_path_default()), batches[b] / tf, batches[b] / tq,
           tf / tq);
    ax_scope_end();
  }
  ax_module_free(qm);
  ax_module_free(f32);
  return 0;
}
