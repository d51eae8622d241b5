#!/usr/bin/env bash
# Log injection: request values (the decoded path above all) reach berthd's log and
# the audit trail escaped, so %0a, %0d, %1b or 8-bit bytes in a URL can neither forge
# a line nor put terminal escapes into the log or `berthd audit`.
. "$(dirname "$0")/lib.sh"
berth_require curl python3
berth_tmpdir
export BERTH_ADMIN_PASSWORD=harden-log-pw
berth_start --auth basic

# only_printable FILE: every byte is printable ASCII, a tab or a newline
only_printable() {
        python3 - "$1" <<'EOF'
import sys
data = open(sys.argv[1], 'rb').read()
bad = [i for i, b in enumerate(data) if not (32 <= b < 127 or b in (9, 10))]
if bad:
    i = bad[0]
    print("byte 0x%02x at offset %d: %r" % (data[i], i, data[max(0, i - 40):i + 40]))
    sys.exit(1)
EOF
}

step "requests whose paths carry newlines, carriage returns and terminal escapes"
forged='2026-01-01T00:00:00.000Z%20notice%20main:%20FORGED'
for p in "/v2/%0aFAKE%1b[31m" "/v2/x%0d%0a$forged" "/v2/%0a$forged/manifests/latest" \
         "/v2/%c2%9b31m%1b]0;title%07" "/v2/a%5cnb%7f/tags/list"; do
        code=$(bcurl -g -o /dev/null -w '%{http_code}' -u "admin:$BERTH_ADMIN_PASSWORD" "$BERTH_URL$p") ||
                fail "curl $p"
        [ "$code" = 000 ] && fail "no answer for $p"
done
# a user name with control bytes in a Basic credential
bcurl -o /dev/null -u $'ad\nmin\x1b[31m:x' "$BERTH_URL/v2/" || fail "curl with a control user name"
# a successful push leaves login and push rows in the audit trail
bcurl -o /dev/null -u "admin:$BERTH_ADMIN_PASSWORD" "$BERTH_URL/v2/" || fail "curl /v2/"
log=$TMP/berthd.log
# the access log line is written when the request completes: wait for the last one
berth_wait_for 10 grep -qF 'GET /v2/ 200' "$log" || fail "no access log line for the last request"
grep -q 'FAKE' "$log" || fail "the injected path is not in the log at all (nothing was tested)"
grep -q '^FAKE' "$log" && fail "a URL started a log line of its own"
grep -q '^2026-01-01T00:00:00.000Z' "$log" && fail "a URL forged a log line"
grep -q 'FORGED' "$log" || fail "the forged text is not in the log at all"
grep -F -q '/v2/\nFAKE\x1b[31m 404' "$log" || fail "the path is not escaped as /v2/\\nFAKE\\x1b[31m"
grep -F -q '/v2/x\r\n2026-01-01T00:00:00.000Z notice main: FORGED' "$log" ||
        fail "the CR LF path is not escaped"
grep -F -q '/v2/\xc2\x9b31m\x1b]0;title\x07' "$log" || fail "8-bit bytes and OSC not escaped"
grep -F -q '/v2/a\\nb\x7f/tags/list' "$log" || fail "a literal backslash or DEL not escaped"
only_printable "$log" || fail "the server log holds a byte that is not printable ASCII"
pass "the server log: no forged line, no control or 8-bit byte, the path escaped"

step "the audit trail"
berth_stop       # flushes the audit rows
python3 - "$BERTH_DATA/berth.db" <<'EOF' || fail "cannot add a raw audit row"
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
# a row written by an older berthd, before values were escaped on the way in
# ("\x9b", an 8-bit CSI, is stored as UTF-8: c2 9b)
db.execute("INSERT INTO auth_audit(ts, user, client, action, repo, detail) VALUES (?, ?, ?, ?, ?, ?)",
           (int(time.time()), "admin", "127.0.0.1\nFAKE\tx\tx\tx\tx\tx", "push", "a/b\x1b[31m", "d\r\x9b"))
db.commit()
EOF
"$top_builddir/berthd" --data "$BERTH_DATA" audit --since 1h >"$TMP/audit.out" 2>"$TMP/audit.err" ||
        fail "berthd audit: $(cat "$TMP/audit.err")"
grep -q 'login' "$TMP/audit.out" || fail "no login row in the audit output (nothing was tested)"
grep -q '^FAKE' "$TMP/audit.out" && fail "an audit value started a line of its own"
awk -F '\t' 'NF != 6 { exit 1 }' "$TMP/audit.out" || fail "an audit line does not have 6 fields"
grep -F -q $'127.0.0.1\\nFAKE\\tx\\tx\\tx\\tx\\tx\tpush\ta/b\\x1b[31m\td\\r\\xc2\\x9b' "$TMP/audit.out" ||
        fail "the raw row is not printed escaped"
only_printable "$TMP/audit.out" || fail "the audit output holds a byte that is not printable ASCII"
pass "berthd audit: one line per row, 6 fields each, no control or 8-bit byte"
