/* SPDX-License-Identifier: BSD-3-Clause */
/* Datasets from arrays of features (any dtype, kept as f32) and from a user's callback. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon/ops.h"
#include "nn/data/internal.h"

static void set_sample_shape(ax_dataset *ds, int ndim, const int64_t *s) {
  ds->sample_ndim = ndim;
  for (int i = 0; i < ndim; i++) ds->sample_shape[i] = s[i];
  ds->c = ndim == 3 ? (int)s[0] : ndim == 2 ? 1 : (int)s[0];
  ds->h = ndim == 3 ? (int)s[1] : ndim == 2 ? (int)s[0] : 1;
  ds->w = ndim == 3 ? (int)s[2] : ndim == 2 ? (int)s[1] : 1;
}

static bool sample_shape_ok(int ndim, const int64_t *s) {
  if (ndim < 1 || ndim > 3) return false;
  int64_t per = 1;
  for (int i = 0; i < ndim; i++) {
    if (s[i] < 1 || s[i] > (1 << 24)) return false;
    per *= s[i];
  }
  return per <= (1 << 28);
}

ax_dataset *ax_dataset_from_arrays(ax_tensor *x, ax_tensor *y, char *err, size_t errlen) {
  if (!x || !y) return fail(err, errlen, "ax_dataset_from_arrays: no x or no y given");
  if (x->dtype == AX_U8 && (x->ndim == 3 || x->ndim == 4)) return ax_dataset_new(x, y, err, errlen);
  char a[64], b[64];
  ax_shape_str(x, a, sizeof a);
  ax_shape_str(y, b, sizeof b);
  if (x->ndim < 2 || x->ndim > 4 || !sample_shape_ok(x->ndim - 1, x->shape + 1))
    return fail(err, errlen, "ax_dataset_from_arrays: x must be [N, F], [N, H, W] or [N, C, H, W], got %s", a);
  if (y->ndim != 1 || ax_dtype_is_float(y->dtype) || y->shape[0] != x->shape[0])
    return fail(err, errlen, "ax_dataset_from_arrays: y must be integer labels [N] matching x %s, got %s %s", a,
                ax_dtype_name(y->dtype), b);
  if (x->device.type != AX_DEVICE_CPU || y->device.type != AX_DEVICE_CPU)
    return fail(err, errlen, "ax_dataset_from_arrays: x and y must be on the CPU");
  int64_t n = x->shape[0];
  int64_t *lab = ax__labels_to_i64(y, n, err, errlen);
  ax_dataset *ds = lab ? calloc(1, sizeof *ds) : NULL;
  if (!ds) {
    free(lab);
    return lab ? fail(err, errlen, "ax_dataset_from_arrays: out of memory") : NULL;
  }
  ds->n = n;
  set_sample_shape(ds, x->ndim - 1, x->shape + 1);
  for (int64_t i = 0; i < n; i++)
    if (lab[i] + 1 > ds->n_classes) ds->n_classes = (int)(lab[i] + 1);
  ax_scope_begin();
  ax_tensor *f = ax_contiguous(ax_cast(x, AX_F32)); /* always a copy */
  ax_tensor *lt = ax_from_data(lab, AX_SHAPE(n), &(ax_tensor_opts){.dtype = AX_I64});
  if (f && lt) {
    ds->features = ax_persist(f);
    ds->labels = ax_persist(lt);
  }
  ax_scope_end();
  free(lab);
  if (!ds->features) {
    free(ds);
    return fail(err, errlen, "ax_dataset_from_arrays: cannot convert x to f32 (%s)", ax_last_error());
  }
  return ds;
}

ax_dataset *ax_dataset_from_callback(int64_t n, int ndim, const int64_t *sample_shape, int n_classes, ax_sample_fn get,
                                     void *ud, char *err, size_t errlen) {
  if (n < 1 || !get || !sample_shape || !sample_shape_ok(ndim, sample_shape) || n_classes < 1)
    return fail(err, errlen, "ax_dataset_from_callback: needs n >= 1, a get function, n_classes >= 1 and a sample shape "
                             "of 1 to 3 positive dims (got n %lld, ndim %d, n_classes %d)", (long long)n, ndim, n_classes);
  ax_dataset *ds = calloc(1, sizeof *ds);
  if (!ds) return fail(err, errlen, "ax_dataset_from_callback: out of memory");
  ds->n = n;
  ds->get = get;
  ds->ud = ud;
  ds->n_classes = n_classes;
  set_sample_shape(ds, ndim, sample_shape);
  return ds;
}

ax_tensor *ax_dataset_features(const ax_dataset *ds) { return ds ? ds->features : NULL; }
int ax_dataset_channels(const ax_dataset *ds) { return ds ? ds->c : 0; }

int ax__feature_stats(const ax_dataset *ds, const int64_t *indices, int64_t n, float *mean, float *std) {
  const float *v = ax_data_ptr(ds->features);
  int64_t plane = (int64_t)ds->h * ds->w;
  for (int c = 0; c < ds->c; c++) {
    double s = 0, ss = 0;
    for (int64_t i = 0; i < n; i++) {
      const float *p = v + ((indices ? indices[i] : i) * ds->c + c) * plane;
      for (int64_t k = 0; k < plane; k++) s += p[k], ss += (double)p[k] * p[k];
    }
    double cnt = (double)n * (double)plane, m = s / cnt, var = ss / cnt - m * m;
    mean[c] = (float)m;
    std[c] = (float)sqrt(var > 0 ? var : 0);
  }
  return 0;
}
