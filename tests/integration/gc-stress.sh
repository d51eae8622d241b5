#!/usr/bin/env bash
# Online GC under load (issue 11, slow tier): clients push images sharing layers,
# delete manifests and tags, mount across repositories and abandon or cancel uploads
# (gc_stress.py) while `berthd gc --grace 0 --delete-untagged` runs in a loop, some
# runs killed with SIGKILL midway. Then:
#   - every manifest still tagged pulls, with every blob matching its digest;
#   - after the clients stop and one more GC: no blob row, link, untagged manifest,
#     blob file or upload session is left that nothing references (counted, from
#     the database and the data directory), no row without its file, nothing in trash/;
#   - the server never answered 500.
# Bounded: BERTH_GC_STRESS_SECONDS of load (default 90).
. "$(dirname "$0")/lib.sh"
berth_require curl jq python3 sha256sum
berth_tmpdir
SECS=${BERTH_GC_STRESS_SECONDS:-90}
WORKERS=${BERTH_GC_STRESS_WORKERS:-4}
berth_start --gc-interval 0 --upload-max-age 3600
bgc() { timeout 120 "$top_builddir/berthd" --data "$BERTH_DATA" ${BERTH_DB_URL:+--db "$BERTH_DB_URL"} gc "$@"; }
# rows SQL: every first column of SQL's rows, one per line
rows() {
        if [ "${BERTH_TEST_DB:-sqlite}" = pg ]; then
                PGPASSWORD=$(cat "$BERTH_DB_PASSWORD_FILE") psql -X -q -A -t -v ON_ERROR_STOP=1 "$BERTH_DB_URL" -c "$1"
        else
                python3 -c 'import sqlite3, sys
for row in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]): print(row[0])' "$BERTH_DATA/berth.db" "$1"
        fi
}

step "load for $SECS s ($WORKERS clients) while gc --grace 0 loops, some runs killed"
python3 "$BERTH_IT_DIR/gc_stress.py" "$BERTH_URL" "$BERTH_CA" "$SECS" "$WORKERS" "$TMP/tags" \
        >"$TMP/counts.json" 2>"$TMP/clients.err" &
clients=$!
runs=0 killed=0 failed=0
while kill -0 "$clients" 2>/dev/null; do
        if [ $((runs % 5)) = 4 ]; then
                # killed midway: files it moved to trash/ wait for the next run
                bgc --grace 0 --delete-untagged --upload-max-age 30 --wait 0 >/dev/null 2>&1 &
                g=$!
                sleep "0.0$((RANDOM % 9 + 1))"
                kill -9 "$g" 2>/dev/null && killed=$((killed + 1))
                wait "$g" 2>/dev/null || true
        else
                bgc --grace 0 --delete-untagged --upload-max-age 30 --wait 10 >>"$TMP/gc.out" 2>&1 \
                        || { failed=$((failed + 1)); tail -n 2 "$TMP/gc.out"; }
        fi
        runs=$((runs + 1))
done
wait "$clients" || fail "the clients failed: $(tail -n 5 "$TMP/clients.err")"
[ "$failed" = 0 ] || fail "$failed gc run(s) failed"
counts=$(cat "$TMP/counts.json")
[ "$(jq .errors <<<"$counts")" = 0 ] || fail "client errors: $counts: $(head -n 5 "$TMP/clients.err")"
[ "$(jq .pushes <<<"$counts")" -gt 20 ] || fail "too few pushes: $counts"
pass "$runs gc runs ($killed killed) during the load; clients: $counts"

step "every tagged manifest pulls whole"
n=0
while read -r repo tag digest; do
        got=$(bcurl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' "$BERTH_URL/v2/$repo/manifests/$tag" \
                | tee "$TMP/m.json" | sha256sum | cut -d' ' -f1)
        [ "sha256:$got" = "$digest" ] || fail "$repo:$tag: manifest sha256:$got, want $digest"
        for d in $(jq -r '.config.digest, .layers[].digest' "$TMP/m.json"); do
                [ "$(bcurl -s "$BERTH_URL/v2/$repo/blobs/$d" | sha256sum | cut -d' ' -f1)" = "${d#sha256:}" ] \
                        || fail "$repo:$tag: blob $d differs or is missing"
        done
        n=$((n + 1))
done <"$TMP/tags"
[ "$n" -gt 0 ] || fail "no tag left to check"
pass "$n tagged manifests pull with every blob matching its digest"

step "one more gc: nothing left that nothing references"
sleep 1 # the abandoned sessions age past --upload-max-age 1
bgc --grace 0 --delete-untagged --upload-max-age 1 >"$TMP/last.out" 2>&1 || { cat "$TMP/last.out"; fail "last gc"; }
cnt() { rows "$1" | head -n 1; }
unref_blobs=$(cnt "SELECT count(*) FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM repo_blobs rb WHERE rb.digest = b.digest)
        AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = b.digest)
        AND NOT EXISTS (SELECT 1 FROM manifest_refs mr WHERE mr.child = b.digest)")
unref_links=$(cnt "SELECT count(*) FROM repo_blobs rb WHERE NOT EXISTS (SELECT 1 FROM manifest_refs mr
        WHERE mr.repo_id = rb.repo_id AND mr.child = rb.digest)")
untagged=$(cnt "SELECT count(*) FROM manifests m WHERE NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = m.repo_id
        AND t.digest = m.digest) AND NOT EXISTS (SELECT 1 FROM manifest_refs mr WHERE mr.repo_id = m.repo_id
        AND mr.child = m.digest)")
uploads=$(cnt "SELECT count(*) FROM uploads")
rows "SELECT digest FROM blobs" | sed 's/^sha256://' | sort >"$TMP/rows"
find "$BERTH_DATA/blobs" -type f -printf '%f\n' | sort >"$TMP/files"
orphan_files=$(comm -13 "$TMP/rows" "$TMP/files" | wc -l)
missing_files=$(comm -23 "$TMP/rows" "$TMP/files" | wc -l)
upload_files=$(find "$BERTH_DATA/uploads" -type f | wc -l)
trash=$(find "$BERTH_DATA/trash" -type f | wc -l)
tagged=$(cnt "SELECT count(*) FROM tags")
echo "  rows: $(wc -l <"$TMP/rows") blobs, $tagged tags; unreferenced: $unref_blobs blobs, $unref_links links," \
        "$untagged untagged manifests, $uploads upload rows, $upload_files upload files, $orphan_files blob files" \
        "without a row; $missing_files rows without a file; $trash in trash"
[ "$unref_blobs$unref_links$untagged$uploads$orphan_files$missing_files$upload_files$trash" = 00000000 ] \
        || fail "something is left that nothing references (above)"
[ "$tagged" = "$(wc -l <"$TMP/tags")" ] || fail "$tagged tags in the database, the clients expect $(wc -l <"$TMP/tags")"
pass "after the last gc ($(cat "$TMP/last.out")): no orphan row, link, file or session"

step "the server never answered 500"
grep -E '" 5[0-9][0-9] | 5[0-9][0-9] [A-Z_]+ [0-9.]+ms$| 500 ' "$TMP/berthd.log" | head -n 3 >"$TMP/5xx" || true
[ -s "$TMP/5xx" ] && fail "5xx answers: $(cat "$TMP/5xx")"
pass "no 5xx"
berth_stop
