/* SPDX-License-Identifier: BSD-3-Clause */
/* Classification and regression metrics; see include/axon/metrics.h for the
 * conventions (scikit-learn's, with zero_division = 0). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "axon/metrics.h"
#include "axon/ops.h"
#include "core/internal.h"

struct ax_confusion {
  int n;
  int64_t *m; /* n x n, row = target, column = prediction */
};

ax_confusion *ax_confusion_new(int n_classes) {
  if (n_classes < 1 || n_classes > (1 << 15)) return NULL;
  ax_confusion *cm = calloc(1, sizeof *cm);
  if (!cm) return NULL;
  cm->n = n_classes;
  cm->m = calloc((size_t)n_classes * (size_t)n_classes, sizeof *cm->m);
  if (!cm->m) {
    free(cm);
    return NULL;
  }
  return cm;
}

void ax_confusion_free(ax_confusion *cm) {
  if (!cm) return;
  free(cm->m);
  free(cm);
}

void ax_confusion_reset(ax_confusion *cm) {
  if (cm) memset(cm->m, 0, (size_t)cm->n * (size_t)cm->n * sizeof *cm->m);
}

/* t's elements as a malloc'd host array of dt (I64 or F64); NULL after an error. */
static void *host_copy(ax_tensor *t, ax_dtype dt) {
  void *buf = malloc((size_t)(ax_numel(t) > 0 ? ax_numel(t) : 1) * 8);
  if (!buf) return NULL;
  ax_scope_begin();
  ax_tensor *h = ax_cast(ax_to(ax_detach(t), AX_CPU), dt);
  int rc = h ? ax_to_data(h, buf, (size_t)ax_numel(t) * 8) : -1;
  ax_scope_end();
  if (rc != 0) {
    free(buf);
    return NULL;
  }
  return buf;
}

/* Class ids of pred (ids [N] or scores [N, C]) and target [N], checked against each other. */
static int read_ids(const char *op, ax_tensor *pred, ax_tensor *target, int64_t **p, int64_t **t) {
  *p = *t = NULL;
  if (!pred || !target) return -1;
  bool scores = ax_dtype_is_float(pred->dtype);
  if (target->ndim != 1 || ax_dtype_is_float(target->dtype)) {
    ax_error("%s: target must be integer class ids [N], got %s %s", op, ax_dtype_name(target->dtype), ax__shp(target));
    return -1;
  }
  if ((scores && pred->ndim != 2) || (!scores && pred->ndim != 1) || pred->shape[0] != target->shape[0]) {
    ax_error("%s: predictions must be class ids [N] or scores [N, C] matching target %s, got %s %s", op,
             ax__shp(target), ax_dtype_name(pred->dtype), ax__shp(pred));
    return -1;
  }
  ax_scope_begin();
  ax_tensor *ids = scores ? ax_argmax(ax_detach(pred), 1, false) : pred;
  *p = ids ? host_copy(ids, AX_I64) : NULL;
  ax_scope_end();
  *t = host_copy(target, AX_I64);
  if (!*p || !*t) {
    free(*p);
    free(*t);
    *p = *t = NULL;
    return -1;
  }
  return 0;
}

int ax_confusion_add(ax_confusion *cm, int64_t pred, int64_t target) {
  if (!cm) return -1;
  if (pred < 0 || pred >= cm->n || target < 0 || target >= cm->n) {
    ax_error("ax_confusion_update: class id out of range (prediction %lld, target %lld, %d classes)", (long long)pred,
             (long long)target, cm->n);
    return -1;
  }
  cm->m[target * cm->n + pred]++;
  return 0;
}

int ax_confusion_update(ax_confusion *cm, ax_tensor *pred, ax_tensor *target) {
  if (!cm) return -1;
  int64_t *p, *t;
  if (read_ids("ax_confusion_update", pred, target, &p, &t) != 0) return -1;
  int64_t n = target->shape[0];
  int rc = 0;
  /* validate everything first so a bad batch leaves the matrix unchanged */
  for (int64_t i = 0; i < n && rc == 0; i++)
    if (p[i] < 0 || p[i] >= cm->n || t[i] < 0 || t[i] >= cm->n) rc = ax_confusion_add(cm, p[i], t[i]);
  for (int64_t i = 0; i < n && rc == 0; i++) cm->m[t[i] * cm->n + p[i]]++;
  free(p);
  free(t);
  return rc;
}

