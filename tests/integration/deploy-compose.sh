#!/bin/bash
# The docker-compose demo on a real dockerd: deploy/demo.sh end to end (build, healthy,
# CA, project, robot tokens, docker login/push/rmi/pull, berth pull twice), then
#  - the pushed and pulled digests match, and the registry serves that digest;
#  - the second `berth pull --policy IfNotPresent` sends no request;
#  - data survives `demo.sh down` and a new `up` (the named volume is kept);
#  - `docker stop` during uploads exits 0 within the grace period, and each blob is
#    afterwards either whole (digest verified) or not visible at all.
# The base image is made from Debian packages (no Docker Hub here); the registry is
# reached only through its port published on 127.0.0.1.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/deploy-lib.sh"
set -e

berth_require docker curl jq openssl python3 sha256sum
berth_require_root
# Inside a plain chroot (a minimal CI tree), "/" is no mount point: runc then starts
# containers without pivot_root, and a process it execs into a running container
# (docker exec, and so every HEALTHCHECK) lands in the host's root instead of the
# container's. The demo depends on the health check, so it cannot run there.
if ! mountpoint -q /; then
        echo "SKIP [$BERTH_TEST_NAME]: running in a chroot: container health checks cannot run here"
        exit 77
fi
if docker compose version >/dev/null 2>&1; then
        compose_cmd="docker compose"
else
        berth_require docker-compose
        compose_cmd=docker-compose
fi
TMPDIR=/var/tmp berth_tmpdir        # vfs layers are big: keep them off a tmpfs /tmp

deploy_docker
deploy_base_image

port=$(berth_free_port)
host=127.0.0.1:$port
export BERTH_COMPOSE=$compose_cmd
export BERTH_DEMO_ENV=$TMP/demo.env BERTH_DEMO_STATE=$TMP/state DOCKER_CONFIG=$TMP/docker-config
export COMPOSE_PROJECT_NAME=berthit$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
export BERTH_PORT=$port BERTH_IMAGE=berth:it-$COMPOSE_PROJECT_NAME
# a short drain, so that the upload cut off below is really cut off
export BERTH_GRACE=6
demo=$top_srcdir/deploy/demo.sh
[ -e "/etc/docker/certs.d/$host" ] && fail "/etc/docker/certs.d/$host exists already"
[ -d /etc/docker/certs.d ] || berth_on_exit "rmdir /etc/docker/certs.d /etc/docker 2>/dev/null"
berth_on_exit "BERTH_COMPOSE='$compose_cmd' bash '$demo' purge; rm -rf '/etc/docker/certs.d/$host'"
compose() { $compose_cmd --project-name "$COMPOSE_PROJECT_NAME" --env-file "$BERTH_DEMO_ENV" \
                -f "$top_srcdir/deploy/docker-compose.yml" "$@"; }

step "the compose file is valid for $compose_cmd"
cp "$top_srcdir/deploy/.env.example" "$BERTH_DEMO_ENV"
sed -i "s/^BERTH_ADMIN_PASSWORD=.*/BERTH_ADMIN_PASSWORD=it-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')/" "$BERTH_DEMO_ENV"
compose config >"$TMP/config.yml" 2>"$TMP/config.err" || { cat "$TMP/config.err"; fail "compose config"; }
grep -q "127.0.0.1:$port:5000" "$TMP/config.yml" || grep -q "published: \"\{0,1\}$port" "$TMP/config.yml" ||
        fail "port $port is not published on 127.0.0.1"
# without a password the stack must refuse to start
env -u BERTH_ADMIN_PASSWORD $compose_cmd --project-name x --env-file /dev/null \
        -f "$top_srcdir/deploy/docker-compose.yml" config >/dev/null 2>&1 &&
        fail "compose config accepted a stack without BERTH_ADMIN_PASSWORD"
pass "compose config"

step "deploy/demo.sh (builds the image, starts the stack, pushes and pulls)"
t0=$SECONDS
bash "$demo" >"$TMP/demo.log" 2>&1 || { cat "$TMP/demo.log"; fail "demo.sh failed"; }
cat "$TMP/demo.log"
step "demo.sh took $((SECONDS - t0)) s"
cid=$(compose ps -q berthd)
[ -n "$cid" ] || fail "no berthd container after the demo"
[ "$(dk inspect --format '{{.State.Health.Status}}' "$cid")" = healthy ] || fail "berthd is not healthy"

