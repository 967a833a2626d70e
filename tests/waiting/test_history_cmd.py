"""`locust-finisher history`: a test's kept runs as a table or JSON; exit 0, or 2 unreadable."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core import history
from app.core.history import HistoryEntry
from testkit import fake_kube
from tests.conftest import run_cli

NAMESPACE = "loadtests"


@pytest.fixture
def fake() -> Iterator[fake_kube.FakeKube]:
    with fake_kube.running() as api:
        yield api


def entry(uid: str, result: str, ended: str, p95: float, revision: str) -> HistoryEntry:
    kept: HistoryEntry = {
        "uid": uid,
        "result": result,
        "finishedAt": ended,
        "run": {"test": "checkout", "users": 50, "revision": revision},
        "numbers": {"requests": 1200, "failures": 6, "failRatio": 0.005, "p95Ms": p95,
                    "rps": 40.25},
    }  # fmt: skip
    if result == "failed":
        kept["reason"] = "check:p95"
    return kept


def keep(fake: fake_kube.FakeKube, *entries: HistoryEntry, test: str = "checkout") -> None:
    counted = {"passed": 7, "failed": 2}
    data = history.history_data(entries, counted)
    fake.put_configmap(history.history_configmap(NAMESPACE, test, data))


def cli(tmp_path: Path, fake: fake_kube.FakeKube, *args: str) -> tuple[int, str, str]:
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig", fake.url)
    result = run_cli(
        "history", *args, "--kubeconfig", str(kubeconfig), "-n", NAMESPACE, cwd=tmp_path
    )
    return result.returncode, result.stdout, result.stderr


RUNS = (
    entry("u1", "passed", "2026-12-01T10:00:00Z", 120.0, "abc123"),
    entry("u2", "failed", "2026-12-02T10:00:00Z", 640.0, "def456"),
)


def test_the_runs_are_a_table_newest_first(tmp_path: Path, fake: fake_kube.FakeKube) -> None:
    keep(fake, *RUNS)
    code, stdout, stderr = cli(tmp_path, fake, "--test", "checkout")
    assert (code, stderr) == (0, "")
    header, newest, oldest = stdout.splitlines()
    assert header.split() == ["WHEN", "RESULT", "REASON", "REQUESTS", "FAIL", "%", "P95", "RPS",
                              "USERS", "REVISION"]  # fmt: skip
    assert newest.split() == ["2026-12-02T10:00:00Z", "failed", "check:p95", "1200", "0.50",
                              "640", "ms", "40.2", "50", "def456"]  # fmt: skip
    assert oldest.split()[:3] == ["2026-12-01T10:00:00Z", "passed", "-"]


def test_json_has_the_runs_newest_first_and_every_runs_count(
    tmp_path: Path, fake: fake_kube.FakeKube
) -> None:
    keep(fake, *RUNS)
    code, stdout, _ = cli(tmp_path, fake, "--test", "checkout", "-o", "json", "--limit", "1")
    assert code == 0
    document = json.loads(stdout)
    assert (document["namespace"], document["test"]) == (NAMESPACE, "checkout")
    assert document["counts"] == {"passed": 7, "failed": 2}
    assert [run["uid"] for run in document["runs"]] == ["u2"]
    assert document["runs"][0]["numbers"]["p95Ms"] == 640.0


def test_no_run_kept_yet_is_no_error(tmp_path: Path, fake: fake_kube.FakeKube) -> None:
    code, stdout, stderr = cli(tmp_path, fake, "--test", "new-test")
    assert (code, stdout) == (0, "")
    assert stderr == f"no runs kept for test new-test in {NAMESPACE}\n"
    code, stdout, _ = cli(tmp_path, fake, "--test", "new-test", "-o", "json")
    assert code == 0
    assert json.loads(stdout)["runs"] == []


def test_a_history_that_cannot_be_read_is_exit_2_in_one_line(
    tmp_path: Path, fake: fake_kube.FakeKube
) -> None:
    keep(fake, *RUNS)
    fake.mode = "forbidden"
    code, stdout, stderr = cli(tmp_path, fake, "--test", "checkout")
    assert (code, stdout) == (2, "")
    assert stderr.count("\n") == 1
    assert stderr.startswith("locust-finisher history: cannot read the history of test checkout")


def test_a_configmap_of_that_name_not_ours_is_refused(
    tmp_path: Path, fake: fake_kube.FakeKube
) -> None:
    name = history.configmap_name("checkout")
    fake.put_configmap({"metadata": {"name": name, "namespace": NAMESPACE},
                        "data": {"runs.json": history.encode_history(RUNS)}})  # fmt: skip
    code, stdout, stderr = cli(tmp_path, fake, "--test", "checkout")
    assert (code, stdout) == (2, "")
    assert "is not locust-finisher's history" in stderr


@pytest.mark.parametrize("args", [["--limit", "0"], ["--limit", "101"], ["--test", "a\x1bb"]])
def test_bad_arguments_are_refused(
    tmp_path: Path, fake: fake_kube.FakeKube, args: list[str]
) -> None:
    code, _, stderr = cli(tmp_path, fake, "--test", "checkout", *args)
    assert code == 2
    assert stderr.count("\n") == 1
