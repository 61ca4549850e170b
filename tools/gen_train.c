/* SPDX-License-Identifier: BSD-3-Clause */
/* `axon train --model autoencoder|vae|gan`: data, losses, the GAN's alternating steps,
 * the judge's score and the display around the library's training engine (tools/gen.h). */
#define _DEFAULT_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>

#include "tools/gen.h"
#include "tools/train_common.h"
#include "tools/util.h"

#define fail ax_tool_fail
#define now_s ax_tool_now_s
#define CKPT_FORMAT "axon-gen-checkpoint-1"

enum { M_AE, M_VAE, M_GAN };

bool ax_gen_is_model(const char *name) {
  return name && (!strcmp(name, "autoencoder") || !strcmp(name, "vae") || !strcmp(name, "gan"));
}

void ax_gen_defaults(ax_train_config *c, bool (*given)(const char *name)) {
  if (!c->model || strcmp(c->model, "gan")) return;
  if (!given("optimizer")) c->optimizer = "adam";
  if (!given("schedule")) c->schedule = "none";
  if (!given("lr")) c->lr = 2e-4;
}

/* what one epoch of a model adds up (train: the steps; eval: the test set) */
typedef struct sums {
  double a, b, c, d; /* vae: recon, kl; gan: d_loss, g_loss, d_real_correct, d_fake_correct */
  double n, images;
} sums;

typedef struct gen_run {
  const ax_train_config *c;
  int kind;
  FILE *log;
  ax_dataset *train_ds, *test_ds;
  ax_loader *train_ld, *test_ld;
  ax_module *model, *judge;
  float judge_mean, judge_std;
  ax_optimizer *opt_d, *opt_g;
  sums tr, te;
  ax_judge_score score;
  bool has_score, bar;
  ax_train_report rep;
  int64_t steps_per_epoch;
  double t_epoch;
} gen_run;

/* ---- data ---- */

static int gen_start_epoch(void *ud, int epoch, int64_t batches_done, char *err, size_t errlen) {
  gen_run *r = ud;
  memset(&r->tr, 0, sizeof r->tr);
  if (ax_loader_set_state(r->train_ld, epoch, batches_done) != 0)
    return fail(err, errlen, "cannot position the loader at batch %" PRId64 " of epoch %d", batches_done, epoch + 1);
  return 0;
}

static int gen_next(void *ud, int64_t step, int micro, ax_tensor **x, ax_tensor **y, char *err, size_t errlen) {
  gen_run *r = ud;
  int got = ax_loader_next(r->train_ld, x, y);
  if (got < 0) return fail(err, errlen, "loading a batch failed: %s", ax_last_error());
  return got;
}

/* autoencoder: MSE; VAE: the negative ELBO per image (its parts added to s) */
static ax_tensor *gen_loss_into(gen_run *r, ax_module *model, ax_tensor *x, sums *s) {
  if (r->kind == M_AE) {
    ax_tensor *l = ax_mse_loss(ax_module_forward(model, x), x, AX_REDUCTION_MEAN);
    if (l) s->a += ax_item(l) * (double)x->shape[0], s->images += (double)x->shape[0];
    return l;
  }
  ax_vae_terms t;
  ax_tensor *l = ax_vae_loss(model, x, &t);
  if (l) {
    double n = (double)x->shape[0];
    s->a += ax_item(t.recon) * n, s->b += ax_item(t.kl) * n, s->images += n;
  }
  return l;
}

static ax_tensor *gen_loss(void *ud, ax_module *model, ax_tensor *x, ax_tensor *y) {
  gen_run *r = ud;
  return gen_loss_into(r, model, x, &r->tr);
}

