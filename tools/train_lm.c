/* SPDX-License-Identifier: BSD-3-Clause */
/* Language models: `axon train --model gpt|char-lstm` (the text data, the model and
 * the progress lines around the library's training engine, include/axon/train.h) and
 * generation with a KV cache. See tools/train_lm.h. */
#define _DEFAULT_SOURCE
#include "tools/train_lm.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/internal.h"
#include "tools/train_common.h"
#include "tools/util.h"

#define LM_CKPT_FORMAT "axon-lm-checkpoint-1"

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


typedef struct lm_run {
  const ax_lm_config *c;
  lm l;
  ax_text_dataset *ds;
  ax_text_data *data;
  ax_gpt_config gc;
  ax_comm *comm;
  int rank, world;
  int64_t rows, block;
  FILE *log;
  double peak, flops_tok, t_log;
  int64_t tok_log;
  ax_lm_report rep;
} lm_run;

static ax_tensor *lm_engine_loss(void *ud, ax_module *m, ax_tensor *x, ax_tensor *y) { return lm_loss(ud, x, y); }

static int lm_on_step(void *ud, ax_trainer *t, const ax_train_event *e) {
  lm_run *r = ud;
  const ax_lm_config *c = r->c;
  r->rep.train_loss = e->loss;
  r->rep.tokens = (int64_t)e->samples;
  r->rep.seconds = e->seconds;
  r->tok_log += (int64_t)c->batch_size * r->block * c->grad_accum;
  if (e->step % (c->log_every > 0 ? c->log_every : 10) == 0 || e->last) {
    double now = now_s(), tps = r->tok_log / (now - r->t_log);
    fprintf(r->log, "step %" PRId64 "/%" PRId64 "  loss %.4f  lr %.2e  %.0f tok/s", e->step, c->steps, e->train_loss,
            e->lr, tps);
    if (r->peak > 0) fprintf(r->log, "  MFU %.1f%%", 100.0 * tps * r->flops_tok / r->peak);
    fprintf(r->log, "\n");
    fflush(r->log);
    r->t_log = now;
    r->tok_log = 0;
  }
  return 0;
}

static int lm_on_eval(void *ud, ax_trainer *t, const ax_train_event *e) {
  lm_run *r = ud;
  double v = e->val.loss, tps = e->seconds > 0 ? e->samples / e->seconds : 0;
  if (isnan(r->rep.first_val_loss)) r->rep.first_val_loss = v;
  r->rep.val_loss = v;
  fprintf(r->log, "step %" PRId64 "  validation loss %.4f  (%.1f s training, %.0f tok/s)\n", e->step, v, e->seconds,
          tps);
  fflush(r->log);
  r->t_log += e->eval_seconds; /* validation time is not training time */
  return 0;
}

static void lm_metrics_extra(void *ud, const ax_train_event *e, char *buf, size_t n) {
  lm_run *r = ud;
  double tps = e->seconds > 0 ? e->samples / e->seconds : 0;
  if (r->peak > 0) snprintf(buf, n, ", \"mfu\": %.4f", tps * r->flops_tok / r->peak);
}

/* ---- checkpoints: written by rank 0, readable by any number of ranks (the batch is global) ---- */

static int lm_ckpt_save(void *ud, ax_state_dict *sd) {
  const ax_lm_config *c = ((lm_run *)ud)->c;
  return ax_checkpoint_meta_set_i64(sd, "grad_accum", c->grad_accum) ||
         ax_checkpoint_meta_set_i64(sd, "block_size", c->gpt.block_size);
}

static int lm_ckpt_load(void *ud, const ax_state_dict *sd, const char *path, char *err, size_t errlen) {
  const ax_lm_config *c = ((lm_run *)ud)->c;
  int64_t bs, ga, block;
  uint64_t dseed;
  if (ax_checkpoint_meta_u64(sd, "data_seed", &dseed, path, err, errlen) ||
      ax_checkpoint_meta_i64(sd, "batch_size", 1, INT_MAX, &bs, path, err, errlen) ||
      ax_checkpoint_meta_i64(sd, "grad_accum", 1, INT_MAX, &ga, path, err, errlen) ||
      ax_checkpoint_meta_i64(sd, "block_size", 1, INT_MAX, &block, path, err, errlen))
    return -1;
  if (bs != c->batch_size || ga != c->grad_accum || block != c->gpt.block_size || dseed != c->seed)
    return fail(err, errlen, "%s: written with --batch-size %" PRId64 " --grad-accum %" PRId64 " --block-size %" PRId64
                             " --seed %" PRIu64 "; resuming with other values would not continue the same data",
                path, bs, ga, block, dseed);
  return 0;
}

