/* SPDX-License-Identifier: BSD-3-Clause */
/* Transformer building blocks: LayerNorm, RMSNorm and Embedding, with
 * PyTorch's parameter names, initializations and reprs. */
#include <stdio.h>

#include "axon.h"

/* ---------------- LayerNorm / RMSNorm ---------------- */

typedef struct norm_impl {
  ax_tensor *weight, *bias;
  int64_t dim;
  double eps;
  bool rms;
} norm_impl;

static ax_tensor *norm_forward(ax_module *m, ax_tensor *x) {
  norm_impl *p = ax_module_impl(m);
  return p->rms ? ax_rms_norm(x, p->weight, p->eps) : ax_layer_norm(x, p->weight, p->bias, p->eps);
}

static void norm_repr(const ax_module *m, char *buf, size_t n) {
  const norm_impl *p = ax_module_impl(m);
  snprintf(buf, n, "(%lld,), eps=%g, elementwise_affine=%s", (long long)p->dim, p->eps, p->weight ? "True" : "False");
}

static const ax_module_type layer_norm_type = {"LayerNorm", norm_forward, NULL, norm_repr};
static const ax_module_type rms_norm_type = {"RMSNorm", norm_forward, NULL, norm_repr};

static ax_module *make_norm(const char *op, int64_t dim, double eps, bool affine, bool rms) {
  if (dim <= 0 || !(eps >= 0)) {
    ax_error("%s: dim must be positive and eps non-negative, got dim=%lld, eps=%g", op, (long long)dim, eps);
    return NULL;
  }
  ax_module *m = ax_module_new(rms ? &rms_norm_type : &layer_norm_type, sizeof(norm_impl));
  if (!m) return NULL;
  norm_impl *p = ax_module_impl(m);
  *p = (norm_impl){.dim = dim, .eps = eps, .rms = rms};
  bool ok = true;
  if (affine) {
    p->weight = ax_module_new_parameter(m, "weight", AX_SHAPE(dim));
    if (!rms) p->bias = ax_module_new_parameter(m, "bias", AX_SHAPE(dim)); /* zero-filled already */
    ok = p->weight && (rms || p->bias) && !ax_init_ones_(p->weight);
  }
  if (!ok) {
    ax_module_free(m);
    return NULL;
  }
  return m;
}

ax_module *ax_nn_layer_norm(int64_t dim, double eps, bool elementwise_affine) {
  return make_norm("ax_nn_layer_norm", dim, eps, elementwise_affine, false);
}

ax_module *ax_nn_rms_norm(int64_t dim, double eps) { return make_norm("ax_nn_rms_norm", dim, eps, true, true); }

/* ---------------- Embedding ---------------- */

typedef struct embedding_impl {
  ax_tensor *weight;
  int64_t num, dim;
} embedding_impl;

static ax_tensor *embedding_forward(ax_module *m, ax_tensor *x) {
  embedding_impl *p = ax_module_impl(m);
  return ax_embedding(p->weight, x);
}

static void embedding_repr(const ax_module *m, char *buf, size_t n) {
  const embedding_impl *p = ax_module_impl(m);
  snprintf(buf, n, "%lld, %lld", (long long)p->num, (long long)p->dim);
}

static const ax_module_type embedding_type = {"Embedding", embedding_forward, NULL, embedding_repr};

ax_module *ax_nn_embedding(int64_t num_embeddings, int64_t dim) {
  if (num_embeddings < 0 || dim < 0) {
    ax_error("ax_nn_embedding: sizes must be non-negative, got num_embeddings=%lld, embedding_dim=%lld",
             (long long)num_embeddings, (long long)dim);
    return NULL;
  }
  ax_module *m = ax_module_new(&embedding_type, sizeof(embedding_impl));
  if (!m) return NULL;
  embedding_impl *p = ax_module_impl(m);
  p->num = num_embeddings;
  p->dim = dim;
  p->weight = ax_module_new_parameter(m, "weight", AX_SHAPE(num_embeddings, dim));
  if (!p->weight || ax_init_normal_(p->weight, 0.0, 1.0)) {
    ax_module_free(m);
    return NULL;
  }
  return m;
}
