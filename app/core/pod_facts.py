"""The few facts the controller keeps about a managed pod, read from the pod object.

A pod dict is tens of kilobytes in Python; these facts are a few hundred bytes, so the
controller's memory stays flat as tests pile up. Everything it decides comes from these
facts (the pod's status and our own annotations), never from its own memory, so a restarted
or newly elected controller reaches the same decisions.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.core import names, podview
from app.core.injection_status import read_status
from app.core.settings import FinishSettings
from app.core.timestamps import parse_time


@dataclass(frozen=True, slots=True)
class Terminated:
    """A container's end."""

    exit_code: int
    finished_at: float  # seconds since the epoch (server time)
    finished_at_text: str
    message: str = ""


@dataclass(frozen=True, slots=True)
class PodFacts:
    """What the controller needs to know about one managed pod."""

    namespace: str
    name: str
    uid: str
    job: str | None
    job_uid: str | None
    settings: FinishSettings
    master_container: str
    exporter_container: str
    exporter_sidecar: bool
    exporter_port: int
    has_finisher: bool
    pod_ip: str | None
    terminal: bool
    master: Terminated | None
    finisher: Terminated | None
    exporter_running: bool
    exporter_ended: Terminated | None
    recorded_result: str | None
    reported: bool
    exporter_stop_recorded: str | None

    @property
    def key(self) -> str:
        """namespace/name, for logs and maps."""
        return f"{self.namespace}/{self.name}"


def _terminated(status: Mapping[str, Any] | None) -> Terminated | None:
    if not status:
        return None
    state = podview.mapping(status, "state").get("terminated")
    if not isinstance(state, Mapping):
        return None
    finished_text = podview.text(state, "finishedAt") or ""
    finished = parse_time(finished_text)
    exit_code = state.get("exitCode")
    if finished is None or not isinstance(exit_code, int):
        return None
    return Terminated(exit_code, finished, finished_text, podview.text(state, "message") or "")


def _owning_job(pod: Mapping[str, Any]) -> tuple[str | None, str | None]:
    for owner in podview.objects(podview.mapping(pod, "metadata"), "ownerReferences"):
        if owner.get("kind") == "Job" and owner.get("controller") is True:
            return podview.text(owner, "name"), podview.text(owner, "uid")
    return None, None


def facts_from_pod(pod: Mapping[str, Any]) -> PodFacts | None:
    """The facts of a pod our webhook mutated; None for any other pod."""
    metadata = podview.mapping(pod, "metadata")
    annotations = podview.annotations(pod)
    injection = read_status(annotations)
    if injection is None:
        return None
    master_name = injection.master_container
    exporter_name = injection.exporter_container
    status = podview.mapping(pod, "status")
    statuses = {
        str(s.get("name")): s
        for key in ("containerStatuses", "initContainerStatuses")
        for s in podview.objects(status, key)
    }
    exporter_status = statuses.get(exporter_name, {})
    job, job_uid = _owning_job(pod)
    return PodFacts(
        namespace=podview.text(metadata, "namespace") or "",
        name=podview.text(metadata, "name") or "",
        uid=podview.text(metadata, "uid") or "",
        job=job,
        job_uid=job_uid,
        settings=injection.settings,
        master_container=master_name,
        exporter_container=exporter_name,
        exporter_sidecar=injection.exporter_sidecar,
        exporter_port=injection.exporter_port,
        has_finisher=names.FINISHER_CONTAINER
        in {podview.text(c, "name") for c in podview.containers(pod)},
        pod_ip=podview.text(status, "podIP"),
        terminal=status.get("phase") in ("Succeeded", "Failed"),
        master=_terminated(statuses.get(master_name)),
        finisher=_terminated(statuses.get(names.FINISHER_CONTAINER)),
        exporter_running="running" in podview.mapping(exporter_status, "state"),
        exporter_ended=_terminated(exporter_status),
        recorded_result=podview.text(annotations, names.RESULT_ANNOTATION),
        reported=names.SUMMARY_ANNOTATION in annotations,
        exporter_stop_recorded=podview.text(annotations, names.EXPORTER_STOPPED_ANNOTATION),
    )
