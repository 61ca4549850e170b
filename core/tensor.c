/* SPDX-License-Identifier: BSD-3-Clause */
/* Tensors and storage: creation, reference counting, views, scopes. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

static size_t live_tensor_count; /* atomically updated */

size_t ax__live_tensors(void) { return __atomic_load_n(&live_tensor_count, __ATOMIC_RELAXED); }

/* ---------------- dtypes and devices ---------------- */

size_t ax_dtype_size(ax_dtype dt) {
  static const size_t sizes[AX_NUM_DTYPES] = {4, 8, 2, 2, 4, 8, 1, 1, 1};
  return (unsigned)dt < AX_NUM_DTYPES ? sizes[dt] : 0;
}

const char *ax_dtype_name(ax_dtype dt) {
  static const char *names[AX_NUM_DTYPES] = {"f32", "f64", "bf16", "f16", "i32", "i64", "u8", "bool", "i8"};
  return (unsigned)dt < AX_NUM_DTYPES ? names[dt] : "invalid";
}

bool ax_dtype_is_float(ax_dtype dt) { return dt == AX_F32 || dt == AX_F64 || dt == AX_BF16 || dt == AX_F16; }

bool ax_device_eq(ax_device a, ax_device b) { return a.type == b.type && (a.type == AX_DEVICE_CPU || a.index == b.index); }

const char *ax_device_str(ax_device d, char *buf, size_t n) {
  if (d.type == AX_DEVICE_CPU)
    snprintf(buf, n, "cpu");
  else
    snprintf(buf, n, "cuda:%d", d.index);
  return buf;
}

/* ---------------- shape helpers ---------------- */

/* Element counts and strides are products of sizes; a zero dim makes the count 0 but
 * not the strides (they multiply the other sizes), so the cap applies to the product
 * of every size with zeros counted as 1: [0, 2^40, 2^40] is refused like [2^40, 2^40]. */
bool ax__shape_ok(const char *op, int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    int64_t d = shape[i] > 1 ? shape[i] : 1;
    if (n > AX_MAX_NUMEL / d) {
      ax_error("%s: shape %s is too large (its sizes multiply past %lld elements, zero sizes counted as 1)", op,
               ax__shp_raw(ndim, shape), (long long)AX_MAX_NUMEL);
      return false;
    }
    n *= d;
  }
  return true;
}

/* 0 when any size is 0 (checked first, so sizes after it cannot overflow the
 * product); saturates at INT64_MAX for shapes ax__shape_ok refuses. */
int64_t ax__shape_numel(int ndim, const int64_t *shape) {
  for (int i = 0; i < ndim; i++)
    if (shape[i] == 0) return 0;
  int64_t n = 1;
  for (int i = 0; i < ndim; i++)
    if (__builtin_mul_overflow(n, shape[i], &n)) return INT64_MAX;
  return n;
}

void ax__contiguous_strides(int ndim, const int64_t *shape, int64_t *strides) {
  int64_t s = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    strides[i] = s;
    if (__builtin_mul_overflow(s, shape[i] > 0 ? shape[i] : 1, &s)) s = INT64_MAX; /* refused by ax__shape_ok */
  }
}

int64_t ax_numel(const ax_tensor *t) { return t ? ax__shape_numel(t->ndim, t->shape) : 0; }
size_t ax_nbytes(const ax_tensor *t) { return t ? (size_t)ax_numel(t) * ax_dtype_size(t->dtype) : 0; }

bool ax_is_contiguous(const ax_tensor *t) {
  int64_t s = 1;
  for (int i = t->ndim - 1; i >= 0; i--) {
    if (t->shape[i] == 1) continue;
    if (t->strides[i] != s) return false;
    s *= t->shape[i];
  }
  return true;
}

void *ax_data_ptr(const ax_tensor *t) {
  if (!t || !t->storage) return NULL;
  return (char *)t->storage->data + t->offset * (int64_t)ax_dtype_size(t->dtype);
}

