/* SPDX-License-Identifier: BSD-3-Clause */
/* Datasets and batching: IDX files (MNIST, Fashion-MNIST), an in-memory image
 * dataset, deterministic train/validation splits and a data loader with
 * shuffling, normalization, augmentation and background prefetch.
 *
 * Like every file loader, these never abort on bad input: they return NULL or
 * -1 and write a one-line reason naming the file to err (which may be NULL).
 *
 * Randomness is counter-based (Philox 4x32-10, kernels/philox.h) with the
 * seed as key and (stream, epoch, index) as counter, so every random choice is
 * a pure function of (seed, epoch, sample): the same seed gives the same
 * batches with or without prefetch, on any number of threads, and a loader
 * resumed at (epoch, batch) continues exactly where an uninterrupted one would.
 *   split:    permutation of 0..n-1 from (seed, "split"); the last n_val go to validation
 *   shuffle:  epoch e's order is a Fisher-Yates permutation from (seed, "shuffle", e)
 *   augment:  dataset sample i in epoch e uses (seed, "augment", e, i) for its crop and flip
 *   weighted: draw j of epoch e uses (seed, "weighted", e, j)
 */
#ifndef AXON_DATA_H
#define AXON_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "axon/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- IDX files ---- */

/* Reads an IDX file (gzip-compressed or not; detected by its 1f 8b magic).
 * Element types: 0x08 u8 -> u8; 0x09 i8, 0x0B i16, 0x0C i32 -> i32; 0x0D f32 -> f32;
 * 0x0E f64 -> f64. The tensor is on the CPU and belongs to the current scope (to the
 * caller when no scope is open). NULL with a reason on a missing, truncated or
 * corrupt file, a bad magic, or dims that overflow or disagree with the file size. */
ax_tensor *ax_idx_load(const char *path, char *err, size_t errlen);

/* ---- NumPy arrays and CSV files (docs/data.md) ---- */

/* A .npy file (format 1, 2 or 3; C order, little-endian or byte-order free). Element types:
 * b1 -> bool; u1 -> u8; i1, i2, i4, u2 -> i32; i8, u4 -> i64; f2, f4 -> f32; f8 -> f64.
 * Fortran order, object and structured arrays, u8 and big-endian multi-byte types are
 * refused. NULL with a reason naming the file on a bad or truncated header, a dtype that
 * is not supported, or data that disagrees with the shape. */
ax_tensor *ax_npy_load(const char *path, char *err, size_t errlen);
/* Member `name` ("x" or "x.npy") of an .npz archive (np.savez or np.savez_compressed:
 * stored or deflated members), read as ax_npy_load reads a file. NULL with a reason on a
 * corrupt archive (every offset is checked), a bad CRC, or a missing member (the message
 * lists the members). */
ax_tensor *ax_npz_load(const char *path, const char *name, char *err, size_t errlen);

typedef struct ax_csv_opts {
  const char *label_col; /* the label column: a header name, or a 0-based index in digits; NULL: the last column */
  int header;            /* 1: the first row names the columns; 0: no header; -1: detected (a non-numeric cell) */
  char delimiter;        /* 0: ',' */
} ax_csv_opts;
/* A CSV of numbers: every column but the label one into *x f32 [N, F], the label column
 * into *y i64 [N] (whole numbers >= 0). Empty lines are skipped; a cell may be quoted.
 * -1 with a reason naming the file, the line and the column on a ragged row, a cell that
 * is not a number, a label that is not a whole number >= 0, or an unknown label column. */
int ax_csv_load(const char *path, const ax_csv_opts *o, ax_tensor **x, ax_tensor **y, char *err, size_t errlen);

/* ---- datasets: images u8 [N, C, H, W] and labels i64 [N], held in memory ---- */

typedef struct ax_dataset ax_dataset;

/* A dataset from u8 images [N, C, H, W] (or [N, H, W]: one channel) and integer labels
 * [N] (>= 0) on the CPU. Copies both (the dataset owns persistent tensors). */
ax_dataset *ax_dataset_new(ax_tensor *images, ax_tensor *labels, char *err, size_t errlen);
/* MNIST-style IDX files in dir: {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].
 * name ("fashion-mnist", "mnist", NULL = "fashion-mnist") is only used in messages:
 * a missing dataset says how to install it or which files --data-dir must hold. */
ax_dataset *ax_mnist_like_load(const char *dir, const char *name, bool train, char *err, size_t errlen);
void ax_dataset_free(ax_dataset *ds);
int64_t ax_dataset_size(const ax_dataset *ds);
int ax_dataset_num_classes(const ax_dataset *ds); /* max label + 1 */
ax_tensor *ax_dataset_images(const ax_dataset *ds); /* borrowed: u8 [N, C, H, W] */
ax_tensor *ax_dataset_labels(const ax_dataset *ds); /* borrowed: i64 [N] */

