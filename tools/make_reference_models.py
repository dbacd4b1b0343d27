#!/usr/bin/env python3
"""Make the tiny random-weight reference models that ferrite's C++ forward pass is tested against.

Usage (from the repository root):

    python3 -m venv tools/.venv-ref
    tools/.venv-ref/bin/pip install torch transformers safetensors
    tools/.venv-ref/bin/python tools/make_reference_models.py            # writes tests/data/models/
    tools/.venv-ref/bin/python tools/make_reference_models.py --only llama,qwen3 --out /tmp/m

For each model it writes, under tests/data/models/<name>/:
  config.json, model.safetensors (or shards + model.safetensors.index.json), generation_config.json,
  reference.json:
    {"max_tokens": 32, "dtype": "float32"|"bfloat16", "transformers_version": ..., "torch_version": ...,
     "cases": [{"prompt_ids": [...], "greedy_ids": [...], "last_logits": [...], "min_top2_gap": g, ...}]}

How the references are computed (Hugging Face transformers, CPU, fp32 compute, attn_implementation="eager"):
  * greedy_ids: model.generate(do_sample=False, max_new_tokens=32, min_new_tokens=32) with
    eos_token_id=None, so it is the pure argmax continuation of exactly 32 tokens (the prompt is not
    included). No logits processor touches the scores (min_new_tokens does nothing without an eos id).
    The C++ test must generate with eos ignored.
  * last_logits: full-vocab logits at the last prompt position from a plain forward of the prompt.
  * min_top2_gap: min over the 32 greedy steps of (top1 - top2) logit, on the logits that generate() saw.
    "min_top2_gap_rel" divides each step's gap by that step's max|logit|. A case whose relative gap is below
    GAP_REL_MIN (a near-tie that float reordering could flip) is re-drawn with another prompt seed; the
    script logs it.
  * A cross-check recomputes every greedy step with a plain no-cache forward of prompt+continuation and
    checks the argmax ("nocache_argmax_agrees" per case).
  * Each saved directory is reloaded with AutoModelForCausalLM.from_pretrained and must reproduce the
    greedy ids and the last logits (this is the self-check of the fixture files).

Dynamic NTK RoPE ("rope_type": "dynamic") semantics in the transformers version this was made with
(5.x, modeling_rope_utils.dynamic_rope_update): the rotary module is STATEFUL. On each forward call
seq_len = max(position_ids) + 1; if seq_len > the cached length (initially max_position_embeddings)
inv_freq is recomputed with
    base' = rope_theta * (factor * seq_len / max_position_embeddings - (factor - 1)) ** (dim / (dim - 2))
and the cached length becomes seq_len; if seq_len < max_position_embeddings after growth, it resets to
the original inv_freq. During cached generation each decode step has a new, larger seq_len, so the
query and the NEW key of that step are rotated with base'(seq_len), while the keys already in the KV
cache keep the rotation of the step that wrote them (they are never re-rotated). The prefill of a prompt
of length L > max_position_embeddings uses base'(L) for all its positions. Because of the state, this
script uses a fresh copy of the model for every forward / generate call, so every reference starts
from the pristine rotary state. The no-cache cross-check shows where this differs from recomputing
from scratch (nocache_argmax_agrees may be false for the dynamic model, which is expected and not a
near-tie). vLLM, by contrast, uses one fixed base computed with seq_len = max_position_embeddings * factor;
reference.json of the dynamic model also carries "alt_fixed_base": the same prompts under that semantics.

Sliding window (Mistral, Qwen2 use_sliding_window=true): transformers' mask lets query position q see
key positions k with q - sliding_window < k <= q, i.e. the last `sliding_window` tokens including itself.
Qwen2/Qwen3 apply the window only to layers with index >= max_window_layers (config.layer_types).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import time

import torch

torch.set_num_threads(1)  # bit-for-bit reproducible CPU reductions
torch.use_deterministic_algorithms(True)

import safetensors  # noqa: E402
import transformers  # noqa: E402

transformers.utils.logging.disable_progress_bar()
from safetensors.torch import load_file  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    DeepseekV2Config,
    DeepseekV2ForCausalLM,
    DeepseekV3Config,
    DeepseekV3ForCausalLM,
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    MixtralConfig,
    MixtralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen2MoeConfig,
    Qwen2MoeForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
    Qwen3MoeConfig,
    Qwen3MoeForCausalLM,
)

MAX_TOKENS = 32
GAP_REL_MIN = 1e-3  # min (top1-top2)/max|logit| along a greedy path, fp32 models
GAP_REL_MIN_BF16 = 1e-3  # same for the bf16-weight model (reference is fp32 compute on bf16 weights)
MIN_DISTINCT = 6  # a greedy continuation must have at least this many distinct tokens
MAX_ATTEMPTS = 40
VOCAB = 512

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "tests", "data", "models")

# Shared shape of the tiny llama-family models.
LLAMA_BASE = dict(
    vocab_size=VOCAB,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    hidden_act="silu",
    max_position_embeddings=128,
    rms_norm_eps=1e-5,
    rope_theta=10000.0,
    bos_token_id=1,
    eos_token_id=2,
    tie_word_embeddings=False,
    attention_bias=False,
    mlp_bias=False,
)

QWEN_BASE = dict(
    vocab_size=VOCAB,
    hidden_size=64,
    intermediate_size=172,
    num_hidden_layers=3,
    num_attention_heads=4,
    num_key_value_heads=2,
    hidden_act="silu",
    max_position_embeddings=128,
    rms_norm_eps=1e-6,
    rope_theta=1000000.0,
    bos_token_id=1,
    eos_token_id=2,
    tie_word_embeddings=False,
)

# name -> spec. "rope_scaling" is written into config.json in the classic form (as nearly all
# checkpoints on the Hub carry it); transformers 5 reads it into config.rope_parameters.
SPECS = {
    "llama": dict(cls=LlamaForCausalLM, cfg_cls=LlamaConfig, cfg=dict(LLAMA_BASE), seed=1001),
    "llama_tied": dict(
        cls=LlamaForCausalLM, cfg_cls=LlamaConfig, cfg=dict(LLAMA_BASE, tie_word_embeddings=True), seed=1002
    ),
    "llama3_rope": dict(
        cls=LlamaForCausalLM,
        cfg_cls=LlamaConfig,
        cfg=dict(
            LLAMA_BASE,
            rope_theta=500000.0,
            rope_scaling=dict(
                rope_type="llama3",
                factor=8.0,
                low_freq_factor=1.0,
                high_freq_factor=4.0,
                original_max_position_embeddings=16,
            ),
        ),
        seed=1003,
    ),
    # Written in the transformers-5 native form ("rope_parameters" holding rope_theta, "dtype"), so the
    # C++ config loader sees that form too.
    "llama_linear_rope": dict(
        cls=LlamaForCausalLM,
        cfg_cls=LlamaConfig,
        cfg=dict(LLAMA_BASE, rope_scaling=dict(rope_type="linear", factor=2.0)),
        seed=1004,
        native_config=True,
    ),
    "llama_dynamic_rope": dict(
        cls=LlamaForCausalLM,
        cfg_cls=LlamaConfig,
        cfg=dict(LLAMA_BASE, max_position_embeddings=16, rope_scaling=dict(rope_type="dynamic", factor=2.0)),
        seed=1005,
    ),
    "llama_yarn_rope": dict(
        cls=LlamaForCausalLM,
        cfg_cls=LlamaConfig,
        cfg=dict(
            LLAMA_BASE,
            max_position_embeddings=128,
            rope_scaling=dict(rope_type="yarn", factor=4.0, original_max_position_embeddings=32),
        ),
        seed=1006,
        variants=[
            ("yarn without its attention factor (attention_factor=1)",
             dict(rope_scaling=dict(rope_type="yarn", factor=4.0, original_max_position_embeddings=32,
                                    attention_factor=1.0))),
        ],
    ),
    "mistral_swa": dict(
        cls=MistralForCausalLM,
        cfg_cls=MistralConfig,
        cfg=dict(
            {k: v for k, v in LLAMA_BASE.items() if k not in ("attention_bias", "mlp_bias")},
            sliding_window=8,
        ),
        seed=1007,
        prompt_lens=(5, 20, 30, 40),
        variants=[("no sliding window", dict(sliding_window=None))],
    ),
    "qwen2": dict(
        cls=Qwen2ForCausalLM,
        cfg_cls=Qwen2Config,
        cfg=dict(QWEN_BASE, use_sliding_window=False, sliding_window=None, max_window_layers=2),
        seed=1008,
        # Like real Qwen2.5 checkpoints (sliding_window 32768/131072 with use_sliding_window false): a window
        # value is present but must be ignored because use_sliding_window is false. Here it is 8, so a loader
        # that wrongly applies it changes the result (see the sensitivity check).
        config_overrides=dict(sliding_window=8),
        config_drop=("layer_types",),
        variants=[("use_sliding_window=true (wrongly applying sliding_window 8)",
                   dict(use_sliding_window=True, sliding_window=8))],
    ),
    "qwen2_swa": dict(
        cls=Qwen2ForCausalLM,
        cfg_cls=Qwen2Config,
        # layers 1 and 2 (index >= max_window_layers) use the window, layer 0 is full attention
        cfg=dict(QWEN_BASE, use_sliding_window=True, sliding_window=8, max_window_layers=1),
        seed=1009,
        prompt_lens=(5, 20, 30, 40),
        # real Qwen2 checkpoints carry no layer_types: the loader derives them from max_window_layers
        config_drop=("layer_types",),
        variants=[
            ("no sliding window", dict(use_sliding_window=False)),
            ("window on every layer (max_window_layers=0)", dict(max_window_layers=0)),
            ("window on layers < max_window_layers (the reverse rule)",
             dict(layer_types=["sliding_attention", "full_attention", "full_attention"])),
        ],
    ),
    "qwen3": dict(
        cls=Qwen3ForCausalLM,
        cfg_cls=Qwen3Config,
        cfg=dict(
            QWEN_BASE,
            intermediate_size=160,
            head_dim=32,
            attention_bias=False,
            use_sliding_window=False,
            sliding_window=None,
            max_window_layers=3,
            tie_word_embeddings=True,
        ),
        seed=1010,
        config_drop=("layer_types",),
    ),
    "llama_bf16": dict(cls=LlamaForCausalLM, cfg_cls=LlamaConfig, cfg=dict(LLAMA_BASE), seed=1011, bf16=True),
    # Mixture of experts: 8 experts, top 2; the 20- and 40-token prompts route tokens to every expert
    # of every sparse layer (checked below). transformers 5 save_pretrained writes one tensor per expert
    # (block_sparse_moe.experts.{e}.w1/w2/w3, mlp.experts.{e}.gate_proj/up_proj/down_proj).
    "mixtral": dict(
        cls=MixtralForCausalLM,
        cfg_cls=MixtralConfig,
        cfg=dict(
            {k: v for k, v in LLAMA_BASE.items() if k not in ("attention_bias", "mlp_bias")},
            intermediate_size=32,
            num_local_experts=8,
            num_experts_per_tok=2,
            sliding_window=None,
        ),
        seed=1012,
        variants=[("top-1 routing (num_experts_per_tok=1)", dict(num_experts_per_tok=1))],
    ),
    # Like Qwen1.5-MoE: norm_topk_prob false, a sigmoid-gated shared expert in every sparse layer.
    "qwen2_moe": dict(
        cls=Qwen2MoeForCausalLM,
        cfg_cls=Qwen2MoeConfig,
        cfg=dict(
            QWEN_BASE,
            num_hidden_layers=2,
            intermediate_size=64,
            moe_intermediate_size=24,
            shared_expert_intermediate_size=48,
            num_experts=8,
            num_experts_per_tok=2,
            norm_topk_prob=False,
            decoder_sparse_step=1,
            use_sliding_window=False,
            sliding_window=None,
            max_window_layers=2,
        ),
        seed=1013,
        config_drop=("layer_types",),
        variants=[("renormalised top-k (norm_topk_prob=true)", dict(norm_topk_prob=True))],
    ),
    # Like Qwen3-30B-A3B (norm_topk_prob true, q/k norm), with mlp_only_layers=[1] so that layer 1
    # is a dense MLP between two sparse layers.
    "qwen3_moe": dict(
        cls=Qwen3MoeForCausalLM,
        cfg_cls=Qwen3MoeConfig,
        cfg=dict(
            QWEN_BASE,
            intermediate_size=64,
            moe_intermediate_size=24,
            num_experts=8,
            num_experts_per_tok=2,
            norm_topk_prob=True,
            decoder_sparse_step=1,
            mlp_only_layers=[1],
            attention_bias=False,
            use_sliding_window=False,
            sliding_window=None,
        ),
        seed=1014,
        variants=[("plain top-k weights (norm_topk_prob=false)", dict(norm_topk_prob=False))],
    ),
    # DeepSeek-V2-Lite style: MLA with a plain q_proj (q_lora_rank null), kv_lora_rank 32, rope part 8,
    # no-rope part 16, v_head_dim 20 (!= 24 of q/k); layer 0 dense (first_k_dense_replace 1), layers 1-2
    # MoE: softmax router, group_limited_greedy over 4 groups of 2 keeping 2 groups, top 3, weights not
    # renormalised, times routed_scaling_factor 2; 2 shared experts (one MLP of 2 * 24). YaRN with
    # mscale == mscale_all_dim (cos/sin unscaled, the softmax scale times mscale^2). transformers'
    # DeepSeek-V2 rotates q_pe/k_pe as interleaved pairs (complex multiply).
    "deepseek_v2": dict(
        cls=DeepseekV2ForCausalLM,
        cfg_cls=DeepseekV2Config,
        cfg=dict(
            QWEN_BASE,
            num_hidden_layers=3,
            num_key_value_heads=4,
            intermediate_size=96,
            rms_norm_eps=1e-6,
            rope_theta=10000.0,
            q_lora_rank=None,
            kv_lora_rank=32,
            qk_nope_head_dim=16,
            qk_rope_head_dim=8,
            v_head_dim=20,
            first_k_dense_replace=1,
            n_routed_experts=8,
            n_shared_experts=2,
            moe_intermediate_size=24,
            num_experts_per_tok=3,
            topk_method="group_limited_greedy",
            n_group=4,
            topk_group=2,
            norm_topk_prob=False,
            routed_scaling_factor=2.0,
            rope_scaling=dict(rope_type="yarn", factor=4.0, original_max_position_embeddings=32,
                              beta_fast=32.0, beta_slow=1.0, mscale=0.707, mscale_all_dim=0.707),
        ),
        seed=1015,
        # transformers writes its derived head_dim/qk_head_dim; Hub DeepSeek configs carry neither
        config_drop=("head_dim", "qk_head_dim"),
        variants=[
            ("plain greedy top-k (topk_method=greedy)", dict(topk_method="greedy")),
            ("no routed scaling (routed_scaling_factor=1)", dict(routed_scaling_factor=1.0)),
            ("yarn without mscale_all_dim (no softmax-scale correction)",
             dict(rope_scaling=dict(rope_type="yarn", factor=4.0, original_max_position_embeddings=32,
                                    beta_fast=32.0, beta_slow=1.0, mscale=0.707, mscale_all_dim=0))),
        ],
    ),
    # DeepSeek-V3 style: q_lora_rank 48 (q_a_proj, q_a_layernorm, q_b_proj), sigmoid router with a
    # non-zero random e_score_correction_bias (selection only), groups scored by their top-2 sum, 16
    # experts in 4 groups keeping 2, top 3, renormalised, routed_scaling_factor 2.5, one shared expert;
    # rope_interleave true; YaRN with mscale 1.0 != mscale_all_dim 0.8 (cos/sin and softmax scale both
    # change).
    "deepseek_v3": dict(
        cls=DeepseekV3ForCausalLM,
        cfg_cls=DeepseekV3Config,
        cfg=dict(
            QWEN_BASE,
            num_hidden_layers=3,
            num_key_value_heads=4,
            intermediate_size=96,
            rms_norm_eps=1e-6,
            rope_theta=10000.0,
            q_lora_rank=48,
            kv_lora_rank=32,
            qk_nope_head_dim=16,
            qk_rope_head_dim=8,
            v_head_dim=20,
            first_k_dense_replace=1,
            n_routed_experts=16,
            n_shared_experts=1,
            moe_intermediate_size=24,
            num_experts_per_tok=3,
            n_group=4,
            topk_group=2,
            norm_topk_prob=True,
            routed_scaling_factor=2.5,
            rope_interleave=True,
            rope_scaling=dict(rope_type="yarn", factor=4.0, original_max_position_embeddings=32,
                              beta_fast=32.0, beta_slow=1.0, mscale=1.0, mscale_all_dim=0.8),
        ),
        seed=1018,
        score_bias_std=0.1,
        config_drop=("head_dim", "qk_head_dim"),
        # The Hub config names the router; transformers' V3 router ignores both keys (always sigmoid,
        # noaux_tc), ferrite checks them.
        config_overrides=dict(topk_method="noaux_tc", scoring_func="sigmoid"),
        variants=[
            ("no e_score_correction_bias", dict(_no_score_bias=True)),
            ("no group limit (n_group=1, topk_group=1)", dict(n_group=1, topk_group=1)),
            ("not renormalised (norm_topk_prob=false)", dict(norm_topk_prob=False)),
            ("rope not interleaved (rope_interleave=false)", dict(rope_interleave=False)),
        ],
    ),
    # For tensor parallelism: one KV head (every rank needs the same one, replicated), a vocabulary of
    # 509 (prime: no tensor-parallel degree divides it), an intermediate size of 100 (uneven shards at
    # 3 ranks), tied embeddings, and the q/k/v/o and MLP biases (a row-parallel bias is added once).
    "llama_mqa_vocab509": dict(
        cls=LlamaForCausalLM,
        cfg_cls=LlamaConfig,
        cfg=dict(
            LLAMA_BASE,
            vocab_size=509,
            intermediate_size=100,
            num_key_value_heads=1,
            tie_word_embeddings=True,
            attention_bias=True,
            mlp_bias=True,
        ),
        seed=1015,
    ),
    # Same weights as "llama" (same seed and shape), split into shards.
    "llama_sharded": dict(
        cls=LlamaForCausalLM, cfg_cls=LlamaConfig, cfg=dict(LLAMA_BASE), seed=1001, max_shard_size=250_000
    ),
}

DEFAULT_PROMPT_LENS = (1, 7, 20, 40)
INIT_STD = 0.15  # linear weights, embeddings, biases
NORM_STD = 0.1  # norm weights are 1 + NORM_STD * N(0, 1)


def log(msg: str) -> None:
    print(msg, flush=True)


_DROP = object()


def init_weights(model: torch.nn.Module, seed: int) -> None:
    """Re-initialise every parameter from a seeded generator with a larger std than HF's default,
    so logits are far from flat and greedy continuations are non-trivial."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if "norm" in name:
                p.copy_(1.0 + NORM_STD * noise)
            else:
                p.copy_(INIT_STD * noise)


