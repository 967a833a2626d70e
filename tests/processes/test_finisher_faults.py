"""The finisher under faults, with real processes: it always exits 0, in bounded time, and
its summary says what happened.

Each test runs one "pod" (see testkit/finisher_pod.py). Time bounds are generous and no
test races a timer: a slow machine makes them slower, not red. Needs root (unshare).
"""

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from testkit.finisher_pod import (
    EXIT_NOTICED_LATE,
    MANY_NAMES,
    PASSING,
    SILENT_EXPORTER,
    finisher_env,
    run_pod,
)

pytestmark = [
    pytest.mark.processes,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for PID and network namespaces"),
]

LIMIT_KIB = 64 * 1024  # the injected container's memory limit


def test_5000_request_names_and_a_flood_of_requests_stay_small_and_within_4_kib(
    tmp_path: Path,
) -> None:
    run = run_pod(
        tmp_path,
        MANY_NAMES,
        run_time="25s",
        autoquit=10,
        finisher_env=finisher_env(ttl="1s"),
    )
    requests, failures = run.locust_totals()
    # About a million on an idle machine; the floor leaves room for a loaded one (CI once saw
    # 995,000 while other suites ran beside it), and still means megabytes of stats per read.
    assert requests >= 500_000, "the flood did not reach half a million requests"
    assert run.exit_codes() == (1, 0, 0), "Locust fails a test with failures; we exit 0"
    encoded = (tmp_path / "termination-log").read_bytes()
    assert len(encoded) <= 4096
    summary = run.summary()
    assert (summary["requests"], summary["failures"]) == (requests, failures)
    assert len(summary["endpoints"]) >= 1
    # Locust's own web UI lists 500 names and 500 errors at most; the summary says so.
    left_out = summary["leftOut"]
    assert left_out["endpoints"] >= 500 - len(summary["endpoints"])
    assert left_out["errors"] >= 500 - len(summary["errors"])
    assert any("lists at most 500 request names" in note for note in summary["notes"])
    worker, supervisor = run.result["worker_max_rss_kib"], run.result["finisher_max_rss_kib"]
    print(f"peak RSS: worker {worker} KiB, supervisor {supervisor} KiB")
    print(f"finisher CPU: {run.result['finisher_cpu_seconds']:.2f} s for {requests} requests")
    assert run.result["workers_seen"] == 1, "the worker was never restarted (no OOM kill)"
    assert run.result["worker_oom_score_adj"] == 1000, "an OOM kill would pick the worker"
    assert 0 < worker < LIMIT_KIB * 3 // 4
    assert 0 < supervisor < LIMIT_KIB // 2


def test_a_worker_killed_during_the_test_is_replaced_and_the_pod_finishes_as_usual(
    tmp_path: Path,
) -> None:
    run = run_pod(tmp_path, kill_worker_after_master_start=1.0, finisher_env=finisher_env(ttl="1s"))
    assert run.result["worker_kills"], "the harness killed a worker"
    assert run.exit_codes() == (0, 0, 0)
    summary = run.summary()
    assert summary["requests"] == run.locust_totals()[0]
    assert summary["exporter"] == "quit"
    assert any("worker was killed by SIGKILL" in note for note in summary["notes"])
    assert "still watching Locust master pid" in run.log("finisher")


def test_a_worker_killed_in_the_ttl_never_ends_the_exporter_early(tmp_path: Path) -> None:
    run = run_pod(
        tmp_path,
        scrape_interval=0,
        kill_worker_after_master_exit=1.0,
        finisher_env=finisher_env(ttl="6s"),
    )
    assert run.result["worker_kills"]
    assert run.exit_codes() == (0, 0, 0)
    # The new worker counts the TTL from the master's real exit, which the old one reported.
    waited = run.events["exporter_exited"] - run.events["master_exited"]
    assert 6 - EXIT_NOTICED_LATE <= waited < 30
    summary = run.summary()
    assert summary["exporter"] == "quit"
    assert summary["requests"] == run.locust_totals()[0]


def test_a_worker_killed_again_and_again_falls_back_to_a_plain_ttl(tmp_path: Path) -> None:
    run = run_pod(
        tmp_path,
        scrape_interval=0,
        kill_worker_after_master_start=0.5,
        kill_worker_every=0.3,
        finisher_env=finisher_env(ttl="2s"),
    )
    assert run.exit_codes() == (0, 0, 0)
    assert run.events["exporter_exited"] - run.events["master_exited"] >= 2
    summary = run.summary()
    assert summary["exporter"] == "quit"
    assert "the finisher fell back to a plain TTL: no final-scrape wait" in summary["notes"]
    assert sum("worker was killed" in note for note in summary["notes"]) == 1, "once each"


