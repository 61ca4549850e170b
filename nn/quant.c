/* SPDX-License-Identifier: BSD-3-Clause */
/* Post-training int8 quantization of a model (include/axon/quant.h, docs/quantization.md).
 *
 * An Int8Model module holds the f32 model as its child "model" and a table of the
 * Linear / Conv2d layers it quantizes. Its forward walks the model itself
 * (Sequential and PreActBlock containers; other leaves run their own forward), so
 * the zoo models need no change: a quantized layer runs the int8 ops, a BatchNorm
 * folded into the conv before it is skipped, a ReLU right after a quantized layer is
 * fused into its requantization, and a Linear -> ReLU [-> Dropout] -> Linear chain
 * hands int8 from one to the next. While calibrating, the same walk runs the f32
 * layers (folded) and records the input range of each quantized layer. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "axon.h"
#include "core/fail.h"

#include "nn/quant_internal.h"

static ax_tensor *int8_forward(ax_module *m, ax_tensor *x);

static void int8_free(ax_module *m) {
  qmodel *q = ax_module_impl(m);
  for (int i = 0; i < q->n; i++) free(q->layers[i].samples);
  free(q->layers);
}

static void int8_repr(const ax_module *m, char *buf, size_t n) {
  const qmodel *q = ax_module_impl(m);
  snprintf(buf, n, "arch=%s, quantized_layers=%d, %s", q->arch, q->n, q->converted ? "int8" : "calibrating");
}

const ax_module_type ax__int8_type = {"Int8Model", int8_forward, int8_free, int8_repr};

int ax_quant_num_layers(const ax_module *qm) {
  return ax_module_type_of(qm) == &ax__int8_type ? ((const qmodel *)ax_module_impl(qm))->n : -1;
}

static qlayer *find_layer(qmodel *q, const ax_module *m) {
  for (int i = 0; i < q->n; i++)
    if (q->layers[i].mod == m) return &q->layers[i];
  return NULL;
}

static bool is_folded_bn(qmodel *q, const ax_module *m) {
  for (int i = 0; i < q->n; i++)
    if (q->layers[i].bn == m) return true;
  return false;
}

/* ---------------- finding the layers ---------------- */

/* m's full name, from the name of its weight among the model's parameters */
static int module_name(ax_module *root, ax_module *m, char *out, size_t n) {
  ax_tensor *w = ax_module_tensor(m, "weight");
  int np = ax_module_parameters(root, NULL, 0);
  const char **names = malloc((size_t)(np > 0 ? np : 1) * sizeof *names);
  ax_tensor **ts = malloc((size_t)(np > 0 ? np : 1) * sizeof *ts);
  int rc = -1;
  if (names && ts && w) {
    ax_module_named_parameters(root, names, ts, np);
    for (int i = 0; i < np && rc; i++)
      if (ts[i] == w && strlen(names[i]) > 7 && strlen(names[i]) - 7 < n) {
        memcpy(out, names[i], strlen(names[i]) - 7); /* without ".weight" */
        out[strlen(names[i]) - 7] = 0;
        rc = 0;
      }
  }
  free(names);
  free(ts);
  return rc;
}

static int add_layer(qmodel *q, ax_module *m, ax_module *bn, char *err, size_t errlen) {
  qlayer *l = realloc(q->layers, (size_t)(q->n + 1) * sizeof *l);
  if (!l) return ax__fail(err, errlen, "out of memory");
  q->layers = l;
  l = &q->layers[q->n];
  *l = (qlayer){.mod = m, .bn = bn};
  ax_tensor *w = ax_module_tensor(m, "weight");
  if (!w || module_name(q->model, m, l->name, sizeof l->name))
    return ax__fail(err, errlen, "a %s without a weight among the model's parameters", ax_module_type_name(m));
  if (bn && module_name(q->model, bn, l->bn_name, sizeof l->bn_name))
    return ax__fail(err, errlen, "%s: the BatchNorm2d after it has no affine weight to fold", l->name);
  l->conv = ax_nn_conv2d_config(m, &l->opts) == 0;
  if (l->conv && l->opts.groups != 1)
    return ax__fail(err, errlen, "%s: grouped convolutions (groups %d) are not quantized", l->name, l->opts.groups);
  l->out = w->shape[0];
  l->kh = l->conv ? w->shape[2] : 1;
  l->kw = l->conv ? w->shape[3] : 1;
  q->n++;
  return 0;
}

