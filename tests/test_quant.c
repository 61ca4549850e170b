/* SPDX-License-Identifier: BSD-3-Clause */
/* int8 quantization (include/axon/quant.h, docs/quantization.md): the int8 GEMM's
 * three CPU paths bit for bit against a plain int loop, the ops against known
 * answers, quantized layers and models against f32, the int8 file round trip, and
 * every bad input (no calibration data, a corrupt or foreign int8 file) as a clear
 * error. The CUDA kernels are compared with these in tests/parity/parity_quant.c. */
#define _DEFAULT_SOURCE /* truncate */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/cpu/quant.h"
#include "testutil.h"

static void setup(void) { tu_capture_errors(); }

static uint64_t rng = 0x243f6a8885a308d3ull;
static int8_t rand_i8(void) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (int8_t)(rng >> 56); /* the whole range, -128 included */
}

static void naive(int32_t *c, const int8_t *a, const int8_t *b, int64_t m, int64_t n, int64_t k) {
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      int64_t s = 0;
      for (int64_t p = 0; p < k; p++) s += a[i * k + p] * b[j * k + p];
      c[i * n + j] = (int32_t)s;
    }
}

/* every shape class: 1x1, edges of the 2x4 tile, K around the 16 / 64 steps, long K */
static void check_path(int path) {
  static const int64_t shapes[][3] = {{1, 1, 1},   {1, 10, 128}, {2, 4, 64},  {3, 5, 63},   {5, 7, 65},  {16, 8, 32},
                                      {17, 9, 15}, {33, 31, 17}, {64, 3, 300}, {7, 130, 9}, {4, 4, 3000}, {1, 1, 0}};
  for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
    int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
    int8_t *a = malloc((size_t)(m * k + 1)), *b = malloc((size_t)(n * k + 1));
    int32_t *c = malloc((size_t)(m * n) * 4), *r = malloc((size_t)(m * n) * 4);
    for (int64_t i = 0; i < m * k; i++) a[i] = rand_i8();
    for (int64_t i = 0; i < n * k; i++) b[i] = rand_i8();
    if (s == 0) a[0] = b[0] = -128; /* (-128)^2: the largest product */
    naive(r, a, b, m, n, k);
    memset(c, 0x55, (size_t)(m * n) * 4);
    cr_assert_eq(ax_cpu_gemm_s8_path(path, c, a, b, m, n, k), AX_K_OK);
    for (int64_t i = 0; i < m * n; i++)
      cr_assert_eq(c[i], r[i], "%s path, [%lld x %lld x %lld], element %lld: %d, expected %d", ax_cpu_s8_path_name(path),
                   (long long)m, (long long)n, (long long)k, (long long)i, c[i], r[i]);
    free(a);
    free(b);
    free(c);
    free(r);
  }
}

Test(quant, gemm_s8_reference_exact) { check_path(AX_S8_REFERENCE); }

Test(quant, gemm_s8_avx2_exact) {
  if (!ax_cpu_s8_path_supported(AX_S8_AVX2)) cr_skip_test("this CPU has no AVX2: the avx2 path is not tested here");
  check_path(AX_S8_AVX2);
}

Test(quant, gemm_s8_vnni_exact) {
  if (!ax_cpu_s8_path_supported(AX_S8_VNNI))
    cr_skip_test("this CPU has no AVX-512 VNNI: the vnni path is not tested here");
  check_path(AX_S8_VNNI);
}

Test(quant, unsupported_path_is_an_error) {
  int32_t c = 0;
  int8_t a = 1;
  cr_assert_eq(ax_cpu_gemm_s8_path(AX_S8_NUM_PATHS, &c, &a, &a, 1, 1, 1), AX_K_UNSUPPORTED);
}

static ax_tensor *i8_tensor(int64_t r, int64_t c) {
  int8_t *d = malloc((size_t)(r * c));
  for (int64_t i = 0; i < r * c; i++) d[i] = rand_i8();
  ax_tensor *t = ax_from_data(d, AX_SHAPE(r, c), &(ax_tensor_opts){.dtype = AX_I8});
  free(d);
  return t;
}

