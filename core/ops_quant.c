/* SPDX-License-Identifier: BSD-3-Clause */
/* The int8 ops (include/axon/quant.h): quantize, int8 GEMM, requantize, im2row.
 * Inference only: none records an autograd node. Inputs are made contiguous. */
#include <math.h>

#include "axon/quant.h"
#include "core/internal.h"

static bool check_dtype(const char *op, const ax_tensor *t, ax_dtype dt, const char *what) {
  if (t->dtype == dt) return true;
  ax_error("%s: %s must be %s, got %s %s", op, what, ax_dtype_name(dt), ax_dtype_name(t->dtype), ax__shp(t));
  return false;
}

static bool check_scale(const char *op, float s) {
  if (s > 0 && isfinite(s)) return true;
  ax_error("%s: the scale must be positive and finite, got %g", op, (double)s);
  return false;
}

ax_tensor *ax_quantize_s8(ax_tensor *x, float scale) {
  const char *op = "ax_quantize_s8";
  if (!x || !check_dtype(op, x, AX_F32, "x") || !check_scale(op, scale)) return NULL;
  const ax_backend *be = ax__backend(x->device, op);
  if (!be) return NULL;
  AX_KERNEL_CHECK(be, quantize_s8, op);
  ax_tensor *xc = ax_contiguous(x);
  ax_tensor *q = xc ? ax__new(op, AX_I8, x->device, x->ndim, x->shape) : NULL;
  if (!q) return NULL;
  ax_kt kq = ax__kt(q), kx = ax__kt(xc);
  if (!AX_KCALL(op, be, quantize_s8, &kq, &kx, scale)) return NULL;
  return q;
}

ax_tensor *ax_matmul_s8(ax_tensor *a, ax_tensor *b) {
  const char *op = "ax_matmul_s8";
  if (!a || !b || !check_dtype(op, a, AX_I8, "a") || !check_dtype(op, b, AX_I8, "b")) return NULL;
  if (!ax__check_same_device(op, a, b)) return NULL;
  if (a->ndim != 2 || b->ndim != 2 || a->shape[1] != b->shape[1]) {
    ax_error("%s: a [M, K] and b [N, K] must share K, got %s and %s", op, ax__shp(a), ax__shp(b));
    return NULL;
  }
  if (a->shape[1] > (1 << 17)) { /* 127 * 127 * K must stay below 2^31 */
    ax_error("%s: K = %lld is over 131072 (int32 accumulation could overflow)", op, (long long)a->shape[1]);
    return NULL;
  }
  const ax_backend *be = ax__backend(a->device, op);
  if (!be) return NULL;
  AX_KERNEL_CHECK(be, gemm_s8, op);
  ax_tensor *ac = ax_contiguous(a), *bc = ax_contiguous(b);
  ax_tensor *c = ac && bc ? ax__new(op, AX_I32, a->device, AX_SHAPE(a->shape[0], b->shape[0])) : NULL;
  if (!c) return NULL;
  ax_kt kc = ax__kt(c), ka = ax__kt(ac), kb = ax__kt(bc);
  if (!AX_KCALL(op, be, gemm_s8, &kc, &ka, &kb)) return NULL;
  return c;
}

static bool check_vec(const char *op, const ax_tensor *v, const ax_tensor *acc, const char *what) {
  if (!check_dtype(op, v, AX_F32, what) || !ax__check_same_device(op, v, acc)) return false;
  if (v->ndim == 1 && v->shape[0] == acc->shape[1]) return true;
  ax_error("%s: %s must be [%lld] (one per output column of %s), got %s", op, what, (long long)acc->shape[1],
           ax__shp(acc), ax__shp(v));
  return false;
}

