#!/usr/bin/env bash
# tests/bench/s3-bench.sh: upload and download of one random blob of MIB MiB (default
# 256) through berthd on the filesystem driver, through berthd on the S3 driver (bytes
# through berthd, and the download with --s3-redirect), and against the object store
# alone (curl --aws-sigv4 PUT/GET of the same bytes), in the same run, ROUNDS times
# each (median). berthd serves plain HTTP on loopback (no TLS cost on either side).
# Uploads are one monolithic PUT (POST, then PUT ?digest= with the body), streamed from
# the file by curl -T (--data-binary reads a file into memory, and refuses 1 GiB).
#
# The CPU time (user + system) each side spends is measured too, from /proc: berthd's
# per push and pull on S3, and the gateway's (its monitor, OSD and RGW, found by the
# pid files of BERTH_TEST_S3_DIR) per push and pull through berthd and alone. On a
# machine where the three share few CPUs, their sum over the CPUs bounds the time.
#
# Usage (from a build directory): tests/bench/s3-bench.sh [MIB] [ROUNDS]
# (`make bench-s3 BENCH_MB=1024 BENCH_ROUNDS=3`); the machine's load average is printed
# before and after (figures from a loaded machine say little).
# The object store: BERTH_TEST_S3_* of a running gateway (tests/ceph-rgw.sh env DIR), or
# a gateway of its own started for the run (tests/ceph-rgw.sh run). `make bench-s3`.
set -euo pipefail
MIB=${1:-256}
ROUNDS=${2:-3}
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${BERTH_TEST_S3_ENDPOINT:-}" ]; then
        exec bash "$here/../ceph-rgw.sh" run -- bash "$0" "$@"
