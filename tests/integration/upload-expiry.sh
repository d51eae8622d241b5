#!/usr/bin/env bash
# Abandoned upload sessions expire: their files and rows go, while the server runs
# and at start; a session in use is kept.
. "$(dirname "$0")/lib.sh"
berth_require curl jq
berth_tmpdir
# A berthd built with --enable-test-hooks (scripts/test.sh does) takes its clock from
# BERTH_TEST_CLOCK_FILE: the wall clock plus the seconds in that file. Then time
# moves forward by writing the file; other builds wait on the wall clock.
clock_hook=
if [ "${BERTH_TEST_SERVER:-berthd}" = berthd ] && "$top_builddir/berthd" --version | grep -q "(test hooks)"; then
        clock_hook=1
        export BERTH_TEST_CLOCK_FILE=$TMP/clock
        echo 0 >"$BERTH_TEST_CLOCK_FILE"
fi
# advance SEC: berthd's clock moves SEC seconds forward (a new file: a new mtime)
clock_offset=0
advance() {
        clock_offset=$((clock_offset + $1))
        echo "$clock_offset" >"$TMP/clock.new"
        mv "$TMP/clock.new" "$BERTH_TEST_CLOCK_FILE"
}
berth_start --upload-max-age 3

# upload_session REPO: a new session's Location, with 4 bytes in it
upload_session() {
        local loc
        loc=$(bcurl -D - -o /dev/null -X POST "$BERTH_URL/v2/$1/blobs/uploads/" |
                tr -d '\r' | awk -F': ' 'tolower($1) == "location" { print $2 }')
        [ -n "$loc" ] || fail "no upload Location for $1"
        [ "$(bcurl -o /dev/null -w '%{http_code}' -X PATCH --data-binary abcd \
                -H 'Content-Type: application/octet-stream' "$BERTH_URL$loc")" = 202 ] || fail "PATCH $loc"
        echo "$loc"
}
status() { bcurl -o /dev/null -w '%{http_code}' "$BERTH_URL$1"; }

step "a session left alone expires while the server runs"
old=$(upload_session exp/a)
uuid=${old##*/}
[ -f "$BERTH_DATA/uploads/$uuid" ] || fail "no session file for $uuid"
[ "$(status "$old")" = 204 ] || fail "fresh session not found"
berth_wait_for 10 test ! -f "$BERTH_DATA/uploads/$uuid" ||
        fail "session file still there after 10 s (max age 3 s)"
[ "$(status "$old")" = 404 ] || fail "an expired session still answers"
bcurl "$BERTH_URL$old" | jq -e '.errors[0].code == "BLOB_UPLOAD_UNKNOWN"' >/dev/null || fail "not BLOB_UPLOAD_UNKNOWN"
pass "expired while running: file removed, 404 BLOB_UPLOAD_UNKNOWN"

step "a session kept busy survives"
# On the wall clock even with the hook: a session's activity is its file's mtime (the
# wall clock) and the sweep runs on wall time, so a moved clock would age a session
# just written, and a sweep must really run while the session is older than 3 s.
# Two sessions opened together: one written to again and again, the other left
# alone. Once the idle one has expired, a sweep ran when both were older than the
# max age: the busy one must have outlived it by its writes alone.
busy=$(upload_session exp/b)
idle=$(upload_session exp/c)
idle_uuid=${idle##*/}
keep_busy() {
        [ "$(bcurl -o /dev/null -w '%{http_code}' -X PATCH --data-binary x \
                -H 'Content-Type: application/octet-stream' "$BERTH_URL$busy")" = 202 ] || fail "busy session lost"
        test ! -f "$BERTH_DATA/uploads/$idle_uuid"
}
berth_wait_for 15 keep_busy || fail "the idle session opened beside it did not expire within 15 s"
[ "$(status "$busy")" = 204 ] || fail "busy session gone after the sweep"
pass "a session written to outlives the max age; its idle twin expired"

step "a session abandoned while the server was down expires at start"
berth_stop
late=${busy##*/}
[ -f "$BERTH_DATA/uploads/$late" ] || fail "session file missing before the restart"
if [ -n "$clock_hook" ]; then
        # the expiry at start reads the clock once: no sweep can run in between
        advance 4
else
        sleep 4
fi
berth_start --upload-max-age 3
[ -f "$BERTH_DATA/uploads/$late" ] && fail "session file still there after the restart"
pass "expired at start"
berth_stop
