/* SPDX-License-Identifier: BSD-3-Clause */
/* Parity of the CUDA GEMM (ax_matmul, ax_linear: forward and both input
 * gradients) against the CPU, once per implementation (ours and cuBLAS, chosen
 * with ax_cuda_gemm_set_impl), for f32, f64, bf16 and f16.
 *
 * Operands are built as CPU storage tensors, moved to the GPU, and only then
 * viewed (transposed, narrowed to a padded leading dimension, broadcast), so
 * the GPU kernel sees the same non-contiguous layouts as the CPU one. The
 * gradients compared are those of the storage leaves.
 *
 * The CPU GEMM has no bf16/f16 kernel, so for those the reference runs in f32
 * on the same (already rounded) values and its results are rounded to the
 * dtype once: the GPU accumulates in f32 too, so the two differ by summation
 * order and one rounding. Sizes are chosen to hit every native kernel: the
 * tensor-core ones need 16-byte aligned rows (leading dimensions multiple of
 * 8 for 16-bit types), anything else takes the CUDA-core fallback (gemm_simt).
 * Which tensor-core kernel runs depends on the device and the build: on an
 * H100/H200 built with sm_90a (the default CMAKE_CUDA_ARCHITECTURES) every
 * aligned bf16/f16 case runs gemm_wgmma, its 128x256 tile when the output has
 * at least one tile per SM (the 4096-sized cases below) and its 128x128 tile
 * otherwise; elsewhere, or with AXON_GEMM_WGMMA=0, they run gemm_tc (mma.sync).
 * The large bf16/f16 cases are the sizes axon bench times. */
#include <stdio.h>
#include <string.h>

#include "parity.h"

/* gemm.cu, runtime.h; weak so the file links into a build whose library lacks them */
void ax_cuda_gemm_set_impl(int impl) __attribute__((weak));
void ax_cuda_gemm_set_wgmma(int on) __attribute__((weak));
int ax_cuda_is_emulated(void) __attribute__((weak));
enum { IMPL_DEFAULT = 0, IMPL_NATIVE = 1, IMPL_CUBLAS = 2 };

typedef struct mm_case {
  int64_t m, k, n;
  int ta, tb; /* operand stored transposed (then viewed back) */
  int pad;    /* extra columns in the storage: leading dim > row length */
  int na, nb; /* batch dims of a and b */
  int64_t ba[3], bb[3];
} mm_case;

static ax_tensor *leaf(ax_tensor *t) {
  ax_tensor *l = ax_detach(t);
  ax_set_requires_grad(l, true);
  return l;
}

/* The storage of an operand whose logical matrix is [rows, cols]: [batch.., rows, cols+pad],
 * or [batch.., cols, rows+pad] when stored transposed. */
static void storage_shape(const mm_case *c, int which, int64_t *shape, int *ndim) {
  int nbat = which ? c->nb : c->na, t = which ? c->tb : c->ta;
  const int64_t *bat = which ? c->bb : c->ba;
  int64_t rows = which ? c->k : c->m, cols = which ? c->n : c->k;
  for (int i = 0; i < nbat; i++) shape[i] = bat[i];
  shape[nbat] = t ? cols : rows;
  shape[nbat + 1] = (t ? rows : cols) + c->pad;
  *ndim = nbat + 2;
}

/* The logical operand viewed from its storage leaf. */
static ax_tensor *operand_view(const mm_case *c, int which, ax_tensor *s) {
  int t = which ? c->tb : c->ta;
  int64_t len = s->shape[s->ndim - 1] - c->pad;
  ax_tensor *v = c->pad ? ax_narrow(s, -1, 0, len) : s;
  return t ? ax_transpose(v, -1, -2) : v;
}

static bool half_type(ax_dtype dt) { return dt == AX_BF16 || dt == AX_F16; }

static void describe(char *buf, size_t n, const char *what, ax_dtype dt, const mm_case *c) {
  char ba[32] = "", bb[32] = "";
  for (int i = 0; i < c->na; i++) snprintf(ba + strlen(ba), sizeof ba - strlen(ba), "%lld,", (long long)c->ba[i]);
  for (int i = 0; i < c->nb; i++) snprintf(bb + strlen(bb), sizeof bb - strlen(bb), "%lld,", (long long)c->bb[i]);
  snprintf(buf, n, "%s a[%s%lld,%lld]%s b[%s%lld,%lld]%s pad%d %s", ax_dtype_name(dt), ba, (long long)c->m,
           (long long)c->k, c->ta ? "^T" : "", bb, (long long)c->k, (long long)c->n, c->tb ? "^T" : "", c->pad,
           what);
}

