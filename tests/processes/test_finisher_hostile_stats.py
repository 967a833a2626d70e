"""A real Locust whose stats are megabytes: the finisher's worker stays within half its
64 Mi and its summary keeps the totals (attack campaign F2).

Long error pages as failures (``response.failure(response.text)``) are what make Locust's
``/stats/requests`` large: 500 kinds of error of 16 KB each are 8 MB, which the finisher
once parsed whole (to about 45 MiB). Locust needs seconds to render much more than that on
a busy machine; tests/finisher/test_hostile_answers.py takes 40 MB from a stand-in.
Needs root (unshare).
"""

import os
from pathlib import Path

import pytest

from testkit.finisher_pod import finisher_env, run_pod

pytestmark = [
    pytest.mark.processes,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for PID and network namespaces"),
]

HALF_THE_LIMIT_KIB = 32 * 1024

ERROR_PAGES = """
import itertools

import gevent
from locust import User, constant, task

USERS = itertools.count()

PAGE = "<html>" + "x" * 16_000 + "</html>"


class ErrorPages(User):
    wait_time = constant(0.5)

    def on_start(self):
        self.index = next(USERS) % 4

    @task
    def fail(self):
        fire = self.environment.events.request.fire
        for i in range(125):
            kind = self.index * 125 + i  # 4 users, 500 kinds of error in all
            fire(
                request_type="GET",
                name="/page",
                response_time=1,
                response_length=0,
                exception=RuntimeError(f"{kind} {PAGE}"),
                context={},
            )
            gevent.sleep(0)
"""


def test_8_mb_of_stats_from_a_real_locust_keep_the_totals_in_bounded_memory(
    tmp_path: Path,
) -> None:
    run = run_pod(
        tmp_path, ERROR_PAGES, run_time="10s", autoquit=10, finisher_env=finisher_env(ttl="1s")
    )
    assert run.exit_codes()[1] == 0
    requests, failures = run.locust_totals()
    summary = run.summary()
    worker = run.result["worker_max_rss_kib"]
    print(f"peak RSS: worker {worker} KiB, supervisor {run.result['finisher_max_rss_kib']} KiB")
    assert (summary["requests"], summary["failures"]) == (requests, failures)
    assert summary["leftOut"]["errors"] >= 400, "Locust listed hundreds of 16 KB errors"
    assert run.result["workers_seen"] == 1, "the worker was never restarted (no OOM kill)"
    assert 0 < worker <= HALF_THE_LIMIT_KIB
