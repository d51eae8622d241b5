#!/usr/bin/env bash
# Retention and immutability against a running berthd (issue 11): immutable tags
# refuse a push of another digest, a tag delete and a delete by digest with 403
# DENIED naming the rule, and take the same digest again; manifest GETs are counted
# (HEADs are not) and the counts written at the stop, kept across a restart; a
# retention policy's dry run lists what a run removes and removes nothing, the run
# removes exactly that, in the audit trail, recorded in `berthd retention status`;
# the server applies policies by itself (--retention-interval).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$(dirname "$0")/lib.sh"
berth_require curl jq sha256sum python3
berth_tmpdir
berth_start --retention-interval 0
. "$(dirname "$0")/api-common.sh"

bd() { "$top_builddir/berthd" --data "$BERTH_DATA" "$@"; }
must() { [ "$STATUS" = "$1" ] || fail "$2 answered $STATUS, not $1: $(cat "$API_B")"; }
# sql_exec SQL: a write of the script's own (times set back) on the server's database
sql_exec() {
        if [ "${BERTH_TEST_DB:-sqlite}" = pg ]; then
                berth_sql_value "$1" >/dev/null
        else
                python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=10); c.execute(sys.argv[2]); c.commit()' "$BERTH_DATA/berth.db" "$1"
        fi
}
tags_of() { bcurl "$BERTH_URL/v2/$1/tags/list" | jq -r '.tags // [] | join(" ")'; }

step "two images: a as ret/app:v1 and :latest, b as ret/app:v2"
randfile "$TMP/config" 200
randfile "$TMP/layer" 3000
push_blob ret/app "$TMP/config"
push_blob ret/app "$TMP/layer"
for i in a b; do
        printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s],"annotations":{"n":"%s"}}' "$T_OCI" \
                "$(descriptor application/vnd.oci.image.config.v1+json "$TMP/config")" \
                "$(descriptor application/vnd.oci.image.layer.v1.tar "$TMP/layer")" "$i" >"$TMP/$i.json"
done
push_manifest ret/app v1 "$TMP/a.json" "$T_OCI"; A=$MDIG
push_manifest ret/app latest "$TMP/a.json" "$T_OCI"
push_manifest ret/app v2 "$TMP/b.json" "$T_OCI"; B=$MDIG

step "immutable tags: berthd immutable add ret 'v*'"
bd immutable add ret 'v*' >"$TMP/out" 2>&1 || fail "immutable add: $(cat "$TMP/out")"
bd immutable list >"$TMP/out" 2>&1 || fail "immutable list"
grep -q "^ret	v\*	" "$TMP/out" || fail "immutable list: $(cat "$TMP/out")"
bd immutable add ret 'bad pattern' >/dev/null 2>&1 && fail "a pattern with a space was taken"
req PUT /v2/ret/app/manifests/v1 -H "Content-Type: $T_OCI" --data-binary "@$TMP/b.json"
must 403 "push of another digest to the immutable v1"
[ "$(jq -r '.errors[0].code' "$API_B")" = DENIED ] || fail "not DENIED: $(cat "$API_B")"
jq -r '.errors[0].detail' "$API_B" | grep -q "tag 'v1' is immutable (project ret, rule 'v\*')" \
        || fail "the answer does not name the rule: $(cat "$API_B")"
req GET /v2/ret/app/manifests/v1 -H "$ACCEPT_ALL"
[ "$(hdr Docker-Content-Digest)" = "$A" ] || fail "v1 moved to $(hdr Docker-Content-Digest)"
req PUT /v2/ret/app/manifests/v1 -H "Content-Type: $T_OCI" --data-binary "@$TMP/a.json"
must 201 "the same digest pushed again to v1"
req DELETE /v2/ret/app/manifests/v1
must 403 "delete of the immutable tag v1"
req DELETE "/v2/ret/app/manifests/$A"
must 403 "delete by digest of the manifest v1 names"
jq -r '.errors[0].detail' "$API_B" | grep -q "named by the immutable tag 'v1'" \
        || fail "the answer does not name the tag: $(cat "$API_B")"