static bool forward_only; /* the emulate tier's 128x256-tile cases: the product alone */

static void matmul_case(const char *op, ax_dtype dt, const mm_case *c) {
  ax_scope_begin();
  int64_t sa[AX_MAX_DIMS], sb[AX_MAX_DIMS];
  int nda, ndb;
  storage_shape(c, 0, sa, &nda);
  storage_shape(c, 1, sb, &ndb);
  ax_tensor *a = pr_randn(dt, nda, sa), *b = pr_randn(dt, ndb, sb);

  /* reference on the CPU (f32 for the 16-bit types) */
  ax_dtype rdt = half_type(dt) ? AX_F32 : dt;
  ax_tensor *ra = leaf(ax_cast(a, rdt)), *rb = leaf(ax_cast(b, rdt));
  ax_tensor *ref = ax_matmul(operand_view(c, 0, ra), operand_view(c, 1, rb));
  if (!ref) { /* a CPU failure: the CPU suites report it */
    fprintf(stderr, "parity %s: the CPU reference failed: %s\n", op, ax_last_error());
    ax_scope_end();
    return;
  }
  ax_tensor *gy = pr_randn(dt, ref->ndim, ref->shape);
  if (!forward_only) ax_backward(ref, ax_cast(gy, rdt));

  ax_tensor *ca = leaf(pr_cuda(a)), *cb = leaf(pr_cuda(b));
  ax_tensor *got = ax_matmul(operand_view(c, 0, ca), operand_view(c, 1, cb));
  if (got && !forward_only) ax_backward(got, pr_cuda(gy));

  char desc[160];
  describe(desc, sizeof desc, "fwd", dt, c);
  pr_check(op, desc, ax_cast(ref, dt), got, PR_GEMM);
  if (forward_only) {
    ax_scope_end();
    return;
  }
  describe(desc, sizeof desc, "grad a", dt, c);
  pr_check(op, desc, ax_cast(ra->grad, dt), ca->grad, PR_GEMM);
  describe(desc, sizeof desc, "grad b", dt, c);
  pr_check(op, desc, ax_cast(rb->grad, dt), cb->grad, PR_GEMM);
  ax_scope_end();
}

/* y = x W^T + b with x [rows.., in], W [out, in]: the weight reaches the GEMM transposed
 * and, for 3-D x, broadcast across the batch. */
static void linear_case(const char *op, ax_dtype dt, int ndx, const int64_t *xshape, int64_t out) {
  ax_scope_begin();
  int64_t in = xshape[ndx - 1];
  ax_tensor *x = pr_randn(dt, ndx, xshape), *w = pr_randn(dt, 2, (int64_t[]){out, in});
  ax_tensor *bias = pr_randn(dt, 1, (int64_t[]){out});
  ax_dtype rdt = half_type(dt) ? AX_F32 : dt;
  ax_tensor *rx = leaf(ax_cast(x, rdt)), *rw = leaf(ax_cast(w, rdt)), *rbias = leaf(ax_cast(bias, rdt));
  ax_tensor *ref = ax_linear(rx, rw, rbias);
  if (!ref) { /* a CPU failure: the CPU suites report it */
    fprintf(stderr, "parity %s: the CPU reference failed: %s\n", op, ax_last_error());
    ax_scope_end();
    return;
  }
  ax_tensor *gy = pr_randn(dt, ref->ndim, ref->shape);
  ax_backward(ref, ax_cast(gy, rdt));

  ax_tensor *cx = leaf(pr_cuda(x)), *cw = leaf(pr_cuda(w)), *cbias = leaf(pr_cuda(bias));
  ax_tensor *got = ax_linear(cx, cw, cbias);
  if (got) ax_backward(got, pr_cuda(gy));

  char shape[64], desc[160];
  ax_shape_str(x, shape, sizeof shape);
  const char *what[4] = {"fwd", "grad x", "grad w", "grad bias"};
  ax_tensor *refs[4] = {ref, rx->grad, rw->grad, rbias->grad}, *gots[4] = {got, cx->grad, cw->grad, cbias->grad};
  for (int i = 0; i < 4; i++) {
    snprintf(desc, sizeof desc, "%s x%s out %lld %s", ax_dtype_name(dt), shape, (long long)out, what[i]);
    pr_check(op, desc, ax_cast(refs[i], dt), gots[i], PR_GEMM);
  }
  ax_scope_end();
}

