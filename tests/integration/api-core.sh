#!/usr/bin/env bash
# API integration test, core push/pull path (issue 2): uploads in every form the
# clients use, blob and manifest reads, the error cases, and what they leave in
# storage. Talks only to a berthd it starts on a free loopback port (HTTPS, the
# generated CA).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$(dirname "$0")/lib.sh"
berth_require curl jq sha256sum awk cmp
berth_tmpdir
berth_start
. "$(dirname "$0")/api-common.sh"
set +e  # assertions record failures and go on

OCT='Content-Type: application/octet-stream'

step "GET /v2/"
req GET /v2/
expect_status 200 "GET /v2/"
expect_hdr Docker-Distribution-API-Version registry/2.0 "API version header"

step "monolithic POST ?digest="
R=core/a
randfile "$TMP/f1" 100000
D1=$(sha256_of "$TMP/f1")
req POST "/v2/$R/blobs/uploads/?digest=$D1" -H "$OCT" --data-binary "@$TMP/f1"
expect_status 201 "single POST upload"
expect_hdr_re Location "/v2/$R/blobs/$D1\$" "single POST Location is the blob URL"
expect_hdr Docker-Content-Digest "$D1" "single POST Docker-Content-Digest"
H1=${D1#sha256:}
if [ -n "${BERTH_TEST_BLOB_LS:-}" ]; then
        if [ "$(blob_copies "$H1")" = 1 ]; then ok "blob stored once (BERTH_TEST_BLOB_LS)"
        else ko "blob $H1 not listed by BERTH_TEST_BLOB_LS"; fi
elif cmp -s "$BERTH_DATA/blobs/sha256/${H1:0:2}/$H1" "$TMP/f1"; then ok "blob stored at DATA/blobs/sha256/xx/<hex>"
else ko "blob not found at DATA/blobs/sha256/${H1:0:2}/$H1"; fi

step "blob GET / HEAD"
req GET "/v2/$R/blobs/$D1"
expect_status 200 "blob GET"
expect_body_file "$TMP/f1" "blob GET body"
expect_hdr Content-Length 100000 "blob GET Content-Length"
expect_hdr Docker-Content-Digest "$D1" "blob GET Docker-Content-Digest"
req HEAD "/v2/$R/blobs/$D1"
expect_status 200 "blob HEAD"
expect_hdr Content-Length 100000 "blob HEAD Content-Length"
expect_hdr Docker-Content-Digest "$D1" "blob HEAD Docker-Content-Digest"

step "Range requests"
req GET "/v2/$R/blobs/$D1" -H 'Range: bytes=1000-1999'
expect_status 206 "Range GET"
expect_hdr Content-Range "bytes 1000-1999/100000" "Range Content-Range"
expect_hdr Content-Length 1000 "Range Content-Length"
tail -c +1001 "$TMP/f1" | head -c 1000 >"$TMP/slice"
expect_body_file "$TMP/slice" "Range body holds bytes 1000-1999"
req GET "/v2/$R/blobs/$D1" -H 'Range: bytes=99990-'
expect_status 206 "open-ended Range GET"
tail -c 10 "$TMP/f1" >"$TMP/slice"
expect_body_file "$TMP/slice" "open-ended Range body"
req GET "/v2/$R/blobs/$D1" -H 'Range: bytes=100000-'
expect_status 416 "unsatisfiable Range (RFC 9110)"

step "POST + PATCH with Content-Range + PUT"
randfile "$TMP/f2" 3145728
D2=$(sha256_of "$TMP/f2")
split -b 1048576 -d "$TMP/f2" "$TMP/f2."
req POST "/v2/$R/blobs/uploads/" -H 'Content-Length: 0'
expect_status 202 "POST starts an upload"
LOC=$(hdr Location)
expect_hdr_re Location '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}' "upload Location holds a UUID"
start=0
for part in "$TMP"/f2.0[0-2]; do
  n=$(fsize "$part"); end=$((start + n - 1))
  req PATCH "$LOC" -H "$OCT" -H "Content-Range: $start-$end" --data-binary "@$part"
  expect_status 202 "PATCH chunk $start-$end"
  expect_hdr Range "0-$end" "PATCH Range after chunk $start-$end"
  [ -n "$(hdr Location)" ] && LOC=$(hdr Location) || ko "PATCH answer has no Location"
  start=$((end + 1))
done
req PUT "$(addq "$(url "$LOC")" "digest=$D2")"
expect_status 201 "closing PUT without body"
expect_hdr Docker-Content-Digest "$D2" "closing PUT Docker-Content-Digest"
req GET "/v2/$R/blobs/$D2"
expect_body_file "$TMP/f2" "chunked blob content"

step "streaming PATCH without Content-Range"
randfile "$TMP/f3" 2000000
D3=$(sha256_of "$TMP/f3")
head -c 1200000 "$TMP/f3" >"$TMP/f3a"; tail -c +1200001 "$TMP/f3" >"$TMP/f3b"
req POST "/v2/$R/blobs/uploads/"
expect_status 202 "POST for streaming upload"
LOC=$(hdr Location)
req PATCH "$LOC" -H "$OCT" -H 'Transfer-Encoding: chunked' --data-binary "@$TMP/f3a"
expect_status 202 "streaming PATCH (chunked transfer encoding)"
expect_hdr Range "0-1199999" "Range after streaming PATCH"
LOC=$(hdr Location)
req PATCH "$LOC" -H "$OCT" --data-binary "@$TMP/f3b"
expect_status 202 "second streaming PATCH (Content-Length, no Content-Range)"
expect_hdr Range "0-1999999" "Range after second streaming PATCH"
LOC=$(hdr Location)
req PUT "$(addq "$(url "$LOC")" "digest=$D3")"
expect_status 201 "closing PUT after streaming PATCH"
req GET "/v2/$R/blobs/$D3"
expect_body_file "$TMP/f3" "streamed blob content"

step "PUT carrying the final chunk"
req POST "/v2/$R/blobs/uploads/"
LOC=$(hdr Location)
req PATCH "$LOC" -H "$OCT" -H 'Content-Range: 0-1199999' --data-binary "@$TMP/f3a"
expect_status 202 "first chunk"
LOC=$(hdr Location)
randfile "$TMP/f4b" 50000
cat "$TMP/f3a" "$TMP/f4b" >"$TMP/f4"
D4=$(sha256_of "$TMP/f4")
req PUT "$(addq "$(url "$LOC")" "digest=$D4")" -H "$OCT" -H 'Content-Range: 1200000-1249999' --data-binary "@$TMP/f4b"
expect_status 201 "PUT with the last chunk"
req GET "/v2/$R/blobs/$D4"
expect_body_file "$TMP/f4" "blob ending with the PUT chunk"
randfile "$TMP/f5" 30000
D5=$(sha256_of "$TMP/f5")
req POST "/v2/$R/blobs/uploads/"
req PUT "$(addq "$(url "$(hdr Location)")" "digest=$D5")" -H "$OCT" --data-binary "@$TMP/f5"
expect_status 201 "POST then PUT with the whole blob"
req HEAD "/v2/$R/blobs/$D5"
expect_status 200 "POST-then-PUT blob is there"

step "digest mismatch stores nothing"
randfile "$TMP/g1" 40000
randfile "$TMP/g2" 40000
G1=$(sha256_of "$TMP/g1"); G2=$(sha256_of "$TMP/g2")
n0=$(blob_count)
req POST "/v2/$R/blobs/uploads/?digest=$G2" -H "$OCT" --data-binary "@$TMP/g1"
expect_err 400 DIGEST_INVALID "single POST with the wrong digest"
req POST "/v2/$R/blobs/uploads/"
LOC=$(hdr Location)
req PATCH "$LOC" -H "$OCT" -H 'Content-Range: 0-39999' --data-binary "@$TMP/g1"
LOC=$(hdr Location)
req PUT "$(addq "$(url "$LOC")" "digest=$G2")"
expect_err 400 DIGEST_INVALID "closing PUT with the wrong digest"
req POST "/v2/$R/blobs/uploads/?digest=sha256:0123" -H "$OCT" --data-binary "@$TMP/g1"
expect_err 400 DIGEST_INVALID "single POST with a malformed digest"
for d in "$G1" "$G2"; do
  req HEAD "/v2/$R/blobs/$d"
  expect_status 404 "no blob $d after a mismatch"
done
expect_eq "$(blob_count)" "$n0" "file count under DATA/blobs unchanged after mismatches"

step "bad repository names never reach the filesystem"
snap() { (cd "$BERTH_DATA" && find . -path ./tls -prune -o -print | grep -v '/berth\.db' | LC_ALL=C sort); }
snap >"$TMP/snap0"
for name in 'Upper/case' 'a//b' 'a/../../b' '..' '-lead' 'trail-' 'a/.hidden' 'a__-b' 'sp%20ace'; do
  req POST "/v2/$name/blobs/uploads/" --path-as-is -H "$OCT" --data-binary x
  expect_err 400 NAME_INVALID "POST upload to bad name '$name'"
  req PUT "/v2/$name/manifests/latest" --path-as-is -H "Content-Type: $T_OCI" --data-binary '{}'
  expect_err 400 NAME_INVALID "PUT manifest to bad name '$name'"
done
req GET "/v2/Upper/case/tags/list"
expect_err 400 NAME_INVALID "tags/list of a bad name"
snap >"$TMP/snap1"
if cmp -s "$TMP/snap0" "$TMP/snap1"; then ok "data directory unchanged by bad names"
else ko "data directory changed by bad names: $(diff "$TMP/snap0" "$TMP/snap1" | head -5 | tr '\n' ' ')"; fi

step "manifests of the four media types"
M=core/m
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$TMP/cfg"
printf '{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$TMP/cfg2"
randfile "$TMP/layer" 70000
for f in cfg cfg2 layer; do push_blob "$M" "$TMP/$f"; done
# odd spacing and key order: the registry must store the bytes as pushed
printf '{ "schemaVersion" : 2,\n  "mediaType": "%s",\n  "config": %s,\n  "layers": [ %s ] }\n' \
  "$T_OCI" "$(descriptor application/vnd.oci.image.config.v1+json "$TMP/cfg")" \
  "$(descriptor application/vnd.oci.image.layer.v1.tar+gzip "$TMP/layer")" >"$TMP/m-oci"
printf '{"schemaVersion":2,   "mediaType":"%s","config":%s,"layers":[%s]}' \
  "$T_D2" "$(descriptor application/vnd.docker.container.image.v1+json "$TMP/cfg")" \
  "$(descriptor application/vnd.docker.image.rootfs.diff.tar.gzip "$TMP/layer")" >"$TMP/m-d2"
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' \
  "$T_D2" "$(descriptor application/vnd.docker.container.image.v1+json "$TMP/cfg2")" \
  "$(descriptor application/vnd.docker.image.rootfs.diff.tar.gzip "$TMP/layer")" >"$TMP/m-d2arm"
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s","digest":"%s","size":%s,"platform":{"architecture":"amd64","os":"linux"}}]}' \
  "$T_OCIIDX" "$T_OCI" "$(sha256_of "$TMP/m-oci")" "$(fsize "$TMP/m-oci")" >"$TMP/m-ociidx"
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s","digest":"%s","size":%s,"platform":{"architecture":"arm64","os":"linux"}},{"mediaType":"%s","digest":"%s","size":%s,"platform":{"architecture":"amd64","os":"linux"}}]}' \
  "$T_DLIST" "$T_D2" "$(sha256_of "$TMP/m-d2arm")" "$(fsize "$TMP/m-d2arm")" \
  "$T_D2" "$(sha256_of "$TMP/m-d2")" "$(fsize "$TMP/m-d2")" >"$TMP/m-dlist"
push_manifest "$M" "$(sha256_of "$TMP/m-d2arm")" "$TMP/m-d2arm" "$T_D2"
for kind in oci:$T_OCI d2:$T_D2 ociidx:$T_OCIIDX dlist:$T_DLIST; do
  k=${kind%%:*}; t=${kind#*:}; f=$TMP/m-$k; d=$(sha256_of "$f")
  push_manifest "$M" "t-$k" "$f" "$t"
  expect_hdr Docker-Content-Digest "$d" "$k: PUT Docker-Content-Digest"
  expect_hdr_re Location "/v2/$M/manifests/" "$k: PUT Location"
  for ref in "t-$k" "$d"; do
    req GET "/v2/$M/manifests/$ref" -H "$ACCEPT_ALL"
    expect_status 200 "$k: GET by $ref"
    expect_body_file "$f" "$k: GET by $ref is byte-exact"
    expect_eq "$(body_digest)" "$d" "$k: sha256 of GET body is the digest"
    expect_hdr Content-Type "$t" "$k: Content-Type is the pushed type"
    expect_hdr Docker-Content-Digest "$d" "$k: GET Docker-Content-Digest"
    req HEAD "/v2/$M/manifests/$ref" -H "$ACCEPT_ALL"
    expect_status 200 "$k: HEAD by $ref"
    expect_hdr Content-Length "$(fsize "$f")" "$k: HEAD Content-Length"
    expect_hdr Content-Type "$t" "$k: HEAD Content-Type"
    expect_hdr Docker-Content-Digest "$d" "$k: HEAD Docker-Content-Digest"
  done
done
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[],"annotations":{"by":"digest"}}' \
  "$T_OCI" "$(descriptor application/vnd.oci.image.config.v1+json "$TMP/cfg")" >"$TMP/m-bydig"
push_manifest "$M" "$(sha256_of "$TMP/m-bydig")" "$TMP/m-bydig" "$T_OCI"
req GET "/v2/$M/manifests/$(sha256_of "$TMP/m-bydig")" -H "$ACCEPT_ALL"
expect_body_file "$TMP/m-bydig" "manifest pushed by digest reads back"
req PUT "/v2/$M/manifests/$(sha256_of "$TMP/m-oci")" -H "Content-Type: $T_OCI" --data-binary "@$TMP/m-bydig"
expect_err 400 DIGEST_INVALID "manifest PUT by a digest that does not match the body"
req GET "/v2/$M/manifests/nosuchtag" -H "$ACCEPT_ALL"
expect_err 404 MANIFEST_UNKNOWN "unknown tag"
req GET "/v2/$M/manifests/sha256:$(printf '%064d' 0)" -H "$ACCEPT_ALL"
expect_err 404 MANIFEST_UNKNOWN "unknown manifest digest"

step "manifest validation"
randfile "$TMP/absent" 1000
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' \
  "$T_OCI" "$(descriptor application/vnd.oci.image.config.v1+json "$TMP/cfg")" \
  "$(descriptor application/vnd.oci.image.layer.v1.tar "$TMP/absent")" >"$TMP/m-missing"
req PUT "/v2/$M/manifests/missing" -H "Content-Type: $T_OCI" --data-binary "@$TMP/m-missing"
expect_err 400 MANIFEST_BLOB_UNKNOWN "manifest referencing a missing layer"
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[]}' \
  "$T_OCI" "$(descriptor application/vnd.oci.image.config.v1+json "$TMP/absent")" >"$TMP/m-missing2"
