/* SPDX-License-Identifier: BSD-3-Clause */
/* nn/metrics: confusion matrix, per-class and macro precision / recall / F1
 * (values by scikit-learn's formulas with zero_division=0, worked by hand),
 * the printed report, and regression errors (scikit-learn's documented example). */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static void setup(void) {
  tu_capture_errors();
  ax_scope_begin();
}
static void teardown(void) { ax_scope_end(); }
TestSuite(metrics, .init = setup, .fini = teardown);

static ax_tensor *ids(const int64_t *v, int64_t n) { return ax_from_data(v, AX_SHAPE(n), &(ax_tensor_opts){.dtype = AX_I64}); }

#define N 11
static const int64_t target[N] = {0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 3};
static const int64_t pred[N] = {0, 1, 0, 1, 1, 2, 0, 2, 4, 2, 1};

/* 6 classes: 3 has samples but no predictions, 4 predictions but no samples, 5 neither. */
static ax_confusion *known(void) {
  ax_confusion *cm = ax_confusion_new(6);
  cr_assert_not_null(cm);
  cr_assert_eq(ax_confusion_update(cm, ids(pred, N), ids(target, N)), 0);
  return cm;
}

Test(metrics, confusion_known_values) {
  ax_confusion *cm = known();
  int64_t want[6][6] = {{2, 1, 0, 0, 0, 0}, {0, 2, 0, 0, 0, 0}, {1, 0, 2, 0, 1, 0},
                        {0, 1, 1, 0, 0, 0}, {0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0}};
  for (int t = 0; t < 6; t++)
    for (int p = 0; p < 6; p++) cr_assert_eq(ax_confusion_count(cm, t, p), want[t][p], "(%d, %d)", t, p);
  cr_assert_eq(ax_confusion_total(cm), N);
  cr_assert_eq(ax_confusion_num_classes(cm), 6);
  cr_assert_float_eq(ax_confusion_accuracy(cm), 6.0 / 11.0, 1e-12);
  double P[6] = {2.0 / 3, 0.5, 2.0 / 3, 0, 0, 0}, R[6] = {2.0 / 3, 1, 0.5, 0, 0, 0};
  double F[6] = {2.0 / 3, 2.0 / 3, 4.0 / 7, 0, 0, 0};
  int64_t S[6] = {3, 2, 4, 2, 0, 0};
  for (int c = 0; c < 6; c++) {
    cr_assert_float_eq(ax_confusion_precision(cm, c), P[c], 1e-12, "class %d", c);
    cr_assert_float_eq(ax_confusion_recall(cm, c), R[c], 1e-12, "class %d", c);
    cr_assert_float_eq(ax_confusion_f1(cm, c), F[c], 1e-12, "class %d", c);
    cr_assert_eq(ax_confusion_support(cm, c), S[c]);
  }
  /* macro over the classes seen as target or prediction: 0..4, not 5 */
  cr_assert_float_eq(ax_confusion_macro_precision(cm), 0.3666666666666666, 1e-12);
  cr_assert_float_eq(ax_confusion_macro_recall(cm), 0.4333333333333333, 1e-12);
  cr_assert_float_eq(ax_confusion_macro_f1(cm), 0.38095238095238093, 1e-12);
  /* accumulation across batches, and reset */
  cr_assert_eq(ax_confusion_update(cm, ids(pred, N), ids(target, N)), 0);
  cr_assert_eq(ax_confusion_count(cm, 2, 4), 2);
  cr_assert_float_eq(ax_confusion_macro_f1(cm), 0.38095238095238093, 1e-12);
  ax_confusion_reset(cm);
  cr_assert_eq(ax_confusion_total(cm), 0);
  cr_assert_float_eq(ax_confusion_accuracy(cm), 0.0, 0);
  cr_assert_float_eq(ax_confusion_macro_f1(cm), 0.0, 0);
  ax_confusion_free(cm);
}

