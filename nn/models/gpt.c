/* SPDX-License-Identifier: BSD-3-Clause */
/* GPT-2: token and position embeddings, N pre-LayerNorm blocks, a final
 * LayerNorm and a head tied to the token embedding; Hugging Face's names
 * (see include/axon/transformer.h), a KV cache for generation, and weight
 * files that carry the config in their metadata. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon.h"
#include "nn/transformer_internal.h"
#include "core/fail.h"

typedef struct gpt_impl {
  ax_gpt_config cfg;
  ax_module *transformer, *wte, *wpe, *h, *ln_f;
} gpt_impl;

struct ax_kv_cache {
  ax_module *gpt;
  int n_layer;
  int64_t batch, max_len, len;
  ax_tensor **k, **v; /* [B, H, max_len, D] per layer, persistent */
};

ax_gpt_config ax_gpt_config_default(void) {
  return (ax_gpt_config){.n_layer = 4, .n_head = 4, .n_embd = 256, .block_size = 128, .vocab_size = 256};
}

ax_gpt_config ax_gpt_config_gpt2(void) {
  return (ax_gpt_config){.n_layer = 12, .n_head = 12, .n_embd = 768, .block_size = 1024, .vocab_size = 50257};
}

static ax_tensor *gpt_logits(gpt_impl *p, ax_tensor *x) {
  /* the tied head: x wte^T */
  return ax_linear(x, ax_module_tensor(p->wte, "weight"), NULL);
}

/* Hidden states after ln_f for tokens idx at positions pos .. pos+T-1. */
static ax_tensor *gpt_hidden(ax_module *m, ax_tensor *idx, ax_kv_cache *cache) {
  gpt_impl *p = ax_module_impl(m);
  if (!idx) return NULL;
  if (idx->ndim != 2 || (idx->dtype != AX_I64 && idx->dtype != AX_I32)) {
    ax_error("GPT: expected token indices i64 [B, T], got %s %s", ax_dtype_name(idx->dtype),
             ax_shape_str(idx, (char[64]){0}, 64));
    return NULL;
  }
  int64_t T = idx->shape[1], pos = cache ? cache->len : 0;
  if (pos + T > p->cfg.block_size) {
    ax_error("GPT: %lld positions do not fit the block size %lld", (long long)(pos + T), (long long)p->cfg.block_size);
    return NULL;
  }
  if (cache && (pos + T > cache->max_len || idx->shape[0] != cache->batch)) {
    ax_error("GPT: the KV cache holds [%lld, %lld] positions, asked for batch %lld up to position %lld",
             (long long)cache->batch, (long long)cache->max_len, (long long)idx->shape[0], (long long)(pos + T));
    return NULL;
  }
  ax_tensor *positions = ax_arange((double)pos, (double)(pos + T), 1.0, &(ax_tensor_opts){.dtype = AX_I64, .device = idx->device});
  ax_tensor *x = ax_add(ax_module_forward(p->wte, idx), ax_module_forward(p->wpe, positions));
  if (ax_module_is_training(m) && p->cfg.dropout > 0) x = ax_dropout(x, p->cfg.dropout, true);
  int n = ax_module_num_children(p->h);
  for (int i = 0; i < n && x; i++)
    x = ax__block_run(ax_module_child_at(p->h, i), x, cache ? cache->k[i] : NULL, cache ? cache->v[i] : NULL, pos);
  x = ax_module_forward(p->ln_f, x);
  if (x && cache) cache->len = pos + T;
  return x;
}

ax_tensor *ax_gpt_forward(ax_module *gpt, ax_tensor *idx) {
  if (!ax_gpt_config_of(gpt)) return NULL;
  return gpt_logits(ax_module_impl(gpt), gpt_hidden(gpt, idx, NULL));
}

static ax_tensor *gpt_module_forward(ax_module *m, ax_tensor *idx) { return ax_gpt_forward(m, idx); }

