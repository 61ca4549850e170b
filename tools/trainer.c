/* The image-classifier training loop: data, model, optimizer, schedule,
 * progress, metrics, checkpoints, resume. See tools/trainer.h. */
#define _DEFAULT_SOURCE
#include "tools/trainer.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tools/checkpoint.h"
#include "tools/util.h"
#include <unistd.h>

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

static const char *default_data_dir(const char *dataset) {
  if (!strcmp(dataset, "fashion-mnist")) return "/usr/share/datasets/fashion-mnist";
  if (!strcmp(dataset, "mnist")) return "/usr/share/datasets/mnist";
  return NULL;
}

static int load_data(const ax_train_config *c, const char *dataset, const char *dir, bool train, ax_dataset **out,
                     char *err, size_t errlen) {
  if (strcmp(dataset, "fashion-mnist") && strcmp(dataset, "mnist"))
    return fail(err, errlen, "unknown dataset '%s' (known: fashion-mnist, mnist)", dataset);
  const char *d = dir ? dir : default_data_dir(dataset);
  *out = ax_mnist_like_load(d, dataset, train, err, errlen);
  (void)c;
  return *out ? 0 : -1;
}

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

/* ---- optimizer and schedule ---- */

static ax_optimizer *make_optimizer(const ax_train_config *c, ax_tensor **params, int n, double lr, char *err,
                                    size_t errlen) {
  double wd = c->weight_decay;
  if (!strcmp(c->optimizer, "sgd"))
    return ax_sgd(params, n, &(ax_sgd_opts){.lr = lr, .momentum = c->momentum, .weight_decay = wd < 0 ? 5e-4 : wd,
                                            .nesterov = c->momentum > 0});
  if (!strcmp(c->optimizer, "adam"))
    return ax_adam(params, n, &(ax_adam_opts){.lr = lr, .weight_decay = wd < 0 ? 0 : wd});
  if (!strcmp(c->optimizer, "adamw")) /* AdamW reads 0 as its default 0.01: say zero explicitly */
    return ax_adamw(params, n, &(ax_adam_opts){.lr = lr, .weight_decay = wd < 0 ? 1e-4 : wd == 0 ? AX_OPTIM_ZERO : wd});
  if (!strcmp(c->optimizer, "rmsprop"))
    return ax_rmsprop(params, n, &(ax_rmsprop_opts){.lr = lr, .weight_decay = wd < 0 ? 0 : wd});
  fail(err, errlen, "unknown optimizer '%s' (known: sgd, adam, adamw, rmsprop)", c->optimizer);
  return NULL;
}

/* --zero: the same optimizer over this rank's pieces of the parameters (ax_zero_new's factory) */
typedef struct zero_ctx {
  const ax_train_config *c;
  double lr;
  char *err;
  size_t errlen;
} zero_ctx;

static ax_optimizer *make_shard_optimizer(ax_tensor *const *shard, int n, void *ctx) {
  zero_ctx *z = ctx;
  return make_optimizer(z->c, (ax_tensor **)shard, n, z->lr, z->err, z->errlen);
}

static double default_lr(const char *optimizer, const char *schedule) {
  bool onecycle = !strcmp(schedule, "onecycle");
  if (!strcmp(optimizer, "sgd")) return onecycle ? 0.1 : 0.05;
  if (!strcmp(optimizer, "rmsprop")) return 1e-3;
  return onecycle ? 3e-3 : 1e-3;
}

static ax_lr_schedule *make_schedule(const ax_train_config *c, double lr, int64_t total_steps,
                                     int64_t steps_per_epoch, char *err, size_t errlen) {
  ax_lr_schedule *s = NULL;
  if (total_steps < 1) total_steps = 1;
  if (!strcmp(c->schedule, "none")) s = ax_lr_constant(lr);
  else if (!strcmp(c->schedule, "step")) s = ax_lr_step(lr, steps_per_epoch * (c->epochs >= 3 ? c->epochs / 3 : 1), 0.1);
  else if (!strcmp(c->schedule, "exponential")) s = ax_lr_exponential(lr, pow(0.01, 1.0 / (double)total_steps));
  else if (!strcmp(c->schedule, "cosine")) s = ax_lr_cosine(lr, total_steps, 0);
  else if (!strcmp(c->schedule, "onecycle")) s = ax_lr_onecycle(lr, total_steps, NULL);
  else {
    fail(err, errlen, "unknown schedule '%s' (known: none, step, exponential, cosine, onecycle)", c->schedule);
    return NULL;
  }
  if (s && c->warmup_steps > 0) s = ax_lr_warmup(s, c->warmup_steps, 0.01);
  if (!s) fail(err, errlen, "cannot build the %s schedule: %s", c->schedule, ax_last_error());
  return s;
}

