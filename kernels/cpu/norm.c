/* PLACEHOLDER: the CPU norm kernels are being written; each entry aborts. */
#include <stdio.h>
#include <stdlib.h>

#include "kernels/cpu/cpu.h"

void ax_cpu_batch_norm_stats(ax_kt *mean, ax_kt *invstd, const ax_kt *x, double eps) {
  (void)mean; (void)invstd; (void)x; (void)eps; 
  fprintf(stderr, "ax_cpu_batch_norm_stats: not written yet\n");
  abort();
}

void ax_cpu_batch_norm_apply(ax_kt *y, const ax_kt *x, const ax_kt *mean, const ax_kt *invstd, const ax_kt *weight, const ax_kt *bias) {
  (void)y; (void)x; (void)mean; (void)invstd; (void)weight; (void)bias; 
  fprintf(stderr, "ax_cpu_batch_norm_apply: not written yet\n");
  abort();
}

void ax_cpu_batch_norm_backward(ax_kt *gx, ax_kt *gweight, ax_kt *gbias, const ax_kt *gy, const ax_kt *x, const ax_kt *mean, const ax_kt *invstd, const ax_kt *weight, int training) {
  (void)gx; (void)gweight; (void)gbias; (void)gy; (void)x; (void)mean; (void)invstd; (void)weight; (void)training; 
  fprintf(stderr, "ax_cpu_batch_norm_backward: not written yet\n");
  abort();
}
