/* SPDX-License-Identifier: BSD-3-Clause */
/* Flash attention on CUDA (see ax_attn_params in kernels/backend.h): the
 * Tq x Tk matrix is never stored; P is recomputed in the backward from the
 * row log-sum-exp saved by the forward.
 *
 * Two implementations:
 *
 * - Tensor cores: bf16 / f16 with D = 64 or 128, 16-byte aligned rows, sm_80+.
 *   attention_mma.cuh, the FlashAttention-2 forward: one CTA per 64 query rows
 *   of one head, each warp 16 rows, QK^T and PV with mma.sync m16n8k16
 *   accumulating in f32, K/V tiles double-buffered with cp.async, online
 *   softmax in registers. attention_mma_bwd.cuh, the FlashAttention-2 backward:
 *   D_i as below, then dK, dV with one CTA per 64 keys walking double-buffered
 *   query tiles, and dQ with one CTA per 64 query rows walking key tiles; every
 *   gradient element summed by one thread, no atomics (the same bits every
 *   run). Both have only been checked by the host emulator
 *   (tests/parity/attention_emulate.cpp, the kernels compiled as host C++ with
 *   AX_CUDA_EMULATE), never run on a GPU yet: AXON_ATTN_MMA=0 (read once) turns
 *   both off, so a GPU session that finds them wrong can fall back to:
 *
 * - Warp-per-row kernels for every dtype and D <= 256 (f32, f64, and the
 *   half types at other head dims or on unaligned rows):
 *   forward    one CTA per 16 query rows of one head, 4 warps x 4 rows; K/V
 *              tiles of 32 keys in shared memory, lane j scores key j, the
 *              online softmax runs on warp shuffles and each lane keeps D/32
 *              output columns.
 *   backward   D_i = rowsum(dO * O); then dK, dV with one CTA per 16 keys
 *              (each warp owns 4 keys in registers and walks the query rows,
 *              staged 16 at a time in shared memory) and dQ with one CTA per
 *              16 query rows walking the key tiles. Every gradient element is
 *              summed by one thread in a fixed order: no atomics, the same bits
 *              every run.
 *   Causal: query tiles stop at the diagonal, key tiles start at it.
 *
 * Dropout uses the Philox draw of element ((b*H + h)*Tq + i)*Tk + j at
 * (seed, offset), compared with p in f64 for f64 and in f32 otherwise, like
 * the CPU (kernels/cpu/attention.c). A row that sees no key gives 0 and
 * lse = +inf.
 *
 * AXON_ATTN=cudnn (read once) sends both entries to attention_cudnn.cu.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/common.cuh"
#include "kernels/philox.h"
#include "axon/settings.h"

extern "C" bool ax_cuda_cudnn_attention_selected(const ax_kt *q, const ax_kt *k, const ax_kt *v, const ax_kt *m,
                                                 const ax_attn_params *p);
extern "C" void ax_cuda_cudnn_attention(ax_kt *out, ax_kt *lse, const ax_kt *q, const ax_kt *k, const ax_kt *v,
                                        const ax_kt *mask, const ax_attn_params *p);
extern "C" void ax_cuda_cudnn_attention_backward(ax_kt *gq, ax_kt *gk, ax_kt *gv, const ax_kt *gout,
                                                 const ax_kt *q, const ax_kt *k, const ax_kt *v, const ax_kt *out,
                                                 const ax_kt *lse, const ax_kt *mask, const ax_attn_params *p);


namespace {

/* One [B, H, T, D] view with unit stride on D: the strides of b, h and t. */
struct Rows {
  void *data;
  int64_t sb, sh, st;
};

Rows rows_of(const ax_kt *t) { return Rows{t->data, t->strides[0], t->strides[1], t->strides[2]}; }

struct Args {
  Rows q, k, v, out, gout, gq, gk, gv;
  void *lse;         /* [B, H, Tq], the accumulation type */
  void *di;          /* backward: rowsum(dO * O), [B, H, Tq] */
  const void *mask;  /* NULL, bool, or the element type */
  int mask_bool;
  int64_t ms[4];
  int b, h, tq, tk, d;
  double scale;
  int causal;
  double dropout_p;
  uint64_t seed, offset;
};

constexpr int WARPS = 4, ROWS_PER_WARP = 4, ROWS = WARPS * ROWS_PER_WARP, KEYS = 32;

__device__ __forceinline__ int visible_end(const Args &a, int i) {
  if (!a.causal) return a.tk;
  int e = i + a.tk - a.tq + 1;
  return e < 0 ? 0 : e > a.tk ? a.tk : e;
}

