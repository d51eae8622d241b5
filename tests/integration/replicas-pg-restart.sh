#!/bin/bash
# Several replicas (issue 10, docs/replicas.md), slow tier: PostgreSQL restarting under
# load. Three berthd on a PostgreSQL server of this script's own (berth_pg_own, so that
# the run's shared server is left alone) and one data directory, behind haproxy
# (replicas-lib.sh). Workers push (a monolithic blob upload and a manifest PUT) and pull
# through the balancer, with curl --max-time, while the server
# - restarts (tests/pg-server.sh restart: a fast shutdown ends every session), and
# - stops for a while and starts again: meanwhile every replica's /readyz is 503 and
#   /healthz 200, a request that needs the database is a 503 UNAVAILABLE with
#   Retry-After, and haproxy, its health checks failing, has no replica left.
# Every answer is a success or a clean 503 (berthd's, or haproxy's own while no replica
# is ready): never a 500, a 502 or 504, never a hang. Afterwards /readyz is 200 again on
# every replica, none restarted, and every manifest acknowledged with a 201 pulls with
# its digest through the balancer and from every replica.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/replicas-lib.sh"
set -e

berth_require curl jq haproxy python3 sha256sum
t_start=$SECONDS
timing() { echo "---- [$BERTH_TEST_NAME] timing: $1 at $((SECONDS - t_start)) s"; }

berth_pg_own
rep_init
rep_cluster
ha_start
timing "PostgreSQL, cluster and haproxy up"
PG=(bash "$top_srcdir/tests/pg-server.sh")
OCI_M=application/vnd.oci.image.manifest.v1+json
OCI_C=application/vnd.oci.image.config.v1+json

# --- the load ---------------------------------------------------------------------------
# worker W: push and pull through the balancer until $TMP/stop exists. One line per
# answer in $TMP/res.W: "METHOD STATUS KIND" (KIND: ok, berthd503 = berthd's 503
# UNAVAILABLE with Retry-After, haproxy503 = haproxy's own, bad = anything else);
# every manifest acknowledged (201) in $TMP/acked.W as "REPO TAG DIGEST".
worker() {
        local w=$1 n=0 st kind d md repo=load/w$1 last='' h=$TMP/w$1.h b=$TMP/w$1.b
        : >"$TMP/res.$w"
        : >"$TMP/acked.$w"
        # req METHOD URL [CURL ARGS...]: sets st and kind, logs the answer
        req() {
                local m=$1 u=$2
                shift 2
                : >"$h"
                : >"$b"
                st=$(curl -s --max-time 10 --cacert "$BERTH_CA" -u "admin:$ADMIN_PW" -X "$m" -D "$h" -o "$b" \
                        -w '%{http_code}' "$@" "$u" 2>/dev/null) || true
                [ -n "$st" ] || st=000
                case $st in
                200 | 201 | 202) kind=ok ;;
                503)
                        if grep -q '"UNAVAILABLE"' "$b" && grep -qi '^retry-after: *[0-9]' "$h"; then
                                kind=berthd503
                        elif grep -qi 'no server is available' "$b"; then
                                kind=haproxy503
                        else
                                kind=bad
                        fi
                        ;;
                *) kind=bad ;;
                esac
                echo "$m $st $kind $(head -c 200 "$b" | tr -d '\r\n')" >>"$TMP/res.$w"
        }
        while [ ! -e "$TMP/stop" ]; do
                n=$((n + 1))
                printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"worker":%d,"n":%d}' \
                        "$w" "$n" >"$TMP/w$w.cfg"
                d=sha256:$(sha256sum "$TMP/w$w.cfg" | cut -d' ' -f1)
                req POST "$HA_URL/v2/$repo/blobs/uploads/?digest=$d" -H 'Content-Type: application/octet-stream' \
                        --data-binary "@$TMP/w$w.cfg"
                if [ "$st" = 201 ]; then
                        printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","digest":"%s","size":%d},"layers":[]}' \
                                "$OCI_M" "$OCI_C" "$d" "$(wc -c <"$TMP/w$w.cfg")" >"$TMP/w$w.m"
                        md=sha256:$(sha256sum "$TMP/w$w.m" | cut -d' ' -f1)
                        req PUT "$HA_URL/v2/$repo/manifests/t$n" -H "Content-Type: $OCI_M" --data-binary "@$TMP/w$w.m"
                        if [ "$st" = 201 ]; then
                                echo "$repo t$n $md" >>"$TMP/acked.$w"
                                last=t$n
                        fi
                fi
                [ -n "$last" ] && req GET "$HA_URL/v2/$repo/manifests/$last" -H "Accept: $OCI_M"
        done
}
acked() { cat "$TMP"/acked.* 2>/dev/null | wc -l; }
# mark M: the number of answers each worker has logged so far, in $TMP/mark.M
mark() { for w in 1 2 3; do wc -l <"$TMP/res.$w"; done >"$TMP/mark.$1"; }
# between M1 M2: the answers logged between two marks ("METHOD STATUS KIND ..."), but
# the first after M1 of each worker: that request may have been sent before M1
between() {
        local w a b
        for w in 1 2 3; do
                a=$(sed -n "${w}p" "$TMP/mark.$1")
                b=$(sed -n "${w}p" "$TMP/mark.$2")
                [ "$b" -gt $((a + 1)) ] && sed -n "$((a + 2)),${b}p" "$TMP/res.$w"
        done
        return 0
}
acked_at_least() { [ "$(acked)" -ge "$1" ]; }
# answers KIND: how many answers of that kind so far
answers() { cat "$TMP"/res.* 2>/dev/null | awk -v k="$1" '$3 == k' | wc -l; }

