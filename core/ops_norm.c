/* SPDX-License-Identifier: BSD-3-Clause */
/* Batch normalization over x [N, C] or [N, C, d...] (per channel C).
 *
 * The kernels see x as contiguous [n, c, s]: one statistics pass (mean and
 * invstd = 1/sqrt(biased var + eps)), one apply pass, and a fused backward that
 * gives gx, gweight and gbias together. Running statistics are buffers: they
 * are updated in place with grad mode off, the variance made unbiased
 * (n/(n-1)) like PyTorch's, and recovered from invstd (var = invstd^-2 - eps)
 * so the forward reads x only twice. */
#include <math.h>

#include "core/internal.h"

static const char *OP = "ax_batch_norm";

/* A [C] parameter or buffer must match x's channels, dtype and device. */
static bool check_vec(const char *op, const ax_tensor *x, const ax_tensor *v, const char *what) {
  if (!v) return true;
  if (!ax__check_same_dtype(op, x, v) || !ax__check_same_device(op, x, v)) return false;
  if (v->ndim != 1 || v->shape[0] != x->shape[1]) {
    ax_error("%s: %s %s does not match the %lld channels of input %s", op, what, ax__shp(v), (long long)x->shape[1],
             ax__shp(x));
    return false;
  }
  return true;
}

/* The argument checks of batch norm, shared with dist/'s SyncBatchNorm. */
void ax__count_batch(ax_tensor *num_batches_tracked) {
  if (!num_batches_tracked) return;
  ax_scope_begin();
  ax_no_grad_begin();
  ax_copy_(num_batches_tracked, ax_add_scalar(num_batches_tracked, 1));
  ax_no_grad_end();
  ax_scope_end();
}

bool ax__batch_norm_check(const char *op, const ax_tensor *x, const ax_tensor *running_mean,
                          const ax_tensor *running_var, const ax_tensor *weight, const ax_tensor *bias, double momentum,
                          double eps) {
  if (!ax__check_float(op, x)) return false;
  if (x->ndim < 2) {
    ax_error("%s: expected input [N, C] or [N, C, d...], got %s", op, ax__shp(x));
    return false;
  }
  if (!check_vec(op, x, running_mean, "running_mean") || !check_vec(op, x, running_var, "running_var") ||
      !check_vec(op, x, weight, "weight") || !check_vec(op, x, bias, "bias"))
    return false;
  if (!running_mean != !running_var) {
    ax_error("%s: running_mean and running_var must both be given or both be NULL (input %s)", op, ax__shp(x));
    return false;
  }
  if (!(eps >= 0) || !isfinite(momentum)) {
    ax_error("%s: eps must be non-negative and momentum finite, got eps %g, momentum %g (input %s)", op, eps,
             momentum, ax__shp(x));
    return false;
  }
  return true;
}

static ax_tensor *plain(ax_tensor *t) { return t ? ax_contiguous(ax_detach(t)) : NULL; }
static ax_kt kt_or_zero(const ax_tensor *t) { return t ? ax__kt(t) : (ax_kt){0}; }

/* r = (1 - momentum) r + momentum v, in place and off the graph. */
static void blend_into(ax_tensor *r, ax_tensor *v, double momentum) {
  if (v && v->dtype != r->dtype) v = ax_cast(v, r->dtype); /* f32 statistics of bf16 / f16 input */
  ax_copy_(r, ax_add(ax_mul_scalar(r, 1.0 - momentum), ax_mul_scalar(v, momentum)));
}

static void batch_norm_backward(ax_node *n, ax_tensor *g) {
  ax_tensor *gy = ax_contiguous(g), *x = n->saved[0], *mean = n->saved[1], *invstd = n->saved[2], *w = n->saved[3];
  if (!gy) return;
  int64_t c = x->shape[1];
  ax_tensor *gx = ax__input_needs_grad(n, 0) ? ax__new(OP, x->dtype, x->device, x->ndim, x->shape) : NULL;
  ax_tensor *gw = ax__input_needs_grad(n, 1) ? ax__new(OP, x->dtype, x->device, 1, &c) : NULL;
  ax_tensor *gb = ax__input_needs_grad(n, 2) ? ax__new(OP, x->dtype, x->device, 1, &c) : NULL;
  const ax_backend *be = gy->storage->backend;
  if (!be->batch_norm_backward) {
    ax_error("%s: not implemented on the %s backend yet (kernel 'batch_norm_backward')", OP, be->name);
    return;
  }
  ax_kt kgx = kt_or_zero(gx), kgw = kt_or_zero(gw), kgb = kt_or_zero(gb), kgy = ax__kt(gy), kx = ax__kt(x);
  ax_kt km = ax__kt(mean), ks = ax__kt(invstd), kw = kt_or_zero(w);
  if (!AX_KCALL(n->name, be, batch_norm_backward, gx ? &kgx : NULL, gw ? &kgw : NULL, gb ? &kgb : NULL, &kgy, &kx,
                &km, &ks, w ? &kw : NULL, (int)n->iargs[0]))
    return;
  if (gx) ax__accumulate(n, 0, gx);
  if (gw) ax__accumulate(n, 1, gw);
  if (gb) ax__accumulate(n, 2, gb);
}

