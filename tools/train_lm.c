/* Language models: the training loop (GPT or character LSTM on a text corpus
 * or token shards) and generation with a KV cache. See tools/train_lm.h. */
#define _DEFAULT_SOURCE
#include "tools/train_lm.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/stat.h>
#include <unistd.h>

#include "tools/checkpoint.h"
#include "tools/util.h"

#define LM_CKPT_FORMAT "axon-lm-checkpoint-1"

#if defined(AXON_HAVE_CUDA)
int ax_cuda_device_name(int dev, char *buf, size_t n); /* kernels/cuda/runtime.cu */
#endif

#define now_s ax_tool_now_s
#define fail ax_tool_fail

void ax_lm_config_defaults(ax_lm_config *c) {
  memset(c, 0, sizeof *c);
  c->model = "gpt";
  c->gpt = ax_gpt_config_default();
  c->gpt.vocab_size = 0; /* the data's */
  c->lstm_embed = 64;
  c->lstm_hidden = 512;
  c->lstm_layers = 2;
  c->steps = 2000;
  c->batch_size = 32;
  c->grad_accum = 1;
  c->precision = "fp32";
  c->eval_every = 250;
  c->eval_batches = 40;
  c->log_every = 10;
  c->lr = 1e-3;
  c->min_lr = 1e-4;
  c->weight_decay = 0.1;
  c->beta1 = 0.9;
  c->beta2 = 0.95;
  c->clip_norm = 1.0;
  c->warmup_steps = 100;
  c->schedule = "cosine";
  c->device = ax_default_device();
}

/* ---- the model behind one interface ---- */

typedef struct lm {
  ax_module *m;
  bool gpt;
  int64_t block;
} lm;

static ax_tensor *lm_loss(lm *l, ax_tensor *x, ax_tensor *y) {
  if (l->gpt) return ax_gpt_loss(l->m, x, y);
  ax_tensor *logits = ax_module_forward(l->m, x); /* [B, T, 256] */
  return ax_cross_entropy(ax_reshape(logits, AX_SHAPE(-1, 256)), ax_reshape(y, AX_SHAPE(-1)), NULL);
}

/* The loss with matmuls and attention in the training precision (fp32 master weights). */
static ax_tensor *lm_loss_in(lm *l, const char *precision, ax_tensor *x, ax_tensor *y) {
  bool bf16 = !strcmp(precision, "bf16"), fp16 = !strcmp(precision, "fp16");
  if (bf16 || fp16) ax_autocast_begin(bf16 ? AX_BF16 : AX_F16);
  ax_tensor *loss = lm_loss(l, x, y);
  if (bf16 || fp16) ax_autocast_end();
  return loss;
}

/* Peak dense matrix FLOP/s of the GPU, for model FLOPs utilization; 0 when unknown. */
static double gpu_peak_flops(ax_device d, bool half) {
#if defined(AXON_HAVE_CUDA)
  char name[256] = "";
  if (d.type != AX_DEVICE_CUDA || ax_cuda_device_name(d.index, name, sizeof name) != 0) return 0;
  if (strstr(name, "H100") || strstr(name, "H200") || strstr(name, "GH200"))
    return half ? (strstr(name, "PCIe") ? 756e12 : 989e12) : (strstr(name, "PCIe") ? 51e12 : 67e12);
  if (strstr(name, "A100")) return half ? 312e12 : 19.5e12;
#else
  (void)d;
  (void)half;
#endif
  return 0;
}

static double val_loss(lm *l, ax_text_dataset *ds, const ax_lm_config *c, int64_t block) {
  ax_module_train(l->m, false);
  ax_no_grad_begin();
  int64_t nb = ax_text_eval_batches(ds, c->batch_size, block);
  if (c->eval_batches > 0 && c->eval_batches < nb) nb = c->eval_batches;
  double sum = 0;
  int64_t rows = 0;
  for (int64_t i = 0; i < nb; i++) {
    ax_scope_begin();
    ax_tensor *x, *y;
    if (ax_text_eval_batch(ds, c->batch_size, block, i, &x, &y) == 1) {
      int64_t n = x->shape[0];
      ax_tensor *loss = lm_loss_in(l, c->precision, ax_to(x, c->device), ax_to(y, c->device));
      if (loss) sum += ax_item(loss) * (double)n, rows += n;
    }
    ax_scope_end();
  }
  ax_no_grad_end();
  ax_module_train(l->m, true);
  return rows ? sum / (double)rows : NAN;
}

