#!/usr/bin/env python3
"""Manifest GETs in a loop for the retention benchmark: one connection per client
thread (plain HTTP), random tags of the kept ones (release-*) and of the ones a
run removes, until the file STOP exists (at most 10 minutes); then each GET's end
time (monotonic), latency and status are written to OUT.

    retention_client.py HOST:PORT REPOS MANIFESTS TAGS STOP OUT [THREADS [RATE]]

RATE: GETs per second per thread at most (0: as fast as answered).
"""
import http.client
import os
import random
import sys
import threading
import time


def main():
    host, repos, manifests, tags, stopfile, out = sys.argv[1:7]
    threads = int(sys.argv[7]) if len(sys.argv) > 7 else 1
    rate = float(sys.argv[8]) if len(sys.argv) > 8 else 0
    repos, manifests, tags = int(repos), int(manifests), int(tags)
    n_tags = manifests * tags
    accept = "application/vnd.oci.image.manifest.v1+json"
    lock = threading.Lock()
    rows = []
    stop = time.monotonic() + 600

    def client(seed):
        rnd = random.Random(seed)
        conn = http.client.HTTPConnection(host, timeout=30)
        mine = []
        while time.monotonic() < stop and not os.path.exists(stopfile):
            r = rnd.randrange(repos)
            n = rnd.randrange(n_tags)
            if rnd.random() < 0.5:
                n -= n % 100  # a release-* tag: kept
            tag = ("b%05d" if n % 100 else "release-%05d") % n
            t0 = time.monotonic()
            conn.request("GET", "/v2/bench/r%03d/manifests/%s" % (r, tag), headers={"Accept": accept})
            resp = conn.getresponse()
            resp.read()
            t1 = time.monotonic()
            mine.append("%.6f %.6f %d\n" % (t1, t1 - t0, resp.status))
            if rate > 0 and t1 - t0 < 1 / rate:
                time.sleep(1 / rate - (t1 - t0))
        with lock:
            rows.extend(mine)

    ts = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    with open(out, "w") as f:
        f.writelines(rows)


if __name__ == "__main__":
    main()
