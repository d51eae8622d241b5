#!/bin/bash
# The Kubernetes manifests of deploy/k8s (the base in deploy/k8s/base, applied through
# the thin deploy/k8s/kustomization.yaml) and the several-replica overlay deploy/k8s/ha,
# checked offline: tests/deploy/validate.mjs builds every object with the npm package
# kubernetes-models (the Kubernetes API schema) and checks berth's own rules (probes on
# /healthz and /readyz at berthd's port, BERTH_* names the built berthd reads, downward
# API fields, the pull Secret's type and registry, one replica with Recreate on SQLite;
# on PostgreSQL replicas with rolling updates, a disruption budget, anti-affinity, a
# ReadWriteMany claim, one certificate, the database URI and password from Secrets; no
# password in plain text; grace period, security context...).
# Both kustomizations are rendered by the validator's own kustomize subset and, where
# kubectl (or kustomize) is installed, by it too: the two renderings must be equal.
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
kz=
if command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
        kz="kubectl kustomize"
elif command -v kustomize >/dev/null 2>&1; then
        kz="kustomize build"
fi
if [ -n "$kz" ]; then
        echo "renderings are compared with $kz ($(kubectl version --client 2>/dev/null | grep -i kustomize || kustomize version 2>/dev/null))"
else
        echo "neither kubectl nor kustomize here: the kustomizations are rendered by the validator alone"
fi

# validate_k8s ROOT: a copy of deploy/k8s; what `kubectl apply -k ROOT` applies (the
# thin kustomization.yaml, rendering base/), with the examples beside it (the pull
# Secret, the workload, the certificate Secret)
validate_k8s() {
        local root=$1 cmp=()
        if [ -n "$kz" ] && $kz "$root" >"$TMP/k8s-real.yaml" 2>"$TMP/k8s-real.err"; then
                cmp=(--compare "$TMP/k8s-real.yaml")
        fi
        validate --kustomize "$root" "${cmp[@]}" "$root"
}

step "the manifests as committed"
validate_k8s "$top_srcdir/deploy/k8s" >"$TMP/ok.log" 2>&1 || { cat "$TMP/ok.log"; fail "deploy/k8s is invalid"; }
cat "$TMP/ok.log"
[ -z "$kz" ] || grep -q '^the rendering of .* equals k8s-real.yaml' "$TMP/ok.log" ||
        fail "the validator's rendering of deploy/k8s was not compared with $kz's"
