#!/usr/bin/env bash
# API integration test, the rest of OCI Distribution v1.1 (issue 3): upload
# status and cancel, cross-repository mounts, deletes (and --no-delete),
# referrers, paginated listings, multi-tag push, sha512 uploads, ETag and
# manifest-list negotiation. Talks only to a berthd it starts on a free
# loopback port (HTTPS, the generated CA).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$(dirname "$0")/lib.sh"
berth_require curl jq sha256sum sha512sum awk cmp
berth_tmpdir
berth_start
. "$(dirname "$0")/api-common.sh"
set +e  # assertions record failures and go on

OCT='Content-Type: application/octet-stream'
UUID_RE='[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}'
EMPTY_DIG=sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a
printf '{}' >"$TMP/empty"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$TMP/cfg"
# oci_manifest FILE [EXTRA-JSON-MEMBERS]: an image manifest on $TMP/cfg and no layers
oci_manifest() {
  printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[]%s}' \
    "$T_OCI" "$(descriptor application/vnd.oci.image.config.v1+json "$TMP/cfg")" "${2:+,$2}" >"$1"
}
# tags_of: the tags of the last tags/list body, comma-separated, in the order served
tags_of() { jq -r '(.tags // []) | join(",")' "$API_B" 2>/dev/null; }
# link_next: the URL of the Link rel="next" header of the last response, or empty
link_next() { hdr Link | sed -n 's/^<\([^>]*\)>.*rel="\{0,1\}next"\{0,1\}.*$/\1/p'; }

step "upload status and cancel"
R=v/up
randfile "$TMP/u" 3000
req POST "/v2/$R/blobs/uploads/"
expect_status 202 "POST starts an upload"
LOC=$(hdr Location)
UUID=$(printf '%s' "$LOC" | grep -Eo "$UUID_RE" | head -n1)
head -c 1000 "$TMP/u" >"$TMP/u1"
req PATCH "$LOC" -H "$OCT" -H 'Content-Range: 0-999' --data-binary "@$TMP/u1"
expect_status 202 "PATCH first 1000 bytes"
LOC=$(hdr Location)
req GET "$LOC"
expect_status 204 "GET upload status"
expect_hdr Range "0-999" "upload status Range"
expect_hdr_re Location "$UUID" "upload status Location names the session"
if [ -n "$UUID" ] && find "$BERTH_DATA/uploads" -name "*$UUID*" 2>/dev/null | grep -q .; then
  ok "upload file under DATA/uploads while the session is open"
else ko "no file for upload $UUID under DATA/uploads"; fi
req DELETE "$LOC"
expect_status 204 "DELETE upload"
req GET "$LOC"
expect_err 404 BLOB_UPLOAD_UNKNOWN "status of a cancelled upload"
req PATCH "$LOC" -H "$OCT" -H 'Content-Range: 1000-1999' --data-binary "@$TMP/u1"
expect_err 404 BLOB_UPLOAD_UNKNOWN "PATCH to a cancelled upload"
if find "$BERTH_DATA/uploads" -name "*$UUID*" 2>/dev/null | grep -q .; then
  ko "cancelled upload $UUID still has a file under DATA/uploads"
else ok "cancelled upload's file removed"; fi
req GET "/v2/$R/blobs/uploads/00000000-0000-4000-8000-000000000000"
expect_err 404 BLOB_UPLOAD_UNKNOWN "status of an unknown upload"

