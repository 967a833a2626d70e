"""The controller loop: list and watch managed pods, keep their facts, act on their plans.

The pods come from :mod:`app.controller.watching`'s list and watch (decisions depend only
on the objects, so a re-list loses nothing). A pod deleted before its report is reported
from the DELETED event's copy of it. Modelled on controller-runtime's workqueue: a small
queue with per-pod de-duplication feeds a few workers; a pod is never worked on by two of
them at once. Timers bring a pod back when a deadline in its plan comes due.
"""

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any, assert_never

from app.controller.actions import Actor, quit_exporter
from app.controller.gitops import annotate_test
from app.controller.history import HistoryStore, Recorded
from app.controller.metrics import ControllerMetrics
from app.controller.notifier import Notifier, Post, post
from app.controller.retention import JobReader
from app.controller.watching import ListWatch
from app.core import names, podview
from app.core.admission_record import RecordError
from app.core.history import HISTORY_SELECTOR
from app.core.history import configmap_name as history_name
from app.core.pod_facts import PodFacts, facts_from_pod
from app.core.reconcile import (
    Action,
    AnnotateTest,
    AnnounceVerdict,
    AnnounceWarnings,
    EventSpec,
    GiveUpNotifying,
    GiveUpQuitting,
    HoldJobTTL,
    NoteExporterStopped,
    Notify,
    Plan,
    PublishNotReady,
    QuitExporter,
    QuitHistory,
    QuitResult,
    ReadHistory,
    ReadJob,
    ReadNotifyTarget,
    RecordRun,
    RecordVerdict,
    SetServicesBack,
    SettleRetention,
    fallback_event,
    fallback_note,
    notification_sent_event,
    plan,
    quit_due_at,
)
from app.kube.client import KubeClient, path_of
from app.logs import PodLog, pod_log

log = logging.getLogger(__name__)

MANAGED_SELECTOR = f"{names.MANAGED_LABEL}=true"
# Plans carried out in a row for one pod before it waits its turn again.
ROUNDS = 8
# Refused pods remembered so that each is logged once; the oldest is forgotten first.
_REFUSED_KEPT = 4096