/* the test set: the autoencoder's MSE per pixel, the VAE's negative ELBO per image */
static int gen_test(void *ud, ax_module *model, ax_eval_result *res) {
  gen_run *r = ud;
  memset(&r->te, 0, sizeof r->te);
  ax_loader_start_epoch(r->test_ld, 0);
  double sum = 0;
  for (;;) {
    ax_scope_begin();
    ax_tensor *x, *y;
    int got = ax_loader_next(r->test_ld, &x, &y);
    ax_tensor *l = got == 1 ? gen_loss_into(r, model, ax_to(x, r->c->device), &r->te) : NULL;
    if (l) sum += ax_item(l) * (double)x->shape[0];
    ax_scope_end();
    if (got != 1) break;
    if (!l) return -1;
  }
  *res = (ax_eval_result){r->te.images > 0 ? sum / r->te.images : NAN, NAN};
  return 0;
}

/* ---- the GAN's step: D on real and detached fake, then G through D ---- */

static double count_if(ax_tensor *logits, bool positive) {
  ax_scope_begin();
  ax_tensor *h = ax_contiguous(ax_cast(ax_to(ax_detach(logits), AX_CPU), AX_F64));
  double n = 0;
  const double *v = h ? ax_data_ptr(h) : NULL;
  for (int64_t i = 0; v && i < ax_numel(h); i++) n += positive ? v[i] > 0 : v[i] < 0;
  ax_scope_end();
  return n;
}

static int gan_step(void *ud, ax_module *model, ax_tensor *x, ax_tensor *y, double *loss, char *err, size_t errlen) {
  gen_run *r = ud;
  ax_module *g = ax_gan_generator(model), *d = ax_gan_discriminator(model);
  int64_t n = x->shape[0];
  ax_tensor *real = ax_add_scalar(ax_mul_scalar(x, 2.0), -1.0); /* [0, 1] -> [-1, 1] */
  ax_tensor *z = ax_randn(AX_SHAPE(n, AX_GAN_NOISE_DIM, 1, 1), &(ax_tensor_opts){.device = r->c->device});
  ax_tensor *fake = ax_module_forward(g, z);
  /* discriminator: real images labelled 1 - smoothing, the fake batch (detached: no
   * gradient reaches the generator) labelled 0 */
  ax_optimizer_zero_grad(r->opt_d);
  ax_tensor *d_real = ax_module_forward(d, real), *d_fake = ax_module_forward(d, ax_detach(fake));
  ax_tensor *t_real = d_real ? ax_full_like(d_real, 1.0 - r->c->label_smoothing) : NULL;
  ax_tensor *ld = ax_add(ax_bce_with_logits(d_real, t_real, AX_REDUCTION_MEAN),
                         ax_bce_with_logits(d_fake, d_fake ? ax_zeros_like(d_fake) : NULL, AX_REDUCTION_MEAN));
  if (!ld || ax_backward(ld, NULL) != 0 || ax_optimizer_step(r->opt_d) != 0)
    return fail(err, errlen, "the discriminator's step failed: %s", ax_last_error());
  /* generator, non-saturating: -log D(G(z)), through the updated discriminator */
  ax_optimizer_zero_grad(r->opt_g);
  ax_tensor *d_gen = ax_module_forward(d, fake);
  ax_tensor *lg = ax_bce_with_logits(d_gen, d_gen ? ax_ones_like(d_gen) : NULL, AX_REDUCTION_MEAN);
  if (!lg || ax_backward(lg, NULL) != 0 || ax_optimizer_step(r->opt_g) != 0)
    return fail(err, errlen, "the generator's step failed: %s", ax_last_error());
  double vd = ax_item(ld), vg = ax_item(lg);
  r->tr.a += vd, r->tr.b += vg, r->tr.n += 1, r->tr.images += (double)n;
  r->tr.c += count_if(d_real, true), r->tr.d += count_if(d_fake, false);
  *loss = vd;
  return 0;
}

/* ---- the judge ---- */

static ax_tensor *judge_sampler(void *ud, int64_t n) {
  gen_run *r = ud;
  return ax_gen_sample_images(r->model, n, r->c->device);
}

