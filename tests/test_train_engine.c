/* SPDX-License-Identifier: BSD-3-Clause */
/* The training engine (include/axon/train.h) on a small linear model: early stopping
 * watches the validation set and never the test set, restore-best brings back the weights
 * of the best validation loss, callbacks can stop a run, the metrics sink writes the same
 * train_loss the callbacks see (with a run id), a user's optimizer is used as given, and
 * ZeRO-1 is an ax_optimizer equal to the plain one on one process. */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "axon.h"
#include "testutil.h"

static void setup(void) {
  tu_capture_errors();
  ax_set_num_threads(1);
}
TestSuite(train_engine, .init = setup, .timeout = 60);

/* 4 batches of 8 rows per epoch of a fixed regression problem; validation and test losses
 * come from scripted sequences (by evaluation), so what the engine watches is visible. */
typedef struct task {
  ax_tensor *x, *y;
  int64_t pos;
  const double *val_script, *test_script;
  int evals, tests, steps_seen, stop_at_step;
  double epoch_train_loss[16];
  ax_tensor *weights_at[16]; /* a copy of the weight after each epoch */
  ax_module *model;
} task;

static int start(void *ud, int epoch, int64_t done, char *err, size_t n) {
  ((task *)ud)->pos = done;
  return 0;
}
static int next(void *ud, int64_t step, int micro, ax_tensor **x, ax_tensor **y, char *err, size_t n) {
  task *t = ud;
  if (t->pos == 4) return 0;
  *x = ax_narrow(t->x, 0, 8 * t->pos, 8);
  *y = ax_narrow(t->y, 0, 8 * t->pos++, 8);
  return 1;
}
static ax_tensor *mse(void *ud, ax_module *m, ax_tensor *x, ax_tensor *y) {
  return ax_mse_loss(ax_module_forward(m, x), y, AX_REDUCTION_MEAN);
}
static int validate(void *ud, ax_module *m, ax_eval_result *r) {
  task *t = ud;
  *r = (ax_eval_result){t->val_script[t->evals++], NAN};
  return 0;
}
static int test_set(void *ud, ax_module *m, ax_eval_result *r) {
  task *t = ud;
  *r = (ax_eval_result){t->test_script[t->tests++], 0.5};
  return 0;
}
static int on_epoch(void *ud, ax_trainer *tr, const ax_train_event *e) {
  task *t = ud;
  t->epoch_train_loss[e->epoch] = e->train_loss;
  ax_tensor *params[2];
  ax_module_parameters(t->model, params, 2);
  ax_scope_begin();
  t->weights_at[e->epoch] = ax_persist(ax_clone(params[0]));
  ax_scope_end();
  return 0;
}
static int on_step(void *ud, ax_trainer *tr, const ax_train_event *e) {
  task *t = ud;
  t->steps_seen++;
  return t->stop_at_step > 0 && e->step >= t->stop_at_step;
}

static task make_task(const double *val, const double *test) {
  task t = {.val_script = val, .test_script = test};
  ax_manual_seed(3);
  ax_scope_begin();
  t.x = ax_persist(ax_randn(AX_SHAPE(32, 4), NULL));
  t.y = ax_persist(ax_sum(t.x, AX_DIMS(1), true));
  ax_scope_end();
  t.model = ax_nn_linear(4, 1, true);
  return t;
}

static void free_task(task *t) {
  for (int i = 0; i < 16; i++) ax_free(t->weights_at[i]);
  ax_free(t->x);
  ax_free(t->y);
  ax_module_free(t->model);
}

static ax_trainer_config base(task *t, int epochs) {
  ax_trainer_config c = ax_trainer_defaults();
  c.model = t->model;
  c.optimizer = "sgd";
  c.optim = (ax_optim_spec){.lr = 0.05, .weight_decay = 0};
  c.epochs = epochs;
  c.on_epoch = on_epoch;
  c.on_step = on_step;
  c.ud = t;
  return c;
}

static int run(ax_trainer_config *c, task *t, ax_trainer_state *out) {
  ax_train_data d = {.start_epoch = start, .next = next, .loss = mse, .validate = validate, .test = test_set, .ud = t};
  char err[512] = "";
  ax_trainer *tr = ax_trainer_new(c, &d, err, sizeof err);
  cr_assert_not_null(tr, "%s", err);
  int rc = ax_trainer_run(tr, err, sizeof err);
  cr_assert_eq(rc, 0, "%s", err);
  *out = *ax_trainer_get_state(tr);
  ax_trainer_free(tr);
  return rc;
}

Test(train_engine, early_stopping_watches_validation_never_test) {
  /* validation improves twice then stalls; test keeps improving: the run must stop after
   * 2 + patience(3) evaluations, whatever the test loss does */
  const double val[] = {1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3};
  const double test[] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0.5};
  task t = make_task(val, test);
  ax_trainer_config c = base(&t, 10);
  c.early_stop = 3;
  ax_trainer_state st;
  run(&c, &t, &st);
  cr_assert(st.stopped_early);
  cr_assert_eq(t.evals, 5, "%d validation passes", t.evals);
  cr_assert_eq(st.epoch, 5);
  cr_assert_eq(st.best_loss, 0.5);
  /* and with a validation loss that keeps improving, a stalling test loss never stops it */
  const double val2[] = {1, 0.9, 0.8, 0.7, 0.6, 0.5};
  const double test2[] = {1, 2, 3, 4, 5, 6};
  task u = make_task(val2, test2);
  ax_trainer_config c2 = base(&u, 6);
  c2.early_stop = 1;
  run(&c2, &u, &st);
  cr_assert(!st.stopped_early);
  cr_assert_eq(u.evals, 6);
  free_task(&t);
  free_task(&u);
}