ax_tensor *ax_gpt_loss(ax_module *gpt, ax_tensor *idx, ax_tensor *targets) {
  if (!ax_gpt_config_of(gpt) || !idx || !targets) return NULL;
  if (!ax_same_shape(idx, targets)) {
    ax_error("ax_gpt_loss: targets %s must have the shape of the tokens %s", ax_shape_str(targets, (char[64]){0}, 64),
             ax_shape_str(idx, (char[64]){0}, 64));
    return NULL;
  }
  gpt_impl *p = ax_module_impl(gpt);
  ax_tensor *h = gpt_hidden(gpt, idx, NULL);
  ax_tensor *loss = h ? ax_classifier_cross_entropy(ax_reshape(h, AX_SHAPE(-1, p->cfg.n_embd)),
                                                     ax_module_tensor(p->wte, "weight"), NULL,
                                                     ax_reshape(targets, AX_SHAPE(-1)), NULL)
                      : NULL;
  return loss;
}

double ax_gpt_flops_per_token(const ax_gpt_config *c, int64_t seq_len) {
  double C = (double)c->n_embd, L = (double)c->n_layer;
  double params = (double)c->vocab_size * C + L * (12.0 * C * C + 13.0 * C) + 2.0 * C; /* wpe left out */
  return 6.0 * params + 12.0 * L * C * (double)seq_len;
}

static void gpt_repr(const ax_module *m, char *buf, size_t n) {
  const gpt_impl *p = ax_module_impl(m);
  snprintf(buf, n, "n_layer=%lld, n_head=%lld, n_embd=%lld, block_size=%lld, vocab_size=%lld, dropout=%g",
           (long long)p->cfg.n_layer, (long long)p->cfg.n_head, (long long)p->cfg.n_embd, (long long)p->cfg.block_size,
           (long long)p->cfg.vocab_size, p->cfg.dropout);
}

static const ax_module_type gpt_type = {"GPT2LMHeadModel", gpt_module_forward, NULL, gpt_repr};
static const ax_module_type gpt_body_type = {"GPT2Model", NULL, NULL, NULL};

const ax_gpt_config *ax_gpt_config_of(ax_module *gpt) {
  if (!gpt || strcmp(ax_module_type_name(gpt), gpt_type.name) != 0) {
    ax_error("expected a GPT model, got %s", gpt ? ax_module_type_name(gpt) : "NULL");
    return NULL;
  }
  return &((gpt_impl *)ax_module_impl(gpt))->cfg;
}

int ax_gpt_config_check(const ax_gpt_config *c, char *err, size_t errlen) {
  static const char *const names[] = {"n_layer", "n_head", "n_embd", "block_size", "vocab_size"};
  const int64_t v[] = {c->n_layer, c->n_head, c->n_embd, c->block_size, c->vocab_size};
  const int64_t max[] = {AX_GPT_MAX_LAYERS, AX_GPT_MAX_HEADS, AX_GPT_MAX_EMBD, AX_GPT_MAX_BLOCK, AX_GPT_MAX_VOCAB};
  for (int i = 0; i < 5; i++)
    if (v[i] < 1 || v[i] > max[i]) {
      ax__fail(err, errlen, "%s=%lld is outside [1, %lld]", names[i], (long long)v[i], (long long)max[i]);
      return -1;
    }
  if (c->n_embd % c->n_head) {
    ax__fail(err, errlen, "n_embd=%lld is not a multiple of n_head=%lld", (long long)c->n_embd,
               (long long)c->n_head);
    return -1;
  }
  if (!(c->dropout >= 0 && c->dropout < 1)) {
    ax__fail(err, errlen, "dropout=%g is outside [0, 1)", c->dropout);
    return -1;
  }
  double E = (double)c->n_embd, params = (double)(c->vocab_size + c->block_size) * E + (double)c->n_layer * 12 * E * E;
  if (params > AX_GPT_MAX_PARAMS) {
    ax__fail(err, errlen, "%.3g parameters (n_layer x 12 n_embd^2 + embeddings) exceed the limit %.0e",
                                params, AX_GPT_MAX_PARAMS);
    return -1;
  }
  return 0;
}

