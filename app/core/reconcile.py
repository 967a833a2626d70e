"""What the controller does about one managed pod, decided from its facts and the time.

Pure: facts in, actions and the next time to look again out. The controller shell carries
the actions out (annotations, Events, an HTTP call, reading and patching the pod's Job) and
comes back at ``wake_at``. Because every decision depends only on the pod object, the Job as
last read and the clock, a restarted or newly elected controller decides the same; Events get
stable names and annotations mark what is done, so each happens once.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from app.core import names, podview
from app.core.checks import (
    describe_check,
    evaluate_checks,
    failed_checks,
    has_checks,
    unmade_checks,
    verdict,
)
from app.core.compare import (
    RELATIVE_CHECK_NAMES,
    baseline_entry,
    comparable,
    has_relative_checks,
    relative_checks,
)
from app.core.durations import format_duration
from app.core.exporter_outcome import ExporterOutcome
from app.core.finish_plan import latest_end_offset, plain_ttl, waits_for_scrape
from app.core.gitops import LocustTestRef, owning_test, verdict_patch
from app.core.history import HistoryEntry, entry_of, previous, summary_of
from app.core.injection_status import Fitting
from app.core.notification import Notification, notification
from app.core.notify_state import (
    Mark,
    MarkState,
    NotifySeen,
    SecretRef,
    mark_patch,
    next_attempt_at,
    read_mark,
)
from app.core.pod_facts import PodFacts
from app.core.priming import explain, read_unconfirmable
from app.core.reasons import Reason, reason_of
from app.core.retention import (
    JobPatch,
    JobSeen,
    hold,
    recorded_verdict,
    resolve_retention,
    settle,
    settled,
)
from app.core.run_metadata import run_metadata, which_test
from app.core.settings import FinishSettings, Strategy, WaitForScrape
from app.core.summary import RunMetadata, Summary, decode_summary, encode_summary, headline
from app.core.timestamps import format_time
from app.core.verdict_record import cleared, is_record_of, verdict_annotations

# After the finisher's own latest deadline, how long before the controller steps in.
FINISHER_GRACE_SECONDS = 30.0
# With strategy controller, a little slack after the TTL (clocks, status propagation).
CONTROLLER_GRACE_SECONDS = 5.0
# A finisher that has not ended this long after its deadline will not report: report anyway.
FINISHER_SILENCE_SECONDS = 60.0
# Waits between quit attempts; after the last one the controller gives up and says so.
QUIT_BACKOFF_SECONDS = (1.0, 2.0, 4.0)
# How long the finisher's image may fail to pull, from the pod's start, before the controller
# works around it. The kubelet retries a failed pull 10 s later, so a passing registry hiccup
# gets one retry; Locust workers keep trying to reach the master for much longer than this.
IMAGE_PULL_GRACE_SECONDS = 20.0
# How long a finisher that ended while the master runs may stay ended before the controller
# works around it: a restart rule's restart comes after the kubelet's back-off (10 s at most
# the first time), and the container is then waiting or running again.
ENDED_EARLY_GRACE_SECONDS = 20.0
# The kubelet's waiting reasons for an image it did not get, and will not get by waiting.
IMAGE_PULL_ERRORS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
)

EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True)
class EventSpec:
    """An Event to emit on the pod (and its Job); ``key`` makes its name stable."""

    reason: str
    message: str
    type: EventType
    key: str


@dataclass(frozen=True)
class RecordVerdict:
    """Write the verdict annotations and label on the pod and its Job (remove ``cleared``)."""

    annotations: dict[str, str]
    labels: dict[str, str] = field(default_factory=dict)
    cleared: tuple[str, ...] = ()


@dataclass(frozen=True)
class AnnounceVerdict:
    """Emit the events, then write the annotations and labels (the summary marks it done)."""

    events: tuple[EventSpec, ...]
    annotations: dict[str, str]
    labels: dict[str, str] = field(default_factory=dict)
    cleared: tuple[str, ...] = ()


@dataclass(frozen=True)
class AnnounceWarnings:
    """Say the webhook's warnings in Events, then mark the pod (``note``) so it is said once.

    An admission warning reaches the pod's creator only, and a Job's pod is created by the
    Job controller: these Events are where a person sees them, while the test runs.
    """

    events: tuple[EventSpec, ...]
    note: str


@dataclass(frozen=True)
class NoteExporterStopped:
    """Emit the event (if any), then record who stopped the exporter."""

    event: EventSpec | None
    stopped_by: str


@dataclass(frozen=True)
class QuitExporter:
    """POST /quitquitquit to the exporter over the pod network (attempt ``attempt``)."""

    address: str
    port: int
    attempt: int


@dataclass(frozen=True)
class GiveUpQuitting:
    """The exporter would not stop: say so once, and stop trying."""

    event: EventSpec


class Blocked(StrEnum):
    """Why the finisher keeps the pod from being Ready while the master runs."""

    IMAGE_UNPULLABLE = "image-unpullable"
    # Ended (killed as a whole, most likely by a cgroup v2 OOM kill) and never restarted.
    ENDED_EARLY = "ended-early"


@dataclass(frozen=True)
class PublishNotReady:
    """The finisher cannot run: make the pod's Services route to it unready.

    A container that waits on its image, or that has ended, keeps the pod from being Ready,
    and a Service that does not publish not-ready addresses then has no endpoint for it:
    Locust workers never reach the master, and a test that expects workers never starts
    (measured: the master waited for ever, "0 of 1 connected"). Once done, say so in an
    Event (:func:`fallback_event`) and mark the pod (:func:`fallback_note`).
    """

    image: str
    reason: str
    message: str
    # How the test ends without its finisher (who ends the exporter, and when), for the Event.
    consequence: str
    blocked: Blocked = Blocked.IMAGE_UNPULLABLE


@dataclass(frozen=True)
class SetServicesBack:
    """The test has ended: undo what :class:`PublishNotReady` did to the pod's Services."""


