/* SPDX-License-Identifier: BSD-3-Clause */
/* The optimizer machinery every kind shares: parameters, lazily created state,
 * the step (grouped into fused kernel calls), learning rate, state dicts. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "optim/optim_internal.h"
#include "core/fail.h"

double ax__opt_or(double v, double def) {
  if (v == AX_OPTIM_ZERO) return 0;
  return v == 0 ? def : v;
}

bool ax__optim_check_common(const char *op, ax_tensor *const *params, int n, const ax_optim_args *a) {
  if (!(a->lr > 0) || !isfinite(a->lr)) {
    ax_error("%s: lr must be a positive number (it has no default), got %g", op, a->lr);
    return false;
  }
  if (!(a->weight_decay >= 0) || !(a->l1 >= 0) || !(a->grad_scale > 0) || !isfinite(a->grad_scale)) {
    ax_error("%s: weight_decay and l1 must be >= 0 and grad_scale > 0 (got %g, %g, %g)", op, a->weight_decay, a->l1,
             a->grad_scale);
    return false;
  }
  if (n <= 0 || !params) {
    ax_error("%s: got an empty parameter list (n = %d)", op, n);
    return false;
  }
  for (int i = 0; i < n; i++) {
    ax_tensor *p = params[i];
    if (!p) {
      ax_error("%s: parameter %d is NULL", op, i);
      return false;
    }
    if (!ax_dtype_is_float(p->dtype)) {
      ax_error("%s: parameter %d must be floating-point, got %s %s", op, i, ax_dtype_name(p->dtype), ax__shp(p));
      return false;
    }
    if (p->grad_fn) {
      ax_error("%s: parameter %d %s is not a leaf (it was computed by '%s')", op, i, ax__shp(p), p->grad_fn->name);
      return false;
    }
    for (int j = 0; j < i; j++)
      if (params[j] == p) {
        ax_error("%s: parameter %d %s appears twice in the list (also at %d)", op, i, ax__shp(p), j);
        return false;
      }
  }
  return true;
}

ax_optimizer *ax__optimizer_new(const char *op, const char *name, const ax_optim_args *a, ax_tensor *const *params,
                                int n, const char *s0, const char *s1, const char *s2) {
  if (!ax__optim_check_common(op, params, n, a)) return NULL;
  ax_optimizer *o = calloc(1, sizeof *o);
  if (o) {
    o->params = calloc((size_t)n, sizeof *o->params);
    o->param_steps = calloc((size_t)n, sizeof *o->param_steps);
    for (int k = 0; k < AX_OPTIM_STATES; k++) o->state[k] = calloc((size_t)n, sizeof(ax_tensor *));
  }
  if (!o || !o->params || !o->param_steps || !o->state[0] || !o->state[1] || !o->state[2]) {
    ax_error("%s: out of host memory for %d parameters", op, n);
    if (o) free(o->params), free(o->param_steps), free(o->state[0]), free(o->state[1]), free(o->state[2]), free(o);
    return NULL;
  }
  o->name = name;
  o->op = op;
  o->args = *a;
  o->n = n;
  o->state_names[0] = s0, o->state_names[1] = s1, o->state_names[2] = s2;
  for (int i = 0; i < n; i++) o->params[i] = ax_retain(params[i]);
  return o;
}

static void drop_state(ax_optimizer *o, int i) {
  for (int k = 0; k < AX_OPTIM_STATES; k++) {
    ax_free(o->state[k][i]);
    o->state[k][i] = NULL;
  }
  o->param_steps[i] = 0;
}

ax_optimizer *ax_optimizer_wrap(const ax_optimizer_ops *ops, void *impl) {
  ax_optimizer *o = ops ? calloc(1, sizeof *o) : NULL;
  if (!o) {
    ax_error("ax_optimizer_wrap: %s", ops ? "out of host memory" : "no ops");
    if (ops && ops->free) ops->free(impl);
    return NULL;
  }
  o->name = ops->name;
  o->op = ops->name;
  o->ops = ops;
  o->impl = impl;
  return o;
}

void *ax_optimizer_impl(const ax_optimizer *o, const ax_optimizer_ops *ops) {
  return o && ops && o->ops == ops ? o->impl : NULL;
}

void ax_optimizer_free(ax_optimizer *o) {
  if (!o) return;
  if (o->ops) o->ops->free(o->impl);
  for (int i = 0; i < o->n; i++) {
    drop_state(o, i);
    ax_free(o->params[i]);
  }
  for (int k = 0; k < AX_OPTIM_STATES; k++) free(o->state[k]);
  free(o->params);
  free(o->param_steps);
  free(o);
}

void ax_optimizer_zero_grad(ax_optimizer *o) {
  if (o && o->ops) o->ops->zero_grad(o->impl);
  else if (o) ax_zero_grads(o->params, o->n);
}
double ax_optimizer_get_lr(const ax_optimizer *o) { return !o ? 0 : o->ops ? o->ops->get_lr(o->impl) : o->args.lr; }
void ax_optimizer_set_lr(ax_optimizer *o, double lr) {
  if (!o) return;
  if (o->ops) {
    o->ops->set_lr(o->impl, lr);
    return;
  }
  if (!(lr >= 0) || !isfinite(lr)) {
    ax_error("ax_optimizer_set_lr: lr must be a finite number >= 0, got %g", lr);
    return;
  }
  o->args.lr = lr;
}
int64_t ax_optimizer_step_count(const ax_optimizer *o) { return !o ? 0 : o->ops ? o->ops->step_count(o->impl) : o->steps; }
int ax_optimizer_num_params(const ax_optimizer *o) { return !o ? 0 : o->ops ? o->ops->num_params(o->impl) : o->n; }
const char *ax_optimizer_name(const ax_optimizer *o) { return o ? o->name : NULL; }

/* Creates parameter i's missing states (zeros; must run inside a scope). */
static int ensure_state(ax_optimizer *o, int i) {
  ax_tensor *p = o->params[i];
  ax_tensor_opts so = {.dtype = ax__optim_state_dtype(p->dtype), .device = p->device};
  for (int k = 0; k < AX_OPTIM_STATES; k++) {
    if (!o->state_names[k] || o->state[k][i]) continue;
    o->state[k][i] = ax_persist(ax_zeros(p->ndim, p->shape, &so));
    if (!o->state[k][i]) return -1;
  }
  return 0;
}

