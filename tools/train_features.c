/* SPDX-License-Identifier: BSD-3-Clause */
/* See tools/train_features.h. */
#include "tools/train_features.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fail.h"

static ax_tensor *sample_tensor(const ax_dataset *ds) {
  return ax_dataset_features(ds) ? ax_dataset_features(ds) : ax_dataset_images(ds);
}

void ax_tool_sample_shape(const ax_dataset *ds, char *buf, size_t n) {
  ax_tensor *t = sample_tensor(ds);
  size_t k = 0;
  buf[0] = 0;
  for (int i = 1; t && i < t->ndim && k < n; i++)
    k += (size_t)snprintf(buf + k, n - k, i > 1 ? ",%" PRId64 : "%" PRId64, t->shape[i]);
}

int64_t ax_tool_sample_size(const ax_dataset *ds) {
  ax_tensor *t = sample_tensor(ds);
  int64_t per = 1;
  for (int i = 1; t && i < t->ndim; i++) per *= t->shape[i];
  return per;
}

/* The rows idx[0..n) of ds as a new dataset. */
static ax_dataset *take_rows(const ax_dataset *ds, const int64_t *idx, int64_t n, char *err, size_t errlen) {
  ax_tensor *t = sample_tensor(ds);
  size_t row = (size_t)ax_tool_sample_size(ds) * ax_dtype_size(t->dtype);
  uint8_t *x = malloc((size_t)n * row + 1);
  int64_t *y = malloc((size_t)n * sizeof *y + 1);
  ax_dataset *out = NULL;
  if (x && y) {
    const uint8_t *src = ax_data_ptr(t);
    const int64_t *lab = ax_data_ptr(ax_dataset_labels(ds));
    for (int64_t i = 0; i < n; i++) memcpy(x + (size_t)i * row, src + (size_t)idx[i] * row, row), y[i] = lab[idx[i]];
    int64_t shape[AX_MAX_DIMS];
    memcpy(shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
    shape[0] = n;
    ax_scope_begin();
    out = ax_dataset_from_arrays(ax_from_data(x, t->ndim, shape, &(ax_tensor_opts){.dtype = t->dtype}),
                                 ax_from_data(y, AX_SHAPE(n), &(ax_tensor_opts){.dtype = AX_I64}), err, errlen);
    ax_scope_end();
  } else {
    ax__fail(err, errlen, "out of host memory");
  }
  free(x);
  free(y);
  return out;
}

/* x and y of the file (CSV, or the npz's members `xname` / `yname`) as a dataset. */
static ax_dataset *load_arrays(const ax_feature_source *s, const char *xname, const char *yname, char *err,
                               size_t errlen) {
  ax_dataset *ds = NULL;
  ax_tensor *x = NULL, *y = NULL;
  ax_scope_begin();
  int rc = s->csv ? ax_csv_load(s->csv, &(ax_csv_opts){.label_col = s->label_col, .header = -1}, &x, &y, err, errlen)
                  : (x = ax_npz_load(s->npz, xname, err, errlen)) && (y = ax_npz_load(s->npz, yname, err, errlen)) ? 0 : -1;
  if (rc == 0 && !(ds = ax_dataset_from_arrays(x, y, err, errlen))) {
    char e2[512];
    snprintf(e2, sizeof e2, "%s", err);
    ax__fail(err, errlen, "%s: %s", s->csv ? s->csv : s->npz, e2);
  }
  ax_scope_end();
  return ds;
}

int ax_tool_load_features(const ax_feature_source *s, ax_dataset **train, ax_dataset **test, char *err, size_t errlen) {
  *train = *test = NULL;
  char probe[512];
  if (s->npz) { /* an archive with its own test split */
    ax_scope_begin();
    bool has_test = ax_npz_load(s->npz, "x_test", probe, sizeof probe) && ax_npz_load(s->npz, "y_test", probe, sizeof probe);
    ax_scope_end();
    if (has_test) {
      if (!(*train = load_arrays(s, "x", "y", err, errlen)) || !(*test = load_arrays(s, "x_test", "y_test", err, errlen)))
        return ax_dataset_free(*train), *train = NULL, -1;
      return 0;
    }
  }
  ax_dataset *all = load_arrays(s, "x", "y", err, errlen);
  if (!all) return -1;
  int64_t n = ax_dataset_size(all), n_test = s->test_size > 0 ? s->test_size : n / 5;
  if (n_test < 1 || n_test >= n) {
    ax_dataset_free(all);
    return ax__fail(err, errlen, "%s: %" PRId64 " rows cannot give a test set of %" PRId64 " and a training set (--test-size)",
                    s->csv ? s->csv : s->npz, n, n_test);
  }
  int64_t *idx = malloc((size_t)n * sizeof *idx);
  bool oom = !idx;
  if (idx) ax_dataset_split(n, n_test, s->seed, idx, idx + (n - n_test));
  *train = idx ? take_rows(all, idx, n - n_test, err, errlen) : NULL;
  *test = *train ? take_rows(all, idx + (n - n_test), n_test, err, errlen) : NULL;
  free(idx);
  ax_dataset_free(all);
  if (!*test) return ax_dataset_free(*train), *train = NULL, oom ? ax__fail(err, errlen, "out of host memory") : -1;
  return 0;
}