@dataclass(frozen=True)
class ReadJob:
    """Read the pod's Job (after the verdict's report, its namespace's annotations too).

    The Job's annotations hold every retention decision made so far, so reading it is all a
    restarted controller needs; the shell keeps what it read as :class:`JobSeen`.
    """

    with_namespace: bool


@dataclass(frozen=True)
class HoldJobTTL:
    """Take the TTL off the pod's Job while its test runs (a patch conditional on its version)."""

    patch: JobPatch


@dataclass(frozen=True)
class SettleRetention:
    """Set the Job's retention once its verdict is recorded; say which settings were ignored."""

    patch: JobPatch
    event: EventSpec | None


@dataclass(frozen=True)
class AnnotateTest:
    """Copy the verdict onto the LocustTest that owns the pod's Job, then mark the pod.

    ``annotations`` is the merge patch's (None removes one); the patch names the
    LocustTest's uid, so a LocustTest made again under the name is not written.
    """

    test: LocustTestRef
    annotations: dict[str, str | None]


@dataclass(frozen=True)
class ReadNotifyTarget:
    """Find where the run's verdict is notified: its namespace's Secret, else the cluster's.

    The notifier reads the cluster's in the installation's ConfigMap, and keeps what it found
    as :class:`NotifySeen`.
    """

    namespace_secret: str | None  # the namespace's annotation (None: not set)


@dataclass(frozen=True)
class Notify:
    """Post the run's notification (attempt ``attempt``); first write ``claim`` on its Job.

    ``claim`` is None when the run is claimed already (by this leader or one before it): the
    post is then sent again, with the same Idempotency-Key. Once answered 2xx, the notifier
    marks the Job ``sent``.
    """

    target: SecretRef
    body: Notification
    attempt: int
    claim: dict[str, Any] | None


@dataclass(frozen=True)
class GiveUpNotifying:
    """No post can succeed: say so once, and mark the Job so no leader tries again."""

    event: EventSpec
    patch: dict[str, Any] | None


@dataclass(frozen=True)
class HistorySeen:
    """A test's kept runs as the controller read them before the verdict (see ReadHistory).

    ``readable`` is False when they could not be read: the verdict then goes without them.
    """

    test: str
    entries: tuple[HistoryEntry, ...] = ()
    readable: bool = True


@dataclass(frozen=True)
class ReadHistory:
    """Read the test's kept runs, for the verdict's relative checks (its baseline).

    Once, briefly (one attempt and one retry): the verdict is never held up for long by a
    history it cannot read. The shell keeps what it read as :class:`HistorySeen`.
    """

    test: str


@dataclass(frozen=True)
class RecordRun:
    """Append the run to its test's history ConfigMap (made if missing), then mark the pod.

    Idempotent by the pod's uid: a retried action or a new leader records the run once.
    """

    test: str
    entry: HistoryEntry


Action = (
    RecordVerdict
    | AnnounceVerdict
    | AnnounceWarnings
    | NoteExporterStopped
    | QuitExporter
    | GiveUpQuitting
    | PublishNotReady
    | SetServicesBack
    | ReadJob
    | HoldJobTTL
    | SettleRetention
    | AnnotateTest
    | ReadNotifyTarget
    | Notify
    | GiveUpNotifying
    | ReadHistory
    | RecordRun
)


