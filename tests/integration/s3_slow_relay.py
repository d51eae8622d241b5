#!/usr/bin/env python3
"""A slow object store for the tests: an HTTP relay on a loopback port in front of
a real S3 gateway that holds back the requests of some kinds for DELAY seconds
before passing them on; everything else passes at once. Requests go upstream
unchanged (the Host header too, so that SigV4 signatures made for the relay's
address still verify). Each request held is logged to LOG as "start <kind> <t>"
when it arrives and "end <kind> <t>" when its answer goes back (t: unix seconds).

The kinds held: those listed (comma-separated) in KINDS_FILE, read at every
request, so that a test changes them between its steps; "part" when it is not
given or does not exist. Kinds: part (a multipart part PUT), copy (CopyObject or
UploadPartCopy), tail-put, tail-get, tail-delete (a chunked upload's tail object),
head (any HEAD), begin (a multipart upload begun), complete, abort, put, get,
delete (any other object PUT, GET or DELETE), list.

Two more words in KINDS_FILE change what reads of blob objects (GET of a key with
/blobs/ in it) get back, logged as "start get <t>" when they arrive:
    stall  their first 1 MiB at once, the rest DELAY seconds later (stallN: their
           first N MiB)
    fail   500 at once (HEADs pass)

    s3_slow_relay.py UPSTREAM_URL PORT_FILE LOG DELAY [KINDS_FILE]
writes its port to PORT_FILE once it listens; stopped by its PID."""
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
kinds_file = sys.argv[5] if len(sys.argv) > 5 else None
log_lock = threading.Lock()


def held_kinds():
    if not kinds_file:
        return {"part"}
    try:
        with open(kinds_file) as f:
            return {k.strip() for k in f.read().split(",") if k.strip()}
    except FileNotFoundError:
        return {"part"}


def kind_of(method, path, headers):
    url = urllib.parse.urlsplit(path)
    query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
    tail = "/tail-" in url.path
    if method == "HEAD":
        return "head"
    if method == "PUT" and headers.get("x-amz-copy-source"):
        return "copy"
    if method == "PUT" and "partNumber" in query:
        return "part"
    if method == "POST" and "uploads" in query:
        return "begin"
    if method == "POST" and "uploadId" in query:
        return "complete"
    if method == "DELETE" and "uploadId" in query:
        return "abort"
    if method == "GET" and ("list-type" in query or "uploads" in query or "uploadId" in query):
        return "list"
    if tail and method in ("PUT", "GET", "DELETE"):
        return "tail-" + method.lower()
    return method.lower()


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
        kind = kind_of(self.command, self.path, self.headers)
        words = held_kinds()
        held = kind in words
        blob_get = kind == "get" and "/blobs/" in urllib.parse.urlsplit(self.path).path
        stall = max((int(w[5:] or 1) << 20 for w in words if w.startswith("stall")), default=0) if blob_get else 0
        fail = blob_get and "fail" in words
        if held or stall or fail:
            log("start " + kind)
        if held:
            time.sleep(delay)
        if fail:
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
        if self.command != "HEAD" and stall and len(data) > stall:
            self.wfile.write(data[:stall])
            self.wfile.flush()
            time.sleep(delay)
            self.wfile.write(data[stall:])
        elif self.command != "HEAD":
            self.wfile.write(data)
        if held:
            log("end " + kind)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = relay


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


srv = Server(("127.0.0.1", 0), Relay)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
