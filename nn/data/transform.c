/* SPDX-License-Identifier: BSD-3-Clause */
/* Sample transforms on float [C, H, W] samples (include/axon/data.h): normalize, random
 * resized crop, rotation, color jitter, Gaussian noise and compositions of them. Like the
 * loader's crop and flip, every random choice is a pure function of (seed, epoch, sample)
 * and the transform's position in its composition, drawn from Philox, so batches are the
 * same with or without prefetch and after a resume. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/data/internal.h"

enum { T_NORMALIZE, T_RESIZED_CROP, T_ROTATION, T_JITTER, T_NOISE, T_COMPOSE };

struct ax_transform {
  int kind;
  int n;                   /* normalize: channels */
  float *mean, *std;       /* normalize */
  int oh, ow;              /* resized crop: output size */
  float lo, hi, rlo, rhi;  /* resized crop: area fraction and aspect-ratio ranges */
  float a, b, c;           /* rotation: max degrees; jitter: brightness, contrast, saturation; noise: a = std */
  ax_transform **parts;    /* compose */
  int nparts;
};

static ax_transform *new_t(int kind) {
  ax_transform *t = calloc(1, sizeof *t);
  if (t) t->kind = kind;
  return t;
}

ax_transform *ax_transform_normalize(int n, const float *mean, const float *std) {
  if (n < 1 || !mean || !std) return NULL;
  for (int i = 0; i < n; i++)
    if (!(std[i] > 0) || !isfinite(mean[i])) return NULL;
  ax_transform *t = new_t(T_NORMALIZE);
  if (!t || !(t->mean = malloc(2 * sizeof(float) * (size_t)n))) return free(t), NULL;
  t->n = n, t->std = t->mean + n;
  memcpy(t->mean, mean, sizeof(float) * (size_t)n);
  memcpy(t->std, std, sizeof(float) * (size_t)n);
  return t;
}

ax_transform *ax_transform_random_resized_crop(int out_h, int out_w, float scale_lo, float scale_hi, float ratio_lo,
                                               float ratio_hi) {
  if (out_h < 1 || out_w < 1 || out_h > 65536 || out_w > 65536 || !(scale_lo > 0) || !(scale_hi <= 1) ||
      !(scale_lo <= scale_hi) || !(ratio_lo > 0) || !(ratio_lo <= ratio_hi) || !isfinite(ratio_hi))
    return NULL;
  ax_transform *t = new_t(T_RESIZED_CROP);
  if (t) t->oh = out_h, t->ow = out_w, t->lo = scale_lo, t->hi = scale_hi, t->rlo = ratio_lo, t->rhi = ratio_hi;
  return t;
}

ax_transform *ax_transform_rotation(float max_degrees) {
  if (!(max_degrees >= 0 && max_degrees <= 180)) return NULL;
  ax_transform *t = new_t(T_ROTATION);
  if (t) t->a = max_degrees;
  return t;
}

ax_transform *ax_transform_color_jitter(float brightness, float contrast, float saturation) {
  if (!(brightness >= 0 && brightness < 1) || !(contrast >= 0 && contrast < 1) || !(saturation >= 0 && saturation < 1))
    return NULL;
  ax_transform *t = new_t(T_JITTER);
  if (t) t->a = brightness, t->b = contrast, t->c = saturation;
  return t;
}

ax_transform *ax_transform_gaussian_noise(float std) {
  if (!(std >= 0 && isfinite(std))) return NULL;
  ax_transform *t = new_t(T_NOISE);
  if (t) t->a = std;
  return t;
}

ax_transform *ax_transform_compose(ax_transform **parts, int n) {
  bool ok = parts && n >= 1 && n <= 64;
  for (int i = 0; ok && i < n; i++) ok = parts[i] != NULL;
  ax_transform *t = ok ? new_t(T_COMPOSE) : NULL;
  if (t && !(t->parts = malloc(sizeof *parts * (size_t)n))) t = (free(t), NULL);
  if (!t) { /* the parts belong to the composition, even when it cannot be made */
    for (int i = 0; parts && i < n && i < 64; i++) ax_transform_free(parts[i]);
    return NULL;
  }
  memcpy(t->parts, parts, sizeof *parts * (size_t)n);
  t->nparts = n;
  return t;
}

void ax_transform_free(ax_transform *t) {
  if (!t) return;
  for (int i = 0; i < t->nparts; i++) ax_transform_free(t->parts[i]);
  free(t->parts);
  free(t->mean);
  free(t);
}