static int load_judge(gen_run *r, char *err, size_t errlen) {
  const ax_train_config *c = r->c;
  char e[512];
  ax_state_dict *sd = ax_load_safetensors(c->judge_path, e, sizeof e);
  if (!sd) return fail(err, errlen, "--judge: %s", e);
  const char *name = ax_state_dict_meta(sd, "axon_model");
  if (!name) name = "cnn";
  int rc = 0;
  if (strcmp(name, "cnn") && strcmp(name, "mlp") && strcmp(name, "resnet"))
    rc = fail(err, errlen, "--judge %s holds a '%s' model, not a classifier (train one: axon train --model cnn)",
              c->judge_path, name);
  else if (!(r->judge = ax_model_create(name, err, errlen)))
    rc = -1;
  else if (ax_module_load_state_dict(r->judge, sd, true, e, sizeof e) != 0)
    rc = fail(err, errlen, "--judge %s: %s", c->judge_path, e);
  else if (ax_module_to(r->judge, c->device) != 0)
    rc = fail(err, errlen, "cannot move the judge to the device: %s", ax_last_error());
  ax_state_dict_free(sd);
  /* the judge was trained on the training set normalized with its mean and std */
  if (rc == 0 && ax_dataset_channel_stats(r->train_ds, NULL, ax_dataset_size(r->train_ds), &r->judge_mean,
                                          &r->judge_std) != 0)
    rc = fail(err, errlen, "cannot compute the training set's statistics: %s", ax_last_error());
  return rc;
}

static int run_judge(gen_run *r, char *err, size_t errlen) {
  if (!r->judge || r->kind == M_AE) return 0;
  int64_t n = r->c->score_samples > 0 ? r->c->score_samples : 10000;
  bool was = ax_module_is_training(r->model);
  ax_module_train(r->model, false); /* the generator in eval mode: batch norm's running statistics */
  int rc = ax_judge_images(r->judge, r->judge_mean, r->judge_std, judge_sampler, r, n, 500, r->c->device, &r->score,
                           err, errlen);
  ax_module_train(r->model, was);
  r->has_score = rc == 0;
  return rc;
}

/* ---- display, metrics, grids ---- */

static int gen_on_epoch_begin(void *ud, ax_trainer *t, const ax_train_event *e) {
  ((gen_run *)ud)->t_epoch = now_s();
  return 0;
}

static int gen_on_step(void *ud, ax_trainer *t, const ax_train_event *e) {
  gen_run *r = ud;
  int64_t total = r->steps_per_epoch, done = e->batch;
  int64_t every = total / 4 > 0 ? total / 4 : 1;
  if (!r->bar && done % every != 0 && done != total) return 0;
  double el = now_s() - r->t_epoch, ips = el > 0 ? e->samples / el : 0;
  double eta = done > 0 ? el / (double)done * (double)(total - done) : 0;
  fprintf(r->log, "%sepoch %d/%d  step %" PRId64 "/%" PRId64 "  loss %.4f  %.0f img/s  ETA %d:%02d%s", r->bar ? "\r" : "",
          e->epoch + 1, r->c->epochs, done, total, e->train_loss, ips, (int)eta / 60, (int)eta % 60,
          r->bar ? "\033[K" : "\n");
  fflush(r->log);
  return 0;
}

static void print_score(gen_run *r) {
  if (!r->has_score) return;
  const ax_judge_score *s = &r->score;
  fprintf(r->log, "  score %.3f  coverage %.3f (classes %.1f%%..%.1f%%)", s->score, s->entropy, 100 * s->min_share,
          100 * s->max_share);
}

