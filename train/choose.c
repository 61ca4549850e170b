/* SPDX-License-Identifier: BSD-3-Clause */
/* The by-name choosers of optimizers, schedules and datasets, the classifier
 * evaluator, top-k sampling and the GPU peak-FLOPs table (include/axon/train.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "axon.h"
#include "train/internal.h"

#define fail ax__fail

#include "core/components.h"

ax_optimizer *ax_optimizer_by_name(const char *name, ax_tensor *const *params, int n, const ax_optim_spec *s,
                                   char *err, size_t errlen) {
  double lr = s->lr, wd = s->weight_decay;
  if (!name || !strcmp(name, "adamw")) /* AdamW reads 0 as its default 0.01: say zero explicitly */
    return ax_adamw(params, n, &(ax_adam_opts){.lr = lr, .beta1 = s->beta1, .beta2 = s->beta2, .eps = s->eps,
                                               .weight_decay = wd < 0 ? 1e-4 : wd == 0 ? AX_OPTIM_ZERO : wd});
  if (!strcmp(name, "sgd"))
    return ax_sgd(params, n, &(ax_sgd_opts){.lr = lr, .momentum = s->momentum, .weight_decay = wd < 0 ? 5e-4 : wd,
                                            .nesterov = s->momentum > 0});
  if (!strcmp(name, "adam"))
    return ax_adam(params, n, &(ax_adam_opts){.lr = lr, .beta1 = s->beta1, .beta2 = s->beta2, .eps = s->eps,
                                              .weight_decay = wd < 0 ? 0 : wd});
  if (!strcmp(name, "rmsprop"))
    return ax_rmsprop(params, n, &(ax_rmsprop_opts){.lr = lr, .weight_decay = wd < 0 ? 0 : wd});
  fail(err, errlen, "unknown optimizer '%s' (known: sgd, adam, adamw, rmsprop)", name);
  return NULL;
}

double ax_optimizer_default_lr(const char *optimizer, const char *schedule) {
  bool onecycle = schedule && !strcmp(schedule, "onecycle");
  if (optimizer && !strcmp(optimizer, "sgd")) return onecycle ? 0.1 : 0.05;
  if (optimizer && !strcmp(optimizer, "rmsprop")) return 1e-3;
  return onecycle ? 3e-3 : 1e-3;
}

ax_lr_schedule *ax_lr_schedule_by_name(const char *name, const ax_schedule_spec *p, char *err, size_t errlen) {
  ax_lr_schedule *s = NULL;
  double lr = p->lr;
  int64_t total = p->total_steps < 1 ? 1 : p->total_steps;
  if (!name || !strcmp(name, "none")) s = ax_lr_constant(lr);
  else if (!strcmp(name, "step")) s = ax_lr_step(lr, p->steps_per_epoch * (p->epochs >= 3 ? p->epochs / 3 : 1), 0.1);
  else if (!strcmp(name, "exponential")) s = ax_lr_exponential(lr, pow(0.01, 1.0 / (double)total));
  else if (!strcmp(name, "cosine")) s = ax_lr_cosine(lr, total, p->min_lr);
  else if (!strcmp(name, "onecycle")) s = ax_lr_onecycle(lr, total, NULL);
  else {
    fail(err, errlen, "unknown schedule '%s' (known: none, step, exponential, cosine, onecycle)", name);
    return NULL;
  }
  if (s && p->warmup_steps > 0) s = ax_lr_warmup(s, p->warmup_steps, p->warmup_start > 0 ? p->warmup_start : 0.01);
  if (!s) fail(err, errlen, "cannot build the %s schedule: %s", name, ax_last_error());
  return s;
}

ax_dataset *ax_dataset_by_name(const char *name, const char *dir, bool train, char *err, size_t errlen) {
  const char *def = !name ? NULL
                    : !strcmp(name, "fashion-mnist") ? "/usr/share/datasets/fashion-mnist"
                    : !strcmp(name, "mnist")         ? "/usr/share/datasets/mnist"
                                                     : NULL;
  if (!def) {
    fail(err, errlen, "unknown dataset '%s' (known: fashion-mnist, mnist)", name ? name : "(null)");
    return NULL;
  }
  return ax_mnist_like_load(dir ? dir : def, name, train, err, errlen);
}

