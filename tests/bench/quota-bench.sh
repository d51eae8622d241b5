#!/usr/bin/env bash
# Quota checks (issue 11), not a test: prints figures.
#
#   make bench-quota    (or: top_builddir=BUILD tests/bench/quota-bench.sh)
#
# One berthd (plain HTTP, BERTH_TEST_DB=pg for PostgreSQL); a client on one
# keep-alive connection pushes, per round, BENCH_QUOTA_IMAGES images (default 100)
# of two fresh 16 KiB blobs (monolithic POST) and a manifest naming them, into the
# project bench. Rounds alternate: the project without a quota (the checks read the
# figures and find none), then with a quota of 1 TiB (every check compares: at
# the upload's start and in the link's and the manifest's transaction), for
# BENCH_QUOTA_ROUNDS pairs (default 5). Prints each round and the medians.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh"
berth_require python3
berth_tmpdir
IMAGES=${BENCH_QUOTA_IMAGES:-100}
ROUNDS=${BENCH_QUOTA_ROUNDS:-5}

berth_start --insecure-http --gc-interval 0
bd() { "$top_builddir/berthd" --data "$BERTH_DATA" "$@"; }

push_round() { # ROUND: images/s
        python3 - "$BERTH_HOST" "$1" "$IMAGES" <<'PY'
import hashlib, http.client, json, os, sys, time
host, rnd, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection(host, timeout=60)
def post(repo, data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    c.request("POST", f"/v2/{repo}/blobs/uploads/?digest={d}", body=data,
              headers={"Content-Type": "application/octet-stream"})
    r = c.getresponse(); r.read()
    assert r.status == 201, r.status
    return d
t0 = time.monotonic()
for i in range(n):
    repo = f"bench/r{i % 4}"
    cfg, layer = os.urandom(16384), os.urandom(16384)
    dc, dl = post(repo, cfg), post(repo, layer)
    m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": dc, "size": len(cfg)},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": dl, "size": len(layer)}]})
    c.request("PUT", f"/v2/{repo}/manifests/r{rnd}-{i}", body=m,
              headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    r = c.getresponse(); r.read()
    assert r.status == 201, r.status
print(f"{n / (time.monotonic() - t0):.1f}")
PY
}

off=() on=()
for ((k = 1; k <= ROUNDS; k++)); do
        bd project set bench --quota default >/dev/null
        off+=("$(push_round "off$k")")
        bd project set bench --quota 1TiB >/dev/null
        on+=("$(push_round "on$k")")
        echo "round $k: no quota ${off[-1]} images/s, quota ${on[-1]} images/s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
m_off=$(median "${off[@]}")
m_on=$(median "${on[@]}")
echo "median: no quota $m_off images/s, quota $m_on images/s ($(echo "scale=3; $m_on / $m_off" | bc)x)"
"$top_builddir/berthd" --data "$BERTH_DATA" usage --verify
berth_stop
