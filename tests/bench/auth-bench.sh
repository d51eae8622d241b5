#!/usr/bin/env bash
# Authenticated manifest GETs per second (not a test: prints a table).
#
#   BERTHD=path/to/berthd tests/bench/auth-bench.sh
#
# Three servers in the same run, each on a fresh data directory under /dev/shm, over
# HTTPS, holding the same small image:
#   berthd          --auth basic, a user with an argon2id password at the default cost
#                   (64 MiB, 3 passes); every request carries Authorization: Basic
#   berthd-noauth   --auth none, no Authorization header (the ceiling)
#   distribution    Debian's docker-registry with htpasswd auth (bcrypt, htpasswd -B)
# wrk runs BENCH_CONNS (64) connections for BENCH_SECS (10) seconds against
# GET /v2/bench/app/manifests/v1; every response must be 200.
# Targets (issue 4): berthd >= 20 x distribution, >= 80 % of berthd-noauth.
#
# Environment: BERTHD, BENCH_CONNS, BENCH_SECS, BENCH_THREADS (wrk threads, 2),
# BENCH_BCRYPT_COST (htpasswd -C; default: htpasswd's own, 5), BENCH_KEEP=1 keeps
# the directory, BENCH_SERVERS (default "berthd berthd-noauth distribution").
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u -o pipefail

: "${top_builddir:=$PWD}"
: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
BERTHD=${BERTHD:-$top_builddir/berthd}
CONNS=${BENCH_CONNS:-64}
SECS=${BENCH_SECS:-10}
WRK_THREADS=${BENCH_THREADS:-2}
SERVERS=${BENCH_SERVERS:-berthd berthd-noauth distribution}
MKIMAGE=$top_srcdir/tests/integration/mkimage.py

die() { echo "auth-bench: $*" >&2; exit 1; }
for t in curl wrk openssl python3 skopeo htpasswd docker-registry; do
        command -v "$t" >/dev/null || die "needs $t"
done
[ -x "$BERTHD" ] || die "no berthd at $BERTHD (set BERTHD)"

W=$(mktemp -d /dev/shm/berth-auth-bench.XXXXXX) || die "mktemp"
SPID=
cleanup() {
        [ -n "$SPID" ] && stop_server
        [ "${BENCH_KEEP:-0}" = 1 ] && echo "kept $W" >&2 || rm -rf "$W"
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

# start_server KIND: sets SPID URL CA CREDS (skopeo) HDR (wrk's Authorization header or "")
start_server() {
        local kind=$1 port d=$W/$1 i code
        port=$(free_port)
        URL=https://127.0.0.1:$port
        mkdir -p "$d"
        case $kind in
        berthd|berthd-noauth)
                local mode=basic
                [ "$kind" = berthd-noauth ] && mode=none
                BERTH_ADMIN_PASSWORD=$USER_PW-admin "$BERTHD" serve --listen "127.0.0.1:$port" \
                        --data "$d/data" --auth "$mode" --log-level warning >"$d.log" 2>&1 &
                SPID=$!
                CA=$d/data/tls/ca.crt
                ;;
        distribution)
                cat >"$d.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $d/registry}}
auth: {htpasswd: {realm: bench, path: $W/htpasswd}}
http:
  addr: 127.0.0.1:$port
  tls: {certificate: $W/cert.pem, key: $W/key.pem}
EOF
                docker-registry serve "$d.yml" >"$d.log" 2>&1 &
                SPID=$!
                CA=$W/cert.pem
                ;;
        esac
        for i in $(seq 1 150); do
                kill -0 "$SPID" 2>/dev/null || { cat "$d.log" >&2; die "$kind exited at start"; }
                if [ -s "$CA" ]; then
                        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$CA" "$URL/v2/" 2>/dev/null)
                        case $code in 200|401) break ;; esac
                fi
                sleep 0.1
        done
        CREDS=$USER_NAME:$USER_PW HDR=$AUTH_HEADER
        case $kind in
        berthd)
                # the user, created while the server runs (default argon2id cost)
                printf '%s\n' "$USER_PW" | env -u BERTH_ARGON2_MEMORY_KIB -u BERTH_ARGON2_PASSES \
                        "$BERTHD" --data "$d/data" user add "$USER_NAME" >/dev/null || die "berthd user add"
                ;;
        berthd-noauth) CREDS= HDR= ;;
        esac
}
stop_server() {
        kill -TERM "$SPID" 2>/dev/null
        for _ in $(seq 1 300); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SPID" 2>/dev/null
        wait "$SPID" 2>/dev/null
        SPID=
}

