#!/usr/bin/env bash
# The management API's OpenAPI document (slow tier: it installs pinned npm packages):
# docs/openapi.json is valid OpenAPI (@apidevtools/swagger-parser), berthd serves it
# byte for byte at /api/v1/openapi.json, and real answers of a running berthd, for
# every operation of the document, success and error alike, match the schemas the
# document gives them (ajv). tests/openapi/validate.mjs does the checking.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/auth-lib.sh"
berth_require curl jq sha256sum python3 node npm skopeo
berth_tmpdir
export BERTH_ARGON2_MEMORY_KIB=1024 BERTH_ARGON2_PASSES=1

v=$TMP/validate
mkdir -p "$v"
cp "$top_srcdir/tests/openapi/package.json" "$top_srcdir/tests/openapi/package-lock.json" \
        "$top_srcdir/tests/openapi/validate.mjs" "$v/"
step "npm ci (@apidevtools/swagger-parser, ajv, ajv-formats)"
if ! (cd "$v" && timeout 300 npm ci --no-audit --no-fund --prefer-offline --loglevel=error) >"$TMP/npm.log" 2>&1; then
        cat "$TMP/npm.log"
        if grep -qE 'SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT|CERT_UNTRUSTED|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH' "$TMP/npm.log"; then
                echo "SKIP [$BERTH_TEST_NAME]: the npm registry is out of reach from here"
                exit 77
        fi
        fail "npm ci failed"
fi

auth_start --gc-interval 0 --webhook-allow-cidr 127.0.0.1/32 --webhook-backoff 1/2
. "$(dirname "$0")/api-common.sh"
A=/api/v1
PW=secret-pass-1
ANS=$TMP/answers.jsonl
: >"$ANS"
# rec TEMPLATE METHOD PATH [curl args...]: one answer, recorded for the checker
rec() {
  local t=$1 m=$2 p=$3; shift 3
  case $m in POST|PUT|PATCH) set -- -H 'Content-Type: application/json' "$@" ;; esac
  req "$m" "$A$p" "$@"
  if [ -s "$API_B" ]; then
    jq -c --arg p "$t" --arg m "$m" --argjson s "$STATUS" '{path: $p, method: $m, status: $s, body: .}' "$API_B" >>"$ANS" ||
      fail "$m $p: the body is not JSON: $(head -c 200 "$API_B")"
  else
    jq -cn --arg p "$t" --arg m "$m" --argjson s "$STATUS" '{path: $p, method: $m, status: $s, body: null}' >>"$ANS"
  fi
}
ADM=(-u "admin:$ADMIN_PW")
J=(-H 'Content-Type: application/json')

step "the served document is the repository's"
req GET $A/openapi.json
expect_body_file "$top_srcdir/docs/openapi.json" "served byte for byte"
rec /openapi.json GET /openapi.json

