/* SPDX-License-Identifier: BSD-3-Clause */
/* Loops shared by the elementwise-style CUDA kernels (copy, elementwise, index):
 * dim coalescing, an offset calculator with fast division, and one launcher
 * that runs a functor over up to three inputs and one output, either as a
 * vectorized contiguous loop (16-byte loads and stores) or as a strided loop.
 *
 * A functor F declares out_t, in0_t, in1_t, in2_t, `static const int nin`
 * (0 to 3) and `__device__ out_t operator()(in0_t, in1_t, in2_t) const`;
 * unused inputs get a dummy type and are never loaded. */
#ifndef AXON_KERNELS_CUDA_LOOPS_CUH
#define AXON_KERNELS_CUDA_LOOPS_CUH

#include "kernels/cuda/common.cuh"

static inline int64_t ax_cuda_elem_size(int dtype) {
  static const int64_t sizes[AX_NUM_DTYPES] = {4, 8, 2, 2, 4, 8, 1, 1, 1};
  return sizes[dtype];
}

/* Unsigned division by a run-time constant with a multiply and a shift
 * (Granlund & Montgomery; the form PyTorch uses), exact for n, d < 2^31. */
struct ax_divmod32 {
  uint32_t d, mul, shift;
  void init(uint32_t divisor) {
    d = divisor;
    for (shift = 0; shift < 32; shift++)
      if ((1ull << shift) >= d) break;
    mul = (uint32_t)(((1ull << 32) * ((1ull << shift) - d)) / d + 1);
  }
  __device__ __forceinline__ uint32_t div(uint32_t n) const { return (__umulhi(n, mul) + n) >> shift; }
};

/* Tests only (the parity runner, on the emulated device): ax_cuda_force_index64(1)
 * makes the kernels below compute offsets in 64 bits for tensors of any size, a
 * path otherwise taken only past 2^31 elements, which the emulated device cannot
 * afford to run; ax_cuda_force_index64(0) undoes it. Defined in copy.cu. */
extern "C" int ax_cuda_index64_forced;
extern "C" void ax_cuda_force_index64(int on);

/* N operands over one index space, dims coalesced (size-1 dims dropped,
 * contiguous neighbours merged), innermost dim first, strides in bytes. */
template <int N> struct ax_plan {
  int ndim;
  int64_t numel;
  int64_t size[AX_MAX_DIMS];
  int64_t stride[AX_MAX_DIMS][N];
  ax_divmod32 dm[AX_MAX_DIMS]; /* valid when numel < 2^31 */

  /* shape: the space (row-major, ndim dims); strides[k]: operand k's byte strides. */
  void init(int nd, const int64_t *shape, const int64_t (*strides)[AX_MAX_DIMS]) {
    ndim = 0;
    numel = 1;
    for (int d = 0; d < nd; d++) numel *= shape[d];
    if (numel == 0) return; /* nothing to run (and no divisor of 0 below); callers check numel */
    for (int d = nd - 1; d >= 0; d--) {
      if (shape[d] == 1) continue;
      if (ndim > 0) {
        bool merge = true;
        for (int k = 0; k < N; k++)
          if (strides[k][d] != size[ndim - 1] * stride[ndim - 1][k]) merge = false;
        if (merge) {
          size[ndim - 1] *= shape[d];
          continue;
        }
      }
      size[ndim] = shape[d];
      for (int k = 0; k < N; k++) stride[ndim][k] = strides[k][d];
      ndim++;
    }
    if (numel < (1ll << 31))
      for (int d = 0; d < ndim; d++) dm[d].init((uint32_t)size[d]);
  }
  /* Operand k is a dense run of elements of es bytes (or a single element). */
  bool contiguous(int k, int64_t es) const { return ndim == 0 || (ndim == 1 && stride[0][k] == es); }
  bool scalar(int k) const {
    for (int d = 0; d < ndim; d++)
      if (stride[d][k] != 0) return false;
    return true;
  }
  bool use32() const { return numel < (1ll << 31) && !ax_cuda_index64_forced; }

  __device__ __forceinline__ void offsets32(uint32_t i, int64_t *off) const {
#pragma unroll
    for (int k = 0; k < N; k++) off[k] = 0;
#pragma unroll
    for (int d = 0; d < AX_MAX_DIMS; d++) {
      if (d == ndim) break;
      uint32_t q = dm[d].div(i);
      int64_t r = (int64_t)(i - q * (uint32_t)size[d]);
#pragma unroll
      for (int k = 0; k < N; k++) off[k] += r * stride[d][k];
      i = q;
    }
  }
  __device__ __forceinline__ void offsets64(int64_t i, int64_t *off) const {
#pragma unroll
    for (int k = 0; k < N; k++) off[k] = 0;
#pragma unroll
    for (int d = 0; d < AX_MAX_DIMS; d++) {
      if (d == ndim) break;
      int64_t q = i / size[d];
      int64_t r = i - q * size[d];
#pragma unroll
      for (int k = 0; k < N; k++) off[k] += r * stride[d][k];
      i = q;
    }
  }
};

