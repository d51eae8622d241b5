#!/usr/bin/env bash
# The web UI on a big repository (issue 12), not a test: prints figures.
#
#   make bench-ui    (or: top_builddir=BUILD tests/bench/ui-bench.sh)
#
# One repository, bench/r000, with 100,000 tags (10,000 manifests of 10 tags, filled
# through the metadata API by tests/bench/retention-fill, no HTTP). Measured: the
# management API's tags listing with curl (the first page of 100, 50 pages walked by
# cursor, a substring search), then in Debian's chromium (headless, puppeteer-core from
# tests/ui, installed by scripts/install-deps.sh slow): the time from a navigation to
# 100 rows on screen and the time the page spends building them, for the first page and
# for Next, BENCH_UI_ROUNDS (10) times.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh"
berth_require curl jq node python3
berth_tmpdir
MANIFESTS=${BENCH_UI_MANIFESTS:-10000}
ROUNDS=${BENCH_UI_ROUNDS:-10}
chromium=$(command -v chromium || command -v chromium-browser || true)
mods=$top_srcdir/tests/ui/node_modules
[ -n "$chromium" ] && [ -d "$mods/puppeteer-core" ] ||
        { echo "bench-ui needs chromium and tests/ui/node_modules (scripts/install-deps.sh slow)"; exit 77; }

ADMIN_PASS=admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
export BERTH_ADMIN_PASSWORD=$ADMIN_PASS
berth_start --auth basic --retention-interval 0 --gc-interval 0
berth_stop
echo "filling $((MANIFESTS * 10)) tags in bench/r000 through the metadata API..."
t0=$(date +%s.%N)
"$top_builddir/tests/bench/retention-fill" "$BERTH_DATA/berth.db" 1 "$MANIFESTS" 10
echo "  filled in $(python3 -c "import sys; print(round($(date +%s.%N) - $t0, 1))") s"
berth_start --auth basic --retention-interval 0 --gc-interval 0
unset BERTH_ADMIN_PASSWORD
A=(-u "admin:$ADMIN_PASS")
base=$BERTH_URL/api/v1/repositories/bench/r000/-/artifacts

# ms URL: the time of one GET, in ms
ms() { bcurl "${A[@]}" -o "$TMP/page" -w '%{time_total}' "$1" | python3 -c 'import sys; print(round(float(sys.stdin.read()) * 1000, 1))'; }
echo "1. the API (curl, one connection per call, TLS included)"
echo "  first page of 100:        $(ms "$base?limit=100") ms"
cursor=$(jq -r .next_cursor "$TMP/page")
times=()
for i in $(seq 1 50); do
        times+=("$(ms "$base?limit=100&cursor=$cursor")")
        cursor=$(jq -r .next_cursor "$TMP/page")
done
printf '%s\n' "${times[@]}" | sort -n | awk '{ v[NR] = $1 } END { printf "  50 pages by cursor:       median %s ms, max %s ms\n", v[int((NR + 1) / 2)], v[NR] }'
echo "  search q=release-099:    $(ms "$base?limit=100&q=release-099") ms ($(jq '.items | length' "$TMP/page") found)"
echo "  repository figures:       $(ms "$BERTH_URL/api/v1/repositories/bench/r000") ms ($(jq .tags "$TMP/page") tags)"

echo "2. the browser ($ROUNDS rounds; chromium $("$chromium" --version 2>/dev/null | awk '{print $2}'))"
mkdir -p "$TMP/driver"
cp "$top_srcdir/tests/ui/bench.mjs" "$TMP/driver/"
ln -s "$mods" "$TMP/driver/node_modules"
BASE=$BERTH_URL CHROMIUM=$chromium ADMIN_PASS=$ADMIN_PASS REPO=bench/r000 ROUNDS=$ROUNDS \
        node "$TMP/driver/bench.mjs" >"$TMP/bench.json"
jq -r '"  tags page of 100, navigation to rows shown: median \(.view_ms.median) ms, max \(.view_ms.max) ms (as the driver sees it)",
       "    inside the page (hash change to rows):   median \(.shown_ms.median) ms, max \(.shown_ms.max) ms",
       "    of which building the rows:              median \(.render_ms.median) ms, max \(.render_ms.max) ms",
       "    the tags page request (browser timing):  median \(.api_ms.median) ms, max \(.api_ms.max) ms",
       "  Next (the following 100):                  median \(.next_view_ms.median) ms, max \(.next_view_ms.max) ms",
       "    of which building the rows:              median \(.next_render_ms.median) ms, max \(.next_render_ms.max) ms",
       "    the tags page request (browser timing):  median \(.next_api_ms.median) ms, max \(.next_api_ms.max) ms"' "$TMP/bench.json"
