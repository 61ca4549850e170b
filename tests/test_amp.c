/* SPDX-License-Identifier: BSD-3-Clause */
/* Mixed precision: autocast, the CPU's bf16/f16 GEMM (f32 accumulation), the
 * ops autocast keeps in f32, dynamic loss scaling, stochastic rounding of bf16
 * parameters, activation recomputation and gradient accumulation. References
 * are f64 computations on the bf16-rounded inputs. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static void setup(void) {
  tu_capture_errors();
  ax_scope_begin();
}
static void teardown(void) {
  while (ax_autocast_dtype() >= 0) ax_autocast_end();
  ax_scope_end();
}
TestSuite(amp, .init = setup, .fini = teardown);

static ax_tensor *f64(ax_tensor *t) { return ax_cast(t, AX_F64); }
static ax_tensor *leaf_f32(int ndim, const int64_t *shape) { return tu_leaf(tu_randn(AX_F32, ndim, shape)); }

/* ---------------- autocast state ---------------- */

Test(amp, autocast_regions_nest) {
  cr_expect_eq(ax_autocast_dtype(), -1);
  ax_autocast_begin(AX_BF16);
  cr_expect_eq(ax_autocast_dtype(), AX_BF16);
  ax_autocast_begin(AX_F32); /* off inside */
  cr_expect_eq(ax_autocast_dtype(), -1);
  ax_autocast_begin(AX_F16);
  cr_expect_eq(ax_autocast_dtype(), AX_F16);
  ax_autocast_end();
  ax_autocast_end();
  cr_expect_eq(ax_autocast_dtype(), AX_BF16);
  ax_autocast_end();
  cr_expect_eq(ax_autocast_dtype(), -1);
  ax_autocast_end(); /* unbalanced end: harmless */
  cr_expect_eq(ax_autocast_dtype(), -1);
  ax_autocast_begin(AX_I32);
  cr_expect(tu_error_contains("ax_autocast_begin", "i32", NULL));
  cr_expect_eq(ax_autocast_dtype(), -1);
}

/* ---------------- bf16 / f16 GEMM on the CPU ---------------- */

/* got (bf16/f16) against the f64 product of the same rounded inputs */
static void check_half_matmul(ax_tensor *a, ax_tensor *b, ax_dtype dt) {
  ax_tensor *ah = ax_cast(a, dt), *bh = ax_cast(b, dt);
  ax_tensor *got = ax_matmul(ah, bh);
  cr_assert_not_null(got, "%s", ax_last_error());
  cr_expect_eq(got->dtype, dt);
  ax_tensor *ref = ax_matmul(f64(ah), f64(bh));
  /* one rounding of the result: half an ulp = 2^-9 (bf16) / 2^-12 (f16) relative */
  double rtol = dt == AX_BF16 ? 4.0e-3 : 6.0e-4;
  char sa[64], sb[64];
  cr_expect(tu_allclose(f64(got), ref, 1e-3, rtol), "%s %s x %s", ax_dtype_name(dt), ax_shape_str(a, sa, sizeof sa),
            ax_shape_str(b, sb, sizeof sb));
}

Test(amp, half_gemm_matches_f64_of_rounded_inputs) {
  ax_dtype dts[2] = {AX_BF16, AX_F16};
  for (int d = 0; d < 2; d++) {
    ax_dtype dt = dts[d];
    /* blocked path, k over one KC slab (256) so several slabs accumulate in f32 */
    check_half_matmul(tu_randn(AX_F32, AX_SHAPE(37, 300)), tu_randn(AX_F32, AX_SHAPE(300, 29)), dt);
    /* transposed operands, batch broadcast */
    check_half_matmul(ax_transpose(tu_randn(AX_F32, AX_SHAPE(3, 19, 13)), 1, 2),
                      ax_transpose(tu_randn(AX_F32, AX_SHAPE(21, 19)), 0, 1), dt);
    /* matrix-vector paths (m == 1, n == 1) and a 1-D operand */
    check_half_matmul(tu_randn(AX_F32, AX_SHAPE(1, 70)), tu_randn(AX_F32, AX_SHAPE(70, 33)), dt);
    check_half_matmul(tu_randn(AX_F32, AX_SHAPE(45, 70)), tu_randn(AX_F32, AX_SHAPE(70, 1)), dt);
    check_half_matmul(ax_transpose(tu_randn(AX_F32, AX_SHAPE(70, 45)), 0, 1), tu_randn(AX_F32, AX_SHAPE(70)), dt);
    /* big enough for the threaded path */
    check_half_matmul(tu_randn(AX_F32, AX_SHAPE(150, 140)), tu_randn(AX_F32, AX_SHAPE(140, 160)), dt);
  }
}

