#!/usr/bin/env python3
"""Helpers of gc-bench.sh.

  gc_bench.py populate DATA N      a store of N blobs (1 KiB files), half kept (linked
                                   to bench/keep and named by tagged manifests of 100
                                   layers) and half garbage (no reference, marked
                                   unreferenced two hours ago, as a run before would
                                   have), written straight into DATA/berth.db (SQLite,
                                   schema made by a berthd start) and DATA/blobs
  gc_bench.py push URL CA SECS OUT clients pushing (4 threads: a 16 KiB blob, then a
                                   manifest naming it) for SECS; OUT gets the end time
                                   (CLOCK_MONOTONIC) of each push, a line as it ends
"""
import hashlib
import http.client
import json
import os
import ssl
import sqlite3
import sys
import threading
import time
import urllib.parse


def populate(data, n):
    db = sqlite3.connect(os.path.join(data, "berth.db"))
    now = int(time.time())
    db.execute("INSERT OR IGNORE INTO repositories(name) VALUES ('bench/keep')")
    rid = db.execute("SELECT id FROM repositories WHERE name = 'bench/keep'").fetchone()[0]

    def blob(content):
        d = hashlib.sha256(content).hexdigest()
        dirp = os.path.join(data, "blobs", "sha256", d[:2])
        os.makedirs(dirp, exist_ok=True)
        with open(os.path.join(dirp, d), "wb") as f:
            f.write(content)
        return "sha256:" + d

    kept = []
    for i in range(n):
        d = blob(i.to_bytes(8, "little") * 128)
        if i % 2:
            db.execute("INSERT INTO blobs(digest, size, created_at, unref_since) VALUES (?, 1024, ?, ?)",
                       (d, now - 86400, now - 7200))
        else:
            db.execute("INSERT INTO blobs(digest, size, created_at) VALUES (?, 1024, ?)", (d, now - 86400))
            db.execute("INSERT INTO repo_blobs(repo_id, digest, created_at) VALUES (?, ?, ?)", (rid, d, now - 86400))
            kept.append(d)
    for m in range(0, len(kept), 100):
        layers = kept[m:m + 100]
        man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": layers[0],
                                     "size": 1024},
                          "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l,
                                      "size": 1024} for l in layers[1:]]}).encode()
        md = blob(man)
        db.execute("INSERT INTO blobs(digest, size, created_at) VALUES (?, ?, ?)", (md, len(man), now - 86400))
        db.execute("INSERT INTO manifests(repo_id, digest, media_type, size, created_at) VALUES (?, ?, ?, ?, ?)",
                   (rid, md, "application/vnd.oci.image.manifest.v1+json", len(man), now - 86400))
        for l in layers:
            db.execute("INSERT OR IGNORE INTO manifest_refs(repo_id, manifest, child, is_manifest) VALUES (?, ?, ?, 0)",
                       (rid, md, l))
        db.execute("INSERT INTO tags(repo_id, name, digest, updated_at) VALUES (?, ?, ?, ?)",
                   (rid, f"m{m // 100}", md, now - 86400))
    db.commit()


def push(url, ca, secs, out):
    u = urllib.parse.urlparse(url)
    end = time.monotonic() + secs
    lock = threading.Lock()
    f = open(out, "w", buffering=1)  # a line per push as it ends: the run may be stopped midway

    def worker(w):
        ctx = ssl.create_default_context(cafile=ca)
        c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=60)
        i = 0
        while time.monotonic() < end:
            i += 1
            b = f"w{w}-{i}-{time.time_ns()}".encode() * 1024
            d = "sha256:" + hashlib.sha256(b[:16384]).hexdigest()
            c.request("POST", f"/v2/bench/push{w}/blobs/uploads/?digest={d}", body=b[:16384],
                      headers={"Content-Type": "application/octet-stream"})
            r = c.getresponse()
            r.read()
            if r.status != 201:
                raise SystemExit(f"upload: {r.status}")
            man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                              "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d,
                                         "size": 16384}, "layers": []}).encode()
            c.request("PUT", f"/v2/bench/push{w}/manifests/t{i % 50}", body=man,
                      headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
            r = c.getresponse()
            r.read()
            if r.status != 201:
                raise SystemExit(f"manifest: {r.status}")
            with lock:
                f.write(f"{time.monotonic():.6f}\n")

    ts = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    f.close()


if sys.argv[1] == "populate":
    populate(sys.argv[2], int(sys.argv[3]))
else:
    push(sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5])
