/* SPDX-License-Identifier: BSD-3-Clause */
/* The training engine (include/axon/train.h): one loop for every model. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "axon.h"
#include "train/internal.h"

#define fail ax__fail
#define now_s ax__train_now

struct ax_trainer {
  ax_trainer_config c;
  ax_train_data d;
  ax_comm *comm;
  int rank, world, grad_accum;
  ax_tensor **params;
  int np;
  ax_optimizer *opt;
  bool own_opt, own_sched;
  ax_lr_schedule *sched;
  ax_ddp *ddp;
  ax_loss_scaler *scaler;
  ax_trainer_state st;
  ax_eval_result val, test;
  bool has_val, has_test;
  ax_state_dict *best;           /* restore_best: the best weights, on the host */
  double t_train, t_epoch0, samples_epoch, samples_total;
  char run_id[64], ckpt[4096];
};

ax_trainer_config ax_trainer_defaults(void) {
  ax_trainer_config c;
  memset(&c, 0, sizeof c);
  c.device = AX_CPU;
  c.optimizer = "adamw";
  c.optim.lr = 1e-3;
  c.optim.weight_decay = -1;
  c.epochs = 1;
  c.grad_accum = 1;
  return c;
}

const ax_trainer_state *ax_trainer_get_state(const ax_trainer *t) { return t ? &t->st : NULL; }
ax_optimizer *ax_trainer_optimizer(ax_trainer *t) { return t ? t->opt : NULL; }
ax_ddp *ax_trainer_ddp(ax_trainer *t) { return t ? t->ddp : NULL; }
double ax_trainer_lr(const ax_trainer *t) { return t ? ax_lr_at(t->sched, ax_optimizer_step_count(t->opt)) : 0; }
void ax_trainer_last_eval(const ax_trainer *t, ax_eval_result *val, ax_eval_result *test) {
  if (val) *val = t->val;
  if (test) *test = t->test;
}

/* ---- set-up ---- */

typedef struct shard_ctx {
  const ax_trainer_config *c;
  char *err;
  size_t errlen;
} shard_ctx;

/* ZeRO-1: the named optimizer over this rank's pieces of the parameters */
static ax_optimizer *make_shard_optimizer(ax_tensor *const *shard, int n, void *ctx) {
  shard_ctx *z = ctx;
  return ax_optimizer_by_name(z->c->optimizer, shard, n, &z->c->optim, z->err, z->errlen);
}

static int build_optimizer(ax_trainer *t, char *err, size_t errlen) {
  const ax_trainer_config *c = &t->c;
  if (c->opt) {
    t->opt = c->opt;
    return 0;
  }
  t->own_opt = true;
  if (c->zero) {
    if (c->precision == AX_PRECISION_FP16)
      return fail(err, errlen, "--zero does not support --precision fp16: the loss scaler would check and unscale only "
                               "this rank's shard of the gradients (use bf16, which needs no scaler)");
    char zerr[512] = "";
    shard_ctx z = {c, zerr, sizeof zerr};
    t->opt = ax_zero_optimizer_new(t->params, t->np, t->comm, make_shard_optimizer, &z, NULL);
    if (!t->opt) return fail(err, errlen, "--zero: %s", zerr[0] ? zerr : ax_last_error());
    return 0;
  }
  t->opt = ax_optimizer_by_name(c->optimizer, t->params, t->np, &c->optim, err, errlen);
  return t->opt ? 0 : -1;
}

static int build_schedule(ax_trainer *t, char *err, size_t errlen) {
  const ax_trainer_config *c = &t->c;
  if (c->schedule) {
    t->sched = c->schedule;
    return 0;
  }
  ax_schedule_spec s = c->sched;
  if (s.lr <= 0) s.lr = c->optim.lr;
  if (s.total_steps <= 0) s.total_steps = c->steps;
  t->own_sched = true;
  t->sched = ax_lr_schedule_by_name(c->schedule_name, &s, err, errlen);
  return t->sched ? 0 : -1;
}

static int build_parallel(ax_trainer *t, char *err, size_t errlen) {
  const ax_trainer_config *c = &t->c;
  if (t->world > 1 || c->ddp) {
    t->ddp = ax_ddp_new(c->model, t->comm, &(ax_ddp_opts){.bucket_mb = c->bucket_mb});
    if (!t->ddp) return fail(err, errlen, "data-parallel start-up failed: %s", ax_last_error());
  }
  return 0;
}

