/* SPDX-License-Identifier: BSD-3-Clause */
/* Parity of the CUDA pooling kernels (ax_max_pool2d with its indices,
 * ax_avg_pool2d with and without count_include_pad, ax_adaptive_avg_pool2d:
 * forward and input gradient) against the CPU, for f32, f64, bf16 and f16.
 * For bf16/f16 the reference runs in f32 on the same rounded values and is
 * rounded once. Cases: the default CNN's 2x2 pools, odd planes, ceil_mode,
 * padding, dilation, overlapping windows (stride < kernel), adaptive windows
 * larger and smaller than the input, and strided inputs ([N, C, W, H] viewed
 * transposed). */
#include <stdio.h>

#include "parity.h"

typedef enum { MAX, AVG, ADAPTIVE } kind;

typedef struct pool_case {
  kind k;
  int64_t n, c, h, w;
  ax_pool2d_opts o;
  int64_t oh, ow; /* adaptive */
  int strided;
} pool_case;

static const pool_case cases[] = {
    {MAX, 7, 32, 28, 28, {.kernel = 2}, 0, 0, 0}, /* the default CNN */
    {MAX, 3, 64, 14, 14, {.kernel = 2}, 0, 0, 1},
    {MAX, 2, 5, 13, 129, {.kernel = 3, .stride = 2, .padding = 1, .ceil_mode = true}, 0, 0, 0},
    {MAX, 1, 7, 17, 11, {.kernel_hw = {3, 2}, .stride = 1, .padding_hw = {1, 0}, .dilation_hw = {2, 3}}, 0, 0, 1},
    {MAX, 1, 1, 1, 1, {.kernel = 1}, 0, 0, 0},
    {AVG, 7, 32, 28, 28, {.kernel = 2}, 0, 0, 0},
    {AVG, 2, 5, 13, 129, {.kernel = 3, .stride = 2, .padding = 1, .ceil_mode = true}, 0, 0, 1},
    {AVG, 2, 5, 13, 129, {.kernel = 3, .stride = 2, .padding = 1, .ceil_mode = true, .exclude_pad = true}, 0, 0, 0},
    {AVG, 1, 9, 10, 11, {.kernel_hw = {4, 3}, .stride = 1, .padding = 1}, 0, 0, 1},
    {ADAPTIVE, 3, 33, 7, 7, {0}, 1, 1, 0},
    {ADAPTIVE, 2, 5, 13, 129, {0}, 5, 7, 1},
    {ADAPTIVE, 2, 3, 4, 5, {0}, 9, 11, 0}, /* larger than the input: overlapping windows */
};

/* The emulate tier: the CNN-sized ones smaller (odd planes, fewer channels). */
static const pool_case emu_cases[] = {
    {MAX, 3, 8, 14, 14, {.kernel = 2}, 0, 0, 0},
    {MAX, 2, 16, 7, 9, {.kernel = 2}, 0, 0, 1},
    {MAX, 2, 5, 13, 129, {.kernel = 3, .stride = 2, .padding = 1, .ceil_mode = true}, 0, 0, 0},
    {MAX, 1, 7, 17, 11, {.kernel_hw = {3, 2}, .stride = 1, .padding_hw = {1, 0}, .dilation_hw = {2, 3}}, 0, 0, 1},
    {MAX, 1, 1, 1, 1, {.kernel = 1}, 0, 0, 0},
    {AVG, 3, 8, 14, 14, {.kernel = 2}, 0, 0, 0},
    {AVG, 2, 5, 13, 129, {.kernel = 3, .stride = 2, .padding = 1, .ceil_mode = true}, 0, 0, 1},
    {AVG, 2, 5, 13, 129, {.kernel = 3, .stride = 2, .padding = 1, .ceil_mode = true, .exclude_pad = true}, 0, 0, 0},
    {AVG, 1, 9, 10, 11, {.kernel_hw = {4, 3}, .stride = 1, .padding = 1}, 0, 0, 1},
    {ADAPTIVE, 3, 33, 7, 7, {0}, 1, 1, 0},
    {ADAPTIVE, 2, 5, 13, 129, {0}, 5, 7, 1},
    {ADAPTIVE, 2, 3, 4, 5, {0}, 9, 11, 0},
};

