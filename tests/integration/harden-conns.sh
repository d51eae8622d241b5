#!/usr/bin/env bash
# Connection exhaustion (issue 9, item 2): idle and slow-header floods from one address
# leave berthd serving everyone else; the per-address limit; probes and the token
# endpoint are never shed, and requests waiting for a body are not load; behind a
# trusted proxy, X-Forwarded-For names the client for throttling, logs and audit.
#
#  1. from 127.0.0.1: 1,000 idle TCP connections, 100 that drip a TLS ClientHello and
#     100 that complete TLS and drip a request head (a byte every 2 s), reopened as the
#     server closes them; meanwhile from 127.0.0.2 /healthz answers each second within
#     2 s and an image is pushed and pulled through the API. No flood connection lives
#     past the header timeout, and 127.0.0.1 never holds more than --max-conns-per-ip.
#  2. --max-conns-per-ip 10: the 11th connection from 127.0.0.1 is closed while
#     127.0.0.2 is served; a trusted proxy (127.0.0.3) is not limited. X-Forwarded-For
#     from the proxy: throttling (per address and name), the access log and the audit use
#     the forwarded address;
#     from anyone else (or malformed) it is ignored.
#  3. --max-requests 2: slow uploads (waiting for their bodies) are not in flight; slow
#     downloads are, and then /v2/ gets 429 while /healthz, /readyz, /livez and
#     /auth/token still answer.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/auth-lib.sh"
berth_require curl jq python3 timeout
export BERTH_ARGON2_MEMORY_KIB=${BERTH_ARGON2_MEMORY_KIB:-4096}   # fast hashes
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
berth_tmpdir
FLOOD=$BERTH_IT_DIR/conn_flood.py
HEADER_TIMEOUT=4

# c2 ARGS...: curl from 127.0.0.2 as admin, each request within 5 s
c2() { bcurl --interface 127.0.0.2 --max-time 5 -u "admin:$ADMIN_PW" "$@"; }
sha() { printf 'sha256:%s' "$(sha256sum "$1" | cut -d' ' -f1)"; }
fd_count() { ls "/proc/$BERTH_PID/fd" 2>/dev/null | wc -l; }
rss_kib() { ps -o rss= -p "$BERTH_PID" 2>/dev/null | tr -d ' '; }
location() { tr -d '\r' | awk -F': ' 'tolower($1) == "location" { print $2 }'; }

# push_pull TAG: an image (config + 2 layers, one of them in chunks) pushed and pulled
# back from 127.0.0.2; prints "ok" or what failed
push_pull() {
        local d=$TMP/img-$1 loc code f
        mkdir -p "$d"
        head -c 300000 /dev/urandom >"$d/l1"
        head -c 200000 /dev/urandom >"$d/l2"
        printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"tag":"%s"}' "$1" >"$d/cfg"
        for f in cfg l1; do
                code=$(c2 -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/octet-stream' \
                        --data-binary "@$d/$f" "$BERTH_URL/v2/flood/app/blobs/uploads/?digest=$(sha "$d/$f")") || true
                [ "$code" = 201 ] || { echo "monolithic push of $f: HTTP $code"; return; }
        done
        loc=$(c2 -D - -o /dev/null -X POST "$BERTH_URL/v2/flood/app/blobs/uploads/" | location)
        [ -n "$loc" ] || { echo "no upload session"; return; }
        head -c 100000 "$d/l2" >"$d/l2a"
        tail -c 100000 "$d/l2" >"$d/l2b"
        loc=$(c2 -D - -o /dev/null -X PATCH -H 'Content-Type: application/octet-stream' \
                -H 'Content-Range: 0-99999' --data-binary "@$d/l2a" "$BERTH_URL$loc" | location)
        [ -n "$loc" ] || { echo "PATCH: no Location"; return; }
        case $loc in *\?*) loc="$loc&" ;; *) loc="$loc?" ;; esac
        code=$(c2 -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/octet-stream' \
                -H 'Content-Range: 100000-199999' --data-binary "@$d/l2b" "$BERTH_URL${loc}digest=$(sha "$d/l2")") || true
        [ "$code" = 201 ] || { echo "PUT of the last chunk: HTTP $code"; return; }
        printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s},{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
                "$(sha "$d/cfg")" "$(wc -c <"$d/cfg")" "$(sha "$d/l1")" "$(wc -c <"$d/l1")" \
                "$(sha "$d/l2")" "$(wc -c <"$d/l2")" >"$d/manifest"
        code=$(c2 -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
                --data-binary "@$d/manifest" "$BERTH_URL/v2/flood/app/manifests/$1") || true
        [ "$code" = 201 ] || { echo "manifest PUT: HTTP $code"; return; }
        c2 -o "$d/got-manifest" -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
                "$BERTH_URL/v2/flood/app/manifests/$1" || { echo "manifest GET failed"; return; }
        cmp -s "$d/manifest" "$d/got-manifest" || { echo "pulled manifest differs"; return; }
        for f in cfg l1 l2; do
                c2 -L -o "$d/got-$f" "$BERTH_URL/v2/flood/app/blobs/$(sha "$d/$f")" || { echo "GET blob $f failed"; return; }
                cmp -s "$d/$f" "$d/got-$f" || { echo "pulled blob $f differs"; return; }
        done
        echo ok
}

