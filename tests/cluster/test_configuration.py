"""Cluster-wide defaults (the ConfigMap) take effect without a webhook restart."""

import pytest

from devcluster.cluster import LocalCluster
from devcluster.install import NAMESPACE, opt_in_namespace, probe_pod, webhook_answers
from devcluster.processes import wait_until

pytestmark = pytest.mark.cluster


def test_cluster_defaults_change_without_a_restart_or_a_dropped_admission(
    cluster: LocalCluster,
) -> None:
    opt_in_namespace(cluster, "defaults-reload")
    config = cluster.api().get(f"/api/v1/namespaces/{NAMESPACE}/configmaps/locust-finisher-config")
    original = config["data"]["config.yaml"]
    restarts_before = webhook_restarts(cluster)
    try:
        config["data"]["config.yaml"] = original.replace("ttl: 30s", "ttl: 7s")
        cluster.api().replace(
            f"/api/v1/namespaces/{NAMESPACE}/configmaps/locust-finisher-config", config
        )
        seen: list[str] = []

        def new_ttl_in_force() -> bool:
            assert webhook_answers(cluster, "defaults-reload"), "an admission was not mutated"
            seen.append(probe_ttl(cluster, "defaults-reload"))
            return seen[-1] == "7s"

        wait_until(new_ttl_in_force, 90, "the new default TTL to be used", interval=0.5)
        assert webhook_restarts(cluster) == restarts_before
    finally:
        latest = cluster.api().get(
            f"/api/v1/namespaces/{NAMESPACE}/configmaps/locust-finisher-config"
        )
        latest["data"]["config.yaml"] = original
        cluster.api().replace(
            f"/api/v1/namespaces/{NAMESPACE}/configmaps/locust-finisher-config", latest
        )


def probe_ttl(cluster: LocalCluster, namespace: str) -> str:
    created = cluster.api().create(
        f"/api/v1/namespaces/{namespace}/pods", probe_pod(namespace), dryRun="All"
    )
    env = {e["name"]: e["value"] for e in created["spec"]["containers"][0]["env"]}
    return str(env["LOCUST_FINISHER_TTL"])


def webhook_restarts(cluster: LocalCluster) -> int:
    pods = cluster.api().get(
        f"/api/v1/namespaces/{NAMESPACE}/pods",
        labelSelector="app.kubernetes.io/name=locust-finisher-webhook",
    )["items"]
    return sum(
        c.get("restartCount", 0) for p in pods for c in p["status"].get("containerStatuses", [])
    )
