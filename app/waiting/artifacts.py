"""Locust's artifacts as kept in the cluster, for ``wait`` and ``report``.

The controller keeps what a test's finisher handed it (Locust's HTML report, final stats,
failures, exceptions) in one ConfigMap next to the Job, labelled with the pod's uid
(app/core/artifacts.py). This is the one place the readers look for them: ``wait
--report-dir`` after the verdict, ``locust-finisher report`` any time while the Job is kept.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.core import names, podview
from app.core.artifacts import (
    EXCEPTIONS_JSON,
    FAILURES_CSV,
    REPORT_HTML,
    STATS_JSON,
    KeptFiles,
    LeftOut,
    artifacts_selector,
    kept_files,
)
from app.core.results import FinishedTest
from app.kube.client import KubeClient, KubeError, path_of


@dataclass(frozen=True)
class KeptArtifacts:
    """What was kept of a test beyond its summary."""

    html: bytes | None = None  # Locust's /stats/report page
    stats: dict[str, Any] | None = None  # Locust's final stats, fuller than the summary's
    failures_csv: bytes | None = None
    exceptions: bytes | None = None  # Locust's /exceptions JSON
    left_out: list[LeftOut] = field(default_factory=list)
    configmap: str = ""

    def files(self) -> dict[str, bytes]:
        """The kept files by the name they are written under."""
        found: dict[str, bytes | None] = {
            REPORT_HTML: self.html,
            STATS_JSON: None if self.stats is None else _json(self.stats),
            FAILURES_CSV: self.failures_csv,
            EXCEPTIONS_JSON: self.exceptions,
        }
        return {name: data for name, data in found.items() if data is not None}


def _json(document: Any) -> bytes:
    return (json.dumps(document, indent=2) + "\n").encode()


def _artifacts(configmap: Mapping[str, Any]) -> KeptArtifacts:
    kept: KeptFiles = kept_files(configmap)
    stats: dict[str, Any] | None = None
    left_out = list(kept.left_out)
    if STATS_JSON in kept.files:
        try:
            document = json.loads(kept.files[STATS_JSON])
        except ValueError:
            document = None
        if isinstance(document, dict):
            stats = document
        else:
            left_out.append(LeftOut(STATS_JSON, "kept, but not a JSON object"))
    return KeptArtifacts(
        html=kept.files.get(REPORT_HTML),
        stats=stats,
        failures_csv=kept.files.get(FAILURES_CSV),
        exceptions=kept.files.get(EXCEPTIONS_JSON),
        left_out=left_out,
        configmap=podview.text(podview.mapping(configmap, "metadata"), "name") or "",
    )


def _newest(configmaps: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    def kept_at(configmap: Mapping[str, Any]) -> str:
        metadata = podview.mapping(configmap, "metadata")
        return podview.text(metadata, "creationTimestamp") or ""

    return max(configmaps, key=kept_at, default=None)


def _owned_by(configmap: Mapping[str, Any], uid: str) -> bool:
    references = podview.objects(podview.mapping(configmap, "metadata"), "ownerReferences")
    return bool(uid) and any(ref.get("uid") == uid for ref in references)


async def _configmaps(client: KubeClient, namespace: str, selector: str) -> list[Any]:
    listed = await client.get(path_of("configmaps", namespace), labelSelector=selector)
    return [item for item in listed.get("items") or [] if isinstance(item, dict)]


async def artifacts_of_pod(client: KubeClient, namespace: str, pod: str) -> KeptArtifacts | None:
    """The artifacts kept for pod ``pod`` (found by its uid, or its name once it is gone).

    Raises:
        KubeError: when the API cannot be asked.
    """
    try:
        found = await client.get(path_of("pods", namespace, pod))
        uid: str | None = podview.text(podview.mapping(found, "metadata"), "uid") or None
    except KubeError as error:
        if error.status != 404:
            raise
        uid = None
    configmap = _newest(await _configmaps(client, namespace, artifacts_selector(uid, pod_name=pod)))
    return None if configmap is None else _artifacts(configmap)


async def artifacts_of_job(client: KubeClient, namespace: str, job: str) -> KeptArtifacts | None:
    """The newest artifacts kept for any pod of Job ``job``.

    Raises:
        KubeError: when the API cannot be asked (404 when there is no such Job).
    """
    found = await client.get(path_of("jobs", namespace, job, group="batch/v1"))
    uid = podview.text(podview.mapping(found, "metadata"), "uid") or ""
    # Every artifacts ConfigMap of the namespace in one list; the Job's own are those it owns
    # (a label can be copied, an owner's uid cannot), also once its pods are gone.
    reports = await _configmaps(client, namespace, names.REPORT_OF_LABEL)
    configmap = _newest([c for c in reports if _owned_by(c, uid)])
    return None if configmap is None else _artifacts(configmap)


async def fetch_artifacts(client: KubeClient, finished: FinishedTest) -> KeptArtifacts | None:
    """The artifacts kept for ``finished``; None when none were kept or cannot be read.

    Runs after the wait, with the same client (each request bounded by it); the verdict and
    the summary stand without the report.
    """
    try:
        return await artifacts_of_pod(client, finished.namespace, finished.pod)
    except KubeError:
        return None