int ax_transform_out_shape(const ax_transform *t, int c, int h, int w, int *oc, int *oh, int *ow, char *err,
                           size_t errlen) {
  if (!t) return ax__fail(err, errlen, "ax_transform: no transform given (a constructor got a bad argument)");
  if (t->kind == T_NORMALIZE && t->n != c)
    return ax__fail(err, errlen, "ax_transform_normalize: %d channels given, the samples have %d", t->n, c);
  if (t->kind == T_JITTER && c != 3)
    return ax__fail(err, errlen, "ax_transform_color_jitter: needs 3-channel (RGB) samples, these have %d", c);
  if (t->kind == T_RESIZED_CROP) h = t->oh, w = t->ow;
  for (int i = 0; i < t->nparts; i++)
    if (ax_transform_out_shape(t->parts[i], c, h, w, &c, &h, &w, err, errlen)) return -1;
  *oc = c, *oh = h, *ow = w;
  return 0;
}

/* ---- applying ---- */

typedef struct rnd {
  uint64_t seed, idx;
  uint32_t epoch;
  int k; /* position in the composition */
} rnd;

static ax_philox4 draw(const rnd *r, uint64_t block) {
  uint64_t hi = (uint64_t)AX_DATA_STREAM_TRANSFORM << 32 | r->epoch | (block & 0xFFFFFF) << 40;
  return ax_philox4x32_10(r->idx, hi, r->seed + 0x9E3779B97F4A7C15ull * (uint64_t)(r->k + 1));
}

static float unit(uint32_t x) { return ax_uint_to_unit_float(x); }

/* Bilinear sample of plane p [h, w] at (y, x); 0 outside. */
static float bilinear(const float *p, int h, int w, float y, float x) {
  int y0 = (int)floorf(y), x0 = (int)floorf(x);
  float fy = y - (float)y0, fx = x - (float)x0, v = 0;
  for (int dy = 0; dy < 2; dy++)
    for (int dx = 0; dx < 2; dx++) {
      int yy = y0 + dy, xx = x0 + dx;
      if (yy >= 0 && yy < h && xx >= 0 && xx < w) v += (dy ? fy : 1 - fy) * (dx ? fx : 1 - fx) * p[yy * w + xx];
    }
  return v;
}

/* torchvision's RandomResizedCrop: up to 10 tries for a crop of the drawn area and aspect
 * ratio that fits, else the whole image; then a bilinear resize to oh x ow. */
static void resized_crop(const ax_transform *t, const rnd *r, const float *in, int c, int h, int w, float *out) {
  float ch = (float)h, cw = (float)w, y0 = 0, x0 = 0;
  for (int i = 0; i < 10; i++) {
    ax_philox4 d = draw(r, (uint64_t)i);
    float area = (float)h * (float)w * (t->lo + (t->hi - t->lo) * unit(d.v[0]));
    float ratio = expf(logf(t->rlo) + (logf(t->rhi) - logf(t->rlo)) * unit(d.v[1]));
    float tw = roundf(sqrtf(area * ratio)), th = roundf(sqrtf(area / ratio));
    if (tw >= 1 && th >= 1 && tw <= (float)w && th <= (float)h) {
      ch = th, cw = tw;
      y0 = floorf(unit(d.v[2]) * ((float)h - th + 1)), x0 = floorf(unit(d.v[3]) * ((float)w - tw + 1));
      break;
    }
  }
  for (int k = 0; k < c; k++)
    for (int y = 0; y < t->oh; y++)
      for (int x = 0; x < t->ow; x++) {
        float sy = y0 + ((float)y + 0.5f) * ch / (float)t->oh - 0.5f, sx = x0 + ((float)x + 0.5f) * cw / (float)t->ow - 0.5f;
        sy = fminf(fmaxf(sy, y0), y0 + ch - 1), sx = fminf(fmaxf(sx, x0), x0 + cw - 1);
        out[((size_t)k * t->oh + y) * t->ow + x] = bilinear(in + (size_t)k * h * w, h, w, sy, sx);
      }
}

/* A rotation by an angle in [-a, a] degrees about the centre; outside the image: 0. */
static void rotation(const ax_transform *t, const rnd *r, const float *in, int c, int h, int w, float *out) {
  float ang = (2 * unit(draw(r, 0).v[0]) - 1) * t->a * 3.14159265f / 180, cs = cosf(ang), sn = sinf(ang);
  float cy = ((float)h - 1) / 2, cx = ((float)w - 1) / 2;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      float dy = (float)y - cy, dx = (float)x - cx, sy = cy + cs * dy - sn * dx, sx = cx + sn * dy + cs * dx;
      for (int k = 0; k < c; k++) out[((size_t)k * h + y) * w + x] = bilinear(in + (size_t)k * h * w, h, w, sy, sx);
    }
}

