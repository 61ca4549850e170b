/* SPDX-License-Identifier: BSD-3-Clause */
/* The communicator: start-up from the launcher's environment, the public
 * collectives, completion with a deadline, and the single-process backend
 * (world size 1: every collective is a no-op or a copy). */
#define _POSIX_C_SOURCE 200809L
#include <sched.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist/internal.h"

double ax__dist_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int env_int(const char *const *names, int fallback) {
  for (int i = 0; names[i]; i++) {
    const char *s = getenv(names[i]);
    if (s && *s) return atoi(s);
  }
  return fallback;
}

/* OpenMPI's mpirun, MPICH/Intel's PMI, and srun (only inside a job step: a batch
 * script sees SLURM_NTASKS too but is a single process). */
static const char *const size_vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_STEP_NUM_TASKS", NULL};
static const char *const rank_vars[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID", NULL};
static const char *const local_vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID", NULL};

static bool launched(void) {
  if (getenv("SLURM_STEP_ID") == NULL && getenv("OMPI_COMM_WORLD_SIZE") == NULL && getenv("PMI_SIZE") == NULL &&
      getenv("PMIX_RANK") == NULL)
    return false;
  return true;
}

static ax_comm *world_comm;

/* A fatal error of the communicator: reported through ax_error (the default handler
 * prints it and ends this process, and mpirun the job; a program with its own handler
 * gets -1 / NULL from the call), and remembered, so every later collective fails at
 * once with the same reason. The library itself never exits. */
static void comm_fail(ax_comm *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->why, sizeof c->why, fmt, ap);
  va_end(ap);
  c->failed = true;
  if (c->mpi) ax__mpi_mark_failed();
  ax_error("axon dist: rank %d/%d: %s", c->rank, c->size, c->why);
}

ax_comm *ax_comm_world(void) {
  if (world_comm) return world_comm;
  ax_comm *c = calloc(1, sizeof *c);
  c->size = c->local_size = 1;
  c->timeout = ax_settings_get()->dist_timeout; /* AXON_DIST_TIMEOUT (docs/settings.md) */
  snprintf(c->name, sizeof c->name, "single");
  if (launched()) {
    int size = env_int(size_vars, 1), rank = env_int(rank_vars, 0);
    c->rank = rank;
    c->local_rank = env_int(local_vars, 0);
    if (!ax__mpi_available()) {
      if (size > 1) {
        c->size = size;
        world_comm = c;
        comm_fail(c, "launched as one of %d ranks, but this build has no MPI (the MPI component, libaxon_mpi, is not "
                     "linked in: link axon::mpi or pkg-config axon-mpi; or install libopenmpi-dev and rebuild); "
                     "refusing to train %d independent copies", size, size);
        return c; /* a failed communicator: every collective reports the reason */
      }
    } else {
      if (ax__mpi_init(c) != 0) {
        world_comm = c;
        c->size = size;
        comm_fail(c, "MPI start-up failed: %s", ax_last_error());
        return c;
      }
      c->mpi = true;
      snprintf(c->name, sizeof c->name, "mpi");
      world_comm = c;
      /* Every rank must arrive before training starts; a rank that never does ends the job. */
      ax_barrier(c);
    }
  }
  world_comm = c;
  return c;
}

int ax_comm_rank(const ax_comm *c) { return c ? c->rank : 0; }
int ax_comm_size(const ax_comm *c) { return c ? c->size : 1; }
int ax_comm_local_rank(const ax_comm *c) { return c ? c->local_rank : 0; }
int ax_comm_local_size(const ax_comm *c) { return c ? c->local_size : 1; }
const char *ax_comm_backend_name(const ax_comm *c) { return c ? c->name : "single"; }
double ax_comm_timeout(const ax_comm *c) { return c ? c->timeout : AX_DIST_TIMEOUT_DEFAULT; }

int ax_comm_set_timeout(ax_comm *c, double seconds) {
  if (!c || !(seconds > 0) || !isfinite(seconds)) {
    ax_error("ax_comm_set_timeout: need a communicator and a finite number of seconds > 0, got %g", seconds);
    return -1;
  }
  c->timeout = seconds;
  return 0;
}

ax_device ax_comm_device(const ax_comm *c) {
  int n = ax_cuda_device_count();
  return n > 0 ? AX_CUDA(ax_comm_local_rank(c) % n) : AX_CPU;
}

/* ---- argument checks ---- */

static bool dtype_ok(ax_dtype dt) { return dt >= AX_F32 && dt < AX_NUM_DTYPES; }