@pytest.mark.parametrize(
    "phase",
    [
        {"sigterm_finisher_before_master": 0.5, "master_delay": 3},
        {"sigterm_finisher_after_master_start": 1.0},
        {"sigterm_finisher_after_master": 1.0},
    ],
    ids=["before-the-master", "during-the-test", "in-the-ttl"],
)
def test_sigterm_at_every_phase_ends_the_finisher_at_once_with_exit_0(
    tmp_path: Path, phase: dict[str, Any]
) -> None:
    run = run_pod(tmp_path, finisher_env=finisher_env(ttl="60s"), **phase)
    assert run.result["finisher_exit"] == 0
    assert run.events["finisher_exited"] - run.events["sigterm_sent"] < 5
    summary = run.summary()
    assert "the pod is terminating: stopped early" in summary["notes"]
    assert summary["exporter"] == "left to kubelet (pod terminating)"


def test_bad_env_values_are_warnings_and_defaults_never_a_failed_pod(tmp_path: Path) -> None:
    env = {
        **finisher_env(ttl="1s", wait="maybe", max_wait="0.01ms"),
        "LOCUST_FINISHER_LOCUST_URL": "http://localhost:\u00b2",
        "LOCUST_FINISHER_EXPORTER_SIDECAR": "perhaps",
    }
    run = run_pod(tmp_path, finisher_env=env)
    assert run.exit_codes() == (0, 0, 0)
    summary = run.summary()
    assert summary["requests"] == run.locust_totals()[0], "the default Locust URL was used"
    warnings = [note for note in summary["notes"] if note.startswith("configuration:")]
    assert len(warnings) == 3, warnings
    assert any("wait-for-scrape" in w and "using the default auto" in w for w in warnings)
    assert "wait-for-scrape" in run.log("finisher")


def test_a_master_told_by_its_environment_is_recognised(tmp_path: Path) -> None:
    run = run_pod(
        tmp_path,
        master_flag=False,
        master_env={"LOCUST_MODE_MASTER": "true"},
        finisher_env=finisher_env(ttl="1s"),
    )
    assert run.exit_codes() == (0, 0, 0)
    assert f"watching Locust master pid {run.result['master_pid']}:" in run.log("finisher")
    assert run.summary()["requests"] == run.locust_totals()[0]


def test_a_master_told_by_locust_conf_is_recognised(tmp_path: Path) -> None:
    # Locust reads locust.conf in its working directory; the command line says nothing.
    config_dir = tmp_path / "master-cwd"
    config_dir.mkdir()
    (config_dir / "locust.conf").write_text("# the test's settings\nmaster = true\n")
    run = run_pod(
        tmp_path,
        master_flag=False,
        master_cwd=str(config_dir),
        finisher_env=finisher_env(ttl="1s"),
    )
    assert run.exit_codes() == (0, 0, 0)
    assert f"watching Locust master pid {run.result['master_pid']}:" in run.log("finisher")
    assert run.summary()["requests"] == run.locust_totals()[0]


def test_a_master_that_never_starts_ends_the_exporter_after_the_ttl(tmp_path: Path) -> None:
    run = run_pod(
        tmp_path,
        no_master=True,
        scrape_interval=0,
        finisher_env={
            **finisher_env(ttl="2s"),
            "LOCUST_FINISHER_MASTER_START_TIMEOUT": "3s",
        },
    )
    assert (run.result["finisher_exit"], run.result["exporter_exit"]) == (0, 0)
    lived = run.events["finisher_exited"] - run.events["finisher_started"]
    assert 5 <= lived < 60
    summary = run.summary()
    assert summary["exporter"] == "quit"
    assert "requests" not in summary
    assert any("no Locust master process appeared within" in n for n in summary["notes"])


def test_an_exporter_that_never_answers_is_given_up_on_in_bounded_time(tmp_path: Path) -> None:
    (tmp_path / "silent.py").write_text(SILENT_EXPORTER)
    run = run_pod(
        tmp_path,
        scrape_interval=0,
        exporter_cmd=[sys.executable, str(tmp_path / "silent.py")],
        finisher_env=finisher_env(ttl="1s"),
    )
    assert run.result["finisher_exit"] == 0
    assert run.events["finisher_exited"] - run.events["master_exited"] < 60
    summary = run.summary()
    assert summary["exporter"].startswith("left running")
    assert summary["finalScrape"]["confirmed"] is False
    assert "the exporter would not stop; the controller's fallback may end it" in summary["notes"]


def test_locust_behind_a_login_gets_an_honest_summary(tmp_path: Path) -> None:
    run = run_pod(
        tmp_path,
        PASSING,
        master_args=["--web-login"],
        finisher_env=finisher_env(ttl="1s", wait="true", max_wait="3s"),
    )
    assert run.exit_codes() == (0, 0, 0)
    summary = run.summary()
    # Prometheus did scrape after priming, but there were no numbers in those scrapes.
    assert summary["finalScrape"]["exporterHadData"] is False
    assert summary["finalScrape"]["confirmed"] is False
    assert "requests" not in summary
    assert "Locust's stats were never reachable: no totals" in summary["notes"]
    assert "final scrape confirmed" not in run.log("finisher")
