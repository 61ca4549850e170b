/* SPDX-License-Identifier: BSD-3-Clause */
/* Autocast: per-thread regions in which the GEMM-shaped ops (ax_matmul,
 * ax_linear; attention when it adopts ax__autocast_dtype_for) run in bf16 or
 * f16 with f32 accumulation, while the numerically touchy ops (softmax,
 * log_softmax, cross_entropy) compute in f32. The casts are ordinary
 * differentiable ax_cast nodes, so gradients reach f32 master parameters in
 * f32. A stack, like grad mode: regions nest, and ax_autocast_begin(AX_F32)
 * opens a region with autocast off (PyTorch's autocast(enabled=False)). */
#include "core/internal.h"

#define AX_AUTOCAST_MAX_DEPTH 64

static _Thread_local int autocast_stack[AX_AUTOCAST_MAX_DEPTH];
static _Thread_local int autocast_depth;

void ax_autocast_begin(ax_dtype dt) {
  if (dt != AX_BF16 && dt != AX_F16 && dt != AX_F32) {
    ax_error("ax_autocast_begin: the autocast dtype must be bf16 or f16 (or f32 to turn autocast off), got %s",
             ax_dtype_name(dt));
    return;
  }
  if (autocast_depth == AX_AUTOCAST_MAX_DEPTH) {
    ax_error("ax_autocast_begin: more than %d nested autocast regions (a missing ax_autocast_end?)",
             AX_AUTOCAST_MAX_DEPTH);
    return;
  }
  autocast_stack[autocast_depth++] = dt;
}

void ax_autocast_end(void) {
  if (autocast_depth > 0) autocast_depth--;
}

int ax_autocast_dtype(void) {
  if (autocast_depth == 0) return -1;
  int dt = autocast_stack[autocast_depth - 1];
  return dt == AX_F32 ? -1 : dt;
}

ax_dtype ax__autocast_dtype_for(const ax_tensor *x) {
  int dt = ax_autocast_dtype();
  if (!x) return AX_F32;
  return dt >= 0 && x->dtype == AX_F32 ? (ax_dtype)dt : x->dtype;
}

ax_tensor *ax__autocast(ax_tensor *x) {
  if (!x) return NULL;
  ax_dtype dt = ax__autocast_dtype_for(x);
  return dt == x->dtype ? x : ax_cast(x, dt);
}

ax_tensor *ax__autocast_f32(ax_tensor *x) {
  if (!x || ax_autocast_dtype() < 0 || (x->dtype != AX_BF16 && x->dtype != AX_F16)) return x;
  return ax_cast(x, AX_F32);
}

void ax__autocast_promote(ax_tensor **a, ax_tensor **b) {
  if (!*a || !*b || ax_autocast_dtype() < 0 || (*a)->dtype == (*b)->dtype) return;
  bool half_a = (*a)->dtype == AX_BF16 || (*a)->dtype == AX_F16, half_b = (*b)->dtype == AX_BF16 || (*b)->dtype == AX_F16;
  if (half_a && (*b)->dtype == AX_F32) *a = ax_cast(*a, AX_F32);
  else if (half_b && (*a)->dtype == AX_F32) *b = ax_cast(*b, AX_F32);
}
