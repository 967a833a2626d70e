"""What a user set reaches them, end to end: a bad setting is an Event, a check that could
not be made fails under strict checks (the controller and `wait` alike).

A module of its own, after test_end_to_end.py's: its load tests start together, and more than
six at once on the two-CPU node left the first test's requests unanswered within its run.
"""

import json

import pytest

from app.core import names
from devcluster.processes import wait_until
from tests.cluster.launches import Launch, Started, started_fixture
from tests.cluster.reporting import events_for, seconds, wait_for_report
from tests.cluster.test_end_to_end import assert_finished_cleanly
from tests.waiting.junit_schema import read_junit

pytestmark = pytest.mark.cluster

LAUNCHES = {
    # No finisher, so no numbers: the check cannot be made, and strict checks fail the test.
    "test_strict_checks_fail_a_test_whose_check_could_not_be_made": Launch(
        "e2e-strict",
        annotations=(
            (names.STRATEGY_ANNOTATION, "controller"),
            (names.CHECK_FAIL_RATIO_ANNOTATION, "0.01"),
            (names.STRICT_CHECKS_ANNOTATION, "true"),
        ),
        wait=("--report-dir", "{dir}", "--junit", "{dir}/junit.xml"),
    ),
    # A typo in the operator's master.annotations, through the Job as the operator makes it.
    "test_a_bad_annotation_value_is_a_setting_ignored_event_on_the_pod_and_its_job": Launch(
        "e2e-typo", annotations=((names.MAX_WAIT_ANNOTATION, "-5m"),)
    ),
}


started = started_fixture(LAUNCHES)


def test_a_bad_annotation_value_is_a_setting_ignored_event_on_the_pod_and_its_job(
    started: Started,
) -> None:
    # The admission warning went to the Job controller, which created the pod: nobody saw it.
    outcome = started.outcome("e2e-typo")
    assert_finished_cleanly(outcome, passed=True)
    reported = wait_for_report(started.cluster, outcome.pod, "e2e-master", "passed")
    assert names.WARNED_ANNOTATION in reported["metadata"]["annotations"]
    master_ended = seconds(outcome.terminated("e2e-master")["finishedAt"])
    for kind, name in (("Pod", outcome.pod["metadata"]["name"]), ("Job", "e2e-master")):
        events = events_for(started.cluster, "e2e-typo", kind, name)
        ignored = [e for e in events if e["reason"] == "SettingIgnored"]
        assert len(ignored) == 1, f"one SettingIgnored Event on the {kind}: {ignored}"
        [event] = ignored
        assert (event["type"], event["count"]) == ("Warning", 1)
        assert f"{names.MAX_WAIT_ANNOTATION}: '-5m' is not a duration" in event["message"]
        assert "using the default 5m" in event["message"]
        assert seconds(event["firstTimestamp"]) < master_ended, "said while the test ran"


def test_strict_checks_fail_a_test_whose_check_could_not_be_made(started: Started) -> None:
    outcome = started.outcome("e2e-strict")
    assert (outcome.phase, outcome.job_condition) == ("Succeeded", "Complete")  # Locust's
    code, printed = started.printed("e2e-strict")
    assert code == 1, printed
    assert "check fail-ratio not made, the summary has no number for it: fails the test" in printed
    folder = started.folder_of(started.launches["e2e-strict"])
    result = json.loads((folder / "summary.json").read_text())
    assert (result["verdict"], result["exitCode"]) == ("failed", 0)
    assert [(c["name"], c["state"], c["passed"]) for c in result["checks"]] == [
        ("fail-ratio", "not-made", False)
    ]
    assert read_junit((folder / "junit.xml").read_text()).failing() == ["check fail-ratio"]

    def recorded() -> dict[str, str]:
        job = started.cluster.api().get("/apis/batch/v1/namespaces/e2e-strict/jobs/e2e-master")
        return dict(job["metadata"].get("annotations") or {})

    # The controller, judging alone, records the same verdict as wait.
    wait_until(lambda: names.RESULT_ANNOTATION in recorded(), 90, "the controller's verdict")
    assert recorded()[names.RESULT_ANNOTATION] == "failed"
