/* SPDX-License-Identifier: BSD-3-Clause */
/* Loading a tokenizer (include/axon/tokenizer.h): tokenizer.json, vocab.txt
 * (+ tokenizer_config.json), or vocab.json + merges.txt. JSON through cJSON. */
#define _DEFAULT_SOURCE
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fail.h"
#include "nn/data/tokenizer_internal.h"
#include "nn/data/unicode.h"

#define MAX_FILE (1u << 30)
#define MAX_VOCAB (1 << 24)

/* a whole file, NUL-terminated; NULL with the reason */
static char *read_file(const char *path, size_t *len, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) return AX__FAIL_NULL(err, errlen, "%s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_FILE) {
    fclose(f);
    return AX__FAIL_NULL(err, errlen, "%s: not a regular file under 1 GiB", path);
  }
  char *s = malloc((size_t)st.st_size + 1);
  size_t n = s ? fread(s, 1, (size_t)st.st_size, f) : 0;
  fclose(f);
  if (!s || n != (size_t)st.st_size) {
    free(s);
    return AX__FAIL_NULL(err, errlen, "%s: cannot read the file", path);
  }
  s[n] = 0;
  *len = n;
  return s;
}

static cJSON *parse_json(const char *path, char *err, size_t errlen) {
  size_t len;
  char *s = read_file(path, &len, err, errlen);
  if (!s) return NULL;
  const char *end = NULL;
  cJSON *j = cJSON_ParseWithLengthOpts(s, len, &end, false);
  size_t at = end ? (size_t)(end - s) : 0;
  free(s);
  if (!j) return AX__FAIL_NULL(err, errlen, "%s: malformed JSON near byte %zu", path, at);
  return j;
}

static ax_tokenizer *tok_new(ax_tokenizer_kind kind) {
  ax_tokenizer *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->kind = kind;
  t->unk = t->cls = t->sep = -1;
  t->max_chars = 100;
  if (kind == AX_TOKENIZER_WORDPIECE) strcpy(t->prefix, "##");
  ax__bpe_byte_map(t->byte_char);
  memset(t->char_byte, 0xff, sizeof t->char_byte);
  for (int b = 0; b < 256; b++) t->char_byte[t->byte_char[b]] = (int16_t)b;
  return t;
}

void ax_tokenizer_free(ax_tokenizer *t) {
  if (!t) return;
  ax__vocab_free(&t->v);
  for (int i = 0; i < t->nadded; i++) free(t->added[i].cp);
  free(t->added);
  free(t->merges);
  free(t);
}

/* the largest id of a {"token": id} object and of the added tokens, + 1; -1 when a value is not an id */
static int count_ids(const cJSON *vocab, const cJSON *added, const char *path, char *err, size_t errlen) {
  int n = 0;
  for (const cJSON *e = vocab->child; e; e = e->next) {
    if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= MAX_VOCAB || e->valuedouble != (int)e->valuedouble)
      return ax__fail(err, errlen, "%s: the vocabulary entry '%.40s' is not an id (an integer 0..%d)", path,
                      e->string ? e->string : "", MAX_VOCAB - 1);
    if ((int)e->valuedouble + 1 > n) n = (int)e->valuedouble + 1;
  }
  for (const cJSON *a = added ? added->child : NULL; a; a = a->next) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(a, "id"), *c = cJSON_GetObjectItemCaseSensitive(a, "content");
    if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= MAX_VOCAB || !cJSON_IsString(c))
      return ax__fail(err, errlen, "%s: an added token needs an \"id\" (0..%d) and a \"content\" string", path,
                      MAX_VOCAB - 1);
    if ((int)id->valuedouble + 1 > n) n = (int)id->valuedouble + 1;
  }
  return n;
}