step "cross-repository mount"
randfile "$TMP/mnt" 60000
push_blob v/src "$TMP/mnt"
Dm=$DIG
n0=$(blob_count)
req POST "/v2/v/dst/blobs/uploads/?mount=$Dm&from=v/src"
expect_status 201 "mount with from"
expect_hdr_re Location "/v2/v/dst/blobs/$Dm\$" "mount Location is the blob URL"
expect_hdr Docker-Content-Digest "$Dm" "mount Docker-Content-Digest"
req GET "/v2/v/dst/blobs/$Dm"
expect_status 200 "mounted blob readable"
expect_body_file "$TMP/mnt" "mounted blob content"
expect_eq "$(blob_count)" "$n0" "mount copies nothing"
randfile "$TMP/nowhere" 100
Dn=$(sha256_of "$TMP/nowhere")
req POST "/v2/v/dst2/blobs/uploads/?mount=$Dn&from=v/src"
expect_status 202 "mount of a blob that exists nowhere"
LOC=$(hdr Location)
[ -n "$LOC" ] && ok "202 mount answer has a Location" || ko "202 mount answer has no Location"
req PUT "$(addq "$(url "$LOC")" "digest=$Dn")" -H "$OCT" --data-binary "@$TMP/nowhere"
expect_status 201 "the session from a failed mount completes an upload"
req POST "/v2/v/dst3/blobs/uploads/?mount=$Dm"
expect_status 201 "automatic mount without from"
expect_hdr Docker-Content-Digest "$Dm" "automatic mount Docker-Content-Digest"
req HEAD "/v2/v/dst3/blobs/$Dm"
expect_status 200 "automatically mounted blob visible"

step "deletes"
D=v/del
push_blob "$D" "$TMP/cfg"
oci_manifest "$TMP/m1" '"annotations":{"n":"1"}'
oci_manifest "$TMP/m2" '"annotations":{"n":"2"}'
push_manifest "$D" t1 "$TMP/m1" "$T_OCI"; M1=$MDIG
push_manifest "$D" t2 "$TMP/m1" "$T_OCI"
push_manifest "$D" u1 "$TMP/m2" "$T_OCI"; M2=$MDIG
push_manifest "$D" u2 "$TMP/m2" "$T_OCI"
req DELETE "/v2/$D/manifests/$M1"
expect_status 202 "DELETE manifest by digest"
req GET "/v2/$D/manifests/$M1" -H "$ACCEPT_ALL"
expect_err 404 MANIFEST_UNKNOWN "deleted manifest gone by digest"
for t in t1 t2; do
  req GET "/v2/$D/manifests/$t" -H "$ACCEPT_ALL"
  expect_err 404 MANIFEST_UNKNOWN "tag $t of the deleted manifest gone"
done
req DELETE "/v2/$D/manifests/u1"
expect_status 202 "DELETE manifest by tag"
req GET "/v2/$D/manifests/u1" -H "$ACCEPT_ALL"
expect_err 404 MANIFEST_UNKNOWN "deleted tag gone"
req GET "/v2/$D/manifests/u2" -H "$ACCEPT_ALL"
expect_status 200 "other tag of the same manifest stays"
req GET "/v2/$D/manifests/$M2" -H "$ACCEPT_ALL"
expect_status 200 "manifest stays when a tag is deleted"
req GET "/v2/$D/tags/list"
expect_eq "$(tags_of)" "u2" "tags/list after deletes"
req DELETE "/v2/$D/manifests/$M1"
expect_err 404 MANIFEST_UNKNOWN "DELETE of an already deleted manifest"
randfile "$TMP/both" 30000
push_blob "$D" "$TMP/both"
push_blob v/keep "$TMP/both"
Db=$DIG
req DELETE "/v2/$D/blobs/$Db"
expect_status 202 "DELETE blob from one repository"
req HEAD "/v2/$D/blobs/$Db"
expect_status 404 "deleted blob gone from that repository"
req GET "/v2/v/keep/blobs/$Db"
expect_status 200 "blob stays in the other repository"
expect_body_file "$TMP/both" "blob bytes intact in the other repository"
expect_eq "$(blob_copies "$Db")" 1 "blob file kept while another repository links it"
req DELETE "/v2/$D/blobs/$Db"
expect_err 404 BLOB_UNKNOWN "DELETE of a blob the repository no longer has"

