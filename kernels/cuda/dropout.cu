/* PLACEHOLDER: the CUDA dropout kernels are being written; each entry reports an error. */
#include "kernels/cuda/cuda.h"

extern "C" void ax_error(const char *fmt, ...);

extern "C" void ax_cuda_dropout(ax_kt *out, const ax_kt *in, double p, uint64_t seed, uint64_t offset) {
  (void)out; (void)in; (void)p; (void)seed; (void)offset; 
  ax_error("ax_cuda_dropout: not implemented on the cuda backend yet");
}
