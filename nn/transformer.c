/* SPDX-License-Identifier: BSD-3-Clause */
/* Transformer building blocks in the GPT-2 layout: Conv1D, multi-head
 * self-attention and the pre-LayerNorm block. Each has a cached forward used
 * by generation (nn/models/gpt.c): keys and values of earlier positions come
 * from a cache instead of being recomputed. */
#include <math.h>
#include <stdio.h>

#include "axon.h"
#include "nn/transformer_internal.h"

/* ---------------- Conv1D (Hugging Face's name for a linear layer stored [in, out]) ---------------- */

typedef struct conv1d_impl {
  ax_tensor *weight, *bias;
  int64_t nx, nf;
} conv1d_impl;

/* x [..., nx] -> [..., nf] as one GEMM over the flattened rows, so the weight's
 * gradient is one GEMM too (a batched matmul would sum B of them). */
static ax_tensor *conv1d_forward(ax_module *m, ax_tensor *x) {
  conv1d_impl *p = ax_module_impl(m);
  if (!x) return NULL;
  if (x->ndim < 1 || x->shape[x->ndim - 1] != p->nx) {
    ax_error("Conv1D: input %s does not match weight [%lld, %lld] (last dim must be %lld)",
             ax_shape_str(x, (char[64]){0}, 64), (long long)p->nx, (long long)p->nf, (long long)p->nx);
    return NULL;
  }
  int64_t shape[AX_MAX_DIMS];
  for (int i = 0; i < x->ndim - 1; i++) shape[i] = x->shape[i];
  shape[x->ndim - 1] = p->nf;
  /* ax_linear wants [out, in]: the transposed view costs nothing (the GEMM reads it
   * transposed), and under autocast ax_linear casts the bias along with the weight */
  ax_tensor *y = ax_linear(ax_reshape(x, AX_SHAPE(-1, p->nx)), ax_transpose(p->weight, 0, 1), p->bias);
  return ax_reshape(y, x->ndim, shape);
}

static void conv1d_repr(const ax_module *m, char *buf, size_t n) {
  const conv1d_impl *p = ax_module_impl(m);
  snprintf(buf, n, "nf=%lld, nx=%lld", (long long)p->nf, (long long)p->nx);
}

static const ax_module_type conv1d_type = {"Conv1D", conv1d_forward, NULL, conv1d_repr};

ax_module *ax_nn_conv1d_gpt(int64_t nx, int64_t nf) {
  if (nx < 1 || nf < 1) {
    ax_error("ax_nn_conv1d_gpt: sizes must be positive, got nx=%lld, nf=%lld", (long long)nx, (long long)nf);
    return NULL;
  }
  ax_module *m = ax_module_new(&conv1d_type, sizeof(conv1d_impl));
  if (!m) return NULL;
  conv1d_impl *p = ax_module_impl(m);
  p->nx = nx;
  p->nf = nf;
  p->weight = ax_module_new_parameter(m, "weight", AX_SHAPE(nx, nf));
  p->bias = ax_module_new_parameter(m, "bias", AX_SHAPE(nf));
  if (!p->weight || !p->bias || ax_init_normal_(p->weight, 0.0, 0.02) || ax_init_zeros_(p->bias)) {
    ax_module_free(m);
    return NULL;
  }
  return m;
}

/* ---------------- multi-head self-attention ---------------- */

typedef struct attn_impl {
  ax_module *c_attn, *c_proj;
  int64_t n_embd, n_head;
  ax_nn_attention_opts o;
} attn_impl;

static ax_tensor *head_view(ax_tensor *qkv5, int which) {
  /* [B, T, 3, H, D] -> [B, H, T, D], a strided view: the attention kernel reads it in place */
  ax_tensor *t = ax_squeeze(ax_narrow(qkv5, 2, which, 1), 2);
  return ax_permute(t, (const int[]){0, 2, 1, 3});
}

ax_tensor *ax__attention_run(ax_module *m, ax_tensor *x, ax_tensor *k_cache, ax_tensor *v_cache, int64_t pos) {
  attn_impl *p = ax_module_impl(m);
  if (!x) return NULL;
  if (x->ndim != 3 || x->shape[2] != p->n_embd) {
    ax_error("MultiheadAttention: expected input [B, T, %lld], got %s", (long long)p->n_embd,
             ax_shape_str(x, (char[64]){0}, 64));
    return NULL;
  }
  int64_t B = x->shape[0], T = x->shape[1], H = p->n_head, D = p->n_embd / p->n_head;
  bool training = ax_module_is_training(m);
  ax_tensor *qkv = ax_view(ax_module_forward(p->c_attn, x), AX_SHAPE(B, T, 3, H, D));
  ax_tensor *q = head_view(qkv, 0), *k = head_view(qkv, 1), *v = head_view(qkv, 2);
  if (k_cache) {
    /* append this call's keys and values, then attend over everything cached */
    if (ax_copy_(ax_narrow(k_cache, 2, pos, T), k) || ax_copy_(ax_narrow(v_cache, 2, pos, T), v)) return NULL;
    k = ax_narrow(k_cache, 2, 0, pos + T);
    v = ax_narrow(v_cache, 2, 0, pos + T);
  }
  ax_sdpa_opts so = {.causal = p->o.causal, .dropout_p = training ? p->o.dropout : 0.0};
  ax_tensor *y = ax_scaled_dot_product_attention(q, k, v, &so);
  y = ax_reshape(ax_transpose(y, 1, 2), AX_SHAPE(B, T, p->n_embd)); /* free: y is [B, T, H, D] storage */
  y = ax_module_forward(p->c_proj, y);
  return training && p->o.dropout > 0 ? ax_dropout(y, p->o.dropout, true) : y;
}

