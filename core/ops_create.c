/* SPDX-License-Identifier: BSD-3-Clause */
/* Creation, copies between devices and dtypes, contiguous, clone, detach. */
#include <math.h>
#include <string.h>

#include "core/internal.h"

static ax_tensor_opts opts_or_default(const ax_tensor_opts *o) {
  ax_tensor_opts d = {0};
  return o ? *o : d;
}

static ax_tensor *finish_leaf(ax_tensor *t, ax_tensor_opts o) {
  if (t && o.requires_grad) {
    ax_set_requires_grad(t, true);
    if (!t->requires_grad) return NULL;
  }
  return t;
}

ax_tensor *ax_empty(int ndim, const int64_t *shape, const ax_tensor_opts *opts) {
  ax_tensor_opts o = opts_or_default(opts);
  return finish_leaf(ax__new("ax_empty", o.dtype, o.device, ndim, shape), o);
}

ax_tensor *ax_full(int ndim, const int64_t *shape, double value, const ax_tensor_opts *opts) {
  ax_tensor_opts o = opts_or_default(opts);
  ax_tensor *t = ax__new("ax_full", o.dtype, o.device, ndim, shape);
  if (!t) return NULL;
  const ax_backend *be = t->storage->backend;
  AX_KERNEL_CHECK(be, fill, "ax_full");
  ax_kt k = ax__kt(t);
  if (!AX_KCALL("ax_full", be, fill, &k, value)) return NULL;
  return finish_leaf(t, o);
}

ax_tensor *ax_zeros(int ndim, const int64_t *shape, const ax_tensor_opts *o) { return ax_full(ndim, shape, 0.0, o); }
ax_tensor *ax_ones(int ndim, const int64_t *shape, const ax_tensor_opts *o) { return ax_full(ndim, shape, 1.0, o); }
ax_tensor *ax_scalar(double value, const ax_tensor_opts *o) { return ax_full(0, NULL, value, o); }

static ax_tensor_opts like(const ax_tensor *t) { return (ax_tensor_opts){.dtype = t->dtype, .device = t->device}; }
ax_tensor *ax_zeros_like(const ax_tensor *t) { return t ? ax_full(t->ndim, t->shape, 0.0, &(ax_tensor_opts){.dtype = t->dtype, .device = t->device}) : NULL; }
ax_tensor *ax_ones_like(const ax_tensor *t) { return t ? ax_full(t->ndim, t->shape, 1.0, &(ax_tensor_opts){.dtype = t->dtype, .device = t->device}) : NULL; }
ax_tensor *ax_full_like(const ax_tensor *t, double v) {
  if (!t) return NULL;
  ax_tensor_opts o = like(t);
  return ax_full(t->ndim, t->shape, v, &o);
}
ax_tensor *ax_empty_like(const ax_tensor *t) {
  if (!t) return NULL;
  ax_tensor_opts o = like(t);
  return ax_empty(t->ndim, t->shape, &o);
}

ax_tensor *ax_arange(double start, double end, double step, const ax_tensor_opts *opts) {
  ax_tensor_opts o = opts_or_default(opts);
  if (step == 0 || !isfinite(start) || !isfinite(end) || !isfinite(step) || (end - start) / step < 0) {
    ax_error("ax_arange: cannot make a range from %g to %g with step %g", start, end, step);
    return NULL;
  }
  int64_t n = (int64_t)ceil((end - start) / step);
  ax_tensor *t = ax__new("ax_arange", o.dtype, o.device, 1, &n);
  if (!t) return NULL;
  const ax_backend *be = t->storage->backend;
  AX_KERNEL_CHECK(be, arange, "ax_arange");
  ax_kt k = ax__kt(t);
  if (!AX_KCALL("ax_arange", be, arange, &k, start, step)) return NULL;
  return finish_leaf(t, o);
}

static ax_tensor *random_tensor(const char *op, int dist, int ndim, const int64_t *shape, const ax_tensor_opts *opts) {
  ax_tensor_opts o = opts_or_default(opts);
  if (!ax_dtype_is_float(o.dtype)) {
    ax_error("%s: random values need a floating-point dtype, got %s", op, ax_dtype_name(o.dtype));
    return NULL;
  }
  ax_tensor *t = ax__new(op, o.dtype, o.device, ndim, shape);
  if (!t) return NULL;
  const ax_backend *be = t->storage->backend;
  AX_KERNEL_CHECK(be, random, op);
  ax_kt k = ax__kt(t);
  if (!AX_KCALL(op, be, random, &k, dist, dist == AX_RANDOM_UNIFORM ? 0.0 : 0.0, 1.0, ax__rng_seed(), ax__rng_next_offset()))
    return NULL;
  return finish_leaf(t, o);
}

