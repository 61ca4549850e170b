/* SPDX-License-Identifier: BSD-3-Clause */
/* nn: the module system (names, state dicts, moves, printing), every layer's
 * output against known values (PyTorch's, from tests/fixtures/make_nn.py),
 * train/eval behaviour, initializer statistics, loss modules and the triplet
 * margin loss (known values and gradient checks), errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "testutil.h"
#include "fixtures/nn_ref.h"

TestSuite(nn, .init = tu_capture_errors);

#define F64 (&(ax_tensor_opts){.dtype = AX_F64})
#define I64 (&(ax_tensor_opts){.dtype = AX_I64})

/* f64 tensor with t[i] = fn(a * i + b), like make_nn.py's fill */
static ax_tensor *fill(int ndim, const int64_t *shape, double a, double b, double (*fn)(double)) {
  ax_tensor *t = ax_empty(ndim, shape, F64);
  double *p = ax_data_ptr(t);
  for (int64_t i = 0; i < ax_numel(t); i++) p[i] = fn(a * (double)i + b);
  return t;
}

static void set_values(ax_tensor *t, ax_tensor *v) {
  ax_no_grad_begin();
  cr_assert_eq(ax_copy_(t, v), 0);
  ax_no_grad_end();
}

static int64_t count_of(ax_module *m) { return ax_module_parameters(m, NULL, 0); }

/* ---------------- Linear ---------------- */

Test(nn, linear_known_values_and_names) {
  ax_scope_begin();
  ax_module *lin = ax_nn_linear(3, 2, true);
  cr_assert_not_null(lin);
  const char *names[4];
  ax_tensor *ps[4];
  cr_assert_eq(ax_module_named_parameters(lin, names, ps, 4), 2);
  cr_expect_str_eq(names[0], "weight");
  cr_expect_str_eq(names[1], "bias");
  cr_expect_eq(ps[0]->shape[0], 2);
  cr_expect_eq(ps[0]->shape[1], 3);
  cr_expect(ps[0]->requires_grad && ps[1]->requires_grad);
  cr_expect_eq(ax_module_num_parameters(lin), 8);
  set_values(ps[0], ax_from_data((float[]){1, 2, 3, -1, 0, 0.5f}, AX_SHAPE(2, 3), NULL));
  set_values(ps[1], ax_from_data((float[]){0.5f, -2}, AX_SHAPE(2), NULL));
  ax_tensor *x = ax_from_data((float[]){1, 1, 1, 2, 0, -2}, AX_SHAPE(2, 3), NULL);
  ax_tensor *y = ax_module_forward(lin, x);
  cr_assert_not_null(y);
  double want[4] = {6.5, -2.5, -3.5, -5};
  cr_expect(tu_allclose_data(y, want, 4, 1e-6, 1e-6));
  char repr[128];
  ax_module_repr(lin, repr, sizeof repr);
  cr_expect_str_eq(repr, "Linear(in_features=3, out_features=2, bias=True)");
  ax_module_free(lin);

  ax_module *nob = ax_nn_linear(3, 2, false);
  cr_expect_eq(count_of(nob), 1);
  cr_expect_null(ax_module_tensor(nob, "bias"));
  ax_module_repr(nob, repr, sizeof repr);
  cr_expect_str_eq(repr, "Linear(in_features=3, out_features=2, bias=False)");
  ax_module_free(nob);
  ax_scope_end();
}

/* a module's parameters as gradient-check inputs, with x: f(x, params...) = m(x) */
static ax_tensor *module_fn(ax_tensor **in, void *ctx) { return ax_module_forward(ctx, in[0]); }

Test(nn, linear_and_conv_modules_gradcheck) {
  ax_scope_begin();
  ax_module *mods[3] = {ax_nn_linear(4, 3, true), ax_nn_conv2d(2, 3, 3, &(ax_nn_conv2d_opts){.stride = 2, .padding = 1}),
                        ax_nn_conv_transpose2d(2, 2, 3, &(ax_nn_conv2d_opts){.stride = 2, .output_padding = 1})};
  ax_tensor *xs[3] = {tu_leaf(ax_transpose(tu_randn(AX_F64, AX_SHAPE(4, 2)), 0, 1)),
                      tu_leaf(tu_randn(AX_F64, AX_SHAPE(1, 2, 5, 4))), tu_leaf(tu_randn(AX_F64, AX_SHAPE(1, 2, 3, 3)))};
  for (int k = 0; k < 3; k++) {
    cr_assert_not_null(mods[k]);
    cr_assert_eq(ax_module_to_dtype(mods[k], AX_F64), 0);
    ax_tensor *in[3] = {xs[k]};
    int n = 1 + ax_module_parameters(mods[k], in + 1, 2);
    cr_expect(in[1]->dtype == AX_F64);
    cr_expect(TU_GRADCHECK(module_fn, in, n, mods[k]), "module %d", k);
    ax_module_free(mods[k]);
  }
  ax_scope_end();
}

/* ---------------- Conv2d / ConvTranspose2d against PyTorch ---------------- */

Test(nn, conv2d_and_transpose_match_pytorch) {
  ax_scope_begin();
  ax_module *conv = ax_nn_conv2d(2, 3, 3, &(ax_nn_conv2d_opts){.stride = 2, .padding = 1});
  ax_module *convt = ax_nn_conv_transpose2d(2, 3, 3, &(ax_nn_conv2d_opts){.stride = 2, .padding = 1, .output_padding = 1});
  cr_assert(conv && convt);
  ax_module *ms[2] = {conv, convt};
  for (int k = 0; k < 2; k++) {
    cr_assert_eq(ax_module_to_dtype(ms[k], AX_F64), 0);
    ax_tensor *w = ax_module_tensor(ms[k], "weight");
    set_values(w, fill(w->ndim, w->shape, 0.3, 0.2, cos));
    set_values(ax_module_tensor(ms[k], "bias"), ax_from_data((double[]){0.1, -0.2, 0.3}, AX_SHAPE(3), F64));
  }
  ax_tensor *y = ax_module_forward(conv, fill(AX_SHAPE(1, 2, 5, 5), 0.7, 0.1, sin));
  cr_assert_not_null(y, "%s", ax_last_error());
  cr_expect(y->shape[1] == 3 && y->shape[2] == 3 && y->shape[3] == 3);
  cr_expect(tu_allclose_data(y, conv_y, 27, 1e-12, 1e-10));
  ax_tensor *yt = ax_module_forward(convt, fill(AX_SHAPE(1, 2, 3, 3), 0.7, 0.1, sin));
  cr_assert_not_null(yt, "%s", ax_last_error());
  for (int d = 0; d < 4; d++) cr_expect_eq(yt->shape[d], convt_yshape[d]);
  cr_expect(tu_allclose_data(yt, convt_y, 108, 1e-12, 1e-10));
  char repr[256];
  ax_module_repr(conv, repr, sizeof repr);
  cr_expect_str_eq(repr, "Conv2d(2, 3, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))");
  ax_module_repr(convt, repr, sizeof repr);
  cr_expect_str_eq(repr,
                   "ConvTranspose2d(2, 3, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), output_padding=(1, 1))");
  ax_module_free(conv);
  ax_module_free(convt);
  ax_scope_end();
}

