/* SPDX-License-Identifier: BSD-3-Clause */
/* Layers with parameters: Linear, Conv2d, ConvTranspose2d, BatchNorm1d/2d,
 * initialized like PyTorch's reset_parameters. */
#include <math.h>
#include <string.h>

#include "axon.h"
#include "core/internal.h"

/* PyTorch's default for Linear and Conv: weight kaiming_uniform(a = sqrt(5)), i.e.
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias from the same bound. */
static int default_init(ax_tensor *w, ax_tensor *b) {
  if (ax_init_kaiming_uniform_(w, sqrt(5.0), AX_FAN_IN, AX_NONLIN_LEAKY_RELU)) return -1;
  if (!b) return 0;
  int64_t fan_in;
  ax_init_fans(w, &fan_in, NULL);
  double bound = fan_in > 0 ? 1.0 / sqrt((double)fan_in) : 0.0;
  return ax_init_uniform_(b, -bound, bound);
}

/* ---------------- Linear ---------------- */

typedef struct linear_impl {
  ax_tensor *weight, *bias;
  int64_t in, out;
} linear_impl;

static ax_tensor *linear_forward(ax_module *m, ax_tensor *x) {
  linear_impl *p = ax_module_impl(m);
  return ax_linear(x, p->weight, p->bias);
}

static void linear_repr(const ax_module *m, char *buf, size_t n) {
  const linear_impl *p = ax_module_impl(m);
  snprintf(buf, n, "in_features=%lld, out_features=%lld, bias=%s", (long long)p->in, (long long)p->out,
           p->bias ? "True" : "False");
}

static const ax_module_type linear_type = {"Linear", linear_forward, NULL, linear_repr};

ax_module *ax_nn_linear(int64_t in_features, int64_t out_features, bool bias) {
  if (in_features < 0 || out_features < 0) {
    ax_error("ax_nn_linear: sizes must be non-negative, got in_features=%lld, out_features=%lld",
             (long long)in_features, (long long)out_features);
    return NULL;
  }
  ax_module *m = ax_module_new(&linear_type, sizeof(linear_impl));
  if (!m) return NULL;
  linear_impl *p = ax_module_impl(m);
  p->in = in_features;
  p->out = out_features;
  p->weight = ax_module_new_parameter(m, "weight", AX_SHAPE(out_features, in_features));
  if (bias) p->bias = ax_module_new_parameter(m, "bias", AX_SHAPE(out_features));
  if (!p->weight || (bias && !p->bias) || default_init(p->weight, p->bias)) {
    ax_module_free(m);
    return NULL;
  }
  return m;
}

/* ---------------- Conv2d and ConvTranspose2d ---------------- */

typedef struct conv_impl {
  ax_tensor *weight, *bias;
  int64_t in, out;
  int kernel[2], groups;
  bool transpose;
  ax_conv2d_opts opts; /* with every *_hw field filled in */
} conv_impl;

static ax_tensor *conv_forward(ax_module *m, ax_tensor *x) {
  conv_impl *p = ax_module_impl(m);
  return p->transpose ? ax_conv_transpose2d(x, p->weight, p->bias, &p->opts) : ax_conv2d(x, p->weight, p->bias, &p->opts);
}

static void pair(char *buf, size_t n, const int v[2]) { snprintf(buf, n, "(%d, %d)", v[0], v[1]); }

static void conv_repr(const ax_module *m, char *buf, size_t n) {
  const conv_impl *p = ax_module_impl(m);
  const ax_conv2d_opts *o = &p->opts;
  char k[32], s[32], t[32];
  pair(k, sizeof k, p->kernel);
  pair(s, sizeof s, o->stride_hw);
  size_t len = (size_t)snprintf(buf, n, "%lld, %lld, kernel_size=%s, stride=%s", (long long)p->in, (long long)p->out, k, s);
#define APPEND(...) len += (size_t)snprintf(buf + (len < n ? len : n), len < n ? n - len : 0, __VA_ARGS__)
  if (o->padding_hw[0] || o->padding_hw[1]) {
    pair(t, sizeof t, o->padding_hw);
    APPEND(", padding=%s", t);
  }
  if (o->dilation_hw[0] != 1 || o->dilation_hw[1] != 1) {
    pair(t, sizeof t, o->dilation_hw);
    APPEND(", dilation=%s", t);
  }
  if (o->output_padding_hw[0] || o->output_padding_hw[1]) {
    pair(t, sizeof t, o->output_padding_hw);
    APPEND(", output_padding=%s", t);
  }
  if (p->groups != 1) APPEND(", groups=%d", p->groups);
  if (!p->bias) APPEND(", bias=False");
#undef APPEND
}

