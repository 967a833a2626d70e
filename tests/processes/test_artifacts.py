"""The finisher's ArtifactKeeper against a real Locust master, handing over to the real receiver.

Locust (master and worker) runs on loopback ports of its own; the controller's receiver runs
in a thread over the fake API of tests/controller, so what is checked is what a user reads
back: the ConfigMap's files.
"""

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp import web

from app.controller.artifact_receiver import ArtifactReceiver
from app.core import env_names
from app.core.artifacts import (
    EXCEPTIONS_JSON,
    FAILURES_CSV,
    RECEIVER_PATH,
    REPORT_HTML,
    STATS_JSON,
    kept_files,
)
from app.finisher.artifacts import ArtifactKeeper
from app.finisher.config import add_arguments, resolve
from app.kube.client import KubeClient
from testkit.admission import TEST_KEY
from testkit.fake_kube import FakeKube
from testkit.finisher_pod import MANY_NAMES
from tests.controller.test_artifact_receiver import GOOD_TOKEN, receiver_api

pytestmark = pytest.mark.processes

LOCUST = Path(sys.executable).with_name("locust")

# A few names, failures and an exception, reported straight to Locust's stats (no target).
SMALL = """
from locust import User, constant, task


class Reporter(User):
    wait_time = constant(0.05)

    @task
    def report(self):
        fire = self.environment.events.request.fire
        fire(request_type="GET", name="/home", response_time=5, response_length=10,
             exception=None, context={})
        fire(request_type="GET", name="/broken", response_time=9, response_length=0,
             exception=RuntimeError("broken on purpose"), context={})

    @task
    def crash(self):
        raise ValueError("an exception in the locustfile")
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stats(web_port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/stats/requests", timeout=5) as r:
        document: dict[str, Any] = json.load(r)
    return document


@contextmanager
def stopped_locust(tmp_path: Path, locustfile: str, run_time: str = "3s") -> Iterator[int]:
    """A master and a worker that ran ``locustfile`` and stopped; the master's web port."""
    (tmp_path / "locustfile.py").write_text(locustfile)
    web_port, bind_port = free_port(), free_port()
    common = [str(LOCUST), "-f", str(tmp_path / "locustfile.py")]
    master = subprocess.Popen(
        [*common, "--master", "--master-bind-port", str(bind_port), "--web-host", "127.0.0.1",
         "--web-port", str(web_port), "--expect-workers", "1", "--autostart", "--autoquit",
         "60", "--users", "4", "--spawn-rate", "4", "--run-time", run_time, "--only-summary"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "master.log").open("w"),
    )  # fmt: skip
    worker = subprocess.Popen(
        [*common, "--worker", "--master-host", "127.0.0.1", "--master-port", str(bind_port)],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "worker.log").open("w"),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            assert time.monotonic() < deadline, (tmp_path / "master.log").read_text()[-2000:]
            try:
                if stats(web_port)["state"] == "stopped":
                    break
            except OSError:
                pass
            time.sleep(0.5)
        time.sleep(4)  # the workers' last report, then Locust's 2 s stats cache
        yield web_port
    finally:
        for process in (worker, master):
            process.terminate()
            process.wait(20)


@contextmanager
def receiver() -> Iterator[tuple[str, FakeKube]]:
    """The controller's receiver on loopback over a fake API; its URL and the API."""
    api = receiver_api()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = web.AppRunner(
        ArtifactReceiver(cast(KubeClient, api), key=TEST_KEY).application(), access_log=None
    )
    port = free_port()

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()

    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield f"http://127.0.0.1:{port}{RECEIVER_PATH}", api
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def keeper(tmp_path: Path, web_port: int, url: str, **options: Any) -> ArtifactKeeper:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    locust = f"http://127.0.0.1:{web_port}"
    config = resolve(parser.parse_args(["--locust-url", locust]), {env_names.ENV_REPORT_URL: url})
    token = tmp_path / "token"
    token.write_text(GOOD_TOKEN + "\n")
    return ArtifactKeeper(config, token_file=token, **options)


def test_locusts_report_and_stats_are_kept_as_a_user_reads_them(tmp_path: Path) -> None:
    with receiver() as (url, api):
        with stopped_locust(tmp_path, SMALL) as web_port:
            keeping = keeper(tmp_path, web_port, url)
            keeping.fetch()
            final = stats(web_port)
        # Locust is gone: what was read while it served is what is handed over.
        outcome = keeping.hand_over()
    assert outcome.kept, outcome.note
    assert outcome.left_out == []
    assert outcome.summary()["bytes"] > 0

    kept = kept_files(api.configmaps["t-master-abc-report"])
    html = kept.files[REPORT_HTML].decode()
    assert "<title>Locust</title>" in html
    assert "window.templateArgs" in html
    assert "/broken" in html
    kept_stats = json.loads(kept.files[STATS_JSON])
    total = next(row for row in kept_stats["stats"] if row["name"] == "Aggregated")
    final_total = next(row for row in final["stats"] if row["name"] == "Aggregated")
    assert total["num_requests"] == final_total["num_requests"] > 0
    assert "broken on purpose" in kept.files[FAILURES_CSV].decode()
    exceptions = json.loads(kept.files[EXCEPTIONS_JSON])["exceptions"]
    assert "an exception in the locustfile" in exceptions[0]["msg"]


def test_a_report_too_large_to_keep_is_left_out_and_the_rest_kept(tmp_path: Path) -> None:
    # Locust's page alone is ~300 kB compressed: over this bound, under it the stats.
    with receiver() as (url, api):
        with stopped_locust(tmp_path, SMALL) as web_port:
            keeping = keeper(tmp_path, web_port, url, file_limit=100_000)
            keeping.fetch()
        outcome = keeping.hand_over()
    assert outcome.kept, outcome.note
    assert [entry.file for entry in outcome.left_out] == [REPORT_HTML]
    assert "more than 100000 bytes compressed" in outcome.left_out[0].reason
    assert outcome.summary()["leftOut"] == [REPORT_HTML]
    kept = kept_files(api.configmaps["t-master-abc-report"])
    assert sorted(kept.files) == sorted([STATS_JSON, FAILURES_CSV, EXCEPTIONS_JSON])
    assert [entry.file for entry in kept.left_out] == [REPORT_HTML]


def test_a_report_of_megabytes_is_read_in_far_less_memory(tmp_path: Path) -> None:
    # 5,000 request names: Locust's page and stats are megabytes; the finisher has 64 MiB.
    with (
        receiver() as (url, _),
        stopped_locust(tmp_path, MANY_NAMES, run_time="2s") as web_port,
    ):
        page = f"http://127.0.0.1:{web_port}/stats/report?download=1"
        with urllib.request.urlopen(page, timeout=30) as response:
            html_size = len(response.read())
        keeping = keeper(tmp_path, web_port, url)
        tracemalloc.start()
        try:
            keeping.fetch()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert html_size > 3 * 1024 * 1024, "the page is megabytes"
    assert REPORT_HTML in keeping.kept, keeping.problems
    assert peak < html_size / 4, f"peak {peak} bytes for a {html_size}-byte page"
