/* SPDX-License-Identifier: BSD-3-Clause */
/* nn/data: IDX files (every element type, gzipped or not, and every kind of
 * bad file), MNIST-style datasets, splits, channel statistics and the loader
 * (batching, shuffling, augmentation, normalization, prefetch determinism,
 * checkpoint resume). Files are written into a fresh temporary folder. */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef AXON_HAVE_ZLIB
#include <zlib.h>
#endif

#include "testutil.h"

static char dir[64];
static char err[1024];

static void setup(void) {
  tu_capture_errors();
  snprintf(dir, sizeof dir, "/tmp/axon_data_XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  err[0] = 0;
  ax_scope_begin();
}

static void teardown(void) {
  ax_scope_end();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(data, .init = setup, .fini = teardown);

static const char *path_in(const char *name) {
  static char p[4][256];
  static int next;
  char *s = p[next++ % 4];
  snprintf(s, 256, "%s/%s", dir, name);
  return s;
}

static void write_bytes(const char *path, const void *data, size_t n, bool gz) {
  if (gz) {
#ifdef AXON_HAVE_ZLIB
    gzFile f = gzopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(gzwrite(f, data, (unsigned)n), (int)n);
    cr_assert_eq(gzclose(f), Z_OK);
    return;
#else
    cr_skip_test("built without zlib");
#endif
  }
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  cr_assert_eq(fwrite(data, 1, n, f), n);
  fclose(f);
}

static long file_size(const char *path) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fclose(f);
  return n;
}

static void truncate_to(const char *path, long n) { cr_assert_eq(truncate(path, n), 0); }

/* An IDX file: header for `type` and dims, then `payload` (already big-endian). */
static void write_idx(const char *path, int type, int ndim, const uint32_t *dims, const void *payload, size_t nbytes,
                      bool gz) {
  unsigned char *buf = malloc(4 + 4 * (size_t)ndim + nbytes);
  buf[0] = 0;
  buf[1] = 0;
  buf[2] = (unsigned char)type;
  buf[3] = (unsigned char)ndim;
  for (int i = 0; i < ndim; i++)
    for (int b = 0; b < 4; b++) buf[4 + 4 * i + b] = (unsigned char)(dims[i] >> (24 - 8 * b));
  memcpy(buf + 4 + 4 * ndim, payload, nbytes);
  write_bytes(path, buf, 4 + 4 * (size_t)ndim + nbytes, gz);
  free(buf);
}

/* ---- IDX ---- */

static void check_u8_file(bool gz) {
  const char *p = path_in(gz ? "a.idx.gz" : "a.idx");
  uint8_t px[12] = {0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255};
  write_idx(p, 0x08, 3, (uint32_t[]){3, 2, 2}, px, 12, gz);
  ax_tensor *t = ax_idx_load(p, err, sizeof err);
  cr_assert_not_null(t, "%s", err);
  cr_assert_eq(t->dtype, AX_U8);
  cr_assert_eq(t->ndim, 3);
  cr_assert(t->shape[0] == 3 && t->shape[1] == 2 && t->shape[2] == 2);
  cr_assert_eq(memcmp(ax_data_ptr(t), px, 12), 0);
}

Test(data, idx_u8_plain) { check_u8_file(false); }
Test(data, idx_u8_gzip) { check_u8_file(true); }

Test(data, idx_other_types_big_endian) {
  const char *p = path_in("t.idx");
  /* i8: -1, 2 */
  write_idx(p, 0x09, 1, (uint32_t[]){2}, (uint8_t[]){0xff, 0x02}, 2, false);
  ax_tensor *t = ax_idx_load(p, err, sizeof err);
  cr_assert_not_null(t, "%s", err);
  cr_assert_eq(t->dtype, AX_I32);
  cr_assert(tu_allclose_data(t, (double[]){-1, 2}, 2, 0, 0));
  /* i16: -2, 258 */
  write_idx(p, 0x0B, 1, (uint32_t[]){2}, (uint8_t[]){0xff, 0xfe, 0x01, 0x02}, 4, false);
  t = ax_idx_load(p, err, sizeof err);
  cr_assert_not_null(t, "%s", err);
  cr_assert(tu_allclose_data(t, (double[]){-2, 258}, 2, 0, 0));
  /* i32: 16909060, -3 */
  write_idx(p, 0x0C, 1, (uint32_t[]){2}, (uint8_t[]){1, 2, 3, 4, 0xff, 0xff, 0xff, 0xfd}, 8, false);
  t = ax_idx_load(p, err, sizeof err);
  cr_assert_not_null(t, "%s", err);
  cr_assert_eq(t->dtype, AX_I32);
  cr_assert(tu_allclose_data(t, (double[]){16909060, -3}, 2, 0, 0));
  /* f32: 1.5 (0x3fc00000), -2 (0xc0000000), as [2, 1] */
  write_idx(p, 0x0D, 2, (uint32_t[]){2, 1}, (uint8_t[]){0x3f, 0xc0, 0, 0, 0xc0, 0, 0, 0}, 8, false);
  t = ax_idx_load(p, err, sizeof err);
  cr_assert_not_null(t, "%s", err);
  cr_assert_eq(t->dtype, AX_F32);
  cr_assert_eq(t->ndim, 2);
  cr_assert(tu_allclose_data(t, (double[]){1.5, -2}, 2, 0, 0));
  /* f64: 0.1 (0x3fb999999999999a) */
  write_idx(p, 0x0E, 1, (uint32_t[]){1}, (uint8_t[]){0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a}, 8, false);
  t = ax_idx_load(p, err, sizeof err);
  cr_assert_not_null(t, "%s", err);
  cr_assert_eq(t->dtype, AX_F64);
  cr_assert_eq(tu_get(t, 0), 0.1);
}

Test(data, idx_empty_dimension_is_fine) {
  const char *p = path_in("e.idx");
  write_idx(p, 0x08, 2, (uint32_t[]){0, 28}, "", 0, false);
  ax_tensor *t = ax_idx_load(p, err, sizeof err);
  cr_assert_not_null(t, "%s", err);
  cr_assert_eq(ax_numel(t), 0);
}

/* The load fails, names the file and says `why`. */
static void expect_bad(const char *p, const char *why) {
  err[0] = 0;
  cr_assert_null(ax_idx_load(p, err, sizeof err), "%s loaded", p);
  cr_log_info("%s", err);
  cr_assert(strstr(err, p) != NULL, "message '%s' does not name %s", err, p);
  if (why) cr_assert(strstr(err, why) != NULL, "message '%s' does not say '%s'", err, why);
  cr_assert_eq(tu_error_count(), 0, "a bad file is not a programming error");
}

Test(data, idx_bad_files) {
  uint8_t px[24] = {0};
  expect_bad(path_in("missing.idx"), "No such file");
  const char *p = path_in("bad.idx");
  write_bytes(p, "", 0, false);
  expect_bad(p, "not an IDX file");
  write_bytes(p, "\x12\x34\x56\x78\0\0\0\1\0", 9, false);
  expect_bad(p, "bad magic");
  write_idx(p, 0x0A, 1, (uint32_t[]){1}, px, 1, false); /* 0x0A is no IDX type */
  expect_bad(p, "bad magic");
  write_bytes(p, "\0\0\x08\0", 4, false); /* 0 dims */
  expect_bad(p, "0 dims");
  write_bytes(p, "\0\0\x08\x09", 4, false); /* 9 dims */
  expect_bad(p, "9 dims");
  write_bytes(p, "\0\0\x08\x03\0\0\0\x02\0\0", 10, false);
  expect_bad(p, "truncated header");
  write_idx(p, 0x08, 2, (uint32_t[]){3, 8}, px, 23, false);
  expect_bad(p, "truncated");
  write_idx(p, 0x08, 2, (uint32_t[]){2, 8}, px, 24, false);
  expect_bad(p, "trailing data");
  write_idx(p, 0x0E, 2, (uint32_t[]){1, 3}, px, 20, false); /* f64 needs 24 */
  expect_bad(p, "need 24 bytes");
  write_idx(p, 0x08, 4, (uint32_t[]){0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, px, 24, false);
  expect_bad(p, "overflow");
  write_idx(p, 0x0E, 2, (uint32_t[]){0x10000000u, 0x10000000u}, px, 24, false);
  expect_bad(p, "overflow");
}

Test(data, idx_bad_gzip_files) {
#ifndef AXON_HAVE_ZLIB
  cr_skip_test("built without zlib");
#endif
  uint8_t px[4096];
  for (int i = 0; i < 4096; i++) px[i] = (uint8_t)(i * 7 + i / 13);
  const char *p = path_in("bad.idx.gz");
  /* a header that claims far more than the stream holds must not be trusted */
  write_idx(p, 0x08, 3, (uint32_t[]){60000, 28, 28}, px, 4096, true);
  expect_bad(p, "truncated");
  write_idx(p, 0x08, 2, (uint32_t[]){4, 1000}, px, 4096, true);
  expect_bad(p, "trailing data");
  write_idx(p, 0x08, 2, (uint32_t[]){4, 1024}, px, 4096, true);
  cr_assert_not_null(ax_idx_load(p, err, sizeof err), "%s", err);
  long n = file_size(p);
  /* a cut-off stream */
  truncate_to(p, n - 20);
  expect_bad(p, NULL);
  truncate_to(p, 12);
  expect_bad(p, NULL);
  /* a corrupted stream: flip bytes inside the deflate data (CRC or data error) */
  write_idx(p, 0x08, 2, (uint32_t[]){4, 1024}, px, 4096, true);
  FILE *f = fopen(p, "r+b");
  unsigned char b[16];
  fseek(f, n / 2, SEEK_SET);
  cr_assert_eq(fread(b, 1, 16, f), 16);
  for (int i = 0; i < 16; i++) b[i] ^= 0x5a;
  fseek(f, n / 2, SEEK_SET);
  fwrite(b, 1, 16, f);
  fclose(f);
  expect_bad(p, "gzip error");
  /* just the gzip magic */
  write_bytes(p, "\x1f\x8b", 2, false);
  expect_bad(p, NULL);
}

/* A gzip bomb: a few hundred bytes that claim gigabytes stop at the header, with the
 * largest size the compressed file can inflate to (deflate expands at most 1032:1). */
Test(data, idx_gzip_claiming_gigabytes_is_refused_from_its_header) {
#ifndef AXON_HAVE_ZLIB
  cr_skip_test("built without zlib");
#endif
  static uint8_t zeros[1 << 16];
  const char *p = path_in("bomb.idx.gz");
  write_idx(p, 0x08, 3, (uint32_t[]){1000000, 60, 50}, zeros, sizeof zeros, true); /* claims 3 GB */
  long n = file_size(p);
  cr_assert(n < 1000, "the bomb is %ld bytes", n);
  expect_bad(p, "truncated");
  cr_assert(strstr(err, "3000000000 bytes") && strstr(err, "inflates to at most"), "%s", err);
  /* over the 4 GiB cap, however it is compressed */
  write_idx(p, 0x08, 3, (uint32_t[]){4000000, 40, 40}, zeros, 16, true);
  expect_bad(p, "more than 4294967296 bytes");
}

/* The images' and labels' counts come from the headers, before either body is read: a
 * label file that disagrees stops the load even when the image data is a bomb. */
Test(data, mnist_like_counts_are_checked_from_the_headers) {
#ifndef AXON_HAVE_ZLIB
  cr_skip_test("built without zlib");
#endif
  static uint8_t zeros[1 << 16], noise[1 << 16];
  uint32_t x = 1;
  for (size_t i = 0; i < sizeof noise; i++) noise[i] = (uint8_t)((x = x * 1664525u + 1013904223u) >> 24);
  /* images claim 1000 x 28 x 28 but hold 64 KB (of noise, which gzip cannot shrink, so the
   * claim is plausible from the file's size): reading the body would say "truncated" */
  write_idx(path_in("train-images-idx3-ubyte.gz"), 0x08, 3, (uint32_t[]){1000, 28, 28}, noise, sizeof noise, true);
  write_idx(path_in("train-labels-idx1-ubyte.gz"), 0x08, 1, (uint32_t[]){999}, zeros, 999, true);
  cr_assert_null(ax_mnist_like_load(dir, "mnist", true, err, sizeof err));
  cr_assert(strstr(err, "labels [1000]") && strstr(err, "[999]") && strstr(err, "from the headers"), "%s", err);
  /* labels of another type: also from the header */
  write_idx(path_in("train-labels-idx1-ubyte.gz"), 0x0C, 1, (uint32_t[]){1000}, zeros, 4000, true);
  cr_assert_null(ax_mnist_like_load(dir, "mnist", true, err, sizeof err));
  cr_assert(strstr(err, "i32 [1000]"), "%s", err);
}

/* ---- MNIST-style datasets ---- */

#define H 5
#define W 4

/* n images whose pixel k of image i is (i * 31 + k * 3) % 256, labels i % 10. */
static void write_mnist(const char *split, int n, bool gz, int n_labels) {
  uint8_t *px = malloc((size_t)n * H * W), lab[64];
  for (int i = 0; i < n * H * W; i++) px[i] = (uint8_t)((i / (H * W)) * 31 + (i % (H * W)) * 3);
  for (int i = 0; i < n_labels; i++) lab[i] = (uint8_t)(i % 10);
  char name[64];
  snprintf(name, sizeof name, "%s-images-idx3-ubyte%s", split, gz ? ".gz" : "");
  write_idx(path_in(name), 0x08, 3, (uint32_t[]){n, H, W}, px, (size_t)n * H * W, gz);
  snprintf(name, sizeof name, "%s-labels-idx1-ubyte%s", split, gz ? ".gz" : "");
  write_idx(path_in(name), 0x08, 1, (uint32_t[]){n_labels}, lab, (size_t)n_labels, gz);
  free(px);
}

static uint8_t pixel(int i, int k) { return (uint8_t)(i * 31 + k * 3); }

Test(data, mnist_like_load) {
  write_mnist("train", 12, true, 12);
  write_mnist("t10k", 3, false, 3);
  ax_dataset *tr = ax_mnist_like_load(dir, "fashion-mnist", true, err, sizeof err);
  cr_assert_not_null(tr, "%s", err);
  ax_dataset *te = ax_mnist_like_load(dir, "fashion-mnist", false, err, sizeof err);
  cr_assert_not_null(te, "%s", err);
  cr_assert_eq(ax_dataset_size(tr), 12);
  cr_assert_eq(ax_dataset_size(te), 3);
  cr_assert_eq(ax_dataset_num_classes(tr), 10);
  ax_tensor *img = ax_dataset_images(tr), *lab = ax_dataset_labels(tr);
  cr_assert(img->dtype == AX_U8 && img->ndim == 4 && img->shape[1] == 1 && img->shape[2] == H && img->shape[3] == W);
  cr_assert(lab->dtype == AX_I64 && lab->shape[0] == 12);
  cr_assert_eq(((uint8_t *)ax_data_ptr(img))[7 * H * W + 5], pixel(7, 5));
  cr_assert_eq(((int64_t *)ax_data_ptr(lab))[11], 1);
  ax_dataset_free(tr);
  ax_dataset_free(te);
}

Test(data, mnist_like_missing_and_mismatched) {
  cr_assert_null(ax_mnist_like_load(dir, "fashion-mnist", true, err, sizeof err));
  cr_assert(strstr(err, "fashion-mnist not found in") && strstr(err, dir), "%s", err);
  cr_assert(strstr(err, "apt-get install dataset-fashion-mnist") && strstr(err, "--data-dir"), "%s", err);
  cr_assert(strstr(err, "train-images-idx3-ubyte.gz"), "%s", err);
  cr_assert_null(ax_mnist_like_load(dir, "mnist", false, err, sizeof err));
  cr_assert(strstr(err, "mnist not found in") && strstr(err, "--data-dir"), "%s", err);
  write_mnist("train", 4, false, 3);
  cr_assert_null(ax_mnist_like_load(dir, "mnist", true, err, sizeof err));
  cr_assert(strstr(err, "train-labels-idx1-ubyte") && strstr(err, "[4]"), "%s", err);
  cr_assert_eq(tu_error_count(), 0);
}

Test(data, real_fashion_mnist_test_set) {
  const char *d = "/usr/share/datasets/fashion-mnist";
  if (access("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", R_OK) != 0)
    cr_skip_test("dataset-fashion-mnist is not installed");
  ax_dataset *ds = ax_mnist_like_load(d, "fashion-mnist", false, err, sizeof err);
  cr_assert_not_null(ds, "%s", err);
  cr_assert_eq(ax_dataset_size(ds), 10000);
  ax_tensor *img = ax_dataset_images(ds);
  cr_assert(img->shape[1] == 1 && img->shape[2] == 28 && img->shape[3] == 28);
  int64_t *lab = ax_data_ptr(ax_dataset_labels(ds));
  cr_assert_eq(lab[0], 9); /* the first test image is an ankle boot */
  cr_assert_eq(ax_dataset_num_classes(ds), 10);
  float m, s;
  cr_assert_eq(ax_dataset_channel_stats(ds, NULL, 10000, &m, &s), 0);
  cr_assert(fabsf(m - 0.2868f) < 2e-3f && fabsf(s - 0.3524f) < 2e-3f, "mean %g std %g", m, s);
  ax_dataset_free(ds);
}

/* A synthetic dataset: n images [c, h, w], pixel k of image i = (i * 31 + k * 3) % 256, label i % 10. */
static ax_dataset *make_ds(int64_t n, int c, int h, int w) {
  int64_t per = (int64_t)c * h * w;
  uint8_t *px = malloc((size_t)(n * per));
  int64_t *lab = malloc((size_t)n * sizeof *lab);
  for (int64_t i = 0; i < n; i++) {
    lab[i] = i % 10;
    for (int64_t k = 0; k < per; k++) px[i * per + k] = pixel((int)i, (int)k);
  }
  ax_tensor *img = ax_from_data(px, AX_SHAPE(n, c, h, w), &(ax_tensor_opts){.dtype = AX_U8});
  ax_tensor *lt = ax_from_data(lab, AX_SHAPE(n), &(ax_tensor_opts){.dtype = AX_I64});
  ax_dataset *ds = ax_dataset_new(img, lt, err, sizeof err);
  cr_assert_not_null(ds, "%s", err);
  free(px);
  free(lab);
  return ds;
}

Test(data, dataset_new_checks) {
  ax_tensor *img = ax_zeros(AX_SHAPE(4, 3, 3), &(ax_tensor_opts){.dtype = AX_U8});
  ax_tensor *lab = ax_zeros(AX_SHAPE(4), &(ax_tensor_opts){.dtype = AX_I32});
  ax_dataset *ds = ax_dataset_new(img, lab, err, sizeof err);
  cr_assert_not_null(ds, "%s", err); /* [N, H, W] means one channel */
  cr_assert_eq(ax_dataset_images(ds)->shape[1], 1);
  ax_dataset_free(ds);
  cr_assert_null(ax_dataset_new(ax_zeros(AX_SHAPE(4, 3, 3), NULL), lab, err, sizeof err));
  cr_assert(strstr(err, "u8") && strstr(err, "[4, 3, 3]"), "%s", err);
  cr_assert_null(ax_dataset_new(img, ax_zeros(AX_SHAPE(5), &(ax_tensor_opts){.dtype = AX_I64}), err, sizeof err));
  cr_assert(strstr(err, "[5]") && strstr(err, "[4, 3, 3]"), "%s", err);
  cr_assert_null(ax_dataset_new(img, ax_full(AX_SHAPE(4), -1, &(ax_tensor_opts){.dtype = AX_I64}), err, sizeof err));
  cr_assert(strstr(err, "negative"), "%s", err);
}

/* ---- split and statistics ---- */

Test(data, split_is_a_deterministic_partition) {
  enum { N = 103, V = 17 };
  int64_t tr[N], va[V], tr2[N], va2[V], tr3[N], va3[V];
  cr_assert_eq(ax_dataset_split(N, V, 42, tr, va), 0);
  cr_assert_eq(ax_dataset_split(N, V, 42, tr2, va2), 0);
  cr_assert_eq(ax_dataset_split(N, V, 43, tr3, va3), 0);
  cr_assert_eq(memcmp(tr, tr2, (N - V) * sizeof *tr), 0);
  cr_assert_eq(memcmp(va, va2, sizeof va), 0);
  cr_assert_neq(memcmp(va, va3, sizeof va), 0);
  int seen[N] = {0};
  for (int i = 0; i < N - V; i++) seen[tr[i]]++;
  for (int i = 0; i < V; i++) seen[va[i]]++;
  for (int i = 0; i < N; i++) cr_assert_eq(seen[i], 1);
  for (int i = 1; i < N - V; i++) cr_assert_lt(tr[i - 1], tr[i]);
  for (int i = 1; i < V; i++) cr_assert_lt(va[i - 1], va[i]);
  /* not simply the last V samples */
  cr_assert_neq(va[0], N - V);
  cr_assert_eq(ax_dataset_split(N, N + 1, 1, tr, va), -1);
  cr_assert_eq(ax_dataset_split(N, -1, 1, tr, va), -1);
  cr_assert_eq(ax_dataset_split(N, 0, 1, tr, NULL), 0);
  for (int i = 0; i < N; i++) cr_assert_eq(tr[i], i);
}

Test(data, channel_stats_known_values) {
  /* two images [2 channels, 1, 2]: channel 0 = {0, 255}, {255, 255}; channel 1 = {51, 51}, {102, 102} */
  uint8_t px[8] = {0, 255, 51, 51, 255, 255, 102, 102};
  ax_tensor *img = ax_from_data(px, AX_SHAPE(2, 2, 1, 2), &(ax_tensor_opts){.dtype = AX_U8});
  ax_tensor *lab = ax_zeros(AX_SHAPE(2), &(ax_tensor_opts){.dtype = AX_I64});
  ax_dataset *ds = ax_dataset_new(img, lab, err, sizeof err);
  cr_assert_not_null(ds, "%s", err);
  float m[2], s[2];
  cr_assert_eq(ax_dataset_channel_stats(ds, NULL, 2, m, s), 0);
  cr_assert_float_eq(m[0], 0.75f, 1e-6);
  cr_assert_float_eq(s[0], sqrtf(0.1875f), 1e-6);
  cr_assert_float_eq(m[1], 0.3f, 1e-6);
  cr_assert_float_eq(s[1], 0.1f, 1e-6);
  cr_assert_eq(ax_dataset_channel_stats(ds, (int64_t[]){1}, 1, m, s), 0);
  cr_assert_float_eq(m[0], 1.0f, 1e-6);
  cr_assert_float_eq(s[0], 0.0f, 1e-6);
  cr_assert_float_eq(m[1], 0.4f, 1e-6);
  cr_assert_eq(ax_dataset_channel_stats(ds, (int64_t[]){2}, 1, m, s), -1);
  cr_assert_eq(ax_dataset_channel_stats(ds, NULL, 3, m, s), -1);
  ax_dataset_free(ds);
}

/* ---- loader ---- */

/* Every batch of `epochs` epochs, concatenated (x values and labels), from a fresh start. */
typedef struct run {
  float *x;
  int64_t *y;
  int64_t nx, ny;
} run;

static void record(ax_loader *ld, run *r, int64_t max_x, int64_t max_y) {
  ax_tensor *x, *y;
  for (;;) {
    ax_scope_begin();
    int rc = ax_loader_next(ld, &x, &y);
    if (rc != 1) {
      ax_scope_end();
      cr_assert_eq(rc, 0);
      break;
    }
    cr_assert_eq(x->dtype, AX_F32);
    cr_assert_eq(y->dtype, AX_I64);
    cr_assert_eq(x->shape[0], y->shape[0]);
    cr_assert_leq(r->nx + ax_numel(x), max_x);
    cr_assert_leq(r->ny + ax_numel(y), max_y);
    ax_to_data(x, r->x + r->nx, ax_nbytes(x));
    ax_to_data(y, r->y + r->ny, ax_nbytes(y));
    r->nx += ax_numel(x);
    r->ny += ax_numel(y);
    ax_scope_end();
  }
}

static run record_epochs(const ax_dataset *ds, const ax_loader_opts *o, int first, int epochs) {
  int64_t per = ax_numel(ax_dataset_images(ds)) / ax_dataset_size(ds), n = ax_dataset_size(ds) * epochs;
  run r = {malloc((size_t)(n * per) * sizeof(float)), malloc((size_t)n * sizeof(int64_t)), 0, 0};
  ax_loader *ld = ax_loader_new(ds, o, err, sizeof err);
  cr_assert_not_null(ld, "%s", err);
  for (int e = first; e < first + epochs; e++) {
    ax_loader_start_epoch(ld, e);
    record(ld, &r, n * per, n);
  }
  ax_loader_free(ld);
  return r;
}

static void run_free(run *r) {
  free(r->x);
  free(r->y);
}

Test(data, loader_batches_in_order_normalized) {
  ax_dataset *ds = make_ds(10, 1, H, W);
  float mean = 0.25f, std = 0.5f;
  ax_loader *ld = ax_loader_new(ds, &(ax_loader_opts){.batch_size = 4, .mean = &mean, .std = &std, .n_channels = 1},
                                err, sizeof err);
  cr_assert_not_null(ld, "%s", err);
  cr_assert_eq(ax_loader_num_batches(ld), 3);
  ax_tensor *x, *y;
  int64_t sizes[3] = {4, 4, 2}, seen = 0;
  for (int b = 0; b < 3; b++) {
    cr_assert_eq(ax_loader_next(ld, &x, &y), 1);
    cr_assert(x->ndim == 4 && x->shape[0] == sizes[b] && x->shape[1] == 1 && x->shape[2] == H && x->shape[3] == W);
    cr_assert(y->ndim == 1 && y->shape[0] == sizes[b]);
    for (int64_t i = 0; i < sizes[b]; i++, seen++) {
      cr_assert_eq((int64_t)tu_get(y, i), seen % 10);
      for (int k = 0; k < H * W; k++) {
        double want = ((double)pixel((int)seen, k) / 255.0 - 0.25) / 0.5;
        cr_assert(fabs(tu_get(x, i * H * W + k) - want) < 1e-6, "sample %lld pixel %d", (long long)seen, k);
      }
    }
    ax_loader_state st = ax_loader_get_state(ld);
    cr_assert(st.epoch == 0 && st.batch == b + 1);
  }
  cr_assert_eq(ax_loader_next(ld, &x, &y), 0);
  cr_assert_eq(ax_loader_next(ld, &x, &y), 0);
  cr_assert_null(x);
  ax_loader_free(ld);

  ld = ax_loader_new(ds, &(ax_loader_opts){.batch_size = 4, .drop_last = true}, err, sizeof err);
  cr_assert_eq(ax_loader_num_batches(ld), 2);
  cr_assert_eq(ax_loader_set_state(ld, 0, 3), -1);
  ax_loader_free(ld);
  ax_dataset_free(ds);
}

Test(data, loader_shuffle_is_a_seeded_permutation_per_epoch) {
  ax_dataset *ds = make_ds(40, 1, 2, 2);
  int64_t subset[25];
  for (int i = 0; i < 25; i++) subset[i] = 39 - i; /* samples 15..39 */
  ax_loader_opts o = {.batch_size = 7, .shuffle = true, .seed = 9, .indices = subset, .n_indices = 25};
  run a = record_epochs(ds, &o, 0, 3), b = record_epochs(ds, &o, 0, 3);
  cr_assert_eq(a.ny, 75);
  cr_assert_eq(memcmp(a.x, b.x, (size_t)a.nx * sizeof(float)), 0, "same seed, same batches");
  /* each epoch visits exactly the subset; identify samples by their first pixel */
  for (int e = 0; e < 3; e++) {
    int seen[40] = {0};
    for (int i = 0; i < 25; i++) {
      float v = a.x[(e * 25 + i) * 4];
      int id = -1;
      for (int s = 0; s < 40; s++)
        if (fabsf(v - pixel(s, 0) / 255.0f) < 1e-6f) id = s;
      cr_assert(id >= 15, "epoch %d position %d: sample %d is not in the subset", e, i, id);
      seen[id]++;
      cr_assert_eq(a.y[e * 25 + i], id % 10);
    }
    for (int s = 15; s < 40; s++) cr_assert_eq(seen[s], 1);
  }
  cr_assert_neq(memcmp(a.y, a.y + 25, 25 * sizeof(int64_t)), 0, "epochs 0 and 1 have the same order");
  o.seed = 10;
  run c = record_epochs(ds, &o, 0, 1);
  cr_assert_neq(memcmp(a.y, c.y, 25 * sizeof(int64_t)), 0, "seeds 9 and 10 give the same order");
  run_free(&a);
  run_free(&b);
  run_free(&c);
  ax_dataset_free(ds);
}

/* The 3x3 image 1..9 cropped at (dy, dx) in [-1, 1] with zero padding, maybe mirrored. */
static void expected_aug(const float *img, int dy, int dx, bool flip, float *out) {
  for (int y = 0; y < 3; y++)
    for (int x = 0; x < 3; x++) {
      int sy = y + dy, sx = (flip ? 2 - x : x) + dx;
      out[y * 3 + x] = (sy >= 0 && sy < 3 && sx >= 0 && sx < 3) ? img[sy * 3 + sx] : 0;
    }
}

Test(data, loader_augmentation_crops_and_flips) {
  enum { N = 200 };
  uint8_t *px = malloc(N * 9);
  for (int i = 0; i < N * 9; i++) px[i] = (uint8_t)(10 * (i % 9 + 1));
  ax_tensor *img = ax_from_data(px, AX_SHAPE(N, 1, 3, 3), &(ax_tensor_opts){.dtype = AX_U8});
  free(px);
  ax_dataset *ds = ax_dataset_new(img, ax_zeros(AX_SHAPE(N), &(ax_tensor_opts){.dtype = AX_I64}), err, sizeof err);
  cr_assert_not_null(ds, "%s", err);
  float orig[9];
  for (int k = 0; k < 9; k++) orig[k] = (float)(10 * (k + 1)) / 255.0f;

  /* flip only: each sample is the image or its mirror, about half mirrored */
  run r = record_epochs(ds, &(ax_loader_opts){.batch_size = 64, .hflip = true, .seed = 3}, 0, 1);
  int flips = 0;
  float want[9];
  for (int i = 0; i < N; i++) {
    expected_aug(orig, 0, 0, true, want);
    bool mirrored = !memcmp(r.x + 9 * i, want, sizeof want);
    expected_aug(orig, 0, 0, false, want);
    cr_assert(mirrored || !memcmp(r.x + 9 * i, want, sizeof want), "sample %d is neither the image nor its mirror", i);
    flips += mirrored;
  }
  cr_assert(flips > 60 && flips < 140, "%d of %d flipped", flips, N);
  run_free(&r);

  /* crop + flip: each sample is one of the 18 variants, and many variants occur */
  r = record_epochs(ds, &(ax_loader_opts){.batch_size = 64, .crop_padding = 1, .hflip = true, .seed = 3}, 0, 1);
  int used[18] = {0};
  for (int i = 0; i < N; i++) {
    int found = -1;
    for (int v = 0; v < 18 && found < 0; v++) {
      expected_aug(orig, v / 6 - 1, v / 2 % 3 - 1, v % 2, want);
      if (!memcmp(r.x + 9 * i, want, sizeof want)) found = v;
    }
    cr_assert(found >= 0, "sample %d is no crop/flip of the image", i);
    used[found]++;
  }
  int kinds = 0;
  for (int v = 0; v < 18; v++) kinds += used[v] > 0;
  cr_assert_geq(kinds, 16, "only %d of 18 crop/flip variants in %d samples", kinds, N);
  run_free(&r);
  ax_dataset_free(ds);
}

Test(data, loader_prefetch_gives_identical_batches) {
  ax_dataset *ds = make_ds(50, 1, 4, 4);
  float mean = 0.5f, std = 0.25f;
  ax_loader_opts o = {.batch_size = 8, .shuffle = true, .seed = 77, .mean = &mean, .std = &std, .n_channels = 1,
                      .crop_padding = 1, .hflip = true};
  run a = record_epochs(ds, &o, 0, 4);
  o.prefetch = true;
  run b = record_epochs(ds, &o, 0, 4);
  cr_assert_eq(a.nx, b.nx);
  cr_assert_eq(memcmp(a.x, b.x, (size_t)a.nx * sizeof(float)), 0);
  cr_assert_eq(memcmp(a.y, b.y, (size_t)a.ny * sizeof(int64_t)), 0);
  run_free(&a);
  run_free(&b);
  ax_dataset_free(ds);
}

/* Stops after `stop` batches of epoch 1, then a new loader resumes from the saved state. */
static void check_resume(bool prefetch, int64_t stop) {
  ax_dataset *ds = make_ds(30, 1, 3, 3);
  ax_loader_opts o = {.batch_size = 4, .shuffle = true, .seed = 5, .crop_padding = 1, .hflip = true,
                      .prefetch = prefetch};
  run full = record_epochs(ds, &o, 0, 3);

  ax_loader *ld = ax_loader_new(ds, &o, err, sizeof err);
  cr_assert_not_null(ld, "%s", err);
  ax_loader_start_epoch(ld, 1);
  ax_tensor *x, *y;
  for (int64_t b = 0; b < stop; b++) cr_assert_eq(ax_loader_next(ld, &x, &y), 1);
  ax_loader_state st = ax_loader_get_state(ld);
  cr_assert(st.epoch == 1 && st.batch == stop);
  ax_loader_free(ld); /* with a batch possibly being prefetched */

  run r = {malloc(30 * 2 * 9 * sizeof(float)), malloc(30 * 2 * sizeof(int64_t)), 0, 0};
  ld = ax_loader_new(ds, &o, err, sizeof err);
  cr_assert_eq(ax_loader_set_state(ld, st.epoch, st.batch), 0);
  record(ld, &r, 30 * 2 * 9, 60);
  ax_loader_start_epoch(ld, 2);
  record(ld, &r, 30 * 2 * 9, 60);
  ax_loader_free(ld);
  int64_t skip = 30 + (stop * 4 < 30 ? stop * 4 : 30); /* epoch 0 and the batches done before the interruption */
  cr_assert_eq(r.ny, 90 - skip);
  cr_assert_eq(memcmp(r.y, full.y + skip, (size_t)r.ny * sizeof(int64_t)), 0);
  cr_assert_eq(memcmp(r.x, full.x + skip * 9, (size_t)r.nx * sizeof(float)), 0);
  run_free(&r);
  run_free(&full);
  ax_dataset_free(ds);
}

Test(data, loader_resume_matches_uninterrupted) {
  check_resume(false, 3);
  check_resume(true, 3);
  check_resume(true, 0);
  check_resume(true, 8); /* at the end of the epoch */
}

Test(data, loader_repositioning_while_prefetching) {
  ax_dataset *ds = make_ds(64, 1, 2, 2);
  ax_loader_opts o = {.batch_size = 4, .shuffle = true, .seed = 1, .hflip = true, .prefetch = true};
  run full = record_epochs(ds, &o, 0, 2);
  ax_loader *ld = ax_loader_new(ds, &o, err, sizeof err);
  ax_tensor *x, *y;
  for (int rep = 0; rep < 20; rep++) {
    int e = rep % 2;
    int64_t b = (rep * 7) % 16;
    ax_scope_begin();
    cr_assert_eq(ax_loader_set_state(ld, e, b), 0);
    cr_assert_eq(ax_loader_next(ld, &x, &y), 1);
    cr_assert_eq(memcmp(ax_data_ptr(y), full.y + e * 64 + b * 4, 4 * sizeof(int64_t)), 0, "rep %d", rep);
    cr_assert_eq(memcmp(ax_data_ptr(x), full.x + (e * 64 + b * 4) * 4, 16 * sizeof(float)), 0, "rep %d", rep);
    ax_scope_end();
  }
  ax_loader_free(ld);
  run_free(&full);
  ax_dataset_free(ds);
}

Test(data, loader_bad_options) {
  ax_dataset *ds = make_ds(10, 1, 2, 2);
  float m = 0.5f, s0 = 0.0f, s = 1.0f;
  struct {
    ax_loader_opts o;
    const char *why;
  } bad[] = {
      {{.batch_size = 0}, "batch_size"},
      {{.batch_size = 2, .n_indices = 11}, "n_indices"},
      {{.batch_size = 2, .indices = (int64_t[]){1, 10}, .n_indices = 2}, "index 10"},
      {{.batch_size = 2, .indices = (int64_t[]){-1}, .n_indices = 1}, "index -1"},
      {{.batch_size = 2, .mean = &m}, "mean and std"},
      {{.batch_size = 2, .mean = &m, .std = &s, .n_channels = 3}, "channel"},
      {{.batch_size = 2, .mean = &m, .std = &s0, .n_channels = 1}, "std[0]"},
      {{.batch_size = 2, .crop_padding = -1}, "crop_padding"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = 0;
    cr_assert_null(ax_loader_new(ds, &bad[i].o, err, sizeof err), "case %zu", i);
    cr_assert(strstr(err, "ax_loader_new") && strstr(err, bad[i].why), "case %zu: '%s'", i, err);
  }
  /* an empty subset is an empty epoch, not an error */
  ax_loader *ld = ax_loader_new(ds, &(ax_loader_opts){.batch_size = 2, .indices = (int64_t[]){0}, .n_indices = 0,
                                                      .prefetch = true},
                                err, sizeof err);
  cr_assert_not_null(ld, "%s", err);
  ax_tensor *x, *y;
  cr_assert_eq(ax_loader_num_batches(ld), 0);
  cr_assert_eq(ax_loader_next(ld, &x, &y), 0);
  ax_loader_free(ld);
  ax_dataset_free(ds);
}

Test(data, loader_multichannel_normalization) {
  ax_dataset *ds = make_ds(3, 3, 2, 2);
  float mean[3] = {0.1f, 0.2f, 0.3f}, std[3] = {0.5f, 0.25f, 2.0f};
  ax_loader *ld = ax_loader_new(ds, &(ax_loader_opts){.batch_size = 3, .mean = mean, .std = std, .n_channels = 3},
                                err, sizeof err);
  cr_assert_not_null(ld, "%s", err);
  ax_tensor *x, *y;
  cr_assert_eq(ax_loader_next(ld, &x, &y), 1);
  cr_assert(x->shape[0] == 3 && x->shape[1] == 3 && x->shape[2] == 2 && x->shape[3] == 2);
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 12; k++) {
      int c = k / 4;
      double want = ((double)pixel(i, k) / 255.0 - mean[c]) / std[c];
      cr_assert(fabs(tu_get(x, i * 12 + k) - want) < 1e-5, "sample %d element %d", i, k);
    }
  ax_loader_free(ld);
  ax_dataset_free(ds);
}
