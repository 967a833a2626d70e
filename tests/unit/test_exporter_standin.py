"""The locust_exporter stand-in (devcluster/peers) against what the real Go exporter does.

The expected strings are Go's: ``strconv.FormatFloat(v, 'g', -1, 64)`` behind
prometheus/common's ``writeFloat``, checked against a Go build's output; the answers to
Locust's replies follow the real exporter's ``main.go``; the exit codes follow the Go
runtime's ``dieFromSignal``.
"""

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from app.core.priming import ExporterReading, Unconfirmable, reading_fault
from devcluster.peers import exporter_standin
from devcluster.peers.exporter_standin import Exporter, go_float

STANDIN = Path(exporter_standin.__file__)

SCALARS = (
    "users",
    "requests_fail_ratio",
    "requests_current_response_time_percentile_95",
    "requests_current_response_time_percentile_50",
    "workers_count",
    "workers_running_count",
    "workers_hatching_count",
    "workers_missing_count",
    "running",
)


@pytest.mark.parametrize(
    ("value", "go"),
    [
        (1234567, "1.234567e+06"),  # the old stand-in wrote 1.23457e+06
        (-1234567, "-1.234567e+06"),
        (1_000_000, "1e+06"),
        (999_999, "999999"),
        (100_000, "100000"),
        (123456.7, "123456.7"),
        (999999.9, "999999.9"),
        (12.345678, "12.345678"),
        (1712345678.123, "1.712345678123e+09"),
        (123456789012, "1.23456789012e+11"),
        (2**53, "9.007199254740992e+15"),
        (1e21, "1e+21"),
        (1e100, "1e+100"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (0.5, "0.5"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1 / 3, "0.3333333333333333"),
        (100 / 3, "33.333333333333336"),
        (0.0001, "0.0001"),
        (0.000123, "0.000123"),
        (0.00001, "1e-05"),
        (0.0000123, "1.23e-05"),
        (5e-324, "5e-324"),
        (2, "2"),
        (1, "1"),
        (-1, "-1"),
        (0, "0"),
        (-0.0, "0"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
    ],
)
def test_numbers_are_written_as_client_golang_writes_them(value: float, go: str) -> None:
    assert go_float(value) == go


@pytest.mark.parametrize("value", [1234567.0, 0.1 + 0.2, 1e-7, 5e-324, 1.7976931348623157e308])
def test_written_numbers_read_back_exactly(value: float) -> None:
    assert float(go_float(value)) == value


class _Locust:
    """A fake Locust web UI whose /stats/requests answer each test sets."""

    def __init__(self) -> None:
        self.status = 200
        self.body = b"{}"
        answers = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(answers.status)
                self.send_header("Content-Length", str(len(answers.body)))
                self.end_headers()
                self.wfile.write(answers.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def locust() -> Iterator[_Locust]:
    fake = _Locust()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def _samples(text: str) -> dict[str, str]:
    return {
        name: value
        for name, value in (line.rsplit(" ", 1) for line in text.splitlines())
        if not name.startswith("#")
    }


STATS = {
    "stats": [
        {
            "method": "GET",
            "name": "/",
            "num_requests": 1234567,
            "num_failures": 0,
            "avg_response_time": 12.345678,
            "current_fail_per_sec": 0,
            "min_response_time": 1,
            "max_response_time": 2500,
            "current_rps": 1000000.5,
            "median_response_time": 11,
            "avg_content_length": 1024,
        },
        {"method": None, "name": "Total", "num_requests": 1234567},
    ],
    "errors": [],
    "user_count": 100,
    "fail_ratio": 0.0,
    "current_response_time_percentile_95": None,
    "current_response_time_percentile_50": 11,
    "state": "running",
    "workers": [],
}


def test_locust_numbers_are_exported_in_go_notation(locust: _Locust) -> None:
    locust.body = json.dumps(STATS).encode()
    samples = _samples(Exporter(locust.uri, "locust", 2.0).collect())
    assert samples['locust_requests_num_requests{method="GET",name="/"}'] == "1.234567e+06"
    assert samples['locust_requests_current_rps{method="GET",name="/"}'] == "1.0000005e+06"
    assert samples['locust_requests_avg_response_time{method="GET",name="/"}'] == "12.345678"
    assert samples["locust_users"] == "100"
    assert samples["locust_requests_current_response_time_percentile_95"] == "0"  # null
    assert (samples["locust_running"], samples["locust_up"]) == ("2", "1")


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body><form action='/login'>Sign in</form></body></html>",
        b"",
        b"null",
        b"[1, 2, 3]",
        b'"a string"',
        b'{"user_count": NaN}',
        b"\xff\xfe not utf-8",
    ],
)
def test_a_2xx_that_is_not_a_json_object_is_up_with_zeroed_scalars(
    locust: _Locust, body: bytes
) -> None:
    # The real one ignores json.Unmarshal's error and exports its zero-valued struct, with
    # locust_up 1 (the old stand-in said locust_up 0 and left the scalars out).
    exporter = Exporter(locust.uri, "locust", 2.0)
    locust.body = b'{"stats": [{"method": "GET", "name": "/", "num_requests": 7}]}'
    exporter.collect()
    locust.body = body
    samples = _samples(exporter.collect())
    assert samples["locust_up"] == "1"
    assert {name: samples[f"locust_{name}"] for name in SCALARS} == dict.fromkeys(SCALARS, "0")
    # the vectors are untouched: there were no rows to set
    assert samples['locust_requests_num_requests{method="GET",name="/"}'] == "7"


def test_fields_of_the_wrong_type_read_as_go_zero_values(locust: _Locust) -> None:
    locust.body = (
        b'{"user_count": 2.5, "fail_ratio": "0.5", "state": 2,'
        b' "stats": [{"method": 1, "name": "/a", "num_requests": 3.0, "num_failures": 1,'
        b' "avg_response_time": true}, 5],'
        b' "workers": {"id": "w"}}'
    )
    samples = _samples(Exporter(locust.uri, "locust", 2.0).collect())
    assert samples["locust_up"] == "1"
    assert samples["locust_users"] == "0"  # a fraction in a Go int field
    assert samples["locust_requests_fail_ratio"] == "0"
    assert samples["locust_running"] == "0"
    assert samples["locust_workers_count"] == "0"
    assert samples['locust_requests_num_requests{method="",name="/a"}'] == "0"
    assert samples['locust_requests_num_failures{method="",name="/a"}'] == "1"
    assert samples['locust_requests_avg_response_time{method="",name="/a"}'] == "0"
    assert samples['locust_requests_num_requests{method="",name=""}'] == "0"  # the 5


@pytest.mark.parametrize("status", [404, 500])
def test_locust_gone_or_failing_is_down_and_keeps_the_vectors(locust: _Locust, status: int) -> None:
    exporter = Exporter(locust.uri, "locust", 2.0)
    locust.body = b'{"stats": [{"method": "GET", "name": "/", "num_requests": 7}]}'
    exporter.collect()
    locust.status = status
    samples = _samples(exporter.collect())
    assert samples["locust_up"] == "0"
    assert not {f"locust_{name}" for name in SCALARS} & samples.keys()
    assert samples['locust_requests_num_requests{method="GET",name="/"}'] == "7"


def _start(argv: list[str]) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [*argv, sys.executable, str(STANDIN), "--web.listen-address=127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().startswith("Listening on"), "the stand-in did not start"
    return process


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(5)


def _ended_within(process: subprocess.Popen[str], seconds: float) -> int | None:
    try:
        return process.wait(seconds)
    except subprocess.TimeoutExpired:
        return None


def test_sigterm_kills_it_by_the_signal_like_go_when_it_is_not_pid_1() -> None:
    process = _start([])
    try:
        process.send_signal(signal.SIGTERM)
        assert _ended_within(process, 1.0) == -signal.SIGTERM
    finally:
        _stop(process)


def _pid_in_namespace(pid: int) -> list[str]:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^NSpid:\s*(.*)$", status, re.MULTILINE)
    assert match is not None
    return match.group(1).split()


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare for a PID namespace",
)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_as_pid_1_a_deadly_signal_exits_2_at_once_like_go(signum: signal.Signals) -> None:
    # A container's entrypoint is PID 1, where the kernel delivers only the signals a
    # handler was installed for: the old stand-in ignored SIGTERM there (a pod took its
    # 30 s grace period and ended 137); the Go runtime exits 2 at once.
    process = _start(["unshare", "--pid", "--fork", "--kill-child"])
    try:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        assert len(children) == 1
        standin = int(children[0])
        assert _pid_in_namespace(standin)[-1] == "1"
        started = time.monotonic()
        os.kill(standin, signum)
        assert _ended_within(process, 1.0) == 2  # unshare passes the child's status on
        assert time.monotonic() - started < 1.0
    finally:
        _stop(process)


def test_once_locust_is_gone_the_finisher_reads_it_down_with_its_old_totals(
    locust: _Locust,
) -> None:
    # Issue 21: the finisher took such an answer for priming and claimed a confirmed final
    # scrape of 1261 requests against Locust's 1474.
    exporter = Exporter(locust.uri, "locust", 2.0)
    total = {"method": None, "name": "Aggregated", "num_requests": 1261, "num_failures": 3}
    locust.body = json.dumps({"state": "stopped", "stats": [total]}).encode()
    up = ExporterReading()
    up.feed(exporter.collect().encode())
    assert (up.locust_up, up.requests, up.failures) == (True, 1261, 3)
    locust.status = 502
    gone = ExporterReading()
    gone.feed(exporter.collect().encode())
    assert (gone.locust_up, gone.requests, gone.failures) == (False, 1261, 3)
    assert reading_fault(gone, (1474, 3)) is Unconfirmable.LOCUST_GONE
    # Even with the same totals: what it holds is no longer Locust's to vouch for.
    assert reading_fault(gone, (1261, 3)) is Unconfirmable.LOCUST_GONE