/* The score s of (i, j) after bounds, causal and the mask; -inf when hidden. */
template <typename T, typename A>
__device__ __forceinline__ A masked_score(const Args &a, int b, int h, int i, int j, A s) {
  if (i >= a.tq || j >= a.tk || j >= visible_end(a, i)) return -INFINITY;
  if (a.mask) {
    int64_t off = b * a.ms[0] + h * a.ms[1] + (int64_t)i * a.ms[2] + (int64_t)j * a.ms[3];
    if (a.mask_bool) {
      if (!((const uint8_t *)a.mask)[off]) return -INFINITY;
    } else {
      s += ax_acc_load(((const T *)a.mask)[off]);
    }
  }
  return s;
}

/* The dropout factor of (i, j): 0 when the draw is < p, else 1/(1-p). */
template <typename A>
__device__ __forceinline__ A dropout_factor(const Args &a, int b, int h, int i, int j) {
  if (a.dropout_p <= 0) return 1;
  uint64_t idx = (((uint64_t)b * a.h + h) * a.tq + i) * a.tk + j;
  ax_philox4 r = ax_philox4x32_10(idx, a.offset, a.seed);
  bool dropped;
  if (sizeof(A) == 8)
    dropped = ax_uint2_to_unit_double(r.v[0], r.v[1]) < a.dropout_p;
  else
    dropped = ax_uint_to_unit_float(r.v[0]) < (float)a.dropout_p;
  return dropped ? (A)0 : (A)(a.dropout_p < 1 ? 1.0 / (1.0 - a.dropout_p) : 0.0);
}

template <typename A> __device__ __forceinline__ A exp_acc(A x) { return exp(x); }
template <> __device__ __forceinline__ float exp_acc<float>(float x) { return expf(x); }

