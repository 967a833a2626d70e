"""The controller's decisions, from hand-built facts and fake time (the master exits at t=1000)."""

import dataclasses
import json
from typing import Any

import pytest

from app.core import names
from app.core.pod_facts import PodFacts, Terminated, Waiting, facts_from_pod
from app.core.reconcile import (
    CONTROLLER_GRACE_SECONDS,
    ENDED_EARLY_GRACE_SECONDS,
    FINISHER_GRACE_SECONDS,
    IMAGE_PULL_GRACE_SECONDS,
    AnnounceVerdict,
    Blocked,
    GiveUpQuitting,
    NoteExporterStopped,
    PublishNotReady,
    QuitExporter,
    QuitHistory,
    RecordVerdict,
    SetServicesBack,
    fallback_event,
    fallback_note,
    plan,
)
from app.core.settings import FinishSettings, Strategy, WaitForScrape
from app.core.summary import decode_summary
from app.core.timestamps import parse_time
from testkit.admission import TEST_KEY, admit

EXIT = 1000.0
SUMMARY = json.dumps(
    {
        "version": 1,
        "requests": 580,
        "failures": 0,
        "failRatio": 0.0,
        "p95Ms": 5.0,
        "rps": 72.7,
        "finalScrape": {
            "primed": True,
            "scrapedDuringTest": True,
            "waited": True,
            "confirmed": False,
        },
        "exporter": "quit",
    }
)


