/* SPDX-License-Identifier: BSD-3-Clause */
/* LSTM and GRU layers (torch.nn.LSTM / torch.nn.GRU with batch_first=True).
 *
 * Each layer first projects its whole input sequence with one GEMM (x W_ih^T + b,
 * [B, T, G*H]); the recurrence over time is then ONE autograd node per layer
 * ("lstm_layer" / "gru_layer") whose forward loops over the steps with grad mode off
 * and whose backward walks the steps in reverse (backpropagation through time),
 * both written with public ops so every backend runs them. Why not record the
 * per-step ops instead: each step would take a slice of the sequence-long
 * projection, and a slice's backward allocates and adds a gradient the size of the
 * whole sequence, which makes the backward pass O(T^2). Here the per-step work is
 * one [B, H] x [H, G*H] GEMM and a handful of elementwise ops on [B, H] tensors, and
 * the recurrent weight's gradient is one GEMM over all steps at the end.
 *
 * Layer node layouts: an LSTM layer's output is z [2, B, T, H] (h_t in z[0], c_t in
 * z[1], so the layer output z[0] is contiguous); a GRU layer's is z [B, T, H]. The
 * saved activations act [B, T, 4H] are the LSTM gates (i, f, g, o) after their
 * nonlinearities, or the GRU's (r, z, n, W_hn h + b_hn). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

/* ---------------- views and small helpers (all run with grad mode off) ---------------- */

static ax_tensor *at(ax_tensor *x, int dim, int64_t i) { return ax_squeeze(ax_narrow(x, dim, i, 1), dim); }
static ax_tensor *step(ax_tensor *x, int64_t t) { return at(x, 1, t); } /* [B, T, K] -> [B, K] */
static ax_tensor *cols(ax_tensor *x, int64_t start, int64_t n) { return ax_narrow(x, -1, start, n); }
static ax_tensor *dsigmoid(ax_tensor *s) { return ax_mul(s, ax_rsub_scalar(s, 1)); }     /* s (1 - s) */
static ax_tensor *dtanh(ax_tensor *y) { return ax_rsub_scalar(ax_square(y), 1); }        /* 1 - y^2 */
static bool put(ax_tensor *dst, ax_tensor *src) { return ax_copy_(dst, src) == 0; }

static bool put_zero(ax_tensor *dst) {
  ax_tensor *z = ax_scalar(0, &(ax_tensor_opts){.dtype = dst->dtype, .device = dst->device});
  return put(dst, z);
}

static ax_tensor *new_like(ax_tensor *like, int ndim, const int64_t *shape) {
  return ax_empty(ndim, shape, &(ax_tensor_opts){.dtype = like->dtype, .device = like->device});
}

/* Gradient of the recurrent weight: sum over b, t of dpre[b, t]^T h_{t-1}[b], where
 * h_{-1} = h0 (a zero state when NULL, which contributes nothing). dpre [B, T, G],
 * hs [B, T, H] (the layer's h_t). */
static ax_tensor *recurrent_weight_grad(ax_tensor *dpre, ax_tensor *hs, ax_tensor *h0) {
  int64_t B = dpre->shape[0], T = dpre->shape[1], G = dpre->shape[2], H = hs->shape[2];
  ax_tensor *hprev;
  if (h0) {
    ax_tensor *parts[2] = {ax_unsqueeze(h0, 1), ax_narrow(hs, 1, 0, T - 1)};
    hprev = ax_cat(parts, 2, 1);
  } else {
    if (T == 1) return ax_zeros(AX_SHAPE(G, H), &(ax_tensor_opts){.dtype = dpre->dtype, .device = dpre->device});
    dpre = ax_narrow(dpre, 1, 1, T - 1);
    hprev = ax_narrow(hs, 1, 0, T - 1);
    T--;
  }
  ax_tensor *d2 = ax_reshape(dpre, AX_SHAPE(B * T, G)), *h2 = ax_reshape(hprev, AX_SHAPE(B * T, H));
  return ax_matmul(ax_transpose(d2, 0, 1), h2);
}

/* ---------------- the LSTM layer node ---------------- */

