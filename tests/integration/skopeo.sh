#!/bin/bash
# skopeo copies OCI layout images into berthd over HTTPS (trusting the generated CA)
# and back out; the manifests keep their digests and every blob comes back byte-exact.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
set -e

berth_require skopeo curl jq python3 cmp
berth_tmpdir
berth_start

certs=$TMP/certs
mkdir -p "$certs"
cp "$BERTH_CA" "$certs/ca.crt"
repo=$BERTH_HOST/it/skopeo
sk() { timeout 300 skopeo --command-timeout 240s "$@"; }

step "single-platform image, 4 layers"
want=$(berth_mkimage "$TMP/src" --tag v1 --layers 4 --layer-size 1536K --seed skopeo --gzip)
# the copy must not be refused for want of trust: without the CA it fails
if sk inspect --raw "docker://$repo:v1" >/dev/null 2>"$TMP/untrusted.err"; then
        fail "skopeo trusted the server without its CA"
fi
grep -qi 'certificate' "$TMP/untrusted.err" || fail "untrusted inspect failed for another reason: $(cat "$TMP/untrusted.err")"
sk copy --quiet --preserve-digests --dest-cert-dir "$certs" "oci:$TMP/src:v1" "docker://$repo:v1" \
        || fail "skopeo copy into the registry"

got=$(sk inspect --cert-dir "$certs" "docker://$repo:v1" | jq -r .Digest)
[ "$got" = "$want" ] || fail "inspect: digest $got, pushed $want"
sk inspect --raw --cert-dir "$certs" "docker://$repo:v1" >"$TMP/raw.json"
cmp -s "$TMP/raw.json" "$TMP/src/blobs/sha256/${want#sha256:}" \
        || fail "manifest not served byte-exact"
# the same manifest by digest, with the headers the spec asks for
bcurl -o /dev/null -D "$TMP/h" -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        "$BERTH_URL/v2/it/skopeo/manifests/$want"
grep -qi "^docker-content-digest: $want" "$TMP/h" || fail "Docker-Content-Digest missing on GET by digest"
grep -qi '^content-type: application/vnd.oci.image.manifest.v1+json' "$TMP/h" || fail "media type not kept"
pass "pushed $want, served byte-exact"

step "copy back out to a new OCI layout"
sk copy --quiet --preserve-digests --src-cert-dir "$certs" "docker://$repo:v1" "oci:$TMP/out:v1" \
        || fail "skopeo copy out of the registry"
back=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "v1") | .digest' "$TMP/out/index.json")
[ "$back" = "$want" ] || fail "copied back $back, pushed $want"
n=0
for b in $(jq -r '.config.digest, .layers[].digest' "$TMP/raw.json"); do
        cmp -s "$TMP/src/blobs/sha256/${b#sha256:}" "$TMP/out/blobs/sha256/${b#sha256:}" \
                || fail "blob $b differs after the round trip"
        n=$((n + 1))
done
[ "$n" -eq 5 ] || fail "expected a config and 4 layers, saw $n blobs"
pass "round trip kept manifest $want and its $n blobs"

step "multi-platform index (--all)"
idx=$(berth_mkimage "$TMP/src" --tag multi --layers 2 --layer-size 256K --seed skopeo-multi \
        --platforms linux/amd64,linux/arm64/v8 --gzip)
sk copy --quiet --all --preserve-digests --dest-cert-dir "$certs" "oci:$TMP/src:multi" "docker://$repo:multi" \
        || fail "skopeo copy --all into the registry"
sk inspect --raw --cert-dir "$certs" "docker://$repo:multi" >"$TMP/index.json"
cmp -s "$TMP/index.json" "$TMP/src/blobs/sha256/${idx#sha256:}" ||
        fail "index not served byte-exact; got media type $(jq -r .mediaType "$TMP/index.json")"
sk copy --quiet --all --preserve-digests --src-cert-dir "$certs" "docker://$repo:multi" "oci:$TMP/out:multi" \
        || fail "skopeo copy --all out of the registry"
back=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "multi") | .digest' "$TMP/out/index.json")
[ "$back" = "$idx" ] || fail "index copied back as $back, pushed $idx"
for m in $(jq -r '.manifests[].digest' "$TMP/index.json"); do
        cmp -s "$TMP/src/blobs/sha256/${m#sha256:}" "$TMP/out/blobs/sha256/${m#sha256:}" \
                || fail "child manifest $m differs"
done
pass "index $idx and its children round-tripped"

step "tags"
tags=$(sk list-tags --cert-dir "$certs" "docker://$repo" | jq -r '.Tags | sort | join(",")')
[ "$tags" = "multi,v1" ] || fail "tags list: '$tags', want 'multi,v1'"
pass "tags: $tags"

berth_stop
