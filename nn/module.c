/* SPDX-License-Identifier: BSD-3-Clause */
/* The module system: named parameters, buffers and children, traversal in
 * PyTorch's order, state dicts, device/dtype moves and the printed summary. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "axon.h"
#include "core/fail.h"

typedef struct entry {
  char *name;
  ax_tensor *t;
} entry;

typedef struct child {
  char *name;
  ax_module *m;
} child;

struct ax_module {
  const ax_module_type *type;
  void *impl;
  bool training;
  entry *params, *buffers;
  int n_params, cap_params, n_buffers, cap_buffers;
  child *children;
  int n_children, cap_children;
  char **name_cache; /* full names handed out by ax_module_named_parameters */
  int n_name_cache;
};

#define NAME_MAX_LEN 512

static void *grow(void *buf, int *cap, int need, size_t elem) {
  if (need <= *cap) return buf;
  int c = *cap ? 2 * *cap : 8;
  while (c < need) c *= 2;
  void *p = realloc(buf, (size_t)c * elem);
  if (p) *cap = c;
  return p;
}

ax_module *ax_module_new(const ax_module_type *type, size_t impl_size) {
  ax_module *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->type = type;
  m->training = true;
  if (impl_size) {
    m->impl = calloc(1, impl_size);
    if (!m->impl) {
      free(m);
      return NULL;
    }
  }
  return m;
}

void *ax_module_impl(const ax_module *m) { return m ? m->impl : NULL; }
const char *ax_module_type_name(const ax_module *m) { return m && m->type ? m->type->name : NULL; }

static void free_name_cache(ax_module *m) {
  for (int i = 0; i < m->n_name_cache; i++) free(m->name_cache[i]);
  free(m->name_cache);
  m->name_cache = NULL;
  m->n_name_cache = 0;
}

void ax_module_free(ax_module *m) {
  if (!m) return;
  if (m->type && m->type->free) m->type->free(m);
  for (int i = 0; i < m->n_children; i++) {
    ax_module_free(m->children[i].m);
    free(m->children[i].name);
  }
  for (int i = 0; i < m->n_params; i++) {
    ax_free(m->params[i].t);
    free(m->params[i].name);
  }
  for (int i = 0; i < m->n_buffers; i++) {
    ax_free(m->buffers[i].t);
    free(m->buffers[i].name);
  }
  free_name_cache(m);
  free(m->children);
  free(m->params);
  free(m->buffers);
  free(m->impl);
  free(m);
}

static bool local_name_taken(const ax_module *m, const char *name) {
  for (int i = 0; i < m->n_params; i++)
    if (!strcmp(m->params[i].name, name)) return true;
  for (int i = 0; i < m->n_buffers; i++)
    if (!strcmp(m->buffers[i].name, name)) return true;
  for (int i = 0; i < m->n_children; i++)
    if (!strcmp(m->children[i].name, name)) return true;
  return false;
}

static bool check_new_name(const ax_module *m, const char *name, const char *op) {
  if (!name || !*name || strchr(name, '.') || strlen(name) >= NAME_MAX_LEN / 4) {
    ax_error("%s: '%s' is not a valid name (non-empty, no '.')", op, name ? name : "(null)");
    return false;
  }
  if (local_name_taken(m, name)) {
    ax_error("%s: %s already has a member named '%s'", op, ax_module_type_name(m), name);
    return false;
  }
  return true;
}

static ax_tensor *add_tensor(ax_module *m, const char *name, ax_tensor *t, bool param, const char *op) {
  if (!m || !t) return NULL;
  if (!check_new_name(m, name, op)) return NULL;
  if (param && !ax_dtype_is_float(t->dtype)) {
    ax_error("%s: parameter '%s' must be floating-point, got %s", op, name, ax_dtype_name(t->dtype));
    return NULL;
  }
  entry **list = param ? &m->params : &m->buffers;
  int *n = param ? &m->n_params : &m->n_buffers, *cap = param ? &m->cap_params : &m->cap_buffers;
  entry *p = grow(*list, cap, *n + 1, sizeof(entry));
  char *copy = strdup(name);
  if (!p || !copy) {
    free(copy);
    if (p) *list = p;
    ax_error("%s: out of memory", op);
    return NULL;
  }
  *list = p;
  ax_persist(t); /* detaches a non-leaf, and the module now holds a reference */
  if (param) ax_set_requires_grad(t, true);
  p[*n] = (entry){copy, t};
  (*n)++;
  return t;
}

