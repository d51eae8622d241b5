#!/bin/bash
# Build berth out of tree: autoreconf, configure, make.
#   scripts/build.sh [CONFIGURE-ARGS...]
# BERTH_BUILD_DIR chooses the build directory (default: build-release/ in the source tree).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${BERTH_BUILD_DIR:-$src/build-release}
jobs=$(nproc 2>/dev/null || echo 2)

cd "$src"
mkdir -p m4          # aclocal looks there before libtoolize fills it
autoreconf -fi
mkdir -p "$build"
cd "$build"
# configure again only when asked for other arguments or not configured yet
stamp="$*"
if [ ! -f Makefile ] || [ "$(cat .berth-configure-args 2>/dev/null)" != "$stamp" ]; then
        "$src/configure" "$@"
        printf '%s' "$stamp" >.berth-configure-args
fi
make -j"$jobs"
echo "build: $build/berthd"
