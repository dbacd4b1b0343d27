#!/usr/bin/env bash
# The one entry point for developers and CI.
#   scripts/dev.sh build   install missing Debian packages, build Release into build/
#   scripts/dev.sh test    build with tests and run the whole suite
#   scripts/dev.sh serve   build and start `ferrite serve` (no args: the demo model on :8000)
# Environment: BUILD_DIR (default build), FERRITE_JOBS (default nproc), FERRITE_CMAKE_ARGS.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build_dir="${BUILD_DIR:-build}"
jobs="${FERRITE_JOBS:-$(nproc)}"

# Debian packages the build and tests need (binary name or header to probe, package).
deps=(
  "cmake:cmake" "ninja:ninja-build" "g++:g++" "pkg-config:pkg-config" "ccache:ccache"
  "/usr/include/nlohmann/json.hpp:nlohmann-json3-dev"
  "/usr/include/spdlog/spdlog.h:libspdlog-dev"
  "/usr/include/pcre2.h:libpcre2-dev"
  "/usr/include/unicode/normalizer2.h:libicu-dev"
  "/usr/include/sentencepiece_processor.h:libsentencepiece-dev"
  "/usr/include/httplib.h:libcpp-httplib-dev"
  "/usr/include/grpcpp/grpcpp.h:libgrpc++-dev" "grpc_cpp_plugin:protobuf-compiler-grpc"
  "/usr/include/google/protobuf/message.h:libprotobuf-dev" "protoc:protobuf-compiler"
  "/usr/include/gtest/gtest.h:libgtest-dev"
  "/usr/include/gmock/gmock.h:libgmock-dev"
  "/usr/include/benchmark/benchmark.h:libbenchmark-dev"
  "mpicc:libopenmpi-dev" "mpirun:openmpi-bin"
)

install_deps() {
  local missing=()
  for d in "${deps[@]}"; do
    local probe="${d%%:*}" pkg="${d#*:}"
    if [[ "$probe" == /* ]]; then
      [[ -e "$probe" ]] || missing+=("$pkg")
    else
      command -v "$probe" >/dev/null 2>&1 || missing+=("$pkg")
    fi
  done
  if ((${#missing[@]})); then
    echo "dev.sh: installing ${missing[*]}" >&2
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
}

configure() {
  local tests="$1"
  local args=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DFERRITE_BUILD_TESTS="$tests" -DFERRITE_BUILD_BENCHMARKS="$tests")
  [[ -n "${CI:-}" ]] && args+=(-DFERRITE_WERROR=ON)
  # shellcheck disable=SC2206
  args+=(${FERRITE_CMAKE_ARGS:-})
  cmake -S . -B "$build_dir" "${args[@]}" >/dev/null
}

cmd="${1:-}"
shift || true
case "$cmd" in
  build)
    install_deps
    configure OFF
    cmake --build "$build_dir" -j "$jobs"
    echo "dev.sh: built $build_dir/bin/ferrite"
    ;;
  test)
    install_deps
    configure ON
    cmake --build "$build_dir" -j "$jobs"
    cd "$build_dir"
    # gpu-labelled tests skip themselves without a device; nothing is excluded here.
    ctest --output-on-failure -j "$jobs" --timeout 600 "$@"
    ;;
  serve)
    install_deps
    configure OFF
    cmake --build "$build_dir" -j "$jobs"
    # No model given: ferrite serves the demo model shipped in models/demo as "demo".
    exec "$build_dir/bin/ferrite" serve "$@"
    ;;
  *)
    echo "usage: scripts/dev.sh build|test|serve [args]" >&2
    exit 2
    ;;
esac
