#!/usr/bin/env bash
# Online garbage collection, with berthd serving: after a manifest is deleted,
# `berthd gc` removes the blobs only it used (rows and files), keeps what another
# image shares, removes files without metadata; a dry run changes nothing; the runs
# are recorded (`berthd gc --status`); a push while runs loop completes and pulls
# whole; and the server collects by itself (--gc-interval), counted in its metrics.
. "$(dirname "$0")/lib.sh"
berth_require skopeo curl jq python3
berth_tmpdir
MPORT=$(berth_free_port) || fail "no free port"
berth_start --gc-interval 0 --metrics-listen "127.0.0.1:$MPORT"
certs=$TMP/certs
mkdir -p "$certs" && cp "$BERTH_CA" "$certs/ca.crt"
bgc() { "$top_builddir/berthd" --data "$BERTH_DATA" ${BERTH_DB_URL:+--db "$BERTH_DB_URL"} gc "$@"; }

step "two images sharing a base layer, in two repositories"
berth_mkimage "$TMP/a" --tag v1 --layers 3 --layer-size 64K --seed gc-a --base-seed gc-base >/dev/null
berth_mkimage "$TMP/b" --tag v1 --layers 3 --layer-size 64K --seed gc-b --base-seed gc-base >/dev/null
for i in a b; do
        skopeo copy -q --preserve-digests --dest-cert-dir "$certs" "oci:$TMP/$i:v1" "docker://$BERTH_HOST/gc/$i:v1" \
                || fail "skopeo copy $i"