int ax_confusion_num_classes(const ax_confusion *cm) { return cm ? cm->n : 0; }

int64_t ax_confusion_count(const ax_confusion *cm, int target, int pred) {
  if (!cm || target < 0 || target >= cm->n || pred < 0 || pred >= cm->n) return 0;
  return cm->m[(int64_t)target * cm->n + pred];
}

int64_t ax_confusion_total(const ax_confusion *cm) {
  int64_t s = 0;
  for (int64_t i = 0; cm && i < (int64_t)cm->n * cm->n; i++) s += cm->m[i];
  return s;
}

int64_t ax_confusion_support(const ax_confusion *cm, int c) {
  int64_t s = 0;
  for (int p = 0; cm && c >= 0 && c < cm->n && p < cm->n; p++) s += cm->m[(int64_t)c * cm->n + p];
  return s;
}

static int64_t predicted(const ax_confusion *cm, int c) {
  int64_t s = 0;
  for (int t = 0; cm && c >= 0 && c < cm->n && t < cm->n; t++) s += cm->m[(int64_t)t * cm->n + c];
  return s;
}

static double ratio(int64_t a, int64_t b) { return b > 0 ? (double)a / (double)b : 0.0; }

double ax_confusion_accuracy(const ax_confusion *cm) {
  int64_t hit = 0;
  for (int c = 0; cm && c < cm->n; c++) hit += cm->m[(int64_t)c * cm->n + c];
  return ratio(hit, ax_confusion_total(cm));
}

double ax_confusion_precision(const ax_confusion *cm, int c) {
  return ratio(ax_confusion_count(cm, c, c), predicted(cm, c));
}

double ax_confusion_recall(const ax_confusion *cm, int c) {
  return ratio(ax_confusion_count(cm, c, c), ax_confusion_support(cm, c));
}

double ax_confusion_f1(const ax_confusion *cm, int c) {
  double p = ax_confusion_precision(cm, c), r = ax_confusion_recall(cm, c);
  return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
}

static double macro(const ax_confusion *cm, double (*metric)(const ax_confusion *, int)) {
  double s = 0;
  int k = 0;
  for (int c = 0; cm && c < cm->n; c++)
    if (ax_confusion_support(cm, c) > 0 || predicted(cm, c) > 0) {
      s += metric(cm, c);
      k++;
    }
  return k ? s / k : 0.0;
}

double ax_confusion_macro_precision(const ax_confusion *cm) { return macro(cm, ax_confusion_precision); }
double ax_confusion_macro_recall(const ax_confusion *cm) { return macro(cm, ax_confusion_recall); }
double ax_confusion_macro_f1(const ax_confusion *cm) { return macro(cm, ax_confusion_f1); }

void ax_confusion_print(const ax_confusion *cm, const char *const *class_names, FILE *f) {
  if (!cm || !f) return;
  int w = 5; /* width of the class column */
  for (int c = 0; class_names && c < cm->n; c++) {
    int l = (int)strlen(class_names[c]) + 4;
    if (l > w) w = l;
  }
  if (w < 12) w = 12;
  char label[256];
  fprintf(f, "%-*s %9s %9s %9s %9s\n", w, "class", "precision", "recall", "f1-score", "support");
  for (int c = 0; c < cm->n; c++) {
    if (class_names) snprintf(label, sizeof label, "%d %s", c, class_names[c]);
    else snprintf(label, sizeof label, "%d", c);
    fprintf(f, "%-*s %9.4f %9.4f %9.4f %9lld\n", w, label, ax_confusion_precision(cm, c), ax_confusion_recall(cm, c),
            ax_confusion_f1(cm, c), (long long)ax_confusion_support(cm, c));
  }
  long long total = (long long)ax_confusion_total(cm);
  fprintf(f, "\n%-*s %9s %9s %9.4f %9lld\n", w, "accuracy", "", "", ax_confusion_accuracy(cm), total);
  fprintf(f, "%-*s %9.4f %9.4f %9.4f %9lld\n", w, "macro avg", ax_confusion_macro_precision(cm),
          ax_confusion_macro_recall(cm), ax_confusion_macro_f1(cm), total);

  /* column width: the widest count */
  int cw = 4;
  for (int64_t i = 0; i < (int64_t)cm->n * cm->n; i++) {
    int l = snprintf(label, sizeof label, "%lld", (long long)cm->m[i]) + 1;
    if (l > cw) cw = l;
  }
  fprintf(f, "\nconfusion matrix (rows: true class, columns: predicted class)\n%-*s", w, "");
  for (int p = 0; p < cm->n; p++) fprintf(f, " %*d", cw, p);
  fputc('\n', f);
  for (int t = 0; t < cm->n; t++) {
    if (class_names) snprintf(label, sizeof label, "%d %s", t, class_names[t]);
    else snprintf(label, sizeof label, "%d", t);
    fprintf(f, "%-*s", w, label);
    for (int p = 0; p < cm->n; p++) fprintf(f, " %*lld", cw, (long long)cm->m[(int64_t)t * cm->n + p]);
    fputc('\n', f);
  }
}