static ax_trainer_config lm_engine_config(lm_run *r) {
  const ax_lm_config *c = r->c;
  ax_trainer_config e = ax_trainer_defaults();
  AX_TOOL_ENGINE_COMMON(e, c);
  e.model = r->l.m;
  e.epochs = 0;
  e.steps = c->steps;
  e.time_limit = c->time_limit;
  e.grad_accum = c->grad_accum;
  e.tokens_per_sample = (double)r->block;
  e.optimizer = "adamw";
  e.optim = (ax_optim_spec){.lr = c->lr, .weight_decay = c->weight_decay, .beta1 = c->beta1, .beta2 = c->beta2,
                            .eps = 1e-8};
  e.schedule_name = !strcmp(c->schedule, "cosine") ? "cosine" : "none";
  e.sched = (ax_schedule_spec){.lr = c->lr, .total_steps = c->steps > c->warmup_steps ? c->steps - c->warmup_steps : 1,
                               .warmup_steps = c->warmup_steps, .min_lr = c->min_lr,
                               .warmup_start = c->warmup_steps > 0 ? 1.0 / c->warmup_steps : 0};
  e.precision = !strcmp(c->precision, "bf16") ? AX_PRECISION_BF16
                : !strcmp(c->precision, "fp16") ? AX_PRECISION_FP16 : AX_PRECISION_FP32;
  e.comm = r->comm;
  e.eval_every = c->eval_every;
  e.throughput_key = "tokens_per_sec";
  e.metrics_extra = lm_metrics_extra;
  e.checkpoint_format = LM_CKPT_FORMAT;
  e.checkpoint_save = lm_ckpt_save;
  e.checkpoint_load = lm_ckpt_load;
  e.on_step = lm_on_step;
  e.on_eval = lm_on_eval;
  e.ud = r;
  return e;
}

/* The corpus and the model, checked against each other. */
static int lm_setup(lm_run *r, char *err, size_t errlen) {
  const ax_lm_config *c = r->c;
  if (c->steps < 1 || c->batch_size < 1 || c->grad_accum < 1)
    return fail(err, errlen, "--steps, --batch-size and --grad-accum must be at least 1");
  if (c->batch_size % r->world)
    return fail(err, errlen, "--batch-size %d is not divisible by the %d ranks", c->batch_size, r->world);
  bool gpt = !strcmp(c->model, "gpt");
  if (!gpt && strcmp(c->model, "char-lstm")) return fail(err, errlen, "unknown language model '%s' (gpt or char-lstm)", c->model);
  char derr[512];
  r->ds = ax_text_open(c->data_path, &(ax_text_opts){.block_size = r->block}, derr, sizeof derr);
  if (!r->ds) return fail(err, errlen, "%s", derr);
  int64_t vocab = ax_text_vocab_size(r->ds);
  if (!gpt && vocab != 256)
    return fail(err, errlen, "the char-lstm model reads bytes; %s holds tokens (vocabulary %" PRId64 ")",
                c->data_path ? c->data_path : AX_TEXT_DEFAULT_PATH, vocab);
  ax_manual_seed(c->seed);
  r->gc = c->gpt;
  if (r->gc.vocab_size > 0 && r->gc.vocab_size < vocab)
    return fail(err, errlen, "--vocab-size %" PRId64 " is smaller than the data's vocabulary %" PRId64, r->gc.vocab_size, vocab);
  if (r->gc.vocab_size < vocab) r->gc.vocab_size = vocab; /* a larger one (GPT-2's 50257 over bytes) is allowed */
  r->l = (lm){.gpt = gpt, .block = r->block};
  r->l.m = gpt ? ax_model_gpt(&r->gc) : ax_model_char_lstm(c->lstm_embed, c->lstm_hidden, c->lstm_layers, c->gpt.dropout);
  if (!r->l.m || ax_module_to(r->l.m, c->device)) return fail(err, errlen, "could not build the model: %s", ax_last_error());
  if (ax_module_parameters(r->l.m, NULL, 0) < 1) return fail(err, errlen, "could not build the model: it has no parameters");
  bool half = strcmp(c->precision, "fp32") != 0;
  r->peak = ax_device_peak_flops(c->device, half);
  r->flops_tok = gpt ? ax_gpt_flops_per_token(&r->gc, r->block) : 0;
  return 0;
}

static void lm_describe(lm_run *r, ax_trainer *t) {
  const ax_lm_config *c = r->c;
  FILE *log = r->log;
  char dev[32];
  ax_device_str(c->device, dev, sizeof dev);
  fprintf(log, "model %s: %" PRId64 " parameters on %s; text: %s (%d files, %" PRId64 " training / %" PRId64
               " validation tokens, vocabulary %" PRId64 ")\n",
          c->model, ax_module_num_parameters(r->l.m), dev, c->data_path ? c->data_path : AX_TEXT_DEFAULT_PATH,
          ax_text_num_files(r->ds), ax_text_size(r->ds, AX_TEXT_TRAIN), ax_text_size(r->ds, AX_TEXT_VAL),
          ax_text_vocab_size(r->ds));
  fprintf(log, "batch %d x %" PRId64 " tokens x %d accumulation, %" PRId64 " steps, adamw lr %g (%s, warm-up %d), %s\n",
          c->batch_size, r->block, c->grad_accum, c->steps, c->lr, c->schedule, c->warmup_steps, c->precision);
  ax_tool_warn_warmup(log, c->warmup_steps, c->steps, c->lr);
  char per_rank[64];
  snprintf(per_rank, sizeof per_rank, "%" PRId64 " sequences per rank per micro-batch", r->rows);
  ax_tool_describe_parallel(log, t, r->comm, "adamw", per_rank);
  const ax_trainer_state *st = ax_trainer_get_state(t);
  if (st->resumed) fprintf(log, "resumed from %s/checkpoint.safetensors after step %" PRId64 "\n", c->checkpoint_dir, st->step);
  fflush(log);
}

