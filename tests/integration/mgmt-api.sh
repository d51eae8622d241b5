#!/usr/bin/env bash
# The management API (/api/v1/, issue 12) against a real berthd with access control:
# every resource (login/logout/me, projects with usage and quota, members, robots,
# users, repositories, artifacts, audit, immutability, retention, GC runs, system,
# the OpenAPI document); each role's refusals from the one role table (a reader
# cannot create robots, a developer cannot delete a project, only a system admin
# lists users, a maintainer deletes tags, a project admin manages robots);
# hidden projects, repositories and users answer exactly as missing ones; the
# session cookie's attributes, CSRF refusals, logout and expiry ending a session
# server-side; login throttling; keyset pagination that neither repeats nor skips
# while repositories are pushed and deleted concurrently; one JSON error shape.
# Webhooks (issue 14) through the API: each role's refusals, a secret never
# answered, refused targets, a test event and a push delivered to a loopback
# receiver (signed), enable/disable, the delivery log in pages, global webhooks.
# Proxy projects (issue 13) through the API: created by a system admin only, the
# password never answered, the settings changed, an image pulled through from a
# second berthd (upstream-lib.sh), its counters, pushes refused.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/auth-lib.sh"
berth_require curl jq sha256sum python3
berth_tmpdir
export BERTH_ARGON2_MEMORY_KIB=1024 BERTH_ARGON2_PASSES=1
export BERTH_TEST_CLOCK_FILE=$TMP/clock
echo 0 >"$BERTH_TEST_CLOCK_FILE"
# webhooks may target 127.0.0.1 (the receiver below), no other loopback or private address
auth_start --gc-interval 0 --webhook-allow-cidr 127.0.0.1/32 --webhook-backoff 1/2
. "$(dirname "$0")/api-common.sh"
. "$(dirname "$0")/upstream-lib.sh"

