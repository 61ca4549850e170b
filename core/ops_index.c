/* SPDX-License-Identifier: BSD-3-Clause */
/* Indexing ops: index_select, gather, scatter_add. Index tensors are i64 or
 * i32 on the input's device. A bad index is a clear error on every backend and
 * never an out-of-bounds access. On the CPU every index value is checked here,
 * before a kernel runs. On a GPU, index_select and gather (and ax_embedding)
 * leave the check to the kernel, which records the op and the index in the
 * device's status word; the error is reported at the next synchronization (the
 * next read-back to the host, ax_synchronize), so an op never waits for the
 * device to copy its indices back. scatter_add still checks on the host (its
 * result would otherwise silently drop the bad entries). Gradients scatter back with the index_add and
 * scatter_add kernels into zeros. */
#include <string.h>

#include "core/internal.h"

static bool check_index_tensor(const char *op, const ax_tensor *x, const ax_tensor *index) {
  if (index->dtype != AX_I64 && index->dtype != AX_I32) {
    ax_error("%s: index must be i64 or i32, got %s %s", op, ax_dtype_name(index->dtype), ax__shp(index));
    return false;
  }
  return ax__check_same_device(op, x, index);
}

/* The smallest and largest value of a CPU index tensor of any layout. Dims
 * with stride 0 (an expanded index) repeat the same values: read them once. */
static void index_min_max(const ax_tensor *h, int64_t *lo, int64_t *hi) {
  int nd = 0;
  int64_t shape[AX_MAX_DIMS], strides[AX_MAX_DIMS];
  for (int k = 0; k < h->ndim; k++)
    if (h->strides[k] != 0 && h->shape[k] != 1) {
      shape[nd] = h->shape[k];
      strides[nd++] = h->strides[k];
    }
  bool i64 = h->dtype == AX_I64;
  const int64_t *p64 = ax_data_ptr(h);
  const int32_t *p32 = ax_data_ptr(h);
  int64_t n = ax__shape_numel(nd, shape), pos[AX_MAX_DIMS] = {0}, off = 0;
  int64_t mn = INT64_MAX, mx = INT64_MIN;
  /* the innermost dim as a plain strided loop, the rest by a row-major counter */
  int64_t inner = nd ? shape[nd - 1] : 1, istride = nd ? strides[nd - 1] : 0;
  for (int64_t i = 0; i < n; i += inner) {
    for (int64_t e = 0; e < inner; e++) {
      int64_t v = i64 ? p64[off + e * istride] : p32[off + e * istride];
      mn = v < mn ? v : mn;
      mx = v > mx ? v : mx;
    }
    for (int k = nd - 2; k >= 0; k--) {
      off += strides[k];
      if (++pos[k] < shape[k]) break;
      off -= strides[k] * shape[k];
      pos[k] = 0;
    }
  }
  *lo = mn;
  *hi = mx;
}

/* Every value of index must lie in [0, size). Indices on another device are
 * copied to the host to be read, unless the backend's kernel checks them where they
 * are (AX_CAP_DEVICE_INDICES; see the top of this file). */
static bool check_index_values(const char *op, ax_tensor *index, int dim, int64_t size, ax_kernel_id kernel) {
  if (ax_numel(index) == 0) return true;
  if (ax_backend_has(index->storage->backend, kernel, AX_CAP_DEVICE_INDICES)) return true;
  ax_scope_begin();
  ax_tensor *h = index->device.type == AX_DEVICE_CPU ? index : ax_to(index, AX_CPU);
  bool ok = h != NULL;
  if (ok) {
    int64_t lo, hi;
    index_min_max(h, &lo, &hi);
    int64_t bad = hi >= size ? hi : lo;
    if (lo < 0 || hi >= size) {
      ax_error("%s: index %lld is out of range for dim %d of size %lld", op, (long long)bad, dim, (long long)size);
      ok = false;
    }
  }
  ax_scope_end();
  return ok;
}

static int64_t dim_size(const ax_tensor *x, int d) { return x->ndim ? x->shape[d] : 1; }

static const ax_backend *index_backend(const char *op, const ax_tensor *t, const char *entry, bool present) {
  const ax_backend *be = t->storage->backend;
  if (!present) {
    ax_error("%s: not implemented on the %s backend yet (kernel '%s')", op, be->name, entry);
    return NULL;
  }
  return be;
}

