#!/bin/bash
# Access control with the other clients: podman (rootful, vfs, private root) and skopeo
# push and pull with credentials (--creds, an auth file from `podman login`), and
# containerd's `ctr images pull --user USER:PASS` through a containerd started here
# (own root, state and socket under TMP; the CA named in a hosts.toml of --hosts-dir).
# Without credentials or with wrong ones the same operations must fail.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/auth-lib.sh"
set -e

berth_require podman skopeo containerd ctr curl jq python3
berth_require_root
berth_tmpdir
export BERTH_ARGON2_MEMORY_KIB=${BERTH_ARGON2_MEMORY_KIB:-4096}   # fast hashes; auth-docker.sh uses the default
auth_start
auth_trust_ca

ALICE_PW=alice-$RANDOM$RANDOM
BOB_PW=bob-$RANDOM$RANDOM
bd project create team >/dev/null || fail "project create team"
bd project create pub --public >/dev/null || fail "project create pub"
add_user alice "$ALICE_PW"
add_user bob "$BOB_PW"
bd project member add team alice developer >/dev/null || fail "member add alice"
bd project member add team bob reader >/dev/null || fail "member add bob"

digest_of() {   # REPO TAG: the manifest digest berthd serves (admin)
        bcurl -I -u "admin:$ADMIN_PW" "${MANIFEST_ACCEPT[@]}" "$BERTH_URL/v2/$1/manifests/$2" |
                tr -d '\r' | awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }'
}

# --- skopeo ----------------------------------------------------------------------
sk() { timeout 300 skopeo --command-timeout 240s "$@"; }
want=$(berth_mkimage "$TMP/src" --tag sk --layers 2 --layer-size 512K --seed auth-clients-sk --gzip)

step "skopeo: push without credentials, with a wrong password, as a reader: refused"
sk copy --quiet --dest-cert-dir "$TMP/certs" "oci:$TMP/src:sk" "docker://$BERTH_HOST/team/sk:v1" \
        2>"$TMP/sk.err" && fail "skopeo pushed without credentials"
grep -qiE 'unauthorized|authentication required' "$TMP/sk.err" || { cat "$TMP/sk.err"; fail "anonymous skopeo push: unexpected error"; }
sk_push sk team/sk:v1 "alice:wrong-$ALICE_PW" 2>"$TMP/sk.err" && fail "skopeo pushed with a wrong password"
grep -qiE 'unauthorized|authentication required' "$TMP/sk.err" || { cat "$TMP/sk.err"; fail "wrong-password skopeo push: unexpected error"; }
sk_push sk team/sk:v1 "bob:$BOB_PW" 2>"$TMP/sk.err" && fail "a reader pushed with skopeo"
grep -qi denied "$TMP/sk.err" || { cat "$TMP/sk.err"; fail "reader skopeo push: no 'denied'"; }
[ -z "$(digest_of team/sk v1)" ] || fail "a refused push left a tag"
pass "skopeo push refused without, with wrong and with read-only credentials"

step "skopeo --dest-creds / --src-creds / --creds"
sk_push sk team/sk:v1 "alice:$ALICE_PW" || fail "skopeo copy --dest-creds alice"
[ "$(digest_of team/sk v1)" = "$want" ] || fail "pushed manifest has another digest"
pass "skopeo pushed team/sk:v1 ($want) as alice"
got=$(sk inspect --cert-dir "$TMP/certs" --creds "bob:$BOB_PW" --format '{{.Digest}}' "docker://$BERTH_HOST/team/sk:v1") \
        || fail "skopeo inspect --creds bob"
[ "$got" = "$want" ] || fail "skopeo inspect: $got, want $want"
sk copy --quiet --src-cert-dir "$TMP/certs" --src-creds "bob:$BOB_PW" \
        "docker://$BERTH_HOST/team/sk:v1" "oci:$TMP/back:v1" || fail "skopeo copy --src-creds bob"
