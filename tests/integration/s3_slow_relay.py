#!/usr/bin/env python3
"""A slow object store for the tests: an HTTP relay on a loopback port in front of
a real S3 gateway that holds back every multipart part PUT (?partNumber=) for DELAY
seconds before passing it on; everything else passes at once. Requests go upstream
unchanged (the Host header too, so that SigV4 signatures made for the relay's
address still verify). Each part PUT is logged to LOG as "start <t>" when it
arrives and "end <t>" when its answer goes back (t: unix seconds).

    s3_slow_relay.py UPSTREAM_URL PORT_FILE LOG DELAY [MODE_FILE]
writes its port to PORT_FILE once it listens; stopped by its PID.

With MODE_FILE, the word it holds (read at each request; none: "parts") says what is
slowed, for reads of blob objects (GET or HEAD of a key with /blobs/ in it) too:
    parts  part PUTs held DELAY seconds (the default)
    none   nothing
    get    blob reads held DELAY seconds before they go upstream
    stall  blob GETs answered with their first 1 MiB at once, the rest DELAY
           seconds later (stallN: their first N MiB)
    fail   blob GETs answered 500 at once (HEADs pass)
Each slowed blob read is logged as "get <t>" when it arrives."""
import http.client
import os
import http.server
import socketserver
import sys
import threading
import time
import urllib.parse

upstream = urllib.parse.urlsplit(sys.argv[1])
port_file, log_path, delay = sys.argv[2], sys.argv[3], float(sys.argv[4])
mode_file = sys.argv[5] if len(sys.argv) > 5 else None


def mode():
    if not mode_file:
        return "parts"
    try:
        with open(mode_file) as f:
            return f.read().strip() or "parts"
    except OSError:
        return "parts"
log_lock = threading.Lock()


def log(what):
    with log_lock, open(log_path, "a") as f:
        f.write("%s %.3f\n" % (what, time.time()))


class Relay(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def relay(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        m = mode()
        part = m == "parts" and self.command == "PUT" and "partNumber=" in urllib.parse.urlsplit(self.path).query
        read = self.command in ("GET", "HEAD") and "/blobs/" in urllib.parse.urlsplit(self.path).path
        if part:
            log("start")
            time.sleep(delay)
        stall = (int(m[5:] or 1) << 20) if m.startswith("stall") else 0
        if read and (m == "get" or stall) or read and m == "fail" and self.command == "GET":
            log("get")
        if read and m == "get":
            time.sleep(delay)
        if read and m == "fail" and self.command == "GET":
            self.send_response(500, "Internal Server Error")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in self.headers.items():
                if k.lower() not in ("connection", "transfer-encoding"):
                    conn.putheader(k, v)
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length", "date", "server"):
                self.send_header(k, v)
        # a HEAD's length is the object's
        self.send_header("Content-Length", resp.getheader("Content-Length", "0") if self.command == "HEAD" else str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and read and stall and len(data) > stall:
            self.wfile.write(data[:stall])
            self.wfile.flush()
            time.sleep(delay)
            self.wfile.write(data[stall:])
        elif self.command != "HEAD":
            self.wfile.write(data)
        if part:
            log("end")

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = relay


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


srv = Server(("127.0.0.1", 0), Relay)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
