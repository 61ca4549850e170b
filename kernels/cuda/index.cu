/* SPDX-License-Identifier: BSD-3-Clause */
/* Indexing kernels: index_select, gather (reads), index_add, scatter_add
 * (writes). As on the CPU (kernels/cpu/index.c), all four move elements
 * between a "direct" tensor walked in its own order and a "target" addressed
 * through an index along one dim. Every operand is expressed as a strided
 * view of one index space (the index of a 1-D index_select/index_add is a view
 * with stride 0 outside `dim`), so one offset calculation (loops.cuh) gives
 * all addresses.
 *
 * Out of range indices are found here, not by the op layer (which would have
 * to copy the indices to the host and wait): a read of a bad index writes 0, a
 * write of one is skipped, and both record the op, the dim and the index in the
 * device's status word (common.cuh), which the host reads at its next
 * synchronization and reports as the op's error. (ax_scatter_add still checks
 * its indices on the host first; its kernels report here too.)
 *
 * Determinism of the writes. Two schemes:
 *  - owner: one thread per target element scans the J entries along `dim`
 *    and adds the matching ones in index order. No atomics, and the sums are
 *    bit-identical to the CPU's (which adds in the same order, rounding bf16 /
 *    f16 after every addition as this does). Costs J index reads per target
 *    element, so it is used when J <= 32, when the whole scan is at most 2^26
 *    reads, or always with AXON_DETERMINISTIC=1.
 *  - atomic: one thread per direct element, atomicAdd into the target. Fast
 *    for long indices (an embedding's backward), but floating-point sums then
 *    depend on the order the atomics land in and may differ in the last bits
 *    from run to run (integers are exact either way). */
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/loops.cuh"
#include "kernels/cuda/runtime.h"
#include "axon/settings.h"

