"""``make run``: a whole Locust load test on a local Kubernetes, finished by locust-finisher.

It builds (or reuses) the cluster's binaries and images, starts the control plane, a real
node (kubelet, containerd, runc, kube-proxy, CoreDNS) and Prometheus, installs
locust-finisher with its kustomize overlay, opts a namespace in, and runs a load test
shaped exactly like locust-k8s-operator 2.2 makes it. It shows the master pod's containers
while the test runs, and ends with the verdict, the pod's phase, the Job's condition, and
the final request count in Prometheus next to Locust's own.
Ctrl-C, or the end, tears everything down.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from app.core import names
from app.core.summary import decode_summary, headline
from devcluster import operator_shapes as shapes
from devcluster.cluster import LocalCluster
from devcluster.install import install
from devcluster.loadtest import Outcome, prepare_namespace, run_load_test, start_wait

NAMESPACE = "loadtest"
# What CI would keep of each test: `wait`'s JUnit, Markdown and JSON (git ignores it).
RESULTS = Path(__file__).resolve().parent.parent / "results"


STARTED = time.monotonic()


def say(message: str) -> None:
    """One line of the demo's story, with the time since the demo started."""
    print(f"==> [{time.monotonic() - STARTED:5.1f}s] {message}", flush=True)


def _container_states(pod: dict[str, Any]) -> str:
    statuses = pod.get("status", {}).get("containerStatuses", []) + pod.get("status", {}).get(
        "initContainerStatuses", []
    )
    parts = []
    for status in statuses:
        state = status.get("state", {})
        if "terminated" in state:
            parts.append(f"{status['name']}=exited({state['terminated']['exitCode']})")
        elif "running" in state:
            parts.append(f"{status['name']}=running")
        else:
            parts.append(f"{status['name']}=waiting")
    return ", ".join(parts) or "creating"


class Progress:
    """Prints a line whenever the master pod's state changes."""

    def __init__(self) -> None:
        self.last = ""
        self.started = time.monotonic()

    def __call__(self, pod: dict[str, Any] | None, job: dict[str, Any]) -> None:
        """Called once a second with the master pod and Job."""
        if pod is None:
            line = "waiting for the master pod"
        else:
            line = (
                f"{pod['metadata']['name']}: {pod.get('status', {}).get('phase', 'Pending')}; "
                f"{_container_states(pod)}"
            )
        if line != self.last:
            print(f"    [{time.monotonic() - self.started:5.1f}s] {line}", flush=True)
            self.last = line


def report(outcome: Outcome) -> bool:
    """Print the end of the story; True if the test passed."""
    master = outcome.terminated("demo-master")
    passed = master["exitCode"] == 0
    verdict = "PASSED" if passed else "FAILED"
    say(f"verdict: {verdict} (Locust master exit code {master['exitCode']})")
    print(f"    master pod phase: {outcome.phase}")
    print(f"    master Job:       {outcome.job_condition}")
    summary = decode_summary(outcome.terminated(names.FINISHER_CONTAINER).get("message"))
    if summary is not None:
        print(f"    summary:          {headline(summary)}")
        final = summary.get("finalScrape", {})
        print(
            f"    final scrape:     {'confirmed' if final.get('confirmed') else 'not confirmed'}; "
            f"exporter {summary.get('exporter')}"
        )
    print(f"    requests, Locust's own count:   {outcome.locust_requests}")
    prometheus = outcome.prometheus_requests
    shown = "none" if prometheus is None else str(int(prometheus))
    print(f"    requests, last value in Prometheus: {shown}")
    match = prometheus is not None and outcome.locust_requests == int(prometheus)
    say(
        "Prometheus has the test's final numbers"
        if match
        else "Prometheus MISSED the final numbers"
    )
    return match


