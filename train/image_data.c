/* SPDX-License-Identifier: BSD-3-Clause */
/* Image-classification data for the training engine (include/axon/train.h): a validation
 * split, normalization with the training set's statistics, the loaders, and under data
 * parallelism each rank's shard of every global batch. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "axon.h"
#include "train/internal.h"

#define fail ax__fail

struct ax_image_data {
  ax_image_data_opts o;
  ax_comm *comm;
  int world;
  int64_t *idx, n_fit, n_test;
  int channels;      /* of the normalization: the images' C, or the features' F */
  float *mean, *std; /* channels each */
  ax_loader_opts lo;
  ax_loader *train, *val, *test;
};

/* Rank r's loader reads its slice of every global batch (ax_dist_sampler_indices), so batch
 * k of all ranks together is batch k of a single-process run; it is rebuilt each epoch
 * because the shard depends on the epoch. */
static ax_loader *shard_loader(ax_image_data *d, int epoch, char *err, size_t errlen) {
  const ax_loader_opts *lo = &d->lo;
  ax_dist_sampler_opts so = {.indices = lo->indices, .n = lo->n_indices, .seed = lo->seed, .shuffle = lo->shuffle,
                             .global_batch = lo->batch_size, .rank = ax_comm_rank(d->comm), .world = d->world};
  int64_t *mine = malloc((size_t)(so.n > 0 ? so.n : 1) * sizeof *mine);
  if (!mine) return fail(err, errlen, "out of host memory"), NULL;
  int64_t n = ax_dist_sampler_indices(&so, epoch, mine);
  ax_loader_opts o = *lo;
  o.indices = mine;
  o.n_indices = n;
  o.shuffle = false;
  o.batch_size = lo->batch_size / so.world;
  ax_loader *ld = n > 0 ? ax_loader_new(d->o.train, &o, err, errlen) : NULL;
  if (n <= 0) fail(err, errlen, "no training batches for rank %d of %d", so.rank, so.world);
  free(mine);
  return ld;
}

static int build_loaders(ax_image_data *d, char *err, size_t errlen) {
  const ax_image_data_opts *o = &d->o;
  int64_t n_train = d->n_fit + o->val_size;
  if (o->split) memcpy(d->idx, o->split, (size_t)n_train * sizeof *d->idx);
  else ax_dataset_split(n_train, o->val_size, o->seed, d->idx, d->idx + d->n_fit);
  for (int c = 0; c < d->channels; c++) d->mean[c] = 0, d->std[c] = 1;
  if (o->norm_subset) ax_dataset_channel_stats(o->train, d->idx, d->n_fit, d->mean, d->std);
  else ax_dataset_channel_stats(o->train, NULL, ax_dataset_size(o->train), d->mean, d->std);
  for (int c = 0; c < d->channels; c++)
    if (!(d->std[c] > 0)) d->std[c] = 1; /* a constant channel or feature: centred, not scaled */
  d->lo = (ax_loader_opts){.batch_size = o->batch_size, .shuffle = true, .seed = o->seed, .indices = d->idx,
                           .n_indices = d->n_fit, .mean = d->mean, .std = d->std, .n_channels = d->channels,
                           .crop_padding = o->augment ? 2 : 0, .hflip = o->augment, .prefetch = o->prefetch};
  d->train = d->world > 1 ? shard_loader(d, 0, err, errlen) : ax_loader_new(o->train, &d->lo, err, errlen);
  ax_loader_opts eo = {.batch_size = o->eval_batch_size > 0 ? o->eval_batch_size : 500, .shuffle = false,
                       .n_indices = d->n_test, .mean = d->mean, .std = d->std, .n_channels = d->channels,
                       .prefetch = o->prefetch};
  d->test = ax_loader_new(o->test, &eo, err, errlen);
  if (o->val_size > 0) {
    eo.indices = d->idx + d->n_fit;
    eo.n_indices = o->val_size;
    d->val = ax_loader_new(o->train, &eo, err, errlen);
  }
  return !d->train || !d->test || (o->val_size > 0 && !d->val) ? -1 : 0;
}

