/* PLACEHOLDER: the CUDA elementwise kernels are being written; each entry reports an error. */
#include "kernels/cuda/cuda.h"

extern "C" void ax_error(const char *fmt, ...);

extern "C" void ax_cuda_unary(int op, ax_kt *out, const ax_kt *x, double alpha, double beta) {
  (void)op; (void)out; (void)x; (void)alpha; (void)beta; 
  ax_error("ax_cuda_unary: not implemented on the cuda backend yet");
}

extern "C" void ax_cuda_unary_backward(int op, ax_kt *gx, const ax_kt *gy, const ax_kt *x, const ax_kt *y, double alpha, double beta) {
  (void)op; (void)gx; (void)gy; (void)x; (void)y; (void)alpha; (void)beta; 
  ax_error("ax_cuda_unary_backward: not implemented on the cuda backend yet");
}

extern "C" void ax_cuda_binary(int op, ax_kt *out, const ax_kt *a, const ax_kt *b) {
  (void)op; (void)out; (void)a; (void)b; 
  ax_error("ax_cuda_binary: not implemented on the cuda backend yet");
}

extern "C" void ax_cuda_where(ax_kt *out, const ax_kt *cond, const ax_kt *a, const ax_kt *b) {
  (void)out; (void)cond; (void)a; (void)b; 
  ax_error("ax_cuda_where: not implemented on the cuda backend yet");
}
