#!/bin/bash
# tests/ceph-rgw.sh: a throwaway single-node Ceph cluster serving S3 (RADOS Gateway) on
# 127.0.0.1, for the S3 tests of the slow tier.
#
#   tests/ceph-rgw.sh start DIR     monitor, one OSD and RGW (beast) in DIR (empty or
#                                   absent) on free ports of 127.0.0.1, an S3 user; DIR/env
#   tests/ceph-rgw.sh stop DIR      stop DIR's daemons by their PIDs (RGW, OSD, monitor)
#   tests/ceph-rgw.sh env DIR       print DIR/env
#   tests/ceph-rgw.sh rgw-stop DIR  stop only the gateway (tests of an object store that
#   tests/ceph-rgw.sh rgw-start DIR goes away), and start it again on the same port
#   tests/ceph-rgw.sh run -- CMD... start one in a temporary directory, run CMD with its
#                                   environment, stop it however CMD ends; exit with CMD's
#                                   status. With BERTH_TEST_S3_ENDPOINT already set, CMD
#                                   runs against that endpoint.
#
# Debian 12 packages: ceph-mon ceph-osd radosgw ceph-common (scripts/install-deps.sh slow).
# No manager, loop device, FUSE, kernel module or systemd. The OSD keeps its data in
# BlueStore on a sparse file of 40 GiB in DIR (BERTH_TEST_CEPH_SIZE bytes;
# BERTH_TEST_CEPH_STORE=memstore: in memory).
#
# DIR/env (sourceable) exports:
#   BERTH_TEST_S3_ENDPOINT       http://127.0.0.1:PORT
#   BERTH_TEST_S3_REGION         us-east-1
#   BERTH_TEST_S3_ACCESS_KEY, BERTH_TEST_S3_SECRET_KEY   the S3 user's keys
#   BERTH_TEST_S3_DIR            DIR
#   BERTH_TEST_S3_RGW_LOG        RGW's log (one line per request at debug_rgw 1)
#   BERTH_TEST_S3_START_SECONDS  how long the start took (CI keeps a time budget)
#
# Without the Ceph programs, `run` runs CMD without a gateway (the S3 tests skip), unless
# BERTH_REQUIRE_ALL=1: then it fails.
set -uo pipefail
export LC_ALL=C

START_TIMEOUT=${BERTH_TEST_CEPH_TIMEOUT:-120} # seconds for each stage of the start
STOP_TIMEOUT=10                                # seconds for a daemon to exit on SIGTERM

. "$(dirname "${BASH_SOURCE[0]}")/free-port.sh"

say() { echo "ceph-rgw: $*" >&2; }
die() { say "$*"; exit 1; }
usage() { die "usage: $0 start DIR | stop DIR | env DIR | run -- CMD..."; }

have_ceph() {
        local p
        for p in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool; do
                command -v "$p" >/dev/null 2>&1 || return 1
        done
}

# pid files hold "PID STARTTIME": a PID reused by another process is not ours
starttime() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0; s=${s##*) }; set -- $s; [ "$1" != Z ] && echo "${20}"; }
ours() { # NAME: 0 while DIR's daemon NAME runs
        local pid st
        [ -f "$DIR/run/$1.pid" ] || return 1
        read -r pid st < "$DIR/run/$1.pid" || return 1
        [ -n "$pid" ] && [ "$(starttime "$pid")" = "$st" ]
}
spawn() { # NAME CMD...: in its own session, logs in DIR/log/NAME.out
        local name=$1 pid
        shift
        setsid "$@" </dev/null >>"$DIR/log/$name.out" 2>&1 &
        pid=$!
        echo "$pid $(starttime "$pid")" > "$DIR/run/$name.pid"
}
halt() { # NAME: SIGTERM, wait, SIGKILL
        local pid st i
        ours "$1" || { rm -f "$DIR/run/$1.pid"; return 0; }
        read -r pid st < "$DIR/run/$1.pid"
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < STOP_TIMEOUT * 20; i++)); do
                ours "$1" || break
                sleep 0.05
        done
        if ours "$1"; then
                say "$1 (PID $pid) still running after ${STOP_TIMEOUT}s: SIGKILL"
                kill -KILL "$pid" 2>/dev/null
                sleep 0.2
        fi
        rm -f "$DIR/run/$1.pid"
}

ceph_cli() { timeout 30 ceph -c "$DIR/ceph.conf" --connect-timeout 10 "$@"; }