/* f32 accumulation, not bf16: 1 + 2^-9 summed 512 times is 512.25 exactly in f32; a bf16
 * running sum would stall at 256 + ... long before. */
Test(amp, half_gemm_accumulates_in_f32) {
  ax_tensor *a = ax_full(AX_SHAPE(2, 512), 1.0 + 1.0 / 128, &(ax_tensor_opts){.dtype = AX_BF16});
  ax_tensor *b = ax_full(AX_SHAPE(512, 3), 1.0, &(ax_tensor_opts){.dtype = AX_BF16});
  ax_tensor *c = ax_matmul(a, b);
  cr_assert_not_null(c);
  /* 512 * (1 + 2^-7) = 516 exactly, representable in bf16 */
  for (int i = 0; i < 6; i++) cr_expect_eq(tu_get(c, i), 516.0, "%g", tu_get(c, i));
}

Test(amp, half_matmul_gradients) {
  ax_tensor *a = tu_leaf(ax_cast(tu_randn(AX_F32, AX_SHAPE(5, 7)), AX_BF16));
  ax_tensor *b = tu_leaf(ax_cast(tu_randn(AX_F32, AX_SHAPE(7, 4)), AX_BF16));
  ax_tensor *y = ax_matmul(a, b);
  cr_assert_not_null(y);
  cr_assert_eq(ax_backward(ax_sum(ax_cast(y, AX_F32), 0, NULL, false), NULL), 0, "%s", ax_last_error());
  cr_expect_eq(a->grad->dtype, AX_BF16);
  ax_tensor *ones = ax_ones(AX_SHAPE(5, 4), &(ax_tensor_opts){.dtype = AX_F64});
  cr_expect(tu_allclose(f64(a->grad), ax_matmul(ones, ax_transpose(f64(b), 0, 1)), 1e-2, 1e-2));
  cr_expect(tu_allclose(f64(b->grad), ax_matmul(ax_transpose(f64(a), 0, 1), ones), 1e-2, 1e-2));
}

/* ---------------- autocast of matmul / linear ---------------- */

Test(amp, autocast_matmul_casts_and_backprops_in_f32) {
  ax_tensor *a = leaf_f32(AX_SHAPE(6, 9)), *b = leaf_f32(AX_SHAPE(9, 5));
  ax_tensor *w = tu_randn(AX_F64, AX_SHAPE(6, 5));
  ax_autocast_begin(AX_BF16);
  ax_tensor *y = ax_matmul(a, b);
  ax_autocast_end();
  cr_assert_not_null(y, "%s", ax_last_error());
  cr_expect_eq(y->dtype, AX_BF16);
  ax_tensor *ab = f64(ax_cast(a, AX_BF16)), *bb = f64(ax_cast(b, AX_BF16));
  cr_expect(tu_allclose(f64(y), ax_matmul(ab, bb), 1e-3, 4e-3));
  /* loss = sum(y * w) in f64 */
  ax_tensor *loss = ax_sum(ax_mul(f64(y), w), 0, NULL, false);
  cr_assert_eq(ax_backward(loss, NULL), 0, "%s", ax_last_error());
  cr_assert_not_null(a->grad);
  cr_expect_eq(a->grad->dtype, AX_F32);
  cr_expect_eq(b->grad->dtype, AX_F32);
  /* the gradient is w (rounded to bf16) times the bf16 operands */
  ax_tensor *wb = f64(ax_cast(w, AX_BF16));
  cr_expect(tu_allclose(f64(a->grad), ax_matmul(wb, ax_transpose(bb, 0, 1)), 2e-2, 1e-2));
  cr_expect(tu_allclose(f64(b->grad), ax_matmul(ax_transpose(ab, 0, 1), wb), 2e-2, 1e-2));
}

