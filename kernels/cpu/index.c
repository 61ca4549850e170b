/* SPDX-License-Identifier: BSD-3-Clause */
/* Indexing kernels: index_select, index_add, gather, scatter_add.
 *
 * All four move elements between a "direct" tensor, walked in the index
 * space's own order, and a "target" tensor addressed through an index along
 * one dim:
 *   index_select  out[.., j, ..]  = in[.., idx[j], ..]         (read)
 *   gather        out[.., j, ..]  = in[.., idx[.., j, ..], ..] (read)
 *   index_add     out[.., idx[j], ..]         += src[.., j, ..] (write)
 *   scatter_add   out[.., idx[.., j, ..], ..] += src[.., j, ..] (write)
 * The iterator walks every dim except `dim` (coalesced, in segments); inside
 * a segment the loop runs over j outermost so that the inner loop moves along
 * the segment, contiguous in the common layouts (an embedding lookup copies
 * whole rows).
 *
 * Parallelism and determinism: the write kernels split the work only over
 * the non-indexed dims. Two different positions there never touch the same
 * output element, and each output element receives its additions in j order
 * from one thread, so sums are bit-identical run to run whatever the thread
 * count. Splitting along `dim` would need atomics (races on repeated indices)
 * and make float sums depend on scheduling, so a write whose only large
 * extent is `dim` runs serially. Read kernels may split either way.
 * The op layer has checked every index value against the target's size. */
#include <omp.h>
#include <string.h>

#include "kernels/cpu/iter.h"

typedef struct index_job {
  int write;       /* 1: target[idx] += direct; 0: direct = target[idx] */
  int dtype;       /* of direct and target */
  int idx_dtype;   /* AX_I64 or AX_I32 */
  int per_element; /* 1: the index has the space's shape (gather, scatter_add); 0: 1-D along dim */
  const char *idx1d; /* the 1-D index (per_element == 0) */
  int64_t idx1d_stride;
  /* byte strides along dim */
  int64_t direct_ds, target_ds, idx_ds;
  int64_t j0, j1; /* the range of j this call covers */
} index_job;

static inline int64_t load_index(const char *p, int dt) {
  return dt == AX_I64 ? *(const int64_t *)p : (int64_t)*(const int32_t *)p;
}

/* n elements of one segment for one j: ptrs 0 = direct, 1 = target (at index
 * 0 along dim), 2 = per-element index. `row`: one index value v1 for the whole
 * segment (a 1-D index, or a per-element index with stride 0 there, as from
 * an expanded index), so the target is a plain strided run. */
#define INDEX_LOOP(T, STMT)                                                                             \
  if (row) {                                                                                            \
    char *t = tp + v1 * job->target_ds;                                                                 \
    for (int64_t e = 0; e < n; e++) {                                                                   \
      T *tv = (T *)(t + e * s[1]), *dv = (T *)(dp + e * s[0]);                                          \
      STMT;                                                                                             \
    }                                                                                                   \
  } else {                                                                                              \
    for (int64_t e = 0; e < n; e++) {                                                                   \
      T *tv = (T *)(tp + load_index(ip + e * is, idt) * job->target_ds + e * s[1]);                     \
      T *dv = (T *)(dp + e * s[0]);                                                                     \
      STMT;                                                                                             \
    }                                                                                                   \
  }
#define READ_LOOP(T) INDEX_LOOP(T, *dv = *tv)
#define WRITE_LOOP(T) INDEX_LOOP(T, *tv += *dv)

static void index_segment(void *ctx, int64_t n, char **p, const int64_t *s) {
  const index_job *job = ctx;
  int pe = job->per_element, idt = job->idx_dtype;
  int64_t is = pe ? s[2] : 0;
  bool row = !pe || is == 0 || n == 1;
  size_t es = ax_iter_elem_size(job->dtype);
  char *tp = p[1];
  for (int64_t j = job->j0; j < job->j1; j++) {
    char *dp = p[0] + j * job->direct_ds;
    const char *ip = pe ? p[2] + j * job->idx_ds : NULL;
    int64_t v1 = pe ? (row ? load_index(ip, idt) : 0) : load_index(job->idx1d + j * job->idx1d_stride, idt);
    if (!job->write) {
      if (row && s[0] == (int64_t)es && s[1] == (int64_t)es) { /* whole contiguous run: a row copy */
        memcpy(dp, tp + v1 * job->target_ds, (size_t)n * es);
        continue;
      }
      switch (es) {
        case 1: READ_LOOP(uint8_t) break;
        case 2: READ_LOOP(uint16_t) break;
        case 4: READ_LOOP(uint32_t) break;
        default: READ_LOOP(uint64_t) break;
      }
      continue;
    }
    switch (job->dtype) {
      case AX_F32: WRITE_LOOP(float) break;
      case AX_F64: WRITE_LOOP(double) break;
      case AX_I32: WRITE_LOOP(int32_t) break;
      case AX_I64: WRITE_LOOP(int64_t) break;
      default: /* bf16, f16, u8, bool: through double, the general path */
        INDEX_LOOP(char, ax_cpu_store(tv, job->dtype, ax_cpu_load(tv, job->dtype) + ax_cpu_load(dv, job->dtype)))
    }
  }
}

