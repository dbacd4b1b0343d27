#!/usr/bin/env python3
"""Reference vectors for ferrite's sampler (src/sample), from an independent numpy implementation
of vLLM v1's sampling semantics (vllm/v1/sample/sampler.py and ops/topk_topp_sampler.py), with the
repetition penalty cross-checked against transformers' RepetitionPenaltyLogitsProcessor.

    tools/.venv-ref/bin/python tools/make_sampling_vectors.py  # writes tests/data/sample/vectors.json

Rows are random; parameters sit on a grid. A filter case whose kept set would hinge on a rounding
difference (a token within 1e-5 of the min_p or top_p boundary) is redrawn, so "the kept sets
match exactly" is a fair test of semantics rather than of float luck.
"""
import json
import os
import sys

import numpy as np
import torch
from transformers import RepetitionPenaltyLogitsProcessor

SEED = 20240611
MARGIN = 1e-5
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "sample", "vectors.json")


def f32_list(x):
    """float32 values as the shortest decimal that parses back to the same float32; -inf as a string."""
    return ["-inf" if np.isneginf(v) else float(str(np.float32(v))) for v in x]


def random_row(rng, vocab, scale=3.0):
    return (rng.standard_normal(vocab) * scale).astype(np.float32)


# ---------------------------------------------------------------- processors (vLLM v1 order)
def process(logits, p, prompt, output, eos):
    x = logits.astype(np.float64).copy()
    if p.get("allowed_token_ids"):
        mask = np.ones_like(x, dtype=bool)
        mask[p["allowed_token_ids"]] = False
        x[mask] = -np.inf
    if len(output) < p.get("min_tokens", 0):
        stop = list(p.get("stop_token_ids", []))
        if not p.get("ignore_eos", False):
            stop += list(eos)
        x[stop] = -np.inf
    for tok, b in p.get("logit_bias", {}).items():
        x[int(tok)] += b
    rep = p.get("repetition_penalty", 1.0)
    freq = p.get("frequency_penalty", 0.0)
    pres = p.get("presence_penalty", 0.0)
    counts = np.bincount(np.asarray(output, dtype=np.int64), minlength=len(x)) if len(output) else np.zeros(len(x))
    seen = counts > 0
    if len(prompt):
        seen = seen | (np.bincount(np.asarray(prompt, dtype=np.int64), minlength=len(x)) > 0)
    if rep != 1.0:
        pen = np.where(seen, rep, 1.0)
        x = np.where(x > 0, x / pen, x * pen)
    x = x - freq * counts
    x = x - pres * (counts > 0)
    return x


def hf_repetition(logits_after_bias, rep, prompt, output):
    """transformers' processor over the whole sequence (prompt + output), as a cross-check."""
    ids = torch.tensor([list(prompt) + list(output)], dtype=torch.long)
    scores = torch.tensor(logits_after_bias[None, :], dtype=torch.float64)
    return RepetitionPenaltyLogitsProcessor(penalty=rep)(ids, scores)[0].numpy()


