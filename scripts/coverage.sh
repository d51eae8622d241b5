#!/bin/bash
# Line and branch coverage of the test suite (make check: unit + integration), per
# module, with an HTML report: installs gcov's reporting tools (lcov), builds with
# --enable-coverage (--coverage -O0) in build-coverage/ and runs `make coverage` there.
# Not part of scripts/test.sh.
#   scripts/coverage.sh                        the whole of make check
#   COVERAGE_TESTS='$(UNIT_TESTS)' scripts/coverage.sh      a subset (make syntax)
# BERTH_COVERAGE_BUILD_DIR chooses the build directory. The report:
# build-coverage/coverage/html/index.html and build-coverage/coverage/summary.txt.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${BERTH_COVERAGE_BUILD_DIR:-$src/build-coverage}

"$src/scripts/install-deps.sh" coverage
# --enable-test-hooks: the scripts that move berthd's clock run too, as in make check
BERTH_BUILD_DIR=$build "$src/scripts/build.sh" --enable-coverage --enable-test-hooks
make -C "$build" coverage
