/* SPDX-License-Identifier: BSD-3-Clause */
/* nn/metrics against scikit-learn: ROC AUC (binary, one-vs-rest macro / weighted), average
 * precision, top-k accuracy, log loss and balanced accuracy on the committed fixture
 * tests/fixtures/metrics_ref.h (scripts/gen_metrics_fixtures.py). Every recorded outcome is
 * checked: a value to 1e-9, an error where scikit-learn raises, NaN (and no error) where it
 * returns NaN; the scores go in as f64 and again as f32 (they are f32-representable). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "fixtures/metrics_ref.h"
#include "testutil.h"

static void setup(void) {
  tu_capture_errors();
  ax_scope_begin();
}
static void teardown(void) { ax_scope_end(); }
TestSuite(metrics_ref, .init = setup, .fini = teardown);

static ax_tensor *ids(const int64_t *v, int64_t n) { return ax_from_data(v, AX_SHAPE(n), &(ax_tensor_opts){.dtype = AX_I64}); }

static ax_tensor *scores_of(const mref_case *c, ax_dtype dt) {
  ax_tensor *s = c->c ? ax_from_data(c->scores, AX_SHAPE(c->n, c->c), &(ax_tensor_opts){.dtype = AX_F64})
                      : ax_from_data(c->scores, AX_SHAPE(c->n), &(ax_tensor_opts){.dtype = AX_F64});
  return ax_cast(s, dt);
}

static double run(const mref_case *c, const mref_result *r, ax_dtype dt) {
  ax_tensor *s = scores_of(c, dt), *t = ids(c->target, c->n);
  const char *m = r->metric;
  if (!strcmp(m, "roc_auc")) return ax_roc_auc(s, t);
  if (!strcmp(m, "ap")) return ax_average_precision(s, t);
  if (!strcmp(m, "roc_auc_ovr_macro")) return ax_roc_auc_ovr(s, t, AX_AVERAGE_MACRO);
  if (!strcmp(m, "roc_auc_ovr_weighted")) return ax_roc_auc_ovr(s, t, AX_AVERAGE_WEIGHTED);
  if (!strcmp(m, "ap_ovr_macro")) return ax_average_precision_ovr(s, t, AX_AVERAGE_MACRO);
  if (!strcmp(m, "ap_ovr_weighted")) return ax_average_precision_ovr(s, t, AX_AVERAGE_WEIGHTED);
  if (!strcmp(m, "top_k")) return ax_top_k_accuracy(s, t, r->arg);
  if (!strcmp(m, "log_loss")) return ax_log_loss(s, t);
  if (!strcmp(m, "balanced_accuracy")) return ax_balanced_accuracy(ids(c->pred, c->n), t);
  cr_assert_fail("unknown metric %s in the fixture", m);
  return NAN;
}

/* Where this library departs from scikit-learn 1.9 on purpose: a log-loss row that does not
 * sum to 1 is an error here (scikit-learn warns and computes the value). */
static bool expect_error(const mref_result *r) {
  return r->kind == MREF_ERROR || (!strcmp(r->metric, "log_loss") && strstr(r->note, "do not sum to one"));
}

static void check_all(ax_dtype dt) {
  int checked = 0, values = 0, errors = 0, nans = 0;
  for (int i = 0; i < MREF_N_CASES; i++) {
    const mref_case *c = &mref_cases[i];
    for (int j = 0; j < c->n_results; j++) {
      const mref_result *r = &c->results[j];
      /* log loss clips at the dtype's epsilon: f32 values differ from the f64 reference */
      if (dt == AX_F32 && !strcmp(r->metric, "log_loss") && !expect_error(r)) continue;
      tu_reset_errors();
      double v = run(c, r, dt);
      if (expect_error(r)) {
        cr_expect(isnan(v) && tu_error_count() == 1, "%s %s(%d): scikit-learn raised (%s); got %.17g, %d errors",
                  c->name, r->metric, r->arg, r->note, v, tu_error_count());
        errors++;
      } else if (r->kind == MREF_NAN) {
        cr_expect(isnan(v) && tu_error_count() == 0, "%s %s(%d): scikit-learn gives NaN (%s); got %.17g, %d errors",
                  c->name, r->metric, r->arg, r->note, v, tu_error_count());
        nans++;
      } else {
        cr_expect(tu_error_count() == 0 && fabs(v - r->value) <= 1e-9, "%s %s(%d): %.17g, scikit-learn %.17g",
                  c->name, r->metric, r->arg, v, r->value);
        values++;
      }
      checked++;
    }
  }
  cr_assert_gt(values, 40);
  cr_assert_gt(errors, 3);
  cr_assert_gt(nans, 2);
  cr_log_info("%s: %d outcomes checked (%d values, %d errors, %d NaN)", ax_dtype_name(dt), checked, values, errors, nans);
}

Test(metrics_ref, scikit_learn_f64) { check_all(AX_F64); }
Test(metrics_ref, scikit_learn_f32) { check_all(AX_F32); }