static void make_run_id(ax_trainer *t) {
  if (t->c.run_id) {
    snprintf(t->run_id, sizeof t->run_id, "%.60s", t->c.run_id);
    return;
  }
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  char when[32];
  strftime(when, sizeof when, "%Y%m%dT%H%M%SZ", &tm);
  snprintf(t->run_id, sizeof t->run_id, "%s-%ld", when, (long)getpid());
}

static int check_config(const ax_trainer_config *c, const ax_train_data *d, char *err, size_t errlen) {
  if (!c || !c->model || !d || !d->next) return fail(err, errlen, "ax_trainer_new: needs a model and a data.next");
  if (c->epochs < 0 || (c->epochs == 0 && c->steps < 1))
    return fail(err, errlen, "ax_trainer_new: epochs must be at least 1, or steps with epochs 0");
  if (c->resume && !c->checkpoint_dir) return fail(err, errlen, "--resume needs --checkpoint DIR");
  if (c->early_stop > 0 && !d->validate)
    return fail(err, errlen, "early stopping watches the validation set, and there is none (hold one out)");
  if (c->opt2 && !d->step) return fail(err, errlen, "ax_trainer_new: a second optimizer (opt2) needs a data.step");
  if (d->step && (c->grad_accum > 1 || c->precision != AX_PRECISION_FP32 || c->ddp || c->zero ||
                  ax_comm_size(c->comm ? c->comm : ax_comm_world()) > 1))
    return fail(err, errlen, "a model with its own training step (a GAN) runs without gradient accumulation, "
                             "autocast, DDP or ZeRO");
  return 0;
}

ax_trainer *ax_trainer_new(const ax_trainer_config *c, const ax_train_data *d, char *err, size_t errlen) {
  if (check_config(c, d, err, errlen)) return NULL;
  ax_trainer *t = calloc(1, sizeof *t);
  if (!t) return fail(err, errlen, "out of host memory"), NULL;
  t->c = *c;
  t->d = *d;
  t->comm = c->comm ? c->comm : ax_comm_world();
  t->rank = ax_comm_rank(t->comm);
  t->world = ax_comm_size(t->comm);
  t->grad_accum = c->grad_accum > 0 ? c->grad_accum : 1;
  t->st.best_loss = INFINITY;
  t->np = ax_module_parameters(c->model, NULL, 0); /* every parameter, however many */
  t->params = calloc((size_t)(t->np > 0 ? t->np : 1), sizeof *t->params);
  if (!t->params) {
    fail(err, errlen, "out of host memory");
    goto fail;
  }
  ax_module_parameters(c->model, t->params, t->np);
  make_run_id(t);
  if (c->checkpoint_dir) snprintf(t->ckpt, sizeof t->ckpt, "%s/checkpoint.safetensors", c->checkpoint_dir);
  if (build_optimizer(t, err, errlen) || build_schedule(t, err, errlen)) goto fail;
  if (c->precision == AX_PRECISION_FP16 && !(t->scaler = ax_loss_scaler_new(NULL))) {
    fail(err, errlen, "could not build the loss scaler: %s", ax_last_error());
    goto fail;
  }
  if (c->resume && t->ckpt[0] && access(t->ckpt, F_OK) == 0) {
    if (ax_trainer_load_checkpoint(t, err, errlen)) goto fail;
    t->st.resumed = true;
  }
  if (build_parallel(t, err, errlen)) goto fail;
  return t;
fail:
  ax_trainer_free(t);
  return NULL;
}

void ax_trainer_free(ax_trainer *t) {
  if (!t) return;
  ax_ddp_free(t->ddp);
  ax_loss_scaler_free(t->scaler);
  if (t->own_sched) ax_lr_schedule_free(t->sched);
  if (t->own_opt) ax_optimizer_free(t->opt);
  ax_state_dict_free(t->best);
  free(t->params);
  free(t);
}

/* ---- checkpoints ---- */

static bool epoch_keys(const ax_trainer *t) { return t->c.epochs > 0 || t->c.early_stop > 0; }

