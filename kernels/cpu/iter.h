/* SPDX-License-Identifier: BSD-3-Clause */
/* Strided iteration for CPU kernels with up to AX_ITER_MAX_OPS operands of
 * one shape. Dims are coalesced (contiguous runs merged, size-1 dims dropped),
 * then the flat index space is cut into chunks, one per OpenMP thread when
 * the tensor is large, and each chunk is handed to `fn` as segments along the
 * innermost dim: fn(ctx, n, ptrs, strides) with byte pointers and byte strides.
 * A contiguous tensor is therefore one segment per thread, a tight loop the
 * compiler vectorizes. */
#ifndef AXON_KERNELS_CPU_ITER_H
#define AXON_KERNELS_CPU_ITER_H

#include <omp.h>
#include <string.h>

#include "kernels/cpu/cpu.h"

#define AX_ITER_MAX_OPS 4

typedef struct ax_iter {
  int nops, ndim;
  int64_t numel;
  int64_t shape[AX_MAX_DIMS];
  int64_t strides[AX_ITER_MAX_OPS][AX_MAX_DIMS]; /* bytes */
  char *base[AX_ITER_MAX_OPS];
} ax_iter;

typedef void (*ax_segment_fn)(void *ctx, int64_t n, char **ptrs, const int64_t *strides);

static inline size_t ax_iter_elem_size(int dtype) {
  static const size_t sizes[AX_NUM_DTYPES] = {4, 8, 2, 2, 4, 8, 1, 1, 1};
  return sizes[dtype];
}

/* ops[0] gives the shape; every op must have it (broadcast ones with stride 0). */
static inline void ax_iter_init(ax_iter *it, int nops, const ax_kt *const *ops) {
  memset(it, 0, sizeof *it);
  it->nops = nops;
  const ax_kt *o = ops[0];
  it->numel = 1;
  for (int k = 0; k < nops; k++) it->base[k] = (char *)ops[k]->data;
  for (int d = 0; d < o->ndim; d++)
    if (o->shape[d] == 0) { /* empty: nothing to run, and the other sizes are never multiplied */
      it->numel = 0;
      it->shape[0] = 0;
      it->ndim = 1;
      return;
    }
  for (int d = 0; d < o->ndim; d++) it->numel *= o->shape[d];
  int n = 0;
  for (int d = 0; d < o->ndim; d++) {
    if (o->shape[d] == 1) continue;
    int64_t sz = o->shape[d];
    if (n > 0) { /* merge with the previous kept dim if contiguous for every op */
      bool merge = true;
      for (int k = 0; k < nops; k++) {
        int64_t es = (int64_t)ax_iter_elem_size(ops[k]->dtype);
        if (it->strides[k][n - 1] != ops[k]->strides[d] * es * sz) merge = false;
      }
      if (merge) {
        it->shape[n - 1] *= sz;
        for (int k = 0; k < nops; k++)
          it->strides[k][n - 1] = ops[k]->strides[d] * (int64_t)ax_iter_elem_size(ops[k]->dtype);
        continue;
      }
    }
    it->shape[n] = sz;
    for (int k = 0; k < nops; k++) it->strides[k][n] = ops[k]->strides[d] * (int64_t)ax_iter_elem_size(ops[k]->dtype);
    n++;
  }
  if (n == 0) { /* a single element */
    it->shape[0] = 1;
    n = 1;
  }
  it->ndim = n;
}

/* Runs fn over elements [begin, end) of the flat index space. */
static inline void ax_iter_range(const ax_iter *it, int64_t begin, int64_t end, ax_segment_fn fn, void *ctx) {
  int nd = it->ndim, last = nd - 1;
  int64_t idx[AX_MAX_DIMS];
  int64_t rem = begin;
  for (int d = last; d >= 0; d--) {
    idx[d] = rem % it->shape[d];
    rem /= it->shape[d];
  }
  char *ptrs[AX_ITER_MAX_OPS];
  int64_t inner[AX_ITER_MAX_OPS];
  for (int k = 0; k < it->nops; k++) inner[k] = it->strides[k][last];
  int64_t pos = begin;
  while (pos < end) {
    for (int k = 0; k < it->nops; k++) {
      char *p = it->base[k];
      for (int d = 0; d < nd; d++) p += idx[d] * it->strides[k][d];
      ptrs[k] = p;
    }
    int64_t n = it->shape[last] - idx[last];
    if (n > end - pos) n = end - pos;
    fn(ctx, n, ptrs, inner);
    pos += n;
    idx[last] += n;
    for (int d = last; d > 0 && idx[d] >= it->shape[d]; d--) {
      idx[d] = 0;
      idx[d - 1]++;
    }
  }
}

/* Runs fn over the whole space, in parallel when it is large. */
static inline void ax_iter_run(const ax_iter *it, ax_segment_fn fn, void *ctx) {
  int64_t total = it->numel;
  if (total <= 0) return;
  if (total < AX_CPU_PARALLEL_MIN || omp_get_max_threads() == 1 || omp_in_parallel()) {
    ax_iter_range(it, 0, total, fn, ctx);
    return;
  }
#pragma omp parallel
  {
    int nt = omp_get_num_threads(), t = omp_get_thread_num();
    /* chunk boundaries on multiples of 16 elements keep vector loops aligned */
    int64_t chunk = ((total + nt - 1) / nt + 15) & ~(int64_t)15;
    int64_t b = (int64_t)t * chunk, e = b + chunk;
    if (e > total) e = total;
    if (b < e) ax_iter_range(it, b, e, fn, ctx);
  }
}

/* Scalar loads and stores of any dtype as double (the slow, general path). */
double ax_cpu_load(const void *p, int dtype);
void ax_cpu_store(void *p, int dtype, double v);

#endif