/* zeros shaped like the node's input 0, with g added at `index` along dim by
 * index_add (1-D index) or scatter_add (per-element index) */
static ax_tensor *scatter_into_zeros(ax_node *n, ax_tensor *g, int d, ax_tensor *index, bool per_element) {
  ax_tensor *z = ax_zeros(n->in_ndim, n->in_shape, &(ax_tensor_opts){.dtype = g->dtype, .device = g->device});
  if (!z) return NULL;
  const ax_backend *be = z->storage->backend;
  if (!index_backend(n->name, z, per_element ? "scatter_add" : "index_add",
                     per_element ? be->scatter_add != NULL : be->index_add != NULL))
    return NULL;
  ax_kt zk = ax__kt(z), ik = ax__kt(index), gk = ax__kt(g);
  if (ax_numel(g) > 0) {
    bool ok = per_element ? AX_KCALL(n->name, be, scatter_add, &zk, d, &ik, &gk)
                          : AX_KCALL(n->name, be, index_add, &zk, d, &ik, &gk);
    if (!ok) return NULL;
  }
  return z;
}

/* ---------------- index_select ---------------- */

static void index_select_backward(ax_node *n, ax_tensor *g) {
  ax__accumulate(n, 0, scatter_into_zeros(n, g, (int)n->iargs[0], n->saved[0], false));
}

ax_tensor *ax_index_select(ax_tensor *x, int dim, ax_tensor *index) {
  static const char op[] = "ax_index_select";
  if (!x || !index) return NULL;
  if (!check_index_tensor(op, x, index)) return NULL;
  if (index->ndim > 1) {
    ax_error("%s: index must be 1-D, got %s (selecting from %s)", op, ax__shp(index), ax__shp(x));
    return NULL;
  }
  int d = ax__wrap_dim(op, dim, x->ndim);
  if (d < 0) return NULL;
  if (x->ndim == 0 && ax_numel(index) != 1) {
    ax_error("%s: a 0-dim input takes exactly one index, got %s", op, ax__shp(index));
    return NULL;
  }
  if (!check_index_values(op, index, d, dim_size(x, d), AX_KID_index_select)) return NULL;
  int64_t shp[AX_MAX_DIMS];
  memcpy(shp, x->shape, sizeof shp);
  if (x->ndim) shp[d] = ax_numel(index);
  ax_tensor *out = ax__new(op, x->dtype, x->device, x->ndim, shp);
  if (!out) return NULL;
  const ax_backend *be = out->storage->backend;
  AX_KERNEL_CHECK(be, index_select, op);
  ax_kt ok = ax__kt(out), xk = ax__kt(x), ik = ax__kt(index);
  if (ax_numel(out) > 0 && !AX_KCALL(op, be, index_select, &ok, &xk, d, &ik)) return NULL;
  ax_node *n = ax__record(out, "index_select", index_select_backward, 1, &x);
  if (n) {
    ax__save(n, 0, index);
    n->iargs[0] = d;
  }
  return out;
}

/* ---------------- gather ---------------- */

static void gather_backward(ax_node *n, ax_tensor *g) {
  ax__accumulate(n, 0, scatter_into_zeros(n, g, (int)n->iargs[0], n->saved[0], true));
}

/* Shape rules shared by gather and scatter_add: index has x's number of dims
 * and is no larger than x outside dim. Returns the wrapped dim or -1. */
static int check_gather_shapes(const char *op, const ax_tensor *x, int dim, const ax_tensor *index) {
  if (index->ndim != x->ndim) {
    ax_error("%s: index %s must have as many dims as the input %s", op, ax__shp(index), ax__shp(x));
    return -1;
  }
  int d = ax__wrap_dim(op, dim, x->ndim);
  if (d < 0) return -1;
  for (int k = 0; k < x->ndim; k++)
    if (k != d && index->shape[k] > x->shape[k]) {
      ax_error("%s: index %s is larger than the input %s in dim %d (%lld > %lld)", op, ax__shp(index), ax__shp(x),
               k, (long long)index->shape[k], (long long)x->shape[k]);
      return -1;
    }
  return d;
}