static int write_metrics(const ax_lm_config *c, int64_t step, double train_loss, double vloss, double tps, double lr,
                         double secs, double mfu, char *err, size_t errlen) {
  if (!c->metrics_path || ax_comm_rank(ax_comm_world()) != 0) return 0;
  FILE *f = fopen(c->metrics_path, "a");
  if (!f) return fail(err, errlen, "cannot append to --metrics %s: %s", c->metrics_path, strerror(errno));
  fprintf(f, "{\"step\": %" PRId64 ", \"train_loss\": %.6f, \"val_loss\": %.6f, \"tokens_per_sec\": %.1f, "
             "\"lr\": %.6g, \"seconds\": %.2f",
          step, train_loss, vloss, tps, lr, secs);
  if (mfu > 0) fprintf(f, ", \"mfu\": %.4f", mfu);
  fprintf(f, "}\n");
  if (fclose(f) != 0) return fail(err, errlen, "cannot write to --metrics %s: %s", c->metrics_path, strerror(errno));
  return 0;
}

static int save_weights(lm *l, const ax_lm_config *c, char *err, size_t errlen) {
  if (l->gpt) return ax_gpt_save(l->m, c->save_path, err, errlen);
  ax_state_dict *sd = ax_state_dict_new();
  int rc = ax_module_state_dict(l->m, sd);
  char v[32];
  snprintf(v, sizeof v, "%" PRId64, c->lstm_embed);
  rc = rc ? rc : ax_state_dict_set_meta(sd, "char_lstm.embed", v);
  snprintf(v, sizeof v, "%" PRId64, c->lstm_hidden);
  rc = rc ? rc : ax_state_dict_set_meta(sd, "char_lstm.hidden", v);
  snprintf(v, sizeof v, "%d", c->lstm_layers);
  rc = rc ? rc : ax_state_dict_set_meta(sd, "char_lstm.layers", v);
  rc = rc ? rc : ax_state_dict_set_meta(sd, "axon_model", "char-lstm");
  rc = rc ? rc : ax_save_safetensors(c->save_path, sd, err, errlen);
  ax_state_dict_free(sd);
  return rc;
}

/* ---- checkpoints: written by rank 0, readable by any number of ranks (the batch is global) ---- */

static void lm_ckpt_path(const ax_lm_config *c, char *buf, size_t n) {
  snprintf(buf, n, "%s/checkpoint.safetensors", c->checkpoint_dir);
}

static int lm_save_checkpoint(const ax_lm_config *c, ax_module *m, ax_optimizer *opt, ax_zero *zero,
                              ax_loss_scaler *scaler, int64_t steps_done, char *err, size_t errlen) {
  ax_state_dict *sd;
  if (ax_tool_ckpt_begin(c->checkpoint_dir, m, opt, zero, &sd, err, errlen)) return -1;
  if (!sd) return 0; /* not rank 0 */
  uint64_t seed, offset;
  ax_rng_get_state(&seed, &offset);
  ax_state_dict_set_meta(sd, "format", LM_CKPT_FORMAT);
  ax_state_dict_set_meta(sd, "model", c->model);
  ax_tool_meta_set_i64(sd, "step", steps_done);
  ax_tool_meta_set_u64(sd, "rng_seed", seed);
  ax_tool_meta_set_u64(sd, "rng_offset", offset);
  ax_tool_meta_set_u64(sd, "data_seed", c->seed);
  ax_tool_meta_set_i64(sd, "batch_size", c->batch_size);
  ax_tool_meta_set_i64(sd, "grad_accum", c->grad_accum);
  ax_tool_meta_set_i64(sd, "block_size", c->gpt.block_size);
  if (scaler) ax_loss_scaler_state_dict(scaler, sd, "scaler.");
  char path[4096];
  lm_ckpt_path(c, path, sizeof path);
  int rc = ax_save_safetensors(path, sd, err, errlen);
  ax_state_dict_free(sd);
  return rc;
}

