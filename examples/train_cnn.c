/* SPDX-License-Identifier: BSD-3-Clause */
/* Train the default CNN on Fashion-MNIST in about 40 lines of C: the model zoo,
 * the data loader, AdamW with a one-cycle schedule, and a test pass per epoch.
 * `axon train` does the same with checkpoints, metrics and a progress bar. */
#include <stdio.h>

#include "axon.h"

int main(void) {
  char err[512];
  ax_dataset *train = ax_mnist_like_load("/usr/share/datasets/fashion-mnist", "fashion-mnist", true, err, sizeof err);
  ax_dataset *test = ax_mnist_like_load("/usr/share/datasets/fashion-mnist", "fashion-mnist", false, err, sizeof err);
  if (!train || !test) return fprintf(stderr, "%s\n", err), 1;
  const float mean = 0.2860f, std = 0.3530f; /* Fashion-MNIST's training-set statistics */
  ax_loader *train_ld = ax_loader_new(train, &(ax_loader_opts){.batch_size = 128, .shuffle = true, .mean = &mean,
                                                               .std = &std, .n_channels = 1, .prefetch = true}, err, sizeof err);
  ax_loader *test_ld = ax_loader_new(test, &(ax_loader_opts){.batch_size = 500, .mean = &mean, .std = &std, .n_channels = 1},
                                     err, sizeof err);
  ax_device dev = ax_default_device();
  ax_module *model = ax_model_create("cnn", err, sizeof err);
  ax_module_to(model, dev);
  ax_tensor *params[64];
  int np = ax_module_parameters(model, params, 64);
  ax_optimizer *opt = ax_adamw(params, np, &(ax_adam_opts){.lr = 3e-3, .weight_decay = 1e-4});
  const int epochs = 3;
  ax_lr_schedule *sched = ax_lr_onecycle(3e-3, epochs * ax_loader_num_batches(train_ld), NULL);
  for (int epoch = 0; epoch < epochs; epoch++) {
    ax_module_train(model, true);
    ax_loader_start_epoch(train_ld, epoch);
    ax_tensor *x, *y;
    for (ax_scope_begin(); ax_loader_next(train_ld, &x, &y) == 1; ax_scope_end(), ax_scope_begin()) {
      ax_lr_schedule_apply(sched, opt);
      ax_tensor *loss = ax_cross_entropy(ax_module_forward(model, ax_to(x, dev)), ax_to(y, dev), NULL);
      ax_backward(loss, NULL);
      ax_optimizer_step(opt);
      ax_optimizer_zero_grad(opt);
    }
    ax_scope_end();
    ax_module_train(model, false);
    ax_confusion *cm = ax_confusion_new(10);
    ax_loader_start_epoch(test_ld, 0);
    ax_no_grad_begin();
    for (ax_scope_begin(); ax_loader_next(test_ld, &x, &y) == 1; ax_scope_end(), ax_scope_begin())
      ax_confusion_update(cm, ax_to(ax_module_forward(model, ax_to(x, dev)), AX_CPU), y);
    ax_scope_end();
    ax_no_grad_end();
    printf("epoch %d: test accuracy %.2f%%\n", epoch + 1, 100 * ax_confusion_accuracy(cm));
    ax_confusion_free(cm);
  }
  ax_lr_schedule_free(sched);
  ax_optimizer_free(opt);
  ax_module_free(model);
  ax_loader_free(train_ld);
  ax_loader_free(test_ld);
  ax_dataset_free(train);
  ax_dataset_free(test);
  return 0;
}