cmp -s <(jq -S . "$TMP/src/blobs/sha256/${want#sha256:}") <(jq -S . "$TMP/back/blobs/sha256/${want#sha256:}") \
        || fail "the pulled manifest differs"
pass "skopeo inspect and copy out as reader bob"
sk inspect --cert-dir "$TMP/certs" "docker://$BERTH_HOST/team/sk:v1" >/dev/null 2>"$TMP/sk.err" \
        && fail "skopeo inspected a private image anonymously"
pass "anonymous skopeo inspect of a private image refused"

step "anonymous pull of a public project with skopeo and ctr"
sk_push sk pub/sk:v1 "admin:$ADMIN_PW" || fail "admin pushes pub/sk:v1"
if got=$(sk inspect --cert-dir "$TMP/certs" --format '{{.Digest}}' "docker://$BERTH_HOST/pub/sk:v1" 2>"$TMP/sk.err") &&
   [ "$got" = "$want" ]; then
        pass "anonymous skopeo inspect of the public pub/sk:v1"
else
        soft_fail "anonymous skopeo inspect of the public pub/sk:v1: $(tail -n1 "$TMP/sk.err")"
fi
if sk copy --quiet --src-cert-dir "$TMP/certs" "docker://$BERTH_HOST/pub/sk:v1" "oci:$TMP/anon:v1" 2>"$TMP/sk.err"; then
        pass "anonymous skopeo copy out of the public project"
else
        soft_fail "anonymous skopeo copy of the public pub/sk:v1: $(tail -n1 "$TMP/sk.err")"
fi

# --- podman ----------------------------------------------------------------------
printf '[storage]\ndriver = "vfs"\ngraphroot = "%s"\nrunroot = "%s"\n' \
        "$TMP/podman/root" "$TMP/podman/run" >"$TMP/storage.conf"
export CONTAINERS_STORAGE_CONF=$TMP/storage.conf
export REGISTRY_AUTH_FILE=$TMP/podman-auth.json     # never the machine's auth file
mkdir -p "$TMP/podman"
echo '{}' >"$REGISTRY_AUTH_FILE"
pm() {
        berth_rooted timeout 300 podman --root "$TMP/podman/root" --runroot "$TMP/podman/run" \
                --storage-driver vfs --cgroup-manager cgroupfs --events-backend file \
                --tmpdir "$TMP/podman/tmp" "$@"
}
ref=$BERTH_HOST/team/pm:v1
berth_mkimage "$TMP/src" --tag pm --layers 2 --layer-size 512K --seed auth-clients-pm >/dev/null
pm pull -q "oci:$TMP/src:pm" >/dev/null || fail "podman pull oci:"
pm tag "$(pm images -q --no-trunc | head -n1)" "$ref"
id=$(pm image inspect --format '{{.Id}}' "$ref")

step "podman push with --creds"
pm push -q --cert-dir "$TMP/certs" "$ref" 2>"$TMP/pm.err" && fail "podman pushed without credentials"
pm push -q --cert-dir "$TMP/certs" --creds "bob:$BOB_PW" "$ref" 2>"$TMP/pm.err" && fail "podman pushed as a reader"
grep -qi denied "$TMP/pm.err" || { cat "$TMP/pm.err"; fail "reader podman push: no 'denied'"; }
pm push -q --cert-dir "$TMP/certs" --creds "alice:$ALICE_PW" --digestfile "$TMP/pm.digest" "$ref" \
        || fail "podman push --creds alice"
[ "$(digest_of team/pm v1)" = "$(cat "$TMP/pm.digest")" ] || fail "podman pushed $(cat "$TMP/pm.digest"), registry serves another"
pass "podman push --creds alice ($(cat "$TMP/pm.digest"))"