/* Every Linear and Conv2d under m, a BatchNorm2d right after a Conv2d in a Sequential folded into it.
 * Other containers than Sequential and PreActBlock are refused (their forward is unknown here). */
static int find_layers(qmodel *q, ax_module *m, char *err, size_t errlen) {
  const char *t = ax_module_type_name(m);
  int nc = ax_module_num_children(m);
  if (!strcmp(t, "Linear") || !strcmp(t, "Conv2d")) return add_layer(q, m, NULL, err, errlen);
  if (nc == 0) return 0;
  if (strcmp(t, "Sequential") && strcmp(t, "PreActBlock"))
    return ax__fail(err, errlen, "cannot quantize a model with a %s (known containers: Sequential, PreActBlock)", t);
  for (int i = 0; i < nc; i++) {
    ax_module *c = ax_module_child_at(m, i), *next = i + 1 < nc ? ax_module_child_at(m, i + 1) : NULL;
    bool fold = !strcmp(t, "Sequential") && !strcmp(ax_module_type_name(c), "Conv2d") && next &&
                ax_nn_batch_norm_config(next, NULL, NULL, NULL) == 2;
    if (fold) {
      if (add_layer(q, c, next, err, errlen)) return -1;
      i++;
    } else if (find_layers(q, c, err, errlen)) {
      return -1;
    }
  }
  return 0;
}

ax_module *ax__quant_wrap(ax_module *model, const char *arch, char *err, size_t errlen) {
  ax_module *qm = ax_module_new(&ax__int8_type, sizeof(qmodel));
  if (!qm || !ax_module_add_child(qm, "model", model)) {
    ax_module_free(qm);
    return AX__FAIL_NULL(err, errlen, "cannot make the Int8Model: %s", ax_last_error());
  }
  qmodel *q = ax_module_impl(qm);
  q->model = model;
  snprintf(q->arch, sizeof q->arch, "%s", arch ? arch : "");
  ax_module_train(qm, false);
  if (find_layers(q, model, err, errlen)) {
    ax_module_free(qm);
    return NULL;
  }
  if (q->n == 0) {
    ax_module_free(qm);
    return AX__FAIL_NULL(err, errlen, "the model has no Linear or Conv2d to quantize");
  }
  return qm;
}

/* ---------------- calibration ---------------- */

/* the f32 weight and bias with the BatchNorm folded in: w' = w g / sqrt(v + eps), b' = (b - mu) g / sqrt(v + eps) + beta */
static int fold(ax_module *qm, qlayer *l, int idx, char *err, size_t errlen) {
  ax_tensor *b = ax_module_tensor(l->mod, "bias");
  ax_tensor *w2 = ax_contiguous(ax_clone(ax_detach(ax_module_tensor(l->mod, "weight"))));
  ax_tensor *b2 = ax_zeros(AX_SHAPE(l->out), NULL);
  if (!w2 || !b2 || (b && ax_copy_(b2, ax_detach(b)))) return ax__fail(err, errlen, "%s: %s", l->name, ax_last_error());
  float *wd = ax_data_ptr(w2), *bd = ax_data_ptr(b2);
  int64_t per = ax_numel(w2) / l->out;
  if (l->bn) {
    double eps;
    ax_nn_batch_norm_config(l->bn, NULL, &eps, NULL);
    const char *nm[4] = {"weight", "bias", "running_mean", "running_var"};
    float v[4][4096];
    for (int k = 0; k < 4; k++) {
      ax_tensor *t = ax_module_tensor(l->bn, nm[k]);
      if (!t || l->out > 4096 || ax_to_data(t, v[k], sizeof v[k]))
        return ax__fail(err, errlen, "%s: the BatchNorm after it has no %s of %lld channels", l->name, nm[k],
                        (long long)l->out);
    }
    for (int64_t o = 0; o < l->out; o++) {
      double s = v[0][o] / sqrt((double)v[3][o] + eps);
      for (int64_t i = 0; i < per; i++) wd[o * per + i] = (float)(wd[o * per + i] * s);
      bd[o] = (float)((bd[o] - v[2][o]) * s + v[1][o]);
    }
  }
  char name[32];
  snprintf(name, sizeof name, "l%d_w", idx);
  l->w = ax_module_add_buffer(qm, name, w2);
  snprintf(name, sizeof name, "l%d_b", idx);
  l->bias = (b || l->bn) ? ax_module_add_buffer(qm, name, b2) : NULL;
  return l->w && (l->bias || !(b || l->bn)) ? 0 : ax__fail(err, errlen, "%s: %s", l->name, ax_last_error());
}