/* x and index already checked */
static ax_tensor *gather_impl(const char *op, ax_tensor *x, int d, ax_tensor *index) {
  ax_tensor *out = ax__new(op, x->dtype, x->device, index->ndim, index->shape);
  if (!out) return NULL;
  const ax_backend *be = out->storage->backend;
  AX_KERNEL_CHECK(be, gather, op);
  ax_kt ok = ax__kt(out), xk = ax__kt(x), ik = ax__kt(index);
  if (ax_numel(out) > 0 && !AX_KCALL(op, be, gather, &ok, &xk, d, &ik)) return NULL;
  ax_node *n = ax__record(out, "gather", gather_backward, 1, &x);
  if (n) {
    ax__save(n, 0, index);
    n->iargs[0] = d;
  }
  return out;
}

ax_tensor *ax_gather(ax_tensor *x, int dim, ax_tensor *index) {
  static const char op[] = "ax_gather";
  if (!x || !index) return NULL;
  if (!check_index_tensor(op, x, index)) return NULL;
  int d = check_gather_shapes(op, x, dim, index);
  if (d < 0 || !check_index_values(op, index, d, dim_size(x, d), AX_KID_gather)) return NULL;
  return gather_impl(op, x, d, index);
}

/* ---------------- scatter_add ---------------- */

static void scatter_add_backward(ax_node *n, ax_tensor *g) {
  int d = (int)n->iargs[0];
  ax_tensor *index = n->saved[0];
  if (ax__input_needs_grad(n, 0)) ax__accumulate(n, 0, g);
  if (!ax__input_needs_grad(n, 1)) return;
  ax_tensor *src = n->inputs[1];
  ax_tensor *gs = gather_impl(n->name, g, d, index); /* index values were checked in the forward pass */
  if (!gs || ax_same_shape(gs, src)) {
    ax__accumulate(n, 1, gs);
    return;
  }
  /* src larger than index: the elements of src that were never read get zero */
  ax_tensor *z = ax_zeros(src->ndim, src->shape, &(ax_tensor_opts){.dtype = g->dtype, .device = g->device});
  if (!z) return;
  const ax_backend *be = z->storage->backend;
  if (!index_backend(n->name, z, "copy", be->copy != NULL)) return;
  ax_kt zk = ax__kt(z), gk = ax__kt(gs);
  memcpy(zk.shape, gs->shape, sizeof zk.shape);
  if (ax_numel(gs) > 0 && !AX_KCALL(n->name, be, copy, &zk, &gk)) return;
  ax__accumulate(n, 1, z);
}

ax_tensor *ax_scatter_add(ax_tensor *x, int dim, ax_tensor *index, ax_tensor *src) {
  static const char op[] = "ax_scatter_add";
  if (!x || !index || !src) return NULL;
  if (!check_index_tensor(op, x, index) || !ax__check_same_dtype(op, x, src) || !ax__check_same_device(op, x, src))
    return NULL;
  if (src->ndim != x->ndim) {
    ax_error("%s: src %s must have as many dims as the input %s", op, ax__shp(src), ax__shp(x));
    return NULL;
  }
  int d = check_gather_shapes(op, x, dim, index);
  if (d < 0) return NULL;
  for (int k = 0; k < src->ndim; k++)
    if (index->shape[k] > src->shape[k]) {
      ax_error("%s: index %s is larger than src %s in dim %d (%lld > %lld)", op, ax__shp(index), ax__shp(src), k,
               (long long)index->shape[k], (long long)src->shape[k]);
      return NULL;
    }
  if (!check_index_values(op, index, d, dim_size(x, d), AX_KID_scatter_add)) return NULL;
  ax_tensor *out = ax__new(op, x->dtype, x->device, x->ndim, x->shape);
  if (!out) return NULL;
  const ax_backend *be = out->storage->backend;
  AX_KERNEL_CHECK(be, copy, op);
  AX_KERNEL_CHECK(be, scatter_add, op);
  ax_kt ok = ax__kt(out), xk = ax__kt(x), ik = ax__kt(index), sk = ax__kt(src);
  memcpy(sk.shape, index->shape, sizeof sk.shape); /* the part of src that index reaches */
  if (ax_numel(out) > 0 && !AX_KCALL(op, be, copy, &ok, &xk)) return NULL;
  if (ax_numel(index) > 0 && !AX_KCALL(op, be, scatter_add, &ok, d, &ik, &sk)) return NULL;
  ax_tensor *ins[2] = {x, src};
  ax_node *n = ax__record(out, "scatter_add", scatter_add_backward, 2, ins);
  if (n) {
    ax__save(n, 0, index);
    n->iargs[0] = d;
  }
  return out;
}
