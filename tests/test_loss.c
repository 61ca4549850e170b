/* SPDX-License-Identifier: BSD-3-Clause */
/* Softmax, log_softmax and the losses: known answers (computed with Python's
 * math module), agreement with a plain loop, stability, gradient checks of
 * every loss and option, errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "testutil.h"

TestSuite(loss, .init = tu_capture_errors);

#define F64 (&(ax_tensor_opts){.dtype = AX_F64})
#define I64 (&(ax_tensor_opts){.dtype = AX_I64})

/* softmax (or log_softmax) of x along dim by a plain loop over a contiguous f64 copy */
static ax_tensor *reference_softmax(ax_tensor *x, int dim, bool log_) {
  ax_tensor *c = ax_contiguous(ax_cast(x, AX_F64));
  ax_tensor *y = ax_zeros(x->ndim, x->shape, F64);
  const double *v = ax_data_ptr(c);
  double *o = ax_data_ptr(y);
  int64_t n = x->shape[dim], inner = 1, outer = 1;
  for (int d = dim + 1; d < x->ndim; d++) inner *= x->shape[d];
  for (int d = 0; d < dim; d++) outer *= x->shape[d];
  for (int64_t a = 0; a < outer; a++)
    for (int64_t b = 0; b < inner; b++) {
      const double *p = v + a * n * inner + b;
      double m = -INFINITY, s = 0;
      for (int64_t i = 0; i < n; i++) m = fmax(m, p[i * inner]);
      for (int64_t i = 0; i < n; i++) s += exp(p[i * inner] - m);
      for (int64_t i = 0; i < n; i++)
        o[a * n * inner + b + i * inner] = log_ ? p[i * inner] - m - log(s) : exp(p[i * inner] - m) / s;
    }
  return y;
}

Test(loss, softmax_known_answer) {
  ax_scope_begin();
  ax_tensor *x = ax_from_data((float[]){1, 2, 3, 1000, 1001, 1002}, AX_SHAPE(2, 3), NULL);
  double sm[6] = {0.09003057317038043, 0.24472847105479764, 0.6652409557748218,
                  0.09003057317038043, 0.24472847105479764, 0.6652409557748218};
  cr_expect(tu_allclose_data(ax_softmax(x, 1), sm, 6, 1e-7, 1e-6));
  double lsm[6];
  for (int i = 0; i < 6; i++) lsm[i] = log(sm[i]);
  cr_expect(tu_allclose_data(ax_log_softmax(x, -1), lsm, 6, 1e-6, 1e-6));
  ax_scope_end();
}

Test(loss, softmax_matches_a_loop_on_every_dim_and_layout) {
  ax_scope_begin();
  ax_dtype dts[2] = {AX_F32, AX_F64};
  for (int t = 0; t < 2; t++) {
    double tol = dts[t] == AX_F32 ? 1e-5 : 1e-13; /* f32: the log of a 1001-term sum */
    ax_tensor *xs[3] = {ax_mul_scalar(tu_randn(dts[t], AX_SHAPE(3, 4, 5)), 3),
                        ax_permute(tu_randn(dts[t], AX_SHAPE(4, 5, 3)), (int[]){2, 0, 1}),
                        ax_mul_scalar(tu_randn(dts[t], AX_SHAPE(70, 1001)), 5)}; /* the parallel path */
    for (int k = 0; k < 3; k++)
      for (int dim = 0; dim < xs[k]->ndim; dim++)
        for (int lg = 0; lg < 2; lg++) {
          ax_tensor *y = lg ? ax_log_softmax(xs[k], dim) : ax_softmax(xs[k], dim);
          cr_assert_not_null(y);
          cr_expect(ax_is_contiguous(y) && ax_same_shape(y, xs[k]));
          cr_expect(tu_allclose(y, reference_softmax(xs[k], dim, lg), tol, tol), "dtype %d case %d dim %d log %d",
                    t, k, dim, lg);
        }
  }
  ax_scope_end();
}

Test(loss, softmax_masks_scalars_and_empty) {
  ax_scope_begin();
  /* -inf entries get probability 0; an all -inf row is NaN, as in PyTorch */
  ax_tensor *x = ax_from_data((float[]){0, -INFINITY, 0, -INFINITY, -INFINITY, -INFINITY}, AX_SHAPE(2, 3), NULL);
  ax_tensor *y = ax_softmax(x, 1);
  cr_expect(tu_allclose_data(ax_narrow(y, 0, 0, 1), (double[]){0.5, 0, 0.5}, 3, 1e-7, 1e-7));
  cr_expect(isnan(tu_get(y, 3)));
  ax_tensor *ly = ax_log_softmax(x, 1);
  cr_expect(isinf(tu_get(ly, 1)) && tu_get(ly, 1) < 0);
  cr_expect_float_eq(tu_get(ly, 0), -log(2.0), 1e-6);
  cr_expect_float_eq(ax_item(ax_softmax(ax_scalar(3, NULL), 0)), 1.0, 0);
  cr_expect_float_eq(ax_item(ax_log_softmax(ax_scalar(3, NULL), -1)), 0.0, 0);
  cr_expect_eq(ax_numel(ax_softmax(ax_zeros(AX_SHAPE(0, 4), NULL), 1)), 0);
  ax_scope_end();
}

