"""How long a finished test's Job is kept, and holding its TTL until the verdict is recorded.

Users say how long to keep a test's Job once it has finished, for passed and failed tests
apart (keep failed runs to look into, clean up passed ones): on the pod (``keep-passed`` and
``keep-failed``, copied from the LocustTest), on its namespace (that namespace's default) or
cluster-wide (the ConfigMap, carried in the webhook's status annotation), the most specific
first. The controller applies it through the Job's ``ttlSecondsAfterFinished``, and only once
the verdict is recorded on the Job: the Job, its pod and the master's exit code are what the
verdict is read from.

A Job made to go the moment it finishes (``ttlSecondsAfterFinished: 0``, as the official
locustio/k8s-operator makes its master Jobs) would take all that with it. So while the test
runs the controller takes the TTL off the Job ("holds" it), noting the original in an
annotation, and once the verdict is recorded sets the retention, or puts the original back
(a 0 as :data:`TTL_0_KEPT_SECONDS`: gone 2 s after its verdict, no one could read it).

Pure: the Job and the settings in, a merge patch out; :func:`app.core.reconcile.plan` makes
the actions. The patch names the Job's uid and
resourceVersion, so the API server refuses it if anyone changed the Job since it was read;
the controller reads it again and decides again. Every decision reads only the Job's
annotations, so a restarted or newly elected controller decides the same, and the retention
annotation marks a Job as settled: nothing is decided twice.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from app.core import names, podview
from app.core.setting_codecs import KEEP_FOREVER, SettingError
from app.core.settings import KEEP_FAILED, KEEP_PASSED, FinishSettings, Setting

Result = Literal["passed", "failed"]
Source = Literal["pod", "namespace", "cluster"]
_SETTINGS: dict[Result, Setting] = {"passed": KEEP_PASSED, "failed": KEEP_FAILED}
# ttlSecondsAfterFinished is an int32.
_MAX_TTL = 2**31 - 1
# A held TTL of 0 put back would delete the Job, its pod and its kept report about 2 s after
# the verdict is recorded: too soon for a `wait` or `report` CI runs a moment later. The
# official locustio/k8s-operator makes every master Job so, and its users cannot change it.
# With no retention set, such a Job is kept this long instead; keep-passed/keep-failed 0s
# still delete it at once.
TTL_0_KEPT_SECONDS = 600


@dataclass(frozen=True)
class Retention:
    """How long to keep one Job after it finished, and who said so."""

    seconds: float  # KEEP_FOREVER: never deleted
    setting: Setting
    source: Source

    @property
    def ttl(self) -> int | None:
        """The Job's ``ttlSecondsAfterFinished``: whole seconds, rounded up; None for forever."""
        if self.seconds == KEEP_FOREVER:
            return None
        return min(math.ceil(self.seconds), _MAX_TTL)

    def describe(self) -> str:
        """As users wrote it, and where: ``keep-failed 1h from the namespace``."""
        value = self.setting.format(self.seconds)
        return f"{self.setting.option} {value} from the {_SOURCE_NAMES[self.source]}"


_SOURCE_NAMES: dict[Source, str] = {
    "pod": "pod",
    "namespace": "namespace",
    "cluster": "cluster default",
}


@dataclass(frozen=True)
class Resolved:
    """The retention that applies (None: the Job's own TTL stands), and why others did not."""

    retention: Retention | None
    warnings: tuple[str, ...] = ()


def resolve_retention(
    result: Result,
    pod_annotations: Mapping[str, Any],
    namespace_annotations: Mapping[str, Any],
    settings: FinishSettings,
) -> Resolved:
    """The retention for a test that ``result``: the pod's, the namespace's, or the cluster's.

    ``settings`` are the pod's as the webhook recorded them at admission: its annotation on top
    of the cluster default, so with the pod's own annotation gone or unusable now, they hold
    the cluster default. A value that cannot be used is skipped with a warning; a test's pod is
    never failed for it.
    """
    setting = _SETTINGS[result]
    bad: list[str] = []
    found: Retention | None = None
    sources: tuple[tuple[Source, Mapping[str, Any]], ...] = (
        ("pod", pod_annotations),
        ("namespace", namespace_annotations),
    )
    for source, annotations in sources:
        value = annotations.get(setting.annotation)
        if value is None:
            continue
        try:
            if not isinstance(value, str):  # annotations are text; anything else is malformed
                raise SettingError(value, setting.expected, shown_as="a non-string")
            found = Retention(setting.parse(value), setting, source)
            break
        except SettingError as error:
            bad.append(f"the {source}'s {setting.annotation}: {error}")
    if found is None:
        admitted = setting.default(settings)
        found = None if admitted is None else Retention(admitted, setting, "cluster")
    instead = f"using {found.describe()}" if found else "the Job's own TTL stands"
    return Resolved(found, tuple(f"{text}; {instead}" for text in bad))


