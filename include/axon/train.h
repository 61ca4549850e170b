/* SPDX-License-Identifier: BSD-3-Clause */
/* The training engine: one loop for every model (the zoo's classifiers, the GPT, the
 * char-LSTM, a module of your own with a loss function).
 *
 * You give it a model, a source of batches and a config; it runs the optimizer steps
 * (gradient accumulation, autocast, loss scaling, clipping, the schedule), data
 * parallelism (DDP; ZeRO-1 is an ax_optimizer from dist.h, so nothing branches on it),
 * evaluation on a validation set, early stopping on it (never on the test set) with
 * save-best and restore-best, a metrics sink (JSON lines with a run id), checkpoints and
 * resume, and calls your callbacks at each step, epoch and evaluation.
 *
 *   ax_trainer_config c = ax_trainer_defaults();
 *   c.model = model;  c.optimizer = "adamw";  c.lr = 1e-3;  c.epochs = 5;
 *   ax_train_data d = {.next = my_next_batch, .loss = my_loss, .ud = &mine};
 *   ax_trainer *t = ax_trainer_new(&c, &d, err, sizeof err);
 *   int rc = t ? ax_trainer_run(t, err, sizeof err) : -1;
 *   ax_trainer_free(t);
 *
 * Errors: functions return 0 / a pointer, or -1 / NULL with a one-line reason in err.
 * docs/training.md has a whole example (examples/train_custom.c) and the reference.
 */
#ifndef AXON_TRAIN_H
#define AXON_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "axon/data.h"
#include "axon/dist.h"
#include "axon/io.h"
#include "axon/metrics.h"
#include "axon/nn.h"
#include "axon/optim.h"
#include "axon/tensor.h"
#include "axon/text.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- by-name choosers (what `axon train --optimizer/--schedule/--dataset` take) ---- */

typedef struct ax_optim_spec {
  double lr;           /* required */
  double weight_decay; /* < 0: the optimizer's default here (sgd 5e-4, adamw 1e-4, adam/rmsprop 0); 0: none */
  double momentum;     /* sgd (Nesterov when > 0) */
  double beta1, beta2, eps; /* adam/adamw; 0: PyTorch's defaults */
} ax_optim_spec;
/* sgd | adam | adamw | rmsprop over params. NULL with a reason naming the known ones. */
ax_optimizer *ax_optimizer_by_name(const char *name, ax_tensor *const *params, int n, const ax_optim_spec *s,
                                   char *err, size_t errlen);
/* The default learning rate of an optimizer under a schedule (onecycle peaks higher). */
double ax_optimizer_default_lr(const char *optimizer, const char *schedule);

typedef struct ax_schedule_spec {
  double lr;
  int64_t total_steps;     /* the steps the schedule spans (after any warm-up) */
  int64_t steps_per_epoch; /* step: decays 10x every epochs / 3 epochs */
  int epochs;
  int warmup_steps;        /* linear warm-up before the schedule (0: none) */
  double warmup_start;     /* its first factor; 0 means 0.01 */
  double min_lr;           /* cosine's floor */
} ax_schedule_spec;
/* none | step | exponential | cosine | onecycle. NULL with a reason. */
ax_lr_schedule *ax_lr_schedule_by_name(const char *name, const ax_schedule_spec *s, char *err, size_t errlen);

/* fashion-mnist | mnist from dir (NULL: /usr/share/datasets/NAME, Debian's packages). */
ax_dataset *ax_dataset_by_name(const char *name, const char *dir, bool train, char *err, size_t errlen);

/* ---- checkpoints: one safetensors file (docs/file-formats.md) ----
 * model.* the model's state, optimizer.* the optimizer's (gathered under ZeRO), string
 * metadata for the rest. */

/* The model's and optimizer's state under their prefixes. Every rank must call it
 * (a ZeRO optimizer gathers its state); rank 0 writes. */