namespace {

/* Element types with the CPU's addition (bf16/f16 round after each add, u8
 * wraps, bool is or) and an atomic form of it. */
template <int DT> struct elem;

__device__ __forceinline__ void atomic_byte(uint8_t *p, uint8_t v, bool logical) {
  unsigned int *w = (unsigned int *)((uintptr_t)p & ~(uintptr_t)3); /* inside the 512 B-aligned block */
  unsigned int sh = (unsigned int)((uintptr_t)p & 3) * 8;
  unsigned int old = *w, assumed;
  do {
    assumed = old;
    uint8_t cur = (uint8_t)(assumed >> sh);
    uint8_t nv = logical ? (uint8_t)((cur | v) != 0) : (uint8_t)(cur + v);
    old = atomicCAS(w, assumed, (assumed & ~(0xffu << sh)) | ((unsigned int)nv << sh));
  } while (assumed != old);
}

template <> struct elem<AX_F32> {
  typedef float T;
  static __device__ __forceinline__ T add(T a, T b) { return a + b; }
  static __device__ __forceinline__ void atomic(T *p, T v) { atomicAdd(p, v); }
};
template <> struct elem<AX_F64> {
  typedef double T;
  static __device__ __forceinline__ T add(T a, T b) { return a + b; }
  static __device__ __forceinline__ void atomic(T *p, T v) { atomicAdd(p, v); }
};
template <> struct elem<AX_BF16> {
  typedef __nv_bfloat16 T;
  static __device__ __forceinline__ T add(T a, T b) { return __float2bfloat16(__bfloat162float(a) + __bfloat162float(b)); }
  static __device__ __forceinline__ void atomic(T *p, T v) {
    /* sm_80+, and the emulated device (an H100: it took the CAS below, whose word can
     * reach two bytes past the tensor's last element, a read its ASan build reports) */
#if (defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800) || defined(AX_CUDA_EMULATE)
    atomicAdd(p, v);
#else /* a CAS on the 32-bit word that holds it */
    unsigned int *w = (unsigned int *)((uintptr_t)p & ~(uintptr_t)3);
    unsigned int sh = (unsigned int)((uintptr_t)p & 2) * 8;
    unsigned int old = *w, assumed;
    do {
      assumed = old;
      __nv_bfloat16_raw raw;
      raw.x = (unsigned short)(assumed >> sh);
      __nv_bfloat16 nv = add(__nv_bfloat16(raw), v);
      unsigned short bits = ((__nv_bfloat16_raw)nv).x;
      old = atomicCAS(w, assumed, (assumed & ~(0xffffu << sh)) | ((unsigned int)bits << sh));
    } while (assumed != old);
#endif
  }
};
template <> struct elem<AX_F16> {
  typedef __half T;
  static __device__ __forceinline__ T add(T a, T b) { return __float2half(__half2float(a) + __half2float(b)); }
  static __device__ __forceinline__ void atomic(T *p, T v) { atomicAdd(p, v); }
};
template <> struct elem<AX_I32> {
  typedef int32_t T;
  static __device__ __forceinline__ T add(T a, T b) { return (T)((uint32_t)a + (uint32_t)b); }
  static __device__ __forceinline__ void atomic(T *p, T v) { atomicAdd(p, v); }
};
template <> struct elem<AX_I64> {
  typedef int64_t T;
  static __device__ __forceinline__ T add(T a, T b) { return (T)((uint64_t)a + (uint64_t)b); }
  static __device__ __forceinline__ void atomic(T *p, T v) {
    atomicAdd((unsigned long long *)p, (unsigned long long)v);
  }
};
template <> struct elem<AX_U8> {
  typedef uint8_t T;
  static __device__ __forceinline__ T add(T a, T b) { return (T)(a + b); }
  static __device__ __forceinline__ void atomic(T *p, T v) { atomic_byte(p, v, false); }
};
template <> struct elem<AX_BOOL> {
  typedef uint8_t T;
  static __device__ __forceinline__ T add(T a, T b) { return (T)((a | b) != 0); }
  static __device__ __forceinline__ void atomic(T *p, T v) { atomic_byte(p, v, true); }
};

template <bool I32>
__device__ __forceinline__ void offsets(const ax_plan<4> &plan, int64_t i, int64_t *off) {
  if (I32)
    plan.offsets32((uint32_t)i, off);
  else
    plan.offsets64(i, off);
}

#define GRID_STRIDE(i, n) \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

/* operands: 0 out, 1 in (stride 0 along dim), 2 index */
/* What a kernel reports an index out of range with: the status word, the op, the dim. */
struct Oob {
  ax_cuda_status *st;
  int op, dim;
};

template <typename U, typename I, bool I32>
__global__ void read_kernel(char *out, const char *in, const char *idx, ax_plan<4> plan, int64_t in_ds, int64_t size,
                            Oob oob) {
  GRID_STRIDE(i, plan.numel) {
    int64_t off[4];
    offsets<I32>(plan, i, off);
    int64_t v = (int64_t) * (const I *)(idx + off[2]);
    if (v < 0 || v >= size) {
      ax_cuda_report_index(oob.st, oob.op, oob.dim, v, size);
      *(U *)(out + off[0]) = (U)0;
      continue;
    }
    *(U *)(out + off[0]) = *(const U *)(in + off[1] + v * in_ds);
  }
}

/* operands: 0 direct, 1 target (stride 0 along dim), 2 index */
template <int DT, typename I, bool I32>
__global__ void add_atomic_kernel(char *target, const char *direct, const char *idx, ax_plan<4> plan, int64_t t_ds,
                                  int64_t size, Oob oob) {
  typedef typename elem<DT>::T T;
  GRID_STRIDE(i, plan.numel) {
    int64_t off[4];
    offsets<I32>(plan, i, off);
    int64_t v = (int64_t) * (const I *)(idx + off[2]);
    if (v < 0 || v >= size) {
      ax_cuda_report_index(oob.st, oob.op, oob.dim, v, size);
      continue;
    }
    elem<DT>::atomic((T *)(target + off[1] + v * t_ds), *(const T *)(direct + off[0]));
  }
}

/* operands: 0 target, 1 direct (stride 0 along dim), 2 index (stride 0 along
 * dim), 3 the target's coordinate along dim (byte stride 1 there, 0 elsewhere) */
template <int DT, typename I, bool I32>
__global__ void add_owner_kernel(char *target, const char *direct, const char *idx, ax_plan<4> plan, int64_t J,
                                 int64_t d_ds, int64_t i_ds, int64_t size, Oob oob) {
  typedef typename elem<DT>::T T;
  GRID_STRIDE(i, plan.numel) {
    int64_t off[4];
    offsets<I32>(plan, i, off);
    T *t = (T *)(target + off[0]);
    T acc = *t;
    const int64_t r = off[3];
    bool hit = false;
    for (int64_t j = 0; j < J; j++) {
      int64_t v = (int64_t) * (const I *)(idx + off[2] + j * i_ds);
      if (v == r) {
        acc = elem<DT>::add(acc, *(const T *)(direct + off[1] + j * d_ds));
        hit = true;
      } else if (v < 0 || v >= size) {
        ax_cuda_report_index(oob.st, oob.op, oob.dim, v, size);
      }
    }
    if (hit) *t = acc;
  }
}

/* A kernel view with at least one dim (a 0-dim tensor is [1]). */
ax_kt at_least_1d(const ax_kt *t) {
  ax_kt v = *t;
  if (v.ndim == 0) {
    v.ndim = 1;
    v.shape[0] = 1;
    v.strides[0] = 0;
  }
  return v;
}

/* Byte strides of the index as a view of a space of nd dims: a per-element
 * index as it is, a 1-D index along dim only. */
void index_strides(const ax_kt *index, int per_element, int nd, int dim, int64_t *out) {
  int64_t ies = ax_cuda_elem_size(index->dtype);
  for (int d = 0; d < AX_MAX_DIMS; d++) out[d] = 0;
  if (per_element)
    for (int d = 0; d < nd && d < index->ndim; d++) out[d] = index->strides[d] * ies;
  else
    out[dim] = index->ndim ? index->strides[0] * ies : 0;
}

unsigned blocks_for(const ax_plan<4> &plan) { return ax_cuda_blocks(plan.numel, 256); }

template <typename U, typename I>
void read_launch(const ax_kt &out, const ax_kt &in, const ax_kt &index, const ax_plan<4> &plan, int64_t in_ds,
                 int64_t size, Oob oob) {
  cudaStream_t st = ax_cuda_stream();
  if (plan.use32())
    ax_cuda_launch(read_kernel<U, I, true>, blocks_for(plan), 256, 0, st, (char *)out.data, (const char *)in.data,
                   (const char *)index.data, plan, in_ds, size, oob);
  else
    ax_cuda_launch(read_kernel<U, I, false>, blocks_for(plan), 256, 0, st, (char *)out.data, (const char *)in.data,
                   (const char *)index.data, plan, in_ds, size, oob);
  AX_CUDA_LAUNCH_CHECK("index read_kernel");
}

/* out[p] = in[p with coordinate dim replaced by index(p)] over out's shape */
void run_read(const ax_kt *out_, const ax_kt *in_, int dim, const ax_kt *index, int per_element, int op) {
  ax_kt out = at_least_1d(out_), in = at_least_1d(in_);
  int64_t es = ax_cuda_elem_size(out.dtype);
  int64_t strides[4][AX_MAX_DIMS];
  ax_cuda_byte_strides(&out, strides[0]);
  ax_cuda_byte_strides(&in, strides[1]);
  strides[1][dim] = 0;
  index_strides(index, per_element, out.ndim, dim, strides[2]);
  for (int d = 0; d < AX_MAX_DIMS; d++) strides[3][d] = 0;
  ax_plan<4> plan;
  plan.init(out.ndim, out.shape, strides);
  if (plan.numel == 0) return;
  int64_t in_ds = in.strides[dim] * es, size = in.shape[dim];
  bool i64 = index->dtype == AX_I64;
  Oob oob = {ax_cuda_status_arm(), op, dim};
#define READ_CASE(U) \
  (i64 ? read_launch<U, int64_t>(out, in, *index, plan, in_ds, size, oob) \
       : read_launch<U, int32_t>(out, in, *index, plan, in_ds, size, oob))
  switch (es) {
    case 1: READ_CASE(uint8_t); break;
    case 2: READ_CASE(uint16_t); break;
    case 4: READ_CASE(uint32_t); break;
    default: READ_CASE(uint64_t); break;
  }
#undef READ_CASE
}

bool force_deterministic(void) { return ax_settings_get()->deterministic; /* AXON_DETERMINISTIC */ }

template <int DT, typename I>
void write_launch(const ax_kt &target, const ax_kt &direct, const ax_kt &index, int per_element, int dim,
                  const int64_t *space, Oob oob) {
  int nd = target.ndim;
  int64_t es = ax_cuda_elem_size(DT), ies = ax_cuda_elem_size(index.dtype);
  int64_t J = space[dim], R = target.shape[dim];
  if (J == 0) return;
  int64_t outer = 1; /* the space without dim */
  for (int d = 0; d < nd; d++)
    if (d != dim) outer *= space[d];
  if (outer == 0 || R == 0) return;
  int64_t i_ds = per_element ? index.strides[dim] * ies : (index.ndim ? index.strides[0] * ies : 0);
  int64_t strides[4][AX_MAX_DIMS];
  cudaStream_t st = ax_cuda_stream();
  double work = (double)outer * (double)R * (double)J;
  if (J <= 32 || work <= (double)(1 << 26) || force_deterministic()) {
    int64_t owner_space[AX_MAX_DIMS];
    for (int d = 0; d < nd; d++) owner_space[d] = d == dim ? R : space[d];
    ax_cuda_byte_strides(&target, strides[0]);
    ax_cuda_byte_strides(&direct, strides[1]);
    strides[1][dim] = 0;
    index_strides(&index, per_element, nd, dim, strides[2]);
    strides[2][dim] = 0;
    for (int d = 0; d < AX_MAX_DIMS; d++) strides[3][d] = d == dim ? 1 : 0;
    ax_plan<4> plan;
    plan.init(nd, owner_space, strides);
    int64_t d_ds = direct.strides[dim] * es;
    if (plan.use32())
      ax_cuda_launch(add_owner_kernel<DT, I, true>, blocks_for(plan), 256, 0, st,
          (char *)target.data, (const char *)direct.data, (const char *)index.data, plan, J, d_ds, i_ds, R, oob);
    else
      ax_cuda_launch(add_owner_kernel<DT, I, false>, blocks_for(plan), 256, 0, st,
          (char *)target.data, (const char *)direct.data, (const char *)index.data, plan, J, d_ds, i_ds, R, oob);
    AX_CUDA_LAUNCH_CHECK("index add_owner_kernel");
    return;
  }
  ax_cuda_byte_strides(&direct, strides[0]);
  ax_cuda_byte_strides(&target, strides[1]);
  strides[1][dim] = 0;
  index_strides(&index, per_element, nd, dim, strides[2]);
  for (int d = 0; d < AX_MAX_DIMS; d++) strides[3][d] = 0;
  ax_plan<4> plan;
  plan.init(nd, space, strides);
  int64_t t_ds = target.strides[dim] * es;
  if (plan.use32())
    ax_cuda_launch(add_atomic_kernel<DT, I, true>, blocks_for(plan), 256, 0, st, (char *)target.data, (const char *)direct.data,
                                                                     (const char *)index.data, plan, t_ds, R, oob);
  else
    ax_cuda_launch(add_atomic_kernel<DT, I, false>, blocks_for(plan), 256, 0, st, (char *)target.data, (const char *)direct.data,
                                                                      (const char *)index.data, plan, t_ds, R, oob);
  AX_CUDA_LAUNCH_CHECK("index add_atomic_kernel");
}

/* target[p with dim replaced by index(p)] += direct[p] over `space` */
void run_write(const ax_kt *target_, int dim, const ax_kt *index, const ax_kt *direct_, int per_element,
               const ax_kt *space_of) {
  ax_kt target = at_least_1d(target_), direct = at_least_1d(direct_), sp = at_least_1d(space_of);
  const int64_t *space = sp.shape;
  bool i64 = index->dtype == AX_I64;
  Oob oob = {ax_cuda_status_arm(), per_element ? AX_STATUS_SCATTER_ADD : AX_STATUS_INDEX_ADD, dim};
#define WRITE_CASE(DT)                                                                   \
  case DT:                                                                               \
    if (i64)                                                                             \
      write_launch<DT, int64_t>(target, direct, *index, per_element, dim, space, oob);   \
    else                                                                                 \
      write_launch<DT, int32_t>(target, direct, *index, per_element, dim, space, oob);   \
    break;
  switch (target.dtype) {
    WRITE_CASE(AX_F32)
    WRITE_CASE(AX_F64)
    WRITE_CASE(AX_BF16)
    WRITE_CASE(AX_F16)
    WRITE_CASE(AX_I32)
    WRITE_CASE(AX_I64)
    WRITE_CASE(AX_U8)
    WRITE_CASE(AX_BOOL)
    default: ax_cuda_error("ax_cuda_index_add: dtype %d is not supported", target.dtype);
  }
#undef WRITE_CASE
}

} // namespace