static void lstm_backward(ax_node *n, ax_tensor *g) {
  ax_tensor *act = n->saved[0], *w = n->saved[1], *h0 = n->saved[2], *c0 = n->saved[3], *z = n->output;
  int64_t B = act->shape[0], T = act->shape[1], H = w->shape[1];
  ax_tensor *dxp = new_like(act, AX_SHAPE(B, T, 4 * H));
  ax_tensor *dh = new_like(act, AX_SHAPE(B, H)), *dc = new_like(act, AX_SHAPE(B, H)); /* from step t + 1 */
  ax_tensor *gh = at(g, 0, 0), *gc = at(g, 0, 1), *hs = at(z, 0, 0), *cs = at(z, 0, 1);
  if (!dxp || !dh || !dc || !gh || !gc || !hs || !cs) return;
  bool ok = true;
  for (int64_t t = T - 1; t >= 0 && ok; t--) {
    ax_scope_begin();
    ax_tensor *a = step(act, t), *d = step(dxp, t), *cprev = t ? step(cs, t - 1) : c0;
    ax_tensor *i = cols(a, 0, H), *f = cols(a, H, H), *gg = cols(a, 2 * H, H), *o = cols(a, 3 * H, H);
    ax_tensor *dht = step(gh, t), *dct = step(gc, t);
    if (t < T - 1) {
      dht = ax_add(dht, dh);
      dct = ax_add(dct, dc);
    }
    ax_tensor *tc = ax_tanh(step(cs, t));
    dct = ax_add(dct, ax_mul(ax_mul(dht, o), dtanh(tc)));
    ok = put(cols(d, 0, H), ax_mul(ax_mul(dct, gg), dsigmoid(i))) &&
         (cprev ? put(cols(d, H, H), ax_mul(ax_mul(dct, cprev), dsigmoid(f))) : put_zero(cols(d, H, H))) &&
         put(cols(d, 2 * H, H), ax_mul(ax_mul(dct, i), dtanh(gg))) &&
         put(cols(d, 3 * H, H), ax_mul(ax_mul(dht, tc), dsigmoid(o))) &&
         ((t == 0 && !h0) || put(dh, ax_matmul(d, w))) && ((t == 0 && !c0) || put(dc, ax_mul(dct, f)));
    ax_scope_end();
  }
  if (!ok) return;
  ax__accumulate(n, 0, dxp);
  if (ax__input_needs_grad(n, 1)) ax__accumulate(n, 1, recurrent_weight_grad(dxp, hs, h0));
  if (ax__input_needs_grad(n, 2)) ax__accumulate(n, 2, dh);
  if (ax__input_needs_grad(n, 3)) ax__accumulate(n, 3, dc);
}

/* xp [B, T, 4H] (the input projection plus both biases), w_hh [4H, H], h0 / c0 [B, H] or
 * NULL (zeros). Returns z [2, B, T, H]. */
static ax_tensor *lstm_layer(ax_tensor *xp, ax_tensor *w_hh, ax_tensor *h0, ax_tensor *c0) {
  int64_t B = xp->shape[0], T = xp->shape[1], H = w_hh->shape[1];
  ax_tensor *z = new_like(xp, AX_SHAPE(2, B, T, H)), *act = new_like(xp, AX_SHAPE(B, T, 4 * H));
  if (!z || !act) return NULL;
  ax_no_grad_begin();
  ax_tensor *w_t = ax_transpose(w_hh, 0, 1), *hs = at(z, 0, 0), *cs = at(z, 0, 1);
  bool ok = w_t && hs && cs;
  for (int64_t t = 0; t < T && ok; t++) {
    ax_scope_begin();
    ax_tensor *h = t ? step(hs, t - 1) : h0, *c = t ? step(cs, t - 1) : c0;
    ax_tensor *gates = step(xp, t), *a = step(act, t);
    if (h) gates = ax_add(gates, ax_matmul(h, w_t));
    ok = put(a, ax_sigmoid(gates)) && put(cols(a, 2 * H, H), ax_tanh(cols(gates, 2 * H, H)));
    if (ok) {
      ax_tensor *cn = ax_mul(cols(a, 0, H), cols(a, 2 * H, H));
      if (c) cn = ax_add(cn, ax_mul(cols(a, H, H), c));
      ok = put(step(cs, t), cn) && put(step(hs, t), ax_mul(cols(a, 3 * H, H), ax_tanh(cn)));
    }
    ax_scope_end();
  }
  ax_no_grad_end();
  if (!ok) return NULL;
  ax_node *n = ax__record(z, "lstm_layer", lstm_backward, 4, (ax_tensor *[]){xp, w_hh, h0, c0});
  if (n) {
    ax__save(n, 0, act);
    ax__save(n, 1, w_hh);
    ax__save(n, 2, h0);
    ax__save(n, 3, c0);
  }
  return z;
}

/* ---------------- the GRU layer node ---------------- */

