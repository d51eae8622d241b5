#!/usr/bin/env bash
# tests/bench/pull-bench.sh: time `berth pull` against `skopeo copy docker://… oci:…` for
# one image of LAYERS × MiB (default 10 × 16 MiB, random so it does not compress) from
# the same local registry (distribution over TLS on 127.0.0.1) in the same run.
# Usage: tests/bench/pull-bench.sh [LAYERS] [MIB] [ROUNDS]   (run from a build directory)
. "$(dirname "$0")/../integration/client-lib.sh"
LAYERS=${1:-10}
MIB=${2:-16}
ROUNDS=${3:-3}
client_init
start_registry R none 1
REG=127.0.0.1:$REG_R_PORT
step "building and pushing $LAYERS x $MIB MiB"
make_image "$TMP/img" bench "$LAYERS" $((MIB * 1024 * 1024)) >/dev/null
push "$TMP/img" bench "$REG/bench/app:1"

now() { date +%s.%N; }
results=()
for round in $(seq "$ROUNDS"); do
        rm -rf "$TMP/berth-store" "$TMP/skopeo-oci"
        t0=$(now)
        "$BERTH" --store "$TMP/berth-store" --ca-file "$TMP/cert.pem" -q pull "$REG/bench/app:1" >/dev/null || fail "berth pull"
        t1=$(now)
        skopeo copy -q --src-tls-verify=false "docker://$REG/bench/app:1" "oci:$TMP/skopeo-oci:bench" >/dev/null || fail "skopeo copy"
        t2=$(now)
        b=$(echo "$t1 - $t0" | bc -l 2>/dev/null || python3 -c "print($t1-$t0)")
        s=$(echo "$t2 - $t1" | bc -l 2>/dev/null || python3 -c "print($t2-$t1)")
        printf 'round %d: berth pull %.2f s, skopeo copy %.2f s\n' "$round" "$b" "$s"
        results+=("$b $s")
done
printf '%s\n' "${results[@]}" | python3 -c '
import statistics, sys
rows = [tuple(map(float, l.split())) for l in sys.stdin if l.strip()]
b = statistics.median(r[0] for r in rows); s = statistics.median(r[1] for r in rows)
print("median of %d: berth pull %.2f s, skopeo copy %.2f s (berth/skopeo = %.2f)" % (len(rows), b, s, b / s))'
for t in 1 3 8; do
        rm -rf "$TMP/berth-store"
        t0=$(now)
        "$BERTH" --store "$TMP/berth-store" --ca-file "$TMP/cert.pem" -q pull "$REG/bench/app:1" --max-concurrent-downloads $t >/dev/null || fail "berth pull"
        t1=$(now)
        python3 -c "print('berth --max-concurrent-downloads $t: %.2f s' % ($t1 - $t0))"
done