ax_state_dict *ax_checkpoint_collect(ax_module *model, ax_optimizer *opt);
/* Loads model.* (strictly) and optimizer.* of sd; refuses a NaN or infinity in any
 * floating-point tensor (naming it). path is for messages. */
int ax_checkpoint_restore(const ax_state_dict *sd, ax_module *model, ax_optimizer *opt, const char *path, char *err,
                          size_t errlen);
/* Metadata in [lo, hi]; "PATH: not an axon training checkpoint (no KEY)" when absent. */
int ax_checkpoint_meta_i64(const ax_state_dict *sd, const char *key, int64_t lo, int64_t hi, int64_t *v,
                           const char *path, char *err, size_t n);
int ax_checkpoint_meta_u64(const ax_state_dict *sd, const char *key, uint64_t *v, const char *path, char *err,
                           size_t n);
int ax_checkpoint_meta_f64(const ax_state_dict *sd, const char *key, double lo, double hi, double *v,
                           const char *path, char *err, size_t n);
int ax_checkpoint_meta_set_i64(ax_state_dict *sd, const char *key, int64_t v);
int ax_checkpoint_meta_set_u64(ax_state_dict *sd, const char *key, uint64_t v);
/* Step and sample counts read from a checkpoint: at most 2^53 (exact as doubles). */
#define AX_CHECKPOINT_MAX_COUNT ((int64_t)1 << 53)

/* ---- the engine ---- */

typedef struct ax_trainer ax_trainer;

typedef struct ax_eval_result {
  double loss;     /* mean per sample */
  double accuracy; /* NAN when the task has none */
} ax_eval_result;

/* Where batches come from, and how a batch becomes a loss. */
typedef struct ax_train_data {
  /* Called at the start of every epoch (0-based) with the batches of it already done
   * (non-zero after a resume). May be NULL. 0, or -1 with a reason. */
  int (*start_epoch)(void *ud, int epoch, int64_t batches_done, char *err, size_t errlen);
  /* Micro-batch `micro` of optimizer step `step` (0-based, global): 1 with *x and *y
   * (tensors of the current scope, on any device), 0 when the epoch has no more batches,
   * -1 with a reason. Required. */
  int (*next)(void *ud, int64_t step, int micro, ax_tensor **x, ax_tensor **y, char *err, size_t errlen);
  /* The mean loss of a batch (x and y on the device). NULL: cross-entropy of the
   * model's output. Runs under autocast when precision asks for it. */
  ax_tensor *(*loss)(void *ud, ax_module *model, ax_tensor *x, ax_tensor *y);
  /* Evaluation of the model (eval mode, no grad: the engine sets both) on the
   * validation set, and optionally the test set (reported, never watched). NULL: none. */
  int (*validate)(void *ud, ax_module *model, ax_eval_result *r);
  int (*test)(void *ud, ax_module *model, ax_eval_result *r);
  /* A step of your own (a GAN's alternating discriminator and generator updates), in place
   * of the engine's forward, backward and optimizer step: x and y on the device, inside a
   * scope; it zeroes, backpropagates and steps its optimizers itself (give them to the
   * engine as opt and opt2: it sets their learning rates from the schedule before the call
   * and saves them in checkpoints) and puts the step's loss in *loss. 0, or -1 with a
   * reason. NULL: the engine's step. Needs grad_accum 1, fp32 and no DDP. */
  int (*step)(void *ud, ax_module *model, ax_tensor *x, ax_tensor *y, double *loss, char *err, size_t errlen);
  void *ud;
} ax_train_data;

