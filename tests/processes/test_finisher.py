"""The finisher with real processes: real Locust (master and worker), the exporter, a scraper.

Each test runs one "pod" in fresh PID and network namespaces (see testkit/finisher_pod.py).
The exporter is ``$LOCUST_EXPORTER_BIN`` when set (the real locust_exporter), else the
stand-in from devcluster/peers. Needs root (unshare).
"""

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from testkit.finisher_pod import EXIT_NOTICED_LATE, FAILING, PASSING, finisher_env, run_pod

pytestmark = [
    pytest.mark.processes,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for PID and network namespaces"),
]


def test_a_passing_test_ends_with_the_final_numbers_scraped_and_every_exit_code_right(
    tmp_path: Path,
) -> None:
    run = run_pod(tmp_path, finisher_env=finisher_env(ttl="2s"))
    requests, failures = run.locust_totals()
    assert requests > 0

    assert run.result["gate_exit"] == 0
    assert run.exit_codes() == (0, 0, 0)

    last = run.last_scrape()
    assert last["aggregated"] == requests, "Prometheus's last value is Locust's final count"
    assert last["at"] < run.events["exporter_exited"], "the quit came after that scrape"
    waited = run.events["exporter_exited"] - run.events["master_exited"]
    assert waited >= 2 - EXIT_NOTICED_LATE, "the TTL was honoured"

    summary = run.summary()
    assert (summary["requests"], summary["failures"]) == (requests, failures)
    assert summary["finalScrape"]["primed"]
    assert summary["finalScrape"]["confirmed"]
    assert summary["exporter"] == "quit"
    # Read from the real Locust's web UI: what the run's metadata compares runs by.
    assert summary["run"] == {"locustVersion": version("locust")}
    assert f"watching Locust master pid {run.result['master_pid']}:" in run.log("finisher")


def test_a_failing_test_keeps_its_verdict_and_the_finisher_still_exits_0(tmp_path: Path) -> None:
    run = run_pod(tmp_path, FAILING, finisher_env=finisher_env(ttl="1s"))
    requests, failures = run.locust_totals()
    assert failures > 0
    assert run.exit_codes() == (1, 0, 0)
    summary = run.summary()
    assert (summary["requests"], summary["failures"]) == (requests, failures)
    assert summary["errors"][0]["name"] == "/fail"
    assert run.last_scrape()["aggregated"] == requests


def test_a_test_shorter_than_a_scrape_interval_still_gets_its_final_scrape(tmp_path: Path) -> None:
    run = run_pod(
        tmp_path,
        run_time="2s",
        # As the README asks: workers report their last samples up to 3 s after the stop and
        # Locust caches stats for 2 s, so a 1 s autoquit could end the master before the
        # finisher saw the final totals (it did: 116 primed, 120 counted); the finisher now
        # confirms only totals read 5 s after it saw "stopped" (test_short_autoquit.py).
        autoquit=10,
        scrape_interval=5.0,
        finisher_env=finisher_env(ttl="1s", max_wait="30s"),
    )
    requests, _ = run.locust_totals()
    assert run.summary()["finalScrape"]["confirmed"]
    assert run.last_scrape()["aggregated"] == requests
    assert run.last_scrape()["at"] < run.events["exporter_exited"]


def test_with_no_ttl_set_the_exporter_ends_on_the_final_scrape_not_after_30s(
    tmp_path: Path,
) -> None:
    # The default: a scrape during the autoquit window (scraped every 2 s, autoquit 10 s)
    # already carries the final numbers, so the exporter ends right after the master.
    run = run_pod(tmp_path, scrape_interval=2.0, autoquit=10, finisher_env=finisher_env())
    requests, _ = run.locust_totals()
    assert run.summary()["finalScrape"]["confirmed"]
    assert run.last_scrape()["aggregated"] == requests
    waited = run.events["exporter_exited"] - run.events["master_exited"]
    assert waited < 10, f"the exporter outlived the master by {waited:.1f}s"