Test(loss, softmax_half_precision_through_the_generic_path) {
  ax_scope_begin();
  ax_tensor *x = tu_randn(AX_F32, AX_SHAPE(6, 7));
  ax_dtype dts[2] = {AX_BF16, AX_F16};
  for (int t = 0; t < 2; t++) {
    ax_tensor *h = ax_cast(x, dts[t]), *back = ax_cast(h, AX_F32);
    cr_expect(tu_allclose(ax_softmax(h, 1), ax_softmax(back, 1), 1e-2, 1e-2));
    cr_expect(tu_allclose(ax_log_softmax(h, 0), ax_log_softmax(back, 0), 2e-2, 1e-2));
  }
  ax_scope_end();
}

/* ---------------- cross entropy ---------------- */

static ax_tensor *ce_logits(void) {
  return ax_from_data((double[]){1, 2, 3, 1, -1, 0.5, 0.2, 0.1, -0.3}, AX_SHAPE(3, 3), F64);
}

Test(loss, cross_entropy_known_answers) {
  ax_scope_begin();
  ax_tensor *x = ce_logits(), *t = ax_from_data((int64_t[]){2, 0, 1}, AX_SHAPE(3), I64);
  double nll[3] = {0.4076059644443804, 0.5549569196419907, 1.0208276555532594};
  cr_expect_float_eq(ax_item(ax_cross_entropy(x, t, NULL)), 0.6611301798798769, 1e-14);
  cr_expect_float_eq(ax_item(ax_cross_entropy(x, t, &(ax_cross_entropy_opts){.reduction = AX_REDUCTION_SUM})),
                     1.9833905396396305, 1e-14);
  ax_tensor *none = ax_cross_entropy(x, t, &(ax_cross_entropy_opts){.reduction = AX_REDUCTION_NONE});
  cr_expect_eq(none->ndim, 1);
  cr_expect(tu_allclose_data(none, nll, 3, 1e-14, 1e-14));
  /* label smoothing 0.1: (1 - 0.1) nll + 0.1 mean_c(-logp) */
  double ls[3] = {0.5076059644443804, 0.638290252975324, 1.0308276555532594};
  cr_expect(tu_allclose_data(
      ax_cross_entropy(x, t, &(ax_cross_entropy_opts){.reduction = AX_REDUCTION_NONE, .label_smoothing = 0.1}), ls,
      3, 1e-14, 1e-14));
  cr_expect_float_eq(ax_item(ax_cross_entropy(x, t, &(ax_cross_entropy_opts){.label_smoothing = 0.1})),
                     0.7255746243243214, 1e-14);
  /* the third target ignored: mean over the other two */
  ax_cross_entropy_opts ign = {.has_ignore_index = true, .ignore_index = 1};
  cr_expect_float_eq(ax_item(ax_cross_entropy(x, t, &ign)), 0.48128144204318557, 1e-14);
  ign.label_smoothing = 0.1;
  cr_expect_float_eq(ax_item(ax_cross_entropy(x, t, &ign)), 0.5729481087098522, 1e-14);
  ign.reduction = AX_REDUCTION_NONE;
  cr_expect_float_eq(tu_get(ax_cross_entropy(x, t, &ign), 2), 0.0, 0);
  /* -100 is ignored by default */
  ax_tensor *t100 = ax_from_data((int64_t[]){2, 0, -100}, AX_SHAPE(3), I64);
  cr_expect_float_eq(ax_item(ax_cross_entropy(x, t100, NULL)), (nll[0] + nll[1]) / 2, 1e-14);
  /* every target ignored: 0 / 0 */
  ax_tensor *all = ax_full(AX_SHAPE(3), -100, I64);
  cr_expect(isnan(ax_item(ax_cross_entropy(x, all, NULL))));
  cr_expect_float_eq(ax_item(ax_cross_entropy(x, all, &(ax_cross_entropy_opts){.reduction = AX_REDUCTION_SUM})), 0, 0);
  /* nll_loss on log_softmax equals cross_entropy */
  cr_expect_float_eq(ax_item(ax_nll_loss(ax_log_softmax(x, 1), t, NULL)), 0.6611301798798769, 1e-14);
  /* f32 and an unbatched [C] input */
  cr_expect_float_eq(ax_item(ax_cross_entropy(ax_cast(x, AX_F32), t, NULL)), 0.6611301798798769, 1e-6);
  ax_tensor *row = ax_from_data((double[]){1, 2, 3}, AX_SHAPE(3), F64);
  cr_expect_float_eq(ax_item(ax_cross_entropy(row, ax_scalar(2, I64), NULL)), nll[0], 1e-14);
  ax_scope_end();
}

