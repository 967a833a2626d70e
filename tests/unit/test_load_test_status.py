import json
from typing import Any

from app.core import names
from app.core.load_test_status import progress_line, status_of_test, summary_table

SUMMARY = {
    "version": 1,
    "requests": 10,
    "failures": 1,
    "failRatio": 0.1,
    "p95Ms": 4.0,
    "rps": 2.0,
    "endpoints": [
        {"method": "GET", "name": "/", "requests": 10, "failures": 1, "avgMs": 3.0, "p95Ms": 4.0}
    ],
}


def pod(
    master: dict[str, Any],
    finisher: dict[str, Any] | None,
    phase: str = "Running",
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    statuses = [{"name": "m", "state": master}]
    if finisher is not None:
        statuses.insert(0, {"name": names.FINISHER_CONTAINER, "state": finisher})
    status_annotation = json.dumps({"masterContainer": "m", "exporterContainer": "e"})
    return {
        "metadata": {
            "name": "p",
            "uid": "uid-p",
            "annotations": {names.STATUS_ANNOTATION: status_annotation, **(annotations or {})},
        },
        "spec": {"containers": [{"name": "m", "args": ["--master"]}]},
        "status": {"phase": phase, "containerStatuses": statuses},
    }


def test_running_is_not_finished() -> None:
    status = status_of_test(pod({"running": {}}, {"running": {}}))
    assert (status.finished, status.passed) == (False, None)
    assert "m running" in status.line


def test_the_controllers_annotations_win() -> None:
    annotated = pod(
        {"running": {}},
        {"running": {}},
        annotations={
            names.RESULT_ANNOTATION: "failed",
            names.RESULT_OF_ANNOTATION: "uid-p",
            names.EXIT_CODE_ANNOTATION: "1",
            names.SUMMARY_ANNOTATION: json.dumps(SUMMARY),
        },
    )
    status = status_of_test(annotated)
    assert (status.finished, status.passed, status.exit_code, status.source) == (
        True,
        False,
        1,
        "controller annotations",
    )


def test_without_a_controller_the_pod_status_decides_once_the_finisher_is_done() -> None:
    waiting = status_of_test(pod({"terminated": {"exitCode": 0}}, {"running": {}}))
    assert (waiting.finished, waiting.passed) == (False, True)
    done = status_of_test(
        pod(
            {"terminated": {"exitCode": 0}},
            {"terminated": {"exitCode": 0, "message": json.dumps(SUMMARY)}},
            phase="Succeeded",
        )
    )
    assert (done.finished, done.passed, done.source) == (True, True, "pod status")
    assert done.summary is not None
    assert done.summary["requests"] == 10


def test_an_unmutated_pod_is_judged_by_its_master_alone() -> None:
    plain = {
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "x", "args": ["--master"]}]},
        "status": {
            "phase": "Running",
            "containerStatuses": [{"name": "x", "state": {"terminated": {"exitCode": 2}}}],
        },
    }
    status = status_of_test(plain)
    assert (status.finished, status.passed, status.exit_code) == (True, False, 2)
    assert status.reason == "locust-exit"
    # A master whose command the runtime could not start never ran a test.
    never = {"exitCode": 128, "reason": "StartError", "startedAt": "1970-01-01T00:00:00Z"}
    plain["status"] = {"containerStatuses": [{"name": "x", "state": {"terminated": never}}]}
    assert status_of_test(plain).reason == "master-never-started"


def test_strict_checks_that_fail_a_recorded_pass_give_it_a_reason() -> None:
    checks = [{"name": "p99", "limit": "1ms", "value": None, "passed": True, "reads": "x"}]
    annotations = recorded("passed", "uid-p")
    annotations[names.SUMMARY_ANNOTATION] = json.dumps({**SUMMARY, "checks": checks})
    annotated = pod({"terminated": {"exitCode": 0}}, None, annotations=annotations)
    assert status_of_test(annotated).reason is None
    strict = status_of_test(annotated, strict_checks=True)
    assert (strict.passed, strict.reason) == (False, "check:p99")
    assert strict.summary is not None
    assert strict.summary["reason"] == "check:p99"


def test_a_recorded_failures_reason_is_the_controllers() -> None:
    annotations = recorded("failed", "uid-p", **{names.REASON_ANNOTATION: "regression:p95"})
    annotated = pod({"terminated": {"exitCode": 0}}, None, annotations=annotations)
    assert status_of_test(annotated).reason == "regression:p95"


def test_progress_shows_live_numbers_and_the_table_shows_endpoints() -> None:
    status = status_of_test(pod({"running": {}}, {"running": {}}))
    stats = {
        "state": "running",
        "user_count": 4,
        "total_rps": 12.5,
        "stats": [{"name": "Aggregated", "num_requests": 100, "num_failures": 2}],
    }
    assert progress_line(status, stats).endswith(
        "Locust running: 4 users, 12.5 req/s, 100 requests, 2 failures"
    )
    table = "\n".join(summary_table(SUMMARY))  # type: ignore[arg-type]
    assert "GET /" in table
    assert "1 (10.00%)" in table


def recorded(result: str, of: str | None, **more: str) -> dict[str, str]:
    """The controller's verdict annotations, for the pod with uid ``of`` (None: no result-of)."""
    annotations = {
        names.RESULT_ANNOTATION: result,
        names.EXIT_CODE_ANNOTATION: "0" if result == "passed" else "1",
        names.SUMMARY_ANNOTATION: json.dumps(SUMMARY),
        **more,
    }
    if of is not None:
        annotations[names.RESULT_OF_ANNOTATION] = of
    return annotations


def test_a_verdict_copied_onto_a_new_pod_is_not_its_own() -> None:
    # A re-run whose pod was made from a copy of the last run's: its verdict came along.
    running = pod({"running": {}}, {"running": {}}, annotations=recorded("passed", "uid-old"))
    status = status_of_test(running)
    assert (status.finished, status.passed) == (False, None)


def test_a_jobs_verdict_from_an_earlier_attempt_or_run_is_not_the_pods() -> None:
    # The Job keeps the first attempt's (or, re-created from a copy, the last run's) verdict
    # while this pod runs.
    job = {"metadata": {"uid": "job", "annotations": recorded("failed", "uid-first")}}
    status = status_of_test(pod({"running": {}}, {"running": {}}), job)
    assert (status.finished, status.passed) == (False, None)
    mine = {"metadata": {"uid": "job", "annotations": recorded("failed", "uid-p")}}
    assert status_of_test(pod({"running": {}}, {"running": {}}), mine).finished


def test_a_record_from_before_result_of_counts_only_for_its_own_master() -> None:
    # An older controller wrote no result-of; its finished-at is its master's own end.
    ended = {"terminated": {"exitCode": 1, "finishedAt": "2026-01-01T00:10:00Z"}}
    own = recorded("failed", None, **{names.FINISHED_AT_ANNOTATION: "2026-01-01T00:10:00Z"})
    status = status_of_test(pod(ended, {"running": {}}, annotations=own))
    assert (status.finished, status.source) == (True, "controller annotations")
    copied = recorded("passed", None, **{names.FINISHED_AT_ANNOTATION: "2026-01-01T00:01:00Z"})
    status = status_of_test(pod(ended, {"running": {}}, annotations=copied))
    assert (status.finished, status.passed) == (False, False), "the pod's own exit code, waiting"
