"""What a run was (its test, load, Locust and image, revision and times), for its summary.

A number is only worth comparing with another run's of the same kind: the same test, users,
spawn rate, run time and Locust version. So the summary carries what the run was, read from
what the pod and its Job already say, with nothing asked of the locustfile: the master's
command line and ``LOCUST_*`` variables (read once, app/core/locust_options.py), its image
and the digest the kubelet pulled, its container's start and end, and the revision the user
names in ``locust-finisher.io/revision``. Locust's version is in none of them: the finisher
reads it from the web UI (:func:`locust_version` checks what it found).

The pod's creator wrote all of it, so each string is bounded and checked here; the
controller keeps :class:`PodRun` per finished pod (a few hundred bytes) until it reports.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.core import names, podview
from app.core.locust_options import read_options, run_time_seconds, spawn_rate, users
from app.core.setting_warnings import SettingWarning, ignored
from app.core.summary import RunMetadata, Summary
from app.core.timestamps import parse_time

MAX_REVISION = 64
MAX_IMAGE = 256  # a registry host, a path and a tag; longer is no image anyone pulls
MAX_NAME = 253  # a Kubernetes object name
MAX_VERSION = 32
_TIME_CHARS = 40
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# Locust's versions: 2.32.4, 2.33.0.dev12, 2.32.4+local.
_VERSION = re.compile(r"[0-9][0-9A-Za-z.+-]*")
# The test's name comes from the Job's controller when it is one of these (the test itself):
# each makes a new Job for every run of one test. (group, kind)
_TEST_OWNERS = frozenset({("locust.io", "LocustTest"), ("batch", "CronJob")})


@dataclass(frozen=True, slots=True)
class PodRun:
    """What the pod says of its run, bounded: kept per finished pod until the report."""

    revision: str | None = None
    image: str | None = None
    image_digest: str | None = None
    users: int | None = None
    spawn_rate: float | None = None
    run_time_seconds: float | None = None
    started_at: str | None = None
    ended_at: str | None = None


# A pod whose master has not ended: nothing of its run is read or kept yet.
NOT_READ = PodRun()


def revision(annotations: Mapping[str, Any]) -> tuple[str | None, SettingWarning | None]:
    """The pod's revision annotation, or why it is left out of the run's metadata."""
    value = annotations.get(names.REVISION_ANNOTATION)
    if value is None:
        return None, None
    given = value.strip() if isinstance(value, str) else str(value)
    if isinstance(value, str) and given and given.isprintable() and len(given) <= MAX_REVISION:
        return given, None
    problem = f"is not printable text of 1 to {MAX_REVISION} characters"
    return None, ignored(names.REVISION_ANNOTATION, given, problem, "left out of the summary")


def locust_version(text: Any) -> str | None:
    """A Locust version as the finisher read it; None for anything else."""
    if isinstance(text, str) and len(text) <= MAX_VERSION and _VERSION.fullmatch(text):
        return text
    return None


def _digest(image_id: str | None) -> str | None:
    """``sha256:...`` of a status imageID (``repo@sha256:...``, or the digest alone)."""
    if not image_id:
        return None
    digest = image_id[-71:]
    return digest if _DIGEST.fullmatch(digest) else None


def _time(state: Mapping[str, Any], key: str) -> str | None:
    text = podview.text(state, key)
    if text is None or len(text) > _TIME_CHARS or not parse_time(text):
        return None  # the epoch (a container that never started) is no start either
    return text


def _bounded(text: str | None, limit: int) -> str | None:
    return text if text and len(text) <= limit and text.isprintable() else None


def read_pod_run(pod: Mapping[str, Any], master_container: str) -> PodRun:
    """The run as the pod tells it: its master container's spec, status and the revision."""
    master = next(
        (c for c in podview.containers(pod) if podview.text(c, "name") == master_container), {}
    )
    options = read_options(master)
    status = next(
        (
            s
            for s in podview.objects(podview.mapping(pod, "status"), "containerStatuses")
            if s.get("name") == master_container
        ),
        {},
    )
    state = podview.mapping(status, "state")
    ended = podview.mapping(state, "terminated")
    started = ended or podview.mapping(state, "running")
    return PodRun(
        revision=revision(podview.annotations(pod))[0],
        image=_bounded(podview.text(master, "image"), MAX_IMAGE),
        image_digest=_digest(podview.text(status, "imageID")),
        users=users(options),
        spawn_rate=spawn_rate(options),
        run_time_seconds=run_time_seconds(options),
        started_at=_time(started, "startedAt"),
        ended_at=_time(ended, "finishedAt"),
    )


def which_test(job: Mapping[str, Any] | None, job_name: str | None, pod_name: str) -> str:
    """The test's name: the Job's controller if a LocustTest or CronJob, else the Job, else the pod.

    locust-k8s-operator names the Job ``<test>-master``, owned by the LocustTest ``<test>``;
    a CronJob makes one Job per run. ``job`` is the Job as read (None: not read, or gone).
    """
    owner = podview.controller_reference(job or {})
    group = (podview.text(owner, "apiVersion") or "").partition("/")[0]
    if (group, podview.text(owner, "kind")) in _TEST_OWNERS:
        name = _bounded(podview.text(owner, "name"), MAX_NAME)
        if name:
            return name
    return (job_name or pod_name)[:MAX_NAME]


def run_metadata(
    pod_run: PodRun, *, test: str, namespace: str, summary: Summary | None
) -> RunMetadata:
    """The summary's ``run``: the pod's facts, the test, and what the finisher measured.

    The finisher's summary gives Locust's version and the most users and workers it saw
    (users only when the command line and environment did not say).
    """
    measured: Mapping[str, Any] = summary or {}
    finisher_run = podview.mapping(measured, "run")
    run: RunMetadata = {"test": test[:MAX_NAME], "namespace": namespace[:MAX_NAME]}
    found: dict[str, Any] = {
        "revision": pod_run.revision,
        "locustVersion": locust_version(finisher_run.get("locustVersion")),
        "image": pod_run.image,
        "imageDigest": pod_run.image_digest,
        "users": pod_run.users if pod_run.users is not None else _count(measured, "users"),
        "spawnRate": pod_run.spawn_rate,
        "runTimeSeconds": pod_run.run_time_seconds,
        "workers": _count(measured, "workers"),
        "startedAt": pod_run.started_at,
        "endedAt": pod_run.ended_at,
    }
    run.update({key: value for key, value in found.items() if value is not None})  # type: ignore[typeddict-item]
    return run


def _count(summary: Mapping[str, Any], key: str) -> int | None:
    value = summary.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None
