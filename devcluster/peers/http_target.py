"""The demo's and the tests' load target: a tiny HTTP server.

``GET /`` and ``GET /item/<n>`` answer 200; ``GET /fail`` answers 500 (a failing test);
anything else 404. Listens on ``$PORT`` (default 8080) on every address of its pod.
``$DELAY_MS`` (default 0, at most 5000) slows every answer down: a target whose latency was
raised, for the tests of regressions against earlier runs.
"""

import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DELAY_SECONDS = min(max(int(os.environ.get("DELAY_MS", "0") or 0), 0), 5000) / 1000


class Handler(BaseHTTPRequestHandler):
    """Answers by path."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        """Serve one request."""
        if DELAY_SECONDS:
            time.sleep(DELAY_SECONDS)
        if self.path == "/" or self.path.startswith("/item/"):
            self._answer(200, b"ok\n")
        elif self.path.startswith("/fail"):
            self._answer(500, b"failing on purpose\n")
        else:
            self._answer(404, b"not found\n")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a load test would flood the log."""


if __name__ == "__main__":
    server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler)
    server.daemon_threads = True
    server.serve_forever()
