"""Locust's report kept after the pod, on the real node: handed over, owned by the Job, readable.

The receiver is reached as a finisher reaches it, by the controller pod's address (the host
routes to pods, as Prometheus here scrapes them); other callers get 401/403.
"""

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from app.core import names
from app.core.artifacts import RECEIVER_PATH, RECEIVER_PORT, artifacts_selector, kept_files
from devcluster import operator_shapes as shapes
from devcluster.cluster import LocalCluster
from devcluster.install import NAMESPACE
from devcluster.loadtest import prepare_namespace, run_load_test
from devcluster.processes import wait_until

pytestmark = pytest.mark.cluster

TEST_NAMESPACE = "kept-report"


def post(url: str, token: str | None) -> int:
    """The status of a report POST with ``token`` (a tiny valid body: auth comes first)."""
    request = urllib.request.Request(url, data=b"--b--\r\n", method="POST")
    request.add_header("Content-Type", "multipart/form-data; boundary=b")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def token_for(cluster: LocalCluster, pod: dict[str, Any], audience: str) -> str:
    """A token of the pod's service account, bound to ``pod``, for ``audience``."""
    metadata = pod["metadata"]
    account = pod["spec"].get("serviceAccountName") or "default"
    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "audiences": [audience],
            "expirationSeconds": 600,
            "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": metadata["name"],
                               "uid": metadata["uid"]},
        },
    }  # fmt: skip
    path = f"/api/v1/namespaces/{metadata['namespace']}/serviceaccounts/{account}/token"
    return str(cluster.api().create(path, request)["status"]["token"])


def test_the_report_is_kept_owned_by_the_job_and_only_its_pod_may_send_it(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    prepare_namespace(cluster, TEST_NAMESPACE)
    test = shapes.LoadTest(
        name="kept", namespace=TEST_NAMESPACE, version="go-2.2", run_time="6s", autoquit=8,
        master_annotations={names.TTL_ANNOTATION: "2s"},
    )  # fmt: skip
    outcome = run_load_test(cluster, test)
    pod, job = outcome.pod, outcome.job
    selector = artifacts_selector(pod["metadata"]["uid"])
    configmaps = f"/api/v1/namespaces/{TEST_NAMESPACE}/configmaps"

    def kept() -> bool:
        return bool(cluster.api().get(configmaps, labelSelector=selector)["items"])

    wait_until(kept, 60, "the report's ConfigMap")
    (configmap,) = cluster.api().get(configmaps, labelSelector=selector)["items"]
    (owner,) = configmap["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"]) == ("Job", job["metadata"]["uid"])
    summary = json.loads(outcome.terminated(names.FINISHER_CONTAINER)["message"])
    assert summary["report"]["kept"], summary["report"]
    assert "report.html" in kept_files(configmap).files

    out = tmp_path / "report"
    written = subprocess.run(
        [sys.executable, "-m", "app.cli.main", "report", "--test", "kept", "-n", TEST_NAMESPACE,
         "--kubeconfig", str(cluster.kubeconfig), "--dir", str(out)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    html = (out / "report.html").read_text()
    assert "<title>Locust</title>" in html
    assert "window.templateArgs" in html

    controllers = cluster.api().get(
        f"/api/v1/namespaces/{NAMESPACE}/pods",
        labelSelector="app.kubernetes.io/name=locust-finisher-controller",
    )["items"]
    address = next(p["status"]["podIP"] for p in controllers if p["status"].get("podIP"))
    url = f"http://{address}:{RECEIVER_PORT}{RECEIVER_PATH}"
    target = cluster.api().get(
        f"/api/v1/namespaces/{TEST_NAMESPACE}/pods", labelSelector="app=target"
    )["items"][0]
    assert post(url, None) == 401
    assert post(url, "not-a-token") == 401
    assert post(url, token_for(cluster, target, "https://kubernetes.default.svc")) == 401
    # A pod-bound token of our audience, from a pod we do not manage.
    assert post(url, token_for(cluster, target, names.REPORT_AUDIENCE)) == 403
