/* SPDX-License-Identifier: BSD-3-Clause */
/* Axon nn: modules, layers, initializers, losses and the model zoo.
 *
 * An ax_module owns named parameters (leaves that require grad), named
 * buffers (running statistics and other persistent state) and ordered named
 * children, like a torch.nn.Module: full names follow PyTorch's state_dict
 * keys ("features.0.weight", "layer1.0.bn1.running_mean"), so checkpoints map
 * onto PyTorch's. Parameters and buffers are persistent: they belong to the
 * module, not to a scope, and die with ax_module_free (which frees the
 * children too). A module is built with f32 tensors on the CPU; ax_module_to
 * moves it in place (the ax_tensor pointers stay valid, so an optimizer made
 * before or after the move sees the same parameters). Modules start in training
 * mode. Forward results belong to the current scope like every op's.
 *
 * Writing a module: describe it with a static ax_module_type (name, forward,
 * optional free and extra_repr), make it with ax_module_new(type, sizeof(impl)),
 * register tensors with ax_module_new_parameter / ax_module_add_buffer and
 * children with ax_module_add_child, and keep borrowed pointers to them in the
 * impl block (ax_module_impl) for the forward function.
 *
 * Constructors return NULL after reporting an error (bad sizes); every
 * function given a NULL module returns NULL / 0 / -1 without a new error.
 */
#ifndef AXON_NN_H
#define AXON_NN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "axon/io.h"
#include "axon/ops.h"
#include "axon/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ================= the module system ================= */

typedef struct ax_module ax_module;

typedef struct ax_module_type {
  const char *name; /* PyTorch's class name, used by the printed summary: "Linear" */
  ax_tensor *(*forward)(ax_module *m, ax_tensor *x);
  void (*free)(ax_module *m); /* releases what the impl block owns besides itself; may be NULL */
  /* PyTorch's extra_repr ("in_features=4, out_features=2, bias=True"); may be NULL */
  void (*extra_repr)(const ax_module *m, char *buf, size_t n);
} ax_module_type;

/* A new empty module of `type` with a zeroed impl block of impl_size bytes. */
ax_module *ax_module_new(const ax_module_type *type, size_t impl_size);
void *ax_module_impl(const ax_module *m);            /* the impl block */
const char *ax_module_type_name(const ax_module *m); /* "Conv2d" */
/* Registers a new zero-filled f32 CPU parameter (requires grad) named `name`; returns it (borrowed). */
ax_tensor *ax_module_new_parameter(ax_module *m, const char *name, int ndim, const int64_t *shape);
/* Registers t as a parameter / buffer: the module takes a new reference (and detaches t),
 * so a tensor from a scope stays valid after the scope ends. Parameters get requires_grad. */
ax_tensor *ax_module_add_parameter(ax_module *m, const char *name, ax_tensor *t);
ax_tensor *ax_module_add_buffer(ax_module *m, const char *name, ax_tensor *t);
/* Appends a child (the module takes ownership of it, also on failure); returns child or NULL. */
ax_module *ax_module_add_child(ax_module *m, const char *name, ax_module *child);

ax_tensor *ax_module_forward(ax_module *m, ax_tensor *x); /* NULL m or x: NULL */
void ax_module_free(ax_module *m);                        /* the module, its tensors and children */
void ax_module_train(ax_module *m, bool training);        /* sets the mode of m and every descendant */
bool ax_module_is_training(const ax_module *m);

/* All parameters of m and its descendants in registration order (PyTorch's
 * parameters()): writes at most max to out (out may be NULL) and returns the count. */
int ax_module_parameters(ax_module *m, ax_tensor **out, int max);
/* The same with full names; names stay valid until the next call on m or until m is freed. */
int ax_module_named_parameters(ax_module *m, const char **names, ax_tensor **out, int max);
int64_t ax_module_num_parameters(ax_module *m); /* total elements of all parameters */
void ax_module_zero_grad(ax_module *m);         /* drops every parameter's .grad */
/* The parameter or buffer with this full name ("features.1.running_mean"), or NULL. */
ax_tensor *ax_module_tensor(ax_module *m, const char *name);
/* The descendant with this full name ("layer1.0"; "" is m itself), or NULL. */
ax_module *ax_module_child(ax_module *m, const char *name);
int ax_module_num_children(const ax_module *m);
ax_module *ax_module_child_at(const ax_module *m, int i);
const ax_module_type *ax_module_type_of(const ax_module *m); /* NULL for NULL */
/* Replaces child i by `child` under the same name: the old child is freed, the module takes
 * ownership of `child` (also on failure: bad index). Returns child, or NULL. Used by
 * conversions that swap a layer for another holding the same tensors (SyncBatchNorm). */
