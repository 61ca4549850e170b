/* SPDX-License-Identifier: BSD-3-Clause */
/* The tokenizer's tables: token strings <-> ids (open addressing, FNV-1a), the
 * BPE merges (pair of ids -> rank and merged id) and GPT-2's byte map. */
#include <stdlib.h>
#include <string.h>

#include "nn/data/tokenizer_internal.h"
#include "nn/data/unicode.h"

static uint64_t hash_str(const char *s, size_t len) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h;
}

static uint64_t hash_u64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

int ax__vocab_init(ax__vocab *v, int n) {
  memset(v, 0, sizeof *v);
  v->n = n;
  v->nslots = 16;
  while (v->nslots < 2 * (size_t)n + 16) v->nslots *= 2;
  v->tok = calloc(n ? n : 1, sizeof *v->tok);
  v->special = calloc(n ? n : 1, sizeof *v->special);
  v->slots = malloc(v->nslots * sizeof *v->slots);
  if (!v->tok || !v->special || !v->slots) return -1;
  memset(v->slots, 0xff, v->nslots * sizeof *v->slots);
  return 0;
}

int ax__vocab_find(const ax__vocab *v, const char *s, size_t len) {
  if (!v->slots) return -1;
  for (size_t i = hash_str(s, len) & (v->nslots - 1);; i = (i + 1) & (v->nslots - 1)) {
    int32_t id = v->slots[i];
    if (id < 0) return -1;
    const char *t = v->tok[id];
    if (strlen(t) == len && !memcmp(t, s, len)) return id;
  }
}

/* -1: the id is taken or out of range, or out of memory; a token string already present
 * under another id keeps its first id for look-ups (as the tokenizers library's map does not
 * allow either: the loader reports it) */
int ax__vocab_set(ax__vocab *v, int id, const char *s, size_t len) {
  if (id < 0 || id >= v->n || v->tok[id] || memchr(s, 0, len)) return -1;
  if (ax__vocab_find(v, s, len) >= 0) return -1;
  char *c = malloc(len + 1);
  if (!c) return -1;
  memcpy(c, s, len);
  c[len] = 0;
  v->tok[id] = c;
  size_t i = hash_str(s, len) & (v->nslots - 1);
  while (v->slots[i] >= 0) i = (i + 1) & (v->nslots - 1);
  v->slots[i] = id;
  return 0;
}

void ax__vocab_free(ax__vocab *v) {
  if (v->tok)
    for (int i = 0; i < v->n; i++) free(v->tok[i]);
  free(v->tok);
  free(v->special);
  free(v->slots);
  memset(v, 0, sizeof *v);
}

static int merges_grow(ax_tokenizer *t) {
  size_t n = t->nmerge_slots ? 2 * t->nmerge_slots : 1024;
  ax__merge *m = malloc(n * sizeof *m);
  if (!m) return -1;
  for (size_t i = 0; i < n; i++) m[i].key = UINT64_MAX;
  for (size_t i = 0; i < t->nmerge_slots; i++) {
    if (t->merges[i].key == UINT64_MAX) continue;
    size_t j = hash_u64(t->merges[i].key) & (n - 1);
    while (m[j].key != UINT64_MAX) j = (j + 1) & (n - 1);
    m[j] = t->merges[i];
  }
  free(t->merges);
  t->merges = m;
  t->nmerge_slots = n;
  return 0;
}

/* a pair given twice keeps the later rank (the tokenizers library builds a map the same way) */
int ax__merges_add(ax_tokenizer *t, int a, int b, int rank, int id) {
  if (2 * (t->nmerges + 1) > t->nmerge_slots && merges_grow(t) != 0) return -1;
  uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
  size_t i = hash_u64(key) & (t->nmerge_slots - 1);
  while (t->merges[i].key != UINT64_MAX && t->merges[i].key != key) i = (i + 1) & (t->nmerge_slots - 1);
  if (t->merges[i].key == UINT64_MAX) t->nmerges++;
  t->merges[i] = (ax__merge){key, rank, id};
  return 0;
}

const ax__merge *ax__merges_find(const ax_tokenizer *t, int a, int b) {
  if (!t->nmerge_slots) return NULL;
  uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
  for (size_t i = hash_u64(key) & (t->nmerge_slots - 1);; i = (i + 1) & (t->nmerge_slots - 1)) {
    if (t->merges[i].key == key) return &t->merges[i];
    if (t->merges[i].key == UINT64_MAX) return NULL;
  }
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68
 * bytes to U+0100 onwards, in byte order */
void ax__bpe_byte_map(uint32_t map[256]) {
  uint32_t next = 256;
  for (int b = 0; b < 256; b++) {
    bool keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    map[b] = keep ? (uint32_t)b : next++;
  }
}

int ax__added_add(ax_tokenizer *t, const char *s, int id) {
  uint32_t *cp;
  size_t n, bad;
  if (!s[0] || ax__utf8_decode(s, strlen(s), &cp, &n, &bad) != 0) return 0; /* empty or not UTF-8: never matches */
  ax__added *a = realloc(t->added, (size_t)(t->nadded + 1) * sizeof *a);
  if (!a) return free(cp), -1;
  t->added = a;
  t->added[t->nadded++] = (ax__added){cp, n, id};
  return 0;
}