static bool check_tensor(const char *op, const ax_tensor *t) {
  if (!ax_is_contiguous(t)) {
    char s[64];
    ax_error("%s: expected a contiguous tensor, got a strided view of shape %s (use ax_contiguous)", op,
             ax_shape_str(t, s, sizeof s));
    return false;
  }
  if (!dtype_ok(t->dtype)) {
    ax_error("%s: unsupported dtype", op);
    return false;
  }
  return true;
}

/* ---- completion ---- */

static void divide_by(void *p, int64_t n, ax_dtype dt, int size) {
  switch (dt) {
  case AX_F32: for (int64_t i = 0; i < n; i++) ((float *)p)[i] /= (float)size; break;
  case AX_F64: for (int64_t i = 0; i < n; i++) ((double *)p)[i] /= (double)size; break;
  case AX_I32: for (int64_t i = 0; i < n; i++) ((int32_t *)p)[i] /= size; break;
  case AX_I64: for (int64_t i = 0; i < n; i++) ((int64_t *)p)[i] /= size; break;
  case AX_U8: for (int64_t i = 0; i < n; i++) ((uint8_t *)p)[i] /= (uint8_t)size; break;
  case AX_I8: for (int64_t i = 0; i < n; i++) ((int8_t *)p)[i] /= (int8_t)size; break;
  default: { /* bf16 / f16 through f32 (ax_div_scalar on a 1-D view keeps it in one place) */
    ax_scope_begin();
    ax_tensor *v = ax_from_data(p, 1, &n, &(ax_tensor_opts){.dtype = dt});
    ax_to_data(ax_div_scalar(v, size), p, (size_t)n * ax_dtype_size(dt));
    ax_scope_end();
  }
  }
}

static void complete(ax_comm_work *w) {
  if (w->divide && w->comm->size > 1 && w->args.dtype != AX_BOOL)
    divide_by(w->args.recv, w->args.count, w->args.dtype, w->comm->size);
  w->kind = AX__WORK_DONE;
  w->req = NULL;
}

int ax_comm_work_test(ax_comm_work *w) {
  if (!w) return 1;
  if (w->kind == AX__WORK_MPI && ax__mpi_test(w->req)) complete(w);
  if (w->kind == AX__WORK_NCCL && ax__nccl_test(w->req)) complete(w);
  return w->kind == AX__WORK_DONE;
}

int ax_comm_work_wait(ax_comm_work *w) {
  if (!w) return -1;
  if (w->kind == AX__WORK_NCCL) { /* the compute stream waits, the host does not */
    ax__nccl_join(w->req);
    complete(w);
  }
  int spins = 0;
  while (!ax_comm_work_test(w)) {
    if (ax__dist_now() - w->started > w->comm->timeout) {
      char s[64];
      comm_fail(w->comm,
                "%s of %s %s timed out after %g s (--dist-timeout / AXON_DIST_TIMEOUT): a peer rank never "
                "arrived (did it fail, exit or stop?)",
                ax__coll_name(w->args.coll), w->t ? ax_dtype_name(w->t->dtype) : "",
                w->t ? ax_shape_str(w->t, s, sizeof s) : "", w->comm->timeout);
      return -1; /* w stays allocated: the transport may still write into its buffers */
    }
    /* spin briefly for latency, then give the core away: ranks may outnumber cores */
    if (++spins > 64) {
      struct timespec ts = {0, spins > 4096 ? 200000 : 20000};
      nanosleep(&ts, NULL);
    } else {
      sched_yield();
    }
  }
  ax_free(w->t);
  free(w);
  return 0;
}

/* Starts a collective; the local cases (world size 1) complete at once. src is the
 * input of all_gather / reduce_scatter (a copy of it is the answer on one rank). */
static ax_comm_work *start(ax_comm *c, ax__coll_args a, ax_tensor *keep, ax_tensor *src) {
  if (c->failed) {
    ax_error("%s: the communicator failed earlier: %s", ax__coll_name(a.coll), c->why);
    return NULL;
  }
  ax_comm_work *w = calloc(1, sizeof *w);
  w->comm = c;
  w->args = a;
  w->started = ax__dist_now();
  bool cuda = keep && keep->device.type == AX_DEVICE_CUDA;
  int rc = 0;
  if (cuda && (c->size > 1 || ax__nccl_available())) {
    if (!ax__nccl_available()) {
      ax_error("%s: CUDA tensors across ranks need NCCL, and this build has none", ax__coll_name(a.coll));
      rc = -1;
    } else {
      rc = ax__nccl_start(c, &a, &w->req);
      w->kind = AX__WORK_NCCL;
    }
  } else if (c->size > 1) {
    w->divide = a.op == AX_DIST_AVG && (a.coll == AX__COLL_ALL_REDUCE || a.coll == AX__COLL_REDUCE_SCATTER);
    if (w->divide) w->args.op = AX_DIST_SUM;
    rc = ax__mpi_start(c, &w->args, &w->req);
    w->kind = AX__WORK_MPI;
  } else if (src && a.count > 0) { /* world size 1: gather and scatter are copies */
    ax_scope_begin();
    rc = ax_copy_(ax_view(keep, 1, &a.count), ax_view(src, 1, &a.count));
    ax_scope_end();
  }
  if (rc != 0) {
    free(w);
    return NULL;
  }
  w->t = keep ? ax_retain(keep) : NULL;
  return w;
}