QuitResult = Literal["quit", "gone"]


@dataclass(frozen=True)
class QuitHistory:
    """The controller's own quit attempts on one pod (in memory; lost on restart, harmlessly)."""

    attempts: int = 0
    last_attempt_at: float = 0.0
    # Set when the last attempt ended the exporter ("quit") or found it gone already.
    stopped: QuitResult | None = None


@dataclass(frozen=True)
class Plan:
    """Actions to take now, and when to look at the pod again (None: only on a change)."""

    actions: list[Action] = field(default_factory=list)
    wake_at: float | None = None


def _early_verdict(facts: PodFacts) -> str | None:
    """The verdict before the summary is in; None while it still depends on the checks.

    Locust's non-zero exit code fails the test whatever the checks say; its 0 is the verdict
    only when the pod sets no check, which needs the finisher's final numbers.
    """
    if facts.master is None:
        return None
    if facts.master.exit_code == 0 and (
        has_checks(facts.settings) or has_relative_checks(facts.settings)
    ):
        return None
    return verdict(facts.master.exit_code)


def _record_early(facts: PodFacts, early: str) -> RecordVerdict:
    """The verdict Locust's exit code alone decides, with its reason, before the report."""
    assert facts.master is not None
    reason = reason_of(
        facts.master.exit_code, (), has_numbers=False, master_started=facts.master.started
    )
    annotations = _verdict_annotations(facts, early, reason)
    return RecordVerdict(annotations, {names.RESULT_LABEL: early}, cleared(annotations))


def finisher_deadline_offset(settings: FinishSettings) -> float:
    """Seconds after the master's exit by which the finisher ends the exporter at the latest."""
    # Whether Prometheus scraped during the test is the finisher's knowledge, not ours.
    return latest_end_offset(settings, waits_for_scrape(settings.wait_for_scrape, None))


def quit_due_at(facts: PodFacts) -> float | None:
    """When the controller should end a still-running exporter itself."""
    if facts.master is None or facts.exporter_sidecar or not facts.has_exporter:
        return None
    if facts.settings.strategy is Strategy.CONTROLLER or not facts.finisher_runs:
        return facts.master.finished_at + plain_ttl(facts.settings) + CONTROLLER_GRACE_SECONDS
    return (
        facts.master.finished_at + finisher_deadline_offset(facts.settings) + FINISHER_GRACE_SECONDS
    )


def _verdict_due_at(facts: PodFacts) -> float | None:
    """When the verdict can be reported (None: not before something changes)."""
    if facts.master is None:
        return None
    if not facts.finisher_runs or facts.finisher is not None or facts.terminal:
        return facts.master.finished_at
    # Without an exporter the finisher has nothing to keep up: it ends with the master.
    offset = finisher_deadline_offset(facts.settings) if facts.has_exporter else 0.0
    return facts.master.finished_at + offset + FINISHER_GRACE_SECONDS + FINISHER_SILENCE_SECONDS


def _fitting_event(facts: PodFacts) -> EventSpec | None:
    """What the namespace's LimitRanges or quotas made the webhook do, beside the verdict."""
    if facts.fitting is Fitting.LEFT_OUT:
        message = (
            f"the finisher was left out, the controller finished the test: {facts.fitting_reason}"
        )
        return EventSpec("FinisherLeftOut", message, "Warning", "finisher-left-out")
    if facts.fitting is Fitting.RESIZED:
        message = f"the finisher's resources were fitted: {facts.fitting_reason}"
        return EventSpec("FinisherResized", message, "Normal", "finisher-resized")
    return None


def _final_scrape_warning(facts: PodFacts, summary: Summary) -> EventSpec | None:
    final = summary.get("finalScrape")
    if final is None or final["confirmed"] or not facts.has_exporter:
        return None  # no exporter, nothing for Prometheus to scrape
    # Whether or not anyone waits for Prometheus, the exporter never held the final numbers.
    reason = read_unconfirmable(final.get("unconfirmable"))
    if reason is not None:
        message = f"Prometheus may not have Locust's final numbers: {explain(reason)}"
    elif facts.settings.wait_for_scrape is WaitForScrape.FALSE:
        return None
    elif not final["scrapedDuringTest"] and not final["waited"]:
        message = (
            "Prometheus never scraped the exporter during the test, so its final numbers are "
            "not in Prometheus: check the pod's prometheus.io/* annotations and Prometheus's "
            f'pod discovery, or set {names.WAIT_FOR_SCRAPE_ANNOTATION}: "true"'
        )
    else:
        message = (
            "no Prometheus scrape within max-wait "
            f"{format_duration(facts.settings.max_wait_seconds)} after the test: raise "
            f"{names.MAX_WAIT_ANNOTATION} or check Prometheus's scrape interval and targets"
        )
    return EventSpec("FinalScrapeMissed", message, "Warning", "final-scrape-missed")


