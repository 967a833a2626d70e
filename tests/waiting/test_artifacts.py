"""Reading a kept Locust report back: `locust-finisher report` and `wait --report-dir`."""

import copy
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core import names
from app.core.artifacts import (
    EXCEPTIONS_JSON,
    FAILURES_CSV,
    REPORT_HTML,
    STATS_JSON,
    LeftOut,
    artifacts_configmap,
)
from app.core.summary import encode_summary
from testkit import fake_kube
from tests.conftest import run_cli
from tests.waiting.pods import exited, job, master_pod
from tests.waiting.summaries import summary

NAMESPACE = "loadtests"
HTML = b"<!doctype html><title>Locust</title><script>window.templateArgs = {}</script>"
STATS = {"stats": [{"name": "/", "num_requests": 7}], "errors": []}


@pytest.fixture
def fake() -> Iterator[fake_kube.FakeKube]:
    with fake_kube.running() as api:
        yield api


def finished_test(fake: fake_kube.FakeKube) -> dict[str, Any]:
    """Job ``t-master`` and its passed pod, as the controller leaves them."""
    master_job = job(namespace=NAMESPACE)
    fake.put_job(master_job)
    pod = master_pod("t-master-abc", NAMESPACE, master=exited(0), phase="Succeeded", job=master_job)
    pod["metadata"]["annotations"].update(
        {
            names.RESULT_ANNOTATION: "passed",
            names.EXIT_CODE_ANNOTATION: "0",
            names.SUMMARY_ANNOTATION: encode_summary(summary(failing=False)),
        }
    )
    fake.put_pod(pod)
    return pod


def keep(fake: fake_kube.FakeKube, pod: dict[str, Any], *, html: bool = True) -> None:
    """The ConfigMap the controller would have kept for ``pod``."""
    files = {
        STATS_JSON: gzip.compress(json.dumps(STATS).encode()),
        FAILURES_CSV: gzip.compress(b"Method,Name,Error,Occurrences\n"),
        EXCEPTIONS_JSON: gzip.compress(b'{"exceptions": []}'),
    }
    left_out = []
    if html:
        files[REPORT_HTML] = gzip.compress(HTML)
    else:
        left_out.append(LeftOut(REPORT_HTML, "1200000 bytes compressed"))
    fake.put_configmap(artifacts_configmap(pod, files, left_out, "2026-12-02T10:00:00Z"))


def cli(tmp_path: Path, fake: fake_kube.FakeKube, *args: str) -> tuple[int, str, str]:
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig", fake.url)
    result = run_cli(*args, "--kubeconfig", str(kubeconfig), "-n", NAMESPACE, cwd=tmp_path)
    return result.returncode, result.stdout, result.stderr


@pytest.mark.parametrize(
    "target", [["--test", "t"], ["--job", "t-master"], ["--pod", "t-master-abc"]]
)
def test_report_writes_every_kept_file(
    tmp_path: Path, fake: fake_kube.FakeKube, target: list[str]
) -> None:
    keep(fake, finished_test(fake))
    out = tmp_path / "out"
    code, stdout, stderr = cli(tmp_path, fake, "report", *target, "--dir", str(out))
    assert code == 0, stderr
    assert (out / REPORT_HTML).read_bytes() == HTML
    assert json.loads((out / STATS_JSON).read_text()) == STATS
    assert (out / FAILURES_CSV).read_text().startswith("Method,Name")
    assert json.loads((out / EXCEPTIONS_JSON).read_text()) == {"exceptions": []}
    assert stdout.count("\n") == 1
    assert "t-master-abc-report" in stdout


def test_report_finds_a_deleted_pods_report_by_its_name(
    tmp_path: Path, fake: fake_kube.FakeKube
) -> None:
    keep(fake, finished_test(fake))
    fake.delete_pod("t-master-abc", NAMESPACE)
    code, _, stderr = cli(tmp_path, fake, "report", "--pod", "t-master-abc", "--dir", "o")
    assert code == 0, stderr
    assert (tmp_path / "o" / REPORT_HTML).read_bytes() == HTML


def test_a_jobs_report_is_found_by_its_owner_even_with_its_pods_gone(
    tmp_path: Path, fake: fake_kube.FakeKube
) -> None:
    pod = finished_test(fake)
    # Another Job's report, labelled as if it were this Job's (and listed first): its owner
    # says otherwise.
    other = copy.deepcopy(pod)
    other["metadata"].update(name="u-master-xyz", uid="other-pod")
    other["metadata"]["ownerReferences"][0]["uid"] = "another-job"
    fake.put_configmap(
        artifacts_configmap(other, {REPORT_HTML: gzip.compress(b"<other>")}, [], "z")
    )
    keep(fake, pod)
    fake.delete_pod("t-master-abc", NAMESPACE)
    code, _, stderr = cli(tmp_path, fake, "report", "--job", "t-master", "--dir", "o")
    assert code == 0, stderr
    assert (tmp_path / "o" / REPORT_HTML).read_bytes() == HTML


def test_report_says_what_was_left_out(tmp_path: Path, fake: fake_kube.FakeKube) -> None:
    keep(fake, finished_test(fake), html=False)
    code, stdout, _ = cli(tmp_path, fake, "report", "--test", "t", "--dir", "o")
    assert code == 0
    assert not (tmp_path / "o" / REPORT_HTML).exists()
    assert "report.html not kept: 1200000 bytes compressed" in stdout


def test_nothing_kept_is_exit_2_in_one_line(tmp_path: Path, fake: fake_kube.FakeKube) -> None:
    finished_test(fake)
    code, _, stderr = cli(tmp_path, fake, "report", "--test", "t", "--dir", "o")
    assert code == 2
    assert (
        stderr.strip()
        == f"locust-finisher report: no report kept for Job t-master in namespace {NAMESPACE}"
    )
    assert not (tmp_path / "o").exists()


def test_no_such_job_is_exit_2_in_one_line(tmp_path: Path, fake: fake_kube.FakeKube) -> None:
    code, _, stderr = cli(tmp_path, fake, "report", "--job", "nope")
    assert code == 2
    assert stderr.strip() == f"locust-finisher report: no Job nope in namespace {NAMESPACE}"


def test_report_needs_a_target(tmp_path: Path, fake: fake_kube.FakeKube) -> None:
    code, _, stderr = cli(tmp_path, fake, "report")
    assert code == 2
    assert "one of the arguments --test --job --pod is required" in stderr


def test_wait_report_dir_gets_locusts_own_files_beside_the_summary(
    tmp_path: Path, fake: fake_kube.FakeKube
) -> None:
    keep(fake, finished_test(fake))
    out = tmp_path / "r"
    code, _, stderr = cli(
        tmp_path, fake, "wait", "--test", "t", "--timeout", "20s", "--report-dir", str(out)
    )
    assert code == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["summary.json", STATS_JSON, REPORT_HTML, FAILURES_CSV, EXCEPTIONS_JSON]
    )
    assert (out / REPORT_HTML).read_bytes() == HTML
    assert json.loads((out / STATS_JSON).read_text()) == STATS, "Locust's own, fuller stats"
