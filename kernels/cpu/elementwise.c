/* SPDX-License-Identifier: BSD-3-Clause */
/* Elementwise kernels: unary ops and their backward, binary ops (arithmetic
 * and comparisons), where.
 *
 * Each op family has one segment function per dtype; it switches on the op
 * once per segment (handed out by iter.h), and each case is a typed loop
 * generated from an expression list, so there is no per-element switch or
 * function pointer. Each loop has a flat contiguous path (vectorized; OpenMP
 * simd because `out` may alias an input exactly, as gradient accumulation
 * does), a scalar-broadcast path for binary ops (one input of stride 0) and
 * a byte-strided path. Float math goes through <tgmath.h>, so one expression
 * serves f32 (sqrtf, logf, ...) and f64; f32 exp, erf and tanh are our own,
 * which vectorize (libm's are scalar calls; sqrt would vectorize with
 * -fno-math-errno). bf16/f16 go through small f32 buffers and reuse the f32
 * loops.
 */
#include <tgmath.h>

#include "kernels/cpu/iter.h"
#include "kernels/cpu/vmath.h"

#define SQRT1_2 0.70710678118654752440      /* 1/sqrt(2) */
#define INV_SQRT_2PI 0.39894228040143267794 /* 1/sqrt(2 pi) */
#define SQRT_2_OVER_PI 0.79788456080286535588
#define GELU_C 0.044715

/* ------------------------------------------------------------------------ */
/* loops                                                                    */

#define SIMD _Pragma("omp simd")

/* out = EXPR(x) over one segment; p/s are iter.h's byte pointers and strides. */
#define UNARY_LOOP(TI, TO, EXPR)                                                     \
  do {                                                                               \
    if (s[0] == (int64_t)sizeof(TO) && s[1] == (int64_t)sizeof(TI)) {                \
      TO *o_ = (TO *)p[0];                                                           \
      const TI *x_ = (const TI *)p[1];                                               \
      SIMD for (int64_t i = 0; i < n; i++) {                                         \
        TI x = x_[i];                                                                \
        o_[i] = (TO)(EXPR);                                                          \
      }                                                                              \
    } else {                                                                         \
      for (int64_t i = 0; i < n; i++) {                                              \
        TI x = *(const TI *)(p[1] + i * s[1]);                                       \
        *(TO *)(p[0] + i * s[0]) = (TO)(EXPR);                                       \
      }                                                                              \
    }                                                                                \
  } while (0)

/* out = EXPR(x, y); fast paths for all-contiguous and for either input a scalar. */
#define BINARY_LOOP(TI, TO, EXPR)                                                    \
  do {                                                                               \
    const int64_t si_ = (int64_t)sizeof(TI);                                         \
    if (s[0] == (int64_t)sizeof(TO) && (s[1] == si_ || s[1] == 0) && (s[2] == si_ || s[2] == 0)) { \
      TO *o_ = (TO *)p[0];                                                           \
      const TI *a_ = (const TI *)p[1], *b_ = (const TI *)p[2];                       \
      if (s[1] && s[2]) {                                                            \
        SIMD for (int64_t i = 0; i < n; i++) {                                       \
          TI x = a_[i], y = b_[i];                                                   \
          o_[i] = (TO)(EXPR);                                                        \
        }                                                                            \
      } else if (s[2]) {                                                             \
        const TI x = a_[0];                                                          \
        SIMD for (int64_t i = 0; i < n; i++) {                                       \
          TI y = b_[i];                                                              \
          o_[i] = (TO)(EXPR);                                                        \
        }                                                                            \
      } else if (s[1]) {                                                             \
        const TI y = b_[0];                                                          \
        SIMD for (int64_t i = 0; i < n; i++) {                                       \
          TI x = a_[i];                                                              \
          o_[i] = (TO)(EXPR);                                                        \
        }                                                                            \
      } else {                                                                       \
        const TI x = a_[0], y = b_[0];                                               \
        const TO v_ = (TO)(EXPR);                                                    \
        for (int64_t i = 0; i < n; i++) o_[i] = v_;                                  \
      }                                                                              \
    } else {                                                                         \
      for (int64_t i = 0; i < n; i++) {                                              \
        TI x = *(const TI *)(p[1] + i * s[1]), y = *(const TI *)(p[2] + i * s[2]);   \
        *(TO *)(p[0] + i * s[0]) = (TO)(EXPR);                                       \
      }                                                                              \
    }                                                                                \
  } while (0)

