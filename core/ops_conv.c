/* SPDX-License-Identifier: BSD-3-Clause */
/* 2-D convolution and transposed convolution (NCHW). Both ops are built on
 * the backend's three conv kernels: a transposed convolution is the input
 * gradient of the convolution that maps its output back to its input, so its
 * forward is conv2d_backward_input, its input gradient is conv2d, and its
 * weight gradient is conv2d_backward_weight with the roles of x and gy swapped. */
#include <stdio.h>
#include <string.h>

#include "core/internal.h"

typedef struct conv_opts {
  int sh, sw, ph, pw, dh, dw, oph, opw, groups;
} conv_opts;

/* A square value, or the {h, w} pair when either of its entries is set. */
static void pick(int v, const int hw[2], int *h, int *w) {
  *h = hw[0] || hw[1] ? hw[0] : v;
  *w = hw[0] || hw[1] ? hw[1] : v;
}

static bool read_opts(const char *op, const ax_conv2d_opts *o, bool transposed, conv_opts *c) {
  ax_conv2d_opts d = {0};
  if (!o) o = &d;
  pick(o->stride, o->stride_hw, &c->sh, &c->sw);
  pick(o->padding, o->padding_hw, &c->ph, &c->pw);
  pick(o->dilation, o->dilation_hw, &c->dh, &c->dw);
  pick(o->output_padding, o->output_padding_hw, &c->oph, &c->opw);
  c->groups = o->groups ? o->groups : 1;
  /* 0 means 1 for these (also for one entry of a pair) */
  if (!c->sh) c->sh = 1;
  if (!c->sw) c->sw = 1;
  if (!c->dh) c->dh = 1;
  if (!c->dw) c->dw = 1;
  if (c->sh < 0 || c->sw < 0 || c->dh < 0 || c->dw < 0 || c->ph < 0 || c->pw < 0 || c->groups < 0 ||
      c->oph < 0 || c->opw < 0) {
    ax_error("%s: negative option (stride %dx%d, padding %dx%d, dilation %dx%d, groups %d, output_padding %dx%d)",
             op, c->sh, c->sw, c->ph, c->pw, c->dh, c->dw, c->groups, c->oph, c->opw);
    return false;
  }
  if (!transposed && (c->oph || c->opw)) {
    ax_error("%s: output_padding is only for ax_conv_transpose2d", op);
    return false;
  }
  /* like PyTorch: output_padding picks one of the sizes that stride or dilation make ambiguous */
  if (c->oph >= (c->sh > c->dh ? c->sh : c->dh) || c->opw >= (c->sw > c->dw ? c->sw : c->dw)) {
    ax_error("%s: output_padding %dx%d must be smaller than the stride %dx%d or the dilation %dx%d", op, c->oph,
             c->opw, c->sh, c->sw, c->dh, c->dw);
    return false;
  }
  return true;
}

static void save_opts(ax_node *n, const conv_opts *c) {
  int v[9] = {c->sh, c->sw, c->ph, c->pw, c->dh, c->dw, c->oph, c->opw, c->groups};
  for (int i = 0; i < 9; i++) n->iargs[i] = v[i];
}

static conv_opts load_opts(const ax_node *n) {
  int64_t *v = (int64_t *)n->iargs;
  return (conv_opts){(int)v[0], (int)v[1], (int)v[2], (int)v[3], (int)v[4], (int)v[5], (int)v[6], (int)v[7], (int)v[8]};
}

/* Geometry of the convolution x [n, c, h, w] * w [o, c/g, kh, kw] -> [n, o, oh, ow]. */
static ax_conv_params conv_params(const int64_t *xs, const int64_t *ws, int64_t oh, int64_t ow, const conv_opts *c) {
  return (ax_conv_params){.n = xs[0], .c = xs[1], .h = xs[2], .w = xs[3], .o = ws[0], .kh = ws[2], .kw = ws[3],
                          .oh = oh, .ow = ow, .sh = c->sh, .sw = c->sw, .ph = c->ph, .pw = c->pw,
                          .dh = c->dh, .dw = c->dw, .groups = c->groups};
}

