#!/usr/bin/env bash
# Authenticated manifest GETs per second (not a test: prints a table).
#
#   BERTHD=path/to/berthd tests/bench/auth-bench.sh
#
# Three servers side by side, each on a fresh data directory under /dev/shm, over
# HTTPS, holding the same small image (pushed by the user with skopeo):
#   berthd          --auth basic, a user with an argon2id password at the default cost
#                   (64 MiB, 3 passes); every request carries Authorization: Basic
#   berthd-noauth   --auth none, no Authorization header (the ceiling)
#   distribution    Debian's docker-registry with htpasswd auth (bcrypt, htpasswd -B)
# wrk runs BENCH_CONNS (64) connections for BENCH_SECS (10) seconds against
# GET /v2/bench/app/manifests/v1, after a 2 s warm-up; every response must be 200.
# The servers are measured in BENCH_ROUNDS (3) interleaved rounds and the table shows
# each one's median round (a shared machine drifts: compare within one run).
# Targets (issue 4): berthd >= 20 x distribution, >= 80 % of berthd-noauth.
#
# Environment: BERTHD, BENCH_CONNS, BENCH_SECS, BENCH_ROUNDS, BENCH_THREADS (wrk
# threads, 2), BENCH_BCRYPT_COST (htpasswd -C; default: htpasswd's own),
# BENCH_SERVERS (default "berthd berthd-noauth distribution"), BENCH_KEEP=1 keeps
# the work directory (wrk outputs, server logs).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u -o pipefail

: "${top_builddir:=$PWD}"
: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
BERTHD=${BERTHD:-$top_builddir/berthd}
CONNS=${BENCH_CONNS:-64}
SECS=${BENCH_SECS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
WRK_THREADS=${BENCH_THREADS:-2}
SERVERS=${BENCH_SERVERS:-berthd berthd-noauth distribution}
MKIMAGE=$top_srcdir/tests/integration/mkimage.py

die() { echo "auth-bench: $*" >&2; exit 1; }
for t in curl wrk openssl python3 skopeo htpasswd docker-registry; do
        command -v "$t" >/dev/null || die "needs $t"
done
[ -x "$BERTHD" ] || die "no berthd at $BERTHD (set BERTHD)"

W=$(mktemp -d /dev/shm/berth-auth-bench.XXXXXX) || die "mktemp"
declare -A SPID URL CA HDR
stop_server() {
        local pid=${SPID[$1]:-}
        [ -n "$pid" ] || return 0
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        unset "SPID[$1]"
}
cleanup() {
        local k
        for k in "${!SPID[@]}"; do stop_server "$k"; done
        if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
USER_NAME=bench
USER_PW=bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
AUTH_HEADER="Authorization: Basic $(printf '%s:%s' "$USER_NAME" "$USER_PW" | base64 -w0)"
ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json'

python3 "$MKIMAGE" "$W/src" --tag v1 --layers 2 --layer-size 64K --seed auth-bench --gzip >/dev/null \
        || die "mkimage"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
        -addext subjectAltName=IP:127.0.0.1 -keyout "$W/key.pem" -out "$W/cert.pem" >/dev/null 2>&1 \
        || die "openssl"
if [ -n "${BENCH_BCRYPT_COST:-}" ]; then
        htpasswd -Bbn -C "$BENCH_BCRYPT_COST" "$USER_NAME" "$USER_PW" >"$W/htpasswd" || die "htpasswd"
else
        htpasswd -Bbn "$USER_NAME" "$USER_PW" >"$W/htpasswd" || die "htpasswd"
fi
BCRYPT_COST=$(cut -d'$' -f3 "$W/htpasswd" | head -n1)

# start_server KIND: sets SPID[KIND] URL[KIND] CA[KIND] HDR[KIND] (wrk's Authorization
# header, or "" for the open server), then pushes the image as the user
start_server() {
        local kind=$1 port d=$W/$1 i code url creds=$USER_NAME:$USER_PW mode h=()
        port=$(free_port)
        url=https://127.0.0.1:$port
        URL[$kind]=$url
        mkdir -p "$d"
        case $kind in
        berthd|berthd-noauth)
                mode=basic
                [ "$kind" = berthd-noauth ] && mode=none
                BERTH_ADMIN_PASSWORD=$USER_PW-admin "$BERTHD" serve --listen "127.0.0.1:$port" \
                        --data "$d/data" --auth "$mode" --log-level warning >"$d.log" 2>&1 &
                SPID[$kind]=$!
                CA[$kind]=$d/data/tls/ca.crt
                ;;
        distribution)
                {
                        echo "version: 0.1"
                        echo "log: {level: error, accesslog: {disabled: true}}"
                        echo "storage: {filesystem: {rootdirectory: $d/registry}}"
                        echo "auth: {htpasswd: {realm: bench, path: $W/htpasswd}}"
                        echo "http:"
                        echo "  addr: 127.0.0.1:$port"
                        echo "  tls: {certificate: $W/cert.pem, key: $W/key.pem}"
                } >"$d.yml"
                docker-registry serve "$d.yml" >"$d.log" 2>&1 &
                SPID[$kind]=$!
                CA[$kind]=$W/cert.pem
                ;;
        *) die "unknown server $kind" ;;
        esac
        for i in $(seq 1 150); do
                kill -0 "${SPID[$kind]}" 2>/dev/null || { cat "$d.log" >&2; die "$kind exited at start"; }
                if [ -s "${CA[$kind]}" ]; then
                        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "${CA[$kind]}" "$url/v2/" 2>/dev/null)
                        case $code in 200|401) break ;; esac
                fi
                sleep 0.1
        done
        HDR[$kind]=$AUTH_HEADER
        case $kind in
        berthd)
                # the user, created while the server runs (default argon2id cost)
                printf '%s\n' "$USER_PW" | env -u BERTH_ARGON2_MEMORY_KIB -u BERTH_ARGON2_PASSES \
                        "$BERTHD" --data "$d/data" user add "$USER_NAME" >/dev/null || die "berthd user add"
                ;;
        berthd-noauth) creds= HDR[$kind]= ;;
        esac
        mkdir -p "$W/certs-$kind"
        cp "${CA[$kind]}" "$W/certs-$kind/ca.crt"
        local sk=(skopeo copy --quiet --dest-cert-dir "$W/certs-$kind")
        [ -n "$creds" ] && sk+=(--dest-creds "$creds")
        # on berthd the user's own namespace (bench/...) needs no project or membership
        "${sk[@]}" "oci:$W/src:v1" "docker://${url#https://}/bench/app:v1" >/dev/null 2>"$W/$kind.push" \
                || { cat "$W/$kind.push" >&2; die "$kind: push failed"; }
        [ -n "${HDR[$kind]}" ] && h=(-H "${HDR[$kind]}")
        code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "${CA[$kind]}" "${h[@]}" -H "$ACCEPT" \
                "$url/v2/bench/app/manifests/v1")
        [ "$code" = 200 ] || die "$kind: manifest GET answers $code"
        if [ -n "${HDR[$kind]}" ]; then
                code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "${CA[$kind]}" -H "$ACCEPT" \
                        "$url/v2/bench/app/manifests/v1")
                [ "$code" = 401 ] || die "$kind: anonymous manifest GET answers $code, want 401"
        fi
}

