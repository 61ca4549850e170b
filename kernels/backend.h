/* The kernel ABI: one table of function pointers per backend.
 *
 * Kernels see plain strided views (ax_kt), never ax_tensor, never the op layer.
 * The op layer has already checked dtypes, devices and shapes, allocated the
 * outputs and broadcast inputs to the output shape (stride 0 on broadcast
 * dims). Kernels may assume those checks hold. The CPU table is the reference
 * and is complete; the CUDA table fills the same entries (a NULL entry means
 * "not yet on this backend", which the op layer reports as an error).
 * This header is C and CUDA-safe and includes no vendor headers.
 */
#ifndef AXON_KERNELS_BACKEND_H
#define AXON_KERNELS_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "axon/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A strided view of memory on the backend's device. */
typedef struct ax_kt {
  void *data; /* element 0 (offset already applied) */
  int dtype;  /* ax_dtype */
  int ndim;
  int64_t shape[AX_MAX_DIMS];
  int64_t strides[AX_MAX_DIMS]; /* in elements; 0 on broadcast dims */
} ax_kt;

/* Unary ops: y = f(x; alpha, beta). */
typedef enum ax_unary_op {
  AX_UNARY_NEG, AX_UNARY_ABS, AX_UNARY_EXP, AX_UNARY_LOG, AX_UNARY_SQRT, AX_UNARY_RSQRT,
  AX_UNARY_SQUARE,
  AX_UNARY_POW,        /* x^alpha */
  AX_UNARY_CLAMP,      /* min(max(x, alpha), beta) */
  AX_UNARY_RELU,
  AX_UNARY_LEAKY_RELU, /* slope alpha */
  AX_UNARY_SIGMOID, AX_UNARY_TANH,
  AX_UNARY_GELU,       /* erf form */
  AX_UNARY_GELU_TANH,
  AX_UNARY_SILU,
  AX_UNARY_SIGN,
  AX_NUM_UNARY
} ax_unary_op;

/* Binary ops: out = a op b. Comparisons write AX_BOOL outputs. */
typedef enum ax_binary_op {
  AX_BINARY_ADD, AX_BINARY_SUB, AX_BINARY_MUL, AX_BINARY_DIV,
  AX_BINARY_MAX, AX_BINARY_MIN,
  AX_BINARY_EQ, AX_BINARY_NE, AX_BINARY_LT, AX_BINARY_LE, AX_BINARY_GT, AX_BINARY_GE,
  AX_NUM_BINARY
} ax_binary_op;

typedef enum ax_reduce_op { AX_REDUCE_SUM, AX_REDUCE_MAX, AX_REDUCE_MIN, AX_NUM_REDUCE } ax_reduce_op;

/* Scans along one dim (kernels/cpu/scan.c, kernels/cuda/scan.cu). */
typedef enum ax_scan_op { AX_SCAN_SUM, AX_SCAN_PROD, AX_SCAN_MAX, AX_SCAN_LOGSUMEXP, AX_NUM_SCAN } ax_scan_op;

typedef enum ax_random_dist { AX_RANDOM_UNIFORM, AX_RANDOM_NORMAL } ax_random_dist;

/* Row-major batched GEMM: C = alpha * op(A) op(B) + beta * C, with
 * op(A) [m, k], op(B) [k, n], C [m, n]. Not transposed, A[i][p] = a[i*lda + p];
 * transposed, A is stored [k, m] and op(A)[i][p] = a[p*lda + i]. Batch b
 * starts at a + b*stride_a (stride 0 broadcasts). beta = 0 means C is not read. */
typedef struct ax_gemm_args {
  int dtype; /* a, b and c share it */
  int trans_a, trans_b;
  int64_t m, n, k;
  double alpha, beta;
  const void *a; int64_t lda; int64_t stride_a;
  const void *b; int64_t ldb; int64_t stride_b;
  void *c; int64_t ldc; int64_t stride_c;
  int64_t batch;
} ax_gemm_args;

/* 2-D convolution geometry: x [n, c, h, w], weight [o, c/groups, kh, kw],
 * y [n, o, oh, ow], all contiguous. */
typedef struct ax_conv_params {
  int64_t n, c, h, w;
  int64_t o, kh, kw;
  int64_t oh, ow;
  int sh, sw, ph, pw, dh, dw, groups;
} ax_conv_params;