bool ax_same_shape(const ax_tensor *a, const ax_tensor *b) {
  if (a->ndim != b->ndim) return false;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i]) return false;
  return true;
}

bool ax_shares_storage(const ax_tensor *a, const ax_tensor *b) { return a && b && a->storage == b->storage; }

const char *ax__shp_raw(int ndim, const int64_t *shape) {
  static _Thread_local char bufs[8][128];
  static _Thread_local int next;
  char *b = bufs[next++ & 7];
  size_t n = 0;
  n += snprintf(b + n, 128 - n, "[");
  for (int i = 0; i < ndim && n < 120; i++) n += snprintf(b + n, 128 - n, i ? ", %lld" : "%lld", (long long)shape[i]);
  snprintf(b + n, 128 - n, "]");
  return b;
}

const char *ax__shp(const ax_tensor *t) { return ax__shp_raw(t->ndim, t->shape); }

const char *ax_shape_str(const ax_tensor *t, char *buf, size_t n) {
  snprintf(buf, n, "%s", ax__shp(t));
  return buf;
}

const char *ax__dev(ax_device d) {
  static _Thread_local char bufs[4][32];
  static _Thread_local int next;
  return ax_device_str(d, bufs[next++ & 3], 32);
}

int ax__wrap_dim(const char *op, int dim, int ndim) {
  int n = ndim > 0 ? ndim : 1;
  if (dim < -n || dim >= n) {
    ax_error("%s: dim %d out of range for a tensor with %d dims (expected %d to %d)", op, dim, ndim, -n, n - 1);
    return -1;
  }
  return dim < 0 ? dim + n : dim;
}

bool ax__broadcast_shape(const char *op, const ax_tensor *a, const ax_tensor *b, int *ndim, int64_t *shape) {
  int n = a->ndim > b->ndim ? a->ndim : b->ndim;
  for (int i = 0; i < n; i++) {
    int ia = a->ndim - n + i, ib = b->ndim - n + i;
    int64_t sa = ia >= 0 ? a->shape[ia] : 1, sb = ib >= 0 ? b->shape[ib] : 1;
    if (sa != sb && sa != 1 && sb != 1) {
      ax_error("%s: shapes %s and %s do not broadcast (dim %d: %lld vs %lld)", op, ax__shp(a), ax__shp(b), i,
               (long long)sa, (long long)sb);
      return false;
    }
    shape[i] = sa == 1 ? sb : sa;
  }
  *ndim = n;
  return true;
}

bool ax__check_same_device(const char *op, const ax_tensor *a, const ax_tensor *b) {
  if (!ax__check_alive(op, a) || !ax__check_alive(op, b)) return false;
  if (!ax_device_eq(a->device, b->device)) {
    ax_error("%s: tensors are on different devices (%s %s and %s %s)", op, ax__dev(a->device), ax__shp(a),
             ax__dev(b->device), ax__shp(b));
    return false;
  }
  return true;
}

bool ax__check_same_dtype(const char *op, const ax_tensor *a, const ax_tensor *b) {
  if (a->dtype != b->dtype) {
    ax_error("%s: dtype mismatch (%s %s and %s %s)", op, ax_dtype_name(a->dtype), ax__shp(a),
             ax_dtype_name(b->dtype), ax__shp(b));
    return false;
  }
  return true;
}

bool ax__check_float(const char *op, const ax_tensor *t) {
  if (!ax_dtype_is_float(t->dtype)) {
    ax_error("%s: expected a floating-point tensor, got %s %s", op, ax_dtype_name(t->dtype), ax__shp(t));
    return false;
  }
  return true;
}

/* ---------------- kernel views ---------------- */

