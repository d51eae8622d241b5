#!/bin/bash
# Install the dependencies, build, and run the whole test suite, tier by tier:
#  1. `make check`: unit tests and the integration tests with real clients (every tool
#     required: BERTH_REQUIRE_ALL=1);
#  2. the unit tests and the API scripts again in a build with AddressSanitizer + UBSan;
#  3. the slow tier, `make check-slow`: scale, deploy demo and manifests, stress;
#  4. fuzz smoke: every libFuzzer target for a few seconds from its seed corpus.
#   sudo scripts/test.sh            everything (what CI runs)
#   sudo scripts/test.sh --fast     tiers 1 and 2 only
set -uo pipefail

fast=0
# the integration scripts that also run against berthd built with ASan + UBSan: the API,
# access control, the hardening scripts that attack the server, and the streamed
# pull-through blobs (readers suspended and resumed across threads), the web UI's files
san_tests=(api-core api-v11 auth-tokens harden-uploads harden-conns harden-lockout harden-auth-flood harden-tokens
           harden-log harden-modes harden-tls proxy-stream mgmt-api ui-serve)
san_tests=$(printf 'tests/integration/%s.sh ' "${san_tests[@]}")
case ${1:-} in
--fast) fast=1 ;;
"") ;;
*) echo "usage: scripts/test.sh [--fast]" >&2; exit 2 ;;
esac

src=$(cd "$(dirname "$0")/.." && pwd)
build=${BERTH_BUILD_DIR:-$src/build-release}
san=${BERTH_SAN_BUILD_DIR:-$src/build-sanitizers}
jobs=$(nproc 2>/dev/null || echo 2)
rc=0

if [ $fast = 1 ]; then
        "$src/scripts/install-deps.sh" || exit 1
else
        "$src/scripts/install-deps.sh" slow || exit 1
fi
# --enable-test-hooks: upload-expiry.sh moves berthd's clock instead of sleeping
BERTH_BUILD_DIR=$build "$src/scripts/build.sh" --enable-test-hooks || exit 1

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
if ! BERTH_BUILD_DIR=$san "$src/scripts/build.sh" --enable-sanitizers --enable-test-hooks; then
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
                TESTS="$san_tests"; then
                show_log "$san"
                rc=1
        fi
fi

if [ $fast = 0 ]; then
        echo "==== slow tier: make check-slow"
        if ! BERTH_REQUIRE_ALL=1 make -C "$build" -j"$jobs" check-slow; then
                show_log "$build"
                rc=1
        fi
        echo "==== fuzz smoke"
        "$src/scripts/fuzz-smoke.sh" || rc=1
fi

if [ $rc -eq 0 ]; then
        echo "==== all tests passed"
else
        echo "==== FAILED (logs above)"
fi
exit $rc