static bool check_grad(const ax_optimizer *o, int i) {
  ax_tensor *p = o->params[i], *g = p->grad;
  if (ax_device_eq(p->device, g->device) && p->dtype == g->dtype && ax_same_shape(p, g)) return true;
  ax_error("ax_optimizer_step: parameter %d is %s %s on %s but its gradient is %s %s on %s", i,
           ax_dtype_name(p->dtype), ax__shp(p), ax__dev(p->device), ax_dtype_name(g->dtype), ax__shp(g),
           ax__dev(g->device));
  return false;
}

/* Runs the kernel once per group of parameters sharing a device and a per-parameter
 * step (normally one group: everything). */
static int run_groups(ax_optimizer *o, int *todo, int m) {
  ax_tensor **buf = calloc((size_t)m * 5, sizeof *buf);
  if (!buf) {
    ax_error("ax_optimizer_step: out of host memory");
    return -1;
  }
  int rc = 0;
  for (int first = 0; first < m && rc == 0; first++) {
    int i0 = todo[first];
    if (i0 < 0) continue;
    ax_device dev = o->params[i0]->device;
    int64_t step = o->param_steps[i0];
    int g = 0;
    for (int t = first; t < m; t++) {
      int i = todo[t];
      if (i < 0 || o->param_steps[i] != step || !ax_device_eq(o->params[i]->device, dev)) continue;
      buf[g] = o->params[i];
      buf[m + g] = o->params[i]->grad;
      for (int k = 0; k < AX_OPTIM_STATES; k++) buf[(2 + k) * m + g] = o->state[k][i];
      todo[t] = -1 - i; /* taken: negative, still recoverable */
      g++;
    }
    ax_optim_args a = o->args;
    a.step = step + 1;
    a.sr_seed = ax__rng_seed();
    rc = ax__optim_step("ax_optimizer_step", &a, g, buf, buf + m, buf + 2 * m, buf + 3 * m, buf + 4 * m);
  }
  free(buf);
  return rc;
}

