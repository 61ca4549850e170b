/* PLACEHOLDER: the CUDA pool kernels are being written; each entry reports an error. */
#include "kernels/cuda/cuda.h"

extern "C" void ax_error(const char *fmt, ...);

extern "C" void ax_cuda_max_pool2d(ax_kt *y, ax_kt *indices, const ax_kt *x, const ax_pool_params *p) {
  (void)y; (void)indices; (void)x; (void)p; 
  ax_error("ax_cuda_max_pool2d: not implemented on the cuda backend yet");
}

extern "C" void ax_cuda_max_pool2d_backward(ax_kt *gx, const ax_kt *gy, const ax_kt *indices, const ax_pool_params *p) {
  (void)gx; (void)gy; (void)indices; (void)p; 
  ax_error("ax_cuda_max_pool2d_backward: not implemented on the cuda backend yet");
}

extern "C" void ax_cuda_avg_pool2d(ax_kt *y, const ax_kt *x, const ax_pool_params *p) {
  (void)y; (void)x; (void)p; 
  ax_error("ax_cuda_avg_pool2d: not implemented on the cuda backend yet");
}

extern "C" void ax_cuda_avg_pool2d_backward(ax_kt *gx, const ax_kt *gy, const ax_pool_params *p) {
  (void)gx; (void)gy; (void)p; 
  ax_error("ax_cuda_avg_pool2d_backward: not implemented on the cuda backend yet");
}
