/* SPDX-License-Identifier: BSD-3-Clause */
/* The kernel ABI: one table of function pointers per backend.
 *
 * Kernels see plain strided views (ax_kt), never ax_tensor, never the op layer.
 * The op layer has already checked dtypes, devices and shapes, allocated the
 * outputs and broadcast inputs to the output shape (stride 0 on broadcast
 * dims). Kernels may assume those checks hold. The CPU table is the reference
 * and is complete; the CUDA table fills the same entries. The entries, their
 * parameters and what each computes are listed once, in kernels/kernels.def.
 * This header is C and CUDA-safe and includes no vendor headers.
 */
#ifndef AXON_KERNELS_BACKEND_H
#define AXON_KERNELS_BACKEND_H

#include <stdbool.h>
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
  AX_BINARY_POW, /* a^b, float only */
  AX_BINARY_EQ, AX_BINARY_NE, AX_BINARY_LT, AX_BINARY_LE, AX_BINARY_GT, AX_BINARY_GE,
  AX_NUM_BINARY
} ax_binary_op;

typedef enum ax_reduce_op { AX_REDUCE_SUM, AX_REDUCE_MAX, AX_REDUCE_MIN, AX_NUM_REDUCE } ax_reduce_op;

/* Scans along one dim (kernels/cpu/scan.c, kernels/cuda/scan.cu). */
typedef enum ax_scan_op { AX_SCAN_SUM, AX_SCAN_PROD, AX_SCAN_MAX, AX_SCAN_LOGSUMEXP, AX_NUM_SCAN } ax_scan_op;

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

/* 2-D convolution geometry: x [n, c, h, w], weight [o, c/groups, kh, kw],
 * y [n, o, oh, ow], all contiguous. */
typedef struct ax_conv_params {
  int64_t n, c, h, w;
  int64_t o, kh, kw;
  int64_t oh, ow;
  int sh, sw, ph, pw, dh, dw, groups;
} ax_conv_params;

/* 2-D pooling geometry: x [n, c, h, w] -> y [n, c, oh, ow], contiguous. Adaptive
 * pooling uses window i = [floor(i*h/oh), ceil((i+1)*h/oh)) and ignores k/s/p/d. */
typedef struct ax_pool_params {
  int64_t n, c, h, w, oh, ow;
  int kh, kw, sh, sw, ph, pw, dh, dw;
  int count_include_pad; /* avg: divide by kh*kw (1) or by the in-bounds count (0) */
  int adaptive;
} ax_pool_params;

typedef enum ax_optim_kind { AX_OPTIM_SGD, AX_OPTIM_ADAM, AX_OPTIM_ADAMW, AX_OPTIM_RMSPROP } ax_optim_kind;

/* One optimizer step over n parameters (PyTorch's update rules). grad is read
 * as grad * grad_scale (1 = as is); weight_decay is L2 added to the gradient
 * (SGD, Adam, RMSprop) or decoupled (AdamW); l1 adds l1 * sign(param). States:
 * SGD: state0 = momentum buffer; Adam/AdamW: state0 = exp_avg, state1 = exp_avg_sq;
 * RMSprop: state0 = square_avg, state1 = momentum buffer, state2 = grad_avg
 * (centered). Unused states may be NULL. step counts from 1. */
typedef struct ax_optim_args {
  int kind;
  double lr, weight_decay, l1, grad_scale;
  double momentum, dampening; int nesterov;
  double beta1, beta2, eps; int64_t step;
  double alpha; int centered;
  /* bf16 parameters: round the f32 update stochastically (Philox key sr_seed, see
   * kernels/optim_hp.h) instead of to nearest */
  int stochastic_rounding; uint64_t sr_seed;
} ax_optim_args;