ax_kt ax__kt(const ax_tensor *t) {
  ax_kt k;
  memset(&k, 0, sizeof k);
  if (t->device.type == AX__DEVICE_DEAD) return k; /* released (scope debugging): no data, reported by the op */
  k.data = ax_data_ptr(t);
  k.dtype = t->dtype;
  k.ndim = t->ndim;
  for (int i = 0; i < t->ndim; i++) {
    k.shape[i] = t->shape[i];
    k.strides[i] = t->strides[i];
  }
  return k;
}

ax_kt ax__kt_broadcast(const ax_tensor *t, int ndim, const int64_t *shape) {
  ax_kt k;
  memset(&k, 0, sizeof k);
  k.data = ax_data_ptr(t);
  k.dtype = t->dtype;
  k.ndim = ndim;
  for (int i = 0; i < ndim; i++) {
    int it = t->ndim - ndim + i;
    k.shape[i] = shape[i];
    k.strides[i] = (it >= 0 && t->shape[it] != 1) ? t->strides[it] : 0;
  }
  return k;
}

/* ---------------- creation and lifetime ---------------- */

static void note_origin(ax_tensor *t, const char *op);

static ax_tensor *tensor_struct(const char *op) {
  ax_tensor *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->refcount = 1;
  note_origin(t, op);
  __atomic_add_fetch(&live_tensor_count, 1, __ATOMIC_RELAXED);
  return t;
}

/* The GPU parity runner fills every new CUDA tensor with NaN (floats) or 0x7f
 * bytes (integers, bool), so an element a kernel forgets to write shows. */
static bool poison_new_tensors;
void ax__set_poison_new_tensors(bool on) { poison_new_tensors = on; }

/* Through the raw bytes, so the fill is a memset (a fill kernel per tensor was half the
 * parity runner's time on the emulated device): 0xFF bytes are a NaN in f32, f64,
 * bf16 and f16 alike; a bool of 0x7f is neither true nor false, so it cannot pass by
 * chance. */
static void poison(ax_tensor *t) {
  const ax_backend *be = t->storage->backend;
  if (!be->fill) return;
  ax_kt k = ax__kt(t);
  k.dtype = AX_U8;
  k.ndim = 1;
  k.shape[0] = (int64_t)t->storage->nbytes;
  k.strides[0] = 1;
  AX_KCALL("poison", be, fill, &k, ax_dtype_is_float(t->dtype) ? 0xFF : 0x7f); /* a failure is reported */
}

ax_tensor *ax__new(const char *op, ax_dtype dt, ax_device dev, int ndim, const int64_t *shape) {
  if ((unsigned)dt >= AX_NUM_DTYPES) {
    ax_error("%s: invalid dtype %d", op, (int)dt);
    return NULL;
  }
  if (ndim < 0 || ndim > AX_MAX_DIMS) {
    ax_error("%s: %d dims requested, at most %d are supported", op, ndim, AX_MAX_DIMS);
    return NULL;
  }
  for (int i = 0; i < ndim; i++)
    if (shape[i] < 0) {
      ax_error("%s: negative size in shape %s", op, ax__shp_raw(ndim, shape));
      return NULL;
    }
  if (!ax__shape_ok(op, ndim, shape)) return NULL;
  const ax_backend *be = ax__backend(dev, op);
  if (!be) return NULL;
  size_t nbytes = (size_t)ax__shape_numel(ndim, shape) * ax_dtype_size(dt);
  struct ax_storage *s = calloc(1, sizeof *s);
  if (!s) {
    ax_error("%s: out of host memory", op);
    return NULL;
  }
  s->data = be->alloc(nbytes, dev.index);
  if (!s->data && nbytes > 0) {
    free(s);
    const char *why = ax__alloc_failure(dev);
    if (why[0])
      ax_error("%s: %s, for a %s %s tensor", op, why, ax_dtype_name(dt), ax__shp_raw(ndim, shape));
    else
      ax_error("%s: out of memory allocating %zu bytes for a %s %s tensor on %s", op, nbytes, ax_dtype_name(dt),
               ax__shp_raw(ndim, shape), ax__dev(dev));
    return NULL;
  }
  s->nbytes = nbytes;
  s->refcount = 1;
  s->device = dev;
  s->backend = be;
  ax_tensor *t = tensor_struct(op);
  t->dtype = dt;
  t->device = dev;
  t->ndim = ndim;
  for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
  ax__contiguous_strides(ndim, shape, t->strides);
  t->storage = s;
  if (poison_new_tensors && dev.type == AX_DEVICE_CUDA && nbytes > 0) poison(t);
  ax__scope_adopt(t);
  return t;
}

