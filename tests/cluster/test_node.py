"""The kubelet behaviours the design rests on, on the real kubelet, containerd and runc.

The finisher is first in the pod and holds the master back with a postStart hook; it sees
the master through a PID namespace shared with the pause container; a memory limit is a
real cgroup limit; a native sidecar is stopped by the kubelet once the main containers end.
"""

from typing import Any

import pytest

from app import __version__
from app.core import names
from app.core.timestamps import parse_time
from devcluster import operator_shapes as shapes
from devcluster.build import ensure_binaries, pause_source
from devcluster.cluster import LocalCluster
from devcluster.images import ensure_images, image_config, uncompressed_size
from devcluster.install import opt_in_namespace
from devcluster.loadtest import Outcome, prepare_namespace, run_load_test
from devcluster.processes import wait_until

pytestmark = pytest.mark.cluster

# The webhook/controller/CLI image: it has a shell, which the gate test below needs.
APP_IMAGE = f"{names.IMAGE_REPOSITORY}:{__version__}"
GATE_DELAY_SECONDS = 5


def run_pod(
    cluster: LocalCluster, namespace: str, name: str, containers: list[Any], **spec: Any
) -> dict[str, Any]:
    """Run a pod of ``containers`` to its end; the pod as the API server has it then."""
    opt_in_namespace(cluster, namespace)
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"restartPolicy": "Never", "containers": containers, **spec},
    }
    path = f"/api/v1/namespaces/{namespace}/pods"
    cluster.api().create(path, pod)
    found: dict[str, Any] = {}

    def ended() -> bool:
        found.update(cluster.api().get(f"{path}/{name}"))
        return found.get("status", {}).get("phase") in ("Succeeded", "Failed")

    wait_until(ended, 120, f"pod {name} to end")
    return found


def statuses(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in pod["status"].get("containerStatuses", [])}


def started_at(status: dict[str, Any]) -> float:
    state = status["state"].get("terminated") or status["state"].get("running") or {}
    stamp = parse_time(state.get("startedAt"))
    assert stamp is not None, status
    return stamp


def test_the_postStart_gate_holds_the_next_container_until_the_finisher_listens(  # noqa: N802
    cluster: LocalCluster,
) -> None:
    # The finisher announces readiness only after a delay; the kubelet must not start the
    # "master" before the gate container's postStart hook (our await-ready) has returned.
    gate_containers = [
        {
            "name": "finisher",
            "image": APP_IMAGE,
            "command": [
                "sh",
                "-c",
                f"sleep {GATE_DELAY_SECONDS}; exec locust-finisher finish --ttl 0s "
                "--wait-for-scrape false --master-pattern '^sleep 1$'",
            ],
            "lifecycle": {
                "postStart": {
                    "exec": {"command": ["locust-finisher", "await-ready", "--timeout", "60"]}
                }
            },
        },
        {
            "name": "master",
            "image": shapes.PYTHON_IMAGE,
            "command": ["sleep", "1"],
        },
    ]
    ended = run_pod(cluster, "node-gate", "gate", gate_containers, shareProcessNamespace=True)
    found = statuses(ended)
    held = started_at(found["master"]) - started_at(found["finisher"])
    assert held >= GATE_DELAY_SECONDS - 1, f"the master started {held:.1f}s after the finisher"
    assert found["master"]["state"]["terminated"]["exitCode"] == 0


def short_load_test(cluster: LocalCluster, name: str, version: str) -> Outcome:
    """A 4-second operator-shaped test in namespace ``node-<name>``, run to its end."""
    namespace = f"node-{name}"
    prepare_namespace(cluster, namespace)
    test = shapes.LoadTest(
        name=name,
        namespace=namespace,
        version=version,
        run_time="4s",
        autoquit=5,
        master_annotations={names.TTL_ANNOTATION: "1s"},
    )
    return run_load_test(cluster, test)


def test_the_finisher_finds_the_master_across_the_shared_pid_namespace(
    cluster: LocalCluster,
) -> None:
    outcome = short_load_test(cluster, "pid", "go-2.2")
    assert outcome.phase == "Succeeded"
    # The small finisher image, on a read-only root filesystem, as uid 65532.
    finisher = outcome.pod["spec"]["containers"][0]
    assert finisher["image"] == f"{names.FINISHER_IMAGE_REPOSITORY}:{__version__}"
    assert finisher["securityContext"]["readOnlyRootFilesystem"] is True
    assert statuses(outcome.pod)[names.FINISHER_CONTAINER]["state"]["terminated"]["exitCode"] == 0
    log = cluster.pod_log("node-pid", outcome.pod["metadata"]["name"], names.FINISHER_CONTAINER)
    watching = next(line for line in log.splitlines() if "watching Locust master pid" in line)
    pid = int(watching.split("watching Locust master pid ")[1].split(":")[0])
    # PID 1 is the pod's pause container; the master is another process of the namespace.
    assert pid > 1, watching
    assert "--master" in watching


def test_a_memory_limit_is_a_real_limit(cluster: LocalCluster) -> None:
    hungry = [
        {
            "name": "hungry",
            "image": shapes.PYTHON_IMAGE,
            "command": [
                "python3",
                "-c",
                "blocks = [bytearray(1 << 20) for _ in range(256)]",
            ],
            "resources": {"limits": {"memory": "32Mi", "cpu": "500m"}},
        }
    ]
    ended = run_pod(cluster, "node-oom", "hungry", hungry)
    terminated = statuses(ended)["hungry"]["state"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("OOMKilled", 137)
    assert ended["status"]["phase"] == "Failed"


def test_an_operator_2_3_pod_ends_with_its_native_sidecar_stopped_by_the_kubelet(
    cluster: LocalCluster,
) -> None:
    outcome = short_load_test(cluster, "sidecar", "go-2.3")
    assert (outcome.phase, outcome.job_condition) == ("Succeeded", "Complete")
    init = {s["name"]: s for s in outcome.pod["status"].get("initContainerStatuses", [])}
    exporter = init[names.OPERATOR_EXPORTER_CONTAINER]["state"]["terminated"]
    # The kubelet stops a sidecar only after every regular container has ended.
    master_end = parse_time(outcome.terminated("sidecar-master")["finishedAt"])
    assert master_end is not None
    exporter_end = parse_time(exporter["finishedAt"])
    assert exporter_end is not None
    assert exporter_end >= master_end
    assert names.FINISHER_CONTAINER not in init, "the finisher stays a regular container"


def test_the_injected_finisher_image_is_small_and_runs_as_nonroot() -> None:
    # Every managed master pod pulls it: the budget is 60 MB uncompressed.
    archives = ensure_images(ensure_binaries().coredns, pause_source())
    reference = f"{names.FINISHER_IMAGE_REPOSITORY}:{__version__}"
    archive = next(found for found in archives if reference in found.references)
    assert uncompressed_size(archive.path) <= 60_000_000
    assert image_config(archive.path)["User"] == "65532:65532"
