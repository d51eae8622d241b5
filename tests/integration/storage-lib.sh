# shellcheck shell=bash disable=SC2034
# Helpers of the storage maintenance scripts (fsck.sh, backup.sh, read-only.sh), sourced
# after lib.sh, berth_tmpdir, berth_start and api-common.sh.

# push_image REPO TAG NAME [LAYER-BYTES]: a config and a layer of random bytes and an
# OCI manifest naming them, pushed as REPO:TAG; the files are $TMP/NAME.{config,layer,
# manifest}; LAYER (the layer's digest) and MDIG (the manifest's) are set.
push_image() {
        local repo=$1 tag=$2 n=$3 size=${4:-20000}
        randfile "$TMP/$n.config" 200
        randfile "$TMP/$n.layer" "$size"
        push_blob "$repo" "$TMP/$n.config"
        push_blob "$repo" "$TMP/$n.layer"
        LAYER=$DIG
        printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$T_OCI" \
                "$(descriptor application/vnd.oci.image.config.v1+json "$TMP/$n.config")" \
                "$(descriptor application/vnd.oci.image.layer.v1.tar "$TMP/$n.layer")" >"$TMP/$n.manifest"
        push_manifest "$repo" "$tag" "$TMP/$n.manifest" "$T_OCI"
}

# pulls BASEURL REPO REF: the manifest and every blob it names come back whole (each
# body hashes to its digest, the manifest to its Docker-Content-Digest). 0 or 1,
# with the reason on stderr.
pulls() {
        local base=$1 repo=$2 ref=$3 d want got
        want=$(bcurl -f -H "$ACCEPT_ALL" -D "$TMP/pull.h" -o "$TMP/pull.m" "$base/v2/$repo/manifests/$ref" &&
                tr -d '\r' <"$TMP/pull.h" | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}') ||
                { echo "GET $repo:$ref failed" >&2; return 1; }
        got=$(sha256_of "$TMP/pull.m")
        [ "$want" = "$got" ] || { echo "$repo:$ref: manifest $got, header says $want" >&2; return 1; }
        for d in $(jq -r '.config.digest, .layers[].digest' "$TMP/pull.m"); do
                bcurl -f -o "$TMP/pull.b" "$base/v2/$repo/blobs/$d" || { echo "$repo:$ref: GET blob $d failed" >&2; return 1; }
                got=$(sha256_of "$TMP/pull.b")
                [ "$got" = "$d" ] || { echo "$repo:$ref: blob $d came back as $got" >&2; return 1; }
        done
}

# blobpath DIGEST: its file under DATA
blobpath() { local h=${1#sha256:}; echo "$BERTH_DATA/blobs/sha256/${h:0:2}/$h"; }
