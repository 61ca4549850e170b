/* SPDX-License-Identifier: BSD-3-Clause */
/* The training and evaluation loops behind `axon train` and `axon eval`, as a
 * library (tools/ builds it into axon_tools) so that tests drive the same code
 * as the command line: resume equivalence, convergence on a slice, bad files. */
#ifndef AXON_TOOLS_TRAINER_H
#define AXON_TOOLS_TRAINER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "axon.h"

typedef struct ax_train_config {
  const char *model;     /* mlp | cnn | resnet */
  const char *dataset;   /* fashion-mnist | mnist */
  const char *data_dir;  /* NULL: the dataset's default folder */
  const char *data_csv, *data_npz; /* instead of dataset: the user's arrays, for the feature MLP (docs/data.md) */
  const char *label_col; /* --data-csv: the label column (NULL: the last) */
  int64_t test_size;     /* --data-csv / --data-npz: rows held out for testing (0: a fifth) */
  int epochs;
  int64_t max_steps;     /* > 0: stop after this many optimizer steps (the schedule spans them) */
  int batch_size;
  const char *optimizer; /* sgd | adam | adamw | rmsprop */
  double lr;             /* <= 0: the optimizer's default for this trainer */
  double weight_decay, momentum;
  const char *schedule;  /* none | step | cosine | onecycle | exponential */
  int warmup_steps;
  double clip_norm;      /* 0: no clipping */
  ax_device device;
  uint64_t seed;
  int threads;           /* 0: keep OpenMP's choice */
  int val_size;          /* images held out of the training set for validation (0: none) */
  int augment;           /* -1: the model's default (on for resnet), 0 off, 1 on */
  int64_t limit_train, limit_test; /* use only the first N images (0: all) */
  bool norm_subset;      /* normalize with the statistics of the images trained on (default: the whole training set) */
  int early_stop;        /* patience in epochs (0: off) on validation loss, or test loss without a split */
  const char *metrics_path;   /* JSON lines, appended */
  int log_every;              /* > 0: a line every N steps on screen and (with metrics_path) in the file */
  const char *checkpoint_dir; /* NULL: no checkpoints */
  int checkpoint_every;       /* also checkpoint every N steps (0: at epoch ends only) */
  bool resume;
  const char *save_path;      /* final weights (safetensors); NULL: none */
  bool prefetch;
  double bucket_mb;           /* DDP gradient bucket size under mpirun/srun (0: 25 MB) */
  bool sync_bn;               /* SyncBatchNorm: batch statistics over every rank's slice (data parallel) */
  bool zero;                  /* ZeRO-1: optimizer state sharded across ranks (ax_zero) */
  bool force_ddp;             /* DDP even with one process (checks the path; NCCL for CUDA tensors) */
  bool allow_nonfinite;       /* keep training when the loss is inf / NaN (default: stop with an error naming the step) */
  /* compression and cross-validation (tools/compress.c, docs/compression.md) */
  const char *init_path;      /* weights loaded into the model before training (NULL: a fresh init) */
  bool keep_sparsity;         /* the zero weights of init_path stay zero (fine-tuning a pruned model) */
  const char *teacher_path;   /* distill from these weights (NULL: no teacher) */
  const char *teacher_model;  /* the teacher's zoo model */
  double distill_alpha, temperature; /* loss = alpha T^2 KL + (1 - alpha) CE */
  int cv;                     /* > 1: k-fold cross-validation on the training set (ax_tool_train_cv) */
  const int64_t *split;       /* a fold: the training indices in order, fit ones then val_size validation ones */
  int fold;                   /* a fold's number (1-based) on its metrics lines (0: none) */
  bool no_test;               /* never evaluate the test set (cross-validation leaves it untouched) */
  /* generative models (tools/gen.h, docs/generative.md) */
  double label_smoothing;     /* the GAN: real labels 1 - this in the discriminator's loss */
  int samples_every;          /* write a grid every N epochs (0: never) into samples_dir */
  const char *samples_dir;    /* NULL: the current folder */
  const char *judge_path;     /* a trained classifier's weights: the samples' score per epoch */
  int64_t score_samples;      /* samples the judge reads (0: 10000) */
  FILE *log;                  /* progress and epoch lines (NULL: stdout) */
  int progress;               /* -1: a bar when log is a terminal; 0: plain lines; 1: bar */
  /* testing hooks */
  int64_t stop_after_steps;   /* > 0: checkpoint and stop after this many steps (an "interruption") */
  double *step_losses;        /* if set, the loss of global step s goes to step_losses[s] */
  int64_t max_step_losses;
  int64_t poison_step;     /* testing: from this optimizer step (1-based) on the loss is multiplied by inf */
} ax_train_config;

typedef struct ax_train_report {
  int epochs_done;
  int64_t steps_done;
  double train_loss, test_loss, test_accuracy, val_loss, val_accuracy;
  double seconds, samples_per_sec;
} ax_train_report;

void ax_train_config_defaults(ax_train_config *c);
/* 0 on success; -1 with a one-line reason in err (bad data, bad checkpoint, ...). */
int ax_train(const ax_train_config *c, ax_train_report *report, char *err, size_t errlen);

typedef struct ax_eval_config {
  const char *model; /* NULL: the model named in the weights file (axon_model), else cnn */
  const char *weights, *dataset, *data_dir;
  int batch_size;
  ax_device device;
  int64_t limit_test;
  FILE *out; /* NULL: stdout */
  const char *confusion_png; /* also draw the confusion matrix into this PNG (needs libaxon_plot) */
  ax_eval_result *result; /* if set: the test loss and accuracy (gpt: the validation loss) */
  /* the feature MLP's weights: the data (NULL: the file's axon_dataset) and its label column */
  const char *data_csv, *data_npz, *label_col;
  /* --model gpt (ax_eval_lm) */
  const char *data_path;  /* the text corpus (NULL: AX_TEXT_DEFAULT_PATH, fortunes) */
  int64_t gpt_n_layer, gpt_n_head, gpt_n_embd, gpt_block_size; /* > 0: must be the file's */
  const char *metrics_json; /* every metric as one JSON object here (tools/eval_json.c); NULL: none */
} ax_eval_config;

/* Prints accuracy, the per-class table and the confusion matrix; *accuracy gets the accuracy. */
int ax_eval(const ax_eval_config *c, double *accuracy, char *err, size_t errlen);

/* GPT weights: prints the validation loss and perplexity on the corpus's validation split
 * (the split training used). 0, or -1 with a reason (a config that disagrees with the
 * gpt_* fields names both). */
int ax_eval_lm(const ax_eval_config *c, char *err, size_t errlen);

/* The checkpoint code of ax_train alone, for the fuzzers and their seed corpus (tests/fuzz):
 * save writes c->checkpoint_dir/checkpoint.safetensors from model and opt (at a made-up
 * position in training), load is --resume's reading and checking of it. 0, or -1 with a reason. */
int ax__train_checkpoint_io(const ax_train_config *c, ax_module *model, ax_optimizer *opt, bool save, char *err,
                            size_t errlen);

#endif
