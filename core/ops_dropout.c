/* SPDX-License-Identifier: BSD-3-Clause */
/* Dropout with a regenerated mask: each call takes one Philox offset, and the
 * node keeps (seed, offset) instead of the mask, so the backward runs the same
 * kernel on gy and draws the same u_i. The mask is the one `ax_rand` would draw
 * at that offset, on every backend. */
#include <math.h>

#include "core/internal.h"

static ax_tensor *run_dropout(ax_tensor *in, double p, uint64_t seed, uint64_t offset) {
  ax_tensor *out = ax__new("ax_dropout", in->dtype, in->device, in->ndim, in->shape);
  if (!out) return NULL;
  const ax_backend *be = out->storage->backend;
  AX_KERNEL_CHECK(be, dropout, "ax_dropout");
  ax_kt ko = ax__kt(out), ki = ax__kt(in);
  if (!AX_KCALL("ax_dropout", be, dropout, &ko, &ki, p, seed, offset)) return NULL;
  return out;
}

static void dropout_backward(ax_node *n, ax_tensor *g) {
  ax_tensor *gy = ax_contiguous(g);
  if (!gy) return;
  ax__accumulate(n, 0, run_dropout(gy, n->dargs[0], (uint64_t)n->iargs[0], (uint64_t)n->iargs[1]));
}

ax_tensor *ax_dropout(ax_tensor *x, double p, bool training) {
  if (!x) return NULL;
  if (!ax__check_float("ax_dropout", x)) return NULL;
  if (!(p >= 0 && p <= 1)) {
    ax_error("ax_dropout: p must be in [0, 1], got %g (input %s)", p, ax__shp(x));
    return NULL;
  }
  if (!training || p == 0) {
    ax__scope_adopt(ax_retain(x)); /* a new reference, as if it were a new tensor */
    return x;
  }
  ax_tensor *xc = ax_contiguous(ax_detach(x));
  if (!xc) return NULL;
  uint64_t seed = ax__rng_seed(), offset = ax__rng_next_offset();
  ax_tensor *y = run_dropout(xc, p, seed, offset);
  ax_node *n = ax__record(y, "dropout", dropout_backward, 1, &x);
  if (n) {
    n->dargs[0] = p;
    n->iargs[0] = (int64_t)seed;
    n->iargs[1] = (int64_t)offset;
  }
  return y;
}
