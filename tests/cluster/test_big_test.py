"""A big test stays within the finisher's limits: 5,000 request names, over a million requests.

The finisher reads Locust's whole ``/stats/requests`` (one row per name) every poll, so its
memory grows with the number of names. Here it runs under its real 64Mi cgroup limit on the
real kubelet; the container's cgroup is read from the host while it runs (its peak usage and
CPU time), and the summary it leaves must fit the 4 KiB termination message.
"""

import contextlib
import time
from pathlib import Path

import pytest

from app.core import names
from app.core.summary import decode_summary
from devcluster import operator_shapes as shapes
from devcluster.cluster import LocalCluster
from devcluster.loadtest import Outcome, job_finished, master_pod, prepare_namespace

pytestmark = pytest.mark.cluster

REQUEST_NAMES = 5000
# No network: each task fires one request event per name, as fast as Locust records them
# (about 280,000 a second in one process here), so a million requests take seconds.
FLOOD_LOCUSTFILE = f"""\
from locust import User, constant, task

NAMES = [f"/item/{{n}}" for n in range({REQUEST_NAMES})]


class Flood(User):
    wait_time = constant(0)

    @task
    def burst(self):
        fire = self.environment.events.request.fire
        for name in NAMES:
            fire(request_type="GET", name=name, response_time=1.0, response_length=0,
                 exception=None, context={{}})
"""
TERMINATION_MESSAGE_LIMIT = 4096
MEMORY_LIMIT = 64 * 1024 * 1024


def memory_cgroup(pid: int) -> Path:
    """The memory cgroup directory of a host process (cgroup v1 or v2)."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        hierarchy, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return Path("/sys/fs/cgroup/memory") / path.lstrip("/")
        if hierarchy == "0" and not controllers:
            return Path("/sys/fs/cgroup") / path.lstrip("/")
    raise LookupError(f"no memory cgroup for pid {pid}")


def read_peak(directory: Path) -> int:
    """The cgroup's peak memory use so far, in bytes (0 once it is gone)."""
    for name in ("memory.max_usage_in_bytes", "memory.peak"):
        with contextlib.suppress(OSError):
            return int((directory / name).read_text())
    return 0


def read_cpu_seconds(memory_directory: Path) -> float:
    """The container's CPU time so far (cgroup v1's cpuacct beside memory, or v2's cpu.stat)."""
    v1 = Path(str(memory_directory).replace("/memory/", "/cpuacct/", 1)) / "cpuacct.usage"
    with contextlib.suppress(OSError):
        return int(v1.read_text()) / 1e9
    with contextlib.suppress(OSError, StopIteration):
        stat = (memory_directory / "cpu.stat").read_text().splitlines()
        return int(next(line for line in stat if line.startswith("usage_usec")).split()[1]) / 1e6
    return 0.0


def test_five_thousand_names_and_a_million_requests_stay_within_the_limits(
    cluster: LocalCluster,
) -> None:
    namespace = "big-test"
    prepare_namespace(cluster, namespace)
    test = shapes.LoadTest(
        name="big",
        namespace=namespace,
        users=2,
        spawn_rate=2,
        run_time="15s",
        autoquit=10,
        master_annotations={names.TTL_ANNOTATION: "1s", names.WAIT_FOR_SCRAPE_ANNOTATION: "false"},
    )
    objects = shapes.load_test_objects(test)
    objects[0]["data"]["locustfile.py"] = FLOOD_LOCUSTFILE
    cluster.apply(objects)
    job_path = f"/apis/batch/v1/namespaces/{namespace}/jobs/{test.node_name}-master"
    peak = 0
    cpu = 0.0
    cgroup: Path | None = None
    deadline = time.monotonic() + 240
    while not job_finished(cluster.api().get(job_path)):
        assert time.monotonic() < deadline, "the big test did not finish in 4 minutes"
        pod = master_pod(cluster, test)
        if pod is not None and cgroup is None:
            with contextlib.suppress(LookupError, OSError):
                cgroup = memory_cgroup(cluster.container_pid(pod, names.FINISHER_CONTAINER))
        if cgroup is not None:
            peak = max(peak, read_peak(cgroup))
            cpu = max(cpu, read_cpu_seconds(cgroup))
        time.sleep(0.5)
    pod = master_pod(cluster, test)
    assert pod is not None
    outcome = Outcome(cluster.api().get(job_path), pod, master_log="", prometheus_requests=None)
    finisher = outcome.terminated(names.FINISHER_CONTAINER)
    assert finisher["exitCode"] == 0, finisher
    assert outcome.job_condition == "Complete"
    message = finisher.get("message", "")
    assert 0 < len(message.encode()) <= TERMINATION_MESSAGE_LIMIT
    summary = decode_summary(message)
    assert summary is not None
    assert summary["requests"] >= 1_000_000, summary["requests"]
    # Locust's web UI lists at most 500 names; the summary keeps the largest and counts the rest.
    assert summary.get("leftOut"), summary
    assert 0 < peak < MEMORY_LIMIT
    print(
        f"[big test] {summary['requests']} requests over {REQUEST_NAMES} names; finisher "
        f"peak {peak / 2**20:.1f} MiB of its {MEMORY_LIMIT / 2**20:.0f} MiB limit, "
        f"{cpu:.1f} s CPU; termination message {len(message.encode())} bytes",
        flush=True,
    )