def _test_job(facts: PodFacts, job: JobSeen | None) -> Mapping[str, Any] | None:
    """The pod's Job as read, or as far as the pod names it (gone, or not the pod's)."""
    if job is not None and job.job is not None:
        return job.job
    return {"metadata": {"name": facts.job}} if facts.job else None


def _test(facts: PodFacts, job: JobSeen | None) -> str:
    test_job = _test_job(facts, job)
    job_name = podview.text(podview.mapping(test_job, "metadata"), "name")
    return which_test(test_job, job_name, facts.name)


def _finisher_summary(facts: PodFacts) -> Summary | None:
    return decode_summary(facts.finisher.message) if facts.finisher else None


def _report(facts: PodFacts, job: JobSeen | None, history: HistorySeen | None) -> Action:
    """The verdict's report, once what it needs is read.

    First the Job (its owner names the test in the run's metadata), then, if the verdict is
    judged against an earlier run, the test's history.
    """
    if facts.job is not None and job is None:
        return ReadJob(with_namespace=False)
    if not has_relative_checks(facts.settings):
        return _announce_verdict(facts, job)
    if history is None:
        return ReadHistory(_test(facts, job))
    current = run_metadata(
        facts.run, test=history.test, namespace=facts.namespace, summary=_finisher_summary(facts)
    )
    baseline = previous(history.entries, current, comparable, exclude_uid=facts.uid)
    return _announce_verdict(facts, job, baseline)


def _record_run(facts: PodFacts, job: JobSeen | None) -> Action | None:
    """Once the verdict is reported, the run goes into its test's history (once)."""
    if not facts.reported or facts.run_recorded or facts.master is None:
        return None
    if facts.job is not None and (job is None or not job.after_report):
        return ReadJob(with_namespace=True)  # the test's name is its Job's owner's
    assert facts.recorded_result is not None
    test = _test(facts, job)
    summary: Summary = decode_summary(facts.recorded_summary) or {"version": 1}
    run: RunMetadata = {"test": test, "namespace": facts.namespace, **summary.get("run", {})}
    summary["run"] = run
    entry = entry_of(facts.uid, facts.recorded_result, summary)
    entry["finishedAt"] = entry["finishedAt"] or facts.master.finished_at_text
    return RecordRun(test, entry)