template <typename A> __device__ __forceinline__ A warp_sum(A v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
template <typename A> __device__ __forceinline__ A warp_max(A v) {
  for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

template <typename T> __device__ __forceinline__ const T *row_ptr(const Rows &r, int b, int h, int i) {
  return (const T *)r.data + b * r.sb + h * r.sh + (int64_t)i * r.st;
}
template <typename T> __device__ __forceinline__ T *row_mut(const Rows &r, int b, int h, int i) {
  return (T *)r.data + b * r.sb + h * r.sh + (int64_t)i * r.st;
}

/* Rows [r0, r0 + n) of a view into shared memory (row stride ld), zero past the end or past D. */
template <typename T, typename A>
__device__ void stage_rows(A *dst, int ld, const Rows &src, int b, int h, int r0, int n, int limit, int d, int width) {
  for (int idx = threadIdx.x; idx < n * width; idx += blockDim.x) {
    int r = idx / width, c = idx % width;
    dst[r * ld + c] = r0 + r < limit && c < d ? ax_acc_load(row_ptr<T>(src, b, h, r0 + r)[c]) : (A)0;
  }
}

/* One row into registers: lane owns columns lane + 32 c. */
template <typename T, typename A, int NC>
__device__ __forceinline__ void load_row(A (&x)[NC], const Rows &src, int b, int h, int i, int d, int lane) {
  const T *p = row_ptr<T>(src, b, h, i);
#pragma unroll
  for (int c = 0; c < NC; c++) x[c] = lane + 32 * c < d ? ax_acc_load(p[lane + 32 * c]) : (A)0;
}

template <typename A, int NC> __device__ __forceinline__ A warp_dot(const A (&x)[NC], const A *y, int lane) {
  A s = 0;
#pragma unroll
  for (int c = 0; c < NC; c++) s += x[c] * y[lane + 32 * c];
  return warp_sum(s);
}

/* ---------------- forward ---------------- */

template <typename T, int NC>
__global__ void __launch_bounds__(WARPS * 32) forward_kernel(Args a, int tiles) {
  typedef typename ax_acc<T>::type A;
  AX_DYNAMIC_SMEM(unsigned char, smem_raw);
  const int W = 32 * NC; /* padded head dim */
  A *qs = (A *)smem_raw, *ks = qs + ROWS * W, *vs = ks + KEYS * (W + 1);
  const int bh = blockIdx.x / tiles, i0 = (blockIdx.x % tiles) * ROWS, b = bh / a.h, h = bh % a.h;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  stage_rows<T, A>(qs, W, a.q, b, h, i0, ROWS, a.tq, a.d, W);
  A m[ROWS_PER_WARP], l[ROWS_PER_WARP], o[ROWS_PER_WARP][NC];
#pragma unroll
  for (int r = 0; r < ROWS_PER_WARP; r++) {
    m[r] = -INFINITY, l[r] = 0;
#pragma unroll
    for (int c = 0; c < NC; c++) o[r][c] = 0;
  }
  int last = min(i0 + ROWS, a.tq) - 1, kend = visible_end(a, last);
  for (int j0 = 0; j0 < kend; j0 += KEYS) {
    __syncthreads();
    stage_rows<T, A>(ks, W + 1, a.k, b, h, j0, KEYS, a.tk, a.d, W);
    stage_rows<T, A>(vs, W, a.v, b, h, j0, KEYS, a.tk, a.d, W);
    __syncthreads();
#pragma unroll
    for (int r = 0; r < ROWS_PER_WARP; r++) {
      int lr = warp * ROWS_PER_WARP + r, i = i0 + lr, j = j0 + lane;
      A s = 0;
      for (int c = 0; c < W; c++) s += qs[lr * W + c] * ks[lane * (W + 1) + c];
      s = masked_score<T, A>(a, b, h, i, j, s * (A)a.scale);
      A mnew = max(m[r], warp_max(s));
      if (mnew == -INFINITY) continue; /* warp-uniform: nothing visible yet */
      A e = s == -INFINITY ? (A)0 : exp_acc(s - mnew), corr = exp_acc(m[r] - mnew);
      l[r] = l[r] * corr + warp_sum(e);
      m[r] = mnew;
      e *= dropout_factor<A>(a, b, h, i, j);
#pragma unroll
      for (int c = 0; c < NC; c++) o[r][c] *= corr;
      for (int jj = 0; jj < KEYS; jj++) {
        A pj = __shfl_sync(0xffffffffu, e, jj);
#pragma unroll
        for (int c = 0; c < NC; c++) o[r][c] += pj * vs[jj * W + lane + 32 * c];
      }
    }
  }
#pragma unroll
  for (int r = 0; r < ROWS_PER_WARP; r++) {
    int i = i0 + warp * ROWS_PER_WARP + r;
    if (i >= a.tq) continue;
    A inv = l[r] > 0 ? 1 / l[r] : (A)0;
    T *orow = row_mut<T>(a.out, b, h, i);
#pragma unroll
    for (int c = 0; c < NC; c++)
      if (lane + 32 * c < a.d) orow[lane + 32 * c] = ax_acc_store<T>(o[r][c] * inv);
    if (lane == 0) ((A *)a.lse)[(int64_t)bh * a.tq + i] = l[r] > 0 ? m[r] + log(l[r]) : (A)INFINITY;
  }
}

/* ---------------- backward ---------------- */

template <typename T>
__global__ void row_dot_kernel(Args a, int) { /* di = rowsum(dO * O), one warp per row */
  typedef typename ax_acc<T>::type A;
  int64_t row = (int64_t)blockIdx.x * WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= (int64_t)a.b * a.h * a.tq) return;
  int i = (int)(row % a.tq), bh = (int)(row / a.tq), b = bh / a.h, h = bh % a.h;
  const T *o = row_ptr<T>(a.out, b, h, i), *g = row_ptr<T>(a.gout, b, h, i);
  A s = 0;
  for (int c = lane; c < a.d; c += 32) s += ax_acc_load(o[c]) * ax_acc_load(g[c]);
  s = warp_sum(s);
  if (lane == 0) ((A *)a.di)[row] = s;
}

/* The gradient pieces of one (query i, key j): p (P Z), the weight that multiplied
 * v_j, and ds, the gradient of the score (scale not applied). */
template <typename T, typename A>
__device__ __forceinline__ void pair_grads(const Args &a, int b, int h, int i, int j, A qk, A dov, A lse_i, A di_i,
                                           A &pz, A &ds) {
  A s = masked_score<T, A>(a, b, h, i, j, qk * (A)a.scale);
  A p = s == -INFINITY || lse_i == (A)INFINITY ? (A)0 : exp_acc(s - lse_i);
  A z = p != 0 ? dropout_factor<A>(a, b, h, i, j) : (A)0;
  pz = p * z;
  ds = p * (dov * z - di_i);
}

/* dK, dV: one CTA per KEYS_BWD keys; warp w owns keys j0 + KPW w + kk. */
constexpr int KPW = 4, KEYS_BWD = WARPS * KPW;

template <typename T, int NC>
__global__ void __launch_bounds__(WARPS * 32) dkdv_kernel(Args a, int tiles) {
  typedef typename ax_acc<T>::type A;
  AX_DYNAMIC_SMEM(unsigned char, smem_raw);
  const int W = 32 * NC;
  A *qs = (A *)smem_raw, *gs = qs + ROWS * W, *ls = gs + ROWS * W, *ds_ = ls + ROWS;
  const int bh = blockIdx.x / tiles, j0 = (blockIdx.x % tiles) * KEYS_BWD, b = bh / a.h, h = bh % a.h;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  A kr[KPW][NC], vr[KPW][NC], dk[KPW][NC], dv[KPW][NC];
#pragma unroll
  for (int kk = 0; kk < KPW; kk++) {
    int j = min(j0 + warp * KPW + kk, a.tk - 1);
    load_row<T, A, NC>(kr[kk], a.k, b, h, j, a.d, lane);
    load_row<T, A, NC>(vr[kk], a.v, b, h, j, a.d, lane);
#pragma unroll
    for (int c = 0; c < NC; c++) dk[kk][c] = dv[kk][c] = 0;
  }
  /* under causal, query i sees key j0 once i >= j0 - (tk - tq) */
  int istart = a.causal ? max(0, j0 - (a.tk - a.tq)) : 0;
  istart -= istart % ROWS;
  for (int i0 = istart; i0 < a.tq; i0 += ROWS) {
    __syncthreads();
    stage_rows<T, A>(qs, W, a.q, b, h, i0, ROWS, a.tq, a.d, W);
    stage_rows<T, A>(gs, W, a.gout, b, h, i0, ROWS, a.tq, a.d, W);
    for (int r = threadIdx.x; r < ROWS; r += blockDim.x) {
      int64_t row = (int64_t)bh * a.tq + i0 + r;
      ls[r] = i0 + r < a.tq ? ((const A *)a.lse)[row] : (A)INFINITY;
      ds_[r] = i0 + r < a.tq ? ((const A *)a.di)[row] : (A)0;
    }
    __syncthreads();
    for (int r = 0; r < ROWS && i0 + r < a.tq; r++) {
#pragma unroll
      for (int kk = 0; kk < KPW; kk++) {
        int j = j0 + warp * KPW + kk;
        A qk = warp_dot<A, NC>(kr[kk], qs + r * W, lane), dov = warp_dot<A, NC>(vr[kk], gs + r * W, lane);
        A pz, ds;
        pair_grads<T, A>(a, b, h, i0 + r, j, qk, dov, ls[r], ds_[r], pz, ds);
#pragma unroll
        for (int c = 0; c < NC; c++) {
          dv[kk][c] += pz * gs[r * W + lane + 32 * c];
          dk[kk][c] += ds * qs[r * W + lane + 32 * c];
        }
      }
    }
  }
#pragma unroll
  for (int kk = 0; kk < KPW; kk++) {
    int j = j0 + warp * KPW + kk;
    if (j >= a.tk) continue;
    T *gk = row_mut<T>(a.gk, b, h, j), *gv = row_mut<T>(a.gv, b, h, j);
#pragma unroll
    for (int c = 0; c < NC; c++)
      if (lane + 32 * c < a.d) {
        gk[lane + 32 * c] = ax_acc_store<T>(dk[kk][c] * (A)a.scale);
        gv[lane + 32 * c] = ax_acc_store<T>(dv[kk][c]);
      }
  }
}

/* dQ: one CTA per ROWS query rows; warp w owns rows i0 + ROWS_PER_WARP w + r. */
template <typename T, int NC>
__global__ void __launch_bounds__(WARPS * 32) dq_kernel(Args a, int tiles) {
  typedef typename ax_acc<T>::type A;
  AX_DYNAMIC_SMEM(unsigned char, smem_raw);
  const int W = 32 * NC;
  A *ks = (A *)smem_raw, *vs = ks + KEYS * W;
  const int bh = blockIdx.x / tiles, i0 = (blockIdx.x % tiles) * ROWS, b = bh / a.h, h = bh % a.h;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  A qr[ROWS_PER_WARP][NC], gr[ROWS_PER_WARP][NC], dq[ROWS_PER_WARP][NC], lse[ROWS_PER_WARP], di[ROWS_PER_WARP];
#pragma unroll
  for (int r = 0; r < ROWS_PER_WARP; r++) {
    int i = min(i0 + warp * ROWS_PER_WARP + r, a.tq - 1);
    load_row<T, A, NC>(qr[r], a.q, b, h, i, a.d, lane);
    load_row<T, A, NC>(gr[r], a.gout, b, h, i, a.d, lane);
    lse[r] = ((const A *)a.lse)[(int64_t)bh * a.tq + i];
    di[r] = ((const A *)a.di)[(int64_t)bh * a.tq + i];
#pragma unroll
    for (int c = 0; c < NC; c++) dq[r][c] = 0;
  }
  int kend = visible_end(a, min(i0 + ROWS, a.tq) - 1);
  for (int j0 = 0; j0 < kend; j0 += KEYS) {
    __syncthreads();
    stage_rows<T, A>(ks, W, a.k, b, h, j0, KEYS, a.tk, a.d, W);
    stage_rows<T, A>(vs, W, a.v, b, h, j0, KEYS, a.tk, a.d, W);
    __syncthreads();
    for (int jj = 0; jj < KEYS && j0 + jj < kend; jj++) {
#pragma unroll
      for (int r = 0; r < ROWS_PER_WARP; r++) {
        A qk = warp_dot<A, NC>(qr[r], ks + jj * W, lane), dov = warp_dot<A, NC>(gr[r], vs + jj * W, lane);
        A pz, ds;
        pair_grads<T, A>(a, b, h, i0 + warp * ROWS_PER_WARP + r, j0 + jj, qk, dov, lse[r], di[r], pz, ds);
#pragma unroll
        for (int c = 0; c < NC; c++) dq[r][c] += ds * ks[jj * W + lane + 32 * c];
      }
    }
  }
#pragma unroll
  for (int r = 0; r < ROWS_PER_WARP; r++) {
    int i = i0 + warp * ROWS_PER_WARP + r;
    if (i >= a.tq) continue;
    T *g = row_mut<T>(a.gq, b, h, i);
#pragma unroll
    for (int c = 0; c < NC; c++)
      if (lane + 32 * c < a.d) g[lane + 32 * c] = ax_acc_store<T>(dq[r][c] * (A)a.scale);
  }
}

/* ---------------- launches ---------------- */

Args args_of(const ax_kt *q, const ax_kt *k, const ax_kt *v, const ax_kt *mask, const ax_attn_params *p) {
  Args a;
  memset(&a, 0, sizeof a);
  a.q = rows_of(q), a.k = rows_of(k), a.v = rows_of(v);
  if (mask) {
    a.mask = mask->data;
    a.mask_bool = mask->dtype == AX_BOOL;
    for (int d = 0; d < 4; d++) a.ms[d] = mask->strides[d];
  }
  a.b = (int)p->b, a.h = (int)p->h, a.tq = (int)p->tq, a.tk = (int)p->tk, a.d = (int)p->d;
  a.scale = p->scale, a.causal = p->causal, a.dropout_p = p->dropout_p, a.seed = p->seed, a.offset = p->offset;
  return a;
}

bool check_sizes(const char *op, const ax_attn_params *p) {
  if (p->d > 256) {
    ax_cuda_error("%s: head dim D = %lld is not supported on CUDA (at most 256)", op, (long long)p->d);
    return false;
  }
  if (p->tq > INT32_MAX / 2 || p->tk > INT32_MAX / 2 || p->b * p->h > INT32_MAX / 2) {
    ax_cuda_error("%s: sizes B=%lld H=%lld Tq=%lld Tk=%lld are too large", op, (long long)p->b, (long long)p->h,
             (long long)p->tq, (long long)p->tk);
    return false;
  }
  return true;
}

template <typename K> bool launch(K kernel, const char *name, int64_t blocks, size_t smem, const Args &a, int tiles) {
  if (blocks <= 0) return true;
  if (blocks > INT32_MAX) {
    ax_cuda_error("%s: %lld blocks is too many", name, (long long)blocks);
    return false;
  }
  if (smem > 48 * 1024 &&
      !AX_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem)))
    return false;
  ax_cuda_launch(kernel, (unsigned)blocks, WARPS * 32, smem, ax_cuda_stream(), a, tiles);
  return ax_cuda_check_at(cudaGetLastError(), name, __FILE__, __LINE__);
}

