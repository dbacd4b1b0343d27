#!/usr/bin/env python3
"""Print what Hugging Face transformers computes for a model directory and a prompt, to debug
mismatches of ferrite's C++ forward pass.

    tools/.venv-ref/bin/python tools/check_forward.py tests/data/models/llama --case 1
    tools/.venv-ref/bin/python tools/check_forward.py tests/data/models/qwen3 --ids 5,17,300 --modules
    tools/.venv-ref/bin/python tools/check_forward.py tests/data/models/llama --case 2 --dump /tmp/hf.json
    tools/.venv-ref/bin/python tools/check_forward.py tests/data/models/llama --case 2 --compare /tmp/cpp.json

Shown for every position: the top-k logits and max|logit| (--full prints all of them), and per layer
the hidden state (norm, mean, max|x| and the first values), with transformers' convention for
output_hidden_states: hidden_states[0] is the embedding output, hidden_states[i] (0 < i < L) the residual
stream after decoder layer i-1, and hidden_states[L] is NOT the raw output of the last layer but
final_norm(that output), i.e. the input of lm_head (the raw one is the module "model.layers.{L-1}"
under --modules).

--modules also hooks every submodule (q_proj, k_proj, v_proj, o_proj, q_norm, k_norm, mlp, gate_proj,
input_layernorm, ...) and prints its output per position. RoPE and the attention softmax are
functions, not modules: for those, --modules prints the rotated q/k of each layer (computed the way
the model does it, from the q_proj/k_proj outputs, the (q|k)_norm if any, and the rotary cos/sin).

--dump FILE writes everything as JSON:
    {"prompt_ids": [...], "logits": [T][V], "hidden_states": [L+1][T][H], "final_norm": [T][H],
     "modules": {"model.layers.0.self_attn.q_proj": [T][N], ...}}
--compare FILE reads a JSON with any subset of those keys (for example written by a C++ debug hook)
and prints the max absolute and relative difference of each, layer by layer, so the first layer
that goes wrong stands out.

Dynamic-NTK RoPE note: the rotary module of transformers is stateful (see make_reference_models.py);
this tool always runs one plain forward of the whole prompt on a freshly loaded model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch

torch.set_num_threads(1)

import transformers  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

transformers.utils.logging.disable_progress_bar()


def fmt(v: torch.Tensor, n: int) -> str:
    vals = ", ".join(f"{x:+.6f}" for x in v[:n].tolist())
    return f"[{vals}{', ...' if v.numel() > n else ''}]"


def stats(v: torch.Tensor) -> str:
    return f"norm {v.norm():9.5f}  mean {v.mean():+9.5f}  max|x| {v.abs().max():9.5f}"


def load_ids(args) -> list[int]:
    if args.ids:
        return [int(t) for t in args.ids.replace(" ", ",").split(",") if t]
    ref_path = os.path.join(args.model_dir, "reference.json")
    with open(ref_path) as f:
        ref = json.load(f)
    cases = ref["cases"] if not args.alt else ref["alt_fixed_base"]["cases"]
    case = cases[args.case]
    ids = case["prompt_ids"]
    if args.with_greedy:
        ids = ids + case["greedy_ids"][: args.with_greedy]
    return ids


def rope_probe(model, ids_t, captured: dict) -> dict:
    """Recompute rotated q and k per layer from captured projections, using the model's own rotary."""
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    cfg = model.config
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    pos = torch.arange(ids_t.shape[1])[None]
    dummy = torch.zeros(1, dtype=torch.float32)
    cos, sin = model.model.rotary_emb(dummy, pos)
    out = {}
    for i in range(cfg.num_hidden_layers):
        pre = f"model.layers.{i}.self_attn."
        q = captured.get(pre + "q_norm", captured[pre + "q_proj"].view(1, -1, cfg.num_attention_heads, head_dim))
        k = captured.get(pre + "k_norm", captured[pre + "k_proj"].view(1, -1, cfg.num_key_value_heads, head_dim))
        q = q.view(1, -1, cfg.num_attention_heads, head_dim).transpose(1, 2)
        k = k.view(1, -1, cfg.num_key_value_heads, head_dim).transpose(1, 2)
        qr, kr = apply_rotary_pos_emb(q, k, cos, sin)
        out[pre + "q_rotated"] = qr.transpose(1, 2).reshape(ids_t.shape[1], -1)
        out[pre + "k_rotated"] = kr.transpose(1, 2).reshape(ids_t.shape[1], -1)
    out["rotary.cos"] = cos[0]
    out["rotary.sin"] = sin[0]
    return out


