#!/bin/bash
# Install the dependencies, build, and run the whole test suite: unit tests and the
# integration tests with real clients (every tool required: BERTH_REQUIRE_ALL=1), then
# the unit tests again in a second build with AddressSanitizer + UBSan.
#   sudo scripts/test.sh
set -uo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${BERTH_BUILD_DIR:-$src/build-release}
san=${BERTH_SAN_BUILD_DIR:-$src/build-sanitizers}
jobs=$(nproc 2>/dev/null || echo 2)
rc=0

"$src/scripts/install-deps.sh" || exit 1
BERTH_BUILD_DIR=$build "$src/scripts/build.sh" || exit 1

show_log() {
        echo "==== $1/test-suite.log"
        cat "$1/test-suite.log" 2>/dev/null
}

echo "==== make check (unit + integration)"
if ! BERTH_REQUIRE_ALL=1 make -C "$build" -j"$jobs" check; then
        show_log "$build"
        rc=1
fi

echo "==== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
if ! BERTH_BUILD_DIR=$san "$src/scripts/build.sh" --enable-sanitizers; then
        rc=1
elif ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        make -C "$san" -j"$jobs" check-unit; then
        show_log "$san"
        rc=1
else
        # the API end to end against a sanitized berthd: a report makes it exit non-zero,
        # which the scripts check at every stop
        echo "==== API tests against berthd built with ASan + UBSan"
        if ! ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 BERTH_REQUIRE_ALL=1 \
                make -C "$san" -j"$jobs" check \
                TESTS="tests/integration/api-core.sh tests/integration/api-v11.sh tests/integration/auth-tokens.sh"; then
                show_log "$san"
                rc=1
        fi
fi

if [ $rc -eq 0 ]; then
        echo "==== all tests passed"
else
        echo "==== FAILED (logs above)"
fi
exit $rc
