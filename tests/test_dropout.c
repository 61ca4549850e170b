/* SPDX-License-Identifier: BSD-3-Clause */
/* ax_dropout: the mask is exactly `ax_rand(...) >= p` at the same generator
 * state, the backward applies the same mask, the keep rate is 1 - p, and the
 * identity / error cases. */
#include <criterion/criterion.h>
#include <math.h>

#include "testutil.h"

TestSuite(dropout, .init = tu_capture_errors);

/* mask / (1 - p) for the draw that ax_dropout makes at `seed` on its first call. */
static ax_tensor *expected_scale(uint64_t seed, ax_dtype dt, int ndim, const int64_t *shape, double p) {
  ax_manual_seed(seed);
  ax_tensor *u = ax_rand(ndim, shape, &(ax_tensor_opts){.dtype = dt});
  return ax_mul_scalar(ax_cast(ax_ge_scalar(u, p), dt), 1.0 / (1.0 - p));
}

Test(dropout, mask_is_rand_compared_with_p_and_backward_reuses_it) {
  const double ps[] = {0.1, 0.5, 0.7, 0.93};
  for (int dt = 0; dt < 2; dt++)
    for (int i = 0; i < 4; i++) {
      ax_scope_begin();
      ax_dtype t = dt ? AX_F64 : AX_F32;
      int64_t shape[3] = {3, 7, 11};
      /* a non-contiguous leaf: element order is x's row-major order, like ax_rand's */
      ax_tensor *x = tu_leaf(ax_transpose(tu_randn(t, AX_SHAPE(3, 11, 7)), 1, 2));
      ax_tensor *scale = expected_scale(42 + i, t, 3, shape, ps[i]);
      ax_manual_seed(42 + i);
      ax_tensor *y = ax_dropout(x, ps[i], true);
      cr_assert_not_null(y);
      cr_expect(tu_allclose(y, ax_mul(scale, x), 0, 0), "dtype %d p %g", dt, ps[i]);
      ax_tensor *g = tu_randn(t, 3, shape);
      cr_assert_eq(ax_backward(ax_sum(ax_mul(y, g), 0, NULL, false), NULL), 0);
      cr_expect(tu_allclose(x->grad, ax_mul(scale, g), 0, 0), "backward dtype %d p %g", dt, ps[i]);
      ax_scope_end();
    }
}

Test(dropout, keep_fraction_and_mean_are_preserved) {
  ax_scope_begin();
  ax_manual_seed(7);
  int64_t n = 200000; /* above the parallel threshold; std of the keep rate ~ 0.001 */
  ax_tensor *x = ax_ones(AX_SHAPE(n), NULL);
  ax_tensor *y = ax_dropout(x, 0.3, true);
  cr_assert_not_null(y);
  double kept = ax_item(ax_mean(ax_cast(ax_ne_scalar(y, 0.0), AX_F32), 0, NULL, false));
  cr_expect(fabs(kept - 0.7) < 0.01, "kept %g", kept);
  cr_expect(fabs(ax_item(ax_mean(y, 0, NULL, false)) - 1.0) < 0.02);
  cr_expect(tu_allclose(ax_amax(y, 0, NULL, false), ax_scalar(1.0 / 0.7, NULL), 0, 1e-6));
  ax_scope_end();
}

Test(dropout, successive_calls_differ_and_seeds_repeat) {
  ax_scope_begin();
  ax_tensor *x = ax_ones(AX_SHAPE(1000), NULL);
  ax_manual_seed(3);
  ax_tensor *a = ax_dropout(x, 0.5, true), *b = ax_dropout(x, 0.5, true);
  ax_manual_seed(3);
  ax_tensor *c = ax_dropout(x, 0.5, true);
  cr_expect(tu_allclose(a, c, 0, 0));
  cr_expect(!tu_allclose(a, b, 0, 0));
  ax_scope_end();
}

Test(dropout, identity_cases_and_p_one) {
  ax_scope_begin();
  ax_tensor *x = tu_leaf(tu_randn(AX_F32, AX_SHAPE(4, 5)));
  uint64_t s0, o0, s1, o1;
  ax_rng_get_state(&s0, &o0);
  cr_expect_eq(ax_dropout(x, 0.5, false), x);
  cr_expect_eq(ax_dropout(x, 0.0, true), x);
  ax_rng_get_state(&s1, &o1);
  cr_expect(s0 == s1 && o0 == o1, "no random draw when nothing is dropped");
  ax_tensor *y = ax_dropout(x, 1.0, true);
  cr_assert_not_null(y);
  cr_expect(tu_allclose(y, ax_zeros(AX_SHAPE(4, 5), NULL), 0, 0));
  cr_assert_eq(ax_backward(ax_sum(y, 0, NULL, false), NULL), 0);
  cr_expect(tu_allclose(x->grad, ax_zeros(AX_SHAPE(4, 5), NULL), 0, 0));
  ax_scope_end();
}

Test(dropout, half_precision_uses_the_f32_mask) {
  ax_scope_begin();
  ax_tensor *x = ax_ones(AX_SHAPE(64, 33), NULL);
  ax_manual_seed(11);
  ax_tensor *a = ax_dropout(x, 0.4, true);
  ax_manual_seed(11);
  ax_tensor *b = ax_dropout(ax_cast(x, AX_BF16), 0.4, true);
  cr_assert_not_null(b);
  cr_expect_eq(b->dtype, AX_BF16);
  cr_expect(tu_allclose(ax_cast(b, AX_F32), a, 1e-2, 1e-2));
  ax_scope_end();
}

Test(dropout, errors_name_the_op_and_shapes) {
  ax_scope_begin();
  ax_tensor *x = tu_randn(AX_F32, AX_SHAPE(2, 3));
  cr_expect_null(ax_dropout(NULL, 0.5, true));
  cr_expect_null(ax_dropout(x, -0.1, true));
  cr_expect(tu_error_contains("ax_dropout", "p", "[2, 3]", NULL));
  cr_expect_null(ax_dropout(x, 1.5, true));
  cr_expect(tu_error_contains("ax_dropout", "1.5", "[2, 3]", NULL));
  cr_expect_null(ax_dropout(x, NAN, false));
  cr_expect(tu_error_contains("ax_dropout", "[2, 3]", NULL));
  cr_expect_null(ax_dropout(ax_cast(x, AX_I64), 0.5, true));
  cr_expect(tu_error_contains("ax_dropout", "i64", "[2, 3]", NULL));
  ax_scope_end();
}