static void add_meta(ax_trainer *t, ax_state_dict *sd, const ax_trainer_state *st) {
  uint64_t seed, offset;
  ax_rng_get_state(&seed, &offset);
  ax_state_dict_set_meta(sd, "format", t->c.checkpoint_format ? t->c.checkpoint_format : "axon-trainer-checkpoint-1");
  ax_state_dict_set_meta(sd, "model", t->c.model_name ? t->c.model_name : "model");
  if (epoch_keys(t)) {
    ax_checkpoint_meta_set_i64(sd, "epoch", st->epoch);
    ax_checkpoint_meta_set_i64(sd, "batch", st->batch);
    ax_checkpoint_meta_set_i64(sd, "bad_epochs", st->bad_evals);
    char v[64];
    snprintf(v, sizeof v, "%.17g", st->best_loss);
    ax_state_dict_set_meta(sd, "best_loss", v);
  }
  char v[64];
  snprintf(v, sizeof v, "%.17g", st->loss_sum);
  ax_state_dict_set_meta(sd, "loss_sum", v);
  ax_checkpoint_meta_set_i64(sd, "loss_count", st->loss_count);
  ax_checkpoint_meta_set_i64(sd, "step", st->step);
  ax_checkpoint_meta_set_u64(sd, "rng_seed", seed);
  ax_checkpoint_meta_set_u64(sd, "rng_offset", offset);
  ax_checkpoint_meta_set_u64(sd, "data_seed", t->c.seed);
  ax_checkpoint_meta_set_i64(sd, "batch_size", t->c.batch_size);
  if (t->scaler) ax_loss_scaler_state_dict(t->scaler, sd, "scaler.");
}

/* Every rank calls it (a ZeRO state is gathered); rank 0 writes st. */
static int save_state(ax_trainer *t, const ax_trainer_state *st, char *err, size_t errlen) {
  ax_state_dict *sd = ax_checkpoint_collect(t->c.model, t->opt);
  if (t->c.opt2) ax__checkpoint_add_optimizer(sd, t->c.opt2, "optimizer2.");
  if (t->rank != 0) {
    ax_state_dict_free(sd);
    return 0;
  }
  int rc = -1;
  if (mkdir(t->c.checkpoint_dir, 0755) != 0 && errno != EEXIST)
    fail(err, errlen, "cannot create checkpoint folder %s: %s", t->c.checkpoint_dir, strerror(errno));
  else if (t->c.checkpoint_save && t->c.checkpoint_save(t->c.ud, sd) != 0)
    fail(err, errlen, "cannot describe the checkpoint: %s", ax_last_error());
  else {
    add_meta(t, sd, st);
    rc = ax_save_safetensors(t->ckpt, sd, err, errlen);
  }
  ax_state_dict_free(sd);
  return rc;
}

int ax_trainer_save_checkpoint(ax_trainer *t, char *err, size_t errlen) {
  if (!t->ckpt[0]) return fail(err, errlen, "no checkpoint folder");
  return save_state(t, &t->st, err, errlen);
}

/* The training state in sd's metadata, checked, into st. */
static int read_state(ax_trainer *t, const ax_state_dict *sd, ax_trainer_state *st, uint64_t rng[2], char *err,
                      size_t errlen) {
  const char *p = t->ckpt;
  int64_t epoch = 0, batch = 0, step, bad = 0, cnt = 0;
  double best = INFINITY, lsum = 0;
  bool ek = epoch_keys(t), has_sum = ek || ax_state_dict_meta(sd, "loss_sum"); /* step runs: from issue 15 on */
  if ((ek && (ax_checkpoint_meta_i64(sd, "epoch", 0, INT_MAX - 1, &epoch, p, err, errlen) ||
              ax_checkpoint_meta_i64(sd, "batch", 0, AX_CHECKPOINT_MAX_COUNT, &batch, p, err, errlen))) ||
      ax_checkpoint_meta_i64(sd, "step", 0, AX_CHECKPOINT_MAX_COUNT, &step, p, err, errlen) ||
      (ek && ax_checkpoint_meta_i64(sd, "bad_epochs", 0, INT_MAX, &bad, p, err, errlen)) ||
      (has_sum && ax_checkpoint_meta_i64(sd, "loss_count", 0, AX_CHECKPOINT_MAX_COUNT, &cnt, p, err, errlen)) ||
      ax_checkpoint_meta_u64(sd, "rng_seed", &rng[0], p, err, errlen) ||
      ax_checkpoint_meta_u64(sd, "rng_offset", &rng[1], p, err, errlen) ||
      (ek && ax_checkpoint_meta_f64(sd, "best_loss", -DBL_MAX, INFINITY, &best, p, err, errlen)) || /* inf: none yet */
      (has_sum && ax_checkpoint_meta_f64(sd, "loss_sum", -DBL_MAX, DBL_MAX, &lsum, p, err, errlen)))
    return -1;
  st->epoch = (int)epoch;
  st->batch = batch;
  st->step = step;
  st->bad_evals = (int)bad;
  st->loss_count = cnt;
  st->best_loss = best;
  st->loss_sum = lsum;
  return 0;
}

