/* SPDX-License-Identifier: BSD-3-Clause */
/* ZeRO stage 1: the optimizer state sharded across ranks.
 *
 * The parameters, laid end to end in registration order, form one flat index
 * space of N elements; rank r owns [r S, (r + 1) S) ∩ [0, N) with S = ceil(N / W),
 * so any N works on any W (a rank may own pieces of several parameters, or
 * nothing). Each owned piece is a flat view aliasing its parameter's storage,
 * and the inner optimizer (any kind, built by the caller's factory) sees only
 * those pieces: its state exists for ~N / W elements. A step binds each piece's
 * grad to the matching slice of its parameter's (already averaged) grad, steps
 * the pieces in place, then all-gathers the owned ranges through two flat
 * buffers of bounded size so every rank holds every updated parameter.
 *
 * The state dict is the plain optimizer's, keyed by parameter (gathered from
 * every rank); loading slices it. Per-parameter step counts are kept here for
 * every parameter (every rank sees the same grads), so writing a state dict
 * needs one all-gather per state tensor and nothing else. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/internal.h"

#define ZERO_STATES 3

typedef struct zero_piece {
  int param;       /* index into params */
  int64_t start;   /* first element of the parameter (flat) that the piece covers */
  int64_t len;
  ax_tensor *view; /* persistent 1-D view of those elements: the inner optimizer's parameter */
} zero_piece;

struct ax_zero {
  ax_comm *c;
  int rank, world, n;
  ax_tensor **params;  /* retained */
  int64_t *offset;     /* flat offset of each parameter; offset[n] = N */
  int64_t *steps;      /* updates of each parameter (the plain optimizer's "state.<i>.step") */
  int64_t shard, lo, hi; /* S, and this rank's range [lo, hi) clipped to N */
  int np;
  zero_piece *pieces;
  ax_tensor *dummy;    /* the inner optimizer's only parameter where this rank owns nothing */
  ax_optimizer *opt;
  int n_states;
  char state_names[ZERO_STATES][32];
  ax_dtype state_dtype;
  int64_t chunk;       /* elements per rank per all-gather round */
  ax_tensor *send, *recv; /* chunk and world * chunk elements, of the parameters' dtype */
};

/* ---- the flat index space ---- */

/* A 1-D view of elements [a, a + len) of parameter i (which is contiguous). */
static ax_tensor *param_slice(ax_zero *z, int i, int64_t a, int64_t len) {
  int64_t numel = ax_numel(z->params[i]);
  return ax_narrow(ax_view(z->params[i], 1, &numel), 0, a, len);
}