/* Runs a job over `space` (the shape of the direct tensor, or of the index
 * for per-element indexing) with every dim but `dim` walked by the iterator. */
static void run_index_job(index_job job, const ax_kt *direct, const ax_kt *target, const ax_kt *index,
                          const int64_t *space, int ndim, int dim) {
  ax_kt d = *direct, t = *target, x;
  d.ndim = t.ndim = ndim;
  for (int k = 0; k < ndim; k++) d.shape[k] = t.shape[k] = k == dim ? 1 : space[k];
  const ax_kt *ops[3] = {&d, &t, &x};
  int nops = 2;
  if (job.per_element) {
    x = *index;
    for (int k = 0; k < ndim; k++) x.shape[k] = d.shape[k];
    nops = 3;
  }
  ax_iter it;
  ax_iter_init(&it, nops, ops);
  int64_t extent = ndim ? space[dim] : 1, outer = it.numel;
  if (outer == 0 || extent == 0) return;
  int nt = omp_get_max_threads();
  bool split_outer = job.write || outer >= 4 * (int64_t)nt || extent < nt;
  if (outer * extent < AX_CPU_PARALLEL_MIN || nt == 1 || omp_in_parallel() || (split_outer ? outer : extent) < 2) {
    job.j0 = 0;
    job.j1 = extent;
    ax_iter_range(&it, 0, outer, index_segment, &job);
    return;
  }
#pragma omp parallel
  {
    int tn = omp_get_num_threads(), ti = omp_get_thread_num();
    index_job mine = job;
    int64_t total = split_outer ? outer : extent;
    int64_t chunk = (total + tn - 1) / tn, b = (int64_t)ti * chunk, e = b + chunk < total ? b + chunk : total;
    if (b < e) {
      if (split_outer) {
        mine.j0 = 0;
        mine.j1 = extent;
        ax_iter_range(&it, b, e, index_segment, &mine);
      } else {
        mine.j0 = b;
        mine.j1 = e;
        ax_iter_range(&it, 0, outer, index_segment, &mine);
      }
    }
  }
}

static index_job make_job(int write, int dim, const ax_kt *direct, const ax_kt *target, const ax_kt *index,
                          int per_element) {
  index_job job;
  memset(&job, 0, sizeof job);
  int64_t es = (int64_t)ax_iter_elem_size(direct->dtype), ies = (int64_t)ax_iter_elem_size(index->dtype);
  job.write = write;
  job.dtype = direct->dtype;
  job.idx_dtype = index->dtype;
  job.per_element = per_element;
  if (direct->ndim > 0) {
    job.direct_ds = direct->strides[dim] * es;
    job.target_ds = target->strides[dim] * es;
    job.idx_ds = per_element ? index->strides[dim] * ies : 0;
  }
  if (!per_element) {
    job.idx1d = index->data;
    job.idx1d_stride = index->ndim ? index->strides[0] * ies : 0;
  }
  return job;
}

ax_kstatus ax_cpu_index_select(ax_kt *out, const ax_kt *in, int dim, const ax_kt *index) {
  run_index_job(make_job(0, dim, out, in, index, 0), out, in, index, out->shape, out->ndim, dim);
  return AX_K_OK;
}

/* ax_embedding's lookup: index_select along dim 0 (the op layer has checked the indices) */
ax_kstatus ax_cpu_embedding(ax_kt *out, const ax_kt *weight, const ax_kt *index) {
  return ax_cpu_index_select(out, weight, 0, index);
}

ax_kstatus ax_cpu_index_add(ax_kt *out, int dim, const ax_kt *index, const ax_kt *src) {
  run_index_job(make_job(1, dim, src, out, index, 0), src, out, index, src->shape, src->ndim, dim);
  return AX_K_OK;
}

ax_kstatus ax_cpu_gather(ax_kt *out, const ax_kt *in, int dim, const ax_kt *index) {
  run_index_job(make_job(0, dim, out, in, index, 1), out, in, index, index->shape, index->ndim, dim);
  return AX_K_OK;
}

ax_kstatus ax_cpu_scatter_add(ax_kt *out, int dim, const ax_kt *index, const ax_kt *src) {
  run_index_job(make_job(1, dim, src, out, index, 1), src, out, index, index->shape, index->ndim, dim);
  return AX_K_OK;
}
