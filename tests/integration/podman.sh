#!/bin/bash
# podman (rootful, vfs storage in a private root) pushes an image to berthd over HTTPS
# and pulls it back after removing it: same manifest digest, same image (config) ID.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
set -e

berth_require podman curl jq python3
berth_require_root
berth_tmpdir
berth_start

certs=$TMP/certs
mkdir -p "$certs" "$TMP/podman"
cp "$BERTH_CA" "$certs/ca.crt"
# a private storage configuration: nothing of the host's images or settings is used
printf '[storage]\ndriver = "vfs"\ngraphroot = "%s"\nrunroot = "%s"\n' \
        "$TMP/podman/root" "$TMP/podman/run" >"$TMP/storage.conf"
export CONTAINERS_STORAGE_CONF=$TMP/storage.conf
pm() {
        berth_rooted timeout 300 podman --root "$TMP/podman/root" --runroot "$TMP/podman/run" \
                --storage-driver vfs --cgroup-manager cgroupfs --events-backend file \
                --tmpdir "$TMP/podman/tmp" "$@"
}
ref=$BERTH_HOST/it/podman:v1

step "make an image and load it into podman"
berth_mkimage "$TMP/src" --tag v1 --layers 3 --layer-size 1M --seed podman >/dev/null
config=$(jq -r .config.digest "$TMP/src/blobs/sha256/$(jq -r '.manifests[0].digest' "$TMP/src/index.json" | cut -d: -f2)")
pm pull -q "oci:$TMP/src:v1" >/dev/null || fail "podman pull oci:"
pm tag "$(pm images -q --no-trunc | head -n1)" "$ref"
id=$(pm image inspect --format '{{.Id}}' "$ref")
[ "sha256:$id" = "$config" ] || [ "$id" = "$config" ] || fail "podman image id $id, config $config"

step "push"
mkdir -p "$TMP/no-certs"
if pm push -q --cert-dir "$TMP/no-certs" "$ref" >/dev/null 2>"$TMP/untrusted.err"; then
        fail "podman pushed without trusting the CA"
fi
grep -qi certificate "$TMP/untrusted.err" || fail "untrusted push failed for another reason: $(cat "$TMP/untrusted.err")"
pm push -q --cert-dir "$certs" --digestfile "$TMP/pushed" "$ref" || fail "podman push"
pushed=$(cat "$TMP/pushed")
case $pushed in sha256:????????????????????????????????????????????????????????????????) ;;
        *) fail "podman wrote no digest: '$pushed'" ;; esac
served=$(bcurl -I -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
        "$BERTH_URL/v2/it/podman/manifests/v1" | tr -d '\r' | awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }')
[ "$served" = "$pushed" ] || fail "registry serves $served for the tag, podman pushed $pushed"
pass "pushed $pushed"

step "remove and pull back"
pm rmi -a -f >/dev/null
[ -z "$(pm images -q)" ] || fail "images still present after rmi -a"
pm pull -q --cert-dir "$certs" "$ref" >/dev/null || fail "podman pull"
got=$(pm image inspect --format '{{.Digest}}' "$ref")
[ "$got" = "$pushed" ] || fail "pulled digest $got, pushed $pushed"
id2=$(pm image inspect --format '{{.Id}}' "$ref")
[ "$id2" = "$id" ] || fail "pulled image id $id2, pushed $id"
pass "pulled $got (image $id)"

berth_stop
