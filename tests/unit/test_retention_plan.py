"""The Job's retention as plan() decides it: read the Job, hold its TTL, settle it once.

Everything is decided from the Job as last read (``JobSeen``): a controller that has not
read it asks to; one that has read it before the verdict's report reads it again after.
"""

import dataclasses
from typing import Any

from app.core import names
from app.core.reconcile import AnnounceVerdict, HoldJobTTL, ReadJob, SettleRetention, plan
from app.core.retention import TTL_0_KEPT_SECONDS, JobSeen
from tests.unit.test_reconcile import EXIT, SUMMARY, facts

NOW = EXIT + 10_000  # long after every deadline


def job(ttl: int | None = 0, **annotations: str) -> dict[str, Any]:
    spec = {} if ttl is None else {"ttlSecondsAfterFinished": ttl}
    metadata = {"uid": "job-uid", "resourceVersion": "7", "annotations": annotations}
    return {"metadata": metadata, "spec": spec}


def with_job(**changes: object) -> Any:
    return dataclasses.replace(facts(**changes), job="t-master", job_uid="job-uid")


def test_a_running_tests_job_is_read_then_its_ttl_held() -> None:
    running = with_job(master=None)
    assert plan(running, NOW).actions == [ReadJob(with_namespace=False)]
    (held,) = plan(running, NOW, job=JobSeen(job(ttl=0))).actions
    assert isinstance(held, HoldJobTTL)
    assert held.patch.patch["metadata"]["annotations"] == {names.HELD_TTL_ANNOTATION: "0"}
    assert held.patch.patch["spec"] == {"ttlSecondsAfterFinished": None}


def test_a_held_job_is_not_held_again() -> None:
    running = with_job(master=None)
    seen = JobSeen(job(ttl=None, **{names.HELD_TTL_ANNOTATION: "0"}))
    assert plan(running, NOW, job=seen).actions == []


def test_the_pods_own_report_comes_before_its_jobs_retention() -> None:
    finished = with_job(finisher=None, has_finisher=False, exporter_running=False)
    assert [type(a) for a in plan(finished, NOW, job=JobSeen(job())).actions] == [AnnounceVerdict]


def test_after_the_report_the_job_is_read_again_with_its_namespace() -> None:
    reported = with_job(reported=True, recorded_result="passed", exporter_stop_recorded="x")
    read_before = JobSeen(job(), after_report=False)
    assert plan(reported, NOW, job=read_before).actions == [ReadJob(with_namespace=True)]


def test_the_verdict_on_the_job_settles_it_with_the_namespaces_retention() -> None:
    reported = with_job(reported=True, recorded_result="passed", exporter_stop_recorded="x")
    on_job = job(
        ttl=None,
        **{
            names.RESULT_ANNOTATION: "passed",
            names.SUMMARY_ANNOTATION: SUMMARY,
            names.HELD_TTL_ANNOTATION: "0",
        },
    )
    seen = JobSeen(on_job, True, {names.KEEP_PASSED_ANNOTATION: "soon"})
    (settle,) = plan(reported, NOW, job=seen).actions
    assert isinstance(settle, SettleRetention)
    assert settle.event is not None
    assert "'soon'" in settle.event.message
    # No usable retention: the held TTL of 0 is kept 10 minutes, for a later wait or report.
    assert settle.patch.patch["spec"] == {"ttlSecondsAfterFinished": TTL_0_KEPT_SECONDS}
    settled = {
        **on_job,
        "metadata": {
            **on_job["metadata"],
            "annotations": {names.RETENTION_ANNOTATION: settle.patch.note},
        },
    }
    assert plan(reported, NOW, job=JobSeen(settled, True)).actions == []


def test_a_job_that_is_gone_or_not_the_pods_is_left_alone() -> None:
    assert plan(with_job(master=None), NOW, job=JobSeen(None)).actions == []
