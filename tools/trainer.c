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

#include "tools/gen.h"
#include "tools/train_common.h"
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
  const ax_train_config *c;
  ax_comm *comm;
  int world;
  FILE *log;
  ax_dataset *train_ds, *test_ds;
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
  fprintf(r->log, "  test loss %.4f acc %.2f%%  %.1fs  %.0f img/s\n", e->test.loss, 100 * e->test.accuracy,
          e->epoch_seconds, sps);
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
  if (!(r->train_ds = ax_dataset_by_name(c->dataset, c->data_dir, true, err, errlen)) ||
      !(r->test_ds = ax_dataset_by_name(c->dataset, c->data_dir, false, err, errlen)))
    return -1;
  if (check_data_fits(r->train_ds, c->model, "training", c->limit_train, err, errlen) ||
      check_data_fits(r->test_ds, c->model, "test", c->limit_test, err, errlen))
    return -1;
  r->augment = c->augment < 0 ? !strcmp(c->model, "resnet") : c->augment == 1;
  ax_image_data_opts o = {.train = r->train_ds, .test = r->test_ds, .limit_train = c->limit_train,
                          .limit_test = c->limit_test, .val_size = c->val_size, .batch_size = c->batch_size,
                          .seed = c->seed, .augment = r->augment, .prefetch = c->prefetch, .device = c->device,
                          .comm = r->comm};
  if (!(r->data = ax_image_data_new(&o, err, errlen))) return -1;
  r->steps_per_epoch = ax_image_data_steps_per_epoch(r->data);
  return 0;
}

static ax_trainer_config clf_engine_config(clf_run *r, ax_module *model, double lr) {
  const ax_train_config *c = r->c;
  ax_trainer_config e = ax_trainer_defaults();
  AX_TOOL_ENGINE_COMMON(e, c);
  e.model = model;
  e.epochs = c->epochs;
  e.optimizer = c->optimizer;
  e.optim = (ax_optim_spec){.lr = lr, .weight_decay = c->weight_decay, .momentum = c->momentum};
  e.schedule_name = c->schedule;
  int64_t total = r->steps_per_epoch * c->epochs;
  e.steps = c->max_steps;
  e.sched = (ax_schedule_spec){.lr = lr, .total_steps = c->max_steps > 0 && c->max_steps < total ? c->max_steps : total,
                               .steps_per_epoch = r->steps_per_epoch, .epochs = c->epochs,
                               .warmup_steps = c->warmup_steps, .warmup_start = 0.01};
  e.comm = r->comm;
  e.early_stop = c->early_stop;
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
          c->model, ax_module_num_parameters(model), ax_device_str(c->device, dev, sizeof dev), c->dataset, n_fit,
          n_test, r->augment ? " (augmented)" : "", c->optimizer, lr, c->schedule, c->batch_size);
  int64_t total = r->steps_per_epoch * c->epochs;
  ax_tool_warn_warmup(log, c->warmup_steps, c->max_steps > 0 && c->max_steps < total ? c->max_steps : total, lr);
  r->bar = c->progress == 1 || (c->progress < 0 && ax_tool_is_terminal(log));
}

static int save_weights(const ax_train_config *c, ax_module *model, FILE *log, char *err, size_t errlen) {
  ax_state_dict *sd = ax_state_dict_new();
  ax_module_state_dict(model, sd);
  ax_state_dict_set_meta(sd, "format", "pt");
  ax_state_dict_set_meta(sd, "axon_model", c->model);
  int bad = ax_save_safetensors(c->save_path, sd, err, errlen);
  ax_state_dict_free(sd);
  if (!bad) fprintf(log, "weights written to %s\n", c->save_path);
  return bad ? -1 : 0;
}

/* Builds the model, the loaders and the engine, and runs it. */
static int clf_train(clf_run *r, char *err, size_t errlen) {
  const ax_train_config *c = r->c;
  ax_manual_seed(c->seed);
  ax_module *model = ax_model_create(c->model, err, errlen);
  if (!model) return -1;
  ax_trainer *t = NULL;
  int rc = -1, n_sync_bn = c->sync_bn ? ax_sync_batch_norm_convert(model, r->comm) : 0;
  double lr = c->lr > 0 ? c->lr : ax_optimizer_default_lr(c->optimizer, c->schedule);
  if (n_sync_bn < 0) fail(err, errlen, "--sync-bn: %s", ax_last_error());
  else if (ax_module_to(model, c->device) != 0)
    fail(err, errlen, "cannot move the model to the device: %s", ax_last_error());
  else {
    ax_trainer_config e = clf_engine_config(r, model, lr);
    ax_train_data d = ax_image_data_source(r->data);
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
      if (c->save_path && ax_comm_rank(r->comm) == 0) rc = save_weights(c, model, r->log, err, errlen);
    }
  }
  ax_trainer_free(t);
  ax_module_free(model);
  return rc;
}

