/* SPDX-License-Identifier: BSD-3-Clause */
/* Magnitude pruning (include/axon/prune.h): exact sparsity globally and per layer, the
 * smallest weights go first, structured pruning zeroes whole units, masks hold through
 * AdamW steps, the report counts what the weights hold, bad sparsities are errors; and
 * the k-fold split of cross-validation (ax_kfold_indices). */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static void setup(void) {
  tu_capture_errors();
  ax_manual_seed(7);
}
TestSuite(prune, .init = setup);

/* conv [8, 3, 3, 3] -> flatten -> linear [16, 8*4*4] -> relu -> linear [5, 16] */
static ax_module *small_model(void) {
  return AX_SEQUENTIAL(ax_nn_conv2d(3, 8, 3, &(ax_nn_conv2d_opts){.padding = 1}), ax_nn_relu(), ax_nn_flatten(1, -1),
                       ax_nn_linear(8 * 4 * 4, 16, true), ax_nn_relu(), ax_nn_linear(16, 5, true));
}

static int64_t zeros_of(ax_tensor *w) {
  int64_t n = ax_numel(w), z = 0;
  float *h = malloc((size_t)n * sizeof *h);
  cr_assert_eq(ax_to_data(w, h, (size_t)n * sizeof *h), 0);
  for (int64_t i = 0; i < n; i++) z += h[i] == 0.0f;
  free(h);
  return z;
}

static const char *weights[3] = {"0.weight", "3.weight", "5.weight"};

Test(prune, global_unstructured_reaches_the_exact_sparsity_and_cuts_the_smallest) {
  ax_module *m = small_model();
  int64_t total = 0;
  float max_cut = 0, min_kept = INFINITY;
  char err[256] = "";
  ax_tensor *before[3];
  for (int i = 0; i < 3; i++) before[i] = ax_clone(ax_module_tensor(m, weights[i])); /* no scope here: ours to free */
  ax_pruner *p = ax_prune_magnitude(m, &(ax_prune_spec){.sparsity = 0.8}, err, sizeof err);
  cr_assert_not_null(p, "%s", err);
  int64_t zeros = 0;
  for (int i = 0; i < 3; i++) {
    ax_tensor *w = ax_module_tensor(m, weights[i]);
    total += ax_numel(w), zeros += zeros_of(w);
    const float *a = ax_data_ptr(w), *b = ax_data_ptr(before[i]);
    for (int64_t j = 0; j < ax_numel(w); j++) {
      if (a[j] == 0) max_cut = fmaxf(max_cut, fabsf(b[j]));
      else {
        min_kept = fminf(min_kept, fabsf(b[j]));
        cr_assert_eq(a[j], b[j]); /* kept weights unchanged */
      }
    }
    ax_free(before[i]);
  }
  cr_assert_eq(zeros, llround(0.8 * (double)total));
  cr_assert_leq(max_cut, min_kept, "a pruned |w| %g above a kept one %g", max_cut, min_kept);
  cr_assert_float_eq(ax_pruner_sparsity(p), (double)zeros / (double)total, 1e-12);
  cr_assert_eq(zeros_of(ax_module_tensor(m, "0.bias")), 0, "biases are not pruned");
  ax_pruner_free(p);
  ax_module_free(m);
}

Test(prune, per_layer_unstructured_reaches_the_sparsity_in_every_layer) {
  ax_module *m = small_model();
  char err[256] = "";
  ax_pruner *p = ax_prune_magnitude(m, &(ax_prune_spec){.sparsity = 0.55, .per_layer = true}, err, sizeof err);
  cr_assert_not_null(p, "%s", err);
  for (int i = 0; i < 3; i++) {
    ax_tensor *w = ax_module_tensor(m, weights[i]);
    cr_assert_eq(zeros_of(w), llround(0.55 * (double)ax_numel(w)), "layer %s", weights[i]);
  }
  ax_pruner_free(p);
  ax_module_free(m);
}

