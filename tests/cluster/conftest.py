"""One local Kubernetes for all cluster tests, with locust-finisher installed as users do."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devcluster.cluster import LocalCluster
from devcluster.install import install


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    if os.geteuid() != 0:
        pytest.skip("the local cluster needs root (network namespaces, mounts)")
    with LocalCluster() as running:
        install(running, tmp_path_factory.mktemp("install"), overlay="dev")
        yield running


@pytest.fixture(scope="session")
def manifests_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("manifests")