Test(quant, matmul_s8_op_exact, .init = setup) {
  ax_scope_begin();
  ax_tensor *a = i8_tensor(37, 77), *b = i8_tensor(45, 77);
  ax_tensor *c = ax_matmul_s8(a, b);
  cr_assert(c && c->dtype == AX_I32 && c->shape[0] == 37 && c->shape[1] == 45);
  int32_t *r = malloc(37 * 45 * 4);
  naive(r, ax_data_ptr(a), ax_data_ptr(b), 37, 45, 77);
  for (int i = 0; i < 37 * 45; i++) cr_assert_eq(((int32_t *)ax_data_ptr(c))[i], r[i]);
  free(r);
  /* errors */
  cr_assert_null(ax_matmul_s8(a, i8_tensor(3, 76)));
  cr_assert(tu_error_contains("ax_matmul_s8", "share K", NULL));
  cr_assert_null(ax_matmul_s8(ax_zeros(AX_SHAPE(2, 77), NULL), b));
  cr_assert(tu_error_contains("ax_matmul_s8", "must be i8", NULL));
  ax_scope_end();
}

Test(quant, quantize_known_answer, .init = setup) {
  ax_scope_begin();
  float x[] = {0.5f, 1.5f, -2.5f, 1000.f, -1000.f, NAN, 0.26f, -0.74f};
  ax_tensor *q = ax_quantize_s8(ax_from_data(x, AX_SHAPE(8), NULL), 0.5f);
  cr_assert(q && q->dtype == AX_I8);
  const int8_t want[] = {1, 3, -5, 127, -127, 0, 1, -1}; /* rint: halves to even */
  for (int i = 0; i < 8; i++) cr_assert_eq(((int8_t *)ax_data_ptr(q))[i], want[i], "element %d", i);
  cr_assert_null(ax_quantize_s8(ax_from_data(x, AX_SHAPE(8), NULL), 0.f));
  cr_assert(tu_error_contains("ax_quantize_s8", "scale", NULL));
  ax_scope_end();
}

Test(quant, requantize_known_answer, .init = setup) {
  ax_scope_begin();
  int32_t acc[] = {100, -100, 7, 0, 1000, -3};
  float sc[] = {0.01f, 0.5f, 2.f}, bi[] = {1.f, 0.f, -1.f};
  ax_tensor *a = ax_from_data(acc, AX_SHAPE(2, 3), &(ax_tensor_opts){.dtype = AX_I32});
  ax_tensor *s = ax_from_data(sc, AX_SHAPE(3), NULL), *b = ax_from_data(bi, AX_SHAPE(3), NULL);
  ax_tensor *y = ax_requantize(a, s, b, AX_F32, 0, false);
  double want[] = {2, -50, 13, 1, 500, -7};
  cr_assert(tu_allclose_data(y, want, 6, 1e-6, 1e-6));
  ax_tensor *yr = ax_requantize(a, s, b, AX_F32, 0, true);
  double want_r[] = {2, 0, 13, 1, 500, 0};
  cr_assert(tu_allclose_data(yr, want_r, 6, 1e-6, 1e-6));
  ax_tensor *q = ax_requantize(a, s, b, AX_I8, 4.f, true);
  const int8_t want_q[] = {0, 0, 3, 0, 125, 0}; /* 2/4 = 0.5 -> 0, 13/4 = 3.25 -> 3, 500/4 -> 125 */
  cr_assert(q && q->dtype == AX_I8);
  for (int i = 0; i < 6; i++) cr_assert_eq(((int8_t *)ax_data_ptr(q))[i], want_q[i], "element %d", i);
  cr_assert_null(ax_requantize(a, ax_from_data(sc, AX_SHAPE(2), NULL), NULL, AX_F32, 0, false));
  cr_assert(tu_error_contains("ax_requantize", "scale must be [3]", NULL));
  ax_scope_end();
}

