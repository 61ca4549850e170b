/* SPDX-License-Identifier: BSD-3-Clause */
/* The data loader. A batch is a pure function of (seed, epoch, batch index):
 * fill_batch computes it from the epoch's order and the per-sample random
 * draws, so the prefetch thread and the caller's thread produce identical
 * bytes and a loader can be repositioned anywhere (checkpoint resume).
 *
 * Prefetch: a ring of two host buffers; batch k goes to slot k % 2. The
 * worker fills at most two batches ahead of the consumer; the consumer copies
 * a ready slot into tensors of its own scope (tensors and scopes are never
 * touched by the worker). Repositioning bumps a generation counter, waits for
 * a fill in progress to finish and empties the ring, so a stale batch is never
 * returned. One mutex and one condition variable guard all shared state. */
#define _DEFAULT_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon/ops.h"
#include "nn/data/internal.h"

enum { SLOT_EMPTY, SLOT_FILLING, SLOT_READY };

typedef struct slot {
  float *x;
  int64_t *y;
  int64_t batch;
  int state;
} slot;

struct ax_loader {
  const ax_dataset *ds;
  int64_t batch_size, n, nb;
  int64_t *subset; /* dataset indices iterated, n_sub of them */
  int64_t *order;  /* this epoch's order of subset (n entries) */
  int64_t n_sub;
  double *cdf;     /* weighted sampling: cumulative weights of subset's entries, else NULL */
  bool shuffle, hflip;
  int pad;
  uint64_t seed;
  float lut[256 * 4]; /* normalized value of each pixel byte, per channel (C <= 4) */
  float *lut_big;     /* when C > 4 */
  float *norm;        /* mean[C] then std[C]: features and callback datasets */
  int *failed;        /* a callback dataset's get failed (set by whichever thread filled) */
  const ax_transform *transform;
  int tc, th, tw;     /* a sample's shape after the transform */

  /* position; shared with the worker under mu */
  int epoch;
  int64_t pos; /* batches of this epoch already returned */

  bool prefetch;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  slot slots[2];
  int64_t produce; /* next batch the worker fills */
  uint64_t gen;
  bool busy, quit;
};


static const float *lut_of(const ax_loader *ld) { return ld->lut_big ? ld->lut_big : ld->lut; }

static int64_t batch_len(const ax_loader *ld, int64_t k) {
  int64_t left = ld->n - k * ld->batch_size;
  return left < ld->batch_size ? left : ld->batch_size;
}

/* Sample `idx` of the dataset, cropped/flipped by its (seed, epoch, idx) draws, normalized into x [C, H, W]. */
static void fill_sample(const ax_loader *ld, int64_t idx, float *x) {
  const ax_dataset *ds = ld->ds;
  int h = ds->h, w = ds->w, p = ld->pad;
  int dy = 0, dx = 0;
  bool flip = false;
  if (p > 0 || ld->hflip) {
    ax_philox4 r = ax__data_random(ld->seed, AX_DATA_STREAM_AUGMENT, (uint32_t)ld->epoch, (uint64_t)idx);
    if (p > 0) {
      dy = (int)(r.v[0] % (uint32_t)(2 * p + 1)) - p;
      dx = (int)(r.v[1] % (uint32_t)(2 * p + 1)) - p;
    }
    flip = ld->hflip && (r.v[2] >> 31);
  }
  const uint8_t *src = (const uint8_t *)ax_data_ptr(ds->images) + idx * ds->c * h * w;
  const float *lut = lut_of(ld);
  for (int c = 0; c < ds->c; c++, src += h * w, x += h * w) {
    const float *l = lut + 256 * c;
    float zero = l[0]; /* padding is a black pixel, normalized like any other */
    for (int y = 0; y < h; y++) {
      int sy = y + dy;
      for (int xo = 0; xo < w; xo++) {
        int sx = (flip ? w - 1 - xo : xo) + dx;
        x[y * w + xo] = (sy >= 0 && sy < h && sx >= 0 && sx < w) ? l[src[sy * w + sx]] : zero;
      }
    }
  }
}