Test(amp, autocast_linear_casts_bias_too) {
  ax_tensor *x = leaf_f32(AX_SHAPE(4, 3, 8)), *wt = leaf_f32(AX_SHAPE(6, 8)), *bias = leaf_f32(AX_SHAPE(6));
  ax_autocast_begin(AX_F16);
  ax_tensor *y = ax_linear(x, wt, bias);
  ax_autocast_end();
  cr_assert_not_null(y, "%s", ax_last_error());
  cr_expect_eq(y->dtype, AX_F16);
  ax_tensor *ref = ax_add(ax_matmul(f64(ax_cast(x, AX_F16)), ax_transpose(f64(ax_cast(wt, AX_F16)), 0, 1)),
                          f64(ax_cast(bias, AX_F16)));
  cr_expect(tu_allclose(f64(y), ref, 1e-3, 2e-3));
  cr_assert_eq(ax_backward(ax_sum(ax_cast(y, AX_F32), 0, NULL, false), NULL), 0, "%s", ax_last_error());
  cr_expect_eq(bias->grad->dtype, AX_F32);
  for (int i = 0; i < 6; i++) cr_expect_float_eq(tu_get(bias->grad, i), 12.0, 1e-6); /* 4 * 3 rows */
  /* outside the region the same call stays f32 */
  ax_tensor *y32 = ax_linear(x, wt, bias);
  cr_expect_eq(y32->dtype, AX_F32);
  /* f64 inputs are not autocast */
  ax_autocast_begin(AX_BF16);
  ax_tensor *y64 = ax_linear(f64(x), f64(wt), NULL);
  ax_autocast_end();
  cr_expect_eq(y64->dtype, AX_F64);
}

/* a backward pass inside a region does not autocast the gradient GEMMs of an f32 graph */
Test(amp, backward_inside_a_region_keeps_f32) {
  ax_tensor *a = leaf_f32(AX_SHAPE(4, 6)), *b = leaf_f32(AX_SHAPE(6, 3));
  ax_tensor *y = ax_matmul(a, b);
  ax_autocast_begin(AX_BF16);
  cr_assert_eq(ax_backward(ax_sum(y, 0, NULL, false), NULL), 0);
  ax_autocast_end();
  ax_tensor *ones = ax_ones(AX_SHAPE(4, 3), &(ax_tensor_opts){.dtype = AX_F64});
  cr_expect(tu_allclose(a->grad, ax_matmul(ones, ax_transpose(f64(b), 0, 1)), 1e-6, 1e-6));
}

/* ---------------- ops that stay in f32 ---------------- */

Test(amp, cross_entropy_of_half_logits) {
  ax_tensor *x32 = tu_randn(AX_F32, AX_SHAPE(6, 11));
  int64_t tv[6] = {0, 3, 10, 7, 7, 2};
  ax_tensor *t = ax_from_data(tv, AX_SHAPE(6), &(ax_tensor_opts){.dtype = AX_I64});
  ax_tensor *xb = tu_leaf(ax_cast(x32, AX_BF16));
  ax_tensor *ref_x = tu_leaf(f64(xb));
  ax_tensor *ref = ax_cross_entropy(ref_x, t, NULL);
  cr_assert_eq(ax_backward(ref, NULL), 0);
  /* without autocast: bf16 in, bf16 out */
  ax_tensor *l16 = ax_cross_entropy(xb, t, NULL);
  cr_assert_not_null(l16, "%s", ax_last_error());
  cr_expect_eq(l16->dtype, AX_BF16);
  cr_expect(tu_allclose(f64(l16), ref, 1e-2, 1e-2));
  /* with autocast: computed in f32, f32 loss, bf16 gradient of the bf16 logits */
  ax_autocast_begin(AX_BF16);
  ax_tensor *l = ax_cross_entropy(xb, t, NULL);
  ax_tensor *sm = ax_softmax(xb, 1), *lsm = ax_log_softmax(xb, -1);
  ax_autocast_end();
  cr_assert_not_null(l, "%s", ax_last_error());
  cr_expect_eq(l->dtype, AX_F32);
  cr_expect_eq(sm->dtype, AX_F32);
  cr_expect_eq(lsm->dtype, AX_F32);
  cr_expect(tu_allclose(f64(l), ref, 1e-6, 1e-5));
  cr_assert_eq(ax_backward(l, NULL), 0, "%s", ax_last_error());
  cr_expect_eq(xb->grad->dtype, AX_BF16);
  cr_expect(tu_allclose(f64(xb->grad), ref_x->grad, 1e-3, 1e-2));
  cr_expect(tu_allclose(f64(sm), ax_softmax(ref_x, 1), 1e-6, 1e-5));
}

/* ---------------- loss scaling ---------------- */

/* p [n] f32 = 1..n; loss = sum(p * c) with c_i = 0.25 (i + 1): grad = c */
static ax_tensor *scaled_param(int n) {
  ax_tensor *p = ax_arange(1, n + 1, 1, NULL);
  p = ax_detach(p);
  ax_set_requires_grad(p, true);
  return p;
}
static void scaled_backward(ax_loss_scaler *s, ax_tensor *p) {
  ax_scope_begin();
  ax_tensor *c = ax_mul_scalar(ax_arange(1, ax_numel(p) + 1, 1, NULL), 0.25);
  ax_tensor *loss = ax_sum(ax_mul(p, c), 0, NULL, false);
  cr_assert_eq(ax_backward(ax_loss_scaler_scale(s, loss), NULL), 0);
  ax_scope_end();
}

