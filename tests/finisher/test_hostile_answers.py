"""Hostile answers from Locust and the exporter: every read ends at its cap, in bytes and in
time, the worker's memory stays within half its 64 Mi, and the summary says what was given up.

A server on 127.0.0.1 answers byte by byte as each test scripts it; the finisher's reads
run in a fresh interpreter (:data:`PROBE`), so that its peak RSS (VmHWM) is the read's own. Bounds
are generous (a busy machine makes the reads slower, never the caps shorter).
"""

import contextlib
import json
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from app.finisher import stats_read
from app.finisher.artifacts import RAW_LIMIT
from app.finisher.http import GET_SECONDS
from testkit.http_head import read_head

# Half the container's 64 Mi: what the worker may reach under any answer.
RSS_LIMIT_KIB = 32 * 1024
READ_SECONDS = 3.0  # the report's cap, made short here (the probe sets it)
MARGIN = 10.0  # for a busy machine; a read that is not bounded runs for minutes
SERVER_SECONDS = 90.0  # no connection of the hostile server lives longer

PROBE = """
import argparse, json, sys, time
from app.core import env_names
from app.finisher import artifacts
from app.finisher.config import add_arguments, resolve
from app.finisher.run import Finisher

what, url, report_seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
parser = argparse.ArgumentParser()
add_arguments(parser)
config = resolve(
    parser.parse_args(["--locust-url", url, "--exporter-url", url]),
    {env_names.ENV_REPORT_URL: "http://127.0.0.1:9/v1/reports"},
)
artifacts.READ_SECONDS = report_seconds
started = time.monotonic()
finisher = Finisher(config)
if what == "report":
    finisher.keeper.fetch()
    out = {"kept": sorted(finisher.keeper.kept), "problems": finisher.keeper.problems}
elif what == "stats":
    finisher._poll_stats()
    summary = finisher.progress.summary()
    out = {"requests": summary.get("requests"), "errors": summary.get("errors")}
else:
    out = {"primed": finisher._prime(), "counted": not finisher.progress.counter_missing}
out["notes"] = finisher.progress.notes
out["seconds"] = time.monotonic() - started
# VmHWM, not ru_maxrss: that one keeps the peak of the forked parent from before the exec.
with open("/proc/self/status") as status:
    out["max_rss_kib"] = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
print(json.dumps(out))
"""

Answer = Callable[[socket.socket, str], None]