int ax_trainer_load_checkpoint(ax_trainer *t, char *err, size_t errlen) {
  char e[512];
  const char *path = t->ckpt, *want = t->c.checkpoint_format ? t->c.checkpoint_format : "axon-trainer-checkpoint-1";
  const char *model = t->c.model_name ? t->c.model_name : "model";
  ax_state_dict *sd = ax_load_safetensors(path, e, sizeof e);
  if (!sd) return fail(err, errlen, "cannot resume: %s", e);
  const char *fmt = ax_state_dict_meta(sd, "format"), *mname = ax_state_dict_meta(sd, "model");
  ax_trainer_state st = t->st;
  uint64_t rng[2];
  int rc = -1;
  if (!fmt || strcmp(fmt, want)) fail(err, errlen, "%s: not an axon %s checkpoint", path, strstr(want, "lm") ? "language-model" : "training");
  else if (!mname || strcmp(mname, model))
    fail(err, errlen, "%s: the checkpoint is of model '%s', not '%s'", path, mname ? mname : "?", model);
  else if (read_state(t, sd, &st, rng, err, errlen) != 0)
    ;
  else if (t->c.checkpoint_load && t->c.checkpoint_load(t->c.ud, sd, path, err, errlen) != 0)
    ;
  else if (ax_checkpoint_restore(sd, t->c.model, t->opt, path, err, errlen) != 0)
    ;
  else if (t->c.opt2 && ax__checkpoint_load_optimizer(sd, t->c.opt2, "optimizer2.", path, err, errlen) != 0)
    ;
  else if (t->scaler && ax_loss_scaler_load_state_dict(t->scaler, sd, "scaler.", e, sizeof e) != 0)
    fail(err, errlen, "%s: %s", path, e);
  else {
    ax_rng_set_state(rng[0], rng[1]);
    t->st = st;
    rc = 0;
  }
  ax_state_dict_free(sd);
  return rc;
}

/* ---- one optimizer step ---- */

static void amp_begin(const ax_trainer *t) {
  if (t->c.precision != AX_PRECISION_FP32) ax_autocast_begin(t->c.precision == AX_PRECISION_BF16 ? AX_BF16 : AX_F16);
}
static void amp_end(const ax_trainer *t) {
  if (t->c.precision != AX_PRECISION_FP32) ax_autocast_end();
}

/* Micro-batch k of the step, inside the caller's scope: forward and backward; its loss is added to *sum. */
static int micro_batch(ax_trainer *t, int k, ax_tensor *x, ax_tensor *y, double *sum, char *err, size_t errlen) {
  const ax_trainer_config *c = &t->c;
  if (t->ddp) ax_ddp_no_sync(t->ddp, k + 1 < t->grad_accum); /* reduce once, after the last micro-batch */
  t->samples_epoch += (double)x->shape[0] * t->world * (c->tokens_per_sample > 0 ? c->tokens_per_sample : 1);
  ax_tensor *xd = ax_to(x, c->device), *yd = ax_to(y, c->device), *loss;
  amp_begin(t);
  if (t->d.loss) loss = t->d.loss(t->d.ud, c->model, xd, yd);
  else loss = ax_cross_entropy(ax_module_forward(c->model, xd), yd, NULL);
  amp_end(t);
  if (loss && c->poison_step > 0 && t->st.step + 1 >= c->poison_step) loss = ax_mul_scalar(loss, INFINITY);
  if (t->grad_accum > 1) loss = ax_mul_scalar(loss, 1.0 / t->grad_accum);
  if (t->scaler) loss = ax_loss_scaler_scale(t->scaler, loss);
  if (!loss || ax_backward(loss, NULL) != 0)
    return fail(err, errlen, "training step %" PRId64 " failed: %s", t->st.step + 1, ax_last_error());
  *sum += ax_item(loss) / (t->scaler ? ax_loss_scaler_scale_value(t->scaler) : 1.0);
  return 0;
}

