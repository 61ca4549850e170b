/* SPDX-License-Identifier: BSD-3-Clause */
/* Matrix products: ax_matmul (torch.matmul semantics) and ax_linear.
 *
 * Both operands are brought to the form batch + [rows, cols] and handed to
 * the backend GEMM with a leading dimension, a transpose flag and one batch
 * stride each. Transposed views and broadcast batches therefore cost no copy;
 * only layouts that no (ld, trans, batch stride) can describe are made
 * contiguous first.
 *
 * bf16 / f16 operands multiply with f32 accumulation and one rounding of the
 * result on every backend (tensor cores on CUDA; the CPU GEMM converts while
 * packing). Inside an autocast region (core/autocast.c) f32 operands are cast
 * to the region's dtype first, with differentiable casts. */
#include <string.h>

#include "core/internal.h"

typedef struct {
  const void *ptr;
  int64_t ld, batch_stride;
  int trans;
} gemm_operand;

/* x has ndim >= 2 with batch dims [0, ndim-2). True if x's layout fits one GEMM operand. */
static bool describe(const ax_tensor *x, gemm_operand *op) {
  int nd = x->ndim;
  int64_t r = x->shape[nd - 2], c = x->shape[nd - 1];
  int64_t sr = x->strides[nd - 2], sc = x->strides[nd - 1];
  if ((sc == 1 || c == 1) && (sr >= c || r == 1)) {
    op->trans = 0;
    op->ld = r == 1 ? (c > 0 ? c : 1) : sr;
  } else if ((sr == 1 || r == 1) && (sc >= r || c == 1)) {
    op->trans = 1;
    op->ld = c == 1 ? (r > 0 ? r : 1) : sc;
  } else {
    return false;
  }
  if (op->ld < 1) op->ld = 1;
  /* The flattened batch index b must map to offset b * stride: every non-1
   * batch dim broadcast (stride 0), or the dims forming a row-major chain. */
  int64_t stride = 0, expect = 0;
  bool first = true, all_zero = true, chain = true;
  for (int d = nd - 3; d >= 0; d--) {
    if (x->shape[d] == 1) continue;
    if (x->strides[d] != 0) all_zero = false;
    if (first) {
      stride = x->strides[d];
      first = false;
    } else if (x->strides[d] != expect) {
      chain = false;
    }
    expect = x->strides[d] * x->shape[d];
  }
  if (all_zero)
    stride = 0;
  else if (!chain || stride == 0)
    return false;
  op->batch_stride = stride;
  op->ptr = ax_data_ptr(x);
  return true;
}

static bool operand(ax_tensor **x, gemm_operand *op) {
  if (describe(*x, op)) return true;
  *x = ax_contiguous(*x);
  return *x && describe(*x, op);
}

static void matmul_backward(ax_node *n, ax_tensor *g) {
  ax_tensor *a = n->saved[0], *b = n->saved[1];
  ax_tensor *a2 = a->ndim == 1 ? ax_unsqueeze(a, 0) : a;
  ax_tensor *b2 = b->ndim == 1 ? ax_unsqueeze(b, 1) : b;
  ax_tensor *g2 = g;
  if (a->ndim == 1) g2 = ax_unsqueeze(g2, g2->ndim - (b->ndim == 1 ? 0 : 1));
  if (b->ndim == 1) g2 = ax_unsqueeze(g2, g2->ndim);
  if (ax__input_needs_grad(n, 0)) {
    ax_tensor *ga = ax_matmul(g2, ax_transpose(b2, -1, -2));
    ax__accumulate(n, 0, ax_reshape(ax__sum_to(ga, a2->ndim, a2->shape), a->ndim, a->shape));
  }
  if (ax__input_needs_grad(n, 1)) {
    ax_tensor *gb = ax_matmul(ax_transpose(a2, -1, -2), g2);
    ax__accumulate(n, 1, ax_reshape(ax__sum_to(gb, b2->ndim, b2->shape), b->ndim, b->shape));
  }
}

