/* SPDX-License-Identifier: BSD-3-Clause */
/* Elementwise ops: gradient checks (contiguous, non-contiguous, broadcast,
 * 0-dim), known answers, integer and bool results, errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels/cpu/cpu.h"
#include "testutil.h"

TestSuite(elementwise, .init = tu_capture_errors);

#define F64 (&(ax_tensor_opts){.dtype = AX_F64})

/* Values in +-[0.3, 2.3): away from 0, where abs and relu have kinks. */
static ax_tensor *away_from_zero(int ndim, const int64_t *shape) {
  ax_tensor *u = tu_uniform(AX_F64, ndim, shape, -2, 2);
  ax_tensor *sign = ax_add_scalar(ax_mul_scalar(ax_cast(ax_gt_scalar(u, 0), AX_F64), 2), -1);
  return ax_add(u, ax_mul_scalar(sign, 0.3));
}

/* Leaves of the shapes every unary op is checked on: 0-dim, 1-D, a
 * non-contiguous (transposed) 2-D view, 3-D; values in [lo, hi) or away from zero. */
enum { N_CASES = 4 };
static void unary_leaves(ax_tensor **out, double lo, double hi, bool avoid_zero) {
  static const int64_t s0[1] = {0}, s1[1] = {5}, s2[2] = {4, 3}, s3[3] = {2, 3, 4};
  const int nd[N_CASES] = {0, 1, 2, 3};
  const int64_t *shapes[N_CASES] = {s0, s1, s2, s3};
  for (int c = 0; c < N_CASES; c++) {
    ax_tensor *v = avoid_zero ? away_from_zero(nd[c], shapes[c]) : tu_uniform(AX_F64, nd[c], shapes[c], lo, hi);
    if (c == 2) v = ax_transpose(v, 0, 1);
    out[c] = tu_leaf(v);
  }
}

typedef ax_tensor *(*unary_fn)(ax_tensor *);
typedef struct {
  const char *name;
  unary_fn f;
  double lo, hi;
  bool avoid_zero;
} unary_case;

static ax_tensor *pow_2_5(ax_tensor *x) { return ax_pow_scalar(x, 2.5); }
static ax_tensor *pow_m1_5(ax_tensor *x) { return ax_pow_scalar(x, -1.5); }
static ax_tensor *pow_3(ax_tensor *x) { return ax_pow_scalar(x, 3); }
static ax_tensor *clamp_mid(ax_tensor *x) { return ax_clamp(x, -0.5, 0.7); }
static ax_tensor *clamp_lo(ax_tensor *x) { return ax_clamp(x, -0.5, INFINITY); }
static ax_tensor *clamp_hi(ax_tensor *x) { return ax_clamp(x, -INFINITY, 0.7); }
static ax_tensor *leaky(ax_tensor *x) { return ax_leaky_relu(x, 0.1); }

static const unary_case unary_cases[] = {
    {"neg", ax_neg, -2, 2, false},        {"abs", ax_abs, 0, 0, true},
    {"exp", ax_exp, -2, 2, false},        {"log", ax_log, 0.5, 3, false},
    {"sqrt", ax_sqrt, 0.5, 3, false},     {"rsqrt", ax_rsqrt, 0.5, 3, false},
    {"square", ax_square, -2, 2, false},  {"pow 2.5", pow_2_5, 0.5, 2, false},
    {"pow -1.5", pow_m1_5, 0.5, 2, false}, {"pow 3", pow_3, -2, 2, false},
    {"clamp", clamp_mid, 0, 0, true},     {"clamp lo", clamp_lo, 0, 0, true},
    {"clamp hi", clamp_hi, 0, 0, true},   {"relu", ax_relu, 0, 0, true},
    {"leaky_relu", leaky, 0, 0, true},    {"sigmoid", ax_sigmoid, -3, 3, false},
    {"tanh", ax_tanh, -3, 3, false},      {"gelu", ax_gelu, -3, 3, false},
    {"gelu_tanh", ax_gelu_tanh, -3, 3, false}, {"silu", ax_silu, -3, 3, false},
};
#define N_UNARY (int)(sizeof unary_cases / sizeof unary_cases[0])

static ax_tensor *apply_unary(ax_tensor **in, void *ctx) { return ((const unary_case *)ctx)->f(in[0]); }

Test(elementwise, gradcheck_unary) {
  for (int k = 0; k < N_UNARY; k++) {
    ax_scope_begin();
    const unary_case *uc = &unary_cases[k];
    ax_tensor *leaves[N_CASES];
    unary_leaves(leaves, uc->lo, uc->hi, uc->avoid_zero);
    for (int c = 0; c < N_CASES; c++)
      cr_expect(TU_GRADCHECK(apply_unary, &leaves[c], 1, (void *)uc), "%s, shape case %d", uc->name, c);
    ax_scope_end();
  }
}

/* The f32 backward kernels agree with the f64 ones. */
Test(elementwise, unary_backward_f32_matches_f64) {
  for (int k = 0; k < N_UNARY; k++) {
    ax_scope_begin();
    const unary_case *uc = &unary_cases[k];
    ax_tensor *leaves[N_CASES];
    unary_leaves(leaves, uc->lo, uc->hi, uc->avoid_zero);
    ax_tensor *x64 = leaves[3];
    ax_tensor *x32 = tu_leaf(ax_cast(x64, AX_F32));
    cr_assert_eq(ax_backward(ax_sum(uc->f(x64), AX_ALL, false), NULL), 0);
    cr_assert_eq(ax_backward(ax_sum(uc->f(x32), AX_ALL, false), NULL), 0);
    cr_expect(x32->grad && x32->grad->dtype == AX_F32, "%s", uc->name);
    cr_expect(tu_allclose(x32->grad, x64->grad, 1e-5, 1e-4), "%s", uc->name);
    ax_scope_end();
  }
}

