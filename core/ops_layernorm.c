/* SPDX-License-Identifier: BSD-3-Clause */
/* Transformer normalizations and the embedding lookup.
 *
 * layer_norm / rms_norm normalize over the last dim (PyTorch's F.layer_norm with
 * normalized_shape = (C,), biased variance; F.rms_norm). x is made contiguous and
 * seen by the kernels as [rows, C]; the forward keeps each row's mean and 1/std
 * (f32, or f64 for f64 x) so that the fused backward kernel needs no second
 * statistics pass and produces gx, gweight and gbias in one call, each only
 * when its input needs it.
 *
 * embedding is index_select on dim 0 of the weight with the flattened indices;
 * its gradient is the backend's embedding_backward, a deterministic scatter-add
 * (the same bits every run, unlike an atomic one). Index values are checked on
 * the host before any kernel runs, so a bad index is an error and never an
 * out-of-bounds read (CUDA indices are copied back for that). */
#include <math.h>
#include <string.h>

#include "core/internal.h"

/* ---------------- layer_norm, rms_norm ---------------- */

/* Contiguous t seen as [rows, cols], cols = its last dim. */
static ax_kt rows_kt(const ax_tensor *t, int64_t rows, int64_t cols) {
  ax_kt k = ax__kt(t);
  k.ndim = 2;
  k.shape[0] = rows;
  k.shape[1] = cols;
  k.strides[0] = cols;
  k.strides[1] = 1;
  return k;
}

static ax_kt kt_or_zero(const ax_tensor *t) { return t ? ax__kt(t) : (ax_kt){0}; }

/* weight / bias: same dtype and device as x, shape [C]. */
static bool check_param(const char *op, const ax_tensor *x, const ax_tensor *p, const char *what) {
  if (!p) return true;
  if (!ax__check_same_dtype(op, x, p) || !ax__check_same_device(op, x, p)) return false;
  if (p->ndim != 1 || p->shape[0] != x->shape[x->ndim - 1]) {
    ax_error("%s: %s %s does not match the last dim (%lld) of input %s", op, what, ax__shp(p),
             (long long)x->shape[x->ndim - 1], ax__shp(x));
    return false;
  }
  return true;
}

/* saved: x contiguous (0), mean (1, NULL for rms), rstd (2), weight contiguous (3); iargs[0] = rms */
static void norm_backward(ax_node *n, ax_tensor *g) {
  ax_tensor *x = n->saved[0], *mean = n->saved[1], *rstd = n->saved[2], *w = n->saved[3];
  int rms = (int)n->iargs[0];
  int64_t cols = x->shape[x->ndim - 1], rows = cols ? ax_numel(x) / cols : 0;
  bool need_x = ax__input_needs_grad(n, 0), need_w = ax__input_needs_grad(n, 1);
  bool need_b = !rms && ax__input_needs_grad(n, 2);
  ax_tensor *gy = ax_contiguous(g);
  ax_tensor *gx = need_x ? ax__new(n->name, x->dtype, x->device, x->ndim, x->shape) : NULL;
  ax_tensor *gw = need_w ? ax__new(n->name, x->dtype, x->device, 1, &cols) : NULL;
  ax_tensor *gb = need_b ? ax__new(n->name, x->dtype, x->device, 1, &cols) : NULL;
  if (!gy || (need_x && !gx) || (need_w && !gw) || (need_b && !gb)) return;
  const ax_backend *be = gy->storage->backend;
  if (ax_numel(x) == 0) { /* no rows (or no columns): nothing to sum */
    ax_kt kw = kt_or_zero(gw), kb = kt_or_zero(gb);
    if ((gw && !AX_KCALL(n->name, be, fill, &kw, 0.0)) || (gb && !AX_KCALL(n->name, be, fill, &kb, 0.0))) return;
  } else if (!be->layer_norm_backward) {
    ax_error("%s: not implemented on the %s backend yet (kernel 'layer_norm_backward')", n->name, be->name);
    return;
  } else {
    ax_kt kgx = gx ? rows_kt(gx, rows, cols) : (ax_kt){0}, kgw = kt_or_zero(gw), kgb = kt_or_zero(gb);
    ax_kt kgy = rows_kt(gy, rows, cols), kx = rows_kt(x, rows, cols), km = kt_or_zero(mean), ks = ax__kt(rstd);
    ax_kt kw = kt_or_zero(w);
    if (!AX_KCALL(n->name, be, layer_norm_backward, gx ? &kgx : NULL, gw ? &kgw : NULL, gb ? &kgb : NULL, &kgy, &kx,
                  mean ? &km : NULL, &ks, w ? &kw : NULL, rms))
      return;
  }
  if (gx) ax__accumulate(n, 0, gx);
  if (gw) ax__accumulate(n, 1, gw);
  if (gb) ax__accumulate(n, 2, gb);
}

