/* SPDX-License-Identifier: BSD-3-Clause */
/* dist/ in one process (world size 1): collectives, the sampler's sharding,
 * DDP's buckets and its identity with plain training. The multi-rank tests run
 * under mpirun: tests/dist_mpi/test_dist_mpi.c. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

TestSuite(dist, .init = tu_capture_errors);

Test(dist, world_of_one_without_a_launcher) {
  ax_comm *c = ax_comm_world();
  cr_assert_eq(ax_comm_size(c), 1);
  cr_assert_eq(ax_comm_rank(c), 0);
  cr_assert_eq(ax_comm_local_rank(c), 0);
  cr_assert_str_eq(ax_comm_backend_name(c), "single");
  cr_assert(ax_comm_timeout(c) > 0);
  cr_assert_eq(ax_comm_world(), c);
}

Test(dist, collectives_of_one_rank) {
  ax_comm *c = ax_comm_world();
  ax_scope_begin();
  float f[7] = {1, 2, 3, 4, 5, 6, 7};
  double v[7] = {1, 2, 3, 4, 5, 6, 7};
  ax_tensor *t = ax_from_data(f, AX_SHAPE(7), NULL);
  for (int op = 0; op < 4; op++) {
    cr_assert_eq(ax_all_reduce(c, t, op), 0);
    cr_assert(tu_allclose_data(t, v, 7, 0, 0));
  }
  cr_assert_eq(ax_broadcast(c, t, 0), 0);
  ax_tensor *out = ax_zeros(AX_SHAPE(7), NULL);
  cr_assert_eq(ax_all_gather(c, out, t), 0);
  cr_assert(tu_allclose_data(out, v, 7, 0, 0));
  ax_tensor *out2 = ax_zeros(AX_SHAPE(7), NULL);
  cr_assert_eq(ax_reduce_scatter(c, out2, t, AX_DIST_SUM), 0);
  cr_assert(tu_allclose_data(out2, v, 7, 0, 0));
  cr_assert_eq(ax_barrier(c), 0);
  ax_comm_work *w = ax_all_reduce_start(c, t, AX_DIST_AVG);
  cr_assert_not_null(w);
  cr_assert_eq(ax_comm_work_test(w), 1);
  cr_assert_eq(ax_comm_work_wait(w), 0);
  cr_assert_float_eq(ax_comm_mean(c, 2.5), 2.5, 0);
  ax_scope_end();
}

Test(dist, collective_errors_name_the_op_and_shapes) {
  ax_comm *c = ax_comm_world();
  ax_scope_begin();
  ax_tensor *t = ax_transpose(ax_zeros(AX_SHAPE(2, 3), NULL), 0, 1);
  cr_assert_eq(ax_all_reduce(c, t, AX_DIST_SUM), -1);
  cr_assert(tu_error_contains("ax_all_reduce", "contiguous", "[3, 2]", NULL));
  cr_assert_eq(ax_all_gather(c, ax_zeros(AX_SHAPE(5), NULL), ax_zeros(AX_SHAPE(2, 2), NULL)), -1);
  cr_assert(tu_error_contains("ax_all_gather", "[5]", "[2, 2]", NULL));
  cr_assert_eq(ax_reduce_scatter(c, ax_zeros(AX_SHAPE(3), NULL), ax_zeros(AX_SHAPE(3), &(ax_tensor_opts){.dtype = AX_F64}),
                                 AX_DIST_SUM),
               -1);
  cr_assert(tu_error_contains("ax_reduce_scatter", "f64", NULL));
  cr_assert_eq(ax_broadcast(c, ax_zeros(AX_SHAPE(3), NULL), 1), -1);
  cr_assert(tu_error_contains("ax_broadcast", "root 1", NULL));
  cr_assert_eq(ax_all_reduce(c, NULL, AX_DIST_SUM), -1);
  ax_scope_end();
}

/* Rank r's k-th batch is its slice of the single-process k-th batch; the union is the epoch. */
static void check_sampler(int64_t n, int64_t batch, int world, bool shuffle) {
  ax_dist_sampler_opts o = {.n = n, .seed = 7, .shuffle = shuffle, .global_batch = batch, .rank = 0, .world = 1};
  int64_t *epoch = malloc((size_t)n * sizeof *epoch), *mine = malloc((size_t)n * sizeof *mine);
  cr_assert_eq(ax_dist_sampler_indices(&o, 3, epoch), n);
  int64_t per = batch / world, full = n / batch, tail = n % batch, seen = 0;
  o.world = world;
  for (int r = 0; r < world; r++) {
    o.rank = r;
    int64_t got = ax_dist_sampler_indices(&o, 3, mine);
    int64_t lo = tail >= world ? r * tail / world : 0, hi = tail >= world ? (r + 1) * tail / world : 0;
    cr_assert_eq(got, full * per + hi - lo, "rank %d of %d: %lld samples", r, world, (long long)got);
    for (int64_t k = 0; k < full; k++)
      cr_assert_arr_eq(mine + k * per, epoch + k * batch + r * per, (size_t)per * sizeof *mine);
    cr_assert_arr_eq(mine + full * per, epoch + full * batch + lo, (size_t)(hi - lo) * sizeof *mine);
    seen += got;
  }
  cr_assert_eq(seen, tail >= world ? n : n - tail, "the union of the ranks is the epoch");
  free(epoch);
  free(mine);
}

