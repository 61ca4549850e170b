/* SPDX-License-Identifier: BSD-3-Clause */
/* The int8 safetensors file of an Int8Model (docs/file-formats.md, "int8 weights"):
 * for each quantized layer NAME, NAME.weight (I8, the layer's weight shape),
 * NAME.weight_scale (F32 [out]), NAME.input_scale (F32 [1]) and NAME.bias (F32 [out],
 * when the layer has a bias or a folded BatchNorm); the folded BatchNorms are left
 * out; every other tensor of the model as it is (F32). Metadata: format "axon-int8",
 * axon_model (the zoo name) and quantization (a JSON string: method, percentile,
 * calibration batches, folded BatchNorms). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fail.h"
#include "nn/quant_internal.h"

static bool has_prefix(const char *s, const char *p) {
  size_t n = strlen(p);
  return n && !strncmp(s, p, n) && s[n] == '.';
}

/* the layer NAME.* belongs to (q->layers), or NULL; *bn: it is a tensor of a folded BatchNorm */
static qlayer *owner(qmodel *q, const char *name, bool *bn) {
  for (int i = 0; i < q->n; i++) {
    *bn = has_prefix(name, q->layers[i].bn_name);
    if (*bn || has_prefix(name, q->layers[i].name)) return &q->layers[i];
  }
  *bn = false;
  return NULL;
}

static int meta_json(qmodel *q, char *buf, size_t n) {
  size_t len = (size_t)snprintf(buf, n,
                                "{\"weights\": \"int8 symmetric per output channel\", \"activations\": \"int8 "
                                "symmetric per tensor\", \"method\": \"%s\", \"percentile\": %g, "
                                "\"calibration_batches\": %d, \"folded_batchnorm\": [",
                                q->opts.method == AX_CALIB_PERCENTILE ? "percentile" : "minmax",
                                q->opts.method == AX_CALIB_PERCENTILE ? (q->opts.percentile > 0 ? q->opts.percentile : 99.99) : 100.0,
                                q->nbatches);
  int k = 0;
  for (int i = 0; i < q->n && len < n; i++)
    if (q->layers[i].bn_name[0])
      len += (size_t)snprintf(buf + len, n - len, "%s\"%s\"", k++ ? ", " : "", q->layers[i].bn_name);
  if (len < n) len += (size_t)snprintf(buf + len, n - len, "]}");
  return len < n ? 0 : -1;
}

static int put_layer(ax_state_dict *sd, qlayer *l, ax_tensor *w) {
  char nm[160];
  ax_tensor *wq = ax_reshape(l->wq, w->ndim, w->shape);
  ax_tensor *is = ax_from_data(&l->in_scale, AX_SHAPE(1), NULL);
  snprintf(nm, sizeof nm, "%s.weight", l->name);
  if (!wq || !is || ax_state_dict_set(sd, nm, wq)) return -1;
  snprintf(nm, sizeof nm, "%s.weight_scale", l->name);
  if (ax_state_dict_set(sd, nm, l->wscale)) return -1;
  snprintf(nm, sizeof nm, "%s.input_scale", l->name);
  if (ax_state_dict_set(sd, nm, is)) return -1;
  snprintf(nm, sizeof nm, "%s.bias", l->name);
  return l->bias ? ax_state_dict_set(sd, nm, l->bias) : 0;
}

static int fill_sd(qmodel *q, ax_state_dict *sd, ax_state_dict *full) {
  if (ax_module_state_dict(q->model, full)) return -1;
  for (int i = 0; i < ax_state_dict_size(full); i++) {
    const char *name = ax_state_dict_name(full, i);
    bool bn;
    qlayer *l = owner(q, name, &bn);
    if (!l) {
      if (ax_state_dict_set(sd, name, ax_state_dict_tensor(full, i))) return -1;
    } else if (!bn && !strcmp(name + strlen(l->name), ".weight")) {
      if (put_layer(sd, l, ax_state_dict_tensor(full, i))) return -1;
    }
  }
  char json[2048];
  return ax_state_dict_set_meta(sd, "format", "axon-int8") || ax_state_dict_set_meta(sd, "axon_model", q->arch) ||
                 meta_json(q, json, sizeof json) || ax_state_dict_set_meta(sd, "quantization", json)
             ? -1
             : 0;
}

