/* SPDX-License-Identifier: BSD-3-Clause */
/* Axon ops: every op checks its inputs, computes its output shape, runs the
 * kernel of the inputs' device, and records a graph node when autograd is on
 * and an input requires grad. Results belong to the innermost scope.
 * Errors name the op and the shapes; after one the op returns NULL, and every
 * op given a NULL input returns NULL.
 */
#ifndef AXON_OPS_H
#define AXON_OPS_H

#include "axon/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* AX_DIMS(0, 2) expands to `ndims, dims`; AX_ALL means every dim. */
#define AX_DIMS(...) (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), (const int[]){__VA_ARGS__}
#define AX_ALL 0, NULL

/* ---- creation ---- */
ax_tensor *ax_empty(int ndim, const int64_t *shape, const ax_tensor_opts *o);
ax_tensor *ax_zeros(int ndim, const int64_t *shape, const ax_tensor_opts *o);
ax_tensor *ax_ones(int ndim, const int64_t *shape, const ax_tensor_opts *o);
ax_tensor *ax_full(int ndim, const int64_t *shape, double value, const ax_tensor_opts *o);
ax_tensor *ax_scalar(double value, const ax_tensor_opts *o); /* 0-dim tensor */
ax_tensor *ax_arange(double start, double end, double step, const ax_tensor_opts *o);
ax_tensor *ax_rand(int ndim, const int64_t *shape, const ax_tensor_opts *o);  /* U[0, 1) */
ax_tensor *ax_randn(int ndim, const int64_t *shape, const ax_tensor_opts *o); /* N(0, 1) */
ax_tensor *ax_zeros_like(const ax_tensor *t);
ax_tensor *ax_ones_like(const ax_tensor *t);
ax_tensor *ax_full_like(const ax_tensor *t, double value);
ax_tensor *ax_empty_like(const ax_tensor *t);
/* Copy `shape` elements of o->dtype from a host buffer. */
ax_tensor *ax_from_data(const void *data, int ndim, const int64_t *shape, const ax_tensor_opts *o);
/* Copy t (any layout, any device) to a host buffer as contiguous elements of t's dtype.
 * Returns 0, or -1 (with an error) if nbytes is too small. */
int ax_to_data(const ax_tensor *t, void *dst, size_t nbytes);
double ax_item(const ax_tensor *t); /* the value of a one-element tensor, as a double */
ax_tensor *ax_to(ax_tensor *t, ax_device d);     /* differentiable copy to another device */
ax_tensor *ax_cast(ax_tensor *t, ax_dtype dt);   /* differentiable between float dtypes */
ax_tensor *ax_contiguous(ax_tensor *t);          /* t itself (new reference) if already contiguous */
ax_tensor *ax_clone(ax_tensor *t);
ax_tensor *ax_detach(ax_tensor *t);              /* view sharing storage, no graph */
/* In place: dst's elements = src's (broadcast to dst's shape, converted to dst's dtype).
 * Not recorded by autograd; refused on a leaf that requires grad while grad mode is on
 * (wrap optimizer updates in ax_no_grad_begin/end). Returns 0 or -1. */
int ax_copy_(ax_tensor *dst, ax_tensor *src);

/* ---- views and indexing ---- */
ax_tensor *ax_reshape(ax_tensor *x, int ndim, const int64_t *shape); /* one -1 allowed; copies if needed */
ax_tensor *ax_view(ax_tensor *x, int ndim, const int64_t *shape);    /* like reshape, never copies */
ax_tensor *ax_permute(ax_tensor *x, const int *dims);                 /* x->ndim entries */
ax_tensor *ax_transpose(ax_tensor *x, int dim0, int dim1);
ax_tensor *ax_narrow(ax_tensor *x, int dim, int64_t start, int64_t length);
ax_tensor *ax_slice(ax_tensor *x, int dim, int64_t start, int64_t end, int64_t step);
ax_tensor *ax_expand(ax_tensor *x, int ndim, const int64_t *shape); /* -1 keeps a size */
ax_tensor *ax_squeeze(ax_tensor *x, int dim); /* dim = AX_SQUEEZE_ALL drops every size-1 dim */
#define AX_SQUEEZE_ALL (-1000)
ax_tensor *ax_unsqueeze(ax_tensor *x, int dim);
ax_tensor *ax_flatten(ax_tensor *x, int start_dim, int end_dim);
ax_tensor *ax_cat(ax_tensor *const *xs, int n, int dim);
ax_tensor *ax_stack(ax_tensor *const *xs, int n, int dim);
/* Split into pieces of split_size (last may be smaller). Writes at most max_out
 * views to out and returns how many pieces there are, or -1 on error. */
