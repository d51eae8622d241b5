#!/usr/bin/env bash
# Quotas and exact usage against a running berthd (either engine: BERTH_TEST_DB=pg):
# a push past a project's quota is refused with 403 DENIED naming the quota, at the
# upload's start (declared size: a monolithic POST, a POST with a body, a PUT), at a chunk, and when the blob is linked (two
# uploads that each fit but not together), and a manifest by its own size; nothing
# refused counts; what the project holds already costs nothing (a push, a mount); a
# blob delete gives its bytes back at once and GC the rest; the default quota
# applies to a namespace nobody configured (a user's own) from its first push;
# skopeo's push is refused with the message. After every phase, and after
# concurrent pushes, `berthd usage --verify` finds the kept figures equal to a
# recount; a figure tampered with is reported (exit 1) and repaired.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$(dirname "$0")/lib.sh"
berth_require curl jq sha256sum python3
berth_tmpdir
berth_start
. "$(dirname "$0")/api-common.sh"

bd() { "$top_builddir/berthd" --data "$BERTH_DATA" "$@"; }
must() { [ "$STATUS" = "$1" ] || fail "$2 answered $STATUS, not $1: $(cat "$API_B" 2>/dev/null)"; }
field() { jq -r --arg p "$2" --arg k "$3" '.projects[] | select(.project == $p) | .[$k]' <<<"$1"; }
bytes_of() { field "$(bd usage "$1" --json)" "$1" bytes; }
# exact: berthd usage --verify finds no difference
exact() {
        bd usage --verify >"$TMP/verify.out" 2>&1 || fail "usage --verify after $1: $(cat "$TMP/verify.out")"
}
# denied WHAT: the last answer is 403 DENIED in the OCI error format, naming the quota
denied() {
        must 403 "$1"
        [ "$(jq -r '.errors[0].code' "$API_B")" = DENIED ] || fail "$1: code $(cat "$API_B")"
        jq -r '.errors[0].message' "$API_B" | grep -Eq "^quota of project $2 exceeded: .+ used of .+$" ||
                fail "$1: message $(cat "$API_B")"
}

step "a quota on team: 6000 bytes"
bd quota set team 6000 >"$TMP/set.out" || fail "quota set"
grep -qx 'project team: quota 5.9 KiB' "$TMP/set.out" || fail "quota set said $(cat "$TMP/set.out")"
json=$(bd usage team --json)
[ "$(field "$json" team quota)" = 6000 ] && [ "$(field "$json" team quota_from)" = project ] || fail "usage: $json"
randfile "$TMP/layer" 5000
push_blob team/app "$TMP/layer"; must 201 "push 5000 bytes"
layer=$DIG
[ "$(bytes_of team)" = 5000 ] || fail "usage after the push: $(bd usage team --json)"
exact "a push"
pass "5000 of 6000 bytes used"

step "refused at the upload's start: a monolithic POST of 2000 bytes"
files=$(blob_count)
randfile "$TMP/big" 2000
req POST "/v2/team/app/blobs/uploads/?digest=$(sha256_of "$TMP/big")" \
        -H 'Content-Type: application/octet-stream' --data-binary "@$TMP/big"
denied "monolithic POST past the quota" team
jq -r '.errors[0].message' "$API_B" | grep -q '4.9 KiB used of 5.9 KiB' || fail "figures: $(cat "$API_B")"
[ "$(blob_count)" = "$files" ] || fail "a refused upload stored a blob file"
[ "$(bytes_of team)" = 5000 ] || fail "a refused push counted"
pass "$(jq -r '.errors[0].message' "$API_B")"

step "refused at a chunk: PATCH 2000 bytes, then 500 fit"
req POST /v2/team/app/blobs/uploads/; must 202 "POST (start)"
loc=$(hdr Location)
req PATCH "$loc" -H 'Content-Type: application/octet-stream' --data-binary "@$TMP/big"
denied "PATCH past the quota" team
randfile "$TMP/small" 500
req PATCH "$loc" -H 'Content-Type: application/octet-stream' --data-binary "@$TMP/small"; must 202 "PATCH 500 bytes"
req PUT "$(addq "$(url "$(hdr Location)")" "digest=$(sha256_of "$TMP/small")")"; must 201 "PUT"
[ "$(bytes_of team)" = 5500 ] || fail "usage: $(bd usage team --json)"
exact "a refused chunk"
pass "the chunk refused, the session went on"

