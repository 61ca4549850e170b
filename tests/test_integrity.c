/* SPDX-License-Identifier: BSD-3-Clause */
/* Crafted and damaged files (issue 14): shapes whose sizes overflow once a zero dim is
 * skipped, values that do not fit the buffer they are loaded into, out-of-range
 * counters in checkpoints, per-tensor checksums, the data section's coverage, NaN in a
 * resumed checkpoint, and the clean-up of temporary files left by killed writers.
 * Each must be a clear error (or, for the clean-up, exactly the stale files gone). */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "axon.h"
#include "testutil.h"
#include "tools/train_lm.h"

static char dir[64];

static void setup(void) {
  tu_capture_errors();
  snprintf(dir, sizeof dir, "/tmp/axon_integrity_XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(integrity, .init = setup, .fini = teardown, .timeout = 300);

static const char *path_in(const char *name) {
  static char p[8][160];
  static int next;
  char *b = p[next++ & 7];
  snprintf(b, 160, "%s/%s", dir, name);
  return b;
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

/* A safetensors file with header json (padded to 8) and data bytes. */
static void write_st(const char *path, const char *json, const void *data, size_t n) {
  size_t hl = strlen(json), padded = (hl + 7) / 8 * 8;
  unsigned char *buf = calloc(1, 8 + padded + n + 1);
  for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)padded >> (8 * i));
  memcpy(buf + 8, json, hl);
  memset(buf + 8 + hl, ' ', padded - hl);
  if (n) memcpy(buf + 8 + padded, data, n);
  write_bytes(path, buf, 8 + padded + n);
  free(buf);
}

static void expect_load_error(const char *file, const char *needle, const char *needle2) {
  char err[512] = "";
  ax_state_dict *sd = ax_load_safetensors(file, err, sizeof err);
  cr_assert_null(sd, "loading %s should fail", file);
  cr_assert(strstr(err, needle) != NULL, "message \"%s\" should contain \"%s\"", err, needle);
  if (needle2) cr_assert(strstr(err, needle2) != NULL, "message \"%s\" should contain \"%s\"", err, needle2);
}

/* ---- shapes ---- */

Test(integrity, zero_dim_beside_huge_dims_is_refused) {
  /* [0, 2^40, 2^40] has no elements, but its strides multiply 2^40 by 2^40 */
  write_st(path_in("z.safetensors"),
           "{\"z\":{\"dtype\":\"F32\",\"shape\":[0,1099511627776,1099511627776],\"data_offsets\":[0,0]}}", NULL, 0);
  expect_load_error(path_in("z.safetensors"), "too large", "z");
  /* the same shapes through the op layer */
  ax_scope_begin();
  tu_reset_errors();
  cr_assert_null(ax_zeros(AX_SHAPE(0, (int64_t)1 << 40, (int64_t)1 << 40), NULL));
  cr_assert(tu_error_contains("too large", NULL));
  cr_assert_null(ax_zeros(AX_SHAPE((int64_t)1 << 40, (int64_t)1 << 40, 0), NULL));
  ax_tensor *e = ax_zeros(AX_SHAPE(0), NULL);
  cr_assert_not_null(e);
  cr_assert_null(ax_reshape(e, AX_SHAPE(0, (int64_t)1 << 40, (int64_t)1 << 40)));
  cr_assert(tu_error_contains("too large", NULL));
  ax_tensor *one = ax_zeros(AX_SHAPE(1, 1, 1), NULL);
  cr_assert_null(ax_expand(one, AX_SHAPE((int64_t)1 << 40, (int64_t)1 << 40, 0)));
  cr_assert(tu_error_contains("too large", NULL));
  /* an empty tensor with sane sizes still works */
  ax_tensor *ok = ax_zeros(AX_SHAPE(0, 1 << 20, 1 << 20), NULL);
  cr_assert_not_null(ok);
  cr_assert_eq(ax_numel(ok), 0);
  cr_assert_not_null(ax_add(ok, ok));
  ax_scope_end();
}

/* ---- values that do not fit their buffer ---- */

Test(integrity, huge_float_into_an_integer_buffer_is_refused) {
  ax_module *bn = ax_nn_batch_norm2d(3, NULL);
  ax_state_dict *sd = ax_state_dict_new();
  cr_assert_eq(ax_module_state_dict(bn, sd), 0);
  ax_scope_begin();
  ax_state_dict_set(sd, "num_batches_tracked", ax_scalar(1e300, &(ax_tensor_opts){.dtype = AX_F64}));
  ax_scope_end();
  char err[512] = "";
  cr_assert_eq(ax_save_safetensors(path_in("bn.safetensors"), sd, err, sizeof err), 0, "%s", err);
  ax_state_dict_free(sd);
  sd = ax_load_safetensors(path_in("bn.safetensors"), err, sizeof err);
  cr_assert_not_null(sd, "%s", err);
  cr_assert_neq(ax_module_load_state_dict(bn, sd, true, err, sizeof err), 0);
  cr_assert(strstr(err, "num_batches_tracked") && strstr(err, "1e+300") && strstr(err, "i64"), "%s", err);
  /* NaN and fractions too; a whole number in range loads */
  ax_scope_begin();
  ax_state_dict_set(sd, "num_batches_tracked", ax_scalar(NAN, &(ax_tensor_opts){.dtype = AX_F32}));
  cr_assert_neq(ax_module_load_state_dict(bn, sd, true, err, sizeof err), 0);
  ax_state_dict_set(sd, "num_batches_tracked", ax_scalar(2.5, &(ax_tensor_opts){.dtype = AX_F64}));
  cr_assert_neq(ax_module_load_state_dict(bn, sd, true, err, sizeof err), 0);
  ax_state_dict_set(sd, "num_batches_tracked", ax_scalar(42, &(ax_tensor_opts){.dtype = AX_F64}));
  cr_assert_eq(ax_module_load_state_dict(bn, sd, true, err, sizeof err), 0, "%s", err);
  cr_assert_eq(ax_item(ax_module_tensor(bn, "num_batches_tracked")), 42);
  ax_scope_end();
  ax_state_dict_free(sd);
  ax_module_free(bn);
}

static void expect_optimizer_refuses(const char *key, double v, const char *needle) {
  ax_scope_begin();
  ax_tensor *p = ax_persist(ax_zeros(AX_SHAPE(4), NULL));
  ax_scope_end();
  ax_optimizer *opt = ax_adam(&p, 1, &(ax_adam_opts){.lr = 1e-3});
  ax_state_dict *sd = ax_state_dict_new();
  ax_scope_begin();
  ax_state_dict_set(sd, "step", ax_scalar(3, &(ax_tensor_opts){.dtype = AX_F64}));
  ax_state_dict_set(sd, "lr", ax_scalar(1e-3, &(ax_tensor_opts){.dtype = AX_F64}));
  ax_state_dict_set(sd, "state.0.step", ax_scalar(3, &(ax_tensor_opts){.dtype = AX_F64}));
  ax_state_dict_set(sd, "state.0.exp_avg", ax_zeros(AX_SHAPE(4), NULL));
  ax_state_dict_set(sd, "state.0.exp_avg_sq", ax_zeros(AX_SHAPE(4), NULL));
  char err[512] = "";
  cr_assert_eq(ax_optimizer_load_state_dict(opt, sd, err, sizeof err), 0, "%s", err); /* the sane dict loads */
  ax_state_dict_set(sd, key, ax_scalar(v, &(ax_tensor_opts){.dtype = AX_F64}));
  ax_scope_end();
  cr_assert_neq(ax_optimizer_load_state_dict(opt, sd, err, sizeof err), 0, "%s = %g should be refused", key, v);
  cr_assert(strstr(err, key) && strstr(err, needle), "%s = %g: %s", key, v, err);
  ax_state_dict_free(sd);
  ax_optimizer_free(opt);
  ax_free(p);
}

Test(integrity, out_of_range_step_counters_are_refused) {
  expect_optimizer_refuses("step", 1e300, "2^53");
  expect_optimizer_refuses("step", -1e300, "2^53");
  expect_optimizer_refuses("step", NAN, "2^53");
  expect_optimizer_refuses("state.0.step", 1e300, "2^53");
  expect_optimizer_refuses("state.0.step", -1e300, "2^53");
  expect_optimizer_refuses("state.0.step", 1.5, "2^53");
  expect_optimizer_refuses("lr", INFINITY, "finite");
}

Test(integrity, infinite_loss_scale_tracker_is_refused) {
  ax_loss_scaler *s = ax_loss_scaler_new(NULL);
  ax_state_dict *sd = ax_state_dict_new();
  ax_scope_begin();
  ax_state_dict_set(sd, "scaler.scale", ax_scalar(1024, &(ax_tensor_opts){.dtype = AX_F64}));
  ax_state_dict_set(sd, "scaler.growth_tracker", ax_scalar(INFINITY, &(ax_tensor_opts){.dtype = AX_F64}));
  ax_scope_end();
  char err[512] = "";
  cr_assert_neq(ax_loss_scaler_load_state_dict(s, sd, "scaler.", err, sizeof err), 0);
  cr_assert(strstr(err, "growth_tracker") && strstr(err, "inf"), "%s", err);
  ax_scope_begin();
  ax_state_dict_set(sd, "scaler.growth_tracker", ax_scalar(1e300, &(ax_tensor_opts){.dtype = AX_F64}));
  ax_scope_end();
  cr_assert_neq(ax_loss_scaler_load_state_dict(s, sd, "scaler.", err, sizeof err), 0);
  ax_scope_begin();
  ax_state_dict_set(sd, "scaler.growth_tracker", ax_scalar(7, &(ax_tensor_opts){.dtype = AX_F64}));
  ax_scope_end();
  cr_assert_eq(ax_loss_scaler_load_state_dict(s, sd, "scaler.", err, sizeof err), 0, "%s", err);
  cr_assert_eq(ax_loss_scaler_growth_tracker(s), 7);
  ax_state_dict_free(sd);
  ax_loss_scaler_free(s);
}

/* ---- checksums and the data section ---- */

static size_t make_good(const char *name, unsigned char *buf, size_t cap) {
  ax_state_dict *sd = ax_state_dict_new();
  ax_scope_begin();
  ax_state_dict_set(sd, "alpha", tu_randn(AX_F32, AX_SHAPE(3, 3)));
  ax_state_dict_set(sd, "beta", tu_randn(AX_F64, AX_SHAPE(4)));
  ax_scope_end();
  ax_state_dict_set_meta(sd, "note", "kept");
  char err[256];
  cr_assert_eq(ax_save_safetensors(path_in(name), sd, err, sizeof err), 0, "%s", err);
  ax_state_dict_free(sd);
  return read_bytes(path_in(name), buf, cap);
}

static size_t data_start(const unsigned char *buf) {
  uint64_t h = 0;
  for (int i = 0; i < 8; i++) h |= (uint64_t)buf[i] << (8 * i);
  return 8 + (size_t)h;
}

Test(integrity, checksums_catch_a_flipped_byte_and_name_the_tensor) {
  unsigned char buf[4096];
  size_t n = make_good("g.safetensors", buf, sizeof buf);
  cr_assert(strstr((char *)buf + 8, "\"axon.crc32.alpha\""), "the writer stores checksums: %.200s", buf + 8);
  char err[512];
  ax_state_dict *sd = ax_load_safetensors(path_in("g.safetensors"), err, sizeof err);
  cr_assert_not_null(sd, "%s", err);
  /* the checksums are the file's business: the dict's metadata is what was saved */
  cr_assert_eq(ax_state_dict_meta_count(sd), 1);
  cr_assert_str_eq(ax_state_dict_meta(sd, "note"), "kept");
  ax_state_dict_free(sd);
  size_t d = data_start(buf);
  /* alpha is 36 bytes at the data's start, beta the 32 after it */
  buf[d + 5] ^= 0x10;
  write_bytes(path_in("f1.safetensors"), buf, n);
  expect_load_error(path_in("f1.safetensors"), "tensor alpha: checksum mismatch", "corrupt");
  buf[d + 5] ^= 0x10;
  buf[d + 36 + 31] ^= 0x01;
  write_bytes(path_in("f2.safetensors"), buf, n);
  expect_load_error(path_in("f2.safetensors"), "tensor beta: checksum mismatch", NULL);
  buf[d + 36 + 31] ^= 0x01;
  /* a damaged checksum is as bad as damaged data */
  char *c = strstr((char *)buf + 8, "\"axon.crc32.beta\":\"") + strlen("\"axon.crc32.beta\":\"");
  c[0] = c[0] == '0' ? '1' : '0';
  write_bytes(path_in("f3.safetensors"), buf, n);
  expect_load_error(path_in("f3.safetensors"), "tensor beta: checksum mismatch", NULL);
}

Test(integrity, files_without_checksums_still_load) {
  /* what Axon wrote before checksums (and what other writers write) */
  float v[2] = {1, 2};
  write_st(path_in("old.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", v, 8);
  char err[512];
  ax_state_dict *sd = ax_load_safetensors(path_in("old.safetensors"), err, sizeof err);
  cr_assert_not_null(sd, "%s", err);
  cr_assert_eq(tu_get(ax_state_dict_get(sd, "w"), 1), 2.0);
  ax_state_dict_free(sd);
  /* but one tensor without its checksum among checksummed ones is refused */
  write_st(path_in("half.safetensors"),
           "{\"__metadata__\":{\"axon.crc32.w\":\"00000000\"},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"u\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
           (float[]){0, 0}, 8);
  expect_load_error(path_in("half.safetensors"), "tensor u has no checksum", NULL);
  /* and a checksum of a tensor that is not there */
  write_st(path_in("ghost.safetensors"),
           "{\"__metadata__\":{\"axon.crc32.ghost\":\"00000000\"},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
           (float[]){0}, 4);
  expect_load_error(path_in("ghost.safetensors"), "axon.crc32.ghost", "does not hold");
}

Test(integrity, data_section_must_be_covered_exactly) {
  unsigned char buf[4096];
  size_t n = make_good("g.safetensors", buf, sizeof buf);
  /* junk after the last tensor, with its real offset */
  memcpy(buf + n, "JUNKJUNK", 8);
  write_bytes(path_in("junk.safetensors"), buf, n + 8);
  char want[96];
  snprintf(want, sizeof want, "8 bytes of trailing data at file bytes [%zu, %zu)", n, n + 8);
  expect_load_error(path_in("junk.safetensors"), want, "beta");
  float z[4] = {0};
  /* a gap */
  write_st(path_in("gap.safetensors"),
           "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
           z, 12);
  expect_load_error(path_in("gap.safetensors"), "belong to no tensor", "before tensor b");
  /* an overlap */
  write_st(path_in("ovl.safetensors"),
           "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
           z, 8);
  expect_load_error(path_in("ovl.safetensors"), "overlaps tensor a", "tensor b");
  /* two tensors sharing bytes */
  write_st(path_in("same.safetensors"),
           "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
           z, 4);
  expect_load_error(path_in("same.safetensors"), "overlaps", NULL);
}

Test(integrity, messages_give_the_real_byte_and_say_directory) {
  /* "{"a":{"dtype" "F32"...: the ':' expected at byte 8 + 13 */
  write_st(path_in("colon.safetensors"), "{\"a\":{\"dtype\" \"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", (float[]){0}, 4);
  expect_load_error(path_in("colon.safetensors"), "expected ':' at byte 22", NULL);
  char sub[160];
  snprintf(sub, sizeof sub, "%s", path_in("folder.safetensors"));
  cr_assert_eq(mkdir(sub, 0755), 0);
  expect_load_error(sub, "is a directory", NULL);
}

/* ---- temporary files of killed writers ---- */

static void make_file(const char *name, int age_s) {
  write_bytes(path_in(name), "x", 1);
  if (age_s) {
    struct timeval tv[2];
    gettimeofday(&tv[0], NULL);
    tv[0].tv_sec -= age_s;
    tv[1] = tv[0];
    cr_assert_eq(utimes(path_in(name), tv), 0);
  }
}

static bool exists(const char *name) { return access(path_in(name), F_OK) == 0; }

Test(integrity, stale_temporary_files_are_removed_on_the_next_save) {
  make_file("m.safetensors.tmp.Ab12Cd", 3600);   /* a killed writer's: removed */
  make_file("m.safetensors.tmp.Zz99zZ", 120);    /* also */
  make_file("m.safetensors.tmp.Fresh1", 0);      /* maybe a live writer just before its lock: kept */
  make_file("m.safetensors.tmp.Locked", 3600);   /* a live writer (holds the lock): kept */
  make_file("m.safetensors.tmp.toolong", 3600);  /* not our pattern: kept */
  make_file("m.safetensors.tmp.ab-12c", 3600);   /* not our pattern: kept */
  make_file("other.safetensors.tmp.Ab12Cd", 3600); /* another file's: kept */
  make_file("m.safetensors.old", 3600);          /* kept */
  int fd = open(path_in("m.safetensors.tmp.Locked"), O_RDONLY);
  cr_assert(fd >= 0);
  cr_assert_eq(flock(fd, LOCK_EX), 0);
  ax_state_dict *sd = ax_state_dict_new();
  ax_scope_begin();
  ax_state_dict_set(sd, "w", ax_zeros(AX_SHAPE(2), NULL));
  ax_scope_end();
  char err[256];
  cr_assert_eq(ax_save_safetensors(path_in("m.safetensors"), sd, err, sizeof err), 0, "%s", err);
  ax_state_dict_free(sd);
  close(fd);
  cr_assert(!exists("m.safetensors.tmp.Ab12Cd"));
  cr_assert(!exists("m.safetensors.tmp.Zz99zZ"));
  cr_assert(exists("m.safetensors.tmp.Fresh1"));
  cr_assert(exists("m.safetensors.tmp.Locked"));
  cr_assert(exists("m.safetensors.tmp.toolong"));
  cr_assert(exists("m.safetensors.tmp.ab-12c"));
  cr_assert(exists("other.safetensors.tmp.Ab12Cd"));
  cr_assert(exists("m.safetensors.old"));
  cr_assert(exists("m.safetensors"));
}

/* ---- resuming the language-model trainer from damaged checkpoints ---- */

static ax_lm_config lm_config(const char *corpus, const char *ckdir) {
  ax_lm_config c;
  ax_lm_config_defaults(&c);
  c.data_path = corpus;
  c.gpt = (ax_gpt_config){.n_layer = 1, .n_head = 2, .n_embd = 16, .block_size = 16};
  c.steps = 4;
  c.batch_size = 4;
  c.eval_every = 0;
  c.eval_batches = 1;
  c.log_every = 1000;
  c.device = AX_CPU;
  c.checkpoint_dir = ckdir;
  c.stop_after_steps = 2;
  c.log = fopen("/dev/null", "w");
  return c;
}

/* Writes a checkpoint of 2 steps; returns its path. */
static const char *lm_checkpoint(ax_lm_config *c) {
  FILE *f = fopen(c->data_path, "w");
  for (int i = 0; i < 200; i++) fputs("the cat sat on the mat.\n", f);
  fclose(f);
  char err[512];
  cr_assert_eq(ax_train_lm(c, NULL, err, sizeof err), 0, "%s", err);
  c->stop_after_steps = 0;
  c->resume = true;
  return path_in("ck/checkpoint.safetensors");
}

/* Loads the checkpoint, lets edit change it, writes it back (with valid checksums). */
static void rewrite(const char *path, void (*edit)(ax_state_dict *)) {
  char err[512];
  ax_state_dict *sd = ax_load_safetensors(path, err, sizeof err);
  cr_assert_not_null(sd, "%s", err);
  ax_scope_begin();
  edit(sd);
  ax_scope_end();
  cr_assert_eq(ax_save_safetensors(path, sd, err, sizeof err), 0, "%s", err);
  ax_state_dict_free(sd);
}

static void put_nan(ax_state_dict *sd) {
  ax_tensor *t = ax_state_dict_get(sd, "model.transformer.wte.weight");
  cr_assert_not_null(t);
  ax_tensor *c = ax_contiguous(ax_mul_scalar(t, 1.0));
  ax_tensor *flat = ax_reshape(c, AX_SHAPE(-1));
  ax_copy_(ax_narrow(flat, 0, 5, 1), ax_scalar(NAN, &(ax_tensor_opts){.dtype = t->dtype}));
  ax_state_dict_set(sd, "model.transformer.wte.weight", c);
}
static void huge_step(ax_state_dict *sd) {
  ax_state_dict_set(sd, "optimizer.step", ax_scalar(1e300, &(ax_tensor_opts){.dtype = AX_F64}));
}
static void negative_param_step(ax_state_dict *sd) {
  ax_state_dict_set(sd, "optimizer.state.0.step", ax_scalar(-1e300, &(ax_tensor_opts){.dtype = AX_F64}));
}
static void huge_meta_step(ax_state_dict *sd) { ax_state_dict_set_meta(sd, "step", "-5"); }

static void expect_resume_fails(void (*edit)(ax_state_dict *), const char *needle, const char *needle2) {
  char corpus[160], ck[160], err[512] = "";
  snprintf(corpus, sizeof corpus, "%s", path_in("corpus.txt"));
  snprintf(ck, sizeof ck, "%s", path_in("ck"));
  ax_lm_config c = lm_config(corpus, ck);
  const char *p = lm_checkpoint(&c);
  char path[160];
  snprintf(path, sizeof path, "%s", p);
  rewrite(path, edit);
  cr_assert_neq(ax_train_lm(&c, NULL, err, sizeof err), 0, "resuming should fail (%s)", needle);
  cr_assert(strstr(err, needle), "\"%s\" should contain \"%s\"", err, needle);
  if (needle2) cr_assert(strstr(err, needle2), "\"%s\" should contain \"%s\"", err, needle2);
  fclose(c.log);
}

Test(integrity, resume_refuses_nan_in_a_tensor) { expect_resume_fails(put_nan, "model.transformer.wte.weight", "NaN at element 5"); }
Test(integrity, resume_refuses_a_huge_optimizer_step) { expect_resume_fails(huge_step, "step", "2^53"); }
Test(integrity, resume_refuses_a_negative_parameter_step) {
  expect_resume_fails(negative_param_step, "state.0.step", "2^53");
}
Test(integrity, resume_refuses_out_of_range_metadata) { expect_resume_fails(huge_meta_step, "step -5", "out of range"); }

Test(integrity, resume_refuses_a_flipped_byte) {
  char corpus[160], ck[160], err[512] = "";
  snprintf(corpus, sizeof corpus, "%s", path_in("corpus.txt"));
  snprintf(ck, sizeof ck, "%s", path_in("ck"));
  ax_lm_config c = lm_config(corpus, ck);
  const char *p = lm_checkpoint(&c);
  static unsigned char buf[1 << 20];
  size_t n = read_bytes(p, buf, sizeof buf);
  cr_assert(n < sizeof buf);
  buf[n - 3] ^= 0x04; /* in the last tensor */
  write_bytes(p, buf, n);
  cr_assert_neq(ax_train_lm(&c, NULL, err, sizeof err), 0);
  cr_assert(strstr(err, "checksum mismatch"), "%s", err);
  fclose(c.log);
}
