"""Run one operator-shaped Locust test on the local cluster and collect what happened.

Shared by the demo and the end-to-end tests: create the objects, follow the master Job to
its end, then gather the verdict, the pods, Locust's own final count (from the master's
log) and Prometheus's last value.
"""

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.core import names
from devcluster import operator_shapes as shapes
from devcluster.cluster import LocalCluster
from devcluster.install import opt_in_namespace

_AGGREGATED_ROW = re.compile(r"^\s*Aggregated\s+(\d+)\s", re.MULTILINE)


@dataclass
class Outcome:
    """How a load test ended."""

    job: dict[str, Any]
    pod: dict[str, Any]
    master_log: str
    prometheus_requests: float | None

    @property
    def job_condition(self) -> str:
        """``Complete`` or ``Failed``."""
        for condition in self.job.get("status", {}).get("conditions", []):
            if condition["type"] in ("Complete", "Failed") and condition["status"] == "True":
                return str(condition["type"])
        return "Running"

    @property
    def phase(self) -> str:
        """The master pod's phase."""
        return str(self.pod.get("status", {}).get("phase", ""))

    def container(self, name: str) -> dict[str, Any]:
        """A container's status."""
        for status in self.pod["status"].get("containerStatuses", []) + self.pod["status"].get(
            "initContainerStatuses", []
        ):
            if status["name"] == name:
                return dict(status)
        raise KeyError(name)

    def terminated(self, name: str) -> dict[str, Any]:
        """A container's terminated state."""
        return dict(self.container(name)["state"]["terminated"])

    @property
    def locust_requests(self) -> int | None:
        """Locust's own final request count, from the master's printed summary."""
        match = _AGGREGATED_ROW.search(self.master_log)
        return int(match.group(1)) if match else None


def prepare_namespace(cluster: LocalCluster, namespace: str, **labels: str) -> None:
    """An opted-in namespace (with any extra labels) and a ready load target in it."""
    opt_in_namespace(cluster, namespace, **labels)
    cluster.apply(shapes.target_objects(namespace))
    cluster.kubectl("rollout", "status", "-n", namespace, "deployment/target", "--timeout=60s")


def job_finished(job: dict[str, Any]) -> bool:
    """Whether a Job has reached Complete or Failed."""
    return any(
        c["type"] in ("Complete", "Failed") and c["status"] == "True"
        for c in job.get("status", {}).get("conditions", [])
    )


def master_pod(cluster: LocalCluster, test: shapes.LoadTest) -> dict[str, Any] | None:
    """The master pod of ``test``, if it exists."""
    pods = cluster.api().get(
        f"/api/v1/namespaces/{test.namespace}/pods",
        labelSelector=f"job-name={test.node_name}-master",
    )["items"]
    return pods[0] if pods else None


def run_load_test(
    cluster: LocalCluster,
    test: shapes.LoadTest,
    failing: bool = False,
    timeout: float = 180,
    progress: Callable[[dict[str, Any] | None, dict[str, Any]], None] | None = None,
) -> Outcome:
    """Create the test's objects and wait until its master Job has finished."""
    cluster.apply(shapes.load_test_objects(test, failing))
    return collect_outcome(cluster, test, timeout, progress)


def collect_outcome(
    cluster: LocalCluster,
    test: shapes.LoadTest,
    timeout: float = 180,
    progress: Callable[[dict[str, Any] | None, dict[str, Any]], None] | None = None,
) -> Outcome:
    """Wait until the master Job of a test already created has finished; how it ended."""
    job_path = f"/apis/batch/v1/namespaces/{test.namespace}/jobs/{test.node_name}-master"
    deadline = time.monotonic() + timeout
    while True:
        job = cluster.api().get(job_path)
        if progress is not None:
            progress(master_pod(cluster, test), job)
        if job_finished(job):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"{test.name}: master Job not finished after {timeout:.0f}s")
        time.sleep(1)
    pod = master_pod(cluster, test)
    assert pod is not None
    master = shapes.master_container_name(test)
    master_log = cluster.pod_log(test.namespace, pod["metadata"]["name"], master)
    query = (
        f'last_over_time(locust_requests_num_requests{{name="Aggregated",'
        f'pod="{pod["metadata"]["name"]}"}}[15m])'
    )
    value = cluster.prometheus.value(query) if cluster.prometheus else None
    return Outcome(job=job, pod=pod, master_log=master_log, prometheus_requests=value)


def start_wait(
    cluster: LocalCluster, namespace: str, test: str, *extra: str
) -> subprocess.Popen[str]:
    """``locust-finisher wait --test`` as CI runs it, with the cluster's kubeconfig.

    ``extra`` flags come last, so they override the 5-minute timeout. A CI job's step summary
    is not for these waits: ``GITHUB_STEP_SUMMARY`` is left out of their environment.
    """
    env = {name: value for name, value in os.environ.items() if name != "GITHUB_STEP_SUMMARY"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli.main",
            "wait",
            "--test",
            test,
            "-n",
            namespace,
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--timeout",
            "5m",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def start_vanishing_test(
    cluster: LocalCluster, namespace: str, name: str, failing: bool
) -> tuple[str, subprocess.Popen[str]]:
    """A short test whose master Job has ``ttlSecondsAfterFinished: 0``, followed by `wait`.

    Such a Job (the official operator's kind) is deleted with its pod the moment it finishes,
    unless the controller holds it. The Job's API path, and the running `wait`.
    """
    test = shapes.LoadTest(
        name=name,
        namespace=namespace,
        run_time="4s",
        autoquit=8,
        master_annotations={names.TTL_ANNOTATION: "1s", names.WAIT_FOR_SCRAPE_ANNOTATION: "false"},
    )
    objects = shapes.load_test_objects(test, failing)
    for item in objects:
        if item["kind"] == "Job" and item["metadata"]["name"] == f"{test.node_name}-master":
            item["spec"]["ttlSecondsAfterFinished"] = 0
    waiting = start_wait(cluster, namespace, test.name)
    cluster.apply(objects)
    return f"/apis/batch/v1/namespaces/{namespace}/jobs/{test.node_name}-master", waiting