Test(prune, structured_zeroes_whole_units_of_smallest_norm_and_spares_the_last_layer) {
  ax_module *m = small_model();
  char err[256] = "";
  ax_tensor *w0 = ax_module_tensor(m, "0.weight");
  double norm[8];
  const float *h = ax_data_ptr(w0);
  for (int c = 0; c < 8; c++) {
    norm[c] = 0;
    for (int j = 0; j < 27; j++) norm[c] += (double)h[c * 27 + j] * h[c * 27 + j];
  }
  ax_pruner *p =
      ax_prune_magnitude(m, &(ax_prune_spec){.sparsity = 0.5, .per_layer = true, .structured = true, .norm = 2}, err,
                         sizeof err);
  cr_assert_not_null(p, "%s", err);
  ax_prune_layer l[3];
  cr_assert_eq(ax_prune_report(m, l, 3, NULL, NULL), 3);
  cr_assert_str_eq(l[0].name, "0.weight");
  cr_assert_eq(l[0].zero_units, 4);
  cr_assert_eq(l[0].zeros, 4 * 27, "whole channels only");
  cr_assert_eq(l[1].zero_units, 8);
  cr_assert_eq(l[1].zeros, 8 * 128);
  cr_assert_eq(l[2].zeros, 0, "the last layer (the classes) is left alone");
  h = ax_data_ptr(w0);
  double max_cut = 0, min_kept = INFINITY;
  for (int c = 0; c < 8; c++) {
    if (h[c * 27] == 0) max_cut = fmax(max_cut, norm[c]);
    else min_kept = fmin(min_kept, norm[c]);
  }
  cr_assert_leq(max_cut, min_kept);
  ax_pruner_free(p);
  /* global structured: half of the 24 units of the first two layers */
  ax_module *m2 = small_model();
  p = ax_prune_magnitude(m2, &(ax_prune_spec){.sparsity = 0.5, .structured = true}, err, sizeof err);
  cr_assert_not_null(p, "%s", err);
  cr_assert_eq(ax_prune_report(m2, l, 3, NULL, NULL), 3);
  cr_assert_eq(l[0].zero_units + l[1].zero_units, 12);
  cr_assert_eq(l[0].zeros + l[1].zeros, l[0].zero_units * 27 + l[1].zero_units * 128);
  ax_pruner_free(p);
  ax_module_free(m2);
  ax_module_free(m);
}

/* steps of AdamW (weight decay, momentum) on a random regression; with hooks the masks' hooks */
static void adamw_steps(ax_module *m, ax_pruner *p, int steps) {
  ax_tensor *params[16];
  int n = ax_module_parameters(m, params, 16);
  ax_optimizer *opt = ax_adamw(params, n, &(ax_adam_opts){.lr = 0.05, .weight_decay = 0.1});
  for (int s = 0; s < steps; s++) {
    ax_scope_begin();
    ax_optimizer_zero_grad(opt);
    ax_tensor *x = ax_randn(AX_SHAPE(4, 3, 4, 4), NULL);
    ax_tensor *loss = ax_mean(ax_square(ax_sub(ax_module_forward(m, x), ax_ones(AX_SHAPE(4, 5), NULL))), AX_ALL, false);
    cr_assert_eq(ax_backward(loss, NULL), 0);
    if (p) cr_assert_eq(ax_pruner_pre_step(p), 0);
    cr_assert_eq(ax_optimizer_step(opt), 0);
    if (p) cr_assert_eq(ax_pruner_post_step(p), 0);
    ax_scope_end();
  }
  ax_optimizer_free(opt);
}

Test(prune, pruned_weights_stay_zero_through_adamw_steps) {
  ax_module *m = small_model();
  char err[256] = "";
  adamw_steps(m, NULL, 3); /* momentum and second moments from before the pruning */
  ax_pruner *p = ax_prune_magnitude(m, &(ax_prune_spec){.sparsity = 0.7}, err, sizeof err);
  cr_assert_not_null(p, "%s", err);
  int64_t z0[3];
  for (int i = 0; i < 3; i++) z0[i] = zeros_of(ax_module_tensor(m, weights[i]));
  ax_tensor *w1 = ax_clone(ax_module_tensor(m, "3.weight")); /* no scope here: ours to free */
  adamw_steps(m, p, 6);
  for (int i = 0; i < 3; i++) cr_assert_eq(zeros_of(ax_module_tensor(m, weights[i])), z0[i], "layer %s", weights[i]);
  const float *a = ax_data_ptr(ax_module_tensor(m, "3.weight")), *b = ax_data_ptr(w1);
  int64_t moved = 0;
  for (int64_t j = 0; j < ax_numel(w1); j++) {
    if (b[j] == 0) cr_assert_eq(a[j], 0.0f);
    moved += b[j] != 0 && a[j] != b[j];
  }
  cr_assert_gt(moved, 0, "the kept weights train");
  /* the control: without the hooks the same steps revive pruned weights */
  adamw_steps(m, NULL, 2);
  cr_assert_lt(zeros_of(ax_module_tensor(m, "3.weight")), z0[1]);
  ax_free(w1);
  ax_pruner_free(p);
  ax_module_free(m);
}

