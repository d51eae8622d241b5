#!/usr/bin/env bash
# berthd side by side with the reference registry (CNCF distribution, Debian's
# docker-registry), same machine, same run. Not a test: prints a table.
#
#   make bench            (or: BERTHD=path/to/berthd tests/bench/bench.sh)
#
# For each storage location (tmpfs = /dev/shm, disk = $BENCH_DIR) and each server
# and scheme (plain HTTP, HTTPS) on a fresh data directory:
#   - upload of a BENCH_MB (default 1024) MiB blob, monolithic (POST, then one PUT
#     with the whole body) and in BENCH_CHUNK_MB (16) MiB chunks (PATCH with
#     Content-Range, then PUT ?digest=)
#   - download of that blob
#   - manifest GET requests/s with wrk at BENCH_CONNS (64) connections for
#     BENCH_SECS (10) seconds
#   - server RSS idle (after start) and peak (VmHWM at the end)
# and, for the disk figure, `dd bs=1M count=1024 conv=fsync` into BENCH_DIR.
#
# The client reads its data from tmpfs and discards downloads, and upload times are
# the sum of curl's own request times (no process start-up), so the figures are
# the server's. The machine's CPUs are shared by client and server: on a small
# machine HTTPS figures include the client's TLS cost.
#
# Environment: BERTHD (the binary; default $top_builddir/berthd), BENCH_DIR (disk
# location; default /var/tmp), BENCH_MB, BENCH_CHUNK_MB, BENCH_CONNS, BENCH_SECS,
# BENCH_SERVERS (default "berthd distribution"), BENCH_PLACES (default "tmpfs disk").
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u -o pipefail

: "${top_builddir:=$PWD}"
BERTHD=${BERTHD:-$top_builddir/berthd}
BENCH_DIR=${BENCH_DIR:-/var/tmp}
MB=${BENCH_MB:-1024}
CHUNK_MB=${BENCH_CHUNK_MB:-16}
CONNS=${BENCH_CONNS:-64}
SECS=${BENCH_SECS:-10}
SERVERS=${BENCH_SERVERS:-berthd distribution}
PLACES=${BENCH_PLACES:-tmpfs disk}

die() { echo "bench: $*" >&2; exit 1; }
for t in curl wrk openssl python3 sha256sum split; do
  command -v "$t" >/dev/null || die "needs $t"
done
case " $SERVERS " in *" berthd "*) [ -x "$BERTHD" ] || die "no berthd at $BERTHD (set BERTHD)" ;; esac
case " $SERVERS " in *" distribution "*)
  command -v docker-registry >/dev/null || { echo "bench: docker-registry not installed, berthd only" >&2; SERVERS=berthd; } ;;
esac

SRC=$(mktemp -d /dev/shm/berth-bench-src.XXXXXX) || die "mktemp on /dev/shm"
PLACE_DIRS=()
SPID=
cleanup() {
  [ -n "$SPID" ] && stop_server
  rm -rf "$SRC" "${PLACE_DIRS[@]}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
rate() { awk -v b="$1" -v t="$2" 'BEGIN { if (t > 0) printf "%.0f", b / 1048576 / t; else print "-" }'; } # bytes secs -> MiB/s
kb_to_mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
vm() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null; } # PID VmRSS|VmHWM -> kB

echo "preparing ${MB} MiB of test data on tmpfs..." >&2
head -c $((MB * 1048576)) /dev/urandom >"$SRC/mono"
head -c $((MB * 1048576)) /dev/urandom | split -b $((CHUNK_MB * 1048576)) -a 4 -d - "$SRC/chunk."
MONO_DIG=sha256:$(sha256sum "$SRC/mono" | cut -d' ' -f1)
CHUNK_DIG=sha256:$(cat "$SRC"/chunk.* | sha256sum | cut -d' ' -f1)
BYTES=$((MB * 1048576))
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$SRC/cfg"
CFG_DIG=sha256:$(sha256sum "$SRC/cfg" | cut -d' ' -f1)
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
  "$CFG_DIG" "$(wc -c <"$SRC/cfg")" "$MONO_DIG" "$BYTES" >"$SRC/manifest"
# a self-signed certificate for the reference registry
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$SRC/key.pem" -out "$SRC/cert.pem" >/dev/null 2>&1 \
  || die "openssl"

