/* Errors that only a GPU can produce, checked on one: an op whose operands sit on
 * different devices fails with a message naming both, an allocation larger than the
 * GPU fails with the out-of-memory message (asked, live and cached bytes) instead of
 * crashing, and the device keeps working afterwards; a bad index into a CUDA
 * embedding and a device index that does not exist are errors too. */
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
  pr_expect_error(OP, "embedding index 10 of 10 rows on cuda", ax_embedding(pr_cuda(w), pr_cuda(idx)) == NULL,
                  "out of range");

  pr_expect_error(OP, "to cuda:4096", ax_to(cpu, AX_CUDA(4096)) == NULL, "cuda:4096");
  ax_scope_end();
}
