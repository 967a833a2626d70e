"""`wait` and `report` as the CI identity docs/ci.md describes, on the real API server.

CI runs the CLI with a kubeconfig of its own: here a ServiceAccount's token (TokenRequest
API) whose one RoleBinding, in the test namespace, names the ClusterRole `locust-finisher-ci`
exactly as the installation made it. Every flag CI uses must end with the verdict, never with
exit 2 for want of a right. The rights the docs gave before (get Jobs, get and list pods, the
pod proxy) end `wait` with exit 2: it watches pods, and `--report-dir` and `report` list
ConfigMaps.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import yaml

from app.core import names
from app.core.artifacts import artifacts_selector
from devcluster import operator_shapes as shapes
from devcluster.cluster import LocalCluster
from devcluster.loadtest import collect_outcome, prepare_namespace
from devcluster.processes import wait_until

pytestmark = pytest.mark.cluster

NAMESPACE = "ci-identity"
CI_ROLE = "locust-finisher-ci"
# docs/ci.md's rights for the CI identity up to 0.2.0.
OLD_DOCS_RULES = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["pods/proxy"], "verbs": ["get"]},
]


def identity(cluster: LocalCluster, account: str, role: dict[str, str], folder: Path) -> Path:
    """A ServiceAccount bound (in the test namespace) to ``role`` alone; its kubeconfig."""
    meta = {"namespace": NAMESPACE}
    cluster.apply([
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account, **meta}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": account, **meta},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", **role},
         "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}]},
    ])  # fmt: skip
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
               "spec": {"expirationSeconds": 3600}}  # fmt: skip
    path = f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{account}/token"
    token = cluster.api().create(path, request)["status"]["token"]
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    (server,) = admin["clusters"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [server],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": account, "context": {"cluster": server["name"], "user": account,
                                                   "namespace": NAMESPACE}}],
        "current-context": account,
    }  # fmt: skip
    kubeconfig = folder / f"{account}.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    return kubeconfig


def command(kubeconfig: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "app.cli.main", *args, "--kubeconfig", str(kubeconfig)]


def environment() -> dict[str, str]:
    # A CI job's step summary is not for these runs.
    return {name: value for name, value in os.environ.items() if name != "GITHUB_STEP_SUMMARY"}


def run(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as the identity of ``kubeconfig``."""
    return subprocess.run(
        command(kubeconfig, *args), capture_output=True, text=True, timeout=120, env=environment()
    )


def start(kubeconfig: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command(kubeconfig, *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment(),
    )


def finished(waiting: subprocess.Popen[str]) -> tuple[int, str]:
    printed, _ = waiting.communicate(timeout=300)
    return waiting.returncode, printed


def kept_report(cluster: LocalCluster, pod: dict[str, Any]) -> None:
    selector = artifacts_selector(pod["metadata"]["uid"])
    path = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
    wait_until(
        lambda: bool(cluster.api().get(path, labelSelector=selector)["items"]),
        90,
        "the report's ConfigMap",
    )


def test_wait_and_report_pass_as_the_shipped_ci_role_and_not_with_the_old_docs_rights(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    installed = cluster.api().get(f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{CI_ROLE}")
    assert installed["metadata"]["labels"]["app.kubernetes.io/part-of"] == "locust-finisher"
    prepare_namespace(cluster, NAMESPACE)
    ci = identity(cluster, "ci", {"kind": "ClusterRole", "name": CI_ROLE}, tmp_path)
    cluster.apply([{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                    "metadata": {"name": "old-docs", "namespace": NAMESPACE},
                    "rules": OLD_DOCS_RULES}])  # fmt: skip
    old = identity(cluster, "old-docs", {"kind": "Role", "name": "old-docs"}, tmp_path)
    live, later = tmp_path / "live", tmp_path / "later"

    # As CI runs them: started before the test, which they wait for.
    following = start(ci, "wait", "--test", "e2e", "-n", NAMESPACE, "--timeout", "5m",
                      "--report-dir", str(live), "--junit", str(live / "junit.xml"),
                      "--markdown", str(live / "summary.md"))  # fmt: skip
    refused = start(old, "wait", "--test", "e2e", "-n", NAMESPACE, "--timeout", "5m")
    test = shapes.LoadTest(
        name="e2e", namespace=NAMESPACE, run_time="6s", autoquit=8, cpu_request="10m",
        master_annotations={names.TTL_ANNOTATION: "5s"},
    )  # fmt: skip
    cluster.apply(shapes.load_test_objects(test))
    outcome = collect_outcome(cluster, test)
    assert outcome.phase == "Succeeded"

    code, printed = finished(following)
    assert code == 0, printed
    assert "job/e2e-master (pod " in printed
    assert "PASSED" in printed
    assert "Locust running:" not in printed  # no pods/proxy in this role: the pod status only
    summary = json.loads((live / "summary.json").read_text())
    assert (summary["verdict"], summary["job"]) == ("passed", "e2e-master")
    assert ElementTree.parse(live / "junit.xml").getroot().tag == "testsuites"
    assert "[PASS]" in (live / "summary.md").read_text()

    code, printed = finished(refused)
    assert code == 2, printed
    assert "not allowed" in printed
    assert "watch" in printed

    # Later, from the kept Job and report.
    kept_report(cluster, outcome.pod)
    again = run(ci, "wait", "--test", "e2e", "-n", NAMESPACE, "-o", "json", "--report-dir",
                str(later))  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["verdict"] == "passed"
    assert {"summary.json", "stats.json", "report.html"} <= {p.name for p in later.iterdir()}
    reported = run(ci, "report", "--test", "e2e", "--dir", str(tmp_path / "report"))
    assert reported.returncode == 0, reported.stderr
    assert "<title>Locust</title>" in (tmp_path / "report" / "report.html").read_text()
    # The kubeconfig's namespace, as kubectl would take it.
    assert str(reported.stdout).startswith("wrote ")

    old_report = run(old, "report", "--test", "e2e", "--dir", str(tmp_path / "old"))
    assert old_report.returncode == 2
    assert "configmaps" in old_report.stderr
    assert "forbidden" in old_report.stderr.lower()
