"""Pod networking for the process kubelet: one network namespace and IP per pod.

Each cluster takes a /24 for pods from 198.18.0.0/16 and a /24 for Services from
198.19.0.0/16 (both inside 198.18.0.0/15, reserved for exactly this kind of test network).
Pods hang off a bridge whose address is the host's side; ClusterIPs are extra /32
addresses of that bridge (this kernel has no dummy links), where the kubelet's proxy
listens. Everything is named after the cluster so teardown (and the clean-up of a crashed
run) removes exactly what was made.
"""

import ipaddress
import random
import subprocess
from dataclasses import dataclass, field


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``ip`` with ``args``."""
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def _used_third_octets(prefix: str) -> set[int]:
    shown = ip("-o", "-4", "addr", "show").stdout
    used = set()
    for word in shown.split():
        if word.startswith(prefix):
            used.add(int(word.split(".")[2]))
    return used


@dataclass
class ClusterNetwork:
    """The bridge and the address plan of one local cluster."""

    tag: str
    index: int
    allocated: dict[str, str] = field(default_factory=dict)  # pod uid -> IP

    @property
    def bridge(self) -> str:
        """The pods' bridge."""
        return f"lfbr{self.tag}"

    @property
    def gateway(self) -> str:
        """The host's address on the pod network (the node's IP)."""
        return f"198.18.{self.index}.1"

    @property
    def pod_cidr(self) -> str:
        """This cluster's pod addresses."""
        return f"198.18.{self.index}.0/24"

    @property
    def service_cidr(self) -> str:
        """This cluster's ClusterIPs."""
        return f"198.19.{self.index}.0/24"

    @property
    def kubernetes_service_ip(self) -> str:
        """The first ClusterIP, which the API server gives the ``kubernetes`` Service."""
        return f"198.19.{self.index}.1"

    @classmethod
    def create(cls) -> "ClusterNetwork":
        """Pick free address ranges and make the bridge."""
        used = _used_third_octets("198.18.") | _used_third_octets("198.19.")
        free = [index for index in range(1, 255) if index not in used]
        if not free:
            raise RuntimeError("no free /24 left in 198.18.0.0/15")
        index = random.choice(free)
        network = cls(tag=f"{index:03d}", index=index)
        ip("link", "add", network.bridge, "type", "bridge")
        ip("addr", "add", f"{network.gateway}/24", "dev", network.bridge)
        ip("link", "set", network.bridge, "up")
        return network

    def add_service_ip(self, address: str) -> None:
        """Make ``address`` local, so the proxy can listen on it."""
        result = ip("addr", "add", f"{address}/32", "dev", self.bridge, check=False)
        # Re-adding after a re-list is fine; iproute2 words it differently across versions.
        already = ("File exists" in result.stderr) or ("already assigned" in result.stderr)
        if result.returncode != 0 and not already:
            raise RuntimeError(f"cannot add service IP {address}: {result.stderr.strip()}")

    def remove_service_ip(self, address: str) -> None:
        """Forget a ClusterIP."""
        ip("addr", "del", f"{address}/32", "dev", self.bridge, check=False)

    def _next_ip(self) -> str:
        taken = set(self.allocated.values())
        for host in ipaddress.ip_network(self.pod_cidr).hosts():
            candidate = str(host)
            if candidate != self.gateway and candidate not in taken:
                return candidate
        raise RuntimeError(f"pod network {self.pod_cidr} is full")

    def namespace_name(self, uid: str) -> str:
        """The network namespace of pod ``uid``."""
        return f"lf{self.tag}-{uid[:13]}"

    def create_pod_network(self, uid: str) -> str:
        """A network namespace for pod ``uid`` with loopback, eth0 and a default route."""
        address = self._next_ip()
        self.allocated[uid] = address
        namespace = self.namespace_name(uid)
        host_side = f"lfv{self.tag}{address.split('.')[-1]}"
        ip("netns", "add", namespace)
        ip("link", "add", host_side, "type", "veth", "peer", "name", "eth0", "netns", namespace)
        ip("link", "set", host_side, "master", self.bridge, "up")
        inside = ("-n", namespace)
        ip(*inside, "link", "set", "lo", "up")
        ip(*inside, "addr", "add", f"{address}/24", "dev", "eth0")
        ip(*inside, "link", "set", "eth0", "up")
        ip(*inside, "route", "add", "default", "via", self.gateway)
        return address

    def delete_pod_network(self, uid: str) -> None:
        """Delete the pod's namespace (its veth pair goes with it)."""
        ip("netns", "delete", self.namespace_name(uid), check=False)
        self.allocated.pop(uid, None)

    def destroy(self) -> None:
        """Remove every namespace, link and address of this cluster."""
        for uid in list(self.allocated):
            self.delete_pod_network(uid)
        remove_leftovers(self.tag)


def remove_leftovers(tag: str | None = None) -> None:
    """Delete namespaces and links of one cluster (``tag``), or of every local cluster."""
    prefix = f"lf{tag}-" if tag else "lf"
    for line in ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(prefix) and "-" in name:
            ip("netns", "delete", name, check=False)
    for kind in ("lfbr", "lfv"):
        start = f"{kind}{tag}" if tag else kind
        for line in ip("-o", "link", "show", check=False).stdout.splitlines():
            parts = line.split(":")
            if len(parts) > 1:
                name = parts[1].strip().split("@")[0]
                if name.startswith(start):
                    ip("link", "delete", name, check=False)