/* conv as im2row + int8 GEMM against the f32 conv of the dequantized operands: equal up to f32 rounding */
Test(quant, im2row_conv_matches_f32, .init = setup) {
  ax_scope_begin();
  ax_conv2d_opts o = {.stride_hw = {2, 1}, .padding_hw = {1, 2}, .dilation_hw = {1, 2}, .groups = 1};
  ax_tensor *x = tu_uniform(AX_F32, AX_SHAPE(2, 3, 9, 8), -1, 1), *w = tu_uniform(AX_F32, AX_SHAPE(5, 3, 3, 2), -1, 1);
  ax_tensor *xq = ax_quantize_s8(x, 1.f / 127), *wq = ax_quantize_s8(w, 1.f / 127);
  ax_tensor *col = ax_im2row_s8(xq, 3, 2, &o);
  cr_assert(col);
  ax_tensor *acc = ax_matmul_s8(col, ax_reshape(wq, AX_SHAPE(5, 18)));
  ax_tensor *ref = ax_conv2d(ax_cast(xq, AX_F32), ax_cast(wq, AX_F32), NULL, &o); /* [2, 5, 5, 10] of integers */
  cr_assert(acc && ref && ref->shape[2] == 5 && ref->shape[3] == 10);
  cr_assert(col->shape[0] == 2 * 5 * 10 && col->shape[1] == 18);
  ax_tensor *got = ax_contiguous(ax_permute(ax_reshape(ax_cast(acc, AX_F32), AX_SHAPE(2, 5, 10, 5)), (int[]){0, 3, 1, 2}));
  cr_assert(tu_allclose(got, ref, 0, 0), "int8 conv differs from the f32 conv of the same integers");
  cr_assert_null(ax_im2row_s8(xq, 20, 2, &o));
  cr_assert(tu_error_contains("ax_im2row_s8", "does not fit", NULL));
  ax_scope_end();
}

/* ---------------- models ---------------- */

static ax_tensor *batch(int n, uint64_t seed) {
  ax_manual_seed(seed);
  return ax_randn(AX_SHAPE(n, 1, 28, 28), NULL);
}

/* a zoo model with trained-looking BatchNorm statistics, calibrated on 3 batches and converted */
static ax_module *quantized(const char *arch, ax_module **f32_out, ax_calib_method method) {
  char err[512];
  ax_manual_seed(7);
  ax_module *f32 = ax_model_create(arch, err, sizeof err), *copy = ax_model_create(arch, err, sizeof err);
  ax_module_train(f32, true);
  for (int i = 0; i < 3; i++) { /* BN running statistics that are not the identity */
    ax_scope_begin();
    ax_module_forward(f32, ax_add_scalar(ax_mul_scalar(batch(32, 100 + i), 1.5), 0.3));
    ax_scope_end();
  }
  ax_module_train(f32, false);
  ax_state_dict *sd = ax_state_dict_new();
  ax_module_state_dict(f32, sd);
  cr_assert_eq(ax_module_load_state_dict(copy, sd, true, err, sizeof err), 0, "%s", err);
  ax_state_dict_free(sd);
  ax_module *qm = ax_quant_prepare(copy, arch, err, sizeof err);
  cr_assert(qm, "%s", err);
  for (int i = 0; i < 3; i++) {
    ax_scope_begin();
    cr_assert(ax_module_forward(qm, batch(32, 200 + i)));
    ax_scope_end();
  }
  cr_assert_eq(ax_quant_convert(qm, &(ax_quant_opts){.method = method}, err, sizeof err), 0, "%s", err);
  *f32_out = f32;
  return qm;
}

/* relative L2 error of the logits and the agreement of the argmax */
static void compare(ax_module *f32, ax_module *qm, double max_rel, double min_agree) {
  ax_scope_begin();
  ax_tensor *x = batch(64, 999);
  ax_tensor *a = ax_module_forward(f32, x), *b = ax_module_forward(qm, x);
  cr_assert(a && b);
  double num = 0, den = 0;
  int agree = 0;
  for (int i = 0; i < 64; i++) {
    int ia = 0, ib = 0;
    for (int j = 0; j < 10; j++) {
      double u = tu_get(a, i * 10 + j), v = tu_get(b, i * 10 + j);
      num += (u - v) * (u - v);
      den += u * u;
      if (u > tu_get(a, i * 10 + ia)) ia = j;
      if (v > tu_get(b, i * 10 + ib)) ib = j;
    }
    agree += ia == ib;
  }
  cr_assert(sqrt(num / den) < max_rel, "relative error of the int8 logits %g", sqrt(num / den));
  cr_assert(agree >= min_agree * 64, "argmax agrees on %d of 64", agree);
  ax_scope_end();
}

