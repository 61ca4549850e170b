/* SPDX-License-Identifier: BSD-3-Clause */
/* Magnitude pruning: see include/axon/prune.h. The ranking runs on the host (a copy of
 * the weights); the masks live on the weights' device and are applied with ops. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "axon.h"
#include "core/fail.h"

#define MAX_LAYERS 1024

struct ax_pruner {
  int n;
  ax_tensor *w[MAX_LAYERS];    /* borrowed: the model's weights */
  ax_tensor *mask[MAX_LAYERS]; /* owned, f32 0/1, the weight's shape and device */
  int64_t numel, zeros;
};

/* The model's prunable weights (two or more dims): count, names and tensors. */
static int prunable(ax_module *m, const char **names, ax_tensor **w) {
  int n = ax_module_named_parameters(m, NULL, NULL, 0);
  const char **all_n = calloc((size_t)(n > 0 ? n : 1), sizeof *all_n);
  ax_tensor **all_w = calloc((size_t)(n > 0 ? n : 1), sizeof *all_w);
  int k = 0;
  if (all_n && all_w) {
    ax_module_named_parameters(m, all_n, all_w, n);
    for (int i = 0; i < n && k < MAX_LAYERS; i++)
      if (all_w[i]->ndim >= 2) {
        if (names) names[k] = all_n[i];
        if (w) w[k] = all_w[i];
        k++;
      }
  }
  free(all_n);
  free(all_w);
  return k;
}

