/* SPDX-License-Identifier: BSD-3-Clause */
/* nn/data/text.c: byte corpora (files, folders with fortune's skip rules,
 * globs), llm.c token shards (write, read, validation), random training
 * batches (x/y shift, windows inside their split, determinism, rows across
 * ranks), the sequential evaluation iterator, and every bad-input error.
 * Files are written into a fresh temporary folder. */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static char dir[64];
static char err[1024];

static void setup(void) {
  tu_capture_errors();
  snprintf(dir, sizeof dir, "/tmp/axon_text_XXXXXX");
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

TestSuite(text, .init = setup, .fini = teardown);

static const char *path_in(const char *name) {
  static char p[8][256];
  static int next;
  char *s = p[next++ % 8];
  snprintf(s, 256, "%s/%s", dir, name);
  return s;
}

static void write_file(const char *name, const void *data, size_t n) {
  FILE *f = fopen(path_in(name), "wb");
  cr_assert_not_null(f, "%s", path_in(name));
  cr_assert_eq(fwrite(data, 1, n, f), n);
  fclose(f);
}

static void write_str(const char *name, const char *s) { write_file(name, s, strlen(s)); }

/* bytes 0, 1, ..., n-1: every byte tells its position */
static void write_counting(const char *name, int n) {
  uint8_t b[256];
  cr_assert(n <= 256);
  for (int i = 0; i < n; i++) b[i] = (uint8_t)i;
  write_file(name, b, (size_t)n);
}

/* tokens t0, t0 + 1, ... as a shard */
static void write_counting_shard(const char *name, int t0, int n) {
  uint16_t *t = malloc((size_t)n * sizeof *t);
  for (int i = 0; i < n; i++) t[i] = (uint16_t)(t0 + i);
  cr_assert_eq(ax_token_shard_write(path_in(name), t, n, err, sizeof err), 0, "%s", err);
  free(t);
}

static int64_t at(ax_tensor *t, int64_t r, int64_t c) { return ((int64_t *)ax_data_ptr(t))[r * t->shape[1] + c]; }

static bool same_tensor(ax_tensor *a, ax_tensor *b) {
  return ax_same_shape(a, b) && !memcmp(ax_data_ptr(a), ax_data_ptr(b), ax_nbytes(a));
}

/* ---- byte corpora and batches ---- */

Test(text, split_sizes_and_read) {
  write_counting("c.txt", 200);
  ax_text_dataset *ds = ax_text_open(path_in("c.txt"), &(ax_text_opts){.val_fraction = 0.25}, err, sizeof err);
  cr_assert_not_null(ds, "%s", err);
  cr_assert_eq(ax_text_size(ds, AX_TEXT_TRAIN), 150);
  cr_assert_eq(ax_text_size(ds, AX_TEXT_VAL), 50);
  cr_assert_eq(ax_text_vocab_size(ds), 256);
  cr_assert(!ax_text_is_tokens(ds));
  int64_t v[3];
  cr_assert_eq(ax_text_read(ds, AX_TEXT_VAL, 0, 3, v), 0);
  cr_assert(v[0] == 150 && v[1] == 151 && v[2] == 152);
  cr_assert_eq(ax_text_read(ds, AX_TEXT_VAL, 48, 3, v), -1);
  cr_assert(tu_error_contains("ax_text_read", "validation", NULL));
  ax_text_close(ds);
  /* the default fraction is 0.1 */
  ds = ax_text_open(path_in("c.txt"), NULL, err, sizeof err);
  cr_assert_not_null(ds, "%s", err);
  cr_assert_eq(ax_text_size(ds, AX_TEXT_VAL), 20);
  ax_text_close(ds);
  ds = ax_text_open(path_in("c.txt"), &(ax_text_opts){.val_fraction = AX_TEXT_NO_VAL}, err, sizeof err);
  cr_assert_eq(ax_text_size(ds, AX_TEXT_TRAIN), 200);
  cr_assert_eq(ax_text_size(ds, AX_TEXT_VAL), 0);
  ax_text_close(ds);
}

/* Every row is a window of its split, y is x shifted by one, and both ends of the
 * range of start positions are reached. */
Test(text, batches_stay_in_their_split) {
  write_counting("c.txt", 200);
  ax_text_dataset *ds = ax_text_open(path_in("c.txt"), &(ax_text_opts){.val_fraction = 0.25}, err, sizeof err);
  cr_assert_not_null(ds, "%s", err);
  const int64_t B = 8, T = 16;
  for (int split = 0; split < 2; split++) {
    int64_t lo = split ? 150 : 0, hi = split ? 200 : 150; /* the split's positions [lo, hi) */
    int64_t min_start = 1000, max_start = -1;
    for (int64_t step = 0; step < 200; step++) {
      ax_scope_begin();
      ax_tensor *x, *y;
      cr_assert_eq(ax_text_batch(ds, split, B, T, 1234, step, &x, &y), 0);
      cr_assert(x->dtype == AX_I64 && y->dtype == AX_I64 && x->ndim == 2 && x->shape[0] == B && x->shape[1] == T);
      cr_assert(ax_same_shape(x, y));
      cr_assert(ax_device_eq(x->device, AX_CPU));
      for (int64_t r = 0; r < B; r++) {
        int64_t s = at(x, r, 0);
        cr_assert(s >= lo && s + T < hi, "window [%lld, %lld] leaves [%lld, %lld)", (long long)s, (long long)(s + T),
                  (long long)lo, (long long)hi);
        for (int64_t t = 0; t < T; t++) {
          cr_assert_eq(at(x, r, t), s + t);
          cr_assert_eq(at(y, r, t), s + t + 1);
        }
        min_start = s < min_start ? s : min_start;
        max_start = s > max_start ? s : max_start;
      }
      ax_scope_end();
    }
    cr_assert_eq(min_start, lo);
    cr_assert_eq(max_start, hi - T - 1);
  }
  ax_text_close(ds);
}

Test(text, batches_are_a_function_of_seed_split_step) {
  write_counting("c.txt", 256);
  ax_text_dataset *ds = ax_text_open(path_in("c.txt"), &(ax_text_opts){.val_fraction = 0.5}, err, sizeof err);
  cr_assert_not_null(ds, "%s", err);
  ax_tensor *x1, *y1, *x2, *y2, *x3, *y3, *x4, *y4;
  cr_assert_eq(ax_text_batch(ds, AX_TEXT_TRAIN, 8, 4, 7, 3, &x1, &y1), 0);
  cr_assert_eq(ax_text_batch(ds, AX_TEXT_TRAIN, 8, 4, 7, 3, &x2, &y2), 0);
  cr_assert(same_tensor(x1, x2) && same_tensor(y1, y2));
  cr_assert_eq(ax_text_batch(ds, AX_TEXT_TRAIN, 8, 4, 7, 4, &x3, &y3), 0);
  cr_assert(!same_tensor(x1, x3), "another step gives other windows");
  cr_assert_eq(ax_text_batch(ds, AX_TEXT_TRAIN, 8, 4, 8, 3, &x4, &y4), 0);
  cr_assert(!same_tensor(x1, x4), "another seed gives other windows");
  /* a dataset opened again (a resumed run) gives the same batch */
  ax_text_dataset *again = ax_text_open(path_in("c.txt"), &(ax_text_opts){.val_fraction = 0.5}, err, sizeof err);
  cr_assert_eq(ax_text_batch(again, AX_TEXT_TRAIN, 8, 4, 7, 3, &x2, &y2), 0);
  cr_assert(same_tensor(x1, x2) && same_tensor(y1, y2));
  ax_text_close(again);
  /* two ranks taking rows [0, 4) and [4, 8) together make the 8-row batch */
  ax_tensor *xa, *ya, *xb, *yb;
  cr_assert_eq(ax_text_batch_rows(ds, AX_TEXT_TRAIN, 0, 4, 4, 7, 3, &xa, &ya), 0);
  cr_assert_eq(ax_text_batch_rows(ds, AX_TEXT_TRAIN, 4, 4, 4, 7, 3, &xb, &yb), 0);
  cr_assert_eq(memcmp(ax_data_ptr(xa), ax_data_ptr(x1), 16 * sizeof(int64_t)), 0);
  cr_assert_eq(memcmp(ax_data_ptr(xb), (int64_t *)ax_data_ptr(x1) + 16, 16 * sizeof(int64_t)), 0);
  cr_assert_eq(memcmp(ax_data_ptr(yb), (int64_t *)ax_data_ptr(y1) + 16, 16 * sizeof(int64_t)), 0);
  ax_text_close(ds);
}

Test(text, eval_batches_walk_the_validation_split) {
  write_counting("c.txt", 200);
  ax_text_dataset *ds = ax_text_open(path_in("c.txt"), &(ax_text_opts){.val_fraction = 0.25}, err, sizeof err);
  cr_assert_not_null(ds, "%s", err);
  /* 50 validation bytes, block 8: (50 - 1) / 8 = 6 windows, in batches of 4 and 2 */
  cr_assert_eq(ax_text_eval_batches(ds, 4, 8), 2);
  ax_tensor *x, *y;
  int64_t window = 0;
  for (int64_t i = 0;; i++) {
    int rc = ax_text_eval_batch(ds, 4, 8, i, &x, &y);
    cr_assert(rc == 0 || rc == 1);
    if (rc == 0) {
      cr_assert_null(x);
      break;
    }
    cr_assert_eq(x->shape[0], i == 0 ? 4 : 2);
    for (int64_t r = 0; r < x->shape[0]; r++, window++)
      for (int64_t t = 0; t < 8; t++) {
        cr_assert_eq(at(x, r, t), 150 + window * 8 + t);
        cr_assert_eq(at(y, r, t), 150 + window * 8 + t + 1);
      }
  }
  cr_assert_eq(window, 6);
  /* the same windows every time */
  ax_tensor *x2, *y2;
  cr_assert_eq(ax_text_eval_batch(ds, 4, 8, 1, &x, &y), 1);
  cr_assert_eq(ax_text_eval_batch(ds, 4, 8, 1, &x2, &y2), 1);
  cr_assert(same_tensor(x, x2) && same_tensor(y, y2));
  ax_text_close(ds);
}

/* A folder: sorted names, recursion, fortune's skip rules, '\n' between files. */
Test(text, folder_rules) {
  cr_assert_eq(mkdir(path_in("corpus"), 0755), 0);
  cr_assert_eq(mkdir(path_in("corpus/sub"), 0755), 0);
  cr_assert_eq(mkdir(path_in("corpus/off"), 0755), 0);
  write_str("corpus/b", "bbb"); /* no final newline: one is added */
  write_str("corpus/a", "aa\n");
  write_file("corpus/a.dat", "\x00\x00\x00\x02\xff", 5);
  cr_assert_eq(symlink("a", path_in("corpus/a.u8")), 0);
  write_str("corpus/.hidden", "hidden\n");
  write_str("corpus/empty", "");
  write_str("corpus/sub/d", "dd");
  write_str("corpus/off/rot13", "Bssrafvir\n");
  write_str("outside", "oo");
  cr_assert_eq(symlink(path_in("outside"), path_in("corpus/y-ext")), 0); /* a new file: read */
  cr_assert_eq(symlink("a", path_in("corpus/z-link")), 0);              /* a duplicate: skipped */
  cr_assert_eq(symlink("sub", path_in("corpus/w-dirlink")), 0);         /* a folder link: not followed */
  cr_assert_eq(symlink("nowhere", path_in("corpus/x-dangling")), 0);    /* ignored */
  ax_text_dataset *ds =
      ax_text_open(path_in("corpus"), &(ax_text_opts){.val_fraction = AX_TEXT_NO_VAL}, err, sizeof err);
  cr_assert_not_null(ds, "%s", err);
  const char *expected = "aa\nbbb\ndd\noo";
  int64_t n = ax_text_size(ds, AX_TEXT_TRAIN);
  cr_assert_eq(n, (int64_t)strlen(expected));
  int64_t got[32];
  cr_assert_eq(ax_text_read(ds, AX_TEXT_TRAIN, 0, n, got), 0);
  for (int64_t i = 0; i < n; i++) cr_assert_eq(got[i], (uint8_t)expected[i], "byte %lld", (long long)i);
  cr_assert_eq(ax_text_num_files(ds), 4);
  cr_assert_str_eq(ax_text_file(ds, 0), path_in("corpus/a"));
  cr_assert_str_eq(ax_text_file(ds, 2), path_in("corpus/sub/d"));
  cr_assert_str_eq(ax_text_file(ds, 3), path_in("corpus/y-ext"));
  cr_assert_null(ax_text_file(ds, 4));
  /* windows crossing file boundaries are the concatenation's bytes */
  ax_tensor *x, *y;
  cr_assert_eq(ax_text_batch(ds, AX_TEXT_TRAIN, 16, 5, 1, 0, &x, &y), 0);
  for (int64_t r = 0; r < 16; r++) {
    bool found = false;
    for (int64_t s = 0; s + 5 < n && !found; s++) {
      bool ok = true;
      for (int64_t t = 0; t < 5; t++) ok &= at(x, r, t) == (uint8_t)expected[s + t] && at(y, r, t) == (uint8_t)expected[s + t + 1];
      found = ok;
    }
    cr_assert(found, "row %lld is not a window of the corpus", (long long)r);
  }
  ax_text_close(ds);
  /* a file named explicitly is read whatever its name */
  ds = ax_text_open(path_in("corpus/a.dat"), &(ax_text_opts){.val_fraction = AX_TEXT_NO_VAL}, err, sizeof err);
  cr_assert_not_null(ds, "%s", err);
  cr_assert_eq(ax_text_size(ds, AX_TEXT_TRAIN), 5);
  ax_text_close(ds);
}

Test(text, default_corpus) {
  struct stat st;
  if (stat(AX_TEXT_DEFAULT_PATH, &st) != 0)
    cr_skip_test("%s not found: install Debian's fortunes package to run this test", AX_TEXT_DEFAULT_PATH);
  ax_text_dataset *ds = ax_text_open(NULL, &(ax_text_opts){.block_size = 256}, err, sizeof err);
  cr_assert_not_null(ds, "%s", err);
  int64_t train = ax_text_size(ds, AX_TEXT_TRAIN), val = ax_text_size(ds, AX_TEXT_VAL);
  cr_assert_gt(train + val, 1000000);
  cr_assert(val > 0 && val <= (train + val) / 10 + 1);
  cr_assert_eq(ax_text_vocab_size(ds), 256);
  for (int i = 0; i < ax_text_num_files(ds); i++) {
    const char *f = ax_text_file(ds, i);
    size_t n = strlen(f);
    cr_assert(!(n > 4 && !strcmp(f + n - 4, ".dat")) && !(n > 3 && !strcmp(f + n - 3, ".u8")), "%s", f);
    cr_assert_null(strstr(f, "/off/"), "%s", f);
  }
  ax_tensor *x, *y;
  cr_assert_eq(ax_text_batch(ds, AX_TEXT_TRAIN, 4, 256, 0, 0, &x, &y), 0);
  ax_text_close(ds);
}

/* ---- token shards ---- */

Test(text, shard_round_trip) {
  uint16_t tok[5] = {0, 1, 50256, 65535, 7};
  cr_assert_eq(ax_token_shard_write(path_in("s.bin"), tok, 5, err, sizeof err), 0, "%s", err);
  /* llm.c's layout: 256 little-endian int32 {20240520, 1, 5, 0, ...}, then the tokens */
  FILE *f = fopen(path_in("s.bin"), "rb");
  uint8_t raw[1024 + 10 + 1];
  cr_assert_eq(fread(raw, 1, sizeof raw, f), 1024 + 10);
  fclose(f);
  cr_assert(raw[0] == 0x88 && raw[1] == 0xD8 && raw[2] == 0x34 && raw[3] == 0x01); /* 20240520 */
  cr_assert(raw[4] == 1 && raw[8] == 5 && raw[12] == 0 && raw[1023] == 0);
  cr_assert(raw[1024 + 4] == 0x50 && raw[1024 + 5] == 0xC4); /* 50256 = 0xC450 */
  /* no temporary file left next to it */
  DIR *d = opendir(dir);
  int entries = 0;
  for (struct dirent *e; (e = readdir(d));) entries += e->d_name[0] != '.';
  closedir(d);
  cr_assert_eq(entries, 1);

  for (int forced = 0; forced < 2; forced++) {
    ax_text_dataset *ds = ax_text_open(
        path_in("s.bin"), &(ax_text_opts){.tokens = forced, .val_fraction = AX_TEXT_NO_VAL}, err, sizeof err);
    cr_assert_not_null(ds, "%s", err);
    cr_assert(ax_text_is_tokens(ds));
    cr_assert_eq(ax_text_vocab_size(ds), 65536);
    int64_t got[5];
    cr_assert_eq(ax_text_read(ds, AX_TEXT_TRAIN, 0, 5, got), 0);
    for (int i = 0; i < 5; i++) cr_assert_eq(got[i], tok[i]);
    ax_text_close(ds);
  }
}

Test(text, shard_glob_folder_and_vocab) {
  write_counting_shard("train_000.bin", 0, 100);
  write_counting_shard("train_001.bin", 100, 100);
  write_counting_shard("val_000.bin", 1000, 40);
  ax_text_dataset *ds = ax_text_open(path_in("train_*.bin"), &(ax_text_opts){.val_fraction = 0.1}, err, sizeof err);
  cr_assert_not_null(ds, "%s", err);
  cr_assert_eq(ax_text_num_files(ds), 2);
  cr_assert_eq(ax_text_size(ds, AX_TEXT_TRAIN), 180);
  cr_assert_eq(ax_text_vocab_size(ds), 200);
  ax_tensor *x, *y;
  cr_assert_eq(ax_text_batch(ds, AX_TEXT_VAL, 3, 10, 5, 0, &x, &y), 0);
  for (int r = 0; r < 3; r++) {
    cr_assert(at(x, r, 0) >= 180 && at(y, r, 9) < 200);
    for (int t = 0; t < 10; t++) cr_assert_eq(at(y, r, t), at(x, r, t) + 1);
  }
  /* a windows crossing the shard boundary */
  int64_t got[4];
  cr_assert_eq(ax_text_read(ds, AX_TEXT_TRAIN, 98, 4, got), 0);
  cr_assert(got[0] == 98 && got[1] == 99 && got[2] == 100 && got[3] == 101);
  ax_text_close(ds);

  /* separate validation files, and a vocab_size given */
  ds = ax_text_open(path_in("train_*.bin"), &(ax_text_opts){.val_path = path_in("val_000.bin"), .vocab_size = 50257},
                    err, sizeof err);
  cr_assert_not_null(ds, "%s", err);
  cr_assert_eq(ax_text_size(ds, AX_TEXT_TRAIN), 200);
  cr_assert_eq(ax_text_size(ds, AX_TEXT_VAL), 40);
  cr_assert_eq(ax_text_vocab_size(ds), 50257);
  cr_assert_eq(ax_text_eval_batch(ds, 2, 4, 0, &x, &y), 1);
  cr_assert(at(x, 0, 0) == 1000 && at(x, 1, 0) == 1004 && at(y, 1, 3) == 1008);
  ax_text_close(ds);

  /* a folder of shards: val_000.bin sorts after train_*: its tokens end the corpus */
  ds = ax_text_open(dir, &(ax_text_opts){.val_fraction = AX_TEXT_NO_VAL}, err, sizeof err);
  cr_assert_not_null(ds, "%s", err);
  cr_assert_eq(ax_text_size(ds, AX_TEXT_TRAIN), 240);
  cr_assert_eq(ax_text_vocab_size(ds), 1040);
  ax_text_close(ds);

  /* a token at or above the given vocab_size */
  cr_assert_null(ax_text_open(path_in("train_*.bin"), &(ax_text_opts){.vocab_size = 150}, err, sizeof err));
  cr_assert(strstr(err, "train_001.bin") && strstr(err, "token 150") && strstr(err, "vocab_size 150"), "%s", err);
  /* training and validation must not share a file */
  cr_assert_null(ax_text_open(path_in("train_*.bin"), &(ax_text_opts){.val_path = path_in("train_001.bin")}, err,
                              sizeof err));
  cr_assert(strstr(err, "train_001.bin") && strstr(err, "both"), "%s", err);
}

/* ---- errors ---- */

static void expect_open_error(const char *path, const ax_text_opts *o, const char *a, const char *b) {
  err[0] = 0;
  ax_text_dataset *ds = ax_text_open(path, o, err, sizeof err);
  cr_assert_null(ds, "opened %s", path);
  cr_assert(strstr(err, a) && (!b || strstr(err, b)), "message '%s' lacks '%s' / '%s'", err, a, b ? b : "");
}

static void write_header(const char *name, uint32_t magic, uint32_t version, uint32_t count, size_t n_bytes) {
  uint8_t *b = calloc(1, 1024 + n_bytes);
  uint32_t h[3] = {magic, version, count};
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 4; k++) b[4 * i + k] = (uint8_t)(h[i] >> 8 * k);
  write_file(name, b, 1024 + n_bytes);
  free(b);
}

