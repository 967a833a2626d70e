"""Which test a run belongs to, when the controller records it, and the history settings."""

import dataclasses
import json
from typing import Any

import pytest

from app.core import names, run_metadata
from app.core.cluster_config import (
    ConfigError,
    HistoryConfig,
    InjectionConfig,
    expire_after,
    parse_cluster_config,
    show_expire_after,
)
from app.core.history import DEFAULT_EXPIRE_SECONDS, DEFAULT_KEEP, HistoryEntry
from app.core.pod_facts import Terminated
from app.core.reconcile import (
    AnnounceVerdict,
    HistorySeen,
    ReadHistory,
    ReadJob,
    RecordRun,
    RecordVerdict,
    plan,
)
from app.core.retention import JobSeen
from app.core.setting_codecs import Regression
from app.core.settings import FinishSettings
from tests.unit.test_reconcile import EXIT, SUMMARY, facts

NOW = EXIT + 10_000


def job(owner: dict[str, Any] | None = None, name: str = "checkout-master") -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "uid": "job-uid", "resourceVersion": "7"}
    if owner is not None:
        metadata["ownerReferences"] = [owner]
    # Settled: its retention is decided, so the plans here hold the history's actions alone.
    metadata["annotations"] = {names.RETENTION_ANNOTATION: "decided"}
    return {"metadata": metadata, "spec": {}}


LOCUST_TEST = {"apiVersion": "locust.io/v2", "kind": "LocustTest", "name": "checkout",
               "uid": "lt", "controller": True}  # fmt: skip


def reported(**changes: object) -> Any:
    done = facts(
        reported=True,
        recorded_result="passed",
        exporter_stop_recorded="itself",
        exporter_running=False,
        run_recorded=False,
        recorded_summary=SUMMARY,
    )
    return dataclasses.replace(done, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("owner", "expected"),
    [
        (LOCUST_TEST, "checkout"),
        ({"apiVersion": "batch/v1", "kind": "CronJob", "name": "nightly", "controller": True},
         "nightly"),
        # Someone else's controller, or a LocustTest of another API: the Job is the test.
        ({"apiVersion": "example.com/v1", "kind": "LocustTest", "name": "x", "controller": True},
         "checkout-master"),
        ({**LOCUST_TEST, "controller": False}, "checkout-master"),
        (None, "checkout-master"),
    ],
)  # fmt: skip
def test_a_runs_test_is_its_jobs_locusttest_or_cronjob_else_its_job(
    owner: dict[str, Any] | None, expected: str
) -> None:
    assert (
        run_metadata.which_test(job(owner), "checkout-master", "checkout-master-abcde") == expected
    )


def test_a_pod_without_a_job_is_a_test_of_its_own_and_names_are_bounded() -> None:
    assert run_metadata.which_test(None, None, "solo") == "solo"
    long = "t" * 400
    assert len(run_metadata.which_test(job(None, name=long), long, "p")) == run_metadata.MAX_NAME


def test_a_reported_run_is_recorded_with_its_numbers_under_its_tests_name() -> None:
    (record,) = plan(reported(), NOW).actions
    assert isinstance(record, RecordRun)
    assert record.test == "t-master-x"  # no Job: the pod is the test
    entry = record.entry
    assert (entry["uid"], entry["result"]) == ("uid-1", "passed")
    assert entry["numbers"]["requests"] == 580
    assert entry["numbers"]["p95Ms"] == 5.0
    assert entry["run"]["test"] == "t-master-x"
    assert entry["run"]["namespace"] == "ns"
    assert entry["finishedAt"] == "2026-11-26T10:00:00Z"


def test_a_runs_record_waits_for_its_job_read_after_the_report() -> None:
    with_job = reported(job="checkout-master", job_uid="job-uid")
    assert plan(with_job, NOW).actions == [ReadJob(with_namespace=True)]
    before = JobSeen(job(LOCUST_TEST), after_report=False)
    assert plan(with_job, NOW, job=before).actions == [ReadJob(with_namespace=True)]
    (record,) = plan(with_job, NOW, job=JobSeen(job(LOCUST_TEST), after_report=True)).actions
    assert isinstance(record, RecordRun)
    assert record.test == "checkout"


def test_a_job_gone_before_it_was_read_names_the_test_as_the_pod_does() -> None:
    with_job = reported(job="checkout-master", job_uid="job-uid")
    (record,) = plan(with_job, NOW, job=JobSeen(None, after_report=True)).actions
    assert isinstance(record, RecordRun)
    assert record.test == "checkout-master"


def test_a_pod_seen_only_as_deleted_is_recorded_from_its_last_state() -> None:
    (record,) = plan(reported(deleted=True), NOW).actions
    assert isinstance(record, RecordRun)


def test_a_recorded_run_or_an_unreported_one_is_not_recorded() -> None:
    assert plan(reported(run_recorded=True, recorded_summary=""), NOW).actions == []
    assert plan(reported(master=None), NOW).actions == []


def test_a_summary_that_does_not_decode_still_records_the_verdict() -> None:
    (record,) = plan(reported(recorded_summary="{not json"), NOW).actions
    assert isinstance(record, RecordRun)
    assert record.entry["numbers"] == {}
    assert record.entry["finishedAt"] == "2026-11-26T10:00:00Z"


# A pod whose verdict is judged against its test's previous run: p95 at most 10% worse.
RELATIVE = FinishSettings(check_p95_regression=Regression(0.1, 0.005))


