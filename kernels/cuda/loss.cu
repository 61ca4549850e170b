/* SPDX-License-Identifier: BSD-3-Clause */
/* Fused cross-entropy on CUDA (see kernels/backend.h): logits [rows, cols]
 * contiguous, target i64 [rows], lse [rows] of the accumulation type (f32, or
 * f64 for f64 logits), loss [rows] (and the backward's gloss) of the logits'
 * dtype or of the accumulation type (the fused classifier keeps the loss of
 * bf16 / f16 logits in f32).
 *
 * Forward: one pass over each row (a warp per row up to 1024 classes, else a
 * block) keeps the online (max, sum of exp) and, with label smoothing, the sum
 * of the logits; the probabilities are never written. Ignored rows are not
 * read at all. Backward: one pass per row writing
 * g (exp(x - lse) - ls/cols), and g ((exp(x - lse) - 1) + ls (1 - 1/cols)) at the
 * target (the same, arranged without cancellation), 0 for ignored rows.
 * The targets stay on the device: a target outside [0, cols) that is not
 * ignore_index gives a NaN loss for its row (and no one-hot term in the
 * backward) instead of an out-of-bounds read. */
#include "kernels/cuda/rows.cuh"

namespace {

using axr::narrow;
using axr::widen;

struct CeArgs {
  const void *logits;
  const int64_t *target;
  void *loss;            /* forward */
  void *lse;             /* forward writes, backward reads */
  const void *gloss;     /* backward */
  void *glogits;         /* backward */
  int64_t rows, cols, target_stride, loss_stride, lse_stride, gloss_stride;
  int64_t ignore_index;
  double label_smoothing;
  bool vec;
  bool loss_acc; /* loss / gloss hold the accumulation type, not the logits' */
};

template <typename T, typename A> __device__ __forceinline__ void store_loss(const CeArgs &a, int64_t r, A l) {
  if (a.loss_acc) ((A *)a.loss)[r * a.loss_stride] = l;
  else ((T *)a.loss)[r * a.loss_stride] = narrow<T, A>(l);
}

template <typename T, typename A>
__global__ void cross_entropy_kernel(CeArgs a) {
  int64_t r = (int64_t)blockIdx.x * blockDim.y + threadIdx.y;
  if (r >= a.rows) return; /* whole groups only: a warp (blockDim.y > 1) or the block */
  int64_t t = a.target[r * a.target_stride];
  A *lse = (A *)a.lse + r * a.lse_stride;
  if (t == a.ignore_index) {
    if (threadIdx.x == 0) {
      store_loss<T, A>(a, r, A(0));
      *lse = A(0);
    }
    return;
  }
  const T *x = (const T *)a.logits + r * a.cols;
  A ls = (A)a.label_smoothing;
  axr::MaxSum<A> p = axr::ms_empty<A>();
  A sum = 0;
  if (ls > A(0)) {
    axr::visit1(x, a.cols, a.vec, [&](int64_t, T v) {
      A w = widen<A>(v);
      axr::ms_add(p, w);
      sum += w;
    });
    sum = axr::group_reduce(sum, axr::SumF<A>());
  } else {
    axr::visit1(x, a.cols, a.vec, [&](int64_t, T v) { axr::ms_add(p, widen<A>(v)); });
  }
  p = axr::ms_final(axr::group_reduce(p, axr::MaxSumF<A>()));
  if (threadIdx.x == 0) {
    A z = p.m + axr::lg(p.s);
    A xt = t >= 0 && t < a.cols ? widen<A>(x[t]) : (A)NAN;
    /* z - (1 - ls) xt - ls mean(x), arranged without cancellation: a loss near 0
     * (one class, or a confident hit) stays exact instead of f32 noise of |x| */
    A l = (z - xt) + (ls > A(0) ? ls * (xt - sum / (A)a.cols) : A(0));
    store_loss<T, A>(a, r, l);
    *lse = z;
  }
}

template <typename T, typename A>
__global__ void cross_entropy_backward_kernel(CeArgs a) {
  int64_t r = (int64_t)blockIdx.x * blockDim.y + threadIdx.y;
  if (r >= a.rows) return;
  int64_t t = a.target[r * a.target_stride];
  const T *x = (const T *)a.logits + r * a.cols;
  T *gx = (T *)a.glogits + r * a.cols;
  if (t == a.ignore_index) {
    axr::map1(gx, x, a.cols, a.vec, [](int64_t, T) { return narrow<T, A>(A(0)); });
    return;
  }
  A g = a.loss_acc ? ((const A *)a.gloss)[r * a.gloss_stride] : widen<A>(((const T *)a.gloss)[r * a.gloss_stride]);
  A z = ((const A *)a.lse)[r * a.lse_stride];
  A ls = (A)a.label_smoothing, off = ls / (A)a.cols, keep = ls * (A(1) - A(1) / (A)a.cols);
  /* g (p - ls/C) off the target, g ((p - 1) + ls (1 - 1/C)) on it: no cancellation of g p against g (1 - ls) */
  axr::map1(gx, x, a.cols, a.vec, [&](int64_t c, T v) {
    A p = axr::ex(widen<A>(v) - z);
    return narrow<T, A>(c == t ? g * ((p - A(1)) + keep) : g * (p - off));
  });
}

static int64_t stride0(const ax_kt *t) { return t->ndim ? t->strides[0] : 0; }

static bool check_lse(const char *op, const ax_kt *logits, const ax_kt *lse, const ax_kt *loss) {
  int want = logits->dtype == AX_F64 ? AX_F64 : AX_F32;
  if (lse->dtype != want) {
    ax_cuda_error("%s: lse must be dtype %d for logits of dtype %d, got %d", op, want, logits->dtype, lse->dtype);
    return false;
  }
  if (loss->dtype != logits->dtype && loss->dtype != want) {
    ax_cuda_error("%s: the loss must be dtype %d or %d for logits of dtype %d, got %d", op, logits->dtype, want,
             logits->dtype, loss->dtype);
    return false;
  }
  return true;
}

template <typename T>
void cross_entropy_run(CeArgs a, bool backward) {
  typedef typename ax_acc<T>::type A;
  if (a.rows == 0) return;
  dim3 grid, block;
  axr::row_launch_shape(a.rows, a.cols, 1024, &grid, &block);
  cudaStream_t st = ax_cuda_stream();
  if (backward) {
    a.vec = axr::can_vec<T>(a.cols, a.logits, a.glogits);
    ax_cuda_launch(cross_entropy_backward_kernel<T, A>, grid, block, 0, st, a);
    AX_CUDA_LAUNCH_CHECK("cross_entropy_backward_kernel");
  } else {
    a.vec = axr::can_vec<T>(a.cols, a.logits);
    ax_cuda_launch(cross_entropy_kernel<T, A>, grid, block, 0, st, a);
    AX_CUDA_LAUNCH_CHECK("cross_entropy_kernel");
  }
}

CeArgs make_args(const ax_kt *logits, const ax_kt *lse, const ax_kt *target, int64_t ignore_index,
                 double label_smoothing) {
  CeArgs a;
  memset(&a, 0, sizeof a);
  a.logits = logits->data;
  a.target = (const int64_t *)target->data;
  a.lse = lse->data;
  a.rows = logits->shape[0];
  a.cols = logits->shape[1];
  a.target_stride = stride0(target);
  a.lse_stride = stride0(lse);
  a.ignore_index = ignore_index;
  a.label_smoothing = label_smoothing;
  return a;
}

}  // namespace

