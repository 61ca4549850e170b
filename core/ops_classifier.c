/* SPDX-License-Identifier: BSD-3-Clause */
/* The classifier head and its loss in one op: cross_entropy(h W^T + b, target)
 * without ever holding the N x V logits.
 *
 * Rows are processed in chunks of at most the backend's chunk_bytes of logits
 * (its caps for cross_entropy: 32 MB on the CPU, 1 GB on CUDA) (a language model's V = 50257 gives 166 rows): per chunk, the gemm
 * kernel writes logits = h_c W^T (+ b, copied in first and accumulated with
 * beta = 1), then the fused cross_entropy kernel reduces each row to its loss.
 * The node records the per-row loss [N]; the reduction (mean over rows not
 * ignored, sum, none) is done with ordinary ops on it, so the backward receives
 * each row's loss gradient already scaled. Only the rows' logsumexp (N values)
 * is kept, and the logits when all rows fit one chunk (a small vocabulary: the
 * backward then needs no recomputation). Backward, per chunk: recompute the
 * logits (unless kept), cross_entropy_backward
 * into a chunk buffer, then gh_c = glogits W, gW (+)= glogits^T h_c and
 * gb (+)= glogits^T 1 as GEMMs with beta = 1 after the first chunk: a fixed
 * order, so the result is deterministic.
 *
 * bf16 / f16 (inside an autocast region f32 h and W are cast to its dtype, as for
 * a linear layer): the GEMMs and the logits are in that dtype with f32
 * accumulation, the logsumexp and the per-row loss in f32 (the loss returned is
 * f32, as PyTorch's cross-entropy gives under autocast). The GEMMs' C operand is
 * the storage dtype, so gW and gb, which sum over every chunk, are summed across
 * chunks in f32 (each chunk's product converted and added) and rounded once.
 *
 * Chunks hold at most 32 MB of logits on the CPU (cache-sized) and 1 GiB on a
 * GPU (GEMMs of a few thousand rows; GPT-2's 16 x 1024 tokens need two).
 *
 * AXON_CLASSIFIER_CHUNK_ROWS=n (n > 0) forces the chunk size (for tests). */
#include <math.h>
#include <stdlib.h>

#include "core/internal.h"

static const char OP[] = "ax_classifier_cross_entropy";

_Static_assert(AX_NODE_SAVED >= 6, "the classifier node saves h, W, b, the target, the logsumexp and the logits");

static int64_t chunk_rows(int64_t n, int64_t v, const ax_tensor *h) {
  int64_t rows = ax_settings_get()->classifier_chunk_rows; /* AXON_CLASSIFIER_CHUNK_ROWS */
  int64_t bytes = ax_backend_caps(h->storage->backend, AX_KID_cross_entropy).chunk_bytes; /* the backend's size */
  if (rows <= 0) rows = bytes / ((v > 0 ? v : 1) * (int64_t)ax_dtype_size(h->dtype));
  if (rows < 1) rows = 1;
  return rows < n ? rows : (n > 0 ? n : 1);
}

/* A contiguous kernel view of `rows` x `cols` elements of t starting at row r0 (t contiguous, cols wide). */
static ax_kt block_kt(const ax_tensor *t, int64_t r0, int64_t rows, int64_t cols) {
  ax_kt k = ax__kt(t);
  k.data = (char *)k.data + r0 * cols * (int64_t)ax_dtype_size(t->dtype);
  k.ndim = 2;
  k.shape[0] = rows;
  k.shape[1] = cols;
  k.strides[0] = cols;
  k.strides[1] = 1;
  if (t->ndim == 1) { /* a 1-D slice [rows] */
    k.ndim = 1;
    k.shape[0] = rows;
    k.strides[0] = 1;
  }
  return k;
}

static void *row_ptr(const ax_tensor *t, int64_t r, int64_t cols) {
  return (char *)ax_data_ptr(t) + r * cols * (int64_t)ax_dtype_size(t->dtype);
}

/* C = alpha op(A) op(B) + beta C for single row-major matrices. */
static bool gemm(const ax_backend *be, int dtype, int ta, int tb, int64_t m, int64_t n, int64_t k, const void *a,
                 int64_t lda, const void *b, int64_t ldb, void *c, int64_t ldc, double beta) {
  ax_gemm_args g = {.dtype = dtype, .trans_a = ta, .trans_b = tb, .m = m, .n = n, .k = k, .alpha = 1.0, .beta = beta,
                    .a = a, .lda = lda, .b = b, .ldb = ldb, .c = c, .ldc = ldc, .batch = 1};
  return AX_KCALL(OP, be, gemm, &g);
}