ax_module *ax_quant_prepare(ax_module *model, const char *arch, char *err, size_t errlen) {
  if (!model) return AX__FAIL_NULL(err, errlen, "no model to quantize");
  ax_module *qm = ax__quant_wrap(model, arch, err, errlen);
  if (!qm) return NULL;
  if (ax_module_to(qm, AX_CPU)) {
    ax_module_free(qm);
    return AX__FAIL_NULL(err, errlen, "%s", ax_last_error());
  }
  qmodel *q = ax_module_impl(qm);
  ax_scope_begin();
  int rc = 0;
  for (int i = 0; i < q->n && !rc; i++) rc = fold(qm, &q->layers[i], i, err, errlen);
  ax_scope_end();
  if (rc) {
    ax_module_free(qm);
    return NULL;
  }
  return qm;
}

/* the range of x (every element, |x|), and a strided sample of |x| for the percentile */
static int observe(qmodel *q, qlayer *l, ax_tensor *x) {
  int64_t n = ax_numel(x);
  float *h = malloc((size_t)(n > 0 ? n : 1) * sizeof *h);
  if (!h || ax_to_data(x, h, (size_t)n * sizeof *h)) {
    free(h);
    return -1;
  }
  int64_t step = n > SAMPLES_PER_BATCH ? n / SAMPLES_PER_BATCH : 1, take = (n + step - 1) / step;
  float *s = realloc(l->samples, (size_t)(l->nsamples + take) * sizeof *s);
  if (!s) {
    free(h);
    ax_error("Int8Model: out of memory for calibration samples");
    return -1;
  }
  l->samples = s;
  for (int64_t i = 0; i < n; i++) {
    float a = fabsf(h[i]);
    if (a > l->amax) l->amax = a;
    if (i % step == 0 && l->nsamples < SAMPLES_PER_BATCH * (int64_t)(q->nbatches + 1)) l->samples[l->nsamples++] = a;
  }
  free(h);
  return 0;
}

/* ---------------- the forward walk ---------------- */

static ax_tensor *layer_f32(qmodel *q, qlayer *l, ax_tensor *x, bool relu) {
  if (observe(q, l, x)) return NULL;
  ax_tensor *y = l->conv ? ax_conv2d(x, l->w, l->bias, &l->opts) : ax_linear(x, l->w, l->bias);
  return relu ? ax_relu(y) : y;
}

/* x: f32 (quantized here with the layer's input scale) or i8 (already at that scale); out_i8: requantize
 * to next_scale for the next layer */
