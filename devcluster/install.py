"""Install locust-finisher into the local cluster the way a user does, and wait until it works.

The manifests are copied out of the repository (so generated certificates never land in
it), ``locust-finisher certs`` makes the certificate, ``kubectl apply --server-side -k``
installs an overlay, and a dry-run pod proves the API server is really calling the webhook.
"""

import contextlib
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from devcluster.api import ApiError
from devcluster.cluster import LocalCluster
from devcluster.processes import wait_until

MANIFESTS = Path(__file__).resolve().parent.parent / "manifests"
NAMESPACE = "locust-finisher"


def copy_manifests(directory: Path) -> Path:
    """A private copy of manifests/ (generated files stay out of the repository)."""
    target = directory / "manifests"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(MANIFESTS, target, ignore=shutil.ignore_patterns("certs"))
    return target


def make_certificates(overlay: Path) -> None:
    """``locust-finisher certs`` into the overlay, as its README says."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli.main",
            "certs",
            "--dir",
            str(overlay / "certs"),
            "--namespace",
            NAMESPACE,
        ],
        check=True,
        capture_output=True,
    )


def probe_pod(namespace: str) -> dict[str, Any]:
    """A pod the webhook must mutate (created only as a dry run)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "locust-finisher-probe",
            "namespace": namespace,
            "annotations": {"locust-finisher.io/inject": "true"},
        },
        "spec": {
            "containers": [
                {"name": "master", "image": "locustio/locust", "args": ["--master"]},
                {"name": "exporter", "image": "containersol/locust_exporter:v0.5.2"},
            ]
        },
    }


def webhook_answers(cluster: LocalCluster, namespace: str) -> bool:
    """Whether the API server mutates a pod through the webhook right now."""
    with contextlib.suppress(ApiError):
        created = cluster.api().create(
            f"/api/v1/namespaces/{namespace}/pods", probe_pod(namespace), dryRun="All"
        )
        return any(c["name"] == "locust-finisher" for c in created["spec"]["containers"])
    return False


def opt_in_namespace(cluster: LocalCluster, namespace: str, **labels: str) -> None:
    """Create ``namespace`` with the opt-in label (and any other labels)."""
    all_labels = {"locust-finisher.io/inject": "enabled", **labels}
    cluster.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": namespace, "labels": all_labels},
            }
        ]
    )


def install(cluster: LocalCluster, directory: Path, overlay: str = "self-signed") -> Path:
    """Install ``overlay`` and wait until the webhook mutates pods; the manifests' copy."""
    manifests = copy_manifests(directory)
    # The dev overlay builds on self-signed, and so on its certificate files.
    make_certificates(manifests / "overlays" / "self-signed")
    cluster.kubectl("apply", "--server-side", "-k", str(manifests / "overlays" / overlay))
    wait_for_webhook(cluster)
    return manifests


def wait_for_webhook(cluster: LocalCluster) -> None:
    """Wait for both Deployments, then until the API server really calls the webhook."""
    for deployment in ("locust-finisher-webhook", "locust-finisher-controller"):
        cluster.kubectl(
            "rollout", "status", "-n", NAMESPACE, f"deployment/{deployment}", "--timeout=180s"
        )
    probe_namespace = "locust-finisher-probe"
    opt_in_namespace(cluster, probe_namespace)
    started = time.monotonic()
    wait_until(lambda: webhook_answers(cluster, probe_namespace), 60, "the webhook to mutate pods")
    print(
        f"[install] webhook answering {time.monotonic() - started:.1f}s after rollout", flush=True
    )