def test_nobody_scraping_means_no_wait_beyond_the_ttl_in_auto_mode(tmp_path: Path) -> None:
    run = run_pod(tmp_path, scrape_interval=0, finisher_env=finisher_env(ttl="1s", max_wait="60s"))
    waited = run.events["exporter_exited"] - run.events["master_exited"]
    assert 1 - EXIT_NOTICED_LATE <= waited < 10
    final = run.summary()["finalScrape"]
    assert (final["scrapedDuringTest"], final["waited"], final["confirmed"]) == (
        False,
        False,
        False,
    )


def test_wait_for_scrape_true_with_nobody_scraping_is_bounded_by_max_wait(tmp_path: Path) -> None:
    run = run_pod(
        tmp_path, scrape_interval=0, finisher_env=finisher_env(ttl="1s", wait="true", max_wait="4s")
    )
    waited = run.events["exporter_exited"] - run.events["master_exited"]
    assert 4 - EXIT_NOTICED_LATE <= waited < 12
    summary = run.summary()
    assert (summary["finalScrape"]["waited"], summary["finalScrape"]["confirmed"]) == (True, False)
    assert any("max-wait" in note for note in summary["notes"])
    assert run.result["finisher_exit"] == 0


def test_an_exporter_that_is_already_gone_is_fine(tmp_path: Path) -> None:
    run = run_pod(
        tmp_path, scrape_interval=0, kill_exporter_after=1.0, finisher_env=finisher_env(ttl="1s")
    )
    assert (run.result["master_exit"], run.result["finisher_exit"]) == (0, 0)
    assert run.summary()["exporter"] == "already gone"


def test_a_native_sidecar_exporter_is_never_told_to_quit(tmp_path: Path) -> None:
    run = run_pod(tmp_path, finisher_env=finisher_env(ttl="1s", sidecar="true"))
    assert run.result["finisher_exit"] == 0
    assert run.result.get("exporter_still_running"), "kubelet, not we, stops a native sidecar"
    assert run.summary()["exporter"] == "left to kubelet (native sidecar)"


def test_sigterm_during_the_wait_ends_the_finisher_within_a_second(tmp_path: Path) -> None:
    run = run_pod(tmp_path, sigterm_finisher_after_master=1.0, finisher_env=finisher_env(ttl="60s"))
    assert run.result["finisher_exit"] == 0
    assert run.events["finisher_exited"] - run.events["sigterm_sent"] < 1.0
    summary = run.summary()
    assert "the pod is terminating: stopped early" in summary["notes"]
    assert summary["requests"] > 0


def test_a_master_that_starts_after_the_finisher_is_found(tmp_path: Path) -> None:
    run = run_pod(tmp_path, master_delay=3, finisher_env=finisher_env(ttl="1s"))
    assert "waiting for the Locust master process to appear" in run.log("finisher")
    assert run.summary()["requests"] == run.locust_totals()[0]
    assert f"watching Locust master pid {run.result['master_pid']}:" in run.log("finisher")


def test_locust_masters_outside_the_pod_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "outside.py").write_text(PASSING)
    outsiders = [
        subprocess.Popen(
            [
                str(Path(sys.executable).parent / "locust"),
                "-f",
                str(tmp_path / "outside.py"),
                "--master",
                "--headless",
                "--run-time",
                "90s",
                "--master-bind-port",
                str(port),
                "--web-port",
                str(port + 1),
                "--host",
                "http://127.0.0.1:9",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in (25557, 25567)
    ]
    try:
        run = run_pod(tmp_path, finisher_env=finisher_env(ttl="1s"))
        assert all(p.poll() is None for p in outsiders), "the outside masters are untouched"
    finally:
        for process in outsiders:
            process.kill()
            process.wait()
    assert run.exit_codes() == (0, 0, 0)
    assert run.summary()["requests"] == run.locust_totals()[0]
    assert f"watching Locust master pid {run.result['master_pid']}:" in run.log("finisher")
