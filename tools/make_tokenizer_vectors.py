#!/usr/bin/env python3
"""Writes the reference vectors of ferrite's tokenizer tests with the canonical Python packages.

Set up its venv once (pinned: the vectors depend on these exact versions):
    python3 -m venv tools/.venv-tok
    tools/.venv-tok/bin/pip install tokenizers==0.22.2 transformers==4.57.6 sentencepiece==0.2.1 protobuf
Then:
    tools/.venv-tok/bin/python tools/make_tokenizer_vectors.py [--shared ../shared]

Outputs (tests/data/tokenizer/):
  <name>.jsonl        for qwen3, llama3_1, mistral_v01: every corpus string and the hard cases
                      below, with ids (add_special_tokens False/True) and decodes (skip False/True)
                      from `tokenizers`, and transformers' decode (with its clean-up). transformers'
                      encode is checked to agree with `tokenizers`.
  components.jsonl    normalizers, pre-tokenizers and decoders on small inputs (normalize_str,
                      pre_tokenize_str, decode), and whole tokenizers built by swapping components
                      or options into the shared files or into small trained BPE models.
  sp_tiny/            a tiny SentencePiece model trained on the corpus (tokenizer.model), and
  sp_tiny.jsonl       its ids from transformers' slow LlamaTokenizer and decodes from sentencepiece.
  reference_check.json  where the shared JS-made reference_ids.jsonl disagree with Python.
Nothing here is hand-written expected output: every expected value comes from the packages.

Why transformers 4.x: transformers 5 rebuilds LlamaTokenizer from its own template instead of the
shipped tokenizer.json (different ids for text starting with spaces); 4.x and `tokenizers` follow
tokenizer.json, as the shared references and vLLM do.
"""
import argparse
import copy
import json
import os
import sys

import tokenizers
import transformers
from tokenizers import Tokenizer, pre_tokenizers
from transformers import AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMES = ["qwen3", "llama3_1", "mistral_v01"]

# Hard cases beyond the shared corpus: added tokens inside text and next to spaces, long runs
# (whitespace, digits, one letter), text around invalid-looking code points, mixed scripts,
# Unicode normalization, case-folded contractions.
HARD_CASES = [
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
    "<s>hello</s>", "a<s>b</s>c", " <s> ", "  <s>  x", "<s><s></s>", "x <|endoftext|> y",
    "<|endoftext|><|endoftext|>", "<|im_start", "<|im_start|", "<<s>>", "</s", "<|eot_id|>!",
    "<think>\nreason\n</think>\n\nanswer", "<tool_call>{\"a\": 1}</tool_call>",
    " " * 1000, "\n" * 300, "\t \n" * 100, "x" + " " * 500 + "y", "1" * 1000, "123456789" * 40,
    "a" * 2000, "ab" * 300, "." * 500, "-" * 400 + "\n", "🙂" * 100, "é" * 300,
    "\u00a0\u00a0x", "a\u3000b", "line\u2028sep", "next\x85line", "zero\u200bwidth", "\r\n\r\n", "\r\r\n",
    "hello   ", "   leading", "tab\tsep", "\x00nul", "\x01\x02\x7f", "\ufffd replacement \ufffd",
    "\ufffe\uffff", "\ue000private", "\U0010ffff", "\ud7ff", "\U0001f6dc new emoji", "\U00011f04 kawi",
    "Hello мир 世界 مرحبا שלום नमस्ते 🌍", "👨\u200d👩\u200d👧\u200d👦 family", "🇺🇸🇫🇷 flags", "👍🏽 tone",
    "IT'S I'M WE'LL THEY'RE YOU'VE HE'D DON'T", "'ſ '\u212a", "e\u0301 vs é", "\u1e9b\u0323",
    "\u1100\u1161\u11a8", "\u212b angstrom", "\ufb01 ligature", "１２３ fullwidth", "١٢٣ arabic digits", "½ ² Ⅻ",
    "def f(x):\n    return x ** 2\n\n\nclass A:\n\tpass\n", "if (a && b) { return; } // done",
    '{"key": [1, 2.5, null], "s": "\\u00e9"}', "https://example.com/a?b=c&d=e#f", "C:\\path\\to\\file.txt",
    "'s", "'", "''''", " '", "$100.00", "3.14159", "1,000,000", "Ünïcödé ÀÉÎÕÜ", "ǅ ǈ ǋ",
]