/* The weights file and a sample of text from it, after training. */
static int lm_finish(lm_run *r, char *err, size_t errlen) {
  const ax_lm_config *c = r->c;
  if (!c->save_path || r->rank != 0) return 0;
  char serr[512];
  if (save_weights(&r->l, c, serr, sizeof serr)) return fail(err, errlen, "%s", serr);
  fprintf(r->log, "saved %s\n", c->save_path);
  if (r->l.gpt && c->sample_tokens > 0) {
    fprintf(r->log, "sample:\n");
    ax_generate_config g = {.weights = c->save_path, .tokens = c->sample_tokens, .temperature = 0.8, .top_k = 40,
                            .seed = c->seed, .device = c->device, .out = r->log};
    char gerr[512];
    if (ax_generate(&g, gerr, sizeof gerr)) fprintf(r->log, "(no sample: %s)\n", gerr);
    fprintf(r->log, "\n");
  }
  return 0;
}

static int lm_train(lm_run *r, char *err, size_t errlen) {
  if (lm_setup(r, err, errlen)) return -1;
  ax_trainer_config e = lm_engine_config(r);
  ax_text_data_opts to = {.ds = r->ds, .batch_size = r->c->batch_size, .block = r->block, .grad_accum = r->c->grad_accum,
                          .seed = r->c->seed, .eval_batches = r->c->eval_batches, .device = r->c->device,
                          .comm = r->comm, .loss = lm_engine_loss, .loss_ud = &r->l};
  if (!(r->data = ax_text_data_new(&to, err, errlen))) return -1;
  ax_train_data d = ax_text_data_source(r->data);
  ax_trainer *t = ax_trainer_new(&e, &d, err, errlen);
  if (!t) return -1;
  lm_describe(r, t);
  r->t_log = now_s();
  int rc = ax_trainer_run(t, err, errlen);
  const ax_trainer_state *st = ax_trainer_get_state(t);
  r->rep.steps_done = st->step;
  r->rep.tokens_per_sec = r->rep.seconds > 0 ? r->rep.tokens / r->rep.seconds : 0;
  r->rep.mfu = r->peak > 0 ? r->rep.tokens_per_sec * r->flops_tok / r->peak : 0;
  if (rc == 0) rc = lm_finish(r, err, errlen);
  ax_trainer_free(t);
  return rc;
}

int ax_train_lm(const ax_lm_config *c, ax_lm_report *out, char *err, size_t errlen) {
  /* data parallel under mpirun / srun: DDP averages the gradients, rank 0 reports and writes */
  ax_comm *comm = ax_comm_world();
  lm_run r = {.c = c, .comm = comm, .rank = ax_comm_rank(comm), .world = ax_comm_size(comm), .block = c->gpt.block_size};
  r.rows = c->batch_size / (r.world > 0 ? r.world : 1);
  r.rep.first_val_loss = NAN;
  if (c->threads > 0) ax_set_num_threads(c->threads);
  FILE *devnull = r.rank != 0 ? fopen("/dev/null", "w") : NULL;
  r.log = devnull ? devnull : c->log ? c->log : stdout;
  int rc = lm_train(&r, err, errlen);
  if (devnull) fclose(devnull);
  ax_text_data_free(r.data);
  ax_module_free(r.l.m);
  ax_text_close(r.ds);
  if (out) *out = r.rep;
  return rc;
}

/* ---- generation ---- */

int ax_generate(const ax_generate_config *c, char *err, size_t errlen) {
  FILE *out = c->out ? c->out : stdout;
  ax_module *m = ax_gpt_from_file(c->weights, err, errlen);
  if (!m) return -1;
  ax_tool_gpt_config_note(c->weights, m, stderr); /* stdout is the text */
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
      toks[t] = ax_sample_logits(ax_data_ptr(last), cfg->vocab_size, c->temperature, c->top_k, &rng);
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
  lm_run r = {.c = c, .l = {.m = m}};
  ax_trainer_config e = lm_engine_config(&r);
  e.opt = opt;
  ax_trainer_state st = {.step = 7, .best_loss = INFINITY};
  return ax_trainer_checkpoint_io(&e, scaler, &st, save, err, errlen);
}