ax_tensor *ax_module_add_parameter(ax_module *m, const char *name, ax_tensor *t) {
  return add_tensor(m, name, t, true, "ax_module_add_parameter");
}

ax_tensor *ax_module_add_buffer(ax_module *m, const char *name, ax_tensor *t) {
  return add_tensor(m, name, t, false, "ax_module_add_buffer");
}

ax_tensor *ax_module_new_parameter(ax_module *m, const char *name, int ndim, const int64_t *shape) {
  if (!m) return NULL;
  ax_scope_begin();
  ax_tensor *t = add_tensor(m, name, ax_zeros(ndim, shape, NULL), true, "ax_module_new_parameter");
  ax_scope_end();
  return t;
}

ax_module *ax_module_add_child(ax_module *m, const char *name, ax_module *c) {
  if (!m || !c) {
    ax_module_free(c);
    return NULL;
  }
  if (!check_new_name(m, name, "ax_module_add_child")) {
    ax_module_free(c);
    return NULL;
  }
  child *p = grow(m->children, &m->cap_children, m->n_children + 1, sizeof(child));
  char *copy = strdup(name);
  if (!p || !copy) {
    free(copy);
    if (p) m->children = p;
    ax_module_free(c);
    ax_error("ax_module_add_child: out of memory");
    return NULL;
  }
  m->children = p;
  p[m->n_children++] = (child){copy, c};
  return c;
}

ax_tensor *ax_module_forward(ax_module *m, ax_tensor *x) {
  if (!m || !x) return NULL;
  return m->type->forward(m, x);
}

void ax_module_train(ax_module *m, bool training) {
  if (!m) return;
  m->training = training;
  for (int i = 0; i < m->n_children; i++) ax_module_train(m->children[i].m, training);
}

bool ax_module_is_training(const ax_module *m) { return m && m->training; }
int ax_module_num_children(const ax_module *m) { return m ? m->n_children : 0; }
ax_module *ax_module_child_at(const ax_module *m, int i) {
  return m && i >= 0 && i < m->n_children ? m->children[i].m : NULL;
}
const ax_module_type *ax_module_type_of(const ax_module *m) { return m ? m->type : NULL; }

ax_module *ax_module_replace_child_at(ax_module *m, int i, ax_module *c) {
  if (!m || !c || i < 0 || i >= m->n_children) {
    if (m && c) ax_error("ax_module_replace_child_at: %s has no child %d", ax_module_type_name(m), i);
    ax_module_free(c);
    return NULL;
  }
  ax_module_free(m->children[i].m);
  m->children[i].m = c;
  return c;
}

/* ---------------- traversal ---------------- */

enum { WALK_PARAMS = 1, WALK_BUFFERS = 2 };

/* Calls fn(full name, tensor, user) for each tensor in PyTorch's order: own parameters,
 * own buffers, then each child's. Stops at and returns the first nonzero result. */
typedef int (*walk_fn)(const char *name, ax_tensor *t, void *user);

static int walk(ax_module *m, char *path, size_t len, int what, walk_fn fn, void *user) {
  for (int k = 0; k < 2; k++) {
    if (!(what & (k ? WALK_BUFFERS : WALK_PARAMS))) continue;
    entry *list = k ? m->buffers : m->params;
    int n = k ? m->n_buffers : m->n_params;
    for (int i = 0; i < n; i++) {
      snprintf(path + len, NAME_MAX_LEN - len, "%s", list[i].name);
      int rc = fn(path, list[i].t, user);
      if (rc) return rc;
    }
  }
  for (int i = 0; i < m->n_children; i++) {
    int w = snprintf(path + len, NAME_MAX_LEN - len, "%s.", m->children[i].name);
    size_t next = len + (size_t)w < NAME_MAX_LEN ? len + (size_t)w : NAME_MAX_LEN - 1;
    int rc = walk(m->children[i].m, path, next, what, fn, user);
    if (rc) return rc;
  }
  path[len] = '\0';
  return 0;
}

static int walk_all(ax_module *m, int what, walk_fn fn, void *user) {
  char path[NAME_MAX_LEN] = "";
  return walk(m, path, 0, what, fn, user);
}

typedef struct collect {
  const char **names; /* NULL: do not collect names */
  char **owned;       /* strdup'd names when collecting them */
  ax_tensor **out;
  int n, max;
  int64_t numel;
} collect;

