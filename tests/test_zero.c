/* SPDX-License-Identifier: BSD-3-Clause */
/* ZeRO-1 (ax_zero) in a world of one: the rank owns everything, so every step must
 * be bit-identical to the plain optimizer's, and the state dict must be the plain
 * one. The sharding itself (W = 2, 4) runs under mpirun: tests/dist_mpi/test_dist_mpi.c zero. */
#include <criterion/criterion.h>
#include <string.h>

#include "testutil.h"

TestSuite(zero, .init = tu_capture_errors);

enum { SGD, ADAM, ADAMW, RMSPROP, KINDS };
static const char *kind_names[] = {"sgd", "adam", "adamw", "rmsprop"};

typedef struct kind_ctx {
  int kind;
  double lr;
} kind_ctx;

/* every option that adds a state or a term to the update */
static ax_optimizer *make_kind(ax_tensor *const *params, int n, void *ctx) {
  kind_ctx *k = ctx;
  switch (k->kind) {
  case SGD:
    return ax_sgd(params, n, &(ax_sgd_opts){.lr = k->lr, .momentum = 0.9, .nesterov = true, .weight_decay = 1e-2, .l1 = 1e-3});
  case ADAM: return ax_adam(params, n, &(ax_adam_opts){.lr = k->lr, .weight_decay = 1e-2});
  case ADAMW: return ax_adamw(params, n, &(ax_adam_opts){.lr = k->lr, .beta2 = 0.95});
  default:
    return ax_rmsprop(params, n, &(ax_rmsprop_opts){.lr = k->lr, .momentum = 0.5, .centered = true, .weight_decay = 1e-3});
  }
}

#define NP 4
static const int64_t shapes[NP][3] = {{4, 3, 0}, {5, 0, 0}, {1, 0, 0}, {2, 2, 2}};
static const int ndims[NP] = {2, 1, 1, 3};

/* Two identical parameter lists (persistent, freed by free_params). */
static void make_params(ax_dtype dt, ax_tensor **a, ax_tensor **b) {
  ax_manual_seed(42);
  for (int i = 0; i < NP; i++) {
    ax_scope_begin();
    ax_tensor *t = ax_cast(ax_randn(ndims[i], shapes[i], NULL), dt);
    a[i] = ax_persist(t);
    b[i] = ax_persist(ax_clone(t));
    ax_scope_end();
  }
}

static void free_params(ax_tensor **a, ax_tensor **b) {
  for (int i = 0; i < NP; i++) {
    ax_zero_grad(a[i]);
    ax_zero_grad(b[i]);
    ax_free(a[i]);
    ax_free(b[i]);
  }
}

/* Steps [s0, s1): the same gradients to both lists; parameter 2 gets one every other step only. */
static void steps(ax_zero *z, ax_optimizer *o, ax_tensor **a, ax_tensor **b, int s0, int s1) {
  for (int s = s0; s < s1; s++) {
    ax_scope_begin();
    ax_manual_seed(100 + (uint64_t)s);
    for (int i = 0; i < NP; i++) {
      if (i == 2 && s % 2) continue;
      ax_tensor *g = ax_cast(ax_randn(ndims[i], shapes[i], NULL), a[i]->dtype);
      a[i]->grad = ax_persist(g);
      b[i]->grad = ax_persist(g);
    }
    cr_assert_eq(ax_zero_step(z), 0, "%s", ax_last_error());
    cr_assert_eq(ax_optimizer_step(o), 0, "%s", ax_last_error());
    ax_zero_zero_grad(z);
    ax_optimizer_zero_grad(o);
    ax_scope_end();
  }
}

static void assert_same_bits(ax_tensor **a, ax_tensor **b, const char *what) {
  for (int i = 0; i < NP; i++)
    cr_assert(memcmp(ax_data_ptr(a[i]), ax_data_ptr(b[i]), ax_nbytes(a[i])) == 0, "%s: parameter %d differs", what, i);
}

/* Same keys in the same order, bit-identical values (compared as f64: every state dtype converts exactly). */
static void assert_same_dict(ax_state_dict *x, ax_state_dict *y) {
  cr_assert_eq(ax_state_dict_size(x), ax_state_dict_size(y));
  ax_scope_begin();
  for (int e = 0; e < ax_state_dict_size(x); e++) {
    cr_assert_str_eq(ax_state_dict_name(x, e), ax_state_dict_name(y, e));
    ax_tensor *tx = ax_state_dict_tensor(x, e), *ty = ax_state_dict_tensor(y, e);
    cr_assert(ax_same_shape(tx, ty), "%s", ax_state_dict_name(x, e));
    cr_assert_eq(tx->dtype, ty->dtype, "%s", ax_state_dict_name(x, e));
    cr_assert(tu_allclose(ax_cast(tx, AX_F64), ax_cast(ty, AX_F64), 0, 0), "%s", ax_state_dict_name(x, e));
  }
  ax_scope_end();
}