static void gru_backward(ax_node *n, ax_tensor *g) {
  ax_tensor *act = n->saved[0], *w = n->saved[1], *h0 = n->saved[2], *z = n->output;
  int64_t B = act->shape[0], T = act->shape[1], H = w->shape[1];
  ax_tensor *dxp = new_like(act, AX_SHAPE(B, T, 3 * H)), *dhp = new_like(act, AX_SHAPE(B, T, 3 * H));
  ax_tensor *dh = new_like(act, AX_SHAPE(B, H)); /* from step t + 1 */
  if (!dxp || !dhp || !dh) return;
  bool ok = true;
  for (int64_t t = T - 1; t >= 0 && ok; t--) {
    ax_scope_begin();
    ax_tensor *a = step(act, t), *d = step(dxp, t), *dp = step(dhp, t), *hprev = t ? step(z, t - 1) : h0;
    ax_tensor *r = cols(a, 0, H), *u = cols(a, H, H), *nn = cols(a, 2 * H, H), *hn = cols(a, 3 * H, H);
    ax_tensor *dht = step(g, t);
    if (t < T - 1) dht = ax_add(dht, dh);
    ax_tensor *dn = ax_mul(ax_mul(dht, ax_rsub_scalar(u, 1)), dtanh(nn)); /* through tanh */
    ax_tensor *diff = hprev ? ax_sub(hprev, nn) : ax_neg(nn);
    ok = put(cols(d, 0, H), ax_mul(ax_mul(dn, hn), dsigmoid(r))) &&
         put(cols(d, H, H), ax_mul(ax_mul(dht, diff), dsigmoid(u))) && put(cols(d, 2 * H, H), dn) &&
         put(cols(dp, 0, 2 * H), cols(d, 0, 2 * H)) && put(cols(dp, 2 * H, H), ax_mul(dn, r)) &&
         ((t == 0 && !h0) || put(dh, ax_add(ax_mul(dht, u), ax_matmul(dp, w))));
    ax_scope_end();
  }
  if (!ok) return;
  ax__accumulate(n, 0, dxp);
  if (ax__input_needs_grad(n, 1)) ax__accumulate(n, 1, recurrent_weight_grad(dhp, z, h0));
  if (ax__input_needs_grad(n, 2)) ax__accumulate(n, 2, ax_sum(dhp, AX_DIMS(0, 1), false));
  if (ax__input_needs_grad(n, 3)) ax__accumulate(n, 3, dh);
}

/* xp [B, T, 3H] (W_ih x + b_ih), w_hh [3H, H], b_hh [3H] or NULL, h0 [B, H] or NULL.
 * Returns z [B, T, H]. */
static ax_tensor *gru_layer(ax_tensor *xp, ax_tensor *w_hh, ax_tensor *b_hh, ax_tensor *h0) {
  int64_t B = xp->shape[0], T = xp->shape[1], H = w_hh->shape[1];
  ax_tensor *z = new_like(xp, AX_SHAPE(B, T, H)), *act = new_like(xp, AX_SHAPE(B, T, 4 * H));
  if (!z || !act) return NULL;
  ax_no_grad_begin();
  bool ok = true;
  for (int64_t t = 0; t < T && ok; t++) {
    ax_scope_begin();
    ax_tensor *h = t ? step(z, t - 1) : h0, *x = step(xp, t), *a = step(act, t);
    ax_tensor *hp = h ? ax_linear(h, w_hh, b_hh) : b_hh; /* W_hh h + b_hh: [B, 3H], [3H] or none */
    ax_tensor *rz = cols(x, 0, 2 * H);
    if (hp) rz = ax_add(rz, cols(hp, 0, 2 * H));
    ok = put(cols(a, 0, 2 * H), ax_sigmoid(rz)) &&
         (hp ? put(cols(a, 3 * H, H), cols(hp, 2 * H, H)) : put_zero(cols(a, 3 * H, H))) &&
         put(cols(a, 2 * H, H), ax_tanh(ax_add(cols(x, 2 * H, H), ax_mul(cols(a, 0, H), cols(a, 3 * H, H)))));
    if (ok) {
      ax_tensor *nn = cols(a, 2 * H, H), *u = cols(a, H, H);
      ok = put(step(z, t), h ? ax_add(nn, ax_mul(u, ax_sub(h, nn))) : ax_sub(nn, ax_mul(u, nn)));
    }
    ax_scope_end();
  }
  ax_no_grad_end();
  if (!ok) return NULL;
  ax_node *n = ax__record(z, "gru_layer", gru_backward, 4, (ax_tensor *[]){xp, w_hh, b_hh, h0});
  if (n) {
    ax__save(n, 0, act);
    ax__save(n, 1, w_hh);
    ax__save(n, 2, h0);
  }
  return z;
}

