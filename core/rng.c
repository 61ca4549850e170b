/* SPDX-License-Identifier: BSD-3-Clause */
/* The global generator: a seed (the Philox key) and an offset that every
 * random op advances by one, so consecutive calls draw disjoint streams and
 * a (seed, offset) pair saved in a checkpoint restores the exact sequence. */
#include <pthread.h>

#include "core/internal.h"

static pthread_mutex_t rng_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t rng_seed = 0x5eed5eedULL, rng_offset;

void ax_manual_seed(uint64_t seed) {
  pthread_mutex_lock(&rng_lock);
  rng_seed = seed;
  rng_offset = 0;
  pthread_mutex_unlock(&rng_lock);
}

void ax_rng_get_state(uint64_t *seed, uint64_t *offset) {
  pthread_mutex_lock(&rng_lock);
  if (seed) *seed = rng_seed;
  if (offset) *offset = rng_offset;
  pthread_mutex_unlock(&rng_lock);
}

void ax_rng_set_state(uint64_t seed, uint64_t offset) {
  pthread_mutex_lock(&rng_lock);
  rng_seed = seed;
  rng_offset = offset;
  pthread_mutex_unlock(&rng_lock);
}

uint64_t ax__rng_next_offset(void) {
  pthread_mutex_lock(&rng_lock);
  uint64_t o = rng_offset++;
  pthread_mutex_unlock(&rng_lock);
  return o;
}

uint64_t ax__rng_seed(void) {
  pthread_mutex_lock(&rng_lock);
  uint64_t s = rng_seed;
  pthread_mutex_unlock(&rng_lock);
  return s;
}