ax_module *ax_model_gpt(const ax_gpt_config *c) {
  ax_gpt_config cfg = c ? *c : ax_gpt_config_default();
  char why[256];
  if (ax_gpt_config_check(&cfg, why, sizeof why)) {
    ax_error("ax_model_gpt: bad config: %s", why);
    return NULL;
  }
  ax_module *m = ax_module_new(&gpt_type, sizeof(gpt_impl));
  if (!m) return NULL;
  gpt_impl *p = ax_module_impl(m);
  p->cfg = cfg;
  p->transformer = ax_module_add_child(m, "transformer", ax_module_new(&gpt_body_type, 0));
  bool ok = p->transformer != NULL;
  if (ok) {
    p->wte = ax_module_add_child(p->transformer, "wte", ax_nn_embedding(cfg.vocab_size, cfg.n_embd));
    p->wpe = ax_module_add_child(p->transformer, "wpe", ax_nn_embedding(cfg.block_size, cfg.n_embd));
    p->h = ax_module_add_child(p->transformer, "h", ax_nn_sequential(0));
    ok = p->wte && p->wpe && p->h;
  }
  ax_nn_attention_opts ao = {.causal = true, .dropout = cfg.dropout};
  for (int64_t i = 0; ok && i < cfg.n_layer; i++) ok = ax_nn_sequential_add(p->h, ax_nn_transformer_block(cfg.n_embd, cfg.n_head, &ao)) != NULL;
  if (ok) p->ln_f = ax_module_add_child(p->transformer, "ln_f", ax_nn_layer_norm(cfg.n_embd, 1e-5, true));
  ok = ok && p->ln_f;
  /* GPT-2's init: N(0, 0.02) everywhere (Conv1D does this), residual projections scaled
   * by 1/sqrt(2 n_layer), embeddings N(0, 0.02) (PyTorch's Embedding default is N(0, 1)) */
  ok = ok && !ax_init_normal_(ax_module_tensor(p->wte, "weight"), 0.0, 0.02) &&
       !ax_init_normal_(ax_module_tensor(p->wpe, "weight"), 0.0, 0.02);
  double proj_std = 0.02 / sqrt(2.0 * (double)cfg.n_layer);
  for (int64_t i = 0; ok && i < cfg.n_layer; i++) {
    ax_module *b = ax_module_child_at(p->h, (int)i);
    ok = !ax_init_normal_(ax_module_tensor(b, "attn.c_proj.weight"), 0.0, proj_std) &&
         !ax_init_normal_(ax_module_tensor(b, "mlp.c_proj.weight"), 0.0, proj_std);
  }
  if (!ok) {
    ax_module_free(m);
    return NULL;
  }
  return m;
}

/* ---------------- KV cache ---------------- */

ax_kv_cache *ax_kv_cache_new(ax_module *gpt, int64_t batch, int64_t max_len) {
  const ax_gpt_config *c = ax_gpt_config_of(gpt);
  if (!c) return NULL;
  if (batch < 1 || max_len < 1 || max_len > c->block_size) {
    ax_error("ax_kv_cache_new: batch %lld and max_len %lld must be positive, max_len at most the block size %lld",
             (long long)batch, (long long)max_len, (long long)c->block_size);
    return NULL;
  }
  ax_kv_cache *kv = calloc(1, sizeof *kv);
  if (!kv) return NULL;
  kv->gpt = gpt;
  kv->n_layer = (int)c->n_layer;
  kv->batch = batch;
  kv->max_len = max_len;
  kv->k = calloc((size_t)kv->n_layer, sizeof *kv->k);
  kv->v = calloc((size_t)kv->n_layer, sizeof *kv->v);
  ax_tensor *w = ax_module_tensor(((gpt_impl *)ax_module_impl(gpt))->wte, "weight");
  ax_tensor_opts o = {.dtype = w->dtype, .device = w->device};
  bool ok = kv->k && kv->v;
  /* inside a scope of our own: the scope drops its reference and ax_persist's stays
   * (with no scope open the creation reference would be the caller's, and leak) */
  ax_scope_begin();
  for (int i = 0; ok && i < kv->n_layer; i++) {
    kv->k[i] = ax_persist(ax_zeros(AX_SHAPE(batch, c->n_head, max_len, c->n_embd / c->n_head), &o));
    kv->v[i] = ax_persist(ax_zeros(AX_SHAPE(batch, c->n_head, max_len, c->n_embd / c->n_head), &o));
    ok = kv->k[i] && kv->v[i];
  }
  ax_scope_end();
  if (!ok) {
    ax_kv_cache_free(kv);
    return NULL;
  }
  return kv;
}