int ax_split(ax_tensor *x, int64_t split_size, int dim, ax_tensor **out, int max_out);
int ax_chunk(ax_tensor *x, int chunks, int dim, ax_tensor **out, int max_out);
/* Split into n views of sizes[0], ..., sizes[n-1] along dim (torch.split with a list); the
 * sizes (each >= 0) must sum to the dim's size. Writes n views to out and returns n, or -1 on
 * error. Each view is differentiable (its gradient lands in its part of x's). */
int ax_split_sizes(ax_tensor *x, const int64_t *sizes, int n, int dim, ax_tensor **out);
ax_tensor *ax_index_select(ax_tensor *x, int dim, ax_tensor *index); /* index: 1-D i64/i32 */
ax_tensor *ax_gather(ax_tensor *x, int dim, ax_tensor *index);       /* index: same ndim as x */
/* Out-of-place: a copy of x with src added at index along dim. */
ax_tensor *ax_scatter_add(ax_tensor *x, int dim, ax_tensor *index, ax_tensor *src);
ax_tensor *ax_where(ax_tensor *cond, ax_tensor *a, ax_tensor *b); /* cond: bool, broadcasts */

/* ---- elementwise, unary ---- */
ax_tensor *ax_neg(ax_tensor *x);
ax_tensor *ax_abs(ax_tensor *x);
ax_tensor *ax_exp(ax_tensor *x);
ax_tensor *ax_log(ax_tensor *x);
ax_tensor *ax_sqrt(ax_tensor *x);
ax_tensor *ax_rsqrt(ax_tensor *x);
ax_tensor *ax_square(ax_tensor *x);
ax_tensor *ax_pow_scalar(ax_tensor *x, double p);
ax_tensor *ax_clamp(ax_tensor *x, double lo, double hi); /* -INFINITY / INFINITY for no bound */
ax_tensor *ax_relu(ax_tensor *x);
ax_tensor *ax_leaky_relu(ax_tensor *x, double negative_slope);
ax_tensor *ax_sigmoid(ax_tensor *x);
ax_tensor *ax_tanh(ax_tensor *x);
ax_tensor *ax_gelu(ax_tensor *x);      /* exact: x * Phi(x) */
ax_tensor *ax_gelu_tanh(ax_tensor *x); /* the tanh approximation */
ax_tensor *ax_silu(ax_tensor *x);

/* ---- elementwise, binary (NumPy broadcasting) ---- */
ax_tensor *ax_add(ax_tensor *a, ax_tensor *b);
ax_tensor *ax_sub(ax_tensor *a, ax_tensor *b);
ax_tensor *ax_mul(ax_tensor *a, ax_tensor *b);
ax_tensor *ax_div(ax_tensor *a, ax_tensor *b);
ax_tensor *ax_maximum(ax_tensor *a, ax_tensor *b);
ax_tensor *ax_minimum(ax_tensor *a, ax_tensor *b);
/* a^b elementwise, float only (torch.pow with a tensor exponent); the gradient of b is
 * a^b log(a), taken as 0 where a = 0 and b >= 0, as PyTorch does */
