"""Reading and patching a test pod's Job for its retention, as :func:`plan` decides.

The shell around the retention actions: :class:`ReadJob` reads the pod's Job (and, after the
verdict, the namespace's annotations) into a :class:`JobSeen`, the only thing kept here, a
cache of what the API server said; :class:`HoldJobTTL` and :class:`SettleRetention` send the
conditional patch the plan made. A conflict (the Job changed since it was read) drops the
cache, so the next plan reads the Job again and decides again. A Job that is gone or is not
the pod's is simply left alone.
"""

import logging

from app.controller.actions import BATCH
from app.controller.ownership import job_owns
from app.core import podview
from app.core.pod_facts import PodFacts
from app.core.retention import JobPatch, JobSeen
from app.kube.client import JsonDict, KubeClient, KubeError, path_of
from app.logs import pod_log

log = logging.getLogger(__name__)

# Conflicts on one Job within one reconcile before giving up until the next retry; a running
# Job's status changes every few seconds at most, so a conflict rarely repeats.
ATTEMPTS = 3


class ConflictError(KubeError):
    """An object (a Job, a test's history) kept changing between our read and our write."""

    def __init__(self, message: str) -> None:
        super().__init__(409, message)

    @property
    def retryable(self) -> bool:
        """Always: the next read is newer."""
        return True


class JobReader:
    """Carries out the retention actions; keeps each pod's Job as last read."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client
        self.seen: dict[str, JobSeen] = {}
        self._conflicts: dict[str, int] = {}

    def forget(self, pod_uid: str) -> None:
        """The pod is gone from our view."""
        self.seen.pop(pod_uid, None)
        self._conflicts.pop(pod_uid, None)

    async def read(self, facts: PodFacts, with_namespace: bool) -> None:
        """Read the pod's Job (and its namespace's annotations) for the next plan."""
        namespace = await self._namespace_annotations(facts) if with_namespace else {}
        self.seen[facts.uid] = JobSeen(await self._job(facts), facts.reported, namespace)

    async def patch(self, facts: PodFacts, decided: JobPatch) -> None:
        """Send the patch; on a conflict, forget the Job so that the next plan reads it again.

        Raises:
            ConflictError: the Job changed under every one of :data:`ATTEMPTS` patches.
        """
        assert facts.job is not None
        seen = self.seen.get(facts.uid, JobSeen(None))
        pod = pod_log(log, facts.namespace, facts.name)
        path = path_of("jobs", facts.namespace, facts.job, group=BATCH)
        try:
            patched: JsonDict | None = await self.client.merge_patch(path, decided.patch)
        except KubeError as error:
            if error.status == 409:
                self.seen.pop(facts.uid, None)
                conflicts = self._conflicts.get(facts.uid, 0) + 1
                self._conflicts[facts.uid] = conflicts
                if conflicts >= ATTEMPTS:
                    self._conflicts.pop(facts.uid)
                    message = f"Job {facts.job} changed under {conflicts} patches"
                    raise ConflictError(message) from None
                return
            if error.retryable:
                raise
            if error.status != 404:  # refused (a write policy from before retention?)
                pod.warning("Job %s not changed (%s): %s", facts.job, decided.note, error)
            patched = None  # leave the Job alone from now on
        else:
            pod.info("Job %s: %s", facts.job, decided.note, extra={"action": "retention"})
        self._conflicts.pop(facts.uid, None)
        self.seen[facts.uid] = JobSeen(patched, seen.after_report, seen.namespace_annotations)

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
        return job if job_owns(job, facts.job_uid, dict(facts.labels)) else None

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
