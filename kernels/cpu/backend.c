/* The CPU backend table: the reference every other backend is checked against. */
#include <string.h>

#include "kernels/cpu/cpu.h"

static void cpu_copy_from_host(void *dst, const void *src, size_t n, int dev) {
  (void)dev;
  if (n) memcpy(dst, src, n);
}

static int cpu_copy_to_host(void *dst, const void *src, size_t n, int dev) {
  (void)dev;
  if (n) memcpy(dst, src, n);
  return 0;
}

static void cpu_synchronize(int dev) { (void)dev; }

const ax_backend ax_cpu_backend = {
    .name = "cpu",
    .alloc = ax_cpu_alloc,
    .free = ax_cpu_free,
    .copy_from_host = cpu_copy_from_host,
    .copy_to_host = cpu_copy_to_host,
    .synchronize = cpu_synchronize,
    .memory_stats = ax_cpu_memory_stats,
    .empty_cache = ax_cpu_empty_cache,
    .fill = ax_cpu_fill,
    .arange = ax_cpu_arange,
    .random = ax_cpu_random,
    .copy = ax_cpu_copy,
    .unary = ax_cpu_unary,
    .unary_backward = ax_cpu_unary_backward,
    .binary = ax_cpu_binary,
    .where = ax_cpu_where,
    .reduce = ax_cpu_reduce,
    .arg_reduce = ax_cpu_arg_reduce,
    .scan = ax_cpu_scan,
    .softmax = ax_cpu_softmax,
    .softmax_backward = ax_cpu_softmax_backward,
    .gemm = ax_cpu_gemm,
    .index_select = ax_cpu_index_select,
    .index_add = ax_cpu_index_add,
    .gather = ax_cpu_gather,
    .scatter_add = ax_cpu_scatter_add,
    .cross_entropy = ax_cpu_cross_entropy,
    .cross_entropy_backward = ax_cpu_cross_entropy_backward,
    .conv2d = ax_cpu_conv2d,
    .conv2d_backward_input = ax_cpu_conv2d_backward_input,
    .conv2d_backward_weight = ax_cpu_conv2d_backward_weight,
    .max_pool2d = ax_cpu_max_pool2d,
    .max_pool2d_backward = ax_cpu_max_pool2d_backward,
    .avg_pool2d = ax_cpu_avg_pool2d,
    .avg_pool2d_backward = ax_cpu_avg_pool2d_backward,
    .batch_norm_stats = ax_cpu_batch_norm_stats,
    .batch_norm_apply = ax_cpu_batch_norm_apply,
    .batch_norm_backward = ax_cpu_batch_norm_backward,
    .dropout = ax_cpu_dropout,
    .optim_step = ax_cpu_optim_step,
    .layer_norm = ax_cpu_layer_norm,
    .layer_norm_backward = ax_cpu_layer_norm_backward,
    .embedding_backward = ax_cpu_embedding_backward,
    .attention = ax_cpu_attention,
    .attention_backward = ax_cpu_attention_backward,
};
