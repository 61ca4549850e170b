/* SPDX-License-Identifier: BSD-3-Clause */
/* An MLP on a CSV file: the Wisconsin breast-cancer data (examples/data/README.md), 30
 * numeric features and a 0/1 label column named "target". A fixed 80/20 split, each
 * feature standardized with the training split's mean and std, AdamW, cross-entropy.
 *
 *   ./build/train_tabular [CSV [LABEL_COLUMN]] [--epochs N] [--seed S]
 *
 * docs/data.md walks through it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon.h"

/* Test accuracy of model on ld. */
static double accuracy(ax_module *model, ax_loader *ld, int n_classes) {
  ax_module_train(model, false);
  ax_confusion *cm = ax_confusion_new(n_classes);
  ax_loader_start_epoch(ld, 0);
  ax_tensor *x, *y;
  ax_no_grad_begin();
  for (ax_scope_begin(); ax_loader_next(ld, &x, &y) == 1; ax_scope_end(), ax_scope_begin())
    ax_confusion_update(cm, ax_module_forward(model, x), y);
  ax_scope_end();
  ax_no_grad_end();
  double a = ax_confusion_accuracy(cm);
  ax_confusion_free(cm);
  return a;
}

static int train(ax_dataset *ds, int epochs, uint64_t seed) {
  char err[512];
  int64_t n = ax_dataset_size(ds), n_test = n / 5, *idx = malloc((size_t)n * sizeof *idx);
  ax_dataset_split(n, n_test, seed, idx, idx + (n - n_test)); /* last n_test entries: the test split */
  int nf = (int)ax_dataset_features(ds)->shape[1], nc = ax_dataset_num_classes(ds);
  float *mean = malloc((size_t)nf * sizeof *mean), *std = malloc((size_t)nf * sizeof *std);
  ax_dataset_channel_stats(ds, idx, n - n_test, mean, std); /* statistics of the training split only */
  for (int f = 0; f < nf; f++) if (!(std[f] > 0)) std[f] = 1; /* a constant feature */
  ax_loader_opts o = {.batch_size = 32, .shuffle = true, .seed = seed, .indices = idx, .n_indices = n - n_test,
                      .mean = mean, .std = std, .n_channels = nf};
  ax_loader *train_ld = ax_loader_new(ds, &o, err, sizeof err);
  o.shuffle = false, o.indices = idx + (n - n_test), o.n_indices = n_test, o.batch_size = 256;
  ax_loader *test_ld = ax_loader_new(ds, &o, err, sizeof err);
  ax_manual_seed(seed);
  ax_module *model = ax_model_mlp_features(nf, 64, nc);
  ax_tensor *params[16];
  int np = ax_module_parameters(model, params, 16);
  ax_optimizer *opt = ax_adamw(params, np, &(ax_adam_opts){.lr = 1e-3, .weight_decay = 1e-4});
  for (int epoch = 0; epoch < epochs; epoch++) {
    ax_module_train(model, true);
    ax_loader_start_epoch(train_ld, epoch);
    ax_tensor *x, *y;
    double sum = 0;
    int batches = 0;
    for (ax_scope_begin(); ax_loader_next(train_ld, &x, &y) == 1; ax_scope_end(), ax_scope_begin(), batches++) {
      ax_tensor *loss = ax_cross_entropy(ax_module_forward(model, x), y, NULL);
      sum += ax_item(loss);
      ax_backward(loss, NULL);
      ax_optimizer_step(opt);
      ax_optimizer_zero_grad(opt);
    }
    ax_scope_end();
    if (epoch == epochs - 1 || (epoch + 1) % 10 == 0)
      printf("epoch %d  train loss %.4f  test accuracy %.2f%% (%lld samples)\n", epoch + 1, sum / batches,
             100 * accuracy(model, test_ld, nc), (long long)n_test);
  }
  ax_optimizer_free(opt);
  ax_module_free(model);
  ax_loader_free(train_ld);
  ax_loader_free(test_ld);
  free(idx), free(mean), free(std);
  return 0;
}

int main(int argc, char **argv) {
  const char *path = AXON_EXAMPLE_DATA "/breast_cancer.csv", *label = "target";
  int epochs = 30, pos = 0;
  uint64_t seed = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--epochs") && i + 1 < argc) epochs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
    else if (pos == 0) path = argv[i], pos++;
    else label = argv[i];
  }
  if (epochs < 1) return fprintf(stderr, "train_tabular: --epochs must be at least 1\n"), 2;
  char err[512];
  ax_tensor *x, *y;
  ax_scope_begin();
  if (ax_csv_load(path, &(ax_csv_opts){.label_col = label, .header = -1}, &x, &y, err, sizeof err) != 0)
    return fprintf(stderr, "train_tabular: %s\n", err), 1;
  ax_dataset *ds = ax_dataset_from_arrays(x, y, err, sizeof err);
  ax_scope_end();
  if (!ds) return fprintf(stderr, "train_tabular: %s\n", err), 1;
  printf("%s: %lld samples, %lld features, %d classes\n", path, (long long)ax_dataset_size(ds),
         (long long)ax_dataset_features(ds)->shape[1], ax_dataset_num_classes(ds));
  int rc = train(ds, epochs, seed);
  ax_dataset_free(ds);
  return rc;
}
