#!/usr/bin/env bash
# Cached users and probes while fresh wrong passwords flood berthd (issue 9, item 11).
# Not a test: prints a table.
#
#   BERTHD=path/to/berthd tests/bench/auth-flood-bench.sh
#
# One berthd (--auth basic, default argon2id cost: 64 MiB, 3 passes; default threads
# and verifiers) on a fresh data directory under /dev/shm, over HTTPS, holding one
# small manifest in admin's namespace. Measured twice, without and with a flood:
#   cached GET/s    wrk, BENCH_CONNS (8) connections for BENCH_SECS (10) s: GET of the
#                   manifest with admin's Basic credentials (cached after the first)
#   /healthz        curl every 0.2 s during the same seconds: median, p90 and slowest
#                   time, and probes that failed or took over 5 s
#   flood           tests/integration/auth_flood.py: BENCH_FLOOD (64) connections from
#                   as many addresses (127.0.0.10 ...), each sending GET /v2/ with a new
#                   user name and wrong password as soon as the previous answer came
#                   (or BENCH_FLOOD_PAUSE seconds after it)
# Environment: BERTHD, BENCH_LABEL (the table's first column), BENCH_CONNS, BENCH_SECS,
# BENCH_FLOOD, BENCH_FLOOD_PAUSE (0), BENCH_THREADS (berthd --threads; default berthd's own),
# BENCH_KEEP=1 keeps the work directory (server log, wrk and flood outputs).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u -o pipefail

: "${top_builddir:=$PWD}"
: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
BERTHD=${BERTHD:-$top_builddir/berthd}
LABEL=${BENCH_LABEL:-berthd}
CONNS=${BENCH_CONNS:-8}
SECS=${BENCH_SECS:-10}
FLOOD_CONNS=${BENCH_FLOOD:-64}
FLOOD_PAUSE=${BENCH_FLOOD_PAUSE:-0}
FLOOD=$top_srcdir/tests/integration/auth_flood.py

die() { echo "auth-flood-bench: $*" >&2; exit 1; }
for t in curl wrk python3 sha256sum; do
        command -v "$t" >/dev/null || die "needs $t"
done
[ -x "$BERTHD" ] || die "no berthd at $BERTHD (set BERTHD)"

W=$(mktemp -d /dev/shm/berth-auth-flood-bench.XXXXXX) || die "mktemp"
PID=
FPID=
cleanup() {
        [ -n "$FPID" ] && kill "$FPID" 2>/dev/null
        if [ -n "$PID" ]; then
                kill -TERM "$PID" 2>/dev/null
                for _ in $(seq 1 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
                kill -KILL "$PID" 2>/dev/null
                wait "$PID" 2>/dev/null
        fi
        if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=https://127.0.0.1:$PORT
CA=$W/data/tls/ca.crt
PW=bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
BERTH_ADMIN_PASSWORD=$PW "$BERTHD" serve --listen "127.0.0.1:$PORT" --data "$W/data" --auth basic \
        ${BENCH_THREADS:+--threads "$BENCH_THREADS"} >"$W/berthd.log" 2>&1 &
PID=$!
for _ in $(seq 1 150); do
        [ -s "$CA" ] && curl -sf -o /dev/null --cacert "$CA" "$URL/healthz" && break
        kill -0 "$PID" 2>/dev/null || die "berthd exited: $(tail -n 5 "$W/berthd.log")"
        sleep 0.1
done
curl -sf -o /dev/null --cacert "$CA" "$URL/healthz" || die "berthd not answering"

printf '{}' >"$W/config"
CDIG=sha256:$(sha256sum "$W/config" | cut -d' ' -f1)
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},"layers":[]}' \
        "$CDIG" >"$W/manifest"
curl -sf -o /dev/null --cacert "$CA" -u "admin:$PW" -X POST --data-binary "@$W/config" \
        -H 'Content-Type: application/octet-stream' "$URL/v2/admin/app/blobs/uploads/?digest=$CDIG" || die "push config"
curl -sf -o /dev/null --cacert "$CA" -u "admin:$PW" -X PUT --data-binary "@$W/manifest" \
        -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' "$URL/v2/admin/app/manifests/v1" || die "push manifest"
MURL=$URL/v2/admin/app/manifests/v1
AUTH="Authorization: Basic $(printf 'admin:%s' "$PW" | base64 -w0)"
ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json'
curl -sf -o /dev/null --cacert "$CA" -H "$AUTH" -H "$ACCEPT" "$MURL" || die "cached GET"

# measure NAME: wrk and the /healthz probes at once; sets RPS NON2XX P50 P90 PMAX PBAD
measure() {
        local name=$1 i
        : >"$W/$name.probes"
        (
                for i in $(seq 1 $((SECS * 5))); do
                        curl -s -o /dev/null --max-time 5 --cacert "$CA" -w '%{http_code} %{time_total}\n' \
                                "$URL/healthz" >>"$W/$name.probes" 2>/dev/null || echo "000 5" >>"$W/$name.probes" &
                        sleep 0.2
                done
                wait
        ) &
        local probes=$!
        wrk -t 2 -c "$CONNS" -d "${SECS}s" --latency -H "$AUTH" -H "$ACCEPT" "$MURL" >"$W/$name.wrk" 2>&1
        wait "$probes"
        RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$W/$name.wrk")
        NON2XX=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$W/$name.wrk")
        read -r P50 P90 PMAX PBAD < <(sort -k2 -g "$W/$name.probes" | awk '{ n++; t[n] = $2 + 0; if ($1 != 200 || $2 + 0 >= 5) bad++ }
                END { printf "%.3f %.3f %.3f %d\n", t[int((n + 1) / 2)], t[int(n * 0.9 + 0.5)], t[n], bad }')
}

measure quiet
Q=("${RPS:-?}" "${NON2XX:-0}" "$P50" "$P90" "$PMAX" "$PBAD")

python3 "$FLOOD" --port "$PORT" --cacert "$CA" --conns "$FLOOD_CONNS" --first 10 \
        --seconds $((SECS + 4)) --pause "$FLOOD_PAUSE" --timeout 60 >"$W/flood.json" 2>"$W/flood.err" &
FPID=$!
sleep 2
measure flood
wait "$FPID" || die "flood client failed: $(tail -n 3 "$W/flood.err")"
FPID=
F=("${RPS:-?}" "${NON2XX:-0}" "$P50" "$P90" "$PMAX" "$PBAD")
FSUM=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print("%d req in %.0f s: %s" % (s["requests"], s["seconds"], ", ".join("%s %d" % (k, v) for k, v in sorted(s.items()) if k.isdigit())))' "$W/flood.json")

printf '%-12s %-8s %12s %8s %10s %10s %10s %6s\n' server flood "cached GET/s" non-2xx "hz p50 s" "hz p90 s" "hz max s" "hz bad"
printf '%-12s %-8s %12s %8s %10s %10s %10s %6s\n' "$LABEL" none "${Q[@]}"
printf '%-12s %-8s %12s %8s %10s %10s %10s %6s\n' "$LABEL" "$FLOOD_CONNS conns" "${F[@]}"
echo "flood (pause ${FLOOD_PAUSE}s): $FSUM"
