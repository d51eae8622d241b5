#!/usr/bin/env bash
# Retention over 100,000 tags (issue 11), not a test: prints figures.
#
#   make bench-retention    (or: top_builddir=BUILD tests/bench/retention-bench.sh)
#
# The database is filled through the metadata API (tests/bench/retention-fill, no
# HTTP): BENCH_RET_REPOS (100) repositories of BENCH_RET_MANIFESTS (100) manifests of
# 10 tags each, pushed two days ago: 100,000 tags, 10,000 manifests, on SQLite (the
# default engine; BENCH_RET_PG=1: PostgreSQL from tests/pg-server.sh). The policy
# keeps the 10 most recently pushed tags of each repository and every release-*
# tag (1% of them), and removes untagged manifests after a day: a run removes about
# 98,000 tags and 8,900 manifests. Measured, with berthd serving and a client
# GETting manifests by tag all along (BENCH_RET_RATE, 500, GETs per second at most,
# one connection): `berthd retention run` (the command line, a process of its own,
# as an operator runs it): its time; and the manifest GET latency (p50, p99, max)
# before the run and during it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh"
berth_require python3 bc
berth_tmpdir
REPOS=${BENCH_RET_REPOS:-100}
MANIFESTS=${BENCH_RET_MANIFESTS:-100}
TAGS=10
BASE_SECS=${BENCH_RET_BASE_SECS:-10}
RATE=${BENCH_RET_RATE:-500}

if [ "${BENCH_RET_PG:-0}" = 1 ]; then
        BERTH_TEST_DB=pg
        export BERTH_TEST_DB
        berth_use_db
        PGPASSWORD=$(cat "$BERTH_DB_PASSWORD_FILE") # for retention-fill (libpq)
        export PGPASSWORD
fi
berth_start --insecure-http --retention-interval 0 --gc-interval 0
berth_stop
target=${BERTH_DB_URL:-$BERTH_DATA/berth.db}
echo "filling $((REPOS * MANIFESTS * TAGS)) tags ($((REPOS * MANIFESTS)) manifests) through the metadata API..."
t0=$(date +%s.%N)
"$top_builddir/tests/bench/retention-fill" "$target" "$REPOS" "$MANIFESTS" "$TAGS"
echo "  filled in $(echo "$(date +%s.%N) - $t0" | bc) s"
bd() { "$top_builddir/berthd" --data "$BERTH_DATA" "$@"; }
bd retention set bench --keep-last-pushed 10 --keep-always 'release-*' --untagged-after 1d >/dev/null
berth_start --insecure-http --retention-interval 0 --gc-interval 0

mono() { python3 -c 'import time; print(f"{time.monotonic():.6f}")'; }
# stats FILE FROM TO: GETs ending within [FROM, TO]: count, p50, p99, max (ms)
stats() {
        awk -v a="$2" -v b="$3" '$1 >= a && $1 <= b { print $2 * 1000 }' "$1" | sort -n | awk '
                { v[NR] = $1 }
                END { if (NR == 0) { print "no GETs"; exit }
                      p50 = v[int(NR * 0.50) > 0 ? int(NR * 0.50) : 1]; p99 = v[int(NR * 0.99) > 0 ? int(NR * 0.99) : 1]
                      printf "%d GETs, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", NR, p50, p99, v[NR] }'
}

echo "1. manifest GETs (at most $RATE/s), no run ($BASE_SECS s), then during the run"
python3 "$here/retention_client.py" "$BERTH_HOST" "$REPOS" "$MANIFESTS" "$TAGS" "$TMP/stop" "$TMP/gets" 1 "$RATE" &
clients=$!
sleep 1
b0=$(mono)
sleep "$BASE_SECS"
b1=$(mono)
echo "2. berthd retention run over $((REPOS * MANIFESTS * TAGS)) tags while the client GETs"
r0=$(mono)
bd retention run >"$TMP/run.out"
r1=$(mono)
touch "$TMP/stop"
wait "$clients"
echo "   run: $(echo "$r1 - $r0" | bc) s: $(tail -n1 "$TMP/run.out")"
echo "   GETs before the run: $(stats "$TMP/gets" "$b0" "$b1")"
echo "   GETs during the run: $(stats "$TMP/gets" "$r0" "$r1")"
echo "   GETs answered 5xx: $(awk '$3 >= 500' "$TMP/gets" | wc -l)"
bd retention status | sed -n 2p
berth_stop