step "refused by what the upload holds: two uploads of 400 each fit alone, not together"
randfile "$TMP/a" 400
randfile "$TMP/b" 400
req POST /v2/team/app/blobs/uploads/; must 202 "POST a"; loc_a=$(hdr Location)
req POST /v2/team/app/blobs/uploads/; must 202 "POST b"; loc_b=$(hdr Location)
req PATCH "$loc_a" --data-binary "@$TMP/a"; must 202 "PATCH a"; loc_a=$(hdr Location)
req PATCH "$loc_b" --data-binary "@$TMP/b"; must 202 "PATCH b"; loc_b=$(hdr Location)
req PUT "$(addq "$(url "$loc_a")" "digest=$(sha256_of "$TMP/a")")"; must 201 "PUT a"
req PUT "$(addq "$(url "$loc_b")" "digest=$(sha256_of "$TMP/b")")"
denied "PUT b (400 bytes held, 100 left)" team
req HEAD "/v2/team/app/blobs/$(sha256_of "$TMP/b")"; must 404 "HEAD of the refused blob"
[ "$(bytes_of team)" = 5900 ] || fail "usage: $(bd usage team --json)"
pass "the second upload refused at its PUT"

step "refused by the declared size: a POST with a body and no digest, a PUT whose body goes past"
files=$(blob_count)
req POST /v2/team/app/blobs/uploads/ -H 'Content-Type: application/octet-stream' --data-binary "@$TMP/big"
denied "POST (start) declaring 2000 bytes with 100 left" team
req POST /v2/team/app/blobs/uploads/; must 202 "POST (start) without a body"
loc=$(hdr Location)
req PUT "$(addq "$(url "$loc")" "digest=$(sha256_of "$TMP/big")")" \
        -H 'Content-Type: application/octet-stream' --data-binary "@$TMP/big"
denied "PUT carrying 2000 bytes with 100 left" team
req GET "$loc"; must 204 "the session after the refused PUT"
[ "$(hdr Range)" = 0-0 ] || fail "the refused PUT stored bytes in the session: Range $(hdr Range)"
req DELETE "$loc"; must 204 "DELETE of the session"
[ "$(blob_count)" = "$files" ] || fail "a refused upload stored a blob file"
[ "$(bytes_of team)" = 5900 ] || fail "usage: $(bd usage team --json)"
pass "both refused before a byte was stored; the session stayed empty"

step "refused when linked: a mount of a blob another project holds"
push_blob other/app "$TMP/b"; must 201 "push b to other/app"
req POST "/v2/team/app/blobs/uploads/?mount=$(sha256_of "$TMP/b")&from=other/app"
denied "mount past the quota (checked in the link's transaction)" team
req HEAD "/v2/team/app/blobs/$(sha256_of "$TMP/b")"; must 404 "HEAD of the refused mount"
[ "$(bytes_of team)" = 5900 ] || fail "usage: $(bd usage team --json)"
exact "refused links"
pass "the mount refused in its transaction"

step "what the project holds costs nothing: a push to another repository, a mount"
push_blob team/other "$TMP/layer"; must 201 "push the same layer to team/other"
req POST "/v2/team/mounted/blobs/uploads/?mount=$layer&from=team/app"; must 201 "mount into team/mounted"
[ "$(bytes_of team)" = 5900 ] || fail "usage: $(bd usage team --json)"
bd usage team --repositories >"$TMP/repos"
grep -q "^team/mounted	1	4.9 KiB (5000)$" "$TMP/repos" || fail "repositories: $(cat "$TMP/repos")"
pass "5900 bytes, team/mounted holds the layer"

step "a manifest is refused by its own size"
randfile "$TMP/config" 50
push_blob team/app "$TMP/config"; must 201 "config (50 bytes: 5950)"
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$T_OCI" \
        "$(descriptor application/vnd.oci.image.config.v1+json "$TMP/config")" \
        "$(descriptor application/vnd.oci.image.layer.v1.tar "$TMP/layer")" >"$TMP/manifest"
req PUT /v2/team/app/manifests/v1 -H "Content-Type: $T_OCI" --data-binary "@$TMP/manifest"
denied "manifest past the quota" team
req GET /v2/team/app/manifests/v1 -H "$ACCEPT_ALL"; must 404 "GET of the refused manifest"
pass "$(fsize "$TMP/manifest") bytes of manifest refused"

step "a delete gives the bytes back at once, GC the rest"
for r in team/app team/other team/mounted; do
        req DELETE "/v2/$r/blobs/$layer"; must 202 "DELETE the layer from $r"
done
[ "$(bytes_of team)" = 950 ] || fail "after the deletes: $(bd usage team --json)"
req DELETE "/v2/team/app/blobs/$(sha256_of "$TMP/small")"; must 202 "DELETE the small blob"
[ "$(bytes_of team)" = 450 ] || fail "after the deletes: $(bd usage team --json)"
push_blob team/app "$TMP/layer"; must 201 "push the layer again"
push_manifest team/app v1 "$TMP/manifest" "$T_OCI"; must 201 "the manifest fits now"
req DELETE "/v2/team/app/manifests/$MDIG"; must 202 "DELETE the manifest"
bd gc --grace 0 >"$TMP/gc.out" 2>&1 || fail "gc: $(cat "$TMP/gc.out")"
[ "$(bytes_of team)" = 0 ] || fail "after gc: $(bd usage team --json)"
exact "deletes and gc"
pass "0 bytes after the deletes and gc"

