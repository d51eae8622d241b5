#!/usr/bin/env bash
# `berthd fsck` beside a serving berthd: a layer with one byte changed, a layer whose
# file is gone, a layer cut short, and a file no row names are found, and nothing
# else (--json); --repair moves the bad files to DATA/quarantine/ and drops the rows
# that cannot be served; a second fsck is clean; the images nobody touched still pull
# whole, and a push of the corrupt layer's bytes heals its image.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$(dirname "$0")/lib.sh"
berth_require curl jq sha256sum
berth_tmpdir
berth_start
. "$(dirname "$0")/api-common.sh"
. "$(dirname "$0")/storage-lib.sh"

fsck() { "$top_builddir/berthd" --data "$BERTH_DATA" fsck "$@"; }

step "five images; then damage three layers and add an orphan file"
push_image fsck/a v1 a; la=$LAYER
push_image fsck/b v1 b; lb=$LAYER
push_image fsck/c v1 c; lc=$LAYER
push_image fsck/d v1 d
push_image fsck/e v1 e 3000000
[ "$API_FAILS" = 0 ] || fail "pushes failed"
rc=0; fsck --json >"$TMP/f0.json" || rc=$?
[ $rc = 0 ] && [ "$(jq -r .clean "$TMP/f0.json")" = true ] || fail "fsck of a healthy store: status $rc, $(cat "$TMP/f0.json")"
[ "$(jq -r .rows "$TMP/f0.json")" = 15 ] || fail "15 blob rows expected: $(cat "$TMP/f0.json")"
pass "a healthy store is clean (status 0): $(jq -c '{rows,files,hashed_bytes}' "$TMP/f0.json")"

# one byte of a's layer changed, in place
printf '\x00' | dd of="$(blobpath "$la")" bs=1 seek=777 conv=notrunc status=none
cmp -s "$(blobpath "$la")" "$TMP/a.layer" && printf '\x01' | dd of="$(blobpath "$la")" bs=1 seek=777 conv=notrunc status=none
cmp -s "$(blobpath "$la")" "$TMP/a.layer" && fail "the layer did not change"
rm "$(blobpath "$lb")"
truncate -s 1000 "$(blobpath "$lc")"
randfile "$TMP/orphan" 5000
orphan=$(sha256_of "$TMP/orphan")
mkdir -p "$(dirname "$(blobpath "$orphan")")"
cp "$TMP/orphan" "$(blobpath "$orphan")"
touch -d '2 hours ago' "$(blobpath "$orphan")"
# a file without a row that is younger than the grace period: a push in progress
randfile "$TMP/young" 100
young=$(sha256_of "$TMP/young")
mkdir -p "$(dirname "$(blobpath "$young")")"
cp "$TMP/young" "$(blobpath "$young")"

step "fsck finds exactly those four, online"
rc=0; fsck --json >"$TMP/f1.json" || rc=$?
[ $rc = 1 ] || fail "fsck with problems: status $rc, want 1: $(cat "$TMP/f1.json")"
jq -r '.problems[] | "\(.kind) \(.digest)"' "$TMP/f1.json" | sort >"$TMP/found"
printf '%s\n' "digest-mismatch $la" "missing $lb" "wrong-size $lc" "orphan $orphan" | sort >"$TMP/want"
diff "$TMP/want" "$TMP/found" >&2 || fail "found other problems than the four made"
[ "$(jq -r '.recent_orphans' "$TMP/f1.json")" = 1 ] || fail "the young file is not counted as a push in progress"
[ "$(jq -r --arg d "$la" '.problems[] | select(.digest == $d) | .manifests' "$TMP/f1.json")" = 1 ] ||
        fail "the corrupt layer's manifest is not counted"
[ "$(jq -r --arg d "$lc" '.problems[] | select(.digest == $d) | "\(.row_size) \(.file_size)"' "$TMP/f1.json")" = "20000 1000" ] ||
        fail "the wrong size is not reported"
[ -e "$(blobpath "$la")" ] && [ -e "$(blobpath "$orphan")" ] || fail "fsck without --repair moved files"
pass "found: $(tr '\n' ';' <"$TMP/found")"

rc=0; fsck >"$TMP/f1.txt" || rc=$?
[ $rc = 1 ] || fail "fsck (text): status $rc"
grep -q "^digest-mismatch  $la" "$TMP/f1.txt" && grep -q "^missing  *$lb" "$TMP/f1.txt" &&
        grep -q "^4 problem(s): 1 missing, 1 wrong size, 1 digest mismatch, 1 without a row" "$TMP/f1.txt" ||
        { cat "$TMP/f1.txt" >&2; fail "the report a person reads"; }
pass "the text report names each"

step "fsck --repair (rate-limited) while the server runs"
rc=0; fsck --repair --rate 50 --json >"$TMP/f2.json" || rc=$?
[ $rc = 1 ] || fail "fsck --repair: status $rc, want 1: $(cat "$TMP/f2.json")"
[ "$(jq -r '.repaired' "$TMP/f2.json")" = 4 ] && [ "$(jq -r '.repair_failed' "$TMP/f2.json")" = 0 ] ||
        fail "not all repaired: $(cat "$TMP/f2.json")"
[ "$(find "$BERTH_DATA/quarantine" -type f | wc -l)" = 3 ] || fail "quarantine: $(ls -l "$BERTH_DATA/quarantine")"
cmp -s "$BERTH_DATA/quarantine/sha256-${orphan#sha256:}-"* "$TMP/orphan" || fail "the orphan was not moved whole"
[ "$(stat -c %a "$BERTH_DATA/quarantine")" = 700 ] || fail "quarantine/ is not 0700"
[ -e "$(blobpath "$la")" ] && fail "the corrupt layer is still in place"
pass "repaired: $(jq -c '[.problems[] | {kind, quarantined, rows_dropped}]' "$TMP/f2.json")"

rc=0; fsck --json >"$TMP/f3.json" || rc=$?
[ $rc = 0 ] && [ "$(jq -r .clean "$TMP/f3.json")" = true ] || fail "second fsck: status $rc, $(cat "$TMP/f3.json")"
[ "$(jq -r .rows "$TMP/f3.json")" = 12 ] || fail "12 rows should be left: $(cat "$TMP/f3.json")"
pass "a second fsck is clean (12 rows)"

step "the untouched images pull whole; the damaged layers answer 404"
pulls "$BERTH_URL" fsck/d v1 || fail "d does not pull"
pulls "$BERTH_URL" fsck/e v1 || fail "e does not pull"
for d in "$la" "$lb" "$lc"; do
        [ "$(bcurl -o /dev/null -w '%{http_code}' -I "$BERTH_URL/v2/fsck/a/blobs/$d")" = 404 ] || fail "$d is still served"
done
pass "d and e pull; the three layers are unknown"

step "pushing the layer's true bytes again heals a"
push_blob fsck/a "$TMP/a.layer"
[ "$API_FAILS" = 0 ] || fail "push of the layer again"
pulls "$BERTH_URL" fsck/a v1 || fail "a does not pull after the layer came back"
rc=0; fsck >/dev/null || rc=$?
[ $rc = 0 ] || fail "fsck after the heal: status $rc"
pass "a pulls again; fsck clean"

step "errors: status 2"
rc=0; fsck --rate fast >/dev/null 2>&1 || rc=$?
[ $rc = 2 ] || fail "a bad --rate: status $rc"
rc=0; fsck --nope >/dev/null 2>&1 || rc=$?
[ $rc = 2 ] || fail "a bad option: status $rc"
pass "bad arguments exit 2"
