"""`wait --baseline`: the relative checks join the verdict, and every output shows the deltas."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core import history, names
from app.core.summary import encode_summary
from testkit import fake_kube
from tests.conftest import run_cli
from tests.waiting.junit_schema import read_junit
from tests.waiting.pods import exited, job, master_pod
from tests.waiting.summaries import summary

RUN = {"test": "t", "users": 50, "spawnRate": 5, "runTimeSeconds": 120, "locustVersion": "2.32"}


@pytest.fixture
def fake() -> Iterator[fake_kube.FakeKube]:
    with fake_kube.running() as api:
        yield api


def ended_test(fake: fake_kube.FakeKube, **settings: str) -> None:
    """A test Locust and its checks passed (p95 41 ms), as the controller leaves it."""
    master_job = job(namespace="loadtests")
    fake.put_job(master_job)
    pod = master_pod(
        "t-master-abc", "loadtests", master=exited(0), phase="Succeeded", job=master_job
    )
    annotations = pod["metadata"]["annotations"]
    status = json.loads(annotations[names.STATUS_ANNOTATION])
    annotations.update(
        {
            names.STATUS_ANNOTATION: json.dumps(status | settings),
            names.RESULT_ANNOTATION: "passed",
            names.EXIT_CODE_ANNOTATION: "0",
            names.RESULT_OF_ANNOTATION: pod["metadata"]["uid"],
            names.SUMMARY_ANNOTATION: encode_summary(summary(run=RUN)),
        }
    )
    fake.put_pod(pod)


def baseline_file(tmp_path: Path, **numbers: Any) -> Path:
    """A summary.json kept by an earlier `wait --report-dir`."""
    earlier = {**summary(run=RUN), **numbers}
    path = tmp_path / "main" / "summary.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"version": 1, "verdict": "passed", "summary": earlier}))
    return path


def wait(tmp_path: Path, fake: fake_kube.FakeKube, *args: str) -> tuple[int, str, str]:
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig", fake.url)
    result = run_cli(
        "wait", "--kubeconfig", str(kubeconfig), "-n", "loadtests", "--timeout", "20s",
        "--interval", "50ms", "--test", "t", *args, cwd=tmp_path,
    )  # fmt: skip
    return result.returncode, result.stdout, result.stderr


def test_a_regression_fails_a_passed_test_in_every_output(
    tmp_path: Path, fake: fake_kube.FakeKube
) -> None:
    ended_test(fake)
    base = baseline_file(tmp_path, p95Ms=20.0)
    code, stdout, stderr = wait(
        tmp_path, fake, "--baseline", str(base), "--check-p95-regression", "10%",
        "-o", "json", "--junit", "junit.xml", "--markdown", "summary.md",
    )  # fmt: skip
    assert code == 1, stderr
    document = json.loads(stdout)
    assert document["verdict"] == "failed"
    regression = next(c for c in document["checks"] if c["name"] == "p95-regression")
    assert (regression["state"], regression["baseline"], regression["delta"]) == (
        "failed",
        "20ms",
        "+105.0%",
    )
    assert document["summary"]["baseline"]["numbers"]["p95Ms"] == 20.0
    assert document["comparison"]["baseline"] == str(base)
    # On stderr (stdout is the JSON): the verdict, and the deltas under it.
    assert "FAILED" in stderr
    assert "check p95-regression 41ms against 20ms (+105.0%)" in stderr
    assert "+21 ms (+105.0%)" in stderr
    report = read_junit((tmp_path / "junit.xml").read_text())
    assert report.failing() == ["check p95-regression"]
    assert report.properties["baseline"] == str(base)
    page = (tmp_path / "summary.md").read_text()
    assert "## [FAIL] " in page
    assert "### Against the baseline" in page
    assert "| p95 | 20 ms | 41 ms | +21 ms (+105.0%) |" in page
    assert "```mermaid" in page


def test_the_pods_own_relative_check_is_judged_against_the_baseline(
    tmp_path: Path, fake: fake_kube.FakeKube
) -> None:
    ended_test(fake, **{"checks.p95Regression": "10% min 5ms"})
    code, stdout, _ = wait(tmp_path, fake, "--baseline", str(baseline_file(tmp_path, p95Ms=20.0)))
    assert code == 1, stdout
    assert "check p95-regression 41ms against 20ms (+105.0%) (limit 10% min 5ms) failed" in stdout
    # A flag overrides the pod's setting: none turns it off.
    code, stdout, _ = wait(
        tmp_path, fake, "--baseline", str(baseline_file(tmp_path, p95Ms=20.0)),
        "--check-p95-regression", "none",
    )  # fmt: skip
    assert code == 0, stdout
    assert "+21 ms (+105.0%)" in stdout


def test_a_baseline_alike_within_limits_passes_and_shows_the_deltas(
    tmp_path: Path, fake: fake_kube.FakeKube
) -> None:
    ended_test(fake)
    base = baseline_file(tmp_path, p95Ms=40.0)
    code, stdout, stderr = wait(
        tmp_path, fake, "--baseline", str(base), "--check-p95-regression", "10%"
    )
    assert code == 0, stderr
    assert "PASSED" in stdout
    assert f"against the baseline {base}:" in stdout
    assert "not like with like" not in stdout


def test_a_baseline_of_other_users_is_flagged_or_refused_strictly(
    tmp_path: Path, fake: fake_kube.FakeKube
) -> None:
    ended_test(fake)
    base = baseline_file(tmp_path, run={**RUN, "users": 10})
    code, stdout, _ = wait(tmp_path, fake, "--baseline", str(base))
    assert code == 0
    assert "warning: the baseline is not like with like: users 10 -> 50" in stdout
    code, _, stderr = wait(tmp_path, fake, "--baseline", str(base), "--strict-baseline")
    assert code == 2
    assert stderr.strip().splitlines() == [
        "locust-finisher wait: the baseline is not like with like: users 10 -> 50 "
        "(--strict-baseline)"
    ]


def test_a_baseline_that_cannot_be_read_ends_the_wait_before_it_starts(
    tmp_path: Path, fake: fake_kube.FakeKube
) -> None:
    # No test at all: a wait that started would only end at its timeout.
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    code, _, stderr = wait(tmp_path, fake, "--baseline", str(bad), "--junit", "junit.xml")
    assert code == 2
    assert stderr.startswith(f"locust-finisher wait: --baseline: {bad} is not JSON")
    assert read_junit((tmp_path / "junit.xml").read_text()).outcome("verdict") == "error"


def kept_runs(fake: fake_kube.FakeKube, *runs: tuple[str, str, float]) -> None:
    """The test's history as the controller keeps it: (uid, result, p95 ms) each, oldest first."""
    entries = [
        history.entry_of(uid, result, {**summary(run=RUN), "p95Ms": p95})
        for uid, result, p95 in runs
    ]
    data = history.history_data(entries, history.counts(entries))
    fake.put_configmap(history.history_configmap("loadtests", "t", data))