/* What a callback sees. */
typedef struct ax_train_event {
  int epoch;                  /* 0-based */
  int64_t batch;              /* batches of the epoch done */
  int64_t step;               /* optimizer steps done (this one included) */
  double loss;                /* this step's loss (the global batch's mean) */
  double train_loss;          /* mean step loss since the previous epoch end / evaluation
                               * (the metrics' train_loss; epoch mode: the epoch's) */
  double lr;                  /* of this step */
  double samples;             /* samples (x 's first dim x ranks x tokens_per_sample) of the epoch / since start */
  double seconds;             /* training time so far (evaluation excluded) */
  double epoch_seconds;       /* epoch mode: this epoch's wall time */
  double eval_seconds;        /* on_eval: the evaluation's time */
  bool has_val, has_test, improved, last;
  ax_eval_result val, test;
} ax_train_event;

/* A callback returns 0 to go on, non-zero to stop the run (cleanly, like early stopping). */
typedef int (*ax_train_callback)(void *ud, ax_trainer *t, const ax_train_event *e);

typedef enum { AX_PRECISION_FP32, AX_PRECISION_BF16, AX_PRECISION_FP16 } ax_precision;

typedef struct ax_trainer_config {
  ax_module *model;          /* required; trained in place */
  const char *model_name;    /* in checkpoints and metrics (NULL: "model") */
  ax_device device;          /* batches are moved here */
  /* length: epochs of data.next until it returns 0, or (epochs 0) `steps` steps */
  int epochs;
  int64_t steps;             /* epoch mode: 0, else a cap */
  double time_limit;         /* > 0: stop after this many seconds of training */
  int grad_accum;            /* micro-batches per step (0: 1); the loss is divided by it */
  double tokens_per_sample;  /* throughput unit (0: 1; a language model's block size) */
  /* optimizer: yours (opt, not freed) or by name */
  ax_optimizer *opt;
  ax_optimizer *opt2;        /* a second optimizer (yours, not freed; a GAN's generator): scheduled
                              * like opt, saved in checkpoints as optimizer2.* (needs data.step) */
  const char *optimizer;     /* sgd | adam | adamw | rmsprop (NULL: adamw) */
  ax_optim_spec optim;
  bool zero;                 /* ZeRO-1: the named optimizer sharded across the ranks */
  /* schedule: yours (schedule, not freed) or by name */
  ax_lr_schedule *schedule;
  const char *schedule_name; /* NULL: none (a constant lr) */
  ax_schedule_spec sched;    /* lr 0: optim.lr; total_steps 0: the run's */
  double clip_norm;          /* > 0: clip the global L2 norm of the gradients */
  ax_precision precision;    /* bf16 / fp16 autocast (fp16 with a dynamic loss scaler) */
  bool allow_nonfinite;      /* keep going when the loss is inf / NaN */
  /* data parallel (under mpirun / srun): DDP over comm (NULL: ax_comm_world()) */
  ax_comm *comm;
  bool ddp;                  /* DDP even with one process */
  double bucket_mb;
  int64_t batch_size;        /* the global batch, recorded in checkpoints */
  uint64_t seed;             /* the data seed, recorded in checkpoints */
  /* evaluation and early stopping (on the validation set only) */
  int eval_every;            /* steps between evaluations (0: at each epoch end, or at the end of a step run) */
  int early_stop;            /* > 0: stop after this many evaluations without a better validation loss */
  const char *best_path;     /* save the weights of the best validation loss here */
  bool restore_best;         /* at the end, load the best validation loss's weights back */
  /* metrics: JSON lines appended to metrics_path (rank 0) */
  const char *metrics_path;
  const char *run_id;        /* NULL: made from the time and process id */
  const char *throughput_key; /* NULL: "samples_per_sec" */
  bool metrics_per_step;     /* a line per step instead of per epoch / evaluation */
  int metrics_step_every;    /* with metrics_per_step: a step line every N-th step only (0 or 1: every step) */
  /* extra fields appended to each line (", \"k\": v" text) */
  void (*metrics_extra)(void *ud, const ax_train_event *e, char *buf, size_t n);
  /* checkpoints: dir/checkpoint.safetensors */
  const char *checkpoint_dir;
  int checkpoint_every;      /* steps (0: at epoch ends; at the end of a step run) */
  bool resume;               /* continue from the checkpoint when there is one */
  const char *checkpoint_format; /* the "format" entry (NULL: "axon-trainer-checkpoint-1") */
  /* your metadata: added on save; checked on load (0, or -1 with a reason) */
  int (*checkpoint_save)(void *ud, ax_state_dict *sd);
  int (*checkpoint_load)(void *ud, const ax_state_dict *sd, const char *path, char *err, size_t errlen);
  /* around every optimizer step: pre_optim_step once the gradients are final (reduced,
   * unscaled, clipped), post_optim_step right after the step; 0, or -1 to fail the run.
   * Pruning masks gradients and weights here (include/axon/prune.h). May be NULL. */
  int (*pre_optim_step)(void *hook_ud);
  int (*post_optim_step)(void *hook_ud);
  void *hook_ud;
  /* callbacks */
  ax_train_callback on_epoch_begin, on_step, on_epoch, on_eval;
  void *ud;                  /* for the callbacks and hooks above */
  /* testing */
  int64_t stop_after_steps;  /* checkpoint and stop after this many steps (an "interruption") */
  int64_t poison_step;       /* from this step (1-based) on the loss is multiplied by inf */
  double *step_losses;       /* the loss of step s goes to step_losses[s] */
  int64_t max_step_losses;
} ax_trainer_config;

