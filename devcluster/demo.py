"""``make run``: a whole Locust load test on a local Kubernetes, finished by locust-finisher.

It builds (or reuses) the cluster's binaries and images, starts the control plane, a real
node (kubelet, containerd, runc, kube-proxy, CoreDNS) and Prometheus, installs
locust-finisher with its kustomize overlay, opts a namespace in, and runs a load test
shaped exactly like locust-k8s-operator 2.2 makes it, and beside it a second one that Locust
passes (``--exit-code-on-error 0``) but the verdict policy fails (``check-fail-ratio``). It
shows the master pod's containers while the first runs, and ends with each test's verdict,
pod phase, Job condition, final request count in Prometheus next to Locust's own, and
``locust-finisher wait``'s files in ``results/<test>/``.
Ctrl-C, or the end, tears everything down.
"""

import argparse
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
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


def report(test: shapes.LoadTest, outcome: Outcome) -> bool:
    """Print the end of one test's story; True if Prometheus has its final numbers."""
    master = outcome.terminated(shapes.master_container_name(test))
    locust = "passed" if master["exitCode"] == 0 else "failed"
    say(f"{test.name}: Locust {locust} (master exit code {master['exitCode']})")
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


def show_recorded_verdict(cluster: LocalCluster, test: shapes.LoadTest) -> None:
    """What the controller wrote on the Job, where CI reads it."""
    job = f"{test.node_name}-master"
    path = f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{job}"
    annotations: dict[str, str] = {}
    deadline = time.monotonic() + 30
    while names.SUMMARY_ANNOTATION not in annotations and time.monotonic() < deadline:
        annotations = cluster.api().get(path)["metadata"].get("annotations", {})
        time.sleep(1)
    say(f"the controller recorded on job/{job} (kubectl get job {job} -o yaml):")
    for key in (names.RESULT_ANNOTATION, names.EXIT_CODE_ANNOTATION, names.FINISHED_AT_ANNOTATION):
        print(f"    {key}: {annotations.get(key, '(not yet)')}")
    events = cluster.kubectl(
        "get",
        "events",
        "-n",
        NAMESPACE,
        "--field-selector",
        f"involvedObject.name={job}",
        "-o",
        "custom-columns=REASON:.reason,MESSAGE:.message",
    )
    print(
        "\n".join(
            f"    {line}" for line in events.splitlines() if "LoadTest" in line or "REASON" in line
        )
    )


@dataclass
class DemoTest:
    """One of the demo's tests: its shape, whether its requests fail, what `wait` must say."""

    test: shapes.LoadTest
    failing: bool
    wait_exit: int
    story: str
    outcome: Outcome | None = None


def demo_tests(version: str, run_time: str, failing: bool) -> list[DemoTest]:
    """The main test, and one Locust passes but the verdict policy fails."""
    main_test = shapes.LoadTest(
        name="demo", namespace=NAMESPACE, version=version, run_time=run_time, autoquit=10, workers=2
    )
    checked = shapes.LoadTest(
        name="demo-fail-ratio",
        namespace=NAMESPACE,
        version=version,
        run_time=run_time,
        autoquit=10,
        locustfile_configmap="demo-fail-ratio-locustfile",
        # Locust itself passes a test with failed requests; the policy does not.
        extra_args=("--exit-code-on-error", "0"),
        master_annotations={names.CHECK_FAIL_RATIO_ANNOTATION: "0.01"},
    )
    return [
        DemoTest(
            main_test,
            failing,
            1 if failing else 0,
            f"a locust-k8s-operator {version} test: master Job, worker Job, Service, locustfile "
            f"ConfigMap (run time {run_time}, 2 workers, default settings)",
        ),
        DemoTest(
            checked,
            True,
            1,
            "beside it, a test half of whose requests fail, run with --exit-code-on-error 0 "
            "(Locust passes it) and locust-finisher.io/check-fail-ratio: 0.01 (the verdict fails)",
        ),
    ]


def main() -> int:
    """Run the demo; exit 0 when the tests finished on their own as expected, numbers kept."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--failing", action="store_true", help="run a test whose requests fail")
    parser.add_argument(
        "--version",
        default="go-2.2",
        choices=shapes.VERSIONS[:3],
        help="which locust-k8s-operator version's pod shape to use",
    )
    parser.add_argument("--run-time", default="15s", help="the load tests' --run-time")
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
        tests = demo_tests(args.version, args.run_time, args.failing)
        waits = {}
        runners = []
        for index, demo in enumerate(tests):
            say(f"creating {demo.story}")
            results = RESULTS / demo.test.name
            waits[demo.test.name] = start_wait(
                cluster,
                NAMESPACE,
                demo.test.name,
                "--junit",
                str(results / "junit.xml"),
                "--markdown",
                str(results / "summary.md"),
                "--report-dir",
                str(results),
            )

            def run(demo: DemoTest = demo, shown: bool = index == 0) -> None:
                demo.outcome = run_load_test(
                    cluster,
                    demo.test,
                    failing=demo.failing,
                    timeout=600,
                    progress=Progress() if shown else None,
                )

            runners.append(threading.Thread(target=run, name=demo.test.name))
            runners[-1].start()
        for runner in runners:
            runner.join()
        print(cluster.kubectl("get", "jobs,pods", "-n", NAMESPACE, "-L", names.RESULT_LABEL))
        ok = True
        for demo in tests:
            if demo.outcome is None:
                say(f"{demo.test.name}: did not finish")
                ok = False
                continue
            ok = report(demo.test, demo.outcome) and ok
            show_recorded_verdict(cluster, demo.test)
            waiting = waits[demo.test.name]
            printed, _ = waiting.communicate(timeout=300)
            results = RESULTS / demo.test.name
            say(
                f"locust-finisher wait --test {demo.test.name} exited {waiting.returncode} "
                f"(expected {demo.wait_exit}); its files are in {results}:"
            )
            print(printed.rstrip())
            for path in sorted(results.iterdir()):
                print(f"    {path.relative_to(RESULTS.parent)}")
            ok = ok and waiting.returncode == demo.wait_exit
        say("tearing the cluster down")
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted: cluster torn down", file=sys.stderr)
        sys.exit(130)