/* logits [m, V] (the first m rows of the buffer) = h[r0 : r0+m] W^T + b */
static bool chunk_logits(const ax_backend *be, ax_tensor *h, ax_tensor *w, ax_tensor *b, int64_t r0, int64_t m,
                         ax_tensor *logits) {
  int64_t v = w->shape[0], c = w->shape[1];
  ax_kt kl = block_kt(logits, 0, m, v);
  if (b) { /* the bias broadcast over the rows, then the GEMM adds onto it */
    ax_kt kb = ax__kt(b);
    kb.ndim = 2, kb.shape[0] = m, kb.shape[1] = v, kb.strides[0] = 0, kb.strides[1] = 1;
    if (!AX_KCALL(OP, be, copy, &kl, &kb)) return false;
  } else if (c == 0) {
    return AX_KCALL(OP, be, fill, &kl, 0.0);
  }
  return c == 0 ||
         gemm(be, h->dtype, 0, 1, m, v, c, row_ptr(h, r0, c), c, ax_data_ptr(w), c, ax_data_ptr(logits), v, b ? 1.0 : 0.0);
}

/* saved: h (0), W (1), b (2, may be NULL), target (3), all contiguous, lse [N] (4), the logits
 * [N, V] when they were one chunk (5, else NULL); iargs[0] = ignore_index, dargs[0] = label smoothing */
/* acc (f32) += part (bf16 / f16), both contiguous of the same shape: a chunk's gW or gb. */
static bool add_widened(const ax_backend *be, ax_tensor *acc, ax_tensor *part, ax_tensor *tmp) {
  ax_kt ka = ax__kt(acc), kp = ax__kt(part), kt = ax__kt(tmp);
  return AX_KCALL(OP, be, copy, &kt, &kp) && AX_KCALL(OP, be, binary, AX_BINARY_ADD, &ka, &ka, &kt);
}

/* saved: h (0), W (1), b (2, may be NULL), target (3), all contiguous, lse [N] (4), the logits
 * [N, V] when they were one chunk (5, else NULL); iargs[0] = ignore_index, dargs[0] = label smoothing */
static void classifier_backward(ax_node *n, ax_tensor *g) {
  ax_tensor *h = n->saved[0], *w = n->saved[1], *b = n->saved[2], *t = n->saved[3], *lse = n->saved[4];
  ax_tensor *gl = ax_contiguous(g);
  int64_t rows = h->shape[0], c = h->shape[1], v = w->shape[0];
  int64_t chunk = n->saved[5] ? rows : chunk_rows(rows, v, h); /* kept logits: the forward's one chunk */
  bool need_h = ax__input_needs_grad(n, 0), need_w = ax__input_needs_grad(n, 1), need_b = ax__input_needs_grad(n, 2);
  ax_dtype dt = h->dtype;
  /* 16-bit gW / gb over several chunks: each chunk's product in dt, summed in f32 */
  bool widen = (dt == AX_BF16 || dt == AX_F16) && rows > chunk;
  ax_dtype acc_dt = widen ? AX_F32 : dt;
  ax_tensor *gh = need_h ? ax__new(OP, dt, h->device, 2, h->shape) : NULL;
  ax_tensor *gw = need_w ? ax__new(OP, acc_dt, h->device, 2, w->shape) : NULL;
  ax_tensor *gb = need_b ? ax__new(OP, acc_dt, h->device, 1, &v) : NULL;
  if (!gl || (need_h && !gh) || (need_w && !gw) || (need_b && !gb)) return;
  const ax_backend *be = gl->storage->backend;
  if (rows == 0 || v == 0) { /* nothing flows back: every gradient is zero */
    ax_tensor *gs[3] = {gh, gw, gb};
    for (int i = 0; i < 3; i++) {
      ax_kt k = gs[i] ? ax__kt(gs[i]) : (ax_kt){0};
      if (gs[i] && ax_numel(gs[i]) > 0 && !AX_KCALL(OP, be, fill, &k, 0.0)) return;
    }
  } else {
    ax_tensor *kept = n->saved[5], *logits = kept ? kept : ax__new(OP, dt, h->device, 2, (int64_t[]){chunk, v});
    ax_tensor *glogits = ax__new(OP, dt, h->device, 2, (int64_t[]){chunk, v});
    ax_tensor *ones = gb ? ax_ones(1, &chunk, &(ax_tensor_opts){.dtype = dt, .device = h->device}) : NULL;
    /* widen: the chunk's gW / gb in dt, and the same converted to f32 */
    ax_tensor *pw = widen && gw ? ax__new(OP, dt, h->device, 2, w->shape) : NULL;
    ax_tensor *pw32 = widen && gw ? ax__new(OP, AX_F32, h->device, 2, w->shape) : NULL;
    ax_tensor *pb = widen && gb ? ax__new(OP, dt, h->device, 1, &v) : NULL;
    ax_tensor *pb32 = widen && gb ? ax__new(OP, AX_F32, h->device, 1, &v) : NULL;
    if (!logits || !glogits || (gb && !ones) || (widen && gw && (!pw || !pw32)) || (widen && gb && (!pb || !pb32)))
      return;
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
      int64_t m = rows - r0 < chunk ? rows - r0 : chunk;
      double beta = r0 == 0 || widen ? 0.0 : 1.0;
      if (!kept && !chunk_logits(be, h, w, b, r0, m, logits)) return;
      ax_kt kl = block_kt(logits, 0, m, v), kg = block_kt(glogits, 0, m, v);
      ax_kt kz = block_kt(lse, r0, m, 1), kt = block_kt(t, r0, m, 1), kgl = block_kt(gl, r0, m, 1);
      if (!AX_KCALL(OP, be, cross_entropy_backward, &kg, &kgl, &kl, &kz, &kt, n->iargs[0], n->dargs[0])) return;
      if (gh && c > 0 && !gemm(be, dt, 0, 0, m, c, v, kg.data, v, ax_data_ptr(w), c, row_ptr(gh, r0, c), c, 0.0)) return;
      if (gw && c > 0 &&
          !gemm(be, dt, 1, 0, v, c, m, kg.data, v, row_ptr(h, r0, c), c, ax_data_ptr(widen ? pw : gw), c, beta))
        return;
      if (gb && !gemm(be, dt, 1, 0, v, 1, m, kg.data, v, ax_data_ptr(ones), 1, ax_data_ptr(widen ? pb : gb), 1, beta))
        return;
      if (widen && gw && c > 0) {
        if (r0 == 0) {
          ax_kt ka = ax__kt(gw), kp = ax__kt(pw);
          if (!AX_KCALL(OP, be, copy, &ka, &kp)) return;
        } else if (!add_widened(be, gw, pw, pw32)) {
          return;
        }
      }
      if (widen && gb) {
        if (r0 == 0) {
          ax_kt ka = ax__kt(gb), kp = ax__kt(pb);
          if (!AX_KCALL(OP, be, copy, &ka, &kp)) return;
        } else if (!add_widened(be, gb, pb, pb32)) {
          return;
        }
      }
    }
  }
  if (gh) ax__accumulate(n, 0, gh);
  if (gw) ax__accumulate(n, 1, gw); /* cast to the input's dtype there: rounded once */
  if (gb) ax__accumulate(n, 2, gb);
}

