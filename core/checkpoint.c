/* SPDX-License-Identifier: BSD-3-Clause */
/* Activation recomputation (gradient checkpointing).
 *
 * Forward: fn runs with grad mode off inside a scope of its own, so every
 * activation it makes is freed on return; one node is recorded for the whole
 * call, keeping only the inputs, fn and ctx, the random generator's state
 * before the call and the autocast dtype. Backward: fn runs again, with grad
 * on, on detached copies of the inputs (leaves that require grad where the
 * input does), the generator rewound so dropout draws the same masks; a nested
 * ax_backward pushes the incoming gradient through the recomputed graph. That
 * pass leaves the gradients of parameters used inside fn on the parameters
 * themselves (they are leaves: exactly where they belong) and the inputs'
 * gradients on the copies, which are handed on to the inputs' producers.
 *
 * A node is recorded even when no input requires grad (the first layers of a
 * model take data): fn's parameters may, and only the recomputation can tell.
 * An extra 0-dim "anchor" leaf stands in as the node's input then. */
#include <stdlib.h>

#include "core/internal.h"

typedef struct checkpoint_ctx {
  ax_checkpoint_fn fn;
  void *ctx;
  int n;
  ax_tensor **inputs; /* retained, every one (those needing no grad too) */
  uint64_t seed, offset;
  int autocast; /* ax_autocast_dtype() at the forward */
} checkpoint_ctx;

static void checkpoint_ctx_free(void *p) {
  checkpoint_ctx *c = p;
  for (int i = 0; i < c->n; i++) ax_free(c->inputs[i]);
  free(c->inputs);
  free(c);
}

/* fn under the forward's autocast state (the caller has set grad mode). */
static ax_tensor *run_fn(const checkpoint_ctx *c, ax_tensor *const *inputs) {
  ax_autocast_begin(c->autocast < 0 ? AX_F32 : (ax_dtype)c->autocast);
  ax_tensor *out = c->fn(c->ctx, inputs);
  ax_autocast_end();
  return out;
}

static void checkpoint_backward(ax_node *node, ax_tensor *g) {
  checkpoint_ctx *c = node->ctx;
  ax_tensor **copies = calloc((size_t)c->n + 1, sizeof *copies);
  if (!copies) {
    ax_error("ax_checkpoint: out of host memory in the backward pass");
    return;
  }
  for (int i = 0; i < c->n; i++) {
    copies[i] = ax_detach(c->inputs[i]);
    if (copies[i] && c->inputs[i]->requires_grad) copies[i]->requires_grad = true;
  }
  uint64_t seed, offset;
  ax_rng_get_state(&seed, &offset);
  ax_rng_set_state(c->seed, c->offset);
  int depth = ax__swap_no_grad_depth(0);
  ax_tensor *out = run_fn(c, copies);
  ax__swap_no_grad_depth(depth);
  ax_rng_set_state(seed, offset);
  if (out && out->requires_grad) {
    if (!ax_same_shape(out, g))
      ax_error("ax_checkpoint: the recomputation returned %s but the forward returned %s (fn must be deterministic)",
               ax__shp(out), ax__shp(g));
    else
      ax_backward(out, g);
  }
  for (int i = 0; i < node->n_inputs; i++) ax__accumulate(node, i, i < c->n && copies[i] ? copies[i]->grad : NULL);
  free(copies);
}

ax_tensor *ax_checkpoint(ax_checkpoint_fn fn, void *ctx, int n, ax_tensor *const *inputs) {
  if (!fn || n < 0 || (n > 0 && !inputs)) {
    ax_error("ax_checkpoint: need a function and n >= 0 inputs (got fn %s, n = %d)", fn ? "set" : "NULL", n);
    return NULL;
  }
  for (int i = 0; i < n; i++)
    if (!inputs[i]) return NULL;
  checkpoint_ctx *c = calloc(1, sizeof *c);
  if (c) c->inputs = calloc((size_t)n + 1, sizeof *c->inputs);
  if (!c || !c->inputs) {
    free(c);
    ax_error("ax_checkpoint: out of host memory");
    return NULL;
  }
  c->fn = fn;
  c->ctx = ctx;
  c->n = n;
  c->autocast = ax_autocast_dtype();
  ax_rng_get_state(&c->seed, &c->offset);
  bool record = ax_grad_enabled();

  ax_scope_begin();
  ax_no_grad_begin();
  ax_tensor *out = run_fn(c, inputs);
  ax_no_grad_end();
  /* the node must belong to a tensor of its own, not to an input or parameter fn returned */
  if (out && (out->requires_grad || out->grad_fn)) out = ax_detach(out);
  for (int i = 0; i < n && out; i++)
    if (out == inputs[i]) out = ax_detach(out);
  if (!out || !record) {
    checkpoint_ctx_free(c);
    return ax__scope_return(out);
  }
  bool any = false;
  for (int i = 0; i < n; i++) {
    c->inputs[i] = ax_retain(inputs[i]);
    any = any || inputs[i]->requires_grad;
  }
  ax_tensor **edges = malloc(((size_t)n + 1) * sizeof *edges);
  ax_tensor *anchor = any ? NULL : ax_scalar(0.0, NULL);
  if (anchor) anchor->requires_grad = true;
  ax_node *node = NULL;
  if (!edges) {
    ax_error("ax_checkpoint: out of host memory");
  } else {
    for (int i = 0; i < n; i++) edges[i] = inputs[i];
    edges[n] = anchor;
    node = ax__record(out, "checkpoint", checkpoint_backward, n + (anchor ? 1 : 0), edges);
    free(edges);
  }
  if (!node) {
    checkpoint_ctx_free(c);
    return ax__scope_return(NULL);
  }
  node->ctx = c;
  node->ctx_free = checkpoint_ctx_free;
  return ax__scope_return(out);
}
