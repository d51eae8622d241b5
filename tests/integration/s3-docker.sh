#!/bin/bash
# docker against berthd with its blobs in S3 (slow tier: the run's Ceph RADOS
# Gateway, tests/ceph-rgw.sh; root for a private dockerd). A real dockerd pushes an
# image of three layers to berthd on the bucket, then pulls it back twice: through
# berthd (the blobs read from the bucket and sent by berthd), and with --s3-redirect,
# where every layer GET is answered 307 to a presigned URL and docker fetches it from
# the gateway itself (the gateway's log shows each layer's GET, berthd's log the
# 307s) without sending berthd's credentials there. Both pulls give the same image id.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/s3-lib.sh"
set -e

berth_require docker dockerd skopeo curl jq python3
berth_require_root
berth_tmpdir
s3_test_setup dk

berth_dockerd
dk() { timeout 300 docker "$@"; }
certs_root=/etc/docker/certs.d
[ -d "$certs_root" ] || berth_on_exit "rmdir '$certs_root' '/etc/docker' 2>/dev/null"
trust() { # docker trusts berthd's CA for BERTH_HOST (its port changes with each start)
        local d=$certs_root/$BERTH_HOST
        [ -e "$d" ] && fail "$d already exists"
        berth_on_exit "rm -rf '$d'"
        mkdir -p "$d"
        cp "$BERTH_CA" "$d/ca.crt"
}
berth_start --storage "$STORAGE"
trust

repo=$BERTH_HOST/it/dk
berth_mkimage "$TMP/src" --tag one --layers 3 --layer-size 2M --seed s3-docker >/dev/null
skopeo copy --quiet "oci:$TMP/src:one" "docker-archive:$TMP/one.tar:$repo:one" || fail "skopeo: docker-archive"
dk load -q -i "$TMP/one.tar" >/dev/null || fail "docker load"
[ "$BERTH_OWN_DOCKERD" = 1 ] || berth_on_exit "docker rmi -f '$repo:one' >/dev/null 2>&1"
id=$(dk image inspect --format '{{.Id}}' "$repo:one")

step "docker push to berthd on S3"
dk push "$repo:one" >"$TMP/push.log" 2>&1 || { cat "$TMP/push.log"; fail "docker push"; }
[ "$(grep -c ': Pushed$' "$TMP/push.log")" -eq 3 ] || fail "expected 3 layers pushed: $(cat "$TMP/push.log")"
bcurl -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
        "$BERTH_URL/v2/it/dk/manifests/one" >"$TMP/manifest.json" || fail "manifest"
layers=$(jq -r '.layers[].digest' "$TMP/manifest.json")
[ "$(echo "$layers" | wc -l)" = 3 ] || fail "manifest layers: $layers"
s3_keys reg/blobs/ >"$TMP/keys"
for b in $layers $(jq -r '.config.digest' "$TMP/manifest.json"); do
        grep -qx "reg/blobs/sha256/${b#sha256:}" "$TMP/keys" || fail "no object for $b in the bucket"
done
[ -z "$(find "$BERTH_DATA" -path '*/blobs/*' -type f 2>/dev/null)" ] || fail "blob files under DATA"
pass "three layers and the config are objects in the bucket, nothing under DATA"

step "docker pull back through berthd (blobs read from the bucket)"
dk rmi -f "$repo:one" >/dev/null
dk pull -q "$repo:one" >/dev/null || fail "docker pull"
[ "$(dk image inspect --format '{{.Id}}' "$repo:one")" = "$id" ] || fail "pulled another image id"
pass "the same image id"

step "--s3-redirect: docker follows the 307s and fetches the layers from the gateway"
berth_stop
berth_start --storage "$STORAGE" --s3-redirect
trust
dk rmi -f "$repo:one" >/dev/null
repo=$BERTH_HOST/it/dk
[ "$BERTH_OWN_DOCKERD" = 1 ] || berth_on_exit "docker rmi -f '$repo:one' >/dev/null 2>&1"
mark=$(wc -l <"$BERTH_TEST_S3_RGW_LOG")
bmark=$(wc -l <"$TMP/berthd.log")
dk pull -q "$repo:one" >/dev/null || fail "docker pull with --s3-redirect"
[ "$(dk image inspect --format '{{.Id}}' "$repo:one")" = "$id" ] || fail "pulled another image id"
for b in $layers; do
        # (grep -q reads a process substitution: a pipe it ends early would fail with pipefail)
        grep -q ' 200 ' <(tail -n +"$((mark + 1))" "$BERTH_TEST_S3_RGW_LOG" |
                grep "\"GET /$BUCKET/reg/blobs/sha256/${b#sha256:}?") ||
                fail "the gateway's log has no GET of layer $b by docker"
        grep -q "/v2/it/dk/blobs/$b 307" <(tail -n +"$((bmark + 1))" "$TMP/berthd.log") ||
                fail "berthd did not answer layer $b with a 307"
done
# what docker sent the gateway: the presigned query, never berthd's Authorization
grep -q 'X-Amz-Signature=' <(tail -n +"$((mark + 1))" "$BERTH_TEST_S3_RGW_LOG" | grep "/$BUCKET/reg/blobs/") ||
        fail "the gateway's GETs carry no presigned signature"
berth_stop
pass "docker pulled every layer from the gateway directly, the same image id"
pass "all"
