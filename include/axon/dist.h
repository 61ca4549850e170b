/* SPDX-License-Identifier: BSD-3-Clause */
/* Axon dist: data parallelism across processes (CPU ranks over MPI, GPUs over NCCL).
 *
 * The same program runs once per rank, started by a launcher (mpirun, srun).
 * ax_comm_world() reads the launcher's environment, initializes MPI when the
 * build has it, and returns the process's communicator; without a launcher it
 * is a single-process communicator of world size 1 whose collectives are
 * no-ops, so the same training loop runs distributed or not.
 *
 * Collectives work in place on contiguous tensors: CPU tensors through MPI
 * (non-blocking collectives polled against a deadline), CUDA tensors through
 * NCCL on a communication stream ordered against the compute stream with
 * events (no host synchronization). Every rank must call the same collectives
 * in the same order with the same shapes and dtypes.
 *
 * Failures never hang: a collective that does not complete within
 * AXON_DIST_TIMEOUT seconds (default 60) fails with an error (ax_error) naming
 * the rank, the collective and how long it waited; the default handler ends the
 * process, and mpirun then the whole job (the library itself never exits).
 *
 * DDP (ax_ddp_*): parameters are broadcast from rank 0 (after checking that
 * every rank built the same model) and their gradients are averaged across
 * ranks in buckets (default 25 MB, filled in reverse registration order). A
 * bucket is reduced as soon as the autograd engine reports its last gradient
 * ready, so communication overlaps the rest of the backward pass:
 *
 *   ax_ddp *ddp = ax_ddp_new(model, ax_comm_world(), NULL);
 *   for (...) {
 *     ax_scope_begin();
 *     ax_backward(loss_of(model, my_shard_of_the_batch), NULL);
 *     ax_ddp_finish(ddp);          // waits for the reductions: grads are now averages
 *     ax_optimizer_step(opt);
 *     ax_optimizer_zero_grad(opt);
 *     ax_scope_end();
 *   }
 *
 * Batch-norm statistics stay per rank by default (each rank normalizes with
 * its own slice of the batch, as PyTorch's DDP); ax_sync_batch_norm_convert
 * makes them global (SyncBatchNorm, below).
 */
#ifndef AXON_DIST_H
#define AXON_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "axon/nn.h"
#include "axon/optim.h"
#include "axon/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ================= communicator ================= */

typedef struct ax_comm ax_comm;

typedef enum ax_dist_op { AX_DIST_SUM = 0, AX_DIST_AVG, AX_DIST_MAX, AX_DIST_MIN } ax_dist_op;

/* The process's communicator (created on first call; lives until exit, which finalizes MPI).
 * When a launcher says world size > 1 but the build has no MPI, or MPI fails to start, it
 * reports the error (ax_error) and returns a failed communicator whose every collective
 * fails with that reason: the library never exits by itself. */
ax_comm *ax_comm_world(void);
int ax_comm_rank(const ax_comm *c);
int ax_comm_size(const ax_comm *c);
int ax_comm_local_rank(const ax_comm *c); /* rank among the processes on this machine */
int ax_comm_local_size(const ax_comm *c);
const char *ax_comm_backend_name(const ax_comm *c); /* "single", "mpi" (+ "nccl" once used on GPUs) */
/* The device this rank should train on: cuda:(local_rank mod GPUs) when there are GPUs, else the CPU. */
ax_device ax_comm_device(const ax_comm *c);
/* How long a wait for peers may take before it fails with a message (ax_error: the default
 * handler ends the process and mpirun the job; with a handler installed the wait returns -1
 * and the communicator stays failed): AXON_DIST_TIMEOUT
 * seconds when set to a number > 0 (a bad value is reported and the default kept),
 * else AX_DIST_TIMEOUT_DEFAULT; ax_comm_set_timeout changes it for this run (0, or -1 and an error). */
#define AX_DIST_TIMEOUT_DEFAULT 60
double ax_comm_timeout(const ax_comm *c);
int ax_comm_set_timeout(ax_comm *c, double seconds);

