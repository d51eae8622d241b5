#!/usr/bin/env bash
# berth pull against distribution over HTTPS with basic auth (htpasswd) from an
# imagePullSecret: policies, back-off, credential verification, rmi, skopeo read-back.
. "$(dirname "$0")/client-lib.sh"
client_init

htpasswd_file "$TMP/htpasswd" alice 'open sesame'
start_registry R htpasswd 1
REG=127.0.0.1:$REG_R_PORT
make_image "$TMP/img" v1 3 200000 >/dev/null
push "$TMP/img" v1 "$REG/team/app:v1" 'alice:open sesame'
push "$TMP/img" v1 "$REG/team/app:latest" 'alice:open sesame'
secret_yaml "$TMP/secret.yaml" alice 'open sesame' "https://$REG"
secret_yaml "$TMP/wrong.yaml" alice 'wrong' "$REG"
B=("$BERTH" --store "$STORE" --ca-file "$TMP/cert.pem" -q)

step "dry run names the credential and never the password"
out=$("${B[@]}" pull --dry-run "$REG/team/app:v1" --pull-secret "$TMP/secret.yaml") || fail "dry-run"
echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["action"]=="pull" and d["policy"]=="IfNotPresent" and d["present"] is False and d["credentials"][0]["username"]=="alice", d' || fail "dry-run JSON: $out"
grep -q "open sesame" <<<"$out" && fail "dry-run shows the password"

step "no credentials: ErrImagePull (10), then ImagePullBackOff (12)"
expect_rc 10 "${B[@]}" pull "$REG/team/app:v1"
expect_rc 12 "${B[@]}" pull "$REG/team/app:v1"
out=$("${B[@]}" pull --dry-run "$REG/team/app:v1")
grep -q '"reason":"ImagePullBackOff"' <<<"$out" || fail "dry-run misses the back-off: $out"

step "pull over HTTPS with basic auth from a YAML Secret (--no-backoff)"
expect_rc 0 "${B[@]}" pull "$REG/team/app:v1" --pull-secret "$TMP/secret.yaml" --no-backoff
out=$("${B[@]}" pull --dry-run "$REG/team/app:v1" --pull-secret "$TMP/secret.yaml")
grep -q '"present":true,"action":"use-local"' <<<"$out" || fail "not present after pull: $out"

step "the store is an OCI layout skopeo can read"
skopeo copy -q "oci:$STORE:$REG/team/app:v1" "dir:$TMP/readback" >/dev/null || fail "skopeo read-back"
[ "$(ls "$TMP/readback" | wc -l)" -ge 5 ] || fail "read-back incomplete"
grep -rq "open sesame" "$STORE" && fail "secret stored in the store"

step "IfNotPresent with the registry stopped makes no request and succeeds"
stop_registry R
expect_rc 0 "${B[@]}" pull "$REG/team/app:v1" --pull-secret "$TMP/secret.yaml"
step "Always with the registry stopped: RegistryUnavailable (14)"
expect_rc 14 "${B[@]}" pull "$REG/team/app:v1" --pull-secret "$TMP/secret.yaml" --policy Always --no-backoff
step "Never with an absent image: ErrImageNeverPull (11)"
expect_rc 11 "${B[@]}" pull "$REG/team/app:absent" --policy Never
restart_registry R

step "another caller without the credential must be verified (AlwaysVerify) and is refused"
expect_rc 10 "${B[@]}" pull "$REG/team/app:v1" --verify-credentials AlwaysVerify --no-backoff
expect_rc 11 "${B[@]}" pull "$REG/team/app:v1" --policy Never --no-backoff
step "with wrong credentials too"
expect_rc 10 "${B[@]}" pull "$REG/team/app:v1" --pull-secret "$TMP/wrong.yaml" --no-backoff
step "NeverVerify hands it out"
expect_rc 0 "${B[@]}" pull "$REG/team/app:v1" --verify-credentials NeverVerify

step "Always with an unchanged digest fetches no blob"
expect_rc 0 "${B[@]}" pull "$REG/team/app:latest" --pull-secret "$TMP/secret.yaml" --no-backoff
before=$(count_blob_gets "$REG_R_LOG" team/app)
[ "$before" -ge 4 ] || fail "access log shows $before blob GETs (log format?)"
mgets=$(grep -c '"GET /v2/team/app/manifests/latest' "$REG_R_LOG")
expect_rc 0 "${B[@]}" pull "$REG/team/app:latest" --pull-secret "$TMP/secret.yaml"
after=$(count_blob_gets "$REG_R_LOG" team/app)
[ "$before" = "$after" ] || fail "Always with unchanged digest fetched blobs ($before -> $after)"
[ "$(grep -c '"GET /v2/team/app/manifests/latest' "$REG_R_LOG")" -gt "$mgets" ] || fail "Always did not ask the registry"

step "images lists both, rmi keeps shared blobs until the last user goes"
"${B[@]}" images | python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d)==2 and all(x["pulledBy"]=="credentials" for x in d), d' || fail "images"
n0=$(ls "$STORE/blobs/sha256" | wc -l)
expect_rc 0 "${B[@]}" rmi "$REG/team/app:v1"
[ "$(ls "$STORE/blobs/sha256" | wc -l)" = "$n0" ] || fail "rmi freed blobs still in use"
expect_rc 0 "${B[@]}" rmi "$REG/team/app:latest"
[ "$(ls "$STORE/blobs/sha256" | wc -l)" = 0 ] || fail "rmi left unused blobs"
expect_rc 1 "${B[@]}" rmi "$REG/team/app:latest"

step "invalid names"
expect_rc 13 "${B[@]}" pull "$REG/Team/app:v1"
expect_rc 13 "${B[@]}" pull --dry-run "x:bad!tag"
echo "PASS [$NAME]"