step "the default quota: a namespace nobody configured, from its first push"
bd quota default 3000 | grep -qx 'default quota: 2.9 KiB' || fail "quota default"
push_blob alice/app "$TMP/big"; must 201 "2000 bytes under the default"
randfile "$TMP/more" 1500
req POST "/v2/alice/app/blobs/uploads/?digest=$(sha256_of "$TMP/more")" --data-binary "@$TMP/more"
denied "past the default" alice
json=$(bd usage --json)
[ "$(field "$json" alice quota)" = 3000 ] && [ "$(field "$json" alice quota_from)" = default ] || fail "usage: $json"
bd project set alice --quota none >/dev/null || fail "project set --quota none"
push_blob alice/app "$TMP/more"; must 201 "no quota of its own"
bd project set alice --quota default >/dev/null || fail "project set --quota default"
[ "$(field "$(bd usage --json)" alice quota_from)" = default ] || fail "back to the default"
bd quota default none >/dev/null || fail "quota default none"
pass "the default applied, then the project's own"

step "concurrent pushes, then the recount"
pids=()
for i in 1 2 3 4 5 6; do
        (
                for j in 1 2 3 4 5; do
                        head -c $((100 * j)) /dev/zero | tr '\0' "$j" >"$TMP/c$i-$j"
                        randfile "$TMP/o$i-$j" 300
                        bcurl -o /dev/null -X POST "$BERTH_URL/v2/conc/r$i/blobs/uploads/?digest=$(sha256_of "$TMP/c$i-$j")" \
                                --data-binary "@$TMP/c$i-$j"
                        bcurl -o /dev/null -X POST "$BERTH_URL/v2/conc/r$((i % 3))/blobs/uploads/?digest=$(sha256_of "$TMP/o$i-$j")" \
                                --data-binary "@$TMP/o$i-$j"
                done
        ) &
        pids+=($!)
done
wait "${pids[@]}"
json=$(bd usage conc --json)
# the shared blobs count once: 100+...+500, plus 30 of 300
[ "$(field "$json" conc bytes)" = $((1500 + 30 * 300)) ] || fail "concurrent: $json"
exact "concurrent pushes"
pass "$(field "$json" conc blobs) blobs, $(field "$json" conc bytes) bytes, equal to the recount"

step "a kept figure tampered with: reported, repaired"
sql="UPDATE usage_projects SET bytes = bytes + 7 WHERE project = 'conc'"
if [ "${BERTH_TEST_DB:-sqlite}" = pg ]; then
        PGPASSWORD=$(cat "$BERTH_DB_PASSWORD_FILE") psql -X -q -v ON_ERROR_STOP=1 "$BERTH_DB_URL" -c "$sql" ||
                fail "tamper"
else
        python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()' "$BERTH_DATA/berth.db" "$sql" || fail "tamper"
fi
rc=0
bd usage --verify >"$TMP/tampered.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "^project conc: kept 35 blobs, 10.3 KiB (10507); recounted 35 blobs, 10.3 KiB (10500)" \
        "$TMP/tampered.out" || fail "verify: exit $rc, $(cat "$TMP/tampered.out")"
bd usage --verify --repair >/dev/null || fail "repair"
exact "a repair"
pass "$(head -1 "$TMP/tampered.out")"

if command -v skopeo >/dev/null 2>&1; then
        step "skopeo: refused with the quota in its message"
        bd quota set sk 100000 >/dev/null
        certs=$TMP/certs
        mkdir -p "$certs"
        cp "$BERTH_CA" "$certs/ca.crt"
        berth_mkimage "$TMP/src" --tag v1 --layers 2 --layer-size 256K --seed quota >/dev/null
        if timeout 300 skopeo --command-timeout 240s copy --quiet --dest-cert-dir "$certs" "oci:$TMP/src:v1" \
                "docker://$BERTH_HOST/sk/app:v1" >"$TMP/skopeo.out" 2>&1; then
                fail "skopeo pushed 512 KiB into a 97.7 KiB quota"
        fi
        grep -q "quota of project sk exceeded" "$TMP/skopeo.out" || fail "skopeo said: $(cat "$TMP/skopeo.out")"
        exact "skopeo's refused push"
        pass "skopeo: $(grep -o 'quota of project sk exceeded[^"]*' "$TMP/skopeo.out" | head -1)"
fi

berth_stop
