/* SPDX-License-Identifier: BSD-3-Clause */
/* AXON_ATTN=cudnn: cuDNN's fused flash attention as the alternate of attention.cu.
 *
 * cuDNN reaches its flash-attention engines only through the backend graph API:
 * we describe attention as an operation graph of matmul, pointwise and
 * reduction nodes in the pattern those runtime-fusion engines recognize (the
 * pattern cudnn-frontend's sdpa / sdpa_backward nodes expand to for cuDNN 9
 * before 9.21; the frontend itself is a C++ header library this build does not
 * ship), ask heuristics (mode A, then fallback) for engine configs, keep the
 * first execution plan that finalizes, and execute it with a variant pack.
 *
 * Forward graph (S, P virtual f32 [b, h, tq, tk]; x(...) a by-value scalar):
 *   S = Q K^T (K^T by strides), S = S * x(scale) [+ bias]
 *   [causal: row = gen_index(S, 2) [+ x(tk) - x(tq)], col = gen_index(S, 3),
 *            S = select(row >= col, S, x(-inf))]
 *   m = max_k S, E = exp(S - m), z = sum_k E, Stats = m + log z, P = E / z
 *   [dropout: P = P * bernoulli(1 - p; seed, offset) * x(1/(1-p))]
 *   O = P V (P in the I/O type)
 * Backward graph:
 *   Dsum = rowsum(dO * O) * x(1 - p or 1)   (f32 scratch, as the engines want)
 *   S = Q K^T * scale [+ bias] - Stats [causal select], P = exp(S)
 *   Pd = P [* mask * x(1/(1-p))],  dV = Pd^T dO
 *   dS = ((dO V^T) [* mask] - Dsum) * P [* x(1/(1-p))] * scale
 *   dK = dS^T Q,  dQacc = dS K (f32 scratch),  dQ = identity(dQacc)
 *
 * Supported: bf16 and f16 (f32 / f64 are an error: a benchmark must never time
 * the native kernels under cuDNN's name), D a multiple of 8 up to 256, any
 * b / h / t strides that are multiples of 8 elements with unit D stride (the
 * [B, T, H, D] views GPT makes cost no copy), causal (Tq == Tk the ordinary
 * diagonal; Tq < Tk bottom-right aligned like ours; Tq > Tk is an error since
 * rows would see no key, which cuDNN does not support), an additive mask of q's dtype (broadcast over b / h by strides; any
 * other layout is copied to a contiguous scratch bias), a bool mask (written as
 * a 0 / lowest-finite additive bias in scratch), and dropout with cuDNN's own
 * Philox stream seeded by our (seed, offset): its masks differ from the native
 * kernels', so CPU parity holds only without dropout.
 *
 * Stats is cuDNN's row log-sum-exp of the scaled, masked scores (natural log,
 * f32 [b, h, tq, 1]), the same quantity as our lse, so the forward writes it
 * straight into lse and the backward reads it back. Masked scores become -inf
 * (the lowest float before cuDNN 9.10, as those versions want) and a bool mask's
 * false the lowest finite value of the I/O type, so a query row whose keys are
 * all masked out may not give the native kernels' 0 and lse = +inf.
 *
 * Plans are cached (by pass, dtype, device, sizes, strides, mask layout,
 * causal, dropout p) in a small ring; workspace and the f32 temporaries come
 * from ax_cuda_scratch_alloc; the handle is the runtime's (vendor.h), bound to
 * ax_cuda_stream(). Plans live until they are evicted (the ring is small and
 * cuDNN may not be torn down safely after the CUDA context at exit).
 *
 * Never run on a GPU yet. What was checked without one (cuDNN 9.19, H100
 * device properties given to cuDNN as JSON, a stub libcuda): every graph above
 * (forward and backward x causal x mask x dropout x Tq == / < Tk, D 64 to 256,
 * bf16 and f16) finalizes, and heuristics mode A offers the fused flash
 * attention engines, whose kernels NVRTC-compiles for sm_90 up to the module
 * load the stub refuses. Numerics, workspace and execution are for the GPU
 * session: scripts/gpu/session1.sh runs `axon_parity attention_cudnn` and the
 * benchmark rows that time it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>

#include "kernels/cuda/common.cuh"
#include "axon/settings.h"

/* -1: follow AXON_ATTN; 0: native; 1: cuDNN (ax_cuda_attention_force_backend). */
static std::atomic<int> forced_backend{-1};

/* What cuDNN's fused attention takes (the checks of Call below, without reporting):
 * bf16/f16, D a multiple of 8 up to 256, non-empty sequences, no causal Tq > Tk, dropout
 * below 1, a bool mask or one of q's dtype, unit D strides and row strides that are
 * multiples of 8 elements on 16-byte aligned data. */
static bool cudnn_takes(const ax_kt *q, const ax_kt *k, const ax_kt *v, const ax_kt *m, const ax_attn_params *p) {
  if (q->dtype != AX_BF16 && q->dtype != AX_F16) return false;
  if (p->d % 8 != 0 || p->d > 256 || p->tq == 0 || p->tk == 0 || p->tq > INT32_MAX || p->tk > INT32_MAX) return false;
  if ((p->causal && p->tq > p->tk) || p->dropout_p >= 1) return false;
  if (m && m->dtype != AX_BOOL && m->dtype != q->dtype) return false;
  const ax_kt *t[3] = {q, k, v};
  for (int i = 0; i < 3; i++) {
    if (t[i]->strides[3] != 1 || ((uintptr_t)t[i]->data & 15)) return false;
    for (int d = 0; d < 3; d++)
      if (t[i]->strides[d] % 8) return false;
  }
  return true;
}

/* Which implementation runs. AXON_ATTN=native|cudnn (read once) or
 * ax_cuda_attention_force_backend; unset, cuDNN when the build has it and it takes
 * the call, since no GPU benchmark has shown the native kernels faster yet
 * (docs/benchmarks.md): the vendor library is the default until one does. The
 * choice depends only on q, k, v, the mask and the parameters, so a forward and
 * its backward always take the same path (cuDNN's dropout masks are its own). */
