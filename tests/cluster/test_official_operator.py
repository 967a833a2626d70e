"""Tests shaped as the official locustio/k8s-operator makes them, on the real node.

Its master Job has ``ttlSecondsAfterFinished: 0`` and its master pod no exporter
(docs/official-operator.md). Without locust-finisher, the Job, the pod and Locust's exit code
are gone the moment the test ends. With it, the controller holds the Job until the verdict
and the report are recorded, `wait --test` gives CI the answer, and retention decides how
long the Job then stays.
"""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.core import names
from devcluster import operator_shapes as shapes
from devcluster.api import ApiError
from devcluster.cluster import LocalCluster
from devcluster.loadtest import prepare_namespace, start_wait
from devcluster.processes import wait_until

pytestmark = pytest.mark.cluster

VERSION = "official-0.1.6"


def job_or_none(cluster: LocalCluster, path: str) -> dict[str, Any] | None:
    try:
        return dict(cluster.api().get(path))
    except ApiError:
        return None


def test_a_ttl_0_job_is_kept_10_minutes_after_the_test_and_wait_has_its_verdict_and_numbers(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    prepare_namespace(cluster, "official-pass")
    test = shapes.LoadTest(
        name="smoke", namespace="official-pass", version=VERSION, run_time="6s", autoquit=5
    )
    objects = shapes.load_test_objects(test)
    master_job = next(
        o for o in objects if o["kind"] == "Job" and "master" in o["metadata"]["name"]
    )
    assert master_job["spec"]["ttlSecondsAfterFinished"] == 0
    waiting = start_wait(cluster, test.namespace, test.name, "--report-dir", str(tmp_path))
    cluster.apply(objects)
    printed, _ = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, printed
    answer = json.loads((tmp_path / "summary.json").read_text())
    assert answer["verdict"] == "passed"
    assert answer["exitCode"] == 0
    assert answer["job"] == "smoke-master"
    assert answer["summary"]["requests"] > 0, "the finisher read Locust's numbers"
    assert answer["summary"]["exporter"] == "none in this pod"
    # The verdict recorded, with no retention set the Job's TTL of 0 becomes 10 minutes: a
    # later `wait` or `report` still finds it.
    path = f"/apis/batch/v1/namespaces/{test.namespace}/jobs/smoke-master"

    def settled() -> dict[str, Any] | None:
        job = job_or_none(cluster, path)
        if job is None or names.RETENTION_ANNOTATION not in job["metadata"]["annotations"]:
            return None
        return job

    wait_until(lambda: settled() is not None, 60, "the TTL-0 Job's retention")
    job = settled()
    assert job is not None
    assert job["spec"]["ttlSecondsAfterFinished"] == 600
    later = start_wait(cluster, test.namespace, test.name, "--timeout", "30s")
    printed, _ = later.communicate(timeout=60)
    assert later.returncode == 0, printed


def test_a_failed_verdict_is_kept_by_retention_with_its_report(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    namespace = "official-keep"
    prepare_namespace(cluster, namespace)
    cluster.kubectl("annotate", "namespace", namespace, f"{names.KEEP_FAILED_ANNOTATION}=1h")
    # Locust passes it (--exit-code-on-error 0, so the Job does not retry the pod); half of
    # its requests fail, so the verdict policy fails it.
    test = shapes.LoadTest(
        name="checked",
        namespace=namespace,
        version=VERSION,
        run_time="6s",
        autoquit=5,
        extra_args=("--exit-code-on-error", "0"),
        master_annotations={names.CHECK_FAIL_RATIO_ANNOTATION: "0.01"},
    )
    waiting = start_wait(cluster, namespace, test.name, "--report-dir", str(tmp_path / "wait"))
    cluster.apply(shapes.load_test_objects(test, failing=True))
    printed, _ = waiting.communicate(timeout=300)
    assert waiting.returncode == 1, printed

    path = f"/apis/batch/v1/namespaces/{namespace}/jobs/checked-master"

    def settled() -> bool:
        job = job_or_none(cluster, path)
        return job is not None and names.RETENTION_ANNOTATION in job["metadata"]["annotations"]

    wait_until(settled, 60, "the failed Job's retention")
    job = job_or_none(cluster, path)
    assert job is not None
    assert job["spec"]["ttlSecondsAfterFinished"] == 3600
    assert job["metadata"]["labels"][names.RESULT_LABEL] == "failed"
    assert job["metadata"]["annotations"][names.RESULT_ANNOTATION] == "failed"
    assert (tmp_path / "wait" / "report.html").read_bytes().startswith(b"<!")

    fetched = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli.main",
            "report",
            "--test",
            test.name,
            "-n",
            namespace,
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--dir",
            str(tmp_path / "later"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert fetched.returncode == 0, fetched.stderr
    report = (tmp_path / "later" / "report.html").read_text()
    assert "/fail" in report, "Locust's report lists the failing request"