def _announce_verdict(
    facts: PodFacts, job: JobSeen | None, baseline: HistoryEntry | None = None
) -> AnnounceVerdict:
    """The report: the verdict, its reason and the summary with the run's metadata.

    ``job`` is the pod's Job as read (the test's name is its owner's): plan() reads it first.
    ``baseline`` is the test's previous comparable passed run, which the relative checks
    (``check-p95-regression``...) judge by; without one they are not made.
    """
    assert facts.master is not None
    exit_code = facts.master.exit_code
    summary = _finisher_summary(facts)
    if summary is None:
        if facts.fitting is Fitting.LEFT_OUT:
            why = f"the finisher was left out: {facts.fitting_reason}"
        elif not facts.has_finisher:
            why = "strategy controller: no finisher in the pod"
        elif facts.finisher_ended_first:
            assert facts.finisher is not None
            why = (
                f"the finisher ended (exit code {facts.finisher.exit_code}) before the Locust "
                "master, and nothing restarted it"
            )
        elif facts.finisher_waiting is not None:
            why = f"the finisher never ran (waiting: {facts.finisher_waiting.reason or 'unknown'})"
        elif facts.deleted:
            why = "the pod was deleted before the finisher left a summary"
        else:
            why = "the finisher left no summary"
        summary = {"version": 1, "masterFinishedAt": facts.master.finished_at_text, "notes": [why]}
    test = _test(facts, job)
    summary["run"] = run_metadata(facts.run, test=test, namespace=facts.namespace, summary=summary)
    # Judged on the finisher's final numbers; without them each check says it was not made.
    checks = evaluate_checks(facts.settings, summary)
    if has_relative_checks(facts.settings):
        earlier = None if baseline is None else summary_of(baseline)
        checks += relative_checks(facts.settings, earlier, summary)
        if baseline is not None and earlier is not None:
            summary["baseline"] = baseline_entry(earlier, summary, baseline["uid"])
    result = verdict(exit_code, checks)
    reason = reason_of(
        exit_code,
        checks,
        has_numbers="requests" in summary,
        master_started=facts.master.started,
    )
    summary.pop("reason", None)  # the finisher writes none: one there is not ours
    if reason is not None:
        summary["reason"] = reason.code
    cause = f"Locust exit code {exit_code}"
    if reason is not None:
        cause = f"reason {reason.code}; {cause}"
    failed = failed_checks(checks)
    if failed:
        cause += f"; failed checks: {', '.join(failed)}"
    numbers = f": {headline(summary)}" if "requests" in summary else ""
    judged = f"; checks: {', '.join(map(describe_check, checks))}" if checks else ""
    verdict_event = EventSpec(
        "LoadTestPassed" if result == "passed" else "LoadTestFailed",
        f"load test {result} ({cause}){numbers}{judged}",
        "Normal" if result == "passed" else "Warning",
        "verdict",
    )
    if checks:
        summary["checks"] = checks
    events = [verdict_event]
    # A first run has nothing to regress from: its relative checks are not made, and fine.
    unmade = [
        name
        for name in unmade_checks(checks)
        if baseline is not None or name not in RELATIVE_CHECK_NAMES
    ]
    if unmade and result == "passed":
        # Passed, but not on every limit the test set: say so where people look for trouble.
        message = (
            f"not made, so not counted (the summary has no number for them): "
            f'{", ".join(unmade)}; {names.STRICT_CHECKS_ANNOTATION}: "true" fails such a test'
        )
        events.append(EventSpec("ChecksNotMade", message, "Warning", "checks-not-made"))
    scrape_warning = _final_scrape_warning(facts, summary)
    if scrape_warning is not None:
        events.append(scrape_warning)
    fitting = _fitting_event(facts)
    if fitting is not None:
        events.append(fitting)
    annotations = _verdict_annotations(facts, result, reason)
    return AnnounceVerdict(
        tuple(events),
        {**annotations, names.SUMMARY_ANNOTATION: encode_summary(summary)},
        {names.RESULT_LABEL: result},
        cleared(annotations),
    )


def _verdict_annotations(facts: PodFacts, result: str, reason: Reason | None) -> dict[str, str]:
    assert facts.master is not None
    return verdict_annotations(
        facts.uid, result, facts.master.exit_code, facts.master.finished_at_text, reason
    )


def _stopped_by(facts: PodFacts) -> str:
    summary = decode_summary(facts.finisher.message) if facts.finisher else None
    if summary is not None and summary.get("exporter") == ExporterOutcome.QUIT:
        return "finisher"
    return "itself"


def _finisher_may_still_speak(facts: PodFacts, now: float) -> bool:
    """Whether a finisher that has not ended yet may still leave its summary."""
    if not facts.finisher_runs or facts.finisher is not None or facts.terminal:
        return False
    silent_at = _verdict_due_at(facts)
    return silent_at is not None and now < silent_at


def _stopped_by_controller(facts: PodFacts, quits: QuitHistory) -> NoteExporterStopped:
    if quits.stopped != "quit" or facts.master is None:
        return NoteExporterStopped(None, "controller")  # it had gone before we called
    delay = quits.last_attempt_at - facts.master.finished_at
    message = (
        f"exporter {facts.exporter_container} stopped by the controller "
        f"(/quitquitquit) {delay:.0f}s after the Locust master"
    )
    return NoteExporterStopped(
        EventSpec("ExporterStopped", message, "Normal", "exporter-stopped"), "controller"
    )


def _fallback_due_at(facts: PodFacts, now: float) -> float | None:
    """When to work around a finisher that cannot run while the master does (None: no need)."""
    if (
        facts.fallback_done
        or facts.master is not None  # the test is over: nothing left to unblock
        or facts.terminal
        or facts.deleted
    ):
        return None
    if facts.finisher is not None:  # it ended, and nothing restarted it (yet)
        return facts.finisher.finished_at + ENDED_EARLY_GRACE_SECONDS
    waiting = facts.finisher_waiting
    if waiting is None or waiting.reason not in IMAGE_PULL_ERRORS:
        return None
    if facts.started_at is None:  # the kubelet always sets it before pulling; never wait on it
        return now
    return facts.started_at + IMAGE_PULL_GRACE_SECONDS


def _publish_not_ready(facts: PodFacts) -> PublishNotReady:
    consequence = _consequence(facts)
    if facts.finisher is not None:
        ended = facts.finisher
        reason = f"exit code {ended.exit_code}"
        return PublishNotReady(facts.finisher_image, reason, "", consequence, Blocked.ENDED_EARLY)
    assert facts.finisher_waiting is not None
    return PublishNotReady(
        facts.finisher_image,
        facts.finisher_waiting.reason,
        facts.finisher_waiting.message,
        consequence,
    )