step "podman pull: --creds, then an auth file written by podman login"
pm rmi -a -f >/dev/null
pm pull -q --cert-dir "$TMP/certs" --creds "alice:wrong" "$ref" >/dev/null 2>"$TMP/pm.err" && fail "podman pulled with a wrong password"
pm pull -q --cert-dir "$TMP/certs" --creds "bob:$BOB_PW" "$ref" >/dev/null || fail "podman pull --creds bob"
[ "$(pm image inspect --format '{{.Id}}' "$ref")" = "$id" ] || fail "podman pulled another image"
pass "podman pull --creds (reader)"
pm rmi -a -f >/dev/null
printf '%s\n' "wrong-$BOB_PW" | pm login --cert-dir "$TMP/certs" -u bob --password-stdin "$BERTH_HOST" \
        >/dev/null 2>&1 && fail "podman login accepted a wrong password"
printf '%s\n' "$BOB_PW" | pm login --cert-dir "$TMP/certs" -u bob --password-stdin "$BERTH_HOST" >/dev/null \
        || fail "podman login bob"
jq -e --arg h "$BERTH_HOST" '.auths[$h].auth' "$REGISTRY_AUTH_FILE" >/dev/null || fail "podman login wrote no auth entry"
pm pull -q --cert-dir "$TMP/certs" "$ref" >/dev/null || fail "podman pull after podman login"
[ "$(pm image inspect --format '{{.Id}}' "$ref")" = "$id" ] || fail "podman pulled another image"
pass "podman login + pull with the auth file"
pm logout "$BERTH_HOST" >/dev/null 2>&1 || true

# --- containerd ------------------------------------------------------------------
step "containerd: ctr images pull --user through a private containerd"
auth_containerd

cpull "$BERTH_HOST/team/sk:v1" >"$TMP/ctr.out" 2>&1 && fail "ctr pulled a private image without --user"
cpull --user "bob:wrong-$BOB_PW" "$BERTH_HOST/team/sk:v1" >"$TMP/ctr.out" 2>&1 && fail "ctr pulled with a wrong password"
pass "ctr pull refused without and with wrong credentials"
cpull --user "bob:$BOB_PW" "$BERTH_HOST/team/sk:v1" >"$TMP/ctr.out" 2>&1 || { cat "$TMP/ctr.out"; fail "ctr images pull --user bob"; }
got=$(c images ls | awk -v r="$BERTH_HOST/team/sk:v1" '$1 == r { print $3 }')
[ "$got" = "$want" ] || fail "ctr lists $BERTH_HOST/team/sk:v1 with digest '$got', want $want"
pass "ctr images pull --user bob:*** ($got)"

if cpull "$BERTH_HOST/pub/sk:v1" >"$TMP/ctr.out" 2>&1; then
        pass "anonymous ctr pull of the public pub/sk:v1"
else
        soft_fail "anonymous ctr pull of the public pub/sk:v1: $(tail -n1 "$TMP/ctr.out")"
fi

step "ctr with a robot token"
bd token create --project team >"$TMP/token.out" || fail "token create"
robot=$(awk '$1 == "name:" { print $2 }' "$TMP/token.out")
secret=$(awk '$1 == "secret:" { print $2 }' "$TMP/token.out")
[ -n "$robot" ] && [ -n "$secret" ] || fail "token create printed no name/secret"
c images rm "$BERTH_HOST/team/sk:v1" >/dev/null
cpull --user "$robot:$secret" "$BERTH_HOST/team/sk:v1" >"$TMP/ctr.out" 2>&1 || { cat "$TMP/ctr.out"; fail "ctr pull with the robot token"; }
pass "ctr images pull --user $robot:***"

grep -qF -e "$ALICE_PW" -e "$BOB_PW" -e "$secret" "$TMP/berthd.log" && fail "a password or secret appears in the server log"
grep -qi 'authorization: basic' "$TMP/berthd.log" && fail "an Authorization header appears in the server log"
pass "no secret in the server log"

berth_stop
auth_done