typedef struct ax_trainer_state {
  int epoch;          /* the epoch in progress */
  int64_t batch;      /* its batches done */
  int64_t step;       /* optimizer steps done */
  double best_loss;   /* the best validation loss (inf: none yet) */
  int bad_evals;      /* evaluations since it improved */
  double loss_sum;    /* step losses since the last record */
  int64_t loss_count;
  bool resumed, stopped, stopped_early;
} ax_trainer_state;

ax_trainer_config ax_trainer_defaults(void);
/* Builds the optimizer, schedule, DDP and loss scaler; resumes when asked. Every rank calls it. */
ax_trainer *ax_trainer_new(const ax_trainer_config *c, const ax_train_data *data, char *err, size_t errlen);
/* Runs to the end (or an interruption, an early stop, a callback's stop). 0 or -1. */
int ax_trainer_run(ax_trainer *t, char *err, size_t errlen);
void ax_trainer_free(ax_trainer *t);
const ax_trainer_state *ax_trainer_get_state(const ax_trainer *t);
ax_optimizer *ax_trainer_optimizer(ax_trainer *t);
ax_ddp *ax_trainer_ddp(ax_trainer *t);
double ax_trainer_lr(const ax_trainer *t); /* the learning rate of the next step */
/* The last evaluation (validation and test), for reports. */
void ax_trainer_last_eval(const ax_trainer *t, ax_eval_result *val, ax_eval_result *test);
/* Writes / reads the checkpoint now (every rank calls save: a ZeRO state is gathered). */
int ax_trainer_save_checkpoint(ax_trainer *t, char *err, size_t errlen);
int ax_trainer_load_checkpoint(ax_trainer *t, char *err, size_t errlen);
/* The same checkpoint code without a trainer (tools that save or load outside a run, the
 * fuzzers): save writes c's checkpoint of c->model and c->opt at *st; load reads it into
 * them and *st. 0, or -1 with a reason. */
int ax_trainer_checkpoint_io(const ax_trainer_config *c, ax_loss_scaler *scaler, ax_trainer_state *st, bool save,
                             char *err, size_t errlen);

/* ---- image classification data (what `axon train --model cnn` trains on) ---- */