step "referrers"
F=v/ref
push_blob "$F" "$TMP/cfg"
push_blob "$F" "$TMP/empty"
oci_manifest "$TMP/subj" '"annotations":{"role":"subject"}'
push_manifest "$F" subj "$TMP/subj" "$T_OCI"; S=$MDIG
SDESC=$(descriptor "$T_OCI" "$TMP/subj")
req GET "/v2/$F/referrers/$S"
expect_status 200 "referrers of a manifest without any"
expect_hdr Content-Type "$T_OCIIDX" "referrers Content-Type is an OCI index"
expect_eq "$(jq -r '"\(.schemaVersion) \(.mediaType) \(.manifests|length)"' "$API_B" 2>/dev/null)" "2 $T_OCIIDX 0" "empty referrers index"
req GET "/v2/$F/referrers/sha256:$(printf '%064d' 7)"
expect_status 200 "referrers of an unknown digest (never 404)"
expect_eq "$(jq -r '.manifests|length' "$API_B" 2>/dev/null)" 0 "referrers of an unknown digest are empty"
# an artifact with artifactType, and one typed by its config media type
printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.example.sbom.v1","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2}],"subject":%s,"annotations":{"org.example.kind":"sbom"}}' \
  "$T_OCI" "$EMPTY_DIG" "$EMPTY_DIG" "$SDESC" >"$TMP/a1"
printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.example.sig.config.v1+json","digest":"%s","size":2},"layers":[],"subject":%s,"annotations":{"org.example.kind":"sig"}}' \
  "$T_OCI" "$EMPTY_DIG" "$SDESC" >"$TMP/a2"
A1=$(sha256_of "$TMP/a1"); A2=$(sha256_of "$TMP/a2")
for a in a1 a2; do
  push_manifest "$F" "$(sha256_of "$TMP/$a")" "$TMP/$a" "$T_OCI"
  expect_hdr OCI-Subject "$S" "$a: PUT answers OCI-Subject"
done
req GET "/v2/$F/referrers/$S"
expect_status 200 "referrers GET"
expect_eq "$(jq -r '.manifests|length' "$API_B" 2>/dev/null)" 2 "two referrers"
ref_field() { jq -r --arg d "$1" ".manifests[] | select(.digest == \$d) | $2" "$API_B" 2>/dev/null; }
expect_eq "$(ref_field "$A1" .artifactType)" application/vnd.example.sbom.v1 "artifactType from the artifactType field"
expect_eq "$(ref_field "$A2" .artifactType)" application/vnd.example.sig.config.v1+json "artifactType from config.mediaType"
expect_eq "$(ref_field "$A1" .mediaType)" "$T_OCI" "referrer descriptor mediaType"
expect_eq "$(ref_field "$A1" .size)" "$(fsize "$TMP/a1")" "referrer descriptor size"
expect_eq "$(ref_field "$A1" '.annotations["org.example.kind"]')" sbom "referrer annotations (a1)"
expect_eq "$(ref_field "$A2" '.annotations["org.example.kind"]')" sig "referrer annotations (a2)"
req GET "/v2/$F/referrers/$S?artifactType=application/vnd.example.sbom.v1"
expect_status 200 "filtered referrers GET"
expect_hdr OCI-Filters-Applied artifactType "OCI-Filters-Applied header"
expect_eq "$(jq -r '[.manifests[].digest]|join(",")' "$API_B" 2>/dev/null)" "$A1" "filter keeps only the matching referrer"
# a referrer pushed before its subject is accepted
oci_manifest "$TMP/later" '"annotations":{"role":"late subject"}'
LATE=$(sha256_of "$TMP/later")
printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.example.early","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2}],"subject":%s}' \
  "$T_OCI" "$EMPTY_DIG" "$EMPTY_DIG" "$(descriptor "$T_OCI" "$TMP/later")" >"$TMP/a3"
