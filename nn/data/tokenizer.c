/* SPDX-License-Identifier: BSD-3-Clause */
/* Encoding, batches and decoding (include/axon/tokenizer.h); the loaders are in
 * tokenizer_load.c, the models in tokenizer_wordpiece.c and tokenizer_bpe.c. */
#include <stdlib.h>
#include <string.h>

#include "core/fail.h"
#include "nn/data/tokenizer_internal.h"
#include "nn/data/unicode.h"

ax_tokenizer_kind ax_tokenizer_type(const ax_tokenizer *t) { return t->kind; }
int ax_tokenizer_vocab_size(const ax_tokenizer *t) { return t ? t->v.n : 0; }

int ax_tokenizer_token_id(const ax_tokenizer *t, const char *s) {
  return t && s ? ax__vocab_find(&t->v, s, strlen(s)) : -1;
}

const char *ax_tokenizer_id_token(const ax_tokenizer *t, int id) {
  return t && id >= 0 && id < t->v.n ? t->v.tok[id] : NULL;
}

static bool adds_specials(const ax_tokenizer *t, const ax_encode_opts *o) {
  return t->kind == AX_TOKENIZER_WORDPIECE && !o->no_special_tokens && t->cls >= 0 && t->sep >= 0;
}

/* the longest added token at cp[i], or -1 */
static int added_at(const ax_tokenizer *t, const uint32_t *cp, size_t n, size_t i) {
  int best = -1;
  for (int k = 0; k < t->nadded; k++) {
    const ax__added *a = &t->added[k];
    if (a->n <= n - i && !memcmp(a->cp, cp + i, a->n * sizeof *cp) && (best < 0 || a->n > t->added[best].n)) best = k;
  }
  return best;
}

/* the model on the text between the added tokens (leftmost-longest matches) */
static int encode_cps(const ax_tokenizer *t, const uint32_t *cp, size_t n, ax__ids *out) {
  size_t start = 0;
  for (size_t i = 0; i <= n; i++) {
    int k = i < n ? added_at(t, cp, n, i) : -1;
    if (k < 0 && i < n) continue;
    int rc = t->kind == AX_TOKENIZER_WORDPIECE ? ax__wordpiece_encode(t, cp + start, i - start, out)
                                               : ax__bpe_encode(t, cp + start, i - start, out);
    if (rc) return -1;
    if (k < 0) break;
    ax__ids_push(out, t->added[k].id);
    i += t->added[k].n - 1;
    start = i + 1;
  }
  return 0;
}

/* all the ids of the text, truncated as asked, into *out (malloc'd); the count, or -1 */
static int encode_all(const ax_tokenizer *t, const char *text, size_t len, const ax_encode_opts *o, int32_t **out,
                      char *err, size_t errlen) {
  uint32_t *cp;
  size_t n, bad;
  if (ax__utf8_decode(text, len, &cp, &n, &bad) != 0)
    return bad == (size_t)-1 ? ax__fail(err, errlen, "tokenize: out of memory")
                             : ax__fail(err, errlen, "tokenize: the text is not UTF-8 (byte offset %zu: 0x%02x)",
                                        bad, (unsigned char)text[bad]);
  ax__ids ids = {0};
  int rc = encode_cps(t, cp, n, &ids);
  if (rc == 0) { /* second pass, now that the count is known */
    ids.v = malloc(((size_t)ids.n + 2) * sizeof *ids.v);
    ids.cap = ids.n;
    ids.n = 0;
    rc = ids.v ? encode_cps(t, cp, n, &ids) : -1;
  }
  free(cp);
  if (rc) return free(ids.v), ax__fail(err, errlen, "tokenize: out of memory");
  int extra = adds_specials(t, o) ? 2 : 0, total = ids.n + extra;
  if (o->max_length > 0 && total > o->max_length) {
    if (!o->truncation) {
      free(ids.v);
      return ax__fail(err, errlen, "tokenize: the input is %d tokens, over max_length %d (enable truncation)", total,
                      o->max_length);
    }
    if (o->max_length < extra) {
      free(ids.v);
      return ax__fail(err, errlen, "tokenize: max_length %d leaves no room for [CLS] and [SEP]", o->max_length);
    }
    ids.n = o->max_length - extra;
  }
  if (extra) {
    memmove(ids.v + 1, ids.v, (size_t)ids.n * sizeof *ids.v);
    ids.v[0] = t->cls;
    ids.v[ids.n + 1] = t->sep;
    ids.n += 2;
  }
  *out = ids.v;
  return ids.n;
}