# start_server KIND SCHEME DATADIR: sets SPID URL CA
start_server() {
  local kind=$1 scheme=$2 dir=$3 port i code
  port=$(free_port); URL=$scheme://127.0.0.1:$port
  mkdir -p "$dir"
  if [ "$kind" = berthd ]; then
    local extra=(); [ "$scheme" = http ] && extra=(--insecure-http)
    "$BERTHD" serve --listen "127.0.0.1:$port" --data "$dir" --auth none --log-level warning \
      "${extra[@]}" >"$dir.log" 2>&1 &
    SPID=$!; CA=$dir/tls/ca.crt
  else
    {
      echo "version: 0.1"
      echo "log: {level: error, accesslog: {disabled: true}}"
      echo "storage: {filesystem: {rootdirectory: $dir/registry}, delete: {enabled: true}}"
      echo "http:"
      echo "  addr: 127.0.0.1:$port"
      [ "$scheme" = https ] && echo "  tls: {certificate: $SRC/cert.pem, key: $SRC/key.pem}"
    } >"$dir.yml"
    docker-registry serve "$dir.yml" >"$dir.log" 2>&1 &
    SPID=$!; CA=$SRC/cert.pem
  fi
  for i in $(seq 1 150); do
    kill -0 "$SPID" 2>/dev/null || { cat "$dir.log" >&2; die "$kind exited at start"; }
    if [ "$scheme" = http ] || [ -s "$CA" ]; then
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$CA" "$URL/v2/" 2>/dev/null)
      [ "$code" = 200 ] && return 0
    fi
    sleep 0.1
  done
  die "$kind not answering at $URL"
}
stop_server() {
  kill -TERM "$SPID" 2>/dev/null
  for _ in $(seq 1 300); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SPID" 2>/dev/null
  wait "$SPID" 2>/dev/null
  SPID=
}

C() { curl -sS --max-time 600 --cacert "$CA" "$@"; }
# location URL of a new upload session
new_upload() {
  C -X POST -D - -o /dev/null "$URL/v2/$1/blobs/uploads/" | tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }'
}
abs() { case $1 in http*) printf '%s' "$1" ;; *) printf '%s%s' "$URL" "$1" ;; esac; }
addq() { case $1 in *\?*) printf '%s&%s' "$1" "$2" ;; *) printf '%s?%s' "$1" "$2" ;; esac; }

# upload_mono REPO: prints seconds (the PUT carrying the whole blob), or "ERR"
upload_mono() {
  local loc out
  loc=$(abs "$(new_upload "$1")")
  out=$(C -X PUT -H 'Content-Type: application/octet-stream' -T "$SRC/mono" -o /dev/null \
    -w '%{http_code} %{time_total}' "$(addq "$loc" "digest=$MONO_DIG")") || { echo ERR; return; }
  [ "${out%% *}" = 201 ] && echo "${out#* }" || echo ERR
}
# upload_chunked REPO: prints the summed request seconds, or "ERR"
upload_chunked() {
  local loc f start=0 n end out total=0 hdrs
  loc=$(abs "$(new_upload "$1")")
  hdrs=$SRC/hdrs
  for f in "$SRC"/chunk.*; do
    n=$(stat -c %s "$f"); end=$((start + n - 1))
    out=$(C -X PATCH -H 'Content-Type: application/octet-stream' -H "Content-Range: $start-$end" \
      -T "$f" -D "$hdrs" -o /dev/null -w '%{http_code} %{time_total}' "$loc") || { echo ERR; return; }
    [ "${out%% *}" = 202 ] || { echo ERR; return; }
    total=$(awk -v a="$total" -v b="${out#* }" 'BEGIN { print a + b }')
    loc=$(abs "$(tr -d '\r' <"$hdrs" | awk 'tolower($1) == "location:" { print $2 }')")
    start=$((end + 1))
  done
  out=$(C -X PUT -o /dev/null -w '%{http_code} %{time_total}' "$(addq "$loc" "digest=$CHUNK_DIG")") || { echo ERR; return; }
  [ "${out%% *}" = 201 ] || { echo ERR; return; }
  awk -v a="$total" -v b="${out#* }" 'BEGIN { print a + b }'
}
download() { # REPO: seconds or ERR
  local out
  out=$(C -o /dev/null -w '%{http_code} %{time_total} %{size_download}' "$URL/v2/$1/blobs/$MONO_DIG") || { echo ERR; return; }
  set -- $out
  [ "$1" = 200 ] && [ "$3" = "$BYTES" ] && echo "$2" || echo ERR
}
manifest_rps() { # REPO: requests/s from wrk, or ERR
  local out rps
  C -X POST -H 'Content-Type: application/octet-stream' --data-binary "@$SRC/cfg" -o /dev/null \
    "$URL/v2/$1/blobs/uploads/?digest=$CFG_DIG" 2>/dev/null
  # a registry without single-POST uploads answers 202: finish with PUT
  if [ "$(C -o /dev/null -w '%{http_code}' --head "$URL/v2/$1/blobs/$CFG_DIG")" != 200 ]; then
    C -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$SRC/cfg" -o /dev/null \
      "$(addq "$(abs "$(new_upload "$1")")" "digest=$CFG_DIG")"
  fi
  [ "$(C -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "@$SRC/manifest" \
    -o /dev/null -w '%{http_code}' "$URL/v2/$1/manifests/bench")" = 201 ] || { echo ERR; return; }
  out=$(wrk -t2 -c"$CONNS" -d"${SECS}s" -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "$URL/v2/$1/manifests/bench" 2>&1)
  rps=$(printf '%s\n' "$out" | awk '$1 == "Requests/sec:" { printf "%.0f", $2 }')
  if grep -q 'Non-2xx' <<<"$out"; then rps="$rps(non-2xx!)"; fi
  echo "${rps:-ERR}"
}