/* Sample `idx` of a features or callback dataset, normalized per channel into x. */
static void fill_values(const ax_loader *ld, int64_t idx, float *x, int64_t *y) {
  const ax_dataset *ds = ld->ds;
  int64_t plane = (int64_t)ds->h * ds->w, per = ds->c * plane;
  if (ds->features) {
    memcpy(x, (const float *)ax_data_ptr(ds->features) + idx * per, (size_t)per * sizeof *x);
    *y = ((const int64_t *)ax_data_ptr(ds->labels))[idx];
  } else if (ds->get(idx, x, y, ds->ud) != 0 || *y < 0) {
    __atomic_store_n(ld->failed, 1, __ATOMIC_RELAXED);
    memset(x, 0, (size_t)per * sizeof *x);
    *y = 0;
  }
  const float *mean = ld->norm, *std = ld->norm + ds->c;
  for (int c = 0; c < ds->c; c++)
    for (int64_t k = 0; k < plane; k++) x[c * plane + k] = (x[c * plane + k] - mean[c]) / std[c];
}

static void fill_batch(const ax_loader *ld, int64_t k, float *x, int64_t *y) {
  const ax_dataset *ds = ld->ds;
  const int64_t *labels = ds->images ? ax_data_ptr(ds->labels) : NULL;
  int64_t per = (int64_t)ds->c * ds->h * ds->w, out_per = (int64_t)ld->tc * ld->th * ld->tw, b = batch_len(ld, k);
  float *tmp = ld->transform ? malloc((size_t)per * sizeof *tmp) : NULL;
  if (ld->transform && !tmp) __atomic_store_n(ld->failed, 1, __ATOMIC_RELAXED);
  for (int64_t i = 0; i < b; i++) {
    int64_t idx = ld->order[k * ld->batch_size + i];
    float *dst = tmp ? tmp : x + i * out_per;
    if (!labels) fill_values(ld, idx, dst, y + i);
    else fill_sample(ld, idx, dst), y[i] = labels[idx];
    if (tmp && ax_transform_apply(ld->transform, tmp, ds->c, ds->h, ds->w, x + i * out_per, ld->seed, ld->epoch, idx))
      __atomic_store_n(ld->failed, 1, __ATOMIC_RELAXED);
  }
  free(tmp);
}

/* Index of the entry whose interval [cdf[i-1], cdf[i]) holds u (u < cdf[n-1]): never a
 * zero-weight entry. */