req DELETE /v2/ret/app/manifests/latest
must 202 "delete of latest (no rule)"
req HEAD "/v2/ret/app/manifests/$A" -H "$ACCEPT_ALL"
must 200 "the manifest after its other tag went"
req PUT /v2/ret/app/manifests/latest -H "Content-Type: $T_OCI" --data-binary "@$TMP/b.json"
must 201 "latest to another digest (no rule)"
pass "immutable: refusals name the rule; the same digest again and other tags are fine"

step "pull counts: 3 GETs and 2 HEADs of v2, 1 GET by digest of a; written at the stop"
for _ in 1 2 3; do req GET /v2/ret/app/manifests/v2 -H "$ACCEPT_ALL"; must 200 "GET v2"; done
for _ in 1 2; do req HEAD /v2/ret/app/manifests/v2 -H "$ACCEPT_ALL"; must 200 "HEAD v2"; done
req GET "/v2/ret/app/manifests/$A" -H "$ACCEPT_ALL"; must 200 "GET a by digest"
berth_stop
[ "$(berth_sql_value "SELECT pulls FROM manifest_pulls WHERE digest = '$B'")" = 3 ] \
        || fail "b's pulls: $(berth_sql_value "SELECT pulls FROM manifest_pulls WHERE digest = '$B'")"
# a: the GET by digest and the GET of v1 above
[ "$(berth_sql_value "SELECT pulls FROM manifest_pulls WHERE digest = '$A'")" = 2 ] || fail "a's pulls"
berth_start --retention-interval 0
for _ in 1 2; do req GET /v2/ret/app/manifests/v2 -H "$ACCEPT_ALL"; must 200 "GET v2"; done
# the server writes its counts every 5 s
for _ in $(seq 1 75); do
        [ "$(berth_sql_value "SELECT pulls FROM manifest_pulls WHERE digest = '$B'")" = 5 ] && break
        sleep 0.2
done
[ "$(berth_sql_value "SELECT pulls FROM manifest_pulls WHERE digest = '$B'")" = 5 ] \
        || fail "b's pulls after the restart: $(berth_sql_value "SELECT pulls FROM manifest_pulls WHERE digest = '$B'")"
pass "pull counts: GETs counted, HEADs not, kept across a restart"

step "ret/svc: tags t1..t5 pushed 5, 4, 3, 2 and 1 hours ago; an old untagged manifest"
push_blob ret/svc "$TMP/config"
push_blob ret/svc "$TMP/layer"
for i in 1 2 3 4 5; do
        printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s],"annotations":{"t":"%s"}}' "$T_OCI" \
                "$(descriptor application/vnd.oci.image.config.v1+json "$TMP/config")" \
                "$(descriptor application/vnd.oci.image.layer.v1.tar "$TMP/layer")" "$i" >"$TMP/t$i.json"
        push_manifest ret/svc "t$i" "$TMP/t$i.json" "$T_OCI"
        eval "T$i=\$MDIG"
done
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s],"annotations":{"t":"untagged"}}' "$T_OCI" \
        "$(descriptor application/vnd.oci.image.config.v1+json "$TMP/config")" \
        "$(descriptor application/vnd.oci.image.layer.v1.tar "$TMP/layer")" >"$TMP/u.json"
push_manifest ret/svc "$(sha256_of "$TMP/u.json")" "$TMP/u.json" "$T_OCI"; U=$MDIG
now=$(date +%s)
for i in 1 2 3 4 5; do
        sql_exec "UPDATE tags SET updated_at = $((now - (6 - i) * 3600)) WHERE name = 't$i'"
done
sql_exec "UPDATE manifests SET created_at = $((now - 6 * 3600))"

step "retention set ret: the 2 most recent of ret/svc, t1 always, untagged after 1h"
bd retention set ret --repos 'ret/svc' --keep-last-pushed 2 --keep-always t1 --untagged-after 1h >"$TMP/out" 2>&1 \
        || fail "retention set: $(cat "$TMP/out")"
bd retention list ret >"$TMP/out" 2>&1 || fail "retention list"
grep -q "keep last-pushed 2 tags '\*' in repositories 'ret/svc'" "$TMP/out" || fail "retention list: $(cat "$TMP/out")"
grep -q "untagged manifests removed after 3600s" "$TMP/out" || fail "retention list: $(cat "$TMP/out")"
bd retention set ret --keep-last-pushed x >/dev/null 2>&1 && fail "a bad count was taken"