/* ---------------- the modules ---------------- */

enum { RNN_LSTM, RNN_GRU };

typedef struct rnn_impl {
  int kind, layers;
  int64_t input_size, hidden;
  bool bias;
  double dropout;
  ax_tensor **params; /* per layer: weight_ih, weight_hh, bias_ih, bias_hh (NULL without bias) */
} rnn_impl;

static int gates_of(int kind) { return kind == RNN_LSTM ? 4 : 3; }

static bool check_state(const char *op, const char *what, ax_tensor *s, const rnn_impl *p, ax_tensor *x) {
  if (!s) return true;
  if (s->ndim != 3 || s->shape[0] != p->layers || s->shape[1] != x->shape[0] || s->shape[2] != p->hidden) {
    ax_error("%s: expected %s of shape %s (num_layers, batch, hidden_size), got %s", op, what,
             ax__shp_raw(3, (int64_t[]){p->layers, x->shape[0], p->hidden}), ax__shp(s));
    return false;
  }
  if (s->dtype != x->dtype || !ax_device_eq(s->device, x->device)) {
    ax_error("%s: %s is %s %s on %s but x is %s on %s", op, what, ax_dtype_name(s->dtype), ax__shp(s),
             ax__dev(s->device), ax_dtype_name(x->dtype), ax__dev(x->device));
    return false;
  }
  return true;
}

static bool check_input(const char *op, ax_module *m, int kind, ax_tensor *x, ax_tensor *h0, ax_tensor *c0) {
  const rnn_impl *p = ax_module_impl(m);
  if (p->kind != kind) {
    ax_error("%s: the module is a %s", op, ax_module_type_name(m));
    return false;
  }
  if (x->ndim != 3 || x->shape[2] != p->input_size || x->shape[0] < 1 || x->shape[1] < 1) {
    ax_error("%s: expected x of shape [batch, seq_len, %lld] (batch_first, both positive), got %s", op,
             (long long)p->input_size, ax__shp(x));
    return false;
  }
  ax_tensor *w = p->params[0];
  if (x->dtype != w->dtype || !ax_device_eq(x->device, w->device)) {
    ax_error("%s: x is %s %s on %s but the parameters are %s on %s", op, ax_dtype_name(x->dtype), ax__shp(x),
             ax__dev(x->device), ax_dtype_name(w->dtype), ax__dev(w->device));
    return false;
  }
  return check_state(op, "h0", h0, p, x) && check_state(op, "c0", c0, p, x);
}

static ax_tensor *rnn_run(ax_module *m, const char *op, int kind, ax_tensor *x, ax_tensor *h0, ax_tensor *c0,
                          ax_tensor **hn, ax_tensor **cn) {
  if (hn) *hn = NULL;
  if (cn) *cn = NULL;
  if (!m || !x) return NULL;
  if (!check_input(op, m, kind, x, h0, c0)) return NULL;
  const rnn_impl *p = ax_module_impl(m);
  int L = p->layers;
  int64_t T = x->shape[1];
  ax_tensor **last = calloc((size_t)(2 * L), sizeof *last); /* h_T, c_T per layer */
  if (!last) {
    ax_error("%s: out of host memory", op);
    return NULL;
  }
  ax_tensor *in = x, *y = NULL;
  for (int l = 0; l < L && in; l++) {
    ax_tensor *const *w = p->params + 4 * l;
    ax_tensor *hl = h0 ? at(h0, 0, l) : NULL, *cl = c0 ? at(c0, 0, l) : NULL;
    if (kind == RNN_LSTM) {
      ax_tensor *xp = ax_linear(in, w[0], p->bias ? ax_add(w[2], w[3]) : NULL);
      ax_tensor *z = xp ? lstm_layer(xp, w[1], hl, cl) : NULL;
      y = z ? at(z, 0, 0) : NULL;
      last[L + l] = z ? step(at(z, 0, 1), T - 1) : NULL;
    } else {
      ax_tensor *xp = ax_linear(in, w[0], w[2]);
      y = xp ? gru_layer(xp, w[1], w[3], hl) : NULL;
    }
    last[l] = y ? step(y, T - 1) : NULL;
    in = l + 1 < L ? ax_dropout(y, p->dropout, ax_module_is_training(m)) : y;
  }
  if (y && hn) *hn = ax_stack(last, L, 0);
  if (y && cn && kind == RNN_LSTM) *cn = ax_stack(last + L, L, 0);
  free(last);
  return y;
}