/* ---------------- binary gradchecks ---------------- */

typedef ax_tensor *(*binary_fn)(ax_tensor *, ax_tensor *);
static ax_tensor *apply_binary(ax_tensor **in, void *ctx) { return (*(binary_fn *)ctx)(in[0], in[1]); }

/* Pairs: same shape; broadcast [3,1,4] with [5,4]; 0-dim with [2,3]; a
 * non-contiguous view with a broadcast row. b is kept away from zero (div). */
static void binary_pairs(ax_tensor *pairs[4][2]) {
  pairs[0][0] = tu_leaf(tu_randn(AX_F64, AX_SHAPE(3, 4)));
  pairs[0][1] = tu_leaf(away_from_zero(AX_SHAPE(3, 4)));
  pairs[1][0] = tu_leaf(tu_randn(AX_F64, AX_SHAPE(3, 1, 4)));
  pairs[1][1] = tu_leaf(away_from_zero(AX_SHAPE(5, 4)));
  pairs[2][0] = tu_leaf(tu_randn(AX_F64, 0, NULL));
  pairs[2][1] = tu_leaf(away_from_zero(AX_SHAPE(2, 3)));
  pairs[3][0] = tu_leaf(ax_transpose(tu_randn(AX_F64, AX_SHAPE(4, 3)), 0, 1));
  pairs[3][1] = tu_leaf(away_from_zero(AX_SHAPE(1, 4)));
}

Test(elementwise, gradcheck_binary) {
  struct { const char *name; binary_fn f; } ops[] = {
      {"add", ax_add}, {"sub", ax_sub}, {"mul", ax_mul}, {"div", ax_div}, {"maximum", ax_maximum}, {"minimum", ax_minimum},
  };
  for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
    ax_scope_begin();
    ax_tensor *pairs[4][2];
    binary_pairs(pairs);
    for (int c = 0; c < 4; c++) {
      cr_expect(TU_GRADCHECK(apply_binary, pairs[c], 2, &ops[k].f), "%s, pair %d", ops[k].name, c);
      ax_tensor *swapped[2] = {pairs[c][1], pairs[c][0]}; /* broadcasting on the other side */
      if (ops[k].f != ax_div) cr_expect(TU_GRADCHECK(apply_binary, swapped, 2, &ops[k].f), "%s, swapped %d", ops[k].name, c);
    }
    ax_scope_end();
  }
}

/* pow with a tensor exponent: positive bases (log(a) is in b's gradient), exponents of both
 * signs; same shapes, broadcast either way, a transposed (non-contiguous) base. */
Test(elementwise, gradcheck_pow) {
  ax_scope_begin();
  binary_fn f = ax_pow;
  ax_tensor *cases[4][2] = {
      {tu_leaf(tu_uniform(AX_F64, AX_SHAPE(3, 4), 0.5, 2)), tu_leaf(tu_uniform(AX_F64, AX_SHAPE(3, 4), -2, 2))},
      {tu_leaf(tu_uniform(AX_F64, AX_SHAPE(3, 1), 0.5, 2)), tu_leaf(tu_uniform(AX_F64, AX_SHAPE(1, 4), -2, 2))},
      {tu_leaf(ax_transpose(tu_uniform(AX_F64, AX_SHAPE(4, 3), 0.5, 2), 0, 1)), tu_leaf(tu_uniform(AX_F64, AX_SHAPE(4), -2, 2))},
      {tu_leaf(tu_uniform(AX_F64, AX_SHAPE(2, 3), 0.5, 2)), tu_leaf(ax_scalar(1.7, F64))},
  };
  for (int c = 0; c < 4; c++) cr_expect(TU_GRADCHECK(apply_binary, cases[c], 2, &f), "pow, case %d", c);
  ax_scope_end();
}

Test(elementwise, pow_values_and_gradient_at_zero) {
  ax_scope_begin();
  ax_tensor *a = tu_leaf(ax_from_data((double[]){2, 9, 0, 0, 4, -2}, AX_SHAPE(6), F64));
  ax_tensor *b = tu_leaf(ax_from_data((double[]){3, 0.5, 2, 0, -0.5, 2}, AX_SHAPE(6), F64));
  ax_tensor *y = ax_pow(a, b);
  cr_expect(tu_allclose_data(y, (double[]){8, 3, 0, 1, 0.5, 4}, 6, 1e-15, 1e-15));
  ax_backward(ax_sum(y, AX_ALL, false), NULL);
  /* da = b a^(b-1): 0^1 = 0 at (0, 2); b = 0 gives 0; db = a^b log(a), 0 where a = 0 and b >= 0 (PyTorch) */
  double ga[] = {12, 0.5 / 3, 0, 0, -0.5 * pow(4, -1.5), -4};
  double gb[] = {8 * log(2.0), 3 * log(9.0), 0, 0, 0.5 * log(4.0), NAN};
  for (int i = 0; i < 6; i++) {
    cr_expect(fabs(tu_get(a->grad, i) - ga[i]) < 1e-12, "da[%d] = %g", i, tu_get(a->grad, i));
    double g = tu_get(b->grad, i);
    cr_expect(isnan(gb[i]) ? isnan(g) : fabs(g - gb[i]) < 1e-12, "db[%d] = %g", i, g);
  }
  /* f32 and broadcasting: [2, 1] ^ [3] */
  ax_tensor *y32 = ax_pow(ax_from_data((float[]){2, 3}, AX_SHAPE(2, 1), NULL), ax_from_data((float[]){0, 1, 2}, AX_SHAPE(3), NULL));
  cr_assert_not_null(y32);
  cr_expect(tu_allclose_data(y32, (double[]){1, 2, 4, 1, 3, 9}, 6, 0, 0));
  /* float only; shapes must broadcast */
  ax_tensor *ai = ax_zeros(AX_SHAPE(3), &(ax_tensor_opts){.dtype = AX_I64});
  cr_expect_null(ax_pow(ai, ai));
  cr_expect(tu_error_contains("ax_pow", "i64", NULL));
  cr_expect_null(ax_pow(ax_zeros(AX_SHAPE(2, 3), NULL), ax_zeros(AX_SHAPE(4), NULL)));
  cr_expect(tu_error_contains("ax_pow", "[2, 3]", "[4]", NULL));
  ax_scope_end();
}