req PUT "/v2/$M/manifests/missing" -H "Content-Type: $T_OCI" --data-binary "@$TMP/m-missing2"
expect_err 400 MANIFEST_BLOB_UNKNOWN "manifest referencing a missing config"
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s","digest":"%s","size":%s}]}' \
  "$T_OCIIDX" "$T_OCI" "$(sha256_of "$TMP/m-missing")" "$(fsize "$TMP/m-missing")" >"$TMP/m-idxmissing"
req PUT "/v2/$M/manifests/missing" -H "Content-Type: $T_OCIIDX" --data-binary "@$TMP/m-idxmissing"
expect_err 400 MANIFEST_BLOB_UNKNOWN "index referencing a missing child manifest"
req GET "/v2/$M/manifests/missing" -H "$ACCEPT_ALL"
expect_err 404 MANIFEST_UNKNOWN "rejected manifests left no tag"
# a blob of another repository does not count
push_blob core/other "$TMP/absent"
req PUT "/v2/$M/manifests/missing" -H "Content-Type: $T_OCI" --data-binary "@$TMP/m-missing"
expect_err 400 MANIFEST_BLOB_UNKNOWN "manifest referencing a blob only another repository has"
printf '{"schemaVersion":2,"mediaType":"%s","config":' "$T_OCI" >"$TMP/m-trunc"
req PUT "/v2/$M/manifests/bad" -H "Content-Type: $T_OCI" --data-binary "@$TMP/m-trunc"
expect_err 400 MANIFEST_INVALID "malformed JSON manifest"
printf '{"schemaVersion":2,"mediaType":"%s","config":"nope","layers":{}}' "$T_OCI" >"$TMP/m-shape"
req PUT "/v2/$M/manifests/bad" -H "Content-Type: $T_OCI" --data-binary "@$TMP/m-shape"
expect_err 400 MANIFEST_INVALID "JSON manifest not matching its media type"
# exactly 4 MiB is accepted, one byte more is 413
big_manifest() { # FILE TOTAL-BYTES: a valid manifest padded with an annotation
  local head tail pad
  head=$(printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[],"annotations":{"pad":"' \
    "$T_OCI" "$(descriptor application/vnd.oci.image.config.v1+json "$TMP/cfg")")
  tail='"}}'
  pad=$(( $2 - ${#head} - ${#tail} ))
  { printf '%s' "$head"; head -c "$pad" /dev/zero | tr '\0' x; printf '%s' "$tail"; } >"$1"
}
big_manifest "$TMP/m-4m" 4194304
big_manifest "$TMP/m-4m1" 4194305
req PUT "/v2/$M/manifests/big" -H "Content-Type: $T_OCI" --data-binary "@$TMP/m-4m1"
expect_status 413 "manifest of 4 MiB + 1 byte"
req GET "/v2/$M/manifests/big" -H "$ACCEPT_ALL"
expect_status 404 "oversized manifest not stored"
req PUT "/v2/$M/manifests/big" -H "Content-Type: $T_OCI" --data-binary "@$TMP/m-4m"
expect_status 201 "manifest of exactly 4 MiB"

step "bad tags"
for tag in '-lead' '.dot' "$(head -c 129 /dev/zero | tr '\0' a)"; do
  req PUT "/v2/$M/manifests/$tag" -H "Content-Type: $T_OCI" --data-binary "@$TMP/m-oci"
  expect_err 400 TAG_INVALID "PUT manifest with bad tag '${tag:0:20}'"
done
req PUT "/v2/$M/manifests/$(head -c 128 /dev/zero | tr '\0' a)" -H "Content-Type: $T_OCI" --data-binary "@$TMP/m-oci"
expect_status 201 "PUT manifest with a 128-character tag"

step "out-of-order chunk"
randfile "$TMP/o" 3072
Do=$(sha256_of "$TMP/o")
split -b 1024 -d "$TMP/o" "$TMP/o."
req POST "/v2/$R/blobs/uploads/"
LOC=$(hdr Location)
req PATCH "$LOC" -H "$OCT" -H 'Content-Range: 0-1023' --data-binary "@$TMP/o.00"
expect_status 202 "first chunk"
LOC=$(hdr Location)
req PATCH "$LOC" -H "$OCT" -H 'Content-Range: 2048-3071' --data-binary "@$TMP/o.02"
expect_status 416 "chunk that skips ahead"
req GET "$LOC"
expect_status 204 "upload status after 416"
expect_hdr Range "0-1023" "upload unchanged after skipping chunk"
req PATCH "$LOC" -H "$OCT" -H 'Content-Range: 0-1023' --data-binary "@$TMP/o.00"
expect_status 416 "chunk that repeats the previous one"
req GET "$LOC"
expect_hdr Range "0-1023" "upload unchanged after repeated chunk"
[ -n "$(hdr Location)" ] && LOC=$(hdr Location)
req PATCH "$LOC" -H "$OCT" -H 'Content-Range: 1024-2047' --data-binary "@$TMP/o.01"
expect_status 202 "right chunk after 416"
expect_hdr Range "0-2047" "Range after right chunk"
LOC=$(hdr Location)
req PUT "$(addq "$(url "$LOC")" "digest=$Do")" -H "$OCT" -H 'Content-Range: 2048-3071' --data-binary "@$TMP/o.02"
expect_status 201 "upload completes after 416"
req GET "/v2/$R/blobs/$Do"
expect_body_file "$TMP/o" "blob intact after 416s"

step "client disconnecting mid-upload"
randfile "$TMP/big" 67108864
Db=$(sha256_of "$TMP/big")
n0=$(blob_count)
bcurl -o /dev/null --limit-rate 4M --max-time 2 -X POST -H "$OCT" -T "$TMP/big" \
  "$BERTH_URL/v2/$R/blobs/uploads/?digest=$Db" 2>/dev/null || true
req POST "/v2/$R/blobs/uploads/"
LOC=$(url "$(hdr Location)")
bcurl -o /dev/null --limit-rate 4M --max-time 2 -X PUT -H "$OCT" -T "$TMP/big" "$(addq "$LOC" "digest=$Db")" 2>/dev/null || true
req POST "/v2/$R/blobs/uploads/"
LOC=$(url "$(hdr Location)")
bcurl -o /dev/null --limit-rate 4M --max-time 2 -X PATCH -H "$OCT" -T "$TMP/big" "$LOC" 2>/dev/null || true
# until berthd has seen the PATCH cut (its access line, marked aborted)
patch_cut() { grep -qF '(aborted)' <(grep -F "PATCH /v2/$R/blobs/uploads/" "$TMP/berthd.log"); }
berth_wait_for 10 patch_cut || fail "berthd did not log the cut PATCH as aborted within 10 s"
req PUT "$(addq "$LOC" "digest=$Db")"
if [ "$STATUS" = 201 ]; then ko "a PUT after a cut PATCH completed the blob"; else ok "a PUT after a cut PATCH does not complete the blob ($STATUS)"; fi
req HEAD "/v2/$R/blobs/$Db"
expect_status 404 "no visible blob after disconnects"
expect_eq "$(blob_count)" "$n0" "file count under DATA/blobs unchanged after disconnects"
req GET /v2/
expect_status 200 "server still answers after disconnects"

step "one copy per content, per-repository visibility"
randfile "$TMP/shared" 50000
n0=$(blob_count)
push_blob core/x "$TMP/shared"
push_blob core/y "$TMP/shared"
Ds=$DIG
expect_eq "$(blob_copies "$Ds")" 1 "blob pushed to two repositories is stored once"
expect_eq "$(blob_count)" "$((n0 + 1))" "one new file for two pushes"
randfile "$TMP/own" 20000
push_blob core/x "$TMP/own"
Do2=$DIG
req HEAD "/v2/core/y/blobs/$Do2"
expect_status 404 "HEAD of another repository's blob"
req GET "/v2/core/y/blobs/$Do2"
expect_err 404 BLOB_UNKNOWN "GET of another repository's blob"
req GET "/v2/core/x/blobs/$Do2"
expect_status 200 "the owning repository sees it"

step "tags/list"
push_blob core/tl "$TMP/cfg"
for t in zeta alpha mid; do push_manifest core/tl "$t" "$TMP/m-bydig" "$T_OCI"; done
req GET /v2/core/tl/tags/list
expect_status 200 "tags/list"
expect_eq "$(jq -r .name "$API_B" 2>/dev/null)" core/tl "tags/list name"
expect_eq "$(jq -r '.tags|sort|join(",")' "$API_B" 2>/dev/null)" "alpha,mid,zeta" "tags/list holds the tags"
req GET /v2/core/nosuchrepo/tags/list
expect_err 404 NAME_UNKNOWN "tags/list of an unknown repository"

if berth_external; then
  ok "SIGTERM while idle: not on an external server"
else
  step "SIGTERM while idle"
  t0=$(date +%s)
  berth_stop
  t1=$(date +%s)
  if [ $((t1 - t0)) -le 5 ]; then ok "idle berthd exits 0 on SIGTERM within 5 s"; else ko "idle berthd took $((t1 - t0)) s to stop"; fi
fi

api_done
