# tests/integration/client-lib.sh: helpers for the client-*.sh pull tests (sourced, not a test).
# Runs Debian's docker-registry (distribution) on a free 127.0.0.1 port with TLS and
# htpasswd or token auth, builds small OCI test images with python3 and pushes them with
# skopeo. Everything started is killed by PID at exit and the temp dir removed.
[ -n "${BASH_VERSION:-}" ] || { echo "client-lib.sh needs bash" >&2; exit 99; }
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
        echo "client-lib.sh is sourced by the client-*.sh tests" >&2
        exit 77
fi
set -u -o pipefail

: "${top_builddir:=$PWD}"
: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
NAME=$(basename "$0" .sh)
BERTH="$top_builddir/berth"
CLIENT_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_pids=()

fail() { echo "FAIL [$NAME]: $*" >&2; exit 1; }
step() { echo "---- [$NAME] $*"; }
skip() { echo "SKIP [$NAME]: $*"; exit 77; }

need() {
        local t
        for t in "$@"; do
                command -v "$t" >/dev/null 2>&1 || skip "missing $t"
        done
}

cleanup() {
        local p
        for p in "${_pids[@]}"; do
                kill "$p" 2>/dev/null
        done
        for p in "${_pids[@]}"; do
                wait "$p" 2>/dev/null
        done
        if [ -n "${KEEP_TMP:-}" ]; then
                echo "kept $TMP"
        elif [ -n "${TMP:-}" ]; then
                rm -rf "$TMP"
        fi
}

client_init() {
        need docker-registry skopeo openssl python3 curl
        [ -x "$BERTH" ] || skip "berth not built ($BERTH)"
        python3 -W ignore -c 'import crypt, sys; sys.exit(0 if crypt.crypt("x", crypt.mksalt(crypt.METHOD_BLOWFISH)).startswith("$2") else 1)' 2>/dev/null ||
                skip "python3 crypt cannot make bcrypt hashes"
        TMP=$(mktemp -d)
        trap cleanup EXIT
        trap 'exit 1' INT TERM
        openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -days 1 \
                -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1 || fail "openssl req"
        STORE="$TMP/store"
        mkdir -p "$TMP/home"
        export HOME="$TMP/home" DOCKER_CONFIG="$TMP/home/.docker"   # no stray node credentials
}

free_port() {
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# htpasswd_file FILE USER PASS
htpasswd_file() {
        python3 -W ignore -c 'import crypt,sys; print(sys.argv[1]+":"+crypt.crypt(sys.argv[2], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))' "$2" "$3" >> "$1"
}

# start_registry NAME AUTH(htpasswd|token|none) TLS(1|0) [TOKEN_REALM]: sets REG_<NAME>_PORT,
# REG_<NAME>_PID, REG_<NAME>_LOG
start_registry() {
        local name=$1 auth=$2 tls=$3 realm=${4:-} port dir scheme=https i
        port=$(free_port)
        dir="$TMP/reg-$name"
        mkdir -p "$dir/data"
        {
                echo "version: 0.1"
                echo "log: {level: info, accesslog: {disabled: false}}"
                echo "storage: {filesystem: {rootdirectory: $dir/data}, delete: {enabled: true}}"
                echo "http:"
                echo "  addr: 127.0.0.1:$port"
                echo "  secret: berth-client-test"
                if [ "$tls" = 1 ]; then
                        echo "  tls: {certificate: $TMP/cert.pem, key: $TMP/key.pem}"
                fi
                case $auth in
                htpasswd) echo "auth: {htpasswd: {realm: berth-test, path: $TMP/htpasswd}}" ;;
                token) echo "auth: {token: {realm: \"$realm\", service: berth-test, issuer: berth-test-issuer, rootcertbundle: $TMP/cert.pem}}" ;;
                esac
        } > "$dir/config.yml"
        [ "$tls" = 1 ] || scheme=http
        docker-registry serve "$dir/config.yml" > "$dir/log" 2>&1 &
        _pids+=($!)
        eval "REG_${name}_PID=$!; REG_${name}_PORT=$port; REG_${name}_LOG=$dir/log; REG_${name}_CONFIG=$dir/config.yml"
        for i in $(seq 100); do
                curl -sk -o /dev/null "$scheme://127.0.0.1:$port/v2/" && return 0
                sleep 0.1
        done
        cat "$dir/log" >&2
        fail "registry $name did not start"
}