int ax_quant_save(ax_module *qm, const char *path, char *err, size_t errlen) {
  if (ax_module_type_of(qm) != &ax__int8_type) return ax__fail(err, errlen, "ax_quant_save: not an Int8Model");
  qmodel *q = ax_module_impl(qm);
  if (!q->converted) return ax__fail(err, errlen, "ax_quant_save: the model is still calibrating (ax_quant_convert first)");
  ax_state_dict *sd = ax_state_dict_new(), *full = ax_state_dict_new();
  ax_scope_begin();
  int rc = sd && full ? fill_sd(q, sd, full) : -1;
  if (rc) ax__fail(err, errlen, "cannot collect the int8 weights: %s", ax_last_error());
  else rc = ax_save_safetensors(path, sd, err, errlen);
  ax_scope_end();
  ax_state_dict_free(sd);
  ax_state_dict_free(full);
  return rc;
}

bool ax_state_dict_is_int8(const ax_state_dict *sd) {
  const char *f = sd ? ax_state_dict_meta(sd, "format") : NULL;
  return f && !strcmp(f, "axon-int8");
}

/* ---------------- loading ---------------- */

/* sd's tensor NAME.suffix, checked: dtype dt, ndim dims of shape (ndim 0: any, numel one) */
static ax_tensor *get_checked(const ax_state_dict *sd, const qlayer *l, const char *suffix, ax_dtype dt, int ndim,
                              const int64_t *shape, const char *src, char *err, size_t errlen) {
  char nm[160];
  snprintf(nm, sizeof nm, "%s.%s", l->name, suffix);
  ax_tensor *t = ax_state_dict_get(sd, nm);
  if (!t) return AX__FAIL_NULL(err, errlen, "%s: missing tensor '%s' (int8 weights of another model?)", src, nm);
  if (t->dtype != dt)
    return AX__FAIL_NULL(err, errlen, "%s: '%s' is %s, expected %s", src, nm, ax_dtype_name(t->dtype), ax_dtype_name(dt));
  bool ok = ndim ? t->ndim == ndim : ax_numel(t) == 1;
  for (int d = 0; ok && d < ndim; d++) ok = t->shape[d] == shape[d];
  if (!ok && !strcmp(suffix, "weight_scale"))
    return AX__FAIL_NULL(err, errlen, "%s: '%s' has %lld scales for %lld output channels", src, nm,
                         (long long)ax_numel(t), (long long)shape[0]);
  char got[96], want[96] = "one element";
  if (ndim) ax_shape_str(ax_module_tensor(l->mod, "weight"), want, sizeof want);
  if (!ok) return AX__FAIL_NULL(err, errlen, "%s: '%s' has shape %s, expected %s", src, nm, ax_shape_str(t, got, sizeof got), want);
  return t;
}

static int check_positive(const ax_tensor *t, const qlayer *l, const char *what, const char *src, char *err,
                          size_t errlen) {
  const float *v = ax_data_ptr(t);
  for (int64_t i = 0; i < ax_numel(t); i++)
    if (!(v[i] > 0) || !isfinite(v[i]))
      return ax__fail(err, errlen, "%s: '%s.%s' [%lld] is %g; scales must be positive and finite", src, l->name, what,
                      (long long)i, (double)v[i]);
  return 0;
}

