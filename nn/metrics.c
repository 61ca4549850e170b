/* Classification and regression metrics; see include/axon/metrics.h for the
 * conventions (scikit-learn's, with zero_division = 0). */
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
