/* SPDX-License-Identifier: BSD-3-Clause */
/* Class-weighted cross-entropy and nll (PyTorch's `weight`), BCE-with-logits with weight and
 * pos_weight, KL divergence (PyTorch's KLDivLoss) and the distillation loss: values against
 * formulas written out per element in plain C, agreement with the unweighted ops, gradient
 * checks in f64, errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "testutil.h"

static void setup(void) {
  tu_capture_errors();
  ax_scope_begin();
}
static void teardown(void) { ax_scope_end(); }
TestSuite(loss_weighted, .init = setup, .fini = teardown);

#define F64 (&(ax_tensor_opts){.dtype = AX_F64})
#define I64 (&(ax_tensor_opts){.dtype = AX_I64})

enum { N = 4, C = 3 };
static const double X[N * C] = {0.5, -1.0, 2.0, 1.5, 0.2, -0.3, -2.0, 0.0, 1.0, 0.3, 0.3, -0.7};
static const int64_t T[N] = {2, 0, -100, 1}; /* row 2 ignored */
static const double W[C] = {0.5, 2.0, 1.25};

static double lsm(const double *row, int c) {
  double m = fmax(row[0], fmax(row[1], row[2])), s = 0;
  for (int k = 0; k < C; k++) s += exp(row[k] - m);
  return row[c] - m - log(s);
}

/* PyTorch's weighted cross-entropy with label smoothing eps, written out. */
static void ce_reference(double eps, double *per, double *sum, double *mean) {
  double wsum = 0;
  *sum = 0;
  for (int i = 0; i < N; i++) {
    per[i] = 0;
    if (T[i] == -100) continue;
    double smooth = 0;
    for (int c = 0; c < C; c++) smooth -= W[c] * lsm(X + i * C, c);
    per[i] = (1 - eps) * W[T[i]] * -lsm(X + i * C, (int)T[i]) + eps / C * smooth;
    wsum += W[T[i]];
    *sum += per[i];
  }
  *mean = *sum / wsum;
}

Test(loss_weighted, cross_entropy_values) {
  ax_tensor *x = ax_from_data(X, AX_SHAPE(N, C), F64), *t = ax_from_data(T, AX_SHAPE(N), I64);
  ax_tensor *w = ax_from_data(W, AX_SHAPE(C), F64);
  for (int k = 0; k < 2; k++) {
    double eps = k ? 0.2 : 0.0, per[N], sum, mean;
    ce_reference(eps, per, &sum, &mean);
    ax_cross_entropy_opts o = {.reduction = AX_REDUCTION_NONE, .weight = w, .label_smoothing = eps};
    cr_expect(tu_allclose_data(ax_cross_entropy(x, t, &o), per, N, 1e-12, 1e-12), "eps %g none", eps);
    o.reduction = AX_REDUCTION_SUM;
    cr_expect_float_eq(ax_item(ax_cross_entropy(x, t, &o)), sum, 1e-12, "eps %g sum", eps);
    o.reduction = AX_REDUCTION_MEAN;
    cr_expect_float_eq(ax_item(ax_cross_entropy(x, t, &o)), mean, 1e-12, "eps %g mean", eps);
    if (eps == 0) { /* nll_loss of the log-probabilities, same weights */
      cr_expect_float_eq(ax_item(ax_nll_loss(ax_log_softmax(x, 1), t, &o)), mean, 1e-12);
    }
  }
  /* hand-worked row: logits (0.5, -1, 2), target 2, weight 1.25: 1.25 * -log_softmax = 1.25 * 0.2413...; */
  double r0 = 1.25 * (log(exp(0.5) + exp(-1.0) + exp(2.0)) - 2.0);
  cr_expect_float_eq(tu_get(ax_cross_entropy(x, t, &(ax_cross_entropy_opts){.reduction = AX_REDUCTION_NONE, .weight = w}), 0),
                     r0, 1e-12);
  cr_assert_eq(tu_error_count(), 0);
}

