#!/usr/bin/env bash
# Metrics: a real Prometheus scrapes berthd's metrics listener every second. The
# target is up, registry_http_requests_total grows by the requests this test made,
# the duration histogram has its buckets, blobs and bytes stored match a push, the
# usage per project matches `berthd usage` at each scrape (the kept figures), the quota
# gauge follows `berthd quota set`,
# and promtool finds nothing wrong in the exposition. The registry's own port has no
# /metrics. (Slow tier: needs Debian's prometheus package.)
. "$(dirname "$0")/lib.sh"
berth_require curl jq prometheus promtool python3
berth_tmpdir
MPORT=$(berth_free_port) || fail "no free port"
berth_start --insecure-http --metrics-listen "127.0.0.1:$MPORT"
MURL=http://127.0.0.1:$MPORT
# usage_json PROJECT: what `berthd usage PROJECT --json` counts, as "BLOBS BYTES"
usage_json() {
        "$top_builddir/berthd" --data "$BERTH_DATA" usage "$1" --json |
                jq -r '.projects[0] | "\(.blobs) \(.bytes)"'
}
# a blob in project "early" before the first scrape: the first count has it
printf 'early blob\n' >"$TMP/early"
code=$(bcurl -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/octet-stream' \
        --data-binary @"$TMP/early" "$BERTH_URL/v2/early/app/blobs/uploads/?digest=sha256:$(sha256sum "$TMP/early" |
        cut -d' ' -f1)") || fail "push to early/app"
[ "$code" = 201 ] || fail "push to early/app answered $code"

step "the exposition"
curl -sS --max-time 10 -o "$TMP/m1.txt" -w '%{http_code} %{content_type}\n' "$MURL/metrics" >"$TMP/m1.code" ||
        fail "GET /metrics"
grep -q '^200 text/plain; version=0.0.4' "$TMP/m1.code" || fail "GET /metrics: $(cat "$TMP/m1.code")"
for m in registry_http_in_flight_requests berth_http_received_bytes_total berth_http_sent_bytes_total \
         berth_connections_open berth_connections_refused_total berth_auth_results_total \
         berth_auth_argon2_queue_depth berth_blobs_stored berth_blob_bytes_stored \
         berth_uploads_in_progress berth_build_info berth_db_transactions_total berth_db_transaction_seconds \
         berth_db_busy_total berth_db_unreachable_total berth_db_reconnects_total berth_db_info \
         registry_storage_action_seconds berth_project_usage_bytes berth_project_usage_blobs \
         berth_project_quota_bytes berth_pull_records_dropped_total; do
        grep -q "^# TYPE $m " "$TMP/m1.txt" || fail "no $m in the exposition"
done
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "$BERTH_URL/metrics") || fail "GET registry /metrics"
[ "$code" = 404 ] || fail "the registry port answers /metrics with $code"
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "$MURL/v2/") || fail "GET metrics /v2/"
[ "$code" = 404 ] || fail "the metrics port answers /v2/ with $code"
ss -Hltn "sport = :$MPORT" | grep -q "127.0.0.1:$MPORT" || fail "the metrics listener is not on 127.0.0.1"
pass "the metrics listener serves the exposition, the registry port does not"

step "a real Prometheus scrapes it every second"
PPORT=$(berth_free_port) || fail "no free port"
cat >"$TMP/prometheus.yml" <<EOT
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: berth
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
EOT
promtool check config "$TMP/prometheus.yml" >"$TMP/promtool-config.txt" 2>&1 ||
        fail "promtool check config: $(cat "$TMP/promtool-config.txt")"
prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/prom" \
        --web.listen-address="127.0.0.1:$PPORT" >"$TMP/prometheus.log" 2>&1 &
