#!/usr/bin/env python3
"""Fill a registry with many tags and repositories through the API, then walk
tags/list and _catalog page by page, checking that every page is ordered, within
its size, linked to the next, and that together they hold exactly what was pushed.

usage: listing_scale.py URL CAFILE [--tags N] [--repos N] [--page N]
"""
import argparse, hashlib, http.client, json, ssl, sys, time, urllib.parse

def conn_for(url, cafile):
    u = urllib.parse.urlsplit(url)
    if u.scheme == "https":
        ctx = ssl.create_default_context(cafile=cafile)
        return http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=60)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=60)

class Client:
    def __init__(self, url, cafile):
        self.url, self.cafile = url, cafile
        self.c = conn_for(url, cafile)

    def req(self, method, path, body=None, headers=None):
        for attempt in (1, 2):
            try:
                self.c.request(method, path, body=body, headers=headers or {})
                r = self.c.getresponse()
                data = r.read()
                return r.status, r.headers, data
            except (http.client.HTTPException, OSError):
                if attempt == 2:
                    raise
                self.c.close()
                self.c = conn_for(self.url, self.cafile)

def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)

def walk(cl, first_path, key, page):
    """Follow Link headers from first_path; returns (entries, pages, seconds per page)."""
    out, pages, path, times = [], 0, first_path, []
    while path:
        t0 = time.perf_counter()
        st, hd, body = cl.req("GET", path)
        times.append(time.perf_counter() - t0)
        if st != 200:
            fail(f"GET {path}: {st} {body[:200]!r}")
        items = json.loads(body)[key] or []
        pages += 1
        if len(items) > page:
            fail(f"page {pages} has {len(items)} entries, more than n={page}")
        if items != sorted(items):
            fail(f"page {pages} is not in lexical order")
        if out and items and items[0] <= out[-1]:
            fail(f"page {pages} does not continue after {out[-1]!r}")
        out.extend(items)
        link = hd.get("Link")
        if link:
            if not link.startswith("<") or 'rel="next"' not in link:
                fail(f"malformed Link header {link!r}")
            path = link[1:link.index(">")]
            if len(items) != page:
                fail(f"page {pages} is short ({len(items)}) but has a Link")
        else:
            path = None
    return out, pages, times

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url"); ap.add_argument("cafile")
    ap.add_argument("--tags", type=int, default=100000)
    ap.add_argument("--repos", type=int, default=20000)
    ap.add_argument("--page", type=int, default=1000)
    ap.add_argument("--fill-only", action="store_true", help="push, do not walk (benchmarks)")
    a = ap.parse_args()
    cl = Client(a.url, a.cafile)
    base = "scale/tags"

    config = b"{}"
    cdig = "sha256:" + hashlib.sha256(config).hexdigest()
    st, _, body = cl.req("POST", f"/v2/{base}/blobs/uploads/?digest={cdig}", config,
                         {"Content-Type": "application/octet-stream", "Content-Length": str(len(config))})
    if st != 201:
        fail(f"config upload: {st} {body!r}")
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": cdig, "size": len(config)},
        "layers": []}, separators=(",", ":")).encode()
    mdig = "sha256:" + hashlib.sha256(manifest).hexdigest()

    # tag names in an order unrelated to creation, of varied shapes
    tags = set()
    i = 0
    while len(tags) < a.tags:
        h = hashlib.sha256(str(i).encode()).hexdigest()
        tags.add(("v" if i % 3 == 0 else "") + h[: 6 + i % 7] + ("-rc" if i % 5 == 0 else ""))
        i += 1
    tags = sorted(tags)
    t0 = time.perf_counter()
    batch = 64
    order = sorted(tags, key=lambda t: hashlib.md5(t.encode()).hexdigest())
    for j in range(0, len(order), batch):
        q = "&".join("tag=" + t for t in order[j:j + batch])
        st, _, body = cl.req("PUT", f"/v2/{base}/manifests/{mdig}?{q}", manifest,
                             {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        if st != 201:
            fail(f"manifest push with tags: {st} {body[:300]!r}")
    fill_tags = time.perf_counter() - t0

    repos = sorted({f"scale/r{hashlib.sha256(b'r%d' % k).hexdigest()[:10]}" for k in range(a.repos)})
    t0 = time.perf_counter()
    for r in repos:
        st, _, body = cl.req("POST", f"/v2/{r}/blobs/uploads/?mount={cdig}&from={base}", b"",
                             {"Content-Length": "0"})
        if st != 201:
            fail(f"mount into {r}: {st} {body[:200]!r}")
    fill_repos = time.perf_counter() - t0
    if a.fill_only:
        print(f"filled {len(tags)} tags in {fill_tags:.1f} s, {len(repos)} repositories in {fill_repos:.1f} s")
        return

    got, pages, times = walk(cl, f"/v2/{base}/tags/list?n={a.page}", "tags", a.page)
    if got != tags:
        missing = set(tags) - set(got)
        fail(f"tags/list pages hold {len(got)} tags, {len(missing)} missing, {len(got) - len(set(got))} repeated")
    tag_ms = sorted(times)[len(times) // 2] * 1000

    everything = sorted(set(repos) | {base})
    got, cpages, ctimes = walk(cl, f"/v2/_catalog?n={a.page}", "repositories", a.page)
    if got != everything:
        fail(f"_catalog pages hold {len(got)} repositories, expected {len(everything)}")
    cat_ms = sorted(ctimes)[len(ctimes) // 2] * 1000

    st, _, body = cl.req("GET", f"/v2/{base}/tags/list?n=0")
    if st != 200 or json.loads(body)["tags"] not in ([], None):
        fail(f"n=0 should give an empty list: {st} {body[:200]!r}")
    st, _, body = cl.req("GET", f"/v2/{base}/tags/list?n=abc")
    if st != 400 or b"PAGINATION_NUMBER_INVALID" not in body:
        fail(f"n=abc should be 400 PAGINATION_NUMBER_INVALID: {st} {body[:200]!r}")

    print(f"tags: {len(tags)} in {pages} pages (median page {tag_ms:.2f} ms client-side, filled in {fill_tags:.1f} s)")
    print(f"repositories: {len(everything)} in {cpages} pages (median page {cat_ms:.2f} ms client-side, filled in {fill_repos:.1f} s)")

if __name__ == "__main__":
    main()
