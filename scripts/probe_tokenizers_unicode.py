#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Measures, code point by code point, where Hugging Face's `tokenizers` library
classifies characters differently from Python's unicodedata, and writes the
differences to scripts/unicode_compat_tokenizers.json, which
scripts/gen_unicode_tables.py folds into nn/data/unicode_tables.c.

Why: the library mixes Unicode versions. Its BertNormalizer / BertPreTokenizer
take control (Cc Cf Co Cs), punctuation (P*) and non-spacing marks (Mn) from the
unicode_categories crate (an old Unicode), lower-case from Rust's std (a newer
one), and the ByteLevel pre-split's \\p{L} \\p{N} \\s from Oniguruma (newer too).
Python 3.11 has Unicode 14.0. Run (about two minutes; pip install tokenizers):
  python3 scripts/probe_tokenizers_unicode.py"""
import json
import os
import sys
import unicodedata

import tokenizers
from tokenizers import normalizers, pre_tokenizers

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "unicode_compat_tokenizers.json")
WS = set([*range(9, 14), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000])


def py_kind(c):
    if ord(c) in WS:
        return "S"
    g = unicodedata.category(c)[0]
    return "L" if g == "L" else "N" if g == "N" else "O"


def ranges(cps, value=None):
    """sorted code points (or {cp: value}) as [lo, hi] (or [lo, hi, value]) runs"""
    items = sorted((int(k), value[k] if value else None) for k in cps) if value else [(c, None) for c in sorted(cps)]
    out = []
    for cp, v in items:
        if out and out[-1][1] == cp - 1 and (v is None or out[-1][2] == v):
            out[-1][1] = cp
        else:
            out.append([cp, cp] if v is None else [cp, cp, v])
    return out


def main():
    clean = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    strip = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False)
    low = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=False, lowercase=True)
    bert = pre_tokenizers.BertPreTokenizer()
    bl = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    out = {"tokenizers": tokenizers.__version__, "unicode": unicodedata.unidata_version,
           "control": [], "punct": [], "mn": [], "lower": {}, "bpe_kind": {}}
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        g = unicodedata.category(c)
        py_control = c not in "\t\n\r" and g in ("Cc", "Cf", "Co", "Cs")
        n = clean.normalize_str(c)
        if cp not in (0, 0xFFFD) and (n == "") != py_control:
            out["control"].append(cp)  # the library's control set differs here
        if n == c and cp not in WS:
            o = ord(c)
            py_p = 33 <= o <= 47 or 58 <= o <= 64 or 91 <= o <= 96 or 123 <= o <= 126 or g[0] == "P"
            if (len(bert.pre_tokenize_str("a" + c + "b")) == 3) != py_p:
                out["punct"].append(cp)
        if unicodedata.normalize("NFD", c) == c and (strip.normalize_str(c) == "") != (g == "Mn"):
            out["mn"].append(cp)
        if low.normalize_str(c) != c.lower():
            out["lower"][cp] = [ord(x) for x in low.normalize_str(c)]
        k = ("L" if len(bl.pre_tokenize_str("a" + c)) == 1 else "N" if len(bl.pre_tokenize_str("1" + c)) == 1
             else "O" if len(bl.pre_tokenize_str("!" + c)) == 1 else "S")
        if k != py_kind(c):
            out["bpe_kind"][cp] = k
    print({k: len(v) if isinstance(v, (list, dict)) else v for k, v in out.items()})
    for k in ("control", "punct", "mn"):
        out[k] = ranges(out[k])
    out["bpe_kind"] = ranges(out["bpe_kind"].keys(), out["bpe_kind"])
    out["lower"] = [[cp, m] for cp, m in sorted(out["lower"].items())]
    with open(OUT, "w") as f:
        f.write("{\n")
        f.write(",\n".join(f'"{k}": {json.dumps(v, separators=(",", ":"))}' for k, v in out.items()))
        f.write("\n}\n")


if __name__ == "__main__":
    sys.exit(main())