/* [N, C, d1, d2] equals [N*d1*d2, C] with the class dim moved last */
Test(loss, cross_entropy_spatial_layout_matches_flat) {
  ax_scope_begin();
  ax_tensor *x = tu_randn(AX_F64, AX_SHAPE(2, 4, 3, 5));
  ax_tensor *t = ax_cast(ax_mul_scalar(ax_rand(AX_SHAPE(2, 3, 5), F64), 3.999), AX_I64);
  ax_tensor *flat_x = ax_reshape(ax_permute(x, (int[]){0, 2, 3, 1}), AX_SHAPE(30, 4));
  ax_tensor *flat_t = ax_reshape(t, AX_SHAPE(30));
  ax_cross_entropy_opts o = {.label_smoothing = 0.2, .has_ignore_index = true, .ignore_index = 3};
  cr_expect_float_eq(ax_item(ax_cross_entropy(x, t, &o)), ax_item(ax_cross_entropy(flat_x, flat_t, &o)), 1e-13);
  o.reduction = AX_REDUCTION_NONE;
  ax_tensor *none = ax_cross_entropy(x, t, &o);
  cr_expect_eq(none->ndim, 3);
  cr_expect(tu_allclose(ax_reshape(none, AX_SHAPE(30)), ax_cross_entropy(flat_x, flat_t, &o), 1e-13, 1e-13));
  ax_scope_end();
}

/* The fused kernel against the composed form, (1 - eps) nll + eps mean_c(-log_softmax),
 * with the softmax by a plain loop; per row (reduction none) on a layout with many rows. */
static ax_tensor *composed_cross_entropy(ax_tensor *x, ax_tensor *t, int64_t ignore, double eps) {
  int cdim = x->ndim == 1 ? 0 : 1;
  ax_tensor *lp = reference_softmax(x, cdim, true);
  ax_tensor *ignored = ax_eq_scalar(t, (double)ignore);
  ax_tensor *safe = ax_where(ignored, ax_zeros_like(t), t);
  ax_tensor *nll = ax_neg(ax_squeeze(ax_gather(lp, cdim, ax_unsqueeze(safe, cdim)), cdim));
  ax_tensor *smooth = ax_neg(ax_mean(lp, AX_DIMS(cdim), false));
  ax_tensor *l = ax_add(ax_mul_scalar(nll, 1 - eps), ax_mul_scalar(smooth, eps));
  return ax_where(ignored, ax_zeros_like(l), l);
}

static ax_tensor *random_targets(int ndim, const int64_t *shape, int64_t classes, int64_t ignore) {
  ax_tensor *t = ax_cast(ax_mul_scalar(ax_rand(ndim, shape, F64), (double)classes - 0.001), AX_I64);
  /* about one target in eight ignored */
  return ax_where(ax_lt_scalar(ax_rand(ndim, shape, F64), 0.125), ax_full_like(t, (double)ignore), t);
}

