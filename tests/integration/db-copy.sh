#!/usr/bin/env bash
# `berthd db copy` moves an installation's metadata to another database: an image
# pushed to one berthd, copied (SQLite to SQLite) with the server stopped, is served
# by a berthd on the copy, which shares the blob files, with the same digest and the
# same users; the copy refuses a source a berthd still serves and a target that
# holds rows, and `berthd db version` names the engine and schema.
. "$(dirname "$0")/lib.sh"
berth_require skopeo curl jq python3
berth_tmpdir
berthd=$top_builddir/berthd
berth_start
certs=$TMP/certs
mkdir -p "$certs" && cp "$BERTH_CA" "$certs/ca.crt"

step "an image and a user on the first node"
printf 'alice-secret-pw\n' | "$berthd" --data "$BERTH_DATA" user add alice >/dev/null || fail "user add alice"
want=$(berth_mkimage "$TMP/img" --tag v1 --layers 2 --layer-size 64K --seed db-copy)
skopeo copy -q --preserve-digests --dest-cert-dir "$certs" "oci:$TMP/img:v1" "docker://$BERTH_HOST/alice/app:v1" \
        || fail "skopeo push"
pass "pushed alice/app:v1 $want"

step "a source a berthd serves is refused"
"$berthd" db copy --from "sqlite:$BERTH_DATA/berth.db" --to "sqlite:$TMP/early/berth.db" >"$TMP/out" 2>&1 &&
        fail "copied while berthd serves the source"
grep -q "stop it first" "$TMP/out" || fail "unclear refusal: $(cat "$TMP/out")"
[ -e "$TMP/early/berth.db" ] && fail "the refused copy made a target"
pass "refused: $(tail -n1 "$TMP/out")"
berth_stop

step "copy the metadata to the second node's database"
mv "$TMP/data" "$TMP/node1"
"$berthd" db copy --from "sqlite:$TMP/node1/berth.db" --to "sqlite:$TMP/data/berth.db" >"$TMP/out" 2>&1 ||
        { cat "$TMP/out"; fail "db copy"; }
cat "$TMP/out"
grep -q "every count matches" "$TMP/out" || fail "no verdict on the counts"
for t in repositories blobs repo_blobs manifests tags auth_state auth_users auth_audit; do
        grep -Eq "^$t +[1-9][0-9]* +[1-9][0-9]*$" "$TMP/out" || fail "table $t: no rows counted on both sides"
done
grep -q DIFFERS "$TMP/out" && fail "a count differs"
[ "$(stat -c %a "$TMP/data/berth.db")" = 600 ] || fail "the new database is not 0600"
pass "copied"

step "a target that holds rows is refused and left alone"
cp "$TMP/data/berth.db" "$TMP/before.db"
"$berthd" db copy --from "sqlite:$TMP/node1/berth.db" --to "sqlite:$TMP/data/berth.db" >"$TMP/out" 2>&1 &&
        fail "copied into a database that holds rows"
grep -q "is not empty" "$TMP/out" || fail "unclear refusal: $(cat "$TMP/out")"
cmp -s "$TMP/data/berth.db" "$TMP/before.db" || fail "the refused copy changed the target"
pass "refused: $(tail -n1 "$TMP/out")"
"$berthd" db copy --from "sqlite:$TMP/node1/berth.db" --to "$TMP/data/berth.db" >"$TMP/out" 2>&1 &&
        fail "a target without sqlite: or postgresql:// was taken"
grep -q "names no database" "$TMP/out" || fail "unclear refusal: $(cat "$TMP/out")"
# a password in a PostgreSQL URI is never printed (nothing answers on port 1)
"$berthd" db copy --from "sqlite:$TMP/node1/berth.db" \
        --to 'postgresql://berth:uri-secret@127.0.0.1:1/berth?password=param-secret&connect_timeout=2' \
        >"$TMP/out" 2>&1 && fail "copied to a database nothing serves"
# named as every berthd message names a database (dbconf_redact): the passwords dropped
grep -q 'postgresql://berth@127.0.0.1:1/berth?connect_timeout=2' "$TMP/out" ||
        fail "the target is not named with its password hidden: $(cat "$TMP/out")"
grep -q secret "$TMP/out" && fail "a password was printed: $(cat "$TMP/out")"
pass "passwords in a URI are shown as ***"

step "db version"
"$berthd" db version --db "sqlite:$TMP/data/berth.db" >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "db version"; }
grep -q "^engine: sqlite$" "$TMP/out" && grep -Eq "^schema version: [0-9]+ " "$TMP/out" ||
        fail "db version: $(cat "$TMP/out")"
"$berthd" --data "$TMP/node1" db version | grep -q "^engine: sqlite$" || fail "db version of DATA/berth.db"
pass "$(tr '\n' ' ' <"$TMP/out")"

step "a berthd on the copy serves the image (blob files shared) to alice"
ln -s "$TMP/node1/blobs" "$TMP/data/blobs"
berth_start --auth basic
cp "$BERTH_CA" "$certs/ca.crt"
got=$(skopeo inspect --cert-dir "$certs" --creds alice:alice-secret-pw "docker://$BERTH_HOST/alice/app:v1" |
        jq -r .Digest) || fail "inspect on the copy"
[ "$got" = "$want" ] || fail "digest on the copy $got, pushed $want"
skopeo copy -q --preserve-digests --src-cert-dir "$certs" --src-creds alice:alice-secret-pw "docker://$BERTH_HOST/alice/app:v1" \
        "oci:$TMP/out-img:v1" || fail "pull from the copy"
[ "$(jq -r '.manifests[0].digest' "$TMP/out-img/index.json")" = "$want" ] || fail "pulled another digest"
code=$(bcurl -o /dev/null -w '%{http_code}' -u alice:wrong "$BERTH_URL/v2/alice/app/tags/list")
[ "$code" = 401 ] || fail "a wrong password answered $code"
pass "pulled $want from the copy"