/* Weights of 1 give the fused unweighted kernel's answer, with every reduction and smoothing;
 * also on [N, C, d] inputs (class dim 1). */
Test(loss_weighted, unit_weights_match_unweighted) {
  ax_tensor *ones = ax_ones(AX_SHAPE(5), F64);
  ax_tensor *x = tu_randn(AX_F64, AX_SHAPE(6, 5, 3));
  int64_t tv[18];
  for (int i = 0; i < 18; i++) tv[i] = i % 7 == 3 ? -100 : (i * 3) % 5;
  ax_tensor *t = ax_from_data(tv, AX_SHAPE(6, 3), I64);
  for (int r = 0; r < 3; r++)
    for (int k = 0; k < 2; k++) {
      ax_cross_entropy_opts o = {.reduction = (ax_reduction)r, .label_smoothing = k * 0.1};
      ax_tensor *ref = ax_cross_entropy(x, t, &o);
      o.weight = ones;
      cr_expect(tu_allclose(ax_cross_entropy(x, t, &o), ref, 1e-12, 1e-12), "reduction %d smoothing %d", r, k);
    }
  cr_assert_eq(tu_error_count(), 0);
}

typedef struct ce_ctx {
  ax_tensor *t, *w;
  double eps;
  ax_reduction r;
  bool nll;
} ce_ctx;

static ax_tensor *ce_fn(ax_tensor **in, void *p) {
  ce_ctx *c = p;
  ax_cross_entropy_opts o = {.reduction = c->r, .weight = c->w, .label_smoothing = c->eps};
  return c->nll ? ax_nll_loss(ax_log_softmax(in[0], 1), c->t, &o) : ax_cross_entropy(in[0], c->t, &o);
}

Test(loss_weighted, cross_entropy_gradcheck) {
  ax_tensor *x = tu_leaf(ax_from_data(X, AX_SHAPE(N, C), F64)), *t = ax_from_data(T, AX_SHAPE(N), I64);
  ax_tensor *w = ax_from_data(W, AX_SHAPE(C), F64);
  for (int r = 0; r < 3; r++)
    for (int k = 0; k < 3; k++) {
      ce_ctx c = {t, w, k == 1 ? 0.3 : 0.0, (ax_reduction)r, k == 2};
      cr_expect(TU_GRADCHECK(ce_fn, &x, 1, &c), "reduction %d variant %d", r, k);
    }
}

/* [N, C, d] logits (class dim 1) with weights, ignored targets and smoothing, and a single
 * row [C] with a 0-dim target: gradients, and the [C] value by hand. */
Test(loss_weighted, cross_entropy_layouts) {
  ax_tensor *x = tu_leaf(tu_randn(AX_F64, AX_SHAPE(3, 4, 2)));
  ax_tensor *t = ax_from_data((int64_t[]){0, 3, -100, 1, 2, 2}, AX_SHAPE(3, 2), I64);
  ax_tensor *w = ax_from_data((double[]){0.5, 1, 2, 3}, AX_SHAPE(4), F64);
  for (int r = 0; r < 3; r++) {
    ce_ctx c = {t, w, 0.15, (ax_reduction)r, false};
    cr_expect(TU_GRADCHECK(ce_fn, &x, 1, &c), "[N, C, d] reduction %d", r);
  }
  ax_tensor *x1 = tu_leaf(ax_from_data(X, AX_SHAPE(C), F64)), *t1 = ax_full(0, NULL, 2, I64);
  ce_ctx c1 = {t1, ax_from_data(W, AX_SHAPE(C), F64), 0.0, AX_REDUCTION_MEAN, false};
  cr_expect(TU_GRADCHECK(ce_fn, &x1, 1, &c1));
  /* the mean divides by the weight: one row's weighted mean is its plain loss */
  cr_expect_float_eq(ax_item(ce_fn(&x1, &c1)), -lsm(X, 2), 1e-12);
  c1.r = AX_REDUCTION_SUM;
  cr_expect_float_eq(ax_item(ce_fn(&x1, &c1)), -W[2] * lsm(X, 2), 1e-12);
  cr_assert_eq(tu_error_count(), 0);
}