int ax_optimizer_step(ax_optimizer *o) {
  if (!o) return -1;
  if (o->ops) return o->ops->step(o->impl);
  int *todo = malloc(sizeof(int) * (size_t)o->n);
  if (!todo) {
    ax_error("ax_optimizer_step: out of host memory");
    return -1;
  }
  int m = 0, rc = 0;
  for (int i = 0; i < o->n && rc == 0; i++) {
    if (!o->params[i]->grad) continue;
    if (!check_grad(o, i)) rc = -1;
    todo[m++] = i;
  }
  ax_no_grad_begin();
  ax_scope_begin();
  for (int t = 0; t < m && rc == 0; t++) rc = ensure_state(o, todo[t]);
  if (rc == 0) rc = run_groups(o, todo, m);
  ax_scope_end();
  ax_no_grad_end();
  if (rc == 0) {
    for (int t = 0; t < m; t++) o->param_steps[-1 - todo[t]]++;
    o->steps++;
  }
  free(todo);
  return rc;
}

/* ---------------- state dicts ---------------- */

static void set_scalar(ax_state_dict *sd, const char *name, double v, ax_dtype dt) {
  ax_scope_begin(); /* the dict keeps the only reference */
  ax_state_dict_set(sd, name, ax_scalar(v, &(ax_tensor_opts){.dtype = dt}));
  ax_scope_end();
}

void ax_optimizer_state_dict(ax_optimizer *o, ax_state_dict *sd) {
  if (!o || !sd) return;
  if (o->ops) {
    o->ops->state_dict(o->impl, sd);
    return;
  }
  char name[96];
  for (int i = 0; i < o->n; i++) {
    if (o->param_steps[i] == 0) continue;
    snprintf(name, sizeof name, "state.%d.step", i);
    set_scalar(sd, name, (double)o->param_steps[i], AX_I64);
    for (int k = 0; k < AX_OPTIM_STATES; k++) {
      if (!o->state_names[k] || !o->state[k][i]) continue;
      snprintf(name, sizeof name, "state.%d.%s", i, o->state_names[k]);
      ax_state_dict_set(sd, name, o->state[k][i]);
    }
  }
  set_scalar(sd, "step", (double)o->steps, AX_I64);
  set_scalar(sd, "lr", o->args.lr, AX_F64);
}

#define LOAD_FAIL(...)                                   \
  do {                                                   \
    ax__fail(err, errlen, __VA_ARGS__); \
    return -1;                                           \
  } while (0)

/* The state index of `field` (AX_OPTIM_STATES for "step"), or -1 if this optimizer has no such state. */
static int field_index(const ax_optimizer *o, const char *field) {
  if (strcmp(field, "step") == 0) return AX_OPTIM_STATES;
  for (int k = 0; k < AX_OPTIM_STATES; k++)
    if (o->state_names[k] && strcmp(field, o->state_names[k]) == 0) return k;
  return -1;
}

static bool is_scalar_value(const ax_tensor *t) { return t && ax_numel(t) == 1; }

/* A step counter read from a file: a whole number in [lo, 2^53] (exact in a double, and
 * far beyond any run), so that converting it to int64 is defined. */
static bool is_count(double v, double lo) { return v >= lo && v <= 9007199254740992.0 && v == (double)(int64_t)v; }