Test(prune, masks_from_zeros_and_the_report) {
  ax_module *m = small_model(), *m2 = small_model();
  char err[256] = "";
  ax_pruner *p = ax_prune_magnitude(m, &(ax_prune_spec){.sparsity = 0.5, .per_layer = true}, err, sizeof err);
  cr_assert_not_null(p, "%s", err);
  ax_state_dict *sd = ax_state_dict_new();
  ax_module_state_dict(m, sd);
  cr_assert_eq(ax_module_load_state_dict(m2, sd, true, err, sizeof err), 0, "%s", err);
  ax_pruner *q = ax_pruner_from_zeros(m2, err, sizeof err);
  cr_assert_not_null(q, "%s", err);
  cr_assert_float_eq(ax_pruner_sparsity(q), ax_pruner_sparsity(p), 1e-12);
  int64_t n = 0, z = 0;
  ax_prune_layer l[4];
  cr_assert_eq(ax_prune_report(m2, l, 4, &n, &z), 3);
  cr_assert_eq(n, 8 * 27 + 16 * 128 + 5 * 16);
  cr_assert_eq(z, l[0].zeros + l[1].zeros + l[2].zeros);
  cr_assert_eq(l[1].zeros, 1024);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  cr_assert_eq(ax_prune_report_print(m2, f), 0);
  fclose(f);
  cr_assert(strstr(buf, "3.weight") && strstr(buf, "50.00%") && strstr(buf, "total"), "%s", buf);
  free(buf);
  ax_state_dict_free(sd);
  ax_pruner_free(p);
  ax_pruner_free(q);
  ax_module_free(m);
  ax_module_free(m2);
}

Test(prune, a_sparsity_outside_0_1_is_an_error_and_changes_nothing) {
  ax_module *m = small_model();
  double bad[] = {-0.1, 1.0, 1.5, NAN};
  for (int i = 0; i < 4; i++) {
    char err[256] = "";
    cr_assert_null(ax_prune_magnitude(m, &(ax_prune_spec){.sparsity = bad[i]}, err, sizeof err));
    cr_assert(strstr(err, "outside [0, 1)"), "%s", err);
  }
  cr_assert_eq(zeros_of(ax_module_tensor(m, "3.weight")), 0);
  char err[256] = "";
  cr_assert_null(ax_prune_magnitude(m, &(ax_prune_spec){.sparsity = 0.5, .structured = true, .norm = 3}, err,
                                    sizeof err));
  cr_assert(strstr(err, "L1 or L2"), "%s", err);
  ax_pruner *p = ax_prune_magnitude(m, &(ax_prune_spec){.sparsity = 0}, err, sizeof err);
  cr_assert_not_null(p, "%s", err);
  cr_assert_eq(ax_pruner_sparsity(p), 0.0);
  ax_pruner_free(p);
  ax_module_free(m);
}

/* ---- k-fold ---- */

Test(prune, kfold_folds_are_disjoint_cover_all_and_stratify) {
  enum { N = 103, K = 5, C = 4 };
  int64_t y[N];
  for (int i = 0; i < N; i++) y[i] = (i * 7 + i / 3) % C == 3 ? 3 : (i % 5 == 0 ? 1 : (i % 3 == 0 ? 2 : 0));
  int64_t class_n[C] = {0};
  for (int i = 0; i < N; i++) class_n[y[i]]++;
  for (int strat = 0; strat < 2; strat++) {
    int fold[N];
    char err[256] = "";
    for (int i = 0; i < N; i++) fold[i] = -1;
    cr_assert_eq(ax_kfold_indices(y, N, K, strat, 42, fold, err, sizeof err), 0, "%s", err);
    int64_t size[K] = {0}, per[K][C] = {{0}};
    for (int i = 0; i < N; i++) {
      cr_assert(fold[i] >= 0 && fold[i] < K, "sample %d in no fold", i); /* every sample in exactly one fold */
      size[fold[i]]++;
      per[fold[i]][y[i]]++;
    }
    for (int f = 0; f < K; f++) {
      cr_assert(size[f] == N / K || size[f] == N / K + 1, "fold %d holds %ld", f, (long)size[f]);
      for (int c = 0; c < C && strat; c++)
        cr_assert(per[f][c] == class_n[c] / K || per[f][c] == (class_n[c] + K - 1) / K, "fold %d class %d: %ld of %ld",
                  f, c, (long)per[f][c], (long)class_n[c]);
    }
    int again[N];
    cr_assert_eq(ax_kfold_indices(y, N, K, strat, 42, again, err, sizeof err), 0);
    cr_assert_eq(memcmp(fold, again, sizeof fold), 0, "the same seed, the same folds");
  }
}

Test(prune, kfold_refuses_one_fold_and_more_folds_than_samples) {
  int64_t y[3] = {0, 1, 0};
  int fold[3];
  char err[256] = "";
  cr_assert_eq(ax_kfold_indices(y, 3, 1, true, 0, fold, err, sizeof err), -1);
  cr_assert(strstr(err, "at least 2 folds"), "%s", err);
  cr_assert_eq(ax_kfold_indices(y, 3, 5, true, 0, fold, err, sizeof err), -1);
  cr_assert(strstr(err, "5 folds need at least 5 samples"), "%s", err);
  int64_t neg[3] = {0, -1, 0};
  cr_assert_eq(ax_kfold_indices(neg, 3, 2, true, 0, fold, err, sizeof err), -1);
  cr_assert(strstr(err, "negative"), "%s", err);
}
