/* SPDX-License-Identifier: BSD-3-Clause */
/* Tokenizers: Hugging Face's WordPiece (BERT) and GPT-2's byte-level BPE, in C,
 * producing the ids of the `tokenizers` library (docs/tokenizers.md has what was
 * checked against it).
 *
 * ax_tokenizer_load takes a file or a folder:
 *   - tokenizer.json (a file, or in the folder): "model" WordPiece or BPE; for
 *     WordPiece the "normalizer" BertNormalizer options (clean_text,
 *     handle_chinese_chars, strip_accents, lowercase); for BPE the ByteLevel
 *     pre-tokenizer (GPT-2's pre-split and byte map) is assumed;
 *   - a folder with vocab.txt (WordPiece; tokenizer_config.json's do_lower_case
 *     and strip_accents when present, else lower-casing as BERT uncased);
 *   - a folder with vocab.json + merges.txt (byte-level BPE).
 * JSON is parsed with cJSON. Every failure (missing file, malformed JSON, JSON of
 * the wrong shape, a WordPiece vocab without [UNK]) is NULL with a one-line
 * reason in err (which may be NULL); nothing aborts.
 *
 * Encoding takes UTF-8 (text that is not UTF-8 is an error naming the byte
 * offset). WordPiece adds [CLS] ... [SEP] unless no_special_tokens; BPE adds
 * nothing. Added tokens written in the text ("[MASK]", "<|endoftext|>") are NOT
 * matched as special tokens: they are tokenized as text.
 * A tokenizer is read-only after loading: one may encode from many threads. */
#ifndef AXON_TOKENIZER_H
#define AXON_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ax_tokenizer ax_tokenizer;

typedef enum ax_tokenizer_kind { AX_TOKENIZER_WORDPIECE, AX_TOKENIZER_BPE } ax_tokenizer_kind;

typedef enum ax_padding {
  AX_PAD_NONE,       /* batches: rows as long as the longest (the same as LONGEST: a batch is a matrix) */
  AX_PAD_LONGEST,    /* to the longest row of the batch */
  AX_PAD_MAX_LENGTH, /* to max_length */
} ax_padding;

typedef struct ax_encode_opts {
  bool no_special_tokens; /* leave out the [CLS]/[SEP] a WordPiece tokenizer adds */
  int max_length;         /* 0: no limit; else at most this many ids, special tokens included */
  bool truncation;        /* cut a longer input to max_length (else a longer input is an error) */
  ax_padding padding;     /* batches only */
  const char *pad_token;  /* NULL: [PAD], else <|endoftext|>, else id 0 */
} ax_encode_opts;

/* a batch: n rows of len ids each, row-major; attention_mask 1 on tokens, 0 on padding;
 * token_type_ids all 0 (one sequence); lengths[i] the unpadded length of row i */
typedef struct ax_token_batch {
  int n, len;
  int32_t *ids, *attention_mask, *token_type_ids, *lengths;
} ax_token_batch;

ax_tokenizer *ax_tokenizer_load(const char *path_or_dir, char *err, size_t errlen);
void ax_tokenizer_free(ax_tokenizer *tok);
ax_tokenizer_kind ax_tokenizer_type(const ax_tokenizer *tok);
int ax_tokenizer_vocab_size(const ax_tokenizer *tok);
/* the id of a token string ("[CLS]", "##ing", "Ġthe"), or -1 */
int ax_tokenizer_token_id(const ax_tokenizer *tok, const char *token);
/* the string of an id (owned by the tokenizer), or NULL out of range */
const char *ax_tokenizer_id_token(const ax_tokenizer *tok, int id);

/* Encodes len bytes of UTF-8 into ids[0..cap). Returns the number of ids, or -1 with
 * the reason in err: not UTF-8 (names the byte offset), longer than max_length without
 * truncation, more ids than cap. ids may be NULL with cap 0 to count. */
int ax_tokenizer_encode(const ax_tokenizer *tok, const char *text, size_t len, int32_t *ids, int cap,
                        const ax_encode_opts *opts, char *err, size_t errlen);
/* Encodes n texts (lens NULL: NUL-terminated) into *out (freed with ax_token_batch_free),
 * padded on the right; 0, or -1 naming the row that failed. */
int ax_tokenizer_encode_batch(const ax_tokenizer *tok, const char *const *texts, const size_t *lens, int n,
                              const ax_encode_opts *opts, ax_token_batch *out, char *err, size_t errlen);
void ax_token_batch_free(ax_token_batch *b);

/* ids -> text into out[0..cap) (NUL-terminated). WordPiece joins tokens with spaces
 * and glues ## continuations; BPE maps the byte-level characters back to bytes.
 * skip_special drops the special tokens ([CLS], [SEP], [PAD], <|endoftext|>, ...).
 * Returns the length, or -1 (an id out of range, out too small). */
int ax_tokenizer_decode(const ax_tokenizer *tok, const int32_t *ids, int n, bool skip_special, char *out,
                        size_t cap, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