/* The last parameter whose offset is <= e (binary search over the offsets). */
static int param_at(const ax_zero *z, int64_t e) {
  int lo = 0, hi = z->n - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (z->offset[mid] <= e) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/* Copies flat elements [start, start + m) ∩ [0, N) between the parameters and buf
 * (element 0 of buf is flat element start): into buf when to_buf, else out of it. */
static int copy_range(ax_zero *z, int64_t start, int64_t m, ax_tensor *buf, bool to_buf) {
  int64_t total = z->offset[z->n], end = start + m < total ? start + m : total;
  int rc = 0;
  for (int i = start < total ? param_at(z, start) : z->n; i < z->n && z->offset[i] < end && rc == 0; i++) {
    int64_t a = z->offset[i] > start ? z->offset[i] : start;
    int64_t b = z->offset[i + 1] < end ? z->offset[i + 1] : end;
    if (b <= a) continue;
    ax_tensor *p = param_slice(z, i, a - z->offset[i], b - a), *s = ax_narrow(buf, 0, a - start, b - a);
    rc = to_buf ? ax_copy_(s, p) : ax_copy_(p, s);
  }
  return rc;
}

/* Every rank's owned range into every rank's parameters, in rounds of z->chunk. */
static int gather_params(ax_zero *z) {
  int rc = 0;
  ax_no_grad_begin();
  for (int64_t done = 0; done < z->shard && rc == 0; done += z->chunk) {
    ax_scope_begin();
    int64_t m = z->shard - done < z->chunk ? z->shard - done : z->chunk;
    ax_tensor *send = ax_narrow(z->send, 0, 0, m), *recv = ax_narrow(z->recv, 0, 0, m * z->world);
    rc = copy_range(z, (int64_t)z->rank * z->shard + done, m, send, true);
    if (rc == 0) rc = ax_all_gather(z->c, recv, send);
    for (int r = 0; r < z->world && rc == 0; r++)
      if (r != z->rank) rc = copy_range(z, (int64_t)r * z->shard + done, m, ax_narrow(recv, 0, r * m, m), false);
    ax_scope_end();
  }
  ax_no_grad_end();
  return rc;
}

/* ---- construction ---- */

/* true when every rank has the same v (max == min) */
static bool ranks_agree(ax_comm *c, int64_t *v, int n) {
  ax_scope_begin();
  ax_tensor *hi = ax_from_data(v, 1, (int64_t[]){n}, &(ax_tensor_opts){.dtype = AX_I64});
  ax_tensor *lo = ax_clone(hi);
  bool same = ax_all_reduce(c, hi, AX_DIST_MAX) == 0 && ax_all_reduce(c, lo, AX_DIST_MIN) == 0 &&
              memcmp(ax_data_ptr(hi), ax_data_ptr(lo), (size_t)n * sizeof *v) == 0;
  ax_scope_end();
  return same;
}

static bool check_params(ax_tensor *const *params, int n) {
  char s[64];
  if (!params || n <= 0) {
    ax_error("ax_zero_new: got an empty parameter list (n = %d)", n);
    return false;
  }
  for (int i = 0; i < n; i++) {
    ax_tensor *p = params[i];
    if (!p) {
      ax_error("ax_zero_new: parameter %d is NULL", i);
      return false;
    }
    if (!ax_dtype_is_float(p->dtype) || !ax_is_contiguous(p) || p->grad_fn) {
      ax_error("ax_zero_new: parameter %d (%s %s) must be a contiguous floating-point leaf", i,
               ax_dtype_name(p->dtype), ax_shape_str(p, s, sizeof s));
      return false;
    }
    if (p->dtype != params[0]->dtype || !ax_device_eq(p->device, params[0]->device)) {
      char d0[16], d1[16];
      ax_error("ax_zero_new: every parameter must have one dtype and device (they share one flat buffer): "
               "parameter 0 is %s on %s, parameter %d %s on %s",
               ax_dtype_name(params[0]->dtype), ax_device_str(params[0]->device, d0, sizeof d0), i,
               ax_dtype_name(p->dtype), ax_device_str(p->device, d1, sizeof d1));
      return false;
    }
    for (int j = 0; j < i; j++)
      if (params[j] == p) {
        ax_error("ax_zero_new: parameter %d %s appears twice in the list (also at %d)", i,
                 ax_shape_str(p, s, sizeof s), j);
        return false;
      }
  }
  return true;
}

/* Builds a throw-away optimizer on one element and steps it once: its state dict
 * names the states this configuration keeps and their dtype, which every rank must
 * know (a rank may own no element) to gather and to validate state dicts. */
static int probe_states(ax_zero *z, ax_optimizer *(*make)(ax_tensor *const *, int, void *), void *ctx) {
  ax_optimizer *probe = make(&z->dummy, 1, ctx);
  if (!probe) return -1;
  int rc = 0;
  ax_scope_begin();
  z->dummy->grad = ax_persist(ax_zeros_like(z->dummy));
  ax_scope_end();
  ax_state_dict *sd = ax_state_dict_new();
  if (ax_optimizer_step(probe) != 0) rc = -1;
  else ax_optimizer_state_dict(probe, sd);
  for (int e = 0; rc == 0 && e < ax_state_dict_size(sd); e++) {
    const char *key = ax_state_dict_name(sd, e);
    if (strncmp(key, "state.0.", 8) || !strcmp(key + 8, "step")) continue;
    if (z->n_states == ZERO_STATES || strlen(key + 8) >= sizeof z->state_names[0]) {
      ax_error("ax_zero_new: unexpected optimizer state %s", key);
      rc = -1;
      break;
    }
    snprintf(z->state_names[z->n_states++], sizeof z->state_names[0], "%s", key + 8);
    z->state_dtype = ax_state_dict_tensor(sd, e)->dtype;
  }
  ax_state_dict_free(sd);
  ax_optimizer_free(probe);
  ax_zero_grad(z->dummy);
  return rc;
}

/* The pieces of this rank's range [lo, hi), one per parameter it intersects. */
static int make_pieces(ax_zero *z) {
  z->pieces = calloc((size_t)z->n, sizeof *z->pieces);
  if (!z->pieces) return -1;
  ax_no_grad_begin();
  ax_scope_begin();
  for (int i = 0; i < z->n && z->lo < z->hi; i++) {
    int64_t a = z->offset[i] > z->lo ? z->offset[i] : z->lo, b = z->offset[i + 1] < z->hi ? z->offset[i + 1] : z->hi;
    if (b <= a) continue;
    zero_piece *q = &z->pieces[z->np++];
    *q = (zero_piece){i, a - z->offset[i], b - a, NULL};
    q->view = ax_persist(param_slice(z, i, q->start, q->len));
    if (!q->view) z->np--;
  }
  ax_scope_end();
  ax_no_grad_end();
  return 0;
}

ax_zero *ax_zero_new(ax_tensor *const *params, int n, ax_comm *c,
                     ax_optimizer *(*make)(ax_tensor *const *shard, int n_shard, void *ctx), void *ctx,
                     const ax_zero_opts *o) {
  if (!c || !make) {
    ax_error("ax_zero_new: needs a communicator and an optimizer factory");
    return NULL;
  }
  if (!check_params(params, n)) return NULL;
  ax_zero *z = calloc(1, sizeof *z);
  if (!z) return NULL;
  z->c = c;
  z->rank = ax_comm_rank(c);
  z->world = ax_comm_size(c);
  z->n = n;
  z->params = calloc((size_t)n, sizeof *z->params);
  z->offset = calloc((size_t)n + 1, sizeof *z->offset);
  z->steps = calloc((size_t)n, sizeof *z->steps);
  if (!z->params || !z->offset || !z->steps) goto oom;
  for (int i = 0; i < n; i++) {
    z->params[i] = ax_retain(params[i]);
    z->offset[i + 1] = z->offset[i] + ax_numel(params[i]);
  }
  int64_t total = z->offset[n];
  z->shard = (total + z->world - 1) / z->world;
  z->lo = (int64_t)z->rank * z->shard < total ? (int64_t)z->rank * z->shard : total;
  z->hi = z->lo + z->shard < total ? z->lo + z->shard : total;
  if (z->world > 1) { /* the same flat layout on every rank, or the shards would not line up */
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < n; i++) h = (h ^ (uint64_t)ax_numel(params[i])) * 0x100000001b3ull;
    int64_t v[4] = {n, total, (int64_t)h, params[0]->dtype};
    if (!ranks_agree(c, v, 4)) {
      ax_error("ax_zero_new: the ranks passed different parameter lists (rank %d: %d parameters, %" PRId64
               " elements): every rank must build the same model",
               z->rank, n, total);
      goto fail;
    }
  }
  ax_tensor_opts to = {.dtype = params[0]->dtype, .device = params[0]->device};
  ax_scope_begin();
  z->dummy = ax_persist(ax_zeros(1, (int64_t[]){1}, &to));
  ax_scope_end();
  if (!z->dummy || probe_states(z, make, ctx) != 0 || make_pieces(z) != 0) goto fail;
  ax_tensor **views = calloc((size_t)(z->np ? z->np : 1), sizeof *views);
  if (!views) goto oom;
  for (int k = 0; k < z->np; k++) views[k] = z->pieces[k].view;
  z->opt = z->np ? make(views, z->np, ctx) : make(&z->dummy, 1, ctx);
  free(views);
  if (!z->opt) goto fail;
  double mb = o && o->bucket_mb > 0 ? o->bucket_mb : 25;
  int64_t esize = (int64_t)ax_dtype_size(to.dtype);
  z->chunk = (int64_t)(mb * 1048576.0) / (esize * z->world);
  if (z->chunk < 1) z->chunk = 1;
  if (z->chunk > z->shard) z->chunk = z->shard > 0 ? z->shard : 1;
  if (z->world > 1) {
    ax_scope_begin();
    z->send = ax_persist(ax_zeros(1, (int64_t[]){z->chunk}, &to));
    z->recv = ax_persist(ax_zeros(1, (int64_t[]){z->chunk * z->world}, &to));
    ax_scope_end();
    if (!z->send || !z->recv) goto fail;
  }
  return z;
oom:
  ax_error("ax_zero_new: out of host memory for %d parameters", n);
fail:
  ax_zero_free(z);
  return NULL;
}