class Hostile(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, answer: Answer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = answer
        self.sent: dict[str, int] = {}  # bytes of body sent, by path


class _Handler(socketserver.BaseRequestHandler):
    server: Hostile

    def handle(self) -> None:
        head = read_head(self.request)
        if head is None:
            return
        path = head.split(b" ", 2)[1].decode()
        with contextlib.suppress(OSError):  # the finisher gave up: what it should do
            self.server.answer(self.request, path)


@contextmanager
def hostile(answer: Answer) -> Iterator[tuple[str, Hostile]]:
    server = Hostile(answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server
    finally:
        server.shutdown()
        server.server_close()


def probe(what: str, url: str, timeout: float) -> dict[str, Any]:
    """Run one of the finisher's reads in a fresh interpreter; what it returned and cost."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, what, url, str(READ_SECONDS)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    print(f"{what}: {result['seconds']:.1f} s, peak RSS {result['max_rss_kib']} KiB")
    return result


def not_found(sock: socket.socket) -> None:
    sock.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


def drip(sock: socket.socket, head: bytes) -> None:
    """One byte every half second, until the finisher goes (or the server's own bound)."""
    sock.sendall(head)
    ends = time.monotonic() + SERVER_SECONDS
    while time.monotonic() < ends:
        sock.sendall(b" ")  # what JSON allows anywhere, so only the time cap can end it
        time.sleep(0.5)


HEADS = {
    "content-length": b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n",
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    "headers": b"HTTP/1.1 200 OK\r\nX-Slow: ",
}


def stream(sock: socket.socket, server: Hostile, path: str, pieces: Iterator[bytes]) -> None:
    """Send ``pieces`` as one close-delimited body, counting what went out."""
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
    ends = time.monotonic() + SERVER_SECONDS
    server.sent[path] = 0
    for piece in pieces:
        if time.monotonic() > ends:
            return
        sock.sendall(piece)
        server.sent[path] += len(piece)


ROW = {
    "method": "GET",
    "num_requests": 7,
    "num_failures": 1,
    "avg_response_time": 12.5,
    "median_response_time": 11,
    "response_time_percentile_0.95": 30,
    "response_time_percentile_0.99": 40,
    "max_response_time": 50.0,
    "total_rps": 3.5,
}


def stats_pieces(errors: int, error_bytes: int) -> Iterator[bytes]:
    """Locust's /stats/requests with ``errors`` kinds of error of ``error_bytes`` each."""
    rows = [{**ROW, "name": f"/items/{i}"} for i in range(500)]
    rows.append({**ROW, "name": "Aggregated", "num_requests": 123456, "num_failures": 500})
    yield b'{"stats": ' + json.dumps(rows).encode() + b', "errors": ['
    page = "<html>" + "x" * error_bytes + "</html>"
    for i in range(errors):
        entry = {"method": "GET", "name": f"/items/{i}", "error": f"{i} {page}", "occurrences": i}
        yield (b", " if i else b"") + json.dumps(entry).encode()
    yield b'], "fail_ratio": 0.004, "state": "running", "user_count": 4, "worker_count": 1}'


# ----------------------------------------------------------------- Locust's report files


@pytest.mark.parametrize("how", sorted(HEADS))
def test_a_report_dripped_a_byte_at_a_time_is_given_up_at_its_time_cap(how: str) -> None:
    def answer(sock: socket.socket, path: str) -> None:
        if path.startswith("/stats/report"):
            drip(sock, HEADS[how])
        else:
            not_found(sock)

    with hostile(answer) as (url, _):
        result = probe("report", url, timeout=READ_SECONDS + 60)
    assert result["seconds"] < READ_SECONDS + MARGIN
    assert "report.html" not in result["kept"]
    assert "not read within" in result["problems"]["report.html"]
    assert result["max_rss_kib"] <= RSS_LIMIT_KIB


def test_a_report_of_4_gib_is_given_up_at_its_byte_cap() -> None:
    zeros = bytes(1024 * 1024)

    def answer(sock: socket.socket, path: str) -> None:
        if path.startswith("/stats/report"):
            stream(sock, server, path, (zeros for _ in range(4096)))
        else:
            not_found(sock)

    with hostile(answer) as (url, server):
        result = probe("report", url, timeout=READ_SECONDS + 60)
    sent = server.sent["/stats/report?download=1"]
    print(f"4 GiB report: {sent / 2**20:.0f} MiB sent before the finisher gave up")
    # What the kernel's socket buffers took beyond what the finisher read.
    assert sent <= RAW_LIMIT + 16 * 1024 * 1024
    assert "report.html" not in result["kept"]
    assert result["max_rss_kib"] <= RSS_LIMIT_KIB


# ----------------------------------------------------------------- Locust's stats


def test_40_mb_of_stats_keep_their_numbers_in_bounded_memory() -> None:
    # 500 kinds of error, each an 80 KB error page (response.failure(response.text)).
    def answer(sock: socket.socket, path: str) -> None:
        stream(sock, server, path, stats_pieces(500, 80_000))

    with hostile(answer) as (url, server):
        result = probe("stats", url, timeout=stats_read.STATS_SECONDS + 60)
    assert server.sent["/stats/requests"] > 40_000_000
    assert result["max_rss_kib"] <= RSS_LIMIT_KIB
    assert result["requests"] == 123456
    assert [error["occurrences"] for error in result["errors"]] == [499, 498, 497]


def test_stats_past_their_byte_cap_are_given_up_and_said(monkeypatch: pytest.MonkeyPatch) -> None:
    errors = stats_read.STATS_LIMIT // 80_000 + 10

    def answer(sock: socket.socket, path: str) -> None:
        stream(sock, server, path, stats_pieces(errors, 80_000))

    with hostile(answer) as (url, server):
        result = probe("stats", url, timeout=stats_read.STATS_SECONDS + 60)
    assert result["max_rss_kib"] <= RSS_LIMIT_KIB
    assert result["requests"] is None
    assert any("Locust's stats were not read" in note for note in result["notes"])


def test_a_stats_entry_past_its_cap_is_given_up_and_said() -> None:
    def answer(sock: socket.socket, path: str) -> None:
        stream(sock, server, path, stats_pieces(3, stats_read.ENTRY_LIMIT))

    with hostile(answer) as (url, server):
        result = probe("stats", url, timeout=stats_read.STATS_SECONDS + 60)
    assert result["max_rss_kib"] <= RSS_LIMIT_KIB
    assert result["requests"] is None
    assert any("Locust's stats were not read" in note for note in result["notes"])


def test_stats_dripped_a_byte_at_a_time_are_given_up_at_their_time_cap() -> None:
    # One way of dripping: the report's tests above try each on the same socket.
    with hostile(lambda sock, path: drip(sock, HEADS["content-length"])) as (url, _):
        result = probe("stats", url, timeout=stats_read.STATS_SECONDS + 60)
    assert result["seconds"] < stats_read.STATS_SECONDS + MARGIN
    assert result["requests"] is None
    assert any("Locust's stats were not read" in note for note in result["notes"])


# ----------------------------------------------------------------- the exporter


def test_a_dripping_exporter_is_given_up_at_its_time_cap() -> None:
    with hostile(lambda sock, path: drip(sock, HEADS["chunked"])) as (url, _):
        result = probe("metrics", url, timeout=GET_SECONDS + 60)
    assert result["seconds"] < GET_SECONDS + MARGIN
    assert result["counted"] is False


def test_40_mb_of_metrics_are_given_up_in_bounded_memory_and_said() -> None:
    line = b'locust_errors{error="' + b"x" * 80_000 + b'",method="GET",name="/"} 1\n'

    def answer(sock: socket.socket, path: str) -> None:
        stream(sock, server, path, (line for _ in range(500)))

    with hostile(answer) as (url, server):
        result = probe("metrics", url, timeout=GET_SECONDS + 60)
    assert result["max_rss_kib"] <= RSS_LIMIT_KIB
    # It answered, so it holds the totals: only its scrapes go uncounted (and the TTL ends it).
    assert (result["primed"], result["counted"]) == (True, False)
    assert len(result["notes"]) == 1
    assert result["notes"][0].startswith("the exporter's /metrics was given up (more than 4 MiB)")
