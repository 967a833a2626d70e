"""The real kubelet of the local node: its configuration and its start.

Built from the same Kubernetes module as the control plane. It talks to containerd over
CRI, authenticates the API server by the cluster CA (so ``kubectl logs`` and ``exec`` work
without an anonymous kubelet) and keeps its pods, certificates and plugins' state in the
cluster's directory. Settings that differ from a stock node are explained where they are.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from devcluster.build import Binaries
from devcluster.node.host import HostFacts
from devcluster.processes import SYSTEM_PATH, Managed, ProcessGroup, free_port

NODE_NAME = "devcluster-node"


@dataclass(frozen=True)
class KubeletSettings:
    """What the kubelet needs from the rest of the node."""

    node_ip: str
    kubeconfig: Path
    client_ca_file: Path
    runtime_endpoint: str
    cluster_dns: str
    minor_version: int  # of the kubelet, for settings that came or went


def _configuration(settings: KubeletSettings, facts: HostFacts, port: int) -> dict[str, object]:
    config: dict[str, object] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "containerRuntimeEndpoint": settings.runtime_endpoint,
        "cgroupDriver": "cgroupfs",
        "address": settings.node_ip,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": free_port(),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(settings.client_ca_file)},
        },
        "authorization": {"mode": "Webhook"},
        # The images are imported, not pulled: never collect them.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        # Tests must not be evicted because a shared CI disk is fuller than a node's would be.
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "nodeStatusUpdateFrequency": "4s",
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "serializeImagePulls": False,
        "maxPods": 110,
        "resolvConf": "/etc/resolv.conf",
        "clusterDNS": [settings.cluster_dns],
        "clusterDomain": "cluster.local",
        "failSwapOn": False,
    }
    if not facts.can_lower_oom_score:
        config["oomScoreAdj"] = 0  # it cannot lower its own score either
    if settings.minor_version < 29:
        config["featureGates"] = {"SidecarContainers": True}  # see control_plane.feature_gates
    if facts.cgroup_version == 1 and settings.minor_version >= 31:
        # Refused by default since 1.35 (deprecated since 1.31); these machines are v1.
        config["failCgroupV1"] = False
    return config


def start_kubelet(
    binaries: Binaries,
    directory: Path,
    processes: ProcessGroup,
    settings: KubeletSettings,
    facts: HostFacts,
) -> Managed:
    """Start the kubelet (it registers the node itself)."""
    directory.mkdir(parents=True, exist_ok=True)
    config_file = directory / "config.yaml"
    config_file.write_text(json.dumps(_configuration(settings, facts, free_port()), indent=1))
    return processes.start(
        "kubelet",
        [
            str(binaries.kubelet),
            f"--config={config_file}",
            f"--kubeconfig={settings.kubeconfig}",
            f"--root-dir={directory / 'root'}",
            # Not derived from --root-dir: without it the kubelet writes /var/lib/kubelet/pki.
            f"--cert-dir={directory / 'pki'}",
            f"--node-ip={settings.node_ip}",
            f"--hostname-override={NODE_NAME}",
            "--v=1",
        ],
        env={"PATH": SYSTEM_PATH},
        stop_timeout=20,
    )
