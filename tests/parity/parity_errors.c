/* SPDX-License-Identifier: BSD-3-Clause */
/* Errors that only a GPU can produce, checked on one: an op whose operands sit on
 * different devices fails with a message naming both, an allocation larger than the
 * GPU fails with the out-of-memory message (asked, live and cached bytes) instead of
 * crashing, and the device keeps working afterwards; a bad index into a CUDA
 * embedding, index_select or gather (found by the kernel, reported at the next
 * synchronization) and a device index that does not exist are errors too. */
#include <stdint.h>

#include "parity.h"

#define OP "errors"

void pr_family_errors(void) {
  ax_scope_begin();
  int64_t n = 7, big = (int64_t)1 << 48; /* 1 PiB of f32: more than any GPU holds */
  ax_tensor *cpu = pr_randn(AX_F32, 1, &n), *gpu = pr_cuda(cpu);

  pr_expect_error(OP, "add cpu + cuda", ax_add(cpu, gpu) == NULL, "different devices");
  int64_t sq[2] = {7, 7};
  ax_tensor *a = pr_randn(AX_F32, 2, sq);
  pr_expect_error(OP, "matmul cuda x cpu", ax_matmul(pr_cuda(a), a) == NULL, "different devices");
  ax_tensor *pair[2] = {cpu, gpu};
  pr_expect_error(OP, "cat cpu, cuda", ax_cat(pair, 2, 0) == NULL, "different devices");

  ax_tensor *huge = ax_empty(1, &big, &(ax_tensor_opts){.dtype = AX_F32, .device = AX_CUDA(0)});
  pr_expect_error(OP, "1 PiB on cuda:0", huge == NULL, "out of memory");
  /* the allocator emptied its cache and retried; the device must still work */
  pr_check(OP, "exp after the out-of-memory error", ax_exp(cpu), ax_exp(gpu), PR_ELEMENTWISE);

  int64_t ws[2] = {10, 4}, is = 3;
  ax_tensor *w = pr_randn(AX_F32, 2, ws);
  ax_tensor *idx = ax_from_data((int64_t[]){1, 10, 2}, 1, &is, &(ax_tensor_opts){.dtype = AX_I64});
  /* CUDA checks indices in the kernel: the op returns, and the next read-back to
   * the host reports the error, naming the op and the index */
  ax_tensor *emb = ax_embedding(pr_cuda(w), pr_cuda(idx));
  pr_expect_error(OP, "embedding index 10 of 10 rows on cuda, at the read-back", emb && ax_to(emb, AX_CPU) == NULL,
                  "ax_embedding: index 10 is out of range for 10 embeddings on cuda:0 (found on the device at the next "
                  "synchronization)");
  ax_tensor *sel = ax_index_select(pr_cuda(w), 0, pr_cuda(idx));
  pr_expect_error(OP, "index_select index 10 of 10 rows on cuda, at ax_synchronize",
                  sel && (ax_synchronize(AX_CUDA(0)), true),
                  "ax_index_select: index 10 is out of range for dim 0 of size 10 on cuda:0 (found on the device");
  int64_t gs[2] = {2, 4};
  ax_tensor *gidx = ax_from_data((int64_t[]){0, 1, 2, 3, 1, 2, 3, -1}, 2, gs, &(ax_tensor_opts){.dtype = AX_I64});
  ax_tensor *gat = ax_gather(pr_cuda(w), 1, pr_cuda(gidx));
  pr_expect_error(OP, "gather index -1 on cuda, at the read-back", gat && ax_to(gat, AX_CPU) == NULL,
                  "ax_gather: index -1 is out of range for dim 1 of size 4 on cuda:0");
  /* reported once, then cleared: the device works and later read-backs succeed */
  int64_t okn = 2;
  ax_tensor *good = ax_from_data((int64_t[]){9, 0}, 1, &okn, &(ax_tensor_opts){.dtype = AX_I64});
  pr_check(OP, "embedding after the deferred errors", ax_embedding(w, good), ax_embedding(pr_cuda(w), pr_cuda(good)),
           PR_EXACT);

  pr_expect_error(OP, "to cuda:4096", ax_to(cpu, AX_CUDA(4096)) == NULL, "cuda:4096");
  ax_scope_end();
}
