#!/usr/bin/env bash
# Runs every benchmark once and saves their JSON under benchmarks/results/<UTC date-time>/.
# Numbers mean something only on an otherwise idle machine: check the load average it records.
#   benchmarks/run_all.sh            (build dir: BUILD_DIR, default build)
# The tokenizer comparison needs Python `tokenizers`: a venv at tools/.venv-tok
# (python3 -m venv tools/.venv-tok && tools/.venv-tok/bin/pip install tokenizers); skipped without it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build_dir="${BUILD_DIR:-build}"
out="benchmarks/results/$(date -u +%Y-%m-%dT%H%M%S)"
mkdir -p "$out"
cmake --build "$build_dir" -j "$(nproc)" --target bench_model bench_engine bench_sched bench_sample bench_tokenizer \
  bench_chat_render bench_moe bench_linear ferrite >&2
{
  echo "{\"date\": \"$(date -u +%FT%TZ)\", \"loadavg_before\": \"$(cut -d' ' -f1-3 /proc/loadavg)\","
  echo " \"cpu\": \"$(lscpu | sed -n 's/^Model name: *//p')\", \"cores\": $(nproc),"
  echo " \"memory_gib\": $(awk '/MemTotal/ {printf "%.1f", $2/1048576}' /proc/meminfo)}"
} >"$out/machine.json"
run() {
  local name="$1"
  shift
  echo "run_all: $name" >&2
  "$@" >"$out/$name.json"
}
run model "$build_dir/bin/bench_model" --model-shape all
run engine "$build_dir/bin/bench_engine"
run engine_decode_heavy "$build_dir/bin/bench_engine" --input-len 16 --output-len 128
run moe "$build_dir/bin/bench_moe"
run linear "$build_dir/bin/bench_linear"
run sched "$build_dir/bin/bench_sched"
run sample "$build_dir/bin/bench_sample"
run chat_render "$build_dir/bin/bench_chat_render" || true
if [[ -x tools/.venv-tok/bin/python ]]; then
  run tokenizer tools/.venv-tok/bin/python benchmarks/tokenizer/compare.py --bench "$build_dir/bin/bench_tokenizer"
fi
echo "run_all: loadavg after $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "run_all: wrote $out" >&2