Test(loss_weighted, cross_entropy_errors) {
  ax_tensor *x = ax_from_data(X, AX_SHAPE(N, C), F64), *t = ax_from_data(T, AX_SHAPE(N), I64);
  cr_expect_null(ax_cross_entropy(x, t, &(ax_cross_entropy_opts){.weight = ax_ones(AX_SHAPE(4), F64)}));
  cr_expect(tu_error_contains("ax_cross_entropy", "weight", "[3]", NULL));
  cr_expect_null(ax_nll_loss(x, t, &(ax_cross_entropy_opts){.weight = ax_ones(AX_SHAPE(3), I64)}));
  cr_expect(tu_error_contains("ax_nll_loss", "weight", NULL));
  ax_tensor *bad = ax_from_data((int64_t[]){0, 3, 1, 1}, AX_SHAPE(4), I64);
  cr_expect_null(ax_cross_entropy(x, bad, &(ax_cross_entropy_opts){.weight = ax_ones(AX_SHAPE(3), F64)}));
  cr_expect(tu_error_contains("ax_cross_entropy", "target 3", NULL));
  ax_tensor *h = ax_zeros(AX_SHAPE(4, 2), F64), *wc = ax_zeros(AX_SHAPE(3, 2), F64);
  cr_expect_null(ax_classifier_cross_entropy(h, wc, NULL, t, &(ax_cross_entropy_opts){.weight = ax_ones(AX_SHAPE(3), F64)}));
  cr_expect(tu_error_contains("class weights", NULL));
}

/* ---- BCE with logits: weight, pos_weight ---- */

static double bce_ref(double x, double y, double pw, double w) {
  double s = 1 / (1 + exp(-x));
  return -w * (pw * y * log(s) + (1 - y) * log(1 - s));
}

Test(loss_weighted, bce_pos_weight_values) {
  double xv[6] = {-3, -0.5, 0, 0.25, 2, 7}, yv[6] = {1, 0, 1, 0.3, 0, 1}, pw[3] = {3, 0.5, 1}, wv[3] = {1, 2, 0.25};
  ax_tensor *x = ax_from_data(xv, AX_SHAPE(2, 3), F64), *y = ax_from_data(yv, AX_SHAPE(2, 3), F64);
  ax_tensor *p = ax_from_data(pw, AX_SHAPE(3), F64), *w = ax_from_data(wv, AX_SHAPE(3), F64);
  double per[6], sum = 0;
  for (int i = 0; i < 6; i++) sum += per[i] = bce_ref(xv[i], yv[i], pw[i % 3], wv[i % 3]);
  cr_expect(tu_allclose_data(ax_bce_with_logits_ex(x, y, &(ax_bce_opts){AX_REDUCTION_NONE, w, p}), per, 6, 1e-12, 1e-12));
  cr_expect_float_eq(ax_item(ax_bce_with_logits_ex(x, y, &(ax_bce_opts){AX_REDUCTION_SUM, w, p})), sum, 1e-12);
  cr_expect_float_eq(ax_item(ax_bce_with_logits_ex(x, y, &(ax_bce_opts){AX_REDUCTION_MEAN, w, p})), sum / 6, 1e-12);
  /* hand-worked: x = -3, y = 1, pos_weight 3: 3 log(1 + e^3) */
  cr_expect_float_eq(per[0], 3 * log(1 + exp(3.0)), 1e-12);
  /* pos_weight of ones and no weight = the plain loss */
  cr_expect(tu_allclose(ax_bce_with_logits_ex(x, y, &(ax_bce_opts){AX_REDUCTION_NONE, NULL, ax_ones(AX_SHAPE(3), F64)}),
                        ax_bce_with_logits(x, y, AX_REDUCTION_NONE), 1e-12, 1e-12));
  /* no overflow for large logits */
  ax_tensor *big = ax_from_data((double[]){-800, 800}, AX_SHAPE(2), F64), *yb = ax_from_data((double[]){1, 0}, AX_SHAPE(2), F64);
  ax_tensor *lb = ax_bce_with_logits_ex(big, yb, &(ax_bce_opts){AX_REDUCTION_NONE, NULL, ax_full(AX_SHAPE(1), 2, F64)});
  cr_expect(tu_allclose_data(lb, (double[]){1600, 800}, 2, 1e-9, 1e-12));
  cr_assert_eq(tu_error_count(), 0);
}