template <typename T, int NC> void forward_simple(const Args &a) {
  typedef typename ax_acc<T>::type A;
  const int W = 32 * NC, tiles = (a.tq + ROWS - 1) / ROWS;
  size_t smem = sizeof(A) * (size_t)(ROWS * W + KEYS * (W + 1) + KEYS * W);
  launch(forward_kernel<T, NC>, "launch of attention forward_kernel", (int64_t)a.b * a.h * tiles, smem, a, tiles);
}

template <typename T, int NC> void backward_simple(const Args &a) {
  typedef typename ax_acc<T>::type A;
  const int W = 32 * NC;
  int64_t rows = (int64_t)a.b * a.h * a.tq;
  if (!launch(row_dot_kernel<T>, "launch of attention row_dot_kernel", (rows + WARPS - 1) / WARPS, 0, a, 0)) return;
  int ktiles = (a.tk + KEYS_BWD - 1) / KEYS_BWD, qtiles = (a.tq + ROWS - 1) / ROWS;
  size_t smem_kv = sizeof(A) * (size_t)(2 * ROWS * W + 2 * ROWS), smem_q = sizeof(A) * (size_t)(2 * KEYS * W);
  if (!launch(dkdv_kernel<T, NC>, "launch of attention dkdv_kernel", (int64_t)a.b * a.h * ktiles, smem_kv, a,
              ktiles))
    return;
  launch(dq_kernel<T, NC>, "launch of attention dq_kernel", (int64_t)a.b * a.h * qtiles, smem_q, a, qtiles);
}

