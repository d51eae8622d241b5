#!/usr/bin/env bash
# Pull-through cache (issue 13). Upstream A: Debian's docker-registry over HTTPS with
# htpasswd, holding a multi-arch index and plain images; upstream B: a second berthd in
# --auth token mode (the Bearer flow); upstream C: a fake registry (python, here) that
# sends a blob with one byte flipped. berth in front of them pulls through by tag and
# by digest (skopeo, curl), as a containerd mirror (?ns=) and as docker's
# registry-mirrors project; revalidates a moved tag only after the TTL; fetches an
# uncached 100 MiB blob once for 20 concurrent pulls; cuts a corrupt blob short and keeps
# nothing of it; refuses pushes; serves what it holds when the upstream is down and says 503
# for what it does not; counts it all in the metrics.
# With BERTH_TEST_DB=pg the proxy's metadata is in PostgreSQL.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/upstream-lib.sh"
berth_require curl python3 skopeo docker-registry openssl jq
python3 -W ignore -c 'import crypt, sys; sys.exit(0 if crypt.crypt("x", crypt.mksalt(crypt.METHOD_BLOWFISH)).startswith("$2") else 1)' \
        2>/dev/null || { echo "SKIP [$BERTH_TEST_NAME]: python3 crypt cannot make bcrypt hashes"; exit 77; }
berth_tmpdir
berth_use_db
export BERTH_ARGON2_MEMORY_KIB=${BERTH_ARGON2_MEMORY_KIB:-4096} # fast hashes for upstream B's users

bd() { timeout 60 "$top_builddir/berthd" --data "$TMP/data" "$@"; }
sk() { timeout 120 skopeo --command-timeout 100s "$@"; }
sha() { sha256sum | cut -d' ' -f1; }

# ---- upstream A: docker-registry, TLS + htpasswd ----
step "upstream A: docker-registry with TLS and htpasswd"
A_PW=a-$RANDOM$RANDOM
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
        -addext subjectAltName=IP:127.0.0.1 -keyout "$TMP/a.key" -out "$TMP/a.crt" >/dev/null 2>&1 || fail "openssl"
python3 -W ignore -c 'import crypt,sys; print(sys.argv[1]+":"+crypt.crypt(sys.argv[2], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))' \
        puller "$A_PW" >"$TMP/htpasswd"
A_PORT=$(berth_free_port) || fail "no free port"
A=127.0.0.1:$A_PORT
mkdir -p "$TMP/a-data"
cat >"$TMP/a.yml" <<EOF
version: 0.1
log: {level: info, accesslog: {disabled: false}}
storage: {filesystem: {rootdirectory: $TMP/a-data}, delete: {enabled: true}}
http: {addr: "$A", secret: berth-proxy-test, tls: {certificate: $TMP/a.crt, key: $TMP/a.key}}
auth: {htpasswd: {realm: berth-test, path: $TMP/htpasswd}}
EOF
A_PID=
a_start() {
        docker-registry serve "$TMP/a.yml" >>"$TMP/a.log" 2>&1 &
        A_PID=$!
        berth_track_pid "$A_PID"
        berth_wait_for 15 curl -s -o /dev/null --cacert "$TMP/a.crt" "https://$A/v2/" || fail "upstream A does not start"
}
a_stop() { kill "$A_PID" 2>/dev/null; wait "$A_PID" 2>/dev/null; A_PID=; }
a_start
a_push() { # DIR TAG REPO:TAG
        sk copy --all --quiet --dest-creds "puller:$A_PW" --dest-tls-verify=false "oci:$1:$2" "docker://$A/$3" ||
                fail "push $3 to upstream A"
}
a_digest() { # REPO:TAG: the digest upstream A has for it
        sk inspect --raw --creds "puller:$A_PW" --tls-verify=false "docker://$A/$1" | sha
}
berth_mkimage "$TMP/img" --tag 3 --layers 2 --layer-size 64K --seed alpine --platforms linux/amd64,linux/arm64 >/dev/null
a_push "$TMP/img" 3 lib/alpine:3
berth_mkimage "$TMP/img" --tag plain --layers 2 --layer-size 64K --seed plain >/dev/null
a_push "$TMP/img" plain lib/plain:v1
berth_mkimage "$TMP/img" --tag mv1 --layers 1 --layer-size 16K --seed moving-1 >/dev/null
berth_mkimage "$TMP/img" --tag mv2 --layers 1 --layer-size 16K --seed moving-2 >/dev/null
a_push "$TMP/img" mv1 lib/moving:v1
berth_mkimage "$TMP/img" --tag big --layers 1 --layer-size 100M --seed big >/dev/null
a_push "$TMP/img" big lib/big:v1
berth_mkimage "$TMP/img" --tag other --layers 1 --layer-size 16K --seed other >/dev/null
a_push "$TMP/img" other lib/other:v1
ALPINE=sha256:$(a_digest lib/alpine:3)
PLAIN=sha256:$(a_digest lib/plain:v1)
MOVING1=sha256:$(a_digest lib/moving:v1)

