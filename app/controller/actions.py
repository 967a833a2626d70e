"""Carrying out the controller's decisions: annotations, Events, and the fallback quit.

Events get stable names (object, reason key, pod UID), so creating one twice after a crash
or a failover answers 409 and is not a second Event. Annotations are merge-patched, which
leaves every other annotation alone.
"""

import asyncio
import contextlib
import logging
import time
from typing import Literal

from app.core.pod_facts import PodFacts
from app.core.reconcile import EventSpec
from app.core.timestamps import format_time
from app.kube.client import KubeClient, KubeError, path_of

log = logging.getLogger(__name__)

QuitOutcome = Literal["quit", "gone", "answered", "error"]
COMPONENT = "locust-finisher-controller"


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


class Actor:
    """Writes to the API on behalf of the controller."""

    def __init__(self, client: KubeClient, identity: str) -> None:
        self.client = client
        self.identity = identity

    async def annotate(self, facts: PodFacts, annotations: dict[str, str]) -> None:
        """Merge ``annotations`` into the pod and its Job."""
        patch = {"metadata": {"annotations": annotations}}
        await self.client.merge_patch(path_of("pods", facts.namespace, facts.name), patch)
        if facts.job:
            try:
                await self.client.merge_patch(
                    path_of("jobs", facts.namespace, facts.job, group="batch/v1"), patch
                )
            except KubeError as error:
                if error.status != 404:  # a Job deleted before its pod is not our problem
                    raise

    async def emit(self, facts: PodFacts, event: EventSpec) -> None:
        """The event on the pod and on its Job, once each."""
        targets = [("v1", "Pod", facts.name, facts.uid)]
        if facts.job and facts.job_uid:
            targets.append(("batch/v1", "Job", facts.job, facts.job_uid))
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
                "message": event.message[:1024],
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
