#!/usr/bin/env bash
# `berthd backup DEST` while a push loop runs: a consistent snapshot (the database,
# then the blobs its rows name, hard-linked on the same file system; keys; a
# manifest), every file 0600 and directory 0700. `berthd restore` into a new
# directory (and, on PostgreSQL, a new empty database); a berthd on it serves every
# tag of the snapshot, each manifest and blob with matching digests; fsck finds the
# restored store clean; a restore into something not empty is refused.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$(dirname "$0")/lib.sh"
berth_require curl jq sha256sum
berth_tmpdir
berth_start
. "$(dirname "$0")/api-common.sh"
. "$(dirname "$0")/storage-lib.sh"
pg=
[ "${BERTH_TEST_DB:-sqlite}" = pg ] && pg=1

step "three images, then a push loop"
for n in 1 2 3; do push_image "bk/base$n" v1 "base$n"; done
[ "$API_FAILS" = 0 ] || fail "pushes failed"
(
        for i in $(seq 1 300); do
                [ -e "$TMP/stop" ] && break
                API_FAILS=0
                push_image bk/loop "t$i" "loop$i" 5000 >/dev/null
                [ "$API_FAILS" = 0 ] && echo "$i" >>"$TMP/loop.done"
        done
) &
loop=$!
berth_track_pid "$loop"
looped() { [ "$(cat "$TMP/loop.done" 2>/dev/null | wc -l)" -ge "$1" ]; }
berth_wait_for 60 looped 3 || fail "the push loop does not push"

step "berthd backup while the loop pushes"
before=$(wc -l <"$TMP/loop.done")
"$top_builddir/berthd" --data "$BERTH_DATA" backup "$TMP/bk" >"$TMP/backup.out" 2>&1 ||
        { cat "$TMP/backup.out"; fail "backup"; }
after=$(wc -l <"$TMP/loop.done")
berth_wait_for 60 looped $((after + 2)) || fail "the loop stopped during the backup"
touch "$TMP/stop"
wait "$loop" 2>/dev/null || true
pass "$(cat "$TMP/backup.out") (loop at $before pushes when it started, $after when it ended)"

m=$TMP/bk/berth-backup.json
[ -f "$m" ] || fail "no manifest"
[ "$(jq -r .format "$m")" = 1 ] && [ "$(jq -r .engine "$m")" = "$([ -n "$pg" ] && echo postgresql || echo sqlite)" ] ||
        fail "manifest: $(cat "$m")"
[ "$(jq -r .missing "$m")" = 0 ] && [ "$(jq -r .copied "$m")" = 0 ] &&
        [ "$(jq -r .linked "$m")" = "$(jq -r .blobs "$m")" ] || fail "same file system: every blob linked: $(cat "$m")"
[ -f "$TMP/bk/$(jq -r .database "$m")" ] || fail "no database file"
[ -f "$TMP/bk/tls/ca.key" ] || fail "no TLS keys"
[ ! -e "$TMP/bk/secret.key" ] || fail "the webhook secret key is in the backup (it is kept apart)"
bad=$(find "$TMP/bk" \( -type f ! -perm 600 ! -path "$TMP/bk/tls/ca.crt" \) -o \( -type d ! -perm 700 \))
[ -z "$bad" ] || fail "not private: $(ls -ld $bad)"
[ "$(find "$TMP/bk/blobs" -type f | wc -l)" = "$(jq -r .blobs "$m")" ] || fail "blob files: not the manifest's count"
pass "manifest $(jq -c '{engine, schema_version, blobs, bytes, linked}' "$m"); files 0600, directories 0700"

step "berthd restore into a new directory$([ -n "$pg" ] && echo " and a new database")"
dbargs=()
if [ -n "$pg" ]; then
        url2=$(berth_pg_db) || exit
        dbargs=(--db "$url2")
fi
"$top_builddir/berthd" "${dbargs[@]}" restore "$TMP/bk" "$TMP/restored" >"$TMP/restore.out" 2>&1 ||
        { cat "$TMP/restore.out"; fail "restore"; }
[ "$(stat -c %a "$TMP/restored")" = 700 ] || fail "the restored directory is not 0700"
[ -n "$pg" ] || [ "$(stat -c %a "$TMP/restored/berth.db")" = 600 ] || fail "the restored database is not 0600"
rc=0
"$top_builddir/berthd" "${dbargs[@]}" restore "$TMP/bk" "$TMP/restored" >"$TMP/again.out" 2>&1 || rc=$?
[ $rc = 2 ] && grep -q "not empty\|exists" "$TMP/again.out" || fail "a restore over the first: status $rc, $(cat "$TMP/again.out")"
mkdir "$TMP/empty"
rc=0
"$top_builddir/berthd" "${dbargs[@]}" restore "$TMP/empty" "$TMP/r2" >"$TMP/nob.out" 2>&1 || rc=$?
[ $rc = 2 ] && grep -q "not a berth backup" "$TMP/nob.out" || fail "a directory without a backup: status $rc, $(cat "$TMP/nob.out")"
pass "$(cat "$TMP/restore.out" | head -1); a second restore and a non-backup refused"

step "fsck of the restored store is clean"
rc=0
"$top_builddir/berthd" --data "$TMP/restored" "${dbargs[@]}" fsck --json >"$TMP/fsck.json" || rc=$?
[ $rc = 0 ] || fail "fsck of the restore: status $rc, $(cat "$TMP/fsck.json")"
pass "$(jq -c '{clean, rows, files}' "$TMP/fsck.json")"

step "a berthd on the restore serves every tag of the snapshot"
berth_stop
port=$(berth_free_port)
"$top_builddir/berthd" serve --listen "127.0.0.1:$port" --data "$TMP/restored" --auth none "${dbargs[@]}" \
        >>"$TMP/restored.log" 2>&1 &
berth_track_pid $!
up() { [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$TMP/restored/tls/ca.crt" "https://127.0.0.1:$port/readyz")" = 200 ]; }
berth_wait_for 15 up || { cat "$TMP/restored.log"; fail "the restored berthd does not come up"; }
cmp -s "$TMP/restored/tls/ca.crt" "$BERTH_CA" || fail "the CA changed"
base=https://127.0.0.1:$port
n=0
for repo in $(bcurl -f "$base/v2/_catalog?n=1000" | jq -r '.repositories[]'); do
        for tag in $(bcurl -f "$base/v2/$repo/tags/list?n=1000" | jq -r '.tags[]'); do
                pulls "$base" "$repo" "$tag" || fail "$repo:$tag does not pull from the restore"
                n=$((n + 1))
        done
done
[ "$n" -ge $((3 + before)) ] && [ "$n" -le $((3 + after)) ] ||
        fail "$n tags restored: the snapshot was taken with between $((3 + before)) and $((3 + after))"
pass "$n tags pull whole from the restore (between $((3 + before)) and $((3 + after)) expected)"
