/* SPDX-License-Identifier: BSD-3-Clause */
/* bench_attention: flash attention (ax_scaled_dot_product_attention) against
 * the composite softmax(q k^T * scale + causal mask) v built from ax_matmul and
 * ax_softmax, on the CPU, forward and forward + backward.
 *
 *   bench_attention [--threads N] [--reps R] [--b B] [--h H] [--t T] [--d D] [--f64]
 *
 * The default shape is the GPT-on-the-CPU case (batch 32, 4 heads, T = 128,
 * D = 64, causal). Prints the median ms and the GFLOP/s of the useful work:
 * 4 B H T^2 D forward (two GEMMs), halved for causal, and 2.5x that for the
 * backward (five GEMMs), the convention FlashAttention's papers use.
 * benchmarks/bench_attention_torch.py prints the same rows for PyTorch.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <omp.h>
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

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static ax_tensor *composite(ax_tensor *q, ax_tensor *k, ax_tensor *v, ax_tensor *causal) {
  ax_tensor *s = ax_mul_scalar(ax_matmul(q, ax_transpose(k, 2, 3)), 1 / sqrt((double)q->shape[3]));
  s = ax_where(causal, s, ax_scalar(-INFINITY, &(ax_tensor_opts){.dtype = q->dtype}));
  return ax_matmul(ax_softmax(s, -1), v);
}

/* Median seconds of one forward (backward too when `train`) of the flash op or the composite. */
static double time_run(int flash, int train, ax_tensor *q, ax_tensor *k, ax_tensor *v, ax_tensor *causal, int reps) {
  double t[256];
  if (reps > 256) reps = 256;
  for (int r = -2; r < reps; r++) {
    ax_scope_begin();
    ax_zero_grad(q), ax_zero_grad(k), ax_zero_grad(v);
    double t0 = now_s();
    ax_tensor *y = flash ? ax_scaled_dot_product_attention(q, k, v, &(ax_sdpa_opts){.causal = true})
                         : composite(q, k, v, causal);
    if (train) ax_backward(ax_sum(y, AX_ALL, false), NULL);
    if (r >= 0) t[r] = now_s() - t0;
    ax_scope_end();
  }
  qsort(t, (size_t)reps, sizeof t[0], cmp_double);
  return t[reps / 2];
}

int main(int argc, char **argv) {
  int threads = omp_get_max_threads(), reps = 20;
  int64_t B = 32, H = 4, T = 128, D = 64;
  ax_dtype dt = AX_F32;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--f64")) { dt = AX_F64; continue; }
    if (!val) { fprintf(stderr, "bench_attention: %s needs a value (see the comment on top)\n", a); return 2; }
    if (!strcmp(a, "--threads")) threads = atoi(val);
    else if (!strcmp(a, "--reps")) reps = atoi(val);
    else if (!strcmp(a, "--b")) B = atoll(val);
    else if (!strcmp(a, "--h")) H = atoll(val);
    else if (!strcmp(a, "--t")) T = atoll(val);
    else if (!strcmp(a, "--d")) D = atoll(val);
    else { fprintf(stderr, "bench_attention: unknown option %s\n", a); return 2; }
    i++;
  }
  if (threads < 1 || reps < 1 || B < 1 || H < 1 || T < 1 || D < 1) {
    fprintf(stderr, "bench_attention: threads, reps and sizes must be positive\n");
    return 2;
  }
  omp_set_num_threads(threads);
  ax_scope_begin();
  ax_manual_seed(1);
  ax_tensor_opts o = {.dtype = dt, .requires_grad = true};
  ax_tensor *q = ax_randn(4, (int64_t[]){B, H, T, D}, &o), *k = ax_randn(4, (int64_t[]){B, H, T, D}, &o);
  ax_tensor *v = ax_randn(4, (int64_t[]){B, H, T, D}, &o);
  ax_tensor *i = ax_unsqueeze(ax_arange(0, (double)T, 1, NULL), 1), *j = ax_arange(0, (double)T, 1, NULL);
  ax_tensor *causal = ax_le(j, i);
  double fwd_flops = 4.0 * B * H * T * T * D / 2;
  printf("attention on the CPU, %s, B=%lld H=%lld T=%lld D=%lld causal, %d threads (median of %d)\n",
         ax_dtype_name(dt), (long long)B, (long long)H, (long long)T, (long long)D, threads, reps);
  printf("%-22s %10s %10s\n", "", "ms", "GFLOP/s");
  const char *names[2] = {"composite", "flash"};
  for (int train = 0; train < 2; train++)
    for (int flash = 0; flash < 2; flash++) {
      double s = time_run(flash, train, q, k, v, causal, reps), flops = fwd_flops * (train ? 3.5 : 1.0);
      printf("%-10s %-11s %10.3f %10.1f\n", names[flash], train ? "fwd+bwd" : "fwd", s * 1e3, flops / s * 1e-9);
    }
  ax_scope_end();
  return 0;
}