def random_cases(count=120, seed=1234):
    """Seeded random strings over a mix of scripts, spaces, digits, punctuation and special-token
    fragments: finds the corners that hand-picked cases miss."""
    import random
    rng = random.Random(seed)
    alphabet = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") + list(" \t\n\r  ") +
                list("'\".,;:!?-_()[]{}<>|/\\@#$%^&*+=~`") + list("éüñçßøåÆŒ") + list("мирсловоΑΒΓαβγ") +
                list("中文字日本語한국어") + list("مرحباשלוםनमस्ते") + ["🙂", "👍🏽", "🇺🇸", "\u200d", "\u0301", "\u00a0",
                "\u3000", "\x85", "\ufffd", "１", "٣", "½"] + ["<s>", "</s>", "<|im_start|>", "<|im_end|>",
                "<|eot_id|>", "<|endoftext|>", "<0x41>", "▁", "Ġ", "'s", "'LL"])
    cases = []
    for _ in range(count):
        n = rng.randint(1, 60)
        cases.append("".join(rng.choice(alphabet) for _ in range(n)))
    return cases


def load_corpus(shared):
    with open(os.path.join(shared, "fixtures", "corpus.jsonl"), encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def full_tokenizer_vectors(name, shared, texts, sources, problems):
    folder = os.path.join(shared, "fixtures", "tokenizers", name)
    tk = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    tf = AutoTokenizer.from_pretrained(folder)
    rows = []
    for text, source in zip(texts, sources):
        ids = tk.encode(text, add_special_tokens=False).ids
        ids_ws = tk.encode(text, add_special_tokens=True).ids
        if tf.encode(text, add_special_tokens=False) != ids or tf.encode(text, add_special_tokens=True) != ids_ws:
            problems.append(f"{name}: transformers and tokenizers disagree on {text[:40]!r}")
        rows.append({
            "source": source, "text": text, "ids": ids, "ids_with_special": ids_ws,
            "decoded": tk.decode(ids, skip_special_tokens=False),
            "decoded_ws": tk.decode(ids_ws, skip_special_tokens=False),
            "decoded_ws_skip": tk.decode(ids_ws, skip_special_tokens=True),
            "tf_decoded_ws": tf.decode(ids_ws, skip_special_tokens=False),
            "tf_decoded_ws_skip": tf.decode(ids_ws, skip_special_tokens=True),
        })
    return rows


def reference_check(name, shared, corpus_rows):
    """Compares the shared JS-made reference_ids.jsonl with the Python rows of the corpus."""
    path = os.path.join(shared, "fixtures", "tokenizers", name, "reference_ids.jsonl")
    with open(path, encoding="utf-8") as f:
        refs = [json.loads(line) for line in f if line.strip()]
    tf = AutoTokenizer.from_pretrained(os.path.dirname(path))
    out = {"lines": len(refs), "ids": [], "ids_with_special": [], "decoded_vs_tokenizers": [],
           "decoded_vs_transformers": []}
    for i, (ref, row) in enumerate(zip(refs, corpus_rows)):
        if ref["ids"] != row["ids"]:
            out["ids"].append(i)
        if ref["ids_with_special"] != row["ids_with_special"]:
            out["ids_with_special"].append(i)
        if ref["decoded"] != row["decoded"]:
            out["decoded_vs_tokenizers"].append(i)
        # transformers decodes with its clean-up (clean_up_tokenization_spaces); so does the JS port.
        if ref["decoded"] != tf.decode(row["ids"], skip_special_tokens=False):
            out["decoded_vs_transformers"].append(i)
    return out


def component_vectors(shared, corpus):
    rows = []
    samples = corpus[:40] + HARD_CASES[30:75]

    def norm(name, obj, extra=()):
        tkn = Tokenizer.from_str(json.dumps(minimal_tokenizer(normalizer=obj)))
        n = tkn.normalizer
        cases = [{"input": s, "output": n.normalize_str(s)} for s in list(samples) + list(extra)]
        rows.append({"kind": "normalizer", "name": name, "json": obj, "cases": cases})

    def pre(name, obj, extra=()):
        tkn = Tokenizer.from_str(json.dumps(minimal_tokenizer(pre_tokenizer=obj)))
        p = tkn.pre_tokenizer
        cases = [{"input": s, "output": [t for t, _ in p.pre_tokenize_str(s)]} for s in list(samples) + list(extra)]
        rows.append({"kind": "pre_tokenizer", "name": name, "json": obj, "cases": cases})

    def dec(name, obj, token_lists):
        tkn = Tokenizer.from_str(json.dumps(minimal_tokenizer(decoder=obj)))
        d = tkn.decoder
        rows.append({"kind": "decoder", "name": name, "json": obj,
                     "cases": [{"tokens": t, "output": d.decode(t)} for t in token_lists]})

    norm("NFC", {"type": "NFC"})
    norm("NFD", {"type": "NFD"})
    norm("NFKC", {"type": "NFKC"})
    norm("NFKD", {"type": "NFKD"})
    norm("Lowercase", {"type": "Lowercase"}, ["İSTANBUL ΣΑΣ ǅ ẞ"])
    norm("Replace string", {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"})
    norm("Replace regex", {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "})
    norm("Prepend", {"type": "Prepend", "prepend": "\u2581"}, [""])
    norm("Strip both", {"type": "Strip", "strip_left": True, "strip_right": True}, ["  \u3000 x \u00a0 "])
    norm("Strip left", {"type": "Strip", "strip_left": True, "strip_right": False})
    norm("StripAccents", {"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "StripAccents"}]})
    norm("Sequence", {"type": "Sequence", "normalizers": [
        {"type": "NFKC"}, {"type": "Lowercase"}, {"type": "Prepend", "prepend": "\u2581"},
        {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]})

    pre("ByteLevel regex", {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True})
    pre("ByteLevel prefix", {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True})
    pre("ByteLevel no regex", {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False})
    for behavior in ["Isolated", "Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous"]:
        for invert in [False, True]:
            pre(f"Split regex {behavior} invert={invert}",
                {"type": "Split", "pattern": {"Regex": "\\s+|[0-9]"}, "behavior": behavior, "invert": invert})
        pre(f"Split string {behavior}", {"type": "Split", "pattern": {"String": "-"}, "behavior": behavior, "invert": False},
            ["a-b--c-", "---", "-x"])
    pre("Split empty match", {"type": "Split", "pattern": {"Regex": "x*"}, "behavior": "Isolated", "invert": False},
        ["axxb", "xx", ""])
    for scheme in ["first", "always", "never"]:
        for split in [True, False]:
            pre(f"Metaspace {scheme} split={split}",
                {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": scheme, "split": split})
    pre("Digits", {"type": "Digits", "individual_digits": False})
    pre("Digits individual", {"type": "Digits", "individual_digits": True})
    pre("Whitespace", {"type": "Whitespace"})
    pre("WhitespaceSplit", {"type": "WhitespaceSplit"})
    pre("Punctuation", {"type": "Punctuation", "behavior": "Isolated"})
    pre("Punctuation contiguous", {"type": "Punctuation", "behavior": "Contiguous"})
    pre("BertPreTokenizer", {"type": "BertPreTokenizer"})
    pre("Sequence", {"type": "Sequence", "pretokenizers": [
        {"type": "WhitespaceSplit"}, {"type": "Digits", "individual_digits": True},
        {"type": "Punctuation", "behavior": "Isolated"}]})

    bl = [["Hello", "Ġworld"], ["<|im_end|>", "Ċ"], ["âĢ"], ["âĢ", "ľ"], ["Ġ", "ðŁĺ", "Ģ"], ["a", "é", "b"], []]
    sp = [["▁Hello", "▁world"], ["<0xE2>", "<0x82>", "<0xAC>"], ["<0xE2>", "<0x82>"], ["▁a", "<0xFF>", "b"],
          ["<0x41>", "<0xE2>"], ["▁▁x", "▁"], ["<s>", "▁Hi"], ["<0x0A>"], ["  x  "], []]
    dec("ByteLevel", {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}, bl)
    dec("Replace", {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, sp)
    dec("ByteFallback", {"type": "ByteFallback"}, sp)
    dec("Fuse", {"type": "Fuse"}, sp)
    dec("Strip", {"type": "Strip", "content": " ", "start": 1, "stop": 1}, [["  x  "], [" a", "b "], ["x"]])
    for scheme in ["first", "always", "never"]:
        dec(f"Metaspace {scheme}", {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": scheme, "split": True}, sp)
    dec("BPEDecoder", {"type": "BPEDecoder", "suffix": "</w>"}, [["hel", "lo</w>", "wor", "ld</w>"], ["a</w>"]])
    dec("Sequence mistral", {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"},
        {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}, sp)

    rows.extend(tokenizer_variants(shared, corpus))
    return rows


def minimal_tokenizer(normalizer=None, pre_tokenizer=None, decoder=None):
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
            "normalizer": normalizer, "pre_tokenizer": pre_tokenizer, "post_processor": None, "decoder": decoder,
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                      "vocab": {"a": 0}, "merges": []}}


def trained_bpe(corpus, **options):
    """A small BPE learned from the corpus, for model options the shared files do not use.
    tokenizers' BpeTrainer breaks ties between equal pair counts differently from run to run, so
    this learns the merges itself (most frequent pair, ties by the pair's text) to keep the
    vectors reproducible; the expected ids still come from `tokenizers` running the result."""
    import re
    from collections import Counter
    prefix, suffix = options.get("prefix") or "", options.get("suffix") or ""
    words = Counter(w for t in corpus[:120] for w in re.findall(r"\w+|[^\w\s]+", t))

    def symbols(word):
        out = [c if i == 0 else prefix + c for i, c in enumerate(word)]
        out[-1] += suffix
        return out

    seqs = {w: symbols(w) for w in words}
    counts = Counter()
    for w, seq in seqs.items():
        for sym in seq:
            counts[sym] += words[w]
    vocab = {"<unk>": 0} if options.get("unk") else {}
    for sym in sorted(sym for sym, n in counts.items() if n >= 3):  # rare characters stay unknown
        vocab[sym] = len(vocab)
    merges = []
    for _ in range(200):
        pairs = Counter()
        for w, seq in seqs.items():
            for a, b in zip(seq, seq[1:]):
                if a in vocab and b in vocab:
                    pairs[(a, b)] += words[w]
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        new = a + b[len(prefix):]
        merges.append([a, b])
        vocab.setdefault(new, len(vocab))
        for w, seq in seqs.items():
            out, i = [], 0
            while i < len(seq):
                if i + 1 < len(seq) and seq[i] == a and seq[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(seq[i])
                    i += 1
            seqs[w] = out
    j = minimal_tokenizer(pre_tokenizer={"type": "Whitespace"})
    j["model"].update({"vocab": vocab, "merges": merges, "unk_token": "<unk>" if options.get("unk") else None,
                       "continuing_subword_prefix": prefix or None, "end_of_word_suffix": suffix or None,
                       "fuse_unk": options.get("fuse_unk", False)})
    if options.get("unk"):
        j["added_tokens"] = [{"id": 0, "content": "<unk>", "single_word": False, "lstrip": False, "rstrip": False,
                              "normalized": False, "special": True}]
    return j


def tokenizer_variants(shared, corpus):
    rows = []
    texts = corpus[:60] + HARD_CASES[:30] + HARD_CASES[60:]

    def add(name, spec, base=None, extra_texts=()):
        if base is not None:
            with open(os.path.join(shared, "fixtures", "tokenizers", base, "tokenizer.json"), encoding="utf-8") as f:
                full = json.load(f)
            for key, value in spec.get("replace", {}).items():
                full[key] = value
            full["model"].update(spec.get("model", {}))
            full["added_tokens"].extend(spec.get("added_tokens", []))
        else:
            full = spec
        tk = Tokenizer.from_str(json.dumps(full))
        cases = []
        for text in list(texts) + list(extra_texts):
            ids = tk.encode(text, add_special_tokens=False).ids
            ids_ws = tk.encode(text, add_special_tokens=True).ids
            cases.append({"text": text, "ids": ids, "ids_with_special": ids_ws,
                          "decoded": tk.decode(ids, skip_special_tokens=False),
                          "decoded_ws_skip": tk.decode(ids_ws, skip_special_tokens=True)})
        row = {"kind": "tokenizer", "name": name, "cases": cases}
        if base is not None:
            row["base"] = base
            row["overrides"] = spec
        else:
            row["json"] = full
        rows.append(row)

    added_text = ["x <A> y", "x<A>y", "<A><A>", "  <A>  ", "\t<A>\n", "a<B>b <B> c", "<B>", "word<C>", "<C> word",
                  "the <C> end", "<C>", "lower <d> upper <D>", "xx<E>yy", "<F>", "é<F>é", "<A>b<B>c<C>d<D>"]
    mk = lambda i, c, **kw: dict({"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                                  "normalized": False, "special": True}, **kw)
    add("qwen3 added tokens lstrip/rstrip/single_word/normalized", {"added_tokens": [
        mk(151700, "<A>", lstrip=True, rstrip=True), mk(151701, "<B>", lstrip=True),
        mk(151702, "<C>", single_word=True, special=False), mk(151703, "<d>", normalized=True, special=False),
        mk(151704, "<E>", rstrip=True, special=False), mk(151705, "<F>", normalized=True)]},
        base="qwen3", extra_texts=added_text)
    add("mistral added tokens normalized", {"added_tokens": [
        mk(32000, "<A>", lstrip=True, rstrip=True), mk(32001, "<B>", normalized=True, special=False),
        mk(32002, "<C>", single_word=True), mk(32003, " <D>", normalized=True, special=False)]},
        base="mistral_v01", extra_texts=added_text)
    add("llama3 without ignore_merges", {"model": {"ignore_merges": False}}, base="llama3_1")
    add("mistral without byte_fallback (unk, fuse_unk)", {"model": {"byte_fallback": False}}, base="mistral_v01")
    add("mistral without byte_fallback, no fuse_unk", {"model": {"byte_fallback": False, "fuse_unk": False}},
        base="mistral_v01")
    add("mistral as Metaspace(first) pre-tokenizer", {"replace": {
        "normalizer": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False},
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False}}},
        base="mistral_v01")
    add("mistral as Metaspace(always, split)", {"replace": {
        "normalizer": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}}},
        base="mistral_v01")
    add("qwen3 with NFKC+Lowercase, Digits, Roberta", {"replace": {
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"}]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}]},
        "post_processor": {"type": "RobertaProcessing", "sep": ["<|im_end|>", 151645], "cls": ["<|im_start|>", 151644],
                           "trim_offsets": True, "add_prefix_space": True}}}, base="qwen3")
    add("qwen3 with Bert processing and Punctuation", {"replace": {
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Punctuation", "behavior": "Isolated"},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "BertProcessing", "sep": ["<|endoftext|>", 151643], "cls": ["<|im_start|>", 151644]}}},
        base="qwen3")
    add("trained BPE with unk", trained_bpe(corpus, unk=True))
    add("trained BPE with unk and fuse_unk", trained_bpe(corpus, unk=True, fuse_unk=True))
    add("trained BPE with continuing_subword_prefix", trained_bpe(corpus, unk=True, prefix="##"))
    add("trained BPE with end_of_word_suffix", with_decoder(trained_bpe(corpus, suffix="</w>"),
                                                            {"type": "BPEDecoder", "suffix": "</w>"}))
    return rows


def with_decoder(j, decoder):
    j["decoder"] = decoder
    return j


def sentencepiece_vectors(corpus, texts):
    import sentencepiece as spm
    from transformers import LlamaTokenizer
    out_dir = os.path.join(ROOT, "tests", "data", "tokenizer", "sp_tiny")
    os.makedirs(out_dir, exist_ok=True)
    train = os.path.join(out_dir, "train.txt")
    with open(train, "w", encoding="utf-8") as f:
        for t in corpus:
            f.write(t.replace("\n", " ") + "\n")
    prefix = os.path.join(out_dir, "tokenizer")
    spm.SentencePieceTrainer.train(input=train, model_prefix=prefix, vocab_size=600, model_type="bpe",
                                   byte_fallback=True, num_threads=1, character_coverage=0.98, normalization_rule_name="identity",
                                   minloglevel=2)
    os.remove(train)
    os.remove(prefix + ".vocab")
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
                   "unk_token": "<unk>", "tokenizer_class": "LlamaTokenizer", "legacy": True}, f, indent=2)
    sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    slow = LlamaTokenizer(vocab_file=prefix + ".model", legacy=True, add_bos_token=True, add_eos_token=False)
    rows = []
    for text in texts:
        ids = slow.encode(text, add_special_tokens=False)
        ids_ws = slow.encode(text, add_special_tokens=True)
        plain = "<s>" not in text and "</s>" not in text and "<unk>" not in text
        rows.append({"text": text, "ids": ids, "ids_with_special": ids_ws,
                     "decoded": sp.decode(ids) if plain else None})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    args = parser.parse_args()
    print(f"tokenizers {tokenizers.__version__}, transformers {transformers.__version__}", file=sys.stderr)
    out_dir = os.path.join(ROOT, "tests", "data", "tokenizer")
    os.makedirs(out_dir, exist_ok=True)
    corpus = load_corpus(args.shared)
    randoms = random_cases()
    texts = corpus + HARD_CASES + randoms
    sources = ["corpus"] * len(corpus) + ["hard"] * len(HARD_CASES) + ["random"] * len(randoms)
    problems = []
    check = {}
    for name in NAMES:
        rows = full_tokenizer_vectors(name, args.shared, texts, sources, problems)
        write_jsonl(os.path.join(out_dir, f"{name}.jsonl"), rows)
        check[name] = reference_check(name, args.shared, rows[:len(corpus)])
    write_jsonl(os.path.join(out_dir, "components.jsonl"), component_vectors(args.shared, corpus))
    write_jsonl(os.path.join(out_dir, "sp_tiny.jsonl"), sentencepiece_vectors(corpus, texts))
    with open(os.path.join(out_dir, "reference_check.json"), "w", encoding="utf-8") as f:
        json.dump(check, f, indent=1)
    print(json.dumps(check), file=sys.stderr)
    for p in problems:
        print("WARNING:", p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