double ax_accuracy(ax_tensor *pred, ax_tensor *target) {
  int64_t *p, *t;
  if (read_ids("ax_accuracy", pred, target, &p, &t) != 0) return NAN;
  int64_t n = target->shape[0], hit = 0;
  for (int64_t i = 0; i < n; i++) hit += p[i] == t[i];
  free(p);
  free(t);
  return ratio(hit, n);
}

/* ---- regression ---- */

typedef struct reg_sums {
  double sq, abs, n, ss_tot;
} reg_sums;

static int regression(const char *op, ax_tensor *pred, ax_tensor *target, reg_sums *s) {
  if (!pred || !target) return -1;
  if (!ax_same_shape(pred, target) || ax_numel(target) == 0) {
    ax_error("%s: prediction %s and target %s must have the same non-empty shape", op, ax__shp(pred), ax__shp(target));
    return -1;
  }
  double *p = host_copy(pred, AX_F64), *t = host_copy(target, AX_F64);
  if (!p || !t) {
    free(p);
    free(t);
    return -1;
  }
  int64_t n = ax_numel(target);
  double mean = 0;
  memset(s, 0, sizeof *s);
  for (int64_t i = 0; i < n; i++) {
    double d = p[i] - t[i];
    s->sq += d * d;
    s->abs += fabs(d);
    mean += t[i];
  }
  mean /= (double)n;
  for (int64_t i = 0; i < n; i++) s->ss_tot += (t[i] - mean) * (t[i] - mean);
  s->n = (double)n;
  free(p);
  free(t);
  return 0;
}

double ax_mean_squared_error(ax_tensor *pred, ax_tensor *target) {
  reg_sums s;
  return regression("ax_mean_squared_error", pred, target, &s) ? NAN : s.sq / s.n;
}

double ax_mean_absolute_error(ax_tensor *pred, ax_tensor *target) {
  reg_sums s;
  return regression("ax_mean_absolute_error", pred, target, &s) ? NAN : s.abs / s.n;
}

double ax_r2_score(ax_tensor *pred, ax_tensor *target) {
  reg_sums s;
  if (regression("ax_r2_score", pred, target, &s)) return NAN;
  if (s.ss_tot == 0) return s.sq == 0 ? 1.0 : 0.0;
  return 1.0 - s.sq / s.ss_tot;
}

/* ---- ranking and probabilistic metrics ---- */

/* Reads scores ([N] when want_2d is false, [N, C] when true; f32 / f64) and target ids [N]
 * to the host as doubles and i64. */