static int collect_one(const char *name, ax_tensor *t, void *user) {
  collect *c = user;
  if (c->n < c->max) {
    if (c->out) c->out[c->n] = t;
    if (c->names) {
      c->owned[c->n] = strdup(name);
      c->names[c->n] = c->owned[c->n];
    }
  }
  c->n++;
  c->numel += ax_numel(t);
  return 0;
}

int ax_module_parameters(ax_module *m, ax_tensor **out, int max) {
  if (!m) return 0;
  collect c = {.out = out, .max = out ? max : 0};
  walk_all(m, WALK_PARAMS, collect_one, &c);
  return c.n;
}

int ax_module_named_parameters(ax_module *m, const char **names, ax_tensor **out, int max) {
  if (!m) return 0;
  free_name_cache(m);
  int n = ax_module_parameters(m, NULL, 0);
  int keep = names ? (n < max ? n : max) : 0;
  if (keep > 0) {
    m->name_cache = calloc((size_t)keep, sizeof(char *));
    if (!m->name_cache) return -1;
    m->n_name_cache = keep;
  }
  collect c = {.names = keep ? names : NULL, .owned = m->name_cache, .out = out, .max = out || keep ? max : 0};
  walk_all(m, WALK_PARAMS, collect_one, &c);
  return c.n;
}

int64_t ax_module_num_parameters(ax_module *m) {
  if (!m) return 0;
  collect c = {0};
  walk_all(m, WALK_PARAMS, collect_one, &c);
  return c.numel;
}

static int zero_one(const char *name, ax_tensor *t, void *user) {
  ax_zero_grad(t);
  return 0;
}

void ax_module_zero_grad(ax_module *m) {
  if (m) walk_all(m, WALK_PARAMS, zero_one, NULL);
}

ax_module *ax_module_child(ax_module *m, const char *name) {
  if (!m || !name) return NULL;
  while (*name) {
    const char *dot = strchr(name, '.');
    size_t len = dot ? (size_t)(dot - name) : strlen(name);
    ax_module *next = NULL;
    for (int i = 0; i < m->n_children && !next; i++)
      if (strlen(m->children[i].name) == len && !strncmp(m->children[i].name, name, len)) next = m->children[i].m;
    if (!next) return NULL;
    m = next;
    name += len + (dot ? 1 : 0);
  }
  return m;
}

ax_tensor *ax_module_tensor(ax_module *m, const char *name) {
  if (!m || !name) return NULL;
  const char *dot = strrchr(name, '.'), *local = name;
  if (dot) {
    char path[NAME_MAX_LEN];
    size_t len = (size_t)(dot - name);
    if (len >= sizeof path) return NULL;
    memcpy(path, name, len);
    path[len] = '\0';
    m = ax_module_child(m, path);
    if (!m) return NULL;
    local = dot + 1;
  }
  for (int i = 0; i < m->n_params; i++)
    if (!strcmp(m->params[i].name, local)) return m->params[i].t;
  for (int i = 0; i < m->n_buffers; i++)
    if (!strcmp(m->buffers[i].name, local)) return m->buffers[i].t;
  return NULL;
}

/* ---------------- state dicts ---------------- */

static int add_to_dict(const char *name, ax_tensor *t, void *user) {
  return ax_state_dict_set(user, name, t) ? -1 : 0;
}

int ax_module_state_dict(ax_module *m, ax_state_dict *sd) {
  if (!m || !sd) return -1;
  return walk_all(m, WALK_PARAMS | WALK_BUFFERS, add_to_dict, sd) ? -1 : 0;
}

/* A string that grows by appending (for error messages listing keys). */
typedef struct strbuf {
  char *s;
  size_t len, cap;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int need = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (need > 0 && b->len + (size_t)need + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 128;
    while (cap < b->len + (size_t)need + 1) cap *= 2;
    char *p = realloc(b->s, cap);
    if (!p) {
      va_end(ap2);
      return;
    }
    b->s = p;
    b->cap = cap;
  }
  if (need > 0) {
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap2);
    b->len += (size_t)need;
  }
  va_end(ap2);
}

typedef struct load_check {
  const ax_state_dict *sd;
  bool strict;
  strbuf missing, mismatch;
  int n_missing, n_mismatch, n_found;
  strbuf first_missing, first_mismatch; /* for the summary when the full lists do not fit */
} load_check;