static ax_tensor *attn_forward(ax_module *m, ax_tensor *x) { return ax__attention_run(m, x, NULL, NULL, 0); }

static void attn_repr(const ax_module *m, char *buf, size_t n) {
  const attn_impl *p = ax_module_impl(m);
  snprintf(buf, n, "n_embd=%lld, n_head=%lld, causal=%s, dropout=%g", (long long)p->n_embd, (long long)p->n_head,
           p->o.causal ? "True" : "False", p->o.dropout);
}

static const ax_module_type attn_type = {"MultiheadAttention", attn_forward, NULL, attn_repr};

ax_module *ax_nn_multihead_attention(int64_t n_embd, int64_t n_head, const ax_nn_attention_opts *o) {
  if (n_embd < 1 || n_head < 1 || n_embd % n_head != 0) {
    ax_error("ax_nn_multihead_attention: n_embd (%lld) must be a positive multiple of n_head (%lld)",
             (long long)n_embd, (long long)n_head);
    return NULL;
  }
  ax_module *m = ax_module_new(&attn_type, sizeof(attn_impl));
  if (!m) return NULL;
  attn_impl *p = ax_module_impl(m);
  p->n_embd = n_embd;
  p->n_head = n_head;
  if (o) p->o = *o;
  p->c_attn = ax_module_add_child(m, "c_attn", ax_nn_conv1d_gpt(n_embd, 3 * n_embd));
  p->c_proj = ax_module_add_child(m, "c_proj", ax_nn_conv1d_gpt(n_embd, n_embd));
  if (!p->c_attn || !p->c_proj) {
    ax_module_free(m);
    return NULL;
  }
  return m;
}

/* ---------------- MLP and the block ---------------- */

typedef struct mlp_impl {
  ax_module *c_fc, *c_proj;
  double dropout;
} mlp_impl;

static ax_tensor *mlp_forward(ax_module *m, ax_tensor *x) {
  mlp_impl *p = ax_module_impl(m);
  ax_tensor *y = ax_module_forward(p->c_proj, ax_gelu_tanh(ax_module_forward(p->c_fc, x)));
  return ax_module_is_training(m) && p->dropout > 0 ? ax_dropout(y, p->dropout, true) : y;
}

static const ax_module_type mlp_type = {"MLP", mlp_forward, NULL, NULL};

static ax_module *mlp_new(int64_t n_embd, double dropout) {
  ax_module *m = ax_module_new(&mlp_type, sizeof(mlp_impl));
  if (!m) return NULL;
  mlp_impl *p = ax_module_impl(m);
  p->dropout = dropout;
  p->c_fc = ax_module_add_child(m, "c_fc", ax_nn_conv1d_gpt(n_embd, 4 * n_embd));
  p->c_proj = ax_module_add_child(m, "c_proj", ax_nn_conv1d_gpt(4 * n_embd, n_embd));
  if (!p->c_fc || !p->c_proj) {
    ax_module_free(m);
    return NULL;
  }
  return m;
}

typedef struct block_impl {
  ax_module *ln_1, *attn, *ln_2, *mlp;
} block_impl;

/* x + branch, in x's dtype: under autocast a branch ends in a bf16/f16 matmul while the
 * residual stream stays f32 (binary ops never promote on their own) */
static ax_tensor *residual(ax_tensor *x, ax_tensor *branch) {
  if (x && branch && branch->dtype != x->dtype) branch = ax_cast(branch, x->dtype);
  return ax_add(x, branch);
}

ax_tensor *ax__block_run(ax_module *m, ax_tensor *x, ax_tensor *k_cache, ax_tensor *v_cache, int64_t pos) {
  block_impl *p = ax_module_impl(m);
  x = residual(x, ax__attention_run(p->attn, ax_module_forward(p->ln_1, x), k_cache, v_cache, pos));
  return residual(x, ax_module_forward(p->mlp, ax_module_forward(p->ln_2, x)));
}

static ax_tensor *block_forward(ax_module *m, ax_tensor *x) { return ax__block_run(m, x, NULL, NULL, 0); }

static const ax_module_type block_type = {"Block", block_forward, NULL, NULL};

ax_module *ax_nn_transformer_block(int64_t n_embd, int64_t n_head, const ax_nn_attention_opts *o) {
  ax_module *m = ax_module_new(&block_type, sizeof(block_impl));
  if (!m) return NULL;
  block_impl *p = ax_module_impl(m);
  p->ln_1 = ax_module_add_child(m, "ln_1", ax_nn_layer_norm(n_embd, 1e-5, true));
  p->attn = ax_module_add_child(m, "attn", ax_nn_multihead_attention(n_embd, n_head, o));
  p->ln_2 = ax_module_add_child(m, "ln_2", ax_nn_layer_norm(n_embd, 1e-5, true));
  p->mlp = ax_module_add_child(m, "mlp", mlp_new(n_embd, o ? o->dropout : 0.0));
  if (!p->ln_1 || !p->attn || !p->ln_2 || !p->mlp) {
    ax_module_free(m);
    return NULL;
  }
  return m;
}