berth_track_pid $!
PURL=http://127.0.0.1:$PPORT
# q EXPR: the first result's value, or empty
q() {
        curl -sS --max-time 10 -G "$PURL/api/v1/query" --data-urlencode "query=$1" 2>/dev/null |
                jq -r 'if .status == "success" and (.data.result | length) > 0 then .data.result[0].value[1] else empty end'
}
# wait_for EXPR WANT [SECONDS]: up to SECONDS (30) until EXPR is WANT
wait_for() {
        local i v secs=${3:-30}
        for i in $(seq 1 $((secs * 2))); do
                v=$(q "$1")
                [ "$v" = "$2" ] && return 0
                sleep 0.5
        done
        echo "  $1 = '${v:-}' after $secs s, not '$2'" >&2
        return 1
}
wait_for 'up{job="berth"}' 1 || { tail -20 "$TMP/prometheus.log" >&2; fail "the target is not up"; }
pass "target up"

step "registry_http_requests_total grows by the requests made"
bcurl -o /dev/null "$BERTH_URL/v2/" || fail "GET /v2/"
sel='registry_http_requests_total{job="berth",route="base",method="GET",code="2xx"}'
wait_for "$sel" 1 || fail "the first GET /v2/ is not counted"
for i in $(seq 1 7); do
        bcurl -o /dev/null "$BERTH_URL/v2/" || fail "GET /v2/"
done
for i in $(seq 1 3); do
        bcurl -o /dev/null "$BERTH_URL/v2/no/such/manifests/latest" || fail "GET manifest"
done
wait_for "$sel" 8 || fail "registry_http_requests_total did not grow by 7"
wait_for 'registry_http_requests_total{job="berth",route="manifest-get",method="GET",code="4xx"}' 3 ||
        fail "three manifest misses not counted as 4xx"
pass "8 GET /v2/ and 3 manifest misses counted"

step "the histogram has buckets"
n=$(curl -sS --max-time 10 -G "$PURL/api/v1/query" \
        --data-urlencode 'query=registry_http_request_duration_seconds_bucket{job="berth",route="base",method="GET"}' |
        jq '.data.result | length')
[ "$n" -ge 10 ] || fail "only $n buckets for the base route"
inf=$(q 'registry_http_request_duration_seconds_bucket{job="berth",route="base",method="GET",le="+Inf"}')
[ "$inf" = 8 ] || fail "the +Inf bucket holds $inf, not 8"
p50=$(q 'histogram_quantile(0.5, sum by (le) (registry_http_request_duration_seconds_bucket{job="berth",route="base"}))')
[ -n "$p50" ] && [ "$p50" != NaN ] || fail "no median from the histogram"
pass "$n buckets, +Inf = count, median ${p50}s"

