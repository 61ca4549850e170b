/* SPDX-License-Identifier: BSD-3-Clause */
/* Elementwise kernels: unary ops and their backward, binary ops (arithmetic
 * and comparisons), where.
 *
 * One functor per family, templated on the element type, run by the shared
 * launcher of loops.cuh (16-byte vectorized loads and stores on dense data, a
 * strided path with fast division otherwise). The op is a run-time switch
 * inside the functor: it is uniform across the grid, so it costs a few
 * instructions per element on kernels bound by memory, and it keeps the
 * number of template instances (and the build time) small.
 *
 * The math is the CPU's (kernels/cpu/elementwise.c) expression for
 * expression: gelu in its erf form, gelu_tanh as x * sigmoid(2u), clamp that
 * keeps NaN and gives hi when lo > hi, max/min that propagate NaN, sign 0 at
 * NaN. bf16 and f16 compute in f32 and round once, as the CPU does; f64
 * computes in f64. CUDA's libm differs from glibc's by an ulp or two, and the
 * CPU's f32 exp/erf/tanh are its own vectorized approximations (within
 * 1.5e-7), which the parity bounds allow for. */
#include "kernels/cuda/loops.cuh"

namespace {

#define SQRT1_2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794
#define SQRT_2_OVER_PI 0.79788456080286535588
#define GELU_C 0.044715

/* element <-> compute type: bf16/f16 compute in f32, everything else in itself */
__device__ __forceinline__ float widen(float v) { return v; }
__device__ __forceinline__ double widen(double v) { return v; }
__device__ __forceinline__ float widen(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float widen(__half v) { return __half2float(v); }
__device__ __forceinline__ int32_t widen(int32_t v) { return v; }
__device__ __forceinline__ int64_t widen(int64_t v) { return v; }
__device__ __forceinline__ uint8_t widen(uint8_t v) { return v; }
template <typename T> __device__ __forceinline__ T narrow(float v) { return (T)v; }
template <> __device__ __forceinline__ __nv_bfloat16 narrow<__nv_bfloat16>(float v) { return __float2bfloat16(v); }
template <> __device__ __forceinline__ __half narrow<__half>(float v) { return __float2half(v); }
template <typename T> __device__ __forceinline__ T narrow(double v) { return v; }

template <typename T> struct compute { typedef float type; };
template <> struct compute<double> { typedef double type; };

__device__ __forceinline__ float m_exp(float x) { return expf(x); }
__device__ __forceinline__ double m_exp(double x) { return exp(x); }
__device__ __forceinline__ float m_log(float x) { return logf(x); }
__device__ __forceinline__ double m_log(double x) { return log(x); }
__device__ __forceinline__ float m_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double m_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float m_pow(float x, float a) { return powf(x, a); }
__device__ __forceinline__ double m_pow(double x, double a) { return pow(x, a); }
__device__ __forceinline__ float m_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double m_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float m_erf(float x) { return erff(x); }
__device__ __forceinline__ double m_erf(double x) { return erf(x); }
__device__ __forceinline__ float m_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double m_abs(double x) { return fabs(x); }

template <typename A> __device__ __forceinline__ A sigmoid(A x) { return (A)1 / ((A)1 + m_exp(-x)); }
template <typename A> __device__ __forceinline__ A gelu_tanh_sig(A x) {
  return sigmoid((A)(2 * SQRT_2_OVER_PI) * (x + (A)GELU_C * x * x * x));
}

template <typename A> __device__ __forceinline__ A unary_math(int op, A x, A a, A b) {
  switch (op) {
    case AX_UNARY_NEG: return -x;
    case AX_UNARY_ABS: return m_abs(x);
    case AX_UNARY_EXP: return m_exp(x);
    case AX_UNARY_LOG: return m_log(x);
    case AX_UNARY_SQRT: return m_sqrt(x);
    case AX_UNARY_RSQRT: return (A)1 / m_sqrt(x);
    case AX_UNARY_SQUARE: return x * x;
    case AX_UNARY_POW: return m_pow(x, a);
    case AX_UNARY_CLAMP: {
      A t = x < a ? a : x;
      return t > b ? b : t;
    }
    case AX_UNARY_RELU: return x < 0 ? (A)0 : x;
    case AX_UNARY_LEAKY_RELU: return x < 0 ? x * a : x;
    case AX_UNARY_SIGMOID: return sigmoid(x);
    case AX_UNARY_TANH: return m_tanh(x);
    case AX_UNARY_GELU: return (A)0.5 * x * ((A)1 + m_erf(x * (A)SQRT1_2));
    case AX_UNARY_GELU_TANH: return x * gelu_tanh_sig(x);
    case AX_UNARY_SILU: return x * sigmoid(x);
    case AX_UNARY_SIGN: return (A)((x > 0) - (x < 0));
    default: return x;
  }
}

template <typename A> __device__ __forceinline__ A unary_grad(int op, A g, A x, A y, A a, A b) {
  switch (op) {
    case AX_UNARY_NEG: return -g;
    case AX_UNARY_ABS: return x > 0 ? g : (x < 0 ? -g : (A)0);
    case AX_UNARY_EXP: return g * y;
    case AX_UNARY_LOG: return g / x;
    case AX_UNARY_SQRT: return (A)0.5 * g / y;
    case AX_UNARY_RSQRT: return (A)-0.5 * g * y * y * y;
    case AX_UNARY_SQUARE: return (A)2 * g * x;
    case AX_UNARY_POW: return a == 0 ? (A)0 : g * a * m_pow(x, a - (A)1);
    case AX_UNARY_CLAMP: return (x >= a && x <= b) ? g : (A)0;
    case AX_UNARY_RELU: return x > 0 ? g : (A)0;
    case AX_UNARY_LEAKY_RELU: return x > 0 ? g : g * a;
    case AX_UNARY_SIGMOID: return g * y * ((A)1 - y);
    case AX_UNARY_TANH: return g * ((A)1 - y * y);
    case AX_UNARY_GELU:
      return g * ((A)0.5 * ((A)1 + m_erf(x * (A)SQRT1_2)) + x * m_exp((A)-0.5 * x * x) * (A)INV_SQRT_2PI);
    case AX_UNARY_GELU_TANH: { /* with s = sigmoid(2u): 1 - tanh^2 u = 4 s (1 - s) */
      A sg = gelu_tanh_sig(x);
      A du = (A)SQRT_2_OVER_PI * ((A)1 + (A)(3 * GELU_C) * x * x);
      return g * (sg + (A)2 * x * sg * ((A)1 - sg) * du);
    }
    case AX_UNARY_SILU: {
      A sg = sigmoid(x);
      return g * (sg * ((A)1 + x * ((A)1 - sg)));
    }
    default: return (A)0; /* sign */
  }
}

template <typename T> struct unary_fn {
  typedef T out_t;
  typedef T in0_t;
  typedef ax_none in1_t;
  typedef ax_none in2_t;
  static const int nin = 1;
  typedef typename compute<T>::type A;
  int op;
  A a, b;
  __device__ __forceinline__ T operator()(T x, ax_none, ax_none) const {
    return narrow<T>(unary_math<A>(op, widen(x), a, b));
  }
};

/* Integers: wrap-around arithmetic in the unsigned type U (no overflow UB). */
template <typename T, typename U> struct unary_int_fn {
  typedef T out_t;
  typedef T in0_t;
  typedef ax_none in1_t;
  typedef ax_none in2_t;
  static const int nin = 1;
  int op;
  T lo, hi;
  /* through int64 so that u8 needs no special case (and draws no warning) */
  static __device__ __forceinline__ bool neg(T x) { return (int64_t)x < 0; }
  __device__ __forceinline__ T operator()(T x, ax_none, ax_none) const {
    switch (op) {
      case AX_UNARY_NEG: return (T)((U)0 - (U)x);
      case AX_UNARY_ABS: return neg(x) ? (T)((U)0 - (U)x) : x;
      case AX_UNARY_SQUARE: return (T)((U)x * (U)x);
      case AX_UNARY_CLAMP: {
        T t = x < lo ? lo : x;
        return t > hi ? hi : t;
      }
      case AX_UNARY_RELU: return neg(x) ? (T)0 : x;
      case AX_UNARY_SIGN: return (T)((x > 0) - neg(x));
      default: return x;
    }
  }
};

template <typename T> struct unary_backward_fn {
  typedef T out_t;
  typedef T in0_t; /* gy */
  typedef T in1_t; /* x */
  typedef T in2_t; /* y */
  static const int nin = 3;
  typedef typename compute<T>::type A;
  int op;
  A a, b;
  __device__ __forceinline__ T operator()(T g, T x, T y) const {
    return narrow<T>(unary_grad<A>(op, widen(g), widen(x), widen(y), a, b));
  }
};

template <typename T> struct binary_float_fn {
  typedef T out_t;
  typedef T in0_t;
  typedef T in1_t;
  typedef ax_none in2_t;
  static const int nin = 2;
  typedef typename compute<T>::type A;
  int op;
  __device__ __forceinline__ T operator()(T xa, T ya, ax_none) const {
    A x = widen(xa), y = widen(ya), r;
    switch (op) {
      case AX_BINARY_ADD: r = x + y; break;
      case AX_BINARY_SUB: r = x - y; break;
      case AX_BINARY_MUL: r = x * y; break;
      case AX_BINARY_DIV: r = x / y; break;
      case AX_BINARY_MAX: r = (x > y || x != x) ? x : y; break; /* NaN propagates */
      case AX_BINARY_POW: r = m_pow(x, y); break;
      default: r = (x < y || x != x) ? x : y; break;            /* min */
    }
    return narrow<T>(r);
  }
};

template <typename T, typename U> struct binary_int_fn {
  typedef T out_t;
  typedef T in0_t;
  typedef T in1_t;
  typedef ax_none in2_t;
  static const int nin = 2;
  int op;
  __device__ __forceinline__ T operator()(T x, T y, ax_none) const {
    switch (op) {
      case AX_BINARY_ADD: return (T)((U)x + (U)y);
      case AX_BINARY_SUB: return (T)((U)x - (U)y);
      case AX_BINARY_MUL: return (T)((U)x * (U)y);
      case AX_BINARY_MAX: return x > y ? x : y;
      default: return x < y ? x : y; /* min */
    }
  }
};

/* bool: max / min are logical or / and */
struct binary_bool_fn {
  typedef uint8_t out_t;
  typedef uint8_t in0_t;
  typedef uint8_t in1_t;
  typedef ax_none in2_t;
  static const int nin = 2;
  int op;
  __device__ __forceinline__ uint8_t operator()(uint8_t x, uint8_t y, ax_none) const {
    return op == AX_BINARY_MAX ? (uint8_t)(x | y) : (uint8_t)(x & y);
  }
};

template <typename T> struct compare_fn {
  typedef uint8_t out_t;
  typedef T in0_t;
  typedef T in1_t;
  typedef ax_none in2_t;
  static const int nin = 2;
  int op;
  __device__ __forceinline__ uint8_t operator()(T xa, T ya, ax_none) const {
    auto x = widen(xa);
    auto y = widen(ya);
    switch (op) {
      case AX_BINARY_EQ: return x == y;
      case AX_BINARY_NE: return x != y;
      case AX_BINARY_LT: return x < y;
      case AX_BINARY_LE: return x <= y;
      case AX_BINARY_GT: return x > y;
      default: return x >= y;
    }
  }
};

/* where: a select of raw bits, one instance per element size */
template <typename U> struct where_fn {
  typedef U out_t;
  typedef uint8_t in0_t;
  typedef U in1_t;
  typedef U in2_t;
  static const int nin = 3;
  __device__ __forceinline__ U operator()(uint8_t c, U a, U b) const { return c ? a : b; }
};

/* Integer clamp bounds: round inward, saturate to the type's range (as the CPU). */
int64_t int_bound(double v, int64_t tmin, int64_t tmax, int lower) {
  v = lower ? ceil(v) : floor(v);
  if (!(v > (double)tmin)) return tmin;
  if (v >= (double)tmax) return tmax;
  return (int64_t)v;
}

template <typename T> void unary_float(int op, ax_kt *out, const ax_kt *x, double alpha, double beta) {
  unary_fn<T> f;
  f.op = op;
  f.a = (typename unary_fn<T>::A)alpha;
  f.b = (typename unary_fn<T>::A)beta;
  ax_ew_launch("ax_cuda_unary", f, out, x, NULL, NULL);
}

template <typename T, typename U>
void unary_int(int op, ax_kt *out, const ax_kt *x, double alpha, double beta, int64_t tmin, int64_t tmax) {
  unary_int_fn<T, U> f;
  f.op = op;
  f.lo = (T)int_bound(alpha, tmin, tmax, 1);
  f.hi = (T)int_bound(beta, tmin, tmax, 0);
  ax_ew_launch("ax_cuda_unary", f, out, x, NULL, NULL);
}

template <typename T>
void unary_backward(int op, ax_kt *gx, const ax_kt *gy, const ax_kt *x, const ax_kt *y, double alpha, double beta) {
  unary_backward_fn<T> f;
  f.op = op;
  f.a = (typename unary_backward_fn<T>::A)alpha;
  f.b = (typename unary_backward_fn<T>::A)beta;
  ax_ew_launch("ax_cuda_unary_backward", f, gx, gy, x, y);
}

template <typename F> void run_binary(int op, ax_kt *out, const ax_kt *a, const ax_kt *b) {
  F f;
  f.op = op;
  ax_ew_launch("ax_cuda_binary", f, out, a, b, NULL);
}

} // namespace

extern "C" ax_kstatus ax_cuda_unary(int op, ax_kt *out, const ax_kt *x, double alpha, double beta) {
  AX_CUDA_ENTRY;
  switch (x->dtype) {
    case AX_F32: unary_float<float>(op, out, x, alpha, beta); break;
    case AX_F64: unary_float<double>(op, out, x, alpha, beta); break;
    case AX_BF16: unary_float<__nv_bfloat16>(op, out, x, alpha, beta); break;
    case AX_F16: unary_float<__half>(op, out, x, alpha, beta); break;
    case AX_I32: unary_int<int32_t, uint32_t>(op, out, x, alpha, beta, INT32_MIN, INT32_MAX); break;
    case AX_I64: unary_int<int64_t, uint64_t>(op, out, x, alpha, beta, INT64_MIN, INT64_MAX); break;
    case AX_U8: unary_int<uint8_t, unsigned>(op, out, x, alpha, beta, 0, 255); break;
    default: ax_cuda_error("ax_cuda_unary: dtype %d is not supported", x->dtype);
  }
  return ax_cuda_kstatus();
}

extern "C" ax_kstatus ax_cuda_unary_backward(int op, ax_kt *gx, const ax_kt *gy, const ax_kt *x, const ax_kt *y,
                                       double alpha, double beta) {
  AX_CUDA_ENTRY;
  if (!y) y = x; /* ops whose derivative ignores y may get none */
  AX_CUDA_DISPATCH_FLOAT(x->dtype, "ax_cuda_unary_backward", unary_backward<scalar_t>(op, gx, gy, x, y, alpha, beta));
  return ax_cuda_kstatus();
}

extern "C" ax_kstatus ax_cuda_binary(int op, ax_kt *out, const ax_kt *a, const ax_kt *b) {
  AX_CUDA_ENTRY;
  if (op >= AX_BINARY_EQ) {
    switch (a->dtype) {
      case AX_F32: run_binary<compare_fn<float>>(op, out, a, b); break;
      case AX_F64: run_binary<compare_fn<double>>(op, out, a, b); break;
      case AX_BF16: run_binary<compare_fn<__nv_bfloat16>>(op, out, a, b); break;
      case AX_F16: run_binary<compare_fn<__half>>(op, out, a, b); break;
      case AX_I32: run_binary<compare_fn<int32_t>>(op, out, a, b); break;
      case AX_I64: run_binary<compare_fn<int64_t>>(op, out, a, b); break;
      case AX_U8: case AX_BOOL: run_binary<compare_fn<uint8_t>>(op, out, a, b); break;
      default: ax_cuda_error("ax_cuda_binary: dtype %d is not supported", a->dtype);
    }
    return ax_cuda_kstatus();
  }
  switch (a->dtype) {
    case AX_F32: run_binary<binary_float_fn<float>>(op, out, a, b); break;
    case AX_F64: run_binary<binary_float_fn<double>>(op, out, a, b); break;
    case AX_BF16: run_binary<binary_float_fn<__nv_bfloat16>>(op, out, a, b); break;
    case AX_F16: run_binary<binary_float_fn<__half>>(op, out, a, b); break;
    case AX_I32: run_binary<binary_int_fn<int32_t, uint32_t>>(op, out, a, b); break;
    case AX_I64: run_binary<binary_int_fn<int64_t, uint64_t>>(op, out, a, b); break;
    case AX_U8: run_binary<binary_int_fn<uint8_t, unsigned>>(op, out, a, b); break;
    case AX_BOOL: run_binary<binary_bool_fn>(op, out, a, b); break;
    default: ax_cuda_error("ax_cuda_binary: dtype %d is not supported", a->dtype);
  }
  return ax_cuda_kstatus();
}

extern "C" ax_kstatus ax_cuda_where(ax_kt *out, const ax_kt *cond, const ax_kt *a, const ax_kt *b) {
  AX_CUDA_ENTRY;
  switch (ax_cuda_elem_size(out->dtype)) {
    case 1: ax_ew_launch("ax_cuda_where", where_fn<uint8_t>(), out, cond, a, b); break;
    case 2: ax_ew_launch("ax_cuda_where", where_fn<uint16_t>(), out, cond, a, b); break;
    case 4: ax_ew_launch("ax_cuda_where", where_fn<uint32_t>(), out, cond, a, b); break;
    default: ax_ew_launch("ax_cuda_where", where_fn<uint64_t>(), out, cond, a, b); break;
  }
  return ax_cuda_kstatus();
}
