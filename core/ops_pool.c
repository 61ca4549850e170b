/* SPDX-License-Identifier: BSD-3-Clause */
/* 2-D max, average and adaptive average pooling (NCHW, or CHW as a batch of
 * one). Output sizes, padding limits and window rules are PyTorch's. The kernels
 * work on contiguous planes; the node keeps the window geometry (and, for max
 * pooling, the argmax indices) so the backward kernels can route gradients. */
#include <math.h>

#include "core/internal.h"

/* A square value, or the {h, w} pair when either of its entries is set. */
static void pick(int v, const int hw[2], int *h, int *w) {
  *h = hw[0] || hw[1] ? hw[0] : v;
  *w = hw[0] || hw[1] ? hw[1] : v;
}

/* floor(a / b) for b > 0 */
static int64_t div_floor(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/* PyTorch's pooling_output_shape: with ceil_mode, the last window must start inside the
 * input or the left padding. */
static int64_t out_size(int64_t in, int k, int s, int pad, int d, bool ceil_mode) {
  int64_t o = div_floor(in + 2 * (int64_t)pad - (int64_t)d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0), s) + 1;
  if (ceil_mode && (o - 1) * s >= in + pad) o--;
  return o;
}

/* x as 4-D (a batch of one for [C, H, W]), after the dtype and rank checks. */
static ax_tensor *as_batch(const char *op, ax_tensor *x) {
  if (!ax__check_float(op, x)) return NULL;
  if (x->ndim != 3 && x->ndim != 4) {
    ax_error("%s: expected input [N, C, H, W] or [C, H, W], got %s", op, ax__shp(x));
    return NULL;
  }
  return x->ndim == 3 ? ax_unsqueeze(x, 0) : x;
}

/* Fills p's window fields from the options and the output size from x [n, c, h, w]. */
static bool pool_geometry(const char *op, const ax_tensor *x, const ax_pool2d_opts *o, ax_pool_params *p) {
  ax_pool2d_opts d = {0};
  if (!o) o = &d;
  pick(o->kernel, o->kernel_hw, &p->kh, &p->kw);
  pick(o->stride, o->stride_hw, &p->sh, &p->sw);
  pick(o->padding, o->padding_hw, &p->ph, &p->pw);
  pick(o->dilation, o->dilation_hw, &p->dh, &p->dw);
  if (!p->sh) p->sh = p->kh;
  if (!p->sw) p->sw = p->kw;
  if (!p->dh) p->dh = 1;
  if (!p->dw) p->dw = 1;
  if (p->kh <= 0 || p->kw <= 0 || p->sh <= 0 || p->sw <= 0 || p->ph < 0 || p->pw < 0 || p->dh <= 0 || p->dw <= 0) {
    ax_error("%s: kernel %dx%d, stride %dx%d and dilation %dx%d must be positive and padding %dx%d non-negative "
             "(input %s)",
             op, p->kh, p->kw, p->sh, p->sw, p->dh, p->dw, p->ph, p->pw, ax__shp(x));
    return false;
  }
  if (p->ph > p->kh / 2 || p->pw > p->kw / 2) {
    ax_error("%s: padding %dx%d must be at most half the kernel %dx%d (input %s)", op, p->ph, p->pw, p->kh, p->kw,
             ax__shp(x));
    return false;
  }
  p->n = x->shape[0];
  p->c = x->shape[1];
  p->h = x->shape[2];
  p->w = x->shape[3];
  p->oh = out_size(p->h, p->kh, p->sh, p->ph, p->dh, o->ceil_mode);
  p->ow = out_size(p->w, p->kw, p->sw, p->pw, p->dw, o->ceil_mode);
  if (p->oh < 1 || p->ow < 1) {
    ax_error("%s: input %s is too small for kernel %dx%d (stride %dx%d, padding %dx%d, dilation %dx%d): output "
             "would be %lldx%lld",
             op, ax__shp(x), p->kh, p->kw, p->sh, p->sw, p->ph, p->pw, p->dh, p->dw, (long long)p->oh,
             (long long)p->ow);
    return false;
  }
  p->count_include_pad = !o->exclude_pad;
  p->adaptive = 0;
  return true;
}

/* The window fields go in the node; the sizes come back from its input shape and gy. */
static void save_params(ax_node *n, const ax_pool_params *p) {
  int v[10] = {p->kh, p->kw, p->sh, p->sw, p->ph, p->pw, p->dh, p->dw, p->count_include_pad, p->adaptive};
  for (int i = 0; i < 10; i++) n->iargs[i] = v[i];
}

static ax_pool_params load_params(const ax_node *n, const ax_tensor *gy) {
  const int64_t *v = n->iargs, *s = n->in_shape;
  return (ax_pool_params){.n = s[0], .c = s[1], .h = s[2], .w = s[3], .oh = gy->shape[2], .ow = gy->shape[3],
                          .kh = (int)v[0], .kw = (int)v[1], .sh = (int)v[2], .sw = (int)v[3], .ph = (int)v[4],
                          .pw = (int)v[5], .dh = (int)v[6], .dw = (int)v[7], .count_include_pad = (int)v[8],
                          .adaptive = (int)v[9]};
}

static ax_tensor *restore_rank(ax_tensor *t, const ax_tensor *x) { return x->ndim == 3 ? ax_squeeze(t, 0) : t; }

/* ---------------- max pooling ---------------- */

