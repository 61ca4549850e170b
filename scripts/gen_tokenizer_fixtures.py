#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Makes tests/fixtures/tokenizers/ once, with Hugging Face's `tokenizers` library
(pip install tokenizers; never needed by the tests or CI):

  wordpiece/        a BERT WordPiece (uncased) trained on the fortunes corpus:
                    tokenizer.json, vocab.txt
  wordpiece_cased/  the same vocabulary, normalizer without lower-casing / accent
                    stripping: tokenizer.json
  bpe/              a GPT-2 byte-level BPE trained on the fortunes corpus:
                    tokenizer.json, vocab.json, merges.txt
  reference.json    ~100 sentences (fortunes lines + Unicode-heavy ones) with the ids
                    of each tokenizer, their decodings, and a padded / truncated batch

Run from the repository root: python3 scripts/gen_tokenizer_fixtures.py"""
import json
import os
import sys

from tokenizers import Tokenizer, ByteLevelBPETokenizer, BertWordPieceTokenizer, processors

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fortune_lines  # noqa: E402

OUT = "tests/fixtures/tokenizers"
VOCAB = 2000

# our own: accents, CJK, emoji, combining marks, control characters, odd spaces, long words
EXTRA = [
    "Héllo Wörld, naïve café — déjà vu!",
    "ÅNGSTRÖM Ærø ŒUVRE straße İstanbul ΣΊΣΥΦΟΣ",
    "e\u0301 a\u0308 o\u0302\u0323 combining marks: n\u0303o",
    "中文分词测试，日本語のテキスト。한국어 텍스트",
    "emoji 😀👍🏽 family 👨‍👩‍👧 flags 🇫🇷",
    "tabs\tand\nnewlines\r\nand\x0bvertical\x0cfeed",
    "control \x01\x02\x7f chars \u200b zero-width \ufeff bom \u00ad soft hyphen",
    "nbsp\u00a0here\u2003em space\u3000ideographic space",
    "  leading and trailing spaces   ",
    "multiple    spaces\n\n\nand lines",
    "don't we'll they're I've she'd it's I'm",
    "numbers 12345 3.14159 1,000,000 ٣٤٥ ⅷ",
    "punctuation!?!... «quotes» „German“ ‘single’ (brackets) [square] {curly}",
    "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３",
    "Supercalifragilisticexpialidocious" * 4,
    "x" * 101,
    "a" * 100,
    "$5.00 @user #hashtag 50% a&b c|d ~tilde ^caret `tick`",
    "Ελληνικά, русский текст, עברית, العربية",
    "\ufffd replacement and \x00 nul",
    "",
    " ",
    "[CLS] [SEP] <|endoftext|> literal",
    "Ⅻ ℃ ㎏ ﬁ ligature Ǆ",
]


def corpus_files():
    return fortune_lines.files()


def pick_fortunes(n=80):
    good = [l.decode("utf-8") for _, _, l in fortune_lines.lines() if l.strip()]
    step = max(1, len(good) // n)
    return good[::step][:n]


def train():
    files = corpus_files()
    wp = BertWordPieceTokenizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    wp.train(files, vocab_size=VOCAB, min_frequency=2, limit_alphabet=200, wordpieces_prefix="##")
    os.makedirs(f"{OUT}/wordpiece", exist_ok=True)
    # as BERT's files: [CLS] text [SEP] (the trainer leaves the post-processor out)
    wp.post_processor = processors.BertProcessing(("[SEP]", wp.token_to_id("[SEP]")), ("[CLS]", wp.token_to_id("[CLS]")))
    wp.save(f"{OUT}/wordpiece/tokenizer.json")
    wp.save_model(f"{OUT}/wordpiece")
    j = json.load(open(f"{OUT}/wordpiece/tokenizer.json"))
    j["normalizer"]["lowercase"] = False
    j["normalizer"]["strip_accents"] = False
    os.makedirs(f"{OUT}/wordpiece_cased", exist_ok=True)
    json.dump(j, open(f"{OUT}/wordpiece_cased/tokenizer.json", "w"), ensure_ascii=False)
    bpe = ByteLevelBPETokenizer(add_prefix_space=False)
    bpe.train(files, vocab_size=VOCAB, min_frequency=2, special_tokens=["<|endoftext|>"])
    os.makedirs(f"{OUT}/bpe", exist_ok=True)
    bpe.save(f"{OUT}/bpe/tokenizer.json")
    bpe.save_model(f"{OUT}/bpe")


def reference():
    names = ["wordpiece", "wordpiece_cased", "bpe"]
    toks = {n: Tokenizer.from_file(f"{OUT}/{n}/tokenizer.json") for n in names}
    sentences = pick_fortunes() + [s for s in EXTRA if "\x00" not in s]  # cJSON strings end at NUL
    rows = []
    for s in sentences:
        row = {"text": s}
        for n, t in toks.items():
            ids = t.encode(s).ids
            row[n] = ids
            row[n + "_decoded"] = t.decode(ids)
        rows.append(row)
    texts = sentences[:3] + ["short", ""]
    batch = {"texts": texts, "max_length": 8}
    for n in ("wordpiece", "bpe"):
        t = Tokenizer.from_file(f"{OUT}/{n}/tokenizer.json")
        pad = "[PAD]" if n == "wordpiece" else "<|endoftext|>"
        t.enable_truncation(max_length=8)
        t.enable_padding(pad_id=t.token_to_id(pad), pad_token=pad)
        enc = t.encode_batch(texts)
        batch[n] = {"ids": [e.ids for e in enc], "attention_mask": [e.attention_mask for e in enc]}
    json.dump({"sentences": rows, "batch": batch}, open(f"{OUT}/reference.json", "w"), ensure_ascii=False, indent=0)


if __name__ == "__main__":
    train()
    reference()