extern "C" ax_kstatus ax_cuda_cross_entropy(ax_kt *loss, ax_kt *lse, const ax_kt *logits, const ax_kt *target,
                                      int64_t ignore_index, double label_smoothing) {
  AX_CUDA_ENTRY;
  if (!check_lse("ax_cuda_cross_entropy", logits, lse, loss)) return ax_cuda_kstatus();
  CeArgs a = make_args(logits, lse, target, ignore_index, label_smoothing);
  a.loss = loss->data;
  a.loss_acc = loss->dtype != logits->dtype;
  a.loss_stride = stride0(loss);
  AX_CUDA_DISPATCH_FLOAT(logits->dtype, "ax_cuda_cross_entropy", cross_entropy_run<scalar_t>(a, false))
  return ax_cuda_kstatus();
}

extern "C" ax_kstatus ax_cuda_cross_entropy_backward(ax_kt *glogits, const ax_kt *gloss, const ax_kt *logits,
                                               const ax_kt *lse, const ax_kt *target, int64_t ignore_index,
                                               double label_smoothing) {
  AX_CUDA_ENTRY;
  if (!check_lse("ax_cuda_cross_entropy_backward", logits, lse, gloss)) return ax_cuda_kstatus();
  CeArgs a = make_args(logits, lse, target, ignore_index, label_smoothing);
  a.gloss = gloss->data;
  a.loss_acc = gloss->dtype != logits->dtype;
  a.gloss_stride = stride0(gloss);
  a.glogits = glogits->data;
  AX_CUDA_DISPATCH_FLOAT(logits->dtype, "ax_cuda_cross_entropy_backward", cross_entropy_run<scalar_t>(a, true))
  return ax_cuda_kstatus();
}