/* Shared checks; on success *xb is x as 4-D (a batch of one for [C, H, W]). */
static bool check_inputs(const char *op, ax_tensor *x, ax_tensor *w, ax_tensor *b, const conv_opts *c,
                         bool transposed, ax_tensor **xb) {
  if (!ax__check_float(op, x) || !ax__check_same_dtype(op, x, w) || !ax__check_same_device(op, x, w)) return false;
  if (b && (!ax__check_same_dtype(op, x, b) || !ax__check_same_device(op, x, b))) return false;
  /* the backend says which dtypes its kernel takes (the CPU's: f32 and f64; CUDA's also bf16 / f16) */
  const ax_backend *be = x->storage->backend;
  ax_kernel_id kernel = transposed ? AX_KID_conv2d_backward_input : AX_KID_conv2d;
  if (!ax_backend_supports(be, kernel, x->dtype)) {
    char use[64] = "";
    for (int d = 0; d < AX_NUM_DTYPES; d++)
      if (ax_backend_supports(be, kernel, d))
        snprintf(use + strlen(use), sizeof use - strlen(use), "%s%s", use[0] ? " or " : "", ax_dtype_name(d));
    ax_error("%s: %s is not supported on the %s backend (use %s), input %s", op, ax_dtype_name(x->dtype), be->name,
             use, ax__shp(x));
    return false;
  }
  if (x->ndim != 3 && x->ndim != 4) {
    ax_error("%s: expected input [N, C, H, W] or [C, H, W], got %s", op, ax__shp(x));
    return false;
  }
  if (w->ndim != 4) {
    ax_error("%s: expected a 4-D weight, got %s (input %s)", op, ax__shp(w), ax__shp(x));
    return false;
  }
  int64_t cin = x->shape[x->ndim - 3], g = c->groups;
  /* conv: weight [O, C/g, kh, kw]; transposed: weight [C, O/g, kh, kw] */
  int64_t w_in = transposed ? w->shape[0] : w->shape[1] * g, out_ch = transposed ? w->shape[1] * g : w->shape[0];
  if (cin % g || w->shape[0] % g || w_in != cin) {
    ax_error("%s: input %s does not match weight %s with groups %d (%s)", op, ax__shp(x), ax__shp(w), c->groups,
             cin % g ? "input channels not divisible by groups"
             : w->shape[0] % g ? "weight dim 0 not divisible by groups"
                               : "channel counts differ");
    return false;
  }
  if (b && (b->ndim != 1 || b->shape[0] != out_ch)) {
    ax_error("%s: bias %s does not match the %lld output channels of weight %s", op, ax__shp(b), (long long)out_ch,
             ax__shp(w));
    return false;
  }
  *xb = x->ndim == 3 ? ax_unsqueeze(x, 0) : x;
  return *xb != NULL;
}

/* x with the graph cut and the data made contiguous, for the kernels and the saved copies. */
static ax_tensor *plain(ax_tensor *t) { return t ? ax_contiguous(ax_detach(t)) : NULL; }

static ax_tensor *run_conv(ax_tensor *x, ax_tensor *w, ax_tensor *b, const ax_conv_params *p, ax_dtype dt,
                           ax_device dev) {
  ax_tensor *y = ax__new("ax_conv2d", dt, dev, AX_SHAPE(p->n, p->o, p->oh, p->ow));
  if (!y) return NULL;
  const ax_backend *be = y->storage->backend;
  AX_KERNEL_CHECK(be, conv2d, "ax_conv2d");
  ax_kt ky = ax__kt(y), kx = ax__kt(x), kw = ax__kt(w), kb = b ? ax__kt(b) : (ax_kt){0};
  if (!AX_KCALL("ax_conv2d", be, conv2d, &ky, &kx, &kw, b ? &kb : NULL, p)) return NULL;
  return y;
}