def _consequence(facts: PodFacts) -> str:
    """How the test ends without its finisher, for the Event."""
    ttl = format_duration(plain_ttl(facts.settings))
    if not facts.has_exporter:
        consequence = "the pod ends with the Locust master, with no summary of its numbers"
    elif facts.exporter_sidecar:
        consequence = "the kubelet stops the exporter when the Locust master exits"
    else:
        consequence = (
            f"the controller ends the exporter {ttl} (the TTL) after the Locust master exits, "
            "without waiting for a final scrape"
        )
    return consequence


def _service_list(services: Sequence[str]) -> str:
    return f"{'Service' if len(services) == 1 else 'Services'} {', '.join(services)}"


def _publish_verb(services: Sequence[str]) -> str:
    return "publishes" if len(services) == 1 else "publish"


def fallback_note(published: Sequence[str], already: Sequence[str]) -> str:
    """The fallback annotation's value: what the controller did about the pod's Services."""
    if published:
        return f"publishNotReadyAddresses set on {_service_list(published)}"
    if already:
        return f"publishNotReadyAddresses already set on {_service_list(already)}"
    return "no Service of the pod's test selects it"


def fallback_event(
    action: PublishNotReady, published: Sequence[str], already: Sequence[str]
) -> EventSpec:
    """The Warning Event for ``action``, once the Services that select the pod are seen to.

    ``published`` are the Services the controller changed, ``already`` those that published
    not-ready addresses before.
    """
    error = f"{action.reason}: {action.message}" if action.message else action.reason
    if published:
        done = (
            f"so its Services would have no endpoint for it: {_service_list(published)} now "
            f"{_publish_verb(published)} not-ready addresses, and Locust workers can reach the "
            "master"
        )
    elif already:
        done = f"but {_service_list(already)} already {_publish_verb(already)} not-ready addresses"
    else:
        done = "and no Service of its test selects it, so nothing was changed"
    if action.blocked is Blocked.ENDED_EARLY:
        return EventSpec(
            "FinisherEndedEarly",
            f"the finisher ended ({action.reason}) while the Locust master runs, and nothing "
            "restarts it (the kubelet restarts it only with container restart rules, "
            f"Kubernetes 1.35+); the pod cannot become Ready, {done}. The test runs without "
            f"the finisher: {action.consequence}",
            "Warning",
            "finisher-ended-early",
        )
    return EventSpec(
        "FinisherImageUnpullable",
        f"the finisher's image {action.image or '(none)'} cannot be pulled ({error}); the pod "
        f"cannot become Ready, {done}. The test runs without the finisher: {action.consequence}",
        "Warning",
        "finisher-image-unpullable",
    )


def _exporter_stopped(facts: PodFacts) -> NoteExporterStopped:
    """The exporter ended on its own or by the finisher: who, and how long after the master."""
    assert facts.master is not None
    assert facts.exporter_ended is not None
    who = _stopped_by(facts)
    delay = max(facts.exporter_ended.finished_at - facts.master.finished_at, 0.0)
    how = "by the finisher" if who == "finisher" else "on its own"
    message = (
        f"exporter {facts.exporter_container} stopped {how} {delay:.0f}s after the "
        f"Locust master (exit code {facts.exporter_ended.exit_code})"
    )
    return NoteExporterStopped(
        EventSpec("ExporterStopped", message, "Normal", "exporter-stopped"), who
    )


def _give_up_quitting(facts: PodFacts, quits: QuitHistory) -> GiveUpQuitting:
    return GiveUpQuitting(
        EventSpec(
            "ExporterStopFailed",
            f"exporter {facts.exporter_container} still runs after {quits.attempts} "
            "/quitquitquit calls; the pod will not complete until it is stopped (is the "
            f"exporter v0.5.0 or later, and is port {facts.exporter_port} reachable from the "
            "controller?)",
            "Warning",
            "exporter-stop-failed",
        )
    )