/* Byte strides of a kernel view (0 past its dims). */
static inline void ax_cuda_byte_strides(const ax_kt *t, int64_t *out) {
  int64_t es = ax_cuda_elem_size(t->dtype);
  for (int d = 0; d < AX_MAX_DIMS; d++) out[d] = d < t->ndim ? t->strides[d] * es : 0;
}

template <typename T, int V> struct alignas(sizeof(T) * V) ax_vec { T v[V]; };

/* A stand-in type for inputs a functor does not have. */
struct ax_none {};

#define AX_EW_THREADS 256

/* Contiguous: out, and each input dense or a single broadcast element. VEC
 * elements per step with 16-byte (or narrower) loads; the last n % VEC
 * elements go one at a time. */
template <typename F, int VEC>
__global__ void __launch_bounds__(AX_EW_THREADS)
ax_ew_contig_kernel(F f, char *out, const char *p0, const char *p1, const char *p2, int bcast, int64_t n) {
  typedef typename F::out_t O;
  typedef typename F::in0_t I0;
  typedef typename F::in1_t I1;
  typedef typename F::in2_t I2;
  const bool b0 = bcast & 1, b1 = bcast & 2, b2 = bcast & 4;
  I0 s0{};
  I1 s1{};
  I2 s2{};
  if (F::nin > 0 && b0) s0 = *(const I0 *)p0;
  if (F::nin > 1 && b1) s1 = *(const I1 *)p1;
  if (F::nin > 2 && b2) s2 = *(const I2 *)p2;
  const int64_t step = (int64_t)gridDim.x * blockDim.x;
  const int64_t nvec = n / VEC;
  for (int64_t v = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; v < nvec; v += step) {
    ax_vec<I0, VEC> a;
    ax_vec<I1, VEC> b;
    ax_vec<I2, VEC> c;
    if (F::nin > 0) {
      if (b0) {
#pragma unroll
        for (int e = 0; e < VEC; e++) a.v[e] = s0;
      } else {
        a = ((const ax_vec<I0, VEC> *)p0)[v];
      }
    }
    if (F::nin > 1) {
      if (b1) {
#pragma unroll
        for (int e = 0; e < VEC; e++) b.v[e] = s1;
      } else {
        b = ((const ax_vec<I1, VEC> *)p1)[v];
      }
    }
    if (F::nin > 2) {
      if (b2) {
#pragma unroll
        for (int e = 0; e < VEC; e++) c.v[e] = s2;
      } else {
        c = ((const ax_vec<I2, VEC> *)p2)[v];
      }
    }
    ax_vec<O, VEC> r;
#pragma unroll
    for (int e = 0; e < VEC; e++) r.v[e] = f(a.v[e], b.v[e], c.v[e]);
    ((ax_vec<O, VEC> *)out)[v] = r;
  }
  for (int64_t i = nvec * VEC + (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
    I0 a = F::nin > 0 ? (b0 ? s0 : ((const I0 *)p0)[i]) : s0;
    I1 b = F::nin > 1 ? (b1 ? s1 : ((const I1 *)p1)[i]) : s1;
    I2 c = F::nin > 2 ? (b2 ? s2 : ((const I2 *)p2)[i]) : s2;
    ((O *)out)[i] = f(a, b, c);
  }
}

/* Any layout: byte offsets of the four operands from the linear index. */
template <typename F, bool I32>
__global__ void __launch_bounds__(AX_EW_THREADS)
ax_ew_strided_kernel(F f, char *out, const char *p0, const char *p1, const char *p2, ax_plan<4> plan) {
  typedef typename F::out_t O;
  typedef typename F::in0_t I0;
  typedef typename F::in1_t I1;
  typedef typename F::in2_t I2;
  const int64_t n = plan.numel, step = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t off[4];
    if (I32)
      plan.offsets32((uint32_t)i, off);
    else
      plan.offsets64(i, off);
    I0 a{};
    I1 b{};
    I2 c{};
    if (F::nin > 0) a = *(const I0 *)(p0 + off[1]);
    if (F::nin > 1) b = *(const I1 *)(p1 + off[2]);
    if (F::nin > 2) c = *(const I2 *)(p2 + off[3]);
    *(O *)(out + off[0]) = f(a, b, c);
  }
}

template <typename T> static inline int64_t ax_type_size() { return (int64_t)sizeof(T); }
template <> inline int64_t ax_type_size<ax_none>() { return 0; }

/* Whether functor F may take the contiguous (vectorized) loop at all; a kernel
 * file specializes it to false for a functor whose caller sends dense data
 * elsewhere (ax_cuda_fill: a one-byte fill of dense memory is a memset). */
template <typename F> struct ax_ew_contig_ok { static const bool value = true; };

/* The widest vector F can get: as many elements as 16 bytes of its widest
 * operand hold, at most 8 (0: F never takes the contiguous loop). The launcher
 * halves it while a pointer is not aligned to it, so the widths below it are
 * all reachable; the ones above it are not, and are not instantiated: a vector
 * of 8 f32 or of 4 f64 would be 32 bytes, which no dtype can get. */