/* Restores the checkpoint into m, opt and scaler; *step gets the steps it had done. */
static int lm_load_checkpoint(const ax_lm_config *c, ax_module *m, ax_optimizer *opt, ax_zero *zero,
                              ax_loss_scaler *scaler, int64_t *step, char *err, size_t errlen) {
  char path[4096], e[512];
  lm_ckpt_path(c, path, sizeof path);
  ax_state_dict *sd = ax_load_safetensors(path, e, sizeof e);
  if (!sd) return fail(err, errlen, "cannot resume: %s", e);
  const char *fmt = ax_state_dict_meta(sd, "format"), *model = ax_state_dict_meta(sd, "model");
  int64_t st, bs, ga, block;
  uint64_t seed, offset, dseed;
  int rc = -1;
  if (!fmt || strcmp(fmt, LM_CKPT_FORMAT)) fail(err, errlen, "%s: not an axon language-model checkpoint", path);
  else if (!model || strcmp(model, c->model))
    fail(err, errlen, "%s: the checkpoint is of model '%s', not '%s'", path, model ? model : "?", c->model);
  else if (ax_tool_meta_i64(sd, "step", 0, AX_TOOL_MAX_COUNT, &st, path, err, errlen) ||
           ax_tool_meta_u64(sd, "rng_seed", &seed, path, err, errlen) ||
           ax_tool_meta_u64(sd, "rng_offset", &offset, path, err, errlen) ||
           ax_tool_meta_u64(sd, "data_seed", &dseed, path, err, errlen) ||
           ax_tool_meta_i64(sd, "batch_size", 1, INT_MAX, &bs, path, err, errlen) ||
           ax_tool_meta_i64(sd, "grad_accum", 1, INT_MAX, &ga, path, err, errlen) ||
           ax_tool_meta_i64(sd, "block_size", 1, INT_MAX, &block, path, err, errlen))
    ;
  else if (bs != c->batch_size || ga != c->grad_accum || block != c->gpt.block_size || dseed != c->seed)
    fail(err, errlen, "%s: written with --batch-size %" PRId64 " --grad-accum %" PRId64 " --block-size %" PRId64
                      " --seed %" PRIu64 "; resuming with other values would not continue the same data",
         path, bs, ga, block, dseed);
  else if (ax_tool_ckpt_restore(sd, m, opt, zero, path, err, errlen) != 0)
    ;
  else if (scaler && ax_loss_scaler_load_state_dict(scaler, sd, "scaler.", e, sizeof e) != 0)
    fail(err, errlen, "%s: %s", path, e);
  else {
    ax_rng_set_state(seed, offset);
    *step = st;
    rc = 0;
  }
  ax_state_dict_free(sd);
  return rc;
}

static int lm_run(const ax_lm_config *c, ax_lm_report *out, ax_comm *comm, int rank, int world, FILE *log, char *err,
                  size_t errlen);

/* --zero: AdamW with the run's options over this rank's pieces of the parameters */
static ax_optimizer *make_shard_adamw(ax_tensor *const *shard, int n, void *opts) {
  return ax_adamw(shard, n, opts);
}

int ax_train_lm(const ax_lm_config *c, ax_lm_report *r, char *err, size_t errlen) {
  /* data parallel under mpirun / srun: rank k takes rows [k B/N, (k+1) B/N) of every global
   * batch (ax_text_batch_rows), DDP averages the gradients, rank 0 reports and writes */
  ax_comm *comm = ax_comm_world();
  int rank = ax_comm_rank(comm), world = ax_comm_size(comm);
  FILE *devnull = rank != 0 ? fopen("/dev/null", "w") : NULL;
  FILE *log = devnull ? devnull : c->log ? c->log : stdout;
  ax_lm_report rep = {0};
  int rc = lm_run(c, &rep, comm, rank, world, log, err, errlen);
  if (devnull) fclose(devnull);
  if (r) *r = rep;
  return rc;
}

