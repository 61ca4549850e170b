/* SPDX-License-Identifier: BSD-3-Clause */
/* Transformers: attention, the GPT-2 block and the GPT-2 language model.
 *
 * Modules use Hugging Face's GPT-2 layout and names, so that a GPT-2
 * safetensors file loads as it is: a "Conv1D" is a linear layer whose weight
 * is stored [in, out] (y = x W + b), the attention's q, k and v projections are
 * one Conv1D (c_attn) of width 3C, and the head is tied to the token embedding.
 *
 *   transformer.wte.weight [V, C]      transformer.wpe.weight [block_size, C]
 *   transformer.h.N.ln_1.{weight,bias} transformer.h.N.attn.c_attn.{weight [C, 3C], bias}
 *   transformer.h.N.attn.c_proj.*      transformer.h.N.ln_2.*
 *   transformer.h.N.mlp.c_fc.{weight [C, 4C], bias}  transformer.h.N.mlp.c_proj.*
 *   transformer.ln_f.{weight,bias}     (lm_head.weight = transformer.wte.weight)
 *
 * Generation keeps each layer's keys and values in an ax_kv_cache, so a new
 * token costs one position, not the whole prefix.
 */
#ifndef AXON_TRANSFORMER_H
#define AXON_TRANSFORMER_H

#include <stdbool.h>
#include <stdint.h>

#include "axon/nn.h"
#include "axon/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Hugging Face's Conv1D: weight [nx, nf] ~ N(0, 0.02), bias [nf] zeros; y = x W + b. */
ax_module *ax_nn_conv1d_gpt(int64_t nx, int64_t nf);

typedef struct ax_nn_attention_opts {
  bool causal;    /* mask future positions */
  double dropout; /* on the attention weights and on the output projection (training only) */
} ax_nn_attention_opts;

/* Self-attention over x [B, T, C] with n_head heads: c_attn (C -> 3C), scaled dot-product
 * attention (flash kernel), c_proj (C -> C). o may be NULL (not causal, no dropout). */
ax_module *ax_nn_multihead_attention(int64_t n_embd, int64_t n_head, const ax_nn_attention_opts *o);
/* Pre-LayerNorm block: x + attn(ln_1(x)), then + mlp(ln_2(x)) with mlp = c_proj(gelu_tanh(c_fc(x))). */
ax_module *ax_nn_transformer_block(int64_t n_embd, int64_t n_head, const ax_nn_attention_opts *o);

typedef struct ax_gpt_config {
  int64_t n_layer, n_head, n_embd, block_size, vocab_size;
  double dropout; /* embeddings, attention weights and residual branches (0: none) */
} ax_gpt_config;

/* 4 layers, 4 heads, 256 wide, block 128, byte vocabulary (256), no dropout. */
ax_gpt_config ax_gpt_config_default(void);
/* 12 layers, 12 heads, 768 wide, block 1024, vocabulary 50257: GPT-2 124M. */
ax_gpt_config ax_gpt_config_gpt2(void);
/* The sizes a GPT config may have: beyond them a value is a typo or a damaged file. */
#define AX_GPT_MAX_LAYERS 1024
#define AX_GPT_MAX_HEADS 1024
#define AX_GPT_MAX_EMBD 65536
#define AX_GPT_MAX_BLOCK 1048576
#define AX_GPT_MAX_VOCAB 16777216
#define AX_GPT_MAX_PARAMS 1e12
/* 0 when every field is in range (n_embd a multiple of n_head, dropout in [0, 1), the sizes
 * within AX_GPT_MAX_*); else -1 with a one-line reason naming the field in err. */
int ax_gpt_config_check(const ax_gpt_config *c, char *err, size_t errlen);
/* GPT-2's initialization: N(0, 0.02), residual projections N(0, 0.02/sqrt(2 n_layer)).
 * A config that fails ax_gpt_config_check is an error (NULL). */
ax_module *ax_model_gpt(const ax_gpt_config *c);
const ax_gpt_config *ax_gpt_config_of(ax_module *gpt); /* NULL if gpt is not a GPT */

/* idx i64 [B, T] (T <= block_size) -> logits [B, T, V]. */
ax_tensor *ax_gpt_forward(ax_module *gpt, ax_tensor *idx);
/* Mean cross-entropy of the next-token predictions, through the fused classifier
 * (the [B*T, V] logits never exist at once). targets i64 [B, T]. */
ax_tensor *ax_gpt_loss(ax_module *gpt, ax_tensor *idx, ax_tensor *targets);
/* Model FLOPs per token of a training step (forward + backward), as in PaLM's MFU:
 * 6 * (parameters without the position embedding) + 12 * n_layer * n_embd * T. */
double ax_gpt_flops_per_token(const ax_gpt_config *c, int64_t seq_len);

/* Keys and values of every layer for up to max_len positions of a batch. */
typedef struct ax_kv_cache ax_kv_cache;
ax_kv_cache *ax_kv_cache_new(ax_module *gpt, int64_t batch, int64_t max_len);
void ax_kv_cache_free(ax_kv_cache *c);
void ax_kv_cache_reset(ax_kv_cache *c);
int64_t ax_kv_cache_len(const ax_kv_cache *c); /* positions filled so far */
/* Runs the new tokens idx [B, T] at positions len .. len+T-1 (grad mode should be off),
 * appends their keys and values, and returns their logits [B, T, V]. An error when
 * len + T exceeds max_len or block_size. */
ax_tensor *ax_gpt_forward_cached(ax_module *gpt, ax_tensor *idx, ax_kv_cache *c);

/* Weights: safetensors with Hugging Face's names, with or without the "transformer."
 * prefix; "lm_head.weight" (tied) and the "attn.bias" / "attn.masked_bias" mask buffers
 * of older files are accepted and skipped. The config is written to and read from the
 * file's metadata (gpt.n_layer, gpt.n_head, ...); a file without it gets n_layer,
 * n_embd, block_size and vocab_size from the shapes and n_head from n_embd / 64. */
int ax_gpt_save(ax_module *gpt, const char *path, char *err, size_t errlen);
int ax_gpt_load_weights(ax_module *gpt, const char *path, char *err, size_t errlen);
/* Every field is checked (ax_gpt_config_check) and against the tensors in the file (wte is
 * [vocab_size, n_embd], wpe [block_size, n_embd], h.0 .. h.{n_layer-1}) before anything is built. */
int ax_gpt_config_from_file(const char *path, ax_gpt_config *c, char *err, size_t errlen);
/* ax_gpt_config_from_file + ax_model_gpt + ax_gpt_load_weights. */
ax_module *ax_gpt_from_file(const char *path, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