Test(amp, loss_scaler_steps_with_unscaled_gradients) {
  ax_loss_scaler *s = ax_loss_scaler_new(NULL);
  cr_assert_not_null(s);
  cr_expect_eq(ax_loss_scaler_scale_value(s), 65536.0);
  ax_tensor *p = scaled_param(5);
  ax_optimizer *opt = ax_sgd(&p, 1, &(ax_sgd_opts){.lr = 0.5});
  scaled_backward(s, p);
  cr_expect_float_eq(tu_get(p->grad, 2), 0.75 * 65536, 1e-9);
  cr_expect(ax_loss_scaler_step(s, opt));
  for (int i = 0; i < 5; i++) cr_expect_float_eq(tu_get(p, i), (i + 1) - 0.5 * 0.25 * (i + 1), 1e-6);
  cr_expect_eq(ax_loss_scaler_growth_tracker(s), 1);
  cr_expect_eq(ax_loss_scaler_skipped_steps(s), 0);
  /* the optimizer's own grad_scale is restored */
  ax_optimizer_zero_grad(opt);
  p->grad = ax_persist(ax_ones_like(p));
  ax_tensor *before = ax_clone(p);
  ax_optimizer_step(opt);
  cr_expect(tu_allclose(p, ax_sub_scalar(before, 0.5), 0, 1e-7));
  ax_optimizer_free(opt);
  ax_loss_scaler_free(s);
}

Test(amp, loss_scaler_skips_non_finite_steps_and_backs_off) {
  ax_loss_scaler *s = ax_loss_scaler_new(&(ax_loss_scaler_opts){.init_scale = 1024, .growth_interval = 3});
  ax_tensor *p = scaled_param(4), *q = scaled_param(3);
  ax_tensor *ps[2] = {p, q};
  ax_optimizer *opt = ax_adam(ps, 2, &(ax_adam_opts){.lr = 0.1});
  for (int bad = 0; bad < 2; bad++) {
    ax_optimizer_zero_grad(opt);
    scaled_backward(s, p);
    scaled_backward(s, q);
    double v[3] = {1, bad ? NAN : INFINITY, 2};
    ax_zero_grad(q);
    q->grad = ax_persist(ax_cast(ax_from_data(v, AX_SHAPE(3), &(ax_tensor_opts){.dtype = AX_F64}), AX_F32));
    ax_tensor *p0 = ax_clone(p);
    cr_expect_not(ax_loss_scaler_step(s, opt));
    cr_expect(tu_allclose(p, p0, 0, 0), "a skipped step must not move the parameters");
  }
  cr_expect_eq(ax_loss_scaler_scale_value(s), 256.0);
  cr_expect_eq(ax_loss_scaler_skipped_steps(s), 2);
  cr_expect_eq(ax_optimizer_step_count(opt), 0);
  /* three clean steps: the scale doubles once, the tracker restarts */
  for (int k = 0; k < 3; k++) {
    ax_optimizer_zero_grad(opt);
    scaled_backward(s, p);
    scaled_backward(s, q);
    cr_expect(ax_loss_scaler_step(s, opt));
  }
  cr_expect_eq(ax_loss_scaler_scale_value(s), 512.0);
  cr_expect_eq(ax_loss_scaler_growth_tracker(s), 0);
  cr_expect_eq(ax_optimizer_step_count(opt), 3);
  ax_optimizer_free(opt);
  ax_loss_scaler_free(s);
}

Test(amp, loss_scaler_unscale_before_clipping) {
  ax_loss_scaler *s = ax_loss_scaler_new(&(ax_loss_scaler_opts){.init_scale = 4096});
  ax_tensor *p = scaled_param(3);
  ax_optimizer *opt = ax_sgd(&p, 1, &(ax_sgd_opts){.lr = 1});
  scaled_backward(s, p);
  cr_expect(ax_loss_scaler_unscale(s, opt));
  cr_expect(ax_loss_scaler_unscale(s, opt)); /* a second call does nothing */
  for (int i = 0; i < 3; i++) cr_expect_float_eq(tu_get(p->grad, i), 0.25 * (i + 1), 1e-9);
  ax_clip_grad_value(&p, 1, 0.5);
  cr_expect(ax_loss_scaler_step(s, opt)); /* steps on the clipped, unscaled gradients */
  double expect[3] = {1 - 0.25, 2 - 0.5, 3 - 0.5};
  cr_expect(tu_allclose_data(p, expect, 3, 0, 1e-7));
  ax_optimizer_free(opt);
  ax_loss_scaler_free(s);
}