extern "C" ax_kstatus ax_cuda_index_select(ax_kt *out, const ax_kt *in, int dim, const ax_kt *index) {
  AX_CUDA_ENTRY;
  run_read(out, in, dim, index, 0, AX_STATUS_INDEX_SELECT);
  return ax_cuda_kstatus();
}

extern "C" ax_kstatus ax_cuda_embedding(ax_kt *out, const ax_kt *weight, const ax_kt *index) {
  AX_CUDA_ENTRY;
  run_read(out, weight, 0, index, 0, AX_STATUS_EMBEDDING);
  return ax_cuda_kstatus();
}

extern "C" ax_kstatus ax_cuda_gather(ax_kt *out, const ax_kt *in, int dim, const ax_kt *index) {
  AX_CUDA_ENTRY;
  run_read(out, in, dim, index, 1, AX_STATUS_GATHER);
  return ax_cuda_kstatus();
}

extern "C" ax_kstatus ax_cuda_index_add(ax_kt *out, int dim, const ax_kt *index, const ax_kt *src) {
  AX_CUDA_ENTRY;
  run_write(out, dim, index, src, 0, src);
  return ax_cuda_kstatus();
}

extern "C" ax_kstatus ax_cuda_scatter_add(ax_kt *out, int dim, const ax_kt *index, const ax_kt *src) {
  AX_CUDA_ENTRY;
  run_write(out, dim, index, src, 1, index);
  return ax_cuda_kstatus();
}
