/* SPDX-License-Identifier: BSD-3-Clause */
/* Copies between strided views with dtype conversion, fill, arange, random.
 *
 * Conversions follow the CPU's (kernels/cpu/copy.c: ax_cpu_store of
 * ax_cpu_load) exactly: through double, except i64 to i32, which truncates
 * directly. A same-dtype copy of contiguous memory is a cudaMemcpyAsync; any
 * other copy is one functor in the shared elementwise launcher (loops.cuh),
 * vectorized when both sides are dense.
 *
 * Random numbers match ax_cpu_random bit for bit where IEEE arithmetic
 * allows: element i draws Philox((i, offset), seed), and every f32 operation is
 * written with explicit round-to-nearest intrinsics so nvcc cannot contract
 * a multiply and an add into an FMA (the host code is built without
 * contraction). Box-Muller's logf and cosf are the exception: CUDA's are up to
 * 1 and 2 ulp off, glibc's under 1, so the device evaluates log and cos in
 * double and rounds once: both sides are then within an ulp of the correctly
 * rounded value, and most values agree exactly. */
#include <string.h>

#include "kernels/cuda/loops.cuh"
#include "kernels/philox.h"

extern "C" void ax_cpu_store(void *p, int dtype, double v); /* kernels/cpu/copy.c */

/* The C type of each dtype and its conversions to and from double, as the CPU does them. */
template <int DT> struct ax_dt;
template <> struct ax_dt<AX_F32> {
  typedef float T;
  static __device__ __forceinline__ double ld(T v) { return v; }
  static __device__ __forceinline__ T st(double v) { return (float)v; }
};
template <> struct ax_dt<AX_F64> {
  typedef double T;
  static __device__ __forceinline__ double ld(T v) { return v; }
  static __device__ __forceinline__ T st(double v) { return v; }
};
template <> struct ax_dt<AX_BF16> {
  typedef __nv_bfloat16 T;
  static __device__ __forceinline__ double ld(T v) { return __bfloat162float(v); }
  static __device__ __forceinline__ T st(double v) { return __float2bfloat16((float)v); }
};
template <> struct ax_dt<AX_F16> {
  typedef __half T;
  static __device__ __forceinline__ double ld(T v) { return __half2float(v); }
  static __device__ __forceinline__ T st(double v) { return __float2half((float)v); }
};
template <> struct ax_dt<AX_I32> {
  typedef int32_t T;
  static __device__ __forceinline__ double ld(T v) { return v; }
  static __device__ __forceinline__ T st(double v) { return (int32_t)v; }
};
template <> struct ax_dt<AX_I64> {
  typedef int64_t T;
  static __device__ __forceinline__ double ld(T v) { return (double)v; }
  static __device__ __forceinline__ T st(double v) { return (int64_t)v; }
};
template <> struct ax_dt<AX_U8> {
  typedef uint8_t T;
  static __device__ __forceinline__ double ld(T v) { return v; }
  static __device__ __forceinline__ T st(double v) { return (uint8_t)(int64_t)v; }
};
template <> struct ax_dt<AX_BOOL> {
  typedef uint8_t T;
  static __device__ __forceinline__ double ld(T v) { return v ? 1.0 : 0.0; }
  static __device__ __forceinline__ T st(double v) { return v != 0.0; }
};

/* loops.cuh: the 64-bit offset path forced for tests */
int ax_cuda_index64_forced = 0; /* declared extern "C" in loops.cuh */
extern "C" void ax_cuda_force_index64(int on) { ax_cuda_index64_forced = on != 0; }

/* ---------------- copy ---------------- */

