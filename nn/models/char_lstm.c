/* SPDX-License-Identifier: BSD-3-Clause */
/* A character-level LSTM language model over bytes: Embedding(256, E) -> LSTM ->
 * Linear(H, 256). ax_char_lstm_step carries the LSTM states between calls, so text
 * generation feeds one new character per call instead of the whole prefix. */
#include <string.h>

#include "axon.h"

#define VOCAB 256

/* ---------------- the model ---------------- */

static const char OP_STEP[] = "ax_char_lstm_step";

static bool check_tokens(const char *op, ax_tensor *x) {
  if (x->ndim == 2 && (x->dtype == AX_I64 || x->dtype == AX_I32)) return true;
  char buf[128];
  ax_error("%s: expected byte tokens of shape [B, T] (i64 or i32), got %s %s", op, ax_dtype_name(x->dtype),
           ax_shape_str(x, buf, sizeof buf));
  return false;
}

static ax_tensor *char_lstm_run(ax_module *m, const char *op, ax_tensor *x, ax_tensor *h0, ax_tensor *c0,
                                ax_tensor **hn, ax_tensor **cn) {
  if (!check_tokens(op, x)) return NULL;
  ax_tensor *e = ax_module_forward(ax_module_child(m, "embed"), x);
  ax_tensor *y = e ? ax_nn_lstm_forward(ax_module_child(m, "lstm"), e, h0, c0, hn, cn) : NULL;
  return y ? ax_module_forward(ax_module_child(m, "head"), y) : NULL;
}

static ax_tensor *char_lstm_forward(ax_module *m, ax_tensor *x) {
  return char_lstm_run(m, "ax_module_forward", x, NULL, NULL, NULL, NULL);
}

static const ax_module_type char_lstm_type = {"CharLSTM", char_lstm_forward, NULL, NULL};

ax_module *ax_model_char_lstm(int64_t embed, int64_t hidden, int layers, double dropout) {
  if (embed <= 0 || hidden <= 0 || layers <= 0) {
    ax_error("ax_model_char_lstm: embed, hidden and layers must be positive, got %lld, %lld, %d", (long long)embed,
             (long long)hidden, layers);
    return NULL;
  }
  ax_module *m = ax_module_new(&char_lstm_type, 0);
  if (!m) return NULL;
  const ax_nn_rnn_opts o = {.num_layers = layers, .dropout = dropout};
  if (!ax_module_add_child(m, "embed", ax_nn_embedding(VOCAB, embed)) ||
      !ax_module_add_child(m, "lstm", ax_nn_lstm(embed, hidden, &o)) ||
      !ax_module_add_child(m, "head", ax_nn_linear(hidden, VOCAB, true))) {
    ax_module_free(m);
    return NULL;
  }
  return m;
}

ax_tensor *ax_char_lstm_step(ax_module *m, ax_tensor *tokens, ax_tensor **h, ax_tensor **c) {
  if (!m || !tokens || !h || !c) return NULL;
  if (strcmp(ax_module_type_name(m) ? ax_module_type_name(m) : "", char_lstm_type.name) != 0) {
    ax_error("%s: expected a CharLSTM model (ax_model_char_lstm), got %s", OP_STEP, ax_module_type_name(m));
    return NULL;
  }
  /* a scope of our own, so the new states hold exactly the caller's reference whether or
   * not the caller has a scope open (ax_persist adds one; the scope drops its own) */
  ax_scope_begin();
  ax_tensor *hn = NULL, *cn = NULL;
  ax_tensor *logits = char_lstm_run(m, OP_STEP, tokens, *h, *c, &hn, &cn);
  if (!logits || !hn || !cn) {
    ax_scope_end();
    return NULL;
  }
  ax_free(*h);
  ax_free(*c);
  *h = ax_persist(hn);
  *c = ax_persist(cn);
  logits = ax_keep(logits);
  ax_scope_end();
  return logits;
}