push_manifest "$F" "$(sha256_of "$TMP/a3")" "$TMP/a3" "$T_OCI"
expect_hdr OCI-Subject "$LATE" "referrer of a missing subject: OCI-Subject"
req GET "/v2/$F/referrers/$LATE"
expect_eq "$(jq -r '[.manifests[].digest]|join(",")' "$API_B" 2>/dev/null)" "$(sha256_of "$TMP/a3")" "referrer listed before its subject exists"
req DELETE "/v2/$F/manifests/$A1"
expect_status 202 "delete a referrer"
req GET "/v2/$F/referrers/$S"
expect_eq "$(jq -r '[.manifests[].digest]|join(",")' "$API_B" 2>/dev/null)" "$A2" "deleted referrer no longer listed"
req GET "/v2/$F/referrers/sha256:nothex"
expect_status 400 "referrers of a malformed digest"

step "tags/list pagination"
P=v/pg
push_blob "$P" "$TMP/cfg"
oci_manifest "$TMP/pm"
ALL="A1 Z9 _u a a-b a.b a_b b10 b9 latest v1.0 v1.0.1"
for t in b9 latest a_b Z9 v1.0.1 a a.b _u A1 b10 a-b v1.0; do
  req PUT "/v2/$P/manifests/$t" -H "Content-Type: $T_OCI" --data-binary "@$TMP/pm"
  [ "$STATUS" = 201 ] || ko "push tag $t: $STATUS"
done
SORTED=$(printf '%s\n' $ALL | LC_ALL=C sort | paste -sd, -)
req GET "/v2/$P/tags/list"
expect_status 200 "tags/list"
expect_eq "$(tags_of)" "$SORTED" "tags/list in lexical order"
expect_no_hdr Link "no Link when everything fits"
req GET "/v2/$P/tags/list?n=5"
expect_status 200 "tags/list n=5"
expect_eq "$(tags_of)" "$(printf '%s' "$SORTED" | cut -d, -f1-5)" "first page of 5"
expect_hdr_re Link '^<[^>]+>; *rel="next"$' "Link header on a partial page"
got=$(tags_of); pages=1; next=$(link_next)
while [ -n "$next" ] && [ $pages -lt 10 ]; do
  req GET "$next"
  [ "$STATUS" = 200 ] || { ko "following Link $next: $STATUS"; break; }
  [ "$(jq '.tags|length' "$API_B")" -le 5 ] || ko "page $pages longer than n"
  got="$got,$(tags_of)"; pages=$((pages + 1)); next=$(link_next)
done
expect_eq "${got%,}" "$SORTED" "pages linked by Link cover every tag once, in order"
req GET "/v2/$P/tags/list?n=3&last=a.b"
expect_eq "$(tags_of)" "a_b,b10,b9" "n=3&last=a.b"
req GET "/v2/$P/tags/list?last=b9"
expect_eq "$(tags_of)" "latest,v1.0,v1.0.1" "last=b9 without n"
req GET "/v2/$P/tags/list?n=5&last=v1.0.1"
expect_status 200 "last= the last tag"
expect_eq "$(tags_of)" "" "nothing after the last tag"
expect_no_hdr Link "no Link after the last tag"
req GET "/v2/$P/tags/list?n=0"
expect_status 200 "tags/list n=0"
expect_eq "$(jq -c .tags "$API_B" 2>/dev/null)" "[]" "n=0 gives an empty list"
expect_no_hdr Link "n=0 has no Link"
for bad in -1 abc 1x; do
  req GET "/v2/$P/tags/list?n=$bad"
  expect_err 400 PAGINATION_NUMBER_INVALID "tags/list n=$bad"
done

step "_catalog pagination"
for r in v/cat/b v/cat/a v/cat/c-1 v/cat/c.0; do push_blob "$r" "$TMP/empty" >/dev/null; done
req GET "/v2/_catalog?n=3"
expect_status 200 "_catalog n=3"
expect_hdr_re Link '^<[^>]+>; *rel="next"$' "_catalog Link header"
got=$(jq -r '.repositories|join(",")' "$API_B" 2>/dev/null); pages=1; next=$(link_next)
while [ -n "$next" ] && [ $pages -lt 50 ]; do
  req GET "$next"
  [ "$STATUS" = 200 ] || { ko "following _catalog Link $next: $STATUS"; break; }
  [ "$(jq '.repositories|length' "$API_B")" -le 3 ] || ko "_catalog page $pages longer than n"
  got="$got,$(jq -r '.repositories|join(",")' "$API_B")"; pages=$((pages + 1)); next=$(link_next)
