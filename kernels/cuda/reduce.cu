/* PLACEHOLDER: the CUDA reduce kernels are being written; each entry reports an error. */
#include "kernels/cuda/cuda.h"

extern "C" void ax_error(const char *fmt, ...);

extern "C" void ax_cuda_reduce(int op, ax_kt *out, const ax_kt *in) {
  (void)op; (void)out; (void)in; 
  ax_error("ax_cuda_reduce: not implemented on the cuda backend yet");
}

extern "C" void ax_cuda_arg_reduce(int op, ax_kt *values, ax_kt *indices, const ax_kt *in, int dim) {
  (void)op; (void)values; (void)indices; (void)in; (void)dim; 
  ax_error("ax_cuda_arg_reduce: not implemented on the cuda backend yet");
}
