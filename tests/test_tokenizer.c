/* SPDX-License-Identifier: BSD-3-Clause */
/* Tokenizers (include/axon/tokenizer.h): exact ids against the tokenizers library
 * on ~100 sentences (tests/fixtures/tokenizers/reference.json, made by
 * scripts/gen_tokenizer_fixtures.py) for WordPiece (uncased and cased) and
 * byte-level BPE, every loader, batches (padding, truncation, masks), decoding,
 * and every bad input as a clear error. */
#define _DEFAULT_SOURCE
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "axon/tokenizer.h"

#define FIX AXON_SOURCE_DIR "/tests/fixtures/tokenizers"

static char dir[64];
static char err[1024];
static cJSON *ref;

static cJSON *read_json(const char *path) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "%s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc(n + 1);
  cr_assert_eq(fread(s, 1, n, f), (size_t)n);
  fclose(f);
  s[n] = 0;
  cJSON *j = cJSON_Parse(s);
  free(s);
  cr_assert_not_null(j, "%s is not JSON", path);
  return j;
}

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/axon_tok_XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  err[0] = 0;
  ref = read_json(FIX "/reference.json");
}

static void teardown(void) {
  cJSON_Delete(ref);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(tokenizer, .init = setup, .fini = teardown);

static const char *in_dir(const char *name) {
  static char p[4][256];
  static int next;
  char *s = p[next++ % 4];
  snprintf(s, 256, "%s/%s", dir, name);
  return s;
}

static void write_file(const char *name, const char *text) {
  FILE *f = fopen(in_dir(name), "wb");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
}

static ax_tokenizer *load(const char *path) {
  ax_tokenizer *t = ax_tokenizer_load(path, err, sizeof err);
  cr_assert_not_null(t, "%s: %s", path, err);
  return t;
}

/* every reference sentence through tok: the ids of field `key`, and (when decoded) its decoding */
static int check_sentences(ax_tokenizer *tok, const char *key, bool decoded) {
  const cJSON *rows = cJSON_GetObjectItem(ref, "sentences");
  int n = 0;
  char dkey[64];
  snprintf(dkey, sizeof dkey, "%s_decoded", key);
  for (const cJSON *r = rows->child; r; r = r->next, n++) {
    const char *text = cJSON_GetObjectItem(r, "text")->valuestring;
    const cJSON *want = cJSON_GetObjectItem(r, key);
    int32_t ids[4096];
    int k = ax_tokenizer_encode(tok, text, strlen(text), ids, 4096, NULL, err, sizeof err);
    cr_assert_eq(k, cJSON_GetArraySize(want), "%s row %d (%s): %d ids, want %d (%s)", key, n, text, k,
                 cJSON_GetArraySize(want), err);
    int i = 0;
    for (const cJSON *w = want->child; w; w = w->next, i++)
      cr_assert_eq(ids[i], w->valueint, "%s row %d (%s): id %d is %d, want %d", key, n, text, i, ids[i], w->valueint);
    if (decoded) {
      char out[8192];
      cr_assert_geq(ax_tokenizer_decode(tok, ids, k, true, out, sizeof out, err, sizeof err), 0, "%s", err);
      cr_assert_str_eq(out, cJSON_GetObjectItem(r, dkey)->valuestring, "%s row %d decodes differently", key, n);
    }
  }
  return n;
}

Test(tokenizer, wordpiece_ids_match_the_tokenizers_library) {
  ax_tokenizer *t = load(FIX "/wordpiece");
  cr_assert_eq(ax_tokenizer_type(t), AX_TOKENIZER_WORDPIECE);
  cr_assert_eq(ax_tokenizer_vocab_size(t), 2000);
  cr_assert_eq(ax_tokenizer_token_id(t, "[CLS]"), 2);
  cr_assert_eq(ax_tokenizer_token_id(t, "no such token"), -1);
  cr_assert_str_eq(ax_tokenizer_id_token(t, 3), "[SEP]");
  cr_assert_geq(check_sentences(t, "wordpiece", true), 100);
  ax_tokenizer_free(t);
}

Test(tokenizer, wordpiece_cased_options) {
  ax_tokenizer *t = load(FIX "/wordpiece_cased/tokenizer.json");
  check_sentences(t, "wordpiece_cased", true);
  ax_tokenizer_free(t);
}

Test(tokenizer, wordpiece_from_vocab_txt) {
  ax_tokenizer *t = load(FIX "/wordpiece/vocab.txt"); /* uncased BERT defaults, [CLS]/[SEP] added */
  check_sentences(t, "wordpiece", true);
  ax_tokenizer_free(t);
}

Test(tokenizer, bpe_ids_match_the_tokenizers_library) {
  ax_tokenizer *t = load(FIX "/bpe");
  cr_assert_eq(ax_tokenizer_type(t), AX_TOKENIZER_BPE);
  cr_assert_eq(ax_tokenizer_vocab_size(t), 2000);
  cr_assert_eq(ax_tokenizer_token_id(t, "<|endoftext|>"), 0);
  check_sentences(t, "bpe", true);
  ax_tokenizer_free(t);
}

Test(tokenizer, bpe_from_vocab_json_and_merges_txt) {
  cr_assert_eq(symlink(FIX "/bpe/vocab.json", in_dir("vocab.json")), 0);
  cr_assert_eq(symlink(FIX "/bpe/merges.txt", in_dir("merges.txt")), 0);
  ax_tokenizer *t = load(dir);
  check_sentences(t, "bpe", true);
  ax_tokenizer_free(t);
}

Test(tokenizer, bpe_decode_round_trips) {
  ax_tokenizer *t = load(FIX "/bpe/tokenizer.json");
  const char *texts[] = {"Héllo  wörld\t\n 中文 😀👍🏽 e\xcc\x81 don't", "", "   ", "\x01\x7f control"};
  for (int i = 0; i < 4; i++) {
    int32_t ids[256];
    int n = ax_tokenizer_encode(t, texts[i], strlen(texts[i]), ids, 256, NULL, err, sizeof err);
    cr_assert_geq(n, 0, "%s", err);
    char out[512];
    cr_assert_eq(ax_tokenizer_decode(t, ids, n, false, out, sizeof out, err, sizeof err), (int)strlen(texts[i]));
    cr_assert_str_eq(out, texts[i]);
  }
  ax_tokenizer_free(t);
}

/* the reference batch: truncation to 8 and padding to the longest, as the tokenizers library */
static void check_batch(const char *path, const char *key) {
  ax_tokenizer *t = load(path);
  const cJSON *b = cJSON_GetObjectItem(ref, "batch"), *texts = cJSON_GetObjectItem(b, "texts");
  const cJSON *want = cJSON_GetObjectItem(b, key);
  const char *v[8];
  int n = 0;
  for (const cJSON *s = texts->child; s; s = s->next) v[n++] = s->valuestring;
  ax_token_batch out;
  ax_encode_opts o = {.max_length = 8, .truncation = true, .padding = AX_PAD_LONGEST};
  cr_assert_eq(ax_tokenizer_encode_batch(t, v, NULL, n, &o, &out, err, sizeof err), 0, "%s", err);
  cr_assert_eq(out.n, n);
  cr_assert_eq(out.len, 8);
  const cJSON *ids = cJSON_GetObjectItem(want, "ids")->child, *mask = cJSON_GetObjectItem(want, "attention_mask")->child;
  for (int i = 0; i < n; i++, ids = ids->next, mask = mask->next) {
    int len = 0;
    for (int j = 0; j < 8; j++) {
      cr_assert_eq(out.ids[i * 8 + j], cJSON_GetArrayItem(ids, j)->valueint, "%s row %d col %d", key, i, j);
      cr_assert_eq(out.attention_mask[i * 8 + j], cJSON_GetArrayItem(mask, j)->valueint, "%s mask %d %d", key, i, j);
      cr_assert_eq(out.token_type_ids[i * 8 + j], 0);
      len += out.attention_mask[i * 8 + j];
    }
    cr_assert_eq(out.lengths[i], len);
  }
  ax_token_batch_free(&out);
  ax_tokenizer_free(t);
}

Test(tokenizer, batch_truncation_padding_masks) {
  check_batch(FIX "/wordpiece", "wordpiece");
  check_batch(FIX "/bpe", "bpe");
}

Test(tokenizer, batch_pad_to_max_length) {
  ax_tokenizer *t = load(FIX "/wordpiece");
  const char *v[] = {"hello world", "a"};
  ax_token_batch out;
  ax_encode_opts o = {.max_length = 12, .padding = AX_PAD_MAX_LENGTH};
  cr_assert_eq(ax_tokenizer_encode_batch(t, v, NULL, 2, &o, &out, err, sizeof err), 0, "%s", err);
  cr_assert_eq(out.len, 12);
  int pad = ax_tokenizer_token_id(t, "[PAD]");
  for (int i = 0; i < 2; i++) {
    cr_assert_eq(out.ids[i * 12], ax_tokenizer_token_id(t, "[CLS]"));
    cr_assert_eq(out.ids[i * 12 + out.lengths[i] - 1], ax_tokenizer_token_id(t, "[SEP]"));
    for (int j = 0; j < 12; j++) {
      cr_assert_eq(out.attention_mask[i * 12 + j], j < out.lengths[i]);
      if (j >= out.lengths[i]) cr_assert_eq(out.ids[i * 12 + j], pad);
    }
  }
  cr_assert_eq(out.lengths[1], 3);
  ax_token_batch_free(&out);
  ax_tokenizer_free(t);
}

Test(tokenizer, over_long_input_without_truncation_is_an_error) {
  ax_tokenizer *t = load(FIX "/wordpiece");
  const char *s = "one two three four five six seven eight nine ten";
  int32_t ids[64];
  ax_encode_opts o = {.max_length = 6};
  cr_assert_eq(ax_tokenizer_encode(t, s, strlen(s), ids, 64, &o, err, sizeof err), -1);
  cr_assert(strstr(err, "over max_length 6") && strstr(err, "truncation"), "%s", err);
  o.truncation = true;
  cr_assert_eq(ax_tokenizer_encode(t, s, strlen(s), ids, 64, &o, err, sizeof err), 6);
  cr_assert_eq(ids[5], ax_tokenizer_token_id(t, "[SEP]"));
  ax_token_batch out;
  const char *v[] = {"short", s};
  o.truncation = false;
  cr_assert_eq(ax_tokenizer_encode_batch(t, v, NULL, 2, &o, &out, err, sizeof err), -1);
  cr_assert(strstr(err, "row 1") && strstr(err, "over max_length"), "%s", err);
  cr_assert_null(out.ids);
  /* a buffer too small is an error too; NULL with cap 0 counts */
  cr_assert_eq(ax_tokenizer_encode(t, s, strlen(s), ids, 3, NULL, err, sizeof err), -1);
  cr_assert(strstr(err, "do not fit"), "%s", err);
  cr_assert_gt(ax_tokenizer_encode(t, s, strlen(s), NULL, 0, NULL, err, sizeof err), 10);
  ax_tokenizer_free(t);
}

Test(tokenizer, text_that_is_not_utf8_names_the_byte_offset) {
  const char *paths[] = {FIX "/wordpiece", FIX "/bpe"};
  const char *bad[] = {"abc\xff", "ab\xc3(", "a\xed\xa0\x80", "abc\xe4\xb8", "a\xc0\xafz"}; /* overlong, surrogate, cut */
  size_t at[] = {3, 2, 1, 3, 1};
  for (int p = 0; p < 2; p++) {
    ax_tokenizer *t = load(paths[p]);
    for (int i = 0; i < 5; i++) {
      int32_t ids[16];
      cr_assert_eq(ax_tokenizer_encode(t, bad[i], strlen(bad[i]), ids, 16, NULL, err, sizeof err), -1);
      char want[64];
      snprintf(want, sizeof want, "not UTF-8 (byte offset %zu", at[i]);
      cr_assert(strstr(err, want), "%s: want '%s'", err, want);
    }
    ax_tokenizer_free(t);
  }
}

static void expect_load_error(const char *path, const char *what) {
  err[0] = 0;
  cr_assert_null(ax_tokenizer_load(path, err, sizeof err), "%s loaded", path);
  cr_assert(strstr(err, what), "%s: '%s' does not say '%s'", path, err, what);
}

Test(tokenizer, bad_files_are_clear_errors) {
  write_file("trunc.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0,");
  expect_load_error(in_dir("trunc.json"), "malformed JSON");
  write_file("list.json", "[1, 2, 3]");
  expect_load_error(in_dir("list.json"), "no \"model\" object");
  write_file("type.json", "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
  expect_load_error(in_dir("type.json"), "model type Unigram is not supported");
  write_file("vocab.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": [\"a\", \"b\"]}}");
  expect_load_error(in_dir("vocab.json"), "not a JSON object");
  write_file("ids.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": \"zero\"}}}");
  expect_load_error(in_dir("ids.json"), "is not an id");
  write_file("neg.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": -4}}}");
  expect_load_error(in_dir("neg.json"), "is not an id");
  write_file("dup.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0, \"b\": 0, \"[UNK]\": 1}}}");
  expect_load_error(in_dir("dup.json"), "repeats");
  write_file("nounk.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0, \"b\": 1}}}");
  expect_load_error(in_dir("nounk.json"), "no unknown token '[UNK]'");
  write_file("nounk.txt", "[PAD]\n[CLS]\n[SEP]\nhello\n");
  expect_load_error(in_dir("nounk.txt"), "no unknown token '[UNK]'");
  write_file("norm.json", "{\"normalizer\": {\"type\": \"NFKC\"}, \"model\": {\"type\": \"WordPiece\", \"vocab\": "
                          "{\"[UNK]\": 0}}}");
  expect_load_error(in_dir("norm.json"), "normalizer NFKC is not supported");
  const char *bpe_head = "{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", ";
  char s[512];
  snprintf(s, sizeof s, "%s\"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b\"]}}", bpe_head);
  write_file("merge.json", s);
  expect_load_error(in_dir("merge.json"), "merge 1 ('a' 'b'): the merged token is not in the vocabulary");
  snprintf(s, sizeof s, "%s\"vocab\": {\"a\": 0}, \"merges\": [\"a\"]}}", bpe_head);
  write_file("merge2.json", s);
  expect_load_error(in_dir("merge2.json"), "is not two tokens");
  snprintf(s, sizeof s, "%s\"vocab\": {\"a\": 0}, \"merges\": {\"a\": 1}}}", bpe_head);
  write_file("merge3.json", s);
  expect_load_error(in_dir("merge3.json"), "\"merges\" is not an array");
  write_file("pre.json", "{\"pre_tokenizer\": {\"type\": \"Whitespace\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {}, "
                         "\"merges\": []}}");
  expect_load_error(in_dir("pre.json"), "needs the ByteLevel pre-tokenizer");
  write_file("empty.json", "");
  expect_load_error(in_dir("empty.json"), "malformed JSON");
  expect_load_error(in_dir("missing.json"), "No such file");
  cr_assert_eq(mkdir(in_dir("emptydir"), 0755), 0);
  expect_load_error(in_dir("emptydir"), "no tokenizer.json, vocab.txt, or vocab.json + merges.txt");
}

Test(tokenizer, decode_errors) {
  ax_tokenizer *t = load(FIX "/wordpiece");
  int32_t ids[] = {2, 5000, 3};
  char out[64];
  cr_assert_eq(ax_tokenizer_decode(t, ids, 3, true, out, sizeof out, err, sizeof err), -1);
  cr_assert(strstr(err, "id 5000 (position 1)"), "%s", err);
  int32_t ok[] = {2, 100, 101, 102, 3};
  cr_assert_eq(ax_tokenizer_decode(t, ok, 5, true, out, 3, err, sizeof err), -1);
  cr_assert(strstr(err, "does not fit"), "%s", err);
  ax_tokenizer_free(t);
}

Test(tokenizer, wordpiece_long_words_and_specials) {
  ax_tokenizer *t = load(FIX "/wordpiece");
  char s[128];
  memset(s, 'a', 101);
  s[101] = 0;
  int32_t ids[8];
  cr_assert_eq(ax_tokenizer_encode(t, s, 101, ids, 8, NULL, err, sizeof err), 3); /* [CLS] [UNK] [SEP] */
  cr_assert_eq(ids[1], ax_tokenizer_token_id(t, "[UNK]"));
  ax_encode_opts o = {.no_special_tokens = true};
  cr_assert_eq(ax_tokenizer_encode(t, "[MASK]", 6, ids, 8, &o, err, sizeof err), 1);
  cr_assert_eq(ids[0], ax_tokenizer_token_id(t, "[MASK]"));
  ax_tokenizer_free(t);
}

Test(tokenizer, nul_bytes_are_text) {
  ax_tokenizer *t = load(FIX "/wordpiece");
  int32_t a[8], b[8];
  int na = ax_tokenizer_encode(t, "a\0b", 3, a, 8, NULL, err, sizeof err); /* clean_text drops NUL: "ab" */
  int nb = ax_tokenizer_encode(t, "ab", 2, b, 8, NULL, err, sizeof err);
  cr_assert_eq(na, nb);
  cr_assert_arr_eq(a, b, na * sizeof *a);
  ax_tokenizer_free(t);
  t = load(FIX "/bpe");
  cr_assert_eq(ax_tokenizer_encode(t, "\0", 1, a, 8, NULL, err, sizeof err), 1); /* byte 0's character */
  char s[4];
  cr_assert_eq(ax_tokenizer_decode(t, a, 1, false, s, sizeof s, err, sizeof err), 1);
  cr_assert_eq(s[0], 0);
  ax_tokenizer_free(t);
}

Test(tokenizer, bpe_long_piece_round_trips) {
  ax_tokenizer *t = load(FIX "/bpe");
  size_t n = 200000;
  char *s = malloc(n + 1), *back = malloc(n + 1);
  for (size_t i = 0; i < n; i++) s[i] = "theqick"[i % 7]; /* one pre-split piece of 200 k letters */
  s[n] = 0;
  int k = ax_tokenizer_encode(t, s, n, NULL, 0, NULL, err, sizeof err);
  cr_assert_gt(k, 0, "%s", err);
  cr_assert_lt(k, (int)n / 2); /* merges happened */
  int32_t *ids = malloc(k * sizeof *ids);
  cr_assert_eq(ax_tokenizer_encode(t, s, n, ids, k, NULL, err, sizeof err), k);
  cr_assert_eq(ax_tokenizer_decode(t, ids, k, false, back, n + 1, err, sizeof err), (int)n, "%s", err);
  cr_assert_str_eq(back, s);
  free(s), free(back), free(ids);
  ax_tokenizer_free(t);
}
