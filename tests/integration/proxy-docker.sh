#!/usr/bin/env bash
# A real dockerd pulls Docker Hub names through berth (issue 13): its registry-mirrors
# is berth (the CA in /etc/docker/certs.d/HOST:PORT), berth's --docker-mirror proxy
# project caches an upstream (Debian's docker-registry on loopback, plain HTTP)
# seeded with library/alpine:3 and library/busybox:latest. `docker pull alpine:3`
# must come through berth (the upstream's log shows the blobs fetched once, berth's
# the mirror requests); a second pull of the same image after `docker rmi` asks the
# upstream for nothing within the TTL. A private dockerd (vfs, no iptables, no
# bridge) on its own socket and data root.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
berth_require docker dockerd containerd skopeo curl docker-registry
berth_require_root
berth_tmpdir

# ---- the upstream ----
UP_PORT=$(berth_free_port) || fail "no free port"
UP=127.0.0.1:$UP_PORT
mkdir -p "$TMP/up-data"
cat >"$TMP/up.yml" <<EOF
version: 0.1
log: {level: info, accesslog: {disabled: false}}
storage: {filesystem: {rootdirectory: $TMP/up-data}}
http: {addr: "$UP", secret: berth-proxy-docker}
EOF
docker-registry serve "$TMP/up.yml" >>"$TMP/up.log" 2>&1 &
berth_track_pid $!
berth_wait_for 15 curl -s -o /dev/null "http://$UP/v2/" || fail "the upstream does not start"
for img in alpine:3 busybox:latest; do
        berth_mkimage "$TMP/img" --tag "${img#*:}" --layers 2 --layer-size 256K --seed "$img" >/dev/null ||
                fail "mkimage $img"
        timeout 120 skopeo copy --quiet --dest-tls-verify=false "oci:$TMP/img:${img#*:}" \
                "docker://$UP/library/$img" || fail "push library/$img to the upstream"
done

# ---- berth with the docker mirror project ----
berth_start
timeout 60 "$top_builddir/berthd" --data "$TMP/data" project create hub --public --proxy "http://$UP" \
        --mirror-of docker.io --docker-mirror >"$TMP/out" 2>&1 || fail "project create hub: $(cat "$TMP/out")"
certs_root=/etc/docker/certs.d
certs_dir=$certs_root/$BERTH_HOST
[ -e "$certs_dir" ] && fail "$certs_dir already exists"
[ -d "$certs_root" ] || berth_on_exit "rmdir '$certs_root' '/etc/docker' 2>/dev/null"
berth_on_exit "rm -rf '$certs_dir'"
mkdir -p "$certs_dir" && cp "$BERTH_CA" "$certs_dir/ca.crt" || fail "certs"

# ---- a private dockerd whose registry mirror is berth ----
BERTH_DOCKERD_CONFIG="{\"registry-mirrors\": [\"https://$BERTH_HOST\"]}"
berth_dockerd
dk() { timeout 300 docker "$@"; }
grep -q "https://$BERTH_HOST" <(dk info 2>/dev/null) || fail "dockerd does not list berth as its mirror"
sleep 2.5 # the server reads the proxy projects at most every 2 s

step "docker pull alpine:3 and busybox through the mirror"
for img in alpine:3 busybox:latest; do
        dk pull -q "$img" >"$TMP/out" 2>&1 || fail "docker pull $img: $(cat "$TMP/out"; tail -n 20 "$TMP/berthd.log")"
        grep -q "/v2/library/${img%%:*}/manifests/${img#*:}" "$TMP/berthd.log" ||
                fail "berth saw no manifest request for $img"
done
up_id=$(timeout 60 skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$UP/library/alpine:3") ||
        fail "inspect upstream"
dk image inspect --format '{{join .RepoDigests " "}}' alpine:3 | grep -q "$up_id" ||
        fail "docker's alpine:3 is not the upstream's $up_id: $(dk image inspect --format '{{.RepoDigests}}' alpine:3)"
n=$(grep -c '"GET /v2/library/alpine/blobs/' "$TMP/up.log")
[ "$n" -ge 1 ] || fail "the upstream served no alpine blob"
pass "docker pulled both images through berth; alpine:3 has the upstream's digest"

step "again after docker rmi: nothing asked of the upstream within the TTL"
dk rmi -f alpine:3 >/dev/null || fail "docker rmi"
before=$(grep -c '"\(GET\|HEAD\) /v2/library/' "$TMP/up.log")
dk pull -q alpine:3 >"$TMP/out" 2>&1 || fail "second docker pull alpine:3: $(cat "$TMP/out")"
after=$(grep -c '"\(GET\|HEAD\) /v2/library/' "$TMP/up.log")
[ "$after" = "$before" ] || fail "the second pull reached the upstream $((after - before)) times"
pass "the second pull was answered from berth"

berth_stop
pass "all"
