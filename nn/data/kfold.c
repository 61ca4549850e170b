/* SPDX-License-Identifier: BSD-3-Clause */
/* K-fold splits for cross-validation: see ax_kfold_indices in include/axon/data.h. */
#include <inttypes.h>
#include <stdlib.h>

#include "axon.h"
#include "core/fail.h"

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* A permutation of 0..n-1 from seed (Fisher-Yates). */
static void permute(int64_t *p, int64_t n, uint64_t seed) {
  uint64_t s = seed ^ 0x6b666f6c64ull; /* "kfold" */
  for (int64_t i = 0; i < n; i++) p[i] = i;
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)(splitmix64(&s) % (uint64_t)(i + 1));
    int64_t t = p[i];
    p[i] = p[j], p[j] = t;
  }
}

/* order: the permutation grouped by class (a stable counting sort); -1 on a bad label. */
static int group_by_class(const int64_t *labels, const int64_t *perm, int64_t n, int64_t *order, char *err,
                          size_t errlen) {
  int64_t n_classes = 0;
  for (int64_t i = 0; i < n; i++) {
    if (labels[i] < 0) return ax__fail(err, errlen, "ax_kfold_indices: label %" PRId64 " of sample %" PRId64
                                                    " is negative (class ids start at 0)", labels[i], i);
    if (labels[i] + 1 > n_classes) n_classes = labels[i] + 1;
  }
  int64_t *start = calloc((size_t)n_classes + 1, sizeof *start);
  if (!start) return ax__fail(err, errlen, "out of host memory");
  for (int64_t i = 0; i < n; i++) start[labels[i] + 1]++;
  for (int64_t c = 0; c < n_classes; c++) start[c + 1] += start[c];
  for (int64_t i = 0; i < n; i++) order[start[labels[perm[i]]]++] = perm[i];
  free(start);
  return 0;
}

int ax_kfold_indices(const int64_t *labels, int64_t n, int k, bool stratified, uint64_t seed, int *fold_of, char *err,
                     size_t errlen) {
  if (k < 2) return ax__fail(err, errlen, "cross-validation needs at least 2 folds (got %d)", k);
  if (n < k)
    return ax__fail(err, errlen, "%d folds need at least %d samples, there are %" PRId64 " (every fold validates on "
                                 "at least one)", k, k, n);
  if (!fold_of || (stratified && !labels)) return ax__fail(err, errlen, "ax_kfold_indices: missing arrays");
  int64_t *perm = malloc((size_t)n * sizeof *perm), *order = malloc((size_t)n * sizeof *order);
  int rc = perm && order ? 0 : ax__fail(err, errlen, "out of host memory");
  if (!rc) permute(perm, n, seed);
  if (!rc && stratified) rc = group_by_class(labels, perm, n, order, err, errlen);
  const int64_t *o = stratified ? order : perm;
  for (int64_t i = 0; i < n && !rc; i++) fold_of[o[i]] = (int)(i % k);
  free(perm);
  free(order);
  return rc;
}
