#!/usr/bin/env bash
# Pull-through cache as containerd's mirror (issue 13): one berth mirrors two
# registries. A containerd started here pulls docker.io/library/alpine:3 and
# ghcr.io/team/app:v1 with a hosts dir whose mirror is berth; containerd adds
# ?ns=docker.io / ?ns=ghcr.io, and berth answers each from the proxy project that
# mirrors that host, whose upstreams are two berthd on loopback standing in for the
# real registries (their hosts.toml "server" is a dead loopback port: nothing leaves
# the machine). Slow tier: needs root for containerd.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/auth-lib.sh"
berth_require containerd ctr curl python3 skopeo
berth_require_root
berth_tmpdir

bd() { timeout 60 "$top_builddir/berthd" --data "$TMP/data" "$@"; }

# two upstreams: plain berthd over http, seeded here
UP_PIDS=()
up_start() { # NAME: sets UP_<NAME>
        local port
        port=$(berth_free_port) || fail "no free port"
        "$top_builddir/berthd" serve --listen "127.0.0.1:$port" --data "$TMP/up-$1" --auth none --insecure-http \
                >>"$TMP/up-$1.log" 2>&1 &
        berth_track_pid $!
        UP_PIDS+=($!)
        berth_wait_for 15 curl -s -o /dev/null "http://127.0.0.1:$port/healthz" || fail "upstream $1 does not start"
        eval "UP_$1=127.0.0.1:$port"
}
up_start hub
up_start gh
berth_mkimage "$TMP/img" --tag a --layers 2 --layer-size 64K --seed mirror-alpine \
        --platforms linux/amd64,linux/arm64 >/dev/null
berth_mkimage "$TMP/img" --tag b --layers 2 --layer-size 64K --seed mirror-app \
        --platforms linux/amd64,linux/arm64 >/dev/null
timeout 120 skopeo copy --all --quiet --dest-tls-verify=false "oci:$TMP/img:a" "docker://$UP_hub/library/alpine:3" ||
        fail "seed upstream hub"
timeout 120 skopeo copy --all --quiet --dest-tls-verify=false "oci:$TMP/img:b" "docker://$UP_gh/team/app:v1" ||
        fail "seed upstream gh"

berth_start --metrics-listen "127.0.0.1:$(berth_free_port)"
bd project create hub --public --proxy "http://$UP_hub" --mirror-of docker.io >/dev/null || fail "project hub"
bd project create gh --public --proxy "http://$UP_gh" --mirror-of ghcr.io >/dev/null || fail "project gh"
bd project show hub >"$TMP/show" || fail "project show hub"
grep -q 'certs.d/docker.io/hosts.toml' "$TMP/show" || fail "project show: $(cat "$TMP/show")"

# the node's hosts dir: the real registries' names, berth as their mirror
auth_containerd
for host in docker.io ghcr.io; do
        mkdir -p "$TMP/hosts/$host"
        cat >"$TMP/hosts/$host/hosts.toml" <<EOF
server = "https://127.0.0.1:9"

[host."https://$BERTH_HOST"]
  capabilities = ["pull", "resolve"]
  ca = "$TMP/hosts/$BERTH_HOST/ca.crt"
EOF
done
sleep 2 # the server reads the proxy projects at most every 2 s

step "ctr images pull through berth as the mirror of docker.io and ghcr.io"
cpull docker.io/library/alpine:3 >"$TMP/ctr-alpine.out" 2>&1 || { cat "$TMP/ctr-alpine.out"; fail "ctr pull docker.io/library/alpine:3"; }
cpull ghcr.io/team/app:v1 >"$TMP/ctr.out" 2>&1 || { cat "$TMP/ctr.out"; fail "ctr pull ghcr.io/team/app:v1"; }
# listed (a ctr call that fails for a moment on a loaded machine is asked again)
listed() { c images ls -q >"$TMP/images" 2>&1 && grep -qx "$1" "$TMP/images"; }
berth_wait_for 10 listed docker.io/library/alpine:3 || fail "alpine:3 not in containerd: $(cat "$TMP/images"); the pull said: $(tail -n 5 "$TMP/ctr-alpine.out")"
berth_wait_for 10 listed ghcr.io/team/app:v1 || fail "team/app:v1 not in containerd: $(cat "$TMP/images")"
# berth's access log has the path as the client sent it (the ns is in the query)
grep -q ' /v2/library/alpine/manifests/3 200' "$TMP/berthd.log" || fail "berth did not serve library/alpine"
grep -q ' /v2/team/app/manifests/v1 200' "$TMP/berthd.log" || fail "berth did not serve team/app"
grep -q 'GET /v2/library/alpine/manifests/3 200' "$TMP/up-hub.log" || fail "upstream hub was not asked"
grep -q 'GET /v2/team/app/manifests/v1 200' "$TMP/up-gh.log" || fail "upstream gh was not asked"
# each went to its own upstream only
grep -q '/v2/team/app/' "$TMP/up-hub.log" && fail "upstream hub was asked for team/app"
grep -q '/v2/library/alpine/' "$TMP/up-gh.log" && fail "upstream gh was asked for library/alpine"
pass "one berth mirrors two registries for containerd (ns=docker.io, ns=ghcr.io)"

step "pulled again with both upstreams gone: from the cache"
for p in "${UP_PIDS[@]}"; do kill "$p"; wait "$p" 2>/dev/null; done
c images rm docker.io/library/alpine:3 ghcr.io/team/app:v1 >/dev/null || fail "ctr images rm"
c content ls -q | xargs -r ctr --address "$cd_dir/sock" --namespace berth-test content rm >/dev/null 2>&1
cpull docker.io/library/alpine:3 >"$TMP/ctr.out" 2>&1 || { cat "$TMP/ctr.out"; fail "cached pull without the upstream"; }
pass "cached image pulled with the upstream stopped"
berth_stop