static void max_pool2d_backward(ax_node *n, ax_tensor *g) {
  ax_tensor *gy = ax_contiguous(g), *ind = n->saved[0];
  if (!gy) return;
  ax_pool_params p = load_params(n, gy);
  ax_tensor *gx = ax__new("ax_max_pool2d", gy->dtype, gy->device, n->in_ndim, n->in_shape);
  if (!gx) return;
  const ax_backend *be = gx->storage->backend;
  if (!be->max_pool2d_backward) {
    ax_error("ax_max_pool2d: not implemented on the %s backend yet (kernel 'max_pool2d_backward')", be->name);
    return;
  }
  ax_kt kgx = ax__kt(gx), kgy = ax__kt(gy), ki = ax__kt(ind);
  if (!AX_KCALL("ax_max_pool2d", be, max_pool2d_backward, &kgx, &kgy, &ki, &p)) return;
  ax__accumulate(n, 0, gx);
}

ax_tensor *ax_max_pool2d(ax_tensor *x, const ax_pool2d_opts *o, ax_tensor **indices) {
  const char *op = "ax_max_pool2d";
  if (indices) *indices = NULL;
  if (!x) return NULL;
  ax_tensor *xb = as_batch(op, x);
  ax_pool_params p;
  if (!xb || !pool_geometry(op, xb, o, &p)) return NULL;
  ax_tensor *xc = ax_contiguous(ax_detach(xb));
  ax_tensor *y = ax__new(op, x->dtype, x->device, AX_SHAPE(p.n, p.c, p.oh, p.ow));
  bool want_ind = indices || ax__needs_grad(xb);
  ax_tensor *ind = want_ind ? ax__new(op, AX_I64, x->device, AX_SHAPE(p.n, p.c, p.oh, p.ow)) : NULL;
  if (!xc || !y || (want_ind && !ind)) return NULL;
  const ax_backend *be = y->storage->backend;
  AX_KERNEL_CHECK(be, max_pool2d, op);
  ax_kt ky = ax__kt(y), kx = ax__kt(xc), ki = ind ? ax__kt(ind) : (ax_kt){0};
  if (!AX_KCALL(op, be, max_pool2d, &ky, ind ? &ki : NULL, &kx, &p)) return NULL;
  ax_node *n = ax__record(y, "max_pool2d", max_pool2d_backward, 1, &xb);
  if (n) {
    ax__save(n, 0, ind);
    save_params(n, &p);
  }
  if (indices) *indices = restore_rank(ind, x);
  return restore_rank(y, x);
}

/* ---------------- average pooling ---------------- */

static void avg_pool2d_backward(ax_node *n, ax_tensor *g) {
  ax_tensor *gy = ax_contiguous(g);
  if (!gy) return;
  ax_pool_params p = load_params(n, gy);
  ax_tensor *gx = ax__new("ax_avg_pool2d", gy->dtype, gy->device, n->in_ndim, n->in_shape);
  if (!gx) return;
  const ax_backend *be = gx->storage->backend;
  if (!be->avg_pool2d_backward) {
    ax_error("ax_%s: not implemented on the %s backend yet (kernel 'avg_pool2d_backward')", n->name, be->name);
    return;
  }
  ax_kt kgx = ax__kt(gx), kgy = ax__kt(gy);
  if (!AX_KCALL(n->name, be, avg_pool2d_backward, &kgx, &kgy, &p)) return;
  ax__accumulate(n, 0, gx);
}

/* Shared by ax_avg_pool2d and ax_adaptive_avg_pool2d once p is set. */
static ax_tensor *run_avg(const char *op, const char *node_name, ax_tensor *x, ax_tensor *xb, const ax_pool_params *p) {
  ax_tensor *xc = ax_contiguous(ax_detach(xb));
  ax_tensor *y = ax__new(op, x->dtype, x->device, AX_SHAPE(p->n, p->c, p->oh, p->ow));
  if (!xc || !y) return NULL;
  const ax_backend *be = y->storage->backend;
  AX_KERNEL_CHECK(be, avg_pool2d, op);
  ax_kt ky = ax__kt(y), kx = ax__kt(xc);
  if (!AX_KCALL(op, be, avg_pool2d, &ky, &kx, p)) return NULL;
  ax_node *n = ax__record(y, node_name, avg_pool2d_backward, 1, &xb);
  if (n) save_params(n, p);
  return restore_rank(y, x);
}

ax_tensor *ax_avg_pool2d(ax_tensor *x, const ax_pool2d_opts *o) {
  const char *op = "ax_avg_pool2d";
  if (!x) return NULL;
  ax_tensor *xb = as_batch(op, x);
  ax_pool_params p;
  if (!xb || !pool_geometry(op, xb, o, &p)) return NULL;
  if (p.dh != 1 || p.dw != 1) {
    ax_error("%s: dilation %dx%d is not supported (input %s)", op, p.dh, p.dw, ax__shp(x));
    return NULL;
  }
  return run_avg(op, "avg_pool2d", x, xb, &p);
}

ax_tensor *ax_adaptive_avg_pool2d(ax_tensor *x, int64_t out_h, int64_t out_w) {
  const char *op = "ax_adaptive_avg_pool2d";
  if (!x) return NULL;
  ax_tensor *xb = as_batch(op, x);
  if (!xb) return NULL;
  if (out_h < 1 || out_w < 1 || xb->shape[2] < 1 || xb->shape[3] < 1) {
    ax_error("%s: cannot pool input %s to %lldx%lld (sizes must be positive)", op, ax__shp(x), (long long)out_h,
             (long long)out_w);
    return NULL;
  }
  ax_pool_params p = {.n = xb->shape[0], .c = xb->shape[1], .h = xb->shape[2], .w = xb->shape[3], .oh = out_h,
                      .ow = out_w, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .adaptive = 1};
  return run_avg(op, "adaptive_avg_pool2d", x, xb, &p);
}
