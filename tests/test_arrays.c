/* SPDX-License-Identifier: BSD-3-Clause */
/* Issue 18: .npy / .npz / CSV readers (files NumPy wrote: tests/fixtures/make_arrays.py),
 * datasets from arrays and from a callback, and every bad input as a clear error. */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define FIX AXON_SOURCE_DIR "/tests/fixtures/arrays/"

static char dir[64];

static void setup(void) {
  tu_capture_errors();
  snprintf(dir, sizeof dir, "/tmp/axon_arrays_XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  ax_scope_begin();
}

static void teardown(void) {
  ax_scope_end();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(arrays, .init = setup, .fini = teardown, .timeout = 60);

static const char *write_file(const char *name, const void *data, size_t n) {
  static char path[4][128];
  static int k;
  char *p = path[k++ % 4];
  snprintf(p, 128, "%s/%s", dir, name);
  FILE *f = fopen(p, "wb");
  cr_assert_not_null(f);
  cr_assert_eq(fwrite(data, 1, n, f), n);
  fclose(f);
  return p;
}

static void *read_fixture(const char *name, size_t *n) {
  char p[512];
  snprintf(p, sizeof p, FIX "%s", name);
  FILE *f = fopen(p, "rb");
  cr_assert_not_null(f, "%s", p);
  static unsigned char buf[1 << 16];
  *n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  return buf;
}

Test(arrays, npy_every_common_dtype) {
  struct { const char *file; ax_dtype dt; } cases[] = {
      {"u1.npy", AX_U8},  {"i1.npy", AX_I32}, {"i2.npy", AX_I32}, {"i4.npy", AX_I32}, {"u2.npy", AX_I32},
      {"i8.npy", AX_I64}, {"u4.npy", AX_I64}, {"f2.npy", AX_F32}, {"f4.npy", AX_F32}, {"f8.npy", AX_F64},
      {"b1.npy", AX_BOOL}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char err[512] = "";
    char p[256];
    snprintf(p, sizeof p, FIX "%s", cases[i].file);
    ax_tensor *t = ax_npy_load(p, err, sizeof err);
    cr_assert_not_null(t, "%s: %s", cases[i].file, err);
    cr_assert_eq(t->dtype, cases[i].dt, "%s", cases[i].file);
    cr_assert_eq(t->ndim, 2);
    cr_assert(t->shape[0] == 2 && t->shape[1] == 3);
    for (int k = 0; k < 6; k++) {
      double want = cases[i].dt == AX_BOOL ? k % 2 : k;
      cr_assert_eq(tu_get(t, k), want, "%s[%d] = %g", cases[i].file, k, tu_get(t, k));
    }
  }
  char err[256];
  ax_tensor *t = ax_npy_load(FIX "neg_i2.npy", err, sizeof err);
  cr_assert_not_null(t, "%s", err);
  cr_assert(tu_get(t, 0) == -3 && tu_get(t, 1) == 7 && tu_get(t, 2) == -32768);
}

Test(arrays, npy_refuses_what_it_cannot_read) {
  struct { const char *file, *says; } cases[] = {{"fortran.npy", "Fortran-order"}, {"object.npy", "object arrays"},
                                                 {"u8.npy", "unsupported dtype '<u8'"}, {"c8.npy", "unsupported dtype"},
                                                 {"big_endian.npy", "big-endian"}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char p[256], err[512] = "";
    snprintf(p, sizeof p, FIX "%s", cases[i].file);
    cr_assert_null(ax_npy_load(p, err, sizeof err), "%s", cases[i].file);
    cr_assert(strstr(err, cases[i].says) && strstr(err, p), "%s: %s", cases[i].file, err);
  }
}

Test(arrays, npy_truncated_or_corrupt_is_an_error) {
  size_t n;
  unsigned char *b = read_fixture("f4.npy", &n);
  char err[512] = "";
  const char *p = write_file("t.npy", b, 40); /* inside the header */
  cr_assert_null(ax_npy_load(p, err, sizeof err));
  cr_assert(strstr(err, "truncated .npy header") && strstr(err, p), "%s", err);
  p = write_file("t2.npy", b, n - 3); /* inside the data */
  cr_assert_null(ax_npy_load(p, err, sizeof err));
  cr_assert(strstr(err, "truncated or corrupt"), "%s", err);
  p = write_file("t3.npy", "\x93NUMPX\x01\x00", 8);
  cr_assert_null(ax_npy_load(p, err, sizeof err));
  cr_assert(strstr(err, "not a .npy file"), "%s", err);
  unsigned char c[256];
  memcpy(c, b, n);
  memcpy(strstr((char *)c + 10, "(2, 3)"), "(9, 9)", 6); /* the shape lies */
  p = write_file("t4.npy", c, n);
  cr_assert_null(ax_npy_load(p, err, sizeof err));
  cr_assert(strstr(err, "promises 324 bytes"), "%s", err);
  cr_assert_null(ax_npy_load("/nonexistent/a.npy", err, sizeof err));
  cr_assert(strstr(err, "/nonexistent/a.npy"), "%s", err);
  cr_assert_eq(tu_error_count(), 0);
}

Test(arrays, npz_stored_and_deflated) {
  const char *files[] = {FIX "stored.npz", FIX "deflated.npz"};
  for (int i = 0; i < 2; i++) {
    char err[512] = "";
    ax_tensor *x = ax_npz_load(files[i], "x", err, sizeof err);
    ax_tensor *y = ax_npz_load(files[i], "y.npy", err, sizeof err);
    cr_assert(x && y, "%s: %s", files[i], err);
    cr_assert(x->dtype == AX_F32 && x->ndim == 2 && x->shape[0] == 4 && x->shape[1] == 3);
    cr_assert(y->dtype == AX_I64 && y->ndim == 1 && y->shape[0] == 4);
    for (int k = 0; k < 12; k++) cr_assert_eq(tu_get(x, k), k / 4.0);
    cr_assert(tu_get(y, 0) == 0 && tu_get(y, 1) == 1 && tu_get(y, 2) == 2 && tu_get(y, 3) == 1);
    cr_assert_null(ax_npz_load(files[i], "z", err, sizeof err));
    cr_assert(strstr(err, "no member 'z'") && strstr(err, "'x.npy'"), "%s", err);
  }
}

Test(arrays, npz_corrupt_is_an_error) {
  size_t n;
  unsigned char *b = read_fixture("deflated.npz", &n), c[4096];
  cr_assert_lt(n, sizeof c);
  char err[512] = "";
  const char *p = write_file("short.npz", b, n / 2); /* no end record */
  cr_assert_null(ax_npz_load(p, "x", err, sizeof err));
  cr_assert(strstr(err, "not a zip archive") && strstr(err, p), "%s", err);
  memcpy(c, b, n);
  for (size_t i = 40; i < 80; i++) c[i] ^= 0x5a; /* the first member's deflate data */
  p = write_file("flip.npz", c, n);
  cr_assert_null(ax_npz_load(p, "x", err, sizeof err));
  cr_assert(strstr(err, "corrupt") || strstr(err, "CRC"), "%s", err);
  memcpy(c, b, n);
  c[n - 6] = 0xff, c[n - 5] = 0xff, c[n - 4] = 0xff, c[n - 3] = 0x7f; /* central directory offset past the end */
  p = write_file("cd.npz", c, n);
  cr_assert_null(ax_npz_load(p, "x", err, sizeof err));
  cr_assert(strstr(err, "outside the file"), "%s", err);
  memcpy(c, b, n);
  p = write_file("zeros.npz", (char[64]){0}, 64);
  cr_assert_null(ax_npz_load(p, "x", err, sizeof err));
  cr_assert(strstr(err, "not a zip archive"), "%s", err);
  cr_assert_eq(tu_error_count(), 0);
}

static const char *csv(const char *text) { return write_file("d.csv", text, strlen(text)); }

Test(arrays, csv_with_and_without_header) {
  ax_tensor *x, *y;
  char err[512] = "";
  const char *p = csv("a,b,kind\n1.5,2,0\n\n3,\"4e1\",2\r\n");
  cr_assert_eq(ax_csv_load(p, &(ax_csv_opts){.label_col = "kind", .header = -1}, &x, &y, err, sizeof err), 0, "%s", err);
  cr_assert(x->shape[0] == 2 && x->shape[1] == 2 && y->shape[0] == 2);
  cr_assert(tu_get(x, 0) == 1.5 && tu_get(x, 1) == 2 && tu_get(x, 2) == 3 && tu_get(x, 3) == 40);
  cr_assert(tu_get(y, 0) == 0 && tu_get(y, 1) == 2);
  p = csv("0,5,6\n1,7,8\n");
  cr_assert_eq(ax_csv_load(p, &(ax_csv_opts){.label_col = "0", .header = -1}, &x, &y, err, sizeof err), 0, "%s", err);
  cr_assert(x->shape[0] == 2 && x->shape[1] == 2 && tu_get(x, 0) == 5 && tu_get(y, 1) == 1);
  cr_assert_eq(ax_csv_load(p, NULL, &x, &y, err, sizeof err), 0, "%s", err); /* the last column */
  cr_assert(tu_get(y, 0) == 6 && tu_get(y, 1) == 8);
}

Test(arrays, csv_bad_input_names_file_line_and_column) {
  ax_tensor *x, *y;
  char err[512] = "";
  const char *p = csv("a,b,c\n1,2,0\n3,4\n");
  cr_assert_eq(ax_csv_load(p, NULL, &x, &y, err, sizeof err), -1);
  cr_assert(strstr(err, p) && strstr(err, "line 3 has 2 columns") && strstr(err, "ragged"), "%s", err);
  p = csv("a,b,c\n1,2,0\n3,4,5,6\n");
  cr_assert_eq(ax_csv_load(p, NULL, &x, &y, err, sizeof err), -1);
  cr_assert(strstr(err, "line 3 has more than 3 columns"), "%s", err);
  p = csv("a,b,c\n1,2,0\n3,oops,1\n");
  cr_assert_eq(ax_csv_load(p, NULL, &x, &y, err, sizeof err), -1);
  cr_assert(strstr(err, p) && strstr(err, "line 3, column 2: 'oops' is not a number"), "%s", err);
  p = csv("a,b,c\n1,2,0.5\n");
  cr_assert_eq(ax_csv_load(p, NULL, &x, &y, err, sizeof err), -1);
  cr_assert(strstr(err, "line 2, column 3: label '0.5'"), "%s", err);
  p = csv("a,b,c\n1,2,0\n");
  cr_assert_eq(ax_csv_load(p, &(ax_csv_opts){.label_col = "kind", .header = -1}, &x, &y, err, sizeof err), -1);
  cr_assert(strstr(err, "no label column 'kind'"), "%s", err);
  p = csv("a,b,c\n");
  cr_assert_eq(ax_csv_load(p, NULL, &x, &y, err, sizeof err), -1);
  cr_assert(strstr(err, "no data rows"), "%s", err);
  p = csv("1,nan,0\n");
  cr_assert_eq(ax_csv_load(p, &(ax_csv_opts){.header = 0}, &x, &y, err, sizeof err), -1);
  cr_assert(strstr(err, "line 1, column 2: 'nan' is not a finite number"), "%s", err);
  cr_assert_eq(tu_error_count(), 0);
}

Test(arrays, dataset_from_feature_arrays_batches_and_normalizes) {
  char err[512] = "";
  ax_tensor *x = ax_npz_load(FIX "deflated.npz", "x", err, sizeof err), *y = ax_npz_load(FIX "deflated.npz", "y", err, sizeof err);
  cr_assert(x && y, "%s", err);
  ax_dataset *ds = ax_dataset_from_arrays(x, y, err, sizeof err);
  cr_assert_not_null(ds, "%s", err);
  cr_assert_eq(ax_dataset_size(ds), 4);
  cr_assert_eq(ax_dataset_num_classes(ds), 3);
  cr_assert_null(ax_dataset_images(ds));
  float m[3], s[3];
  cr_assert_eq(ax_dataset_channel_stats(ds, NULL, 4, m, s), 0);
  for (int f = 0; f < 3; f++) { /* feature f holds (f, f+3, f+6, f+9) / 4 */
    cr_assert_float_eq(m[f], (f + 4.5) / 4, 1e-6);
    cr_assert_float_eq(s[f], sqrt(11.25) / 4, 1e-6);
  }
  ax_loader *ld = ax_loader_new(ds, &(ax_loader_opts){.batch_size = 3, .mean = m, .std = s, .n_channels = 3}, err, sizeof err);
  cr_assert_not_null(ld, "%s", err);
  ax_tensor *bx, *by;
  cr_assert_eq(ax_loader_next(ld, &bx, &by), 1);
  cr_assert(bx->ndim == 2 && bx->shape[0] == 3 && bx->shape[1] == 3);
  cr_assert_float_eq(tu_get(bx, 4), (4 / 4.0 - m[1]) / s[1], 1e-6);
  cr_assert_eq(tu_get(by, 2), 2);
  cr_assert_eq(ax_loader_next(ld, &bx, &by), 1);
  cr_assert_eq(bx->shape[0], 1);
  cr_assert_eq(ax_loader_next(ld, &bx, &by), 0);
  ax_loader_free(ld);
  cr_assert_null(ax_loader_new(ds, &(ax_loader_opts){.batch_size = 3, .hflip = true}, err, sizeof err));
  cr_assert(strstr(err, "u8 image datasets only"), "%s", err);
  ax_dataset_free(ds);
}

static int get_sample(int64_t i, float *x, int64_t *label, void *ud) {
  if (i == *(int64_t *)ud) return -1;
  for (int k = 0; k < 6; k++) x[k] = (float)(i * 10 + k);
  *label = i % 2;
  return 0;
}

Test(arrays, callback_dataset) {
  char err[512] = "";
  int64_t bad = -1;
  ax_dataset *ds = ax_dataset_from_callback(5, 2, (int64_t[]){2, 3}, 2, get_sample, &bad, err, sizeof err);
  cr_assert_not_null(ds, "%s", err);
  for (int prefetch = 0; prefetch < 2; prefetch++) {
    ax_loader *ld = ax_loader_new(ds, &(ax_loader_opts){.batch_size = 2, .prefetch = prefetch}, err, sizeof err);
    ax_tensor *bx, *by;
    cr_assert_eq(ax_loader_next(ld, &bx, &by), 1);
    cr_assert(bx->ndim == 3 && bx->shape[0] == 2 && bx->shape[1] == 2 && bx->shape[2] == 3);
    cr_assert(tu_get(bx, 6) == 10 && tu_get(bx, 11) == 15 && tu_get(by, 1) == 1);
    ax_loader_free(ld);
  }
  bad = 3; /* get fails on sample 3: the batch holding it is an error */
  ax_loader *ld = ax_loader_new(ds, &(ax_loader_opts){.batch_size = 2}, err, sizeof err);
  ax_tensor *bx, *by;
  cr_assert_eq(ax_loader_next(ld, &bx, &by), 1);
  cr_assert_eq(ax_loader_next(ld, &bx, &by), -1);
  ax_loader_free(ld);
  ax_dataset_free(ds);
  cr_assert_null(ax_dataset_from_callback(0, 1, (int64_t[]){3}, 2, get_sample, NULL, err, sizeof err));
  cr_assert(strstr(err, "needs n >= 1"), "%s", err);
}

/* ---- transforms ---- */

static float img[3 * 8 * 8];

static void fill_img(void) {
  for (int i = 0; i < 3 * 64; i++) img[i] = (float)((i * 7) % 23) / 23.0f;
}

Test(arrays, transforms_identities_and_determinism) {
  fill_img();
  float out[3 * 64], out2[3 * 64];
  /* no rotation, the whole image resized to its own size, factors of 1, no noise: the identity */
  ax_transform *id[] = {ax_transform_rotation(0), ax_transform_random_resized_crop(8, 8, 1, 1, 1, 1),
                        ax_transform_color_jitter(0, 0, 0), ax_transform_gaussian_noise(0)};
  for (int k = 0; k < 4; k++) {
    cr_assert_not_null(id[k]);
    cr_assert_eq(ax_transform_apply(id[k], img, 3, 8, 8, out, 1, 0, 5), 0);
    for (int i = 0; i < 3 * 64; i++) cr_assert_float_eq(out[i], img[i], 1e-5, "transform %d, element %d", k, i);
    ax_transform_free(id[k]);
  }
  float m[3] = {0.5f, 0.25f, 0}, s[3] = {2, 4, 1};
  ax_transform *n = ax_transform_normalize(3, m, s);
  cr_assert_eq(ax_transform_apply(n, img, 3, 8, 8, out, 0, 0, 0), 0);
  cr_assert_float_eq(out[64 + 5], (img[64 + 5] - 0.25f) / 4, 1e-7);
  ax_transform_free(n);
  /* random ones: a pure function of (seed, epoch, sample) */
  ax_transform *parts[] = {ax_transform_rotation(30), ax_transform_color_jitter(0.4f, 0.4f, 0.4f),
                           ax_transform_gaussian_noise(0.1f)};
  ax_transform *c = ax_transform_compose(parts, 3);
  cr_assert_not_null(c);
  cr_assert_eq(ax_transform_apply(c, img, 3, 8, 8, out, 7, 2, 11), 0);
  cr_assert_eq(ax_transform_apply(c, img, 3, 8, 8, out2, 7, 2, 11), 0);
  cr_assert_arr_eq(out, out2, sizeof out);
  cr_assert_eq(ax_transform_apply(c, img, 3, 8, 8, out2, 7, 3, 11), 0); /* another epoch */
  cr_assert(memcmp(out, out2, sizeof out) != 0);
  cr_assert_eq(ax_transform_apply(c, img, 3, 8, 8, out2, 8, 2, 11), 0); /* another seed */
  cr_assert(memcmp(out, out2, sizeof out) != 0);
  ax_transform_free(c);
}

Test(arrays, transforms_shapes_noise_and_bad_arguments) {
  char err[256] = "";
  int oc, oh, ow;
  ax_transform *parts[] = {ax_transform_random_resized_crop(4, 6, 0.08f, 1, 0.75f, 1.3333f), ax_transform_gaussian_noise(1)};
  ax_transform *c = ax_transform_compose(parts, 2);
  cr_assert_eq(ax_transform_out_shape(c, 3, 8, 8, &oc, &oh, &ow, err, sizeof err), 0, "%s", err);
  cr_assert(oc == 3 && oh == 4 && ow == 6);
  ax_transform_free(c);
  ax_transform *j = ax_transform_color_jitter(0.1f, 0.1f, 0.1f);
  cr_assert_eq(ax_transform_out_shape(j, 1, 8, 8, &oc, &oh, &ow, err, sizeof err), -1);
  cr_assert(strstr(err, "3-channel"), "%s", err);
  ax_transform_free(j);
  cr_assert_null(ax_transform_rotation(200));
  cr_assert_null(ax_transform_color_jitter(1.5f, 0, 0));
  cr_assert_null(ax_transform_random_resized_crop(0, 4, 0.1f, 1, 1, 1));
  cr_assert_null(ax_transform_normalize(1, (float[]){0}, (float[]){0}));
  cr_assert_null(ax_transform_compose((ax_transform *[]){ax_transform_gaussian_noise(1), NULL}, 2)); /* frees the first */
  /* Gaussian noise: mean 0 and std sigma over 20000 draws */
  static float zero[20000], out[20000];
  ax_transform *g = ax_transform_gaussian_noise(0.5f);
  cr_assert_eq(ax_transform_apply(g, zero, 1, 100, 200, out, 3, 0, 1), 0);
  double sum = 0, sq = 0;
  for (int i = 0; i < 20000; i++) sum += out[i], sq += (double)out[i] * out[i];
  double mean = sum / 20000, sd = sqrt(sq / 20000 - mean * mean);
  cr_assert_lt(fabs(mean), 0.02, "mean %g", mean);
  cr_assert_lt(fabs(sd - 0.5), 0.02, "std %g", sd);
  ax_transform_free(g);
}

/* The loader applies the transform after its own normalization: the batch's shape follows
 * it, and the bytes are the same with and without prefetch. */
Test(arrays, loader_applies_a_transform_deterministically) {
  char err[512] = "";
  unsigned char px[6 * 3 * 8 * 8];
  for (size_t i = 0; i < sizeof px; i++) px[i] = (unsigned char)(i * 31);
  ax_tensor *x = ax_from_data(px, AX_SHAPE(6, 3, 8, 8), &(ax_tensor_opts){.dtype = AX_U8});
  ax_tensor *y = ax_from_data((int64_t[]){0, 1, 0, 1, 0, 1}, AX_SHAPE(6), &(ax_tensor_opts){.dtype = AX_I64});
  ax_dataset *ds = ax_dataset_from_arrays(x, y, err, sizeof err);
  cr_assert_not_null(ds, "%s", err);
  ax_transform *parts[] = {ax_transform_random_resized_crop(5, 5, 0.3f, 1, 0.75f, 1.3333f), ax_transform_rotation(20),
                           ax_transform_color_jitter(0.2f, 0.2f, 0.2f)};
  ax_transform *t = ax_transform_compose(parts, 3);
  float got[2][6 * 75];
  for (int pf = 0; pf < 2; pf++) {
    ax_loader *ld = ax_loader_new(ds, &(ax_loader_opts){.batch_size = 6, .shuffle = true, .seed = 4, .prefetch = pf,
                                                        .hflip = true, .transform = t}, err, sizeof err);
    cr_assert_not_null(ld, "%s", err);
    ax_loader_start_epoch(ld, 1);
    ax_tensor *bx, *by;
    cr_assert_eq(ax_loader_next(ld, &bx, &by), 1);
    cr_assert(bx->ndim == 4 && bx->shape[1] == 3 && bx->shape[2] == 5 && bx->shape[3] == 5);
    memcpy(got[pf], ax_data_ptr(bx), sizeof got[pf]);
    ax_loader_free(ld);
  }
  cr_assert_arr_eq(got[0], got[1], sizeof got[0]);
  ax_transform *bad = ax_transform_normalize(1, (float[]){0}, (float[]){1});
  cr_assert_null(ax_loader_new(ds, &(ax_loader_opts){.batch_size = 2, .transform = bad}, err, sizeof err));
  cr_assert(strstr(err, "1 channels given, the samples have 3"), "%s", err);
  ax_transform_free(bad);
  ax_transform_free(t);
  ax_dataset_free(ds);
}