typedef struct bce_ctx {
  ax_tensor *w, *p;
  ax_reduction r;
} bce_ctx;

static ax_tensor *bce_fn(ax_tensor **in, void *v) {
  bce_ctx *c = v;
  return ax_bce_with_logits_ex(in[0], in[1], &(ax_bce_opts){c->r, c->w, c->p});
}

Test(loss_weighted, bce_pos_weight_gradcheck) {
  ax_tensor *in[2] = {tu_leaf(tu_randn(AX_F64, AX_SHAPE(4, 3))), tu_leaf(tu_uniform(AX_F64, AX_SHAPE(4, 3), 0, 1))};
  ax_tensor *p = ax_from_data((double[]){3, 0.5, 1.5}, AX_SHAPE(3), F64), *w = tu_uniform(AX_F64, AX_SHAPE(4, 1), 0.5, 2);
  for (int r = 0; r < 3; r++) {
    bce_ctx c = {NULL, p, (ax_reduction)r};
    cr_expect(TU_GRADCHECK(bce_fn, in, 2, &c), "pos_weight, reduction %d", r);
    c.w = w;
    cr_expect(TU_GRADCHECK(bce_fn, in, 2, &c), "pos_weight and weight, reduction %d", r);
  }
}

Test(loss_weighted, bce_errors) {
  ax_tensor *x = ax_zeros(AX_SHAPE(4, 3), F64);
  cr_expect_null(ax_bce_with_logits_ex(x, x, &(ax_bce_opts){.pos_weight = ax_ones(AX_SHAPE(4), F64)}));
  cr_expect(tu_error_contains("ax_bce_with_logits", "pos_weight", "[4]", "[4, 3]", NULL));
  cr_expect_null(ax_bce_with_logits_ex(x, x, &(ax_bce_opts){.weight = ax_ones(AX_SHAPE(2, 4, 3), F64)}));
  cr_expect(tu_error_contains("ax_bce_with_logits", "weight", NULL));
}

/* ---- KL divergence ---- */