def build_model(spec: dict, cfg_changes: dict | None = None) -> torch.nn.Module:
    cfg = dict(spec["cfg"])
    for k, v in (cfg_changes or {}).items():
        if v is _DROP:
            cfg.pop(k, None)
        else:
            cfg[k] = v
    no_score_bias = cfg.pop("_no_score_bias", False)
    config = spec["cfg_cls"](**cfg)
    config._attn_implementation = "eager"
    torch.manual_seed(spec["seed"])
    model = spec["cls"](config).to(torch.float32)
    init_weights(model, spec["seed"])
    if spec.get("score_bias_std") and not no_score_bias:
        # DeepSeek-V3's e_score_correction_bias is a buffer (init_weights leaves it at zero); give it
        # seeded values so that selection by biased scores differs from selection by the scores.
        gen = torch.Generator().manual_seed(spec["seed"] + 1)
        with torch.no_grad():
            for name, b in sorted(model.named_buffers(), key=lambda kv: kv[0]):
                if name.endswith("e_score_correction_bias"):
                    b.copy_(spec["score_bias_std"] * torch.randn(b.shape, generator=gen, dtype=torch.float32))
    if model.config.tie_word_embeddings:
        model.tie_weights()
    if spec.get("bf16"):
        # round the weights to bf16, keep fp32 compute on the rounded values
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.to(torch.bfloat16).to(torch.float32))
    model.eval()
    return model


