"""A run's notification as plan() decides it: where to, claimed once, posted with backoff, marked.

Decided from the Job as read after the report (its verdict and the mark) and what the leader
knows of its own posts (``NotifySeen``); a new leader knows none of them, only the mark.
"""

import dataclasses
import json
from typing import Any

from app.core import names
from app.core.notify_state import (
    BACKOFF_SECONDS,
    Mark,
    MarkState,
    NotifySeen,
    SecretRef,
    choose_target,
    encode_mark,
    read_mark,
    retryable,
)
from app.core.reconcile import (
    GiveUpNotifying,
    Notify,
    ReadJob,
    ReadNotifyTarget,
    SettleRetention,
    plan,
)
from app.core.retention import JobSeen
from tests.unit.test_notification import recorded_job
from tests.unit.test_reconcile import EXIT, facts

NOW = EXIT + 10_000
TARGET = SecretRef("ns", names.NOTIFY_SECRET, "namespace annotation")
ANNOTATED = {names.NOTIFY_SECRET_ANNOTATION: names.NOTIFY_SECRET}


def reported() -> Any:
    return dataclasses.replace(
        facts(reported=True, recorded_result="passed", exporter_stop_recorded="x"),
        uid="pod-uid",
        job="checkout-master",
        job_uid="job-uid",
    )


def seen_job(mark: Mark | None = None, namespace: dict[str, str] | None = None) -> JobSeen:
    job = recorded_job()
    # Held while the test ran: settling it is the retention's next step.
    job["metadata"]["annotations"][names.HELD_TTL_ANNOTATION] = "0"
    if mark is not None:
        job["metadata"]["annotations"][names.NOTIFICATION_ANNOTATION] = encode_mark(mark)
    return JobSeen(job, True, ANNOTATED if namespace is None else namespace)


def test_after_the_report_the_target_is_read_with_the_namespaces_secret() -> None:
    assert plan(reported(), NOW, job=seen_job()).actions == [ReadNotifyTarget(names.NOTIFY_SECRET)]
    assert plan(reported(), NOW, job=seen_job(namespace={})).actions == [ReadNotifyTarget(None)]


def test_nothing_is_read_or_sent_before_the_job_is_read_after_the_report() -> None:
    before = JobSeen(recorded_job(), after_report=False)
    assert plan(reported(), NOW, job=before).actions == [ReadJob(with_namespace=True)]
    unreported = dataclasses.replace(reported(), reported=False)
    assert not any(isinstance(a, ReadNotifyTarget | Notify) for a in plan(unreported, NOW).actions)


def test_a_job_whose_verdict_is_another_pods_is_not_notified() -> None:
    other = dataclasses.replace(reported(), uid="another-pod")
    assert not any(
        isinstance(a, ReadNotifyTarget | Notify) for a in plan(other, NOW, job=seen_job()).actions
    )


def test_with_nowhere_to_send_the_job_is_settled_and_nothing_posted() -> None:
    decided = plan(reported(), NOW, job=seen_job(), notify=NotifySeen(None))
    assert [type(a) for a in decided.actions] == [SettleRetention]


def test_the_first_post_claims_the_run_on_the_job_conditionally_on_its_version() -> None:
    (notify,) = plan(reported(), NOW, job=seen_job(), notify=NotifySeen(TARGET)).actions
    assert isinstance(notify, Notify)
    assert (notify.target, notify.attempt) == (TARGET, 1)
    assert notify.body["uid"] == "pod-uid"
    assert notify.body["reason"] == "check:p95"
    assert notify.claim is not None
    metadata = notify.claim["metadata"]
    assert (metadata["uid"], metadata["resourceVersion"]) == ("job-uid", "7")
    mark = json.loads(metadata["annotations"][names.NOTIFICATION_ANNOTATION])
    assert (mark["of"], mark["state"]) == ("pod-uid", "claimed")


def test_a_new_leader_that_finds_a_claim_posts_again_without_claiming() -> None:
    claimed = seen_job(Mark("pod-uid", MarkState.CLAIMED, "2026-11-26T10:00:01Z"))
    (notify,) = plan(reported(), NOW, job=claimed, notify=NotifySeen(TARGET)).actions
    assert isinstance(notify, Notify)
    assert notify.claim is None


