/* SPDX-License-Identifier: BSD-3-Clause */
/* Optimizers (first steps against torch.optim for every option), state dicts,
 * schedules (against torch.optim.lr_scheduler), gradient clipping, errors.
 * Reference values: tests/fixtures/optim_ref.h, made by tests/fixtures/make_optim.py. */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#include "fixtures/optim_ref.h"

static void setup(void) {
  tu_capture_errors();
  ax_scope_begin();
}
static void teardown(void) { ax_scope_end(); }
TestSuite(optim, .init = setup, .fini = teardown);

static const double P0[6] = {0.5, -1.2, 0.0, 2.0, -0.3, 0.8};

/* the gradient of step k (as in make_optim.py) */
static double grad_value(int k, int i) { return cos(0.9 * i + 0.4 * k) * (1 + 0.1 * k); }

/* a [2, 3] parameter (rows of P0), repeated `reps` times along a leading dim when reps > 1 */
static ax_tensor *make_param(ax_dtype dt, int64_t reps) {
  int64_t n = 6 * reps;
  double *v = malloc(sizeof(double) * (size_t)n);
  for (int64_t i = 0; i < n; i++) v[i] = P0[i % 6];
  ax_tensor *p = reps > 1 ? ax_from_data(v, AX_SHAPE(reps, 2, 3), &(ax_tensor_opts){.dtype = AX_F64})
                          : ax_from_data(v, AX_SHAPE(2, 3), &(ax_tensor_opts){.dtype = AX_F64});
  free(v);
  p = ax_detach(ax_cast(p, dt));
  ax_set_requires_grad(p, true);
  return p;
}

/* p->grad = the step-k gradient, in p's dtype and shape (persistent, like autograd's) */
static void set_grad(ax_tensor *p, int k) {
  int64_t n = ax_numel(p);
  double *v = malloc(sizeof(double) * (size_t)n);
  for (int64_t i = 0; i < n; i++) v[i] = grad_value(k, (int)(i % 6));
  ax_tensor *g = ax_cast(ax_from_data(v, p->ndim, p->shape, &(ax_tensor_opts){.dtype = AX_F64}), p->dtype);
  free(v);
  ax_zero_grad(p);
  p->grad = ax_persist(ax_contiguous(g));
}

typedef ax_optimizer *(*make_fn)(ax_tensor **params, int n);

/* Three steps; after step k the parameter must match ref[6k .. 6k+5] (every repetition). */
static void check_steps(make_fn make, const double *ref, ax_dtype dt, int64_t reps, double rtol) {
  ax_tensor *p = make_param(dt, reps);
  ax_optimizer *opt = make(&p, 1);
  cr_assert_not_null(opt, "%s", ax_last_error());
  double *expect = malloc(sizeof(double) * 6 * (size_t)reps);
  for (int k = 0; k < 3; k++) {
    set_grad(p, k);
    cr_assert_eq(ax_optimizer_step(opt), 0, "%s", ax_last_error());
    for (int64_t i = 0; i < 6 * reps; i++) expect[i] = ref[6 * k + i % 6];
    cr_expect(tu_allclose_data(p, expect, 6 * reps, 1e-12, rtol), "step %d", k + 1);
  }
  cr_expect_eq(ax_optimizer_step_count(opt), 3);
  free(expect);
  ax_optimizer_free(opt);
}

