/* SPDX-License-Identifier: BSD-3-Clause */
/* 2-D convolution through cuDNN: the alternate to conv.cu's implicit GEMM,
 * chosen with AXON_CONV=cudnn. Compiled only when CMake found cuDNN
 * (AXON_HAVE_CUDNN); conv.cu dispatches here.
 *
 * Algorithms come from cuDNN's heuristics (cudnnGet*_v7, best first, skipping
 * any whose workspace would not fit) and are remembered per geometry, so a
 * training loop asks once per layer. f32 and f64 use plain FMA math so results
 * match the CPU backend's to rounding (no TF32); bf16 and f16 may use tensor
 * cores, accumulating in f32. With AXON_DETERMINISTIC set (non-empty, not "0")
 * only algorithms cuDNN reports as deterministic are taken (no atomics: the
 * same inputs give the same bits on every run). The workspace comes from the
 * caching allocator, on the stream the pass runs on. */
#ifdef AXON_HAVE_CUDNN
#include <cudnn.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/common.cuh"
#include "axon/settings.h"

namespace {

bool cudnn_check_at(cudnnStatus_t s, const char *what, int line) {
  if (s == CUDNN_STATUS_SUCCESS) return true;
  ax_cuda_error("cuDNN error %s in %s at %s:%d", cudnnGetErrorString(s), what, __FILE__, line);
  return false;
}
#define CUDNN_CHECK(call) cudnn_check_at((call), #call, __LINE__)

constexpr size_t MAX_WORKSPACE = (size_t)1 << 30; /* algorithms wanting more are skipped */

cudnnHandle_t handle() {
  static cudnnHandle_t handles[64];
  int dev = ax_cuda_current_device();
  if (dev < 0 || dev >= 64) dev = 0;
  if (!handles[dev] && !CUDNN_CHECK(cudnnCreate(&handles[dev]))) return nullptr;
  if (!CUDNN_CHECK(cudnnSetStream(handles[dev], ax_cuda_stream()))) return nullptr;
  return handles[dev];
}

bool data_type(int dtype, cudnnDataType_t *data, cudnnDataType_t *compute, cudnnMathType_t *math) {
  switch (dtype) {
  case AX_F32: *data = CUDNN_DATA_FLOAT, *compute = CUDNN_DATA_FLOAT, *math = CUDNN_FMA_MATH; return true;
  case AX_F64: *data = CUDNN_DATA_DOUBLE, *compute = CUDNN_DATA_DOUBLE, *math = CUDNN_FMA_MATH; return true;
  case AX_BF16: *data = CUDNN_DATA_BFLOAT16, *compute = CUDNN_DATA_FLOAT, *math = CUDNN_TENSOR_OP_MATH; return true;
  case AX_F16: *data = CUDNN_DATA_HALF, *compute = CUDNN_DATA_FLOAT, *math = CUDNN_TENSOR_OP_MATH; return true;
  default: ax_cuda_error("cuDNN conv: dtype %d is not supported", dtype); return false;
  }
}

/* The descriptors of one convolution; destroyed with the object. */
struct Descs {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  bool ok = false;

  Descs(const ax_conv_params *p, int dtype, bool with_bias) {
    cudnnDataType_t dt, ct;
    cudnnMathType_t math;
    if (!data_type(dtype, &dt, &ct, &math)) return;
    ok = CUDNN_CHECK(cudnnCreateTensorDescriptor(&x)) && CUDNN_CHECK(cudnnCreateTensorDescriptor(&y)) &&
         CUDNN_CHECK(cudnnCreateFilterDescriptor(&w)) && CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv)) &&
         CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, dt, (int)p->n, (int)p->c, (int)p->h, (int)p->w)) &&
         CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, dt, (int)p->n, (int)p->o, (int)p->oh, (int)p->ow)) &&
         CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, dt, CUDNN_TENSOR_NCHW, (int)p->o, (int)(p->c / p->groups),
                                                (int)p->kh, (int)p->kw)) &&
         CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, p->ph, p->pw, p->sh, p->sw, p->dh, p->dw,
                                                     CUDNN_CROSS_CORRELATION, ct)) &&
         CUDNN_CHECK(cudnnSetConvolutionGroupCount(conv, p->groups)) &&
         CUDNN_CHECK(cudnnSetConvolutionMathType(conv, math));
    if (ok && with_bias)
      ok = CUDNN_CHECK(cudnnCreateTensorDescriptor(&bias)) &&
           CUDNN_CHECK(cudnnSetTensor4dDescriptor(bias, CUDNN_TENSOR_NCHW, dt, 1, (int)p->o, 1, 1));
  }
  ~Descs() {
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (bias) cudnnDestroyTensorDescriptor(bias);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
  }
};

/* Remembered algorithm choices: geometry, dtype, pass and device -> algorithm and workspace. */
struct AlgoEntry {
  ax_conv_params p;
  int dtype, pass, dev;
  int algo;
  size_t workspace;
};
constexpr int CACHE_SIZE = 64;
AlgoEntry cache[CACHE_SIZE];
int cache_used, cache_next;

AlgoEntry *cache_find(const ax_conv_params *p, int dtype, int pass) {
  int dev = ax_cuda_current_device();
  for (int i = 0; i < cache_used; i++)
    if (cache[i].dtype == dtype && cache[i].pass == pass && cache[i].dev == dev && !memcmp(&cache[i].p, p, sizeof *p))
      return &cache[i];
  return nullptr;
}

void cache_add(const ax_conv_params *p, int dtype, int pass, int algo, size_t workspace) {
  AlgoEntry *e = &cache[cache_next];
  cache_next = (cache_next + 1) % CACHE_SIZE;
  if (cache_used < CACHE_SIZE) cache_used++;
  memset(e, 0, sizeof *e); /* memcmp above compares the padding too */
  e->p = *p, e->dtype = dtype, e->pass = pass, e->dev = ax_cuda_current_device(), e->algo = algo;
  e->workspace = workspace;
}

