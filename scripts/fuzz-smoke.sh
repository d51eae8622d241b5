#!/bin/bash
# Build every libFuzzer target with clang (in build-fuzz/) and run each for a few
# seconds from its seed corpus: a crash or sanitizer report fails.
#   scripts/fuzz-smoke.sh            FUZZ_SECONDS=60 scripts/fuzz-smoke.sh
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${BERTH_FUZZ_BUILD_DIR:-$src/build-fuzz}
jobs=$(nproc 2>/dev/null || echo 2)

"$src/scripts/install-deps.sh" fuzz
CC=clang BERTH_BUILD_DIR=$build "$src/scripts/build.sh" --enable-fuzzers
make -C "$build" -j"$jobs" fuzz >/dev/null
make -C "$build" fuzz-smoke
