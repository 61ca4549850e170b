/* SPDX-License-Identifier: BSD-3-Clause */
/* The kernel status convention on the CPU (kernels/backend.h): a kernel that cannot
 * run returns a status instead of aborting, and the op that called it returns NULL
 * with a message naming the op, the kernel and the cause; a backward that meets one
 * fails. The failure is forced with the GEMM's test hook
 * (ax_cpu_fail_next_scratch_alloc, kernels/cpu/cpu.h). The same on the emulated CUDA
 * device: tests/test_emulated_runtime.c, failed_launch_fails_the_op. */
#include <criterion/criterion.h>

#include "axon.h"
#include "kernels/cpu/cpu.h"
#include "testutil.h"

TestSuite(kernel_status, .init = tu_capture_errors);

Test(kernel_status, out_of_memory_in_a_gemm_fails_the_matmul) {
  ax_scope_begin();
  ax_tensor *a = tu_randn(AX_F32, 2, (int64_t[]){64, 32}), *b = tu_randn(AX_F32, 2, (int64_t[]){32, 48});
  ax_tensor *good = ax_matmul(a, b);
  cr_assert_not_null(good, "%s", ax_last_error());
  ax_cpu_fail_next_scratch_alloc();
  cr_expect_null(ax_matmul(a, b), "a matmul whose kernel failed returned its output");
  cr_expect(tu_error_contains("ax_matmul: cpu kernel 'gemm' failed (out of memory)", "bytes of GEMM scratch", NULL),
            "%s", ax_last_error());
  /* nothing sticks: the next call gives the same product as before */
  tu_reset_errors();
  ax_tensor *again = ax_matmul(a, b);
  cr_assert_not_null(again, "%s", ax_last_error());
  cr_expect(tu_allclose(again, good, 0, 0), "the matmul after a failure differs");
  ax_scope_end();
}

/* conv2d runs its GEMMs on worker threads: the failure must still reach the op */
Test(kernel_status, out_of_memory_on_a_worker_thread_fails_the_conv) {
  ax_scope_begin();
  ax_tensor *x = tu_randn(AX_F32, 4, (int64_t[]){8, 3, 16, 16}), *w = tu_randn(AX_F32, 4, (int64_t[]){4, 3, 3, 3});
  cr_assert_not_null(ax_conv2d(x, w, NULL, NULL), "%s", ax_last_error());
  ax_cpu_fail_next_scratch_alloc();
  cr_expect_null(ax_conv2d(x, w, NULL, NULL), "a convolution whose GEMM failed returned its output");
  cr_expect(tu_error_contains("ax_conv2d: cpu kernel 'conv2d' failed (out of memory)", "scratch", NULL), "%s",
            ax_last_error());
  ax_scope_end();
}

Test(kernel_status, a_failed_kernel_in_the_backward_fails_the_pass) {
  ax_scope_begin();
  ax_tensor *a = tu_randn(AX_F64, 2, (int64_t[]){8, 5}), *b = tu_randn(AX_F64, 2, (int64_t[]){5, 6});
  ax_set_requires_grad(a, true);
  ax_tensor *loss = ax_sum(ax_matmul(a, b), 0, NULL, false);
  cr_assert_not_null(loss, "%s", ax_last_error());
  ax_cpu_fail_next_scratch_alloc();
  cr_expect_eq(ax_backward(loss, NULL), -1, "a backward whose GEMM failed succeeded");
  cr_expect(tu_error_contains("cpu kernel 'gemm' failed (out of memory)", NULL), "%s", ax_last_error());
  ax_scope_end();
}
