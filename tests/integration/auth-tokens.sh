#!/bin/bash
# Access control, the rest of issue 4: robot tokens (pull, push refused without --push,
# expiry, revocation effective on the very next request), the Kubernetes Secret printed
# by `berthd secret` / `token create --secret-yaml` (its .dockerconfigjson used by docker
# and skopeo as they are), cache invalidation across processes (password change, removed
# membership, deleted user: the admin commands run in their own process while the
# server runs), _catalog filtered to what the caller may pull, cross-repository mounts
# that need pull on the source, and throttling of repeated failures (429 + Retry-After,
# released after the delay, cached credentials of the real user keep working).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/auth-lib.sh"
set -e

berth_require skopeo docker dockerd curl jq python3 base64
berth_require_root
berth_tmpdir
export BERTH_ARGON2_MEMORY_KIB=${BERTH_ARGON2_MEMORY_KIB:-4096}   # fast hashes; auth-docker.sh uses the default
auth_start
auth_trust_ca

PW_ALICE=alice-$RANDOM$RANDOM
PW_DAVE=dave-$RANDOM$RANDOM
PW_ERIN=erin-$RANDOM$RANDOM
PW_FRANK=frank-$RANDOM$RANDOM
PW_GINA=gina-$RANDOM$RANDOM      # gina logs in for the first time while 127.0.0.1 guesses names
for p in team other; do bd project create "$p" >/dev/null || fail "project create $p"; done
bd project create pub --public >/dev/null || fail "project create pub"
add_user alice "$PW_ALICE"
add_user dave "$PW_DAVE"
add_user erin "$PW_ERIN"
add_user frank "$PW_FRANK"
add_user gina "$PW_GINA"
bd project member add team alice reader >/dev/null || fail "member add alice"
bd project member add team dave reader >/dev/null || fail "member add dave"

# one small image in each project, pushed by admin (alice pushes her own)
berth_mkimage "$TMP/src" --tag a --layers 2 --layer-size 64K --seed auth-tokens-a --gzip >/dev/null
berth_mkimage "$TMP/src" --tag b --layers 1 --layer-size 64K --seed auth-tokens-b --gzip >/dev/null
berth_mkimage "$TMP/src" --tag c --layers 1 --layer-size 64K --seed auth-tokens-c --gzip >/dev/null
sk_push a team/app:v1 "admin:$ADMIN_PW" || fail "push team/app"
sk_push b other/secret:v1 "admin:$ADMIN_PW" || fail "push other/secret"
sk_push c pub/img:v1 "admin:$ADMIN_PW" || fail "push pub/img"
sk_push c alice/own:v1 "alice:$PW_ALICE" || fail "alice pushes to her namespace"

M() { printf '%s/v2/%s/manifests/%s' "$BERTH_URL" "$1" "$2"; }   # REPO TAG: manifest URL

