/* SPDX-License-Identifier: BSD-3-Clause */
/* DistributedDataParallel: gradient buckets reduced while backward runs.
 *
 * Parameters are grouped into buckets of at most bucket_mb, in reverse
 * registration order (the order in which backward usually finishes them).
 * Each parameter's grad hook marks it ready; when a bucket's last parameter
 * is ready, its gradients are copied into one flat buffer and a non-blocking
 * all-reduce (average) starts. Buckets launch strictly in index order on every
 * rank, because collectives are matched by issue order: a bucket that becomes
 * ready early waits for its predecessors. ax_ddp_finish waits for all of them
 * and copies the averages back into .grad. */
#include <stdlib.h>
#include <string.h>

#include "dist/internal.h"

typedef struct ddp_param {
  struct ax_ddp *d;
  ax_tensor *p;
  int bucket;
  int64_t offset; /* in the bucket's buffer, in elements */
  bool ready;
} ddp_param;

typedef struct bucket {
  int first, n;  /* its parameters are pp[order[first .. first + n)] */
  ax_tensor *buf; /* flat, persistent */
  int pending;
  bool ready, launched, done;
  ax_comm_work *work;
} bucket;

struct ax_ddp {
  ax_module *m;
  ax_comm *c;
  ax_ddp_opts o;
  int np, nb, next_launch;
  ddp_param *pp;
  int *order;
  bucket *b;
  bool no_sync;
  ax_ddp_event *ev;
  int n_ev, cap_ev, seq;
  bool log_closed; /* the next event starts a new step's log */
};

static void log_event(ax_ddp *d, ax_ddp_event_kind k, int b) {
  if (d->log_closed) {
    d->n_ev = d->seq = 0;
    d->log_closed = false;
  }
  if (d->n_ev == d->cap_ev) {
    d->cap_ev = d->cap_ev ? 2 * d->cap_ev : 64;
    d->ev = realloc(d->ev, (size_t)d->cap_ev * sizeof *d->ev);
  }
  d->ev[d->n_ev++] = (ax_ddp_event){k, b, d->seq++, ax__dist_now()};
}

/* The gradient of q as a view of its slot in the bucket buffer. */
static ax_tensor *slot(ax_ddp *d, ddp_param *q) {
  ax_tensor *flat = ax_narrow(d->b[q->bucket].buf, 0, q->offset, ax_numel(q->p));
  return ax_view(flat, q->p->ndim, q->p->shape);
}

static void launch(ax_ddp *d, int i) {
  bucket *b = &d->b[i];
  ax_scope_begin();
  ax_no_grad_begin();
  for (int k = 0; k < b->n; k++) {
    ddp_param *q = &d->pp[d->order[b->first + k]];
    if (q->p->grad) ax_copy_(slot(d, q), q->p->grad);
    else ax_copy_(slot(d, q), ax_scalar(0, &(ax_tensor_opts){.dtype = q->p->dtype, .device = q->p->device}));
  }
  ax_no_grad_end();
  ax_scope_end();
  b->work = ax_all_reduce_start(d->c, b->buf, AX_DIST_AVG);
  b->launched = true;
  log_event(d, AX_DDP_EVENT_BUCKET_LAUNCH, i);
}

static void launch_ready(ax_ddp *d) {
  while (d->next_launch < d->nb && d->b[d->next_launch].ready) launch(d, d->next_launch++);
}

/* Drives MPI's progress on launched buckets and notes the ones that finished. */
static void poll(ax_ddp *d) {
  for (int i = 0; i < d->next_launch; i++) {
    bucket *b = &d->b[i];
    if (!b->done && b->work && ax_comm_work_test(b->work)) {
      b->done = true;
      log_event(d, AX_DDP_EVENT_BUCKET_DONE, i);
    }
  }
}

static void on_grad_ready(ax_tensor *leaf, void *user) {
  ddp_param *q = user;
  ax_ddp *d = q->d;
  (void)leaf;
  if (d->no_sync) return;
  if (q->ready) {
    ax_error("ax_ddp: a parameter %s got a second gradient in one step: call ax_ddp_no_sync(ddp, true) around all but "
             "the last backward pass of a step",
             ax_shape_str(q->p, (char[64]){0}, 64));
    return;
  }
  q->ready = true;
  poll(d);
  bucket *b = &d->b[q->bucket];
  if (--b->pending == 0) {
    b->ready = true;
    if (!d->o.no_overlap) launch_ready(d);
  }
}