static int load_layer(ax_module *qm, qlayer *l, int idx, const ax_state_dict *sd, const char *src, char *err,
                      size_t errlen) {
  ax_tensor *w0 = ax_module_tensor(l->mod, "weight");
  ax_tensor *wq = get_checked(sd, l, "weight", AX_I8, w0->ndim, w0->shape, src, err, errlen);
  ax_tensor *ws = wq ? get_checked(sd, l, "weight_scale", AX_F32, 1, &l->out, src, err, errlen) : NULL;
  ax_tensor *is = ws ? get_checked(sd, l, "input_scale", AX_F32, 0, NULL, src, err, errlen) : NULL;
  bool want_bias = ax_module_tensor(l->mod, "bias") || l->bn;
  ax_tensor *b = is && want_bias ? get_checked(sd, l, "bias", AX_F32, 1, &l->out, src, err, errlen) : NULL;
  if (!is || (want_bias && !b)) return -1;
  if (check_positive(ws, l, "weight_scale", src, err, errlen) || check_positive(is, l, "input_scale", src, err, errlen))
    return -1;
  l->in_scale = *(const float *)ax_data_ptr(is);
  char name[32];
  snprintf(name, sizeof name, "l%d_wq", idx);
  l->wq = ax_module_add_buffer(qm, name, ax_contiguous(ax_reshape(wq, AX_SHAPE(l->out, ax_numel(wq) / l->out))));
  snprintf(name, sizeof name, "l%d_ws", idx);
  l->wscale = ax_module_add_buffer(qm, name, ax_clone(ws));
  snprintf(name, sizeof name, "l%d_rq", idx);
  l->rq = ax_module_add_buffer(qm, name, ax_mul_scalar(ws, l->in_scale));
  snprintf(name, sizeof name, "l%d_b", idx);
  l->bias = b ? ax_module_add_buffer(qm, name, ax_clone(b)) : NULL;
  if (!l->wq || !l->wscale || !l->rq || (b && !l->bias)) return ax__fail(err, errlen, "%s: %s", src, ax_last_error());
  return 0;
}

/* the model's other tensors from sd; every name in sd must be one the model has */
static int load_rest(qmodel *q, const ax_state_dict *sd, ax_state_dict *full, const char *src, char *err,
                     size_t errlen) {
  if (ax_module_state_dict(q->model, full)) return ax__fail(err, errlen, "%s", ax_last_error());
  for (int i = 0; i < ax_state_dict_size(full); i++) {
    const char *name = ax_state_dict_name(full, i);
    bool bn;
    if (owner(q, name, &bn)) continue;
    ax_tensor *t = ax_state_dict_get(sd, name);
    if (!t) return ax__fail(err, errlen, "%s: missing tensor '%s' (int8 weights of another model?)", src, name);
    char e2[512];
    if (ax_state_copy_into(ax_state_dict_tensor(full, i), t, name, e2, sizeof e2))
      return ax__fail(err, errlen, "%s: %s", src, e2);
  }
  static const char *suffixes[] = {".weight", ".weight_scale", ".input_scale", ".bias"};
  for (int i = 0; i < ax_state_dict_size(sd); i++) {
    const char *name = ax_state_dict_name(sd, i);
    bool bn, known = ax_state_dict_get(full, name) != NULL;
    qlayer *l = owner(q, name, &bn);
    for (int k = 0; !known && l && !bn && k < 4; k++) known = !strcmp(name + strlen(l->name), suffixes[k]);
    if (!known || bn)
      return ax__fail(err, errlen, "%s: unexpected tensor '%s' for a '%s' model (int8 weights of another model?)", src,
                      name, q->arch);
  }
  return 0;
}

ax_module *ax_quant_load(const char *arch, const ax_state_dict *sd, const char *src, char *err, size_t errlen) {
  src = src ? src : "int8 weights";
  if (!ax_state_dict_is_int8(sd)) return AX__FAIL_NULL(err, errlen, "%s: not int8 weights (no metadata format \"axon-int8\")", src);
  const char *fm = ax_state_dict_meta(sd, "axon_model");
  if (fm && arch && strcmp(fm, arch))
    return AX__FAIL_NULL(err, errlen, "%s holds int8 weights of a '%s' model, not '%s'", src, fm, arch);
  ax_module *model = ax_model_create(arch ? arch : fm ? fm : "", err, errlen);
  ax_module *qm = model ? ax__quant_wrap(model, arch ? arch : fm, err, errlen) : NULL;
  if (!qm) return NULL;
  qmodel *q = ax_module_impl(qm);
  ax_state_dict *full = ax_state_dict_new();
  ax_scope_begin();
  int rc = full ? 0 : ax__fail(err, errlen, "out of memory");
  for (int i = 0; i < q->n && !rc; i++) rc = load_layer(qm, &q->layers[i], i, sd, src, err, errlen);
  if (!rc) rc = load_rest(q, sd, full, src, err, errlen);
  ax_scope_end();
  ax_state_dict_free(full);
  if (rc) {
    ax_module_free(qm);
    return NULL;
  }
  q->converted = true;
  return qm;
}
