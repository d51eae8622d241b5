#!/usr/bin/env bash
# Pull-through cache, blob misses streamed (issue 13). The upstream is a fake registry
# (python, here) that trickles a 24 MiB blob at about 6 MiB/s, and an 8 MiB blob with
# one byte flipped near its end. Clients of berth see the first bytes long before the
# upstream has sent the last; 10 concurrent clients (two joining mid-fetch) get the
# right bytes from one upstream GET while one more is killed mid-stream; a Range
# request on the blob in flight waits and is answered 206 from the store; the corrupt
# blob gives every client a short body (a failed download) and leaves nothing in the
# store, and is asked of the upstream again next time. An upstream that sends no
# length (chunked transfer encoding) is streamed all the same: a 16 MiB blob reaches
# the clients while it trickles in, with no Content-Length; a corrupt one sent that
# way fails every download and leaves nothing.
# With BERTH_TEST_DB=pg the proxy's metadata is in PostgreSQL.
. "$(dirname "$0")/lib.sh"
berth_require curl python3
berth_tmpdir
berth_use_db

bd() { timeout 60 "$top_builddir/berthd" --data "$TMP/data" "$@"; }
sha() { sha256sum | cut -d' ' -f1; }

U_PORT=$(berth_free_port) || fail "no free port"
python3 - "$U_PORT" "$TMP/u.log" <<'PY' &
import hashlib, http.server, sys, time
port, log = int(sys.argv[1]), sys.argv[2]
good = hashlib.sha256(b"berth stream seed").digest() * (24 * 1024 * 1024 // 32)
gd = "sha256:" + hashlib.sha256(good).hexdigest()
ok8 = bytes(range(256)) * (8 * 1024 * 1024 // 256)
bd_ = "sha256:" + hashlib.sha256(ok8).hexdigest()
bad = bytearray(ok8); bad[len(bad) - 1000] ^= 1
nolen = hashlib.sha256(b"berth chunked seed").digest() * (16 * 1024 * 1024 // 32)
nd = "sha256:" + hashlib.sha256(nolen).hexdigest()
nbad = bytearray(nolen); nbad[len(nbad) - 5] ^= 1
nbd = "sha256:" + hashlib.sha256(nbad[:len(nbad) - 1]).hexdigest() # what the client asks for: not what comes
CHUNK, RATE = 128 * 1024, 6 * 1024 * 1024
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        p = self.path
        with open(log, "a") as f: f.write("%s %s\n" % (self.command, p))
        if p == "/v2/": body = b"{}"
        elif p.endswith("/blobs/" + gd): body = good
        elif p.endswith("/blobs/" + bd_): body = bytes(bad)
        elif p.endswith("/blobs/" + nd) or p.endswith("/blobs/" + nbd):
            # no length: chunked transfer encoding, trickled
            body = nolen if p.endswith(nd) else bytes(nbad[:len(nbad) - 1])
            if p.endswith(nbd): body = bytearray(body); body[100] ^= 1; body = bytes(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            t0 = time.monotonic()
            for off in range(0, len(body), CHUNK):
                part = body[off:off + CHUNK]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part)); self.wfile.flush()
                ahead = (off + CHUNK) / RATE - (time.monotonic() - t0)
                if ahead > 0: time.sleep(ahead)
            self.wfile.write(b"0\r\n\r\n"); self.wfile.flush()
            return
        else:
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        t0 = time.monotonic()
        for off in range(0, len(body), CHUNK):
            self.wfile.write(body[off:off + CHUNK]); self.wfile.flush()
            ahead = (off + CHUNK) / RATE - (time.monotonic() - t0)
            if ahead > 0: time.sleep(ahead)
with open(log + ".info", "w") as f: f.write("%s %s %s %s\n" % (gd, bd_, nd, nbd))
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
berth_track_pid $!
berth_wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$U_PORT/v2/" || fail "the upstream does not start"
read -r GOOD BAD NOLEN NOLEN_BAD <"$TMP/u.log.info"

berth_start
bd project create slow --proxy "http://127.0.0.1:$U_PORT" --public >/dev/null || fail "project create slow"
sleep 2.5 # the server reads the proxy projects at most every 2 s
ups() { grep -c "GET /v2/x/blobs/$1" "$TMP/u.log"; }

step "a 24 MiB blob trickled by the upstream: streamed to 10 clients, one killed mid-stream"
url=$BERTH_URL/v2/slow/x/blobs/$GOOD
fmt='%{http_code} %{time_starttransfer} %{time_total}\n'
pids=()
for i in $(seq 8); do
        bcurl -o "$TMP/good.$i" -w "$fmt" "$url" >"$TMP/t.$i" &
        pids+=($!)
done
bcurl -o "$TMP/victim" "$url" &
victim=$!
sleep 1
bcurl -o "$TMP/range" -w '%{http_code}' -H 'Range: bytes=100-199' "$url" >"$TMP/range.code" &
rpid=$!
kill "$victim"
wait "$victim" 2>/dev/null
vsize=$(stat -c %s "$TMP/victim" 2>/dev/null || echo 0)
[ "$vsize" -gt 0 ] && [ "$vsize" -lt $((24 * 1024 * 1024)) ] ||
        fail "the killed client held $vsize bytes after 1 s (want some, not all: the blob streams)"
sleep 0.5
for i in 9 10; do # they join the fetch in flight
        bcurl -o "$TMP/good.$i" -w "$fmt" "$url" >"$TMP/t.$i" &
        pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent pull failed"; done
wait "$rpid" || fail "the Range request failed"
for i in $(seq 10); do
        [ "sha256:$(sha <"$TMP/good.$i")" = "$GOOD" ] || fail "client $i got wrong bytes ($(cat "$TMP/t.$i"))"
done
[ "$(ups "$GOOD")" = 1 ] || fail "the upstream saw $(ups "$GOOD") GETs of the blob (want 1)"
read -r code ttfb total <"$TMP/t.1"
[ "$code" = 200 ] || fail "client 1: $code"
awk -v a="$ttfb" -v b="$total" 'BEGIN { exit !(b >= 3 && a < b / 3) }' ||
        fail "first byte after ${ttfb}s of ${total}s: the blob was not streamed"
[ "$(cat "$TMP/range.code")" = 206 ] && [ "$(stat -c %s "$TMP/range")" = 100 ] ||
        fail "Range on the blob in flight: $(cat "$TMP/range.code")"
cmp -s "$TMP/range" <(tail -c +101 "$TMP/good.1" | head -c 100) || fail "Range on the blob in flight: wrong bytes"
[ -e "$TMP/data/blobs/sha256/${GOOD:7:2}/${GOOD#sha256:}" ] || fail "the blob is not in the store"
bcurl -f -o "$TMP/again" "$url" && [ "sha256:$(sha <"$TMP/again")" = "$GOOD" ] || fail "the cached blob"
[ "$(ups "$GOOD")" = 1 ] || fail "the cached blob was fetched again"
pass "first byte after ${ttfb}s, the whole after ${total}s; 10 clients right, one upstream GET, a killed client harmless, Range 206 after the fetch"

step "a corrupt blob trickled by the upstream: every client's download fails, nothing kept"
url=$BERTH_URL/v2/slow/x/blobs/$BAD
pids=()
for i in 1 2 3; do
        bcurl -f -o "$TMP/bad.$i" "$url" 2>"$TMP/bad.$i.err" &
        pids+=($!)
done
for i in 1 2 3; do
        wait "${pids[$((i - 1))]}" && fail "client $i's download of the corrupt blob succeeded"
        size=$(stat -c %s "$TMP/bad.$i" 2>/dev/null || echo 0)
        [ "$size" -lt $((8 * 1024 * 1024)) ] || fail "client $i got the whole corrupt blob"
done
[ "$(ups "$BAD")" = 1 ] || fail "the upstream saw $(ups "$BAD") GETs of the corrupt blob (want 1)"
[ ! -e "$TMP/data/blobs/sha256/${BAD:7:2}/${BAD#sha256:}" ] || fail "the corrupt blob was stored"
[ -z "$(ls -A "$TMP/data/tmp" 2>/dev/null)" ] || fail "scratch files left: $(ls "$TMP/data/tmp")"
bcurl -f -o /dev/null "$url" 2>/dev/null && fail "the corrupt blob downloaded the second time"
[ "$(ups "$BAD")" = 2 ] || fail "the corrupt blob was served from a cache"
grep -q "does not match its digest" "$TMP/berthd.log" || fail "the mismatch is not logged"
pass "short bodies, nothing in the store, the upstream asked again"

step "an upstream that sends no length (chunked): streamed all the same, no length to the clients"
url=$BERTH_URL/v2/slow/x/blobs/$NOLEN
pids=()
for i in 1 2 3; do
        bcurl -D "$TMP/nl.$i.h" -o "$TMP/nl.$i" -w "$fmt" "$url" >"$TMP/nt.$i" &
        pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a pull of the unsized blob failed"; done
for i in 1 2 3; do
        [ "sha256:$(sha <"$TMP/nl.$i")" = "$NOLEN" ] || fail "client $i got wrong bytes ($(cat "$TMP/nt.$i"))"
done
read -r code ttfb total <"$TMP/nt.1"
[ "$code" = 200 ] || fail "client 1: $code"
awk -v a="$ttfb" -v b="$total" 'BEGIN { exit !(b >= 2 && a < b / 3) }' ||
        fail "first byte after ${ttfb}s of ${total}s: the unsized blob was not streamed"
grep -qi '^content-length' "$TMP/nl.1.h" && fail "a length was announced that the upstream did not give"
grep -qi '^docker-content-digest: '"$NOLEN" "$TMP/nl.1.h" || fail "no Docker-Content-Digest: $(cat "$TMP/nl.1.h")"
[ "$(ups "$NOLEN")" = 1 ] || fail "the upstream saw $(ups "$NOLEN") GETs of the unsized blob (want 1)"
[ -e "$TMP/data/blobs/sha256/${NOLEN:7:2}/${NOLEN#sha256:}" ] || fail "the unsized blob is not in the store"
bcurl -f -D "$TMP/nl.again.h" -o "$TMP/nl.again" "$url" && [ "sha256:$(sha <"$TMP/nl.again")" = "$NOLEN" ] ||
        fail "the cached unsized blob"
grep -qi "^content-length: $((16 * 1024 * 1024))" "$TMP/nl.again.h" || fail "the cached copy has no length"
pass "first byte after ${ttfb}s, the whole after ${total}s; chunked to the clients, one upstream GET, cached with its length"

step "a corrupt blob with no length: every download fails, nothing kept"
url=$BERTH_URL/v2/slow/x/blobs/$NOLEN_BAD
pids=()
for i in 1 2; do
        bcurl -f -o "$TMP/nb.$i" "$url" 2>/dev/null &
        pids+=($!)
done
for i in 1 2; do
        wait "${pids[$((i - 1))]}" && fail "client $i's download of the corrupt unsized blob succeeded"
done
[ ! -e "$TMP/data/blobs/sha256/${NOLEN_BAD:7:2}/${NOLEN_BAD#sha256:}" ] || fail "the corrupt unsized blob was stored"
[ -z "$(ls -A "$TMP/data/tmp" 2>/dev/null)" ] || fail "scratch files left: $(ls "$TMP/data/tmp")"
pass "failed downloads, nothing in the store"

berth_stop
pass "all"