Test(quant, cnn_int8_close_to_f32, .init = setup) {
  ax_module *f32, *qm = quantized("cnn", &f32, AX_CALIB_MINMAX);
  cr_assert_eq(ax_quant_num_layers(qm), 4);
  compare(f32, qm, 0.05, 0.9);
  ax_module_free(qm);
  ax_module_free(f32);
}

Test(quant, resnet_int8_close_to_f32_percentile, .init = setup) {
  ax_module *f32, *qm = quantized("resnet", &f32, AX_CALIB_PERCENTILE);
  cr_assert_eq(ax_quant_num_layers(qm), 16);
  compare(f32, qm, 0.1, 0.85);
  ax_module_free(qm);
  ax_module_free(f32);
}

Test(quant, no_calibration_data_is_an_error, .init = setup) {
  char err[512] = "";
  ax_module *qm = ax_quant_prepare(ax_model_create("cnn", err, sizeof err), "cnn", err, sizeof err);
  cr_assert(qm, "%s", err);
  cr_assert_eq(ax_quant_convert(qm, NULL, err, sizeof err), -1);
  cr_assert(strstr(err, "no calibration data"), "%s", err);
  cr_assert_eq(ax_quant_save(qm, "/tmp/never.safetensors", err, sizeof err), -1);
  cr_assert(strstr(err, "calibrating"), "%s", err);
  ax_module_free(qm);
}

/* ---------------- the int8 file ---------------- */

static char path_buf[256];
static const char *tmp_path(const char *name) {
  snprintf(path_buf, sizeof path_buf, "/tmp/axon_test_quant_%d_%s", (int)getpid(), name);
  return path_buf;
}

Test(quant, file_round_trip_is_identical, .init = setup) {
  ax_module *f32, *qm = quantized("cnn", &f32, AX_CALIB_MINMAX);
  char err[512], p[256];
  snprintf(p, sizeof p, "%s", tmp_path("rt.safetensors"));
  cr_assert_eq(ax_quant_save(qm, p, err, sizeof err), 0, "%s", err);
  ax_state_dict *sd = ax_load_safetensors(p, err, sizeof err);
  cr_assert(sd && ax_state_dict_is_int8(sd), "%s", err);
  ax_tensor *w = ax_state_dict_get(sd, "features.0.weight"), *s = ax_state_dict_get(sd, "features.0.weight_scale");
  cr_assert(w && w->dtype == AX_I8 && w->ndim == 4 && w->shape[0] == 32 && w->shape[3] == 3);
  cr_assert(s && s->dtype == AX_F32 && s->ndim == 1 && s->shape[0] == 32);
  cr_assert(ax_state_dict_get(sd, "features.0.input_scale") && ax_state_dict_get(sd, "features.0.bias"));
  cr_assert_null(ax_state_dict_get(sd, "features.1.running_mean"), "the folded BatchNorm is left out");
  cr_assert(strstr(ax_state_dict_meta(sd, "quantization"), "\"method\": \"minmax\""));
  ax_module *back = ax_quant_load("cnn", sd, p, err, sizeof err);
  cr_assert(back, "%s", err);
  ax_scope_begin();
  ax_tensor *x = batch(8, 5);
  cr_assert(tu_allclose(ax_module_forward(back, x), ax_module_forward(qm, x), 0, 0));
  ax_scope_end();
  ax_module_free(back);
  ax_state_dict_free(sd);
  unlink(p);
  ax_module_free(qm);
  ax_module_free(f32);
}

