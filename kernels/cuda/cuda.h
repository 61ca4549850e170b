/* SPDX-License-Identifier: BSD-3-Clause */
/* CUDA kernels: the second implementation of every entry of kernels/backend.h.
 * One .cu file per op family, with the same names as kernels/cpu/; runtime.cu holds
 * streams, the caching allocator and the vendor handles; kernels/cuda/backend.cu
 * gathers the entries into ax_cuda_backend. Host-side C linkage throughout.
 * Every kernel entry starts with AX_CUDA_ENTRY and returns ax_cuda_kstatus()
 * (common.cuh): the first launch or CUDA call that failed since the entry began. */
#ifndef AXON_KERNELS_CUDA_H
#define AXON_KERNELS_CUDA_H

#include "kernels/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ax_cuda_<name> for every entry of kernels/kernels.def: runtime.cu (memory, transfers,
 * last_error) and one file per op family (copy.cu, elementwise.cu, ...) */
#define AX_RUNTIME(ret, name, params, family) ret ax_cuda_##name params;
#define AX_KERNEL(name, params, family, grad) ax_kstatus ax_cuda_##name params;
#include "kernels/kernels.def"

/* gemm.cu */
/* Which GEMM runs: ours (gemm.cu) or cuBLAS (gemm_cublas.cu). DEFAULT follows
 * AXON_GEMM=native|cublas, else the per-dtype default (see gemm.cu). */
enum { AX_GEMM_IMPL_DEFAULT = 0, AX_GEMM_IMPL_NATIVE = 1, AX_GEMM_IMPL_CUBLAS = 2 };
void ax_cuda_gemm_set_impl(int impl); /* for tests and benchmarks; DEFAULT undoes it */
int ax_cuda_gemm_impl(int dtype);     /* NATIVE or CUBLAS: what a gemm of this dtype runs now */

/* gemm_cublas.cu: false when cuBLAS cannot describe the problem (sizes past int) */
bool ax_cuda_gemm_cublas(const ax_gemm_args *args);

/* attention.cu (native flash attention) and attention_cudnn.cu (AXON_ATTN=cudnn) */
bool ax_cuda_attention_force_backend(int backend); /* overrides AXON_ATTN: 1 cuDNN, 0 native, -1 back to AXON_ATTN; false (no change) when cuDNN is asked for but not built in */
bool ax_cuda_conv_force_backend(int backend); /* conv.cu: overrides AXON_CONV, as above */
/* attention_mask.cu: the cuDNN path's helpers, on the current stream. mask_to_bias writes a 4-D bool
 * mask (true keeps) or bias of the I/O dtype, broadcast over extents mb/mh of 1, as a contiguous
 * [mb, mh, tq, ld] bias of dtype (bf16/f16; hidden = the dtype's lowest); put_seed writes cuDNN's
 * dropout seed at dst[0] and offset at dst[2]. */
bool ax_cuda_attn_mask_to_bias(void *dst, int dtype, const ax_kt *mask, int64_t mb, int64_t mh, int64_t tq, int64_t tk, int64_t ld);
bool ax_cuda_attn_put_seed(int64_t *dst, uint64_t seed, uint64_t offset);

#ifdef __cplusplus
}
#endif
#endif