/* AXON_DETERMINISTIC (docs/settings.md) */
bool deterministic() { return ax_settings_get()->deterministic; }

/* The first heuristic result that succeeded, fits the workspace limit and,
 * under AXON_DETERMINISTIC, is deterministic. */
template <typename Perf>
bool pick(const Perf *perf, int count, int *algo, size_t *workspace, const char *op) {
  bool det = deterministic();
  for (int i = 0; i < count; i++)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= MAX_WORKSPACE &&
        (!det || perf[i].determinism == CUDNN_DETERMINISTIC)) {
      *algo = (int)perf[i].algo;
      *workspace = perf[i].memory;
      return true;
    }
  ax_cuda_error("%s: cuDNN offers no %salgorithm for this convolution", op, det ? "deterministic (AXON_DETERMINISTIC) " : "");
  return false;
}

enum { FORWARD, BACKWARD_DATA, BACKWARD_FILTER };

bool choose(cudnnHandle_t h, const Descs &d, const ax_conv_params *p, int dtype, int pass, int *algo,
            size_t *workspace, const char *op) {
  if (AlgoEntry *e = cache_find(p, dtype, pass)) {
    *algo = e->algo;
    *workspace = e->workspace;
    return true;
  }
  int count = 0;
  bool ok = false;
  if (pass == FORWARD) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    ok = CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, d.x, d.w, d.conv, d.y,
                                                           CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count, perf)) &&
         pick(perf, count, algo, workspace, op);
  } else if (pass == BACKWARD_DATA) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    ok = CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w, d.y, d.conv, d.x,
                                                                CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count, perf)) &&
         pick(perf, count, algo, workspace, op);
  } else {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    ok = CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
             h, d.x, d.y, d.conv, d.w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count, perf)) &&
         pick(perf, count, algo, workspace, op);
  }
  if (ok) cache_add(p, dtype, pass, *algo, *workspace);
  return ok;
}

/* alpha = 1 and beta = 0 or 1, in the type cuDNN wants for the dtype (double for f64, else float). */
struct Scale {
  float f;
  double d;
  const void *for_dtype(int dtype) const { return dtype == AX_F64 ? (const void *)&d : (const void *)&f; }
};
const Scale ONE = {1.0f, 1.0}, ZERO = {0.0f, 0.0};

/* Runs one pass; returns after reporting any error. */
void run(int pass, int dtype, const ax_conv_params *p, void *out, const void *in0, const void *in1, const void *bias,
         const char *op) {
  if (p->n == 0 || p->o == 0 || p->c == 0) return; /* cuDNN rejects empty tensors; the op layer handles them */
  cudnnHandle_t h = handle();
  if (!h) return;
  Descs d(p, dtype, bias != nullptr);
  if (!d.ok) return;
  int algo;
  size_t ws_size;
  if (!choose(h, d, p, dtype, pass, &algo, &ws_size, op)) return;
  void *ws = ws_size ? ax_cuda_scratch_alloc(ws_size) : nullptr; /* from the caching allocator */
  if (ws_size && !ws) return;
  struct Release {
    void *p;
    ~Release() { if (p) ax_cuda_scratch_free(p); } /* after the pass is queued: reused only in stream order */
  } release{ws};
  const void *one = ONE.for_dtype(dtype), *zero = ZERO.for_dtype(dtype);
  if (pass == FORWARD) { /* out y, in0 x, in1 w */
    if (CUDNN_CHECK(cudnnConvolutionForward(h, one, d.x, in0, d.w, in1, d.conv, (cudnnConvolutionFwdAlgo_t)algo,
                                            ws, ws_size, zero, d.y, out)) &&
        bias)
      CUDNN_CHECK(cudnnAddTensor(h, one, d.bias, bias, one, d.y, out));
  } else if (pass == BACKWARD_DATA) { /* out gx, in0 gy, in1 w */
    CUDNN_CHECK(cudnnConvolutionBackwardData(h, one, d.w, in1, d.y, in0, d.conv, (cudnnConvolutionBwdDataAlgo_t)algo,
                                             ws, ws_size, zero, d.x, out));
  } else { /* out gw, in0 gy, in1 x */
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, one, d.x, in1, d.y, in0, d.conv,
                                               (cudnnConvolutionBwdFilterAlgo_t)algo, ws, ws_size, zero, d.w, out));
  }
}

} /* namespace */

extern "C" void ax_cuda_cudnn_conv2d(ax_kt *y, const ax_kt *x, const ax_kt *w, const ax_kt *bias,
                                     const ax_conv_params *p) {
  run(FORWARD, y->dtype, p, y->data, x->data, w->data, bias ? bias->data : nullptr, "ax_cuda_conv2d (cuDNN)");
}

extern "C" void ax_cuda_cudnn_conv2d_backward_input(ax_kt *gx, const ax_kt *gy, const ax_kt *w,
                                                    const ax_conv_params *p) {
  run(BACKWARD_DATA, gx->dtype, p, gx->data, gy->data, w->data, nullptr, "ax_cuda_conv2d_backward_input (cuDNN)");
}

extern "C" void ax_cuda_cudnn_conv2d_backward_weight(ax_kt *gw, const ax_kt *gy, const ax_kt *x,
                                                     const ax_conv_params *p) {
  run(BACKWARD_FILTER, gw->dtype, p, gw->data, gy->data, x->data, nullptr, "ax_cuda_conv2d_backward_weight (cuDNN)");
}
#endif /* AXON_HAVE_CUDNN */
