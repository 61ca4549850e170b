/* SPDX-License-Identifier: BSD-3-Clause */
/* SyncBatchNorm: batch normalization with statistics over the global batch.
 *
 * Each rank reduces its own slice to per-channel (sum, centered sum of
 * squares, count), one all-reduce adds them over ranks, and every rank
 * normalizes with the global mean and variance. The all-reduce is an op of
 * the autograd graph whose backward all-reduces the incoming gradient, so
 * autograd gives exactly the gradient of one process with the whole batch
 * (each rank's statistics feed every rank's loss). Everything else is plain
 * ops, so it runs on every backend.
 *
 * Numerics: rank r computes its mean m_r and M2_r = sum((x - m_r)^2) by two
 * passes in x's dtype (no cancellation), then in f64 the pair
 * (n_r m_r, M2_r + n_r m_r^2); the global variance is
 * sum(M2_r + n_r m_r^2) / n - mean^2 (Chan's parallel formula). The
 * cancellation in that difference happens in f64, so it costs ~1e-16 of
 * mean^2 — below the rounding of any f32/bf16 activation. */
#include <math.h>
#include <stdio.h>

#include "core/internal.h"
#include "dist/internal.h"

/* ---------------- a differentiable all-reduce ---------------- */

static void all_reduce_sum_backward(ax_node *n, ax_tensor *g) {
  if (!ax__input_needs_grad(n, 0)) return;
  ax_tensor *s = ax_clone(g); /* contiguous, and never the engine's accumulator itself */
  if (!s || ax_all_reduce(n->ctx, s, AX_DIST_SUM) != 0) return;
  ax__accumulate(n, 0, s);
}

ax_tensor *ax_all_reduce_sum(ax_comm *c, ax_tensor *t) {
  if (!c || !t) return NULL;
  ax_tensor *out = ax_clone(ax_detach(t));
  if (!out || ax_all_reduce(c, out, AX_DIST_SUM) != 0) return NULL;
  ax_node *n = ax__record(out, "all_reduce_sum", all_reduce_sum_backward, 1, &t);
  if (n) n->ctx = c; /* the communicator lives until exit: nothing to free */
  return out;
}

/* ---------------- the functional form ---------------- */

static const char *OP = "ax_sync_batch_norm";

static ax_tensor *row(ax_tensor *stats, int i) { return ax_squeeze(ax_narrow(stats, 0, i, 1), 0); }

/* r = (1 - momentum) r + momentum v (v in f64), in place and off the graph. */
static void blend_into(ax_tensor *r, ax_tensor *v, double momentum) {
  ax_copy_(r, ax_add(ax_mul_scalar(r, 1.0 - momentum), ax_cast(ax_mul_scalar(v, momentum), r->dtype)));
}

static ax_tensor *sync_bn(ax_comm *c, ax_tensor *x, ax_tensor *rm, ax_tensor *rv, ax_tensor *w, ax_tensor *b,
                          double momentum, double eps) {
  int nd = x->ndim, dims[AX_MAX_DIMS], nr = 0;
  int64_t ch = x->shape[1], bshape[AX_MAX_DIMS];
  for (int d = 0; d < nd; d++) {
    if (d != 1) dims[nr++] = d;
    bshape[d] = d == 1 ? ch : 1;
  }
  double n_local = (double)(ax_numel(x) / ch);
  /* local two-pass statistics in x's dtype, then the f64 sums that add over ranks */
  ax_tensor *mean_l = ax_mean(x, nr, dims, true);
  ax_tensor *m2_l = ax_sum(ax_square(ax_sub(x, mean_l)), nr, dims, false);
  ax_tensor *m64 = ax_cast(ax_reshape(mean_l, 1, &ch), AX_F64);
  ax_tensor *s1 = ax_mul_scalar(m64, n_local);
  ax_tensor *s2 = ax_add(ax_cast(m2_l, AX_F64), ax_mul(s1, m64));
  ax_tensor *cnt = ax_full(1, &ch, n_local, &(ax_tensor_opts){.dtype = AX_F64, .device = x->device});
  ax_tensor *g = ax_all_reduce_sum(c, ax_stack((ax_tensor *[]){s1, s2, cnt}, 3, 0)); /* [3, C] */
  ax_tensor *n = row(g, 2), *mean = ax_div(row(g, 0), n);
  ax_tensor *var = ax_clamp(ax_sub(ax_div(row(g, 1), n), ax_square(mean)), 0.0, INFINITY);
  /* y = x * scale + shift with scale = w / sqrt(var + eps), shift = b - mean * scale */
  ax_tensor *scale = ax_rsqrt(ax_add_scalar(var, eps));
  if (w) scale = ax_mul(scale, ax_cast(w, AX_F64));
  ax_tensor *shift = ax_neg(ax_mul(mean, scale));
  if (b) shift = ax_add(shift, ax_cast(b, AX_F64));
  ax_tensor *y = ax_add(ax_mul(x, ax_reshape(ax_cast(scale, x->dtype), nd, bshape)),
                        ax_reshape(ax_cast(shift, x->dtype), nd, bshape));
  if (y && rm) {
    ax_no_grad_begin();
    blend_into(rm, mean, momentum);
    blend_into(rv, ax_div(ax_mul(var, n), ax_sub_scalar(n, 1.0)), momentum); /* unbiased, global count */
    ax_no_grad_end();
  }
  return y;
}

