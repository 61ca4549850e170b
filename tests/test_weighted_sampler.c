/* SPDX-License-Identifier: BSD-3-Clause */
/* The weighted sampler (ax_weighted_sample and the loader's sample_weights): draw
 * frequencies against the weights by a chi-square bound, zero weights never drawn,
 * determinism (same seed and epoch: same draws; draw j independent of how many are
 * drawn; prefetch or not), and bad weights refused with a reason. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static void setup(void) { ax_scope_begin(); }
static void teardown(void) { ax_scope_end(); }
TestSuite(weighted_sampler, .init = setup, .fini = teardown);

/* Pearson's statistic of counts against probabilities p (entries with p = 0 skipped). */
static double chi2(const int64_t *count, const double *p, int k, int64_t m) {
  double s = 0;
  for (int i = 0; i < k; i++)
    if (p[i] > 0) s += (count[i] - m * p[i]) * (count[i] - m * p[i]) / (m * p[i]);
  return s;
}

/* 99.9999% quantile of chi-square with 3 and 4 degrees of freedom: a correct sampler
 * exceeds it with probability 1e-6 for a fresh seed (here the seeds are fixed, so the
 * test is deterministic); a sampler ignoring the weights exceeds it by orders of magnitude. */
#define CHI2_3DOF_1E6 30.66
#define CHI2_4DOF_1E6 33.38

Test(weighted_sampler, frequencies_follow_the_weights) {
  const double w[5] = {1, 2, 3, 0, 4};
  double p[5];
  for (int i = 0; i < 5; i++) p[i] = w[i] / 10;
  enum { M = 200000 };
  int64_t *out = malloc(M * sizeof *out);
  char err[256] = "";
  for (uint64_t seed = 1; seed <= 3; seed++)
    for (int epoch = 0; epoch < 2; epoch++) {
      cr_assert_eq(ax_weighted_sample(w, 5, M, seed, epoch, out, err, sizeof err), 0, "%s", err);
      int64_t count[5] = {0};
      for (int j = 0; j < M; j++) {
        cr_assert(out[j] >= 0 && out[j] < 5);
        count[out[j]]++;
      }
      cr_expect_eq(count[3], 0, "a zero weight was drawn %lld times", (long long)count[3]);
      double x = chi2(count, p, 5, M);
      cr_expect_lt(x, CHI2_3DOF_1E6, "seed %llu epoch %d: chi2 %g, counts %lld %lld %lld %lld %lld",
                   (unsigned long long)seed, epoch, x, (long long)count[0], (long long)count[1],
                   (long long)count[2], (long long)count[3], (long long)count[4]);
      /* and it is not trivially exact: uniform counts would be far off */
      double u[5] = {0.2, 0.2, 0.2, 0.2, 0.2};
      cr_expect_gt(chi2(count, u, 5, M), 1000);
    }
  free(out);
}

Test(weighted_sampler, deterministic) {
  const double w[4] = {0.5, 0.25, 0.125, 0.125};
  int64_t a[100], b[100], c[40], d[100];
  cr_assert_eq(ax_weighted_sample(w, 4, 100, 7, 3, a, NULL, 0), 0);
  cr_assert_eq(ax_weighted_sample(w, 4, 100, 7, 3, b, NULL, 0), 0);
  cr_assert_eq(ax_weighted_sample(w, 4, 40, 7, 3, c, NULL, 0), 0);
  cr_assert_eq(ax_weighted_sample(w, 4, 100, 7, 4, d, NULL, 0), 0);
  cr_expect_eq(memcmp(a, b, sizeof a), 0);
  cr_expect_eq(memcmp(a, c, sizeof c), 0, "draw j depends on j only");
  cr_expect_neq(memcmp(a, d, sizeof a), 0, "another epoch draws differently");
  cr_assert_eq(ax_weighted_sample(w, 4, 100, 8, 3, d, NULL, 0), 0);
  cr_expect_neq(memcmp(a, d, sizeof a), 0, "another seed draws differently");
}

Test(weighted_sampler, bad_weights) {
  char err[256];
  int64_t out[4];
  cr_expect_eq(ax_weighted_sample((double[]){1, -1}, 2, 4, 1, 0, out, err, sizeof err), -1);
  cr_expect(strstr(err, "weight 1 is -1"), "%s", err);
  cr_expect_eq(ax_weighted_sample((double[]){0, 0}, 2, 4, 1, 0, out, err, sizeof err), -1);
  cr_expect(strstr(err, "sum to 0"), "%s", err);
  cr_expect_eq(ax_weighted_sample((double[]){1, NAN}, 2, 4, 1, 0, out, err, sizeof err), -1);
  cr_expect(strstr(err, "weight 1"), "%s", err);
  cr_expect_eq(ax_weighted_sample((double[]){1, INFINITY}, 2, 4, 1, 0, out, err, sizeof err), -1);
  cr_expect_eq(ax_weighted_sample((double[]){1}, 0, 4, 1, 0, out, err, sizeof err), -1);
  cr_expect_eq(ax_weighted_sample((double[]){1}, 1, -1, 1, 0, out, err, sizeof err), -1);
  cr_expect(strstr(err, "num_samples"), "%s", err);
}

