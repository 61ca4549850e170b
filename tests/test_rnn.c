/* SPDX-License-Identifier: BSD-3-Clause */
/* Recurrent layers: LSTM and GRU against PyTorch (outputs, final states and every
 * gradient, from tests/fixtures/rnn_ref.safetensors made by make_rnn.py, loaded by
 * parameter name), f64 gradient checks of the layer nodes, names, printing, init,
 * dropout, errors; and the character LSTM language model (shapes, step() = forward(),
 * a short training run that learns a repetitive text). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "testutil.h"

TestSuite(rnn, .init = tu_capture_errors);

#define FIXTURE AXON_SOURCE_DIR "/tests/fixtures/rnn_ref.safetensors"
#define F64 (&(ax_tensor_opts){.dtype = AX_F64})

/* ---------------- against PyTorch ---------------- */

static ax_tensor *ref(const ax_state_dict *sd, const char *prefix, const char *name) {
  char key[128];
  snprintf(key, sizeof key, "%s.%s", prefix, name);
  ax_tensor *t = ax_state_dict_get(sd, key);
  cr_assert_not_null(t, "fixture has no '%s'", key);
  return t;
}

/* A leaf requiring grad with the fixture's values in f32. */
static ax_tensor *f32_leaf(ax_tensor *t) { return tu_leaf(ax_cast(t, AX_F32)); }

static void expect_close(ax_tensor *got, ax_tensor *want, const char *what) {
  cr_assert_not_null(got, "%s: NULL (%s)", what, ax_last_error());
  cr_expect(ax_same_shape(got, want), "%s: shape", what);
  cr_expect(tu_allclose(got, want, 1e-5, 1e-5), "%s differs from PyTorch's", what);
}

/* Loads the module's parameters (strict: the names must be PyTorch's), runs the fixture's
 * case in f32, and compares outputs, states and all gradients. */
static void check_against_pytorch(ax_module *m, const char *prefix, bool lstm) {
  char err[512];
  ax_state_dict *sd = ax_load_safetensors(FIXTURE, err, sizeof err);
  cr_assert_not_null(sd, "%s", err);
  ax_state_dict *params = ax_state_dict_new();
  size_t plen = strlen(prefix);
  for (int i = 0; i < ax_state_dict_size(sd); i++) {
    const char *name = ax_state_dict_name(sd, i);
    const char *local = name + plen + 1;
    bool mine = !strncmp(name, prefix, plen) && name[plen] == '.';
    if (mine && (!strncmp(local, "weight_", 7) || !strncmp(local, "bias_", 5)))
      ax_state_dict_set(params, local, ax_state_dict_tensor(sd, i));
  }
  cr_assert_eq(ax_state_dict_size(params), 8);
  cr_assert_eq(ax_module_load_state_dict(m, params, true, err, sizeof err), 0, "%s", err);

  ax_scope_begin();
  ax_tensor *x = f32_leaf(ref(sd, prefix, "x")), *h0 = f32_leaf(ref(sd, prefix, "h0"));
  ax_tensor *c0 = lstm ? f32_leaf(ref(sd, prefix, "c0")) : NULL;
  ax_tensor *hn = NULL, *cn = NULL;
  ax_tensor *y = lstm ? ax_nn_lstm_forward(m, x, h0, c0, &hn, &cn) : ax_nn_gru_forward(m, x, h0, &hn);
  cr_assert_not_null(y, "%s", ax_last_error());
  cr_assert_not_null(hn);
  expect_close(y, ref(sd, prefix, "out"), "output");
  expect_close(hn, ref(sd, prefix, "hn"), "h_n");
  ax_tensor *loss = ax_add(ax_sum(ax_mul(y, ax_cast(ref(sd, prefix, "gy"), AX_F32)), AX_ALL, false),
                           ax_sum(ax_mul(hn, ax_cast(ref(sd, prefix, "ghn"), AX_F32)), AX_ALL, false));
  if (lstm) {
    expect_close(cn, ref(sd, prefix, "cn"), "c_n");
    loss = ax_add(loss, ax_sum(ax_mul(cn, ax_cast(ref(sd, prefix, "gcn"), AX_F32)), AX_ALL, false));
  }
  cr_assert_eq(ax_backward(loss, NULL), 0, "%s", ax_last_error());
  expect_close(x->grad, ref(sd, prefix, "grad.x"), "grad x");
  expect_close(h0->grad, ref(sd, prefix, "grad.h0"), "grad h0");
  if (lstm) expect_close(c0->grad, ref(sd, prefix, "grad.c0"), "grad c0");
  for (int i = 0; i < ax_state_dict_size(params); i++) {
    char what[64];
    snprintf(what, sizeof what, "grad.%s", ax_state_dict_name(params, i));
    expect_close(ax_module_tensor(m, ax_state_dict_name(params, i))->grad, ref(sd, prefix, what), what);
  }
  ax_scope_end();
  ax_state_dict_free(params);
  ax_state_dict_free(sd);
}

