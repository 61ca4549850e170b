/* SPDX-License-Identifier: BSD-3-Clause */
/* Private to train/: the fail helper (core/fail.h) and a clock. */
#ifndef AXON_TRAIN_INTERNAL_H
#define AXON_TRAIN_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

double ax__train_now(void); /* seconds, monotonic */

#include <stdbool.h>

#include "axon.h"
#include "core/fail.h" /* ax__fail: the one fail helper */

/* A further optimizer's state in a checkpoint under prefix (the trainer's opt2: "optimizer2."). */
void ax__checkpoint_add_optimizer(ax_state_dict *sd, ax_optimizer *opt, const char *prefix);
int ax__checkpoint_load_optimizer(const ax_state_dict *sd, ax_optimizer *opt, const char *prefix, const char *path,
                                  char *err, size_t errlen);


#endif
