"""The finisher's claims about Locust's final numbers, from scripted answers and a fake clock.

Locust (/stats/requests) and the exporter (/metrics) answer as each test scripts them, in
the shapes the real ones have once Locust stops and once it has exited (issue 21).
"""

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.core.priming import SETTLE_SECONDS, Unconfirmable
from app.finisher.config import add_arguments, resolve
from app.finisher.http import Endpoint
from app.finisher.run import Finisher


def stats(state: str, requests: int, workers: int, failures: int = 0) -> bytes:
    """Locust's /stats/requests, the fields the finisher reads."""
    total = {"method": None, "name": "Aggregated", "num_requests": requests}
    total["num_failures"] = failures
    return json.dumps(
        {"state": state, "stats": [total], "errors": [], "worker_count": workers}
    ).encode()


def metrics(up: int, requests: int, failures: int = 0, scrapes: int = 5) -> bytes:
    """The exporter's /metrics as the real one writes it (labels sorted, total row kept)."""
    return (
        f'locust_requests_num_failures{{method="",name="Aggregated"}} {failures}\n'
        f'locust_requests_num_requests{{method="",name="Aggregated"}} {requests}\n'
        f"locust_up {up}\n"
        f'promhttp_metric_handler_requests_total{{code="200"}} {scrapes}\n'
    ).encode()


class Pod:
    """What Locust and the exporter answer next, and the finisher's clock."""

    def __init__(self) -> None:
        self.locust = b""
        self.exporter = b""
        self.now = 100.0

    def stream(self, path: str, sink: Callable[[bytes], object]) -> int:
        body = {"/stats/requests": self.locust, "/metrics": self.exporter}.get(path)
        if body is None:
            return 404
        sink(body)
        return 200


@pytest.fixture
def pod(monkeypatch: pytest.MonkeyPatch) -> Pod:
    scripted = Pod()

    def stream(self: Endpoint, path: str, sink: Callable[[bytes], object], **caps: Any) -> int:
        return scripted.stream(path, sink)

    monkeypatch.setattr(Endpoint, "stream", stream)
    return scripted


def finisher(tmp_path: Path, pod: Pod) -> Finisher:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--termination-log", str(tmp_path / "termination-log")])
    return Finisher(resolve(args, {}), clock=lambda: pod.now)


def test_workers_are_the_most_locust_counted_not_its_count_once_stopped(
    tmp_path: Path, pod: Pod
) -> None:
    # Locust drops each worker that reports it stopped: once stopped it counts none.
    worker = finisher(tmp_path, pod)
    for state, count in (("running", 0), ("running", 2), ("running", 1), ("stopped", 0)):
        pod.locust = stats(state, 10, count)
        worker._poll_stats()
    assert worker.progress.summary()["workers"] == 2


def test_a_read_after_locust_exited_is_no_priming(tmp_path: Path, pod: Pod) -> None:
    # The real exporter: locust_up 0, and its gauges as of its last good read of Locust.
    worker = finisher(tmp_path, pod)
    pod.locust = stats("running", 1474, 1)
    worker._poll_stats()
    pod.exporter = metrics(up=0, requests=1261)
    assert worker._prime() is False
    final = worker.progress.summary()["finalScrape"]
    assert final["primed"] is False
    assert worker.progress.priming_fault is Unconfirmable.LOCUST_GONE
    assert worker.progress.exporter_answered, "others' scrapes still count from this read"


@pytest.mark.parametrize(
    ("exported", "fault"),
    [
        ((1474, 2), None),
        ((1480, 2), None),  # the exporter read Locust a moment later: more is fine
        ((1261, 2), Unconfirmable.EXPORTER_BEHIND),
        ((1474, 1), Unconfirmable.EXPORTER_BEHIND),
    ],
)
def test_a_priming_read_must_hold_locusts_last_known_totals(
    tmp_path: Path, pod: Pod, exported: tuple[int, int], fault: Unconfirmable | None
) -> None:
    worker = finisher(tmp_path, pod)
    pod.locust = stats("stopped", 1474, 1, failures=2)
    pod.exporter = metrics(up=1, requests=exported[0], failures=exported[1])
    worker._poll_stats()  # "stopped": it primes
    assert worker.progress.primed is (fault is None)
    assert worker.progress.priming_fault is fault


def test_totals_settle_only_a_report_interval_and_a_cache_after_the_stop(
    tmp_path: Path, pod: Pod
) -> None:
    worker = finisher(tmp_path, pod)
    pod.exporter = metrics(up=1, requests=10)
    pod.locust = stats("stopped", 10, 1)
    worker._poll_stats()
    pod.now += SETTLE_SECONDS - 0.5
    worker._poll_stats()
    assert not worker.progress.settling.settled
    pod.now += 0.5
    worker._poll_stats()
    assert worker.progress.settling.settled