n=$(ls "$top_srcdir"/deploy/k8s/*.yaml "$top_srcdir"/deploy/k8s/base/*.yaml | wc -l)
grep -q "in $n files" "$TMP/ok.log" || fail "not every file was read ($n files)"
pass "deploy/k8s validates"
# the base rendered alone must give the same objects: the thin kustomization adds nothing
if [ -n "$kz" ]; then
        $kz "$top_srcdir/deploy/k8s/base" >"$TMP/base-real.yaml" || fail "$kz deploy/k8s/base failed"
        cmp -s "$TMP/base-real.yaml" "$TMP/k8s-real.yaml" || fail "deploy/k8s renders other objects than deploy/k8s/base"
        pass "deploy/k8s renders what deploy/k8s/base does"
fi
# the validator alone (no --kustomize) must not take the folder resource base as read
if validate "$top_srcdir/deploy/k8s" >"$TMP/broken.log" 2>&1; then fail "deploy/k8s validated without rendering base/"; fi
grep -q '^INVALID kustomization.yaml: resource base (a folder) was not rendered' "$TMP/broken.log" ||
        { cat "$TMP/broken.log"; fail "no unrendered base named"; }
pass "rejected: deploy/k8s without --kustomize -> $(grep -m1 '^INVALID kustomization.yaml: resource base' "$TMP/broken.log")"

# broken FILE SED-EXPR EXPECTED: a copy of deploy/k8s with FILE (base/... or an example)
# edited must fail with a line matching EXPECTED
broken() {
        local file=$1 expr=$2 want=$3 d=$TMP/broken
        rm -rf "$d"
        cp -r "$top_srcdir/deploy/k8s" "$d"
        sed -i "$expr" "$d/$file"
        cmp -s "$d/$file" "$top_srcdir/deploy/k8s/$file" && fail "the edit '$expr' changed nothing in $file"
        if validate_k8s "$d" >"$TMP/broken.log" 2>&1; then
                fail "a broken copy ($file: $expr) was accepted"
        fi
        grep '^INVALID' "$TMP/broken.log" | grep -q -- "$want" ||
                { cat "$TMP/broken.log"; fail "$file: $expr: no '$want' in the report"; }
        pass "rejected: $file: $expr -> $(grep '^INVALID' "$TMP/broken.log" | grep -m1 -- "$want")"
}
step "broken copies must fail"
broken base/deployment.yaml 's/imagePullPolicy: IfNotPresent/imagePullPolicy: IfNotPresnt/' 'imagePullPolicy must be equal to one of the allowed values'
broken example-workload.yaml 's/imagePullPolicy: IfNotPresent/imagePullPolicy: ifnotpresent/' 'imagePullPolicy must be equal to one of the allowed values'
broken example-workload.yaml '/imagePullPolicy:/d' 'no explicit imagePullPolicy'
broken base/deployment.yaml 's/type: Recreate/type: Rolling/' 'strategy'
broken base/deployment.yaml 's|path: /readyz|path: /ready|' 'readinessProbe path /ready'
broken base/deployment.yaml '/livenessProbe:/,/scheme:/s/scheme: HTTPS/scheme: HTTP/' 'livenessProbe scheme HTTP'
broken base/deployment.yaml 's/containerPort: 5000/containerPort: 8080/' 'no containerPort 5000'
broken base/deployment.yaml 's/fieldPath: spec.nodeName/fieldPath: spec.nodeNam/' 'NODE_NAME'
broken base/deployment.yaml 's/terminationGracePeriodSeconds: 45/terminationGracePeriodSeconds: 20/' 'terminationGracePeriodSeconds 20'
broken base/deployment.yaml 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/' 'readOnlyRootFilesystem'
broken base/deployment.yaml 's/replicas: 1/replicas: 2/' 'replicas must be 1'
broken base/deployment.yaml 's/protocol: TCP/protocol: TCPX/' 'protocol must be equal to one of the allowed values'
broken base/configmap.yaml 's/BERTH_LOG_LEVEL:/BERTH_LOGLEVEL:/' 'BERTH_LOGLEVEL: berthd reads no such variable'
broken base/configmap.yaml 's/BERTH_GRACE: "25"/BERTH_GRACE: "60"/' 'BERTH_GRACE 60'
broken base/service.yaml 's/targetPort: registry/targetPort: 5001/' 'targetPort 5001'
broken base/configmap.yaml 's/BERTH_METRICS_LISTEN: "0.0.0.0:5001"/BERTH_METRICS_LISTEN: "127.0.0.1:5001"/' 'is loopback'
broken base/deployment.yaml 's/prometheus.io\/port: "5001"/prometheus.io\/port: "9090"/' 'prometheus.io/port 9090'
broken example-pull-secret.yaml 's|^type: kubernetes.io/dockerconfigjson|type: Opaque|' 'type Opaque'
broken example-pull-secret.yaml 's/^  .dockerconfigjson:/  config.json:/' 'no .dockerconfigjson key'
broken example-workload.yaml 's|image: 127.0.0.1:30500/|image: registry.example.com/|' 'no credentials for registry.example.com'
broken example-workload.yaml 's/- name: berth-pull/- name: berth-pul/' 'no Secret berth-pul'
broken base/secret-admin.yaml 's/^  password:/  passwd:/' 'has no key password'
broken base/kustomization.yaml 's/- pvc.yaml/- pvcs.yaml/' 'resource pvcs.yaml does not exist'
broken kustomization.yaml 's/^  - base$/  - bases/' 'resource bases does not exist'

# --- the several-replica overlay -------------------------------------------------------
# deploy/k8s/ha is rendered by the validator (the kustomize fields it uses, nothing
# else) and every object validated, with the two Secrets the operator makes given as
# their examples. Where a real kustomize is here, its rendering must equal the
# validator's.
for n in BERTH_DB BERTH_DB_PASSWORD_FILE; do
        grep -qx "$n" "$TMP/env-names" ||
                fail "berthd does not read $n (built without the PostgreSQL settings?): deploy/k8s/ha cannot be checked"
done
validate_ha() {  # ROOT: a copy of deploy/k8s (holding base/ and ha/)
        local root=$1 cmp=()
        if [ -n "$kz" ] && $kz "$root/ha" >"$TMP/ha-real.yaml" 2>"$TMP/ha-real.err"; then
                cmp=(--compare "$TMP/ha-real.yaml")
        fi
        validate --kustomize "$root/ha" "${cmp[@]}" \
                "$root/ha/secret-db.example.yaml" "$root/secret-tls.example.yaml"
}

step "deploy/k8s/ha, rendered and validated"
validate_ha "$top_srcdir/deploy/k8s" >"$TMP/ha.log" 2>&1 || { cat "$TMP/ha.log"; fail "deploy/k8s/ha is invalid"; }
cat "$TMP/ha.log"
[ -z "$kz" ] || grep -q '^the rendering of .* equals ha-real.yaml' "$TMP/ha.log" ||
        fail "the validator's rendering was not compared with $kz's"
summary=$(grep '^summary: Deployment berth/berthd:' "$TMP/ha.log") || fail "no summary of berthd's Deployment"
for want in 'replicas 3,' 'strategy RollingUpdate (maxSurge 1, maxUnavailable 0)' 'metadata postgresql' \
        'BERTH_DB from Secret berth-db key uri' \
        'password file /etc/berth/db/password from Secret berth-db key password mode 0440' \
        'PodDisruptionBudget berthd minAvailable 2' 'anti-affinity kubernetes.io/hostname' \
        'certificate from Secret berth-tls' 'data claim berth-shared ReadWriteMany'; do
        case $summary in
        *"$want"*) ;;
        *) fail "the overlay's summary lacks '$want': $summary" ;;
        esac
done
pass "deploy/k8s/ha validates: ${summary#summary: }"

if [ -n "$kz" ]; then
        # the comparison itself must see a difference
        sed 's/replicas: 3/replicas: 4/' "$TMP/ha-real.yaml" >"$TMP/ha-other.yaml"
        cmp -s "$TMP/ha-real.yaml" "$TMP/ha-other.yaml" && fail "the edit of $kz's rendering changed nothing"
        if validate --kustomize "$top_srcdir/deploy/k8s/ha" --compare "$TMP/ha-other.yaml" \
                "$top_srcdir/deploy/k8s/ha/secret-db.example.yaml" "$top_srcdir/deploy/k8s/secret-tls.example.yaml" \
                >"$TMP/broken.log" 2>&1; then
                fail "a different rendering compared equal"
        fi
        grep -q '^INVALID .*differs: .spec.replicas: 3 here, 4 in' "$TMP/broken.log" || { cat "$TMP/broken.log"; fail "no difference named"; }
        pass "rejected: a rendering that differs -> $(grep -m1 'differs' "$TMP/broken.log")"
fi

# broken_ha FILE SED-EXPR EXPECTED: FILE is under deploy/k8s (ha/... or base/...)
broken_ha() {
        local file=$1 expr=$2 want=$3 d=$TMP/broken-ha
        rm -rf "$d"
        cp -r "$top_srcdir/deploy/k8s" "$d"
        sed -i "$expr" "$d/$file"
        cmp -s "$d/$file" "$top_srcdir/deploy/k8s/$file" && fail "the edit '$expr' changed nothing in $file"
        if validate_ha "$d" >"$TMP/broken.log" 2>&1; then
                fail "a broken copy ($file: $expr) was accepted"
        fi
        grep '^INVALID' "$TMP/broken.log" | grep -q -- "$want" ||
                { cat "$TMP/broken.log"; fail "$file: $expr: no '$want' in the report"; }
        pass "rejected: $file: $expr -> $(grep '^INVALID' "$TMP/broken.log" | grep -m1 -- "$want")"
}
step "broken copies of the overlay must fail"
broken_ha ha/deployment.yaml 's/replicas: 3/replicas: 2/' 'minAvailable 2 of 2 replicas: no pod may ever be evicted'
broken_ha ha/deployment.yaml 's/type: RollingUpdate/type: Recreate/' 'strategy Recreate: with 3 replicas use RollingUpdate'
broken_ha ha/deployment.yaml 's/maxSurge: 1/maxSurge: 0/' 'maxSurge and maxUnavailable are both 0'
broken_ha ha/pdb.yaml 's/component: registry/component: registri/' 'no PodDisruptionBudget selects the berthd pods'
broken_ha ha/pvc-shared.yaml 's/\[ReadWriteMany\]/[ReadWriteOnce]/' 'need ReadWriteMany'
broken_ha ha/deployment.yaml '/- name: BERTH_DB$/,/key: uri/c\            - name: BERTH_DB\n              value: postgresql://berth@db.example.internal/berth?sslmode=require' \
        'BERTH_DB must come from a Secret (secretKeyRef), not a value in the manifest'
broken_ha ha/configmap.yaml 's|^data:$|data:\n  BERTH_DB: postgresql://berth@db.example.internal/berth?sslmode=require|' \
        'BERTH_DB: the database URI belongs in a Secret, not a ConfigMap'
broken_ha ha/secret-db.example.yaml 's|postgresql://berth@|postgresql://berth:hunter2@|' 'a database URI with a password in it'
broken_ha ha/configmap.yaml 's|^data:$|data:\n  PGPASSWORD: hunter2|' 'PGPASSWORD: a password in a ConfigMap'
broken_ha ha/deployment.yaml 's|value: /etc/berth/db/password|value: hunter2\n            - name: PGPASSWORD\n              value: hunter2|' \
        'env PGPASSWORD: a password in plain text'
broken_ha ha/secret-db.example.yaml 's/sslmode=verify-full/sslmode=disable/' 'sslmode disable'
broken_ha ha/deployment.yaml '/secretName: berth-db/,/path: password/s/defaultMode: 0440/defaultMode: 0644/' \
        'mode 0644, must be 0400 or 0440'
broken_ha ha/deployment.yaml 's|value: /etc/berth/db/password|value: /etc/berth/password|' \
        'BERTH_DB_PASSWORD_FILE /etc/berth/password is no file of a mounted Secret volume'
broken_ha ha/secret-db.example.yaml '/^  password: ""$/d' 'Secret berth-db has no key password'
broken_ha ha/deployment.yaml '/- key: ca.crt/,/path: ca.crt/d' 'sslrootcert /etc/berth/db/ca.crt: the Secret volume db holds no item ca.crt'
broken_ha ha/deployment.yaml 's|topologyKey: kubernetes.io/hostname|topologyKey: kubernetes.io/hostnam|' \
        'no podAntiAffinity on kubernetes.io/hostname'
broken_ha ha/deployment.yaml 's/optional: false/optional: true/' "the certificate's Secret volume is optional"
broken_ha ha/configmap.yaml '/BERTH_TLS_KEY:/d' 'no BERTH_TLS_CERT and BERTH_TLS_KEY'
broken_ha ha/kustomization.yaml '/- path: pvc-delete.yaml/d' 'PersistentVolumeClaim/berth-data: mounted by no pod'
broken_ha ha/kustomization.yaml 's/- pdb.yaml/- pdbs.yaml/' 'resource pdbs.yaml does not exist'
broken_ha ha/kustomization.yaml 's/^kind: Kustomization$/kind: Kustomization\nnamePrefix: ha-/' 'namePrefix: not implemented'
broken_ha base/deployment.yaml 's|path: /readyz|path: /ready|' 'readinessProbe path /ready'

# the Job of docs/replicas.md that moves one berthd's data (the only YAML block there)
step "the Job of docs/replicas.md"
awk '/^   ```yaml$/ { f = 1; next } /^   ```$/ { f = 0 } f' "$top_srcdir/docs/replicas.md" | sed 's/^   //' >"$TMP/move-job.yaml"
grep -q '^kind: Job$' "$TMP/move-job.yaml" || fail "no Job found in docs/replicas.md"
validate "$TMP/move-job.yaml" "$top_srcdir/deploy/k8s/ha/secret-db.example.yaml" >"$TMP/job.log" 2>&1 ||
        { cat "$TMP/job.log"; fail "the Job of docs/replicas.md is invalid"; }
pass "docs/replicas.md: $(cat "$TMP/job.log")"
sed -i 's/key: uri$/key: url/' "$TMP/move-job.yaml"
if validate "$TMP/move-job.yaml" "$top_srcdir/deploy/k8s/ha/secret-db.example.yaml" >"$TMP/broken.log" 2>&1; then
        fail "a broken copy of the Job was accepted"
fi
grep -q '^INVALID .*Secret berth-db has no key url' "$TMP/broken.log" || { cat "$TMP/broken.log"; fail "no missing key named"; }
pass "rejected: the Job with key: url -> $(grep -m1 '^INVALID' "$TMP/broken.log")"

# kustomize refuses an overlay inside the folder of the base it loads (a cycle): that
# is why the base is deploy/k8s/base, beside ha/, and deploy/k8s only a kustomization
# listing base. The committed overlay must load ../base, and base must not hold it.
step "the overlay beside its base"
grep -qx '  - \.\./base' "$top_srcdir/deploy/k8s/ha/kustomization.yaml" || fail "deploy/k8s/ha does not load ../base"
[ ! -e "$top_srcdir/deploy/k8s/base/ha" ] || fail "deploy/k8s/base holds an overlay"
pass "deploy/k8s/ha loads ../base, a folder beside it"
# ha loading .. (the folder holding it) must be refused, by the validator and by kustomize
d=$TMP/nested
rm -rf "$d" && cp -r "$top_srcdir/deploy/k8s" "$d"
sed -i 's|^  - \.\./base$|  - ..|' "$d/ha/kustomization.yaml"
cmp -s "$d/ha/kustomization.yaml" "$top_srcdir/deploy/k8s/ha/kustomization.yaml" && fail "the edit to load .. changed nothing"
if validate --kustomize "$d/ha" >"$TMP/broken.log" 2>&1; then fail "an overlay inside its base was accepted"; fi
grep -q '^INVALID .*cycle: ' "$TMP/broken.log" || { cat "$TMP/broken.log"; fail "no cycle named"; }
pass "rejected: an overlay inside its base -> $(grep -m1 'cycle' "$TMP/broken.log")"
if [ -n "$kz" ]; then
        if $kz "$d/ha" >"$TMP/nested-real.yaml" 2>"$TMP/nested-real.err"; then fail "$kz accepted an overlay inside its base"; fi
        grep -qi 'cycle' "$TMP/nested-real.err" || { cat "$TMP/nested-real.err"; fail "$kz refused the nested overlay, but named no cycle"; }
        pass "$kz refuses it too: $(grep -m1 -i 'cycle' "$TMP/nested-real.err")"
fi
