#!/usr/bin/env bash
# File modes under DATA: berth.db (password hashes, the robot-secret key, the audit
# trail) with its -wal and -shm, blobs, uploads, keys, locks are for berthd alone:
# files 0600, directories 0700, whatever umask berthd was started with (serve and the
# admin commands). tls/ca.crt stays 0644: it is the one file made to be handed out.
# A data directory open to others is tightened at start when berthd owns it, and
# warned about when it does not; secret files an older berthd left 0644 are tightened.
. "$(dirname "$0")/lib.sh"
berth_require curl sha256sum find stat
berth_tmpdir
umask 022        # what a shell or a service manager commonly gives

# loose DIR: everything under DIR (DIR included) that group or others may use,
# except tls/ca.crt
loose() { find "$1" \( -perm /077 ! -path "$1/tls/ca.crt" \) -printf '%m %p\n'; }
bd() { timeout 120 "$top_builddir/berthd" --data "$BERTH_DATA" "$@"; }

step "a data directory made 0755 beforehand is tightened at start"
mkdir -m 0755 "$TMP/data"
berth_start
. "$(dirname "$0")/api-common.sh"
[ "$(stat -c %a "$BERTH_DATA")" = 700 ] || fail "DATA is $(stat -c %a "$BERTH_DATA") after the start"
grep -q "data directory $BERTH_DATA was mode 0755: now 0700" "$TMP/berthd.log" || fail "no notice about the tightening"
pass "DATA 0755 -> 0700, with a notice"

step "a push, an upload in progress, an admin command, with the server running"
randfile "$TMP/layer" 20000
push_blob modes/app "$TMP/layer"
printf '{}' >"$TMP/config"
push_blob modes/app "$TMP/config"
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$T_OCI" \
        "$(descriptor application/vnd.oci.image.config.v1+json "$TMP/config")" \
        "$(descriptor application/vnd.oci.image.layer.v1.tar "$TMP/layer")" >"$TMP/manifest"
push_manifest modes/app v1 "$TMP/manifest" "$T_OCI"
req POST /v2/modes/app/blobs/uploads/
expect_status 202 "an upload session"
req PATCH "$(hdr Location)" -H 'Content-Type: application/octet-stream' --data-binary abcd
expect_status 202 "a chunk"
[ "$API_FAILS" -eq 0 ] || fail "the push failed"
[ -e "$BERTH_DATA/berth.db-wal" ] || fail "no berth.db-wal while the server runs (nothing to check)"
[ -e "$BERTH_DATA/berth.db-shm" ] || fail "no berth.db-shm while the server runs (nothing to check)"
for f in berth.db-wal berth.db-shm; do
        [ "$(stat -c %a "$BERTH_DATA/$f")" = 600 ] || fail "$f is $(stat -c %a "$BERTH_DATA/$f")"
done
printf 'pw-of-ana\n' | bd user add ana >/dev/null 2>&1 || fail "berthd user add"
# the server still holds its SQLite locks: the admin command, closing last, must not
# have taken the WAL away from under it
[ -e "$BERTH_DATA/berth.db-wal" ] || fail "berth.db-wal gone after an admin command while the server runs"
[ -n "$(find "$BERTH_DATA/uploads" -type f)" ] || fail "no upload file (nothing to check)"
[ -n "$(find "$BERTH_DATA/blobs" -type f)" ] || fail "no blob file (nothing to check)"
out=$(loose "$BERTH_DATA")
[ -z "$out" ] || fail "open to group or others while running:"$'\n'"$out"
[ "$(stat -c %a "$BERTH_DATA/tls/ca.crt")" = 644 ] || fail "ca.crt is not 0644"
for f in berth.db tls/ca.key tls/server.key tls/server.crt serve.lock; do
        [ "$(stat -c %a "$BERTH_DATA/$f")" = 600 ] || fail "$f is $(stat -c %a "$BERTH_DATA/$f")"
done
pass "every file 0600, every directory 0700 (berth.db-wal/-shm, blobs, uploads, keys included); ca.crt 0644"

step "offline: berthd gc and the admin commands"
berth_stop
bd gc >/dev/null 2>&1 || fail "berthd gc"
bd audit >/dev/null 2>&1 || fail "berthd audit"
out=$(loose "$BERTH_DATA")
[ -z "$out" ] || fail "open to group or others after gc and stop:"$'\n'"$out"
pass "still nothing open to group or others"

step "an install made by an older berthd (DATA 0755, berth.db and server.crt 0644) is tightened"
chmod 0755 "$BERTH_DATA"
chmod 0644 "$BERTH_DATA/berth.db" "$BERTH_DATA/tls/server.crt"
berth_start
out=$(loose "$BERTH_DATA")
[ -z "$out" ] || fail "open to group or others after a restart:"$'\n'"$out"
grep -q "$BERTH_DATA/berth.db was mode 0644: now 0600" "$TMP/berthd.log" || fail "no notice about berth.db"
pass "DATA, berth.db and server.crt tightened at start"
berth_stop

if [ "$(id -u)" -eq 0 ]; then
        step "a data directory berthd does not own is left alone, with a warning"
        chown 4242 "$BERTH_DATA"
        chmod 0755 "$BERTH_DATA"
        berth_start
        [ "$(stat -c %a "$BERTH_DATA")" = 755 ] || fail "berthd changed a directory it does not own"
        grep -q "data directory $BERTH_DATA (mode 0755, owner uid 4242) is open to other users" \
                "$TMP/berthd.log" || fail "no warning about a foreign data directory open to others"
        pass "warned, not changed"
        berth_stop
        chown 0 "$BERTH_DATA"
fi
pass "file modes under DATA"