static int lm_run(const ax_lm_config *c, ax_lm_report *out, ax_comm *comm, int rank, int world, FILE *log, char *err,
                  size_t errlen) {
  ax_lm_report rep = {0};
  if (c->threads > 0) ax_set_num_threads(c->threads);
  if (c->steps < 1 || c->batch_size < 1 || c->grad_accum < 1)
    return fail(err, errlen, "--steps, --batch-size and --grad-accum must be at least 1");
  if (c->batch_size % world)
    return fail(err, errlen, "--batch-size %d is not divisible by the %d ranks", c->batch_size, world);
  if (c->zero && !strcmp(c->precision, "fp16"))
    return fail(err, errlen, "--zero does not support --precision fp16: the loss scaler would check and unscale only "
                             "this rank's shard of the gradients (use bf16, which needs no scaler)");
  int64_t rows = c->batch_size / world;
  bool gpt = !strcmp(c->model, "gpt");
  if (!gpt && strcmp(c->model, "char-lstm")) return fail(err, errlen, "unknown language model '%s' (gpt or char-lstm)", c->model);
  int64_t block = c->gpt.block_size;
  char derr[512];
  ax_text_opts to = {.block_size = block};
  ax_text_dataset *ds = ax_text_open(c->data_path, &to, derr, sizeof derr);
  if (!ds) return fail(err, errlen, "%s", derr);
  int64_t vocab = ax_text_vocab_size(ds);
  if (!gpt && vocab != 256) {
    ax_text_close(ds);
    return fail(err, errlen, "the char-lstm model reads bytes; %s holds tokens (vocabulary %" PRId64 ")",
                c->data_path ? c->data_path : AX_TEXT_DEFAULT_PATH, vocab);
  }
  ax_manual_seed(c->seed);
  ax_gpt_config gc = c->gpt;
  if (gc.vocab_size > 0 && gc.vocab_size < vocab) {
    ax_text_close(ds);
    return fail(err, errlen, "--vocab-size %" PRId64 " is smaller than the data's vocabulary %" PRId64, gc.vocab_size, vocab);
  }
  if (gc.vocab_size < vocab) gc.vocab_size = vocab; /* a larger one (GPT-2's 50257 over bytes) is allowed */
  lm l = {.gpt = gpt, .block = block};
  l.m = gpt ? ax_model_gpt(&gc) : ax_model_char_lstm(c->lstm_embed, c->lstm_hidden, c->lstm_layers, c->gpt.dropout);
  if (!l.m || ax_module_to(l.m, c->device)) {
    ax_module_free(l.m);
    ax_text_close(ds);
    return fail(err, errlen, "could not build the model: %s", ax_last_error());
  }
  /* every parameter, however many layers (a fixed array of 512 overflowed at 43 GPT layers) */
  int np = ax_module_parameters(l.m, NULL, 0);
  ax_tensor **params = np > 0 ? malloc((size_t)np * sizeof *params) : NULL;
  if (!params) {
    ax_module_free(l.m);
    ax_text_close(ds);
    return fail(err, errlen, "could not build the model: %s", np > 0 ? "out of memory" : "it has no parameters");
  }
  ax_module_parameters(l.m, params, np);
  bool use_ddp = world > 1 || c->force_ddp;
  ax_ddp *ddp = use_ddp ? ax_ddp_new(l.m, comm, &(ax_ddp_opts){.bucket_mb = c->bucket_mb}) : NULL;
  if (use_ddp && !ddp) {
    ax_module_free(l.m);
    ax_text_close(ds);
    free(params);
    return fail(err, errlen, "data parallel set-up failed: %s", ax_last_error());
  }
  ax_adam_opts ao = {.lr = c->lr, .beta1 = c->beta1, .beta2 = c->beta2, .eps = 1e-8,
                     .weight_decay = c->weight_decay > 0 ? c->weight_decay : AX_OPTIM_ZERO};
  /* with --zero, opt is the sharded optimizer's inner one: lr, step count and schedule */
  ax_zero *zero = c->zero ? ax_zero_new(params, np, comm, make_shard_adamw, &ao, NULL) : NULL;
  ax_optimizer *opt = zero ? ax_zero_optimizer(zero) : c->zero ? NULL : ax_adamw(params, np, &ao);
  if (!opt) {
    ax_ddp_free(ddp);
    ax_module_free(l.m);
    ax_text_close(ds);
    free(params);
    return fail(err, errlen, "%scould not build the optimizer: %s", c->zero ? "--zero: " : "", ax_last_error());
  }
  ax_lr_schedule *sched = !strcmp(c->schedule, "cosine")
                              ? ax_lr_cosine(c->lr, c->steps > c->warmup_steps ? c->steps - c->warmup_steps : 1, c->min_lr)
                              : ax_lr_constant(c->lr);
  if (sched && c->warmup_steps > 0) sched = ax_lr_warmup(sched, c->warmup_steps, 1.0 / c->warmup_steps);
  if (!sched) {
    if (zero) ax_zero_free(zero);
    else ax_optimizer_free(opt);
    ax_ddp_free(ddp);
    ax_module_free(l.m);
    ax_text_close(ds);
    free(params);
    return fail(err, errlen, "could not build the %s schedule: %s", c->schedule, ax_last_error());
  }
  bool fp16 = !strcmp(c->precision, "fp16"), bf16 = !strcmp(c->precision, "bf16");
  ax_loss_scaler *scaler = fp16 ? ax_loss_scaler_new(NULL) : NULL;
  double peak = gpu_peak_flops(c->device, fp16 || bf16);
  double flops_tok = gpt ? ax_gpt_flops_per_token(&gc, block) : 0;
  char dev[32];
  ax_device_str(c->device, dev, sizeof dev);
  fprintf(log, "model %s: %" PRId64 " parameters on %s; text: %s (%d files, %" PRId64 " training / %" PRId64
               " validation tokens, vocabulary %" PRId64 ")\n",
          c->model, ax_module_num_parameters(l.m), dev, c->data_path ? c->data_path : AX_TEXT_DEFAULT_PATH,
          ax_text_num_files(ds), ax_text_size(ds, AX_TEXT_TRAIN), ax_text_size(ds, AX_TEXT_VAL), vocab);
  fprintf(log, "batch %d x %" PRId64 " tokens x %d accumulation, %" PRId64 " steps, adamw lr %g (%s, warm-up %d), %s\n",
          c->batch_size, block, c->grad_accum, c->steps, c->lr, c->schedule, c->warmup_steps, c->precision);
  if (ddp) fprintf(log, "data parallel: %d ranks (%s), %" PRId64 " sequences per rank per micro-batch\n", world,
                   ax_comm_backend_name(comm), rows);
  if (zero)
    fprintf(log, "ZeRO-1: adamw state sharded over %d rank%s: %.3f MB per rank (unsharded %.3f MB)\n", world,
            world == 1 ? "" : "s", (double)ax_zero_state_bytes(zero) / 1048576.0,
            (double)ax_zero_full_state_bytes(zero) / 1048576.0);
  fflush(log);

  int rc = 0;
  double t0 = now_s(), t_log = t0, t_train = 0, loss_acc = 0;
  int64_t tok_log = 0, loss_n = 0, step = 0, start = 0; /* tokens counted over all ranks */
  rep.first_val_loss = NAN;
  char ckpt[4096] = "";
  if (c->checkpoint_dir) lm_ckpt_path(c, ckpt, sizeof ckpt);
  if (c->resume && ckpt[0] && access(ckpt, F_OK) == 0) {
    rc = lm_load_checkpoint(c, l.m, opt, zero, scaler, &start, err, errlen);
    if (rc == 0) fprintf(log, "resumed from %s after step %" PRId64 "\n", ckpt, start);
  }
  for (step = start; rc == 0 && step < c->steps; step++) {
    double ts = now_s();
    if (c->time_limit > 0 && t_train >= c->time_limit) break;
    double lr = ax_lr_schedule_apply(sched, opt);
    if (zero) ax_zero_zero_grad(zero);
    else ax_optimizer_zero_grad(opt);
    double step_loss = 0;
    if (ddp) ax_ddp_begin_step(ddp);
    for (int k = 0; k < c->grad_accum && rc == 0; k++) {
      ax_scope_begin();
      ax_tensor *x, *y;
      if (ddp) ax_ddp_no_sync(ddp, k + 1 < c->grad_accum); /* reduce once, after the last micro-batch */
      if (ax_text_batch_rows(ds, AX_TEXT_TRAIN, rank * rows, rows, block, c->seed, step * c->grad_accum + k, &x, &y)) {
        rc = fail(err, errlen, "%s", ax_last_error());
      } else {
        ax_tensor *loss = lm_loss_in(&l, c->precision, ax_to(x, c->device), ax_to(y, c->device));
        if (loss && c->poison_step > 0 && step + 1 >= c->poison_step) loss = ax_mul_scalar(loss, INFINITY);
        if (c->grad_accum > 1) loss = ax_mul_scalar(loss, 1.0 / c->grad_accum);
        if (scaler) loss = ax_loss_scaler_scale(scaler, loss);
        if (!loss || ax_backward(loss, NULL)) rc = fail(err, errlen, "training step %" PRId64 ": %s", step, ax_last_error());
        else step_loss += ax_item(loss) / (scaler ? ax_loss_scaler_scale_value(scaler) : 1.0);
      }
      ax_scope_end();
    }
    if (rc == 0 && ddp && ax_ddp_finish(ddp)) rc = fail(err, errlen, "gradient reduction: %s", ax_last_error());
    if (rc) break;
    if (world > 1) step_loss = ax_comm_mean(comm, step_loss); /* the global batch's loss */
    /* a non-finite loss stops every rank before the step: the weights, the last checkpoint and
     * the weights file keep their last good values (fp16's scaler skips such steps by design) */
    if (!isfinite(step_loss) && !c->allow_nonfinite && !scaler) {
      rc = fail(err, errlen, "the training loss became %s at step %" PRId64 " (lr %g): the run diverged; nothing was "
                             "written after the last good checkpoint (lower --lr, or pass --allow-nonfinite to keep "
                             "going)", ax_tool_nonfinite_name(step_loss), step + 1, lr);
      break;
    }
    if (scaler) ax_loss_scaler_unscale(scaler, opt);
    if (c->clip_norm > 0) ax_clip_grad_norm(params, np, c->clip_norm, 2.0);
    if (scaler) {
      ax_loss_scaler_step(scaler, opt); /* false: an inf/nan step skipped and the scale lowered */
    } else if ((zero ? ax_zero_step(zero) : ax_optimizer_step(opt)) != 0) {
      rc = fail(err, errlen, "optimizer step %" PRId64 ": %s", step, ax_last_error());
      break;
    }
    if (!isfinite(step_loss) && !c->allow_nonfinite) { /* fp16: the scaler skipped the step; the loss is still bad */
      rc = fail(err, errlen, "the training loss became %s at step %" PRId64 " (lr %g): the run diverged; nothing was "
                             "written after the last good checkpoint (lower --lr, or pass --allow-nonfinite to keep "
                             "going)", ax_tool_nonfinite_name(step_loss), step + 1, lr);
      break;
    }
    if (c->step_losses && step < c->max_step_losses) c->step_losses[step] = step_loss;
    loss_acc += step_loss;
    loss_n++;
    rep.train_loss = step_loss;
    int64_t toks = (int64_t)c->batch_size * block * c->grad_accum;
    rep.tokens += toks;
    tok_log += toks;
    ax_synchronize(c->device);
    t_train += now_s() - ts;
    bool last = step + 1 == c->steps || (c->time_limit > 0 && t_train >= c->time_limit);
    if ((step + 1) % (c->log_every > 0 ? c->log_every : 10) == 0 || last) {
      double now = now_s(), tps = tok_log / (now - t_log);
      fprintf(log, "step %" PRId64 "/%" PRId64 "  loss %.4f  lr %.2e  %.0f tok/s", step + 1, c->steps,
              loss_acc / (double)loss_n, lr, tps);
      if (peak > 0) fprintf(log, "  MFU %.1f%%", 100.0 * tps * flops_tok / peak);
      fprintf(log, "\n");
      fflush(log);
      t_log = now;
      tok_log = 0;
      loss_acc = 0;
      loss_n = 0;
    }
    bool stop = c->stop_after_steps > 0 && step + 1 >= c->stop_after_steps;
    if (ckpt[0] && (last || stop || (c->checkpoint_every > 0 && (step + 1) % c->checkpoint_every == 0)) &&
        (rc = lm_save_checkpoint(c, l.m, opt, zero, scaler, step + 1, err, errlen)) != 0)
      break;
    if (stop) {
      step++;
      break;
    }
    if ((c->eval_every > 0 && (step + 1) % c->eval_every == 0) || last) {
      double te = now_s();
      double v = val_loss(&l, ds, c, block);
      if (isnan(rep.first_val_loss)) rep.first_val_loss = v;
      rep.val_loss = v;
      double tps = rep.tokens / t_train;
      double mfu = peak > 0 ? tps * flops_tok / peak : 0;
      fprintf(log, "step %" PRId64 "  validation loss %.4f  (%.1f s training, %.0f tok/s)\n", step + 1, v, t_train, tps);
      fflush(log);
      if ((rc = write_metrics(c, step + 1, rep.train_loss, v, tps, lr, t_train, mfu, err, errlen)) != 0) break;
      t_log += now_s() - te; /* validation time is not training time */
    }
  }
  rep.steps_done = step;
  rep.seconds = t_train;
  rep.tokens_per_sec = t_train > 0 ? rep.tokens / t_train : 0;
  rep.mfu = peak > 0 ? rep.tokens_per_sec * flops_tok / peak : 0;
  if (rc == 0 && c->save_path && rank == 0) {
    char serr[512];
    if (save_weights(&l, c, serr, sizeof serr)) rc = fail(err, errlen, "%s", serr);
    else fprintf(log, "saved %s\n", c->save_path);
  }
  if (rc == 0 && gpt && c->sample_tokens > 0 && c->save_path && rank == 0) {
    fprintf(log, "sample:\n");
    ax_generate_config g = {.weights = c->save_path, .tokens = c->sample_tokens, .temperature = 0.8, .top_k = 40,
                            .seed = c->seed, .device = c->device, .out = log};
    char gerr[512];
    if (ax_generate(&g, gerr, sizeof gerr)) fprintf(log, "(no sample: %s)\n", gerr);
    fprintf(log, "\n");
  }
  ax_ddp_free(ddp);
  ax_loss_scaler_free(scaler);
  ax_lr_schedule_free(sched);
  if (zero) ax_zero_free(zero); /* opt is its inner optimizer */
  else ax_optimizer_free(opt);
  ax_module_free(l.m);
  ax_text_close(ds);
  *out = rep;
  free(params);
  return rc;
}

