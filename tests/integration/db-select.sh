#!/usr/bin/env bash
# Choosing the metadata database (issue 10): --db sqlite:PATH and BERTH_DB put the
# database where they say (the flag wins) for berthd serve, the admin commands and gc;
# bad values exit 2; an unreachable PostgreSQL fails the start, an admin command and
# gc with a clear message and exit status, never with its password in the output.
. "$(dirname "$0")/lib.sh"
berth_require curl sha256sum timeout
berth_tmpdir
b=$top_builddir/berthd
[ -x "$b" ] || fail "$b not built"
unset BERTH_DB BERTH_DB_PASSWORD_FILE

blob=$TMP/blob
printf 'berth db-select test blob\n' >"$blob"
digest=sha256:$(sha256sum "$blob" | cut -d' ' -f1)
# code METHOD PATH [CURL-ARGS...]: the status of a request to the server
code() {
        local m=$1 p=$2
        shift 2
        if [ "$m" = HEAD ]; then
                set -- --head "$@"
        else
                set -- -X "$m" "$@"
        fi
        curl -sS --max-time 30 -o /dev/null -w '%{http_code}' "$@" "$BERTH_URL$p"
}

step "--db sqlite:PATH: the database there, none in the data directory"
mkdir -p "$TMP/elsewhere"
flagdb=$TMP/elsewhere/meta.db
berth_start --insecure-http --db "sqlite:$flagdb"
[ -f "$flagdb" ] || fail "no database at $flagdb"
[ -e "$BERTH_DATA/berth.db" ] && fail "a database in the data directory too"
grep -q "metadata: sqlite $flagdb at schema version" "$TMP/berthd.log" || fail "the log does not name $flagdb"
[ "$(code POST "/v2/db/a/blobs/uploads/?digest=$digest" --data-binary "@$blob" \
        -H 'Content-Type: application/octet-stream')" = 201 ] || fail "blob upload"
[ "$(code HEAD "/v2/db/a/blobs/$digest")" = 200 ] || fail "blob not there after its upload"
[ "$(code GET /readyz)" = 200 ] || fail "/readyz not 200"
berth_stop
pass "the server's metadata lives in $flagdb"

step "the admin commands and gc follow --db (before or after the command, --db=URL too)"
# berthd serve created the admin user in its database: there and only there
"$b" --data "$BERTH_DATA" --db "sqlite:$flagdb" user list >"$TMP/users" 2>&1 || { cat "$TMP/users"; fail "user list --db"; }
grep -qw admin "$TMP/users" || fail "no admin in $flagdb: $(cat "$TMP/users")"
"$b" --data "$BERTH_DATA" project create dbtest --db="sqlite:$flagdb" >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "project create --db="; }
BERTH_DB="sqlite:$flagdb" "$b" --data "$BERTH_DATA" project list >"$TMP/projects" 2>&1 || fail "project list (BERTH_DB)"
grep -qw dbtest "$TMP/projects" || fail "BERTH_DB: the project is not in $flagdb"
"$b" --data "$BERTH_DATA" user list >"$TMP/users" 2>&1 || { cat "$TMP/users"; fail "user list (default database)"; }
grep -qw admin "$TMP/users" && fail "the default database has the admin of $flagdb"
[ -f "$BERTH_DATA/berth.db" ] || fail "the default database is DATA/berth.db"
"$b" --data "$BERTH_DATA" --db "sqlite:$flagdb" gc --dry-run >"$TMP/gc" 2>&1 || { cat "$TMP/gc"; fail "gc --db"; }
grep -q "would remove" "$TMP/gc" || fail "gc --db: $(cat "$TMP/gc")"
pass "user, project and gc on the database --db and BERTH_DB name"

step "BERTH_DB, and the flag over it"
envdb=$TMP/env.db
BERTH_DB="sqlite:$envdb" berth_start --insecure-http
[ -f "$envdb" ] || fail "BERTH_DB: no database at $envdb"
[ "$(code HEAD "/v2/db/a/blobs/$digest")" = 404 ] || fail "a new database knows the blob"
berth_stop
BERTH_DB="sqlite:$TMP/not-this.db" berth_start --insecure-http --db "sqlite:$flagdb"
[ -e "$TMP/not-this.db" ] && fail "BERTH_DB used although --db was given"
[ "$(code HEAD "/v2/db/a/blobs/$digest")" = 200 ] || fail "--db: the blob of $flagdb is unknown"
berth_stop
pass "BERTH_DB puts the database at $envdb; --db wins"