# ---------------------------------------------------------------------------------
step "1. a flood from 127.0.0.1 (1,000 idle, 100 slow TLS handshakes, 100 slow heads)"
auth_start --header-timeout "$HEADER_TIMEOUT"
fds_before=$(fd_count)
timeout 40 python3 "$FLOOD" flood --port "$BERTH_PORT" --src 127.0.0.1 --idle 1000 --hello 100 \
        --header 100 --interval 2 --duration 16 --reconnect 200 --out "$TMP/flood1.json" \
        --ready "$TMP/flood1.ready" >"$TMP/flood1.out" 2>&1 &
flood_pid=$!
berth_track_pid "$flood_pid"
berth_wait_for 10 test -s "$TMP/flood1.ready" ||
        soft_fail "the flood's first wave was not open within 10 s: $(tail -n 3 "$TMP/flood1.out")"
( push_pull v1 >"$TMP/pushpull1" 2>&1 ) &
pp_pid=$!
berth_track_pid "$pp_pid"
probe_fail=0 probes=0 slowest=0 max_fds=0 max_rss=0
for i in $(seq 1 12); do
        t0=$(date +%s%N)
        r=$(curl -sS --interface 127.0.0.2 --cacert "$BERTH_CA" --max-time 2 -o /dev/null \
                -w '%{http_code} %{time_total}' "$BERTH_URL/healthz" 2>/dev/null) || r="000 2"
        probes=$((probes + 1))
        set -- $r
        [ "$1" = 200 ] || { probe_fail=$((probe_fail + 1)); echo "probe $i: HTTP $1 after $2 s" >&2; }
        slowest=$(awk -v a="$slowest" -v b="$2" 'BEGIN { print (b > a) ? b : a }')
        n=$(fd_count); [ "$n" -gt "$max_fds" ] && max_fds=$n
        n=$(rss_kib); [ -n "$n" ] && [ "$n" -gt "$max_rss" ] && max_rss=$n
        # one probe a second
        left=$(( 1000000000 - ($(date +%s%N) - t0) ))
        [ "$left" -gt 0 ] && sleep "0.$(printf '%09d' "$left")"
done
wait "$pp_pid"
pp=$(cat "$TMP/pushpull1")
kill -0 "$flood_pid" 2>/dev/null || pp="finished only after the flood ended ($pp)"
wait "$flood_pid" || soft_fail "the flood script failed: $(tail -n 3 "$TMP/flood1.out")"
echo "flood: $(cat "$TMP/flood1.json" 2>/dev/null)"
echo "berthd during the flood: at most $max_fds descriptors (before: $fds_before), RSS at most $max_rss KiB"
[ "$probe_fail" -eq 0 ] && pass "/healthz from 127.0.0.2: $probes/$probes answered 200, slowest ${slowest}s" ||
        soft_fail "/healthz from 127.0.0.2: $probe_fail of $probes probes failed (bound 2 s)"
