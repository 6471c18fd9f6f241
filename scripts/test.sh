#!/usr/bin/env bash
# The test command of README.md: installs what is missing, builds, runs the
# whole suite with CTest. Options (environment):
#   BUILD_DIR=build        where to build
#   ATTEST_SANITIZE=1      AddressSanitizer + UndefinedBehaviorSanitizer build
#   CTEST_ARGS="-L unit"   extra arguments for ctest
#   BUILD_TARGETS="a b"    build only these targets (default: everything)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
SAN=${ATTEST_SANITIZE:-0}
BUILD_DIR=${BUILD_DIR:-build}
if [ "$SAN" = 1 ]; then BUILD_DIR=${BUILD_DIR}-asan; fi
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DATTEST_SANITIZE=$([ "$SAN" = 1 ] && echo ON || echo OFF) \
  -DATTEST_BUILD_BENCH=$([ "$SAN" = 1 ] && echo OFF || echo ON) >/dev/null
# shellcheck disable=SC2086
cmake --build "$BUILD_DIR" -j "$(nproc)" ${BUILD_TARGETS:+--target $BUILD_TARGETS}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$BUILD_DIR"
ctest --output-on-failure -j "$(nproc)" ${CTEST_ARGS:-}
