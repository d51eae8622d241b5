#!/bin/bash
# Token mode (--auth token): 401s carry a Bearer challenge pointing at /auth/token, so
# the docker CLI pulls a public project without `docker login` (anonymous token) and
# still cannot pull a private one; docker login fails with a wrong password and works
# with the right one, then push and pull work. skopeo with --creds and anonymously,
# `ctr images pull --user` through a containerd started here (its OAuth POST form),
# curl with Basic on registry requests; a token is refused on the very next request
# after `berthd user passwd`; no token or password appears in the server log.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/auth-lib.sh"
set -e

berth_require docker dockerd skopeo containerd ctr curl jq python3
berth_require_root
berth_tmpdir
export BERTH_ARGON2_MEMORY_KIB=${BERTH_ARGON2_MEMORY_KIB:-4096}   # fast hashes
auth_dockerd
BERTH_ADMIN_PASSWORD=$ADMIN_PW berth_start --auth token
auth_docker_certs
auth_trust_ca
export DOCKER_CONFIG=$TMP/docker-config
mkdir -p "$DOCKER_CONFIG"
dk() { timeout 300 docker "$@"; }
sk() { timeout 300 skopeo --command-timeout 240s "$@"; }

ALICE_PW=alice-$RANDOM$RANDOM
BOB_PW=bob-$RANDOM$RANDOM
bd project create team >/dev/null || fail "project create team"
bd project create pub --public >/dev/null || fail "project create pub"
add_user alice "$ALICE_PW"
add_user bob "$BOB_PW"
bd project member add team alice developer >/dev/null || fail "member add alice"

# --- the protocol, seen with curl -----------------------------------------------
step "challenges and the token endpoint"
hdr=$(bcurl -s -D - -o /dev/null "$BERTH_URL/v2/" | tr -d '\r' | awk -F': ' 'tolower($1) == "www-authenticate" { print $2 }')
[ "$hdr" = "Bearer realm=\"$BERTH_URL/auth/token\",service=\"berth\"" ] || fail "GET /v2/ challenge: '$hdr'"
hdr=$(bcurl -s -D - -o /dev/null -X POST "$BERTH_URL/v2/team/app/blobs/uploads/" | tr -d '\r' |
        awk -F': ' 'tolower($1) == "www-authenticate" { print $2 }')
[ "$hdr" = "Bearer realm=\"$BERTH_URL/auth/token\",service=\"berth\",scope=\"repository:team/app:pull,push\"" ] \
        || fail "push challenge: '$hdr'"
hdr=$(bcurl -s -D - -o /dev/null -H 'Host: a"b' "$BERTH_URL/v2/" | tr -d '\r' |
        awk -F': ' 'tolower($1) == "www-authenticate" { print $2 }')
case $hdr in *'a"b'*|'') fail "an invalid Host header reached the challenge: '$hdr'" ;; esac
pass "Bearer challenges (realm from the Host header, scope per route)"
bcurl -o "$TMP/anon.json" "$BERTH_URL/auth/token?service=berth&scope=repository:pub/img:pull" || fail "anonymous token"
jq -e '(.token | test("^[A-Za-z0-9_-]+[.][A-Za-z0-9_-]{43}$")) and .access_token == .token and .expires_in == 300 and (.issued_at | test("Z$"))' \
        "$TMP/anon.json" >/dev/null || { cat "$TMP/anon.json"; fail "anonymous token answer"; }
expect 401 "token endpoint, wrong password" -u "alice:wrong" "$BERTH_URL/auth/token?service=berth"
expect 200 "curl -u (Basic) on a registry request still works" -u "alice:$ALICE_PW" "$BERTH_URL/v2/"
expect 400 "refresh_token grant refused" -X POST -d 'grant_type=refresh_token&refresh_token=x&service=berth' \
        "$BERTH_URL/auth/token"