Test(loss_weighted, kl_div_values) {
  /* input: log-probabilities; target with a 0 */
  double in[6] = {log(0.2), log(0.3), log(0.5), log(0.6), log(0.3), log(0.1)};
  double tg[6] = {0.1, 0.0, 0.9, 0.5, 0.25, 0.25};
  ax_tensor *x = ax_from_data(in, AX_SHAPE(2, 3), F64), *t = ax_from_data(tg, AX_SHAPE(2, 3), F64);
  double per[6], sum = 0;
  for (int i = 0; i < 6; i++) sum += per[i] = tg[i] == 0 ? 0 : tg[i] * (log(tg[i]) - in[i]);
  /* hand-worked: row 0 = 0.1 log(0.1/0.2) + 0.9 log(0.9/0.5) */
  cr_expect_float_eq(per[0] + per[1] + per[2], 0.1 * log(0.5) + 0.9 * log(1.8), 1e-12);
  cr_expect(tu_allclose_data(ax_kl_div(x, t, AX_REDUCTION_NONE, false), per, 6, 1e-12, 1e-12));
  cr_expect_float_eq(ax_item(ax_kl_div(x, t, AX_REDUCTION_SUM, false)), sum, 1e-12);
  cr_expect_float_eq(ax_item(ax_kl_div(x, t, AX_REDUCTION_MEAN, false)), sum / 6, 1e-12);
  cr_expect_float_eq(ax_item(ax_kl_div(x, t, AX_REDUCTION_BATCHMEAN, false)), sum / 2, 1e-12);
  /* log_target: the same with target given as its log; log 0 = -inf gives exp(-inf) (-inf - x)
   * = NaN, as PyTorch's exp(target) * (target - input) does */
  ax_tensor *lt = ax_log(t), *lk = ax_kl_div(x, lt, AX_REDUCTION_NONE, true);
  cr_expect(isnan(tu_get(lk, 1)));
  for (int i = 0; i < 6; i++)
    if (i != 1) cr_expect_float_eq(tu_get(lk, i), per[i], 1e-12, "element %d", i);
  ax_tensor *rows = ax_narrow(x, 0, 1, 1), *trow = ax_narrow(lt, 0, 1, 1);
  cr_expect_float_eq(ax_item(ax_kl_div(rows, trow, AX_REDUCTION_BATCHMEAN, true)), per[3] + per[4] + per[5], 1e-12);
  /* a negative target is NaN (PyTorch's xlogy) */
  ax_tensor *neg = ax_from_data((double[]){-0.5}, AX_SHAPE(1), F64);
  cr_expect(isnan(ax_item(ax_kl_div(ax_zeros(AX_SHAPE(1), F64), neg, AX_REDUCTION_SUM, false))));
  cr_assert_eq(tu_error_count(), 0);
}

typedef struct kl_ctx {
  ax_reduction r;
  bool log_target;
} kl_ctx;

static ax_tensor *kl_fn(ax_tensor **in, void *v) {
  kl_ctx *c = v;
  return ax_kl_div(in[0], in[1], c->r, c->log_target);
}

Test(loss_weighted, kl_div_gradcheck) {
  for (int r = 0; r < 4; r++)
    for (int lt = 0; lt < 2; lt++) {
      ax_tensor *in[2] = {tu_leaf(tu_randn(AX_F64, AX_SHAPE(3, 4))),
                          tu_leaf(lt ? tu_randn(AX_F64, AX_SHAPE(3, 4)) : tu_uniform(AX_F64, AX_SHAPE(3, 4), 0.1, 1))};
      kl_ctx c = {(ax_reduction)r, lt};
      cr_expect(TU_GRADCHECK(kl_fn, in, 2, &c), "reduction %d log_target %d", r, lt);
    }
  /* target 0: gradient 0 from t log t, -input from -t input (PyTorch's xlogy) */
  ax_tensor *x = tu_leaf(ax_from_data((double[]){-1.5, -0.25}, AX_SHAPE(2), F64));
  ax_tensor *t = tu_leaf(ax_from_data((double[]){0.0, 0.5}, AX_SHAPE(2), F64));
  cr_assert_eq(ax_backward(ax_kl_div(x, t, AX_REDUCTION_SUM, false), NULL), 0);
  cr_expect(tu_allclose_data(x->grad, (double[]){0, -0.5}, 2, 1e-15, 1e-15));
  cr_expect(tu_allclose_data(t->grad, (double[]){1.5, log(0.5) + 1 + 0.25}, 2, 1e-15, 1e-12));
}

