/* SPDX-License-Identifier: BSD-3-Clause */
/* Look-ups in the generated Unicode tables, and UTF-8 (nn/data/unicode.h). */
#include "nn/data/unicode.h"

#include <stdlib.h>

/* index of the last run starting at or before cp */
static int run_of(const uint32_t *start, int n, uint32_t cp) {
  int lo = 0, hi = n - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (start[mid] <= cp) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

int ax__ucat(uint32_t cp) {
  if (cp >= 0x110000) return AX_UC_Cn;
  return ax__ucat_cat[run_of(ax__ucat_start, ax__ucat_runs, cp)];
}

int ax__uccc(uint32_t cp) {
  if (cp < 0x300 || cp >= 0x110000) return 0;
  return ax__uccc_val[run_of(ax__uccc_start, ax__uccc_runs, cp)];
}

const ax__urange *ax__urange_find(const ax__urange *r, int n, uint32_t cp) {
  int lo = 0, hi = n - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    if (cp < r[mid].lo) hi = mid - 1;
    else if (cp > r[mid].hi) lo = mid + 1;
    else return &r[mid];
  }
  return NULL;
}

bool ax__ubert_control(uint32_t cp) {
  bool base = cp != '\t' && cp != '\n' && cp != '\r' && ax__uis_other(cp);
  return base != (ax__urange_find(ax__ubert_control_flip, ax__ubert_control_flip_count, cp) != NULL);
}

bool ax__ubert_punct(uint32_t cp) {
  bool base = (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126) ||
              ax__uis_punct(cp);
  return base != (ax__urange_find(ax__ubert_punct_flip, ax__ubert_punct_flip_count, cp) != NULL);
}

bool ax__ubert_mn(uint32_t cp) {
  bool base = ax__ucat(cp) == AX_UC_Mn;
  return base != (ax__urange_find(ax__ubert_mn_flip, ax__ubert_mn_flip_count, cp) != NULL);
}

int ax__ubpe_kind(uint32_t cp) {
  const ax__urange *r = ax__urange_find(ax__ubpe_kind_fix, ax__ubpe_kind_fix_count, cp);
  if (r) return (int)r->val;
  if (ax__uis_space(cp)) return 3;
  if (ax__uis_letter(cp)) return 0;
  return ax__uis_number(cp) ? 1 : 2;
}

bool ax__uis_space(uint32_t cp) {
  return (cp >= 0x9 && cp <= 0xD) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

/* BERT's ranges as the tokenizers library writes them: its Extension E starts at 0x2B920,
 * not 0x2B820 (Python BERT's), so U+2B820..2B91F stay letters of a word there too */
bool ax__uis_cjk(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

static const ax__umap *map_find(const ax__umap *m, int n, uint32_t cp) {
  int lo = 0, hi = n - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    if (m[mid].cp == cp) return &m[mid];
    if (m[mid].cp < cp) lo = mid + 1;
    else hi = mid - 1;
  }
  return NULL;
}

int ax__unfd_of(uint32_t cp, const uint32_t **out, uint32_t buf[3]) {
  if (cp >= 0xAC00 && cp <= 0xD7A3) { /* Hangul syllables: by formula */
    uint32_t s = cp - 0xAC00;
    buf[0] = 0x1100 + s / 588;
    buf[1] = 0x1161 + (s % 588) / 28;
    buf[2] = 0x11A7 + s % 28;
    *out = buf;
    return s % 28 ? 3 : 2;
  }
  if (cp < 0xC0) return 0;
  const ax__umap *m = map_find(ax__unfd, ax__unfd_count, cp);
  if (!m) return 0;
  *out = ax__unfd_pool + m->off;
  return (int)m->n;
}

int ax__ulower_of(uint32_t cp, const uint32_t **out) {
  const ax__umap *m = map_find(ax__ulower, ax__ulower_count, cp);
  if (!m) return 0;
  *out = ax__ulower_pool + m->off;
  return (int)m->n;
}

/* one code point at s[i]: its length, or 0 when the bytes there are not UTF-8 */
static int utf8_one(const unsigned char *s, size_t len, size_t i, uint32_t *cp) {
  unsigned c = s[i];
  int n;
  uint32_t v, min;
  if (c < 0x80) return *cp = c, 1;
  if (c >= 0xC2 && c <= 0xDF) n = 2, v = c & 0x1F, min = 0x80;
  else if (c >= 0xE0 && c <= 0xEF) n = 3, v = c & 0x0F, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4) n = 4, v = c & 0x07, min = 0x10000;
  else return 0;
  if (i + n > len) return 0;
  for (int k = 1; k < n; k++) {
    if ((s[i + k] & 0xC0) != 0x80) return 0;
    v = (v << 6) | (s[i + k] & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return n;
}

int ax__utf8_decode(const char *s, size_t len, uint32_t **out, size_t *n, size_t *bad_offset) {
  uint32_t *v = malloc((len ? len : 1) * sizeof *v);
  if (!v) return *bad_offset = (size_t)-1, -1;
  size_t k = 0;
  for (size_t i = 0; i < len;) {
    int m = utf8_one((const unsigned char *)s, len, i, &v[k]);
    if (!m) {
      free(v);
      *bad_offset = i;
      return -1;
    }
    i += m;
    k++;
  }
  *out = v;
  *n = k;
  return 0;
}

int ax__utf8_put(uint32_t cp, char *b) {
  if (cp < 0x80) return b[0] = (char)cp, 1;
  if (cp < 0x800) {
    b[0] = (char)(0xC0 | cp >> 6), b[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    b[0] = (char)(0xE0 | cp >> 12), b[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), b[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  b[0] = (char)(0xF0 | cp >> 18), b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  b[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), b[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}
