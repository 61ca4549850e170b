/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared by every kernels/cuda/*.cu file: error checks with the call site, the
 * current stream, launch geometry, dtype dispatch and strided indexing. */
#ifndef AXON_KERNELS_CUDA_COMMON_CUH
#define AXON_KERNELS_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include <utility>

#include "kernels/cuda/cuda.h"

extern "C" void ax_error(const char *fmt, ...);

/* The stream work on the current device is queued on (runtime.cu). */
extern "C" cudaStream_t ax_cuda_stream(void);
/* The device index that kernels of the current call run on (runtime.cu). */
extern "C" int ax_cuda_current_device(void);
/* Scratch device memory for a kernel's temporaries, from the caching allocator,
 * on the current device and stream: free it after the kernels that use it are
 * queued (the block is reused only by later work on the same stream). NULL after
 * an error has been reported. */
extern "C" void *ax_cuda_scratch_alloc(size_t nbytes);
extern "C" void ax_cuda_scratch_free(void *p);

/* A per-device status word that kernels set instead of making the host wait:
 * an index out of range found by index_select, gather, embedding or the index
 * writes. The host reads it lazily, at the next synchronization (a read-back to
 * the host, ax_synchronize), and reports it there as an error naming the op and
 * the index (runtime.cu). The first error wins; later ones are dropped until it
 * has been reported. */
enum ax_cuda_status_op {
  AX_STATUS_NONE = 0,
  AX_STATUS_INDEX_SELECT,
  AX_STATUS_GATHER,
  AX_STATUS_EMBEDDING,
  AX_STATUS_INDEX_ADD,
  AX_STATUS_SCATTER_ADD,
  AX_STATUS_EMBEDDING_BACKWARD
};
struct ax_cuda_status {
  unsigned int flag; /* 0, or 1 once the fields below hold the first error */
  int op;            /* ax_cuda_status_op */
  int dim;
  int pad;
  long long index, size;
};
/* The current device's status word, for a kernel about to be queued on its
 * stream: marks it to be read at the next synchronization. NULL after an error
 * has been reported (kernels must accept NULL: then they only skip bad indices). */
extern "C" ax_cuda_status *ax_cuda_status_arm(void);

/* Kernel status (runtime.cu). Every kernel entry of kernels/kernels.def opens with
 * AX_CUDA_ENTRY and returns ax_cuda_kstatus(): AX_K_OK, or the first failure noted
 * on this thread since the outermost entry began (a failed AX_CUDA_CHECK, a failed
 * launch, or an error cudaGetLastError still holds); ax_cuda_last_error() gives
 * its detail to the op layer. */
extern "C" void ax_cuda_entry_begin(void);
extern "C" void ax_cuda_entry_end(void);
extern "C" void ax_cuda_note_failure(ax_kstatus status, const char *what, cudaError_t e);
extern "C" ax_kstatus ax_cuda_kstatus(void);
/* An error a kernel file finds on the host (a dtype or size it has no kernel for):
 * reported with ax_error, and the entry's status becomes AX_K_UNSUPPORTED with the
 * message as its detail. Kernel files call this, never ax_error. */
extern "C" void ax_cuda_error(const char *fmt, ...);
struct ax_cuda_entry_scope {
  ax_cuda_entry_scope() { ax_cuda_entry_begin(); }
  ~ax_cuda_entry_scope() { ax_cuda_entry_end(); }
};
#define AX_CUDA_ENTRY ax_cuda_entry_scope ax_cuda_entry_scope_

static inline bool ax_cuda_check_at(cudaError_t e, const char *what, const char *file, int line) {
  if (e == cudaSuccess) return true;
  ax_cuda_note_failure(AX_K_DEVICE, what, e);
  ax_error("CUDA error %s (%s) in %s at %s:%d", cudaGetErrorName(e), cudaGetErrorString(e), what, file, line);
  return false;
}
#define AX_CUDA_CHECK(call) ax_cuda_check_at((call), #call, __FILE__, __LINE__)
/* After every kernel launch: reports a bad configuration with the kernel's name. */
#define AX_CUDA_LAUNCH_CHECK(kernel_name) ax_cuda_check_at(cudaGetLastError(), "launch of " kernel_name, __FILE__, __LINE__)