step "load: three workers pushing and pulling through the balancer"
WORKERS=()
for w in 1 2 3; do
        worker "$w" &
        WORKERS+=($!)
        berth_track_pid "$!"
done
berth_wait_for 30 acked_at_least 15 || fail "the workers had $(acked) manifests acknowledged in 30 s, want 15"
pass "$(acked) manifests acknowledged before the restart"
timing "load running"

# --- a restart ----------------------------------------------------------------------------
step "PostgreSQL restarts (fast shutdown, start on the same port) under the load"
n0=$(acked)
"${PG[@]}" restart "$TMP/pg" || fail "tests/pg-server.sh restart"
# shellcheck disable=SC1091  # written by tests/pg-server.sh
. "$TMP/pg/env"
timing "PostgreSQL restarted"
# every_ready: /readyz 200 on every replica (asked directly)
every_ready() {
        local i
        for i in $(seq 1 "$REP_N"); do rep_ready "$i" || return 1; done
}
berth_wait_for 30 every_ready || fail "not every replica ready within 30 s of the restart"
for i in $(seq 1 "$REP_N"); do
        ha_wait "r$i" UP 10 || fail "haproxy does not see r$i UP again ($(ha_state "r$i"))"
done
mark 1
berth_wait_for 30 acked_at_least $((n0 + 15)) || fail "no 15 more acknowledged pushes within 30 s of the restart"
pass "every replica ready and in the rotation again, $(( $(acked) - n0 )) more manifests acknowledged"
timing "ready after the restart"

# --- an outage ------------------------------------------------------------------------------
step "PostgreSQL down for a while, then up again, under the load"
mark 2
"${PG[@]}" stop "$TMP/pg" || fail "tests/pg-server.sh stop"
# none_ready: /readyz 503 on every replica
none_ready() {
        local i
        for i in $(seq 1 "$REP_N"); do [ "$(rep_code "${REP_URL[$i]}/readyz")" = 503 ] || return 1; done
}
berth_wait_for 15 none_ready || fail "a replica still says ready 15 s after the database stopped"
pass "every replica's /readyz is 503 without the database"
for i in $(seq 1 "$REP_N"); do
        [ "$(rep_code "${REP_URL[$i]}/healthz")" = 200 ] || fail "r$i: /healthz is not 200 without the database"
done
pass "/healthz stays 200"
curl -s --max-time 10 --cacert "$BERTH_CA" -u "admin:$ADMIN_PW" -D "$TMP/down.h" -o "$TMP/down.b" \
        -H "Accept: $OCI_M" "${REP_URL[1]}/v2/load/w1/manifests/t1" >/dev/null 2>&1 || true