void ax_zero_free(ax_zero *z) {
  if (!z) return;
  ax_optimizer_free(z->opt);
  for (int k = 0; k < z->np; k++) ax_free(z->pieces[k].view);
  for (int i = 0; z->params && i < z->n; i++) ax_free(z->params[i]);
  ax_free(z->dummy);
  ax_free(z->send);
  ax_free(z->recv);
  free(z->pieces);
  free(z->params);
  free(z->offset);
  free(z->steps);
  free(z);
}

/* ---- the step ---- */

static bool check_grads(const ax_zero *z) {
  for (int i = 0; i < z->n; i++) {
    ax_tensor *p = z->params[i], *g = p->grad;
    if (!g || (g->dtype == p->dtype && ax_device_eq(g->device, p->device) && ax_same_shape(g, p))) continue;
    char a[64], b[64];
    ax_error("ax_zero_step: parameter %d is %s %s but its gradient is %s %s (or on another device)", i,
             ax_dtype_name(p->dtype), ax_shape_str(p, a, sizeof a), ax_dtype_name(g->dtype), ax_shape_str(g, b, sizeof b));
    return false;
  }
  return true;
}

int ax_zero_step(ax_zero *z) {
  if (!z) return -1;
  if (!check_grads(z)) return -1; /* the same verdict on every rank: no collective skipped unevenly */
  int rc = 0;
  ax_no_grad_begin();
  ax_scope_begin();
  for (int k = 0; k < z->np; k++) {
    zero_piece *q = &z->pieces[k];
    ax_tensor *g = z->params[q->param]->grad;
    if (!g) continue; /* no gradient, no update: the inner optimizer skips the piece */
    int64_t numel = ax_numel(g);
    q->view->grad = ax_retain(ax_narrow(ax_reshape(g, 1, &numel), 0, q->start, q->len));
    if (!q->view->grad) rc = -1;
  }
  if (rc == 0) rc = ax_optimizer_step(z->opt);
  for (int k = 0; k < z->np; k++) ax_zero_grad(z->pieces[k].view); /* releases the slices of the grads */
  ax_scope_end();
  ax_no_grad_end();
  if (rc == 0)
    for (int i = 0; i < z->n; i++)
      if (z->params[i]->grad) z->steps[i]++;
  /* every rank gathers even after a local failure, so the collectives stay matched */
  if (z->world > 1 && gather_params(z) != 0) rc = -1;
  return rc;
}

