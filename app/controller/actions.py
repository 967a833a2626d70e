"""Carrying out the controller's decisions: annotations, labels, Events, quits, Services.

Events get stable names (object, reason key, pod UID), so creating one twice after a crash
or a failover answers 409 and is not a second Event. Annotations and labels are
merge-patched, which leaves every other one alone. Nothing is written to a Job that does not
own the pod (see :mod:`app.controller.ownership`).
"""

import asyncio
import contextlib
import logging
import time
from typing import Any, Literal

from app.controller.ownership import job_owns
from app.controller.publish_not_ready import (
    ServicesSeen,
    publish_not_ready,
    set_back,
)
from app.core import podview
from app.core.pod_facts import PodFacts
from app.core.reconcile import EventSpec
from app.core.timestamps import format_time
from app.kube.client import KubeClient, KubeError, path_of

log = logging.getLogger(__name__)

QuitOutcome = Literal["quit", "gone", "answered", "error"]
COMPONENT = "locust-finisher-controller"
BATCH = "batch/v1"


async def quit_exporter(
    address: str, port: int, wait_seconds: float = 3.0
) -> tuple[QuitOutcome, str]:
    """POST /quitquitquit; the exporter exits without answering, so EOF or a reset is success."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(address, port), wait_seconds
        )
    except ConnectionRefusedError:
        return "gone", "connection refused"
    except (OSError, TimeoutError) as error:
        return "error", f"cannot connect: {error or 'timeout'}"
    try:
        writer.write(
            f"POST /quitquitquit HTTP/1.1\r\nHost: {address}:{port}\r\n"
            "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(64), wait_seconds)
    except (ConnectionResetError, BrokenPipeError):
        return "quit", "connection reset without an answer"
    except (OSError, TimeoutError) as error:
        return "error", f"no answer: {error or 'timeout'}"
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    if not answer:
        return "quit", "connection closed without an answer"
    status = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    return "answered", f"the exporter answered {status!r} instead of exiting"


# Verified pod -> Job ownerships kept (a Job's uid and selector never change); oldest dropped.
_OWNERSHIPS_KEPT = 4096


class Actor:
    """Writes to the API on behalf of the controller."""

    def __init__(self, client: KubeClient, identity: str) -> None:
        self.client = client
        self.identity = identity
        self._owned_by: dict[str, str] = {}

    async def trusted_job(self, facts: PodFacts) -> str | None:
        """The uid of the pod's Job if the Job exists and owns the pod; None otherwise."""
        if not facts.job or not facts.job_uid:
            return None
        known = self._owned_by.get(facts.uid)
        if known is not None:
            return known
        try:
            job = await self.client.get(path_of("jobs", facts.namespace, facts.job, group=BATCH))
        except KubeError as error:
            if error.status == 404:  # gone already (ttlSecondsAfterFinished: 0), or never was
                return None
            raise
        if not job_owns(job, facts.job_uid, dict(facts.labels)):
            log.warning(
                "pod %s names Job %s as its controller, but that Job does not own it: "
                "writing nothing to the Job",
                facts.key,
                facts.job,
            )
            return None
        if len(self._owned_by) >= _OWNERSHIPS_KEPT:
            self._owned_by.pop(next(iter(self._owned_by)))
        self._owned_by[facts.uid] = facts.job_uid
        return facts.job_uid

    def forget(self, pod_uid: str) -> None:
        """The pod is gone from our view."""
        self._owned_by.pop(pod_uid, None)

    async def annotate(
        self,
        facts: PodFacts,
        annotations: dict[str, str],
        labels: dict[str, str] | None = None,
        *,
        job: bool = True,
        cleared: tuple[str, ...] = (),
    ) -> None:
        """Merge ``annotations`` (and ``labels``) into the pod, unless deleted, and its Job.

        With ``job`` false, into the pod alone: a mark only the pod's reconcile reads. The
        ``cleared`` annotations are removed (a merge patch's null).
        """
        metadata: dict[str, Any] = {"annotations": {**annotations, **dict.fromkeys(cleared)}}
        if labels:
            metadata["labels"] = labels
        patch: dict[str, Any] = {"metadata": metadata}
        if not facts.deleted:
            try:
                await self.client.merge_patch(path_of("pods", facts.namespace, facts.name), patch)
            except KubeError as error:
                if error.status != 404:  # deleted meanwhile: its DELETED event reports it
                    raise
        job_uid = await self.trusted_job(facts) if job else None
        if job_uid is None or facts.job is None:
            return
        # The uid makes the patch conditional: a Job of the same name made since is refused.
        job_patch = {"metadata": {"uid": job_uid, **metadata}}
        try:
            await self.client.merge_patch(
                path_of("jobs", facts.namespace, facts.job, group=BATCH), job_patch
            )
        except KubeError as error:
            if error.status not in (404, 409, 422):  # gone, or replaced by another Job
                raise
            log.info("Job %s/%s not annotated: %s", facts.namespace, facts.job, error)

    async def publish_not_ready(self, facts: PodFacts) -> ServicesSeen:
        """Let the Services of the pod's test route to it while it is not Ready.

        A pod no Job verifiably made belongs to no test whose Services we would change.
        """
        if facts.job is None:
            return ServicesSeen()
        # One read: the Job's owner is needed as well as its word that the pod is its own.
        try:
            job = await self.client.get(path_of("jobs", facts.namespace, facts.job, group=BATCH))
        except KubeError as error:
            if error.status == 404:
                return ServicesSeen()
            raise
        job_uid = facts.job_uid
        if job_uid is None or not job_owns(job, job_uid, dict(facts.labels)):
            return ServicesSeen()
        # A Job without an owner was made by hand: so, then, were the Services of its test.
        owner = podview.text(podview.controller_reference(job), "uid") or ""
        return await publish_not_ready(self.client, facts, frozenset({job_uid, owner}))

    async def set_services_back(self, facts: PodFacts) -> list[str]:
        """Set back the Services :meth:`publish_not_ready` changed for the pod."""
        return await set_back(self.client, facts)

    async def emit(self, facts: PodFacts, event: EventSpec) -> None:
        """The event on the pod and on its Job, once each; on whichever still exists.

        A deleted pod's Event goes on its Job; with the Job gone too, it goes on the pod
        (Events may name deleted objects) and its message names the Job.
        """
        job_uid = await self.trusted_job(facts)
        targets: list[tuple[str, str, str, str]] = []
        if not facts.deleted or job_uid is None:
            targets.append(("v1", "Pod", facts.name, facts.uid))
        if job_uid is not None and facts.job:
            targets.append(("batch/v1", "Job", facts.job, job_uid))
        message = event.message
        if facts.job and job_uid is None:
            message = f"{message} (Job {facts.job})"
        stamp = format_time(time.time())
        for api_version, kind, name, uid in targets:
            body = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {
                    "name": f"{name}.locust-finisher.{event.key}.{facts.uid[:8]}",
                    "namespace": facts.namespace,
                },
                "involvedObject": {
                    "apiVersion": api_version,
                    "kind": kind,
                    "name": name,
                    "namespace": facts.namespace,
                    "uid": uid,
                },
                "reason": event.reason,
                "message": message[:1024],
                "type": event.type,
                "source": {"component": COMPONENT},
                "reportingComponent": "locust-finisher.io/controller",
                "reportingInstance": self.identity,
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
                "count": 1,
            }
            try:
                await self.client.create(path_of("events", facts.namespace), body)
            except KubeError as error:
                if error.status != 409:  # 409: emitted before (restart, failover)
                    raise