/* f16 gradients near the top of the f16 range are finite: the check must not overflow */
Test(amp, loss_scaler_finite_check_does_not_overflow_f16) {
  ax_tensor *p = ax_detach(ax_zeros(AX_SHAPE(4096), &(ax_tensor_opts){.dtype = AX_F16}));
  ax_set_requires_grad(p, true);
  p->grad = ax_persist(ax_full(AX_SHAPE(4096), 60000.0, &(ax_tensor_opts){.dtype = AX_F16}));
  ax_loss_scaler *s = ax_loss_scaler_new(&(ax_loss_scaler_opts){.init_scale = 65536});
  ax_optimizer *opt = ax_sgd(&p, 1, &(ax_sgd_opts){.lr = 1});
  cr_expect(ax_loss_scaler_step(s, opt), "%s", ax_last_error());
  cr_expect_float_eq(tu_get(p, 7), -60000.0 / 65536, 1e-3);
  ax_optimizer_free(opt);
  ax_loss_scaler_free(s);
}

Test(amp, loss_scaler_state_round_trip_and_errors) {
  ax_loss_scaler *s = ax_loss_scaler_new(NULL), *t = ax_loss_scaler_new(NULL);
  ax_loss_scaler_set_state(s, 128.0, 17);
  ax_state_dict *sd = ax_state_dict_new();
  ax_loss_scaler_state_dict(s, sd, "scaler.");
  cr_expect_not_null(ax_state_dict_get(sd, "scaler.scale"));
  char err[256] = "";
  cr_expect_eq(ax_loss_scaler_load_state_dict(t, sd, "scaler.", err, sizeof err), 0, "%s", err);
  cr_expect_eq(ax_loss_scaler_scale_value(t), 128.0);
  cr_expect_eq(ax_loss_scaler_growth_tracker(t), 17);
  cr_expect_eq(ax_loss_scaler_load_state_dict(t, sd, "other.", err, sizeof err), -1);
  cr_expect(strstr(err, "other.scale") != NULL, "%s", err);
  ax_state_dict_free(sd);
  cr_expect_null(ax_loss_scaler_new(&(ax_loss_scaler_opts){.backoff_factor = 2}));
  cr_expect(tu_error_contains("ax_loss_scaler_new", "backoff_factor", NULL));
  ax_loss_scaler_free(s);
  ax_loss_scaler_free(t);
}

/* ---------------- stochastic rounding ---------------- */

static ax_tensor *bf16_param(int64_t n, double value) {
  ax_tensor *p = ax_detach(ax_full(AX_SHAPE(n), value, &(ax_tensor_opts){.dtype = AX_BF16}));
  ax_set_requires_grad(p, true);
  return p;
}

/* one SGD step p -= lr * g on a bf16 parameter; returns the mean of p afterwards */
static double sgd_step_mean(ax_tensor *p, double g, bool sr) {
  ax_optimizer *opt = ax_sgd(&p, 1, &(ax_sgd_opts){.lr = 1, .stochastic_rounding = sr});
  ax_zero_grad(p);
  p->grad = ax_persist(ax_full(p->ndim, p->shape, g, &(ax_tensor_opts){.dtype = AX_BF16}));
  cr_assert_eq(ax_optimizer_step(opt), 0, "%s", ax_last_error());
  ax_optimizer_free(opt);
  return ax_item(ax_mean(f64(p), 0, NULL, false));
}

Test(amp, stochastic_rounding_keeps_tiny_updates_on_average) {
  ax_manual_seed(1234);
  const int64_t n = 1 << 16;
  /* bf16 spacing above 1 is 2^-7; an update of -1e-3 is lost by round-to-nearest */
  double g = -1e-3, gb = tu_get(ax_cast(ax_scalar(g, NULL), AX_BF16), 0);
  cr_expect_eq(sgd_step_mean(bf16_param(n, 1.0), g, false), 1.0);
  double mean = sgd_step_mean(bf16_param(n, 1.0), g, true);
  /* P(up) = |gb| / 2^-7 ~ 0.128; the mean's standard deviation is ~1.6e-5 */
  cr_expect(fabs(mean - (1.0 - gb)) < 1.2e-4, "mean %.7f, expected %.7f", mean, 1.0 - gb);
  /* every element is one of the two neighbours */
  ax_tensor *p = bf16_param(1024, 1.0);
  sgd_step_mean(p, g, true);
  for (int i = 0; i < 1024; i++) {
    double v = tu_get(p, i);
    cr_assert(v == 1.0 || v == 1.0 + 1.0 / 128, "%.8f", v);
  }
}