Test(train_engine, early_stopping_without_a_validation_set_is_refused) {
  task t = make_task(NULL, NULL);
  ax_trainer_config c = base(&t, 2);
  c.early_stop = 2;
  ax_train_data d = {.next = next, .test = test_set, .ud = &t};
  char err[512] = "";
  cr_assert_null(ax_trainer_new(&c, &d, err, sizeof err));
  cr_assert(strstr(err, "validation"), "%s", err);
  free_task(&t);
}

Test(train_engine, restore_best_brings_back_the_best_epoch) {
  const double val[] = {0.9, 0.3, 0.8, 0.7, 0.6};
  const double test[] = {1, 1, 1, 1, 1};
  task t = make_task(val, test);
  ax_trainer_config c = base(&t, 5);
  c.restore_best = true;
  char best[] = "/tmp/axon_best_XXXXXX";
  int fd = mkstemp(best);
  cr_assert_geq(fd, 0);
  close(fd);
  c.best_path = best;
  ax_trainer_state st;
  run(&c, &t, &st);
  ax_tensor *params[2];
  ax_module_parameters(t.model, params, 2);
  ax_scope_begin();
  cr_assert(ax_item(ax_sum(ax_abs(ax_sub(params[0], t.weights_at[1])), AX_ALL, false)) == 0,
            "the weights are not epoch 2's");
  cr_assert(ax_item(ax_sum(ax_abs(ax_sub(params[0], t.weights_at[4])), AX_ALL, false)) > 0,
            "the weights did not change after epoch 2 (the test proves nothing)");
  ax_scope_end();
  /* the best weights file holds epoch 2's weights too */
  char err[256];
  ax_state_dict *sd = ax_load_safetensors(best, err, sizeof err);
  cr_assert_not_null(sd, "%s", err);
  ax_scope_begin();
  cr_assert(ax_item(ax_sum(ax_abs(ax_sub(ax_state_dict_get(sd, "weight"), t.weights_at[1])), AX_ALL, false)) == 0);
  ax_scope_end();
  ax_state_dict_free(sd);
  unlink(best);
  free_task(&t);
}

Test(train_engine, a_callback_stops_the_run_and_metrics_match_the_callbacks) {
  const double val[] = {1, 0.9, 0.8, 0.7};
  const double test[] = {1, 1, 1, 1};
  task t = make_task(val, test);
  ax_trainer_config c = base(&t, 4);
  char metrics[] = "/tmp/axon_metrics_XXXXXX";
  int fd = mkstemp(metrics);
  cr_assert_geq(fd, 0);
  close(fd);
  c.metrics_path = metrics;
  c.run_id = "run-42";
  c.model_name = "linear";
  t.stop_at_step = 10; /* in epoch 3 */
  ax_trainer_state st;
  run(&c, &t, &st);
  cr_assert(st.stopped);
  cr_assert_eq(st.step, 10);
  cr_assert_eq(t.steps_seen, 10);
  FILE *f = fopen(metrics, "r");
  cr_assert_not_null(f);
  char line[1024];
  int lines = 0;
  while (fgets(line, sizeof line, f)) {
    cr_assert(strstr(line, "\"run_id\": \"run-42\""), "%s", line);
    cr_assert(strstr(line, "\"model\": \"linear\""), "%s", line);
    char want[64];
    snprintf(want, sizeof want, "\"train_loss\": %.6f", t.epoch_train_loss[lines]);
    cr_assert(strstr(line, want), "epoch %d: %s not in %s", lines + 1, want, line);
    lines++;
  }
  fclose(f);
  cr_assert_eq(lines, 2, "an epoch line per finished epoch");
  unlink(metrics);
  free_task(&t);
}

/* ZeRO's factory: plain SGD with momentum over the shard */
static ax_optimizer *sgd_factory(ax_tensor *const *p, int n, void *ctx) {
  return ax_sgd(p, n, &(ax_sgd_opts){.lr = 0.05, .momentum = 0.9});
}

Test(train_engine, zero_is_an_optimizer_equal_to_the_plain_one) {
  const double val[] = {1, 1, 1};
  const double test[] = {1, 1, 1};
  double plain[12], sharded[12];
  for (int k = 0; k < 2; k++) {
    task t = make_task(val, test);
    ax_tensor *params[2];
    ax_module_parameters(t.model, params, 2);
    ax_optimizer *opt = k ? ax_zero_optimizer_new(params, 2, ax_comm_world(), sgd_factory, NULL, NULL)
                          : sgd_factory(params, 2, NULL);
    cr_assert_not_null(opt);
    cr_assert_eq(ax_zero_of(opt) != NULL, k == 1);
    ax_trainer_config c = base(&t, 3);
    c.opt = opt; /* the user's: used as given, not freed */
    c.step_losses = k ? sharded : plain;
    c.max_step_losses = 12;
    ax_trainer_state st;
    run(&c, &t, &st);
    cr_assert_eq(ax_optimizer_step_count(opt), 12);
    ax_state_dict *sd = ax_state_dict_new();
    ax_optimizer_state_dict(opt, sd);
    cr_assert_not_null(ax_state_dict_get(sd, "state.0.momentum_buffer"));
    ax_state_dict_free(sd);
    ax_optimizer_free(opt);
    free_task(&t);
  }
  for (int i = 0; i < 12; i++) cr_assert_eq(plain[i], sharded[i], "step %d: %.9g vs %.9g", i, plain[i], sharded[i]);
}
