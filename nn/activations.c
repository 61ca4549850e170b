/* SPDX-License-Identifier: BSD-3-Clause */
/* Layers without parameters: activations, Dropout, Flatten, Identity and pooling. */
#include <string.h>

#include "axon.h"

/* the options of every parameter-free layer (each uses what it needs) */
typedef struct simple_impl {
  double value;       /* LeakyReLU slope, Dropout p */
  int dims[2];        /* Flatten start/end; AdaptiveAvgPool2d output size */
  bool flag;          /* GELU tanh approximation */
  ax_pool2d_opts pool;
} simple_impl;

static simple_impl *impl(const ax_module *m) { return ax_module_impl(m); }

static ax_module *make(const ax_module_type *t, simple_impl v) {
  ax_module *m = ax_module_new(t, sizeof(simple_impl));
  if (m) *impl(m) = v;
  return m;
}

/* ---------------- activations ---------------- */

static ax_tensor *relu_fwd(ax_module *m, ax_tensor *x) { return ax_relu(x); }
static ax_tensor *leaky_fwd(ax_module *m, ax_tensor *x) { return ax_leaky_relu(x, impl(m)->value); }
static ax_tensor *gelu_fwd(ax_module *m, ax_tensor *x) { return impl(m)->flag ? ax_gelu_tanh(x) : ax_gelu(x); }
static ax_tensor *silu_fwd(ax_module *m, ax_tensor *x) { return ax_silu(x); }
static ax_tensor *sigmoid_fwd(ax_module *m, ax_tensor *x) { return ax_sigmoid(x); }
static ax_tensor *tanh_fwd(ax_module *m, ax_tensor *x) { return ax_tanh(x); }
/* a view of x (same shape), so the result belongs to the scope like any op's */
static ax_tensor *identity_fwd(ax_module *m, ax_tensor *x) { return ax_reshape(x, x->ndim, x->shape); }

static void leaky_repr(const ax_module *m, char *b, size_t n) { snprintf(b, n, "negative_slope=%g", impl(m)->value); }
static void gelu_repr(const ax_module *m, char *b, size_t n) {
  snprintf(b, n, "approximate='%s'", impl(m)->flag ? "tanh" : "none");
}

static const ax_module_type relu_type = {"ReLU", relu_fwd, NULL, NULL};
static const ax_module_type leaky_type = {"LeakyReLU", leaky_fwd, NULL, leaky_repr};
static const ax_module_type gelu_type = {"GELU", gelu_fwd, NULL, gelu_repr};
static const ax_module_type silu_type = {"SiLU", silu_fwd, NULL, NULL};
static const ax_module_type sigmoid_type = {"Sigmoid", sigmoid_fwd, NULL, NULL};
static const ax_module_type tanh_type = {"Tanh", tanh_fwd, NULL, NULL};
static const ax_module_type identity_type = {"Identity", identity_fwd, NULL, NULL};

ax_module *ax_nn_relu(void) { return make(&relu_type, (simple_impl){0}); }
ax_module *ax_nn_leaky_relu(double slope) { return make(&leaky_type, (simple_impl){.value = slope}); }
ax_module *ax_nn_gelu(bool tanh_approximation) { return make(&gelu_type, (simple_impl){.flag = tanh_approximation}); }
ax_module *ax_nn_silu(void) { return make(&silu_type, (simple_impl){0}); }
ax_module *ax_nn_sigmoid(void) { return make(&sigmoid_type, (simple_impl){0}); }
ax_module *ax_nn_tanh(void) { return make(&tanh_type, (simple_impl){0}); }
ax_module *ax_nn_identity(void) { return make(&identity_type, (simple_impl){0}); }

/* ---------------- Dropout, Flatten ---------------- */

static ax_tensor *dropout_fwd(ax_module *m, ax_tensor *x) {
  return ax_dropout(x, impl(m)->value, ax_module_is_training(m));
}
static void dropout_repr(const ax_module *m, char *b, size_t n) { snprintf(b, n, "p=%g, inplace=False", impl(m)->value); }
static const ax_module_type dropout_type = {"Dropout", dropout_fwd, NULL, dropout_repr};

ax_module *ax_nn_dropout(double p) {
  if (!(p >= 0 && p <= 1)) {
    ax_error("ax_nn_dropout: p must be in [0, 1], got %g", p);
    return NULL;
  }
  return make(&dropout_type, (simple_impl){.value = p});
}