static ax_tensor *layer_int8(qlayer *l, ax_tensor *x, bool relu, bool out_i8, float next_scale) {
  ax_tensor *xq = x->dtype == AX_I8 ? x : ax_quantize_s8(x, l->in_scale);
  if (!xq) return NULL;
  if (!l->conv) return ax_requantize(ax_matmul_s8(xq, l->wq), l->rq, l->bias, out_i8 ? AX_I8 : AX_F32, next_scale, relu);
  if (xq->ndim != 4) {
    ax_error("Int8Model: %s expects [N, C, H, W], got %d dims", l->name, xq->ndim);
    return NULL;
  }
  if (xq->shape[0] == 0) {
    ax_error("Int8Model: %s got an empty batch", l->name);
    return NULL;
  }
  ax_tensor *col = ax_im2row_s8(xq, (int)l->kh, (int)l->kw, &l->opts);
  ax_tensor *y = ax_requantize(ax_matmul_s8(col, l->wq), l->rq, l->bias, AX_F32, 0, relu);
  if (!y) return NULL;
  int64_t n = xq->shape[0], oh = (xq->shape[2] + 2 * l->opts.padding_hw[0] - l->opts.dilation_hw[0] * (l->kh - 1) - 1) /
                                          l->opts.stride_hw[0] + 1;
  int64_t ow = y->shape[0] / (n * oh);
  return ax_contiguous(ax_permute(ax_reshape(y, AX_SHAPE(n, oh, ow, l->out)), (int[]){0, 3, 1, 2}));
}

static ax_tensor *walk(qmodel *q, ax_module *m, ax_tensor *x);

static bool is_type(ax_module *m, const char *t) { return m && !strcmp(ax_module_type_name(m), t); }

/* a Sequential: quantized layers take the ReLU after them into their requantization, and a
 * Linear -> ReLU [-> Dropout (eval: identity)] -> Linear chain passes int8 between the two */
static ax_tensor *walk_sequential(qmodel *q, ax_module *m, ax_tensor *x) {
  int nc = ax_module_num_children(m);
  for (int i = 0; i < nc && x; i++) {
    ax_module *c = ax_module_child_at(m, i);
    qlayer *l = find_layer(q, c);
    if (!l) {
      x = walk(q, c, x);
      continue;
    }
    int j = i + 1 + (l->bn ? 1 : 0);
    bool relu = is_type(j < nc ? ax_module_child_at(m, j) : NULL, "ReLU");
    if (relu) j++;
    if (j < nc && is_type(ax_module_child_at(m, j), "Dropout")) j++;
    qlayer *next = j < nc ? find_layer(q, ax_module_child_at(m, j)) : NULL;
    bool chain = q->converted && relu && !l->conv && next && !next->conv;
    if (!q->converted) x = layer_f32(q, l, x, relu);
    else x = layer_int8(l, x, relu, chain, chain ? next->in_scale : 0);
    i = chain ? j - 1 : relu ? i + (l->bn ? 2 : 1) : i + (l->bn ? 1 : 0);
  }
  return x;
}

/* PreActBlock (nn/sequential.c): relu(bn1(x)) -> conv1 -> relu(bn2) -> conv2, plus x or shortcut(relu(bn1(x))) */
static ax_tensor *walk_preact(qmodel *q, ax_module *m, ax_tensor *x) {
  ax_module *sc = ax_module_child(m, "shortcut");
  ax_tensor *a = ax_relu(walk(q, ax_module_child(m, "bn1"), x));
  ax_tensor *skip = sc ? walk(q, sc, a) : x;
  ax_tensor *h = walk(q, ax_module_child(m, "conv1"), a);
  h = walk(q, ax_module_child(m, "conv2"), ax_relu(walk(q, ax_module_child(m, "bn2"), h)));
  return ax_add(h, skip);
}

static ax_tensor *walk(qmodel *q, ax_module *m, ax_tensor *x) {
  if (!x || !m) return NULL;
  qlayer *l = find_layer(q, m);
  if (l) return q->converted ? layer_int8(l, x, false, false, 0) : layer_f32(q, l, x, false);
  if (is_folded_bn(q, m)) return x;
  if (is_type(m, "Sequential")) return walk_sequential(q, m, x);
  if (is_type(m, "PreActBlock")) return walk_preact(q, m, x);
  return ax_module_forward(m, x);
}

static ax_tensor *int8_forward(ax_module *m, ax_tensor *x) {
  qmodel *q = ax_module_impl(m);
  ax_no_grad_begin();
  ax_tensor *y = walk(q, q->model, x);
  ax_no_grad_end();
  if (y && !q->converted) q->nbatches++;
  return y;
}