[ "$pp" = ok ] && pass "push and pull from 127.0.0.2 during the flood" || soft_fail "push/pull from 127.0.0.2: $pp"
if [ -s "$TMP/flood1.json" ]; then
        j=$TMP/flood1.json
        opened=$(jq '[.opened[]] | add' "$j")
        [ "$opened" -ge 1200 ] || soft_fail "the flood opened only $opened connections"
        most=$(jq '.max_alive_total' "$j")
        [ "$most" -le 64 ] && pass "127.0.0.1 held at most $most connections (limit 64) of $opened opened" ||
                soft_fail "127.0.0.1 held $most connections at once, over --max-conns-per-ip 64"
        bound=$((HEADER_TIMEOUT + 3))
        for k in idle hello header; do
                lt=$(jq ".max_lifetime.$k" "$j")
                awk -v t="$lt" -v b="$bound" 'BEGIN { exit !(t <= b) }' &&
                        pass "longest-lived $k connection: ${lt}s (header timeout ${HEADER_TIMEOUT}s)" ||
                        soft_fail "a $k connection lived ${lt}s, past the header timeout (${HEADER_TIMEOUT}s + 3)"
        done
        # the drips did get slots and kept sending: the deadline, not inactivity, closed them
        for k in hello header; do
                n=$(jq ".lived_over_2s.$k" "$j")
                [ "$n" -gt 0 ] || soft_fail "no $k-dripping connection was held for 2 s: the deadline was not exercised"
        done
        [ "$(jq '.handshakes' "$j")" -gt 0 ] || soft_fail "no slow-head connection completed its TLS handshake"
fi
kill -0 "$BERTH_PID" 2>/dev/null || fail "berthd died during the flood"
berth_stop

# ---------------------------------------------------------------------------------
step "2. --max-conns-per-ip 10 and a trusted proxy at 127.0.0.3"
auth_start --max-conns-per-ip 10 --trusted-proxies 127.0.0.3/32
timeout 20 python3 "$FLOOD" flood --port "$BERTH_PORT" --src 127.0.0.1 --idle 30 --duration 4 \
        --out "$TMP/flood2a.json" --ready "$TMP/flood2a.ready" >"$TMP/flood2a.out" 2>&1 &
fa=$!
timeout 20 python3 "$FLOOD" flood --port "$BERTH_PORT" --src 127.0.0.3 --idle 30 --duration 4 \
        --out "$TMP/flood2b.json" --ready "$TMP/flood2b.ready" >"$TMP/flood2b.out" 2>&1 &
fb=$!
berth_track_pid "$fa"
berth_track_pid "$fb"
berth_wait_for 10 test -s "$TMP/flood2a.ready" -a -s "$TMP/flood2b.ready" ||
        soft_fail "the floods from 127.0.0.1 and 127.0.0.3 were not open within 10 s"
got=$(curl -sS --interface 127.0.0.1 --cacert "$BERTH_CA" --max-time 3 -o /dev/null -w '%{http_code}' \
        "$BERTH_URL/healthz" 2>/dev/null) || true
[ "$got" = 200 ] && soft_fail "a connection from 127.0.0.1 over its limit of 10 was served" ||
        pass "the connection over the limit from 127.0.0.1 was closed (curl: ${got:-000})"
got=$(curl -sS --interface 127.0.0.2 --cacert "$BERTH_CA" --max-time 3 -o /dev/null -w '%{http_code}' \
        "$BERTH_URL/healthz" 2>/dev/null) || true
[ "$got" = 200 ] && pass "127.0.0.2 served meanwhile" || soft_fail "127.0.0.2 not served while 127.0.0.1 is at its limit: $got"
wait "$fa" || true
wait "$fb" || true
a_open=$(jq '.open_at_end.idle' "$TMP/flood2a.json" 2>/dev/null)
b_open=$(jq '.open_at_end.idle' "$TMP/flood2b.json" 2>/dev/null)
[ "${a_open:-x}" = 10 ] && pass "127.0.0.1 kept exactly 10 of 30 connections" ||
        soft_fail "127.0.0.1 kept ${a_open:-?} of 30 connections, want 10"
[ "${b_open:-x}" = 30 ] && pass "the trusted proxy 127.0.0.3 kept all 30 connections" ||
        soft_fail "the trusted proxy 127.0.0.3 kept ${b_open:-?} of 30 connections, want 30"