static void reset(ax_ddp *d) {
  for (int i = 0; i < d->np; i++) d->pp[i].ready = false;
  for (int i = 0; i < d->nb; i++) {
    bucket *b = &d->b[i];
    b->pending = b->n;
    b->ready = b->launched = b->done = false;
    b->work = NULL;
  }
  d->next_launch = 0;
}

/* ---- start-up: same model everywhere, then rank 0's values everywhere ---- */

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *s = p;
  for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
  return h;
}

/* true when every rank has the same v (max == min) */
static bool agree(ax_comm *c, int64_t *v, int n) {
  ax_scope_begin();
  ax_tensor *hi = ax_from_data(v, 1, (int64_t[]){n}, &(ax_tensor_opts){.dtype = AX_I64});
  ax_tensor *lo = ax_clone(hi);
  ax_all_reduce(c, hi, AX_DIST_MAX);
  ax_all_reduce(c, lo, AX_DIST_MIN);
  bool same = memcmp(ax_data_ptr(hi), ax_data_ptr(lo), (size_t)n * sizeof *v) == 0;
  ax_scope_end();
  return same;
}

static uint64_t values_hash(ax_state_dict *sd) {
  uint64_t h = 0xcbf29ce484222325ull;
  ax_scope_begin();
  for (int i = 0; i < ax_state_dict_size(sd); i++) {
    ax_tensor *t = ax_to(ax_contiguous(ax_state_dict_tensor(sd, i)), AX_CPU);
    h = fnv(h, ax_data_ptr(t), ax_nbytes(t));
  }
  ax_scope_end();
  return h;
}

static int sync_module(ax_ddp *d, bool check_shapes) {
  ax_state_dict *sd = ax_state_dict_new();
  ax_module_state_dict(d->m, sd);
  int rc = 0;
  if (check_shapes) {
    uint64_t h = 0xcbf29ce484222325ull;
    int64_t total = 0;
    for (int i = 0; i < ax_state_dict_size(sd); i++) {
      ax_tensor *t = ax_state_dict_tensor(sd, i);
      const char *name = ax_state_dict_name(sd, i);
      h = fnv(h, name, strlen(name) + 1);
      h = fnv(h, t->shape, (size_t)t->ndim * sizeof t->shape[0]);
      h = fnv(h, &t->dtype, sizeof t->dtype);
      total += ax_numel(t);
    }
    int64_t v[3] = {ax_state_dict_size(sd), total, (int64_t)h};
    if (!agree(d->c, v, 3)) {
      ax_error("ax_ddp_new: the ranks built different models (rank %d has %lld tensors, %lld elements): every rank "
               "must build the same model with the same options",
               d->c->rank, (long long)v[0], (long long)v[1]);
      rc = -1;
    }
  }
  ax_no_grad_begin();
  for (int i = 0; rc == 0 && i < ax_state_dict_size(sd); i++) {
    ax_tensor *t = ax_state_dict_tensor(sd, i);
    ax_scope_begin();
    ax_tensor *s = ax_contiguous(t);
    rc = ax_broadcast(d->c, s, 0);
    if (rc == 0 && s != t) rc = ax_copy_(t, s);
    ax_scope_end();
  }
  ax_no_grad_end();
  if (rc == 0 && check_shapes) {
    int64_t h = (int64_t)values_hash(sd);
    if (!agree(d->c, &h, 1)) {
      ax_error("ax_ddp_new: parameters differ across ranks after the broadcast from rank 0");
      rc = -1;
    }
  }
  ax_state_dict_free(sd);
  return rc;
}

/* ---- public ---- */