/* Checks every key of sd against o; nothing is modified. */
static int validate(const ax_optimizer *o, const ax_state_dict *sd, char *err, size_t errlen) {
  int count = ax_state_dict_size(sd);
  for (int e = 0; e < count; e++) {
    const char *key = ax_state_dict_name(sd, e);
    ax_tensor *t = ax_state_dict_tensor(sd, e);
    if (strcmp(key, "step") == 0 || strcmp(key, "lr") == 0) {
      if (!is_scalar_value(t)) LOAD_FAIL("%s: expected one value, got shape %s", key, ax__shp(t));
      if (key[0] == 's' && !is_count(ax_item(t), 0))
        LOAD_FAIL("step: %g is not a step count (a whole number from 0 to 2^53)", ax_item(t));
      continue;
    }
    int i, off = 0;
    if (sscanf(key, "state.%d.%n", &i, &off) != 1 || off == 0)
      LOAD_FAIL("%s: unknown key for the %s optimizer", key, o->name);
    if (i < 0 || i >= o->n)
      LOAD_FAIL("%s: parameter %d does not exist (the optimizer has %d parameters)", key, i, o->n);
    int k = field_index(o, key + off);
    if (k < 0) LOAD_FAIL("%s: unknown state '%s' for the %s optimizer as configured", key, key + off, o->name);
    if (k == AX_OPTIM_STATES) {
      if (!is_scalar_value(t) || !is_count(ax_item(t), 1))
        LOAD_FAIL("%s: expected one whole number from 1 to 2^53, got %s%g", key, is_scalar_value(t) ? "" : "shape ",
                  is_scalar_value(t) ? ax_item(t) : (double)ax_numel(t));
      continue;
    }
    if (!ax_same_shape(t, o->params[i])) {
      char a[64];
      snprintf(a, sizeof a, "%s", ax__shp(t));
      LOAD_FAIL("%s: shape %s does not match parameter %d's shape %s", key, a, i, ax__shp(o->params[i]));
    }
    if (!ax_dtype_is_float(t->dtype)) LOAD_FAIL("%s: expected a floating-point tensor, got %s", key, ax_dtype_name(t->dtype));
  }
  if (!ax_state_dict_get(sd, "step")) LOAD_FAIL("step: missing key");
  if (!ax_state_dict_get(sd, "lr")) LOAD_FAIL("lr: missing key");
  double lr = ax_item(ax_state_dict_get(sd, "lr"));
  if (!(lr >= 0) || !isfinite(lr)) LOAD_FAIL("lr: must be finite and >= 0, got %g", lr);
  /* a parameter with a step has every state this configuration uses, and only then */
  char name[96];
  for (int i = 0; i < o->n; i++) {
    snprintf(name, sizeof name, "state.%d.step", i);
    bool has_step = ax_state_dict_get(sd, name) != NULL;
    for (int k = 0; k < AX_OPTIM_STATES; k++) {
      if (!o->state_names[k]) continue;
      snprintf(name, sizeof name, "state.%d.%s", i, o->state_names[k]);
      bool has = ax_state_dict_get(sd, name) != NULL;
      if (has_step && !has) LOAD_FAIL("%s: missing key", name);
      if (!has_step && has) LOAD_FAIL("state.%d.step: missing key (%s is present)", i, name);
    }
  }
  return 0;
}

int ax_optimizer_load_state_dict(ax_optimizer *o, const ax_state_dict *sd, char *err, size_t errlen) {
  if (!o || !sd) LOAD_FAIL("ax_optimizer_load_state_dict: NULL optimizer or state dict");
  if (o->ops) return o->ops->load_state_dict(o->impl, sd, err, errlen);
  if (validate(o, sd, err, errlen)) return -1;
  int rc = 0;
  char name[96];
  ax_no_grad_begin();
  ax_scope_begin();
  for (int i = 0; i < o->n && rc == 0; i++) {
    snprintf(name, sizeof name, "state.%d.step", i);
    ax_tensor *st = ax_state_dict_get(sd, name);
    drop_state(o, i);
    if (!st) continue;
    o->param_steps[i] = (int64_t)ax_item(st);
    if (ensure_state(o, i)) rc = -1;
    for (int k = 0; k < AX_OPTIM_STATES && rc == 0; k++) {
      if (!o->state_names[k]) continue;
      snprintf(name, sizeof name, "state.%d.%s", i, o->state_names[k]);
      ax_tensor *dst = o->state[k][i];
      if (ax_copy_(dst, ax_to(ax_state_dict_get(sd, name), dst->device))) rc = -1;
    }
  }
  ax_scope_end();
  ax_no_grad_end();
  if (rc) LOAD_FAIL("%s: %s", name, ax_last_error());
  o->steps = (int64_t)ax_item(ax_state_dict_get(sd, "step"));
  o->args.lr = ax_item(ax_state_dict_get(sd, "lr"));
  return 0;
}
