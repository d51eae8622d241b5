#!/usr/bin/env bash
# The pull-through cache (issue 13) timed (not a test: prints figures).
#
#   make bench-proxy      (or, from a build directory: tests/bench/proxy-bench.sh)
#
# Upstream: Debian's docker-registry on 127.0.0.1 over TLS (its own EC P-256
# certificate; BENCH_UPSTREAM_TLS=0: plain HTTP), access log on, holding
# img:v1, an image of BENCH_LAYERS (4) layers of BENCH_LAYER_MB (50) MiB of
# pseudo-random bytes (they do not compress). berthd (HTTPS, --auth none) has a proxy
# project `proxyproj` on that upstream (--proxy-ttl BENCH_TTL, default 3600 s).
# Every pull is `skopeo copy docker://… dir:…` into a fresh directory on tmpfs
# (TMPDIR, default /dev/shm): the registries' data is there too, so disks do not count.
#
#   (a) cold: berthd is started on an empty data directory and the image pulled
#       through it (every blob fetched from the upstream while it streams), against a
#       pull of the same image straight from the upstream. Target: at most 10% slower.
#   (b) warm: the image pulled again through the proxy project (all cached, the tag
#       within its TTL), against the same image pushed into a normal project
#       `native` of the same berthd. Target: equal.
#   (c) upstream requests per warm pull, from the upstream's access log: during the
#       warm pulls of (b) (within the TTL: target 0), then for a project `shortttl`
#       with --proxy-ttl BENCH_SHORT_TTL (2) s pulled BENCH_ROUNDS times with a sleep
#       past the TTL before each (target: one HEAD of the manifest per pull, nothing
#       else).
#
# BENCH_ROUNDS (5) rounds of each, interleaved (cold through berth, then direct; warm
# proxy, then native); the figures are each side's median, minimum and maximum. The
# load average is printed before and after: the machine may be shared.
# Environment: BERTHD (top_builddir/berthd), BENCH_ROUNDS, BENCH_LAYERS,
# BENCH_LAYER_MB, BENCH_TTL, BENCH_SHORT_TTL, BENCH_UPSTREAM_TLS, TMPDIR, and
# BENCH_LINK_MBIT: the upstream reached (by berth and by the direct pulls alike)
# through a relay passing its answers at that many Mbit/s, as a public upstream is,
# instead of straight over loopback where the three processes share the CPUs.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
export TMPDIR=${TMPDIR:-/dev/shm}
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
berth_require curl python3 skopeo docker-registry openssl
BERTHD=${BERTHD:-$top_builddir/berthd}
[ -x "$BERTHD" ] || fail "no berthd at $BERTHD (set BERTHD)"
ROUNDS=${BENCH_ROUNDS:-5}
LAYERS=${BENCH_LAYERS:-4}
LAYER_MB=${BENCH_LAYER_MB:-50}
TTL=${BENCH_TTL:-3600}
SHORT_TTL=${BENCH_SHORT_TTL:-2}
UP_TLS=${BENCH_UPSTREAM_TLS:-1}
LINK_MBIT=${BENCH_LINK_MBIT:-}
berth_tmpdir

