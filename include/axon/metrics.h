/* SPDX-License-Identifier: BSD-3-Clause */
/* Evaluation metrics: a confusion matrix for classification (accuracy,
 * per-class precision / recall / F1, macro averages, a printed report) and
 * regression errors (MSE, MAE, R²). Inputs may live on any device; they are
 * read back to the host. Wrong shapes or dtypes are programming errors and go
 * to the error handler, naming the function and the shapes.
 *
 * Conventions (those of scikit-learn with zero_division=0):
 *   matrix entry (t, p) counts samples of true class t predicted as p;
 *   precision(c) = tp / (tp + fp), 0 when nothing was predicted as c;
 *   recall(c)    = tp / (tp + fn), 0 when c has no samples;
 *   f1(c)        = 2 p r / (p + r), 0 when p + r = 0;
 *   macro averages are unweighted means over the classes that occur as a
 *   target or a prediction (scikit-learn's default label set); 0 when empty;
 *   accuracy is 0 on an empty matrix.
 */
#ifndef AXON_METRICS_H
#define AXON_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "axon/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ax_confusion ax_confusion;

ax_confusion *ax_confusion_new(int n_classes); /* NULL if n_classes < 1 */
void ax_confusion_free(ax_confusion *cm);
void ax_confusion_reset(ax_confusion *cm);
/* pred: integer class ids [N], or float logits / scores [N, C] (argmax over dim 1);
 * target: integer [N]. Every id must be in [0, n_classes). Returns 0, or -1 after an error. */
int ax_confusion_update(ax_confusion *cm, ax_tensor *pred, ax_tensor *target);
int ax_confusion_add(ax_confusion *cm, int64_t pred, int64_t target); /* one sample; 0 or -1 */
int ax_confusion_num_classes(const ax_confusion *cm);
int64_t ax_confusion_count(const ax_confusion *cm, int target, int pred);
int64_t ax_confusion_total(const ax_confusion *cm);
int64_t ax_confusion_support(const ax_confusion *cm, int c); /* samples whose target is c */
double ax_confusion_accuracy(const ax_confusion *cm);
double ax_confusion_precision(const ax_confusion *cm, int c);
double ax_confusion_recall(const ax_confusion *cm, int c);
double ax_confusion_f1(const ax_confusion *cm, int c);
double ax_confusion_macro_precision(const ax_confusion *cm);
double ax_confusion_macro_recall(const ax_confusion *cm);
double ax_confusion_macro_f1(const ax_confusion *cm);
/* A per-class table (precision, recall, F1, support; accuracy; macro averages)
 * followed by the matrix. class_names (n_classes strings) may be NULL. */
void ax_confusion_print(const ax_confusion *cm, const char *const *class_names, FILE *f);

/* Fraction of rows where pred (ids [N] or logits [N, C]) equals target [N]; NAN after an error. */
double ax_accuracy(ax_tensor *pred, ax_tensor *target);

/* Regression over all elements of two same-shape tensors (any float or integer dtype),
 * accumulated in f64; NAN after an error (different shapes, empty tensors).
 * R² = 1 - SS_res / SS_tot over the flattened elements; when SS_tot = 0 (constant
 * target) it is 1 for a perfect prediction and 0 otherwise (scikit-learn's force_finite). */
double ax_mean_squared_error(ax_tensor *pred, ax_tensor *target);
double ax_mean_absolute_error(ax_tensor *pred, ax_tensor *target);
double ax_r2_score(ax_tensor *pred, ax_tensor *target);


/* ---- ranking and probabilistic metrics (scikit-learn's definitions) ----
 * Scores are f32 or f64 tensors on any device (read back to the host), the math is
 * double. Class ids are integer tensors [N]. The labels are always 0..C-1 (scikit-learn
 * called with labels=range(C) where it takes them). Where scikit-learn raises, these go
 * to the error handler with a message naming the function (and the class) and return
 * NAN; where scikit-learn returns NaN they return NAN without an error. docs/metrics.md
 * lists every case; tests/fixtures/metrics_ref.h records scikit-learn's answers. */

typedef enum ax_average { AX_AVERAGE_MACRO = 0, AX_AVERAGE_WEIGHTED } ax_average;

/* Binary ROC AUC: scores [N] (higher = more positive), target [N] of 0 / 1. Exact: the
 * samples are sorted by score, tied scores form one step of the curve (ties count 1/2).
 * NAN (no error) when target holds one class only, like scikit-learn. */
double ax_roc_auc(ax_tensor *scores, ax_tensor *target);
/* One-vs-rest ROC AUC over C >= 3 classes: probabilities [N, C] (rows must sum to 1, as
 * scikit-learn requires), target ids [N]; the mean of the C binary AUCs, unweighted
 * (macro) or weighted by each class's support (weighted). A class with no positive samples
 * makes the macro average NAN (no error) and counts 0 with its weight 0 in the weighted one. */
double ax_roc_auc_ovr(ax_tensor *scores, ax_tensor *target, ax_average average);
/* Average precision: sum over distinct thresholds (descending) of (R_n - R_{n-1}) P_n. */
double ax_average_precision(ax_tensor *scores, ax_tensor *target);
/* One-vs-rest average precision, scores [N, C] (any real scores), target ids [N]; every class
 * must occur in target (an error naming the class otherwise, as scikit-learn raises). */
double ax_average_precision_ovr(ax_tensor *scores, ax_tensor *target, ax_average average);
/* Fraction of rows whose target is among the k highest scores of scores [N, C]; tied scores
 * rank the higher class id first (scikit-learn's stable argsort, reversed). k >= 1; k >= C
 * gives 1 (scikit-learn warns that it is meaningless). */
double ax_top_k_accuracy(ax_tensor *scores, ax_tensor *target, int k);
/* Mean negative log-likelihood of probabilities [N, C] (C >= 2), clipped to [eps, 1 - eps],
 * eps the machine epsilon of the scores' dtype. A row that does not sum to 1 (within
 * 1e-8 + sqrt(eps)) is an error; scikit-learn 1.9 only warns there and computes the value. */
double ax_log_loss(ax_tensor *probs, ax_tensor *target);
/* The mean of the per-class recalls over the classes present in target; pred ids [N] or
 * scores [N, C] (argmax). */
double ax_balanced_accuracy(ax_tensor *pred, ax_tensor *target);
/* The same from a confusion matrix (classes with support > 0); NAN when it is empty. */
double ax_confusion_balanced_accuracy(const ax_confusion *cm);

#ifdef __cplusplus
}
#endif
#endif