/* gx [n, c, h, w] of the convolution p, from gy [n, o, oh, ow]. */
static ax_tensor *run_backward_input(const char *op, ax_tensor *gy, ax_tensor *w, const ax_conv_params *p) {
  ax_tensor *gx = ax__new(op, gy->dtype, gy->device, AX_SHAPE(p->n, p->c, p->h, p->w));
  if (!gx) return NULL;
  const ax_backend *be = gx->storage->backend;
  AX_KERNEL_CHECK(be, conv2d_backward_input, op);
  ax_kt kgx = ax__kt(gx), kgy = ax__kt(gy), kw = ax__kt(w);
  if (!AX_KCALL(op, be, conv2d_backward_input, &kgx, &kgy, &kw, p)) return NULL;
  return gx;
}

/* gw [o, c/g, kh, kw] of the convolution p, from gy [n, o, oh, ow] and its input x. */
static ax_tensor *run_backward_weight(const char *op, ax_tensor *gy, ax_tensor *x, const ax_conv_params *p) {
  ax_tensor *gw = ax__new(op, gy->dtype, gy->device, AX_SHAPE(p->o, p->c / p->groups, p->kh, p->kw));
  if (!gw) return NULL;
  const ax_backend *be = gw->storage->backend;
  AX_KERNEL_CHECK(be, conv2d_backward_weight, op);
  ax_kt kgw = ax__kt(gw), kgy = ax__kt(gy), kx = ax__kt(x);
  if (!AX_KCALL(op, be, conv2d_backward_weight, &kgw, &kgy, &kx, p)) return NULL;
  return gw;
}

static void conv2d_backward(ax_node *n, ax_tensor *g) {
  ax_tensor *x = n->saved[0], *w = n->saved[1], *gy = ax_contiguous(g);
  conv_opts c = load_opts(n);
  ax_conv_params p = conv_params(x->shape, w->shape, gy->shape[2], gy->shape[3], &c);
  if (ax__input_needs_grad(n, 0)) ax__accumulate(n, 0, run_backward_input("ax_conv2d", gy, w, &p));
  if (ax__input_needs_grad(n, 1)) ax__accumulate(n, 1, run_backward_weight("ax_conv2d", gy, x, &p));
  if (n->n_inputs > 2 && ax__input_needs_grad(n, 2))
    ax__accumulate(n, 2, ax_sum(gy, 3, (const int[]){0, 2, 3}, false));
}

static int64_t conv_out_size(int64_t in, int64_t k, int s, int pad, int d) {
  return (in + 2 * (int64_t)pad - (int64_t)d * (k - 1) - 1) / s + 1;
}

ax_tensor *ax_conv2d(ax_tensor *x, ax_tensor *weight, ax_tensor *bias, const ax_conv2d_opts *o) {
  const char *op = "ax_conv2d";
  conv_opts c;
  ax_tensor *xb;
  if (!x || !weight) return NULL;
  if (!read_opts(op, o, false, &c) || !check_inputs(op, x, weight, bias, &c, false, &xb)) return NULL;
  int64_t num_h = xb->shape[2] + 2 * (int64_t)c.ph - (int64_t)c.dh * (weight->shape[2] - 1) - 1;
  int64_t num_w = xb->shape[3] + 2 * (int64_t)c.pw - (int64_t)c.dw * (weight->shape[3] - 1) - 1;
  if (num_h < 0 || num_w < 0) {
    ax_error("%s: input %s is too small for weight %s (stride %dx%d, padding %dx%d, dilation %dx%d): output would "
             "be empty",
             op, ax__shp(x), ax__shp(weight), c.sh, c.sw, c.ph, c.pw, c.dh, c.dw);
    return NULL;
  }
  int64_t oh = conv_out_size(xb->shape[2], weight->shape[2], c.sh, c.ph, c.dh);
  int64_t ow = conv_out_size(xb->shape[3], weight->shape[3], c.sw, c.pw, c.dw);
  ax_tensor *xc = plain(xb), *wc = plain(weight), *bc = plain(bias);
  if (!xc || !wc || (bias && !bc)) return NULL;
  ax_conv_params p = conv_params(xc->shape, wc->shape, oh, ow, &c);
  ax_tensor *y = p.n == 0 || p.o == 0 ? ax__new(op, x->dtype, x->device, AX_SHAPE(p.n, p.o, oh, ow))
                                      : run_conv(xc, wc, bc, &p, x->dtype, x->device);
  if (!y) return NULL;
  ax_tensor *ins[3] = {xb, weight, bias};
  ax_node *n = ax__record(y, "conv2d", conv2d_backward, bias ? 3 : 2, ins);
  if (n) {
    ax__save(n, 0, xc);
    ax__save(n, 1, wc);
    save_opts(n, &c);
  }
  return x->ndim == 3 ? ax_squeeze(y, 0) : y;
}

