/* SPDX-License-Identifier: BSD-3-Clause */
/* Parity of the CUDA convolutions (ax_conv2d, ax_conv_transpose2d: forward and
 * the gradients of x, weight and bias) against the CPU, for f32, f64, bf16 and
 * f16: the native implicit-GEMM kernels, then the cuDNN path (the default where
 * the build has cuDNN) under its own op names, each selected with
 * ax_cuda_conv_force_backend whatever AXON_CONV says.
 *
 * The CPU conv has no bf16/f16 kernel, so for those the reference runs in f32
 * on the same (already rounded) values and is rounded to the dtype once.
 * Geometries mix odd sizes (7, 13, 33 channels, 129 images' worth of pixels
 * would be slow on the CPU, so the batch stays small and the planes odd),
 * stride, padding, dilation, groups, depthwise, 1x1, and a strided input (the
 * x leaf is a [N, C, W, H] tensor viewed transposed). */
#include <stdio.h>

#include "parity.h"

typedef struct conv_case {
  int64_t n, c, h, w, o, kh, kw;
  int sh, sw, ph, pw, dh, dw, groups, oph, opw;
  int strided; /* x stored [N, C, W, H] and viewed [N, C, H, W] */
} conv_case;

static const conv_case cases[] = {
    /* n  c   h   w   o  kh kw  sh sw ph pw dh dw g  oph opw strided */
    {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0},
    {3, 1, 28, 28, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0},   /* the default CNN's first layer */
    {2, 32, 14, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0},  /* its second */
    {2, 7, 13, 11, 9, 3, 5, 2, 1, 1, 2, 1, 2, 1, 1, 0, 1},    /* rectangular, stride, dilation */
    {3, 6, 9, 9, 12, 3, 3, 2, 2, 1, 1, 1, 1, 3, 1, 1, 0},     /* groups */
    {2, 33, 17, 15, 33, 3, 3, 1, 1, 1, 1, 1, 1, 33, 0, 0, 1}, /* depthwise */
    {4, 65, 7, 7, 31, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0},    /* pointwise */
    {2, 16, 8, 10, 24, 1, 1, 2, 2, 0, 0, 1, 1, 2, 1, 1, 0},   /* strided 1x1 */
    {1, 3, 37, 29, 5, 7, 7, 3, 3, 3, 3, 1, 1, 1, 2, 2, 1},    /* big kernel, stride 3 */
    {5, 20, 6, 6, 130, 3, 3, 1, 1, 2, 2, 2, 2, 2, 1, 1, 0},   /* many output channels, dilation 2 */
};

/* The emulate tier: the CNN layers on smaller planes (odd sizes), the rest as they are. */
static const conv_case emu_cases[] = {
    /* n  c   h   w   o  kh kw  sh sw ph pw dh dw g  oph opw strided */
    {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0},
    {2, 1, 13, 11, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0},
    {2, 32, 7, 9, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0},
    {2, 7, 13, 11, 9, 3, 5, 2, 1, 1, 2, 1, 2, 1, 1, 0, 1},
    {3, 6, 9, 9, 12, 3, 3, 2, 2, 1, 1, 1, 1, 3, 1, 1, 0},
    {2, 33, 17, 15, 33, 3, 3, 1, 1, 1, 1, 1, 1, 33, 0, 0, 1},
    {4, 65, 7, 7, 31, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0},
    {2, 16, 8, 10, 24, 1, 1, 2, 2, 0, 0, 1, 1, 2, 1, 1, 0},
    {1, 3, 37, 29, 5, 7, 7, 3, 3, 3, 3, 1, 1, 1, 2, 2, 1},
    {5, 20, 6, 6, 130, 3, 3, 1, 1, 2, 2, 2, 2, 2, 1, 1, 0},
};

static bool half_type(ax_dtype dt) { return dt == AX_BF16 || dt == AX_F16; }

static ax_tensor *leaf(ax_tensor *t) {
  ax_tensor *l = ax_detach(t);
  ax_set_requires_grad(l, true);
  return l;
}

static ax_tensor *as_input(ax_tensor *s, int strided) { return strided ? ax_transpose(s, 2, 3) : s; }

