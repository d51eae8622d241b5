#!/usr/bin/env bash
# --read-only (BERTH_READ_ONLY) for maintenance: pulls work; every write (upload
# start, chunk, finish and cancel, manifest put and delete, blob delete) answers 405
# UNSUPPORTED naming read-only mode; and the server writes nothing by itself: an
# abandoned upload does not expire and pulls queue no webhook events, which both
# happen again once the server may write.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$(dirname "$0")/lib.sh"
berth_require curl jq sha256sum python3
berth_tmpdir
"$top_builddir/berthd" --version | grep -q "(test hooks)" || { echo "SKIP: needs a build with --enable-test-hooks"; exit 77; }
export BERTH_TEST_CLOCK_FILE=$TMP/clock
echo 0 >"$BERTH_TEST_CLOCK_FILE"
export BERTH_WEBHOOK_ALLOW_CIDR=127.0.0.1/32
berth_start
. "$(dirname "$0")/api-common.sh"
. "$(dirname "$0")/storage-lib.sh"

step "an image, an upload left half done, a webhook for pulls"
push_image ro/app v1 a
man=$MDIG
loc=$(bcurl -D - -o /dev/null -X POST "$BERTH_URL/v2/ro/app/blobs/uploads/" | tr -d '\r' |
        awk -F': ' 'tolower($1) == "location" { print $2 }')
[ -n "$loc" ] || fail "no upload session"
req PATCH "$loc" -H 'Content-Type: application/octet-stream' --data-binary abcd
expect_status 202 "a chunk"
uuid=${loc##*/}
[ -f "$BERTH_DATA/uploads/$uuid" ] || fail "no session file"
"$top_builddir/berthd" --data "$BERTH_DATA" webhook add ro "http://127.0.0.1:$(berth_free_port)/hook" \
        --events pull >/dev/null || fail "webhook add"
[ "$API_FAILS" = 0 ] || fail "setup failed"
berth_stop
# a day later: the session is long past --upload-max-age
echo 86400 >"$TMP/clock.new" && mv "$TMP/clock.new" "$BERTH_TEST_CLOCK_FILE"

step "read-only: pulls work"
berth_start --read-only --upload-max-age 3 --webhook-pull-interval 1
pulls "$BERTH_URL" ro/app v1 || fail "pull in read-only mode"
pulls "$BERTH_URL" ro/app "$man" || fail "pull by digest in read-only mode"
req GET /v2/_catalog; expect_status 200 "catalog"
req GET /v2/ro/app/tags/list; expect_status 200 "tags list"
pass "pulls, catalog and tags list answer"

step "read-only: every write is 405 UNSUPPORTED"
# refused DESCRIPTION: 405, UNSUPPORTED, and a message that names read-only mode
refused() {
        expect_err 405 UNSUPPORTED "$1"
        jq -r '.errors[0].message' "$API_B" | grep -q "read-only mode" || ko "$1: message $(cat "$API_B")"
}
randfile "$TMP/new" 100
d=$(sha256_of "$TMP/new")
req POST /v2/ro/app/blobs/uploads/; refused "upload start"
req POST "/v2/ro/app/blobs/uploads/?digest=$d" --data-binary "@$TMP/new"; refused "monolithic upload"
req POST "/v2/ro/other/blobs/uploads/?mount=$LAYER&from=ro/app"; refused "cross-repository mount"
req PATCH "$loc" -H 'Content-Type: application/octet-stream' --data-binary efgh; refused "upload chunk"
req PUT "$(addq "$loc" "digest=$d")" --data-binary "@$TMP/new"; refused "upload finish"
req DELETE "$loc"; refused "upload cancel"
req PUT /v2/ro/app/manifests/v2 -H "Content-Type: $T_OCI" --data-binary "@$TMP/a.manifest"; refused "manifest put"
req DELETE "/v2/ro/app/manifests/$man"; refused "manifest delete"
req DELETE /v2/ro/app/manifests/v1; refused "tag delete"
req DELETE "/v2/ro/app/blobs/$LAYER"; refused "blob delete"
[ "$API_FAILS" = 0 ] || fail "writes in read-only mode"
pulls "$BERTH_URL" ro/app v1 || fail "the image changed"
pass "ten kinds of write refused; the image unchanged"

step "read-only: no background writes"
sleep 3 # several housekeeping ticks (every second with --upload-max-age 3)
[ -f "$BERTH_DATA/uploads/$uuid" ] || fail "the upload expired in read-only mode"
[ "$(berth_sql_value "SELECT COUNT(*) FROM uploads")" = 1 ] || fail "the upload's row went"
[ "$(berth_sql_value "SELECT COUNT(*) FROM webhook_queue")" = 0 ] || fail "pulls queued webhook events"
grep -q "read-only mode" "$TMP/berthd.log" || fail "the log does not say read-only"
pass "the session and its row kept; no event queued"
berth_stop

step "BERTH_READ_ONLY=1 does the same"
BERTH_READ_ONLY=1 berth_start
req POST /v2/ro/app/blobs/uploads/; refused "upload start (BERTH_READ_ONLY)"
[ "$API_FAILS" = 0 ] || fail "BERTH_READ_ONLY"
berth_stop
pass "BERTH_READ_ONLY=1 refuses writes"

step "writable again: the upload expires, pulls queue events, pushes work"
berth_start --upload-max-age 3 --webhook-pull-interval 1
berth_wait_for 15 test ! -e "$BERTH_DATA/uploads/$uuid" || fail "the upload did not expire once writable"
pulls "$BERTH_URL" ro/app v1 || fail "pull"
qn() { [ "$(berth_sql_value "SELECT COUNT(*) FROM webhook_queue")" != 0 ]; }
berth_wait_for 15 qn || fail "no pull event queued once writable"
push_image ro/app v2 b
[ "$API_FAILS" = 0 ] || fail "push once writable"
pass "expiry, events and pushes are back"
