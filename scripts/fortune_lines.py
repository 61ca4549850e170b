# SPDX-License-Identifier: BSD-3-Clause
"""The fortunes corpus as the tokenizer scripts read it: every text file of
/usr/share/games/fortunes (Debian `fortunes`) in name order, skipping hidden names,
.dat (binary indices) and .u8 (symlinks to the same text), split into lines."""
import os

FORTUNES = "/usr/share/games/fortunes"


def files(folder=FORTUNES):
    out = []
    for name in sorted(os.listdir(folder)):
        p = os.path.join(folder, name)
        if name.startswith(".") or name.endswith(".dat") or name.endswith(".u8") or not os.path.isfile(p):
            continue
        out.append(p)
    return out


def lines(folder=FORTUNES):
    """(file, line number, bytes) for every line (without its '\\n')"""
    for p in files(folder):
        data = open(p, "rb").read()
        parts = data.split(b"\n")
        if parts and parts[-1] == b"":
            parts.pop()
        for i, line in enumerate(parts):
            yield p, i + 1, line
