/* PLACEHOLDER: the CPU pool kernels are being written; each entry aborts. */
#include <stdio.h>
#include <stdlib.h>

#include "kernels/cpu/cpu.h"

void ax_cpu_max_pool2d(ax_kt *y, ax_kt *indices, const ax_kt *x, const ax_pool_params *p) {
  (void)y; (void)indices; (void)x; (void)p; 
  fprintf(stderr, "ax_cpu_max_pool2d: not written yet\n");
  abort();
}

void ax_cpu_max_pool2d_backward(ax_kt *gx, const ax_kt *gy, const ax_kt *indices, const ax_pool_params *p) {
  (void)gx; (void)gy; (void)indices; (void)p; 
  fprintf(stderr, "ax_cpu_max_pool2d_backward: not written yet\n");
  abort();
}

void ax_cpu_avg_pool2d(ax_kt *y, const ax_kt *x, const ax_pool_params *p) {
  (void)y; (void)x; (void)p; 
  fprintf(stderr, "ax_cpu_avg_pool2d: not written yet\n");
  abort();
}

void ax_cpu_avg_pool2d_backward(ax_kt *gx, const ax_kt *gy, const ax_pool_params *p) {
  (void)gx; (void)gy; (void)p; 
  fprintf(stderr, "ax_cpu_avg_pool2d_backward: not written yet\n");
  abort();
}