def legacy_config(path: str, spec: dict) -> None:
    """Rewrite config.json the way most Hub checkpoints carry it: rope_theta at top level, rope_scaling
    for a non-default rope type, torch_dtype instead of dtype. transformers 5 reads both forms."""
    with open(path) as f:
        cfg = json.load(f)
    rp = cfg.pop("rope_parameters", None) or {}
    rp = dict(rp)
    theta = rp.pop("rope_theta", spec["cfg"].get("rope_theta", 10000.0))
    cfg["rope_theta"] = theta
    if rp.get("rope_type", "default") != "default":
        cfg["rope_scaling"] = rp
    else:
        cfg["rope_scaling"] = None
    if "dtype" in cfg:
        cfg["torch_dtype"] = cfg.pop("dtype")
    for k in spec.get("config_drop", ()):
        cfg.pop(k, None)
    cfg.update(spec.get("config_overrides", {}))
    with open(path, "w") as f:
        json.dump(dict(sorted(cfg.items())), f, indent=2)
        f.write("\n")


def fresh(model):
    # the rotary module of dynamic-NTK RoPE keeps state between calls; always start from a pristine copy
    return copy.deepcopy(model)


@torch.no_grad()
def forward_logits(model, ids: list[int]) -> torch.Tensor:
    x = torch.tensor([ids], dtype=torch.long)
    out = fresh(model)(input_ids=x, attention_mask=torch.ones_like(x), use_cache=False)
    return out.logits[0].float()  # [T, V]