ax_tensor *ax__view(ax_tensor *base, int ndim, const int64_t *shape, const int64_t *strides, int64_t offset) {
  if (!ax__check_alive("a view op", base)) return NULL;
  ax_tensor *t = tensor_struct(base->origin);
  t->dtype = base->dtype;
  t->device = base->device;
  t->ndim = ndim;
  for (int i = 0; i < ndim; i++) {
    t->shape[i] = shape[i];
    t->strides[i] = strides[i];
  }
  t->offset = offset;
  t->storage = base->storage;
  __atomic_add_fetch(&base->storage->refcount, 1, __ATOMIC_RELAXED);
  ax__scope_adopt(t);
  return t;
}

ax_tensor *ax_retain(ax_tensor *t) {
  if (t && !ax__check_alive("ax_retain", t)) return NULL;
  if (t) __atomic_add_fetch(&t->refcount, 1, __ATOMIC_RELAXED);
  return t;
}

static void storage_release(struct ax_storage *s) {
  if (__atomic_sub_fetch(&s->refcount, 1, __ATOMIC_ACQ_REL) == 0) {
    if (s->data) s->backend->free(s->data, s->nbytes, s->device.index);
    free(s);
  }
}

/* Releasing a tensor can release its graph node, which releases the node's
 * inputs, and so on down a graph thousands of ops deep: use a work list, not
 * recursion, so deep graphs cannot overflow the stack. */
typedef struct { ax_tensor **items; int n, cap; } tensor_stack;

static void push(tensor_stack *s, ax_tensor *t) {
  if (!t) return;
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 64;
    s->items = realloc(s->items, (size_t)s->cap * sizeof *s->items);
  }
  s->items[s->n++] = t;
}

static void node_release_into(ax_node *n, tensor_stack *s) {
  for (int i = 0; i < n->n_inputs; i++) push(s, n->inputs[i]);
  for (int i = 0; i < AX_NODE_SAVED; i++) push(s, n->saved[i]);
  push(s, n->grad_accum);
  if (n->ctx_free) n->ctx_free(n->ctx);
  free(n->inputs);
  free(n);
}

void ax__node_free(ax_node *n) {
  if (!n) return;
  tensor_stack s = {0};
  node_release_into(n, &s);
  while (s.n) ax_free(s.items[--s.n]);
  free(s.items);
}

static void quarantine(ax_tensor *t);

void ax_free(ax_tensor *t) {
  if (!t || !ax__check_alive("ax_free", t)) return;
  bool debug = ax_settings_get()->debug_scopes;
  tensor_stack s = {0};
  push(&s, t);
  while (s.n) {
    ax_tensor *u = s.items[--s.n];
    if (__atomic_sub_fetch(&u->refcount, 1, __ATOMIC_ACQ_REL) != 0) continue;
    if (u->grad_fn) node_release_into(u->grad_fn, &s);
    push(&s, u->grad);
    if (u->storage) storage_release(u->storage);
    __atomic_sub_fetch(&live_tensor_count, 1, __ATOMIC_RELAXED);
    if (debug) quarantine(u);
    else free(u);
  }
  free(s.items);
}

void ax__detach_inplace(ax_tensor *t) {
  if (!t) return;
  ax_node *n = t->grad_fn;
  if (!n) return; /* a leaf keeps requires_grad */
  t->grad_fn = NULL;
  t->requires_grad = false;
  t->retains_grad = false;
  ax__node_free(n);
}

