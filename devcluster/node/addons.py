"""What every cluster has beside the kubelet: the scheduler, kube-proxy and CoreDNS.

kube-scheduler binds pods to the node; kube-proxy makes ClusterIPs work, in nftables mode
(its own table, nothing in iptables) from 1.31 and in iptables mode before; CoreDNS, in a
pod like on any cluster, resolves Service names, so Locust workers find their master by
name.
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devcluster.build import Binaries
from devcluster.control_plane import feature_gates
from devcluster.images import COREDNS_IMAGE
from devcluster.node.host import add_cleanup_command
from devcluster.node.kubelet import NODE_NAME
from devcluster.node.network import ClusterNetwork
from devcluster.operator_shapes import deployment
from devcluster.processes import SYSTEM_PATH, Managed, ProcessGroup, free_port

# The first version whose kube-proxy has the nftables mode as beta, on by default.
NFTABLES_SINCE = 31


def start_scheduler(binaries: Binaries, kubeconfig: Path, processes: ProcessGroup) -> Managed:
    """kube-scheduler, with the admin's credentials (a test cluster's shortcut)."""
    gates = feature_gates(binaries.kubernetes_version)
    return processes.start(
        "kube-scheduler",
        [
            str(binaries.kube_scheduler),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}",
            *gates,
            "--v=1",
        ],
    )


def start_kube_proxy(
    binaries: Binaries,
    kubeconfig: Path,
    network: ClusterNetwork,
    directory: Path,
    processes: ProcessGroup,
) -> Managed:
    """kube-proxy; it leaves the host's conntrack and route_localnet sysctls alone."""
    nftables = int(binaries.kubernetes_version.split(".")[1]) >= NFTABLES_SINCE
    config: dict[str, Any] = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "nftables" if nftables else "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": NODE_NAME,
        "clusterCIDR": network.pod_cidr,
        "detectLocalMode": "ClusterCIDR",
        "healthzBindAddress": f"127.0.0.1:{free_port()}",
        "metricsBindAddress": f"127.0.0.1:{free_port()}",
        "nodePortAddresses": [f"{network.node_ip}/32"],
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
    }
    if not nftables:
        # Else it sets net.ipv4.conf.all.route_localnet host-wide for localhost NodePorts.
        config["iptables"] = {"localhostNodePorts": False}
        # Its chains live in iptables; `--cleanup` is how it removes them, also for a node
        # whose run was killed.
        add_cleanup_command(directory.parent, [str(binaries.kube_proxy), "--cleanup"])
    config_file = directory / "kube-proxy.yaml"
    config_file.write_text(json.dumps(config, indent=1))
    return processes.start(
        "kube-proxy",
        [str(binaries.kube_proxy), f"--config={config_file}", "--v=1"],
        env={"PATH": SYSTEM_PATH},
    )


_COREFILE = """.:53 {
    errors
    health :8080
    ready :8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
    loop
    reload
}
"""


def _coredns_pod_spec() -> dict[str, Any]:
    return {
        "serviceAccountName": "coredns",
        "dnsPolicy": "Default",
        "priorityClassName": "system-cluster-critical",
        "containers": [
            {
                "name": "coredns",
                "image": COREDNS_IMAGE,
                "imagePullPolicy": "IfNotPresent",
                "args": ["-conf", "/etc/coredns/Corefile"],
                "ports": [
                    {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                    {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                ],
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 1},
                "resources": {
                    "requests": {"cpu": "50m", "memory": "32Mi"},
                    "limits": {"memory": "128Mi"},
                },
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
                },
                "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns"}],
            }
        ],
        "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
    }


def coredns_objects(network: ClusterNetwork) -> list[dict[str, Any]]:
    """CoreDNS as clusters run it: a Deployment behind the ``kube-dns`` Service."""
    labels = {"k8s-app": "kube-dns"}
    meta = {"name": "coredns", "namespace": "kube-system"}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "system:coredns"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["list", "watch"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "system:coredns"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:coredns",
            },
            "subjects": [{"kind": "ServiceAccount", **meta}],
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta,
            "data": {"Corefile": _COREFILE},
        },
        deployment("coredns", "kube-system", labels, _coredns_pod_spec()),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
            "spec": {
                "selector": labels,
                "clusterIP": network.dns_service_ip,
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                ],
            },
        },
    ]


def deploy_coredns(network: ClusterNetwork, apply: Callable[[list[dict[str, Any]]], str]) -> None:
    """Create CoreDNS's objects (readiness is the caller's to wait for)."""
    apply(coredns_objects(network))
