/* PLACEHOLDER: the CUDA norm kernels are being written; each entry reports an error. */
#include "kernels/cuda/cuda.h"

extern "C" void ax_error(const char *fmt, ...);

extern "C" void ax_cuda_batch_norm_stats(ax_kt *mean, ax_kt *invstd, const ax_kt *x, double eps) {
  (void)mean; (void)invstd; (void)x; (void)eps; 
  ax_error("ax_cuda_batch_norm_stats: not implemented on the cuda backend yet");
}

extern "C" void ax_cuda_batch_norm_apply(ax_kt *y, const ax_kt *x, const ax_kt *mean, const ax_kt *invstd, const ax_kt *weight, const ax_kt *bias) {
  (void)y; (void)x; (void)mean; (void)invstd; (void)weight; (void)bias; 
  ax_error("ax_cuda_batch_norm_apply: not implemented on the cuda backend yet");
}

extern "C" void ax_cuda_batch_norm_backward(ax_kt *gx, ax_kt *gweight, ax_kt *gbias, const ax_kt *gy, const ax_kt *x, const ax_kt *mean, const ax_kt *invstd, const ax_kt *weight, int training) {
  (void)gx; (void)gweight; (void)gbias; (void)gy; (void)x; (void)mean; (void)invstd; (void)weight; (void)training; 
  ax_error("ax_cuda_batch_norm_backward: not implemented on the cuda backend yet");
}
