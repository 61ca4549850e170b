/* SPDX-License-Identifier: BSD-3-Clause */
/* Reverse-mode autograd: nodes recorded by ops, and the backward pass.
 *
 * A node belongs to the tensor it produced (out->grad_fn) and holds
 * references to the inputs that need a gradient, so the graph lives exactly
 * as long as the tensors in it. ax_backward orders the graph by a depth-first
 * walk from the root, then visits tensors consumers-first: when a tensor is
 * visited, every gradient reaching it has been summed into its node's
 * grad_accum. */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

static _Thread_local int no_grad_depth;
static uint32_t pass_mark; /* distinguishes one backward pass's visit marks from the last */

void ax_no_grad_begin(void) { no_grad_depth++; }
void ax_no_grad_end(void) {
  if (no_grad_depth > 0) no_grad_depth--;
}
bool ax_grad_enabled(void) { return no_grad_depth == 0; }
int ax__swap_no_grad_depth(int depth) {
  int old = no_grad_depth;
  no_grad_depth = depth < 0 ? 0 : depth;
  return old;
}

bool ax__needs_grad(const ax_tensor *t) { return t && t->requires_grad && no_grad_depth == 0; }

void ax_set_requires_grad(ax_tensor *t, bool requires_grad) {
  if (!t) return;
  if (t->grad_fn) {
    ax_error("ax_set_requires_grad: only leaf tensors can be changed; this %s tensor was produced by '%s' "
             "(use ax_detach to make a leaf)",
             ax__shp(t), t->grad_fn->name);
    return;
  }
  if (requires_grad && !ax_dtype_is_float(t->dtype)) {
    ax_error("ax_set_requires_grad: only floating-point tensors can require grad, got %s %s",
             ax_dtype_name(t->dtype), ax__shp(t));
    return;
  }
  t->requires_grad = requires_grad;
}

const char *ax_grad_fn_name(const ax_tensor *t) { return t && t->grad_fn ? t->grad_fn->name : NULL; }

void ax_retain_grad(ax_tensor *t) {
  if (t && t->grad_fn) t->retains_grad = true;
}

void ax_set_grad_hook(ax_tensor *leaf, ax_grad_hook fn, void *user) {
  if (!leaf) return;
  leaf->grad_hook = fn;
  leaf->grad_hook_user = user;
}

void ax_zero_grad(ax_tensor *t) {
  if (!t) return;
  ax_free(t->grad);
  t->grad = NULL;
}

void ax_zero_grads(ax_tensor *const *ts, int n) {
  for (int i = 0; i < n; i++) ax_zero_grad(ts[i]);
}

ax_node *ax__record(ax_tensor *out, const char *name, ax_backward_fn fn, int n_inputs, ax_tensor *const *inputs) {
  if (!out || no_grad_depth > 0) return NULL;
  bool any = false;
  for (int i = 0; i < n_inputs; i++)
    if (inputs[i] && inputs[i]->requires_grad) any = true;
  if (!any) return NULL;
  ax_node *n = calloc(1, sizeof *n);
  n->name = name;
  n->backward = fn;
  n->output = out;
  n->n_inputs = n_inputs;
  n->inputs = calloc((size_t)n_inputs, sizeof *n->inputs);
  for (int i = 0; i < n_inputs; i++)
    if (inputs[i] && inputs[i]->requires_grad) n->inputs[i] = ax_retain(inputs[i]);
  if (n_inputs > 0 && inputs[0]) {
    n->in_ndim = inputs[0]->ndim;
    n->in_dtype = inputs[0]->dtype;
    memcpy(n->in_shape, inputs[0]->shape, sizeof n->in_shape);
  }
  if (out->grad_fn) ax__node_free(out->grad_fn);
  out->grad_fn = n;
  out->requires_grad = true;
  return n;
}

void ax__save(ax_node *n, int slot, ax_tensor *t) {
  if (!n || slot < 0 || slot >= AX_NODE_SAVED) return;
  ax_free(n->saved[slot]);
  n->saved[slot] = ax_retain(t);
}

bool ax__input_needs_grad(const ax_node *n, int i) { return n && i < n->n_inputs && n->inputs[i] != NULL; }

/* acc[start :: step along dim] += g in place (step 0: all of acc, which has g's shape). */
static void add_region(ax_tensor *acc, ax_tensor *g, int dim, int64_t start, int64_t step) {
  if (!ax__check_same_device("ax_backward", acc, g)) return;
  const ax_backend *be = ax__backend(acc->device, "ax_backward");
  if (!be || ax_numel(g) == 0) return;
  ax_kt dst = ax__kt(acc), src = ax__kt(g);
  if (step > 0) {
    dst.data = (char *)dst.data + start * acc->strides[dim] * (int64_t)ax_dtype_size(acc->dtype);
    dst.shape[dim] = g->shape[dim];
    dst.strides[dim] *= step;
  }
  AX_KCALL("ax_backward", be, binary, AX_BINARY_ADD, &dst, &dst, &src); /* a failure is reported: the pass fails */
}