static ax__coll_args args_of(ax__coll coll, ax_tensor *t, ax_dist_op op) {
  return (ax__coll_args){.coll = coll, .send = ax_data_ptr(t), .recv = ax_data_ptr(t), .count = ax_numel(t),
                         .dtype = t->dtype, .op = op, .device = t->device.index};
}

ax_comm_work *ax_all_reduce_start(ax_comm *c, ax_tensor *t, ax_dist_op op) {
  if (!c || !t || !check_tensor("ax_all_reduce", t)) return NULL;
  if (op < AX_DIST_SUM || op > AX_DIST_MIN) {
    ax_error("ax_all_reduce: unknown reduction %d", (int)op);
    return NULL;
  }
  return start(c, args_of(AX__COLL_ALL_REDUCE, t, op), t, NULL);
}

int ax_all_reduce(ax_comm *c, ax_tensor *t, ax_dist_op op) {
  ax_comm_work *w = ax_all_reduce_start(c, t, op);
  return w ? ax_comm_work_wait(w) : -1;
}

int ax_broadcast(ax_comm *c, ax_tensor *t, int root) {
  if (!c || !t || !check_tensor("ax_broadcast", t)) return -1;
  if (root < 0 || root >= c->size) {
    ax_error("ax_broadcast: root %d is not a rank of a world of %d", root, c->size);
    return -1;
  }
  ax__coll_args a = args_of(AX__COLL_BROADCAST, t, AX_DIST_SUM);
  a.root = root;
  ax_comm_work *w = start(c, a, t, NULL);
  return w ? ax_comm_work_wait(w) : -1;
}

/* all_gather: big = out, small = in; reduce_scatter: big = in, small = out */
static int gather_scatter(ax_comm *c, ax__coll coll, ax_tensor *out, ax_tensor *in, ax_tensor *big, ax_tensor *small,
                          ax_dist_op op) {
  const char *name = ax__coll_name(coll);
  if (!c || !out || !in || !check_tensor(name, out) || !check_tensor(name, in)) return -1;
  char s1[64], s2[64];
  if (in->dtype != out->dtype || !ax_device_eq(in->device, out->device)) {
    ax_error("%s: out %s %s and in %s %s differ in dtype or device", name, ax_dtype_name(out->dtype),
             ax_shape_str(out, s1, sizeof s1), ax_dtype_name(in->dtype), ax_shape_str(in, s2, sizeof s2));
    return -1;
  }
  if (ax_numel(big) != (int64_t)c->size * ax_numel(small)) {
    ax_error("%s: %s holds %lld elements, expected world size %d x %lld of %s", name, ax_shape_str(big, s1, sizeof s1),
             (long long)ax_numel(big), c->size, (long long)ax_numel(small), ax_shape_str(small, s2, sizeof s2));
    return -1;
  }
  ax__coll_args a = {.coll = coll, .send = ax_data_ptr(in), .recv = ax_data_ptr(out), .count = ax_numel(small),
                     .dtype = in->dtype, .op = op, .device = in->device.index};
  ax_comm_work *w = start(c, a, out, in);
  return w ? ax_comm_work_wait(w) : -1;
}

int ax_all_gather(ax_comm *c, ax_tensor *out, ax_tensor *in) {
  return gather_scatter(c, AX__COLL_ALL_GATHER, out, in, out, in, AX_DIST_SUM);
}

int ax_reduce_scatter(ax_comm *c, ax_tensor *out, ax_tensor *in, ax_dist_op op) {
  return gather_scatter(c, AX__COLL_REDUCE_SCATTER, out, in, in, out, op);
}

int ax_barrier(ax_comm *c) {
  if (!c) return -1;
  if (c->size == 1) return 0;
  ax_comm_work *w = start(c, (ax__coll_args){.coll = AX__COLL_BARRIER}, NULL, NULL);
  return w ? ax_comm_work_wait(w) : -1;
}

double ax_comm_mean(ax_comm *c, double v) {
  if (!c || c->size == 1) return v;
  ax_scope_begin();
  ax_tensor *t = ax_scalar(v, &(ax_tensor_opts){.dtype = AX_F64});
  ax_all_reduce(c, t, AX_DIST_AVG);
  double r = ax_item(t);
  ax_scope_end();
  return r;
}
