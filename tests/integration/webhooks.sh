#!/usr/bin/env bash
# Webhooks (issue 14): a receiver on loopback (webhook_receiver.py) records what berthd
# delivers. Targets are checked when added (link-local and metadata addresses never,
# loopback only when allowed); pushes, deletes and pulls arrive as CloudEvents in
# order per repository, signed when the webhook has a secret; a receiver failing for a
# while gets everything once it answers; an event queued while the receiver is down
# survives berthd killed with SIGKILL and arrives after the restart; quota events
# (85% of the quota reached, a push refused for it) arrive; a target the
# server no longer allows is refused at delivery and the event given up after
# --webhook-max-age; `berthd webhook log` and the metrics tell it all.
# With BERTH_TEST_DB=pg (engine-pg.sh) berthd and the admin commands use PostgreSQL.
. "$(dirname "$0")/lib.sh"
berth_require curl python3
berth_tmpdir
berth_use_db

# the tests allow loopback targets: the admin commands and the server read this
export BERTH_WEBHOOK_ALLOW_CIDR=127.0.0.0/8,::1
ADMIN_PW=admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
SECRET=s3cret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
RPORT=$(berth_free_port) || fail "no free port"
MPORT=$(berth_free_port) || fail "no free port"
RECEIVED=$TMP/received.jsonl
STATUS=$TMP/status
HOOK=http://127.0.0.1:$RPORT/hook
SERVE_ARGS=(--auth basic --webhook-backoff 1/2 --webhook-pull-interval 1 --metrics-listen "127.0.0.1:$MPORT")

bd() { timeout 60 "$top_builddir/berthd" --data "$TMP/data" "$@"; }

