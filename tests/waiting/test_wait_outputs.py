"""`wait`'s outputs for CI: JSON on stdout, JUnit, Markdown, the step summary, a report folder.

Each is written for a passed and a failed test alike; the exit code stays the verdict, and an
output that cannot be written is exit 2 with one line, never 1.
"""

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core import names
from app.core.results import FinishedTest
from app.core.summary import encode_summary
from app.waiting.artifacts import KeptArtifacts
from app.waiting.outputs import OutputError, OutputFiles, write_outputs
from testkit import fake_kube
from tests.conftest import run_cli
from tests.waiting.junit_schema import read_junit
from tests.waiting.pods import exited, job, master_pod
from tests.waiting.summaries import summary

OUTCOMES = pytest.mark.parametrize("failing", [False, True], ids=["passed", "failed"])


@pytest.fixture
def fake() -> Iterator[fake_kube.FakeKube]:
    with fake_kube.running() as api:
        yield api


def ended_test(fake: fake_kube.FakeKube, *, failing: bool) -> None:
    """Job ``t-master`` and its pod, as the controller leaves them.

    The failed test is the one Locust passed (exit 0) and a check failed.
    """
    master_job = job(namespace="loadtests")
    fake.put_job(master_job)
    pod = master_pod(
        "t-master-abc", "loadtests", master=exited(0), phase="Succeeded", job=master_job
    )
    pod["metadata"]["annotations"].update(
        {
            names.RESULT_ANNOTATION: "failed" if failing else "passed",
            names.EXIT_CODE_ANNOTATION: "0",
            names.RESULT_OF_ANNOTATION: pod["metadata"]["uid"],
            names.SUMMARY_ANNOTATION: encode_summary(summary(failing=failing)),
        }
    )
    fake.put_pod(pod)


def wait(tmp_path: Path, fake: fake_kube.FakeKube, *args: str) -> tuple[int, str, str]:
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig", fake.url)
    result = run_cli(
        "wait", "--kubeconfig", str(kubeconfig), "-n", "loadtests", "--timeout", "20s",
        "--interval", "50ms", *args, cwd=tmp_path,
    )  # fmt: skip
    return result.returncode, result.stdout, result.stderr


@OUTCOMES
def test_json_output_is_one_object_on_stdout(
    tmp_path: Path, fake: fake_kube.FakeKube, failing: bool
) -> None:
    ended_test(fake, failing=failing)
    code, stdout, stderr = wait(tmp_path, fake, "--test", "t", "--output", "json")
    assert code == (1 if failing else 0), stderr
    result = json.loads(stdout)
    assert result["verdict"] == ("failed" if failing else "passed")
    assert result["exitCode"] == 0
    assert (result["test"], result["job"], result["pod"], result["namespace"]) == (
        "t",
        "t-master",
        "t-master-abc",
        "loadtests",
    )
    assert result["summary"]["requests"] == 1000
    assert {c["name"]: c["passed"] for c in result["checks"]} == {
        "p95": True,
        "fail-ratio": not failing,
    }
    # The words for humans are still there, on stderr.
    assert ("FAILED" if failing else "PASSED") + ", Locust exit code 0" in stderr


def test_text_stays_the_default_and_writes_no_file(
    tmp_path: Path, fake: fake_kube.FakeKube
) -> None:
    ended_test(fake, failing=True)
    code, stdout, stderr = wait(tmp_path, fake, "--test", "t")
    assert code == 1, stderr
    assert stdout.startswith("job/t-master (pod t-master-abc): FAILED, Locust exit code 0")
    assert "{" not in stdout
    assert [p.name for p in tmp_path.iterdir()] == ["kubeconfig"]