done
got=${got%,}
expect_eq "$got" "$(printf '%s' "$got" | tr , '\n' | LC_ALL=C sort -u | paste -sd, -)" "_catalog pages in lexical order, no repeats"
for r in v/cat/a v/cat/b v/cat/c-1 v/cat/c.0 v/del v/keep v/pg v/ref v/src v/dst v/dst3; do
  case ",$got," in *",$r,"*) ;; *) ko "_catalog lacks $r" ;; esac
done
req GET "/v2/_catalog?n=2&last=v/cat/a"
expect_eq "$(jq -r '.repositories|join(",")' "$API_B" 2>/dev/null)" "v/cat/b,v/cat/c-1" "_catalog n=2&last=v/cat/a"
req GET "/v2/_catalog?n=0"
expect_status 200 "_catalog n=0"
expect_eq "$(jq -c .repositories "$API_B" 2>/dev/null)" "[]" "_catalog n=0 is empty"
expect_no_hdr Link "_catalog n=0 has no Link"
req GET "/v2/_catalog?n=-3"
expect_err 400 PAGINATION_NUMBER_INVALID "_catalog n=-3"

step "multi-tag push"
oci_manifest "$TMP/mt" '"annotations":{"multi":"tag"}'
MT=$(sha256_of "$TMP/mt")
req PUT "/v2/$P/manifests/$MT?tag=mt-a&tag=mt-b" -H "Content-Type: $T_OCI" --data-binary "@$TMP/mt"
expect_status 201 "PUT by digest with two ?tag="
expect_eq "$(hdr_all OCI-Tag | LC_ALL=C sort | paste -sd, -)" "mt-a,mt-b" "one OCI-Tag header per tag"
for t in mt-a mt-b; do
  req GET "/v2/$P/manifests/$t" -H "$ACCEPT_ALL"
  expect_status 200 "GET $t"
  expect_hdr Docker-Content-Digest "$MT" "tag $t points at the manifest"
done

step "sha512 uploads"
randfile "$TMP/s5" 250000
D5=$(sha512_of "$TMP/s5")
n0=$(blob_count)
req POST "/v2/v/s512/blobs/uploads/?digest-algorithm=sha512"
expect_status 202 "POST ?digest-algorithm=sha512"
LOC=$(hdr Location)
req PATCH "$LOC" -H "$OCT" -H 'Content-Range: 0-249999' --data-binary "@$TMP/s5"
expect_status 202 "PATCH into a sha512 upload"
LOC=$(hdr Location)
req PUT "$(addq "$(url "$LOC")" "digest=$D5")"
expect_status 201 "closing PUT with a sha512 digest"
expect_hdr Docker-Content-Digest "$D5" "sha512 Docker-Content-Digest"
req GET "/v2/v/s512/blobs/$D5"
expect_status 200 "GET blob by sha512 digest"
expect_body_file "$TMP/s5" "sha512 blob content"
expect_hdr Docker-Content-Digest "$D5" "GET sha512 Docker-Content-Digest"
expect_eq "$(blob_count)" "$((n0 + 1))" "sha512 blob stored as one file"
randfile "$TMP/s6" 1000
D6=$(sha512_of "$TMP/s6")
req POST "/v2/v/s512/blobs/uploads/?digest=$D6" -H "$OCT" --data-binary "@$TMP/s6"
expect_status 201 "single POST with a sha512 digest"
req HEAD "/v2/v/s512/blobs/$D6"
expect_status 200 "HEAD sha512 blob"
req POST "/v2/v/s512/blobs/uploads/?digest=$D5" -H "$OCT" --data-binary "@$TMP/s6"
expect_err 400 DIGEST_INVALID "sha512 digest mismatch"