step "a dry run lists what goes and changes nothing"
bd retention run ret --dry-run >"$TMP/dry" 2>&1 || fail "dry run: $(cat "$TMP/dry")"
grep -q "^would remove tag ret/svc:t2 ($T2)$" "$TMP/dry" || fail "dry run: $(cat "$TMP/dry")"
grep -q "^would remove tag ret/svc:t3 ($T3)$" "$TMP/dry" || fail "dry run: $(cat "$TMP/dry")"
grep -q "^would remove untagged manifest ret/svc@$U$" "$TMP/dry" || fail "dry run: $(cat "$TMP/dry")"
grep -q "would remove 2 of 8 tag(s) and 3 untagged manifest(s) in 2 repositories" "$TMP/dry" || fail "dry run: $(cat "$TMP/dry")"
[ "$(tags_of ret/svc)" = "t1 t2 t3 t4 t5" ] || fail "the dry run removed tags: $(tags_of ret/svc)"
[ "$(berth_sql_value "SELECT count(*) FROM auth_audit WHERE action = 'retention-delete'")" = 0 ] \
        || fail "the dry run wrote audit rows"
pass "dry run: $(tail -n1 "$TMP/dry")"

step "the run: t2 and t3 go, then the untagged manifests; the audit trail names each"
bd retention run ret >"$TMP/run" 2>&1 || fail "run: $(cat "$TMP/run")"
[ "$(grep -v '^run ' "$TMP/run" | sed 's/^would remove/removed/' | sort)" = \
  "$(grep -v '^run ' "$TMP/dry" | sed 's/^would remove/removed/' | sort)" ] \
        || fail "the run removed other than the dry run said: $(cat "$TMP/run")"
[ "$(tags_of ret/svc)" = "t1 t4 t5" ] || fail "tags after the run: $(tags_of ret/svc)"
[ "$(tags_of ret/app)" = "latest v1 v2" ] || fail "ret/app (no rule for it) changed: $(tags_of ret/app)"
req HEAD "/v2/ret/svc/manifests/$U" -H "$ACCEPT_ALL"; must 404 "the untagged manifest after the run"
req HEAD "/v2/ret/svc/manifests/$T2" -H "$ACCEPT_ALL"; must 404 "t2's manifest after the run"
req HEAD "/v2/ret/svc/manifests/t4" -H "$ACCEPT_ALL"; must 200 "t4"
[ "$(berth_sql_value "SELECT count(*) FROM auth_audit WHERE action = 'retention-delete' AND \"user\" = 'retention'")" = 5 ] \
        || fail "audit rows: $(berth_sql_value "SELECT count(*) FROM auth_audit WHERE action = 'retention-delete'")"
bd audit --user retention >"$TMP/audit" 2>&1 || fail "berthd audit: $(cat "$TMP/audit")"
grep -q "retention-delete.*ret/svc.*tag t2 $T2" "$TMP/audit" || fail "berthd audit: $(cat "$TMP/audit")"
bd retention status >"$TMP/status" 2>&1 || fail "status"
grep -q "^run 2: run of ret started .* (ok) by berthd retention on .*: 2 tag(s), 3 untagged manifest(s)" "$TMP/status" \
        || fail "status: $(cat "$TMP/status")"
grep -q "^run 1: dry run of ret" "$TMP/status" || fail "status: $(cat "$TMP/status")"
pass "run: $(tail -n1 "$TMP/run")"

step "the server applies the policies by itself (--retention-interval 1)"
berth_stop
bd retention set ret --repos 'ret/svc' --keep-last-pushed 1 --keep-always t1 >/dev/null || fail "retention set"
berth_start --retention-interval 1
for _ in $(seq 1 100); do
        [ "$(tags_of ret/svc)" = "t1 t5" ] && break
        sleep 0.1
done
[ "$(tags_of ret/svc)" = "t1 t5" ] || fail "tags after the server's run: $(tags_of ret/svc)"
bd retention status >"$TMP/status" 2>&1 || fail "status"
grep -q "run of every project .* (ok) by berthd on .*: 1 tag(s)" "$TMP/status" || fail "status: $(cat "$TMP/status")"
berth_stop
pass "the server's own run removed t4"
