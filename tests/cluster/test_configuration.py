"""Cluster-wide defaults (the ConfigMap) take effect without a webhook restart."""

import pytest

from devcluster.cluster import LocalCluster
from devcluster.install import (
    NAMESPACE,
    cluster_config,
    opt_in_namespace,
    probe_finisher,
    webhook_answers,
)
from devcluster.processes import wait_until

pytestmark = pytest.mark.cluster


def test_cluster_defaults_change_without_a_restart_or_a_dropped_admission(
    cluster: LocalCluster,
) -> None:
    opt_in_namespace(cluster, "defaults-reload")
    restarts_before = webhook_restarts(cluster)
    with cluster_config(cluster, lambda text: text.replace("ttl: auto", "ttl: 7s")):
        seen: list[str] = []

        def new_ttl_in_force() -> bool:
            assert webhook_answers(cluster, "defaults-reload"), "an admission was not mutated"
            seen.append(probe_ttl(cluster, "defaults-reload"))
            return seen[-1] == "7s"

        wait_until(new_ttl_in_force, 90, "the new default TTL to be used", interval=0.5)
        assert webhook_restarts(cluster) == restarts_before


def probe_ttl(cluster: LocalCluster, namespace: str) -> str:
    env = {e["name"]: e.get("value") for e in probe_finisher(cluster, namespace)["env"]}
    return str(env["LOCUST_FINISHER_TTL"])


def webhook_restarts(cluster: LocalCluster) -> int:
    pods = cluster.api().get(
        f"/api/v1/namespaces/{NAMESPACE}/pods",
        labelSelector="app.kubernetes.io/name=locust-finisher-webhook",
    )["items"]
    return sum(
        c.get("restartCount", 0) for p in pods for c in p["status"].get("containerStatuses", [])
    )