static const mm_case cases[] = {
    /* m, k, n, ta, tb, pad, na, nb, ba, bb */
    {1, 1, 1, 0, 0, 0, 0, 0, {0}, {0}},
    {1, 1, 1, 1, 1, 0, 0, 0, {0}, {0}},
    {7, 13, 5, 0, 0, 0, 0, 0, {0}, {0}},
    {7, 13, 5, 0, 1, 0, 0, 0, {0}, {0}},
    {7, 13, 5, 1, 0, 0, 0, 0, {0}, {0}},
    {7, 13, 5, 1, 1, 0, 0, 0, {0}, {0}},
    {129, 65, 257, 0, 0, 0, 0, 0, {0}, {0}},
    {129, 65, 257, 0, 1, 0, 0, 0, {0}, {0}},
    {129, 65, 257, 1, 0, 0, 0, 0, {0}, {0}},
    {129, 65, 257, 1, 1, 0, 0, 0, {0}, {0}},
    {512, 512, 512, 0, 0, 0, 0, 0, {0}, {0}},
    {512, 512, 512, 1, 1, 0, 0, 0, {0}, {0}},
    /* 16-byte aligned rows, sizes off the 128x128x32 tile: the tensor-core kernel's edges */
    {200, 72, 136, 0, 0, 0, 0, 0, {0}, {0}},
    {200, 72, 136, 0, 1, 0, 0, 0, {0}, {0}},
    {200, 72, 136, 1, 0, 0, 0, 0, {0}, {0}},
    {200, 72, 136, 1, 1, 0, 0, 0, {0}, {0}},
    {264, 1032, 520, 0, 0, 0, 0, 0, {0}, {0}},
    {8, 8, 8, 1, 0, 0, 0, 0, {0}, {0}},
    /* padded leading dims: partial 16-byte chunks at the k edge, vector loads refused */
    {97, 50, 75, 0, 0, 14, 0, 0, {0}, {0}},
    {97, 50, 75, 1, 1, 6, 0, 0, {0}, {0}},
    {130, 37, 66, 0, 1, 3, 0, 0, {0}, {0}},
    /* batches: broadcast on either side (stride 0) and on both */
    {33, 17, 65, 0, 0, 0, 2, 1, {2, 1}, {3}},
    {33, 17, 65, 1, 1, 0, 1, 2, {3}, {2, 3}},
    {64, 40, 24, 0, 0, 0, 3, 1, {2, 3, 1}, {4}},
    {128, 64, 128, 0, 1, 0, 1, 1, {5}, {5}},
};

/* bf16/f16 only (a 4096^3 reference in f64 would take minutes on the CPU): the
 * large-tile wgmma kernel, every transpose variant through the gradients */
static const mm_case large_cases[] = {
    {4096, 4096, 4096, 0, 0, 0, 0, 0, {0}, {0}},
    {4096, 4096, 4096, 0, 1, 0, 0, 0, {0}, {0}},
    {3000, 4096, 2056, 1, 0, 8, 0, 0, {0}, {0}}, /* edges off the 128x256 tile, padded rows */
    {1024, 1024, 1024, 0, 0, 0, 1, 1, {8}, {8}},
};

/* The emulate tier: the cases above without the 512^3 ones, a long k that is not a
 * thousand (still many k tiles), and (emu_big_cases) batches of 132 small products: as
 * many tiles as the emulated H100 has SMs, which picks the big tiles (f32 128x128,
 * wgmma 128x256) that the full tier reaches with 4096^3. A 128x256 wgmma tile costs
 * the emulator as much for an 8x8 product as for a full one (about 0.4 s for 132), so
 * the bf16/f16 ones run forward only, once per transpose variant. */