static int diverged(const ax_trainer *t, double v, double lr, char *err, size_t errlen) {
  char where[64] = "";
  if (t->c.epochs > 0) snprintf(where, sizeof where, "epoch %d, ", t->st.epoch + 1);
  return fail(err, errlen, "the training loss became %s at step %" PRId64 " (%slr %g): the run diverged; nothing was "
                           "written after the last good checkpoint (lower --lr, %sor pass --allow-nonfinite to keep "
                           "going)", v != v ? "NaN" : v > 0 ? "inf" : "-inf", t->st.step + 1, where, lr,
              t->c.clip_norm > 0 ? "" : "add --clip-norm, ");
}

/* After the micro-batches: reduce, check the loss of the global batch, unscale, clip, step. */
static int finish_step(ax_trainer *t, double sum, double lr, double *lv, char *err, size_t errlen) {
  const ax_trainer_config *c = &t->c;
  if (t->ddp && ax_ddp_finish(t->ddp) != 0) return fail(err, errlen, "gradient reduction failed: %s", ax_last_error());
  double v = t->world > 1 ? ax_comm_mean(t->comm, sum) : sum; /* the global batch's loss */
  /* a non-finite loss stops every rank before the step: the weights and the last checkpoint
   * keep their last good values (fp16's scaler skips such steps by design: checked after it) */
  if (!isfinite(v) && !c->allow_nonfinite && !t->scaler) return diverged(t, v, lr, err, errlen);
  if (t->scaler) ax_loss_scaler_unscale(t->scaler, t->opt);
  if (c->clip_norm > 0) ax_clip_grad_norm(t->params, t->np, c->clip_norm, 2.0);
  if (c->pre_optim_step && c->pre_optim_step(c->hook_ud) != 0)
    return fail(err, errlen, "step %" PRId64 ": the pre-step hook failed: %s", t->st.step + 1, ax_last_error());
  if (t->scaler) ax_loss_scaler_step(t->scaler, t->opt); /* false: an inf/NaN step skipped, the scale lowered */
  else if (ax_optimizer_step(t->opt) != 0)
    return fail(err, errlen, "optimizer step %" PRId64 " failed: %s", t->st.step + 1, ax_last_error());
  if (c->post_optim_step && c->post_optim_step(c->hook_ud) != 0)
    return fail(err, errlen, "step %" PRId64 ": the post-step hook failed: %s", t->st.step + 1, ax_last_error());
  if (!isfinite(v) && !c->allow_nonfinite) return diverged(t, v, lr, err, errlen);
  *lv = v;
  return 0;
}

/* A step of data.step's (a GAN's): the schedule sets both optimizers' rates, the hook does the rest. */
static int custom_step(ax_trainer *t, ax_tensor *x, ax_tensor *y, double *lv, double *lr, char *err, size_t errlen) {
  const ax_trainer_config *c = &t->c;
  *lr = ax_lr_schedule_apply(t->sched, t->opt);
  if (c->opt2) ax_lr_schedule_apply(t->sched, c->opt2);
  t->samples_epoch += (double)x->shape[0];
  double v = 0;
  if (t->d.step(t->d.ud, c->model, ax_to(x, c->device), ax_to(y, c->device), &v, err, errlen) != 0) return -1;
  if (!isfinite(v) && !c->allow_nonfinite) return diverged(t, v, *lr, err, errlen);
  *lv = v;
  return 0;
}