ax_module *ax_module_replace_child_at(ax_module *m, int i, ax_module *child);

/* Adds every parameter and buffer under its full name, PyTorch's state_dict order
 * (a module's parameters, then its buffers, then each child's). Returns 0 or -1. */
int ax_module_state_dict(ax_module *m, ax_state_dict *sd);
/* Copies sd's values into m's tensors (dtype converted). strict: a missing or unexpected key
 * is an error naming the keys; a shape mismatch always is, naming the key and both shapes.
 * All checks run before anything is copied, so m is unchanged on failure. 0 or -1 (+ err).
 * When the lists do not fit in errlen, err is a summary instead of a cut-off list:
 * "N missing, M unexpected, K size mismatches; first missing: 'name'; ...". */
int ax_module_load_state_dict(ax_module *m, const ax_state_dict *sd, bool strict, char *err, size_t errlen);
/* Moves every parameter, buffer and gradient to device d, in place. 0 or -1 (after an error). */
int ax_module_to(ax_module *m, ax_device d);
/* Converts floating-point parameters, buffers and gradients to dt (f64 for gradient checks). */
int ax_module_to_dtype(ax_module *m, ax_dtype dt);
/* PyTorch's repr of the module tree, then a line with the number of parameters. */
void ax_module_print(ax_module *m, FILE *f);
/* The repr alone into buf (truncated to n); returns the length it needs, like snprintf. */
size_t ax_module_repr(ax_module *m, char *buf, size_t n);

/* ================= layers ================= */

/* Linear: y = x W^T + b, W [out, in], b [out]; PyTorch's default init. */
ax_module *ax_nn_linear(int64_t in_features, int64_t out_features, bool bias);

/* Conv2d / ConvTranspose2d options; zero means PyTorch's default (stride 1, padding 0,
 * dilation 1, groups 1, with bias). The *_hw fields give {height, width} when nonzero. */
typedef struct ax_nn_conv2d_opts {
  int stride, padding, dilation, groups;
  int kernel_hw[2], stride_hw[2], padding_hw[2], dilation_hw[2];
  int output_padding, output_padding_hw[2]; /* ConvTranspose2d only */
  bool no_bias;
} ax_nn_conv2d_opts;
/* Conv2d: weight [out, in/groups, k, k], bias [out]; o may be NULL. */
ax_module *ax_nn_conv2d(int64_t in_channels, int64_t out_channels, int kernel_size, const ax_nn_conv2d_opts *o);
/* A Conv2d's settings (stride_hw, padding_hw, dilation_hw, groups filled in): 0, or -1 when m
 * is not a Conv2d. For conversions such as int8 quantization (include/axon/quant.h). */
int ax_nn_conv2d_config(const ax_module *m, ax_conv2d_opts *opts);
/* ConvTranspose2d: weight [in, out/groups, k, k], bias [out]; o may be NULL. */
ax_module *ax_nn_conv_transpose2d(int64_t in_channels, int64_t out_channels, int kernel_size,
                                  const ax_nn_conv2d_opts *o);

/* BatchNorm options; zero means PyTorch's defaults (eps 1e-5, momentum 0.1, affine, tracking). */
typedef struct ax_nn_batch_norm_opts {
  double eps, momentum;
  bool no_affine;               /* no weight and bias */
  bool no_track_running_stats;  /* no buffers: batch statistics in eval too */
} ax_nn_batch_norm_opts;
/* BatchNorm1d ([N, C] or [N, C, L]) and BatchNorm2d ([N, C, H, W]): parameters weight, bias;
 * buffers running_mean, running_var, num_batches_tracked (i64, 0-dim); o may be NULL. */