ax_image_data *ax_image_data_new(const ax_image_data_opts *o, char *err, size_t errlen) {
  if (!o || !o->train || !o->test || o->batch_size < 1)
    return fail(err, errlen, "ax_image_data_new: needs a training set, a test set and a batch size"), NULL;
  int64_t n_train = ax_dataset_size(o->train), n_test = ax_dataset_size(o->test);
  if (o->limit_train > 0 && o->limit_train < n_train) n_train = o->limit_train;
  if (o->limit_test > 0 && o->limit_test < n_test) n_test = o->limit_test;
  if (o->val_size < 0 || o->val_size >= n_train)
    return fail(err, errlen, "--val-size %d leaves no training images: it must be below the %" PRId64 " images used",
                o->val_size, n_train), NULL;
  ax_image_data *d = calloc(1, sizeof *d);
  int channels = ax_dataset_channels(o->train);
  if (d) d->channels = channels;
  if (!d || !(d->idx = malloc((size_t)n_train * sizeof *d->idx)) || !(d->mean = malloc((size_t)channels * sizeof(float))) ||
      !(d->std = malloc((size_t)channels * sizeof(float)))) {
    if (d) free(d->idx), free(d->mean);
    free(d);
    return fail(err, errlen, "out of host memory"), NULL;
  }
  d->o = *o;
  d->comm = o->comm ? o->comm : ax_comm_world();
  d->world = ax_comm_size(d->comm);
  d->n_fit = n_train - o->val_size;
  d->n_test = n_test;
  if (build_loaders(d, err, errlen)) {
    ax_image_data_free(d);
    return NULL;
  }
  return d;
}

void ax_image_data_free(ax_image_data *d) {
  if (!d) return;
  ax_loader_free(d->train);
  ax_loader_free(d->val);
  ax_loader_free(d->test);
  free(d->idx);
  free(d->mean);
  free(d->std);
  free(d);
}

int64_t ax_image_data_steps_per_epoch(const ax_image_data *d) { return d ? ax_loader_num_batches(d->train) : 0; }
void ax_image_data_sizes(const ax_image_data *d, int64_t *n_fit, int64_t *n_test) {
  if (n_fit) *n_fit = d->n_fit;
  if (n_test) *n_test = d->n_test;
}

int ax_image_data_norm(const ax_image_data *d, float *mean, float *std, int max) {
  for (int c = 0; d && c < d->channels && c < max; c++) {
    if (mean) mean[c] = d->mean[c];
    if (std) std[c] = d->std[c];
  }
  return d ? d->channels : 0;
}

static int img_start_epoch(void *ud, int epoch, int64_t batches_done, char *err, size_t errlen) {
  ax_image_data *d = ud;
  if (d->world > 1 && epoch > 0) { /* the shard depends on the epoch */
    ax_loader_free(d->train);
    if (!(d->train = shard_loader(d, epoch, err, errlen))) return -1;
  }
  ax_loader_set_state(d->train, epoch, batches_done);
  return 0;
}

static int img_next(void *ud, int64_t step, int micro, ax_tensor **x, ax_tensor **y, char *err, size_t errlen) {
  return ax_loader_next(((ax_image_data *)ud)->train, x, y) == 1 ? 1 : 0;
}

static int img_validate(void *ud, ax_module *m, ax_eval_result *e) {
  ax_image_data *d = ud;
  *e = ax_evaluate_classifier(m, d->val, d->o.device, NULL);
  return 0;
}

static int img_test(void *ud, ax_module *m, ax_eval_result *e) {
  ax_image_data *d = ud;
  *e = ax_evaluate_classifier(m, d->test, d->o.device, NULL);
  return 0;
}

ax_train_data ax_image_data_source(ax_image_data *d) {
  return (ax_train_data){.start_epoch = img_start_epoch, .next = img_next, .validate = d->val ? img_validate : NULL,
                         .test = d->o.no_test ? NULL : img_test, .ud = d};
}
