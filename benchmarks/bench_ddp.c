/* SPDX-License-Identifier: BSD-3-Clause */
/* DDP step time with and without overlap: mpirun -np N build/bench_ddp [steps] [bucket_mb]
 * A deep MLP (many parameters -> many buckets) trained with SGD on random data;
 * "overlap" reduces each bucket as soon as its gradients are ready, "after" reduces
 * every bucket once backward has returned (PyTorch's behaviour without hooks).
 * Prints the mean step time of each and their ratio. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "axon.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static ax_module *model(void) {
  ax_manual_seed(0);
  ax_module *m = ax_nn_sequential(1, ax_nn_linear(512, 512, true));
  for (int i = 0; i < 11; i++) {
    ax_nn_sequential_add(m, ax_nn_relu());
    ax_nn_sequential_add(m, ax_nn_linear(512, 512, true));
  }
  return m;
}

static double time_steps(ax_comm *c, bool overlap, int steps, double bucket_mb) {
  ax_module *m = model();
  ax_device dev = ax_comm_device(c);
  ax_module_to(m, dev);
  ax_ddp *ddp = ax_ddp_new(m, c, &(ax_ddp_opts){.bucket_mb = bucket_mb, .no_overlap = !overlap});
  ax_tensor *params[64];
  int np = ax_module_parameters(m, params, 64);
  ax_optimizer *opt = ax_sgd(params, np, &(ax_sgd_opts){.lr = 1e-3});
  double t0 = 0;
  for (int s = -2; s < steps; s++) { /* two warm-up steps */
    if (s == 0) {
      ax_synchronize(dev);
      ax_barrier(c);
      t0 = now();
    }
    ax_scope_begin();
    ax_tensor *x = ax_randn(AX_SHAPE(64, 512), &(ax_tensor_opts){.device = dev});
    ax_backward(ax_mean(ax_mul(ax_module_forward(m, x), ax_module_forward(m, x)), AX_ALL, false), NULL);
    ax_ddp_finish(ddp);
    ax_optimizer_step(opt);
    ax_optimizer_zero_grad(opt);
    ax_scope_end();
  }
  ax_synchronize(dev);
  double dt = ax_comm_mean(c, (now() - t0) / steps);
  if (ax_comm_rank(c) == 0) printf("%-8s %3d buckets  %8.2f ms/step\n", overlap ? "overlap" : "after", ax_ddp_num_buckets(ddp), dt * 1e3);
  ax_optimizer_free(opt);
  ax_ddp_free(ddp);
  ax_module_free(m);
  return dt;
}

int main(int argc, char **argv) {
  ax_comm *c = ax_comm_world();
  int steps = argc > 1 ? atoi(argv[1]) : 20;
  double bucket_mb = argc > 2 ? atof(argv[2]) : 1;
  if (ax_comm_rank(c) == 0)
    printf("# DDP step, 12 x Linear(512, 512), batch 64 per rank, %d ranks (%s), bucket %.2f MB\n", ax_comm_size(c),
           ax_comm_backend_name(c), bucket_mb);
  double after = time_steps(c, false, steps, bucket_mb), overlap = time_steps(c, true, steps, bucket_mb);
  if (ax_comm_rank(c) == 0) printf("overlap / after = %.3f\n", overlap / after);
  return 0;
}
