"""A whole local Kubernetes in one object: control plane, a real node, and clean-up.

    with LocalCluster() as cluster:
        cluster.kubectl("get", "nodes")

The node is the real kubelet with containerd and runc, running images built here
(:mod:`devcluster.images`), with kube-scheduler, kube-proxy and CoreDNS beside it. Needs root.
One real node per machine (a lock says who has it). Everything it makes is named after the
cluster or written down before it is changed, and is removed or restored on exit, also
after a failed test; a later start, or ``python -m devcluster.clean``, does the same for a
run that was killed (its directory records its owner's PID).
"""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

from devcluster.api import ApiClient
from devcluster.build import (
    DEFAULT_KUBERNETES,
    Binaries,
    ensure_binaries,
    ensure_tool,
    pause_source,
)
from devcluster.control_plane import ControlPlaneInfo, start_control_plane
from devcluster.images import ImageArchive, ensure_images
from devcluster.node.addons import deploy_coredns, start_kube_proxy, start_scheduler
from devcluster.node.host import (
    HostFacts,
    NodeLock,
    preflight,
    record_host_state,
    restore_host_state,
    restore_sysctls,
)
from devcluster.node.kubelet import NODE_NAME, KubeletSettings, start_kubelet
from devcluster.node.network import ClusterNetwork, remove_leftovers
from devcluster.node.runtime import Runtime, start_containerd
from devcluster.processes import ProcessGroup, free_port, kill_marked, wait_until
from devcluster.prometheus import Prometheus, start_prometheus

_DIRECTORY_PREFIX = "locust-finisher-cluster-"
KUBERNETES_ENV = "LOCUST_FINISHER_KUBERNETES"