def test_previous_is_the_tests_last_passed_run_kept_in_the_cluster(
    tmp_path: Path, fake: fake_kube.FakeKube
) -> None:
    ended_test(fake)  # p95 41 ms
    kept_runs(fake, ("one", "passed", 40.0), ("two", "passed", 20.0), ("three", "failed", 10.0))
    code, stdout, stderr = wait(
        tmp_path, fake, "--baseline", "previous", "--check-p95-regression", "10%",
        "--markdown", "summary.md",
    )  # fmt: skip
    assert code == 1, stderr
    assert "reason regression:p95" in stdout
    assert "the previous run of t (two," in stdout, "the newest passed run, not a failed one"
    markdown = (tmp_path / "summary.md").read_text()
    assert "### Against the baseline" in markdown
    assert "| p95 | 20 ms | 41 ms |" in markdown


def test_previous_without_an_earlier_run_judges_nothing_relative(
    tmp_path: Path, fake: fake_kube.FakeKube
) -> None:
    ended_test(fake)
    code, stdout, stderr = wait(
        tmp_path, fake, "--baseline", "previous", "--check-p95-regression", "10%"
    )
    assert code == 0, stderr
    assert "p95-regression not made" in stdout


def test_relative_checks_need_a_baseline(tmp_path: Path, fake: fake_kube.FakeKube) -> None:
    code, _, stderr = wait(tmp_path, fake, "--check-p95-regression", "10%")
    assert code == 2
    assert "need --baseline" in stderr
