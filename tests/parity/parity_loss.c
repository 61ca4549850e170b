/* SPDX-License-Identifier: BSD-3-Clause */
/* Parity of the CUDA losses against the CPU, forward and the gradient of the
 * input (and of the target where it has one), f32 / f64 / bf16 / f16:
 *   cross_entropy (the fused kernels): every reduction, ignore_index (about one
 *     target in eight), label smoothing, [N, C] with rows 1, 7, 129, 4097 and
 *     classes 1, 7, 33, 1000, 4097, 50257 (up to 4M logits), [N, C, d1, d2],
 *     unbatched [C], transposed logits;
 *   nll_loss, mse, l1, smooth_l1, bce_with_logits (composites of other kernels)
 *     on a few shapes, contiguous and transposed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parity.h"

static ax_tensor *leaf(ax_tensor *t) {
  ax_tensor *l = ax_detach(t);
  ax_set_requires_grad(l, true);
  return l;
}

enum { L_CE, L_NLL, L_MSE, L_L1, L_SMOOTH_L1, L_BCE, L_N };
static const char *names[L_N] = {"cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss",
                                 "bce_with_logits"};

typedef struct {
  int which;
  ax_cross_entropy_opts o; /* reduction for every loss; the rest for the class losses */
  bool transposed;         /* the input (and a float target) viewed with dims 0 and 1 swapped */
} lcase;

static ax_tensor *apply(const lcase *c, ax_tensor *x, ax_tensor *t) {
  switch (c->which) {
    case L_CE: return ax_cross_entropy(x, t, &c->o);
    case L_NLL: return ax_nll_loss(x, t, &c->o);
    case L_MSE: return ax_mse_loss(x, t, c->o.reduction);
    case L_L1: return ax_l1_loss(x, t, c->o.reduction);
    case L_SMOOTH_L1: return ax_smooth_l1_loss(x, t, c->o.reduction, 0.7);
    default: return ax_bce_with_logits(x, t, c->o.reduction);
  }
}

static ax_tensor *view(ax_tensor *t, bool transposed) { return transposed && t->ndim >= 2 ? ax_transpose(t, 0, 1) : t; }

/* x (and a float target t) as stored; class targets are given in the viewed layout. */
static void run(const lcase *c, ax_tensor *x, ax_tensor *t) {
  ax_scope_begin();
  bool class_loss = c->which == L_CE || c->which == L_NLL, tgrad = !class_loss;
  ax_tensor *rx = leaf(x), *cx = leaf(pr_cuda(x));
  ax_tensor *rt = tgrad ? leaf(t) : t, *ct = tgrad ? leaf(pr_cuda(t)) : pr_cuda(t);
  ax_tensor *rin = view(rx, c->transposed), *cin = view(cx, c->transposed);
  ax_tensor *rtin = tgrad ? view(rt, c->transposed) : rt, *ctin = tgrad ? view(ct, c->transposed) : ct;
  if (c->which == L_NLL) { /* nll takes log-probabilities */
    rin = ax_log_softmax(rin, rin->ndim == 1 ? 0 : 1);
    cin = ax_log_softmax(cin, cin->ndim == 1 ? 0 : 1);
  }
  char desc[200], shp[64] = "[";
  for (int d = 0; d < x->ndim; d++)
    snprintf(shp + strlen(shp), sizeof shp - strlen(shp), "%s%lld", d ? "," : "", (long long)view(x, c->transposed)->shape[d]);
  strcat(shp, "]");
  const char *red[3] = {"mean", "sum", "none"};
  snprintf(desc, sizeof desc, "%s %s%s %s ls %g ignore %lld", ax_dtype_name(x->dtype), shp,
           c->transposed ? " transposed" : "", red[c->o.reduction], c->o.label_smoothing,
           (long long)(c->o.has_ignore_index ? c->o.ignore_index : -100));
  ax_tensor *ref = apply(c, rin, rtin), *got = apply(c, cin, ctin);
  if (!ref) {
    fprintf(stderr, "parity %s %s: the CPU reference failed: %s\n", names[c->which], desc, ax_last_error());
    ax_scope_end();
    return;
  }
  char d2[240];
  snprintf(d2, sizeof d2, "%s fwd", desc);
  pr_check(names[c->which], d2, ref, got, PR_REDUCTION);
  if (got) {
    ax_tensor *gy = pr_randn(ref->dtype, ref->ndim, ref->shape);
    ax_backward(ref, gy);
    ax_backward(got, pr_cuda(gy));
    snprintf(d2, sizeof d2, "%s grad input", desc);
    pr_check(names[c->which], d2, rx->grad, cx->grad, PR_REDUCTION);
    if (tgrad) {
      snprintf(d2, sizeof d2, "%s grad target", desc);
      pr_check(names[c->which], d2, rt->grad, ct->grad, PR_REDUCTION);
    }
  }
  ax_scope_end();
}

/* Class targets of shape (nd, shape) in [0, classes); every eighth (from the
 * fourth) set to `ignore`, so the first is never ignored and a mean is never 0/0. */
static ax_tensor *targets(int nd, const int64_t *shape, int64_t classes, int64_t ignore) {
  ax_tensor *u = ax_contiguous(pr_uniform(AX_F64, nd, shape, 0, 1));
  int64_t n = ax_numel(u);
  const double *p = ax_data_ptr(u);
  int64_t *v = malloc((size_t)(n ? n : 1) * sizeof *v);
  for (int64_t i = 0; i < n; i++) v[i] = i % 8 == 3 ? ignore : (int64_t)(p[i] * ((double)classes - 1e-3));
  ax_tensor *t = ax_from_data(v, nd, shape, &(ax_tensor_opts){.dtype = AX_I64});
  free(v);
  return t;
}