template <int DD, int SD> struct convert_fn {
  typedef typename ax_dt<DD>::T out_t;
  typedef typename ax_dt<SD>::T in0_t;
  typedef ax_none in1_t;
  typedef ax_none in2_t;
  static const int nin = 1;
  __device__ __forceinline__ out_t operator()(in0_t x, ax_none, ax_none) const { return ax_dt<DD>::st(ax_dt<SD>::ld(x)); }
};
/* integer to integer without a trip through double (exact for every i64), as on the CPU */
template <> struct convert_fn<AX_I32, AX_I64> {
  typedef int32_t out_t;
  typedef int64_t in0_t;
  typedef ax_none in1_t;
  typedef ax_none in2_t;
  static const int nin = 1;
  __device__ __forceinline__ out_t operator()(in0_t x, ax_none, ax_none) const { return (int32_t)x; }
};

/* same dtype: raw bits of the element's size */
template <typename U> struct move_fn {
  typedef U out_t;
  typedef U in0_t;
  typedef ax_none in1_t;
  typedef ax_none in2_t;
  static const int nin = 1;
  __device__ __forceinline__ U operator()(U x, ax_none, ax_none) const { return x; }
};

template <int DD, int SD> static void convert(ax_kt *dst, const ax_kt *src) {
  /* A copy within one dtype moves raw bits (move_fn, below) and never converts: the
   * switches of convert_from instantiate DD == SD too, but it is never called. */
  if constexpr (DD != SD) ax_ew_launch("ax_cuda_copy", convert_fn<DD, SD>(), dst, src, NULL, NULL);
}

template <int SD> static void convert_from(ax_kt *dst, const ax_kt *src) {
  switch (dst->dtype) {
    case AX_F32: convert<AX_F32, SD>(dst, src); break;
    case AX_F64: convert<AX_F64, SD>(dst, src); break;
    case AX_BF16: convert<AX_BF16, SD>(dst, src); break;
    case AX_F16: convert<AX_F16, SD>(dst, src); break;
    case AX_I32: convert<AX_I32, SD>(dst, src); break;
    case AX_I64: convert<AX_I64, SD>(dst, src); break;
    case AX_U8: convert<AX_U8, SD>(dst, src); break;
    case AX_BOOL: convert<AX_BOOL, SD>(dst, src); break;
    default: ax_cuda_error("ax_cuda_copy: bad destination dtype %d", dst->dtype);
  }
}

extern "C" ax_kstatus ax_cuda_copy(ax_kt *dst, const ax_kt *src) {
  AX_CUDA_ENTRY;
  if (dst->dtype == src->dtype) {
    int64_t strides[2][AX_MAX_DIMS];
    ax_cuda_byte_strides(dst, strides[0]);
    ax_cuda_byte_strides(src, strides[1]);
    ax_plan<2> plan;
    plan.init(dst->ndim, dst->shape, strides);
    int64_t es = ax_cuda_elem_size(dst->dtype);
    if (plan.numel == 0) return ax_cuda_kstatus();
    if (plan.contiguous(0, es) && plan.contiguous(1, es)) {
      if (dst->data != src->data)
        AX_CUDA_CHECK(cudaMemcpyAsync(dst->data, src->data, (size_t)(plan.numel * es), cudaMemcpyDeviceToDevice,
                                      ax_cuda_stream()));
      return ax_cuda_kstatus();
    }
    switch (es) {
      case 1: ax_ew_launch("ax_cuda_copy", move_fn<uint8_t>(), dst, src, NULL, NULL); break;
      case 2: ax_ew_launch("ax_cuda_copy", move_fn<uint16_t>(), dst, src, NULL, NULL); break;
      case 4: ax_ew_launch("ax_cuda_copy", move_fn<uint32_t>(), dst, src, NULL, NULL); break;
      default: ax_ew_launch("ax_cuda_copy", move_fn<uint64_t>(), dst, src, NULL, NULL); break;
    }
    return ax_cuda_kstatus();
  }
  switch (src->dtype) {
    case AX_F32: convert_from<AX_F32>(dst, src); break;
    case AX_F64: convert_from<AX_F64>(dst, src); break;
    case AX_BF16: convert_from<AX_BF16>(dst, src); break;
    case AX_F16: convert_from<AX_F16>(dst, src); break;
    case AX_I32: convert_from<AX_I32>(dst, src); break;
    case AX_I64: convert_from<AX_I64>(dst, src); break;
    case AX_U8: convert_from<AX_U8>(dst, src); break;
    case AX_BOOL: convert_from<AX_BOOL>(dst, src); break;
    default: ax_cuda_error("ax_cuda_copy: bad source dtype %d", src->dtype);
  }
  return ax_cuda_kstatus();
}