Test(rnn, lstm_matches_pytorch) {
  ax_module *m = ax_nn_lstm(5, 7, &(ax_nn_rnn_opts){.num_layers = 2});
  cr_assert_not_null(m);
  check_against_pytorch(m, "lstm", true);
  ax_module_free(m);
}

Test(rnn, gru_matches_pytorch) {
  ax_module *m = ax_nn_gru(5, 7, &(ax_nn_rnn_opts){.num_layers = 2});
  cr_assert_not_null(m);
  check_against_pytorch(m, "gru", false);
  ax_module_free(m);
}

/* ---------------- gradient checks (f64) ---------------- */

typedef struct rnn_case {
  ax_module *m;
  bool lstm, states; /* states: inputs[1] (h0) and inputs[2] (c0, LSTM) are given */
} rnn_case;

/* output, h_n and c_n flattened into one tensor, so every path is checked */
static ax_tensor *run_case(ax_tensor **in, void *ctx) {
  rnn_case *c = ctx;
  ax_tensor *h0 = c->states ? in[1] : NULL, *c0 = c->states && c->lstm ? in[2] : NULL, *hn = NULL, *cn = NULL;
  ax_tensor *y = c->lstm ? ax_nn_lstm_forward(c->m, in[0], h0, c0, &hn, &cn) : ax_nn_gru_forward(c->m, in[0], h0, &hn);
  ax_tensor *parts[3] = {ax_flatten(y, 0, -1), ax_flatten(hn, 0, -1), c->lstm ? ax_flatten(cn, 0, -1) : NULL};
  return ax_cat(parts, c->lstm ? 3 : 2, 0);
}

/* x [B, T, I] (transposed storage when strided), optional states, and every parameter. */
static void gradcheck_rnn(bool lstm, int layers, bool bias, bool states, bool strided) {
  const int64_t B = 2, T = 3, I = 3, H = 4;
  ax_manual_seed(7);
  ax_nn_rnn_opts o = {.num_layers = layers, .no_bias = !bias};
  ax_module *m = lstm ? ax_nn_lstm(I, H, &o) : ax_nn_gru(I, H, &o);
  cr_assert_not_null(m);
  cr_assert_eq(ax_module_to_dtype(m, AX_F64), 0);
  ax_scope_begin();
  ax_tensor *in[16];
  int n = 0;
  in[n++] = strided ? tu_leaf(ax_transpose(tu_randn(AX_F64, AX_SHAPE(B, I, T)), 1, 2))
                    : tu_leaf(tu_randn(AX_F64, AX_SHAPE(B, T, I)));
  if (strided) cr_assert(!ax_is_contiguous(in[0]));
  in[n++] = tu_leaf(tu_randn(AX_F64, AX_SHAPE(layers, B, H)));
  in[n++] = tu_leaf(tu_randn(AX_F64, AX_SHAPE(layers, B, H)));
  if (!states) n = 1;
  if (states && !lstm) n = 2;
  n += ax_module_parameters(m, in + n, 16 - n);
  rnn_case c = {m, lstm, states};
  cr_expect(TU_GRADCHECK(run_case, in, n, &c), "%s layers=%d bias=%d states=%d strided=%d", lstm ? "LSTM" : "GRU",
            layers, bias, states, strided);
  ax_scope_end();
  ax_module_free(m);
}

Test(rnn, lstm_gradcheck) {
  gradcheck_rnn(true, 1, true, true, false);
  gradcheck_rnn(true, 1, true, false, true); /* zero initial states, non-contiguous x */
  gradcheck_rnn(true, 2, false, true, false);
}

Test(rnn, gru_gradcheck) {
  gradcheck_rnn(false, 1, true, true, false);
  gradcheck_rnn(false, 1, true, false, true);
  gradcheck_rnn(false, 2, false, true, false);
  gradcheck_rnn(false, 1, false, false, false); /* no bias and a zero state: n = tanh(W_in x) at t = 0 */
}

/* ---------------- names, printing, init, modes ---------------- */

