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
# configure again only when asked for other arguments, when configure.ac changed, or
# when not configured yet. After a configure.ac change the objects are built again from
# clean: make does not notice changed compile flags (libtool's -fPIC, for instance).
stamp="$* configure.ac:$(cksum <"$src/configure.ac")"
if [ ! -f Makefile ] || [ "$(cat .berth-configure-args 2>/dev/null)" != "$stamp" ]; then
        configured=$([ -f Makefile ] && echo yes || echo no)
        "$src/configure" "$@"
        [ "$configured" = no ] || make clean >/dev/null
        printf '%s' "$stamp" >.berth-configure-args
fi
make -j"$jobs"
echo "build: $build/berthd"