Test(metrics, logits_use_argmax) {
  /* rows' maxima at 2, 0, 1, 1; given transposed (non-contiguous) */
  double s[4][3] = {{0.1, 0.2, 0.9}, {3, -1, 2}, {0, 5, 4}, {-2, -1, -3}};
  double sT[3][4];
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 3; j++) sT[j][i] = s[i][j];
  ax_tensor *st = ax_transpose(ax_from_data(sT, AX_SHAPE(3, 4), &(ax_tensor_opts){.dtype = AX_F64}), 0, 1);
  cr_assert(!ax_is_contiguous(st));
  int64_t t[4] = {2, 0, 0, 1};
  ax_confusion *cm = ax_confusion_new(3);
  cr_assert_eq(ax_confusion_update(cm, st, ids(t, 4)), 0);
  cr_assert_eq(ax_confusion_count(cm, 2, 2), 1);
  cr_assert_eq(ax_confusion_count(cm, 0, 0), 1);
  cr_assert_eq(ax_confusion_count(cm, 0, 1), 1);
  cr_assert_eq(ax_confusion_count(cm, 1, 1), 1);
  cr_assert_float_eq(ax_accuracy(st, ids(t, 4)), 0.75, 1e-12);
  /* f32 logits and i32 targets work too */
  ax_tensor *t32 = ax_cast(ids(t, 4), AX_I32);
  cr_assert_float_eq(ax_accuracy(ax_cast(st, AX_F32), t32), 0.75, 1e-12);
  cr_assert_float_eq(ax_accuracy(ids(pred, N), ids(target, N)), 6.0 / 11.0, 1e-12);
  ax_confusion_free(cm);
}

Test(metrics, bad_inputs) {
  ax_confusion *cm = known();
  int64_t bad[3] = {0, 6, 1};
  cr_assert_eq(ax_confusion_update(cm, ids(bad, 3), ids(target, 3)), -1);
  cr_assert(tu_error_contains("ax_confusion_update", "out of range", "6", NULL), "%s", ax_last_error());
  cr_assert_eq(ax_confusion_total(cm), N, "a rejected batch leaves the matrix unchanged");
  int64_t neg[1] = {-1};
  cr_assert_eq(ax_confusion_update(cm, ids(bad, 1), ids(neg, 1)), -1);
  cr_assert_eq(ax_confusion_update(cm, ids(pred, 4), ids(target, 5)), -1);
  cr_assert(tu_error_contains("ax_confusion_update", "[4]", "[5]", NULL), "%s", ax_last_error());
  cr_assert_eq(ax_confusion_update(cm, ids(pred, 4), ax_zeros(AX_SHAPE(4), NULL)), -1);
  cr_assert(tu_error_contains("ax_confusion_update", "f32", "[4]", NULL), "%s", ax_last_error());
  cr_assert_eq(ax_confusion_update(cm, ax_zeros(AX_SHAPE(4, 2, 3), NULL), ids(target, 4)), -1);
  cr_assert(tu_error_contains("ax_confusion_update", "[4, 2, 3]", NULL), "%s", ax_last_error());
  cr_assert_eq(ax_confusion_update(cm, NULL, ids(target, 4)), -1);
  cr_assert_eq(ax_confusion_total(cm), N);
  cr_assert(isnan(ax_accuracy(ids(pred, 3), ids(target, 4))));
  cr_assert(tu_error_contains("ax_accuracy", "[3]", "[4]", NULL), "%s", ax_last_error());
  cr_assert_null(ax_confusion_new(0));
  ax_confusion_free(cm);
}

Test(metrics, printed_report) {
  ax_confusion *cm = ax_confusion_new(10);
  int64_t t[4] = {0, 9, 9, 3}, p[4] = {0, 9, 3, 3};
  cr_assert_eq(ax_confusion_update(cm, ids(p, 4), ids(t, 4)), 0);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ax_confusion_print(cm, ax_fashion_mnist_classes, f);
  fclose(f);
  cr_assert(strstr(buf, "precision") && strstr(buf, "recall") && strstr(buf, "f1-score") && strstr(buf, "support"),
            "%s", buf);
  cr_assert(strstr(buf, "0 T-shirt/top") && strstr(buf, "9 Ankle boot"), "%s", buf);
  cr_assert(strstr(buf, "accuracy") && strstr(buf, "0.7500"), "%s", buf);
  cr_assert(strstr(buf, "macro avg"), "%s", buf);
  cr_assert(strstr(buf, "confusion matrix"), "%s", buf);
  /* the Ankle boot row: one right, one predicted as Dress */
  const char *row = strstr(strstr(buf, "confusion matrix"), "9 Ankle boot");
  cr_assert_not_null(row);
  int v[10];
  cr_assert_eq(sscanf(row + strlen("9 Ankle boot"), "%d %d %d %d %d %d %d %d %d %d", &v[0], &v[1], &v[2], &v[3], &v[4],
                      &v[5], &v[6], &v[7], &v[8], &v[9]),
               10);
  cr_assert(v[3] == 1 && v[9] == 1 && v[0] == 0);
  free(buf);
  /* without names: rows are numbered */
  f = open_memstream(&buf, &len);
  ax_confusion_print(cm, NULL, f);
  fclose(f);
  cr_assert(strstr(buf, "macro avg") && !strstr(buf, "Ankle"), "%s", buf);
  free(buf);
  ax_confusion_free(cm);
  cr_assert_str_eq(ax_fashion_mnist_classes[6], "Shirt");
}

