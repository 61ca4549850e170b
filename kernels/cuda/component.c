/* SPDX-License-Identifier: BSD-3-Clause */
/* The CUDA component's table (core/components.h): how libaxon reaches the CUDA backend,
 * its runtime and the NCCL transport (dist/comm_nccl.c) without linking them. Part of
 * libaxon_cuda; the core refers to ax_cuda_component_v1 weakly. */
#define AX_COMPONENT_DEFINITION
#include "core/components.h"
#include "kernels/cuda/runtime.h"

#ifdef AXON_HAVE_NCCL
#define AX_DIST_TRANSPORT
#include "dist/internal.h"
#endif

const ax_cuda_component ax_cuda_component_v1 = {
    .abi = AX_COMPONENT_ABI,
    .backend = &ax_cuda_backend,
    .device_count = ax_cuda_runtime_device_count,
    .is_emulated = ax_cuda_is_emulated,
    .alloc_failure = ax_cuda_alloc_failure,
    .device_name = ax_cuda_device_name,
#ifdef AXON_HAVE_NCCL
    .nccl_available = ax__nccl_available,
    .nccl_start = ax__nccl_start,
    .nccl_test = ax__nccl_test,
    .nccl_join = ax__nccl_join,
    .nccl_free = ax__nccl_free,
#endif
};