until_ok() { # WHAT CMD...: retry CMD until it succeeds; fail when a daemon died or time is up
        local what=$1 end=$((SECONDS + START_TIMEOUT)) n
        shift
        until "$@" >/dev/null 2>&1; do
                for n in mon osd rgw; do
                        [ -f "$DIR/run/$n.pid" ] && ! ours "$n" && die "$n exited while waiting for $what (logs in $DIR/log)"
                done
                [ $SECONDS -lt $end ] || die "no $what after ${START_TIMEOUT}s (logs in $DIR/log)"
                sleep 0.1
        done
}

osd_up() {
        ceph_cli osd dump -f json | python3 -c 'import json, sys
d = json.load(sys.stdin)
sys.exit(0 if any(o["osd"] == 0 and o["up"] and o["in"] for o in d["osds"]) else 1)'
}

s3_answers() { # a signed request of the user: RGW serves S3 with this user's keys
        [ "$(curl -s -o /dev/null -m 5 -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" \
                --user "$ACCESS:$SECRET" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
                "http://127.0.0.1:$RGW_PORT/")" = 200 ]
}

cmd_start() {
        DIR=${1:-}
        [ -n "$DIR" ] || usage
        have_ceph || die "the Ceph programs are missing (scripts/install-deps.sh slow)"
        mkdir -p "$DIR" || die "cannot create $DIR"
        DIR=$(cd "$DIR" && pwd)
        [ -z "$(ls -A "$DIR")" ] || die "$DIR is not empty"
        mkdir -p "$DIR"/{run,log,mon,osd,rgw} && touch "$DIR/.berth-ceph-rgw"
        local t0=$EPOCHREALTIME store=${BERTH_TEST_CEPH_STORE:-bluestore} fsid osd_uuid
        local mon_port mon_port1
        RGW_PORT=$(berth_free_port) && mon_port=$(berth_free_port) && mon_port1=$(berth_free_port) ||
                die "no free port"
        fsid=$(cat /proc/sys/kernel/random/uuid)
        # On failure: stop what was started, keep the logs for the reader.
        trap 'rc=$?; if [ $rc -ne 0 ]; then for f in "$DIR"/log/*.out; do [ -s "$f" ] && { echo "--- $f"; tail -n 10 "$f"; }; done >&2; halt rgw; halt osd; halt mon; fi' EXIT

        cat > "$DIR/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon_port,v1:127.0.0.1:$mon_port1]
public addr = 127.0.0.1
ms bind ipv6 = false
keyring = $DIR/keyring
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
log file = $DIR/log/\$name.log
mon cluster log file = $DIR/log/cluster.log
crash dir = $DIR/log
pid file =
log to stderr = false
err to stderr = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
# one OSD: one copy, few placement groups
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
# RGW creates its pools one after another at first start, each waiting for a map
# commit: proposing every 0.1 s instead of every second makes the start seconds shorter
paxos propose interval = 0.1

[mon]
mon data = $DIR/mon

[osd]
osd data = $DIR/osd
osd objectstore = $store
osd memory target = 939524096
osd fast shutdown notify mon = false
bluestore block create = true
bluestore block size = ${BERTH_TEST_CEPH_SIZE:-42949672960}
bluestore fsck on mount = false
bluestore fsck on mkfs = false
memstore device bytes = ${BERTH_TEST_CEPH_SIZE:-42949672960}

[client.rgw.berth]
rgw data = $DIR/rgw
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw thread pool size = 32
debug rgw = 1
# deleted objects' data is reclaimed by RGW's own GC, after 2 hours by default: a
# full OSD blocks every write (benchmarks delete 256 MiB objects round after round)
rgw gc obj min wait = 5
rgw gc processor period = 10
EOF
        {
                ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' &&
                ceph-authtool "$DIR/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' &&
                ceph-authtool "$DIR/keyring" --gen-key -n osd.0 --cap mon 'allow profile osd' --cap osd 'allow *' --cap mgr 'allow profile osd' &&
                ceph-authtool "$DIR/keyring" --gen-key -n client.rgw.berth --cap mon 'allow rw' --cap osd 'allow rwx' &&
                monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port,v1:127.0.0.1:$mon_port1]" "$DIR/monmap" &&
                ceph-mon -c "$DIR/ceph.conf" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/keyring"
        } >>"$DIR/log/setup.out" 2>&1 || die "monitor setup failed (see $DIR/log/setup.out)"
        chmod 600 "$DIR/keyring"
        spawn mon ceph-mon -c "$DIR/ceph.conf" -i a -f
        until_ok "monitor" ceph_cli mon stat

        osd_uuid=$(cat /proc/sys/kernel/random/uuid)
        [ "$(ceph_cli osd new "$osd_uuid" 2>>"$DIR/log/setup.out")" = 0 ] || die "osd new failed"
        ceph-osd -c "$DIR/ceph.conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$DIR/log/setup.out" 2>&1 ||
                die "OSD setup failed (see $DIR/log/setup.out)"
        spawn osd ceph-osd -c "$DIR/ceph.conf" -i 0 -f
        until_ok "OSD up" osd_up

        spawn rgw radosgw -c "$DIR/ceph.conf" -n client.rgw.berth -f
        until_ok "RGW listening" curl -s -o /dev/null -m 2 "http://127.0.0.1:$RGW_PORT/"
        local user
        user=$(timeout 60 radosgw-admin -c "$DIR/ceph.conf" user create --uid berth-test --display-name berth-test 2>>"$DIR/log/setup.out") ||
                die "radosgw-admin user create failed"
        ACCESS=$(jq -r '.keys[0].access_key' <<<"$user")
        SECRET=$(jq -r '.keys[0].secret_key' <<<"$user")
        until_ok "signed S3 answer" s3_answers
        local secs
        secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
        umask 077
        cat > "$DIR/env" <<EOF