extern "C" bool ax_cuda_cudnn_attention_selected(const ax_kt *q, const ax_kt *k, const ax_kt *v, const ax_kt *m,
                                                 const ax_attn_params *p) {
  int f = forced_backend.load(std::memory_order_relaxed);
  if (f >= 0) return f == 1;
  ax_impl impl = ax_settings_get()->attn; /* AXON_ATTN (docs/settings.md) */
  int mode = impl == AX_IMPL_VENDOR ? 1 : impl == AX_IMPL_NATIVE ? 0 : 2; /* 0 native, 1 cuDNN, 2 the default */
  if (mode < 2) return mode == 1;
#ifdef AXON_HAVE_CUDNN
  return cudnn_takes(q, k, v, m, p);
#else
  (void)cudnn_takes;
  return false;
#endif
}

extern "C" bool ax_cuda_attention_force_backend(int backend) {
#ifndef AXON_HAVE_CUDNN
  if (backend == 1) return false;
#endif
  forced_backend.store(backend < 0 ? -1 : backend == 1 ? 1 : 0, std::memory_order_relaxed);
  return true;
}

#ifndef AXON_HAVE_CUDNN

static void not_implemented(void) {
  ax_cuda_error("AXON_ATTN=cudnn: %s; use AXON_ATTN=native", AX_CUDA_NO_CUDNN);
}

extern "C" void ax_cuda_cudnn_attention(ax_kt *out, ax_kt *lse, const ax_kt *q, const ax_kt *k, const ax_kt *v,
                                        const ax_kt *mask, const ax_attn_params *p) {
  not_implemented();
}

extern "C" void ax_cuda_cudnn_attention_backward(ax_kt *gq, ax_kt *gk, ax_kt *gv, const ax_kt *gout,
                                                 const ax_kt *q, const ax_kt *k, const ax_kt *v, const ax_kt *out,
                                                 const ax_kt *lse, const ax_kt *mask, const ax_attn_params *p) {
  not_implemented();
}

#else /* AXON_HAVE_CUDNN */

#include <float.h>

#include <mutex>
#include <vector>

#include "kernels/cuda/vendor.h"

namespace {

typedef cudnnBackendDescriptor_t Desc;

/* UIDs of the tensors we bind (virtual tensors count up from VIRTUAL). */
enum Uid : int64_t {
  U_Q = 1, U_K, U_V, U_O, U_STATS, U_BIAS, U_SEED, U_OFFSET, U_DO, U_DQ, U_DK, U_DV, U_DQ_ACC, U_DSUM,
  U_SCALE, U_LOWEST, U_ONE, U_DROP_SCALE, U_DROP_KEEP, U_SEQ_Q, U_SEQ_KV, U_VIRTUAL = 1000
};

enum Pass { FORWARD, BACKWARD };

/* Everything a plan depends on; compared with memcmp (zeroed first, so padding matches). */
struct Key {
  int pass, dtype, dev, causal, has_bias;
  int64_t b, h, tq, tk, d;
  int64_t qs[3], ks[3], vs[3], os[3], dos[3], dqs[3], dks[3], dvs[3], ls[3]; /* b, h, t strides */
  int64_t bias_dims[4], bias_strides[4];
  double dropout_p;
};

/* ---------------------------------------------------------------------- */
/* messages                                                               */

/* "bf16 q [2, 12, 1024, 64], k/v [2, 12, 1024, 64], causal, mask [1, 1, 1024, 1024], dropout 0.1" */
void describe(char *buf, size_t n, const Key &k) {
  int w = snprintf(buf, n, "%s q [%lld, %lld, %lld, %lld], k/v [%lld, %lld, %lld, %lld]",
                   k.dtype == AX_BF16 ? "bf16" : k.dtype == AX_F16 ? "f16" : "?", (long long)k.b, (long long)k.h,
                   (long long)k.tq, (long long)k.d, (long long)k.b, (long long)k.h, (long long)k.tk, (long long)k.d);
  if (k.causal && w > 0 && (size_t)w < n) w += snprintf(buf + w, n - w, ", causal");
  if (k.has_bias && w > 0 && (size_t)w < n)
    w += snprintf(buf + w, n - w, ", mask [%lld, %lld, %lld, %lld]", (long long)k.bias_dims[0],
                  (long long)k.bias_dims[1], (long long)k.bias_dims[2], (long long)k.bias_dims[3]);
  if (k.dropout_p > 0 && w > 0 && (size_t)w < n) snprintf(buf + w, n - w, ", dropout %g", k.dropout_p);
}

const char *pass_name(int pass) { return pass == FORWARD ? "forward" : "backward"; }

/* cuDNN's status and its last detailed message, for an error about cuDNN's answer. */
void report(cudnnStatus_t s, const char *what, int line, const Key &k) {
  char shape[256], detail[512] = "";
  describe(shape, sizeof shape, k);
  cudnnGetLastErrorString(detail, sizeof detail);
  ax_cuda_error("AXON_ATTN=cudnn: cuDNN error %s in %s at %s:%d (attention %s, %s)%s%s", cudnnGetErrorString(s), what,
           __FILE__, line, pass_name(k.pass), shape, detail[0] ? ": " : "", detail);
}

/* ---------------------------------------------------------------------- */
/* graph building                                                         */

struct Tensor {
  Desc desc;
  int64_t uid;
  int64_t dims[4], strides[4];
  cudnnDataType_t type;
};

/* One cached plan: the descriptors it was built from (kept alive with it) and
 * the UIDs its variant pack must bind. */
struct Plan {
  Key key;
  std::vector<Desc> owned;
  std::vector<Desc> ops;
  std::vector<int64_t> uids;      /* the bound (non-virtual) tensors, in variant-pack order */
  std::vector<Tensor> bound; /* their descriptors: a UID used twice is one tensor */
  Desc plan = nullptr;
  int64_t workspace = 0;
  int64_t next_uid = U_VIRTUAL;
  bool ok = true;