Test(elementwise, gradcheck_when_only_one_input_requires_grad) {
  ax_scope_begin();
  binary_fn fs[] = {ax_mul, ax_div, ax_maximum};
  for (int k = 0; k < 3; k++) {
    ax_tensor *a = tu_leaf(tu_randn(AX_F64, AX_SHAPE(2, 3)));
    ax_tensor *b = away_from_zero(AX_SHAPE(3));
    ax_tensor *in[2] = {a, b};
    cr_expect(TU_GRADCHECK(apply_binary, in, 2, &fs[k]), "first, op %d", k);
    ax_tensor *in2[2] = {b, a};
    cr_expect(TU_GRADCHECK(apply_binary, in2, 2, &fs[k]), "second, op %d", k);
  }
  ax_scope_end();
}

/* The same tensor on both sides: both gradients reach it (max(x, x) splits a tie into 0.5 + 0.5). */
static ax_tensor *apply_self(ax_tensor **in, void *ctx) { return (*(binary_fn *)ctx)(in[0], in[0]); }

Test(elementwise, gradcheck_same_tensor_both_sides) {
  ax_scope_begin();
  binary_fn fs[] = {ax_add, ax_sub, ax_mul, ax_maximum, ax_minimum};
  for (int k = 0; k < 5; k++) {
    ax_tensor *x = tu_leaf(tu_randn(AX_F64, AX_SHAPE(2, 3)));
    cr_expect(TU_GRADCHECK(apply_self, &x, 1, &fs[k]), "op %d", k);
  }
  ax_scope_end();
}

typedef struct { const char *name; ax_tensor *(*f)(ax_tensor *, double); double s; } scalar_case;
static ax_tensor *apply_scalar(ax_tensor **in, void *ctx) {
  const scalar_case *sc = ctx;
  return sc->f(in[0], sc->s);
}

Test(elementwise, gradcheck_scalar_forms) {
  scalar_case cases[] = {
      {"add", ax_add_scalar, 1.5},   {"sub", ax_sub_scalar, 1.5},        {"rsub", ax_rsub_scalar, 1.5},
      {"mul", ax_mul_scalar, -2.5},  {"div", ax_div_scalar, -2.5},       {"rdiv", ax_rdiv_scalar, 3.0},
      {"maximum", ax_maximum_scalar, 0}, {"minimum", ax_minimum_scalar, 0},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    ax_scope_begin();
    ax_tensor *leaves[N_CASES];
    unary_leaves(leaves, 0, 0, true); /* away from 0: rdiv's pole and max/min's tie with s = 0 */
    for (int c = 0; c < N_CASES; c++)
      cr_expect(TU_GRADCHECK(apply_scalar, &leaves[c], 1, &cases[k]), "%s_scalar, case %d", cases[k].name, c);
    ax_scope_end();
  }
}

static ax_tensor *apply_where(ax_tensor **in, void *ctx) { return ax_where((ax_tensor *)ctx, in[0], in[1]); }

Test(elementwise, gradcheck_where) {
  ax_scope_begin();
  /* cond [3,1], a [3,4] non-contiguous, b [4]: all three broadcast */
  ax_tensor *cond = ax_gt_scalar(tu_randn(AX_F64, AX_SHAPE(3, 1)), 0);
  ax_tensor *in[2] = {tu_leaf(ax_transpose(tu_randn(AX_F64, AX_SHAPE(4, 3)), 0, 1)), tu_leaf(tu_randn(AX_F64, AX_SHAPE(4)))};
  cr_expect(TU_GRADCHECK(apply_where, in, 2, cond));
  /* cond full shape, a 0-dim */
  ax_tensor *cond2 = ax_lt_scalar(tu_randn(AX_F64, AX_SHAPE(2, 3)), 0.2);
  ax_tensor *in2[2] = {tu_leaf(tu_randn(AX_F64, 0, NULL)), tu_leaf(tu_randn(AX_F64, AX_SHAPE(2, 3)))};
  cr_expect(TU_GRADCHECK(apply_where, in2, 2, cond2));
  ax_scope_end();
}

/* ---------------- known answers ---------------- */

static const double points[5] = {-2.0, -0.5, 0.0, 0.7, 3.0};