ax_tensor *ax_sync_batch_norm(ax_comm *c, ax_tensor *x, ax_tensor *running_mean, ax_tensor *running_var,
                              ax_tensor *weight, ax_tensor *bias, double momentum, double eps) {
  if (!c || !x) return NULL;
  if (!ax__batch_norm_check(OP, x, running_mean, running_var, weight, bias, momentum, eps)) return NULL;
  /* every rank must bring at least one value per channel; alone, at least two (as ax_batch_norm) */
  int64_t per_channel = x->shape[1] ? ax_numel(x) / x->shape[1] : 0;
  if (x->shape[1] == 0 || per_channel < (ax_comm_size(c) > 1 ? 1 : 2)) {
    ax_error("%s: expected at least %d value(s) per channel on each of the %d rank(s), got input %s", OP,
             ax_comm_size(c) > 1 ? 1 : 2, ax_comm_size(c), ax__shp(x));
    return NULL;
  }
  ax_scope_begin();
  return ax__scope_return(sync_bn(c, x, running_mean, running_var, weight, bias, momentum, eps));
}

/* ---------------- the module ---------------- */

typedef struct sbn_impl {
  ax_tensor *weight, *bias, *running_mean, *running_var, *num_batches_tracked;
  int64_t features;
  double eps, momentum;
  int spatial; /* which BatchNorm it replaced: 1 (1d) or 2 (2d), for the input check */
  ax_comm *comm;
} sbn_impl;

static ax_tensor *sbn_forward(ax_module *m, ax_tensor *x) {
  sbn_impl *p = ax_module_impl(m);
  bool ok = p->spatial == 2 ? x->ndim == 4 : x->ndim == 2 || x->ndim == 3;
  if (!ok) {
    char buf[128];
    ax_error("ax_module_forward: SyncBatchNorm (from BatchNorm%dd) expects a %s input, got %s", p->spatial,
             p->spatial == 2 ? "4-D [N, C, H, W]" : "2-D [N, C] or 3-D [N, C, L]", ax_shape_str(x, buf, sizeof buf));
    return NULL;
  }
  /* as PyTorch's: eval mode never synchronizes, and a world of one is plain (fused) batch norm */
  bool training = ax_module_is_training(m);
  ax_tensor *y = training && ax_comm_size(p->comm) > 1
                     ? ax_sync_batch_norm(p->comm, x, p->running_mean, p->running_var, p->weight, p->bias,
                                          p->momentum, p->eps)
                     : ax_batch_norm(x, p->running_mean, p->running_var, p->weight, p->bias, training, p->momentum,
                                     p->eps);
  if (y && training) ax__count_batch(p->num_batches_tracked);
  return y;
}

static void sbn_repr(const ax_module *m, char *buf, size_t n) {
  const sbn_impl *p = ax_module_impl(m);
  snprintf(buf, n, "%lld, eps=%g, momentum=%g, affine=%s, track_running_stats=%s", (long long)p->features, p->eps,
           p->momentum, p->weight ? "True" : "False", p->running_mean ? "True" : "False");
}

static const ax_module_type sbn_type = {"SyncBatchNorm", sbn_forward, NULL, sbn_repr};

bool ax_is_sync_batch_norm(const ax_module *m) { return ax_module_type_of(m) == &sbn_type; }

/* The same tensors, registered under the same names in the same order, in a SyncBatchNorm. */
static ax_module *from_batch_norm(ax_module *bn, int spatial, ax_comm *c) {
  ax_module *m = ax_module_new(&sbn_type, sizeof(sbn_impl));
  if (!m) return NULL;
  sbn_impl *p = ax_module_impl(m);
  ax_nn_batch_norm_config(bn, &p->features, &p->eps, &p->momentum);
  p->spatial = spatial;
  p->comm = c;
  static const char *params[] = {"weight", "bias"};
  static const char *buffers[] = {"running_mean", "running_var", "num_batches_tracked"};
  ax_tensor **slots[] = {&p->weight, &p->bias, &p->running_mean, &p->running_var, &p->num_batches_tracked};
  bool ok = true;
  for (int i = 0; i < 5 && ok; i++) {
    const char *name = i < 2 ? params[i] : buffers[i - 2];
    ax_tensor *t = ax_module_tensor(bn, name);
    if (!t) continue;
    *slots[i] = i < 2 ? ax_module_add_parameter(m, name, t) : ax_module_add_buffer(m, name, t);
    ok = *slots[i] != NULL;
  }
  if (!ok) {
    ax_module_free(m);
    return NULL;
  }
  ax_module_train(m, ax_module_is_training(bn));
  return m;
}

static int convert(ax_module *m, ax_comm *c) {
  int count = 0;
  for (int i = 0; i < ax_module_num_children(m); i++) {
    ax_module *ch = ax_module_child_at(m, i);
    int spatial = ax_nn_batch_norm_config(ch, NULL, NULL, NULL);
    if (spatial < 0) {
      int k = convert(ch, c);
      if (k < 0) return -1;
      count += k;
      continue;
    }
    ax_module *s = from_batch_norm(ch, spatial, c);
    if (!s || !ax_module_replace_child_at(m, i, s)) return -1;
    count++;
  }
  return count;
}

int ax_sync_batch_norm_convert(ax_module *root, ax_comm *c) {
  if (!root || !c) return -1;
  if (ax_nn_batch_norm_config(root, NULL, NULL, NULL) > 0) {
    ax_error("ax_sync_batch_norm_convert: the root module is itself a %s: put it in a container to convert it",
             ax_module_type_name(root));
    return -1;
  }
  return convert(root, c);
}