atok=$(bcurl -X POST --data-urlencode grant_type=password --data-urlencode username=alice \
        --data-urlencode "password=$ALICE_PW" --data-urlencode service=berth \
        --data-urlencode scope=repository:team/app:pull "$BERTH_URL/auth/token" | jq -r .access_token)
[[ $atok =~ ^[A-Za-z0-9_-]+[.][A-Za-z0-9_-]{43}$ ]] || fail "password grant: no access_token"
expect 200 "a token from the password grant works" -H "Authorization: Bearer $atok" "$BERTH_URL/v2/"

# --- skopeo ------------------------------------------------------------------------
step "skopeo --creds and anonymously"
want=$(berth_mkimage "$TMP/src" --tag a --layers 2 --layer-size 256K --seed auth-token-mode-a --gzip)
sk_push a pub/img:v1 "admin:$ADMIN_PW" || fail "skopeo push with --dest-creds admin"
sk_push a team/app:v1 "alice:$ALICE_PW" || fail "skopeo push with --dest-creds alice"
sk_push a team/app:v2 "bob:$BOB_PW" 2>"$TMP/sk.err" && fail "bob pushed to team without rights"
got=$(sk inspect --cert-dir "$TMP/certs" --creds "alice:$ALICE_PW" --format '{{.Digest}}' \
        "docker://$BERTH_HOST/team/app:v1") || fail "skopeo inspect --creds alice"
[ "$got" = "$want" ] || fail "skopeo inspect --creds: $got, want $want"
got=$(sk inspect --cert-dir "$TMP/certs" --format '{{.Digest}}' "docker://$BERTH_HOST/pub/img:v1") \
        || fail "anonymous skopeo inspect of the public pub/img"
[ "$got" = "$want" ] || fail "anonymous skopeo inspect: $got, want $want"
sk copy --quiet --src-cert-dir "$TMP/certs" "docker://$BERTH_HOST/pub/img:v1" "oci:$TMP/anon:v1" \
        || fail "anonymous skopeo copy of pub/img"
sk inspect --cert-dir "$TMP/certs" "docker://$BERTH_HOST/team/app:v1" >/dev/null 2>&1 \
        && fail "anonymous skopeo inspected the private team/app"
pass "skopeo: pushes and pulls with --creds, anonymous pull of public only"

# --- docker ----------------------------------------------------------------------------
login() {       # login USER PASSWORD: docker login's status, output in $TMP/login.out
        printf '%s\n' "$2" | dk login -u "$1" --password-stdin "$BERTH_HOST" >"$TMP/login.out" 2>&1
}
step "docker pull without login: public works, private refused"
dk pull -q "$BERTH_HOST/pub/img:v1" >"$TMP/pull.out" 2>&1 || { cat "$TMP/pull.out"; fail "anonymous docker pull of pub/img"; }
pass "docker pull of the public pub/img:v1 without login"
if dk pull -q "$BERTH_HOST/team/app:v1" >"$TMP/pull.out" 2>&1; then
        fail "anonymous docker pull of the private team/app succeeded"
fi
grep -E ' - (GET|HEAD) /v2/team/app/(manifests|blobs)/[^ ]+ 2[0-9][0-9] ' "$TMP/berthd.log" \
        && fail "berthd served team/app to an anonymous request"
pass "anonymous docker pull of the private team/app refused: $(tail -n1 "$TMP/pull.out")"

step "docker login: wrong password refused, right one accepted; push and pull"
login alice "wrong-$ALICE_PW" && { cat "$TMP/login.out"; fail "docker login accepted a wrong password"; }
pass "docker login with a wrong password refused: $(tail -n1 "$TMP/login.out")"
login alice "$ALICE_PW" || { cat "$TMP/login.out"; fail "docker login alice"; }
grep -q 'Login Succeeded' "$TMP/login.out" || { cat "$TMP/login.out"; fail "no 'Login Succeeded'"; }
dk rmi -f "$BERTH_HOST/team/app:v1" >/dev/null 2>&1 || true
dk pull -q "$BERTH_HOST/team/app:v1" >"$TMP/pull.out" 2>&1 || { cat "$TMP/pull.out"; fail "alice: docker pull team/app"; }
dk tag "$BERTH_HOST/pub/img:v1" "$BERTH_HOST/team/app:docker"
dk push -q "$BERTH_HOST/team/app:docker" >"$TMP/push.out" 2>&1 || { cat "$TMP/push.out"; fail "alice: docker push"; }
expect 200 "the pushed tag is served" -I -u "admin:$ADMIN_PW" "${MANIFEST_ACCEPT[@]}" \
        "$BERTH_URL/v2/team/app/manifests/docker"