ax_tensor *ax_requantize(ax_tensor *acc, ax_tensor *scale, ax_tensor *bias, ax_dtype out_dtype, float out_scale,
                         bool relu) {
  const char *op = "ax_requantize";
  if (!acc || !scale || !check_dtype(op, acc, AX_I32, "acc")) return NULL;
  if (acc->ndim != 2) {
    ax_error("%s: acc must be [M, N], got %s", op, ax__shp(acc));
    return NULL;
  }
  if (!check_vec(op, scale, acc, "scale") || (bias && !check_vec(op, bias, acc, "bias"))) return NULL;
  if (out_dtype != AX_F32 && out_dtype != AX_I8) {
    ax_error("%s: the output dtype must be f32 or i8, got %s", op, ax_dtype_name(out_dtype));
    return NULL;
  }
  if (out_dtype == AX_I8 && !check_scale(op, out_scale)) return NULL;
  const ax_backend *be = ax__backend(acc->device, op);
  if (!be) return NULL;
  AX_KERNEL_CHECK(be, requant_s8, op);
  ax_tensor *ac = ax_contiguous(acc), *sc = ax_contiguous(scale), *bc = bias ? ax_contiguous(bias) : NULL;
  ax_tensor *y = ac && sc && (!bias || bc) ? ax__new(op, out_dtype, acc->device, 2, acc->shape) : NULL;
  if (!y) return NULL;
  ax_kt ky = ax__kt(y), ka = ax__kt(ac), ks = ax__kt(sc), kb = bc ? ax__kt(bc) : (ax_kt){0};
  if (!AX_KCALL(op, be, requant_s8, &ky, &ka, &ks, bc ? &kb : NULL, out_scale, relu ? 1 : 0)) return NULL;
  return y;
}

ax_tensor *ax_im2row_s8(ax_tensor *x, int kh, int kw, const ax_conv2d_opts *o) {
  const char *op = "ax_im2row_s8";
  if (!x || !o || !check_dtype(op, x, AX_I8, "x")) return NULL;
  if (x->ndim != 4 || kh <= 0 || kw <= 0 || (o->groups && o->groups != 1)) {
    ax_error("%s: x must be [N, C, H, W] with a positive kernel and groups 1, got %s, kernel %dx%d, groups %d", op,
             ax__shp(x), kh, kw, o->groups);
    return NULL;
  }
  ax_conv_params p = {.n = x->shape[0], .c = x->shape[1], .h = x->shape[2], .w = x->shape[3], .kh = kh, .kw = kw,
                      .sh = o->stride_hw[0], .sw = o->stride_hw[1], .ph = o->padding_hw[0], .pw = o->padding_hw[1],
                      .dh = o->dilation_hw[0], .dw = o->dilation_hw[1], .groups = 1};
  if (p.sh <= 0 || p.sw <= 0 || p.dh <= 0 || p.dw <= 0 || p.ph < 0 || p.pw < 0) {
    ax_error("%s: stride and dilation must be positive and padding >= 0 (the *_hw fields)", op);
    return NULL;
  }
  p.oh = (p.h + 2 * p.ph - p.dh * (kh - 1) - 1) / p.sh + 1;
  p.ow = (p.w + 2 * p.pw - p.dw * (kw - 1) - 1) / p.sw + 1;
  if (p.oh <= 0 || p.ow <= 0) {
    ax_error("%s: the kernel %dx%d does not fit the padded input %s", op, kh, kw, ax__shp(x));
    return NULL;
  }
  const ax_backend *be = ax__backend(x->device, op);
  if (!be) return NULL;
  AX_KERNEL_CHECK(be, im2row_s8, op);
  ax_tensor *xc = ax_contiguous(x);
  ax_tensor *col = xc ? ax__new(op, AX_I8, x->device, AX_SHAPE(p.n * p.oh * p.ow, p.c * kh * kw)) : NULL;
  if (!col) return NULL;
  ax_kt kc = ax__kt(col), kx = ax__kt(xc);
  if (!AX_KCALL(op, be, im2row_s8, &kc, &kx, &p)) return NULL;
  return col;
}
