/* SPDX-License-Identifier: BSD-3-Clause */
/* The distributed sampler: every rank's share of the single-process epoch.
 * It shuffles with the loader's own function and stream, so the epoch it cuts
 * up is exactly the one ax_loader would produce in one process. */
#include <stdlib.h>
#include <string.h>

#include "dist/internal.h"
#include "nn/data/internal.h"

int64_t ax_dist_sampler_indices(const ax_dist_sampler_opts *o, int epoch, int64_t *out) {
  if (!o) return -1;
  if (o->n < 0 || o->world < 1 || o->rank < 0 || o->rank >= o->world || o->global_batch < 1 ||
      o->global_batch % o->world != 0) {
    ax_error("ax_dist_sampler_indices: need n >= 0, 0 <= rank < world and a global batch divisible by the world size; "
             "got n %lld, rank %d, world %d, global batch %lld",
             (long long)o->n, o->rank, o->world, (long long)o->global_batch);
    return -1;
  }
  int64_t *order = malloc((size_t)(o->n > 0 ? o->n : 1) * sizeof *order);
  for (int64_t i = 0; i < o->n; i++) order[i] = o->indices ? o->indices[i] : i;
  if (o->shuffle) ax__data_shuffle(order, o->n, o->seed, AX_DATA_STREAM_SHUFFLE, (uint32_t)epoch);
  int64_t per_rank = o->global_batch / o->world, count = 0;
  for (int64_t start = 0; start < o->n; start += o->global_batch) {
    int64_t len = o->n - start < o->global_batch ? o->n - start : o->global_batch, lo, hi;
    if (len == o->global_batch) {
      lo = o->rank * per_rank;
      hi = lo + per_rank;
    } else {
      if (len < o->world) break; /* some rank would get no batch: the collectives would not match */
      lo = o->rank * len / o->world;
      hi = (o->rank + 1) * len / o->world;
    }
    if (out) memcpy(out + count, order + start + lo, (size_t)(hi - lo) * sizeof *out);
    count += hi - lo;
  }
  free(order);
  return count;
}