Test(metrics, regression_known_values) {
  /* scikit-learn's documentation example */
  double p[4] = {2.5, 0.0, 2, 8}, t[4] = {3, -0.5, 2, 7};
  ax_tensor *pt = ax_from_data(p, AX_SHAPE(4), &(ax_tensor_opts){.dtype = AX_F64});
  ax_tensor *tt = ax_from_data(t, AX_SHAPE(4), &(ax_tensor_opts){.dtype = AX_F64});
  cr_assert_float_eq(ax_mean_squared_error(pt, tt), 0.375, 1e-12);
  cr_assert_float_eq(ax_mean_absolute_error(pt, tt), 0.5, 1e-12);
  cr_assert_float_eq(ax_r2_score(pt, tt), 0.9486081370449679, 1e-12);
  /* f32, 2-D, non-contiguous: flattened over all elements */
  ax_tensor *p2 = ax_transpose(ax_cast(ax_reshape(pt, AX_SHAPE(2, 2)), AX_F32), 0, 1);
  ax_tensor *t2 = ax_transpose(ax_cast(ax_reshape(tt, AX_SHAPE(2, 2)), AX_F32), 0, 1);
  cr_assert_float_eq(ax_mean_squared_error(p2, t2), 0.375, 1e-6);
  cr_assert_float_eq(ax_r2_score(p2, t2), 0.9486081370449679, 1e-6);
  /* integer tensors */
  int64_t a[3] = {1, 2, 3}, b[3] = {1, 2, 5};
  cr_assert_float_eq(ax_mean_squared_error(ids(a, 3), ids(b, 3)), 4.0 / 3.0, 1e-12);
  cr_assert_float_eq(ax_mean_absolute_error(ids(a, 3), ids(b, 3)), 2.0 / 3.0, 1e-12);
  /* constant target: 1 when perfect, 0 otherwise */
  ax_tensor *c = ax_full(AX_SHAPE(3), 2.0, NULL);
  cr_assert_float_eq(ax_r2_score(c, c), 1.0, 0);
  cr_assert_float_eq(ax_r2_score(ax_full(AX_SHAPE(3), 1.0, NULL), c), 0.0, 0);
  /* a prediction worse than the mean is negative */
  double q[4] = {7, 2, -0.5, 3};
  cr_assert_lt(ax_r2_score(ax_from_data(q, AX_SHAPE(4), &(ax_tensor_opts){.dtype = AX_F64}), tt), 0.0);
}

Test(metrics, regression_bad_inputs) {
  cr_assert(isnan(ax_mean_squared_error(ax_zeros(AX_SHAPE(2, 3), NULL), ax_zeros(AX_SHAPE(3, 2), NULL))));
  cr_assert(tu_error_contains("ax_mean_squared_error", "[2, 3]", "[3, 2]", NULL), "%s", ax_last_error());
  cr_assert(isnan(ax_mean_absolute_error(ax_zeros(AX_SHAPE(0), NULL), ax_zeros(AX_SHAPE(0), NULL))));
  cr_assert(tu_error_contains("ax_mean_absolute_error", "[0]", NULL), "%s", ax_last_error());
  cr_assert(isnan(ax_r2_score(NULL, ax_zeros(AX_SHAPE(2), NULL))));
}