Test(nn, conv_weight_shapes_groups_and_errors) {
  ax_scope_begin();
  ax_module *g = ax_nn_conv2d(4, 6, 3, &(ax_nn_conv2d_opts){.groups = 2, .dilation = 2, .no_bias = true});
  cr_assert_not_null(g);
  ax_tensor *w = ax_module_tensor(g, "weight");
  int64_t want[4] = {6, 2, 3, 3};
  for (int d = 0; d < 4; d++) cr_expect_eq(w->shape[d], want[d]);
  char repr[256];
  ax_module_repr(g, repr, sizeof repr);
  cr_expect_str_eq(repr, "Conv2d(4, 6, kernel_size=(3, 3), stride=(1, 1), dilation=(2, 2), groups=2, bias=False)");
  ax_module_free(g);
  ax_module *t = ax_nn_conv_transpose2d(4, 6, 3, &(ax_nn_conv2d_opts){.groups = 2, .kernel_hw = {2, 3}});
  cr_assert_not_null(t);
  w = ax_module_tensor(t, "weight");
  int64_t want_t[4] = {4, 3, 2, 3};
  for (int d = 0; d < 4; d++) cr_expect_eq(w->shape[d], want_t[d]);
  ax_module_free(t);

  tu_reset_errors();
  cr_expect_null(ax_nn_conv2d(3, 6, 3, &(ax_nn_conv2d_opts){.groups = 2}));
  cr_expect(tu_error_contains("ax_nn_conv2d", "divisible by groups 2", NULL), "%s", ax_last_error());
  cr_expect_null(ax_nn_conv2d(3, 6, 0, NULL));
  cr_expect(tu_error_contains("ax_nn_conv2d", "kernel_size=(0, 0)", NULL));
  /* a bad input reaches the op's own error */
  ax_module *c = ax_nn_conv2d(3, 4, 3, NULL);
  cr_expect_null(ax_module_forward(c, ax_zeros(AX_SHAPE(1, 2, 5, 5), NULL)));
  cr_expect(tu_error_contains("ax_conv2d", "[1, 2, 5, 5]", NULL), "%s", ax_last_error());
  ax_module_free(c);
  ax_scope_end();
}

/* ---------------- BatchNorm ---------------- */

Test(nn, batch_norm2d_train_then_eval_matches_pytorch) {
  ax_scope_begin();
  ax_module *bn = ax_nn_batch_norm2d(3, NULL);
  cr_assert_not_null(bn);
  cr_assert_eq(ax_module_to_dtype(bn, AX_F64), 0);
  ax_tensor *nbt = ax_module_tensor(bn, "num_batches_tracked");
  cr_assert_not_null(nbt);
  cr_expect(nbt->dtype == AX_I64 && nbt->ndim == 0, "num_batches_tracked stays an i64 scalar");
  ax_tensor *x = ax_add_scalar(ax_mul_scalar(fill(AX_SHAPE(2, 3, 2, 2), 0.9, 0.3, sin), 2), 0.5);
  cr_assert(ax_module_is_training(bn));
  ax_tensor *y = ax_module_forward(bn, x);
  cr_assert_not_null(y, "%s", ax_last_error());
  cr_expect(tu_allclose_data(y, bn2d_train_y, 24, 1e-10, 1e-8));
  cr_expect(tu_allclose_data(ax_module_tensor(bn, "running_mean"), bn2d_running_mean, 3, 1e-12, 1e-10));
  cr_expect(tu_allclose_data(ax_module_tensor(bn, "running_var"), bn2d_running_var, 3, 1e-12, 1e-10));
  cr_expect_eq(ax_item(nbt), 1);
  ax_module_train(bn, false);
  y = ax_module_forward(bn, x);
  cr_expect(tu_allclose_data(y, bn2d_eval_y, 24, 1e-10, 1e-8));
  cr_expect_eq(ax_item(nbt), 1, "eval does not count batches");
  cr_expect(tu_allclose_data(ax_module_tensor(bn, "running_mean"), bn2d_running_mean, 3, 1e-12, 1e-10),
            "eval leaves the running statistics alone");
  char repr[256];
  ax_module_repr(bn, repr, sizeof repr);
  cr_expect_str_eq(repr, "BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)");
  ax_module_free(bn);
  /* torch 2.15 prints bias= (a keyword-only argument since then); without affine it is False */
  bn = ax_nn_batch_norm2d(4, &(ax_nn_batch_norm_opts){.eps = 1e-3, .momentum = 0.01, .no_affine = true,
                                                       .no_track_running_stats = true});
  ax_module_repr(bn, repr, sizeof repr);
  cr_expect_str_eq(repr, "BatchNorm2d(4, eps=0.001, momentum=0.01, affine=False, bias=False, track_running_stats=False)");
  ax_module_free(bn);
  ax_scope_end();
}

