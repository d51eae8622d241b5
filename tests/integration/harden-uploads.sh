#!/usr/bin/env bash
# A PATCH whose body is still arriving holds its upload session; nothing else may
# wait for it (issue 9, item 1). With a slow PATCH open, 20 concurrent requests on
# the same session answer at once (GET 204 from the committed state, PATCH/PUT 416
# BLOB_UPLOAD_INVALID with the committed Range, DELETE 429 with Retry-After);
# /healthz and a push into another repository keep answering within a second; the
# slow PATCH then completes and its blob commits byte for byte. SIGTERM with a slow
# PATCH still open ends berthd within the grace period, with status 0.
# berthd runs with 4 worker threads: before the fix, the waiting requests parked
# every one of them.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$(dirname "$0")/lib.sh"
berth_require curl jq python3 sha256sum cmp awk
berth_tmpdir
THREADS=4
GRACE=3
berth_start --threads "$THREADS" --grace "$GRACE"

OCT='Content-Type: application/octet-stream'
sha256_of() { printf 'sha256:%s' "$(sha256sum "$1" | cut -d' ' -f1)"; }
# hdr FILE NAME: the value of header NAME in a dumped header FILE
hdr() {
        tr -d '\r' <"$1" | awk -v n="$2" 'BEGIN { n = tolower(n) }
                { i = index($0, ":"); if (i && tolower(substr($0, 1, i - 1)) == n) { v = substr($0, i + 1); sub(/^[ \t]+/, "", v); last = v } }
                END { if (last != "") print last }'
}
# ms_since START_NS: milliseconds elapsed
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# A client that sends a PATCH's headers and the first part of its body, then holds
# the connection until a line can be read from a fifo, sends the rest and prints
# the answer's status line and headers.
cat >"$TMP/slow_patch.py" <<'EOF'
import socket, ssl, sys
host, port, path, ca, data_file, first, fifo, marker = sys.argv[1:9]
data = open(data_file, "rb").read()
first = int(first)
ctx = ssl.create_default_context(cafile=ca)
raw = socket.create_connection((host, int(port)), timeout=60)
s = ctx.wrap_socket(raw, server_hostname=host)
head = ("PATCH %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/octet-stream\r\n"
        "Content-Length: %d\r\n\r\n" % (path, host, port, len(data))).encode()
s.sendall(head + data[:first])
open(marker, "w").close()
with open(fifo) as f:   # blocks until the test says go
        f.read()
s.sendall(data[first:])
buf = b""
while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
                break
        buf += chunk
sys.stdout.write(buf.split(b"\r\n\r\n")[0].decode("latin-1") + "\r\n")
EOF

