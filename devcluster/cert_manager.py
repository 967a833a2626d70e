"""The real cert-manager (controller and cainjector) on the local cluster, for the overlay tests.

Built from its Go module by :mod:`devcluster.build`; its CRDs come from the same module in
the Go module cache (their Helm label lines dropped), so nothing is downloaded or committed.
"""

import os
import subprocess
import time
from pathlib import Path

from devcluster.build import ensure_tool
from devcluster.cluster import LocalCluster
from devcluster.processes import free_port

VERSION = "v1.11.5"


def crd_documents() -> list[str]:
    """cert-manager's CRDs as plain YAML."""
    cache = subprocess.run(
        ["go", "env", "GOMODCACHE"], check=True, capture_output=True, text=True
    ).stdout.strip()
    directory = (
        Path(cache) / "github.com" / "cert-manager" / f"cert-manager@{VERSION}" / "deploy" / "crds"
    )
    documents = []
    for path in sorted(directory.glob("crd-*.yaml")):
        # Four label lines per file are Helm templates; the rest is plain YAML.
        lines = [line for line in path.read_text().splitlines() if "{{" not in line]
        documents.append("\n".join(lines) + "\n")
    if not documents:
        raise RuntimeError(
            f"no cert-manager CRDs in {directory}: they come with cert-manager's module, "
            "which ensure_tool('cert-manager-controller') brings"
        )
    return documents


def start_cert_manager(cluster: LocalCluster) -> None:
    """Install the CRDs and start the controller and cainjector; return once they run."""
    # Built first: the build brings the module, and with it the CRDs read below.
    controller_binary = ensure_tool("cert-manager-controller")
    cainjector_binary = ensure_tool("cert-manager-cainjector")
    for document in crd_documents():
        cluster.kubectl("apply", "--server-side", "-f", "-", input_text=document)
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    cluster.kubectl("create", "namespace", "cert-manager")
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    controller = cluster.processes.start(
        "cert-manager-controller",
        [
            str(controller_binary),
            f"--kubeconfig={cluster.kubeconfig}",
            "--leader-elect=false",
            "--cluster-resource-namespace=cert-manager",
            f"--metrics-listen-address=127.0.0.1:{free_port()}",
        ],
        env=env,
    )
    # The cainjector reads its kubeconfig from the environment only.
    cainjector = cluster.processes.start(
        "cert-manager-cainjector",
        [str(cainjector_binary), "--leader-elect=false"],
        env=env,
    )
    time.sleep(2)
    for process in (controller, cainjector):
        if process.process.poll() is not None:
            raise RuntimeError(f"{process.name} exited:\n{process.log_tail()}")
