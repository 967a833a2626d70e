"""Locust's artifacts as kept in the cluster, for ``wait`` and ``report``.

The controller keeps what a test's finisher handed it (Locust's HTML report, final stats,
failures, exceptions) in one ConfigMap next to the Job, labelled with the pod's uid
(app/core/artifacts.py). This is the one place the readers look for them: ``wait
--report-dir`` after the verdict, ``locust-finisher report`` any time while the Job is kept.

What was kept is the locustfile author's to choose, and the namespace may hold many reports:
ConfigMaps are listed by label, a few a page, and the files stay gzip until
:func:`write_artifacts` inflates them straight to disk within a budget (app/waiting/inflate.py).
"""

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core import names, podview
from app.core.artifacts import (
    EXCEPTIONS_JSON,
    FAILURES_CSV,
    REPORT_HTML,
    STATS_JSON,
    LeftOut,
    artifacts_selector,
    data_key,
    decode_left_out,
)
from app.core.results import FinishedTest
from app.kube.client import KubeClient, KubeError, RefusedAnswerError, decode_json, path_of
from app.waiting.inflate import Budget, InflateError, TooLargeError, inflate_bytes, inflate_to

# A Job's name as the controller puts it in a label (a longer name is left off).
_LABEL_VALUE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
# Report ConfigMaps are up to ~1.4 MiB of JSON each: 4 a page stay well within one answer.
PAGE_SIZE = 4
# One Job keeps a report per pod it ran (its backoffLimit + 1, usually 7 at most).
MAX_LISTED = 100
# stats.json is parsed, so it is inflated in memory: Locust's for 5,000 names is a few MB.
STATS_LIMIT = 16 * 1024 * 1024


class ArtifactsError(Exception):
    """A kept report that is refused or cannot be written; the message is one line."""


@dataclass(frozen=True)
class KeptArtifacts:
    """What was kept of a test beyond its summary; Locust's files still as gzip."""

    gzipped: dict[str, bytes] = field(default_factory=dict)  # by file name, without stats
    stats: dict[str, Any] | None = None  # Locust's final stats, fuller than the summary's
    stats_json: bytes | None = None  # the same, as kept
    left_out: list[LeftOut] = field(default_factory=list)
    configmap: str = ""

    def names(self) -> list[str]:
        """The files there are to write."""
        return [*self.gzipped, *([STATS_JSON] if self.stats_json is not None else [])]


def _gzipped(binary: Mapping[str, Any], file: str) -> bytes | None:
    encoded = binary.get(data_key(file))
    if not isinstance(encoded, str):
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InflateError(f"{file}: not base64") from None


def _stats(gzipped: bytes) -> tuple[dict[str, Any], bytes]:
    kept = inflate_bytes(gzipped, STATS_JSON, STATS_LIMIT)
    try:
        document = decode_json(kept)
    except RefusedAnswerError as error:
        raise InflateError(f"it {error}") from None
    if not isinstance(document, dict):
        raise InflateError("kept, but not a JSON object")
    return document, kept


def _artifacts(configmap: Mapping[str, Any]) -> KeptArtifacts:
    metadata = podview.mapping(configmap, "metadata")
    notes = podview.mapping(metadata, "annotations").get(names.REPORT_LEFT_OUT_ANNOTATION)
    left_out = decode_left_out(notes if isinstance(notes, str) else None)
    binary = podview.mapping(configmap, "binaryData")
    gzipped: dict[str, bytes] = {}
    stats: tuple[dict[str, Any], bytes] | None = None
    for file in (REPORT_HTML, STATS_JSON, FAILURES_CSV, EXCEPTIONS_JSON):
        try:
            data = _gzipped(binary, file)
            if data is not None and file == STATS_JSON:
                stats = _stats(data)
            elif data is not None:
                gzipped[file] = data
        except TooLargeError as error:
            raise ArtifactsError(f"{error}: refused") from None
        except InflateError as error:
            left_out.append(LeftOut(file, f"kept, but unreadable: {error}"))
    return KeptArtifacts(
        gzipped=gzipped,
        stats=stats[0] if stats else None,
        stats_json=stats[1] if stats else None,
        left_out=left_out,
        configmap=podview.text(metadata, "name") or "",
    )


def _kept_at(configmap: Mapping[str, Any]) -> str:
    return podview.text(podview.mapping(configmap, "metadata"), "creationTimestamp") or ""


def _owned_by(configmap: Mapping[str, Any], uid: str) -> bool:
    references = podview.objects(podview.mapping(configmap, "metadata"), "ownerReferences")
    return bool(uid) and any(ref.get("uid") == uid for ref in references)


