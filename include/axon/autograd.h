/* SPDX-License-Identifier: BSD-3-Clause */
/* Axon autograd: define-by-run reverse mode.
 *
 * Ops record a node when grad mode is on and an input requires grad. The
 * graph lives as long as the tensors in it (normally: until the scope ends).
 * ax_backward accumulates into .grad of every leaf that requires grad (and of
 * non-leaves marked with ax_retain_grad). Gradients accumulate across calls
 * until ax_zero_grad. A leaf's grad hook runs as soon as its gradient for this
 * pass is complete, while the rest of the backward pass still runs.
 */
#ifndef AXON_AUTOGRAD_H
#define AXON_AUTOGRAD_H

#include "axon/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

void ax_set_requires_grad(ax_tensor *t, bool requires_grad); /* leaves only */
/* Backpropagate from `root`. grad may be NULL when root has one element
 * (then it is 1). Returns 0, or -1 after reporting an error. */
int ax_backward(ax_tensor *root, ax_tensor *grad);
void ax_zero_grad(ax_tensor *t);                    /* drops t->grad */
void ax_zero_grads(ax_tensor *const *ts, int n);
void ax_retain_grad(ax_tensor *t);                  /* keep .grad of a non-leaf */
void ax_set_grad_hook(ax_tensor *leaf, ax_grad_hook fn, void *user);

void ax_no_grad_begin(void); /* nests */
void ax_no_grad_end(void);
bool ax_grad_enabled(void);

const char *ax_grad_fn_name(const ax_tensor *t); /* "mul", "matmul", ... or NULL */

#ifdef __cplusplus
}
#endif
#endif