A=/api/v1
ADMIN=(-u "admin:$ADMIN_PW")
PW=secret-pass-1
J=(-H 'Content-Type: application/json')
as() { local u=$1; shift; req "$@" -u "$u:$PW" "${J[@]}"; }
# api METHOD PATH [JSON] [curl args...] as admin
adm() { local m=$1 p=$2; shift 2; if [ $# -gt 0 ] && [ "${1:0:1}" = "{" ]; then local d=$1; shift; req "$m" "$A$p" "${ADMIN[@]}" "${J[@]}" -d "$d" "$@"; else req "$m" "$A$p" "${ADMIN[@]}" "${J[@]}" "$@"; fi; }
jb() { jq -r "$1" <"$API_B"; }
# expect_api STATUS CODE MSG: the one error shape {"error":{"code","message"}}
expect_api() {
  expect_status "$1" "$3" || return 1
  local code msg
  code=$(jq -r '.error.code' <"$API_B" 2>/dev/null); msg=$(jq -r '.error.message' <"$API_B" 2>/dev/null)
  if [ "$code" = "$2" ] && [ -n "$msg" ] && [ "$msg" != null ]; then ok "$3: $code"; else ko "$3: body $(head -c 300 "$API_B"), want code $2"; fi
}

step "OpenAPI document and the unauthenticated answers"
req GET $A/openapi.json; expect_status 200 "openapi.json is open"
expect_eq "$(jb .openapi | cut -c1-2)" "3." "an OpenAPI 3 document"
req GET $A/projects; expect_api 401 UNAUTHORIZED "no credentials"
expect_no_hdr WWW-Authenticate "no browser dialog on /api/v1"
req GET $A/projects -u "admin:wrong"; expect_api 401 UNAUTHORIZED "wrong password"
req GET $A/nothing-here "${ADMIN[@]}"; expect_api 404 NOT_FOUND "unknown path"
req POST $A/projects "${J[@]}" "${ADMIN[@]}" -d '{"name":'; expect_api 400 BAD_REQUEST "malformed JSON"
req POST $A/projects "${J[@]}" "${ADMIN[@]}" -d '[1]'; expect_api 400 BAD_REQUEST "a body that is not an object"
req POST $A/projects "${ADMIN[@]}" -d '{"name":"formish"}'; expect_api 415 UNSUPPORTED_MEDIA_TYPE "a body that is not sent as JSON"
req POST $A/login -H 'Content-Type: text/plain' -d "{\"username\":\"admin\",\"password\":\"$ADMIN_PW\"}"
expect_api 415 UNSUPPORTED_MEDIA_TYPE "a cross-site form cannot log in (login CSRF)"

step "users (system admin only)"
for u in alice bob carol dave eve; do
  adm POST /users "{\"name\":\"$u\",\"password\":\"$PW\"}"; expect_status 201 "create user $u"
done
expect_eq "$(jb .name)/$(jb .admin)" "eve/false" "the created user"
adm POST /users '{"name":"eve","password":"another-pw"}'; expect_api 409 CONFLICT "a user twice"
adm POST /users '{"name":"Bad Name","password":"another-pw"}'; expect_api 400 NAME_INVALID "an invalid user name"
adm POST /users '{"name":"frank","password":"short"}'; expect_api 400 BAD_REQUEST "a short password"
adm GET "/users?limit=2"; expect_status 200 "list users, page 1"
n1=$(jb '.items[].name' | tr '\n' ' '); cur=$(jb .next_cursor)
adm GET "/users?limit=10&cursor=$cur"; n2=$(jb '.items[].name' | tr '\n' ' ')
expect_eq "$n1$n2" "admin alice bob carol dave eve " "users in two pages, in order"
as alice GET $A/users; expect_api 403 FORBIDDEN "a non-admin lists users"
as alice GET $A/users/bob; expect_api 403 FORBIDDEN "a non-admin reads a user"
adm PATCH /users/eve '{"admin":true}'; expect_eq "$STATUS/$(jb .admin)" "200/true" "admin flag on"
adm PATCH /users/eve '{"admin":false}'; expect_eq "$STATUS/$(jb .admin)" "200/false" "admin flag off"
adm GET /users/nobody; expect_api 404 NOT_FOUND "an unknown user"

step "projects, members and roles"
as alice POST $A/projects -d '{"name":"team"}'; expect_api 403 FORBIDDEN "a user creates a project"
adm POST /projects '{"name":"team","public":false}'; expect_status 201 "create team (private)"
adm POST /projects '{"name":"pub","public":true}'; expect_status 201 "create pub (public)"
adm POST /projects '{"name":"team"}'; expect_api 409 CONFLICT "a project twice"
adm POST /projects '{"name":"alice"}'; expect_api 409 CONFLICT "a project named as a user"
adm POST /projects '{"name":"No/pe"}'; expect_api 400 NAME_INVALID "an invalid project name"
for m in alice:developer bob:reader carol:maintainer dave:admin; do
  adm PUT "/projects/team/members/${m%%:*}" "{\"role\":\"${m#*:}\"}"; expect_status 200 "member $m"
done
adm PUT /projects/team/members/nobody '{"role":"reader"}'; expect_api 404 NOT_FOUND "member: unknown user"
adm PUT /projects/team/members/bob '{"role":"owner"}'; expect_api 400 BAD_REQUEST "member: unknown role"
as bob GET $A/projects/team/members; expect_status 200 "a reader lists members"
expect_eq "$(jb '[.items[] | "\(.user):\(.role)"] | join(",")')" "alice:developer,bob:reader,carol:maintainer,dave:admin" "members and roles"
as carol PUT $A/projects/team/members/eve -d '{"role":"reader"}'; expect_api 403 FORBIDDEN "a maintainer manages members"
as dave PUT $A/projects/team/members/eve -d '{"role":"reader"}'; expect_status 200 "a project admin adds a member"
as dave DELETE $A/projects/team/members/eve; expect_status 204 "a project admin removes a member"
as bob GET $A/projects/team; expect_eq "$STATUS/$(jb .role)/$(jb '.permissions|join(",")')" "200/reader/pull" "a reader's permissions"
as carol GET $A/projects/team; expect_eq "$(jb '.permissions|join(",")')" "pull,push,delete,lifecycle" "a maintainer's permissions"
as dave GET $A/projects/team; expect_eq "$(jb '.permissions|join(",")')" "pull,push,delete,lifecycle,members,robots,webhooks" "a project admin's permissions"

step "hidden is absent: eve sees neither team nor its repositories"
as eve GET $A/projects; expect_eq "$(jb '[.items[].name] | join(",")')" "pub" "eve lists only the public project"
as eve GET $A/projects/team; expect_api 404 NOT_FOUND "eve reads team"
as eve GET $A/projects/nosuch; expect_api 404 NOT_FOUND "eve reads a missing project (the same answer)"
as eve GET $A/projects/team/members; expect_api 404 NOT_FOUND "eve lists team's members"

step "images pushed over /v2/ (alice, developer)"
python3 "$BERTH_IT_DIR/mkimage.py" "$TMP/src" --tag multi --layers 2 --layer-size 8k --platforms linux/amd64,linux/arm64 >/dev/null
single=$(python3 "$BERTH_IT_DIR/mkimage.py" "$TMP/src" --tag single --layers 2 --layer-size 8k --seed s2)
if command -v skopeo >/dev/null; then
  auth_trust_ca
  timeout 300 skopeo --command-timeout 240s copy --all --preserve-digests --quiet --dest-cert-dir "$TMP/certs" \
          --dest-creds "alice:$PW" "oci:$TMP/src:multi" "docker://$BERTH_HOST/team/app:1.0" || fail "skopeo push multi"
  sk_push single team/app:single "alice:$PW" || fail "skopeo push single"
  sk_push single team/app:old "alice:$PW" || fail "skopeo push old"
  sk_push single pub/lib:latest "admin:$ADMIN_PW" || fail "skopeo push pub"
else
  fail "skopeo is needed to push the test images"
fi
req GET /v2/team/app/manifests/single -u "bob:$PW" -H "$ACCEPT_ALL"; expect_status 200 "a pull (counted)"
# what the registry holds (skopeo may compress layers on the way)
single=$(body_digest); cp "$API_B" "$TMP/single.json"
cfgdig=$(jq -r .config.digest "$TMP/single.json"); cfgsize=$(jq -r .config.size "$TMP/single.json")
layers=$(jq '[.layers[].size] | add' "$TMP/single.json"); msize=$(fsize "$TMP/single.json")

# a referrer (an SBOM-like artifact) of single
printf '{}' >"$TMP/empty.json"
bcurl -u "alice:$PW" -o /dev/null -X POST "$BERTH_URL/v2/team/app/blobs/uploads/?digest=$(sha256_of "$TMP/empty.json")" \
        -H 'Content-Type: application/octet-stream' --data-binary "@$TMP/empty.json"
printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.example.sbom","config":%s,"layers":[%s],"subject":{"mediaType":"%s","digest":"%s","size":%s}}' \
        "$T_OCI" "$(descriptor application/vnd.oci.empty.v1+json "$TMP/empty.json")" "$(descriptor application/vnd.oci.empty.v1+json "$TMP/empty.json")" \
        "$T_OCI" "$single" "$msize" >"$TMP/sbom.json"
sbom=$(sha256_of "$TMP/sbom.json")
[ "$(bcurl -u "alice:$PW" -o /dev/null -w '%{http_code}' -X PUT "$BERTH_URL/v2/team/app/manifests/$sbom" -H "Content-Type: $T_OCI" --data-binary "@$TMP/sbom.json")" = 201 ] || fail "push the referrer"

step "repositories and artifacts"
as bob GET "$A/repositories?project=team"; expect_status 200 "a reader lists team's repositories"
expect_eq "$(jb '[.items[].name]|join(",")')/$(jb '.items[0].tags')" "team/app/3" "team/app with 3 tags"
as eve GET "$A/repositories"; expect_eq "$(jb '[.items[].name]|join(",")')" "pub/lib" "eve sees only pub/lib"
as eve GET "$A/repositories?q=app"; expect_eq "$(jb '.items|length')" 0 "eve's search finds nothing hidden"
as eve GET "$A/repositories/team/app"; expect_api 404 NOT_FOUND "eve reads team/app"
as eve GET "$A/repositories/team/app/-/artifacts"; expect_api 404 NOT_FOUND "eve lists team/app's artifacts"
as eve GET "$A/repositories?project=team"; expect_api 404 NOT_FOUND "eve filters by team"
adm GET "/repositories?q=b/li"; expect_eq "$(jb '[.items[].name]|join(",")')" "pub/lib" "search by substring"
adm GET "/repositories/team/app"; expect_eq "$STATUS/$(jb .project)" "200/team" "one repository"
as bob GET "$A/repositories/team/app/-/artifacts"; expect_status 200 "artifacts"
expect_eq "$(jb '[.items[].tag]|join(",")')" "1.0,old,single" "tags in order"
expect_eq "$(jb '.items[0].platforms | map("\(.os)/\(.architecture)") | join(",")')" "linux/amd64,linux/arm64" "platforms of the index"
expect_eq "$(jb '.items[2].digest')" "$single" "a tag's digest"
expect_eq "$(jb '.items[2].size')" "$((msize + cfgsize + layers))" "size: manifest, config and layers"
expect_eq "$(jb '.items[2].media_type')" "application/vnd.oci.image.manifest.v1+json" "media type"
expect_eq "$(jb '.items[2].referrers | map("\(.digest) \(.artifact_type)") | join(",")')" "$sbom application/vnd.example.sbom" "referrers (an SBOM)"
expect_eq "$(jb '.items[0].referrers | length')" 0 "no referrers"
[ "$(jb '.items[2].pushed')" != null ] && ok "push time" || ko "push time missing"
as bob GET "$A/repositories/team/app/-/artifacts/single"; expect_status 200 "one artifact"
expect_eq "$(jb '.config.os')/$(jb '.config.architecture')" "linux/amd64" "config os/arch"
expect_eq "$(jb '.config.env|length>0')/$(jb '.config.cmd|length>0')" "true/true" "config env and cmd"
expect_eq "$(jb '.layers|length')" 2 "two layers"
expect_eq "$(jb '.manifest.config.digest')" "$cfgdig" "the manifest JSON"
expect_eq "$(jb '.tags|join(",")')" "old,single" "tags naming it"
as bob GET "$A/repositories/team/app/-/artifacts/nosuch"; expect_api 404 NOT_FOUND "an unknown tag"
# pull records are flushed in batches: wait for the count
pulled() { req GET "$A/repositories/team/app/-/artifacts/single" -u "bob:$PW"; [ "$(jb .pull_count)" -ge 1 ]; }
berth_wait_for 20 pulled && ok "pull_count from the pull records" || ko "pull_count stayed $(jb .pull_count)"
[ "$(jb .last_pulled)" != null ] && ok "last_pulled" || ko "last_pulled missing"

step "deletes: by role"
as bob DELETE "$A/repositories/team/app/-/tags/old"; expect_api 403 FORBIDDEN "a reader deletes a tag"
as alice DELETE "$A/repositories/team/app/-/tags/old"; expect_api 403 FORBIDDEN "a developer deletes a tag"
as eve DELETE "$A/repositories/team/app/-/tags/old"; expect_api 404 NOT_FOUND "eve deletes a hidden tag"
as carol DELETE "$A/repositories/team/app/-/tags/old"; expect_status 204 "a maintainer deletes a tag"
as carol DELETE "$A/repositories/team/app/-/tags/old"; expect_api 404 NOT_FOUND "the tag is gone"
as alice DELETE "$A/projects/team"; expect_api 403 FORBIDDEN "a developer deletes a project"
as dave DELETE "$A/projects/team"; expect_api 403 FORBIDDEN "a project admin deletes a project"
adm DELETE /projects/team; expect_api 409 CONFLICT "a project with repositories"

step "immutability and retention (maintainer), quota (system admin)"
as alice POST $A/projects/team/immutability -d '{"pattern":"1.*"}'; expect_api 403 FORBIDDEN "a developer adds an immutability rule"
as carol POST $A/projects/team/immutability -d '{"pattern":"1.*"}'; expect_status 201 "a maintainer adds one"
as bob GET $A/projects/team/immutability; expect_eq "$(jb '[.rules[].pattern]|join(",")')" "1.*" "rules"
as carol DELETE "$A/repositories/team/app/-/tags/1.0"; expect_api 409 IMMUTABLE "an immutable tag"
as carol DELETE "$A/projects/team/immutability?pattern=1.*"; expect_status 204 "rule removed"
as carol PUT $A/projects/team/retention -d '{"untagged_after":86400,"rules":[{"kind":"last-pushed","tags":"*","repos":"*","n":5}]}'
expect_eq "$STATUS/$(jb '.rules[0].kind')/$(jb .untagged_after)" "200/last-pushed/86400" "a retention policy"
as bob GET $A/projects/team/retention; expect_eq "$STATUS/$(jb '.rules[0].n')" "200/5" "read by a reader"
as carol PUT $A/projects/team/retention -d '{"rules":[{"kind":"sometimes"}]}'; expect_api 400 BAD_REQUEST "a bad rule"
# the same rule the CLI reads
bd retention list team >"$TMP/ret.out" 2>&1 && grep -q last-pushed "$TMP/ret.out" && ok "berthd retention show sees it" || ko "berthd retention show: $(cat "$TMP/ret.out")"
as dave PATCH $A/projects/team -d '{"quota":1000000}'; expect_api 403 FORBIDDEN "a project admin sets a quota"
adm PATCH /projects/team '{"quota":1000000}'; expect_eq "$STATUS/$(jb .quota)" "200/1000000" "quota set"
[ "$(jb .usage.bytes)" -gt 0 ] && ok "usage $(jb .usage.bytes) bytes" || ko "usage: $(cat "$API_B")"
bd usage team --json >"$TMP/usage.json" && expect_eq "$(jq -r '.projects[0].quota' "$TMP/usage.json")" 1000000 "berthd usage sees the quota"
as dave PATCH $A/projects/team -d '{"public":true}'; expect_eq "$STATUS/$(jb .public)" "200/true" "a project admin makes it public"
as dave PATCH $A/projects/team -d '{"public":false}'; expect_status 200 "and private again"

step "robot tokens (project admin)"
as bob POST $A/projects/team/robots -d '{}'; expect_api 403 FORBIDDEN "a reader creates a robot"
as carol POST $A/projects/team/robots -d '{}'; expect_api 403 FORBIDDEN "a maintainer creates a robot"
as dave POST $A/projects/team/robots -d '{"push":false,"expires_in":86400}' -H "Host: $BERTH_HOST"; expect_status 201 "a project admin creates one"
rname=$(jb .name); rsecret=$(jb .secret)
expect_eq "$(jb .registry)" "$BERTH_HOST" "the registry host"
jb .secret_yaml | grep -q '^type: kubernetes.io/dockerconfigjson$' && ok "a dockerconfigjson Secret" || ko "secret_yaml: $(jb .secret_yaml)"
cfgjson=$(jb .secret_yaml | sed -n 's/^  .dockerconfigjson: //p' | base64 -d)
expect_eq "$(jq -r --arg h "$BERTH_HOST" '.auths[$h].username' <<<"$cfgjson")" "$rname" "the Secret holds the robot"
expect_eq "$(jq -r --arg h "$BERTH_HOST" '.auths[$h].password' <<<"$cfgjson")" "$rsecret" "and its secret"
jb .docker_login | grep -q "docker login $BERTH_HOST -u $rname" && ok "docker login line" || ko "docker_login: $(jb .docker_login)"
req GET /v2/team/app/manifests/single -u "$rname:$rsecret" -H "$ACCEPT_ALL"; expect_status 200 "the robot pulls with the shown secret"
as dave GET $A/projects/team/robots; expect_eq "$(jb '[.items[].name]|join(",")')/$(jb '.items[0]|has("secret")')" "$rname/false" "listed without its secret"
req GET $A/projects -u "$rname:$rsecret"; expect_eq "$STATUS/$(jb '[.items[].name]|join(",")')" "200/pub,team" "a robot sees its project"
as dave DELETE "$A/projects/team/robots/$rname"; expect_status 204 "revoked"
req GET /v2/team/app/manifests/single -u "$rname:$rsecret" -H "$ACCEPT_ALL"; expect_status 401 "a revoked robot"

step "sessions: cookie attributes, CSRF, logout, expiry"
req POST $A/login "${J[@]}" -d "{\"username\":\"alice\",\"password\":\"$PW\"}"; expect_status 200 "login"
cookie=$(hdr Set-Cookie); csrf=$(jb .csrf_token)
sid=$(sed -n 's/^berth_session=\([^;]*\);.*/\1/p' <<<"$cookie")
for attr in HttpOnly Secure SameSite=Strict Path=/ Max-Age=; do
  case "; $cookie" in *"; $attr"*) ok "cookie has $attr" ;; *) ko "cookie lacks $attr: $cookie" ;; esac
