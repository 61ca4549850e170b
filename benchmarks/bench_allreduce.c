/* SPDX-License-Identifier: BSD-3-Clause */
/* all_reduce bandwidth, nccl-tests style: mpirun -np N build/bench_allreduce [cpu|cuda] [max_mb]
 * For each size (8 B .. 256 MB, f32, sum): time per call, algbw = bytes / time and
 * busbw = algbw * 2 (n - 1) / n, the bandwidth each link carries in a ring all-reduce,
 * comparable across world sizes. CPU tensors go through MPI, CUDA tensors through NCCL. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "axon.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
  ax_comm *c = ax_comm_world();
  int rank = ax_comm_rank(c), n = ax_comm_size(c);
  bool cuda = argc > 1 && !strcmp(argv[1], "cuda");
  double max_mb = argc > 2 ? atof(argv[2]) : 256;
  ax_device dev = cuda ? ax_comm_device(c) : AX_CPU;
  if (cuda && dev.type != AX_DEVICE_CUDA) {
    if (rank == 0) fprintf(stderr, "bench_allreduce: no GPU here\n");
    return 2;
  }
  if (rank == 0)
    printf("# all_reduce sum f32, %d ranks, %s (%s)\n%12s %10s %12s %12s\n", n, cuda ? "cuda" : "cpu",
           ax_comm_backend_name(c), "bytes", "time_us", "algbw_GB/s", "busbw_GB/s");
  for (double bytes = 8; bytes <= max_mb * 1048576.0; bytes *= 4) {
    int64_t count = (int64_t)(bytes / 4);
    ax_scope_begin();
    ax_tensor *t = ax_ones(1, &count, &(ax_tensor_opts){.device = dev});
    int iters = bytes < 1e6 ? 50 : bytes < 3e7 ? 10 : 3;
    ax_all_reduce(c, t, AX_DIST_SUM); /* warm-up */
    ax_synchronize(dev);
    ax_barrier(c);
    double t0 = now();
    for (int i = 0; i < iters; i++) ax_all_reduce(c, t, AX_DIST_SUM);
    ax_synchronize(dev);
    double dt = ax_comm_mean(c, (now() - t0) / iters);
    double algbw = bytes / dt / 1e9, busbw = algbw * 2.0 * (n - 1) / n;
    if (rank == 0) printf("%12.0f %10.1f %12.3f %12.3f\n", bytes, dt * 1e6, algbw, busbw);
    ax_scope_end();
  }
  return 0;
}
