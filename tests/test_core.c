/* SPDX-License-Identifier: BSD-3-Clause */
/* Core: tensors, scopes and memory, errors, autograd engine, RNG, printing. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

TestSuite(core, .init = tu_capture_errors);

Test(core, dtype_sizes_and_names) {
  cr_expect_eq(ax_dtype_size(AX_F32), 4);
  cr_expect_eq(ax_dtype_size(AX_F64), 8);
  cr_expect_eq(ax_dtype_size(AX_BF16), 2);
  cr_expect_eq(ax_dtype_size(AX_F16), 2);
  cr_expect_eq(ax_dtype_size(AX_I64), 8);
  cr_expect_eq(ax_dtype_size(AX_BOOL), 1);
  cr_expect_str_eq(ax_dtype_name(AX_BF16), "bf16");
  cr_expect(ax_dtype_is_float(AX_F16));
  cr_expect(!ax_dtype_is_float(AX_I32));
}

Test(core, from_data_round_trip_and_contiguous_strides) {
  ax_scope_begin();
  float v[6] = {1, 2, 3, 4, 5, 6};
  ax_tensor *t = ax_from_data(v, AX_SHAPE(2, 3), NULL);
  cr_assert_not_null(t);
  cr_expect_eq(t->ndim, 2);
  cr_expect_eq(t->strides[0], 3);
  cr_expect_eq(t->strides[1], 1);
  cr_expect(ax_is_contiguous(t));
  float back[6] = {0};
  cr_assert_eq(ax_to_data(t, back, sizeof back), 0);
  cr_expect_arr_eq(back, v, sizeof v);
  cr_expect_float_eq(ax_item(ax_sum(t, AX_ALL, false)), 21.0, 1e-6);
  ax_scope_end();
}

Test(core, to_data_rejects_small_buffer) {
  ax_scope_begin();
  ax_tensor *t = ax_zeros(AX_SHAPE(4), NULL);
  float small[2];
  cr_expect_eq(ax_to_data(t, small, sizeof small), -1);
  cr_expect(tu_error_contains("ax_to_data", "[4]", NULL));
  ax_scope_end();
}

Test(core, creation_values) {
  ax_scope_begin();
  double z[3] = {0, 0, 0}, o[3] = {1, 1, 1}, f[3] = {2.5, 2.5, 2.5};
  cr_expect(tu_allclose_data(ax_zeros(AX_SHAPE(3), NULL), z, 3, 0, 0));
  cr_expect(tu_allclose_data(ax_ones(AX_SHAPE(3), &(ax_tensor_opts){.dtype = AX_I64}), o, 3, 0, 0));
  cr_expect(tu_allclose_data(ax_full(AX_SHAPE(3), 2.5, &(ax_tensor_opts){.dtype = AX_F64}), f, 3, 0, 0));
  ax_tensor *r = ax_arange(1, 2, 0.25, NULL);
  double rv[4] = {1, 1.25, 1.5, 1.75};
  cr_expect_eq(ax_numel(r), 4);
  cr_expect(tu_allclose_data(r, rv, 4, 0, 0));
  ax_tensor *s = ax_scalar(3.0, NULL);
  cr_expect_eq(s->ndim, 0);
  cr_expect_eq(ax_numel(s), 1);
  cr_expect_float_eq(ax_item(s), 3.0, 0);
  cr_expect_null(ax_arange(0, 1, 0, NULL));
  cr_expect(tu_error_contains("ax_arange", NULL));
  ax_scope_end();
}

Test(core, cast_rounds_half_types) {
  ax_scope_begin();
  float v[5] = {1.0f, -2.5f, 65504.0f, 1e-8f, 3.140625f};
  ax_tensor *t = ax_from_data(v, AX_SHAPE(5), NULL);
  ax_tensor *h = ax_cast(t, AX_F16), *b = ax_cast(t, AX_BF16);
  double hv[5] = {1.0, -2.5, 65504.0, 0.0, 3.140625}; /* 1e-8 underflows f16 */
  cr_expect(tu_allclose_data(h, hv, 5, 0, 0));
  double bv[5] = {1.0, -2.5, 65536.0, 1e-8, 3.140625};
  cr_expect(tu_allclose_data(b, bv, 5, 0, 1e-2));
  ax_tensor *i = ax_cast(ax_from_data((float[]){1.9f, -1.9f}, AX_SHAPE(2), NULL), AX_I32);
  double iv[2] = {1, -1}; /* truncation toward zero, like C and PyTorch */
  cr_expect(tu_allclose_data(i, iv, 2, 0, 0));
  ax_scope_end();
}