/* 2-D pooling geometry: x [n, c, h, w] -> y [n, c, oh, ow], contiguous. Adaptive
 * pooling uses window i = [floor(i*h/oh), ceil((i+1)*h/oh)) and ignores k/s/p/d. */
typedef struct ax_pool_params {
  int64_t n, c, h, w, oh, ow;
  int kh, kw, sh, sw, ph, pw, dh, dw;
  int count_include_pad; /* avg: divide by kh*kw (1) or by the in-bounds count (0) */
  int adaptive;
} ax_pool_params;

typedef enum ax_optim_kind { AX_OPTIM_SGD, AX_OPTIM_ADAM, AX_OPTIM_ADAMW, AX_OPTIM_RMSPROP } ax_optim_kind;

/* One optimizer step over n parameters (PyTorch's update rules). grad is read
 * as grad * grad_scale (1 = as is); weight_decay is L2 added to the gradient
 * (SGD, Adam, RMSprop) or decoupled (AdamW); l1 adds l1 * sign(param). States:
 * SGD: state0 = momentum buffer; Adam/AdamW: state0 = exp_avg, state1 = exp_avg_sq;
 * RMSprop: state0 = square_avg, state1 = momentum buffer, state2 = grad_avg
 * (centered). Unused states may be NULL. step counts from 1. */
typedef struct ax_optim_args {
  int kind;
  double lr, weight_decay, l1, grad_scale;
  double momentum, dampening; int nesterov;
  double beta1, beta2, eps; int64_t step;
  double alpha; int centered;
  /* bf16 parameters: round the f32 update stochastically (Philox key sr_seed, see
   * kernels/optim_hp.h) instead of to nearest */
  int stochastic_rounding; uint64_t sr_seed;
} ax_optim_args;

/* Attention geometry: q [b, h, tq, d], k / v [b, h, tk, d], out [b, h, tq, d] (4-D
 * strided views, stride 1 on the last dim); lse [b, h, tq] contiguous, f32 (f64 for f64
 * inputs): the row's log-sum-exp of the scaled, masked scores, kept for the backward.
 * mask: NULL or a 4-D view broadcast to [b, h, tq, tk] (stride 0 on broadcast dims), bool
 * (true = attend) or q's dtype (added to the scores). causal: key j is seen by query i
 * when j <= i + tk - tq. dropout: weight (i, j) of head (b, h) is dropped when the
 * uniform Philox draw of element ((b*h_count + h)*tq + i)*tk + j at (seed, offset) is < p,
 * exactly as random(AX_RANDOM_UNIFORM) would draw it for a contiguous [b, h, tq, tk]
 * tensor; kept weights are scaled by 1/(1-p). A row with no visible key gives 0. */
typedef struct ax_attn_params {
  int64_t b, h, tq, tk, d;
  double scale;
  int causal;
  double dropout_p;
  uint64_t seed, offset;
} ax_attn_params;

