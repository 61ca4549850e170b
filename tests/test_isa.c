/* SPDX-License-Identifier: BSD-3-Clause */
/* Run-time ISA dispatch (kernels/cpu/isa.c): GEMM, conv (forward and both backwards) and
 * elementwise ops on every path this CPU has (AXON_ISA=avx2, avx512) against the generic
 * path, within a tolerance (vector width and FMA change the rounding, not the result). */
#include <criterion/criterion.h>
#include <string.h>

#include "axon.h"
#include "testutil.h"

static const char *const levels[] = {[AX_ISA_GENERIC] = "generic", [AX_ISA_AVX2] = "avx2",
                                     [AX_ISA_AVX512] = "avx512"};

enum { N_OUT = 12 };

/* Every dispatched kernel once, on fixed inputs (seeded): the results in out[]. */
static int run_all(ax_tensor **out) {
  ax_manual_seed(7);
  int n = 0;
  ax_tensor *a = tu_randn(AX_F32, AX_SHAPE(3, 67, 131)), *b = tu_randn(AX_F32, AX_SHAPE(3, 131, 45));
  out[n++] = ax_matmul(a, b);                                                  /* batched f32 GEMM */
  out[n++] = ax_matmul(ax_transpose(b, 1, 2), ax_transpose(a, 1, 2));          /* transposed operands */
  out[n++] = ax_cast(ax_matmul(ax_cast(a, AX_BF16), ax_cast(b, AX_BF16)), AX_F32); /* bf16 GEMM */
  ax_tensor *x = tu_leaf(tu_randn(AX_F32, AX_SHAPE(2, 5, 13, 11)));
  ax_tensor *w = tu_leaf(tu_randn(AX_F32, AX_SHAPE(8, 5, 3, 3)));
  ax_tensor *y = ax_conv2d(x, w, NULL, &(ax_conv2d_opts){.stride = 2, .padding = 1});
  ax_backward(ax_sum(ax_square(y), AX_ALL, false), NULL);
  out[n++] = y, out[n++] = x->grad, out[n++] = w->grad; /* conv2d and both backwards */
  ax_tensor *e = tu_randn(AX_F32, AX_SHAPE(37, 129)), *r = tu_randn(AX_F32, AX_SHAPE(1, 129));
  out[n++] = ax_gelu(e);
  out[n++] = ax_exp(e);
  out[n++] = ax_tanh(e);
  out[n++] = ax_add(e, r); /* broadcast */
  out[n++] = ax_mul(e, r);
  out[n++] = ax_sigmoid(ax_mul_scalar(e, 3.0));
  for (int i = 0; i < n; i++) cr_assert_not_null(out[i], "result %d", i);
  return n;
}

TestSuite(isa, .init = tu_capture_errors);

Test(isa, every_path_matches_generic) {
  ax_scope_begin();
  cr_assert_eq(ax_settings_set("AXON_ISA", "generic"), 0);
  const char *generic = ax_cpu_isa(); /* "native (-march=...)" in a build with AXON_MARCH set */
  cr_assert(!strcmp(generic, "generic") || !strncmp(generic, "native", 6), "%s", generic);
  ax_tensor *ref[N_OUT], *got[N_OUT];
  int n = run_all(ref);
  int tried = 0;
  for (int isa = AX_ISA_AVX2; isa <= AX_ISA_AVX512; isa++) {
    if (!ax_cpu_isa_supported((ax_isa)isa)) {
      cr_log_info("ISA path %s: not on this CPU or not in this build, skipped", levels[isa]);
      continue;
    }
    cr_assert_eq(ax_settings_set("AXON_ISA", levels[isa]), 0);
    cr_assert_str_eq(ax_cpu_isa(), levels[isa]);
    cr_assert_eq(run_all(got), n);
    for (int i = 0; i < n; i++)
      cr_expect(tu_allclose(got[i], ref[i], 1e-4, 1e-4), "%s: result %d differs from the generic path", levels[isa], i);
    tried++;
  }
  cr_log_info("compared %d ISA path(s) against generic", tried);
  ax_settings_set("AXON_ISA", NULL);
  ax_scope_end();
}

/* the default takes the best path the CPU has; a cap above it falls back to the best */
Test(isa, default_is_the_best_supported) {
  ax_settings_set("AXON_ISA", NULL);
  int best = AX_ISA_GENERIC;
  for (int isa = AX_ISA_AVX2; isa <= AX_ISA_AVX512; isa++)
    if (ax_cpu_isa_supported((ax_isa)isa)) best = isa;
  const char *now = ax_cpu_isa();
  if (strncmp(now, "native", 6) != 0) cr_assert_str_eq(now, levels[best]);
  cr_assert_eq(ax_settings_set("AXON_ISA", "avx512"), 0);
  if (strncmp(now, "native", 6) != 0) cr_assert_str_eq(ax_cpu_isa(), levels[best]);
  cr_assert_eq(ax_settings_set("AXON_ISA", "sse9"), -1);
  cr_assert(tu_error_contains("AXON_ISA", "generic | avx2 | avx512", NULL));
  ax_settings_set("AXON_ISA", NULL);
}
