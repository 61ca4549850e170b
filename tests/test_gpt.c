/* SPDX-License-Identifier: BSD-3-Clause */
/* GPT-2 against a PyTorch reference (tests/fixtures/make_gpt.py): logits, loss,
 * every parameter's gradient and 5 AdamW steps from fixed weights in Hugging
 * Face's layout; the KV cache against the full forward; files and errors. */
#define _DEFAULT_SOURCE /* mkstemp */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "axon.h"
#include "axon/transformer.h"
#include "testutil.h"

#define FIXTURE(name) AXON_SOURCE_DIR "/tests/fixtures/" name

static const ax_gpt_config small = {.n_layer = 2, .n_head = 2, .n_embd = 16, .block_size = 8, .vocab_size = 48};

static void setup(void) {
  tu_capture_errors();
  ax_scope_begin();
}
static void teardown(void) { ax_scope_end(); }

TestSuite(gpt, .init = setup, .fini = teardown);

/* max |a - b| / max(max |b|, tiny): the relative error of a whole tensor */
static double rel_err(ax_tensor *a, ax_tensor *b) {
  cr_assert(a && b && ax_numel(a) == ax_numel(b), "sizes differ");
  double num = 0, den = 1e-30;
  ax_tensor *ac = ax_contiguous(ax_cast(a, AX_F64)), *bc = ax_contiguous(ax_cast(b, AX_F64));
  const double *x = ax_data_ptr(ac), *y = ax_data_ptr(bc);
  for (int64_t i = 0; i < ax_numel(a); i++) {
    num = fmax(num, fabs(x[i] - y[i]));
    den = fmax(den, fabs(y[i]));
  }
  return num / den;
}

static ax_module *load_small(void) {
  ax_module *m = ax_model_gpt(&small);
  cr_assert_not_null(m);
  char err[512];
  cr_assert_eq(ax_gpt_load_weights(m, FIXTURE("gpt_small.safetensors"), err, sizeof err), 0, "%s", err);
  return m;
}

static ax_state_dict *load_ref(void) {
  char err[512];
  ax_state_dict *ref = ax_load_safetensors(FIXTURE("gpt_ref.safetensors"), err, sizeof err);
  cr_assert_not_null(ref, "%s", err);
  return ref;
}

Test(gpt, names_follow_hugging_face) {
  ax_module *m = ax_model_gpt(&small);
  const char *names[64];
  ax_tensor *ts[64];
  int n = ax_module_named_parameters(m, names, ts, 64);
  cr_assert_eq(n, 2 + 2 * 12 + 2, "got %d parameters", n);
  cr_assert_str_eq(names[0], "transformer.wte.weight");
  cr_assert_str_eq(names[1], "transformer.wpe.weight");
  cr_assert_str_eq(names[2], "transformer.h.0.ln_1.weight");
  cr_assert_str_eq(names[4], "transformer.h.0.attn.c_attn.weight");
  cr_assert_eq(ts[4]->shape[0], 16);
  cr_assert_eq(ts[4]->shape[1], 48, "c_attn is stored [in, out]");
  cr_assert_str_eq(names[n - 1], "transformer.ln_f.bias");
  /* 48*16 + 8*16 + 2 * (12*16*16 + 13*16) + 2*16 */
  cr_assert_eq(ax_module_num_parameters(m), 48 * 16 + 8 * 16 + 2 * (12 * 16 * 16 + 13 * 16) + 2 * 16);
  ax_module_free(m);
}