head -n 1 "$TMP/down.h" | grep -q ' 503' || fail "r1 without the database: $(head -n 1 "$TMP/down.h"), want 503"
grep -qi '^retry-after: *[0-9]' "$TMP/down.h" || fail "r1's 503 without the database has no Retry-After"
jq -e '.errors[0].code == "UNAVAILABLE"' "$TMP/down.b" >/dev/null || fail "r1's 503: $(head -c 300 "$TMP/down.b")"
pass "a request that needs the database: 503 UNAVAILABLE with Retry-After"
for i in $(seq 1 "$REP_N"); do
        ha_wait "r$i" DOWN 10 || fail "haproxy still has r$i in the rotation ($(ha_state "r$i"))"
done
pass "haproxy has taken every replica out of the rotation"
timing "outage seen"
n0=$(acked)
"${PG[@]}" restart "$TMP/pg" || fail "tests/pg-server.sh restart (start after the stop)"
# shellcheck disable=SC1091  # written by tests/pg-server.sh
. "$TMP/pg/env"
berth_wait_for 30 every_ready || fail "not every replica ready within 30 s of the database's return"
for i in $(seq 1 "$REP_N"); do
        ha_wait "r$i" UP 10 || fail "haproxy does not see r$i UP again ($(ha_state "r$i"))"
done
mark 3
berth_wait_for 30 acked_at_least $((n0 + 15)) || fail "no 15 more acknowledged pushes within 30 s of the database's return"
pass "every replica ready and in the rotation again, $(( $(acked) - n0 )) more manifests acknowledged"
timing "ready after the outage"

touch "$TMP/stop"
for p in "${WORKERS[@]}"; do wait "$p" || fail "a worker failed"; done
mark 4

# --- what the load saw ------------------------------------------------------------------------
step "every answer was a success or a clean 503"
for i in $(seq 1 "$REP_N"); do
        kill -0 "${REP_PID[$i]}" 2>/dev/null || fail "replica r$i is gone"
done
pass "r1, r2, r3 are the processes started at the beginning"
echo "answers: $(answers ok) ok, $(answers berthd503) berthd 503, $(answers haproxy503) haproxy 503, $(answers bad) other"
if [ "$(answers bad)" -gt 0 ]; then
        cat "$TMP"/res.* | awk '$3 == "bad"' | sort | uniq -c | sort -rn | head -n 20 >&2
        fail "$(answers bad) answers were neither a success nor a clean 503"
fi
[ "$(answers berthd503)" -gt 0 ] || [ "$(answers haproxy503)" -gt 0 ] ||
        fail "no 503 at all: the load did not meet the restarts"
# once every replica is ready and in the rotation again, nothing fails: no connection
# broken by the restart is left to fail a request
for span in "1 2" "3 4"; do
        # shellcheck disable=SC2086  # two marks
        between $span | awk '$3 != "ok"' >"$TMP/late"
        if [ -s "$TMP/late" ]; then
                sort "$TMP/late" | uniq -c | head -n 20 >&2
                fail "$(wc -l <"$TMP/late") requests failed after every replica was back (between marks $span)"
        fi
done
pass "once the replicas were back, every request succeeded ($(between 1 2 | wc -l) + $(between 3 4 | wc -l) answers)"
if grep -E ' (GET|HEAD|POST|PUT|PATCH|DELETE) [^ ]+ 5[0-9][0-9] ' "$TMP/berthd.log" | grep -v ' 503 ' >"$TMP/5xx"; then
        head -n 20 "$TMP/5xx" >&2
        fail "replicas answered with a server error other than 503"
fi
pass "no 500 (nor any 5xx but 503) in the replicas' logs, no hang, no 502/504"

step "every acknowledged manifest is there"
total=0
while read -r repo tag dig; do
        total=$((total + 1))
        i=$(( total % REP_N + 1 ))
        for u in "$HA_URL" "${REP_URL[$i]}"; do
                curl -sS --max-time 10 --cacert "$BERTH_CA" -u "admin:$ADMIN_PW" -H "Accept: $OCI_M" \
                        -o "$TMP/m" "$u/v2/$repo/manifests/$tag" || fail "GET $repo:$tag from $u"
                got=sha256:$(sha256sum "$TMP/m" | cut -d' ' -f1)
                [ "$got" = "$dig" ] || fail "$repo:$tag from $u: $got, acknowledged as $dig ($(head -c 200 "$TMP/m"))"
        done
done < <(cat "$TMP"/acked.*)
pass "$total acknowledged manifests pull by tag with their digests (through haproxy, and from r1, r2, r3 in turn)"
timing "done"
