#!/usr/bin/env bash
# berth against distribution configured for token auth, with a small token issuer
# written here (python3 + cryptography, RS256 JWTs with an x5c chain the registry trusts):
# the 401 Bearer challenge, realm/service/scope, anonymous tokens, credentials sent only
# to the realm, and one token per scope reused for every blob.
. "$(dirname "$0")/client-lib.sh"
client_init
python3 -c 'import cryptography' 2>/dev/null || skip "python3 cryptography missing"

TPORT=$(free_port)
python3 - "$TPORT" "$TMP" <<'PY' &
import base64, http.server, json, os, ssl, sys, time
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
port, tmp = int(sys.argv[1]), sys.argv[2]
key = serialization.load_pem_private_key(open(tmp + "/key.pem", "rb").read(), None)
cert = x509.load_pem_x509_certificate(open(tmp + "/cert.pem", "rb").read())
x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
USERS = {"alice": "open sesame"}
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        from urllib.parse import urlparse, parse_qs
        q = parse_qs(urlparse(self.path).query)
        user = None
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
            if USERS.get(u) != p:
                self.send_response(401); self.send_header("Content-Length", "0"); self.end_headers()
                with open(tmp + "/tokens.log", "a") as f: f.write("refused %s\n" % u)
                return
            user = u
        access = []
        for s in q.get("scope", []):
            typ, _, rest = s.partition(":")
            name, _, acts = rest.rpartition(":")
            want = acts.split(",")
            ok = want if user else (["pull"] if name.startswith("public/") and "pull" in want else [])
            access.append({"type": typ, "name": name, "actions": ok})
        now = int(time.time())
        claims = {"iss": "berth-test-issuer", "sub": user or "", "aud": q.get("service", [""])[0],
                  "exp": now + 300, "nbf": now - 10, "iat": now, "jti": b64(os.urandom(8)), "access": access}
        hdr = {"typ": "JWT", "alg": "RS256", "x5c": [x5c]}
        signing = b64(json.dumps(hdr).encode()) + "." + b64(json.dumps(claims).encode())
        sig = key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        tok = signing + "." + b64(sig)
        with open(tmp + "/tokens.log", "a") as f:
            f.write("token user=%s scope=%s\n" % (user or "-", ",".join(q.get("scope", []))))
        body = json.dumps({"token": tok, "expires_in": 300}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(tmp + "/cert.pem", tmp + "/key.pem")
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
PY
_pids+=($!)
for i in $(seq 50); do curl -sk -o /dev/null "https://127.0.0.1:$TPORT/token" && break; sleep 0.1; done
start_registry R token 1 "https://127.0.0.1:$TPORT/token"
REG=127.0.0.1:$REG_R_PORT
make_image "$TMP/img" b 4 100000 >/dev/null
push "$TMP/img" b "$REG/public/app:1" 'alice:open sesame'
push "$TMP/img" b "$REG/private/app:1" 'alice:open sesame'
secret_yaml "$TMP/secret.yaml" alice 'open sesame' "$REG"
B=("$BERTH" --store "$STORE" --ca-file "$TMP/cert.pem" -q)

step "anonymous Bearer token for a public repository"
: > "$TMP/tokens.log"
expect_rc 0 "${B[@]}" pull "$REG/public/app:1"
grep -q "token user=- scope=repository:public/app:pull" "$TMP/tokens.log" || fail "no anonymous token request"

step "private repository without credentials: ErrImagePull"
expect_rc 10 "${B[@]}" pull "$REG/private/app:1"

step "with the pull secret: one token for the scope, reused for manifest and 5 blobs"
: > "$TMP/tokens.log"
expect_rc 0 "${B[@]}" --store "$TMP/s2" pull "$REG/private/app:1" --pull-secret "$TMP/secret.yaml" --max-concurrent-downloads 1
[ "$(grep -c "token user=alice scope=repository:private/app:pull" "$TMP/tokens.log")" = 1 ] ||
        { cat "$TMP/tokens.log"; fail "expected exactly one token request"; }
skopeo copy -q "oci:$TMP/s2:$REG/private/app:1" "dir:$TMP/rb" >/dev/null || fail "skopeo read-back"

step "--verbose names the realm's host, and whether the credentials go there"
# pull_err RC ARGS...: run berth with stderr in $TMP/berth.err, expect exit RC
pull_err() {
        local want=$1 rc=0
        shift
        "${B[@]}" "$@" 2>"$TMP/berth.err" || rc=$?
        [ "$rc" = "$want" ] || { cat "$TMP/berth.err" >&2; fail "expected exit $want, got $rc: $*"; }
}
pull_err 0 --store "$TMP/s4" pull "$REG/private/app:1" --pull-secret "$TMP/secret.yaml" --verbose
grep -F -q "berth: Bearer token realm on host 127.0.0.1:$TPORT (registry 127.0.0.1:$REG_R_PORT, another host): sending the registry credentials there" \
        "$TMP/berth.err" || { cat "$TMP/berth.err"; fail "--verbose does not name the realm host"; }
pull_err 0 --store "$TMP/s5" pull "$REG/public/app:1" -v
grep -F -q "berth: Bearer token realm on host 127.0.0.1:$TPORT (registry 127.0.0.1:$REG_R_PORT, another host): anonymous" \
        "$TMP/berth.err" || { cat "$TMP/berth.err"; fail "--verbose does not name the realm host (anonymous)"; }
pull_err 0 --store "$TMP/s6" pull "$REG/private/app:1" --pull-secret "$TMP/secret.yaml"
grep -q "realm" "$TMP/berth.err" && fail "the realm line without --verbose"

step "wrong password is refused by the issuer: ErrImagePull"
secret_yaml "$TMP/wrong.yaml" alice 'nope' "$REG"
expect_rc 10 "${B[@]}" --store "$TMP/s3" pull "$REG/private/app:1" --pull-secret "$TMP/wrong.yaml"
grep -q "refused alice" "$TMP/tokens.log" || fail "issuer never saw the wrong password"
echo "PASS [$NAME]"
