#!/bin/bash
# tests/pg-server.sh: a throwaway PostgreSQL server for the test suite.
#
#   tests/pg-server.sh start DIR     a fresh cluster in DIR (empty or absent), on a free
#                                    port of 127.0.0.1; writes DIR/env
#   tests/pg-server.sh stop DIR      fast shutdown of DIR's server (by its PID), waits
#   tests/pg-server.sh restart DIR   stop, then start DIR's cluster again on the same port
#   tests/pg-server.sh env DIR       print DIR/env
#   tests/pg-server.sh run -- CMD... start a server in a temporary directory, run CMD with
#                                    its environment, stop it (also when CMD fails or is
#                                    interrupted); exit with CMD's status. With
#                                    BERTH_TEST_PG_URL already set, CMD runs on that server.
#
# The server: the newest PostgreSQL found in /usr/lib/postgresql/*/bin (Debian's layout;
# BERTH_TEST_PG_BINDIR overrides, else initdb on PATH). It listens on 127.0.0.1 only,
# its unix socket is in DIR, and every connection authenticates with scram-sha-256 as
# the superuser `berth`, whose random password is in DIR/password (0600, no newline).
# Durability is off (fsync, synchronous_commit, full_page_writes): a test server;
# BERTH_TEST_PG_DURABLE=1 at start keeps PostgreSQL's defaults for those three (for
# benchmarks; a restart keeps what the start chose). Its log is DIR/log. Run as root, the server runs as the `postgres` user (initdb refuses
# root) and DIR is handed to it.
#
# DIR/env (sourceable) exports:
#   BERTH_TEST_PG_URL            postgresql://berth@127.0.0.1:PORT/postgres
#   BERTH_TEST_PG_PASSWORD_FILE  DIR/password
#   BERTH_TEST_PG_DIR            DIR
#   BERTH_TEST_PG_PID            the postmaster's PID
#   BERTH_TEST_PG_PORT           PORT
#   BERTH_TEST_PG_BINDIR         the PostgreSQL programs used (pg_basebackup for replicas)
#
# Without PostgreSQL installed, `run` runs CMD without a server (the tests that need one
# skip), unless BERTH_REQUIRE_ALL=1: then it fails. Debian: scripts/install-deps.sh slow.
set -uo pipefail

PG_ROLE=berth
START_TIMEOUT=60        # seconds for the server to accept connections
STOP_TIMEOUT=60         # seconds for a fast shutdown, before an immediate one

die() { echo "pg-server: $*" >&2; exit 1; }
say() { echo "pg-server: $*" >&2; }

usage() {
        echo "usage: tests/pg-server.sh start|stop|restart|env DIR" >&2
        echo "       tests/pg-server.sh run -- CMD [ARG...]" >&2
        exit 2
}

