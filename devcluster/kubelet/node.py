"""The process kubelet's Node object and its heartbeats (status and Lease), so it stays Ready."""

import platform
import time
from typing import Any

from app.core.timestamps import format_time
from devcluster.api import ApiError, AsyncApiClient, resource_path
from devcluster.build import KUBERNETES_VERSION

LEASE_DURATION_SECONDS = 40


def _micro_now() -> str:
    return format_time(time.time(), fraction_digits=6)


def _now() -> str:
    return format_time(time.time())


def node_status(host_ip: str, node_name: str) -> dict[str, Any]:
    """The status a healthy kubelet reports."""
    stamp = _now()

    def condition(kind: str, status: str, reason: str) -> dict[str, str]:
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "lastHeartbeatTime": stamp,
            "lastTransitionTime": stamp,
        }

    return {
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID"),
            condition("Ready", "True", "KubeletReady"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": host_ip},
            {"type": "Hostname", "address": node_name},
        ],
        "capacity": {"cpu": "2", "memory": "24Gi", "pods": "250", "ephemeral-storage": "50Gi"},
        "allocatable": {"cpu": "2", "memory": "24Gi", "pods": "250", "ephemeral-storage": "50Gi"},
        "nodeInfo": {
            "machineID": "",
            "systemUUID": "",
            "bootID": "",
            "kernelVersion": platform.release(),
            "osImage": "locust-finisher devcluster",
            "containerRuntimeVersion": "process://devcluster",
            "kubeletVersion": KUBERNETES_VERSION,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }


async def register_node(api: AsyncApiClient, node_name: str, host_ip: str) -> None:
    """Create the Node (or adopt an existing one) and report it Ready."""
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node_name,
            "labels": {
                "kubernetes.io/hostname": node_name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node.kubernetes.io/process-kubelet": "true",
            },
        },
    }
    try:
        await api.create(resource_path("v1", "nodes"), node)
    except ApiError as error:
        if error.status != 409:
            raise
    await heartbeat(api, node_name, host_ip)


async def heartbeat(api: AsyncApiClient, node_name: str, host_ip: str) -> None:
    """Refresh the node's status and its Lease in kube-node-lease."""
    await api.patch(
        resource_path("v1", "nodes", name=node_name) + "/status",
        {"status": node_status(host_ip, node_name)},
        kind="strategic",
    )
    lease_path = resource_path("coordination.k8s.io/v1", "leases", "kube-node-lease", node_name)
    spec = {
        "holderIdentity": node_name,
        "leaseDurationSeconds": LEASE_DURATION_SECONDS,
        "renewTime": _micro_now(),
    }
    try:
        await api.patch(lease_path, {"spec": spec})
    except ApiError as error:
        if error.status != 404:
            raise
        await api.create(
            resource_path("coordination.k8s.io/v1", "leases", "kube-node-lease"),
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": node_name},
                "spec": spec,
            },
        )
