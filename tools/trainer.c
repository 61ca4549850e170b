/* SPDX-License-Identifier: BSD-3-Clause */
/* `axon train` for the image classifiers: the data, the model and the progress
 * display around the library's training engine (include/axon/train.h). See tools/trainer.h. */
#define _DEFAULT_SOURCE
#include "tools/trainer.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/compress.h"
#include "tools/gen.h"
#include "tools/train_common.h"
#include "tools/train_features.h"
#include "tools/util.h"
#include "train/internal.h"
#if defined(AXON_HAVE_PLOT)
#include "axon/plot.h"
#endif

#define CKPT_FORMAT "axon-train-checkpoint-1"

#define now_s ax_tool_now_s
#define fail ax_tool_fail

void ax_train_config_defaults(ax_train_config *c) {
  memset(c, 0, sizeof *c);
  c->model = "cnn";
  c->dataset = "fashion-mnist";
  c->epochs = 10;
  c->batch_size = 128;
  c->optimizer = "adamw";
  c->weight_decay = -1; /* the optimizer's default */
  c->momentum = 0.9;
  c->schedule = "onecycle";
  c->device = ax_default_device();
  c->augment = -1;
  c->prefetch = true;
  c->progress = -1;
}

/* ---- data ---- */

/* The model zoo reads [N, 1, 28, 28] images and predicts 10 classes (include/axon/nn.h):
 * a dataset that does not fit is an error before anything is built. */
#define ZOO_C 1
#define ZOO_H 28
#define ZOO_W 28
#define ZOO_CLASSES 10

static int check_data_fits(const ax_dataset *ds, const char *model, const char *what, int64_t n_used, char *err,
                           size_t errlen) {
  ax_tensor *im = ax_dataset_images(ds), *lb = ax_dataset_labels(ds);
  if (!im || !lb || im->ndim != 4) return fail(err, errlen, "the %s set holds no images", what);
  if (im->shape[1] != ZOO_C || im->shape[2] != ZOO_H || im->shape[3] != ZOO_W)
    return fail(err, errlen, "the %s images are %" PRId64 "x%" PRId64 "x%" PRId64 " (channels x height x width), but "
                             "model %s reads %dx%dx%d images", what, im->shape[1], im->shape[2], im->shape[3], model,
                ZOO_C, ZOO_H, ZOO_W);
  if (ax_dataset_size(ds) < 1) return fail(err, errlen, "the %s set is empty", what);
  if (lb->dtype != AX_I64 || !ax_is_contiguous(lb) || lb->device.type != AX_DEVICE_CPU)
    return fail(err, errlen, "the %s labels are not i64 on the host", what);
  const int64_t *v = ax_data_ptr(lb);
  int64_t n = n_used > 0 && n_used < ax_dataset_size(ds) ? n_used : ax_dataset_size(ds);
  for (int64_t i = 0; v && i < n; i++)
    if (v[i] < 0 || v[i] >= ZOO_CLASSES)
      return fail(err, errlen, "%s label %" PRId64 " of image %" PRId64 " is outside the %d classes [0, %d] of model %s",
                  what, v[i], i, ZOO_CLASSES, ZOO_CLASSES - 1, model);
  return 0;
}

/* ---- progress ---- */

typedef struct progress {
  FILE *f;
  bool bar;
  int epoch, epochs;
  int64_t total, next_plain;
  double t0;
} progress;

