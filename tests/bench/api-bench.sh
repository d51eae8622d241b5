#!/usr/bin/env bash
# The management API's lists at scale (issue 12), not a test: prints figures.
#
#   make bench-api    (or: top_builddir=BUILD tests/bench/api-bench.sh)
#
# The database is filled through the metadata API (tests/bench/api-fill, no HTTP):
# BENCH_API_REPOS (20,000) repositories bench/rNNNNN of BENCH_API_TAGS (5) tags each
# (100,000 tags), and big/app, one repository of BENCH_API_BIG (10,000) manifests with
# 10 tags each (100,000 tags in one repository), on SQLite (BENCH_API_PG=1:
# PostgreSQL from tests/pg-server.sh). Then berthd serves it and one client (one
# keep-alive connection, Basic credentials verified once then cached, as a browser's
# session is) asks each list BENCH_API_N (50) times: the first, a middle and the last
# page of the repositories (50 a page), a substring search over all of them, the
# repositories a user sees through two memberships among the 20,000, the projects,
# the first and a middle page of big/app's 100,000 tags (100 a page), one artifact.
# Prints p50, p99 and max of each in milliseconds (the time to the whole answer).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh"
berth_require python3 curl
berth_tmpdir
REPOS=${BENCH_API_REPOS:-20000}
TAGS=${BENCH_API_TAGS:-5}
BIG=${BENCH_API_BIG:-10000}
N=${BENCH_API_N:-50}
export BERTH_ARGON2_MEMORY_KIB=1024 BERTH_ARGON2_PASSES=1
PW=bench-admin-pw

if [ "${BENCH_API_PG:-0}" = 1 ]; then
        BERTH_TEST_DB=pg
        export BERTH_TEST_DB
        berth_use_db
        PGPASSWORD=$(cat "$BERTH_DB_PASSWORD_FILE")
        export PGPASSWORD
fi
BERTH_ADMIN_PASSWORD=$PW berth_start --insecure-http --auth basic --gc-interval 0 --retention-interval 0
berth_stop
target=${BERTH_DB_URL:-$BERTH_DATA/berth.db}
echo "filling $REPOS repositories of $TAGS tags and big/app with $((BIG * 10)) tags through the metadata API..."
t0=$(date +%s)
"$top_builddir/tests/bench/api-fill" "$target" "$BERTH_DATA" "$REPOS" "$TAGS" "$BIG"
echo "  filled in $(( $(date +%s) - t0 )) s"
bd() { "$top_builddir/berthd" --data "$BERTH_DATA" "$@"; }
bd project create bench >/dev/null
bd project create big >/dev/null
printf '%s\n' "$PW" | bd user add viewer >/dev/null
bd project member add big viewer reader >/dev/null
bd project create other >/dev/null
bd project member add other viewer reader >/dev/null
BERTH_ADMIN_PASSWORD=$PW berth_start --insecure-http --auth basic --gc-interval 0 --retention-interval 0

python3 - "$BERTH_HOST" "$PW" "$N" "$REPOS" <<'PY'
import base64, http.client, json, sys, time
host, pw, n, repos = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def conn_for(user):
    c = http.client.HTTPConnection(host, timeout=60)
    h = {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}
    return c, h
def get(c, h, path):
    c.request("GET", "/api/v1" + path, headers=h)
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        raise SystemExit(f"{path}: {r.status} {body[:200]!r}")
    return json.loads(body)
admin = conn_for("admin")
viewer = conn_for("viewer")
# cursors for the middle and last pages, walked once
mid = get(*admin, f"/repositories?project=bench&limit=50")
cursor_mid = None
page = get(*admin, "/repositories?project=bench&limit=500")
k = 0
while page["next_cursor"] and k < (repos // 2) // 500 - 1:
    page = get(*admin, "/repositories?project=bench&limit=500&cursor=" + page["next_cursor"]); k += 1
cursor_mid = page["next_cursor"]
while page["next_cursor"]:
    last_cursor = page["next_cursor"]
    page = get(*admin, "/repositories?project=bench&limit=500&cursor=" + last_cursor)
# the cursor of the last 50: walk the last 500 again in 50s
page = get(*admin, "/repositories?project=bench&limit=50&cursor=" + last_cursor)
while page["next_cursor"]:
    last50 = page["next_cursor"]
    page = get(*admin, "/repositories?project=bench&limit=50&cursor=" + last50)
tags = get(*admin, "/repositories/big/app/-/artifacts?limit=500")
for _ in range(99):
    tags = get(*admin, "/repositories/big/app/-/artifacts?limit=500&cursor=" + tags["next_cursor"])
tag_mid = tags["next_cursor"]
cases = [
    ("repositories, first page (50 of 20,000+)", admin, "/repositories?limit=50"),
    ("repositories of bench, middle page", admin, "/repositories?project=bench&limit=50&cursor=" + cursor_mid),
    ("repositories of bench, last page", admin, "/repositories?project=bench&limit=50&cursor=" + last50),
    ("search ?q=r1999 over 20,001 names", admin, "/repositories?q=r1999&limit=50"),
    ("a member's repositories (sees 1 of 20,001)", viewer, "/repositories?limit=50"),
    ("projects", admin, "/projects"),
    ("big/app tags, first page (100 of 100,000)", admin, "/repositories/big/app/-/artifacts?limit=100"),
    ("big/app tags, page at tag 50,000", admin, "/repositories/big/app/-/artifacts?limit=100&cursor=" + tag_mid),
    ("one artifact (big/app:t050000)", admin, "/repositories/big/app/-/artifacts/t050000"),
]
print(f"{'list':48} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  items")
for name, (c, h), path in cases:
    get(c, h, path)  # warm
    ts = []
    for _ in range(n):
        t = time.perf_counter(); body = get(c, h, path); ts.append((time.perf_counter() - t) * 1000)
    ts.sort()
    items = len(body.get("items", [])) if isinstance(body, dict) and "items" in body else 1
    p = lambda q: ts[min(len(ts) - 1, int(q * len(ts)))]
    print(f"{name:48} {p(0.50):8.2f} {p(0.99):8.2f} {ts[-1]:8.2f}  {items}")
PY
berth_stop