/* 1: a step done (*lv its loss, *lr its learning rate); 0: the epoch's data ended; -1: an error. */
static int train_step(ax_trainer *t, double *lv, double *lr, char *err, size_t errlen) {
  double sum = 0;
  int rc = 0;
  for (int k = 0; k < t->grad_accum && rc == 0; k++) {
    ax_scope_begin();
    ax_tensor *x = NULL, *y = NULL;
    int got = t->d.next(t->d.ud, t->st.step, k, &x, &y, err, errlen);
    if (got == 0 && k == 0) {
      ax_scope_end();
      return 0;
    }
    if (got == 0) rc = fail(err, errlen, "the data ended inside the accumulation of step %" PRId64, t->st.step + 1);
    else if (got < 0) rc = -1;
    else if (t->d.step) {
      rc = custom_step(t, x, y, lv, lr, err, errlen);
      ax_scope_end();
      return rc ? -1 : 1;
    } else {
      if (k == 0) {
        *lr = ax_lr_schedule_apply(t->sched, t->opt);
        ax_optimizer_zero_grad(t->opt);
        if (t->ddp) ax_ddp_begin_step(t->ddp);
      }
      rc = micro_batch(t, k, x, y, &sum, err, errlen);
    }
    ax_scope_end();
  }
  if (rc) return -1;
  ax_scope_begin();
  rc = finish_step(t, sum, *lr, lv, err, errlen);
  ax_scope_end();
  return rc ? -1 : 1;
}

/* ---- evaluation, early stopping, metrics ---- */

static ax_train_event event_of(const ax_trainer *t, double loss, double lr) {
  ax_train_event e = {.epoch = t->st.epoch, .batch = t->st.batch, .step = t->st.step, .loss = loss, .lr = lr,
                      .samples = t->c.epochs > 0 ? t->samples_epoch : t->samples_total + t->samples_epoch,
                      .seconds = t->t_train,
                      .has_val = t->has_val, .has_test = t->has_test, .val = t->val, .test = t->test};
  e.train_loss = t->st.loss_count ? t->st.loss_sum / (double)t->st.loss_count : 0;
  return e;
}

static int write_metrics(const ax_trainer *t, const ax_train_event *e, const char *kind, char *err, size_t errlen) {
  const ax_trainer_config *c = &t->c;
  if (!c->metrics_path || t->rank != 0) return 0;
  FILE *f = fopen(c->metrics_path, "a");
  if (!f) return fail(err, errlen, "cannot append to --metrics %s: %s", c->metrics_path, strerror(errno));
  bool epoch = !strcmp(kind, "epoch");
  double secs = epoch ? e->epoch_seconds : e->seconds;
  fprintf(f, "{\"%s\": %" PRId64, kind, epoch ? (int64_t)e->epoch + 1 : e->step);
  if (!strcmp(kind, "step") && c->metrics_per_step) fprintf(f, ", \"epoch\": %d, \"loss\": %.6f", e->epoch + 1, e->loss);
  fprintf(f, ", \"train_loss\": %.6f", e->train_loss);
  if (e->has_test) fprintf(f, ", \"test_loss\": %.6f", e->test.loss);
  if (e->has_test && !isnan(e->test.accuracy)) fprintf(f, ", \"test_accuracy\": %.6f", e->test.accuracy); /* NAN: no accuracy */
  fprintf(f, ", \"seconds\": %.3f, \"%s\": %.1f, \"lr\": %.6g", secs,
          c->throughput_key ? c->throughput_key : "samples_per_sec", secs > 0 ? e->samples / secs : 0, e->lr);
  if (e->has_val) fprintf(f, ", \"val_loss\": %.6f", e->val.loss);
  if (e->has_val && !isnan(e->val.accuracy)) fprintf(f, ", \"val_accuracy\": %.6f", e->val.accuracy);
  char extra[512] = "";
  if (c->metrics_extra) c->metrics_extra(c->ud, e, extra, sizeof extra);
  fprintf(f, "%s, \"model\": \"%s\", \"run_id\": \"%s\"}\n", extra, c->model_name ? c->model_name : "model", t->run_id);
  if (fclose(f) != 0) return fail(err, errlen, "cannot write to --metrics %s: %s", c->metrics_path, strerror(errno));
  return 0;
}

/* A host copy of the model's state (restore_best), or its weights file (best_path). */
static int keep_best(ax_trainer *t, char *err, size_t errlen) {
  ax_state_dict *live = ax_state_dict_new();
  ax_module_state_dict(t->c.model, live);
  int rc = 0;
  if (t->c.best_path && t->rank == 0) rc = ax_save_safetensors(t->c.best_path, live, err, errlen);
  if (rc == 0 && t->c.restore_best) {
    ax_state_dict_free(t->best);
    t->best = ax_state_dict_new();
    ax_scope_begin();
    for (int i = 0; i < ax_state_dict_size(live); i++)
      ax_state_dict_set(t->best, ax_state_dict_name(live, i), ax_clone(ax_to(ax_state_dict_tensor(live, i), AX_CPU)));
    ax_scope_end();
  }
  ax_state_dict_free(live);
  return rc;
}