static int gen_on_epoch(void *ud, ax_trainer *t, const ax_train_event *e) {
  gen_run *r = ud;
  char err[512] = "";
  if (run_judge(r, err, sizeof err) != 0) fprintf(r->log, "%sthe judge failed: %s\n", r->bar ? "\r\033[K" : "", err);
  double n = r->tr.images > 0 ? r->tr.images : 1, steps = r->tr.n > 0 ? r->tr.n : 1;
  fprintf(r->log, "%sepoch %d/%d", r->bar ? "\r\033[K" : "", e->epoch + 1, r->c->epochs);
  if (r->kind == M_AE) fprintf(r->log, "  train mse %.5f  test mse %.5f", e->train_loss, e->test.loss);
  if (r->kind == M_VAE)
    fprintf(r->log, "  train elbo %.2f (recon %.2f, kl %.2f)  test elbo %.2f nats (recon %.2f, kl %.2f)",
            -e->train_loss, r->tr.a / n, r->tr.b / n, -e->test.loss, r->te.a / r->te.images, r->te.b / r->te.images);
  if (r->kind == M_GAN)
    fprintf(r->log, "  D loss %.4f  G loss %.4f  D acc real %.1f%% fake %.1f%%", r->tr.a / steps, r->tr.b / steps,
            100 * r->tr.c / n, 100 * r->tr.d / n);
  print_score(r);
  fprintf(r->log, "  %.1fs\n", e->epoch_seconds);
  r->rep.epochs_done = e->epoch + 1;
  r->rep.train_loss = e->train_loss;
  r->rep.test_loss = e->has_test ? e->test.loss : NAN;
  fflush(r->log);
  int every = r->c->samples_every;
  if (every > 0 && (e->epoch + 1) % every == 0) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s-epoch%d.png", r->c->samples_dir ? r->c->samples_dir : ".", r->c->model,
             e->epoch + 1);
    bool was = ax_module_is_training(r->model);
    ax_module_train(r->model, false);
    if (ax_gen_write_grid(r->model, r->c->model, AX_GRID_AUTO, r->test_ds, r->c->device, path, err, sizeof err) != 0)
      fprintf(r->log, "could not write the samples: %s\n", err);
    else
      fprintf(r->log, "samples written to %s\n", path);
    ax_module_train(r->model, was);
  }
  return 0;
}

static void gen_metrics_extra(void *ud, const ax_train_event *e, char *buf, size_t n) {
  gen_run *r = ud;
  double im = r->tr.images > 0 ? r->tr.images : 1, st = r->tr.n > 0 ? r->tr.n : 1;
  size_t k = 0;
  if (r->kind == M_AE) k += (size_t)snprintf(buf, n, ", \"test_mse\": %.6f", e->test.loss);
  if (r->kind == M_VAE)
    k += (size_t)snprintf(buf, n, ", \"train_elbo\": %.4f, \"train_recon\": %.4f, \"train_kl\": %.4f, \"test_elbo\": %.4f, "
                                  "\"test_recon\": %.4f, \"test_kl\": %.4f", -e->train_loss, r->tr.a / im, r->tr.b / im,
                          -e->test.loss, r->te.a / r->te.images, r->te.b / r->te.images);
  if (r->kind == M_GAN)
    k += (size_t)snprintf(buf, n, ", \"d_loss\": %.6f, \"g_loss\": %.6f, \"d_acc_real\": %.6f, \"d_acc_fake\": %.6f",
                          r->tr.a / st, r->tr.b / st, r->tr.c / im, r->tr.d / im);
  if (r->has_score && k < n)
    snprintf(buf + k, n - k, ", \"score\": %.4f, \"class_entropy\": %.4f, \"class_min_share\": %.4f, "
                             "\"class_max_share\": %.4f, \"score_samples\": %" PRId64, r->score.score, r->score.entropy,
             r->score.min_share, r->score.max_share, r->score.n);
}

/* ---- the run ---- */

