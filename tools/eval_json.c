/* SPDX-License-Identifier: BSD-3-Clause */
/* `axon eval --metrics-json FILE`: every metric of include/axon/metrics.h on the test set,
 * as one JSON object (docs/metrics.md lists the keys). */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fail.h"
#include "tools/compress.h"

static void jnum(FILE *f, const char *key, double v, const char *sep) {
  if (isfinite(v)) fprintf(f, "\"%s\": %.10g%s", key, v, sep);
  else fprintf(f, "\"%s\": null%s", key, sep); /* NaN (a metric undefined on this data) */
}

/* Softmax probabilities (f64) of every test image into *probs [n, C] and the labels into *labels. */
static int collect(ax_module *model, ax_loader *ld, ax_device dev, double **probs, int64_t **labels, int64_t *n,
                   int64_t *C) {
  int64_t cap = 0;
  *n = 0, *C = 0, *probs = NULL, *labels = NULL;
  bool was_training = ax_module_is_training(model);
  ax_module_train(model, false);
  ax_no_grad_begin();
  ax_loader_start_epoch(ld, 0);
  ax_tensor *x, *y;
  int rc = 0;
  while (rc == 0) {
    ax_scope_begin();
    if (ax_loader_next(ld, &x, &y) != 1) {
      ax_scope_end();
      break;
    }
    ax_tensor *p = ax_to(ax_softmax(ax_cast(ax_module_forward(model, ax_to(x, dev)), AX_F64), 1), AX_CPU);
    ax_tensor *yc = ax_contiguous(ax_cast(y, AX_I64));
    int64_t b = p ? p->shape[0] : 0;
    if (!p || !yc || (*C && p->shape[1] != *C)) rc = -1;
    if (!rc && *n + b > cap) {
      cap = 2 * (*n + b);
      double *np = realloc(*probs, (size_t)(cap * p->shape[1]) * sizeof *np);
      int64_t *nl = realloc(*labels, (size_t)cap * sizeof *nl);
      if (np) *probs = np;
      if (nl) *labels = nl;
      if (!np || !nl) rc = -1;
    }
    if (!rc) {
      *C = p->shape[1];
      rc = ax_to_data(p, *probs + *n * *C, (size_t)(b * *C) * sizeof(double)) ||
           ax_to_data(yc, *labels + *n, (size_t)b * sizeof(int64_t));
      *n += b;
    }
    ax_scope_end();
  }
  ax_no_grad_end();
  ax_module_train(model, was_training);
  return rc || *n == 0 ? -1 : 0;
}

static void write_classes(FILE *f, const ax_confusion *cm, int C) {
  fprintf(f, "  \"per_class\": [\n");
  for (int c = 0; c < C; c++) {
    fprintf(f, "    {\"class\": %d, ", c);
    jnum(f, "precision", ax_confusion_precision(cm, c), ", ");
    jnum(f, "recall", ax_confusion_recall(cm, c), ", ");
    jnum(f, "f1", ax_confusion_f1(cm, c), ", ");
    fprintf(f, "\"support\": %" PRId64 "}%s\n", ax_confusion_support(cm, c), c + 1 < C ? "," : "");
  }
  fprintf(f, "  ],\n  \"confusion_matrix\": [\n");
  for (int t = 0; t < C; t++) {
    fprintf(f, "    [");
    for (int p = 0; p < C; p++) fprintf(f, "%s%" PRId64, p ? ", " : "", ax_confusion_count(cm, t, p));
    fprintf(f, "]%s\n", t + 1 < C ? "," : "");
  }
  fprintf(f, "  ]\n");
}

static void write_metrics(FILE *f, const char *weights, ax_tensor *P, ax_tensor *Y, const ax_confusion *cm, int C) {
  fprintf(f, "{\n  \"weights\": \"%s\",\n  \"n\": %" PRId64 ",\n  \"num_classes\": %d,\n  ", weights, Y->shape[0], C);
  jnum(f, "accuracy", ax_confusion_accuracy(cm), ",\n  ");
  jnum(f, "balanced_accuracy", ax_confusion_balanced_accuracy(cm), ",\n  ");
  fprintf(f, "\"top_k_accuracy\": {");
  jnum(f, "1", ax_top_k_accuracy(P, Y, 1), ", ");
  jnum(f, "3", ax_top_k_accuracy(P, Y, 3), ", ");
  jnum(f, "5", ax_top_k_accuracy(P, Y, 5), "},\n  ");
  jnum(f, "log_loss", ax_log_loss(P, Y), ",\n  ");
  jnum(f, "roc_auc_ovr_macro", ax_roc_auc_ovr(P, Y, AX_AVERAGE_MACRO), ",\n  ");
  jnum(f, "roc_auc_ovr_weighted", ax_roc_auc_ovr(P, Y, AX_AVERAGE_WEIGHTED), ",\n  ");
  jnum(f, "average_precision_macro", ax_average_precision_ovr(P, Y, AX_AVERAGE_MACRO), ",\n  ");
  jnum(f, "macro_precision", ax_confusion_macro_precision(cm), ",\n  ");
  jnum(f, "macro_recall", ax_confusion_macro_recall(cm), ",\n  ");
  jnum(f, "macro_f1", ax_confusion_macro_f1(cm), ",\n");
  write_classes(f, cm, C);
  fprintf(f, "}\n");
}

int ax_tool_eval_metrics_json(ax_module *model, ax_loader *ld, ax_device dev, const char *path, const char *weights,
                              char *err, size_t errlen) {
  double *probs = NULL;
  int64_t *labels = NULL, n = 0, C = 0;
  if (collect(model, ld, dev, &probs, &labels, &n, &C)) {
    free(probs), free(labels);
    return ax__fail(err, errlen, "--metrics-json: cannot evaluate the model: %s", ax_last_error());
  }
  ax_scope_begin();
  ax_tensor *P = ax_from_data(probs, AX_SHAPE(n, C), &(ax_tensor_opts){.dtype = AX_F64});
  ax_tensor *Y = ax_from_data(labels, AX_SHAPE(n), &(ax_tensor_opts){.dtype = AX_I64});
  ax_confusion *cm = ax_confusion_new((int)C);
  FILE *f = P && Y && cm && ax_confusion_update(cm, P, Y) == 0 ? fopen(path, "w") : NULL;
  int rc = f ? 0 : ax__fail(err, errlen, "--metrics-json %s: cannot write it", path);
  if (f) {
    write_metrics(f, weights, P, Y, cm, (int)C);
    if (fclose(f) != 0) rc = ax__fail(err, errlen, "--metrics-json %s: cannot write it", path);
  }
  ax_confusion_free(cm);
  ax_scope_end();
  free(probs), free(labels);
  return rc;
}
