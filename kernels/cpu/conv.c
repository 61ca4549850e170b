/* PLACEHOLDER: the CPU conv kernels are being written; each entry aborts. */
#include <stdio.h>
#include <stdlib.h>

#include "kernels/cpu/cpu.h"

void ax_cpu_conv2d(ax_kt *y, const ax_kt *x, const ax_kt *w, const ax_kt *bias, const ax_conv_params *p) {
  (void)y; (void)x; (void)w; (void)bias; (void)p; 
  fprintf(stderr, "ax_cpu_conv2d: not written yet\n");
  abort();
}

void ax_cpu_conv2d_backward_input(ax_kt *gx, const ax_kt *gy, const ax_kt *w, const ax_conv_params *p) {
  (void)gx; (void)gy; (void)w; (void)p; 
  fprintf(stderr, "ax_cpu_conv2d_backward_input: not written yet\n");
  abort();
}

void ax_cpu_conv2d_backward_weight(ax_kt *gw, const ax_kt *gy, const ax_kt *x, const ax_conv_params *p) {
  (void)gw; (void)gy; (void)x; (void)p; 
  fprintf(stderr, "ax_cpu_conv2d_backward_weight: not written yet\n");
  abort();
}