Test(gpt, logits_loss_and_gradients_match_pytorch) {
  ax_module *m = load_small();
  ax_state_dict *ref = load_ref();
  ax_tensor *x = ax_state_dict_get(ref, "x"), *y = ax_state_dict_get(ref, "y");
  ax_tensor *logits = ax_gpt_forward(m, x);
  cr_assert_not_null(logits);
  cr_assert_eq(logits->ndim, 3);
  double e = rel_err(logits, ax_state_dict_get(ref, "logits"));
  cr_assert_leq(e, 1e-4, "logits relative error %g", e);

  ax_tensor *loss = ax_gpt_loss(m, x, y);
  double want = tu_get(ax_state_dict_get(ref, "loss"), 0);
  cr_assert_leq(fabs(ax_item(loss) - want) / want, 1e-5, "loss %.8f vs PyTorch %.8f", ax_item(loss), want);
  /* the fused classifier equals the plain head + cross-entropy */
  ax_tensor *plain = ax_cross_entropy(ax_reshape(logits, AX_SHAPE(-1, 48)), ax_reshape(y, AX_SHAPE(-1)), NULL);
  cr_assert_leq(fabs(ax_item(plain) - ax_item(loss)), 1e-5);

  cr_assert_eq(ax_backward(loss, NULL), 0);
  const char *names[64];
  ax_tensor *ps[64];
  int n = ax_module_named_parameters(m, names, ps, 64);
  for (int i = 0; i < n; i++) {
    char key[300];
    snprintf(key, sizeof key, "grad.%s", names[i]);
    ax_tensor *g = ax_state_dict_get(ref, key);
    cr_assert_not_null(g, "no %s in the fixture", key);
    cr_assert_not_null(ps[i]->grad, "%s has no gradient", names[i]);
    double ge = rel_err(ps[i]->grad, g);
    cr_assert_leq(ge, 1e-4, "%s: gradient relative error %g", names[i], ge);
  }
  ax_state_dict_free(ref);
  ax_module_free(m);
}

Test(gpt, five_adamw_steps_match_pytorch) {
  ax_module *m = load_small();
  ax_state_dict *ref = load_ref();
  ax_tensor *x = ax_state_dict_get(ref, "x"), *y = ax_state_dict_get(ref, "y");
  ax_tensor *want = ax_state_dict_get(ref, "adamw_losses");
  ax_tensor *params[64];
  int n = ax_module_parameters(m, params, 64);
  ax_optimizer *opt = ax_adamw(params, n, &(ax_adam_opts){.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8,
                                                          .weight_decay = 0.1});
  for (int step = 0; step < 5; step++) {
    ax_scope_begin();
    ax_optimizer_zero_grad(opt);
    ax_tensor *loss = ax_gpt_loss(m, x, y);
    double l = ax_item(loss), w = tu_get(want, step);
    cr_assert_leq(fabs(l - w) / w, 1e-5, "step %d: loss %.8f vs PyTorch %.8f", step, l, w);
    cr_assert_eq(ax_backward(loss, NULL), 0);
    cr_assert_eq(ax_optimizer_step(opt), 0);
    ax_scope_end();
  }
  ax_optimizer_free(opt);
  ax_state_dict_free(ref);
  ax_module_free(m);
}

static int64_t argmax_last(ax_tensor *logits) {
  /* logits [1, T, V]: the argmax of the last position */
  ax_tensor *last = ax_narrow(logits, 1, logits->shape[1] - 1, 1);
  return (int64_t)ax_item(ax_argmax(ax_reshape(last, AX_SHAPE(-1)), 0, false));
}

Test(gpt, greedy_decoding_with_and_without_kv_cache_agree) {
  ax_gpt_config c = small;
  c.block_size = 24;
  ax_manual_seed(3);
  ax_module *m = ax_model_gpt(&c);
  ax_module_train(m, false);
  ax_no_grad_begin();
  int64_t toks[24] = {5, 17, 2, 40};
  int n0 = 4, total = 20;
  int64_t full[24], cached[24];
  memcpy(full, toks, sizeof toks);
  memcpy(cached, toks, sizeof toks);
  for (int t = n0; t < total; t++) { /* the whole prefix every time */
    ax_scope_begin();
    ax_tensor *idx = ax_from_data(full, AX_SHAPE(1, t), &(ax_tensor_opts){.dtype = AX_I64});
    full[t] = argmax_last(ax_gpt_forward(m, idx));
    ax_scope_end();
  }
  ax_kv_cache *kv = ax_kv_cache_new(m, 1, 24);
  cr_assert_not_null(kv);
  ax_scope_begin();
  ax_tensor *logits = ax_gpt_forward_cached(m, ax_from_data(cached, AX_SHAPE(1, n0), &(ax_tensor_opts){.dtype = AX_I64}), kv);
  cached[n0] = argmax_last(logits);
  ax_scope_end();
  for (int t = n0 + 1; t < total; t++) { /* one position per token */
    ax_scope_begin();
    logits = ax_gpt_forward_cached(m, ax_from_data(&cached[t - 1], AX_SHAPE(1, 1), &(ax_tensor_opts){.dtype = AX_I64}), kv);
    cr_assert_eq(logits->shape[1], 1);
    cached[t] = argmax_last(logits);
    ax_scope_end();
  }
  cr_assert_eq(ax_kv_cache_len(kv), total - 1);
  for (int t = 0; t < total; t++) cr_assert_eq(cached[t], full[t], "token %d: %lld with the cache, %lld without", t,
                                              (long long)cached[t], (long long)full[t]);
  /* the logits themselves agree too */
  ax_kv_cache_reset(kv);
  ax_tensor *idx = ax_from_data(full, AX_SHAPE(1, total), &(ax_tensor_opts){.dtype = AX_I64});
  ax_tensor *a = ax_gpt_forward(m, idx);
  ax_tensor *b1 = ax_gpt_forward_cached(m, ax_narrow(idx, 1, 0, 7), kv);
  ax_tensor *b2 = ax_gpt_forward_cached(m, ax_narrow(idx, 1, 7, total - 7), kv);
  cr_assert_leq(rel_err(ax_cat((ax_tensor *[]){b1, b2}, 2, 1), a), 1e-5);
  ax_kv_cache_free(kv);
  ax_no_grad_end();
  ax_module_free(m);
}

