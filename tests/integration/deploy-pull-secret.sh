#!/bin/bash
# The kubelet's pull path without a cluster. berthd (Basic auth) holds a private image
# at the path of deploy/k8s/example-workload.yaml; a pull-only robot's Secret is made
# with `berthd token create --secret-yaml` and another with `berthd secret`, the way
# docs/deploy.md tells operators to. Then, as a node does:
#  - containerd pulls with the credentials decoded from the Secret's .dockerconfigjson
#    and the CA in HOSTS_DIR/HOST:PORT/hosts.toml (ctr images pull --hosts-dir --user);
#  - `berth pull --pull-secret` pulls with the workload's imagePullPolicy;
#  - a Secret for another registry, and a revoked token, fail as the kubelet reports
#    it: ErrImagePull (exit 10), unauthorized; containerd refuses the revoked token too.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
set -e

berth_require skopeo curl jq python3 base64
berth_tmpdir
workload=$top_srcdir/deploy/k8s/example-workload.yaml
example_secret=$top_srcdir/deploy/k8s/example-pull-secret.yaml

# --- what the workload asks for -------------------------------------------------------
image=$(sed -n 's/^ *image: *\([^ #]*\).*/\1/p' "$workload" | head -n 1)
policy=$(sed -n 's/^ *imagePullPolicy: *\([A-Za-z]*\).*/\1/p' "$workload" | head -n 1)
secret_name=$(awk '/imagePullSecrets:/ { f = 1; next } f && /name:/ { print $NF; exit }' "$workload")
[ -n "$image" ] && [ -n "$policy" ] && [ -n "$secret_name" ] || fail "cannot read image, policy and pull Secret of $workload"
path=${image#*/}              # demo/hello:1.0
project=${path%%/*}
step "workload: image $image, imagePullPolicy $policy, imagePullSecrets $secret_name"

export BERTH_ADMIN_PASSWORD=it-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
berth_start --auth basic
adm() { "$top_builddir/berthd" --data "$BERTH_DATA" "$@"; }
ref=$BERTH_HOST/$path

# --- the image, pushed by a push robot ------------------------------------------------
adm project create "$project" >/dev/null || fail "project create"
out=$(adm token create --project "$project" --push) || fail "token create --push"
push_user=$(sed -n 's/^name: //p' <<<"$out")
push_pass=$(sed -n 's/^secret: //p' <<<"$out")
[ -n "$push_user" ] && [ -n "$push_pass" ] || fail "token create printed no name/secret"
berth_mkimage "$TMP/src" --tag v --layers 2 --layer-size 64K --seed deploy-pull --gzip >/dev/null
mkdir -p "$TMP/certs"
cp "$BERTH_CA" "$TMP/certs/ca.crt"
skopeo copy --quiet --dest-cert-dir "$TMP/certs" --dest-creds "$push_user:$push_pass" \
        "oci:$TMP/src:v" "docker://$ref" || fail "skopeo push"
digest=$(bcurl -u "$push_user:$push_pass" -I -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        "$BERTH_URL/v2/${path%:*}/manifests/${path##*:}" | tr -d '\r' |
        awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }')
[ -n "$digest" ] || fail "the pushed image is not served"
code=$(bcurl -o /dev/null -w '%{http_code}' "$BERTH_URL/v2/${path%:*}/manifests/${path##*:}")
[ "$code" = 401 ] || fail "anonymous manifest GET: HTTP $code, want 401 (the project must be private)"
pass "pushed $ref ($digest); anonymous pulls are refused"

# --- the pull Secrets, as an operator makes them ---------------------------------------
adm token create --project "$project" --secret-yaml "$BERTH_HOST" --name "$secret_name" \
        --namespace default >"$TMP/secret.yaml" || fail "token create --secret-yaml"
pull_user=$(sed -n 's/^# robot \([^ ]*\) .*/\1/p' "$TMP/secret.yaml")
[ -n "$pull_user" ] || fail "no robot name in the Secret's comment"
# secret_json FILE: the decoded .dockerconfigjson of a Secret in YAML
secret_json() { sed -n 's/^ *\.dockerconfigjson: *//p' "$1" | base64 -d; }
grep -q '^type: kubernetes.io/dockerconfigjson$' "$TMP/secret.yaml" || fail "Secret type is not kubernetes.io/dockerconfigjson"
grep -q "^  name: $secret_name\$" "$TMP/secret.yaml" || fail "Secret name is not $secret_name"
secret_json "$TMP/secret.yaml" >"$TMP/secret.json" || fail "the .dockerconfigjson is not base64"
jq -e --arg h "$BERTH_HOST" '.auths[$h].username and .auths[$h].password and .auths[$h].auth' \
        "$TMP/secret.json" >/dev/null || fail "the Secret has no credentials for $BERTH_HOST"
user=$(jq -r --arg h "$BERTH_HOST" '.auths[$h].username' "$TMP/secret.json")
pass=$(jq -r --arg h "$BERTH_HOST" '.auths[$h].password' "$TMP/secret.json")
[ "$(jq -r --arg h "$BERTH_HOST" '.auths[$h].auth' "$TMP/secret.json" | base64 -d)" = "$user:$pass" ] ||
        fail "auth is not base64(username:password)"
[ "$user" = "$pull_user" ] || fail "the Secret is for $user, the comment says $pull_user"
# the committed example has the same shape (type, key, auths for the workload's registry)
grep -q '^type: kubernetes.io/dockerconfigjson$' "$example_secret" || fail "example Secret: wrong type"
secret_json "$example_secret" | jq -e --arg h "${image%%/*}" '.auths[$h].username and .auths[$h].auth' >/dev/null ||
        fail "example Secret: no credentials for ${image%%/*}"
# `berthd secret` for the push robot gives the same shape
adm secret --server "$BERTH_HOST" --token "$push_user" --password-stdin --name push-secret \
        <<<"$push_pass" >"$TMP/push-secret.yaml" || fail "berthd secret"
[ "$(secret_json "$TMP/push-secret.yaml" | jq -r --arg h "$BERTH_HOST" '.auths[$h].username')" = "$push_user" ] ||
        fail "berthd secret: wrong user"
echo wrong | adm secret --server "$BERTH_HOST" --token "$push_user" --password-stdin >/dev/null 2>&1 &&
        fail "berthd secret accepted a wrong password"
# a Secret for another registry (same robot, other host)
sed "s/$BERTH_HOST/127.0.0.1:1/" "$TMP/secret.json" >"$TMP/other.json"
pass "Secrets made by 'token create --secret-yaml' and 'secret' decode to the robot's credentials"

# --- containerd, set up as a node ----------------------------------------------------------
ctr_ok=0
if command -v containerd >/dev/null && command -v ctr >/dev/null && [ "$(id -u)" -eq 0 ]; then
        ctr_ok=1
elif [ "${BERTH_REQUIRE_ALL:-0}" = 1 ]; then
        fail "containerd/ctr or root missing (BERTH_REQUIRE_ALL=1)"
else
        echo "note: containerd steps skipped (needs containerd, ctr and root)"
fi
if [ "$ctr_ok" = 1 ]; then
        c=$TMP/ctd
        mkdir -p "$c/root" "$c/state" "$TMP/hosts/$BERTH_HOST"
        printf 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n' >"$c/config.toml"
        berth_rooted --exec containerd --config "$c/config.toml" --root "$c/root" --state "$c/state" \
                --address "$c/c.sock" >"$TMP/containerd.log" 2>&1 &
        berth_track_pid $!
        for _ in $(seq 1 100); do
                ctr -a "$c/c.sock" version >/dev/null 2>&1 && break
                sleep 0.1
        done
        ctr -a "$c/c.sock" version >/dev/null 2>&1 || { tail "$TMP/containerd.log"; fail "containerd did not start"; }
        # /etc/containerd/certs.d/HOST:PORT/hosts.toml on a node; here a private folder
        cp "$BERTH_CA" "$TMP/hosts/$BERTH_HOST/ca.crt"
        {
                echo "server = \"https://$BERTH_HOST\""
                echo "[host.\"https://$BERTH_HOST\"]"
                echo "  capabilities = [\"pull\", \"resolve\"]"
                echo "  ca = \"$TMP/hosts/$BERTH_HOST/ca.crt\""
        } >"$TMP/hosts/$BERTH_HOST/hosts.toml"
        cpull() { timeout 120 ctr -a "$c/c.sock" -n berth-it images pull --snapshotter native \
                        --hosts-dir "$TMP/hosts" "$@" "$ref"; }

        step "containerd pulls with the Secret's credentials"
        cpull --user "$user:$pass" >"$TMP/ctr.log" 2>&1 || { cat "$TMP/ctr.log"; fail "ctr pull with the Secret"; }
        got=$(ctr -a "$c/c.sock" -n berth-it images ls | awk -v r="$ref" '$1 == r { print $3 }')
        [ "$got" = "$digest" ] || fail "containerd has $ref as '$got', want $digest"
        ctr -a "$c/c.sock" -n berth-it images rm "$ref" >/dev/null
        if cpull >"$TMP/ctr-anon.log" 2>&1; then fail "containerd pulled without credentials"; fi
        grep -qi 'unauthorized\|401' "$TMP/ctr-anon.log" || { cat "$TMP/ctr-anon.log"; fail "anonymous ctr pull: not unauthorized"; }
        pass "ctr images pull --hosts-dir --user: $digest; without credentials: unauthorized"
fi

# --- berth pull, as the kubelet with imagePullSecrets --------------------------------------
berth=$top_builddir/berth
berth_ok=1
if [ ! -x "$berth" ]; then
        [ "${BERTH_REQUIRE_ALL:-0}" = 1 ] && fail "$berth not built"
        echo "note: berth pull steps skipped ($berth not built)"
        berth_ok=0
fi
requests() { grep -c 'req=.* /v2/' "$TMP/berthd.log" || true; }
bp() { timeout 120 "$berth" --store "$TMP/store" pull --no-backoff --ca-file "$BERTH_CA" "$@"; }
if [ "$berth_ok" = 1 ]; then
        step "berth pull --pull-secret (the Secret's YAML) --policy $policy, twice"
        before=$(requests)
        bp --policy "$policy" --pull-secret "$TMP/secret.yaml" "$ref" >"$TMP/bp1.log" 2>&1 ||
                { cat "$TMP/bp1.log"; fail "berth pull with the Secret"; }
        [ "$(requests)" -gt "$before" ] || fail "the first pull sent no request"
        "$berth" --store "$TMP/store" images | grep -q "$digest" || fail "the store has no $digest"
        before=$(requests)
        bp --policy "$policy" --pull-secret "$TMP/secret.yaml" "$ref" >"$TMP/bp2.log" 2>&1 ||
                { cat "$TMP/bp2.log"; fail "second berth pull"; }
        [ "$policy" != IfNotPresent ] || [ "$(requests)" -eq "$before" ] ||
                fail "policy IfNotPresent: the second pull contacted the registry"
        pass "berth pull: $(tr '\n' ' ' <"$TMP/bp2.log")"

        step "a Secret for another registry: ErrImagePull, unauthorized"
        rc=0
        bp --policy Always --pull-secret "$TMP/other.json" "$ref" >"$TMP/bp-other.log" 2>&1 || rc=$?
        cat "$TMP/bp-other.log"
        [ "$rc" = 10 ] || fail "exit $rc with another registry's Secret, want 10 (ErrImagePull)"
        grep -qi 'unauthorized\|401\|authentication' "$TMP/bp-other.log" || fail "the error does not say unauthorized"
        pass "another registry's Secret: exit 10"
fi

# --- a revoked token ------------------------------------------------------------------------
step "revoke the pull robot: containerd and berth pull must be refused"
adm token revoke "$pull_user" >/dev/null || fail "token revoke"
if [ "$ctr_ok" = 1 ]; then
        ctr -a "$c/c.sock" -n berth-it images rm "$ref" >/dev/null 2>&1 || true
        if cpull --user "$user:$pass" >"$TMP/ctr-rev.log" 2>&1; then fail "containerd pulled with a revoked token"; fi
        grep -qi 'unauthorized\|401' "$TMP/ctr-rev.log" || { cat "$TMP/ctr-rev.log"; fail "revoked: not unauthorized"; }
        pass "containerd: $(grep -oi '[^:]*unauthorized[^"]*' "$TMP/ctr-rev.log" | head -n 1)"
fi
if [ "$berth_ok" = 1 ]; then
        rm -rf "$TMP/store2"
        rc=0
        timeout 120 "$berth" --store "$TMP/store2" pull --no-backoff --ca-file "$BERTH_CA" \
                --policy "$policy" --pull-secret "$TMP/secret.yaml" "$ref" >"$TMP/bp-rev.log" 2>&1 || rc=$?
        cat "$TMP/bp-rev.log"
        [ "$rc" = 10 ] || fail "exit $rc with a revoked token, want 10 (ErrImagePull)"
        grep -q 'ErrImagePull' "$TMP/bp-rev.log" || fail "the message does not name ErrImagePull"
        grep -qi 'unauthorized\|401\|authentication' "$TMP/bp-rev.log" || fail "the message does not say unauthorized"
        pass "berth pull with a revoked token: exit 10, ErrImagePull"
fi
berth_stop
