"""The verdict copied onto the owning LocustTest, as plan() decides it and as the patch says.

Only after the report, from the Job as read after it, once per pod, and only to a
LocustTest that owns the Job as an operator's master Job.
"""

import dataclasses
from typing import Any

from app.core import names
from app.core.gitops import LocustTestRef, owning_test, refusal, verdict_patch
from app.core.notify_state import NotifySeen
from app.core.reconcile import AnnotateTest, ReadJob, SettleRetention, plan
from app.core.retention import JobSeen
from tests.unit.test_reconcile import EXIT, SUMMARY, facts

NOW = EXIT + 10_000
OWNER = {
    "apiVersion": "locust.io/v2",
    "kind": "LocustTest",
    "name": "checkout",
    "uid": "test-uid",
    "controller": True,
    "blockOwnerDeletion": True,
}
FAILED = {
    names.RESULT_ANNOTATION: "failed",
    names.REASON_ANNOTATION: "check:p95",
    names.SUMMARY_ANNOTATION: SUMMARY,
    names.RESULT_OF_ANNOTATION: "uid-1",
    names.FINISHED_AT_ANNOTATION: "2026-11-26T10:00:00Z",
    names.EXIT_CODE_ANNOTATION: "0",
}


def job(
    annotations: dict[str, str] | None = None,
    owners: list[dict[str, Any]] | None = None,
    name: str = "checkout-master",
) -> dict[str, Any]:
    metadata = {
        "name": name,
        "uid": "job-uid",
        "resourceVersion": "7",
        "annotations": FAILED if annotations is None else annotations,
        "ownerReferences": [OWNER] if owners is None else owners,
    }
    return {"metadata": metadata, "spec": {}}


def reported(**changes: object) -> Any:
    return dataclasses.replace(
        facts(reported=True, recorded_result="passed", exporter_stop_recorded="x", **changes),
        job="checkout-master",
        job_uid="job-uid",
    )


def test_after_the_report_the_job_is_read_again_then_its_locusttest_annotated() -> None:
    pod = reported()
    assert plan(pod, NOW, job=JobSeen(job(), after_report=False)).actions == [
        ReadJob(with_namespace=True)
    ]
    (action,) = plan(pod, NOW, job=JobSeen(job(), after_report=True)).actions
    assert action == AnnotateTest(
        LocustTestRef("locust.io/v2", "checkout", "test-uid"),
        {
            names.RESULT_ANNOTATION: "failed",
            names.REASON_ANNOTATION: "check:p95",
            names.SUMMARY_ANNOTATION: SUMMARY,
            names.RESULT_OF_ANNOTATION: "uid-1",
            names.FINISHED_AT_ANNOTATION: "2026-11-26T10:00:00Z",
        },
    )


def test_once_annotated_the_jobs_retention_follows_and_the_test_is_not_annotated_again() -> None:
    held = job({**FAILED, names.HELD_TTL_ANNOTATION: "0"})
    nowhere = NotifySeen(target=None)  # no notification: nothing else holds the Job
    decided = plan(reported(test_annotated=True), NOW, job=JobSeen(held, True), notify=nowhere)
    (action,) = decided.actions
    assert isinstance(action, SettleRetention)


def test_a_passed_verdict_removes_an_earlier_runs_reason() -> None:
    passed = {**FAILED, names.RESULT_ANNOTATION: "passed"}
    del passed[names.REASON_ANNOTATION]
    (action,) = plan(reported(), NOW, job=JobSeen(job(passed), True)).actions
    assert isinstance(action, AnnotateTest)
    assert action.annotations[names.RESULT_ANNOTATION] == "passed"
    assert action.annotations[names.REASON_ANNOTATION] is None  # null: removed by the merge


def test_nothing_is_copied_before_the_report_or_from_another_pods_record() -> None:
    running = dataclasses.replace(reported(), reported=False, master=None)
    assert not any(
        isinstance(a, AnnotateTest) for a in plan(running, NOW, job=JobSeen(job(), True)).actions
    )
    newer = {**FAILED, names.RESULT_OF_ANNOTATION: "uid-2"}  # a retry's verdict is on the Job
    assert verdict_patch(job(newer), "uid-1") is None
    assert verdict_patch(job({}), "uid-1") is None


def test_only_a_locusttest_of_locust_io_that_controls_its_master_job_is_the_owner() -> None:
    assert owning_test(job()) == LocustTestRef("locust.io/v2", "checkout", "test-uid")
    # The official operator keeps dots, locust-k8s-operator makes them dashes.
    dotted = {**OWNER, "name": "shop.checkout", "apiVersion": "locust.io/v1"}
    assert owning_test(job(owners=[dotted], name="shop.checkout-master")) is not None
    assert owning_test(job(owners=[dotted], name="shop-checkout-master")) is not None
    # A Job any name but the master Job's that operator makes of the LocustTest.
    assert owning_test(job(name="checkout-worker")) is None
    assert owning_test(job(name="payroll-master")) is None
    others = [
        {**OWNER, "apiVersion": "evil.example/v1"},
        {**OWNER, "kind": "CronJob"},
        {**OWNER, "controller": False},
        {key: value for key, value in OWNER.items() if key != "blockOwnerDeletion"},
        {key: value for key, value in OWNER.items() if key != "uid"},
    ]
    for owner in others:
        assert owning_test(job(owners=[owner])) is None, owner
    assert owning_test(job(owners=[])) is None


def locusttest(uid: str = "test-uid", **annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "locust.io/v2",
        "kind": "LocustTest",
        "metadata": {"name": "checkout", "uid": uid, "annotations": annotations},
    }


REF = LocustTestRef("locust.io/v2", "checkout", "test-uid")


def test_a_locusttest_of_another_uid_or_with_a_later_verdict_is_not_written() -> None:
    verdict = verdict_patch(job(), "uid-1")
    assert verdict is not None
    assert refusal(locusttest(), REF, verdict) is None
    assert "another uid" in str(refusal(locusttest(uid="made-again"), REF, verdict))
    later = locusttest(**{names.FINISHED_AT_ANNOTATION: "2026-11-26T11:00:00Z"})
    assert "later run" in str(refusal(later, REF, verdict))
    written = locusttest(**{k: v for k, v in verdict.items() if v is not None})
    assert "already" in str(refusal(written, REF, verdict))