def compare(name: str, ours: torch.Tensor, theirs, worst: list) -> None:
    t = torch.tensor(theirs, dtype=torch.float32)
    if t.shape != ours.shape:
        print(f"  {name:55s} SHAPE MISMATCH hf {tuple(ours.shape)} vs other {tuple(t.shape)}")
        return
    d = (ours - t).abs()
    scale = float(ours.abs().max()) or 1.0
    rel = float(d.max()) / scale
    where = tuple(int(x) for x in torch.nonzero(d == d.max())[0].tolist()) if d.numel() else ()
    print(f"  {name:55s} max|diff| {float(d.max()):.3e}  rel {rel:.3e}  at {where}")
    worst.append((rel, name))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--ids", help="comma-separated prompt token ids")
    g.add_argument("--case", type=int, default=0, help="take the prompt of this case from reference.json")
    ap.add_argument("--alt", action="store_true", help="use reference.json's alt_fixed_base cases")
    ap.add_argument("--with-greedy", type=int, default=0, metavar="N",
                    help="append the first N greedy ids of the case to the prompt")
    ap.add_argument("--topk", type=int, default=5)
    ap.add_argument("--first", type=int, default=6, help="how many leading values of a vector to print")
    ap.add_argument("--full", action="store_true", help="print the full logits of every position")
    ap.add_argument("--positions", default="", help="comma-separated positions to print (default all)")
    ap.add_argument("--modules", action="store_true", help="hook every submodule and print its output")
    ap.add_argument("--dump", metavar="FILE", help="write logits/hidden states/modules as JSON")
    ap.add_argument("--compare", metavar="FILE", help="compare with a JSON of the --dump layout")
    ap.add_argument("--quiet", action="store_true", help="print only the comparison / dump summary")
    args = ap.parse_args()

    ids = load_ids(args)
    model = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    cfg = model.config

    captured: dict[str, torch.Tensor] = {}
    handles = []
    if args.modules or args.dump or args.compare:
        for name, mod in model.named_modules():
            if not name or name == "model" or name == "model.layers" or name.endswith("rotary_emb"):
                continue

            def hook(m, inp, out, name=name):
                o = out[0] if isinstance(out, tuple) else out
                if isinstance(o, torch.Tensor):
                    captured[name] = o.detach().float()[0].reshape(len(ids), -1)

            handles.append(mod.register_forward_hook(hook))

    ids_t = torch.tensor([ids], dtype=torch.long)
    with torch.no_grad():
        out = model(input_ids=ids_t, attention_mask=torch.ones_like(ids_t), use_cache=False,
                    output_hidden_states=True)
    for h in handles:
        h.remove()
    logits = out.logits[0].float()
    hidden = [h[0].float() for h in out.hidden_states]
    final_norm = captured.get("model.norm")
    if captured:
        with torch.no_grad():
            captured.update(rope_probe(model, ids_t, captured))

    positions = [int(p) for p in args.positions.split(",") if p] or list(range(len(ids)))
    if not args.quiet:
        rp = getattr(cfg, "rope_parameters", None)
        print(f"model {args.model_dir}: {type(model).__name__}, layers {cfg.num_hidden_layers}, hidden "
              f"{cfg.hidden_size}, heads {cfg.num_attention_heads}/{cfg.num_key_value_heads}, rope {rp}, "
              f"sliding_window {getattr(cfg, 'sliding_window', None)}, layer_types {getattr(cfg, 'layer_types', None)}")
        print(f"transformers {transformers.__version__}, torch {torch.__version__}")
        print(f"prompt ({len(ids)} tokens): {ids}")
        print(f"hidden_states: {len(hidden)} entries (embeddings + {len(hidden) - 1} layers; the last one "
              "is after the final norm)")
        for p in positions:
            lg = logits[p]
            top = torch.topk(lg, min(args.topk, lg.numel()))
            tops = ", ".join(f"{i}:{v:+.6f}" for v, i in zip(top.values.tolist(), top.indices.tolist()))
            print(f"\npos {p} token {ids[p]}: max|logit| {lg.abs().max():.6f}  top{args.topk} {tops}")
            if args.full:
                print("  logits " + json.dumps([float(f"{x:.9g}") for x in lg.tolist()]))
            for li, h in enumerate(hidden):
                label = "embed" if li == 0 else f"layer{li - 1}"
                if li == len(hidden) - 1:
                    label += "+norm"
                print(f"  hidden[{li:2d}] {label:8s} {stats(h[p])}  {fmt(h[p], args.first)}")
            if args.modules:
                for name, v in captured.items():
                    if name.startswith("rotary."):
                        continue
                    print(f"    {name:50s} {stats(v[p])}  {fmt(v[p], args.first)}")

    if args.dump:
        d = {
            "prompt_ids": ids,
            "logits": logits.tolist(),
            "hidden_states": [h.tolist() for h in hidden],
            "modules": {k: v.tolist() for k, v in captured.items()},
        }
        if final_norm is not None:
            d["final_norm"] = final_norm.tolist()
        with open(args.dump, "w") as f:
            json.dump(d, f)
        print(f"wrote {args.dump}")

    if args.compare:
        with open(args.compare) as f:
            other = json.load(f)
        if "prompt_ids" in other and other["prompt_ids"] != ids:
            print("WARNING: prompt_ids differ from the compared file")
        worst: list = []
        print(f"comparing with {args.compare} (rel = max|diff| / max|hf value|)")
        for i, h in enumerate(other.get("hidden_states", [])):
            if i < len(hidden) and h is not None:
                compare(f"hidden_states[{i}]", hidden[i], h, worst)
        if "final_norm" in other and final_norm is not None:
            compare("final_norm", final_norm, other["final_norm"], worst)
        for name, v in other.get("modules", {}).items():
            if name in captured:
                compare(name, captured[name], v, worst)
            else:
                print(f"  {name:55s} (no such module in HF)")
        if "logits" in other:
            compare("logits", logits, other["logits"], worst)
            theirs = torch.tensor(other["logits"])
            if theirs.shape == logits.shape:
                agree = (theirs.argmax(-1) == logits.argmax(-1)).tolist()
                print(f"  argmax agrees at {sum(agree)}/{len(agree)} positions")
        if worst:
            rel, name = max(worst)
            print(f"largest relative difference: {rel:.3e} in {name}")
        sys.exit(0)


if __name__ == "__main__":
    main()