Test(core, scopes_free_everything) {
  ax_memory_stats before = ax_memory_stats_get(AX_CPU);
  ax_scope_begin();
  ax_tensor *w = tu_leaf(ax_randn(AX_SHAPE(64, 32), NULL));
  for (int step = 0; step < 3; step++) {
    ax_scope_begin();
    ax_tensor *x = ax_randn(AX_SHAPE(16, 64), NULL);
    ax_tensor *loss = ax_mean(ax_square(ax_matmul(x, w)), AX_ALL, false);
    cr_assert_eq(ax_backward(loss, NULL), 0);
    ax_scope_end();
  }
  cr_expect_not_null(w->grad);
  ax_scope_end();
  ax_memory_stats after = ax_memory_stats_get(AX_CPU);
  cr_expect_eq(after.live_bytes, before.live_bytes, "live bytes %zu -> %zu", before.live_bytes, after.live_bytes);
  cr_expect_eq(after.live_tensors, before.live_tensors, "live tensors %zu -> %zu", before.live_tensors,
               after.live_tensors);
}

Test(core, allocator_reuses_blocks) {
  ax_scope_begin();
  ax_free(ax_retain(ax_zeros(AX_SHAPE(1000), NULL)));
  ax_scope_end();
  size_t allocs = ax_memory_stats_get(AX_CPU).os_allocs;
  for (int i = 0; i < 10; i++) {
    ax_scope_begin();
    ax_zeros(AX_SHAPE(1000), NULL);
    ax_scope_end();
  }
  cr_expect_eq(ax_memory_stats_get(AX_CPU).os_allocs, allocs, "a repeated allocation should come from the cache");
  cr_expect_gt(ax_memory_stats_get(AX_CPU).cached_bytes, 0);
}

Test(core, keep_hands_tensor_to_parent_detached) {
  ax_scope_begin();
  ax_tensor *w = tu_leaf(ax_ones(AX_SHAPE(3), &(ax_tensor_opts){.dtype = AX_F64}));
  ax_tensor *kept;
  ax_scope_begin();
  kept = ax_keep(ax_mul_scalar(w, 2.0));
  cr_expect_not_null(kept->grad_fn); /* still differentiable inside its scope */
  ax_scope_end();
  cr_expect_null(kept->grad_fn);
  cr_expect(!kept->requires_grad);
  cr_expect_float_eq(ax_item(ax_sum(kept, AX_ALL, false)), 6.0, 1e-12);
  ax_scope_end();
}

Test(core, persist_outlives_scope) {
  ax_tensor *p;
  ax_scope_begin();
  p = ax_persist(ax_full(AX_SHAPE(2), 7.0, NULL));
  ax_scope_end();
  cr_expect_float_eq(tu_get(p, 1), 7.0, 0);
  ax_free(p);
}

Test(core, unbalanced_scope_end_is_an_error) {
  ax_scope_end();
  cr_expect(tu_error_contains("ax_scope_end", NULL));
}

Test(core, null_propagates_without_new_errors) {
  ax_scope_begin();
  ax_tensor *bad = ax_add(ax_zeros(AX_SHAPE(2, 3), NULL), ax_zeros(AX_SHAPE(4, 5), NULL));
  cr_expect_null(bad);
  cr_expect_eq(tu_error_count(), 1);
  cr_expect(tu_error_contains("ax_add", "[2, 3]", "[4, 5]", NULL));
  cr_expect_null(ax_relu(ax_exp(bad)));
  cr_expect_null(ax_matmul(bad, bad));
  cr_expect_eq(tu_error_count(), 1);
  ax_scope_end();
}