Test(zero, every_optimizer_is_bit_identical_in_a_world_of_one) {
  const ax_dtype dts[] = {AX_F32, AX_F64, AX_BF16};
  for (int d = 0; d < 3; d++)
    for (int k = 0; k < KINDS; k++) {
      ax_tensor *a[NP], *b[NP];
      make_params(dts[d], a, b);
      kind_ctx ctx = {k, 1e-2};
      ax_zero *z = ax_zero_new(a, NP, ax_comm_world(), make_kind, &ctx, NULL);
      cr_assert_not_null(z, "%s", ax_last_error());
      ax_optimizer *o = make_kind(b, NP, &ctx);
      steps(z, o, a, b, 0, 5);
      char what[64];
      snprintf(what, sizeof what, "%s %s", kind_names[k], ax_dtype_name(dts[d]));
      assert_same_bits(a, b, what);
      cr_assert_eq(ax_optimizer_step_count(ax_zero_optimizer(z)), 5);
      cr_assert_str_eq(ax_optimizer_name(ax_zero_optimizer(z)), kind_names[k]);
      ax_zero_free(z);
      ax_optimizer_free(o);
      free_params(a, b);
    }
}

Test(zero, state_dict_is_the_plain_one_and_round_trips) {
  for (int k = 0; k < KINDS; k++) {
    ax_tensor *a[NP], *b[NP];
    make_params(AX_F64, a, b);
    kind_ctx ctx = {k, 1e-2};
    ax_zero *z = ax_zero_new(a, NP, ax_comm_world(), make_kind, &ctx, NULL);
    ax_optimizer *o = make_kind(b, NP, &ctx);
    steps(z, o, a, b, 0, 3);
    ax_state_dict *sz = ax_state_dict_new(), *so = ax_state_dict_new();
    cr_assert_eq(ax_zero_state_dict(z, sz), 0);
    ax_optimizer_state_dict(o, so);
    assert_same_dict(sz, so);
    /* parameter 2 took 2 of 3 steps: its own count, as in PyTorch */
    cr_assert_eq(ax_item(ax_state_dict_get(sz, "state.2.step")), 2);
    cr_assert_eq(ax_item(ax_state_dict_get(sz, "step")), 3);
    /* cross-load into fresh optimizers (different learning rates: "lr" comes from the dict), continue */
    kind_ctx other = {k, 0.5};
    ax_zero *z2 = ax_zero_new(a, NP, ax_comm_world(), make_kind, &other, NULL);
    ax_optimizer *o2 = make_kind(b, NP, &other);
    char err[256] = "";
    cr_assert_eq(ax_zero_load_state_dict(z2, so, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ax_optimizer_load_state_dict(o2, sz, err, sizeof err), 0, "%s", err);
    cr_assert_float_eq(ax_optimizer_get_lr(ax_zero_optimizer(z2)), 1e-2, 0);
    ax_state_dict_free(sz);
    ax_state_dict_free(so);
    ax_zero_free(z);
    ax_optimizer_free(o);
    steps(z2, o2, a, b, 3, 6);
    assert_same_bits(a, b, kind_names[k]);
    /* and the reloaded ZeRO writes the same dict again */
    sz = ax_state_dict_new();
    so = ax_state_dict_new();
    ax_zero_state_dict(z2, sz);
    ax_optimizer_state_dict(o2, so);
    assert_same_dict(sz, so);
    ax_state_dict_free(sz);
    ax_state_dict_free(so);
    ax_zero_free(z2);
    ax_optimizer_free(o2);
    free_params(a, b);
  }
}

Test(zero, state_bytes_and_shard) {
  ax_tensor *a[NP], *b[NP];
  make_params(AX_F32, a, b);
  kind_ctx adamw = {ADAMW, 1e-3};
  ax_zero *z = ax_zero_new(a, NP, ax_comm_world(), make_kind, &adamw, NULL);
  int64_t lo, hi, total;
  ax_zero_shard(z, &lo, &hi, &total);
  cr_assert_eq(total, 12 + 5 + 1 + 8);
  cr_assert_eq(lo, 0);
  cr_assert_eq(hi, total);
  cr_assert_eq(ax_zero_state_bytes(z), total * 2 * 4); /* exp_avg, exp_avg_sq in f32 */
  cr_assert_eq(ax_zero_full_state_bytes(z), total * 2 * 4);
  ax_zero_free(z);
  z = ax_zero_new(a, NP, ax_comm_world(), NULL, NULL, NULL);
  cr_assert_null(z);
  cr_assert(tu_error_contains("ax_zero_new", "factory", NULL));
  free_params(a, b);
}

static ax_optimizer *make_plain_sgd(ax_tensor *const *params, int n, void *ctx) {
  return ax_sgd(params, n, &(ax_sgd_opts){.lr = *(double *)ctx});
}

Test(zero, sgd_without_momentum_keeps_no_state) {
  ax_tensor *a[NP], *b[NP];
  make_params(AX_F32, a, b);
  double lr = 0.1;
  ax_zero *z = ax_zero_new(a, NP, ax_comm_world(), make_plain_sgd, &lr, NULL);
  ax_optimizer *o = make_plain_sgd(b, NP, &lr);
  cr_assert_eq(ax_zero_state_bytes(z), 0);
  steps(z, o, a, b, 0, 2);
  assert_same_bits(a, b, "plain sgd");
  ax_state_dict *sz = ax_state_dict_new(), *so = ax_state_dict_new();
  ax_zero_state_dict(z, sz);
  ax_optimizer_state_dict(o, so);
  assert_same_dict(sz, so);
  ax_state_dict_free(sz);
  ax_state_dict_free(so);
  ax_zero_free(z);
  ax_optimizer_free(o);
  free_params(a, b);
}

Test(zero, bad_parameters_are_errors) {
  ax_scope_begin();
  kind_ctx ctx = {ADAMW, 1e-3};
  ax_comm *c = ax_comm_world();
  ax_tensor *p32 = ax_zeros(AX_SHAPE(3), NULL), *p64 = ax_zeros(AX_SHAPE(2), &(ax_tensor_opts){.dtype = AX_F64});
  cr_assert_null(ax_zero_new((ax_tensor *[]){p32, p64}, 2, c, make_kind, &ctx, NULL));
  cr_assert(tu_error_contains("ax_zero_new", "one dtype", "f32", "f64", NULL));
  cr_assert_null(ax_zero_new((ax_tensor *[]){p32, p32}, 2, c, make_kind, &ctx, NULL));
  cr_assert(tu_error_contains("ax_zero_new", "twice", NULL));
  ax_tensor *strided = ax_transpose(ax_zeros(AX_SHAPE(2, 3), NULL), 0, 1);
  cr_assert_null(ax_zero_new(&strided, 1, c, make_kind, &ctx, NULL));
  cr_assert(tu_error_contains("ax_zero_new", "contiguous", "[3, 2]", NULL));
  ax_tensor *ints = ax_zeros(AX_SHAPE(3), &(ax_tensor_opts){.dtype = AX_I64});
  cr_assert_null(ax_zero_new(&ints, 1, c, make_kind, &ctx, NULL));
  cr_assert(tu_error_contains("ax_zero_new", "floating-point", NULL));
  cr_assert_null(ax_zero_new(&p32, 0, c, make_kind, &ctx, NULL));
  cr_assert(tu_error_contains("ax_zero_new", "empty", NULL));
  kind_ctx bad = {ADAMW, 0}; /* the factory fails: lr has no default */
  cr_assert_null(ax_zero_new(&p32, 1, c, make_kind, &bad, NULL));
  cr_assert(tu_error_contains("lr", NULL));
  /* a gradient of the wrong shape */
  ax_zero *z = ax_zero_new(&p32, 1, c, make_kind, &ctx, NULL);
  p32->grad = ax_persist(ax_zeros(AX_SHAPE(4), NULL));
  cr_assert_eq(ax_zero_step(z), -1);
  cr_assert(tu_error_contains("ax_zero_step", "[3]", "[4]", NULL));
  ax_zero_grad(p32);
  ax_zero_free(z);
  ax_scope_end();
}

Test(zero, bad_state_dicts_are_rejected_whole) {
  ax_tensor *a[NP], *b[NP];
  make_params(AX_F32, a, b);
  kind_ctx ctx = {ADAMW, 1e-2};
  ax_zero *z = ax_zero_new(a, NP, ax_comm_world(), make_kind, &ctx, NULL);
  ax_optimizer *o = make_kind(b, NP, &ctx);
  steps(z, o, a, b, 0, 2);
  ax_state_dict *good = ax_state_dict_new();
  ax_zero_state_dict(z, good);
  struct {
    const char *key;      /* entry to replace (or add) */
    int64_t n;            /* its new shape [n]; 0: remove the entry instead */
    const char *expect;
  } cases[] = {
      {"state.0.bogus", 12, "bogus"},
      {"state.9.exp_avg", 12, "parameter 9"},
      {"state.1.exp_avg", 4, "state.1.exp_avg"},
      {"state.3.exp_avg_sq", 0, "state.3.exp_avg_sq: missing"},
      {"lr", 0, "lr: missing"},
  };
  char err[256];
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    ax_state_dict *sd = ax_state_dict_new();
    for (int e = 0; e < ax_state_dict_size(good); e++)
      if (strcmp(ax_state_dict_name(good, e), cases[i].key) || cases[i].n > 0)
        ax_state_dict_set(sd, ax_state_dict_name(good, e), ax_state_dict_tensor(good, e));
    if (cases[i].n > 0) {
      ax_scope_begin();
      ax_state_dict_set(sd, cases[i].key, ax_zeros(1, &cases[i].n, NULL));
      ax_scope_end();
    }
    err[0] = 0;
    cr_assert_eq(ax_zero_load_state_dict(z, sd, err, sizeof err), -1, "%s", cases[i].key);
    cr_assert(strstr(err, cases[i].expect), "%s: got '%s'", cases[i].key, err);
    ax_state_dict_free(sd);
  }
  /* nothing was modified: the ZeRO optimizer still steps like the plain one */
  ax_state_dict_free(good);
  steps(z, o, a, b, 2, 4);
  assert_same_bits(a, b, "after rejected loads");
  ax_zero_free(z);
  ax_optimizer_free(o);
  free_params(a, b);
}
