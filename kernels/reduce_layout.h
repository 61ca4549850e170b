/* SPDX-License-Identifier: BSD-3-Clause */
/* The layout classification shared by the CPU and CUDA reductions: the input's
 * dims (size-1 dims dropped) sorted by stride, split into kept and reduced
 * lists, and neighbours of the same kind that are contiguous with each other
 * merged. Both backends pick their loops from the same description, so they
 * take the same path for the same tensors. Host code; C and CUDA-safe. */
#ifndef AXON_KERNELS_REDUCE_LAYOUT_H
#define AXON_KERNELS_REDUCE_LAYOUT_H

#include <stdbool.h>
#include <string.h>

#include "kernels/backend.h"

/* A list of dims, outer to inner, with element strides in the input, the output
 * and an auxiliary output (arg_reduce's values); used as an odometer. */
typedef struct ax_reduce_dims {
  int n;
  int64_t size[AX_MAX_DIMS], in[AX_MAX_DIMS], out[AX_MAX_DIMS], aux[AX_MAX_DIMS];
} ax_reduce_dims;

typedef struct ax_reduce_layout {
  ax_reduce_dims kept, red; /* coalesced, outer to inner, size-1 dims dropped */
  bool inner_reduced;       /* the innermost of all dims (smallest input stride) is reduced */
} ax_reduce_layout;

/* out has in's ndim with size 1 on the reduced dims. */
static inline void ax_reduce_layout_make(ax_reduce_layout *L, const ax_kt *out, const ax_kt *in) {
  int n = 0, order[AX_MAX_DIMS];
  for (int d = 0; d < in->ndim; d++)
    if (in->shape[d] != 1) order[n++] = d;
  /* stable insertion sort by input stride, largest first */
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && in->strides[order[j - 1]] < in->strides[order[j]]; j--) {
      int t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  memset(L, 0, sizeof *L);
  int prev_red = -1;
  for (int i = 0; i < n; i++) {
    int d = order[i];
    bool red = out->shape[d] == 1;
    ax_reduce_dims *dl = red ? &L->red : &L->kept;
    int64_t sz = in->shape[d], si = in->strides[d], so = red ? 0 : out->strides[d];
    int k = dl->n;
    /* merge with the previous dim when it is of the same kind and contiguous with this one */
    if (prev_red == (int)red && k > 0 && dl->in[k - 1] == si * sz && dl->out[k - 1] == so * sz) {
      dl->size[k - 1] *= sz;
      dl->in[k - 1] = si;
      dl->out[k - 1] = so;
    } else {
      dl->size[k] = sz;
      dl->in[k] = si;
      dl->out[k] = so;
      dl->n++;
    }
    prev_red = red;
    L->inner_reduced = red;
  }
}

#endif
