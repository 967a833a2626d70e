"""``locust-finisher check`` on the real API server and node: each check, and what a failure names.

Each failure is made for real: a policy that refuses images from outside an allow-list (as
a registry policy of Kyverno or Gatekeeper would, here a ValidatingAdmissionPolicy), the
webhook scaled to nothing (the API server then admits pods unmutated: failurePolicy
Ignore), an image no registry serves, and an identity with no rights.
"""

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from devcluster.cluster import LocalCluster
from devcluster.install import NAMESPACE, opt_in_namespace, wait_for_webhook
from tests.cluster.conftest import SharedCluster

pytestmark = pytest.mark.cluster

CLI = (sys.executable, "-m", "app.cli.main")

ALLOW_LIST: list[dict[str, Any]] = [
    {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "check-registry-allow-list"},
        "spec": {
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["pods"],
                    }
                ],
                "namespaceSelector": {"matchLabels": {"registry-policy": "allow-list"}},
            },
            "validations": [
                {
                    "expression": "object.spec.containers.all(c, c.image.startsWith('locustio/')"
                    " || c.image.startsWith('containersol/'))",
                    "message": "images must come from the approved registries",
                }
            ],
        },
    },
    {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": "check-registry-allow-list"},
        "spec": {"policyName": "check-registry-allow-list", "validationActions": ["Deny"]},
    },
]


def check(cluster: LocalCluster, namespace: str, *flags: str) -> tuple[int, dict[str, str]]:
    """Run ``check -o json``: its exit code, and each check's status and reason by name."""
    done = subprocess.run(
        [
            *CLI,
            "check",
            "-n",
            namespace,
            "-o",
            "json",
            "--kubeconfig",
            str(cluster.kubeconfig),
            *flags,
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    found = json.loads(done.stdout)["checks"]
    return done.returncode, {c["name"]: f"{c['status']}: {c['reason']}" for c in found}


@pytest.fixture(scope="module")
def namespaces(shared_cluster: SharedCluster) -> Iterator[None]:
    cluster = shared_cluster.get()
    opt_in_namespace(cluster, "check-ok")
    opt_in_namespace(cluster, "check-refused", **{"registry-policy": "allow-list"})
    cluster.kubectl("create", "namespace", "check-plain")
    cluster.apply(ALLOW_LIST)
    yield
    for item in reversed(ALLOW_LIST):
        cluster.kubectl("delete", item["kind"], item["metadata"]["name"], check=False)
    for namespace in ("check-ok", "check-refused", "check-plain"):
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.mark.usefixtures("namespaces")
def test_a_ready_namespace_passes_every_check(cluster: LocalCluster) -> None:
    code, found = check(cluster, "check-ok")
    assert code == 0, found
    assert found["namespace"].startswith("ok: ")
    assert found["admission"].startswith("ok: ")
    assert found["webhook"] == "ok: mutated: the finisher is injected"
    assert found["image"].startswith("ok: pulled and ran --version")
    assert found["ci-rights"].startswith("ok: ")
    pods = cluster.kubectl("get", "pods", "-n", "check-ok", "-o", "name")
    assert "locust-finisher-check" not in pods, "the probe pod is deleted"


@pytest.mark.usefixtures("namespaces")
def test_a_refusing_policy_is_named(cluster: LocalCluster) -> None:
    code, found = check(cluster, "check-refused", "--no-pull")
    assert code == 1
    assert found["admission"].startswith("failed: a master pod is refused")
    assert "images must come from the approved registries" in found["admission"]


@pytest.mark.usefixtures("namespaces")
def test_an_unpullable_image_and_a_namespace_not_opted_in_are_named(cluster: LocalCluster) -> None:
    code, found = check(cluster, "check-ok", "--image", "registry.invalid/finisher:0")
    assert code == 1
    assert found["image"].startswith("failed: the finisher image cannot be pulled")
    code, found = check(cluster, "check-plain", "--no-pull")
    assert code == 1
    assert found["namespace"].startswith("failed: not labelled locust-finisher.io/inject=enabled")
    assert found["webhook"].startswith("failed: the master pod was admitted unmutated")


@pytest.mark.usefixtures("namespaces")
def test_an_unreachable_webhook_is_named(cluster: LocalCluster) -> None:
    webhook = ["-n", NAMESPACE, "deployment/locust-finisher-webhook"]
    cluster.kubectl("scale", "--replicas=0", *webhook)
    try:
        cluster.kubectl("rollout", "status", "--timeout=60s", *webhook)
        code, found = check(cluster, "check-ok", "--no-pull")
    finally:
        cluster.kubectl("scale", "--replicas=2", *webhook)
        wait_for_webhook(cluster)
    assert code == 1
    assert found["namespace"].startswith("ok: ")
    assert found["webhook"].startswith("failed: the master pod was admitted unmutated")
