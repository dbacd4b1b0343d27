#!/usr/bin/env python3
"""Single-thread encode throughput: ferrite (bench_tokenizer) vs Python `tokenizers` (Rust), on the
same documents in the same run. Prints JSON {tokenizer: {ferrite_mb_s, hf_mb_s, ratio, ...}}.

    tools/.venv-tok/bin/python benchmarks/tokenizer/compare.py [--bench build/bin/bench_tokenizer]
        [--docs FILE.jsonl] [--shared ../shared] [--repeat 5]

HF runs with RAYON_NUM_THREADS=1 and encodes one document at a time (`encode`), as ferrite does;
`hf_batch_mb_s` is `encode_batch` over all documents, also on one thread, for reference. Both sides
skip special tokens, and the ids are checked to be the same (FNV-1a hash of all ids).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

from tokenizers import Tokenizer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NAMES = ["qwen3", "llama3_1", "mistral_v01"]


def fnv1a(all_ids):
    h = 0xCBF29CE484222325
    for ids in all_ids:
        for i in ids:
            h = ((h ^ i) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def hf_run(path, docs, repeat):
    tok = Tokenizer.from_file(path)
    first = [tok.encode(d, add_special_tokens=False).ids for d in docs]  # warm-up
    best = best_batch = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for d in docs:
            tok.encode(d, add_special_tokens=False)
        best = min(best, time.perf_counter() - t)
        t = time.perf_counter()
        tok.encode_batch(docs, add_special_tokens=False)
        best_batch = min(best_batch, time.perf_counter() - t)
    return first, best, best_batch


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "bin", "bench_tokenizer"))
    ap.add_argument("--docs", default=None)
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    docs_path = args.docs
    if docs_path is None:
        docs_path = os.path.join(tempfile.gettempdir(), "ferrite_bench_docs.jsonl")
        subprocess.run([sys.executable, os.path.join(HERE, "make_bench_text.py"), docs_path, "--shared", args.shared],
                       check=True, stdout=subprocess.DEVNULL)
    with open(docs_path, encoding="utf-8") as f:
        docs = [json.loads(line)["text"] for line in f if line.strip()]
    nbytes = sum(len(d.encode()) for d in docs)
    result = {}
    for name in NAMES:
        folder = os.path.join(args.shared, "fixtures", "tokenizers", name)
        out = subprocess.run([args.bench, "--tokenizer", folder, "--docs", docs_path, "--repeat", str(args.repeat)],
                             check=True, capture_output=True, text=True).stdout
        fer = json.loads(out)
        ids, hf_s, hf_batch_s = hf_run(os.path.join(folder, "tokenizer.json"), docs, args.repeat)
        hf_mb_s = nbytes / hf_s / 1e6
        result[name] = {
            "ferrite_mb_s": round(fer["mb_s"], 2),
            "hf_mb_s": round(hf_mb_s, 2),
            "hf_batch_mb_s": round(nbytes / hf_batch_s / 1e6, 2),
            "ratio": round(fer["mb_s"] / hf_mb_s, 2),
            "same_ids": fer["ids_fnv1a"] == fnv1a(ids) and fer["tokens"] == sum(len(i) for i in ids),
            "bytes": nbytes,
            "ferrite_load_s": round(fer["load_s"], 3),
        }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