static int read_scores(const char *op, ax_tensor *scores, ax_tensor *target, bool want_2d, double **s, int64_t **t) {
  *s = NULL;
  *t = NULL;
  if (!scores || !target) return -1;
  if (scores->dtype != AX_F32 && scores->dtype != AX_F64) {
    ax_error("%s: scores must be f32 or f64, got %s %s", op, ax_dtype_name(scores->dtype), ax__shp(scores));
    return -1;
  }
  if (target->ndim != 1 || ax_dtype_is_float(target->dtype)) {
    ax_error("%s: target must be integer class ids [N], got %s %s", op, ax_dtype_name(target->dtype), ax__shp(target));
    return -1;
  }
  if (scores->ndim != (want_2d ? 2 : 1) || scores->shape[0] != target->shape[0]) {
    ax_error("%s: scores must be %s matching target %s, got %s", op, want_2d ? "[N, C]" : "[N]", ax__shp(target),
             ax__shp(scores));
    return -1;
  }
  if (target->shape[0] == 0) {
    ax_error("%s: no samples (target %s)", op, ax__shp(target));
    return -1;
  }
  *s = host_copy(scores, AX_F64);
  *t = host_copy(target, AX_I64);
  for (int64_t i = 0, n = ax_numel(scores); *s && *t && i < n; i++)
    if (!isfinite((*s)[i])) { /* scikit-learn's check_array: "Input contains NaN / infinity" */
      ax_error("%s: score %lld is %g (scores must be finite)", op, (long long)i, (*s)[i]);
      free(*s);
      *s = NULL;
    }
  if (!*s || !*t) {
    free(*s);
    free(*t);
    *s = NULL;
    *t = NULL;
    return -1;
  }
  return 0;
}

static int check_ids(const char *op, const int64_t *t, int64_t n, int64_t classes) {
  for (int64_t i = 0; i < n; i++)
    if (t[i] < 0 || t[i] >= classes) {
      ax_error("%s: target %lld (sample %lld) is not a class id in [0, %lld)", op, (long long)t[i], (long long)i,
               (long long)classes);
      return -1;
    }
  return 0;
}

typedef struct scored {
  double s;
  int pos;
} scored;

static int by_score_desc(const void *a, const void *b) {
  double x = ((const scored *)a)->s, y = ((const scored *)b)->s;
  return x > y ? -1 : x < y ? 1 : 0;
}

/* Sorted (score, positive?) pairs of column c of s [n, stride] against class c; NULL on OOM. */
static scored *ranked(const double *s, int64_t stride, int64_t c, const int64_t *t, int64_t cls, int64_t n,
                      int64_t *npos) {
  scored *v = malloc((size_t)n * sizeof *v);
  if (!v) {
    ax_error("metrics: out of host memory for %lld scores", (long long)n);
    return NULL;
  }
  *npos = 0;
  for (int64_t i = 0; i < n; i++) {
    v[i].s = s[i * stride + c];
    v[i].pos = t[i] == cls;
    *npos += v[i].pos;
  }
  qsort(v, (size_t)n, sizeof *v, by_score_desc);
  return v;
}

/* The ROC curve through the distinct thresholds, integrated by trapezoids (scikit-learn's
 * roc_curve + auc); the caller checks both classes are present. */
static double roc_area(const scored *v, int64_t n, int64_t npos) {
  double tp = 0, fp = 0, area = 0;
  for (int64_t i = 0; i < n;) {
    double tp0 = tp, fp0 = fp;
    int64_t j = i;
    for (; j < n && v[j].s == v[i].s; j++) {
      tp += v[j].pos;
      fp += !v[j].pos;
    }
    area += (fp - fp0) * (tp + tp0) / 2;
    i = j;
  }
  return area / ((double)npos * (double)(n - npos));
}

/* scikit-learn's average precision: precision_recall_curve's steps, sum (R_n - R_{n-1}) P_n;
 * with no positive sample recall is 1 everywhere and the sum is 0. */
static double ap_area(const scored *v, int64_t n, int64_t npos) {
  if (npos == 0) return 0.0;
  double tp = 0, fp = 0, ap = 0, r0 = 0;
  for (int64_t i = 0; i < n;) {
    int64_t j = i;
    for (; j < n && v[j].s == v[i].s; j++) {
      tp += v[j].pos;
      fp += !v[j].pos;
    }
    double r = tp / (double)npos;
    ap += (r - r0) * (tp / (tp + fp));
    r0 = r;
    i = j;
  }
  return ap;
}

static int check_binary(const char *op, const int64_t *t, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (t[i] != 0 && t[i] != 1) {
      ax_error("%s: binary target must be 0 or 1, got %lld at sample %lld", op, (long long)t[i], (long long)i);
      return -1;
    }
  return 0;
}

/* A binary metric: the area `area` gives over the samples ranked by score. A target of one
 * class only gives NaN where scikit-learn's does (ROC-AUC: it warns and returns NaN). */