/* gx = EXPR(g, x, y) with operands gx, gy, x, y. */
#define BACKWARD_LOOP(T, EXPR)                                                       \
  do {                                                                               \
    const int64_t st_ = (int64_t)sizeof(T);                                          \
    if (s[0] == st_ && s[1] == st_ && s[2] == st_ && s[3] == st_) {                  \
      T *o_ = (T *)p[0];                                                             \
      const T *g_ = (const T *)p[1], *x_ = (const T *)p[2], *y_ = (const T *)p[3];   \
      SIMD for (int64_t i = 0; i < n; i++) {                                         \
        T g = g_[i], x = x_[i], y = y_[i];                                           \
        (void)g, (void)x, (void)y;                                                      \
        o_[i] = (T)(EXPR);                                                           \
      }                                                                              \
    } else {                                                                         \
      for (int64_t i = 0; i < n; i++) {                                              \
        T g = *(const T *)(p[1] + i * s[1]), x = *(const T *)(p[2] + i * s[2]);      \
        T y = *(const T *)(p[3] + i * s[3]);                                         \
        (void)g, (void)x, (void)y;                                                      \
        *(T *)(p[0] + i * s[0]) = (T)(EXPR);                                         \
      }                                                                              \
    }                                                                                \
  } while (0)

/* ------------------------------------------------------------------------ */
/* unary                                                                    */

typedef struct {
  int op, dtype, out_dtype;
  double alpha, beta;
} ew_ctx;

/* erf for f32 GELU, vectorizable: Abramowitz & Stegun 7.1.26, |error| < 1.5e-7
 * (the approximation PyTorch's vectorized CPU erf uses too). */
static inline float fast_erff(float x) {
  float t = 1.0f / (1.0f + 0.3275911f * fabs(x));
  float p = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
  float y = 1.0f - p * ax_fast_expf(-x * x);
  return x < 0 ? -y : y;
}
/* tanhf, vectorizable (Cephes): an odd polynomial near 0, where 1 - 2/(e^2x + 1)
 * would cancel, and that formula elsewhere; about 2 ulp. */
static inline float fast_tanhf(float x) {
  float z = x * x;
  float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z + 1.33314422036e-1f) * z -
                 3.33332819422e-1f) * z * x + x;
  float large = 1.0f - 2.0f / (ax_fast_expf(2.0f * fabs(x)) + 1.0f);
  return fabs(x) < 0.625f ? small : (x < 0 ? -large : large);
}
static inline float exp_f32(float x) { return ax_fast_expf(x); }
static inline double exp_f64(double x) { return exp(x); }
static inline float erf_f32(float x) { return fast_erff(x); }
static inline double erf_f64(double x) { return erf(x); }
static inline float tanh_f32(float x) { return fast_tanhf(x); }
static inline double tanh_f64(double x) { return tanh(x); }

/* Helpers too long for one expression, per float type. gelu_tanh uses
 * 0.5 (1 + tanh u) = sigmoid(2u), which also avoids cancellation for x < 0. */
#define FLOAT_HELPERS(T, SFX)                                                        \
  static inline T sigmoid_##SFX(T x) { return (T)1 / ((T)1 + exp_##SFX(-x)); }       \
  static inline T gelu_tanh_##SFX(T x) {                                             \
    return x * sigmoid_##SFX((T)(2 * SQRT_2_OVER_PI) * (x + (T)GELU_C * x * x * x)); \
  }                                                                                  \
  static inline T gelu_grad_##SFX(T x) {                                             \
    return (T)0.5 * ((T)1 + erf_##SFX(x * (T)SQRT1_2)) + x * exp_##SFX((T)-0.5 * x * x) * (T)INV_SQRT_2PI; \
  }                                                                                  \
  static inline T gelu_tanh_grad_##SFX(T x) { /* with s = sigmoid(2u): 1 - tanh^2 u = 4 s (1 - s) */ \
    T sg = sigmoid_##SFX((T)(2 * SQRT_2_OVER_PI) * (x + (T)GELU_C * x * x * x));    \
    T du = (T)SQRT_2_OVER_PI * ((T)1 + (T)(3 * GELU_C) * x * x);                     \
    return sg + (T)2 * x * sg * ((T)1 - sg) * du;                                    \
  }                                                                                  \
  static inline T silu_grad_##SFX(T x) {                                             \
    T sg = sigmoid_##SFX(x);                                                         \
    return sg * ((T)1 + x * ((T)1 - sg));                                            \
  }                                                                                  \
  static inline T clamp_##SFX(T x, T lo, T hi) { /* NaN stays NaN; lo > hi gives hi */ \
    T t = x < lo ? lo : x;                                                           \
    return t > hi ? hi : t;                                                          \
  }
