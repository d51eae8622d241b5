#!/usr/bin/env bash
# systemd: berthd speaks the notify protocol itself (Type=notify): READY=1 once it
# accepts connections, STOPPING=1 when SIGTERM starts the drain, to a $NOTIFY_SOCKET
# that is a path or an abstract name ('@...'). deploy/systemd/berthd.service passes
# `systemd-analyze verify` (when systemd-analyze is installed).
. "$(dirname "$0")/lib.sh"
berth_require python3 curl
berth_tmpdir
[ -x "$top_builddir/berthd" ] || fail "$top_builddir/berthd not built"

# notify_run SOCKET: start berthd with NOTIFY_SOCKET=SOCKET; a listener records each
# datagram, and on READY=1 whether the port accepted a connection at that moment
notify_run() {
        local sock=$1 port i out=$TMP/notify.out pid lpid
        port=$(berth_free_port) || fail "no free port"
        rm -f "$out" "$out.ready"
        python3 - "$sock" "$port" "$out" <<'PY' &
import socket, sys, time
path, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + path[1:] if path.startswith("@") else path)
open(out + ".ready", "w").close()
s.settimeout(60)
with open(out, "a") as f:
    while True:
        try:
            msg = s.recv(4096).decode()
        except socket.timeout:
            break
        note = ""
        if "READY=1" in msg.split("\n"):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                note = " listening"
            except OSError:
                note = " NOT-listening"
        f.write(msg.strip() + note + "\n")
        f.flush()
        if "STOPPING=1" in msg:
            break
PY
        lpid=$!
        berth_track_pid "$lpid"
        for i in $(seq 1 50); do [ -e "$out.ready" ] && break; sleep 0.1; done
        [ -e "$out.ready" ] || fail "the notify listener did not start"
        NOTIFY_SOCKET=$sock "$top_builddir/berthd" serve --listen "127.0.0.1:$port" --data "$TMP/data" \
                --auth none --insecure-http --metrics-listen '' >>"$TMP/berthd.log" 2>&1 &
        pid=$!
        berth_track_pid "$pid"
        for i in $(seq 1 150); do grep -q READY "$out" 2>/dev/null && break; sleep 0.1; done
        grep -qx 'READY=1 listening' "$out" || fail "NOTIFY_SOCKET=$sock: no READY=1 once listening: $(cat "$out" 2>/dev/null)"
        kill -TERM "$pid"
        for i in $(seq 1 150); do grep -q STOPPING "$out" 2>/dev/null && break; sleep 0.1; done
        grep -qx 'STOPPING=1' "$out" || fail "NOTIFY_SOCKET=$sock: no STOPPING=1 after SIGTERM: $(cat "$out")"
        wait "$pid" || fail "berthd exited with $? after SIGTERM"
        wait "$lpid" 2>/dev/null
        [ "$(head -n1 "$out")" = 'READY=1 listening' ] || fail "READY=1 is not the first message: $(cat "$out")"
}

step "NOTIFY_SOCKET as a path"
notify_run "$TMP/notify.sock"
pass "READY=1 when listening, STOPPING=1 on SIGTERM"
step "NOTIFY_SOCKET as an abstract name"
notify_run "@berth-test-$$-$RANDOM"
pass "READY=1 when listening, STOPPING=1 on SIGTERM"

step "without NOTIFY_SOCKET berthd starts as before"
berth_start --insecure-http --metrics-listen ''
grep -q 'NOTIFY_SOCKET' "$TMP/berthd.log" && fail "a warning about NOTIFY_SOCKET without one"
berth_stop

if command -v systemd-analyze >/dev/null 2>&1; then
        step "systemd-analyze verify deploy/systemd/berthd.service"
        # the unit names the installed binary; verify checks that it is executable
        sed "s|^ExecStart=/usr/local/bin/berthd|ExecStart=$top_builddir/berthd|" \
                "$top_srcdir/deploy/systemd/berthd.service" >"$TMP/berthd.service"
        grep -q "^ExecStart=$top_builddir/berthd serve" "$TMP/berthd.service" || fail "no ExecStart to rewrite"
        # --man=no: the man page is checked by man-pages.sh, maybe not installed here
        systemd-analyze verify --man=no "$TMP/berthd.service" >"$TMP/verify.txt" 2>&1 ||
                fail "systemd-analyze verify: $(cat "$TMP/verify.txt")"
        [ -s "$TMP/verify.txt" ] && fail "systemd-analyze verify warns: $(cat "$TMP/verify.txt")"
        grep -qx 'Type=notify' "$TMP/berthd.service" || fail "the unit is not Type=notify"
        grep -qx 'CapabilityBoundingSet=' "$TMP/berthd.service" || fail "the unit keeps capabilities"
        score=$(systemd-analyze security --offline=true "$TMP/berthd.service" 2>/dev/null |
                sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
        [ -n "$score" ] || fail "no systemd-analyze security score"
        awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || fail "exposure $score: above 2.0"
        pass "the unit verifies; systemd-analyze security exposure $score"
elif [ "${BERTH_REQUIRE_ALL:-0}" = 1 ]; then
        fail "systemd-analyze missing (BERTH_REQUIRE_ALL=1; run scripts/install-deps.sh)"
else
        echo "note: systemd-analyze not installed: the unit was not verified"
fi
