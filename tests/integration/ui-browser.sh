#!/usr/bin/env bash
# The web UI in a real browser (issue 12; slow tier): Debian's chromium, headless, driven
# by puppeteer-core with axe-core (npm, pinned in tests/ui/package-lock.json; installed
# by scripts/install-deps.sh slow, else by npm ci here). berthd runs with Basic auth;
# users, a project with a quota and members are made through the management API, and
# images pushed with skopeo: team/app:1.0 a two-platform index, team/app:2.0 and :old
# single images, team/many with 120 tags (two pages of 100). tests/ui/browser.mjs then
# walks the UI (see there); this script checks afterwards that the robot account the
# browser created pulls with the secret the page showed, through skopeo.
# Screenshots of every page: BUILD/tests/ui-screenshots/ (kept; make clean removes them).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$(dirname "$0")/lib.sh"
berth_require node npm skopeo curl jq python3
chromium=
for c in chromium chromium-browser; do
        command -v "$c" >/dev/null 2>&1 && { chromium=$(command -v "$c"); break; }
done
[ -n "$chromium" ] || berth_require chromium
berth_tmpdir

# ---- puppeteer-core and axe-core from the lock file ----
ui=$top_srcdir/tests/ui
if [ -f "$ui/node_modules/puppeteer-core/package.json" ] && [ -f "$ui/node_modules/axe-core/axe.min.js" ]; then
        mods=$ui/node_modules
else
        step "npm ci (puppeteer-core, axe-core)"
        mkdir -p "$TMP/npm"
        cp "$ui/package.json" "$ui/package-lock.json" "$TMP/npm/"
        if ! (cd "$TMP/npm" && PUPPETEER_SKIP_DOWNLOAD=1 timeout 300 npm ci --no-audit --no-fund --prefer-offline \
                --loglevel=error) >"$TMP/npm.log" 2>&1; then
                cat "$TMP/npm.log"
                if grep -qE 'SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT|CERT_UNTRUSTED|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH' "$TMP/npm.log"; then
                        echo "SKIP [$BERTH_TEST_NAME]: the npm registry is out of reach from here"
                        exit 77
                fi
                [ "${BERTH_REQUIRE_ALL:-0}" = 1 ] && fail "npm ci failed"
                echo "SKIP [$BERTH_TEST_NAME]: npm ci failed"
                exit 77
        fi
        mods=$TMP/npm/node_modules
fi
# the driver imports puppeteer-core from a node_modules beside it
mkdir -p "$TMP/driver"
cp "$ui/browser.mjs" "$TMP/driver/"
ln -s "$mods" "$TMP/driver/node_modules"

# ---- the registry and its content ----
ADMIN_PASS=admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
USER_PASS=user-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
export BERTH_ADMIN_PASSWORD=$ADMIN_PASS
# webhooks may target 127.0.0.1 (the page adds one)
berth_start --auth basic --webhook-allow-cidr 127.0.0.1/32 --webhook-backoff 1/2
unset BERTH_ADMIN_PASSWORD
certs=$TMP/certs
mkdir -p "$certs"
cp "$BERTH_CA" "$certs/ca.crt"
api() { # METHOD PATH [JSON]
        local m=$1 p=$2
        shift 2
        bcurl -f -u "admin:$ADMIN_PASS" -X "$m" -H 'Content-Type: application/json' ${1:+--data "$1"} \
                "$BERTH_URL/api/v1$p" -o /dev/null || fail "$m $p"
}
step "users, project team (1 GiB quota), members"
for u in bob rita mike; do
        api POST /users "{\"name\":\"$u\",\"password\":\"$USER_PASS\",\"admin\":false}"
done
api POST /projects '{"name":"team","public":false,"quota":1073741824}'
api PUT /projects/team/members/bob '{"role":"developer"}'
api PUT /projects/team/members/rita '{"role":"reader"}'
api PUT /projects/team/members/mike '{"role":"maintainer"}'
# a proxy project (its upstream need not answer: the settings page shows it)
api POST /projects '{"name":"hub","proxy":{"url":"https://127.0.0.1:9","username":"u","password":"hub-upstream-pw"}}'
WEBHOOK_URL=http://127.0.0.1:$(berth_free_port)/hook

step "images pushed with skopeo"
sk() { timeout 300 skopeo --command-timeout 240s "$@"; }
idx=$(berth_mkimage "$TMP/src" --tag 1.0 --layers 2 --layer-size 300K --seed ui-multi \
        --platforms linux/amd64,linux/arm64/v8 --gzip) || fail "mkimage"