Test(amp, stochastic_rounding_is_unbiased_for_spread_values) {
  ax_manual_seed(99);
  const int64_t n = 1 << 15;
  ax_tensor *p = ax_detach(ax_cast(tu_uniform(AX_F64, AX_SHAPE(n), 0.5, 8), AX_BF16));
  ax_set_requires_grad(p, true);
  ax_tensor *grad = ax_cast(tu_uniform(AX_F64, AX_SHAPE(n), -1, 1), AX_BF16);
  ax_tensor *target = ax_sub(f64(p), ax_mul_scalar(f64(grad), 1e-3)); /* exact in f64 */
  ax_optimizer *opt = ax_sgd(&p, 1, &(ax_sgd_opts){.lr = 1e-3, .stochastic_rounding = true});
  p->grad = ax_persist(ax_clone(grad));
  cr_assert_eq(ax_optimizer_step(opt), 0);
  /* error in units of each element's bf16 spacing: mean ~0, spread below 1 */
  double *tv = malloc(sizeof(double) * n), *pv = malloc(sizeof(double) * n), sum = 0;
  ax_to_data(target, tv, sizeof(double) * n);
  ax_to_data(f64(p), pv, sizeof(double) * n);
  for (int64_t i = 0; i < n; i++) {
    double ulp = ldexp(1.0, ilogb(tv[i]) - 7), e = (pv[i] - tv[i]) / ulp;
    cr_assert(fabs(e) < 1.0, "element %lld off by %g ulp", (long long)i, e);
    sum += e;
  }
  free(tv), free(pv);
  cr_expect(fabs(sum / n) < 0.02, "mean error %g ulp", sum / n); /* sd of the mean ~0.002 */
  ax_optimizer_free(opt);
}

Test(amp, stochastic_rounding_is_deterministic_for_a_seed) {
  ax_tensor *runs[3];
  uint64_t seeds[3] = {5, 5, 6};
  for (int r = 0; r < 3; r++) {
    ax_manual_seed(seeds[r]);
    ax_tensor *p = bf16_param(3000, 1.0);
    ax_optimizer *opt = ax_adamw(&p, 1, &(ax_adam_opts){.lr = 1e-3, .stochastic_rounding = true});
    for (int k = 0; k < 2; k++) { /* two steps: a different stream each */
      ax_zero_grad(p);
      p->grad = ax_persist(ax_full(AX_SHAPE(3000), 0.3, &(ax_tensor_opts){.dtype = AX_BF16}));
      cr_assert_eq(ax_optimizer_step(opt), 0);
    }
    ax_optimizer_free(opt);
    runs[r] = p;
  }
  cr_expect(tu_allclose(runs[0], runs[1], 0, 0), "same seed, same bits");
  cr_expect_not(tu_allclose(runs[0], runs[2], 0, 0), "another seed, other bits");
  /* exactly representable results never move: adding the random bits cannot carry */
  ax_tensor *p = bf16_param(512, 1.5);
  cr_expect_eq(sgd_step_mean(p, 0.5, true), 1.0);
}

Test(amp, stochastic_rounding_leaves_f32_parameters_alone) {
  ax_tensor *a = tu_leaf(tu_randn(AX_F32, AX_SHAPE(100))), *b = tu_leaf(ax_clone(a));
  ax_tensor *g = tu_randn(AX_F32, AX_SHAPE(100));
  a->grad = ax_persist(ax_clone(g));
  b->grad = ax_persist(ax_clone(g));
  ax_optimizer *oa = ax_sgd(&a, 1, &(ax_sgd_opts){.lr = 0.1, .stochastic_rounding = true});
  ax_optimizer *ob = ax_sgd(&b, 1, &(ax_sgd_opts){.lr = 0.1});
  ax_optimizer_step(oa);
  ax_optimizer_step(ob);
  cr_expect(tu_allclose(a, b, 0, 0));
  ax_optimizer_free(oa);
  ax_optimizer_free(ob);
}

/* ---------------- activation recomputation ---------------- */

typedef struct mlp {
  ax_tensor *w1, *b1, *w2, *b2;
  double p; /* dropout */
} mlp;

