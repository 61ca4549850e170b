/* SPDX-License-Identifier: BSD-3-Clause */
/* The CUDA backend table (see kernels/cuda/cuda.h), generated from kernels/kernels.def. */
#include <string.h>

#include "kernels/cuda/cuda.h"

/* What the CUDA kernels take (kernels/backend.h): every dtype the op layer sends; the
 * index kernels check their indices on the device (reported at the next
 * synchronization, runtime.cu); the fused classifier works through 1 GB chunks. */
static ax_kernel_caps cuda_caps[AX_NUM_KERNEL_IDS];

static ax_backend make_cuda_backend(void) {
  cuda_caps[AX_KID_index_select].flags = AX_CAP_DEVICE_INDICES;
  cuda_caps[AX_KID_gather].flags = AX_CAP_DEVICE_INDICES;
  cuda_caps[AX_KID_embedding].flags = AX_CAP_DEVICE_INDICES;
  cuda_caps[AX_KID_cross_entropy].flags = AX_CAP_DEVICE_INDICES;
  cuda_caps[AX_KID_cross_entropy].chunk_bytes = (int64_t)1 << 30;
  ax_backend b;
  memset(&b, 0, sizeof b);
  b.name = "cuda";
  b.caps = cuda_caps;
#define AX_RUNTIME(ret, name, params, family) b.name = ax_cuda_##name;
#define AX_KERNEL(name, params, family, grad) b.name = ax_cuda_##name;
#include "kernels/kernels.def"
  return b;
}

extern "C" const ax_backend ax_cuda_backend = make_cuda_backend();
