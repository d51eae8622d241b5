#!/bin/bash
# Several replicas (issue 10, docs/replicas.md), slow tier: three berthd sharing one
# PostgreSQL database (the run's server, tests/pg-server.sh) and one data directory,
# behind haproxy (TLS terminated there with berthd's certificate and re-encrypted to
# the replicas, verified with berthd's CA; round robin, no stickiness,
# X-Forwarded-For, health checks on /readyz). All on 127.0.0.1.
# - X-Forwarded-For: the replicas (--trusted-proxies 127.0.0.1/32) log the client's
#   address, not the balancer's, and not a forged one;
# - a chunked upload whose every request lands on another replica (POST on r1, PATCH
#   on r2, PATCH on r3, status on r1, PUT on r2) gives the blob, pulled from r3;
# - --auth basic: a user made with `berthd user add` (BERTH_DB: the running cluster's
#   database) logs in everywhere; after `berthd user passwd` the old password (cached
#   by every replica) is refused at once by r1, r2 and r3, and a token r1 issued before
#   is refused by r3; a token r1 issues is accepted by r2 and r3;
# - a tag moved on r1 is served with its new digest by r2 and r3 on their next request,
#   and a manifest deleted on one replica is 404 on the others, though each had it in
#   its manifest cache (the change notifications of storage/db.h);
# - the API scripts (api-core.sh, api-v11.sh) through the balancer
#   (BERTH_TEST_SERVER=external), skopeo copy and docker push/pull through it: every
#   replica serves part of them;
# - kill -9 of a replica while it answers a request of a skopeo push (several MB
#   layers): haproxy takes it out of the rotation, the push run again completes
#   through the others, and the replica comes back on its own port;
# - at the end every manifest acknowledged on the way pulls through the balancer and
#   from every replica with its digest, and no replica answered 500.
# PostgreSQL restarting under load: replicas-pg-restart.sh.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/replicas-lib.sh"
set -e

berth_require curl jq haproxy skopeo python3 sha256sum openssl docker dockerd
berth_require_root
berth_require_pg
t_start=$SECONDS
timing() { echo "---- [$BERTH_TEST_NAME] timing: $1 at $((SECONDS - t_start)) s"; }

rep_init
rep_cluster
ha_start
mkdir -p "$TMP/certs"
cp "$BERTH_CA" "$TMP/certs/ca.crt"
ADMIN=(-u "admin:$ADMIN_PW")
OCT='Content-Type: application/octet-stream'
MANIFEST_ACCEPT=(-H 'Accept: application/vnd.oci.image.manifest.v1+json'
                 -H 'Accept: application/vnd.docker.distribution.manifest.v2+json')
ACKED=()        # REPO@DIGEST of every manifest a registry acknowledged
timing "cluster and haproxy up"

# code URL [CURL ARGS...]: the status of a request (000 when none)
code() {
        local url=$1
        shift
        curl -s -o /dev/null -w '%{http_code}' --max-time 30 --cacert "$BERTH_CA" "$@" "$url" 2>/dev/null || true
}
# expect WANT WHAT URL [CURL ARGS...]
expect() {
        local want=$1 what=$2 got
        shift 2
        got=$(code "$@")
        [ "$got" = "$want" ] || fail "$what: HTTP $got, want $want"
        pass "$what: $got"
}
# served LOG-PATTERN: the replicas (r1 r2 ...) whose access log has a line matching it
served() { grep -E "$1" "$TMP/berthd.log" | sed -n 's/^\[\(r[0-9]\)\] .*/\1/p' | sort -u | tr '\n' ' '; }
# served_by LOG-PATTERN WANT: served gives WANT within 5 s (the log lines reach
# $TMP/berthd.log through a pipe, a moment after the answer)
served_is() { [ "$(served "$1")" = "$2" ]; }
served_by() { berth_wait_for 5 served_is "$@"; }
# sha256 of a file, with its prefix
sha() { printf 'sha256:%s' "$(sha256sum "$1" | cut -d' ' -f1)"; }

# --- X-Forwarded-For ---------------------------------------------------------------
step "X-Forwarded-For from the balancer names the client"
# the client on 127.0.0.2 (the balancer and the replicas on 127.0.0.1); a forged
# header before the balancer's must not be believed
for i in 1 2 3; do
        code "$HA_URL/v2/xff/probe$i/tags/list" --interface 127.0.0.2 -H 'X-Forwarded-For: 203.0.113.9' \
                "${ADMIN[@]}" >/dev/null
