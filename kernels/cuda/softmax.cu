/* PLACEHOLDER: the CUDA softmax kernels are being written; each entry reports an error. */
#include "kernels/cuda/cuda.h"

extern "C" void ax_error(const char *fmt, ...);

extern "C" void ax_cuda_softmax(ax_kt *out, const ax_kt *in, int log) {
  (void)out; (void)in; (void)log; 
  ax_error("ax_cuda_softmax: not implemented on the cuda backend yet");
}

extern "C" void ax_cuda_softmax_backward(ax_kt *gx, const ax_kt *gy, const ax_kt *y, int log) {
  (void)gx; (void)gy; (void)y; (void)log; 
  ax_error("ax_cuda_softmax_backward: not implemented on the cuda backend yet");
}