static double binary_area(const char *op, ax_tensor *scores, ax_tensor *target,
                          double (*area)(const scored *v, int64_t n, int64_t npos), bool nan_if_one_class) {
  double *s;
  int64_t *t, npos;
  if (read_scores(op, scores, target, false, &s, &t)) return NAN;
  int64_t n = target->shape[0];
  double r = NAN;
  scored *v = check_binary(op, t, n) ? NULL : ranked(s, 1, 0, t, 1, n, &npos);
  if (v && !(nan_if_one_class && (npos == 0 || npos == n))) r = area(v, n, npos);
  free(v);
  free(s);
  free(t);
  return r;
}

double ax_roc_auc(ax_tensor *scores, ax_tensor *target) {
  return binary_area("ax_roc_auc", scores, target, roc_area, true);
}

double ax_average_precision(ax_tensor *scores, ax_tensor *target) {
  return binary_area("ax_average_precision", scores, target, ap_area, false);
}

static bool check_average(const char *op, ax_average a) {
  if (a == AX_AVERAGE_MACRO || a == AX_AVERAGE_WEIGHTED) return true;
  ax_error("%s: invalid average %d (use AX_AVERAGE_MACRO or AX_AVERAGE_WEIGHTED)", op, (int)a);
  return false;
}

/* One-vs-rest: the binary metric of every column, averaged. roc: ROC AUC (else AP). */
static double ovr(const char *op, ax_tensor *scores, ax_tensor *target, ax_average average, bool roc) {
  if (!check_average(op, average)) return NAN;
  double *s;
  int64_t *t;
  if (read_scores(op, scores, target, true, &s, &t)) return NAN;
  int64_t n = target->shape[0], C = scores->shape[1];
  double r = NAN;
  if (C < 3) {
    ax_error("%s: one-vs-rest needs scores [N, C] with C >= 3, got %s (for two classes use the binary form on "
             "the positive column)", op, ax__shp(scores));
    goto done;
  }
  if (check_ids(op, t, n, C)) goto done;
  if (roc) /* scikit-learn: np.allclose(1, y_score.sum(axis=1)) */
    for (int64_t i = 0; i < n; i++) {
      double sum = 0;
      for (int64_t c = 0; c < C; c++) sum += s[i * C + c];
      if (!(fabs(sum - 1) <= 1e-8 + 1e-5 * fabs(sum))) {
        ax_error("%s: scores must be probabilities summing to 1 over the classes; row %lld sums to %.17g", op,
                 (long long)i, sum);
        goto done;
      }
    }
  /* average precision: scikit-learn binarizes target over np.unique(target), so a class
   * absent from target leaves fewer columns than scores have, and it raises */
  for (int64_t c = 0; !roc && c < C; c++) {
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) k += t[i] == c;
    if (k == 0) {
      ax_error("%s: class %lld has no positive samples in target; average precision is not defined for it", op,
               (long long)c);
      goto done;
    }
  }
  double sum = 0, wsum = 0;
  for (int64_t c = 0; c < C; c++) {
    int64_t npos;
    scored *v = ranked(s, C, c, t, c, n, &npos);
    if (!v) goto done;
    /* ROC AUC of a class with one kind of sample: NaN (scikit-learn warns); weighted, a
     * class of weight 0 counts 0 (scikit-learn forces the scores of 0-weight classes to 0) */
    double m = !roc ? ap_area(v, n, npos) : npos == 0 || npos == n ? NAN : roc_area(v, n, npos);
    free(v);
    double w = average == AX_AVERAGE_WEIGHTED ? (double)npos : 1.0;
    sum += w == 0 ? 0.0 : w * m;
    wsum += w;
  }
  r = sum / wsum;
done:
  free(s);
  free(t);
  return r;
}

double ax_roc_auc_ovr(ax_tensor *scores, ax_tensor *target, ax_average average) {
  return ovr("ax_roc_auc_ovr", scores, target, average, true);
}

double ax_average_precision_ovr(ax_tensor *scores, ax_tensor *target, ax_average average) {
  return ovr("ax_average_precision_ovr", scores, target, average, false);
}