/* ---------------- fill ---------------- */

template <typename U> struct fill_fn {
  typedef U out_t;
  typedef ax_none in0_t;
  typedef ax_none in1_t;
  typedef ax_none in2_t;
  static const int nin = 0;
  U value;
  __device__ __forceinline__ U operator()(ax_none, ax_none, ax_none) const { return value; }
};
/* Every one-byte value has uniform bytes, so ax_cuda_fill below memsets dense
 * memory of one-byte elements: only a strided view reaches this functor, and its
 * contiguous (vectorized) loop is never instantiated. */
template <> struct ax_ew_contig_ok<fill_fn<uint8_t>> { static const bool value = false; };

extern "C" ax_kstatus ax_cuda_fill(ax_kt *out, double value) {
  AX_CUDA_ENTRY;
  /* the element's bytes exactly as the CPU would store them */
  unsigned char bytes[8] = {0};
  ax_cpu_store(bytes, out->dtype, value);
  int64_t es = ax_cuda_elem_size(out->dtype);
  int64_t strides[1][AX_MAX_DIMS];
  ax_cuda_byte_strides(out, strides[0]);
  ax_plan<1> plan;
  plan.init(out->ndim, out->shape, strides);
  if (plan.numel == 0) return ax_cuda_kstatus();
  bool uniform = true; /* every byte the same: a memset does it */
  for (int64_t i = 1; i < es; i++) uniform = uniform && bytes[i] == bytes[0];
  if (uniform && plan.contiguous(0, es)) {
    AX_CUDA_CHECK(cudaMemsetAsync(out->data, bytes[0], (size_t)(plan.numel * es), ax_cuda_stream()));
    return ax_cuda_kstatus();
  }
  switch (es) {
    case 1: { fill_fn<uint8_t> f; f.value = bytes[0]; ax_ew_launch("ax_cuda_fill", f, out, NULL, NULL, NULL); break; }
    case 2: { fill_fn<uint16_t> f; memcpy(&f.value, bytes, 2); ax_ew_launch("ax_cuda_fill", f, out, NULL, NULL, NULL); break; }
    case 4: { fill_fn<uint32_t> f; memcpy(&f.value, bytes, 4); ax_ew_launch("ax_cuda_fill", f, out, NULL, NULL, NULL); break; }
    default: { fill_fn<uint64_t> f; memcpy(&f.value, bytes, 8); ax_ew_launch("ax_cuda_fill", f, out, NULL, NULL, NULL); break; }
  }
  return ax_cuda_kstatus();
}

/* ---------------- arange ---------------- */

template <int DT>
__global__ void arange_kernel(typename ax_dt<DT>::T *out, int64_t stride, int64_t n, double start, double step) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    out[i * stride] = ax_dt<DT>::st(__dadd_rn(start, __dmul_rn((double)i, step))); /* no FMA: as the host computes it */
}

template <int DT> static void arange_launch(ax_kt *out, double start, double step) {
  int64_t n = out->ndim ? out->shape[0] : 1, stride = out->ndim ? out->strides[0] : 1;
  if (n == 0) return;
  ax_cuda_launch(arange_kernel<DT>, ax_cuda_blocks(n, 256), 256, 0, ax_cuda_stream(), (typename ax_dt<DT>::T *)out->data, stride,
                                                                          n, start, step);
  AX_CUDA_LAUNCH_CHECK("arange_kernel");
}