# slow_patch LOCATION DATAFILE FIRST-BYTES: start the slow PATCH in the background
# (SLOW_PID), return once its first bytes are sent and berthd has written them to
# the session file (FIRST-BYTES: more than the 512 KiB it gathers before writing).
slow_patch() {
        local file=$BERTH_DATA/uploads/${1##*/} before
        before=$(wc -c <"$file" 2>/dev/null) || before=0
        rm -f "$TMP/go" "$TMP/sent" "$TMP/slow.out"
        mkfifo "$TMP/go"
        python3 "$TMP/slow_patch.py" 127.0.0.1 "$BERTH_PORT" "$1" "$BERTH_CA" "$2" "$3" \
                "$TMP/go" "$TMP/sent" >"$TMP/slow.out" 2>"$TMP/slow.err" &
        SLOW_PID=$!
        berth_track_pid "$SLOW_PID"
        for _ in $(seq 1 100); do
                [ -e "$TMP/sent" ] && break
                sleep 0.05
        done
        [ -e "$TMP/sent" ] || fail "the slow PATCH did not get its first bytes out: $(cat "$TMP/slow.err")"
        grew() { [ "$(wc -c <"$file" 2>/dev/null || echo 0)" -gt "$before" ]; }
        berth_wait_for 10 grew || fail "berthd did not write the slow PATCH's first bytes in 10 s"
}

# new_session REPO: a session's Location
new_session() {
        local loc
        loc=$(bcurl -D - -o /dev/null -X POST "$BERTH_URL/v2/$1/blobs/uploads/" |
                tr -d '\r' | awk -F': ' 'tolower($1) == "location" { print $2 }')
        [ -n "$loc" ] || fail "no upload Location for $1"
        echo "$loc"
}

# push REPO: a blob (monolithic POST) and a manifest naming it; fails unless every
# step answers correctly within a second
push() {
        local repo=$1 t0 code cfg dc dl m
        cfg=$TMP/push-cfg
        printf '{"architecture":"amd64","os":"linux","n":"%s"}' "$RANDOM$RANDOM" >"$cfg"
        head -c 4096 /dev/urandom >"$TMP/push-layer"
        dc=$(sha256_of "$cfg")
        dl=$(sha256_of "$TMP/push-layer")
        for f in "$cfg:$dc" "$TMP/push-layer:$dl"; do
                t0=$(date +%s%N)
                code=$(bcurl --max-time 1 -o /dev/null -w '%{http_code}' -X POST -H "$OCT" \
                        --data-binary "@${f%%:*}" "$BERTH_URL/v2/$repo/blobs/uploads/?digest=${f#*:}") || code=000
                [ "$code" = 201 ] || fail "push to $repo: blob POST answered $code after $(ms_since "$t0") ms"
        done
        m=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":4096}]}' \
                "$dc" "$(wc -c <"$cfg")" "$dl")
        t0=$(date +%s%N)
        code=$(bcurl --max-time 1 -o /dev/null -w '%{http_code}' -X PUT \
                -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "$m" \
                "$BERTH_URL/v2/$repo/manifests/v1") || code=000
        [ "$code" = 201 ] || fail "push to $repo: manifest PUT answered $code after $(ms_since "$t0") ms"
}

# ---------------------------------------------------------------------------
step "a session with 1000 committed bytes, then a slow PATCH of 1 MiB (600 KiB sent)"
R=harden/slow
head -c 1000 /dev/urandom >"$TMP/part1"
head -c 1048576 /dev/urandom >"$TMP/part2"
cat "$TMP/part1" "$TMP/part2" >"$TMP/whole"
LOC=$(new_session "$R")
UUID=${LOC##*/}
code=$(bcurl -o /dev/null -w '%{http_code}' -X PATCH -H "$OCT" --data-binary "@$TMP/part1" "$BERTH_URL$LOC")
[ "$code" = 202 ] || fail "first PATCH answered $code"
# more than the server gathers before writing (512 KiB): bytes reach the file
slow_patch "$LOC" "$TMP/part2" 614400
kill -0 "$SLOW_PID" 2>/dev/null || fail "the slow PATCH ended early: $(cat "$TMP/slow.out" "$TMP/slow.err")"
# (so the answers below must come from the committed state, not from the file)
[ "$(wc -c <"$BERTH_DATA/uploads/$UUID")" -gt 1000 ] || fail "the slow PATCH's bytes did not reach the session file"

step "20 concurrent requests on the held session; /healthz and a push meanwhile"
DIG=$(sha256_of "$TMP/whole")
mkdir -p "$TMP/c"
pids=()
for i in $(seq 1 20); do
        case $((i % 4)) in
        0) args=() ;;
        1) args=(-X PATCH -H "$OCT" --data-binary xyz) ;;
        2) args=(-X PUT -H "$OCT" --data-binary xyz "$BERTH_URL$LOC?digest=$DIG") ;;
        3) args=(-X DELETE) ;;
        esac
        [ $((i % 4)) = 2 ] || args+=("$BERTH_URL$LOC")
        bcurl --max-time 5 -D "$TMP/c/$i.h" -o "$TMP/c/$i.b" -w '%{http_code} %{time_total}' \
                "${args[@]}" >"$TMP/c/$i.w" 2>/dev/null &
        pids+=($!)
