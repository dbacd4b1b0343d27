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
stamp="$venv/.requirements"
if [[ ! -f "$stamp" ]] || ! cmp -s "$stamp" "$here/requirements.txt"; then
  rm -rf "$venv"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    echo "SKIP: python3 -m venv does not work here (install python3-venv)"
    exit 77
  fi
  if ! "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt" >"$venv/pip.log" 2>&1; then
    echo "SKIP: pip could not install $(tr '\n' ' ' <"$here/requirements.txt")(offline?); see $venv/pip.log"
    exit 77
  fi
  cp "$here/requirements.txt" "$stamp"
fi
cd "$here"
FERRITE_BINARY="$binary" FERRITE_ROOT="$root" FERRITE_SHARED="$root/../shared" \
  exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@" "$here"