/* the model's vocabulary object plus the added tokens (marked special when they say so) */
static int load_vocab(ax_tokenizer *t, const cJSON *vocab, const cJSON *added, const char *path, char *err,
                      size_t errlen) {
  if (!cJSON_IsObject(vocab)) return ax__fail(err, errlen, "%s: the vocabulary is not a JSON object", path);
  if (added && !cJSON_IsArray(added)) return ax__fail(err, errlen, "%s: \"added_tokens\" is not an array", path);
  int n = count_ids(vocab, added, path, err, errlen);
  if (n < 0) return -1;
  if (ax__vocab_init(&t->v, n) != 0) return ax__fail(err, errlen, "%s: out of memory", path);
  for (const cJSON *e = vocab->child; e; e = e->next)
    if (ax__vocab_set(&t->v, (int)e->valuedouble, e->string, strlen(e->string)) != 0)
      return ax__fail(err, errlen, "%s: the vocabulary repeats the token '%.40s' or its id %d", path, e->string,
                      (int)e->valuedouble);
  for (const cJSON *a = added ? added->child : NULL; a; a = a->next) {
    int id = (int)cJSON_GetObjectItemCaseSensitive(a, "id")->valuedouble;
    const char *c = cJSON_GetObjectItemCaseSensitive(a, "content")->valuestring;
    int have = ax__vocab_find(&t->v, c, strlen(c));
    if (have != id && ax__vocab_set(&t->v, id, c, strlen(c)) != 0)
      return ax__fail(err, errlen, "%s: the added token '%.40s' (id %d) clashes with the vocabulary", path, c, id);
    t->v.special[id] = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "special"));
    /* matched in the raw text; tokens matched after normalization ("normalized": true) are not */
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "normalized")) && ax__added_add(t, c, id))
      return ax__fail(err, errlen, "%s: out of memory", path);
  }
  return 0;
}

static bool json_flag(const cJSON *o, const char *key, bool dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

/* the BertNormalizer's options; a null normalizer is none; another type is refused */
static int wordpiece_normalizer(ax_tokenizer *t, const cJSON *norm, const char *path, char *err, size_t errlen) {
  if (!norm || cJSON_IsNull(norm)) return 0;
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(norm, "type");
  if (!cJSON_IsString(type) || strcmp(type->valuestring, "BertNormalizer"))
    return ax__fail(err, errlen, "%s: normalizer %s is not supported (only BertNormalizer)", path,
                    cJSON_IsString(type) ? type->valuestring : "(no type)");
  t->clean_text = json_flag(norm, "clean_text", true);
  t->chinese_chars = json_flag(norm, "handle_chinese_chars", true);
  t->lowercase = json_flag(norm, "lowercase", true);
  t->strip_accents = json_flag(norm, "strip_accents", t->lowercase); /* null: as lowercase */
  return 0;
}

static int wordpiece_specials(ax_tokenizer *t, const char *unk, const char *path, char *err, size_t errlen) {
  t->unk = ax_tokenizer_token_id(t, unk);
  if (t->unk < 0) return ax__fail(err, errlen, "%s: the vocabulary has no unknown token '%s'", path, unk);
  t->cls = ax_tokenizer_token_id(t, "[CLS]");
  t->sep = ax_tokenizer_token_id(t, "[SEP]");
  return 0;
}

static int json_wordpiece(ax_tokenizer *t, const cJSON *root, const cJSON *model, const char *path, char *err,
                          size_t errlen) {
  if (load_vocab(t, cJSON_GetObjectItemCaseSensitive(model, "vocab"),
                 cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), path, err, errlen))
    return -1;
  const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
  const cJSON *pre = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix");
  const cJSON *mx = cJSON_GetObjectItemCaseSensitive(model, "max_input_chars_per_word");
  if (cJSON_IsString(pre)) {
    if (strlen(pre->valuestring) >= sizeof t->prefix)
      return ax__fail(err, errlen, "%s: continuing_subword_prefix is too long", path);
    strcpy(t->prefix, pre->valuestring);
  }
  if (cJSON_IsNumber(mx)) t->max_chars = mx->valuedouble < 0 ? 0 : mx->valuedouble > 1e9 ? 1000000000 : (int)mx->valuedouble;
  if (wordpiece_normalizer(t, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), path, err, errlen)) return -1;
  if (wordpiece_specials(t, cJSON_IsString(unk) ? unk->valuestring : "[UNK]", path, err, errlen)) return -1;
  const cJSON *dec = cJSON_GetObjectItemCaseSensitive(root, "decoder");
  t->cleanup = json_flag(dec, "cleanup", true);
  const cJSON *post = cJSON_GetObjectItemCaseSensitive(root, "post_processor");
  if (!post || cJSON_IsNull(post)) t->cls = t->sep = -1; /* no post-processor: no [CLS]/[SEP] */
  return 0;
}

