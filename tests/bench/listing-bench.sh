#!/usr/bin/env bash
# Time of one page of tags/list and _catalog as the registry grows: the same page
# request (n=100, from the middle) at small and large sizes, measured with wrk on one
# connection over plain HTTP (the server's own time, no TLS handshake).
#   tests/bench/listing-bench.sh        (from a build directory; BERTHD= to choose)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
BERTHD=${BERTHD:-$PWD/berthd}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }
tmp=$(mktemp -d); pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT

printf '%-10s %-8s %-8s %12s %12s\n' listing tags repos "page ms" "req/s"
for size in "100 20" "5000 1000" "100000 20000"; do
        set -- $size
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        rm -rf "$tmp/data"
        "$BERTHD" serve --listen 127.0.0.1:$port --data "$tmp/data" --auth none --insecure-http \
                --log-level warning >"$tmp/log" 2>&1 &
        pid=$!
        for _ in $(seq 50); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
        python3 "$src/tests/integration/listing_scale.py" http://127.0.0.1:$port none \
                --tags "$1" --repos "$2" --fill-only >/dev/null
        mid=$(curl -sf "http://127.0.0.1:$port/v2/scale/tags/tags/list" | python3 -c 'import json,sys; t=json.load(sys.stdin)["tags"]; print(t[len(t)//2])')
        midr=$(curl -sf "http://127.0.0.1:$port/v2/_catalog" | python3 -c 'import json,sys; t=json.load(sys.stdin)["repositories"]; print(t[len(t)//2])')
        for what in tags catalog; do
                if [ $what = tags ]; then url="http://127.0.0.1:$port/v2/scale/tags/tags/list?n=100&last=$mid"
                else url="http://127.0.0.1:$port/v2/_catalog?n=100&last=$midr"; fi
                out=$(wrk -t1 -c1 -d5s --latency "$url" 2>&1)
                lat=$(echo "$out" | awk '/^ +50%/ { print $2 }')
                rps=$(echo "$out" | awk '/^Requests\/sec/ { print $2 }')
                printf '%-10s %-8s %-8s %12s %12s\n' $what "$1" "$2" "$lat" "$rps"
        done
        kill $pid; wait $pid 2>/dev/null || true; pid=
done
