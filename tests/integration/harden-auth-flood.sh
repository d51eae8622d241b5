#!/bin/bash
# Issue 9, item 11: a flood of fresh wrong passwords never stalls the event loop.
# berthd runs with one argon2 verifier (BERTH_ARGON2_CONCURRENCY=1), a queue of 4
# and 2 worker threads, while 64 connections from 64 addresses (127.0.0.10-73) send
# wrong passwords that each need a verification. Meanwhile, every 0.2 s, /healthz
# and a manifest GET with cached credentials must answer 200 within FLOOD_BOUND (1 s);
# the flood beyond the queue gets 429 + Retry-After; and SIGTERM during a flood
# still stops the server cleanly (every suspended request is resumed first). Then,
# with --max-requests 2, requests suspended while they wait for a verification hold
# no slot (a cached GET answers 200), and after requests that waited (registry, token
# endpoint GET and POST, refused by a full queue) every slot is free again.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/auth-lib.sh"
set -e

berth_require curl python3 sha256sum
berth_tmpdir
BOUND=${FLOOD_BOUND:-1}
export BERTH_ARGON2_MEMORY_KIB=16384 BERTH_ARGON2_PASSES=2   # ~20-50 ms per verification
export BERTH_ARGON2_CONCURRENCY=1 BERTH_ARGON2_QUEUE=4
auth_start --threads 2
FLOOD=$BERTH_IT_DIR/auth_flood.py

# one image in admin's namespace: an empty config and a manifest without layers
printf '{}' >"$TMP/config"
cdig=sha256:$(sha256sum "$TMP/config" | cut -d' ' -f1)
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},"layers":[]}' \
        "$cdig" >"$TMP/manifest"
expect 201 "push the config" -u "admin:$ADMIN_PW" -X POST --data-binary "@$TMP/config" \
        -H 'Content-Type: application/octet-stream' "$BERTH_URL/v2/admin/app/blobs/uploads/?digest=$cdig"
expect 201 "push the manifest" -u "admin:$ADMIN_PW" -X PUT --data-binary "@$TMP/manifest" \
        -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' "$BERTH_URL/v2/admin/app/manifests/v1"
MURL=$BERTH_URL/v2/admin/app/manifests/v1
expect 200 "admin's credentials (cached from now on)" -u "admin:$ADMIN_PW" "${MANIFEST_ACCEPT[@]}" "$MURL"
curl -s -o /dev/null --max-time 5 --interface 127.0.0.73 --cacert "$BERTH_CA" "$BERTH_URL/healthz" \
        || fail "cannot connect from 127.0.0.73 (loopback addresses other than 127.0.0.1)"

# probe WHAT CURL-ARGS...: one timed request; appends "status seconds" to $TMP/WHAT
probe() {
        local what=$1
        shift
        bcurl --max-time 10 -o /dev/null -w '%{http_code} %{time_total}\n' "$@" >>"$TMP/$what" 2>/dev/null \
                || echo "000 10" >>"$TMP/$what"
}
# judge WHAT: every probe 200 and within the bound
judge() {
        local what=$1 n bad max
        n=$(wc -l <"$TMP/$what")
        bad=$(awk -v b="$BOUND" '$1 != 200 || $2 + 0 > b + 0' "$TMP/$what" | wc -l)
        max=$(awk 'BEGIN { m = 0 } $2 + 0 > m { m = $2 + 0 } END { printf "%.3f", m }' "$TMP/$what")
        [ "$n" -ge 10 ] || fail "$what: only $n probes"
        [ "$bad" -eq 0 ] || { sort -k2 -n "$TMP/$what" | tail -n 5 >&2; fail "$what: $bad of $n probes failed or took more than ${BOUND}s (slowest ${max}s)"; }
        pass "$what: $n probes during the flood, all 200, slowest ${max}s (bound ${BOUND}s)"
}

# underway N: berthd has answered N more flood requests (401 or 429) than at the
# last `mark` (access lines of the log)
answered() { grep -cE ' /v2/ (401|429)' "$TMP/berthd.log" || true; }
mark() { MARK=$(answered); }
underway() { [ "$(answered)" -ge $((MARK + $1)) ]; }

step "64 connections from 64 addresses send wrong passwords for 8 s"
mark
python3 "$FLOOD" --port "$BERTH_PORT" --cacert "$BERTH_CA" --conns 64 --first 10 --seconds 8 \
        --pause 0.1 >"$TMP/flood.json" 2>"$TMP/flood.err" &
flood=$!
berth_track_pid "$flood"
berth_wait_for 10 underway 64 || fail "the flood got no 64 answers in 10 s"
: >"$TMP/healthz"
: >"$TMP/cached-get"
probes=()
for _ in $(seq 1 25); do
        probe healthz "$BERTH_URL/healthz" &
        probes+=($!)
        probe cached-get -u "admin:$ADMIN_PW" "${MANIFEST_ACCEPT[@]}" "$MURL" &
        probes+=($!)
        sleep 0.2
done
wait "$flood" || { cat "$TMP/flood.err" >&2; fail "the flood client failed"; }
for p in "${probes[@]}"; do wait "$p" || true; done
cat "$TMP/flood.json"
judge healthz
judge cached-get
python3 - "$TMP/flood.json" <<'EOF' || fail "the flood was not answered as it should be"
import json, sys
s = json.load(open(sys.argv[1]))
assert s.get("401", 0) > 0, "no wrong password was verified and refused (401): %s" % s
assert s["429_queue_full"] > 0, "no 429 for a full verification queue: %s" % s
assert s["429_retry_after"] == s.get("429", 0), "a 429 without Retry-After: %s" % s
assert s["errors"] == 0, "transport errors: %s" % s
EOF
pass "the flood: wrong passwords verified and refused (401), beyond the queue 429 + Retry-After"
stats=$(grep -c 'TOOMANYREQUESTS' "$TMP/berthd.log" || true)
[ "$stats" -gt 0 ] || fail "no 429 in the access log"

