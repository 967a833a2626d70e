"""A notification receiver for the cluster tests: runs in a pod (standard library only).

``POST`` anywhere records the post (its Idempotency-Key, its JSON body, when) and answers 503
to the first ``$FAIL_FIRST`` posts, then 200; like a careful receiver it accepts each key once
(a repeat is answered 200 and recorded as a duplicate). ``GET /posts`` lists what it got.
Bounded: a body over 64 KiB is refused (413), and at most 100 posts are kept.
"""

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BODY = 64 * 1024
MAX_POSTS = 100
FAIL_FIRST = int(os.environ.get("FAIL_FIRST", "0"))

posts: list[dict[str, Any]] = []
lock = threading.Lock()


class Receiver(BaseHTTPRequestHandler):
    """Records posts; answers by the script above."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        """One post."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._answer(413, {"error": "too large"})
            return
        body = self.rfile.read(length)
        key = self.headers.get("Idempotency-Key", "")
        with lock:
            status = 503 if len(posts) < FAIL_FIRST else 200
            duplicate = status == 200 and any(p["accepted"] and p["key"] == key for p in posts)
            if len(posts) < MAX_POSTS:
                posts.append(
                    {
                        "key": key,
                        "at": time.time(),
                        "status": status,
                        "accepted": status == 200 and not duplicate,
                        "body": json.loads(body or b"null"),
                    }
                )
        self._answer(status, {"ok": status == 200})

    def do_GET(self) -> None:
        """The posts so far."""
        with lock:
            self._answer(200, {"posts": posts})

    def _answer(self, status: int, document: Any) -> None:
        data = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


if __name__ == "__main__":
    server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Receiver)
    server.daemon_threads = True
    server.serve_forever()