Test(loss, fused_cross_entropy_matches_the_composed_form) {
  ax_scope_begin();
  ax_dtype dts[2] = {AX_F32, AX_F64};
  for (int k = 0; k < 2; k++) {
    double tol = dts[k] == AX_F32 ? 2e-5 : 1e-12;
    /* [N, C] big enough for the parallel path, [N, C, d1, d2], unbatched [C], a transposed [N, C] */
    ax_tensor *xs[4] = {ax_mul_scalar(tu_randn(dts[k], AX_SHAPE(300, 257)), 4), tu_randn(dts[k], AX_SHAPE(3, 5, 4, 2)),
                        tu_randn(dts[k], AX_SHAPE(9)), ax_transpose(tu_randn(dts[k], AX_SHAPE(6, 8)), 0, 1)};
    for (int c = 0; c < 4; c++) {
      ax_tensor *x = xs[c];
      int cdim = x->ndim == 1 ? 0 : 1, nd = 0;
      int64_t tshape[AX_MAX_DIMS];
      for (int d = 0; d < x->ndim; d++)
        if (d != cdim) tshape[nd++] = x->shape[d];
      for (int opt = 0; opt < 3; opt++) {
        int64_t ignore = opt == 1 ? 2 : -100;
        double eps = opt == 2 ? 0.25 : opt == 1 ? 0.1 : 0.0;
        ax_tensor *t = random_targets(nd, tshape, x->shape[cdim], ignore);
        ax_cross_entropy_opts o = {.reduction = AX_REDUCTION_NONE, .has_ignore_index = true, .ignore_index = ignore,
                                   .label_smoothing = eps};
        ax_tensor *want = composed_cross_entropy(x, t, ignore, eps), *got = ax_cross_entropy(x, t, &o);
        cr_assert_not_null(got);
        cr_expect(ax_same_shape(got, t) && got->dtype == x->dtype, "case %d", c);
        cr_expect(tu_allclose(got, want, tol, tol), "dtype %d case %d opt %d", k, c, opt);
        double sum = ax_item(ax_sum(want, AX_ALL, false));
        double kept = ax_item(ax_sum(ax_ne_scalar(t, (double)ignore), AX_ALL, false));
        o.reduction = AX_REDUCTION_SUM;
        cr_expect_float_eq(ax_item(ax_cross_entropy(x, t, &o)), sum, tol * (1 + fabs(sum)), "sum %d %d", c, opt);
        o.reduction = AX_REDUCTION_MEAN;
        double mean = ax_item(ax_cross_entropy(x, t, &o));
        if (kept > 0) cr_expect_float_eq(mean, sum / kept, tol * (1 + fabs(sum)), "mean %d %d", c, opt);
        else cr_expect(isnan(mean));
      }
    }
  }
  ax_scope_end();
}

/* The gradient is softmax - (1-eps) onehot - eps/C, scaled per row; checked at
 * values where the composed form is exact, and against its autograd. */
Test(loss, fused_cross_entropy_backward_matches_the_composed_gradient) {
  ax_scope_begin();
  ax_tensor *x = tu_leaf(ax_mul_scalar(tu_randn(AX_F64, AX_SHAPE(37, 11)), 3));
  ax_tensor *x2 = tu_leaf(ax_detach(x));
  ax_tensor *t = random_targets(AX_SHAPE(37), 11, 4);
  ax_cross_entropy_opts o = {.has_ignore_index = true, .ignore_index = 4, .label_smoothing = 0.2};
  ax_backward(ax_cross_entropy(x, t, &o), NULL);
  /* composed: mean over kept rows of the composed per-row losses */
  ax_tensor *lp = ax_log_softmax(x2, 1), *ignored = ax_eq_scalar(t, 4);
  ax_tensor *safe = ax_where(ignored, ax_zeros_like(t), t);
  ax_tensor *nll = ax_neg(ax_squeeze(ax_gather(lp, 1, ax_unsqueeze(safe, 1)), 1));
  ax_tensor *l = ax_add(ax_mul_scalar(nll, 0.8), ax_mul_scalar(ax_neg(ax_mean(lp, AX_DIMS(1), false)), 0.2));
  l = ax_where(ignored, ax_zeros_like(l), l);
  double kept = ax_item(ax_sum(ax_ne_scalar(t, 4), AX_ALL, false));
  ax_backward(ax_div_scalar(ax_sum(l, AX_ALL, false), kept), NULL);
  cr_assert_not_null(x->grad);
  cr_expect(tu_allclose(x->grad, x2->grad, 1e-13, 1e-12));
  /* ignored rows get exactly zero */
  for (int64_t r = 0; r < 37; r++)
    if (tu_get(t, r) == 4)
      for (int64_t c = 0; c < 11; c++) cr_expect_eq(tu_get(x->grad, r * 11 + c), 0.0);
  ax_scope_end();
}