template <typename T> struct ax_ew_size { static const int value = (int)sizeof(T); };
template <> struct ax_ew_size<ax_none> { static const int value = 0; };
template <typename F> struct ax_ew_max_vec {
  static const int w01 = ax_ew_size<typename F::out_t>::value > ax_ew_size<typename F::in0_t>::value
                             ? ax_ew_size<typename F::out_t>::value : ax_ew_size<typename F::in0_t>::value;
  static const int w23 = ax_ew_size<typename F::in1_t>::value > ax_ew_size<typename F::in2_t>::value
                             ? ax_ew_size<typename F::in1_t>::value : ax_ew_size<typename F::in2_t>::value;
  static const int widest = w01 > w23 ? w01 : w23;
  static const int value = !ax_ew_contig_ok<F>::value ? 0 : 16 / widest > 8 ? 8 : 16 / widest;
};

/* Runs f over out's shape; inputs (NULL past F::nin) are views of out's shape
 * (broadcast dims have stride 0). Reports launch errors under `name`. */
template <typename F>
void ax_ew_launch(const char *name, const F &f, ax_kt *out, const ax_kt *in0, const ax_kt *in1, const ax_kt *in2) {
  const ax_kt *ins[3] = {in0, in1, in2};
  int64_t strides[4][AX_MAX_DIMS];
  ax_cuda_byte_strides(out, strides[0]);
  for (int k = 0; k < 3; k++) {
    if (k < F::nin)
      ax_cuda_byte_strides(ins[k], strides[k + 1]);
    else
      for (int d = 0; d < AX_MAX_DIMS; d++) strides[k + 1][d] = 0;
  }
  ax_plan<4> plan;
  plan.init(out->ndim, out->shape, strides);
  if (plan.numel == 0) return;
  const char *p[3];
  for (int k = 0; k < 3; k++) p[k] = k < F::nin ? (const char *)ins[k]->data : NULL;
  const int64_t es[4] = {ax_type_size<typename F::out_t>(), ax_type_size<typename F::in0_t>(),
                         ax_type_size<typename F::in1_t>(), ax_type_size<typename F::in2_t>()};
  cudaStream_t st = ax_cuda_stream();

  const int max_vec = ax_ew_max_vec<F>::value;
  bool contig = max_vec > 0 && plan.contiguous(0, es[0]);
  int bcast = 0;
  for (int k = 1; k <= F::nin && contig; k++) {
    if (plan.scalar(k))
      bcast |= 1 << (k - 1);
    else if (!plan.contiguous(k, es[k]))
      contig = false;
  }
  if (contig) {
    /* as many elements per step as 16 bytes of the widest operand hold,
     * when every dense pointer is aligned to its vector */
    int vec = max_vec;
    for (;;) {
      bool aligned = ((uintptr_t)out->data % (uintptr_t)(es[0] * vec)) == 0;
      for (int k = 1; k <= F::nin; k++)
        if (!(bcast >> (k - 1) & 1) && ((uintptr_t)p[k - 1] % (uintptr_t)(es[k] * vec)) != 0) aligned = false;
      if (aligned || vec == 1) break;
      vec /= 2;
    }
    unsigned blocks = ax_cuda_blocks((plan.numel + vec - 1) / vec, AX_EW_THREADS);
    char *o = (char *)out->data;
    /* only the widths F can get are instantiated (ax_ew_max_vec) */
    switch (vec) {
      case 8: if constexpr (max_vec >= 8) ax_cuda_launch(ax_ew_contig_kernel<F, 8>, blocks, AX_EW_THREADS, 0, st, f, o, p[0], p[1], p[2], bcast, plan.numel); break;
      case 4: if constexpr (max_vec >= 4) ax_cuda_launch(ax_ew_contig_kernel<F, 4>, blocks, AX_EW_THREADS, 0, st, f, o, p[0], p[1], p[2], bcast, plan.numel); break;
      case 2: if constexpr (max_vec >= 2) ax_cuda_launch(ax_ew_contig_kernel<F, 2>, blocks, AX_EW_THREADS, 0, st, f, o, p[0], p[1], p[2], bcast, plan.numel); break;
      default: if constexpr (max_vec >= 1) ax_cuda_launch(ax_ew_contig_kernel<F, 1>, blocks, AX_EW_THREADS, 0, st, f, o, p[0], p[1], p[2], bcast, plan.numel); break;
    }
  } else {
    unsigned blocks = ax_cuda_blocks(plan.numel, AX_EW_THREADS);
    if (plan.use32())
      ax_cuda_launch(ax_ew_strided_kernel<F, true>, blocks, AX_EW_THREADS, 0, st, f, (char *)out->data, p[0], p[1], p[2], plan);
    else
      ax_cuda_launch(ax_ew_strided_kernel<F, false>, blocks, AX_EW_THREADS, 0, st, f, (char *)out->data, p[0], p[1], p[2], plan);
  }
  ax_cuda_check_at(cudaGetLastError(), name, __FILE__, __LINE__);
}

#endif