done
served_by ' GET /v2/xff/probe[123]/tags/list ' "r1 r2 r3 " ||
        fail "three requests through the balancer reached $(served ' GET /v2/xff/'), want r1 r2 r3 (round robin)"
[ "$(grep -cE '127\.0\.0\.2 admin GET /v2/xff/probe[123]/tags/list ' "$TMP/berthd.log")" = 3 ] ||
        { grep -F /v2/xff/ "$TMP/berthd.log" >&2 || true; fail "the access log does not name the client 127.0.0.2"; }
grep -F /v2/xff/ "$TMP/berthd.log" | grep -qF 203.0.113.9 && fail "a forged X-Forwarded-For reached the access log"
pass "the replicas log 127.0.0.2 (through haproxy, round robin over r1 r2 r3)"

# --- one upload, a replica per request -----------------------------------------------
step "a chunked upload across the replicas: POST r1, PATCH r2, PATCH r3, status r1, PUT r2"
R=rep/chunked
head -c 1048576 /dev/urandom >"$TMP/c1"
head -c 1048576 /dev/urandom >"$TMP/c2"
head -c 524288 /dev/urandom >"$TMP/c3"
cat "$TMP/c1" "$TMP/c2" "$TMP/c3" >"$TMP/chunked"
DC=$(sha "$TMP/chunked")
# up I METHOD PATH-OR-LOCATION [CURL ARGS...]: a request to replica I; headers in $TMP/h
up() {
        local i=$1 m=$2 p=$3
        shift 3
        curl -sS --max-time 30 --cacert "$BERTH_CA" "${ADMIN[@]}" -X "$m" -D "$TMP/h" -o "$TMP/b" \
                -w '%{http_code}' "$@" "${REP_URL[$i]}$p" 2>/dev/null || true
}
hdr() { tr -d '\r' <"$TMP/h" | awk -v n="$1" \
        '{ i = index($0, ":"); if (i && tolower(substr($0, 1, i - 1)) == tolower(n)) { v = substr($0, i + 1); sub(/^[ \t]+/, "", v); print v } }' | tail -n 1; }