int ax_tokenizer_encode(const ax_tokenizer *t, const char *text, size_t len, int32_t *ids, int cap,
                        const ax_encode_opts *opts, char *err, size_t errlen) {
  ax_encode_opts o = opts ? *opts : (ax_encode_opts){0};
  if (!t || (!text && len)) return ax__fail(err, errlen, "tokenize: no tokenizer or no text");
  if (o.max_length < 0) return ax__fail(err, errlen, "tokenize: max_length %d is negative", o.max_length);
  int32_t *all;
  int n = encode_all(t, text ? text : "", len, &o, &all, err, errlen);
  if (n < 0) return -1;
  if (n > cap || (n && !ids)) {
    free(all);
    if (!ids && !cap) return n;
    return ax__fail(err, errlen, "tokenize: %d ids do not fit the buffer of %d", n, cap);
  }
  memcpy(ids, all, (size_t)n * sizeof *ids);
  free(all);
  return n;
}

void ax_token_batch_free(ax_token_batch *b) {
  if (!b) return;
  free(b->ids), free(b->attention_mask), free(b->token_type_ids), free(b->lengths);
  memset(b, 0, sizeof *b);
}

static int pad_id(const ax_tokenizer *t, const ax_encode_opts *o, char *err, size_t errlen) {
  if (o->pad_token) {
    int id = ax_tokenizer_token_id(t, o->pad_token);
    return id >= 0 ? id : ax__fail(err, errlen, "tokenize: the pad token '%s' is not in the vocabulary", o->pad_token);
  }
  int id = ax_tokenizer_token_id(t, "[PAD]");
  if (id < 0) id = ax_tokenizer_token_id(t, "<|endoftext|>");
  return id < 0 ? 0 : id;
}

int ax_tokenizer_encode_batch(const ax_tokenizer *t, const char *const *texts, const size_t *lens, int n,
                              const ax_encode_opts *opts, ax_token_batch *out, char *err, size_t errlen) {
  ax_encode_opts o = opts ? *opts : (ax_encode_opts){0};
  memset(out, 0, sizeof *out);
  if (!t || n < 0 || (n && !texts)) return ax__fail(err, errlen, "tokenize: no tokenizer or no texts");
  if (o.padding == AX_PAD_MAX_LENGTH && o.max_length <= 0)
    return ax__fail(err, errlen, "tokenize: padding to max_length needs max_length > 0");
  int pad = pad_id(t, &o, err, errlen);
  if (pad < 0) return -1;
  int32_t **rows = calloc(n ? n : 1, sizeof *rows);
  out->lengths = calloc(n ? n : 1, sizeof *out->lengths);
  if (!rows || !out->lengths) return free(rows), ax_token_batch_free(out), ax__fail(err, errlen, "tokenize: out of memory");
  int longest = 0, rc = 0;
  for (int i = 0; i < n && !rc; i++) {
    const char *s = texts[i] ? texts[i] : "";
    char e[256];
    int k = encode_all(t, s, lens ? lens[i] : strlen(s), &o, &rows[i], e, sizeof e);
    if (k < 0) rc = ax__fail(err, errlen, "row %d: %s", i, e);
    else out->lengths[i] = k, longest = k > longest ? k : longest;
  }
  int len = o.padding == AX_PAD_MAX_LENGTH ? o.max_length : longest;
  size_t total = (size_t)n * (size_t)len;
  if (!rc) {
    out->ids = malloc((total ? total : 1) * sizeof *out->ids);
    out->attention_mask = malloc((total ? total : 1) * sizeof *out->attention_mask);
    out->token_type_ids = calloc(total ? total : 1, sizeof *out->token_type_ids);
    if (!out->ids || !out->attention_mask || !out->token_type_ids) rc = ax__fail(err, errlen, "tokenize: out of memory");
  }
  for (int i = 0; i < n && !rc; i++)
    for (int j = 0; j < len; j++) {
      bool tok = j < out->lengths[i];
      out->ids[(size_t)i * len + j] = tok ? rows[i][j] : pad;
      out->attention_mask[(size_t)i * len + j] = tok;
    }
  for (int i = 0; i < n; i++) free(rows[i]);
  free(rows);
  if (rc) return ax_token_batch_free(out), -1;
  out->n = n, out->len = len;
  return 0;
}

