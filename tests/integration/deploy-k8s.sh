#!/bin/bash
# The Kubernetes manifests of deploy/k8s, checked offline: tests/deploy/validate.mjs
# builds every object with the npm package kubernetes-models (the Kubernetes API
# schema) and checks berth's own rules (probes on /healthz and /readyz at berthd's port,
# BERTH_* names the built berthd reads, downward API fields, the pull Secret's type
# and registry, one replica with Recreate, grace period, security context...).
# Each broken copy below must be rejected, with the problem named.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
set -e

berth_require node npm
berth_tmpdir
[ -x "$top_builddir/berthd" ] || fail "$top_builddir/berthd not built"

# --- the validator, installed from its lock file ---------------------------------------
v=$TMP/validate
mkdir -p "$v"
cp "$top_srcdir/tests/deploy/package.json" "$top_srcdir/tests/deploy/package-lock.json" \
        "$top_srcdir/tests/deploy/validate.mjs" "$v/"
step "npm ci (kubernetes-models, yaml)"
if ! (cd "$v" && timeout 300 npm ci --no-audit --no-fund --prefer-offline --loglevel=error) >"$TMP/npm.log" 2>&1; then
        cat "$TMP/npm.log"
        # A machine that cannot reach the npm registry (no route, or a TLS proxy whose
        # CA it does not trust, as in a bare chroot) cannot install the validator:
        # that is the environment, not the manifests, so it is a skip even in CI.
        if grep -qE 'SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT|CERT_UNTRUSTED|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH' "$TMP/npm.log"; then
                echo "SKIP [$BERTH_TEST_NAME]: the npm registry is out of reach from here; manifests not validated"
                exit 77
        fi
        [ "${BERTH_REQUIRE_ALL:-0}" = 1 ] && fail "npm ci failed"
        echo "SKIP [$BERTH_TEST_NAME]: npm ci failed"
        exit 77
fi

# the variables berthd reads: its --help and the names compiled into it
{ "$top_builddir/berthd" --help; grep -aoE 'BERTH_[A-Z0-9_]+' "$top_builddir/berthd"; } |
        grep -oE 'BERTH_[A-Z0-9_]+' | sort -u >"$TMP/env-names"
grep -qx BERTH_LISTEN "$TMP/env-names" && grep -qx BERTH_ADMIN_PASSWORD "$TMP/env-names" ||
        fail "cannot find berthd's variable names"
validate() { node "$v/validate.mjs" --env-names "$TMP/env-names" "$@"; }

step "the manifests as committed"
validate "$top_srcdir/deploy/k8s" >"$TMP/ok.log" 2>&1 || { cat "$TMP/ok.log"; fail "deploy/k8s is invalid"; }
cat "$TMP/ok.log"
n=$(ls "$top_srcdir"/deploy/k8s/*.yaml | wc -l)
grep -q "in $n files" "$TMP/ok.log" || fail "not every file was read ($n files)"
pass "deploy/k8s validates"

# broken FILE SED-EXPR EXPECTED: a copy of deploy/k8s with FILE edited must fail with
# a line matching EXPECTED
broken() {
        local file=$1 expr=$2 want=$3 d=$TMP/broken
        rm -rf "$d"
        cp -r "$top_srcdir/deploy/k8s" "$d"
        sed -i "$expr" "$d/$file"
        cmp -s "$d/$file" "$top_srcdir/deploy/k8s/$file" && fail "the edit '$expr' changed nothing in $file"
        if validate "$d" >"$TMP/broken.log" 2>&1; then
                fail "a broken copy ($file: $expr) was accepted"
        fi
        grep -q -- "$want" "$TMP/broken.log" || { cat "$TMP/broken.log"; fail "$file: $expr: no '$want' in the report"; }
        pass "rejected: $file: $expr -> $(grep -m1 -- "$want" "$TMP/broken.log")"
}
step "broken copies must fail"
broken deployment.yaml 's/imagePullPolicy: IfNotPresent/imagePullPolicy: IfNotPresnt/' 'imagePullPolicy must be equal to one of the allowed values'
broken example-workload.yaml 's/imagePullPolicy: IfNotPresent/imagePullPolicy: ifnotpresent/' 'imagePullPolicy must be equal to one of the allowed values'
broken example-workload.yaml '/imagePullPolicy:/d' 'no explicit imagePullPolicy'
broken deployment.yaml 's/type: Recreate/type: Rolling/' 'strategy'
broken deployment.yaml 's|path: /readyz|path: /ready|' 'readinessProbe path /ready'
broken deployment.yaml '/livenessProbe:/,/scheme:/s/scheme: HTTPS/scheme: HTTP/' 'livenessProbe scheme HTTP'
broken deployment.yaml 's/containerPort: 5000/containerPort: 8080/' 'no containerPort 5000'
broken deployment.yaml 's/fieldPath: spec.nodeName/fieldPath: spec.nodeNam/' 'NODE_NAME'
broken deployment.yaml 's/terminationGracePeriodSeconds: 45/terminationGracePeriodSeconds: 20/' 'terminationGracePeriodSeconds 20'
broken deployment.yaml 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/' 'readOnlyRootFilesystem'
broken deployment.yaml 's/replicas: 1/replicas: 2/' 'replicas must be 1'
broken deployment.yaml 's/protocol: TCP/protocol: TCPX/' 'protocol must be equal to one of the allowed values'
broken configmap.yaml 's/BERTH_LOG_LEVEL:/BERTH_LOGLEVEL:/' 'BERTH_LOGLEVEL: berthd reads no such variable'
broken configmap.yaml 's/BERTH_GRACE: "25"/BERTH_GRACE: "60"/' 'BERTH_GRACE 60'
broken service.yaml 's/targetPort: registry/targetPort: 5001/' 'targetPort 5001'
broken configmap.yaml 's/BERTH_METRICS_LISTEN: "0.0.0.0:5001"/BERTH_METRICS_LISTEN: "127.0.0.1:5001"/' 'is loopback'
broken deployment.yaml 's/prometheus.io\/port: "5001"/prometheus.io\/port: "9090"/' 'prometheus.io/port 9090'
broken example-pull-secret.yaml 's|^type: kubernetes.io/dockerconfigjson|type: Opaque|' 'type Opaque'
broken example-pull-secret.yaml 's/^  .dockerconfigjson:/  config.json:/' 'no .dockerconfigjson key'
broken example-workload.yaml 's|image: 127.0.0.1:30500/|image: registry.example.com/|' 'no credentials for registry.example.com'
broken example-workload.yaml 's/- name: berth-pull/- name: berth-pul/' 'no Secret berth-pul'
broken secret-admin.yaml 's/^  password:/  passwd:/' 'has no key password'
broken kustomization.yaml 's/- pvc.yaml/- pvcs.yaml/' 'resource pvcs.yaml does not exist'
