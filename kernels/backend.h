/* The kernel ABI: one table of function pointers per backend.
 *
 * Kernels see plain strided views (ax_kt), never ax_tensor, never the op layer.
 * The op layer has already checked dtypes, devices and shapes, allocated the
 * outputs and broadcast inputs to the output shape (stride 0 on broadcast
 * dims). Kernels may assume those checks hold. The CPU table is the reference
 * and is complete; the CUDA table fills the same entries (a NULL entry means
 * "not yet on this backend", which the op layer reports as an error).
 * This header is C and CUDA-safe and includes no vendor headers.
 */
#ifndef AXON_KERNELS_BACKEND_H
#define AXON_KERNELS_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "axon/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A strided view of memory on the backend's device. */
typedef struct ax_kt {
  void *data; /* element 0 (offset already applied) */
  int dtype;  /* ax_dtype */
  int ndim;
  int64_t shape[AX_MAX_DIMS];
  int64_t strides[AX_MAX_DIMS]; /* in elements; 0 on broadcast dims */
} ax_kt;

/* Unary ops: y = f(x; alpha, beta). */
typedef enum ax_unary_op {
  AX_UNARY_NEG, AX_UNARY_ABS, AX_UNARY_EXP, AX_UNARY_LOG, AX_UNARY_SQRT, AX_UNARY_RSQRT,
  AX_UNARY_SQUARE,
  AX_UNARY_POW,        /* x^alpha */
  AX_UNARY_CLAMP,      /* min(max(x, alpha), beta) */
  AX_UNARY_RELU,
  AX_UNARY_LEAKY_RELU, /* slope alpha */
  AX_UNARY_SIGMOID, AX_UNARY_TANH,
  AX_UNARY_GELU,       /* erf form */
  AX_UNARY_GELU_TANH,
  AX_UNARY_SILU,
  AX_UNARY_SIGN,
  AX_NUM_UNARY
} ax_unary_op;

/* Binary ops: out = a op b. Comparisons write AX_BOOL outputs. */
typedef enum ax_binary_op {
  AX_BINARY_ADD, AX_BINARY_SUB, AX_BINARY_MUL, AX_BINARY_DIV,
  AX_BINARY_MAX, AX_BINARY_MIN,
  AX_BINARY_EQ, AX_BINARY_NE, AX_BINARY_LT, AX_BINARY_LE, AX_BINARY_GT, AX_BINARY_GE,
  AX_NUM_BINARY
} ax_binary_op;

typedef enum ax_reduce_op { AX_REDUCE_SUM, AX_REDUCE_MAX, AX_REDUCE_MIN, AX_NUM_REDUCE } ax_reduce_op;

typedef enum ax_random_dist { AX_RANDOM_UNIFORM, AX_RANDOM_NORMAL } ax_random_dist;

/* Row-major batched GEMM: C = alpha * op(A) op(B) + beta * C, with
 * op(A) [m, k], op(B) [k, n], C [m, n]. Not transposed, A[i][p] = a[i*lda + p];
 * transposed, A is stored [k, m] and op(A)[i][p] = a[p*lda + i]. Batch b
 * starts at a + b*stride_a (stride 0 broadcasts). beta = 0 means C is not read. */
typedef struct ax_gemm_args {
  int dtype; /* a, b and c share it */
  int trans_a, trans_b;
  int64_t m, n, k;
  double alpha, beta;
  const void *a; int64_t lda; int64_t stride_a;
  const void *b; int64_t ldb; int64_t stride_b;
  void *c; int64_t ldc; int64_t stride_c;
  int64_t batch;
} ax_gemm_args;

typedef struct ax_backend {
  const char *name;

  /* memory (device_index selects the GPU; 0 on the CPU) */
  void *(*alloc)(size_t nbytes, int device_index); /* NULL when out of memory (after reporting) */
  void (*free)(void *ptr, size_t nbytes, int device_index);
  void (*copy_from_host)(void *dst, const void *src, size_t nbytes, int device_index);
  void (*copy_to_host)(void *dst, const void *src, size_t nbytes, int device_index);
  void (*synchronize)(int device_index);
  ax_memory_stats (*memory_stats)(int device_index);
  void (*empty_cache)(int device_index);

  /* creation */
  void (*fill)(ax_kt *out, double value);
  void (*arange)(ax_kt *out, double start, double step); /* contiguous 1-D out */
  /* Element i of contiguous `out` uses Philox counter (i, offset), key seed. */
  void (*random)(ax_kt *out, int dist, double a, double b, uint64_t seed, uint64_t offset);

  /* dst[i] = (dst dtype) src[i]; same shape, any strides, any dtypes */
  void (*copy)(ax_kt *dst, const ax_kt *src);

  /* elementwise; inputs already broadcast to out's shape */
  void (*unary)(int op, ax_kt *out, const ax_kt *x, double alpha, double beta);
  /* gx = gy * f'(x) (y = f(x) given too, for ops whose derivative uses it) */
  void (*unary_backward)(int op, ax_kt *gx, const ax_kt *gy, const ax_kt *x, const ax_kt *y,
                         double alpha, double beta);
  void (*binary)(int op, ax_kt *out, const ax_kt *a, const ax_kt *b);
  void (*where)(ax_kt *out, const ax_kt *cond, const ax_kt *a, const ax_kt *b);

  /* reductions: out has in's ndim with size 1 on reduced dims */
  void (*reduce)(int op, ax_kt *out, const ax_kt *in);
  /* values (may be NULL) and i64 indices of the max/min along dim; out dims have size 1 at dim */
  void (*arg_reduce)(int op, ax_kt *values, ax_kt *indices, const ax_kt *in, int dim);

  /* softmax over the last dim of a contiguous [rows, cols] view (log: log_softmax) */
  void (*softmax)(ax_kt *out, const ax_kt *in, int log);
  void (*softmax_backward)(ax_kt *gx, const ax_kt *gy, const ax_kt *y, int log);

  void (*gemm)(const ax_gemm_args *args);

  /* indexing; index tensors are i64 or i32 */
  void (*index_select)(ax_kt *out, const ax_kt *in, int dim, const ax_kt *index);
  /* out.index_add_(dim, index, src): out[.., index[i], ..] += src[.., i, ..] */
  void (*index_add)(ax_kt *out, int dim, const ax_kt *index, const ax_kt *src);
  void (*gather)(ax_kt *out, const ax_kt *in, int dim, const ax_kt *index);
  /* out[.., index[i,j,..], ..] += src[i, j, ..] along dim (index has src's shape) */
  void (*scatter_add)(ax_kt *out, int dim, const ax_kt *index, const ax_kt *src);
} ax_backend;

extern const ax_backend ax_cpu_backend;
#if defined(AXON_HAVE_CUDA)
extern const ax_backend ax_cuda_backend;
#endif

#ifdef __cplusplus
}
#endif
#endif