ax_module *ax_nn_batch_norm1d(int64_t num_features, const ax_nn_batch_norm_opts *o);
ax_module *ax_nn_batch_norm2d(int64_t num_features, const ax_nn_batch_norm_opts *o);
/* A BatchNorm1d/2d's settings (any output may be NULL): returns 1 (BatchNorm1d) or 2
 * (BatchNorm2d), or -1 when m is not a batch norm. For conversions such as dist/'s SyncBatchNorm. */
int ax_nn_batch_norm_config(const ax_module *m, int64_t *num_features, double *eps, double *momentum);

ax_module *ax_nn_max_pool2d(const ax_pool2d_opts *o); /* o->kernel required; stride 0 = kernel */
ax_module *ax_nn_avg_pool2d(const ax_pool2d_opts *o);
ax_module *ax_nn_adaptive_avg_pool2d(int64_t out_h, int64_t out_w);
ax_module *ax_nn_dropout(double p);                        /* active in training mode only */
ax_module *ax_nn_flatten(int start_dim, int end_dim);      /* PyTorch's default: (1, -1) */
ax_module *ax_nn_relu(void);
ax_module *ax_nn_leaky_relu(double negative_slope);        /* PyTorch's default slope: 0.01 */
ax_module *ax_nn_gelu(bool tanh_approximation);
ax_module *ax_nn_silu(void);
ax_module *ax_nn_sigmoid(void);
ax_module *ax_nn_tanh(void);
ax_module *ax_nn_identity(void);

/* Sequential: runs its children in order. ax_nn_sequential(n, a, b, ...) names them "0", "1", ...;
 * if any argument is NULL, all are freed and NULL is returned. Prefer AX_SEQUENTIAL(a, b, ...),
 * which counts its arguments itself (a wrong n reads past the arguments or drops layers) and
 * checks at compile time that each is an ax_module *. */
ax_module *ax_nn_sequential(int n, ...);
#define AX_SEQUENTIAL(...) ax_nn_sequential(AX__COUNT_MODULES(__VA_ARGS__), __VA_ARGS__)
/* sizeof does not evaluate its operand: each argument is evaluated once, by the call */
#define AX__COUNT_MODULES(...) ((int)(sizeof((ax_module *[]){__VA_ARGS__}) / sizeof(ax_module *)))
/* A Sequential of n children with the given names (PyTorch's OrderedDict form); takes every
 * module, freeing them all if one is NULL. */
ax_module *ax_nn_sequential_named(int n, const char *const *names, ax_module *const *mods);
ax_module *ax_nn_sequential_add(ax_module *seq, ax_module *m);                   /* next number */
ax_module *ax_nn_sequential_add_named(ax_module *seq, const char *name, ax_module *m);

/* Pre-activation residual block (He et al. 2016): out = conv2(relu(bn2(conv1(a)))) + s,
 * a = relu(bn1(x)), s = x, or shortcut(a) (a 1x1 conv with the stride) when the shape
 * changes. Children bn1, conv1, bn2, conv2[, shortcut]; 3x3 convs without bias. */
ax_module *ax_nn_preact_block(int64_t in_channels, int64_t out_channels, int stride);

/* ---- transformer building blocks ---- */
/* LayerNorm over the last dim (C = dim): parameters weight (ones) and bias (zeros) when
 * elementwise_affine; PyTorch's default eps is 1e-5. */
ax_module *ax_nn_layer_norm(int64_t dim, double eps, bool elementwise_affine);
/* RMSNorm over the last dim: x / sqrt(mean(x^2) + eps) * weight; parameter weight (ones). */
ax_module *ax_nn_rms_norm(int64_t dim, double eps);
/* Embedding: parameter weight [num_embeddings, dim], N(0, 1) like PyTorch's; forward takes an
 * i64 / i32 index tensor of any shape and returns indices.shape + [dim]. */
ax_module *ax_nn_embedding(int64_t num_embeddings, int64_t dim);

