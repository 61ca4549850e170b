/* SPDX-License-Identifier: BSD-3-Clause */
/* The Unicode data of the tokenizers (nn/data/tokenizer*.c): general categories,
 * NFD, lower case, White_Space, CJK. The tables (unicode_tables.c) are generated
 * by scripts/gen_unicode_tables.py from Python's unicodedata (the version is
 * ax__unicode_version); no Unicode library is linked. */
#ifndef AXON_NN_DATA_UNICODE_H
#define AXON_NN_DATA_UNICODE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* general categories, in the generator's order */
enum {
  AX_UC_Cn, AX_UC_Lu, AX_UC_Ll, AX_UC_Lt, AX_UC_Lm, AX_UC_Lo, AX_UC_Mn, AX_UC_Mc, AX_UC_Me, AX_UC_Nd,
  AX_UC_Nl, AX_UC_No, AX_UC_Pc, AX_UC_Pd, AX_UC_Ps, AX_UC_Pe, AX_UC_Pi, AX_UC_Pf, AX_UC_Po, AX_UC_Sm,
  AX_UC_Sc, AX_UC_Sk, AX_UC_So, AX_UC_Zs, AX_UC_Zl, AX_UC_Zp, AX_UC_Cc, AX_UC_Cf, AX_UC_Cs, AX_UC_Co
};

typedef struct ax__umap {
  uint32_t cp, off, n;
} ax__umap;

typedef struct ax__urange {
  uint32_t lo, hi, val;
} ax__urange;

extern const char ax__unicode_version[];
/* the tokenizers library's differences (scripts/probe_tokenizers_unicode.py): code points
 * whose BERT control / punctuation / Mn status is the opposite of Unicode 14's, and the
 * ByteLevel pre-split's class (0 letter, 1 number, 2 other, 3 space) where it is not */
extern const int ax__ubert_control_flip_count, ax__ubert_punct_flip_count, ax__ubert_mn_flip_count,
    ax__ubpe_kind_fix_count;
extern const ax__urange ax__ubert_control_flip[], ax__ubert_punct_flip[], ax__ubert_mn_flip[], ax__ubpe_kind_fix[];
/* the range of r[0..n) holding cp, or NULL */
const ax__urange *ax__urange_find(const ax__urange *r, int n, uint32_t cp);
/* as the tokenizers library: BERT's control (removed by clean_text), punctuation (ASCII
 * symbols and P*), non-spacing mark (dropped by strip_accents); the pre-split's class */
bool ax__ubert_control(uint32_t cp);
bool ax__ubert_punct(uint32_t cp);
bool ax__ubert_mn(uint32_t cp);
int ax__ubpe_kind(uint32_t cp);
extern const int ax__ucat_runs, ax__uccc_runs, ax__unfd_count, ax__ulower_count;
extern const uint32_t ax__ucat_start[], ax__uccc_start[], ax__unfd_pool[], ax__ulower_pool[];
extern const uint8_t ax__ucat_cat[], ax__uccc_val[];
extern const ax__umap ax__unfd[], ax__ulower[];

int ax__ucat(uint32_t cp);
static inline bool ax__uis_letter(uint32_t cp) { int c = ax__ucat(cp); return c >= AX_UC_Lu && c <= AX_UC_Lo; }
static inline bool ax__uis_number(uint32_t cp) { int c = ax__ucat(cp); return c >= AX_UC_Nd && c <= AX_UC_No; }
static inline bool ax__uis_punct(uint32_t cp) { int c = ax__ucat(cp); return c >= AX_UC_Pc && c <= AX_UC_Po; }
/* Cc, Cf, Cs, Co, not Cn: the unicode_categories crate's is_other (the tokenizers library's
 * "control"; unassigned code points stay, unlike Python BERT's _is_control) */
static inline bool ax__uis_other(uint32_t cp) { return ax__ucat(cp) >= AX_UC_Cc; }
bool ax__uis_space(uint32_t cp); /* the White_Space property (Rust's char::is_whitespace, regex \s) */
bool ax__uis_cjk(uint32_t cp);   /* the CJK ideograph blocks BERT pads with spaces */
int ax__uccc(uint32_t cp);       /* canonical combining class */
/* the code points c maps to (NFD, lower case): count, and *out the first; 0 when c maps to itself */
int ax__unfd_of(uint32_t cp, const uint32_t **out, uint32_t buf[3]);
int ax__ulower_of(uint32_t cp, const uint32_t **out);

/* UTF-8 -> code points (strict: no overlongs, surrogates or values past U+10FFFF).
 * *out (malloc'd, caller frees) and *n; -1 with the byte offset of the first bad
 * byte in *bad_offset (or out of memory: *bad_offset = (size_t)-1). */
int ax__utf8_decode(const char *s, size_t len, uint32_t **out, size_t *n, size_t *bad_offset);
/* one code point as UTF-8 into buf (4 bytes); returns its length */
int ax__utf8_put(uint32_t cp, char *buf);

#endif