/* Adds g into a persistent .grad (created on first use, outside any scope's ownership). */
static void add_into_grad(ax_tensor *t, ax_tensor *g) {
  if (!t->grad) {
    ax_tensor *c = ax_clone(g);
    if (c) t->grad = ax_retain(c); /* survives the backward scope */
    if (t->grad) ax__detach_inplace(t->grad);
    return;
  }
  add_region(t->grad, g, 0, 0, 0);
}

void ax__accumulate(ax_node *n, int i, ax_tensor *g) {
  if (!n || i < 0 || i >= n->n_inputs || !n->inputs[i]) return;
  ax_tensor *u = n->inputs[i];
  if (!g) { /* no contribution, but the edge is consumed */
    if (!u->grad_fn && --u->pending_grads == 0 && u->grad_hook) u->grad_hook(u, u->grad_hook_user);
    return;
  }
  if (!ax_same_shape(u, g)) {
    ax_error("ax_backward: internal error: '%s' produced a gradient of shape %s for input %d of shape %s", n->name,
             ax__shp(g), i, ax__shp(u));
    return;
  }
  if (g->dtype != u->dtype) g = ax_cast(g, u->dtype);
  if (!g) return;
  if (u->grad_fn) {
    ax_node *un = u->grad_fn;
    if (!un->grad_accum) {
      un->grad_accum = ax_retain(g); /* may be shared with another input: not private */
      un->grad_accum_private = false;
    } else if (un->grad_accum_private) {
      add_region(un->grad_accum, g, 0, 0, 0);
    } else {
      ax_tensor *sum = ax_add(un->grad_accum, g);
      ax_free(un->grad_accum);
      un->grad_accum = ax_retain(sum);
      un->grad_accum_private = sum != NULL;
    }
    return;
  }
  add_into_grad(u, g);
  if (--u->pending_grads == 0 && u->grad_hook) u->grad_hook(u, u->grad_hook_user);
}

void ax__accumulate_region(ax_node *n, int i, ax_tensor *g, int dim, int64_t start, int64_t step) {
  if (!n || i < 0 || i >= n->n_inputs || !n->inputs[i]) return;
  ax_tensor *u = n->inputs[i];
  if (!g) return ax__accumulate(n, i, NULL);
  bool fits = g->ndim == u->ndim && dim >= 0 && dim < u->ndim && step >= 1 &&
              (g->shape[dim] == 0 || start + (g->shape[dim] - 1) * step < u->shape[dim]);
  for (int d = 0; fits && d < u->ndim; d++) fits = d == dim || g->shape[d] == u->shape[d];
  if (!fits) {
    ax_error("ax_backward: internal error: '%s' produced a gradient of shape %s for a slice of input %d of shape %s",
             n->name, ax__shp(g), i, ax__shp(u));
    return;
  }
  if (g->dtype != u->dtype) g = ax_cast(g, u->dtype);
  if (!g) return;
  ax_tensor **acc = u->grad_fn ? &u->grad_fn->grad_accum : &u->grad;
  if (*acc && u->grad_fn && !u->grad_fn->grad_accum_private) { /* shared: take a private copy to add into */
    ax_tensor *c = ax_clone(*acc);
    if (!c) return;
    ax_free(*acc);
    *acc = ax_retain(c);
  } else if (!*acc) {
    ax_tensor *z = ax_zeros(u->ndim, u->shape, &(ax_tensor_opts){.dtype = u->dtype, .device = g->device});
    if (!z) return;
    *acc = ax_retain(z); /* a leaf's .grad outlives the backward scope */
    if (!u->grad_fn) ax__detach_inplace(z);
  }
  if (u->grad_fn) {
    u->grad_fn->grad_accum_private = true;
    add_region(*acc, g, dim, start, step);
    return;
  }
  add_region(*acc, g, dim, start, step);
  if (--u->pending_grads == 0 && u->grad_hook) u->grad_hook(u, u->grad_hook_user);
}

ax_tensor *ax__sum_to(ax_tensor *g, int ndim, const int64_t *shape) {
  if (!g) return NULL;
  if (g->ndim == ndim) {
    bool same = true;
    for (int i = 0; i < ndim; i++)
      if (g->shape[i] != shape[i]) same = false;
    if (same) return g;
  }
  int dims[AX_MAX_DIMS], nd = 0, lead = g->ndim - ndim;
  for (int i = 0; i < g->ndim; i++) {
    if (i < lead || (shape[i - lead] == 1 && g->shape[i] != 1)) dims[nd++] = i;
  }
  ax_tensor *s = nd ? ax_sum(g, nd, dims, true) : g;
  return ax_reshape(s, ndim, shape);
}

typedef struct { ax_tensor *t; int next; } dfs_frame;