Test(core, matmul_shape_error_names_shapes) {
  ax_scope_begin();
  cr_expect_null(ax_matmul(ax_zeros(AX_SHAPE(2, 3), NULL), ax_zeros(AX_SHAPE(4, 5), NULL)));
  cr_expect(tu_error_contains("ax_matmul: cannot multiply [2, 3] by [4, 5] (3 != 4)", NULL));
  ax_scope_end();
}

Test(core, dtype_mismatch_is_an_error) {
  ax_scope_begin();
  ax_tensor *a = ax_zeros(AX_SHAPE(2), NULL), *b = ax_zeros(AX_SHAPE(2), &(ax_tensor_opts){.dtype = AX_F64});
  cr_expect_null(ax_mul(a, b));
  cr_expect(tu_error_contains("ax_mul", "f32", "f64", NULL));
  ax_scope_end();
}

Test(core, cuda_device_without_gpu_is_an_error) {
  if (ax_cuda_device_count() > 0) cr_skip_test("a GPU is present");
  ax_scope_begin();
  cr_expect_null(ax_zeros(AX_SHAPE(2), &(ax_tensor_opts){.device = AX_CUDA(0)}));
  cr_expect(tu_error_contains("cuda:0", NULL));
  ax_scope_end();
}

Test(core, mixing_devices_is_an_error) {
  if (ax_cuda_device_count() == 0) cr_skip_test("no GPU: mixing devices needs one");
  ax_scope_begin();
  ax_tensor *a = ax_zeros(AX_SHAPE(2), NULL);
  ax_tensor *b = ax_zeros(AX_SHAPE(2), &(ax_tensor_opts){.device = AX_CUDA(0)});
  cr_expect_null(ax_add(a, b));
  cr_expect(tu_error_contains("ax_add", "different devices", "cpu", "cuda:0", NULL));
  ax_scope_end();
}

/* ---------------- autograd engine ---------------- */

Test(core, backward_non_scalar_needs_gradient) {
  ax_scope_begin();
  ax_tensor *x = tu_leaf(ax_ones(AX_SHAPE(2, 3), NULL));
  ax_tensor *y = ax_mul_scalar(x, 2.0);
  cr_expect_eq(ax_backward(y, NULL), -1);
  cr_expect(tu_error_contains("ax_backward", "one-element", "[2, 3]", NULL));
  /* with an explicit gradient it works */
  cr_expect_eq(ax_backward(y, ax_ones(AX_SHAPE(2, 3), NULL)), 0);
  double g[6] = {2, 2, 2, 2, 2, 2};
  cr_expect(tu_allclose_data(x->grad, g, 6, 0, 0));
  ax_scope_end();
}

Test(core, backward_without_grad_is_an_error) {
  ax_scope_begin();
  ax_tensor *x = ax_ones(AX_SHAPE(3), NULL);
  cr_expect_eq(ax_backward(ax_sum(x, AX_ALL, false), NULL), -1);
  cr_expect(tu_error_contains("ax_backward", "does not require grad", NULL));
  /* through a non-differentiable op */
  ax_tensor *w = tu_leaf(ax_ones(AX_SHAPE(3), NULL));
  ax_tensor *mask = ax_gt_scalar(w, 0.5);
  cr_expect(!mask->requires_grad);
  cr_expect_eq(ax_backward(ax_sum(ax_cast(mask, AX_F32), AX_ALL, false), NULL), -1);
  ax_scope_end();
}

Test(core, gradients_accumulate_until_zeroed) {
  ax_scope_begin();
  ax_tensor *x = tu_leaf(ax_full(AX_SHAPE(2), 3.0, &(ax_tensor_opts){.dtype = AX_F64}));
  for (int i = 0; i < 3; i++) {
    ax_scope_begin();
    ax_backward(ax_sum(ax_square(x), AX_ALL, false), NULL);
    ax_scope_end();
  }
  double g3[2] = {18, 18};
  cr_expect(tu_allclose_data(x->grad, g3, 2, 1e-12, 0));
  ax_zero_grad(x);
  cr_expect_null(x->grad);
  ax_backward(ax_sum(ax_square(x), AX_ALL, false), NULL);
  double g1[2] = {6, 6};
  cr_expect(tu_allclose_data(x->grad, g1, 2, 1e-12, 0));
  ax_scope_end();
}