ax_tensor *ax_rand(int ndim, const int64_t *shape, const ax_tensor_opts *o) {
  return random_tensor("ax_rand", AX_RANDOM_UNIFORM, ndim, shape, o);
}
ax_tensor *ax_randn(int ndim, const int64_t *shape, const ax_tensor_opts *o) {
  return random_tensor("ax_randn", AX_RANDOM_NORMAL, ndim, shape, o);
}

ax_tensor *ax_from_data(const void *data, int ndim, const int64_t *shape, const ax_tensor_opts *opts) {
  ax_tensor_opts o = opts_or_default(opts);
  if (!data && ax__shape_numel(ndim, shape) > 0) {
    ax_error("ax_from_data: data is NULL for a tensor of shape %s", ax__shp_raw(ndim, shape));
    return NULL;
  }
  ax_tensor *t = ax__new("ax_from_data", o.dtype, o.device, ndim, shape);
  if (!t) return NULL;
  t->storage->backend->copy_from_host(t->storage->data, data, ax_nbytes(t), o.device.index);
  return finish_leaf(t, o);
}

/* ---------------- copies ---------------- */

/* A new contiguous tensor with t's values, converted to dt, on dev. */
static ax_tensor *copy_to(const char *op, ax_tensor *t, ax_dtype dt, ax_device dev) {
  if (!ax__check_alive(op, t)) return NULL;
  if (ax_device_eq(t->device, dev)) {
    ax_tensor *out = ax__new(op, dt, dev, t->ndim, t->shape);
    if (!out) return NULL;
    const ax_backend *be = out->storage->backend;
    AX_KERNEL_CHECK(be, copy, op);
    ax_kt d = ax__kt(out), s = ax__kt(t);
    if (!AX_KCALL(op, be, copy, &d, &s)) return NULL;
    return out;
  }
  /* across devices: make the bytes contiguous and of the target dtype on the
   * side that has the source, then one transfer */
  ax_tensor *src = t;
  if (!ax_is_contiguous(t) || t->dtype != dt) src = copy_to(op, t, dt, t->device);
  if (!src) return NULL;
  ax_tensor *out = ax__new(op, dt, dev, t->ndim, t->shape);
  if (!out) return NULL;
  if (dev.type == AX_DEVICE_CPU) {
    if (src->storage->backend->copy_to_host(ax_data_ptr(out), ax_data_ptr(src), ax_nbytes(out), src->device.index))
      return NULL; /* reported: the copy failed, or the device found an error in earlier work */
  } else if (t->device.type == AX_DEVICE_CPU)
    out->storage->backend->copy_from_host(ax_data_ptr(out), ax_data_ptr(src), ax_nbytes(out), dev.index);
  else { /* GPU to GPU through the host: correct, not fast; peer copies come with the CUDA backend */
    ax_tensor *host = copy_to(op, src, dt, AX_CPU);
    if (!host) return NULL;
    out->storage->backend->copy_from_host(ax_data_ptr(out), ax_data_ptr(host), ax_nbytes(out), dev.index);
  }
  return out;
}

int ax_to_data(const ax_tensor *t, void *dst, size_t nbytes) {
  if (!t || !ax__check_alive("ax_to_data", t)) return -1;
  if (nbytes < ax_nbytes(t)) {
    ax_error("ax_to_data: buffer of %zu bytes is too small for a %s %s tensor (%zu bytes)", nbytes,
             ax_dtype_name(t->dtype), ax__shp(t), ax_nbytes(t));
    return -1;
  }
  ax_scope_begin();
  ax_tensor *c = (ax_tensor *)t;
  int rc = 0;
  if (t->device.type != AX_DEVICE_CPU || !ax_is_contiguous(t)) c = copy_to("ax_to_data", (ax_tensor *)t, t->dtype, AX_CPU);
  if (c)
    memcpy(dst, ax_data_ptr(c), ax_nbytes(t));
  else
    rc = -1;
  ax_scope_end();
  return rc;
}

