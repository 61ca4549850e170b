/* SPDX-License-Identifier: BSD-3-Clause */
/* Axon's side of the CPU training-throughput comparison with PyTorch
 * (benchmarks/bench_train_torch.py is the other side; benchmarks/compare_train.sh
 * runs both). Trains a zoo model on random 28x28 images — the same batch size,
 * optimizer (AdamW, lr 1e-3, weight decay 1e-4) and thread count as the PyTorch
 * script — and prints images/s as one JSON line.
 *
 *   build/bench_train --model cnn --batch-size 128 --threads 2 --steps 50
 */
#define _DEFAULT_SOURCE /* clock_gettime and CLOCK_MONOTONIC under -std=c11 (clang stops without it) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "axon.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
  const char *model_name = "cnn";
  int batch = 128, threads = 2, steps = 50, warmup = 5;
  const char *device = "cpu";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--model") && v) model_name = argv[++i];
    else if (!strcmp(a, "--batch-size") && v) batch = atoi(argv[++i]);
    else if (!strcmp(a, "--threads") && v) threads = atoi(argv[++i]);
    else if (!strcmp(a, "--steps") && v) steps = atoi(argv[++i]);
    else if (!strcmp(a, "--warmup") && v) warmup = atoi(argv[++i]);
    else if (!strcmp(a, "--device") && v) device = argv[++i];
    else {
      fprintf(stderr, "usage: bench_train [--model NAME] [--batch-size B] [--threads N] [--steps N] [--warmup N] "
                      "[--device cpu|cuda]\n");
      return 2;
    }
  }
  ax_device dev = !strcmp(device, "cuda") ? AX_CUDA(0) : AX_CPU;
  ax_set_num_threads(threads);
  ax_manual_seed(0);
  char err[256];
  ax_module *model = ax_model_create(model_name, err, sizeof err);
  if (!model) {
    fprintf(stderr, "bench_train: %s\n", err);
    return 2;
  }
  ax_module_to(model, dev);
  int np = ax_module_parameters(model, NULL, 0);
  ax_tensor **params = calloc((size_t)np, sizeof *params);
  ax_module_parameters(model, params, np);
  ax_optimizer *opt = ax_adamw(params, np, &(ax_adam_opts){.lr = 1e-3, .weight_decay = 1e-4});
  ax_module_train(model, true);
  ax_tensor *xs[4], *ys[4];
  for (int i = 0; i < 4; i++) {
    xs[i] = ax_persist(ax_rand(AX_SHAPE(batch, 1, 28, 28), &(ax_tensor_opts){.device = dev}));
    ys[i] = ax_persist(ax_to(ax_cast(ax_mul_scalar(ax_rand(AX_SHAPE(batch), NULL), 10), AX_I64), dev));
  }
  double t0 = 0;
  for (int s = 0; s < warmup + steps; s++) {
    if (s == warmup) {
      ax_synchronize(dev);
      t0 = now_s();
    }
    ax_scope_begin();
    ax_tensor *loss = ax_cross_entropy(ax_module_forward(model, xs[s % 4]), ys[s % 4], NULL);
    ax_backward(loss, NULL);
    ax_optimizer_step(opt);
    ax_optimizer_zero_grad(opt);
    (void)ax_item(loss); /* the PyTorch side reads the loss every step too */
    ax_scope_end();
  }
  ax_synchronize(dev);
  double dt = now_s() - t0;
  printf("{\"impl\": \"axon %s\", \"model\": \"%s\", \"batch_size\": %d, \"threads\": %d, \"steps\": %d, "
         "\"seconds\": %.3f, \"images_per_sec\": %.1f}\n",
         AX_VERSION_STRING, model_name, batch, threads, steps, dt, steps * batch / dt);
  for (int i = 0; i < 4; i++) {
    ax_free(xs[i]);
    ax_free(ys[i]);
  }
  ax_optimizer_free(opt);
  free(params);
  ax_module_free(model);
  return 0;
}
