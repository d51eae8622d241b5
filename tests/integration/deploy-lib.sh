# tests/integration/deploy-lib.sh: helpers for the deploy tests (sourced after lib.sh).
#
#   deploy_docker       use the running docker daemon, or start a private one (vfs, no
#                       iptables, no bridge) with its data under TMP; exports DOCKER_HOST
#   deploy_base_image   make debian:bookworm-slim from Debian packages when docker has
#                       no such image (debootstrap --variant=minbase, then docker import);
#                       the root file system is cached as a tarball between runs
#
# Settings (environment):
#   BERTH_DEPLOY_CACHE   where the base tarball is kept [/var/tmp/berth-deploy-cache]
#   BERTH_DEBIAN_MIRROR  Debian mirror for debootstrap [the first one apt is configured with]

: "${BERTH_DEPLOY_CACHE:=/var/tmp/berth-deploy-cache}"

dk() { timeout 600 docker "$@"; }

deploy_docker() { berth_dockerd; }

# The Debian mirror apt uses here (one-line or deb822 sources), else deb.debian.org.
_deploy_mirror() {
        local m
        if [ -n "${BERTH_DEBIAN_MIRROR:-}" ]; then
                echo "$BERTH_DEBIAN_MIRROR"
                return
        fi
        m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
                grep -v '^[[:space:]]*#' | grep -oE 'https?://[^[:space:]]+/debian/?([[:space:]]|$)' |
                grep -v security | head -n 1 | tr -d '[:space:]')
        echo "${m:-http://deb.debian.org/debian}"
}

# A minbase Debian 12 trimmed the way the slim images are: no documentation, manual
# pages or locales (and dpkg told to keep it so), no package lists or archives.
_deploy_make_rootfs() {
        local root=$1 mirror
        mirror=$(_deploy_mirror)
        step "debootstrap --variant=minbase bookworm from $mirror (once; cached in $BERTH_DEPLOY_CACHE)"
        timeout 900 debootstrap --variant=minbase bookworm "$root" "$mirror" >"$TMP/debootstrap.log" 2>&1 ||
                { tail -n 20 "$TMP/debootstrap.log" >&2; fail "debootstrap failed"; }
        mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
        printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
                'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
                'path-exclude /usr/share/locale/*' 'path-include /usr/share/locale/locale.alias' \
                >"$root/etc/dpkg/dpkg.cfg.d/slim"
        find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
        find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
        rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/lib/apt/lists/* \
                "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/log/*.log
        find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
}

deploy_base_image() {
        local tarball=$BERTH_DEPLOY_CACHE/bookworm-minbase.tar root
        if dk image inspect debian:bookworm-slim >/dev/null 2>&1; then
                step "debian:bookworm-slim is present"
                return 0
        fi
        if [ ! -s "$tarball" ]; then
                berth_require debootstrap
                root=$TMP/rootfs
                _deploy_make_rootfs "$root"
                mkdir -p "$BERTH_DEPLOY_CACHE"
                tar -C "$root" --numeric-owner -cf "$tarball.tmp.$$" . || fail "tar of the root file system"
                mv "$tarball.tmp.$$" "$tarball"
                rm -rf "$root"
        fi
        step "docker import of the cached root file system as debian:bookworm-slim"
        dk import - debian:bookworm-slim <"$tarball" >/dev/null || fail "docker import"
        [ "$BERTH_OWN_DOCKERD" = 1 ] || berth_on_exit "docker rmi debian:bookworm-slim"
}
