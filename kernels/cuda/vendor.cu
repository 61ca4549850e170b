/* SPDX-License-Identifier: BSD-3-Clause */
/* Vendor library handles (cuBLAS, cuDNN): one per device, created on first use
 * and bound to the current stream on every call. In a file of their own so that
 * the emulated device (AXON_CUDA=EMULATE), which has no vendor libraries, leaves
 * them out with the other vendor files. */
#include <mutex>

#include "kernels/backend.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/vendor.h"

#define AX_MAX_CUDA_DEVICES 64

extern "C" cublasHandle_t ax_cuda_cublas(void) {
  static cublasHandle_t handles[AX_MAX_CUDA_DEVICES];
  static std::once_flag once[AX_MAX_CUDA_DEVICES];
  int dev = ax_cuda_current_device();
  std::call_once(once[dev], [dev] {
    cublasStatus_t s = cublasCreate(&handles[dev]);
    if (s != CUBLAS_STATUS_SUCCESS) {
      ax_error("cuBLAS error %s (%s) in cublasCreate on cuda:%d at %s:%d", cublasGetStatusName(s),
               cublasGetStatusString(s), dev, __FILE__, __LINE__);
      handles[dev] = NULL;
    }
  });
  if (!handles[dev]) return NULL;
  cublasStatus_t s = cublasSetStream(handles[dev], ax_cuda_stream());
  if (s != CUBLAS_STATUS_SUCCESS) {
    ax_error("cuBLAS error %s (%s) in cublasSetStream on cuda:%d at %s:%d", cublasGetStatusName(s),
             cublasGetStatusString(s), dev, __FILE__, __LINE__);
    return NULL;
  }
  return handles[dev];
}

#ifdef AXON_HAVE_CUDNN
extern "C" cudnnHandle_t ax_cuda_cudnn(void) {
  static cudnnHandle_t handles[AX_MAX_CUDA_DEVICES];
  static std::once_flag once[AX_MAX_CUDA_DEVICES];
  int dev = ax_cuda_current_device();
  std::call_once(once[dev], [dev] {
    cudnnStatus_t s = cudnnCreate(&handles[dev]);
    if (s != CUDNN_STATUS_SUCCESS) {
      ax_error("cuDNN error %s in cudnnCreate on cuda:%d at %s:%d", cudnnGetErrorString(s), dev, __FILE__, __LINE__);
      handles[dev] = NULL;
    }
  });
  if (!handles[dev]) return NULL;
  cudnnStatus_t s = cudnnSetStream(handles[dev], ax_cuda_stream());
  if (s != CUDNN_STATUS_SUCCESS) {
    ax_error("cuDNN error %s in cudnnSetStream on cuda:%d at %s:%d", cudnnGetErrorString(s), dev, __FILE__, __LINE__);
    return NULL;
  }
  return handles[dev];
}
#endif