# ---- upstream B: berthd in token mode ----
step "upstream B: berthd --auth token"
B_PORT=$(berth_free_port) || fail "no free port"
B=127.0.0.1:$B_PORT
B_PW=b-$RANDOM$RANDOM
upstream_berthd "$TMP/b-data" "$B" carol "$B_PW" "$TMP/b.log" --auth token
upstream_seed "$B" "carol:$B_PW" team-app team/app:v1
upstream_seed "$B" "carol:$B_PW" team-app2 team/app:v2

# ---- upstream C: a registry that flips a byte of every blob ----
C_PORT=$(berth_free_port) || fail "no free port"
python3 - "$C_PORT" "$TMP/c.log" <<'PY' &
import hashlib, http.server, json, os, sys, urllib.parse
port, log = int(sys.argv[1]), sys.argv[2]
layer = bytes(range(256)) * 64
ld = "sha256:" + hashlib.sha256(layer).hexdigest()
cfg = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]}}' % ld.encode()
cd = "sha256:" + hashlib.sha256(cfg).hexdigest()
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(cfg)},
                  "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld,
                              "size": len(layer)}]}).encode()
md = "sha256:" + hashlib.sha256(man).hexdigest()
bad = bytearray(layer); bad[100] ^= 1
limited = [0]
pulls = [0]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def answer(self, body, ctype, digest=None, link=None):
        with open(log, "a") as f: f.write("%s %s\n" % (self.command, self.path))
        self.send_response(200)
        self.send_header("Content-Type", ctype); self.send_header("Content-Length", str(len(body)))
        if digest: self.send_header("Docker-Content-Digest", digest)
        if link: self.send_header("Link", link)
        if "/manifests/" in self.path:
            # Docker Hub's rate limit headers: one pull less left per manifest answer
            pulls[0] += 1
            self.send_header("RateLimit-Limit", "100;w=21600")
            self.send_header("RateLimit-Remaining", "%d;w=21600" % (100 - pulls[0]))
        self.end_headers()
        if self.command == "GET": self.wfile.write(body)
    def do_GET(self):
        p = self.path
        if p == "/v2/": return self.answer(b"{}", "application/json")
        if p.startswith("/v2/x/tags/list"):
            # the tags in log.tags, two per page; log.down: unavailable
            if os.path.exists(log + ".down"):
                with open(log, "a") as f: f.write("%s %s 503\n" % (self.command, self.path))
                self.send_response(503); self.send_header("Content-Length", "0"); self.end_headers()
                return
            tags = sorted(open(log + ".tags").read().split())
            last = urllib.parse.parse_qs(urllib.parse.urlparse(p).query).get("last", [""])[0]
            rest = [t for t in tags if t > last]
            page, link = rest[:2], None
            if len(rest) > 2: link = '</v2/x/tags/list?last=%s&n=2>; rel="next"' % page[-1]
            return self.answer(json.dumps({"name": "x", "tags": page}).encode(), "application/json", link=link)
        if p.endswith("/manifests/limited"):
            # the first answer is the manifest, every later one a rate limit
            limited[0] += 1
            if limited[0] > 1:
                with open(log, "a") as f: f.write("%s %s 429\n" % (self.command, self.path))
                self.send_response(429); self.send_header("Content-Length", "0"); self.end_headers()
                return
            return self.answer(man, "application/vnd.oci.image.manifest.v1+json", md)
        if p.endswith("/manifests/v1") or p.endswith("/manifests/" + md):
            return self.answer(man, "application/vnd.oci.image.manifest.v1+json", md)
        if p.endswith("/blobs/" + ld): return self.answer(bytes(bad), "application/octet-stream")
        if p.endswith("/blobs/" + cd): return self.answer(cfg, "application/octet-stream")
        self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers()
    do_HEAD = do_GET
