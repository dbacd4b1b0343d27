#!/usr/bin/env bash
# The Python gRPC test: grpcio from PyPI, in a venv, against a real `ferrite serve --grpc-port`.
# Usage: tests/integration/grpc/python/run.sh path/to/ferrite VENV_DIR [pytest args...]
# (ctest passes a venv under the build dir). Exit 77 (ctest: skipped) when the venv cannot be set
# up: no python3-venv, or PyPI unreachable.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
binary="$(realpath -m "${1:-$root/build/bin/ferrite}")"
venv="$(realpath -m "${2:-$root/build/grpc-python-venv}")"
shift 2 || shift $#
if [[ ! -x "$binary" ]]; then
  echo "grpc python test: no ferrite binary at $binary (build first)" >&2
  exit 1
fi
source "$root/tests/lib/venv.sh"
ensure_venv "$venv" "$here/requirements.txt"
cd "$here"
FERRITE_BINARY="$binary" FERRITE_ROOT="$root" FERRITE_SHARED="$root/../shared" \
  exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@" "$here"