# ---- the receiver ----
RPID=
receiver_up() { python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$RPORT" 2>/dev/null; }
receiver_start() {
        python3 "$BERTH_IT_DIR/webhook_receiver.py" --port "$RPORT" --out "$RECEIVED" --status-file "$STATUS" \
                >>"$TMP/receiver.log" 2>&1 &
        RPID=$!
        berth_track_pid "$RPID"
        berth_wait_for 10 receiver_up || fail "the receiver does not listen on $RPORT"
}
receiver_stop() {
        kill "$RPID" 2>/dev/null
        wait "$RPID" 2>/dev/null
        RPID=
        ! receiver_up || fail "the receiver still answers"
}
touch "$RECEIVED"
received() { wc -l <"$RECEIVED" | tr -d ' '; }
received_at_least() { [ "$(received)" -ge "$1" ]; }
# has_event JQ-LIKE: a delivery whose body matches (python expression over b, h, p:
# body, headers, path)
has_event() {
        python3 - "$RECEIVED" "$1" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    b, h, p = json.loads(r["body"]), r["headers"], r["path"]
    d = b["data"]
    if eval(sys.argv[2]):
        sys.exit(0)
sys.exit(1)
EOF
}
wait_event() { berth_wait_for "${2:-20}" has_event "$1" || fail "no delivery where $1 within ${2:-20} s"; }

# ---- pushing with curl ----
pushed=0
# push_image REPO TAG: a new image (a config and a layer of its own); prints the digest
push_image() {
        local repo=$1 tag=$2 cfg lay mf loc d
        pushed=$((pushed + 1))
        printf '{"n":%d}' "$pushed" >"$TMP/cfg"
        printf 'layer %d of %s' "$pushed" "$repo" >"$TMP/layer"
        for f in cfg layer; do
                d=sha256:$(sha256sum <"$TMP/$f" | cut -d' ' -f1)
                loc=$(bcurl -u "admin:$ADMIN_PW" -D - -o /dev/null -X POST "$BERTH_URL/v2/$repo/blobs/uploads/" |
                        tr -d '\r' | awk -F': ' 'tolower($1) == "location" { print $2 }')
                [ -n "$loc" ] || fail "no upload location for $repo"
                case $loc in http*) ;; *) loc=$BERTH_URL$loc ;; esac
                case $loc in *\?*) loc="$loc&digest=$d" ;; *) loc="$loc?digest=$d" ;; esac
                [ "$(bcurl -u "admin:$ADMIN_PW" -o /dev/null -w '%{http_code}' -X PUT \
                        -H 'Content-Type: application/octet-stream' --data-binary "@$TMP/$f" "$loc")" = 201 ] ||
                        fail "blob upload to $repo"
                case $f in cfg) cfg=$d ;; layer) lay=$d ;; esac
        done
        mf='{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        mf+='"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"'$cfg'","size":'$(wc -c <"$TMP/cfg")'},'
        mf+='"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"'$lay'","size":'$(wc -c <"$TMP/layer")'}]}'
        printf '%s' "$mf" >"$TMP/manifest"
        [ "$(bcurl -u "admin:$ADMIN_PW" -o /dev/null -w '%{http_code}' -X PUT \
                -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "@$TMP/manifest" \
                "$BERTH_URL/v2/$repo/manifests/$tag")" = 201 ] || fail "manifest push $repo:$tag"
        echo "sha256:$(sha256sum <"$TMP/manifest" | cut -d' ' -f1)"
}
status_of() { bcurl -u "admin:$ADMIN_PW" -o /dev/null -w '%{http_code}' "$@"; }
# log_has ID PCRE: a line of `berthd webhook log ID` matches (fields: time, event id,
# type, attempt, status, latency, result, error; \t between them)
log_has() { grep -Pq "$2" <(bd webhook log "$1" --limit 1000 2>/dev/null); }
metric() { curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

step "targets are checked when they are added"
bd webhook add lib "http://169.254.169.254/latest/meta-data/" >/dev/null 2>"$TMP/err" && fail "a metadata address was accepted"
grep -q "cloud metadata" "$TMP/err" || fail "refusal does not say why: $(cat "$TMP/err")"
for u in "http://[fe80::1]/hook" "http://[fd00:ec2::254]/" "http://169.254.10.10:8080/" "http://0.0.0.0:$RPORT/"; do
        bd webhook add lib "$u" >/dev/null 2>&1 && fail "$u was accepted"
done
# loopback only when the administrator allows it
env -u BERTH_WEBHOOK_ALLOW_CIDR "$top_builddir/berthd" --data "$TMP/data" webhook add lib "$HOOK" \
        >/dev/null 2>"$TMP/err" && fail "loopback accepted without --webhook-allow-cidr"
grep -q "webhook-allow-cidr" "$TMP/err" || fail "refusal does not name the allow list: $(cat "$TMP/err")"
rc=0; bd webhook add lib "ftp://127.0.0.1/x" >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "an ftp URL: exit $rc, want 2"
rc=0; bd webhook add lib "http://user:pw@127.0.0.1:$RPORT/" >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "a URL with a password: exit $rc, want 2"
[ "$(bd webhook list | wc -l)" = 1 ] || fail "a refused webhook was stored: $(bd webhook list)"
pass "metadata, link-local, unspecified, unallowed loopback, ftp and user information refused; nothing stored"

step "webhooks added: one signed for the project lib, one global for deletes"
printf '%s\n' "$SECRET" | bd webhook add lib "$HOOK" --events push,delete,pull --secret-stdin >"$TMP/out" ||
        fail "webhook add: $(cat "$TMP/out")"
grep -q "^webhook 1 added: lib, events push,delete,pull, signed" "$TMP/out" || fail "add said: $(cat "$TMP/out")"
# by name: the sender resolves it, checks and pins the addresses (::1 and 127.0.0.1;
# the receiver is on the latter)
bd webhook add --global "http://localhost:$RPORT/global" --events delete >/dev/null || fail "global webhook add"
[ "$(stat -c %a "$TMP/data/secret.key")" = 600 ] || fail "secret.key is not 0600"
bd webhook list >"$TMP/list"
grep -Pq "^1\tlib\tpush,delete,pull\tyes\t" "$TMP/list" && grep -Pq "^2\t\*\tdelete\tno\t" "$TMP/list" ||
        fail "webhook list: $(cat "$TMP/list")"
if [ "${BERTH_TEST_DB:-sqlite}" = sqlite ]; then
        # the secret is not in the database in clear
        cat "$TMP/data"/berth.db* | grep -qa "$SECRET" && fail "the secret is in berth.db in clear"
fi
pass "added; the secret sealed under DATA/secret.key (0600)"

receiver_start
BERTH_ADMIN_PASSWORD=$ADMIN_PW berth_start "${SERVE_ARGS[@]}"

step "push, pull and delete arrive as CloudEvents, in order per repository, signed"
d1=$(push_image lib/app v1)
d2=$(push_image lib/app v2)
[ "$(status_of "$BERTH_URL/v2/lib/app/manifests/v1")" = 200 ] || fail "pull"
[ "$(status_of "$BERTH_URL/v2/lib/app/manifests/v1")" = 200 ] || fail "pull"
[ "$(status_of -X DELETE "$BERTH_URL/v2/lib/app/manifests/v2")" = 202 ] || fail "tag delete"
[ "$(status_of -X DELETE "$BERTH_URL/v2/lib/app/manifests/$d1")" = 202 ] || fail "manifest delete"
dx=$(push_image other/x v1)
[ "$(status_of -X DELETE "$BERTH_URL/v2/other/x/manifests/$dx")" = 202 ] || fail "manifest delete in other/x"
# /hook: 2 pushes, 2 deletes, 1 pull; /global: 3 deletes
berth_wait_for 20 received_at_least 8 || fail "$(received) deliveries within 20 s, want 8"
sleep 1.5 # nothing more may come (no event for other/x's push: not lib's, not a delete)
[ "$(received)" = 8 ] || fail "$(received) deliveries, want 8: $(cat "$RECEIVED")"
python3 - "$RECEIVED" "$SECRET" "$d1" "$d2" "$dx" <<'EOF' || fail "the deliveries are not as they should be"
import hashlib, hmac, json, sys
path, secret, d1, d2, dx = sys.argv[1:]
recs = [json.loads(l) for l in open(path)]
def bad(msg, r=None):
    sys.exit("FAIL: %s%s" % (msg, (": " + json.dumps(r)) if r else ""))
ids = set()
for r in recs:
    h, b = r["headers"], json.loads(r["body"])
    if h.get("content-type") != "application/cloudevents+json; charset=utf-8": bad("content type", r)
    for k in ("specversion", "id", "source", "type", "time", "datacontenttype", "data", "subject"):
        if k not in b: bad("no " + k, r)
    if b["specversion"] != "1.0" or b["datacontenttype"] != "application/json": bad("attributes", r)
    if b["source"] != "/v2/" + b["data"]["repository"] or h.get("x-berth-event") != b["type"]: bad("source", r)
    if not b["time"].endswith("Z"): bad("time", r)
    key = (r["path"], b["id"])
    if key in ids: bad("an event delivered twice", r)
    ids.add(key)
    sig = h.get("x-berth-signature")
    if r["path"] == "/hook":
        want = "sha256=" + hmac.new(secret.encode(), r["body"].encode(), hashlib.sha256).hexdigest()
        if sig != want: bad("signature does not verify", r)
    elif sig is not None: bad("a signature without a secret", r)
hook = [json.loads(r["body"]) for r in recs if r["path"] == "/hook"]
seq = [(e["type"], e["data"].get("tag"), e["data"]["digest"]) for e in hook if e["type"] != "io.berth.pull"]
want = [("io.berth.push", "v1", d1), ("io.berth.push", "v2", d2), ("io.berth.delete", "v2", d2), ("io.berth.delete", None, d1)]
if seq != want: bad("lib/app events out of order or wrong: %s" % seq)
for e in hook:
    d = e["data"]
    if e["type"] == "io.berth.pull":
        if d["count"] != 2 or d["digest"] != d1 or "actor" in d: bad("pull event", e)
    else:
        if d.get("actor") != "admin" or d.get("address") != "127.0.0.1": bad("actor/address", e)
        if d.get("mediaType") != "application/vnd.oci.image.manifest.v1+json" or d.get("size", 0) <= 0: bad("manifest", e)
if len(hook) != 5: bad("%d deliveries to /hook" % len(hook))
glob = [json.loads(r["body"]) for r in recs if r["path"] == "/global"]
gseq = [(e["data"]["repository"], e["data"]["digest"]) for e in glob]
if sorted(gseq) != sorted([("lib/app", d2), ("lib/app", d1), ("other/x", dx)]): bad("global deletes: %s" % gseq)
if [g for g in gseq if g[0] == "lib/app"] != [("lib/app", d2), ("lib/app", d1)]: bad("global order: %s" % gseq)
EOF
log_has 1 "io.berth.push\t1\t200\t[0-9]+ms\tsuccess\t-" || fail "webhook log 1: $(bd webhook log 1)"
pass "8 deliveries: CloudEvents 1.0, ordered per repository, signature verifies, actor and address, pulls counted"

step "quota events: usage past 85% of the quota, a push refused for it (once a minute)"
bd quota set quo 3000 >/dev/null || fail "quota set quo"
bd webhook add quo "http://127.0.0.1:$RPORT/quota" --events quota >"$TMP/out" || fail "webhook add quo: $(cat "$TMP/out")"
# push_blob_status REPO FILE: the status of the blob's upload (POST, then PUT with the bytes)
push_blob_status() {
        local d loc
        d=sha256:$(sha256sum <"$2" | cut -d' ' -f1)
        loc=$(bcurl -u "admin:$ADMIN_PW" -D - -o /dev/null -X POST "$BERTH_URL/v2/$1/blobs/uploads/" |
                tr -d '\r' | awk -F': ' 'tolower($1) == "location" { print $2 }')
        [ -n "$loc" ] || { echo none; return; }
        case $loc in http*) ;; *) loc=$BERTH_URL$loc ;; esac
        case $loc in *\?*) loc="$loc&digest=$d" ;; *) loc="$loc?digest=$d" ;; esac
        bcurl -u "admin:$ADMIN_PW" -o /dev/null -w '%{http_code}' -X PUT \
                -H 'Content-Type: application/octet-stream' --data-binary "@$2" "$loc"
}
head -c 2700 /dev/urandom >"$TMP/q1"
[ "$(push_blob_status quo/app "$TMP/q1")" = 201 ] || fail "2700 of 3000 bytes refused"
wait_event "p == '/quota' and d['state'] == 'warning' and d['usage'] == 2700 and d['quota'] == 3000 and d['project'] == 'quo' and d['repository'] == 'quo/app' and b['type'] == 'io.berth.quota'"
head -c 500 /dev/urandom >"$TMP/q2"
[ "$(push_blob_status quo/app "$TMP/q2")" = 403 ] || fail "a push past the quota was not refused"
wait_event "p == '/quota' and d['state'] == 'exceeded' and d['usage'] == 2700 and d.get('actor') == 'admin' and d.get('address') == '127.0.0.1'"
[ "$(push_blob_status quo/app "$TMP/q2")" = 403 ] || fail "the second push past the quota was not refused"
sleep 1.5
n=$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["path"] == "/quota"))' "$RECEIVED")
[ "$n" = 2 ] || fail "$n quota deliveries, want 2 (a warning, one exceeded within the minute)"
[ "$(metric 'berth_project_quota_bytes{project="quo"}')" = 3000 ] || fail "berth_project_quota_bytes: $(metric 'berth_project_quota_bytes{project="quo"}')"
[ "$(metric 'berth_project_usage_bytes{project="quo"}')" = 2700 ] || fail "berth_project_usage_bytes: $(metric 'berth_project_usage_bytes{project="quo"}')"
[ -z "$(metric 'berth_project_quota_bytes{project="lib"}')" ] || fail "a quota gauge for lib, which has none"
pass "warning at 2700 of 3000, exceeded once for two refused pushes; the quota and usage gauges agree"