static int gen_load_data(gen_run *r, char *err, size_t errlen) {
  const ax_train_config *c = r->c;
  if (!(r->train_ds = ax_dataset_by_name(c->dataset, c->data_dir, true, err, errlen)) ||
      !(r->test_ds = ax_dataset_by_name(c->dataset, c->data_dir, false, err, errlen)))
    return -1;
  ax_tensor *im = ax_dataset_images(r->train_ds);
  if (!im || im->ndim != 4 || im->shape[1] != 1 || im->shape[2] != 28 || im->shape[3] != 28)
    return fail(err, errlen, "model %s reads 1x28x28 images, and the %s training set does not hold them", c->model,
                c->dataset);
  int64_t n_tr = ax_dataset_size(r->train_ds), n_te = ax_dataset_size(r->test_ds);
  if (c->limit_train > 0 && c->limit_train < n_tr) n_tr = c->limit_train;
  if (c->limit_test > 0 && c->limit_test < n_te) n_te = c->limit_test;
  /* pixel / 255 in [0, 1]: no normalization (the models produce such images) */
  r->train_ld = ax_loader_new(r->train_ds, &(ax_loader_opts){.batch_size = c->batch_size, .shuffle = true,
                                                              .drop_last = r->kind == M_GAN, .seed = c->seed,
                                                              .n_indices = n_tr, .prefetch = c->prefetch}, err, errlen);
  if (!r->train_ld) return -1;
  r->test_ld = ax_loader_new(r->test_ds, &(ax_loader_opts){.batch_size = 500, .n_indices = n_te}, err, errlen);
  if (!r->test_ld) return -1;
  r->steps_per_epoch = ax_loader_num_batches(r->train_ld);
  return r->steps_per_epoch > 0 ? 0 : fail(err, errlen, "the training set has fewer images than one batch");
}

static int gen_ckpt_save(void *ud, ax_state_dict *sd) {
  return ax_state_dict_set_meta(sd, "dataset", ((gen_run *)ud)->c->dataset);
}

static ax_trainer_config gen_engine_config(gen_run *r, double lr) {
  const ax_train_config *c = r->c;
  ax_trainer_config e = ax_trainer_defaults();
  AX_TOOL_ENGINE_COMMON(e, c);
  e.model = r->model;
  AX_TOOL_ENGINE_EPOCHS(e, c, lr, r->steps_per_epoch);
  if (r->kind == M_GAN) e.optim.beta1 = 0.5, e.optim.weight_decay = 0, e.opt = r->opt_d, e.opt2 = r->opt_g;
  e.checkpoint_format = CKPT_FORMAT;
  e.checkpoint_save = gen_ckpt_save;
  e.metrics_extra = gen_metrics_extra;
  e.on_epoch_begin = gen_on_epoch_begin;
  e.on_step = gen_on_step;
  e.on_epoch = gen_on_epoch;
  e.ud = r;
  return e;
}

/* The GAN's two optimizers, one over each half */
static int gan_optimizers(gen_run *r, double lr, char *err, size_t errlen) {
  const ax_train_config *c = r->c;
  ax_optim_spec s = {.lr = lr, .weight_decay = c->weight_decay < 0 ? 0 : c->weight_decay, .momentum = c->momentum,
                     .beta1 = 0.5};
  ax_module *half[2] = {ax_gan_discriminator(r->model), ax_gan_generator(r->model)};
  ax_optimizer **opt[2] = {&r->opt_d, &r->opt_g};
  for (int k = 0; k < 2; k++) {
    ax_tensor *p[64];
    int np = ax_module_parameters(half[k], p, 64);
    if (!(*opt[k] = ax_optimizer_by_name(c->optimizer, p, np, &s, err, errlen))) return -1;
  }
  return 0;
}

static int gen_save_weights(gen_run *r, char *err, size_t errlen) {
  ax_state_dict *sd = ax_state_dict_new();
  ax_module_state_dict(r->model, sd);
  ax_state_dict_set_meta(sd, "format", "pt");
  ax_state_dict_set_meta(sd, "axon_model", r->c->model);
  int bad = ax_save_safetensors(r->c->save_path, sd, err, errlen);
  ax_state_dict_free(sd);
  if (!bad) fprintf(r->log, "weights written to %s\n", r->c->save_path);
  return bad ? -1 : 0;
}