typedef struct ax_image_data ax_image_data;
typedef struct ax_image_data_opts {
  const ax_dataset *train, *test; /* [N, C, H, W] images, or features (ax_dataset_from_arrays), with labels; kept by the caller */
  int64_t limit_train, limit_test; /* use only the first N images (0: all) */
  int val_size;                    /* training images held out for validation (0: none) */
  int batch_size;                  /* the global batch: each of the comm's ranks takes its shard */
  int eval_batch_size;             /* 0: 500 */
  uint64_t seed;                   /* of the split, the shuffling and the augmentation */
  bool augment, prefetch;          /* random crop (pad 2) and flip; batches prepared on a thread */
  ax_device device;                /* where evaluation runs */
  ax_comm *comm;                   /* NULL: ax_comm_world() */
  /* normalization statistics: false (default) over the whole training dataset, whatever
   * limit_train and val_size take; true over the images trained on (the subset) */
  bool norm_subset;
  /* NULL: a random validation split by seed; else the training indices to use, the fitted
   * ones first and the val_size validation ones last (a cross-validation fold) */
  const int64_t *split;
  bool no_test;                    /* no test evaluation (cross-validation leaves the test set alone) */
} ax_image_data_opts;
/* A validation split, normalization with the training set's mean and standard deviation
 * (norm_subset: the training split's), and the loaders. NULL with a reason. */
ax_image_data *ax_image_data_new(const ax_image_data_opts *o, char *err, size_t errlen);
/* The engine's data: training batches, validation (when val_size > 0) and test evaluation. */
ax_train_data ax_image_data_source(ax_image_data *d);
int64_t ax_image_data_steps_per_epoch(const ax_image_data *d);
void ax_image_data_sizes(const ax_image_data *d, int64_t *n_fit, int64_t *n_test);
/* The normalization every loader applies: x = (pixel / 255 - mean[c]) / std[c] per image
 * channel, or (value - mean[f]) / std[f] per feature (a constant one: std 1). Copies at
 * most max entries of each; returns the number of channels or features. */
int ax_image_data_norm(const ax_image_data *d, float *mean, float *std, int max);
void ax_image_data_free(ax_image_data *d);

/* ---- language-model data (what `axon train --model gpt|char-lstm` trains on) ---- */

typedef struct ax_text_data ax_text_data;
typedef struct ax_text_data_opts {
  ax_text_dataset *ds;    /* a corpus or token shards (include/axon/text.h); kept by the caller */
  int batch_size;         /* global sequences per micro-batch: each of the comm's ranks takes its rows */
  int64_t block;          /* tokens per sequence */
  int grad_accum;         /* micro-batches per step (0: 1): step s reads batches s*K .. s*K+K-1 */
  uint64_t seed;          /* of the batches */
  int eval_batches;       /* validation batches per evaluation (0: the whole split) */
  ax_device device;       /* where validation runs */
  ax_comm *comm;          /* NULL: ax_comm_world() */
  /* the mean loss of a batch; NULL: cross-entropy of the model's [B, T, V] logits */
  ax_tensor *(*loss)(void *loss_ud, ax_module *model, ax_tensor *x, ax_tensor *y);
  void *loss_ud;
} ax_text_data_opts;
ax_text_data *ax_text_data_new(const ax_text_data_opts *o, char *err, size_t errlen);
/* The engine's data: training batches, their loss, and the validation loss (per sequence). */
ax_train_data ax_text_data_source(ax_text_data *d);
void ax_text_data_free(ax_text_data *d);

/* ---- helpers the loops share ---- */

/* Mean cross-entropy loss and accuracy of a classifier over a loader (eval mode, no grad). */
ax_eval_result ax_evaluate_classifier(ax_module *model, ax_loader *loader, ax_device dev, ax_confusion *cm);
/* Samples a token from logits[V] with temperature (0: greedy) and top-k (0: all); rng is
 * the caller's xorshift64* state. */
int64_t ax_sample_logits(const float *logits, int64_t V, double temperature, int top_k, uint64_t *rng);
/* Peak dense matrix FLOP/s of a GPU (half: bf16/fp16 tensor cores), 0 when unknown. */
double ax_device_peak_flops(ax_device d, bool half);

#ifdef __cplusplus
}
#endif
#endif