/* The one launch form of kernels/cuda: every kernel starts through this, never
 * through <<<...>>> at the call site, so the same source builds with nvcc and for
 * the emulated device (AXON_CUDA=EMULATE, kernels/cuda/emulate/), where the
 * arguments are converted to the kernel's parameter types and copied now, and the
 * kernel runs later in stream order on the host. Returns the launch's error
 * (cudaPeekAtLastError: still there for the caller's check), so a bad configuration is reported by the caller's
 * AX_CUDA_LAUNCH_CHECK or AX_CUDA_CHECK with the kernel's name. */
#if defined(AX_CUDA_EMULATE)
template <typename... P, typename... A>
static inline cudaError_t ax_cuda_launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t st,
                                         A &&...args) {
  cudaError_t e = ax_emu_launch_kernel(kernel, grid, block, smem, st, std::forward<A>(args)...);
  if (e != cudaSuccess) ax_cuda_note_failure(AX_K_LAUNCH, "kernel launch", e);
  return e;
}
#else
template <typename... P, typename... A>
static inline cudaError_t ax_cuda_launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t st,
                                         A &&...args) {
  kernel<<<grid, block, smem, st>>>(std::forward<A>(args)...);
  cudaError_t e = cudaPeekAtLastError();
  if (e != cudaSuccess) ax_cuda_note_failure(AX_K_LAUNCH, "kernel launch", e);
  return e;
}
#endif

/* A static shared array, `__shared__ type name dims` (dims: `[32][33]`, or empty
 * for a scalar). The emulated device gives it a slot it fills with NaN before
 * every block, guards and watches for races (kernels/cuda/emulate/device.h). */
#if defined(AX_CUDA_EMULATE)
#define AX_SHARED_ALIGNED(align, type, name, dims)                                                            \
  static char ax_emu_key_##name;                                                                              \
  type(&name) dims = *reinterpret_cast<type(*) dims>(                                                          \
      ax_emu_static_smem(&ax_emu_key_##name, sizeof(type dims), (align) > alignof(type) ? (align) : alignof(type), \
                         #name, __FILE__, __LINE__))
#define AX_SHARED(type, name, dims) AX_SHARED_ALIGNED(1, type, name, dims)
#else
#define AX_SHARED_ALIGNED(align, type, name, dims) __shared__ __align__(align) type name dims
#define AX_SHARED(type, name, dims) __shared__ type name dims
#endif

/* Whether cuBLAS, cuDNN and NCCL can run: not on the emulated device, where the
 * vendor paths report AX_CUDA_NO_VENDOR and the native kernels are the default. */
#if defined(AX_CUDA_EMULATE)
#define AX_CUDA_HAVE_VENDOR 0
#define AX_CUDA_NO_CUDNN "cuDNN is not available on the emulated device (AXON_CUDA=EMULATE runs Axon's own kernels only)"
#else
#define AX_CUDA_HAVE_VENDOR 1
#define AX_CUDA_NO_CUDNN "this build has no cuDNN (configure with AXON_CUDNN=ON and cuDNN 9 found, see AXON_CUDNN_ROOT)"
#endif

/* A kernel's dynamic shared memory (the size given at launch), as `type name[]`. */
#if defined(AX_CUDA_EMULATE)
#define AX_DYNAMIC_SMEM(type, name) type *name = (type *)ax_emu_dynamic_smem()
#else
#define AX_DYNAMIC_SMEM(type, name) extern __shared__ __align__(16) type name[]
#endif

/* Records an index out of range in the status word (the first one only). */
__device__ __forceinline__ void ax_cuda_report_index(ax_cuda_status *st, int op, int dim, long long index,
                                                     long long size) {
  if (!st) return;
  if (atomicCAS(&st->flag, 0u, 2u) == 0u) { /* 2: being written */
    st->op = op;
    st->dim = dim;
    st->index = index;
    st->size = size;
    __threadfence();
    atomicExch(&st->flag, 1u);
  }
}

/* Grid for a grid-stride loop over n items: enough blocks to fill the GPU, never more than needed. */
static inline unsigned ax_cuda_blocks(int64_t n, int threads) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > 65535LL * 32) b = 65535LL * 32;
  return (unsigned)b;
}