Test(loss_weighted, kl_div_errors) {
  ax_tensor *x = ax_zeros(AX_SHAPE(2, 3), F64);
  cr_expect_null(ax_kl_div(x, ax_zeros(AX_SHAPE(3, 2), F64), AX_REDUCTION_SUM, false));
  cr_expect(tu_error_contains("ax_kl_div", "[2, 3]", "[3, 2]", NULL));
  cr_expect_null(ax_kl_div(x, x, (ax_reduction)9, false));
  cr_expect(tu_error_contains("ax_kl_div", "reduction", NULL));
  cr_expect_null(ax_cross_entropy(x, ax_zeros(AX_SHAPE(2), I64), &(ax_cross_entropy_opts){.reduction = AX_REDUCTION_BATCHMEAN}));
  cr_expect(tu_error_contains("ax_cross_entropy", "reduction", NULL));
  cr_expect_null(ax_triplet_margin_loss(x, x, x, 1, 2, 1e-6, false, AX_REDUCTION_BATCHMEAN));
  cr_expect(tu_error_contains("ax_triplet_margin_loss", "reduction", NULL));
  cr_expect_null(ax_mse_loss(x, x, AX_REDUCTION_BATCHMEAN));
  cr_expect(tu_error_contains("ax_mse_loss", "reduction", NULL));
}

/* ---- distillation ---- */

Test(loss_weighted, distill_values_and_grad) {
  double s[6] = {1, 2, 0.5, -1, 0, 3}, te[6] = {2, 1, 0, 0.5, 0.5, 1}, T = 2.5;
  double want = 0;
  for (int i = 0; i < 2; i++) {
    double ss[3], tt[3];
    for (int c = 0; c < 3; c++) ss[c] = s[i * 3 + c] / T, tt[c] = te[i * 3 + c] / T;
    for (int c = 0; c < 3; c++) {
      double pt = exp(lsm(tt, c)); /* softmax(teacher / T) */
      want += pt * (lsm(tt, c) - lsm(ss, c));
    }
  }
  want = want / 2 * T * T;
  ax_tensor *S = tu_leaf(ax_from_data(s, AX_SHAPE(2, 3), F64)), *Te = ax_from_data(te, AX_SHAPE(2, 3), F64);
  cr_expect_float_eq(ax_item(ax_distill_loss(S, Te, T)), want, 1e-12);
  /* identical logits: 0 at any temperature */
  cr_expect_float_eq(ax_item(ax_distill_loss(Te, Te, 4)), 0, 1e-14);
  /* gradient with respect to the student: T (softmax(s/T) - softmax(t/T)) / N */
  cr_assert_eq(ax_backward(ax_distill_loss(S, Te, T), NULL), 0);
  for (int i = 0; i < 2; i++) {
    double ss[3], tt[3];
    for (int c = 0; c < 3; c++) ss[c] = s[i * 3 + c] / T, tt[c] = te[i * 3 + c] / T;
    for (int c = 0; c < 3; c++)
      cr_expect_float_eq(tu_get(S->grad, i * 3 + c), T * (exp(lsm(ss, c)) - exp(lsm(tt, c))) / 2, 1e-12);
  }
  cr_assert_eq(tu_error_count(), 0);
}

static ax_tensor *distill_fn(ax_tensor **in, void *v) { return ax_distill_loss(in[0], in[1], *(double *)v); }

Test(loss_weighted, distill_gradcheck_and_errors) {
  ax_tensor *in[2] = {tu_leaf(tu_randn(AX_F64, AX_SHAPE(3, 5))), tu_leaf(tu_randn(AX_F64, AX_SHAPE(3, 5)))};
  double T = 3;
  cr_expect(TU_GRADCHECK(distill_fn, in, 2, &T));
  cr_expect_null(ax_distill_loss(in[0], tu_randn(AX_F64, AX_SHAPE(3, 4)), 2));
  cr_expect(tu_error_contains("ax_distill_loss", "[3, 5]", "[3, 4]", "classes", NULL));
  cr_expect_null(ax_distill_loss(in[0], in[1], 0));
  cr_expect(tu_error_contains("ax_distill_loss", "temperature", NULL));
}

/* ---- on the CUDA device (the emulated one in an AXON_CUDA=EMULATE build) ---- */