def kept(uid: str, result: str = "passed") -> HistoryEntry:
    return {"uid": uid, "result": result, "finishedAt": "", "run": {"test": "checkout"},
            "numbers": {}}  # fmt: skip


def test_with_a_relative_check_the_history_is_read_before_the_verdict() -> None:
    due = facts(finisher=None, has_finisher=False, exporter_running=False,
                job="checkout-master", job_uid="job-uid", settings=RELATIVE)  # fmt: skip
    assert plan(due, NOW).actions[0] == ReadJob(with_namespace=False)
    seen = JobSeen(job(LOCUST_TEST))
    assert plan(due, NOW, job=seen).actions[0] == ReadHistory("checkout")
    history = HistorySeen("checkout", (kept("old"), kept("newer")))
    assert isinstance(plan(due, NOW, job=seen, history=history).actions[0], AnnounceVerdict)


def test_an_unreadable_history_never_holds_the_verdict_up() -> None:
    due = facts(finisher=None, has_finisher=False, exporter_running=False, settings=RELATIVE)
    assert plan(due, NOW).actions[0] == ReadHistory("t-master-x")
    unread = HistorySeen("t-master-x", readable=False)
    assert isinstance(plan(due, NOW, history=unread).actions[0], AnnounceVerdict)


def test_without_a_relative_check_the_verdict_reads_no_history() -> None:
    due = facts(finisher=None, has_finisher=False, exporter_running=False)
    assert isinstance(plan(due, NOW).actions[0], AnnounceVerdict)


# ---------------------------------------------------------------- settings


def history_of(document: dict[str, Any]) -> HistoryConfig:
    return parse_cluster_config({"history": document}, InjectionConfig()).history


def test_history_settings_default_to_20_runs_and_30_days() -> None:
    assert parse_cluster_config({}, InjectionConfig()).history == HistoryConfig(
        DEFAULT_KEEP, DEFAULT_EXPIRE_SECONDS
    )
    assert history_of({"keep": 5, "expireAfter": "12h"}) == HistoryConfig(5, 12 * 3600.0)
    assert history_of({"expireAfter": "never"}).expire_after_seconds is None


@pytest.mark.parametrize(
    "document",
    [{"keep": 0}, {"keep": 101}, {"keep": True}, {"keep": "20"}, {"expireAfter": "30x"},
     {"expireAfter": "0d"}, {"expireAfter": "0s"}, {"expireAfter": 30}, {"expireAfter": "9999d"},
     {"days": 3}],
)  # fmt: skip
def test_bad_history_settings_are_refused_by_name(document: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="history"):
        history_of(document)


@pytest.mark.parametrize("text", ["30d", "1d", "12h", "90m", "1h30m", "never"])
def test_expire_after_reads_back_what_it_shows(text: str) -> None:
    assert expire_after(show_expire_after(expire_after(text))) == expire_after(text)


def ended(settings: FinishSettings) -> Any:
    """A test whose finisher left its summary (p95 5 ms), its exporter stopped and recorded."""
    return facts(
        settings=settings,
        finisher=Terminated(0, EXIT + 40, "t", SUMMARY),
        exporter_running=False,
        exporter_ended=Terminated(0, EXIT + 40, "t"),
        exporter_stop_recorded="finisher",
    )


def test_a_verdict_judged_against_the_previous_run_fails_as_a_regression() -> None:
    # The finisher's summary says p95 5 ms; the previous passed run had 2 ms, one before 5 ms.
    due = ended(FinishSettings(check_p95_regression=Regression(0.1, 0.001)))
    run = {"test": "t-master-x"}
    older = {**kept("older"), "run": run, "numbers": {"requests": 500, "p95Ms": 5.0}}
    fast = {**kept("fast"), "run": run, "numbers": {"requests": 500, "p95Ms": 2.0}}
    failed = {**kept("failed", "failed"), "run": run, "numbers": {"requests": 500, "p95Ms": 1.0}}
    history = HistorySeen("t-master-x", (older, fast, failed))  # type: ignore[arg-type]
    (report,) = plan(due, NOW, history=history).actions
    assert isinstance(report, AnnounceVerdict)
    assert report.annotations[names.RESULT_ANNOTATION] == "failed"
    assert report.annotations[names.REASON_ANNOTATION] == "regression:p95"
    summary = json.loads(report.annotations[names.SUMMARY_ANNOTATION])
    assert summary["baseline"]["uid"] == "fast", "the newest passed run, never a failed one"
    (check,) = summary["checks"]
    assert (check["name"], check["passed"]) == ("p95-regression", False)
    assert "regression:p95" in report.events[0].message


def test_a_first_run_has_no_baseline_and_its_relative_check_is_not_made() -> None:
    due = ended(FinishSettings(check_p95_regression=Regression(0.1, 0.001)))
    (report,) = plan(due, NOW, history=HistorySeen("t-master-x")).actions
    assert isinstance(report, AnnounceVerdict)
    assert report.annotations[names.RESULT_ANNOTATION] == "passed"
    summary = json.loads(report.annotations[names.SUMMARY_ANNOTATION])
    assert "baseline" not in summary
    assert [c["state"] for c in summary["checks"]] == ["not-made"]


def test_a_relative_check_holds_the_verdict_until_the_numbers_are_judged() -> None:
    # Locust exited 0, the finisher still runs: only the report, with the numbers, can say.
    running = facts(settings=RELATIVE, finisher=None, exporter_running=True)
    decided = plan(running, EXIT + 1)
    assert not [a for a in decided.actions if isinstance(a, RecordVerdict)]
