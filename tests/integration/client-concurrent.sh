#!/usr/bin/env bash
# Two berth pull processes of one image into one store at once: both succeed, each blob
# is downloaded once per process at most, the store stays a valid OCI layout.
. "$(dirname "$0")/client-lib.sh"
client_init

start_registry R none 1
REG=127.0.0.1:$REG_R_PORT
make_image "$TMP/img" c 6 400000 >/dev/null
push "$TMP/img" c "$REG/conc/app:1"
B=("$BERTH" --store "$STORE" --ca-file "$TMP/cert.pem" -q)

step "two concurrent pulls"
"${B[@]}" pull "$REG/conc/app:1" --max-concurrent-downloads 2 > "$TMP/p1.out" 2>&1 &
p1=$!
"${B[@]}" pull "$REG/conc/app:1" --max-concurrent-downloads 4 > "$TMP/p2.out" 2>&1 &
p2=$!
wait $p1 || { cat "$TMP/p1.out"; fail "first pull failed"; }
wait $p2 || { cat "$TMP/p2.out"; fail "second pull failed"; }
gets=$(count_blob_gets "$REG_R_LOG" conc/app)
[ "$gets" -ge 7 ] && [ "$gets" -le 14 ] || fail "$gets blob GETs for 7 blobs and 2 pulls"
python3 - "$STORE" "$REG/conc/app:1" <<'PY' || fail "index.json"
import json, sys
idx = json.load(open(sys.argv[1] + "/index.json"))
names = [m["annotations"]["org.opencontainers.image.ref.name"] for m in idx["manifests"]]
assert names == [sys.argv[2]], names
PY
[ -z "$(ls "$STORE/.berth/tmp")" ] || fail "partial files left: $(ls "$STORE/.berth/tmp")"
skopeo copy -q "oci:$STORE:$REG/conc/app:1" "dir:$TMP/rb" >/dev/null || fail "skopeo read-back"

step "rmi while nothing pulls; then a fresh pull with 1 thread"
expect_rc 0 "${B[@]}" rmi "$REG/conc/app:1"
expect_rc 0 "${B[@]}" pull "$REG/conc/app:1" --max-concurrent-downloads 1
echo "PASS [$NAME]"
