"""examples/ on the real API server: applied as a user would, their master pods mutated.

The Kubernetes objects are applied with a server-side dry run (every admission step, nothing
created); the CI identity is applied for real, and the API server asked what it may do. The
test cluster has neither operator's CRD, so a LocustTest cannot be sent: its master pod, as
the operator makes it (tests/workflows/examples.py), is.
"""

from typing import Any

import pytest

from app.core import names
from app.core.precheck import CI_RIGHTS, LIVE_NUMBERS_RIGHT, Right
from devcluster.cluster import LocalCluster
from devcluster.install import opt_in_namespace
from tests.workflows.examples import EXAMPLES, KUBERNETES_EXAMPLES, documents, master_pod

pytestmark = pytest.mark.cluster

NAMESPACE = "loadtests"
CI_USER = f"system:serviceaccount:{NAMESPACE}:load-test-ci"


def may(cluster: LocalCluster, right: Right) -> bool:
    group, resource, verb, subresource = right
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
              "spec": {"user": CI_USER, "groups": ["system:serviceaccounts"],
                       "resourceAttributes": {"namespace": NAMESPACE, "group": group,
                                              "resource": resource, "verb": verb,
                                              "subresource": subresource}}}  # fmt: skip
    answer = cluster.api().create("/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
    return answer["status"].get("allowed") is True


def test_the_examples_are_admitted_and_their_master_pods_mutated(cluster: LocalCluster) -> None:
    opt_in_namespace(cluster, NAMESPACE)
    cluster.kubectl("apply", "--server-side", "-f", str(EXAMPLES / "ci-identity.yaml"))
    assert all(may(cluster, right) for right in CI_RIGHTS)
    assert not may(cluster, LIVE_NUMBERS_RIGHT)
    assert may(cluster, ("locust.io", "locusttests", "create", ""))
    assert not may(cluster, ("", "pods", "create", ""))

    # kubectl refuses a file whose objects name another namespace than -n: none do.
    dry_run = cluster.kubectl("apply", "--server-side", "--dry-run=server", "-n", NAMESPACE,
                              "-f", str(EXAMPLES / "master-worker-jobs.yaml"))  # fmt: skip
    assert "job.batch/checkout-load-master" in dry_run
    assert "server dry run" in dry_run
    assert all(d["kind"] != "LocustTest" for d in documents("master-worker-jobs.yaml"))

    for name in KUBERNETES_EXAMPLES:
        pod = master_pod(name, NAMESPACE)
        created: dict[str, Any] = cluster.api().create(
            f"/api/v1/namespaces/{NAMESPACE}/pods", pod, dryRun="All"
        )
        containers = [c["name"] for c in created["spec"]["containers"]]
        assert containers[0] == names.FINISHER_CONTAINER, (name, containers)
        annotations = created["metadata"]["annotations"]
        assert names.ADMISSION_ANNOTATION in annotations, name
        assert "0.01" in annotations[names.STATUS_ANNOTATION], name  # its verdict policy
