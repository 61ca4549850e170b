/* SPDX-License-Identifier: BSD-3-Clause */
/* Private to the op layer: storage, graph nodes, helpers every op uses. */
#ifndef AXON_CORE_INTERNAL_H
#define AXON_CORE_INTERNAL_H

#include <stdio.h>

#include "axon.h"
#include "kernels/backend.h"

struct ax_storage {
  void *data;
  size_t nbytes;
  int refcount;
  ax_device device;
  const ax_backend *backend;
};

typedef struct ax_node ax_node;

/* Computes the gradients of the node's inputs from grad_out (the gradient of
 * node->output) and hands each to ax__accumulate(node, i, g). Runs with grad
 * mode off inside the backward pass's scope, so it may use any op. */
typedef void (*ax_backward_fn)(ax_node *node, ax_tensor *grad_out);

#define AX_NODE_SAVED 6 /* attention saves q, k, v, lse and its mask */
struct ax_node {
  const char *name;
  ax_backward_fn backward;
  ax_tensor *output;                /* weak: the output owns the node */
  int n_inputs;
  ax_tensor **inputs;               /* retained; NULL where that input needs no grad */
  ax_tensor *saved[AX_NODE_SAVED];  /* retained; never the output itself (use ->output) */
  double dargs[4];
  int64_t iargs[2 * AX_MAX_DIMS];
  int64_t in_shape[AX_MAX_DIMS];    /* shape of input 0 at record time, for shape-restoring grads */
  int in_ndim;
  int in_dtype;
  ax_tensor *grad_accum;            /* during backward: the sum of gradients reaching output */
  bool grad_accum_private;          /* grad_accum was made here (no other holder): add into it in place */
  void *ctx;                        /* op-owned state that does not fit above (ax_checkpoint) */
  void (*ctx_free)(void *ctx);      /* called when the node is freed */
};