# c3 XFF ARGS...: curl from the proxy with X-Forwarded-For
c3() { local x=$1; shift; bcurl --interface 127.0.0.3 -H "X-Forwarded-For: $x" -o /dev/null -w '%{http_code}' "$@" 2>/dev/null || true; }
# the proxy appends the address it saw; what the client wrote itself is further left.
# Throttling keys on the (address, name) pair (item 4): guesses at one name from the
# forwarded 10.1.1.1 are refused, while the same name from the forwarded 10.2.2.2 is
# still verified; keyed on the proxy's address, both would share one pair and be refused.
throttled=
for i in $(seq 1 40); do
        got=$(c3 "6.6.6.6, 10.1.1.1" -u "ghost:wrong-$i" "$BERTH_URL/v2/")
        [ "$got" = 429 ] && { throttled=$i; break; }
        [ "$got" = 401 ] || { soft_fail "guess $i from 10.1.1.1: HTTP $got"; break; }
done
[ -n "$throttled" ] && pass "ghost from 10.1.1.1 (behind the proxy) throttled after $((throttled - 1)) failures" ||
        soft_fail "ghost from 10.1.1.1 never throttled"
got=$(c3 "10.2.2.2" -u "ghost:wrong-other" "$BERTH_URL/v2/")
[ "$got" = 401 ] && pass "ghost from 10.2.2.2 behind the same proxy is verified, not throttled (401)" ||
        soft_fail "ghost from 10.2.2.2 behind the same proxy: HTTP $got, want 401 (throttled by the proxy's address?)"
got=$(c3 "10.2.2.2" -u "admin:$ADMIN_PW" "$BERTH_URL/v2/")
[ "$got" = 200 ] && pass "admin logs in from 10.2.2.2 through the proxy" || soft_fail "admin from 10.2.2.2: HTTP $got"
got=$(bcurl --interface 127.0.0.3 -o /dev/null -w '%{http_code}' -u "admin:$ADMIN_PW" "$BERTH_URL/v2/_catalog") || true
[ "$got" = 200 ] && pass "the proxy's own address is not throttled" || soft_fail "the proxy's own address: HTTP $got"
# a spoofed header from an untrusted address, and a malformed one from the proxy
got=$(bcurl --interface 127.0.0.2 -H 'X-Forwarded-For: 10.9.9.9' -o /dev/null -w '%{http_code}' \
        -u "admin:$ADMIN_PW" "$BERTH_URL/v2/spoofed/tags/list") || true
[ "$got" = 404 ] || soft_fail "admin from 127.0.0.2: HTTP $got"
got=$(c3 "10.8.8.8:4242" -u "admin:$ADMIN_PW" "$BERTH_URL/v2/malformed/tags/list")
[ "$got" = 404 ] || soft_fail "admin through the proxy with a malformed header: HTTP $got"
log=$TMP/berthd.log
# the access log line is written when a request completes, just after its answer
# went out: wait for the last request's line before reading the log
berth_wait_for 10 grep -qE " admin GET /v2/malformed/tags/list " "$log" ||
        soft_fail "no access log line for the last request within 10 s"
grep -qE " 10\.1\.1\.1 ghost GET /v2/ 401 " "$log" && pass "access log: the forwarded address 10.1.1.1" ||
        soft_fail "no access log line with 10.1.1.1 for ghost"
grep -qE " 10\.2\.2\.2 admin GET /v2/ 200 " "$log" && pass "access log: the forwarded address 10.2.2.2" ||
        soft_fail "no access log line with 10.2.2.2 for admin"
grep -q "6\.6\.6\.6" "$log" && soft_fail "the address the client wrote itself (6.6.6.6) was used"
grep -qE " 127\.0\.0\.2 admin GET /v2/spoofed/tags/list 404 " "$log" && ! grep -q "10\.9\.9\.9" "$log" &&
        pass "X-Forwarded-For from an untrusted address ignored" ||
        soft_fail "X-Forwarded-For from 127.0.0.2 was not ignored (10.9.9.9 in the log, or no 127.0.0.2 line)"
grep -qE " 127\.0\.0\.3 admin GET /v2/malformed/tags/list 404 " "$log" && ! grep -q "10\.8\.8\.8" "$log" &&
        pass "a malformed X-Forwarded-For from the proxy: the proxy's address used" ||
        soft_fail "a malformed X-Forwarded-For from the proxy was not handled as the proxy's address"
