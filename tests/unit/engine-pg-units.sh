#!/bin/bash
# The engine matrix, PostgreSQL column, for the unit tests (slow tier): the metadata
# layer's test programs run again with BERTH_TEST_PG_URL and BERTH_TEST_PG_PASSWORD_FILE
# set (the run's shared server, tests/pg-server.sh), which makes them run their cases
# on PostgreSQL as well. Fails when one fails; skips without a server (fails under
# BERTH_REQUIRE_ALL=1).
set -uo pipefail

build=${top_builddir:-$PWD}
tests=(test-db test-meta test-auth test-registry-store test-dbcopy test-webhook test-webhook-send test-fsck test-proxycache test-usage test-retention test-api test-s3)

if [ -z "${BERTH_TEST_PG_URL:-}" ] || [ ! -r "${BERTH_TEST_PG_PASSWORD_FILE:-}" ]; then
        if [ "${BERTH_REQUIRE_ALL:-0}" = 1 ]; then
                echo "FAIL [engine-pg-units]: no PostgreSQL server (BERTH_TEST_PG_URL unset; BERTH_REQUIRE_ALL=1)"
                exit 1
        fi
        echo "SKIP [engine-pg-units]: no PostgreSQL server (BERTH_TEST_PG_URL unset; make check-slow starts one)"
        exit 77
fi
# BERTH_TEST_ENGINE=pg: the fixture (tests/unit/fixture.h) gives each case a database on the server
BERTH_TEST_ENGINE=pg
export BERTH_TEST_PG_URL BERTH_TEST_PG_PASSWORD_FILE BERTH_TEST_ENGINE

failed=() skipped=()
for t in "${tests[@]}"; do
        bin=$build/tests/unit/$t
        if [ ! -x "$bin" ]; then
                failed+=("$t (not built)")
                continue
        fi
        echo "==== $t on $BERTH_TEST_PG_URL"
        rc=0
        timeout 1200 "$bin" </dev/null || rc=$?
        case $rc in
        0) ;;
        77) skipped+=("$t") ;;
        *) failed+=("$t (status $rc)") ;;
        esac
done

if [ ${#failed[@]} -ne 0 ]; then
        echo "FAIL [engine-pg-units]: ${failed[*]}"
        exit 1
fi
if [ ${#skipped[@]} -ne 0 ]; then
        if [ "${BERTH_REQUIRE_ALL:-0}" = 1 ]; then
                echo "FAIL [engine-pg-units]: skipped with a server at hand: ${skipped[*]}"
                exit 1
        fi
        [ ${#skipped[@]} -eq ${#tests[@]} ] && { echo "SKIP [engine-pg-units]: all skipped"; exit 77; }
fi
echo "PASS [engine-pg-units]: ${tests[*]} on PostgreSQL${skipped[*]:+ (skipped: ${skipped[*]})}"