/* ---- recurrent layers ----
 * torch.nn.LSTM / torch.nn.GRU with batch_first=True (docs/rnn.md). Gate order in the
 * weights: LSTM (i, f, g, o), GRU (r, z, n) with n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).
 * Parameters per layer k: weight_ih_lk [G*H, in], weight_hh_lk [G*H, H], bias_ih_lk [G*H],
 * bias_hh_lk [G*H] (G = 4 for LSTM, 3 for GRU; in = input_size for k = 0, else H), all
 * initialized U(-1/sqrt(H), 1/sqrt(H)). Each layer is one autograd node (the recurrence
 * runs inside it, its backward is written with ops), so both backends work. */
typedef struct ax_nn_rnn_opts {
  int num_layers; /* 0 means 1 */
  bool no_bias;   /* no bias_ih / bias_hh */
  double dropout; /* on every layer's output but the last, in training mode only */
} ax_nn_rnn_opts;
ax_module *ax_nn_lstm(int64_t input_size, int64_t hidden_size, const ax_nn_rnn_opts *o); /* o may be NULL */
ax_module *ax_nn_gru(int64_t input_size, int64_t hidden_size, const ax_nn_rnn_opts *o);
/* x [B, T, I]; h0 / c0 [num_layers, B, H] or NULL (zeros). Returns the last layer's output
 * [B, T, H]; *hn / *cn (either may be NULL) receive the final states [num_layers, B, H].
 * All results belong to the current scope. ax_module_forward(m, x) = output from zero states. */
ax_tensor *ax_nn_lstm_forward(ax_module *m, ax_tensor *x, ax_tensor *h0, ax_tensor *c0, ax_tensor **hn,
                              ax_tensor **cn);
ax_tensor *ax_nn_gru_forward(ax_module *m, ax_tensor *x, ax_tensor *h0, ax_tensor **hn);

/* Character-level LSTM language model over bytes (vocabulary 256): children "embed"
 * (parameter weight [256, embed], N(0, 1)), "lstm" (LSTM(embed, hidden, layers, dropout)) and
 * "head" (Linear(hidden, 256)). forward: x i64/i32 [B, T] -> logits [B, T, 256]. */
ax_module *ax_model_char_lstm(int64_t embed, int64_t hidden, int layers, double dropout);
/* Generation: runs tokens [B, T] from the states *h / *c ([layers, B, hidden], NULL = zeros)
 * and replaces them with the new states (the old ones are ax_free'd; the new ones are
 * detached and owned by the caller, who ax_free's them at the end), so each new character
 * costs one step. Returns the logits [B, T, 256] (detached; the current scope's, or the
 * caller's to ax_free when no scope is open), or NULL (states unchanged).
 * Call ax_module_train(m, false) first so dropout is off. */
ax_tensor *ax_char_lstm_step(ax_module *m, ax_tensor *tokens, ax_tensor **h, ax_tensor **c);

/* ================= initializers (in place, from the global Philox generator) ================= */

typedef enum ax_fan_mode { AX_FAN_IN = 0, AX_FAN_OUT } ax_fan_mode;
typedef enum ax_nonlinearity {
  AX_NONLIN_LEAKY_RELU = 0, /* PyTorch's kaiming default (with a = 0, the same as relu) */
  AX_NONLIN_RELU,
  AX_NONLIN_LINEAR, /* also conv and sigmoid: gain 1 */
  AX_NONLIN_TANH,
  AX_NONLIN_SELU,
} ax_nonlinearity;

/* PyTorch's calculate_gain; param is leaky_relu's negative slope. */
double ax_init_calculate_gain(ax_nonlinearity nl, double param);
/* fan_in = size(1) * receptive field, fan_out = size(0) * receptive field; -1 for < 2 dims. */
int ax_init_fans(const ax_tensor *t, int64_t *fan_in, int64_t *fan_out);
/* Each returns 0, or -1 after an error (non-float tensor, < 2 dims for fan-based ones). */
int ax_init_uniform_(ax_tensor *t, double a, double b);        /* U(a, b) */
int ax_init_normal_(ax_tensor *t, double mean, double std);    /* N(mean, std^2) */
int ax_init_constant_(ax_tensor *t, double value);
int ax_init_zeros_(ax_tensor *t);
int ax_init_ones_(ax_tensor *t);
int ax_init_xavier_uniform_(ax_tensor *t, double gain);       /* bound gain*sqrt(6/(fan_in+fan_out)) */
int ax_init_xavier_normal_(ax_tensor *t, double gain);        /* std gain*sqrt(2/(fan_in+fan_out)) */
/* bound sqrt(3) * gain / sqrt(fan); a is leaky_relu's slope (sqrt(5) gives PyTorch's layer default) */
int ax_init_kaiming_uniform_(ax_tensor *t, double a, ax_fan_mode mode, ax_nonlinearity nl);
int ax_init_kaiming_normal_(ax_tensor *t, double a, ax_fan_mode mode, ax_nonlinearity nl); /* std gain/sqrt(fan) */