dk rmi -f "$BERTH_HOST/team/app:docker" >/dev/null
dk pull -q "$BERTH_HOST/team/app:docker" >"$TMP/pull.out" 2>&1 || { cat "$TMP/pull.out"; fail "alice: pull back"; }
pass "docker login, push and pull as alice"
dk logout "$BERTH_HOST" >/dev/null 2>&1 || true

# --- containerd --------------------------------------------------------------------------
step "containerd: ctr images pull --user"
auth_containerd
cpull "$BERTH_HOST/team/app:v1" >"$TMP/ctr.out" 2>&1 && fail "ctr pulled a private image without --user"
cpull --user "alice:wrong-$ALICE_PW" "$BERTH_HOST/team/app:v1" >"$TMP/ctr.out" 2>&1 && fail "ctr pulled with a wrong password"
cpull --user "alice:$ALICE_PW" "$BERTH_HOST/team/app:v1" >"$TMP/ctr.out" 2>&1 || { cat "$TMP/ctr.out"; fail "ctr images pull --user alice"; }
got=$(c images ls | awk -v r="$BERTH_HOST/team/app:v1" '$1 == r { print $3 }')
[ "$got" = "$want" ] || fail "ctr lists team/app:v1 with digest '$got', want $want"
grep -E ' alice POST /auth/token 200 ' "$TMP/berthd.log" >/dev/null \
        && pass "ctr images pull --user alice:*** ($got), token from the OAuth password form" \
        || pass "ctr images pull --user alice:*** ($got), token from GET"
cpull "$BERTH_HOST/pub/img:v1" >"$TMP/ctr.out" 2>&1 || { cat "$TMP/ctr.out"; fail "anonymous ctr pull of pub/img"; }
pass "anonymous ctr pull of the public pub/img:v1"

# --- a password change refuses an issued token at once ------------------------------
step "berthd user passwd: the same token is refused on the next request"
btok=$(bcurl -u "bob:$BOB_PW" "$BERTH_URL/auth/token?service=berth&scope=repository:pub/img:pull" | jq -r .token)
[[ $btok =~ ^[A-Za-z0-9_-]+[.][A-Za-z0-9_-]{43}$ ]] || fail "bob: no token"
expect 200 "bob's token before the change" -H "Authorization: Bearer $btok" "${MANIFEST_ACCEPT[@]}" \
        "$BERTH_URL/v2/pub/img/manifests/v1"
printf '%s\n' "new-$BOB_PW" | bd user passwd bob >/dev/null || fail "berthd user passwd bob"
expect 401 "bob's old token after the password change" -H "Authorization: Bearer $btok" \
        "${MANIFEST_ACCEPT[@]}" "$BERTH_URL/v2/pub/img/manifests/v1"
expect 401 "bob's old token at GET /v2/" -H "Authorization: Bearer $btok" "$BERTH_URL/v2/"
expect 200 "alice's token survives bob's change" -H "Authorization: Bearer $atok" "$BERTH_URL/v2/"

step "no secret in the server log"
grep -qF -e "$ALICE_PW" -e "$BOB_PW" -e "$ADMIN_PW" -e "$btok" -e "$atok" "$TMP/berthd.log" \
        && fail "a password or token appears in the server log"
grep -qiE 'authorization: (basic|bearer)' "$TMP/berthd.log" && fail "an Authorization header appears in the server log"
pass "no password or token in the server log"

berth_stop
auth_done
