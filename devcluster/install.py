"""Install locust-finisher into the local cluster the way a user does, and wait until it works.

The manifests and the certs/ folder are copied out of the repository (so generated
certificates never land in it), ``locust-finisher certs`` makes the certificate in the copy's
certs/ as certs/README.md says, ``kubectl apply --server-side -k`` installs an overlay, and a
dry-run pod proves the API server is really calling the webhook.
"""

import contextlib
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from devcluster.api import ApiError
from devcluster.cluster import LocalCluster
from devcluster.processes import wait_until

REPOSITORY = Path(__file__).resolve().parent.parent
MANIFESTS = REPOSITORY / "manifests"
CERTS = REPOSITORY / "certs"
# What certs/ holds in git; everything else in it is generated (and ignored).
CERTS_IN_GIT = ("README.md", "kustomization.yaml")
NAMESPACE = "locust-finisher"


def copy_manifests(directory: Path) -> Path:
    """A private copy of manifests/ and certs/, side by side as in the repository.

    Generated files stay out of the repository: the copy's certs/ starts with only what git
    holds. Returns the copy of manifests/.
    """
    target = directory / "manifests"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(MANIFESTS, target, ignore=shutil.ignore_patterns("certs"))
    certs = directory / "certs"
    shutil.rmtree(certs, ignore_errors=True)
    certs.mkdir()
    for name in CERTS_IN_GIT:
        shutil.copy2(CERTS / name, certs / name)
    return target


def certs_directory(overlay: Path) -> Path:
    """The certs/ folder the self-signed ``overlay`` (of a copy) reads: ``../../../certs``."""
    return overlay.parent.parent.parent / "certs"


def make_certificates(overlay: Path) -> None:
    """``locust-finisher certs`` into the certs/ folder ``overlay`` reads, as its README says."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli.main",
            "certs",
            "--dir",
            str(certs_directory(overlay)),
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


CONFIG_MAP = f"/api/v1/namespaces/{NAMESPACE}/configmaps/locust-finisher-config"


@contextlib.contextmanager
def cluster_config(cluster: LocalCluster, edit: Callable[[str], str]) -> Iterator[None]:
    """The cluster-wide configuration (the ConfigMap's config.yaml) edited, then restored.

    The webhook re-reads it on its own; callers wait until it is in force.
    """
    config = cluster.api().get(CONFIG_MAP)
    original = config["data"]["config.yaml"]
    config["data"]["config.yaml"] = edit(original)
    cluster.api().replace(CONFIG_MAP, config)
    try:
        yield
    finally:
        latest = cluster.api().get(CONFIG_MAP)
        latest["data"]["config.yaml"] = original
        cluster.api().replace(CONFIG_MAP, latest)


def probe_finisher(cluster: LocalCluster, namespace: str) -> dict[str, Any]:
    """The finisher container the webhook would inject now (a dry-run pod in ``namespace``)."""
    created = cluster.api().create(
        f"/api/v1/namespaces/{namespace}/pods", probe_pod(namespace), dryRun="All"
    )
    container: dict[str, Any] = created["spec"]["containers"][0]
    return container