void ax_zero_zero_grad(ax_zero *z) {
  if (z) ax_zero_grads(z->params, z->n);
}

ax_optimizer *ax_zero_optimizer(ax_zero *z) { return z ? z->opt : NULL; }

void ax_zero_shard(const ax_zero *z, int64_t *begin, int64_t *end, int64_t *total) {
  if (begin) *begin = z ? z->lo : 0;
  if (end) *end = z ? z->hi : 0;
  if (total) *total = z ? z->offset[z->n] : 0;
}

int64_t ax_zero_state_bytes(const ax_zero *z) {
  return z ? (z->hi - z->lo) * z->n_states * (int64_t)ax_dtype_size(z->state_dtype) : 0;
}

int64_t ax_zero_full_state_bytes(const ax_zero *z) {
  return z ? z->offset[z->n] * z->n_states * (int64_t)ax_dtype_size(z->state_dtype) : 0;
}

/* ---- state dicts: the plain optimizer's format, keyed by parameter ---- */

static void set_scalar(ax_state_dict *sd, const char *name, double v, ax_dtype dt) {
  ax_scope_begin(); /* the dict keeps the only reference */
  ax_state_dict_set(sd, name, ax_scalar(v, &(ax_tensor_opts){.dtype = dt}));
  ax_scope_end();
}

/* All of state k, flat (world * S elements): every rank's pieces gathered. */
static ax_tensor *gather_state(ax_zero *z, ax_state_dict *mine, int k) {
  ax_tensor_opts to = {.dtype = z->state_dtype, .device = z->params[0]->device};
  ax_tensor *all = ax_zeros(1, (int64_t[]){z->shard * z->world}, &to);
  ax_tensor *send = ax_zeros(1, (int64_t[]){z->shard}, &to);
  char name[96];
  for (int j = 0; j < z->np; j++) {
    zero_piece *q = &z->pieces[j];
    snprintf(name, sizeof name, "state.%d.%s", j, z->state_names[k]);
    ax_tensor *t = ax_state_dict_get(mine, name);
    if (t && ax_copy_(ax_narrow(send, 0, z->offset[q->param] + q->start - z->lo, q->len), t) != 0) return NULL;
  }
  return ax_all_gather(z->c, all, send) == 0 ? all : NULL;
}

