/* SPDX-License-Identifier: BSD-3-Clause */
/* The MPI transport: CPU tensors, and the bootstrap (rank, size, NCCL's id).
 *
 * Every collective is MPI's non-blocking form (MPI_Iallreduce, ...) so that
 * the caller can poll it against a deadline instead of blocking forever on a
 * peer that died, and so that DDP's bucket reductions run while the backward
 * pass continues (OpenMPI progresses them whenever any MPI call is made:
 * DDP polls from its gradient hooks). bf16 and f16 have no MPI type: they
 * travel as 16-bit words with user-defined reduction operators that add in
 * f32. */
#define AX_DIST_TRANSPORT
#include "dist/internal.h"

#ifdef AXON_HAVE_MPI
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/half.h"

bool ax__mpi_available(void) { return true; }

static MPI_Comm world = MPI_COMM_NULL;
static bool failed;

void ax__mpi_mark_failed(void) { failed = true; }

static void finalize_at_exit(void) {
  if (failed) return; /* an outstanding request would make MPI_Finalize wait forever */
  int done = 0, init = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&done);
  if (init && !done) MPI_Finalize();
}

int ax__mpi_init(ax_comm *c) {
  int init = 0, provided = 0;
  MPI_Initialized(&init);
  if (!init) {
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
      ax_error("ax_comm_world: MPI_Init_thread failed");
      return -1;
    }
    atexit(finalize_at_exit);
  }
  /* a failed collective ends the job with a message rather than returning garbage */
  MPI_Comm_dup(MPI_COMM_WORLD, &world);
  MPI_Comm_set_errhandler(world, MPI_ERRORS_ARE_FATAL);
  MPI_Comm_rank(world, &c->rank);
  MPI_Comm_size(world, &c->size);
  MPI_Comm local;
  MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &c->local_rank);
  MPI_Comm_size(local, &c->local_size);
  MPI_Comm_free(&local);
  return 0;
}

#define HALF_OP(name, to_f, from_f, expr)                                     \
  static void name(void *in, void *inout, int *len, MPI_Datatype *dt) {       \
    const uint16_t *a = in;                                                   \
    uint16_t *b = inout;                                                      \
    for (int i = 0; i < *len; i++) {                                          \
      float x = to_f(a[i]), y = to_f(b[i]);                                   \
      b[i] = from_f(expr);                                                    \
    }                                                                         \
    (void)dt;                                                                 \
  }
HALF_OP(bf16_sum, ax_bf16_to_f32, ax_f32_to_bf16, x + y)
HALF_OP(bf16_max, ax_bf16_to_f32, ax_f32_to_bf16, x > y ? x : y)
HALF_OP(bf16_min, ax_bf16_to_f32, ax_f32_to_bf16, x < y ? x : y)
HALF_OP(f16_sum, ax_f16_to_f32, ax_f32_to_f16, x + y)
HALF_OP(f16_max, ax_f16_to_f32, ax_f32_to_f16, x > y ? x : y)
HALF_OP(f16_min, ax_f16_to_f32, ax_f32_to_f16, x < y ? x : y)

static MPI_Op half_op(ax_dtype dt, ax_dist_op op) {
  static MPI_Op ops[2][3]; /* created once, on the thread that runs collectives */
  static bool made;
  if (!made) {
    MPI_User_function *fn[2][3] = {{bf16_sum, bf16_max, bf16_min}, {f16_sum, f16_max, f16_min}};
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 3; j++) MPI_Op_create(fn[i][j], 1, &ops[i][j]);
    made = true;
  }
  int j = op == AX_DIST_MAX ? 1 : op == AX_DIST_MIN ? 2 : 0;
  return ops[dt == AX_F16][j];
}

static MPI_Datatype mpi_type(ax_dtype dt) {
  switch (dt) {
  case AX_F32: return MPI_FLOAT;
  case AX_F64: return MPI_DOUBLE;
  case AX_I32: return MPI_INT32_T;
  case AX_I64: return MPI_INT64_T;
  case AX_U8: return MPI_UINT8_T;
  case AX_I8: return MPI_INT8_T;
  case AX_BOOL: return MPI_C_BOOL;
  case AX_BF16:
  case AX_F16: return MPI_UINT16_T;
  default: return MPI_DATATYPE_NULL;
  }
}

static MPI_Op mpi_op(ax_dtype dt, ax_dist_op op) {
  if (dt == AX_BF16 || dt == AX_F16) return half_op(dt, op);
  if (dt == AX_BOOL) return op == AX_DIST_MIN ? MPI_LAND : MPI_LOR;
  return op == AX_DIST_MAX ? MPI_MAX : op == AX_DIST_MIN ? MPI_MIN : MPI_SUM;
}

int ax__mpi_start(ax_comm *c, const ax__coll_args *a, void **req_out) {
  if (a->count > INT32_MAX) {
    ax_error("%s: %lld elements exceed MPI's count limit (2^31 - 1)", ax__coll_name(a->coll), (long long)a->count);
    return -1;
  }
  int n = (int)a->count;
  MPI_Datatype t = mpi_type(a->dtype);
  MPI_Request *r = malloc(sizeof *r);
  int rc = MPI_SUCCESS;
  switch (a->coll) {
  case AX__COLL_ALL_REDUCE:
    rc = MPI_Iallreduce(MPI_IN_PLACE, a->recv, n, t, mpi_op(a->dtype, a->op), world, r);
    break;
  case AX__COLL_BROADCAST: rc = MPI_Ibcast(a->recv, n, t, a->root, world, r); break;
  case AX__COLL_ALL_GATHER: rc = MPI_Iallgather(a->send, n, t, a->recv, n, t, world, r); break;
  case AX__COLL_REDUCE_SCATTER:
    rc = MPI_Ireduce_scatter_block(a->send, a->recv, n, t, mpi_op(a->dtype, a->op), world, r);
    break;
  case AX__COLL_BARRIER: rc = MPI_Ibarrier(world, r); break;
  }
  if (rc != MPI_SUCCESS) {
    free(r);
    ax_error("%s: MPI returned error %d", ax__coll_name(a->coll), rc);
    return -1;
  }
  *req_out = r;
  return 0;
}

int ax__mpi_test(void *req) {
  int flag = 0;
  MPI_Test(req, &flag, MPI_STATUS_IGNORE);
  if (flag) free(req);
  return flag;
}

/* the MPI component's table (core/components.h): the core finds the transport through it */
#define AX_COMPONENT_DEFINITION
#include "core/components.h"
const ax_mpi_component ax_mpi_component_v1 = {AX_COMPONENT_ABI, ax__mpi_init, ax__mpi_start, ax__mpi_test,
                                              ax__mpi_mark_failed};

#else /* no MPI in this build */

bool ax__mpi_available(void) { return false; }
int ax__mpi_init(ax_comm *c) {
  (void)c;
  ax_error("ax_comm_world: this build has no MPI (install libopenmpi-dev and rebuild)");
  return -1;
}
int ax__mpi_start(ax_comm *c, const ax__coll_args *a, void **req) {
  (void)c, (void)a, (void)req;
  ax_error("%s: this build has no MPI", ax__coll_name(a->coll));
  return -1;
}
int ax__mpi_test(void *req) {
  (void)req;
  return 1;
}
void ax__mpi_mark_failed(void) {}

#endif