def clean_abandoned_clusters() -> int:
    """Remove the processes, network, mounts and host changes of clusters whose owner is gone.

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
        restore_host_state(directory)
        remove_leftovers(tag)
        shutil.rmtree(directory, ignore_errors=True)
        removed += 1
    return removed


def start_registry(archives: list[ImageArchive], processes: ProcessGroup) -> str:
    """:mod:`devcluster.registry` serving ``archives``; its URL once it answers."""
    return serve_registry(
        processes, "registry", "devcluster.registry", *(str(archive.path) for archive in archives)
    )


def serve_registry(processes: ProcessGroup, name: str, module: str, *arguments: str) -> str:
    """``python -m module --port=PORT arguments...``, a registry; its URL once it answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    served = processes.start(
        name,
        [sys.executable, "-m", module, f"--port={port}", *arguments],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/v2/", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    wait_until(answers, 120, f"the local {name}", served)
    return url


class _Stopwatch:
    """How long each step of a cluster start took, said in one line at the end."""

    def __init__(self) -> None:
        self.started = self.last = time.monotonic()
        self.laps: list[str] = []

    def lap(self, what: str) -> None:
        now = time.monotonic()
        self.laps.append(f"{what} {now - self.last:.1f}s")
        self.last = now

    def report(self) -> None:
        total = time.monotonic() - self.started
        print(f"[devcluster] up in {total:.1f}s: {', '.join(self.laps)}", file=sys.stderr)


class LocalCluster:
    """A running local cluster; use as a context manager."""

    def __init__(
        self,
        keep_directory: bool = False,
        prometheus: bool = True,
        kubernetes: str | None = None,
    ) -> None:
        # $LOCUST_FINISHER_KUBERNETES picks the version for a whole run (see `make test`).
        self.kubernetes = kubernetes or os.environ.get(KUBERNETES_ENV) or DEFAULT_KUBERNETES
        self.keep_directory = keep_directory
        self.with_prometheus = prometheus
        self.prometheus: Prometheus | None = None
        self.directory = Path(tempfile.mkdtemp(prefix=_DIRECTORY_PREFIX))
        self.directory.chmod(0o755)
        self.processes = ProcessGroup(self.directory)
        self.binaries: Binaries | None = None
        self.network: ClusterNetwork | None = None
        self.runtime: Runtime | None = None
        self.lock = NodeLock(f"cluster {self.directory}")
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
        facts = preflight()
        if not facts.can_lower_oom_score:
            print(
                "[devcluster] root may not lower oom_score_adj here (no CAP_SYS_RESOURCE): "
                "containerd clamps pod scores to its own (restrict_oom_score_adj)",
                file=sys.stderr,
            )
        clean_abandoned_clusters()
        self.lock.acquire()
        self.binaries = ensure_binaries(self.kubernetes)
        archives = ensure_images(self.binaries.coredns, pause_source())
        self.network = ClusterNetwork.create()
        (self.directory / "owner").write_text(f"{os.getpid()} {self.network.tag}\n")
        record_host_state(self.directory)
        node = self.directory / "node"
        cni = self.network.write_cni_config(node / "cni" / "net.d", node / "cni" / "ipam")
        clock = _Stopwatch()
        # The registry and containerd need no API server: they start alongside it.
        with ThreadPoolExecutor(1) as background:
            runtime = background.submit(
                self._start_runtime, node / "containerd", cni, facts, archives
            )
            self.info = start_control_plane(
                self.binaries,
                self.directory,
                self.processes,
                self.network.node_ip,
                self.network.service_cidr,
                self.network.kubernetes_service_ip,
            )
            clock.lap("control plane")
            if self.with_prometheus:
                self.prometheus = start_prometheus(
                    self.binaries.prometheus, self.kubeconfig, self.directory, self.processes
                )
            self.runtime = runtime.result()
            clock.lap(f"registry of {len(archives)} image archives and containerd")
        start_scheduler(self.binaries, self.kubeconfig, self.processes)
        start_kube_proxy(self.binaries, self.kubeconfig, self.network, node, self.processes)
        kubelet = start_kubelet(
            self.binaries,
            node / "kubelet",
            self.processes,
            KubeletSettings(
                node_ip=self.network.node_ip,
                kubeconfig=self.kubeconfig,
                client_ca_file=self.info.ca_file,
                runtime_endpoint=self.runtime.endpoint,
                cluster_dns=self.network.dns_service_ip,
                minor_version=int(self.binaries.kubernetes_version.split(".")[1]),
            ),
            facts,
        )
        wait_until(self._node_ready, 90, "the node to be Ready", kubelet)
        # The kubelet sets these host-wide at start; a shared machine keeps its own.
        restore_sysctls(self.directory)
        clock.lap("node Ready")
        wait_until(self._default_service_account, 60, "the default service account")
        deploy_coredns(self.network, self.apply)
        wait_until(self._dns_ready, 120, "CoreDNS to be ready", kubelet)
        clock.lap("CoreDNS ready")
        clock.report()

    def _start_runtime(
        self, directory: Path, cni: Path, facts: HostFacts, archives: list[ImageArchive]
    ) -> Runtime:
        assert self.binaries is not None
        registry = start_registry(archives, self.processes)
        runtime = start_containerd(self.binaries, directory, self.processes, cni, facts, registry)
        runtime.prepull([archive.references[0] for archive in archives], self.processes)
        return runtime

    def _dns_ready(self) -> bool:
        with contextlib.suppress(Exception):
            deployment = self.api().get("/apis/apps/v1/namespaces/kube-system/deployments/coredns")
            return bool(deployment.get("status", {}).get("readyReplicas"))
        return False

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
        binary = self.binaries.kubectl if tool == "kubectl" else ensure_tool("helm")
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
        assert self.runtime is not None
        fresh = self.api().get(
            f"/api/v1/namespaces/{pod['metadata']['namespace']}/pods/{pod['metadata']['name']}"
        )
        for status in fresh.get("status", {}).get("containerStatuses", []):
            if status["name"] == container and status.get("containerID"):
                return self.runtime.task_pid(status["containerID"].split("://", 1)[1])
        raise LookupError(f"container {container} of {pod['metadata']['name']} has no ID yet")

    def pod_log(self, namespace: str, pod: str, container: str) -> str:
        """A container's output, as ``kubectl logs`` gives it ("" if there is none yet)."""
        return self.kubectl("logs", "-n", namespace, pod, "-c", container, check=False)

    def node_info(self) -> dict[str, str]:
        """The node's kubelet and runtime versions, as the node reports them."""
        node = self.api().get(f"/api/v1/nodes/{NODE_NAME}")
        info: dict[str, str] = node.get("status", {}).get("nodeInfo", {})
        return info

    def stop(self) -> None:
        """Stop everything and restore what the cluster changed on the machine."""
        if self._api is not None:
            self._api.close()
            self._api = None
        self.processes.stop_all()
        kill_marked(self.directory)  # anything a stopped process left running: shims
        restore_host_state(self.directory)
        if self.network is not None:
            self.network.destroy()
        self.lock.release()
        if not self.keep_directory:
            shutil.rmtree(self.directory, ignore_errors=True)


if __name__ == "__main__":
    with LocalCluster() as running:
        print(running.kubectl("get", "nodes", "-o", "wide"))
        print(f"kubeconfig: {running.kubeconfig}; Ctrl-C to stop")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