/* The transposed convolution x [n, c, h, w] -> [n, o, oh, ow] is the input
 * gradient of the convolution p: [n, o, oh, ow] -> [n, c, h, w] with weight [c, o/g, kh, kw]. */
static void conv_transpose2d_backward(ax_node *n, ax_tensor *g) {
  ax_tensor *x = n->saved[0], *w = n->saved[1], *gy = ax_contiguous(g);
  conv_opts c = load_opts(n);
  ax_conv_params p = conv_params(gy->shape, w->shape, x->shape[2], x->shape[3], &c);
  if (ax__input_needs_grad(n, 0)) ax__accumulate(n, 0, run_conv(gy, w, NULL, &p, gy->dtype, gy->device));
  /* <conv(gy, w), x> = <gy, transposed(x, w)>: x plays conv's output gradient, gy its input */
  if (ax__input_needs_grad(n, 1)) ax__accumulate(n, 1, run_backward_weight("ax_conv_transpose2d", x, gy, &p));
}

ax_tensor *ax_conv_transpose2d(ax_tensor *x, ax_tensor *weight, ax_tensor *bias, const ax_conv2d_opts *o) {
  const char *op = "ax_conv_transpose2d";
  conv_opts c;
  ax_tensor *xb;
  if (!x || !weight) return NULL;
  if (!read_opts(op, o, true, &c) || !check_inputs(op, x, weight, bias, &c, true, &xb)) return NULL;
  int64_t kh = weight->shape[2], kw = weight->shape[3];
  int64_t oh = (xb->shape[2] - 1) * c.sh - 2 * (int64_t)c.ph + (int64_t)c.dh * (kh - 1) + c.oph + 1;
  int64_t ow = (xb->shape[3] - 1) * c.sw - 2 * (int64_t)c.pw + (int64_t)c.dw * (kw - 1) + c.opw + 1;
  if (oh <= 0 || ow <= 0) {
    ax_error("%s: input %s with weight %s (stride %dx%d, padding %dx%d, dilation %dx%d, output_padding %dx%d) gives "
             "an empty output (%lld x %lld)",
             op, ax__shp(x), ax__shp(weight), c.sh, c.sw, c.ph, c.pw, c.dh, c.dw, c.oph, c.opw, (long long)oh,
             (long long)ow);
    return NULL;
  }
  ax_tensor *xc = plain(xb), *wc = plain(weight);
  if (!xc || !wc) return NULL;
  int64_t out_ch = wc->shape[1] * c.groups;
  int64_t ys[4] = {xc->shape[0], out_ch, oh, ow};
  ax_conv_params p = conv_params(ys, wc->shape, xc->shape[2], xc->shape[3], &c);
  ax_tensor *y = p.n == 0 || p.c == 0 ? ax_zeros(4, ys, &(ax_tensor_opts){.dtype = x->dtype, .device = x->device})
                                      : run_backward_input(op, xc, wc, &p);
  if (!y) return NULL;
  ax_tensor *ins[2] = {xb, weight};
  ax_node *n = ax__record(y, "conv_transpose2d", conv_transpose2d_backward, 2, ins);
  if (n) {
    ax__save(n, 0, xc);
    ax__save(n, 1, wc);
    save_opts(n, &c);
  }
  /* the bias is a plain broadcast add, which also carries its gradient */
  if (bias) y = ax_add(y, ax_reshape(bias, AX_SHAPE(1, out_ch, 1, 1)));
  return y && x->ndim == 3 ? ax_squeeze(y, 0) : y;
}