/* one merge, "a b" or ["a", "b"]: its ids and the merged token's */
static int add_merge(ax_tokenizer *t, const char *a, size_t la, const char *b, size_t lb, int rank, const char *path,
                     char *err, size_t errlen) {
  char *ab = malloc(la + lb + 1);
  if (!ab) return ax__fail(err, errlen, "%s: out of memory", path);
  memcpy(ab, a, la), memcpy(ab + la, b, lb);
  int ia = ax__vocab_find(&t->v, a, la), ib = ax__vocab_find(&t->v, b, lb), iab = ax__vocab_find(&t->v, ab, la + lb);
  free(ab);
  if (ia < 0 || ib < 0 || iab < 0)
    return ax__fail(err, errlen, "%s: merge %d ('%.*s' '%.*s'): %s is not in the vocabulary", path, rank + 1,
                    (int)(la > 40 ? 40 : la), a, (int)(lb > 40 ? 40 : lb), b,
                    ia < 0 ? "the first part" : ib < 0 ? "the second part" : "the merged token");
  if (ax__merges_add(t, ia, ib, rank, iab)) return ax__fail(err, errlen, "%s: out of memory", path);
  return 0;
}

static int json_merges(ax_tokenizer *t, const cJSON *merges, const char *path, char *err, size_t errlen) {
  if (!cJSON_IsArray(merges)) return ax__fail(err, errlen, "%s: the BPE model's \"merges\" is not an array", path);
  int rank = 0;
  for (const cJSON *m = merges->child; m; m = m->next, rank++) {
    if (cJSON_IsString(m)) {
      const char *s = m->valuestring, *sp = strchr(s, ' ');
      if (!sp || strchr(sp + 1, ' '))
        return ax__fail(err, errlen, "%s: merge %d ('%.40s') is not two tokens with one space", path, rank + 1, s);
      if (add_merge(t, s, sp - s, sp + 1, strlen(sp + 1), rank, path, err, errlen)) return -1;
    } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
               cJSON_IsString(m->child->next)) {
      const char *a = m->child->valuestring, *b = m->child->next->valuestring;
      if (add_merge(t, a, strlen(a), b, strlen(b), rank, path, err, errlen)) return -1;
    } else
      return ax__fail(err, errlen, "%s: merge %d is neither \"a b\" nor [\"a\", \"b\"]", path, rank + 1);
  }
  return 0;
}

static void bpe_bytes(ax_tokenizer *t) {
  for (int b = 0; b < 256; b++) {
    char s[4];
    t->byte_id[b] = ax__vocab_find(&t->v, s, ax__utf8_put(t->byte_char[b], s));
  }
}

/* GPT-2's setup: no normalizer, the ByteLevel pre-tokenizer without add_prefix_space */
static int bpe_check_pipeline(const cJSON *root, const char *path, char *err, size_t errlen) {
  const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
  if (norm && !cJSON_IsNull(norm)) return ax__fail(err, errlen, "%s: a BPE tokenizer with a normalizer is not supported", path);
  const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(pre, "type");
  if (!cJSON_IsString(type) || strcmp(type->valuestring, "ByteLevel"))
    return ax__fail(err, errlen, "%s: BPE needs the ByteLevel pre-tokenizer (GPT-2's), not %s", path,
                    cJSON_IsString(type) ? type->valuestring : "none");
  if (json_flag(pre, "add_prefix_space", false) || !json_flag(pre, "use_regex", true))
    return ax__fail(err, errlen, "%s: ByteLevel with add_prefix_space or without use_regex is not supported", path);
  return 0;
}