Test(core, shared_subexpression_sums_gradients) {
  ax_scope_begin();
  ax_tensor *x = tu_leaf(ax_full(AX_SHAPE(1), 2.0, &(ax_tensor_opts){.dtype = AX_F64}));
  ax_tensor *y = ax_mul(x, x);     /* x^2 */
  ax_tensor *z = ax_add(y, ax_mul(y, x)); /* x^2 + x^3, dz/dx = 2x + 3x^2 = 16 */
  ax_backward(ax_sum(z, AX_ALL, false), NULL);
  cr_expect_float_eq(tu_get(x->grad, 0), 16.0, 1e-12);
  ax_scope_end();
}

Test(core, no_grad_records_nothing) {
  ax_scope_begin();
  ax_tensor *x = tu_leaf(ax_ones(AX_SHAPE(2), NULL));
  ax_no_grad_begin();
  cr_expect(!ax_grad_enabled());
  ax_tensor *y = ax_mul_scalar(x, 2.0);
  ax_no_grad_end();
  cr_expect(ax_grad_enabled());
  cr_expect_null(y->grad_fn);
  cr_expect(!y->requires_grad);
  ax_tensor *z = ax_mul_scalar(x, 2.0);
  cr_expect_str_eq(ax_grad_fn_name(z), "mul_scalar");
  ax_scope_end();
}

Test(core, retain_grad_keeps_non_leaf_gradient) {
  ax_scope_begin();
  ax_tensor *x = tu_leaf(ax_full(AX_SHAPE(2), 3.0, &(ax_tensor_opts){.dtype = AX_F64}));
  ax_tensor *y = ax_mul_scalar(x, 2.0);
  ax_retain_grad(y);
  ax_tensor *z = ax_sum(ax_square(y), AX_ALL, false);
  ax_backward(z, NULL);
  double gy[2] = {12, 12}, gx[2] = {24, 24};
  cr_expect(tu_allclose_data(y->grad, gy, 2, 1e-12, 0));
  cr_expect(tu_allclose_data(x->grad, gx, 2, 1e-12, 0));
  ax_scope_end();
}

static int hook_calls;
static double hook_seen;
static void count_hook(ax_tensor *leaf, void *user) {
  hook_calls++;
  hook_seen = tu_get(leaf->grad, 0);
  *(int *)user += 1;
}

Test(core, grad_hook_fires_once_with_final_gradient) {
  ax_scope_begin();
  int fired = 0;
  hook_calls = 0;
  ax_tensor *x = tu_leaf(ax_full(AX_SHAPE(1), 1.0, &(ax_tensor_opts){.dtype = AX_F64}));
  ax_set_grad_hook(x, count_hook, &fired);
  /* x is used three times: the hook must run once, after all three contributions */
  ax_tensor *y = ax_add(ax_add(ax_mul_scalar(x, 2.0), ax_mul_scalar(x, 3.0)), ax_mul_scalar(x, 4.0));
  ax_backward(ax_sum(y, AX_ALL, false), NULL);
  cr_expect_eq(hook_calls, 1);
  cr_expect_eq(fired, 1);
  cr_expect_float_eq(hook_seen, 9.0, 1e-12);
  ax_scope_end();
}

Test(core, set_requires_grad_rules) {
  ax_scope_begin();
  ax_tensor *i = ax_zeros(AX_SHAPE(2), &(ax_tensor_opts){.dtype = AX_I64});
  ax_set_requires_grad(i, true);
  cr_expect(tu_error_contains("ax_set_requires_grad", "floating-point", NULL));
  ax_tensor *x = tu_leaf(ax_ones(AX_SHAPE(2), NULL));
  ax_set_requires_grad(ax_mul_scalar(x, 2.0), false);
  cr_expect(tu_error_contains("ax_set_requires_grad", "leaf", NULL));
  ax_scope_end();
}