done
# /healthz once every 200 ms, each must answer 200 within a second
(
        for i in $(seq 1 10); do
                code=$(bcurl --max-time 1 -o /dev/null -w '%{http_code} %{time_total}' "$BERTH_URL/healthz") || true
                echo "${code:-000}"
                sleep 0.2
        done
) >"$TMP/health" &
hpid=$!
berth_wait_for 5 test -s "$TMP/health" || fail "the health prober did not start"
t0=$(date +%s%N)
( push harden/other ) >"$TMP/push.out" 2>&1 &
push_pid=$!
wait "$hpid"
for p in "${pids[@]}"; do wait "$p"; done
bad=$(awk '$1 != 200 || $2 >= 1.0' "$TMP/health")
[ -z "$bad" ] || fail "/healthz did not answer 200 within 1 s while the session was held: $(tr '\n' ';' <"$TMP/health")"
pass "/healthz answered every probe within 1 s (slowest $(sort -k2 -n "$TMP/health" | tail -n 1 | cut -d' ' -f2) s)"
wait "$push_pid" || fail "$(cat "$TMP/push.out")"
pass "an unrelated push answered meanwhile (every step within 1 s)"

want_range="0-999"
slowest=0
for i in $(seq 1 20); do
        read -r code secs <<<"$(cat "$TMP/c/$i.w")"
        [ -n "${secs:-}" ] || { code=000; secs=5; }
        case $((i % 4)) in
        0) what=GET want=204 ;;
        1) what=PATCH want=416 ;;
        2) what=PUT want=416 ;;
        3) what=DELETE want=429 ;;
        esac
        [ "$code" = "$want" ] || fail "$what #$i on the held session answered $code (want $want) after $secs s: $(head -c 300 "$TMP/c/$i.b")"
        awk -v s="$secs" 'BEGIN { exit !(s < 1.0) }' || fail "$what #$i took $secs s"
        awk -v s="$secs" -v m="$slowest" 'BEGIN { exit !(s > m) }' && slowest=$secs
        case $what in
        GET)
                [ "$(hdr "$TMP/c/$i.h" Range)" = "$want_range" ] ||
                        fail "GET #$i: Range '$(hdr "$TMP/c/$i.h" Range)', want the committed $want_range"
                [ "$(hdr "$TMP/c/$i.h" Location)" = "$LOC" ] || fail "GET #$i: Location '$(hdr "$TMP/c/$i.h" Location)'"
                [ "$(hdr "$TMP/c/$i.h" Docker-Upload-UUID)" = "$UUID" ] || fail "GET #$i: no Docker-Upload-UUID"
                ;;
        PATCH | PUT)
                jq -e '.errors[0].code == "BLOB_UPLOAD_INVALID"' "$TMP/c/$i.b" >/dev/null ||
                        fail "$what #$i: not BLOB_UPLOAD_INVALID: $(head -c 300 "$TMP/c/$i.b")"
                [ "$(hdr "$TMP/c/$i.h" Range)" = "$want_range" ] ||
                        fail "$what #$i: Range '$(hdr "$TMP/c/$i.h" Range)', want the committed $want_range"
                ;;
        DELETE)
                jq -e '.errors[0].code == "TOOMANYREQUESTS"' "$TMP/c/$i.b" >/dev/null ||
                        fail "DELETE #$i: not TOOMANYREQUESTS: $(head -c 300 "$TMP/c/$i.b")"
                [ "$(hdr "$TMP/c/$i.h" Retry-After)" = 1 ] || fail "DELETE #$i: no Retry-After: 1"
                ;;
        esac
done
pass "20 requests on the held session: GET 204 Range $want_range, PATCH/PUT 416 BLOB_UPLOAD_INVALID, DELETE 429 (slowest $slowest s)"

step "the rest of the slow PATCH arrives"
kill -0 "$SLOW_PID" 2>/dev/null || fail "the slow PATCH connection is gone: $(cat "$TMP/slow.out" "$TMP/slow.err")"
echo go >"$TMP/go"
for _ in $(seq 1 100); do
        kill -0 "$SLOW_PID" 2>/dev/null || break
        sleep 0.05
