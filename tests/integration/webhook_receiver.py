#!/usr/bin/env python3
"""A webhook receiver for tests/integration/webhooks.sh: listens on 127.0.0.1:PORT and
appends every POST it answers 2xx to as one JSON line to OUT (path, headers with
lower-case names, body as text). While the file STATUS exists and holds a number,
requests are answered with that status instead (and not recorded): a target that
fails. Answers are written only after the line is on disk."""
import argparse
import http.server
import json
import os
import socketserver


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--status-file", required=True)
    args = ap.parse_args()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n)
            status = 200
            try:
                with open(args.status_file) as f:
                    status = int(f.read().strip() or "200")
            except (OSError, ValueError):
                pass
            if 200 <= status < 300:
                rec = {
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body.decode("utf-8"),
                }
                with open(args.out, "a") as f:
                    f.write(json.dumps(rec) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, fmt, *a):
            pass

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        allow_reuse_address = True
        daemon_threads = True

    with Server(("127.0.0.1", args.port), Handler) as srv:
        srv.serve_forever()


if __name__ == "__main__":
    main()