# restart_registry NAME: start it again on the same port with the same config
restart_registry() {
        local name=$1 port log config i
        eval "port=\$REG_${name}_PORT; log=\$REG_${name}_LOG; config=\$REG_${name}_CONFIG"
        docker-registry serve "$config" >> "$log" 2>&1 &
        _pids+=($!)
        eval "REG_${name}_PID=$!"
        for i in $(seq 100); do
                curl -sk -o /dev/null "https://127.0.0.1:$port/v2/" && return 0
                curl -s -o /dev/null "http://127.0.0.1:$port/v2/" && return 0
                sleep 0.1
        done
        fail "registry $name did not restart"
}

stop_registry() {
        local pid
        eval "pid=\$REG_$1_PID"
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        return 0
}

# make_image DIR TAG LAYERS BYTES [PLATFORMS]: an OCI layout with random uncompressed
# layers; PLATFORMS like "linux/amd64,linux/arm64" makes an index of one image each.
make_image() {
        python3 - "$@" <<'PY'
import hashlib, io, json, os, sys, tarfile
out, tag, nlayers, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
plats = sys.argv[5].split(",") if len(sys.argv) > 5 and sys.argv[5] else []
os.makedirs(out + "/blobs/sha256", exist_ok=True)
def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(out + "/blobs/sha256/" + d, "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + d, "size": len(data)}
def image(osname, arch, variant):
    layers, diffs = [], []
    for i in range(nlayers):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
            payload = os.urandom(size)
            ti = tarfile.TarInfo("layer%d-%s.bin" % (i, arch))
            ti.size = len(payload)
            ti.mtime = 0
            t.addfile(ti, io.BytesIO(payload))
        d = put(buf.getvalue())
        d["mediaType"] = "application/vnd.oci.image.layer.v1.tar"
        layers.append(d)
        diffs.append(d["digest"])
    cfg = {"architecture": arch, "os": osname, "rootfs": {"type": "layers", "diff_ids": diffs},
           "config": {"Cmd": ["/bin/true"]}}
    if variant:
        cfg["variant"] = variant
    c = put(json.dumps(cfg).encode())
    c["mediaType"] = "application/vnd.oci.image.config.v1+json"
    m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
         "config": c, "layers": layers}
    d = put(json.dumps(m).encode())
    d["mediaType"] = m["mediaType"]
    return d
if plats:
    entries = []
    for p in plats:
        parts = p.split("/") + [None]
        d = image(parts[0], parts[1], parts[2])
        d["platform"] = {"os": parts[0], "architecture": parts[1]}
        if parts[2]:
            d["platform"]["variant"] = parts[2]
        entries.append(d)
    idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
    top = put(json.dumps(idx).encode())
    top["mediaType"] = idx["mediaType"]
else:
    top = image("linux", "amd64", None)
top["annotations"] = {"org.opencontainers.image.ref.name": tag}
with open(out + "/index.json", "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [top]}, f)
with open(out + "/oci-layout", "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
print(top["digest"])
PY
}

# push DIR TAG DEST [CREDS]: skopeo copy (all platforms) into a test registry
push() {
        local creds=()
        [ -n "${4:-}" ] && creds=(--dest-creds "$4")
        skopeo copy -q --all --dest-tls-verify=false "${creds[@]}" "oci:$1:$2" "docker://$3" >/dev/null ||
                fail "skopeo push to $3"
}

# secret FILE USER PASS REGISTRY: a Kubernetes Secret in YAML
secret_yaml() {
        local auth cfg
        auth=$(printf '%s:%s' "$2" "$3" | base64 -w0)
        cfg=$(printf '{"auths":{"%s":{"auth":"%s"}}}' "$4" "$auth" | base64 -w0)
        printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: regcred\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: %s\n' "$cfg" > "$1"
}

# count_blob_gets LOG REPO: GET requests for blobs in a registry access log
count_blob_gets() {
        grep -c "\"GET /v2/$2/blobs/sha256:" "$1" || true
}

# expect_rc WANT CMD...: run, compare the exit status
expect_rc() {
        local want=$1 rc
        shift
        "$@"
        rc=$?
        [ "$rc" = "$want" ] || fail "expected exit $want, got $rc: $*"
}