/* A host copy of w (f32), or NULL. */
static float *host_copy(ax_tensor *w) {
  float *h = malloc((size_t)ax_numel(w) * sizeof *h);
  if (h && ax_to_data(w, h, (size_t)ax_numel(w) * sizeof *h) != 0) {
    free(h);
    return NULL;
  }
  return h;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The k-th smallest (0-based) of n scores; k < n. */
static double kth(const double *s, int64_t n, int64_t k, int *bad) {
  double *c = malloc((size_t)n * sizeof *c);
  if (!c) return *bad = 1, 0;
  memcpy(c, s, (size_t)n * sizeof *c);
  qsort(c, (size_t)n, sizeof *c, cmp_double);
  double v = c[k];
  free(c);
  return v;
}

/* keep[i] = 0 for the k smallest scores (ties: the first ones), 1 for the others. */
static int select_smallest(const double *s, int64_t n, int64_t k, unsigned char *keep) {
  for (int64_t i = 0; i < n; i++) keep[i] = 1;
  if (k <= 0) return 0;
  int bad = 0;
  double thr = kth(s, n, k - 1, &bad);
  if (bad) return -1;
  int64_t cut = 0;
  for (int64_t i = 0; i < n; i++)
    if (s[i] < thr) keep[i] = 0, cut++;
  for (int64_t i = 0; i < n && cut < k; i++)
    if (s[i] == thr) keep[i] = 0, cut++;
  return 0;
}

/* The persistent mask of w from keep (one byte per weight). */
static ax_tensor *make_mask(ax_tensor *w, const unsigned char *keep) {
  int64_t n = ax_numel(w);
  float *h = malloc((size_t)n * sizeof *h);
  if (!h) return NULL;
  for (int64_t i = 0; i < n; i++) h[i] = keep[i] ? 1.0f : 0.0f;
  ax_scope_begin();
  ax_tensor *m = ax_from_data(h, w->ndim, w->shape, &(ax_tensor_opts){.dtype = AX_F32, .device = w->device});
  if (m) m = ax_persist(m);
  ax_scope_end();
  free(h);
  return m;
}

static int64_t units_of(const ax_tensor *w) { return w->shape[0]; }

/* The scores of one layer: |w| per weight, or (structured) the norm of each output unit,
 * divided by the mean norm of the layer's units when layers are ranked together (the
 * scale of a layer's weights follows its fan-in: raw norms would empty the wide layers). */
static int64_t layer_scores(const float *h, const ax_tensor *w, const ax_prune_spec *s, double *out) {
  int64_t n = ax_numel(w);
  if (!s->structured) {
    for (int64_t i = 0; i < n; i++) out[i] = fabs((double)h[i]);
    return n;
  }
  int64_t u = units_of(w), per = n / u;
  double mean = 0;
  for (int64_t r = 0; r < u; r++) {
    double acc = 0;
    for (int64_t j = 0; j < per; j++) {
      double v = fabs((double)h[r * per + j]);
      acc += s->norm == 2 ? v * v : v;
    }
    out[r] = s->norm == 2 ? sqrt(acc) : acc;
    mean += out[r] / (double)u;
  }
  for (int64_t r = 0; r < u && !s->per_layer && mean > 0; r++) out[r] /= mean;
  return u;
}

static int check_spec(const ax_prune_spec *s, char *err, size_t errlen) {
  if (!s) return ax__fail(err, errlen, "ax_prune_magnitude: no pruning spec");
  if (!(s->sparsity >= 0 && s->sparsity < 1))
    return ax__fail(err, errlen, "sparsity %g is outside [0, 1): it is the fraction of weights set to zero (0.8: 80%%)",
                    s->sparsity);
  if (s->norm != 0 && s->norm != 1 && s->norm != 2)
    return ax__fail(err, errlen, "structured pruning ranks units by their L1 or L2 norm (norm 1 or 2, got %d)", s->norm);
  return 0;
}

/* The weights, checked (f32, contiguous), into p. */
static int collect(ax_pruner *p, ax_module *model, char *err, size_t errlen) {
  const char *names[MAX_LAYERS];
  p->n = prunable(model, names, p->w);
  if (p->n == 0) return ax__fail(err, errlen, "the model has no prunable weights (parameters with two or more dims)");
  for (int i = 0; i < p->n; i++)
    if (p->w[i]->dtype != AX_F32 || !ax_is_contiguous(p->w[i]))
      return ax__fail(err, errlen, "cannot prune %s: only contiguous f32 weights are supported (it is %s)", names[i],
                      ax_dtype_name(p->w[i]->dtype));
  return 0;
}

/* keep[i][..] (per weight) from the spec; layers [0, n_rank) take part. */
static int rank_layers(ax_pruner *p, float **h, unsigned char **keep, int n_rank, const ax_prune_spec *s) {
  int64_t total = 0, off[MAX_LAYERS + 1];
  for (int i = 0; i < n_rank; i++) off[i] = total, total += s->structured ? units_of(p->w[i]) : ax_numel(p->w[i]);
  off[n_rank] = total;
  double *sc = malloc((size_t)(total > 0 ? total : 1) * sizeof *sc);
  unsigned char *uk = malloc((size_t)(total > 0 ? total : 1));
  int rc = sc && uk ? 0 : -1;
  for (int i = 0; i < n_rank && !rc; i++) layer_scores(h[i], p->w[i], s, sc + off[i]);
  if (!rc && s->per_layer)
    for (int i = 0; i < n_rank && !rc; i++)
      rc = select_smallest(sc + off[i], off[i + 1] - off[i], llround(s->sparsity * (double)(off[i + 1] - off[i])),
                           uk + off[i]);
  else if (!rc)
    rc = select_smallest(sc, total, llround(s->sparsity * (double)total), uk);
  for (int i = 0; i < n_rank && !rc; i++) {
    int64_t n = ax_numel(p->w[i]), per = s->structured ? n / units_of(p->w[i]) : 1;
    for (int64_t j = 0; j < n; j++) keep[i][j] = keep[i][j] && uk[off[i] + j / per];
  }
  free(sc);
  free(uk);
  return rc;
}

/* Masks from keep into p, and the weights masked. */
static int install_masks(ax_pruner *p, unsigned char **keep, char *err, size_t errlen) {
  p->numel = p->zeros = 0;
  for (int i = 0; i < p->n; i++) {
    int64_t n = ax_numel(p->w[i]);
    if (!(p->mask[i] = make_mask(p->w[i], keep[i])))
      return ax__fail(err, errlen, "cannot make the pruning masks: %s", ax_last_error());
    p->numel += n;
    for (int64_t j = 0; j < n; j++) p->zeros += !keep[i][j];
  }
  return ax_pruner_apply(p) ? ax__fail(err, errlen, "cannot mask the weights: %s", ax_last_error()) : 0;
}

/* Host copies and keep arrays of every layer (keep all 1); then fills masks by mode. */
static ax_pruner *build(ax_module *model, const ax_prune_spec *s, char *err, size_t errlen) {
  ax_pruner *p = calloc(1, sizeof *p);
  if (!p) return AX__FAIL_NULL(err, errlen, "out of host memory");
  if (collect(p, model, err, errlen)) return ax_pruner_free(p), NULL;
  float *h[MAX_LAYERS] = {0};
  unsigned char *keep[MAX_LAYERS] = {0};
  int rc = 0;
  for (int i = 0; i < p->n && !rc; i++) {
    int64_t n = ax_numel(p->w[i]);
    h[i] = host_copy(p->w[i]);
    keep[i] = malloc((size_t)n);
    if (!h[i] || !keep[i]) rc = ax__fail(err, errlen, "cannot read the weights: %s", ax_last_error());
    for (int64_t j = 0; !rc && j < n; j++) keep[i][j] = s ? 1 : h[i][j] != 0.0f;
  }
  /* structured pruning leaves the last layer (the classes) alone */
  int n_rank = s && s->structured && p->n > 1 ? p->n - 1 : p->n;
  if (!rc && s && s->sparsity > 0 && rank_layers(p, h, keep, n_rank, s))
    rc = ax__fail(err, errlen, "out of host memory");
  if (!rc) rc = install_masks(p, keep, err, errlen);
  for (int i = 0; i < p->n; i++) free(h[i]), free(keep[i]);
  if (rc) return ax_pruner_free(p), NULL;
  return p;
}

ax_pruner *ax_prune_magnitude(ax_module *model, const ax_prune_spec *spec, char *err, size_t errlen) {
  if (!model) return AX__FAIL_NULL(err, errlen, "ax_prune_magnitude: no model");
  if (check_spec(spec, err, errlen)) return NULL;
  ax_prune_spec s = *spec;
  if (s.norm == 0) s.norm = 1;
  return build(model, &s, err, errlen);
}

ax_pruner *ax_pruner_from_zeros(ax_module *model, char *err, size_t errlen) {
  if (!model) return AX__FAIL_NULL(err, errlen, "ax_pruner_from_zeros: no model");
  return build(model, NULL, err, errlen);
}

void ax_pruner_free(ax_pruner *p) {
  if (!p) return;
  for (int i = 0; i < p->n; i++) ax_free(p->mask[i]);
  free(p);
}

double ax_pruner_sparsity(const ax_pruner *p) { return p && p->numel ? (double)p->zeros / (double)p->numel : 0; }

/* t *= mask (in place, no graph), moving the mask first when the model moved. */
static int mask_tensor(ax_pruner *p, int i, ax_tensor *t) {
  if (!t) return 0;
  if (!ax_device_eq(p->mask[i]->device, t->device)) {
    ax_tensor *m = ax_to(p->mask[i], t->device);
    if (!m) return -1;
    ax_free(p->mask[i]);
    p->mask[i] = ax_persist(m);
  }
  return ax_copy_(t, ax_mul(t, p->mask[i]));
}

static int mask_all(ax_pruner *p, bool grads) {
  if (!p) return -1;
  int rc = 0;
  ax_no_grad_begin();
  ax_scope_begin();
  for (int i = 0; i < p->n && !rc; i++) rc = mask_tensor(p, i, grads ? p->w[i]->grad : p->w[i]);
  ax_scope_end();
  ax_no_grad_end();
  return rc;
}

int ax_pruner_mask_grads(ax_pruner *p) { return mask_all(p, true); }
int ax_pruner_apply(ax_pruner *p) { return mask_all(p, false); }
int ax_pruner_pre_step(void *ud) { return ax_pruner_mask_grads(ud); }
int ax_pruner_post_step(void *ud) { return ax_pruner_apply(ud); }

/* ---- the report ---- */

static int report_layer(const char *name, ax_tensor *w, ax_prune_layer *l) {
  float *h = host_copy(w);
  if (!h) return -1;
  memset(l, 0, sizeof *l);
  snprintf(l->name, sizeof l->name, "%s", name);
  l->numel = ax_numel(w);
  l->units = units_of(w);
  int64_t per = l->numel / (l->units > 0 ? l->units : 1);
  for (int64_t r = 0; r < l->units; r++) {
    int64_t z = 0;
    for (int64_t j = 0; j < per; j++) z += h[r * per + j] == 0.0f;
    l->zeros += z;
    l->zero_units += z == per;
  }
  free(h);
  return 0;
}

int ax_prune_report(ax_module *model, ax_prune_layer *out, int max, int64_t *numel, int64_t *zeros) {
  const char *names[MAX_LAYERS];
  ax_tensor *w[MAX_LAYERS];
  if (!model) return -1;
  int n = prunable(model, names, w);
  int64_t tn = 0, tz = 0;
  for (int i = 0; i < n; i++) {
    if (w[i]->dtype != AX_F32 || !ax_is_contiguous(w[i])) {
      ax_error("ax_prune_report: %s is not a contiguous f32 tensor", names[i]);
      return -1;
    }
    ax_prune_layer l;
    if (report_layer(names[i], w[i], &l)) return -1;
    tn += l.numel, tz += l.zeros;
    if (out && i < max) out[i] = l;
  }
  if (numel) *numel = tn;
  if (zeros) *zeros = tz;
  return n;
}

int ax_prune_report_print(ax_module *model, FILE *f) {
  int n = ax_prune_report(model, NULL, 0, NULL, NULL);
  if (n < 0) return -1;
  ax_prune_layer *l = calloc((size_t)(n > 0 ? n : 1), sizeof *l);
  int64_t tn = 0, tz = 0;
  if (!l || ax_prune_report(model, l, n, &tn, &tz) < 0) return free(l), -1;
  fprintf(f, "%-34s %10s %10s %9s %12s\n", "layer", "weights", "zeros", "sparsity", "zero units");
  for (int i = 0; i < n; i++)
    fprintf(f, "%-34s %10" PRId64 " %10" PRId64 " %8.2f%% %5" PRId64 "/%-6" PRId64 "\n", l[i].name, l[i].numel,
            l[i].zeros, l[i].numel ? 100.0 * (double)l[i].zeros / (double)l[i].numel : 0.0, l[i].zero_units,
            l[i].units);
  fprintf(f, "%-34s %10" PRId64 " %10" PRId64 " %8.2f%%\n", "total", tn, tz, tn ? 100.0 * (double)tz / (double)tn : 0.0);
  free(l);
  return 0;
}
