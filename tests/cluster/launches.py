"""Load tests a cluster test module starts together, each in a namespace of its own.

A module lists its :class:`Launch` es by the test that checks each; :class:`Started` creates
them all when the module starts (namespace, whatever else the namespace needs, the target,
`wait` if asked for, then the operator's objects), and each test collects its own. Their
Locust containers request little CPU, so the 2-CPU node runs them all at once, and a module
takes about as long as its slowest test.
"""

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.core import names
from devcluster import operator_shapes as shapes
from devcluster.cluster import LocalCluster
from devcluster.loadtest import Outcome, collect_outcome, start_wait
from devcluster.processes import wait_until
from tests.cluster.conftest import SharedCluster

TTL_SECONDS = 5


@dataclass(frozen=True)
class Launch:
    """One load test: where it runs, how, and whether `wait` follows it."""

    namespace: str
    version: str = "go-2.2"
    failing: bool = False
    annotations: tuple[tuple[str, str], ...] = ()
    restricted: bool = False
    namespace_labels: tuple[tuple[str, str], ...] = ()
    namespace_annotations: tuple[tuple[str, str], ...] = ()
    # Made in the namespace before anything else (a LimitRange, a ResourceQuota).
    namespace_objects: tuple[dict[str, Any], ...] = ()
    # The target's container runs as UID 1000 (False: as whatever UID the pod is given).
    target_fixed_uid: bool = True
    # The target says what it needs (as a LimitRange or quota asks every container to).
    target_resources: bool = False
    pod_level_resources: bool = False
    cpu_request: str = "10m"
    # The master Job only once its worker pod exists (a quota then counts the worker first).
    master_last: bool = False
    # `wait` started before the test, with these flags ("{dir}": the test's report folder).
    wait: tuple[str, ...] | None = None

    def load_test(self) -> shapes.LoadTest:
        return shapes.LoadTest(
            name="e2e",
            namespace=self.namespace,
            version=self.version,
            run_time="6s",
            autoquit=10,  # as the README asks: the finisher confirms only settled totals
            master_annotations={names.TTL_ANNOTATION: f"{TTL_SECONDS}s", **dict(self.annotations)},
            restricted=self.restricted,
            cpu_request=self.cpu_request,
            pod_level_resources=self.pod_level_resources,
        )

    def namespace_object(self) -> dict[str, Any]:
        labels = {"locust-finisher.io/inject": "enabled", **dict(self.namespace_labels)}
        metadata: dict[str, Any] = {"name": self.namespace, "labels": labels}
        if self.namespace_annotations:
            metadata["annotations"] = dict(self.namespace_annotations)
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


class Started:
    """A module's load tests, started together; each test collects its own."""

    def __init__(self, cluster: LocalCluster, folder: Path, launches: list[Launch]) -> None:
        self.cluster = cluster
        self.folder = folder
        self.launches = {launch.namespace: launch for launch in launches}
        self.waits: dict[str, subprocess.Popen[str]] = {}
        for launch in launches:
            cluster.apply([launch.namespace_object()])
            objects = [
                {**item, "metadata": {**item["metadata"], "namespace": launch.namespace}}
                for item in launch.namespace_objects
            ]
            if objects:
                cluster.apply(objects)
            cluster.apply(
                shapes.target_objects(
                    launch.namespace,
                    fixed_uid=launch.target_fixed_uid,
                    resources=launch.target_resources,
                )
            )
        for launch in launches:
            cluster.kubectl(
                "rollout", "status", "-n", launch.namespace, "deployment/target", "--timeout=60s"
            )
        deferred: list[tuple[Launch, dict[str, Any]]] = []
        for launch in launches:
            if launch.wait is not None:
                flags = [flag.replace("{dir}", str(self.folder_of(launch))) for flag in launch.wait]
                self.waits[launch.namespace] = start_wait(cluster, launch.namespace, "e2e", *flags)
            objects = shapes.load_test_objects(launch.load_test(), launch.failing)
            if launch.master_last:
                master = shapes.master_job(launch.load_test())
                objects = [item for item in objects if item != master]
                deferred.append((launch, master))
            cluster.apply(objects)
        selector = "performance-test-pod-name=e2e-worker"
        for launch, master in deferred:

            def worker_exists(namespace: str = launch.namespace) -> bool:
                listed = cluster.kubectl(
                    "get", "pods", "-n", namespace, "-l", selector, "-o", "name"
                )
                return bool(listed.strip())

            wait_until(worker_exists, 60, f"the worker pod in {launch.namespace}")
            cluster.apply([master])

    def folder_of(self, launch: Launch) -> Path:
        return self.folder / launch.namespace

    def outcome(self, namespace: str) -> Outcome:
        """How the load test in ``namespace`` ended, once its master Job has."""
        return collect_outcome(self.cluster, self.launches[namespace].load_test())

    def printed(self, namespace: str) -> tuple[int, str]:
        """What its `wait` printed, and its exit code."""
        waiting = self.waits[namespace]
        printed, _ = waiting.communicate(timeout=120)
        return waiting.returncode, printed

    def stop(self) -> None:
        for waiting in self.waits.values():
            if waiting.poll() is None:
                waiting.kill()
                waiting.communicate()
        for namespace in self.launches:
            self.cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def start_selected(
    launches: dict[str, Launch],
    shared_cluster: SharedCluster,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Started]:
    """The launches of the tests selected in this run (the ``oldest`` run selects some)."""
    selected = {item.name for item in request.session.items if item.path == request.path}
    chosen = [launch for test, launch in launches.items() if test in selected]
    folder = tmp_path_factory.mktemp("launches")
    for launch in chosen:
        (folder / launch.namespace).mkdir()
    running = Started(shared_cluster.get(), folder, chosen)
    yield running
    running.stop()


def started_fixture(launches: dict[str, Launch]) -> Any:
    """A module's ``started`` fixture: its selected launches, started together once."""

    @pytest.fixture(scope="module")
    def started(
        shared_cluster: SharedCluster,
        request: pytest.FixtureRequest,
        tmp_path_factory: pytest.TempPathFactory,
    ) -> Iterator[Started]:
        yield from start_selected(launches, shared_cluster, request, tmp_path_factory)

    return started