# run KIND: prints "requests/s non2xx p50 p99"
run() {
        local kind=$1 out rps bad lat50 lat99 code
        local sk=(skopeo copy --quiet --dest-cert-dir "$W/certs-$kind")
        start_server "$kind"
        mkdir -p "$W/certs-$kind"
        cp "$CA" "$W/certs-$kind/ca.crt"
        [ -n "$CREDS" ] && sk+=(--dest-creds "$CREDS")
        # the user's own namespace on berthd (bench/...) needs no project or membership
        "${sk[@]}" "oci:$W/src:v1" "docker://${URL#https://}/bench/app:v1" >/dev/null 2>"$W/$kind.push" \
                || { cat "$W/$kind.push" >&2; die "$kind: push failed"; }
        local h=()
        [ -n "$HDR" ] && h=(-H "$HDR")
        code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" "${h[@]}" -H "$ACCEPT" \
                "$URL/v2/bench/app/manifests/v1")
        [ "$code" = 200 ] || die "$kind: manifest GET answers $code"
        if [ -n "$HDR" ]; then
                code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" -H "$ACCEPT" "$URL/v2/bench/app/manifests/v1")
                [ "$code" = 401 ] || die "$kind: anonymous manifest GET answers $code, want 401"
        fi
        # warm-up (connections, caches), then the measurement
        wrk -t"$WRK_THREADS" -c"$CONNS" -d2s "${h[@]}" -H "$ACCEPT" "$URL/v2/bench/app/manifests/v1" >/dev/null 2>&1
        out=$(wrk -t"$WRK_THREADS" -c"$CONNS" -d"${SECS}s" --latency "${h[@]}" -H "$ACCEPT" \
                "$URL/v2/bench/app/manifests/v1" 2>&1)
        printf '%s\n' "$out" >"$W/$kind.wrk"
        rps=$(printf '%s\n' "$out" | awk '$1 == "Requests/sec:" { printf "%.0f", $2 }')
        bad=$(printf '%s\n' "$out" | awk '/Non-2xx or 3xx responses:/ { print $NF }')
        lat50=$(printf '%s\n' "$out" | awk '$1 == "50%" { print $2 }')
        lat99=$(printf '%s\n' "$out" | awk '$1 == "99%" { print $2 }')
        stop_server
        echo "${rps:-ERR} ${bad:-0} ${lat50:--} ${lat99:--}"
}

declare -A RPS
printf '%-15s %12s %8s %10s %10s\n' server "requests/s" non-2xx p50 p99 >"$W/table"
for kind in $SERVERS; do
        echo "auth-bench: $kind..." >&2
        read -r rps bad p50 p99 < <(run "$kind")
        [ -n "${rps:-}" ] || die "$kind: no result"
        RPS[$kind]=$rps
        printf '%-15s %12s %8s %10s %10s\n' "$kind" "$rps" "$bad" "$p50" "$p99" >>"$W/table"
        [ "$bad" = 0 ] || echo "auth-bench: $kind had $bad non-2xx responses" >&2
done
echo
echo "authenticated manifest GET, HTTPS, $CONNS connections, ${SECS}s, wrk -t$WRK_THREADS, $(nproc) CPUs"
echo "distribution: htpasswd bcrypt cost $BCRYPT_COST; berthd: argon2id default cost, verified-credentials cache"
cat "$W/table"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
if [ -n "${RPS[berthd]:-}" ] && [ -n "${RPS[distribution]:-}" ]; then
        echo "berthd / distribution:   $(ratio "${RPS[berthd]}" "${RPS[distribution]}") x   (target >= 20)"
fi
if [ -n "${RPS[berthd]:-}" ] && [ -n "${RPS[berthd-noauth]:-}" ]; then
        echo "berthd / berthd-noauth:  $(awk -v a="${RPS[berthd]}" -v b="${RPS[berthd-noauth]}" 'BEGIN { printf "%.0f", 100 * a / b }') %   (target >= 80)"
fi
