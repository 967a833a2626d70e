"""Where GitOps looks: the verdict on the LocustTest, and Argo CD's health of it, on the node.

A passing and a failing test, each made as locust-k8s-operator makes one from a LocustTest
(its master Job owned by the LocustTest); the LocustTest CRD is a minimal structural one
(:data:`LOCUSTTEST_CRD`, test support only: the operator's own is not installed here). The
controller copies each verdict onto its LocustTest, and our Argo CD health checks
(manifests/argocd, run with lupa) say Healthy and Degraded of the objects as the API server
holds them. The controller's write policy is installed meanwhile: its rule for LocustTests
lets the controller copy the verdict, and nothing else.

``UPDATE_FIXTURES=1`` also writes the objects seen (the Jobs running, passed and failed, the
LocustTests before and after) to tests/fixtures/argocd, which tests/unit/test_argocd_health.py
judges without a cluster.
"""

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from app.core import names
from devcluster import operator_shapes as shapes
from devcluster.cluster import LocalCluster
from devcluster.loadtest import collect_outcome, prepare_namespace
from devcluster.processes import wait_until
from testkit.argocd_health import JOB_HEALTH, LOCUSTTEST_HEALTH, health
from tests.cluster.test_controller_safety import CONTROLLER, REPOSITORY

pytestmark = pytest.mark.cluster

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "argocd"
CRD_NAME = "locusttests.locust.io"
# Enough of a CRD for the API server to store LocustTests (and serve their metadata).
LOCUSTTEST_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": CRD_NAME},
    "spec": {
        "group": "locust.io",
        "scope": "Namespaced",
        "names": {
            "plural": "locusttests",
            "singular": "locusttest",
            "kind": "LocustTest",
            "listKind": "LocustTestList",
        },
        "versions": [
            {
                "name": "v2",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


def install_locusttest_crd(cluster: LocalCluster) -> None:
    """The minimal LocustTest CRD, served once established."""
    cluster.apply([LOCUSTTEST_CRD])
    cluster.kubectl("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=60s")


def locusttest(test: shapes.LoadTest) -> dict[str, Any]:
    """A LocustTest (locust.io/v2) as a user applies it; its spec is not read here."""
    return {
        "apiVersion": "locust.io/v2",
        "kind": "LocustTest",
        "metadata": {"name": test.name, "namespace": test.namespace},
        "spec": {"image": shapes.LOCUST_IMAGE, "master": {"command": " ".join(test.seed())}},
    }


def owned_by(objects: list[dict[str, Any]], owner: dict[str, Any]) -> list[dict[str, Any]]:
    """The operator's objects, its master Job controlled by the LocustTest, as it makes it."""
    reference = {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    for item in objects:
        if item["kind"] == "Job" and item["metadata"]["name"].endswith("-master"):
            item["metadata"]["ownerReferences"] = [reference]
    return objects


def scrubbed(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as Argo CD is given it, without the server's field bookkeeping."""
    kept: dict[str, Any] = json.loads(json.dumps(obj))
    kept["metadata"].pop("managedFields", None)
    return kept


def save(name: str, obj: dict[str, Any]) -> None:
    if os.environ.get("UPDATE_FIXTURES") == "1":
        FIXTURES.mkdir(parents=True, exist_ok=True)
        text = json.dumps(scrubbed(obj), indent=2, sort_keys=True) + "\n"
        (FIXTURES / f"{name}.json").write_text(text, encoding="utf-8")


def annotations(obj: dict[str, Any]) -> dict[str, str]:
    return dict(obj["metadata"].get("annotations") or {})


def install_write_policy(cluster: LocalCluster, folder: Path) -> Path:
    component = REPOSITORY / "manifests" / "components" / "controller-write-policy"
    folder.mkdir()
    (folder / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"components:\n  - {os.path.relpath(component, folder)}\n"
    )
    cluster.kubectl("apply", "--server-side", "-k", str(folder))
    return folder


def check_the_policy_on_locusttests(cluster: LocalCluster, namespace: str) -> None:
    """Once in effect, the policy refuses the controller a LocustTest's spec or others' keys."""

    def as_controller(*args: str) -> subprocess.CompletedProcess[str]:
        return cluster.run_tool(
            "kubectl", "--as", CONTROLLER, "-n", namespace, *args, "--dry-run=server"
        )

    def spec_refused() -> bool:
        changed = as_controller(
            "patch", "locusttest", "e2e", "--type=merge", "-p", '{"spec":{"image":"evil"}}'
        )
        return changed.returncode != 0 and "ValidatingAdmissionPolicy" in changed.stderr

    wait_until(spec_refused, 60, "the write policy to refuse the controller a LocustTest spec")
    theirs = as_controller("annotate", "locusttest", "e2e", "team=evil")
    assert theirs.returncode != 0
    assert "ValidatingAdmissionPolicy" in theirs.stderr, theirs.stderr
    ours = as_controller("annotate", "locusttest", "e2e", f"{names.RESULT_ANNOTATION}=passed")
    assert ours.returncode == 0, ours.stderr


def test_the_locusttest_carries_its_runs_verdict_and_argo_cd_health_follows_it(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    api = cluster.api()
    install_locusttest_crd(cluster)
    policy = install_write_policy(cluster, tmp_path / "policy")
    tests = {
        "passed": shapes.LoadTest(
            name="e2e", namespace="gitops-pass", run_time="6s", autoquit=10, cpu_request="10m"
        ),
        "failed": shapes.LoadTest(
            name="e2e", namespace="gitops-fail", run_time="6s", autoquit=10, cpu_request="10m"
        ),
    }
    paths: dict[str, tuple[str, str]] = {}
    try:
        for result, test in tests.items():
            prepare_namespace(cluster, test.namespace)
            cluster.apply([locusttest(test)])
            test_path = f"/apis/locust.io/v2/namespaces/{test.namespace}/locusttests/{test.name}"
            job_path = f"/apis/batch/v1/namespaces/{test.namespace}/jobs/{test.node_name}-master"
            paths[result] = (test_path, job_path)
            made = api.get(test_path)
            if result == "passed":
                save("locusttest-before", made)
                assert health(LOCUSTTEST_HEALTH, made).status == "Progressing"
                check_the_policy_on_locusttests(cluster, test.namespace)
            cluster.apply(owned_by(shapes.load_test_objects(test, result == "failed"), made))

        running: list[dict[str, Any]] = []

        def seen_running(pod: dict[str, Any] | None, job: dict[str, Any]) -> None:
            if not running and job.get("status", {}).get("active"):
                running.append(job)

        for result, test in tests.items():
            outcome = collect_outcome(cluster, test, progress=seen_running)
            assert outcome.job_condition == ("Complete" if result == "passed" else "Failed")
        assert running, "the master Job was never seen running"
        save("job-running", running[0])
        assert health(JOB_HEALTH, running[0]).status == "Progressing"

        for result, (test_path, job_path) in paths.items():

            def verdict_on_test(path: str = test_path) -> bool:
                return names.RESULT_ANNOTATION in annotations(api.get(path))

            wait_until(verdict_on_test, 90, f"the {result} verdict on the LocustTest")
            on_test, job = api.get(test_path), api.get(job_path)
            save(f"locusttest-{result}", on_test)
            save(f"job-{result}", job)
            copied = annotations(on_test)
            on_job = annotations(job)
            assert copied[names.RESULT_ANNOTATION] == result
            for key in (
                names.RESULT_OF_ANNOTATION,
                names.FINISHED_AT_ANNOTATION,
                names.SUMMARY_ANNOTATION,
            ):
                assert copied[key] == on_job[key], key
            assert on_test["spec"] == locusttest(tests[result])["spec"], "metadata only"
            expected = "Healthy" if result == "passed" else "Degraded"
            assert health(LOCUSTTEST_HEALTH, on_test).status == expected
            assert health(JOB_HEALTH, job).status == expected
    finally:
        for test in tests.values():
            cluster.kubectl("delete", "namespace", test.namespace, "--wait=false", check=False)
        cluster.kubectl("delete", "-k", str(policy), "--ignore-not-found", check=False)
        cluster.kubectl("delete", "crd", CRD_NAME, "--wait=false", check=False)
