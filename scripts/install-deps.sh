#!/bin/bash
# Install the Debian packages that building berth and running its tests need.
# Non-interactive and idempotent (nothing is downloaded when all are present).
# Works on a fresh Debian 12 as root; uses sudo otherwise.
#   scripts/install-deps.sh [TIER...]
# With no tier: building and the default test tier (`make check`). Tiers add what only
# they need: `slow` (the deploy demo and manifests, Prometheus, PostgreSQL and haproxy,
# chromium and the npm packages of the web UI's browser test:
# make check-slow), `fuzz` (clang for the libFuzzer targets: scripts/fuzz-smoke.sh),
# `coverage` (lcov for gcov's counters: scripts/coverage.sh).
set -euo pipefail

npm_dirs=()    # npm packages pinned by a lock file, installed with `npm ci` in these folders
packages=(
        # build
        build-essential autoconf automake libtool pkg-config
        libmicrohttpd-dev libssl-dev libsqlite3-dev libpq-dev libargon2-dev libjansson-dev
        libcurl4-openssl-dev libcmocka-dev
        # tests: clients, the reference registry, helpers
        curl ca-certificates openssl python3 python3-cryptography jq util-linux wrk
        skopeo podman containernetworking-plugins docker.io containerd docker-registry apache2-utils
        iproute2 procps diffutils coreutils
        # the man pages are checked with groff, the systemd unit with systemd-analyze
        groff-base systemd
)
for tier in "$@"; do
        case $tier in
        slow)
                # deploy tests: compose demo, base image from Debian packages
                packages+=(docker-compose debootstrap)
                # metrics test: a real Prometheus scrapes berthd, promtool checks the exposition
                packages+=(prometheus)
                # PostgreSQL metadata (tests/pg-server.sh: one server per run) and haproxy
                # in front of replicas
                packages+=(postgresql haproxy)
                # blobs in S3: a single-node Ceph cluster with its RADOS Gateway
                # (tests/ceph-rgw.sh: monitor, one OSD, RGW; no manager)
                packages+=(ceph-mon ceph-osd radosgw ceph-common)
                # manifest validation runs on Node.js; a machine that already has node and
                # npm (from another source, such as NodeSource's nodejs, which conflicts
                # with Debian's npm) keeps them
                if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
                        packages+=(nodejs npm)
                fi
                # the web UI's browser test (tests/integration/ui-browser.sh): Debian's
                # chromium, driven by the npm packages of tests/ui (after the apt step)
                packages+=(chromium)
                npm_dirs+=(tests/ui)
                ;;
        fuzz) packages+=(clang libclang-rt-14-dev time) ;; # time: CPU seconds in tests/fuzz/campaign.sh
        # lcov reads gcov's counters; the metadata tests also run on PostgreSQL
        coverage) packages+=(lcov postgresql) ;;
        *) echo "install-deps: unknown tier '$tier' (slow, fuzz, coverage)" >&2; exit 2 ;;
        esac
done

missing=()
for p in "${packages[@]}"; do
        if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
                missing+=("$p")
        fi
done
# npm_install: `npm ci` in each folder of npm_dirs whose node_modules is older than its
# lock file (no browser download: the tests use Debian's chromium). Without the npm
# registry it only warns: the tests that need the packages install or skip themselves.
npm_install() {
        local src d
        src=$(cd "$(dirname "$0")/.." && pwd)
        for d in "${npm_dirs[@]}"; do
                [ "$src/$d/node_modules/.package-lock.json" -nt "$src/$d/package-lock.json" ] && continue
                echo "install-deps: npm ci in $d"
                (cd "$src/$d" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) ||
                        echo "install-deps: npm ci failed in $d (its tests will try again or skip)" >&2
        done
        return 0
}

if [ ${#missing[@]} -eq 0 ]; then
        echo "install-deps: all ${#packages[@]} packages present"
        npm_install
        exit
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "install-deps: run as root (or install sudo)" >&2; exit 1; }
        as_root=(sudo)
fi

# Without an init system (a container or a chroot), installing docker.io must not try
# to start services; policy-rc.d (exit 101) tells invoke-rc.d so for this run only.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -d /run/systemd/system ] && [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" >/dev/null
        "${as_root[@]}" chmod 0755 "$policy"
        own_policy=1
fi
cleanup() { [ "$own_policy" = 1 ] && "${as_root[@]}" rm -f "$policy"; return 0; }
trap cleanup EXIT

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends -o Dpkg::Options::=--force-confdef \
        -o Dpkg::Options::=--force-confold "${packages[@]}"
npm_install
echo "install-deps: done"
