/* CPU kernels (C + OpenMP): the reference backend. One file per op family;
 * kernels/cpu/backend.c gathers them into ax_cpu_backend. */
#ifndef AXON_KERNELS_CPU_H
#define AXON_KERNELS_CPU_H

#include "kernels/backend.h"

/* Below this many elements a kernel runs on one thread: thread start-up costs more. */
#define AX_CPU_PARALLEL_MIN 32768

/* alloc.c: 64-byte aligned caching allocator */
void *ax_cpu_alloc(size_t nbytes, int device_index);
void ax_cpu_free(void *ptr, size_t nbytes, int device_index);
ax_memory_stats ax_cpu_memory_stats(int device_index);
void ax_cpu_empty_cache(int device_index);

/* copy.c */
void ax_cpu_copy(ax_kt *dst, const ax_kt *src);
void ax_cpu_fill(ax_kt *out, double value);
void ax_cpu_arange(ax_kt *out, double start, double step);
void ax_cpu_random(ax_kt *out, int dist, double a, double b, uint64_t seed, uint64_t offset);

/* elementwise.c */
void ax_cpu_unary(int op, ax_kt *out, const ax_kt *x, double alpha, double beta);
void ax_cpu_unary_backward(int op, ax_kt *gx, const ax_kt *gy, const ax_kt *x, const ax_kt *y,
                           double alpha, double beta);
void ax_cpu_binary(int op, ax_kt *out, const ax_kt *a, const ax_kt *b);
void ax_cpu_where(ax_kt *out, const ax_kt *cond, const ax_kt *a, const ax_kt *b);

/* reduce.c */
void ax_cpu_reduce(int op, ax_kt *out, const ax_kt *in);
void ax_cpu_arg_reduce(int op, ax_kt *values, ax_kt *indices, const ax_kt *in, int dim);
int ax_cpu_scan(int op, ax_kt *out, ax_kt *indices, const ax_kt *in, int dim, int reverse); /* scan.c */

/* softmax.c */
void ax_cpu_softmax(ax_kt *out, const ax_kt *in, int log);
void ax_cpu_softmax_backward(ax_kt *gx, const ax_kt *gy, const ax_kt *y, int log);

/* gemm.c */
void ax_cpu_gemm(const ax_gemm_args *args);

/* index.c */
void ax_cpu_index_select(ax_kt *out, const ax_kt *in, int dim, const ax_kt *index);
void ax_cpu_index_add(ax_kt *out, int dim, const ax_kt *index, const ax_kt *src);
void ax_cpu_gather(ax_kt *out, const ax_kt *in, int dim, const ax_kt *index);
void ax_cpu_scatter_add(ax_kt *out, int dim, const ax_kt *index, const ax_kt *src);

/* loss.c */
void ax_cpu_cross_entropy(ax_kt *loss, ax_kt *lse, const ax_kt *logits, const ax_kt *target,
                          int64_t ignore_index, double label_smoothing);
void ax_cpu_cross_entropy_backward(ax_kt *glogits, const ax_kt *gloss, const ax_kt *logits, const ax_kt *lse,
                                   const ax_kt *target, int64_t ignore_index, double label_smoothing);

/* conv.c */
void ax_cpu_conv2d(ax_kt *y, const ax_kt *x, const ax_kt *w, const ax_kt *bias, const ax_conv_params *p);
void ax_cpu_conv2d_backward_input(ax_kt *gx, const ax_kt *gy, const ax_kt *w, const ax_conv_params *p);
void ax_cpu_conv2d_backward_weight(ax_kt *gw, const ax_kt *gy, const ax_kt *x, const ax_conv_params *p);

/* pool.c */
void ax_cpu_max_pool2d(ax_kt *y, ax_kt *indices, const ax_kt *x, const ax_pool_params *p);
void ax_cpu_max_pool2d_backward(ax_kt *gx, const ax_kt *gy, const ax_kt *indices, const ax_pool_params *p);
void ax_cpu_avg_pool2d(ax_kt *y, const ax_kt *x, const ax_pool_params *p);
void ax_cpu_avg_pool2d_backward(ax_kt *gx, const ax_kt *gy, const ax_pool_params *p);

/* norm.c */
void ax_cpu_batch_norm_stats(ax_kt *mean, ax_kt *invstd, const ax_kt *x, double eps);
void ax_cpu_batch_norm_apply(ax_kt *y, const ax_kt *x, const ax_kt *mean, const ax_kt *invstd,
                             const ax_kt *weight, const ax_kt *bias);
void ax_cpu_batch_norm_backward(ax_kt *gx, ax_kt *gweight, ax_kt *gbias, const ax_kt *gy, const ax_kt *x,
                                const ax_kt *mean, const ax_kt *invstd, const ax_kt *weight, int training);

/* dropout.c */
void ax_cpu_dropout(ax_kt *out, const ax_kt *in, double p, uint64_t seed, uint64_t offset);

/* optim.c */
void ax_cpu_optim_step(const ax_optim_args *a, int n, ax_kt *const *params, ax_kt *const *grads,
                       ax_kt *const *state0, ax_kt *const *state1, ax_kt *const *state2);

/* layernorm.c */
void ax_cpu_layer_norm(ax_kt *y, ax_kt *mean, ax_kt *rstd, const ax_kt *x, const ax_kt *weight,
                       const ax_kt *bias, double eps, int rms);
void ax_cpu_layer_norm_backward(ax_kt *gx, ax_kt *gweight, ax_kt *gbias, const ax_kt *gy, const ax_kt *x,
                                const ax_kt *mean, const ax_kt *rstd, const ax_kt *weight, int rms);
void ax_cpu_embedding_backward(ax_kt *gweight, const ax_kt *index, const ax_kt *gy);

/* attention.c */
void ax_cpu_attention(ax_kt *out, ax_kt *lse, const ax_kt *q, const ax_kt *k, const ax_kt *v,
                      const ax_kt *mask, const ax_attn_params *p);
void ax_cpu_attention_backward(ax_kt *gq, ax_kt *gk, ax_kt *gv, const ax_kt *gout, const ax_kt *q,
                               const ax_kt *k, const ax_kt *v, const ax_kt *out, const ax_kt *lse,
                               const ax_kt *mask, const ax_attn_params *p);

#endif
