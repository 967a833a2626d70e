"""Holding a test Job's TTL while its test runs, and keeping the Job as long as users asked.

The shell around :mod:`app.core.retention`: it reads the pod's Job (and, once, the pod's
namespace), sends the conditional patch that module decides, and on a conflict reads the Job
again and decides again. It never holds up the pod's own work: it runs after the pod's
actions, and a Job that is gone or not the pod's is simply left alone.
"""

import logging

from app.controller.actions import BATCH, Actor
from app.controller.ownership import job_owns
from app.core import podview
from app.core.pod_facts import PodFacts
from app.core.reconcile import EventSpec
from app.core.retention import (
    JobPatch,
    hold,
    recorded_verdict,
    resolve_retention,
    settle,
    settled,
)
from app.kube.client import JsonDict, KubeClient, KubeError, path_of
from app.logs import pod_log

log = logging.getLogger(__name__)

# Reads and conditional patches of one Job in a row before giving up until the next retry; a
# running Job's status changes every few seconds at most, so a conflict rarely repeats.
ATTEMPTS = 3


class ConflictError(KubeError):
    """The Job kept changing between our read and our patch."""

    def __init__(self, message: str) -> None:
        super().__init__(409, message)

    @property
    def retryable(self) -> bool:
        """Always: the next read is newer."""
        return True


class JobRetention:
    """Holds each managed pod's Job's TTL until its verdict, then sets the Job's retention."""

    def __init__(self, client: KubeClient, actor: Actor) -> None:
        self.client = client
        self.actor = actor
        # Pods whose Job is held or needed no hold, and pods whose Job is settled; lost on a
        # restart, harmlessly: the Job's annotations say what is done.
        self._held: set[str] = set()
        self._settled: set[str] = set()

    def forget(self, pod_uid: str) -> None:
        """The pod is gone from our view."""
        self._held.discard(pod_uid)
        self._settled.discard(pod_uid)

    async def reconcile(self, facts: PodFacts) -> None:
        """Hold the pod's Job's TTL before its verdict; settle the Job's retention after it.

        The verdict's report is recorded only once the finisher has exited, and the finisher
        hands Locust's report to the controller before it exits: a Job with its verdict
        recorded has everything kept that will be, so its TTL may start to count.
        """
        if facts.job is None or facts.uid in self._settled:
            return
        if facts.reported:
            await self._settle(facts)
        elif not facts.deleted and facts.uid not in self._held:
            await self._hold(facts)

    async def _hold(self, facts: PodFacts) -> None:
        for _ in range(ATTEMPTS):
            job = await self._job(facts)
            decided = None if job is None else hold(job)
            if decided is None or await self._patched(facts, decided):
                self._held.add(facts.uid)
                return
        raise ConflictError(f"Job {facts.job} changed under every attempt to hold its TTL")

    async def _settle(self, facts: PodFacts) -> None:
        namespace: JsonDict | None = None
        for _ in range(ATTEMPTS):
            job = await self._job(facts)
            if job is None or settled(job):
                self._settled.add(facts.uid)
                return
            result = recorded_verdict(job)
            if result is None:
                return  # the verdict's copy on the Job is not there yet: come back with it
            if namespace is None:
                namespace = await self._namespace_annotations(facts)
            resolved = resolve_retention(
                result, dict(facts.keep_annotations), namespace, facts.settings
            )
            if resolved.warnings:
                message = "; ".join(resolved.warnings)
                event = EventSpec("RetentionIgnored", message, "Warning", "retention-ignored")
                await self.actor.emit(facts, event)
            decided = settle(job, resolved.retention)
            if decided is None or await self._patched(facts, decided):
                self._settled.add(facts.uid)
                return
        raise ConflictError(f"Job {facts.job} changed under every attempt to set its retention")

    async def _job(self, facts: PodFacts) -> JsonDict | None:
        """The pod's Job, if it is there and owns the pod (we write to no other)."""
        assert facts.job is not None
        try:
            job = await self.client.get(path_of("jobs", facts.namespace, facts.job, group=BATCH))
        except KubeError as error:
            if error.retryable:
                raise
            if error.status != 404:  # gone: nothing to keep or hold
                log.warning("Job %s/%s not readable: %s", facts.namespace, facts.job, error)
            return None
        return job if job_owns(job, facts) else None

    async def _namespace_annotations(self, facts: PodFacts) -> JsonDict:
        try:
            found = await self.client.get(path_of("namespaces", name=facts.namespace))
        except KubeError as error:
            if error.retryable:
                raise
            # An install from before retention has no right to read namespaces: their
            # defaults do not apply, the pod's and the cluster's still do.
            log.warning("namespace %s not readable: %s", facts.namespace, error)
            return {}
        return dict(podview.mapping(podview.mapping(found, "metadata"), "annotations"))

    async def _patched(self, facts: PodFacts, decided: JobPatch) -> bool:
        """Send the patch; False if the Job changed since it was read (read it again)."""
        assert facts.job is not None
        pod = pod_log(log, facts.namespace, facts.name)
        path = path_of("jobs", facts.namespace, facts.job, group=BATCH)
        try:
            await self.client.merge_patch(path, decided.patch)
        except KubeError as error:
            if error.status == 409:
                return False
            if error.retryable:
                raise
            if error.status != 404:  # refused (a write policy from before retention?)
                pod.warning("Job %s not changed (%s): %s", facts.job, decided.note, error)
            return True
        pod.info("Job %s: %s", facts.job, decided.note, extra={"action": "retention"})
        return True
