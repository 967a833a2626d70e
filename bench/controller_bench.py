"""Benchmark the controller on the local Kubernetes: memory, quit delay, failover.

    uv run python -m bench.controller_bench        (or: make bench; needs root)

1. Memory with 1,000 managed pods: realistic mutated master pods (about 10 KB each, as the
   webhook leaves them) that no node runs; a controller process lists and watches them.
2. Delay from a quit deadline to the /quitquitquit call, over 20 short strategy-controller
   pods that really run (TTL 1 s), read from the controller's own histogram.
3. Failover: a second replica takes the Lease after the leader is SIGKILLed, and after a
   leader is stopped with SIGTERM (it hands the Lease back).
The controllers run as local processes with the admin kubeconfig, as two in-cluster replicas
would, minus the pod.
"""

import copy
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from app.controller.admission_key import SECRET_KEY, SECRET_NAME
from devcluster.cluster import LocalCluster
from devcluster.install import opt_in_namespace
from devcluster.operator_shapes import quick_master_pod
from devcluster.processes import free_port, wait_until
from testkit.admission import TEST_KEY, signed_now

ROOT = Path(__file__).resolve().parent.parent
LEASE = "/apis/coordination.k8s.io/v1/namespaces/default/leases/locust-finisher-controller"


def template_pod() -> dict[str, Any]:
    golden = yaml.safe_load(
        (ROOT / "tests/fixtures/golden/operator-go-2.2-master.yaml").read_text()
    )
    pod: dict[str, Any] = golden["patchedPod"]
    for key in ("generateName", "ownerReferences", "managedFields", "finalizers"):
        pod["metadata"].pop(key, None)
    pod["spec"]["schedulerName"] = "nobody"  # never run: only the controller's memory matters
    pod["spec"].pop("nodeName", None)
    return pod


def start_controller(cluster: LocalCluster, name: str, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli.main",
            "controller",
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--lease-namespace",
            "default",
            "--identity",
            name,
            "--metrics-port",
            str(port),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def metric(port: int, name: str) -> dict[str, float]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    except OSError:
        return {}  # not serving yet
    values = {}
    for line in text.splitlines():
        if line.startswith(name):
            key, _, value = line.rpartition(" ")
            values[key] = float(value)
    return values


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def takeover_seconds(api: Any, stop: Callable[[], None], successor: str) -> float:
    """Stop the leader with ``stop``; how long until ``successor`` holds the Lease."""
    stopped = time.monotonic()
    stop()
    wait_until(lambda: api.get(LEASE)["spec"].get("holderIdentity") == successor, 60, successor)
    return time.monotonic() - stopped


def main() -> None:
    rows = []
    with LocalCluster(prometheus=False) as cluster:
        api = cluster.api()
        # The webhook is not installed here: the pods carry its mutation and its signed record
        # already, with the key the controllers will find in place of making one.
        api.create(
            "/api/v1/namespaces/default/secrets",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": SECRET_NAME},
                "stringData": {SECRET_KEY: TEST_KEY.decode()},
            },
        )
        pod = template_pod()
        started = time.monotonic()
        for index in range(1000):
            item = copy.deepcopy(pod)
            item["metadata"]["name"] = f"master-{index}"
            item["metadata"]["namespace"] = "default"
            api.create("/api/v1/namespaces/default/pods", signed_now(item, "default", TEST_KEY))
        print(f"created 1000 managed pods in {time.monotonic() - started:.0f}s", flush=True)

        port_a, port_b = free_port(), free_port()
        leader = start_controller(cluster, "replica-a", port_a)
        started = time.monotonic()
        wait_until(
            lambda: (
                metric(port_a, "locust_finisher_controller_pods_tracked").get(
                    "locust_finisher_controller_pods_tracked"
                )
                == 1000
            ),
            120,
            "the controller to list",
        )
        listed = time.monotonic() - started
        time.sleep(10)
        rows.append(
            (
                "controller resident memory with 1,000 managed pods",
                f"{rss_mib(leader.pid):.1f} MiB",
                "< 100 MiB",
            )
        )
        rows.append(("start to all 1,000 pods known (Lease, paged list)", f"{listed:.1f} s", ""))

        # Quit delay: the webhook is not installed here, so the pods carry its mutation already.
        from app.core.cluster_config import InjectionConfig
        from app.core.inject import mutate_pod
        from testkit.pod_fixtures import apply_patch

        opt_in_namespace(cluster, "bench-quit")
        for index in range(20):
            raw = quick_master_pod("bench-quit", f"quick-{index}")
            mutated = apply_patch(raw, mutate_pod(raw, InjectionConfig()).ops)
            api.create(
                "/api/v1/namespaces/bench-quit/pods", signed_now(mutated, "bench-quit", TEST_KEY)
            )
        wait_until(
            lambda: (
                metric(port_a, "locust_finisher_controller_exporter_quits_total").get(
                    'locust_finisher_controller_exporter_quits_total{outcome="quit"}', 0
                )
                >= 20
            ),
            180,
            "20 quits",
        )
        buckets = metric(port_a, "locust_finisher_controller_action_delay_seconds_bucket")
        quit_buckets = sorted(
            (float(k.split('le="')[1].split('"')[0]), v)
            for k, v in buckets.items()
            if 'action="quit"' in k and "+Inf" not in k
        )
        total = metric(port_a, "locust_finisher_controller_action_delay_seconds_count")
        count = next(v for k, v in total.items() if 'action="quit"' in k)
        p99 = next(bound for bound, seen in quit_buckets if seen >= 0.99 * count)
        summed = next(
            v
            for k, v in metric(
                port_a, "locust_finisher_controller_action_delay_seconds_sum"
            ).items()
            if 'action="quit"' in k
        )
        rows.append(
            (
                "quit deadline to /quitquitquit call (20 pods)",
                f"mean {summed / count * 1000:.0f} ms, p99 <= {p99 * 1000:.0f} ms (bucket)",
                "p99 < 1 s",
            )
        )

        standby = start_controller(cluster, "replica-b", port_b)
        time.sleep(5)
        took = takeover_seconds(api, lambda: os.kill(leader.pid, signal.SIGKILL), "replica-b")
        rows.append(
            ("failover after the leader is SIGKILLed", f"{took:.1f} s", "<= lease 15 s + retry")
        )
        successor = start_controller(cluster, "replica-c", free_port())
        time.sleep(5)
        took = takeover_seconds(api, lambda: standby.send_signal(signal.SIGTERM), "replica-c")
        rows.append(
            (
                "failover after the leader gets SIGTERM (hands the Lease back)",
                f"{took:.1f} s",
                "one retry period",
            )
        )
        for process in (leader, standby, successor):
            if process.poll() is None:
                process.terminate()
                process.wait(20)
    print("\n| measurement | value | goal |\n|---|---|---|")
    for row in rows:
        print(f"| {row[0]} | {row[1]} | {row[2]} |")


if __name__ == "__main__":
    main()