Test(elementwise, activations_known_answers) {
  /* reference values from Python's math module */
  static const double sig[5] = {0.11920292202211755, 0.3775406687981454, 0.5, 0.6681877721681662, 0.9525741268224334};
  static const double gelu[5] = {-0.04550026389635842, -0.15426876936299344, 0.0, 0.5306254434438489, 2.99595030590511};
  static const double gelu_t[5] = {-0.04540230591222494, -0.15428599017485606, 0.0, 0.5305701347051167,
                                   2.996362607918227};
  static const double silu[5] = {-0.2384058440442351, -0.1887703343990727, 0.0, 0.46773144051771626,
                                 2.8577223804672998};
  static const double tanh_v[5] = {-0.9640275800758169, -0.46211715726000974, 0.0, 0.6043677771171636,
                                   0.9950547536867305};
  static const double relu[5] = {0, 0, 0, 0.7, 3}, leaky[5] = {-0.2, -0.05, 0, 0.7, 3};
  ax_scope_begin();
  ax_tensor *x64 = ax_from_data(points, AX_SHAPE(5), F64);
  ax_tensor *x32 = ax_cast(x64, AX_F32);
  struct { unary_fn f; const double *want; } cases[] = {
      {ax_sigmoid, sig}, {ax_gelu, gelu}, {ax_gelu_tanh, gelu_t}, {ax_silu, silu}, {ax_tanh, tanh_v}, {ax_relu, relu},
  };
  for (int k = 0; k < 6; k++) {
    cr_expect(tu_allclose_data(cases[k].f(x64), cases[k].want, 5, 1e-14, 1e-13), "f64 case %d", k);
    ax_tensor *y32 = cases[k].f(x32);
    cr_expect_eq(y32->dtype, AX_F32);
    cr_expect(tu_allclose_data(y32, cases[k].want, 5, 1e-6, 1e-6), "f32 case %d", k);
  }
  cr_expect(tu_allclose_data(ax_leaky_relu(x64, 0.1), leaky, 5, 1e-15, 0));
  ax_scope_end();
}

Test(elementwise, math_known_answers) {
  ax_scope_begin();
  double v[4] = {0.25, 1, 4, 9};
  ax_tensor *x = ax_from_data(v, AX_SHAPE(2, 2), F64);
  double sq[4] = {0.5, 1, 2, 3}, rs[4] = {2, 1, 0.5, 1.0 / 3}, lg[4] = {log(0.25), 0, log(4), log(9)};
  double ex[4] = {exp(0.25), exp(1), exp(4), exp(9)}, p15[4] = {0.125, 1, 8, 27}, sqr[4] = {0.0625, 1, 16, 81};
  double cl[4] = {1, 1, 4, 5}, ng[4] = {-0.25, -1, -4, -9};
  cr_expect(tu_allclose_data(ax_sqrt(x), sq, 4, 1e-15, 1e-15));
  cr_expect(tu_allclose_data(ax_rsqrt(x), rs, 4, 1e-15, 1e-15));
  cr_expect(tu_allclose_data(ax_log(x), lg, 4, 1e-15, 1e-15));
  cr_expect(tu_allclose_data(ax_exp(x), ex, 4, 0, 1e-15));
  cr_expect(tu_allclose_data(ax_pow_scalar(x, 1.5), p15, 4, 0, 1e-15));
  cr_expect(tu_allclose_data(ax_square(x), sqr, 4, 0, 0));
  cr_expect(tu_allclose_data(ax_clamp(x, 1, 5), cl, 4, 0, 0));
  cr_expect(tu_allclose_data(ax_neg(x), ng, 4, 0, 0));
  cr_expect(tu_allclose_data(ax_abs(ax_neg(x)), v, 4, 0, 0));
  ax_scope_end();
}

Test(elementwise, binary_broadcast_known_answers) {
  ax_scope_begin();
  float a[6] = {1, 2, 3, 4, 5, 6}, b[3] = {10, 20, 30}, c[2] = {2, 4};
  ax_tensor *ta = ax_from_data(a, AX_SHAPE(2, 3), NULL), *tb = ax_from_data(b, AX_SHAPE(3), NULL);
  ax_tensor *tc = ax_from_data(c, AX_SHAPE(2, 1), NULL);
  double add[6] = {11, 22, 33, 14, 25, 36}, sub[6] = {9, 18, 27, 6, 15, 24};
  double mul[6] = {2, 4, 6, 16, 20, 24}, div[6] = {0.5, 1, 1.5, 1, 1.25, 1.5};
  ax_tensor *r = ax_add(ta, tb);
  cr_assert_not_null(r);
  cr_expect_eq(r->ndim, 2);
  cr_expect_eq(r->shape[0], 2);
  cr_expect_eq(r->shape[1], 3);
  cr_expect(tu_allclose_data(r, add, 6, 0, 0));
  cr_expect(tu_allclose_data(ax_sub(tb, ta), sub, 6, 0, 0));
  cr_expect(tu_allclose_data(ax_mul(ta, tc), mul, 6, 0, 0));
  cr_expect(tu_allclose_data(ax_div(ta, tc), div, 6, 0, 1e-7));
  /* [2,1] with [3] gives [2,3]; a transposed operand takes the strided path */
  double outer[6] = {12, 22, 32, 14, 24, 34};
  cr_expect(tu_allclose_data(ax_add(tc, tb), outer, 6, 0, 0));
  double tt[6] = {2, 8, 4, 10, 6, 12}; /* a^T + a^T */
  ax_tensor *at = ax_transpose(ta, 0, 1);
  cr_expect(tu_allclose_data(ax_add(at, at), tt, 6, 0, 0));
  double mx[6] = {2, 2, 3, 4, 5, 6}, mn[6] = {1, 2, 2, 4, 4, 4};
  cr_expect(tu_allclose_data(ax_maximum(ta, tc), mx, 6, 0, 0));
  cr_expect(tu_allclose_data(ax_minimum(ta, tc), mn, 6, 0, 0));
  double rs[6] = {0, -1, -2, -3, -4, -5}, rd[6] = {6, 3, 2, 1.5, 1.2, 1};
  cr_expect(tu_allclose_data(ax_rsub_scalar(ta, 1), rs, 6, 0, 0));
  cr_expect(tu_allclose_data(ax_rdiv_scalar(ta, 6), rd, 6, 0, 1e-7));
  double ms[6] = {3, 3, 3, 4, 5, 6}, ns[6] = {1, 2, 3, 3, 3, 3};
  cr_expect(tu_allclose_data(ax_maximum_scalar(ta, 3), ms, 6, 0, 0));
  cr_expect(tu_allclose_data(ax_minimum_scalar(ta, 3), ns, 6, 0, 0));
  ax_scope_end();
}