bd() { timeout 60 "$BERTHD" --data "$TMP/data" "$@"; }
sk() { timeout 600 skopeo --command-timeout 590s "$@"; }
now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print('%.3f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$2"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# berthd's CPU time so far (user + system), in seconds
berth_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.3f\n", ($12 + $13) / hz }' "/proc/$BERTH_PID/stat"; }
# pull SRC: skopeo copy into a fresh dir: on tmpfs; prints the seconds taken
pull() {
        local t0 t1
        rm -rf "$TMP/pulled"
        t0=$(now)
        sk copy --quiet "$@" "dir:$TMP/pulled" >/dev/null || return 1
        t1=$(now)
        elapsed "$t0" "$t1"
}
# upstream access-log lines for /v2/ requests after byte OFFSET
uplog_since() { tail -c +$(($1 + 1)) "$TMP/up.log" | grep -E '"(GET|HEAD) /v2/[^ ]' ; }
uplog_size() { stat -c %s "$TMP/up.log"; }

say() { echo "proxy-bench: $*" >&2; }
say "load average at start: $(loadavg) ($(nproc) CPUs); data on $TMPDIR"

# ---- the upstream ----
UP_PORT=$(berth_free_port) || fail "no free port"
UP=127.0.0.1:$UP_PORT
mkdir -p "$TMP/up-data"
tls_line=
up_scheme=http
if [ "$UP_TLS" = 1 ]; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
                -addext subjectAltName=IP:127.0.0.1 -keyout "$TMP/up.key" -out "$TMP/up.crt" >/dev/null 2>&1 ||
                fail "openssl"
        tls_line=", tls: {certificate: $TMP/up.crt, key: $TMP/up.key}"
        up_scheme=https
        mkdir -p "$TMP/up-certs" && cp "$TMP/up.crt" "$TMP/up-certs/ca.crt"
fi
cat >"$TMP/up.yml" <<EOF
version: 0.1
log: {level: warn, accesslog: {disabled: false}}
storage: {filesystem: {rootdirectory: $TMP/up-data}}
http: {addr: "$UP", secret: berth-proxy-bench$tls_line}
EOF
docker-registry serve "$TMP/up.yml" >>"$TMP/up.log" 2>&1 &
berth_track_pid $!
berth_wait_for 15 curl -sk -o /dev/null "$up_scheme://$UP/v2/" || fail "the upstream does not start"
if [ "$UP_TLS" = 1 ]; then
        up_src=(--src-cert-dir "$TMP/up-certs")
        proxy_ca=(--proxy-ca "$TMP/up.crt")
else
        up_src=(--src-tls-verify=false)
        proxy_ca=()
fi

say "image: $LAYERS layers of $LAYER_MB MiB of random bytes"
berth_mkimage "$TMP/img" --tag v1 --layers "$LAYERS" --layer-size "${LAYER_MB}M" --seed proxy-bench >/dev/null ||
        fail "mkimage"
sk copy --quiet --dest-tls-verify=false "oci:$TMP/img:v1" "docker://$UP/img:v1" || fail "push to the upstream"
total=$(du -sb "$TMP/img/blobs" | cut -f1)
say "pushed to the upstream ($up_scheme://$UP): $((total / 1048576)) MiB of blobs"
# the address pulls use: the upstream itself, or with BENCH_LINK_MBIT a relay that
# stands in for a wide-area link (tests/bench/link.py), used by both sides alike
UPX=$UP
if [ -n "$LINK_MBIT" ]; then
        LINK_PORT=$(berth_free_port) || fail "no free port"
        python3 "$(dirname "${BASH_SOURCE[0]}")/link.py" "$LINK_PORT" "$UP_PORT" "$((LINK_MBIT * 125000))" &
        berth_track_pid $!
        UPX=127.0.0.1:$LINK_PORT
        berth_wait_for 15 curl -sk -o /dev/null "$up_scheme://$UPX/v2/" || fail "the link relay does not start"
        say "upstream reached through a $LINK_MBIT Mbit/s link ($UPX)"
fi

# ---- berthd on an empty data directory, with the proxy project ----
fresh_berth() {
        [ -z "$BERTH_PID" ] || berth_stop >/dev/null
        rm -rf "$TMP/data"
        bd project create proxyproj --public --proxy "$up_scheme://$UPX" "${proxy_ca[@]}" --proxy-ttl "$TTL" \
                >"$TMP/out" 2>&1 || fail "project create proxyproj: $(cat "$TMP/out")"
        berth_start >/dev/null
        mkdir -p "$TMP/certs" && cp "$BERTH_CA" "$TMP/certs/ca.crt" || fail "certs"
}

# ---- (a) cold ----
cold=() direct=() cold_cpu=()
for r in $(seq "$ROUNDS"); do
        fresh_berth
        off=$(uplog_size)
        c0=$(berth_cpu)
        t=$(pull --src-cert-dir "$TMP/certs" "docker://$BERTH_HOST/proxyproj/img:v1") || fail "cold pull through berth"
        cold_cpu+=("$(elapsed "$c0" "$(berth_cpu)")")
        cold+=("$t")
        [ "$(uplog_since "$off" | grep -c '"GET /v2/img/blobs/')" -ge "$LAYERS" ] ||
                fail "round $r: the cold pull did not fetch the layers from the upstream"
        t=$(pull "${up_src[@]}" "docker://$UPX/img:v1") || fail "direct pull from the upstream"
        direct+=("$t")
        say "(a) round $r: cold through berth ${cold[-1]} s, direct ${direct[-1]} s"
done

# ---- (b) warm, and (c) within the TTL ----
bd project create native --public >/dev/null || fail "project create native"
sk copy --quiet --dest-cert-dir "$TMP/certs" "oci:$TMP/img:v1" "docker://$BERTH_HOST/native/img:v1" ||
        fail "native push"
warm=() native=() warm_cpu=()
off=$(uplog_size)
for r in $(seq "$ROUNDS"); do
        c0=$(berth_cpu)
        t=$(pull --src-cert-dir "$TMP/certs" "docker://$BERTH_HOST/proxyproj/img:v1") || fail "warm pull"
        warm_cpu+=("$(elapsed "$c0" "$(berth_cpu)")")
        warm+=("$t")
        t=$(pull --src-cert-dir "$TMP/certs" "docker://$BERTH_HOST/native/img:v1") || fail "native pull"
        native+=("$t")
        say "(b) round $r: warm through the proxy ${warm[-1]} s, native ${native[-1]} s"
done
warm_reqs=$(uplog_since "$off" | wc -l)

# ---- (c) a short TTL ----
bd project create shortttl --public --proxy "$up_scheme://$UPX" "${proxy_ca[@]}" --proxy-ttl "$SHORT_TTL" \
        >/dev/null || fail "project create shortttl"
sleep 2.5 # the server reads the proxy projects at most every 2 s
pull --src-cert-dir "$TMP/certs" "docker://$BERTH_HOST/shortttl/img:v1" >/dev/null ||
        fail "first pull through shortttl"
off=$(uplog_size)
for r in $(seq "$ROUNDS"); do
        sleep "$(python3 -c "print($SHORT_TTL + 0.5)")"
        pull --src-cert-dir "$TMP/certs" "docker://$BERTH_HOST/shortttl/img:v1" >/dev/null ||
                fail "pull past the TTL"
done
uplog_since "$off" >"$TMP/past-ttl"
past_heads=$(grep -c '"HEAD /v2/img/manifests/v1 ' "$TMP/past-ttl")
past_all=$(wc -l <"$TMP/past-ttl")
berth_stop >/dev/null

# ---- figures ----
say "load average at end: $(loadavg)"
python3 - "$ROUNDS" "$((total / 1048576))" "${cold[*]}" "${direct[*]}" "${warm[*]}" "${native[*]}" \
        "${cold_cpu[*]}" "${warm_cpu[*]}" <<'PY'
import statistics, sys
rounds, mib = int(sys.argv[1]), int(sys.argv[2])
cold, direct, warm, native, cold_cpu, warm_cpu = ([float(x) for x in a.split()] for a in sys.argv[3:9])
def row(name, xs):
    m = statistics.median(xs)
    print("  %-34s median %6.2f s (%4.0f MiB/s)  min %6.2f  max %6.2f" % (name, m, mib / m, min(xs), max(xs)))
    return m
print("proxy-bench: %d MiB image, %d rounds" % (mib, rounds))
print("(a) cold pull")
c = row("through berth (empty cache)", cold)
d = row("straight from the upstream", direct)
print("  berth/direct = %.2f (target <= 1.10)" % (c / d))
print("  berthd CPU per cold pull: median %.2f s (user + system; a warm pull: %.2f s)"
      % (statistics.median(cold_cpu), statistics.median(warm_cpu)))
print("(b) warm pull")
w = row("proxy project (cached)", warm)
n = row("native project", native)
print("  proxy/native = %.2f (target 1.00)" % (w / n))
PY
echo "(c) upstream requests: $warm_reqs in $ROUNDS warm pulls within the TTL ($TTL s) (target 0);"
echo "    $past_all in $ROUNDS pulls each past a $SHORT_TTL s TTL, of which $past_heads HEAD of the manifest (target $ROUNDS HEADs, nothing else)"