Test(text, errors_name_the_file) {
  expect_open_error(path_in("missing.txt"), NULL, "missing.txt", "No such file");
  expect_open_error(path_in("nothing_*.bin"), NULL, "nothing_*.bin", "no file matches");
  /* empty corpora: an empty file, a folder of skipped files */
  write_str("empty.txt", "");
  expect_open_error(path_in("empty.txt"), NULL, "no text in", "empty.txt");
  cr_assert_eq(mkdir(path_in("skipped"), 0755), 0);
  write_str("skipped/x.dat", "index");
  expect_open_error(path_in("skipped"), NULL, "no text in", "skipped");
  /* a split shorter than block_size + 1 */
  write_counting("c.txt", 100);
  expect_open_error(path_in("c.txt"), &(ax_text_opts){.block_size = 10}, "c.txt",
                    "validation split has 10 bytes, needs at least block_size + 1 = 11");
  expect_open_error(path_in("c.txt"), &(ax_text_opts){.block_size = 100, .val_fraction = AX_TEXT_NO_VAL},
                    "training split has 100 bytes", "= 101");
  expect_open_error(path_in("c.txt"), &(ax_text_opts){.val_fraction = 1}, "c.txt", "val_fraction");
  /* shards: bad magic, version, truncated header, truncated tokens, trailing bytes, Llama-3 */
  expect_open_error(path_in("c.txt"), &(ax_text_opts){.tokens = true}, "c.txt", "bad magic");
  write_header("v2.bin", 20240520, 2, 4, 8);
  expect_open_error(path_in("v2.bin"), NULL, "v2.bin", "version 2");
  write_file("short.bin", "\x88\xD8\x34\x01\x01\x00\x00\x00", 8);
  expect_open_error(path_in("short.bin"), NULL, "short.bin", "truncated");
  write_header("trunc.bin", 20240520, 1, 1000, 10);
  expect_open_error(path_in("trunc.bin"), NULL, "trunc.bin", "header says 1000 tokens, the file holds 5");
  write_header("long.bin", 20240520, 1, 4, 9);
  expect_open_error(path_in("long.bin"), NULL, "long.bin", "corrupt");
  write_header("llama.bin", 20240801, 7, 2, 8);
  expect_open_error(path_in("llama.bin"), NULL, "llama.bin", "Llama-3");
  write_header("zero.bin", 20240520, 1, 0, 0);
  expect_open_error(path_in("zero.bin"), NULL, "no tokens in", "zero.bin");
  /* a shard and a text file in one corpus */
  cr_assert_eq(mkdir(path_in("mixed"), 0755), 0);
  write_counting_shard("mixed/a.bin", 0, 10);
  write_str("mixed/b.txt", "text\n");
  expect_open_error(path_in("mixed"), NULL, "b.txt", "all text or all token shards");
  /* the writer */
  cr_assert_eq(ax_token_shard_write(path_in("no/such/dir/s.bin"), (uint16_t[]){1}, 1, err, sizeof err), -1);
  cr_assert(strstr(err, "no/such/dir/s.bin"), "%s", err);
  cr_assert_eq(ax_token_shard_write(path_in("neg.bin"), (uint16_t[]){1}, -1, err, sizeof err), -1);
  cr_assert(strstr(err, "neg.bin"), "%s", err);
}