def facts(**changes: object) -> PodFacts:
    """A master pod; without a Job, so that plans hold only the pod's own actions.

    The Job's retention is planned too (tests/unit/test_retention_plan.py), and so is the
    run's record in its test's history (tests/unit/test_history_plan.py): it is taken as
    done here.
    """
    base = PodFacts(
        namespace="ns",
        name="t-master-x",
        uid="uid-1",
        job=None,
        job_uid=None,
        settings=FinishSettings(ttl_seconds=30, max_wait_seconds=300),
        master_container="t-master",
        exporter_container="locust-metrics-exporter",
        exporter_sidecar=False,
        exporter_port=9646,
        has_finisher=True,
        pod_ip="198.18.0.9",
        terminal=False,
        master=Terminated(0, EXIT, "2026-11-26T10:00:00Z"),
        finisher=None,
        exporter_running=True,
        exporter_ended=None,
        recorded_result=None,
        reported=False,
        exporter_stop_recorded=None,
        run_recorded=True,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def kinds(decided: object) -> list[type]:
    return [type(a) for a in decided.actions]  # type: ignore[attr-defined]


def test_nothing_to_do_while_the_master_runs() -> None:
    decided = plan(facts(master=None), EXIT)
    assert (decided.actions, decided.wake_at) == ([], None)


def test_the_verdict_is_recorded_at_once_and_the_report_waits_for_the_finisher() -> None:
    decided = plan(facts(), EXIT + 1)
    assert kinds(decided) == [RecordVerdict]
    assert decided.actions[0].annotations == {  # type: ignore[union-attr]
        names.RESULT_ANNOTATION: "passed",
        names.EXIT_CODE_ANNOTATION: "0",
        names.FINISHED_AT_ANNOTATION: "2026-11-26T10:00:00Z",
        names.RESULT_OF_ANNOTATION: "uid-1",
    }
    # Back by the time a silent finisher would have been given up on (or the quit is due).
    assert decided.wake_at == EXIT + 300 + FINISHER_GRACE_SECONDS


def test_the_report_carries_the_finishers_numbers_and_warns_of_a_missed_scrape() -> None:
    done = facts(
        recorded_result="passed",
        finisher=Terminated(0, EXIT + 40, "t", SUMMARY),
        exporter_running=False,
        exporter_ended=Terminated(0, EXIT + 40, "t"),
    )
    decided = plan(done, EXIT + 41)
    assert kinds(decided) == [AnnounceVerdict, NoteExporterStopped]
    report = decided.actions[0]
    assert isinstance(report, AnnounceVerdict)
    reasons = [e.reason for e in report.events]
    assert reasons == ["LoadTestPassed", "FinalScrapeMissed"]
    assert "580 requests" in report.events[0].message
    assert "max-wait" in report.events[1].message
    # The finisher's summary, and what the run was: no Job, so the test is named by its pod.
    run = {"test": "t-master-x", "namespace": "ns"}
    assert decode_summary(report.annotations[names.SUMMARY_ANNOTATION]) == {
        **json.loads(SUMMARY),
        "run": run,
    }
    assert names.REASON_ANNOTATION not in report.annotations
    assert report.cleared == (names.REASON_ANNOTATION,), "an earlier run's reason is removed"
    stopped = decided.actions[1]
    assert isinstance(stopped, NoteExporterStopped)
    assert stopped.stopped_by == "finisher"
    assert stopped.event is not None
    assert "40s after" in stopped.event.message


def test_a_failed_test_is_a_warning_event() -> None:
    decided = plan(
        facts(
            master=Terminated(1, EXIT, "t"),
            has_finisher=False,
            settings=FinishSettings(strategy=Strategy.CONTROLLER),
        ),
        EXIT,
    )
    report = decided.actions[0]
    assert isinstance(report, AnnounceVerdict)
    assert (report.events[0].reason, report.events[0].type) == ("LoadTestFailed", "Warning")
    assert report.annotations[names.RESULT_ANNOTATION] == "failed"


def test_everything_done_means_nothing_more() -> None:
    done = facts(
        recorded_result="passed",
        reported=True,
        exporter_running=False,
        exporter_ended=Terminated(0, EXIT + 30, "t"),
        exporter_stop_recorded="finisher",
    )
    assert plan(done, EXIT + 10_000).actions == []


def test_controller_strategy_quits_after_ttl_and_grace() -> None:
    pod = facts(
        has_finisher=False,
        reported=True,
        recorded_result="passed",
        settings=FinishSettings(ttl_seconds=30, strategy=Strategy.CONTROLLER),
    )
    due = EXIT + 30 + CONTROLLER_GRACE_SECONDS
    early = plan(pod, due - 0.1)
    assert (early.actions, early.wake_at) == ([], due)
    assert plan(pod, due).actions == [QuitExporter("198.18.0.9", 9646, 1)]


def test_a_finisher_gets_its_whole_wait_before_the_controller_steps_in() -> None:
    pod = facts(reported=True, recorded_result="passed")
    due = EXIT + 300 + FINISHER_GRACE_SECONDS
    assert plan(pod, due - 1).actions == []
    assert plan(pod, due).actions == [QuitExporter("198.18.0.9", 9646, 1)]
    no_wait = dataclasses.replace(
        pod, settings=FinishSettings(ttl_seconds=30, wait_for_scrape=WaitForScrape.FALSE)
    )
    assert plan(no_wait, EXIT + 30 + FINISHER_GRACE_SECONDS).actions == [
        QuitExporter("198.18.0.9", 9646, 1)
    ]


def reported_controller_pod(ttl_seconds: float) -> PodFacts:
    """A reported pod whose exporter the controller ends (strategy controller, no finisher)."""
    return facts(
        reported=True,
        recorded_result="passed",
        has_finisher=False,
        settings=FinishSettings(ttl_seconds=ttl_seconds, strategy=Strategy.CONTROLLER),
    )


def test_quit_retries_back_off_then_give_up_once() -> None:
    pod = reported_controller_pod(ttl_seconds=0)
    later = plan(pod, 2000, QuitHistory(attempts=1, last_attempt_at=2000))
    assert later.actions == []
    assert later.wake_at == 2001
    assert plan(pod, 2001, QuitHistory(1, 2000)).actions == [QuitExporter("198.18.0.9", 9646, 2)]
    assert plan(pod, 2003.9, QuitHistory(3, 2000)).actions == []
    assert kinds(plan(pod, 2010, QuitHistory(4, 2004))) == [GiveUpQuitting]
    assert (
        plan(
            dataclasses.replace(pod, exporter_stop_recorded="failed"), 2020, QuitHistory(4, 2004)
        ).actions
        == []
    )


@pytest.mark.parametrize("change", [{"exporter_sidecar": True}, {"pod_ip": None}])
def test_never_quits_a_native_sidecar_or_without_an_address(change: dict[str, object]) -> None:
    pod = facts(reported=True, recorded_result="passed", **change)
    assert not any(isinstance(a, QuitExporter) for a in plan(pod, EXIT + 10_000).actions)


def test_a_new_leader_counts_deadlines_from_the_masters_exit_not_from_its_own_start() -> None:
    # The old leader died during the TTL; its successor first sees the pod long after.
    pod = facts(
        has_finisher=False, settings=FinishSettings(ttl_seconds=30, strategy=Strategy.CONTROLLER)
    )
    first_look = plan(pod, EXIT + 600)
    assert kinds(first_look) == [AnnounceVerdict, QuitExporter]
    # ... and one that looks before the deadline waits exactly until it.
    assert plan(
        dataclasses.replace(pod, reported=True, recorded_result="passed"), EXIT + 10
    ).wake_at == (EXIT + 30 + CONTROLLER_GRACE_SECONDS)


def test_facts_come_from_a_real_pod_and_its_annotations() -> None:
    status = {
        "version": "0.1.0",
        "strategy": "controller",
        "ttl": "45s",
        "waitForScrape": "false",
        "maxWait": "1m",
        "masterContainer": "m",
        "exporterContainer": "e",
        "exporterSidecar": False,
        "exporterPort": 9700,
    }
    pod = {
        "metadata": {
            "name": "p",
            "namespace": "n",
            "uid": "u",
            "annotations": {
                names.STATUS_ANNOTATION: json.dumps(status),
                names.RESULT_ANNOTATION: "passed",
                names.RESULT_OF_ANNOTATION: "u",
            },
            "ownerReferences": [{"kind": "Job", "name": "j", "uid": "ju", "controller": True}],
        },
        "spec": {"containers": [{"name": "m"}, {"name": "e"}]},
        "status": {
            "phase": "Running",
            "podIP": "198.18.0.2",
            "containerStatuses": [
                {
                    "name": "m",
                    "state": {"terminated": {"exitCode": 3, "finishedAt": "2026-11-26T10:00:00Z"}},
                },
                {"name": "e", "state": {"running": {"startedAt": "2026-11-26T09:59:00Z"}}},
            ],
        },
    }
    found = facts_from_pod(admit(pod), TEST_KEY)
    assert found is not None
    assert (found.job, found.job_uid, found.exporter_port, found.has_finisher) == (
        "j",
        "ju",
        9700,
        False,
    )
    assert found.settings == FinishSettings(45, WaitForScrape.FALSE, 60, Strategy.CONTROLLER)
    assert found.master is not None
    assert (found.master.exit_code, found.exporter_running, found.recorded_result) == (
        3,
        True,
        "passed",
    )
    assert facts_from_pod({"metadata": {"annotations": {}}}, TEST_KEY) is None


def test_a_quit_by_the_controller_is_noted_once_with_its_delay() -> None:
    pod = reported_controller_pod(ttl_seconds=30)
    after_quit = plan(pod, EXIT + 36, QuitHistory(1, EXIT + 35, stopped="quit"))
    assert len(after_quit.actions) == 1
    note = after_quit.actions[0]
    assert isinstance(note, NoteExporterStopped)
    assert note.stopped_by == "controller"
    assert note.event is not None
    assert note.event.reason == "ExporterStopped"
    assert "stopped by the controller (/quitquitquit) 35s after" in note.event.message
    # Found gone already: recorded, but no Event claims a stop we did not make.
    gone = plan(pod, EXIT + 36, QuitHistory(1, EXIT + 35, stopped="gone")).actions
    assert gone == [NoteExporterStopped(None, "controller")]
    # Once recorded, nothing more, whatever the pod status says later.
    recorded = dataclasses.replace(pod, exporter_stop_recorded="controller", exporter_running=False)
    assert plan(recorded, EXIT + 40, QuitHistory(1, EXIT + 35, stopped="quit")).actions == []


def test_the_controller_steps_in_after_the_finishers_own_latest_deadline() -> None:
    # auto may wait for a scrape (only the finisher knows whether anyone scraped): max-wait.
    auto = facts(reported=True, recorded_result="passed")
    assert plan(auto, EXIT).wake_at == EXIT + 300 + FINISHER_GRACE_SECONDS
    never = facts(
        reported=True,
        recorded_result="passed",
        settings=FinishSettings(ttl_seconds=30, wait_for_scrape=WaitForScrape.FALSE),
    )
    assert plan(never, EXIT).wake_at == EXIT + 30 + FINISHER_GRACE_SECONDS


def test_pods_mutated_by_0_1_read_strategy_terminator_as_the_finisher() -> None:
    status = {"strategy": "terminator", "ttl": "30s", "masterContainer": "m"}
    pod = {
        "metadata": {
            "name": "p",
            "uid": "u",
            "annotations": {names.STATUS_ANNOTATION: json.dumps(status)},
        },
        "spec": {"containers": [{"name": names.FINISHER_CONTAINER}, {"name": "m"}]},
    }
    found = facts_from_pod(admit(pod), TEST_KEY)
    assert found is not None
    assert found.settings.strategy is Strategy.FINISHER
    assert found.has_finisher


def test_the_exporters_stop_is_credited_once_the_finishers_summary_says_who() -> None:
    # The finisher quit the exporter; its own end (and summary) follows a moment later.
    quit_by_finisher = facts(
        recorded_result="passed",
        exporter_running=False,
        exporter_ended=Terminated(0, EXIT + 40, "t"),
    )
    early = plan(quit_by_finisher, EXIT + 40.5)
    assert not any(isinstance(a, NoteExporterStopped) for a in early.actions)
    assert early.wake_at is not None
    ended = dataclasses.replace(quit_by_finisher, finisher=Terminated(0, EXIT + 41, "t", SUMMARY))
    [note] = [a for a in plan(ended, EXIT + 41).actions if isinstance(a, NoteExporterStopped)]
    assert note.stopped_by == "finisher"
    # A finisher that never speaks: past its silence, the exporter stopped on its own.
    silent = plan(quit_by_finisher, early.wake_at)
    [note] = [a for a in silent.actions if isinstance(a, NoteExporterStopped)]
    assert note.stopped_by == "itself"


def test_a_deleted_pod_is_reported_at_once_from_its_last_state() -> None:
    gone = facts(deleted=True, master=Terminated(2, EXIT, "t"), exporter_running=True)
    decided = plan(gone, EXIT + 0.1)
    assert kinds(decided) == [AnnounceVerdict]
    report = decided.actions[0]
    assert isinstance(report, AnnounceVerdict)
    assert report.annotations[names.RESULT_ANNOTATION] == "failed"
    summary = decode_summary(report.annotations[names.SUMMARY_ANNOTATION])
    assert summary is not None
    assert summary["notes"] == ["the pod was deleted before the finisher left a summary"]
    assert plan(dataclasses.replace(gone, reported=True), EXIT + 1).actions == []


# ------------------------------------------------ a finisher whose image cannot be pulled

START = EXIT - 100  # the pod's status.startTime
IMAGE = "registry.example/finisher:missing"
BACK_OFF = Waiting("ImagePullBackOff", f'Back-off pulling image "{IMAGE}"')


def unpullable(**changes: object) -> PodFacts:
    """The master runs; the finisher waits on an image the kubelet cannot pull."""
    base = facts(
        master=None,
        started_at=START,
        finisher_image=IMAGE,
        finisher_waiting=BACK_OFF,
        labels=(("performance-test-pod-name", "t-master"),),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "reason", ["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"]
)
def test_an_unpullable_finisher_gets_a_short_grace_then_its_pods_services_are_opened(
    reason: str,
) -> None:
    pod = unpullable(finisher_waiting=Waiting(reason, "no such image"))
    due = START + IMAGE_PULL_GRACE_SECONDS
    early = plan(pod, due - 1)
    assert (early.actions, early.wake_at) == ([], due)
    [action] = plan(pod, due).actions
    assert action == PublishNotReady(
        IMAGE,
        reason,
        "no such image",
        "the controller ends the exporter 30s (the TTL) after the Locust master exits, "
        "without waiting for a final scrape",
    )


def test_the_services_are_set_back_once_the_test_has_ended() -> None:
    opened = unpullable(fallback_done=True)
    assert SetServicesBack not in kinds(plan(opened, START + 600)), "not while Locust runs"
    ended = dataclasses.replace(opened, master=Terminated(0, START + 60, "t"))
    assert SetServicesBack in kinds(plan(ended, START + 600))
    done = dataclasses.replace(ended, fallback_ended=True)
    assert SetServicesBack not in kinds(plan(done, START + 600))


def test_a_finisher_seen_late_in_back_off_is_worked_around_at_once() -> None:
    # A controller that starts (or fails over) long after the pod did does not wait again.
    assert kinds(plan(unpullable(), START + 600)) == [PublishNotReady]


@pytest.mark.parametrize(
    "change",
    [
        {"fallback_done": True},  # done before (the annotation): once per pod
        {"master": Terminated(0, EXIT, "t")},  # the test is over: nothing left to unblock
        {"finisher_waiting": Waiting("ContainerCreating")},  # still being pulled
        {"finisher_waiting": None},  # it runs
        {"terminal": True},
        {"deleted": True},
    ],
    ids=["done", "master-ended", "pulling", "running", "terminal", "deleted"],
)
def test_no_work_around_when_it_is_done_or_not_needed(change: dict[str, object]) -> None:
    pod = unpullable(**change)
    assert not any(isinstance(a, PublishNotReady) for a in plan(pod, START + 600).actions)


def test_a_finisher_that_never_ran_leaves_the_exporter_to_the_controller_after_the_ttl() -> None:
    # Without the fallback, the controller would wait for the finisher's max-wait (300 s) + 30 s.
    ended = unpullable(master=Terminated(0, EXIT, "2026-11-26T10:00:00Z"), fallback_done=True)
    decided = plan(ended, EXIT + 1)
    report = decided.actions[0]
    assert isinstance(report, AnnounceVerdict), "reported at once: no summary will come"
    summary = decode_summary(report.annotations[names.SUMMARY_ANNOTATION])
    assert summary is not None
    assert summary["notes"] == ["the finisher never ran (waiting: ImagePullBackOff)"]
    assert report.annotations[names.RESULT_ANNOTATION] == "passed"
    due = EXIT + 30 + CONTROLLER_GRACE_SECONDS
    assert decided.wake_at == due
    reported = dataclasses.replace(ended, reported=True, recorded_result="passed")
    assert plan(reported, due).actions == [QuitExporter("198.18.0.9", 9646, 1), SetServicesBack()]


def test_the_exporters_end_is_credited_at_once_when_the_finisher_never_ran() -> None:
    ended = unpullable(
        master=Terminated(0, EXIT, "t"),
        reported=True,
        recorded_result="passed",
        exporter_running=False,
        exporter_ended=Terminated(0, EXIT + 35, "t"),
    )
    [note] = plan(ended, EXIT + 35).actions
    assert isinstance(note, NoteExporterStopped)
    assert note.stopped_by == "itself"


def test_the_warning_names_the_image_the_error_and_what_was_done() -> None:
    [action] = plan(unpullable(), START + 600).actions
    assert isinstance(action, PublishNotReady)
    event = fallback_event(action, ["t-master"], [])
    assert (event.reason, event.type) == ("FinisherImageUnpullable", "Warning")
    for needle in (IMAGE, "ImagePullBackOff", "Back-off pulling image", "Service t-master now"):
        assert needle in event.message, needle
    assert "after the Locust master exits" in event.message
    assert "no Service of its test selects it" in fallback_event(action, [], []).message
    assert "already publishes" in fallback_event(action, [], ["t-master"]).message
    assert fallback_note(["a", "b"], []) == "publishNotReadyAddresses set on Services a, b"
    assert fallback_note([], []) == "no Service of the pod's test selects it"


def test_with_a_native_sidecar_exporter_the_warning_leaves_its_end_to_the_kubelet() -> None:
    [action] = plan(unpullable(exporter_sidecar=True), START + 600).actions
    assert isinstance(action, PublishNotReady)
    assert action.consequence == "the kubelet stops the exporter when the Locust master exits"


def finisher_pod(finisher_status: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
    status = {"strategy": "finisher", "ttl": "30s", "masterContainer": "m"}
    return {
        "metadata": {
            "name": "p",
            "uid": "u",
            "annotations": {names.STATUS_ANNOTATION: json.dumps(status), **annotations},
        },
        "spec": {
            "containers": [
                {"name": names.FINISHER_CONTAINER, "image": IMAGE},
                {"name": "m", "image": "locustio/locust"},
            ]
        },
        "status": {
            "phase": "Pending",
            "startTime": "2026-11-26T09:58:20Z",
            "containerStatuses": [
                {"name": names.FINISHER_CONTAINER, **finisher_status},
                {"name": "m", "state": {"running": {}}},
            ],
        },
    }


def test_facts_tell_a_finisher_waiting_on_its_image_from_one_that_ran() -> None:
    waiting = {"state": {"waiting": {"reason": "ErrImagePull", "message": "x" * 5000}}}
    found = facts_from_pod(admit(finisher_pod(waiting, {})), TEST_KEY)
    assert found is not None
    assert (found.finisher_image, found.started_at) == (IMAGE, parse_time("2026-11-26T09:58:20Z"))
    assert found.finisher_waiting is not None
    assert found.finisher_waiting.reason == "ErrImagePull"
    assert len(found.finisher_waiting.message) <= 300, "facts stay small"
    assert not found.finisher_runs
    assert not found.fallback_done
    # Waiting again after it ended once (a restarted container): it did run.
    again = {
        "state": {"waiting": {"reason": "ImagePullBackOff"}},
        "lastState": {"terminated": {"exitCode": 0, "finishedAt": "2026-11-26T10:00:00Z"}},
    }
    ran = facts_from_pod(
        admit(finisher_pod(again, {names.FALLBACK_ANNOTATION: "no Service selects the pod"})),
        TEST_KEY,
    )
    assert ran is not None
    assert ran.finisher_waiting is None
    assert ran.finisher_runs
    assert ran.fallback_done


# ---------------------------------------------------------------- the verdict policy


def checked(**changes: object) -> PodFacts:
    """A pod whose p95 limit (4 ms) the test's 5 ms fails, though Locust exited 0."""
    settings = FinishSettings(ttl_seconds=30, max_wait_seconds=300, check_p95_seconds=0.004)
    return facts(**{"settings": settings, **changes})


def test_without_checks_the_verdict_is_also_a_label() -> None:
    [record] = plan(facts(), EXIT + 1).actions
    assert isinstance(record, RecordVerdict)
    assert record.labels == {names.RESULT_LABEL: "passed"}
    done = facts(finisher=Terminated(0, EXIT + 40, "t", SUMMARY), terminal=True)
    report = plan(done, EXIT + 41).actions[0]
    assert isinstance(report, AnnounceVerdict)
    assert report.labels == {names.RESULT_LABEL: "passed"}
    assert report.events[0].message.startswith("load test passed (Locust exit code 0): 580 ")
    assert "checks" not in json.loads(report.annotations[names.SUMMARY_ANNOTATION])


def test_a_failed_check_fails_a_test_locust_passed_in_annotation_label_and_event() -> None:
    done = checked(finisher=Terminated(0, EXIT + 40, "t", SUMMARY), terminal=True)
    report = plan(done, EXIT + 41).actions[0]
    assert isinstance(report, AnnounceVerdict)
    assert report.annotations[names.RESULT_ANNOTATION] == "failed"
    assert report.annotations[names.EXIT_CODE_ANNOTATION] == "0", "Locust's own code, unchanged"
    assert report.labels == {names.RESULT_LABEL: "failed"}
    event = report.events[0]
    assert (event.reason, event.type) == ("LoadTestFailed", "Warning")
    assert event.message.startswith(
        "load test failed (reason check:p95; Locust exit code 0; failed checks: p95): "
    )
    assert report.annotations[names.REASON_ANNOTATION] == "check:p95"
    assert report.cleared == ()
    assert event.message.endswith("; checks: p95 5ms (limit 4ms) failed")
    summary = json.loads(report.annotations[names.SUMMARY_ANNOTATION])
    assert [(c["name"], c["value"], c["passed"]) for c in summary["checks"]] == [
        ("p95", "5ms", False)
    ]


def test_with_checks_a_passing_exit_code_is_not_recorded_before_the_numbers_are_in() -> None:
    early = plan(checked(), EXIT + 1)
    assert early.actions == []
    assert early.wake_at == EXIT + 300 + FINISHER_GRACE_SECONDS
    # A failing exit code fails the test whatever the checks say: recorded at once.
    [record] = plan(checked(master=Terminated(2, EXIT, "t")), EXIT + 1).actions
    assert isinstance(record, RecordVerdict)
    assert record.labels == {names.RESULT_LABEL: "failed"}


def test_a_verdict_judged_by_the_checks_is_never_taken_back() -> None:
    reported = checked(
        recorded_result="failed",
        reported=True,
        exporter_running=False,
        exporter_ended=Terminated(0, EXIT + 30, "t"),
        exporter_stop_recorded="finisher",
    )
    assert plan(reported, EXIT + 10_000).actions == []


def test_a_check_that_cannot_be_made_says_so_and_leaves_locusts_verdict() -> None:
    # The finisher left no summary (strategy controller): no number to judge.
    pod = facts(has_finisher=False, settings=FinishSettings(check_rps=50))
    report = plan(pod, EXIT).actions[0]
    assert isinstance(report, AnnounceVerdict)
    assert report.labels == {names.RESULT_LABEL: "passed"}
    assert report.events[0].message == (
        "load test passed (Locust exit code 0); checks: rps not made, the summary has no "
        "number for it: does not count"
    )
    # Passed, not on every limit: a Warning says so, and how to fail such a test instead.
    warning = next(e for e in report.events if e.reason == "ChecksNotMade")
    assert warning.type == "Warning"
    assert warning.message.startswith("not made, so not counted (the summary has no number")
    assert 'locust-finisher.io/strict-checks: "true" fails such a test' in warning.message
    [check] = json.loads(report.annotations[names.SUMMARY_ANNOTATION])["checks"]
    assert (check["value"], check["passed"], check["state"]) == (None, True, "not-made")


def test_with_strict_checks_a_check_that_cannot_be_made_fails_the_verdict() -> None:
    settings = FinishSettings(check_rps=50, strict_checks=True)
    report = plan(facts(has_finisher=False, settings=settings), EXIT).actions[0]
    assert isinstance(report, AnnounceVerdict)
    assert report.labels == {names.RESULT_LABEL: "failed"}
    assert report.annotations[names.RESULT_ANNOTATION] == "failed"
    assert report.events[0].reason == "LoadTestFailed"
    assert "(reason no-numbers; Locust exit code 0; failed checks: rps)" in (
        report.events[0].message
    )
    assert report.annotations[names.REASON_ANNOTATION] == "no-numbers"
    assert "rps not made, the summary has no number for it: fails the test" in (
        report.events[0].message
    )
    assert "ChecksNotMade" not in [e.reason for e in report.events]  # the failure says it
    [check] = json.loads(report.annotations[names.SUMMARY_ANNOTATION])["checks"]
    assert (check["passed"], check["state"]) == (False, "not-made")


# ------------------------------------------------ a finisher killed as a whole, not restarted

KILLED = Terminated(137, START + 30, "2026-11-26T09:59:00Z")


def killed(**changes: object) -> PodFacts:
    """The master runs; the finisher was killed as a whole and no restart rule restarts it."""
    return unpullable(**{"finisher_waiting": None, "finisher": KILLED, **changes})


def test_a_finisher_killed_while_the_master_runs_gets_a_grace_then_its_services_are_opened() -> (
    None
):
    due = KILLED.finished_at + ENDED_EARLY_GRACE_SECONDS
    early = plan(killed(), due - 1)
    assert (early.actions, early.wake_at) == ([], due), "a restart rule's restart comes first"
    [action] = plan(killed(), due).actions
    assert isinstance(action, PublishNotReady)
    assert (action.blocked, action.reason) == (Blocked.ENDED_EARLY, "exit code 137")
    event = fallback_event(action, ["t-master"], [])
    assert (event.reason, event.type) == ("FinisherEndedEarly", "Warning")
    assert "Kubernetes 1.35" in event.message
    assert "Service t-master now publishes not-ready addresses" in event.message


def test_a_finisher_restarted_by_its_restart_rule_needs_no_work_around() -> None:
    restarting = killed(finisher=None, finisher_waiting=None)  # CrashLoopBackOff, then running
    assert not any(isinstance(a, PublishNotReady) for a in plan(restarting, START + 600).actions)


def test_once_the_master_ends_its_verdict_is_reported_and_the_controller_ends_the_exporter() -> (
    None
):
    ended = killed(master=Terminated(0, EXIT, "2026-11-26T10:00:00Z"), fallback_done=True)
    assert ended.finisher_ended_first
    decided = plan(ended, EXIT + 1)
    report = decided.actions[0]
    assert isinstance(report, AnnounceVerdict)
    assert report.annotations[names.RESULT_ANNOTATION] == "passed", "Locust's, not our 137"
    summary = decode_summary(report.annotations[names.SUMMARY_ANNOTATION])
    assert summary is not None
    assert summary["notes"] == [
        "the finisher ended (exit code 137) before the Locust master, and nothing restarted it"
    ]
    assert decided.wake_at == EXIT + 30 + CONTROLLER_GRACE_SECONDS