/* NC = D/32 rounded up to 2, 4 or 8: three instantiations per dtype cover D <= 256. */
#define AX_ATTN_BY_WIDTH(d, fn, ...)      \
  do {                                    \
    if ((d) <= 64) fn<scalar_t, 2>(__VA_ARGS__); \
    else if ((d) <= 128) fn<scalar_t, 4>(__VA_ARGS__); \
    else fn<scalar_t, 8>(__VA_ARGS__);    \
  } while (0)

} /* namespace */

#include "kernels/cuda/attention_mma.cuh"
#include "kernels/cuda/attention_mma_bwd.cuh"

extern "C" ax_kstatus ax_cuda_attention(ax_kt *out, ax_kt *lse, const ax_kt *q, const ax_kt *k, const ax_kt *v,
                                  const ax_kt *mask, const ax_attn_params *p) {
  AX_CUDA_ENTRY;
  if (ax_cuda_cudnn_attention_selected(q, k, v, mask, p)) {
    ax_cuda_cudnn_attention(out, lse, q, k, v, mask, p);
    return ax_cuda_kstatus();
  }
  if (!check_sizes("ax_cuda_attention", p)) return ax_cuda_kstatus();
  Args a = args_of(q, k, v, mask, p);
  a.out = rows_of(out);
  a.lse = lse->data;
  if (ax_attn_mma_forward(a, q->dtype)) return ax_cuda_kstatus();
  AX_CUDA_DISPATCH_FLOAT(q->dtype, "ax_cuda_attention", AX_ATTN_BY_WIDTH(a.d, forward_simple, a));
  return ax_cuda_kstatus();
}