# find_bindir: BINDIR = the directory holding initdb, postgres and pg_ctl (1 if none).
find_bindir() {
        local d cands=()
        if [ -n "${BERTH_TEST_PG_BINDIR:-}" ]; then
                cands=("$BERTH_TEST_PG_BINDIR")
        else
                for d in /usr/lib/postgresql/*/bin; do
                        [ -d "$d" ] && cands+=("$d")
                done
                # newest first: sort the versions numerically
                [ ${#cands[@]} -gt 0 ] && mapfile -t cands < <(printf '%s\n' "${cands[@]}" | sort -t/ -k5,5 -rn)
                d=$(command -v initdb 2>/dev/null) && cands+=("$(dirname "$d")")
        fi
        for d in "${cands[@]}"; do
                if [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && [ -x "$d/pg_ctl" ]; then
                        BINDIR=$d
                        return 0
                fi
        done
        return 1
}

# as_pg CMD...: run CMD as the server's owner (postgres when we are root), from DIR so
# that no inaccessible working directory is inherited.
as_pg() {
        (
                cd "$DIR" || exit 1
                if [ "$(id -u)" -eq 0 ]; then
                        if command -v runuser >/dev/null 2>&1; then
                                exec runuser -u postgres -- "$@"
                        fi
                        exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
                fi
                exec "$@"
        )
}

# berth_free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
. "$(dirname "${BASH_SOURCE[0]}")/free-port.sh"

# set_dir PATH: DIR = PATH made absolute (it must exist).
set_dir() {
        [ -n "${1:-}" ] || usage
        DIR=$(cd "$1" 2>/dev/null && pwd) || die "no directory $1"
        case $DIR in
        *[\'\"\\[:space:]]*) die "DIR must not contain quotes, backslashes or spaces: $DIR" ;;
        esac
}

# env_get NAME: NAME's value from DIR/env (empty when absent).
env_get() {
        [ -f "$DIR/env" ] || return 0
        # shellcheck disable=SC1091
        ( . "$DIR/env" >/dev/null 2>&1; eval "printf '%s' \"\${$1:-}\"" )
}

# write_env PORT PID
write_env() {
        local port=$1 pid=$2
        {
                echo "# written by tests/pg-server.sh"
                printf 'export BERTH_TEST_PG_URL=%q\n' "postgresql://$PG_ROLE@127.0.0.1:$port/postgres"
                printf 'export BERTH_TEST_PG_PASSWORD_FILE=%q\n' "$DIR/password"
                printf 'export BERTH_TEST_PG_DIR=%q\n' "$DIR"
                printf 'export BERTH_TEST_PG_PID=%q\n' "$pid"
                printf 'export BERTH_TEST_PG_PORT=%q\n' "$port"
                printf 'export BERTH_TEST_PG_BINDIR=%q\n' "$BINDIR"
        } >"$DIR/env.tmp" || die "cannot write $DIR/env"
        mv -f "$DIR/env.tmp" "$DIR/env" || die "cannot write $DIR/env"
}

# write_conf PORT: the settings, kept in data/berth.conf (included by postgresql.conf).
# Durable when DIR/durable exists (made at start with BERTH_TEST_PG_DURABLE=1).
write_conf() {
        local durable=0
        [ -f "$DIR/durable" ] && durable=1
        {
                if [ $durable = 1 ]; then
                        echo "# written by tests/pg-server.sh: durable (PostgreSQL's defaults for fsync,"
                        echo "# synchronous_commit and full_page_writes)"
                else
                        echo "# written by tests/pg-server.sh: a test server, not durable"
                fi
                cat <<EOF
listen_addresses = '127.0.0.1'
port = $1
unix_socket_directories = '$DIR'
max_connections = 300
password_encryption = 'scram-sha-256'
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
log_timezone = 'UTC'
timezone = 'UTC'
EOF
                if [ $durable = 0 ]; then
                        echo "fsync = off"
                        echo "synchronous_commit = off"
                        echo "full_page_writes = off"
                fi
        } >"$DIR/data/berth.conf"
        [ "$(id -u)" -eq 0 ] && chown postgres: "$DIR/data/berth.conf"
        return 0
}

# postmaster_pid: the PID in data/postmaster.pid (empty when none).
postmaster_pid() {
        [ -f "$DIR/data/postmaster.pid" ] && head -n 1 "$DIR/data/postmaster.pid" 2>/dev/null
        return 0
}

# ours PID: PID is alive and is the postmaster of DIR's cluster (its working directory
# is the data directory), so a reused PID is never signalled.
ours() {
        local pid=$1 cwd
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
        cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || return 0    # no /proc: trust the PID file
        [ "$cwd" = "$DIR/data" ]
}

# server_ok PORT: the server answers a query over TCP with the password.
server_ok() {
        PGPASSWORD=$(cat "$DIR/password") PGCONNECT_TIMEOUT=5 \
                "$BINDIR/psql" -X -q -At -h 127.0.0.1 -p "$1" -U "$PG_ROLE" -d postgres \
                -c 'SELECT 1' 2>/dev/null | grep -qx 1
}

# launch PORT: start the cluster in DIR on PORT and wait until it accepts connections.
# 0 up (PID in DIR/env), 2 the port was taken, 1 another failure (log shown).
launch() {
        local port=$1 pid log_from end
        write_conf "$port"
        log_from=$(( $(stat -c %s "$DIR/log" 2>/dev/null || echo 0) + 1 ))
        # the server is started in a subshell with no descriptor above 2 (a make
        # jobserver's pipe, a caller's lock), so it holds nothing of the caller's
        (
                for fd in "/proc/$BASHPID/fd/"*; do
                        fd=${fd##*/}
                        [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-"
                done
                as_pg "$BINDIR/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -t "$START_TIMEOUT" -s start
        ) </dev/null >/dev/null 2>&1
        pid=$(postmaster_pid)
        end=$((SECONDS + START_TIMEOUT))
        while ours "$pid"; do
                if "$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2 && server_ok "$port"; then
                        write_env "$port" "$pid"
                        return 0
                fi
                [ "$SECONDS" -lt "$end" ] || break
                sleep 0.2
        done
        # not up: stop whatever half-started, then tell why
        ours "$pid" && halt "$pid"
        if tail -c +"$log_from" "$DIR/log" 2>/dev/null | grep -q 'could not bind\|Address already in use'; then
                return 2
        fi
        say "the server in $DIR did not come up within $START_TIMEOUT s; last lines of $DIR/log:"
        tail -c +"$log_from" "$DIR/log" 2>/dev/null | tail -n 20 >&2
        return 1
}