ax_ddp *ax_ddp_new(ax_module *m, ax_comm *c, const ax_ddp_opts *o) {
  if (!m || !c) return NULL;
  ax_ddp *d = calloc(1, sizeof *d);
  d->m = m;
  d->c = c;
  if (o) d->o = *o;
  if (!(d->o.bucket_mb > 0)) d->o.bucket_mb = 25;
  if (!d->o.no_broadcast && c->size > 1 && sync_module(d, true) != 0) {
    free(d);
    return NULL;
  }
  d->np = ax_module_parameters(m, NULL, 0);
  ax_tensor **params = calloc((size_t)(d->np ? d->np : 1), sizeof *params);
  ax_module_parameters(m, params, d->np);
  d->pp = calloc((size_t)(d->np ? d->np : 1), sizeof *d->pp);
  d->order = calloc((size_t)(d->np ? d->np : 1), sizeof *d->order);
  d->b = calloc((size_t)(d->np ? d->np : 1), sizeof *d->b);
  size_t cap = (size_t)(d->o.bucket_mb * 1048576.0);
  ax_scope_begin(); /* the buffers leave it persistent (ax_persist) */
  size_t used = 0;
  int64_t elems = 0;
  for (int k = 0; k < d->np; k++) { /* reverse registration order */
    int i = d->np - 1 - k;
    ax_tensor *p = params[i];
    bucket *cur = d->nb ? &d->b[d->nb - 1] : NULL;
    ax_tensor *first = cur ? d->pp[d->order[cur->first]].p : NULL;
    if (!cur || used + ax_nbytes(p) > cap || first->dtype != p->dtype || !ax_device_eq(first->device, p->device)) {
      if (cur) cur->buf = ax_persist(ax_zeros(1, &elems, &(ax_tensor_opts){.dtype = first->dtype, .device = first->device}));
      cur = &d->b[d->nb++];
      cur->first = k;
      used = 0;
      elems = 0;
    }
    d->pp[i] = (ddp_param){d, p, d->nb - 1, elems, false};
    d->order[k] = i;
    cur->n++;
    used += ax_nbytes(p);
    elems += ax_numel(p);
  }
  if (d->nb) {
    bucket *cur = &d->b[d->nb - 1];
    ax_tensor *first = d->pp[d->order[cur->first]].p;
    cur->buf = ax_persist(ax_zeros(1, &elems, &(ax_tensor_opts){.dtype = first->dtype, .device = first->device}));
  }
  ax_scope_end();
  for (int i = 0; i < d->np; i++) ax_set_grad_hook(params[i], on_grad_ready, &d->pp[i]);
  free(params);
  reset(d);
  return d;
}

void ax_ddp_free(ax_ddp *d) {
  if (!d) return;
  for (int i = 0; i < d->np; i++) ax_set_grad_hook(d->pp[i].p, NULL, NULL);
  for (int i = 0; i < d->nb; i++) {
    if (d->b[i].work) ax_comm_work_wait(d->b[i].work);
    ax_free(d->b[i].buf);
  }
  free(d->pp);
  free(d->order);
  free(d->b);
  free(d->ev);
  free(d);
}

void ax_ddp_begin_step(ax_ddp *d) {
  if (!d) return;
  d->n_ev = d->seq = 0;
  d->log_closed = false;
  if (d->o.broadcast_buffers && d->c->size > 1) sync_module(d, false);
}

int ax_ddp_finish(ax_ddp *d) {
  if (!d) return -1;
  log_event(d, AX_DDP_EVENT_BACKWARD_END, -1);
  if (d->no_sync) {
    reset(d);
    d->log_closed = true;
    return 0;
  }
  for (int i = 0; i < d->nb; i++) d->b[i].ready = true; /* parameters outside this step's graph reduce zeros */
  launch_ready(d);
  int rc = 0;
  ax_scope_begin();
  ax_no_grad_begin();
  for (int i = 0; i < d->nb; i++) {
    bucket *b = &d->b[i];
    if (!b->work || ax_comm_work_wait(b->work) != 0) rc = -1;
    b->work = NULL;
    if (!b->done) log_event(d, AX_DDP_EVENT_BUCKET_DONE, i);
    for (int k = 0; rc == 0 && k < b->n; k++) {
      ddp_param *q = &d->pp[d->order[b->first + k]];
      if (!q->p->grad) {
        if (d->c->size == 1) continue; /* as without DDP: no gradient, no update */
        q->p->grad = ax_persist(ax_zeros_like(q->p));
      }
      if (ax_copy_(q->p->grad, slot(d, q)) != 0) rc = -1;
    }
  }
  ax_no_grad_end();
  ax_scope_end();
  reset(d);
  log_event(d, AX_DDP_EVENT_FINISH_END, -1);
  d->log_closed = true;
  return rc;
}

void ax_ddp_no_sync(ax_ddp *d, bool on) {
  if (d) d->no_sync = on;
}

int ax_ddp_num_buckets(const ax_ddp *d) { return d ? d->nb : 0; }

int ax_ddp_bucket_params(const ax_ddp *d, int b, int *param_index, int max) {
  if (!d || b < 0 || b >= d->nb) return 0;
  for (int k = 0; k < d->b[b].n && k < max; k++) param_index[k] = d->order[d->b[b].first + k];
  return d->b[b].n;
}

int ax_ddp_events(const ax_ddp *d, ax_ddp_event *out, int max) {
  if (!d) return 0;
  for (int i = 0; i < d->n_ev && i < max; i++) out[i] = d->ev[i];
  return d->n_ev;
}
