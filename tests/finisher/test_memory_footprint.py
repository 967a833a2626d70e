"""What the finisher's container loads, since its memory cgroup is charged for all of it.

The container has 64 Mi and must stay within half (docs/design.md, "Never block a pod";
``bench/finisher_memory.py`` measures the whole container). Its biggest avoidable costs were
libraries and code it never uses: OpenSSL, loaded by ``http.client`` and ``hmac`` although
every call is plain HTTP (6 MiB of page cache and heap), and the whole CLI loaded by the
postStart hook, which runs in the container beside the starting finisher. Each probe runs in
a fresh interpreter, so what it maps and its peak are its own.
"""

import argparse
import json
import os
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core import env_names

STATS = {
    "stats": [
        {"method": "GET", "name": "/", "num_requests": 7, "num_failures": 0},
        {"method": None, "name": "Aggregated", "num_requests": 7, "num_failures": 0},
    ],
    "errors": [],
    "state": "stopped",
    "fail_ratio": 0.0,
}
METRICS = b'promhttp_metric_handler_requests_total{code="200"} 1\n'
KEPT = b'{"message": "kept", "bytes": 10, "leftOut": []}'

WORKER = """
import argparse, json, sys
from pathlib import Path
from app.core import env_names
from app.finisher.config import add_arguments, resolve
from app.finisher.run import Finisher

url, token = sys.argv[1], sys.argv[2]
parser = argparse.ArgumentParser()
add_arguments(parser)
config = resolve(
    parser.parse_args(["--locust-url", url, "--exporter-url", url]),
    {env_names.ENV_REPORT_URL: url + "/v1/reports"},
)
finisher = Finisher(config)
finisher.keeper.token_file = Path(token)
finisher._poll_stats()  # reads the stats, primes the exporter, reads Locust's report files
handed = finisher.keeper.hand_over()
with open("/proc/self/maps") as maps:
    mapped = sorted({line.split()[-1] for line in maps if "/" in line})
import ssl  # still there for whoever needs it

print(json.dumps({
    "requests": finisher.progress.summary().get("requests"),
    "primed": finisher.progress.primed,
    "handed_over": handed.kept,
    "mapped": mapped,
}))
"""

HOOK = """
import contextlib, io, json, sys
from app.cli.main import main

stderr = io.StringIO()
with contextlib.redirect_stderr(stderr):
    code = main(sys.argv[1:])
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"code": code, "stderr": stderr.getvalue(), "peak_kib": peak}))
"""


class _Locust(socketserver.ThreadingTCPServer):
    """Locust, its exporter and the controller's receiver on one port: small, plain answers."""

    daemon_threads = True
    allow_reuse_address = True


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        request = self.rfile.readline().decode()
        length = 0
        while (line := self.rfile.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        self.rfile.read(length)
        path = request.split(" ")[1]
        body = {"/stats/requests": json.dumps(STATS).encode(), "/metrics": METRICS}.get(path)
        if request.startswith("POST"):
            body = KEPT
        body = b"{}" if body is None else body
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        self.wfile.write(head.encode() + body)


@pytest.fixture
def locust() -> Iterator[str]:
    server = _Locust(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _probe(script: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_the_worker_reads_and_hands_over_without_mapping_openssl(
    locust: str, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("a-token")
    result = _probe(WORKER, locust, str(token))
    assert (result["requests"], result["primed"], result["handed_over"]) == (7, True, True)
    openssl = [path for path in result["mapped"] if "libssl" in path or "libcrypto" in path]
    assert openssl == [], "OpenSSL costs the container megabytes; every call is plain HTTP"


def test_the_post_start_hook_takes_less_memory_than_the_whole_cli() -> None:
    # No finisher listens on this gate: both calls wait out their timeout and say so.
    env = {env_names.ENV_READY_SOCKET: f"locust-finisher.test-{os.getpid()}"}
    plain = _probe(HOOK, "await-ready", "--timeout", "250ms", env=env)
    # The same wait, through the parser (a logging flag is not the hook's plain call).
    parsed = _probe(HOOK, "await-ready", "--timeout", "250ms", "--log-level", "info", env=env)
    for outcome in (plain, parsed):
        assert outcome["code"] == 0
        assert "letting the pod start anyway" in outcome["stderr"]
    print(f"peak RSS: the hook's call {plain['peak_kib']} KiB, parsed {parsed['peak_kib']} KiB")
    assert plain["peak_kib"] <= parsed["peak_kib"] - 2 * 1024


@pytest.mark.parametrize(
    ("args", "timeout"),
    [
        (["await-ready"], 20.0),
        (["await-ready", "--timeout", "20"], 20.0),
        (["await-ready", "--timeout=1m"], 60.0),
        (["await-ready", "--timeout", "soon"], None),  # the parser's one line, exit 2
        (["await-ready", "--help"], None),
        (["await-ready", "--timeout", "1s", "--log-level", "debug"], None),
        (["finish"], None),
    ],
)
def test_only_the_hooks_plain_call_skips_the_parser(args: list[str], timeout: float | None) -> None:
    from app.cli.await_ready_cmd import hook_timeout

    assert hook_timeout(args) == timeout


def test_metrics_just_under_their_cap_are_scanned_not_held() -> None:
    # 500 kinds of error as the exporter lists them, just under the 4 MiB cap, and the scrape
    # counter last: the whole answer must be read, and none of it kept.
    import tracemalloc

    from app.finisher.config import add_arguments, resolve
    from app.finisher.http import GET_LIMIT
    from app.finisher.run import Finisher

    error = b'locust_errors{error="' + b"x" * 8_000 + b'",method="GET",name="/"} 1\n'
    body = b'locust_requests_num_requests{method="",name="Aggregated"} 7\n'
    body += error * ((GET_LIMIT - 1024) // len(error))
    body += b'promhttp_metric_handler_requests_total{code="200"} 41\n'
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body

    class Exporter(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            while self.rfile.readline() not in (b"\r\n", b""):
                pass
            self.wfile.write(answer)

    server = _Locust(("127.0.0.1", 0), Exporter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        finisher = Finisher(resolve(parser.parse_args(["--exporter-url", url]), {}))
        tracemalloc.start()
        try:
            counter = finisher._read_exporter()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    finally:
        server.shutdown()
        server.server_close()
    assert (counter, finisher.progress.exporter_had_data) == (41, True)
    print(f"{len(body) / 2**20:.1f} MiB of /metrics read with a peak of {peak / 2**10:.0f} KiB")
    assert peak < 1024 * 1024, "the answer was held"


def test_a_counter_line_is_found_across_chunks_and_a_cut_long_line_is_not_taken_for_one() -> None:
    from app.finisher.run import MetricsScan

    scan = MetricsScan()
    text = b"# comment\npromhttp_metric_handler_requests_total{code=" + b'"200"} 12\n'
    for index in range(0, len(text), 7):
        scan.feed(text[index : index + 7])
    scan.end()
    assert (scan.counter, scan.had_numbers) == (12, False)

    long_line = b"x" * 200_000 + b'promhttp_metric_handler_requests_total{code="200"} 9'
    cut = MetricsScan()
    for index in range(0, len(long_line), 65_536):
        cut.feed(long_line[index : index + 65_536])
    cut.end()
    assert cut.counter is None
