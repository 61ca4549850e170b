/* SPDX-License-Identifier: BSD-3-Clause */
/* In-memory image datasets: one persistent u8 tensor of images and one of
 * labels; MNIST-style IDX loading; deterministic splits; channel statistics. */
#define _DEFAULT_SOURCE
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "axon/ops.h"
#include "nn/data/internal.h"

const char *const ax_fashion_mnist_classes[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                  "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};


/* Labels of any integer dtype as int64; NULL (with a reason) if one is negative. */
int64_t *ax__labels_to_i64(ax_tensor *labels, int64_t n, char *err, size_t errlen) {
  size_t es = ax_dtype_size(labels->dtype);
  void *raw = malloc((size_t)(n > 0 ? n : 1) * es);
  int64_t *out = malloc((size_t)(n > 0 ? n : 1) * sizeof *out);
  if (!raw || !out || ax_to_data(labels, raw, (size_t)n * es) != 0) {
    free(raw);
    free(out);
    return fail(err, errlen, "ax_dataset_new: cannot read the labels");
  }
  for (int64_t i = 0; i < n; i++) {
    switch (labels->dtype) {
      case AX_U8: case AX_BOOL: out[i] = ((uint8_t *)raw)[i]; break;
      case AX_I32: out[i] = ((int32_t *)raw)[i]; break;
      default: out[i] = ((int64_t *)raw)[i]; break;
    }
    if (out[i] < 0) {
      ax__fail(err, errlen, "ax_dataset_new: label %lld of sample %lld is negative", (long long)out[i], (long long)i);
      free(raw);
      free(out);
      return NULL;
    }
  }
  free(raw);
  return out;
}

ax_dataset *ax_dataset_new(ax_tensor *images, ax_tensor *labels, char *err, size_t errlen) {
  if (!images || !labels) return fail(err, errlen, "ax_dataset_new: no images or no labels given");
  char a[64], b[64];
  ax_shape_str(images, a, sizeof a);
  ax_shape_str(labels, b, sizeof b);
  if (images->dtype != AX_U8 || (images->ndim != 3 && images->ndim != 4))
    return fail(err, errlen, "ax_dataset_new: images must be u8 [N, C, H, W] or [N, H, W], got %s %s",
                ax_dtype_name(images->dtype), a);
  if (labels->ndim != 1 || ax_dtype_is_float(labels->dtype) || labels->shape[0] != images->shape[0])
    return fail(err, errlen, "ax_dataset_new: labels must be integers [N] matching images %s, got %s %s", a,
                ax_dtype_name(labels->dtype), b);
  if (images->device.type != AX_DEVICE_CPU || labels->device.type != AX_DEVICE_CPU)
    return fail(err, errlen, "ax_dataset_new: images and labels must be on the CPU");
  int64_t n = images->shape[0];
  int64_t *lab = ax__labels_to_i64(labels, n, err, errlen);
  if (!lab) return NULL;
  ax_dataset *ds = calloc(1, sizeof *ds);
  if (!ds) {
    free(lab);
    return fail(err, errlen, "ax_dataset_new: out of memory");
  }
  ds->n = n;
  ds->c = images->ndim == 4 ? (int)images->shape[1] : 1;
  ds->h = (int)images->shape[images->ndim - 2];
  ds->w = (int)images->shape[images->ndim - 1];
  ds->sample_ndim = 3;
  ds->sample_shape[0] = ds->c, ds->sample_shape[1] = ds->h, ds->sample_shape[2] = ds->w;
  for (int64_t i = 0; i < n; i++)
    if (lab[i] + 1 > ds->n_classes) ds->n_classes = (int)(lab[i] + 1);
  ax_scope_begin();
  ax_tensor *img = ax_empty(AX_SHAPE(n, ds->c, ds->h, ds->w), &(ax_tensor_opts){.dtype = AX_U8});
  ax_tensor *lt = ax_from_data(lab, AX_SHAPE(n), &(ax_tensor_opts){.dtype = AX_I64});
  if (img && lt && ax_to_data(images, ax_data_ptr(img), ax_nbytes(img)) == 0) {
    ds->images = ax_persist(img);
    ds->labels = ax_persist(lt);
  }
  ax_scope_end();
  free(lab);
  if (!ds->images) {
    free(ds);
    return fail(err, errlen, "ax_dataset_new: cannot copy the images (%s)", ax_last_error());
  }
  return ds;
}

void ax_dataset_free(ax_dataset *ds) {
  if (!ds) return;
  ax_free(ds->images);
  ax_free(ds->labels);
  ax_free(ds->features);
  free(ds);
}

int64_t ax_dataset_size(const ax_dataset *ds) { return ds ? ds->n : 0; }
int ax_dataset_num_classes(const ax_dataset *ds) { return ds ? ds->n_classes : 0; }
ax_tensor *ax_dataset_images(const ax_dataset *ds) { return ds ? ds->images : NULL; }
ax_tensor *ax_dataset_labels(const ax_dataset *ds) { return ds ? ds->labels : NULL; }

/* ---- MNIST-style files ---- */

static const char *ax_shape_str_raw(int ndim, const int64_t *shape) {
  static _Thread_local char b[160];
  size_t n = (size_t)snprintf(b, sizeof b, "[");
  for (int i = 0; i < ndim && n < sizeof b - 24; i++) n += (size_t)snprintf(b + n, sizeof b - n, i ? ", %lld" : "%lld", (long long)shape[i]);
  snprintf(b + n, sizeof b - n, "]");
  return b;
}

/* dir/base.gz if it exists, else dir/base if it exists; false if neither. */
static bool find_file(const char *dir, const char *base, char *path, size_t n) {
  snprintf(path, n, "%s/%s.gz", dir, base);
  if (access(path, R_OK) == 0) return true;
  snprintf(path, n, "%s/%s", dir, base);
  return access(path, R_OK) == 0;
}

static void *not_found(const char *dir, const char *name, char *err, size_t errlen) {
  static const char *files = "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz "
                             "and t10k-labels-idx1-ubyte.gz (or the same names without .gz)";
  if (!strcmp(name, "fashion-mnist"))
    return fail(err, errlen,
                "fashion-mnist not found in %s: install Debian's dataset-fashion-mnist (apt-get install "
                "dataset-fashion-mnist) or pass --data-dir with %s",
                dir, files);
  return fail(err, errlen, "%s not found in %s: pass --data-dir with %s", name, dir, files);
}

ax_dataset *ax_mnist_like_load(const char *dir, const char *name, bool train, char *err, size_t errlen) {
  if (!name) name = "fashion-mnist";
  if (!dir) dir = ".";
  const char *split = train ? "train" : "t10k";
  char img_base[64], lab_base[64], img_path[4096], lab_path[4096];
  snprintf(img_base, sizeof img_base, "%s-images-idx3-ubyte", split);
  snprintf(lab_base, sizeof lab_base, "%s-labels-idx1-ubyte", split);
  if (!find_file(dir, img_base, img_path, sizeof img_path) || !find_file(dir, lab_base, lab_path, sizeof lab_path))
    return not_found(dir, name, err, errlen);

  /* both headers first: a mismatch stops here, before either body is inflated */
  ax_dtype idt, ldt;
  int ind, lnd;
  int64_t ishape[AX_MAX_DIMS], lshape[AX_MAX_DIMS];
  if (ax__idx_peek(img_path, &idt, &ind, ishape, err, errlen) || ax__idx_peek(lab_path, &ldt, &lnd, lshape, err, errlen))
    return NULL;
  if (idt != AX_U8 || ind != 3)
    return fail(err, errlen, "%s: expected u8 images [N, rows, cols], got %s %s (from its header)", img_path,
                ax_dtype_name(idt), ax_shape_str_raw(ind, ishape));
  if (ldt != AX_U8 || lnd != 1 || lshape[0] != ishape[0])
    return fail(err, errlen, "%s: expected u8 labels [%lld] to match %s, got %s %s (from the headers)", lab_path,
                (long long)ishape[0], img_path, ax_dtype_name(ldt), ax_shape_str_raw(lnd, lshape));
  ax_dataset *ds = NULL;
  ax_scope_begin();
  ax_tensor *img = ax_idx_load(img_path, err, errlen);
  ax_tensor *lab = img ? ax_idx_load(lab_path, err, errlen) : NULL;
  if (img && lab) {
    char a[64], b[64];
    if (img->dtype != AX_U8 || img->ndim != 3)
      ax__fail(err, errlen, "%s: expected u8 images [N, rows, cols], got %s %s", img_path, ax_dtype_name(img->dtype),
           ax_shape_str(img, a, sizeof a));
    else if (lab->dtype != AX_U8 || lab->ndim != 1 || lab->shape[0] != img->shape[0])
      ax__fail(err, errlen, "%s: expected u8 labels [%lld] to match %s, got %s %s", lab_path, (long long)img->shape[0],
           img_path, ax_dtype_name(lab->dtype), ax_shape_str(lab, b, sizeof b));
    else
      ds = ax_dataset_new(img, lab, err, errlen);
  }
  ax_scope_end();
  return ds;
}

/* ---- splits and statistics ---- */

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

int ax_dataset_split(int64_t n, int64_t n_val, uint64_t seed, int64_t *train_idx, int64_t *val_idx) {
  if (n < 0 || n_val < 0 || n_val > n) return -1;
  int64_t *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
  if (!p) return -1;
  for (int64_t i = 0; i < n; i++) p[i] = i;
  ax__data_shuffle(p, n, seed, AX_DATA_STREAM_SPLIT, 0);
  int64_t n_train = n - n_val;
  qsort(p, (size_t)n_train, sizeof *p, cmp_i64);
  qsort(p + n_train, (size_t)n_val, sizeof *p, cmp_i64);
  if (train_idx) memcpy(train_idx, p, (size_t)n_train * sizeof *p);
  if (val_idx) memcpy(val_idx, p + n_train, (size_t)n_val * sizeof *p);
  free(p);
  return 0;
}

int ax_dataset_channel_stats(const ax_dataset *ds, const int64_t *indices, int64_t n, float *mean, float *std) {
  if (!ds || !mean || !std || n <= 0 || (!indices && n > ds->n) || ds->get) return -1;
  for (int64_t i = 0; i < n && indices; i++)
    if (indices[i] < 0 || indices[i] >= ds->n) return -1;
  if (ds->features) return ax__feature_stats(ds, indices, n, mean, std);
  const uint8_t *px = ax_data_ptr(ds->images);
  int64_t plane = (int64_t)ds->h * ds->w;
  for (int c = 0; c < ds->c; c++) {
    /* exact integer sums: 255^2 * 2^40 pixels would still fit */
    int64_t s = 0, ss = 0;
#pragma omp parallel for reduction(+ : s, ss) schedule(static)
    for (int64_t i = 0; i < n; i++) {
      const uint8_t *p = px + ((indices ? indices[i] : i) * ds->c + c) * plane;
      int64_t a = 0, b = 0;
      for (int64_t k = 0; k < plane; k++) {
        a += p[k];
        b += (int64_t)p[k] * p[k];
      }
      s += a;
      ss += b;
    }
    double cnt = (double)n * (double)plane;
    double m = (double)s / cnt, var = (double)ss / cnt - m * m;
    mean[c] = (float)(m / 255.0);
    std[c] = (float)(sqrt(var > 0 ? var : 0) / 255.0);
  }
  return 0;
}