static const char *shape_of(const ax_tensor *t, char *buf, size_t n) { return ax_shape_str(t, buf, n); }

static int check_one(const char *name, ax_tensor *t, void *user) {
  load_check *c = user;
  ax_tensor *src = ax_state_dict_get(c->sd, name);
  if (!src) {
    if (!c->n_missing) sb_printf(&c->first_missing, "'%s'", name);
    sb_printf(&c->missing, "%s'%s'", c->n_missing++ ? ", " : "", name);
    return 0;
  }
  c->n_found++;
  bool same = src->ndim == t->ndim;
  for (int d = 0; same && d < t->ndim; d++) same = src->shape[d] == t->shape[d];
  if (!same) {
    char a[128], b[128];
    if (!c->n_mismatch)
      sb_printf(&c->first_mismatch, "'%s' (%s in the state dict, %s in the model)", name, shape_of(src, a, sizeof a),
                shape_of(t, b, sizeof b));
    sb_printf(&c->mismatch, "%ssize mismatch for '%s': %s in the state dict, %s in the model",
              c->n_mismatch++ ? "; " : "", name, shape_of(src, a, sizeof a), shape_of(t, b, sizeof b));
  }
  return 0;
}

typedef struct copy_ctx {
  const ax_state_dict *sd;
  char *err;
  size_t errlen;
} copy_ctx;

static int copy_one(const char *name, ax_tensor *t, void *user) {
  copy_ctx *c = user;
  ax_tensor *src = ax_state_dict_get(c->sd, name);
  if (!src) return 0;
  ax_scope_begin();
  if (!ax_device_eq(src->device, t->device)) src = ax_to(src, t->device);
  int rc = src ? ax_state_copy_into(t, src, name, c->err, c->errlen) : -1;
  ax_scope_end();
  return rc;
}

int ax_module_load_state_dict(ax_module *m, const ax_state_dict *sd, bool strict, char *err, size_t errlen) {
  if (err && errlen) err[0] = '\0';
  if (!m || !sd) {
    ax__fail(err, errlen, "ax_module_load_state_dict: no module or state dict");
    return -1;
  }
  load_check c = {.sd = sd, .strict = strict};
  walk_all(m, WALK_PARAMS | WALK_BUFFERS, check_one, &c);
  strbuf unexpected = {0}, first_unexpected = {0};
  int n_unexpected = 0;
  if (strict) {
    for (int i = 0; i < ax_state_dict_size(sd); i++) {
      const char *name = ax_state_dict_name(sd, i);
      if (ax_module_tensor(m, name)) continue;
      if (!n_unexpected) sb_printf(&first_unexpected, "'%s'", name);
      sb_printf(&unexpected, "%s'%s'", n_unexpected++ ? ", " : "", name);
    }
  }
  bool fail = c.n_mismatch || (strict && (c.n_missing || n_unexpected));
  if (fail && err) {
    strbuf msg = {0};
    if (strict && c.n_missing) sb_printf(&msg, "missing key(s) in the state dict: %s", c.missing.s);
    if (n_unexpected) sb_printf(&msg, "%sunexpected key(s) in the state dict: %s", msg.len ? "; " : "", unexpected.s);
    if (c.n_mismatch) sb_printf(&msg, "%s%s", msg.len ? "; " : "", c.mismatch.s);
    int full = snprintf(err, errlen, "ax_module_load_state_dict: %s", msg.s ? msg.s : "");
    if (full >= 0 && (size_t)full >= errlen) {
      /* the lists do not fit the caller's buffer: counts first, then the first key of each */
      strbuf sum = {0};
      int n_miss = strict ? c.n_missing : 0;
      sb_printf(&sum, "ax_module_load_state_dict: the state dict does not match the model: %d missing, %d unexpected, "
                      "%d size mismatch%s",
                n_miss, n_unexpected, c.n_mismatch, c.n_mismatch == 1 ? "" : "es");
      if (n_miss) sb_printf(&sum, "; first missing: %s", c.first_missing.s);
      if (n_unexpected) sb_printf(&sum, "; first unexpected: %s", first_unexpected.s);
      if (c.n_mismatch) sb_printf(&sum, "; first size mismatch: %s", c.first_mismatch.s);
      snprintf(err, errlen, "%s", sum.s);
      free(sum.s);
    }
    free(msg.s);
  }
  free(c.missing.s);
  free(c.mismatch.s);
  free(c.first_missing.s);
  free(c.first_mismatch.s);
  free(unexpected.s);
  free(first_unexpected.s);
  if (fail) return -1;
  copy_ctx cc = {sd, err, errlen};
  return walk_all(m, WALK_PARAMS | WALK_BUFFERS, copy_one, &cc) ? -1 : 0;
}

