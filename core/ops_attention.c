/* SPDX-License-Identifier: BSD-3-Clause */
/* Scaled dot-product attention: softmax(q k^T * scale + mask) v, with optional
 * causal masking and dropout on the weights, as one flash-attention kernel
 * (kernels/<backend>/attention.*) that never stores the Tq x Tk matrix.
 *
 * q, k and v are used in place when their last dim has unit stride (views of a
 * [B, T, 3, H, D] qkv buffer, as GPT makes them, cost no copy); other layouts
 * are made contiguous. The output is written as [B, Tq, H, D] and returned as
 * its [B, H, Tq, D] view, so the usual transpose(1, 2) + reshape that follows
 * copies nothing. The node saves q, k, v, the per-row log-sum-exp and the mask;
 * dropout saves its (seed, offset) so the backward kernel redraws the same
 * mask, like ax_dropout. The mask gets no gradient.
 *
 * bf16 / f16 on the CPU run in f32 through (differentiable) casts. Inside an
 * autocast region f32 inputs run in the region's dtype (a GEMM-shaped op, like
 * ax_matmul), and the result has that dtype. */
#include <math.h>

#include "core/internal.h"

#define OP "ax_scaled_dot_product_attention"

static bool check_mask(const ax_tensor *q, const ax_tensor *mask, const int64_t *full) {
  if (!ax__check_same_device(OP, q, mask)) return false;
  if (mask->dtype != AX_BOOL && mask->dtype != q->dtype) {
    ax_error("%s: attn_mask must be bool or q's dtype %s, got %s %s", OP, ax_dtype_name(q->dtype),
             ax_dtype_name(mask->dtype), ax__shp(mask));
    return false;
  }
  bool ok = mask->ndim <= 4;
  for (int d = 0; ok && d < mask->ndim; d++) {
    int64_t want = full[4 - mask->ndim + d];
    ok = mask->shape[d] == 1 || mask->shape[d] == want;
  }
  if (!ok) ax_error("%s: attn_mask %s does not broadcast to the scores %s", OP, ax__shp(mask), ax__shp_raw(4, full));
  return ok;
}

static bool check_inputs(const ax_tensor *q, const ax_tensor *k, const ax_tensor *v, const ax_sdpa_opts *o) {
  if (!ax__check_float(OP, q) || !ax__check_same_dtype(OP, q, k) || !ax__check_same_dtype(OP, q, v) ||
      !ax__check_same_device(OP, q, k) || !ax__check_same_device(OP, q, v))
    return false;
  if (q->ndim != 4 || k->ndim != 4 || v->ndim != 4) {
    ax_error("%s: q, k and v must be 4-D [B, H, T, D], got q %s, k %s, v %s", OP, ax__shp(q), ax__shp(k), ax__shp(v));
    return false;
  }
  if (!ax_same_shape(k, v) || q->shape[0] != k->shape[0] || q->shape[1] != k->shape[1]) {
    ax_error("%s: expected q [B, H, Tq, D] and k, v [B, H, Tk, D], got q %s, k %s, v %s", OP, ax__shp(q), ax__shp(k),
             ax__shp(v));
    return false;
  }
  if (q->shape[3] != k->shape[3]) {
    ax_error("%s: head dims differ: q %s has D = %lld, k %s has D = %lld", OP, ax__shp(q), (long long)q->shape[3],
             ax__shp(k), (long long)k->shape[3]);
    return false;
  }
  if (o && !(o->dropout_p >= 0 && o->dropout_p <= 1)) {
    ax_error("%s: dropout_p must be in [0, 1], got %g (q %s)", OP, o->dropout_p, ax__shp(q));
    return false;
  }
  if (o && !isfinite(o->scale)) {
    ax_error("%s: scale must be finite, got %g (q %s)", OP, o->scale, ax__shp(q));
    return false;
  }
  int64_t full[4] = {q->shape[0], q->shape[1], q->shape[2], k->shape[2]};
  return !o || !o->attn_mask || check_mask(q, o->attn_mask, full);
}