/* a BPE token's characters back to bytes at out + *k (a token with a character outside the
 * byte map, an added token, as it is: the ByteLevel decoder's rule); -1 when out is full */
static int bpe_bytes_out(const ax_tokenizer *t, const char *tok, char *out, size_t cap, size_t *k) {
  size_t len = strlen(tok), n = 0, bad, at = *k;
  uint32_t *cp = NULL;
  bool raw = ax__utf8_decode(tok, len, &cp, &n, &bad) != 0;
  for (size_t i = 0; i < n && !raw; i++) {
    int b = cp[i] < 0x144 ? t->char_byte[cp[i]] : -1;
    if (b < 0) raw = true;
    else if (at + 1 >= cap) return free(cp), -1;
    else out[at++] = (char)b;
  }
  free(cp);
  if (raw) {
    if (*k + len + 1 > cap) return -1;
    memcpy(out + *k, tok, len);
    at = *k + len;
  }
  *k = at;
  return 0;
}

/* the WordPiece decoder's cleanup: no space before these (the tokenizers library's list) */
static bool glued(const char *tok) {
  static const char *const starts[] = {".", "?", "!", ",", "n't", "'m", "'s", "'ve", "'re"};
  for (size_t i = 0; i < sizeof starts / sizeof *starts; i++)
    if (!strncmp(tok, starts[i], strlen(starts[i]))) return true;
  return false;
}

int ax_tokenizer_decode(const ax_tokenizer *t, const int32_t *ids, int n, bool skip_special, char *out, size_t cap,
                        char *err, size_t errlen) {
  if (!t || !out || !cap || n < 0 || (n && !ids)) return ax__fail(err, errlen, "decode: no tokenizer, ids or buffer");
  size_t k = 0, plen = strlen(t->prefix);
  bool wp = t->kind == AX_TOKENIZER_WORDPIECE, first = true;
  for (int i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= t->v.n || !t->v.tok[ids[i]])
      return ax__fail(err, errlen, "decode: id %d (position %d) is not in the vocabulary of %d", ids[i], i, t->v.n);
    if (skip_special && t->v.special[ids[i]]) continue;
    const char *tok = t->v.tok[ids[i]];
    if (!wp) {
      if (bpe_bytes_out(t, tok, out, cap, &k)) return ax__fail(err, errlen, "decode: the text does not fit %zu bytes", cap);
      continue;
    }
    size_t len = strlen(tok);
    bool space = false;
    if (!first) { /* as the WordPiece decoder: the prefix dropped, else a space (but see glued) */
      if (plen && !strncmp(tok, t->prefix, plen)) tok += plen, len -= plen;
      else space = !(t->cleanup && glued(tok));
    }
    if (k + space + len + 1 > cap) return ax__fail(err, errlen, "decode: the text does not fit %zu bytes", cap);
    if (space) out[k++] = ' ';
    memcpy(out + k, tok, len);
    k += len;
    first = false;
  }
  out[k] = 0;
  return (int)k;
}
