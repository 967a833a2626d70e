"""Locust's version from its page: found across chunks, and never more than a bounded read.

A server on 127.0.0.1 answers as each test scripts it; tests/processes/test_finisher.py reads
a real Locust's page.
"""

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.finisher import locust_version
from app.finisher.http import Endpoint
from app.finisher.locust_version import read_locust_version

# Locust 2.47's page, as it renders its template arguments (history first: sorted keys).
PAGE = '<script>window.templateArgs = {"history": [%s], "users": {}, "version": "2.47.0"}</script>'


@contextmanager
def serving(answer: Callable[[BaseHTTPRequestHandler], None]) -> Iterator[Endpoint]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with contextlib.suppress(OSError):  # the reader gave up and closed: as it should
                answer(self)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Endpoint("127.0.0.1", server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def page(body: bytes) -> Callable[[BaseHTTPRequestHandler], None]:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return answer


def test_the_version_is_found_after_a_long_history_and_across_chunks() -> None:
    history = ",".join(['{"current_rps": 1.5, "time": "10:00:00"}'] * 5000)  # 200 KB
    with serving(page((PAGE % history).encode())) as locust:
        assert read_locust_version(locust) == "2.47.0"


@pytest.mark.parametrize("version", ["<img src=x>", "x" * 60, "latest"])
def test_a_version_that_is_not_one_is_none(version: str) -> None:
    body = (PAGE % "").replace("2.47.0", version).encode()
    with serving(page(body)) as locust:
        assert read_locust_version(locust) is None


def test_an_endless_page_is_given_up_at_its_byte_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locust_version, "PAGE_LIMIT", 256 * 1024)

    def endless(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.end_headers()
        for _ in range(10_000):  # 640 MB unless the reader stops
            handler.wfile.write(b"x" * 65536)

    with serving(endless) as locust:
        started = time.monotonic()
        assert read_locust_version(locust) is None
        assert time.monotonic() - started < 10


def test_a_dripping_page_is_given_up_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locust_version, "PAGE_SECONDS", 1.0)

    def drip(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.end_headers()
        for _ in range(60):
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.2)

    with serving(drip) as locust:
        started = time.monotonic()
        assert read_locust_version(locust) is None
        assert time.monotonic() - started < 6


def test_no_web_ui_is_no_version() -> None:
    with serving(page(b"")) as locust:
        pass
    assert read_locust_version(locust) is None  # nothing listens any more