step "blobs and bytes stored follow a push"
printf 'metrics test blob\n' >"$TMP/blob"
dg=sha256:$(sha256sum "$TMP/blob" | cut -d' ' -f1)
code=$(bcurl -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/octet-stream' \
        --data-binary @"$TMP/blob" "$BERTH_URL/v2/proj/app/blobs/uploads/?digest=$dg") || fail "push"
[ "$code" = 201 ] || fail "monolithic upload answered $code"
# with early's blob
both=$(( $(stat -c %s "$TMP/blob") + $(stat -c %s "$TMP/early") ))
wait_for 'berth_blobs_stored{job="berth"}' 2 || fail "berth_blobs_stored is not 2"
wait_for 'berth_blob_bytes_stored{job="berth"}' "$both" || fail "berth_blob_bytes_stored wrong"
wait_for "berth_http_received_bytes_total{job=\"berth\"} >= $both" "$both" || fail "body bytes received not counted"
pass "a blob of 18 bytes stored (2 blobs, $both bytes with early's)"

step "usage per project: the first count"
read -r eblobs ebytes <<<"$(usage_json early)"
[ "$eblobs" = 1 ] && [ "$ebytes" = "$(stat -c %s "$TMP/early")" ] || fail "berthd usage early: $eblobs $ebytes"
wait_for 'berth_project_usage_bytes{job="berth",project="early"}' "$ebytes" ||
        fail "berth_project_usage_bytes of early is not what berthd usage counts ($ebytes)"
wait_for 'berth_project_usage_blobs{job="berth",project="early"}' "$eblobs" || fail "berth_project_usage_blobs of early"
pass "early: $ebytes bytes in $eblobs blob, as berthd usage counts"

step "the metadata transactions of that push"
wait_for 'clamp_max(berth_db_transactions_total{job="berth",result="commit"}, 1)' 1 ||
        fail "no committed transaction counted"
wait_for 'clamp_max(berth_db_transaction_seconds_count{job="berth"}, 1)' 1 || fail "no transaction timed"
wait_for 'berth_db_info{job="berth",engine="sqlite"}' 1 || fail "the engine is not named"
pass "transactions counted and timed"

step "the blob store's calls"
wait_for 'clamp_max(registry_storage_action_seconds_count{job="berth",driver="filesystem",action="commit"}, 1)' 1 ||
        fail "the upload's commit into the store was not timed"
bcurl -o /dev/null "$BERTH_URL/v2/proj/app/blobs/$dg" || fail "GET the blob"
wait_for 'clamp_max(registry_storage_action_seconds_count{job="berth",action="open"}, 1)' 1 ||
        fail "the blob's open for a GET was not timed"
pass "registry_storage_action_seconds counts the push's commit and the pull's open"

step "promtool check metrics"
curl -sS --max-time 10 "$MURL/metrics" >"$TMP/m2.txt" || fail "GET /metrics"
promtool check metrics <"$TMP/m2.txt" >"$TMP/promtool.txt" 2>&1 || fail "promtool: $(cat "$TMP/promtool.txt")"
[ -s "$TMP/promtool.txt" ] && fail "promtool found problems: $(cat "$TMP/promtool.txt")"
pass "no problem found"

step "usage per project: proj's push at the next scrape; the quota gauge"
read -r pblobs pbytes <<<"$(usage_json proj)"
[ "$pblobs" = 1 ] && [ "$pbytes" = 18 ] || fail "berthd usage proj: $pblobs $pbytes"
# the exposition itself, right away (no count to wait for)
grep -qx 'berth_project_usage_bytes{project="proj"} 18' <(curl -sS --max-time 10 "$MURL/metrics") ||
        fail "proj's push is not in the next scrape"
wait_for 'berth_project_usage_bytes{job="berth",project="proj"}' "$pbytes" ||
        fail "berth_project_usage_bytes of proj is not what berthd usage counts ($pbytes)"
wait_for 'berth_project_usage_blobs{job="berth",project="proj"}' "$pblobs" || fail "berth_project_usage_blobs of proj"
grep -q '^berth_project_quota_bytes{' <(curl -sS --max-time 10 "$MURL/metrics") && fail "a quota gauge with no quota set"
"$top_builddir/berthd" --data "$BERTH_DATA" quota set proj 1000000 >/dev/null || fail "quota set proj"
wait_for 'berth_project_quota_bytes{job="berth",project="proj"}' 1000000 || fail "berth_project_quota_bytes of proj"
"$top_builddir/berthd" --data "$BERTH_DATA" quota default 5000000 >/dev/null || fail "quota default"
wait_for 'berth_project_quota_bytes{job="berth",project="early"}' 5000000 || fail "the default quota of early"
pass "proj: $pbytes bytes in $pblobs blob, as berthd usage --json counts; quotas (own, default) exported"

step "an explicit metrics address that cannot be bound stops the start"
p2=$(berth_free_port) || fail "no free port"
rc=0
timeout 20 "$top_builddir/berthd" serve --listen "127.0.0.1:$p2" --data "$TMP/data2" --auth none \
        --insecure-http --metrics-listen "127.0.0.1:$MPORT" >"$TMP/second.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "a second berthd on metrics port $MPORT exited with $rc: $(cat "$TMP/second.log")"
grep -q 'cannot listen for metrics' "$TMP/second.log" || fail "no clear error: $(cat "$TMP/second.log")"
pass "exit 1: $(grep -m1 -o 'cannot listen for metrics.*' "$TMP/second.log")"

berth_stop