/* Attention geometry: q [b, h, tq, d], k / v [b, h, tk, d], out [b, h, tq, d] (4-D
 * strided views, stride 1 on the last dim); lse [b, h, tq] contiguous, f32 (f64 for f64
 * inputs): the row's log-sum-exp of the scaled, masked scores, kept for the backward.
 * mask: NULL or a 4-D view broadcast to [b, h, tq, tk] (stride 0 on broadcast dims), bool
 * (true = attend) or q's dtype (added to the scores). causal: key j is seen by query i
 * when j <= i + tk - tq. dropout: weight (i, j) of head (b, h) is dropped when the
 * uniform Philox draw of element ((b*h_count + h)*tq + i)*tk + j at (seed, offset) is < p,
 * exactly as random(AX_RANDOM_UNIFORM) would draw it for a contiguous [b, h, tq, tk]
 * tensor; kept weights are scaled by 1/(1-p). A row with no visible key gives 0. */
typedef struct ax_attn_params {
  int64_t b, h, tq, tk, d;
  double scale;
  int causal;
  double dropout_p;
  uint64_t seed, offset;
} ax_attn_params;

/* What a kernel returns. On a failure the backend's last_error() gives the detail
 * (the CUDA error string, the size that could not be allocated); the op layer
 * reports "<op>: <backend> kernel failed: <detail>" and returns NULL. */
typedef enum ax_kstatus {
  AX_K_OK = 0,
  AX_K_NOMEM,       /* a kernel's scratch memory could not be allocated */
  AX_K_LAUNCH,      /* a CUDA launch (or vendor call) failed */
  AX_K_UNSUPPORTED, /* a dtype or case this backend has no kernel for */
  AX_K_DEVICE       /* the device reported an error */
} ax_kstatus;

/* One id per entry of kernels/kernels.def: AX_KID_fill, AX_KID_gemm, ... */
typedef enum ax_kernel_id {
#define AX_RUNTIME(ret, name, params, family) AX_KID_##name,
#define AX_KERNEL(name, params, family, grad) AX_KID_##name,
#include "kernels/kernels.def"
  AX_NUM_KERNEL_IDS
} ax_kernel_id;

/* What a backend can do with one entry (as ggml's supports_op and ccv's per-backend
 * datatypes): the op layer asks ax_backend_supports / ax_backend_has instead of
 * branching on the device. */
typedef struct ax_kernel_caps {
  uint32_t dtypes; /* bit (1u << ax_dtype) per dtype the kernel takes; 0: every dtype the op layer sends */
  uint32_t flags;  /* AX_CAP_* */
  int64_t chunk_bytes; /* ops that cut their input in chunks for this kernel: the chunk's size (0: op's default) */
} ax_kernel_caps;

enum {
  /* The op layer does not read this kernel's indices back to the host to check them
   * first (that would make the host wait for the device): the kernel meets them where
   * they live (the index kernels report a bad one at the next synchronization,
   * cross_entropy gives its row a NaN loss). */
  AX_CAP_DEVICE_INDICES = 1u << 0,
};

/* The table: one function pointer per entry of kernels/kernels.def, which says what
 * each one computes. Both tables are complete. */
typedef struct ax_backend {
  const char *name;
#define AX_RUNTIME(ret, name, params, family) ret(*name) params;
#define AX_KERNEL(name, params, family, grad) ax_kstatus(*name) params;
#include "kernels/kernels.def"
  const ax_kernel_caps *caps; /* [AX_NUM_KERNEL_IDS]; NULL: every entry takes every dtype, no flags */
} ax_backend;

static inline ax_kernel_caps ax_backend_caps(const ax_backend *be, ax_kernel_id id) {
  ax_kernel_caps none = {0, 0, 0};
  return be && be->caps && (unsigned)id < AX_NUM_KERNEL_IDS ? be->caps[id] : none;
}
/* Whether entry id of be takes dtype. */
static inline bool ax_backend_supports(const ax_backend *be, ax_kernel_id id, int dtype) {
  uint32_t m = ax_backend_caps(be, id).dtypes;
  return m == 0 || (dtype >= 0 && dtype < 32 && (m >> dtype & 1u));
}
/* Whether entry id of be has every AX_CAP_* flag in flags. */
static inline bool ax_backend_has(const ax_backend *be, ax_kernel_id id, uint32_t flags) {
  return (ax_backend_caps(be, id).flags & flags) == flags;
}

extern const ax_backend ax_cpu_backend;
#if defined(AXON_HAVE_CUDA)
extern const ax_backend ax_cuda_backend;
#endif

#ifdef __cplusplus
}
#endif
#endif
