#!/usr/bin/env python3
"""Clients for gc-stress.sh: WORKERS threads push images that share layers (HEAD,
monolithic and chunked uploads, cross-repository mounts), delete manifests and tags,
and abandon or cancel uploads, for SECONDS, against URL (CA file for TLS) while GC
loops beside them. A manifest push refused with MANIFEST_BLOB_UNKNOWN (a GC with
grace 0 took a blob the client had just pushed) is pushed again, blobs first.
At the end: OUT gets one line per tag the registry should still hold,
"REPO TAG DIGEST", and the counts of what was done on stdout (JSON).

usage: gc_stress.py URL CA SECONDS WORKERS OUT
"""
import hashlib
import http.client
import json
import random
import ssl
import sys
import threading
import time
import urllib.parse

URL, CA, SECONDS, WORKERS, OUT = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
u = urllib.parse.urlparse(URL)
SHARED = [random.Random(f"shared-{i}").randbytes(32 * 1024) for i in range(12)]
MT = "application/vnd.oci.image.manifest.v1+json"
lock = threading.Lock()
counts = {"pushes": 0, "retries": 0, "most_retries": 0, "deletes": 0, "tag_deletes": 0, "mounts": 0, "aborted": 0,
          "cancelled": 0, "errors": 0}
tags = {}  # (repo, tag) -> digest


def count(k, n=1):
    with lock:
        counts[k] += n


def dg(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


class Client:
    def __init__(self):
        self.c = None

    def conn(self):
        if self.c is None:
            if u.scheme == "https":
                ctx = ssl.create_default_context(cafile=CA)
                self.c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=60)
            else:
                self.c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        return self.c

    def req(self, method, path, body=None, headers=None):
        for attempt in range(3):
            try:
                c = self.conn()
                c.request(method, path, body=body, headers=headers or {})
                r = c.getresponse()
                data = r.read()
                return r.status, r.getheader("Location"), data
            except (ConnectionError, http.client.HTTPException, OSError):
                self.c = None
                if attempt == 2:
                    raise
                time.sleep(0.1)


def loc_path(loc):
    p = urllib.parse.urlparse(loc)
    return p.path + ("?" + p.query if p.query else "")


def upload(cl, repo, blob, rnd, mount_from):
    d = dg(blob)
    st, _, _ = cl.req("HEAD", f"/v2/{repo}/blobs/{d}")
    if st == 200:
        return
    if mount_from and rnd.random() < 0.5:
        st, _, _ = cl.req("POST", f"/v2/{repo}/blobs/uploads/?mount={d}&from={mount_from}")
        if st == 201:
            count("mounts")
            return
        if st != 202:
            raise RuntimeError(f"mount: {st}")
        # the mount fell back to a session: left abandoned (GC expires it)
        count("aborted")
    if rnd.random() < 0.5:
        st, _, body = cl.req("POST", f"/v2/{repo}/blobs/uploads/?digest={d}", body=blob,
                             headers={"Content-Type": "application/octet-stream"})
        if st != 201:
            raise RuntimeError(f"monolithic upload: {st} {body[:200]!r}")
        return
    st, loc, _ = cl.req("POST", f"/v2/{repo}/blobs/uploads/")
    if st != 202:
        raise RuntimeError(f"POST upload: {st}")
    half = len(blob) // 2
    st, loc, _ = cl.req("PATCH", loc_path(loc), body=blob[:half],
                        headers={"Content-Type": "application/octet-stream",
                                 "Content-Range": f"0-{half - 1}"})
    if st != 202:
        raise RuntimeError(f"PATCH: {st}")
    sep = "&" if "?" in loc_path(loc) else "?"
    st, _, body = cl.req("PUT", loc_path(loc) + f"{sep}digest={d}", body=blob[half:],
                         headers={"Content-Type": "application/octet-stream"})
    if st != 201:
        raise RuntimeError(f"PUT upload: {st} {body[:200]!r}")