/* Collectives, in place on a contiguous tensor. Dtypes: f32, f64, bf16, f16 (summed in
 * f32 pairwise), i32, i64, u8, bool (sum and max are "or", min "and"). AVG divides the
 * sum by the world size (truncating for integers). Each returns 0, or -1 after an error
 * (NULL / non-contiguous tensor, unsupported dtype, wrong sizes). */
int ax_all_reduce(ax_comm *c, ax_tensor *t, ax_dist_op op);
int ax_broadcast(ax_comm *c, ax_tensor *t, int root);
/* out holds size * numel(in) elements: rank r's `in` lands at out[r * numel(in) ...]. */
int ax_all_gather(ax_comm *c, ax_tensor *out, ax_tensor *in);
/* in holds size * numel(out) elements; rank r gets the reduction of every rank's block r. */
int ax_reduce_scatter(ax_comm *c, ax_tensor *out, ax_tensor *in, ax_dist_op op);
int ax_barrier(ax_comm *c);

/* A non-blocking all-reduce: returns a handle (NULL after an error). t must stay alive
 * and untouched until the handle completes. test returns 1 when done (driving MPI's
 * progress), 0 if not yet; wait blocks (up to the timeout) and frees the handle. */
typedef struct ax_comm_work ax_comm_work;
ax_comm_work *ax_all_reduce_start(ax_comm *c, ax_tensor *t, ax_dist_op op);
int ax_comm_work_test(ax_comm_work *w);
int ax_comm_work_wait(ax_comm_work *w);

/* ================= distributed sampler ================= */

/* Which samples a rank reads in an epoch. The single-process epoch (indices, shuffled by
 * (seed, epoch) exactly as ax_loader shuffles) is cut into global batches of
 * global_batch samples; rank r takes the r-th of `world` equal slices of every global
 * batch (global_batch must be divisible by world). A final partial batch of L samples is
 * split into near-equal slices, or dropped when L < world (so every rank gets the same
 * number of batches). Fed to ax_loader with batch_size global_batch / world and shuffle
 * off, rank r's k-th batch is its slice of the k-th single-process batch, and the union
 * over ranks is the single-process epoch. */
typedef struct ax_dist_sampler_opts {
  const int64_t *indices; /* the samples (NULL: 0..n-1) */
  int64_t n;
  uint64_t seed;
  bool shuffle;
  int64_t global_batch;
  int rank, world;
} ax_dist_sampler_opts;
/* Writes this rank's samples for `epoch`, in order, to out (which holds n entries) and
 * returns how many; -1 (with an error) on bad options. out may be NULL to count. */
int64_t ax_dist_sampler_indices(const ax_dist_sampler_opts *o, int epoch, int64_t *out);

/* ================= DistributedDataParallel ================= */

typedef struct ax_ddp ax_ddp;

typedef struct ax_ddp_opts {
  double bucket_mb;    /* bucket capacity in MB (2^20 bytes); 0 means 25 */
  bool no_overlap;     /* reduce every bucket in ax_ddp_finish, after the backward pass (for benchmarks) */
  bool no_broadcast;   /* skip the initial broadcast of parameters and buffers from rank 0 */
  bool broadcast_buffers; /* also broadcast buffers (running stats) from rank 0 before every step */
} ax_ddp_opts;

/* Wraps m's parameters (grad hooks installed on each). Broadcasts parameters and buffers
 * from rank 0 and verifies that every rank holds the same values. NULL after an error
 * (different models on different ranks). o may be NULL. */
ax_ddp *ax_ddp_new(ax_module *m, ax_comm *c, const ax_ddp_opts *o);
void ax_ddp_free(ax_ddp *d); /* removes the hooks */
/* Optional: marks the start of a step for the event log (ax_ddp_finish also resets). */
void ax_ddp_begin_step(ax_ddp *d);
/* Launches buckets not yet launched (parameters that got no gradient reduce zeros),
 * waits for every reduction and writes the averaged gradients back. Call after the
 * last ax_backward of a step, before the optimizer step. 0, or -1 after an error. */
int ax_ddp_finish(ax_ddp *d);
/* While on, backward passes only accumulate local gradients (gradient accumulation);
 * the first backward after turning it off reduces the accumulated sums. */
