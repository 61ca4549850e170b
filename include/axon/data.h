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
 * integer sums, so the result does not depend on the thread count. Returns 0 or -1. */
int ax_dataset_channel_stats(const ax_dataset *ds, const int64_t *indices, int64_t n, float *mean, float *std);

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