step "a receiver failing for a while gets the event once it answers"
echo 503 >"$STATUS"
d3=$(push_image lib/app v3)
berth_wait_for 20 log_has 1 "io.berth.push\t2\t503\t.*failure\tHTTP 503" || fail "no second failed attempt: $(bd webhook log 1)"
has_event "d.get('tag') == 'v3'" && fail "v3 recorded while the receiver failed"
rm -f "$STATUS"
wait_event "d.get('tag') == 'v3' and d['digest'] == '$d3'"
log_has 1 "io.berth.push\t[0-9]+\t200\t.*success" || fail "no success after the failures"
pass "503 twice, then delivered: the log shows both"

step "an event queued while the receiver is down survives berthd killed with SIGKILL"
receiver_stop
d4=$(push_image lib/app v4)
# attempted (so committed and queued) and failed: no one listens
berth_wait_for 20 log_has 1 "io.berth.push\t1\t-\t.*failure" || fail "no failed attempt for v4: $(bd webhook log 1)"
ev4=$(bd webhook log 1 --limit 1000 | awk -F'\t' '$3 == "io.berth.push" && $7 == "failure" && $5 == "-" { e = $2 } END { print e }')
[ -n "$ev4" ] || fail "no event id for v4 in the log"
kill -KILL "$BERTH_PID"
wait "$BERTH_PID" 2>/dev/null
BERTH_PID=
receiver_start
berth_start "${SERVE_ARGS[@]}"
# a claim held when it died (PostgreSQL: a lease of 60 s) may delay it
wait_event "b['id'] == '$ev4' and d['digest'] == '$d4'" 90
pass "event $ev4 delivered after the restart"

