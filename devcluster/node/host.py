"""What a real node does to the machine it runs on, checked before and undone after.

The kubelet and containerd are not polite guests: the kubelet sets kernel sysctls at every
start, adds firewall chains, makes cgroups and writes to hard-coded paths under /var; kube-
proxy adds an nftables table. One real node per machine (a lock says who holds it), and
everything it changes is written down in the cluster's directory before it is changed, so
that a stop, or the clean-up of a run that was killed, restores the machine exactly.
"""

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from devcluster.host_tools import MissingToolsError, require

# Host-wide: the kubelet sets the first three at start (setupKernelTunables); an iptables
# kube-proxy may set the last one.
NODE_SYSCTLS = (
    "vm/overcommit_memory",
    "kernel/panic",
    "kernel/panic_on_oops",
    "net/ipv4/conf/all/route_localnet",
)
# Paths the kubelet and containerd use whatever their configured directories.
HOST_PATHS = (
    Path("/var/lib/kubelet"),
    Path("/var/log/containers"),
    Path("/var/log/pods"),
    Path("/run/containerd"),
)
KUBELET_CHAINS = ("KUBE-FIREWALL", "KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT")
CGROUP_NAMES = ("kubepods", "kubepods.slice")
LOCK_FILE = Path("/run/locust-finisher-node.lock")
STATE_FILE = "host-state.json"


class PreflightError(RuntimeError):
    """The machine cannot run a real node; the message says why in one line."""


@dataclass(frozen=True)
class HostFacts:
    """What the node's configuration must adapt to."""

    cgroup_version: int  # 1 or 2
    # False where root lacks CAP_SYS_RESOURCE (this VM): containerd must clamp scores.
    can_lower_oom_score: bool


def _lower_oom_score_works() -> bool:
    probe = subprocess.run(
        ["sh", "-c", "echo -1 > /proc/self/oom_score_adj"], capture_output=True, check=False
    )
    return probe.returncode == 0


def cgroup_version() -> int:
    """2 on a unified hierarchy, else 1."""
    return 2 if Path("/sys/fs/cgroup/cgroup.controllers").exists() else 1


# What the real node runs on the host (devcluster/host-packages.mk installs it).
NODE_TOOLS = (
    "runc",
    "nft",
    "ip",
    "mount",
    "umount",
    "conntrack",
    "/usr/lib/cni/bridge",
    "/usr/lib/cni/host-local",
    "/usr/lib/cni/loopback",
)


def preflight(tools: tuple[str, ...] = NODE_TOOLS) -> HostFacts:
    """Check the machine can run a real node.

    Raises:
        PreflightError: naming what is missing and what to do about it.
    """
    if os.geteuid() != 0:
        raise PreflightError("the real node needs root (cgroups, mounts, network namespaces)")
    try:
        require(*tools)
    except MissingToolsError as missing:
        raise PreflightError(str(missing)) from None
    version = cgroup_version()
    if version == 1 and not Path("/sys/fs/cgroup/memory").is_dir():
        raise PreflightError("cgroup v1 without a memory controller: memory limits cannot work")
    return HostFacts(cgroup_version=version, can_lower_oom_score=_lower_oom_score_works())


class NodeLock:
    """One real node per machine: kubelets share hard-coded paths and host sysctls."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock, or say who holds it.

        Raises:
            PreflightError: when another node runs on this machine.
        """
        handle = LOCK_FILE.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise PreflightError(
                f"a real node already runs on this machine ({holder}); one at a time"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}: {self.owner}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        """Let the next node start."""
        if self._file is not None:
            self._file.close()
            self._file = None


def _read_sysctl(name: str) -> str:
    return (Path("/proc/sys") / name).read_text().strip()


def _existing(paths: tuple[Path, ...]) -> list[str]:
    return [str(path) for path in paths if path.exists()]


def record_host_state(directory: Path) -> None:
    """Write down what the node will change, before it changes anything."""
    state = {
        "sysctls": {name: _read_sysctl(name) for name in NODE_SYSCTLS},
        "pathsBefore": _existing(HOST_PATHS),
        "chainsBefore": iptables_chains(),
        "netnsBefore": network_namespaces(),
        "nftTablesBefore": nft_tables(),
    }
    (directory / STATE_FILE).write_text(json.dumps(state, indent=1))


def add_cleanup_command(directory: Path, argv: list[str]) -> None:
    """Have ``argv`` run when the node's changes are undone (before anything else is)."""
    state_file = directory / STATE_FILE
    state = json.loads(state_file.read_text())
    state.setdefault("cleanupCommands", []).append(argv)
    state_file.write_text(json.dumps(state, indent=1))


