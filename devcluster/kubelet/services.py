"""Services for the process kubelet: name resolution through /etc/hosts and a ClusterIP proxy.

There is no cluster DNS or kube-proxy here. Each pod gets its own hosts file listing every
Service's names (``name``, ``name.ns``, ``name.ns.svc``, ``name.ns.svc.cluster.local``) with
its ClusterIP; the file is rewritten in place when Services change. ClusterIPs are local
addresses of the host, where this proxy relays each TCP connection to a ready pod selected
by the Service (like kube-proxy's original userspace mode). The ``kubernetes`` Service
leads to the API server on loopback, so in-cluster clients work as in a real cluster.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Endpoint = tuple[str, int]


@dataclass
class ServiceRecord:
    """What the proxy knows of one Service."""

    namespace: str
    name: str
    cluster_ip: str
    selector: dict[str, str]
    ports: list[dict[str, Any]]
    servers: list[asyncio.Server] = field(default_factory=list)


def hosts_content(
    services: Mapping[tuple[str, str], ServiceRecord], namespace: str, pod_ip: str, pod_name: str
) -> str:
    """/etc/hosts for a pod in ``namespace``."""
    lines = [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        f"{pod_ip}\t{pod_name}",
    ]
    for (service_namespace, name), record in sorted(services.items()):
        if not record.cluster_ip or record.cluster_ip == "None":
            continue
        fqdn = f"{name}.{service_namespace}.svc.cluster.local"
        names = [fqdn, f"{name}.{service_namespace}.svc", f"{name}.{service_namespace}"]
        if service_namespace == namespace:
            names.append(name)
        lines.append(f"{record.cluster_ip}\t{' '.join(names)}")
    return "\n".join(lines) + "\n"


class ServiceProxy:
    """Listens on every ClusterIP:port and relays to a ready endpoint."""

    def __init__(
        self,
        network: Any,
        endpoints: Callable[[ServiceRecord, dict[str, Any]], list[Endpoint]],
        api_server: Endpoint,
    ) -> None:
        self.network = network
        self.endpoints = endpoints
        self.api_server = api_server
        self.services: dict[tuple[str, str], ServiceRecord] = {}
        self._next = 0

    async def update(self, service: Mapping[str, Any], deleted: bool = False) -> bool:
        """Apply a Service event; True if names or addresses changed."""
        metadata, spec = service["metadata"], service.get("spec", {})
        key = (metadata["namespace"], metadata["name"])
        old = self.services.pop(key, None)
        if old is not None:
            for server in old.servers:
                server.close()
        if deleted:
            if old is not None and old.cluster_ip:
                self.network.remove_service_ip(old.cluster_ip)
            return old is not None
        record = ServiceRecord(
            namespace=key[0],
            name=key[1],
            cluster_ip=spec.get("clusterIP", ""),
            selector=dict(spec.get("selector") or {}),
            ports=list(spec.get("ports") or []),
        )
        self.services[key] = record
        if record.cluster_ip and record.cluster_ip != "None":
            self.network.add_service_ip(record.cluster_ip)
            for port in record.ports:
                if port.get("protocol", "TCP") != "TCP":
                    continue
                record.servers.append(await self._listen(record, port))
        return old is None or old.cluster_ip != record.cluster_ip

    async def _listen(self, record: ServiceRecord, port: dict[str, Any]) -> asyncio.Server:
        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._relay(record, port, reader, writer)

        for _ in range(50):
            try:
                return await asyncio.start_server(relay, record.cluster_ip, int(port["port"]))
            except OSError:
                # The address may not be usable for a moment after it is added.
                await asyncio.sleep(0.1)
        return await asyncio.start_server(relay, record.cluster_ip, int(port["port"]))

    def _targets(self, record: ServiceRecord, port: dict[str, Any]) -> list[Endpoint]:
        if (record.namespace, record.name) == ("default", "kubernetes"):
            return [self.api_server]
        return self.endpoints(record, port)

    async def _relay(
        self,
        record: ServiceRecord,
        port: dict[str, Any],
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
    ) -> None:
        targets = self._targets(record, port)
        if not targets:
            client_writer.close()
            return
        self._next += 1
        host, target_port = targets[self._next % len(targets)]
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, target_port)
        except OSError:
            client_writer.close()
            return

        async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while chunk := await reader.read(65536):
                    writer.write(chunk)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(OSError, RuntimeError):
                    if writer.can_write_eof():
                        writer.write_eof()

        await asyncio.gather(
            pump(client_reader, upstream_writer), pump(upstream_reader, client_writer)
        )
        for writer in (client_writer, upstream_writer):
            writer.close()

    def close(self) -> None:
        """Stop listening everywhere."""
        for record in self.services.values():
            for server in record.servers:
                server.close()


def write_hosts_in_place(path: Path, content: str) -> None:
    """Rewrite a bind-mounted file without replacing its inode (the mount follows the inode)."""
    with path.open("r+" if path.exists() else "w") as hosts:
        hosts.seek(0)
        hosts.write(content)
        hosts.truncate()