/* The messages name the metric and the class; bad shapes and k are errors. */
Test(metrics_ref, error_messages) {
  const mref_case *c = NULL;
  for (int i = 0; i < MREF_N_CASES; i++)
    if (!strcmp(mref_cases[i].name, "multi_no_class3")) c = &mref_cases[i];
  cr_assert_not_null(c);
  ax_tensor *s = scores_of(c, AX_F64), *t = ids(c->target, c->n);
  cr_assert(isnan(ax_average_precision_ovr(s, t, AX_AVERAGE_MACRO)));
  cr_assert(tu_error_contains("ax_average_precision_ovr", "class 3", "no positive", NULL));
  /* length mismatch */
  ax_tensor *t2 = ax_narrow(t, 0, 0, c->n - 1);
  cr_assert(isnan(ax_roc_auc_ovr(s, t2, AX_AVERAGE_MACRO)));
  cr_assert(tu_error_contains("ax_roc_auc_ovr", "[29]", "[30, 4]", NULL));
  cr_assert(isnan(ax_log_loss(s, t2)));
  cr_assert(tu_error_contains("ax_log_loss", NULL));
  cr_assert(isnan(ax_balanced_accuracy(ax_narrow(ids(c->pred, c->n), 0, 0, 5), t)));
  cr_assert(tu_error_contains("ax_balanced_accuracy", NULL));
  cr_assert(isnan(ax_top_k_accuracy(s, t, 0)));
  cr_assert(tu_error_contains("ax_top_k_accuracy", "k = 0", NULL));
  /* a binary target that is not 0 / 1, a target id out of range, a probability above 1 */
  cr_assert(isnan(ax_roc_auc(ax_squeeze(ax_narrow(s, 1, 0, 1), 1), ax_mul_scalar(t, 1))));
  cr_assert(tu_error_contains("ax_roc_auc", "0 or 1", NULL));
  int64_t bad[3] = {0, 1, 7};
  double p3[9] = {0.2, 0.3, 0.5, 0.1, 0.1, 0.8, 0.3, 0.3, 0.4};
  ax_tensor *P = ax_from_data(p3, AX_SHAPE(3, 3), &(ax_tensor_opts){.dtype = AX_F64});
  cr_assert(isnan(ax_top_k_accuracy(P, ids(bad, 3), 1)));
  cr_assert(tu_error_contains("ax_top_k_accuracy", "target 7", NULL));
  p3[0] = 1.5;
  p3[1] = -1;
  bad[2] = 2;
  cr_assert(isnan(ax_log_loss(ax_from_data(p3, AX_SHAPE(3, 3), &(ax_tensor_opts){.dtype = AX_F64}), ids(bad, 3))));
  cr_assert(tu_error_contains("ax_log_loss", "outside [0, 1]", NULL));
  /* non-finite scores (scikit-learn: "Input contains NaN") */
  double nanv[3] = {0.5, NAN, 0.2};
  cr_assert(isnan(ax_roc_auc(ax_from_data(nanv, AX_SHAPE(3), &(ax_tensor_opts){.dtype = AX_F64}), ids((int64_t[]){0, 1, 1}, 3))));
  cr_assert(tu_error_contains("ax_roc_auc", "score 1", "finite", NULL));
  /* integer scores */
  cr_assert(isnan(ax_log_loss(ids(bad, 3), ids(bad, 3))));
  cr_assert(tu_error_contains("ax_log_loss", "f32 or f64", NULL));
}

/* Exact by construction: every positive above every negative is 1, the reverse 0, all tied 0.5;
 * the balanced accuracy of a confusion matrix equals that of the ids. */
Test(metrics_ref, known_values) {
  double s[6] = {0.9, 0.8, 0.7, 0.3, 0.2, 0.1};
  int64_t y[6] = {1, 1, 1, 0, 0, 0}, r[6] = {0, 0, 0, 1, 1, 1};
  ax_tensor *S = ax_from_data(s, AX_SHAPE(6), &(ax_tensor_opts){.dtype = AX_F64});
  cr_assert_float_eq(ax_roc_auc(S, ids(y, 6)), 1.0, 1e-15);
  cr_assert_float_eq(ax_roc_auc(S, ids(r, 6)), 0.0, 1e-15);
  cr_assert_float_eq(ax_average_precision(S, ids(y, 6)), 1.0, 1e-15);
  cr_assert_float_eq(ax_roc_auc(ax_zeros(AX_SHAPE(6), NULL), ids(y, 6)), 0.5, 1e-15);
  int64_t p[6] = {1, 0, 1, 0, 0, 2}, t[6] = {1, 1, 1, 0, 0, 2};
  ax_confusion *cm = ax_confusion_new(4);
  cr_assert_eq(ax_confusion_update(cm, ids(p, 6), ids(t, 6)), 0);
  double want = (2.0 / 3 + 1 + 1) / 3; /* class 3 has no samples and is left out */
  cr_assert_float_eq(ax_confusion_balanced_accuracy(cm), want, 1e-15);
  cr_assert_float_eq(ax_balanced_accuracy(ids(p, 6), ids(t, 6)), want, 1e-15);
  ax_confusion_free(cm);
  cr_assert_eq(tu_error_count(), 0);
}
