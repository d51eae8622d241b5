# shellcheck shell=bash
# tests/integration/replicas-lib.sh: several berthd replicas sharing one PostgreSQL
# database and one data directory, behind haproxy (docs/replicas.md), for the replica
# scripts (replicas*.sh). Sourced after lib.sh:
#   . "$(dirname "$0")/lib.sh"; . "$(dirname "$0")/replicas-lib.sh"
#
# rep_init                  TMP, the database (BERTH_DB_URL: berth_use_db on the run's
#                           server, or the script's own after berth_pg_own), DATA
# rep_start I [ARGS...]     replica I (1, 2, 3) on its own loopback port (the same one
#                           again after a stop), --db, the shared --data, --auth basic,
#                           --trusted-proxies 127.0.0.1/32; waits for /readyz
# rep_cluster               replica 1 first (it makes the CA and the admin user), then 2, 3
# rep_kill9 I / rep_stop I  SIGKILL / SIGTERM (a clean exit required)
# ha_start                  haproxy in front: TLS with berthd's certificate, re-encrypted to
#                           the replicas and verified with berthd's CA, round robin, no
#                           stickiness, X-Forwarded-For, health checks on /readyz
# ha_state rI               the replica's state in haproxy (UP, DOWN, ...)
#
# Every replica's log goes to $TMP/berthd.log, each line prefixed with [rI]; haproxy's
# to $TMP/haproxy.log. Everything is on 127.0.0.1, on free ports, stopped by PID.

