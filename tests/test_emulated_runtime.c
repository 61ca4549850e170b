/* SPDX-License-Identifier: BSD-3-Clause */
/* The CUDA runtime's bookkeeping on the emulated device (AXON_CUDA=EMULATE),
 * where it can be observed: the queue runs only when the host waits, so an
 * event is "not ready" until then, and the runtime counts what it did
 * (ax_cuda_emu_counters_get, kernels/cuda/runtime.h).
 *  - split reductions take their partials from the caching allocator, not
 *    cudaMallocAsync;
 *  - index_select, gather and embedding check their indices on the device: an
 *    in-range index costs no copy to the host and no wait, an out-of-range one
 *    is reported by the next read-back, naming the op and the index;
 *  - a block used on another stream (ax_cuda_record_stream) is not handed out
 *    again until an event on that stream has completed;
 *  - a failed kernel launch fails the op that launched it: NULL and a message
 *    naming the op (ax_emulate_fail_next_launch), and a failed backward.
 * Every case skips without the emulated device (a CPU build, or a real GPU,
 * where the counters do not exist). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "axon.h"
#include "kernels/cuda/runtime.h"
#include "testutil.h"

/* runtime.h exists only in CUDA builds: weak, so a CPU build links and skips */
#pragma weak ax_cuda_emu_counters_get
#pragma weak ax_cuda_kernel_counts
#pragma weak ax_cuda_record_stream
#pragma weak ax_cuda_stream_create
#pragma weak ax_cuda_stream_destroy
#pragma weak ax_cuda_set_stream
#pragma weak ax_cuda_alloc_counters_get
#pragma weak ax_emulate_fail_next_launch

#define DEV AX_CUDA(0)

static void setup(void) {
  tu_capture_errors();
  ax_cuda_emu_counters c;
  if (!ax_cuda_emu_counters_get || ax_cuda_device_count() < 1 || ax_cuda_emu_counters_get(&c) != 0)
    cr_skip_test("needs the emulated device (configure with -DAXON_CUDA=EMULATE)");
}

TestSuite(emulated_runtime, .init = setup);

static ax_cuda_emu_counters counters(void) {
  ax_cuda_emu_counters c;
  ax_cuda_emu_counters_get(&c);
  return c;
}

/* launches of every instantiation whose name contains `name` */
static unsigned long long launches(const char *name) {
  static ax_cuda_kernel_count list[4096];
  int n = ax_cuda_kernel_counts(list, 4096);
  unsigned long long sum = 0;
  for (int i = 0; i < n && i < 4096; i++)
    if (strstr(list[i].name, name)) sum += list[i].launches;
  return sum;
}

static ax_tensor *i64_tensor(int64_t n, const int64_t *v) {
  return ax_from_data(v, 1, &n, &(ax_tensor_opts){.dtype = AX_I64});
}

Test(emulated_runtime, split_reduction_uses_the_caching_allocator) {
  ax_scope_begin();
  int64_t n = 65536; /* one output, 64K inputs: the row reduction splits in 4 */
  ax_tensor *x = tu_randn(AX_F32, 1, &n), *xd = ax_to(x, DEV);
  unsigned long long combines = launches("reduce_combine_kernel");
  ax_cuda_emu_counters before = counters();
  ax_tensor *s = ax_to(ax_sum(xd, 0, NULL, false), AX_CPU);
  ax_cuda_emu_counters after = counters();
  cr_assert(s, "%s", ax_last_error());
  cr_expect_gt(launches("reduce_combine_kernel"), combines, "the split path (partials + combine) was not taken");
  cr_expect_eq(after.malloc_async, before.malloc_async, "cudaMallocAsync called %llu times",
               after.malloc_async - before.malloc_async);
  cr_expect(tu_allclose(s, ax_sum(x, 0, NULL, false), 1e-4, 1e-5));
  ax_scope_end();
}