int ax_train(const ax_train_config *c, ax_train_report *report, char *err, size_t errlen) {
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
  free(counts);
  return rc;
#else
  return fail(err, errlen, "cannot write %s: this axon was built without Cairo (libaxon_plot)", path);
#endif
}

int ax_eval(const ax_eval_config *c, double *accuracy, char *err, size_t errlen) {
  FILE *out = c->out ? c->out : stdout;
  int rc = -1;
  ax_dataset *train_ds = NULL, *test_ds = NULL;
  ax_loader *ld = NULL;
  ax_state_dict *sd = NULL;
  ax_confusion *cm = NULL;
  ax_module *model = NULL;
  char e2[512];
  sd = ax_load_safetensors(c->weights, e2, sizeof e2);
  if (!sd) {
    fail(err, errlen, "%s", e2);
    goto out;
  }
  /* without --model, the model named in the file (axon train writes it), else the default */
  const char *name = c->model ? c->model : ax_state_dict_meta(sd, "axon_model");
  if (!name) name = "cnn";
  if (strcmp(name, "mlp") && strcmp(name, "cnn") && strcmp(name, "resnet")) {
    fail(err, errlen, "%s holds a '%s' model; axon eval evaluates the image classifiers (%s)", c->weights, name,
         ax_model_names());
    goto out;
  }
  /* the data first, checked against the model, then the model */
  if (!(train_ds = ax_dataset_by_name(c->dataset, c->data_dir, true, err, errlen)) ||
      !(test_ds = ax_dataset_by_name(c->dataset, c->data_dir, false, err, errlen)))
    goto out;
  if (check_data_fits(train_ds, name, "training", 0, err, errlen) ||
      check_data_fits(test_ds, name, "test", c->limit_test, err, errlen))
    goto out;
  model = ax_model_create(name, err, errlen);
  if (!model) goto out;
  if (ax_module_load_state_dict(model, sd, true, e2, sizeof e2) != 0) {
    fail(err, errlen, "%s: %s", c->weights, e2);
    goto out;
  }
  if (ax_module_to(model, c->device) != 0) {
    fail(err, errlen, "cannot move the model to the device: %s", ax_last_error());
    goto out;
  }
  float mean = 0, std = 1;
  ax_dataset_channel_stats(train_ds, NULL, ax_dataset_size(train_ds), &mean, &std);
  int64_t n_test = ax_dataset_size(test_ds);
  if (c->limit_test > 0 && c->limit_test < n_test) n_test = c->limit_test;
  ld = ax_loader_new(test_ds, &(ax_loader_opts){.batch_size = c->batch_size > 0 ? c->batch_size : 500,
                                                 .n_indices = n_test, .mean = &mean, .std = &std, .n_channels = 1},
                     err, errlen);
  if (!ld) goto out;
  cm = ax_confusion_new(10);
  ax_eval_result r = ax_evaluate_classifier(model, ld, c->device, cm);
  fprintf(out, "%s on %s test set (%" PRId64 " images): loss %.4f, accuracy %.2f%%\n\n", c->weights, c->dataset, n_test,
          r.loss, 100 * r.accuracy);
  const char *const *classes = !strcmp(c->dataset, "fashion-mnist") ? ax_fashion_mnist_classes : NULL;
  ax_confusion_print(cm, classes, out);
  if (accuracy) *accuracy = r.accuracy;
  char title[256];
  snprintf(title, sizeof title, "%s on %s: accuracy %.2f%%", c->weights, c->dataset, 100 * r.accuracy);
  if (c->confusion_png && confusion_png(cm, c->confusion_png, classes, title, err, errlen)) goto out;
  rc = 0;
out:
  ax_confusion_free(cm);
  ax_loader_free(ld);
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
