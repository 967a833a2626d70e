"""Benchmark the time from a test's stop to CI's answer, with Prometheus every 5 s and 30 s.

    uv run python -m bench.time_to_verdict        (or: make bench; needs root)

On the local cluster (real kubelet, containerd, Prometheus; the exporter is our stand-in,
see docs/local-cluster.md), locust-k8s-operator-shaped tests run with the default settings
(no TTL set, waitForScrape auto), each followed by ``locust-finisher wait --test`` as CI runs it.
For each test it reads:

- the stop: the master's log line "--run-time limit reached, stopping test", timestamped by
  the container runtime (``kubectl logs --timestamps``);
- the master's exit: its "--autoquit time reached" line;
- the answer: the moment ``wait`` exits, on this host's clock (the node's clock too).

One test per interval also sets the old default TTL (``locust-finisher.io/ttl: 30s``) for
comparison. The goal (issue 12): stop to answer within one scrape interval plus 2 s.
"""

import argparse
import datetime
import re
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core import names
from app.core.summary import decode_summary
from devcluster import operator_shapes as shapes
from devcluster.cluster import LocalCluster
from devcluster.install import install
from devcluster.loadtest import master_pod, prepare_namespace, start_wait

STOP_LINE = "--run-time limit reached, stopping test"
EXIT_LINE = "--autoquit time reached, shutting down"
# The finisher's own lines: its last priming of the exporter, and its end.
PRIMED_LINE = "exporter primed"
FINISHED_LINE = "locust-finisher: "
# Long enough that Prometheus scrapes the exporter during the test (so ``auto`` waits for
# the final scrape): at least two intervals after the pod is discovered.
RUN_TIMES = {"5s": "20s", "30s": "75s"}
AUTOQUIT_SECONDS = 3


@dataclass
class Measured:
    """One test's times, in seconds after its stop (Locust's "--run-time limit reached")."""

    name: str
    ttl: str
    primed: float
    master_exit: float
    finisher_end: float
    answer: float
    wait_exit_code: int | None
    confirmed: bool


def _log_time(log: str, line: str, last: bool = False) -> float | None:
    rows = log.splitlines()
    for row in reversed(rows) if last else rows:
        if line in row:
            stamp = row.split(" ", 1)[0]
            # RFC 3339 with nanoseconds: keep microseconds for datetime.
            stamp = re.sub(r"(\.\d{6})\d*", r"\1", stamp).replace("Z", "+00:00")
            return datetime.datetime.fromisoformat(stamp).timestamp()
    return None


def _run(cluster: LocalCluster, interval: str, runs: int) -> list[Measured]:
    namespace = f"ttv-{interval}"
    prepare_namespace(cluster, namespace)
    tests = [
        shapes.LoadTest(
            name=f"ttv-{index}",
            namespace=namespace,
            run_time=RUN_TIMES[interval],
            autoquit=AUTOQUIT_SECONDS,
            master_annotations={names.TTL_ANNOTATION: "30s"} if index == runs else {},
        )
        for index in range(runs + 1)
    ]
    answered: dict[str, float] = {}
    waits = {}
    for test in tests:
        waits[test.name] = start_wait(cluster, namespace, test.name, "--timeout", "10m")
        cluster.apply(shapes.load_test_objects(test))

    def follow(name: str) -> None:
        waits[name].communicate()
        answered[name] = time.time()

    followers = [threading.Thread(target=follow, args=(t.name,)) for t in tests]
    for follower in followers:
        follower.start()
    for follower in followers:
        follower.join(timeout=900)
    results = []
    for test in tests:
        pod = master_pod(cluster, test)
        assert pod is not None, test.name

        def log_of(container: str, pod: dict[str, Any] = pod) -> str:
            name = pod["metadata"]["name"]
            return cluster.kubectl("logs", "--timestamps", "-n", namespace, name, "-c", container)

        log = log_of(shapes.master_container_name(test))
        finisher_log = log_of(names.FINISHER_CONTAINER)
        stop, master_exit = _log_time(log, STOP_LINE), _log_time(log, EXIT_LINE)
        primed = _log_time(finisher_log, PRIMED_LINE, last=True)
        finisher_end = _log_time(finisher_log, FINISHED_LINE, last=True)
        if stop is None or master_exit is None or primed is None or finisher_end is None:
            raise AssertionError(f"{test.name}: a stop, exit or priming line is missing")
        summary = _finisher_summary(pod)
        final = summary.get("finalScrape") or {}
        results.append(
            Measured(
                name=test.name,
                ttl=test.master_annotations.get(names.TTL_ANNOTATION, "auto"),
                primed=primed - stop,
                master_exit=master_exit - stop,
                finisher_end=finisher_end - stop,
                answer=answered[test.name] - stop,
                wait_exit_code=waits[test.name].returncode,
                confirmed=bool(final.get("confirmed")),
            )
        )
    return results


def _finisher_summary(pod: dict[str, Any]) -> dict[str, Any]:
    for status in pod["status"].get("containerStatuses", []) + pod["status"].get(
        "initContainerStatuses", []
    ):
        if status["name"] == names.FINISHER_CONTAINER:
            message = status.get("state", {}).get("terminated", {}).get("message", "")
            return dict(decode_summary(message) or {})
    return {}


def _table(interval: str, results: list[Measured]) -> str:
    rows = [
        f"| Prometheus every {interval} | TTL | last priming | master exit | finisher exit | "
        "`wait` exits | final scrape confirmed | `wait` exit code |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for measured in results:
        rows.append(
            f"| {measured.name} | {measured.ttl} | {measured.primed:.1f} s | "
            f"{measured.master_exit:.1f} s | {measured.finisher_end:.1f} s | "
            f"{measured.answer:.1f} s | {'yes' if measured.confirmed else 'no'} | "
            f"{measured.wait_exit_code} |"
        )
    default = [m.answer for m in results if m.ttl == "auto"]
    goal = float(interval.removesuffix("s")) + 2
    rows.append(
        f"| **default, {len(default)} runs** | auto | | | | median "
        f"{statistics.median(default):.1f} s, max {max(default):.1f} s (goal ≤ {goal:.0f} s) | | |"
    )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="default-settings tests per interval")
    parser.add_argument(
        "--intervals",
        nargs="+",
        default=list(RUN_TIMES),
        choices=list(RUN_TIMES),
        help="Prometheus scrape intervals to measure",
    )
    args = parser.parse_args()
    with LocalCluster() as cluster, tempfile.TemporaryDirectory() as scratch:
        install(cluster, Path(scratch))
        assert cluster.prometheus is not None
        tables = []
        for interval in args.intervals:
            cluster.prometheus.set_scrape_interval(interval)
            started = time.monotonic()
            results = _run(cluster, interval, args.runs)
            print(f"{interval}: {time.monotonic() - started:.0f}s", file=sys.stderr)
            tables.append(_table(interval, results))
            print(tables[-1], flush=True)
    print("\n\n".join(tables))
    return 0


if __name__ == "__main__":
    sys.exit(main())