static ax_tensor *flatten_fwd(ax_module *m, ax_tensor *x) { return ax_flatten(x, impl(m)->dims[0], impl(m)->dims[1]); }
static void flatten_repr(const ax_module *m, char *b, size_t n) {
  snprintf(b, n, "start_dim=%d, end_dim=%d", impl(m)->dims[0], impl(m)->dims[1]);
}
static const ax_module_type flatten_type = {"Flatten", flatten_fwd, NULL, flatten_repr};

ax_module *ax_nn_flatten(int start_dim, int end_dim) {
  return make(&flatten_type, (simple_impl){.dims = {start_dim, end_dim}});
}

/* ---------------- pooling ---------------- */

static ax_tensor *max_pool_fwd(ax_module *m, ax_tensor *x) { return ax_max_pool2d(x, &impl(m)->pool, NULL); }
static ax_tensor *avg_pool_fwd(ax_module *m, ax_tensor *x) { return ax_avg_pool2d(x, &impl(m)->pool); }
static ax_tensor *adaptive_fwd(ax_module *m, ax_tensor *x) {
  return ax_adaptive_avg_pool2d(x, impl(m)->dims[0], impl(m)->dims[1]);
}

/* an option as PyTorch prints it: an int when it was given as one, else a pair */
static const char *opt_str(char *buf, size_t n, int v, const int hw[2], int dflt) {
  if (hw[0] || hw[1]) snprintf(buf, n, "(%d, %d)", hw[0] ? hw[0] : dflt, hw[1] ? hw[1] : dflt);
  else snprintf(buf, n, "%d", v ? v : dflt);
  return buf;
}

static void pool_repr(const ax_module *m, char *b, size_t n, bool max) {
  const ax_pool2d_opts *o = &impl(m)->pool;
  char k[32], s[32], p[32], d[32];
  opt_str(k, sizeof k, o->kernel, o->kernel_hw, 0);
  if (o->stride || o->stride_hw[0] || o->stride_hw[1]) opt_str(s, sizeof s, o->stride, o->stride_hw, 1);
  else snprintf(s, sizeof s, "%s", k); /* PyTorch: stride defaults to the kernel size */
  opt_str(p, sizeof p, o->padding, o->padding_hw, 0);
  if (max)
    snprintf(b, n, "kernel_size=%s, stride=%s, padding=%s, dilation=%s, ceil_mode=%s", k, s, p,
             opt_str(d, sizeof d, o->dilation, o->dilation_hw, 1), o->ceil_mode ? "True" : "False");
  else
    snprintf(b, n, "kernel_size=%s, stride=%s, padding=%s%s%s", k, s, p, o->ceil_mode ? ", ceil_mode=True" : "",
             o->exclude_pad ? ", count_include_pad=False" : "");
}
static void max_pool_repr(const ax_module *m, char *b, size_t n) { pool_repr(m, b, n, true); }
static void avg_pool_repr(const ax_module *m, char *b, size_t n) { pool_repr(m, b, n, false); }
static void adaptive_repr(const ax_module *m, char *b, size_t n) {
  const int *d = impl(m)->dims;
  if (d[0] == d[1]) snprintf(b, n, "output_size=%d", d[0]);
  else snprintf(b, n, "output_size=(%d, %d)", d[0], d[1]);
}

static const ax_module_type max_pool_type = {"MaxPool2d", max_pool_fwd, NULL, max_pool_repr};
static const ax_module_type avg_pool_type = {"AvgPool2d", avg_pool_fwd, NULL, avg_pool_repr};
static const ax_module_type adaptive_type = {"AdaptiveAvgPool2d", adaptive_fwd, NULL, adaptive_repr};

static ax_module *make_pool(const char *op, const ax_module_type *t, const ax_pool2d_opts *o) {
  if (!o || (o->kernel <= 0 && (o->kernel_hw[0] <= 0 || o->kernel_hw[1] <= 0))) {
    ax_error("%s: a positive kernel size is required (.kernel or .kernel_hw)", op);
    return NULL;
  }
  return make(t, (simple_impl){.pool = *o});
}

ax_module *ax_nn_max_pool2d(const ax_pool2d_opts *o) { return make_pool("ax_nn_max_pool2d", &max_pool_type, o); }
ax_module *ax_nn_avg_pool2d(const ax_pool2d_opts *o) { return make_pool("ax_nn_avg_pool2d", &avg_pool_type, o); }

ax_module *ax_nn_adaptive_avg_pool2d(int64_t out_h, int64_t out_w) {
  if (out_h <= 0 || out_w <= 0) {
    ax_error("ax_nn_adaptive_avg_pool2d: output size must be positive, got (%lld, %lld)", (long long)out_h,
             (long long)out_w);
    return NULL;
  }
  return make(&adaptive_type, (simple_impl){.dims = {(int)out_h, (int)out_w}});
}
