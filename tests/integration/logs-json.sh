#!/usr/bin/env bash
# --log-format json: every line berthd writes is one JSON object (time, level,
# component, message); an access line has the request's method, route, repository,
# status, bytes, duration, user and request id, and the id is the X-Request-Id the
# client got. A URL with %0a and a quote stays inside one valid line; no secret shows.
. "$(dirname "$0")/lib.sh"
berth_require curl jq
berth_tmpdir
export BERTH_ADMIN_PASSWORD=logs-json-secret-pw
berth_start --auth basic --log-format json
log=$TMP/berthd.log

step "requests: a login, a manifest miss, a URL with a newline and a quote"
hdr=$(bcurl -D - -o /dev/null -u "admin:$BERTH_ADMIN_PASSWORD" "$BERTH_URL/v2/") || fail "GET /v2/"
id_base=$(printf '%s' "$hdr" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-request-id" { print $2 }')
[ -n "$id_base" ] || fail "no X-Request-Id on GET /v2/: $hdr"
hdr=$(bcurl -D - -o /dev/null -u "admin:$BERTH_ADMIN_PASSWORD" "$BERTH_URL/v2/some/repo/manifests/nope") ||
        fail "GET manifest"
id_miss=$(printf '%s' "$hdr" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-request-id" { print $2 }')
[ -n "$id_miss" ] && [ "$id_miss" != "$id_base" ] || fail "no distinct X-Request-Id on a 404: $hdr"
hdr=$(bcurl -g -D - -o /dev/null "$BERTH_URL/v2/x%0a%22%7d%0d%0a%7b%22level%22:%22forged%22%1b/tags/list") ||
        fail "GET with %0a"
id_bad=$(printf '%s' "$hdr" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-request-id" { print $2 }')
[ -n "$id_bad" ] || fail "no X-Request-Id on an error answer: $hdr"
# access lines are written when a request completes: wait for the last one's
berth_wait_for 10 grep -qF "\"$id_bad\"" "$log" || fail "no access line for request $id_bad"

step "every line parses"
n=0
while IFS= read -r line; do
        n=$((n + 1))
        printf '%s\n' "$line" | jq -e 'type == "object" and (.time|type) == "string" and
                (.level|type) == "string" and (.component|type) == "string" and
                (.message|type) == "string"' >/dev/null ||
                fail "line $n is not a JSON object with time, level, component, message: $line"
done <"$log"
[ "$n" -ge 4 ] || fail "only $n lines in the log"
objects=$(jq -c . "$log" | wc -l)
[ "$objects" -eq "$n" ] || fail "$n lines but $objects JSON objects"
grep -q forged "$log" || fail "the injected text is not in the log at all (nothing was tested)"
jq -e 'select(.level == "forged")' "$log" >/dev/null && fail "a URL forged a log entry"
grep -q "$BERTH_ADMIN_PASSWORD" "$log" && fail "the admin password is in the log"
pass "$n lines, each one JSON object; no forged entry, no secret"

step "access lines carry the request's fields"
line=$(jq -c --arg id "$id_base" 'select(.request_id == $id)' "$log")
[ -n "$line" ] || fail "no access line with request_id $id_base (the X-Request-Id)"
printf '%s' "$line" | jq -e '.message == "request" and .method == "GET" and .route == "base" and
        .status == 200 and .user == "admin" and (.bytes|type) == "number" and
        (.duration_ms|type) == "number" and .level == "info" and .component == "server" and
        (has("path")|not)' >/dev/null || fail "GET /v2/ access line: $line"
line=$(jq -c --arg id "$id_miss" 'select(.request_id == $id)' "$log")
printf '%s' "$line" | jq -e '.route == "manifest-get" and .repository == "some/repo" and .status == 404 and
        .error == "MANIFEST_UNKNOWN" and .bytes > 0' >/dev/null || fail "manifest miss access line: $line"
line=$(jq -c --arg id "$id_bad" 'select(.request_id == $id)' "$log")
printf '%s' "$line" | jq -e '.route == null and .status >= 400 and
        .path == "/v2/x\\n\"}\\r\\n{\"level\":\"forged\"\\x1b/tags/list"' >/dev/null ||
        fail "the URL with %0a is not kept escaped in its access line: $line"
pass "method, route, repository, status, bytes, duration, user, request id = X-Request-Id"

berth_stop