Test(loss, fused_cross_entropy_is_stable_and_handles_masked_classes) {
  ax_scope_begin();
  /* huge logits: no overflow; -inf on classes other than the target: they get probability 0 */
  ax_tensor *x = ax_from_data((float[]){1000, 1001, 1002, 0, -INFINITY, 1}, AX_SHAPE(2, 3), NULL);
  ax_tensor *t = ax_from_data((int64_t[]){2, 2}, AX_SHAPE(2), I64);
  ax_tensor *l = ax_cross_entropy(x, t, &(ax_cross_entropy_opts){.reduction = AX_REDUCTION_NONE});
  cr_expect(tu_allclose_data(l, (double[]){0.40760596444438, log1p(exp(-1.0))}, 2, 1e-5, 1e-6));
  ax_tensor *xl = tu_leaf(x);
  ax_backward(ax_cross_entropy(xl, t, &(ax_cross_entropy_opts){.reduction = AX_REDUCTION_SUM}), NULL);
  double p = 1 / (1 + exp(1.0));
  /* 3e-5: half an f32 ulp of the saved logsumexp 1002.4 */
  cr_expect(tu_allclose_data(xl->grad, (double[]){0.09003057317038, 0.24472847105480, 0.66524095577482 - 1, p, 0, -p},
                             6, 3e-5, 1e-5));
  /* bf16 / f16 logits through the generic path */
  ax_tensor *h = tu_randn(AX_F32, AX_SHAPE(5, 7));
  ax_tensor *ht = ax_from_data((int64_t[]){0, 6, 3, -100, 1}, AX_SHAPE(5), I64);
  ax_dtype dts[2] = {AX_BF16, AX_F16};
  for (int k = 0; k < 2; k++) {
    ax_tensor *hx = ax_cast(h, dts[k]);
    ax_tensor *got = ax_cross_entropy(hx, ht, &(ax_cross_entropy_opts){.reduction = AX_REDUCTION_NONE, .label_smoothing = 0.1});
    ax_tensor *want = ax_cross_entropy(ax_cast(hx, AX_F32), ht, &(ax_cross_entropy_opts){.reduction = AX_REDUCTION_NONE, .label_smoothing = 0.1});
    cr_expect(got && got->dtype == dts[k] && tu_allclose(got, want, 2e-2, 1e-2), "dtype %d", dts[k]);
    ax_tensor *hl = tu_leaf(hx);
    ax_backward(ax_cross_entropy(hl, ht, NULL), NULL);
    ax_tensor *fl = tu_leaf(ax_cast(hx, AX_F32));
    ax_backward(ax_cross_entropy(fl, ht, NULL), NULL);
    cr_expect(hl->grad && tu_allclose(hl->grad, fl->grad, 1e-2, 2e-2), "grad dtype %d", dts[k]);
  }
  ax_scope_end();
}

Test(loss, regression_losses_known_answers) {
  ax_scope_begin();
  ax_tensor *x = ax_from_data((double[]){0.5, -1, 2, 3}, AX_SHAPE(4), F64);
  ax_tensor *y = ax_from_data((double[]){1, 1, 1.5, -1}, AX_SHAPE(4), F64);
  cr_expect_float_eq(ax_item(ax_mse_loss(x, y, AX_REDUCTION_MEAN)), 5.125, 1e-15);
  cr_expect_float_eq(ax_item(ax_mse_loss(x, y, AX_REDUCTION_SUM)), 20.5, 1e-15);
  cr_expect(tu_allclose_data(ax_mse_loss(x, y, AX_REDUCTION_NONE), (double[]){0.25, 4, 0.25, 16}, 4, 0, 0));
  cr_expect_float_eq(ax_item(ax_l1_loss(x, y, AX_REDUCTION_MEAN)), 1.75, 1e-15);
  cr_expect(tu_allclose_data(ax_smooth_l1_loss(x, y, AX_REDUCTION_NONE, 1.0), (double[]){0.125, 1.5, 0.125, 3.5}, 4,
                             1e-15, 1e-15));
  cr_expect_float_eq(ax_item(ax_smooth_l1_loss(x, y, AX_REDUCTION_MEAN, 1.0)), 1.3125, 1e-15);
  cr_expect_float_eq(ax_item(ax_smooth_l1_loss(x, y, AX_REDUCTION_MEAN, 0.0)), 1.75, 1e-15);
  ax_tensor *p = ax_from_data((double[]){0, 1, 0.25, 1}, AX_SHAPE(4), F64);
  cr_expect(tu_allclose_data(ax_bce_with_logits(x, p, AX_REDUCTION_NONE),
                             (double[]){0.9740769841801067, 1.3132616875182228, 1.6269280110429725, 0.04858735157374206},
                             4, 1e-14, 1e-14));
  cr_expect_float_eq(ax_item(ax_bce_with_logits(x, p, AX_REDUCTION_MEAN)), 0.9907135085787611, 1e-14);
  /* no overflow for huge logits */
  ax_tensor *big = ax_from_data((float[]){100, -100}, AX_SHAPE(2), NULL);
  cr_expect(tu_allclose_data(ax_bce_with_logits(big, ax_from_data((float[]){0, 1}, AX_SHAPE(2), NULL), AX_REDUCTION_NONE),
                             (double[]){100, 100}, 2, 1e-5, 1e-6));
  /* the gradient at x = 0 is sigmoid(0) - y */
  ax_tensor *z = tu_leaf(ax_zeros(AX_SHAPE(2), F64));
  ax_backward(ax_bce_with_logits(z, ax_from_data((double[]){0, 1}, AX_SHAPE(2), F64), AX_REDUCTION_SUM), NULL);
  cr_expect(tu_allclose_data(z->grad, (double[]){0.5, -0.5}, 2, 1e-15, 0));
  ax_scope_end();
}

