#!/usr/bin/env bash
# Time of one _catalog page with access control, as the registry grows: 20,000
# repositories in a private project, and a few visible to a plain user (their own
# namespace and two small public projects, one sorting before and one after the
# big project). The same page requests as listing-bench.sh (n=100, from the middle
# of the big project), for the admin (sees everything) and for the plain user (sees
# 15 repositories), and the plain user's first page; wrk on one connection over
# plain HTTP with cached Basic credentials.
#   tests/bench/catalog-auth-bench.sh   (from a build directory; BERTHD= to choose,
#                                        REPOS= for another size)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
BERTHD=${BERTHD:-$PWD/berthd}
REPOS=${REPOS:-20000}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }
tmp=$(mktemp -d); pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
export BERTH_ARGON2_MEMORY_KIB=1024

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
start() {
        "$BERTHD" serve --listen 127.0.0.1:$port --data "$tmp/data" --insecure-http --log-level warning "$@" \
                >>"$tmp/log" 2>&1 &
        pid=$!
        for _ in $(seq 50); do curl -sf $url/healthz >/dev/null && return; sleep 0.1; done
        echo "berthd did not start"; cat "$tmp/log"; exit 1
}
start --auth none
python3 "$src/tests/integration/listing_scale.py" $url none --tags 10 --repos "$REPOS" --fill-only >/dev/null
cdig=sha256:$(printf '{}' | sha256sum | cut -d' ' -f1)
for r in bench/r1 bench/r2 bench/r3 bench/r4 bench/r5 pub/p1 pub/p2 pub/p3 pub/p4 pub/p5 \
         zpub/z1 zpub/z2 zpub/z3 zpub/z4 zpub/z5; do
        curl -sf -o /dev/null -X POST "$url/v2/$r/blobs/uploads/?mount=$cdig&from=scale/tags"
done
kill $pid; wait $pid 2>/dev/null || true; pid=
bd() { "$BERTHD" --data "$tmp/data" "$@" >/dev/null; }
printf 'admin-pw\n' | bd user add boss --admin
printf 'bench-pw\n' | bd user add bench
bd project create scale
bd project create pub --public
bd project create zpub --public
start --auth basic

mid=$(curl -sf -u boss:admin-pw "$url/v2/_catalog?n=$REPOS&last=scale" |
        python3 -c 'import json,sys; t=json.load(sys.stdin)["repositories"]; print(t[len(t)//2])')
admin="Authorization: Basic $(printf boss:admin-pw | base64)"
user="Authorization: Basic $(printf bench:bench-pw | base64)"
printf '%-34s %8s %10s %10s\n' "_catalog page ($REPOS repositories)" entries "page ms" "req/s"
run() {
        local what=$1 hdr=$2 path=$3 out lat rps n
        n=$(curl -sf -H "$hdr" "$url$path" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["repositories"]))')
        out=$(wrk -t1 -c1 -d5s --latency -H "$hdr" "$url$path" 2>&1)
        lat=$(echo "$out" | awk '/^ +50%/ { print $2 }')
        rps=$(echo "$out" | awk '/^Requests\/sec/ { print $2 }')
        printf '%-34s %8s %10s %10s\n' "$what" "$n" "$lat" "$rps"
}
run "admin, n=100 from the middle" "$admin" "/v2/_catalog?n=100&last=$mid"
run "user (sees 15), n=100 from middle" "$user" "/v2/_catalog?n=100&last=$mid"
run "user (sees 15), first n=100" "$user" "/v2/_catalog?n=100"
run "user (sees 15), n=1 from middle" "$user" "/v2/_catalog?n=1&last=$mid"
kill $pid; wait $pid 2>/dev/null || true; pid=
