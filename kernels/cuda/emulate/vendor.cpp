/* SPDX-License-Identifier: BSD-3-Clause */
/* The vendor entry points on the emulated device (AXON_CUDA=EMULATE): cuBLAS,
 * cuDNN and NCCL are GPU binaries and cannot run on the host, so gemm_cublas.cu
 * and vendor.cu are left out of this build (conv_cudnn.cu and the cuDNN half of
 * attention_cudnn.cu compile to nothing without AXON_HAVE_CUDNN, and dist/ has
 * no NCCL communicator) and what asks for cuBLAS gets this error instead. The
 * native kernels are the default here, so only an explicit request
 * (AXON_GEMM=cublas, ax_cuda_gemm_set_impl) reaches it. */
#include "kernels/backend.h"

extern "C" void ax_error(const char *fmt, ...);

extern "C" bool ax_cuda_gemm_cublas(const ax_gemm_args *g) {
  (void)g;
  ax_error("ax_gemm: cuBLAS is not available on the emulated device (AXON_CUDA=EMULATE runs Axon's own kernels "
           "only); use AXON_GEMM=native");
  return true; /* handled: reported */
}