Test(emulated_runtime, in_range_indices_need_no_host_round_trip) {
  ax_scope_begin();
  int64_t ws[2] = {10, 4};
  ax_tensor *w = tu_randn(AX_F32, 2, ws), *wd = ax_to(w, DEV);
  ax_tensor *idx = i64_tensor(3, (int64_t[]){9, 0, 4}), *idxd = ax_to(idx, DEV);
  int64_t gs[2] = {2, 4};
  ax_tensor *gidx = ax_from_data((int64_t[]){0, 3, 2, 1, 1, 1, 0, 3}, 2, gs, &(ax_tensor_opts){.dtype = AX_I64});
  ax_tensor *gidxd = ax_to(gidx, DEV);
  ax_synchronize(DEV);
  ax_cuda_emu_counters before = counters();
  ax_tensor *sel = ax_index_select(wd, 0, idxd), *emb = ax_embedding(wd, idxd), *gat = ax_gather(wd, 1, gidxd);
  ax_cuda_emu_counters after = counters();
  cr_assert(sel && emb && gat, "%s", ax_last_error());
  cr_expect_eq(after.device_to_host, before.device_to_host, "%llu copies to the host",
               after.device_to_host - before.device_to_host);
  cr_expect_eq(after.host_waits, before.host_waits, "%llu host waits", after.host_waits - before.host_waits);
  cr_expect(tu_allclose(ax_to(sel, AX_CPU), ax_index_select(w, 0, idx), 0, 0));
  cr_expect(tu_allclose(ax_to(emb, AX_CPU), ax_embedding(w, idx), 0, 0));
  cr_expect(tu_allclose(ax_to(gat, AX_CPU), ax_gather(w, 1, gidx), 0, 0));
  cr_expect_eq(tu_error_count(), 0, "%s", ax_last_error());
  ax_scope_end();
}

Test(emulated_runtime, out_of_range_index_is_reported_at_the_next_read_back) {
  ax_scope_begin();
  int64_t ws[2] = {10, 4};
  ax_tensor *wd = ax_to(tu_randn(AX_F32, 2, ws), DEV);
  ax_tensor *bad = ax_to(i64_tensor(3, (int64_t[]){1, 12, 2}), DEV);
  ax_tensor *sel = ax_index_select(wd, 0, bad);
  cr_assert(sel, "the op itself succeeds on the device: %s", ax_last_error());
  cr_expect_eq(tu_error_count(), 0, "reported before any synchronization: %s", ax_last_error());
  /* work queued after it runs; the error surfaces at the read-back */
  ax_tensor *y = ax_exp(sel);
  cr_expect_null(ax_to(y, AX_CPU), "the read-back succeeded");
  cr_expect_eq(tu_error_count(), 1);
  cr_expect(tu_error_contains("ax_index_select", "index 12", "out of range for dim 0 of size 10",
                              "found on the device at the next synchronization", NULL),
            "%s", ax_last_error());
  /* reported once: the next read-back is clean */
  tu_reset_errors();
  cr_expect_not_null(ax_to(y, AX_CPU), "%s", ax_last_error());
  cr_expect_eq(tu_error_count(), 0, "%s", ax_last_error());

  /* the embedding's gradient skips the bad index (no write out of bounds) */
  ax_tensor *wl = ax_detach(wd);
  ax_set_requires_grad(wl, true);
  ax_tensor *e = ax_embedding(wl, ax_to(i64_tensor(2, (int64_t[]){3, -5}), DEV));
  cr_assert(e);
  ax_backward(ax_sum(e, 0, NULL, false), NULL);
  ax_synchronize(DEV);
  cr_expect(tu_error_contains("ax_embedding", "index -5", "out of range for 10 embeddings", NULL), "%s",
            ax_last_error());
  ax_scope_end();
}