ax_tensor *ax_batch_norm(ax_tensor *x, ax_tensor *running_mean, ax_tensor *running_var, ax_tensor *weight,
                         ax_tensor *bias, bool training, double momentum, double eps) {
  if (!x) return NULL;
  if (!ax__batch_norm_check(OP, x, running_mean, running_var, weight, bias, momentum, eps)) return NULL;
  /* without running statistics, eval normalizes with the batch's own (PyTorch's track_running_stats=False) */
  bool batch_stats = training || !running_mean;
  int64_t c = x->shape[1], m = ax_numel(x) / (c ? c : 1);
  if (batch_stats && m <= 1) {
    ax_error("%s: expected more than 1 value per channel when using batch statistics, got input %s", OP, ax__shp(x));
    return NULL;
  }
  const ax_backend *be = ax__backend(x->device, OP);
  if (!be) return NULL;
  AX_KERNEL_CHECK(be, batch_norm_apply, OP);
  if (batch_stats) AX_KERNEL_CHECK(be, batch_norm_stats, OP);
  ax_tensor *xc = plain(x), *w = plain(weight), *b = plain(bias), *mean, *invstd;
  if (!xc || (weight && !w) || (bias && !b)) return NULL;
  ax_no_grad_begin();
  if (batch_stats) {
    /* f32 statistics for bf16 / f16 input, as PyTorch keeps them: a mean rounded to
     * 8 bits of mantissa is off by more than the spread of a small batch */
    ax_dtype sdt = x->dtype == AX_BF16 || x->dtype == AX_F16 ? AX_F32 : x->dtype;
    mean = ax__new(OP, sdt, x->device, 1, &c);
    invstd = ax__new(OP, sdt, x->device, 1, &c);
    if (mean && invstd) {
      ax_kt km = ax__kt(mean), ks = ax__kt(invstd), kx = ax__kt(xc);
      if (!AX_KCALL(OP, be, batch_norm_stats, &km, &ks, &kx, eps)) {
        mean = NULL; /* returns NULL below, after no_grad ends */
      } else if (training && running_mean) {
        ax_tensor *var = ax_mul_scalar(ax_sub_scalar(ax_pow_scalar(invstd, -2.0), eps), (double)m / (double)(m - 1));
        blend_into(running_mean, mean, momentum);
        blend_into(running_var, var, momentum);
      }
    }
  } else {
    mean = ax_clone(ax_detach(running_mean)); /* a copy: later training steps update the buffer in place */
    invstd = ax_rsqrt(ax_add_scalar(running_var, eps));
  }
  ax_no_grad_end();
  ax_tensor *y = ax__new(OP, x->dtype, x->device, x->ndim, x->shape);
  if (!mean || !invstd || !y) return NULL;
  ax_kt ky = ax__kt(y), kx = ax__kt(xc), km = ax__kt(mean), ks = ax__kt(invstd), kw = kt_or_zero(w),
        kb = kt_or_zero(b);
  if (!AX_KCALL(OP, be, batch_norm_apply, &ky, &kx, &km, &ks, w ? &kw : NULL, b ? &kb : NULL)) return NULL;
  ax_tensor *ins[3] = {x, weight, bias};
  ax_node *n = ax__record(y, "batch_norm", batch_norm_backward, 3, ins);
  if (n) {
    ax__save(n, 0, xc);
    ax__save(n, 1, mean);
    ax__save(n, 2, invstd);
    ax__save(n, 3, w);
    n->iargs[0] = batch_stats;
  }
  return y;
}
