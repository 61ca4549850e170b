/* SPDX-License-Identifier: BSD-3-Clause */
/* Views and joins: reshape, view, permute, transpose, narrow, slice, expand,
 * squeeze, unsqueeze, flatten share their input's storage (only the shape,
 * strides and offset change); cat and stack copy; split and chunk return
 * narrow views. Each view records its own node, so gradients flow through
 * views exactly as through any other op. */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

/* A view of x's storage with the given layout, recorded as `name`. */
static ax_tensor *make_view(ax_tensor *x, int ndim, const int64_t *shape, const int64_t *strides, int64_t offset,
                            const char *name, ax_backward_fn fn, ax_node **node) {
  if (node) *node = NULL;
  if (x && x->device.type == AX__DEVICE_DEAD) { /* released (scope debugging): the error names ax_<name> */
    char op[64];
    snprintf(op, sizeof op, "ax_%s", name);
    ax__check_alive(op, x);
    return NULL;
  }
  ax_tensor *out = ax__view(x, ndim, shape, strides, offset);
  ax_node *n = ax__record(out, name, fn, 1, &x);
  if (node) *node = n;
  return out;
}

/* Drops an intermediate an op made with other ops: inside a scope the scope
 * releases it, outside any scope the op itself holds its only reference. */
static void drop_temp(ax_tensor *t) {
  if (ax_scope_depth() == 0) ax_free(t);
}

/* Gradient of every op that only rearranges x's elements into a new shape. */
static void reshape_backward(ax_node *n, ax_tensor *g) { ax__accumulate(n, 0, ax_reshape(g, n->in_ndim, n->in_shape)); }

/* ---------------- reshape and view ---------------- */

/* Copies `shape` into out with its one -1 resolved; false (with an error) if it cannot hold x's elements. */
static bool infer_shape(const char *op, const ax_tensor *x, int ndim, const int64_t *shape, int64_t *out) {
  if (ndim < 0 || ndim > AX_MAX_DIMS || (ndim > 0 && !shape)) {
    ax_error("%s: invalid target shape (%d dims; between 0 and %d are supported) for %s", op, ndim, AX_MAX_DIMS,
             ax__shp(x));
    return false;
  }
  if (!ax__shape_ok(op, ndim, shape)) return false;
  int infer = -1;
  int64_t known = 1, numel = ax_numel(x);
  for (int i = 0; i < ndim; i++) {
    out[i] = shape[i];
    if (shape[i] == -1) {
      if (infer >= 0) {
        ax_error("%s: only one dim can be -1, got %s for %s", op, ax__shp_raw(ndim, shape), ax__shp(x));
        return false;
      }
      infer = i;
    } else if (shape[i] < 0) {
      ax_error("%s: invalid size %lld in %s for %s", op, (long long)shape[i], ax__shp_raw(ndim, shape), ax__shp(x));
      return false;
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel % known != 0) {
      ax_error("%s: cannot reshape %s (%lld elements) into %s: no size for the -1 dim fits", op, ax__shp(x),
               (long long)numel, ax__shp_raw(ndim, shape));
      return false;
    }
    out[infer] = numel / known;
  } else if (known != numel) {
    ax_error("%s: cannot reshape %s (%lld elements) into %s (%lld elements)", op, ax__shp(x), (long long)numel,
             ax__shp_raw(ndim, shape), (long long)known);
    return false;
  }
  return true;
}

/* Strides that express x's elements, in row-major order, with the new shape,
 * if x's layout allows it (PyTorch's rule: the new shape must split or merge
 * only runs of old dims that are laid out contiguously with each other).
 * false means only a copy can give that shape. */