Test(rnn, names_repr_and_init) {
  ax_module *m = ax_nn_lstm(16, 32, &(ax_nn_rnn_opts){.num_layers = 2});
  cr_assert_not_null(m);
  const char *names[16];
  ax_tensor *ps[16];
  cr_assert_eq(ax_module_named_parameters(m, names, ps, 16), 8);
  const char *want[8] = {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                         "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1"};
  for (int i = 0; i < 8; i++) cr_expect_str_eq(names[i], want[i]);
  cr_expect_eq(ps[0]->shape[0], 128);
  cr_expect_eq(ps[0]->shape[1], 16);
  cr_expect_eq(ps[4]->shape[1], 32);
  cr_expect_eq(ax_module_num_parameters(m), 4 * 32 * (16 + 32 + 2) + 4 * 32 * (32 + 32 + 2));
  char repr[256];
  ax_module_repr(m, repr, sizeof repr);
  cr_expect_str_eq(repr, "LSTM(16, 32, num_layers=2, batch_first=True)");
  /* every parameter is U(-1/sqrt(H), 1/sqrt(H)) */
  double bound = 1 / sqrt(32.0);
  for (int i = 0; i < 8; i++) {
    ax_scope_begin();
    double lo = ax_item(ax_amin(ps[i], AX_ALL, false)), hi = ax_item(ax_amax(ps[i], AX_ALL, false));
    cr_expect(lo >= -bound && hi <= bound && hi - lo > bound, "%s in [%g, %g]", names[i], lo, hi);
    ax_scope_end();
  }
  ax_module_free(m);

  m = ax_nn_gru(5, 7, &(ax_nn_rnn_opts){.no_bias = true, .dropout = 0.25});
  cr_assert_not_null(m);
  ax_module_repr(m, repr, sizeof repr);
  cr_expect_str_eq(repr, "GRU(5, 7, bias=False, batch_first=True, dropout=0.25)");
  cr_expect_eq(ax_module_num_parameters(m), 3 * 7 * (5 + 7));
  cr_expect_eq(ax_module_parameters(m, NULL, 0), 2);
  ax_module_free(m);
}

Test(rnn, module_forward_dropout_and_no_grad) {
  ax_manual_seed(3);
  ax_module *m = ax_nn_lstm(4, 6, &(ax_nn_rnn_opts){.num_layers = 2, .dropout = 0.5});
  cr_assert_not_null(m);
  ax_scope_begin();
  ax_tensor *x = tu_randn(AX_F32, AX_SHAPE(2, 5, 4));
  ax_module_train(m, false);
  ax_tensor *a = ax_module_forward(m, x), *b = ax_nn_lstm_forward(m, x, NULL, NULL, NULL, NULL);
  cr_assert_not_null(a);
  cr_expect_eq(a->ndim, 3);
  cr_expect_eq(a->shape[2], 6);
  cr_expect(tu_allclose(a, b, 0, 0), "eval forward is deterministic");
  ax_module_train(m, true);
  ax_tensor *c = ax_module_forward(m, x);
  cr_expect(ax_item(ax_amax(ax_abs(ax_sub(a, c)), AX_ALL, false)) > 1e-3,
            "dropout between layers changes the training output");
  /* without grad mode nothing is recorded */
  ax_no_grad_begin();
  ax_tensor *d = ax_module_forward(m, x);
  ax_no_grad_end();
  cr_expect(!d->requires_grad);
  cr_expect(c->requires_grad);
  ax_scope_end();
  ax_module_free(m);
}

/* ---------------- errors ---------------- */

