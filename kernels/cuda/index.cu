/* PLACEHOLDER: the CUDA index kernels are being written; each entry reports an error. */
#include "kernels/cuda/cuda.h"

extern "C" void ax_error(const char *fmt, ...);

extern "C" void ax_cuda_index_select(ax_kt *out, const ax_kt *in, int dim, const ax_kt *index) {
  (void)out; (void)in; (void)dim; (void)index; 
  ax_error("ax_cuda_index_select: not implemented on the cuda backend yet");
}

extern "C" void ax_cuda_index_add(ax_kt *out, int dim, const ax_kt *index, const ax_kt *src) {
  (void)out; (void)dim; (void)index; (void)src; 
  ax_error("ax_cuda_index_add: not implemented on the cuda backend yet");
}

extern "C" void ax_cuda_gather(ax_kt *out, const ax_kt *in, int dim, const ax_kt *index) {
  (void)out; (void)in; (void)dim; (void)index; 
  ax_error("ax_cuda_gather: not implemented on the cuda backend yet");
}

extern "C" void ax_cuda_scatter_add(ax_kt *out, int dim, const ax_kt *index, const ax_kt *src) {
  (void)out; (void)dim; (void)index; (void)src; 
  ax_error("ax_cuda_scatter_add: not implemented on the cuda backend yet");
}
