"""Pod creation through a real kube-apiserver, with and without the webhook, in one run.

    uv run python -m bench.pod_creation        (or as part of bench.webhook_bench)

What a user pays for the webhook is the time a pod's creation takes with it. This starts the
real control plane alone (etcd, kube-apiserver, kube-controller-manager: pods are created
and stored, never run, so no node is needed), our webhook as a local process configured as
the manifests deploy it (JSON logs at info, the admission key, the namespace's LimitRanges
and ResourceQuotas read with the admin kubeconfig), and registers it with the manifests' own
MutatingWebhookConfiguration, addressed by URL. Then it creates locust-k8s-operator master
pods one after another, alternating rounds without and with the configuration, and reports
each side's latency percentiles. Bounded: a fixed count of pods, each call within 30 s.
"""

import argparse
import base64
import functools
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from app.certificates import issue, new_ca, write_pair
from app.core import names
from devcluster.api import ApiClient, ApiError
from devcluster.build import ensure_binaries
from devcluster.control_plane import ControlPlaneInfo, start_control_plane
from devcluster.processes import ProcessGroup, free_port, wait_until
from testkit.pod_fixtures import load_pod

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "bench"
CONFIGURATION = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
WITH, WITHOUT = "with the webhook", "without"
PODS, ROUNDS = 300, 3


def master_pod(target_bytes: int) -> dict[str, Any]:
    """The captured operator master pod as a client creates it, padded with env entries."""
    pod = load_pod("operator-go-2.2-master")
    metadata = pod["metadata"]
    for key in ("ownerReferences", "finalizers", "managedFields", "namespace"):
        metadata.pop(key, None)  # no Job behind it: the garbage collector would delete it
    pod.pop("status", None)
    env = pod["spec"]["containers"][0].setdefault("env", [])
    while len(yaml.safe_dump(pod)) < target_bytes:
        env.append({"name": f"SETTING_{len(env)}", "value": "x" * 40})
    return pod


def webhook_configuration(port: int, ca_pem: bytes) -> dict[str, Any]:
    """The manifests' MutatingWebhookConfiguration, calling our local process by URL."""
    document = yaml.safe_load((ROOT / "manifests/base/mutating-webhook.yaml").read_text())
    for webhook in document["webhooks"]:
        webhook["clientConfig"] = {
            "url": f"https://127.0.0.1:{port}/mutate",
            "caBundle": base64.b64encode(ca_pem).decode(),
        }
    return dict(document)


@contextmanager
def _control_plane(directory: Path) -> Iterator[tuple[ControlPlaneInfo, ProcessGroup]]:
    processes = ProcessGroup(directory)
    try:
        info = start_control_plane(
            ensure_binaries(), directory, processes, "127.0.0.1", "10.231.0.0/24", "10.231.0.1"
        )
        yield info, processes
    finally:
        processes.stop_all()


def webhook_command(port: int, cert: Path, key: Path, admission_key: Path) -> list[str]:
    """Our webhook on loopback, configured as the manifests deploy it."""
    return [
        *(sys.executable, "-m", "app.cli.main", "--log-format", "json", "--log-level", "info"),
        *("webhook", "--host", "127.0.0.1", "--port", str(port)),
        *("--cert-file", str(cert), "--key-file", str(key)),
        *("--admission-key-file", str(admission_key)),
    ]


def _mutated(api: ApiClient, pod: dict[str, Any]) -> bool:
    created = api.create(f"/api/v1/namespaces/{NAMESPACE}/pods", pod)
    return names.STATUS_ANNOTATION in created["metadata"].get("annotations", {})


def _create_all(api: ApiClient, pod: dict[str, Any], count: int, mutated: bool) -> list[float]:
    """Create ``count`` pods one after another; each one's latency in ms."""
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        created = api.create(f"/api/v1/namespaces/{NAMESPACE}/pods", pod)
        latencies.append((time.perf_counter() - started) * 1000)
        annotations = created["metadata"].get("annotations", {})
        if (names.STATUS_ANNOTATION in annotations) != mutated:
            raise RuntimeError(
                f"a pod {WITH if mutated else WITHOUT} was {'not ' * mutated}mutated"
            )
    return latencies


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": float(len(ordered)),
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    }


def measure(
    pods: int = PODS, rounds: int = ROUNDS, size: int = 12_000
) -> dict[str, dict[str, float]]:
    """p50/p99 of creating ``pods`` per side and round, the sides alternating."""
    pod = master_pod(size)
    samples: dict[str, list[float]] = {WITHOUT: [], WITH: []}
    directory = Path(tempfile.mkdtemp(prefix="locust-finisher-bench-"))
    try:
        with _control_plane(directory) as (info, processes):
            api = ApiClient(info.admin)
            api.create(
                "/api/v1/namespaces",
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {
                        "name": NAMESPACE,
                        "labels": {names.NAMESPACE_INJECT_LABEL: "enabled"},
                    },
                },
            )
            wait_until(
                functools.partial(
                    _exists, api, f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/default"
                ),
                60,
                "the default service account",
            )
            ca = new_ca()
            cert, key = write_pair(directory, "webhook", issue(ca, "bench", [], ["127.0.0.1"]))
            admission_key = directory / "admission-key"
            admission_key.write_text("k" * 64)
            port = free_port()
            webhook = processes.start(
                "webhook",
                webhook_command(port, cert, key, admission_key),
                env={**os.environ, "KUBECONFIG": str(info.kubeconfig), "PYTHONPATH": str(ROOT)},
            )
            configuration = webhook_configuration(port, ca.cert_pem)
            for _ in range(rounds):
                api.create(CONFIGURATION, configuration)
                # The API server picks a new configuration up within a second or so.
                wait_until(lambda: _mutated(api, pod), 30, "the webhook to be called", webhook)
                samples[WITH] += _create_all(api, pod, pods, mutated=True)
                api.delete(f"{CONFIGURATION}/{configuration['metadata']['name']}")
                wait_until(lambda: not _mutated(api, pod), 30, "the webhook to be left out")
                samples[WITHOUT] += _create_all(api, pod, pods, mutated=False)
            api.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return {side: _percentiles(values) for side, values in samples.items()}


def _exists(api: ApiClient, path: str) -> bool:
    try:
        api.get(path)
    except ApiError:
        return False
    return True


def table(results: dict[str, dict[str, float]], pods: int, rounds: int) -> str:
    """The docs/benchmarks.md table."""
    base = results[WITHOUT]
    lines = [
        f"| pod creation ({pods} x {rounds} per side, alternating) | pods | p50 ms | p99 ms |"
        " p99 added |",
        "|---|---|---|---|---|",
    ]
    for side in (WITHOUT, WITH):
        row = results[side]
        added = f"{row['p99'] - base['p99']:+.2f} ms" if side == WITH else ""
        lines.append(f"| {side} | {row['n']:.0f} | {row['p50']:.2f} | {row['p99']:.2f} | {added} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=PODS, help="pods per side and round")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    print(table(measure(args.pods, args.rounds), args.pods, args.rounds))


if __name__ == "__main__":
    main()