class Controller:
    """Keeps the facts of every managed pod and acts on them."""

    def __init__(
        self,
        client: KubeClient,
        actor: Actor,
        metrics: ControllerMetrics,
        clock: Callable[[], float] = time.time,
        workers: int = 4,
        selector: str = MANAGED_SELECTOR,
        *,
        key: bytes,
        install_namespace: str = names.DEFAULT_INSTALL_NAMESPACE,
        config_map: str = names.CONFIG_MAP,
        send: Post = post,
        history: HistoryStore | None = None,
    ) -> None:
        self.client = client
        self.key = key
        # Pods that claim to be ours without a record that proves it, said once each.
        self.refused: dict[str, None] = {}
        self.actor = actor
        self.jobs = JobReader(client)
        # Where the cluster's notification Secret is named: the installation's ConfigMap.
        self.notifier = Notifier(client, self.jobs, install_namespace, config_map, clock, send)
        self.history = history or HistoryStore(client, clock=clock)
        self.metrics = metrics
        self.clock = clock
        self.worker_count = workers
        self.selector = selector
        self.facts: dict[str, PodFacts] = {}
        self.quits: dict[str, QuitHistory] = {}
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.queued: set[str] = set()
        self.busy: set[str] = set()
        self.again: set[str] = set()
        self.listing = ListWatch(
            client,
            path_of("pods"),
            selector,
            self,
            relisted=lambda reason: metrics.relists.labels(reason).inc(),
            restarted=metrics.watch_restarts.inc,
        )

    # ----------------------------------------------------------------- queue

    def enqueue(self, uid: str) -> None:
        """Ask for ``uid`` to be reconciled (once, however often asked)."""
        if uid in self.busy:
            self.again.add(uid)
        elif uid not in self.queued:
            self.queued.add(uid)
            self.queue.put_nowait(uid)

    def _schedule(self, uid: str, wake_at: float | None) -> None:
        timer = self.timers.pop(uid, None)
        if timer is not None:
            timer.cancel()
        if wake_at is not None:
            delay = max(wake_at - self.clock(), 0.0)
            self.timers[uid] = asyncio.get_running_loop().call_later(delay, self.enqueue, uid)

    async def _work(self) -> None:
        while True:
            uid = await self.queue.get()
            self.queued.discard(uid)
            self.busy.add(uid)
            try:
                await self.reconcile(uid)
            except Exception:
                log.exception("reconcile failed; retrying in 5s")
                self.metrics.api_errors.inc()
                self._schedule(uid, self.clock() + 5)
            finally:
                self.busy.discard(uid)
                if uid in self.again:
                    self.again.discard(uid)
                    self.enqueue(uid)

    # ----------------------------------------------------------------- state

    def _facts(self, pod: dict[str, Any], deleted: bool = False) -> PodFacts | None:
        """The pod's facts if our webhook verifiably admitted it; else None, said once."""
        try:
            return facts_from_pod(pod, self.key, deleted=deleted)
        except RecordError as error:
            uid = str(podview.mapping(pod, "metadata").get("uid") or "")
            if uid not in self.refused:
                if len(self.refused) >= _REFUSED_KEPT:
                    self.refused.pop(next(iter(self.refused)))
                self.refused[uid] = None
                self.metrics.pods_refused.inc()
                metadata = podview.mapping(pod, "metadata")
                name = podview.text(metadata, "name") or "(unnamed)"
                pod_log(log, podview.text(metadata, "namespace"), name).warning(
                    "not admitted by our webhook (%s): the controller acts on nothing of it", error
                )
            return None

    def observe(self, pod: dict[str, Any]) -> None:
        """A pod was added or changed."""
        facts = self._facts(pod)
        if facts is None or not facts.uid:
            return
        self.facts[facts.uid] = facts
        self.metrics.pods_tracked.set(len(self.facts))
        self.enqueue(facts.uid)

    def observe_deleted(self, pod: dict[str, Any]) -> None:
        """A pod was deleted: report it from its last state if that is still to be done.

        The DELETED event carries the pod as it was last stored, the master's termination
        included; a pod removed at once (a Job's ttlSecondsAfterFinished: 0) is reported from
        it, never from a GET that could only answer 404.
        """
        uid = str(podview.mapping(pod, "metadata").get("uid") or "")
        facts = self._facts(pod, deleted=True)
        if (
            facts is None
            or facts.master is None
            or (facts.reported and facts.run_recorded and not self.notifier.pending(uid))
        ):
            self.forget(uid)
            return
        self.facts[uid] = facts
        self.quits.pop(uid, None)
        self.enqueue(uid)

    def forget(self, uid: str) -> None:
        """A pod is gone, and nothing is left to do about it."""
        self.facts.pop(uid, None)
        self.quits.pop(uid, None)
        self.actor.forget(uid)
        self.jobs.forget(uid)
        self.notifier.forget(uid)
        self.history.forget(uid)
        self._schedule(uid, None)
        self.metrics.pods_tracked.set(len(self.facts))

    def _update(self, uid: str, **changes: Any) -> PodFacts:
        """What we just wrote, applied to our copy before the watch brings it back."""
        facts = dataclasses.replace(self.facts[uid], **changes)
        self.facts[uid] = facts
        return facts

    # ----------------------------------------------------------------- acting

    async def reconcile(self, uid: str) -> None:
        """Plan for one pod and carry the plan out, deciding again with what was just done.

        One action's outcome often asks for the next at once (a quit's outcome for a note, a
        report for the Job's retention, a read Job for its patch): up to :data:`ROUNDS` plans
        are carried out in a row; then the pod waits for the plan's next deadline.
        """
        facts = self.facts.get(uid)
        if facts is None:
            return
        decided = Plan()
        for _ in range(ROUNDS):
            now = self.clock()
            decided = plan(
                facts,
                now,
                self.quits.get(uid, QuitHistory()),
                self.jobs.seen.get(uid),
                notify=self.notifier.seen.get(uid),
                history=self.history.seen.get(uid),
            )
            if not decided.actions:
                break
            for action in decided.actions:
                facts = await self._carry_out(uid, facts, action, now)
        else:
            self.enqueue(uid)
            return
        if facts.deleted and decided.wake_at is None:
            # Its one report is made (and its notification, which may still wait to retry).
            self.forget(uid)
            return
        self._schedule(uid, decided.wake_at)

    async def _carry_out(self, uid: str, facts: PodFacts, action: Action, now: float) -> PodFacts:
        """One action; the facts as they are after it."""
        pod = pod_log(log, facts.namespace, facts.name)
        finished_at = facts.master.finished_at if facts.master else now
        match action:
            case RecordVerdict(annotations, labels, cleared):
                await self.actor.annotate(facts, annotations, labels, cleared=cleared)
                facts = self._update(uid, recorded_result=annotations[names.RESULT_ANNOTATION])
                self._delay("verdict", now, finished_at)
                pod.info("verdict %s recorded", facts.recorded_result, extra={"action": "verdict"})
            case AnnounceVerdict(events, annotations, labels, cleared):
                for event in events:
                    await self.actor.emit(facts, event)
                await self.actor.annotate(facts, annotations, labels, cleared=cleared)
                result = annotations[names.RESULT_ANNOTATION]
                summary = annotations[names.SUMMARY_ANNOTATION]
                facts = self._update(
                    uid, reported=True, recorded_result=result, recorded_summary=summary
                )
                self.history.forget(uid)  # read for this verdict alone
                self.metrics.verdicts.labels(result).inc()
                self._delay("report", now, finished_at)
                messages = "; ".join(e.message for e in events)
                pod.info("reported: %s", messages, extra={"action": "report"})
            case AnnounceWarnings(events, note):
                for event in events:
                    await self.actor.emit(facts, event)
                if not facts.deleted:  # the mark is the pod's own: its Job needs none
                    await self.actor.annotate(facts, {names.WARNED_ANNOTATION: note}, job=False)
                facts = self._update(uid, warned=True)
                messages = " | ".join(e.message for e in events)
                pod.warning("warned: %s", messages, extra={"action": "warn"})
            case NoteExporterStopped(event, stopped_by):
                if event is not None:
                    await self.actor.emit(facts, event)
                await self.actor.annotate(facts, {names.EXPORTER_STOPPED_ANNOTATION: stopped_by})
                facts = self._update(uid, exporter_stop_recorded=stopped_by)
                what = event.message if event else f"exporter stop recorded: {stopped_by}"
                pod.info("%s", what, extra={"action": "exporter-stopped"})
            case QuitExporter():
                await self._quit(uid, facts, action, pod)
            case PublishNotReady():
                seen = await self.actor.publish_not_ready(facts)
                event = fallback_event(action, seen.published, seen.already)
                await self.actor.emit(facts, event)
                note = fallback_note(seen.published, seen.already)
                await self.actor.annotate(facts, {names.FALLBACK_ANNOTATION: note})
                facts = self._update(uid, fallback_done=True)
                pod.warning("%s", event.message, extra={"action": "fallback"})
            case SetServicesBack():
                services = await self.actor.set_services_back(facts)
                ended = (
                    f"publishNotReadyAddresses set back on {', '.join(services)}"
                    if services
                    else "no Service to set back"
                )
                if not facts.deleted:
                    await self.actor.annotate(facts, {names.FALLBACK_ENDED_ANNOTATION: ended})
                facts = self._update(uid, fallback_ended=True)
                if services:
                    pod.info("%s", ended, extra={"action": "fallback-ended"})
            case ReadJob(with_namespace):
                await self.jobs.read(facts, with_namespace)
            case HoldJobTTL(patch):
                await self.jobs.patch(facts, patch)
            case SettleRetention(patch, event):
                if event is not None:
                    await self.actor.emit(facts, event)
                await self.jobs.patch(facts, patch)
            case AnnotateTest():
                facts = await self._annotate_test(uid, facts, action)
            case ReadNotifyTarget():
                await self.notifier.read_target(facts, action)
            case Notify():
                await self._notify(facts, action)
            case GiveUpNotifying(event, patch):
                await self.actor.emit(facts, event)
                await self.notifier.give_up(facts, patch)
                self.metrics.notifications.labels("gave-up").inc()
                pod.warning("%s", event.message, extra={"action": "notify"})
            case ReadHistory(test):
                await self.history.read(facts, test)
            case RecordRun():
                facts = await self._record_run(uid, facts, action)
            case GiveUpQuitting(event):
                await self.actor.emit(facts, event)
                await self.actor.annotate(facts, {names.EXPORTER_STOPPED_ANNOTATION: "failed"})
                facts = self._update(uid, exporter_stop_recorded="failed")
                pod.warning("%s", event.message, extra={"action": "quit"})
            case _:
                assert_never(action)
        return facts

    async def _annotate_test(self, uid: str, facts: PodFacts, action: AnnotateTest) -> PodFacts:
        note = await annotate_test(self.client, facts, action)
        if not facts.deleted:  # the mark is the pod's own: its Job needs none
            await self.actor.annotate(facts, {names.TEST_ANNOTATED_ANNOTATION: note}, job=False)
        pod_log(log, facts.namespace, facts.name).info(
            "%s", note, extra={"action": "annotate-test"}
        )
        return self._update(uid, test_annotated=True)

    async def _notify(self, facts: PodFacts, action: Notify) -> None:
        status = await self.notifier.notify(facts, action)
        self.metrics.notifications.labels("sent" if status else "not-sent").inc()
        if status is not None:
            await self.actor.emit(
                facts, notification_sent_event(action.target, status, action.attempt)
            )

    async def _record_run(self, uid: str, facts: PodFacts, action: RecordRun) -> PodFacts:
        """Keep the run in its test's history, then mark the pod so it is done once."""
        outcome = await self.history.record(facts, action.test, action.entry)
        pod = pod_log(log, facts.namespace, facts.name)
        if outcome is Recorded.NOT_OURS:
            name = history_name(action.test)
            message = (
                f"the run is not kept in the history of test {action.test}: ConfigMap {name} "
                f"exists without the labels {HISTORY_SELECTOR}, and is left alone (delete or "
                "rename it to keep this test's history)"
            )
            await self.actor.emit(facts, EventSpec("HistoryNotKept", message, "Warning", "history"))
            pod.warning("%s", message, extra={"action": "history"})
        elif outcome is Recorded.RECORDED:
            pod.info("run kept in the history of test %s", action.test, extra={"action": "history"})
        if not facts.deleted:
            await self.actor.annotate(
                facts, {names.HISTORY_RECORDED_ANNOTATION: facts.uid}, job=False
            )
        return self._update(uid, run_recorded=True, recorded_summary="")

    async def _quit(self, uid: str, facts: PodFacts, action: QuitExporter, pod: PodLog) -> None:
        due = quit_due_at(facts)
        if action.attempt == 1 and due is not None:
            self._delay("quit", self.clock(), due)
        outcome, detail = await quit_exporter(action.address, action.port)
        self.metrics.quits.labels(outcome).inc()
        stopped: QuitResult | None = outcome if outcome in ("quit", "gone") else None
        self.quits[uid] = QuitHistory(action.attempt, self.clock(), stopped)
        pod.info(
            "quitquitquit attempt %d to %s:%d: %s (%s)",
            action.attempt,
            action.address,
            action.port,
            outcome,
            detail,
            extra={"action": "quit"},
        )

    def _delay(self, action: str, now: float, due: float) -> None:
        self.metrics.action_delay.labels(action).observe(max(now - due, 0.0))

    # ----------------------------------------------------------------- watching

    def listed(self, uids: set[str]) -> None:
        """A full list is done: pods not in it are gone, unless their report is still due."""
        for uid in set(self.facts) - uids:
            if not self.facts[uid].deleted:  # a deleted pod's report is still to be made
                self.forget(uid)
        log.info("listed %d managed pods", len(self.facts))

    async def watch(self) -> None:
        """List, then watch the managed pods forever."""
        await self.listing.run()

    async def run(self) -> None:
        """Watch and work until cancelled."""
        async with asyncio.TaskGroup() as group:
            for _ in range(self.worker_count):
                group.create_task(self._work())
            group.create_task(self.history.expire_forever())
            group.create_task(self.watch())
