#!/usr/bin/env python3
"""Writes tests/data/demo/reference.json: Hugging Face transformers' tokenization, chat-template
rendering and greedy continuations for the shipped demo models (models/demo, models/demo-draft),
so tests/integration/demo_model_test.cpp can check ferrite against them without torch in CI.

For each model and prompt: the prompt's ids (plain text via the tokenizer without special tokens,
or chat messages via apply_chat_template(add_generation_prompt=True)), and MAX_NEW greedy tokens
computed by transformers in fp32 on the bf16 weights (what ferrite does), without stopping at EOS.
Also the draft's greedy agreement with the target over the same prompts (per token position).

Usage (venv tools/.venv-ref: torch, transformers):
  tools/.venv-ref/bin/python tools/make_demo_reference.py [--models models/demo,models/demo-draft]
"""
import argparse
import json
import os

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_NEW = 24
TEXT_PROMPTS = ["Once upon a time", "It was a fine morning, and", "\"My dear Mr. Bennet,\" said his lady to him one day,"]
CHAT_PROMPTS = [
    [{"role": "user", "content": "Hello! How are you today?"}],
    [{"role": "user", "content": "Tell me a story."}],
    [{"role": "system", "content": "You are a friendly assistant."},
     {"role": "user", "content": "What do you like to do on weekends?"}],
]


def greedy(model, ids, n):
    x = torch.tensor([ids])
    with torch.no_grad():
        for _ in range(n):
            x = torch.cat([x, model(input_ids=x, use_cache=False).logits[:, -1].argmax(-1, keepdim=True)], 1)
    return x[0, len(ids):].tolist()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="models/demo,models/demo-draft")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "demo", "reference.json"))
    args = ap.parse_args()
    torch.manual_seed(0)
    out = {"generator": "tools/make_demo_reference.py", "max_new_tokens": MAX_NEW,
           "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__},
           "models": {}}
    continuations = {}
    for rel in args.models.split(","):
        d = os.path.join(ROOT, rel)
        tok = AutoTokenizer.from_pretrained(d)
        model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
        cases = []
        for p in TEXT_PROMPTS:
            ids = tok(p, add_special_tokens=False)["input_ids"]
            cases.append({"text": p, "prompt_ids": ids, "greedy_ids": greedy(model, ids, MAX_NEW)})
        for m in CHAT_PROMPTS:
            rendered = tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True)
            ids = tok(rendered, add_special_tokens=False)["input_ids"]
            cases.append({"messages": m, "rendered": rendered, "prompt_ids": ids, "greedy_ids": greedy(model, ids, MAX_NEW)})
        for c in cases:
            c["greedy_text"] = tok.decode(c["greedy_ids"], skip_special_tokens=False)
        out["models"][rel] = {"cases": cases}
        continuations[rel] = [c["greedy_ids"] for c in cases]
    names = list(continuations)
    if len(names) == 2:
        a, b = continuations[names[0]], continuations[names[1]]
        # Agreement in the speculative-decoding sense: how many leading tokens the draft gets right.
        prefix = [next((i for i, (x, y) in enumerate(zip(u, v)) if x != y), len(u)) for u, v in zip(a, b)]
        out["draft_leading_agreement"] = {"per_prompt": prefix, "mean": sum(prefix) / len(prefix)}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    for rel, m in out["models"].items():
        for c in m["cases"]:
            print(rel, repr(c.get("text") or c["messages"][-1]["content"]), "->", repr(c["greedy_text"]))


if __name__ == "__main__":
    main()
