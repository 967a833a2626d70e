"""A real node leaves the machine as it found it, even when its run is killed.

The kubelet changes sysctls, makes cgroups, mounts, firewall tables and directories under
/var; containerd and CNI make network namespaces. A run killed with SIGKILL cannot undo
any of that itself: ``python -m devcluster.clean`` (``make clean-cluster``) must.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from devcluster.cluster import LocalCluster
from devcluster.node.host import (
    CGROUP_NAMES,
    HOST_PATHS,
    NODE_SYSCTLS,
    PreflightError,
    iptables_chains,
    network_namespaces,
    nft_tables,
)
from tests.cluster.conftest import SharedCluster

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
HOLD_A_CLUSTER = """
import sys, time
from devcluster.cluster import LocalCluster
cluster = LocalCluster(prometheus=False)
cluster.start()
print(cluster.directory, flush=True)
time.sleep(3600)
"""


def host_snapshot() -> dict[str, object]:
    """Everything a node may change on the machine."""
    cgroups = sorted(
        str(path) for name in CGROUP_NAMES for path in Path("/sys/fs/cgroup").glob(f"*/{name}")
    ) + sorted(str(path) for name in CGROUP_NAMES for path in Path("/sys/fs/cgroup").glob(name))
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return {
        "sysctls": {name: (Path("/proc/sys") / name).read_text() for name in NODE_SYSCTLS},
        "paths": [str(path) for path in HOST_PATHS if path.exists()],
        "cgroups": cgroups,
        "netns": sorted(network_namespaces()),
        "nft": sorted(nft_tables()),
        "chains": sorted(iptables_chains()),
        "bridges": sorted(word for word in links.split() if word.startswith("lfbr")),
        "mounts": [
            line
            for line in Path("/proc/self/mounts").read_text().splitlines()
            if "locust-finisher-cluster-" in line
        ],
    }


def marked_processes(directory: str) -> list[int]:
    needle = f"LOCUST_FINISHER_CLUSTER={directory}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_a_killed_run_is_cleaned_up_and_a_second_node_is_refused_meanwhile(
    shared_cluster: SharedCluster,
) -> None:
    shared_cluster.stop()  # one real node per machine
    before = host_snapshot()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_CLUSTER],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert holder.stdout is not None
        directory = holder.stdout.readline().strip()
        assert directory, "the cluster did not start"
        during = host_snapshot()
        assert during != before, "a running node changes the machine (or this test sees nothing)"

        refused = f"already runs on this machine \\(pid {holder.pid}"
        with pytest.raises(PreflightError, match=refused), LocalCluster(prometheus=False):
            pass

        os.killpg(holder.pid, signal.SIGKILL)  # the run, not the node's own processes
        holder.wait(10)
        assert marked_processes(directory), "the node outlived its killed owner"
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
            holder.wait(10)

    cleaned = subprocess.run(
        [sys.executable, "-m", "devcluster.clean"], cwd=ROOT, capture_output=True, text=True
    )
    assert cleaned.returncode == 0, cleaned.stderr
    assert "removed 1 abandoned cluster" in cleaned.stdout
    assert marked_processes(directory) == []
    assert not Path(directory).exists()
    assert host_snapshot() == before