/* Element conversions through float (double stays double). */
template <typename T> __device__ __forceinline__ float ax_to_f(T v) { return (float)v; }
template <> __device__ __forceinline__ float ax_to_f<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <> __device__ __forceinline__ float ax_to_f<__half>(__half v) { return __half2float(v); }
template <typename T> __device__ __forceinline__ T ax_from_f(float v) { return (T)v; }
template <> __device__ __forceinline__ __nv_bfloat16 ax_from_f<__nv_bfloat16>(float v) { return __float2bfloat16(v); }
template <> __device__ __forceinline__ __half ax_from_f<__half>(float v) { return __float2half(v); }

/* The accumulation type of T: double for double, float otherwise. */
template <typename T> struct ax_acc { typedef float type; };
template <> struct ax_acc<double> { typedef double type; };

/* Loads and stores through the accumulation type, so templated kernels keep f64
 * exact while bf16/f16 compute in f32. Prefer these to ax_to_f / ax_from_f,
 * which go through float for every type (f64 would lose precision). */
template <typename T> __device__ __forceinline__ typename ax_acc<T>::type ax_acc_load(T v) { return ax_to_f(v); }
template <> __device__ __forceinline__ double ax_acc_load<double>(double v) { return v; }
template <typename T> __device__ __forceinline__ T ax_acc_store(typename ax_acc<T>::type v) { return ax_from_f<T>(v); }
template <> __device__ __forceinline__ double ax_acc_store<double>(double v) { return v; }

/* AX_CUDA_DISPATCH_FLOAT(dtype, name, ...): runs the statement(s) with `scalar_t`
 * bound to the C type of a floating dtype; reports other dtypes as errors. */
#define AX_CUDA_DISPATCH_FLOAT(dtype, opname, ...)                                          \
  switch (dtype) {                                                                          \
    case AX_F32: { typedef float scalar_t; __VA_ARGS__; } break;                            \
    case AX_F64: { typedef double scalar_t; __VA_ARGS__; } break;                           \
    case AX_BF16: { typedef __nv_bfloat16 scalar_t; __VA_ARGS__; } break;                   \
    case AX_F16: { typedef __half scalar_t; __VA_ARGS__; } break;                           \
    default: ax_error("%s: dtype %d is not supported on the cuda backend", opname, (int)(dtype)); \
  }

/* Offset (in elements) of linear index i of a view with ndim dims, row-major order. */
struct ax_cuda_strides {
  int ndim;
  int64_t shape[AX_MAX_DIMS];
  int64_t strides[AX_MAX_DIMS];
};
static inline ax_cuda_strides ax_cuda_strides_of(const ax_kt *t) {
  ax_cuda_strides s;
  s.ndim = t->ndim;
  for (int d = 0; d < AX_MAX_DIMS; d++) {
    s.shape[d] = d < t->ndim ? t->shape[d] : 1;
    s.strides[d] = d < t->ndim ? t->strides[d] : 0;
  }
  return s;
}
__device__ __forceinline__ int64_t ax_cuda_offset(const ax_cuda_strides &s, int64_t i) {
  int64_t off = 0;
  for (int d = s.ndim - 1; d >= 0; d--) {
    int64_t q = i / s.shape[d];
    off += (i - q * s.shape[d]) * s.strides[d];
    i = q;
  }
  return off;
}

#endif