/* the int8 state dict of a quantized cnn, for the corruption cases */
static ax_state_dict *int8_sd(const char *arch) {
  ax_module *f32, *qm = quantized(arch, &f32, AX_CALIB_MINMAX);
  char err[512], p[256];
  snprintf(p, sizeof p, "%s", tmp_path("c.safetensors"));
  cr_assert_eq(ax_quant_save(qm, p, err, sizeof err), 0, "%s", err);
  ax_state_dict *sd = ax_load_safetensors(p, err, sizeof err);
  unlink(p);
  ax_module_free(qm);
  ax_module_free(f32);
  return sd;
}

static void expect_load_error(const ax_state_dict *sd, const char *arch, const char *needle) {
  char err[512] = "";
  ax_module *m = ax_quant_load(arch, sd, "w8.safetensors", err, sizeof err);
  cr_assert_null(m, "loaded a bad file (expected: %s)", needle);
  cr_assert(strstr(err, needle), "error '%s' lacks '%s'", err, needle);
}

Test(quant, corrupt_files_are_clear_errors, .init = setup) {
  ax_state_dict *sd = int8_sd("cnn");
  ax_scope_begin();
  /* copies: replacing a dict entry drops the dict's reference to the old tensor */
  ax_tensor *w = ax_clone(ax_state_dict_get(sd, "features.4.weight"));
  ax_tensor *ws = ax_clone(ax_state_dict_get(sd, "features.4.weight_scale"));
  /* a weight stored as f32 */
  ax_state_dict_set(sd, "features.4.weight", ax_cast(w, AX_F32));
  expect_load_error(sd, "cnn", "'features.4.weight' is f32, expected i8");
  ax_state_dict_set(sd, "features.4.weight", w);
  /* as many scales as output channels */
  ax_state_dict_set(sd, "features.4.weight_scale", ax_narrow(ws, 0, 0, 60));
  expect_load_error(sd, "cnn", "has 60 scales for 64 output channels");
  /* a scale that is not positive */
  ax_tensor *neg = ax_clone(ws);
  ((float *)ax_data_ptr(neg))[3] = -1;
  ax_state_dict_set(sd, "features.4.weight_scale", neg);
  expect_load_error(sd, "cnn", "must be positive");
  ax_state_dict_set(sd, "features.4.weight_scale", ws);
  /* a missing scale: a new dict without it */
  ax_state_dict *sd2 = ax_state_dict_new();
  for (int i = 0; i < ax_state_dict_size(sd); i++)
    if (strcmp(ax_state_dict_name(sd, i), "classifier.1.input_scale"))
      ax_state_dict_set(sd2, ax_state_dict_name(sd, i), ax_state_dict_tensor(sd, i));
  ax_state_dict_set_meta(sd2, "format", "axon-int8");
  expect_load_error(sd2, "cnn", "missing tensor 'classifier.1.input_scale'");
  ax_state_dict_free(sd2);
  /* the weights of a cnn read as a resnet: by the metadata, and without it by the tensors */
  expect_load_error(sd, "resnet", "holds int8 weights of a 'cnn' model, not 'resnet'");
  ax_state_dict_set_meta(sd, "axon_model", "resnet");
  expect_load_error(sd, "resnet", "missing tensor 'conv1.weight'");
  /* f32 weights are not int8 */
  ax_state_dict_set_meta(sd, "format", "pt");
  expect_load_error(sd, "cnn", "not int8 weights");
  ax_scope_end();
  ax_state_dict_free(sd);
}

Test(quant, truncated_file_is_an_error, .init = setup) {
  ax_state_dict *sd = int8_sd("cnn");
  char err[512] = "", p[256];
  snprintf(p, sizeof p, "%s", tmp_path("t.safetensors"));
  cr_assert_eq(ax_save_safetensors(p, sd, err, sizeof err), 0, "%s", err);
  FILE *f = fopen(p, "rb");
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fclose(f);
  cr_assert_eq(truncate(p, n - 1000), 0);
  cr_assert_null(ax_load_safetensors(p, err, sizeof err));
  cr_assert(strlen(err) > 0 && strstr(err, p), "%s", err);
  unlink(p);
  ax_state_dict_free(sd);
}
