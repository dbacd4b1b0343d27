#!/usr/bin/env python3
"""Writes tests/data/chat/continue_final_message.json: transformers' apply_chat_template with
continue_final_message=True (the rendered prompt ends inside the final assistant message, so the
model continues it) for the demo model's template (models/demo) and the shared Qwen3 and
Llama 3.1 fixtures, plus the inputs transformers refuses (both flags set, or a final message the
template does not echo). Usage: tools/.venv-ref/bin/python tools/make_continue_vectors.py (transformers + jinja2)
"""
import json
import os

import transformers
from transformers import AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {"demo": os.path.join(ROOT, "models", "demo"),
          "qwen3": os.path.join(ROOT, "..", "shared", "fixtures", "tokenizers", "qwen3"),
          "llama3_1": os.path.join(ROOT, "..", "shared", "fixtures", "tokenizers", "llama3_1")}
CONVERSATIONS = [
    [{"role": "user", "content": "Write a haiku about rain."}, {"role": "assistant", "content": "Soft rain on the roof,"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."},
     {"role": "assistant", "content": "The colour is  "}],  # trailing spaces: HF's careful branch
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Again?"},
     {"role": "assistant", "content": "\nSure, once more:"}],
]


def main():
    out = {"generator": "tools/make_continue_vectors.py", "transformers": transformers.__version__, "cases": []}
    for name, d in MODELS.items():
        if not os.path.exists(d):
            continue
        tok = AutoTokenizer.from_pretrained(d)
        for msgs in CONVERSATIONS:
            case = {"model": name, "messages": msgs}
            try:
                case["rendered"] = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=False,
                                                           continue_final_message=True)
            except Exception as e:  # noqa: BLE001 - recorded as the expected refusal
                case["error"] = str(e)
            out["cases"].append(case)
        try:
            tok.apply_chat_template(CONVERSATIONS[0], tokenize=False, add_generation_prompt=True,
                                    continue_final_message=True)
            both = None
        except Exception as e:  # noqa: BLE001
            both = str(e)
        out["cases"].append({"model": name, "messages": CONVERSATIONS[0], "add_generation_prompt": True, "error": both})
    path = os.path.join(ROOT, "tests", "data", "chat", "continue_final_message.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    for c in out["cases"]:
        print(c["model"], repr(c.get("rendered", "")[-60:]), c.get("error"))


if __name__ == "__main__":
    main()