# halt PID: fast shutdown (SIGINT: sessions ended, a clean checkpoint); after
# STOP_TIMEOUT an immediate one (SIGQUIT), then SIGKILL for the postmaster and the
# children it had. Returns once all are gone.
halt() {
        local pid=$1 kids end
        kids=$(ps -o pid= --ppid "$pid" 2>/dev/null | tr -s ' \n' ' ')
        kill -INT "$pid" 2>/dev/null
        end=$((SECONDS + STOP_TIMEOUT))
        while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
                say "no fast shutdown within $STOP_TIMEOUT s: immediate shutdown of $pid"
                kill -QUIT "$pid" 2>/dev/null
                end=$((SECONDS + 10))
                while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 0.1; done
        fi
        if kill -0 "$pid" 2>/dev/null; then
                say "postmaster $pid still there: SIGKILL"
                # shellcheck disable=SC2086  # a list of PIDs
                kill -KILL "$pid" $kids 2>/dev/null
        fi
        # backends end right after their postmaster; wait for them too
        end=$((SECONDS + 10))
        for pid in $pid $kids; do
                while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 0.1; done
        done
        return 0
}

cmd_start() {
        local pw rc port
        [ -n "${1:-}" ] || usage
        mkdir -p "$1" || die "cannot create $1"
        set_dir "$1"
        [ -e "$DIR/data" ] && die "$DIR already holds a cluster (use restart, or an empty DIR)"
        find_bindir || die "no PostgreSQL server programs (initdb, postgres, pg_ctl) found; Debian: scripts/install-deps.sh slow"
        command -v "$BINDIR/psql" >/dev/null 2>&1 || [ -x "$BINDIR/psql" ] || die "no psql in $BINDIR"
        if [ "$(id -u)" -eq 0 ]; then
                getent passwd postgres >/dev/null || die "running as root needs a postgres user to run the server as"
                chown postgres: "$DIR" || die "cannot hand $DIR to postgres"
        fi
        chmod 0700 "$DIR"
        as_pg test -w "$DIR" || die "the server's user cannot write to $DIR (is a parent directory closed to it?)"

        # the role's password: DIR/password for the clients; a copy the server's user
        # can read for initdb, removed right after
        pw=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
        [ ${#pw} -eq 48 ] || die "cannot read /dev/urandom"
        ( umask 077; printf '%s' "$pw" >"$DIR/password" && printf '%s' "$pw" >"$DIR/.initdb-pw" ) ||
                die "cannot write $DIR/password"
        [ "$(id -u)" -eq 0 ] && chown postgres: "$DIR/.initdb-pw"
        as_pg "$BINDIR/initdb" -D "$DIR/data" -U "$PG_ROLE" --pwfile="$DIR/.initdb-pw" \
                --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C \
                --no-sync --no-instructions >"$DIR/initdb.log" 2>&1
        rc=$?
        rm -f "$DIR/.initdb-pw"
        if [ $rc -ne 0 ]; then
                tail -n 20 "$DIR/initdb.log" >&2
                die "initdb failed (log: $DIR/initdb.log)"
        fi
        echo "include 'berth.conf'" >>"$DIR/data/postgresql.conf" || die "cannot write postgresql.conf"
        if [ "${BERTH_TEST_PG_DURABLE:-0}" = 1 ]; then
                : >"$DIR/durable" || die "cannot write $DIR/durable"
        fi

        # a free port can be taken between the look and the bind: try a few
        for _ in 1 2 3 4 5; do
                port=$(berth_free_port) || die "no free port"
                rc=0
                launch "$port" || rc=$?
                [ $rc -eq 0 ] && break
                [ $rc -eq 2 ] || die "cannot start the server in $DIR"
                say "port $port was taken, another one"
        done
        [ $rc -eq 0 ] || die "no free port after 5 tries"
        say "PostgreSQL $("$BINDIR/postgres" -V | awk '{print $3}') up on 127.0.0.1:$port (pid $(env_get BERTH_TEST_PG_PID), dir $DIR)"
}

cmd_stop() {
        local pid
        set_dir "${1:-}"
        pid=$(postmaster_pid)
        [ -n "$pid" ] || pid=$(env_get BERTH_TEST_PG_PID)
        if ! ours "$pid"; then
                say "no server running in $DIR"
                return 0
        fi
        halt "$pid"
        kill -0 "$pid" 2>/dev/null && die "postmaster $pid did not exit"
        say "server in $DIR stopped (pid $pid)"
}

cmd_restart() {
        local port rc end
        set_dir "${1:-}"
        [ -d "$DIR/data" ] || die "no cluster in $DIR (start it first)"
        port=$(env_get BERTH_TEST_PG_PORT)
        [ -n "$port" ] || port=$(sed -n 's/^port = \([0-9]*\)$/\1/p' "$DIR/data/berth.conf" 2>/dev/null)
        [ -n "$port" ] || die "no port recorded in $DIR"
        # the programs that made the cluster
        BINDIR=$(env_get BERTH_TEST_PG_BINDIR)
        [ -x "$BINDIR/pg_ctl" ] || find_bindir || die "no PostgreSQL server programs found"
        cmd_stop "$DIR" || exit 1
        # the same port: clients reconnect to the address they know; should something
        # else hold it for a moment, try again for a while
        end=$((SECONDS + 30))
        while :; do
                rc=0
                launch "$port" || rc=$?
                [ $rc -eq 0 ] && break
                if [ $rc -ne 2 ] || [ "$SECONDS" -ge "$end" ]; then
                        die "cannot restart the server in $DIR on port $port"
                fi
                sleep 0.5
        done
        say "server in $DIR restarted on 127.0.0.1:$port (pid $(env_get BERTH_TEST_PG_PID))"
}

cmd_env() {
        set_dir "${1:-}"
        [ -f "$DIR/env" ] || die "no $DIR/env (start the server first)"
        cat "$DIR/env"
}

# run -- CMD...: one server for CMD and everything it starts.
cmd_run() {
        local dir child rc=0 pg_rc=0 self=$0
        [ "${1:-}" = -- ] && shift
        [ $# -gt 0 ] || usage
        if [ -n "${BERTH_TEST_PG_URL:-}" ]; then
                say "using the server at $BERTH_TEST_PG_URL"
                exec "$@"
        fi
        if ! find_bindir; then
                if [ "${BERTH_REQUIRE_ALL:-0}" = 1 ]; then
                        die "no PostgreSQL server programs (BERTH_REQUIRE_ALL=1; run scripts/install-deps.sh slow)"
                fi
                say "no PostgreSQL server programs: running without one (its tests skip)"
                exec "$@"
        fi
        dir=$(mktemp -d "${TMPDIR:-/tmp}/berth-pg.XXXXXX") || die "mktemp failed"
        child=
        # stop the server however this ends; a signal is passed on to CMD first
        trap 'bash "$self" stop "$dir" >/dev/null; rm -rf "$dir"' EXIT
        trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; exit 130' INT
        trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; exit 143' TERM
        if bash "$self" start "$dir"; then
                # shellcheck disable=SC1091
                . "$dir/env"
        else
                say "the server did not start: running without it (its tests skip or fail)"
                pg_rc=1
        fi
        # in the background, so that a signal reaches the traps above at once
        "$@" &
        child=$!
        wait "$child"
        rc=$?
        child=
        # a server that died under the tests explains their failures
        if [ $pg_rc -eq 0 ]; then
                DIR=$dir
                if ! ours "$(env_get BERTH_TEST_PG_PID)"; then
                        say "the server was gone at the end of the run; last lines of its log:"
                        tail -n 20 "$dir/log" >&2
                fi
        fi
        [ $rc -eq 0 ] && rc=$pg_rc
        exit $rc
}

case ${1:-} in
start) cmd_start "${2:-}" ;;
stop) cmd_stop "${2:-}" ;;
restart) cmd_restart "${2:-}" ;;
env) cmd_env "${2:-}" ;;
run) shift; cmd_run "$@" ;;
*) usage ;;
esac
