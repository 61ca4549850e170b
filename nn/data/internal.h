/* SPDX-License-Identifier: BSD-3-Clause */
/* Private to nn/data: the dataset layout and the counter-based random streams. */
#ifndef AXON_NN_DATA_INTERNAL_H
#define AXON_NN_DATA_INTERNAL_H

#include "axon/data.h"
#include "core/fail.h"
#include "kernels/philox.h"

#include <stdarg.h>
#include <stdio.h>

/* The loaders' error path: the library's one fail helper (core/fail.h), spelled
 * `fail` here; it writes a one-line reason to err and gives NULL. */
#define fail(err, errlen, ...) AX__FAIL_NULL(err, errlen, __VA_ARGS__)

/* An IDX file's header alone (nn/data/idx.c): its element dtype, ndim and shape, checked
 * as ax_idx_load checks them, without reading the data. 0, or -1 with a reason. */
int ax__idx_peek(const char *path, ax_dtype *dt, int *ndim, int64_t *shape, char *err, size_t errlen);

/* The whole file into *out (malloc'ed, capped at 4 GiB). 0, or -1 with a reason. */
int ax__read_whole_file(const char *path, uint8_t **out, size_t *len, char *err, size_t errlen);
/* A .npy image in memory (nn/data/npy.c); `what` names it in messages. */
ax_tensor *ax__npy_parse(const uint8_t *b, size_t len, const char *what, char *err, size_t errlen);
/* Member `name` of an .npz image in memory (nn/data/npz.c). */
ax_tensor *ax__npz_parse(const uint8_t *b, size_t len, const char *path, const char *name, char *err, size_t errlen);

struct ax_dataset {
  ax_tensor *images; /* u8 [N, C, H, W], contiguous, persistent; NULL for the other kinds */
  ax_tensor *labels; /* i64 [N], contiguous, persistent (NULL for a callback dataset) */
  ax_tensor *features; /* f32 [N, C, H, W] (arrays of any other dtype or shape), or NULL */
  ax_sample_fn get;    /* a callback dataset: sample i into host buffers */
  void *ud;
  int64_t n;
  int c, h, w;
  int n_classes;
  int sample_ndim;     /* the shape of one sample in a batch: [C, H, W], [H, W] or [F] */
  int64_t sample_shape[3];
};

/* Labels of any integer dtype as int64 (malloc'ed); NULL (with a reason) if one is negative. */
int64_t *ax__labels_to_i64(ax_tensor *labels, int64_t n, char *err, size_t errlen);
/* ax_dataset_channel_stats of a features dataset (nn/data/arrays.c); indices are checked. */
int ax__feature_stats(const ax_dataset *ds, const int64_t *indices, int64_t n, float *mean, float *std);

/* Independent Philox streams: the counter's high word is (stream << 32 | epoch). */
enum { AX_DATA_STREAM_SPLIT = 1, AX_DATA_STREAM_SHUFFLE = 2, AX_DATA_STREAM_AUGMENT = 3, AX_DATA_STREAM_WEIGHTED = 4,
       AX_DATA_STREAM_TRANSFORM = 5 };

static inline ax_philox4 ax__data_random(uint64_t seed, int stream, uint32_t epoch, uint64_t i) {
  return ax_philox4x32_10(i, (uint64_t)stream << 32 | epoch, seed);
}

/* A permutation of p[0..n) in place (Fisher-Yates). j = r mod (i + 1) with 64 random
 * bits: the modulo bias is below n / 2^64, far below anything measurable. */
static inline void ax__data_shuffle(int64_t *p, int64_t n, uint64_t seed, int stream, uint32_t epoch) {
  for (int64_t i = n - 1; i > 0; i--) {
    ax_philox4 r = ax__data_random(seed, stream, epoch, (uint64_t)i);
    uint64_t x = (uint64_t)r.v[0] << 32 | r.v[1];
    int64_t j = (int64_t)(x % (uint64_t)(i + 1));
    int64_t t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
}

#endif