extern "C" ax_kstatus ax_cuda_arange(ax_kt *out, double start, double step) {
  AX_CUDA_ENTRY;
  switch (out->dtype) {
    case AX_F32: arange_launch<AX_F32>(out, start, step); break;
    case AX_F64: arange_launch<AX_F64>(out, start, step); break;
    case AX_BF16: arange_launch<AX_BF16>(out, start, step); break;
    case AX_F16: arange_launch<AX_F16>(out, start, step); break;
    case AX_I32: arange_launch<AX_I32>(out, start, step); break;
    case AX_I64: arange_launch<AX_I64>(out, start, step); break;
    case AX_U8: arange_launch<AX_U8>(out, start, step); break;
    case AX_BOOL: arange_launch<AX_BOOL>(out, start, step); break;
    default: ax_cuda_error("ax_cuda_arange: bad dtype %d", out->dtype);
  }
  return ax_cuda_kstatus();
}

/* ---------------- random ---------------- */

template <int DT>
__global__ void random_kernel(typename ax_dt<DT>::T *out, int64_t n, int dist, double a, double b, uint64_t seed,
                              uint64_t offset) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    ax_philox4 r = ax_philox4x32_10((uint64_t)i, offset, seed);
    double v;
    if (DT == AX_F64) {
      double u1 = ax_uint2_to_unit_double(r.v[0], r.v[1]);
      if (dist == AX_RANDOM_UNIFORM) {
        v = __dadd_rn(a, __dmul_rn(__dsub_rn(b, a), u1));
      } else {
        double u2 = ax_uint2_to_unit_double(r.v[2], r.v[3]);
        double radius = sqrt(__dmul_rn(-2.0, log(__dsub_rn(1.0, u1))));
        v = __dadd_rn(a, __dmul_rn(__dmul_rn(b, radius), cos(__dmul_rn(6.283185307179586, u2))));
      }
    } else {
      float u1 = ax_uint_to_unit_float(r.v[0]);
      float fa = (float)a, fb = (float)b;
      if (dist == AX_RANDOM_UNIFORM) {
        v = __fadd_rn(fa, __fmul_rn(__fsub_rn(fb, fa), u1));
      } else {
        float u2 = ax_uint_to_unit_float(r.v[1]);
        float lg = (float)log((double)__fsub_rn(1.0f, u1));
        float radius = __fsqrt_rn(__fmul_rn(-2.0f, lg));
        float c = (float)cos((double)__fmul_rn(6.2831853f, u2));
        v = __fadd_rn(fa, __fmul_rn(fb, __fmul_rn(radius, c)));
      }
    }
    out[i] = ax_dt<DT>::st(v);
  }
}

template <int DT> static void random_launch(ax_kt *out, int dist, double a, double b, uint64_t seed, uint64_t offset) {
  int64_t n = 1;
  for (int d = 0; d < out->ndim; d++) n *= out->shape[d];
  if (n == 0) return;
  ax_cuda_launch(random_kernel<DT>, ax_cuda_blocks(n, 256), 256, 0, ax_cuda_stream(), (typename ax_dt<DT>::T *)out->data, n, dist,
                                                                          a, b, seed, offset);
  AX_CUDA_LAUNCH_CHECK("random_kernel");
}

extern "C" ax_kstatus ax_cuda_random(ax_kt *out, int dist, double a, double b, uint64_t seed, uint64_t offset) {
  AX_CUDA_ENTRY;
  switch (out->dtype) {
    case AX_F32: random_launch<AX_F32>(out, dist, a, b, seed, offset); break;
    case AX_F64: random_launch<AX_F64>(out, dist, a, b, seed, offset); break;
    case AX_BF16: random_launch<AX_BF16>(out, dist, a, b, seed, offset); break;
    case AX_F16: random_launch<AX_F16>(out, dist, a, b, seed, offset); break;
    default: ax_cuda_error("ax_cuda_random: random values need a floating-point dtype, got dtype %d", out->dtype);
  }
  return ax_cuda_kstatus();
}