/* ---------------- gradient checks ---------------- */

typedef struct {
  int which, dim;
  ax_tensor *target;
  ax_cross_entropy_opts o;
  double beta;
} lctx;

enum { L_SOFTMAX, L_LOG_SOFTMAX, L_CE, L_NLL, L_MSE, L_L1, L_SMOOTH_L1, L_BCE };

static ax_tensor *lfn(ax_tensor **in, void *vc) {
  lctx *c = vc;
  switch (c->which) {
    case L_SOFTMAX: return ax_softmax(in[0], c->dim);
    case L_LOG_SOFTMAX: return ax_log_softmax(in[0], c->dim);
    case L_CE: return ax_cross_entropy(in[0], c->target, &c->o);
    case L_NLL: return ax_nll_loss(in[0], c->target, &c->o);
    case L_MSE: return ax_mse_loss(in[0], in[1], c->o.reduction);
    case L_L1: return ax_l1_loss(in[0], in[1], c->o.reduction);
    case L_SMOOTH_L1: return ax_smooth_l1_loss(in[0], in[1], c->o.reduction, c->beta);
    default: return ax_bce_with_logits(in[0], in[1], c->o.reduction);
  }
}

Test(loss, gradcheck_softmax_every_dim) {
  ax_scope_begin();
  ax_tensor *xs[4] = {tu_leaf(tu_randn(AX_F64, AX_SHAPE(3, 4, 5))),
                      tu_leaf(ax_transpose(tu_randn(AX_F64, AX_SHAPE(5, 4)), 0, 1)),
                      tu_leaf(tu_randn(AX_F64, AX_SHAPE(7))), tu_leaf(ax_scalar(0.3, F64))};
  for (int k = 0; k < 4; k++)
    for (int dim = -1; dim < (xs[k]->ndim ? xs[k]->ndim : 1); dim++)
      for (int which = L_SOFTMAX; which <= L_LOG_SOFTMAX; which++) {
        lctx c = {.which = which, .dim = dim};
        cr_expect(TU_GRADCHECK(lfn, &xs[k], 1, &c), "case %d dim %d which %d", k, dim, which);
      }
  ax_scope_end();
}

Test(loss, gradcheck_cross_entropy_and_nll) {
  ax_scope_begin();
  ax_tensor *t2 = ax_from_data((int64_t[]){2, 0, 4, 1}, AX_SHAPE(4), I64);
  ax_tensor *t3 = ax_from_data((int64_t[]){0, 2, 1, 2, 0, 1}, AX_SHAPE(2, 3), I64);
  ax_tensor *x2 = tu_leaf(tu_randn(AX_F64, AX_SHAPE(4, 5)));
  ax_tensor *x2t = tu_leaf(ax_transpose(tu_randn(AX_F64, AX_SHAPE(5, 4)), 0, 1));
  ax_tensor *x3 = tu_leaf(tu_randn(AX_F64, AX_SHAPE(2, 3, 3)));
  ax_cross_entropy_opts opts[] = {
      {0},
      {.reduction = AX_REDUCTION_SUM},
      {.reduction = AX_REDUCTION_NONE},
      {.label_smoothing = 0.15},
      {.has_ignore_index = true, .ignore_index = 0},
      {.reduction = AX_REDUCTION_NONE, .has_ignore_index = true, .ignore_index = 2, .label_smoothing = 0.3},
  };
  for (int which = L_CE; which <= L_NLL; which++)
    for (int k = 0; k < 6; k++) {
      lctx c = {.which = which, .target = t2, .o = opts[k]};
      cr_expect(TU_GRADCHECK(lfn, &x2, 1, &c), "which %d opts %d", which, k);
      cr_expect(TU_GRADCHECK(lfn, &x2t, 1, &c), "transposed, which %d opts %d", which, k);
      c.target = t3;
      cr_expect(TU_GRADCHECK(lfn, &x3, 1, &c), "[N, C, d], which %d opts %d", which, k);
    }
  ax_scope_end();
}