step "ETag / If-None-Match"
req GET "/v2/$P/manifests/latest" -H "$ACCEPT_ALL"
expect_status 200 "GET manifest"
ET=$(hdr ETag)
[ -n "$ET" ] && ok "manifest GET has an ETag ($ET)" || ko "manifest GET has no ETag"
req GET "/v2/$P/manifests/latest" -H "If-None-Match: $ET" -H "$ACCEPT_ALL"
expect_status 304 "If-None-Match with the current ETag"
expect_eq "$(fsize "$API_B")" 0 "304 has no body"
req GET "/v2/$P/manifests/$(sha256_of "$TMP/pm")" -H "If-None-Match: $ET" -H "$ACCEPT_ALL"
expect_status 304 "If-None-Match by digest"
req GET "/v2/$P/manifests/latest" -H "If-None-Match: \"$MT\"" -H "$ACCEPT_ALL"
expect_status 200 "If-None-Match with another ETag"

step "manifest list negotiation"
N=v/neg
printf '{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$TMP/cfgarm"
push_blob "$N" "$TMP/cfg"; push_blob "$N" "$TMP/cfgarm"
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[]}' "$T_D2" \
  "$(descriptor application/vnd.docker.container.image.v1+json "$TMP/cfg")" >"$TMP/amd"
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[]}' "$T_D2" \
  "$(descriptor application/vnd.docker.container.image.v1+json "$TMP/cfgarm")" >"$TMP/arm"
push_manifest "$N" "$(sha256_of "$TMP/arm")" "$TMP/arm" "$T_D2"
push_manifest "$N" "$(sha256_of "$TMP/amd")" "$TMP/amd" "$T_D2"
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s","digest":"%s","size":%s,"platform":{"architecture":"arm64","os":"linux"}},{"mediaType":"%s","digest":"%s","size":%s,"platform":{"architecture":"amd64","os":"linux"}}]}' \
  "$T_DLIST" "$T_D2" "$(sha256_of "$TMP/arm")" "$(fsize "$TMP/arm")" \
  "$T_D2" "$(sha256_of "$TMP/amd")" "$(fsize "$TMP/amd")" >"$TMP/list"
push_manifest "$N" multi "$TMP/list" "$T_DLIST"
req GET "/v2/$N/manifests/multi" -H "Accept: $T_D2"
expect_status 200 "GET a list by tag accepting only schema2"
expect_hdr Content-Type "$T_D2" "negotiated Content-Type"
expect_hdr Docker-Content-Digest "$(sha256_of "$TMP/amd")" "negotiated Docker-Content-Digest is the linux/amd64 child"
expect_body_file "$TMP/amd" "negotiated body is the linux/amd64 child"
req GET "/v2/$N/manifests/multi" -H "Accept: $T_D2, $T_DLIST"
expect_status 200 "GET a list accepting lists"
expect_hdr Content-Type "$T_DLIST" "list served as a list when accepted"
expect_body_file "$TMP/list" "list served byte-exact"

if berth_external; then
  ok "--no-delete: not on an external server (it needs a berthd started with that flag)"
else
  step "--no-delete"
  berth_stop
  berth_start --no-delete
  req DELETE "/v2/$P/manifests/latest"
  expect_err 405 UNSUPPORTED "DELETE tag with --no-delete"
  req DELETE "/v2/$P/manifests/$(sha256_of "$TMP/pm")"
  expect_err 405 UNSUPPORTED "DELETE manifest with --no-delete"
  req DELETE "/v2/v/keep/blobs/$Db"
  expect_err 405 UNSUPPORTED "DELETE blob with --no-delete"
  req GET "/v2/$P/manifests/latest" -H "$ACCEPT_ALL"
  expect_status 200 "tag still there (and kept across a restart)"
  req HEAD "/v2/v/keep/blobs/$Db"
  expect_status 200 "blob still there"
  berth_stop
fi

api_done
