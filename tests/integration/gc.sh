#!/usr/bin/env bash
# Offline garbage collection: after a manifest is deleted, `berthd gc` removes the
# blobs only it used (rows and files), keeps what another image shares, removes
# files without metadata, refuses while berthd serves the directory, and a dry run
# changes nothing.
. "$(dirname "$0")/lib.sh"
berth_require skopeo curl jq python3
berth_tmpdir
berth_start
certs=$TMP/certs
mkdir -p "$certs" && cp "$BERTH_CA" "$certs/ca.crt"

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

step "delete image a; gc refuses while the server runs"
[ "$(bcurl -o /dev/null -w '%{http_code}' -X DELETE "$BERTH_URL/v2/gc/a/manifests/$man_a")" = 202 ] || fail "DELETE manifest"
"$top_builddir/berthd" --data "$BERTH_DATA" gc --grace 0 >"$TMP/gc.out" 2>&1 && fail "gc ran while berthd serves"
grep -q "stop it first" "$TMP/gc.out" || { cat "$TMP/gc.out"; fail "gc: unclear refusal"; }
pass "gc refused while berthd serves the directory"
berth_stop

step "an orphan file (bytes without a row), then a dry run"
orphan=$(printf 'orphan bytes' | sha256sum | cut -d' ' -f1)
mkdir -p "$BERTH_DATA/blobs/sha256/${orphan:0:2}"
printf 'orphan bytes' >"$BERTH_DATA/blobs/sha256/${orphan:0:2}/$orphan"
touch -d '2 hours ago' "$BERTH_DATA/blobs/sha256/${orphan:0:2}/$orphan"
before=$(nfiles)
"$top_builddir/berthd" --data "$BERTH_DATA" gc --grace 0 --dry-run >"$TMP/gc.out" 2>&1 || { cat "$TMP/gc.out"; fail "gc --dry-run"; }
grep -q "would remove" "$TMP/gc.out" || fail "dry run output: $(cat "$TMP/gc.out")"
[ "$(nfiles)" = "$before" ] || fail "the dry run removed files"
pass "dry run: $(cat "$TMP/gc.out")"

step "gc"
"$top_builddir/berthd" --data "$BERTH_DATA" gc --grace 0 >"$TMP/gc.out" 2>&1 || { cat "$TMP/gc.out"; fail "gc"; }
while read -r d; do [ -e "$(blobfile "$d")" ] && fail "a's own blob $d is still there"; done <"$TMP/a.only"
while read -r d; do [ -e "$(blobfile "$d")" ] || fail "the shared blob $d is gone"; done <"$TMP/shared"
[ -e "$(blobfile "$man_a")" ] && fail "a's manifest file is still there"
[ -e "$BERTH_DATA/blobs/sha256/${orphan:0:2}/$orphan" ] && fail "the orphan file is still there"
pass "gc: $(cat "$TMP/gc.out")"

step "b still pulls; a's blobs are unknown"
berth_start
skopeo copy -q --src-cert-dir "$certs" "docker://$BERTH_HOST/gc/b:v1" "oci:$TMP/out:v1" || fail "pull b after gc"
d=$(head -n1 "$TMP/a.only")
[ "$(bcurl -o /dev/null -w '%{http_code}' -I "$BERTH_URL/v2/gc/a/blobs/$d")" = 404 ] || fail "a's blob still served"
pass "b pulls whole after gc; a's blob answers 404"

step "a second gc finds nothing"
berth_stop
"$top_builddir/berthd" --data "$BERTH_DATA" gc --grace 0 >"$TMP/gc.out" 2>&1 || fail "second gc"
grep -q "removed 0 repository link(s), 0 blob(s) (0 bytes), 0 file(s)" "$TMP/gc.out" || fail "second gc: $(cat "$TMP/gc.out")"
pass "second gc: nothing left to remove"
