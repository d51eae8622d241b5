#!/bin/bash
# Line and branch coverage of the test suite, per module (`make coverage` in a build
# configured with --enable-coverage; scripts/coverage.sh does the whole of it).
#   tests/coverage.sh SRCDIR BUILDDIR
# COVERAGE_TESTS: the tests to run (default: all of make check); COVERAGE_JOBS: make -j.
# Writes BUILDDIR/coverage/: html/index.html (lines and branches, per file),
# summary.txt (per module: common/ storage/ auth/ server/ client/, and the total) and
# coverage.info (lcov tracefile). Files no test reached count as 0% (an initial capture
# is added). Exits non-zero when a test failed (the report is written all the same).
set -uo pipefail

src=$1 build=$2
out=$build/coverage
jobs=${COVERAGE_JOBS:-$(nproc 2>/dev/null || echo 2)}
modules=(common storage auth server client)
lc=(--quiet --rc lcov_branch_coverage=1)

# lcov without the "Subroutine ... redefined" noise Debian's geninfo prints
lcov() {
        command lcov "$@" 2>&1 | grep -v '^Subroutine .* redefined at '
        return "${PIPESTATUS[0]}"
}

type -P lcov >/dev/null && type -P genhtml >/dev/null ||
        { echo "coverage: lcov is missing (scripts/install-deps.sh coverage)" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out"
# counters of earlier runs would add up, and notes of objects built before a change (or
# of sources since removed) would mix with this build's: rebuild from clean
find "$build" \( -name '*.gcda' -o -name '*.gcno' \) -delete
make -C "$build" clean >/dev/null || exit 1
# build everything, test programs included (TESTS= runs none), for the initial capture
make -C "$build" -j"$jobs" check TESTS= >/dev/null || exit 1
lcov "${lc[@]}" --capture --initial --directory "$build" --output-file "$out/base.info" || exit 1

echo "coverage: running the tests${COVERAGE_TESTS:+ ($COVERAGE_TESTS)}"
rc=0
if [ -n "${COVERAGE_TESTS:-}" ]; then
        make -C "$build" -j"$jobs" check TESTS="$COVERAGE_TESTS" || rc=$?
else
        make -C "$build" -j"$jobs" check || rc=$?
        # the metadata layer's unit tests on PostgreSQL too (its engine, storage/db-pg.c,
        # runs only there), under a throwaway server when one can be started
        if [ -n "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null)" ]; then
                echo "coverage: the metadata unit tests on PostgreSQL"
                # and fsck, backup and read-only mode on PostgreSQL (storage/backup.c's
                # pg_dump path runs only there)
                bash "$src/tests/pg-server.sh" run -- \
                        make -C "$build" check TESTS="tests/unit/engine-pg-units.sh tests/integration/storage-pg.sh" ||
                        rc=$?
        else
                echo "coverage: no PostgreSQL (scripts/install-deps.sh coverage): storage/db-pg.c unmeasured"
        fi
        # the S3 driver against a real gateway, when the Ceph programs are there (the
        # unit test's gateway cases, storage/mpupload.c's among them, run only then)
        # (scripts/install-deps.sh slow)
        if type -P radosgw >/dev/null && type -P ceph-mon >/dev/null; then
                echo "coverage: the S3 driver against a Ceph RGW"
                bash "$src/tests/pg-server.sh" run -- bash "$src/tests/ceph-rgw.sh" run -- \
                        make -C "$build" check TESTS="tests/integration/s3.sh tests/unit/test-s3 tests/unit/test-server-faults" ||
                        rc=$?
        else
                echo "coverage: no Ceph (scripts/install-deps.sh slow): storage/s3.c measured by its unit test only"
        fi
fi

lcov "${lc[@]}" --capture --directory "$build" --output-file "$out/run.info" || exit 1
lcov "${lc[@]}" --add-tracefile "$out/base.info" --add-tracefile "$out/run.info" \
        --output-file "$out/all.info" || exit 1
patterns=()
for m in "${modules[@]}"; do
        patterns+=("$src/$m/*")
done
lcov "${lc[@]}" --extract "$out/all.info" "${patterns[@]}" --output-file "$out/coverage.info" || exit 1
rm -f "$out/base.info" "$out/run.info" "$out/all.info"
genhtml --quiet --branch-coverage --legend --title "berth: make check" --prefix "$src" \
        --output-directory "$out/html" "$out/coverage.info" || exit 1

# "  lines......: 87.5% (700 of 800 lines)" -> "87.5% (700/800)"
figure() {
        sed -n "s/^ *$1\.*: \([0-9.]*%\) (\([0-9]*\) of \([0-9]*\) .*/\1 (\2\/\3)/p" | head -1
}
{
        printf '%-8s %-24s %-24s\n' module lines branches
        for m in "${modules[@]}" total; do
                if [ $m = total ]; then
                        info=$out/coverage.info
                else
                        info=$out/$m.info
                        lcov "${lc[@]}" --extract "$out/coverage.info" "$src/$m/*" --output-file "$info" >/dev/null 2>&1
                fi
                s=$(lcov --rc lcov_branch_coverage=1 --summary "$info")
                printf '%-8s %-24s %-24s\n' "$m/" "$(figure lines <<<"$s")" "$(figure branches <<<"$s")"
                [ $m = total ] || rm -f "$info"
        done
} | sed 's|^total/|total|' | tee "$out/summary.txt"
echo "coverage: $out/html/index.html"
[ $rc -eq 0 ] || echo "coverage: some tests failed (exit $rc); the figures count what ran"
exit $rc