/* Large enough for the OpenMP path; checks every element of the fast paths. */
Test(elementwise, large_contiguous_and_scalar_broadcast) {
  ax_scope_begin();
  int64_t n = 100003;
  ax_tensor *a = ax_arange(0, (double)n, 1, NULL);
  ax_tensor *b = ax_mul_scalar(a, 2);
  ax_tensor *s = ax_add(a, b);
  ax_tensor *t = ax_add_scalar(a, 0.5);
  ax_tensor *u = ax_rsub_scalar(a, 7); /* scalar on the left */
  float *sv = ax_data_ptr(s), *tv = ax_data_ptr(t), *uv = ax_data_ptr(u);
  int64_t bad = 0;
  for (int64_t i = 0; i < n; i++)
    if (sv[i] != 3.0f * (float)i || tv[i] != (float)i + 0.5f || uv[i] != 7.0f - (float)i) bad++;
  cr_expect_eq(bad, 0);
  ax_scope_end();
}

Test(elementwise, maximum_ties_split_gradient) {
  ax_scope_begin();
  double av[3] = {1, 2, 5}, bv[3] = {1, 3, 4};
  ax_tensor *a = tu_leaf(ax_from_data(av, AX_SHAPE(3), F64)), *b = tu_leaf(ax_from_data(bv, AX_SHAPE(3), F64));
  cr_assert_eq(ax_backward(ax_sum(ax_maximum(a, b), AX_ALL, false), NULL), 0);
  double ga[3] = {0.5, 0, 1}, gb[3] = {0.5, 1, 0};
  cr_expect(tu_allclose_data(a->grad, ga, 3, 0, 0));
  cr_expect(tu_allclose_data(b->grad, gb, 3, 0, 0));
  ax_zero_grad(a);
  ax_zero_grad(b);
  cr_assert_eq(ax_backward(ax_sum(ax_minimum(a, b), AX_ALL, false), NULL), 0);
  double ha[3] = {0.5, 1, 0}, hb[3] = {0.5, 0, 1};
  cr_expect(tu_allclose_data(a->grad, ha, 3, 0, 0));
  cr_expect(tu_allclose_data(b->grad, hb, 3, 0, 0));
  ax_scope_end();
}

Test(elementwise, maximum_propagates_nan) {
  ax_scope_begin();
  double av[2] = {NAN, 1}, bv[2] = {1, NAN};
  ax_tensor *a = ax_from_data(av, AX_SHAPE(2), F64), *b = ax_from_data(bv, AX_SHAPE(2), F64);
  ax_tensor *m = ax_maximum(a, b), *n = ax_minimum(a, b);
  cr_expect(isnan(tu_get(m, 0)) && isnan(tu_get(m, 1)));
  cr_expect(isnan(tu_get(n, 0)) && isnan(tu_get(n, 1)));
  ax_scope_end();
}

