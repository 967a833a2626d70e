"""Our faults never stop a test from running, measured on the real kubelet.

Why the finisher is a regular container and not a native sidecar: a native sidecar (an init
container with ``restartPolicy: Always``) whose image cannot be pulled holds every container
after it, so the test never starts. A regular container whose image cannot be pulled holds
no container back, but keeps the pod from being Ready, so the operator's Service has no
endpoint and the workers cannot reach the master: the controller then makes the Services that
select the pod publish not-ready addresses, the test runs to its end, and the controller
records its verdict and ends the exporter.
"""

from typing import Any

import pytest

from app.core import names
from devcluster import operator_shapes as shapes
from devcluster.cluster import LocalCluster
from devcluster.install import cluster_config, probe_finisher
from devcluster.loadtest import master_pod, prepare_namespace
from devcluster.processes import wait_until

pytestmark = pytest.mark.cluster

# No registry has it: pulling it fails as a mistyped or unpublished image does.
UNPULLABLE = "locust-finisher.local/never-published:0"
PULL_FAILURES = ("ErrImagePull", "ImagePullBackOff")


def container_statuses(pod: dict[str, Any], kind: str = "containerStatuses") -> dict[str, Any]:
    return {s["name"]: s for s in pod.get("status", {}).get(kind, [])}


def waiting_reason(status: dict[str, Any] | None) -> str:
    return str(((status or {}).get("state") or {}).get("waiting", {}).get("reason", ""))


def test_a_native_sidecar_that_cannot_be_pulled_never_lets_the_test_start(
    cluster: LocalCluster,
) -> None:
    # Not opted in: this pod is built by hand, as the webhook would build a sidecar.
    namespace = "safety-sidecar"
    cluster.kubectl("create", "namespace", namespace)
    path = f"/api/v1/namespaces/{namespace}/pods"
    cluster.api().create(
        path,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "sidecar", "namespace": namespace},
            "spec": {
                "restartPolicy": "Never",
                "initContainers": [
                    {"name": "finisher", "image": UNPULLABLE, "restartPolicy": "Always"}
                ],
                "containers": [
                    {"name": "master", "image": shapes.PYTHON_IMAGE, "command": ["true"]}
                ],
            },
        },
    )
    seen: dict[str, Any] = {}

    def pull_failed_twice() -> bool:
        seen.update(cluster.api().get(f"{path}/sidecar"))
        status = container_statuses(seen, "initContainerStatuses").get("finisher")
        # Back-off: the kubelet has tried, failed and is waiting to try again.
        return waiting_reason(status) == "ImagePullBackOff"

    wait_until(pull_failed_twice, 120, "the sidecar's image pull to fail and back off")
    master = container_statuses(seen).get("master", {})
    assert "running" not in master.get("state", {})
    assert "terminated" not in master.get("state", {})
    assert seen["status"]["phase"] == "Pending"


def test_an_unpullable_finisher_image_leaves_the_test_running_to_its_end(
    cluster: LocalCluster,
) -> None:
    namespace = "safety-pull"
    prepare_namespace(cluster, namespace)
    with cluster_config(cluster, lambda text: f"{text}\nfinisherImage: {UNPULLABLE}\n"):
        wait_until(
            lambda: probe_finisher(cluster, namespace)["image"] == UNPULLABLE,
            90,
            "the webhook to inject the unpullable image",
            interval=0.5,
        )
        test = shapes.LoadTest(
            name="pull",
            namespace=namespace,
            run_time="4s",
            autoquit=8,
            # The controller, not knowing whether Prometheus scraped, waits out max-wait.
            master_annotations={names.TTL_ANNOTATION: "1s", names.MAX_WAIT_ANNOTATION: "5s"},
        )
        cluster.apply(shapes.load_test_objects(test))
        wait_until(lambda: master_pod(cluster, test) is not None, 60, "the master pod")
    job_path = f"/apis/batch/v1/namespaces/{namespace}/jobs/{test.node_name}-master"

    def verdict_recorded() -> bool:
        annotations = cluster.api().get(job_path)["metadata"].get("annotations", {})
        return names.RESULT_ANNOTATION in annotations

    try:
        wait_until(verdict_recorded, 180, "the controller to record the test's verdict")
    except RuntimeError as error:
        found = master_pod(cluster, test) or {}
        raise AssertionError(f"{error}; containers: {container_statuses(found)}") from None
    pod = master_pod(cluster, test)
    assert pod is not None
    statuses = container_statuses(pod)
    # The test ran to its end, with Locust's own verdict.
    master = statuses[f"{test.node_name}-master"]["state"]["terminated"]
    assert master["exitCode"] == 0
    assert waiting_reason(statuses[names.FINISHER_CONTAINER]) in PULL_FAILURES
    job = cluster.api().get(job_path)
    assert job["metadata"]["annotations"][names.RESULT_ANNOTATION] == "passed"
    assert names.FALLBACK_ANNOTATION in job["metadata"]["annotations"]
    # The test's Service was opened while Locust ran, and is set back once the master ended.
    assert pod["metadata"]["annotations"][names.FALLBACK_ANNOTATION] == (
        f"publishNotReadyAddresses set on Service {test.node_name}-master"
    )
    service_path = f"/api/v1/namespaces/{namespace}/services/{test.node_name}-master"

    def set_back() -> bool:
        service = cluster.api().get(service_path)
        ended = (master_pod(cluster, test) or {}).get("metadata", {}).get("annotations", {})
        return (
            service["spec"].get("publishNotReadyAddresses") is not True
            and names.FALLBACK_ANNOTATION not in service["metadata"].get("annotations", {})
            and names.FALLBACK_ENDED_ANNOTATION in ended
        )

    wait_until(set_back, 60, "the Service to be set back after the test")
    events = cluster.api().get(f"/api/v1/namespaces/{namespace}/events")["items"]
    warnings = [e for e in events if e.get("reason") == "FinisherImageUnpullable"]
    assert warnings, "a Warning Event says what happened"
    assert all(UNPULLABLE in e["message"] for e in warnings)

    # The controller's fallback ends the exporter in the finisher's place.
    def exporter_ended() -> bool:
        found = master_pod(cluster, test) or {}
        state = container_statuses(found).get(names.OPERATOR_EXPORTER_CONTAINER, {})
        return "terminated" in state.get("state", {})

    wait_until(exporter_ended, 180, "the controller to end the exporter")

    def stop_recorded() -> bool:
        found = master_pod(cluster, test) or {}
        stopped = found.get("metadata", {}).get("annotations", {})
        return bool(stopped.get(names.EXPORTER_STOPPED_ANNOTATION) == "controller")

    wait_until(stop_recorded, 60, "the controller to record that it ended the exporter")
    # The kubelet keeps retrying the image, so the pod itself never ends (measured: Pending).
    print(
        f"[unpullable] pod phase at the end: {(master_pod(cluster, test) or {})['status']['phase']}"
    )
