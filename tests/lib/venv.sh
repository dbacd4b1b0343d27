# Sourced by the Python test runners (tests/conformance/run.sh, tests/integration/grpc/python/run.sh).
# ensure_venv DIR REQUIREMENTS: a venv at DIR with the pinned packages of REQUIREMENTS, made again
# when that file changed; exits 77 (ctest: skipped) when that cannot be done here (no python3-venv,
# or PyPI unreachable).
ensure_venv() {
  local venv="$1" reqs="$2"
  local stamp="$venv/.requirements"
  if [[ -f "$stamp" ]] && cmp -s "$stamp" "$reqs"; then
    return 0
  fi
  rm -rf "$venv"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    echo "SKIP: python3 -m venv does not work here (install python3-venv)"
    exit 77
  fi
  if ! "$venv/bin/pip" install -q --disable-pip-version-check -r "$reqs" >"$venv/pip.log" 2>&1; then
    echo "SKIP: pip could not install $(tr '\n' ' ' <"$reqs")(offline?); see $venv/pip.log"
    exit 77
  fi
  cp "$reqs" "$stamp"
}