/* ---------------- moves ---------------- */

/* Gives t (and its gradient) the storage of a copy on dev with dtype dt, keeping the
 * ax_tensor itself so pointers held by optimizers and layers stay valid. */
static int move_tensor(ax_tensor *t, ax_device dev, ax_dtype dt) {
  if (!t) return 0;
  if (!ax_dtype_is_float(t->dtype)) dt = t->dtype; /* counters stay integers */
  if (ax_device_eq(t->device, dev) && t->dtype == dt) return move_tensor(t->grad, dev, dt);
  int rc = -1;
  ax_scope_begin();
  ax_no_grad_begin();
  ax_tensor *c = ax_detach(t);
  if (c && !ax_device_eq(c->device, dev)) c = ax_to(c, dev);
  if (c && c->dtype != dt) c = ax_cast(c, dt);
  if (c && (ax_shares_storage(c, t) || !ax_is_contiguous(c))) c = ax_clone(c);
  if (c) {
    struct ax_storage *s = t->storage;
    t->storage = c->storage;
    c->storage = s; /* released with c at the end of the scope */
    t->dtype = c->dtype;
    t->device = c->device;
    t->offset = c->offset;
    memcpy(t->strides, c->strides, sizeof t->strides);
    rc = 0;
  }
  ax_no_grad_end();
  ax_scope_end();
  return rc ? rc : move_tensor(t->grad, dev, dt);
}

typedef struct move_ctx {
  bool set_device, set_dtype;
  ax_device dev;
  ax_dtype dt;
} move_ctx;

static int move_one(const char *name, ax_tensor *t, void *user) {
  move_ctx *c = user;
  return move_tensor(t, c->set_device ? c->dev : t->device, c->set_dtype ? c->dt : t->dtype);
}

int ax_module_to(ax_module *m, ax_device d) {
  if (!m) return -1;
  move_ctx c = {.set_device = true, .dev = d};
  return walk_all(m, WALK_PARAMS | WALK_BUFFERS, move_one, &c) ? -1 : 0;
}

int ax_module_to_dtype(ax_module *m, ax_dtype dt) {
  if (!m) return -1;
  if (!ax_dtype_is_float(dt)) {
    ax_error("ax_module_to_dtype: modules hold floating-point parameters, got %s", ax_dtype_name(dt));
    return -1;
  }
  move_ctx c = {.set_dtype = true, .dt = dt};
  return walk_all(m, WALK_PARAMS | WALK_BUFFERS, move_one, &c) ? -1 : 0;
}

/* ---------------- printing (PyTorch's repr) ---------------- */

static void repr_into(ax_module *m, strbuf *b, int indent) {
  char extra[512] = "";
  if (m->type->extra_repr) m->type->extra_repr(m, extra, sizeof extra);
  sb_printf(b, "%s(", m->type->name);
  if (!m->n_children) {
    sb_printf(b, "%s)", extra);
    return;
  }
  if (extra[0]) sb_printf(b, "\n%*s%s", indent + 2, "", extra);
  for (int i = 0; i < m->n_children; i++) {
    sb_printf(b, "\n%*s(%s): ", indent + 2, "", m->children[i].name);
    repr_into(m->children[i].m, b, indent + 2);
  }
  sb_printf(b, "\n%*s)", indent, "");
}

size_t ax_module_repr(ax_module *m, char *buf, size_t n) {
  if (!m) return 0;
  strbuf b = {0};
  repr_into(m, &b, 0);
  if (buf && n) snprintf(buf, n, "%s", b.s ? b.s : "");
  size_t len = b.len;
  free(b.s);
  return len;
}

void ax_module_print(ax_module *m, FILE *f) {
  if (!m) return;
  if (!f) f = stdout;
  strbuf b = {0};
  repr_into(m, &b, 0);
  int64_t n = ax_module_num_parameters(m);
  fprintf(f, "%s\nParameters: %lld (%d tensors)\n", b.s ? b.s : "", (long long)n, ax_module_parameters(m, NULL, 0));
  free(b.s);
}
