/* SPDX-License-Identifier: BSD-3-Clause */
/* See tools/train_features.h. */
#include "tools/train_features.h"

#include <inttypes.h>
#include <math.h>
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

/* ---- axon eval of the feature MLP ---- */

/* n comma-separated finite floats of metadata key into v (std: each > 0). 0, or -1 with a reason. */
static int meta_floats(const ax_state_dict *sd, const char *key, const char *path, int n, bool positive, float *v,
                       char *err, size_t errlen) {
  const char *s = ax_state_dict_meta(sd, key);
  if (!s) return ax__fail(err, errlen, "%s: no %s in the metadata: the file does not say how to normalize the data", path, key);
  for (int i = 0; i < n; i++) {
    char *end;
    v[i] = strtof(s, &end);
    if (end == s || !isfinite(v[i]) || (positive && !(v[i] > 0)) || (i < n - 1 ? *end != ',' : *end != 0))
      return ax__fail(err, errlen, "%s: metadata %s is not %d finite numbers%s", path, key, n, positive ? " > 0" : "");
    s = end + 1;
  }
  return 0;
}

static int64_t meta_int(const ax_state_dict *sd, const char *key, int64_t def) {
  const char *s = ax_state_dict_meta(sd, key);
  char *end;
  long long v = s ? strtoll(s, &end, 10) : 0;
  return s && end != s && !*end && v >= 0 ? (int64_t)v : def;
}

/* The test split of the file's data, checked against the weights' input shape. */
static int eval_data(const ax_eval_config *c, const ax_state_dict *sd, FILE *out, ax_dataset **train, ax_dataset **test,
                     const char **path, char *err, size_t errlen) {
  const char *src = ax_state_dict_meta(sd, "axon_dataset");
  ax_feature_source fs = {.csv = c->data_csv, .npz = c->data_npz,
                          .label_col = c->label_col ? c->label_col : ax_state_dict_meta(sd, "axon_label_col"),
                          .test_size = meta_int(sd, "axon_test_size", 0), .seed = (uint64_t)meta_int(sd, "axon_split_seed", 0)};
  if (!fs.csv && !fs.npz && src) *(strncmp(src, "csv:", 4) ? &fs.npz : &fs.csv) = src + 4;
  if (!ax_state_dict_meta(sd, "axon_split_seed") || !ax_state_dict_meta(sd, "axon_test_size"))
    fprintf(out, "note: %s records no test split (axon_split_seed, axon_test_size): using seed 0 and a fifth of the rows\n",
            c->weights);
  *path = fs.csv ? fs.csv : fs.npz;
  if (ax_tool_load_features(&fs, train, test, err, errlen)) return -1;
  char have[64];
  const char *want = ax_state_dict_meta(sd, "axon_input_shape");
  ax_tool_sample_shape(*test, have, sizeof have);
  if (!want || strcmp(want, have))
    return ax__fail(err, errlen, "%s was trained on samples of shape [%s] (axon_input_shape), %s holds [%s]", c->weights,
                    want ? want : "unknown", *path, have);
  return 0;
}

int ax_tool_eval_features(const ax_eval_config *c, const ax_state_dict *sd, FILE *out, double *accuracy, char *err,
                          size_t errlen) {
  ax_dataset *train = NULL, *test = NULL;
  ax_module *model = NULL;
  ax_loader *ld = NULL;
  float *norm = NULL;
  const char *path = NULL, *kind = ax_state_dict_meta(sd, "axon_model");
  int rc = -1, nc = 0;
  if (c->model && strcmp(c->model, "mlp")) {
    ax__fail(err, errlen, "%s holds the feature MLP ('mlp' trained on arrays), but --model is '%s'", c->weights, c->model);
    goto out;
  }
  if (kind && strcmp(kind, "mlp")) {
    ax__fail(err, errlen, "%s holds a '%s' model; --data-csv / --data-npz evaluate the feature MLP", c->weights, kind);
    goto out;
  }
  if (eval_data(c, sd, out, &train, &test, &path, err, errlen)) goto out;
  nc = ax_dataset_channels(test);
  int classes = (int)meta_int(sd, "axon_num_classes", 0), hidden = (int)meta_int(sd, "axon_hidden", 0);
  if (!(norm = malloc(2 * sizeof *norm * (size_t)nc)) ||
      meta_floats(sd, "axon_norm_mean", c->weights, nc, false, norm, err, errlen) ||
      meta_floats(sd, "axon_norm_std", c->weights, nc, true, norm + nc, err, errlen))
    goto out;
  if (ax_dataset_num_classes(test) > classes) {
    ax__fail(err, errlen, "%s: a test label is %d, outside the weights' %d classes", path, ax_dataset_num_classes(test) - 1, classes);
    goto out;
  }
  char e2[512];
  if (!(model = ax_model_mlp_features((int)ax_tool_sample_size(test), hidden, classes)) ||
      ax_module_load_state_dict(model, sd, true, e2, sizeof e2) || ax_module_to(model, c->device)) {
    ax__fail(err, errlen, "%s: %s", c->weights, model ? e2 : ax_last_error());
    goto out;
  }
  if (!(ld = ax_loader_new(test, &(ax_loader_opts){.batch_size = c->batch_size > 0 ? c->batch_size : 500, .mean = norm,
                                                  .std = norm + nc, .n_channels = nc}, err, errlen)))
    goto out;
  ax_confusion *cm = ax_confusion_new(classes);
  ax_eval_result r = ax_evaluate_classifier(model, ld, c->device, cm);
  fprintf(out, "%s on the test split of %s (%" PRId64 " rows): loss %.4f, accuracy %.2f%%\n\n", c->weights, path,
          ax_dataset_size(test), r.loss, 100 * r.accuracy);
  ax_confusion_print(cm, NULL, out);
  ax_confusion_free(cm);
  if (accuracy) *accuracy = r.accuracy;
  if (c->result) *c->result = r;
  rc = 0;
out:
  ax_loader_free(ld);
  ax_module_free(model);
  free(norm);
  ax_dataset_free(train);
  ax_dataset_free(test);
  return rc;
}
