/* SPDX-License-Identifier: BSD-3-Clause */
/* bench_conv: the CPU conv kernels on the default CNN's layers.
 *
 *   bench_conv [--threads N] [--reps R] [--f64]
 *
 * Times forward, backward-input and backward-weight (f32 unless --f64) at
 * batch 128 for the two conv layers of the default CNN (3x3 1->32 on 28x28,
 * 3x3 32->64 on 14x14, both padding 1) and a ResNet-style 3x3 64->64 on
 * 14x14, printing the median ms and GFLOP/s (2 * N * O * OH * OW * C/g * kh *
 * kw per pass). benchmarks/bench_conv_torch.py prints the same table for
 * torch.nn.functional.conv2d. The kernels are called directly on plain
 * buffers: this measures the kernel, not the op layer.
 */
#define _POSIX_C_SOURCE 200809L
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/cpu/cpu.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void *buffer(size_t n, size_t elem) {
  unsigned char *p = aligned_alloc(64, (n * elem + 63) & ~(size_t)63);
  if (!p) abort();
  /* small varied values; the exact numbers do not matter for timing */
  for (size_t i = 0; i < n; i++) {
    double v = (double)((i * 2654435761u) % 1000) / 1000.0 - 0.5;
    if (elem == 4)
      ((float *)p)[i] = (float)v;
    else
      ((double *)p)[i] = v;
  }
  return p;
}

static ax_kt view(void *data, int dtype, int64_t a, int64_t b, int64_t c, int64_t d) {
  ax_kt k = {.data = data, .dtype = dtype, .ndim = 4, .shape = {a, b, c, d}};
  k.strides[3] = 1, k.strides[2] = d, k.strides[1] = c * d, k.strides[0] = b * c * d;
  return k;
}

typedef struct layer {
  const char *name;
  int64_t n, c, h, w, o, k;
  int pad;
} layer;

enum { FWD, BWD_INPUT, BWD_WEIGHT };

static double time_pass(int pass, const layer *l, int dtype, int reps) {
  size_t es = dtype == AX_F32 ? 4 : 8;
  ax_conv_params p = {.n = l->n, .c = l->c, .h = l->h, .w = l->w, .o = l->o, .kh = l->k, .kw = l->k,
                      .oh = l->h + 2 * l->pad - l->k + 1, .ow = l->w + 2 * l->pad - l->k + 1,
                      .sh = 1, .sw = 1, .ph = l->pad, .pw = l->pad, .dh = 1, .dw = 1, .groups = 1};
  size_t nx = (size_t)(p.n * p.c * p.h * p.w), nw = (size_t)(p.o * p.c * p.kh * p.kw);
  size_t ny = (size_t)(p.n * p.o * p.oh * p.ow);
  void *x = buffer(nx, es), *w = buffer(nw, es), *y = buffer(ny, es), *b = buffer((size_t)p.o, es);
  ax_kt kx = view(x, dtype, p.n, p.c, p.h, p.w), kw = view(w, dtype, p.o, p.c, p.kh, p.kw);
  ax_kt ky = view(y, dtype, p.n, p.o, p.oh, p.ow);
  ax_kt kb = {.data = b, .dtype = dtype, .ndim = 1, .shape = {p.o}, .strides = {1}};
  double t[64];
  for (int r = -2; r < reps; r++) { /* two warm-up runs */
    double t0 = now_s();
    if (pass == FWD) ax_cpu_conv2d(&ky, &kx, &kw, &kb, &p);
    if (pass == BWD_INPUT) ax_cpu_conv2d_backward_input(&kx, &ky, &kw, &p);
    if (pass == BWD_WEIGHT) ax_cpu_conv2d_backward_weight(&kw, &ky, &kx, &p);
    if (r >= 0) t[r] = now_s() - t0;
  }
  free(x), free(w), free(y), free(b);
  qsort(t, (size_t)reps, sizeof t[0], cmp_double);
  return t[reps / 2];
}

int main(int argc, char **argv) {
  int threads = 2, reps = 15, dtype = AX_F32;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--f64")) dtype = AX_F64;
    else {
      fprintf(stderr, "usage: bench_conv [--threads N] [--reps R] [--f64]\n");
      return 2;
    }
  }
  if (reps < 1) reps = 1;
  if (reps > 64) reps = 64;
  omp_set_num_threads(threads);
  const layer layers[] = {
      {"cnn conv1 1->32 28x28", 128, 1, 28, 28, 32, 3, 1},
      {"cnn conv2 32->64 14x14", 128, 32, 14, 14, 64, 3, 1},
      {"resnet 64->64 14x14", 128, 64, 14, 14, 64, 3, 1},
  };
  const char *passes[] = {"forward", "backward_input", "backward_weight"};
  printf("# axon conv2d, %s, %d threads, batch 128, median of %d\n", dtype == AX_F32 ? "f32" : "f64", threads, reps);
  printf("%-24s %-16s %10s %10s\n", "layer", "pass", "ms", "GFLOP/s");
  for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
    const layer *l = &layers[i];
    double flops = 2.0 * l->n * l->o * l->h * l->w * l->c * l->k * l->k; /* pad 1, stride 1: oh = h */
    for (int pass = 0; pass < 3; pass++) {
      double s = time_pass(pass, l, dtype, reps);
      printf("%-24s %-16s %10.3f %10.1f\n", l->name, passes[pass], 1e3 * s, flops / s * 1e-9);
    }
  }
  return 0;
}
