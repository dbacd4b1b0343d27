#!/usr/bin/env bash
# Builds bench_model (Release) and runs the full model benchmark, saving its JSON to
# benchmarks/results/model-<date>.json. Extra arguments go to bench_model (e.g. --threads 8,
# --model-shape llama-3.2-1b). Numbers mean something only on an otherwise idle machine: the
# JSON's cpu_busy_fraction and loadavg fields say whether it was.
# Environment: BUILD_DIR (default build-bench), FERRITE_JOBS (default nproc).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build_dir="${BUILD_DIR:-build-bench}"
jobs="${FERRITE_JOBS:-$(nproc)}"

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFERRITE_CUDA=OFF \
  -DFERRITE_BUILD_TESTS=OFF -DFERRITE_BUILD_BENCHMARKS=ON >&2
cmake --build "$build_dir" -j "$jobs" --target bench_model >&2

mkdir -p benchmarks/results
out="benchmarks/results/model-$(date -u +%Y-%m-%d).json"
# Several runs on one day: keep them all rather than overwrite.
if [[ -e "$out" ]]; then
  out="benchmarks/results/model-$(date -u +%Y-%m-%d-%H%M%S).json"
fi
tmp="$out.partial"
"$build_dir/bin/bench_model" "$@" >"$tmp"
mv "$tmp" "$out"
echo "run_model_bench.sh: wrote $out" >&2
cat "$out"
