#!/usr/bin/env bash
# Blob downloads that a registry redirects to another host (here: another port, which
# curl also treats as another origin) must not carry the registry credentials.
. "$(dirname "$0")/client-lib.sh"
client_init

start_registry R none 0
UP=$REG_R_PORT
make_image "$TMP/img" r 2 100000 >/dev/null
push "$TMP/img" r "127.0.0.1:$UP/redir/app:1"
APORT=$(free_port)
BPORT=$(free_port)
# A: a registry front that wants Basic auth and redirects every blob GET to B;
# B: a blob host that logs whether an Authorization header arrived.
python3 - "$APORT" "$BPORT" "$UP" "$TMP/b.log" <<'PY' &
import base64, http.client, http.server, sys, threading
aport, bport, up, log = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
GOOD = "Basic " + base64.b64encode(b"alice:open sesame").decode()
def relay(h, path):
    c = http.client.HTTPConnection("127.0.0.1", up, timeout=30)
    hdrs = {k: v for k, v in h.headers.items() if k.lower() in ("accept", "range")}
    c.request("GET", path, headers=hdrs)
    r = c.getresponse(); body = r.read()
    h.send_response(r.status)
    for k, v in r.getheaders():
        if k.lower() not in ("connection", "transfer-encoding", "content-length"):
            h.send_header(k, v)
    h.send_header("Content-Length", str(len(body))); h.end_headers(); h.wfile.write(body)
class A(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        if self.headers.get("Authorization") != GOOD:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="front"')
            self.send_header("Content-Length", "0"); self.end_headers(); return
        if "/blobs/" in self.path:
            self.send_response(307)
            self.send_header("Location", "http://127.0.0.1:%d%s" % (bport, self.path))
            self.send_header("Content-Length", "0"); self.end_headers(); return
        relay(self, self.path)
class B(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        with open(log, "a") as f:
            f.write("%s auth=%s\n" % (self.path, "yes" if self.headers.get("Authorization") else "no"))
        relay(self, self.path)
b = http.server.ThreadingHTTPServer(("127.0.0.1", bport), B)
threading.Thread(target=b.serve_forever, daemon=True).start()
http.server.ThreadingHTTPServer(("127.0.0.1", aport), A).serve_forever()
PY
_pids+=($!)
for i in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$APORT/v2/" && break; sleep 0.1; done
secret_yaml "$TMP/secret.yaml" alice 'open sesame' "127.0.0.1:$APORT"

step "pull through a redirecting front with basic auth"
expect_rc 0 "$BERTH" --store "$STORE" --insecure -q pull "127.0.0.1:$APORT/redir/app:1" --pull-secret "$TMP/secret.yaml"
[ "$(grep -c "/blobs/" "$TMP/b.log")" = 3 ] || { cat "$TMP/b.log"; fail "expected 3 redirected blob GETs"; }
grep -q "auth=yes" "$TMP/b.log" && { cat "$TMP/b.log"; fail "credentials were sent to the redirect target"; }
skopeo copy -q "oci:$STORE:127.0.0.1:$APORT/redir/app:1" "dir:$TMP/rb" >/dev/null || fail "skopeo read-back"
echo "PASS [$NAME]"
