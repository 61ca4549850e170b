/* SPDX-License-Identifier: BSD-3-Clause */
/* Parity of the elementwise ops (unary math and activations, binary
 * arithmetic with broadcasting, scalar forms, comparisons, where) against the
 * CPU: forward and input gradients, f32/f64/bf16/f16, integer dtypes where the
 * op takes them, sizes 1, 7, 129, 4097 and 33x65x17, contiguous, transposed
 * and step-sliced inputs. Broadcast gradients are summed by the reduction
 * kernels, so they are held to the reduction bound. */
#include <stdio.h>
#include <string.h>

#include "parity.h"

static const ax_dtype float_dtypes[] = {AX_F32, AX_F64, AX_BF16, AX_F16};
static const ax_dtype int_dtypes[] = {AX_I32, AX_I64, AX_U8};

/* Layouts of an input of logical shape [n] or [a, b, c]: the base is stored so
 * that the view below has that shape. */
enum { DENSE, TRANSPOSED, STEP2, OFF1, OFF2, OFF4, N_LAYOUTS };
static const char *layout_name[] = {"", " transposed", " step2", " offset1", " offset2", " offset4"};

typedef struct shape_case {
  int ndim;
  int64_t shape[3];
} shape_case;
static const shape_case full_sizes[] = {{1, {1}}, {1, {7}}, {1, {129}}, {1, {4097}}, {3, {33, 65, 17}}, {0, {0}}};
/* The emulate tier: a smaller 3-D case (odd in every dim); the 1-D [129] case also as a
 * dense view from element 1, 2 or 4 of a longer base (OFF*), whose data pointer is
 * aligned to that many elements only: the launcher's narrower vector widths. A second
 * pass runs the strided cases with 64-bit offsets (ax_cuda_force_index64). */
static const shape_case emu_sizes[] = {{1, {1}}, {1, {7}}, {1, {129}}, {1, {4097}}, {3, {5, 17, 9}}, {0, {0}}};
#define N_SIZES (int)(sizeof full_sizes / sizeof full_sizes[0])
static const shape_case *sizes = full_sizes;
static bool index64_pass;

/* kernels/cuda/copy.cu (weak: absent without the CUDA backend) */
void ax_cuda_force_index64(int on) __attribute__((weak));

/* The base shape for a layout (the view of it has the case's shape). */
static void base_shape(const shape_case *s, int layout, int *nd, int64_t *out) {
  *nd = s->ndim;
  for (int i = 0; i < s->ndim; i++) out[i] = s->shape[i];
  if (layout == TRANSPOSED && s->ndim >= 2) {
    out[0] = s->shape[s->ndim - 1];
    out[s->ndim - 1] = s->shape[0];
  } else if (layout == STEP2 && s->ndim >= 1) {
    out[s->ndim - 1] = 2 * s->shape[s->ndim - 1];
  } else if (layout >= OFF1 && s->ndim == 1) {
    out[0] = s->shape[0] + (layout == OFF1 ? 1 : layout == OFF2 ? 2 : 4);
  }
}

static ax_tensor *view(ax_tensor *base, int layout) {
  if (layout == TRANSPOSED && base->ndim >= 2) return ax_transpose(base, 0, base->ndim - 1);
  if (layout == STEP2 && base->ndim >= 1) return ax_slice(base, base->ndim - 1, 0, base->shape[base->ndim - 1], 2);
  if (layout >= OFF1 && base->ndim == 1) {
    int64_t off = layout == OFF1 ? 1 : layout == OFF2 ? 2 : 4;
    return ax_narrow(base, 0, off, base->shape[0] - off);
  }
  return base;
}

/* Whether size si runs in this layout: the offset layouts on [129] in the emulate tier
 * only; in the 64-bit pass, only [7] every other element (the strided loop). */
static bool layout_applies_at(int si, int layout) {
  const shape_case *s = &sizes[si];
  if (index64_pass) return si == 1 && layout == STEP2;
  if (layout >= OFF1) return pr_emulated_tier() && si == 2;
  return layout == DENSE || (layout == TRANSPOSED && s->ndim >= 2) || (layout == STEP2 && s->ndim >= 1);
}

