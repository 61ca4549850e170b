/* Private to train/: the fail helper (core/fail.h) and a clock. */
#ifndef AXON_TRAIN_INTERNAL_H
#define AXON_TRAIN_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

double ax__train_now(void); /* seconds, monotonic */

#include <stdbool.h>

#include "axon.h"
#include "core/fail.h" /* ax__fail: the one fail helper */

/* ax_trainer's checkpoint code alone (the fuzzers' seeds and targets): save writes c's
 * checkpoint of c->model and c->opt at *st; load reads it into them and *st. 0 or -1. */
int ax__trainer_checkpoint_io(const ax_trainer_config *c, ax_loss_scaler *scaler, ax_trainer_state *st, bool save,
                              char *err, size_t errlen);

#endif