Test(core, deep_graph_does_not_overflow_stack) {
  ax_scope_begin();
  ax_tensor *x = tu_leaf(ax_ones(AX_SHAPE(1), &(ax_tensor_opts){.dtype = AX_F64}));
  ax_tensor *y = x;
  for (int i = 0; i < 20000; i++) y = ax_add_scalar(y, 1e-3);
  cr_expect_eq(ax_backward(ax_sum(y, AX_ALL, false), NULL), 0);
  cr_expect_float_eq(tu_get(x->grad, 0), 1.0, 1e-12);
  ax_scope_end();
}

/* ---------------- random numbers ---------------- */

Test(core, rng_same_seed_same_numbers) {
  ax_scope_begin();
  ax_manual_seed(42);
  ax_tensor *a = ax_randn(AX_SHAPE(1000), NULL);
  ax_tensor *a2 = ax_rand(AX_SHAPE(10), NULL);
  ax_manual_seed(42);
  ax_tensor *b = ax_randn(AX_SHAPE(1000), NULL);
  ax_tensor *b2 = ax_rand(AX_SHAPE(10), NULL);
  cr_expect(tu_allclose(a, b, 0, 0));
  cr_expect(tu_allclose(a2, b2, 0, 0));
  /* consecutive calls draw different numbers */
  cr_expect(tu_get(a, 0) != tu_get(ax_randn(AX_SHAPE(1), NULL), 0));
  ax_scope_end();
}

Test(core, rng_state_save_restore) {
  ax_scope_begin();
  ax_manual_seed(7);
  ax_randn(AX_SHAPE(5), NULL);
  uint64_t seed, off;
  ax_rng_get_state(&seed, &off);
  ax_tensor *a = ax_rand(AX_SHAPE(5), NULL);
  ax_rng_set_state(seed, off);
  ax_tensor *b = ax_rand(AX_SHAPE(5), NULL);
  cr_expect(tu_allclose(a, b, 0, 0));
  ax_scope_end();
}

Test(core, rng_moments) {
  ax_scope_begin();
  ax_manual_seed(1);
  int64_t n = 200000;
  ax_tensor *u = ax_rand(AX_SHAPE(n), &(ax_tensor_opts){.dtype = AX_F64});
  ax_tensor *g = ax_randn(AX_SHAPE(n), NULL);
  /* mean 1/2, var 1/12 for U[0,1); 0 and 1 for N(0,1); 5 sigma bounds */
  cr_expect_float_eq(ax_item(ax_mean(u, AX_ALL, false)), 0.5, 5 * sqrt(1.0 / 12 / n));
  cr_expect_float_eq(ax_item(ax_var(u, AX_ALL, true, false)), 1.0 / 12, 3e-3);
  cr_expect_float_eq(ax_item(ax_mean(g, AX_ALL, false)), 0.0, 5 / sqrt((double)n));
  cr_expect_float_eq(ax_item(ax_var(g, AX_ALL, true, false)), 1.0, 0.02);
  cr_expect_geq(ax_item(ax_amin(u, AX_ALL, false)), 0.0);
  cr_expect_lt(ax_item(ax_amax(u, AX_ALL, false)), 1.0);
  ax_scope_end();
}

Test(core, philox_known_answer) {
  /* Philox4x32-10 test vector from Random123 (kat_vectors): counter 0, key 0. */
  ax_scope_begin();
  ax_rng_set_state(0, 0);
  /* element 0 of a uniform f32 draw uses word 0: 0x6627e8d5 >> 8 / 2^24 */
  ax_tensor *u = ax_rand(AX_SHAPE(1), NULL);
  cr_expect_float_eq(tu_get(u, 0), (double)(0x6627e8d5u >> 8) / 16777216.0, 1e-9);
  ax_scope_end();
}

/* ---------------- printing ---------------- */