@OUTCOMES
def test_every_file_is_written_for_a_passed_and_a_failed_test(
    tmp_path: Path, fake: fake_kube.FakeKube, monkeypatch: pytest.MonkeyPatch, failing: bool
) -> None:
    ended_test(fake, failing=failing)
    step_summary = tmp_path / "step_summary.md"
    step_summary.write_text("# an earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    out = tmp_path / "results" / "t"  # neither folder exists yet
    code, _, stderr = wait(
        tmp_path, fake, "--test", "t", "--junit", str(out / "junit.xml"),
        "--markdown", str(out / "summary.md"), "--report-dir", str(out),
    )  # fmt: skip
    assert code == (1 if failing else 0), stderr

    report = read_junit((out / "junit.xml").read_text())
    # The failed one failed on its fail-ratio check, and only there.
    assert report.failing() == (["check fail-ratio"] if failing else [])
    assert list(report.cases) == ["check p95", "check fail-ratio", "locust exit code"]

    page = (out / "summary.md").read_text()
    marker, verdict = ("[FAIL]", "failed") if failing else ("[PASS]", "passed")
    assert page.startswith(f"## {marker} Load test t: {verdict}\n")
    assert step_summary.read_text() == "# an earlier step\n" + page + "\n"

    result = json.loads((out / "summary.json").read_text())
    assert result["verdict"] == verdict
    assert result["summary"]["endpoints"][1]["name"] == "/checkout"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["requests"] == 1000
    assert "finalScrape" not in stats
    # No report is kept yet: nothing claims to be one.
    assert not (out / "report.html").exists()


@pytest.mark.parametrize("flag", ["--report-dir", "--junit"])
def test_an_output_that_cannot_be_written_is_one_line_and_exit_2_even_when_failed(
    tmp_path: Path, fake: fake_kube.FakeKube, flag: str
) -> None:
    ended_test(fake, failing=True)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, stdout, stderr = wait(tmp_path, fake, "--test", "t", flag, str(blocker / "x"))
    assert code == 2, stderr
    assert stderr.startswith(f"locust-finisher wait: cannot write {blocker}/x"), stderr
    assert len(stderr.strip().splitlines()) == 1
    assert "FAILED" in stdout  # the verdict was still shown


def test_no_verdict_still_writes_every_output_saying_why_and_exits_2(
    tmp_path: Path, fake: fake_kube.FakeKube, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig", fake.url)
    step_summary = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    out = tmp_path / "out"
    result = run_cli(
        "wait", "--kubeconfig", str(kubeconfig), "-n", "loadtests", "--test", "t",
        "--timeout", "300ms", "-o", "json", "--junit", str(out / "junit.xml"),
        "--markdown", str(out / "summary.md"), "--report-dir", str(out / "r"),
    )  # fmt: skip
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("locust-finisher wait: timed out after 0.3s waiting for job/t-master")
    reason = line.removeprefix("locust-finisher wait: ")

    parsed = json.loads(result.stdout)
    assert (parsed["verdict"], parsed["error"]) == ("error", reason)
    assert (parsed["test"], parsed["job"], parsed["namespace"]) == ("t", "t-master", "loadtests")
    assert json.loads((out / "r" / "summary.json").read_text()) == parsed
    assert not (out / "r" / "stats.json").exists()  # no numbers to claim

    report = read_junit((out / "junit.xml").read_text())
    assert report.failing() == ["verdict"]
    assert report.outcome("verdict") == "error"
    assert report.message("verdict") == f"no verdict: {reason}"

    page = (out / "summary.md").read_text()
    assert page.startswith("## [ERROR] Load test t: error\n")
    assert "No verdict (exit 2): timed out after 0.3s" in page
    assert step_summary.read_text() == page + "\n"


def test_no_verdict_and_an_output_that_cannot_be_written_is_still_one_line(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run_cli(
        "wait", "--kubeconfig", str(tmp_path / "missing"), "--test", "t",
        "--junit", str(blocker / "junit.xml"),
    )  # fmt: skip
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("locust-finisher wait: ")
    assert "no such kubeconfig file" in line
    assert f"(and cannot write {blocker}/junit.xml" in line


def not_made_test(fake: fake_kube.FakeKube) -> None:
    """Job ``t-master`` passed by the controller, its p99 check not made (no p99 from Locust)."""
    master_job = job(namespace="loadtests")
    fake.put_job(master_job)
    pod = master_pod(
        "t-master-abc", "loadtests", master=exited(0), phase="Succeeded", job=master_job
    )
    p99 = {"name": "p99", "limit": "800ms", "value": None, "passed": True, "reads": "p99",
           "state": "not-made"}  # fmt: skip
    pod["metadata"]["annotations"].update(
        {
            names.RESULT_ANNOTATION: "passed",
            names.RESULT_OF_ANNOTATION: pod["metadata"]["uid"],
            names.EXIT_CODE_ANNOTATION: "0",
            names.SUMMARY_ANNOTATION: encode_summary(summary(checks=[p99])),
        }
    )
    fake.put_pod(pod)


def test_a_check_not_made_is_shown_and_strict_checks_fail_it(
    tmp_path: Path, fake: fake_kube.FakeKube
) -> None:
    not_made_test(fake)
    code, stdout, stderr = wait(tmp_path, fake, "--test", "t")
    assert code == 0, stderr
    assert "check p99 not made, the summary has no number for it: does not count" in stdout
    assert "warning: not made, so not counted: p99; --strict-checks would fail" in stdout

    junit = tmp_path / "junit.xml"
    code, stdout, stderr = wait(
        tmp_path, fake, "--test", "t", "--strict-checks", "-o", "json", "--junit", str(junit)
    )
    assert code == 1, stderr
    assert "FAILED, Locust exit code 0" in stderr
    parsed = json.loads(stdout)
    assert parsed["verdict"] == "failed"
    assert [(c["name"], c["state"], c["passed"]) for c in parsed["checks"]] == [
        ("p99", "not-made", False)
    ]
    report = read_junit(junit.read_text())
    assert report.failing() == ["check p99"]


def test_the_pods_strict_checks_fail_a_test_without_numbers_before_the_controller_reports(
    tmp_path: Path, fake: fake_kube.FakeKube
) -> None:
    # A hand-written --headless master: the finisher found no web UI, so no numbers.
    master_job = job(namespace="loadtests")
    fake.put_job(master_job)
    numberless = encode_summary({"notes": ["Locust's web UI did not answer"]})
    pod = master_pod(
        "t-master-abc", "loadtests", master=exited(0), phase="Succeeded", job=master_job,
        finisher={"terminated": {"exitCode": 0, "message": numberless}},
    )  # fmt: skip
    status = json.loads(pod["metadata"]["annotations"][names.STATUS_ANNOTATION])
    status |= {"checks.failRatio": "0.01", "checks.strict": "true"}
    pod["metadata"]["annotations"][names.STATUS_ANNOTATION] = json.dumps(status)
    fake.put_pod(pod)
    code, stdout, stderr = wait(tmp_path, fake, "--test", "t")
    assert code == 1, stderr
    assert "FAILED, Locust exit code 0 (from the pod status)" in stdout
    assert "check fail-ratio not made, the summary has no number for it: fails the test" in stdout


FINISHED = FinishedTest(
    passed=False, exit_code=1, namespace="lt", pod="p", summary=summary(failing=True)
)


def test_kept_artifacts_land_in_the_report_folder_with_their_fuller_stats(tmp_path: Path) -> None:
    stats = b'{"stats": [], "errors": []}'
    kept = KeptArtifacts(
        gzipped={"report.html": gzip.compress(b"<html>Locust report</html>")},
        stats=json.loads(stats),
        stats_json=stats,
    )
    write_outputs(FINISHED, OutputFiles(report_dir=tmp_path / "r"), kept)
    assert (tmp_path / "r" / "report.html").read_bytes() == b"<html>Locust report</html>"
    assert json.loads((tmp_path / "r" / "stats.json").read_text()) == {"stats": [], "errors": []}


def test_markdown_into_the_step_summary_itself_is_written_once(tmp_path: Path) -> None:
    page = tmp_path / "summary.md"
    write_outputs(FINISHED, OutputFiles(markdown=page, step_summary=page), None)
    assert page.read_text().count("## [FAIL]") == 1


def test_every_writable_file_is_written_before_the_failure_is_told(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    files = OutputFiles(
        junit=blocker / "junit.xml", markdown=blocker / "x.md", report_dir=tmp_path / "r"
    )
    with pytest.raises(OutputError, match=r"cannot write .*junit.xml: .* \(and 1 more\)$"):
        write_outputs(FINISHED, files, None)
    assert (tmp_path / "r" / "summary.json").exists()