# --- robot tokens ----------------------------------------------------------------
step "robot token (pull only)"
bd token create --project team >"$TMP/tok.out" || fail "token create"
robot=$(awk '$1 == "name:" { print $2 }' "$TMP/tok.out")
rsecret=$(awk '$1 == "secret:" { print $2 }' "$TMP/tok.out")
[ -n "$robot" ] && [ -n "$rsecret" ] || { cat "$TMP/tok.out"; fail "token create printed no name/secret"; }
[[ $robot =~ ^[a-z0-9][a-z0-9._-]*$ ]] || fail "robot name '$robot' is not shell/YAML-safe"
[ ${#rsecret} -ge 32 ] || fail "robot secret of ${#rsecret} characters only"
bd token list --project team | grep -qF "$robot" || fail "token list does not show $robot"
bd token list | grep -qF "$rsecret" && fail "token list shows the secret"
expect 200 "robot pulls a manifest" -u "$robot:$rsecret" "${MANIFEST_ACCEPT[@]}" "$(M team/app v1)"
timeout 120 skopeo copy --quiet --src-cert-dir "$TMP/certs" --src-creds "$robot:$rsecret" \
        "docker://$BERTH_HOST/team/app:v1" "oci:$TMP/robot-pull:v1" || fail "skopeo pull with the robot token"
pass "skopeo pull with the robot token"
expect 403 "pull-only robot: POST upload" -X POST -u "$robot:$rsecret" "$BERTH_URL/v2/team/app/blobs/uploads/"
sk_push c team/robot:v1 "$robot:$rsecret" 2>"$TMP/sk.err" && fail "a pull-only robot pushed"
grep -qi denied "$TMP/sk.err" || { cat "$TMP/sk.err"; fail "pull-only robot push: no 'denied'"; }
pass "pull-only robot push refused by skopeo: denied"
expect 403 "robot pulls from another project" -u "$robot:$rsecret" "${MANIFEST_ACCEPT[@]}" "$(M other/secret v1)"
expect 401 "robot with a wrong secret" -u "$robot:x$rsecret" "${MANIFEST_ACCEPT[@]}" "$(M team/app v1)"

step "robot token with --push"
bd token create --project team --push >"$TMP/tok2.out" || fail "token create --push"
probot=$(awk '$1 == "name:" { print $2 }' "$TMP/tok2.out")
psecret=$(awk '$1 == "secret:" { print $2 }' "$TMP/tok2.out")
sk_push c team/robot:v1 "$probot:$psecret" || fail "a push robot could not push"
pass "push robot pushed team/robot:v1"
sk_push c other/robot:v1 "$probot:$psecret" 2>/dev/null && fail "a push robot pushed into another project"
pass "push robot refused outside its project"

step "robot token expiry"
bd token create --project team --expires 2s >"$TMP/tok3.out" || fail "token create --expires 2s"
erobot=$(awk '$1 == "name:" { print $2 }' "$TMP/tok3.out")
esecret=$(awk '$1 == "secret:" { print $2 }' "$TMP/tok3.out")
expect 200 "fresh expiring token pulls" -u "$erobot:$esecret" "${MANIFEST_ACCEPT[@]}" "$(M team/app v1)"
# its expiry passes by the wall clock: poll until it is refused (bounded), not a fixed wait
code_is() { [ "$(code "${@:2}")" = "$1" ]; }
berth_wait_for 10 code_is 401 -u "$erobot:$esecret" "${MANIFEST_ACCEPT[@]}" "$(M team/app v1)" ||
        fail "a token that expires in 2 s still pulls after 10 s"
expect 401 "expired token (was cached)" -u "$erobot:$esecret" "${MANIFEST_ACCEPT[@]}" "$(M team/app v1)"

step "Kubernetes Secrets: berthd secret and token create --secret-yaml"
# yaml_config YAML-FILE OUT-JSON: check the Secret and write its decoded .dockerconfigjson
yaml_config() {
        python3 - "$1" "$2" <<'EOF' || fail "the Secret in $1 is not what kubectl expects"
import base64, json, sys
text = open(sys.argv[1]).read()
try:
    import yaml
    doc = yaml.safe_load(text)
except ImportError:          # no PyYAML: the flat layout berthd prints
    doc, sect = {}, None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, val = line.strip().partition(":")
        if line.startswith("  ") and sect:
            doc[sect][key] = val.strip()
        elif val.strip():
            doc[key] = val.strip()
        else:
            sect = key; doc[sect] = {}
assert doc["apiVersion"] == "v1" and doc["kind"] == "Secret", doc
assert doc["type"] == "kubernetes.io/dockerconfigjson", doc["type"]
assert doc["metadata"]["name"], doc["metadata"]
cfg = json.loads(base64.b64decode(doc["data"][".dockerconfigjson"], validate=True))
open(sys.argv[2], "w").write(json.dumps(cfg))
EOF
}
printf '%s\n' "wrong-$rsecret" | bd secret --server "$BERTH_HOST" --token "$robot" --password-stdin \
        >"$TMP/bad.yaml" 2>/dev/null && fail "berthd secret accepted a wrong token secret"
[ -s "$TMP/bad.yaml" ] && fail "berthd secret printed something for a wrong secret"
printf '%s\n' "$rsecret" | bd secret --server "$BERTH_HOST" --token "$robot" --password-stdin \
        --name team-pull --namespace apps >"$TMP/secret.yaml" || fail "berthd secret --token"
grep -qF -e "$rsecret" "$TMP/secret.yaml" && fail "the secret appears in clear in the YAML"
mkdir -p "$TMP/k8s-docker"
yaml_config "$TMP/secret.yaml" "$TMP/k8s-docker/config.json"
jq -e --arg h "$BERTH_HOST" --arg u "$robot" --arg p "$rsecret" --arg a "$(printf '%s:%s' "$robot" "$rsecret" | base64 -w0)" \
        '.auths[$h] | .username == $u and .password == $p and .auth == $a' "$TMP/k8s-docker/config.json" >/dev/null \
        || fail "decoded .dockerconfigjson: $(jq -c '.auths | keys' "$TMP/k8s-docker/config.json")"
pass "berthd secret: a kubernetes.io/dockerconfigjson Secret with auths[$BERTH_HOST] for $robot"
timeout 120 skopeo inspect --cert-dir "$TMP/certs" --authfile "$TMP/k8s-docker/config.json" \
        "docker://$BERTH_HOST/team/app:v1" >/dev/null || fail "skopeo --authfile with the Secret's config"
pass "skopeo --authfile accepts the decoded Secret"
bd token create --project team --secret-yaml "$BERTH_HOST" >"$TMP/secret2.yaml" || fail "token create --secret-yaml"
mkdir -p "$TMP/k8s-docker2"
yaml_config "$TMP/secret2.yaml" "$TMP/k8s-docker2/config.json"
timeout 120 skopeo inspect --cert-dir "$TMP/certs" --authfile "$TMP/k8s-docker2/config.json" \
        "docker://$BERTH_HOST/team/app:v1" >/dev/null || fail "skopeo --authfile with the --secret-yaml Secret"
pass "token create --secret-yaml: its Secret logs in"

step "docker pulls with the Secret's config as DOCKER_CONFIG"
auth_dockerd
auth_docker_certs
DOCKER_CONFIG=$TMP/k8s-docker timeout 300 docker pull -q "$BERTH_HOST/team/app:v1" >"$TMP/dpull.out" 2>&1 \
        || { cat "$TMP/dpull.out"; fail "docker pull with the Secret's config.json"; }
grep -E " $robot (GET|HEAD) /v2/team/app/manifests/v1 200 " "$TMP/berthd.log" >/dev/null \
        || fail "berthd did not serve the manifest to $robot"
pass "docker pull with DOCKER_CONFIG = the decoded Secret (as $robot)"
mkdir -p "$TMP/empty-docker"
DOCKER_CONFIG=$TMP/empty-docker timeout 300 docker pull -q "$BERTH_HOST/other/secret:v1" >/dev/null 2>&1 \
        && fail "docker pulled a private image without credentials"
pass "docker without the Secret cannot pull"

step "revoking a token takes effect on the very next request"
expect 200 "robot pulls (cached)" -u "$robot:$rsecret" "${MANIFEST_ACCEPT[@]}" "$(M team/app v1)"
bd token revoke "$robot" >/dev/null || fail "token revoke"
expect 401 "revoked token, very next request" -u "$robot:$rsecret" "${MANIFEST_ACCEPT[@]}" "$(M team/app v1)"
bd token list | grep -qF "$robot" && fail "token list still shows the revoked $robot"
expect 200 "the other token still works" -u "$probot:$psecret" "${MANIFEST_ACCEPT[@]}" "$(M team/app v1)"

# --- cache invalidation across processes ------------------------------------------
step "a password change takes effect on the very next request"
for i in 1 2 3; do expect 200 "dave, request $i (cached after the first)" -u "dave:$PW_DAVE" "${MANIFEST_ACCEPT[@]}" "$(M team/app v1)"; done
NEW_DAVE=dave2-$RANDOM$RANDOM
printf '%s\n' "$NEW_DAVE" | bd user passwd dave >/dev/null || fail "user passwd dave"
expect 401 "dave's old password, very next request" -u "dave:$PW_DAVE" "${MANIFEST_ACCEPT[@]}" "$(M team/app v1)"
expect 200 "dave's new password" -u "dave:$NEW_DAVE" "${MANIFEST_ACCEPT[@]}" "$(M team/app v1)"
expect 401 "dave's old password again" -u "dave:$PW_DAVE" "${MANIFEST_ACCEPT[@]}" "$(M team/app v1)"

step "removed membership and deleted user take effect on the very next request"
bd project member del team dave >/dev/null || fail "member del"
expect 403 "dave after removal from team" -u "dave:$NEW_DAVE" "${MANIFEST_ACCEPT[@]}" "$(M team/app v1)"
bd user del dave >/dev/null || fail "user del"
expect 401 "deleted dave" -u "dave:$NEW_DAVE" "${MANIFEST_ACCEPT[@]}" "$(M team/app v1)"

# --- _catalog ----------------------------------------------------------------------
step "_catalog lists only what the caller may pull"
# catalog USER:PW: every repository, following the Link pages of n=1 (each page checked)
catalog() {
        local url="$BERTH_URL/v2/_catalog?n=1" next pages=0
        : >"$TMP/cat.list"
        while [ -n "$url" ]; do
                bcurl -u "$1" -D "$TMP/cat.h" -o "$TMP/cat.json" "$url" || return 1
                head -n1 "$TMP/cat.h" | grep -q ' 200' || return 1
                jq -r '.repositories[]' "$TMP/cat.json" >>"$TMP/cat.list"
                next=$(tr -d '\r' <"$TMP/cat.h" | sed -n 's/^[Ll]ink: *<\([^>]*\)>.*/\1/p')
                case $next in "") url= ;; http*) url=$next ;; *) url=$BERTH_URL$next ;; esac
                pages=$((pages + 1))
                [ $pages -le 50 ] || return 1
        done
        sort "$TMP/cat.list" | tr '\n' ' '
}
full() { bcurl -u "$1" "$BERTH_URL/v2/_catalog" | jq -r '.repositories[]' | sort | tr '\n' ' '; }
want_admin="alice/own other/secret pub/img team/app team/robot "
got=$(full "admin:$ADMIN_PW")
[ "$got" = "$want_admin" ] || fail "admin _catalog: '$got', want '$want_admin'"
pass "admin sees every repository: $got"
want_alice="alice/own pub/img team/app team/robot "
got=$(full "alice:$PW_ALICE")
[ "$got" = "$want_alice" ] || fail "alice _catalog: '$got', want '$want_alice'"
got=$(catalog "alice:$PW_ALICE") || fail "alice _catalog pages"
[ "$got" = "$want_alice" ] || fail "alice _catalog in pages of 1: '$got', want '$want_alice'"
pass "alice (reader of team, own namespace) sees: $got (also page by page)"
got=$(full "frank:$PW_FRANK")
[ "$got" = "pub/img " ] || fail "frank (no membership) _catalog: '$got', want 'pub/img '"
pass "frank (no membership) sees only the public project: $got"
got=$(full "$probot:$psecret")
case " $got " in *" other/"*|*" alice/"*) fail "robot of team sees '$got'" ;; esac
case " $got " in *" team/app "*) ;; *) fail "robot of team does not see team/app: '$got'" ;; esac
pass "robot of team sees: $got"
c=$(code "$BERTH_URL/v2/_catalog")
if [ "$c" = 200 ]; then
        got=$(bcurl "$BERTH_URL/v2/_catalog" | jq -r '.repositories[]' | sort | tr '\n' ' ')
        [ "$got" = "pub/img " ] || fail "anonymous _catalog: '$got'"
        pass "anonymous _catalog: public only ($got)"
