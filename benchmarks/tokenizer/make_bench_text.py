#!/usr/bin/env python3
"""Writes the tokenizer benchmark text: >= 1 MB of mixed English prose and code, as JSON lines of
documents ({"text": ...}, each at most ~8 KB), deterministically from offline sources: the shared
corpus, the licence texts of /usr/share/common-licenses and a fixed list of Python stdlib modules.

    python3 benchmarks/tokenizer/make_bench_text.py OUT.jsonl [--shared ../shared] [--min-bytes 1200000]
"""
import argparse
import json
import os
import sysconfig

LICENSES = ["Apache-2.0", "GPL-3", "LGPL-2.1", "MPL-2.0", "Artistic", "BSD", "GFDL-1.3", "CC0-1.0"]
STDLIB = ["textwrap.py", "json/decoder.py", "json/encoder.py", "argparse.py", "dataclasses.py", "functools.py",
          "pathlib.py", "shutil.py", "string.py", "heapq.py", "bisect.py", "difflib.py", "csv.py", "fractions.py",
          "statistics.py", "ast.py", "enum.py", "tokenize.py", "inspect.py", "typing.py"]
MAX_DOC = 8192


def chunks(text):
    """Splits on blank lines into documents of at most MAX_DOC bytes (whole paragraphs)."""
    doc = ""
    for para in text.split("\n\n"):
        piece = para + "\n\n"
        if doc and len((doc + piece).encode()) > MAX_DOC:
            yield doc
            doc = ""
        doc += piece
    if doc:
        yield doc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared"))
    ap.add_argument("--min-bytes", type=int, default=1_200_000)
    args = ap.parse_args()
    sources = []
    with open(os.path.join(args.shared, "fixtures", "corpus.jsonl"), encoding="utf-8") as f:
        sources.append("\n\n".join(json.loads(line)["text"] for line in f if line.strip()))
    for name in LICENSES:
        path = os.path.join("/usr/share/common-licenses", name)
        if os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                sources.append(f.read())
    stdlib = sysconfig.get_paths()["stdlib"]
    for name in STDLIB:
        path = os.path.join(stdlib, name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                sources.append(f.read())
    docs, total = [], 0
    while total < args.min_bytes:
        # Interleave prose and code, as a serving workload would.
        for src in sources:
            for d in chunks(src):
                docs.append(d)
                total += len(d.encode())
        if not sources:
            raise SystemExit("no sources found")
    with open(args.out, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"text": d}, ensure_ascii=False) + "\n")
    print(json.dumps({"docs": len(docs), "bytes": total, "out": args.out}))


if __name__ == "__main__":
    main()