double ax_top_k_accuracy(ax_tensor *scores, ax_tensor *target, int k) {
  const char *op = "ax_top_k_accuracy";
  double *s;
  int64_t *t;
  if (read_scores(op, scores, target, true, &s, &t)) return NAN;
  int64_t n = target->shape[0], C = scores->shape[1];
  double r = NAN;
  if (k < 1) { /* k >= C is allowed and gives 1, as in scikit-learn (which warns) */
    ax_error("%s: k = %d is out of range (k >= 1; %lld classes)", op, k, (long long)C);
  } else if (check_ids(op, t, n, C) == 0) {
    int64_t hit = 0;
    for (int64_t i = 0; i < n; i++) {
      const double *row = s + i * C;
      int64_t y = t[i], above = 0; /* classes ranked before y */
      for (int64_t c = 0; c < C; c++) above += row[c] > row[y] || (row[c] == row[y] && c > y);
      hit += above < k;
    }
    r = (double)hit / (double)n;
  }
  free(s);
  free(t);
  return r;
}

double ax_log_loss(ax_tensor *probs, ax_tensor *target) {
  const char *op = "ax_log_loss";
  double *s;
  int64_t *t;
  if (read_scores(op, probs, target, true, &s, &t)) return NAN;
  int64_t n = target->shape[0], C = probs->shape[1];
  double r = NAN, eps = probs->dtype == AX_F32 ? (double)FLT_EPSILON : DBL_EPSILON;
  if (C < 2) {
    ax_error("%s: probabilities [N, C] need C >= 2 classes, got %s", op, ax__shp(probs));
    goto done;
  }
  if (check_ids(op, t, n, C)) goto done;
  double total = 0;
  for (int64_t i = 0; i < n; i++) {
    double sum = 0;
    for (int64_t c = 0; c < C; c++) {
      double p = s[i * C + c];
      if (!(p >= 0 && p <= 1)) {
        ax_error("%s: probability %.17g (row %lld, class %lld) is outside [0, 1]", op, p, (long long)i, (long long)c);
        goto done;
      }
      sum += p;
    }
    /* scikit-learn: np.isclose(sum, 1, rtol=sqrt(eps)) with its default atol 1e-8 */
    if (!(fabs(sum - 1) <= 1e-8 + sqrt(eps))) {
      ax_error("%s: row %lld of the probabilities sums to %.17g, not 1", op, (long long)i, sum);
      goto done;
    }
    double p = s[i * C + t[i]];
    p = p < eps ? eps : p > 1 - eps ? 1 - eps : p;
    total -= log(p);
  }
  r = total / (double)n;
done:
  free(s);
  free(t);
  return r;
}

double ax_confusion_balanced_accuracy(const ax_confusion *cm) {
  double sum = 0;
  int k = 0;
  for (int c = 0; cm && c < cm->n; c++)
    if (ax_confusion_support(cm, c) > 0) {
      sum += ax_confusion_recall(cm, c);
      k++;
    }
  return k ? sum / k : NAN;
}

double ax_balanced_accuracy(ax_tensor *pred, ax_tensor *target) {
  const char *op = "ax_balanced_accuracy";
  int64_t *p, *t;
  if (read_ids(op, pred, target, &p, &t) != 0) return NAN;
  int64_t n = target->shape[0], hi = 0;
  double r = NAN;
  if (n == 0) {
    ax_error("%s: no samples (target %s)", op, ax__shp(target));
    goto done;
  }
  for (int64_t i = 0; i < n; i++) {
    if (p[i] < 0 || t[i] < 0) {
      ax_error("%s: negative class id (prediction %lld, target %lld at sample %lld)", op, (long long)p[i],
               (long long)t[i], (long long)i);
      goto done;
    }
    if (t[i] > hi) hi = t[i];
  }
  int64_t *hit = calloc((size_t)(hi + 1) * 2, sizeof *hit);
  if (!hit) {
    ax_error("%s: out of host memory for %lld classes", op, (long long)hi + 1);
    goto done;
  }
  for (int64_t i = 0; i < n; i++) {
    hit[t[i]] += p[i] == t[i];
    hit[hi + 1 + t[i]]++;
  }
  double sum = 0;
  int64_t k = 0;
  for (int64_t c = 0; c <= hi; c++)
    if (hit[hi + 1 + c]) {
      sum += (double)hit[c] / (double)hit[hi + 1 + c];
      k++;
    }
  free(hit);
  r = sum / (double)k;
done:
  free(p);
  free(t);
  return r;
}