static int64_t cdf_find(const double *cdf, int64_t n, double u) {
  int64_t lo = 0, hi = n - 1;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (cdf[mid] > u) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/* Draw j: u uniform in [0, total) from 53 random bits. */
static void weighted_draws(const double *cdf, int64_t n, int64_t m, uint64_t seed, uint32_t epoch, int64_t *out) {
  double total = cdf[n - 1];
  for (int64_t j = 0; j < m; j++) {
    ax_philox4 r = ax__data_random(seed, AX_DATA_STREAM_WEIGHTED, epoch, (uint64_t)j);
    uint64_t x = ((uint64_t)r.v[0] << 32 | r.v[1]) >> 11;
    double u = (double)x * 0x1p-53 * total;
    if (u >= total) u = 0; /* rounding: cannot happen for total < 2^53 ulps, kept safe */
    out[j] = cdf_find(cdf, n, u);
  }
}

/* Cumulative sums of the weights into cdf; -1 with a reason if they cannot be sampled. */
static int weights_cdf(const double *w, int64_t n, double *cdf, char *err, size_t errlen, const char *op) {
  double s = 0;
  if (n < 1) return ax__fail(err, errlen, "%s: no samples to draw from", op);
  for (int64_t i = 0; i < n; i++) {
    if (!(w[i] >= 0) || isinf(w[i]))
      return ax__fail(err, errlen, "%s: weight %lld is %g (weights must be finite and >= 0)", op, (long long)i, w[i]);
    cdf[i] = s += w[i];
  }
  if (!(s > 0) || isinf(s))
    return ax__fail(err, errlen, "%s: the %lld weights sum to %g (need a positive, finite sum)", op, (long long)n, s);
  return 0;
}

int ax_weighted_sample(const double *weights, int64_t n, int64_t num_samples, uint64_t seed, int epoch, int64_t *out,
                       char *err, size_t errlen) {
  const char *op = "ax_weighted_sample";
  if (!weights || (!out && num_samples > 0)) return ax__fail(err, errlen, "%s: no weights or no output given", op);
  if (num_samples < 0) return ax__fail(err, errlen, "%s: num_samples %lld is negative", op, (long long)num_samples);
  double *cdf = malloc((size_t)(n > 0 ? n : 1) * sizeof *cdf);
  if (!cdf) return ax__fail(err, errlen, "%s: out of memory", op);
  int rc = weights_cdf(weights, n, cdf, err, errlen, op);
  if (rc == 0) weighted_draws(cdf, n, num_samples, seed, (uint32_t)epoch, out);
  free(cdf);
  return rc;
}

/* Recomputes the order for ld->epoch. Caller holds mu with the worker idle. */
static void make_order(ax_loader *ld) {
  if (ld->cdf) {
    weighted_draws(ld->cdf, ld->n_sub, ld->n, ld->seed, (uint32_t)ld->epoch, ld->order);
    for (int64_t j = 0; j < ld->n; j++) ld->order[j] = ld->subset[ld->order[j]];
    return;
  }
  memcpy(ld->order, ld->subset, (size_t)ld->n * sizeof *ld->order);
  if (ld->shuffle) ax__data_shuffle(ld->order, ld->n, ld->seed, AX_DATA_STREAM_SHUFFLE, (uint32_t)ld->epoch);
}

static void *worker(void *arg) {
  ax_loader *ld = arg;
  pthread_mutex_lock(&ld->mu);
  while (!ld->quit) {
    int64_t k = ld->produce;
    slot *s = &ld->slots[k % 2];
    if (k >= ld->nb || k >= ld->pos + 2 || s->state != SLOT_EMPTY) {
      pthread_cond_wait(&ld->cv, &ld->mu);
      continue;
    }
    uint64_t gen = ld->gen;
    ld->produce++;
    ld->busy = true;
    s->state = SLOT_FILLING;
    pthread_mutex_unlock(&ld->mu);
    fill_batch(ld, k, s->x, s->y); /* order and epoch are stable while busy */
    pthread_mutex_lock(&ld->mu);
    ld->busy = false;
    if (gen == ld->gen) {
      s->batch = k;
      s->state = SLOT_READY;
    } else {
      s->state = SLOT_EMPTY;
    }
    pthread_cond_broadcast(&ld->cv);
  }
  pthread_mutex_unlock(&ld->mu);
  return NULL;
}

/* mean / std: per channel for the features and callback datasets, a table per pixel byte for images. */
static void set_normalization(ax_loader *ld, const ax_loader_opts *o) {
  const ax_dataset *ds = ld->ds;
  float *lut = ld->lut_big ? ld->lut_big : ld->lut;
  for (int c = 0; c < ds->c; c++) {
    ld->norm[c] = o->mean ? o->mean[c] : 0.0f;
    ld->norm[ds->c + c] = o->std ? o->std[c] : 1.0f;
  }
  for (int c = 0; c < ds->c && ds->images; c++)
    for (int v = 0; v < 256; v++)
      lut[256 * c + v] = ((float)v / 255.0f - (o->mean ? o->mean[c] : 0.0f)) / (o->std ? o->std[c] : 1.0f);
}

ax_loader *ax_loader_new(const ax_dataset *ds, const ax_loader_opts *o, char *err, size_t errlen) {
  if (!ds || !o) return fail(err, errlen, "ax_loader_new: no dataset or no options given");
  if (o->batch_size < 1) return fail(err, errlen, "ax_loader_new: batch_size must be at least 1, got %lld", (long long)o->batch_size);
  if (o->n_indices < 0 || (!o->indices && o->n_indices > ds->n))
    return fail(err, errlen, "ax_loader_new: n_indices %lld is not in [0, %lld]", (long long)o->n_indices,
                (long long)ds->n);
  if ((o->mean || o->std) && (!o->mean || !o->std || (o->n_channels != 0 && o->n_channels != ds->c)))
    return fail(err, errlen, "ax_loader_new: mean and std must both be given with %d channel(s), got n_channels %d",
                ds->c, o->n_channels);
  if (o->crop_padding < 0 || o->crop_padding > 4096)
    return fail(err, errlen, "ax_loader_new: crop_padding %d is not in [0, 4096]", o->crop_padding);
  for (int c = 0; o->std && c < ds->c; c++)
    if (!(o->std[c] > 0)) return fail(err, errlen, "ax_loader_new: std[%d] = %g must be positive", c, o->std[c]);
  if (!ds->images && (o->crop_padding > 0 || o->hflip))
    return fail(err, errlen, "ax_loader_new: crop_padding and hflip apply to u8 image datasets only");
  int tc = ds->c, th = ds->h, tw = ds->w;
  char terr[256];
  if (o->transform && ax_transform_out_shape(o->transform, ds->c, ds->h, ds->w, &tc, &th, &tw, terr, sizeof terr))
    return fail(err, errlen, "ax_loader_new: %s", terr);

  ax_loader *ld = calloc(1, sizeof *ld);
  if (!ld) return fail(err, errlen, "ax_loader_new: out of memory");
  pthread_mutex_init(&ld->mu, NULL);
  pthread_cond_init(&ld->cv, NULL);
  ld->ds = ds;
  ld->batch_size = o->batch_size;
  ld->n_sub = o->indices ? o->n_indices : (o->n_indices > 0 ? o->n_indices : ds->n);
  ld->n = o->sample_weights && o->num_samples > 0 ? o->num_samples : ld->n_sub;
  ld->nb = o->drop_last ? ld->n / ld->batch_size : (ld->n + ld->batch_size - 1) / ld->batch_size;
  ld->shuffle = o->shuffle;
  ld->hflip = o->hflip;
  ld->pad = o->crop_padding;
  ld->seed = o->seed;
  ld->prefetch = o->prefetch;
  ld->transform = o->transform;
  ld->tc = tc, ld->th = th, ld->tw = tw;
  size_t nn = (size_t)(ld->n > 0 ? ld->n : 1);
  ld->subset = malloc((size_t)(ld->n_sub > 0 ? ld->n_sub : 1) * sizeof *ld->subset);
  ld->order = malloc(nn * sizeof *ld->order);
  if (ds->c > 4) ld->lut_big = malloc(256 * sizeof(float) * (size_t)ds->c);
  ld->norm = malloc(2 * sizeof(float) * (size_t)ds->c);
  ld->failed = calloc(1, sizeof *ld->failed);
  /* a slot holds the largest batch there can be: never more than the samples */
  size_t per = (size_t)tc * th * tw, bs = (size_t)(ld->batch_size < ld->n ? ld->batch_size : ld->n);
  if (bs == 0) bs = 1;
  for (int i = 0; i < 2 && ld->prefetch; i++) {
    ld->slots[i].x = malloc(bs * (per ? per : 1) * sizeof(float));
    ld->slots[i].y = malloc(bs * sizeof(int64_t));
  }
  bool oom = !ld->subset || !ld->order || (ds->c > 4 && !ld->lut_big) || !ld->norm || !ld->failed ||
             (ld->prefetch && (!ld->slots[0].x || !ld->slots[0].y || !ld->slots[1].x || !ld->slots[1].y));
  if (oom) {
    ax_loader_free(ld);
    return fail(err, errlen, "ax_loader_new: out of memory");
  }
  if (o->sample_weights) {
    ld->cdf = malloc((size_t)(ld->n_sub > 0 ? ld->n_sub : 1) * sizeof *ld->cdf);
    if (!ld->cdf) {
      ax_loader_free(ld);
      return fail(err, errlen, "ax_loader_new: out of memory");
    }
    if (weights_cdf(o->sample_weights, ld->n_sub, ld->cdf, err, errlen, "ax_loader_new") != 0) {
      ax_loader_free(ld);
      return NULL;
    }
  }
  for (int64_t i = 0; i < ld->n_sub; i++) {
    ld->subset[i] = o->indices ? o->indices[i] : i;
    if (ld->subset[i] < 0 || ld->subset[i] >= ds->n) {
      ax__fail(err, errlen, "ax_loader_new: index %lld (entry %lld) is outside the dataset of %lld samples",
           (long long)ld->subset[i], (long long)i, (long long)ds->n);
      ax_loader_free(ld);
      return NULL;
    }
  }
  set_normalization(ld, o);
  make_order(ld);
  if (ld->prefetch && pthread_create(&ld->thread, NULL, worker, ld) != 0) ld->prefetch = false;
  return ld;
}

void ax_loader_free(ax_loader *ld) {
  if (!ld) return;
  if (ld->prefetch) {
    pthread_mutex_lock(&ld->mu);
    ld->quit = true;
    pthread_cond_broadcast(&ld->cv);
    pthread_mutex_unlock(&ld->mu);
    pthread_join(ld->thread, NULL);
  }
  pthread_mutex_destroy(&ld->mu);
  pthread_cond_destroy(&ld->cv);
  for (int i = 0; i < 2; i++) {
    free(ld->slots[i].x);
    free(ld->slots[i].y);
  }
  free(ld->norm);
  free(ld->failed);
  free(ld->subset);
  free(ld->order);
  free(ld->cdf);
  free(ld->lut_big);
  free(ld);
}

int64_t ax_loader_num_batches(const ax_loader *ld) { return ld ? ld->nb : 0; }

ax_loader_state ax_loader_get_state(const ax_loader *ld) {
  ax_loader_state s = {0, 0};
  if (!ld) return s;
  pthread_mutex_lock((pthread_mutex_t *)&ld->mu);
  s.epoch = ld->epoch;
  s.batch = ld->pos;
  pthread_mutex_unlock((pthread_mutex_t *)&ld->mu);
  return s;
}

int ax_loader_set_state(ax_loader *ld, int epoch, int64_t batch) {
  if (!ld || batch < 0 || batch > ld->nb) return -1;
  pthread_mutex_lock(&ld->mu);
  if (epoch != ld->epoch || batch != ld->pos) {
    ld->gen++;
    while (ld->busy) pthread_cond_wait(&ld->cv, &ld->mu);
    ld->slots[0].state = ld->slots[1].state = SLOT_EMPTY;
    if (epoch != ld->epoch) {
      ld->epoch = epoch;
      make_order(ld);
    }
    ld->pos = ld->produce = batch;
    pthread_cond_broadcast(&ld->cv);
  }
  pthread_mutex_unlock(&ld->mu);
  return 0;
}

void ax_loader_start_epoch(ax_loader *ld, int epoch) { ax_loader_set_state(ld, epoch, 0); }

int ax_loader_next(ax_loader *ld, ax_tensor **x, ax_tensor **y) {
  if (x) *x = NULL;
  if (y) *y = NULL;
  if (!ld || !x || !y) return -1;
  const ax_dataset *ds = ld->ds;
  pthread_mutex_lock(&ld->mu);
  int64_t k = ld->pos;
  if (k >= ld->nb) {
    pthread_mutex_unlock(&ld->mu);
    return 0;
  }
  int64_t b = batch_len(ld, k);
  bool same = ld->tc == ds->c && ld->th == ds->h && ld->tw == ds->w; /* else [B, C', H', W'] */
  int64_t xs[4] = {b, ds->sample_shape[0], ds->sample_shape[1], ds->sample_shape[2]};
  if (!same) xs[1] = ld->tc, xs[2] = ld->th, xs[3] = ld->tw;
  *x = ax_empty(same ? 1 + ds->sample_ndim : 4, xs, NULL);
  *y = ax_empty(AX_SHAPE(b), &(ax_tensor_opts){.dtype = AX_I64});
  if (!*x || !*y) {
    pthread_mutex_unlock(&ld->mu);
    *x = *y = NULL;
    return -1;
  }
  if (ld->prefetch) {
    slot *s = &ld->slots[k % 2];
    while (!(s->state == SLOT_READY && s->batch == k)) pthread_cond_wait(&ld->cv, &ld->mu);
    memcpy(ax_data_ptr(*x), s->x, ax_nbytes(*x));
    memcpy(ax_data_ptr(*y), s->y, ax_nbytes(*y));
    s->state = SLOT_EMPTY;
  } else {
    fill_batch(ld, k, ax_data_ptr(*x), ax_data_ptr(*y));
  }
  ld->pos++;
  pthread_cond_broadcast(&ld->cv);
  pthread_mutex_unlock(&ld->mu);
  if (__atomic_load_n(ld->failed, __ATOMIC_RELAXED)) { /* a callback dataset's get failed */
    *x = *y = NULL;
    return -1;
  }
  return 1;
}