ax_tensor *ax_nn_lstm_forward(ax_module *m, ax_tensor *x, ax_tensor *h0, ax_tensor *c0, ax_tensor **hn,
                              ax_tensor **cn) {
  return rnn_run(m, "ax_nn_lstm_forward", RNN_LSTM, x, h0, c0, hn, cn);
}

ax_tensor *ax_nn_gru_forward(ax_module *m, ax_tensor *x, ax_tensor *h0, ax_tensor **hn) {
  return rnn_run(m, "ax_nn_gru_forward", RNN_GRU, x, h0, NULL, hn, NULL);
}

static ax_tensor *lstm_module_forward(ax_module *m, ax_tensor *x) {
  return ax_nn_lstm_forward(m, x, NULL, NULL, NULL, NULL);
}
static ax_tensor *gru_module_forward(ax_module *m, ax_tensor *x) { return ax_nn_gru_forward(m, x, NULL, NULL); }

static void rnn_free(ax_module *m) { free(((rnn_impl *)ax_module_impl(m))->params); }

/* PyTorch's RNNBase.extra_repr for batch_first=True */
static void rnn_repr(const ax_module *m, char *buf, size_t n) {
  const rnn_impl *p = ax_module_impl(m);
  size_t len = (size_t)snprintf(buf, n, "%lld, %lld", (long long)p->input_size, (long long)p->hidden);
#define APPEND(...) len += (size_t)snprintf(buf + (len < n ? len : n), len < n ? n - len : 0, __VA_ARGS__)
  if (p->layers != 1) APPEND(", num_layers=%d", p->layers);
  if (!p->bias) APPEND(", bias=False");
  APPEND(", batch_first=True");
  if (p->dropout != 0) APPEND(", dropout=%g", p->dropout);
#undef APPEND
}

static const ax_module_type lstm_type = {"LSTM", lstm_module_forward, rnn_free, rnn_repr};
static const ax_module_type gru_type = {"GRU", gru_module_forward, rnn_free, rnn_repr};

static ax_module *make_rnn(const char *op, int kind, int64_t input_size, int64_t hidden, const ax_nn_rnn_opts *opts) {
  ax_nn_rnn_opts o = opts ? *opts : (ax_nn_rnn_opts){0};
  int layers = o.num_layers ? o.num_layers : 1;
  if (input_size <= 0 || hidden <= 0 || layers < 1 || !(o.dropout >= 0 && o.dropout <= 1)) {
    ax_error("%s: input_size, hidden_size and num_layers must be positive and dropout in [0, 1], got "
             "input_size=%lld, hidden_size=%lld, num_layers=%d, dropout=%g",
             op, (long long)input_size, (long long)hidden, o.num_layers, o.dropout);
    return NULL;
  }
  ax_module *m = ax_module_new(kind == RNN_LSTM ? &lstm_type : &gru_type, sizeof(rnn_impl));
  if (!m) return NULL;
  rnn_impl *p = ax_module_impl(m);
  *p = (rnn_impl){.kind = kind, .layers = layers, .input_size = input_size, .hidden = hidden, .bias = !o.no_bias,
                  .dropout = o.dropout, .params = calloc((size_t)(4 * layers), sizeof(ax_tensor *))};
  bool ok = p->params != NULL;
  double bound = 1.0 / sqrt((double)hidden);
  int64_t gh = gates_of(kind) * hidden;
  static const char *const names[4] = {"weight_ih_l%d", "weight_hh_l%d", "bias_ih_l%d", "bias_hh_l%d"};
  for (int l = 0; l < layers && ok; l++) {
    for (int k = 0; k < (p->bias ? 4 : 2) && ok; k++) {
      char name[32];
      snprintf(name, sizeof name, names[k], l);
      int64_t in = k == 0 ? (l ? hidden : input_size) : hidden;
      ax_tensor *t = k < 2 ? ax_module_new_parameter(m, name, AX_SHAPE(gh, in))
                           : ax_module_new_parameter(m, name, AX_SHAPE(gh));
      p->params[4 * l + k] = t;
      ok = t && ax_init_uniform_(t, -bound, bound) == 0;
    }
  }
  if (!ok) {
    ax_module_free(m);
    return NULL;
  }
  return m;
}

ax_module *ax_nn_lstm(int64_t input_size, int64_t hidden_size, const ax_nn_rnn_opts *o) {
  return make_rnn("ax_nn_lstm", RNN_LSTM, input_size, hidden_size, o);
}

ax_module *ax_nn_gru(int64_t input_size, int64_t hidden_size, const ax_nn_rnn_opts *o) {
  return make_rnn("ax_nn_gru", RNN_GRU, input_size, hidden_size, o);
}