REP_N=3
REP_PORT=()
REP_PID=()
REP_URL=()
REP_DATA=
HA_PORT=
HA_HOST=
HA_URL=
HA_STATS=
HA_PID=
export BERTH_ADMIN_PASSWORD=${BERTH_ADMIN_PASSWORD:-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')}
# shellcheck disable=SC2034  # for the scripts
ADMIN_PW=$BERTH_ADMIN_PASSWORD
# fast argon2id hashes: the admin commands and the first verification of each user
export BERTH_ARGON2_MEMORY_KIB=${BERTH_ARGON2_MEMORY_KIB:-4096}

rep_init() {
        [ -n "$TMP" ] || berth_tmpdir
        BERTH_TEST_DB=pg berth_use_db
        REP_DATA=$TMP/data
        BERTH_DATA=$REP_DATA
        BERTH_CA=$REP_DATA/tls/ca.crt
        export BERTH_DATA BERTH_CA
}

# rep_code URL [CURL ARGS...]: the status of one request, 000 when none
rep_code() {
        local url=$1
        shift
        curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$BERTH_CA" "$@" "$url" 2>/dev/null || true
}
rep_ready() { [ "$(rep_code "${REP_URL[$1]}/readyz")" = 200 ]; }

rep_start() {
        local i=$1 end rc
        shift
        [ -n "${REP_PORT[$i]:-}" ] || REP_PORT[i]=$(berth_free_port) || fail "no free port"
        REP_URL[i]=https://127.0.0.1:${REP_PORT[$i]}
        # the log line prefix: a process substitution, so that $! is berthd's PID
        # shellcheck disable=SC2154  # top_builddir: lib.sh
        "$top_builddir/berthd" serve --listen "127.0.0.1:${REP_PORT[$i]}" --data "$REP_DATA" \
                --db "$BERTH_DB_URL" --auth basic --trusted-proxies 127.0.0.1/32 --metrics-listen '' \
                --grace 5 "$@" > >(sed -u "s/^/[r$i] /" >>"$TMP/berthd.log") 2>&1 &
        REP_PID[i]=$!
        berth_track_pid "${REP_PID[$i]}"
        end=$((SECONDS + 20))
        until [ -s "$BERTH_CA" ] && rep_ready "$i"; do
                kill -0 "${REP_PID[$i]}" 2>/dev/null || { rc=0; wait "${REP_PID[$i]}" || rc=$?; fail "replica r$i exited during start (status $rc)"; }
                [ "$SECONDS" -lt "$end" ] || fail "replica r$i not ready at ${REP_URL[$i]}/readyz within 20 s"
                sleep 0.1
        done
        step "replica r$i up at ${REP_URL[$i]} (pid ${REP_PID[$i]})"
}

rep_cluster() {
        local i
        rep_start 1
        for i in $(seq 2 "$REP_N"); do rep_start "$i"; done
}

rep_kill9() {
        local i=$1
        kill -KILL "${REP_PID[$i]}" 2>/dev/null || fail "replica r$i was not running"
        wait "${REP_PID[$i]}" 2>/dev/null || true
        step "replica r$i killed (SIGKILL, pid ${REP_PID[$i]})"
}

rep_stop() {
        local i=$1 rc=0 end=$((SECONDS + 30))
        kill -TERM "${REP_PID[$i]}" 2>/dev/null || fail "replica r$i was not running"
        while kill -0 "${REP_PID[$i]}" 2>/dev/null; do
                [ "$SECONDS" -lt "$end" ] || fail "replica r$i did not stop within 30 s of SIGTERM"
                sleep 0.1
        done
        wait "${REP_PID[$i]}" || rc=$?
        [ $rc -eq 0 ] || fail "replica r$i exited with status $rc after SIGTERM"
        step "replica r$i stopped"
}

# ---- haproxy ----

ha_start() {
        local i d=$TMP/haproxy
        berth_require haproxy
        mkdir -p "$d"
        HA_PORT=$(berth_free_port) || fail "no free port"
        HA_STATS=$(berth_free_port) || fail "no free port"
        HA_HOST=127.0.0.1:$HA_PORT
        HA_URL=https://$HA_HOST
        # the balancer serves berthd's own certificate (for localhost and 127.0.0.1, signed
        # by its CA: what clients already trust) and checks the replicas' with that CA
        ( umask 077; cat "$REP_DATA/tls/server.crt" "$REP_DATA/tls/server.key" >"$d/front.pem" ) ||
                fail "cannot write $d/front.pem"
        {
                cat <<EOF
global
    maxconn 2000
    ssl-server-verify required
    log stdout format raw local0 info

defaults
    mode http
    log global
    option httplog
    option forwardfor
    option redispatch
    retries 2
    timeout connect 3s
    timeout client 120s
    timeout server 120s
    timeout http-request 30s
    timeout check 3s

frontend registry
    bind 127.0.0.1:$HA_PORT ssl crt $d/front.pem
    default_backend berthd

backend berthd
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server check inter 300ms fall 2 rise 2 ssl verify required ca-file $BERTH_CA verifyhost localhost
EOF
                for i in $(seq 1 "$REP_N"); do
                        echo "    server r$i 127.0.0.1:${REP_PORT[$i]}"
                done
                cat <<EOF

listen stats
    bind 127.0.0.1:$HA_STATS
    stats enable
    stats uri /stats
EOF
        } >"$d/haproxy.cfg"
        haproxy -c -f "$d/haproxy.cfg" >"$d/check.out" 2>&1 || { cat "$d/check.out" >&2; fail "haproxy -c refuses the configuration"; }
        grep -qi warning "$d/check.out" && { cat "$d/check.out" >&2; fail "haproxy -c warns about the configuration"; }
        haproxy -db -f "$d/haproxy.cfg" >>"$TMP/haproxy.log" 2>&1 &
        HA_PID=$!
        berth_track_pid "$HA_PID"
        for i in $(seq 1 "$REP_N"); do
                ha_wait "r$i" UP 15 || { tail -n 20 "$TMP/haproxy.log" >&2; fail "haproxy does not see r$i UP within 15 s"; }
        done
        step "haproxy at $HA_URL (pid $HA_PID) in front of $REP_N replicas"
}

# ha_state SERVER: the server's status in haproxy's statistics (UP, DOWN, "UP 1/2"...)
ha_state() {
        curl -s --max-time 5 "http://127.0.0.1:$HA_STATS/stats;csv" 2>/dev/null |
                awk -F, -v s="$1" '$1 == "berthd" && $2 == s { print $18 }'
}
ha_is() { [ "$(ha_state "$1")" = "$2" ]; }
# ha_wait SERVER STATE SECONDS
ha_wait() { berth_wait_for "$3" ha_is "$1" "$2"; }
# ha_sessions SERVER: the requests the server is answering right now
ha_sessions() {
        curl -s --max-time 5 "http://127.0.0.1:$HA_STATS/stats;csv" 2>/dev/null |
                awk -F, -v s="$1" '$1 == "berthd" && $2 == s { print $5 }'
}

# hcurl ARGS...: curl through the balancer (trusting berthd's CA)
hcurl() { curl -sS --max-time 60 --cacert "$BERTH_CA" "$@"; }