Test(nn, batch_norm1d_two_steps_and_eval) {
  ax_scope_begin();
  ax_module *bn = ax_nn_batch_norm1d(3, NULL);
  cr_assert_eq(ax_module_to_dtype(bn, AX_F64), 0);
  ax_tensor *x = fill(AX_SHAPE(4, 3), 1.3, 0.2, sin);
  ax_tensor *y = ax_module_forward(bn, x);
  cr_assert_not_null(y, "%s", ax_last_error());
  cr_expect(tu_allclose_data(y, bn1d_train_y, 12, 1e-10, 1e-8));
  cr_assert_not_null(ax_module_forward(bn, x));
  cr_expect(tu_allclose_data(ax_module_tensor(bn, "running_var"), bn1d_running_var_2, 3, 1e-12, 1e-10));
  cr_expect_eq(ax_item(ax_module_tensor(bn, "num_batches_tracked")), 2);
  ax_module_train(bn, false);
  cr_expect(tu_allclose_data(ax_module_forward(bn, x), bn1d_eval_y, 12, 1e-10, 1e-8));
  /* wrong rank: the module names itself and the shape */
  cr_expect_null(ax_module_forward(bn, ax_zeros(AX_SHAPE(2, 3, 4, 4), F64)));
  cr_expect(tu_error_contains("BatchNorm1d", "[2, 3, 4, 4]", NULL), "%s", ax_last_error());
  ax_module_free(bn);

  ax_module *plain = ax_nn_batch_norm2d(4, &(ax_nn_batch_norm_opts){.no_affine = true, .no_track_running_stats = true});
  cr_expect_eq(count_of(plain), 0);
  ax_state_dict *sd = ax_state_dict_new();
  ax_module_state_dict(plain, sd);
  cr_expect_eq(ax_state_dict_size(sd), 0);
  ax_state_dict_free(sd);
  ax_module_train(plain, false); /* no running stats: still normalizes with the batch's */
  ax_tensor *z = ax_module_forward(plain, tu_randn(AX_F32, AX_SHAPE(3, 4, 2, 2)));
  cr_assert_not_null(z);
  ax_tensor *mean = ax_mean(z, AX_DIMS(0, 2, 3), false);
  for (int c = 0; c < 4; c++) cr_expect(fabs(tu_get(mean, c)) < 1e-5);
  ax_module_free(plain);
  ax_scope_end();
}

Test(nn, preact_block_gradcheck_and_shapes) {
  ax_scope_begin();
  ax_module *b = ax_nn_preact_block(2, 3, 2);
  cr_assert_not_null(b);
  cr_expect_not_null(ax_module_child(b, "shortcut"));
  cr_assert_eq(ax_module_to_dtype(b, AX_F64), 0);
  ax_tensor *x = tu_leaf(tu_randn(AX_F64, AX_SHAPE(2, 2, 4, 4)));
  ax_tensor *y = ax_module_forward(b, x);
  cr_assert_not_null(y, "%s", ax_last_error());
  int64_t want[4] = {2, 3, 2, 2};
  for (int d = 0; d < 4; d++) cr_expect_eq(y->shape[d], want[d]);
  ax_tensor *in[2] = {x, ax_module_tensor(b, "conv1.weight")};
  cr_expect(TU_GRADCHECK(module_fn, in, 2, b));
  ax_module_free(b);
  ax_module *id = ax_nn_preact_block(3, 3, 1);
  cr_expect_null(ax_module_child(id, "shortcut"), "same shape: identity shortcut");
  cr_expect_eq(ax_module_num_parameters(id), 2 * (3 * 3 * 9) + 2 * 6);
  ax_module_free(id);
  ax_scope_end();
}

/* ---------------- parameter-free layers ---------------- */