static ax_optimizer *sgd_plain_m(ax_tensor **p, int n) { return ax_sgd(p, n, &(ax_sgd_opts){.lr = 0.1}); }
static ax_optimizer *sgd_momentum_m(ax_tensor **p, int n) {
  return ax_sgd(p, n, &(ax_sgd_opts){.lr = 0.1, .momentum = 0.9});
}
static ax_optimizer *sgd_dampening_m(ax_tensor **p, int n) {
  return ax_sgd(p, n, &(ax_sgd_opts){.lr = 0.1, .momentum = 0.9, .dampening = 0.5});
}
static ax_optimizer *sgd_nesterov_m(ax_tensor **p, int n) {
  return ax_sgd(p, n, &(ax_sgd_opts){.lr = 0.1, .momentum = 0.9, .nesterov = true});
}
static ax_optimizer *sgd_wd_m(ax_tensor **p, int n) {
  return ax_sgd(p, n, &(ax_sgd_opts){.lr = 0.1, .momentum = 0.8, .weight_decay = 0.1});
}
static ax_optimizer *sgd_l1_scale_m(ax_tensor **p, int n) {
  return ax_sgd(p, n, &(ax_sgd_opts){.lr = 0.1, .momentum = 0.5, .l1 = 0.05, .grad_scale = 0.25});
}
static ax_optimizer *adam_default_m(ax_tensor **p, int n) { return ax_adam(p, n, &(ax_adam_opts){.lr = 0.01}); }
static ax_optimizer *adam_wd_m(ax_tensor **p, int n) {
  return ax_adam(p, n, &(ax_adam_opts){.lr = 0.01, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.1});
}
static ax_optimizer *adam_beta1_zero_m(ax_tensor **p, int n) {
  return ax_adam(p, n, &(ax_adam_opts){.lr = 0.01, .beta1 = AX_OPTIM_ZERO});
}
static ax_optimizer *adam_l1_m(ax_tensor **p, int n) { return ax_adam(p, n, &(ax_adam_opts){.lr = 0.01, .l1 = 0.05}); }
static ax_optimizer *adamw_default_m(ax_tensor **p, int n) { return ax_adamw(p, n, &(ax_adam_opts){.lr = 0.01}); }
static ax_optimizer *adamw_wd_m(ax_tensor **p, int n) {
  return ax_adamw(p, n, &(ax_adam_opts){.lr = 0.05, .weight_decay = 0.5});
}
static ax_optimizer *rmsprop_plain_m(ax_tensor **p, int n) {
  return ax_rmsprop(p, n, &(ax_rmsprop_opts){.lr = 0.01});
}
static ax_optimizer *rmsprop_centered_m(ax_tensor **p, int n) {
  return ax_rmsprop(p, n, &(ax_rmsprop_opts){.lr = 0.01, .alpha = 0.9, .centered = true});
}
static ax_optimizer *rmsprop_momentum_m(ax_tensor **p, int n) {
  return ax_rmsprop(p, n, &(ax_rmsprop_opts){.lr = 0.01, .momentum = 0.9});
}
static ax_optimizer *rmsprop_all_m(ax_tensor **p, int n) {
  return ax_rmsprop(p, n, &(ax_rmsprop_opts){.lr = 0.01, .alpha = 0.95, .eps = 1e-4, .momentum = 0.5,
                                             .centered = true, .weight_decay = 0.1});
}

