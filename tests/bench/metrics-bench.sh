#!/usr/bin/env bash
# Cost of metrics: manifest GETs per second with the metrics listener on and off.
# Two berthd (plain HTTP, --auth none), one with --metrics-listen, one without,
# measured in turns (on/off, then off/on, ...) so that drift in the machine's load
# hits both alike; prints each run, the medians and the spread (min..max).
#   tests/bench/metrics-bench.sh   (BERTHD, ROUNDS [7], SECS [5], CONNS [32])
set -euo pipefail
BERTHD=${BERTHD:-${top_builddir:-.}/berthd}
ROUNDS=${ROUNDS:-7} SECS=${SECS:-5} CONNS=${CONNS:-32}
for t in curl wrk python3; do command -v $t >/dev/null || { echo "needs $t" >&2; exit 1; }; done
TMP=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() { # NAME METRICS-LISTEN: starts berthd, pushes a manifest, sets URL_NAME
        local name=$1 ml=$2 p url i cfg='{}' man
        p=$(port)
        url=http://127.0.0.1:$p
        "$BERTHD" serve --listen "127.0.0.1:$p" --data "$TMP/$name" --auth none --insecure-http \
                --threads 4 --metrics-listen "$ml" >"$TMP/$name.log" 2>&1 &
        pids+=($!)
        for i in $(seq 1 100); do curl -sf -o /dev/null "$url/healthz" && break; sleep 0.1; done
        dig=sha256:$(printf '%s' "$cfg" | sha256sum | cut -d' ' -f1)
        curl -sf -o /dev/null -X POST --data-binary "$cfg" "$url/v2/bench/app/blobs/uploads/?digest=$dig"
        man=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},"layers":[]}' "$dig")
        curl -sf -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
                --data-binary "$man" "$url/v2/bench/app/manifests/latest"
        curl -sf -o /dev/null "$url/v2/bench/app/manifests/latest" || { echo "$name: no manifest" >&2; exit 1; }
        printf -v "URL_$name" '%s' "$url"
}
rps() { # URL
        wrk -t2 -c"$CONNS" -d"${SECS}s" -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
                "$1/v2/bench/app/manifests/latest" | awk '/^Requests\/sec/ { printf "%d\n", $2 }'
}
start on "127.0.0.1:$(port)"
start off ''
grep -q 'metrics at' "$TMP/on.log" || { echo "metrics listener did not start" >&2; exit 1; }
on=() off=()
for r in $(seq 1 "$ROUNDS"); do
        if [ $((r % 2)) = 1 ]; then
                on+=("$(rps "$URL_on")"); off+=("$(rps "$URL_off")")
        else
                off+=("$(rps "$URL_off")"); on+=("$(rps "$URL_on")")
        fi
        echo "round $r: on ${on[-1]}  off ${off[-1]}"
done
stats() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "median %d (min %d, max %d)", v[int((NR + 1) / 2)], v[1], v[NR] }'; }
med() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "metrics on:  $(stats "${on[@]}")"
echo "metrics off: $(stats "${off[@]}")"
awk -v a="$(med "${on[@]}")" -v b="$(med "${off[@]}")" 'BEGIN { printf "on/off: %.1f%%\n", 100 * a / b }'
echo "(wrk -t2 -c$CONNS -d${SECS}s, $ROUNDS rounds in turns, $(nproc) CPUs, berthd --threads 4)"
