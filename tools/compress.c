/* SPDX-License-Identifier: BSD-3-Clause */
/* `axon train --init / --keep-sparsity / --teacher`: see tools/compress.h. */
#include "tools/compress.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fail.h"

struct ax_tool_compress {
  ax_pruner *pruner;
  ax_module *teacher;
  double alpha, T;
  char teacher_model[32];
  int fold;
  ax_train_data inner; /* the data source the distillation wraps */
};

int ax_tool_load_weights(ax_module *model, const char *model_name, const char *path, const char *what, char *err,
                         size_t errlen) {
  char e2[768];
  ax_state_dict *sd = ax_load_safetensors(path, e2, sizeof e2);
  if (!sd) return ax__fail(err, errlen, "%s %s: %s", what, path, e2);
  const char *named = ax_state_dict_meta(sd, "axon_model");
  int rc = 0;
  if (named && model_name && strcmp(named, model_name))
    rc = ax__fail(err, errlen, "%s %s holds a '%s' model, not a '%s' (name the right model)", what, path, named,
                  model_name);
  else if (ax_module_load_state_dict(model, sd, true, e2, sizeof e2) != 0)
    rc = ax__fail(err, errlen, "%s %s: %s", what, path, e2);
  ax_state_dict_free(sd);
  return rc;
}

int ax_tool_compress_init(const ax_train_config *c, ax_module *model, char *err, size_t errlen) {
  if (c->keep_sparsity && !c->init_path)
    return ax__fail(err, errlen, "--keep-sparsity keeps the zeros of pruned weights: it needs --init FILE");
  return c->init_path ? ax_tool_load_weights(model, c->model, c->init_path, "--init", err, errlen) : 0;
}

/* The number of classes a classifier predicts: the width of its output on one blank image. */
static int64_t output_classes(ax_module *m, ax_device dev) {
  ax_scope_begin();
  ax_no_grad_begin();
  bool training = ax_module_is_training(m);
  ax_module_train(m, false);
  ax_tensor *y = ax_module_forward(m, ax_zeros(AX_SHAPE(1, 1, 28, 28), &(ax_tensor_opts){.device = dev}));
  ax_module_train(m, training);
  int64_t n = y && y->ndim == 2 ? y->shape[1] : -1;
  ax_no_grad_end();
  ax_scope_end();
  return n;
}

/* The teacher: its model, its weights, eval mode on the student's device, the same classes. */
static int load_teacher(ax_tool_compress *x, const ax_train_config *c, ax_module *student, char *err, size_t errlen) {
  char e2[768];
  ax_state_dict *sd = ax_load_safetensors(c->teacher_path, e2, sizeof e2);
  if (!sd) return ax__fail(err, errlen, "--teacher %s: %s", c->teacher_path, e2);
  const char *tm = c->teacher_model ? c->teacher_model : ax_state_dict_meta(sd, "axon_model");
  if (!tm) return ax_state_dict_free(sd), ax__fail(err, errlen, "--teacher %s names no model: add --teacher-model", c->teacher_path);
  snprintf(x->teacher_model, sizeof x->teacher_model, "%s", tm);
  if (!(x->teacher = ax_model_create(x->teacher_model, err, errlen))) return ax_state_dict_free(sd), -1;
  /* the classes first: a teacher file for other classes fails as that, not as a shape list */
  const char *names[1024];
  ax_tensor *p[1024];
  int n = ax_module_named_parameters(x->teacher, names, p, 1024), last = -1;
  for (int i = 0; i < n; i++)
    if (p[i]->ndim == 2) last = i;
  ax_tensor *tw = last >= 0 ? ax_state_dict_get(sd, names[last]) : NULL;
  int64_t s_classes = output_classes(student, c->device);
  int rc = 0;
  if (tw && tw->ndim == 2 && tw->shape[0] != s_classes)
    rc = ax__fail(err, errlen, "--teacher %s predicts %" PRId64 " classes (%s), the student %s %" PRId64
                  ": distillation needs the same classes", c->teacher_path, tw->shape[0], names[last], c->model,
                  s_classes);
  ax_state_dict_free(sd);
  if (rc || ax_tool_load_weights(x->teacher, x->teacher_model, c->teacher_path, "--teacher", err, errlen)) return -1;
  if (ax_module_to(x->teacher, c->device) != 0)
    return ax__fail(err, errlen, "cannot move the teacher to the device: %s", ax_last_error());
  ax_module_train(x->teacher, false);
  int64_t t_classes = output_classes(x->teacher, c->device);
  if (t_classes != s_classes)
    return ax__fail(err, errlen, "the teacher %s predicts %" PRId64 " classes, the student %s %" PRId64
                    ": distillation needs the same classes", x->teacher_model, t_classes, c->model, s_classes);
  return 0;
}

