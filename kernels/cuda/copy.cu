/* PLACEHOLDER: the CUDA copy kernels are being written; each entry reports an error. */
#include "kernels/cuda/cuda.h"

extern "C" void ax_error(const char *fmt, ...);

extern "C" void ax_cuda_copy(ax_kt *dst, const ax_kt *src) {
  (void)dst; (void)src; 
  ax_error("ax_cuda_copy: not implemented on the cuda backend yet");
}

extern "C" void ax_cuda_fill(ax_kt *out, double value) {
  (void)out; (void)value; 
  ax_error("ax_cuda_fill: not implemented on the cuda backend yet");
}

extern "C" void ax_cuda_arange(ax_kt *out, double start, double step) {
  (void)out; (void)start; (void)step; 
  ax_error("ax_cuda_arange: not implemented on the cuda backend yet");
}

extern "C" void ax_cuda_random(ax_kt *out, int dist, double a, double b, uint64_t seed, uint64_t offset) {
  (void)out; (void)dist; (void)a; (void)b; (void)seed; (void)offset; 
  ax_error("ax_cuda_random: not implemented on the cuda backend yet");
}