static int json_bpe(ax_tokenizer *t, const cJSON *root, const cJSON *model, const char *path, char *err,
                    size_t errlen) {
  if (bpe_check_pipeline(root, path, err, errlen)) return -1;
  const char *opts[] = {"continuing_subword_prefix", "end_of_word_suffix", "dropout"};
  for (int i = 0; i < 3; i++) {
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(model, opts[i]);
    if (o && !cJSON_IsNull(o) && !(cJSON_IsString(o) && !o->valuestring[0]))
      return ax__fail(err, errlen, "%s: the BPE option %s is not supported", path, opts[i]);
  }
  if (load_vocab(t, cJSON_GetObjectItemCaseSensitive(model, "vocab"),
                 cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), path, err, errlen))
    return -1;
  if (json_merges(t, cJSON_GetObjectItemCaseSensitive(model, "merges"), path, err, errlen)) return -1;
  const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
  if (cJSON_IsString(unk)) t->unk = ax_tokenizer_token_id(t, unk->valuestring);
  t->ignore_merges = json_flag(model, "ignore_merges", false);
  bpe_bytes(t);
  return 0;
}

static ax_tokenizer *load_tokenizer_json(const char *path, char *err, size_t errlen) {
  cJSON *root = parse_json(path, err, errlen);
  if (!root) return NULL;
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
  ax_tokenizer *t = NULL;
  int rc = -1;
  if (!cJSON_IsObject(root) || !cJSON_IsObject(model))
    ax__fail(err, errlen, "%s: no \"model\" object (not a tokenizer.json)", path);
  else if (!cJSON_IsString(type) || (strcmp(type->valuestring, "WordPiece") && strcmp(type->valuestring, "BPE")))
    ax__fail(err, errlen, "%s: model type %s is not supported (WordPiece or BPE)", path,
             cJSON_IsString(type) ? type->valuestring : "(none)");
  else if (!(t = tok_new(type->valuestring[0] == 'W' ? AX_TOKENIZER_WORDPIECE : AX_TOKENIZER_BPE)))
    ax__fail(err, errlen, "%s: out of memory", path);
  else
    rc = t->kind == AX_TOKENIZER_WORDPIECE ? json_wordpiece(t, root, model, path, err, errlen)
                                           : json_bpe(t, root, model, path, err, errlen);
  cJSON_Delete(root);
  if (rc) ax_tokenizer_free(t);
  return rc ? NULL : t;
}

/* vocab.txt: one token a line, the id its line number; options from tokenizer_config.json */
static ax_tokenizer *load_vocab_txt(const char *path, const char *config, char *err, size_t errlen) {
  size_t len;
  char *s = read_file(path, &len, err, errlen);
  ax_tokenizer *t = s ? tok_new(AX_TOKENIZER_WORDPIECE) : NULL;
  if (!t) return free(s), s ? AX__FAIL_NULL(err, errlen, "%s: out of memory", path) : NULL;
  int n = 0;
  for (size_t i = 0; i < len; i++) n += s[i] == '\n';
  n += len && s[len - 1] != '\n';
  int rc = ax__vocab_init(&t->v, n) ? ax__fail(err, errlen, "%s: out of memory", path) : 0;
  char *p = s;
  for (int id = 0; id < n && !rc; id++) {
    char *e = memchr(p, '\n', s + len - p);
    size_t l = e ? (size_t)(e - p) : (size_t)(s + len - p);
    size_t tl = l && p[l - 1] == '\r' ? l - 1 : l;
    if (ax__vocab_set(&t->v, id, p, tl))
      rc = ax__fail(err, errlen, "%s: line %d ('%.*s') repeats a token or holds a NUL byte", path, id + 1,
                    (int)(tl > 40 ? 40 : tl), p);
    p += l + 1;
  }
  free(s);
  t->clean_text = t->chinese_chars = t->lowercase = t->cleanup = true;
  cJSON *c = !rc && config ? parse_json(config, err, errlen) : NULL;
  if (!rc && config && !c) rc = -1;
  if (c) {
    t->lowercase = json_flag(c, "do_lower_case", true);
    t->chinese_chars = json_flag(c, "tokenize_chinese_chars", true);
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(c, "unk_token");
    t->strip_accents = json_flag(c, "strip_accents", t->lowercase);
    rc = wordpiece_specials(t, cJSON_IsString(unk) ? unk->valuestring : "[UNK]", path, err, errlen);
    cJSON_Delete(c);
  } else if (!rc) {
    t->strip_accents = true;
    rc = wordpiece_specials(t, "[UNK]", path, err, errlen);
  }
  static const char *const specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (int i = 0; !rc && i < 5; i++) { /* BERT's special tokens: never split, dropped by decode */
    int id = ax_tokenizer_token_id(t, specials[i]);
    if (id >= 0) t->v.special[id] = true;
    if (id >= 0 && ax__added_add(t, specials[i], id)) rc = ax__fail(err, errlen, "%s: out of memory", path);
  }
  if (rc) return ax_tokenizer_free(t), NULL;
  return t;
}