berth_mkimage "$TMP/src" --tag 2.0 --layers 3 --layer-size 200K --seed ui-single --gzip >/dev/null || fail "mkimage"
berth_mkimage "$TMP/src" --tag old --layers 1 --layer-size 100K --seed ui-old --gzip >/dev/null || fail "mkimage"
for t in 1.0 2.0 old; do
        sk copy --quiet --all --preserve-digests --dest-creds "admin:$ADMIN_PASS" --dest-cert-dir "$certs" \
                "oci:$TMP/src:$t" "docker://$BERTH_HOST/team/app:$t" || fail "skopeo copy team/app:$t"
done
sk copy --quiet --preserve-digests --dest-creds "admin:$ADMIN_PASS" --dest-cert-dir "$certs" \
        "oci:$TMP/src:old" "docker://$BERTH_HOST/team/many:t000" || fail "skopeo copy team/many"
# 120 tags on one manifest: two pages of 100
man=$TMP/src/blobs/sha256/$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "old") | .digest' \
        "$TMP/src/index.json" | cut -d: -f2)
mt=$(jq -r .mediaType "$man")
for i in $(seq 1 119); do
        printf -v t 't%03d' "$i"
        bcurl -f -u "admin:$ADMIN_PASS" -X PUT -H "Content-Type: $mt" --data-binary "@$man" \
                "$BERTH_URL/v2/team/many/manifests/$t" -o /dev/null || fail "tag $t"
done

# what the browser must show for team/app:1.0: the index's size with every child's
# manifest, config and layers; its platforms; a child's layer count
expect=$(python3 - "$TMP/src" "$idx" <<'EOF'
import json, os, sys
root, digest = sys.argv[1], sys.argv[2]
def blob(d):
    with open(os.path.join(root, "blobs", "sha256", d.split(":")[1]), "rb") as f:
        return f.read()
raw = blob(digest)
index = json.loads(raw)
size = len(raw)
plats = []
child = None
for m in index["manifests"]:
    cm = json.loads(blob(m["digest"]))
    size += m["size"] + cm["config"]["size"] + sum(l["size"] for l in cm["layers"])
    p = m["platform"]
    plats.append("/".join(x for x in (p["os"], p["architecture"], p.get("variant")) if x))
    if child is None:
        child = {"digest": m["digest"], "layers": len(cm["layers"])}
def fmt(n):
    units = ["B", "KiB", "MiB", "GiB"]
    i, v = 0, float(n)
    while v >= 1024 and i < len(units) - 1:
        v /= 1024
        i += 1
    if i == 0:
        return "%d B" % n
    return ("%.2f" if v < 10 else "%.1f" if v < 100 else "%.0f") % v + " " + units[i]
print(json.dumps({"index": {"digest": digest, "size": size, "size_text": fmt(size), "platforms": plats,
                            "manifest": index}, "child": child, "many": 120}))
EOF
) || fail "expected figures"

step "the browser walk (tests/ui/browser.mjs)"
out=$top_builddir/tests/ui-screenshots
rm -rf "$out"
mkdir -p "$out"
chmod 0700 "$out"
BASE=$BERTH_URL CHROMIUM=$chromium OUT=$out WEBHOOK_URL=$WEBHOOK_URL ADMIN_PASS=$ADMIN_PASS USER_PASS=$USER_PASS EXPECT=$expect \
        AXE=$mods/axe-core/axe.min.js timeout 600 node "$TMP/driver/browser.mjs" || fail "browser checks failed"

step "the robot account the page showed pulls through skopeo"
robot=$(jq -r .name "$out/robot.json")
secret=$(jq -r .secret "$out/robot.json")
rm -f "$out/robot.json"
sk inspect --raw --creds "$robot:$secret" --cert-dir "$certs" "docker://$BERTH_HOST/team/app:1.0" >"$TMP/pulled.json" ||
        fail "skopeo with the robot's secret"
cmp -s "$TMP/pulled.json" "$TMP/src/blobs/sha256/${idx#sha256:}" || fail "the robot pulled another manifest"
sk copy --quiet --src-creds "$robot:$secret" --src-cert-dir "$certs" "docker://$BERTH_HOST/team/app:2.0" \
        "oci:$TMP/robot-out:2.0" || fail "skopeo copy with the robot's secret"
if sk copy --quiet --dest-creds "$robot:$secret" --dest-cert-dir "$certs" "oci:$TMP/src:2.0" \
        "docker://$BERTH_HOST/team/app:robot-push" 2>/dev/null; then
        fail "a pull-only robot pushed"
fi
pass "robot $robot pulls with the secret shown once, and cannot push"
kill -0 "$BERTH_PID" || fail "berthd died"
pass "the browser walk passed; screenshots in $out"
