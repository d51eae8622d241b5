#!/usr/bin/env bash
# Online GC (issue 11), not a test: prints figures.
#
#   make bench-gc    (or: top_builddir=BUILD tests/bench/gc-bench.sh)
#
# A store of BENCH_GC_BLOBS blobs (default 100000, 1 KiB files), half kept (named by
# tagged manifests) and half garbage (seen unreferenced by an earlier run two hours
# ago), on SQLite. Measured:
#   1. push throughput without GC: 4 clients, each push a 16 KiB blob then a manifest
#      naming it, for BENCH_GC_SECS (default 10) s: pushes/s;
#   2. `berthd gc` (grace 3600 s) over that store while the same clients push: its
#      time, what it removed, and the pushes/s during the run, as a fraction of 1.
# BENCH_GC_ALONE=1: only the time of `berthd gc` over that store, no clients.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh"
berth_require python3 curl
berth_tmpdir
N=${BENCH_GC_BLOBS:-100000}
SECS=${BENCH_GC_SECS:-10}

berth_start --gc-interval 0
berth_stop
echo "populating $N blobs (half garbage)..."
t0=$(date +%s.%N)
python3 "$here/gc_bench.py" populate "$BERTH_DATA" "$N"
echo "  populated in $(echo "$(date +%s.%N) - $t0" | bc) s"
berth_start --gc-interval 0

rate() { # FILE FROM TO: pushes/s ending within [FROM, TO] (monotonic seconds)
        awk -v a="$2" -v b="$3" '$1 >= a && $1 <= b { n++ } END { printf "%.1f", n / (b - a) }' "$1"
}
mono() { python3 -c 'import time; print(f"{time.monotonic():.6f}")'; }

if [ "${BENCH_GC_ALONE:-0}" = 1 ]; then
        echo "0. berthd gc over $N blobs, no clients"
        g0=$(mono)
        "$top_builddir/berthd" --data "$BERTH_DATA" gc --grace 3600 >"$TMP/gc.out"
        echo "   gc: $(echo "$(mono) - $g0" | bc) s: $(cat "$TMP/gc.out")"
        berth_stop
        exit 0
fi
echo "1. pushes without GC ($SECS s)"
s0=$(mono)
python3 "$here/gc_bench.py" push "$BERTH_URL" "$BERTH_CA" "$SECS" "$TMP/base.times"
s1=$(mono)
base=$(rate "$TMP/base.times" "$s0" "$s1")
echo "   $base pushes/s"

echo "2. berthd gc over $N blobs while the clients push"
python3 "$here/gc_bench.py" push "$BERTH_URL" "$BERTH_CA" $((SECS * 12)) "$TMP/gc.times" &
clients=$!
sleep 2
g0=$(mono)
"$top_builddir/berthd" --data "$BERTH_DATA" gc --grace 3600 >"$TMP/gc.out"
g1=$(mono)
kill "$clients" 2>/dev/null || true
wait "$clients" 2>/dev/null || true
during=$(rate "$TMP/gc.times" "$g0" "$g1")
echo "   gc: $(echo "$g1 - $g0" | bc) s: $(cat "$TMP/gc.out")"
echo "   pushes during the run: $during pushes/s ($(echo "scale=2; $during / $base" | bc) of $base without GC)"
berth_stop
