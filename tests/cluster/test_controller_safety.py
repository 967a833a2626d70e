"""The controller and `wait` against objects that vanish, and what the controller may write.

A Job with ``ttlSecondsAfterFinished: 0`` (the official locustio operator's) is deleted with
its pod the moment it finishes; the verdict must still reach `wait` and an Event. The
controller's RBAC lets it patch any pod; the ValidatingAdmissionPolicy of
manifests/components/controller-write-policy narrows that to our own labels and annotations.
"""

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from app.core import names
from devcluster import operator_shapes as shapes
from devcluster.api import ApiError
from devcluster.cluster import LocalCluster
from devcluster.install import NAMESPACE, opt_in_namespace
from devcluster.loadtest import prepare_namespace, start_vanishing_test
from devcluster.processes import wait_until

pytestmark = pytest.mark.cluster

REPOSITORY = Path(__file__).resolve().parents[2]
CONTROLLER = f"system:serviceaccount:{NAMESPACE}:locust-finisher-controller"


@pytest.mark.parametrize(
    ("failing", "exit_code", "reason"), [(False, 0, "LoadTestPassed"), (True, 1, "LoadTestFailed")]
)
def test_a_job_deleted_the_moment_it_finishes_still_gives_its_verdict(
    cluster: LocalCluster, failing: bool, exit_code: int, reason: str
) -> None:
    namespace = f"vanish-{'fail' if failing else 'pass'}"
    prepare_namespace(cluster, namespace)
    # Without a retention set, a TTL-0 Job is kept 10 minutes after its verdict; 0s lets it go.
    keep = (f"{names.KEEP_PASSED_ANNOTATION}=0s", f"{names.KEEP_FAILED_ANNOTATION}=0s")
    cluster.kubectl("annotate", "namespace", namespace, *keep)
    job_path, waiting = start_vanishing_test(cluster, namespace, "vanish", failing)
    job_name = job_path.rsplit("/", 1)[1]

    def job_gone() -> bool:
        jobs = cluster.api().get(f"/apis/batch/v1/namespaces/{namespace}/jobs")["items"]
        return all(j["metadata"]["name"] != job_name for j in jobs)

    wait_until(lambda: job_exists(cluster, job_path), 60, "the master Job")
    wait_until(job_gone, 240, "the finished Job to be deleted by its TTL")
    printed, _ = waiting.communicate(timeout=120)
    assert waiting.returncode == exit_code, printed

    def names_the_job(event: dict[str, Any]) -> bool:
        involved = event["involvedObject"]
        on_job = involved.get("kind") == "Job" and involved.get("name") == job_name
        return on_job or job_name in event.get("message", "")

    def verdict_events() -> list[dict[str, Any]]:
        events = cluster.api().get(f"/api/v1/namespaces/{namespace}/events")["items"]
        return [e for e in events if e.get("reason") == reason and names_the_job(e)]

    wait_until(lambda: bool(verdict_events()), 60, f"a {reason} Event naming the Job")


def job_exists(cluster: LocalCluster, path: str) -> bool:
    try:
        cluster.api().get(path)
    except ApiError:
        return False
    return True


def test_the_controller_may_write_only_our_annotations_on_managed_pods(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    component = REPOSITORY / "manifests" / "components" / "controller-write-policy"
    overlay = tmp_path / "policy"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"components:\n  - {os.path.relpath(component, overlay)}\n"
    )
    cluster.kubectl("apply", "--server-side", "-k", str(overlay))
    try:
        namespace = "write-policy"
        opt_in_namespace(cluster, namespace)
        pod = shapes.quick_master_pod(namespace, "guarded", ttl="1h")
        # Still a Locust master by its command line, but one that stays up.
        pod["spec"]["containers"][0]["command"] = [
            "python",
            "-c",
            "import time; time.sleep(600)",
            "--master",
        ]
        cluster.apply([pod])
        as_controller = ("--as", CONTROLLER, "-n", namespace)

        def patch(*args: str) -> subprocess.CompletedProcess[str]:
            return cluster.run_tool("kubectl", *as_controller, *args)

        # The policy takes effect once the API server has loaded it; a server-side dry run
        # passes admission without changing the pod, so an early attempt leaves it as it was.
        def image_refused() -> bool:
            result = patch(
                "set",
                "image",
                "pod/guarded",
                f"master={shapes.EXPORTER_IMAGE}",
                "--dry-run=server",
            )
            return result.returncode != 0 and "ValidatingAdmissionPolicy" in result.stderr

        wait_until(image_refused, 60, "the policy to refuse the controller an image change")
        ours = patch("annotate", "pod", "guarded", "locust-finisher.io/result=x", "--overwrite")
        assert ours.returncode == 0, ours.stderr
        assert patch("annotate", "pod", "guarded", "foo=bar").returncode != 0
        assert patch("label", "pod", "guarded", "foo=bar").returncode != 0
        # A pod the webhook did not mutate is not the controller's to write at all.
        cluster.kubectl(
            "-n",
            namespace,
            "run",
            "bystander",
            f"--image={shapes.PYTHON_IMAGE}",
            "--restart=Never",
            "--",
            "sleep",
            "600",
        )
        bystander = patch("annotate", "pod", "bystander", "locust-finisher.io/result=x")
        assert bystander.returncode != 0
        assert "mutated" in bystander.stderr, bystander.stderr
        # A2 at the policy: a Job that runs no Locust master is never the controller's to write,
        # however it came to think so.
        backup = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "backup", "namespace": namespace},
            "spec": {
                "ttlSecondsAfterFinished": 604800,
                "template": {"spec": {"restartPolicy": "Never", "containers": [
                    {"name": "work", "image": shapes.PYTHON_IMAGE, "command": ["true"]}]}},
            },
        }  # fmt: skip
        cluster.apply([backup])
        zeroed = patch(
            "patch", "job", "backup", "--type=merge", "-p",
            '{"spec":{"ttlSecondsAfterFinished":0}}', "--dry-run=server",
        )  # fmt: skip
        assert zeroed.returncode != 0
        assert "only to Jobs that run Locust masters" in zeroed.stderr, zeroed.stderr
        # Anyone else may still do what RBAC allows them.
        changed = cluster.run_tool(
            "kubectl", "-n", namespace, "annotate", "pod", "guarded", "foo=bar"
        )
        assert changed.returncode == 0, changed.stderr
    finally:
        cluster.kubectl("delete", "-k", str(overlay), "--ignore-not-found")