static void describe(char *buf, size_t n, ax_dtype dt, const shape_case *s, int layout, const char *extra) {
  char shp[64] = "[";
  for (int i = 0; i < s->ndim; i++) snprintf(shp + strlen(shp), sizeof shp - strlen(shp), i ? ",%lld" : "%lld", (long long)s->shape[i]);
  snprintf(buf, n, "%s %s]%s%s", ax_dtype_name(dt), shp, layout_name[layout], extra ? extra : "");
}

/* ---------------- unary ---------------- */

typedef struct unary_case {
  const char *name;
  int which;
  double lo, hi; /* input range; lo == hi: standard normal */
  double a, b;
  bool ints;     /* also runs (forward) on i32/i64/u8 */
} unary_case;

enum { NEG, ABS, EXP, LOG, SQRT, RSQRT, SQUARE, POW, POW_NEG, CLAMP, RELU, LEAKY, SIGMOID, TANH, GELU, GELU_TANH, SILU };

static const unary_case unary_cases[] = {
    {"neg", NEG, 0, 0, 0, 0, true},          {"abs", ABS, 0.05, 2, 0, 0, true},
    {"exp", EXP, 0, 0, 0, 0, false},         {"log", LOG, 0.2, 3, 0, 0, false},
    {"sqrt", SQRT, 0.2, 3, 0, 0, false},     {"rsqrt", RSQRT, 0.2, 3, 0, 0, false},
    {"square", SQUARE, 0, 0, 0, 0, true},    {"pow_scalar", POW, 0.2, 3, 2.5, 0, false},
    {"pow_scalar", POW_NEG, 0.2, 3, -1.5, 0, false},
    {"clamp", CLAMP, 0, 0, -0.5, 0.7, true}, {"relu", RELU, 0, 0, 0, 0, false},
    {"leaky_relu", LEAKY, 0, 0, 0.1, 0, false}, {"sigmoid", SIGMOID, 0, 0, 0, 0, false},
    {"tanh", TANH, 0, 0, 0, 0, false},       {"gelu", GELU, 0, 0, 0, 0, false},
    {"gelu_tanh", GELU_TANH, 0, 0, 0, 0, false}, {"silu", SILU, 0, 0, 0, 0, false},
};

typedef struct op_ctx {
  const unary_case *u;
  int layout;
  int which; /* binary / scalar / compare op */
  double s;
} op_ctx;

static ax_tensor *apply_unary(ax_tensor *x, const unary_case *u) {
  switch (u->which) {
    case NEG: return ax_neg(x);
    case ABS: return ax_abs(x);
    case EXP: return ax_exp(x);
    case LOG: return ax_log(x);
    case SQRT: return ax_sqrt(x);
    case RSQRT: return ax_rsqrt(x);
    case SQUARE: return ax_square(x);
    case POW: case POW_NEG: return ax_pow_scalar(x, u->a);
    case CLAMP: return ax_clamp(x, u->a, u->b);
    case RELU: return ax_relu(x);
    case LEAKY: return ax_leaky_relu(x, u->a);
    case SIGMOID: return ax_sigmoid(x);
    case TANH: return ax_tanh(x);
    case GELU: return ax_gelu(x);
    case GELU_TANH: return ax_gelu_tanh(x);
    default: return ax_silu(x);
  }
}

static ax_tensor *unary_fn(ax_tensor *const *x, const void *vctx) {
  const op_ctx *c = vctx;
  return apply_unary(view(x[0], c->layout), c->u);
}

/* Inputs: standard normal when lo == hi, else uniform in [lo, hi); a range
 * starting above 0 and ending at 2 gets random signs (abs, relu and clamp stay
 * away from their kinks at 0). */
static ax_tensor *input(ax_dtype dt, int nd, const int64_t *shape, double lo, double hi) {
  if (lo == hi) return pr_randn(dt, nd, shape);
  ax_tensor *u = pr_uniform(dt, nd, shape, lo, hi);
  if (!(lo > 0 && hi == 2)) return u;
  ax_tensor *sign = ax_sub_scalar(ax_mul_scalar(ax_cast(ax_gt_scalar(pr_randn(AX_F32, nd, shape), 0), dt), 2), 1);
  return ax_mul(u, sign);
}

