#!/usr/bin/env bash
# A multi-platform index: berth picks the platform like containerd (--platform, default
# this machine), stores only that image, and skopeo reads the result back.
. "$(dirname "$0")/client-lib.sh"
client_init

start_registry R none 1
REG=127.0.0.1:$REG_R_PORT
make_image "$TMP/img" multi 2 50000 "linux/amd64,linux/arm64/v8,linux/arm/v6" >/dev/null
push "$TMP/img" multi "$REG/multi/app:1"
B=("$BERTH" --store "$STORE" --ca-file "$TMP/cert.pem" -q)

config_arch() { # STORE REF → architecture in the stored config
        python3 - "$1" "$2" <<'PY'
import json, sys
store, ref = sys.argv[1], sys.argv[2]
idx = json.load(open(store + "/index.json"))
e = [m for m in idx["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == ref][0]
man = json.load(open(store + "/blobs/sha256/" + e["digest"].split(":")[1]))
cfg = json.load(open(store + "/blobs/sha256/" + man["config"]["digest"].split(":")[1]))
print(cfg["architecture"] + ("/" + cfg["variant"] if cfg.get("variant") else ""))
PY
}

step "--platform linux/arm64 picks the arm64 image (variant v8 = no variant)"
expect_rc 0 "${B[@]}" pull "$REG/multi/app:1" --platform linux/arm64
[ "$(config_arch "$STORE" "$REG/multi/app:1")" = "arm64/v8" ] || fail "wrong platform: $(config_arch "$STORE" "$REG/multi/app:1")"
step "only that platform's blobs are stored (index + manifest + config + 2 layers)"
[ "$(ls "$STORE/blobs/sha256" | wc -l)" = 5 ] || fail "stored $(ls "$STORE/blobs/sha256" | wc -l) blobs"

step "arm/v7 falls back to the arm/v6 image"
expect_rc 0 "${B[@]}" --store "$TMP/s2" pull "$REG/multi/app:1" --platform linux/arm/v7
[ "$(config_arch "$TMP/s2" "$REG/multi/app:1")" = "arm/v6" ] || fail "arm/v7 did not fall back to v6"

step "no match: ErrImagePull naming the platform"
out=$("${B[@]}" --store "$TMP/s3" pull "$REG/multi/app:1" --platform linux/s390x 2>&1)
rc=$?
[ $rc = 10 ] || fail "expected 10, got $rc"
grep -q "no matching manifest for linux/s390x" <<<"$out" || fail "message: $out"

if [ "$(uname -m)" = x86_64 ]; then
        step "default platform of this machine (amd64); skopeo reads it back"
        expect_rc 0 "${B[@]}" --store "$TMP/s4" pull "$REG/multi/app:1"
        [ "$(config_arch "$TMP/s4" "$REG/multi/app:1")" = amd64 ] || fail "default platform"
        skopeo copy -q "oci:$TMP/s4:$REG/multi/app:1" "dir:$TMP/rb" >/dev/null || fail "skopeo read-back"
fi

step "pull by the index digest"
dig=$(skopeo inspect --raw --tls-verify=false "docker://$REG/multi/app:1" | python3 -c 'import hashlib,sys; print("sha256:"+hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')
expect_rc 0 "${B[@]}" --store "$TMP/s5" pull "$REG/multi/app@$dig" --platform linux/amd64
out=$("${B[@]}" --store "$TMP/s5" pull --dry-run "$REG/multi/app@$dig")
grep -q '"present":true' <<<"$out" || fail "digest reference not present: $out"
echo "PASS [$NAME]"