pushed=$(sed -n 's/^v1: digest: \(sha256:[0-9a-f]\{64\}\) size: [0-9]*$/\1/p' "$BERTH_DEMO_STATE/push.log")
pulled=$(sed -n 's/^Digest: \(sha256:[0-9a-f]\{64\}\)$/\1/p' "$BERTH_DEMO_STATE/pull.log")
[ -n "$pushed" ] || fail "no pushed digest"
[ "$pushed" = "$pulled" ] || fail "pushed $pushed, pulled $pulled"
BERTH_CA=$BERTH_DEMO_STATE/ca.crt
cp "$BERTH_CA" "$TMP/ca.crt"
BERTH_CA=$TMP/ca.crt
admin_pw=$(sed -n 's/^BERTH_ADMIN_PASSWORD=//p' "$BERTH_DEMO_ENV")
served() {
        bcurl -u "admin:$admin_pw" -I -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
                -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
                "https://$host/v2/demo/hello/manifests/v1" | tr -d '\r' |
                awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }'
}
[ "$(served)" = "$pushed" ] || fail "the registry serves $(served), docker pushed $pushed"
pass "pushed and pulled $pushed; the registry serves it"

if [ -f "$BERTH_DEMO_STATE/berth-pull-2.requests" ]; then
        [ "$(cat "$BERTH_DEMO_STATE/berth-pull-1.requests")" -gt 0 ] || fail "the first berth pull sent no request"
        [ "$(cat "$BERTH_DEMO_STATE/berth-pull-2.requests")" -eq 0 ] || fail "the second berth pull sent requests"
        pass "berth pull IfNotPresent: $(cat "$BERTH_DEMO_STATE/berth-pull-1.requests") requests, then none"
else
        [ "${BERTH_REQUIRE_ALL:-0}" = 1 ] && fail "the image has no berth client"
        echo "note: the image has no berth client; its steps were skipped"
fi
step "the image demo.sh built"
size=$(dk image inspect --format '{{.Size}}' "$BERTH_IMAGE")
dk image inspect --format '{{.Config.User}} {{json .Config.ExposedPorts}} {{json .Config.Entrypoint}} {{.Config.StopSignal}}' \
        "$BERTH_IMAGE" >"$TMP/image-config"
read -r user ports entry sig <"$TMP/image-config"
[ "$user" != "" ] && [ "$user" != root ] && [ "${user%%:*}" != 0 ] || fail "the image runs as root ($user)"
[ "$ports" = '{"5000/tcp":{}}' ] || fail "exposed ports: $ports"
[ "$entry" = '["/usr/local/bin/berthd","serve"]' ] || fail "entrypoint: $entry"
[ "$sig" = SIGTERM ] || fail "stop signal: $sig"
dk run --rm --entrypoint sh "$BERTH_IMAGE" -c 'test -x /usr/local/bin/berthd && ! test -e /usr/bin/gcc && ! test -e /usr/include/sqlite3.h' ||
        fail "the runtime image holds build tools or headers, or no berthd"
pass "image $BERTH_IMAGE: $((size / 1000000)) MB, user $user, $ports, $entry, $sig"


read -r healthy_after since_up <"$BERTH_DEMO_STATE/healthy-after"
echo "FIGURES: image $((size / 1000000)) MB; healthy ${healthy_after} s after demo start (${since_up} s after up);" \
        "RSS idle $(cat "$BERTH_DEMO_STATE/rss-idle"), after push/pull $(cat "$BERTH_DEMO_STATE/rss-after")"

step "demo.sh down keeps the data; up serves it again"
bash "$demo" down >"$TMP/down.log" 2>&1 || { cat "$TMP/down.log"; fail "demo.sh down"; }
[ -z "$(compose ps -q berthd 2>/dev/null)" ] || fail "a berthd container is left after down"
[ ! -e "/etc/docker/certs.d/$host" ] || fail "down left /etc/docker/certs.d/$host"
[ ! -e "$BERTH_DEMO_STATE" ] || fail "down left $BERTH_DEMO_STATE"
dk volume inspect "${COMPOSE_PROJECT_NAME}_berth-data" >/dev/null || fail "down removed the data volume"
compose up -d berthd >"$TMP/up.log" 2>&1 || { cat "$TMP/up.log"; fail "compose up"; }
cid=$(compose ps -q berthd)
for _ in $(seq 1 120); do
        [ "$(dk inspect --format '{{.State.Health.Status}}' "$cid")" = healthy ] && break
        sleep 0.5
done
[ "$(dk inspect --format '{{.State.Health.Status}}' "$cid")" = healthy ] || fail "not healthy after up"
cmp -s "$BERTH_CA" <(dk exec "$cid" cat /var/lib/berth/tls/ca.crt) || fail "the CA changed across down/up"
[ "$(served)" = "$pushed" ] || fail "after down/up the registry serves '$(served)', want $pushed"
pass "data and CA kept across down and up"

