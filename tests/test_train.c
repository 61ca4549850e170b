/* SPDX-License-Identifier: BSD-3-Clause */
/* End to end: a small MLP trained with the core alone converges, and the same
 * seed gives the same losses bit for bit. */
#include <criterion/criterion.h>
#include <math.h>

#include "testutil.h"

TestSuite(train, .init = tu_capture_errors);

#define STEPS 300

/* Gaussian points labelled by whether they fall outside the median circle
 * (radius^2 = 2 ln 2): not linearly separable, easy for a small MLP. */
static void make_data(ax_tensor **x, ax_tensor **y) {
  *x = ax_randn(AX_SHAPE(256, 2), NULL);
  ax_tensor *r2 = ax_sum(ax_square(*x), AX_DIMS(1), false);
  *y = ax_cast(ax_gt_scalar(r2, 1.3862944), AX_I64);
}

static void run(uint64_t seed, double *losses) {
  ax_manual_seed(seed);
  ax_scope_begin();
  ax_tensor *x, *y;
  make_data(&x, &y);
  ax_tensor *w1 = tu_leaf(ax_mul_scalar(ax_randn(AX_SHAPE(32, 2), NULL), 0.7));
  ax_tensor *b1 = tu_leaf(ax_zeros(AX_SHAPE(32), NULL));
  ax_tensor *w2 = tu_leaf(ax_mul_scalar(ax_randn(AX_SHAPE(2, 32), NULL), 0.2));
  ax_tensor *b2 = tu_leaf(ax_zeros(AX_SHAPE(2), NULL));
  ax_tensor *params[4] = {w1, b1, w2, b2};
  for (int step = 0; step < STEPS; step++) {
    ax_scope_begin();
    ax_tensor *logits = ax_linear(ax_tanh(ax_linear(x, w1, b1)), w2, b2);
    ax_tensor *loss = ax_cross_entropy(logits, y, NULL);
    cr_assert_eq(ax_backward(loss, NULL), 0);
    losses[step] = ax_item(loss);
    ax_no_grad_begin();
    for (int i = 0; i < 4; i++) {
      cr_assert_eq(ax_copy_(params[i], ax_sub(params[i], ax_mul_scalar(params[i]->grad, 0.5))), 0);
      ax_zero_grad(params[i]);
    }
    ax_no_grad_end();
    ax_scope_end();
  }
  ax_scope_end();
}

Test(train, mlp_converges_and_is_reproducible) {
  static double a[STEPS], b[STEPS];
  run(3, a);
  run(3, b);
  cr_expect_gt(a[0], 0.5, "initial loss %g", a[0]);
  cr_expect_lt(a[STEPS - 1], 0.3 * a[0], "loss went from %g to %g", a[0], a[STEPS - 1]);
  for (int i = 0; i < STEPS; i++) cr_expect_eq(a[i], b[i], "step %d: %.17g vs %.17g", i, a[i], b[i]);
}

Test(train, copy_into_param_refused_with_grad_on) {
  ax_scope_begin();
  ax_tensor *w = tu_leaf(ax_zeros(AX_SHAPE(2), NULL));
  cr_expect_eq(ax_copy_(w, ax_ones(AX_SHAPE(2), NULL)), -1);
  cr_expect(tu_error_contains("ax_copy_", "requires grad", NULL));
  cr_expect_eq(ax_copy_(ax_zeros(AX_SHAPE(2), NULL), ax_ones(AX_SHAPE(3), NULL)), -1);
  cr_expect(tu_error_contains("ax_copy_", "[3]", "[2]", NULL));
  ax_scope_end();
}
