/* SPDX-License-Identifier: BSD-3-Clause */
/* dist/ under a real launcher: `mpirun -np N test_dist_mpi MODE`.
 *
 * A plain program, not a Criterion suite: Criterion forks a child per test,
 * and a forked child of an MPI rank cannot use MPI (OpenMPI forbids it), so
 * every rank runs the checks in order in its own process and exits non-zero
 * on the first failure; mpirun's exit status is the test's result.
 *   collectives  every collective on sizes 0, 1, 7, 1000003, every dtype, every op
 *   ddp          N ranks with batch B/N == one process with batch B after 20 steps
 *                (MLP and CNNs, SGD and AdamW, f32 and f64), overlap, no_sync
 *   syncbn       SyncBatchNorm: uneven slices == ax_batch_norm on the whole batch (forward,
 *                gradients, running stats); the zoo CNN in training mode (dropout off),
 *                N ranks with batch B/N == one process with batch B after 10 steps (f64)
 *   zero         ZeRO-1 (ax_zero): DDP + sharded AdamW / SGD == DDP + the plain optimizer (MLP, and a
 *                model of 3943 parameters with a [3] bias: no divisibility), identical parameters
 *                on every rank after each step, the gathered state dict == the plain one, loading
 *                either into the other continues identically, a parameter list smaller than W
 *   exit         rank 1 exits mid-training: the job must end non-zero, not hang
 *   hang         rank 1 stops calling collectives: the others time out (AXON_DIST_TIMEOUT) */
#define _DEFAULT_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "axon.h"

static ax_comm *comm;
static int rank, world, failures;