Test(dist, sampler_shards_every_global_batch) {
  check_sampler(103, 8, 4, true); /* a final batch of 7 split 1/2/2/2 */
  check_sampler(96, 8, 2, true);
  check_sampler(50, 12, 4, false);
  check_sampler(10, 8, 4, true); /* a final batch of 2 < 4 ranks is dropped */
  ax_dist_sampler_opts o = {.n = 10, .global_batch = 6, .rank = 0, .world = 4};
  cr_assert_eq(ax_dist_sampler_indices(&o, 0, NULL), -1);
  cr_assert(tu_error_contains("ax_dist_sampler_indices", "divisible", NULL));
}

Test(dist, sampler_matches_the_loaders_shuffle) {
  ax_scope_begin();
  int64_t n = 40;
  uint8_t img[40 * 4];
  int64_t lab[40];
  for (int i = 0; i < 40; i++) {
    lab[i] = i;
    for (int j = 0; j < 4; j++) img[i * 4 + j] = (uint8_t)i;
  }
  char err[256];
  ax_dataset *ds = ax_dataset_new(ax_from_data(img, AX_SHAPE(40, 1, 2, 2), &(ax_tensor_opts){.dtype = AX_U8}),
                                  ax_from_data(lab, AX_SHAPE(40), &(ax_tensor_opts){.dtype = AX_I64}), err, sizeof err);
  cr_assert_not_null(ds, "%s", err);
  ax_loader *ld = ax_loader_new(ds, &(ax_loader_opts){.batch_size = 40, .shuffle = true, .seed = 11}, err, sizeof err);
  ax_loader_start_epoch(ld, 2);
  ax_tensor *x, *y;
  cr_assert_eq(ax_loader_next(ld, &x, &y), 1);
  int64_t order[40];
  ax_dist_sampler_opts o = {.n = n, .seed = 11, .shuffle = true, .global_batch = 40, .rank = 0, .world = 1};
  cr_assert_eq(ax_dist_sampler_indices(&o, 2, order), 40);
  cr_assert_arr_eq(ax_data_ptr(y), order, sizeof order);
  ax_loader_free(ld);
  ax_dataset_free(ds);
  ax_scope_end();
}

static ax_module *small_mlp(void) {
  ax_manual_seed(5);
  return ax_nn_sequential(3, ax_nn_linear(6, 16, true), ax_nn_tanh(), ax_nn_linear(16, 3, true));
}

