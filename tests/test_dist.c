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