ax_tensor *ax_pow(ax_tensor *a, ax_tensor *b);
ax_tensor *ax_add_scalar(ax_tensor *a, double s);
ax_tensor *ax_sub_scalar(ax_tensor *a, double s);
ax_tensor *ax_rsub_scalar(ax_tensor *a, double s); /* s - a */
ax_tensor *ax_mul_scalar(ax_tensor *a, double s);
ax_tensor *ax_div_scalar(ax_tensor *a, double s);
ax_tensor *ax_rdiv_scalar(ax_tensor *a, double s); /* s / a */
ax_tensor *ax_maximum_scalar(ax_tensor *a, double s);
ax_tensor *ax_minimum_scalar(ax_tensor *a, double s);
/* comparisons return bool tensors and are not differentiable */
ax_tensor *ax_eq(ax_tensor *a, ax_tensor *b);
ax_tensor *ax_ne(ax_tensor *a, ax_tensor *b);
ax_tensor *ax_lt(ax_tensor *a, ax_tensor *b);
ax_tensor *ax_le(ax_tensor *a, ax_tensor *b);
ax_tensor *ax_gt(ax_tensor *a, ax_tensor *b);
ax_tensor *ax_ge(ax_tensor *a, ax_tensor *b);
ax_tensor *ax_eq_scalar(ax_tensor *a, double s);
ax_tensor *ax_ne_scalar(ax_tensor *a, double s);
ax_tensor *ax_lt_scalar(ax_tensor *a, double s);
ax_tensor *ax_le_scalar(ax_tensor *a, double s);
ax_tensor *ax_gt_scalar(ax_tensor *a, double s);
ax_tensor *ax_ge_scalar(ax_tensor *a, double s);

/* ---- reductions (ndims = 0 / AX_ALL reduces every dim) ---- */
ax_tensor *ax_sum(ax_tensor *x, int ndims, const int *dims, bool keepdim);
ax_tensor *ax_mean(ax_tensor *x, int ndims, const int *dims, bool keepdim);
ax_tensor *ax_amax(ax_tensor *x, int ndims, const int *dims, bool keepdim);
ax_tensor *ax_amin(ax_tensor *x, int ndims, const int *dims, bool keepdim);
/* values along one dim; *indices (i64, may be NULL) receives the positions */
ax_tensor *ax_max(ax_tensor *x, int dim, bool keepdim, ax_tensor **indices);
ax_tensor *ax_min(ax_tensor *x, int dim, bool keepdim, ax_tensor **indices);
ax_tensor *ax_argmax(ax_tensor *x, int dim, bool keepdim);
ax_tensor *ax_argmin(ax_tensor *x, int dim, bool keepdim);
ax_tensor *ax_var(ax_tensor *x, int ndims, const int *dims, bool unbiased, bool keepdim);
ax_tensor *ax_std(ax_tensor *x, int ndims, const int *dims, bool unbiased, bool keepdim);
ax_tensor *ax_logsumexp(ax_tensor *x, int ndims, const int *dims, bool keepdim);
ax_tensor *ax_norm(ax_tensor *x, double p, int ndims, const int *dims, bool keepdim); /* p-norm, p > 0 or INFINITY */

/* ---- scans along one dim (dim may be negative; x is float; the result has x's shape) ---- */
/* y[..., i, ...] = x[..., 0, ...] + ... + x[..., i, ...] (torch.cumsum) */
ax_tensor *ax_cumsum(ax_tensor *x, int dim);
/* running product (torch.cumprod); the gradient is exact where x has zeros (PyTorch's rule) */
ax_tensor *ax_cumprod(ax_tensor *x, int dim);
/* running max (torch.cummax); *indices (i64, x's shape; may be NULL) receives where each max is:
 * the later position on ties, the first NaN once one is seen (NaN then propagates) */
ax_tensor *ax_cummax(ax_tensor *x, int dim, ax_tensor **indices);
/* y[..., i, ...] = log(sum_{j <= i} exp(x[..., j, ...])), without overflow (torch.logcumsumexp) */
ax_tensor *ax_logcumsumexp(ax_tensor *x, int dim);

/* ---- linear algebra ---- */
/* torch.matmul semantics: 1-D x 1-D dot, 2-D GEMM, batched with broadcast batch dims. */
ax_tensor *ax_matmul(ax_tensor *a, ax_tensor *b);
ax_tensor *ax_linear(ax_tensor *x, ax_tensor *weight, ax_tensor *bias); /* x W^T + b; bias may be NULL */

/* ---- softmax and losses ---- */
ax_tensor *ax_softmax(ax_tensor *x, int dim);
ax_tensor *ax_log_softmax(ax_tensor *x, int dim);

/* AX_REDUCTION_BATCHMEAN (the sum divided by the first dim) is for ax_kl_div only. */
typedef enum ax_reduction { AX_REDUCTION_MEAN = 0, AX_REDUCTION_SUM, AX_REDUCTION_NONE, AX_REDUCTION_BATCHMEAN } ax_reduction;

