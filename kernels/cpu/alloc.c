/* SPDX-License-Identifier: BSD-3-Clause */
#define _POSIX_C_SOURCE 200809L
/* The CPU caching allocator: 64-byte aligned blocks, rounded up to size
 * classes and kept on free lists after release, so a training loop that
 * allocates the same shapes every step stops calling malloc after its first. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu.h"

/* Classes: multiples of 64 B up to 1 KiB, then 4 classes per power of two
 * (at most 25% waste). Blocks above 1 GiB are not cached. */
#define NUM_CLASSES 160
#define MAX_CACHED_BLOCK ((size_t)1 << 30)

typedef struct block { struct block *next; } block;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static block *free_lists[NUM_CLASSES];
static ax_memory_stats stats;

static int size_class(size_t n, size_t *rounded) {
  if (n <= 1024) {
    size_t r = (n + 63) & ~(size_t)63;
    if (r == 0) r = 64;
    *rounded = r;
    return (int)(r / 64) - 1; /* 0..15 */
  }
  int p = 63 - __builtin_clzll((unsigned long long)(n - 1)); /* 2^p < n <= 2^(p+1) */
  size_t quarter = (size_t)1 << (p - 1);
  size_t base = (size_t)1 << p;
  size_t q = (n - base + quarter - 1) / quarter; /* 1..4 */
  *rounded = base + q * quarter;
  int cls = 16 + (p - 10) * 4 + (int)(q - 1);
  return cls < NUM_CLASSES ? cls : -1;
}

void *ax_cpu_alloc(size_t nbytes, int device_index) {
  (void)device_index;
  if (nbytes == 0) nbytes = 1;
  size_t rounded;
  int cls = size_class(nbytes, &rounded);
  void *p = NULL;
  pthread_mutex_lock(&lock);
  if (cls >= 0 && rounded <= MAX_CACHED_BLOCK && free_lists[cls]) {
    p = free_lists[cls];
    free_lists[cls] = free_lists[cls]->next;
    stats.cached_bytes -= rounded;
  }
  pthread_mutex_unlock(&lock);
  if (!p) {
    if (posix_memalign(&p, 64, rounded) != 0) return NULL;
    pthread_mutex_lock(&lock);
    stats.os_allocs++;
    pthread_mutex_unlock(&lock);
  }
  pthread_mutex_lock(&lock);
  stats.live_bytes += rounded;
  if (stats.live_bytes > stats.peak_bytes) stats.peak_bytes = stats.live_bytes;
  pthread_mutex_unlock(&lock);
  return p;
}

void ax_cpu_free(void *ptr, size_t nbytes, int device_index) {
  (void)device_index;
  if (!ptr) return;
  if (nbytes == 0) nbytes = 1;
  size_t rounded;
  int cls = size_class(nbytes, &rounded);
  pthread_mutex_lock(&lock);
  stats.live_bytes -= rounded;
  if (cls >= 0 && rounded <= MAX_CACHED_BLOCK) {
    block *b = ptr;
    b->next = free_lists[cls];
    free_lists[cls] = b;
    stats.cached_bytes += rounded;
    ptr = NULL;
  }
  pthread_mutex_unlock(&lock);
  free(ptr);
}

ax_memory_stats ax_cpu_memory_stats(int device_index) {
  (void)device_index;
  pthread_mutex_lock(&lock);
  ax_memory_stats s = stats;
  pthread_mutex_unlock(&lock);
  return s;
}

void ax_cpu_empty_cache(int device_index) {
  (void)device_index;
  pthread_mutex_lock(&lock);
  for (int c = 0; c < NUM_CLASSES; c++) {
    while (free_lists[c]) {
      block *b = free_lists[c];
      free_lists[c] = b->next;
      free(b);
    }
  }
  stats.cached_bytes = 0;
  pthread_mutex_unlock(&lock);
}
