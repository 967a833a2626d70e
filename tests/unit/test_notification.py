"""What a receiver gets: the generic JSON body and Slack's, from a run's Job as recorded."""

import json
from typing import Any

from app.core import names
from app.core.notification import (
    MAX_CHECKS,
    SLACK_HEADER_CHARS,
    SLACK_SECTION_CHARS,
    notification,
    reason_of,
    slack_body,
)

P95_FAILED = {
    "name": "p95",
    "limit": "500ms",
    "value": "612ms",
    "passed": False,
    "reads": "Aggregated p95",
    "state": "failed",
}
RPS_PASSED = {
    "name": "rps",
    "limit": "10",
    "value": "48.2",
    "passed": True,
    "reads": "Aggregated rps",
    "state": "passed",
}
SUMMARY: dict[str, Any] = {
    "version": 1,
    "requests": 5800,
    "failures": 12,
    "failRatio": 0.0021,
    "avgMs": 210.5,
    "p95Ms": 612.0,
    "rps": 48.2,
    "checks": [P95_FAILED, RPS_PASSED],
}


def recorded_job(
    summary: dict[str, Any] | None = None,
    result: str = "failed",
    exit_code: str = "0",
    owner: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A master Job as the controller leaves it after the verdict's report."""
    metadata: dict[str, Any] = {
        "name": "checkout-master",
        "namespace": "loadtests",
        "uid": "job-uid",
        "resourceVersion": "7",
        "annotations": {
            names.RESULT_ANNOTATION: result,
            names.EXIT_CODE_ANNOTATION: exit_code,
            names.FINISHED_AT_ANNOTATION: "2026-11-26T10:00:00Z",
            names.RESULT_OF_ANNOTATION: "pod-uid",
            names.SUMMARY_ANNOTATION: json.dumps(SUMMARY if summary is None else summary),
        },
    }
    if owner is not None:
        metadata["ownerReferences"] = [{**owner, "controller": True, "uid": "o"}]
    return {"metadata": metadata}


def body_of(job: dict[str, Any]) -> Any:
    return notification("loadtests", "checkout-master-abcde", "pod-uid", job)


def test_the_body_says_the_verdict_its_reason_the_failed_check_and_how_to_fetch_the_report() -> (
    None
):
    owner = {"apiVersion": "locust.io/v2", "kind": "LocustTest", "name": "checkout"}
    body = body_of(recorded_job(owner=owner))
    assert body["version"] == 1
    assert (body["test"], body["namespace"], body["pod"], body["job"], body["uid"]) == (
        "checkout",
        "loadtests",
        "checkout-master-abcde",
        "checkout-master",
        "pod-uid",
    )
    assert (body["verdict"], body["reason"], body["exitCode"]) == ("failed", "check:p95", 0)
    assert body["failedChecks"] == ["p95"]
    assert body["checks"][0] == {
        "name": "p95",
        "state": "failed",
        "limit": "500ms",
        "value": "612ms",
    }
    # Every number the summary has, and nothing else of it.
    assert body["numbers"] == {k: v for k, v in SUMMARY.items() if k not in ("version", "checks")}
    assert body["headline"].startswith("5800 requests, 12 failures")
    assert (
        body["fetch"]["report"]
        == "locust-finisher report --job checkout-master -n loadtests --dir ."
    )
    assert (
        body["fetch"]["wait"] == "locust-finisher wait --job checkout-master -n loadtests -o json"
    )
    assert "kubectl get job checkout-master -n loadtests" in body["fetch"]["summary"]
    json.dumps(body)  # the body is JSON as it is


def test_relative_checks_carry_their_baseline_and_delta_into_the_body() -> None:
    regression = {
        "name": "p95-regression",
        "limit": "10%",
        "value": "612ms",
        "passed": False,
        "reads": "p95 against the baseline",
        "state": "failed",
        "baseline": "500ms",
        "delta": "+22.4%",
    }
    baseline = {"uid": "old", "revision": "abc123", "numbers": {"p95Ms": 500.0, "x": "y"}}
    body = body_of(recorded_job({**SUMMARY, "checks": [regression], "baseline": baseline}))
    assert body["reason"] == "regression:p95"
    assert body["checks"][0]["baseline"] == "500ms"
    assert body["checks"][0]["delta"] == "+22.4%"
    assert body["baseline"] == {"uid": "old", "revision": "abc123", "numbers": {"p95Ms": 500.0}}


def test_reason_codes_follow_the_contracts_order() -> None:
    assert reason_of("passed", 0, SUMMARY) is None
    assert reason_of("failed", 1, SUMMARY) == "locust-exit"
    assert reason_of("failed", 0, SUMMARY) == "check:p95"
    unmade = {**P95_FAILED, "value": None, "state": "not-made"}
    assert reason_of("failed", 0, {"version": 1, "checks": [unmade]}) == "no-numbers"
    increase = {**P95_FAILED, "name": "fail-ratio-increase"}
    assert reason_of("failed", 0, {"version": 1, "checks": [increase]}) == "regression:fail-ratio"
    # A summary that carries its own reason (written with the verdict) is believed.
    assert reason_of("failed", 0, {**SUMMARY, "reason": "regression:rps"}) == "regression:rps"


def test_a_forged_summary_on_the_job_gives_a_bounded_body() -> None:
    many = [{**P95_FAILED, "name": f"c{n}"} for n in range(100)]
    body = body_of(recorded_job({**SUMMARY, "checks": many}))
    assert len(body["checks"]) == MAX_CHECKS
    assert len(body["failedChecks"]) == MAX_CHECKS
    long = body_of(recorded_job({**SUMMARY, "checks": [{**P95_FAILED, "name": "x" * 5000}]}))
    assert len(long["checks"][0]["name"]) == 256
    huge = recorded_job()
    huge["metadata"]["annotations"][names.SUMMARY_ANNOTATION] = json.dumps(
        {**SUMMARY, "notes": ["n" * 100_000]}
    )
    assert body_of(huge)["headline"] == "no numbers"  # not ours: not read at all
    assert body_of(huge)["checks"] == []
    strings = body_of(recorded_job({**SUMMARY, "failRatio": "x", "rps": "y"}))
    assert strings["headline"] == "5800 requests, 12 failures (0.00%), p95 612 ms"
    for forged in (7, "p95", {"name": "p95"}, [7, None]):
        assert body_of(recorded_job({**SUMMARY, "checks": forged}))["checks"] == []


def test_the_slack_body_has_text_and_blocks_and_escapes_what_the_job_says() -> None:
    mention = {**P95_FAILED, "name": "<!channel> p95", "value": "<https://evil|click>"}
    slack = slack_body(body_of(recorded_job({**SUMMARY, "checks": [mention]})))
    assert slack["text"] == "Load test checkout-master failed (check:unnamed) in loadtests"
    rendered = json.dumps(slack["blocks"])
    assert "<!channel>" not in rendered
    assert "<https://evil" not in rendered
    assert "&lt;!channel&gt; p95: &lt;https://evil|click&gt; (limit 500ms)" in rendered
    assert "locust-finisher report --job checkout-master -n loadtests" in rendered
    assert len(slack["blocks"][0]["text"]["text"]) <= SLACK_HEADER_CHARS
    assert all(
        len(block["text"]["text"]) <= SLACK_SECTION_CHARS
        for block in slack["blocks"]
        if block["type"] == "section"
    )


def test_a_passed_run_in_slack_lists_no_failed_checks() -> None:
    slack = slack_body(body_of(recorded_job({**SUMMARY, "checks": [RPS_PASSED]}, "passed")))
    assert slack["text"] == "Load test checkout-master passed in loadtests"
    assert "Failed checks" not in json.dumps(slack["blocks"])