/* 40 one-pixel images whose pixel is the sample's index; labels: 28 of class 0, 4 each of 1..3. */
static ax_dataset *imbalanced(void) {
  uint8_t px[40];
  int64_t lab[40];
  for (int i = 0; i < 40; i++) {
    px[i] = (uint8_t)i;
    lab[i] = i < 28 ? 0 : 1 + (i - 28) / 4;
  }
  char err[256] = "";
  ax_dataset *ds = ax_dataset_new(ax_from_data(px, AX_SHAPE(40, 1, 1, 1), &(ax_tensor_opts){.dtype = AX_U8}),
                                  ax_from_data(lab, AX_SHAPE(40), &(ax_tensor_opts){.dtype = AX_I64}), err, sizeof err);
  cr_assert_not_null(ds, "%s", err);
  return ds;
}

/* Inverse class frequency weights balance the classes; sample 5 (weight 0) never comes. */
Test(weighted_sampler, loader_balances_classes) {
  ax_dataset *ds = imbalanced();
  double w[40];
  for (int i = 0; i < 40; i++) w[i] = i == 5 ? 0 : i < 28 ? 1.0 / 27 : 1.0 / 4;
  int64_t firsts[2][64];
  for (int pf = 0; pf < 2; pf++) {
    char err[256] = "";
    ax_loader *ld = ax_loader_new(ds, &(ax_loader_opts){.batch_size = 64, .seed = 11, .sample_weights = w,
                                                        .num_samples = 8000, .prefetch = pf, .shuffle = true},
                                  err, sizeof err);
    cr_assert_not_null(ld, "%s", err);
    cr_assert_eq(ax_loader_num_batches(ld), 125);
    for (int epoch = 0; epoch < 2; epoch++) {
      ax_loader_start_epoch(ld, epoch);
      int64_t count[4] = {0}, n = 0;
      ax_tensor *x, *y;
      int64_t b = 0;
      while (ax_loader_next(ld, &x, &y) == 1) {
        for (int64_t i = 0; i < y->shape[0]; i++) {
          int idx = (int)lround(tu_get(x, i) * 255);
          cr_assert_neq(idx, 5, "a sample of weight 0 was drawn");
          count[(int)tu_get(y, i)]++;
          if (epoch == 1 && b == 0) firsts[pf][i] = idx;
          n++;
        }
        b++;
      }
      cr_assert_eq(n, 8000);
      double p[4] = {0.25, 0.25, 0.25, 0.25}, x2 = chi2(count, p, 4, n);
      cr_expect_lt(x2, CHI2_3DOF_1E6, "prefetch %d epoch %d: chi2 %g (class counts %lld %lld %lld %lld)", pf, epoch, x2,
                   (long long)count[0], (long long)count[1], (long long)count[2], (long long)count[3]);
    }
    ax_loader_free(ld);
  }
  cr_expect_eq(memcmp(firsts[0], firsts[1], sizeof firsts[0]), 0, "prefetch changes the draws");
  /* the draws are those of ax_weighted_sample */
  int64_t want[64];
  cr_assert_eq(ax_weighted_sample(w, 40, 64, 11, 1, want, NULL, 0), 0);
  cr_expect_eq(memcmp(firsts[0], want, sizeof want), 0);
  /* bad weights: a reason from ax_loader_new */
  char err[256] = "";
  w[3] = -2;
  cr_expect_null(ax_loader_new(ds, &(ax_loader_opts){.batch_size = 8, .sample_weights = w}, err, sizeof err));
  cr_expect(strstr(err, "ax_loader_new") && strstr(err, "weight 3"), "%s", err);
  ax_dataset_free(ds);
}

/* With indices, the weights are per entry of indices; num_samples 0 draws as many as entries. */
Test(weighted_sampler, loader_with_indices) {
  ax_dataset *ds = imbalanced();
  int64_t idx[5] = {30, 2, 39, 17, 33};
  double w[5] = {0, 1, 0, 1, 2};
  char err[256] = "";
  ax_loader *ld = ax_loader_new(ds, &(ax_loader_opts){.batch_size = 7, .seed = 3, .indices = idx, .n_indices = 5,
                                                      .sample_weights = w},
                                err, sizeof err);
  cr_assert_not_null(ld, "%s", err);
  cr_assert_eq(ax_loader_num_batches(ld), 1);
  ax_tensor *x, *y;
  cr_assert_eq(ax_loader_next(ld, &x, &y), 1);
  cr_assert_eq(x->shape[0], 5);
  int64_t want[5];
  cr_assert_eq(ax_weighted_sample(w, 5, 5, 3, 0, want, NULL, 0), 0);
  for (int i = 0; i < 5; i++) {
    int s = (int)lround(tu_get(x, i) * 255);
    cr_expect(s == 2 || s == 17 || s == 33, "drew sample %d", s);
    cr_expect_eq(s, idx[want[i]]);
  }
  ax_loader_free(ld);
  ax_dataset_free(ds);
}
