/* PLACEHOLDER: the CUDA optim kernels are being written; each entry reports an error. */
#include "kernels/cuda/cuda.h"

extern "C" void ax_error(const char *fmt, ...);

extern "C" void ax_cuda_optim_step(const ax_optim_args *a, int n, ax_kt *const *params, ax_kt *const *grads, ax_kt *const *state0, ax_kt *const *state1, ax_kt *const *state2) {
  (void)a; (void)n; (void)params; (void)grads; (void)state0; (void)state1; (void)state2; 
  ax_error("ax_cuda_optim_step: not implemented on the cuda backend yet");
}
