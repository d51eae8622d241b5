#!/usr/bin/env python3
"""Connection floods against a TLS berthd, for tests/integration/harden-conns.sh.

  conn_flood.py flood --port P [--src ADDR] [--idle N] [--hello N] [--header N]
                      [--interval S] [--duration S] [--reconnect PER_S] [--ready FILE]
                      --out FILE
      Holds N idle connections (TCP only, nothing sent), N connections dripping a TLS
      ClientHello one byte per interval, and N connections that complete the TLS
      handshake and then drip a request head one byte per interval, for the duration.
      With --reconnect, connections the server closed are opened again (at most
      PER_S a second), as an attacker would. Writes a JSON summary to FILE. With
      --ready, writes that FILE once each connection of the first wave is connected
      or closed (the server, taking them in order, has them before a later one).
  conn_flood.py slowbody --port P --path PATH --auth USER:PW [--count N] --ready FILE
      N POST requests that announce a 1 MiB body and send 10 bytes of it, then wait.
  conn_flood.py slowread --port P --path PATH --auth USER:PW [--count N] --ready FILE
      N GET requests whose answers are never read (a tiny receive buffer).
slowbody and slowread write FILE once the requests are out and hold until killed.
Everything stays on loopback; every loop is bounded in time.
"""
import argparse
import base64
import errno
import json
import resource
import selectors
import socket
import ssl
import sys
import time


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def client_hello(ctx):
    inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
    o = ctx.wrap_bio(inb, outb)
    try:
        o.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outb.read()


class Conn:
    __slots__ = ("kind", "sock", "tls", "inb", "outb", "opened", "closed", "connected",
                 "handshaken", "pos", "pending", "fd")

    def __init__(self, kind):
        self.kind = kind
        self.sock = None
        self.tls = self.inb = self.outb = None
        self.opened = time.monotonic()
        self.closed = None
        self.connected = False
        self.handshaken = None
        self.pos = 0
        self.pending = b""
        self.fd = -1


HEAD = (b"GET /v2/ HTTP/1.1\r\nHost: registry\r\nX-Slow: " + b"a" * 4000)


class Flood:
    def __init__(self, a):
        self.a = a
        self.sel = selectors.DefaultSelector()
        self.ctx = tls_context()
        self.hello = client_hello(self.ctx)
        self.conns = []
        self.opened = {"idle": 0, "hello": 0, "header": 0}
        self.connect_failed = 0
        self.lifetimes = {"idle": [], "hello": [], "header": []}
        self.handshakes = 0
        self.samples = []
        self.turn = 0

    def open(self, kind):
        c = Conn(kind)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((self.a.src, 0))
            s.setblocking(False)
            r = s.connect_ex(("127.0.0.1", self.a.port))
            if r not in (0, errno.EINPROGRESS):
                raise OSError(r, "connect")
        except OSError:
            s.close()
            self.connect_failed += 1
            return
        c.sock = s
        c.fd = s.fileno()
        if kind == "header":
            c.inb, c.outb = ssl.MemoryBIO(), ssl.MemoryBIO()
            c.tls = self.ctx.wrap_bio(c.inb, c.outb)
        self.sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
        self.conns.append(c)
        self.opened[kind] += 1

    def close(self, c, now):
        if c.closed is not None:
            return
        c.closed = now
        self.lifetimes[c.kind].append(now - c.opened)
        try:
            self.sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()

    def flush(self, c, now):
        if c.tls is not None:
            c.pending += c.outb.read()
        while c.pending:
            try:
                n = c.sock.send(c.pending)
            except BlockingIOError:
                return
            except OSError:
                self.close(c, now)
                return
            c.pending = c.pending[n:]

    def handshake(self, c, now):
        try:
            c.tls.do_handshake()
            c.handshaken = now
            self.handshakes += 1
        except ssl.SSLWantReadError:
            pass
        except (ssl.SSLError, OSError):
            self.flush(c, now)
            self.close(c, now)
            return
        self.flush(c, now)

    def on_event(self, c, mask, now):
        if not c.connected and mask & selectors.EVENT_WRITE:
            err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.close(c, now)
                return
            c.connected = True
            self.sel.modify(c.sock, selectors.EVENT_READ, c)
            if c.kind == "header":
                self.handshake(c, now)
        if c.closed is None and mask & selectors.EVENT_READ:
            try:
                data = c.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                self.close(c, now)
                return
            if not data:
                self.close(c, now)
                return
            if c.tls is not None:
                c.inb.write(data)
                if c.handshaken is None:
                    self.handshake(c, now)

    def drip(self, now):
        for c in self.conns:
            if c.closed is not None or not c.connected:
                continue
            if c.kind == "hello" and c.pos < len(self.hello):
                c.pending += self.hello[c.pos:c.pos + 1]
                c.pos += 1
                self.flush(c, now)
            elif c.kind == "header" and c.handshaken is not None and c.pos < len(HEAD):
                try:
                    c.tls.write(HEAD[c.pos:c.pos + 1])
                except (ssl.SSLError, OSError):
                    self.close(c, now)
                    continue
                c.pos += 1
                self.flush(c, now)

    def alive(self, now, older_than):
        n = {"idle": 0, "hello": 0, "header": 0}
        for c in self.conns:
            if c.closed is None and now - c.opened >= older_than:
                n[c.kind] += 1
        return n

    def run(self):
        a = self.a
        start = time.monotonic()
        # interleaved, so that each kind gets some of the slots the server gives
        # one address: the drips are what the header deadline has to catch
        want = {"idle": a.idle, "hello": a.hello, "header": a.header}
        left = dict(want)
        while any(left.values()):
            for kind in ("header", "hello", "idle"):
                if left[kind]:
                    self.open(kind)
                    left[kind] -= 1
        first = list(self.conns)
        next_drip = start + a.interval
        next_sample = start + 1.0
        budget = 0.0
        last = start
        while True:
            now = time.monotonic()
            if now - start >= a.duration:
                break
            for key, mask in self.sel.select(timeout=0.1):
                self.on_event(key.data, mask, now)
            if first and all(c.connected or c.closed is not None for c in first):
                first = None
                if a.ready:
                    with open(a.ready, "w") as f:
                        f.write("%d\n" % sum(1 for c in self.conns if c.closed is None))
            now = time.monotonic()
            if now >= next_drip:
                self.drip(now)
                next_drip += a.interval
            if a.reconnect:
                budget = min(budget + (now - last) * a.reconnect, float(a.reconnect))
                live = {k: 0 for k in want}
                for c in self.conns:
                    if c.closed is None:
                        live[c.kind] += 1
                while budget >= 1:
                    short = [k for k in ("header", "hello", "idle") if live[k] < want[k]]
                    if not short:
                        break
                    kind = short[self.turn % len(short)]
                    self.turn += 1
                    self.open(kind)
                    live[kind] += 1
                    budget -= 1
                self.conns = [c for c in self.conns if c.closed is None]
            last = now
            if now >= next_sample:
                # a connection the server closed at once is seen closed within
                # the select timeout: count only the ones older than a second
                self.samples.append(self.alive(now, 1.0))
                next_sample += 1.0
        now = time.monotonic()
        still = self.alive(now, 0.0)
        for c in self.conns:
            if c.closed is None:
                # still open at the end: their age is how long the server kept them
                self.lifetimes[c.kind].append(now - c.opened)
                c.sock.close()
        return {
            "opened": self.opened,
            "connect_failed": self.connect_failed,
            "handshakes": self.handshakes,
            "open_at_end": still,
            "max_alive": {k: max((s[k] for s in self.samples), default=0) for k in want},
            "max_alive_total": max((sum(s.values()) for s in self.samples), default=0),
            "max_lifetime": {k: round(max(v, default=0.0), 2) for k, v in self.lifetimes.items()},
            "lived_over_2s": {k: sum(1 for t in v if t > 2.0) for k, v in self.lifetimes.items()},
        }