static void unary_family(void) {
  for (size_t k = 0; k < sizeof unary_cases / sizeof unary_cases[0]; k++) {
    const unary_case *u = &unary_cases[k];
    for (int di = 0; di < 4 + 3; di++) {
      bool is_int = di >= 4;
      if (is_int && !u->ints) continue;
      ax_dtype dt = is_int ? int_dtypes[di - 4] : float_dtypes[di];
      for (int si = 0; si < N_SIZES; si++)
        for (int layout = 0; layout < N_LAYOUTS; layout++) {
          if (!layout_applies_at(si, layout)) continue;
          ax_scope_begin();
          int nd;
          int64_t bs[3];
          base_shape(&sizes[si], layout, &nd, bs);
          /* relu and leaky_relu: away from 0 */
          double lo = u->lo, hi = u->hi;
          if ((u->which == RELU || u->which == LEAKY || u->which == CLAMP) && !is_int) lo = 0.05, hi = 2;
          if (u->which == ABS && is_int) lo = hi = 0;
          ax_tensor *base = input(dt, nd, bs, lo, hi);
          char desc[160];
          describe(desc, sizeof desc, dt, &sizes[si], layout,
                   u->which == POW_NEG ? (index64_pass ? " p=-1.5 index64" : " p=-1.5") : index64_pass ? " index64" : NULL);
          op_ctx c = {.u = u, .layout = layout};
          bool g = !is_int;
          pr_run(u->name, desc, unary_fn, &c, 1, &base, &g, is_int ? PR_EXACT : PR_ELEMENTWISE, PR_ELEMENTWISE);
          ax_scope_end();
        }
    }
  }
}

/* ---------------- binary ---------------- */

enum { ADD, SUB, MUL, DIV, MAX, MIN, BPOW, EQ, NE, LT, LE, GT, GE, N_BINARY };
static const char *binary_name[] = {"add", "sub", "mul", "div", "maximum", "minimum", "pow", "eq", "ne", "lt", "le", "gt", "ge"};

static ax_tensor *apply_binary(int which, ax_tensor *a, ax_tensor *b) {
  switch (which) {
    case ADD: return ax_add(a, b);
    case SUB: return ax_sub(a, b);
    case MUL: return ax_mul(a, b);
    case DIV: return ax_div(a, b);
    case MAX: return ax_maximum(a, b);
    case MIN: return ax_minimum(a, b);
    case BPOW: return ax_pow(a, b);
    case EQ: return ax_eq(a, b);
    case NE: return ax_ne(a, b);
    case LT: return ax_lt(a, b);
    case LE: return ax_le(a, b);
    case GT: return ax_gt(a, b);
    default: return ax_ge(a, b);
  }
}

static ax_tensor *binary_fn(ax_tensor *const *x, const void *vctx) {
  const op_ctx *c = vctx;
  return apply_binary(c->which, view(x[0], c->layout), x[1]);
}

/* b's shapes against a's: the same, broadcast from the left ([33,1,17] x [65,1]), and a 0-dim scalar */
enum { SAME, BCAST, SCALAR, N_BSHAPES };
static const char *bshape_name[] = {"", " bcast", " scalar"};

static bool binary_applies(int which, ax_dtype dt) {
  if (dt == AX_BOOL) return which == MAX || which == MIN || which >= EQ;
  if (!ax_dtype_is_float(dt)) return which != DIV && which != BPOW;
  return true;
}

