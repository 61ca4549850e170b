/* SPDX-License-Identifier: BSD-3-Clause */
/* The NCCL transport: collectives on CUDA tensors.
 *
 * One NCCL communicator per process (this rank's GPU), made on the first
 * CUDA collective: rank 0's unique id travels over MPI. Collectives run on a
 * communication stream: it waits for an event recorded on the compute stream
 * (so the data is ready), and the compute stream later waits for the
 * collective's own event (ax__nccl_join), so no call ever blocks the host.
 * The only file of dist/ that includes CUDA or NCCL headers. */
#define AX_DIST_TRANSPORT
#include "dist/internal.h"

#ifdef AXON_HAVE_NCCL
#include <cuda_runtime.h>
#include <nccl.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/runtime.h"

typedef struct nccl_state {
  ncclComm_t comm;
  cudaStream_t stream;
  int device;
} nccl_state;

bool ax__nccl_available(void) { return ax_cuda_device_count() > 0; }

#define CUDA_OK(call)                                                                                    \
  do {                                                                                                   \
    cudaError_t e_ = (call);                                                                             \
    if (e_ != cudaSuccess) {                                                                             \
      ax_error("%s:%d: %s failed: %s", __FILE__, __LINE__, #call, cudaGetErrorString(e_));               \
      return -1;                                                                                         \
    }                                                                                                    \
  } while (0)
#define NCCL_OK(call)                                                                                    \
  do {                                                                                                   \
    ncclResult_t r_ = (call);                                                                            \
    if (r_ != ncclSuccess) {                                                                             \
      ax_error("%s:%d: %s failed: %s", __FILE__, __LINE__, #call, ncclGetErrorString(r_));               \
      return -1;                                                                                         \
    }                                                                                                    \
  } while (0)

static int make_state(ax_comm *c, int device) {
  ncclUniqueId id;
  if (c->rank == 0) NCCL_OK(ncclGetUniqueId(&id));
  if (c->size > 1) { /* the id goes to every rank over the CPU transport */
    ax_scope_begin();
    int64_t n = sizeof id;
    ax_tensor *t = ax_from_data(&id, 1, &n, &(ax_tensor_opts){.dtype = AX_U8});
    int rc = ax_broadcast(c, t, 0);
    if (rc == 0) memcpy(&id, ax_data_ptr(t), sizeof id);
    ax_scope_end();
    if (rc) return -1;
  }
  nccl_state *s = calloc(1, sizeof *s);
  s->device = device;
  CUDA_OK(cudaSetDevice(device));
  CUDA_OK(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking));
  NCCL_OK(ncclCommInitRank(&s->comm, c->size, id, c->rank));
  c->nccl = s;
  snprintf(c->name, sizeof c->name, "%s+nccl", c->mpi ? "mpi" : "single");
  return 0;
}

static ncclDataType_t nccl_type(ax_dtype dt) {
  switch (dt) {
  case AX_F32: return ncclFloat32;
  case AX_F64: return ncclFloat64;
  case AX_BF16: return ncclBfloat16;
  case AX_F16: return ncclFloat16;
  case AX_I32: return ncclInt32;
  case AX_I64: return ncclInt64;
  case AX_I8: return ncclInt8;
  default: return ncclUint8; /* u8, bool */
  }
}

static ncclRedOp_t nccl_op(ax_dtype dt, ax_dist_op op) {
  if (dt == AX_BOOL) return op == AX_DIST_MIN ? ncclMin : ncclMax; /* "or" / "and" on 0/1 bytes */
  switch (op) {
  case AX_DIST_AVG: return ncclAvg;
  case AX_DIST_MAX: return ncclMax;
  case AX_DIST_MIN: return ncclMin;
  default: return ncclSum;
  }
}

int ax__nccl_start(ax_comm *c, const ax__coll_args *a, void **req) {
  if (a->op == AX_DIST_AVG && !ax_dtype_is_float(a->dtype)) {
    ax_error("%s: AVG of %s tensors is not supported on CUDA (use SUM)", ax__coll_name(a->coll), ax_dtype_name(a->dtype));
    return -1;
  }
  if (!c->nccl && make_state(c, a->device) != 0) return -1;
  nccl_state *s = c->nccl;
  if (a->device != s->device) {
    ax_error("%s: this rank's NCCL communicator is on cuda:%d, the tensor on cuda:%d", ax__coll_name(a->coll), s->device,
             a->device);
    return -1;
  }
  cudaStream_t compute = (cudaStream_t)ax_cuda_get_stream();
  cudaEvent_t ready, done;
  CUDA_OK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
  CUDA_OK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
  CUDA_OK(cudaEventRecord(ready, compute));
  CUDA_OK(cudaStreamWaitEvent(s->stream, ready, 0));
  cudaEventDestroy(ready);
  size_t n = (size_t)a->count;
  ncclDataType_t t = nccl_type(a->dtype);
  switch (a->coll) {
  case AX__COLL_ALL_REDUCE:
    NCCL_OK(ncclAllReduce(a->send, a->recv, n, t, nccl_op(a->dtype, a->op), s->comm, s->stream));
    break;
  case AX__COLL_BROADCAST: NCCL_OK(ncclBroadcast(a->send, a->recv, n, t, a->root, s->comm, s->stream)); break;
  case AX__COLL_ALL_GATHER: NCCL_OK(ncclAllGather(a->send, a->recv, n, t, s->comm, s->stream)); break;
  case AX__COLL_REDUCE_SCATTER:
    NCCL_OK(ncclReduceScatter(a->send, a->recv, n, t, nccl_op(a->dtype, a->op), s->comm, s->stream));
    break;
  case AX__COLL_BARRIER: break;
  }
  CUDA_OK(cudaEventRecord(done, s->stream));
  *req = done;
  return 0;
}

int ax__nccl_test(void *req) {
  if (cudaEventQuery((cudaEvent_t)req) != cudaSuccess) return 0;
  cudaEventDestroy((cudaEvent_t)req);
  return 1;
}

void ax__nccl_join(void *req) {
  cudaError_t e = cudaStreamWaitEvent((cudaStream_t)ax_cuda_get_stream(), (cudaEvent_t)req, 0);
  if (e != cudaSuccess) ax_error("ax__nccl_join: cudaStreamWaitEvent failed: %s", cudaGetErrorString(e));
  cudaEventDestroy((cudaEvent_t)req);
}

void ax__nccl_free(ax_comm *c) {
  nccl_state *s = c ? c->nccl : NULL;
  if (!s) return;
  ncclCommDestroy(s->comm);
  cudaStreamDestroy(s->stream);
  free(s);
  c->nccl = NULL;
}

#else /* no NCCL in this build */

bool ax__nccl_available(void) { return false; }
int ax__nccl_start(ax_comm *c, const ax__coll_args *a, void **req) {
  (void)c, (void)req;
  ax_error("%s: this build has no NCCL", ax__coll_name(a->coll));
  return -1;
}
int ax__nccl_test(void *req) {
  (void)req;
  return 1;
}
void ax__nccl_join(void *req) { (void)req; }
void ax__nccl_free(ax_comm *c) { (void)c; }

#endif