else
        [ "$c" = 401 ] || fail "anonymous _catalog: HTTP $c"
        pass "anonymous _catalog: 401"
fi

# --- cross-repository mount ------------------------------------------------------------
step "a cross-repository mount needs pull on the source"
layer() {       # REPO: digest of the first layer of REPO:v1
        bcurl -u "admin:$ADMIN_PW" "${MANIFEST_ACCEPT[@]}" "$(M "$1" v1)" | jq -r '.layers[0].digest'
}
secret_blob=$(layer other/secret)
team_blob=$(layer team/app)
mount() {       # SOURCE-REPO DIGEST: status and Location of a mount into alice/m as alice
        bcurl -u "alice:$PW_ALICE" -X POST -o /dev/null -D - \
                "$BERTH_URL/v2/alice/m/blobs/uploads/?mount=$2&from=$1" | tr -d '\r' |
                awk 'NR == 1 { s = $2 } tolower($1) == "location:" { l = $2 } END { print s, l }'
}
read -r st loc < <(mount other/secret "$secret_blob")
[ "$st" = 202 ] || fail "mount from a repository alice cannot read: HTTP $st, want 202 (a fresh upload)"
case $loc in */v2/alice/m/blobs/uploads/*) ;; *) fail "mount refused but Location '$loc' is no upload session" ;; esac
expect 404 "the refused mount did not link the blob" -I -u "alice:$PW_ALICE" "$BERTH_URL/v2/alice/m/blobs/$secret_blob"
pass "mount from other/secret (no pull): 202 + upload session"
# without from=: the registry finds a repository holding the blob, but alice may not read it
st=$(bcurl -u "alice:$PW_ALICE" -X POST -o /dev/null -w '%{http_code}' "$BERTH_URL/v2/alice/m/blobs/uploads/?mount=$secret_blob")
[ "$st" = 202 ] || fail "mount without from of a blob only other/secret holds: HTTP $st, want 202 (a fresh upload)"
expect 404 "the mount without from did not link the blob" -I -u "alice:$PW_ALICE" "$BERTH_URL/v2/alice/m/blobs/$secret_blob"
pass "mount without from of a blob only an unreadable repository holds: 202 + upload session"
read -r st loc < <(mount team/app "$team_blob")
[ "$st" = 201 ] || fail "mount from team/app (alice is a reader): HTTP $st, want 201"
expect 200 "the mounted blob is in alice/m" -I -u "alice:$PW_ALICE" "$BERTH_URL/v2/alice/m/blobs/$team_blob"

# --- throttling (last: it throttles 127.0.0.1 for a while) ------------------------------
# guess USER: one attempt as USER with a password never tried before (the same wrong
# credentials repeated are not new guesses); sets got (status) and ra (Retry-After)
guess() {
        bcurl -u "$1:guess-$RANDOM$RANDOM$RANDOM" -o /dev/null -D "$TMP/thr.h" "$(M pub/img v1)" || fail "guess as $1"
        got=$(head -n1 "$TMP/thr.h" | awk '{ print $2 }')
        ra=$(tr -d '\r' <"$TMP/thr.h" | awk -F': *' 'tolower($1) == "retry-after" { print $2 }')
}
# throttle WHAT MAX NAME...: guesses (cycling through the names) until a 429, at most MAX;
# sets fails (failures before it); then, after each Retry-After, one more failure and
# an immediate retry, until Retry-After >= 3 (long enough to observe).
throttle() {
        local what=$1 max=$2 k=0 prev rounds=0
        shift 2
        local names=("$@")
        fails=0 got=
        while [ $fails -lt "$max" ]; do
                guess "${names[$((fails % ${#names[@]}))]}"
                [ "$got" = 429 ] && break
                [ "$got" = 401 ] || fail "$what: guess $((fails + 1)): HTTP $got, want 401 or 429"
                fails=$((fails + 1))
        done
        [ "$got" = 429 ] || fail "$what: no 429 after $fails failures"
        [[ $ra =~ ^[1-9][0-9]*$ ]] || fail "$what: 429 without a valid Retry-After ('$ra')"
        pass "$what: 429 after $fails failures, Retry-After: $ra"
        prev=$ra
        while [ "$ra" -lt 3 ]; do
                rounds=$((rounds + 1))
                [ $rounds -le 6 ] || fail "$what: Retry-After does not grow ($ra)"
                sleep "$ra"
                for k in 1 2 3; do
                        guess "${names[$((k % ${#names[@]}))]}"
                        [ "$got" = 429 ] || break
                        sleep 1
                done
                [ "$got" = 401 ] || fail "$what: after Retry-After a new guess got HTTP $got, want 401 (verified)"
                guess "${names[0]}"
                [ "$got" = 429 ] || fail "$what: a guess right after a failure past the delay: HTTP $got, want 429"
                [[ $ra =~ ^[1-9][0-9]*$ ]] && [ "$ra" -ge "$prev" ] || fail "$what: Retry-After went from $prev to '$ra'"
                prev=$ra
        done
        pass "$what: Retry-After grows with further failures: now $ra"
        [ "$ra" -le 30 ] || fail "$what: Retry-After $ra, too long for this test"
}

step "throttling per user name: 429 + Retry-After, the real user's cached credentials keep working"
expect 200 "erin's own credentials (now cached)" -u "erin:$PW_ERIN" "$(M pub/img v1)" "${MANIFEST_ACCEPT[@]}"
throttle "guesses at erin's password" 12 erin
[ $fails -ge 4 ] || fail "erin throttled after only $fails failures"
expect 200 "erin's cached credentials still work while throttled" -u "erin:$PW_ERIN" "$(M pub/img v1)" "${MANIFEST_ACCEPT[@]}"
NEW_ERIN=erin2-$RANDOM$RANDOM     # credentials never verified: must wait for the delay
printf '%s\n' "$NEW_ERIN" | bd user passwd erin >/dev/null || fail "user passwd erin"
expect 429 "erin's new password while throttled (refused unverified)" -u "erin:$NEW_ERIN" "$(M pub/img v1)"
sleep $((ra + 1))
expect 200 "released after Retry-After: erin's new password" -u "erin:$NEW_ERIN" "$(M pub/img v1)" "${MANIFEST_ACCEPT[@]}"

step "throttling per address: a guesser cycling through user names"
# Each name's first failure from an address is verified (401); once the address has
# failed on 20 names, a name that failed from it waits after one failure. A user who
# has not been failing from it (a neighbour behind the same NAT) is never refused
# there (issue 9, item 4).
for i in $(seq 1 20); do
        guess "nobody$i"
        [ "$got" = 401 ] || fail "guess at nobody$i from 127.0.0.1: HTTP $got, want 401 (a name's first failure is verified)"
done
for k in 1 2 3; do
        guess nobody1
        [ "$got" = 429 ] && break
        [ "$got" = 401 ] || fail "nobody1 again: HTTP $got, want 401 or 429"
done
[ "$got" = 429 ] || fail "nobody1, failing again from the guessing address: no 429 after $k guesses"
[[ $ra =~ ^[1-9][0-9]*$ ]] || fail "429 without a valid Retry-After ('$ra')"
pass "a name failing again from the guessing address: 429, Retry-After: $ra"
expect 200 "a first login (gina) from the guessing address is verified, not refused" -u "gina:$PW_GINA" "$(M pub/img v1)" "${MANIFEST_ACCEPT[@]}"

grep -qF -e "$PW_ALICE" -e "$rsecret" -e "$psecret" -e "$NEW_DAVE" -e "$NEW_ERIN" -e "$PW_GINA" "$TMP/berthd.log" && fail "a secret appears in the server log"
pass "no secret in the server log"

berth_stop
auth_done