step "bad values: exit 2 and a clear message, for serve and the admin commands"
# bad CMD...: exits 2 naming the expected forms
bad() {
        local rc=0
        timeout 30 "$@" >"$TMP/bad.out" 2>&1 </dev/null || rc=$?
        [ "$rc" = 2 ] || { cat "$TMP/bad.out"; fail "$* exited $rc, not 2"; }
        grep -q "expected sqlite, sqlite:PATH, or a PostgreSQL URI" "$TMP/bad.out" || fail "$*: $(cat "$TMP/bad.out")"
}
bad "$b" serve --data "$TMP/bad" --db mysql://db/berth
bad "$b" serve --data "$TMP/bad" --db "$TMP/berth.db"
bad "$b" --data "$TMP/bad" --db sqlite: user list
BERTH_DB=postgresql:/nohost bad "$b" serve --data "$TMP/bad"
BERTH_DB=bogus bad "$b" --data "$TMP/bad" user list
pass "refused with exit 2"

step "an unreachable PostgreSQL: a clear error at start, no password in the output"
printf 'fil3Secret\n' >"$TMP/pgpass" && chmod 600 "$TMP/pgpass"
export BERTH_DB_PASSWORD_FILE=$TMP/pgpass
pguri='postgresql://berth:s3cretPW@127.0.0.1:1/berth?password=alsoS3cret&sslpassword=third0ne&connect_timeout=5'
shown='postgresql://berth@127.0.0.1:1/berth?connect_timeout=5'
# no_secret FILE: none of the passwords in FILE
no_secret() {
        ! grep -qE 's3cretPW|alsoS3cret|third0ne|fil3Secret' "$1" || { cat "$1"; fail "a password in the output"; }
}
port=$(berth_free_port) || fail "no free port"
rc=0
timeout 60 "$b" serve --listen "127.0.0.1:$port" --insecure-http --data "$TMP/pg" --metrics-listen '' \
        --db "$pguri" >"$TMP/pg.out" 2>&1 </dev/null || rc=$?
[ "$rc" = 1 ] || { cat "$TMP/pg.out"; fail "berthd serve on an unreachable database exited $rc, not 1"; }
grep -qF "opening the metadata database $shown" "$TMP/pg.out" || { cat "$TMP/pg.out"; fail "the error does not name $shown"; }
no_secret "$TMP/pg.out"
[ -e "$TMP/pg/berth.db" ] && fail "a SQLite database made for a PostgreSQL URI"
[ -e "$TMP/pg/serve.lock" ] && fail "serve.lock taken for a shared database"
rc=0
BERTH_DB=$pguri timeout 60 "$b" --data "$TMP/pg" user list >"$TMP/pg.out" 2>&1 </dev/null || rc=$?
[ "$rc" = 1 ] || { cat "$TMP/pg.out"; fail "user list on an unreachable database exited $rc, not 1"; }
grep -qF "cannot open the metadata database $shown" "$TMP/pg.out" || { cat "$TMP/pg.out"; fail "user list: unclear error"; }
no_secret "$TMP/pg.out"
pass "exit 1, $shown named, no password shown"

step "gc (online, on PostgreSQL too) on an unreachable database: exit 1, named, no password"
rc=0
timeout 60 "$b" --data "$TMP/pg" --db "$pguri" gc >"$TMP/pg.out" 2>&1 </dev/null || rc=$?
[ "$rc" = 1 ] || { cat "$TMP/pg.out"; fail "gc on an unreachable PostgreSQL exited $rc, not 1"; }
grep -qF "opening the database $shown" "$TMP/pg.out" || fail "gc: $(cat "$TMP/pg.out")"
no_secret "$TMP/pg.out"
pass "gc: exit 1, $shown named, no password shown"