def _plan_exporter(facts: PodFacts, now: float, quits: QuitHistory) -> Plan:
    """Record how a regular exporter container ended, or end it when its finisher did not."""
    if not facts.has_exporter or facts.exporter_sidecar or facts.exporter_stop_recorded is not None:
        return Plan()  # nothing to quit, or the kubelet ends it, or it is recorded already
    if quits.stopped is not None:
        return Plan([_stopped_by_controller(facts, quits)])
    if facts.exporter_ended is not None:
        if _finisher_may_still_speak(facts, now):
            # Only the finisher's summary says whether it quit the exporter; it follows the
            # exporter's end by a moment, so wait for it (or for the finisher's silence).
            return Plan(wake_at=_verdict_due_at(facts))
        return Plan([_exporter_stopped(facts)])
    due = quit_due_at(facts)
    if not facts.exporter_running or due is None:
        return Plan()
    if quits.attempts > len(QUIT_BACKOFF_SECONDS):
        return Plan([_give_up_quitting(facts, quits)])
    if quits.attempts:
        due = max(due, quits.last_attempt_at + QUIT_BACKOFF_SECONDS[quits.attempts - 1])
    if now >= due and facts.pod_ip:
        return Plan([QuitExporter(facts.pod_ip, facts.exporter_port, quits.attempts + 1)])
    return Plan(wake_at=due)


def _plan_retention(facts: PodFacts, seen: JobSeen | None) -> Action | None:
    """Hold the Job's TTL while the test runs; set its retention once the verdict is on it.

    Decided from the Job's own annotations (:mod:`app.core.retention`), so nothing about it
    lives in the controller but the Job as last read. A Job read before the verdict's report
    is read again after it: the report wrote the verdict on the Job.
    """
    if facts.job is None:
        return None
    if seen is None or (facts.reported and not seen.after_report):
        return ReadJob(with_namespace=facts.reported)
    job = seen.job
    if job is None or settled(job):
        return None  # gone, not the pod's, or decided already (by us or another leader)
    if not facts.reported:
        held = None if facts.deleted else hold(job)
        return None if held is None else HoldJobTTL(held)
    result = recorded_verdict(job)
    if result is None:
        return None  # the verdict's copy on the Job did not land: nothing to keep it by
    resolved = resolve_retention(
        result, dict(facts.keep_annotations), seen.namespace_annotations, facts.settings
    )
    decided = settle(job, resolved.retention)
    if decided is None:
        return None
    warnings = "; ".join(resolved.warnings)
    event = EventSpec("RetentionIgnored", warnings, "Warning", "retention-ignored")
    return SettleRetention(decided, event if warnings else None)


def _plan_test_annotation(facts: PodFacts, seen: JobSeen | None) -> AnnotateTest | None:
    """Once the verdict is on the Job, copy it onto the LocustTest that owns the Job (if any).

    Read from the Job as read after the report (:class:`ReadJob`), so it is the very record
    the report wrote, and only while it is this pod's own.
    """
    if not facts.reported or facts.test_annotated or seen is None or not seen.after_report:
        return None
    job = seen.job
    test = None if job is None else owning_test(job)
    if job is None or test is None:
        return None  # no Job left, or one no LocustTest owns: nowhere to write
    annotations = verdict_patch(job, facts.uid)
    return None if annotations is None else AnnotateTest(test, annotations)


def _announce_warnings(facts: PodFacts) -> AnnounceWarnings | None:
    """The status annotation's warnings as Events, one each, if they are still to be said."""
    if facts.warned or not facts.warnings:
        return None
    events = tuple(
        # The status is signed and never changes: an index names each Event stably.
        EventSpec(warning.reason.value, warning.text, "Warning", f"warning-{index}")
        for index, warning in enumerate(facts.warnings)
    )
    reasons = dict.fromkeys(warning.reason.value for warning in facts.warnings)
    return AnnounceWarnings(events, ", ".join(reasons))


def _plan_notify(facts: PodFacts, now: float, job: JobSeen | None, seen: NotifySeen | None) -> Plan:
    """Notify the run's verdict once, from its Job as read after the report (notify_state.py).

    Only a run whose Job holds its verdict: the Job keeps the mark that makes the
    notification once, and what the notification says.
    """
    if not facts.reported or job is None or not job.after_report or job.job is None:
        return Plan()
    finished = facts.master.finished_at_text if facts.master else None
    if recorded_verdict(job.job) is None or not is_record_of(
        podview.annotations(job.job), facts.uid, finished
    ):
        return Plan()
    mark = read_mark(job.job, facts.uid)
    if mark is not None and mark.final:
        return Plan()
    if seen is None:
        named = job.namespace_annotations.get(names.NOTIFY_SECRET_ANNOTATION)
        return Plan([ReadNotifyTarget(named if isinstance(named, str) else None)])
    if seen.target is None:
        return Plan()
    due = next_attempt_at(seen, now)
    if due is None:
        return Plan([_give_up_notifying(facts, job.job, seen, now)])
    if now < due:
        return Plan(wake_at=due)
    claim = None
    if mark is None:
        claim = mark_patch(
            job.job, Mark(facts.uid, MarkState.CLAIMED, format_time(now)), exclusive=True
        )
        if claim is None:
            return Plan()  # not a Job as the API server serves it: nothing to claim the run on
    body = notification(facts.namespace, facts.name, facts.uid, job.job)
    return Plan([Notify(seen.target, body, seen.attempts + 1, claim)])