/* The option sets every class-loss case runs with. */
static const ax_cross_entropy_opts OPTS[] = {
    {.reduction = AX_REDUCTION_MEAN},
    {.reduction = AX_REDUCTION_SUM, .label_smoothing = 0.1},
    {.reduction = AX_REDUCTION_NONE, .has_ignore_index = true, .ignore_index = 0, .label_smoothing = 0.2},
    {.reduction = AX_REDUCTION_MEAN, .has_ignore_index = true, .ignore_index = 3, .label_smoothing = 0.05},
};
#define NOPTS (sizeof OPTS / sizeof OPTS[0])

static void class_case(int which, ax_dtype dt, int nd, const int64_t *shape, bool transposed, int opt) {
  ax_scope_begin();
  int64_t stored[AX_MAX_DIMS], tshape[AX_MAX_DIMS];
  for (int d = 0; d < nd; d++) stored[d] = shape[d];
  if (transposed) stored[0] = shape[1], stored[1] = shape[0];
  int cdim = nd == 1 ? 0 : 1, tn = 0;
  for (int d = 0; d < nd; d++)
    if (d != cdim) tshape[tn++] = shape[d];
  lcase c = {.which = which, .o = OPTS[opt], .transposed = transposed};
  int64_t ignore = c.o.has_ignore_index ? c.o.ignore_index : -100;
  ax_tensor *x = ax_mul_scalar(pr_randn(dt, nd, stored), 2);
  run(&c, x, targets(tn, tshape, shape[cdim], ignore));
  ax_scope_end();
}

static const int64_t ROWS[] = {1, 7, 129, 4097}, COLS[] = {1, 7, 33, 1000, 4097, 50257};
#define MAX_ELEMS (4LL << 20)
/* The emulate tier: up to 64K logits (a warp per row up to 1024 classes, a block of 128,
 * 256 or 512 threads beyond, with 16-byte packs at 1032 classes and without elsewhere). */
static const int64_t EMU_ROWS[] = {1, 7, 129}, EMU_COLS[] = {1, 7, 33, 1000, 1032, 4097, 50257};
#define EMU_MAX_ELEMS (64LL << 10)

static void cross_entropy_cases(ax_dtype dt) {
  bool emu = pr_emulated_tier();
  const int64_t *rows = emu ? EMU_ROWS : ROWS, *cols = emu ? EMU_COLS : COLS;
  size_t nrows = emu ? sizeof EMU_ROWS / sizeof EMU_ROWS[0] : sizeof ROWS / sizeof ROWS[0];
  size_t ncols = emu ? sizeof EMU_COLS / sizeof EMU_COLS[0] : sizeof COLS / sizeof COLS[0];
  for (size_t i = 0; i < nrows; i++)
    for (size_t j = 0; j < ncols; j++) {
      int64_t r = rows[i], c = cols[j];
      if (r * c > (emu ? EMU_MAX_ELEMS : MAX_ELEMS)) continue;
      for (size_t k = 0; k < NOPTS; k++) class_case(L_CE, dt, 2, (int64_t[]){r, c}, false, (int)k);
      class_case(L_CE, dt, 2, (int64_t[]){r, c}, true, (int)(i + j) % NOPTS);
    }
  for (size_t k = 0; k < NOPTS; k++) {
    class_case(L_CE, dt, 4, (int64_t[]){3, 7, 5, 9}, false, (int)k); /* [N, C, d1, d2] */
    class_case(L_CE, dt, 3, (int64_t[]){2, 1000, emu ? 5 : 33}, false, (int)k);
    class_case(L_CE, dt, 1, (int64_t[]){33}, false, (int)k); /* unbatched */
    class_case(L_NLL, dt, 2, (int64_t[]){129, 33}, false, (int)k);
    class_case(L_NLL, dt, 3, (int64_t[]){7, 5, 9}, true, (int)k);
  }
}

static void regression_cases(ax_dtype dt) {
  const int64_t full_shapes[][2] = {{1, 1}, {7, 33}, {129, 1000}, {4097, 7}};
  const int64_t emu_shapes[][2] = {{1, 1}, {7, 33}, {129, 65}, {257, 7}}; /* the emulate tier */
  const int64_t(*shapes)[2] = pr_emulated_tier() ? emu_shapes : full_shapes;
  for (int w = L_MSE; w <= L_BCE; w++)
    for (size_t i = 0; i < sizeof full_shapes / sizeof full_shapes[0]; i++)
      for (int r = 0; r < 3; r++)
        for (int t = 0; t < 2; t++) {
          ax_scope_begin();
          lcase c = {.which = w, .o = {.reduction = (ax_reduction)r}, .transposed = t};
          ax_tensor *x = pr_randn(dt, 2, shapes[i]);
          ax_tensor *y = w == L_BCE ? pr_uniform(dt, 2, shapes[i], 0, 1) : pr_randn(dt, 2, shapes[i]);
          run(&c, x, y);
          ax_scope_end();
        }
}

void pr_family_loss(void) {
  const ax_dtype dts[] = {AX_F32, AX_F64, AX_BF16, AX_F16};
  for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
    cross_entropy_cases(dts[d]);
    regression_cases(dts[d]);
  }
}
