"""The finisher's hand-over of Locust's report: bounded, retried only when it may help."""

import argparse
import gzip
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from app.core import env_names
from app.core.artifacts import REPORT_HTML, STATS_JSON
from app.finisher.artifacts import SEND_ATTEMPTS, SEND_SECONDS, ArtifactKeeper, Gzip
from app.finisher.config import add_arguments, resolve


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Controller:
    """Answers each POST with the next status given; records what it was sent."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[dict[str, Any]] = []


@contextmanager
def controller(statuses: list[int]) -> Iterator[tuple[str, Controller]]:
    state = Controller(statuses)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            state.received.append(
                {"authorization": self.headers["Authorization"], "body": self.rfile.read(length)}
            )
            status = state.statuses.pop(0) if state.statuses else 201
            answer = json.dumps({"message": f"answer {status}"}).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/reports", state
    finally:
        server.shutdown()
        server.server_close()


def keeper(tmp_path: Path, url: str, **options: Any) -> ArtifactKeeper:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    # Locust is not there: these tests hand over what a test puts in `kept`.
    locust = f"http://127.0.0.1:{closed_port()}"
    environ = {env_names.ENV_REPORT_URL: url} if url else {}
    config = resolve(parser.parse_args(["--locust-url", locust]), environ)
    token = tmp_path / "token"
    token.write_text("token-1")
    return ArtifactKeeper(config, token_file=token, **options)


HTML = gzip.compress(b"<html>report</html>")


def test_without_a_report_url_nothing_is_read_or_sent(tmp_path: Path) -> None:
    keeping = keeper(tmp_path, "")
    keeping.fetch()
    outcome = keeping.hand_over()
    assert not outcome.kept
    assert outcome.note == "no report URL: the webhook keeps no reports"
    assert keeping.problems == {}


def test_a_locust_that_never_answered_is_said_file_by_file_and_nothing_is_sent(
    tmp_path: Path,
) -> None:
    with controller([]) as (url, state):
        keeping = keeper(tmp_path, url)
        keeping.fetch()
        outcome = keeping.hand_over()
    assert not outcome.kept
    assert state.received == []
    assert len(outcome.left_out) == 4
    assert "not read from Locust's /stats/report?download=1" in outcome.left_out[0].reason


def test_what_was_not_read_is_sent_with_the_rest(tmp_path: Path) -> None:
    with controller([]) as (url, state):
        keeping = keeper(tmp_path, url)
        keeping.fetch()  # Locust is gone: every file has a reason
        keeping.kept[STATS_JSON] = Gzip.of(gzip.compress(b"{}"))
        outcome = keeping.hand_over()
    assert outcome.kept
    body = state.received[0]["body"]
    assert b'name="left-out.json"' in body
    assert b"report.html" in body
    assert [entry.file for entry in outcome.left_out] == [
        REPORT_HTML,
        "failures.csv",
        "exceptions.json",
    ]


def test_an_unreachable_controller_costs_at_most_the_bound(tmp_path: Path) -> None:
    keeping = keeper(tmp_path, f"http://127.0.0.1:{closed_port()}/v1/reports")
    keeping.kept[REPORT_HTML] = Gzip.of(HTML)
    started = time.monotonic()
    outcome = keeping.hand_over()
    assert time.monotonic() - started < SEND_SECONDS + 1
    assert not outcome.kept
    assert outcome.note.startswith("controller unreachable:")
    assert outcome.summary() == {
        "kept": False,
        "bytes": 0,
        "leftOut": ["stats.json", "failures.csv", "exceptions.json"],  # never read
        "note": outcome.note,
    }


def test_a_refusal_is_not_asked_again(tmp_path: Path) -> None:
    with controller([403]) as (url, state):
        keeping = keeper(tmp_path, url)
        keeping.kept[REPORT_HTML] = Gzip.of(HTML)
        outcome = keeping.hand_over()
    assert len(state.received) == 1
    assert (outcome.kept, outcome.note) == (False, "not kept: answer 403")


def test_an_outage_is_retried_with_a_freshly_read_token(tmp_path: Path) -> None:
    pauses: list[float] = []

    def rotate(seconds: float) -> None:
        # The kubelet refreshed the projected token while the finisher waited.
        pauses.append(seconds)
        (tmp_path / "token").write_text(f"token-{len(pauses) + 1}")

    with controller([503, 503]) as (url, state):
        keeping = keeper(tmp_path, url, sleep=rotate)
        keeping.kept[REPORT_HTML] = Gzip.of(HTML)
        outcome = keeping.hand_over()
    assert outcome.kept
    assert outcome.bytes == len(HTML)
    assert [r["authorization"] for r in state.received] == [
        "Bearer token-1",
        "Bearer token-2",
        "Bearer token-3",
    ]
    assert len(state.received) == SEND_ATTEMPTS


def test_report_files_past_what_one_hand_over_carries_are_not_held(tmp_path: Path) -> None:
    # Four incompressible files of 60 kB against a 100 kB request: only what one hand-over
    # can carry is held, the most valuable first (the stats), the report page given up.
    import os

    from app.core.artifacts import EXCEPTIONS_JSON, FAILURES_CSV

    body = os.urandom(60_000)

    class Locust(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Locust)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        keeping = keeper(tmp_path, "http://127.0.0.1:9/v1/reports", file_limit=100_000)
        keeping.locust = keeping.locust.parse(f"http://127.0.0.1:{server.server_address[1]}")
        keeping.fetch()
        keeping.fetch()  # the totals grew: everything read again, still within the bound
    finally:
        server.shutdown()
        server.server_close()
    assert list(keeping.kept) == [STATS_JSON]
    assert sum(copy.size for copy in keeping.kept.values()) <= 100_000
    for file in (FAILURES_CSV, EXCEPTIONS_JSON, REPORT_HTML):
        assert "more than 100000 bytes compressed" in keeping.problems[file]


class _Serving:
    """A Locust serving one incompressible body for every file; ``cut`` ends answers early."""

    def __init__(self, size: int) -> None:
        import random

        self.body = random.Random(3).randbytes(size)
        self.cut: int | None = None

    @contextmanager
    def running(self) -> Iterator[str]:
        serving = self

        class Locust(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(serving.body)))
                self.end_headers()
                self.wfile.write(serving.body[: serving.cut])  # cut: Locust exiting mid-read

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Locust)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()


def test_reading_files_at_their_cap_again_holds_no_more_than_one_hand_over(
    tmp_path: Path,
) -> None:
    # report-at-caps (bench/finisher_memory.py) in small: each file incompressible, 900 kB
    # against a 1 MB hand-over, read twice (the totals grew), then handed over. Its kept copy
    # and its new one are never held together, nor joined into one more copy: it stays in
    # the pieces read until it is sent.
    import tracemalloc
    import zlib

    from app.core.artifacts import LEFT_OUT_PART, multipart_pieces

    limit = 1_000_000
    locust = _Serving(900_000)
    received = bytearray(2 * limit)  # the controller's buffer, made before the tracing
    lengths: list[int] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            self.rfile.readinto(memoryview(received)[:length])
            lengths.append(length)
            self.send_response(201)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    controller = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=controller.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{controller.server_address[1]}/v1/reports"
    try:
        with locust.running() as locust_url:
            keeping = keeper(tmp_path, url, file_limit=limit)
            keeping.locust = keeping.locust.parse(locust_url)
            tracemalloc.start()
            try:
                keeping.fetch()  # at the first "stopped"
                keeping.fetch()  # the totals grew
                outcome = keeping.hand_over()
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    finally:
        controller.shutdown()
        controller.server_close()
    # On top of the one copy: the compressor's state (270 kB) and a read's chunk and output
    # buffers (200 kB). Holding the kept copy, the new one and their join was 2.7 MB.
    print(f"a {limit} byte hand-over's files read again and sent with a peak of {peak} bytes")
    assert peak < limit + 768 * 1024, "two copies of a file held at once, or a copy joined"
    assert outcome.kept
    assert list(keeping.kept) == [STATS_JSON]
    # What is sent is what one buffer of the same file would have been, byte for byte.
    kept = keeping.kept[STATS_JSON]
    assert zlib.decompress(b"".join(kept.pieces), wbits=31) == locust.body
    body = bytes(received[: lengths[0]])
    boundary = body[2 : body.index(b"\r\n")].decode()
    notes = body[body.index(b"[", body.index(LEFT_OUT_PART.encode())) :].split(b"\r\n")[0]
    parts = {
        STATS_JSON: ("application/gzip", b"".join(kept.pieces)),
        LEFT_OUT_PART: ("application/json", notes),
    }
    assert body == b"".join(multipart_pieces(boundary, parts))


def test_a_copy_let_go_for_a_read_that_then_fails_is_said_to_be_lost(tmp_path: Path) -> None:
    # The stats read again needs the room of the copy before it; Locust exits mid-read.
    locust = _Serving(900_000)
    with locust.running() as locust_url:
        keeping = keeper(tmp_path, "http://127.0.0.1:9/v1/reports", file_limit=1_000_000)
        keeping.locust = keeping.locust.parse(locust_url)
        keeping.fetch()
        assert list(keeping.kept) == [STATS_JSON]
        locust.cut = 500_000
        keeping.fetch()
    assert keeping.kept == {}
    reason = keeping.problems[STATS_JSON]
    assert reason.startswith("not read from Locust's /stats/requests (its copy read before made")


def test_a_copy_stands_when_its_new_read_fails_beside_it(tmp_path: Path) -> None:
    # Files that fit a hand-over beside a second copy of any one of them: each copy stands
    # while its file is read again, and stays when Locust exits mid-read.
    locust = _Serving(150_000)
    with locust.running() as locust_url:
        keeping = keeper(tmp_path, "http://127.0.0.1:9/v1/reports", file_limit=1_000_000)
        keeping.locust = keeping.locust.parse(locust_url)
        keeping.fetch()
        first = dict(keeping.kept)
        locust.cut = 100_000
        keeping.fetch()
    assert len(first) == 4
    assert keeping.kept == first
    assert keeping.problems[STATS_JSON].startswith("not read from Locust's /stats/requests: ")