/* Asking a good dataset for more than a split holds is the caller's error (ax_error). */
Test(text, batch_errors) {
  write_counting("c.txt", 100);
  ax_text_dataset *ds = ax_text_open(path_in("c.txt"), NULL, err, sizeof err);
  cr_assert_not_null(ds, "%s", err);
  ax_tensor *x, *y;
  cr_assert_eq(ax_text_batch(ds, AX_TEXT_VAL, 2, 10, 0, 0, &x, &y), -1);
  cr_assert_null(x);
  cr_assert(tu_error_contains("ax_text_batch", "c.txt", "validation split has 10 bytes", "block_size + 1 = 11", NULL));
  cr_assert_eq(ax_text_eval_batch(ds, 2, 10, 0, &x, &y), -1);
  cr_assert(tu_error_contains("ax_text_eval_batch", "validation split has 10 bytes", NULL));
  cr_assert_eq(ax_text_eval_batches(ds, 2, 10), 0);
  cr_assert_eq(ax_text_batch(ds, 2, 2, 4, 0, 0, &x, &y), -1);
  cr_assert(tu_error_contains("ax_text_batch", "split", NULL));
  cr_assert_eq(ax_text_batch(ds, AX_TEXT_TRAIN, 0, 4, 0, 0, &x, &y), -1);
  cr_assert(tu_error_contains("ax_text_batch", "positive", NULL));
  cr_assert_eq(ax_text_batch(ds, AX_TEXT_TRAIN, 2, 89, 0, 0, &x, &y), 0); /* 90 training bytes: the largest block */
  cr_assert_eq(at(x, 0, 0), 0);
  ax_text_close(ds);
  ds = ax_text_open(path_in("c.txt"), &(ax_text_opts){.val_fraction = AX_TEXT_NO_VAL}, err, sizeof err);
  cr_assert_eq(ax_text_eval_batch(ds, 2, 4, 0, &x, &y), -1);
  cr_assert(tu_error_contains("ax_text_eval_batch", "validation split has 0 bytes", NULL));
  ax_text_close(ds);
}