def push(cl, rnd, wid, repo, tag, other_repo):
    layers = rnd.sample(SHARED, 3) + [rnd.randbytes(8 * 1024)]
    cfg = json.dumps({"worker": wid, "n": rnd.random(), "architecture": "amd64", "os": "linux"}).encode()
    man = json.dumps({"schemaVersion": 2, "mediaType": MT,
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                 "digest": dg(cfg), "size": len(cfg)},
                      "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                  "digest": dg(l), "size": len(l)} for l in layers]}).encode()
    # GC at grace 0 runs back to back: each attempt whose blobs it took in between is
    # retried. The bound is time, not a count: a machine three times slower loses
    # most attempts (an attempt outlasts a GC cycle), yet the push must get through.
    deadline, tries = time.monotonic() + 60, 0
    while time.monotonic() < deadline:
        for b in [cfg] + layers:
            upload(cl, repo, b, rnd, other_repo)
        st, _, body = cl.req("PUT", f"/v2/{repo}/manifests/{tag}", body=man, headers={"Content-Type": MT})
        if st == 201:
            with lock:
                tags[(repo, tag)] = dg(man)
                counts["most_retries"] = max(counts["most_retries"], tries)
            count("pushes")
            return dg(man)
        if st == 400 and b"MANIFEST_BLOB_UNKNOWN" in body:
            count("retries")  # a GC (grace 0) took a blob in between: push again
            tries += 1
            continue
        raise RuntimeError(f"manifest put: {st} {body[:200]!r}")
    raise RuntimeError("manifest push kept failing with MANIFEST_BLOB_UNKNOWN for 60 s")


def worker(wid):
    rnd = random.Random(f"worker-{wid}")
    cl = Client()
    repos = [f"stress/w{wid}/r{j}" for j in range(3)]
    end = time.monotonic() + SECONDS
    n = 0
    while time.monotonic() < end:
        n += 1
        repo = rnd.choice(repos)
        other = rnd.choice([r for r in repos if r != repo])
        try:
            x = rnd.random()
            if x < 0.55:
                push(cl, rnd, wid, repo, f"t{rnd.randrange(6)}", other)
            elif x < 0.7:
                with lock:
                    mine = [(k, v) for k, v in tags.items() if k[0] == repo]
                if mine:
                    (r, t), d = rnd.choice(mine)
                    st, _, _ = cl.req("DELETE", f"/v2/{r}/manifests/{d}")
                    if st not in (202, 404):
                        raise RuntimeError(f"DELETE manifest: {st}")
                    with lock:
                        for k in [k for k, v in tags.items() if k[0] == r and v == d]:
                            del tags[k]
                    count("deletes")
            elif x < 0.8:
                with lock:
                    mine = [k for k in tags if k[0] == repo]
                if mine:
                    r, t = rnd.choice(mine)
                    st, _, _ = cl.req("DELETE", f"/v2/{r}/manifests/{t}")
                    if st not in (202, 404):
                        raise RuntimeError(f"DELETE tag: {st}")
                    with lock:
                        tags.pop((r, t), None)
                    count("tag_deletes")
            else:
                # an upload abandoned or cancelled midway
                st, loc, _ = cl.req("POST", f"/v2/{repo}/blobs/uploads/")
                if st != 202:
                    raise RuntimeError(f"POST upload: {st}")
                cl.req("PATCH", loc_path(loc), body=rnd.randbytes(4096),
                       headers={"Content-Type": "application/octet-stream", "Content-Range": "0-4095"})
                if rnd.random() < 0.5:
                    st, _, _ = cl.req("DELETE", loc_path(loc))
                    count("cancelled")
                else:
                    count("aborted")
        except Exception as e:  # noqa: BLE001 - counted and reported
            count("errors")
            print(f"worker {wid}: {e}", file=sys.stderr)


threads = [threading.Thread(target=worker, args=(i,)) for i in range(WORKERS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with open(OUT, "w") as f:
    for (r, t), d in sorted(tags.items()):
        f.write(f"{r} {t} {d}\n")
print(json.dumps(counts))
