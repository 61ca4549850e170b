/* AXON_ATTN=cudnn: the cuDNN alternate of attention.cu.
 *
 * cuDNN's fused flash attention is reachable only through its backend graph
 * API (the SDPA node lives in cudnn-frontend, a C++ header library that this
 * build does not ship). That graph is not built yet, so selecting cuDNN is a
 * clear error rather than a silent fallback: a benchmark that asks for cuDNN
 * must not time the native kernels under cuDNN's name. */
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/common.cuh"

/* Reads AXON_ATTN once: "cudnn" selects this file, unset or "native" the native kernels. */
extern "C" bool ax_cuda_cudnn_attention_selected(void) {
  static int mode = -1;
  if (mode < 0) {
    const char *e = getenv("AXON_ATTN");
    mode = e && !strcmp(e, "cudnn");
    if (e && !mode && strcmp(e, "native"))
      ax_error("AXON_ATTN=%s: expected native or cudnn; using the native attention kernels", e);
  }
  return mode == 1;
}

static void not_implemented(void) {
  ax_error("AXON_ATTN=cudnn: cuDNN fused attention is not implemented in this build; use AXON_ATTN=native");
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