/* Brightness, contrast (about the image's mean grey), saturation (about each pixel's grey). */
static void jitter(const ax_transform *t, const rnd *r, const float *in, int h, int w, float *out) {
  ax_philox4 d = draw(r, 0);
  float fb = 1 + t->a * (2 * unit(d.v[0]) - 1), fc = 1 + t->b * (2 * unit(d.v[1]) - 1), fs = 1 + t->c * (2 * unit(d.v[2]) - 1);
  size_t n = (size_t)h * w;
  double mean = 0;
  for (size_t i = 0; i < n; i++) mean += 0.299 * in[i] + 0.587 * in[n + i] + 0.114 * in[2 * n + i];
  float m = (float)(mean / (double)n) * fb;
  for (size_t i = 0; i < n; i++) {
    float px[3];
    for (int k = 0; k < 3; k++) px[k] = ((in[k * n + i] * fb) - m) * fc + m;
    float g = 0.299f * px[0] + 0.587f * px[1] + 0.114f * px[2];
    for (int k = 0; k < 3; k++) out[k * n + i] = (px[k] - g) * fs + g;
  }
}

static void noise(const ax_transform *t, const rnd *r, const float *in, size_t n, float *out) {
  for (size_t i = 0; i < n; i += 2) {
    ax_philox4 d = draw(r, i / 2);
    float u1 = 1.0f - unit(d.v[0]), u2 = unit(d.v[1]), rad = sqrtf(-2 * logf(u1)); /* Box-Muller: u1 in (0, 1] */
    out[i] = in[i] + t->a * rad * cosf(6.2831853f * u2);
    if (i + 1 < n) out[i + 1] = in[i + 1] + t->a * rad * sinf(6.2831853f * u2);
  }
}

/* One transform (not a composition) from in [c, h, w] into out. */
static void apply_one(const ax_transform *t, const rnd *r, const float *in, int c, int h, int w, float *out) {
  size_t n = (size_t)c * h * w, plane = (size_t)h * w;
  switch (t->kind) {
    case T_NORMALIZE:
      for (size_t i = 0; i < n; i++) out[i] = (in[i] - t->mean[i / plane]) / t->std[i / plane];
      break;
    case T_RESIZED_CROP: resized_crop(t, r, in, c, h, w, out); break;
    case T_ROTATION: rotation(t, r, in, c, h, w, out); break;
    case T_JITTER: jitter(t, r, in, h, w, out); break;
    default: noise(t, r, in, n, out); break;
  }
}

int ax_transform_apply(const ax_transform *t, const float *in, int c, int h, int w, float *out, uint64_t seed, int epoch,
                       int64_t idx) {
  int oc, oh, ow;
  if (ax_transform_out_shape(t, c, h, w, &oc, &oh, &ow, NULL, 0)) return -1;
  rnd r = {.seed = seed, .idx = (uint64_t)idx, .epoch = (uint32_t)epoch};
  if (t->kind != T_COMPOSE) return apply_one(t, &r, in, c, h, w, out), 0;
  size_t most = (size_t)c * h * w; /* the largest intermediate sample */
  for (int i = 0, cc = c, hh = h, ww = w; i < t->nparts; i++) {
    ax_transform_out_shape(t->parts[i], cc, hh, ww, &cc, &hh, &ww, NULL, 0);
    if ((size_t)cc * hh * ww > most) most = (size_t)cc * hh * ww;
  }
  float *buf = malloc(2 * most * sizeof *buf);
  if (!buf) return -1;
  const float *src = in;
  for (int i = 0; i < t->nparts; i++) {
    float *dst = i == t->nparts - 1 ? out : buf + (size_t)(i % 2) * most;
    int nc, nh, nw;
    ax_transform_out_shape(t->parts[i], c, h, w, &nc, &nh, &nw, NULL, 0);
    r.k = i;
    if (t->parts[i]->kind == T_COMPOSE) {
      if (ax_transform_apply(t->parts[i], src, c, h, w, dst, seed + (uint64_t)i * 7919, epoch, idx)) return free(buf), -1;
    } else {
      apply_one(t->parts[i], &r, src, c, h, w, dst);
    }
    src = dst, c = nc, h = nh, w = nw;
  }
  free(buf);
  return 0;
}