void ax_ddp_no_sync(ax_ddp *d, bool on);
int ax_ddp_num_buckets(const ax_ddp *d);
/* Parameters (registration order) in bucket b: writes at most max indices, returns the count. */
int ax_ddp_bucket_params(const ax_ddp *d, int b, int *param_index, int max);

/* The event log of the latest step, for overlap checks and benchmarks. Times are
 * seconds on a monotonic clock; seq orders events on this rank. */
typedef enum ax_ddp_event_kind {
  AX_DDP_EVENT_BUCKET_LAUNCH = 0, /* a bucket's reduction started */
  AX_DDP_EVENT_BUCKET_DONE,       /* its reduction was seen complete */
  AX_DDP_EVENT_BACKWARD_END,      /* ax_ddp_finish was entered: the backward pass had returned */
  AX_DDP_EVENT_FINISH_END,        /* ax_ddp_finish returned */
} ax_ddp_event_kind;
typedef struct ax_ddp_event {
  ax_ddp_event_kind kind;
  int bucket; /* -1 for the step events */
  int seq;
  double t;
} ax_ddp_event;
int ax_ddp_events(const ax_ddp *d, ax_ddp_event *out, int max); /* returns the count */

/* Averages a host value over ranks (metrics): returns the mean of v over the world. */
double ax_comm_mean(ax_comm *c, double v);

/* ================= SyncBatchNorm ================= */

/* A new tensor holding the sum over ranks of t (any layout; t is not modified). It is an
 * op of the autograd graph: its backward sums the incoming gradients over ranks, which is
 * the gradient of a loss that adds every rank's loss. Every rank must run the backward
 * pass through it (collectives are matched by order). NULL after an error. */
ax_tensor *ax_all_reduce_sum(ax_comm *c, ax_tensor *t);

/* Batch norm in training mode with the statistics of the global batch (every rank's x
 * together): per-channel sums over each rank's [N_r, C, d...] slice are all-reduced
 * through ax_all_reduce_sum, so the forward pass and the gradients equal
 * ax_batch_norm(training) on the concatenated batch. running_mean / running_var (may be
 * NULL) are updated with the global mean and unbiased variance (global count). Ranks may
 * bring different N_r (at least one value per channel each; two when alone). With one rank
 * it is ax_batch_norm up to rounding (composed of ordinary ops: about 3x its memory traffic). */
ax_tensor *ax_sync_batch_norm(ax_comm *c, ax_tensor *x, ax_tensor *running_mean, ax_tensor *running_var,
                              ax_tensor *weight, ax_tensor *bias, double momentum, double eps);

/* Replaces every BatchNorm1d / BatchNorm2d below root by a SyncBatchNorm holding the same
 * tensors (weight, bias, running_mean, running_var, num_batches_tracked) under the same
 * names, so state dicts, checkpoints, DDP and optimizers made before or after are
 * unaffected; it keeps eps, momentum and the training mode, and prints as PyTorch's
 * "SyncBatchNorm(64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)".
 * In training mode it runs ax_sync_batch_norm over c's ranks (and counts
 * num_batches_tracked); in eval mode, and in a world of one, it is plain ax_batch_norm.
 * Call it before ax_ddp_new (or after: the tensors are the same). Returns the number of
 * modules converted, or -1 after an error (root itself a batch norm: wrap it first). */
int ax_sync_batch_norm_convert(ax_module *root, ax_comm *c);
bool ax_is_sync_batch_norm(const ax_module *m);

/* ================= ZeRO-1: optimizer state sharded across ranks ================= */

/* ZeRO stage 1 (PyTorch's ZeroRedundancyOptimizer with DDP). The n parameters, laid end
 * to end in list order, form one flat index space of N elements; rank r owns elements
 * [r S, (r + 1) S) ∩ [0, N) with S = ceil(N / W): any N on any world size W (a rank may
 * own pieces of several parameters, or nothing when N < W). The inner optimizer, built
 * by `make` over flat 1-D views of this rank's pieces (views aliasing the parameters'
 * storage), keeps state for ~N / W elements. DDP still averages the gradients; then
 *
 *   ax_ddp_finish(ddp);
 *   ax_zero_step(z);     // steps this rank's pieces, then all-gathers the parameters
 *   ax_zero_zero_grad(z);
 *
 * leaves the same parameters on every rank as ax_optimizer_step on one process (the
 * same elementwise math: bit-identical, except bf16 stochastic rounding, whose random
 * bits are counted per piece). Cost per step: one all-gather of N elements (in rounds
 * of at most bucket_mb); memory: the state / W plus the gather buffers (bucket_mb and
 * bucket_mb / W). The parameters must share one dtype and one device. Collectives:
 * ax_zero_new, ax_zero_step and ax_zero_state_dict must be called by every rank. */