Test(emulated_runtime, block_used_on_another_stream_waits_for_its_event) {
  ax_scope_begin();
  ax_memory_empty_cache(DEV);
  ax_synchronize(DEV);
  int64_t n = 777 * 128; /* a size class nothing else uses: 777 * 512 bytes of f32 */
  ax_tensor_opts o = {.dtype = AX_F32, .device = DEV};
  void *side = ax_cuda_stream_create();
  cr_assert(side);
  ax_cuda_alloc_counters c0 = ax_cuda_alloc_counters_get(0);
  ax_scope_begin();
  ax_tensor *t = ax_zeros(1, &n, &o);
  void *p = ax_data_ptr(t);
  cr_assert_eq(ax_cuda_record_stream(p, side), 0);
  ax_cuda_set_stream(side);
  ax_tensor *y = ax_keep(ax_exp(t)); /* queued on the side stream, not run yet */
  ax_cuda_set_stream(NULL);
  ax_scope_end(); /* frees t while the side stream's kernel that reads it is still queued */
  ax_cuda_alloc_counters c1 = ax_cuda_alloc_counters_get(0);
  cr_expect_eq(c1.deferred_frees, c0.deferred_frees + 1);
  cr_expect_eq(c1.pending_blocks, 1);
  ax_tensor *u = ax_empty(1, &n, &o); /* the side stream's work is still queued */
  cr_expect_neq(ax_data_ptr(u), p, "a block still used by the side stream was handed out again");
  cr_expect_eq(ax_cuda_alloc_counters_get(0).pending_blocks, 1);
  ax_synchronize(DEV); /* the side stream's work (one queue here) and its event complete */
  ax_tensor *v = ax_empty(1, &n, &o);
  cr_expect_eq(ax_data_ptr(v), p, "the block did not come back once its event completed");
  cr_expect_eq(ax_cuda_alloc_counters_get(0).pending_blocks, 0);
  ax_tensor *yh = ax_to(y, AX_CPU); /* exp(0): the side stream's kernel read the block before its reuse */
  cr_assert(yh, "%s", ax_last_error());
  cr_expect(tu_get(yh, 0) == 1.0 && tu_get(yh, n - 1) == 1.0);
  ax_scope_end();
  ax_synchronize(DEV);
  ax_cuda_stream_destroy(side);
}

/* The kernel status convention (kernels/backend.h): a launch that fails makes its
 * kernel entry return AX_K_LAUNCH, and the op returns NULL with a message naming
 * the op, the kernel and the CUDA error; the next op is unaffected. */
Test(emulated_runtime, failed_launch_fails_the_op) {
  cr_assert(ax_emulate_fail_next_launch, "the emulated runtime has the launch-failure hook");
  ax_scope_begin();
  ax_tensor *x = ax_to(tu_randn(AX_F32, 1, (int64_t[]){1000}), DEV);
  cr_assert(x, "%s", ax_last_error());
  ax_synchronize(DEV);
  tu_reset_errors();
  ax_emulate_fail_next_launch();
  cr_expect_null(ax_exp(x), "an op whose launch failed returned its output");
  cr_expect(tu_error_contains("ax_exp: cuda kernel 'unary' failed (launch failed)", "cudaErrorLaunchFailure", NULL),
            "%s", ax_last_error());

  tu_reset_errors(); /* the failure does not stick to later ops */
  ax_tensor *y = ax_exp(x);
  cr_expect_not_null(ax_to(y, AX_CPU), "%s", ax_last_error());
  cr_expect_eq(tu_error_count(), 0, "%s", ax_last_error());

  /* a matmul (its own kernel family, the gemm entry) */
  ax_tensor *a = ax_to(tu_randn(AX_F32, 2, (int64_t[]){16, 8}), DEV), *b = ax_to(tu_randn(AX_F32, 2, (int64_t[]){8, 4}), DEV);
  ax_synchronize(DEV);
  tu_reset_errors();
  ax_emulate_fail_next_launch();
  cr_expect_null(ax_matmul(a, b), "a matmul whose launch failed returned its output");
  cr_expect(tu_error_contains("ax_matmul: cuda kernel 'gemm' failed", NULL), "%s", ax_last_error());

  /* in the backward: the pass fails */
  ax_tensor *w = ax_detach(x);
  ax_set_requires_grad(w, true);
  ax_tensor *loss = ax_sum(ax_tanh(w), 0, NULL, false);
  cr_assert(loss, "%s", ax_last_error());
  ax_synchronize(DEV);
  tu_reset_errors();
  ax_emulate_fail_next_launch();
  cr_expect_eq(ax_backward(loss, NULL), -1, "a backward whose launch failed succeeded");
  cr_expect(tu_error_contains("kernel", "failed", "cudaErrorLaunchFailure", NULL), "%s", ax_last_error());
  ax_scope_end();
}