done
[ ${#sid} -eq 43 ] && ok "a 43-character session id" || ko "session id '$sid'"
grep -q "$sid" "$BERTH_DATA"/berth.db* 2>/dev/null && ko "the session id is stored in the clear" || ok "only the id's hash is stored"
C=(-H "Cookie: berth_session=$sid")
req GET $A/me "${C[@]}"; expect_eq "$STATUS/$(jb .name)/$(jb .csrf_token)" "200/alice/$csrf" "me by cookie, with the CSRF token"
req POST $A/projects/team/robots "${J[@]}" "${C[@]}" -d '{}'; expect_api 403 CSRF "a cookie POST without the CSRF header"
req PUT $A/me/password "${J[@]}" "${C[@]}" -H "X-CSRF-Token: ${csrf%?}x" -d '{}'; expect_api 403 CSRF "a wrong CSRF token"
req DELETE "$A/repositories/team/app/-/tags/single" "${C[@]}" -H "X-CSRF-Token: $csrf"; expect_api 403 FORBIDDEN "with CSRF, still the role decides"
req POST $A/login "${J[@]}" -d '{"username":"alice","password":"nope"}'; expect_api 401 UNAUTHORIZED "a wrong password"
req POST $A/login "${J[@]}" -d "{\"username\":\"$rname\",\"password\":\"$rsecret\"}"; expect_api 401 UNAUTHORIZED "a (revoked) robot logs in"
req POST $A/logout "${J[@]}" "${C[@]}" -H "X-CSRF-Token: $csrf"; expect_status 204 "logout"
req GET $A/me "${C[@]}"; expect_api 401 UNAUTHORIZED "the cookie after logout"
req POST $A/login "${J[@]}" -d "{\"username\":\"bob\",\"password\":\"$PW\"}"; sid2=$(hdr Set-Cookie | sed -n 's/^berth_session=\([^;]*\);.*/\1/p')
req GET $A/me -H "Cookie: berth_session=$sid2"; expect_status 200 "a second session"
echo 43300 >"$TMP/clock.new" && mv "$TMP/clock.new" "$BERTH_TEST_CLOCK_FILE"
req GET $A/me -H "Cookie: berth_session=$sid2"; expect_api 401 UNAUTHORIZED "a session past its 12 h"
echo 0 >"$TMP/clock.new" && mv "$TMP/clock.new" "$BERTH_TEST_CLOCK_FILE"
req GET $A/me -H "Cookie: berth_session=$sid2"; expect_api 401 UNAUTHORIZED "an expired session stays ended"
# a user of its own for the throttle (its back-off grows below: the others log in later)
adm POST /users "{\"name\":\"mallory\",\"password\":\"$PW\"}"; expect_status 201 "create user mallory"
throttled=
for i in $(seq 1 12); do
  req POST $A/login -d "{\"username\":\"mallory\",\"password\":\"guess-$i\"}" -H 'Content-Type: application/json'
  [ "$STATUS" = 429 ] && { throttled=$i; break; }
done
[ -n "$throttled" ] && ok "login throttled after $throttled failures (Retry-After: $(hdr Retry-After))" || ko "login never throttled"
# more failures lengthen the wait (back-off): once it is several seconds, the right
# password comes well within it however slow this machine is (a 1 s wait may be over
# before the next request on a loaded or instrumented build)
for i in $(seq 1 30); do
  [ "$STATUS" = 429 ] && [ "$(hdr Retry-After)" -ge 4 ] 2>/dev/null && break
  req POST $A/login -d "{\"username\":\"mallory\",\"password\":\"again-$i\"}" -H 'Content-Type: application/json'
done
req POST $A/login "${J[@]}" -d "{\"username\":\"mallory\",\"password\":\"$PW\"}"; expect_api 429 THROTTLED "even the right password while throttled"

step "webhooks through the API (project admins; global ones: system admins)"
RPORT=$(berth_free_port) || fail "no free port"
RECEIVED=$TMP/received.jsonl; : >"$RECEIVED"
python3 "$BERTH_IT_DIR/webhook_receiver.py" --port "$RPORT" --out "$RECEIVED" --status-file "$TMP/rstatus" \
  >>"$TMP/receiver.log" 2>&1 &
berth_track_pid $!
HOOK=http://127.0.0.1:$RPORT/hook
HSECRET=hook-secret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
as bob GET $A/projects/team/webhooks; expect_api 403 FORBIDDEN "a reader lists webhooks"
as alice POST $A/projects/team/webhooks -d "{\"url\":\"$HOOK\"}"; expect_api 403 FORBIDDEN "a developer adds a webhook"
as carol POST $A/projects/team/webhooks -d "{\"url\":\"$HOOK\"}"; expect_api 403 FORBIDDEN "a maintainer adds a webhook"
as eve GET $A/projects/team/webhooks; expect_api 404 NOT_FOUND "a hidden project's webhooks are absent"
as eve POST $A/projects/team/webhooks -d "{\"url\":\"$HOOK\"}"; expect_api 404 NOT_FOUND "a hidden project takes no webhook"
adm GET /projects/nosuch/webhooks; expect_api 404 NOT_FOUND "a project that does not exist"
as dave POST $A/projects/team/webhooks -d "{\"url\":\"$HOOK\",\"events\":[\"push\",\"delete\"],\"secret\":\"$HSECRET\"}"
expect_eq "$STATUS/$(jb .project)/$(jb '.events|join(",")')/$(jb .secret_set)/$(jb .enabled)" "201/team/push,delete/true/true" "a project admin adds a signed webhook"
HID=$(jb .id)
grep -q "$HSECRET" "$API_B" && ko "the secret is answered" || ok "the secret is not answered"
as dave GET $A/projects/team/webhooks; expect_eq "$STATUS/$(jb '.items|length')/$(jb '.items[0].secret_set')" "200/1/true" "list: one webhook, a secret set"
grep -q "$HSECRET" "$API_B" && ko "the secret is listed" || ok "the secret is not listed"
as dave GET "$A/projects/team/webhooks/$HID"; expect_eq "$STATUS/$(jb .url)" "200/$HOOK" "one webhook"
grep -q "$HSECRET" "$API_B" && ko "the secret is shown" || ok "the secret is not shown"
# refused targets: the CLI's policy, with the reason
as dave POST $A/projects/team/webhooks -d '{"url":"http://169.254.169.254/latest"}'; expect_api 400 TARGET_REFUSED "a cloud metadata address"
grep -q "metadata\|link-local" "$API_B" && ok "the reason says why: $(jb .error.message)" || ko "no reason: $(cat "$API_B")"
as dave POST $A/projects/team/webhooks -d '{"url":"http://10.1.2.3/hook"}'; expect_api 400 TARGET_REFUSED "a private address not allowed"
as dave POST $A/projects/team/webhooks -d '{"url":"http://127.0.0.2:9/hook"}'; expect_api 400 TARGET_REFUSED "a loopback address outside --webhook-allow-cidr"
as dave POST $A/projects/team/webhooks -d '{"url":"ftp://example.com/x"}'; expect_api 400 BAD_REQUEST "not an http URL"
as dave POST $A/projects/team/webhooks -d "{\"url\":\"$HOOK\",\"events\":[\"bogus\"]}"; expect_api 400 BAD_REQUEST "an unknown event"
as dave POST $A/projects/team/webhooks -d "{\"url\":\"$HOOK\",\"secrte\":\"x\"}"; expect_api 400 BAD_REQUEST "a misspelt member"
as dave PATCH "$A/projects/team/webhooks/$HID" -d '{"url":"http://169.254.169.254/"}'; expect_api 400 TARGET_REFUSED "a PATCH to a refused target"
as dave GET $A/projects/team/webhooks; expect_eq "$(jb '.items|length')/$(jb '.items[0].url')" "1/$HOOK" "nothing refused was stored"
# a test event, then a push: delivered, signed
as dave POST "$A/projects/team/webhooks/$HID/ping"; expect_eq "$STATUS/$(jb .type)" "202/io.berth.ping" "a test event queued"
PING_ID=$(jb .event_id)
delivered() { python3 - "$RECEIVED" "$1" "$HSECRET" <<'PY'
import hashlib, hmac, json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    b = json.loads(r["body"])
    if eval(sys.argv[2]):
        sig = "sha256=" + hmac.new(sys.argv[3].encode(), r["body"].encode(), hashlib.sha256).hexdigest()
        sys.exit(0 if r["headers"].get("x-berth-signature") == sig else 2)
sys.exit(1)
PY
}
berth_wait_for 20 delivered "b['id'] == '$PING_ID' and b['type'] == 'io.berth.ping'" && ok "the test event arrived, signed" || ko "no signed test event: $(cat "$RECEIVED")"
sk_push single team/hooked:1 "alice:$PW" || fail "skopeo push team/hooked:1"
berth_wait_for 20 delivered "b['type'] == 'io.berth.push' and b['data']['repository'] == 'team/hooked' and b['data']['tag'] == '1'" &&
  ok "a push through /v2/ arrived, signed" || ko "no push event: $(cat "$RECEIVED")"
# the delivery log, newest first, in pages
log_has2() { as dave GET "$A/projects/team/webhooks/$HID/deliveries"; [ "$(jb '.items|length')" -ge 2 ]; }
berth_wait_for 10 log_has2 || ko "the log: $(cat "$API_B")"
as dave GET "$A/projects/team/webhooks/$HID/deliveries?limit=1"
expect_eq "$STATUS/$(jb '.items[0].type')/$(jb '.items[0].result')/$(jb '.items[0].status')/$(jb '.items[0].attempt')" "200/io.berth.push/success/200/1" "the newest delivery"
[ "$(jb '.items[0].latency_ms|type')" = number ] && [ "$(jb '.items[0].time')" != null ] && ok "latency and time" || ko "delivery: $(cat "$API_B")"
cur=$(jb .next_cursor); first=$(jb '.items[0].id')
as dave GET "$A/projects/team/webhooks/$HID/deliveries?limit=1&cursor=$cur"
expect_eq "$STATUS/$(jb '.items[0].type')/$(jb '.items[0].event_id')" "200/io.berth.ping/$PING_ID" "the next page: the test event"
[ "$(jb '.items[0].id')" -lt "$first" ] && ok "keyset order: newest first" || ko "page 2: $(cat "$API_B")"
as dave GET "$A/projects/team/webhooks/$HID/deliveries?cursor=zz"; expect_api 400 BAD_REQUEST "a bad cursor"
as bob GET "$A/projects/team/webhooks/$HID/deliveries"; expect_api 403 FORBIDDEN "a reader reads the delivery log"
# disabled: nothing queued; enabled again, without its secret
as dave PATCH "$A/projects/team/webhooks/$HID" -d '{"enabled":false}'; expect_eq "$STATUS/$(jb .enabled)/$(jb .secret_set)" "200/false/true" "disabled, the secret kept"
bd webhook list team >"$TMP/hooks.out" 2>&1; grep -q "push,delete (disabled)" "$TMP/hooks.out" && ok "berthd webhook list says disabled" || ko "$(cat "$TMP/hooks.out")"
sk_push single team/hooked:2 "alice:$PW" || fail "skopeo push team/hooked:2"
sleep 3
delivered "b['type'] == 'io.berth.push' and b['data'].get('tag') == '2'"; [ $? = 1 ] && ok "a disabled webhook is sent nothing" || ko "delivered while disabled"
as dave PATCH "$A/projects/team/webhooks/$HID" -d '{"enabled":true,"secret":null,"events":["all"]}'
expect_eq "$STATUS/$(jb .enabled)/$(jb .secret_set)/$(jb '.events|join(",")')" "200/true/false/push,delete,pull,quota" "enabled again, the secret removed, every event"
# global webhooks: system admins only; a project's webhook is not global, nor the reverse
as dave GET $A/webhooks; expect_api 403 FORBIDDEN "a project admin lists global webhooks"
adm POST /webhooks "{\"url\":\"$HOOK\",\"events\":[\"delete\"]}"; expect_eq "$STATUS/$(jb .project)" "201/null" "a system admin adds a global webhook"
GID=$(jb .id)
adm GET /webhooks; expect_eq "$(jb '[.items[].id]|join(",")')" "$GID" "global webhooks only"
adm GET "/webhooks/$HID"; expect_api 404 NOT_FOUND "a project's webhook under /webhooks"
as dave GET "$A/projects/team/webhooks/$GID"; expect_api 404 NOT_FOUND "a global webhook under a project"
as dave GET "$A/projects/pub/webhooks/$HID"; expect_api 403 FORBIDDEN "another project's webhook (a reader there)"
adm DELETE "/webhooks/$GID"; expect_status 204 "delete the global webhook"
as dave DELETE "$A/projects/team/webhooks/$HID"; expect_status 204 "a project admin deletes the webhook"
as dave GET "$A/projects/team/webhooks/$HID"; expect_api 404 NOT_FOUND "a deleted webhook"
bd webhook list >"$TMP/hooks.out" 2>&1; [ "$(wc -l <"$TMP/hooks.out")" = 1 ] && ok "berthd webhook list: none left" || ko "$(cat "$TMP/hooks.out")"
grep -q "$HSECRET" "$TMP/berthd.log" "$BERTH_DATA"/berth.db* 2>/dev/null && ko "the secret in the log or the database in the clear" || ok "the secret is nowhere in the clear"

step "proxy projects through the API (system admins)"
UP=127.0.0.1:$(berth_free_port) || fail "no free port"
UP_PW=up-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
upstream_berthd "$TMP/up-data" "$UP" puller "$UP_PW" "$TMP/up.log" --auth basic
upstream_seed "$UP" "puller:$UP_PW" upstream-one team/one:v1
UPDIGEST=$(timeout 60 skopeo inspect --raw --creds "puller:$UP_PW" --tls-verify=false "docker://$UP/team/one:v1" | sha256sum | cut -d' ' -f1)
CA=$(jq -Rs . <"$TMP/up-data/tls/ca.crt")
PROXY="{\"url\":\"https://$UP\",\"username\":\"puller\",\"password\":\"$UP_PW\",\"ca_pem\":$CA,\"ttl\":60}"
as dave POST $A/projects -d "{\"name\":\"mirror\",\"proxy\":$PROXY}"; expect_api 403 FORBIDDEN "a project admin creates a proxy project"
adm POST /projects "{\"name\":\"mirror\",\"proxy\":{\"url\":\"ftp://$UP\"}}"; expect_api 400 BAD_REQUEST "an upstream that is not http(s)"
adm POST /projects "{\"name\":\"mirror\",\"proxy\":{\"url\":\"https://$UP\",\"username\":\"puller\"}}"; expect_api 400 BAD_REQUEST "a username without a password"
adm POST /projects "{\"name\":\"mirror\",\"proxy\":{\"url\":\"https://$UP\",\"ca_pem\":\"not a certificate\"}}"; expect_api 400 BAD_REQUEST "a CA that is not PEM"
adm GET /projects/mirror; expect_api 404 NOT_FOUND "nothing made by a refused creation"
adm POST /projects "{\"name\":\"mirror\",\"public\":false,\"proxy\":$PROXY}"
expect_eq "$STATUS/$(jb .proxy.url)/$(jb .proxy.username)/$(jb .proxy.password_set)/$(jb .proxy.ca_set)/$(jb .proxy.ttl)" "201/https://$UP/puller/true/true/60" "a system admin creates a proxy project"
grep -q "$UP_PW" "$API_B" && ko "the upstream password is answered" || ok "the upstream password is not answered"
bd project show mirror >"$TMP/show.out" 2>&1; grep -q "password.*(sealed)" "$TMP/show.out" && ok "berthd project show: the password sealed" || ko "$(cat "$TMP/show.out")"
adm GET /projects/team; expect_eq "$(jb .proxy)" null "a local project has no proxy settings"
# an image pulled through it, from the upstream
berth_wait_for 15 timeout 60 skopeo inspect --raw --cert-dir "$TMP/certs" --creds "admin:$ADMIN_PW" "docker://$BERTH_HOST/mirror/team/one:v1" >"$TMP/pulled.json" ||
  ko "no manifest through the proxy project"
expect_eq "$(sha256sum <"$TMP/pulled.json" | cut -d' ' -f1)" "$UPDIGEST" "the manifest pulled through is the upstream's"
timeout 120 skopeo copy --quiet --src-cert-dir "$TMP/certs" --src-creds "admin:$ADMIN_PW" "docker://$BERTH_HOST/mirror/team/one:v1" "oci:$TMP/pulled:one" &&
  ok "the image pulled through, layers and all" || ko "skopeo copy through the proxy project"
adm GET /projects/mirror/proxy
expect_eq "$STATUS/$(jb '.status.misses > 0')/$(jb '.status.bytes_fetched > 0')" "200/true/true" "its counters: misses, bytes fetched ($(jb .status|tr -d '\n '))"
grep -q "$UP_PW" "$API_B" && ko "the password in the status" || ok "no password in the status"
as eve GET $A/projects/mirror/proxy; expect_api 404 NOT_FOUND "a hidden proxy project's status"
sk_push single mirror/team/mine:1 "admin:$ADMIN_PW" 2>/dev/null && ko "a push to the proxy project worked" || ok "pushes to the proxy project are refused"
[ "$(bcurl -u "admin:$ADMIN_PW" -o /dev/null -w '%{http_code}' -X POST "$BERTH_URL/v2/mirror/team/mine/blobs/uploads/")" = 405 ] &&
  ok "405 for an upload to the proxy project" || ko "an upload to the proxy project not refused with 405"
adm PATCH /projects/mirror '{"proxy":{"ttl":120,"mirror_of":"registry.up.test","docker_mirror":true}}'
expect_eq "$STATUS/$(jb .proxy.ttl)/$(jb .proxy.mirror_of)/$(jb .proxy.docker_mirror)/$(jb .proxy.password_set)" "200/120/registry.up.test/true/true" "PATCH the proxy settings"
adm PATCH /projects/mirror '{"proxy":{"username":null,"ca_pem":null,"mirror_of":null}}'
expect_eq "$STATUS/$(jb .proxy.username)/$(jb .proxy.password_set)/$(jb .proxy.ca_set)/$(jb .proxy.mirror_of)" "200/null/false/false/null" "credentials, CA and mirror-of removed"
adm PATCH /projects/mirror '{"proxy":{"password":"x"}}'; expect_api 400 BAD_REQUEST "a password alone"
adm PATCH /projects/team '{"proxy":{"ttl":5}}'; expect_api 409 CONFLICT "a local project does not become a proxy"
as dave PATCH $A/projects/team -d '{"proxy":{"ttl":5}}'; expect_api 403 FORBIDDEN "a project admin changes proxy settings"
bd project show mirror >"$TMP/show.out" 2>&1; grep -q "^ttl.120" "$TMP/show.out" && ok "berthd project show sees the API's change" || ko "$(cat "$TMP/show.out")"
ls "$BERTH_DATA/proxy-ca" 2>/dev/null | grep -q . && ko "a removed CA file left behind: $(ls "$BERTH_DATA/proxy-ca")" || ok "the removed CA file is gone"
adm POST /projects "{\"name\":\"mirror2\",\"proxy\":{\"url\":\"https://$UP\",\"ca_pem\":$CA}}"; expect_status 201 "a second proxy project, with a CA"
[ "$(ls "$BERTH_DATA/proxy-ca" | wc -l)" = 1 ] && ok "its CA stored in DATA/proxy-ca" || ko "proxy-ca: $(ls "$BERTH_DATA/proxy-ca" 2>&1)"
adm POST /projects "{\"name\":\"mirror2\",\"proxy\":{\"url\":\"https://$UP\",\"ca_pem\":$CA}}"; expect_api 409 CONFLICT "the same proxy project twice"
[ "$(ls "$BERTH_DATA/proxy-ca" | wc -l)" = 1 ] && ok "the refused twin left the first one's CA in place" || ko "proxy-ca: $(ls "$BERTH_DATA/proxy-ca" 2>&1)"
adm DELETE /projects/mirror2; expect_status 204 "delete it (nothing cached)"
[ "$(ls "$BERTH_DATA/proxy-ca" | wc -l)" = 0 ] && ok "its CA file went with it" || ko "proxy-ca: $(ls "$BERTH_DATA/proxy-ca")"
adm DELETE /projects/mirror; expect_api 409 CONFLICT "a proxy project holding cached images is not deleted"

step "audit trail"
as alice GET "$A/audit"; expect_api 403 FORBIDDEN "a developer reads the audit trail"
as dave GET "$A/audit?project=team&action=delete"; expect_status 200 "a project admin reads their project's"
expect_eq "$(jb '[.items[].repository]|unique|join(",")')" "team/app" "only team's rows"
adm GET "/audit?user=carol&action=delete&repository=team/app"; expect_eq "$(jb '[.items[].detail]|join(",")')" "old" "filters: user, action, repository"
adm GET "/audit?limit=3"; p1=$(jb '[.items[].id]|join(",")'); cur=$(jb .next_cursor)
adm GET "/audit?limit=3&cursor=$cur"; p2=$(jb '.items[0].id')
[ "$p2" -lt "${p1##*,}" ] && ok "audit pages go back in time" || ko "audit pages $p1 then $p2"
adm GET "/audit?since=2000-01-01T00:00:00Z&until=2000-01-02T00:00:00Z"; expect_eq "$(jb '.items|length')" 0 "time filter"
adm GET "/audit?since=yesterday"; expect_api 400 BAD_REQUEST "a bad time"

step "GC runs (system admin)"
as dave POST $A/gc/runs -d '{}'; expect_api 403 FORBIDDEN "a project admin starts GC"
adm POST /gc/runs '{"dry_run":true}'; expect_status 202 "start a dry run"
gc_listed() { req GET $A/gc/runs "${ADMIN[@]}"; [ "$(jb '.items|length')" -ge 1 ] && [ "$(jb '.items[0].result')" != null ]; }
berth_wait_for 30 gc_listed && ok "the run is listed: $(jb '.items[0]|{dry_run,result}|tostring')" || ko "gc runs: $(cat "$API_B")"
bd gc --status >"$TMP/gcstatus" 2>&1 && ok "berthd gc --status works alongside" || ko "gc --status: $(cat "$TMP/gcstatus")"
adm GET /system; expect_eq "$STATUS/$(jb .health)/$(jb '.storage.bytes>0')" "200/ok/true" "system page"
as bob GET $A/system; expect_eq "$(jb .storage)" null "a non-admin sees no storage figures"

step "pagination stays stable while repositories are pushed and deleted"
printf '{}' >"$TMP/cfg.json"
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[]}' "$T_OCI" "$(descriptor application/vnd.oci.image.config.v1+json "$TMP/cfg.json")" >"$TMP/m.json"
push_repo() {
  bcurl -u "admin:$ADMIN_PW" -o /dev/null -X POST "$BERTH_URL/v2/$1/blobs/uploads/?digest=$(sha256_of "$TMP/cfg.json")" --data-binary "@$TMP/cfg.json" -H 'Content-Type: application/octet-stream'
  bcurl -u "admin:$ADMIN_PW" -o /dev/null -w '%{http_code}' -X PUT "$BERTH_URL/v2/$1/manifests/v1" -H "Content-Type: $T_OCI" --data-binary "@$TMP/m.json"
}
for i in $(seq -w 1 40); do
  [ "$(push_repo "team/p$i")" = 201 ] || fail "push team/p$i"
done
# concurrent writer: new repositories between the pages' keys, and deletes of others
(
  for i in $(seq -w 1 40); do
    push_repo "team/p${i}x" >/dev/null
    [ $((10#$i % 4)) = 0 ] && push_repo "team/p$((10#$i - 1))y" >/dev/null
    [ $((10#$i % 3)) = 0 ] && bcurl -u "admin:$ADMIN_PW" -o /dev/null -X DELETE "$BERTH_URL/api/v1/repositories/team/p${i}x"
  done
) &
writer=$!
berth_track_pid $writer
seen=; cur=; pages=0
while :; do
  q="project=team&q=/p&limit=7"; [ -n "$cur" ] && q="$q&cursor=$cur"
  req GET "$A/repositories?$q" "${ADMIN[@]}"
  [ "$STATUS" = 200 ] || { ko "page $pages: $STATUS"; break; }
  seen="$seen $(jb '[.items[].name]|join(" ")')"
  pages=$((pages + 1)); cur=$(jb '.next_cursor // empty')
  [ -n "$cur" ] || break
  [ $pages -lt 100 ] || { ko "too many pages"; break; }
done
wait $writer
orig=$(printf 'team/p%s\n' $(seq -w 1 40))
got=$(tr ' ' '\n' <<<"$seen" | grep -E '^team/p[0-9]+$')
expect_eq "$(echo "$got" | tr '\n' ' ')" "$(echo "$orig" | tr '\n' ' ')" "every repository present throughout: once each, in order ($pages pages)"
dups=$(tr ' ' '\n' <<<"$seen" | grep . | sort | uniq -d | wc -l)
expect_eq "$dups" 0 "no repository twice"
sorted=$(tr ' ' '\n' <<<"$seen" | grep . | LC_ALL=C sort -c 2>&1 && echo sorted)
expect_eq "$sorted" sorted "pages in name order"
req GET "$A/repositories?limit=0" "${ADMIN[@]}"; expect_api 400 BAD_REQUEST "limit 0"
req GET "$A/repositories?cursor=%%%" "${ADMIN[@]}"; expect_api 400 BAD_REQUEST "a forged cursor"

step "delete a repository, then the project"
as carol DELETE "$A/repositories/team/p01"; expect_status 204 "a maintainer deletes a repository"
as carol GET "$A/repositories/team/p01"; expect_api 404 NOT_FOUND "gone"
as eve DELETE "$A/repositories/team/p02"; expect_api 404 NOT_FOUND "eve cannot even find one to delete"
adm DELETE /users/eve; expect_status 204 "delete a user"
adm DELETE /users/admin; expect_api 409 CONFLICT "an admin deletes themself"
adm POST /projects '{"name":"empty"}'; adm DELETE /projects/empty; expect_status 204 "delete an empty project"

step "own password (users only); the old password then fails"
as bob PUT $A/me/password -d '{"current_password":"wrong-one","new_password":"new-pass-123"}'; expect_api 403 FORBIDDEN "a wrong current password"
as bob PUT $A/me/password -d "{\"current_password\":\"$PW\",\"new_password\":\"new-pass-123\"}"; expect_status 204 "change own password"
req GET $A/me -u "bob:new-pass-123"; expect_status 200 "the new password works"

berth_stop
api_done