  ~Plan() {
    for (size_t i = owned.size(); i-- > 0;) cudnnBackendDestroyDescriptor(owned[i]);
  }

  /* The first failure is reported; later calls do nothing. */
  bool check(cudnnStatus_t s, const char *what, int line) {
    if (!ok) return false;
    if (s == CUDNN_STATUS_SUCCESS) return true;
    report(s, what, line, key);
    ok = false;
    return false;
  }

  Desc make(cudnnBackendDescriptorType_t type, int line) {
    Desc d = nullptr;
    if (!ok) return nullptr;
    if (!check(cudnnBackendCreateDescriptor(type, &d), "cudnnBackendCreateDescriptor", line)) return nullptr;
    owned.push_back(d);
    return d;
  }

  void set(Desc d, cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, int64_t n, const void *v,
           int line) {
    if (ok) check(cudnnBackendSetAttribute(d, name, type, n, v), "cudnnBackendSetAttribute", line);
  }

  void finalize(Desc d, int line) {
    if (ok) check(cudnnBackendFinalize(d), "cudnnBackendFinalize", line);
  }
};

#define MAKE(type) make((type), __LINE__)
#define SET(d, name, type, n, v) set((d), (name), (type), (n), (v), __LINE__)
#define FINALIZE(d) finalize((d), __LINE__)

/* Row-major strides of dims. */
void packed(const int64_t *dims, int64_t *strides) {
  strides[3] = 1;
  for (int i = 2; i >= 0; i--) strides[i] = strides[i + 1] * dims[i + 1];
}

/* The graph under construction: small helpers, one per kind of node. */
struct Builder {
  Plan &p;
  cudnnDataType_t io; /* bf16 or f16 */

