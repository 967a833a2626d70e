"""Notifications on the real node: a receiver pod gets each run's verdict once, failover or not.

The receiver (testkit/notify_receiver.py, in the Python image) accepts each Idempotency-Key
once and can answer 503 to its first posts; the test reads what it got through the API
server's pod proxy. The namespace names the Secret (locust-finisher.io/notify-secret) whose
url is the receiver's.
"""

import base64
import time
from pathlib import Path
from typing import Any

import pytest

from app.core import names
from devcluster import operator_shapes as shapes
from devcluster.cluster import LocalCluster
from devcluster.loadtest import run_load_test
from devcluster.processes import wait_until
from tests.cluster.reporting import events_for
from tests.cluster.test_controller import both_replicas_ready, controller_test, kill_leader, leader

pytestmark = pytest.mark.cluster

RECEIVER = Path(__file__).resolve().parents[2] / "testkit" / "notify_receiver.py"


def start_receiver(cluster: LocalCluster, namespace: str, fail_first: int) -> None:
    """The receiver pod, its script from a ConfigMap, and the Secret that points at it."""
    cluster.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "notify-receiver", "namespace": namespace},
                "data": {"notify_receiver.py": RECEIVER.read_text()},
            },
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "notify-receiver", "namespace": namespace},
                "spec": {
                    "containers": [
                        {
                            "name": "receiver",
                            "image": shapes.PYTHON_IMAGE,
                            # The node's stand-in Python image has python3 only.
                            "command": ["python3", "/receiver/notify_receiver.py"],
                            "env": [{"name": "FAIL_FIRST", "value": str(fail_first)}],
                            "ports": [{"containerPort": 8080}],
                            "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                            "volumeMounts": [{"name": "script", "mountPath": "/receiver"}],
                        }
                    ],
                    "volumes": [{"name": "script", "configMap": {"name": "notify-receiver"}}],
                },
            },
        ]
    )
    path = f"/api/v1/namespaces/{namespace}/pods/notify-receiver"
    try:
        cluster.kubectl(
            "wait", "-n", namespace, "--for=condition=Ready", "pod/notify-receiver", "--timeout=60s"
        )
    except RuntimeError:
        statuses = cluster.api().get(path)["status"].get("containerStatuses")
        raise AssertionError(f"the receiver is not ready: {statuses}") from None
    ip = cluster.api().get(path)["status"]["podIP"]
    url = base64.b64encode(f"http://{ip}:8080/hook".encode()).decode()
    cluster.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": names.NOTIFY_SECRET, "namespace": namespace},
                "data": {"url": url},
            }
        ]
    )
    cluster.api().patch(
        f"/api/v1/namespaces/{namespace}",
        {"metadata": {"annotations": {names.NOTIFY_SECRET_ANNOTATION: names.NOTIFY_SECRET}}},
    )


def posts(cluster: LocalCluster, namespace: str) -> list[dict[str, Any]]:
    path = f"/api/v1/namespaces/{namespace}/pods/notify-receiver:8080/proxy/posts"
    found: list[dict[str, Any]] = cluster.api().get(path)["posts"]
    return found


def job_mark(cluster: LocalCluster, namespace: str, job: str) -> str:
    found = cluster.api().get(f"/apis/batch/v1/namespaces/{namespace}/jobs/{job}")
    return str(found["metadata"].get("annotations", {}).get(names.NOTIFICATION_ANNOTATION, ""))


def sent_events(cluster: LocalCluster, namespace: str, job: str) -> list[dict[str, Any]]:
    return [
        e for e in events_for(cluster, namespace, "Job", job) if e["reason"] == "NotificationSent"
    ]


def test_one_run_is_one_post_with_its_verdict_reason_and_how_to_fetch_its_report(
    cluster: LocalCluster,
) -> None:
    namespace = "notify-once"
    test = controller_test(cluster, namespace, **{names.CHECK_P95_ANNOTATION: "1ms"})
    start_receiver(cluster, namespace, fail_first=0)
    outcome = run_load_test(cluster, test)
    uid = outcome.pod["metadata"]["uid"]
    wait_until(lambda: '"state":"sent"' in job_mark(cluster, namespace, "ctl-master"), 120, "sent")
    time.sleep(5)  # anything posted twice would be posted by now
    (only,) = posts(cluster, namespace)
    assert (only["key"], only["status"], only["accepted"]) == (uid, 200, True)
    body = only["body"]
    assert (body["version"], body["namespace"], body["job"], body["uid"]) == (
        1,
        namespace,
        "ctl-master",
        uid,
    )
    assert (body["verdict"], body["reason"], body["failedChecks"]) == (
        "failed",
        "check:p95",
        ["p95"],
    )
    assert body["numbers"]["requests"] > 0
    assert (
        body["fetch"]["report"] == f"locust-finisher report --job ctl-master -n {namespace} --dir ."
    )
    assert len(sent_events(cluster, namespace, "ctl-master")) == 1


def test_a_failover_during_a_receiver_outage_still_delivers_exactly_once(
    cluster: LocalCluster,
) -> None:
    wait_until(lambda: both_replicas_ready(cluster) and leader(cluster) != "", 120, "two replicas")
    namespace = "notify-failover"
    test = controller_test(cluster, namespace)
    # 503 to the first three posts: 1 s and 2 s apart, so the leader is killed between them.
    start_receiver(cluster, namespace, fail_first=3)
    outcome = run_load_test(cluster, test)
    uid = outcome.pod["metadata"]["uid"]
    wait_until(lambda: bool(posts(cluster, namespace)), 120, "the first post (answered 503)")
    assert '"state":"claimed"' in job_mark(cluster, namespace, "ctl-master")
    killed = kill_leader(cluster)
    killed_at = time.time()
    wait_until(lambda: '"state":"sent"' in job_mark(cluster, namespace, "ctl-master"), 120, "sent")
    time.sleep(5)
    got = posts(cluster, namespace)
    print(f"\nposts: {[(round(p['at'] - killed_at, 1), p['status']) for p in got]}")
    assert {p["key"] for p in got} == {uid}, "every post names the run"
    accepted = [p for p in got if p["accepted"]]
    assert len(accepted) == 1
    assert [p["status"] for p in got].count(200) == 1, "nothing posted after it was accepted"
    assert accepted[0]["at"] > killed_at
    assert accepted[0]["body"]["verdict"] == "passed"
    (sent,) = sent_events(cluster, namespace, "ctl-master")
    assert sent["reportingInstance"] not in ("", killed), "the new leader delivered it"