/* ---------------- scopes ---------------- */

typedef struct scope {
  const char *file; /* where it was opened (ax_scope_begin_at) */
  int line;
  ax_tensor **owned;
  int n_owned, cap_owned;
  ax_tensor **detach_at_end; /* kept tensors: detached when this scope ends */
  int n_detach, cap_detach;
} scope;

static _Thread_local scope *scopes;
static _Thread_local int scope_depth, scope_cap;

static void list_push(ax_tensor ***list, int *n, int *cap, ax_tensor *t) {
  if (*n == *cap) {
    *cap = *cap ? 2 * *cap : 256;
    *list = realloc(*list, (size_t)*cap * sizeof **list);
  }
  (*list)[(*n)++] = t;
}

void(ax_scope_begin)(void) { ax_scope_begin_at(NULL, 0); }

static void at_exit_report(void);
static void at_exit_report_register(void) { atexit(at_exit_report); }

void ax_scope_begin_at(const char *file, int line) {
  if (scope_depth == scope_cap) {
    int old = scope_cap;
    scope_cap = scope_cap ? 2 * scope_cap : 16;
    scopes = realloc(scopes, (size_t)scope_cap * sizeof *scopes);
    memset(scopes + old, 0, (size_t)(scope_cap - old) * sizeof *scopes);
  }
  scope *s = &scopes[scope_depth++];
  s->n_owned = 0;
  s->n_detach = 0;
  s->file = file;
  s->line = line;
  if (ax_settings_get()->debug_scopes) {
    static pthread_once_t registered = PTHREAD_ONCE_INIT;
    pthread_once(&registered, at_exit_report_register);
    static _Thread_local bool warned;
    if (scope_depth > AX_SCOPE_DEPTH_WARN && !warned) {
      warned = true;
      fprintf(stderr,
              "axon: scope nesting passed depth %d (the scope opened at %s:%d): is there a loop whose body skips "
              "ax_scope_end (a continue, break or return between ax_scope_begin and ax_scope_end)? "
              "(AXON_DEBUG_SCOPES; reported once)\n",
              AX_SCOPE_DEPTH_WARN, file ? file : "?", line);
      fflush(stderr);
    }
  }
}

int ax_scope_depth(void) { return scope_depth; }

void ax__scope_adopt(ax_tensor *t) {
  if (scope_depth == 0) return; /* no scope: the caller owns the reference */
  scope *s = &scopes[scope_depth - 1];
  list_push(&s->owned, &s->n_owned, &s->cap_owned, t);
}

void ax_scope_end(void) {
  if (scope_depth == 0) {
    ax_error("ax_scope_end: no scope is open (unbalanced ax_scope_begin/ax_scope_end)");
    return;
  }
  scope *s = &scopes[scope_depth - 1];
  /* Detach kept tensors first so the graph behind them is released with the scope. */
  for (int i = 0; i < s->n_detach; i++) {
    ax__detach_inplace(s->detach_at_end[i]);
    ax_free(s->detach_at_end[i]);
  }
  for (int i = s->n_owned - 1; i >= 0; i--) ax_free(s->owned[i]);
  s->n_owned = 0;
  s->n_detach = 0;
  scope_depth--;
}

ax_tensor *ax__scope_return(ax_tensor *out) {
  ax_retain(out);
  ax_scope_end();
  ax__scope_adopt(out);
  return out;
}

ax_tensor *ax_keep(ax_tensor *t) {
  if (!t || !ax__check_alive("ax_keep", t)) return NULL;
  if (scope_depth == 0) {
    ax_error("ax_keep: no scope is open");
    return NULL;
  }
  scope *s = &scopes[scope_depth - 1];
  /* one reference for the parent scope (or the caller at depth 1), one held
   * until this scope ends to detach the graph behind t */
  ax_retain(t);
  if (scope_depth >= 2) {
    scope *parent = &scopes[scope_depth - 2];
    list_push(&parent->owned, &parent->n_owned, &parent->cap_owned, t);
  }
  list_push(&s->detach_at_end, &s->n_detach, &s->cap_detach, ax_retain(t));
  return t;
}