def restore_sysctls(directory: Path) -> None:
    """Put back the sysctls the kubelet set at its start (it sets them only then)."""
    state = json.loads((directory / STATE_FILE).read_text())
    for name, value in state["sysctls"].items():
        with contextlib.suppress(OSError):
            (Path("/proc/sys") / name).write_text(value)


def restore_host_state(directory: Path) -> None:
    """Undo what a node did to the machine (also for a node whose run was killed)."""
    state_file = directory / STATE_FILE
    if not state_file.exists():
        return
    state = json.loads(state_file.read_text())
    for argv in state.get("cleanupCommands", []):
        subprocess.run(argv, capture_output=True, check=False)
    remove_pod_cgroups()  # kills what is left in them first
    unmount_below(directory)
    for path in HOST_PATHS:
        if str(path) not in state["pathsBefore"]:
            unmount_below(path)
            shutil.rmtree(path, ignore_errors=True)
    for namespace in network_namespaces():
        if namespace not in state["netnsBefore"]:
            subprocess.run(["ip", "netns", "delete", namespace], capture_output=True)
    for chain in iptables_chains():
        if chain not in state["chainsBefore"]:
            _delete_chain(chain)
    # kube-proxy's own tables, and those iptables-nft made for the kubelet's chains.
    for table in nft_tables():
        if table not in state["nftTablesBefore"]:
            subprocess.run(["nft", "delete", "table", *table.split()], capture_output=True)
    restore_sysctls(directory)
    state_file.unlink()


def kill_pod_processes() -> int:
    """SIGKILL every process in the node's pod cgroups; how many."""
    killed = 0
    for group in _pod_cgroups():
        for procs in group.rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                for pid in procs.read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
                        killed += 1
    return killed


def _pod_cgroups() -> list[Path]:
    root = Path("/sys/fs/cgroup")
    hierarchies = [root] if cgroup_version() == 2 else [p for p in root.iterdir() if p.is_dir()]
    return [h / name for h in hierarchies for name in CGROUP_NAMES if (h / name).is_dir()]


def remove_pod_cgroups(timeout: float = 15.0) -> None:
    """Remove the kubelet's cgroups, deepest first, once their processes are gone.

    A cgroup can only go when it is empty, and SIGKILLed processes take a moment to leave:
    kill and remove again until nothing is left or ``timeout`` passes.
    """
    deadline = time.monotonic() + timeout
    while True:
        kill_pod_processes()
        for group in _pod_cgroups():
            children = sorted(
                (p for p in group.rglob("*") if p.is_dir()),
                key=lambda p: len(p.parts),
                reverse=True,
            )
            for child in [*children, group]:
                with contextlib.suppress(OSError):
                    child.rmdir()
        if not _pod_cgroups() or time.monotonic() > deadline:
            return
        time.sleep(0.2)


def unmount_below(path: Path) -> None:
    """Lazily unmount every mount point at or under ``path``, deepest first."""
    prefix = str(path.resolve()) if path.exists() else str(path)
    mounts = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        target = line.split()[1].replace("\\040", " ")
        if target == prefix or target.startswith(prefix.rstrip("/") + "/"):
            mounts.append(target)
    for target in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True)


def nft_tables() -> list[str]:
    """``family name`` of every nftables table."""
    listed = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    return [line.removeprefix("table ").strip() for line in listed.splitlines() if line.strip()]


def network_namespaces() -> list[str]:
    """The names of the machine's network namespaces."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in listed.splitlines() if line.split()]


def iptables_chains() -> list[str]:
    """The kubelet's chains present now, as ``<binary>:<table>:<chain>``."""
    found = []
    for binary in ("iptables", "ip6tables"):
        if shutil.which(binary) is None:
            continue
        for table in ("filter", "nat", "mangle"):
            listed = subprocess.run(
                [binary, "-w", "-t", table, "-S"], capture_output=True, text=True
            ).stdout
            for line in listed.splitlines():
                words = line.split()
                if len(words) == 2 and words[0] == "-N" and words[1] in KUBELET_CHAINS:
                    found.append(f"{binary}:{table}:{words[1]}")
    return found


def _delete_chain(entry: str) -> None:
    binary, table, chain = entry.split(":")
    listed = subprocess.run(
        [binary, "-w", "-t", table, "-S"], capture_output=True, text=True
    ).stdout
    for line in listed.splitlines():
        words = line.split()
        # Rules elsewhere that jump to the chain go first, or it cannot be deleted.
        if words[:1] == ["-A"] and "-j" in words and words[words.index("-j") + 1] == chain:
            subprocess.run([binary, "-w", "-t", table, "-D", *words[1:]], capture_output=True)
    subprocess.run([binary, "-w", "-t", table, "-F", chain], capture_output=True)
    subprocess.run([binary, "-w", "-t", table, "-X", chain], capture_output=True)