def _give_up_notifying(facts: PodFacts, job: Any, seen: NotifySeen, now: float) -> GiveUpNotifying:
    assert seen.target is not None
    why = seen.refused or f"no 2xx answer to {seen.attempts} posts"
    event = EventSpec(
        "NotificationFailed",
        f"the verdict was not notified to {seen.target.describe()}: {why}",
        "Warning",
        "notification-failed",
    )
    mark = Mark(facts.uid, MarkState.GAVE_UP, format_time(now), why)
    return GiveUpNotifying(event, mark_patch(job, mark, exclusive=False))


def notification_sent_event(target: SecretRef, status: int, attempt: int) -> EventSpec:
    """The Event that says the run's verdict reached its receiver."""
    return EventSpec(
        "NotificationSent",
        f"verdict notified to {target.describe()}: HTTP {status} (post {attempt})",
        "Normal",
        "notification-sent",
    )


def plan(
    facts: PodFacts,
    now: float,
    quits: QuitHistory = QuitHistory(),
    job: JobSeen | None = None,
    notify: NotifySeen | None = None,
    history: HistorySeen | None = None,
) -> Plan:
    """Decide what to do about ``facts`` at time ``now``.

    ``quits`` are the controller's own quit attempts on the pod, ``job`` its Job as the
    controller last read it (None: not read yet), ``notify`` what it knows of the run's
    notification (None: not looked into yet), ``history`` its test's kept runs as read
    before the verdict (None: not read). The webhook's warnings come first, as soon as the
    pod is seen, whatever else there is to do.
    """
    decided = _plan_test(facts, now, quits, job, notify, history)
    warnings = _announce_warnings(facts)
    if warnings is None:
        return decided
    return Plan([warnings, *decided.actions], decided.wake_at)


def _plan_test(
    facts: PodFacts,
    now: float,
    quits: QuitHistory,
    job: JobSeen | None,
    notify: NotifySeen | None,
    history: HistorySeen | None,
) -> Plan:
    """What the test's course asks for now: the fallback, the verdict, the exporter, the Job."""
    fallback_due = _fallback_due_at(facts, now)
    if fallback_due is not None:
        # Only while the master runs, so there is nothing else to do yet.
        if now >= fallback_due:
            return Plan([_publish_not_ready(facts)])
        return Plan(wake_at=fallback_due)
    actions: list[Action] = []
    wakes: list[float] = []
    if facts.master is None:
        pass  # the test runs: only its Job's TTL may need holding
    elif facts.deleted:
        # Gone at once (a Job's ttlSecondsAfterFinished: 0): its last state is all there will
        # be, so report now; only the Job is left to write to, and there is nothing to quit.
        if not facts.reported:
            actions.append(_report(facts, job, history))
    else:
        report_due = None if facts.reported else _verdict_due_at(facts)
        if report_due is not None and now >= report_due:
            actions.append(_report(facts, job, history))  # carries the verdict annotations too
        else:
            if report_due is not None:
                wakes.append(report_due)
            # With checks, a pod already reported keeps the verdict its report judged.
            early = _early_verdict(facts)
            if early is not None and facts.recorded_result != early:
                actions.append(_record_early(facts, early))
        exporter = _plan_exporter(facts, now, quits)
        actions += exporter.actions
        wakes += [] if exporter.wake_at is None else [exporter.wake_at]
    if facts.master is not None and facts.fallback_done and not facts.fallback_ended:
        actions.append(SetServicesBack())
    annotate = None if actions else _plan_test_annotation(facts, job)
    if annotate is not None:
        actions.append(annotate)
    # Nor does its notification; the Job's retention waits for it (it keeps the mark).
    notifying = Plan() if actions else _plan_notify(facts, now, job, notify)
    actions += notifying.actions
    wakes += [] if notifying.wake_at is None else [notifying.wake_at]
    # The Job's retention never holds up the pod's own work: it waits for those actions.
    pending = actions or notifying.wake_at is not None
    retention = None if pending else _plan_retention(facts, job)
    if retention is not None:
        actions.append(retention)
    recorded = None if actions else _record_run(facts, job)
    if recorded is not None:
        actions.append(recorded)
    return Plan(actions, min(wakes) if wakes else None)