step "docker stop during two uploads: the short one finishes in the drain, the long one is cut off"
head -c 6000000 /dev/urandom >"$TMP/short.bin"
head -c 60000000 /dev/urandom >"$TMP/long.bin"
# upload FILE: POST, then a monolithic PUT at 2 MB/s; prints curl's status code
upload() {
        local f=$1 loc d
        d=sha256:$(sha256sum "$f" | cut -d' ' -f1)
        loc=$(bcurl -u "admin:$admin_pw" -X POST -o /dev/null -D - "https://$host/v2/demo/drain/blobs/uploads/" |
                tr -d '\r' | awk -F': ' 'tolower($1) == "location" { print $2 }')
        [ -n "$loc" ] || { echo "no-location"; return; }
        case $loc in /*) loc=https://$host$loc ;; esac
        case $loc in *\?*) loc="$loc&digest=$d" ;; *) loc="$loc?digest=$d" ;; esac
        curl -s --max-time 120 --cacert "$BERTH_CA" -u "admin:$admin_pw" -X PUT --limit-rate 2M \
                -H 'Content-Type: application/octet-stream' --data-binary "@$f" \
                -o /dev/null -w '%{http_code}' "$loc" || true
}
upload "$TMP/short.bin" >"$TMP/short.code" &
up_short=$!
upload "$TMP/long.bin" >"$TMP/long.code" &
up_long=$!
berth_track_pid "$up_short"
berth_track_pid "$up_long"
sleep 1.5
t0=$(date +%s.%N)
dk stop "$cid" >/dev/null || fail "docker stop"
stop_secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
wait "$up_short" || true
wait "$up_long" || true
code=$(dk inspect --format '{{.State.ExitCode}}' "$cid")
dk logs "$cid" 2>&1 | tail -n 5
[ "$code" = 0 ] || fail "berthd exited with status $code after docker stop"
awk -v s="$stop_secs" -v g="$BERTH_GRACE" 'BEGIN { exit !(s < g + 5) }' ||
        fail "docker stop took $stop_secs s (grace $BERTH_GRACE s)"
pass "docker stop: exit 0 after $stop_secs s (grace $BERTH_GRACE s, stop_grace_period 40 s)"
echo "upload status codes: short $(cat "$TMP/short.code"), long $(cat "$TMP/long.code")"

dk start "$cid" >/dev/null
for _ in $(seq 1 120); do
        bcurl -o /dev/null "https://$host/healthz" 2>/dev/null && break
        sleep 0.25
done
# visible(FILE): 0 = the blob is served whole with its digest, 1 = not visible, fails otherwise
visible() {
        local f=$1 d code
        d=sha256:$(sha256sum "$f" | cut -d' ' -f1)
        code=$(bcurl -u "admin:$admin_pw" -o "$TMP/got" -w '%{http_code}' "https://$host/v2/demo/drain/blobs/$d")
        case $code in
        200) cmp -s "$f" "$TMP/got" || fail "blob $d is visible but its content differs"; return 0 ;;
        404) return 1 ;;
        *) fail "GET blob $d: HTTP $code" ;;
        esac
}
if visible "$TMP/short.bin"; then s_state=whole; else s_state=absent; fi
if visible "$TMP/long.bin"; then l_state=whole; else l_state=absent; fi
[ "$(cat "$TMP/short.code")" = 201 ] && [ "$s_state" != whole ] && fail "the short upload got 201 but its blob is not there"
[ "$(cat "$TMP/long.code")" = 201 ] && [ "$l_state" != whole ] && fail "the long upload got 201 but its blob is not there"
[ "$l_state" = absent ] || fail "the long upload (30 s at 2 MB/s) cannot have finished within a ${BERTH_GRACE} s drain"
# every stored blob file holds exactly the bytes its name says
dk exec "$cid" sh -c 'cd /var/lib/berth/blobs/sha256 && for f in */*; do
        [ "$(sha256sum "$f" | cut -d" " -f1)" = "${f#*/}" ] || { echo "bad blob file $f"; exit 1; }; done' ||
        fail "a blob file does not match its digest"
pass "after the stop: short upload $s_state, long upload $l_state; every blob file matches its name"

step "demo.sh purge removes the volume"
bash "$demo" purge >"$TMP/purge.log" 2>&1 || { cat "$TMP/purge.log"; fail "demo.sh purge"; }
dk volume inspect "${COMPOSE_PROJECT_NAME}_berth-data" >/dev/null 2>&1 && fail "purge kept the data volume"
pass "purged"
