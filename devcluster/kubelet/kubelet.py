"""The process kubelet: binds pending pods to its node and runs them as local processes.

It also plays the scheduler's one job here (binding) and kube-proxy's (Service routing);
see :mod:`devcluster.kubelet.services`. It is test infrastructure, not a product: it does
what our tests and the demo need from a node, faithfully, and says so when it cannot.
"""

import argparse
import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Any

from devcluster.api import ApiError, AsyncApiClient, Credentials, resource_path
from devcluster.kubelet.images import image_map
from devcluster.kubelet.network import ClusterNetwork
from devcluster.kubelet.node import heartbeat, register_node
from devcluster.kubelet.pod_worker import NodeContext, PodWorker
from devcluster.kubelet.services import (
    Endpoint,
    ServiceProxy,
    ServiceRecord,
    hosts_content,
    write_hosts_in_place,
)

log = logging.getLogger("process-kubelet")


def _selected(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


class ProcessKubelet:
    """One node: its pods, their network, and the Services they use."""

    def __init__(
        self,
        api: AsyncApiClient,
        node_name: str,
        root: Path,
        network: ClusterNetwork,
        exporter_binary: str,
        api_server: Endpoint,
    ) -> None:
        self.api = api
        self.node_name = node_name
        self.root = root
        self.network = network
        self.workers: dict[str, PodWorker] = {}
        self.hosts_files: dict[str, tuple[Path, str, str, str]] = {}
        self.proxy = ServiceProxy(network, self._endpoints, api_server)
        self.created_log = root / "created-paths"
        self.context = NodeContext(
            api=api,
            node_name=node_name,
            host_ip=network.gateway,
            images=image_map(exporter_binary),
            root=root,
            network=network,
            write_hosts=self._write_hosts,
            created_paths=self._ensure_mount_point,
            kubernetes_service=(network.kubernetes_service_ip, 443),
        )

    # ----------------------------------------------------------------- helpers for workers

    def _write_hosts(self, path: Path, namespace: str, pod_ip: str, pod_name: str) -> None:
        self.hosts_files[str(path)] = (path, namespace, pod_ip, pod_name)
        write_hosts_in_place(path, hosts_content(self.proxy.services, namespace, pod_ip, pod_name))

    def _refresh_hosts(self) -> None:
        for path, namespace, pod_ip, pod_name in list(self.hosts_files.values()):
            if path.exists():
                write_hosts_in_place(
                    path, hosts_content(self.proxy.services, namespace, pod_ip, pod_name)
                )

    def _ensure_mount_point(self, target: Path, directory: bool) -> None:
        """Create a missing mount point on the host, and remember it for clean-up."""
        if target.exists():
            return
        missing = []
        parent = target.parent
        while not parent.exists():
            missing.append(parent)
            parent = parent.parent
        for path in reversed(missing):
            path.mkdir()
            path.chmod(0o755)
        if directory:
            target.mkdir()
            target.chmod(0o755)
        else:
            target.touch()
        with self.created_log.open("a") as created:
            for path in [*reversed(missing), target]:
                created.write(f"{path}\n")

    def _endpoints(self, record: ServiceRecord, port: dict[str, Any]) -> list[Endpoint]:
        found = []
        target = port.get("targetPort", port["port"])
        for worker in self.workers.values():
            if worker.namespace != record.namespace or worker.sandbox is None:
                continue
            if not _selected(record.selector, worker.pod["metadata"].get("labels") or {}):
                continue
            if not worker.ready():
                continue
            number = target
            if isinstance(target, str):
                number = next(
                    (
                        p["containerPort"]
                        for c in worker.containers
                        for p in c.spec.get("ports", []) or []
                        if p.get("name") == target
                    ),
                    None,
                )
            if number is not None:
                found.append((worker.sandbox.ip, int(number)))
        return found

    # ----------------------------------------------------------------- pods

    async def _bind(self, pod: dict[str, Any]) -> None:
        metadata = pod["metadata"]
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": metadata["name"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name},
        }
        path = resource_path("v1", "pods", metadata["namespace"], metadata["name"]) + "/binding"
        try:
            await self.api.create(path, binding)
        except ApiError as error:
            if error.status not in (404, 409):
                log.warning(
                    "binding %s/%s failed: %s", metadata["namespace"], metadata["name"], error
                )

    async def _handle_pod(self, kind: str, pod: dict[str, Any]) -> None:
        metadata, spec = pod["metadata"], pod["spec"]
        uid = metadata["uid"]
        worker = self.workers.get(uid)
        if kind == "DELETED":
            if worker is not None:
                worker.request_stop(0)
            return
        node = spec.get("nodeName")
        if not node:
            if spec.get(
                "schedulerName", "default-scheduler"
            ) == "default-scheduler" and not metadata.get("deletionTimestamp"):
                await self._bind(pod)
            return
        if node != self.node_name:
            return
        if metadata.get("deletionTimestamp"):
            if worker is not None and worker.task is not None and not worker.task.done():
                worker.request_stop(float(metadata.get("deletionGracePeriodSeconds", 30)))
            else:
                with contextlib.suppress(ApiError):
                    await self.api.delete(
                        resource_path("v1", "pods", metadata["namespace"], metadata["name"]),
                        grace_period_seconds=0,
                    )
            return
        if worker is None and pod.get("status", {}).get("phase") not in ("Succeeded", "Failed"):
            worker = PodWorker(self.context, pod)
            self.workers[uid] = worker
            worker.task = asyncio.ensure_future(self._run_worker(worker))
        elif worker is not None:
            worker.pod["metadata"] = metadata  # labels/annotations may change

    async def _run_worker(self, worker: PodWorker) -> None:
        try:
            await worker.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pod %s/%s worker crashed", worker.namespace, worker.name)
        finally:
            self.hosts_files.pop(str(self.root / "pods" / worker.uid / "hosts"), None)

    async def _watch(self, plural: str, handle: Any) -> None:
        """List, then watch from the list's resourceVersion; re-list on 410 Gone."""
        path = resource_path("v1", plural)
        while True:
            try:
                listing = await self.api.get(path)
                for item in listing.get("items", []):
                    await handle("ADDED", item)
                version = listing["metadata"]["resourceVersion"]
                while True:
                    async for event in self.api.watch(path, version, timeout_seconds=300):
                        if event["type"] == "ERROR":
                            raise ApiError(event["object"].get("code", 500), str(event["object"]))
                        version = event["object"]["metadata"]["resourceVersion"]
                        if event["type"] != "BOOKMARK":
                            await handle(event["type"], event["object"])
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("watch of %s restarts after: %s", plural, error)
                await asyncio.sleep(1)

    async def _handle_service(self, kind: str, service: dict[str, Any]) -> None:
        if await self.proxy.update(service, deleted=kind == "DELETED"):
            self._refresh_hosts()

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(10)
            try:
                await heartbeat(self.api, self.node_name, self.network.gateway)
            except Exception as error:
                log.warning("heartbeat failed: %s", error)

    async def run(self) -> None:
        """Serve until cancelled, then stop every pod."""
        await register_node(self.api, self.node_name, self.network.gateway)
        tasks = [
            asyncio.ensure_future(self._watch("services", self._handle_service)),
            asyncio.ensure_future(self._watch("pods", self._handle_pod)),
            asyncio.ensure_future(self._heartbeats()),
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await self.shutdown()

    async def shutdown(self) -> None:
        """Stop every pod's processes quickly and remove what the node created."""
        for worker in self.workers.values():
            worker.request_stop(2)
        pending = [w.task for w in self.workers.values() if w.task is not None]
        if pending:
            await asyncio.wait(pending, timeout=15)
        self.proxy.close()
        remove_created_paths(self.created_log)


def remove_created_paths(created_log: Path) -> None:
    """Remove the mount points the kubelet created on the host (deepest first, if empty)."""
    if not created_log.exists():
        return
    for line in reversed(created_log.read_text().splitlines()):
        path = Path(line)
        with contextlib.suppress(OSError):
            if path.is_dir():
                path.rmdir()
            elif path.is_file() and path.stat().st_size == 0:
                path.unlink()
    created_log.unlink()


def main() -> None:
    """Entry point: ``python -m devcluster.kubelet.kubelet ...``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", required=True)
    parser.add_argument("--ca-file", type=Path, required=True)
    parser.add_argument("--cert-file", type=Path, required=True)
    parser.add_argument("--key-file", type=Path, required=True)
    parser.add_argument("--node-name", default="devcluster-node")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--network-index", type=int, required=True)
    parser.add_argument("--exporter-binary", required=True)
    parser.add_argument("--api-port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    async def serve() -> None:
        api = AsyncApiClient(Credentials(args.server, args.ca_file, args.cert_file, args.key_file))
        network = ClusterNetwork(tag=f"{args.network_index:03d}", index=args.network_index)
        kubelet = ProcessKubelet(
            api,
            args.node_name,
            args.root,
            network,
            args.exporter_binary,
            ("127.0.0.1", args.api_port),
        )
        loop = asyncio.get_running_loop()
        main_task = asyncio.current_task()
        assert main_task is not None
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, main_task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await kubelet.run()
        await api.close()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