Test(gpt, save_then_load_keeps_config_and_weights) {
  ax_manual_seed(11);
  ax_module *m = ax_model_gpt(&small);
  char path[] = "/tmp/axon_test_gpt_XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  close(fd);
  char err[512];
  cr_assert_eq(ax_gpt_save(m, path, err, sizeof err), 0, "%s", err);
  ax_module *back = ax_gpt_from_file(path, err, sizeof err);
  cr_assert_not_null(back, "%s", err);
  const ax_gpt_config *c = ax_gpt_config_of(back);
  cr_assert_eq(c->n_head, 2);
  cr_assert_eq(c->vocab_size, 48);
  ax_tensor *idx = ax_from_data((int64_t[]){1, 2, 3}, AX_SHAPE(1, 3), &(ax_tensor_opts){.dtype = AX_I64});
  cr_assert_leq(rel_err(ax_gpt_forward(back, idx), ax_gpt_forward(m, idx)), 0.0);
  remove(path);
  ax_module_free(back);
  ax_module_free(m);
}

Test(gpt, config_is_read_from_the_shapes_of_a_foreign_file) {
  ax_gpt_config c;
  char err[512];
  cr_assert_eq(ax_gpt_config_from_file(FIXTURE("gpt_small.safetensors"), &c, err, sizeof err), 0, "%s", err);
  cr_assert_eq(c.n_layer, 2);
  cr_assert_eq(c.n_embd, 16);
  cr_assert_eq(c.block_size, 8);
  cr_assert_eq(c.vocab_size, 48);
}

Test(gpt, errors_are_clear) {
  ax_module *m = ax_model_gpt(&small);
  /* more positions than the block size */
  int64_t toks[9] = {0};
  cr_assert_null(ax_gpt_forward(m, ax_from_data(toks, AX_SHAPE(1, 9), &(ax_tensor_opts){.dtype = AX_I64})));
  cr_assert(tu_error_contains("9 positions", "block size 8", NULL), "%s", ax_last_error());
  /* weights whose shapes do not fit the model */
  ax_gpt_config wide = small;
  wide.n_embd = 32;
  ax_module *w = ax_model_gpt(&wide);
  char err[1024];
  cr_assert_neq(ax_gpt_load_weights(w, FIXTURE("gpt_small.safetensors"), err, sizeof err), 0);
  cr_assert(strstr(err, "transformer.wte.weight") && strstr(err, "[48, 16]"), "%s", err);
  /* a file that is not a GPT */
  cr_assert_neq(ax_gpt_load_weights(m, FIXTURE("no_such_file.safetensors"), err, sizeof err), 0);
  cr_assert(strstr(err, "no_such_file"), "%s", err);
  /* a bad config */
  ax_gpt_config bad = small;
  bad.n_head = 3;
  cr_assert_null(ax_model_gpt(&bad));
  cr_assert(tu_error_contains("ax_model_gpt", "n_head=3", NULL), "%s", ax_last_error());
  ax_module_free(w);
  ax_module_free(m);
}