@dataclass(frozen=True)
class JobSeen:
    """A test pod's Job as the controller last read it: all that retention is decided from.

    ``job`` is None when the Job is gone or is not the pod's (we write to no other);
    ``after_report`` says it was read once the verdict's report had been written, which
    puts the verdict on the Job; ``namespace_annotations`` are read with it then.
    """

    job: Mapping[str, Any] | None
    after_report: bool = False
    namespace_annotations: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobPatch:
    """A merge patch for the Job, made conditional on the version it was decided from."""

    patch: dict[str, Any]
    note: str  # what it does, for the controller's log


def _annotations(job: Mapping[str, Any]) -> Mapping[str, Any]:
    return podview.mapping(podview.mapping(job, "metadata"), "annotations")


def _ttl(job: Mapping[str, Any]) -> int | None:
    value = podview.mapping(job, "spec").get("ttlSecondsAfterFinished")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _held_ttl(text: object) -> int | None:
    """The TTL a hold noted; None if the note is not one (someone edited it)."""
    if isinstance(text, str) and text.isascii() and text.isdigit() and int(text) <= _MAX_TTL:
        return int(text)
    return None


def recorded_verdict(job: Mapping[str, Any]) -> Result | None:
    """The verdict recorded on the Job with its summary (the final one); None until then."""
    annotations = _annotations(job)
    result = annotations.get(names.RESULT_ANNOTATION)
    if names.SUMMARY_ANNOTATION not in annotations or result not in ("passed", "failed"):
        return None
    return "passed" if result == "passed" else "failed"


def settled(job: Mapping[str, Any]) -> bool:
    """Whether the Job's retention is decided already (by this controller or another)."""
    return names.RETENTION_ANNOTATION in _annotations(job)


def _conditional(
    job: Mapping[str, Any], annotations: dict[str, str | None], spec: dict[str, int | None]
) -> dict[str, Any] | None:
    """The patch, naming the uid and resourceVersion the decision was made from."""
    metadata = podview.mapping(job, "metadata")
    uid, version = podview.text(metadata, "uid"), podview.text(metadata, "resourceVersion")
    if not uid or not version:
        return None  # nothing to make it conditional on: not a Job as the API server serves it
    patch: dict[str, Any] = {
        "metadata": {"uid": uid, "resourceVersion": version, "annotations": annotations}
    }
    if spec:
        patch["spec"] = spec
    return patch


def hold(job: Mapping[str, Any]) -> JobPatch | None:
    """Take the TTL off a Job whose verdict is still to be recorded, noting the original."""
    annotations = _annotations(job)
    ttl = _ttl(job)
    if (
        ttl is None
        or settled(job)
        or names.HELD_TTL_ANNOTATION in annotations
        or recorded_verdict(job) is not None  # too late to matter: settle it instead
    ):
        return None
    patch = _conditional(
        job, {names.HELD_TTL_ANNOTATION: str(ttl)}, {"ttlSecondsAfterFinished": None}
    )
    if patch is None:
        return None
    return JobPatch(patch, f"ttlSecondsAfterFinished {ttl} held until the verdict is recorded")


def settle(job: Mapping[str, Any], retention: Retention | None) -> JobPatch | None:
    """Once the verdict is recorded on the Job: set the retention, or restore a held TTL.

    A TTL found on a held Job was set by someone else meanwhile, on this very Job: it stands.
    With no retention set anywhere and nothing held, the Job is left as it is (and unmarked).
    """
    annotations = _annotations(job)
    if settled(job) or recorded_verdict(job) is None:
        return None
    current = _ttl(job)
    held = annotations.get(names.HELD_TTL_ANNOTATION)
    release: dict[str, str | None] = {names.HELD_TTL_ANNOTATION: None} if held is not None else {}
    ttl: int | None
    if held is not None and current is not None:
        ttl = current
        note = f"ttlSecondsAfterFinished {current}, set on the Job while it was held"
    elif retention is not None:
        ttl = retention.ttl
        note = retention.describe()
    elif held is not None:
        ttl = _held_ttl(held)
        if ttl == 0:
            ttl = TTL_0_KEPT_SECONDS
            note = (
                f"ttlSecondsAfterFinished 0 held; {TTL_0_KEPT_SECONDS} s instead, for a later "
                "wait or report (no retention set)"
            )
        elif ttl is not None:
            note = f"ttlSecondsAfterFinished {ttl} restored (no retention set)"
        else:
            note = f"held ttlSecondsAfterFinished {held!r} unreadable: none set"
    else:
        return None
    change: dict[str, int | None] = {} if ttl == current else {"ttlSecondsAfterFinished": ttl}
    patch = _conditional(job, {**release, names.RETENTION_ANNOTATION: note}, change)
    return None if patch is None else JobPatch(patch, note)