static ax_tensor *on(ax_tensor *t, ax_device d) { return tu_leaf(ax_to(t, d)); }

/* Each loss and its gradients on cuda:0 against the CPU, f32. */
Test(loss_weighted, cuda_matches_cpu) {
  if (ax_cuda_device_count() < 1)
    cr_skip_test("no CUDA device (build with -DAXON_CUDA=EMULATE to run on the emulated device)");
  ax_device dev[2] = {AX_CPU, AX_CUDA(0)};
  ax_tensor *x0 = tu_randn(AX_F32, AX_SHAPE(6, 5)), *t0 = tu_randn(AX_F32, AX_SHAPE(6, 5));
  ax_tensor *y0 = tu_uniform(AX_F32, AX_SHAPE(6, 5), 0, 1), *w0 = tu_uniform(AX_F32, AX_SHAPE(5), 0.5, 2);
  ax_tensor *id0 = ax_from_data((int64_t[]){0, 4, -100, 2, 2, 1}, AX_SHAPE(6), I64);
  ax_tensor *val[2][5], *grad[2][7];
  for (int k = 0; k < 2; k++) {
    ax_device d = dev[k];
    ax_tensor *x = on(x0, d), *t = on(t0, d), *y = on(y0, d), *w = ax_to(w0, d), *id = ax_to(id0, d);
    ax_tensor *pt = on(ax_softmax(t0, 1), d), *xs = on(x0, d), *xk = on(ax_log_softmax(x0, 1), d);
    ax_tensor *xb = on(x0, d), *xd = on(x0, d);
    val[k][0] = ax_cross_entropy(x, id, &(ax_cross_entropy_opts){.weight = w, .label_smoothing = 0.1});
    val[k][1] = ax_bce_with_logits_ex(xb, y, &(ax_bce_opts){AX_REDUCTION_SUM, w, w});
    val[k][2] = ax_kl_div(xk, pt, AX_REDUCTION_BATCHMEAN, false);
    val[k][3] = ax_kl_div(xs, t, AX_REDUCTION_MEAN, true);
    val[k][4] = ax_distill_loss(xd, ax_to(t0, d), 2.0);
    for (int i = 0; i < 5; i++) {
      cr_assert_not_null(val[k][i], "loss %d on device %d", i, k);
      cr_assert_eq(ax_backward(val[k][i], NULL), 0, "loss %d on device %d", i, k);
    }
    ax_tensor *g[7] = {x->grad, xb->grad, y->grad, xk->grad, pt->grad, xs->grad, xd->grad};
    for (int i = 0; i < 7; i++) grad[k][i] = ax_to(g[i], AX_CPU);
  }
  for (int i = 0; i < 5; i++)
    cr_expect_float_eq(ax_item(ax_to(val[1][i], AX_CPU)), ax_item(val[0][i]), 1e-5 * (1 + fabs(ax_item(val[0][i]))),
                       "loss %d", i);
  for (int i = 0; i < 7; i++) cr_expect(tu_allclose(grad[1][i], grad[0][i], 1e-5, 1e-4), "gradient %d", i);
  /* metrics read device tensors back */
  ax_tensor *p = ax_softmax(x0, 1), *ids = ax_from_data((int64_t[]){0, 4, 3, 2, 2, 1}, AX_SHAPE(6), I64);
  ax_tensor *lab = ax_from_data((int64_t[]){0, 1, 1, 2, 3, 4}, AX_SHAPE(6), I64);
  cr_expect_float_eq(ax_log_loss(ax_to(p, AX_CUDA(0)), ax_to(ids, AX_CUDA(0))), ax_log_loss(p, ids), 1e-12);
  cr_expect_float_eq(ax_top_k_accuracy(ax_to(p, AX_CUDA(0)), ax_to(lab, AX_CUDA(0)), 2), ax_top_k_accuracy(p, lab, 2), 1e-12);
  cr_assert_eq(tu_error_count(), 0);
}