static void fmt_time(char *buf, size_t n, double s) {
  if (!(s >= 0) || s > 1e7) s = 0;
  int t = (int)(s + 0.5);
  if (t >= 3600) snprintf(buf, n, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
  else snprintf(buf, n, "%d:%02d", t / 60, t % 60);
}

static void progress_update(progress *p, int64_t done, double loss, int64_t images) {
  double el = now_s() - p->t0;
  double ips = el > 0 ? (double)images / el : 0;
  char eta[32];
  fmt_time(eta, sizeof eta, done > 0 ? el / (double)done * (double)(p->total - done) : 0);
  if (p->bar) {
    int w = 24, fill = p->total > 0 ? (int)(w * done / p->total) : w;
    char bar[32];
    for (int i = 0; i < w; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[w] = 0;
    fprintf(p->f, "\repoch %d/%d [%s] %" PRId64 "/%" PRId64 " loss %.4f  %.0f img/s  ETA %s ", p->epoch, p->epochs, bar,
            done, p->total, loss, ips, eta);
    fflush(p->f);
  } else if (done >= p->next_plain || done == p->total) {
    fprintf(p->f, "epoch %d/%d  step %" PRId64 "/%" PRId64 "  loss %.4f  %.0f img/s  ETA %s\n", p->epoch, p->epochs,
            done, p->total, loss, ips, eta);
    fflush(p->f);
    p->next_plain = done + (p->total + 3) / 4;
  }
}

static void progress_end(progress *p) {
  if (p->bar) fprintf(p->f, "\r\033[K");
}

/* ---- the run: data and display around the engine ---- */

typedef struct clf_run {
  ax_tool_compress *compress; /* first: tools/compress.c's metrics hook reads it through the callbacks' ud */
  const ax_train_config *c;
  ax_comm *comm;
  int world;
  FILE *log;
  ax_dataset *train_ds, *test_ds;
  bool features;         /* --data-csv / --data-npz: the feature MLP */
  ax_image_data *data;
  int64_t steps_per_epoch;
  bool augment, bar;
  progress pg;
  ax_train_report rep;
} clf_run;

static int clf_on_epoch_begin(void *ud, ax_trainer *t, const ax_train_event *e) {
  clf_run *r = ud;
  r->pg = (progress){r->log, r->bar, e->epoch + 1, r->c->epochs, r->steps_per_epoch, 0, now_s()};
  return 0;
}

static int clf_on_step(void *ud, ax_trainer *t, const ax_train_event *e) {
  clf_run *r = ud;
  int every = r->c->log_every;
  if (every > 0 && e->step % every == 0) /* the same numbers as the metrics file's step line */
    fprintf(r->log, "step %" PRId64 "  epoch %d  train loss %.4f  step loss %.4f  lr %.3g\n", e->step, e->epoch + 1,
            e->train_loss, e->loss, e->lr);
  progress_update(&r->pg, e->batch, e->train_loss, (int64_t)e->samples);
  return 0;
}

static int clf_on_epoch(void *ud, ax_trainer *t, const ax_train_event *e) {
  clf_run *r = ud;
  progress_end(&r->pg);
  r->pg.bar = false; /* ended */
  double sps = e->epoch_seconds > 0 ? e->samples / e->epoch_seconds : 0;
  fprintf(r->log, "epoch %d/%d  train loss %.4f", e->epoch + 1, r->c->epochs, e->train_loss);
  if (e->has_val) fprintf(r->log, "  val loss %.4f acc %.2f%%", e->val.loss, 100 * e->val.accuracy);
  if (e->has_test) fprintf(r->log, "  test loss %.4f acc %.2f%%", e->test.loss, 100 * e->test.accuracy);
  fprintf(r->log, "  %.1fs  %.0f img/s\n", e->epoch_seconds, sps);
  fflush(r->log);
  ax_train_report *p = &r->rep;
  p->epochs_done = e->epoch + 1;
  p->train_loss = e->train_loss;
  p->test_loss = e->test.loss, p->test_accuracy = e->test.accuracy;
  p->val_loss = e->has_val ? e->val.loss : 0, p->val_accuracy = e->has_val ? e->val.accuracy : 0;
  p->samples_per_sec += e->samples; /* images so far; divided by the time at the end */
  return 0;
}

static int clf_ckpt_save(void *ud, ax_state_dict *sd) {
  return ax_state_dict_set_meta(sd, "dataset", ((clf_run *)ud)->c->dataset);
}

static int clf_ckpt_load(void *ud, const ax_state_dict *sd, const char *path, char *err, size_t errlen) {
  int64_t bs;
  int want = ((clf_run *)ud)->c->batch_size;
  if (ax_checkpoint_meta_i64(sd, "batch_size", 1, INT_MAX, &bs, path, err, errlen)) return -1;
  if (bs != want)
    return fail(err, errlen, "%s: written with --batch-size %" PRId64 ", resumed with %d: the data position would not match",
                path, bs, want);
  return 0;
}

/* The datasets, checked against the model, and the engine's data, before the model is built. */
static int clf_load_data(clf_run *r, char *err, size_t errlen) {
  const ax_train_config *c = r->c;
  r->features = c->data_csv || c->data_npz;
  if (r->features) {
    if (strcmp(c->model, "mlp"))
      return fail(err, errlen, "--data-%s trains --model mlp (a feature MLP), not %s", c->data_csv ? "csv" : "npz", c->model);
    if (c->augment == 1) return fail(err, errlen, "--augment applies to the image datasets, not --data-%s", c->data_csv ? "csv" : "npz");
    ax_feature_source fs = {.csv = c->data_csv, .npz = c->data_npz, .label_col = c->label_col, .test_size = c->test_size,
                            .seed = c->seed};
    if (ax_tool_load_features(&fs, &r->train_ds, &r->test_ds, err, errlen)) return -1;
  } else if (!(r->train_ds = ax_dataset_by_name(c->dataset, c->data_dir, true, err, errlen)) ||
             !(r->test_ds = ax_dataset_by_name(c->dataset, c->data_dir, false, err, errlen))) {
    return -1;
  } else if (check_data_fits(r->train_ds, c->model, "training", c->limit_train, err, errlen) ||
             check_data_fits(r->test_ds, c->model, "test", c->limit_test, err, errlen)) {
    return -1;
  }
  r->augment = !r->features && (c->augment < 0 ? !strcmp(c->model, "resnet") : c->augment == 1);
  ax_image_data_opts o = {.train = r->train_ds, .test = r->test_ds, .limit_train = c->limit_train,
                          .limit_test = c->limit_test, .val_size = c->val_size, .batch_size = c->batch_size,
                          .seed = c->seed, .augment = r->augment, .prefetch = c->prefetch, .device = c->device,
                          .comm = r->comm, .norm_subset = c->norm_subset,
                          .split = c->split, .no_test = c->no_test};
  if (!(r->data = ax_image_data_new(&o, err, errlen))) return -1;
  r->steps_per_epoch = ax_image_data_steps_per_epoch(r->data);
  return 0;
}

static ax_trainer_config clf_engine_config(clf_run *r, ax_module *model, double lr) {
  const ax_train_config *c = r->c;
  ax_trainer_config e = ax_trainer_defaults();
  AX_TOOL_ENGINE_COMMON(e, c);
  e.model = model;
  AX_TOOL_ENGINE_EPOCHS(e, c, lr, r->steps_per_epoch);
  e.comm = r->comm;
  e.early_stop = c->early_stop;
  e.metrics_per_step = c->log_every > 0;
  e.metrics_step_every = c->log_every;
  e.checkpoint_format = CKPT_FORMAT;
  e.checkpoint_save = clf_ckpt_save;
  e.checkpoint_load = clf_ckpt_load;
  e.on_epoch_begin = clf_on_epoch_begin;
  e.on_step = clf_on_step;
  e.on_epoch = clf_on_epoch;
  e.ud = r;
  return e;
}

/* The start-up lines (after a resume, before the first step). */
static void clf_describe(clf_run *r, ax_trainer *t, ax_module *model, int n_sync_bn, double lr) {
  const ax_train_config *c = r->c;
  FILE *log = r->log;
  const ax_trainer_state *st = ax_trainer_get_state(t);
  if (st->resumed)
    fprintf(log, "resumed from %s/checkpoint.safetensors at epoch %d, step %" PRId64 "\n", c->checkpoint_dir,
            st->epoch + 1, st->step);
  else if (c->resume)
    fprintf(log, "no checkpoint in %s yet: starting from scratch\n", c->checkpoint_dir);
  char per_rank[64];
  snprintf(per_rank, sizeof per_rank, "%d images per rank per step", c->batch_size / r->world);
  ax_tool_describe_parallel(log, t, r->comm, c->optimizer, per_rank);
  if (ax_trainer_ddp(t) && c->sync_bn)
    fprintf(log, "SyncBatchNorm: %d batch-norm layers normalize over the global batch\n", n_sync_bn);
  char dev[32];
  int64_t n_fit, n_test;
  ax_image_data_sizes(r->data, &n_fit, &n_test);
  fprintf(log, "model %s: %" PRId64 " parameters on %s; %s: %" PRId64 " training images, %" PRId64
               " test images%s; %s lr %g, schedule %s, batch %d\n",
          c->model, ax_module_num_parameters(model), ax_device_str(c->device, dev, sizeof dev),
          c->data_csv ? c->data_csv : c->data_npz ? c->data_npz : c->dataset, n_fit,
          n_test, r->augment ? " (augmented)" : "", c->optimizer, lr, c->schedule, c->batch_size);
  int64_t total = r->steps_per_epoch * c->epochs;
  ax_tool_warn_warmup(log, c->warmup_steps, c->max_steps > 0 && c->max_steps < total ? c->max_steps : total, lr);
  r->bar = c->log_every <= 0 && (c->progress == 1 || (c->progress < 0 && ax_tool_is_terminal(log)));
}

/* The number of classes of the feature MLP: every label of both sets, at least 2. */
static int feature_classes(const clf_run *r) {
  int a = ax_dataset_num_classes(r->train_ds), b = ax_dataset_num_classes(r->test_ds);
  return a > b ? (a > 2 ? a : 2) : (b > 2 ? b : 2);
}

#define FEATURE_HIDDEN 128

/* A comma-separated list of n floats (%.9g: each round-trips exactly) as metadata key. */
static void set_meta_floats(ax_state_dict *sd, const char *key, const float *v, int n) {
  size_t cap = (size_t)n * 18 + 1, k = 0;
  char *b = malloc(cap);
  if (!b) return;
  b[0] = 0;
  for (int i = 0; i < n; i++) k += (size_t)snprintf(b + k, cap - k, i ? ",%.9g" : "%.9g", (double)v[i]);
  ax_state_dict_set_meta(sd, key, b);
  free(b);
}

/* The metadata that makes a weights file self-describing (docs/file-formats.md): the
 * model, its input and classes, the data it saw and the normalization its inputs need. */
static void set_weights_meta(ax_state_dict *sd, const clf_run *r) {
  const ax_train_config *c = r->c;
  char b[128];
  int nc = ax_image_data_norm(r->data, NULL, NULL, 0);
  float *mean = malloc((size_t)nc * sizeof *mean), *std = malloc((size_t)nc * sizeof *std);
  ax_state_dict_set_meta(sd, "format", "pt");
  ax_state_dict_set_meta(sd, "axon_model", c->model);
  if (r->features) ax_tool_sample_shape(r->train_ds, b, sizeof b);
  else snprintf(b, sizeof b, "%d,%d,%d", ZOO_C, ZOO_H, ZOO_W);
  ax_state_dict_set_meta(sd, "axon_input_shape", b);
  snprintf(b, sizeof b, "%d", r->features ? feature_classes(r) : ZOO_CLASSES);
  ax_state_dict_set_meta(sd, "axon_num_classes", b);
  if (r->features) { /* what axon eval needs to rebuild the model and the same test split */
    snprintf(b, sizeof b, "%d", FEATURE_HIDDEN), ax_state_dict_set_meta(sd, "axon_hidden", b);
    snprintf(b, sizeof b, "%" PRIu64, c->seed), ax_state_dict_set_meta(sd, "axon_split_seed", b);
    snprintf(b, sizeof b, "%" PRId64, ax_dataset_size(r->test_ds)), ax_state_dict_set_meta(sd, "axon_test_size", b);
    if (c->label_col) ax_state_dict_set_meta(sd, "axon_label_col", c->label_col);
  }
  snprintf(b, sizeof b, "%s%s", c->data_csv ? "csv:" : c->data_npz ? "npz:" : "",
           c->data_csv ? c->data_csv : c->data_npz ? c->data_npz : c->dataset);
  ax_state_dict_set_meta(sd, "axon_dataset", b);
  if (mean && std) {
    ax_image_data_norm(r->data, mean, std, nc);
    set_meta_floats(sd, "axon_norm_mean", mean, nc);
    set_meta_floats(sd, "axon_norm_std", std, nc);
  }
  ax_state_dict_set_meta(sd, "axon_norm_stats", c->norm_subset ? "subset" : "full");
  free(mean);
  free(std);
}

static int save_weights(clf_run *r, ax_module *model, char *err, size_t errlen) {
  const ax_train_config *c = r->c;
  ax_state_dict *sd = ax_state_dict_new();
  ax_module_state_dict(model, sd);
  set_weights_meta(sd, r);
  int bad = ax_save_safetensors(c->save_path, sd, err, errlen);
  ax_state_dict_free(sd);
  if (!bad) fprintf(r->log, "weights written to %s\n", c->save_path);
  return bad ? -1 : 0;
}

/* Builds the model, the loaders and the engine, and runs it. */
static int clf_train(clf_run *r, char *err, size_t errlen) {
  const ax_train_config *c = r->c;
  ax_manual_seed(c->seed);
  ax_module *model = r->features ? ax_model_mlp_features((int)ax_tool_sample_size(r->train_ds), FEATURE_HIDDEN,
                                                         feature_classes(r))
                                 : ax_model_create(c->model, err, errlen);
  if (!model) return r->features ? fail(err, errlen, "cannot build the feature MLP: %s", ax_last_error()) : -1;
  ax_trainer *t = NULL;
  int rc = -1, n_sync_bn = c->sync_bn ? ax_sync_batch_norm_convert(model, r->comm) : 0;
  double lr = c->lr > 0 ? c->lr : ax_optimizer_default_lr(c->optimizer, c->schedule);
  if (n_sync_bn < 0) fail(err, errlen, "--sync-bn: %s", ax_last_error());
  else if (ax_tool_compress_init(c, model, err, errlen)) {
  } else if (ax_module_to(model, c->device) != 0)
    fail(err, errlen, "cannot move the model to the device: %s", ax_last_error());
  else {
    ax_trainer_config e = clf_engine_config(r, model, lr);
    ax_train_data d = ax_image_data_source(r->data);
    if (!ax_tool_compress_setup(c, model, &e, &d, r->log, &r->compress, err, errlen))
      t = ax_trainer_new(&e, &d, err, errlen);
  }
  if (t) {
    clf_describe(r, t, model, n_sync_bn, lr);
    double t_start = now_s();
    rc = ax_trainer_run(t, err, errlen);
    const ax_trainer_state *st = ax_trainer_get_state(t);
    progress_end(&r->pg);
    r->rep.steps_done = st->step;
    r->rep.seconds = now_s() - t_start;
    r->rep.samples_per_sec = r->rep.seconds > 0 ? r->rep.samples_per_sec / r->rep.seconds : 0;
    if (rc == 0 && st->stopped && c->stop_after_steps > 0) {
      fprintf(r->log, "stopped after %" PRId64 " steps (checkpoint written)\n", st->step);
    } else if (rc == 0) {
      if (st->stopped_early) fprintf(r->log, "early stop: validation loss did not improve for %d epochs\n", c->early_stop);
      if (c->save_path && ax_comm_rank(r->comm) == 0) rc = save_weights(r, model, err, errlen);
    }
  }
  ax_trainer_free(t);
  ax_tool_compress_free(r->compress);
  r->compress = NULL;
  ax_module_free(model);
  return rc;
}

int ax_train(const ax_train_config *c, ax_train_report *report, char *err, size_t errlen) {
  if (c->cv > 0) return ax_tool_train_cv(c, err, errlen); /* tools/cv.c */
  if (ax_gen_is_model(c->model)) return ax_gen_train(c, report, err, errlen); /* tools/gen_train.c */
  ax_comm *comm = ax_comm_world();
  int world = ax_comm_size(comm);
  if (c->epochs < 1 || c->batch_size < 1) return fail(err, errlen, "--epochs and --batch-size must be at least 1");
  if (c->resume && !c->checkpoint_dir) return fail(err, errlen, "--resume needs --checkpoint DIR");
  if (world > 1 && c->batch_size % world != 0)
    return fail(err, errlen, "--batch-size %d is not divisible by the %d ranks", c->batch_size, world);
  if (c->early_stop > 0 && c->val_size <= 0)
    return fail(err, errlen, "--early-stop watches the validation loss: it needs --val-size N (never the test set)");
  /* the checks above return before this handle exists (they used to leak it) */
  FILE *devnull = ax_comm_rank(comm) != 0 ? fopen("/dev/null", "w") : NULL; /* only rank 0 reports */
  clf_run r = {.c = c, .comm = comm, .world = world, .log = devnull ? devnull : c->log ? c->log : stdout};
  if (c->threads > 0) ax_set_num_threads(c->threads);
  int rc = clf_load_data(&r, err, errlen) ? -1 : clf_train(&r, err, errlen);
  if (report) *report = r.rep;
  if (devnull) fclose(devnull);
  ax_image_data_free(r.data);
  ax_dataset_free(r.train_ds);
  ax_dataset_free(r.test_ds);
  return rc;
}

/* --confusion-png: the matrix as a heatmap through libaxon_plot */
static int confusion_png(const ax_confusion *cm, const char *path, const char *const *classes, const char *title,
                         char *err, size_t errlen) {
#if defined(AXON_HAVE_PLOT)
  int k = ax_confusion_num_classes(cm);
  int64_t *counts = malloc(sizeof(int64_t) * k * k);
  if (!counts) return fail(err, errlen, "out of memory");
  for (int t = 0; t < k; t++)
    for (int p = 0; p < k; p++) counts[t * k + p] = ax_confusion_count(cm, t, p);
  int rc = ax_png_confusion(path, counts, k, classes, title, err, errlen);
  ax_plot_shutdown(); /* the font caches, for leak checkers */
  free(counts);
  return rc;
#else
  return fail(err, errlen, "cannot write %s: this axon was built without Cairo (libaxon_plot)", path);
#endif
}

/* The model to evaluate: --model and the file's axon_model must agree; with neither, the
 * default, said in one line. NULL with a reason. */
static const char *eval_model_name(const ax_eval_config *c, const ax_state_dict *sd, FILE *out, char *err,
                                   size_t errlen) {
  const char *file = ax_state_dict_meta(sd, "axon_model");
  if (c->model && file && strcmp(c->model, file))
    return fail(err, errlen, "%s holds a '%s' model (its axon_model metadata), but --model is '%s'", c->weights, file,
                c->model), NULL;
  const char *name = c->model ? c->model : file;
  if (!name) {
    fprintf(out, "note: %s names no model (a file without axon_model metadata): using the default, cnn (pass --model "
                 "to choose)\n", c->weights);
    name = "cnn";
  }
  if (strcmp(name, "mlp") && strcmp(name, "cnn") && strcmp(name, "resnet"))
    return fail(err, errlen, "%s holds a '%s' model; axon eval evaluates the image classifiers (%s)%s", c->weights, name,
                ax_model_names(), strcmp(name, "gpt") ? "" : " and, with --model gpt, GPT weights"), NULL;
  return name;
}

/* One float of the metadata: 1 if absent, 0 when read, -1 (with a reason) when not a finite number in range. */
static int meta_float(const ax_state_dict *sd, const char *key, const char *path, float lo, float *v, char *err,
                      size_t errlen) {
  const char *s = ax_state_dict_meta(sd, key);
  if (!s) return 1;
  char *end;
  float x = strtof(s, &end);
  if (end == s || *end || !isfinite(x) || x < lo)
    return fail(err, errlen, "%s: metadata %s is '%s', expected a finite number >= %g", path, key, s, (double)lo);
  *v = x;
  return 0;
}

/* The input normalization and shape from the file's metadata (axon train writes them).
 * 0 with *found, 0 without (an older file), -1 when they are there but wrong. */
static int eval_meta_norm(const ax_state_dict *sd, const char *path, float *mean, float *std, bool *found, char *err,
                          size_t errlen) {
  const char *shape = ax_state_dict_meta(sd, "axon_input_shape"), *classes = ax_state_dict_meta(sd, "axon_num_classes");
  char want[32];
  snprintf(want, sizeof want, "%d,%d,%d", ZOO_C, ZOO_H, ZOO_W);
  if (shape && strcmp(shape, want))
    return fail(err, errlen, "%s: metadata axon_input_shape is '%s', but the model zoo reads %s images", path, shape, want);
  if (classes && atoi(classes) != ZOO_CLASSES)
    return fail(err, errlen, "%s: metadata axon_num_classes is '%s', but the model zoo predicts %d classes", path,
                classes, ZOO_CLASSES);
  int m = meta_float(sd, "axon_norm_mean", path, -1e30f, mean, err, errlen);
  int s = m < 0 ? -1 : meta_float(sd, "axon_norm_std", path, 0, std, err, errlen);
  if (m < 0 || s < 0) return -1;
  if (m != s)
    return fail(err, errlen, "%s: metadata has %s but not %s", path, m ? "axon_norm_std" : "axon_norm_mean",
                m ? "axon_norm_mean" : "axon_norm_std");
  *found = m == 0;
  return 0;
}

/* The test loss and accuracy of model on the first n_test images, normalized with mean / std. */
static int eval_run(const ax_eval_config *c, ax_module *model, ax_dataset *test_ds, float mean, float std, FILE *out,
                    double *accuracy, char *err, size_t errlen) {
  int64_t n_test = ax_dataset_size(test_ds);
  if (c->limit_test > 0 && c->limit_test < n_test) n_test = c->limit_test;
  ax_loader *ld = ax_loader_new(test_ds, &(ax_loader_opts){.batch_size = c->batch_size > 0 ? c->batch_size : 500,
                                                          .n_indices = n_test, .mean = &mean, .std = &std,
                                                          .n_channels = 1},
                                err, errlen);
  if (!ld) return -1;
  ax_confusion *cm = ax_confusion_new(10);
  ax_eval_result r = ax_evaluate_classifier(model, ld, c->device, cm);
  fprintf(out, "%s on %s test set (%" PRId64 " images): loss %.4f, accuracy %.2f%%\n\n", c->weights, c->dataset, n_test,
          r.loss, 100 * r.accuracy);
  const char *const *classes = !strcmp(c->dataset, "fashion-mnist") ? ax_fashion_mnist_classes : NULL;
  ax_confusion_print(cm, classes, out);
  if (accuracy) *accuracy = r.accuracy;
  if (c->result) *c->result = r;
  char title[256];
  snprintf(title, sizeof title, "%s on %s: accuracy %.2f%%", c->weights, c->dataset, 100 * r.accuracy);
  int rc = c->confusion_png ? confusion_png(cm, c->confusion_png, classes, title, err, errlen) : 0;
  if (rc == 0 && c->metrics_json)
    rc = ax_tool_eval_metrics_json(model, ld, c->device, c->metrics_json, c->weights, err, errlen);
  ax_confusion_free(cm);
  ax_loader_free(ld);
  return rc;
}

int ax_eval(const ax_eval_config *c, double *accuracy, char *err, size_t errlen) {
  FILE *out = c->out ? c->out : stdout;
  int rc = -1;
  ax_dataset *train_ds = NULL, *test_ds = NULL;
  ax_module *model = NULL;
  char e2[512];
  ax_state_dict *sd = ax_load_safetensors(c->weights, e2, sizeof e2);
  if (!sd) {
    fail(err, errlen, "%s", e2);
    goto out;
  }
  const char *src = ax_state_dict_meta(sd, "axon_dataset");
  if (c->data_csv || c->data_npz || (src && (!strncmp(src, "csv:", 4) || !strncmp(src, "npz:", 4)))) {
    rc = ax_tool_eval_features(c, sd, out, accuracy, err, errlen); /* tools/train_features.c */
    goto out;
  }
  const char *name = eval_model_name(c, sd, out, err, errlen);
  float mean = 0, std = 1;
  bool have_norm = false;
  if (!name || eval_meta_norm(sd, c->weights, &mean, &std, &have_norm, err, errlen)) goto out;
  /* the data first, checked against the model, then the model; the training set only for
   * the statistics of a file that does not record them */
  if ((!have_norm && !(train_ds = ax_dataset_by_name(c->dataset, c->data_dir, true, err, errlen))) ||
      !(test_ds = ax_dataset_by_name(c->dataset, c->data_dir, false, err, errlen)))
    goto out;
  if ((train_ds && check_data_fits(train_ds, name, "training", 0, err, errlen)) ||
      check_data_fits(test_ds, name, "test", c->limit_test, err, errlen))
    goto out;
  if (!have_norm) {
    ax_dataset_channel_stats(train_ds, NULL, ax_dataset_size(train_ds), &mean, &std);
    fprintf(out, "note: %s records no input normalization (a file from before axon_norm_mean): using the %s "
                 "training set's mean %.4f and std %.4f\n", c->weights, c->dataset, mean, std);
  }
  /* int8 weights from axon quantize run as an Int8Model (docs/quantization.md) */
  model = ax_state_dict_is_int8(sd) ? ax_quant_load(name, sd, c->weights, err, errlen) : ax_model_create(name, err, errlen);
  if (!model) goto out;
  if (!ax_state_dict_is_int8(sd) && ax_module_load_state_dict(model, sd, true, e2, sizeof e2) != 0) {
    fail(err, errlen, "%s: %s", c->weights, e2);
    goto out;
  }
  if (ax_module_to(model, c->device) != 0) {
    fail(err, errlen, "cannot move the model to the device: %s", ax_last_error());
    goto out;
  }
  rc = eval_run(c, model, test_ds, mean, std, out, accuracy, err, errlen);
out:
  ax_dataset_free(train_ds);
  ax_dataset_free(test_ds);
  ax_state_dict_free(sd);
  ax_module_free(model);
  return rc;
}

int ax__train_checkpoint_io(const ax_train_config *c, ax_module *model, ax_optimizer *opt, bool save, char *err,
                            size_t errlen) {
  clf_run r = {.c = c};
  ax_trainer_config e = clf_engine_config(&r, model, 1e-3);
  e.opt = opt;
  e.epochs = c->epochs > 0 ? c->epochs : 1;
  ax_trainer_state st = {.epoch = 1, .batch = 3, .step = 12, .best_loss = INFINITY, .loss_sum = 4.5, .loss_count = 3};
  return ax_trainer_checkpoint_io(&e, NULL, &st, save, err, errlen);
}