extern "C" ax_kstatus ax_cuda_attention_backward(ax_kt *gq, ax_kt *gk, ax_kt *gv, const ax_kt *gout, const ax_kt *q,
                                           const ax_kt *k, const ax_kt *v, const ax_kt *out, const ax_kt *lse,
                                           const ax_kt *mask, const ax_attn_params *p) {
  AX_CUDA_ENTRY;
  if (ax_cuda_cudnn_attention_selected(q, k, v, mask, p)) {
    ax_cuda_cudnn_attention_backward(gq, gk, gv, gout, q, k, v, out, lse, mask, p);
    return ax_cuda_kstatus();
  }
  if (!check_sizes("ax_cuda_attention_backward", p)) return ax_cuda_kstatus();
  Args a = args_of(q, k, v, mask, p);
  a.out = rows_of(out), a.gout = rows_of(gout), a.gq = rows_of(gq), a.gk = rows_of(gk), a.gv = rows_of(gv);
  a.lse = lse->data;
  int64_t rows = p->b * p->h * p->tq;
  size_t es = q->dtype == AX_F64 ? 8 : 4;
  a.di = ax_cuda_scratch_alloc((size_t)(rows > 0 ? rows : 1) * es);
  if (!a.di) return ax_cuda_kstatus();
  if (!ax_attn_mma_backward(a, q->dtype))
    AX_CUDA_DISPATCH_FLOAT(q->dtype, "ax_cuda_attention_backward", AX_ATTN_BY_WIDTH(a.d, backward_simple, a));
  ax_cuda_scratch_free(a.di);
  return ax_cuda_kstatus();
}
