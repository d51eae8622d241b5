#!/usr/bin/env python3
"""Wrong passwords from many loopback addresses (issue 9, item 11).

CONNS connections, connection i bound to 127.0.0.(FIRST + i), each sending
GET PATH with Basic credentials that are always new (a new user name and a new
password per request by default: each one needs a verification; --user keeps one
name), for SECONDS, keeping the connection alive as long as the server does. Prints
a JSON summary on stdout: requests per status, 429s with a Retry-After of at least
1, 429s that name the full verification queue, transport errors.

Used by tests/integration/harden-auth-flood.sh and tests/bench/auth-flood-bench.sh.
"""
import argparse
import base64
import http.client
import json
import os
import ssl
import sys
import threading
import time


def worker(i, args, ctx, stop, stats, lock):
    addr = "127.0.0.%d" % (args.first + i)
    conn = None
    n = 0
    while not stop.is_set():
        n += 1
        user = args.user or "flood%dx%d" % (args.first + i, n)
        secret = "wrong-%d-%d-%d" % (os.getpid(), i, n)
        cred = base64.b64encode(("%s:%s" % (user, secret)).encode()).decode()
        try:
            if conn is None:
                conn = http.client.HTTPSConnection(args.host, args.port, context=ctx,
                                                   timeout=args.timeout,
                                                   source_address=(addr, 0))
            conn.request("GET", args.path, headers={"Authorization": "Basic " + cred})
            resp = conn.getresponse()
            body = resp.read()
            ra = resp.getheader("Retry-After") or ""
            with lock:
                key = str(resp.status)
                stats[key] = stats.get(key, 0) + 1
                if resp.status == 429:
                    if ra.isdigit() and int(ra) >= 1:
                        stats["429_retry_after"] += 1
                    if b"verifications waiting" in body:
                        stats["429_queue_full"] += 1
            if resp.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException):
            with lock:
                stats["errors"] += 1
            if conn is not None:
                conn.close()
            conn = None
            stop.wait(0.05)
        if args.pause > 0:
            stop.wait(args.pause)
    if conn is not None:
        conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cacert", required=True)
    ap.add_argument("--path", default="/v2/")
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--first", type=int, default=10, help="first address: 127.0.0.FIRST")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--pause", type=float, default=0, help="seconds between a connection's requests")
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--user", default="", help="one user name for every request")
    args = ap.parse_args()
    if args.first < 1 or args.first + args.conns > 255:
        ap.error("addresses 127.0.0.FIRST .. FIRST+CONNS-1 must stay within 127.0.0.1-254")

    ctx = ssl.create_default_context(cafile=args.cacert)
    stop = threading.Event()
    lock = threading.Lock()
    stats = {"429_retry_after": 0, "429_queue_full": 0, "errors": 0}
    threads = [threading.Thread(target=worker, args=(i, args, ctx, stop, stats, lock), daemon=True)
               for i in range(args.conns)]
    started = time.monotonic()
    for t in threads:
        t.start()
    stop.wait(args.seconds)
    stop.set()
    for t in threads:
        t.join(args.timeout + 5)
    with lock:
        stats["seconds"] = round(time.monotonic() - started, 2)
        stats["requests"] = sum(v for k, v in stats.items() if k.isdigit())
        json.dump(stats, sys.stdout, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
