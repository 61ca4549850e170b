/* SPDX-License-Identifier: BSD-3-Clause */
/* `axon train --cv K`: stratified k-fold cross-validation on the training set through the
 * same trainer (tools/trainer.c); the test set is never read. See docs/metrics.md. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fail.h"
#include "tools/compress.h"

#define N_STATS 3 /* train loss, val loss, val accuracy */

static void mean_std(const double *v, int n, double *mean, double *std) {
  double s = 0, q = 0;
  for (int i = 0; i < n; i++) s += v[i];
  *mean = s / n;
  for (int i = 0; i < n; i++) q += (v[i] - *mean) * (v[i] - *mean);
  *std = n > 1 ? sqrt(q / (n - 1)) : 0; /* the sample standard deviation */
}

/* The labels of the first n training images used, into a new array; NULL with a reason. */
static int64_t *training_labels(const ax_train_config *c, int64_t *n, char *err, size_t errlen) {
  ax_dataset *ds = ax_dataset_by_name(c->dataset, c->data_dir, true, err, errlen);
  if (!ds) return NULL;
  *n = ax_dataset_size(ds);
  if (c->limit_train > 0 && c->limit_train < *n) *n = c->limit_train;
  int64_t *y = malloc((size_t)(*n > 0 ? *n : 1) * sizeof *y);
  ax_tensor *lb = ax_dataset_labels(ds);
  if (y && lb && lb->dtype == AX_I64 && ax_is_contiguous(lb) && lb->device.type == AX_DEVICE_CPU) {
    memcpy(y, ax_data_ptr(lb), (size_t)*n * sizeof *y);
  } else {
    free(y);
    y = AX__FAIL_NULL(err, errlen, "cannot read the training labels (i64 on the host)");
  }
  ax_dataset_free(ds);
  return y;
}

/* Fold f's order (its training indices, then its validation ones) into split; the validation count. */
static int64_t fold_split(const int *fold_of, int64_t n, int f, int64_t *split) {
  int64_t a = 0, nv = 0;
  for (int64_t i = 0; i < n; i++) nv += fold_of[i] == f;
  int64_t b = n - nv;
  for (int64_t i = 0; i < n; i++) split[fold_of[i] == f ? b++ : a++] = i;
  return nv;
}

static int write_summary(const ax_train_config *c, int k, double st[][N_STATS], char *err, size_t errlen) {
  static const char *keys[N_STATS] = {"train_loss", "val_loss", "val_accuracy"};
  FILE *log = c->log ? c->log : stdout, *f = c->metrics_path ? fopen(c->metrics_path, "a") : NULL;
  if (c->metrics_path && !f) return ax__fail(err, errlen, "cannot append to --metrics %s", c->metrics_path);
  fprintf(log, "\n%d-fold cross-validation of %s (stratified, seed %" PRIu64 "):\n%-6s %12s %12s %14s\n", k, c->model,
          c->seed, "fold", keys[0], keys[1], keys[2]);
  for (int i = 0; i < k; i++) fprintf(log, "%-6d %12.4f %12.4f %13.2f%%\n", i + 1, st[i][0], st[i][1], 100 * st[i][2]);
  if (f) fprintf(f, "{\"cv\": %d, \"model\": \"%s\"", k, c->model);
  fprintf(log, "%-6s", "mean");
  for (int j = 0; j < N_STATS; j++) {
    double v[64], m, s;
    for (int i = 0; i < k; i++) v[i] = st[i][j];
    mean_std(v, k, &m, &s);
    if (j < 2) fprintf(log, " %5.4f±%-6.4f", m, s);
    else fprintf(log, " %6.2f±%-5.2f%%\n", 100 * m, 100 * s);
    if (f) fprintf(f, ", \"%s_mean\": %.6f, \"%s_std\": %.6f", keys[j], m, keys[j], s);
  }
  if (f) fprintf(f, "}\n"), fclose(f);
  return 0;
}

int ax_tool_train_cv(const ax_train_config *c, char *err, size_t errlen) {
  if (c->cv < 2 || c->cv > 64) return ax__fail(err, errlen, "--cv %d: cross-validation takes 2 to 64 folds", c->cv);
  int64_t n = 0;
  int64_t *y = training_labels(c, &n, err, errlen);
  if (!y) return -1;
  int *fold_of = malloc((size_t)n * sizeof *fold_of);
  int64_t *split = malloc((size_t)n * sizeof *split);
  double st[64][N_STATS];
  char e2[512];
  int rc = fold_of && split ? 0 : ax__fail(err, errlen, "out of host memory");
  if (!rc && ax_kfold_indices(y, n, c->cv, true, c->seed, fold_of, e2, sizeof e2))
    rc = ax__fail(err, errlen, "--cv %d: %s", c->cv, e2);
  for (int f = 0; f < c->cv && !rc; f++) {
    ax_train_config fc = *c;
    fc.cv = 0, fc.fold = f + 1, fc.no_test = true, fc.limit_train = n, fc.split = split, fc.save_path = NULL;
    fc.val_size = (int)fold_split(fold_of, n, f, split);
    fprintf(c->log ? c->log : stdout, "fold %d/%d: %" PRId64 " training images, %d validation images\n", f + 1, c->cv,
            n - fc.val_size, fc.val_size);
    ax_train_report r;
    rc = ax_train(&fc, &r, err, errlen);
    st[f][0] = r.train_loss, st[f][1] = r.val_loss, st[f][2] = r.val_accuracy;
  }
  if (!rc) rc = write_summary(c, c->cv, st, err, errlen);
  free(y), free(fold_of), free(split);
  return rc;
}
