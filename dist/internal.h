/* SPDX-License-Identifier: BSD-3-Clause */
/* Private to dist/: the communicator and the transports behind it.
 *
 * comm.c holds the public collectives and dispatches each to a transport by
 * the tensor's device: comm_mpi.c (CPU tensors; also the bootstrap of NCCL)
 * and comm_nccl.c (CUDA tensors). Each transport file compiles to stubs when
 * its library is absent, so the public API is the same in every build. */
#ifndef AXON_DIST_INTERNAL_H
#define AXON_DIST_INTERNAL_H

#include "axon.h"
#include "axon/dist.h"

typedef enum ax__coll {
  AX__COLL_ALL_REDUCE = 0,
  AX__COLL_BROADCAST,
  AX__COLL_ALL_GATHER,
  AX__COLL_REDUCE_SCATTER,
  AX__COLL_BARRIER,
} ax__coll;

/* One collective to run: send and recv are element-0 pointers (equal for in-place ones);
 * count is the element count per rank (recv holds size * count for all_gather, send for
 * reduce_scatter). */
typedef struct ax__coll_args {
  ax__coll coll;
  void *send, *recv;
  int64_t count;
  ax_dtype dtype;
  ax_dist_op op;
  int root;
  int device; /* CUDA ordinal (NCCL) */
} ax__coll_args;

struct ax_comm {
  int rank, size, local_rank, local_size;
  double timeout;
  bool mpi;   /* collectives on CPU tensors go through MPI */
  void *nccl; /* comm_nccl.c's state, created on the first CUDA collective */
  char name[32];
  /* set when start-up failed or a wait timed out: every later collective fails at once
   * with this reason (a timed-out request cannot be cancelled or reused) */
  bool failed;
  char why[512];
};

typedef enum { AX__WORK_DONE = 0, AX__WORK_MPI, AX__WORK_NCCL } ax__work_kind;

struct ax_comm_work {
  ax_comm *comm;
  ax__work_kind kind;
  ax__coll_args args;
  ax_tensor *t;   /* retained until completion */
  void *req;      /* the transport's request */
  bool divide;    /* AVG done as SUM: divide by the world size on completion */
  double started; /* for the timeout */
};

double ax__dist_now(void);
static inline const char *ax__coll_name(ax__coll c) { /* inline: the components use it too */
  static const char *const names[] = {"ax_all_reduce", "ax_broadcast", "ax_all_gather", "ax_reduce_scatter",
                                      "ax_barrier"};
  return names[c];
}

#ifdef AX_DIST_TRANSPORT /* the transport files themselves, in the components */
/* comm_mpi.c (libaxon_mpi) */
bool ax__mpi_available(void); /* the build has MPI */
int ax__mpi_init(ax_comm *c); /* fills rank, size, local_*; 0 or -1 */
int ax__mpi_start(ax_comm *c, const ax__coll_args *a, void **req); /* 0 or -1 (after ax_error) */
int ax__mpi_test(void *req);  /* 1 done (req freed), 0 pending */
/* After a communicator failed: skip MPI_Finalize at exit (it would wait for the request
 * that never completed); mpirun then ends the job, since this rank exits unfinalized. */
void ax__mpi_mark_failed(void);

/* comm_nccl.c (libaxon_cuda): enqueue on the communication stream after the compute
 * stream's work; *req becomes an event recorded after the collective. */
bool ax__nccl_available(void);
int ax__nccl_start(ax_comm *c, const ax__coll_args *a, void **req);
int ax__nccl_test(void *req);    /* 1 done (event freed), 0 pending */
void ax__nccl_join(void *req);   /* the compute stream waits for req (no host wait); frees it */
void ax__nccl_free(ax_comm *c);

#else /* the core (comm.c): the same calls, through the components' tables (core/components.h) */
#include "core/components.h"

static inline bool ax__mpi_available(void) { return ax__mpi_component() != NULL; }
static inline int ax__mpi_init(ax_comm *c) { return ax__mpi_component()->init(c); }
static inline int ax__mpi_start(ax_comm *c, const ax__coll_args *a, void **req) {
  return ax__mpi_component()->start(c, a, req);
}
static inline int ax__mpi_test(void *req) { return ax__mpi_component()->test(req); }
static inline void ax__mpi_mark_failed(void) {
  if (ax__mpi_component()) ax__mpi_component()->mark_failed();
}
static inline bool ax__nccl_available(void) {
  const ax_cuda_component *cu = ax__cuda_component();
  return cu && cu->nccl_available && cu->nccl_available();
}
static inline int ax__nccl_start(ax_comm *c, const ax__coll_args *a, void **req) {
  return ax__cuda_component()->nccl_start(c, a, req);
}
static inline int ax__nccl_test(void *req) { return ax__cuda_component()->nccl_test(req); }
static inline void ax__nccl_join(void *req) { ax__cuda_component()->nccl_join(req); }
static inline void ax__nccl_free(ax_comm *c) {
  if (ax__nccl_available()) ax__cuda_component()->nccl_free(c);
}
#endif

#endif