/* t itself when its last dim has unit stride (what the kernels need), else a contiguous copy. */
static ax_tensor *unit_last(ax_tensor *t) {
  return t->shape[3] <= 1 || t->strides[3] == 1 ? t : ax_contiguous(t);
}

static ax_attn_params params_of(const ax_tensor *q, const ax_tensor *k, double scale, int causal, double dropout_p,
                                uint64_t seed, uint64_t offset) {
  return (ax_attn_params){.b = q->shape[0], .h = q->shape[1], .tq = q->shape[2], .tk = k->shape[2],
                          .d = q->shape[3], .scale = scale, .causal = causal, .dropout_p = dropout_p,
                          .seed = seed, .offset = offset};
}

static ax_kt mask_kt(const ax_tensor *mask, const ax_attn_params *p) {
  int64_t full[4] = {p->b, p->h, p->tq, p->tk};
  return ax__kt_broadcast(mask, 4, full);
}

static void sdpa_backward(ax_node *n, ax_tensor *g) {
  ax_tensor *q = n->saved[0], *k = n->saved[1], *v = n->saved[2], *lse = n->saved[3], *mask = n->saved[4];
  ax_attn_params p = params_of(q, k, n->dargs[0], (int)n->iargs[0], n->dargs[1], (uint64_t)n->iargs[1],
                               (uint64_t)n->iargs[2]);
  ax_tensor *gc = unit_last(g);
  ax_tensor *gq = ax__new(OP, q->dtype, q->device, 4, q->shape);
  ax_tensor *gk = ax__new(OP, k->dtype, k->device, 4, k->shape);
  ax_tensor *gv = ax__new(OP, v->dtype, v->device, 4, v->shape);
  if (!gc || !gq || !gk || !gv) return;
  const ax_backend *be = gq->storage->backend;
  if (!be->attention_backward) {
    ax_error("%s: not implemented on the %s backend yet (kernel 'attention_backward')", OP, be->name);
    return;
  }
  ax_kt kgq = ax__kt(gq), kgk = ax__kt(gk), kgv = ax__kt(gv), kg = ax__kt(gc), kq = ax__kt(q), kk = ax__kt(k),
        kv = ax__kt(v), ko = ax__kt(n->output), kl = ax__kt(lse), km = mask ? mask_kt(mask, &p) : (ax_kt){0};
  if (!AX_KCALL(OP, be, attention_backward, &kgq, &kgk, &kgv, &kg, &kq, &kk, &kv, &ko, &kl, mask ? &km : NULL, &p)) return;
  ax_tensor *grads[3] = {gq, gk, gv};
  for (int i = 0; i < 3; i++)
    if (ax__input_needs_grad(n, i)) ax__accumulate(n, i, grads[i]);
}

/* bf16 / f16 on the CPU: the f32 kernel between casts (the output keeps its [B, Tq, H, D] layout). */
static ax_tensor *sdpa_via_f32(ax_tensor *q, ax_tensor *k, ax_tensor *v, const ax_sdpa_opts *o) {
  ax_dtype dt = q->dtype;
  ax_scope_begin();
  ax_sdpa_opts o32 = o ? *o : (ax_sdpa_opts){0};
  if (o32.attn_mask && o32.attn_mask->dtype != AX_BOOL) o32.attn_mask = ax_cast(o32.attn_mask, AX_F32);
  ax_autocast_begin(AX_F32); /* the f32 kernel, even inside an autocast region */
  ax_tensor *y = ax_scaled_dot_product_attention(ax_cast(q, AX_F32), ax_cast(k, AX_F32), ax_cast(v, AX_F32), &o32);
  ax_autocast_end();
  y = ax_transpose(ax_cast(ax_transpose(y, 1, 2), dt), 1, 2);
  return ax__scope_return(y);
}