/* ---- distillation: the data source with the loss replaced ---- */

static ax_tensor *kd_loss(void *ud, ax_module *model, ax_tensor *x, ax_tensor *y) {
  ax_tool_compress *k = ud;
  ax_tensor *s = ax_module_forward(model, x);
  ax_no_grad_begin();
  ax_tensor *t = ax_module_forward(k->teacher, x); /* eval mode, no graph: the teacher never changes */
  ax_no_grad_end();
  if (!s || !t) return NULL;
  ax_tensor *kd = ax_distill_loss(s, t, k->T); /* T^2 KL(student_T || teacher_T), batch mean */
  if (k->alpha >= 1) return kd;
  return ax_add(ax_mul_scalar(kd, k->alpha), ax_mul_scalar(ax_cross_entropy(s, y, NULL), 1 - k->alpha));
}

static int kd_start(void *ud, int epoch, int64_t done, char *err, size_t errlen) {
  ax_train_data *d = &((ax_tool_compress *)ud)->inner;
  return d->start_epoch ? d->start_epoch(d->ud, epoch, done, err, errlen) : 0;
}
static int kd_next(void *ud, int64_t step, int micro, ax_tensor **x, ax_tensor **y, char *err, size_t errlen) {
  ax_train_data *d = &((ax_tool_compress *)ud)->inner;
  return d->next(d->ud, step, micro, x, y, err, errlen);
}
static int kd_validate(void *ud, ax_module *m, ax_eval_result *r) {
  ax_train_data *d = &((ax_tool_compress *)ud)->inner;
  return d->validate(d->ud, m, r);
}
static int kd_test(void *ud, ax_module *m, ax_eval_result *r) {
  ax_train_data *d = &((ax_tool_compress *)ud)->inner;
  return d->test(d->ud, m, r);
}

static void wrap_data(ax_tool_compress *x, ax_train_data *d) {
  x->inner = *d;
  *d = (ax_train_data){.start_epoch = kd_start, .next = kd_next, .loss = kd_loss,
                       .validate = d->validate ? kd_validate : NULL, .test = d->test ? kd_test : NULL, .ud = x};
}

/* ", \"fold\": 2, \"sparsity\": 0.8" on every metrics line. */
static void metrics_extra(void *ud, const ax_train_event *e, char *buf, size_t n) {
  ax_tool_compress *x = *(ax_tool_compress **)ud; /* ud: the run, whose first field points here */
  size_t l = 0;
  buf[0] = 0;
  if (!x) return;
  if (x->fold > 0) l += (size_t)snprintf(buf + l, n - l, ", \"fold\": %d", x->fold);
  if (x->pruner && l < n) l += (size_t)snprintf(buf + l, n - l, ", \"sparsity\": %.6f", ax_pruner_sparsity(x->pruner));
  if (x->teacher && l < n)
    snprintf(buf + l, n - l, ", \"distill_alpha\": %g, \"temperature\": %g", x->alpha, x->T);
}

int ax_tool_compress_setup(const ax_train_config *c, ax_module *model, ax_trainer_config *e, ax_train_data *d,
                           FILE *log, ax_tool_compress **out, char *err, size_t errlen) {
  *out = NULL;
  if (!c->keep_sparsity && !c->teacher_path && c->fold <= 0) return 0;
  ax_tool_compress *x = calloc(1, sizeof *x);
  if (!x) return ax__fail(err, errlen, "out of host memory");
  *out = x;
  x->fold = c->fold;
  if (c->keep_sparsity) {
    if (!(x->pruner = ax_pruner_from_zeros(model, err, errlen))) return -1;
    e->pre_optim_step = ax_pruner_pre_step;
    e->post_optim_step = ax_pruner_post_step;
    e->hook_ud = x->pruner;
    fprintf(log, "--keep-sparsity: %.2f%% of the prunable weights of %s are zero and stay zero\n",
            100 * ax_pruner_sparsity(x->pruner), c->init_path);
  }
  if (c->teacher_path) {
    x->alpha = c->distill_alpha, x->T = c->temperature;
    if (load_teacher(x, c, model, err, errlen)) return -1;
    wrap_data(x, d);
    fprintf(log, "distillation: teacher %s (%s, %" PRId64 " parameters, eval mode), alpha %g, temperature %g\n",
            x->teacher_model, c->teacher_path, ax_module_num_parameters(x->teacher), x->alpha, x->T);
  }
  e->metrics_extra = metrics_extra;
  return 0;
}

void ax_tool_compress_free(ax_tool_compress *x) {
  if (!x) return;
  ax_pruner_free(x->pruner);
  ax_module_free(x->teacher);
  free(x);
}