static ax_tensor *mlp_fn(void *ctx, ax_tensor *const *in) {
  mlp *m = ctx;
  ax_tensor *h = ax_tanh(ax_linear(in[0], m->w1, m->b1));
  if (m->p > 0) h = ax_dropout(h, m->p, true);
  return ax_linear(h, m->w2, m->b2);
}

static mlp make_mlp(double p) {
  return (mlp){tu_leaf(tu_randn(AX_F64, AX_SHAPE(6, 5))), tu_leaf(tu_randn(AX_F64, AX_SHAPE(6))),
               tu_leaf(tu_randn(AX_F64, AX_SHAPE(3, 6))), tu_leaf(tu_randn(AX_F64, AX_SHAPE(3))), p};
}

static void zero_all(mlp *m, ax_tensor *x) {
  ax_tensor *ts[5] = {m->w1, m->b1, m->w2, m->b2, x};
  ax_zero_grads(ts, 5);
}

Test(amp, checkpoint_gives_the_same_gradients_with_dropout) {
  mlp m = make_mlp(0.4);
  ax_tensor *x = tu_leaf(tu_randn(AX_F64, AX_SHAPE(8, 5))), *w = tu_randn(AX_F64, AX_SHAPE(8, 3));
  ax_tensor *grads[2][5], *outs[2];
  uint64_t offsets[2];
  for (int ck = 0; ck < 2; ck++) {
    zero_all(&m, x);
    ax_manual_seed(42);
    /* the first layer's output goes through a second, plain use too */
    ax_tensor *y = ck ? ax_checkpoint(mlp_fn, &m, 1, &x) : mlp_fn(&m, &x);
    cr_assert_not_null(y, "%s", ax_last_error());
    if (ck) cr_expect_str_eq(ax_grad_fn_name(y), "checkpoint");
    ax_tensor *loss = ax_add(ax_sum(ax_mul(y, w), 0, NULL, false), ax_sum(ax_square(x), 0, NULL, false));
    cr_assert_eq(ax_backward(loss, NULL), 0, "%s", ax_last_error());
    ax_rng_get_state(NULL, &offsets[ck]);
    outs[ck] = y;
    ax_tensor *ts[5] = {m.w1, m.b1, m.w2, m.b2, x};
    for (int i = 0; i < 5; i++) {
      cr_assert_not_null(ts[i]->grad, "ck %d tensor %d has no grad", ck, i);
      grads[ck][i] = ax_clone(ts[i]->grad);
    }
  }
  cr_expect(tu_allclose(outs[0], outs[1], 0, 0));
  for (int i = 0; i < 5; i++) cr_expect(tu_allclose(grads[1][i], grads[0][i], 0, 0), "tensor %d: not bit-identical", i);
  cr_expect_eq(offsets[0], offsets[1], "the recomputation must leave the generator where it was");
}

/* data inputs that need no grad: the parameters inside still get theirs */
Test(amp, checkpoint_input_without_grad) {
  mlp m = make_mlp(0);
  ax_tensor *x = tu_randn(AX_F64, AX_SHAPE(4, 5));
  ax_tensor *y = ax_checkpoint(mlp_fn, &m, 1, &x);
  cr_assert_not_null(y);
  cr_assert_eq(ax_backward(ax_sum(y, 0, NULL, false), NULL), 0, "%s", ax_last_error());
  cr_assert_not_null(m.w1->grad);
  ax_tensor *gw1 = ax_clone(m.w1->grad);
  zero_all(&m, NULL);
  cr_assert_eq(ax_backward(ax_sum(mlp_fn(&m, &x), 0, NULL, false), NULL), 0);
  cr_expect(tu_allclose(gw1, m.w1->grad, 0, 1e-14));
  /* grad mode off: plain output, nothing recorded */
  ax_no_grad_begin();
  ax_tensor *z = ax_checkpoint(mlp_fn, &m, 1, &x);
  ax_no_grad_end();
  cr_expect_null(ax_grad_fn_name(z));
}

static ax_tensor *two_input_fn(void *ctx, ax_tensor *const *in) {
  (void)ctx;
  return ax_mul(ax_sigmoid(ax_matmul(in[0], in[1])), in[0]);
}
static ax_tensor *ckpt_two(ax_tensor **in, void *ctx) { return ax_checkpoint(two_input_fn, ctx, 2, in); }
static ax_tensor *identity_fn(void *ctx, ax_tensor *const *in) { return in[0]; }
static ax_tensor *ckpt_identity(ax_tensor **in, void *ctx) {
  return ax_mul_scalar(ax_checkpoint(identity_fn, ctx, 1, in), 3.0);
}