static bool view_strides(const ax_tensor *x, int ndim, const int64_t *shape, int64_t *strides) {
  if (x->ndim == 0 || ax_numel(x) == 0) {
    ax__contiguous_strides(ndim, shape, strides);
    return true;
  }
  int view_d = ndim - 1;
  int64_t chunk_stride = x->strides[x->ndim - 1], tensor_numel = 1, view_numel = 1;
  for (int d = x->ndim - 1; d >= 0; d--) {
    tensor_numel *= x->shape[d];
    /* a chunk of old dims ends where the next one out is not laid out right after it */
    if (d == 0 || (x->shape[d - 1] != 1 && x->strides[d - 1] != tensor_numel * chunk_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        strides[view_d] = view_numel * chunk_stride;
        view_numel *= shape[view_d];
        view_d--;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_stride = x->strides[d - 1];
        tensor_numel = view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

static ax_tensor *reshape_impl(const char *op, const char *name, ax_tensor *x, int ndim, const int64_t *shape,
                               bool may_copy) {
  if (!x) return NULL;
  int64_t shp[AX_MAX_DIMS], str[AX_MAX_DIMS];
  if (!infer_shape(op, x, ndim, shape, shp)) return NULL;
  if (view_strides(x, ndim, shp, str)) return make_view(x, ndim, shp, str, x->offset, name, reshape_backward, NULL);
  if (!may_copy) {
    ax_error("%s: cannot view %s (strides %s) as %s without copying: its layout is not compatible with that shape "
             "(use ax_reshape, which copies when needed)",
             op, ax__shp(x), ax__shp_raw(x->ndim, x->strides), ax__shp_raw(ndim, shp));
    return NULL;
  }
  ax_tensor *c = ax_contiguous(x); /* records its own node, so gradients flow to x through it */
  if (!c) return NULL;
  ax__contiguous_strides(ndim, shp, str);
  ax_tensor *out = make_view(c, ndim, shp, str, c->offset, name, reshape_backward, NULL);
  drop_temp(c); /* the view holds its storage and its node holds c */
  return out;
}

ax_tensor *ax_reshape(ax_tensor *x, int ndim, const int64_t *shape) {
  return reshape_impl("ax_reshape", "reshape", x, ndim, shape, true);
}

ax_tensor *ax_view(ax_tensor *x, int ndim, const int64_t *shape) {
  return reshape_impl("ax_view", "view", x, ndim, shape, false);
}

ax_tensor *ax_flatten(ax_tensor *x, int start_dim, int end_dim) {
  if (!x) return NULL;
  if (x->ndim == 0) return reshape_impl("ax_flatten", "flatten", x, AX_SHAPE(1), true);
  int s = ax__wrap_dim("ax_flatten", start_dim, x->ndim);
  if (s < 0) return NULL;
  int e = ax__wrap_dim("ax_flatten", end_dim, x->ndim);
  if (e < 0) return NULL;
  if (s > e) {
    ax_error("ax_flatten: start_dim %d comes after end_dim %d for %s", start_dim, end_dim, ax__shp(x));
    return NULL;
  }
  int64_t shp[AX_MAX_DIMS];
  int nd = 0;
  for (int i = 0; i < s; i++) shp[nd++] = x->shape[i];
  shp[nd] = 1;
  for (int i = s; i <= e; i++) shp[nd] *= x->shape[i];
  nd++;
  for (int i = e + 1; i < x->ndim; i++) shp[nd++] = x->shape[i];
  return reshape_impl("ax_flatten", "flatten", x, nd, shp, true);
}

/* ---------------- permute and transpose ---------------- */

static void permute_backward(ax_node *n, ax_tensor *g) {
  int inv[AX_MAX_DIMS];
  for (int i = 0; i < n->in_ndim; i++) inv[n->iargs[i]] = i;
  ax__accumulate(n, 0, ax_permute(g, inv));
}

/* perm is already checked to be a permutation of x's dims. */
static ax_tensor *permute_impl(const char *name, ax_tensor *x, const int *perm) {
  int64_t shp[AX_MAX_DIMS], str[AX_MAX_DIMS];
  for (int i = 0; i < x->ndim; i++) {
    shp[i] = x->shape[perm[i]];
    str[i] = x->strides[perm[i]];
  }
  ax_node *n;
  ax_tensor *out = make_view(x, x->ndim, shp, str, x->offset, name, permute_backward, &n);
  if (n)
    for (int i = 0; i < x->ndim; i++) n->iargs[i] = perm[i];
  return out;
}

ax_tensor *ax_permute(ax_tensor *x, const int *dims) {
  if (!x) return NULL;
  if (x->ndim > 0 && !dims) {
    ax_error("ax_permute: dims is NULL for %s (expected %d entries)", ax__shp(x), x->ndim);
    return NULL;
  }
  int perm[AX_MAX_DIMS];
  bool seen[AX_MAX_DIMS] = {false};
  for (int i = 0; i < x->ndim; i++) {
    int d = ax__wrap_dim("ax_permute", dims[i], x->ndim);
    if (d < 0) return NULL;
    if (seen[d]) {
      ax_error("ax_permute: dim %d appears twice in the permutation of %s", dims[i], ax__shp(x));
      return NULL;
    }
    seen[d] = true;
    perm[i] = d;
  }
  return permute_impl("permute", x, perm);
}

ax_tensor *ax_transpose(ax_tensor *x, int dim0, int dim1) {
  if (!x) return NULL;
  int a = ax__wrap_dim("ax_transpose", dim0, x->ndim);
  if (a < 0) return NULL;
  int b = ax__wrap_dim("ax_transpose", dim1, x->ndim);
  if (b < 0) return NULL;
  int perm[AX_MAX_DIMS];
  for (int i = 0; i < x->ndim; i++) perm[i] = i;
  if (x->ndim > 0) {
    perm[a] = b;
    perm[b] = a;
  }
  return permute_impl("transpose", x, perm);
}

/* ---------------- narrow and slice ---------------- */

/* Gradient of a slice: added into that slice of the input's gradient, which is
 * created as zeros once per backward pass (not once per slice). */
static void slice_backward(ax_node *n, ax_tensor *g) {
  ax__accumulate_region(n, 0, g, (int)n->iargs[0], n->iargs[1], n->iargs[2]);
}

/* Elements start, start+step, ... (length of them) along dim d, all in range. */
static ax_tensor *slice_view(const char *name, ax_tensor *x, int d, int64_t start, int64_t length, int64_t step) {
  int64_t shp[AX_MAX_DIMS], str[AX_MAX_DIMS];
  memcpy(shp, x->shape, sizeof shp);
  memcpy(str, x->strides, sizeof str);
  shp[d] = length;
  str[d] = x->strides[d] * step;
  /* an empty slice may start at the end: keep the offset inside the storage */
  int64_t offset = x->offset + (length > 0 ? start * x->strides[d] : 0);
  ax_node *n;
  ax_tensor *out = make_view(x, x->ndim, shp, str, offset, name, slice_backward, &n);
  if (n) {
    n->iargs[0] = d;
    n->iargs[1] = length > 0 ? start : 0;
    n->iargs[2] = step;
  }
  return out;
}

/* Checks dim and the range for narrow-like ops; returns the wrapped dim or -1. */
static int narrow_check(const char *op, ax_tensor *x, int dim, int64_t *start, int64_t length) {
  if (x->ndim == 0) {
    ax_error("%s: cannot take part of a 0-dim tensor", op);
    return -1;
  }
  int d = ax__wrap_dim(op, dim, x->ndim);
  if (d < 0) return -1;
  int64_t size = x->shape[d], s = *start;
  if (s < 0 && s >= -size) s += size;
  if (s < 0 || s > size || length < 0 || length > size - s) {
    ax_error("%s: start %lld and length %lld are out of range for dim %d of size %lld (tensor %s)", op,
             (long long)*start, (long long)length, dim, (long long)size, ax__shp(x));
    return -1;
  }
  *start = s;
  return d;
}

ax_tensor *ax_narrow(ax_tensor *x, int dim, int64_t start, int64_t length) {
  if (!x) return NULL;
  int d = narrow_check("ax_narrow", x, dim, &start, length);
  return d < 0 ? NULL : slice_view("narrow", x, d, start, length, 1);
}

/* Python's rule for slice bounds: negative counts from the end, then clamp to [0, size]. */
static int64_t clamp_bound(int64_t i, int64_t size) {
  if (i < 0) i = i < -size ? 0 : i + size;
  return i > size ? size : i;
}

ax_tensor *ax_slice(ax_tensor *x, int dim, int64_t start, int64_t end, int64_t step) {
  if (!x) return NULL;
  if (x->ndim == 0) {
    ax_error("ax_slice: cannot slice a 0-dim tensor");
    return NULL;
  }
  int d = ax__wrap_dim("ax_slice", dim, x->ndim);
  if (d < 0) return NULL;
  if (step < 1) {
    ax_error("ax_slice: step must be at least 1, got %lld (slicing %s along dim %d)", (long long)step, ax__shp(x),
             dim);
    return NULL;
  }
  int64_t size = x->shape[d], s = clamp_bound(start, size), e = clamp_bound(end, size);
  int64_t length = e > s ? (e - s + step - 1) / step : 0;
  return slice_view("slice", x, d, s, length, step);
}

/* ---------------- expand, squeeze, unsqueeze ---------------- */

static void expand_backward(ax_node *n, ax_tensor *g) { ax__accumulate(n, 0, ax__sum_to(g, n->in_ndim, n->in_shape)); }

ax_tensor *ax_expand(ax_tensor *x, int ndim, const int64_t *shape) {
  if (!x) return NULL;
  if (ndim < x->ndim || ndim > AX_MAX_DIMS || (ndim > 0 && !shape)) {
    ax_error("ax_expand: cannot expand %s to %d dims %s (need between %d and %d dims)", ax__shp(x), ndim,
             shape ? ax__shp_raw(ndim, shape) : "NULL", x->ndim, AX_MAX_DIMS);
    return NULL;
  }
  int64_t shp[AX_MAX_DIMS], str[AX_MAX_DIMS];
  int lead = ndim - x->ndim;
  for (int i = 0; i < ndim; i++) {
    int64_t want = shape[i];
    if (i < lead) {
      if (want < 0) {
        ax_error("ax_expand: size %lld is not allowed for the new leading dim %d of %s (expanding %s)",
                 (long long)want, i, ax__shp_raw(ndim, shape), ax__shp(x));
        return NULL;
      }
      shp[i] = want;
      str[i] = 0;
      continue;
    }
    int64_t have = x->shape[i - lead];
    if (want == -1) want = have;
    if (want == have) {
      shp[i] = have;
      str[i] = x->strides[i - lead];
    } else if (have == 1 && want >= 0) {
      shp[i] = want;
      str[i] = 0;
    } else {
      ax_error("ax_expand: cannot expand %s to %s (dim %d: size %lld must be 1 or equal %lld)", ax__shp(x),
               ax__shp_raw(ndim, shape), i, (long long)have, (long long)shape[i]);
      return NULL;
    }
  }
  if (!ax__shape_ok("ax_expand", ndim, shp)) return NULL;
  return make_view(x, ndim, shp, str, x->offset, "expand", expand_backward, NULL);
}

ax_tensor *ax_squeeze(ax_tensor *x, int dim) {
  if (!x) return NULL;
  int d = -1;
  if (dim != AX_SQUEEZE_ALL) {
    d = ax__wrap_dim("ax_squeeze", dim, x->ndim);
    if (d < 0) return NULL;
  }
  int64_t shp[AX_MAX_DIMS], str[AX_MAX_DIMS];
  int nd = 0;
  for (int i = 0; i < x->ndim; i++) {
    /* like PyTorch, squeezing a dim whose size is not 1 leaves it alone */
    bool drop = x->shape[i] == 1 && (dim == AX_SQUEEZE_ALL || i == d);
    if (drop) continue;
    shp[nd] = x->shape[i];
    str[nd++] = x->strides[i];
  }
  return make_view(x, nd, shp, str, x->offset, "squeeze", reshape_backward, NULL);
}

ax_tensor *ax_unsqueeze(ax_tensor *x, int dim) {
  if (!x) return NULL;
  if (x->ndim >= AX_MAX_DIMS) {
    ax_error("ax_unsqueeze: %s already has the maximum of %d dims", ax__shp(x), AX_MAX_DIMS);
    return NULL;
  }
  int d = ax__wrap_dim("ax_unsqueeze", dim, x->ndim + 1);
  if (d < 0) return NULL;
  int64_t shp[AX_MAX_DIMS], str[AX_MAX_DIMS];
  for (int i = 0, j = 0; i <= x->ndim; i++) {
    if (i == d) {
      shp[i] = 1;
      str[i] = d < x->ndim ? x->shape[d] * x->strides[d] : 1;
    } else {
      shp[i] = x->shape[j];
      str[i] = x->strides[j++];
    }
  }
  return make_view(x, x->ndim + 1, shp, str, x->offset, "unsqueeze", reshape_backward, NULL);
}

/* ---------------- cat, stack, split, chunk ---------------- */

/* saved[0]: i64 CPU tensor with every input's size along dim (inputs that need
 * no grad are NULL in the node, but their sizes still place the others). */
static void cat_backward(ax_node *n, ax_tensor *g) {
  int d = (int)n->iargs[0];
  const int64_t *sizes = ax_data_ptr(n->saved[0]);
  int64_t off = 0;
  for (int i = 0; i < n->n_inputs; i++) {
    if (ax__input_needs_grad(n, i)) ax__accumulate(n, i, ax_narrow(g, d, off, sizes[i]));
    off += sizes[i];
  }
}

static bool cat_check(const char *op, ax_tensor *const *xs, int n) {
  if (n <= 0 || !xs) {
    ax_error("%s: expected at least one tensor, got %d", op, n);
    return false;
  }
  for (int i = 0; i < n; i++)
    if (!xs[i]) return false;
  return true;
}

ax_tensor *ax_cat(ax_tensor *const *xs, int n, int dim) {
  if (!cat_check("ax_cat", xs, n)) return NULL;
  ax_tensor *x0 = xs[0];
  if (x0->ndim == 0) {
    ax_error("ax_cat: 0-dim tensors cannot be concatenated (tensor 0 is 0-dim; use ax_stack)");
    return NULL;
  }
  int d = ax__wrap_dim("ax_cat", dim, x0->ndim);
  if (d < 0) return NULL;
  int64_t shp[AX_MAX_DIMS];
  memcpy(shp, x0->shape, sizeof shp);
  shp[d] = 0;
  for (int i = 0; i < n; i++) {
    ax_tensor *x = xs[i];
    if (x->dtype != x0->dtype) {
      ax_error("ax_cat: tensor %d is %s %s but tensor 0 is %s %s (convert with ax_cast first)", i,
               ax_dtype_name(x->dtype), ax__shp(x), ax_dtype_name(x0->dtype), ax__shp(x0));
      return NULL;
    }
    if (!ax__check_same_device("ax_cat", x0, x)) return NULL;
    bool ok = x->ndim == x0->ndim;
    for (int k = 0; ok && k < x->ndim; k++) ok = k == d || x->shape[k] == x0->shape[k];
    if (!ok) {
      ax_error("ax_cat: tensor %d has shape %s, which does not match tensor 0's shape %s outside dim %d", i,
               ax__shp(x), ax__shp(x0), d);
      return NULL;
    }
    shp[d] += x->shape[d];
  }
  ax_tensor *out = ax__new("ax_cat", x0->dtype, x0->device, x0->ndim, shp);
  if (!out) return NULL;
  const ax_backend *be = out->storage->backend;
  AX_KERNEL_CHECK(be, copy, "ax_cat");
  int64_t off = 0, es = (int64_t)ax_dtype_size(out->dtype);
  for (int i = 0; i < n; i++) {
    ax_kt dst = ax__kt(out), src = ax__kt(xs[i]);
    dst.data = (char *)dst.data + off * out->strides[d] * es;
    dst.shape[d] = xs[i]->shape[d];
    if (ax_numel(xs[i]) > 0 && !AX_KCALL("ax_cat", be, copy, &dst, &src)) return NULL;
    off += xs[i]->shape[d];
  }
  ax_node *node = ax__record(out, "cat", cat_backward, n, xs);
  if (node) {
    node->iargs[0] = d;
    int64_t n64 = n;
    ax_scope_begin(); /* the node holds the only lasting reference */
    ax_tensor *sizes = ax__new("ax_cat", AX_I64, AX_CPU, 1, &n64);
    if (sizes) {
      for (int i = 0; i < n; i++) ((int64_t *)ax_data_ptr(sizes))[i] = xs[i]->shape[d];
      ax__save(node, 0, sizes);
    }
    ax_scope_end();
  }
  return out;
}

ax_tensor *ax_stack(ax_tensor *const *xs, int n, int dim) {
  if (!cat_check("ax_stack", xs, n)) return NULL;
  for (int i = 1; i < n; i++) {
    if (!ax_same_shape(xs[i], xs[0]) || xs[i]->dtype != xs[0]->dtype) {
      ax_error("ax_stack: tensor %d is %s %s but tensor 0 is %s %s (stacked tensors need equal shapes and dtypes)", i,
               ax_dtype_name(xs[i]->dtype), ax__shp(xs[i]), ax_dtype_name(xs[0]->dtype), ax__shp(xs[0]));
      return NULL;
    }
    if (!ax__check_same_device("ax_stack", xs[0], xs[i])) return NULL;
  }
  int d = ax__wrap_dim("ax_stack", dim, xs[0]->ndim + 1);
  if (d < 0) return NULL;
  ax_tensor **u = malloc((size_t)n * sizeof *u);
  if (!u) {
    ax_error("ax_stack: out of host memory");
    return NULL;
  }
  ax_tensor *out = NULL;
  int i = 0;
  for (; i < n; i++)
    if (!(u[i] = ax_unsqueeze(xs[i], d))) break;
  if (i == n) out = ax_cat(u, n, d);
  while (i > 0) drop_temp(u[--i]);
  free(u);
  return out;
}

int ax_split(ax_tensor *x, int64_t split_size, int dim, ax_tensor **out, int max_out) {
  if (!x) return -1;
  if (x->ndim == 0) {
    ax_error("ax_split: cannot split a 0-dim tensor");
    return -1;
  }
  int d = ax__wrap_dim("ax_split", dim, x->ndim);
  if (d < 0) return -1;
  int64_t size = x->shape[d];
  if (split_size < 0 || (split_size == 0 && size > 0)) {
    ax_error("ax_split: split_size must be positive, got %lld (splitting %s along dim %d)", (long long)split_size,
             ax__shp(x), dim);
    return -1;
  }
  if (max_out > 0 && !out) {
    ax_error("ax_split: out is NULL but max_out is %d", max_out);
    return -1;
  }
  int64_t count = split_size == 0 ? 1 : (size + split_size - 1) / split_size;
  if (count == 0) count = 1; /* an empty dim still gives one (empty) piece, like PyTorch */
  if (count > 0x7fffffff) {
    ax_error("ax_split: %lld pieces are too many (splitting %s along dim %d)", (long long)count, ax__shp(x), dim);
    return -1;
  }
  for (int64_t i = 0; i < count && i < max_out; i++) {
    int64_t start = i * split_size, len = size - start < split_size ? size - start : split_size;
    out[i] = slice_view("split", x, d, start, len, 1);
  }
  return (int)count;
}

int ax_split_sizes(ax_tensor *x, const int64_t *sizes, int n, int dim, ax_tensor **out) {
  if (!x) return -1;
  if (x->ndim == 0) {
    ax_error("ax_split_sizes: cannot split a 0-dim tensor");
    return -1;
  }
  int d = ax__wrap_dim("ax_split_sizes", dim, x->ndim);
  if (d < 0) return -1;
  if (n <= 0 || !sizes || !out) {
    ax_error("ax_split_sizes: expected n > 0 sizes and an out array, got n = %d, sizes %s, out %s (splitting %s)", n,
             sizes ? "given" : "NULL", out ? "given" : "NULL", ax__shp(x));
    return -1;
  }
  int64_t total = 0;
  for (int i = 0; i < n; i++) {
    if (sizes[i] < 0) {
      ax_error("ax_split_sizes: size %d is %lld, must be >= 0 (splitting %s along dim %d)", i, (long long)sizes[i],
               ax__shp(x), dim);
      return -1;
    }
    total += sizes[i];
  }
  if (total != x->shape[d]) {
    ax_error("ax_split_sizes: the %d sizes sum to %lld but dim %d of %s has size %lld", n, (long long)total, dim,
             ax__shp(x), (long long)x->shape[d]);
    return -1;
  }
  for (int i = 0; i < n; i++) out[i] = NULL;
  int64_t start = 0;
  for (int i = 0; i < n; i++) {
    out[i] = slice_view("split_sizes", x, d, start, sizes[i], 1);
    if (!out[i]) return -1;
    start += sizes[i];
  }
  return n;
}

int ax_chunk(ax_tensor *x, int chunks, int dim, ax_tensor **out, int max_out) {
  if (!x) return -1;
  if (chunks <= 0) {
    ax_error("ax_chunk: chunks must be positive, got %d (chunking %s)", chunks, ax__shp(x));
    return -1;
  }
  if (x->ndim == 0) {
    ax_error("ax_chunk: cannot chunk a 0-dim tensor");
    return -1;
  }
  int d = ax__wrap_dim("ax_chunk", dim, x->ndim);
  if (d < 0) return -1;
  int64_t size = x->shape[d];
  if (size == 0) { /* like PyTorch: `chunks` empty pieces */
    if (max_out > 0 && !out) {
      ax_error("ax_chunk: out is NULL but max_out is %d", max_out);
      return -1;
    }
    for (int i = 0; i < chunks && i < max_out; i++) out[i] = slice_view("chunk", x, d, 0, 0, 1);
    return chunks;
  }
  return ax_split(x, (size + chunks - 1) / chunks, d, out, max_out);
}