static void train(ax_module *m, ax_ddp *ddp, int steps) {
  ax_tensor *params[8];
  int np = ax_module_parameters(m, params, 8);
  ax_optimizer *opt = ax_adamw(params, np, &(ax_adam_opts){.lr = 1e-2});
  for (int s = 0; s < steps; s++) {
    ax_scope_begin();
    ax_manual_seed(100 + (uint64_t)s);
    ax_tensor *x = ax_randn(AX_SHAPE(8, 6), NULL), *y = ax_randn(AX_SHAPE(8, 3), NULL);
    ax_ddp_begin_step(ddp);
    ax_backward(ax_mse_loss(ax_module_forward(m, x), y, AX_REDUCTION_MEAN), NULL);
    if (ddp) cr_assert_eq(ax_ddp_finish(ddp), 0);
    ax_optimizer_step(opt);
    ax_optimizer_zero_grad(opt);
    ax_scope_end();
  }
  ax_optimizer_free(opt);
}

Test(dist, ddp_of_one_rank_is_plain_training) {
  ax_module *a = small_mlp(), *b = small_mlp();
  ax_ddp *ddp = ax_ddp_new(b, ax_comm_world(), &(ax_ddp_opts){.bucket_mb = 0.0003}); /* 314 bytes */
  cr_assert_not_null(ddp);
  train(a, NULL, 6);
  train(b, ddp, 6);
  ax_tensor *pa[4], *pb[4];
  ax_module_parameters(a, pa, 4);
  ax_module_parameters(b, pb, 4);
  for (int i = 0; i < 4; i++) cr_assert_arr_eq(ax_data_ptr(pa[i]), ax_data_ptr(pb[i]), ax_nbytes(pa[i]));
  /* buckets in reverse registration order, each under the cap unless a parameter alone exceeds it */
  int n = ax_ddp_num_buckets(ddp), idx[4], seen = 0, last = 4;
  cr_assert_eq(n, 2, "12 + 192 + 64 bytes, then the 384-byte weight alone; got %d buckets", n);
  for (int bk = 0; bk < n; bk++) {
    int k = ax_ddp_bucket_params(ddp, bk, idx, 4);
    for (int j = 0; j < k; j++) {
      cr_assert_lt(idx[j], last);
      last = idx[j];
      seen++;
    }
  }
  cr_assert_eq(seen, 4);
  ax_ddp_event ev[32];
  int ne = ax_ddp_events(ddp, ev, 32);
  cr_assert_geq(ne, 2 * n + 2);
  cr_assert_eq(ev[ne - 1].kind, AX_DDP_EVENT_FINISH_END);
  ax_ddp_free(ddp);
  ax_module_free(a);
  ax_module_free(b);
}

Test(dist, ddp_no_sync_accumulates_locally) {
  ax_module *m = small_mlp();
  ax_ddp *ddp = ax_ddp_new(m, ax_comm_world(), NULL);
  cr_assert_eq(ax_ddp_num_buckets(ddp), 1);
  ax_scope_begin();
  ax_tensor *x = ax_randn(AX_SHAPE(4, 6), NULL);
  ax_ddp_no_sync(ddp, true);
  ax_backward(ax_sum(ax_module_forward(m, x), AX_ALL, false), NULL);
  cr_assert_eq(ax_ddp_finish(ddp), 0);
  ax_ddp_event ev[8];
  cr_assert_eq(ax_ddp_events(ddp, ev, 8), 1, "no bucket launched under no_sync");
  ax_tensor *p[4];
  ax_module_parameters(m, p, 4);
  ax_tensor *g1 = ax_clone(p[0]->grad);
  ax_ddp_no_sync(ddp, false);
  ax_backward(ax_sum(ax_module_forward(m, x), AX_ALL, false), NULL);
  cr_assert_eq(ax_ddp_finish(ddp), 0);
  cr_assert(tu_allclose(p[0]->grad, ax_mul_scalar(g1, 2), 1e-6, 1e-6));
  ax_scope_end();
  ax_ddp_free(ddp);
  ax_module_free(m);
}