static const mm_case emu_cases[] = {
    /* m, k, n, ta, tb, pad, na, nb, ba, bb */
    {1, 1, 1, 0, 0, 0, 0, 0, {0}, {0}},
    {1, 1, 1, 1, 1, 0, 0, 0, {0}, {0}},
    {7, 13, 5, 0, 0, 0, 0, 0, {0}, {0}},
    {7, 13, 5, 0, 1, 0, 0, 0, {0}, {0}},
    {7, 13, 5, 1, 0, 0, 0, 0, {0}, {0}},
    {7, 13, 5, 1, 1, 0, 0, 0, {0}, {0}},
    {129, 65, 257, 0, 0, 0, 0, 0, {0}, {0}},
    {129, 65, 257, 1, 1, 0, 0, 0, {0}, {0}},
    {200, 72, 136, 0, 0, 0, 0, 0, {0}, {0}},
    {200, 72, 136, 0, 1, 0, 0, 0, {0}, {0}},
    {200, 72, 136, 1, 0, 0, 0, 0, {0}, {0}},
    {200, 72, 136, 1, 1, 0, 0, 0, {0}, {0}},
    {136, 520, 72, 0, 0, 0, 0, 0, {0}, {0}},
    {8, 8, 8, 1, 0, 0, 0, 0, {0}, {0}},
    {97, 50, 75, 0, 0, 14, 0, 0, {0}, {0}},
    {97, 50, 75, 1, 1, 6, 0, 0, {0}, {0}},
    {130, 37, 66, 0, 1, 3, 0, 0, {0}, {0}},
    {33, 17, 65, 0, 0, 0, 2, 1, {2, 1}, {3}},
    {33, 17, 65, 1, 1, 0, 1, 2, {3}, {2, 3}},
    {64, 40, 24, 0, 0, 0, 3, 1, {2, 3, 1}, {4}},
    {128, 64, 128, 0, 1, 0, 1, 1, {5}, {5}},
};
static const mm_case emu_big_cases[] = {
    {8, 16, 8, 0, 0, 0, 1, 1, {132}, {132}},
    {8, 16, 8, 0, 1, 0, 1, 1, {132}, {132}},
    {8, 16, 8, 1, 0, 0, 1, 1, {132}, {132}},
    {8, 16, 8, 1, 1, 0, 1, 1, {132}, {132}},
};
/* ... and with wgmma turned off (ax_cuda_gemm_set_wgmma), aligned bf16/f16 cases on
 * gemm_tc (mma.sync), which an H100 never picks by itself: every transpose variant
 * through the gradients, edges off its 128x128x32 tile */
static const mm_case emu_tc_cases[] = {
    {72, 40, 56, 0, 0, 0, 0, 0, {0}, {0}},
    {72, 40, 56, 1, 1, 0, 0, 0, {0}, {0}},
};

static void run_impl(const char *op_mm, const char *op_lin) {
  const ax_dtype dts[] = {AX_F32, AX_F64, AX_BF16, AX_F16};
  if (pr_emulated_tier()) {
    for (int d = 0; d < 4; d++) {
      for (size_t i = 0; i < sizeof emu_cases / sizeof emu_cases[0]; i++) matmul_case(op_mm, dts[d], &emu_cases[i]);
      if (dts[d] != AX_F64) /* f64 has one tile */
        for (size_t i = 0; i < sizeof emu_big_cases / sizeof emu_big_cases[0]; i++) {
          forward_only = half_type(dts[d]) || i % 3 != 0; /* f32: NN and TT with their gradients */
          matmul_case(op_mm, dts[d], &emu_big_cases[i]);
          forward_only = false;
        }
      linear_case(op_lin, dts[d], 2, (int64_t[]){7, 13}, 5);
      linear_case(op_lin, dts[d], 3, (int64_t[]){2, 65, 129}, 257);
      linear_case(op_lin, dts[d], 2, (int64_t[]){96, 256}, 136);
      if (!half_type(dts[d]) || !ax_cuda_gemm_set_wgmma) continue;
      ax_cuda_gemm_set_wgmma(0);
      for (size_t i = 0; i < sizeof emu_tc_cases / sizeof emu_tc_cases[0]; i++)
        matmul_case(op_mm, dts[d], &emu_tc_cases[i]);
      ax_cuda_gemm_set_wgmma(-1);
    }
    return;
  }
  for (int d = 0; d < 4; d++) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) matmul_case(op_mm, dts[d], &cases[i]);
    linear_case(op_lin, dts[d], 2, (int64_t[]){7, 13}, 5);
    linear_case(op_lin, dts[d], 3, (int64_t[]){2, 65, 129}, 257);
    linear_case(op_lin, dts[d], 2, (int64_t[]){96, 256}, 136);
    if (!half_type(dts[d])) continue;
    for (size_t i = 0; i < sizeof large_cases / sizeof large_cases[0]; i++) matmul_case(op_mm, dts[d], &large_cases[i]);
    linear_case(op_lin, dts[d], 3, (int64_t[]){8, 512, 1024}, 4096); /* a GPT MLP's first layer */
  }
}

void pr_family_gemm(void) {
  if (!ax_cuda_gemm_set_impl) {
    run_impl("matmul", "linear");
    return;
  }
  ax_cuda_gemm_set_impl(IMPL_NATIVE);
  run_impl("matmul/native", "linear/native");
  if (ax_cuda_is_emulated && ax_cuda_is_emulated() == 1) {
    printf("skip matmul/cublas, linear/cublas: cuBLAS is not available on the emulated device\n");
  } else {
    ax_cuda_gemm_set_impl(IMPL_CUBLAS);
    run_impl("matmul/cublas", "linear/cublas");
  }
  ax_cuda_gemm_set_impl(IMPL_DEFAULT);
}