step "a target the server does not allow is refused at delivery; the event is given up"
berth_stop
unset BERTH_WEBHOOK_ALLOW_CIDR
berth_start --auth basic --webhook-backoff 1/1 --webhook-max-age 3 --metrics-listen "127.0.0.1:$MPORT"
n=$(received)
d5=$(push_image lib/app v5)
berth_wait_for 20 log_has 1 "gaveup\t127.0.0.1 is loopback \(not in --webhook-allow-cidr\)" ||
        fail "not given up: $(bd webhook log 1 | tail -n 5)"
log_has 1 "failure\t127.0.0.1 is loopback" || fail "no refused attempt in the log"
[ "$(received)" = "$n" ] || fail "the receiver got a delivery the server does not allow"
[ "$(metric 'berth_webhook_deliveries_total{result="gaveup"}')" -ge 1 ] || fail "gaveup not counted"
[ "$(metric 'berth_webhook_deliveries_total{result="failure"}')" -ge 1 ] || fail "failure not counted"
[ "$(metric berth_webhook_queue_depth)" = 0 ] || fail "queue depth $(metric berth_webhook_queue_depth), want 0"
pass "refused at delivery (the address is checked again), given up after 3 s; metrics count it"

step "webhook del: the webhook, its queue and its log go"
bd webhook del 1 >/dev/null || fail "webhook del 1"
bd webhook del 1 >/dev/null 2>&1 && fail "webhook del 1 twice"
bd webhook log 1 >/dev/null 2>&1 && fail "a log for a deleted webhook"
[ "$(bd webhook list | wc -l)" = 3 ] || fail "webhook list after del: $(bd webhook list)"
pass "deleted"
berth_stop