def show_recorded_verdict(cluster: LocalCluster) -> None:
    """What the controller wrote on the Job, where CI reads it."""
    path = f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/demo-master"
    annotations: dict[str, str] = {}
    deadline = time.monotonic() + 30
    while names.SUMMARY_ANNOTATION not in annotations and time.monotonic() < deadline:
        annotations = cluster.api().get(path)["metadata"].get("annotations", {})
        time.sleep(1)
    say("the controller recorded on job/demo-master (kubectl get job demo-master -o yaml):")
    for key in (names.RESULT_ANNOTATION, names.EXIT_CODE_ANNOTATION, names.FINISHED_AT_ANNOTATION):
        print(f"    {key}: {annotations.get(key, '(not yet)')}")
    events = cluster.kubectl(
        "get",
        "events",
        "-n",
        NAMESPACE,
        "--field-selector",
        "involvedObject.name=demo-master",
        "-o",
        "custom-columns=REASON:.reason,MESSAGE:.message",
    )
    print(
        "\n".join(
            f"    {line}" for line in events.splitlines() if "LoadTest" in line or "REASON" in line
        )
    )


def main() -> int:
    """Run the demo; exit 0 when the test finished on its own with its numbers in Prometheus."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--failing", action="store_true", help="run a test whose requests fail")
    parser.add_argument(
        "--version",
        default="go-2.2",
        choices=shapes.VERSIONS[:3],
        help="which locust-k8s-operator version's pod shape to use",
    )
    parser.add_argument("--run-time", default="15s", help="the load test's --run-time")
    args = parser.parse_args()

    say(
        "starting a local Kubernetes (etcd, kube-apiserver, kube-controller-manager, "
        "kube-scheduler, a real node: kubelet, containerd, runc, kube-proxy, CoreDNS; "
        "Prometheus); the first run builds them from Go modules and the images with buildah"
    )
    started = time.monotonic()
    with LocalCluster() as cluster, tempfile.TemporaryDirectory() as scratch:
        say(f"cluster up in {time.monotonic() - started:.0f}s; kubeconfig {cluster.kubeconfig}")
        node = cluster.node_info()
        say(
            f"node: kubelet {node.get('kubeletVersion')}, runtime "
            f"{node.get('containerRuntimeVersion')}, kernel {node.get('kernelVersion')}"
        )
        say(
            "installing locust-finisher: locust-finisher certs + kubectl apply --server-side -k "
            "manifests/overlays/self-signed"
        )
        install(cluster, Path(scratch))
        print(cluster.kubectl("get", "pods", "-n", "locust-finisher"))
        say(
            f"opting namespace {NAMESPACE} in (label {names.NAMESPACE_INJECT_LABEL}=enabled) "
            "and starting a load target"
        )
        prepare_namespace(cluster, NAMESPACE)
        test = shapes.LoadTest(
            name="demo",
            namespace=NAMESPACE,
            version=args.version,
            run_time=args.run_time,
            autoquit=10,
            workers=2,
            master_annotations={names.TTL_ANNOTATION: "5s"},
        )
        say(
            f"creating a locust-k8s-operator {args.version} test: master Job, worker Job, Service, "
            f"locustfile ConfigMap (run time {args.run_time}, 2 workers, TTL 5s)"
        )
        results = RESULTS / test.name
        waiting = start_wait(
            cluster,
            NAMESPACE,
            test.name,
            "--junit",
            str(results / "junit.xml"),
            "--markdown",
            str(results / "summary.md"),
            "--report-dir",
            str(results),
        )
        outcome = run_load_test(
            cluster, test, failing=args.failing, timeout=600, progress=Progress()
        )
        print(cluster.kubectl("get", "jobs,pods", "-n", NAMESPACE))
        ok = report(outcome)
        show_recorded_verdict(cluster)
        printed, _ = waiting.communicate(timeout=300)
        say(f"locust-finisher wait exited {waiting.returncode}; its files are in {results}:")
        print(printed.rstrip())
        for path in sorted(results.iterdir()):
            print(f"    {path.relative_to(RESULTS.parent)}")
        ok = ok and waiting.returncode == (1 if args.failing else 0)
        say("tearing the cluster down")
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted: cluster torn down", file=sys.stderr)
        sys.exit(130)
