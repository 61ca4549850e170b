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


#endif