FLOAT_HELPERS(float, f32)
FLOAT_HELPERS(double, f64)

/* Forward expressions of x, with a = alpha, b = beta. */
#define UNARY_FLOAT_CASES(T, SFX)                                                    \
  UCASE(AX_UNARY_NEG, -x)                                                            \
  UCASE(AX_UNARY_ABS, fabs(x))                                                       \
  UCASE(AX_UNARY_EXP, exp_##SFX(x))                                                        \
  UCASE(AX_UNARY_LOG, log(x))                                                        \
  UCASE(AX_UNARY_SQRT, sqrt(x))                                                      \
  UCASE(AX_UNARY_RSQRT, (T)1 / sqrt(x))                                              \
  UCASE(AX_UNARY_SQUARE, x * x)                                                      \
  UCASE(AX_UNARY_POW, pow(x, a))                                                     \
  UCASE(AX_UNARY_CLAMP, clamp_##SFX(x, a, b))                                        \
  UCASE(AX_UNARY_RELU, x < 0 ? (T)0 : x)                                             \
  UCASE(AX_UNARY_LEAKY_RELU, x < 0 ? x * a : x)                                      \
  UCASE(AX_UNARY_SIGMOID, sigmoid_##SFX(x))                                          \
  UCASE(AX_UNARY_TANH, tanh_##SFX(x))                                                      \
  UCASE(AX_UNARY_GELU, (T)0.5 * x * ((T)1 + erf_##SFX(x * (T)SQRT1_2)))                    \
  UCASE(AX_UNARY_GELU_TANH, gelu_tanh_##SFX(x))                                      \
  UCASE(AX_UNARY_SILU, x * sigmoid_##SFX(x))                                         \
  UCASE(AX_UNARY_SIGN, (T)((x > 0) - (x < 0)))

/* Backward expressions of g (incoming gradient), x and y = f(x). */
#define UNARY_BACKWARD_CASES(T, SFX)                                                 \
  UCASE(AX_UNARY_NEG, -g)                                                            \
  UCASE(AX_UNARY_ABS, x > 0 ? g : (x < 0 ? -g : (T)0))                               \
  UCASE(AX_UNARY_EXP, g * y)                                                         \
  UCASE(AX_UNARY_LOG, g / x)                                                         \
  UCASE(AX_UNARY_SQRT, (T)0.5 * g / y)                                               \
  UCASE(AX_UNARY_RSQRT, (T)-0.5 * g * y * y * y)                                     \
  UCASE(AX_UNARY_SQUARE, (T)2 * g * x)                                               \
  UCASE(AX_UNARY_POW, a == 0 ? (T)0 : g * a * pow(x, a - (T)1))                      \
  UCASE(AX_UNARY_CLAMP, (x >= a && x <= b) ? g : (T)0)                               \
  UCASE(AX_UNARY_RELU, x > 0 ? g : (T)0)                                             \
  UCASE(AX_UNARY_LEAKY_RELU, x > 0 ? g : g * a)                                      \
  UCASE(AX_UNARY_SIGMOID, g * y * ((T)1 - y))                                        \
  UCASE(AX_UNARY_TANH, g * ((T)1 - y * y))                                           \
  UCASE(AX_UNARY_GELU, g * gelu_grad_##SFX(x))                                       \
  UCASE(AX_UNARY_GELU_TANH, g * gelu_tanh_grad_##SFX(x))                             \
  UCASE(AX_UNARY_SILU, g * silu_grad_##SFX(x))                                       \
  UCASE(AX_UNARY_SIGN, (T)0)

/* Integer forward ops: wrap-around arithmetic in the unsigned type U (no UB). */
#define UNARY_SIGNED_CASES(T, U)                                                     \
  UCASE(AX_UNARY_NEG, (T)((U)0 - (U)x))                                              \
  UCASE(AX_UNARY_ABS, x < 0 ? (T)((U)0 - (U)x) : x)                                  \
  UCASE(AX_UNARY_SQUARE, (T)((U)x * (U)x))                                           \
  UCASE(AX_UNARY_CLAMP, (x < lo ? lo : x) > hi ? hi : (x < lo ? lo : x))             \
  UCASE(AX_UNARY_RELU, x < 0 ? (T)0 : x)                                             \
  UCASE(AX_UNARY_SIGN, (T)((x > 0) - (x < 0)))

#define UNARY_U8_CASES                                                               \
  UCASE(AX_UNARY_NEG, (uint8_t)(0u - x))                                             \
  UCASE(AX_UNARY_ABS, x)                                                             \
  UCASE(AX_UNARY_SQUARE, (uint8_t)((unsigned)x * x))                                 \
  UCASE(AX_UNARY_CLAMP, (x < lo ? lo : x) > hi ? hi : (x < lo ? lo : x))             \
  UCASE(AX_UNARY_RELU, x)                                                            \
  UCASE(AX_UNARY_SIGN, x != 0)

#define UCASE(OP, EXPR) \
  case OP: UNARY_LOOP(T_, T_, EXPR); break;

#define T_ float
static void unary_f32(void *vc, int64_t n, char **p, const int64_t *s) {
  const ew_ctx *c = vc;
  const float a = (float)c->alpha, b = (float)c->beta;
  switch (c->op) { UNARY_FLOAT_CASES(float, f32) }
}
#undef T_
#define T_ double
static void unary_f64(void *vc, int64_t n, char **p, const int64_t *s) {
  const ew_ctx *c = vc;
  const double a = c->alpha, b = c->beta;
  switch (c->op) { UNARY_FLOAT_CASES(double, f64) }
}
#undef T_

/* Integer clamp bounds: round inward, saturate to the type's range (no UB on +-inf, NaN). */
static int64_t int_bound(double v, int64_t tmin, int64_t tmax, int lower) {
  v = lower ? ceil(v) : floor(v);
  if (!(v > (double)tmin)) return tmin;
  if (v >= (double)tmax) return tmax;
  return (int64_t)v;
}

#define INT_UNARY(SFX, T, TMIN, TMAX, CASES)                                         \
  static void unary_##SFX(void *vc, int64_t n, char **p, const int64_t *s) {         \
    const ew_ctx *c = vc;                                                            \
    const T lo = (T)int_bound(c->alpha, TMIN, TMAX, 1), hi = (T)int_bound(c->beta, TMIN, TMAX, 0); \
    (void)lo, (void)hi;                                                              \
    switch (c->op) { CASES }                                                         \
  }
#define T_ int32_t
INT_UNARY(i32, int32_t, INT32_MIN, INT32_MAX, UNARY_SIGNED_CASES(int32_t, uint32_t))
#undef T_
#define T_ int64_t
INT_UNARY(i64, int64_t, INT64_MIN, INT64_MAX, UNARY_SIGNED_CASES(int64_t, uint64_t))
#undef T_
#define T_ uint8_t
INT_UNARY(u8, uint8_t, 0, 255, UNARY_U8_CASES)
#undef T_
#undef UCASE

#define UCASE(OP, EXPR) \
  case OP: BACKWARD_LOOP(T_, EXPR); break;
#define T_ float
static void unary_backward_f32(void *vc, int64_t n, char **p, const int64_t *s) {
  const ew_ctx *c = vc;
  const float a = (float)c->alpha, b = (float)c->beta;
  switch (c->op) { UNARY_BACKWARD_CASES(float, f32) }
}
#undef T_
#define T_ double
static void unary_backward_f64(void *vc, int64_t n, char **p, const int64_t *s) {
  const ew_ctx *c = vc;
  const double a = c->alpha, b = c->beta;
  switch (c->op) { UNARY_BACKWARD_CASES(double, f64) }
}
#undef T_
#undef UCASE

/* ------------------------------------------------------------------------ */
/* binary                                                                   */

#define BINARY_FLOAT_CASES(T)                                                        \
  BCASE(AX_BINARY_ADD, T, x + y)                                                     \
  BCASE(AX_BINARY_SUB, T, x - y)                                                     \
  BCASE(AX_BINARY_MUL, T, x * y)                                                     \
  BCASE(AX_BINARY_DIV, T, x / y)                                                     \
  BCASE(AX_BINARY_MAX, T, (x > y || x != x) ? x : y) /* NaN propagates */           \
  BCASE(AX_BINARY_MIN, T, (x < y || x != x) ? x : y)                                 \
  BCASE(AX_BINARY_POW, T, pow(x, y))

#define BINARY_INT_CASES(T, U)                                                       \
  BCASE(AX_BINARY_ADD, T, (T)((U)x + (U)y))                                          \
  BCASE(AX_BINARY_SUB, T, (T)((U)x - (U)y))                                          \
  BCASE(AX_BINARY_MUL, T, (T)((U)x * (U)y))                                          \
  BCASE(AX_BINARY_MAX, T, x > y ? x : y)                                             \
  BCASE(AX_BINARY_MIN, T, x < y ? x : y)

#define COMPARE_CASES                                                                \
  BCASE(AX_BINARY_EQ, uint8_t, x == y)                                               \
  BCASE(AX_BINARY_NE, uint8_t, x != y)                                               \
  BCASE(AX_BINARY_LT, uint8_t, x < y)                                                \
  BCASE(AX_BINARY_LE, uint8_t, x <= y)                                               \
  BCASE(AX_BINARY_GT, uint8_t, x > y)                                                \
  BCASE(AX_BINARY_GE, uint8_t, x >= y)

#define BCASE(OP, TO, EXPR) \
  case OP: BINARY_LOOP(T_, TO, EXPR); break;

#define BINARY_FN(SFX, T, ARITH)                                                     \
  static void binary_##SFX(void *vc, int64_t n, char **p, const int64_t *s) {        \
    const ew_ctx *c = vc;                                                            \
    switch (c->op) { ARITH COMPARE_CASES }                                           \
  }
#define T_ float
BINARY_FN(f32, float, BINARY_FLOAT_CASES(float))
#undef T_
#define T_ double
BINARY_FN(f64, double, BINARY_FLOAT_CASES(double))
#undef T_
#define T_ int32_t
BINARY_FN(i32, int32_t, BINARY_INT_CASES(int32_t, uint32_t))
#undef T_
#define T_ int64_t
BINARY_FN(i64, int64_t, BINARY_INT_CASES(int64_t, uint64_t))
#undef T_
#define T_ uint8_t
BINARY_FN(u8, uint8_t, BINARY_INT_CASES(uint8_t, unsigned))
#undef T_
/* bool: comparisons, and max/min as logical or/and */
#define T_ uint8_t
static void binary_bool(void *vc, int64_t n, char **p, const int64_t *s) {
  const ew_ctx *c = vc;
  switch (c->op) {
    BCASE(AX_BINARY_MAX, uint8_t, x | y)
    BCASE(AX_BINARY_MIN, uint8_t, x & y)
    COMPARE_CASES
  }
}
#undef T_
#undef BCASE

/* ------------------------------------------------------------------------ */
/* bf16 / f16: convert runs of elements to f32 buffers, reuse the f32 loops */

#define GENERIC_BUF 256

/* Loads n elements (n <= GENERIC_BUF) of operand k into a contiguous f32 buffer. */
static void load_f32(float *buf, int64_t n, const char *p, int64_t s, int dtype) {
  for (int64_t i = 0; i < n; i++) buf[i] = (float)ax_cpu_load(p + i * s, dtype);
}

/* Runs the f32 segment `fn` on runs of at most GENERIC_BUF elements. Operand
 * 0 is the output (of out_dtype, f32 or bool), operands 1.. are inputs of dtype. */
static void generic_segment(const ew_ctx *c, ax_segment_fn fn, int nops, int64_t n, char **p, const int64_t *s) {
  float in[AX_ITER_MAX_OPS][GENERIC_BUF];
  float out[GENERIC_BUF];
  char *bp[AX_ITER_MAX_OPS];
  int64_t bs[AX_ITER_MAX_OPS];
  bool out_bool = c->out_dtype == AX_BOOL;
  bp[0] = (char *)out;
  bs[0] = out_bool ? 1 : (int64_t)sizeof(float);
  for (int k = 1; k < nops; k++) {
    bp[k] = (char *)in[k];
    bs[k] = sizeof(float);
  }
  for (int64_t i0 = 0; i0 < n; i0 += GENERIC_BUF) {
    int64_t m = n - i0 < GENERIC_BUF ? n - i0 : GENERIC_BUF;
    for (int k = 1; k < nops; k++) load_f32(in[k], m, p[k] + i0 * s[k], s[k], c->dtype);
    fn((void *)c, m, bp, bs);
    const unsigned char *ob = (const unsigned char *)out;
    for (int64_t i = 0; i < m; i++)
      ax_cpu_store(p[0] + (i0 + i) * s[0], c->out_dtype, out_bool ? (double)ob[i] : (double)out[i]);
  }
}

static void unary_generic(void *vc, int64_t n, char **p, const int64_t *s) {
  generic_segment(vc, unary_f32, 2, n, p, s);
}
static void unary_backward_generic(void *vc, int64_t n, char **p, const int64_t *s) {
  generic_segment(vc, unary_backward_f32, 4, n, p, s);
}
static void binary_generic(void *vc, int64_t n, char **p, const int64_t *s) {
  generic_segment(vc, binary_f32, 3, n, p, s);
}

/* ------------------------------------------------------------------------ */
/* entry points                                                             */

static void run(int nops, const ax_kt *const *ops, ax_segment_fn fn, ew_ctx *c) {
  ax_iter it;
  ax_iter_init(&it, nops, ops);
  ax_iter_run(&it, fn, c);
}

ax_kstatus ax_cpu_unary(int op, ax_kt *out, const ax_kt *x, double alpha, double beta) {
  ew_ctx c = {op, x->dtype, out->dtype, alpha, beta};
  ax_segment_fn fn;
  switch (x->dtype) {
    case AX_F32: fn = unary_f32; break;
    case AX_F64: fn = unary_f64; break;
    case AX_I32: fn = unary_i32; break;
    case AX_I64: fn = unary_i64; break;
    case AX_U8: fn = unary_u8; break;
    default: fn = unary_generic; break;
  }
  const ax_kt *ops[2] = {out, x};
  run(2, ops, fn, &c);
  return AX_K_OK;
}

ax_kstatus ax_cpu_unary_backward(int op, ax_kt *gx, const ax_kt *gy, const ax_kt *x, const ax_kt *y, double alpha,
                           double beta) {
  ew_ctx c = {op, x->dtype, gx->dtype, alpha, beta};
  ax_segment_fn fn = x->dtype == AX_F32 ? unary_backward_f32 : x->dtype == AX_F64 ? unary_backward_f64 : unary_backward_generic;
  const ax_kt *ops[4] = {gx, gy, x, y ? y : x}; /* ops whose derivative ignores y may get none */
  run(4, ops, fn, &c);
  return AX_K_OK;
}

ax_kstatus ax_cpu_binary(int op, ax_kt *out, const ax_kt *a, const ax_kt *b) {
  ew_ctx c = {op, a->dtype, out->dtype, 0, 0};
  ax_segment_fn fn;
  switch (a->dtype) {
    case AX_F32: fn = binary_f32; break;
    case AX_F64: fn = binary_f64; break;
    case AX_I32: fn = binary_i32; break;
    case AX_I64: fn = binary_i64; break;
    case AX_U8: fn = binary_u8; break;
    case AX_BOOL: fn = binary_bool; break;
    default: fn = binary_generic; break;
  }
  const ax_kt *ops[3] = {out, a, b};
  run(3, ops, fn, &c);
  return AX_K_OK;
}

/* where: a select of raw bits, so one loop per element size serves every dtype. */
#define WHERE_LOOP(T)                                                                \
  do {                                                                               \
    if (s[0] == (int64_t)sizeof(T) && s[1] == 1 && s[2] == (int64_t)sizeof(T) && s[3] == (int64_t)sizeof(T)) { \
      T *o_ = (T *)p[0];                                                             \
      const uint8_t *c_ = (const uint8_t *)p[1];                                     \
      const T *a_ = (const T *)p[2], *b_ = (const T *)p[3];                          \
      SIMD for (int64_t i = 0; i < n; i++) o_[i] = c_[i] ? a_[i] : b_[i];            \
    } else {                                                                         \
      for (int64_t i = 0; i < n; i++)                                                \
        *(T *)(p[0] + i * s[0]) = *(const uint8_t *)(p[1] + i * s[1]) ? *(const T *)(p[2] + i * s[2]) \
                                                                       : *(const T *)(p[3] + i * s[3]); \
    }                                                                                \
  } while (0)

static void where_segment(void *vc, int64_t n, char **p, const int64_t *s) {
  switch (((const ew_ctx *)vc)->dtype) {
    case AX_F64: case AX_I64: WHERE_LOOP(uint64_t); break;
    case AX_F32: case AX_I32: WHERE_LOOP(uint32_t); break;
    case AX_BF16: case AX_F16: WHERE_LOOP(uint16_t); break;
    default: WHERE_LOOP(uint8_t); break;
  }
}

ax_kstatus ax_cpu_where(ax_kt *out, const ax_kt *cond, const ax_kt *a, const ax_kt *b) {
  ew_ctx c = {0, out->dtype, out->dtype, 0, 0};
  const ax_kt *ops[4] = {out, cond, a, b};
  run(4, ops, where_segment, &c);
  return AX_K_OK;
}
