/* SPDX-License-Identifier: BSD-3-Clause */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
/* Training checkpoints (include/axon/train.h), and train/'s small shared helpers. */
#include "axon.h"

#include <errno.h>
#include <sys/stat.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <time.h>

#include "train/internal.h"

double ax__train_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void add_prefixed(ax_state_dict *dst, const ax_state_dict *src, const char *prefix) {
  char name[600];
  for (int i = 0; i < ax_state_dict_size(src); i++) {
    snprintf(name, sizeof name, "%s%s", prefix, ax_state_dict_name(src, i));
    ax_state_dict_set(dst, name, ax_state_dict_tensor(src, i));
  }
}

ax_state_dict *ax_checkpoint_collect(ax_module *model, ax_optimizer *opt) {
  ax_state_dict *m = ax_state_dict_new(), *o = ax_state_dict_new(), *sd = ax_state_dict_new();
  ax_module_state_dict(model, m);
  ax_optimizer_state_dict(opt, o);
  add_prefixed(sd, m, "model.");
  add_prefixed(sd, o, "optimizer.");
  ax_state_dict_free(m);
  ax_state_dict_free(o);
  return sd;
}

/* the entries of sd named prefix + x, as x */
static void split_prefixed(const ax_state_dict *sd, const char *prefix, ax_state_dict *out) {
  size_t k = strlen(prefix);
  for (int i = 0; i < ax_state_dict_size(sd); i++)
    if (!strncmp(ax_state_dict_name(sd, i), prefix, k))
      ax_state_dict_set(out, ax_state_dict_name(sd, i) + k, ax_state_dict_tensor(sd, i));
}

/* The first NaN or infinity among the floating-point tensors of sd: a run resumed from
 * one would go on with loss NaN. 0, or -1 naming the tensor and the element. */
static int check_finite(const ax_state_dict *sd, const char *path, char *err, size_t errlen) {
  double *v = NULL;
  size_t cap = 0;
  int rc = 0;
  for (int i = 0; i < ax_state_dict_size(sd) && rc == 0; i++) {
    ax_tensor *t = ax_state_dict_tensor(sd, i);
    if (!ax_dtype_is_float(t->dtype) || ax_numel(t) == 0) continue;
    size_t n = (size_t)ax_numel(t);
    if (n > cap) {
      double *q = realloc(v, n * sizeof *v);
      if (!q) {
        rc = ax__fail(err, errlen, "%s: out of memory checking tensor %s", path, ax_state_dict_name(sd, i));
        break;
      }
      v = q;
      cap = n;
    }
    ax_scope_begin();
    ax_tensor *h = ax_cast(ax_to(t, AX_CPU), AX_F64);
    if (!h || ax_to_data(h, v, n * sizeof *v) != 0)
      rc = ax__fail(err, errlen, "%s: cannot read tensor %s: %s", path, ax_state_dict_name(sd, i), ax_last_error());
    ax_scope_end();
    for (size_t k = 0; k < n && rc == 0; k++)
      if (!isfinite(v[k]))
        rc = ax__fail(err, errlen, "%s: tensor %s holds %s at element %zu: the run that wrote it had diverged, "
                          "or the file is corrupt", path, ax_state_dict_name(sd, i), isnan(v[k]) ? "NaN" : v[k] > 0 ? "inf" : "-inf", k);
  }
  free(v);
  return rc;
}

int ax_checkpoint_restore(const ax_state_dict *sd, ax_module *model, ax_optimizer *opt, const char *path, char *err,
                          size_t errlen) {
  if (check_finite(sd, path, err, errlen)) return -1;
  ax_state_dict *m = ax_state_dict_new(), *o = ax_state_dict_new();
  split_prefixed(sd, "model.", m);
  split_prefixed(sd, "optimizer.", o);
  char e[512];
  int rc = 0;
  if (ax_module_load_state_dict(model, m, true, e, sizeof e) != 0 ||
      ax_optimizer_load_state_dict(opt, o, e, sizeof e) != 0)
    rc = ax__fail(err, errlen, "%s: %s", path, e);
  ax_state_dict_free(m);
  ax_state_dict_free(o);
  return rc;
}

int ax_checkpoint_meta_i64(const ax_state_dict *sd, const char *key, int64_t lo, int64_t hi, int64_t *v,
                           const char *path, char *err, size_t n) {
  const char *s = ax_state_dict_meta(sd, key);
  char *end;
  if (!s || !*s) return ax__fail(err, n, "%s: not an axon training checkpoint (no %s)", path, key);
  errno = 0;
  long long x = strtoll(s, &end, 10);
  if (errno || *end) return ax__fail(err, n, "%s: bad %s '%s' (not a whole number)", path, key, s);
  if (x < lo || x > hi)
    return ax__fail(err, n, "%s: %s %lld is out of range (%" PRId64 " to %" PRId64 ")", path, key, x, lo, hi);
  *v = x;
  return 0;
}

int ax_checkpoint_meta_u64(const ax_state_dict *sd, const char *key, uint64_t *v, const char *path, char *err, size_t n) {
  const char *s = ax_state_dict_meta(sd, key);
  char *end;
  if (!s || !*s) return ax__fail(err, n, "%s: not an axon training checkpoint (no %s)", path, key);
  errno = 0;
  unsigned long long x = strtoull(s, &end, 10);
  if (errno || *end || *s < '0' || *s > '9')
    return ax__fail(err, n, "%s: bad %s '%s' (not a whole number from 0 to 2^64-1)", path, key, s);
  *v = x;
  return 0;
}

int ax_checkpoint_meta_f64(const ax_state_dict *sd, const char *key, double lo, double hi, double *v, const char *path,
                     char *err, size_t n) {
  const char *s = ax_state_dict_meta(sd, key);
  char *end;
  if (!s || !*s) return ax__fail(err, n, "%s: not an axon training checkpoint (no %s)", path, key);
  double x = strtod(s, &end);
  if (*end) return ax__fail(err, n, "%s: bad %s '%s' (not a number)", path, key, s);
  if (!(x >= lo && x <= hi)) return ax__fail(err, n, "%s: %s %s is out of range (%g to %g)", path, key, s, lo, hi);
  *v = x;
  return 0;
}

int ax_checkpoint_meta_set_u64(ax_state_dict *sd, const char *key, uint64_t v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%" PRIu64, v);
  return ax_state_dict_set_meta(sd, key, buf);
}

int ax_checkpoint_meta_set_i64(ax_state_dict *sd, const char *key, int64_t v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%" PRId64, v);
  return ax_state_dict_set_meta(sd, key, buf);
}

void ax__checkpoint_add_optimizer(ax_state_dict *sd, ax_optimizer *opt, const char *prefix) {
  ax_state_dict *o = ax_state_dict_new();
  ax_optimizer_state_dict(opt, o);
  add_prefixed(sd, o, prefix);
  ax_state_dict_free(o);
}

int ax__checkpoint_load_optimizer(const ax_state_dict *sd, ax_optimizer *opt, const char *prefix, const char *path,
                                  char *err, size_t errlen) {
  ax_state_dict *o = ax_state_dict_new();
  split_prefixed(sd, prefix, o);
  char e[512];
  int rc = 0;
  if (ax_optimizer_load_state_dict(opt, o, e, sizeof e) != 0) rc = ax__fail(err, errlen, "%s: %s%s", path, prefix, e);
  ax_state_dict_free(o);
  return rc;
}