void ax_kv_cache_free(ax_kv_cache *c) {
  if (!c) return;
  for (int i = 0; i < c->n_layer; i++) {
    if (c->k) ax_free(c->k[i]);
    if (c->v) ax_free(c->v[i]);
  }
  free(c->k);
  free(c->v);
  free(c);
}

void ax_kv_cache_reset(ax_kv_cache *c) {
  if (c) c->len = 0;
}

int64_t ax_kv_cache_len(const ax_kv_cache *c) { return c ? c->len : 0; }

ax_tensor *ax_gpt_forward_cached(ax_module *gpt, ax_tensor *idx, ax_kv_cache *c) {
  if (!ax_gpt_config_of(gpt) || !c) return NULL;
  if (c->gpt != gpt) {
    ax_error("ax_gpt_forward_cached: the KV cache was made for another model");
    return NULL;
  }
  return gpt_logits(ax_module_impl(gpt), gpt_hidden(gpt, idx, c));
}

/* ---------------- files ---------------- */

static const char *const config_keys[] = {"gpt.n_layer", "gpt.n_head", "gpt.n_embd", "gpt.block_size", "gpt.vocab_size"};

static int64_t *config_field(ax_gpt_config *c, int i) {
  int64_t *f[] = {&c->n_layer, &c->n_head, &c->n_embd, &c->block_size, &c->vocab_size};
  return f[i];
}

int ax_gpt_save(ax_module *gpt, const char *path, char *err, size_t errlen) {
  const ax_gpt_config *c = ax_gpt_config_of(gpt);
  if (!c) return ax__fail(err, errlen, "%s", ax_last_error());
  ax_state_dict *sd = ax_state_dict_new();
  int rc = ax_module_state_dict(gpt, sd);
  ax_gpt_config cc = *c;
  char v[32];
  for (int i = 0; rc == 0 && i < 5; i++) {
    snprintf(v, sizeof v, "%lld", (long long)*config_field(&cc, i));
    rc = ax_state_dict_set_meta(sd, config_keys[i], v);
  }
  if (rc == 0) rc = ax_state_dict_set_meta(sd, "axon_model", "gpt");
  if (rc == 0) rc = ax_save_safetensors(path, sd, err, errlen);
  else ax__fail(err, errlen, "%s: could not collect the weights", path);
  ax_state_dict_free(sd);
  return rc;
}

static bool skipped_name(const char *n) {
  size_t len = strlen(n);
  return !strcmp(n, "lm_head.weight") || (len > 10 && !strcmp(n + len - 10, ".attn.bias")) ||
         (len > 17 && !strcmp(n + len - 17, ".attn.masked_bias"));
}

/* name with the "transformer." prefix (Hugging Face's GPT2Model files lack it) */
static void canonical_name(const char *n, char *out, size_t len) {
  if (!strncmp(n, "transformer.", 12)) snprintf(out, len, "%s", n);
  else snprintf(out, len, "transformer.%s", n);
}