/* The arguments of ax_backward: false (with an error) when root cannot be backpropagated from. */
static bool backward_args_ok(ax_tensor *root, ax_tensor *grad) {
  if (!root || !ax__check_alive("ax_backward", root) || !ax__check_alive("ax_backward", grad)) return false;
  if (!root->requires_grad) {
    ax_error("ax_backward: the %s tensor %s does not require grad: it was not computed from any tensor with "
             "requires_grad, or grad mode was off, or an op on the way is not differentiable (comparisons, argmax, "
             "integer results)",
             ax_dtype_name(root->dtype), ax__shp(root));
    return false;
  }
  if (!grad && ax_numel(root) != 1) {
    ax_error("ax_backward: a gradient can be created implicitly only for a one-element tensor, got shape %s; pass a "
             "gradient of that shape",
             ax__shp(root));
    return false;
  }
  if (grad) {
    if (!ax_same_shape(grad, root)) {
      ax_error("ax_backward: gradient shape %s does not match the tensor's shape %s", ax__shp(grad), ax__shp(root));
      return false;
    }
    if (!ax__check_same_device("ax_backward", root, grad)) return false;
  }
  return true;
}

/* Post-order DFS over the graph below root: every tensor appears after all of its inputs.
 * Marks each with this pass's mark and counts its pending gradients. Returns the order
 * (malloc'ed) and its length in *n. */
static ax_tensor **graph_order(ax_tensor *root, uint32_t mark, int *n) {
  int cap = 256, n_order = 0, depth = 0, stack_cap = 256;
  ax_tensor **order = malloc((size_t)cap * sizeof *order);
  dfs_frame *stack = malloc((size_t)stack_cap * sizeof *stack);
  root->visit_mark = mark;
  root->pending_grads = 1;
  stack[depth++] = (dfs_frame){root, 0};
  while (depth) {
    dfs_frame *f = &stack[depth - 1];
    ax_node *node = f->t->grad_fn;
    if (node && f->next < node->n_inputs) {
      ax_tensor *u = node->inputs[f->next++];
      if (!u) continue;
      if (u->visit_mark != mark) {
        u->visit_mark = mark;
        u->pending_grads = 0;
        if (depth == stack_cap) {
          stack_cap *= 2;
          stack = realloc(stack, (size_t)stack_cap * sizeof *stack);
        }
        stack[depth++] = (dfs_frame){u, 0};
      }
      u->pending_grads++;
      continue;
    }
    if (n_order == cap) {
      cap *= 2;
      order = realloc(order, (size_t)cap * sizeof *order);
    }
    order[n_order++] = f->t;
    depth--;
  }
  free(stack);
  *n = n_order;
  return order;
}

/* Seeds root with g0: its node's accumulator, or its .grad when it is a leaf. */
static void seed_root(ax_tensor *root, ax_tensor *g0) {
  if (root->grad_fn) {
    root->grad_fn->grad_accum = ax_retain(g0);
    root->grad_fn->grad_accum_private = false;
  } else { /* the root is itself a leaf */
    add_into_grad(root, g0);
    root->pending_grads = 0;
    if (root->grad_hook) root->grad_hook(root, root->grad_hook_user);
  }
}

/* Runs each node's backward in reverse order; 0, or -1 after the first that reported an error. */
static int run_nodes(ax_tensor **order, int n_order) {
  int rc = 0;
  for (int k = n_order - 1; k >= 0 && rc == 0; k--) {
    ax_tensor *t = order[k];
    ax_node *node = t->grad_fn;
    if (!node || !node->grad_accum) continue;
    ax_scope_begin(); /* the temporaries of one node's backward die with it */
    ax_tensor *g = node->grad_accum;
    if (t->retains_grad) add_into_grad(t, g);
    ax_clear_error();
    node->backward(node, g);
    if (ax_last_error()[0]) rc = -1;
    node->grad_accum = NULL;
    node->grad_accum_private = false;
    ax_free(g);
    ax_scope_end();
  }
  return rc;
}

/* Leaves whose remaining edges produced no gradient still get their hook; an aborted
 * pass's leftover accumulators are released. */
static void finish_pass(ax_tensor **order, int n_order) {
  for (int k = 0; k < n_order; k++) {
    ax_tensor *t = order[k];
    if (!t->grad_fn && t->pending_grads > 0) {
      t->pending_grads = 0;
      if (t->grad_hook) t->grad_hook(t, t->grad_hook_user);
    }
    if (t->grad_fn && t->grad_fn->grad_accum) { /* an aborted pass */
      ax_free(t->grad_fn->grad_accum);
      t->grad_fn->grad_accum = NULL;
    }
  }
}

int ax_backward(ax_tensor *root, ax_tensor *grad) {
  if (!backward_args_ok(root, grad)) return -1;
  uint32_t mark = __atomic_add_fetch(&pass_mark, 1, __ATOMIC_RELAXED);
  int n_order;
  ax_tensor **order = graph_order(root, mark, &n_order);

  ax_scope_begin();
  ax_no_grad_begin();
  ax_autocast_begin(AX_F32); /* gradients keep their forward dtypes even if backward runs in a region */
  ax_tensor *g0 = grad ? grad : ax_ones_like(root);
  int rc = -1;
  if (g0) {
    seed_root(root, g0);
    rc = run_nodes(order, n_order);
  }
  finish_pass(order, n_order);
  ax_autocast_end();
  ax_no_grad_end();
  ax_scope_end();
  free(order);
  return rc;
}