typedef struct ax_backend {
  const char *name;

  /* memory (device_index selects the GPU; 0 on the CPU) */
  void *(*alloc)(size_t nbytes, int device_index); /* NULL when out of memory (after reporting) */
  void (*free)(void *ptr, size_t nbytes, int device_index);
  void (*copy_from_host)(void *dst, const void *src, size_t nbytes, int device_index);
  /* 0, or -1 after reporting an error: the copy's, or one the device found in
   * earlier work and reports at this synchronization (an index out of range) */
  int (*copy_to_host)(void *dst, const void *src, size_t nbytes, int device_index);
  void (*synchronize)(int device_index);
  ax_memory_stats (*memory_stats)(int device_index);
  void (*empty_cache)(int device_index);

  /* creation */
  void (*fill)(ax_kt *out, double value);
  void (*arange)(ax_kt *out, double start, double step); /* contiguous 1-D out */
  /* Element i of contiguous `out` uses Philox counter (i, offset), key seed. */
  void (*random)(ax_kt *out, int dist, double a, double b, uint64_t seed, uint64_t offset);

  /* dst[i] = (dst dtype) src[i]; same shape, any strides, any dtypes */
  void (*copy)(ax_kt *dst, const ax_kt *src);

  /* elementwise; inputs already broadcast to out's shape */
  void (*unary)(int op, ax_kt *out, const ax_kt *x, double alpha, double beta);
  /* gx = gy * f'(x) (y = f(x) given too, for ops whose derivative uses it) */
  void (*unary_backward)(int op, ax_kt *gx, const ax_kt *gy, const ax_kt *x, const ax_kt *y,
                         double alpha, double beta);
  void (*binary)(int op, ax_kt *out, const ax_kt *a, const ax_kt *b);
  void (*where)(ax_kt *out, const ax_kt *cond, const ax_kt *a, const ax_kt *b);

  /* reductions: out has in's ndim with size 1 on reduced dims */
  void (*reduce)(int op, ax_kt *out, const ax_kt *in);
  /* values (may be NULL) and i64 indices of the max/min along dim; out dims have size 1 at dim */
  void (*arg_reduce)(int op, ax_kt *values, ax_kt *indices, const ax_kt *in, int dim);
  /* inclusive scan (ax_scan_op) of float `in` along dim into out (in's shape and dtype); reverse = 1
   * scans from the end (suffix scan); MAX also writes i64 indices (may be NULL otherwise): the
   * position of the running max, the later one on ties, the first NaN once one is seen. 0 = ok */
  int (*scan)(int op, ax_kt *out, ax_kt *indices, const ax_kt *in, int dim, int reverse);

  /* softmax over the last dim of a contiguous [rows, cols] view (log: log_softmax) */
  void (*softmax)(ax_kt *out, const ax_kt *in, int log);
  void (*softmax_backward)(ax_kt *gx, const ax_kt *gy, const ax_kt *y, int log);

  void (*gemm)(const ax_gemm_args *args);

  /* indexing; index tensors are i64 or i32 */
  void (*index_select)(ax_kt *out, const ax_kt *in, int dim, const ax_kt *index);
  /* optional: index_select along dim 0 of a [v, c] weight for ax_embedding, so
   * that a device that checks indices in the kernel names the embedding (NULL:
   * ax_embedding uses index_select) */
  void (*embedding)(ax_kt *out, const ax_kt *weight, const ax_kt *index);
  /* out.index_add_(dim, index, src): out[.., index[i], ..] += src[.., i, ..] */
  void (*index_add)(ax_kt *out, int dim, const ax_kt *index, const ax_kt *src);
  void (*gather)(ax_kt *out, const ax_kt *in, int dim, const ax_kt *index);
  /* out[.., index[i,j,..], ..] += src[i, j, ..] along dim (index has src's shape) */
  void (*scatter_add)(ax_kt *out, int dim, const ax_kt *index, const ax_kt *src);

  /* fused cross-entropy over contiguous logits [rows, cols]: loss[r] =
   * logsumexp(x_r) - (1-ls) x_r[t_r] - ls * mean(x_r), 0 where t_r == ignore_index;
   * lse[r] keeps logsumexp(x_r) for the backward. target is i64 [rows]. The
   * probabilities are never written. lse is f32 (f64 for f64 logits); loss and the
   * backward's gloss are of the logits' dtype or of lse's (bf16 / f16 logits with
   * an f32 loss, as the fused classifier uses). */
  void (*cross_entropy)(ax_kt *loss, ax_kt *lse, const ax_kt *logits, const ax_kt *target,
                        int64_t ignore_index, double label_smoothing);
  /* glogits[r] = gloss[r] * (softmax(x_r) - (1-ls) onehot(t_r) - ls/cols), 0 rows where ignored */
  void (*cross_entropy_backward)(ax_kt *glogits, const ax_kt *gloss, const ax_kt *logits, const ax_kt *lse,
                                 const ax_kt *target, int64_t ignore_index, double label_smoothing);

  /* convolution (see ax_conv_params); bias may be NULL. The backward kernels overwrite
   * their output. conv_transpose2d's forward is conv2d_backward_input. */
  void (*conv2d)(ax_kt *y, const ax_kt *x, const ax_kt *w, const ax_kt *bias, const ax_conv_params *p);
  void (*conv2d_backward_input)(ax_kt *gx, const ax_kt *gy, const ax_kt *w, const ax_conv_params *p);
  void (*conv2d_backward_weight)(ax_kt *gw, const ax_kt *gy, const ax_kt *x, const ax_conv_params *p);

  /* pooling; indices are i64 positions h*w within each input plane; backward kernels overwrite gx */
  void (*max_pool2d)(ax_kt *y, ax_kt *indices, const ax_kt *x, const ax_pool_params *p);
  void (*max_pool2d_backward)(ax_kt *gx, const ax_kt *gy, const ax_kt *indices, const ax_pool_params *p);
  void (*avg_pool2d)(ax_kt *y, const ax_kt *x, const ax_pool_params *p);
  void (*avg_pool2d_backward)(ax_kt *gx, const ax_kt *gy, const ax_pool_params *p);

  /* batch norm over contiguous x viewed as [n, c, s]; mean / invstd are [c] of x's dtype
   * (invstd = 1/sqrt(biased var + eps)); weight / bias may be NULL (1 / 0). Backward:
   * any of gx / gweight / gbias may be NULL; training selects whether the batch
   * statistics' own gradient terms are included. */
  void (*batch_norm_stats)(ax_kt *mean, ax_kt *invstd, const ax_kt *x, double eps);
  void (*batch_norm_apply)(ax_kt *y, const ax_kt *x, const ax_kt *mean, const ax_kt *invstd,
                           const ax_kt *weight, const ax_kt *bias);
  void (*batch_norm_backward)(ax_kt *gx, ax_kt *gweight, ax_kt *gbias, const ax_kt *gy, const ax_kt *x,
                              const ax_kt *mean, const ax_kt *invstd, const ax_kt *weight, int training);

  /* out[i] = in[i] * (u_i >= p) / (1 - p), u_i = the uniform Philox draw of element i at
   * (seed, offset), exactly as random(AX_RANDOM_UNIFORM, 0, 1) draws it; contiguous.
   * The same call with in = gy gives the backward. */
  void (*dropout)(ax_kt *out, const ax_kt *in, double p, uint64_t seed, uint64_t offset);

  /* one fused optimizer update over n parameters (see ax_optim_args) */
  void (*optim_step)(const ax_optim_args *a, int n, ax_kt *const *params, ax_kt *const *grads,
                     ax_kt *const *state0, ax_kt *const *state1, ax_kt *const *state2);
  /* layer norm (rms = 0) or RMS norm (rms = 1) over the last dim of contiguous x viewed as
   * [rows, cols]; mean (NULL for rms) and rstd are [rows], f32 (f64 when x is f64);
   * weight / bias [cols] may be NULL. Backward: any of gx / gweight / gbias may be NULL;
   * every output is overwritten; the column sums of gweight / gbias are deterministic. */
  void (*layer_norm)(ax_kt *y, ax_kt *mean, ax_kt *rstd, const ax_kt *x, const ax_kt *weight,
                     const ax_kt *bias, double eps, int rms);
  void (*layer_norm_backward)(ax_kt *gx, ax_kt *gweight, ax_kt *gbias, const ax_kt *gy, const ax_kt *x,
                              const ax_kt *mean, const ax_kt *rstd, const ax_kt *weight, int rms);
  /* gweight [V, C] contiguous (overwritten) = sum of gy [N, C] rows i with index[i] == v; the
   * summation order is fixed (i ascending), so the result is the same bits every run */
  void (*embedding_backward)(ax_kt *gweight, const ax_kt *index, const ax_kt *gy);

  /* flash attention forward and backward (see ax_attn_params); the backward overwrites
   * gq, gk, gv */
  void (*attention)(ax_kt *out, ax_kt *lse, const ax_kt *q, const ax_kt *k, const ax_kt *v,
                    const ax_kt *mask, const ax_attn_params *p);
  void (*attention_backward)(ax_kt *gq, ax_kt *gk, ax_kt *gv, const ax_kt *gout, const ax_kt *q,
                             const ax_kt *k, const ax_kt *v, const ax_kt *out, const ax_kt *lse,
                             const ax_kt *mask, const ax_attn_params *p);
} ax_backend;

extern const ax_backend ax_cpu_backend;
#if defined(AXON_HAVE_CUDA)
extern const ax_backend ax_cuda_backend;
#endif

#ifdef __cplusplus
}
#endif
#endif