int ax_gpt_config_from_file(const char *path, ax_gpt_config *c, char *err, size_t errlen) {
  ax_state_dict *sd = ax_load_safetensors(path, err, errlen);
  if (!sd) return -1;
  *c = (ax_gpt_config){0};
  int found = 0, rc = -1;
  for (int i = 0; i < 5; i++) {
    const char *v = ax_state_dict_meta(sd, config_keys[i]);
    if (!v) continue;
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || errno) {
      ax__fail(err, errlen, "%s: metadata %s = '%.40s' is not a whole number", path, config_keys[i], v);
      goto out;
    }
    *config_field(c, i) = x;
    found++;
  }
  /* what the tensors say: wte [V, E], wpe [T, E], blocks h.0 .. h.{L-1} */
  ax_gpt_config t = {0};
  int64_t wte_e = 0, wpe_e = 0;
  for (int i = 0; i < ax_state_dict_size(sd); i++) {
    char name[256];
    canonical_name(ax_state_dict_name(sd, i), name, sizeof name);
    ax_tensor *w = ax_state_dict_tensor(sd, i);
    long layer;
    char dot;
    if (!strcmp(name, "transformer.wte.weight") && w->ndim == 2) t.vocab_size = w->shape[0], wte_e = w->shape[1];
    if (!strcmp(name, "transformer.wpe.weight") && w->ndim == 2) t.block_size = w->shape[0], wpe_e = w->shape[1];
    if (sscanf(name, "transformer.h.%ld%c", &layer, &dot) == 2 && dot == '.' && layer >= 0 && layer < AX_GPT_MAX_LAYERS &&
        layer + 1 > t.n_layer)
      t.n_layer = layer + 1;
  }
  t.n_embd = wte_e;
  if (found != 5) { /* a file from elsewhere: the shapes are the config */
    *c = t;
    c->n_head = c->n_embd % 64 == 0 ? c->n_embd / 64 : 1;
  }
  if (t.n_layer < 1 || t.n_embd < 1 || t.block_size < 1 || t.vocab_size < 1) {
    ax__fail(err, errlen, "%s: not a GPT weights file (no transformer.wte / wpe / h.N tensors)", path);
    goto out;
  }
  char why[256];
  if (ax_gpt_config_check(c, why, sizeof why)) {
    ax__fail(err, errlen, "%s: bad GPT config: %s", path, why);
    goto out;
  }
  if (wpe_e != wte_e || c->n_embd != t.n_embd || c->vocab_size != t.vocab_size || c->block_size != t.block_size ||
      c->n_layer != t.n_layer) {
    ax__fail(err, errlen, "%s: the config (n_layer %lld, n_embd %lld, block_size %lld, vocab_size %lld) does not match "
               "the tensors (%lld blocks, wte [%lld, %lld], wpe [%lld, %lld])", path, (long long)c->n_layer,
               (long long)c->n_embd, (long long)c->block_size, (long long)c->vocab_size, (long long)t.n_layer,
               (long long)t.vocab_size, (long long)wte_e, (long long)t.block_size, (long long)wpe_e);
    goto out;
  }
  rc = 0;
out:
  ax_state_dict_free(sd);
  return rc;
}

int ax_gpt_load_weights(ax_module *gpt, const char *path, char *err, size_t errlen) {
  if (!ax_gpt_config_of(gpt)) return ax__fail(err, errlen, "%s", ax_last_error());
  ax_state_dict *file = ax_load_safetensors(path, err, errlen);
  if (!file) return -1;
  ax_state_dict *sd = ax_state_dict_new();
  int rc = 0;
  for (int i = 0; rc == 0 && i < ax_state_dict_size(file); i++) {
    const char *n = ax_state_dict_name(file, i);
    if (skipped_name(n)) continue;
    char name[256];
    canonical_name(n, name, sizeof name);
    rc = ax_state_dict_set(sd, name, ax_state_dict_tensor(file, i));
  }
  char msg[512] = "";
  if (rc == 0) rc = ax_module_load_state_dict(gpt, sd, true, msg, sizeof msg);
  if (rc != 0) ax__fail(err, errlen, "%s: %s", path, msg[0] ? msg : "could not read the weights");
  ax_state_dict_free(sd);
  ax_state_dict_free(file);
  return rc;
}

ax_module *ax_gpt_from_file(const char *path, char *err, size_t errlen) {
  ax_gpt_config c;
  if (ax_gpt_config_from_file(path, &c, err, errlen)) return NULL;
  ax_module *m = ax_model_gpt(&c);
  if (!m) {
    ax__fail(err, errlen, "%s: %s", path, ax_last_error());
    return NULL;
  }
  if (ax_gpt_load_weights(m, path, err, errlen)) {
    ax_module_free(m);
    return NULL;
  }
  return m;
}