ax_tensor *ax_persist(ax_tensor *t) {
  if (!t || !ax__check_alive("ax_persist", t)) return NULL;
  ax__detach_inplace(t);
  return ax_retain(t);
}

/* ---------------- scope debugging (AXON_DEBUG_SCOPES, docs/settings.md) ---------------- */

static void note_origin(ax_tensor *t, const char *op) {
  t->origin = op;
  if (scope_depth > 0) {
    t->origin_file = scopes[scope_depth - 1].file;
    t->origin_line = scopes[scope_depth - 1].line;
  }
}

/* Released headers are kept (not freed) in a ring, poisoned: no storage, no graph, the
 * device AX__DEVICE_DEAD with the ring slot as its index. The ring holds the last
 * QUARANTINE headers; the oldest is freed when it is full. */
enum { QUARANTINE = 1 << 16 };
static ax_tensor *ring[QUARANTINE];
static unsigned long ring_next;
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;

static void quarantine(ax_tensor *t) {
  pthread_mutex_lock(&ring_lock);
  int slot = (int)(ring_next++ % QUARANTINE);
  ax_tensor *old = ring[slot];
  t->storage = NULL;
  t->grad = NULL;
  t->grad_fn = NULL;
  t->refcount = 0;
  t->device = (ax_device){AX__DEVICE_DEAD, slot};
  ring[slot] = t;
  pthread_mutex_unlock(&ring_lock);
  free(old);
}

static void report_dead(const char *op, const ax_tensor *t) {
  char where[256];
  if (t->origin_file)
    snprintf(where, sizeof where, "inside the scope opened at %s:%d, and released when that scope ended",
             t->origin_file, t->origin_line);
  else
    snprintf(where, sizeof where, "inside a scope or outside any, and released since (ax_scope_end or ax_free)");
  ax_error("%s: a tensor used after it was released: the %s %s tensor made by %s %s (AXON_DEBUG_SCOPES; ax_keep "
           "hands a tensor to the enclosing scope, ax_persist to you)",
           op, ax_dtype_name(t->dtype), ax__shp(t), t->origin ? t->origin : "an unknown op", where);
}

bool ax__check_alive(const char *op, const ax_tensor *t) {
  if (!t || t->device.type != AX__DEVICE_DEAD) return true;
  report_dead(op, t);
  return false;
}

void ax__report_dead_device(const char *op, ax_device d) {
  pthread_mutex_lock(&ring_lock);
  ax_tensor *t = d.index >= 0 && d.index < QUARANTINE ? ring[d.index] : NULL;
  ax_tensor copy;
  if (t) copy = *t;
  pthread_mutex_unlock(&ring_lock);
  if (t) report_dead(op, &copy);
  else ax_error("%s: a tensor used after it was released (AXON_DEBUG_SCOPES)", op);
}

int ax__scope_report_open(FILE *f) {
  if (scope_depth == 0) return 0;
  const scope *s = &scopes[scope_depth - 1];
  fprintf(f, "axon: %d scope%s still open; innermost opened at %s:%d (AXON_DEBUG_SCOPES: every ax_scope_begin needs "
             "its ax_scope_end)\n",
          scope_depth, scope_depth == 1 ? "" : "s", s->file ? s->file : "?", s->line);
  fflush(f);
  return scope_depth;
}

/* registered once the debug mode is first on; reports only if it still is at exit (a child
 * process may have turned it off after fork) */
static void at_exit_report(void) {
  if (ax_settings_get()->debug_scopes) ax__scope_report_open(stderr);
}