step "SIGTERM during a flood"
mark
python3 "$FLOOD" --port "$BERTH_PORT" --cacert "$BERTH_CA" --conns 64 --first 10 --seconds 6 \
        --pause 0.1 >"$TMP/flood2.json" 2>"$TMP/flood2.err" &
flood=$!
berth_track_pid "$flood"
berth_wait_for 10 underway 64 || fail "the flood got no 64 answers in 10 s"
berth_stop
grep -q 'suspended connections' "$TMP/berthd.log" && fail "libmicrohttpd complained about suspended connections"
pass "berthd stopped cleanly during the flood"
wait "$flood" || true

step "--max-requests 2: requests waiting for a verification hold no slot, and every slot comes back"
# slower verifications (one verifier, a queue of 4): 4 wrong passwords wait a while
# (never refused: at most 4 are queued even before the verifier takes the first)
export BERTH_ARGON2_MEMORY_KIB=65536 BERTH_ARGON2_PASSES=3
auth_start --threads 2 --max-requests 2
MURL=$BERTH_URL/v2/admin/app/manifests/v1
expect 200 "admin's credentials (cached from now on)" -u "admin:$ADMIN_PW" "${MANIFEST_ACCEPT[@]}" "$MURL"
# wrong ADDR NAME [CURL ARGS...]: fresh wrong credentials from ADDR; the status in $TMP/wrong.ADDR
wrong() {
        local addr=$1 name=$2
        shift 2
        code --max-time 60 --interface "$addr" -u "$name:wrong-$RANDOM$RANDOM" "$@" >"$TMP/wrong.$addr"
}
rounds=0 conclusive=0
while [ $rounds -lt 5 ] && [ $conclusive -eq 0 ]; do
        rounds=$((rounds + 1))
        waiting=()
        for i in 10 11 12 13; do
                wrong "127.0.0.$i" "nobody$rounds-$i" "$BERTH_URL/v2/" &
                waiting+=($!)
        done
        sleep 0.3
        got=$(code -u "admin:$ADMIN_PW" "${MANIFEST_ACCEPT[@]}" "$MURL")
        left=0
        for p in "${waiting[@]}"; do kill -0 "$p" 2>/dev/null && left=$((left + 1)); done
        [ "$got" = 200 ] || fail "a cached GET while $left requests wait for a verification (--max-requests 2): HTTP $got, want 200"
        [ $left -ge 2 ] && conclusive=1
        for p in "${waiting[@]}"; do wait "$p" || true; done
        for i in 10 11 12 13; do
                [ "$(cat "$TMP/wrong.127.0.0.$i")" = 401 ] || fail "a wrong password from 127.0.0.$i: HTTP $(cat "$TMP/wrong.127.0.0.$i"), want 401"
        done
done
[ $conclusive -eq 1 ] || fail "the verifications were too quick: never 2 requests waiting during the cached GET"
pass "a cached GET answered 200 while $left requests waited for a verification (--max-requests 2)"
# a full queue: 8 at once, 5 wait (one verifying, 4 queued), the rest get 429 at once
waiting=()
for i in 20 21 22 23 24 25 26 27; do
        wrong "127.0.0.$i" "nobody-q$i" "$BERTH_URL/v2/" &
        waiting+=($!)
done
for p in "${waiting[@]}"; do wait "$p" || true; done
busy=0
for i in 20 21 22 23 24 25 26 27; do
        case $(cat "$TMP/wrong.127.0.0.$i") in
        401) ;;
        429) busy=$((busy + 1)) ;;
        *) fail "a wrong password from 127.0.0.$i: HTTP $(cat "$TMP/wrong.127.0.0.$i"), want 401 or 429" ;;
        esac
done
[ $busy -gt 0 ] || fail "8 wrong passwords at once: none refused by the full queue (a queue of 4)"
pass "8 wrong passwords at once: $busy refused at once (429), the others verified (401)"
# the token endpoint waits too: GET with Basic (suspended in begin), the POST form (in end)
waiting=()
for i in 30 31; do
        wrong "127.0.0.$i" "nobody-t$i" "$BERTH_URL/auth/token?service=berth" &
        waiting+=($!)
done
for i in 32 33; do
        code --max-time 60 --interface "127.0.0.$i" --data-urlencode grant_type=password \
                --data-urlencode "username=nobody-p$i" --data-urlencode "password=wrong-$RANDOM" \
                "$BERTH_URL/auth/token" >"$TMP/wrong.127.0.0.$i" &
        waiting+=($!)
done
for p in "${waiting[@]}"; do wait "$p" || true; done
for i in 30 31 32 33; do
        [ "$(cat "$TMP/wrong.127.0.0.$i")" = 401 ] ||
                fail "a wrong password at the token endpoint from 127.0.0.$i: HTTP $(cat "$TMP/wrong.127.0.0.$i"), want 401"
done
pass "4 wrong passwords at the token endpoint (GET and POST) verified and refused: 401"
# afterwards no slot may stay taken
for i in 1 2 3 4 5; do
        expect 200 "cached GET $i after the verifications ended (no slot left taken)" \
                -u "admin:$ADMIN_PW" "${MANIFEST_ACCEPT[@]}" "$MURL"
done
berth_stop
auth_done