  Tensor tensor(int64_t uid, cudnnDataType_t type, const int64_t *dims, const int64_t *strides, bool is_virtual,
                bool by_value = false, cudnnBackendTensorReordering_t reorder = CUDNN_TENSOR_REORDERING_NONE) {
    if (!is_virtual)
      for (const Tensor &b : p.bound)
        if (b.uid == uid) return b;
    Tensor t = {nullptr, uid, {0}, {0}, type};
    memcpy(t.dims, dims, sizeof t.dims);
    memcpy(t.strides, strides, sizeof t.strides);
    int64_t align = 16;
    t.desc = p.MAKE(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    p.SET(t.desc, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type);
    p.SET(t.desc, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims);
    p.SET(t.desc, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides);
    p.SET(t.desc, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
    p.SET(t.desc, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align);
    p.SET(t.desc, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &is_virtual);
    if (by_value) p.SET(t.desc, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &by_value);
    if (reorder != CUDNN_TENSOR_REORDERING_NONE)
      p.SET(t.desc, CUDNN_ATTR_TENSOR_REORDERING_MODE, CUDNN_TYPE_TENSOR_REORDERING_MODE, 1, &reorder);
    p.FINALIZE(t.desc);
    if (!is_virtual) p.uids.push_back(uid), p.bound.push_back(t);
    return t;
  }

  /* A [b, h, t, d] view with the given b, h, t strides (unit stride on the last dim). */
  Tensor bound(int64_t uid, cudnnDataType_t type, int64_t b, int64_t h, int64_t t, int64_t d, const int64_t *s,
               cudnnBackendTensorReordering_t reorder = CUDNN_TENSOR_REORDERING_NONE) {
    int64_t dims[4] = {b, h, t, d}, strides[4] = {s[0], s[1], s[2], 1};
    return tensor(uid, type, dims, strides, false, false, reorder);
  }

  /* The same view with its last two dims swapped (K^T, V^T): strides only, no copy. */
  Tensor bound_t(int64_t uid, int64_t b, int64_t h, int64_t t, int64_t d, const int64_t *s) {
    int64_t dims[4] = {b, h, d, t}, strides[4] = {s[0], s[1], 1, s[2]};
    return tensor(uid, io, dims, strides, false);
  }

  /* A [1, 1, 1, 1] tensor: a host value (by_value) or one in device memory. */
  Tensor scalar(int64_t uid, cudnnDataType_t type = CUDNN_DATA_FLOAT, bool by_value = true) {
    const int64_t one[4] = {1, 1, 1, 1};
    return tensor(uid, type, one, one, false, by_value);
  }

  /* Dropout's keep mask: Bernoulli(1 - p) from cuDNN's Philox at (seed, offset), both on the device. */
  Tensor dropout_keep() {
    return rng(scalar(U_SEED, CUDNN_DATA_INT64, false), scalar(U_OFFSET, CUDNN_DATA_INT64, false));
  }

  Tensor virt(const int64_t *dims, cudnnDataType_t type = CUDNN_DATA_FLOAT) {
    int64_t strides[4];
    packed(dims, strides);
    return tensor(p.next_uid++, type, dims, strides, true);
  }

  /* Broadcast shape of a and b (dims of 1 stretch). */
  static void broadcast(const Tensor &a, const Tensor *b, int64_t *dims) {
    for (int i = 0; i < 4; i++) dims[i] = b && b->dims[i] > a.dims[i] ? b->dims[i] : a.dims[i];
  }

  /* y = mode(x [, b [, t]]); y virtual unless given. prec: the compute type. */
  Tensor pointwise(cudnnPointwiseMode_t mode, const Tensor &x, const Tensor *b = nullptr, const Tensor *t = nullptr,
                   const Tensor *y = nullptr, cudnnDataType_t out_type = CUDNN_DATA_FLOAT,
                   cudnnDataType_t prec = CUDNN_DATA_FLOAT, int64_t axis = -1) {
    Tensor out;
    if (y) {
      out = *y;
    } else {
      int64_t dims[4];
      broadcast(x, b, dims);
      out = virt(dims, out_type);
    }
    Desc pw = p.MAKE(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
    p.SET(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode);
    p.SET(pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &prec);
    if (axis >= 0) p.SET(pw, CUDNN_ATTR_POINTWISE_AXIS, CUDNN_TYPE_INT64, 1, &axis);
    p.FINALIZE(pw);
    Desc op = p.MAKE(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
    p.SET(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pw);
    p.SET(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x.desc);
    if (b) p.SET(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b->desc);
    if (t) p.SET(op, CUDNN_ATTR_OPERATION_POINTWISE_TDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t->desc);
    p.SET(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &out.desc);
    p.FINALIZE(op);
    p.ops.push_back(op);
    return out;
  }

  Tensor binary(cudnnPointwiseMode_t mode, const Tensor &x, const Tensor &b,
                cudnnDataType_t out_type = CUDNN_DATA_FLOAT) {
    return pointwise(mode, x, &b, nullptr, nullptr, out_type);
  }

  /* Reduction over the last dim: [b, h, t, n] -> [b, h, t, 1]; into y when given. */
  Tensor reduce(cudnnReduceTensorOp_t mode, const Tensor &x, const Tensor *y = nullptr) {
    int64_t dims[4] = {x.dims[0], x.dims[1], x.dims[2], 1};
    Tensor out = y ? *y : virt(dims);
    cudnnDataType_t prec = CUDNN_DATA_FLOAT;
    Desc red = p.MAKE(CUDNN_BACKEND_REDUCTION_DESCRIPTOR);
    p.SET(red, CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, &mode);
    p.SET(red, CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &prec);
    p.FINALIZE(red);
    Desc op = p.MAKE(CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR);
    p.SET(op, CUDNN_ATTR_OPERATION_REDUCTION_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x.desc);
    p.SET(op, CUDNN_ATTR_OPERATION_REDUCTION_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &out.desc);
    p.SET(op, CUDNN_ATTR_OPERATION_REDUCTION_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &red);
    p.FINALIZE(op);
    p.ops.push_back(op);
    return out;
  }

  /* Batched c = a b over the two leading dims; into c when given, else virtual f32. */
  Tensor matmul(const Tensor &a, const Tensor &b, const Tensor *c = nullptr) {
    int64_t dims[4] = {a.dims[0], a.dims[1], a.dims[2], b.dims[3]};
    Tensor out = c ? *c : virt(dims);
    cudnnDataType_t prec = CUDNN_DATA_FLOAT;
    Desc mm = p.MAKE(CUDNN_BACKEND_MATMUL_DESCRIPTOR);
    p.SET(mm, CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &prec);
    p.FINALIZE(mm);
    Desc op = p.MAKE(CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR);
    p.SET(op, CUDNN_ATTR_OPERATION_MATMUL_ADESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &a.desc);
    p.SET(op, CUDNN_ATTR_OPERATION_MATMUL_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b.desc);
    p.SET(op, CUDNN_ATTR_OPERATION_MATMUL_CDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &out.desc);
    p.SET(op, CUDNN_ATTR_OPERATION_MATMUL_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &mm);
    p.FINALIZE(op);
    p.ops.push_back(op);
    return out;
  }

  /* A virtual view of x with other dims / strides (a transpose for the engines). */
  Tensor reshape(const Tensor &x, const int64_t *dims, const int64_t *strides, cudnnDataType_t type) {
    Tensor y = tensor(p.next_uid++, type, dims, strides, true);
    Desc op = p.MAKE(CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR);
    p.SET(op, CUDNN_ATTR_OPERATION_RESHAPE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x.desc);
    p.SET(op, CUDNN_ATTR_OPERATION_RESHAPE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y.desc);
    p.FINALIZE(op);
    p.ops.push_back(op);
    return y;
  }

  /* [b, h, tk, tq] transposed view of a virtual [b, h, tq, tk] score matrix. */
  Tensor transpose_scores(const Tensor &s) {
    const Key &k = p.key;
    int64_t dims[4] = {k.b, k.h, k.tk, k.tq}, strides[4] = {k.h * k.tq * k.tk, k.tq * k.tk, 1, k.tk};
    return reshape(s, dims, strides, io);
  }

  Tensor rng(const Tensor &seed, const Tensor &offset) {
    const Key &k = p.key;
    int64_t dims[4] = {k.b, k.h, k.tq, k.tk};
    Tensor out = virt(dims);
    cudnnRngDistribution_t dist = CUDNN_RNG_DISTRIBUTION_BERNOULLI;
    double keep = 1.0 - k.dropout_p;
    Desc r = p.MAKE(CUDNN_BACKEND_RNG_DESCRIPTOR);
    p.SET(r, CUDNN_ATTR_RNG_DISTRIBUTION, CUDNN_TYPE_RNG_DISTRIBUTION, 1, &dist);
    p.SET(r, CUDNN_ATTR_RNG_BERNOULLI_DIST_PROBABILITY, CUDNN_TYPE_DOUBLE, 1, &keep);
    p.FINALIZE(r);
    Desc op = p.MAKE(CUDNN_BACKEND_OPERATION_RNG_DESCRIPTOR);
    p.SET(op, CUDNN_ATTR_OPERATION_RNG_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &out.desc);
    p.SET(op, CUDNN_ATTR_OPERATION_RNG_SEED, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &seed.desc);
    p.SET(op, CUDNN_ATTR_OPERATION_RNG_OFFSET_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &offset.desc);
    p.SET(op, CUDNN_ATTR_OPERATION_RNG_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &r);
    p.FINALIZE(op);
    p.ops.push_back(op);
    return out;
  }

  /* s * scale [+ bias]: the scores before masking. */
  Tensor scaled_scores(const Tensor &q, const Tensor &kt) {
    Tensor s = matmul(q, kt);
    s = binary(CUDNN_POINTWISE_MUL, s, scalar(U_SCALE));
    if (p.key.has_bias)
      s = binary(CUDNN_POINTWISE_ADD, s, tensor(U_BIAS, io, p.key.bias_dims, p.key.bias_strides, false));
    return s;
  }

  /* Keys j > i + (tk - tq) of query i are masked: select(row (+ tk - tq) >= col, s, -inf). The
   * bottom-right shift is two int32 steps, + tk then - tq, the form the engines recognize. */
  Tensor causal(const Tensor &s) {
    Tensor row = pointwise(CUDNN_POINTWISE_GEN_INDEX, s, nullptr, nullptr, nullptr, CUDNN_DATA_INT32,
                           CUDNN_DATA_FLOAT, 2);
    Tensor col = pointwise(CUDNN_POINTWISE_GEN_INDEX, s, nullptr, nullptr, nullptr, CUDNN_DATA_INT32,
                           CUDNN_DATA_FLOAT, 3);
    if (p.key.tk != p.key.tq) {
      Tensor tk = scalar(U_SEQ_KV, CUDNN_DATA_INT32), tq = scalar(U_SEQ_Q, CUDNN_DATA_INT32);
      row = pointwise(CUDNN_POINTWISE_ADD, row, &tk, nullptr, nullptr, CUDNN_DATA_INT32, CUDNN_DATA_INT32, 3);
      row = pointwise(CUDNN_POINTWISE_SUB, row, &tq, nullptr, nullptr, CUDNN_DATA_INT32, CUDNN_DATA_INT32, 3);
    }
    Tensor keep = pointwise(CUDNN_POINTWISE_CMP_GE, row, &col, nullptr, nullptr, CUDNN_DATA_BOOLEAN,
                            CUDNN_DATA_BOOLEAN);
    Tensor lowest = scalar(U_LOWEST);
    return pointwise(CUDNN_POINTWISE_BINARY_SELECT, s, &lowest, &keep);
  }
};

void build_forward(Plan &p, cudnnDataType_t io) {
  Builder g{p, io};
  const Key &k = p.key;
  Tensor q = g.bound(U_Q, io, k.b, k.h, k.tq, k.d, k.qs), kt = g.bound_t(U_K, k.b, k.h, k.tk, k.d, k.ks);
  Tensor v = g.bound(U_V, io, k.b, k.h, k.tk, k.d, k.vs), o = g.bound(U_O, io, k.b, k.h, k.tq, k.d, k.os);
  Tensor stats = g.bound(U_STATS, CUDNN_DATA_FLOAT, k.b, k.h, k.tq, 1, k.ls);

  Tensor s = g.scaled_scores(q, kt);
  if (k.causal) s = g.causal(s);
  Tensor m = g.reduce(CUDNN_REDUCE_TENSOR_MAX, s);
  Tensor e = g.pointwise(CUDNN_POINTWISE_EXP, g.binary(CUDNN_POINTWISE_SUB, s, m));
  Tensor z = g.reduce(CUDNN_REDUCE_TENSOR_ADD, e);
  Tensor log_z = g.pointwise(CUDNN_POINTWISE_LOG, z);
  g.pointwise(CUDNN_POINTWISE_ADD, m, &log_z, nullptr, &stats);
  bool dropout = k.dropout_p > 0;
  /* the input of the second matmul must have the I/O type */
  Tensor pr = g.binary(CUDNN_POINTWISE_DIV, e, z, dropout ? CUDNN_DATA_FLOAT : io);
  if (dropout) {
    Tensor keep = g.dropout_keep();
    pr = g.binary(CUDNN_POINTWISE_MUL, g.binary(CUDNN_POINTWISE_MUL, pr, keep), g.scalar(U_DROP_SCALE), io);
  }
  g.matmul(pr, v, &o);
}

void build_backward(Plan &p, cudnnDataType_t io) {
  Builder g{p, io};
  const Key &k = p.key;
  Tensor q = g.bound(U_Q, io, k.b, k.h, k.tq, k.d, k.qs), kt = g.bound_t(U_K, k.b, k.h, k.tk, k.d, k.ks);
  Tensor vt = g.bound_t(U_V, k.b, k.h, k.tk, k.d, k.vs), o = g.bound(U_O, io, k.b, k.h, k.tq, k.d, k.os);
  Tensor dout = g.bound(U_DO, io, k.b, k.h, k.tq, k.d, k.dos);
  Tensor stats = g.bound(U_STATS, CUDNN_DATA_FLOAT, k.b, k.h, k.tq, 1, k.ls);
  Tensor dq = g.bound(U_DQ, io, k.b, k.h, k.tq, k.d, k.dqs), dk = g.bound(U_DK, io, k.b, k.h, k.tk, k.d, k.dks);
  Tensor dv = g.bound(U_DV, io, k.b, k.h, k.tk, k.d, k.dvs);
  const int64_t sum_s[3] = {k.h * k.tq, k.tq, 1}, acc_s[3] = {k.h * k.tq * k.d, k.tq * k.d, k.d};
  Tensor dsum = g.bound(U_DSUM, CUDNN_DATA_FLOAT, k.b, k.h, k.tq, 1, sum_s);
  /* the f32 dQ accumulator, declared as cudnn-frontend's sdpa backward declares
   * it (F16x16 reordering: the engines keep it in their own tile order) and
   * zeroed by the caller before every run (run()) */
  Tensor dq_acc = g.bound(U_DQ_ACC, CUDNN_DATA_FLOAT, k.b, k.h, k.tq, k.d, acc_s, CUDNN_TENSOR_REORDERING_F16x16);
  bool dropout = k.dropout_p > 0;
  Tensor keep = {}, drop_scale = {}, one = {};
  if (dropout) {
    keep = g.dropout_keep();
    drop_scale = g.scalar(U_DROP_SCALE);
  } else {
    one = g.scalar(U_ONE);
  }

  /* D_i = rowsum(dO * O), divided by 1/(1-p) as the engines expect */
  Tensor t = g.reduce(CUDNN_REDUCE_TENSOR_ADD, g.binary(CUDNN_POINTWISE_MUL, dout, o));
  Tensor inv = dropout ? g.scalar(U_DROP_KEEP) : one;
  g.pointwise(CUDNN_POINTWISE_MUL, t, &inv, nullptr, &dsum);

  /* P = exp(S - Stats), recomputed */
  Tensor s = g.binary(CUDNN_POINTWISE_SUB, g.scaled_scores(q, kt), stats);
  if (k.causal) s = g.causal(s);
  Tensor pr = g.pointwise(CUDNN_POINTWISE_EXP, s);
  Tensor pd = pr;
  if (dropout) pd = g.binary(CUDNN_POINTWISE_MUL, g.binary(CUDNN_POINTWISE_MUL, pr, keep), drop_scale);
  g.matmul(g.transpose_scores(pd), dout, &dv);

  /* dS = P * (dP * Z - D) * scale */
  Tensor dp = g.matmul(dout, vt);
  if (dropout) dp = g.binary(CUDNN_POINTWISE_MUL, dp, keep);
  dp = g.binary(CUDNN_POINTWISE_SUB, dp, dsum);
  Tensor ds = g.binary(CUDNN_POINTWISE_MUL, dp, pr);
  if (dropout) ds = g.binary(CUDNN_POINTWISE_MUL, ds, drop_scale);
  ds = g.binary(CUDNN_POINTWISE_MUL, ds, g.scalar(U_SCALE));
  g.matmul(g.transpose_scores(ds), q, &dk);

  /* dQ through an f32 accumulator, as the engines want it */
  const int64_t kd[4] = {k.b, k.h, k.tk, k.d}, kst[4] = {k.ks[0], k.ks[1], k.ks[2], 1};
  g.matmul(ds, g.reshape(kt, kd, kst, io), &dq_acc);
  g.pointwise(CUDNN_POINTWISE_IDENTITY, dq_acc, nullptr, nullptr, &dq);
}

/* Operation graph, heuristics (mode A, then fallback), first plan that finalizes. */
void make_plan(Plan &p, cudnnHandle_t handle) {
  Desc graph = p.MAKE(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  p.SET(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
  p.SET(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, (int64_t)p.ops.size(), p.ops.data());
  p.FINALIZE(graph);
  cudnnStatus_t last = CUDNN_STATUS_NOT_SUPPORTED;
  const cudnnBackendHeurMode_t modes[2] = {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK};
  for (int m = 0; m < 2 && p.ok && !p.plan; m++) {
    Desc heur = p.MAKE(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
    p.SET(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph);
    p.SET(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &modes[m]);
    if (!p.ok) return;
    if ((last = cudnnBackendFinalize(heur)) != CUDNN_STATUS_SUCCESS) continue; /* no engine for this graph */
    int64_t count = 0;
    if (!p.check(cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0,
                                          &count, nullptr),
                 "cudnnBackendGetAttribute(ENGINEHEUR_RESULTS)", __LINE__))
      return;
    std::vector<Desc> cfgs;
    for (int64_t i = 0; i < count && p.ok; i++) cfgs.push_back(p.MAKE(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR));
    if (!p.ok || count == 0) continue;
    if (!p.check(cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, count,
                                          &count, cfgs.data()),
                 "cudnnBackendGetAttribute(ENGINEHEUR_RESULTS)", __LINE__))
      return;
    for (int64_t i = 0; i < count && !p.plan; i++) {
      Desc plan = p.MAKE(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
      p.SET(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
      p.SET(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfgs[i]);
      if (!p.ok) return;
      if ((last = cudnnBackendFinalize(plan)) != CUDNN_STATUS_SUCCESS) continue; /* this engine declines */
      int64_t ws = 0, got = 0;
      if (!p.check(cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1,
                                            &got, &ws),
                   "cudnnBackendGetAttribute(EXECUTION_PLAN_WORKSPACE_SIZE)", __LINE__))
        return;
      p.plan = plan, p.workspace = ws;
    }
  }
  if (p.ok && !p.plan) {
    char shape[256], detail[512] = "";
    describe(shape, sizeof shape, p.key);
    cudnnGetLastErrorString(detail, sizeof detail);
    ax_cuda_error("AXON_ATTN=cudnn: cuDNN %d.%d.%d has no engine for the attention %s of %s (last status %s%s%s); use "
             "AXON_ATTN=native",
             (int)(cudnnGetVersion() / 10000), (int)(cudnnGetVersion() / 100 % 100), (int)(cudnnGetVersion() % 100),
             pass_name(p.key.pass), shape, cudnnGetErrorString(last), detail[0] ? ": " : "", detail);
    p.ok = false;
  }
}

/* ---------------------------------------------------------------------- */
/* the plan cache                                                         */

constexpr int CACHE_SIZE = 32;
std::mutex cache_lock;
Plan *cache[CACHE_SIZE];
int cache_next;

/* The plan of key, built on first use; NULL after reporting why there is none. */
Plan *plan_for(const Key &key, cudnnHandle_t handle) {
  std::lock_guard<std::mutex> guard(cache_lock);
  for (int i = 0; i < CACHE_SIZE; i++)
    if (cache[i] && !memcmp(&cache[i]->key, &key, sizeof key)) return cache[i];
  Plan *p = new Plan;
  p->key = key;
  cudnnDataType_t io = key.dtype == AX_BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_HALF;
  if (key.pass == FORWARD)
    build_forward(*p, io);
  else
    build_backward(*p, io);
  if (p->ok) make_plan(*p, handle);
  if (!p->ok) {
    delete p;
    return nullptr;
  }
  delete cache[cache_next];
  cache[cache_next] = p;
  cache_next = (cache_next + 1) % CACHE_SIZE;
  return p;
}

/* ---------------------------------------------------------------------- */
/* inputs and execution                                                   */

bool aligned16(const void *ptr) { return ((uintptr_t)ptr & 15) == 0; }

/* What one call binds, by UID. */
struct Bindings {
  const void *q, *k, *v, *o, *dout, *bias;
  void *stats, *dq, *dk, *dv, *dq_acc, *dsum;
  int64_t *seed;
  float scale, lowest, one, drop_scale, drop_keep;
  int32_t seq_q, seq_kv;

  void *ptr(int64_t uid) {
    switch (uid) {
      case U_Q: return (void *)q;
      case U_K: return (void *)k;
      case U_V: return (void *)v;
      case U_O: return (void *)o;
      case U_DO: return (void *)dout;
      case U_BIAS: return (void *)bias;
      case U_STATS: return stats;
      case U_DQ: return dq;
      case U_DK: return dk;
      case U_DV: return dv;
      case U_DQ_ACC: return dq_acc;
      case U_DSUM: return dsum;
      case U_SEED: return seed;
      case U_OFFSET: return seed + 2;
      case U_SCALE: return &scale;
      case U_LOWEST: return &lowest;
      case U_ONE: return &one;
      case U_DROP_SCALE: return &drop_scale;
      case U_DROP_KEEP: return &drop_keep;
      case U_SEQ_Q: return &seq_q;
      case U_SEQ_KV: return &seq_kv;
      default: return nullptr;
    }
  }
};

/* One call: the checks, the key, the scratch (workspace, bias copy, seed, f32
 * temporaries of the backward), and the execution. */
struct Call {
  Key key;
  Bindings bind;
  const ax_kt *mask = nullptr;
  char shape[256];
  bool ok = true;

  /* Reports "AXON_ATTN=cudnn: <why> (<shape>); use AXON_ATTN=native" once. */
  void fail(const char *why) {
    if (ok) ax_cuda_error("AXON_ATTN=cudnn: %s (attention %s, %s); use AXON_ATTN=native", why, pass_name(key.pass), shape);
    ok = false;
  }

  /* b, h, t strides of a [b, h, t, d] view, which cuDNN reads as 16-byte aligned rows. */
  void rows(const char *name, const ax_kt *t, int64_t *s) {
    for (int i = 0; i < 3; i++) s[i] = t->strides[i];
    bool unit = t->shape[3] <= 1 || t->strides[3] == 1;
    bool even = s[0] % 8 == 0 && s[1] % 8 == 0 && s[2] % 8 == 0 && (s[2] != 0 || t->shape[2] <= 1);
    if (ok && (!unit || !even || !aligned16(t->data))) {
      char why[300];
      snprintf(why, sizeof why,
               "cuDNN reads %s as 16-byte aligned rows, but its strides are [%lld, %lld, %lld, %lld] elements at an "
               "address %% 16 = %d",
               name, (long long)t->strides[0], (long long)t->strides[1], (long long)t->strides[2],
               (long long)t->strides[3], (int)((uintptr_t)t->data & 15));
      fail(why);
    }
  }

  Call(int pass, const ax_kt *q, const ax_kt *k, const ax_kt *v, const ax_kt *m, const ax_attn_params *p) {
    memset(&key, 0, sizeof key);
    memset(&bind, 0, sizeof bind);
    key.pass = pass, key.dtype = q->dtype, key.dev = ax_cuda_current_device();
    key.b = p->b, key.h = p->h, key.tq = p->tq, key.tk = p->tk, key.d = p->d;
    key.causal = p->causal != 0;
    key.dropout_p = p->dropout_p > 0 ? p->dropout_p : 0;
    mask = m;
    if (m) {
      key.has_bias = 1;
      for (int i = 0; i < 4; i++) key.bias_dims[i] = i >= 2 || m->strides[i] != 0 ? m->shape[i] : 1;
    }
    describe(shape, sizeof shape, key);
    if (q->dtype != AX_BF16 && q->dtype != AX_F16) {
      ax_cuda_error("AXON_ATTN=cudnn: cuDNN fused attention supports bf16 and f16, got %s; use AXON_ATTN=native",
               q->dtype == AX_F32 ? "f32" : q->dtype == AX_F64 ? "f64" : "another dtype");
      ok = false;
    } else if (p->d % 8 != 0 || p->d > 256) {
      fail("cuDNN fused attention needs D a multiple of 8 up to 256");
    } else if (p->tq == 0 || p->tk == 0) {
      fail("empty sequences are not supported");
    } else if (p->tq > INT32_MAX || p->tk > INT32_MAX) {
      fail("sequences past 2^31 do not fit cuDNN's index arithmetic");
    } else if (p->causal && p->tq > p->tk) {
      fail("causal attention with Tq > Tk leaves query rows with no key, which cuDNN does not support");
    } else if (key.dropout_p >= 1) {
      fail("cuDNN cannot drop every weight (dropout_p = 1)");
    } else if (m && m->dtype != AX_BOOL && m->dtype != q->dtype) {
      fail("the attention mask must be bool or q's dtype");
    }
    rows("q", q, key.qs);
    rows("k", k, key.ks);
    rows("v", v, key.vs);
    bind.q = q->data, bind.k = k->data, bind.v = v->data;
    bind.scale = (float)p->scale;
    /* what masked scores become: cuDNN before 9.10 wants the lowest float, later ones -inf */
    bind.lowest = cudnnGetVersion() < 91000 ? -FLT_MAX : -INFINITY;
    bind.one = 1.0f;
    bind.drop_scale = key.dropout_p > 0 && key.dropout_p < 1 ? (float)(1.0 / (1.0 - key.dropout_p)) : 1.0f;
    bind.drop_keep = (float)(1.0 - key.dropout_p);
    bind.seq_q = (int32_t)p->tq, bind.seq_kv = (int32_t)p->tk;
    seed_value = p->seed, offset_value = p->offset;
  }

  /* lse / Stats: [b, h, tq] f32 (the trailing dim of 1 is implicit). */
  void stats(const ax_kt *lse) {
    key.ls[0] = lse->strides[0], key.ls[1] = lse->strides[1], key.ls[2] = lse->strides[2];
    bind.stats = lse->data;
    if (lse->dtype != AX_F32 || !aligned16(lse->data)) fail("lse must be 16-byte aligned f32");
  }

  /* Whether the mask can be bound as it is: q's dtype, unit stride on keys, rows 16-byte aligned. */
  bool mask_direct() const {
    const ax_kt *m = mask;
    return m->dtype == key.dtype && m->strides[3] == 1 && m->strides[2] % 8 == 0 &&
           (m->strides[2] != 0 || key.tq == 1) && m->strides[1] % 8 == 0 && m->strides[0] % 8 == 0 &&
           aligned16(m->data);
  }

  /* Bias strides for the key; bytes of scratch the bias copy needs (0 when bound directly). */
  size_t bias_layout() {
    if (!mask) return 0;
    int64_t *s = key.bias_strides, *d = key.bias_dims;
    if (mask_direct()) {
      s[3] = 1, s[2] = mask->strides[2];
      s[1] = d[1] == 1 ? d[2] * s[2] : mask->strides[1];
      s[0] = d[0] == 1 ? d[1] * s[1] : mask->strides[0];
      return 0;
    }
    int64_t ld = (key.tk + 7) / 8 * 8;
    s[3] = 1, s[2] = ld, s[1] = key.tq * ld, s[0] = d[1] * key.tq * ld;
    return (size_t)(d[0] * d[1] * key.tq * ld) * 2;
  }

  /* Writes the bias copy into dst (bool -> 0 / lowest, other layouts -> contiguous): attention_mask.cu. */
  void fill_bias(void *dst) {
    if (!ax_cuda_attn_mask_to_bias(dst, key.dtype, mask, key.bias_dims[0], key.bias_dims[1], key.tq, key.tk,
                                   key.bias_strides[2]))
      ok = false;
    bind.bias = dst;
  }

  /* Scratch for the workspace, the bias copy, the seed and (backward) the f32
   * temporaries; executes the plan. */
  void run(cudnnHandle_t handle) {
    size_t bias_bytes = bias_layout();
    if (mask && !bias_bytes) bind.bias = mask->data;
    Plan *plan = ok ? plan_for(key, handle) : nullptr;
    if (!plan) return;
    auto up = [](size_t n) { return (n + 255) / 256 * 256; };
    size_t n_rows = (size_t)(key.b * key.h * key.tq);
    size_t ws = up((size_t)plan->workspace), bias_at = ws, seed_at = bias_at + up(bias_bytes), sum_at = seed_at + 256;
    size_t acc_at = sum_at + (key.pass == BACKWARD ? up(n_rows * 4) : 0);
    size_t total = acc_at + (key.pass == BACKWARD ? up(n_rows * (size_t)key.d * 4) : 0);
    char *scratch = (char *)ax_cuda_scratch_alloc(total);
    if (!scratch) return;
    if (bias_bytes) fill_bias(scratch + bias_at);
    bind.seed = (int64_t *)(scratch + seed_at);
    if (ok && key.dropout_p > 0) {
      ok = ax_cuda_attn_put_seed(bind.seed, seed_value, offset_value);
    }
    if (key.pass == BACKWARD) {
      bind.dsum = scratch + sum_at, bind.dq_acc = scratch + acc_at;
      /* the engines accumulate dQ into it with atomics: zeroed before every run,
       * on every cuDNN version (scratch from the cache holds the last user's bytes) */
      if (ok)
        ok = AX_CUDA_CHECK(cudaMemsetAsync(bind.dq_acc, 0, n_rows * (size_t)key.d * 4, ax_cuda_stream()));
    }
    if (ok) execute(*plan, handle, plan->workspace ? scratch : nullptr);
    ax_cuda_scratch_free(scratch);
  }

  void execute(Plan &plan, cudnnHandle_t handle, void *workspace) {
    std::vector<void *> ptrs;
    for (int64_t uid : plan.uids) ptrs.push_back(bind.ptr(uid));
    Desc pack = nullptr;
    cudnnStatus_t s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &pack);
    const char *what = "cudnnBackendCreateDescriptor(VARIANT_PACK)";
    if (s == CUDNN_STATUS_SUCCESS) {
      what = "cudnnBackendSetAttribute(VARIANT_PACK)";
      s = cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64,
                                   (int64_t)plan.uids.size(), plan.uids.data());
      if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR,
                                     (int64_t)ptrs.size(), ptrs.data());
      if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace);
      if (s == CUDNN_STATUS_SUCCESS) what = "cudnnBackendFinalize(VARIANT_PACK)", s = cudnnBackendFinalize(pack);
      if (s == CUDNN_STATUS_SUCCESS) what = "cudnnBackendExecute", s = cudnnBackendExecute(handle, plan.plan, pack);
    }
    if (pack) cudnnBackendDestroyDescriptor(pack);
    if (s != CUDNN_STATUS_SUCCESS) {
      report(s, what, __LINE__, key);
      ok = false;
    }
  }

  uint64_t seed_value = 0, offset_value = 0;
};

} /* namespace */

extern "C" void ax_cuda_cudnn_attention(ax_kt *out, ax_kt *lse, const ax_kt *q, const ax_kt *k, const ax_kt *v,
                                        const ax_kt *mask, const ax_attn_params *p) {
  if (p->b == 0 || p->h == 0 || p->tq == 0) return;
  Call c(FORWARD, q, k, v, mask, p);
  c.rows("out", out, c.key.os);
  c.stats(lse);
  c.bind.o = out->data;
  cudnnHandle_t h = c.ok ? ax_cuda_cudnn() : nullptr;
  if (h) c.run(h);
}

extern "C" void ax_cuda_cudnn_attention_backward(ax_kt *gq, ax_kt *gk, ax_kt *gv, const ax_kt *gout,
                                                 const ax_kt *q, const ax_kt *k, const ax_kt *v, const ax_kt *out,
                                                 const ax_kt *lse, const ax_kt *mask, const ax_attn_params *p) {
  if (p->b == 0 || p->h == 0) return;
  Call c(BACKWARD, q, k, v, mask, p);
  c.rows("out", out, c.key.os);
  c.rows("the output gradient", gout, c.key.dos);
  c.rows("gq", gq, c.key.dqs);
  c.rows("gk", gk, c.key.dks);
  c.rows("gv", gv, c.key.dvs);
  c.stats(lse);
  c.bind.o = out->data, c.bind.dout = gout->data;
  c.bind.dq = gq->data, c.bind.dk = gk->data, c.bind.dv = gv->data;
  cudnnHandle_t h = c.ok ? ax_cuda_cudnn() : nullptr;
  if (h) c.run(h);
}

#endif /* AXON_HAVE_CUDNN */
