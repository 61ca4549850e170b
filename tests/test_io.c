/* SPDX-License-Identifier: BSD-3-Clause */
/* safetensors files and state dicts: round trips for every dtype, the exact
 * byte layout, and bad files (truncated, corrupt header, offsets outside the
 * file), which must fail with a message and leave an existing target intact. */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static char dir[64];

static void setup(void) {
  tu_capture_errors();
  snprintf(dir, sizeof dir, "/tmp/axon_io_XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  ax_scope_begin();
}

static void teardown(void) {
  ax_scope_end();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(io, .init = setup, .fini = teardown);

static const char *path_in(const char *name) {
  static char p[128];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return p;
}

static void write_bytes(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  cr_assert_eq(fwrite(data, 1, n, f), n);
  fclose(f);
}

static size_t read_bytes(const char *path, unsigned char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  size_t n = fread(buf, 1, cap, f);
  fclose(f);
  return n;
}

Test(io, round_trip_every_dtype) {
  const ax_dtype dts[] = {AX_F32, AX_F64, AX_BF16, AX_F16, AX_I32, AX_I64, AX_U8, AX_BOOL};
  ax_state_dict *sd = ax_state_dict_new();
  char name[32];
  for (int i = 0; i < 8; i++) {
    ax_tensor *t = ax_cast(tu_uniform(AX_F64, AX_SHAPE(3, 5), 0, 2), dts[i]);
    snprintf(name, sizeof name, "layers.%d.weight", i);
    cr_assert_eq(ax_state_dict_set(sd, name, t), 0);
  }
  /* 0-dim, empty and non-contiguous tensors */
  ax_state_dict_set(sd, "step", ax_scalar(42, &(ax_tensor_opts){.dtype = AX_I64}));
  ax_state_dict_set(sd, "empty", ax_zeros(AX_SHAPE(0, 4), NULL));
  ax_tensor *tr = ax_transpose(tu_randn(AX_F32, AX_SHAPE(4, 6)), 0, 1);
  ax_state_dict_set(sd, "transposed", tr);
  ax_state_dict_set_meta(sd, "format", "pt");
  ax_state_dict_set_meta(sd, "note", "quote \" and backslash \\");
  char err[256] = "";
  cr_assert_eq(ax_save_safetensors(path_in("a.safetensors"), sd, err, sizeof err), 0, "%s", err);

  ax_state_dict *back = ax_load_safetensors(path_in("a.safetensors"), err, sizeof err);
  cr_assert_not_null(back, "%s", err);
  cr_assert_eq(ax_state_dict_size(back), ax_state_dict_size(sd));
  for (int i = 0; i < ax_state_dict_size(sd); i++) {
    const char *n = ax_state_dict_name(sd, i);
    cr_assert_str_eq(ax_state_dict_name(back, i), n, "order kept");
    ax_tensor *a = ax_state_dict_tensor(sd, i), *b = ax_state_dict_get(back, n);
    cr_assert_eq(a->dtype, b->dtype, "%s", n);
    cr_assert_eq(a->ndim, b->ndim, "%s", n);
    cr_assert(tu_allclose(ax_cast(b, AX_F64), ax_cast(a, AX_F64), 0, 0), "%s", n);
  }
  cr_assert_str_eq(ax_state_dict_meta(back, "format"), "pt");
  cr_assert_str_eq(ax_state_dict_meta(back, "note"), "quote \" and backslash \\");
  ax_state_dict_free(back);
  ax_state_dict_free(sd);
}

Test(io, exact_layout) {
  /* the bytes the reference implementation writes for {"w": F32 [2] = {1, 2}}, plus the
   * tensor's CRC-32 in __metadata__ (zlib.crc32 of its 8 bytes) */
  ax_state_dict *sd = ax_state_dict_new();
  float v[2] = {1, 2};
  ax_state_dict_set(sd, "w", ax_from_data(v, AX_SHAPE(2), NULL));
  char err[256];
  cr_assert_eq(ax_save_safetensors(path_in("b.safetensors"), sd, err, sizeof err), 0);
  ax_state_dict_free(sd);
  unsigned char buf[256];
  size_t n = read_bytes(path_in("b.safetensors"), buf, sizeof buf);
  const char *json = "{\"__metadata__\":{\"axon.crc32.w\":\"2e3fa576\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  size_t hl = strlen(json);
  size_t padded = (hl + 7) / 8 * 8;
  cr_assert_eq(n, 8 + padded + 8);
  cr_assert_eq(buf[0], padded);
  for (int i = 1; i < 8; i++) cr_assert_eq(buf[i], 0);
  cr_assert_eq(memcmp(buf + 8, json, hl), 0);
  for (size_t i = hl; i < padded; i++) cr_assert_eq(buf[8 + i], ' ');
  float got[2];
  memcpy(got, buf + 8 + padded, 8);
  cr_assert_eq(got[0], 1.0f);
  cr_assert_eq(got[1], 2.0f);
}

static void expect_load_error(const char *file, const char *needle) {
  char err[256] = "";
  ax_state_dict *sd = ax_load_safetensors(file, err, sizeof err);
  cr_assert_null(sd, "loading %s should fail", file);
  cr_assert(strstr(err, needle) != NULL, "message \"%s\" should contain \"%s\"", err, needle);
}

static size_t make_good(unsigned char *buf, size_t cap) {
  ax_state_dict *sd = ax_state_dict_new();
  ax_state_dict_set(sd, "a", tu_randn(AX_F32, AX_SHAPE(3, 3)));
  ax_state_dict_set(sd, "b", tu_randn(AX_F64, AX_SHAPE(4)));
  char err[256];
  cr_assert_eq(ax_save_safetensors(path_in("good.safetensors"), sd, err, sizeof err), 0);
  ax_state_dict_free(sd);
  return read_bytes(path_in("good.safetensors"), buf, cap);
}

Test(io, truncated_and_corrupt_files) {
  unsigned char buf[4096];
  size_t n = make_good(buf, sizeof buf);
  expect_load_error(path_in("missing.safetensors"), "No such file");
  write_bytes(path_in("t0"), buf, 5);
  expect_load_error(path_in("t0"), "not a safetensors file");
  write_bytes(path_in("t1"), buf, 40); /* header cut */
  expect_load_error(path_in("t1"), "truncated");
  write_bytes(path_in("t2"), buf, n - 1); /* last data byte missing */
  expect_load_error(path_in("t2"), "data_offsets");
  /* every truncation length fails cleanly (no crash, no read past the end) */
  for (size_t k = 0; k < n; k += 7) {
    write_bytes(path_in("tk"), buf, k);
    char err[256];
    cr_assert_null(ax_load_safetensors(path_in("tk"), err, sizeof err), "length %zu", k);
  }
  unsigned char bad[4096];
  memcpy(bad, buf, n);
  bad[7] = 0x40; /* an absurd header size */
  write_bytes(path_in("c0"), bad, n);
  expect_load_error(path_in("c0"), "not a safetensors file");
  memcpy(bad, buf, n);
  char *h = (char *)bad + 8;
  char *dt = strstr(h, "F32");
  dt[0] = 'X';
  write_bytes(path_in("c1"), bad, n);
  expect_load_error(path_in("c1"), "dtype X32 is not supported");
  memcpy(bad, buf, n);
  h = (char *)bad + 8;
  char *br = strchr(h, '{');
  *br = '[';
  write_bytes(path_in("c2"), bad, n);
  expect_load_error(path_in("c2"), "bad safetensors header");
  memcpy(bad, buf, n);
  h = (char *)bad + 8;
  char *sh = strstr(h, "[3,3]");
  memcpy(sh, "[3,4]", 5); /* shape no longer matches the byte count */
  write_bytes(path_in("c3"), bad, n);
  expect_load_error(path_in("c3"), "do not fit");
}

Test(io, failed_write_keeps_old_file) {
  unsigned char before[4096], after[4096];
  size_t n = make_good(before, sizeof before);
  /* a tensor that cannot be read (NULL data path): use a dict whose save fails on the folder */
  ax_state_dict *sd = ax_state_dict_new();
  ax_state_dict_set(sd, "x", tu_randn(AX_F32, AX_SHAPE(2)));
  char err[256] = "";
  cr_assert_eq(ax_save_safetensors("/nonexistent-dir/x.safetensors", sd, err, sizeof err), -1);
  cr_assert(strstr(err, "nonexistent-dir") != NULL, "%s", err);
  ax_state_dict_free(sd);
  size_t m = read_bytes(path_in("good.safetensors"), after, sizeof after);
  cr_assert_eq(m, n);
  cr_assert_eq(memcmp(before, after, n), 0);
  /* no temporary files left behind */
  char cmd[160];
  snprintf(cmd, sizeof cmd, "test -z \"$(ls %s | grep tmp)\"", dir);
  cr_assert_eq(system(cmd), 0);
}

Test(io, state_dict_basics) {
  ax_state_dict *sd = ax_state_dict_new();
  ax_tensor *a = tu_randn(AX_F32, AX_SHAPE(2)), *b = tu_randn(AX_F32, AX_SHAPE(3));
  ax_state_dict_set(sd, "x", a);
  ax_state_dict_set(sd, "x", b); /* replaces, keeps position */
  cr_assert_eq(ax_state_dict_size(sd), 1);
  cr_assert_eq(ax_state_dict_get(sd, "x"), b);
  cr_assert_null(ax_state_dict_get(sd, "y"));
  ax_tensor *dst = ax_zeros(AX_SHAPE(3), NULL);
  char err[256];
  cr_assert_eq(ax_state_copy_into(dst, b, "x", err, sizeof err), 0);
  cr_assert(tu_allclose(dst, b, 0, 0));
  ax_tensor *wrong = ax_zeros(AX_SHAPE(4), NULL);
  cr_assert_eq(ax_state_copy_into(wrong, b, "fc.weight", err, sizeof err), -1);
  cr_assert(strstr(err, "fc.weight") && strstr(err, "[3]") && strstr(err, "[4]"), "%s", err);
  ax_state_dict_free(sd);
}