st=$(up 1 POST "/v2/$R/blobs/uploads/")
[ "$st" = 202 ] || fail "POST on r1: $st"
loc=$(hdr Location)
case $loc in /v2/$R/blobs/uploads/*) ;; *) fail "POST on r1: Location '$loc' is not a path of this upload" ;; esac
st=$(up 2 PATCH "$loc" -H "$OCT" -H 'Content-Range: 0-1048575' --data-binary "@$TMP/c1")
[ "$st $(hdr Range)" = "202 0-1048575" ] || fail "PATCH on r2: $st, Range '$(hdr Range)'"
loc=$(hdr Location)
st=$(up 3 PATCH "$loc" -H "$OCT" -H 'Content-Range: 1048576-2097151' --data-binary "@$TMP/c2")
[ "$st $(hdr Range)" = "202 0-2097151" ] || fail "PATCH on r3: $st, Range '$(hdr Range)'"
loc=$(hdr Location)
# r1 made the session and saw none of its chunks
st=$(up 1 GET "$loc")
[ "$st $(hdr Range)" = "204 0-2097151" ] || fail "status on r1: $st, Range '$(hdr Range)', want 204 0-2097151"
# a chunk that does not continue the upload is refused there, and changes nothing
st=$(up 1 PATCH "$loc" -H "$OCT" -H 'Content-Range: 0-1048575' --data-binary "@$TMP/c1")
[ "$st $(hdr Range)" = "416 0-2097151" ] || fail "PATCH on r1 restarting at 0: $st, Range '$(hdr Range)', want 416 0-2097151"
case $loc in *\?*) put="$loc&digest=$DC" ;; *) put="$loc?digest=$DC" ;; esac
st=$(up 2 PUT "$put" -H "$OCT" --data-binary "@$TMP/c3")
[ "$st $(hdr Docker-Content-Digest)" = "201 $DC" ] || fail "closing PUT on r2: $st, digest '$(hdr Docker-Content-Digest)'"
st=$(up 3 GET "/v2/$R/blobs/$DC")
[ "$st $(sha "$TMP/b")" = "200 $DC" ] || fail "GET of the blob on r3: $st, content $(sha "$TMP/b")"
pass "the blob $DC, made on three replicas, pulled from r3"
timing "chunked upload"

# --- manifest changes across the replicas (their caches) ---------------------------------
step "a tag moved on r1 is served with the new digest by r2 next; a manifest deleted on r1 is 404 on r2"
R=rep/moved
printf '{"architecture":"amd64","os":"linux"}' >"$TMP/cfg"
DCFG=$(sha "$TMP/cfg")
st=$(up 1 POST "/v2/$R/blobs/uploads/?digest=$DCFG" -H "$OCT" --data-binary "@$TMP/cfg")
[ "$st" = 201 ] || fail "config blob on r1: $st"
# man N: an image manifest (the config alone), told apart by an annotation
man() {
        printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        printf '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},' \
                "$DCFG" "$(stat -c %s "$TMP/cfg")"
        printf '"layers":[],"annotations":{"n":"%s"}}' "$1"
}
MT='Content-Type: application/vnd.oci.image.manifest.v1+json'
ACC='Accept: application/vnd.oci.image.manifest.v1+json'
man 1 >"$TMP/m1"
man 2 >"$TMP/m2"
DM1=$(sha "$TMP/m1")
DM2=$(sha "$TMP/m2")
st=$(up 1 PUT "/v2/$R/manifests/v1" -H "$MT" --data-binary "@$TMP/m1")
[ "$st" = 201 ] || fail "PUT of manifest 1 as $R:v1 on r1: $st"
for i in 2 3 2 3; do # twice each: the second from the replica's cache
        st=$(up "$i" GET "/v2/$R/manifests/v1" -H "$ACC")
        [ "$st $(hdr Docker-Content-Digest)" = "200 $DM1" ] || fail "GET $R:v1 on r$i: $st $(hdr Docker-Content-Digest), want $DM1"
        st=$(up "$i" GET "/v2/$R/manifests/$DM1" -H "$ACC")
        [ "$st" = 200 ] || fail "GET $R@$DM1 on r$i: $st"
done
st=$(up 1 PUT "/v2/$R/manifests/v1" -H "$MT" --data-binary "@$TMP/m2")
[ "$st" = 201 ] || fail "PUT of manifest 2 as $R:v1 on r1: $st"
for i in 2 3; do
        st=$(up "$i" GET "/v2/$R/manifests/v1" -H "$ACC")
        [ "$st $(hdr Docker-Content-Digest) $(sha "$TMP/b")" = "200 $DM2 $DM2" ] ||
                fail "GET $R:v1 on r$i right after the tag moved on r1: $st $(hdr Docker-Content-Digest), want $DM2"
done
st=$(up 1 DELETE "/v2/$R/manifests/$DM1")
[ "$st" = 202 ] || fail "DELETE $R@$DM1 on r1: $st"
for i in 2 3; do
        st=$(up "$i" GET "/v2/$R/manifests/$DM1" -H "$ACC")
        [ "$st" = 404 ] || fail "GET $R@$DM1 on r$i right after its delete on r1: $st, want 404"
done
st=$(up 3 DELETE "/v2/$R/manifests/$DM2")
[ "$st" = 202 ] || fail "DELETE $R@$DM2 on r3: $st"
for i in 1 2; do
        st=$(up "$i" GET "/v2/$R/manifests/v1" -H "$ACC")
        [ "$st" = 404 ] || fail "GET $R:v1 on r$i right after its manifest was deleted on r3: $st, want 404"
done
pass "tag moves and deletes on one replica seen by the others on their next request"
timing "manifest changes"

# --- auth across the replicas ----------------------------------------------------------
step "berthd user add / passwd against the running cluster, tokens across replicas"
bd() { timeout 120 "$top_builddir/berthd" --data "$REP_DATA" "$@"; }
PW1=alice-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
PW2=alice-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$PW1" | bd user add alice >/dev/null || fail "berthd user add alice (BERTH_DB)"
head -c 4096 /dev/urandom >"$TMP/a1"
DA=$(sha "$TMP/a1")
expect 201 "alice pushes a blob to alice/own on r1" "${REP_URL[1]}/v2/alice/own/blobs/uploads/?digest=$DA" \
        -u "alice:$PW1" -X POST -H "$OCT" --data-binary "@$TMP/a1"
for i in 1 2 3; do
        # twice each: the second is answered from the replica's verified-credentials cache
        expect 200 "alice (old password) on r$i" "${REP_URL[$i]}/v2/alice/own/blobs/$DA" -I -u "alice:$PW1"
        expect 200 "alice (old password) on r$i again" "${REP_URL[$i]}/v2/alice/own/blobs/$DA" -I -u "alice:$PW1"
done
# token URL [CURL ARGS...]: a token from /auth/token (pull,push on alice/own)
token() {
        local url=$1
        shift
        curl -sS --max-time 30 --cacert "$BERTH_CA" "$@" \
                "$url/auth/token?service=berth&scope=repository:alice/own:pull,push" | jq -r '.token // empty'
}
T1=$(token "${REP_URL[1]}" -u "alice:$PW1")
[ -n "$T1" ] || fail "no token from r1's /auth/token"
expect 200 "r1's token at r2" "${REP_URL[2]}/v2/alice/own/blobs/$DA" -I -H "Authorization: Bearer $T1"
printf '%s\n' "$PW2" | bd user passwd alice >/dev/null || fail "berthd user passwd alice (BERTH_DB)"
for i in 2 3 1; do
        expect 401 "alice's old password on r$i right after the change" "${REP_URL[$i]}/v2/alice/own/blobs/$DA" \
                -I -u "alice:$PW1"
done
for i in 2 3; do
        expect 200 "alice's new password on r$i" "${REP_URL[$i]}/v2/alice/own/blobs/$DA" -I -u "alice:$PW2"
done
expect 401 "r1's token from before the change, at r3" "${REP_URL[3]}/v2/alice/own/blobs/$DA" -I -H "Authorization: Bearer $T1"
T2=$(token "${REP_URL[1]}" -u "alice:$PW2")
[ -n "$T2" ] || fail "no token from r1's /auth/token with the new password"
expect 200 "r1's new token pulls at r2" "${REP_URL[2]}/v2/alice/own/blobs/$DA" -I -H "Authorization: Bearer $T2"
head -c 4096 /dev/urandom >"$TMP/a2"
expect 201 "r1's new token pushes at r3" "${REP_URL[3]}/v2/alice/own/blobs/uploads/?digest=$(sha "$TMP/a2")" \
        -X POST -H "Authorization: Bearer $T2" -H "$OCT" --data-binary "@$TMP/a2"
timing "auth"

# --- the API scripts through the balancer ------------------------------------------------
for s in api-core api-v11; do
        step "$s.sh through the balancer"
        rc=0
        env BERTH_TEST_SERVER=external BERTH_TEST_EXTERNAL_URL="$HA_URL" BERTH_TEST_EXTERNAL_CA="$BERTH_CA" \
                BERTH_TEST_EXTERNAL_DATA="$REP_DATA" BERTH_TEST_EXTERNAL_LOG="$TMP/berthd.log" \
                BERTH_TEST_EXTERNAL_USER="admin:$ADMIN_PW" \
                bash "$BERTH_IT_DIR/$s.sh" </dev/null >"$TMP/$s.out" 2>&1 || rc=$?
        grep -E '^(FAIL|PASS|SKIP)' "$TMP/$s.out" || true
        [ $rc -eq 0 ] || { tail -n 40 "$TMP/$s.out" >&2; fail "$s.sh through the balancer: status $rc"; }
        pass "$s.sh: $(grep -c '^ok' "$TMP/$s.out") assertions through haproxy"
done
timing "API scripts"

# --- skopeo through the balancer -------------------------------------------------------
# sk_push SRC-TAG REPO:TAG DIGEST-FILE: copy a layout image from $TMP/src through haproxy
sk_push() {
        timeout 300 skopeo --command-timeout 240s copy --quiet --dest-cert-dir "$TMP/certs" \
                --dest-creds "admin:$ADMIN_PW" --digestfile "$3" "oci:$TMP/src:$1" "docker://$HA_HOST/$2"
}
step "skopeo copy through the balancer"
berth_mkimage "$TMP/src" --tag sk --layers 3 --layer-size 1M --seed replicas-sk --gzip >/dev/null
sk_push sk rep/skopeo:v1 "$TMP/sk.digest" || fail "skopeo copy to the balancer"
ACKED+=("rep/skopeo@$(cat "$TMP/sk.digest")")
served_by ' /v2/rep/skopeo/' "r1 r2 r3 " || fail "the push of rep/skopeo went to $(served ' /v2/rep/skopeo/') only, want r1 r2 r3"
who=$(served ' /v2/rep/skopeo/')
timeout 300 skopeo copy --quiet --src-cert-dir "$TMP/certs" --src-creds "admin:$ADMIN_PW" \
        "docker://$HA_HOST/rep/skopeo:v1" "oci:$TMP/sk-pull:v1" || fail "skopeo pull through the balancer"
[ "$(jq -r '.manifests[0].digest' "$TMP/sk-pull/index.json")" = "$(cat "$TMP/sk.digest")" ] ||
        fail "skopeo pulled another manifest"
pass "skopeo pushed and pulled rep/skopeo:v1 ($(cat "$TMP/sk.digest")) through haproxy, served by $who"
timing "skopeo"

# --- docker through the balancer -------------------------------------------------------
step "docker login, push, pull through the balancer"
berth_dockerd
dk() { timeout 300 docker "$@"; }
export DOCKER_CONFIG=$TMP/docker-config
mkdir -p "$DOCKER_CONFIG"
certs_root=/etc/docker/certs.d
certs_dir=$certs_root/$HA_HOST
[ -e "$certs_dir" ] && fail "$certs_dir already exists"
[ -d "$certs_root" ] || berth_on_exit "rmdir '$certs_root' '/etc/docker' 2>/dev/null"
berth_on_exit "rm -rf '$certs_dir'"
mkdir -p "$certs_dir"
cp "$BERTH_CA" "$certs_dir/ca.crt"
printf '%s\n' "$ADMIN_PW" | dk login -u admin --password-stdin "$HA_HOST" >"$TMP/login.out" 2>&1 ||
        { cat "$TMP/login.out"; fail "docker login to the balancer"; }
drepo=$HA_HOST/rep/docker
berth_mkimage "$TMP/src" --tag dk --layers 3 --layer-size 1M --seed replicas-docker >/dev/null
skopeo copy --quiet "oci:$TMP/src:dk" "docker-archive:$TMP/dk.tar:$drepo:v1" || fail "skopeo: docker-archive"
dk load -q -i "$TMP/dk.tar" >/dev/null || fail "docker load"
[ "$BERTH_OWN_DOCKERD" = 1 ] || berth_on_exit "docker rmi -f '$drepo:v1'"
id=$(dk image inspect --format '{{.Id}}' "$drepo:v1")
dk push "$drepo:v1" >"$TMP/dpush.out" 2>&1 || { cat "$TMP/dpush.out"; fail "docker push through the balancer"; }
dd=$(sed -n 's/^v1: digest: \(sha256:[0-9a-f]\{64\}\) size: [0-9]*$/\1/p' "$TMP/dpush.out")
[ -n "$dd" ] || { cat "$TMP/dpush.out"; fail "no digest in docker's push output"; }
ACKED+=("rep/docker@$dd")
dk rmi -f "$drepo:v1" >/dev/null
dk pull -q "$drepo:v1" >/dev/null || fail "docker pull through the balancer"
[ "$(dk image inspect --format '{{.Id}}' "$drepo:v1")" = "$id" ] || fail "docker pulled another image"
served_by ' /v2/rep/docker/' "r1 r2 r3 " || fail "docker's push and pull went to $(served ' /v2/rep/docker/') only, want r1 r2 r3"
who=$(served ' /v2/rep/docker/')
pass "docker pushed and pulled $drepo:v1 ($dd) through haproxy, served by $who"
timing "docker"

# --- kill -9 of a replica in the middle of a push ----------------------------------------
step "kill -9 of r2 while it writes a layer of a skopeo push"
# r2_writing: r2 holds the lock of an upload file that holds data: it is receiving a
# PATCH or PUT body (/proc/locks: an flock's holder PID and the file's inode)
r2_writing() {
        local f ino
        for f in "$REP_DATA"/uploads/*; do
                [ -s "$f" ] || continue
                ino=$(stat -c %i "$f" 2>/dev/null) || continue
                grep -qE "^[0-9]+: FLOCK +ADVISORY +WRITE +${REP_PID[2]} +[0-9a-f]+:[0-9a-f]+:$ino " /proc/locks && return 0
        done
        return 1
}
killed=0
for try in 1 2 3; do
        berth_mkimage "$TMP/src" --tag kill$try --layers 4 --layer-size 8M --seed "replicas-kill-$try" >/dev/null
        sk_push "kill$try" "rep/kill:v$try" "$TMP/kill$try.digest" >"$TMP/kill$try.out" 2>&1 &
        skp=$!
        end=$((SECONDS + 60))
        while kill -0 "$skp" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do
                if r2_writing; then
                        rep_kill9 2
                        killed=$try
                        break
                fi
        done
        rc=0
        wait "$skp" || rc=$?
        if [ "$rc" -eq 0 ]; then
                ACKED+=("rep/kill@$(cat "$TMP/kill$try.digest")")
                echo "the push of rep/kill:v$try completed (status 0)"
        else
                echo "the push of rep/kill:v$try failed (status $rc): $(tail -n 1 "$TMP/kill$try.out")"
        fi
        [ "$killed" -eq 0 ] || break
        echo "r2 wrote no layer of push $try while it was watched: again"
done
[ "$killed" -gt 0 ] || fail "r2 was never seen writing a layer of the push in 3 tries"
grep -E 'berthd/r2 .* "(PATCH|PUT|POST) /v2/rep/kill/' "$TMP/haproxy.log" | tail -n 3 || true
timing "kill -9 during the push"
ha_wait r2 DOWN 10 || fail "haproxy still has r2 in the rotation 10 s after its death ($(ha_state r2))"
pass "haproxy took r2 out of the rotation ($(ha_state r2))"
for n in $(seq 1 12); do
        expect 200 "GET /v2/ through the balancer without r2 ($n)" "$HA_URL/v2/" "${ADMIN[@]}" >/dev/null
done
pass "12 requests through the balancer answered by r1 and r3"
step "the client's retry: the same push again, through the two left"
sk_push "kill$killed" "rep/kill:v$killed" "$TMP/kill-retry.digest" >"$TMP/kill-retry.out" 2>&1 ||
        { cat "$TMP/kill-retry.out"; fail "the push run again after the kill failed"; }
ACKED+=("rep/kill@$(cat "$TMP/kill-retry.digest")")
pass "the push run again completed: rep/kill:v$killed is $(cat "$TMP/kill-retry.digest")"
timing "kill -9 and retry"

step "r2 back on its port"
rep_start 2
ha_wait r2 UP 15 || fail "haproxy does not see r2 UP again within 15 s"
pass "r2 is back in the rotation"

# --- every acknowledged manifest ------------------------------------------------------
step "every manifest acknowledged on the way pulls with its digest"
for ref in "${ACKED[@]}"; do
        repo=${ref%@*}
        dig=${ref#*@}
        got=$(timeout 120 skopeo inspect --raw --cert-dir "$TMP/certs" --creds "admin:$ADMIN_PW" \
                "docker://$HA_HOST/$ref" | sha256sum | cut -d' ' -f1) || fail "skopeo inspect $ref"
        [ "sha256:$got" = "$dig" ] || fail "$ref through the balancer: the manifest hashes to sha256:$got"
        for i in 1 2 3; do
                curl -sS --max-time 30 --cacert "$BERTH_CA" "${ADMIN[@]}" "${MANIFEST_ACCEPT[@]}" \
                        -o "$TMP/m" "${REP_URL[$i]}/v2/$repo/manifests/$dig" || fail "GET $ref from r$i"
                [ "$(sha "$TMP/m")" = "$dig" ] || fail "$ref from r$i: the manifest hashes to $(sha "$TMP/m")"
        done
done
timeout 300 skopeo copy --quiet --src-cert-dir "$TMP/certs" --src-creds "admin:$ADMIN_PW" \
        "docker://$HA_HOST/rep/kill:v$killed" "oci:$TMP/kill-pull:v1" || fail "skopeo pull of rep/kill:v$killed"
pass "${#ACKED[@]} acknowledged manifests pull with their digests (through haproxy and from r1, r2, r3)"

# --- no replica answered 500 ------------------------------------------------------------
if grep -E ' (GET|HEAD|POST|PUT|PATCH|DELETE) [^ ]+ 5[0-9][0-9] ' "$TMP/berthd.log" | grep -v ' 503 ' >"$TMP/5xx"; then
        cat "$TMP/5xx" >&2
        fail "replicas answered with a server error"
fi
pass "no replica answered 5xx (other than 503)"
timing "done"