/* ---------------- conversion ---------------- */

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

static float calib_range(const qlayer *l, const ax_quant_opts *o) {
  if (o->method != AX_CALIB_PERCENTILE || l->nsamples == 0) return l->amax;
  double p = o->percentile > 0 ? o->percentile : 99.99;
  qsort(l->samples, (size_t)l->nsamples, sizeof(float), cmp_float);
  int64_t i = (int64_t)ceil(p / 100.0 * (double)l->nsamples) - 1;
  i = i < 0 ? 0 : i >= l->nsamples ? l->nsamples - 1 : i;
  return l->samples[i];
}

/* per output channel: scale = max |w| / 127 (1 for an all-zero channel), w_q = rint(w / scale) */
static int quantize_weight(ax_module *qm, qlayer *l, int idx, char *err, size_t errlen) {
  int64_t per = ax_numel(l->w) / l->out;
  ax_tensor *wq = ax_empty(AX_SHAPE(l->out, per), &(ax_tensor_opts){.dtype = AX_I8});
  ax_tensor *ws = ax_empty(AX_SHAPE(l->out), NULL), *rq = ax_empty(AX_SHAPE(l->out), NULL);
  if (!wq || !ws || !rq) return ax__fail(err, errlen, "%s: %s", l->name, ax_last_error());
  const float *w = ax_data_ptr(l->w);
  int8_t *q = ax_data_ptr(wq);
  float *s = ax_data_ptr(ws), *r = ax_data_ptr(rq);
  for (int64_t o = 0; o < l->out; o++) {
    float amax = 0;
    for (int64_t i = 0; i < per; i++) amax = fmaxf(amax, fabsf(w[o * per + i]));
    s[o] = amax > 0 ? amax / 127.f : 1.f;
    for (int64_t i = 0; i < per; i++) {
      float v = rintf(w[o * per + i] / s[o]);
      q[o * per + i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
    r[o] = s[o] * l->in_scale;
  }
  char name[32];
  snprintf(name, sizeof name, "l%d_wq", idx);
  l->wq = ax_module_add_buffer(qm, name, wq);
  snprintf(name, sizeof name, "l%d_ws", idx);
  l->wscale = ax_module_add_buffer(qm, name, ws);
  snprintf(name, sizeof name, "l%d_rq", idx);
  l->rq = ax_module_add_buffer(qm, name, rq);
  return l->wq && l->wscale && l->rq ? 0 : ax__fail(err, errlen, "%s: %s", l->name, ax_last_error());
}

int ax_quant_convert(ax_module *qm, const ax_quant_opts *o, char *err, size_t errlen) {
  if (ax_module_type_of(qm) != &ax__int8_type) return ax__fail(err, errlen, "ax_quant_convert: not an Int8Model");
  qmodel *q = ax_module_impl(qm);
  ax_quant_opts d = o ? *o : (ax_quant_opts){0};
  if (q->converted) return ax__fail(err, errlen, "ax_quant_convert: the model is already int8");
  if (q->nbatches == 0)
    return ax__fail(err, errlen, "no calibration data: run at least one batch through the model before converting");
  if (d.method == AX_CALIB_PERCENTILE && !(d.percentile >= 0 && d.percentile <= 100))
    return ax__fail(err, errlen, "the percentile must be in (0, 100], got %g", d.percentile);
  if (ax_module_to(qm, AX_CPU)) return ax__fail(err, errlen, "%s", ax_last_error());
  int rc = 0;
  ax_scope_begin();
  for (int i = 0; i < q->n && !rc; i++) {
    qlayer *l = &q->layers[i];
    float range = calib_range(l, &d);
    l->in_scale = range > 0 && isfinite(range) ? range / 127.f : 1.f;
    rc = quantize_weight(qm, l, i, err, errlen);
    free(l->samples);
    l->samples = NULL;
  }
  ax_scope_end();
  q->opts = d;
  q->converted = rc == 0;
  return rc;
}