int ax_zero_state_dict(ax_zero *z, ax_state_dict *sd) {
  if (!z || !sd) return -1;
  ax_state_dict *mine = ax_state_dict_new();
  ax_optimizer_state_dict(z->opt, mine);
  int rc = 0;
  char name[96];
  ax_no_grad_begin();
  ax_scope_begin(); /* the gathered buffers live on through the dict's references to views of them */
  ax_tensor *all[ZERO_STATES] = {NULL};
  for (int k = 0; k < z->n_states; k++) /* every rank, every state: the collectives match */
    if (!(all[k] = gather_state(z, mine, k))) rc = -1;
  for (int i = 0; i < z->n && rc == 0; i++) {
    if (z->steps[i] == 0) continue;
    snprintf(name, sizeof name, "state.%d.step", i);
    set_scalar(sd, name, (double)z->steps[i], AX_I64);
    ax_tensor *p = z->params[i];
    for (int k = 0; k < z->n_states; k++) {
      snprintf(name, sizeof name, "state.%d.%s", i, z->state_names[k]);
      ax_state_dict_set(sd, name, ax_view(ax_narrow(all[k], 0, z->offset[i], ax_numel(p)), p->ndim, p->shape));
    }
  }
  ax_scope_end();
  ax_no_grad_end();
  ax_state_dict_free(mine);
  set_scalar(sd, "step", (double)ax_optimizer_step_count(z->opt), AX_I64);
  set_scalar(sd, "lr", ax_optimizer_get_lr(z->opt), AX_F64);
  return rc;
}

#define LOAD_FAIL(...)                                       \
  do {                                                       \
    if (err && errlen) snprintf(err, errlen, __VA_ARGS__);   \
    return -1;                                               \
  } while (0)

static int state_index(const ax_zero *z, const char *field) {
  if (!strcmp(field, "step")) return ZERO_STATES;
  for (int k = 0; k < z->n_states; k++)
    if (!strcmp(field, z->state_names[k])) return k;
  return -1;
}

/* The whole dict against the whole parameter list: every rank reaches the same
 * verdict, whichever parameters it owns (the inner optimizer sees only its pieces). */
static int validate(const ax_zero *z, const ax_state_dict *sd, char *err, size_t errlen) {
  char a[64], b[64], name[96];
  for (int e = 0; e < ax_state_dict_size(sd); e++) {
    const char *key = ax_state_dict_name(sd, e);
    ax_tensor *t = ax_state_dict_tensor(sd, e);
    if (!strcmp(key, "step") || !strcmp(key, "lr")) {
      if (ax_numel(t) != 1) LOAD_FAIL("%s: expected one value, got shape %s", key, ax_shape_str(t, a, sizeof a));
      double v = ax_item(t);
      if (key[0] == 's' ? !(v >= 0 && v <= 9007199254740992.0) || v != (double)(int64_t)v : !(v >= 0) || !isfinite(v))
        LOAD_FAIL("%s: %g is out of range (%s)", key, v, key[0] == 's' ? "a whole number from 0 to 2^53" : "finite, >= 0");
      continue;
    }
    int i, off = 0;
    if (sscanf(key, "state.%d.%n", &i, &off) != 1 || off == 0)
      LOAD_FAIL("%s: unknown key for the %s optimizer", key, ax_optimizer_name(z->opt));
    if (i < 0 || i >= z->n) LOAD_FAIL("%s: parameter %d does not exist (the optimizer has %d parameters)", key, i, z->n);
    int k = state_index(z, key + off);
    if (k < 0)
      LOAD_FAIL("%s: unknown state '%s' for the %s optimizer as configured", key, key + off, ax_optimizer_name(z->opt));
    if (k == ZERO_STATES) {
      double v = ax_numel(t) == 1 ? ax_item(t) : 0; /* a whole number in [1, 2^53]: its int64 conversion is defined */
      if (!(v >= 1 && v <= 9007199254740992.0) || v != (double)(int64_t)v)
        LOAD_FAIL("%s: expected one whole number from 1 to 2^53", key);
      continue;
    }
    if (!ax_same_shape(t, z->params[i]))
      LOAD_FAIL("%s: shape %s does not match parameter %d's shape %s", key, ax_shape_str(t, a, sizeof a), i,
                ax_shape_str(z->params[i], b, sizeof b));
    if (!ax_dtype_is_float(t->dtype)) LOAD_FAIL("%s: expected a floating-point tensor, got %s", key, ax_dtype_name(t->dtype));
  }
  if (!ax_state_dict_get(sd, "step")) LOAD_FAIL("step: missing key");
  if (!ax_state_dict_get(sd, "lr")) LOAD_FAIL("lr: missing key");
  for (int i = 0; i < z->n; i++) {
    snprintf(name, sizeof name, "state.%d.step", i);
    bool has_step = ax_state_dict_get(sd, name) != NULL;
    for (int k = 0; k < z->n_states; k++) {
      snprintf(name, sizeof name, "state.%d.%s", i, z->state_names[k]);
      bool has = ax_state_dict_get(sd, name) != NULL;
      if (has_step && !has) LOAD_FAIL("%s: missing key", name);
      if (!has_step && has) LOAD_FAIL("state.%d.step: missing key (%s is present)", i, name);
    }
  }
  return 0;
}