done
kill -0 "$SLOW_PID" 2>/dev/null && fail "no answer to the slow PATCH within 5 s of its last byte"
wait "$SLOW_PID" || fail "slow PATCH client: $(cat "$TMP/slow.err")"
head -n 1 "$TMP/slow.out" | grep -q '^HTTP/1.1 202' || fail "slow PATCH answered: $(head -n 1 "$TMP/slow.out")"
full="0-$(( $(wc -c <"$TMP/whole") - 1 ))"
[ "$(hdr "$TMP/slow.out" Range)" = "$full" ] || fail "slow PATCH: Range '$(hdr "$TMP/slow.out" Range)', want $full"
h=$TMP/st.h
code=$(bcurl --max-time 2 -D "$h" -o /dev/null -w '%{http_code}' "$BERTH_URL$LOC")
[ "$code" = 204 ] && [ "$(hdr "$h" Range)" = "$full" ] || fail "status after the slow PATCH: $code Range '$(hdr "$h" Range)', want 204 $full"
code=$(bcurl --max-time 5 -o /dev/null -w '%{http_code}' -X PUT -H "$OCT" "$BERTH_URL$LOC?digest=$DIG")
[ "$code" = 201 ] || fail "PUT ?digest= answered $code"
bcurl --max-time 5 -o "$TMP/got" "$BERTH_URL/v2/$R/blobs/$DIG" || fail "blob GET"
cmp -s "$TMP/got" "$TMP/whole" || fail "the committed blob differs from the bytes sent"
pass "the slow PATCH completed (202, Range $full); PUT committed it; the blob reads back byte for byte"

step "a fresh session is still usable after the refusals"
LOC2=$(new_session "$R")
code=$(bcurl --max-time 5 -o /dev/null -w '%{http_code}' -X PATCH -H "$OCT" --data-binary xyz "$BERTH_URL$LOC2")
[ "$code" = 202 ] || fail "PATCH on an idle session answered $code"
code=$(bcurl --max-time 5 -o /dev/null -w '%{http_code}' -X DELETE "$BERTH_URL$LOC2")
[ "$code" = 204 ] || fail "DELETE on an idle session answered $code"
pass "an idle session takes a PATCH and a DELETE"
berth_stop

# ---------------------------------------------------------------------------
step "SIGTERM with a slow PATCH open (and requests on its session) ends within --grace $GRACE"
berth_start --threads "$THREADS" --grace "$GRACE"
LOC=$(new_session harden/term)
slow_patch "$LOC" "$TMP/part2" 614400
pids=()
for i in $(seq 1 8); do
        bcurl --max-time 2 -o /dev/null "$BERTH_URL$LOC" >/dev/null 2>&1 &
        pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
kill -0 "$SLOW_PID" 2>/dev/null || fail "the slow PATCH ended early"
t0=$(date +%s%N)
kill -TERM "$BERTH_PID"
limit=$(( (GRACE + 2) * 10 ))
for _ in $(seq 1 "$limit"); do
        kill -0 "$BERTH_PID" 2>/dev/null || break
        sleep 0.1
done
took=$(ms_since "$t0")
if kill -0 "$BERTH_PID" 2>/dev/null; then
        kill -KILL "$BERTH_PID"
        wait "$BERTH_PID" 2>/dev/null
        BERTH_PID=
        fail "berthd still running $took ms after SIGTERM (--grace $GRACE)"
fi
rc=0
wait "$BERTH_PID" || rc=$?
BERTH_PID=
[ "$rc" = 0 ] || fail "berthd exited with status $rc after SIGTERM"
[ "$took" -le $(( GRACE * 1000 + 1000 )) ] || fail "berthd took $took ms to exit after SIGTERM (--grace $GRACE)"
pass "berthd exited with status 0, $took ms after SIGTERM (--grace $GRACE)"