Test(elementwise, comparisons_give_bool) {
  ax_scope_begin();
  float a[4] = {1, 2, 3, 4}, b[4] = {4, 2, 1, 4};
  ax_tensor *ta = ax_from_data(a, AX_SHAPE(4), NULL), *tb = ax_from_data(b, AX_SHAPE(4), NULL);
  struct { ax_tensor *(*f)(ax_tensor *, ax_tensor *); double want[4]; } cases[] = {
      {ax_eq, {0, 1, 0, 1}}, {ax_ne, {1, 0, 1, 0}}, {ax_lt, {1, 0, 0, 0}},
      {ax_le, {1, 1, 0, 1}}, {ax_gt, {0, 0, 1, 0}}, {ax_ge, {0, 1, 1, 1}},
  };
  for (int k = 0; k < 6; k++) {
    ax_tensor *r = cases[k].f(ta, tb);
    cr_assert_not_null(r);
    cr_expect_eq(r->dtype, AX_BOOL, "case %d", k);
    cr_expect(tu_allclose_data(r, cases[k].want, 4, 0, 0), "case %d", k);
  }
  struct { ax_tensor *(*f)(ax_tensor *, double); double want[4]; } scases[] = {
      {ax_eq_scalar, {0, 1, 0, 0}}, {ax_ne_scalar, {1, 0, 1, 1}}, {ax_lt_scalar, {1, 0, 0, 0}},
      {ax_le_scalar, {1, 1, 0, 0}}, {ax_gt_scalar, {0, 0, 1, 1}}, {ax_ge_scalar, {0, 1, 1, 1}},
  };
  for (int k = 0; k < 6; k++) {
    ax_tensor *r = scases[k].f(ta, 2);
    cr_expect_eq(r->dtype, AX_BOOL);
    cr_expect(tu_allclose_data(r, scases[k].want, 4, 0, 0), "scalar case %d", k);
  }
  /* not differentiable: no graph even from a leaf requiring grad */
  ax_tensor *l = tu_leaf(ax_cast(ta, AX_F64));
  cr_expect(!ax_lt(l, l)->requires_grad);
  /* an integer tensor against a fractional scalar compares exactly */
  int64_t iv[3] = {0, 1, 2};
  ax_tensor *ti = ax_from_data(iv, AX_SHAPE(3), &(ax_tensor_opts){.dtype = AX_I64});
  double lt[3] = {1, 0, 0}, ge[3] = {0, 1, 1}, eq[3] = {0, 0, 0};
  cr_expect(tu_allclose_data(ax_lt_scalar(ti, 0.5), lt, 3, 0, 0));
  cr_expect(tu_allclose_data(ax_ge_scalar(ti, 0.5), ge, 3, 0, 0));
  cr_expect(tu_allclose_data(ax_eq_scalar(ti, 1.5), eq, 3, 0, 0));
  /* bool operands */
  ax_tensor *m1 = ax_gt_scalar(ta, 1.5), *m2 = ax_lt_scalar(ta, 3.5);
  double both[4] = {0, 1, 1, 0}, either[4] = {1, 1, 1, 1}, same[4] = {0, 1, 1, 0};
  cr_expect(tu_allclose_data(ax_minimum(m1, m2), both, 4, 0, 0));
  cr_expect(tu_allclose_data(ax_maximum(m1, m2), either, 4, 0, 0));
  cr_expect(tu_allclose_data(ax_eq(m1, m2), same, 4, 0, 0));
  ax_scope_end();
}

Test(elementwise, integer_ops) {
  ax_scope_begin();
  int64_t a[4] = {-3, 0, 5, INT64_MAX}, b[4] = {4, -2, 5, 1};
  ax_tensor *ta = ax_from_data(a, AX_SHAPE(4), &(ax_tensor_opts){.dtype = AX_I64});
  ax_tensor *tb = ax_from_data(b, AX_SHAPE(4), &(ax_tensor_opts){.dtype = AX_I64});
  ax_tensor *s = ax_add(ta, tb);
  cr_assert_not_null(s);
  cr_expect_eq(s->dtype, AX_I64);
  int64_t got[4];
  ax_to_data(s, got, sizeof got);
  cr_expect_eq(got[0], 1);
  cr_expect_eq(got[1], -2);
  cr_expect_eq(got[2], 10);
  cr_expect_eq(got[3], INT64_MIN); /* wraps, no undefined behaviour */
  ax_to_data(ax_mul(ta, tb), got, sizeof got);
  cr_expect(got[0] == -12 && got[1] == 0 && got[2] == 25);
  ax_to_data(ax_sub(ta, tb), got, sizeof got);
  cr_expect(got[0] == -7 && got[1] == 2 && got[2] == 0);
  ax_to_data(ax_maximum(ta, tb), got, sizeof got);
  cr_expect(got[0] == 4 && got[1] == 0 && got[2] == 5 && got[3] == INT64_MAX);
  ax_to_data(ax_abs(ta), got, sizeof got);
  cr_expect(got[0] == 3 && got[1] == 0 && got[2] == 5);
  ax_to_data(ax_clamp(ta, -1.5, 2.5), got, sizeof got);
  cr_expect(got[0] == -1 && got[1] == 0 && got[2] == 2 && got[3] == 2);
  ax_to_data(ax_clamp(ta, 0, INFINITY), got, sizeof got);
  cr_expect(got[0] == 0 && got[3] == INT64_MAX);
  ax_to_data(ax_add_scalar(ta, 3), got, sizeof got);
  cr_expect(got[0] == 0 && got[2] == 8);

  int32_t c[3] = {-7, 3, 100};
  ax_tensor *tc = ax_from_data(c, AX_SHAPE(3), &(ax_tensor_opts){.dtype = AX_I32});
  double sq[3] = {49, 9, 10000}, ng[3] = {7, -3, -100}, mn[3] = {-7, 0, 0};
  cr_expect(tu_allclose_data(ax_square(tc), sq, 3, 0, 0));
  cr_expect(tu_allclose_data(ax_neg(tc), ng, 3, 0, 0));
  cr_expect(tu_allclose_data(ax_minimum_scalar(tc, 0), mn, 3, 0, 0));
  cr_expect_eq(ax_square(tc)->dtype, AX_I32);

  uint8_t u[3] = {250, 3, 0};
  ax_tensor *tu8 = ax_from_data(u, AX_SHAPE(3), &(ax_tensor_opts){.dtype = AX_U8});
  double wrap[3] = {4, 13, 10};
  cr_expect(tu_allclose_data(ax_add_scalar(tu8, 10), wrap, 3, 0, 0));
  double cl[3] = {200, 3, 1};
  cr_expect(tu_allclose_data(ax_clamp(tu8, 1, 200), cl, 3, 0, 0));
  ax_scope_end();
}