/* ---- SyncBatchNorm with one rank: ax_batch_norm up to rounding ---- */

/* y, gx, gw, gb and the running statistics of ax_sync_batch_norm vs ax_batch_norm on the same input */
static void sync_bn_matches_batch_norm(ax_dtype dt, int ndim, const int64_t *shape, bool transposed, double tol) {
  ax_comm *c = ax_comm_world();
  ax_scope_begin();
  int64_t ch = shape[1];
  ax_tensor *base = ax_add_scalar(ax_mul_scalar(tu_randn(dt, ndim, shape), 3.0), 2.0); /* mean 2, std 3 */
  if (transposed) base = ax_transpose(ax_contiguous(ax_transpose(base, 0, ndim - 1)), 0, ndim - 1);
  ax_tensor *upstream = tu_randn(dt, ndim, shape);
  ax_tensor *w = tu_uniform(dt, AX_SHAPE(ch), 0.5, 1.5), *b = tu_uniform(dt, AX_SHAPE(ch), -1, 1);
  ax_tensor *xs[2], *ws[2], *bs[2], *rms[2], *rvs[2], *ys[2];
  for (int k = 0; k < 2; k++) {
    xs[k] = tu_leaf(base); /* keeps the strides: non-contiguous when transposed */
    ws[k] = tu_leaf(w);
    bs[k] = tu_leaf(b);
    rms[k] = ax_zeros(AX_SHAPE(ch), &(ax_tensor_opts){.dtype = dt});
    rvs[k] = ax_ones(AX_SHAPE(ch), &(ax_tensor_opts){.dtype = dt});
    ys[k] = k ? ax_sync_batch_norm(c, xs[k], rms[k], rvs[k], ws[k], bs[k], 0.1, 1e-5)
              : ax_batch_norm(xs[k], rms[k], rvs[k], ws[k], bs[k], true, 0.1, 1e-5);
    cr_assert_not_null(ys[k], "%s", ax_last_error());
    ax_backward(ax_sum(ax_mul(ys[k], upstream), AX_ALL, false), NULL);
  }
  cr_assert(tu_allclose(ys[1], ys[0], tol, tol), "output");
  cr_assert(tu_allclose(xs[1]->grad, xs[0]->grad, tol, tol), "grad of x");
  cr_assert(tu_allclose(ws[1]->grad, ws[0]->grad, tol, tol), "grad of weight");
  cr_assert(tu_allclose(bs[1]->grad, bs[0]->grad, tol, tol), "grad of bias");
  cr_assert(tu_allclose(rms[1], rms[0], tol, tol), "running_mean");
  cr_assert(tu_allclose(rvs[1], rvs[0], tol, tol), "running_var");
  ax_scope_end();
}

Test(dist, sync_batch_norm_of_one_rank_is_batch_norm) {
  ax_manual_seed(5);
  for (int dt = 0; dt < 2; dt++) {
    ax_dtype d = dt ? AX_F64 : AX_F32;
    double tol = dt ? 1e-12 : 1e-6;
    sync_bn_matches_batch_norm(d, AX_SHAPE(6, 3), false, tol);
    sync_bn_matches_batch_norm(d, AX_SHAPE(2, 4, 5), true, tol);
    sync_bn_matches_batch_norm(d, AX_SHAPE(3, 5, 4, 6), false, tol);
    sync_bn_matches_batch_norm(d, AX_SHAPE(2, 3, 3, 5), true, tol);
  }
  sync_bn_matches_batch_norm(AX_BF16, AX_SHAPE(4, 3, 2, 5), true, 5e-2); /* 8-bit mantissa: rounding only */
}

static ax_tensor *sync_bn_fn(ax_tensor **in, void *ctx) {
  return ax_sync_batch_norm(ax_comm_world(), in[0], NULL, NULL, in[1], in[2], 0.1, 1e-5);
}

