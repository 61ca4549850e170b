/* SPDX-License-Identifier: BSD-3-Clause */
/* Parity of the CUDA softmax and log_softmax against the CPU: forward and the
 * gradient of x, f32 / f64 / bf16 / f16, rows 1, 7, 129, 4097 by cols 1, 7,
 * 33, 1000 (the warp-per-row path, up to 1024), 4097 and 50257 (the
 * block-per-row path), along the last dim and along dim 0 (the op moves it
 * last), contiguous and transposed inputs, rows with odd lengths (no 16-byte
 * packs) and masked (-inf) entries as attention produces them (softmax only). */
#include <math.h>
#include <stdio.h>

#include "parity.h"

static ax_tensor *leaf(ax_tensor *t) {
  ax_tensor *l = ax_detach(t);
  ax_set_requires_grad(l, true);
  return l;
}

/* x as stored; `transposed` views it with its two dims swapped. */
static void run(bool take_log, ax_tensor *x, bool transposed, int dim, const char *note) {
  ax_scope_begin();
  const char *op = take_log ? "log_softmax" : "softmax";
  ax_tensor *rx = leaf(x), *cx = leaf(pr_cuda(x));
  ax_tensor *rin = transposed ? ax_transpose(rx, 0, 1) : rx, *cin = transposed ? ax_transpose(cx, 0, 1) : cx;
  ax_tensor *ref = take_log ? ax_log_softmax(rin, dim) : ax_softmax(rin, dim);
  ax_tensor *got = take_log ? ax_log_softmax(cin, dim) : ax_softmax(cin, dim);
  char desc[160];
  snprintf(desc, sizeof desc, "%s [%lld,%lld]%s dim %d%s fwd", ax_dtype_name(x->dtype), (long long)rin->shape[0],
           (long long)rin->shape[1], transposed ? " transposed" : "", dim, note);
  pr_check(op, desc, ref, got, PR_REDUCTION);
  if (ref && got) {
    ax_tensor *gy = pr_randn(x->dtype, ref->ndim, ref->shape);
    ax_backward(ref, gy);
    ax_backward(got, pr_cuda(gy));
    snprintf(desc, sizeof desc, "%s [%lld,%lld]%s dim %d%s grad", ax_dtype_name(x->dtype), (long long)rin->shape[0],
             (long long)rin->shape[1], transposed ? " transposed" : "", dim, note);
    pr_check(op, desc, rx->grad, cx->grad, PR_REDUCTION);
  }
  ax_scope_end();
}

static const int64_t ROWS[] = {1, 7, 129, 4097}, COLS[] = {1, 7, 33, 1000, 4097, 50257};
#define MAX_ELEMS (4LL << 20)
/* The emulate tier: a column count for each of the warp path's register counts (1 to 32
 * per lane: up to 32, 64, 128, 256, 512, 1024 columns) and each block size of the block
 * path (128 threads up to 4096 columns, 256 up to 16384, 512 beyond), with 16-byte packs
 * (1032) and without (odd counts), up to 40K elements. */
static const int64_t EMU_ROWS[] = {1, 7, 129}, EMU_COLS[] = {1, 7, 33, 100, 200, 300, 1000, 1032, 4097, 16391};
#define EMU_MAX_ELEMS (40LL << 10)

/* x with the upper triangle (col > row + shift) at -inf, as a causal mask leaves it */
static ax_tensor *masked(ax_dtype dt, int64_t r, int64_t c) {
  ax_tensor *x = pr_randn(dt, 2, (int64_t[]){r, c});
  ax_tensor *ri = ax_reshape(ax_arange(0, (double)r, 1, &(ax_tensor_opts){.dtype = AX_F64}), 2, (int64_t[]){r, 1});
  ax_tensor *ci = ax_reshape(ax_arange(0, (double)c, 1, &(ax_tensor_opts){.dtype = AX_F64}), 2, (int64_t[]){1, c});
  ax_tensor *ninf = ax_full(0, NULL, -INFINITY, &(ax_tensor_opts){.dtype = dt});
  return ax_where(ax_gt(ci, ax_add_scalar(ri, 3)), ninf, x);
}

void pr_family_softmax(void) {
  const ax_dtype dts[] = {AX_F32, AX_F64, AX_BF16, AX_F16};
  for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
    ax_dtype dt = dts[d];
    bool emu = pr_emulated_tier();
    const int64_t *rows = emu ? EMU_ROWS : ROWS, *cols = emu ? EMU_COLS : COLS;
    size_t nrows = emu ? sizeof EMU_ROWS / sizeof EMU_ROWS[0] : sizeof ROWS / sizeof ROWS[0];
    size_t ncols = emu ? sizeof EMU_COLS / sizeof EMU_COLS[0] : sizeof COLS / sizeof COLS[0];
    for (size_t i = 0; i < nrows; i++)
      for (size_t j = 0; j < ncols; j++) {
        int64_t r = rows[i], c = cols[j];
        if (r * c > (emu ? EMU_MAX_ELEMS : MAX_ELEMS)) continue;
        ax_tensor *x = ax_mul_scalar(pr_randn(dt, 2, (int64_t[]){r, c}), 3); /* logits spread like a model's */
        ax_tensor *xt = pr_randn(dt, 2, (int64_t[]){c, r}); /* viewed transposed as [r, c] */
        for (int lg = 0; lg < 2; lg++) {
          run(lg, x, false, 1, "");
          run(lg, xt, true, 1, "");
          /* along dim 0: c rows of r (the emulate tier: at most 1032 rows, a warp each) */
          if (emu ? c <= 1032 : r * c <= (1LL << 20)) run(lg, x, false, 0, "");
        }
      }
    /* softmax only: log_softmax's -inf outputs would make the error itself NaN */
    run(false, emu ? masked(dt, 129, 300) : masked(dt, 129, 1000), false, 1, " masked");
    run(false, masked(dt, 7, 4097), false, 1, " masked");
    run(false, masked(dt, 33, 33), false, 1, " masked");
  }
}