Test(nn, activations_match_their_ops) {
  ax_scope_begin();
  ax_tensor *x = tu_uniform(AX_F32, AX_SHAPE(3, 5), -3, 3);
  struct {
    ax_module *m;
    ax_tensor *want;
    const char *repr;
  } cases[] = {
      {ax_nn_relu(), ax_relu(x), "ReLU()"},
      {ax_nn_leaky_relu(0.01), ax_leaky_relu(x, 0.01), "LeakyReLU(negative_slope=0.01)"},
      {ax_nn_gelu(false), ax_gelu(x), "GELU(approximate='none')"},
      {ax_nn_gelu(true), ax_gelu_tanh(x), "GELU(approximate='tanh')"},
      {ax_nn_silu(), ax_silu(x), "SiLU()"},
      {ax_nn_sigmoid(), ax_sigmoid(x), "Sigmoid()"},
      {ax_nn_tanh(), ax_tanh(x), "Tanh()"},
      {ax_nn_identity(), x, "Identity()"},
      {ax_nn_flatten(0, -1), ax_reshape(x, AX_SHAPE(15)), "Flatten(start_dim=0, end_dim=-1)"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cr_assert_not_null(cases[i].m);
    ax_tensor *y = ax_module_forward(cases[i].m, x);
    cr_assert_not_null(y, "%s", cases[i].repr);
    cr_expect(ax_same_shape(y, cases[i].want), "%s", cases[i].repr);
    cr_expect(tu_allclose(y, cases[i].want, 0, 0), "%s", cases[i].repr);
    char repr[128];
    ax_module_repr(cases[i].m, repr, sizeof repr);
    cr_expect_str_eq(repr, cases[i].repr);
    cr_expect_eq(count_of(cases[i].m), 0);
    ax_module_free(cases[i].m);
  }
  ax_scope_end();
}

Test(nn, pooling_modules) {
  ax_scope_begin();
  ax_tensor *x = tu_randn(AX_F32, AX_SHAPE(2, 3, 6, 6));
  ax_module *mp = ax_nn_max_pool2d(&(ax_pool2d_opts){.kernel = 2});
  ax_module *ap = ax_nn_avg_pool2d(&(ax_pool2d_opts){.kernel = 3, .stride = 1, .padding = 1});
  ax_module *gap = ax_nn_adaptive_avg_pool2d(1, 1);
  cr_assert(mp && ap && gap);
  ax_tensor *y = ax_module_forward(mp, x);
  cr_assert_not_null(y, "%s", ax_last_error());
  cr_expect(tu_allclose(y, ax_max_pool2d(x, &(ax_pool2d_opts){.kernel = 2, .stride = 2}, NULL), 0, 0));
  y = ax_module_forward(ap, x);
  cr_assert_not_null(y, "%s", ax_last_error());
  cr_expect(y->shape[2] == 6 && y->shape[3] == 6);
  y = ax_module_forward(gap, x);
  cr_assert_not_null(y, "%s", ax_last_error());
  cr_expect(tu_allclose(ax_reshape(y, AX_SHAPE(2, 3)), ax_mean(x, AX_DIMS(2, 3), false), 1e-6, 1e-5));
  char repr[160];
  ax_module_repr(mp, repr, sizeof repr);
  cr_expect_str_eq(repr, "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)");
  ax_module_repr(ap, repr, sizeof repr);
  cr_expect_str_eq(repr, "AvgPool2d(kernel_size=3, stride=1, padding=1)");
  ax_module_repr(gap, repr, sizeof repr);
  cr_expect_str_eq(repr, "AdaptiveAvgPool2d(output_size=1)");
  ax_module_free(mp);
  ax_module_free(ap);
  ax_module_free(gap);
  cr_expect_null(ax_nn_max_pool2d(&(ax_pool2d_opts){0}));
  cr_expect(tu_error_contains("ax_nn_max_pool2d", "kernel", NULL));
  ax_scope_end();
}

Test(nn, dropout_train_and_eval) {
  ax_scope_begin();
  ax_module *d = ax_nn_dropout(0.5);
  cr_assert_not_null(d);
  ax_tensor *x = ax_ones(AX_SHAPE(1000), NULL);
  ax_tensor *y = ax_module_forward(d, x);
  cr_assert_not_null(y, "%s", ax_last_error());
  int zeros = 0;
  for (int i = 0; i < 1000; i++) {
    double v = tu_get(y, i);
    cr_assert(v == 0 || fabs(v - 2) < 1e-6, "kept elements are scaled by 1/(1-p)");
    zeros += v == 0;
  }
  cr_expect(zeros > 400 && zeros < 600, "%d zeros", zeros);
  ax_module_train(d, false);
  cr_expect(tu_allclose(ax_module_forward(d, x), x, 0, 0), "eval: the identity");
  cr_expect_null(ax_nn_dropout(1.5));
  cr_expect(tu_error_contains("ax_nn_dropout", "1.5", NULL));
  ax_module_free(d);
  ax_scope_end();
}

/* ---------------- Sequential, names, traversal ---------------- */

Test(nn, sequential_names_order_and_train_flag) {
  ax_scope_begin();
  ax_module *inner = ax_nn_sequential(2, ax_nn_linear(4, 4, true), ax_nn_batch_norm1d(4, NULL));
  ax_module *seq = ax_nn_sequential(3, ax_nn_linear(3, 4, false), inner, ax_nn_dropout(0.1));
  cr_assert_not_null(seq);
  const char *names[8];
  ax_tensor *ps[8];
  int n = ax_module_named_parameters(seq, names, ps, 8);
  const char *want[] = {"0.weight", "1.0.weight", "1.0.bias", "1.1.weight", "1.1.bias"};
  cr_assert_eq(n, 5);
  for (int i = 0; i < n; i++) cr_expect_str_eq(names[i], want[i]);
  cr_expect_eq(ax_module_parameters(seq, ps, 2), 5, "the count, even when max is smaller");
  cr_expect_eq(ax_module_tensor(seq, "1.0.bias"), ps[2]);
  cr_expect_null(ax_module_tensor(seq, "1.2.weight"));
  cr_expect_null(ax_module_child(seq, "7"));
  cr_expect_eq(ax_module_child(seq, ""), seq);

  ax_state_dict *sd = ax_state_dict_new();
  cr_assert_eq(ax_module_state_dict(seq, sd), 0);
  const char *keys[] = {"0.weight",          "1.0.weight",         "1.0.bias",
                        "1.1.weight",        "1.1.bias",           "1.1.running_mean",
                        "1.1.running_var",   "1.1.num_batches_tracked"};
  cr_assert_eq(ax_state_dict_size(sd), 8);
  for (int i = 0; i < 8; i++) cr_expect_str_eq(ax_state_dict_name(sd, i), keys[i]);
  ax_state_dict_free(sd);

  cr_expect(ax_module_is_training(ax_module_child(seq, "1.1")));
  ax_module_train(seq, false);
  cr_expect(!ax_module_is_training(ax_module_child(seq, "1.1")), "train() is recursive");
  ax_tensor *y = ax_module_forward(seq, tu_randn(AX_F32, AX_SHAPE(5, 3)));
  cr_assert_not_null(y, "%s", ax_last_error());
  cr_expect(y->shape[0] == 5 && y->shape[1] == 4);

  char repr[1024];
  ax_module_repr(seq, repr, sizeof repr);
  cr_expect_str_eq(repr, "Sequential(\n"
                         "  (0): Linear(in_features=3, out_features=4, bias=False)\n"
                         "  (1): Sequential(\n"
                         "    (0): Linear(in_features=4, out_features=4, bias=True)\n"
                         "    (1): BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True, bias=True, "
                         "track_running_stats=True)\n"
                         "  )\n"
                         "  (2): Dropout(p=0.1, inplace=False)\n"
                         ")");
  FILE *f = tmpfile();
  ax_module_print(seq, f);
  rewind(f);
  char buf[2048] = "";
  size_t got = fread(buf, 1, sizeof buf - 1, f);
  buf[got] = '\0';
  fclose(f);
  cr_expect(strstr(buf, "Parameters: 40 (5 tensors)") != NULL, "%s", buf);
  ax_module_free(seq);

  tu_reset_errors();
  cr_expect_null(ax_nn_sequential(2, ax_nn_relu(), NULL), "a NULL member frees the others");
  ax_scope_end();
}

Test(nn, add_parameter_rules) {
  ax_scope_begin();
  ax_module *m = ax_nn_sequential(0);
  ax_tensor *t = ax_randn(AX_SHAPE(2), NULL);
  cr_assert_eq(ax_module_add_parameter(m, "p", t), t);
  cr_expect(t->requires_grad);
  cr_expect_null(ax_module_add_parameter(m, "p", ax_randn(AX_SHAPE(2), NULL)));
  cr_expect(tu_error_contains("already has a member named 'p'", NULL), "%s", ax_last_error());
  cr_expect_null(ax_module_add_buffer(m, "a.b", ax_randn(AX_SHAPE(2), NULL)));
  cr_expect(tu_error_contains("'a.b'", NULL));
  cr_expect_null(ax_module_add_parameter(m, "q", ax_zeros(AX_SHAPE(2), I64)));
  cr_expect(tu_error_contains("floating-point", NULL));
  ax_module *r = ax_nn_relu();
  cr_expect_null(ax_nn_sequential_add(r, ax_nn_relu()));
  cr_expect(tu_error_contains("ax_nn_sequential_add", "ReLU", NULL), "%s", ax_last_error());
  ax_module_free(r);
  ax_scope_end();
  /* the parameter outlives the scope it was made in */
  cr_expect_eq(ax_numel(ax_module_tensor(m, "p")), 2);
  ax_module_free(m);
}

/* ---------------- state dicts ---------------- */

static ax_module *small_net(void) {
  return ax_nn_sequential(3, ax_nn_linear(3, 4, true), ax_nn_batch_norm1d(4, NULL), ax_nn_linear(4, 2, true));
}

/* Many bad keys: a message that does not fit the buffer becomes a summary (counts and the
 * first key of each kind), not a list cut off at the buffer's end (issue 18). */
Test(nn, state_dict_mismatch_message_summarised_when_long) {
  ax_scope_begin();
  ax_module *a = small_net(), *b = small_net();
  ax_state_dict *sd = ax_state_dict_new();
  cr_assert_eq(ax_module_state_dict(a, sd), 0);
  ax_state_dict *bad = ax_state_dict_new();
  for (int i = 0; i < ax_state_dict_size(sd); i++)
    if (strcmp(ax_state_dict_name(sd, i), "2.bias") != 0) /* one missing */
      ax_state_dict_set(bad, ax_state_dict_name(sd, i), ax_state_dict_tensor(sd, i));
  ax_state_dict_set(bad, "0.weight", ax_zeros(AX_SHAPE(5, 3), NULL)); /* one size mismatch */
  char name[64];
  for (int i = 0; i < 100; i++) { /* 100 unexpected */
    snprintf(name, sizeof name, "extra.layer%d.weight", i);
    ax_state_dict_set(bad, name, ax_zeros(AX_SHAPE(1), NULL));
  }
  char small[300], big[8192];
  cr_expect_eq(ax_module_load_state_dict(b, bad, true, big, sizeof big), -1);
  cr_expect(strstr(big, "'extra.layer99.weight'") && strstr(big, "'2.bias'") && strstr(big, "[5, 3]"),
            "the full list fits 8 KB: %s", big);
  cr_expect_eq(ax_module_load_state_dict(b, bad, true, small, sizeof small), -1);
  cr_expect(strstr(small, "1 missing, 100 unexpected, 1 size mismatch;"), "%s", small);
  cr_expect(strstr(small, "first missing: '2.bias'"), "%s", small);
  cr_expect(strstr(small, "first unexpected: 'extra.layer0.weight'"), "%s", small);
  cr_expect(strstr(small, "first size mismatch: '0.weight' ([5, 3] in the state dict, [4, 3] in the model)"), "%s", small);
  cr_expect_lt(strlen(small), sizeof small - 1, "the summary itself is cut off: %s", small);
  ax_state_dict_free(bad);
  ax_state_dict_free(sd);
  ax_module_free(a);
  ax_module_free(b);
  ax_scope_end();
}

Test(nn, state_dict_round_trip_and_errors) {
  ax_scope_begin();
  ax_module *a = small_net(), *b = small_net();
  ax_tensor *x = tu_randn(AX_F32, AX_SHAPE(6, 3));
  ax_module_forward(a, x); /* move a's running statistics */
  ax_module_train(a, false);
  ax_module_train(b, false);
  ax_state_dict *sd = ax_state_dict_new();
  cr_assert_eq(ax_module_state_dict(a, sd), 0);
  char err[512];
  cr_assert_eq(ax_module_load_state_dict(b, sd, true, err, sizeof err), 0, "%s", err);
  cr_expect(tu_allclose(ax_module_forward(b, x), ax_module_forward(a, x), 0, 0));
  cr_expect_eq(ax_item(ax_module_tensor(b, "1.num_batches_tracked")), 1);
  ax_state_dict_free(sd);

  /* missing key (strict), then the same dict accepted non-strictly */
  ax_module *c = small_net();
  ax_tensor *c_w0 = ax_clone(ax_module_tensor(c, "0.weight"));
  sd = ax_state_dict_new();
  ax_module_state_dict(a, sd);
  ax_state_dict *partial = ax_state_dict_new();
  for (int i = 0; i < ax_state_dict_size(sd); i++)
    if (strcmp(ax_state_dict_name(sd, i), "2.bias") != 0)
      ax_state_dict_set(partial, ax_state_dict_name(sd, i), ax_state_dict_tensor(sd, i));
  cr_expect_eq(ax_module_load_state_dict(c, partial, true, err, sizeof err), -1);
  cr_expect(strstr(err, "missing") && strstr(err, "'2.bias'"), "%s", err);
  cr_expect(tu_allclose(ax_module_tensor(c, "0.weight"), c_w0, 0, 0), "nothing copied on failure");
  cr_expect_eq(ax_module_load_state_dict(c, partial, false, err, sizeof err), 0, "%s", err);
  cr_expect(tu_allclose(ax_module_tensor(c, "0.weight"), ax_module_tensor(a, "0.weight"), 0, 0));

  /* unexpected key */
  ax_state_dict_set(sd, "3.weight", ax_zeros(AX_SHAPE(2), NULL));
  cr_expect_eq(ax_module_load_state_dict(c, sd, true, err, sizeof err), -1);
  cr_expect(strstr(err, "unexpected") && strstr(err, "'3.weight'"), "%s", err);
  cr_expect_eq(ax_module_load_state_dict(c, sd, false, err, sizeof err), 0, "%s", err);

  /* shape mismatch: always an error, naming the key and both shapes; nothing copied */
  ax_module *d = small_net();
  ax_tensor *d_w0 = ax_clone(ax_module_tensor(d, "0.weight"));
  ax_state_dict_set(sd, "2.weight", ax_zeros(AX_SHAPE(2, 5), NULL));
  cr_expect_eq(ax_module_load_state_dict(d, sd, false, err, sizeof err), -1);
  cr_expect(strstr(err, "'2.weight'") && strstr(err, "[2, 5]") && strstr(err, "[2, 4]"), "%s", err);
  cr_expect(tu_allclose(ax_module_tensor(d, "0.weight"), d_w0, 0, 0), "nothing copied on failure");

  /* dtypes convert: an f64 dict loads into an f32 model */
  ax_module *e = small_net();
  ax_module_to_dtype(a, AX_F64);
  ax_state_dict_free(sd);
  sd = ax_state_dict_new();
  ax_module_state_dict(a, sd);
  cr_expect_eq(ax_module_load_state_dict(e, sd, true, err, sizeof err), 0, "%s", err);
  cr_expect(ax_module_tensor(e, "0.weight")->dtype == AX_F32);
  cr_expect(tu_allclose(ax_module_tensor(e, "0.weight"), ax_module_tensor(a, "0.weight"), 1e-7, 1e-6));

  ax_state_dict_free(sd);
  ax_state_dict_free(partial);
  ax_module_free(a);
  ax_module_free(b);
  ax_module_free(c);
  ax_module_free(d);
  ax_module_free(e);
  ax_scope_end();
}

Test(nn, to_dtype_keeps_tensor_pointers_and_grads) {
  ax_scope_begin();
  ax_module *m = ax_nn_linear(3, 2, true);
  ax_tensor *w = ax_module_tensor(m, "weight");
  ax_tensor *w32 = ax_clone(w);
  ax_tensor *loss = ax_sum(ax_module_forward(m, tu_randn(AX_F32, AX_SHAPE(4, 3))), AX_ALL, false);
  cr_assert_eq(ax_backward(loss, NULL), 0);
  cr_assert_not_null(w->grad);
  cr_assert_eq(ax_module_to_dtype(m, AX_F64), 0);
  cr_expect_eq(ax_module_tensor(m, "weight"), w, "the same ax_tensor, new storage");
  cr_expect(w->dtype == AX_F64 && w->grad->dtype == AX_F64 && w->requires_grad);
  cr_expect(tu_allclose(w, w32, 0, 0));
  cr_expect_eq(ax_module_to(m, AX_CPU), 0, "already there: nothing to do");
  ax_module_zero_grad(m);
  cr_expect_null(w->grad);
  cr_expect_eq(ax_module_to_dtype(m, AX_I32), -1);
  cr_expect(tu_error_contains("ax_module_to_dtype", "i32", NULL));
  ax_module_free(m);
  ax_scope_end();
}

Test(nn, module_to_cuda_when_available) {
  if (ax_cuda_device_count() == 0) cr_skip_test("no GPU");
  ax_scope_begin();
  ax_module *m = ax_model_create("cnn", NULL, 0);
  cr_assert_eq(ax_module_to(m, AX_CUDA(0)), 0);
  ax_tensor *w = ax_module_tensor(m, "features.0.weight");
  cr_expect(w->device.type == AX_DEVICE_CUDA);
  ax_tensor *y = ax_module_forward(m, ax_to(tu_randn(AX_F32, AX_SHAPE(2, 1, 28, 28)), AX_CUDA(0)));
  cr_assert_not_null(y, "%s", ax_last_error());
  cr_expect_eq(ax_module_to(m, AX_CPU), 0);
  cr_expect(w->device.type == AX_DEVICE_CPU);
  ax_module_free(m);
  ax_scope_end();
}

/* ---------------- initializers ---------------- */

static void stats(ax_tensor *t, double *mean, double *std, double *lo, double *hi) {
  ax_tensor *c = ax_contiguous(ax_cast(t, AX_F64));
  const double *p = ax_data_ptr(c);
  int64_t n = ax_numel(c);
  double s = 0, s2 = 0;
  *lo = INFINITY;
  *hi = -INFINITY;
  for (int64_t i = 0; i < n; i++) {
    s += p[i];
    s2 += p[i] * p[i];
    *lo = fmin(*lo, p[i]);
    *hi = fmax(*hi, p[i]);
  }
  *mean = s / (double)n;
  *std = sqrt(s2 / (double)n - *mean * *mean);
}

Test(nn, initializer_statistics) {
  ax_scope_begin();
  ax_manual_seed(7);
  ax_tensor *t = ax_zeros(AX_SHAPE(200, 50, 3, 3), NULL); /* fan_in 450, fan_out 1800, 90000 elements */
  double mean, std, lo, hi;
  const double fi = 450, fo = 1800;
  /* uniform(a, b): mean (a+b)/2, std (b-a)/sqrt(12), within [a, b) */
  cr_assert_eq(ax_init_uniform_(t, -2, 4), 0);
  stats(t, &mean, &std, &lo, &hi);
  cr_expect(fabs(mean - 1) < 0.03 && fabs(std - 6 / sqrt(12)) < 0.02 && lo >= -2 && hi < 4, "%g %g", mean, std);
  cr_assert_eq(ax_init_normal_(t, 0.5, 2), 0);
  stats(t, &mean, &std, &lo, &hi);
  cr_expect(fabs(mean - 0.5) < 0.03 && fabs(std - 2) < 0.03, "%g %g", mean, std);
  double b = sqrt(6 / (fi + fo));
  cr_assert_eq(ax_init_xavier_uniform_(t, 1), 0);
  stats(t, &mean, &std, &lo, &hi);
  cr_expect(fabs(std - b / sqrt(3)) < 0.01 * b && lo >= -b && hi <= b && hi > 0.99 * b, "%g", std);
  cr_assert_eq(ax_init_xavier_normal_(t, 2), 0);
  stats(t, &mean, &std, &lo, &hi);
  cr_expect(fabs(std - 2 * sqrt(2 / (fi + fo))) < 0.01 * std, "%g", std);
  /* kaiming_uniform(a = sqrt(5)): PyTorch's layer default, bound 1/sqrt(fan_in) */
  cr_assert_eq(ax_init_kaiming_uniform_(t, sqrt(5), AX_FAN_IN, AX_NONLIN_LEAKY_RELU), 0);
  stats(t, &mean, &std, &lo, &hi);
  b = 1 / sqrt(fi);
  cr_expect(fabs(mean) < 0.01 * b && lo >= -b && hi <= b && hi > 0.99 * b && fabs(std - b / sqrt(3)) < 0.01 * b);
  cr_assert_eq(ax_init_kaiming_uniform_(t, 0, AX_FAN_OUT, AX_NONLIN_RELU), 0);
  stats(t, &mean, &std, &lo, &hi);
  b = sqrt(2) * sqrt(3) / sqrt(fo);
  cr_expect(hi <= b && hi > 0.99 * b && lo >= -b);
  cr_assert_eq(ax_init_kaiming_normal_(t, 0, AX_FAN_IN, AX_NONLIN_RELU), 0);
  stats(t, &mean, &std, &lo, &hi);
  cr_expect(fabs(std - sqrt(2 / fi)) < 0.01 * std, "%g", std);
  cr_assert_eq(ax_init_constant_(t, 0.25), 0);
  stats(t, &mean, &std, &lo, &hi);
  cr_expect(lo == 0.25 && hi == 0.25);
  cr_assert_eq(ax_init_ones_(t), 0);
  cr_expect_eq(tu_get(t, 12345), 1);
  cr_assert_eq(ax_init_zeros_(t), 0);
  cr_expect_eq(tu_get(t, 12345), 0);

  /* gains, fans, errors */
  cr_expect_float_eq(ax_init_calculate_gain(AX_NONLIN_RELU, 0), sqrt(2), 1e-12);
  cr_expect_float_eq(ax_init_calculate_gain(AX_NONLIN_LEAKY_RELU, sqrt(5)), sqrt(1.0 / 3), 1e-12);
  cr_expect_float_eq(ax_init_calculate_gain(AX_NONLIN_TANH, 0), 5.0 / 3, 1e-12);
  cr_expect_float_eq(ax_init_calculate_gain(AX_NONLIN_LINEAR, 0), 1, 1e-12);
  int64_t fan_in, fan_out;
  cr_expect_eq(ax_init_fans(t, &fan_in, &fan_out), 0);
  cr_expect(fan_in == 450 && fan_out == 1800);
  ax_tensor *v = ax_zeros(AX_SHAPE(5), NULL);
  cr_expect_eq(ax_init_kaiming_uniform_(v, 0, AX_FAN_IN, AX_NONLIN_RELU), -1);
  cr_expect(tu_error_contains("ax_init_kaiming_uniform_", "[5]", NULL), "%s", ax_last_error());
  cr_expect_eq(ax_init_normal_(ax_zeros(AX_SHAPE(3), I64), 0, 1), -1);
  cr_expect(tu_error_contains("ax_init_normal_", "i64", NULL));
  cr_expect_eq(ax_init_uniform_(v, 0, 1), 0, "1-D is fine without fans");
  ax_scope_end();
}

Test(nn, initialization_is_reproducible_and_uses_pytorch_bounds) {
  ax_scope_begin();
  ax_manual_seed(42);
  ax_module *a = ax_nn_conv2d(8, 16, 3, NULL);
  ax_manual_seed(42);
  ax_module *b = ax_nn_conv2d(8, 16, 3, NULL);
  cr_expect(tu_allclose(ax_module_tensor(a, "weight"), ax_module_tensor(b, "weight"), 0, 0));
  cr_expect(tu_allclose(ax_module_tensor(a, "bias"), ax_module_tensor(b, "bias"), 0, 0));
  double mean, std, lo, hi, bound = 1 / sqrt(8 * 9);
  stats(ax_module_tensor(a, "weight"), &mean, &std, &lo, &hi);
  cr_expect(lo >= -bound && hi <= bound && hi > 0.9 * bound && fabs(std - bound / sqrt(3)) < 0.1 * bound);
  stats(ax_module_tensor(a, "bias"), &mean, &std, &lo, &hi);
  cr_expect(lo >= -bound && hi <= bound);
  ax_module *bn = ax_nn_batch_norm2d(5, NULL);
  stats(ax_module_tensor(bn, "weight"), &mean, &std, &lo, &hi);
  cr_expect(lo == 1 && hi == 1);
  stats(ax_module_tensor(bn, "bias"), &mean, &std, &lo, &hi);
  cr_expect(lo == 0 && hi == 0);
  stats(ax_module_tensor(bn, "running_var"), &mean, &std, &lo, &hi);
  cr_expect(lo == 1 && hi == 1);
  ax_module_free(a);
  ax_module_free(b);
  ax_module_free(bn);
  ax_scope_end();
}

/* ---------------- losses ---------------- */

Test(nn, loss_modules_match_functional_ops) {
  ax_scope_begin();
  ax_tensor *logits = tu_randn(AX_F64, AX_SHAPE(4, 5));
  ax_tensor *labels = ax_from_data((int64_t[]){0, 3, 4, 1}, AX_SHAPE(4), I64);
  ax_tensor *y = tu_randn(AX_F64, AX_SHAPE(4, 5));
  ax_tensor *prob = tu_uniform(AX_F64, AX_SHAPE(4, 5), 0, 1);
  ax_cross_entropy_opts ce = {.label_smoothing = 0.1, .reduction = AX_REDUCTION_SUM};
  struct {
    ax_loss l;
    ax_tensor *got_in, *got_target, *want;
    const char *name;
  } cases[] = {
      {ax_loss_cross_entropy(&ce), logits, labels, ax_cross_entropy(logits, labels, &ce), "CrossEntropyLoss"},
      {ax_loss_cross_entropy(NULL), logits, labels, ax_cross_entropy(logits, labels, NULL), "CrossEntropyLoss"},
      {ax_loss_nll(NULL), ax_log_softmax(logits, 1), labels, ax_nll_loss(ax_log_softmax(logits, 1), labels, NULL),
       "NLLLoss"},
      {ax_loss_mse(AX_REDUCTION_MEAN), logits, y, ax_mse_loss(logits, y, AX_REDUCTION_MEAN), "MSELoss"},
      {ax_loss_l1(AX_REDUCTION_NONE), logits, y, ax_l1_loss(logits, y, AX_REDUCTION_NONE), "L1Loss"},
      {ax_loss_smooth_l1(AX_REDUCTION_SUM, 0.5), logits, y, ax_smooth_l1_loss(logits, y, AX_REDUCTION_SUM, 0.5),
       "SmoothL1Loss"},
      {ax_loss_bce_with_logits(AX_REDUCTION_MEAN), logits, prob, ax_bce_with_logits(logits, prob, AX_REDUCTION_MEAN),
       "BCEWithLogitsLoss"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ax_tensor *got = ax_loss_forward(&cases[i].l, cases[i].got_in, cases[i].got_target);
    cr_assert_not_null(got, "%s: %s", cases[i].name, ax_last_error());
    cr_expect(tu_allclose(got, cases[i].want, 0, 0), "%s", cases[i].name);
    cr_expect_str_eq(ax_loss_name(&cases[i].l), cases[i].name);
  }
  cr_expect_null(ax_loss_forward(&cases[3].l, logits, NULL));
  ax_scope_end();
}

static void triplet_inputs(ax_tensor **a, ax_tensor **p, ax_tensor **n) {
  *a = fill(AX_SHAPE(3, 4), 0.5, 0.0, sin);
  *p = fill(AX_SHAPE(3, 4), 0.8, 0.4, sin);
  *n = fill(AX_SHAPE(3, 4), 0.3, 1.0, cos);
}

Test(nn, triplet_margin_loss_matches_pytorch) {
  ax_scope_begin();
  ax_tensor *a, *p, *n;
  triplet_inputs(&a, &p, &n);
  ax_tensor *l = ax_triplet_margin_loss(a, p, n, 1.0, 2.0, 1e-6, false, AX_REDUCTION_NONE);
  cr_assert_not_null(l, "%s", ax_last_error());
  cr_expect(l->ndim == 1 && l->shape[0] == 3);
  cr_expect(tu_allclose_data(l, tml_a, 3, 1e-12, 1e-10));
  cr_expect(tu_allclose_data(ax_triplet_margin_loss(a, p, n, 0.5, 1.0, 1e-6, true, AX_REDUCTION_NONE), tml_b, 3,
                             1e-12, 1e-10));
  l = ax_triplet_margin_loss(a, p, n, 2.0, 3.0, 1e-3, false, AX_REDUCTION_SUM);
  cr_expect(l->ndim == 0);
  cr_expect(tu_allclose_data(l, tml_c, 1, 1e-12, 1e-10));
  cr_expect(tu_allclose_data(ax_triplet_margin_loss(a, p, n, 1.0, 2.0, 1e-6, true, AX_REDUCTION_MEAN), tml_d, 1,
                             1e-12, 1e-10));
  ax_scope_end();
}

typedef struct tml_ctx {
  double margin, p;
  bool swap;
  ax_reduction r;
} tml_ctx;

static ax_tensor *tml_fn(ax_tensor **in, void *ctx) {
  tml_ctx *c = ctx;
  return ax_triplet_margin_loss(in[0], in[1], in[2], c->margin, c->p, 1e-6, c->swap, c->r);
}

Test(nn, triplet_margin_loss_gradcheck) {
  ax_scope_begin();
  /* margins large enough that every triplet is active (the hinge is not differentiable at 0) */
  tml_ctx cases[] = {{10, 2, false, AX_REDUCTION_MEAN}, {10, 1.5, true, AX_REDUCTION_NONE}, {10, 3, true, AX_REDUCTION_SUM}};
  for (int k = 0; k < 3; k++) {
    ax_tensor *in[3] = {tu_leaf(tu_randn(AX_F64, AX_SHAPE(3, 4))),
                        tu_leaf(ax_transpose(tu_randn(AX_F64, AX_SHAPE(4, 3)), 0, 1)), /* non-contiguous */
                        tu_leaf(tu_randn(AX_F64, AX_SHAPE(3, 4)))};
    cr_expect(TU_GRADCHECK(tml_fn, in, 3, &cases[k]), "case %d", k);
  }
  /* 1-D inputs (one triplet) and a broadcast positive [1, D] */
  ax_tensor *v[3] = {tu_leaf(tu_randn(AX_F64, AX_SHAPE(5))), tu_leaf(tu_randn(AX_F64, AX_SHAPE(5))),
                     tu_leaf(tu_randn(AX_F64, AX_SHAPE(5)))};
  cr_expect(TU_GRADCHECK(tml_fn, v, 3, &cases[0]));
  ax_tensor *bc[3] = {tu_leaf(tu_randn(AX_F64, AX_SHAPE(3, 4))), tu_leaf(tu_randn(AX_F64, AX_SHAPE(1, 4))),
                      tu_leaf(tu_randn(AX_F64, AX_SHAPE(3, 4)))};
  cr_expect(TU_GRADCHECK(tml_fn, bc, 3, &cases[1]));
  /* an inactive triplet gives a zero gradient */
  ax_tensor *a = tu_leaf(ax_zeros(AX_SHAPE(1, 2), F64));
  ax_tensor *l = ax_triplet_margin_loss(a, ax_zeros(AX_SHAPE(1, 2), F64), ax_full(AX_SHAPE(1, 2), 5, F64), 1, 2, 1e-6,
                                        false, AX_REDUCTION_SUM);
  cr_assert_eq(ax_backward(l, NULL), 0);
  cr_expect(tu_get(l, 0) == 0 && tu_get(a->grad, 0) == 0 && tu_get(a->grad, 1) == 0);
  ax_scope_end();
}

Test(nn, triplet_margin_loss_errors) {
  ax_scope_begin();
  ax_tensor *a = tu_randn(AX_F64, AX_SHAPE(3, 4));
  cr_expect_null(ax_triplet_margin_loss(a, tu_randn(AX_F64, AX_SHAPE(4)), a, 1, 2, 1e-6, false, AX_REDUCTION_MEAN));
  cr_expect(tu_error_contains("ax_triplet_margin_loss", "[3, 4]", "[4]", NULL), "%s", ax_last_error());
  cr_expect_null(ax_triplet_margin_loss(a, a, a, 1, 0, 1e-6, false, AX_REDUCTION_MEAN));
  cr_expect(tu_error_contains("ax_triplet_margin_loss", "p must be positive", NULL));
  cr_expect_null(ax_triplet_margin_loss(a, tu_randn(AX_F64, AX_SHAPE(3, 5)), a, 1, 2, 1e-6, false, AX_REDUCTION_MEAN));
  cr_expect(tu_error_contains("[3, 4]", "[3, 5]", NULL), "%s", ax_last_error());
  cr_expect_null(ax_triplet_margin_loss(NULL, a, a, 1, 2, 1e-6, false, AX_REDUCTION_MEAN));
  ax_scope_end();
}