/* Inside an autocast region, f32 q, k, v (and a float mask) run in the region's bf16 / f16. */
static ax_tensor *sdpa_autocast(ax_tensor *q, ax_tensor *k, ax_tensor *v, const ax_sdpa_opts *o) {
  ax_scope_begin();
  ax_sdpa_opts oc = o ? *o : (ax_sdpa_opts){0};
  if (oc.attn_mask && oc.attn_mask->dtype == AX_F32) oc.attn_mask = ax__autocast(oc.attn_mask);
  ax_tensor *y = ax_scaled_dot_product_attention(ax__autocast(q), ax__autocast(k), ax__autocast(v), &oc);
  return ax__scope_return(y);
}

ax_tensor *ax_scaled_dot_product_attention(ax_tensor *q, ax_tensor *k, ax_tensor *v, const ax_sdpa_opts *o) {
  if (!q || !k || !v) return NULL;
  if (!check_inputs(q, k, v, o)) return NULL;
  if (q->dtype == AX_F32 && ax__autocast_dtype_for(q) != AX_F32) return sdpa_autocast(q, k, v, o);
  /* a backend without this dtype's kernel (the CPU's bf16 / f16): the f32 one between casts */
  if (!ax_backend_supports(q->storage->backend, AX_KID_attention, q->dtype)) return sdpa_via_f32(q, k, v, o);
  ax_sdpa_opts opt = o ? *o : (ax_sdpa_opts){0};
  double scale = opt.scale != 0 ? opt.scale : 1.0 / sqrt((double)(q->shape[3] ? q->shape[3] : 1));
  uint64_t seed = 0, offset = 0;
  if (opt.dropout_p > 0) seed = ax__rng_seed(), offset = ax__rng_next_offset();

  ax_scope_begin();
  ax_no_grad_begin(); /* layout copies are internal: one node is recorded for the op */
  ax_tensor *qc = unit_last(q), *kc = unit_last(k), *vc = unit_last(v);
  ax_no_grad_end();
  int64_t B = q->shape[0], H = q->shape[1], Tq = q->shape[2], D = q->shape[3];
  ax_tensor *base = qc && kc && vc ? ax__new(OP, q->dtype, q->device, 4, (int64_t[]){B, Tq, H, D}) : NULL;
  ax_tensor *lse = base ? ax__new(OP, q->dtype == AX_F64 ? AX_F64 : AX_F32, q->device, 3, (int64_t[]){B, H, Tq})
                        : NULL;
  if (!lse) return ax__scope_return(NULL);
  ax_tensor *out = ax__view(base, 4, (int64_t[]){B, H, Tq, D}, (int64_t[]){Tq * H * D, D, H * D, 1}, 0);
  const ax_backend *be = base->storage->backend;
  if (!be->attention) {
    ax_error("%s: not implemented on the %s backend yet (kernel 'attention')", OP, be->name);
    return ax__scope_return(NULL);
  }
  ax_attn_params p = params_of(q, k, scale, opt.causal, opt.dropout_p, seed, offset);
  ax_kt ko = ax__kt(out), kl = ax__kt(lse), kq = ax__kt(qc), kk = ax__kt(kc), kv = ax__kt(vc),
        km = opt.attn_mask ? mask_kt(opt.attn_mask, &p) : (ax_kt){0};
  if (ax_numel(out) > 0 && !AX_KCALL(OP, be, attention, &ko, &kl, &kq, &kk, &kv, opt.attn_mask ? &km : NULL, &p))
    return ax__scope_return(NULL);

  ax_tensor *inputs[3] = {q, k, v};
  ax_node *n = ax__record(out, "scaled_dot_product_attention", sdpa_backward, 3, inputs);
  if (n) { /* saved before the scope ends: the copies belong to it */
    ax__save(n, 0, qc);
    ax__save(n, 1, kc);
    ax__save(n, 2, vc);
    ax__save(n, 3, lse);
    if (opt.attn_mask) ax__save(n, 4, opt.attn_mask);
    n->dargs[0] = scale;
    n->dargs[1] = opt.dropout_p;
    n->iargs[0] = opt.causal;
    n->iargs[1] = (int64_t)seed;
    n->iargs[2] = (int64_t)offset;
  }
  return ax__scope_return(out);
}