ROWS=()
row() { ROWS+=("$(printf '%-6s %-13s %-6s %11s %11s %11s %11s %9s %9s' "$@")"); }
DDLINE=
for place in $PLACES; do
  case $place in
    tmpfs) base=/dev/shm ;;
    disk)  base=$BENCH_DIR ;;
    *) die "unknown place $place" ;;
  esac
  pdir=$(mktemp -d "$base/berth-bench.XXXXXX") || die "mktemp in $base"
  PLACE_DIRS+=("$pdir")
  if [ "$place" = disk ]; then
    t0=$(now)
    dd if=/dev/zero of="$pdir/x" bs=1M count=1024 conv=fsync status=none
    t1=$(now); rm -f "$pdir/x"
    ddsecs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
    DDLINE="disk $BENCH_DIR: dd bs=1M count=1024 conv=fsync: $(rate 1073741824 "$ddsecs") MiB/s"
  fi
  for kind in $SERVERS; do
    for scheme in http https; do
      echo "running $place $kind $scheme..." >&2
      d=$pdir/$kind-$scheme
      start_server "$kind" "$scheme" "$d"
      sleep 1
      idle=$(vm "$SPID" VmRSS)
      m=$(upload_mono bench/mono);    [ "$m" = ERR ] && mr=ERR || mr=$(rate "$BYTES" "$m")
      c=$(upload_chunked bench/chunk); [ "$c" = ERR ] && cr=ERR || cr=$(rate "$BYTES" "$c")
      g=$(download bench/mono);       [ "$g" = ERR ] && gr=ERR || gr=$(rate "$BYTES" "$g")
      r=$(manifest_rps bench/mono)
      peak=$(vm "$SPID" VmHWM)
      stop_server
      rm -rf "$d"
      row "$place" "$kind" "$scheme" "$mr" "$cr" "$gr" "$r" "$(kb_to_mb "${idle:-0}")" "$(kb_to_mb "${peak:-0}")"
    done
  done
done

echo
echo "blob ${MB} MiB; chunks ${CHUNK_MB} MiB; manifest GETs: wrk, $CONNS connections, ${SECS} s; $(nproc) CPUs"
printf '%-6s %-13s %-6s %11s %11s %11s %11s %9s %9s\n' place server scheme "mono MiB/s" "chunk MiB/s" "get MiB/s" "manif GET/s" "RSS idle" "RSS peak"
printf '%s\n' "${ROWS[@]}"
echo "(RSS in MB; distribution = Debian docker-registry $(docker-registry --version 2>/dev/null | awk '{print $3}'))"
[ -n "$DDLINE" ] && echo "$DDLINE"
exit 0
