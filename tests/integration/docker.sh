#!/bin/bash
# docker push and pull through a real dockerd over HTTPS with the CA in
# /etc/docker/certs.d/HOST:PORT/ca.crt. Two images share a base layer: the second
# push must not upload that layer again. Uses the running dockerd if there is one,
# else starts a private one (vfs storage, no iptables, no bridge) under TMP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
set -e

berth_require docker dockerd skopeo curl jq python3
berth_require_root
berth_tmpdir

# --- a docker daemon -------------------------------------------------------------
berth_dockerd
dk() { timeout 300 docker "$@"; }

berth_start

# --- trust the CA the way a docker user does -------------------------------------
certs_root=/etc/docker/certs.d
certs_dir=$certs_root/$BERTH_HOST
[ -e "$certs_dir" ] && fail "$certs_dir already exists"
[ -d "$certs_root" ] || berth_on_exit "rmdir '$certs_root' '/etc/docker' 2>/dev/null"
berth_on_exit "rm -rf '$certs_dir'"
mkdir -p "$certs_dir"
cp "$BERTH_CA" "$certs_dir/ca.crt"

# --- two images with a common base layer -----------------------------------------
repo=$BERTH_HOST/it/docker
refs=()
load() {         # load TAG ARGS...: make an image and load it into docker as repo:TAG
        local tag=$1
        shift
        berth_mkimage "$TMP/src" --tag "$tag" "$@" >/dev/null
        skopeo copy --quiet "oci:$TMP/src:$tag" "docker-archive:$TMP/$tag.tar:$repo:$tag" \
                || fail "skopeo: docker-archive for $tag"
        dk load -q -i "$TMP/$tag.tar" >/dev/null || fail "docker load $tag"
        refs+=("$repo:$tag")
        [ "$BERTH_OWN_DOCKERD" = 1 ] || berth_on_exit "docker rmi -f '$repo:$tag'"
}
load one --layers 3 --layer-size 1M --seed docker-one --base-seed docker-base
load two --layers 3 --layer-size 1M --seed docker-two --base-seed docker-base
id_one=$(dk image inspect --format '{{.Id}}' "$repo:one")
id_two=$(dk image inspect --format '{{.Id}}' "$repo:two")
base_one=$(dk image inspect --format '{{index .RootFS.Layers 0}}' "$repo:one")
base_two=$(dk image inspect --format '{{index .RootFS.Layers 0}}' "$repo:two")
[ "$base_one" = "$base_two" ] || fail "test images do not share their base layer"
[ "$id_one" != "$id_two" ] || fail "test images are identical"

# push_digest LOG TAG: the digest docker reports for a push
push_digest() { sed -n "s/^$2: digest: \(sha256:[0-9a-f]\{64\}\) size: [0-9]*\$/\1/p" "$1"; }
served_digest() {
        bcurl -I -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
                -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
                "$BERTH_URL/v2/it/docker/manifests/$1" | tr -d '\r' |
                awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }'
}

step "push the first image"
dk push "$repo:one" >"$TMP/push-one.log" 2>&1 || { cat "$TMP/push-one.log"; fail "docker push one"; }
cat "$TMP/push-one.log"
d_one=$(push_digest "$TMP/push-one.log" one)
[ -n "$d_one" ] || fail "no digest in docker's push output"
[ "$(grep -c ': Pushed$' "$TMP/push-one.log")" -eq 3 ] || fail "first push: expected 3 layers pushed"
[ "$(served_digest one)" = "$d_one" ] || fail "registry serves another digest for :one"
pass "pushed one as $d_one"

step "push the second image: its base layer must not be uploaded again"
dk push "$repo:two" >"$TMP/push-two.log" 2>&1 || { cat "$TMP/push-two.log"; fail "docker push two"; }
cat "$TMP/push-two.log"
d_two=$(push_digest "$TMP/push-two.log" two)
[ -n "$d_two" ] || fail "no digest in docker's push output"
pushed=$(grep -c ': Pushed$' "$TMP/push-two.log" || true)
reused=$(grep -cE ': (Layer already exists|Mounted from .*)$' "$TMP/push-two.log" || true)
[ "$pushed" -eq 2 ] || fail "second push uploaded $pushed layers, want 2 (the base is shared)"
[ "$reused" -eq 1 ] || fail "second push reused $reused layers, want 1"
[ "$(served_digest two)" = "$d_two" ] || fail "registry serves another digest for :two"
pass "pushed two as $d_two, base layer reused"

step "remove the local images and pull them back"
dk rmi -f "$repo:one" "$repo:two" >/dev/null
dk image inspect "$repo:one" >/dev/null 2>&1 && fail "image one still present"
for t in one two; do
        dk pull -q "$repo:$t" >/dev/null || fail "docker pull $t"
done
[ "$(dk image inspect --format '{{.Id}}' "$repo:one")" = "$id_one" ] || fail "pulled one has another image id"
[ "$(dk image inspect --format '{{.Id}}' "$repo:two")" = "$id_two" ] || fail "pulled two has another image id"
rd=$(dk image inspect --format '{{join .RepoDigests " "}}' "$repo:one")
case " $rd " in *" $repo@$d_one "*) ;; *) fail "pulled one: RepoDigests '$rd', want $repo@$d_one" ;; esac
pass "pulled one and two back with the same image ids"

step "pull by digest"
dk rmi -f "$repo:two" >/dev/null
dk pull -q "$repo@$d_two" >/dev/null || fail "docker pull by digest"
[ "$(dk image inspect --format '{{.Id}}' "$repo@$d_two")" = "$id_two" ] || fail "pull by digest: another image"
pass "pulled $repo@$d_two"

berth_stop
