/* SPDX-License-Identifier: BSD-3-Clause */
/* GPT-2's byte-level BPE as the tokenizers library runs it: the ByteLevel
 * pre-tokenizer's split (GPT-2's pattern, below, matched by hand), each piece's
 * UTF-8 bytes mapped to characters (ax__bpe_byte_map), then merges, lowest rank
 * first, leftmost among equals. The pattern:
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+   */
#include <stdlib.h>
#include <string.h>

#include "nn/data/tokenizer_internal.h"
#include "nn/data/unicode.h"

enum { K_LETTER, K_NUMBER, K_OTHER, K_SPACE }; /* ax__ubpe_kind's classes */

static int kind(uint32_t c) { return ax__ubpe_kind(c); }

/* the length of the contraction at c[i] ('s 't 're 've 'm 'll 'd), or 0 */
static size_t contraction(const uint32_t *c, size_t n, size_t i) {
  if (c[i] != '\'' || i + 1 >= n) return 0;
  uint32_t a = c[i + 1], b = i + 2 < n ? c[i + 2] : 0;
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

/* the length of the match at c[i] (at least 1) */
static size_t piece(const uint32_t *c, size_t n, size_t i) {
  size_t k = contraction(c, n, i);
  if (k) return k;
  size_t j = i + (c[i] == ' ' && i + 1 < n && kind(c[i + 1]) != K_SPACE);
  int kj = kind(c[j]);
  if (kj != K_SPACE) { /* ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+' */
    size_t e = j;
    while (e < n && kind(c[e]) == kj) e++;
    return e - i;
  }
  size_t e = i; /* '\s+(?!\S)', else '\s+' */
  while (e < n && kind(c[e]) == K_SPACE) e++;
  if (e == n || e - i == 1) return e - i;
  return e - i - 1;
}

/* a candidate merge of the symbol at pos with the next one: a binary min-heap on (rank, pos) */
typedef struct cand {
  int32_t rank, pos, id;
} cand;

static bool cand_less(cand a, cand b) { return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos); }

static void heap_push(cand *h, int *n, cand c) {
  int i = (*n)++;
  for (; i > 0 && cand_less(c, h[(i - 1) / 2]); i = (i - 1) / 2) h[i] = h[(i - 1) / 2];
  h[i] = c;
}

static cand heap_pop(cand *h, int *n) {
  cand top = h[0], last = h[--*n];
  int i = 0;
  for (;;) {
    int c = 2 * i + 1;
    if (c >= *n) break;
    if (c + 1 < *n && cand_less(h[c + 1], h[c])) c++;
    if (!cand_less(h[c], last)) break;
    h[i] = h[c], i = c;
  }
  h[i] = last;
  return top;
}

static void push_pair(const ax_tokenizer *t, const int32_t *sym, cand *h, int *nh, int a, int b) {
  const ax__merge *m = a >= 0 && b >= 0 ? ax__merges_find(t, sym[a], sym[b]) : NULL;
  if (m) heap_push(h, nh, (cand){m->rank, a, m->id});
}

/* merges on one piece's symbols (ids), lowest rank first, leftmost among equals (the
 * tokenizers library's Word::merge_all: O(n log n)); compacts sym, returns the new count */
static int merge(const ax_tokenizer *t, int32_t *sym, int n) {
  if (n < 2) return n;
  int *next = malloc((size_t)n * sizeof *next), *prev = malloc((size_t)n * sizeof *prev), nh = 0;
  cand *h = malloc((size_t)n * 3 * sizeof *h); /* n-1 first pairs, then at most 2 per merge (n-1 merges) */
  if (!next || !prev || !h) return free(next), free(prev), free(h), -1;
  for (int i = 0; i < n; i++) next[i] = i + 1 < n ? i + 1 : -1, prev[i] = i - 1;
  for (int i = 0; i + 1 < n; i++) push_pair(t, sym, h, &nh, i, i + 1);
  while (nh > 0) {
    cand c = heap_pop(h, &nh);
    int r = next[c.pos];
    if (sym[c.pos] < 0 || r < 0) continue; /* merged away, or now last */
    const ax__merge *m = ax__merges_find(t, sym[c.pos], sym[r]);
    if (!m || m->id != c.id) continue; /* the pair changed since */
    sym[c.pos] = c.id;
    sym[r] = -1;
    next[c.pos] = next[r];
    if (next[r] >= 0) prev[next[r]] = c.pos;
    push_pair(t, sym, h, &nh, prev[c.pos], c.pos);
    push_pair(t, sym, h, &nh, c.pos, next[c.pos]);
  }
  int k = 0;
  for (int i = 0; i < n; i++)
    if (sym[i] >= 0) sym[k++] = sym[i];
  free(next), free(prev), free(h);
  return k;
}

static int encode_piece(const ax_tokenizer *t, const uint32_t *c, size_t n, ax__ids *out) {
  char *bytes = malloc(4 * n + 1), *chars = malloc(8 * n + 1);
  int32_t *sym = malloc((4 * n + 1) * sizeof *sym);
  if (!bytes || !chars || !sym) return free(bytes), free(chars), free(sym), -1;
  size_t nb = 0, nc = 0;
  for (size_t i = 0; i < n; i++) nb += ax__utf8_put(c[i], bytes + nb);
  int ns = 0;
  for (size_t i = 0; i < nb; i++) {
    unsigned char b = (unsigned char)bytes[i];
    nc += ax__utf8_put(t->byte_char[b], chars + nc);
    if (t->byte_id[b] >= 0) sym[ns++] = t->byte_id[b]; /* a byte outside the vocabulary is dropped */
    else if (t->unk >= 0) sym[ns++] = t->unk;
  }
  int whole = t->ignore_merges ? ax__vocab_find(&t->v, chars, nc) : -1;
  if (whole >= 0) ax__ids_push(out, whole);
  else {
    ns = merge(t, sym, ns);
    if (ns < 0) return free(bytes), free(chars), free(sym), -1;
    for (int i = 0; i < ns; i++) ax__ids_push(out, sym[i]);
  }
  free(bytes), free(chars), free(sym);
  return 0;
}

int ax__bpe_encode(const ax_tokenizer *t, const uint32_t *cp, size_t n, ax__ids *out) {
  for (size_t i = 0; i < n;) {
    size_t k = piece(cp, n, i);
    if (encode_piece(t, cp + i, k, out)) return -1;
    i += k;
  }
  return 0;
}