static ax_tensor *sync_bn_plain_fn(ax_tensor **in, void *ctx) {
  return ax_sync_batch_norm(ax_comm_world(), in[0], NULL, NULL, NULL, NULL, 0.1, 1e-5);
}

Test(dist, sync_batch_norm_gradcheck) {
  ax_manual_seed(6);
  ax_scope_begin();
  const int64_t shapes[][4] = {{4, 3}, {2, 3, 2, 3}};
  const int ndims[] = {2, 4};
  for (int s = 0; s < 2; s++) {
    ax_tensor *in[3] = {tu_leaf(tu_randn(AX_F64, ndims[s], shapes[s])),
                        tu_leaf(tu_uniform(AX_F64, AX_SHAPE(3), 0.5, 1.5)), tu_leaf(tu_randn(AX_F64, AX_SHAPE(3)))};
    cr_assert(TU_GRADCHECK(sync_bn_fn, in, 3, NULL), "shape %d", s);
  }
  /* non-contiguous input, no affine parameters */
  ax_tensor *in[1] = {tu_leaf(ax_transpose(tu_randn(AX_F64, AX_SHAPE(3, 4)), 0, 1))};
  cr_assert(TU_GRADCHECK(sync_bn_plain_fn, in, 1, NULL));
  ax_scope_end();
}

Test(dist, sync_batch_norm_convert_keeps_the_tensors) {
  ax_comm *c = ax_comm_world();
  ax_manual_seed(7);
  ax_module *ref = ax_model_cnn();
  ax_manual_seed(7);
  ax_module *m = ax_model_cnn();
  ax_tensor *w_before = ax_module_tensor(m, "features.1.weight");
  ax_tensor *rm_before = ax_module_tensor(m, "features.5.running_mean");
  ax_state_dict *sd0 = ax_state_dict_new();
  ax_module_state_dict(m, sd0);
  int n0 = ax_state_dict_size(sd0);
  ax_module_train(m, false); /* the mode must survive the conversion */
  cr_assert_eq(ax_sync_batch_norm_convert(m, c), 2, "%s", ax_last_error());
  cr_assert(ax_is_sync_batch_norm(ax_module_child(m, "features.1")));
  cr_assert(ax_is_sync_batch_norm(ax_module_child(m, "features.5")));
  cr_assert(!ax_module_is_training(ax_module_child(m, "features.5")));
  cr_assert_eq(ax_module_tensor(m, "features.1.weight"), w_before);
  cr_assert_eq(ax_module_tensor(m, "features.5.running_mean"), rm_before);
  ax_state_dict *sd1 = ax_state_dict_new();
  ax_module_state_dict(m, sd1);
  cr_assert_eq(ax_state_dict_size(sd1), n0);
  for (int i = 0; i < n0; i++) cr_assert_str_eq(ax_state_dict_name(sd1, i), ax_state_dict_name(sd0, i));
  ax_state_dict_free(sd0);
  ax_state_dict_free(sd1);
  char buf[4096];
  ax_module_repr(m, buf, sizeof buf);
  cr_assert(strstr(buf, "(1): SyncBatchNorm(32, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"),
            "%s", buf);
  cr_assert_eq(ax_sync_batch_norm_convert(m, c), 0); /* nothing left to convert */

  /* two training steps (dropout off) and an eval pass: the same as the unconverted model */
  ax_module_train(m, true);
  ax_module_train(ref, true);
  ax_module_train(ax_module_child(m, "classifier.3"), false);
  ax_module_train(ax_module_child(ref, "classifier.3"), false);
  for (int step = 0; step < 2; step++) {
    ax_scope_begin();
    ax_manual_seed(100 + (uint64_t)step);
    ax_tensor *x = ax_randn(AX_SHAPE(4, 1, 28, 28), NULL);
    ax_tensor *ya = ax_module_forward(ref, x), *yb = ax_module_forward(m, x);
    cr_assert(tu_allclose(yb, ya, 1e-5, 1e-5), "step %d output", step);
    ax_backward(ax_sum(ax_square(ya), AX_ALL, false), NULL);
    ax_backward(ax_sum(ax_square(yb), AX_ALL, false), NULL);
    cr_assert(tu_allclose(ax_module_tensor(m, "features.0.weight")->grad,
                          ax_module_tensor(ref, "features.0.weight")->grad, 1e-5, 1e-4));
    cr_assert(tu_allclose(ax_module_tensor(m, "features.5.weight")->grad,
                          ax_module_tensor(ref, "features.5.weight")->grad, 1e-5, 1e-4));
    ax_scope_end();
  }
  const char *bufs[] = {"features.1.running_mean", "features.5.running_var", "features.5.num_batches_tracked"};
  ax_scope_begin();
  for (int i = 0; i < 3; i++)
    cr_assert(tu_allclose(ax_module_tensor(m, bufs[i]), ax_module_tensor(ref, bufs[i]), 1e-6, 1e-6), "%s", bufs[i]);
  cr_assert_float_eq(ax_item(ax_module_tensor(m, "features.1.num_batches_tracked")), 2.0, 0);
  ax_module_train(m, false);
  ax_module_train(ref, false);
  ax_tensor *x = ax_randn(AX_SHAPE(3, 1, 28, 28), NULL);
  cr_assert(tu_allclose(ax_module_forward(m, x), ax_module_forward(ref, x), 1e-6, 1e-6), "eval");
  ax_scope_end();
  ax_module_free(m);
  ax_module_free(ref);
}