/* Validation (and test) now; early stopping and the best weights follow the validation loss only. */
static int evaluate(ax_trainer *t, char *err, size_t errlen) {
  double te = now_s();
  ax_module *m = t->c.model;
  bool was_training = ax_module_is_training(m);
  ax_module_train(m, false);
  ax_no_grad_begin();
  amp_begin(t);
  t->has_test = t->d.test && t->d.test(t->d.ud, m, &t->test) == 0;
  t->has_val = t->d.validate && t->d.validate(t->d.ud, m, &t->val) == 0;
  amp_end(t);
  ax_no_grad_end();
  ax_module_train(m, was_training);
  if (t->world > 1) { /* ranks differ only in batch-norm statistics: report (and stop early on) their mean */
    t->test.loss = ax_comm_mean(t->comm, t->test.loss), t->test.accuracy = ax_comm_mean(t->comm, t->test.accuracy);
    t->val.loss = ax_comm_mean(t->comm, t->val.loss), t->val.accuracy = ax_comm_mean(t->comm, t->val.accuracy);
  }
  bool improved = false;
  if (t->has_val && t->val.loss < t->st.best_loss) {
    t->st.best_loss = t->val.loss;
    t->st.bad_evals = 0;
    improved = true;
    if ((t->c.best_path || t->c.restore_best) && keep_best(t, err, errlen)) return -1;
  } else if (t->has_val && t->c.early_stop > 0 && ++t->st.bad_evals >= t->c.early_stop) {
    t->st.stopped_early = true;
  }
  ax_train_event e = event_of(t, 0, ax_optimizer_get_lr(t->opt));
  e.improved = improved;
  e.eval_seconds = now_s() - te;
  if (t->c.on_eval && t->c.on_eval(t->c.ud, t, &e)) t->st.stopped = true;
  return 0;
}

/* ---- the loop ---- */

static bool eval_due(const ax_trainer *t, bool last) {
  return (t->c.eval_every > 0 && t->st.step % t->c.eval_every == 0) || (last && t->c.epochs == 0);
}

/* After a step: bookkeeping, the step callback, checkpoints, interruptions, evaluation. *done ends the epoch. */
static int after_step(ax_trainer *t, double lv, double lr, double ts, bool *done, char *err, size_t errlen) {
  const ax_trainer_config *c = &t->c;
  ax_trainer_state *st = &t->st;
  if (c->step_losses && st->step < c->max_step_losses) c->step_losses[st->step] = lv;
  st->loss_sum += lv;
  st->loss_count++;
  st->step++;
  st->batch++;
  ax_synchronize(c->device);
  t->t_train += now_s() - ts;
  bool last = c->epochs == 0 && (st->step >= c->steps || (c->time_limit > 0 && t->t_train >= c->time_limit));
  ax_train_event e = event_of(t, lv, lr);
  e.last = last;
  if (c->on_step && c->on_step(c->ud, t, &e)) st->stopped = true;
  if (c->metrics_per_step && (c->metrics_step_every <= 1 || st->step % c->metrics_step_every == 0) &&
      write_metrics(t, &e, "step", err, errlen))
    return -1;
  bool interrupt = c->stop_after_steps > 0 && st->step >= c->stop_after_steps, due = eval_due(t, last);
  if (due && !interrupt && !st->stopped) {
    double te = now_s();
    if (evaluate(t, err, errlen)) return -1;
    e = event_of(t, lv, lr);
    if (!c->metrics_per_step && c->epochs == 0 && write_metrics(t, &e, "step", err, errlen)) return -1;
    t->t_epoch0 += now_s() - te; /* evaluation is not training time */
  }
  /* the checkpoint holds the state after this step's evaluation (or after the one an
   * interruption skipped): a resumed run's train_loss then counts the same steps */
  if (due && c->epochs == 0) st->loss_sum = 0, st->loss_count = 0; /* train_loss: the mean since the last record */
  if (t->ckpt[0] && ((c->checkpoint_every > 0 && st->step % c->checkpoint_every == 0) || interrupt || last) &&
      save_state(t, st, err, errlen))
    return -1;
  if (interrupt) st->stopped = true;
  if (st->stopped || st->stopped_early || last) *done = true;
  return 0;
}

