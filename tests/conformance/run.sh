#!/usr/bin/env bash
# The OpenAI conformance suite: the official `openai` client and the OpenAPI schema against a real
# `ferrite serve`. Usage: tests/conformance/run.sh [path/to/ferrite] [pytest args...]
# Exit 77 (ctest: skipped) when ../shared is absent or the venv cannot be set up (offline).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
binary="$(realpath -m "${1:-$root/build/bin/ferrite}")"
shift || true
shared="$root/../shared"
if [[ ! -f "$shared/fixtures/openai/openapi.json" || ! -f "$shared/fixtures/tokenizers/qwen3/tokenizer.json" ]]; then
  echo "SKIP: $shared/fixtures (openapi.json, the Qwen3 tokenizer) is absent"
  exit 77
fi
if [[ ! -x "$binary" ]]; then
  echo "conformance: no ferrite binary at $binary (build first)" >&2
  exit 1
fi
venv="$here/.venv"
source "$root/tests/lib/venv.sh"
ensure_venv "$venv" "$here/requirements.txt"
cd "$here"
FERRITE_BINARY="$binary" FERRITE_ROOT="$root" FERRITE_SHARED="$shared" \
  exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@" "$here"