static ax_tensor *norm_impl(const char *op, ax_tensor *x, ax_tensor *weight, ax_tensor *bias, double eps, int rms) {
  if (!x || !ax__check_float(op, x)) return NULL;
  if (x->ndim < 1) {
    ax_error("%s: expected an input with at least 1 dim [..., C], got %s", op, ax__shp(x));
    return NULL;
  }
  if (!check_param(op, x, weight, "weight") || !check_param(op, x, bias, "bias")) return NULL;
  if (!(eps >= 0) || !isfinite(eps)) {
    ax_error("%s: eps must be finite and non-negative, got %g (input %s)", op, eps, ax__shp(x));
    return NULL;
  }
  const ax_backend *be = ax__backend(x->device, op);
  if (!be) return NULL;
  AX_KERNEL_CHECK(be, layer_norm, op);
  int64_t cols = x->shape[x->ndim - 1], rows = ax__shape_numel(x->ndim - 1, x->shape);
  ax_dtype stat_dt = x->dtype == AX_F64 ? AX_F64 : AX_F32;
  ax_scope_begin();
  ax_tensor *xc = ax_contiguous(ax_detach(x));
  ax_tensor *w = weight ? ax_contiguous(ax_detach(weight)) : NULL, *b = bias ? ax_contiguous(ax_detach(bias)) : NULL;
  ax_tensor *y = xc ? ax__new(op, x->dtype, x->device, x->ndim, x->shape) : NULL;
  ax_tensor *mean = rms ? NULL : ax__new(op, stat_dt, x->device, 1, &rows);
  ax_tensor *rstd = ax__new(op, stat_dt, x->device, 1, &rows);
  if (!y || (weight && !w) || (bias && !b) || (!rms && !mean) || !rstd) return ax__scope_return(NULL);
  if (ax_numel(x) > 0) {
    ax_kt ky = rows_kt(y, rows, cols), kx = rows_kt(xc, rows, cols), km = kt_or_zero(mean), ks = ax__kt(rstd);
    ax_kt kw = kt_or_zero(w), kb = kt_or_zero(b);
    if (!AX_KCALL(op, be, layer_norm, &ky, mean ? &km : NULL, &ks, &kx, w ? &kw : NULL, b ? &kb : NULL, eps, rms))
      return ax__scope_return(NULL);
  }
  ax_tensor *ins[3] = {x, weight, bias};
  ax_node *n = ax__record(y, rms ? "rms_norm" : "layer_norm", norm_backward, rms ? 2 : 3, ins);
  if (n) { /* save before the scope ends: xc, w, mean and rstd belong to it */
    n->iargs[0] = rms;
    ax__save(n, 0, xc);
    ax__save(n, 1, mean);
    ax__save(n, 2, rstd);
    ax__save(n, 3, w);
  }
  return ax__scope_return(y);
}

/* Autocast keeps the normalizations in f32, as PyTorch's does: bf16 / f16 inputs (x from a
 * GEMM in the region) are cast, differentiably, to f32. */
ax_tensor *ax_layer_norm(ax_tensor *x, ax_tensor *weight, ax_tensor *bias, double eps) {
  if (!x) return NULL;
  return norm_impl("ax_layer_norm", ax__autocast_f32(x), ax__autocast_f32(weight), ax__autocast_f32(bias), eps, 0);
}

ax_tensor *ax_rms_norm(ax_tensor *x, ax_tensor *weight, double eps) {
  if (!x) return NULL;
  return norm_impl("ax_rms_norm", ax__autocast_f32(x), ax__autocast_f32(weight), NULL, eps, 1);
}

/* ---------------- embedding ---------------- */

/* Every index must lie in [0, v). Reads the values on the host; indices on a
 * GPU are checked by the kernel instead, which reports a bad one at the next
 * synchronization (see core/ops_index.c), so the op never waits for the device. */