ax_eval_result ax_evaluate_classifier(ax_module *model, ax_loader *loader, ax_device dev, ax_confusion *cm) {
  ax_eval_result r = {0, 0};
  bool was_training = ax_module_is_training(model);
  ax_module_train(model, false);
  ax_no_grad_begin();
  double loss_sum = 0;
  int64_t n = 0, correct = 0;
  ax_loader_start_epoch(loader, 0);
  ax_tensor *x, *y;
  for (;;) {
    ax_scope_begin();
    if (ax_loader_next(loader, &x, &y) != 1) {
      ax_scope_end();
      break;
    }
    ax_tensor *logits = ax_module_forward(model, ax_to(x, dev));
    ax_tensor *loss = ax_cross_entropy(logits, ax_to(y, dev), &(ax_cross_entropy_opts){.reduction = AX_REDUCTION_SUM});
    ax_tensor *pred = ax_to(ax_argmax(logits, 1, false), AX_CPU);
    loss_sum += ax_item(loss);
    correct += (int64_t)ax_item(ax_cast(ax_sum(ax_eq(pred, y), AX_ALL, false), AX_I64));
    n += y->shape[0];
    if (cm) ax_confusion_update(cm, pred, y);
    ax_scope_end();
  }
  ax_no_grad_end();
  ax_module_train(model, was_training);
  if (n > 0) {
    r.loss = loss_sum / (double)n;
    r.accuracy = (double)correct / (double)n;
  }
  return r;
}

int64_t ax_sample_logits(const float *logits, int64_t V, double temperature, int top_k, uint64_t *rng) {
  int64_t best = 0;
  for (int64_t i = 1; i < V; i++)
    if (logits[i] > logits[best]) best = i;
  if (temperature <= 0) return best;
  float cut = -INFINITY;
  if (top_k > 0 && top_k < V) { /* the k-th largest value, by partial selection */
    float *tmp = malloc((size_t)V * sizeof *tmp);
    if (!tmp) return best;
    memcpy(tmp, logits, (size_t)V * sizeof *tmp);
    for (int k = 0; k < top_k; k++) {
      int64_t m = k;
      for (int64_t i = k + 1; i < V; i++)
        if (tmp[i] > tmp[m]) m = i;
      float t = tmp[k];
      tmp[k] = tmp[m];
      tmp[m] = t;
    }
    cut = tmp[top_k - 1];
    free(tmp);
  }
  double sum = 0;
  for (int64_t i = 0; i < V; i++)
    if (logits[i] >= cut) sum += exp((logits[i] - logits[best]) / temperature);
  /* xorshift64*: a small, seedable stream for the draw */
  *rng ^= *rng >> 12, *rng ^= *rng << 25, *rng ^= *rng >> 27;
  double u = (double)((*rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0 * sum, acc = 0;
  for (int64_t i = 0; i < V; i++) {
    if (logits[i] < cut) continue;
    acc += exp((logits[i] - logits[best]) / temperature);
    if (acc >= u) return i;
  }
  return best;
}

double ax_device_peak_flops(ax_device d, bool half) {
  char name[256] = "";
  const ax_cuda_component *cu = ax__cuda_component(); /* core/components.h */
  if (!cu || d.type != AX_DEVICE_CUDA || cu->device_name(d.index, name, sizeof name) != 0) return 0;
  if (strstr(name, "H100") || strstr(name, "H200") || strstr(name, "GH200"))
    return half ? (strstr(name, "PCIe") ? 756e12 : 989e12) : (strstr(name, "PCIe") ? 51e12 : 67e12);
  if (strstr(name, "A100")) return half ? 312e12 : 19.5e12;
  return 0;
}