static void run_case(const char *op, bool transposed, ax_dtype dt, const conv_case *c) {
  ax_scope_begin();
  /* the transposed op's input has the "o" channels and its weight is [c_in, c_out/g, kh, kw] */
  int64_t cin = transposed ? c->o : c->c, cout = transposed ? c->c : c->o;
  int64_t xs[4] = {c->n, cin, c->strided ? c->w : c->h, c->strided ? c->h : c->w};
  int64_t ws[4] = {transposed ? cin : cout, (transposed ? cout : cin) / c->groups, c->kh, c->kw};
  ax_tensor *x = pr_randn(dt, 4, xs), *w = pr_randn(dt, 4, ws), *b = pr_randn(dt, 1, &cout);
  ax_conv2d_opts o = {.stride_hw = {c->sh, c->sw}, .padding_hw = {c->ph, c->pw}, .dilation_hw = {c->dh, c->dw},
                      .groups = c->groups};
  if (transposed) o.output_padding_hw[0] = c->oph, o.output_padding_hw[1] = c->opw;

  ax_dtype rdt = half_type(dt) ? AX_F32 : dt;
  ax_tensor *rx = leaf(ax_cast(x, rdt)), *rw = leaf(ax_cast(w, rdt)), *rb = leaf(ax_cast(b, rdt));
  ax_tensor *ref = transposed ? ax_conv_transpose2d(as_input(rx, c->strided), rw, rb, &o)
                              : ax_conv2d(as_input(rx, c->strided), rw, rb, &o);
  if (!ref) { /* a CPU failure (or an empty output): the CPU suites report it */
    fprintf(stderr, "parity %s: the CPU reference failed: %s\n", op, ax_last_error());
    ax_scope_end();
    return;
  }
  ax_tensor *gy = pr_randn(dt, ref->ndim, ref->shape);
  ax_backward(ref, ax_cast(gy, rdt));

  ax_tensor *cx = leaf(pr_cuda(x)), *cw = leaf(pr_cuda(w)), *cb = leaf(pr_cuda(b));
  ax_tensor *got = transposed ? ax_conv_transpose2d(as_input(cx, c->strided), cw, cb, &o)
                              : ax_conv2d(as_input(cx, c->strided), cw, cb, &o);
  if (got) ax_backward(got, pr_cuda(gy));

  const char *what[4] = {"fwd", "grad x", "grad w", "grad bias"};
  ax_tensor *refs[4] = {ref, rx->grad, rw->grad, rb->grad}, *gots[4] = {got, cx->grad, cw->grad, cb->grad};
  for (int i = 0; i < 4; i++) {
    char desc[160];
    snprintf(desc, sizeof desc, "%s x[%lld,%lld,%lld,%lld]%s w[%lld,%lld,%lld,%lld] s%dx%d p%dx%d d%dx%d g%d op%dx%d %s",
             ax_dtype_name(dt), (long long)c->n, (long long)cin, (long long)c->h, (long long)c->w,
             c->strided ? " strided" : "", (long long)ws[0], (long long)ws[1], (long long)ws[2], (long long)ws[3],
             c->sh, c->sw, c->ph, c->pw, c->dh, c->dw, c->groups, transposed ? c->oph : 0, transposed ? c->opw : 0,
             what[i]);
    pr_check(op, desc, refs[i] ? ax_cast(refs[i], dt) : NULL, gots[i], PR_GEMM);
  }
  ax_scope_end();
}

/* kernels/cuda/conv.cu (weak: absent from a CPU-only build) */
bool ax_cuda_conv_force_backend(int backend) __attribute__((weak));

void pr_family_conv(void) {
  const ax_dtype dts[] = {AX_F32, AX_F64, AX_BF16, AX_F16};
  const conv_case *list = pr_emulated_tier() ? emu_cases : cases;
  /* the native kernels, then cuDNN (the default where the build has it) when it is there */
  for (int backend = 0; backend < 2; backend++) {
    if (!ax_cuda_conv_force_backend || !ax_cuda_conv_force_backend(backend)) {
      if (backend == 1) printf("skip conv2d (cudnn): no cuDNN in this build or on this device\n");
      if (backend == 1 || ax_cuda_conv_force_backend) continue;
    }
    for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++)
      for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_case(backend ? "conv2d (cudnn)" : "conv2d", false, dts[d], &list[i]);
        run_case(backend ? "conv_transpose2d (cudnn)" : "conv_transpose2d", true, dts[d], &list[i]);
      }
  }
  if (ax_cuda_conv_force_backend) ax_cuda_conv_force_backend(-1);
}