@torch.no_grad()
def greedy(model, ids: list[int]):
    x = torch.tensor([ids], dtype=torch.long)
    gc = GenerationConfig(
        do_sample=False,
        max_new_tokens=MAX_TOKENS,
        min_new_tokens=MAX_TOKENS,
        eos_token_id=None,
        bos_token_id=None,
        pad_token_id=0,
        num_beams=1,
        temperature=None,
        top_p=None,
        top_k=None,
        use_cache=True,
        return_dict_in_generate=True,
        output_logits=True,
    )
    m = fresh(model)
    # generate() fills an unset eos_token_id from the model's own generation config, and
    # min_new_tokens would then mask that id for all 32 steps: clear it, so nothing touches the scores.
    m.generation_config.eos_token_id = None
    out = m.generate(x, attention_mask=torch.ones_like(x), generation_config=gc)
    seq = out.sequences[0, len(ids) :].tolist()
    step_logits = [lg[0].float() for lg in out.logits]
    assert len(seq) == MAX_TOKENS and len(step_logits) == MAX_TOKENS, (len(seq), len(step_logits))
    return seq, step_logits


def top2_gap(logits: torch.Tensor) -> tuple[float, float]:
    v = torch.topk(logits, 2).values
    gap = float(v[0] - v[1])
    return gap, gap / float(logits.abs().max())