def processor_cases(rng):
    cases = []
    grid = [
        dict(),
        dict(logit_bias={3: 5.0, 10: -100.0, 11: 100.0}),
        dict(allowed_token_ids=[1, 5, 7, 30, 31]),
        dict(allowed_token_ids=[2, 2, 9], logit_bias={9: 1.5}),
        dict(min_tokens=5, stop_token_ids=[4, 6]),
        dict(min_tokens=5, stop_token_ids=[4], ignore_eos=True),
        dict(min_tokens=2, stop_token_ids=[4]),  # output already long enough: no mask
        dict(repetition_penalty=1.3),
        dict(repetition_penalty=0.7),
        dict(repetition_penalty=2.0, logit_bias={0: 2.0}),
        dict(frequency_penalty=0.5),
        dict(presence_penalty=1.5),
        dict(frequency_penalty=-0.8, presence_penalty=-1.0),
        dict(repetition_penalty=1.2, frequency_penalty=0.4, presence_penalty=0.3, logit_bias={5: -3.0},
             min_tokens=10, stop_token_ids=[8]),
    ]
    for vocab in (64, 1000):
        for p in grid:
            logits = random_row(rng, vocab)
            prompt = rng.integers(0, vocab, size=int(rng.integers(0, 40))).tolist()
            output = rng.integers(0, min(vocab, 50), size=int(rng.integers(3, 30))).tolist()
            if p.get("min_tokens") == 2:
                output = output[:3]
            else:
                output = output[: max(0, min(len(output), p.get("min_tokens", 99) - 1))] if "min_tokens" in p else output
            eos = [vocab - 1, 12]
            expected = process(logits, p, prompt, output, eos)
            rep = p.get("repetition_penalty", 1.0)
            if rep != 1.0 and not p.get("frequency_penalty") and not p.get("presence_penalty"):
                before = process(logits, {k: v for k, v in p.items() if k != "repetition_penalty"}, prompt, output, eos)
                hf = hf_repetition(before, rep, prompt, output)
                fin = np.isfinite(expected)
                assert np.allclose(hf[fin], expected[fin], rtol=1e-12, atol=1e-12), "vLLM and HF repetition differ"
            greedy = int(np.argmax(expected))  # numpy: first maximum
            cases.append(dict(vocab=vocab, logits=f32_list(logits), params=p, prompt=prompt, output=output,
                              eos=eos, expected=f32_list(expected), greedy=greedy))
    # Ties at the top: greedy must pick the smallest id.
    logits = random_row(rng, 64)
    logits[[7, 20, 41]] = logits.max() + 1.0
    cases.append(dict(vocab=64, logits=f32_list(logits), params={}, prompt=[], output=[], eos=[],
                      expected=f32_list(logits.astype(np.float64)), greedy=7))
    return cases


# ---------------------------------------------------------------- temperature + filters
def softmax(z):
    z = z - np.max(z)
    e = np.exp(z)
    return e / e.sum()


def filter_probs(logits, t, top_k, top_p, min_p):
    """vLLM v1: logits / T, min_p (MinPLogitsProcessor), then apply_top_k_top_p. Returns
    (probs, kept mask, ok) where ok is False when a token sits within MARGIN of a boundary."""
    z = logits.astype(np.float64) / t
    ok = True
    vocab = len(z)
    if min_p > 0:
        pr = softmax(z)
        ratio = pr / pr.max()
        ok &= bool(np.all(np.abs(ratio[np.isfinite(z)] - min_p) > MARGIN))
        z = np.where(pr < min_p * pr.max(), -np.inf, z)
    if 1 <= top_k < vocab:
        kth = np.sort(z)[::-1][top_k - 1]
        z = np.where(z < kth, -np.inf, z)
    if top_p < 1.0:
        pr = softmax(z)
        order = np.lexsort((np.arange(vocab), -pr))  # probability desc, id asc
        before = np.concatenate([[0.0], np.cumsum(pr[order])[:-1]])
        live = pr[order] > 0
        ok &= bool(np.all(np.abs(before[live] - top_p) > MARGIN))
        drop = order[before >= top_p]
        z[drop] = -np.inf
    kept = np.isfinite(z)
    probs = softmax(z)
    return probs, kept, ok


