"""A whole local Kubernetes in one object: control plane, process kubelet, and clean-up.

    with LocalCluster() as cluster:
        cluster.kubectl("get", "nodes")

Needs root (network namespaces, mounts). Everything it makes is named after the cluster and
removed on exit, also after a failed test; a later start also removes what a killed run
left behind (its directory records its owner's PID).
"""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from devcluster.api import ApiClient
from devcluster.build import Binaries, ensure_binaries
from devcluster.control_plane import ControlPlaneInfo, start_control_plane
from devcluster.kubelet.images import exporter_binary_default
from devcluster.kubelet.kubelet import remove_created_paths
from devcluster.kubelet.network import ClusterNetwork, remove_leftovers
from devcluster.processes import ProcessGroup, kill_marked, wait_until
from devcluster.prometheus import Prometheus, start_prometheus

NODE_NAME = "devcluster-node"
_DIRECTORY_PREFIX = "locust-finisher-cluster-"


def clean_abandoned_clusters() -> int:
    """Remove the processes, network and mount points of clusters whose owner is gone.

    Returns:
        How many clusters were removed.
    """
    removed = 0
    for directory in Path(tempfile.gettempdir()).glob(f"{_DIRECTORY_PREFIX}*"):
        owner_file = directory / "owner"
        try:
            owner, tag = owner_file.read_text().split()
            os.kill(int(owner), 0)
            continue  # still running
        except ProcessLookupError:
            pass
        except (OSError, ValueError):
            continue
        kill_marked(directory)
        remove_leftovers(tag)
        remove_created_paths(directory / "kubelet" / "created-paths")
        shutil.rmtree(directory, ignore_errors=True)
        removed += 1
    return removed


class LocalCluster:
    """A running local cluster; use as a context manager."""

    def __init__(self, keep_directory: bool = False, prometheus: bool = True) -> None:
        self.keep_directory = keep_directory
        self.with_prometheus = prometheus
        self.prometheus: Prometheus | None = None
        self.directory = Path(tempfile.mkdtemp(prefix=_DIRECTORY_PREFIX))
        self.directory.chmod(0o755)
        self.processes = ProcessGroup(self.directory)
        self.binaries: Binaries | None = None
        self.network: ClusterNetwork | None = None
        self.info: ControlPlaneInfo | None = None
        self._api: ApiClient | None = None

    def __enter__(self) -> "LocalCluster":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Build (if needed) and start everything; return once the node is Ready."""
        clean_abandoned_clusters()
        self.binaries = ensure_binaries()
        self.network = ClusterNetwork.create()
        (self.directory / "owner").write_text(f"{os.getpid()} {self.network.tag}\n")
        self.info = start_control_plane(
            self.binaries,
            self.directory,
            self.processes,
            self.network.service_cidr,
            self.network.kubernetes_service_ip,
        )
        kubelet_root = self.directory / "kubelet"
        kubelet_root.mkdir()
        kubelet_root.chmod(0o755)
        admin = self.info.admin
        kubelet = self.processes.start(
            "process-kubelet",
            [
                sys.executable,
                "-m",
                "devcluster.kubelet.kubelet",
                f"--server={admin.server}",
                f"--ca-file={admin.ca_file}",
                f"--cert-file={admin.cert_file}",
                f"--key-file={admin.key_file}",
                f"--node-name={NODE_NAME}",
                f"--root={kubelet_root}",
                f"--network-index={self.network.index}",
                f"--exporter-binary={exporter_binary_default()}",
                f"--api-port={self.info.port}",
            ],
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
            stop_timeout=30,
        )
        wait_until(self._node_ready, 60, "the process kubelet's node to be Ready", kubelet)
        wait_until(self._default_service_account, 60, "the default service account")
        if self.with_prometheus:
            self.prometheus = start_prometheus(
                self.binaries.prometheus, self.kubeconfig, self.directory, self.processes
            )

    def _node_ready(self) -> bool:
        with contextlib.suppress(Exception):
            node = self.api().get(f"/api/v1/nodes/{NODE_NAME}")
            for condition in node.get("status", {}).get("conditions", []):
                if condition["type"] == "Ready":
                    return bool(condition["status"] == "True")
        return False

    def _default_service_account(self) -> bool:
        with contextlib.suppress(Exception):
            self.api().get("/api/v1/namespaces/default/serviceaccounts/default")
            return True
        return False

    def api(self) -> ApiClient:
        """An admin API client."""
        if self._api is None:
            assert self.info is not None
            self._api = ApiClient(self.info.admin)
        return self._api

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig file."""
        assert self.info is not None
        return self.info.kubeconfig

    def kubectl(self, *args: str, input_text: str | None = None, check: bool = True) -> str:
        """Run kubectl against this cluster; return its stdout."""
        result = self.run_tool("kubectl", *args, input_text=input_text)
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def run_tool(
        self, tool: str, *args: str, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl or helm against this cluster; the completed process."""
        assert self.binaries is not None
        binary = self.binaries.kubectl if tool == "kubectl" else self.binaries.helm
        return subprocess.run(
            [str(binary), f"--kubeconfig={self.kubeconfig}", *args],
            input=input_text,
            capture_output=True,
            text=True,
        )

    def apply(self, objects: list[dict[str, Any]], *flags: str) -> str:
        """``kubectl apply`` a list of objects, as a user would."""
        document = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
        return self.kubectl("apply", *flags, "-f", "-", input_text=document)

    def restart_apiserver(self) -> None:
        """Stop kube-apiserver and start it again (same flags, same port, same etcd)."""
        apiserver = self.processes.restart("kube-apiserver")
        wait_until(self._api_ready, 120, "kube-apiserver to come back", apiserver)

    def _api_ready(self) -> bool:
        with contextlib.suppress(Exception):
            return "gitVersion" in self.api().get("/version")
        return False

    def container_pid(self, pod: dict[str, Any], container: str) -> int:
        """The host PID of a running container's process (to kill it like an OOM or a crash)."""
        path = self.directory / "kubelet" / "pods" / pod["metadata"]["uid"] / f"{container}.pid"
        return int(path.read_text())

    def pod_log(self, pod_uid: str, container: str) -> str:
        """A container's output (there is no kubelet API for `kubectl logs` here)."""
        path = self.directory / "kubelet" / "pods" / pod_uid / f"{container}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop everything and remove what the cluster made."""
        if self._api is not None:
            self._api.close()
            self._api = None
        self.processes.stop_all()
        kill_marked(self.directory)  # anything a stopped process left running
        if self.network is not None:
            self.network.destroy()
        remove_created_paths(self.directory / "kubelet" / "created-paths")
        if not self.keep_directory:
            shutil.rmtree(self.directory, ignore_errors=True)


if __name__ == "__main__":
    with LocalCluster() as running:
        print(running.kubectl("get", "nodes", "-o", "wide"))
        print(f"kubeconfig: {running.kubeconfig}; Ctrl-C to stop")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
