/* CUDA kernels: the second implementation of every entry of kernels/backend.h.
 * One .cu file per op family, with the same names as kernels/cpu/; runtime.cu holds
 * streams, the caching allocator and the vendor handles; kernels/cuda/backend.cu
 * gathers the entries into ax_cuda_backend. Host-side C linkage throughout. */
#ifndef AXON_KERNELS_CUDA_H
#define AXON_KERNELS_CUDA_H

#include "kernels/backend.h"

#ifdef __cplusplus
extern "C" {
#endif


/* copy.cu */
void ax_cuda_copy(ax_kt *dst, const ax_kt *src);
void ax_cuda_fill(ax_kt *out, double value);
void ax_cuda_arange(ax_kt *out, double start, double step);
void ax_cuda_random(ax_kt *out, int dist, double a, double b, uint64_t seed, uint64_t offset);

/* elementwise.cu */
void ax_cuda_unary(int op, ax_kt *out, const ax_kt *x, double alpha, double beta);
void ax_cuda_unary_backward(int op, ax_kt *gx, const ax_kt *gy, const ax_kt *x, const ax_kt *y, double alpha, double beta);
void ax_cuda_binary(int op, ax_kt *out, const ax_kt *a, const ax_kt *b);
void ax_cuda_where(ax_kt *out, const ax_kt *cond, const ax_kt *a, const ax_kt *b);

/* reduce.cu */
void ax_cuda_reduce(int op, ax_kt *out, const ax_kt *in);
void ax_cuda_arg_reduce(int op, ax_kt *values, ax_kt *indices, const ax_kt *in, int dim);
int ax_cuda_scan(int op, ax_kt *out, ax_kt *indices, const ax_kt *in, int dim, int reverse); /* scan.cu */

/* softmax.cu */
void ax_cuda_softmax(ax_kt *out, const ax_kt *in, int log);
void ax_cuda_softmax_backward(ax_kt *gx, const ax_kt *gy, const ax_kt *y, int log);

/* gemm.cu */
void ax_cuda_gemm(const ax_gemm_args *args);
/* Which GEMM runs: ours (gemm.cu) or cuBLAS (gemm_cublas.cu). DEFAULT follows
 * AXON_GEMM=native|cublas, else the per-dtype default (see gemm.cu). */
enum { AX_GEMM_IMPL_DEFAULT = 0, AX_GEMM_IMPL_NATIVE = 1, AX_GEMM_IMPL_CUBLAS = 2 };
void ax_cuda_gemm_set_impl(int impl); /* for tests and benchmarks; DEFAULT undoes it */
int ax_cuda_gemm_impl(int dtype);     /* NATIVE or CUBLAS: what a gemm of this dtype runs now */

/* gemm_cublas.cu: false when cuBLAS cannot describe the problem (sizes past int) */
bool ax_cuda_gemm_cublas(const ax_gemm_args *args);

/* index.cu */
void ax_cuda_index_select(ax_kt *out, const ax_kt *in, int dim, const ax_kt *index);
void ax_cuda_embedding(ax_kt *out, const ax_kt *weight, const ax_kt *index);
void ax_cuda_index_add(ax_kt *out, int dim, const ax_kt *index, const ax_kt *src);
void ax_cuda_gather(ax_kt *out, const ax_kt *in, int dim, const ax_kt *index);
void ax_cuda_scatter_add(ax_kt *out, int dim, const ax_kt *index, const ax_kt *src);

/* loss.cu */
void ax_cuda_cross_entropy(ax_kt *loss, ax_kt *lse, const ax_kt *logits, const ax_kt *target, int64_t ignore_index, double label_smoothing);
void ax_cuda_cross_entropy_backward(ax_kt *glogits, const ax_kt *gloss, const ax_kt *logits, const ax_kt *lse, const ax_kt *target, int64_t ignore_index, double label_smoothing);

/* conv.cu */
void ax_cuda_conv2d(ax_kt *y, const ax_kt *x, const ax_kt *w, const ax_kt *bias, const ax_conv_params *p);
void ax_cuda_conv2d_backward_input(ax_kt *gx, const ax_kt *gy, const ax_kt *w, const ax_conv_params *p);
void ax_cuda_conv2d_backward_weight(ax_kt *gw, const ax_kt *gy, const ax_kt *x, const ax_conv_params *p);

/* pool.cu */
void ax_cuda_max_pool2d(ax_kt *y, ax_kt *indices, const ax_kt *x, const ax_pool_params *p);
void ax_cuda_max_pool2d_backward(ax_kt *gx, const ax_kt *gy, const ax_kt *indices, const ax_pool_params *p);
void ax_cuda_avg_pool2d(ax_kt *y, const ax_kt *x, const ax_pool_params *p);
void ax_cuda_avg_pool2d_backward(ax_kt *gx, const ax_kt *gy, const ax_pool_params *p);

/* norm.cu */
void ax_cuda_batch_norm_stats(ax_kt *mean, ax_kt *invstd, const ax_kt *x, double eps);
void ax_cuda_batch_norm_apply(ax_kt *y, const ax_kt *x, const ax_kt *mean, const ax_kt *invstd, const ax_kt *weight, const ax_kt *bias);
void ax_cuda_batch_norm_backward(ax_kt *gx, ax_kt *gweight, ax_kt *gbias, const ax_kt *gy, const ax_kt *x, const ax_kt *mean, const ax_kt *invstd, const ax_kt *weight, int training);

/* dropout.cu */
void ax_cuda_dropout(ax_kt *out, const ax_kt *in, double p, uint64_t seed, uint64_t offset);

/* optim.cu */
void ax_cuda_optim_step(const ax_optim_args *a, int n, ax_kt *const *params, ax_kt *const *grads, ax_kt *const *state0, ax_kt *const *state1, ax_kt *const *state2);

/* layernorm.cu */
void ax_cuda_layer_norm(ax_kt *y, ax_kt *mean, ax_kt *rstd, const ax_kt *x, const ax_kt *weight, const ax_kt *bias, double eps, int rms);
void ax_cuda_layer_norm_backward(ax_kt *gx, ax_kt *gweight, ax_kt *gbias, const ax_kt *gy, const ax_kt *x, const ax_kt *mean, const ax_kt *rstd, const ax_kt *weight, int rms);
void ax_cuda_embedding_backward(ax_kt *gweight, const ax_kt *index, const ax_kt *gy);

/* attention.cu (native flash attention) and attention_cudnn.cu (AXON_ATTN=cudnn) */
void ax_cuda_attention(ax_kt *out, ax_kt *lse, const ax_kt *q, const ax_kt *k, const ax_kt *v, const ax_kt *mask, const ax_attn_params *p);
void ax_cuda_attention_backward(ax_kt *gq, ax_kt *gk, ax_kt *gv, const ax_kt *gout, const ax_kt *q, const ax_kt *k, const ax_kt *v, const ax_kt *out, const ax_kt *lse, const ax_kt *mask, const ax_attn_params *p);
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