/* ---- datasets from arrays and from a callback (docs/data.md) ---- */

/* A dataset from arrays: x [N, ...] of any dtype and y integer labels [N] (>= 0), on the
 * CPU; both are copied. u8 x of [N, H, W] or [N, C, H, W] makes an image dataset, as
 * ax_dataset_new does (pixels / 255 in batches); any other x is kept as f32 features:
 * [N, F] (tabular: batches are [B, F]), [N, H, W] or [N, C, H, W]. The loader's mean / std
 * then apply per feature (for [N, F]) or per channel. NULL with a reason. */
ax_dataset *ax_dataset_from_arrays(ax_tensor *x, ax_tensor *y, char *err, size_t errlen);
/* A user's source: get(i, x, label, ud) writes sample i (0 <= i < n) into x (the product
 * of sample_shape floats) and its label into *label (>= 0), and returns 0, or -1 on an
 * error (the loader's next then returns -1). The loader may call it from its prefetch
 * thread, one call at a time. sample_shape: ndim 1 to 3 entries ([F], [H, W] or
 * [C, H, W]); n_classes is what ax_dataset_num_classes reports. */
typedef int (*ax_sample_fn)(int64_t i, float *x, int64_t *label, void *ud);
ax_dataset *ax_dataset_from_callback(int64_t n, int ndim, const int64_t *sample_shape, int n_classes, ax_sample_fn get,
                                     void *ud, char *err, size_t errlen);
/* The f32 features of a dataset made from non-image arrays (NULL for the other kinds). */
ax_tensor *ax_dataset_features(const ax_dataset *ds);
/* The channels of a sample (what a loader's mean / std hold): C of images or of [C, H, W]
 * samples, F of [F] samples, 1 of [H, W] samples. */
int ax_dataset_channels(const ax_dataset *ds);

/* Fashion-MNIST's class names, by label. */
extern const char *const ax_fashion_mnist_classes[10];

/* A deterministic split of 0..n-1: a permutation from seed, whose last n_val entries go
 * to val_idx and the others to train_idx, each list then sorted. Either output may be
 * NULL. Returns 0, or -1 if n_val is not in [0, n]. */
int ax_dataset_split(int64_t n, int64_t n_val, uint64_t seed, int64_t *train_idx, int64_t *val_idx);
/* K-fold cross-validation (docs/metrics.md): fold_of[i] in [0, k) for each of the n samples.
 * Not stratified: a permutation from seed cut into k parts whose sizes differ by at most 1.
 * Stratified (labels: class ids >= 0 of the n samples): each class's samples in a random
 * order from seed, the classes one after another, dealt to the folds in turn, so every fold
 * holds each class's count / k samples of it, rounded down or up, and the fold sizes differ
 * by at most 1. 0, or -1 with a reason (k < 2, k > n, a negative label). */
int ax_kfold_indices(const int64_t *labels, int64_t n, int k, bool stratified, uint64_t seed, int *fold_of, char *err,
                     size_t errlen);

/* Per-channel mean and (population) standard deviation of pixel / 255 over the samples
 * indices[0..n) (indices NULL: samples 0..n-1). mean and std hold C floats. Exact
 * integer sums, so the result does not depend on the thread count. Returns 0 or -1.
 * A features dataset: the same of the raw values, per channel (per feature for [N, F]),
 * summed in order in double. -1 for a callback dataset. */
int ax_dataset_channel_stats(const ax_dataset *ds, const int64_t *indices, int64_t n, float *mean, float *std);

/* ---- transforms of float samples [C, H, W] (docs/data.md) ---- */

/* A transform runs in the loader after a sample is read (and normalized by the loader's
 * mean / std, if given), on floats. Random ones draw from Philox (seed, "transform",
 * epoch, sample, position in the composition): deterministic under the loader's seed, the
 * same with or without prefetch. Each constructor returns NULL on a bad argument. */
typedef struct ax_transform ax_transform;
/* x = (x - mean[c]) / std[c]; n: the samples' channels (std > 0). */
ax_transform *ax_transform_normalize(int n, const float *mean, const float *std);
/* torchvision's RandomResizedCrop: a crop of scale in [scale_lo, scale_hi] of the area and
 * aspect ratio in [ratio_lo, ratio_hi] (log-uniform), resized (bilinear) to out_h x out_w.
 * Usual values: 0.08, 1, 3/4, 4/3. */
ax_transform *ax_transform_random_resized_crop(int out_h, int out_w, float scale_lo, float scale_hi, float ratio_lo,
                                               float ratio_hi);
/* A rotation about the centre by an angle uniform in [-max_degrees, max_degrees] (<= 180);
 * bilinear, 0 outside the image. */
