/* PLACEHOLDER: the CUDA conv kernels are being written; each entry reports an error. */
#include "kernels/cuda/cuda.h"

extern "C" void ax_error(const char *fmt, ...);

extern "C" void ax_cuda_conv2d(ax_kt *y, const ax_kt *x, const ax_kt *w, const ax_kt *bias, const ax_conv_params *p) {
  (void)y; (void)x; (void)w; (void)bias; (void)p; 
  ax_error("ax_cuda_conv2d: not implemented on the cuda backend yet");
}

extern "C" void ax_cuda_conv2d_backward_input(ax_kt *gx, const ax_kt *gy, const ax_kt *w, const ax_conv_params *p) {
  (void)gx; (void)gy; (void)w; (void)p; 
  ax_error("ax_cuda_conv2d_backward_input: not implemented on the cuda backend yet");
}

extern "C" void ax_cuda_conv2d_backward_weight(ax_kt *gw, const ax_kt *gy, const ax_kt *x, const ax_conv_params *p) {
  (void)gw; (void)gy; (void)x; (void)p; 
  ax_error("ax_cuda_conv2d_backward_weight: not implemented on the cuda backend yet");
}
