"""The real control plane: etcd, kube-apiserver and kube-controller-manager.

Built from Go modules by :mod:`devcluster.build`; certificates from :mod:`app.certificates`.
The API server runs with TLS, client-certificate authentication, RBAC, Pod Security
admission and the mutating-webhook plugin, like a real cluster; the controller manager runs
the job, garbage-collector, namespace and service-account controllers among its defaults.
etcd stays on loopback; the API server listens on the node's address, where pods reach it
through the ``kubernetes`` Service, and calls the kubelet with a client certificate.
"""

import base64
import ssl
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from app.certificates import KeyPair, issue, new_ca, write_pair
from devcluster.api import Credentials
from devcluster.build import Binaries
from devcluster.processes import ProcessGroup, free_port, wait_until


@dataclass(frozen=True)
class ControlPlaneInfo:
    """How to reach the running control plane."""

    server: str
    port: int
    kubeconfig: Path
    admin: Credentials
    ca: KeyPair
    ca_file: Path


def _kubeconfig(server: str, ca: KeyPair, client: KeyPair, user: str) -> str:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"""apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: {server}
    certificate-authority-data: {b64(ca.cert_pem)}
users:
- name: {user}
  user:
    client-certificate-data: {b64(client.cert_pem)}
    client-key-data: {b64(client.key_pem)}
contexts:
- name: local
  context: {{cluster: local, user: {user}}}
current-context: local
"""


def feature_gates(version: str) -> list[str]:
    """Flags that turn on, in an older version, what locust-k8s-operator 2.3's pods need.

    Native sidecars are on by default from 1.29; 1.28 has them as an alpha feature, so the
    oldest version can still run pods of that shape.
    """
    minor = int(version.split(".")[1])
    return ["--feature-gates=SidecarContainers=true"] if minor < 29 else []


def _healthy(url: str, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def start_control_plane(
    binaries: Binaries,
    directory: Path,
    processes: ProcessGroup,
    address: str,
    service_cidr: str,
    kubernetes_service_ip: str,
) -> ControlPlaneInfo:
    """Start etcd, the API server and the controller manager; return once they serve.

    The API server listens on ``address``, the node's; etcd stays on loopback.
    """
    gates = feature_gates(binaries.kubernetes_version)
    pki = directory / "pki"
    ca = new_ca("locust-finisher local cluster CA")
    ca_file, _ = write_pair(pki, "ca", ca)
    serving = issue(
        ca,
        "kube-apiserver",
        [
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ],
        ["127.0.0.1", address, kubernetes_service_ip],
    )
    serving_cert, serving_key = write_pair(pki, "apiserver", serving)
    admin = issue(ca, "admin", client=True, organization="system:masters")
    admin_cert, admin_key = write_pair(pki, "admin", admin)
    kubelet_client = issue(
        ca, "kube-apiserver-kubelet-client", client=True, organization="system:masters"
    )
    kubelet_client_cert, kubelet_client_key = write_pair(pki, "kubelet-client", kubelet_client)
    manager = issue(
        ca, "system:kube-controller-manager", client=True, organization="system:masters"
    )
    service_accounts = new_ca("service-account-signer")  # only its EC key is used
    sa_cert, sa_key = write_pair(pki, "sa", service_accounts)

    etcd_port, etcd_peer, api_port = free_port(), free_port(), free_port()
    etcd = processes.start(
        "etcd",
        [
            str(binaries.etcd),
            "--name=local",
            f"--data-dir={directory / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
            f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
            f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-cluster=local=http://127.0.0.1:{etcd_peer}",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
    )
    wait_until(lambda: _healthy(f"http://127.0.0.1:{etcd_port}/health"), 60, "etcd", etcd)

    server = f"https://{address}:{api_port}"
    apiserver = processes.start(
        "kube-apiserver",
        [
            str(binaries.kube_apiserver),
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            f"--bind-address={address}",
            f"--advertise-address={address}",
            f"--secure-port={api_port}",
            f"--tls-cert-file={serving_cert}",
            f"--tls-private-key-file={serving_key}",
            f"--client-ca-file={ca_file}",
            "--authorization-mode=RBAC",
            f"--service-account-key-file={sa_cert}",
            f"--service-account-signing-key-file={sa_key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={service_cidr}",
            # Webhooks addressed by Service are dialled at their endpoints' pod IPs: the API
            # server runs outside the pod network's DNS, as on many managed clusters.
            "--enable-aggregator-routing=true",
            f"--kubelet-client-certificate={kubelet_client_cert}",
            f"--kubelet-client-key={kubelet_client_key}",
            # The node registers under a name no DNS knows; its InternalIP is the way in.
            "--kubelet-preferred-address-types=InternalIP",
            "--allow-privileged=true",
            "--profiling=false",
            *gates,
            "--v=1",
        ],
        # A throwaway cluster needs no graceful shutdown: the pods' open watches would hold
        # the API server up for its whole termination grace period.
        stop_timeout=2,
    )
    tls = ssl.create_default_context(cafile=str(ca_file))
    tls.load_cert_chain(str(admin_cert), str(admin_key))
    wait_until(lambda: _healthy(f"{server}/readyz", tls), 180, "kube-apiserver", apiserver)

    kubeconfig = directory / "kubeconfig"
    kubeconfig.write_text(_kubeconfig(server, ca, admin, "admin"))
    manager_kubeconfig = directory / "kube-controller-manager.kubeconfig"
    manager_kubeconfig.write_text(_kubeconfig(server, ca, manager, "kube-controller-manager"))
    manager_process = processes.start(
        "kube-controller-manager",
        [
            str(binaries.kube_controller_manager),
            f"--kubeconfig={manager_kubeconfig}",
            f"--authentication-kubeconfig={manager_kubeconfig}",
            f"--authorization-kubeconfig={manager_kubeconfig}",
            f"--root-ca-file={ca_file}",
            f"--service-account-private-key-file={sa_key}",
            "--use-service-account-credentials=false",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}",
            "--controllers=*,-nodeipam",
            # Finished Jobs and pods are the subject of our tests; keep them.
            "--terminated-pod-gc-threshold=1000",
            *gates,
            "--v=1",
        ],
    )
    time.sleep(0.5)
    if manager_process.process.poll() is not None:
        raise RuntimeError(f"kube-controller-manager exited:\n{manager_process.log_tail()}")
    return ControlPlaneInfo(
        server=server,
        port=api_port,
        kubeconfig=kubeconfig,
        admin=Credentials(server, ca_file, admin_cert, admin_key),
        ca=ca,
        ca_file=ca_file,
    )