static ax_tensor *matmul(ax_tensor *a, ax_tensor *b);

ax_tensor *ax_matmul(ax_tensor *a, ax_tensor *b) {
  if (!a || !b) return NULL;
  ax_scope_begin();
  /* autocast: f32 operands go to the region's dtype, also next to an operand already in it
   * (a bf16 activation times an f32 weight, as PyTorch does); f64 keeps the dtype error */
  if (a->dtype != AX_F64 && b->dtype != AX_F64) {
    a = ax__autocast(a);
    b = ax__autocast(b);
  }
  return ax__scope_return(matmul(a, b));
}

/* The broadcast batch dims of a2 [..., m, k] and b2 [..., k, n] (a and b as given, for the
 * messages): false with an error when they do not broadcast or are too many. */
static bool broadcast_batch(const ax_tensor *a, const ax_tensor *b, const ax_tensor *a2, const ax_tensor *b2,
                            int *nbatch_out, int64_t *batch) {
  int na = a2->ndim - 2, nb = b2->ndim - 2, nbatch = na > nb ? na : nb;
  for (int i = 0; i < nbatch; i++) {
    int ia = na - nbatch + i, ib = nb - nbatch + i;
    int64_t sa = ia >= 0 ? a2->shape[ia] : 1, sb = ib >= 0 ? b2->shape[ib] : 1;
    if (sa != sb && sa != 1 && sb != 1) {
      ax_error("ax_matmul: batch dims of %s and %s do not broadcast (%lld vs %lld)", ax__shp(a), ax__shp(b),
               (long long)sa, (long long)sb);
      return false;
    }
    batch[i] = sa == 1 ? sb : sa;
  }
  if (nbatch + 2 > AX_MAX_DIMS) {
    ax_error("ax_matmul: too many dims (%s by %s)", ax__shp(a), ax__shp(b));
    return false;
  }
  *nbatch_out = nbatch;
  return true;
}

/* c [batch..., m, n] without the dims that 1-D operands gained (a view; c itself otherwise). */
static ax_tensor *drop_vector_dims(ax_tensor *c, const ax_tensor *a, const ax_tensor *b, int nbatch,
                                   const int64_t *batch, int64_t m, int64_t n) {
  if (a->ndim != 1 && b->ndim != 1) return c;
  int64_t shp[AX_MAX_DIMS];
  int nd = 0;
  for (int i = 0; i < nbatch; i++) shp[nd++] = batch[i];
  if (a->ndim != 1) shp[nd++] = m;
  if (b->ndim != 1) shp[nd++] = n;
  ax_no_grad_begin();
  ax_tensor *out = ax_reshape(c, nd, shp);
  ax_no_grad_end();
  return out;
}

