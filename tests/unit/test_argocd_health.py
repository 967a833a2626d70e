"""Our Argo CD health checks on objects captured from the local cluster, run in real Lua.

tests/cluster/test_gitops.py captured them (``UPDATE_FIXTURES=1``): a LocustTest before its
run and after a passed and a failed run, the master Job running, passed and failed. Each is
given to the Lua as Argo CD gives it (the global ``obj``), and the table it returns is read.
"""

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from app.core import names
from testkit.argocd_health import JOB_HEALTH, LOCUSTTEST_HEALTH, health

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "argocd"


def captured(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


def without_ours(obj: dict[str, Any]) -> dict[str, Any]:
    """The object with no locust-finisher.io annotation: a Job nothing of ours touched."""
    plain = copy.deepcopy(obj)
    kept = plain["metadata"].get("annotations") or {}
    plain["metadata"]["annotations"] = {
        key: value for key, value in kept.items() if not key.startswith(f"{names.DOMAIN}/")
    }
    return plain


@pytest.mark.parametrize(
    ("fixture", "status", "message"),
    [
        ("locusttest-before", "Progressing", "no locust-finisher verdict yet"),
        ("locusttest-passed", "Healthy", "load test passed"),
        ("locusttest-failed", "Degraded", "load test failed"),
    ],
)
def test_a_locusttest_is_as_healthy_as_its_last_run(
    fixture: str, status: str, message: str
) -> None:
    judged = health(LOCUSTTEST_HEALTH, captured(fixture))
    assert (judged.status, judged.message) == (status, message)


@pytest.mark.parametrize(
    ("fixture", "status"),
    [("job-running", "Progressing"), ("job-passed", "Healthy"), ("job-failed", "Degraded")],
)
def test_a_test_jobs_health_is_its_verdict(fixture: str, status: str) -> None:
    assert health(JOB_HEALTH, captured(fixture)).status == status


def test_a_failed_run_says_its_reason() -> None:
    failed = captured("locusttest-failed")
    failed["metadata"]["annotations"][names.REASON_ANNOTATION] = "check:p95"
    assert health(LOCUSTTEST_HEALTH, failed).message == "load test failed: check:p95"
    job = captured("job-failed")
    job["metadata"]["annotations"][names.REASON_ANNOTATION] = "locust-exit"
    assert health(JOB_HEALTH, job).message == "load test failed: locust-exit"


def test_a_passed_verdict_is_healthy_even_where_the_job_failed_and_a_failed_one_degraded() -> None:
    # The verdict is the test's: a check can fail a Job that completed.
    complete = captured("job-passed")
    complete["metadata"]["annotations"][names.RESULT_ANNOTATION] = "failed"
    assert health(JOB_HEALTH, complete).status == "Degraded"


def test_a_job_without_our_verdict_is_judged_as_argo_cd_judges_jobs() -> None:
    failed = without_ours(captured("job-failed"))
    judged = health(JOB_HEALTH, failed)
    condition = next(c for c in failed["status"]["conditions"] if c["type"] == "Failed")
    assert (judged.status, judged.message) == ("Degraded", condition.get("message", ""))
    assert health(JOB_HEALTH, without_ours(captured("job-passed"))).status == "Healthy"
    assert health(JOB_HEALTH, without_ours(captured("job-running"))).status == "Progressing"
    suspended = without_ours(captured("job-running"))
    suspended["status"]["conditions"] = [
        {"type": "Suspended", "status": "True", "message": "Job suspended"}
    ]
    assert health(JOB_HEALTH, suspended).status == "Suspended"
    # A condition counts only while it holds.
    suspended["status"]["conditions"][0]["status"] = "False"
    assert health(JOB_HEALTH, suspended).status == "Progressing"


def test_a_finished_job_whose_ttl_we_hold_is_not_healthy_before_its_verdict() -> None:
    # Argo CD's own check would say Healthy, then the verdict might say failed.
    judging = without_ours(captured("job-passed"))
    judging["metadata"]["annotations"][names.HELD_TTL_ANNOTATION] = "0"
    assert health(JOB_HEALTH, judging).status == "Progressing"


def test_an_object_with_no_annotations_or_status_at_all_is_progressing() -> None:
    bare = {"apiVersion": "locust.io/v2", "kind": "LocustTest", "metadata": {"name": "t"}}
    assert health(LOCUSTTEST_HEALTH, bare).status == "Progressing"
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "t-master"}}
    assert health(JOB_HEALTH, job).status == "Progressing"