double ax_item(const ax_tensor *t) {
  if (!t || !ax__check_alive("ax_item", t)) return NAN;
  if (ax_numel(t) != 1) {
    ax_error("ax_item: expected a one-element tensor, got shape %s", ax__shp(t));
    return NAN;
  }
  double v = NAN;
  ax_scope_begin();
  ax_tensor *c = copy_to("ax_item", (ax_tensor *)t, AX_F64, AX_CPU);
  if (c) v = *(double *)ax_data_ptr(c);
  ax_scope_end();
  return v;
}

static void to_backward(ax_node *n, ax_tensor *g) {
  ax_device d = {(int)n->iargs[0], (int)n->iargs[1]};
  ax__accumulate(n, 0, ax_to(g, d));
}

ax_tensor *ax_to(ax_tensor *t, ax_device dev) {
  if (!t) return NULL;
  if (!ax__backend(dev, "ax_to")) return NULL;
  ax_scope_begin(); /* a cross-device copy may stage a temporary */
  ax_tensor *out = ax__scope_return(copy_to("ax_to", t, t->dtype, dev));
  ax_node *n = ax__record(out, "to", to_backward, 1, &t);
  if (n) {
    n->iargs[0] = t->device.type;
    n->iargs[1] = t->device.index;
  }
  return out;
}

static void cast_backward(ax_node *n, ax_tensor *g) { ax__accumulate(n, 0, ax_cast(g, (ax_dtype)n->in_dtype)); }

ax_tensor *ax_cast(ax_tensor *t, ax_dtype dt) {
  if (!t) return NULL;
  if ((unsigned)dt >= AX_NUM_DTYPES) {
    ax_error("ax_cast: invalid dtype %d", (int)dt);
    return NULL;
  }
  ax_tensor *out = copy_to("ax_cast", t, dt, t->device);
  if (ax_dtype_is_float(dt)) ax__record(out, "cast", cast_backward, 1, &t);
  return out;
}

static void identity_backward(ax_node *n, ax_tensor *g) { ax__accumulate(n, 0, g); }

ax_tensor *ax_clone(ax_tensor *t) {
  if (!t) return NULL;
  ax_tensor *out = copy_to("ax_clone", t, t->dtype, t->device);
  ax__record(out, "clone", identity_backward, 1, &t);
  return out;
}

ax_tensor *ax_contiguous(ax_tensor *t) {
  if (!t) return NULL;
  if (ax_is_contiguous(t)) {
    ax__scope_adopt(ax_retain(t)); /* a new reference, as if it were a new tensor */
    return t;
  }
  ax_tensor *out = copy_to("ax_contiguous", t, t->dtype, t->device);
  ax__record(out, "contiguous", identity_backward, 1, &t);
  return out;
}

ax_tensor *ax_detach(ax_tensor *t) {
  if (!t) return NULL;
  return ax__view(t, t->ndim, t->shape, t->strides, t->offset);
}

int ax_copy_(ax_tensor *dst, ax_tensor *src) {
  if (!dst || !src) return -1;
  if (!ax__check_same_device("ax_copy_", dst, src)) return -1;
  if (dst->requires_grad && ax_grad_enabled()) {
    ax_error("ax_copy_: cannot write into %s, which requires grad, while grad mode is on (wrap the update in "
             "ax_no_grad_begin/ax_no_grad_end)",
             ax__shp(dst));
    return -1;
  }
  int nd;
  int64_t shape[AX_MAX_DIMS];
  if (!ax__check_alive("ax_copy_", dst) || !ax__check_alive("ax_copy_", src)) return -1;
  if (!ax__broadcast_shape("ax_copy_", dst, src, &nd, shape)) return -1;
  bool same = nd == dst->ndim;
  for (int i = 0; same && i < nd; i++) same = shape[i] == dst->shape[i];
  if (!same) {
    ax_error("ax_copy_: cannot copy %s into %s (src must broadcast to dst's shape)", ax__shp(src), ax__shp(dst));
    return -1;
  }
  const ax_backend *be = dst->storage->backend;
  if (!be->copy) {
    ax_error("ax_copy_: not implemented on the %s backend yet (kernel 'copy')", be->name);
    return -1;
  }
  ax_kt d = ax__kt(dst), s = ax__kt_broadcast(src, dst->ndim, dst->shape);
  if (!AX_KCALL("ax_copy_", be, copy, &d, &s)) return -1;
  return 0;
}