static ax_tensor *matmul(ax_tensor *a, ax_tensor *b) {
  if (!ax__check_same_device("ax_matmul", a, b) || !ax__check_same_dtype("ax_matmul", a, b)) return NULL;
  if (!ax__check_float("ax_matmul", a)) return NULL;
  if (a->ndim == 0 || b->ndim == 0) {
    ax_error("ax_matmul: both arguments need at least 1 dim, got %s and %s", ax__shp(a), ax__shp(b));
    return NULL;
  }
  ax_tensor *a2 = a->ndim == 1 ? ax_unsqueeze(a, 0) : a;
  ax_tensor *b2 = b->ndim == 1 ? ax_unsqueeze(b, 1) : b;
  if (!a2 || !b2) return NULL;
  int64_t m = a2->shape[a2->ndim - 2], k = a2->shape[a2->ndim - 1];
  int64_t kb = b2->shape[b2->ndim - 2], n = b2->shape[b2->ndim - 1];
  if (k != kb) {
    ax_error("ax_matmul: cannot multiply %s by %s (%lld != %lld)", ax__shp(a), ax__shp(b), (long long)k, (long long)kb);
    return NULL;
  }
  int nbatch;
  int64_t batch[AX_MAX_DIMS];
  if (!broadcast_batch(a, b, a2, b2, &nbatch, batch)) return NULL;
  int64_t shape_a[AX_MAX_DIMS], shape_b[AX_MAX_DIMS], shape_c[AX_MAX_DIMS];
  memcpy(shape_a, batch, sizeof(int64_t) * nbatch);
  memcpy(shape_b, batch, sizeof(int64_t) * nbatch);
  memcpy(shape_c, batch, sizeof(int64_t) * nbatch);
  shape_a[nbatch] = m, shape_a[nbatch + 1] = k;
  shape_b[nbatch] = k, shape_b[nbatch + 1] = n;
  shape_c[nbatch] = m, shape_c[nbatch + 1] = n;
  ax_no_grad_begin(); /* the expanded views are plumbing, not graph */
  ax_tensor *ea = ax_expand(a2, nbatch + 2, shape_a), *eb = ax_expand(b2, nbatch + 2, shape_b);
  ax_tensor *c = ax__new("ax_matmul", a->dtype, a->device, nbatch + 2, shape_c);
  gemm_operand oa, ob;
  bool ok = ea && eb && c && operand(&ea, &oa) && operand(&eb, &ob);
  ax_no_grad_end();
  if (!ok) return NULL;
  const ax_backend *be = c->storage->backend;
  AX_KERNEL_CHECK(be, gemm, "ax_matmul");
  int64_t nbatches = ax__shape_numel(nbatch, batch);
  if (k == 0 || nbatches == 0 || m == 0 || n == 0) {
    ax_kt kc = ax__kt(c);
    if (!AX_KCALL("ax_matmul", be, fill, &kc, 0.0)) return NULL;
  } else {
    ax_gemm_args g = {
        .dtype = a->dtype, .trans_a = oa.trans, .trans_b = ob.trans, .m = m, .n = n, .k = k,
        .alpha = 1.0, .beta = 0.0,
        .a = oa.ptr, .lda = oa.ld, .stride_a = oa.batch_stride,
        .b = ob.ptr, .ldb = ob.ld, .stride_b = ob.batch_stride,
        .c = ax_data_ptr(c), .ldc = n, .stride_c = m * n, .batch = nbatches,
    };
    if (!AX_KCALL("ax_matmul", be, gemm, &g)) return NULL;
  }
  ax_tensor *out = drop_vector_dims(c, a, b, nbatch, batch, m, n);
  ax_tensor *inputs[2] = {a, b};
  ax_node *node = ax__record(out, "matmul", matmul_backward, 2, inputs);
  if (node) {
    ax__save(node, 0, a);
    ax__save(node, 1, b);
  }
  return out;
}

ax_tensor *ax_linear(ax_tensor *x, ax_tensor *weight, ax_tensor *bias) {
  if (!x || !weight) return NULL;
  if (weight->ndim != 2) {
    ax_error("ax_linear: weight must be 2-D [out_features, in_features], got %s", ax__shp(weight));
    return NULL;
  }
  if (x->ndim < 1 || x->shape[x->ndim - 1] != weight->shape[1]) {
    ax_error("ax_linear: input %s does not match weight %s (last dim must be %lld)", ax__shp(x), ax__shp(weight),
             (long long)weight->shape[1]);
    return NULL;
  }
  if (bias && (bias->ndim != 1 || bias->shape[0] != weight->shape[0])) {
    ax_error("ax_linear: bias must be [%lld], got %s", (long long)weight->shape[0], ax__shp(bias));
    return NULL;
  }
  ax_scope_begin();
  /* autocast casts all three (the bias too: y + bias needs one dtype), the
   * weight before the transpose so the cast copy keeps its layout */
  if (x->dtype != AX_F64 && weight->dtype != AX_F64 && (!bias || bias->dtype != AX_F64)) {
    x = ax__autocast(x);
    weight = ax__autocast(weight);
    bias = ax__autocast(bias);
  }
  ax_tensor *y = ax_matmul(x, ax_transpose(weight, 0, 1));
  return ax__scope_return(bias ? ax_add(y, bias) : y);
}
