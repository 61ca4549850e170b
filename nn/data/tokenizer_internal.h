/* SPDX-License-Identifier: BSD-3-Clause */
/* The tokenizer's inside (include/axon/tokenizer.h): the vocabulary as a hash
 * table, the WordPiece options, the BPE merges and byte map. */
#ifndef AXON_NN_DATA_TOKENIZER_INTERNAL_H
#define AXON_NN_DATA_TOKENIZER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "axon/tokenizer.h"

typedef struct ax__vocab {
  char **tok;      /* id -> token (NUL-terminated), NULL for an unused id */
  bool *special;   /* id -> a special (added) token */
  int n;           /* ids 0..n-1 */
  int32_t *slots;  /* open addressing: id or -1 */
  size_t nslots;   /* a power of two */
} ax__vocab;

typedef struct ax__merge {
  uint64_t key; /* (left id << 32) | right id; UINT64_MAX empty */
  int32_t rank, id;
} ax__merge;

/* a token matched in the raw text before the model runs ([CLS], <|endoftext|>) */
typedef struct ax__added {
  uint32_t *cp;
  size_t n;
  int id;
} ax__added;

struct ax_tokenizer {
  ax_tokenizer_kind kind;
  ax__vocab v;
  ax__added *added;
  int nadded;
  /* WordPiece */
  bool clean_text, chinese_chars, strip_accents, lowercase;
  bool cleanup; /* the decoder's: no space before . ? ! , n't 's ... */
  int max_chars; /* max_input_chars_per_word */
  int unk, cls, sep;
  char prefix[16]; /* continuing_subword_prefix, "##" */
  /* BPE */
  ax__merge *merges;
  size_t nmerge_slots, nmerges;
  bool ignore_merges;
  int byte_id[256];          /* the id of each byte's character, -1 if not in the vocabulary */
  uint32_t byte_char[256];   /* GPT-2's byte -> code point map */
  int16_t char_byte[0x144];  /* and back: -1 for a code point that is no byte's */
};

int ax__vocab_init(ax__vocab *v, int n);
int ax__vocab_set(ax__vocab *v, int id, const char *s, size_t len); /* 0, -1 duplicate id or out of memory */
int ax__vocab_find(const ax__vocab *v, const char *s, size_t len);
void ax__vocab_free(ax__vocab *v);

/* adds a token matched in the raw text; 0, or -1 out of memory */
int ax__added_add(ax_tokenizer *t, const char *s, int id);
int ax__merges_add(ax_tokenizer *t, int a, int b, int rank, int id);
const ax__merge *ax__merges_find(const ax_tokenizer *t, int a, int b);
void ax__bpe_byte_map(uint32_t map[256]);

/* an id sink: appends, counting past cap */
typedef struct ax__ids {
  int32_t *v;
  int n, cap;
} ax__ids;
static inline void ax__ids_push(ax__ids *o, int32_t id) {
  if (o->n < o->cap) o->v[o->n] = id;
  o->n++;
}

/* encode the code points (already validated UTF-8) without special tokens; -1 out of memory */
int ax__wordpiece_encode(const ax_tokenizer *t, const uint32_t *cp, size_t n, ax__ids *out);
int ax__bpe_encode(const ax_tokenizer *t, const uint32_t *cp, size_t n, ax__ids *out);

#endif