static const ax_module_type conv2d_type = {"Conv2d", conv_forward, NULL, conv_repr};
static const ax_module_type conv_transpose2d_type = {"ConvTranspose2d", conv_forward, NULL, conv_repr};

/* v_hw if either entry is set, else {v, v}; `dflt` replaces a zero (stride and dilation: 1) */
static void resolve(int out[2], int v, const int v_hw[2], int dflt) {
  if (v_hw[0] || v_hw[1]) {
    out[0] = v_hw[0];
    out[1] = v_hw[1];
  } else {
    out[0] = out[1] = v;
  }
  for (int i = 0; i < 2; i++)
    if (out[i] == 0) out[i] = dflt;
}

static ax_module *make_conv(const char *op, bool transpose, int64_t in, int64_t out, int kernel_size,
                            const ax_nn_conv2d_opts *opts) {
  ax_nn_conv2d_opts o = opts ? *opts : (ax_nn_conv2d_opts){0};
  int kernel[2];
  resolve(kernel, kernel_size, o.kernel_hw, 0);
  int groups = o.groups ? o.groups : 1;
  if (in <= 0 || out <= 0 || kernel[0] <= 0 || kernel[1] <= 0 || groups < 0) {
    ax_error("%s: channels and kernel size must be positive, got in_channels=%lld, out_channels=%lld, "
             "kernel_size=(%d, %d), groups=%d", op, (long long)in, (long long)out, kernel[0], kernel[1], groups);
    return NULL;
  }
  if (in % groups || out % groups) {
    ax_error("%s: in_channels %lld and out_channels %lld must both be divisible by groups %d", op, (long long)in,
             (long long)out, groups);
    return NULL;
  }
  ax_conv2d_opts c = {.groups = groups};
  resolve(c.stride_hw, o.stride, o.stride_hw, 1);
  resolve(c.padding_hw, o.padding, o.padding_hw, 0);
  resolve(c.dilation_hw, o.dilation, o.dilation_hw, 1);
  resolve(c.output_padding_hw, o.output_padding, o.output_padding_hw, 0);
  ax_module *m = ax_module_new(transpose ? &conv_transpose2d_type : &conv2d_type, sizeof(conv_impl));
  if (!m) return NULL;
  conv_impl *p = ax_module_impl(m);
  *p = (conv_impl){.in = in, .out = out, .kernel = {kernel[0], kernel[1]}, .groups = groups,
                   .transpose = transpose, .opts = c};
  int64_t w0 = transpose ? in : out, w1 = transpose ? out / groups : in / groups;
  p->weight = ax_module_new_parameter(m, "weight", AX_SHAPE(w0, w1, kernel[0], kernel[1]));
  if (!o.no_bias) p->bias = ax_module_new_parameter(m, "bias", AX_SHAPE(out));
  if (!p->weight || (!o.no_bias && !p->bias) || default_init(p->weight, p->bias)) {
    ax_module_free(m);
    return NULL;
  }
  return m;
}

ax_module *ax_nn_conv2d(int64_t in_channels, int64_t out_channels, int kernel_size, const ax_nn_conv2d_opts *o) {
  return make_conv("ax_nn_conv2d", false, in_channels, out_channels, kernel_size, o);
}

int ax_nn_conv2d_config(const ax_module *m, ax_conv2d_opts *opts) {
  if (ax_module_type_of(m) != &conv2d_type) return -1;
  if (opts) *opts = ((const conv_impl *)ax_module_impl(m))->opts;
  return 0;
}

ax_module *ax_nn_conv_transpose2d(int64_t in_channels, int64_t out_channels, int kernel_size,
                                  const ax_nn_conv2d_opts *o) {
  return make_conv("ax_nn_conv_transpose2d", true, in_channels, out_channels, kernel_size, o);
}

/* ---------------- BatchNorm1d / BatchNorm2d ---------------- */

typedef struct bn_impl {
  ax_tensor *weight, *bias, *running_mean, *running_var, *num_batches_tracked;
  int64_t features;
  double eps, momentum;
  int spatial; /* 1: BatchNorm1d ([N, C] or [N, C, L]), 2: BatchNorm2d ([N, C, H, W]) */
} bn_impl;