def test_a_sent_or_given_up_run_is_never_posted_again_and_its_job_is_settled() -> None:
    for state in (MarkState.SENT, MarkState.GAVE_UP):
        done = seen_job(Mark("pod-uid", state, "2026-11-26T10:00:01Z"))
        decided = plan(reported(), NOW, job=done, notify=NotifySeen(TARGET))
        assert [type(a) for a in decided.actions] == [SettleRetention]
    # Another pod's mark (an earlier attempt of the Job) is none of this run's.
    earlier = seen_job(Mark("earlier-pod", MarkState.SENT, "2026-11-26T09:00:00Z"))
    (notify,) = plan(reported(), NOW, job=earlier, notify=NotifySeen(TARGET)).actions
    assert isinstance(notify, Notify)
    assert notify.claim is not None


def test_posts_back_off_and_the_job_is_not_settled_meanwhile() -> None:
    claimed = seen_job(Mark("pod-uid", MarkState.CLAIMED, "2026-11-26T10:00:01Z"))
    after_one = NotifySeen(TARGET, attempts=1, last_attempt_at=NOW)
    decided = plan(reported(), NOW + 0.5, job=claimed, notify=after_one)
    assert (decided.actions, decided.wake_at) == ([], NOW + BACKOFF_SECONDS[0])
    (again,) = plan(reported(), NOW + 1, job=claimed, notify=after_one).actions
    assert isinstance(again, Notify)
    assert again.attempt == 2
    after_four = NotifySeen(TARGET, attempts=4, last_attempt_at=NOW)
    assert plan(reported(), NOW, job=claimed, notify=after_four).wake_at == NOW + 8


def test_out_of_posts_it_gives_up_once_with_an_event_and_a_final_mark() -> None:
    claimed = seen_job(Mark("pod-uid", MarkState.CLAIMED, "2026-11-26T10:00:01Z"))
    spent = NotifySeen(TARGET, attempts=len(BACKOFF_SECONDS) + 1, last_attempt_at=NOW)
    (give_up,) = plan(reported(), NOW + 3600, job=claimed, notify=spent).actions
    assert isinstance(give_up, GiveUpNotifying)
    assert give_up.event.reason == "NotificationFailed"
    assert "no 2xx answer to 11 posts" in give_up.event.message
    assert give_up.patch is not None
    mark = json.loads(give_up.patch["metadata"]["annotations"][names.NOTIFICATION_ANNOTATION])
    assert mark["state"] == "gave-up"


def test_a_refused_post_is_not_tried_again() -> None:
    refused = NotifySeen(TARGET, 1, NOW, refused="the receiver answered HTTP 404 Not Found")
    (give_up,) = plan(reported(), NOW, job=seen_job(), notify=refused).actions
    assert isinstance(give_up, GiveUpNotifying)
    assert "HTTP 404" in give_up.event.message
    assert TARGET.describe() in give_up.event.message


def test_only_an_outage_a_timeout_or_throttling_is_retried() -> None:
    assert [s for s in (0, 200, 301, 400, 401, 404, 408, 413, 429, 500, 503) if retryable(s)] == [
        0,
        408,
        429,
        500,
        503,
    ]


def test_the_namespaces_secret_wins_over_the_clusters_and_stays_in_the_namespace() -> None:
    assert choose_target("team", "hooks", "cluster-hook", "lf").target == SecretRef(
        "team", "hooks", "namespace annotation"
    )
    assert choose_target("team", None, "cluster-hook", "lf").target == SecretRef(
        "lf", "cluster-hook", "cluster config"
    )
    assert choose_target("team", "", "cluster-hook", "lf") == NotifySeen(None)  # opted out
    assert choose_target("team", None, "", "lf") == NotifySeen(None)
    bad = choose_target("team", "../other", "", "lf")
    assert bad.refused is not None
    assert "is not a Secret's name" in bad.refused


def test_a_mark_that_is_not_ours_is_no_mark() -> None:
    def job_with(value: str) -> dict[str, Any]:
        return {"metadata": {"annotations": {names.NOTIFICATION_ANNOTATION: value}}}

    assert read_mark(job_with('{"of":"u","state":"sent","at":"t"}'), "u") is not None
    for value in ("[]", "{", '{"of":"u","state":"done"}', '{"of":"u"}', "x" * 600):
        assert read_mark(job_with(value), "u") is None
    assert read_mark(job_with('{"of":"u","state":"sent"}'), "") is None