static bool check_embedding_indices(const char *op, const ax_tensor *weight, ax_tensor *indices) {
  if (ax_numel(indices) == 0) return true;
  if (ax_backend_has(weight->storage->backend, AX_KID_embedding, AX_CAP_DEVICE_INDICES)) return true;
  ax_scope_begin();
  ax_tensor *h = ax_contiguous(indices->device.type == AX_DEVICE_CPU ? indices : ax_to(indices, AX_CPU));
  bool ok = h != NULL;
  if (ok) {
    const int64_t *p64 = ax_data_ptr(h);
    const int32_t *p32 = ax_data_ptr(h);
    int64_t v = weight->shape[0], bad = 0;
    for (int64_t i = 0, n = ax_numel(h); i < n && ok; i++) {
      int64_t k = h->dtype == AX_I64 ? p64[i] : p32[i];
      if (k < 0 || k >= v) ok = false, bad = k;
    }
    if (!ok)
      ax_error("%s: index %lld is out of range for %lld embeddings (weight %s, indices %s)", op, (long long)bad,
               (long long)v, ax__shp(weight), ax__shp(indices));
  }
  ax_scope_end();
  return ok;
}

/* saved: the flat indices [N] (0) */
static void embedding_backward(ax_node *n, ax_tensor *g) {
  ax_tensor *idx = n->saved[0], *gy = ax_contiguous(g);
  int64_t v = n->in_shape[0], c = n->in_shape[1], rows = ax_numel(idx);
  ax_tensor *gw = gy ? ax__new(n->name, gy->dtype, gy->device, 2, n->in_shape) : NULL;
  if (!gw) return;
  const ax_backend *be = gw->storage->backend;
  if (v * c > 0) {
    if (!be->embedding_backward) {
      ax_error("%s: not implemented on the %s backend yet (kernel 'embedding_backward')", n->name, be->name);
      return;
    }
    ax_kt kw = ax__kt(gw), ki = ax__kt(idx), kg = rows_kt(gy, rows, c);
    if (!AX_KCALL(n->name, be, embedding_backward, &kw, &ki, &kg)) return;
  }
  ax__accumulate(n, 0, gw);
}

ax_tensor *ax_embedding(ax_tensor *weight, ax_tensor *indices) {
  static const char op[] = "ax_embedding";
  if (!weight || !indices) return NULL;
  if (!ax__check_float(op, weight)) return NULL;
  if (weight->ndim != 2) {
    ax_error("%s: weight must be 2-D [num_embeddings, dim], got %s", op, ax__shp(weight));
    return NULL;
  }
  if (indices->dtype != AX_I64 && indices->dtype != AX_I32) {
    ax_error("%s: indices must be i64 or i32, got %s %s", op, ax_dtype_name(indices->dtype), ax__shp(indices));
    return NULL;
  }
  if (!ax__check_same_device(op, weight, indices)) return NULL;
  if (indices->ndim + 1 > AX_MAX_DIMS) {
    ax_error("%s: indices %s have too many dims (the output adds one; at most %d)", op, ax__shp(indices), AX_MAX_DIMS);
    return NULL;
  }
  if (!check_embedding_indices(op, weight, indices)) return NULL;
  const ax_backend *be = ax__backend(weight->device, op);
  if (!be) return NULL;
  AX_KERNEL_CHECK(be, index_select, op);
  int64_t rows = ax_numel(indices), c = weight->shape[1], shape[AX_MAX_DIMS];
  memcpy(shape, indices->shape, sizeof(int64_t) * (size_t)indices->ndim);
  shape[indices->ndim] = c;
  ax_scope_begin();
  ax_tensor *flat = ax_reshape(ax_contiguous(ax_detach(indices)), 1, &rows);
  ax_tensor *out = flat ? ax__new(op, weight->dtype, weight->device, indices->ndim + 1, shape) : NULL;
  if (!out) return ax__scope_return(NULL);
  if (rows * c > 0) {
    ax_kt ko = rows_kt(out, rows, c), kw = ax__kt(weight), ki = ax__kt(flat);
    if (!AX_KCALL(op, be, embedding, &ko, &kw, &ki)) return ax__scope_return(NULL);
  }
  ax_node *n = ax__record(out, "embedding", embedding_backward, 1, &weight);
  if (n) ax__save(n, 0, flat);
  return ax__scope_return(out);
}
