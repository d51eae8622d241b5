# tests/integration/lib.sh: shared helpers for the integration scripts.
# Sourced by every script:   . "$(dirname "$0")/lib.sh"
#
# The scripts run from `make check` (top_srcdir and top_builddir exported) or by hand
# from a build directory (then top_builddir defaults to the current directory).
# Everything a script starts (berthd, dockerd, containerd...) is recorded by PID and
# killed by the EXIT trap; TMP is removed there too.
#
# Developer option: BERTH_TEST_SERVER=distribution makes berth_start run the reference
# registry (Debian's docker-registry, behind a CA made with the openssl CLI) instead of
# berthd, to check a script or compare behaviour. CI never sets it.
#
# BERTH_TEST_DB=pg (the slow tier's engine matrix, tests/integration/engine-pg.sh) puts
# berthd's metadata in PostgreSQL, on the server that tests/pg-server.sh started for the
# run (BERTH_TEST_PG_URL, BERTH_TEST_PG_PASSWORD_FILE): see berth_use_db.
#
# BERTH_TEST_SERVER=external points berth_start at a registry that is already running
# (tests/integration/replicas.sh runs the API scripts through a load balancer in front
# of several berthd this way): BERTH_TEST_EXTERNAL_URL (https://HOST:PORT), _CA (its
# CA), _DATA (its data directory, for the scripts that look at files), _LOG (the file
# its access log goes to, seen as $TMP/berthd.log) and _USER (USER:PASSWORD, which
# bcurl sends with every request; empty: none). berth_start then takes no arguments,
# berth_stop leaves the server running, and berth_external tells a script so (api-core.sh
# and api-v11.sh leave out what needs a berthd of their own).

[ -n "${BASH_VERSION:-}" ] || { echo "lib.sh needs bash" >&2; exit 99; }
# pipefail: a pipeline fails when any part fails. So `writer | grep -q PATTERN` can
# fail although the pattern is there: grep -q ends at the first match and the writer,
# still writing, dies of SIGPIPE. Where the writer writes more than one small block,
# let grep read a process substitution instead: `grep -q PATTERN <(writer)`.
set -u -o pipefail

: "${top_builddir:=$PWD}"
: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
export top_builddir top_srcdir
BERTH_TEST_NAME=$(basename "$0" .sh)
BERTH_IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TMP=
BERTH_PID=
_berth_pids=()        # everything started in the background, killed at exit
_berth_cleanups=()    # shell commands run at exit, last registered first

fail() { echo "FAIL [$BERTH_TEST_NAME]: $*" >&2; exit 1; }
pass() { echo "PASS [$BERTH_TEST_NAME]: $*"; }
step() { echo "---- [$BERTH_TEST_NAME] $*"; }