Test(loss, gradcheck_fused_cross_entropy_layouts) {
  ax_scope_begin();
  ax_tensor *x4 = tu_leaf(tu_randn(AX_F64, AX_SHAPE(2, 4, 2, 3)));                        /* [N, C, d1, d2] */
  ax_tensor *x4p = tu_leaf(ax_permute(tu_randn(AX_F64, AX_SHAPE(2, 3, 2, 4)), (int[]){0, 3, 2, 1})); /* strided */
  ax_tensor *x1 = tu_leaf(tu_randn(AX_F64, AX_SHAPE(6)));                                  /* unbatched */
  ax_tensor *x11 = tu_leaf(tu_randn(AX_F64, AX_SHAPE(1, 1)));                              /* one class */
  ax_tensor *t4 = ax_from_data((int64_t[]){0, 3, 1, 2, 2, 1, 3, 3, 0, 1, 1, 2}, AX_SHAPE(2, 2, 3), I64);
  ax_tensor *t1 = ax_scalar(4, I64), *t11 = ax_from_data((int64_t[]){0}, AX_SHAPE(1), I64);
  for (int r = 0; r < 3; r++)
    for (int opt = 0; opt < 3; opt++) {
      lctx c = {.which = L_CE,
                .o = {.reduction = (ax_reduction)r, .label_smoothing = opt ? 0.3 : 0,
                      .has_ignore_index = opt == 2, .ignore_index = opt == 2 ? 3 : 0}};
      c.target = t4;
      cr_expect(TU_GRADCHECK(lfn, &x4, 1, &c), "[N, C, d1, d2] reduction %d opt %d", r, opt);
      cr_expect(TU_GRADCHECK(lfn, &x4p, 1, &c), "strided, reduction %d opt %d", r, opt);
      c.target = t1;
      cr_expect(TU_GRADCHECK(lfn, &x1, 1, &c), "unbatched, reduction %d opt %d", r, opt);
      c.target = t11;
      cr_expect(TU_GRADCHECK(lfn, &x11, 1, &c), "one class, reduction %d opt %d", r, opt);
    }
  ax_scope_end();
}

Test(loss, gradcheck_regression_losses) {
  ax_scope_begin();
  for (int which = L_MSE; which <= L_BCE; which++)
    for (int r = 0; r < 3; r++) {
      /* |input - target| in [0.2, 1.4]: away from the kinks at 0 (l1) and beta = 0.8 (smooth l1) */
      ax_tensor *tgt = tu_uniform(AX_F64, AX_SHAPE(3, 4), 0, 1);
      ax_tensor *gap = ax_mul(tu_uniform(AX_F64, AX_SHAPE(3, 4), 0.2, 0.7),
                              ax_sub_scalar(ax_mul_scalar(ax_cast(ax_gt_scalar(ax_rand(AX_SHAPE(3, 4), F64), 0.5), AX_F64), 2), 1));
      gap = ax_mul(gap, ax_add_scalar(ax_cast(ax_gt_scalar(ax_rand(AX_SHAPE(3, 4), F64), 0.5), AX_F64), 1));
      ax_tensor *in[2] = {tu_leaf(ax_transpose(ax_add(tgt, gap), 0, 1)), tu_leaf(ax_transpose(tgt, 0, 1))};
      lctx c = {.which = which, .o = {.reduction = (ax_reduction)r}, .beta = 0.8};
      cr_expect(TU_GRADCHECK(lfn, in, 2, &c), "which %d reduction %d", which, r);
    }
  /* bce at and around 0 */
  ax_tensor *in[2] = {tu_leaf(ax_from_data((double[]){0, -0.3, 2, -5}, AX_SHAPE(4), F64)),
                      tu_leaf(ax_from_data((double[]){0.5, 1, 0, 0.2}, AX_SHAPE(4), F64))};
  lctx c = {.which = L_BCE, .o = {.reduction = AX_REDUCTION_MEAN}};
  cr_expect(TU_GRADCHECK(lfn, in, 2, &c));
  ax_scope_end();
}

/* ---------------- errors ---------------- */

