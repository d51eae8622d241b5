#!/usr/bin/env bash
# berth pull from berthd: HTTPS with its generated CA, basic auth, a private project,
# the pull Secret that `berthd secret` writes, read back with skopeo. Skips (77) when
# berthd is not built.
. "$(dirname "$0")/client-lib.sh"
client_init
[ -x "$top_builddir/berthd" ] || skip "berthd not built"

export BERTH_DATA="$TMP/berthd-data"
echo 'open sesame' | "$top_builddir/berthd" user add alice >/dev/null 2>&1 || fail "berthd user add"
"$top_builddir/berthd" project create team >/dev/null 2>&1 || fail "berthd project create"
"$top_builddir/berthd" project member add team alice developer >/dev/null 2>&1 || fail "berthd member add"
PORT=$(free_port)
REG=127.0.0.1:$PORT
"$top_builddir/berthd" serve --listen "$REG" --data "$BERTH_DATA" --auth basic > "$TMP/berthd.log" 2>&1 &
_pids+=($!)
for i in $(seq 100); do curl -sk -o /dev/null "https://$REG/healthz" && break; sleep 0.1; done
CA="$BERTH_DATA/tls/ca.crt"
[ -f "$CA" ] || { cat "$TMP/berthd.log"; fail "berthd made no CA at $CA"; }
echo 'open sesame' | "$top_builddir/berthd" secret --server "$REG" --username alice --password-stdin > "$TMP/secret.yaml" 2>/dev/null ||
        fail "berthd secret"

make_image "$TMP/img" v1 3 100000 >/dev/null
push "$TMP/img" v1 "$REG/team/app:v1" 'alice:open sesame'
B=("$BERTH" --store "$STORE" --ca-file "$CA" -q)

step "without credentials the private project refuses: ErrImagePull"
expect_rc 10 "${B[@]}" pull "$REG/team/app:v1"
step "with the Secret berthd wrote (YAML): pulled over HTTPS with basic auth"
expect_rc 0 "${B[@]}" pull "$REG/team/app:v1" --pull-secret "$TMP/secret.yaml" --no-backoff
skopeo copy -q "oci:$STORE:$REG/team/app:v1" "dir:$TMP/rb" >/dev/null || fail "skopeo read-back"
step "Always with the same digest resolves it and fetches nothing"
out=$("$BERTH" --store "$STORE" --ca-file "$CA" -q pull "$REG/team/app:v1" --pull-secret "$TMP/secret.yaml" --policy Always) ||
        fail "Always pull"
grep -q "is up to date" <<<"$out" || fail "Always pull re-downloaded: $out"
step "the certificate is checked: without the CA the pull fails as RegistryUnavailable"
expect_rc 14 "$BERTH" --store "$TMP/s2" -q pull "$REG/team/app:v1" --pull-secret "$TMP/secret.yaml"
echo "PASS [$NAME]"