static void gen_describe(gen_run *r, ax_trainer *t, double lr) {
  const ax_train_config *c = r->c;
  const ax_trainer_state *st = ax_trainer_get_state(t);
  if (st->resumed)
    fprintf(r->log, "resumed from %s/checkpoint.safetensors at epoch %d, step %" PRId64 "\n", c->checkpoint_dir,
            st->epoch + 1, st->step);
  char dev[32];
  fprintf(r->log, "model %s: %" PRId64 " parameters on %s; %s: %" PRId64 " training images; %s lr %g, schedule %s, "
                  "batch %d%s\n", c->model, ax_module_num_parameters(r->model), ax_device_str(c->device, dev, sizeof dev),
          c->dataset, ax_loader_num_batches(r->train_ld) * c->batch_size, c->optimizer, lr, c->schedule, c->batch_size,
          r->judge ? "; judged by --judge" : "");
  r->bar = c->progress == 1 || (c->progress < 0 && ax_tool_is_terminal(r->log));
}

static int gen_train_run(gen_run *r, char *err, size_t errlen) {
  const ax_train_config *c = r->c;
  double lr = c->lr > 0 ? c->lr : ax_optimizer_default_lr(c->optimizer, c->schedule);
  ax_manual_seed(c->seed);
  if (!(r->model = ax_model_create(c->model, err, errlen))) return -1;
  if (ax_module_to(r->model, c->device) != 0)
    return fail(err, errlen, "cannot move the model to the device: %s", ax_last_error());
  if (r->kind == M_GAN && gan_optimizers(r, lr, err, errlen)) return -1;
  ax_trainer_config e = gen_engine_config(r, lr);
  ax_train_data d = {.start_epoch = gen_start_epoch, .next = gen_next, .ud = r};
  if (r->kind == M_GAN) d.step = gan_step;
  else d.loss = gen_loss, d.test = gen_test;
  ax_trainer *t = ax_trainer_new(&e, &d, err, errlen);
  if (!t) return -1;
  gen_describe(r, t, lr);
  int rc = ax_trainer_run(t, err, errlen);
  const ax_trainer_state *st = ax_trainer_get_state(t);
  r->rep.steps_done = st->step;
  if (rc == 0 && st->stopped && c->stop_after_steps > 0)
    fprintf(r->log, "stopped after %" PRId64 " steps (checkpoint written)\n", st->step);
  else if (rc == 0 && c->save_path)
    rc = gen_save_weights(r, err, errlen);
  ax_trainer_free(t);
  return rc;
}

int ax_gen_train(const ax_train_config *c, ax_train_report *report, char *err, size_t errlen) {
  if (!ax_gen_is_model(c->model)) return fail(err, errlen, "'%s' is not a generative model", c->model);
  if (c->epochs < 1 || c->batch_size < 1) return fail(err, errlen, "--epochs and --batch-size must be at least 1");
  if (ax_comm_size(ax_comm_world()) > 1) return fail(err, errlen, "the generative models train in one process");
  if (c->val_size > 0 || c->augment == 1 || c->sync_bn)
    return fail(err, errlen, "--val-size, --augment and --sync-bn are for the classifiers, not the %s", c->model);
  gen_run r = {.c = c, .log = c->log ? c->log : stdout};
  r.kind = !strcmp(c->model, "autoencoder") ? M_AE : !strcmp(c->model, "vae") ? M_VAE : M_GAN;
  if (c->threads > 0) ax_set_num_threads(c->threads);
  int rc = gen_load_data(&r, err, errlen);
  if (rc == 0 && c->judge_path && r.kind != M_AE) rc = load_judge(&r, err, errlen);
  if (rc == 0 && c->samples_every > 0 && c->samples_dir && mkdir(c->samples_dir, 0755) != 0 && errno != EEXIST)
    rc = fail(err, errlen, "cannot create --samples-dir %s: %s", c->samples_dir, strerror(errno));
  if (rc == 0) rc = gen_train_run(&r, err, errlen);
  if (report) *report = r.rep;
  ax_optimizer_free(r.opt_d);
  ax_optimizer_free(r.opt_g);
  ax_module_free(r.model);
  ax_module_free(r.judge);
  ax_loader_free(r.train_ld);
  ax_loader_free(r.test_ld);
  ax_dataset_free(r.train_ds);
  ax_dataset_free(r.test_ds);
  return rc;
}