#define CHECK(cond, ...)                                               \
  do {                                                                 \
    if (!(cond)) {                                                     \
      fprintf(stderr, "rank %d: FAILED %s:%d: ", rank, __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                                    \
      fprintf(stderr, "\n");                                           \
      failures++;                                                      \
    }                                                                  \
  } while (0)

/* ---- collectives ---- */

/* value of element i on rank r: small integers, exact in every dtype */
static double val(ax_dtype dt, int64_t i, int r) {
  if (dt == AX_BOOL) return (double)((i + r) % 3 == 0);
  return (double)(i % 7 + r + (dt == AX_U8 ? 0 : 1));
}

static ax_tensor *make(ax_dtype dt, int64_t n, int r) {
  double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
  for (int64_t i = 0; i < n; i++) v[i] = val(dt, i, r);
  ax_tensor *t = ax_cast(ax_from_data(v, 1, &n, &(ax_tensor_opts){.dtype = AX_F64}), dt);
  free(v);
  return t;
}


static double expect_reduce(ax_dtype dt, ax_dist_op op, int64_t i) {
  double s = 0, mx = -1e300, mn = 1e300;
  for (int r = 0; r < world; r++) {
    double x = val(dt, i, r);
    s += x;
    mx = fmax(mx, x);
    mn = fmin(mn, x);
  }
  if (dt == AX_BOOL) return op == AX_DIST_MIN ? mn : mx;
  switch (op) {
  case AX_DIST_SUM: return s;
  case AX_DIST_AVG: return ax_dtype_is_float(dt) ? s / world : (double)((int64_t)s / world);
  case AX_DIST_MAX: return mx;
  default: return mn;
  }
}

/* compares the elements at a spread of positions (all of them for small tensors) */
static void compare(const char *what, ax_tensor *t, ax_dtype dt, int64_t n, double (*want)(ax_dtype, int64_t, void *),
                    void *ctx) {
  ax_scope_begin();
  ax_tensor *d = ax_cast(t, AX_F64);
  const double *p = ax_data_ptr(d);
  int64_t bad = -1;
  for (int64_t i = 0; i < n && bad < 0; i += n > 5000 ? 997 : 1)
    if (fabs(p[i] - want(dt, i, ctx)) > 1e-6 * fabs(want(dt, i, ctx))) bad = i;
  if (n > 0 && fabs(p[n - 1] - want(dt, n - 1, ctx)) > 1e-6 * fabs(want(dt, n - 1, ctx))) bad = n - 1;
  CHECK(bad < 0, "%s %s n=%lld: element %lld is %g, expected %g", what, ax_dtype_name(dt), (long long)n, (long long)bad,
        bad >= 0 ? p[bad] : 0, bad >= 0 ? want(dt, bad, ctx) : 0);
  ax_scope_end();
}

static double want_reduce(ax_dtype dt, int64_t i, void *ctx) { return expect_reduce(dt, *(ax_dist_op *)ctx, i); }
static double want_root(ax_dtype dt, int64_t i, void *ctx) { return val(dt, i, *(int *)ctx); }
static double want_gather(ax_dtype dt, int64_t i, void *ctx) {
  int64_t n = *(int64_t *)ctx;
  return val(dt, i % n, (int)(i / n));
}
typedef struct { ax_dist_op op; int64_t n; } scatter_ctx;
static double want_scatter(ax_dtype dt, int64_t i, void *ctx) {
  scatter_ctx *s = ctx;
  return expect_reduce(dt, s->op, (int64_t)rank * s->n + i);
}

static void test_collectives(void) {
  const int64_t sizes[] = {0, 1, 7, 1000003};
  const char *ops[] = {"sum", "avg", "max", "min"};
  for (int dt = 0; dt < AX_NUM_DTYPES; dt++) {
    for (int s = 0; s < 4; s++) {
      int64_t n = sizes[s];
      ax_scope_begin();
      for (int op = 0; op < 4; op++) {
        if (dt == AX_BOOL && op == AX_DIST_AVG) continue;
        if ((dt == AX_BF16 || dt == AX_F16) && op == AX_DIST_AVG && n > 100) continue; /* rounding of x/N */
        ax_tensor *t = make(dt, n, rank);
        CHECK(ax_all_reduce(comm, t, op) == 0, "all_reduce %s failed: %s", ops[op], ax_last_error());
        char what[64];
        snprintf(what, sizeof what, "all_reduce(%s)", ops[op]);
        ax_dist_op o = op;
        compare(what, t, dt, n, want_reduce, &o);
      }
      int root = world - 1;
      ax_tensor *b = make(dt, n, rank);
      CHECK(ax_broadcast(comm, b, root) == 0, "broadcast failed: %s", ax_last_error());
      compare("broadcast", b, dt, n, want_root, &root);
      if (n <= 1000003 / (world > 2 ? 2 : 1)) {
        ax_tensor *in = make(dt, n, rank), *out = ax_zeros(1, (int64_t[]){n * world}, &(ax_tensor_opts){.dtype = dt});
        CHECK(ax_all_gather(comm, out, in) == 0, "all_gather failed: %s", ax_last_error());
        compare("all_gather", out, dt, n * world, want_gather, &n);
        ax_tensor *big = make(dt, n * world, rank), *mine = ax_zeros(1, &n, &(ax_tensor_opts){.dtype = dt});
        scatter_ctx sc = {dt == AX_BOOL ? AX_DIST_MAX : AX_DIST_SUM, n};
        CHECK(ax_reduce_scatter(comm, mine, big, sc.op) == 0, "reduce_scatter failed: %s", ax_last_error());
        compare("reduce_scatter", mine, dt, n, want_scatter, &sc);
      }
      ax_scope_end();
    }
  }
  CHECK(ax_barrier(comm) == 0, "barrier");
  /* the non-blocking form completes to the same answer */
  ax_scope_begin();
  ax_tensor *t = make(AX_F32, 1000, rank);
  ax_comm_work *w = ax_all_reduce_start(comm, t, AX_DIST_SUM);
  CHECK(w && ax_comm_work_wait(w) == 0, "all_reduce_start");
  ax_dist_op o = AX_DIST_SUM;
  compare("all_reduce_start", t, AX_F32, 1000, want_reduce, &o);
  ax_scope_end();
  CHECK(fabs(ax_comm_mean(comm, (double)rank) - (world - 1) / 2.0) < 1e-12, "comm_mean");
}

/* ---- DDP equivalence ---- */

static ax_module *cnn_without_bn(void) {
  const ax_nn_conv2d_opts pad1 = {.padding = 1};
  const ax_pool2d_opts pool2 = {.kernel = 2};
  return ax_nn_sequential(7, ax_nn_conv2d(1, 8, 3, &pad1), ax_nn_relu(), ax_nn_max_pool2d(&pool2),
                          ax_nn_conv2d(8, 8, 3, &pad1), ax_nn_relu(), ax_nn_flatten(1, -1),
                          ax_nn_linear(8 * 14 * 14, 10, true));
}

/* 16 small parameters: one bucket each at a small bucket size */
static ax_module *deep_mlp(void) {
  ax_module *m = ax_nn_sequential(2, ax_nn_flatten(1, -1), ax_nn_linear(784, 32, true));
  for (int i = 0; i < 6; i++) {
    ax_nn_sequential_add(m, ax_nn_relu());
    ax_nn_sequential_add(m, ax_nn_linear(32, 32, true));
  }
  ax_nn_sequential_add(m, ax_nn_relu());
  ax_nn_sequential_add(m, ax_nn_linear(32, 10, true));
  return m;
}

typedef struct ddp_case {
  const char *name;
  ax_module *(*make)(void);
  bool train_mode; /* false: eval mode (dropout off, batch norm on running statistics) */
  const char *opt;
  ax_dtype dtype;
  int batch, steps;
  double tol;
} ddp_case;

static ax_optimizer *make_opt(const char *name, ax_module *m, ax_tensor **params, int np) {
  ax_module_parameters(m, params, np);
  if (!strcmp(name, "sgd")) return ax_sgd(params, np, &(ax_sgd_opts){.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-4});
  return ax_adamw(params, np, &(ax_adam_opts){.lr = 1e-3});
}

static ax_module *build(const ddp_case *c) {
  ax_manual_seed(1234);
  ax_module *m = c->make();
  ax_module_to_dtype(m, c->dtype);
  ax_module_train(m, c->train_mode);
  return m;
}

/* One training run: every rank trains on rows [lo, hi) of each global batch. */
static void run(const ddp_case *c, ax_module *m, ax_ddp *ddp, int lo, int hi, int accumulate) {
  int np = ax_module_parameters(m, NULL, 0);
  ax_tensor **params = calloc((size_t)np, sizeof *params);
  ax_optimizer *opt = make_opt(c->opt, m, params, np);
  for (int s = 0; s < c->steps; s++) {
    ax_scope_begin();
    ax_manual_seed(1000 + (uint64_t)s); /* the same global batch on every rank */
    ax_tensor *x = ax_cast(ax_randn(AX_SHAPE(c->batch * accumulate, 1, 28, 28), NULL), c->dtype);
    ax_tensor *y = ax_cast(ax_mul_scalar(ax_rand(AX_SHAPE(c->batch * accumulate), NULL), 9.999), AX_I64);
    if (ddp) ax_ddp_begin_step(ddp);
    for (int a = 0; a < accumulate; a++) { /* micro-batches of one step */
      if (ddp) ax_ddp_no_sync(ddp, a < accumulate - 1);
      int off = a * c->batch;
      ax_tensor *xs = ax_narrow(x, 0, off + lo, hi - lo), *ys = ax_narrow(y, 0, off + lo, hi - lo);
      ax_tensor *loss = ax_cross_entropy(ax_module_forward(m, xs), ys, NULL);
      ax_backward(ax_div_scalar(loss, accumulate), NULL);
      if (ddp) ax_ddp_finish(ddp);
    }
    ax_optimizer_step(opt);
    ax_optimizer_zero_grad(opt);
    ax_scope_end();
  }
  ax_optimizer_free(opt);
  free(params);
}

static double max_rel_diff(ax_module *a, ax_module *b) {
  int np = ax_module_parameters(a, NULL, 0);
  ax_tensor **pa = calloc((size_t)np, sizeof *pa), **pb = calloc((size_t)np, sizeof *pb);
  ax_module_parameters(a, pa, np);
  ax_module_parameters(b, pb, np);
  double worst = 0;
  ax_scope_begin();
  for (int i = 0; i < np; i++) {
    double diff = ax_item(ax_amax(ax_abs(ax_sub(pa[i], pb[i])), AX_ALL, false));
    double scale = ax_item(ax_amax(ax_abs(pb[i]), AX_ALL, false));
    worst = fmax(worst, diff / (scale + 1e-12));
  }
  ax_scope_end();
  free(pa);
  free(pb);
  return worst;
}

static void test_ddp_case(const ddp_case *c, int accumulate) {
  ax_module *ref = build(c), *dist = build(c);
  run(c, ref, NULL, 0, c->batch, accumulate); /* one process, batch B */
  int per = c->batch / world;
  ax_ddp *ddp = ax_ddp_new(dist, comm, &(ax_ddp_opts){.bucket_mb = 0.05});
  CHECK(ddp != NULL, "ax_ddp_new: %s", ax_last_error());
  run(c, dist, ddp, rank * per, (rank + 1) * per, accumulate);
  double d = max_rel_diff(dist, ref);
  CHECK(d <= c->tol, "%s %s %s (accumulate %d): parameters differ from one process by %.3g (tolerance %.1g)", c->name,
        c->opt, ax_dtype_name(c->dtype), accumulate, d, c->tol);
  if (rank == 0)
    printf("ddp %-8s %-5s %s accumulate %d: max relative difference %.2e over %d buckets\n", c->name, c->opt,
           ax_dtype_name(c->dtype), accumulate, d, ax_ddp_num_buckets(ddp));
  ax_ddp_free(ddp);
  ax_module_free(ref);
  ax_module_free(dist);
}

static void test_overlap(void) {
  ddp_case c = {"deep-mlp", deep_mlp, true, "sgd", AX_F32, 4 * world, 1, 0};
  ax_module *m = build(&c);
  ax_ddp *ddp = ax_ddp_new(m, comm, &(ax_ddp_opts){.bucket_mb = 0.001});
  CHECK(ax_ddp_num_buckets(ddp) >= 10, "expected >= 10 buckets, got %d", ax_ddp_num_buckets(ddp));
  run(&c, m, ddp, 0, 4, 1);
  ax_ddp_event ev[256];
  int n = ax_ddp_events(ddp, ev, 256), first_launch = -1, end = -1, launches = 0;
  for (int i = 0; i < n && i < 256; i++) {
    if (ev[i].kind == AX_DDP_EVENT_BUCKET_LAUNCH) {
      launches++;
      if (first_launch < 0) first_launch = ev[i].seq;
    }
    if (ev[i].kind == AX_DDP_EVENT_BACKWARD_END) end = ev[i].seq;
  }
  CHECK(launches == ax_ddp_num_buckets(ddp), "every bucket launched once (%d of %d)", launches, ax_ddp_num_buckets(ddp));
  CHECK(first_launch >= 0 && end >= 0 && first_launch < end,
        "overlap: the first bucket's reduction (event %d) must start before backward ends (event %d)", first_launch, end);
  ax_ddp_free(ddp);
  ax_module_free(m);
  /* the baseline without overlap launches nothing during backward */
  m = build(&c);
  ddp = ax_ddp_new(m, comm, &(ax_ddp_opts){.bucket_mb = 0.001, .no_overlap = true});
  run(&c, m, ddp, 0, 4, 1);
  n = ax_ddp_events(ddp, ev, 256);
  CHECK(n > 0 && ev[0].kind == AX_DDP_EVENT_BACKWARD_END, "no_overlap: nothing launched before backward ends");
  ax_ddp_free(ddp);
  ax_module_free(m);
}

static void test_ddp(void) {
  int B = 8 * world;
  ddp_case cases[] = {
      {"mlp", ax_model_mlp, false, "sgd", AX_F32, B, 20, 1e-5},
      /* Adam divides by sqrt(v): a gradient near 0 flips sign with the f32 summation order
       * (Release vs Debug vectorization), so f32 Adam gets 1e-4 and the exact check is in f64 */
      {"mlp", ax_model_mlp, false, "adamw", AX_F32, B, 20, 1e-4},
      {"mlp", ax_model_mlp, false, "adamw", AX_F64, B, 20, 1e-11},
      {"cnn-nobn", cnn_without_bn, true, "sgd", AX_F32, 2 * world, 20, 1e-5},
      {"cnn", ax_model_cnn, false, "sgd", AX_F32, 2 * world, 20, 1e-5},
      {"cnn", ax_model_cnn, false, "adamw", AX_F64, 2 * world, 20, 1e-10},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) test_ddp_case(&cases[i], 1);
  test_ddp_case(&cases[0], 2); /* gradient accumulation with no_sync */
  test_overlap();
}

/* ---- SyncBatchNorm ---- */

/* Rank r holds rows [off_r, off_r + r + 1) of a global batch of world (world + 1) / 2 rows:
 * uneven slices. Forward, gradients (of x, weight, bias) and running statistics must be
 * ax_batch_norm's on the whole batch. */
static void test_sync_bn_functional(ax_dtype dt, double tol) {
  ax_scope_begin();
  int64_t rows = (int64_t)world * (world + 1) / 2, off = (int64_t)rank * (rank + 1) / 2, mine = rank + 1;
  ax_manual_seed(77); /* the same global tensors on every rank */
  ax_tensor *x = ax_cast(ax_add_scalar(ax_mul_scalar(ax_randn(AX_SHAPE(rows, 3, 2, 5), NULL), 2.0), 1.0), dt);
  ax_tensor *up = ax_cast(ax_randn(AX_SHAPE(rows, 3, 2, 5), NULL), dt);
  ax_tensor *w0 = ax_cast(ax_rand(AX_SHAPE(3), NULL), dt), *b0 = ax_cast(ax_randn(AX_SHAPE(3), NULL), dt);
  ax_tensor *xs[2], *ws[2], *bs[2], *rm[2], *rv[2], *ys[2];
  for (int k = 0; k < 2; k++) {
    xs[k] = ax_clone(k ? ax_narrow(x, 0, off, mine) : x);
    ws[k] = ax_clone(w0);
    bs[k] = ax_clone(b0);
    ax_set_requires_grad(xs[k], true);
    ax_set_requires_grad(ws[k], true);
    ax_set_requires_grad(bs[k], true);
    rm[k] = ax_zeros(AX_SHAPE(3), &(ax_tensor_opts){.dtype = dt});
    rv[k] = ax_ones(AX_SHAPE(3), &(ax_tensor_opts){.dtype = dt});
    ys[k] = k ? ax_sync_batch_norm(comm, xs[k], rm[k], rv[k], ws[k], bs[k], 0.1, 1e-5)
              : ax_batch_norm(xs[k], rm[k], rv[k], ws[k], bs[k], true, 0.1, 1e-5);
    CHECK(ys[k] != NULL, "batch norm %d failed: %s", k, ax_last_error());
    ax_backward(ax_sum(ax_mul(ys[k], k ? ax_narrow(up, 0, off, mine) : up), AX_ALL, false), NULL);
  }
  /* the sum over ranks of the local gradients of weight and bias is the whole batch's */
  ax_all_reduce(comm, ws[1]->grad, AX_DIST_SUM);
  ax_all_reduce(comm, bs[1]->grad, AX_DIST_SUM);
  struct { const char *what; ax_tensor *got, *want; } cmp[] = {
      {"output", ys[1], ax_narrow(ys[0], 0, off, mine)},
      {"grad x", xs[1]->grad, ax_narrow(xs[0]->grad, 0, off, mine)},
      {"grad weight", ws[1]->grad, ws[0]->grad},
      {"grad bias", bs[1]->grad, bs[0]->grad},
      {"running_mean", rm[1], rm[0]},
      {"running_var", rv[1], rv[0]},
  };
  for (size_t i = 0; i < sizeof cmp / sizeof *cmp; i++) {
    double d = ax_item(ax_amax(ax_abs(ax_sub(cmp[i].got, cmp[i].want)), AX_ALL, false));
    double scale = ax_item(ax_amax(ax_abs(cmp[i].want), AX_ALL, false));
    CHECK(d <= tol * (scale + 1), "sync_batch_norm %s %s: differs from the whole batch by %.3g", ax_dtype_name(dt),
          cmp[i].what, d);
  }
  ax_scope_end();
}

static double max_buffer_diff(ax_module *a, ax_module *b) {
  const char *names[] = {"features.1.running_mean", "features.1.running_var", "features.5.running_mean",
                         "features.5.running_var", "features.5.num_batches_tracked"};
  double worst = 0;
  ax_scope_begin();
  for (int i = 0; i < 5; i++) {
    ax_tensor *ta = ax_cast(ax_module_tensor(a, names[i]), AX_F64), *tb = ax_cast(ax_module_tensor(b, names[i]), AX_F64);
    double diff = ax_item(ax_amax(ax_abs(ax_sub(ta, tb)), AX_ALL, false));
    worst = fmax(worst, diff / (ax_item(ax_amax(ax_abs(tb), AX_ALL, false)) + 1e-12));
  }
  ax_scope_end();
  return worst;
}

/* The zoo CNN (two BatchNorm2d) in training mode with its Dropout switched to eval mode
 * (dropout masks are per rank, so they could not match one big batch). */
static ax_module *build_cnn_train(const ddp_case *c, bool sync) {
  ax_module *m = build(c);
  ax_module_train(ax_module_child(m, "classifier.3"), false);
  if (sync) CHECK(ax_sync_batch_norm_convert(m, comm) == 2, "convert: %s", ax_last_error());
  return m;
}

static void test_sync_bn_cnn(const ddp_case *c, bool expect_equal) {
  ax_module *ref = build_cnn_train(c, false), *dist = build_cnn_train(c, expect_equal);
  run(c, ref, NULL, 0, c->batch, 1);
  int per = c->batch / world;
  ax_ddp *ddp = ax_ddp_new(dist, comm, &(ax_ddp_opts){.bucket_mb = 0.05});
  CHECK(ddp != NULL, "ax_ddp_new: %s", ax_last_error());
  run(c, dist, ddp, rank * per, (rank + 1) * per, 1);
  double dp = max_rel_diff(dist, ref), db = max_buffer_diff(dist, ref);
  if (expect_equal) {
    CHECK(dp <= c->tol && db <= c->tol, "syncbn cnn %s %s: parameters differ from one process by %.3g, running stats "
          "by %.3g (tolerance %.1g)", c->opt, ax_dtype_name(c->dtype), dp, db, c->tol);
  } else { /* per-rank batch norm: the check above would catch a SyncBatchNorm that did nothing */
    CHECK(dp > 100 * c->tol, "per-rank batch norm should differ from one process, got %.3g", dp);
  }
  if (rank == 0)
    printf("syncbn cnn %-5s %s %s: parameters %.2e, running stats %.2e from one process\n", c->opt,
           ax_dtype_name(c->dtype), expect_equal ? "SyncBatchNorm  " : "per-rank BN    ", dp, db);
  ax_ddp_free(ddp);
  ax_module_free(ref);
  ax_module_free(dist);
}

static void test_sync_bn(void) {
  test_sync_bn_functional(AX_F64, 1e-12);
  test_sync_bn_functional(AX_F32, 1e-5);
  ddp_case cases[] = {
      {"cnn", ax_model_cnn, true, "sgd", AX_F64, 2 * world, 10, 1e-10},
      {"cnn", ax_model_cnn, true, "sgd", AX_F32, 2 * world, 5, 1e-4},
      {"cnn", ax_model_cnn, true, "sgd", AX_F64, 2 * world, 3, 1e-10},
  };
  for (int i = 0; i < 2; i++) test_sync_bn_cnn(&cases[i], true);
  test_sync_bn_cnn(&cases[2], false); /* the control: per-rank batch norm */
}

/* ---- ZeRO-1 ---- */

/* 784 * 5 + 5 + 5 * 3 + 3 = 3943 parameters: divisible by neither 2 nor 4, a [3] bias */
static ax_module *odd_mlp(void) {
  return ax_nn_sequential(4, ax_nn_flatten(1, -1), ax_nn_linear(784, 5, true), ax_nn_relu(), ax_nn_linear(5, 3, true));
}

static ax_optimizer *make_named(const char *name, ax_tensor *const *params, int np) {
  if (!strcmp(name, "sgd")) return ax_sgd(params, np, &(ax_sgd_opts){.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-4});
  return ax_adamw(params, np, &(ax_adam_opts){.lr = 1e-3});
}

static ax_optimizer *zero_make(ax_tensor *const *shard, int n, void *ctx) { return make_named(ctx, shard, n); }

/* A model trained by DDP with either a plain optimizer or a ZeRO one. */
typedef struct zrun {
  ax_module *m;
  ax_ddp *ddp;
  ax_optimizer *opt;
  ax_zero *zero;
  ax_tensor **params;
  int np;
} zrun;

/* 1 when every rank holds bit-identical parameters */
static int params_agree(zrun *r) {
  uint64_t h = 0xcbf29ce484222325ull;
  ax_scope_begin();
  for (int i = 0; i < r->np; i++) {
    ax_tensor *t = ax_contiguous(r->params[i]);
    const unsigned char *b = ax_data_ptr(t);
    for (size_t k = 0; k < ax_nbytes(t); k++) h = (h ^ b[k]) * 0x100000001b3ull;
  }
  int64_t v[2] = {(int64_t)(h >> 1), -(int64_t)(h >> 1)};
  ax_tensor *t = ax_from_data(v, 1, (int64_t[]){2}, &(ax_tensor_opts){.dtype = AX_I64});
  ax_all_reduce(comm, t, AX_DIST_MAX);
  const int64_t *m = ax_data_ptr(t);
  int same = m[0] == -m[1];
  ax_scope_end();
  return same;
}

/* steps [s0, s1) of the case's data; rank r trains on its slice of every global batch */
static void zrun_steps(const ddp_case *c, zrun *r, int s0, int s1) {
  int per = c->batch / world;
  for (int s = s0; s < s1; s++) {
    ax_scope_begin();
    ax_manual_seed(1000 + (uint64_t)s);
    ax_tensor *x = ax_cast(ax_randn(AX_SHAPE(c->batch, 1, 28, 28), NULL), c->dtype);
    ax_tensor *y = ax_cast(ax_mul_scalar(ax_rand(AX_SHAPE(c->batch), NULL), 2.999), AX_I64);
    ax_ddp_begin_step(r->ddp);
    ax_tensor *xs = ax_narrow(x, 0, rank * per, per), *ys = ax_narrow(y, 0, rank * per, per);
    ax_backward(ax_cross_entropy(ax_module_forward(r->m, xs), ys, NULL), NULL);
    ax_ddp_finish(r->ddp);
    if (r->zero) {
      CHECK(ax_zero_step(r->zero) == 0, "ax_zero_step: %s", ax_last_error());
      ax_zero_zero_grad(r->zero);
    } else {
      ax_optimizer_step(r->opt);
      ax_optimizer_zero_grad(r->opt);
    }
    ax_scope_end();
    if (r->zero) CHECK(params_agree(r), "%s %s: the ranks' parameters differ after step %d", c->name, c->opt, s);
  }
}

static void zrun_init(const ddp_case *c, zrun *r, bool zero) {
  memset(r, 0, sizeof *r);
  r->m = build(c);
  r->ddp = ax_ddp_new(r->m, comm, &(ax_ddp_opts){.bucket_mb = 0.05});
  r->np = ax_module_parameters(r->m, NULL, 0);
  r->params = calloc((size_t)r->np, sizeof *r->params);
  ax_module_parameters(r->m, r->params, r->np);
  /* a small gather buffer: the all-gather runs in several rounds */
  if (zero) r->zero = ax_zero_new(r->params, r->np, comm, zero_make, (void *)c->opt, &(ax_zero_opts){.bucket_mb = 0.05});
  else r->opt = make_named(c->opt, r->params, r->np);
  CHECK(zero ? r->zero != NULL : r->opt != NULL, "optimizer: %s", ax_last_error());
}

static void zrun_free(zrun *r) {
  ax_zero_free(r->zero);
  ax_optimizer_free(r->opt);
  ax_ddp_free(r->ddp);
  ax_module_free(r->m);
  free(r->params);
}

/* largest |a - b| / (max |b| + tiny) over the entries of two state dicts with the same keys in the same order */
static double state_dict_diff(ax_state_dict *a, ax_state_dict *b) {
  if (ax_state_dict_size(a) != ax_state_dict_size(b)) return INFINITY;
  double worst = 0;
  ax_scope_begin();
  for (int i = 0; i < ax_state_dict_size(a); i++) {
    if (strcmp(ax_state_dict_name(a, i), ax_state_dict_name(b, i))) worst = INFINITY;
    ax_tensor *ta = ax_cast(ax_state_dict_tensor(a, i), AX_F64), *tb = ax_cast(ax_state_dict_tensor(b, i), AX_F64);
    if (!ax_same_shape(ta, tb)) {
      worst = INFINITY;
      continue;
    }
    double d = ax_item(ax_amax(ax_abs(ax_sub(ta, tb)), AX_ALL, false));
    worst = fmax(worst, d / (ax_item(ax_amax(ax_abs(tb), AX_ALL, false)) + 1e-30));
  }
  ax_scope_end();
  return worst;
}

static void test_zero_case(const ddp_case *c) {
  zrun ref, z;
  zrun_init(c, &ref, false);
  zrun_init(c, &z, true);
  if (!z.zero || !ref.opt) return;
  zrun_steps(c, &ref, 0, c->steps);
  zrun_steps(c, &z, 0, c->steps);
  double dp = max_rel_diff(z.m, ref.m);
  CHECK(dp <= c->tol, "zero %s %s %s: parameters differ from DDP + plain by %.3g (tolerance %.1g)", c->name, c->opt,
        ax_dtype_name(c->dtype), dp, c->tol);
  /* the gathered state dict is the plain optimizer's */
  ax_state_dict *sp = ax_state_dict_new(), *sz = ax_state_dict_new();
  ax_optimizer_state_dict(ref.opt, sp);
  CHECK(ax_zero_state_dict(z.zero, sz) == 0, "ax_zero_state_dict: %s", ax_last_error());
  double ds = state_dict_diff(sz, sp);
  CHECK(ds <= c->tol, "zero %s %s: the state dict differs from the plain one by %.3g (%d vs %d entries)", c->name,
        c->opt, ds, ax_state_dict_size(sz), ax_state_dict_size(sp));
  /* cross-load and continue: a fresh ZeRO from the plain dict, a fresh plain optimizer from the ZeRO dict */
  char err[256] = "";
  ax_zero_free(z.zero);
  z.zero = ax_zero_new(z.params, z.np, comm, zero_make, (void *)c->opt, NULL);
  CHECK(z.zero && ax_zero_load_state_dict(z.zero, sp, err, sizeof err) == 0, "zero load: %s", err);
  ax_optimizer_free(ref.opt);
  ref.opt = make_named(c->opt, ref.params, ref.np);
  CHECK(ax_optimizer_load_state_dict(ref.opt, sz, err, sizeof err) == 0, "plain load of the ZeRO dict: %s", err);
  ax_state_dict_free(sp);
  ax_state_dict_free(sz);
  zrun_steps(c, &ref, c->steps, c->steps + 5);
  zrun_steps(c, &z, c->steps, c->steps + 5);
  double dr = max_rel_diff(z.m, ref.m);
  CHECK(dr <= c->tol, "zero %s %s: after cross-loading the state dicts, parameters differ by %.3g", c->name, c->opt, dr);
  /* the reported per-rank state is what the inner optimizer holds (its 1-D piece states) */
  ax_state_dict *held_sd = ax_state_dict_new();
  ax_optimizer_state_dict(ax_zero_optimizer(z.zero), held_sd);
  int64_t held = 0;
  for (int e = 0; e < ax_state_dict_size(held_sd); e++)
    if (ax_state_dict_tensor(held_sd, e)->ndim > 0) held += (int64_t)ax_nbytes(ax_state_dict_tensor(held_sd, e));
  ax_state_dict_free(held_sd);
  CHECK(held == ax_zero_state_bytes(z.zero), "zero %s %s: holds %lld state bytes, reports %lld", c->name, c->opt,
        (long long)held, (long long)ax_zero_state_bytes(z.zero));
  int64_t lo, hi, total;
  ax_zero_shard(z.zero, &lo, &hi, &total);
  if (rank == 0)
    printf("zero %-7s %-5s %s: %lld parameters, rank 0 owns [%lld, %lld), state %lld of %lld bytes; vs DDP + plain "
           "%.2e, state dict %.2e, after reload %.2e\n",
           c->name, c->opt, ax_dtype_name(c->dtype), (long long)total, (long long)lo, (long long)hi,
           (long long)ax_zero_state_bytes(z.zero), (long long)ax_zero_full_state_bytes(z.zero), dp, ds, dr);
  zrun_free(&ref);
  zrun_free(&z);
}

/* fewer elements than ranks (some own nothing), and a parameter without a gradient */
static void test_zero_tiny(void) {
  ax_scope_begin();
  ax_manual_seed(5);
  ax_tensor *a[2] = {ax_randn(AX_SHAPE(3), NULL), ax_randn(AX_SHAPE(1), NULL)};
  ax_tensor *b[2] = {ax_clone(a[0]), ax_clone(a[1])};
  ax_zero *z = ax_zero_new(a, 2, comm, zero_make, "adamw", NULL);
  ax_optimizer *o = make_named("adamw", b, 2);
  CHECK(z != NULL, "ax_zero_new on 4 elements: %s", ax_last_error());
  for (int s = 0; z && s < 6; s++) {
    ax_tensor *g = ax_randn(AX_SHAPE(3), NULL), *g1 = ax_randn(AX_SHAPE(1), NULL); /* same on every rank */
    a[0]->grad = ax_persist(g);
    b[0]->grad = ax_persist(g);
    if (s % 2 == 0) { /* parameter 1 gets a gradient every other step */
      a[1]->grad = ax_persist(g1);
      b[1]->grad = ax_persist(g1);
    }
    CHECK(ax_zero_step(z) == 0, "tiny step: %s", ax_last_error());
    ax_optimizer_step(o);
    ax_zero_zero_grad(z);
    ax_optimizer_zero_grad(o);
  }
  for (int i = 0; z && i < 2; i++) {
    double d = ax_item(ax_amax(ax_abs(ax_sub(a[i], b[i])), AX_ALL, false));
    CHECK(d == 0, "tiny: parameter %d differs from the plain optimizer by %g", i, d);
  }
  ax_state_dict *sz = ax_state_dict_new(), *sp = ax_state_dict_new();
  if (z) ax_zero_state_dict(z, sz);
  ax_optimizer_state_dict(o, sp);
  CHECK(state_dict_diff(sz, sp) == 0, "tiny: the state dicts differ");
  ax_state_dict_free(sz);
  ax_state_dict_free(sp);
  ax_zero_free(z);
  ax_optimizer_free(o);
  ax_scope_end();
}

static void test_zero(void) {
  int B = 8 * world;
  ddp_case cases[] = {
      {"mlp", ax_model_mlp, false, "adamw", AX_F64, B, 20, 1e-12},
      {"mlp", ax_model_mlp, false, "sgd", AX_F32, B, 20, 1e-6},
      {"odd-mlp", odd_mlp, false, "adamw", AX_F32, B, 20, 1e-6},
      {"odd-mlp", odd_mlp, false, "sgd", AX_F64, B, 20, 1e-12},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) test_zero_case(&cases[i]);
  test_zero_tiny();
}

/* ---- failures ---- */

static void train_until(int bad_rank, int bad_step, bool hang) {
  ddp_case c = {"mlp", ax_model_mlp, false, "sgd", AX_F32, 4, 1, 0};
  ax_module *m = build(&c);
  ax_ddp *ddp = ax_ddp_new(m, comm, NULL);
  for (int s = 0; s < 1000; s++) {
    if (rank == bad_rank && s == bad_step) {
      if (!hang) {
        fprintf(stderr, "rank %d: exiting early on purpose (status 3)\n", rank);
        exit(3);
      }
      fprintf(stderr, "rank %d: stops calling collectives on purpose\n", rank);
      sleep(120);
    }
    run(&c, m, ddp, 0, 4, 1);
  }
  fprintf(stderr, "rank %d: finished training although a peer died\n", rank);
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "collectives";
  comm = ax_comm_world();
  rank = ax_comm_rank(comm);
  world = ax_comm_size(comm);
  if (rank == 0) printf("%s: %d ranks, backend %s\n", mode, world, ax_comm_backend_name(comm));
  if (!strcmp(mode, "collectives")) test_collectives();
  else if (!strcmp(mode, "ddp")) test_ddp();
  else if (!strcmp(mode, "syncbn")) test_sync_bn();
  else if (!strcmp(mode, "zero")) test_zero();
  else if (!strcmp(mode, "exit")) train_until(1, 3, false);
  else if (!strcmp(mode, "hang")) train_until(1, 3, true);
  else {
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
  }
  /* every rank reports; the job fails if any rank failed */
  int64_t v = failures;
  ax_scope_begin();
  ax_tensor *t = ax_from_data(&v, 0, NULL, &(ax_tensor_opts){.dtype = AX_I64});
  ax_all_reduce(comm, t, AX_DIST_SUM);
  int total = (int)ax_item(t);
  ax_scope_end();
  if (rank == 0) printf("%s: %s (%d failed checks over %d ranks)\n", mode, total ? "FAILED" : "passed", total, world);
  return total ? 1 : 0;
}