async def _newest(
    client: KubeClient, namespace: str, selector: str, owner: str | None = None
) -> Mapping[str, Any] | None:
    """The newest ConfigMap of ``selector`` (owned by ``owner`` if given), a page at a time.

    Only the newest so far is held, so a namespace of many reports costs one page.

    Raises:
        KubeError: when the API cannot be asked.
        ArtifactsError: past :data:`MAX_LISTED` ConfigMaps.
    """
    newest: Mapping[str, Any] | None = None
    listed = 0
    path = path_of("configmaps", namespace)
    async for page in client.list_pages(path, page_size=PAGE_SIZE, labelSelector=selector):
        for item in podview.objects(page, "items"):
            listed += 1
            if owner is not None and not _owned_by(item, owner):
                continue
            if newest is None or _kept_at(item) > _kept_at(newest):
                newest = item
        if listed > MAX_LISTED:
            raise ArtifactsError(
                f"more than {MAX_LISTED} ConfigMaps match {selector} in namespace {namespace}"
            )
    return newest


async def artifacts_of_pod(client: KubeClient, namespace: str, pod: str) -> KeptArtifacts | None:
    """The artifacts kept for pod ``pod`` (found by its uid, or its name once it is gone).

    While the pod exists, only a ConfigMap its own controller (its Job) owns is its report:
    the controller keeps reports only there, and a label is anyone's to copy.

    Raises:
        KubeError: when the API cannot be asked.
        ArtifactsError: when what was kept is refused.
    """
    try:
        found = await client.get(path_of("pods", namespace, pod))
        uid: str | None = podview.text(podview.mapping(found, "metadata"), "uid") or None
        owner: str | None = podview.text(podview.controller_reference(found), "uid") or ""
    except KubeError as error:
        if error.status != 404:
            raise
        uid = owner = None
    configmap = await _newest(client, namespace, artifacts_selector(uid, pod_name=pod), owner)
    return None if configmap is None else _artifacts(configmap)


async def artifacts_of_job(client: KubeClient, namespace: str, job: str) -> KeptArtifacts | None:
    """The newest artifacts kept for any pod of Job ``job``.

    Raises:
        KubeError: when the API cannot be asked (404 when there is no such Job).
        ArtifactsError: when what was kept is refused.
    """
    found = await client.get(path_of("jobs", namespace, job, group="batch/v1"))
    uid = podview.text(podview.mapping(found, "metadata"), "uid") or ""
    # The ConfigMaps labelled with the Job's name (the label of a name too long for one is
    # left off, so then every report); the Job's own are those it owns (a label can be copied,
    # an owner's uid cannot), also once its pods are gone.
    selector = names.REPORT_OF_LABEL
    if _LABEL_VALUE.fullmatch(job):
        selector += f",{names.REPORT_JOB_LABEL}={job}"
    configmap = await _newest(client, namespace, selector, owner=uid)
    return None if configmap is None else _artifacts(configmap)


async def fetch_artifacts(client: KubeClient, finished: FinishedTest) -> KeptArtifacts | None:
    """The artifacts kept for ``finished``; None when none were kept or cannot be read.

    Runs after the wait, with the same client (each request bounded by it); the verdict and
    the summary stand without the report, but not with one that is refused.

    Raises:
        ArtifactsError: when what was kept is refused.
    """
    if finished.namespace is None or finished.pod is None:
        return None  # no verdict, no pod: nothing was kept for it
    try:
        if not finished.pod_uid:
            return await artifacts_of_pod(client, finished.namespace, finished.pod)
        # By the pod's uid, not its name: a pod of that name now may be another run's. The
        # controller keeps the report owned by the pod's Job, or by the pod if none controls it.
        selector = artifacts_selector(finished.pod_uid)
        owner = finished.owner_uid or finished.pod_uid
        configmap = await _newest(client, finished.namespace, selector, owner)
        return None if configmap is None else _artifacts(configmap)
    except KubeError:
        return None


def write_artifacts(
    kept: KeptArtifacts, directory: Path, *, skip: frozenset[str] = frozenset()
) -> list[str]:
    """Write the kept files (but ``skip``) into ``directory``; the names written.

    Within one :class:`~app.waiting.inflate.Budget`: a report that passes it leaves none of
    its files behind. A file that is not gzip is left out, as the finisher's notes would say.

    Raises:
        ArtifactsError: when the files are refused or cannot be written.
    """
    budget = Budget()
    written: list[str] = []
    try:
        for name, data in kept.gzipped.items():
            if name in skip:
                continue
            directory.mkdir(parents=True, exist_ok=True)
            try:
                inflate_to(data, directory / name, budget)
                written.append(name)
            except TooLargeError:
                raise
            except InflateError as error:
                kept.left_out.append(LeftOut(name, f"kept, but unreadable: {error}"))
        if kept.stats_json is not None and STATS_JSON not in skip:
            budget.take(STATS_JSON, len(kept.stats_json), 0)
            directory.mkdir(parents=True, exist_ok=True)
            budget.written.append(directory / STATS_JSON)
            (directory / STATS_JSON).write_bytes(kept.stats_json)
            written.append(STATS_JSON)
    except TooLargeError as error:
        budget.undo()
        raise ArtifactsError(
            f"the report kept in ConfigMap {kept.configmap} is refused: {error}"
        ) from None
    except OSError as error:
        raise ArtifactsError(f"cannot write to {directory}: {error.strerror or error}") from None
    return written
