/* SPDX-License-Identifier: BSD-3-Clause */
/* Your own model and loss in Axon's training engine (include/axon/train.h, docs/training.md):
 * an MLP fits y = tanh(3x) - x^2 with a mean-squared-error loss of its own, early stopping on a
 * validation set with the best weights restored, and a callback per epoch. Exits 1 unless it
 * learned the curve and the restored weights are the best ones.   ./build/train_custom */
#include <axon.h>
#include <math.h>
#include <stdio.h>

typedef struct { ax_tensor *x, *y, *vx, *vy; int64_t pos; } data; /* 256 training, 64 validation points */

static ax_tensor *curve(ax_tensor *x) { return ax_sub(ax_tanh(ax_mul_scalar(x, 3)), ax_mul(x, x)); }
static ax_tensor *points(int64_t n) { return ax_sub_scalar(ax_mul_scalar(ax_rand(AX_SHAPE(n, 1), NULL), 2), 1); }

static int start(void *ud, int epoch, int64_t done, char *err, size_t n) { return ((data *)ud)->pos = done, 0; }
static int next(void *ud, int64_t step, int micro, ax_tensor **x, ax_tensor **y, char *err, size_t n) {
  data *d = ud;
  if (d->pos == 8) return 0; /* 8 batches of 32 per epoch */
  *x = ax_narrow(d->x, 0, 32 * d->pos, 32), *y = ax_narrow(d->y, 0, 32 * d->pos++, 32);
  return 1;
}
static ax_tensor *mse(void *ud, ax_module *m, ax_tensor *x, ax_tensor *y) {
  return ax_mse_loss(ax_module_forward(m, x), y, AX_REDUCTION_MEAN);
}
static int validate(void *ud, ax_module *m, ax_eval_result *r) {
  data *d = ud;
  ax_scope_begin();
  *r = (ax_eval_result){ax_item(mse(ud, m, d->vx, d->vy)), NAN};
  ax_scope_end();
  return 0;
}
static int on_epoch(void *ud, ax_trainer *t, const ax_train_event *e) {
  if ((e->epoch + 1) % 25 == 0) printf("epoch %3d  train %.5f  val %.5f\n", e->epoch + 1, e->train_loss, e->val.loss);
  return 0;
}

int main(void) {
  ax_manual_seed(0);
  ax_scope_begin();
  data d = {ax_persist(points(256)), NULL, ax_persist(points(64)), NULL, 0};
  d.y = ax_persist(curve(d.x)), d.vy = ax_persist(curve(d.vx));
  ax_scope_end();
  ax_trainer_config c = ax_trainer_defaults();
  c.model = ax_nn_sequential(5, ax_nn_linear(1, 32, true), ax_nn_tanh(), ax_nn_linear(32, 32, true), ax_nn_tanh(),
                             ax_nn_linear(32, 1, true));
  c.optim.lr = 1e-2, c.schedule_name = "cosine", c.epochs = 200, c.sched.total_steps = 200 * 8;
  c.early_stop = 20, c.restore_best = true, c.on_epoch = on_epoch;
  ax_train_data src = {.start_epoch = start, .next = next, .loss = mse, .validate = validate, .ud = &d};
  char err[512];
  ax_trainer *t = ax_trainer_new(&c, &src, err, sizeof err);
  if (!t || ax_trainer_run(t, err, sizeof err) != 0) return fprintf(stderr, "train_custom: %s\n", err), 1;
  ax_eval_result now;
  validate(&d, c.model, &now); /* the restored weights: the best validation loss again */
  double best = ax_trainer_get_state(t)->best_loss;
  printf("best validation loss %.5f, restored weights %.5f, %lld steps\n", best, now.loss,
         (long long)ax_trainer_get_state(t)->step);
  ax_trainer_free(t);
  ax_module_free(c.model);
  ax_free(d.x), ax_free(d.y), ax_free(d.vx), ax_free(d.vy);
  return best < 0.01 && fabs(now.loss - best) <= 1e-6 * best ? 0 : 1;
}