/* ---- evaluation ---- */

typedef struct eval_result {
  double loss, accuracy;
} eval_result;

/* Mean loss and accuracy of model over loader; the confusion matrix is filled when cm is given. */
static eval_result evaluate(ax_module *model, ax_loader *loader, ax_device dev, ax_confusion *cm) {
  eval_result r = {0, 0};
  bool was_training = ax_module_is_training(model);
  ax_module_train(model, false);
  ax_no_grad_begin();
  double loss_sum = 0;
  int64_t n = 0, correct = 0;
  ax_loader_start_epoch(loader, 0);
  ax_tensor *x, *y;
  for (;;) {
    ax_scope_begin();
    if (ax_loader_next(loader, &x, &y) != 1) {
      ax_scope_end();
      break;
    }
    x = ax_to(x, dev);
    ax_tensor *yd = ax_to(y, dev);
    ax_tensor *logits = ax_module_forward(model, x);
    ax_tensor *loss = ax_cross_entropy(logits, yd, &(ax_cross_entropy_opts){.reduction = AX_REDUCTION_SUM});
    ax_tensor *pred = ax_to(ax_argmax(logits, 1, false), AX_CPU);
    loss_sum += ax_item(loss);
    ax_tensor *hits = ax_sum(ax_eq(pred, y), AX_ALL, false);
    correct += (int64_t)ax_item(ax_cast(hits, AX_I64));
    n += y->shape[0];
    if (cm) ax_confusion_update(cm, pred, y);
    ax_scope_end();
  }
  ax_no_grad_end();
  ax_module_train(model, was_training);
  if (n > 0) {
    r.loss = loss_sum / (double)n;
    r.accuracy = (double)correct / (double)n;
  }
  return r;
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

/* ---- checkpoints ---- */

static void ckpt_path(const char *dir, char *buf, size_t n) { snprintf(buf, n, "%s/checkpoint.safetensors", dir); }

typedef struct train_state {
  int epoch;          /* the epoch in progress (0-based) */
  int64_t batch;      /* batches of that epoch already done */
  int64_t step;       /* global optimizer steps done */
  double best_loss;   /* for early stopping */
  int bad_epochs;
  double loss_sum;    /* running train loss of the epoch in progress */
  int64_t loss_count;
} train_state;

static int save_checkpoint(const ax_train_config *c, ax_module *model, ax_optimizer *opt, ax_zero *zero,
                           const train_state *st, char *err, size_t errlen) {
  ax_state_dict *sd;
  if (ax_tool_ckpt_begin(c->checkpoint_dir, model, opt, zero, &sd, err, errlen)) return -1;
  if (!sd) return 0; /* not rank 0 */
  uint64_t seed, offset;
  ax_rng_get_state(&seed, &offset);
  char v[64];
  ax_state_dict_set_meta(sd, "format", CKPT_FORMAT);
  ax_state_dict_set_meta(sd, "model", c->model);
  ax_state_dict_set_meta(sd, "dataset", c->dataset);
#define META(key, fmt, val)                    \
  snprintf(v, sizeof v, fmt, val);             \
  ax_state_dict_set_meta(sd, key, v);
  META("epoch", "%d", st->epoch);
  META("batch", "%" PRId64, st->batch);
  META("step", "%" PRId64, st->step);
  META("rng_seed", "%" PRIu64, seed);
  META("rng_offset", "%" PRIu64, offset);
  META("best_loss", "%.17g", st->best_loss);
  META("bad_epochs", "%d", st->bad_epochs);
  META("loss_sum", "%.17g", st->loss_sum);
  META("loss_count", "%" PRId64, st->loss_count);
  META("data_seed", "%" PRIu64, c->seed);
  META("batch_size", "%d", c->batch_size);
#undef META
  char path[4096];
  ckpt_path(c->checkpoint_dir, path, sizeof path);
  int rc = ax_save_safetensors(path, sd, err, errlen);
  ax_state_dict_free(sd);
  return rc;
}

#define meta_i64 ax_tool_meta_i64
#define meta_f64 ax_tool_meta_f64

static int load_checkpoint(const ax_train_config *c, ax_module *model, ax_optimizer *opt, ax_zero *zero,
                           train_state *st, char *err, size_t errlen) {
  char path[4096];
  ckpt_path(c->checkpoint_dir, path, sizeof path);
  char e2[512];
  ax_state_dict *sd = ax_load_safetensors(path, e2, sizeof e2);
  if (!sd) return fail(err, errlen, "cannot resume: %s", e2);
  int rc = -1;
  const char *fmt = ax_state_dict_meta(sd, "format"), *mname = ax_state_dict_meta(sd, "model");
  int64_t epoch, batch, step, bad, cnt, bs;
  uint64_t seed, offset;
  double best, lsum;
  if (!fmt || strcmp(fmt, CKPT_FORMAT)) {
    fail(err, errlen, "%s: not an axon training checkpoint", path);
    goto out;
  }
  if (!mname || strcmp(mname, c->model)) {
    fail(err, errlen, "%s: the checkpoint is of model '%s', not '%s'", path, mname ? mname : "?", c->model);
    goto out;
  }
  if (meta_i64(sd, "epoch", 0, INT_MAX - 1, &epoch, path, err, errlen) ||
      meta_i64(sd, "batch", 0, AX_TOOL_MAX_COUNT, &batch, path, err, errlen) ||
      meta_i64(sd, "step", 0, AX_TOOL_MAX_COUNT, &step, path, err, errlen) ||
      meta_i64(sd, "bad_epochs", 0, INT_MAX, &bad, path, err, errlen) ||
      meta_i64(sd, "loss_count", 0, AX_TOOL_MAX_COUNT, &cnt, path, err, errlen) ||
      ax_tool_meta_u64(sd, "rng_seed", &seed, path, err, errlen) ||
      ax_tool_meta_u64(sd, "rng_offset", &offset, path, err, errlen) ||
      meta_i64(sd, "batch_size", 1, INT_MAX, &bs, path, err, errlen) ||
      meta_f64(sd, "best_loss", -DBL_MAX, INFINITY, &best, path, err, errlen) || /* inf: no best yet */
      meta_f64(sd, "loss_sum", -DBL_MAX, DBL_MAX, &lsum, path, err, errlen))
    goto out;
  if (bs != c->batch_size) {
    fail(err, errlen, "%s: written with --batch-size %" PRId64 ", resumed with %d: the data position would not match",
         path, bs, c->batch_size);
    goto out;
  }
  if (ax_tool_ckpt_restore(sd, model, opt, zero, path, err, errlen) != 0) goto out;
  ax_rng_set_state(seed, offset);
  st->epoch = (int)epoch;
  st->batch = batch;
  st->step = step;
  st->best_loss = best;
  st->bad_epochs = (int)bad;
  st->loss_sum = lsum;
  st->loss_count = cnt;
  rc = 0;
out:
  ax_state_dict_free(sd);
  return rc;
}

/* ---- the loop ---- */

static int write_metrics(const ax_train_config *c, int epoch, double train_loss, eval_result test, eval_result val,
                         bool has_val, double lr, double secs, double sps, char *err, size_t errlen) {
  if (!c->metrics_path || ax_comm_rank(ax_comm_world()) != 0) return 0;
  FILE *f = fopen(c->metrics_path, "a");
  if (!f) return fail(err, errlen, "cannot append to --metrics %s: %s", c->metrics_path, strerror(errno));
  fprintf(f,
          "{\"epoch\": %d, \"train_loss\": %.6f, \"test_loss\": %.6f, \"test_accuracy\": %.6f, \"seconds\": %.3f, "
          "\"samples_per_sec\": %.1f, \"lr\": %.6g",
          epoch, train_loss, test.loss, test.accuracy, secs, sps, lr);
  if (has_val) fprintf(f, ", \"val_loss\": %.6f, \"val_accuracy\": %.6f", val.loss, val.accuracy);
  fprintf(f, ", \"model\": \"%s\"}\n", c->model);
  if (fclose(f) != 0) return fail(err, errlen, "cannot write to --metrics %s: %s", c->metrics_path, strerror(errno));
  return 0;
}

/* Data parallelism (mpirun / srun): rank r's loader reads its slice of every global
 * batch (ax_dist_sampler_indices), so batch k of all ranks together is batch k of a
 * single-process run; it is rebuilt each epoch because the shard depends on the epoch. */
static ax_loader *shard_loader(const ax_dataset *ds, const ax_loader_opts *lo, ax_comm *comm, int epoch, char *err,
                               size_t errlen) {
  ax_dist_sampler_opts so = {.indices = lo->indices, .n = lo->n_indices, .seed = lo->seed, .shuffle = lo->shuffle,
                             .global_batch = lo->batch_size, .rank = ax_comm_rank(comm), .world = ax_comm_size(comm)};
  int64_t *mine = malloc((size_t)(so.n > 0 ? so.n : 1) * sizeof *mine);
  int64_t n = ax_dist_sampler_indices(&so, epoch, mine);
  ax_loader_opts o = *lo;
  o.indices = mine;
  o.n_indices = n;
  o.shuffle = false;
  o.batch_size = lo->batch_size / so.world;
  ax_loader *ld = n > 0 ? ax_loader_new(ds, &o, err, errlen) : NULL;
  if (n <= 0) fail(err, errlen, "no training batches for rank %d of %d", so.rank, so.world);
  free(mine);
  return ld;
}

int ax_train(const ax_train_config *c, ax_train_report *report, char *err, size_t errlen) {
  ax_comm *comm = ax_comm_world();
  int world = ax_comm_size(comm);
  if (c->epochs < 1 || c->batch_size < 1) return fail(err, errlen, "--epochs and --batch-size must be at least 1");
  if (c->resume && !c->checkpoint_dir) return fail(err, errlen, "--resume needs --checkpoint DIR");
  if (world > 1 && c->batch_size % world != 0)
    return fail(err, errlen, "--batch-size %d is not divisible by the %d ranks", c->batch_size, world);
  /* the checks above return before this handle exists (they used to leak it) */
  FILE *log = c->log ? c->log : stdout, *devnull = NULL;
  if (ax_comm_rank(comm) != 0) log = devnull = fopen("/dev/null", "w"); /* only rank 0 reports */
  ax_ddp *ddp = NULL;
  ax_train_report rep;
  memset(&rep, 0, sizeof rep);
  if (c->threads > 0) ax_set_num_threads(c->threads);

  int rc = -1;
  ax_dataset *train_ds = NULL, *test_ds = NULL;
  ax_loader *train_ld = NULL, *val_ld = NULL, *test_ld = NULL;
  ax_module *model = NULL;
  ax_optimizer *opt = NULL; /* with --zero, the sharded optimizer's inner one (lr, step count) */
  ax_zero *zero = NULL;
  ax_lr_schedule *sched = NULL;
  ax_tensor **params = NULL;
  int64_t *train_idx = NULL, *val_idx = NULL;

  if (load_data(c, c->dataset, c->data_dir, true, &train_ds, err, errlen) ||
      load_data(c, c->dataset, c->data_dir, false, &test_ds, err, errlen))
    goto out;
  /* the data against the model, and the sizes against the data, before anything is built */
  if (check_data_fits(train_ds, c->model, "training", c->limit_train, err, errlen) ||
      check_data_fits(test_ds, c->model, "test", c->limit_test, err, errlen))
    goto out;
  {
    int64_t avail = ax_dataset_size(train_ds), used = c->limit_train > 0 && c->limit_train < avail ? c->limit_train : avail;
    if (c->val_size < 0 || c->val_size >= used) {
      fail(err, errlen, "--val-size %d leaves no training images: it must be below the %" PRId64 " images used",
           c->val_size, used);
      goto out;
    }
  }

  ax_manual_seed(c->seed);
  model = ax_model_create(c->model, err, errlen);
  if (!model) goto out;
  int n_sync_bn = c->sync_bn ? ax_sync_batch_norm_convert(model, comm) : 0;
  if (n_sync_bn < 0) {
    fail(err, errlen, "--sync-bn: %s", ax_last_error());
    goto out;
  }
  if (ax_module_to(model, c->device) != 0) {
    fail(err, errlen, "cannot move the model to the device: %s", ax_last_error());
    goto out;
  }
  int np = ax_module_parameters(model, NULL, 0);
  params = calloc((size_t)(np > 0 ? np : 1), sizeof *params);
  if (!params) {
    fail(err, errlen, "out of host memory");
    goto out;
  }
  ax_module_parameters(model, params, np);
  double lr = c->lr > 0 ? c->lr : default_lr(c->optimizer, c->schedule);
  if (c->zero) {
    char zerr[512] = "";
    zero_ctx zc = {c, lr, zerr, sizeof zerr};
    zero = ax_zero_new(params, np, comm, make_shard_optimizer, &zc, NULL);
    if (!zero) {
      fail(err, errlen, "--zero: %s", zerr[0] ? zerr : ax_last_error());
      goto out;
    }
    opt = ax_zero_optimizer(zero);
  } else {
    opt = make_optimizer(c, params, np, lr, err, errlen);
    if (!opt) goto out;
  }

  /* data: an optional validation split, normalization with the training set's statistics */
  int64_t n_train = ax_dataset_size(train_ds), n_test = ax_dataset_size(test_ds);
  if (c->limit_train > 0 && c->limit_train < n_train) n_train = c->limit_train;
  if (c->limit_test > 0 && c->limit_test < n_test) n_test = c->limit_test;
  if (c->val_size < 0 || c->val_size >= n_train) {
    fail(err, errlen, "--val-size must be in [0, %" PRId64 ")", n_train);
    goto out; /* not return: the model, optimizer and datasets are freed there */
  }
  int64_t n_fit = n_train - c->val_size;
  train_idx = malloc((size_t)n_train * sizeof *train_idx);
  ax_dataset_split(n_train, c->val_size, c->seed, train_idx, train_idx + n_fit);
  val_idx = train_idx + n_fit;
  float mean = 0, std = 1;
  ax_dataset_channel_stats(train_ds, train_idx, n_fit, &mean, &std);
  bool augment = c->augment < 0 ? !strcmp(c->model, "resnet") : c->augment == 1;
  ax_loader_opts lo = {.batch_size = c->batch_size, .shuffle = true, .seed = c->seed, .indices = train_idx,
                       .n_indices = n_fit, .mean = &mean, .std = &std, .n_channels = 1,
                       .crop_padding = augment ? 2 : 0, .hflip = augment, .prefetch = c->prefetch};
  train_ld = world > 1 ? shard_loader(train_ds, &lo, comm, 0, err, errlen) : ax_loader_new(train_ds, &lo, err, errlen);
  ax_loader_opts eo = {.batch_size = 500, .shuffle = false, .n_indices = n_test, .mean = &mean, .std = &std,
                       .n_channels = 1, .prefetch = c->prefetch};
  test_ld = ax_loader_new(test_ds, &eo, err, errlen);
  if (c->val_size > 0) {
    eo.indices = val_idx;
    eo.n_indices = c->val_size;
    val_ld = ax_loader_new(train_ds, &eo, err, errlen);
  }
  if (!train_ld || !test_ld || (c->val_size > 0 && !val_ld)) goto out;

  int64_t steps_per_epoch = ax_loader_num_batches(train_ld);
  sched = make_schedule(c, lr, steps_per_epoch * c->epochs, steps_per_epoch, err, errlen);
  if (!sched) goto out;

  train_state st = {.best_loss = INFINITY};
  if (c->resume) {
    char path[4096];
    ckpt_path(c->checkpoint_dir, path, sizeof path);
    if (access(path, F_OK) == 0) {
      if (load_checkpoint(c, model, opt, zero, &st, err, errlen)) goto out;
      fprintf(log, "resumed from %s at epoch %d, step %" PRId64 "\n", path, st.epoch + 1, st.step);
    } else {
      fprintf(log, "no checkpoint in %s yet: starting from scratch\n", c->checkpoint_dir);
    }
  }

  if (world > 1 || c->force_ddp) {
    ddp = ax_ddp_new(model, comm, &(ax_ddp_opts){.bucket_mb = c->bucket_mb});
    if (!ddp) {
      fail(err, errlen, "data-parallel start-up failed: %s", ax_last_error());
      goto out;
    }
    fprintf(log, "data parallel: %d ranks (%s), %d images per rank per step\n", world, ax_comm_backend_name(comm),
            c->batch_size / world);
    if (c->sync_bn) fprintf(log, "SyncBatchNorm: %d batch-norm layers normalize over the global batch\n", n_sync_bn);
  }
  if (zero)
    fprintf(log, "ZeRO-1: %s state sharded over %d rank%s: %.3f MB per rank (unsharded %.3f MB)\n", c->optimizer, world,
            world == 1 ? "" : "s", (double)ax_zero_state_bytes(zero) / 1048576.0,
            (double)ax_zero_full_state_bytes(zero) / 1048576.0);
  char dev[32];
  fprintf(log, "model %s: %" PRId64 " parameters on %s; %s: %" PRId64 " training images, %" PRId64
               " test images%s; %s lr %g, schedule %s, batch %d\n",
          c->model, ax_module_num_parameters(model), ax_device_str(c->device, dev, sizeof dev), c->dataset, n_fit, n_test,
          augment ? " (augmented)" : "", c->optimizer, lr, c->schedule, c->batch_size);
  bool bar = c->progress == 1 || (c->progress < 0 && isatty(fileno(log)));
  double t_start = now_s();
  int64_t images_total = 0;
  for (; st.epoch < c->epochs; st.epoch++) {
    ax_module_train(model, true);
    if (world > 1 && st.epoch > 0) {
      ax_loader_free(train_ld);
      train_ld = shard_loader(train_ds, &lo, comm, st.epoch, err, errlen);
      if (!train_ld) goto out;
    }
    ax_loader_set_state(train_ld, st.epoch, st.batch);
    progress pg = {log, bar, st.epoch + 1, c->epochs, steps_per_epoch, 0, now_s()};
    int64_t images = 0;
    double t0 = now_s();
    ax_tensor *x, *y;
    for (;;) {
      ax_scope_begin();
      if (ax_loader_next(train_ld, &x, &y) != 1) {
        ax_scope_end();
        break;
      }
      double cur_lr = ax_lr_at(sched, st.step);
      ax_optimizer_set_lr(opt, cur_lr);
      ax_tensor *logits = ax_module_forward(model, ax_to(x, c->device));
      ax_tensor *loss = ax_cross_entropy(logits, ax_to(y, c->device), NULL);
      if (loss && c->poison_step > 0 && st.step + 1 >= c->poison_step) loss = ax_mul_scalar(loss, INFINITY);
      if (!loss || ax_backward(loss, NULL) != 0) {
        ax_scope_end();
        fail(err, errlen, "training step %" PRId64 " failed: %s", st.step + 1, ax_last_error());
        goto out;
      }
      if (ddp && ax_ddp_finish(ddp) != 0) {
        ax_scope_end();
        fail(err, errlen, "gradient reduction failed: %s", ax_last_error());
        goto out;
      }
      /* the global batch's loss, before the step: a non-finite one stops every rank here, so
       * neither the weights nor a checkpoint take a step computed from it */
      double lv = world > 1 ? ax_comm_mean(comm, ax_item(loss)) : ax_item(loss);
      if (!isfinite(lv) && !c->allow_nonfinite) {
        ax_scope_end();
        progress_end(&pg);
        fail(err, errlen, "the training loss became %s at step %" PRId64 " (epoch %d, lr %g): the run diverged; "
                          "nothing was written after the last good checkpoint (lower --lr, add --clip-norm, or pass "
                          "--allow-nonfinite to keep going)", ax_tool_nonfinite_name(lv), st.step + 1, st.epoch + 1, cur_lr);
        goto out;
      }
      if (c->clip_norm > 0) ax_clip_grad_norm(params, np, c->clip_norm, 2.0);
      if (zero) {
        ax_zero_step(zero);
        ax_zero_zero_grad(zero);
      } else {
        ax_optimizer_step(opt);
        ax_optimizer_zero_grad(opt);
      }
      int64_t batch_images = x->shape[0] * world;
      ax_scope_end();
      if (c->step_losses && st.step < c->max_step_losses) c->step_losses[st.step] = lv;
      st.loss_sum += lv;
      st.loss_count++;
      st.step++;
      st.batch++;
      images += batch_images;
      progress_update(&pg, st.batch, st.loss_sum / (double)st.loss_count, images);
      bool stop = c->stop_after_steps > 0 && st.step >= c->stop_after_steps;
      if (c->checkpoint_dir && ((c->checkpoint_every > 0 && st.step % c->checkpoint_every == 0) || stop)) {
        if (save_checkpoint(c, model, opt, zero, &st, err, errlen)) goto out;
      }
      if (stop) {
        progress_end(&pg);
        fprintf(log, "stopped after %" PRId64 " steps (checkpoint written)\n", st.step);
        rep.steps_done = st.step;
        rc = 0;
        goto out;
      }
    }
    progress_end(&pg);
    double secs = now_s() - t0;
    double train_loss = st.loss_count ? st.loss_sum / (double)st.loss_count : 0;
    eval_result val = {0, 0}, test = evaluate(model, test_ld, c->device, NULL);
    if (val_ld) val = evaluate(model, val_ld, c->device, NULL);
    /* ranks differ only in batch-norm statistics: report (and stop early on) their mean */
    test.loss = ax_comm_mean(comm, test.loss);
    test.accuracy = ax_comm_mean(comm, test.accuracy);
    val.loss = ax_comm_mean(comm, val.loss);
    val.accuracy = ax_comm_mean(comm, val.accuracy);
    double sps = secs > 0 ? (double)images / secs : 0;
    images_total += images;
    fprintf(log, "epoch %d/%d  train loss %.4f", st.epoch + 1, c->epochs, train_loss);
    if (val_ld) fprintf(log, "  val loss %.4f acc %.2f%%", val.loss, 100 * val.accuracy);
    fprintf(log, "  test loss %.4f acc %.2f%%  %.1fs  %.0f img/s\n", test.loss, 100 * test.accuracy, secs, sps);
    fflush(log);
    if (write_metrics(c, st.epoch + 1, train_loss, test, val, val_ld != NULL, ax_optimizer_get_lr(opt), secs, sps, err,
                      errlen))
      goto out;
    rep.epochs_done = st.epoch + 1;
    rep.train_loss = train_loss;
    rep.test_loss = test.loss;
    rep.test_accuracy = test.accuracy;
    rep.val_loss = val.loss;
    rep.val_accuracy = val.accuracy;
    double watched = val_ld ? val.loss : test.loss;
    bool stop_early = false;
    if (watched < st.best_loss) {
      st.best_loss = watched;
      st.bad_epochs = 0;
    } else if (c->early_stop > 0 && ++st.bad_epochs >= c->early_stop) {
      stop_early = true;
    }
    st.batch = 0;
    st.loss_sum = 0;
    st.loss_count = 0;
    if (c->checkpoint_dir) {
      train_state next = st;
      next.epoch++;
      if (save_checkpoint(c, model, opt, zero, &next, err, errlen)) goto out;
    }
    if (stop_early) {
      fprintf(log, "early stop: %s loss did not improve for %d epochs\n", val_ld ? "validation" : "test", c->early_stop);
      break;
    }
  }
  rep.steps_done = st.step;
  rep.seconds = now_s() - t_start;
  rep.samples_per_sec = rep.seconds > 0 ? (double)images_total / rep.seconds : 0;
  if (c->save_path && ax_comm_rank(comm) == 0) {
    ax_state_dict *sd = ax_state_dict_new();
    ax_module_state_dict(model, sd);
    ax_state_dict_set_meta(sd, "format", "pt");
    ax_state_dict_set_meta(sd, "axon_model", c->model);
    int bad = ax_save_safetensors(c->save_path, sd, err, errlen);
    ax_state_dict_free(sd);
    if (bad) goto out;
    fprintf(log, "weights written to %s\n", c->save_path);
  }
  rc = 0;
out:
  if (report) *report = rep;
  ax_ddp_free(ddp);
  if (devnull) fclose(devnull);
  ax_loader_free(train_ld);
  ax_loader_free(val_ld);
  ax_loader_free(test_ld);
  if (zero) ax_zero_free(zero); /* opt is its inner optimizer */
  else ax_optimizer_free(opt);
  ax_lr_schedule_free(sched);
  free(params);
  ax_module_free(model);
  ax_dataset_free(train_ds);
  ax_dataset_free(test_ds);
  free(train_idx);
  return rc;
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
  if (load_data(NULL, c->dataset, c->data_dir, true, &train_ds, err, errlen) ||
      load_data(NULL, c->dataset, c->data_dir, false, &test_ds, err, errlen))
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
  eval_result r = evaluate(model, ld, c->device, cm);
  fprintf(out, "%s on %s test set (%" PRId64 " images): loss %.4f, accuracy %.2f%%\n\n", c->weights, c->dataset, n_test,
          r.loss, 100 * r.accuracy);
  ax_confusion_print(cm, !strcmp(c->dataset, "fashion-mnist") ? ax_fashion_mnist_classes : NULL, out);
  if (accuracy) *accuracy = r.accuracy;
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
  train_state st = {.epoch = 1, .batch = 3, .step = 12, .best_loss = INFINITY, .loss_sum = 4.5, .loss_count = 3};
  return save ? save_checkpoint(c, model, opt, NULL, &st, err, errlen)
              : load_checkpoint(c, model, opt, NULL, &st, err, errlen);
}
