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
from app.core.admission_record import Admission, admitted
from app.core.injection_status import Fitting, read_status
from app.core.reasons import never_started
from app.core.run_metadata import NOT_READ, PodRun, read_pod_run
from app.core.setting_warnings import SettingWarning
from app.core.settings import FinishSettings
from app.core.timestamps import parse_time
from app.core.verdict_record import is_record_of


@dataclass(frozen=True, slots=True)
class Terminated:
    """A container's end."""

    exit_code: int
    finished_at: float  # seconds since the epoch (server time)
    finished_at_text: str
    message: str = ""
    started: bool = True  # False: the runtime never started it (app/core/reasons.py)


@dataclass(frozen=True, slots=True)
class Waiting:
    """A container that has not run yet, and why the kubelet says it waits."""

    reason: str
    message: str = ""


# Enough of the kubelet's pull error for an Event; its full text can run to kilobytes.
WAITING_MESSAGE_CHARS = 300


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
    exporter_container: str | None  # None: a master without an exporter
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
    # The pod's labels, to check it against its Job's selector before writing to the Job.
    labels: tuple[tuple[str, str], ...] = ()
    # Seen in a DELETED event: its last state is final and only its Job can still be written.
    deleted: bool = False
    # When the kubelet took the pod on (status.startTime), the start of the pull grace.
    started_at: float | None = None
    finisher_image: str = ""
    # The finisher waiting without ever having run (its image not pulled, most often).
    finisher_waiting: Waiting | None = None
    # The controller's work-around for an unpullable finisher is done (names.FALLBACK_ANNOTATION).
    fallback_done: bool = False
    # The Services changed by the fallback were set back (names.FALLBACK_ENDED_ANNOTATION).
    fallback_ended: bool = False
    # The pod's own keep-passed/keep-failed annotations as they are now (app/core/retention.py).
    keep_annotations: tuple[tuple[str, str], ...] = ()
    # What a LimitRange or quota made the webhook change, said once more in an Event.
    fitting: Fitting = Fitting.AS_CONFIGURED
    fitting_reason: str = ""
    # What the webhook could not use as given, said once in Events (names.WARNED_ANNOTATION).
    warnings: tuple[SettingWarning, ...] = ()
    warned: bool = False
    # The verdict was copied onto the owning LocustTest, or found not to be (a pod mark).
    test_annotated: bool = False
    # What the run was, as the pod says (app/core/run_metadata.py): read once the master ended.
    run: PodRun = NOT_READ
    # The run is in its test's history (names.HISTORY_RECORDED_ANNOTATION).
    run_recorded: bool = False
    # The reported summary, kept only until the run is recorded in its history.
    recorded_summary: str = ""

    @property
    def finisher_runs(self) -> bool:
        """Whether a finisher is in the pod and has run: it, not the controller, ends the test.

        A finisher still waiting on its image has not; while it waits the pod is as one
        without a finisher. If it starts after all, it picks up where the test is. Nor does
        one that ended before the master (:attr:`finisher_ended_first`).
        """
        return self.has_finisher and self.finisher_waiting is None and not self.finisher_ended_first

    @property
    def finisher_ended_first(self) -> bool:
        """The finisher has ended while the master ran: killed, and nothing restarted it.

        Where the webhook gives it restart rules (Kubernetes 1.35+) the kubelet restarts it,
        and its state is then waiting or running again, never ended.
        """
        ended = self.finisher
        if ended is None:
            return False
        return self.master is None or ended.finished_at < self.master.finished_at

    @property
    def has_exporter(self) -> bool:
        """Whether there is an exporter to end (OpenTelemetry and official operator: none)."""
        return self.exporter_container is not None

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
    message = podview.text(state, "message") or ""
    return Terminated(exit_code, finished, finished_text, message, not never_started(state))


def _never_ran(status: Mapping[str, Any] | None) -> Waiting | None:
    """The waiting state of a container that has not run once (no last termination)."""
    if not status or podview.mapping(podview.mapping(status, "lastState"), "terminated"):
        return None
    waiting = podview.mapping(podview.mapping(status, "state"), "waiting")
    if not waiting:
        return None
    message = podview.text(waiting, "message") or ""
    return Waiting(podview.text(waiting, "reason") or "", message[:WAITING_MESSAGE_CHARS])


