#!/usr/bin/env bash
# Cost of metrics: manifest GETs per second with the metrics listener on and off.
# Two berthd (plain HTTP, --auth none), one with --metrics-listen, one without,
# measured in turns (on/off, then off/on, ...) so that drift in the machine's load
# hits both alike; prints each run, the medians and the spread (min..max).
#   tests/bench/metrics-bench.sh   (BERTHD, ROUNDS [7], SECS [5], CONNS [32], BERTHD_ARGS)
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
                --threads 4 --metrics-listen "$ml" ${BERTHD_ARGS:-} >"$TMP/$name.log" 2>&1 &
        pids+=($!)
        for i in $(seq 1 100); do curl -sf -o /dev/null "$url/healthz" && break; sleep 0.1; done
        dig=sha256:$(printf '%s' "$cfg" | sha256sum | cut -d' ' -f1)
        curl -sf -o /dev/null -X POST --data-binary "$cfg" "$url/v2/bench/app/blobs/uploads/?digest=$dig"
        man=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},"layers":[]}' "$dig")
        curl -sf -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
                --data-binary "$man" "$url/v2/bench/app/manifests/latest"
        curl -sf -o /dev/null "$url/v2/bench/app/manifests/latest" || { echo "$name: no manifest" >&2; exit 1; }
        printf -v "URL_$name" '%s' "$url"
        printf -v "PID_$name" '%s' "${pids[-1]}"
}
cpu() { # PID: user + system clock ticks
        awk '{ print $14 + $15 }' "/proc/$1/stat"
}
rps() { # NAME: requests/s; adds the server's CPU microseconds per request to CPU_NAME
        local url pid c0 c1 out n
        eval "url=\$URL_$1 pid=\$PID_$1"
        c0=$(cpu "$pid")
        out=$(wrk -t2 -c"$CONNS" -d"${SECS}s" -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
                "$url/v2/bench/app/manifests/latest")
        c1=$(cpu "$pid")
        n=$(printf '%s\n' "$out" | awk '/requests in/ { print $1 }')
        eval "CPU_$1+=(\"$(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n="$n" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')\")"
        printf '%s\n' "$out" | awk '/^Requests\/sec/ { printf "%d\n", $2 }'
}
start on "127.0.0.1:$(port)"
start off ''
grep -q 'metrics at' "$TMP/on.log" || { echo "metrics listener did not start" >&2; exit 1; }
on=() off=() CPU_on=() CPU_off=()
for r in $(seq 1 "$ROUNDS"); do
        if [ $((r % 2)) = 1 ]; then
                rps on >"$TMP/r"; on+=("$(cat "$TMP/r")"); rps off >"$TMP/r"; off+=("$(cat "$TMP/r")")
        else
                rps off >"$TMP/r"; off+=("$(cat "$TMP/r")"); rps on >"$TMP/r"; on+=("$(cat "$TMP/r")")
        fi
        echo "round $r: on ${on[-1]}/s ${CPU_on[-1]}us CPU/req  off ${off[-1]}/s ${CPU_off[-1]}us CPU/req"
done
stats() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "median %d (min %d, max %d)", v[int((NR + 1) / 2)], v[1], v[NR] }'; }
med() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "metrics on:  $(stats "${on[@]}")"
echo "metrics off: $(stats "${off[@]}")"
awk -v a="$(med "${on[@]}")" -v b="$(med "${off[@]}")" 'BEGIN { printf "on/off of the medians: %.1f%%\n", 100 * a / b }'
# each round's pair ran back to back: the median of their ratios suffers least from drift
ratios=()
for i in "${!on[@]}"; do ratios+=("$(awk -v a="${on[$i]}" -v b="${off[$i]}" 'BEGIN { printf "%.1f", 100 * a / b }')"); done
printf '%s\n' "${ratios[@]}" | sort -g | awk '{ v[NR] = $1 } END { printf "on/off per round: median %.1f%% (min %.1f%%, max %.1f%%)\n", v[int((NR + 1) / 2)], v[1], v[NR] }'
# CPU time per request suffers less than throughput from other load on the machine
echo "server CPU per request: on $(med "${CPU_on[@]/./}" | awk '{ printf "%.1f", $1 / 10 }')us, off $(med "${CPU_off[@]/./}" | awk '{ printf "%.1f", $1 / 10 }')us (medians)"
echo "(wrk -t2 -c$CONNS -d${SECS}s, $ROUNDS rounds in turns, $(nproc) CPUs, berthd --threads 4)"
