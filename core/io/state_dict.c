/* SPDX-License-Identifier: BSD-3-Clause */
#define _POSIX_C_SOURCE 200809L
/* ax_state_dict: an ordered name -> tensor map holding one reference per tensor. */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "core/fail.h"

typedef struct sd_entry {
  char *name;
  ax_tensor *tensor;
} sd_entry;

typedef struct sd_meta {
  char *key, *value;
} sd_meta;

struct ax_state_dict {
  sd_entry *items;
  int n, cap;
  sd_meta *meta;
  int n_meta, cap_meta;
};

ax_state_dict *ax_state_dict_new(void) { return calloc(1, sizeof(ax_state_dict)); }

void ax_state_dict_free(ax_state_dict *sd) {
  if (!sd) return;
  for (int i = 0; i < sd->n; i++) {
    free(sd->items[i].name);
    ax_free(sd->items[i].tensor);
  }
  for (int i = 0; i < sd->n_meta; i++) {
    free(sd->meta[i].key);
    free(sd->meta[i].value);
  }
  free(sd->items);
  free(sd->meta);
  free(sd);
}

static int sd_find(const ax_state_dict *sd, const char *name) {
  for (int i = 0; i < sd->n; i++)
    if (strcmp(sd->items[i].name, name) == 0) return i;
  return -1;
}

/* Grows *buf (of elements of size elem) so that it holds at least need; 0 or -1. */
static int sd_grow(void **buf, int *cap, int need, size_t elem) {
  if (need <= *cap) return 0;
  int c = *cap ? *cap * 2 : 16;
  while (c < need) c *= 2;
  void *p = realloc(*buf, (size_t)c * elem);
  if (!p) return -1;
  *buf = p;
  *cap = c;
  return 0;
}

int ax_state_dict_set(ax_state_dict *sd, const char *name, ax_tensor *t) {
  if (!sd || !name || !t) return -1;
  int i = sd_find(sd, name);
  if (i >= 0) {
    ax_tensor *old = sd->items[i].tensor;
    sd->items[i].tensor = ax_retain(t);
    ax_free(old);
    return 0;
  }
  if (sd_grow((void **)&sd->items, &sd->cap, sd->n + 1, sizeof(sd_entry))) return -1;
  char *copy = strdup(name);
  if (!copy) return -1;
  sd->items[sd->n].name = copy;
  sd->items[sd->n].tensor = ax_retain(t);
  sd->n++;
  return 0;
}

ax_tensor *ax_state_dict_get(const ax_state_dict *sd, const char *name) {
  if (!sd || !name) return NULL;
  int i = sd_find(sd, name);
  return i < 0 ? NULL : sd->items[i].tensor;
}

int ax_state_dict_size(const ax_state_dict *sd) { return sd ? sd->n : 0; }

const char *ax_state_dict_name(const ax_state_dict *sd, int i) {
  return sd && i >= 0 && i < sd->n ? sd->items[i].name : NULL;
}

ax_tensor *ax_state_dict_tensor(const ax_state_dict *sd, int i) {
  return sd && i >= 0 && i < sd->n ? sd->items[i].tensor : NULL;
}

int ax_state_dict_set_meta(ax_state_dict *sd, const char *key, const char *value) {
  if (!sd || !key || !value) return -1;
  for (int i = 0; i < sd->n_meta; i++) {
    if (strcmp(sd->meta[i].key, key) == 0) {
      char *v = strdup(value);
      if (!v) return -1;
      free(sd->meta[i].value);
      sd->meta[i].value = v;
      return 0;
    }
  }
  if (sd_grow((void **)&sd->meta, &sd->cap_meta, sd->n_meta + 1, sizeof(sd_meta))) return -1;
  sd_meta m = {strdup(key), strdup(value)};
  if (!m.key || !m.value) {
    free(m.key);
    free(m.value);
    return -1;
  }
  sd->meta[sd->n_meta++] = m;
  return 0;
}

const char *ax_state_dict_meta(const ax_state_dict *sd, const char *key) {
  if (!sd || !key) return NULL;
  for (int i = 0; i < sd->n_meta; i++)
    if (strcmp(sd->meta[i].key, key) == 0) return sd->meta[i].value;
  return NULL;
}

