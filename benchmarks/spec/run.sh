#!/usr/bin/env bash
# Speculative decoding on the CPU with the demo target/draft pair: `ferrite bench latency` (one
# batch at a time, output tokens/s over the whole batch, prefill included) at batch 1 and 8, on a
# chat prompt set and an input-copying set, without speculation, with n-gram lookup and with the
# draft model. One JSON per run in OUT (default benchmarks/results/<date>-spec), and a table.
#   benchmarks/spec/run.sh [OUT]      (FERRITE: the binary, default build/bin/ferrite)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
bin="${FERRITE:-build/bin/ferrite}"
out="${1:-benchmarks/results/$(date +%F)-spec}"
mkdir -p "$out"
iters="${ITERS:-6}"
declare -A methods=(
  [off]=""
  [ngram4]='{"method": "ngram", "num_speculative_tokens": 4, "prompt_lookup_min": 1, "prompt_lookup_max": 4}'
  [draft3]='{"method": "draft_model", "model": "models/demo-draft", "num_speculative_tokens": 3}'
  [draft5]='{"method": "draft_model", "model": "models/demo-draft", "num_speculative_tokens": 5}'
  # Off from 4 running sequences on: what turning speculation off at large batches costs.
  [ngram4-d4]='{"method": "ngram", "num_speculative_tokens": 4, "prompt_lookup_min": 1, "prompt_lookup_max": 4, "disable_by_batch_size": 4}'
  [draft3-d4]='{"method": "draft_model", "model": "models/demo-draft", "num_speculative_tokens": 3, "disable_by_batch_size": 4}'
)
all=(off ngram4 draft3 draft5 ngram4-d4 draft3-d4)
for set in chat copy; do
  for batch in 1 8; do
    for m in "${all[@]}"; do
      args=(bench latency models/demo --dataset-path "benchmarks/spec/$set.jsonl" --batch-size "$batch"
            --output-len 64 --num-iters-warmup 1 --num-iters "$iters" --json "$out/$set-b$batch-$m.json")
      [[ -n "${methods[$m]}" ]] && args+=(--speculative-config "${methods[$m]}")
      "$bin" "${args[@]}" >/dev/null 2>"$out/$set-b$batch-$m.log"
    done
  done
done
python3 - "$out" <<'PY'
import json, sys, os
out = sys.argv[1]
print(f"{'set':5} {'batch':>5} {'method':10} {'tok/s':>8} {'speedup':>8} {'accept len':>10} {'accept rate':>11}")
for s in ("chat", "copy"):
    for b in (1, 8):
        base = json.load(open(f"{out}/{s}-b{b}-off.json"))["output_throughput"]
        for m in ("off", "ngram4", "draft3", "draft5", "ngram4-d4", "draft3-d4"):
            j = json.load(open(f"{out}/{s}-b{b}-{m}.json"))
            sd = j.get("spec_decode", {})
            print(f"{s:5} {b:>5} {m:10} {j['output_throughput']:8.1f} {j['output_throughput']/base:8.2f} "
                  f"{sd.get('mean_acceptance_length', float('nan')):10.2f} {sd.get('draft_acceptance_rate', float('nan')):11.2f}")
PY