def r9(x: float) -> float:
    # 9 significant digits round-trip a float32 exactly
    return float(f"{x:.9g}")


def make_case(model, spec, plen, prompt_seed):
    gen = torch.Generator().manual_seed(prompt_seed)
    prompt = torch.randint(3, spec["cfg"].get("vocab_size", VOCAB), (plen,), generator=gen).tolist()
    seq, step_logits = greedy(model, prompt)
    gaps = [top2_gap(lg) for lg in step_logits]
    last = forward_logits(model, prompt)[-1]
    # first greedy step and the plain forward must agree closely
    d = float((last - step_logits[0]).abs().max())
    scale = float(last.abs().max())
    assert d <= 1e-5 * scale, f"generate step 0 vs forward: {d} (scale {scale})"
    # no-cache cross check: recompute each step from scratch
    full = forward_logits(model, prompt + seq)
    nocache = full[len(prompt) - 1 : len(prompt) - 1 + MAX_TOKENS].argmax(-1).tolist()
    nocache_agrees = nocache == seq
    first_diff = next((i for i, (a, b) in enumerate(zip(nocache, seq)) if a != b), None)
    case = {
        "prompt_ids": prompt,
        "greedy_ids": seq,
        "last_logits": [r9(v) for v in last.tolist()],
        "min_top2_gap": r9(min(g for g, _ in gaps)),
        "min_top2_gap_rel": r9(min(r for _, r in gaps)),
        "max_abs_logit": r9(max(float(lg.abs().max()) for lg in step_logits)),
        "top2_gaps": [float(f"{g:.4g}") for g, _ in gaps],
        "nocache_argmax_agrees": nocache_agrees,
        "prompt_seed": prompt_seed,
    }
    if not nocache_agrees:
        case["nocache_first_diff_step"] = first_diff
    return case