Test(elementwise, where_known_answers) {
  ax_scope_begin();
  float a[6] = {1, 2, 3, 4, 5, 6};
  ax_tensor *x = ax_from_data(a, AX_SHAPE(2, 3), NULL);
  ax_tensor *cond = ax_gt_scalar(x, 3.5);
  ax_tensor *zero = ax_scalar(0, NULL);
  double want[6] = {0, 0, 0, 4, 5, 6};
  ax_tensor *r = ax_where(cond, x, zero);
  cr_assert_not_null(r);
  cr_expect_eq(r->dtype, AX_F32);
  cr_expect(tu_allclose_data(r, want, 6, 0, 0));
  /* cond [2,1] broadcast against [3]: rows pick a or b */
  bool cv[2] = {true, false};
  ax_tensor *c2 = ax_from_data(cv, AX_SHAPE(2, 1), &(ax_tensor_opts){.dtype = AX_BOOL});
  int64_t av[3] = {1, 2, 3}, bv[3] = {-1, -2, -3};
  ax_tensor *ia = ax_from_data(av, AX_SHAPE(3), &(ax_tensor_opts){.dtype = AX_I64});
  ax_tensor *ib = ax_from_data(bv, AX_SHAPE(3), &(ax_tensor_opts){.dtype = AX_I64});
  ax_tensor *w = ax_where(c2, ia, ib);
  cr_assert_not_null(w);
  cr_expect_eq(w->dtype, AX_I64);
  double ww[6] = {1, 2, 3, -1, -2, -3};
  cr_expect(tu_allclose_data(w, ww, 6, 0, 0));
  /* gradient routing */
  ax_tensor *la = tu_leaf(ax_cast(x, AX_F64)), *lb = tu_leaf(ax_scalar(2, F64));
  cr_assert_eq(ax_backward(ax_sum(ax_where(cond, la, lb), AX_ALL, false), NULL), 0);
  double ga[6] = {0, 0, 0, 1, 1, 1};
  cr_expect(tu_allclose_data(la->grad, ga, 6, 0, 0));
  cr_expect_float_eq(ax_item(lb->grad), 3.0, 0);
  ax_scope_end();
}

Test(elementwise, half_precision_through_f32) {
  ax_scope_begin();
  ax_tensor *x = ax_from_data(points, AX_SHAPE(5), F64);
  for (int dt = AX_BF16; dt <= AX_F16; dt++) {
    ax_tensor *h = ax_cast(x, (ax_dtype)dt);
    ax_tensor *g = ax_gelu(h);
    cr_assert_not_null(g);
    cr_expect_eq(g->dtype, dt);
    cr_expect(tu_allclose(g, ax_gelu(x), 1e-2, 1e-2), "dtype %d", dt);
    ax_tensor *s = ax_add(h, h);
    cr_expect(tu_allclose(s, ax_add(x, x), 1e-2, 1e-2));
    double gt[5] = {0, 0, 0, 1, 1};
    cr_expect(tu_allclose_data(ax_gt_scalar(h, 0), gt, 5, 0, 0));
  }
  ax_scope_end();
}

Test(elementwise, gradient_at_kinks_is_zero_like_pytorch) {
  ax_scope_begin();
  ax_tensor *x = tu_leaf(ax_zeros(AX_SHAPE(2), F64));
  cr_assert_eq(ax_backward(ax_sum(ax_add(ax_abs(x), ax_relu(x)), AX_ALL, false), NULL), 0);
  double zero[2] = {0, 0};
  cr_expect(tu_allclose_data(x->grad, zero, 2, 0, 0));
  ax_scope_end();
}

/* ---------------- kernels called directly ---------------- */

static ax_kt kt_1d(void *data, int dtype, int64_t n, int64_t stride) {
  ax_kt k;
  memset(&k, 0, sizeof k);
  k.data = data;
  k.dtype = dtype;
  k.ndim = 1;
  k.shape[0] = n;
  k.strides[0] = stride;
  return k;
}

Test(elementwise, kernel_sign_forward_and_backward) {
  double x[3] = {-2, 0, 3}, y[3], g[3] = {5, 5, 5}, gx[3] = {9, 9, 9};
  ax_kt kx = kt_1d(x, AX_F64, 3, 1), ky = kt_1d(y, AX_F64, 3, 1), kg = kt_1d(g, AX_F64, 3, 1), kgx = kt_1d(gx, AX_F64, 3, 1);
  ax_cpu_unary(AX_UNARY_SIGN, &ky, &kx, 0, 0);
  cr_expect(y[0] == -1 && y[1] == 0 && y[2] == 1);
  ax_cpu_unary_backward(AX_UNARY_SIGN, &kgx, &kg, &kx, NULL, 0, 0);
  cr_expect(gx[0] == 0 && gx[1] == 0 && gx[2] == 0);
  int32_t xi[3] = {-7, 0, 4}, yi[3];
  ax_kt kxi = kt_1d(xi, AX_I32, 3, 1), kyi = kt_1d(yi, AX_I32, 3, 1);
  ax_cpu_unary(AX_UNARY_SIGN, &kyi, &kxi, 0, 0);
  cr_expect(yi[0] == -1 && yi[1] == 0 && yi[2] == 1);
}