static ax_tensor *bn_forward(ax_module *m, ax_tensor *x) {
  bn_impl *p = ax_module_impl(m);
  bool ok = p->spatial == 2 ? x->ndim == 4 : x->ndim == 2 || x->ndim == 3;
  if (!ok) {
    char buf[128];
    ax_error("ax_module_forward: %s expects a %s input, got %s", ax_module_type_name(m),
             p->spatial == 2 ? "4-D [N, C, H, W]" : "2-D [N, C] or 3-D [N, C, L]", ax_shape_str(x, buf, sizeof buf));
    return NULL;
  }
  bool training = ax_module_is_training(m);
  ax_tensor *y = ax_batch_norm(x, p->running_mean, p->running_var, p->weight, p->bias, training, p->momentum, p->eps);
  if (y && training) ax__count_batch(p->num_batches_tracked);
  return y;
}

/* PyTorch's _NormBase.extra_repr as of torch 2.15, which has a keyword-only bias argument
 * and prints it (tests/fixtures/nn_ref.h holds torch's own repr of the zoo's models); Axon's
 * affine covers weight and bias together, so bias= follows affine. */
static void bn_repr(const ax_module *m, char *buf, size_t n) {
  const bn_impl *p = ax_module_impl(m);
  const char *affine = p->weight ? "True" : "False";
  snprintf(buf, n, "%lld, eps=%g, momentum=%g, affine=%s, bias=%s, track_running_stats=%s", (long long)p->features,
           p->eps, p->momentum, affine, affine, p->running_mean ? "True" : "False");
}

static const ax_module_type bn1d_type = {"BatchNorm1d", bn_forward, NULL, bn_repr};
static const ax_module_type bn2d_type = {"BatchNorm2d", bn_forward, NULL, bn_repr};

static ax_module *make_bn(const char *op, int spatial, int64_t features, const ax_nn_batch_norm_opts *opts) {
  ax_nn_batch_norm_opts o = opts ? *opts : (ax_nn_batch_norm_opts){0};
  if (features <= 0 || o.eps < 0) {
    ax_error("%s: num_features must be positive and eps non-negative, got %lld, eps=%g", op, (long long)features, o.eps);
    return NULL;
  }
  ax_module *m = ax_module_new(spatial == 2 ? &bn2d_type : &bn1d_type, sizeof(bn_impl));
  if (!m) return NULL;
  bn_impl *p = ax_module_impl(m);
  p->features = features;
  p->eps = o.eps > 0 ? o.eps : 1e-5;
  p->momentum = o.momentum > 0 ? o.momentum : 0.1;
  p->spatial = spatial;
  bool ok = true;
  if (!o.no_affine) {
    p->weight = ax_module_new_parameter(m, "weight", AX_SHAPE(features));
    p->bias = ax_module_new_parameter(m, "bias", AX_SHAPE(features));
    ok = p->weight && p->bias && !ax_init_ones_(p->weight);
  }
  if (ok && !o.no_track_running_stats) {
    ax_scope_begin();
    p->running_mean = ax_module_add_buffer(m, "running_mean", ax_zeros(AX_SHAPE(features), NULL));
    p->running_var = ax_module_add_buffer(m, "running_var", ax_ones(AX_SHAPE(features), NULL));
    p->num_batches_tracked =
        ax_module_add_buffer(m, "num_batches_tracked", ax_zeros(0, NULL, &(ax_tensor_opts){.dtype = AX_I64}));
    ax_scope_end();
    ok = p->running_mean && p->running_var && p->num_batches_tracked;
  }
  if (!ok) {
    ax_module_free(m);
    return NULL;
  }
  return m;
}

ax_module *ax_nn_batch_norm1d(int64_t num_features, const ax_nn_batch_norm_opts *o) {
  return make_bn("ax_nn_batch_norm1d", 1, num_features, o);
}

ax_module *ax_nn_batch_norm2d(int64_t num_features, const ax_nn_batch_norm_opts *o) {
  return make_bn("ax_nn_batch_norm2d", 2, num_features, o);
}

int ax_nn_batch_norm_config(const ax_module *m, int64_t *num_features, double *eps, double *momentum) {
  const ax_module_type *t = ax_module_type_of(m);
  if (t != &bn1d_type && t != &bn2d_type) return -1;
  const bn_impl *p = ax_module_impl(m);
  if (num_features) *num_features = p->features;
  if (eps) *eps = p->eps;
  if (momentum) *momentum = p->momentum;
  return p->spatial;
}