def dump_reference(ref: dict) -> str:
    # one key per line and one case per line: compact, but diffs stay readable
    lines = []
    for k, v in ref.items():
        if k == "cases":
            body = ",\n".join("  " + json.dumps(c, separators=(",", ":")) for c in v)
            lines.append(f' "cases": [\n{body}\n ]')
        else:
            lines.append(f" {json.dumps(k)}: {json.dumps(v)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def save_model(model, spec, out_dir: str) -> None:
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    kw = {}
    if spec.get("max_shard_size"):
        kw["max_shard_size"] = spec["max_shard_size"]
    m = model
    if spec.get("bf16"):
        m = copy.deepcopy(model).to(torch.bfloat16)
    m.generation_config = GenerationConfig(bos_token_id=1, eos_token_id=2, do_sample=False)
    m.save_pretrained(out_dir, safe_serialization=True, **kw)
    for fn in os.listdir(out_dir):
        os.chmod(os.path.join(out_dir, fn), 0o644)
    if not spec.get("native_config"):
        legacy_config(os.path.join(out_dir, "config.json"), spec)


def check_saved(out_dir: str, ref: dict, spec: dict) -> None:
    """Reload with from_pretrained and reproduce greedy ids and last logits."""
    model = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    assert type(model) is spec["cls"], type(model)
    c = model.config
    want = spec["cfg"]
    for k in ("hidden_size", "num_hidden_layers", "num_key_value_heads", "tie_word_embeddings", "vocab_size"):
        assert getattr(c, k) == want[k], (k, getattr(c, k), want[k])
    if "rope_scaling" in want:
        for k, v in want["rope_scaling"].items():
            assert c.rope_parameters[k] == v, (k, c.rope_parameters, v)
    assert c.rope_parameters["rope_theta"] == want["rope_theta"], c.rope_parameters
    # tensor names on disk
    names = set()
    for fn in sorted(os.listdir(out_dir)):
        if fn.endswith(".safetensors"):
            names |= set(load_file(os.path.join(out_dir, fn)).keys())
            with safetensors.safe_open(os.path.join(out_dir, fn), "pt") as f:
                want_dt = "BF16" if spec.get("bf16") else "F32"
                for n in f.keys():
                    assert f.get_slice(n).get_dtype() == want_dt, (n, f.get_slice(n).get_dtype(), want_dt)
    if want.get("tie_word_embeddings"):
        assert "lm_head.weight" not in names, "tied model must not store lm_head.weight"
    else:
        assert "lm_head.weight" in names
    for case in ref["cases"]:
        seq, _ = greedy(model, case["prompt_ids"])
        assert seq == case["greedy_ids"], f"{out_dir}: reload greedy mismatch"
        last = forward_logits(model, case["prompt_ids"])[-1]
        d = float((last - torch.tensor(case["last_logits"])).abs().max())
        assert d <= 1e-6 * max(1.0, float(last.abs().max())), f"{out_dir}: reload logits differ by {d}"


def sensitivity(name: str, spec: dict, cases: list[dict]) -> list[dict]:
    """Show that each special feature matters on these prompts: rebuild the same weights with the feature
    changed and compare last logits and greedy ids with the reference."""
    variants = list(spec.get("variants", []))
    if "rope_scaling" in spec["cfg"]:
        variants.append(("no rope scaling", {"rope_scaling": _DROP}))
    out = []
    for desc, changes in variants:
        m = build_model(spec, changes)
        rel, ndiff = 0.0, 0
        for c in cases:
            last = forward_logits(m, c["prompt_ids"])[-1]
            ref = torch.tensor(c["last_logits"])
            rel = max(rel, float((last - ref).abs().max() / ref.abs().max()))
            seq, _ = greedy(m, c["prompt_ids"])
            ndiff += seq != c["greedy_ids"]
        log(f"  [{name}] sensitivity: {desc}: max rel last-logit diff {rel:.2e}, greedy differs in {ndiff}/{len(cases)} cases")
        assert rel > 1e-3 and ndiff > 0, f"{name}: feature '{desc}' does not change the result"
        out.append({"variant": desc, "max_rel_last_logit_diff": float(f"{rel:.3g}"), "greedy_cases_differ": ndiff})
    return out


def dynamic_fixed_base_model(spec: dict):
    """The other common dynamic-NTK semantics (vLLM's): one fixed base computed for
    seq_len = max_position_embeddings * factor, used for every position and step. Equivalent to plain
    RoPE with rope_theta' = rope_theta * (factor * factor - (factor - 1)) ** (dim / (dim - 2))."""
    cfg = spec["cfg"]
    factor = cfg["rope_scaling"]["factor"]
    dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    theta = cfg["rope_theta"] * (factor * factor - (factor - 1)) ** (dim / (dim - 2))
    return build_model(spec, {"rope_scaling": _DROP, "rope_theta": theta}), theta


def alt_case(model, prompt: list[int]) -> dict:
    seq, step_logits = greedy(model, prompt)
    last = forward_logits(model, prompt)[-1]
    gaps = [top2_gap(lg) for lg in step_logits]
    return {
        "prompt_ids": prompt,
        "greedy_ids": seq,
        "last_logits": [r9(v) for v in last.tolist()],
        "min_top2_gap": r9(min(g for g, _ in gaps)),
        "min_top2_gap_rel": r9(min(r for _, r in gaps)),
        "top2_gaps": [float(f"{g:.4g}") for g, _ in gaps],
    }


@torch.no_grad()
def routed_experts(model, ids: list[int]) -> list[set]:
    """The experts each sparse layer picks for the tokens of one prompt. DeepSeek's routers
    (TopkRouter: groups, score bias) return their choice as output[2]; the others are softmax top-k of
    the router logits."""
    cfg = model.config
    m = fresh(model)
    x = torch.tensor([ids], dtype=torch.long)
    routers = [mod for _, mod in m.named_modules() if type(mod).__name__.endswith("TopkRouter")]
    if routers:
        picked = []
        hooks = [r.register_forward_hook(lambda _m, _i, out: picked.append(out[2])) for r in routers]
        m(input_ids=x, attention_mask=torch.ones_like(x), use_cache=False)
        for h in hooks:
            h.remove()
        return [set(p.flatten().tolist()) for p in picked]
    out = m(input_ids=x, attention_mask=torch.ones_like(x), use_cache=False, output_router_logits=True)
    return [
        set(torch.topk(torch.softmax(lg.float(), -1), cfg.num_experts_per_tok, -1).indices.flatten().tolist())
        for lg in out.router_logits
    ]


def check_every_expert_routed(name: str, model, cases: list[dict]) -> None:
    """MoE fixtures: over the prompts, every expert of every sparse layer gets at least one token, and
    in some prompt some expert gets none (the expert pass must handle empty experts)."""
    cfg = model.config
    experts = getattr(cfg, "n_routed_experts", None) or getattr(cfg, "num_local_experts", None) or cfg.num_experts
    hit = None
    some_empty = False
    for c in cases:
        layers = routed_experts(model, c["prompt_ids"])
        if hit is None:
            hit = [set() for _ in layers]
        for s, idx in zip(hit, layers):
            s.update(idx)
            some_empty = some_empty or len(idx) < experts
    for i, s in enumerate(hit):
        assert len(s) == experts, f"{name}: sparse layer {i} routes to only {sorted(s)}"
    assert some_empty, f"{name}: every prompt reaches every expert"
    log(f"  [{name}] every expert of all {len(hit)} sparse layers gets tokens; some prompts leave experts empty")


def make_one(name: str, spec: dict, out_root: str) -> dict:
    t0 = time.time()
    model = build_model(spec)
    bf16 = bool(spec.get("bf16"))
    gap_min = GAP_REL_MIN_BF16 if bf16 else GAP_REL_MIN
    cases = []
    alt_model, alt_theta, alt_cases = None, None, []
    if spec["cfg"].get("rope_scaling", {}).get("rope_type") == "dynamic":
        alt_model, alt_theta = dynamic_fixed_base_model(spec)
    for i, plen in enumerate(spec.get("prompt_lens", DEFAULT_PROMPT_LENS)):
        base_seed = spec["seed"] * 100 + i * 10
        for attempt in range(MAX_ATTEMPTS):
            seed = base_seed * 1000 + attempt
            case = make_case(model, spec, plen, seed)
            distinct = len(set(case["greedy_ids"]))
            problems = []
            if case["min_top2_gap_rel"] < gap_min:
                problems.append(f"near-tie: min top2 gap rel {case['min_top2_gap_rel']:.2e} < {gap_min:.0e}")
            if distinct < MIN_DISTINCT:
                problems.append(f"only {distinct} distinct greedy tokens")
            if alt_model is not None:
                alt = alt_case(alt_model, case["prompt_ids"])
                if alt["min_top2_gap_rel"] < gap_min:
                    problems.append(f"near-tie under the fixed-base alternative: {alt['min_top2_gap_rel']:.2e}")
            if not problems:
                break
            log(f"  [{name}] case {i} (len {plen}) prompt seed {seed} rejected: {'; '.join(problems)}; re-drawing")
        else:
            raise SystemExit(f"{name}: no acceptable prompt of length {plen} after {MAX_ATTEMPTS} attempts")
        cases.append(case)
        if alt_model is not None:
            alt_cases.append(alt)
            log(f"  [{name}] case {i}: fixed-base alternative min gap rel {alt['min_top2_gap_rel']:.2e}, "
                f"greedy same as HF: {alt['greedy_ids'] == case['greedy_ids']}")
        log(
            f"  [{name}] case {i}: len {plen:2d}, distinct {distinct:2d}/32, min gap {case['min_top2_gap']:.4f} "
            f"(rel {case['min_top2_gap_rel']:.2e}, max|logit| {case['max_abs_logit']:.2f}), "
            f"no-cache argmax agrees: {case['nocache_argmax_agrees']}"
            + ("" if case["nocache_argmax_agrees"] else f" (first diff at step {case['nocache_first_diff_step']})")
        )
    ref = {
        "max_tokens": MAX_TOKENS,
        "dtype": "bfloat16" if bf16 else "float32",
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__.split("+")[0],
        "architecture": spec["cls"].__name__,
        "attn_implementation": "eager",
        "compute_dtype": "float32",
        "eos_ignored": True,
        "cases": cases,
    }
    if alt_model is not None:
        ref["alt_fixed_base"] = {
            "description": "vLLM-style dynamic NTK: one fixed base for seq_len = max_position_embeddings * "
            "factor at every position and step (NOT what transformers does; see README)",
            "rope_theta_equivalent": alt_theta,
            "cases": alt_cases,
        }
    if "num_experts_per_tok" in spec["cfg"]:
        check_every_expert_routed(name, model, cases)
    sens = sensitivity(name, spec, cases)
    if sens:
        ref["sensitivity"] = sens
    out_dir = os.path.join(out_root, name)
    save_model(model, spec, out_dir)
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        f.write(dump_reference(ref))
    check_saved(out_dir, ref, spec)
    size = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    log(f"{name}: ok, {size / 1024:.0f} KiB, files {sorted(os.listdir(out_dir))}, {time.time() - t0:.1f}s")
    return ref


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--only", default="", help="comma-separated model names")
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n] or list(SPECS)
    for n in names:
        if n not in SPECS:
            raise SystemExit(f"unknown model {n}; known: {', '.join(SPECS)}")
    log(f"transformers {transformers.__version__}, torch {torch.__version__}, safetensors {safetensors.__version__}")
    os.makedirs(args.out, exist_ok=True)
    refs = {}
    for n in names:
        refs[n] = make_one(n, SPECS[n], args.out)
    if "llama" in refs and "llama_sharded" in refs:
        a, b = refs["llama"]["cases"], refs["llama_sharded"]["cases"]
        assert [c["greedy_ids"] for c in a] == [c["greedy_ids"] for c in b], "sharded differs from llama"
        log("llama_sharded reproduces llama")


if __name__ == "__main__":
    main()
