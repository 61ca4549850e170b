/* SPDX-License-Identifier: BSD-3-Clause */
/* The language-model training loop behind `axon train --model gpt|char-lstm`
 * and the text generator behind `axon generate`, as a library (axon_tools) so
 * that tests drive the same code as the command line. */
#ifndef AXON_TOOLS_TRAIN_LM_H
#define AXON_TOOLS_TRAIN_LM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "axon.h"

typedef struct ax_lm_config {
  const char *model;      /* gpt | char-lstm */
  const char *data_path;  /* text file, folder or token shards; NULL: Debian's fortunes */
  ax_gpt_config gpt;      /* n_layer, n_head, n_embd, block_size, dropout; vocab_size 0: the data's */
  int64_t lstm_embed, lstm_hidden; int lstm_layers; /* char-lstm */
  int64_t steps;          /* optimizer steps */
  double time_limit;      /* > 0: stop after this many seconds of training (the schedule still spans `steps`) */
  int batch_size, grad_accum; /* batch_size is global: with N ranks each takes batch_size / N rows */
  const char *precision;  /* fp32 | bf16 | fp16 */
  int eval_every;         /* steps between validation passes (0: only at the end) */
  int eval_batches;       /* validation batches per pass (0: the whole split) */
  int log_every;          /* steps between progress lines */
  double lr, min_lr, weight_decay, beta1, beta2, clip_norm;
  int warmup_steps;
  const char *schedule;   /* cosine (to min_lr) | none (constant after warm-up) */
  ax_device device;
  uint64_t seed;
  int threads;
  const char *metrics_path; /* JSON lines, appended, one per validation pass */
  const char *save_path;    /* final weights; NULL: none */
  int sample_tokens;        /* > 0: print a sample of this many bytes after training */
  double bucket_mb;         /* data parallel (mpirun/srun): DDP bucket size in MB (0: 25) */
  bool zero;                /* ZeRO-1: AdamW state sharded across ranks (ax_zero; not with fp16) */
  bool force_ddp;           /* DDP even with one process (checks the path; NCCL for CUDA tensors) */
  const char *checkpoint_dir; /* DIR/checkpoint.safetensors: model, optimizer, step, RNG, loss scale */
  int checkpoint_every;     /* steps between checkpoints (0: only at the end) */
  bool resume;              /* continue from DIR/checkpoint.safetensors when it exists */
  int64_t stop_after_steps; /* testing: checkpoint and stop after this many steps (an "interruption") */
  bool allow_nonfinite;     /* keep training when the loss is inf / NaN (default: stop with an error naming the step) */
  int64_t poison_step;     /* testing: from this optimizer step (1-based) on the loss is multiplied by inf */
  double *step_losses;      /* testing: if set, the loss of step s (0-based) goes to step_losses[s] */
  int64_t max_step_losses;
  FILE *log;                /* NULL: stdout */
} ax_lm_config;

typedef struct ax_lm_report {
  int64_t steps_done, tokens;
  double train_loss, val_loss, first_val_loss, seconds, tokens_per_sec, mfu;
} ax_lm_report;

void ax_lm_config_defaults(ax_lm_config *c);
int ax_train_lm(const ax_lm_config *c, ax_lm_report *r, char *err, size_t errlen);

typedef struct ax_generate_config {
  const char *weights;
  const char *prompt;  /* NULL or "": a newline */
  int64_t tokens;
  double temperature;  /* 0: greedy */
  int top_k;           /* 0: all */
  uint64_t seed;
  bool no_cache;       /* recompute the whole prefix for each token (for checking the cache) */
  ax_device device;
  FILE *out;           /* NULL: stdout; bytes are written as they are produced */
} ax_generate_config;

/* 0, or -1 with a reason in err (bad file, prompt longer than the block size, ...). */
int ax_generate(const ax_generate_config *c, char *err, size_t errlen);

/* The checkpoint code of ax_train_lm alone, for the fuzzers and their seed corpus
 * (tests/fuzz): save writes c->checkpoint_dir/checkpoint.safetensors from m, opt and scaler
 * (NULL: none) after 7 steps, load is --resume's reading and checking of it. 0, or -1. */
int ax__lm_checkpoint_io(const ax_lm_config *c, ax_module *m, ax_optimizer *opt, ax_loss_scaler *scaler, bool save,
                         char *err, size_t errlen);

/* One `note:` line on note when the GPT weights file path has no config in its metadata
 * (a file from elsewhere): m's config then comes from the tensor shapes and the default
 * n_head (tools/eval_lm.c; axon generate and axon eval --model gpt). */
void ax_tool_gpt_config_note(const char *path, ax_module *m, FILE *note);

#endif
