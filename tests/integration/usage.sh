#!/usr/bin/env bash
# `berthd usage` against a running server: after pushes, each project's blobs and
# bytes are the distinct blobs (layers, configs, manifests) its repositories hold:
# a blob in two repositories of a project counts once, a blob two projects hold
# counts in each, and team, team2 and team-x do not mix. Deleting a manifest takes
# it out of the count.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$(dirname "$0")/lib.sh"
berth_require curl jq sha256sum
berth_tmpdir
berth_start
. "$(dirname "$0")/api-common.sh"

usage() { "$top_builddir/berthd" --data "$BERTH_DATA" usage "$@"; }
# must STATUS WHAT: the last request answered STATUS
must() { [ "$STATUS" = "$1" ] || fail "$2 answered $STATUS, not $1"; }
# field JSON PROJECT KEY
field() { jq -r --arg p "$2" --arg k "$3" '.projects[] | select(.project == $p) | .[$k]' <<<"$1"; }

step "an image in two repositories of team, its layer in team2, a blob of team-x"
randfile "$TMP/config" 300
randfile "$TMP/layer" 5000
randfile "$TMP/other" 70
for r in team/app team/deep/web; do
        push_blob "$r" "$TMP/config"; must 201 "push config to $r"
        push_blob "$r" "$TMP/layer"; must 201 "push layer to $r"
done
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$T_OCI" \
        "$(descriptor application/vnd.oci.image.config.v1+json "$TMP/config")" \
        "$(descriptor application/vnd.oci.image.layer.v1.tar "$TMP/layer")" >"$TMP/manifest"
for r in team/app team/deep/web; do
        push_manifest "$r" v1 "$TMP/manifest" "$T_OCI"; must 201 "push manifest to $r"
done
push_blob team2/app "$TMP/layer"; must 201 "push layer to team2/app"
push_blob team-x/app "$TMP/other"; must 201 "push blob to team-x/app"
msize=$(fsize "$TMP/manifest")
team_bytes=$((300 + 5000 + msize))

step "berthd usage --json while the server runs"
json=$(usage --json) || fail "berthd usage --json failed"
[ "$(jq -r '[.projects[].project] | join(",")' <<<"$json")" = "team,team-x,team2" ] ||
        fail "projects listed: $json"
[ "$(field "$json" team blobs)" = 3 ] && [ "$(field "$json" team bytes)" = "$team_bytes" ] ||
        fail "team: $json (want 3 blobs, $team_bytes bytes: config, layer, manifest once)"
[ "$(field "$json" team2 blobs)" = 1 ] && [ "$(field "$json" team2 bytes)" = 5000 ] || fail "team2: $json"
[ "$(field "$json" team-x blobs)" = 1 ] && [ "$(field "$json" team-x bytes)" = 70 ] || fail "team-x: $json"
pass "team $team_bytes bytes in 3 blobs, team2 5000 in 1, team-x 70 in 1"

step "the table, and one project"
usage >"$TMP/table" || fail "berthd usage failed"
[ "$(head -1 "$TMP/table")" = "$(printf 'PROJECT\tBLOBS\tBYTES\tQUOTA')" ] || fail "header: $(head -1 "$TMP/table")"
grep -qx "$(printf 'team\t3\t5.[0-9] KiB (%s)\tnone (default)' "$team_bytes")" "$TMP/table" || fail "team's row: $(cat "$TMP/table")"
grep -qx "$(printf 'team-x\t1\t70 B\tnone (default)')" "$TMP/table" || fail "team-x's row: $(cat "$TMP/table")"
[ "$(usage team2 --json)" = '{"projects":[{"project":"team2","blobs":1,"bytes":5000,"quota":null,"quota_from":"default"}]}' ] ||
        fail "usage team2 --json: $(usage team2 --json)"
[ "$(usage nobody --json)" = '{"projects":[{"project":"nobody","blobs":0,"bytes":0,"quota":null,"quota_from":"default"}]}' ] ||
        fail "a project without repositories: $(usage nobody --json)"
rc=0
usage team/app >"$TMP/bad.out" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q "not a project name" "$TMP/bad.out" || fail "usage team/app: exit $rc, $(cat "$TMP/bad.out")"
pass "$(grep '^team	' "$TMP/table")"

step "a deleted manifest no longer counts once no repository holds it"
req DELETE "/v2/team/deep/web/manifests/$MDIG"; must 202 "DELETE the manifest in team/deep/web"
[ "$(field "$(usage --json)" team blobs)" = 3 ] || fail "the manifest left team with team/app still holding it"
req DELETE "/v2/team/app/manifests/$MDIG"; must 202 "DELETE the manifest in team/app"
json=$(usage team --json)
[ "$(field "$json" team blobs)" = 2 ] && [ "$(field "$json" team bytes)" = 5300 ] ||
        fail "after both deletes: $json (want 2 blobs, 5300 bytes: links stay until gc)"
pass "3 blobs while one repository holds the manifest, 2 after"

berth_stop
