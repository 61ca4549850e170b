#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Compiles every C code block of the docs, and runs the complete programs.

    scripts/check_docs_snippets.py [--build DIR] [--prefix DIR] [--cc CC] [--list] [FILE.md ...]

Default files: README.md docs/tutorial.md docs/training.md docs/distributed.md.
Every ```c block must follow (on the previous non-blank line) one of these markers:

    <!-- program -->                      a complete program: compiled, linked, run
    <!-- program run: ARGS -->            ... run with these arguments (a short run)
    <!-- program output-below -->         ... and its standard output must equal the next
                                               fenced block without a language (the quoted output)
    <!-- program needs: PATH run: ARGS -->  ... run only when PATH exists (data from a Debian
                                               package): else compiled and linked, and the
                                               skipped run is printed with the reason
    <!-- program same-as: FILE -->        ... and the block must be FILE (a source of the
                                               repository) without its SPDX line
    <!-- fragment -->                     compiled (not linked) inside a function, after the
    <!-- fragment context: DECLS -->          includes and DECLS (declarations of what it uses)
    <!-- fragment top-level -->           compiled (not linked) at file scope: definitions
    <!-- not compiled: REASON -->         skipped; the reason is printed

Against the build tree (--build, default ./build: its libaxon.a, include/ and the
libraries of its axon.pc) and, with --prefix, against the library installed there too
(pkg-config --static, the shared library at run time). Errors name the Markdown file
and line: the extracted source carries #line directives. Exit 0: every block passed;
1: a block failed (or has no marker); 2: usage.
"""
import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_FILES = ["README.md", "docs/tutorial.md", "docs/training.md", "docs/distributed.md"]
INCLUDES = "#include <axon.h>\n#include <math.h>\n#include <stdint.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
WARN = ["-std=c11", "-Wall", "-Werror", "-Wno-error=unused-function"]
FRAGMENT_WARN = ["-Wno-unused-variable", "-Wno-unused-but-set-variable", "-Wno-unused-function",
                 "-Wno-unused-parameter", "-Wno-uninitialized", "-Wno-maybe-uninitialized"]


class Block:
    def __init__(self, path, line, code, marker):
        self.path, self.line, self.code, self.marker = path, line, code, marker
        self.kind, self.args, self.context, self.reason = None, [], "", ""
        self.output_below, self.top_level, self.expected = False, False, None
        self.needs, self.same_as = None, None

    def where(self):
        return f"{self.path}:{self.line}"


def parse(path):
    """The ```c blocks of a Markdown file, with their markers and quoted outputs."""
    lines = open(os.path.join(ROOT, path), encoding="utf-8").read().split("\n")
    blocks, errors, i = [], [], 0
    while i < len(lines):
        m = re.match(r"^(\s*)```\s*(\S*)", lines[i])
        if not m:
            i += 1
            continue
        indent, lang, start = m.group(1), m.group(2), i
        j = i + 1
        while j < len(lines) and not re.match(r"^\s*```\s*$", lines[j]):
            j += 1
        body = [l[len(indent):] if l.startswith(indent) else l for l in lines[i + 1:j]]
        if lang == "c":
            k = start - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            mk = re.match(r"^\s*<!--\s*(.*?)\s*-->\s*$", lines[k]) if k >= 0 else None
            b = Block(path, start + 2, "\n".join(body) + "\n", mk.group(1) if mk else None)
            if not mk:
                errors.append(f"{path}:{start + 1}: a ```c block without a marker: put <!-- program -->, "
                              "<!-- fragment ... --> or <!-- not compiled: REASON --> on the line before it")
            else:
                err = classify(b)
                if err:
                    errors.append(f"{path}:{k + 1}: {err}")
                else:
                    blocks.append(b)
        elif blocks and blocks[-1].output_below and blocks[-1].expected is None and lang in ("", "text"):
            blocks[-1].expected = "\n".join(body)
        i = j + 1
    for b in blocks:
        if b.output_below and b.expected is None:
            errors.append(f"{b.where()}: 'output-below' but no fenced block without a language follows")
    return blocks, errors


def classify(b):
    m = b.marker
    if m.startswith("not compiled:"):
        b.kind, b.reason = "skip", m[len("not compiled:"):].strip()
        return None if b.reason else "'not compiled:' needs a reason"
    words = m.split(None, 1)
    if not words or words[0] not in ("program", "fragment"):
        return f"unknown marker <!-- {m} -->: program, fragment or not compiled: REASON"
    b.kind, rest = words[0], words[1] if len(words) > 1 else ""
    if b.kind == "program":
        ms = re.match(r"same-as:\s*(\S+)\s*", rest)
        if ms:
            b.same_as, rest = ms.group(1), rest[ms.end():]
        mm = re.fullmatch(r"(?:needs:\s*(\S+))?\s*(output-below)?\s*(?:run:\s*(.*?))?\s*(output-below)?", rest)
        if not mm:
            return f"program: expected 'needs: PATH', 'run: ARGS' and/or 'output-below', got '{rest}'"
        b.needs = mm.group(1)
        b.output_below = bool(mm.group(2) or mm.group(4))
        b.args = shlex.split(mm.group(3) or "")
    else:
        if rest == "top-level":
            b.top_level = True
        elif rest.startswith("context:"):
            b.context = rest[len("context:"):].strip()
        elif rest:
            return f"fragment: expected 'context: DECLS' or 'top-level', got '{rest}'"
    return None


def source(b):
    # #line makes the compiler's messages name the Markdown file and line
    loc = f'#line {b.line} "{b.path}"\n'
    if b.kind == "program":
        return loc + b.code
    if b.top_level:
        return INCLUDES + loc + b.code
    return INCLUDES + "void ax_docs_fragment_(void);\nvoid ax_docs_fragment_(void) {\n" + b.context + "\n" + loc + b.code + "}\n"


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def flags_for_build(build):
    pc = os.path.join(build, "axon.pc")
    lib = os.path.join(build, "libaxon.a")
    for f in (pc, lib):
        if not os.path.exists(f):
            sys.exit(f"check_docs_snippets: {f} not found: build first (bash scripts/setup.sh) or pass --build DIR")
    private = ""
    link_pc = os.path.join(build, "axon-link.pc")  # the core's own link line (axon.pc requires it)
    for line in open(link_pc if os.path.exists(link_pc) else pc):
        if line.startswith("Libs.private:"):
            private = line.split(":", 1)[1]
    extra = []
    cache = os.path.join(build, "CMakeCache.txt")
    if os.path.exists(cache):  # a sanitized build's library needs the sanitizer runtime
        m = re.search(r"^AXON_SANITIZE:\w+=(\S+)$", open(cache).read(), re.M)
        if m:
            extra = [f"-fsanitize={m.group(1)}"]
    cflags = [f"-I{ROOT}/include", f"-I{build}/include", "-fopenmp"] + extra
    return cflags, [lib] + shlex.split(private) + extra, {}


def flags_for_prefix(prefix):
    for libdir in ("lib", "lib64"):
        pcdir = os.path.join(prefix, libdir, "pkgconfig")
        if os.path.exists(os.path.join(pcdir, "axon.pc")):
            break
    else:
        sys.exit(f"check_docs_snippets: no lib/pkgconfig/axon.pc under {prefix}: cmake --install build --prefix {prefix}")
    env = dict(os.environ, PKG_CONFIG_PATH=pcdir)
    out = []
    for what in ("--cflags", "--libs"):
        r = sh(["pkg-config", what, "--static", "axon"], env=env)
        if r.returncode:
            sys.exit(f"check_docs_snippets: pkg-config failed: {r.stderr.strip()}")
        out.append(shlex.split(r.stdout))
    ld = os.path.join(prefix, libdir)
    return out[0], out[1], {"LD_LIBRARY_PATH": ld + (":" + os.environ["LD_LIBRARY_PATH"] if os.environ.get("LD_LIBRARY_PATH") else "")}


def check(b, cc, cflags, libs, runenv, tmp, timeout, label):
    """Returns an error message, or None."""
    if b.kind == "skip":
        print(f"{b.where()}: not compiled ({b.reason})")
        return None
    if b.same_as:
        try:
            text = open(os.path.join(ROOT, b.same_as), encoding="utf-8").read()
        except OSError as e:
            return f"{b.where()}: same-as: {e}"
        if text.startswith(("/* SPDX", "// SPDX")):
            text = text.split("\n", 1)[1]
        if text != b.code:
            return f"{b.where()}: the block is no longer {b.same_as} (without its SPDX line): copy the file into it again"
    base = os.path.join(tmp, re.sub(r"\W", "_", f"{b.path}_{b.line}"))
    with open(base + ".c", "w") as f:
        f.write(source(b))
    warn = WARN + (FRAGMENT_WARN if b.kind == "fragment" else [])
    if b.kind == "fragment":
        cmd = [cc] + warn + cflags + ["-c", base + ".c", "-o", base + ".o"]
    else:
        cmd = [cc] + warn + cflags + [base + ".c", "-o", base] + libs
    r = sh(cmd)
    if r.returncode:
        return f"{b.where()}: the {b.kind} does not compile ({label}):\n  {' '.join(cmd)}\n{r.stderr.rstrip()}"
    if b.kind == "fragment":
        print(f"{b.where()}: fragment compiles ({label})")
        return None
    if b.needs and not os.path.exists(b.needs):
        print(f"{b.where()}: program compiles and links; NOT RUN: {b.needs} is missing "
              f"(bash scripts/setup.sh installs it) ({label})")
        return None
    t0 = time.time()
    try:
        r = sh([base] + b.args, cwd=tmp, env=dict(os.environ, **runenv), timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"{b.where()}: the program ran longer than {timeout} s ({label})"
    took = time.time() - t0
    if r.returncode:
        return (f"{b.where()}: the program exited with status {r.returncode} ({label}); its output:\n"
                f"{r.stdout[-3000:]}{r.stderr[-3000:]}")
    if b.expected is not None:
        got = [l.rstrip() for l in r.stdout.rstrip().split("\n")]
        want = [l.rstrip() for l in b.expected.rstrip().split("\n")]
        if got != want:
            return (f"{b.where()}: the program's output is not the one quoted below it ({label}):\n"
                    "--- quoted\n" + "\n".join(want) + "\n--- printed\n" + "\n".join(got))
    args = " ".join(b.args)
    print(f"{b.where()}: program compiles and runs{' with ' + args if args else ''} in {took:.1f} s"
          f"{', output as quoted' if b.expected is not None else ''} ({label})")
    return None


def main():
    sys.stdout.reconfigure(line_buffering=True)  # in order with the errors on stderr
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("files", nargs="*", help="Markdown files, relative to the repository root")
    ap.add_argument("--build", help="build directory (default: ./build; with --prefix alone, not used)")
    ap.add_argument("--prefix", help="also against the library installed under this prefix (pkg-config)")
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"))
    ap.add_argument("--timeout", type=float, default=300, help="seconds per program (default 300)")
    ap.add_argument("--list", action="store_true", help="list the blocks and their markers, check nothing")
    a = ap.parse_args()
    blocks, errors = [], []
    for f in a.files or DEFAULT_FILES:
        bl, er = parse(f)
        blocks += bl
        errors += er
    if a.list:
        for b in blocks:
            print(f"{b.where()}: {b.marker}")
        for e in errors:
            print(e)
        return 1 if errors else 0
    targets = []
    if a.build or not a.prefix:
        build = os.path.abspath(a.build or os.path.join(ROOT, "build"))
        targets.append(("build " + os.path.relpath(build, ROOT),) + flags_for_build(build))
    if a.prefix:
        targets.append(("installed " + a.prefix,) + flags_for_prefix(os.path.abspath(a.prefix)))
    with tempfile.TemporaryDirectory(prefix="axon-docs-") as tmp:
        for label, cflags, libs, runenv in targets:
            for b in blocks:
                e = check(b, a.cc, cflags, libs, runenv, tmp, a.timeout, label)
                if e:
                    errors.append(e)
    for e in errors:
        print("FAILED: " + e, file=sys.stderr)
    n = sum(1 for b in blocks if b.kind != "skip")
    print(f"check_docs_snippets: {n} C blocks checked, {len(blocks) - n} marked not compiled, {len(errors)} failed")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
