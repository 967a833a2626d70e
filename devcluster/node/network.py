"""The local cluster's address plan and the node's bridge, for the CNI bridge plugin.

Pods take a /24 from 198.18.0.0/16 and Services a /24 from 198.19.0.0/16, both inside
198.18.0.0/15, which is reserved for exactly this kind of test network. The bridge's address
is the node's IP and the API server's address, so pods reach the API server through the
``kubernetes`` Service as on any cluster. Names carry a tag, so the clean-up of a killed
run removes exactly what it made.
"""

import json
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

CNI_BIN = Path("/usr/lib/cni")
BRIDGE_PREFIX = "lfbr"


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``ip`` with ``args``."""
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def _used_third_octets(prefix: str) -> set[int]:
    shown = ip("-o", "-4", "addr", "show").stdout
    return {int(word.split(".")[2]) for word in shown.split() if word.startswith(prefix)}


@dataclass(frozen=True)
class ClusterNetwork:
    """The address plan and the bridge of one local cluster."""

    tag: str
    index: int

    @property
    def bridge(self) -> str:
        """The pods' bridge."""
        return f"{BRIDGE_PREFIX}{self.tag}"

    @property
    def node_ip(self) -> str:
        """The node's (and the API server's) address: the bridge's."""
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

    @property
    def dns_service_ip(self) -> str:
        """CoreDNS's ClusterIP."""
        return f"198.19.{self.index}.10"

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
        ip("addr", "add", f"{network.node_ip}/24", "dev", network.bridge)
        ip("link", "set", network.bridge, "up")
        return network

    def write_cni_config(self, directory: Path, ipam_dir: Path) -> Path:
        """The bridge + host-local network every pod joins; the config directory."""
        directory.mkdir(parents=True, exist_ok=True)
        config = {
            "cniVersion": "1.0.0",
            "name": f"locust-finisher-{self.tag}",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": self.bridge,
                    "isGateway": True,
                    # Pods need no way out: traffic stays on this machine's test network.
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(ipam_dir),
                        "ranges": [[{"subnet": self.pod_cidr, "gateway": self.node_ip}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                },
            ],
        }
        (directory / "10-locust-finisher.conflist").write_text(json.dumps(config, indent=1))
        return directory

    def destroy(self) -> None:
        """Remove the bridge (the pods' veths and namespaces went with their sandboxes)."""
        remove_leftovers(self.tag)


def remove_leftovers(tag: str | None = None) -> None:
    """Delete the bridge of one cluster (``tag``), or of every local cluster, and CNI netns."""
    start = f"{BRIDGE_PREFIX}{tag}" if tag else BRIDGE_PREFIX
    for line in ip("-o", "link", "show", check=False).stdout.splitlines():
        parts = line.split(":")
        if len(parts) > 1:
            name = parts[1].strip().split("@")[0]
            if name.startswith(start):
                ip("link", "delete", name, check=False)