int ax__state_dict_replace_meta(ax_state_dict *sd, const ax_state_dict *src) {
  sd_meta *m = NULL;
  int cap = 0;
  if (src->n_meta && sd_grow((void **)&m, &cap, src->n_meta, sizeof *m)) return -1;
  for (int i = 0; i < src->n_meta; i++) {
    m[i].key = strdup(src->meta[i].key);
    m[i].value = strdup(src->meta[i].value);
    if (!m[i].key || !m[i].value) {
      for (int k = 0; k <= i; k++) {
        free(m[k].key);
        free(m[k].value);
      }
      free(m);
      return -1;
    }
  }
  for (int i = 0; i < sd->n_meta; i++) {
    free(sd->meta[i].key);
    free(sd->meta[i].value);
  }
  free(sd->meta);
  sd->meta = m;
  sd->n_meta = src->n_meta;
  sd->cap_meta = cap;
  return 0;
}

int ax_state_dict_meta_count(const ax_state_dict *sd) { return sd ? sd->n_meta : 0; }
const char *ax_state_dict_meta_key(const ax_state_dict *sd, int i) {
  return sd && i >= 0 && i < sd->n_meta ? sd->meta[i].key : NULL;
}

int ax_state_copy_into(ax_tensor *dst, ax_tensor *src, const char *name, char *err, size_t errlen) {
  if (!dst || !src) {
    ax__fail(err, errlen, "%s: missing tensor", name ? name : "?");
    return -1;
  }
  bool same = dst->ndim == src->ndim;
  for (int d = 0; same && d < dst->ndim; d++) same = dst->shape[d] == src->shape[d];
  if (!same) {
    if (err) {
      char a[128], b[128];
      snprintf(a, sizeof a, "%s", ax__shp(dst));
      snprintf(b, sizeof b, "%s", ax__shp(src));
      snprintf(err, errlen, "%s: shape %s in the file does not fit the model's %s", name ? name : "?", b, a);
    }
    return -1;
  }
  if (!ax_dtype_is_float(dst->dtype) && src->dtype != dst->dtype) {
    /* a value that does not fit an integer buffer (1e300 into num_batches_tracked, NaN,
     * 2.5) would be undefined to convert: refuse it, naming the element */
    double lo = dst->dtype == AX_I32 ? -2147483648.0 : dst->dtype == AX_I64 ? -9223372036854775808.0 : 0;
    double hi = dst->dtype == AX_I32 ? 2147483647.0 : dst->dtype == AX_I64 ? 0x1.fffffffffffffp62
              : dst->dtype == AX_U8 ? 255 : 1;
    ax_scope_begin();
    ax_tensor *h = ax_cast(ax_to(src, AX_CPU), AX_F64);
    int64_t n = ax_numel(src);
    double *v = h ? malloc((size_t)(n > 0 ? n : 1) * sizeof *v) : NULL;
    int bad = !v || ax_to_data(h, v, (size_t)n * sizeof *v) != 0 ? -2 : -1;
    int64_t at = -1;
    if (bad == -1)
      for (int64_t i = 0; i < n && at < 0; i++)
        if (!(v[i] >= lo && v[i] <= hi && v[i] == (double)(int64_t)v[i])) at = i;
    double x = at >= 0 ? v[at] : 0;
    free(v);
    ax_scope_end();
    if (bad == -2) {
      ax__fail(err, errlen, "%s: cannot read the tensor: %s", name ? name : "?", ax_last_error());
      return -1;
    }
    if (at >= 0) {
      if (err)
        snprintf(err, errlen, "%s: element %lld is %g, which a %s tensor cannot hold (integers %.0f to %.0f)",
                 name ? name : "?", (long long)at, x, ax_dtype_name(dst->dtype), lo, hi);
      return -1;
    }
  }
  ax_no_grad_begin();
  ax_scope_begin(); /* a file's tensors are on the CPU; the model's may be on a GPU */
  ax_tensor *moved = ax_device_eq(dst->device, src->device) ? src : ax_to(src, dst->device);
  int rc = moved ? ax_copy_(dst, moved) : -1;
  ax_scope_end();
  ax_no_grad_end();
  if (rc != 0) ax__fail(err, errlen, "%s: %s", name ? name : "?", ax_last_error());
  return rc;
}
