/* SPDX-License-Identifier: BSD-3-Clause */
/* Containers: Sequential, and the pre-activation residual block. */
#include <stdarg.h>
#include <stdlib.h>

#include "axon.h"

/* ---------------- Sequential ---------------- */

static ax_tensor *sequential_forward(ax_module *m, ax_tensor *x) {
  int n = ax_module_num_children(m);
  for (int i = 0; i < n && x; i++) x = ax_module_forward(ax_module_child_at(m, i), x);
  return x;
}

static const ax_module_type sequential_type = {"Sequential", sequential_forward, NULL, NULL};

ax_module *ax_nn_sequential(int n, ...) {
  va_list ap;
  va_start(ap, n);
  ax_module **items = n > 0 ? malloc((size_t)n * sizeof *items) : NULL;
  bool any_null = n < 0 || (n > 0 && !items);
  for (int i = 0; i < n; i++) {
    ax_module *c = va_arg(ap, ax_module *);
    if (items) items[i] = c;
    if (!c) any_null = true;
  }
  va_end(ap);
  ax_module *seq = any_null ? NULL : ax_module_new(&sequential_type, 0);
  for (int i = 0; i < n && items; i++) {
    if (seq) {
      if (!ax_nn_sequential_add(seq, items[i])) {
        ax_module_free(seq);
        seq = NULL;
      }
    } else {
      ax_module_free(items[i]);
    }
  }
  free(items);
  return seq;
}

ax_module *ax_nn_sequential_named(int n, const char *const *names, ax_module *const *mods) {
  ax_module *seq = ax_module_new(&sequential_type, 0);
  bool ok = seq != NULL && n >= 0;
  for (int i = 0; i < n; i++) {
    if (ok && mods[i]) ok = ax_nn_sequential_add_named(seq, names[i], mods[i]) != NULL;
    else {
      ok = false;
      ax_module_free(mods[i]);
    }
  }
  if (!ok) {
    ax_module_free(seq);
    return NULL;
  }
  return seq;
}

ax_module *ax_nn_sequential_add(ax_module *seq, ax_module *m) {
  char name[24];
  snprintf(name, sizeof name, "%d", ax_module_num_children(seq));
  return ax_nn_sequential_add_named(seq, name, m);
}

ax_module *ax_nn_sequential_add_named(ax_module *seq, const char *name, ax_module *m) {
  if (!seq || ax_module_type_name(seq) != sequential_type.name) {
    if (seq) ax_error("ax_nn_sequential_add: expected a Sequential, got %s", ax_module_type_name(seq));
    ax_module_free(m);
    return NULL;
  }
  return ax_module_add_child(seq, name, m);
}

/* ---------------- pre-activation residual block ---------------- */

typedef struct preact_impl {
  ax_module *bn1, *conv1, *bn2, *conv2, *shortcut; /* borrowed from the children */
} preact_impl;

static ax_tensor *preact_forward(ax_module *m, ax_tensor *x) {
  preact_impl *p = ax_module_impl(m);
  ax_tensor *a = ax_relu(ax_module_forward(p->bn1, x));
  ax_tensor *skip = p->shortcut ? ax_module_forward(p->shortcut, a) : x;
  ax_tensor *h = ax_module_forward(p->conv1, a);
  h = ax_module_forward(p->conv2, ax_relu(ax_module_forward(p->bn2, h)));
  return ax_add(h, skip);
}

static const ax_module_type preact_type = {"PreActBlock", preact_forward, NULL, NULL};

ax_module *ax_nn_preact_block(int64_t in_channels, int64_t out_channels, int stride) {
  if (stride <= 0) stride = 1;
  ax_module *m = ax_module_new(&preact_type, sizeof(preact_impl));
  if (!m) return NULL;
  preact_impl *p = ax_module_impl(m);
  ax_nn_conv2d_opts c3 = {.stride = stride, .padding = 1, .no_bias = true};
  p->bn1 = ax_module_add_child(m, "bn1", ax_nn_batch_norm2d(in_channels, NULL));
  p->conv1 = ax_module_add_child(m, "conv1", ax_nn_conv2d(in_channels, out_channels, 3, &c3));
  p->bn2 = ax_module_add_child(m, "bn2", ax_nn_batch_norm2d(out_channels, NULL));
  c3.stride = 1;
  p->conv2 = ax_module_add_child(m, "conv2", ax_nn_conv2d(out_channels, out_channels, 3, &c3));
  bool ok = p->bn1 && p->conv1 && p->bn2 && p->conv2;
  if (ok && (stride != 1 || in_channels != out_channels)) {
    ax_nn_conv2d_opts c1 = {.stride = stride, .no_bias = true};
    p->shortcut = ax_module_add_child(m, "shortcut", ax_nn_conv2d(in_channels, out_channels, 1, &c1));
    ok = p->shortcut != NULL;
  }
  if (!ok) {
    ax_module_free(m);
    return NULL;
  }
  return m;
}