fi
. "$here/../free-port.sh"
: "${top_builddir:=$PWD}"
BERTHD=${BERTHD:-$top_builddir/berthd} # another berthd to compare with: BERTHD=...
[ -x "$BERTHD" ] || { echo "s3-bench: $BERTHD not built" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/berth-s3-bench.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$TMP"; }
trap cleanup EXIT
export AWS_ACCESS_KEY_ID=$BERTH_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$BERTH_TEST_S3_SECRET_KEY
EP=$BERTH_TEST_S3_ENDPOINT
BUCKET=bench-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
s3() {
        local m=$1 p=$2
        shift 2
        curl -sS --fail --max-time 600 --aws-sigv4 "aws:amz:$BERTH_TEST_S3_REGION:s3" \
                --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
                -X "$m" "$@" "$EP$p"
}
s3 PUT "/$BUCKET" -o /dev/null

head -c $((MIB << 20)) /dev/urandom >"$TMP/blob"
HEX=$(sha256sum "$TMP/blob" | cut -d' ' -f1)
D=sha256:$HEX

start() { # NAME ARGS...: a berthd on a free port; sets PORT
        local name=$1 i
        shift
        PORT=$(berth_free_port)
        "$BERTHD" serve --listen "127.0.0.1:$PORT" --data "$TMP/$name" --auth none --insecure-http \
                --metrics-listen '' --gc-interval 0 --retention-interval 0 "$@" >>"$TMP/$name.log" 2>&1 &
        pids+=($!)
        for i in $(seq 100); do
                curl -s -o /dev/null "http://127.0.0.1:$PORT/readyz" && return 0
                sleep 0.1
        done
        echo "s3-bench: $name did not start" >&2
        cat "$TMP/$name.log" >&2
        exit 1
}
TICK=$(getconf CLK_TCK)
gw_pids=()
for f in "${BERTH_TEST_S3_DIR:-/nonexistent}"/run/*.pid; do
        [ -f "$f" ] && gw_pids+=("$(cut -d' ' -f1 "$f")")
done
cpu() { # PID...: their CPU ticks so far (user + system; 0 for one that is gone)
        local p t=0 f
        for p in "$@"; do
                f=$(cut -d')' -f2 "/proc/$p/stat" 2>/dev/null) || continue
                set -- $f
                t=$((t + ${12} + ${13}))
        done
        echo "$t"
}
took() { python3 -c "import sys; print('%.2f' % ((int(sys.argv[2]) - int(sys.argv[1])) / int(sys.argv[3])))" "$1" "$2" "$TICK"; }
secs() { python3 -c "import sys; print('%.3f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$2"; }
push() { # PORT REPO: seconds of POST + PUT of the blob
        local t0 loc code
        t0=$EPOCHREALTIME
        loc=$(curl -sS -D - -o /dev/null -X POST "http://127.0.0.1:$1/v2/$2/blobs/uploads/" | tr -d '\r' |
                awk 'tolower($1) == "location:" { print $2 }')
        code=$(curl -sS -o "$TMP/push.out" -w '%{http_code}' -X PUT -H 'Content-Type: application/octet-stream' \
                -T "$TMP/blob" "http://127.0.0.1:$1$loc?digest=$D") || true
        [ "$code" = 201 ] || { echo "push to $2 failed: HTTP $code $(head -c 300 "$TMP/push.out")" >&2; tail -n 5 "$TMP"/*.log >&2; exit 1; }
        secs "$t0" "$EPOCHREALTIME"
}
pull() { # PORT REPO [CURL ARGS]: seconds of the GET (following redirects), bytes checked
        local port=$1 repo=$2 t0 t
        shift 2
        t0=$EPOCHREALTIME
        curl -sS --fail -o "$TMP/got" "$@" "http://127.0.0.1:$port/v2/$repo/blobs/$D"
        t=$(secs "$t0" "$EPOCHREALTIME")
        cmp -s "$TMP/got" "$TMP/blob" || { echo "pulled bytes differ" >&2; exit 1; }
        rm -f "$TMP/got"
        echo "$t"
}
del_object() { s3 DELETE "/$BUCKET/$1" -o /dev/null; }

start file
PFILE=$PORT
start s3 --storage "s3://$BUCKET/reg?endpoint=$EP&region=$BERTH_TEST_S3_REGION"
PS3=$PORT
S3PID=${pids[-1]}
start s3r --storage "s3://$BUCKET/reg?endpoint=$EP&region=$BERTH_TEST_S3_REGION" --s3-redirect
PS3R=$PORT

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
rows=()
for r in $(seq "$ROUNDS"); do
        # each round pushes to a new repository after removing the stored copy, so that
        # every push writes the bytes (a stored digest is not written twice)
        rm -rf "$TMP/file/blobs/sha256/${HEX:0:2}"
        fp=$(push "$PFILE" "b/file$r")
        fg=$(pull "$PFILE" "b/file$r")
        del_object "reg/blobs/sha256/$HEX"
        b0=$(cpu "$S3PID") g0=$(cpu "${gw_pids[@]}")
        sp=$(push "$PS3" "b/s3$r")
        b1=$(cpu "$S3PID") g1=$(cpu "${gw_pids[@]}")
        sg=$(pull "$PS3" "b/s3$r")
        b2=$(cpu "$S3PID") g2=$(cpu "${gw_pids[@]}")
        push "$PS3R" "b/s3$r" >/dev/null # its own metadata; the object is there already
        rg=$(pull "$PS3R" "b/s3$r" -L)
        t0=$EPOCHREALTIME g3=$(cpu "${gw_pids[@]}")
        s3 PUT "/$BUCKET/alone/$r" -T "$TMP/blob" -o /dev/null
        ap=$(secs "$t0" "$EPOCHREALTIME")
        t0=$EPOCHREALTIME g4=$(cpu "${gw_pids[@]}")
        s3 GET "/$BUCKET/alone/$r" -o "$TMP/got"
        ag=$(secs "$t0" "$EPOCHREALTIME")
        g5=$(cpu "${gw_pids[@]}")
        cpus="$(took "$b0" "$b1") $(took "$g0" "$g1") $(took "$b1" "$b2") $(took "$g1" "$g2") $(took "$g3" "$g4") $(took "$g4" "$g5")"
        cmp -s "$TMP/got" "$TMP/blob" || { echo "the gateway returned other bytes" >&2; exit 1; }
        rm -f "$TMP/got"
        del_object "alone/$r"
        echo "round $r: file push $fp s pull $fg s | s3 push $sp s pull $sg s redirect-pull $rg s | rgw alone PUT $ap s GET $ag s"
        echo "  CPU s: s3 push berthd/gateway ${cpus% * * * *} | s3 pull $(cut -d' ' -f3,4 <<<"$cpus") | alone PUT/GET gateway ${cpus#* * * * }"
        rows+=("$fp $fg $sp $sg $rg $ap $ag $cpus")
done
printf '%s\n' "${rows[@]}" | python3 -c '
import statistics, sys
mib = float(sys.argv[1])
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
names = ["file push", "file pull", "s3 push (through berthd)", "s3 pull (through berthd)",
         "s3 pull (--s3-redirect)", "RGW alone PUT", "RGW alone GET"]
med = [statistics.median(r[i] for r in rows) for i in range(len(names))]
print("median of %d rounds, %d MiB blob:" % (len(rows), mib))
for n, m in zip(names, med):
    print("  %-26s %7.3f s  %7.1f MiB/s" % (n, m, mib / m))
print("  berthd/RGW alone: push %.0f%%, pull %.0f%%, redirect pull %.0f%%" %
      (100 * med[5] / med[2], 100 * med[6] / med[3], 100 * med[6] / med[4]))
if rows and len(rows[0]) > len(names):
    c = [statistics.median(r[len(names) + i] for r in rows) for i in range(6)]
    print("CPU seconds (user + system), medians:")
    print("  push through berthd: berthd %.2f, gateway %.2f;  gateway alone PUT %.2f" % (c[0], c[1], c[4]))
    print("  pull through berthd: berthd %.2f, gateway %.2f;  gateway alone GET %.2f" % (c[2], c[3], c[5]))' "$MIB"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