export BERTH_TEST_S3_ENDPOINT=http://127.0.0.1:$RGW_PORT
export BERTH_TEST_S3_REGION=us-east-1
export BERTH_TEST_S3_ACCESS_KEY=$ACCESS
export BERTH_TEST_S3_SECRET_KEY=$SECRET
export BERTH_TEST_S3_DIR=$DIR
export BERTH_TEST_S3_RGW_LOG=$DIR/log/client.rgw.berth.log
export BERTH_TEST_S3_START_SECONDS=$secs
EOF
        trap - EXIT
        say "RGW on 127.0.0.1:$RGW_PORT, ready in ${secs}s ($store)"
}

cmd_stop() {
        DIR=${1:-}
        [ -n "$DIR" ] || usage
        [ -d "$DIR" ] || return 0
        [ -f "$DIR/.berth-ceph-rgw" ] || die "$DIR was not made by $0: not touching it"
        # RGW talks to the OSD while it stops, and both to the monitor: in this order
        halt rgw
        halt osd
        halt mon
}

cmd_rgw() { # stop|start DIR
        DIR=${2:-}
        [ -f "$DIR/.berth-ceph-rgw" ] || die "$DIR was not made by $0"
        if [ "$1" = stop ]; then
                halt rgw
                return
        fi
        ours rgw && return 0
        RGW_PORT=$(sed -n 's/^rgw frontends = beast endpoint=127.0.0.1:\([0-9]*\)$/\1/p' "$DIR/ceph.conf")
        spawn rgw radosgw -c "$DIR/ceph.conf" -n client.rgw.berth -f
        until_ok "RGW listening" curl -s -o /dev/null -m 2 "http://127.0.0.1:$RGW_PORT/"
}

cmd_run() {
        local dir child rc=0 self=$0
        [ "${1:-}" = -- ] && shift
        [ $# -gt 0 ] || usage
        if [ -n "${BERTH_TEST_S3_ENDPOINT:-}" ]; then
                say "using the S3 endpoint $BERTH_TEST_S3_ENDPOINT"
                exec "$@"
        fi
        if ! have_ceph; then
                [ "${BERTH_REQUIRE_ALL:-0}" = 1 ] && die "no Ceph programs (BERTH_REQUIRE_ALL=1; scripts/install-deps.sh slow)"
                say "no Ceph programs: running without an S3 gateway (its tests skip)"
                exec "$@"
        fi
        dir=$(mktemp -d "${TMPDIR:-/tmp}/berth-rgw.XXXXXX") || die "mktemp failed"
        child=
        trap 'bash "$self" stop "$dir" >/dev/null; rm -rf "$dir"' EXIT
        trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; exit 130' INT
        trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; exit 143' TERM
        if bash "$self" start "$dir"; then
                # shellcheck disable=SC1091
                . "$dir/env"
        else
                say "the gateway did not start: running without it (the S3 tests skip)"
                [ "${BERTH_REQUIRE_ALL:-0}" = 1 ] && rc=1
        fi
        "$@" &
        child=$!
        wait "$child"
        local crc=$?
        child=
        [ $rc -eq 0 ] && rc=$crc
        exit $rc
}

case ${1:-} in
start) cmd_start "${2:-}" ;;
stop) cmd_stop "${2:-}" ;;
env) DIR=${2:-}; [ -f "$DIR/env" ] && cat "$DIR/env" ;;
run) shift; cmd_run "$@" ;;
rgw-stop) cmd_rgw stop "${2:-}" ;;
rgw-start) cmd_rgw start "${2:-}" ;;
*) usage ;;
esac