Test(loss, errors_name_the_op_and_the_problem) {
  ax_scope_begin();
  ax_tensor *x = ax_zeros(AX_SHAPE(2, 3), NULL);
  ax_tensor *t = ax_from_data((int64_t[]){0, 2}, AX_SHAPE(2), I64);
  cr_expect_null(ax_softmax(x, 2));
  cr_expect(tu_error_contains("ax_softmax", NULL));
  cr_expect_null(ax_log_softmax(ax_zeros(AX_SHAPE(2), I64), 0));
  cr_expect(tu_error_contains("ax_log_softmax", "i64", NULL));
  cr_expect_null(ax_cross_entropy(x, ax_cast(t, AX_I32), NULL));
  cr_expect(tu_error_contains("ax_cross_entropy", "i64", "i32", NULL));
  cr_expect_null(ax_cross_entropy(x, ax_zeros(AX_SHAPE(3), I64), NULL));
  cr_expect(tu_error_contains("ax_cross_entropy", "[3]", "[2, 3]", NULL));
  cr_expect_null(ax_cross_entropy(x, ax_from_data((int64_t[]){0, 3}, AX_SHAPE(2), I64), NULL));
  cr_expect(tu_error_contains("ax_cross_entropy", "target 3", "3 classes", NULL));
  cr_expect_null(ax_cross_entropy(x, ax_from_data((int64_t[]){-1, 1}, AX_SHAPE(2), I64), NULL));
  cr_expect(tu_error_contains("ax_cross_entropy", "target -1", NULL));
  /* -100 is fine by default, but not when another ignore_index is set */
  ax_tensor *t100 = ax_from_data((int64_t[]){-100, 1}, AX_SHAPE(2), I64);
  cr_expect_not_null(ax_cross_entropy(x, t100, NULL));
  cr_expect_null(ax_cross_entropy(x, t100, &(ax_cross_entropy_opts){.has_ignore_index = true, .ignore_index = 0}));
  cr_expect(tu_error_contains("ax_cross_entropy", "target -100", NULL));
  cr_expect_null(ax_nll_loss(x, ax_from_data((int64_t[]){7, 1}, AX_SHAPE(2), I64), NULL));
  cr_expect(tu_error_contains("ax_nll_loss", "target 7", NULL));
  cr_expect_null(ax_cross_entropy(x, t, &(ax_cross_entropy_opts){.label_smoothing = 1.5}));
  cr_expect(tu_error_contains("ax_cross_entropy", "label_smoothing", NULL));
  cr_expect_null(ax_cross_entropy(x, t, &(ax_cross_entropy_opts){.reduction = (ax_reduction)7}));
  cr_expect(tu_error_contains("ax_cross_entropy", "reduction", NULL));
  cr_expect_null(ax_mse_loss(x, ax_zeros(AX_SHAPE(3, 2), NULL), AX_REDUCTION_MEAN));
  cr_expect(tu_error_contains("ax_mse_loss", "[2, 3]", "[3, 2]", NULL));
  cr_expect_null(ax_l1_loss(x, ax_zeros(AX_SHAPE(2, 3), F64), AX_REDUCTION_MEAN));
  cr_expect(tu_error_contains("ax_l1_loss", NULL));
  cr_expect_null(ax_smooth_l1_loss(x, x, AX_REDUCTION_MEAN, -1));
  cr_expect(tu_error_contains("ax_smooth_l1_loss", "beta", NULL));
  cr_expect_null(ax_bce_with_logits(x, ax_zeros(AX_SHAPE(2), NULL), AX_REDUCTION_SUM));
  cr_expect(tu_error_contains("ax_bce_with_logits", "[2, 3]", "[2]", NULL));
  cr_expect_null(ax_cross_entropy(NULL, t, NULL));
  ax_scope_end();
}

/* Called with no scope open, softmax and the losses leave nothing behind but their results. */
Test(loss, no_leaks_outside_any_scope) {
  size_t tensors = ax_memory_stats_get(AX_CPU).live_tensors, bytes = ax_memory_stats_get(AX_CPU).live_bytes;
  ax_tensor *x = ax_randn(AX_SHAPE(3, 4), F64), *y = ax_rand(AX_SHAPE(3, 4), F64);
  ax_set_requires_grad(x, true);
  ax_tensor *t = ax_from_data((int64_t[]){1, -100, 3}, AX_SHAPE(3), I64);
  ax_tensor *results[] = {
      ax_softmax(x, 0), ax_log_softmax(x, 1), ax_cross_entropy(x, t, &(ax_cross_entropy_opts){.label_smoothing = 0.1}),
      ax_nll_loss(x, t, NULL), ax_mse_loss(x, y, AX_REDUCTION_MEAN), ax_l1_loss(x, y, AX_REDUCTION_NONE),
      ax_smooth_l1_loss(x, y, AX_REDUCTION_SUM, 0.5), ax_bce_with_logits(x, y, AX_REDUCTION_MEAN),
  };
  for (size_t i = 0; i < sizeof results / sizeof results[0]; i++) {
    cr_expect_not_null(results[i], "result %zu", i);
    ax_free(results[i]);
  }
  ax_free(x), ax_free(y), ax_free(t);
  cr_expect_eq(ax_memory_stats_get(AX_CPU).live_tensors, tensors);
  cr_expect_eq(ax_memory_stats_get(AX_CPU).live_bytes, bytes);
}