berth_stop
# the audit trail is written in batches: read it once the server has stopped
bd audit >"$TMP/audit.out" 2>&1 || soft_fail "berthd audit failed: $(cat "$TMP/audit.out")"
awk -F'\t' '$2 == "ghost" && $3 == "10.1.1.1" && $4 == "login-failed"' "$TMP/audit.out" | grep -q . &&
        pass "audit: login-failed for ghost from 10.1.1.1" || soft_fail "audit: no login-failed row for ghost from 10.1.1.1"
awk -F'\t' '$2 == "admin" && $3 == "10.2.2.2" && $4 == "login"' "$TMP/audit.out" | grep -q . &&
        pass "audit: admin's login from 10.2.2.2" || soft_fail "audit: no login row for admin from 10.2.2.2"
grep -q "127\.0\.0\.3.*login-failed" "$TMP/audit.out" && soft_fail "audit: a failure recorded with the proxy's address"

# ---------------------------------------------------------------------------------
step "3. --max-requests 2: slow uploads are not load; probes and tokens are never shed"
auth_start --max-requests 2
head -c $((16 << 20)) /dev/urandom >"$TMP/big"
big=$(sha "$TMP/big")
got=$(c2 --max-time 30 -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/octet-stream' \
        --data-binary "@$TMP/big" "$BERTH_URL/v2/load/big/blobs/uploads/?digest=$big") || true
[ "$got" = 201 ] || fail "push of the 16 MiB blob: HTTP $got"
timeout 30 python3 "$FLOOD" slowbody --port "$BERTH_PORT" --src 127.0.0.4 --count 4 --hold 25 \
        --path "/v2/load/slow/blobs/uploads/?digest=$big" --auth "admin:$ADMIN_PW" \
        --ready "$TMP/slowbody.ready" >"$TMP/slowbody.out" 2>&1 &
sb=$!
berth_track_pid "$sb"
berth_wait_for 10 test -s "$TMP/slowbody.ready" || fail "slow uploads not started: $(cat "$TMP/slowbody.out")"
got=$(c2 -o /dev/null -w '%{http_code}' "$BERTH_URL/v2/") || true
[ "$got" = 200 ] && pass "4 uploads waiting for their bodies do not count: /v2/ answers 200" ||
        soft_fail "with 4 uploads waiting for their bodies, /v2/ answers $got (want 200)"
timeout 30 python3 "$FLOOD" slowread --port "$BERTH_PORT" --src 127.0.0.4 --count 2 --hold 25 \
        --path "/v2/load/big/blobs/$big" --auth "admin:$ADMIN_PW" \
        --ready "$TMP/slowread.ready" >"$TMP/slowread.out" 2>&1 &
sr=$!
berth_track_pid "$sr"
berth_wait_for 10 test -s "$TMP/slowread.ready" || fail "slow downloads not started: $(cat "$TMP/slowread.out")"
got=$(c2 -o /dev/null -w '%{http_code}' "$BERTH_URL/v2/") || true
[ "$got" = 429 ] && pass "2 downloads in flight (limit 2): /v2/ gets 429" ||
        soft_fail "2 downloads in flight (limit 2): /v2/ answers $got, want 429 (the limit is not reached?)"
for p in /healthz /livez /readyz; do
        got=$(bcurl --interface 127.0.0.2 -o /dev/null -w '%{http_code}' "$BERTH_URL$p") || true
        [ "$got" = 200 ] && pass "$p answers 200 while requests are shed" || soft_fail "$p while shedding: HTTP $got"
done
got=$(c2 -o /dev/null -w '%{http_code}' "$BERTH_URL/auth/token?service=berth") || true
[ "$got" = 200 ] && pass "/auth/token answers 200 while requests are shed" || soft_fail "/auth/token while shedding: HTTP $got"
kill "$sr" "$sb" 2>/dev/null
wait "$sr" "$sb" 2>/dev/null
ok200=
for _ in $(seq 1 50); do
        got=$(c2 -o /dev/null -w '%{http_code}' "$BERTH_URL/v2/") || true
        [ "$got" = 200 ] && { ok200=1; break; }
        sleep 0.1
done
[ -n "$ok200" ] && pass "once the slow clients are gone, /v2/ answers 200 again" ||
        soft_fail "/v2/ still $got after the slow clients left (in-flight count leaked?)"
berth_stop
auth_done
pass "connection floods, per-address limit, trusted proxies and load shedding"