open(log + ".info", "w").write(ld + "\n")
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
berth_track_pid $!
berth_wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$C_PORT/v2/" || fail "upstream C does not start"
BAD_LAYER=$(cat "$TMP/c.log.info")

# ---- berth, the cache ----
MPORT=$(berth_free_port) || fail "no free port"
berth_start --metrics-listen "127.0.0.1:$MPORT"
mkdir -p "$TMP/certs" && cp "$BERTH_CA" "$TMP/certs/ca.crt" || fail "certs"
step "proxy projects"
printf '%s\n' "$A_PW" | bd project create hub --public --proxy "https://$A" --proxy-username puller \
        --proxy-password-stdin --proxy-ca "$TMP/a.crt" --proxy-ttl 6 --mirror-of docker.io --docker-mirror \
        >"$TMP/out" 2>&1 || fail "project create hub: $(cat "$TMP/out")"
printf '%s\n' "$B_PW" | bd project create bee --proxy "https://$B" --proxy-username carol --proxy-password-stdin \
        --proxy-ca "$TMP/b-data/tls/ca.crt" --mirror-of registry.b.test --public >/dev/null ||
        fail "project create bee"
bd project create corrupt --proxy "http://127.0.0.1:$C_PORT" --public --proxy-ttl 0 >/dev/null ||
        fail "project create corrupt"