step "answers for every operation"
rec /login POST /login "${J[@]}" -d "{\"username\":\"admin\",\"password\":\"$ADMIN_PW\"}"
sid=$(hdr Set-Cookie | sed -n 's/^berth_session=\([^;]*\);.*/\1/p'); csrf=$(jq -r .csrf_token "$API_B")
rec /login POST /login "${J[@]}" -d '{"username":"admin","password":"wrong"}'
rec /login POST /login "${J[@]}" -d '{"username":1}'
rec /me GET /me -H "Cookie: berth_session=$sid"
rec /me GET /me
rec /system GET /system "${ADM[@]}"
rec /users POST /users "${ADM[@]}" -d "{\"name\":\"alice\",\"password\":\"$PW\"}"
rec /users POST /users "${ADM[@]}" -d "{\"name\":\"bob\",\"password\":\"$PW\",\"admin\":false}"
rec /users POST /users "${ADM[@]}" -d "{\"name\":\"bob\",\"password\":\"$PW\"}"
rec /users GET "/users?limit=1" "${ADM[@]}"
rec /users GET /users -u "alice:$PW"
rec /users/{user} GET /users/bob "${ADM[@]}"
rec /users/{user} PATCH /users/bob "${ADM[@]}" -d '{"admin":false}'
rec /users/{user} GET /users/nobody "${ADM[@]}"
rec /projects POST /projects "${ADM[@]}" -d '{"name":"team","public":false,"quota":100000000}'
rec /projects POST /projects "${ADM[@]}" -d '{"name":"gone"}'
rec /projects POST /projects -u "alice:$PW" -d '{"name":"x"}'
rec /projects GET /projects "${ADM[@]}"
rec /projects GET "/projects?limit=0" "${ADM[@]}"
rec /projects/{project} GET /projects/team "${ADM[@]}"
rec /projects/{project} GET /projects/team -u "alice:$PW"
rec /projects/{project} PATCH /projects/team "${ADM[@]}" -d '{"public":false,"quota":null}'
rec /projects/{project}/members/{user} PUT /projects/team/members/alice "${ADM[@]}" -d '{"role":"admin"}'
rec /projects/{project}/members/{user} PUT /projects/team/members/bob "${ADM[@]}" -d '{"role":"reader"}'
rec /projects/{project}/members/{user} PUT /projects/team/members/bob "${ADM[@]}" -d '{"role":"boss"}'
rec /projects/{project}/members GET /projects/team/members -u "bob:$PW"
rec /projects/{project}/robots POST /projects/team/robots -u "alice:$PW" -d '{"push":true}'
robot=$(jq -r .name "$API_B")
rec /projects/{project}/robots POST /projects/team/robots -u "bob:$PW" -d '{}'
rec /projects/{project}/robots GET /projects/team/robots -u "alice:$PW"
rec /projects/{project}/robots/{robot} DELETE "/projects/team/robots/$robot" -u "alice:$PW"
rec /projects/{project}/robots/{robot} DELETE "/projects/team/robots/$robot" -u "alice:$PW"
python3 "$BERTH_IT_DIR/mkimage.py" "$TMP/src" --tag multi --layers 1 --layer-size 4k --platforms linux/amd64,linux/arm64 >/dev/null
python3 "$BERTH_IT_DIR/mkimage.py" "$TMP/src" --tag one --layers 2 --layer-size 4k --seed b >/dev/null
auth_trust_ca
timeout 300 skopeo copy --all --quiet --dest-cert-dir "$TMP/certs" --dest-creds "admin:$ADMIN_PW" "oci:$TMP/src:multi" "docker://$BERTH_HOST/team/app:multi" || fail skopeo
sk_push one team/app:one "admin:$ADMIN_PW" || fail skopeo
sk_push one team/app:two "admin:$ADMIN_PW" || fail skopeo
rec /repositories GET "/repositories?project=team" -u "bob:$PW"
rec /repositories GET "/repositories?q=app&limit=1" "${ADM[@]}"
rec /repositories GET "/repositories?project=nope" -u "bob:$PW"
rec /repositories/{repository} GET /repositories/team/app -u "bob:$PW"
rec /repositories/{repository} GET /repositories/team/none -u "bob:$PW"
rec /repositories/{repository}/-/artifacts GET "/repositories/team/app/-/artifacts?limit=2" -u "bob:$PW"
rec /repositories/{repository}/-/artifacts GET "/repositories/team/app/-/artifacts?cursor=zz" -u "bob:$PW"
rec /repositories/{repository}/-/artifacts/{reference} GET /repositories/team/app/-/artifacts/one -u "bob:$PW"
rec /repositories/{repository}/-/artifacts/{reference} GET /repositories/team/app/-/artifacts/multi -u "bob:$PW"
rec /repositories/{repository}/-/artifacts/{reference} GET /repositories/team/app/-/artifacts/nope -u "bob:$PW"
rec /projects/{project}/immutability POST /projects/team/immutability "${ADM[@]}" -d '{"pattern":"tw*"}'
rec /projects/{project}/immutability GET /projects/team/immutability -u "bob:$PW"
rec /repositories/{repository}/-/tags/{tag} DELETE /repositories/team/app/-/tags/two "${ADM[@]}"
rec /projects/{project}/immutability DELETE "/projects/team/immutability?pattern=tw*" "${ADM[@]}"
rec /projects/{project}/immutability DELETE "/projects/team/immutability?pattern=tw*" "${ADM[@]}"
rec /repositories/{repository}/-/tags/{tag} DELETE /repositories/team/app/-/tags/two -u "bob:$PW"
rec /repositories/{repository}/-/tags/{tag} DELETE /repositories/team/app/-/tags/two "${ADM[@]}"
req GET $A/repositories/team/app/-/artifacts/multi "${ADM[@]}"; child=$(jq -r '.platforms[0].digest' "$API_B")
rec /repositories/{repository}/-/artifacts/{reference} DELETE "/repositories/team/app/-/artifacts/$child" "${ADM[@]}"
rec /repositories/{repository}/-/artifacts/{reference} DELETE "/repositories/team/app/-/artifacts/one" "${ADM[@]}"
rec /projects/{project}/retention PUT /projects/team/retention "${ADM[@]}" -d '{"untagged_after":3600,"rules":[{"kind":"last-pushed","tags":"*","repos":"*","n":3}]}'
rec /projects/{project}/retention PUT /projects/team/retention "${ADM[@]}" -d '{"rules":{}}'
rec /projects/{project}/retention GET /projects/team/retention -u "bob:$PW"
rec /projects/{project}/retention DELETE /projects/team/retention "${ADM[@]}"
rec /projects/{project}/retention GET /projects/team/retention -u "bob:$PW"
# webhooks: a target that answers nothing (failed deliveries in the log)
HOOK=http://127.0.0.1:$(berth_free_port)/hook
rec /projects/{project}/webhooks POST /projects/team/webhooks -u "alice:$PW" -d "{\"url\":\"$HOOK\",\"secret\":\"s3cret\"}"
hid=$(jq -r .id "$API_B")
rec /projects/{project}/webhooks POST /projects/team/webhooks -u "alice:$PW" -d '{"url":"http://169.254.169.254/"}'
rec /projects/{project}/webhooks POST /projects/team/webhooks -u "bob:$PW" -d "{\"url\":\"$HOOK\"}"
rec /projects/{project}/webhooks GET /projects/team/webhooks -u "alice:$PW"
rec /projects/{project}/webhooks GET /projects/nope/webhooks "${ADM[@]}"
rec /projects/{project}/webhooks/{id} GET "/projects/team/webhooks/$hid" -u "alice:$PW"
rec /projects/{project}/webhooks/{id} PATCH "/projects/team/webhooks/$hid" -u "alice:$PW" -d '{"events":["push","pull"],"secret":null}'
rec /projects/{project}/webhooks/{id} PATCH "/projects/team/webhooks/$hid" -u "alice:$PW" -d '{"events":[]}'
rec /projects/{project}/webhooks/{id}/ping POST "/projects/team/webhooks/$hid/ping" -u "alice:$PW"
rec /projects/{project}/webhooks/{id}/ping POST "/projects/team/webhooks/999/ping" -u "alice:$PW"
logged() { req GET "$A/projects/team/webhooks/$hid/deliveries" -u "alice:$PW"; [ "$(jq '.items|length' "$API_B")" -ge 1 ]; }
berth_wait_for 30 logged || fail "no delivery attempt logged"
rec /projects/{project}/webhooks/{id}/deliveries GET "/projects/team/webhooks/$hid/deliveries?limit=1" -u "alice:$PW"
rec /projects/{project}/webhooks/{id}/deliveries GET "/projects/team/webhooks/$hid/deliveries?cursor=zz" -u "alice:$PW"
rec /projects/{project}/webhooks/{id}/deliveries GET "/projects/team/webhooks/$hid/deliveries" -u "bob:$PW"
rec /projects/{project}/webhooks/{id} DELETE "/projects/team/webhooks/$hid" -u "alice:$PW"
rec /projects/{project}/webhooks/{id} DELETE "/projects/team/webhooks/$hid" -u "alice:$PW"
rec /webhooks POST /webhooks "${ADM[@]}" -d "{\"url\":\"$HOOK\",\"events\":[\"delete\"],\"enabled\":false}"
gid=$(jq -r .id "$API_B")
rec /webhooks POST /webhooks -u "alice:$PW" -d "{\"url\":\"$HOOK\"}"
rec /webhooks GET /webhooks "${ADM[@]}"
rec /webhooks/{id} GET "/webhooks/$gid" "${ADM[@]}"
rec /webhooks/{id} PATCH "/webhooks/$gid" "${ADM[@]}" -d '{"enabled":true}'
rec /webhooks/{id}/ping POST "/webhooks/$gid/ping" "${ADM[@]}"
rec /webhooks/{id}/deliveries GET "/webhooks/$gid/deliveries" "${ADM[@]}"
rec /webhooks/{id} DELETE "/webhooks/$gid" "${ADM[@]}"
# a proxy project (its upstream need not answer to be made)
rec /projects POST /projects "${ADM[@]}" -d '{"name":"hub","proxy":{"url":"https://127.0.0.1:9","username":"u","password":"p","ttl":60,"mirror_of":"docker.io","docker_mirror":true}}'
rec /projects POST /projects "${ADM[@]}" -d '{"name":"hub2","proxy":{"url":"https://127.0.0.1:9","username":"u"}}'
rec /projects/{project} PATCH /projects/hub "${ADM[@]}" -d '{"proxy":{"ttl":120,"username":null}}'
rec /projects/{project} PATCH /projects/team "${ADM[@]}" -d '{"proxy":{"ttl":120}}'
rec /projects/{project}/proxy GET /projects/hub/proxy "${ADM[@]}"
rec /projects/{project}/proxy GET /projects/team/proxy "${ADM[@]}"
rec /projects/{project} GET /projects/hub "${ADM[@]}"
rec /audit GET "/audit?limit=5" "${ADM[@]}"
rec /audit GET "/audit?project=team&action=delete" -u "alice:$PW"
rec /audit GET "/audit" -u "bob:$PW"
rec /gc/runs POST /gc/runs "${ADM[@]}" -d '{"dry_run":true}'
gc_done() { req GET $A/gc/runs "${ADM[@]}"; [ "$(jq -r '.items[0].result // empty' "$API_B")" != "" ]; }
berth_wait_for 30 gc_done || fail "no GC run recorded"
rec /gc/runs GET /gc/runs "${ADM[@]}"
rec /gc/runs GET /gc/runs -u "bob:$PW"
rec /system GET /system -u "bob:$PW"
rec /repositories/{repository} DELETE /repositories/team/app -u "bob:$PW"
rec /repositories/{repository} DELETE /repositories/team/app "${ADM[@]}"
rec /projects/{project}/members/{user} DELETE /projects/team/members/bob "${ADM[@]}"
rec /projects/{project} DELETE /projects/gone -u "alice:$PW"
rec /projects/{project} DELETE /projects/gone "${ADM[@]}"
rec /me/password PUT /me/password -u "bob:$PW" -d '{"current_password":"nope-nope","new_password":"new-pass-123"}'
rec /me/password PUT /me/password -u "bob:$PW" -d "{\"current_password\":\"$PW\",\"new_password\":\"new-pass-123\"}"
rec /users/{user} DELETE /users/bob "${ADM[@]}"
rec /logout POST /logout -H "Cookie: berth_session=$sid"
rec /logout POST /logout -H "Cookie: berth_session=$sid" -H "X-CSRF-Token: $csrf"

step "the checker: document valid, every answer matches its schema"
if (cd "$v" && node validate.mjs "$top_srcdir/docs/openapi.json" "$ANS") >"$TMP/validate.out" 2>&1; then
  ok "$(tail -1 "$TMP/validate.out")"
else
  cat "$TMP/validate.out"
  ko "OpenAPI check failed"
fi
berth_stop
api_done
