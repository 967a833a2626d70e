"""One local Kubernetes for the cluster tests, with locust-finisher installed as users do.

A machine runs one real node at a time, so the shared cluster is stopped before a test
module that needs a fresh one starts its own; those modules run last.
"""

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devcluster.cluster import LocalCluster
from devcluster.install import install

# Modules that start their own cluster; they run after every module that shares one.
FRESH_CLUSTER_MODULES = ("test_host_hygiene.py", "test_install_paths.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the fresh-cluster modules last, so the shared cluster starts only once."""
    items.sort(key=lambda item: item.path.name in FRESH_CLUSTER_MODULES)


class SharedCluster:
    """The cluster most tests share: started on first use, stoppable to make room."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self._stack = contextlib.ExitStack()
        self._cluster: LocalCluster | None = None
        self._failure: str | None = None

    def get(self) -> LocalCluster:
        """The running shared cluster (started, and locust-finisher installed, if need be)."""
        if self._failure is not None:
            # Once is enough: every later test would wait minutes for the same failure.
            raise RuntimeError(f"the shared cluster did not start: {self._failure}")
        if self._cluster is None:
            try:
                running = self._stack.enter_context(LocalCluster())
                install(running, self.scratch, overlay="dev")
            except Exception as error:
                self._failure = str(error).splitlines()[0] if str(error) else repr(error)
                self._stack.close()
                raise
            self._cluster = running
        return self._cluster

    def stop(self) -> None:
        """Stop it (the next ``get`` starts a new one)."""
        self._stack.close()
        self._cluster = None


@pytest.fixture(scope="session")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedCluster]:
    if os.geteuid() != 0:
        pytest.skip("the local cluster needs root (cgroups, mounts, network namespaces)")
    holder = SharedCluster(tmp_path_factory.mktemp("install"))
    yield holder
    holder.stop()


def _namespaces(cluster: LocalCluster) -> set[str]:
    listed = cluster.api().get("/api/v1/namespaces")["items"]
    return {namespace["metadata"]["name"] for namespace in listed}


@pytest.fixture
def cluster(shared_cluster: SharedCluster) -> Iterator[LocalCluster]:
    """The shared cluster; the namespaces a test creates go when it ends.

    The node has two CPUs and a real scheduler: pods a test leaves running (an unmutated
    master never completes, by design) would starve the next test's pods.
    """
    running = shared_cluster.get()
    before = _namespaces(running)
    yield running
    for namespace in sorted(_namespaces(running) - before):
        running.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture(scope="session")
def manifests_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("manifests")
