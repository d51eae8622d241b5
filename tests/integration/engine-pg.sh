#!/bin/bash
# The engine matrix, PostgreSQL column (slow tier): the API, access-control and token
# scripts run again with berthd's metadata in PostgreSQL instead of SQLite
# (BERTH_TEST_DB=pg: each script's berthd gets `--db URL` on a fresh database of the
# run's shared server, tests/pg-server.sh, and its admin commands BERTH_DB). The scripts
# run one after the other, as they are; this fails when one of them fails, and skips
# when all skip (or without a server, unless BERTH_REQUIRE_ALL=1).
# BERTH_ENGINE_PG_SCRIPTS (names without .sh) runs another list, e.g. by hand:
#   tests/pg-server.sh run -- env BERTH_ENGINE_PG_SCRIPTS=api-core \
#           top_builddir=build-release bash tests/integration/engine-pg.sh
. "$(dirname "$0")/lib.sh"

berth_require_pg
[ -x "$top_builddir/berthd" ] || fail "$top_builddir/berthd not built"

# the API (issues 2, 3), access control (issue 4), tokens (issue 4, issue 9), webhooks (issue 14),
# the pull-through cache (issue 13)
scripts=${BERTH_ENGINE_PG_SCRIPTS:-api-core api-v11 auth-tokens auth-token-mode auth-clients auth-docker harden-tokens webhooks proxy-cache}
passed=() failed=() skipped=()
for s in $scripts; do
        [ -f "$BERTH_IT_DIR/$s.sh" ] || { failed+=("$s (no such script)"); continue; }
        step "$s.sh with BERTH_TEST_DB=pg"
        rc=0
        # each script its own database: none inherited from here
        env -u BERTH_DB_URL -u BERTH_DB -u BERTH_DB_PASSWORD_FILE BERTH_TEST_DB=pg \
                bash "$BERTH_IT_DIR/$s.sh" </dev/null 2>&1 | sed -u "s/^/[pg $s] /"
        rc=${PIPESTATUS[0]}
        case $rc in
        0) passed+=("$s") ;;
        77) skipped+=("$s") ;;
        *) failed+=("$s (status $rc)") ;;
        esac
done

echo "---- [$BERTH_TEST_NAME] on PostgreSQL: passed: ${passed[*]:-none}; skipped: ${skipped[*]:-none}; failed: ${failed[*]:-none}"
[ ${#failed[@]} -eq 0 ] || fail "failed on PostgreSQL: ${failed[*]}"
if [ ${#passed[@]} -eq 0 ]; then
        echo "SKIP [$BERTH_TEST_NAME]: every script skipped"
        exit 77
fi
pass "${passed[*]} pass with their metadata in PostgreSQL"