Test(dist, sync_batch_norm_errors) {
  ax_comm *c = ax_comm_world();
  ax_scope_begin();
  cr_assert_null(ax_sync_batch_norm(c, ax_zeros(AX_SHAPE(4), NULL), NULL, NULL, NULL, NULL, 0.1, 1e-5));
  cr_assert(tu_error_contains("ax_sync_batch_norm", "[4]", NULL));
  cr_assert_null(ax_sync_batch_norm(c, ax_zeros(AX_SHAPE(4, 3), NULL), NULL, NULL, ax_ones(AX_SHAPE(5), NULL), NULL,
                                    0.1, 1e-5));
  cr_assert(tu_error_contains("ax_sync_batch_norm", "weight", "[5]", "[4, 3]", NULL));
  cr_assert_null(ax_sync_batch_norm(c, ax_zeros(AX_SHAPE(1, 3), NULL), NULL, NULL, NULL, NULL, 0.1, 1e-5));
  cr_assert(tu_error_contains("ax_sync_batch_norm", "per channel", "[1, 3]", NULL));
  cr_assert_null(ax_sync_batch_norm(c, ax_zeros(AX_SHAPE(4, 3), &(ax_tensor_opts){.dtype = AX_I64}), NULL, NULL, NULL,
                                    NULL, 0.1, 1e-5));
  cr_assert(tu_error_contains("ax_sync_batch_norm", "i64", NULL));
  cr_assert_null(ax_sync_batch_norm(c, NULL, NULL, NULL, NULL, NULL, 0.1, 1e-5));
  ax_scope_end();
  ax_module *bn = ax_nn_batch_norm2d(4, NULL);
  cr_assert_eq(ax_sync_batch_norm_convert(bn, c), -1);
  cr_assert(tu_error_contains("ax_sync_batch_norm_convert", "BatchNorm2d", NULL));
  ax_module_free(bn);
  /* a SyncBatchNorm from BatchNorm2d still wants a 4-D input */
  ax_module *seq = ax_nn_sequential(1, ax_nn_batch_norm2d(4, NULL));
  cr_assert_eq(ax_sync_batch_norm_convert(seq, c), 1);
  ax_scope_begin();
  cr_assert_null(ax_module_forward(seq, ax_zeros(AX_SHAPE(2, 4), NULL)));
  cr_assert(tu_error_contains("SyncBatchNorm", "4-D", "[2, 4]", NULL));
  ax_scope_end();
  ax_module_free(seq);
}