Test(amp, checkpoint_gradcheck) {
  ax_tensor *in[2] = {tu_leaf(ax_transpose(tu_randn(AX_F64, AX_SHAPE(4, 4)), 0, 1)),
                      tu_leaf(tu_randn(AX_F64, AX_SHAPE(4, 4)))};
  cr_expect(TU_GRADCHECK(ckpt_two, in, 2, NULL));
  ax_tensor *one[1] = {tu_leaf(tu_randn(AX_F64, AX_SHAPE(3)))};
  cr_expect(TU_GRADCHECK(ckpt_identity, one, 1, NULL));
}

#define DEPTH 24
typedef struct chain {
  ax_tensor *w[DEPTH];
} chain;
typedef struct segment {
  chain *c;
  int first, count;
} segment;

static ax_tensor *chain_fn(void *ctx, ax_tensor *const *in) {
  segment *s = ctx;
  ax_tensor *h = in[0];
  for (int i = s->first; i < s->first + s->count; i++) h = ax_tanh(ax_matmul(h, s->c->w[i]));
  return h;
}

/* peak bytes above the starting live bytes of one forward + backward of the chain */
static size_t chain_peak(chain *c, ax_tensor *x, int per_segment) {
  ax_scope_begin();
  size_t live = ax_memory_stats_get(AX_CPU).live_bytes;
  segment segs[DEPTH];
  ax_tensor *h = x;
  for (int s = 0; s * per_segment < DEPTH; s++) {
    segs[s] = (segment){c, s * per_segment, per_segment};
    h = per_segment < DEPTH ? ax_checkpoint(chain_fn, &segs[s], 1, &h) : chain_fn(&segs[s], &h);
  }
  cr_assert_eq(ax_backward(ax_sum(h, 0, NULL, false), NULL), 0, "%s", ax_last_error());
  size_t peak = ax_memory_stats_get(AX_CPU).peak_bytes;
  ax_scope_end();
  return peak - live;
}

Test(amp, checkpoint_lowers_peak_memory) {
  chain c;
  for (int i = 0; i < DEPTH; i++) c.w[i] = tu_leaf(ax_mul_scalar(tu_randn(AX_F32, AX_SHAPE(64, 64)), 0.125));
  ax_tensor *x = tu_leaf(tu_randn(AX_F32, AX_SHAPE(512, 64)));
  /* checkpointed first: the peak counter only grows, so the plain run's peak is >= it */
  size_t with = chain_peak(&c, x, 4);
  ax_tensor *gx = ax_clone(x->grad);
  ax_zero_grad(x);
  size_t without = chain_peak(&c, x, DEPTH);
  cr_expect(tu_allclose(x->grad, gx, 1e-6, 1e-5));
  /* activations: 2 per layer (matmul, tanh) of 128 KiB; with 4-layer segments about a quarter */
  cr_expect(with < 0.5 * without, "peak with checkpointing %zu, without %zu", with, without);
}

/* ---------------- gradient accumulation ---------------- */

Test(amp, micro_batches_accumulate_to_the_full_batch_gradient) {
  mlp m = make_mlp(0);
  const int B = 12, K = 4;
  ax_tensor *x = tu_randn(AX_F64, AX_SHAPE(B, 5));
  int64_t tv[12] = {0, 1, 2, 2, 1, 0, 0, 2, 1, 1, 0, 2};
  ax_tensor *t = ax_from_data(tv, AX_SHAPE(B), &(ax_tensor_opts){.dtype = AX_I64});
  ax_tensor *full[4], *acc[4];
  ax_tensor *ps[4] = {m.w1, m.b1, m.w2, m.b2};
  cr_assert_eq(ax_backward(ax_cross_entropy(mlp_fn(&m, &x), t, NULL), NULL), 0);
  for (int i = 0; i < 4; i++) full[i] = ax_clone(ps[i]->grad);
  ax_zero_grads(ps, 4);
  for (int k = 0; k < K; k++) {
    ax_scope_begin();
    ax_tensor *xk = ax_narrow(x, 0, k * (B / K), B / K), *tk = ax_narrow(t, 0, k * (B / K), B / K);
    ax_tensor *loss = ax_div_scalar(ax_cross_entropy(mlp_fn(&m, &xk), tk, NULL), K);
    cr_assert_eq(ax_backward(loss, NULL), 0);
    ax_scope_end();
  }
  for (int i = 0; i < 4; i++) acc[i] = ps[i]->grad;
  for (int i = 0; i < 4; i++) cr_expect(tu_allclose(acc[i], full[i], 1e-12, 1e-12), "parameter %d", i);
}