Test(core, print_looks_like_pytorch) {
  ax_scope_begin();
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ax_fprint(f, ax_from_data((float[]){1.5f, -2.0f, 3.25f, 4.0f}, AX_SHAPE(2, 2), NULL));
  ax_fprint(f, ax_from_data((int64_t[]){1, 22, 3}, AX_SHAPE(3), &(ax_tensor_opts){.dtype = AX_I64}));
  ax_fprint(f, ax_from_data((double[]){0.5}, AX_SHAPE(1), &(ax_tensor_opts){.dtype = AX_F64}));
  fclose(f);
  cr_expect_str_eq(buf,
                   "tensor([[ 1.5000, -2.0000],\n"
                   "        [ 3.2500,  4.0000]])\n"
                   "tensor([ 1, 22,  3])\n"
                   "tensor([0.5000], dtype=f64)\n");
  free(buf);
  ax_scope_end();
}

/* Composite ops called with no scope open must not leak their temporaries. */
Test(core, ops_outside_any_scope_do_not_leak) {
  size_t tensors = ax_memory_stats_get(AX_CPU).live_tensors;
  size_t bytes = ax_memory_stats_get(AX_CPU).live_bytes;
  ax_tensor *a = ax_randn(AX_SHAPE(3, 4), NULL), *v = ax_randn(AX_SHAPE(4), NULL);
  ax_tensor *w = ax_randn(AX_SHAPE(5, 4), NULL), *b = ax_randn(AX_SHAPE(5), NULL);
  ax_tensor *t = ax_randn(AX_SHAPE(3, 4), NULL), *at = ax_transpose(a, 0, 1), *p = ax_sigmoid(t);
  ax_tensor *results[] = {
      ax_matmul(a, v), ax_linear(a, w, b), ax_reshape(at, AX_SHAPE(12)),
      ax_var(a, AX_DIMS(1), true, false), ax_logsumexp(a, AX_DIMS(1), false), ax_norm(a, 2.0, AX_ALL, false),
      ax_softmax(a, 0), ax_mse_loss(a, t, AX_REDUCTION_MEAN), ax_bce_with_logits(a, p, AX_REDUCTION_MEAN),
  };
  for (size_t i = 0; i < sizeof results / sizeof results[0]; i++) {
    cr_expect_not_null(results[i], "result %zu", i);
    ax_free(results[i]);
  }
  ax_free(a), ax_free(v), ax_free(w), ax_free(b), ax_free(t), ax_free(at), ax_free(p);
  cr_expect_eq(ax_memory_stats_get(AX_CPU).live_tensors, tensors);
  cr_expect_eq(ax_memory_stats_get(AX_CPU).live_bytes, bytes);
}

static ax_tensor *copies_fn(ax_tensor **x, void *ctx) {
  /* contiguous of a transposed leaf copies; clone, to and a same-dtype cast are copies too */
  ax_tensor *c = ax_contiguous(x[0]);
  return ax_mul(ax_cast(ax_to(ax_clone(c), AX_CPU), AX_F64), c);
}

Test(core, gradcheck_copies) {
  ax_scope_begin();
  ax_tensor *in[1] = {tu_leaf(ax_transpose(tu_randn(AX_F64, AX_SHAPE(3, 4)), 0, 1))};
  cr_expect(TU_GRADCHECK(copies_fn, in, 1, NULL));
  cr_expect_str_eq(ax_grad_fn_name(ax_contiguous(in[0])), "contiguous");
  ax_scope_end();
}

Test(core, cast_backward_returns_to_input_dtype) {
  ax_scope_begin();
  ax_tensor *x = tu_leaf(ax_full(AX_SHAPE(3), 0.25, &(ax_tensor_opts){.dtype = AX_F64}));
  ax_tensor *y = ax_mul_scalar(ax_cast(x, AX_F32), 3.0);
  cr_assert_eq(ax_backward(ax_sum(y, AX_ALL, false), NULL), 0);
  cr_expect_eq(x->grad->dtype, AX_F64);
  cr_expect(tu_allclose_data(x->grad, (double[]){3, 3, 3}, 3, 0, 0));
  /* a cast to an integer dtype ends the graph */
  cr_expect(!ax_cast(x, AX_I32)->requires_grad);
  ax_scope_end();
}
