/* SPDX-License-Identifier: BSD-3-Clause */
/* Vendor library handles, for the files that call cuBLAS / cuDNN (and only
 * those: the rest of kernels/cuda never includes their headers). One handle
 * per device, created on first use and bound to the current stream on every
 * call (runtime.cu). NULL after an error has been reported. */
#ifndef AXON_KERNELS_CUDA_VENDOR_H
#define AXON_KERNELS_CUDA_VENDOR_H

#include <cublas_v2.h>
#ifdef AXON_HAVE_CUDNN
#include <cudnn.h>
#endif

extern "C" cublasHandle_t ax_cuda_cublas(void);
#ifdef AXON_HAVE_CUDNN
extern "C" cudnnHandle_t ax_cuda_cudnn(void);
#endif

#endif