static bool check_inputs(ax_tensor *h, ax_tensor *w, ax_tensor *b, ax_tensor *t, const ax_cross_entropy_opts *o) {
  if (!ax__check_float(OP, h) || !ax__check_same_dtype(OP, h, w) || !ax__check_same_device(OP, h, w) ||
      !ax__check_same_device(OP, h, t))
    return false;
  if (h->ndim != 2 || w->ndim != 2 || h->shape[1] != w->shape[1]) {
    ax_error("%s: expected h [N, C] and weight [V, C], got h %s and weight %s", OP, ax__shp(h), ax__shp(w));
    return false;
  }
  if (b && (!ax__check_same_dtype(OP, h, b) || !ax__check_same_device(OP, h, b))) return false;
  if (b && (b->ndim != 1 || b->shape[0] != w->shape[0])) {
    ax_error("%s: bias %s does not match weight %s (expected [%lld])", OP, ax__shp(b), ax__shp(w),
             (long long)w->shape[0]);
    return false;
  }
  if (t->dtype != AX_I64) {
    ax_error("%s: target must hold i64 class indices, got %s %s", OP, ax_dtype_name(t->dtype), ax__shp(t));
    return false;
  }
  if (t->ndim != 1 || t->shape[0] != h->shape[0]) {
    ax_error("%s: target %s does not match h %s (expected [%lld])", OP, ax__shp(t), ax__shp(h), (long long)h->shape[0]);
    return false;
  }
  if (o && o->weight) {
    ax_error("%s: class weights are not supported by the fused classifier loss (use ax_linear + ax_cross_entropy)", OP);
    return false;
  }
  double ls = o ? o->label_smoothing : 0.0;
  if (!(ls >= 0 && ls <= 1)) {
    ax_error("%s: label_smoothing must be in [0, 1], got %g", OP, ls);
    return false;
  }
  ax_reduction r = o ? o->reduction : AX_REDUCTION_MEAN;
  if (r != AX_REDUCTION_MEAN && r != AX_REDUCTION_SUM && r != AX_REDUCTION_NONE) {
    ax_error("%s: invalid reduction %d (use AX_REDUCTION_MEAN, _SUM or _NONE)", OP, (int)r);
    return false;
  }
  return true;
}

/* CPU targets must be in [0, V) or ignore_index; CUDA ones are not read back (that would synchronize
 * every step): such a row's loss is NaN instead, as in ax_cross_entropy. */