static void binary_family(void) {
  const ax_dtype dts[] = {AX_F32, AX_F64, AX_BF16, AX_F16, AX_I32, AX_I64, AX_U8, AX_BOOL};
  for (int which = 0; which < N_BINARY; which++)
    for (size_t di = 0; di < sizeof dts / sizeof dts[0]; di++) {
      ax_dtype dt = dts[di];
      if (!binary_applies(which, dt)) continue;
      bool is_float = ax_dtype_is_float(dt);
      for (int si = 0; si < N_SIZES; si++)
        for (int layout = 0; layout < N_LAYOUTS; layout++)
          for (int bsh = 0; bsh < N_BSHAPES; bsh++) {
            const shape_case *s = &sizes[si];
            if (!layout_applies_at(si, layout) || (bsh == BCAST && s->ndim != 3)) continue;
            if (layout != DENSE && bsh != SAME) continue; /* keep the count down: layouts with same shapes */
            ax_scope_begin();
            int nd;
            int64_t as[3], bshape[3];
            base_shape(s, layout, &nd, as);
            int bnd = s->ndim;
            for (int i = 0; i < s->ndim; i++) bshape[i] = s->shape[i];
            if (bsh == BCAST) {
              int64_t a1[3] = {s->shape[0], 1, s->shape[2]};
              for (int i = 0; i < 3; i++) as[i] = a1[i];
              bnd = 2;
              bshape[0] = s->shape[1];
              bshape[1] = 1;
            } else if (bsh == SCALAR) {
              bnd = 0;
            }
            ax_tensor *a, *b;
            if (which >= EQ && is_float) { /* small integers in a float dtype: plenty of ties */
              a = ax_cast(pr_uniform(AX_I32, nd, as, -3, 3), dt);
              b = ax_cast(pr_uniform(AX_I32, bnd, bshape, -3, 3), dt);
            } else if (which == DIV) {
              a = pr_randn(dt, nd, as);
              b = pr_uniform(dt, bnd, bshape, 0.5, 2);
            } else if (which == BPOW) { /* a positive base (log(a) in b's gradient), exponents of both signs */
              a = pr_uniform(dt, nd, as, 0.5, 2);
              b = pr_uniform(dt, bnd, bshape, -2, 2);
            } else if (dt == AX_BOOL) {
              a = pr_randn(dt, nd, as);
              b = ax_gt_scalar(pr_randn(AX_F32, bnd, bshape), 0);
            } else {
              a = pr_randn(dt, nd, as);
              b = pr_randn(dt, bnd, bshape);
            }
            ax_tensor *bases[2] = {a, b};
            char desc[160];
            char extra[32];
            snprintf(extra, sizeof extra, "%s%s", bshape_name[bsh], index64_pass ? " index64" : "");
            describe(desc, sizeof desc, dt, s, layout, extra);
            op_ctx c = {.layout = layout, .which = which};
            bool g[2] = {is_float && which < EQ, is_float && which < EQ};
            pr_run(binary_name[which], desc, binary_fn, &c, 2, bases, g, is_float && which < EQ ? PR_ELEMENTWISE : PR_EXACT,
                   bsh == SAME ? PR_ELEMENTWISE : PR_REDUCTION);
            ax_scope_end();
          }
    }
}

/* ---------------- scalar forms ---------------- */

enum { ADD_S, SUB_S, RSUB_S, MUL_S, DIV_S, RDIV_S, MAX_S, MIN_S, EQ_S, LT_S, GE_S, N_SCALAR };
static const char *scalar_name[] = {"add_scalar", "sub_scalar", "rsub_scalar", "mul_scalar", "div_scalar", "rdiv_scalar",
                                    "maximum_scalar", "minimum_scalar", "eq_scalar", "lt_scalar", "ge_scalar"};

static ax_tensor *scalar_fn(ax_tensor *const *x, const void *vctx) {
  const op_ctx *c = vctx;
  ax_tensor *a = view(x[0], c->layout);
  switch (c->which) {
    case ADD_S: return ax_add_scalar(a, c->s);
    case SUB_S: return ax_sub_scalar(a, c->s);
    case RSUB_S: return ax_rsub_scalar(a, c->s);
    case MUL_S: return ax_mul_scalar(a, c->s);
    case DIV_S: return ax_div_scalar(a, c->s);
    case RDIV_S: return ax_rdiv_scalar(a, c->s);
    case MAX_S: return ax_maximum_scalar(a, c->s);
    case MIN_S: return ax_minimum_scalar(a, c->s);
    case EQ_S: return ax_eq_scalar(a, c->s);
    case LT_S: return ax_lt_scalar(a, c->s);
    default: return ax_ge_scalar(a, c->s);
  }
}