static const struct {
  const char *name;
  make_fn make;
  const double *ref;
} cases[] = {
    {"sgd_plain", sgd_plain_m, sgd_plain},
    {"sgd_momentum", sgd_momentum_m, sgd_momentum},
    {"sgd_dampening", sgd_dampening_m, sgd_dampening},
    {"sgd_nesterov", sgd_nesterov_m, sgd_nesterov},
    {"sgd_wd", sgd_wd_m, sgd_wd},
    {"sgd_l1_scale", sgd_l1_scale_m, sgd_l1_scale},
    {"adam_default", adam_default_m, adam_default},
    {"adam_wd", adam_wd_m, adam_wd},
    {"adam_beta1_zero", adam_beta1_zero_m, adam_beta1_zero},
    {"adam_l1", adam_l1_m, adam_l1},
    {"adamw_default", adamw_default_m, adamw_default},
    {"adamw_wd", adamw_wd_m, adamw_wd},
    {"rmsprop_plain", rmsprop_plain_m, rmsprop_plain},
    {"rmsprop_centered", rmsprop_centered_m, rmsprop_centered},
    {"rmsprop_momentum", rmsprop_momentum_m, rmsprop_momentum},
    {"rmsprop_all", rmsprop_all_m, rmsprop_all},
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

Test(optim, f64_matches_torch) {
  for (int c = 0; c < N_CASES; c++) {
    cr_log_info("%s", cases[c].name);
    check_steps(cases[c].make, cases[c].ref, AX_F64, 1, 1e-10);
  }
}

Test(optim, f32_matches_torch) {
  for (int c = 0; c < N_CASES; c++) check_steps(cases[c].make, cases[c].ref, AX_F32, 1, 1e-5);
}

/* 40002 elements: the OpenMP path, every element must match the small case */
Test(optim, large_tensor_matches_small) {
  for (int c = 0; c < N_CASES; c += 3) check_steps(cases[c].make, cases[c].ref, AX_F32, 6667, 1e-5);
}

Test(optim, bf16_params_have_f32_state) {
  for (int c = 0; c < N_CASES; c++) {
    ax_tensor *p = make_param(AX_BF16, 1);
    ax_optimizer *opt = cases[c].make(&p, 1);
    for (int k = 0; k < 3; k++) {
      set_grad(p, k);
      cr_assert_eq(ax_optimizer_step(opt), 0, "%s", ax_last_error());
    }
    cr_expect(tu_allclose_data(p, cases[c].ref + 12, 6, 2e-2, 2e-2), "%s", cases[c].name);
    ax_state_dict *sd = ax_state_dict_new();
    ax_optimizer_state_dict(opt, sd);
    for (int i = 0; i < ax_state_dict_size(sd); i++) {
      ax_tensor *t = ax_state_dict_tensor(sd, i);
      if (t->ndim == 2) cr_expect_eq(t->dtype, AX_F32, "%s", ax_state_dict_name(sd, i));
    }
    ax_state_dict_free(sd);
    ax_optimizer_free(opt);
  }
}

/* a transposed (non-contiguous) parameter is updated in place through its view */
Test(optim, strided_param) {
  ax_tensor *base = ax_contiguous(ax_transpose(make_param(AX_F64, 1), 0, 1)); /* [3, 2] */
  ax_tensor *p = ax_transpose(ax_detach(base), 0, 1);                          /* [2, 3] view */
  ax_set_requires_grad(p, true);
  cr_assert(!ax_is_contiguous(p));
  ax_optimizer *opt = adam_wd_m(&p, 1);
  for (int k = 0; k < 3; k++) {
    set_grad(p, k);
    cr_assert_eq(ax_optimizer_step(opt), 0, "%s", ax_last_error());
  }
  cr_expect(tu_allclose_data(p, adam_wd + 12, 6, 1e-12, 1e-10));
  cr_expect(ax_shares_storage(p, base));
  ax_optimizer_free(opt);
}

Test(optim, null_grad_is_skipped) {
  ax_tensor *ps[2] = {make_param(AX_F64, 1), make_param(AX_F64, 1)};
  ax_optimizer *opt = ax_adam(ps, 2, &(ax_adam_opts){.lr = 0.01});
  for (int k = 0; k < 3; k++) {
    set_grad(ps[1], k);
    cr_assert_eq(ax_optimizer_step(opt), 0);
  }
  cr_expect(tu_allclose_data(ps[0], P0, 6, 0, 0));
  cr_expect(tu_allclose_data(ps[1], adam_default + 12, 6, 1e-12, 1e-10));
  ax_state_dict *sd = ax_state_dict_new();
  ax_optimizer_state_dict(opt, sd);
  cr_expect_null(ax_state_dict_get(sd, "state.0.exp_avg"));
  cr_expect_null(ax_state_dict_get(sd, "state.0.step"));
  cr_expect_not_null(ax_state_dict_get(sd, "state.1.exp_avg_sq"));
  cr_expect_eq(ax_item(ax_state_dict_get(sd, "state.1.step")), 3);
  /* a parameter that starts late gets its own step count (bias correction from 1) */
  set_grad(ps[0], 0);
  ax_zero_grad(ps[1]);
  cr_assert_eq(ax_optimizer_step(opt), 0);
  cr_expect(tu_allclose_data(ps[0], adam_default, 6, 1e-12, 1e-10));
  ax_state_dict_free(sd);
  ax_optimizer_free(opt);
}

Test(optim, zero_grad_lr_and_names) {
  ax_tensor *p = make_param(AX_F32, 1);
  ax_optimizer *opt = ax_rmsprop(&p, 1, &(ax_rmsprop_opts){.lr = 0.5});
  cr_expect_str_eq(ax_optimizer_name(opt), "rmsprop");
  cr_expect_eq(ax_optimizer_num_params(opt), 1);
  cr_expect_eq(ax_optimizer_get_lr(opt), 0.5);
  ax_optimizer_set_lr(opt, 0.25);
  cr_expect_eq(ax_optimizer_get_lr(opt), 0.25);
  set_grad(p, 0);
  ax_optimizer_zero_grad(opt);
  cr_expect_null(p->grad);
  cr_expect_eq(ax_optimizer_step(opt), 0); /* nothing to do, still a step */
  cr_expect_eq(ax_optimizer_step_count(opt), 1);
  cr_expect(tu_allclose_data(p, P0, 6, 1e-7, 0));
  ax_optimizer_free(opt);
}

/* ---------------- state dicts ---------------- */

static const char *tmp_path(void) {
  static char path[64];
  snprintf(path, sizeof path, "/tmp/axon_optim_%d.safetensors", (int)getpid());
  return path;
}

/* Two optimizers on equal parameters; A takes 2 steps, B loads A's state (through a
 * safetensors file), then both take the same steps 3 and 4: identical results. */
static void round_trip(make_fn make) {
  ax_tensor *pa[2] = {make_param(AX_F64, 1), make_param(AX_F64, 3)};
  ax_tensor *pb[2] = {make_param(AX_F64, 1), make_param(AX_F64, 3)};
  ax_optimizer *a = make(pa, 2), *b = make(pb, 2);
  for (int k = 0; k < 2; k++) {
    set_grad(pa[0], k), set_grad(pa[1], k);
    cr_assert_eq(ax_optimizer_step(a), 0);
  }
  ax_optimizer_set_lr(a, ax_optimizer_get_lr(a) * 0.5);
  ax_state_dict *sd = ax_state_dict_new();
  ax_optimizer_state_dict(a, sd);
  char err[256] = "";
  cr_assert_eq(ax_save_safetensors(tmp_path(), sd, err, sizeof err), 0, "%s", err);
  ax_state_dict_free(sd);
  ax_state_dict *loaded = ax_load_safetensors(tmp_path(), err, sizeof err);
  unlink(tmp_path());
  cr_assert_not_null(loaded, "%s", err);
  cr_assert_eq(ax_optimizer_load_state_dict(b, loaded, err, sizeof err), 0, "%s", err);
  ax_state_dict_free(loaded);
  cr_expect_eq(ax_optimizer_step_count(b), 2);
  cr_expect_eq(ax_optimizer_get_lr(b), ax_optimizer_get_lr(a));
  for (int i = 0; i < 2; i++) ax_copy_(pb[i], pa[i]);
  for (int k = 2; k < 4; k++) {
    set_grad(pa[0], k), set_grad(pa[1], k), set_grad(pb[0], k), set_grad(pb[1], k);
    cr_assert_eq(ax_optimizer_step(a), 0);
    cr_assert_eq(ax_optimizer_step(b), 0);
  }
  for (int i = 0; i < 2; i++) cr_expect(tu_allclose(pb[i], pa[i], 0, 0));
  ax_optimizer_free(a);
  ax_optimizer_free(b);
}

Test(optim, state_dict_round_trip) {
  ax_no_grad_begin(); /* for ax_copy_ into the parameters */
  for (int c = 0; c < N_CASES; c++) round_trip(cases[c].make);
  ax_no_grad_end();
}

Test(optim, state_dict_names) {
  ax_tensor *p = make_param(AX_F64, 1);
  ax_optimizer *opt = rmsprop_all_m(&p, 1);
  set_grad(p, 0);
  ax_optimizer_step(opt);
  ax_state_dict *sd = ax_state_dict_new();
  ax_optimizer_state_dict(opt, sd);
  const char *names[] = {"state.0.step", "state.0.square_avg", "state.0.momentum_buffer", "state.0.grad_avg",
                         "step", "lr"};
  cr_expect_eq(ax_state_dict_size(sd), 6);
  for (int i = 0; i < 6; i++) cr_expect_not_null(ax_state_dict_get(sd, names[i]), "%s", names[i]);
  ax_tensor *step = ax_state_dict_get(sd, "step"), *lr = ax_state_dict_get(sd, "lr");
  cr_expect(step->ndim == 0 && step->dtype == AX_I64 && ax_item(step) == 1);
  cr_expect(lr->ndim == 0 && lr->dtype == AX_F64 && ax_item(lr) == 0.01);
  ax_state_dict_free(sd);
  ax_optimizer_free(opt);
}

/* each bad dict fails naming the key, and the optimizer is unchanged */
Test(optim, load_state_dict_errors) {
  ax_tensor *ps[2] = {make_param(AX_F64, 1), make_param(AX_F64, 2)};
  ax_optimizer *opt = ax_adam(ps, 2, &(ax_adam_opts){.lr = 0.01});
  set_grad(ps[0], 0), set_grad(ps[1], 0);
  ax_optimizer_step(opt);
  ax_state_dict *good = ax_state_dict_new();
  ax_optimizer_state_dict(opt, good);
  ax_tensor *wrong = ax_zeros(AX_SHAPE(5), NULL);
  struct {
    const char *key; /* replaced or added */
    ax_tensor *value;
    const char *drop; /* removed (by rebuilding without it) */
    const char *expect;
  } bad[] = {
      {"state.0.exp_avg", wrong, NULL, "state.0.exp_avg"},
      {"state.2.exp_avg", wrong, NULL, "state.2.exp_avg"},
      {"state.1.momentum_buffer", wrong, NULL, "state.1.momentum_buffer"},
      {"something", wrong, NULL, "something"},
      {"step", wrong, NULL, "step"},
      {NULL, NULL, "state.1.exp_avg_sq", "state.1.exp_avg_sq"},
      {NULL, NULL, "lr", "lr"},
      {NULL, NULL, "state.0.step", "state.0.step"},
  };
  for (size_t c = 0; c < sizeof bad / sizeof bad[0]; c++) {
    ax_state_dict *sd = ax_state_dict_new();
    for (int i = 0; i < ax_state_dict_size(good); i++) {
      const char *name = ax_state_dict_name(good, i);
      if (bad[c].drop && strcmp(name, bad[c].drop) == 0) continue;
      /* copies, so that a wrongly successful load could not alias the live state */
      ax_state_dict_set(sd, name, ax_clone(ax_state_dict_tensor(good, i)));
    }
    if (bad[c].key) ax_state_dict_set(sd, bad[c].key, bad[c].value);
    ax_scope_begin();
    ax_tensor *before = ax_clone(ax_state_dict_get(good, "state.0.exp_avg"));
    char err[256] = "";
    cr_expect_eq(ax_optimizer_load_state_dict(opt, sd, err, sizeof err), -1, "case %zu", c);
    cr_expect(strstr(err, bad[c].expect) != NULL, "case %zu: '%s' does not name %s", c, err, bad[c].expect);
    cr_expect(tu_allclose(ax_state_dict_get(good, "state.0.exp_avg"), before, 0, 0));
    ax_scope_end();
    ax_state_dict_free(sd);
  }
  cr_expect_eq(ax_optimizer_step_count(opt), 1);
  ax_state_dict_free(good);
  ax_optimizer_free(opt);
}

/* ---------------- errors ---------------- */

Test(optim, constructor_errors) {
  ax_tensor *p = make_param(AX_F32, 1);
  ax_tensor *ip = ax_zeros(AX_SHAPE(3), &(ax_tensor_opts){.dtype = AX_I64});
  cr_expect_null(ax_sgd(&p, 1, &(ax_sgd_opts){0}));
  cr_expect(tu_error_contains("ax_sgd", "lr", NULL));
  cr_expect_null(ax_sgd(&p, 1, &(ax_sgd_opts){.lr = 0.1, .nesterov = true}));
  cr_expect(tu_error_contains("ax_sgd", "nesterov", NULL));
  cr_expect_null(ax_adam(&p, 0, &(ax_adam_opts){.lr = 0.1}));
  cr_expect(tu_error_contains("ax_adam", "empty", NULL));
  cr_expect_null(ax_adamw(&p, 1, &(ax_adam_opts){.lr = 0.1, .beta2 = 1.5}));
  cr_expect(tu_error_contains("ax_adamw", "betas", NULL));
  cr_expect_null(ax_rmsprop(&ip, 1, &(ax_rmsprop_opts){.lr = 0.1}));
  cr_expect(tu_error_contains("ax_rmsprop", "floating-point", "i64", "[3]", NULL));
  ax_tensor *twice[2] = {p, p};
  cr_expect_null(ax_sgd(twice, 2, &(ax_sgd_opts){.lr = 0.1}));
  cr_expect(tu_error_contains("ax_sgd", "twice", NULL));
  ax_tensor *nonleaf = ax_mul_scalar(p, 2);
  cr_expect_null(ax_sgd(&nonleaf, 1, &(ax_sgd_opts){.lr = 0.1}));
  cr_expect(tu_error_contains("ax_sgd", "leaf", NULL));
}

Test(optim, step_error_modifies_nothing) {
  ax_tensor *ps[2] = {make_param(AX_F64, 1), make_param(AX_F64, 1)};
  ax_optimizer *opt = ax_sgd(ps, 2, &(ax_sgd_opts){.lr = 0.1, .momentum = 0.9});
  set_grad(ps[0], 0);
  ps[1]->grad = ax_persist(ax_zeros(AX_SHAPE(3, 2), &(ax_tensor_opts){.dtype = AX_F64}));
  cr_expect_eq(ax_optimizer_step(opt), -1);
  cr_expect(tu_error_contains("ax_optimizer_step", "parameter 1", "[2, 3]", "[3, 2]", NULL));
  cr_expect(tu_allclose_data(ps[0], P0, 6, 0, 0));
  cr_expect_eq(ax_optimizer_step_count(opt), 0);
  ax_optimizer_free(opt);
}

/* ---------------- schedules ---------------- */

static void check_schedule(ax_lr_schedule *s, const double *ref, int n) {
  cr_assert_not_null(s, "%s", ax_last_error());
  for (int k = 0; k < n; k++)
    cr_expect(fabs(ax_lr_at(s, k) - ref[k]) <= 1e-12 + 1e-9 * fabs(ref[k]), "step %d: %.17g vs torch %.17g", k,
              ax_lr_at(s, k), ref[k]);
  ax_lr_schedule_free(s);
}

Test(optim, schedules_match_torch) {
  check_schedule(ax_lr_step(0.1, 3, 0.5), sched_step, 12);
  check_schedule(ax_lr_multistep(0.1, (int64_t[]){2, 5, 9}, 3, 0.1), sched_multistep, 12);
  check_schedule(ax_lr_exponential(0.1, 0.9), sched_exponential, 12);
  check_schedule(ax_lr_cosine(0.1, 10, 0.001), sched_cosine, 25);
  check_schedule(ax_lr_onecycle(0.1, 20, NULL), sched_onecycle, 20);
  check_schedule(ax_lr_onecycle(0.2, 17, &(ax_onecycle_opts){.pct_start = 0.25, .div_factor = 10,
                                                             .final_div_factor = 100}),
                 sched_onecycle_opts, 17);
  check_schedule(ax_lr_warmup(ax_lr_cosine(0.1, 10, 0.001), 3, 0.1), sched_warmup_cosine, 16);
  check_schedule(ax_lr_warmup(ax_lr_step(0.1, 3, 0.5), 4, 0.25), sched_warmup_step, 12);
}

Test(optim, schedule_drives_optimizer) {
  ax_tensor *p = make_param(AX_F64, 1);
  ax_optimizer *opt = ax_sgd(&p, 1, &(ax_sgd_opts){.lr = 1});
  ax_lr_schedule *s = ax_lr_warmup(ax_lr_constant(0.1), 2, 0.5);
  double lr[4];
  for (int k = 0; k < 4; k++) {
    lr[k] = ax_lr_schedule_apply(s, opt);
    set_grad(p, 0);
    ax_optimizer_step(opt);
  }
  cr_expect(fabs(lr[0] - 0.05) < 1e-15 && fabs(lr[1] - 0.075) < 1e-15 && lr[2] == 0.1 && lr[3] == 0.1);
  ax_lr_schedule_free(s);
  ax_optimizer_free(opt);
}

Test(optim, schedule_errors) {
  cr_expect_null(ax_lr_step(0.1, 0, 0.5));
  cr_expect(tu_error_contains("ax_lr_step", "step_size", NULL));
  cr_expect_null(ax_lr_multistep(0.1, (int64_t[]){5, 2}, 2, 0.1));
  cr_expect(tu_error_contains("ax_lr_multistep", "increasing", NULL));
  cr_expect_null(ax_lr_cosine(0.1, 0, 0));
  cr_expect(tu_error_contains("ax_lr_cosine", "t_max", NULL));
  cr_expect_null(ax_lr_onecycle(0.1, 0, NULL));
  cr_expect(tu_error_contains("ax_lr_onecycle", "total_steps", NULL));
  /* one step (one batch, one epoch) is a cycle without phases: it runs at the peak */
  ax_lr_schedule *one = ax_lr_onecycle(0.1, 1, NULL);
  cr_assert_not_null(one, "%s", ax_last_error());
  cr_expect_float_eq(ax_lr_at(one, 0), 0.1, 1e-12);
  cr_expect_float_eq(ax_lr_at(one, 5), 0.1, 1e-12);
  ax_lr_schedule_free(one);
  cr_expect_null(ax_lr_warmup(ax_lr_constant(0.1), 3, 2.0));
  cr_expect(tu_error_contains("ax_lr_warmup", "start_factor", NULL));
}

/* ---------------- clipping ---------------- */

static void clip_params(ax_tensor **ps) {
  int64_t shapes[3][2] = {{2, 3}, {4, 0}, {1, 0}};
  for (int j = 0; j < 3; j++) {
    ps[j] = j == 0 ? ax_zeros(AX_SHAPE(2, 3), &(ax_tensor_opts){.dtype = AX_F64})
                   : ax_zeros(1, shapes[j], &(ax_tensor_opts){.dtype = AX_F64});
    int64_t n = ax_numel(ps[j]);
    double v[6];
    for (int i = 0; i < n; i++) v[i] = sin(1.3 * i + j) * (j + 1);
    ps[j]->grad = ax_persist(ax_from_data(v, ps[j]->ndim, ps[j]->shape, &(ax_tensor_opts){.dtype = AX_F64}));
  }
}

static void check_clip(double max_norm, double norm_type, const double *ref) {
  ax_tensor *ps[4];
  clip_params(ps);
  ps[3] = ax_zeros(AX_SHAPE(2), NULL); /* no grad: ignored */
  double total = ax_clip_grad_norm(ps, 4, max_norm, norm_type);
  cr_expect(fabs(total - ref[0]) < 1e-12 * ref[0], "total %.17g vs torch %.17g", total, ref[0]);
  cr_expect(tu_allclose_data(ps[0]->grad, ref + 1, 6, 1e-14, 1e-10));
  cr_expect(tu_allclose_data(ps[1]->grad, ref + 7, 4, 1e-14, 1e-10));
  cr_expect(tu_allclose_data(ps[2]->grad, ref + 11, 1, 1e-14, 1e-10));
}

Test(optim, clip_grad_norm_matches_torch) {
  check_clip(1.0, 2, clip_l2);
  check_clip(0.5, INFINITY, clip_inf);
  check_clip(2.0, 1, clip_l1);
  check_clip(100.0, 2, clip_l2_noop);
}

Test(optim, clip_grad_value) {
  ax_tensor *ps[3];
  clip_params(ps);
  ax_clip_grad_value(ps, 3, 0.5);
  for (int j = 0; j < 3; j++)
    for (int64_t i = 0; i < ax_numel(ps[j]); i++) {
      double v = sin(1.3 * i + j) * (j + 1), c = v > 0.5 ? 0.5 : v < -0.5 ? -0.5 : v;
      cr_expect_eq(tu_get(ps[j]->grad, i), c);
    }
  ax_clip_grad_value(ps, 3, -1);
  cr_expect(tu_error_contains("ax_clip_grad_value", NULL));
}

/* the optimizer's state, its parameter references and the state dict's scalars are all released */
Test(optim, nothing_leaks) {
  size_t before = ax_memory_stats_get(AX_CPU).live_tensors;
  ax_scope_begin();
  ax_tensor *p = make_param(AX_F64, 1);
  ax_optimizer *opt = rmsprop_all_m(&p, 1);
  for (int k = 0; k < 2; k++) {
    set_grad(p, k);
    ax_optimizer_step(opt);
  }
  ax_state_dict *sd = ax_state_dict_new();
  ax_optimizer_state_dict(opt, sd);
  char err[128];
  cr_expect_eq(ax_optimizer_load_state_dict(opt, sd, err, sizeof err), 0, "%s", err);
  ax_clip_grad_norm(&p, 1, 0.1, 2);
  ax_state_dict_free(sd);
  ax_optimizer_free(opt);
  ax_scope_end();
  cr_expect_eq(ax_memory_stats_get(AX_CPU).live_tensors, before);
}