# berth_require TOOL...: skip (exit 77) when one is missing, or fail under BERTH_REQUIRE_ALL=1.
berth_require() {
        local t missing=()
        for t in "$@"; do
                command -v "$t" >/dev/null 2>&1 || missing+=("$t")
        done
        [ ${#missing[@]} -eq 0 ] && return 0
        if [ "${BERTH_REQUIRE_ALL:-0}" = 1 ]; then
                fail "required tool(s) missing: ${missing[*]} (BERTH_REQUIRE_ALL=1; run scripts/install-deps.sh)"
        fi
        echo "SKIP [$BERTH_TEST_NAME]: missing ${missing[*]}"
        exit 77
}

# berth_require_root: the same rule for tests that need root (dockerd, rootful podman).
berth_require_root() {
        [ "$(id -u)" -eq 0 ] && return 0
        [ "${BERTH_REQUIRE_ALL:-0}" = 1 ] && fail "must run as root (BERTH_REQUIRE_ALL=1)"
        echo "SKIP [$BERTH_TEST_NAME]: needs root"
        exit 77
}

# berth_track_pid PID: kill PID at exit (TERM, then KILL after 10 s).
berth_track_pid() { _berth_pids+=("$1"); }

# berth_wait_for SECONDS CMD [ARG...]: runs CMD every 0.1 s until it succeeds
# (returns 0) or SECONDS (whole) have passed (returns 1). Tests wait for a
# condition this way, never for a fixed time.
berth_wait_for() {
        local end=$((SECONDS + $1))
        shift
        until "$@"; do
                [ "$SECONDS" -lt "$end" ] || return 1
                sleep 0.1
        done
}
# berth_on_exit CMD: run CMD (a shell string) at exit, after the tracked processes
# are gone and before TMP is removed; the last registered runs first.
berth_on_exit() { _berth_cleanups+=("$1"); }

_berth_kill() {
        local pid=$1 i
        kill -0 "$pid" 2>/dev/null || return 0
        kill -TERM "$pid" 2>/dev/null
        for i in $(seq 1 100); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null || true
        return 0
}

_berth_exit() {
        local rc=$? i m
        trap - EXIT INT TERM
        set +e
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "$TMP" ] && [ -s "$TMP/berthd.log" ]; then
                echo "---- last lines of the server log:" >&2
                tail -n 40 "$TMP/berthd.log" >&2
        fi
        for (( i=${#_berth_pids[@]}-1; i>=0; i-- )); do
                _berth_kill "${_berth_pids[$i]}"
        done
        for (( i=${#_berth_cleanups[@]}-1; i>=0; i-- )); do
                eval "${_berth_cleanups[$i]}" >/dev/null 2>&1
        done
        if [ -n "$TMP" ] && [ -d "$TMP" ]; then
                # container tools may leave mounts below TMP; unmount the deepest first
                for m in $(awk -v t="$TMP/" 'index($2, t) == 1 { print $2 }' /proc/mounts 2>/dev/null | sort -r); do
                        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
                done
                rm -rf "$TMP"
        fi
        exit "$rc"
}
trap _berth_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# berth_rooted [--exec] CMD...: run CMD where "/" is a mount point. Container tools
# unpack layers in a private mount namespace and first make "/" private there, which
# fails when the tests themselves run inside a plain chroot (as a minimal CI tree
# does). There CMD runs in its own mount namespace, rooted at a bind mount of "/";
# outside a chroot it runs as is. With --exec the calling (sub)shell becomes CMD, so
# `berth_rooted --exec daemon ... &` leaves the daemon's PID in $!.
berth_rooted() {
        local ex=
        if [ "${1:-}" = --exec ]; then
                ex=exec
                shift
        fi
        if mountpoint -q / 2>/dev/null; then
                $ex "$@"
                return
        fi
        # "/" of a chroot cannot change propagation; a tmpfs inside it can: made
        # private in the new namespace, nothing mounted there leaks out.
        $ex unshare --mount --propagation unchanged -- sh -c '
                base=
                for d in /run /tmp /dev/shm; do
                        if mountpoint -q "$d"; then base=$d; break; fi
                done
                [ -n "$base" ] || { echo "berth_rooted: no mount point to work in" >&2; exit 1; }
                mount --make-rprivate "$base" && mkdir -p "$base/.berth-root" &&
                        mount --rbind / "$base/.berth-root" && exec chroot "$base/.berth-root" "$@"' \
                sh "$@"
}

# berth_dockerd: a docker daemon for the test. The one DOCKER_HOST (or the default
# socket) answers, else a private dockerd under TMP (vfs, no iptables, no bridge: what
# runs here), stopped at exit with the containerd it supervises. Sets DOCKER_HOST and
# BERTH_OWN_DOCKERD (1 when the test started it, so it may leave images behind).
# BERTH_DOCKERD_CONFIG (daemon.json text, e.g. registry-mirrors): always a private
# dockerd, with that configuration.
BERTH_OWN_DOCKERD=0
berth_dockerd() {
        local pid
        if [ -z "${BERTH_DOCKERD_CONFIG:-}" ] && timeout 10 docker info >/dev/null 2>&1; then
                step "using the docker daemon at ${DOCKER_HOST:-the default socket}"
                return 0
        fi
        berth_require dockerd containerd
        [ -n "$TMP" ] || berth_tmpdir
        step "starting a private dockerd (vfs, no bridge, no iptables)"
        mkdir -p "$TMP/docker" "$TMP/docker-exec"
        echo "${BERTH_DOCKERD_CONFIG:-{\}}" >"$TMP/daemon.json" # none of the host's daemon settings
        # dockerd 20.10 writes a trust key to /etc/docker/key.json: remove it if it is ours
        [ -e /etc/docker/key.json ] || berth_on_exit "rm -f /etc/docker/key.json; rmdir /etc/docker 2>/dev/null"
        berth_rooted --exec dockerd --storage-driver vfs --iptables=false --bridge=none \
                --data-root "$TMP/docker" --exec-root "$TMP/docker-exec" \
                --pidfile "$TMP/docker.pid" -H "unix://$TMP/docker.sock" \
                --config-file "$TMP/daemon.json" >"$TMP/dockerd.log" 2>&1 &
        pid=$!
        berth_track_pid "$pid"
        berth_on_exit "kill \$(cat '$TMP/docker-exec/containerd/containerd.pid' 2>/dev/null) 2>/dev/null"
        export DOCKER_HOST=unix://$TMP/docker.sock
        BERTH_OWN_DOCKERD=1
        for _ in $(seq 1 600); do
                timeout 5 docker info >/dev/null 2>&1 && return 0
                kill -0 "$pid" 2>/dev/null || { tail -n 30 "$TMP/dockerd.log" >&2; fail "dockerd exited"; }
                sleep 0.1
        done
        tail -n 30 "$TMP/dockerd.log" >&2
        fail "dockerd not up within 60 s"
}

# berth_tmpdir: TMP = a fresh directory, removed at exit.
berth_tmpdir() {
        # lower case only: podman derives image names from oci: paths
        local d i
        for i in 1 2 3 4 5; do
                d=${TMPDIR:-/tmp}/berth-$BERTH_TEST_NAME.$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
                if mkdir -m 0755 "$d" 2>/dev/null; then
                        TMP=$d
                        return 0
                fi
        done
        fail "cannot create a temporary directory"
}

# berth_free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
. "$BERTH_IT_DIR/../free-port.sh"

# ---- PostgreSQL: the run's shared server (tests/pg-server.sh; make check-slow starts
# one and exports BERTH_TEST_PG_URL and BERTH_TEST_PG_PASSWORD_FILE to every test) ----

# berth_require_pg: skip (exit 77) without a PostgreSQL server, or fail under
# BERTH_REQUIRE_ALL=1.
berth_require_pg() {
        if [ -z "${BERTH_TEST_PG_URL:-}" ] || [ ! -r "${BERTH_TEST_PG_PASSWORD_FILE:-}" ]; then
                if [ "${BERTH_REQUIRE_ALL:-0}" = 1 ]; then
                        fail "no PostgreSQL server: BERTH_TEST_PG_URL / BERTH_TEST_PG_PASSWORD_FILE unset (BERTH_REQUIRE_ALL=1; make check-slow or tests/pg-server.sh run -- CMD starts one)"
                fi
                # to stderr: also seen from berth_pg_db in a command substitution
                echo "SKIP [$BERTH_TEST_NAME]: no PostgreSQL server (BERTH_TEST_PG_URL unset; make check-slow starts one)" >&2
                exit 77
        fi
        berth_require psql
}

# berth_psql [PSQL ARGS...]: psql on the shared server's maintenance database, as its
# superuser (the password from the server's password file; it never reaches a log).
berth_psql() {
        PGPASSWORD=$(cat "$BERTH_TEST_PG_PASSWORD_FILE") PGCONNECT_TIMEOUT=10 \
                timeout 120 psql -X -q -At -v ON_ERROR_STOP=1 -d "$BERTH_TEST_PG_URL" "$@"
}

# berth_pg_url NAME: the URL of database NAME on the shared server.
berth_pg_url() {
        local base=${BERTH_TEST_PG_URL%%\?*} query=
        [ "$base" != "$BERTH_TEST_PG_URL" ] && query="?${BERTH_TEST_PG_URL#*\?}"
        printf '%s/%s%s\n' "${base%/*}" "$1" "$query"
}

# berth_pg_db: a fresh database on the shared server; prints its URL. It is dropped when
# the script exits (every database this script made: they are named after its PID).
# In a command substitution an exit ends only the subshell, so pass its status on:
#   url=$(berth_pg_db) || exit
berth_pg_db() {
        local name
        berth_require_pg
        # our own name (lower-case letters, digits, _): safe to splice into the SQL
        name=berth_t_$$_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
        berth_psql -c "CREATE DATABASE $name" >/dev/null ||
                fail "cannot create database $name on $BERTH_TEST_PG_URL"
        berth_pg_url "$name"
}

# the databases of this script (berth_t_<PID>_*), dropped at exit, after berthd is gone
# (WITH (FORCE) ends any session still open). Registered only where a server is known.
_berth_pg_drop_dbs() {
        local name
        for name in $(berth_psql -c "SELECT datname FROM pg_database WHERE datname LIKE 'berth\_t\_$$\_%'"); do
                case $name in
                berth_t_$$_*) berth_psql -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" ;;
                esac
        done
}
if [ -n "${BERTH_TEST_PG_URL:-}" ] && [ -r "${BERTH_TEST_PG_PASSWORD_FILE:-}" ] && command -v psql >/dev/null 2>&1; then
        berth_on_exit _berth_pg_drop_dbs
fi

# berth_pg_own: a PostgreSQL server of this script's own in $TMP/pg (tests/pg-server.sh
# start), for a test that stops or restarts it under load without disturbing the run's
# shared one: BERTH_TEST_PG_* then name it (berth_pg_db and berth_use_db use it;
# `bash "$top_srcdir/tests/pg-server.sh" restart "$BERTH_TEST_PG_DIR"` restarts it on
# its port). Stopped at exit. Skips without PostgreSQL (fails under BERTH_REQUIRE_ALL=1).
berth_pg_own() {
        if [ ! -x "${BERTH_TEST_PG_BINDIR:-/nonexistent}/initdb" ] && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null &&
                ! command -v initdb >/dev/null 2>&1; then
                [ "${BERTH_REQUIRE_ALL:-0}" = 1 ] && fail "no PostgreSQL server programs (BERTH_REQUIRE_ALL=1; scripts/install-deps.sh slow)"
                echo "SKIP [$BERTH_TEST_NAME]: no PostgreSQL server programs (scripts/install-deps.sh slow)"
                exit 77
        fi
        berth_require psql
        [ -n "$TMP" ] || berth_tmpdir
        bash "$top_srcdir/tests/pg-server.sh" start "$TMP/pg" || fail "cannot start PostgreSQL in $TMP/pg"
        berth_on_exit "bash '$top_srcdir/tests/pg-server.sh' stop '$TMP/pg'"
        # shellcheck disable=SC1091
        . "$TMP/pg/env"
}

# berth_sql_value SQL: the first column of the first row SQL (fixed text of the
# script's own, no input) answers on this script's database: DATA/berth.db, or the
# PostgreSQL database of BERTH_TEST_DB=pg (berth_use_db).
berth_sql_value() {
        if [ "${BERTH_TEST_DB:-sqlite}" = pg ]; then
                PGPASSWORD=$(cat "$BERTH_DB_PASSWORD_FILE") psql -X -q -A -t -v ON_ERROR_STOP=1 \
                        "$BERTH_DB_URL" -c "$1"
        else
                python3 -c 'import sqlite3, sys
row = sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()
print(row[0] if row else "")' "$BERTH_DATA/berth.db" "$1"
        fi
}

# berth_use_db: with BERTH_TEST_DB=pg, the database of this script's berthd, in
# BERTH_DB_URL: the one the script set, else a fresh one (berth_pg_db), made at the
# first call and kept (a berthd started again sees the same metadata, as it does in
# $TMP/data with SQLite; replicas share it). Exports BERTH_DB and BERTH_DB_PASSWORD_FILE,
# which berthd reads, so every berthd the script runs (`berthd user add`, gc, audit...)
# uses that database. Without BERTH_TEST_DB (or =sqlite) nothing changes. berth_start
# calls it; call it earlier for admin commands before the first berth_start.
berth_use_db() {
        case ${BERTH_TEST_DB:-sqlite} in
        sqlite) return 0 ;;
        pg) ;;
        *) fail "BERTH_TEST_DB=$BERTH_TEST_DB: sqlite or pg" ;;
        esac
        berth_require_pg
        if [ -z "${BERTH_DB_URL:-}" ]; then
                BERTH_DB_URL=$(berth_pg_db) || exit
        fi
        BERTH_DB=$BERTH_DB_URL
        BERTH_DB_PASSWORD_FILE=$BERTH_TEST_PG_PASSWORD_FILE
        export BERTH_DB_URL BERTH_DB BERTH_DB_PASSWORD_FILE
}

# berth_external: true when the scripts talk to a registry they did not start
# (BERTH_TEST_SERVER=external): what needs its own berthd (a restart with other flags,
# its exit status) is left out.
berth_external() { [ "${BERTH_TEST_SERVER:-berthd}" = external ]; }

# bcurl ARGS...: curl trusting the test server's CA (and, on an external server with
# BERTH_TEST_EXTERNAL_USER, logged in as that user).
if berth_external && [ -n "${BERTH_TEST_EXTERNAL_USER:-}" ]; then
        bcurl() { curl -sS --max-time 60 --cacert "$BERTH_CA" -u "$BERTH_TEST_EXTERNAL_USER" "$@"; }
else
        bcurl() { curl -sS --max-time 60 --cacert "$BERTH_CA" "$@"; }
fi

# _berth_wait_up URL SECONDS: 0 once URL answers 200, 2 if the server died, 1 on timeout.
_berth_wait_up() {
        local url=$1 secs=$2 deadline code
        deadline=$(( $(date +%s) + secs ))
        while [ "$(date +%s)" -lt "$deadline" ]; do
                kill -0 "$BERTH_PID" 2>/dev/null || return 2
                if [ "${url#https}" = "$url" ] || [ -s "$BERTH_CA" ]; then
                        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$BERTH_CA" "$url" 2>/dev/null)
                        [ "$code" = 200 ] && return 0
                fi
                sleep 0.1
        done
        return 1
}

# berth_start [ARGS...]: start berthd on a free loopback port with its data in TMP
# (and its metadata in PostgreSQL with BERTH_TEST_DB=pg: berth_use_db).
berth_start() {
        local a scheme=https rc probe=/healthz dbargs=()
        [ -n "$TMP" ] || berth_tmpdir
        if berth_external; then
                _berth_start_external "$@"
                return
        fi
        for a in "$@"; do
                [ "$a" = --insecure-http ] && scheme=http
        done
        BERTH_PORT=$(berth_free_port) || fail "no free port"
        BERTH_HOST=127.0.0.1:$BERTH_PORT
        BERTH_URL=$scheme://$BERTH_HOST
        BERTH_DATA=$TMP/data
        BERTH_CA=$TMP/data/tls/ca.crt
        if [ "${BERTH_TEST_SERVER:-berthd}" = distribution ]; then
                _berth_start_distribution "$scheme"
                probe=/v2/      # distribution has no /healthz
        else
                [ -x "$top_builddir/berthd" ] || fail "$top_builddir/berthd not built"
                if [ "${BERTH_TEST_DB:-sqlite}" != sqlite ]; then
                        berth_use_db
                        dbargs=(--db "$BERTH_DB_URL")
                fi
                "$top_builddir/berthd" serve --listen "$BERTH_HOST" --data "$BERTH_DATA" \
                        --auth none "${dbargs[@]}" "$@" >>"$TMP/berthd.log" 2>&1 &
                BERTH_PID=$!
        fi
        berth_track_pid "$BERTH_PID"
        rc=0
        _berth_wait_up "$BERTH_URL$probe" 15 || rc=$?
        [ $rc -eq 2 ] && fail "server exited during start (see log above)"
        [ $rc -ne 0 ] && fail "server not answering $BERTH_URL$probe within 15 s"
        export BERTH_PID BERTH_PORT BERTH_HOST BERTH_URL BERTH_DATA BERTH_CA
        step "server up at $BERTH_URL (pid $BERTH_PID)"
}

# BERTH_TEST_SERVER=external: the registry at BERTH_TEST_EXTERNAL_URL, up within 15 s.
_berth_start_external() {
        local hostport
        [ $# -eq 0 ] || fail "berth_start $*: an external server runs with the flags it was given"
        [ -n "${BERTH_TEST_EXTERNAL_URL:-}" ] || fail "BERTH_TEST_SERVER=external without BERTH_TEST_EXTERNAL_URL"
        [ -r "${BERTH_TEST_EXTERNAL_CA:-}" ] || fail "BERTH_TEST_SERVER=external without a readable BERTH_TEST_EXTERNAL_CA"
        BERTH_URL=${BERTH_TEST_EXTERNAL_URL%/}
        hostport=${BERTH_URL#*://}
        BERTH_HOST=$hostport
        BERTH_PORT=${hostport##*:}
        BERTH_CA=$BERTH_TEST_EXTERNAL_CA
        BERTH_DATA=${BERTH_TEST_EXTERNAL_DATA:-}
        BERTH_PID=
        if [ -n "${BERTH_TEST_EXTERNAL_LOG:-}" ] && [ ! -e "$TMP/berthd.log" ]; then
                ln -s "$BERTH_TEST_EXTERNAL_LOG" "$TMP/berthd.log" || fail "cannot link $TMP/berthd.log"
        fi
        berth_wait_for 15 _berth_external_up || fail "external server not answering $BERTH_URL/readyz within 15 s"
        export BERTH_PID BERTH_PORT BERTH_HOST BERTH_URL BERTH_DATA BERTH_CA
        step "external server at $BERTH_URL"
}
_berth_external_up() {
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$BERTH_CA" "$BERTH_URL/readyz")" = 200 ]
}

# The reference registry with the same layout of TLS files as berthd's.
_berth_start_distribution() {
        local scheme=$1 tls=$TMP/data/tls
        berth_require docker-registry openssl
        mkdir -p "$tls" "$TMP/data/registry"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
                -subj /CN=test-ca -keyout "$tls/ca.key" -out "$tls/ca.crt" \
                -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign \
                >/dev/null 2>&1 || fail "openssl: CA"
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
                -keyout "$tls/server.key" -out "$tls/server.csr" >/dev/null 2>&1 || fail "openssl: CSR"
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n' >"$tls/ext"
        openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
                -CAcreateserial -days 2 -extfile "$tls/ext" -out "$tls/server.crt" \
                >/dev/null 2>&1 || fail "openssl: sign"
        {
                echo "version: 0.1"
                echo "log: {level: info}"
                echo "storage: {filesystem: {rootdirectory: $TMP/data/registry}, delete: {enabled: true}}"
                echo "http:"
                echo "  addr: $BERTH_HOST"
                [ "$scheme" = https ] && echo "  tls: {certificate: $tls/server.crt, key: $tls/server.key}"
        } >"$TMP/registry.yml"
        docker-registry serve "$TMP/registry.yml" >>"$TMP/berthd.log" 2>&1 &
        BERTH_PID=$!
}

# berth_stop: SIGTERM, wait up to 30 s, require exit status 0 (an external server is
# left alone).
berth_stop() {
        local i rc
        if berth_external; then
                step "external server left running"
                return 0
        fi
        [ -n "$BERTH_PID" ] || fail "berth_stop: no server running"
        kill -TERM "$BERTH_PID" 2>/dev/null || fail "berth_stop: server already gone"
        for i in $(seq 1 300); do
                kill -0 "$BERTH_PID" 2>/dev/null || break
                sleep 0.1
        done
        if kill -0 "$BERTH_PID" 2>/dev/null; then
                kill -KILL "$BERTH_PID" 2>/dev/null
                wait "$BERTH_PID" 2>/dev/null
                BERTH_PID=
                fail "server did not stop within 30 s of SIGTERM"
        fi
        rc=0
        wait "$BERTH_PID" || rc=$?
        BERTH_PID=
        # only berthd is held to a clean exit; the reference registry is a stand-in
        if [ "${BERTH_TEST_SERVER:-berthd}" != distribution ] && [ $rc -ne 0 ]; then
                fail "server exited with status $rc after SIGTERM"
        fi
        step "server stopped (status $rc)"
}

# berth_mkimage DIR ARGS...: write a test image (OCI layout); prints its manifest digest.
berth_mkimage() { python3 "$BERTH_IT_DIR/mkimage.py" "$@"; }
