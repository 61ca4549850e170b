/* SPDX-License-Identifier: BSD-3-Clause */
/* Loss "modules" (values holding a criterion and its options) and the triplet
 * margin loss, built from existing ops so autograd differentiates it. */
#include <math.h>

#include "core/internal.h"

ax_loss ax_loss_cross_entropy(const ax_cross_entropy_opts *o) {
  return (ax_loss){.kind = AX_LOSS_CROSS_ENTROPY, .ce = o ? *o : (ax_cross_entropy_opts){0}};
}
ax_loss ax_loss_nll(const ax_cross_entropy_opts *o) {
  return (ax_loss){.kind = AX_LOSS_NLL, .ce = o ? *o : (ax_cross_entropy_opts){0}};
}
ax_loss ax_loss_mse(ax_reduction r) { return (ax_loss){.kind = AX_LOSS_MSE, .reduction = r}; }
ax_loss ax_loss_l1(ax_reduction r) { return (ax_loss){.kind = AX_LOSS_L1, .reduction = r}; }
ax_loss ax_loss_smooth_l1(ax_reduction r, double beta) {
  return (ax_loss){.kind = AX_LOSS_SMOOTH_L1, .reduction = r, .beta = beta};
}
ax_loss ax_loss_bce_with_logits(ax_reduction r) { return (ax_loss){.kind = AX_LOSS_BCE_WITH_LOGITS, .reduction = r}; }

ax_tensor *ax_loss_forward(const ax_loss *l, ax_tensor *input, ax_tensor *target) {
  if (!l || !input || !target) return NULL;
  switch (l->kind) {
  case AX_LOSS_CROSS_ENTROPY: return ax_cross_entropy(input, target, &l->ce);
  case AX_LOSS_NLL: return ax_nll_loss(input, target, &l->ce);
  case AX_LOSS_MSE: return ax_mse_loss(input, target, l->reduction);
  case AX_LOSS_L1: return ax_l1_loss(input, target, l->reduction);
  case AX_LOSS_SMOOTH_L1: return ax_smooth_l1_loss(input, target, l->reduction, l->beta);
  case AX_LOSS_BCE_WITH_LOGITS: return ax_bce_with_logits(input, target, l->reduction);
  }
  ax_error("ax_loss_forward: unknown loss kind %d", (int)l->kind);
  return NULL;
}

const char *ax_loss_name(const ax_loss *l) {
  static const char *names[] = {"CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "SmoothL1Loss", "BCEWithLogitsLoss"};
  if (!l || (unsigned)l->kind >= sizeof names / sizeof names[0]) return "?";
  return names[l->kind];
}

/* PyTorch's pairwise_distance: ||x - y + eps||_p over the last dim */
static ax_tensor *pairwise_distance(ax_tensor *x, ax_tensor *y, double p, double eps) {
  return ax_norm(ax_add_scalar(ax_sub(x, y), eps), p, AX_DIMS(-1), false);
}

ax_tensor *ax_triplet_margin_loss(ax_tensor *anchor, ax_tensor *positive, ax_tensor *negative, double margin,
                                  double p, double eps, bool swap, ax_reduction reduction) {
  if (!anchor || !positive || !negative) return NULL;
  char a[128], b[128], c[128];
  if (anchor->ndim != positive->ndim || anchor->ndim != negative->ndim || anchor->ndim < 1 || anchor->ndim > 2) {
    ax_error("ax_triplet_margin_loss: anchor %s, positive %s and negative %s must all be [N, D] or all [D]",
             ax_shape_str(anchor, a, sizeof a), ax_shape_str(positive, b, sizeof b), ax_shape_str(negative, c, sizeof c));
    return NULL;
  }
  if (reduction != AX_REDUCTION_MEAN && reduction != AX_REDUCTION_SUM && reduction != AX_REDUCTION_NONE) {
    ax_error("ax_triplet_margin_loss: invalid reduction %d (use AX_REDUCTION_MEAN, _SUM or _NONE)", (int)reduction);
    return NULL;
  }
  if (!(p > 0)) {
    ax_error("ax_triplet_margin_loss: p must be positive, got %g (anchor %s)", p, ax_shape_str(anchor, a, sizeof a));
    return NULL;
  }
  /* a composite op: temporaries die with the inner scope, the result and its graph move out */
  ax_scope_begin();
  ax_tensor *d_pos = pairwise_distance(anchor, positive, p, eps);
  ax_tensor *d_neg = pairwise_distance(anchor, negative, p, eps);
  if (swap) d_neg = ax_minimum(d_neg, pairwise_distance(positive, negative, p, eps));
  ax_tensor *l = ax_clamp(ax_add_scalar(ax_sub(d_pos, d_neg), margin), 0.0, INFINITY);
  if (l && reduction != AX_REDUCTION_NONE)
    l = reduction == AX_REDUCTION_SUM ? ax_sum(l, AX_ALL, false) : ax_mean(l, AX_ALL, false);
  if (!l) {
    ax_scope_end();
    return NULL;
  }
  return ax__scope_return(l);
}