/* out aliasing an input exactly (gradient accumulation does this), large and strided */
Test(elementwise, kernel_in_place_binary) {
  enum { N = 70001 };
  static float a[N], b[N];
  for (int i = 0; i < N; i++) {
    a[i] = (float)i;
    b[i] = 1.0f;
  }
  ax_kt ka = kt_1d(a, AX_F32, N, 1), kb = kt_1d(b, AX_F32, N, 1);
  ax_cpu_binary(AX_BINARY_ADD, &ka, &ka, &kb);
  int bad = 0;
  for (int i = 0; i < N; i++) bad += a[i] != (float)i + 1.0f;
  cr_expect_eq(bad, 0);
  ax_kt even = kt_1d(a, AX_F32, (N + 1) / 2, 2), scalar = kt_1d(b, AX_F32, (N + 1) / 2, 0);
  ax_cpu_binary(AX_BINARY_MUL, &even, &even, &scalar); /* strided out, stride-0 b */
  b[0] = 3.0f;
  ax_cpu_binary(AX_BINARY_MUL, &even, &even, &scalar);
  bad = 0;
  for (int i = 0; i < N; i++) bad += a[i] != (float)(i + 1) * (i % 2 ? 1.0f : 3.0f);
  cr_expect_eq(bad, 0);
}

/* ---------------- errors ---------------- */

Test(elementwise, broadcast_error_names_op_and_shapes) {
  ax_scope_begin();
  ax_tensor *a = ax_zeros(AX_SHAPE(2, 3), NULL), *b = ax_zeros(AX_SHAPE(4, 5), NULL);
  cr_expect_null(ax_add(a, b));
  cr_expect(tu_error_contains("ax_add", "[2, 3]", "[4, 5]", NULL));
  cr_expect_null(ax_maximum(a, b));
  cr_expect(tu_error_contains("ax_maximum", "[2, 3]", "[4, 5]", NULL));
  cr_expect_null(ax_lt(b, a));
  cr_expect(tu_error_contains("ax_lt", "[4, 5]", "[2, 3]", NULL));
  ax_scope_end();
}

Test(elementwise, dtype_mismatch) {
  ax_scope_begin();
  ax_tensor *a = ax_zeros(AX_SHAPE(3), NULL), *b = ax_zeros(AX_SHAPE(3), F64);
  cr_expect_null(ax_mul(a, b));
  cr_expect(tu_error_contains("ax_mul", "f32", "f64", "[3]", NULL));
  cr_expect_null(ax_eq(a, b));
  cr_expect(tu_error_contains("ax_eq", "f32", "f64", NULL));
  ax_scope_end();
}

Test(elementwise, float_only_ops_reject_integers) {
  ax_scope_begin();
  ax_tensor *i = ax_zeros(AX_SHAPE(3), &(ax_tensor_opts){.dtype = AX_I64});
  unary_fn fs[] = {ax_exp, ax_log, ax_sqrt, ax_relu, ax_sigmoid, ax_tanh, ax_gelu, ax_silu};
  const char *names[] = {"ax_exp", "ax_log", "ax_sqrt", "ax_relu", "ax_sigmoid", "ax_tanh", "ax_gelu", "ax_silu"};
  for (int k = 0; k < 8; k++) {
    cr_expect_null(fs[k](i));
    cr_expect(tu_error_contains(names[k], "expected a floating-point tensor", "i64 [3]", NULL));
  }
  cr_expect_null(ax_div(i, i));
  cr_expect(tu_error_contains("ax_div", "expected a floating-point tensor", NULL));
  cr_expect_null(ax_neg(ax_zeros(AX_SHAPE(2), &(ax_tensor_opts){.dtype = AX_BOOL})));
  cr_expect(tu_error_contains("ax_neg", "bool", NULL));
  ax_tensor *m = ax_zeros(AX_SHAPE(2), &(ax_tensor_opts){.dtype = AX_BOOL});
  cr_expect_null(ax_add(m, m));
  cr_expect(tu_error_contains("ax_add", "bool", NULL));
  cr_expect_null(ax_add_scalar(i, 0.5));
  cr_expect(tu_error_contains("ax_add_scalar", "0.5", "i64", NULL));
  ax_scope_end();
}

Test(elementwise, where_errors) {
  ax_scope_begin();
  ax_tensor *a = ax_zeros(AX_SHAPE(2, 3), NULL), *b = ax_zeros(AX_SHAPE(3), NULL);
  cr_expect_null(ax_where(a, a, b));
  cr_expect(tu_error_contains("ax_where", "bool", "f32 [2, 3]", NULL));
  ax_tensor *c = ax_gt_scalar(ax_zeros(AX_SHAPE(4), NULL), 0);
  cr_expect_null(ax_where(c, a, b));
  cr_expect(tu_error_contains("ax_where", "[4]", "[2, 3]", "[3]", NULL));
  ax_tensor *c2 = ax_gt_scalar(a, 0);
  cr_expect_null(ax_where(c2, a, ax_zeros(AX_SHAPE(3), F64)));
  cr_expect(tu_error_contains("ax_where", "f32", "f64", NULL));
  ax_scope_end();
}

Test(elementwise, null_in_null_out) {
  ax_scope_begin();
  ax_tensor *a = ax_zeros(AX_SHAPE(2), NULL);
  cr_expect_null(ax_add(NULL, a));
  cr_expect_null(ax_mul(a, NULL));
  cr_expect_null(ax_exp(NULL));
  cr_expect_null(ax_mul_scalar(NULL, 2));
  cr_expect_null(ax_lt_scalar(NULL, 2));
  cr_expect_null(ax_where(NULL, a, a));
  cr_expect_null(ax_clamp(NULL, 0, 1));
  cr_expect_null(ax_clamp(NULL, NAN, 1));
  cr_expect_eq(tu_error_count(), 0);
  ax_scope_end();
}