ax_transform *ax_transform_rotation(float max_degrees);
/* 3-channel (RGB) samples: brightness, contrast and saturation factors uniform in
 * [1 - v, 1 + v] (each v in [0, 1)); contrast about the image's mean grey, saturation
 * about each pixel's grey (0.299 R + 0.587 G + 0.114 B). */
ax_transform *ax_transform_color_jitter(float brightness, float contrast, float saturation);
/* x + std * N(0, 1) per element. */
ax_transform *ax_transform_gaussian_noise(float std);
/* parts[0], then parts[1], ...: the composition owns the parts (frees them, also when it
 * returns NULL because one is NULL). n in [1, 64]. */
ax_transform *ax_transform_compose(ax_transform **parts, int n);
void ax_transform_free(ax_transform *t);
/* The shape t makes of [c, h, w] samples. 0, or -1 with a reason (normalize with another
 * channel count, color jitter on samples that are not 3-channel). */
int ax_transform_out_shape(const ax_transform *t, int c, int h, int w, int *oc, int *oh, int *ow, char *err,
                           size_t errlen);
/* out = t(in) for sample idx of epoch; out holds ax_transform_out_shape's size. 0 or -1. */
int ax_transform_apply(const ax_transform *t, const float *in, int c, int h, int w, float *out, uint64_t seed, int epoch,
                       int64_t idx);

/* ---- loader ---- */

typedef struct ax_loader ax_loader;

typedef struct ax_loader_opts {
  int64_t batch_size;
  bool shuffle;           /* a new permutation every epoch, from (seed, epoch) */
  bool drop_last;         /* drop a final batch smaller than batch_size */
  uint64_t seed;
  const int64_t *indices; /* the samples to iterate (copied); NULL: samples 0..n_indices-1 */
  int64_t n_indices;      /* with indices NULL, 0 means the whole dataset */
  /* x = (pixel / 255 - mean[c]) / std[c]; NULL: mean 0, std 1 */
  const float *mean, *std;
  int n_channels;         /* entries in mean / std: 0 or the images' C */
  int crop_padding;       /* > 0: random crop of the image padded with this many zero pixels */
  bool hflip;             /* horizontal flip with probability 0.5 */
  bool prefetch;          /* a background thread prepares the next batch */
  /* Weighted sampling with replacement (PyTorch's WeightedRandomSampler): one weight >= 0
   * per iterated sample (the n_indices entries, or the whole dataset), finite, not all 0;
   * every epoch draws num_samples of them (0: as many as there are), entry i with
   * probability weights[i] / sum, by ax_weighted_sample. shuffle is then ignored.
   * NULL: every sample once per epoch. The weights are copied. */
  const double *sample_weights;
  int64_t num_samples;
  /* applied to each sample after the crop, flip and normalization above; borrowed: it
   * must outlive the loader. A transform that changes the size gives x [B, C', H', W']. */
  const ax_transform *transform;
} ax_loader_opts;

/* Draws out[0..num_samples) from 0..n-1 with replacement, index i with probability
 * weights[i] / sum(weights); draw j of `epoch` comes from Philox (seed, "weighted",
 * epoch, j) alone, so the result is deterministic and independent of threads. Returns 0,
 * or -1 with a reason in err when n < 1, num_samples < 0, a weight is negative or not
 * finite, or all are 0. */
int ax_weighted_sample(const double *weights, int64_t n, int64_t num_samples, uint64_t seed, int epoch, int64_t *out,
                       char *err, size_t errlen);

/* The loader reads ds, which must outlive it. Starts at epoch 0, batch 0. */
ax_loader *ax_loader_new(const ax_dataset *ds, const ax_loader_opts *o, char *err, size_t errlen);
void ax_loader_free(ax_loader *ld); /* stops and joins the prefetch thread */
int64_t ax_loader_num_batches(const ax_loader *ld); /* per epoch */
/* Rewinds to batch 0 of epoch. */
void ax_loader_start_epoch(ax_loader *ld, int epoch);
/* 1 with the next batch: *x f32 [B, C, H, W] normalized, *y i64 [B], both on the CPU and
 * owned by the current scope; 0 at the end of the epoch (until the next start_epoch);
 * -1 on error. */
int ax_loader_next(ax_loader *ld, ax_tensor **x, ax_tensor **y);

/* Position for checkpoints: batch = batches of epoch already returned. */
typedef struct ax_loader_state {
  int epoch;
  int64_t batch;
} ax_loader_state;
ax_loader_state ax_loader_get_state(const ax_loader *ld);
/* The next ax_loader_next returns batch `batch` of `epoch`. Returns 0, or -1 if batch is
 * not in [0, num_batches]. */
int ax_loader_set_state(ax_loader *ld, int epoch, int64_t batch);

#ifdef __cplusplus
}
#endif
#endif