static int run_epoch(ax_trainer *t, char *err, size_t errlen) {
  const ax_trainer_config *c = &t->c;
  ax_module_train(c->model, true);
  if (t->d.start_epoch && t->d.start_epoch(t->d.ud, t->st.epoch, t->st.batch, err, errlen)) return -1;
  t->t_epoch0 = now_s();
  t->samples_epoch = 0;
  if (c->on_epoch_begin) {
    ax_train_event e = event_of(t, 0, ax_trainer_lr(t));
    if (c->on_epoch_begin(c->ud, t, &e)) t->st.stopped = true;
  }
  for (bool done = t->st.stopped; !done;) {
    if (c->steps > 0 && t->st.step >= c->steps) break;
    if (c->time_limit > 0 && t->t_train >= c->time_limit) break;
    double ts = now_s(), lv = 0, lr = 0;
    int got = train_step(t, &lv, &lr, err, errlen);
    if (got < 0) return -1;
    if (got == 0) break;
    if (after_step(t, lv, lr, ts, &done, err, errlen)) return -1;
  }
  t->samples_total += t->samples_epoch;
  return 0;
}

/* Epoch mode: evaluate, report, and checkpoint the start of the next epoch. */
static int end_epoch(ax_trainer *t, char *err, size_t errlen) {
  const ax_trainer_config *c = &t->c;
  double secs = now_s() - t->t_epoch0;
  if (evaluate(t, err, errlen)) return -1;
  ax_train_event e = event_of(t, 0, ax_optimizer_get_lr(t->opt));
  e.epoch_seconds = secs;
  e.samples = t->samples_epoch;
  if (c->on_epoch && c->on_epoch(c->ud, t, &e)) t->st.stopped = true;
  if (write_metrics(t, &e, "epoch", err, errlen)) return -1;
  t->st.epoch++;
  t->st.batch = 0;
  t->st.loss_sum = 0;
  t->st.loss_count = 0;
  return t->ckpt[0] ? save_state(t, &t->st, err, errlen) : 0;
}

static int restore_best(ax_trainer *t, char *err, size_t errlen) {
  char e[512];
  if (ax_module_load_state_dict(t->c.model, t->best, true, e, sizeof e) != 0)
    return fail(err, errlen, "cannot restore the best weights: %s", e);
  return 0;
}

int ax_trainer_run(ax_trainer *t, char *err, size_t errlen) {
  if (!t) return fail(err, errlen, "ax_trainer_run: no trainer");
  int epochs = t->c.epochs > 0 ? t->c.epochs : 1, rc = 0;
  while (rc == 0 && t->st.epoch < epochs && !t->st.stopped && !t->st.stopped_early) {
    if ((t->c.epochs == 0 || t->c.steps > 0) && t->st.step >= t->c.steps) break; /* the step cap */
    rc = run_epoch(t, err, errlen);
    if (rc || t->c.epochs == 0 || t->st.stopped) break;
    rc = end_epoch(t, err, errlen);
  }
  if (rc == 0 && !t->st.stopped && t->best && t->c.restore_best) rc = restore_best(t, err, errlen);
  return rc;
}

/* The checkpoint code alone, for the fuzzers and their seed corpus (tools' ax__*_checkpoint_io):
 * writes or reads c's checkpoint of c->model and c->opt (scaler: fp16's, or NULL) at state st. */
int ax_trainer_checkpoint_io(const ax_trainer_config *c, ax_loss_scaler *scaler, ax_trainer_state *st, bool save,
                              char *err, size_t errlen) {
  ax_trainer t;
  memset(&t, 0, sizeof t);
  t.c = *c;
  t.opt = c->opt;
  t.scaler = scaler;
  t.comm = ax_comm_world();
  t.rank = ax_comm_rank(t.comm);
  t.st = *st;
  snprintf(t.ckpt, sizeof t.ckpt, "%s/checkpoint.safetensors", c->checkpoint_dir);
  int rc = save ? save_state(&t, st, err, errlen) : ax_trainer_load_checkpoint(&t, err, errlen);
  *st = t.st;
  return rc;
}