def request_socket(a):
    ctx = tls_context()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((a.src, 0))
    if a.cmd == "slowread":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(5)
    s.connect(("127.0.0.1", a.port))
    t = ctx.wrap_socket(s)
    return t


def hold_requests(a):
    auth = base64.b64encode(a.auth.encode()).decode()
    socks = []
    for _ in range(a.count):
        t = request_socket(a)
        if a.cmd == "slowbody":
            head = ("POST %s HTTP/1.1\r\nHost: registry\r\nAuthorization: Basic %s\r\n"
                    "Content-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\n"
                    % (a.path, auth))
            t.sendall(head.encode() + b"0123456789")
        else:
            head = ("GET %s HTTP/1.1\r\nHost: registry\r\nAuthorization: Basic %s\r\n\r\n"
                    % (a.path, auth))
            t.sendall(head.encode())
        socks.append(t)
    time.sleep(1)  # let the server take them in
    with open(a.ready, "w") as f:
        f.write("%d\n" % len(socks))
    end = time.monotonic() + a.hold
    while time.monotonic() < end:
        time.sleep(0.5)
    for t in socks:
        t.close()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("flood")
    f.add_argument("--idle", type=int, default=0)
    f.add_argument("--hello", type=int, default=0)
    f.add_argument("--header", type=int, default=0)
    f.add_argument("--interval", type=float, default=2.0)
    f.add_argument("--duration", type=float, default=20.0)
    f.add_argument("--reconnect", type=float, default=0.0)
    f.add_argument("--out", required=True)
    f.add_argument("--ready")
    for name in ("slowbody", "slowread"):
        s = sub.add_parser(name)
        s.add_argument("--path", required=True)
        s.add_argument("--auth", required=True)
        s.add_argument("--count", type=int, default=3)
        s.add_argument("--hold", type=float, default=30.0)
        s.add_argument("--ready", required=True)
    for s in sub.choices.values():
        s.add_argument("--port", type=int, required=True)
        s.add_argument("--src", default="127.0.0.1")
    a = p.parse_args()
    raise_nofile()
    if a.cmd == "flood":
        r = Flood(a).run()
        with open(a.out, "w") as out:
            json.dump(r, out)
        print(json.dumps(r))
    else:
        hold_requests(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
