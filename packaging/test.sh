#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test: the suite as shipped, then the same
# suite built with AddressSanitizer and UndefinedBehaviorSanitizer.
# SWITCHYARD_SKIP_SANITIZERS=1 runs the first part only.
set -euo pipefail
cd "$(dirname "$0")/.."
packaging/install-deps.sh
jobs="$(nproc)"

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSWITCHYARD_BUILD_TESTS=ON
cmake --build build -j"$jobs"
ctest --test-dir build -j"$jobs" --output-on-failure --timeout 300

if [ "${SWITCHYARD_SKIP_SANITIZERS:-0}" != 1 ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSWITCHYARD_BUILD_TESTS=ON \
    -DSWITCHYARD_SANITIZE=address,undefined
  cmake --build build-asan -j"$jobs"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan -j"$jobs" --output-on-failure --timeout 600
fi
