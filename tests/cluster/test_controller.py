"""The controller on the real API server: fallback shutdown, failover, restarts, 410, HA."""

import asyncio
import os
import signal
import time
from typing import Any

import pytest

from app.controller.actions import Actor
from app.controller.admission_key import SECRET_NAME, ensure_key
from app.controller.controller import Controller
from app.controller.metrics import ControllerMetrics
from app.core import names
from app.kube.client import GoneError, KubeClient, KubeError
from devcluster import operator_shapes as shapes
from devcluster.cluster import LocalCluster
from devcluster.install import NAMESPACE, opt_in_namespace
from devcluster.loadtest import Outcome, prepare_namespace, run_load_test
from devcluster.processes import wait_until
from tests.cluster.reporting import events_for, seconds, wait_for_report

pytestmark = pytest.mark.cluster

LEASE = f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/locust-finisher-controller"


def leader(cluster: LocalCluster) -> str:
    """The leading replica's identity: ``<pod name>_<process nonce>``."""
    return str(cluster.api().get(LEASE)["spec"].get("holderIdentity") or "")


def pod_of(identity: str) -> str:
    return identity.split("_")[0]


def controller_pods(cluster: LocalCluster) -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = cluster.api().get(
        f"/api/v1/namespaces/{NAMESPACE}/pods",
        labelSelector="app.kubernetes.io/name=locust-finisher-controller",
    )["items"]
    return pods


def kill_leader(cluster: LocalCluster) -> str:
    """SIGKILL the leading replica's process (no chance to release the lease)."""
    identity = leader(cluster)
    pod = next(p for p in controller_pods(cluster) if p["metadata"]["name"] == pod_of(identity))
    os.kill(cluster.container_pid(pod, "controller"), signal.SIGKILL)
    return identity


def both_replicas_ready(cluster: LocalCluster) -> bool:
    pods = controller_pods(cluster)
    return len(pods) == 2 and all(
        c.get("ready") for p in pods for c in p.get("status", {}).get("containerStatuses", [])
    )


def controller_test(cluster: LocalCluster, namespace: str, **annotations: str) -> shapes.LoadTest:
    prepare_namespace(cluster, namespace)
    return shapes.LoadTest(
        name="ctl", namespace=namespace, run_time="5s", autoquit=8, master_annotations=annotations
    )


def test_controller_strategy_exporter_is_stopped_once_even_if_the_leader_dies_during_the_ttl(
    cluster: LocalCluster,
) -> None:
    wait_until(lambda: both_replicas_ready(cluster), 120, "two controller replicas")
    test = controller_test(
        cluster,
        "ctl-strategy",
        **{names.STRATEGY_ANNOTATION: "controller", names.TTL_ANNOTATION: "20s"},
    )
    killed: list[str] = []

    def kill_when_master_exits(pod: dict[str, Any] | None, job: dict[str, Any]) -> None:
        statuses = (pod or {}).get("status", {}).get("containerStatuses", [])
        master_done = any(
            s["name"] == "ctl-master" and "terminated" in s["state"] for s in statuses
        )
        if master_done and not killed:
            killed.append(kill_leader(cluster))

    outcome: Outcome = run_load_test(cluster, test, progress=kill_when_master_exits)
    assert killed, "the leader was killed during the TTL"
    assert outcome.pod["spec"]["containers"][0]["name"] != names.FINISHER_CONTAINER
    assert (outcome.phase, outcome.job_condition) == ("Succeeded", "Complete")
    exporter = outcome.terminated("locust-metrics-exporter")
    assert exporter["exitCode"] == 0
    assert outcome.container("locust-metrics-exporter")["restartCount"] == 0
    master = outcome.terminated("ctl-master")
    assert seconds(exporter["finishedAt"]) - seconds(master["finishedAt"]) >= 20, (
        "not before the TTL"
    )
    reported = wait_for_report(cluster, outcome.pod, "ctl-master", "passed")
    assert reported["metadata"]["annotations"][names.EXPORTER_STOPPED_ANNOTATION] == "controller"
    stopped = [
        e
        for e in events_for(cluster, "ctl-strategy", "Pod", outcome.pod["metadata"]["name"])
        if e["reason"] == "ExporterStopped"
    ]
    assert len(stopped) == 1
    assert "by the controller" in stopped[0]["message"]