typedef struct ax_cross_entropy_opts {
  ax_reduction reduction;
  bool has_ignore_index;  /* false: targets equal to -100 are ignored, like PyTorch's default */
  int64_t ignore_index;
  double label_smoothing; /* in [0, 1] */
  /* Class weights [C] (PyTorch's `weight`), NULL for none; not differentiated. Each
   * element's loss is scaled by weight[target]; the mean divides by the sum of
   * weight[target] over the targets not ignored. With label smoothing eps the loss is
   * (1 - eps) w[t] nll + eps / C sum_c w[c] (-log p_c), as in PyTorch. */
  ax_tensor *weight;
} ax_cross_entropy_opts;

/* logits [N, C] (or [N, C, d...]), target i64 [N] ([N, d...]) of class indices. */
ax_tensor *ax_cross_entropy(ax_tensor *logits, ax_tensor *target, const ax_cross_entropy_opts *o);
/* log_probs as cross_entropy's logits; label_smoothing is ignored. */
ax_tensor *ax_nll_loss(ax_tensor *log_probs, ax_tensor *target, const ax_cross_entropy_opts *o);
ax_tensor *ax_mse_loss(ax_tensor *input, ax_tensor *target, ax_reduction r);
ax_tensor *ax_l1_loss(ax_tensor *input, ax_tensor *target, ax_reduction r);
ax_tensor *ax_smooth_l1_loss(ax_tensor *input, ax_tensor *target, ax_reduction r, double beta);
ax_tensor *ax_bce_with_logits(ax_tensor *logits, ax_tensor *target, ax_reduction r);
/* PyTorch's BCEWithLogitsLoss(weight, pos_weight): per element
 *   weight * -(pos_weight y log sigmoid(x) + (1 - y) log(1 - sigmoid(x)));
 * weight and pos_weight (e.g. [C] against logits [N, C]) broadcast to the logits' shape, NULL
 * for none; neither is differentiated. */
typedef struct ax_bce_opts {
  ax_reduction reduction;
  ax_tensor *weight;
  ax_tensor *pos_weight;
} ax_bce_opts;
ax_tensor *ax_bce_with_logits_ex(ax_tensor *logits, ax_tensor *target, const ax_bce_opts *o);
/* PyTorch's KLDivLoss: input holds log-probabilities; per element
 *   target (log target - input)        (target 0 gives 0), or with log_target
 *   exp(target) (target - input);
 * reductions none, sum, mean (over every element) and batchmean (sum / input.shape[0]).
 * Same shapes and dtypes; differentiable with respect to input and target. */
ax_tensor *ax_kl_div(ax_tensor *input, ax_tensor *target, ax_reduction r, bool log_target);
/* Knowledge distillation: T^2 KL(softmax(teacher / T) || softmax(student / T)) with batchmean,
 * i.e. T^2 ax_kl_div(log_softmax(student / T), log_softmax(teacher / T), batchmean, true).
 * Logits [N, C] of the same shape (C must agree); T > 0. Gradients flow into both (detach the
 * teacher, or compute it under ax_no_grad, to train the student only). */
ax_tensor *ax_distill_loss(ax_tensor *student_logits, ax_tensor *teacher_logits, double T);

/* ---- convolution and pooling (NCHW activations) ----
 * Options are square by default (`.stride = 2`); the *_hw fields give a
 * rectangular {height, width} value and are used when either entry is nonzero.
 * stride, dilation and groups of 0 mean 1. */
typedef struct ax_conv2d_opts {
  int stride, padding, dilation;
  int stride_hw[2], padding_hw[2], dilation_hw[2];
  int groups;
  int output_padding, output_padding_hw[2]; /* conv_transpose2d only */
} ax_conv2d_opts;

/* x [N, C, H, W], weight [O, C/groups, kh, kw], bias [O] or NULL -> [N, O, OH, OW]. */
ax_tensor *ax_conv2d(ax_tensor *x, ax_tensor *weight, ax_tensor *bias, const ax_conv2d_opts *o);
/* The gradient of conv2d with respect to its input, as an op:
 * x [N, C, H, W], weight [C, O/groups, kh, kw], bias [O] or NULL -> [N, O, OH, OW]. */
ax_tensor *ax_conv_transpose2d(ax_tensor *x, ax_tensor *weight, ax_tensor *bias, const ax_conv2d_opts *o);