def filter_cases(rng):
    cases = []
    combos = []
    for t in (0.5, 0.7, 1.0, 1.3):
        for top_k, top_p, min_p in ((0, 1.0, 0.0), (-1, 0.9, 0.0), (1, 1.0, 0.0), (5, 1.0, 0.0), (40, 0.9, 0.0),
                                    (0, 0.5, 0.0), (0, 0.95, 0.05), (0, 1.0, 0.2), (20, 0.8, 0.1), (0, 0.1, 0.0)):
            combos.append((t, top_k, top_p, min_p))
    for i, (t, top_k, top_p, min_p) in enumerate(combos):
        vocab = (50, 1000, 300)[i % 3]
        for _ in range(1000):
            logits = random_row(rng, vocab)
            if i % 4 == 1:
                logits[rng.choice(vocab, size=vocab // 5, replace=False)] = -np.inf  # masked tokens
            probs, kept, ok = filter_probs(logits, t, top_k, top_p, min_p)
            if ok:
                break
        else:
            sys.exit("no row clears the boundary margin")
        cases.append(dict(vocab=vocab, logits=f32_list(logits),
                          params=dict(temperature=t, top_k=top_k, top_p=top_p, min_p=min_p),
                          kept=np.nonzero(kept)[0].tolist(), probs=[float(p) for p in probs[kept]]))
    # Larger rows: the dense top_p path (vocab > 4096), a large top_k (nth_element) and ties at
    # the k-th value (all kept).
    for vocab, p in ((6000, dict(temperature=0.8, top_k=0, top_p=0.9, min_p=0.0)),
                     (6000, dict(temperature=1.0, top_k=2000, top_p=1.0, min_p=0.0)),
                     (6000, dict(temperature=0.7, top_k=0, top_p=0.95, min_p=0.01))):
        for _ in range(1000):
            logits = random_row(rng, vocab, scale=2.0)
            probs, kept, ok = filter_probs(logits, p["temperature"], p["top_k"], p["top_p"], p["min_p"])
            if ok:
                break
        cases.append(dict(vocab=vocab, logits=f32_list(logits), params=p,
                          kept=np.nonzero(kept)[0].tolist(), probs=[float(x) for x in probs[kept]]))
    logits = np.round(random_row(rng, 200) * 2) / 2  # many exact ties
    logits = logits.astype(np.float32)
    p = dict(temperature=1.0, top_k=10, top_p=1.0, min_p=0.0)
    probs, kept, _ = filter_probs(logits, 1.0, 10, 1.0, 0.0)
    assert kept.sum() > 10, "the tie case should keep more than k tokens"
    cases.append(dict(vocab=200, logits=f32_list(logits), params=p,
                      kept=np.nonzero(kept)[0].tolist(), probs=[float(x) for x in probs[kept]]))
    return cases


# ---------------------------------------------------------------- logprobs of raw logits
def logprob_cases(rng):
    cases = []
    for vocab, top_n, quantised in ((100, 0, False), (100, 5, False), (1000, 1, False), (1000, 20, False),
                                    (5000, 5, False), (300, 8, True), (300, 20, True)):
        logits = random_row(rng, vocab)
        if quantised:
            logits = (np.round(logits * 2) / 2).astype(np.float32)  # bf16-like ties
        x = logits.astype(np.float64)
        lse = x.max() + np.log(np.sum(np.exp(x - x.max())))
        lp = x - lse
        queries = []
        for token in (int(np.argmax(x)), int(rng.integers(0, vocab)), int(np.argmin(x))):
            rank = int(np.sum(x >= x[token]))  # vLLM: batched_count_greater_than (>=)
            queries.append(dict(token=token, logprob=float(lp[token]), rank=rank))
        order = np.lexsort((np.arange(vocab), -x))[:top_n]  # logprob desc, id asc
        cases.append(dict(vocab=vocab, logits=f32_list(logits), top_n=top_n, queries=queries,
                          top_ids=order.tolist(), top_logprobs=[float(lp[i]) for i in order]))
    return cases


def main():
    rng = np.random.default_rng(SEED)
    data = dict(generator="tools/make_sampling_vectors.py", seed=SEED, numpy=np.__version__,
                torch=torch.__version__, processors=processor_cases(rng), filters=filter_cases(rng),
                logprobs=logprob_cases(rng))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(data, f, separators=(",", ":"))
    print(f"wrote {OUT}: {len(data['processors'])} processor, {len(data['filters'])} filter, "
          f"{len(data['logprobs'])} logprob cases, {os.path.getsize(OUT) // 1024} KiB")


if __name__ == "__main__":
    main()
