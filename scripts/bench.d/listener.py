"""The webhook receiver of scripts/bench's latency case: a local HTTP server in a thread that
notes when the alert of each `latency_marker seq=N` line arrived.

Python 3.11 standard library only.
"""

from __future__ import annotations

import http.server
import re
import threading
import time


class Listener:
    """A local HTTP server (a thread) recording when each marker's alert arrived."""

    def __init__(self):
        self.arrivals: dict[int, float] = {}
        self.duplicates = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body in one write, as real servers send them: unbuffered, the body
            # waits behind Nagle for the client's delayed ACK (~40 ms a request), and the
            # case would measure this listener instead of Klaxon.
            wbufsize = 64 * 1024

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                now = time.perf_counter()
                for s in set(int(m) for m in re.findall(rb"latency_marker seq=(-?\d+)", body)):
                    if s in outer.arrivals:
                        outer.duplicates += 1
                    else:
                        outer.arrivals[s] = now
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

