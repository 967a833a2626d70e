"""Retention on a real API server: clean up passed tests' Jobs, keep failed ones.

The namespace says ``keep-passed: 0s`` and ``keep-failed: 1h``. Both master Jobs are made as
the official locustio/k8s-operator makes them, with ``ttlSecondsAfterFinished: 0``: without
the controller's hold, each would be deleted, pod and exit code with it, the moment it
finished. With it, the verdict is recorded first; then the passed Job goes at once and the
failed one stays, its verdict in its annotations and label.
"""

import time
from typing import Any

import pytest

from app.core import names
from devcluster.api import ApiError
from devcluster.cluster import LocalCluster
from devcluster.loadtest import job_finished, prepare_namespace, start_vanishing_test
from devcluster.processes import wait_until

pytestmark = pytest.mark.cluster

RETENTION = {names.KEEP_PASSED_ANNOTATION: "0s", names.KEEP_FAILED_ANNOTATION: "1h"}


def start_test(cluster: LocalCluster, namespace: str, failing: bool) -> tuple[str, Any]:
    """A test whose master Job has ttlSecondsAfterFinished 0; its Job's path and a `wait`."""
    prepare_namespace(cluster, namespace)
    cluster.kubectl(
        "annotate", "namespace", namespace, *(f"{key}={value}" for key, value in RETENTION.items())
    )
    return start_vanishing_test(cluster, namespace, "kept", failing)


def job_or_none(cluster: LocalCluster, path: str) -> dict[str, Any] | None:
    try:
        return dict(cluster.api().get(path))
    except ApiError:
        return None


def held(job: dict[str, Any] | None) -> bool:
    if job is None:
        return False
    annotations = job["metadata"].get("annotations", {})
    return (
        annotations.get(names.HELD_TTL_ANNOTATION) == "0"
        and "ttlSecondsAfterFinished" not in job["spec"]
    )


def test_a_passed_tests_job_is_held_for_its_verdict_then_deleted(cluster: LocalCluster) -> None:
    path, waiting = start_test(cluster, "keep-passed", failing=False)
    wait_until(lambda: held(job_or_none(cluster, path)), 60, "the Job's TTL 0 to be held")
    wait_until(lambda: job_or_none(cluster, path) is None, 240, "the passed Job to be deleted")
    printed, _ = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, printed


def test_a_failed_tests_job_is_kept_with_its_verdict(cluster: LocalCluster) -> None:
    path, waiting = start_test(cluster, "keep-failed", failing=True)
    wait_until(lambda: held(job_or_none(cluster, path)), 60, "the Job's TTL 0 to be held")

    def settled() -> bool:
        job = job_or_none(cluster, path)
        annotations = job["metadata"].get("annotations", {}) if job else {}
        return names.RETENTION_ANNOTATION in annotations

    wait_until(settled, 240, "the failed Job's retention to be set")
    printed, _ = waiting.communicate(timeout=120)
    assert waiting.returncode == 1, printed
    time.sleep(5)  # a Job with TTL 0 would be gone by now
    job = job_or_none(cluster, path)
    assert job is not None, "the failed Job was deleted"
    assert job_finished(job)
    annotations, labels = job["metadata"]["annotations"], job["metadata"].get("labels", {})
    assert annotations[names.RESULT_ANNOTATION] == "failed"
    assert names.SUMMARY_ANNOTATION in annotations
    assert labels[names.RESULT_LABEL] == "failed"
    assert job["spec"]["ttlSecondsAfterFinished"] == 3600
    assert names.HELD_TTL_ANNOTATION not in annotations
    assert annotations[names.RETENTION_ANNOTATION] == "keep-failed 1h from the namespace"
    selected = cluster.kubectl(
        "get",
        "jobs",
        "-n",
        "keep-failed",
        "-l",
        f"{names.RESULT_LABEL}=failed",
        "-o",
        "name",
    )
    assert selected.strip() == f"job.batch/{job['metadata']['name']}"