def test_killing_the_leader_hands_over_within_the_lease_duration(cluster: LocalCluster) -> None:
    wait_until(
        lambda: both_replicas_ready(cluster) and leader(cluster) != "",
        120,
        "a leader and a standby",
    )
    old = leader(cluster)
    started = time.monotonic()
    kill_leader(cluster)
    wait_until(lambda: leader(cluster) not in ("", old), 40, "the standby to take the lease")
    took = time.monotonic() - started
    print(f"\nfailover after SIGKILL: {took:.1f}s")
    assert took <= 15 + 2 * 2 + 2, "lease duration plus two retry periods"

    wait_until(lambda: both_replicas_ready(cluster), 120, "the killed replica back")
    current = leader(cluster)
    started = time.monotonic()
    # A deleted pod gets SIGTERM: the leader hands its lease back before it exits.
    cluster.api().delete(f"/api/v1/namespaces/{NAMESPACE}/pods/{pod_of(current)}")
    wait_until(
        lambda: leader(cluster) not in ("", current), 30, "a new leader after a graceful stop"
    )
    took = time.monotonic() - started
    print(f"failover after SIGTERM: {took:.1f}s")
    assert took < 8, "a released lease is taken at the next retry, not after it expires"


def test_only_the_leader_acts(cluster: LocalCluster) -> None:
    wait_until(
        lambda: both_replicas_ready(cluster) and leader(cluster) != "",
        120,
        "a leader and a standby",
    )
    leading_pod = pod_of(leader(cluster))
    pods = {p["metadata"]["name"]: p for p in controller_pods(cluster)}
    logs_before = {name: len(cluster.pod_log(NAMESPACE, name, "controller")) for name in pods}
    opt_in_namespace(cluster, "ctl-leader")
    cluster.api().create(
        "/api/v1/namespaces/ctl-leader/pods", shapes.quick_master_pod("ctl-leader", "quick")
    )

    def new_log(name: str) -> str:
        return cluster.pod_log(NAMESPACE, name, "controller")[logs_before[name] :]

    wait_until(lambda: '"pod": "quick"' in new_log(leading_pod), 60, "the leader to act on the pod")
    wait_until(
        lambda: '"action": "quit"' in new_log(leading_pod), 60, "the leader to end the exporter"
    )
    standby = next(name for name in pods if name != leading_pod)
    assert '"action"' not in new_log(standby), "the standby never acts"
    assert '"pod": "quick"' not in new_log(standby)


def test_an_api_server_restart_loses_no_completion(cluster: LocalCluster) -> None:
    test = controller_test(cluster, "ctl-restart", **{names.TTL_ANNOTATION: "5s"})
    restarted: list[bool] = []

    def restart_while_running(pod: dict[str, Any] | None, job: dict[str, Any]) -> None:
        if pod and pod.get("status", {}).get("phase") == "Running" and not restarted:
            restarted.append(True)
            cluster.restart_apiserver()

    outcome = run_load_test(cluster, test, progress=restart_while_running)
    assert restarted
    assert outcome.job_condition == "Complete"
    wait_for_report(cluster, outcome.pod, "ctl-master", "passed")


def test_a_watch_from_a_version_the_server_no_longer_has_is_a_410_and_means_relist(
    cluster: LocalCluster,
) -> None:
    async def watch_from_the_beginning_of_time() -> None:
        client = await KubeClient.connect(str(cluster.kubeconfig))
        try:
            # The installation's key, as the controller replicas read it.
            key = await ensure_key(client, "locust-finisher", SECRET_NAME)
            controller = Controller(client, Actor(client, "test"), ControllerMetrics(), key=key)
            with pytest.raises((GoneError, KubeError)) as caught:
                await asyncio.wait_for(controller.listing._watch_from("1"), 30)
            if isinstance(caught.value, KubeError):
                assert caught.value.status == 410
            # A re-list rebuilds every managed pod's facts from the objects alone.
            version = await controller.listing._relist()
            assert version
            assert controller.facts, "the managed pods of earlier tests are known again"
        finally:
            await client.close()

    asyncio.run(watch_from_the_beginning_of_time())