Test(rnn, errors_name_the_shapes) {
  ax_module *lstm = ax_nn_lstm(5, 7, &(ax_nn_rnn_opts){.num_layers = 2});
  ax_module *gru = ax_nn_gru(5, 7, NULL);
  ax_scope_begin();
  tu_reset_errors();
  cr_expect_null(ax_module_forward(lstm, ax_zeros(AX_SHAPE(3, 5), NULL)));
  cr_expect(tu_error_contains("ax_nn_lstm_forward", "[3, 5]", "[batch, seq_len, 5]", NULL), "%s", ax_last_error());
  cr_expect_null(ax_module_forward(gru, ax_zeros(AX_SHAPE(3, 4, 6), NULL)));
  cr_expect(tu_error_contains("ax_nn_gru_forward", "[3, 4, 6]", "5", NULL), "%s", ax_last_error());
  cr_expect_null(ax_module_forward(gru, ax_zeros(AX_SHAPE(3, 0, 5), NULL)));
  cr_expect(tu_error_contains("ax_nn_gru_forward", "[3, 0, 5]", NULL), "%s", ax_last_error());
  ax_tensor *x = ax_zeros(AX_SHAPE(3, 4, 5), NULL);
  cr_expect_null(ax_nn_lstm_forward(lstm, x, ax_zeros(AX_SHAPE(1, 3, 7), NULL), NULL, NULL, NULL));
  cr_expect(tu_error_contains("ax_nn_lstm_forward", "h0", "[2, 3, 7]", "[1, 3, 7]", NULL), "%s", ax_last_error());
  cr_expect_null(ax_nn_lstm_forward(lstm, x, NULL, ax_zeros(AX_SHAPE(2, 4, 7), NULL), NULL, NULL));
  cr_expect(tu_error_contains("ax_nn_lstm_forward", "c0", "[2, 3, 7]", "[2, 4, 7]", NULL), "%s", ax_last_error());
  cr_expect_null(ax_module_forward(lstm, ax_zeros(AX_SHAPE(3, 4, 5), F64)));
  cr_expect(tu_error_contains("ax_nn_lstm_forward", "f64", "f32", NULL), "%s", ax_last_error());
  cr_expect_null(ax_nn_gru_forward(lstm, x, NULL, NULL));
  cr_expect(tu_error_contains("ax_nn_gru_forward", "LSTM", NULL), "%s", ax_last_error());
  cr_expect_null(ax_nn_lstm_forward(lstm, NULL, NULL, NULL, NULL, NULL));
  cr_expect_null(ax_nn_lstm(0, 7, NULL));
  cr_expect(tu_error_contains("ax_nn_lstm", "input_size=0", NULL), "%s", ax_last_error());
  cr_expect_null(ax_nn_gru(3, 7, &(ax_nn_rnn_opts){.dropout = 1.5}));
  cr_expect(tu_error_contains("ax_nn_gru", "dropout=1.5", NULL), "%s", ax_last_error());
  ax_scope_end();
  ax_module_free(lstm);
  ax_module_free(gru);
}

/* ---------------- the character LSTM language model ---------------- */

static ax_tensor *tokens_of(const char *s, int64_t B, int64_t T, int64_t stride) {
  ax_tensor *t = ax_empty(AX_SHAPE(B, T + 1), &(ax_tensor_opts){.dtype = AX_I64});
  int64_t *p = ax_data_ptr(t);
  for (int64_t b = 0; b < B; b++)
    for (int64_t i = 0; i <= T; i++) p[b * (T + 1) + i] = (unsigned char)s[b * stride + i];
  return t;
}

Test(rnn, char_lstm_shapes_names_and_step) {
  ax_manual_seed(11);
  ax_module *m = ax_model_char_lstm(8, 12, 2, 0.1);
  cr_assert_not_null(m);
  cr_expect_not_null(ax_module_tensor(m, "embed.weight"));
  cr_expect_not_null(ax_module_tensor(m, "lstm.weight_hh_l1"));
  cr_expect_not_null(ax_module_tensor(m, "head.bias"));
  char repr[512];
  ax_module_repr(m, repr, sizeof repr);
  cr_expect(strstr(repr, "(lstm): LSTM(8, 12, num_layers=2, batch_first=True, dropout=0.1)") != NULL, "%s", repr);
  cr_expect(strstr(repr, "(embed): Embedding(256, 8)") != NULL, "%s", repr);
  ax_module_train(m, false);
  ax_scope_begin();
  const int64_t B = 2, T = 6;
  ax_tensor *tok = ax_narrow(tokens_of("hello world, hello there", B, T, 9), 1, 0, T);
  ax_tensor *logits = ax_module_forward(m, tok);
  cr_assert_not_null(logits, "%s", ax_last_error());
  cr_expect_eq(logits->ndim, 3);
  cr_expect_eq(logits->shape[0], B);
  cr_expect_eq(logits->shape[1], T);
  cr_expect_eq(logits->shape[2], 256);
  /* one character at a time through the stateful step gives the same logits */
  ax_tensor *h = NULL, *c = NULL;
  for (int64_t t = 0; t < T; t++) {
    ax_scope_begin();
    ax_tensor *lt = ax_char_lstm_step(m, ax_narrow(tok, 1, t, 1), &h, &c);
    cr_assert_not_null(lt, "%s", ax_last_error());
    cr_expect(tu_allclose(lt, ax_narrow(logits, 1, t, 1), 1e-5, 1e-5), "step %lld", (long long)t);
    ax_scope_end();
  }
  cr_assert_not_null(h);
  cr_expect_eq(h->shape[0], 2);
  cr_expect_eq(h->shape[2], 12);
  /* a prompt of several characters, then one more, continues from the states */
  ax_free(h);
  ax_free(c);
  h = c = NULL;
  cr_assert_not_null(ax_char_lstm_step(m, ax_narrow(tok, 1, 0, T - 1), &h, &c));
  ax_tensor *last = ax_char_lstm_step(m, ax_narrow(tok, 1, T - 1, 1), &h, &c);
  cr_expect(tu_allclose(last, ax_narrow(logits, 1, T - 1, 1), 1e-5, 1e-5));
  /* errors leave the states alone */
  ax_tensor *h_before = h;
  cr_expect_null(ax_char_lstm_step(m, ax_zeros(AX_SHAPE(2, 3), NULL), &h, &c));
  cr_expect(tu_error_contains("ax_char_lstm_step", "f32 [2, 3]", NULL), "%s", ax_last_error());
  cr_expect_eq(h, h_before);
  cr_expect_null(ax_char_lstm_step(m, ax_narrow(tok, 0, 0, 1), &h, &c)); /* batch 1 vs states of batch 2 */
  cr_expect(tu_error_contains("h0", "[2, 2, 12]", "[2, 1, 12]", NULL), "%s", ax_last_error());
  ax_module *lin = ax_nn_linear(2, 2, true);
  cr_expect_null(ax_char_lstm_step(lin, tok, &h, &c));
  cr_expect(tu_error_contains("ax_char_lstm_step", "Linear", NULL), "%s", ax_last_error());
  ax_module_free(lin);
  ax_free(h);
  ax_free(c);
  ax_scope_end();
  ax_module_free(m);
}