static void scalar_family(void) {
  const ax_dtype dts[] = {AX_F32, AX_F64, AX_BF16, AX_F16, AX_I32};
  for (int which = 0; which < N_SCALAR; which++)
    for (size_t di = 0; di < sizeof dts / sizeof dts[0]; di++)
      for (int si = 0; si < N_SIZES; si++) {
        ax_dtype dt = dts[di];
        bool is_float = ax_dtype_is_float(dt), compare = which >= EQ_S;
        if (!is_float && (which == DIV_S || which == RDIV_S)) continue;
        int layout = sizes[si].ndim >= 2 ? TRANSPOSED : DENSE;
        ax_scope_begin();
        int nd;
        int64_t as[3];
        base_shape(&sizes[si], layout, &nd, as);
        ax_tensor *a = which == RDIV_S ? pr_uniform(dt, nd, as, 0.5, 2) : pr_randn(dt, nd, as);
        char desc[160];
        /* integers take integer scalars; comparisons also a fractional one (compared in f64) */
        op_ctx c = {.layout = layout, .which = which, .s = is_float || compare ? 0.75 : 3};
        describe(desc, sizeof desc, dt, &sizes[si], layout, NULL);
        bool g = is_float && !compare;
        pr_run(scalar_name[which], desc, scalar_fn, &c, 1, &a, &g, is_float && !compare ? PR_ELEMENTWISE : PR_EXACT,
               PR_ELEMENTWISE);
        ax_scope_end();
      }
}

/* ---------------- where ---------------- */

static ax_tensor *where_fn(ax_tensor *const *x, const void *vctx) {
  const op_ctx *c = vctx;
  return ax_where(x[0], view(x[1], c->layout), x[2]);
}

static void where_family(void) {
  const ax_dtype dts[] = {AX_F32, AX_F64, AX_BF16, AX_F16, AX_I32, AX_I64, AX_U8, AX_BOOL};
  for (size_t di = 0; di < sizeof dts / sizeof dts[0]; di++)
    for (int si = 0; si < N_SIZES; si++)
      for (int bl = 0; bl < 5; bl++) { /* 0, 1: bcast off, on; 2-4: offset layouts (emulate tier) */
        ax_dtype dt = dts[di];
        const shape_case *s = &sizes[si];
        int bcast = bl == 1;
        if (bcast && s->ndim != 3) continue;
        if (bl >= 2 && (index64_pass || !layout_applies_at(si, OFF1 + bl - 2))) continue;
        if (index64_pass && !bcast) continue; /* the broadcast case is the strided one */
        int layout = bl >= 2 ? OFF1 + bl - 2 : s->ndim >= 2 && !bcast ? TRANSPOSED : DENSE;
        ax_scope_begin();
        int nd;
        int64_t as[3], cs[3], bs[3];
        base_shape(s, layout, &nd, as);
        int cnd = s->ndim, bnd = s->ndim;
        for (int i = 0; i < s->ndim; i++) cs[i] = bs[i] = s->shape[i];
        if (bcast) { /* cond [33,65,1], a [33,65,17], b [65,17] */
          cs[2] = 1;
          bnd = 2;
          bs[0] = s->shape[1];
          bs[1] = s->shape[2];
        }
        ax_tensor *bases[3] = {ax_gt_scalar(pr_randn(AX_F32, cnd, cs), 0), pr_randn(dt, nd, as), pr_randn(dt, bnd, bs)};
        char desc[160];
        describe(desc, sizeof desc, dt, s, layout, bcast ? (index64_pass ? " bcast index64" : " bcast") : NULL);
        op_ctx c = {.layout = layout};
        bool is_float = ax_dtype_is_float(dt);
        bool g[3] = {false, is_float, is_float};
        pr_run("where", desc, where_fn, &c, 3, bases, g, is_float ? PR_ELEMENTWISE : PR_EXACT,
               bcast ? PR_REDUCTION : PR_ELEMENTWISE);
        ax_scope_end();
      }
}

void pr_family_elementwise(void) {
  sizes = pr_emulated_tier() ? emu_sizes : full_sizes;
  unary_family();
  binary_family();
  scalar_family();
  where_family();
  if (pr_emulated_tier() && ax_cuda_force_index64) {
    index64_pass = true;
    ax_cuda_force_index64(1);
    unary_family();
    binary_family();
    where_family();
    ax_cuda_force_index64(0);
    index64_pass = false;
  }
}