/* ---- generation ---- */

/* Samples from logits [V] (f32 on the host) with temperature and top-k; greedy at T = 0. */
static int64_t sample(const float *logits, int64_t V, double temperature, int top_k, uint64_t *rng) {
  int64_t best = 0;
  for (int64_t i = 1; i < V; i++)
    if (logits[i] > logits[best]) best = i;
  if (temperature <= 0) return best;
  float cut = -INFINITY;
  if (top_k > 0 && top_k < V) { /* the k-th largest value, by partial selection */
    float *tmp = malloc((size_t)V * sizeof *tmp);
    memcpy(tmp, logits, (size_t)V * sizeof *tmp);
    for (int k = 0; k < top_k; k++) {
      int64_t m = k;
      for (int64_t i = k + 1; i < V; i++)
        if (tmp[i] > tmp[m]) m = i;
      float t = tmp[k];
      tmp[k] = tmp[m];
      tmp[m] = t;
    }
    cut = tmp[top_k - 1];
    free(tmp);
  }
  double sum = 0;
  for (int64_t i = 0; i < V; i++)
    if (logits[i] >= cut) sum += exp((logits[i] - logits[best]) / temperature);
  /* xorshift64*: a small, seedable stream for the draw */
  *rng ^= *rng >> 12, *rng ^= *rng << 25, *rng ^= *rng >> 27;
  double u = (double)((*rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0 * sum, acc = 0;
  for (int64_t i = 0; i < V; i++) {
    if (logits[i] < cut) continue;
    acc += exp((logits[i] - logits[best]) / temperature);
    if (acc >= u) return i;
  }
  return best;
}

int ax_generate(const ax_generate_config *c, char *err, size_t errlen) {
  FILE *out = c->out ? c->out : stdout;
  ax_module *m = ax_gpt_from_file(c->weights, err, errlen);
  if (!m) return -1;
  const ax_gpt_config *cfg = ax_gpt_config_of(m);
  int64_t vocab = cfg->vocab_size, block = cfg->block_size; /* cfg lives in m */
  if (vocab != 256) {
    ax_module_free(m);
    return fail(err, errlen, "%s: vocabulary %" PRId64 " is not bytes; axon generate decodes byte-level models only",
                c->weights, vocab);
  }
  const char *prompt = c->prompt && c->prompt[0] ? c->prompt : "\n";
  int64_t n0 = (int64_t)strlen(prompt), total = n0 + c->tokens, T = cfg->block_size;
  if (n0 > block) {
    ax_module_free(m);
    return fail(err, errlen, "the prompt has %" PRId64 " bytes, more than the model's block size %" PRId64, n0, block);
  }
  if (ax_module_to(m, c->device)) {
    ax_module_free(m);
    return fail(err, errlen, "%s", ax_last_error());
  }
  ax_module_train(m, false);
  ax_no_grad_begin();
  int64_t *toks = total >= 0 && (uint64_t)total < SIZE_MAX / sizeof(int64_t)
                      ? malloc((size_t)(total > 0 ? total : 1) * sizeof *toks)
                      : NULL;
  if (!toks) {
    ax_no_grad_end();
    ax_module_free(m);
    return fail(err, errlen, "cannot hold %" PRId64 " tokens in memory (lower --tokens)", total);
  }
  for (int64_t i = 0; i < n0; i++) toks[i] = (unsigned char)prompt[i];
  ax_kv_cache *kv = c->no_cache ? NULL : ax_kv_cache_new(m, 1, cfg->block_size);
  uint64_t rng = c->seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL;
  int rc = 0;
  if (c->prompt && c->prompt[0]) fputs(prompt, out);
  for (int64_t t = n0; t < total && rc == 0; t++) {
    ax_scope_begin();
    /* The context is the last block_size tokens. With the cache only the tokens it has
     * not seen run; when it is full it restarts from the last half block. */
    int64_t from = t > T ? t - T : 0;
    if (kv && t - ax_kv_cache_len(kv) > 0 && ax_kv_cache_len(kv) + 1 > T) {
      ax_kv_cache_reset(kv);
      from = t - T / 2;
    } else if (kv && ax_kv_cache_len(kv) > 0) {
      from = t - 1;
    }
    ax_tensor *idx = ax_to(ax_from_data(toks + from, AX_SHAPE(1, t - from), &(ax_tensor_opts){.dtype = AX_I64}), c->device);
    ax_tensor *logits = kv ? ax_gpt_forward_cached(m, idx, kv) : ax_gpt_forward(m, idx);
    if (!logits) {
      rc = fail(err, errlen, "%s", ax_last_error());
    } else {
      ax_tensor *last = ax_contiguous(ax_to(ax_cast(ax_narrow(logits, 1, logits->shape[1] - 1, 1), AX_F32), AX_CPU));
      toks[t] = sample(ax_data_ptr(last), cfg->vocab_size, c->temperature, c->top_k, &rng);
      fputc((int)toks[t], out);
      fflush(out);
    }
    ax_scope_end();
  }
  ax_no_grad_end();
  ax_kv_cache_free(kv);
  free(toks);
  ax_module_free(m);
  return rc;
}

int ax__lm_checkpoint_io(const ax_lm_config *c, ax_module *m, ax_optimizer *opt, ax_loss_scaler *scaler, bool save,
                         char *err, size_t errlen) {
  int64_t step = 7;
  return save ? lm_save_checkpoint(c, m, opt, NULL, scaler, step, err, errlen)
              : lm_load_checkpoint(c, m, opt, NULL, scaler, &step, err, errlen);
}