def _owning_job(pod: Mapping[str, Any], admission: Admission) -> tuple[str | None, str | None]:
    """The Job that made the pod, with its uid: only if the Job controller did, for that Job.

    Anyone who creates a pod writes its ownerReferences, so they alone are a claim; the
    admission record says who created the pod, and that the reference was there then. The
    controller still checks the Job itself before it writes there (``job_owns``).
    """
    if not admission.made_by_job_controller:
        return None, None
    # The record was checked against this very reference (a Job's, with a uid).
    owner = podview.controller_reference(pod)
    return podview.text(owner, "name"), podview.text(owner, "uid")


def facts_from_pod(pod: Mapping[str, Any], key: bytes, *, deleted: bool = False) -> PodFacts | None:
    """The facts of a pod our webhook admitted and mutated; None for any other pod.

    Ours means an admission record signed with ``key`` that fits the pod, over the webhook's
    status annotation; the managed label only narrows the watch, and the status annotation
    alone is anyone's to write.

    Raises:
        RecordError: the pod claims to be ours (the status annotation) without the proof.
    """
    metadata = podview.mapping(pod, "metadata")
    annotations = podview.annotations(pod)
    if names.STATUS_ANNOTATION not in annotations:
        return None
    # The record first: a status annotation is parsed only once it is known to be ours.
    admission = admitted(pod, key)
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
    exporter_status = statuses.get(exporter_name, {}) if exporter_name is not None else {}
    job, job_uid = _owning_job(pod, admission)
    uid = podview.text(metadata, "uid") or ""
    master = _terminated(statuses.get(master_name))
    # A verdict copied onto the pod from another run's is none: this pod's is still to record.
    own_record = is_record_of(annotations, uid, master.finished_at_text if master else None)
    # The mark names the pod's uid: one copied from another run's pod marks nothing.
    run_recorded = bool(uid) and annotations.get(names.HISTORY_RECORDED_ANNOTATION) == uid
    finisher = next(
        (c for c in podview.containers(pod) if podview.text(c, "name") == names.FINISHER_CONTAINER),
        None,
    )
    return PodFacts(
        namespace=podview.text(metadata, "namespace") or "",
        name=podview.text(metadata, "name") or "",
        uid=uid,
        job=job,
        job_uid=job_uid,
        settings=injection.settings,
        master_container=master_name,
        exporter_container=exporter_name,
        exporter_sidecar=injection.exporter_sidecar,
        exporter_port=injection.exporter_port,
        fitting=injection.fitting,
        fitting_reason=injection.fitting_reason,
        warnings=injection.warnings,
        warned=names.WARNED_ANNOTATION in annotations,
        # A mark copied with another run's verdict is not this pod's.
        test_annotated=own_record and names.TEST_ANNOTATED_ANNOTATION in annotations,
        has_finisher=finisher is not None,
        pod_ip=podview.text(status, "podIP"),
        terminal=status.get("phase") in ("Succeeded", "Failed"),
        master=master,
        finisher=_terminated(statuses.get(names.FINISHER_CONTAINER)),
        exporter_running="running" in podview.mapping(exporter_status, "state"),
        exporter_ended=_terminated(exporter_status),
        recorded_result=podview.text(annotations, names.RESULT_ANNOTATION) if own_record else None,
        reported=own_record and names.SUMMARY_ANNOTATION in annotations,
        exporter_stop_recorded=podview.text(annotations, names.EXPORTER_STOPPED_ANNOTATION),
        labels=tuple(
            sorted(
                (str(key), str(value))
                for key, value in podview.mapping(metadata, "labels").items()
                if isinstance(value, str)
            )
        ),
        deleted=deleted,
        started_at=parse_time(podview.text(status, "startTime")),
        finisher_image=(podview.text(finisher, "image") or "") if finisher else "",
        finisher_waiting=_never_ran(statuses.get(names.FINISHER_CONTAINER)) if finisher else None,
        fallback_done=names.FALLBACK_ANNOTATION in annotations,
        fallback_ended=names.FALLBACK_ENDED_ANNOTATION in annotations,
        keep_annotations=tuple(
            (key, value)
            for key in (names.KEEP_PASSED_ANNOTATION, names.KEEP_FAILED_ANNOTATION)
            if isinstance(value := annotations.get(key), str)
        ),
        # Only for a pod whose test is over: a running one's is not needed, nor kept.
        run=read_pod_run(pod, master_name) if master is not None else NOT_READ,
        run_recorded=run_recorded,
        recorded_summary=(
            podview.text(annotations, names.SUMMARY_ANNOTATION) or ""
            if own_record and not run_recorded
            else ""
        ),
    )