grep -q "$A_PW\|$B_PW" "$TMP"/data/*.db* 2>/dev/null && fail "an upstream password is in the database in the clear"
bd project show hub >"$TMP/show" || fail "project show"
grep -q 'capabilities = \["pull", "resolve"\]' "$TMP/show" && grep -q 'registry-mirrors' "$TMP/show" ||
        fail "project show prints no mirror lines: $(cat "$TMP/show")"
bd project create x --proxy ftp://nowhere >/dev/null 2>&1 && fail "an ftp:// upstream was taken"
pass "proxy projects made; the password sealed; hosts.toml and daemon.json lines printed"

# ---- pulls through, by tag and by digest ----
step "pull through by tag (multi-arch index) and by digest"
sleep 2 # the server reads the proxy projects at most every 2 s
sk copy --all --quiet --src-cert-dir "$TMP/certs" "docker://$BERTH_HOST/hub/lib/alpine:3" "oci:$TMP/out1:a" ||
        fail "skopeo pull through hub/lib/alpine:3"
got=$(bcurl -H 'Accept: application/vnd.oci.image.index.v1+json' -D "$TMP/h" "$BERTH_URL/v2/hub/lib/alpine/manifests/3" | sha)
[ "sha256:$got" = "$ALPINE" ] || fail "the cached index differs from the upstream's"
child=$(jq -r '.manifests[0].digest' "$TMP/out1/blobs/sha256/${ALPINE#sha256:}")
bcurl -f -o /dev/null "$BERTH_URL/v2/hub/lib/alpine/manifests/$child" || fail "child manifest by digest"
bcurl -f -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        "$BERTH_URL/v2/hub/lib/plain/manifests/$PLAIN" || fail "plain image by digest (uncached)"
sk copy --quiet --src-cert-dir "$TMP/certs" "docker://$BERTH_HOST/hub/lib/plain@$PLAIN" "oci:$TMP/out2:p" ||
        fail "skopeo pull by digest"
pass "index, child and plain manifests and their blobs pulled through"

step "Range on a cached blob"
layer=$(jq -r '.layers[0].digest' "$TMP/out2/blobs/sha256/${PLAIN#sha256:}")
code=$(bcurl -o "$TMP/range" -w '%{http_code}' -H 'Range: bytes=10-19' "$BERTH_URL/v2/hub/lib/plain/blobs/$layer")
[ "$code" = 206 ] && [ "$(stat -c %s "$TMP/range")" = 10 ] || fail "Range on a cached blob: $code"
pass "Range answered 206 from the cache"

step "upstream B: the Bearer flow, one token for several fetches"
tokens0=$(grep -c 'GET /auth/token' "$TMP/b.log")
fetches0=$(grep -c 'GET /v2/team/app/' "$TMP/b.log")
sk copy --quiet --src-cert-dir "$TMP/certs" "docker://$BERTH_HOST/bee/team/app:v1" "oci:$TMP/out3:b" ||
        fail "pull through bee/team/app:v1"
sk copy --quiet --src-cert-dir "$TMP/certs" "docker://$BERTH_HOST/bee/team/app:v2" "oci:$TMP/out3:b2" ||
        fail "pull through bee/team/app:v2"
tokens=$(( $(grep -c 'GET /auth/token' "$TMP/b.log") - tokens0 ))
fetches=$(( $(grep -c 'GET /v2/team/app/' "$TMP/b.log") - fetches0 ))
[ "$tokens" = 1 ] || fail "upstream B issued $tokens tokens for $fetches fetches (want 1)"
pass "$fetches fetches from upstream B with one token"

# ---- mirrors ----
step "containerd mirror (?ns=) and docker registry-mirrors"
bcurl -f -o /dev/null -H 'Accept: application/vnd.oci.image.index.v1+json' \
        "$BERTH_URL/v2/lib/alpine/manifests/3?ns=docker.io" || fail "ns=docker.io"
bcurl -f -o /dev/null "$BERTH_URL/v2/team/app/manifests/v1?ns=registry.b.test" || fail "ns=registry.b.test"
code=$(bcurl -o "$TMP/body" -w '%{http_code}' "$BERTH_URL/v2/team/app/manifests/v1?ns=quay.io")
[ "$code" = 404 ] && grep -q NAME_UNKNOWN "$TMP/body" || fail "ns of no proxy project: $code $(cat "$TMP/body")"
bcurl -f -o /dev/null -H 'Accept: application/vnd.oci.image.index.v1+json' \
        "$BERTH_URL/v2/lib/alpine/manifests/3" || fail "registry-mirrors (no ns) to the --docker-mirror project"
pass "ns=docker.io and ns=registry.b.test reach their projects; an unknown ns is 404; no ns goes to the docker mirror"

# ---- tag moved upstream ----
step "tag moved upstream: the old digest before the TTL, the new after"
bcurl -f -o /dev/null "$BERTH_URL/v2/hub/lib/moving/manifests/v1" || fail "moving:v1"
t0=$SECONDS
a_push "$TMP/img" mv2 lib/moving:v1
MOVING2=sha256:$(a_digest lib/moving:v1)
[ "$MOVING1" != "$MOVING2" ] || fail "the test image did not change"
got=$(bcurl -D "$TMP/h" -o /dev/null "$BERTH_URL/v2/hub/lib/moving/manifests/v1" && tr -d '\r' <"$TMP/h" |
        awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }')
[ $((SECONDS - t0)) -lt 5 ] || fail "the test was too slow to check within the TTL"
[ "$got" = "$MOVING1" ] || fail "within the TTL: $got (want the cached $MOVING1)"
sleep 7
got=$(bcurl -D "$TMP/h" -o /dev/null "$BERTH_URL/v2/hub/lib/moving/manifests/v1" && tr -d '\r' <"$TMP/h" |
        awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }')
[ "$got" = "$MOVING2" ] || fail "after the TTL: $got (want the new $MOVING2)"
grep -q '"HEAD /v2/lib/moving/manifests/v1' "$TMP/a.log" || fail "no HEAD revalidation in upstream A's log"
# lib/alpine:3 was fetched more than a TTL ago and has not moved: one HEAD, no GET
gets=$(grep -c '"GET /v2/lib/alpine/manifests/3' "$TMP/a.log")
bcurl -f -o /dev/null -H 'Accept: application/vnd.oci.image.index.v1+json' \
        "$BERTH_URL/v2/hub/lib/alpine/manifests/3" || fail "alpine:3 after the TTL"
grep -q '"HEAD /v2/lib/alpine/manifests/3' "$TMP/a.log" || fail "alpine:3 not revalidated with HEAD"
[ "$(grep -c '"GET /v2/lib/alpine/manifests/3' "$TMP/a.log")" = "$gets" ] || fail "alpine:3 fetched again"
pass "before the TTL the cached digest, after it the new one; an unmoved tag revalidated with one HEAD"

# ---- concurrent pulls of one uncached blob ----
step "20 concurrent pulls of an uncached 100 MiB blob: one upstream GET"
bcurl -f -o "$TMP/bigman" "$BERTH_URL/v2/hub/lib/big/manifests/v1" || fail "big manifest"
big=$(jq -r '.layers[0].digest' "$TMP/bigman")
[ "$(jq -r '.layers[0].size' "$TMP/bigman")" -gt $((100 << 20)) ] || fail "the big layer is not over 100 MiB"
# each client's bytes are hashed as they arrive (no 2 GiB on disk); curl's status is kept
pids=()
for i in $(seq 20); do
        ( set -o pipefail; bcurl -f "$BERTH_URL/v2/hub/lib/big/blobs/$big" | sha >"$TMP/big.$i" ) &
        pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent pull failed"; done
for i in $(seq 20); do
        [ "sha256:$(cat "$TMP/big.$i")" = "$big" ] || fail "client $i got wrong bytes"
done
n=$(grep -c "\"GET /v2/lib/big/blobs/$big" "$TMP/a.log")
[ "$n" = 1 ] || fail "upstream A saw $n GETs of the blob (want 1)"
pass "20 clients got the right bytes; upstream A served the blob once"

# ---- a corrupt blob ----
step "a corrupt blob from the upstream: refused, nothing kept"
# the upstream announced its length: the blob streams, and the mismatch found at its
# end cuts the body short (the last byte is held back until the digest is checked), or
# is a 502 when found before the answer began
bcurl -f -o "$TMP/body" "$BERTH_URL/v2/corrupt/x/blobs/$BAD_LAYER" 2>/dev/null && fail "the corrupt blob downloaded"
[ "$(stat -c %s "$TMP/body")" -lt 16384 ] || fail "the whole corrupt blob was sent"
[ ! -e "$TMP/data/blobs/sha256/${BAD_LAYER:7:2}/${BAD_LAYER#sha256:}" ] || fail "the corrupt blob was stored"
[ -z "$(ls -A "$TMP/data/tmp" 2>/dev/null)" ] || fail "scratch files left: $(ls "$TMP/data/tmp")"
bcurl -f -o "$TMP/body" "$BERTH_URL/v2/corrupt/x/blobs/$BAD_LAYER" 2>/dev/null && fail "second request for the corrupt blob downloaded"
[ "$(stat -c %s "$TMP/body")" -lt 16384 ] || fail "the whole corrupt blob was sent the second time"
[ "$(grep -c "GET /v2/x/blobs/$BAD_LAYER" "$TMP/c.log")" = 2 ] || fail "the corrupt blob was served from a cache"
pass "a failed download (short body) each time, nothing in the store"

step "the upstream answering 429: the cached tag is served"
bcurl -f -o /dev/null "$BERTH_URL/v2/corrupt/x/manifests/limited" || fail "first pull of x:limited"
for i in 1 2; do
        bcurl -f -o /dev/null "$BERTH_URL/v2/corrupt/x/manifests/limited" || fail "x:limited with the upstream at 429"
done
[ "$(grep -c 'manifests/limited 429' "$TMP/c.log")" = 2 ] || fail "the 429s were not met: $(cat "$TMP/c.log")"
pass "--proxy-ttl 0 asks every time; a 429 serves the cached copy"

step "tags/list: the cache's by default, the upstream's with ?refresh=1 (all its pages)"
printf '%s\n' v1 limited a-new b-new z-last >"$TMP/c.log.tags"
bcurl -f "$BERTH_URL/v2/corrupt/x/tags/list" >"$TMP/body" || fail "cached tag listing"
[ "$(jq -c .tags "$TMP/body")" = '["limited"]' ] || fail "cached listing: $(cat "$TMP/body")"
grep -q "tags/list" "$TMP/c.log" && fail "a cached listing asked the upstream"
bcurl -f "$BERTH_URL/v2/corrupt/x/tags/list?refresh=1" >"$TMP/body" || fail "refreshed tag listing"
[ "$(jq -c .tags "$TMP/body")" = '["a-new","b-new","limited","v1","z-last"]' ] &&
        [ "$(jq -r .name "$TMP/body")" = corrupt/x ] || fail "refreshed listing: $(cat "$TMP/body")"
[ "$(grep -c 'GET /v2/x/tags/list' "$TMP/c.log")" = 3 ] || fail "the upstream's 3 pages were not all read: $(grep tags/list "$TMP/c.log")"
bcurl -f -D "$TMP/hdr" "$BERTH_URL/v2/corrupt/x/tags/list?refresh=true&n=2&last=b-new" >"$TMP/body" ||
        fail "refreshed page"
[ "$(jq -c .tags "$TMP/body")" = '["limited","v1"]' ] || fail "refreshed page: $(cat "$TMP/body")"
grep -qi '^link: </v2/corrupt/x/tags/list?n=2&last=v1&refresh=1>; rel="next"' "$TMP/hdr" ||
        fail "refreshed page link: $(cat "$TMP/hdr")"
code=$(bcurl -o "$TMP/body" -w '%{http_code}' "$BERTH_URL/v2/corrupt/nothere/tags/list?refresh=1")
[ "$code" = 404 ] && grep -q NAME_UNKNOWN "$TMP/body" || fail "refresh of a repository the upstream lacks: $code $(cat "$TMP/body")"
touch "$TMP/c.log.down"
bcurl -f "$BERTH_URL/v2/corrupt/x/tags/list?refresh=1" >"$TMP/body" || fail "refresh with the upstream down"
[ "$(jq -c .tags "$TMP/body")" = '["limited"]' ] || fail "refresh with the upstream down: $(cat "$TMP/body")"
grep -q 'GET /v2/x/tags/list 503' "$TMP/c.log" || fail "the upstream was not asked"
grep -q 'unavailable for the tags of x' "$TMP/berthd.log" || fail "the stale listing was not logged"
rm "$TMP/c.log.down"
pass "cached by default; refresh reads every upstream page, paginates, falls back to the cache"


# ---- pushes ----
step "pushes to a proxy project are refused"
code=$(bcurl -o "$TMP/body" -w '%{http_code}' -X POST "$BERTH_URL/v2/hub/lib/mine/blobs/uploads/")
[ "$code" = 405 ] && grep -q UNSUPPORTED "$TMP/body" || fail "upload start: $code $(cat "$TMP/body")"
sk copy --quiet --dest-cert-dir "$TMP/certs" "oci:$TMP/img:other" "docker://$BERTH_HOST/hub/lib/mine:v1" \
        2>"$TMP/err" && fail "skopeo pushed into a proxy project"
pass "405 UNSUPPORTED; skopeo push fails"

step "a proxy project past its quota evicts the least recently pulled, never fails a pull"
# the sizes of the two images as hub holds them (alpine: the index, its children, their blobs)
bd usage hub --repositories --json >"$TMP/hub-usage.json" || fail "usage hub"
rbytes() { jq -r --arg r "$1" '.projects[0].repositories[] | select(.repository == $r) | .bytes' "$TMP/hub-usage.json"; }
pbytes=$(rbytes hub/lib/plain) abytes=$(rbytes hub/lib/alpine)
[ -n "$pbytes" ] && [ -n "$abytes" ] && [ "$pbytes" -gt 0 ] && [ "$abytes" -gt 0 ] || fail "hub's usage: $(cat "$TMP/hub-usage.json")"
quota=$(( (pbytes > abytes ? pbytes : abytes) + 100 )) # either image fits, not both
printf '%s\n' "$A_PW" | bd project create tiny --public --proxy "https://$A" --proxy-username puller \
        --proxy-password-stdin --proxy-ca "$TMP/a.crt" >/dev/null || fail "project create tiny"
bd quota set tiny "$quota" >/dev/null || fail "quota set tiny"
sleep 2 # the server reads the proxy projects at most every 2 s
tbytes() { bd usage tiny --json | jq -r '.projects[0].bytes'; }
# asked again until true (a blob's link is made just after its last byte went out)
tiny_holds() { [ "$(tbytes)" = "$1" ]; }
tiny_within() { [ "$(tbytes)" -le "$quota" ]; }
sk copy --quiet --src-cert-dir "$TMP/certs" "docker://$BERTH_HOST/tiny/lib/plain@$PLAIN" "oci:$TMP/ev1:p" ||
        fail "pull of plain through tiny"
berth_wait_for 10 tiny_holds "$pbytes" || fail "tiny holds $(tbytes) bytes after plain, want $pbytes"
sleep 1.1 # a later second: alpine's copies are younger than plain's
sk copy --all --quiet --src-cert-dir "$TMP/certs" "docker://$BERTH_HOST/tiny/lib/alpine:3" "oci:$TMP/ev2:a" ||
        fail "pull of alpine through tiny past the quota"
# evicted on the fetch thread once the fills are made
berth_wait_for 10 grep -q 'proxy tiny: past its quota' "$TMP/berthd.log" || fail "no eviction logged"
berth_wait_for 10 tiny_within || fail "tiny holds $(tbytes) bytes, over its quota $quota"
evictions() { grep 'proxy tiny: past' "$TMP/berthd.log"; }
# the image just pulled is whole in the cache (the evictions took older content)
rbytes_tiny() { bd usage tiny --repositories --json | jq -r --arg r "$1" '.projects[0].repositories[] | select(.repository == $r) | .bytes'; }
alpine_whole() { [ "$(rbytes_tiny tiny/lib/alpine)" = "$abytes" ]; }
berth_wait_for 10 alpine_whole ||
        fail "tiny/lib/alpine holds $(rbytes_tiny tiny/lib/alpine) bytes, want $abytes: $(evictions)"
code=$(bcurl -o /dev/null -w '%{http_code}' -H 'Accept: application/vnd.oci.image.index.v1+json' \
        "$BERTH_URL/v2/tiny/lib/alpine/manifests/3")
[ "$code" = 200 ] || fail "alpine:3 after the eviction: $code"
# plain comes again from the upstream: the pull works, and the quota holds again
sk copy --quiet --src-cert-dir "$TMP/certs" "docker://$BERTH_HOST/tiny/lib/plain@$PLAIN" "oci:$TMP/ev3:p" ||
        fail "plain again through tiny"
berth_wait_for 10 tiny_within || fail "tiny holds $(tbytes) bytes after plain again, over $quota"
[ "$(evictions | wc -l)" -ge 2 ] || fail "no eviction for plain's second copy: $(evictions)"
pass "quota $quota: alpine ($abytes bytes) whole after plain ($pbytes) was evicted for it; plain pulled again past the quota; every pull worked"

# ---- the upstream down ----
step "upstream A stopped: cached content still pulls, uncached is 503"
a_stop
sleep 6.5 # past the TTL: a revalidation is due and fails
sk copy --all --quiet --src-cert-dir "$TMP/certs" "docker://$BERTH_HOST/hub/lib/alpine:3" "oci:$TMP/out4:a" ||
        fail "cached tag with the upstream down"
sk copy --quiet --src-cert-dir "$TMP/certs" "docker://$BERTH_HOST/hub/lib/plain@$PLAIN" "oci:$TMP/out4:p" ||
        fail "cached digest with the upstream down"
code=$(bcurl -o "$TMP/body" -w '%{http_code}' "$BERTH_URL/v2/hub/lib/other/manifests/v1")
[ "$code" = 503 ] && grep -q 'UNAVAILABLE' "$TMP/body" && grep -q 'not cached' "$TMP/body" ||
        fail "uncached with the upstream down: $code $(cat "$TMP/body")"
n=$(grep -c 'unavailable for lib/alpine:3' "$TMP/berthd.log")
[ "$n" = 1 ] || fail "the stale serve of lib/alpine:3 was logged $n times (want once)"
pass "stale-if-error for tags, digests need no upstream, 503 for what is not cached"

# ---- metrics ----
step "metrics"
curl -s "http://127.0.0.1:$MPORT/metrics" >"$TMP/metrics" || fail "scrape"
for r in hit miss revalidated stale; do
        v=$(awk -v k="berth_proxy_requests_total{upstream=\"hub\",result=\"$r\"}" '$1 == k { print $2 }' "$TMP/metrics")
        [ -n "$v" ] && [ "$v" -gt 0 ] || fail "berth_proxy_requests_total hub $r: '$v'"
done
v=$(awk '$1 == "berth_proxy_fetched_bytes_total{upstream=\"hub\"}" { print $2 }' "$TMP/metrics")
[ -n "$v" ] && [ "$v" -gt 25000000 ] || fail "berth_proxy_fetched_bytes_total hub: '$v'"
pass "hits, misses, revalidations, stale serves and bytes counted per upstream"

step "the upstream's rate limit headers"
# upstream C counts down from 100 with each manifest answer it sends
sent=$(awk '$2 ~ /\/manifests\// && NF == 2' "$TMP/c.log" | wc -l)
v=$(awk '$1 == "berth_proxy_ratelimit_remaining{upstream=\"corrupt\"}" { print $2 }' "$TMP/metrics")
[ -n "$v" ] && [ "$v" = $((100 - sent)) ] || fail "berth_proxy_ratelimit_remaining corrupt: '$v' (want $((100 - sent)))"
v=$(awk '$1 == "berth_proxy_ratelimit_limit{upstream=\"corrupt\"}" { print $2 }' "$TMP/metrics")
[ "$v" = 100 ] || fail "berth_proxy_ratelimit_limit corrupt: '$v'"
grep -q 'berth_proxy_ratelimit_remaining{upstream="hub"}' "$TMP/metrics" &&
        fail "a rate limit shown for an upstream that sent none"
pass "the last RateLimit-Limit and RateLimit-Remaining an upstream sent, per upstream"

step "a proxy project changed while the server runs"
bd project set corrupt --proxy-ttl 3600 --mirror-of mirror.example >"$TMP/out" 2>&1 ||
        fail "project set corrupt: $(cat "$TMP/out")"
bd project show corrupt >"$TMP/out" || fail "project show corrupt"
grep -q '^ttl	3600$' "$TMP/out" && grep -q '^mirror-of	mirror.example$' "$TMP/out" &&
        grep -q "^upstream	http://127.0.0.1:$C_PORT$" "$TMP/out" || fail "project show after set: $(cat "$TMP/out")"
# the server reads the change within seconds: the ns of the new --mirror-of reaches it
berth_wait_for 10 bcurl -f -o /dev/null "$BERTH_URL/v2/x/manifests/limited?ns=mirror.example" ||
        fail "the new --mirror-of was not used"
before=$(grep -c 'manifests/limited' "$TMP/c.log")
bcurl -f -o /dev/null "$BERTH_URL/v2/corrupt/x/manifests/limited" || fail "x:limited with a 3600 s TTL"
[ "$(grep -c 'manifests/limited' "$TMP/c.log")" = "$before" ] || fail "the upstream was asked within the new TTL"
# a new upstream URL: every cached tag is asked of it at its next pull
bd project set corrupt --proxy "http://localhost:$C_PORT" >"$TMP/out" 2>&1 && grep -q revalidated "$TMP/out" ||
        fail "project set --proxy: $(cat "$TMP/out")"
sleep 2.5 # the server's next read of the records
bcurl -f -o /dev/null "$BERTH_URL/v2/corrupt/x/manifests/limited" || fail "x:limited after the upstream changed"
[ "$(grep -c 'manifests/limited' "$TMP/c.log")" = $((before + 1)) ] ||
        fail "the cached tag was not revalidated with the new upstream"
bd project set corrupt --public --proxy-ttl 5 >/dev/null 2>&1 && fail "--public with proxy options was taken"
bd project set nothere --proxy-ttl 5 >"$TMP/out" 2>&1 && fail "set of an unknown proxy project"
grep -q "no such proxy project" "$TMP/out" || fail "unknown proxy project: $(cat "$TMP/out")"
printf '%s\n' "$A_PW" | bd project set hub --no-proxy-auth --proxy-password-stdin >/dev/null 2>&1 &&
        fail "--no-proxy-auth with a password was taken"
bd project set hub --no-proxy-auth >/dev/null || fail "project set hub --no-proxy-auth"
bd project show hub | grep -q '^username	-$' || fail "--no-proxy-auth kept the username"
pass "TTL, --mirror-of and upstream changed in place; a new upstream revalidates the cached tags"

berth_stop
pass "all"
