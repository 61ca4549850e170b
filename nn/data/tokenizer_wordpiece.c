/* SPDX-License-Identifier: BSD-3-Clause */
/* WordPiece as the tokenizers library runs BERT's: the BertNormalizer (clean
 * text, pad CJK ideographs, strip accents = NFD then drop Mn, lower-case, in that
 * order), the BertPreTokenizer (split on White_Space, isolate punctuation: ASCII
 * symbols and Unicode P*), then greedy longest match with "##" continuations. */
#include <stdlib.h>
#include <string.h>

#include "nn/data/tokenizer_internal.h"
#include "nn/data/unicode.h"

typedef struct cps {
  uint32_t *v;
  size_t n, cap;
} cps;

static int cps_push(cps *a, uint32_t c) {
  if (a->n == a->cap) {
    size_t cap = a->cap ? 2 * a->cap : 64;
    uint32_t *v = realloc(a->v, cap * sizeof *v);
    if (!v) return -1;
    a->v = v, a->cap = cap;
  }
  a->v[a->n++] = c;
  return 0;
}

/* clean_text and handle_chinese_chars */
static int clean(const ax_tokenizer *t, const uint32_t *in, size_t n, cps *out) {
  for (size_t i = 0; i < n; i++) {
    uint32_t c = in[i];
    if (t->clean_text) {
      if (c == 0 || c == 0xFFFD || ax__ubert_control(c)) continue;
      if (ax__uis_space(c)) c = ' ';
    }
    int rc = 0;
    if (t->chinese_chars && ax__uis_cjk(c)) rc = cps_push(out, ' ') | cps_push(out, c) | cps_push(out, ' ');
    else rc = cps_push(out, c);
    if (rc) return -1;
  }
  return 0;
}

/* NFD (full decomposition, then the canonical order of combining marks), dropping Mn */
static int strip_accents(const cps *in, cps *out) {
  cps d = {0};
  for (size_t i = 0; i < in->n; i++) {
    const uint32_t *m;
    uint32_t buf[3];
    int k = ax__unfd_of(in->v[i], &m, buf);
    if (!k) m = &in->v[i], k = 1;
    for (int j = 0; j < k; j++)
      if (cps_push(&d, m[j])) return free(d.v), -1;
  }
  for (size_t i = 1; i < d.n; i++) { /* insertion sort of each run of non-zero classes (stable) */
    int cc = ax__uccc(d.v[i]);
    if (!cc) continue;
    uint32_t c = d.v[i];
    size_t j = i;
    while (j > 0 && ax__uccc(d.v[j - 1]) > cc) d.v[j] = d.v[j - 1], j--;
    d.v[j] = c;
  }
  for (size_t i = 0; i < d.n; i++)
    if (!ax__ubert_mn(d.v[i]) && cps_push(out, d.v[i])) return free(d.v), -1;
  free(d.v);
  return 0;
}

static int lower(const cps *in, cps *out) {
  for (size_t i = 0; i < in->n; i++) {
    const uint32_t *m;
    int k = ax__ulower_of(in->v[i], &m);
    if (!k) m = &in->v[i], k = 1;
    for (int j = 0; j < k; j++)
      if (cps_push(out, m[j])) return -1;
  }
  return 0;
}

static int normalize(const ax_tokenizer *t, const uint32_t *in, size_t n, cps *out) {
  cps a = {0}, b = {0};
  if (clean(t, in, n, &a)) goto oom;
  if (t->strip_accents) {
    if (strip_accents(&a, &b)) goto oom;
    free(a.v), a = b, b = (cps){0};
  }
  if (t->lowercase) {
    if (lower(&a, &b)) goto oom;
    free(a.v), a = b, b = (cps){0};
  }
  *out = a;
  return 0;
oom:
  free(a.v), free(b.v);
  return -1;
}

/* one word, greedy longest match; the whole word is [UNK] when a piece is missing */
static int word(const ax_tokenizer *t, const uint32_t *w, size_t n, ax__ids *out) {
  if (n > (size_t)t->max_chars) return ax__ids_push(out, t->unk), 0;
  size_t plen = strlen(t->prefix);
  char *buf = malloc(plen + 4 * n + 1);
  size_t *off = malloc((n + 1) * sizeof *off); /* byte offset of each character in buf after the prefix */
  int32_t *got = malloc(n * sizeof *got);
  if (!buf || !off || !got) return free(buf), free(off), free(got), -1;
  memcpy(buf, t->prefix, plen);
  off[0] = 0;
  for (size_t i = 0; i < n; i++) off[i + 1] = off[i] + ax__utf8_put(w[i], buf + plen + off[i]);
  int ng = 0;
  for (size_t start = 0; start < n;) {
    int id = -1;
    size_t end = n;
    for (; end > start; end--) {
      const char *s = start ? buf + plen + off[start] - plen : buf + plen;
      if (start) memcpy((char *)s, t->prefix, plen); /* the prefix just before this piece */
      id = ax__vocab_find(&t->v, s, off[end] - off[start] + (start ? plen : 0));
      if (id >= 0) break;
    }
    if (id < 0) {
      ng = -1;
      break;
    }
    got[ng++] = id;
    start = end;
  }
  if (ng < 0) ax__ids_push(out, t->unk);
  else
    for (int i = 0; i < ng; i++) ax__ids_push(out, got[i]);
  free(buf), free(off), free(got);
  return 0;
}

int ax__wordpiece_encode(const ax_tokenizer *t, const uint32_t *cp, size_t n, ax__ids *out) {
  cps s;
  if (normalize(t, cp, n, &s)) return -1;
  size_t start = 0;
  int rc = 0;
  for (size_t i = 0; i <= s.n && !rc; i++) {
    bool end = i == s.n, space = !end && ax__uis_space(s.v[i]), punct = !end && ax__ubert_punct(s.v[i]);
    if (!end && !space && !punct) continue;
    if (i > start) rc = word(t, s.v + start, i - start, out);
    if (punct && !rc) rc = word(t, s.v + i, 1, out);
    start = i + 1;
  }
  free(s.v);
  return rc;
}