done
man_a=$(jq -r '.manifests[0].digest' "$TMP/a/index.json")
blobs_of() { # LAYOUT: the manifest's config and layer digests
        jq -r '.config.digest, .layers[].digest' "$1/blobs/sha256/$(jq -r '.manifests[0].digest' "$1/index.json" | cut -d: -f2)"
}
blobs_of "$TMP/a" | sort >"$TMP/a.blobs"
blobs_of "$TMP/b" | sort >"$TMP/b.blobs"
comm -23 "$TMP/a.blobs" "$TMP/b.blobs" >"$TMP/a.only"
comm -12 "$TMP/a.blobs" "$TMP/b.blobs" >"$TMP/shared"
[ -s "$TMP/a.only" ] && [ -s "$TMP/shared" ] || fail "the images should share a layer and differ in others"
blobfile() { echo "$BERTH_DATA/blobs/sha256/$(echo "${1#sha256:}" | cut -c1-2)/${1#sha256:}"; }
nfiles() { find "$BERTH_DATA/blobs" -type f | wc -l; }

step "delete image a; an orphan file (bytes without a row); a dry run while the server serves"
[ "$(bcurl -o /dev/null -w '%{http_code}' -X DELETE "$BERTH_URL/v2/gc/a/manifests/$man_a")" = 202 ] || fail "DELETE manifest"
orphan=$(printf 'orphan bytes' | sha256sum | cut -d' ' -f1)
mkdir -p "$BERTH_DATA/blobs/sha256/${orphan:0:2}"
printf 'orphan bytes' >"$BERTH_DATA/blobs/sha256/${orphan:0:2}/$orphan"
touch -d '2 hours ago' "$BERTH_DATA/blobs/sha256/${orphan:0:2}/$orphan"
before=$(nfiles)
bgc --grace 0 --dry-run >"$TMP/gc.out" 2>&1 || { cat "$TMP/gc.out"; fail "gc --dry-run"; }
grep -q "would remove" "$TMP/gc.out" || fail "dry run output: $(cat "$TMP/gc.out")"
grep -q " 1 file(s) without metadata" "$TMP/gc.out" || fail "dry run does not count the orphan: $(cat "$TMP/gc.out")"
grep -q "would remove [1-9][0-9]* repository link(s), [1-9][0-9]* blob(s)" "$TMP/gc.out" \
        || fail "dry run does not count a's blobs: $(cat "$TMP/gc.out")"
[ "$(nfiles)" = "$before" ] || fail "the dry run removed files"
pass "dry run: $(cat "$TMP/gc.out")"

step "gc while the server serves (no more stop first)"
bgc --grace 0 >"$TMP/gc.out" 2>&1 || { cat "$TMP/gc.out"; fail "gc"; }
while read -r d; do [ -e "$(blobfile "$d")" ] && fail "a's own blob $d is still there"; done <"$TMP/a.only"
while read -r d; do [ -e "$(blobfile "$d")" ] || fail "the shared blob $d is gone"; done <"$TMP/shared"
[ -e "$(blobfile "$man_a")" ] && fail "a's manifest file is still there"
[ -e "$BERTH_DATA/blobs/sha256/${orphan:0:2}/$orphan" ] && fail "the orphan file is still there"
[ -z "$(ls -A "$BERTH_DATA/trash")" ] || fail "files left in trash/"
pass "gc: $(cat "$TMP/gc.out")"

step "b still pulls; a's blobs are unknown"
skopeo copy -q --src-cert-dir "$certs" "docker://$BERTH_HOST/gc/b:v1" "oci:$TMP/out:v1" || fail "pull b after gc"
d=$(head -n1 "$TMP/a.only")
[ "$(bcurl -o /dev/null -w '%{http_code}' -I "$BERTH_URL/v2/gc/a/blobs/$d")" = 404 ] || fail "a's blob still served"
pass "b pulls whole after gc; a's blob answers 404"

step "a second gc finds nothing; the runs are recorded"
bgc --grace 0 >"$TMP/gc.out" 2>&1 || fail "second gc"
grep -q "removed 0 repository link(s), 0 blob(s) (0 bytes), 0 file(s)" "$TMP/gc.out" || fail "second gc: $(cat "$TMP/gc.out")"
bgc --status >"$TMP/status.out" 2>&1 || { cat "$TMP/status.out"; fail "gc --status"; }
grep -q "no run in progress" "$TMP/status.out" || fail "status: $(cat "$TMP/status.out")"
[ "$(grep -c '^run [0-9]*: run started .* (ok) by berthd gc on' "$TMP/status.out")" = 2 ] \
        || fail "status should list the two runs: $(cat "$TMP/status.out")"
grep -q '^run [0-9]*: dry run started .* (ok)' "$TMP/status.out" || fail "status: no dry run: $(cat "$TMP/status.out")"
grep -q '^run 2: run .*: [1-9][0-9]* blob(s) ([1-9][0-9]* bytes)' "$TMP/status.out" \
        || fail "status: the first run freed nothing? $(cat "$TMP/status.out")"
pass "second gc: nothing left to remove; status lists the runs"

step "a push while gc runs in a loop"
berth_mkimage "$TMP/c" --tag v1 --layers 4 --layer-size 256K --seed gc-c --base-seed gc-base >/dev/null
( for _ in $(seq 1 40); do bgc --grace 60 --wait 5 >/dev/null 2>>"$TMP/loop.err" || echo "gc failed" >>"$TMP/loop.err"; done ) &
loop=$!
skopeo copy -q --preserve-digests --dest-cert-dir "$certs" "oci:$TMP/c:v1" "docker://$BERTH_HOST/gc/c:v1" \
        || fail "push during gc"
wait "$loop"
grep -q "gc failed" "$TMP/loop.err" && fail "a gc run failed: $(cat "$TMP/loop.err")"
skopeo copy -q --src-cert-dir "$certs" "docker://$BERTH_HOST/gc/c:v1" "oci:$TMP/c-out:v1" || fail "pull c"
for d in $(blobs_of "$TMP/c"); do
        [ "$(bcurl -s "$BERTH_URL/v2/gc/c/blobs/$d" | sha256sum | cut -d' ' -f1)" = "${d#sha256:}" ] \
                || fail "blob $d differs"
done
pass "the push during gc completed; every blob pulls with its digest"

step "the server's own runs (--gc-interval), in its metrics"
berth_stop
berth_start --gc-interval 1 --metrics-listen "127.0.0.1:$MPORT"
for _ in $(seq 1 50); do
        curl -s "http://127.0.0.1:$MPORT/metrics" >"$TMP/metrics" || true
        grep -q '^berth_gc_runs_total{result="ok"} [1-9]' "$TMP/metrics" && break
        sleep 0.2
done
grep -q '^berth_gc_runs_total{result="ok"} [1-9]' "$TMP/metrics" || fail "no GC run of the server counted"
for m in berth_gc_duration_seconds_count berth_gc_freed_bytes_total berth_gc_freed_blobs_total; do
        grep -q "^$m " "$TMP/metrics" || fail "no $m in the metrics"
done
bgc --status >"$TMP/status.out" 2>&1 || fail "gc --status"
grep -q '(ok) by berthd on ' "$TMP/status.out" || fail "status: no run by the server: $(cat "$TMP/status.out")"
skopeo copy -q --src-cert-dir "$certs" "docker://$BERTH_HOST/gc/c:v1" "oci:$TMP/c-out2:v1" || fail "pull c after server runs"
pass "the server collects by itself; berth_gc_* in its metrics"
berth_stop