typedef struct ax_zero ax_zero;

typedef struct ax_zero_opts {
  double bucket_mb; /* the all-gather's receive buffer in MB (2^20 bytes); 0 means 25 */
} ax_zero_opts;

/* make(shard, n_shard, ctx) returns an optimizer (any kind) over the pieces it is given;
 * it is also called once on a one-element probe to learn the state layout, so it must
 * build the same configuration every time. o may be NULL. NULL after an error (bad
 * parameters, mixed dtypes or devices, different parameter lists on different ranks). */
ax_zero *ax_zero_new(ax_tensor *const *params, int n, ax_comm *c,
                     ax_optimizer *(*make)(ax_tensor *const *shard, int n_shard, void *ctx), void *ctx,
                     const ax_zero_opts *o);
void ax_zero_free(ax_zero *z);
/* Steps the owned pieces with the matching slices of the parameters' grads (pieces of a
 * parameter without a grad are skipped), then all-gathers every rank's range into every
 * rank's parameters. 0, or -1 after an error. */
int ax_zero_step(ax_zero *z);
void ax_zero_zero_grad(ax_zero *z); /* drops the grads of the (whole) parameters */
/* The inner optimizer: use it for the learning rate, the step count and schedules
 * (ax_optimizer_set_lr, ax_lr_schedule_apply, ...). Every rank has one (over a private
 * one-element tensor where the rank owns nothing), so these stay identical across ranks.
 * Never step it directly. */
ax_optimizer *ax_zero_optimizer(ax_zero *z);
/* This rank's flat range [begin, end) and N. */
void ax_zero_shard(const ax_zero *z, int64_t *begin, int64_t *end, int64_t *total);
/* Optimizer-state bytes held by this rank once every owned element has been updated,
 * and what one unsharded optimizer holds. */
int64_t ax_zero_state_bytes(const ax_zero *z);
int64_t ax_zero_full_state_bytes(const ax_zero *z);
/* The whole state in exactly ax_optimizer_state_dict's format ("state.<i>.<name>" with
 * parameter i's shape, "state.<i>.step", "step", "lr"), gathered from every rank
 * (collective; every rank gets it all). A dict saved under ZeRO on W ranks loads into
 * a plain optimizer, or into ZeRO on any number of ranks, and vice versa. 0 or -1. */
int ax_zero_state_dict(ax_zero *z, ax_state_dict *sd);
/* Restores a dict in the plain optimizer's format: each rank keeps its slices. Checks
 * the whole dict as ax_optimizer_load_state_dict does (the same verdict on every rank);
 * 0, or -1 with a reason in err and nothing modified. Not a collective. */
int ax_zero_load_state_dict(ax_zero *z, const ax_state_dict *sd, char *err, size_t errlen);

/* ZeRO-1 as an ax_optimizer (the arguments of ax_zero_new): ax_optimizer_step is
 * ax_zero_step, zero_grad drops the whole parameters' grads, the state dicts are
 * ax_zero_state_dict (collective: every rank calls ax_optimizer_state_dict) and
 * ax_zero_load_state_dict, and the learning rate and step count are the inner
 * optimizer's. Code that takes an ax_optimizer needs no branch for it. NULL after an error. */
ax_optimizer *ax_zero_optimizer_new(ax_tensor *const *params, int n, ax_comm *c,
                                    ax_optimizer *(*make)(ax_tensor *const *shard, int n_shard, void *ctx), void *ctx,
                                    const ax_zero_opts *o);
/* The ZeRO state behind an optimizer from ax_zero_optimizer_new (for its shard and sizes), else NULL. */
ax_zero *ax_zero_of(ax_optimizer *opt);

#ifdef __cplusplus
}
#endif
#endif
