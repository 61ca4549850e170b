/* The CUDA backend table (see kernels/cuda/cuda.h). */
#include <string.h>

#include "kernels/cuda/cuda.h"

/* runtime.cu */
extern "C" void ax_cuda_runtime_fill_table(ax_backend *b);

static ax_backend make_cuda_backend(void) {
  ax_backend b;
  memset(&b, 0, sizeof b);
  b.name = "cuda";
  ax_cuda_runtime_fill_table(&b); /* memory, transfers, synchronize */
  b.copy = ax_cuda_copy;
  b.fill = ax_cuda_fill;
  b.arange = ax_cuda_arange;
  b.random = ax_cuda_random;
  b.unary = ax_cuda_unary;
  b.unary_backward = ax_cuda_unary_backward;
  b.binary = ax_cuda_binary;
  b.where = ax_cuda_where;
  b.reduce = ax_cuda_reduce;
  b.arg_reduce = ax_cuda_arg_reduce;
  b.scan = ax_cuda_scan;
  b.softmax = ax_cuda_softmax;
  b.softmax_backward = ax_cuda_softmax_backward;
  b.gemm = ax_cuda_gemm;
  b.index_select = ax_cuda_index_select;
  b.embedding = ax_cuda_embedding;
  b.index_add = ax_cuda_index_add;
  b.gather = ax_cuda_gather;
  b.scatter_add = ax_cuda_scatter_add;
  b.cross_entropy = ax_cuda_cross_entropy;
  b.cross_entropy_backward = ax_cuda_cross_entropy_backward;
  b.conv2d = ax_cuda_conv2d;
  b.conv2d_backward_input = ax_cuda_conv2d_backward_input;
  b.conv2d_backward_weight = ax_cuda_conv2d_backward_weight;
  b.max_pool2d = ax_cuda_max_pool2d;
  b.max_pool2d_backward = ax_cuda_max_pool2d_backward;
  b.avg_pool2d = ax_cuda_avg_pool2d;
  b.avg_pool2d_backward = ax_cuda_avg_pool2d_backward;
  b.batch_norm_stats = ax_cuda_batch_norm_stats;
  b.batch_norm_apply = ax_cuda_batch_norm_apply;
  b.batch_norm_backward = ax_cuda_batch_norm_backward;
  b.dropout = ax_cuda_dropout;
  b.optim_step = ax_cuda_optim_step;
  b.layer_norm = ax_cuda_layer_norm;
  b.layer_norm_backward = ax_cuda_layer_norm_backward;
  b.embedding_backward = ax_cuda_embedding_backward;
  b.attention = ax_cuda_attention;
  b.attention_backward = ax_cuda_attention_backward;
  return b;
}

extern "C" const ax_backend ax_cuda_backend = make_cuda_backend();