static bool check_targets(const ax_tensor *tc, int64_t v, int64_t ignore) {
  if (tc->device.type != AX_DEVICE_CPU) return true;
  const int64_t *p = ax_data_ptr(tc);
  for (int64_t i = 0, n = ax_numel(tc); i < n; i++)
    if (p[i] != ignore && (p[i] < 0 || p[i] >= v)) {
      ax_error("%s: target %lld is out of range for %lld classes (valid targets are 0..%lld, or the ignore_index "
               "%lld)", OP, (long long)p[i], (long long)v, (long long)v - 1, (long long)ignore);
      return false;
    }
  return true;
}

ax_tensor *ax_classifier_cross_entropy(ax_tensor *h, ax_tensor *weight, ax_tensor *bias, ax_tensor *target,
                                       const ax_cross_entropy_opts *o) {
  if (!h || !weight || !target) return NULL;
  h = ax__autocast(h), weight = ax__autocast(weight), bias = ax__autocast(bias); /* a linear layer's casts */
  if (!h || !weight) return NULL;
  if (!check_inputs(h, weight, bias, target, o)) return NULL;
  const ax_backend *be = ax__backend(h->device, OP);
  if (!be) return NULL;
  AX_KERNEL_CHECK(be, gemm, OP);
  AX_KERNEL_CHECK(be, cross_entropy, OP);
  AX_KERNEL_CHECK(be, cross_entropy_backward, OP);
  int64_t ignore = o && o->has_ignore_index ? o->ignore_index : -100;
  double ls = o ? o->label_smoothing : 0.0;
  ax_reduction red = o ? o->reduction : AX_REDUCTION_MEAN;
  int64_t rows = h->shape[0], v = weight->shape[0], chunk = chunk_rows(rows, v, h);
  ax_dtype dt = h->dtype, lse_dt = dt == AX_F64 ? AX_F64 : AX_F32; /* also the loss's dtype */
  ax_scope_begin();
  ax_tensor *hc = ax_contiguous(ax_detach(h)), *wc = ax_contiguous(ax_detach(weight));
  ax_tensor *bc = bias ? ax_contiguous(ax_detach(bias)) : NULL, *tc = ax_contiguous(ax_detach(target));
  if (!hc || !wc || (bias && !bc) || !tc || !check_targets(tc, v, ignore)) return ax__scope_return(NULL);
  ax_tensor *loss = ax__new(OP, lse_dt, h->device, 1, &rows), *lse = ax__new(OP, lse_dt, h->device, 1, &rows);
  ax_tensor *logits = v > 0 ? ax__new(OP, dt, h->device, 2, (int64_t[]){chunk, v}) : NULL;
  if (!loss || !lse || (v > 0 && !logits)) return ax__scope_return(NULL);
  if (v == 0 && rows > 0) { /* no class to pick */
    ax_kt kl = ax__kt(loss);
    if (!AX_KCALL(OP, be, fill, &kl, NAN)) return ax__scope_return(NULL);
  }
  for (int64_t r0 = 0; v > 0 && r0 < rows; r0 += chunk) {
    int64_t m = rows - r0 < chunk ? rows - r0 : chunk;
    if (!chunk_logits(be, hc, wc, bc, r0, m, logits)) return ax__scope_return(NULL);
    ax_kt kl = block_kt(logits, 0, m, v), kloss = block_kt(loss, r0, m, 1), kz = block_kt(lse, r0, m, 1);
    ax_kt kt = block_kt(tc, r0, m, 1);
    if (!AX_KCALL(OP, be, cross_entropy, &kloss, &kz, &kl, &kt, ignore, ls)) return ax__scope_return(NULL);
  }
  ax_tensor *ins[3] = {h, weight, bias};
  ax_node *n = ax__record(loss, "classifier_cross_entropy", classifier_backward, 3, ins);
  if (n) { /* save before the scope ends: the contiguous copies belong to it */
    n->iargs[0] = ignore;
    n->dargs[0] = ls;
    ax__save(n, 0, hc);
    ax__save(n, 1, wc);
    ax__save(n, 2, bc);
    ax__save(n, 3, tc);
    ax__save(n, 4, lse);
    if (rows <= chunk) ax__save(n, 5, logits);
  }
  ax_tensor *out = loss;
  if (red != AX_REDUCTION_NONE) {
    out = ax_sum(loss, AX_ALL, false);
    if (red == AX_REDUCTION_MEAN) /* over the rows not ignored (0 / 0 = NaN when all are, as in PyTorch) */
      out = ax_div(out, ax_cast(ax_sum(ax_ne_scalar(tc, (double)ignore), AX_ALL, false), lse_dt));
  }
  return ax__scope_return(out);
}