# measure KIND ROUND: prints "requests/s non-2xx p50 p99"
measure() {
        local kind=$1 out rps bad lat50 lat99 h=()
        [ -n "${HDR[$kind]}" ] && h=(-H "${HDR[$kind]}")
        wrk -t"$WRK_THREADS" -c"$CONNS" -d2s "${h[@]}" -H "$ACCEPT" \
                "${URL[$kind]}/v2/bench/app/manifests/v1" >/dev/null 2>&1
        out=$(wrk -t"$WRK_THREADS" -c"$CONNS" -d"${SECS}s" --latency "${h[@]}" -H "$ACCEPT" \
                "${URL[$kind]}/v2/bench/app/manifests/v1" 2>&1)
        printf '%s\n' "$out" >"$W/$kind.$2.wrk"
        rps=$(printf '%s\n' "$out" | awk '$1 == "Requests/sec:" { printf "%.0f", $2 }')
        bad=$(printf '%s\n' "$out" | awk '/Non-2xx or 3xx responses:/ { print $NF }')
        lat50=$(printf '%s\n' "$out" | awk '$1 == "50%" { print $2 }')
        lat99=$(printf '%s\n' "$out" | awk '$1 == "99%" { print $2 }')
        echo "${rps:-0} ${bad:-0} ${lat50:--} ${lat99:--}"
}

for kind in $SERVERS; do
        echo "auth-bench: starting $kind..." >&2
        start_server "$kind"
done
declare -A RES RPS
for r in $(seq 1 "$ROUNDS"); do
        for kind in $SERVERS; do
                echo "auth-bench: round $r, $kind..." >&2
                RES[$kind]+="$(measure "$kind" "$r")"$'\n'
        done
done

printf '%-15s %11s %8s %10s %10s   %s\n' server "requests/s" non-2xx p50 p99 "rounds" >"$W/table"
for kind in $SERVERS; do
        # the median round by requests/s
        read -r rps _ p50 p99 < <(printf '%s' "${RES[$kind]}" | sort -n -k1,1 |
                awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }')
        all=$(printf '%s' "${RES[$kind]}" | awk '{ printf "%s%s", sep, $1; sep = " " }')
        nbad=$(printf '%s' "${RES[$kind]}" | awk '{ s += $2 } END { print s + 0 }')
        RPS[$kind]=$rps
        printf '%-15s %11s %8s %10s %10s   %s\n' "$kind" "$rps" "$nbad" "$p50" "$p99" "$all" >>"$W/table"
        [ "$nbad" = 0 ] || echo "auth-bench: $kind had $nbad non-2xx responses" >&2
done
echo
echo "manifest GET over HTTPS: $CONNS connections, ${SECS} s x $ROUNDS rounds (median shown), wrk -t$WRK_THREADS,"
echo "$(nproc) CPUs shared by client and servers, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "distribution: htpasswd bcrypt cost $BCRYPT_COST; berthd: argon2id at the default cost + verified-credentials cache"
cat "$W/table"
if [ -n "${RPS[berthd]:-}" ] && [ -n "${RPS[distribution]:-}" ]; then
        awk -v a="${RPS[berthd]}" -v b="${RPS[distribution]}" \
                'BEGIN { printf "berthd / distribution:   %s x   (target >= 20)\n", b > 0 ? sprintf("%.1f", a / b) : "-" }'
fi
if [ -n "${RPS[berthd]:-}" ] && [ -n "${RPS[berthd-noauth]:-}" ]; then
        awk -v a="${RPS[berthd]}" -v b="${RPS[berthd-noauth]}" \
                'BEGIN { printf "berthd / berthd-noauth:  %s %%   (target >= 80)\n", b > 0 ? sprintf("%.0f", 100 * a / b) : "-" }'
fi
