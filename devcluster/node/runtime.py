"""containerd with runc for the real node: its configuration and its start.

containerd 2.x is built from its Go module (devcluster.build); runc and the CNI plugins are
Debian's. Its root, state, sockets and runc state all live in the cluster's directory, so
nothing collides with another containerd on the machine. Every registry host leads to
:mod:`devcluster.registry` on loopback, which serves the images built here under the names
manifests use, so pods pull them with ``imagePullPolicy`` as users wrote it.
"""

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devcluster.build import Binaries
from devcluster.images import PAUSE_IMAGE
from devcluster.node.host import HostFacts
from devcluster.processes import SYSTEM_PATH, Managed, ProcessGroup, wait_until

NAMESPACE = "k8s.io"  # the CRI plugin's containerd namespace


@dataclass(frozen=True)
class Runtime:
    """A running containerd."""

    socket: Path
    ctr_binary: Path
    process: Managed
    hosts_dir: Path  # containerd's registry settings

    @property
    def endpoint(self) -> str:
        """The CRI endpoint for the kubelet."""
        return f"unix://{self.socket}"

    def ctr(self, *args: str) -> str:
        """Run ``ctr`` in the CRI's namespace; its output."""
        result = subprocess.run(
            [str(self.ctr_binary), f"--address={self.socket}", "-n", NAMESPACE, *args],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)}: {result.stderr.strip()[-500:]}")
        return result.stdout

    def prepull(self, references: list[str], processes: ProcessGroup) -> None:
        """Start pulling ``references`` in the background, as a node's image pre-puller would.

        The kubelet pulls what a pod needs when it starts; pulling ahead while the rest of
        the cluster starts only saves that wait. A pod that comes first pulls as usual.
        """
        for number, reference in enumerate(references):
            processes.start(
                f"prepull-{number}",
                [
                    str(self.ctr_binary),
                    f"--address={self.socket}",
                    "-n",
                    NAMESPACE,
                    "images",
                    "pull",
                    f"--hosts-dir={self.hosts_dir}",
                    reference,
                ],
            )

    def pull_from(self, host: str, url: str) -> None:
        """Pull ``host``'s images from ``url`` (plain HTTP), not from the node's own registry.

        What a platform team writes on its nodes for a registry of its own
        (``certs.d/<host>/hosts.toml``); containerd reads it at each pull.
        """
        directory = self.hosts_dir / host
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "hosts.toml").write_text(f'server = "{url}"\n')

    def task_pid(self, container_id: str) -> int:
        """The host PID of a container's main process."""
        for line in self.ctr("tasks", "ls").splitlines()[1:]:
            words = line.split()
            if words and words[0] == container_id:
                return int(words[1])
        raise LookupError(f"no running task for container {container_id}")


def _registry_hosts(directory: Path, registry: str) -> Path:
    """Containerd's per-registry settings: every host (``_default``) is our registry."""
    default = directory / "certs.d" / "_default"
    default.mkdir(parents=True, exist_ok=True)
    (default / "hosts.toml").write_text(f'server = "{registry}"\n')
    return directory / "certs.d"


def _config(directory: Path, cni_conf_dir: Path, facts: HostFacts, registry: str) -> str:
    runc = shutil.which("runc") or "/usr/sbin/runc"
    return f"""version = 3
root = "{directory / "root"}"
state = "{directory / "state"}"
[grpc]
  address = "{directory / "containerd.sock"}"
[ttrpc]
  address = "{directory / "containerd.sock.ttrpc"}"
[metrics]
  address = ""
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "{PAUSE_IMAGE}"
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = "{_registry_hosts(directory, registry)}"
[plugins."io.containerd.cri.v1.runtime"]
  # Where root may not lower oom_score_adj (no CAP_SYS_RESOURCE), every sandbox would fail
  # with an opaque runc error; clamping to containerd's own score is what rootless nodes do.
  restrict_oom_score_adj = {"false" if facts.can_lower_oom_score else "true"}
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "{runc}"
        SystemdCgroup = false
        Root = "{directory / "runc"}"
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "{cni_conf_dir}"
    max_conf_num = 1
[plugins."io.containerd.internal.v1.opt"]
  path = "{directory / "opt"}"
"""


def start_containerd(
    binaries: Binaries,
    directory: Path,
    processes: ProcessGroup,
    cni_conf_dir: Path,
    facts: HostFacts,
    registry: str,
) -> Runtime:
    """Start containerd, pulling from ``registry`` (a URL); return once it answers."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "config.toml"
    config.write_text(_config(directory, cni_conf_dir, facts, registry))
    # containerd finds its shim on PATH.
    path = f"{binaries.containerd_shim.parent}:{SYSTEM_PATH}"
    process = processes.start(
        "containerd",
        [str(binaries.containerd), f"--config={config}", "--log-level=warn"],
        env={"PATH": path, "HOME": "/root"},
        stop_timeout=15,
    )
    runtime = Runtime(directory / "containerd.sock", binaries.ctr, process, directory / "certs.d")

    def answers() -> bool:
        try:
            runtime.ctr("version")
        except RuntimeError:
            return False
        return True

    wait_until(answers, 30, "containerd", process)
    return runtime