/* ---- dispatch ---- */
const ax_backend *ax__backend(ax_device d, const char *op); /* NULL (with an error) if unavailable */
#define AX_KERNEL_CHECK(be, entry, op)                                                        \
  do {                                                                                        \
    if (!(be)->entry) {                                                                       \
      ax_error("%s: not implemented on the %s backend yet (kernel '%s')", op, (be)->name, #entry); \
      return NULL;                                                                            \
    }                                                                                         \
  } while (0)

/* Every kernel call in core goes through AX_KCALL: it runs be->entry(...) and is true
 * when the kernel returned AX_K_OK; otherwise it reports "<op>: <backend> kernel
 * '<entry>' failed: <detail>" (the detail from be->last_error()) and is false, and
 * the caller returns NULL (a forward op) or returns (a backward function: ax_backward
 * then fails). */
bool ax__kernel_ok(const char *op, const ax_backend *be, const char *entry, ax_kstatus status);
#define AX_KCALL(op, be, entry, ...) ax__kernel_ok((op), (be), #entry, (be)->entry(__VA_ARGS__))

/* Why the latest allocation on d failed, from the backend ("" if it says nothing). */
const char *ax__alloc_failure(ax_device d);

/* ---- tensors ---- */
/* A new contiguous tensor owned by the current scope; NULL after an error. */
ax_tensor *ax__new(const char *op, ax_dtype dt, ax_device dev, int ndim, const int64_t *shape);
/* A view of base's storage owned by the current scope. */
ax_tensor *ax__view(ax_tensor *base, int ndim, const int64_t *shape, const int64_t *strides, int64_t offset);
ax_kt ax__kt(const ax_tensor *t);
/* Scope debugging (AXON_DEBUG_SCOPES): a released tensor's header is kept, poisoned, with
 * its device set to AX__DEVICE_DEAD (index: its quarantine slot), so the op layer's checks
 * (ax__backend, ax__check_same_device, ax__check_alive) recognise it. */
#define AX__DEVICE_DEAD 0x7ead
bool ax__check_alive(const char *op, const ax_tensor *t); /* false, with an error naming op and t's origin */
void ax__report_dead_device(const char *op, ax_device d);
/* Writes "N scopes still open; innermost opened at FILE:LINE" for this thread to f; returns N. */
int ax__scope_report_open(FILE *f);
/* t viewed with out's shape by NumPy broadcasting (stride 0 on broadcast dims). */
ax_kt ax__kt_broadcast(const ax_tensor *t, int ndim, const int64_t *shape);
void ax__contiguous_strides(int ndim, const int64_t *shape, int64_t *strides);
int64_t ax__shape_numel(int ndim, const int64_t *shape);
/* The most elements a shape may describe (2^56: byte counts of any dtype fit in 63 bits). */
#define AX_MAX_NUMEL ((int64_t)1 << 56)
/* false, with an error naming op, when the sizes (zero sizes counted as 1) multiply past
 * AX_MAX_NUMEL; every shape that reaches strides or a byte count passes here first. */
bool ax__shape_ok(const char *op, int ndim, const int64_t *shape);
/* sd's metadata becomes a copy of src's; 0 or -1 (out of memory, sd unchanged) */
int ax__state_dict_replace_meta(ax_state_dict *sd, const ax_state_dict *src);
void ax__detach_inplace(ax_tensor *t);
/* GPU parity runner only: fill every new CUDA tensor with NaN (floats) or 0x7f
 * bytes (integers, bool) so that unwritten elements fail the comparison. */
void ax__set_poison_new_tensors(bool on);

/* Rotating per-thread buffers so several shapes fit in one message. */
const char *ax__shp(const ax_tensor *t);
const char *ax__shp_raw(int ndim, const int64_t *shape);

/* The same, exported for the parity runner linked to libaxon.so (core/testing.c) */
const ax_backend *ax_testing_backend(ax_device d, const char *op);
ax_tensor *ax_testing_new(const char *op, ax_dtype dt, ax_device dev, int ndim, const int64_t *shape);
ax_kt ax_testing_kt(const ax_tensor *t);
ax_kt ax_testing_kt_broadcast(const ax_tensor *t, int ndim, const int64_t *shape);
void ax_testing_set_poison_new_tensors(bool on);
const char *ax_testing_shp(const ax_tensor *t);
const char *ax__dev(ax_device d);

/* Normalize a possibly negative dim for a tensor of ndim dims (ndim 0 accepts 0 and -1).
 * Returns -1 after reporting an error. */
int ax__wrap_dim(const char *op, int dim, int ndim);

/* Broadcast two shapes; false (with an error naming op) if they do not broadcast. */
bool ax__broadcast_shape(const char *op, const ax_tensor *a, const ax_tensor *b, int *ndim, int64_t *shape);

/* Checks with errors naming the op: same device, float dtype, etc. */
bool ax__check_same_device(const char *op, const ax_tensor *a, const ax_tensor *b);
bool ax__check_same_dtype(const char *op, const ax_tensor *a, const ax_tensor *b);
bool ax__check_float(const char *op, const ax_tensor *t);

/* ---- scopes ---- */
void ax__scope_adopt(ax_tensor *t); /* the current scope (if any) takes the creator's reference */
/* Composite ops (built from other ops) run between ax_scope_begin() and
 * ax__scope_return(out): the temporaries die with the inner scope even when the
 * caller has no scope open, while out (and the graph behind it) moves to the
 * caller's scope. Unlike ax_keep, nothing is detached. Record the node and
 * ax__save what it needs BEFORE this call: the inner scope's temporaries are
 * released by it, and saving one afterwards would save freed memory. */
ax_tensor *ax__scope_return(ax_tensor *out);

/* ---- autograd ---- */
bool ax__needs_grad(const ax_tensor *t);
/* Sets the grad-mode nesting depth (0 = grad on) and returns the previous one: a backward
 * function that records a graph of its own (ax_checkpoint) turns grad on and back. */
int ax__swap_no_grad_depth(int depth);
/* Record a node for `out` if grad mode is on and any input requires grad; NULL otherwise. */
ax_node *ax__record(ax_tensor *out, const char *name, ax_backward_fn fn, int n_inputs, ax_tensor *const *inputs);
void ax__save(ax_node *n, int slot, ax_tensor *t);
bool ax__input_needs_grad(const ax_node *n, int i);
/* Add g (shape of inputs[i]) to input i's gradient. g is borrowed. */
void ax__accumulate(ax_node *n, int i, ax_tensor *g);
/* Adds g into the part of input i's gradient at start, start+step, ... along dim
 * (the region a slice of that input took): the gradient is created as zeros once
 * and each slice adds in place, so backward through k slices of one tensor costs
 * the tensor once plus the slices, not k full-size tensors. */
void ax__accumulate_region(ax_node *n, int i, ax_tensor *g, int dim, int64_t start, int64_t step);
/* Sum g down to `shape` (undoing broadcasting). */
ax_tensor *ax__sum_to(ax_tensor *g, int ndim, const int64_t *shape);
void ax__node_free(ax_node *n);

/* ---- autocast (core/autocast.c) ---- */
/* The dtype an autocast-eligible op (GEMM-like: matmul, linear, attention) casts x to:
 * the region's bf16/f16 when one is active and x is f32, x's own dtype otherwise. */
ax_dtype ax__autocast_dtype_for(const ax_tensor *x);
/* x cast (differentiably) to ax__autocast_dtype_for(x); x itself when no cast is due. */
ax_tensor *ax__autocast(ax_tensor *x);
/* For the ops that autocast keeps in f32 (softmax, log_softmax, cross_entropy,
 * layer_norm, ...): x cast to f32 inside an autocast region when x is bf16/f16; x otherwise. */
ax_tensor *ax__autocast_f32(ax_tensor *x);
/* Inside a region, a binary op's f32 and bf16/f16 operands meet in f32 (PyTorch's type
 * promotion, e.g. a residual add of an f32 stream and a bf16 linear output): casts the
 * 16-bit one of *a / *b up. Does nothing outside a region or for any other pair. */
void ax__autocast_promote(ax_tensor **a, ax_tensor **b);

/* ---- random ---- */
uint64_t ax__rng_next_offset(void); /* one call's offset; advances the generator */
uint64_t ax__rng_seed(void);

/* batch norm's argument checks (core/ops_norm.c), shared with dist/sync_bn.c */
bool ax__batch_norm_check(const char *op, const ax_tensor *x, const ax_tensor *running_mean,
                          const ax_tensor *running_var, const ax_tensor *weight, const ax_tensor *bias, double momentum,
                          double eps);
/* BatchNorm modules (nn/layers.c, dist/sync_bn.c): num_batches_tracked += 1, in place,
 * outside autograd; NULL (not tracked) does nothing. */
void ax__count_batch(ax_tensor *num_batches_tracked);

#endif
