/* The CUDA backend table (see kernels/cuda/cuda.h), generated from kernels/kernels.def. */
#include <string.h>

#include "kernels/cuda/cuda.h"

static ax_backend make_cuda_backend(void) {
  ax_backend b;
  memset(&b, 0, sizeof b);
  b.name = "cuda";
#define AX_RUNTIME(ret, name, params, family) b.name = ax_cuda_##name;
#define AX_KERNEL(name, params, family, grad) b.name = ax_cuda_##name;
#include "kernels/kernels.def"
  return b;
}

extern "C" const ax_backend ax_cuda_backend = make_cuda_backend();
