#!/usr/bin/env bash
# A blob download cut in the middle resumes with Range; a damaged partial file is
# detected by the digest check and thrown away, never kept.
. "$(dirname "$0")/client-lib.sh"
client_init

start_registry R none 0
REG_UP=127.0.0.1:$REG_R_PORT
make_image "$TMP/img" r 1 3000000 >/dev/null
push "$TMP/img" r "$REG_UP/res/app:1"
# skopeo compresses layers on push: take the digest the registry holds
layer=$(skopeo inspect --raw --tls-verify=false "docker://$REG_UP/res/app:1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"])')

# a proxy that cuts the first download of the layer after 1 MB, and logs Range headers
PPORT=$(free_port)
python3 - "$PPORT" "$REG_R_PORT" "$layer" "$TMP/proxy.log" <<'PY' &
import http.client, http.server, sys
port, up, layer, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
cut = {"done": False}
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        c = http.client.HTTPConnection("127.0.0.1", up, timeout=30)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        c.request("GET", self.path, headers=hdrs)
        r = c.getresponse()
        body = r.read()
        with open(log, "a") as f:
            f.write("%s range=%s status=%d len=%d\n" % (self.path, self.headers.get("Range", "-"), r.status, len(body)))
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if layer in self.path and r.status == 200 and not cut["done"]:
            cut["done"] = True
            self.wfile.write(body[:1000000])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(body)
    do_HEAD = do_GET
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
_pids+=($!)
for i in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PPORT/v2/" && break; sleep 0.1; done
REG=127.0.0.1:$PPORT
B=("$BERTH" --store "$STORE" --insecure -q)

step "first pull is cut: RegistryUnavailable, the partial file stays"
expect_rc 14 "${B[@]}" pull "$REG/res/app:1"
partial="$STORE/.berth/tmp/sha256-${layer#sha256:}.partial"
[ -f "$partial" ] || fail "no partial file"
size=$(stat -c %s "$partial")
[ "$size" -gt 0 ] && [ "$size" -lt 2000000 ] || fail "partial has $size bytes"

step "second pull resumes with Range from where it stopped"
expect_rc 0 "${B[@]}" pull "$REG/res/app:1" --no-backoff
grep -q "${layer} range=bytes=$size- status=206" "$TMP/proxy.log" || { cat "$TMP/proxy.log"; fail "no Range request from $size"; }
[ ! -e "$partial" ] || fail "partial left after success"
skopeo copy -q "oci:$STORE:$REG/res/app:1" "dir:$TMP/rb" >/dev/null || fail "skopeo read-back"

step "a damaged partial file is caught by the digest check and removed"
S2="$TMP/s2"
"$BERTH" --store "$S2" pull --dry-run "$REG/res/app:1" >/dev/null || fail "dry-run"
head -c 1000000 /dev/urandom > "$S2/.berth/tmp/sha256-${layer#sha256:}.partial"
expect_rc 10 "$BERTH" --store "$S2" --insecure -q pull "$REG/res/app:1"
[ ! -e "$S2/.berth/tmp/sha256-${layer#sha256:}.partial" ] || fail "damaged partial kept"
[ ! -e "$S2/blobs/sha256/${layer#sha256:}" ] || fail "unverified blob stored"
expect_rc 0 "$BERTH" --store "$S2" --insecure -q pull "$REG/res/app:1" --no-backoff
echo "PASS [$NAME]"