/* With no scope open the caller owns the logits and the states: freeing them leaves no
 * tensor behind (the states used to carry one reference too many). */
Test(rnn, char_lstm_step_without_a_scope_leaks_nothing) {
  ax_module *m = ax_model_char_lstm(4, 6, 1, 0.0);
  cr_assert_not_null(m);
  ax_module_train(m, false);
  ax_tensor *tok = ax_from_data((int64_t[]){104, 105, 33}, AX_SHAPE(1, 3), &(ax_tensor_opts){.dtype = AX_I64});
  size_t before = ax_memory_stats_get(AX_CPU).live_tensors;
  ax_tensor *h = NULL, *c = NULL;
  for (int i = 0; i < 3; i++) {
    ax_tensor *logits = ax_char_lstm_step(m, tok, &h, &c);
    cr_assert_not_null(logits, "%s", ax_last_error());
    ax_free(logits);
  }
  ax_free(h);
  ax_free(c);
  cr_expect_eq(ax_memory_stats_get(AX_CPU).live_tensors, before);
  ax_free(tok);
  ax_module_free(m);
}

Test(rnn, char_lstm_learns_a_repetitive_text) {
  static const char line[] = "the quick brown fox jumps over the lazy dog; ";
  char text[2048 + 64];
  size_t len = 0;
  while (len + sizeof line - 1 < sizeof text - 1) {
    memcpy(text + len, line, sizeof line - 1);
    len += sizeof line - 1;
  }
  text[len] = '\0';
  ax_manual_seed(42);
  ax_module *m = ax_model_char_lstm(16, 64, 1, 0);
  cr_assert_not_null(m);
  ax_tensor *params[16];
  int np = ax_module_parameters(m, params, 16);
  ax_optimizer *opt = ax_adamw(params, np, &(ax_adam_opts){.lr = 1e-2});
  cr_assert_not_null(opt);
  const int64_t B = 8, T = 32;
  double first = 0, last = 0;
  for (int s = 0; s < 60; s++) {
    ax_scope_begin();
    int64_t stride = (int64_t)(len - T - 1) / B, shift = (s * 7) % 13; /* windows all over the text */
    ax_tensor *seq = tokens_of(text + shift, B, T, stride);
    ax_tensor *x = ax_narrow(seq, 1, 0, T), *y = ax_narrow(seq, 1, 1, T);
    ax_tensor *logits = ax_module_forward(m, x);
    ax_tensor *loss = ax_cross_entropy(ax_reshape(logits, AX_SHAPE(B * T, 256)), ax_reshape(y, AX_SHAPE(B * T)), NULL);
    cr_assert_not_null(loss, "%s", ax_last_error());
    double l = ax_item(loss);
    if (s == 0) first = l;
    last = l;
    ax_optimizer_zero_grad(opt);
    cr_assert_eq(ax_backward(loss, NULL), 0);
    cr_assert_eq(ax_optimizer_step(opt), 0);
    ax_scope_end();
  }
  cr_expect(first > 5.0 && first < 6.2, "initial loss %g (about ln 256 = 5.55)", first);
  cr_expect(last < first / 2, "loss %g -> %g", first, last);
  ax_optimizer_free(opt);
  ax_module_free(m);
}