/* merges.txt: "#version" first line skipped, then "a b" a line */
static int merges_txt(ax_tokenizer *t, const char *path, char *err, size_t errlen) {
  size_t len;
  char *s = read_file(path, &len, err, errlen);
  if (!s) return -1;
  int rc = 0, rank = 0, line = 0;
  for (char *p = s; p < s + len && !rc; line++) {
    char *e = memchr(p, '\n', s + len - p);
    size_t l = e ? (size_t)(e - p) : (size_t)(s + len - p);
    if (l && p[l - 1] == '\r') l--;
    if (!(line == 0 && l >= 8 && !strncmp(p, "#version", 8)) && l) {
      char *sp = memchr(p, ' ', l);
      if (!sp || memchr(sp + 1, ' ', p + l - sp - 1))
        rc = ax__fail(err, errlen, "%s: line %d is not two tokens with one space", path, line + 1);
      else
        rc = add_merge(t, p, sp - p, sp + 1, p + l - sp - 1, rank++, path, err, errlen);
    }
    p = e ? e + 1 : s + len;
  }
  free(s);
  return rc;
}

static ax_tokenizer *load_vocab_merges(const char *vocab, const char *merges, char *err, size_t errlen) {
  cJSON *v = parse_json(vocab, err, errlen);
  if (!v) return NULL;
  ax_tokenizer *t = tok_new(AX_TOKENIZER_BPE);
  int rc = t ? load_vocab(t, v, NULL, vocab, err, errlen) : ax__fail(err, errlen, "%s: out of memory", vocab);
  cJSON_Delete(v);
  if (!rc) rc = merges_txt(t, merges, err, errlen);
  if (!rc) {
    int eot = ax_tokenizer_token_id(t, "<|endoftext|>");
    if (eot >= 0) t->v.special[eot] = true;
    if (eot >= 0 && ax__added_add(t, "<|endoftext|>", eot)) rc = ax__fail(err, errlen, "%s: out of memory", vocab);
    bpe_bytes(t);
  }
  if (rc) return ax_tokenizer_free(t), NULL;
  return t;
}

static bool exists(const char *dir, const char *name, char *buf, size_t n) {
  struct stat st;
  snprintf(buf, n, "%s/%s", dir, name);
  return stat(buf, &st) == 0 && S_ISREG(st.st_mode);
}

static bool ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && !strcmp(s + a - b, suf);
}

ax_tokenizer *ax_tokenizer_load(const char *path, char *err, size_t errlen) {
  struct stat st;
  if (!path) return AX__FAIL_NULL(err, errlen, "tokenizer: no path");
  if (stat(path, &st) != 0) return AX__FAIL_NULL(err, errlen, "%s: %s", path, strerror(errno));
  if (!S_ISDIR(st.st_mode)) {
    if (ends_with(path, ".txt")) return load_vocab_txt(path, NULL, err, errlen);
    return load_tokenizer_json(path, err, errlen);
  }
  size_t n = strlen(path) + 32;
  char *a = malloc(n), *b = malloc(n);
  ax_tokenizer *t = NULL;
  if (!a || !b) ax__fail(err, errlen, "%s: out of memory", path);
  else if (exists(path, "tokenizer.json", a, n)) t = load_tokenizer_json(a, err, errlen);
  else if (exists(path, "vocab.txt", a, n))
    t = load_vocab_txt(a, exists(path, "tokenizer_config.json", b, n) ? b : NULL, err, errlen);
  else if (exists(path, "vocab.json", a, n) && exists(path, "merges.txt", b, n)) t = load_vocab_merges(a, b, err, errlen);
  else
    ax__fail(err, errlen, "%s: no tokenizer.json, vocab.txt, or vocab.json + merges.txt in the folder", path);
  free(a), free(b);
  return t;
}
