/* SPDX-License-Identifier: BSD-3-Clause */
/* Parity of the CUDA dropout against the CPU: with the generator at the same
 * state, the mask, the scaled output and the gradient must be identical (the
 * Philox draw is shared code), for f32, f64, bf16 and f16, odd sizes, strided
 * inputs and p from 0.1 to 1. */
#include <stdio.h>

#include "parity.h"

static ax_tensor *leaf(ax_tensor *t) {
  ax_tensor *l = ax_detach(t);
  ax_set_requires_grad(l, true);
  return l;
}

static void run_case(ax_dtype dt, int64_t rows, int64_t cols, int strided, double p) {
  ax_scope_begin();
  int64_t shape[2] = {strided ? cols : rows, strided ? rows : cols};
  ax_tensor *x = pr_randn(dt, 2, shape);
  ax_tensor *rx = leaf(x), *cx = leaf(pr_cuda(x));
  ax_manual_seed(1234 + (uint64_t)rows);
  ax_tensor *ref = ax_dropout(strided ? ax_transpose(rx, 0, 1) : rx, p, true);
  ax_manual_seed(1234 + (uint64_t)rows);
  ax_tensor *got = ax_dropout(strided ? ax_transpose(cx, 0, 1) : cx, p, true);
  if (!ref) {
    fprintf(stderr, "parity dropout: the CPU reference failed: %s\n", ax_last_error());
    ax_scope_end();
    return;
  }
  ax_tensor *gy = pr_randn(dt, ref->ndim, ref->shape);
  ax_backward(ref, gy);
  if (got) ax_backward(got, pr_cuda(gy));
  char desc[120];
  snprintf(desc, sizeof desc, "%s [%lld,%lld]%s p %g fwd", ax_dtype_name(dt), (long long)rows, (long long)cols,
           strided ? " strided" : "", p);
  pr_check("dropout", desc, ref, got, PR_EXACT);
  snprintf(desc, sizeof desc, "%s [%lld,%lld]%s p %g grad x", ax_dtype_name(dt), (long long)rows, (long long)cols,
           strided ? " strided" : "", p);
  pr_check("dropout", desc, rx->grad, cx->grad, PR_EXACT);
  ax_scope_end();
}

void pr_family_dropout(void) {
  const ax_dtype dts[] = {AX_F32, AX_F64, AX_BF16, AX_F16};
  for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
    run_case(dts[d], 1, 1, 0, 0.5);
    run_case(dts[d], 129, pr_emulated_tier() ? 257 : 4097, 0, 0.1); /* emulate tier: 33K elements */
    run_case(dts[d], 128, 128, 1, 0.25);
    run_case(dts[d], 7, 33, 0, 0.9);
    run_case(dts[d], 5, 9, 1, 1.0);
  }
}