typedef struct ax_pool2d_opts {
  int kernel, stride, padding, dilation; /* stride 0 means the kernel size; dilation 0 means 1 */
  int kernel_hw[2], stride_hw[2], padding_hw[2], dilation_hw[2];
  bool ceil_mode;
  bool exclude_pad; /* avg_pool2d: divide by the window's in-bounds count (count_include_pad=False) */
} ax_pool2d_opts;

/* x [N, C, H, W] (or [C, H, W]); *indices (i64, may be NULL) receives the argmax
 * position within each input plane (h * W + w), like PyTorch's. */
ax_tensor *ax_max_pool2d(ax_tensor *x, const ax_pool2d_opts *o, ax_tensor **indices);
ax_tensor *ax_avg_pool2d(ax_tensor *x, const ax_pool2d_opts *o);
ax_tensor *ax_adaptive_avg_pool2d(ax_tensor *x, int64_t out_h, int64_t out_w);

/* ---- normalization and dropout ---- */
/* x [N, C] or [N, C, d...]; running_mean / running_var [C] (may be NULL), weight / bias [C]
 * (may be NULL). Training: normalizes with the batch statistics and, when given,
 * updates the running statistics in place (unbiased variance, like PyTorch):
 * r = (1 - momentum) * r + momentum * batch. Eval: uses the running statistics. */
ax_tensor *ax_batch_norm(ax_tensor *x, ax_tensor *running_mean, ax_tensor *running_var, ax_tensor *weight,
                         ax_tensor *bias, bool training, double momentum, double eps);
/* Training: zeroes each element with probability p and scales the rest by 1/(1-p); the mask
 * comes from the global Philox generator, so it is the same on every backend for the same
 * seed. Not training (or p == 0): returns x unchanged (a new reference). */
ax_tensor *ax_dropout(ax_tensor *x, double p, bool training);

/* ---- transformer ops ---- */
/* Normalize over the last dim of x ([..., C]); weight / bias [C] may be NULL.
 * The mean and 1/std of each row are kept for a fused backward. */
ax_tensor *ax_layer_norm(ax_tensor *x, ax_tensor *weight, ax_tensor *bias, double eps);
/* x / sqrt(mean(x^2) + eps) * weight over the last dim; weight [C] may be NULL. */
ax_tensor *ax_rms_norm(ax_tensor *x, ax_tensor *weight, double eps);
/* weight [V, C], indices i64 or i32 of any shape -> indices.shape + [C]. The
 * gradient of weight is a deterministic scatter-add (the same bits every run). */
ax_tensor *ax_embedding(ax_tensor *weight, ax_tensor *indices);

typedef struct ax_sdpa_opts {
  bool causal;          /* query i sees keys j <= i + (Tk - Tq) (bottom-right aligned; = PyTorch's when Tq == Tk) */
  double dropout_p;     /* dropout on the attention weights (pass 0 in eval mode) */
  double scale;         /* 0: 1/sqrt(head dim) */
  ax_tensor *attn_mask; /* optional, broadcastable to [B, H, Tq, Tk]: bool (true = attend) or
                         * q's dtype (added to the scores) */
} ax_sdpa_opts;
/* q [B, H, Tq, D], k and v [B, H, Tk, D] (any strides) -> [B, H, Tq, D]. The T x T
 * matrix is never stored (flash attention). The result is a view of [B, Tq, H, D]
 * storage, so transpose(1, 2) + reshape to [B, Tq, H*D] copies nothing. A query row
 * whose keys are all masked gives 0. o may be NULL. */
ax_tensor *ax_scaled_dot_product_attention(ax_tensor *q, ax_tensor *k, ax_tensor *v, const ax_sdpa_opts *o);

/* The classifier head and its loss in one op: cross_entropy(h W^T + b, target), h [N, C],
 * weight [V, C], bias [V] or NULL, target [N]. Rows are processed in chunks so that at most
 * chunk x V logits exist at once (recomputed in backward), for large vocabularies. */
ax_tensor *ax_classifier_cross_entropy(ax_tensor *h, ax_tensor *weight, ax_tensor *bias, ax_tensor *target,
                                       const ax_cross_entropy_opts *o);

#ifdef __cplusplus
}
#endif
#endif
