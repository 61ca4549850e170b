/* SPDX-License-Identifier: BSD-3-Clause */
/* Copies between strided views (with dtype conversion), fill, arange, random. */
#include <math.h>
#include <string.h>

#include "kernels/cpu/iter.h"
#include "kernels/half.h"
#include "kernels/philox.h"

double ax_cpu_load(const void *p, int dtype) {
  switch (dtype) {
    case AX_F32: return *(const float *)p;
    case AX_F64: return *(const double *)p;
    case AX_BF16: return ax_bf16_to_f32(*(const uint16_t *)p);
    case AX_F16: return ax_f16_to_f32(*(const uint16_t *)p);
    case AX_I32: return *(const int32_t *)p;
    case AX_I64: return (double)*(const int64_t *)p;
    case AX_U8: return *(const uint8_t *)p;
    case AX_BOOL: return *(const uint8_t *)p ? 1.0 : 0.0;
    case AX_I8: return *(const int8_t *)p;
  }
  return 0;
}

/* A double converted to an integer type out of its range (or NaN) is undefined in C; the
 * conversions here saturate instead (NaN gives 0). */
static inline double sat(double v, double lo, double hi) { return v != v ? 0 : v < lo ? lo : v > hi ? hi : v; }

void ax_cpu_store(void *p, int dtype, double v) {
  switch (dtype) {
    case AX_F32: *(float *)p = (float)v; break;
    case AX_F64: *(double *)p = v; break;
    case AX_BF16: *(uint16_t *)p = ax_f32_to_bf16((float)v); break;
    case AX_F16: *(uint16_t *)p = ax_f32_to_f16((float)v); break;
    case AX_I32: *(int32_t *)p = (int32_t)sat(v, -2147483648.0, 2147483647.0); break;
    case AX_I64: /* 2^63 itself is out of range; the largest double below it is 2^63 - 1024 */
      *(int64_t *)p = v >= 9223372036854775808.0 ? INT64_MAX : (int64_t)sat(v, -9223372036854775808.0, 0x1.fffffffffffffp62);
      break;
    case AX_U8: *(uint8_t *)p = (uint8_t)(int64_t)sat(v, -9223372036854775808.0, 0x1.fffffffffffffp62); break;
    case AX_BOOL: *(uint8_t *)p = v != 0.0; break;
    case AX_I8: *(int8_t *)p = (int8_t)sat(v, -128.0, 127.0); break;
  }
}

typedef struct { int dst_dtype, src_dtype; } copy_ctx;

static void copy_same_segment(void *vctx, int64_t n, char **p, const int64_t *s) {
  copy_ctx *c = vctx;
  size_t es = ax_iter_elem_size(c->dst_dtype);
  if (s[0] == (int64_t)es && s[1] == (int64_t)es) {
    memcpy(p[0], p[1], (size_t)n * es);
    return;
  }
  switch (es) {
    case 1: for (int64_t i = 0; i < n; i++) *(uint8_t *)(p[0] + i * s[0]) = *(const uint8_t *)(p[1] + i * s[1]); break;
    case 2: for (int64_t i = 0; i < n; i++) *(uint16_t *)(p[0] + i * s[0]) = *(const uint16_t *)(p[1] + i * s[1]); break;
    case 4: for (int64_t i = 0; i < n; i++) *(uint32_t *)(p[0] + i * s[0]) = *(const uint32_t *)(p[1] + i * s[1]); break;
    default: for (int64_t i = 0; i < n; i++) *(uint64_t *)(p[0] + i * s[0]) = *(const uint64_t *)(p[1] + i * s[1]); break;
  }
}

static void copy_cast_segment(void *vctx, int64_t n, char **p, const int64_t *s) {
  copy_ctx *c = vctx;
  if (c->dst_dtype == AX_F32 && c->src_dtype == AX_F64) {
    for (int64_t i = 0; i < n; i++) *(float *)(p[0] + i * s[0]) = (float)*(const double *)(p[1] + i * s[1]);
  } else if (c->dst_dtype == AX_F64 && c->src_dtype == AX_F32) {
    for (int64_t i = 0; i < n; i++) *(double *)(p[0] + i * s[0]) = *(const float *)(p[1] + i * s[1]);
  } else if (c->src_dtype == AX_I64 && c->dst_dtype == AX_I32) {
    /* integer to integer without a trip through double (exact for all i64) */
    for (int64_t i = 0; i < n; i++) *(int32_t *)(p[0] + i * s[0]) = (int32_t)*(const int64_t *)(p[1] + i * s[1]);
  } else {
    for (int64_t i = 0; i < n; i++)
      ax_cpu_store(p[0] + i * s[0], c->dst_dtype, ax_cpu_load(p[1] + i * s[1], c->src_dtype));
  }
}

