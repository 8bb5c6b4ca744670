#!/usr/bin/env python3
"""Rebuilds data/langid/{train,test}.bin.gz: 256-byte snippets of source files found on
this machine, labelled by programming language, split into train and test by file.

Offline and deterministic (sorted paths, a hash of each path picks its split, gzip
without a timestamp). Each record is 1 label byte followed by 256 snippet bytes. The
sources and their licenses are listed in data/langid/README.md.

    python3 scripts/build_langid.py [--out data/langid]
"""
import argparse
import glob
import gzip
import hashlib
import os
import re

SNIPPET = 256
PER_FILE = 4           # at most this many snippets from one file
TRAIN, TEST = 1200, 300  # snippets per language and split
LANGS = ["c", "javascript", "perl", "python", "rust"]


def files_c():
    # glibc's and the Linux UAPI headers (LGPL-2.1+ / GPL-2.0 WITH Linux-syscall-note).
    return sorted(glob.glob("/usr/include/**/*.h", recursive=True))


JS_LICENSES = {"Artistic-2.0", "ISC", "MIT", "BSD-2-Clause", "BSD-3-Clause", "Apache-2.0"}


def js_license(path):
    """The license of the nearest package.json above `path`."""
    d = os.path.dirname(path)
    while d.startswith("/usr/lib/node_modules/npm"):
        pj = os.path.join(d, "package.json")
        if os.path.exists(pj):
            with open(pj, encoding="utf-8") as f:
                m = re.search(r'"license"\s*:\s*"([^"]*)"', f.read())
            if m:
                return m.group(1)
        d = os.path.dirname(d)
    return None


def files_javascript():
    # npm (Artistic-2.0) and the packages it bundles, where their package.json names a
    # license of JS_LICENSES; built copies (dist/) are left out as near duplicates.
    paths = glob.glob("/usr/lib/node_modules/npm/**/*.js", recursive=True)
    return sorted(p for p in paths if "/dist/" not in p and js_license(p) in JS_LICENSES)


def files_perl():
    # Perl's core and Debian's perl modules (Artistic-1.0 or GPL-1.0+, "same terms as Perl").
    return sorted(glob.glob("/usr/share/perl/**/*.pm", recursive=True))


def files_python():
    # CPython 3.11's standard library (PSF-2.0), without third-party site-packages.
    paths = glob.glob("/root/.pyenv/versions/3.11.7/lib/python3.11/**/*.py", recursive=True)
    return sorted(p for p in paths if "/site-packages/" not in p)


def files_rust():
    # Crates in the cargo registry whose Cargo.toml names MIT or Apache-2.0.
    out = []
    for crate in sorted(glob.glob(os.path.expanduser("~/.cargo/registry/src/*/*/"))):
        try:
            with open(os.path.join(crate, "Cargo.toml"), encoding="utf-8") as f:
                m = re.search(r'^license\s*=\s*"([^"]*)"', f.read(), re.M)
        except OSError:
            continue
        if m and re.search(r"\b(MIT|Apache-2\.0)\b", m.group(1)):
            out += sorted(glob.glob(os.path.join(crate, "src/**/*.rs"), recursive=True))
    return out


def is_test(path):
    """One file in five goes to the test split, by a hash of its path."""
    return hashlib.sha1(path.encode()).digest()[0] % 5 == 0


def snippets(path):
    """Up to PER_FILE non-overlapping 256-byte snippets, spread over the file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return []
    n = len(data) // SNIPPET
    if n == 0:
        return []
    picks = sorted({i * n // PER_FILE for i in range(min(PER_FILE, n))})
    out = []
    for k in picks:
        s = data[k * SNIPPET:(k + 1) * SNIPPET]
        if len(s.strip()) >= SNIPPET // 2:  # skip mostly blank snippets
            out.append(s)
    return out


def take(paths, want):
    """Snippets from files in order, one file's worth at a time, until `want`, spread over
    the list (every `step`-th file) so that no one package dominates."""
    out = []
    step = max(1, len(paths) * PER_FILE // (2 * want))
    for start in range(step):
        for p in paths[start::step]:
            out += snippets(p)
            if len(out) >= want:
                return out[:want], len(out)
    return out, len(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="data/langid")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    splits = {"train": bytearray(), "test": bytearray()}
    for label, lang in enumerate(LANGS):
        paths = globals()["files_" + lang]()
        train = [p for p in paths if not is_test(p)]
        test = [p for p in paths if is_test(p)]
        for name, ps, want in (("train", train, TRAIN), ("test", test, TEST)):
            snips, _ = take(ps, want)
            if len(snips) < want:
                raise SystemExit(f"{lang}: only {len(snips)} {name} snippets, need {want}")
            for s in snips:
                splits[name] += bytes([label]) + s
        print(f"{lang}: {len(train)} train files, {len(test)} test files")
    for name, buf in splits.items():
        path = os.path.join(args.out, f"{name}.bin.gz")
        tmp = path + ".tmp"
        with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
            f.write(bytes(buf))
        os.replace(tmp, path)
        print(f"{path}: {len(buf) // (SNIPPET + 1)} snippets, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