int ax_zero_load_state_dict(ax_zero *z, const ax_state_dict *sd, char *err, size_t errlen) {
  if (!z || !sd) LOAD_FAIL("ax_zero_load_state_dict: NULL ZeRO optimizer or state dict");
  if (validate(z, sd, err, errlen)) return -1;
  /* the inner optimizer's dict: piece j gets its slice of its parameter's state */
  ax_state_dict *inner = ax_state_dict_new();
  char name[96], src[96];
  ax_no_grad_begin();
  ax_scope_begin();
  for (int j = 0; j < z->np; j++) {
    zero_piece *q = &z->pieces[j];
    snprintf(src, sizeof src, "state.%d.step", q->param);
    ax_tensor *st = ax_state_dict_get(sd, src);
    if (!st) continue;
    snprintf(name, sizeof name, "state.%d.step", j);
    ax_state_dict_set(inner, name, st);
    for (int k = 0; k < z->n_states; k++) {
      snprintf(src, sizeof src, "state.%d.%s", q->param, z->state_names[k]);
      snprintf(name, sizeof name, "state.%d.%s", j, z->state_names[k]);
      ax_tensor *t = ax_state_dict_get(sd, src);
      int64_t numel = ax_numel(t);
      ax_state_dict_set(inner, name, ax_narrow(ax_reshape(t, 1, &numel), 0, q->start, q->len));
    }
  }
  ax_state_dict_set(inner, "step", ax_state_dict_get(sd, "step"));
  ax_state_dict_set(inner, "lr", ax_state_dict_get(sd, "lr"));
  int rc = ax_optimizer_load_state_dict(z->opt, inner, err, errlen);
  ax_scope_end();
  ax_no_grad_end();
  ax_state_dict_free(inner);
  if (rc) return -1;
  for (int i = 0; i < z->n; i++) {
    snprintf(src, sizeof src, "state.%d.step", i);
    ax_tensor *st = ax_state_dict_get(sd, src);
    z->steps[i] = st ? (int64_t)ax_item(st) : 0;
  }
  return 0;
}

/* ---- ZeRO-1 behind the ax_optimizer interface ---- */

static int zw_step(void *z) { return ax_zero_step(z); }
static void zw_zero_grad(void *z) { ax_zero_zero_grad(z); }
static double zw_get_lr(const void *z) { return ax_optimizer_get_lr(((const ax_zero *)z)->opt); }
static void zw_set_lr(void *z, double lr) { ax_optimizer_set_lr(((ax_zero *)z)->opt, lr); }
static int64_t zw_step_count(const void *z) { return ax_optimizer_step_count(((const ax_zero *)z)->opt); }
static int zw_num_params(const void *z) { return ((const ax_zero *)z)->n; }
static void zw_state_dict(void *z, ax_state_dict *sd) { ax_zero_state_dict(z, sd); }
static int zw_load_state_dict(void *z, const ax_state_dict *sd, char *err, size_t errlen) {
  return ax_zero_load_state_dict(z, sd, err, errlen);
}
static void zw_free(void *z) { ax_zero_free(z); }

static const ax_optimizer_ops zero_ops = {"zero", zw_step, zw_zero_grad, zw_get_lr, zw_set_lr, zw_step_count,
                                          zw_num_params, zw_state_dict, zw_load_state_dict, zw_free};

ax_optimizer *ax_zero_optimizer_new(ax_tensor *const *params, int n, ax_comm *c,
                                    ax_optimizer *(*make)(ax_tensor *const *shard, int n_shard, void *ctx), void *ctx,
                                    const ax_zero_opts *o) {
  ax_zero *z = ax_zero_new(params, n, c, make, ctx, o);
  return z ? ax_optimizer_wrap(&zero_ops, z) : NULL;
}

ax_zero *ax_zero_of(ax_optimizer *opt) { return ax_optimizer_impl(opt, &zero_ops); }