ax_kstatus ax_cpu_copy(ax_kt *dst, const ax_kt *src) {
  const ax_kt *ops[2] = {dst, src};
  ax_iter it;
  ax_iter_init(&it, 2, ops);
  copy_ctx c = {dst->dtype, src->dtype};
  ax_iter_run(&it, dst->dtype == src->dtype ? copy_same_segment : copy_cast_segment, &c);
  return AX_K_OK;
}

typedef struct { int dtype; double value; } fill_ctx;

static void fill_segment(void *vctx, int64_t n, char **p, const int64_t *s) {
  fill_ctx *c = vctx;
  if (c->dtype == AX_F32 && s[0] == 4) {
    float v = (float)c->value, *o = (float *)p[0];
    for (int64_t i = 0; i < n; i++) o[i] = v;
  } else if (c->dtype == AX_F64 && s[0] == 8) {
    double *o = (double *)p[0];
    for (int64_t i = 0; i < n; i++) o[i] = c->value;
  } else {
    char tmp[8];
    size_t es = ax_iter_elem_size(c->dtype);
    ax_cpu_store(tmp, c->dtype, c->value);
    for (int64_t i = 0; i < n; i++) memcpy(p[0] + i * s[0], tmp, es);
  }
}

ax_kstatus ax_cpu_fill(ax_kt *out, double value) {
  const ax_kt *ops[1] = {out};
  ax_iter it;
  ax_iter_init(&it, 1, ops);
  fill_ctx c = {out->dtype, value};
  ax_iter_run(&it, fill_segment, &c);
  return AX_K_OK;
}

ax_kstatus ax_cpu_arange(ax_kt *out, double start, double step) {
  int64_t n = out->ndim ? out->shape[0] : 1;
  size_t es = ax_iter_elem_size(out->dtype);
  for (int64_t i = 0; i < n; i++) ax_cpu_store((char *)out->data + i * out->strides[0] * (int64_t)es, out->dtype, start + (double)i * step);
  return AX_K_OK;
}

/* Element i: Philox(counter = (i, offset), key = seed). Uniform uses the
 * first word (f32) or first two words (f64); normal uses Box-Muller on the
 * first two words (f32) or the four words (f64). The CUDA kernel does the same. */
ax_kstatus ax_cpu_random(ax_kt *out, int dist, double a, double b, uint64_t seed, uint64_t offset) {
  int64_t n = 1;
  for (int d = 0; d < out->ndim; d++) n *= out->shape[d];
  int dt = out->dtype;
  size_t es = ax_iter_elem_size(dt);
  char *base = out->data;
#pragma omp parallel for schedule(static) if (n >= AX_CPU_PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) {
    ax_philox4 r = ax_philox4x32_10((uint64_t)i, offset, seed);
    double v;
    if (dt == AX_F64) {
      double u1 = ax_uint2_to_unit_double(r.v[0], r.v[1]);
      if (dist == AX_RANDOM_UNIFORM) {
        v = a + (b - a) * u1;
      } else {
        double u2 = ax_uint2_to_unit_double(r.v[2], r.v[3]);
        v = a + b * sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
      }
    } else {
      float u1 = ax_uint_to_unit_float(r.v[0]);
      if (dist == AX_RANDOM_UNIFORM) {
        v = (float)a + ((float)b - (float)a) * u1;
      } else {
        float u2 = ax_uint_to_unit_float(r.v[1]);
        v = (float)a + (float)b * (sqrtf(-2.0f * logf(1.0f - u1)) * cosf(6.2831853f * u2));
      }
    }
    ax_cpu_store(base + i * (int64_t)es, dt, v);
  }
  return AX_K_OK;
}
