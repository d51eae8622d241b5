# tests/integration/auth-lib.sh: helpers for the access-control scripts (auth-*.sh).
# Sourced after lib.sh:   . "$(dirname "$0")/lib.sh"; . "$(dirname "$0")/auth-lib.sh"

# soft_fail MSG: record a failed assertion and go on (independent checks); auth_done
# turns recorded failures into the script's failure at its end.
_auth_failures=0
soft_fail() { echo "FAIL [$BERTH_TEST_NAME]: $*" >&2; _auth_failures=$((_auth_failures + 1)); }
auth_done() { [ "$_auth_failures" -eq 0 ] || fail "$_auth_failures assertion(s) failed (see above)"; }

ADMIN_PW=admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')

# auth_start [ARGS...]: berthd with access control on (--auth basic after lib.sh's
# --auth none: flags are parsed in order) and a known admin password.
auth_start() {
        BERTH_ADMIN_PASSWORD=$ADMIN_PW berth_start --auth basic "$@"
}

# bd ARGS...: an admin subcommand on the running server's data directory.
bd() { timeout 120 "$top_builddir/berthd" --data "$BERTH_DATA" "$@"; }

# add_user NAME PASSWORD [--admin]
add_user() {
        local name=$1 pw=$2
        shift 2
        printf '%s\n' "$pw" | bd user add "$name" "$@" >/dev/null || fail "berthd user add $name"
}

# code [CURL ARGS...] URL: the HTTP status of a request (000 when none).
code() { bcurl -o /dev/null -w '%{http_code}' "$@" 2>/dev/null || true; }

# expect WANT WHAT CURL-ARGS...: the status must be WANT.
expect() {
        local want=$1 what=$2 got
        shift 2
        got=$(code "$@")
        [ "$got" = "$want" ] || fail "$what: HTTP $got, want $want"
        pass "$what: $got"
}

MANIFEST_ACCEPT=(-H 'Accept: application/vnd.oci.image.manifest.v1+json'
                 -H 'Accept: application/vnd.docker.distribution.manifest.v2+json')

# sk_push SRC-TAG REPO:TAG USER:PW: copy a layout image from $TMP/src into berthd.
sk_push() {
        timeout 300 skopeo --command-timeout 240s copy --quiet --dest-cert-dir "$TMP/certs" \
                --dest-creds "$3" "oci:$TMP/src:$1" "docker://$BERTH_HOST/$2"
}

# auth_trust_ca: the CA where skopeo/podman (--cert-dir) look for it.
auth_trust_ca() {
        mkdir -p "$TMP/certs"
        cp "$BERTH_CA" "$TMP/certs/ca.crt"
}

# auth_dockerd: the test's docker daemon (lib.sh)
auth_dockerd() { berth_dockerd; }

# auth_docker_certs: trust berthd's CA in /etc/docker/certs.d/HOST:PORT (removed at exit).
auth_docker_certs() {
        local root=/etc/docker/certs.d dir=/etc/docker/certs.d/$BERTH_HOST
        [ -e "$dir" ] && fail "$dir already exists"
        [ -d "$root" ] || berth_on_exit "rmdir '$root' '/etc/docker' 2>/dev/null"
        berth_on_exit "rm -rf '$dir'"
        mkdir -p "$dir"
        cp "$BERTH_CA" "$dir/ca.crt"
}

# auth_containerd: a private containerd under TMP (native snapshotter, no CRI) whose
# hosts dir trusts berthd's CA, as a node is set up; c runs ctr on it, cpull pulls
# through the hosts dir.
auth_containerd() {
        cd_dir=$TMP/containerd
        mkdir -p "$cd_dir/root" "$cd_dir/state" "$TMP/hosts/$BERTH_HOST"
        cat >"$cd_dir/config.toml" <<EOF
version = 2
root = "$cd_dir/root"
state = "$cd_dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$cd_dir/sock"
[ttrpc]
  address = "$cd_dir/sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
EOF
        cp "$BERTH_CA" "$TMP/hosts/$BERTH_HOST/ca.crt"
        cat >"$TMP/hosts/$BERTH_HOST/hosts.toml" <<EOF
server = "https://$BERTH_HOST"

[host."https://$BERTH_HOST"]
  capabilities = ["pull", "resolve"]
  ca = "$TMP/hosts/$BERTH_HOST/ca.crt"
EOF
        berth_rooted --exec containerd --config "$cd_dir/config.toml" >"$TMP/containerd.log" 2>&1 &
        cd_pid=$!
        berth_track_pid "$cd_pid"
        for _ in $(seq 1 300); do
                c version >/dev/null 2>&1 && return 0
                kill -0 "$cd_pid" 2>/dev/null || { tail -n 30 "$TMP/containerd.log" >&2; fail "containerd exited"; }
                sleep 0.1
        done
        tail -n 30 "$TMP/containerd.log" >&2
        fail "containerd not up"
}
c() { timeout 300 ctr --address "$cd_dir/sock" --namespace berth-test "$@"; }
cpull() { c images pull --hosts-dir "$TMP/hosts" --snapshotter native "$@"; }