static bool half_type(ax_dtype dt) { return dt == AX_BF16 || dt == AX_F16; }

static ax_tensor *leaf(ax_tensor *t) {
  ax_tensor *l = ax_detach(t);
  ax_set_requires_grad(l, true);
  return l;
}

static ax_tensor *run(const pool_case *c, ax_tensor *x, ax_tensor **ind) {
  if (c->strided) x = ax_transpose(x, 2, 3);
  if (c->k == MAX) return ax_max_pool2d(x, &c->o, ind);
  if (c->k == AVG) return ax_avg_pool2d(x, &c->o);
  return ax_adaptive_avg_pool2d(x, c->oh, c->ow);
}

static void run_case(ax_dtype dt, const pool_case *c) {
  static const char *ops[] = {"max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"};
  ax_scope_begin();
  int64_t xs[4] = {c->n, c->c, c->strided ? c->w : c->h, c->strided ? c->h : c->w};
  ax_tensor *x = pr_randn(dt, 4, xs);
  ax_dtype rdt = half_type(dt) ? AX_F32 : dt;
  ax_tensor *rx = leaf(ax_cast(x, rdt)), *rind = NULL, *gind = NULL;
  ax_tensor *ref = run(c, rx, c->k == MAX ? &rind : NULL);
  if (!ref) {
    fprintf(stderr, "parity %s: the CPU reference failed: %s\n", ops[c->k], ax_last_error());
    ax_scope_end();
    return;
  }
  ax_tensor *gy = pr_randn(dt, ref->ndim, ref->shape);
  ax_backward(ref, ax_cast(gy, rdt));
  ax_tensor *cx = leaf(pr_cuda(x));
  ax_tensor *got = run(c, cx, c->k == MAX ? &gind : NULL);
  if (got) ax_backward(got, pr_cuda(gy));

  char desc[160];
  snprintf(desc, sizeof desc, "%s x[%lld,%lld,%lld,%lld]%s k%dx%d s%dx%d p%dx%d d%dx%d ceil%d excl%d out%lldx%lld",
           ax_dtype_name(dt), (long long)c->n, (long long)c->c, (long long)c->h, (long long)c->w,
           c->strided ? " strided" : "", c->o.kernel ? c->o.kernel : c->o.kernel_hw[0],
           c->o.kernel ? c->o.kernel : c->o.kernel_hw[1], c->o.stride ? c->o.stride : c->o.stride_hw[0],
           c->o.stride ? c->o.stride : c->o.stride_hw[1], c->o.padding ? c->o.padding : c->o.padding_hw[0],
           c->o.padding ? c->o.padding : c->o.padding_hw[1], c->o.dilation ? c->o.dilation : c->o.dilation_hw[0],
           c->o.dilation ? c->o.dilation : c->o.dilation_hw[1], c->o.ceil_mode, c->o.exclude_pad, (long long)c->oh,
           (long long)c->ow);
  char d2[200];
  pr_kind fk = c->k == MAX ? PR_EXACT : PR_ELEMENTWISE;
  snprintf(d2, sizeof d2, "%s fwd", desc);
  pr_check(ops[c->k], d2, ax_cast(ref, dt), got, fk);
  if (c->k == MAX) {
    snprintf(d2, sizeof d2, "%s indices", desc);
    pr_check(ops[c->k], d2, rind ? ax_cast(rind, AX_F64) : NULL, gind ? ax_cast(gind, AX_F64) : NULL, PR_EXACT);
  }
  snprintf(d2, sizeof d2, "%s grad x", desc);
  pr_check(ops[c->k], d2, rx->grad ? ax_cast(rx->grad, dt) : NULL, cx->grad, PR_ELEMENTWISE);
  ax_scope_end();
}

void pr_family_pool(void) {
  const ax_dtype dts[] = {AX_F32, AX_F64, AX_BF16, AX_F16};
  const pool_case *list = pr_emulated_tier() ? emu_cases : cases;
  for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++)
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(dts[d], &list[i]);
}
