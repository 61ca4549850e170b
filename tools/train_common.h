/* SPDX-License-Identifier: BSD-3-Clause */
/* What `axon train`'s two front ends (tools/trainer.c for the classifiers, tools/train_lm.c
 * for the language models) hand the training engine (include/axon/train.h) the same way. */
#ifndef AXON_TOOLS_TRAIN_COMMON_H
#define AXON_TOOLS_TRAIN_COMMON_H

#include <stdio.h>

#include "axon.h"

/* The fields ax_train_config and ax_lm_config share, by name, into the engine's config e
 * (a macro: the two configs are different types with the same field names). */
/* An epoch run's length, optimizer and schedule from the flags c (the image classifiers
 * and the generative models): optimizer by name, the schedule over the run's steps (capped by
 * --steps), a 1% warm-up start. */
#define AX_TOOL_ENGINE_EPOCHS(e, c, lr_, spe_)                                             \
  do {                                                                                               \
    int64_t total_ = (spe_) * (c)->epochs;                                                \
    (e).epochs = (c)->epochs;                                                                        \
    (e).optimizer = (c)->optimizer;                                                                  \
    (e).optim = (ax_optim_spec){.lr = (lr_), .weight_decay = (c)->weight_decay, .momentum = (c)->momentum}; \
    (e).schedule_name = (c)->schedule;                                                               \
    (e).steps = (c)->max_steps;                                                                      \
    (e).sched = (ax_schedule_spec){.lr = (lr_),                                                       \
                                   .total_steps = (c)->max_steps > 0 && (c)->max_steps < total_ ? (c)->max_steps : total_, \
                                   .steps_per_epoch = (spe_), .epochs = (c)->epochs,      \
                                   .warmup_steps = (c)->warmup_steps, .warmup_start = 0.01};          \
  } while (0)

#define AX_TOOL_ENGINE_COMMON(e, c)                              \
  do {                                                           \
    (e).model_name = (c)->model;                                 \
    (e).device = (c)->device;                                    \
    (e).seed = (c)->seed;                                        \
    (e).batch_size = (c)->batch_size;                            \
    (e).clip_norm = (c)->clip_norm;                              \
    (e).allow_nonfinite = (c)->allow_nonfinite;                  \
    (e).zero = (c)->zero;                                        \
    (e).ddp = (c)->force_ddp;                                    \
    (e).bucket_mb = (c)->bucket_mb;                              \
    (e).metrics_path = (c)->metrics_path;                        \
    (e).checkpoint_dir = (c)->checkpoint_dir;                    \
    (e).checkpoint_every = (c)->checkpoint_every;                \
    (e).resume = (c)->resume && (c)->checkpoint_dir;             \
    (e).stop_after_steps = (c)->stop_after_steps;                \
    (e).poison_step = (c)->poison_step;                          \
    (e).step_losses = (c)->step_losses;                          \
    (e).max_step_losses = (c)->max_step_losses;                  \
  } while (0)

/* The start-up lines about data parallelism: DDP (what each rank takes, `unit` per rank
 * per step) and ZeRO-1 (the per-rank optimizer state), when the trainer uses them. */
void ax_tool_describe_parallel(FILE *log, ax_trainer *t, ax_comm *comm, const char *optimizer, const char *per_rank);
/* One warning line on log when the warm-up spans the whole run (warmup >= steps): the
 * learning rate would never reach its peak lr. Returns 1 if it warned, else 0. */
int ax_tool_warn_warmup(FILE *log, int64_t warmup, int64_t steps, double lr);
/* Whether f may take a '\r' progress bar: it is a terminal and no launcher started the
 * process. Under mpirun a rank's stdout is a pseudo-terminal even when mpirun's own
 * output goes into a pipe or a file, so launched processes print plain lines. */
bool ax_tool_is_terminal(FILE *f);

#endif