/* ================= losses ================= */

typedef enum ax_loss_kind {
  AX_LOSS_CROSS_ENTROPY = 0,
  AX_LOSS_NLL,
  AX_LOSS_MSE,
  AX_LOSS_L1,
  AX_LOSS_SMOOTH_L1,
  AX_LOSS_BCE_WITH_LOGITS,
} ax_loss_kind;

/* A loss "module": a plain value (nothing to free) holding the criterion and its options. */
typedef struct ax_loss {
  ax_loss_kind kind;
  ax_reduction reduction;     /* MSE, L1, SmoothL1, BCEWithLogits */
  ax_cross_entropy_opts ce;   /* CrossEntropy, NLL (their reduction is ce.reduction) */
  double beta;                /* SmoothL1 */
} ax_loss;

ax_loss ax_loss_cross_entropy(const ax_cross_entropy_opts *o); /* o may be NULL */
ax_loss ax_loss_nll(const ax_cross_entropy_opts *o);
ax_loss ax_loss_mse(ax_reduction r);
ax_loss ax_loss_l1(ax_reduction r);
ax_loss ax_loss_smooth_l1(ax_reduction r, double beta);        /* PyTorch's default beta: 1 */
ax_loss ax_loss_bce_with_logits(ax_reduction r);
ax_tensor *ax_loss_forward(const ax_loss *l, ax_tensor *input, ax_tensor *target);
const char *ax_loss_name(const ax_loss *l); /* "CrossEntropyLoss" */

/* PyTorch's triplet_margin_loss: max(d(a, p) - d(a, n) + margin, 0) with
 * d(x, y) = ||x - y + eps||_p over the last dim; swap also uses d(p, n) when smaller.
 * anchor, positive, negative: [N, D] or [D], the same number of dims (broadcasting). */
ax_tensor *ax_triplet_margin_loss(ax_tensor *anchor, ax_tensor *positive, ax_tensor *negative, double margin,
                                  double p, double eps, bool swap, ax_reduction reduction);

/* ================= model zoo: [N, 1, 28, 28] images -> [N, 10] logits ================= */

#define AX_MODEL_DEFAULT "cnn"
/* "mlp", "cnn" or "resnet"; an unknown name gives NULL and err lists the names. */
ax_module *ax_model_create(const char *name, char *err, size_t errlen);
const char *ax_model_names(void); /* "mlp, cnn, resnet" */
/* Flatten, Linear(784,256), ReLU, Dropout(0.2), Linear(256,128), ReLU, Dropout(0.2), Linear(128,10). */
ax_module *ax_model_mlp(void);
/* features: [Conv3x3(1,32)+BN+ReLU+MaxPool2] [Conv3x3(32,64)+BN+ReLU+MaxPool2];
 * classifier: Flatten, Linear(3136,128), ReLU, Dropout(0.25), Linear(128,10). */
ax_module *ax_model_cnn(void);
/* Pre-activation ResNet: stem Conv3x3(1,32), stages of 2 blocks 32@28 -> 64@14 -> 128@7,
 * BN, ReLU, global average pool, Linear(128, 10); about 0.7 M parameters. */
ax_module *ax_model_resnet(void);

/* For feature vectors (tabular data, ax_dataset_from_arrays / ax_csv_load): Flatten,
 * Linear(in_features, hidden), ReLU, Dropout(0.1), Linear(hidden, hidden), ReLU,
 * Linear(hidden, n_classes). NULL after ax_error on a size out of range. */
ax_module *ax_model_mlp_features(int in_features, int hidden, int n_classes);

#ifdef __cplusplus
}
#endif
#endif
