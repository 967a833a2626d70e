"""Verdicts with memory, on the real node: one test run four times, the last one slower.

A LocustTest (the minimal CRD of tests/cluster/test_gitops.py) owns each run's master Job, as
locust-k8s-operator makes it; the test asks for ``check-p95-regression``; the namespace names
a notification receiver pod (tests/cluster/test_notify.py). Runs 1-3 run against the target
as it is and pass: history keeps three runs and Prometheus counts three passed. Run 4 runs
against the same target with its latency raised: `wait --baseline previous` fails it with
``regression:p95`` and a delta table in its Markdown, the controller's verdict (its own
judgement against the same history) fails it too, so the LocustTest's annotation says failed
and the Argo CD health check says Degraded; the receiver got one post per run.
"""

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from app.core import names
from devcluster import operator_shapes as shapes
from devcluster.cluster import LocalCluster
from devcluster.loadtest import prepare_namespace, start_wait
from devcluster.processes import wait_until
from testkit.argocd_health import LOCUSTTEST_HEALTH, health
from tests.cluster.test_gitops import install_locusttest_crd, locusttest, owned_by
from tests.cluster.test_notify import posts, start_receiver

pytestmark = pytest.mark.cluster

NAMESPACE = "memory"
# Runs 1-3 against a target answering in about 20 ms; run 4 in about 600 ms. The least
# change is far above what a crowded node adds to a 20 ms p95, and far below run 4's.
BASE_DELAY_MS = 20
SLOW_DELAY_MS = 600
REGRESSION = "50% min 200ms"


def the_test(run: int) -> shapes.LoadTest:
    return shapes.LoadTest(
        name="checkout",
        namespace=NAMESPACE,
        run_time="6s",
        autoquit=10,
        cpu_request="10m",
        master_annotations={
            names.TTL_ANNOTATION: "1s",
            names.WAIT_FOR_SCRAPE_ANNOTATION: "false",
            names.CHECK_P95_REGRESSION_ANNOTATION: REGRESSION,
            names.REVISION_ANNOTATION: f"run-{run}",
        },
    )


def set_target_delay(cluster: LocalCluster, delay_ms: int) -> None:
    cluster.apply(shapes.target_objects(NAMESPACE, delay_ms=delay_ms))
    cluster.kubectl("rollout", "status", "-n", NAMESPACE, "deployment/target", "--timeout=90s")


def cli(cluster: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli.main", *args, "--kubeconfig", str(cluster.kubeconfig)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def kept_runs(cluster: LocalCluster, test: str) -> list[dict[str, Any]]:
    done = cli(cluster, "history", "--test", test, "-n", NAMESPACE, "-o", "json")
    assert done.returncode == 0, done.stderr
    runs: list[dict[str, Any]] = json.loads(done.stdout)["runs"]
    return runs


def one_run(
    cluster: LocalCluster, run: int, owner: dict[str, Any], folder: Path
) -> tuple[int, str]:
    """Run the test once, followed by `wait --baseline previous`; its exit code and output."""
    test = the_test(run)
    jobs = (f"job/{test.node_name}-master", f"job/{test.node_name}-worker")
    cluster.kubectl(
        "delete",
        "-n",
        NAMESPACE,
        *jobs,
        "--cascade=foreground",
        "--wait=true",
        "--ignore-not-found",
    )
    markdown = folder / f"run-{run}.md"
    waiting = start_wait(
        cluster, NAMESPACE, test.name, "--baseline", "previous", "--markdown", str(markdown)
    )
    cluster.apply(owned_by(shapes.load_test_objects(test), owner))
    printed, _ = waiting.communicate(timeout=300)
    return waiting.returncode, printed + (markdown.read_text() if markdown.exists() else "")


def runs_counted(cluster: LocalCluster, test: str, result: str) -> float | None:
    assert cluster.prometheus is not None
    query = (
        f'max by (namespace, test, result) (locust_finisher_runs_total{{namespace="{NAMESPACE}",'
        f'test="{test}",result="{result}"}})'
    )
    return cluster.prometheus.value(query)


@pytest.mark.timeout(1200)
def test_four_runs_remember_the_earlier_ones_and_the_slower_fourth_fails_as_a_regression(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    api = cluster.api()
    install_locusttest_crd(cluster)
    prepare_namespace(cluster, NAMESPACE)
    set_target_delay(cluster, BASE_DELAY_MS)
    start_receiver(cluster, NAMESPACE, fail_first=0)
    test = the_test(1)
    cluster.apply([locusttest(test)])
    test_path = f"/apis/locust.io/v2/namespaces/{NAMESPACE}/locusttests/{test.name}"
    owner = api.get(test_path)

    for run in (1, 2, 3):
        code, printed = one_run(cluster, run, owner, tmp_path)
        assert code == 0, printed

        def kept(count: int = run) -> bool:
            return len(kept_runs(cluster, test.name)) == count

        wait_until(kept, 120, f"run {run} kept")

    runs = kept_runs(cluster, test.name)
    assert [r["result"] for r in runs] == ["passed"] * 3
    assert [r["run"]["revision"] for r in runs] == ["run-3", "run-2", "run-1"]
    wait_until(lambda: runs_counted(cluster, test.name, "passed") == 3, 120, "runs_total passed 3")

    set_target_delay(cluster, SLOW_DELAY_MS)
    code, printed = one_run(cluster, 4, owner, tmp_path)
    assert code == 1, printed
    assert "reason regression:p95" in printed
    assert "### Against the baseline" in printed
    assert "| p95 |" in printed, "the delta table names p95"

    def verdict_on_test() -> dict[str, str]:
        annotations = api.get(test_path)["metadata"].get("annotations") or {}
        return dict(annotations)

    job_path = f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{test.node_name}-master"
    try:
        wait_until(
            lambda: verdict_on_test().get(names.RESULT_ANNOTATION) == "failed",
            120,
            "the failed verdict on the LocustTest",
        )
    except RuntimeError:
        ours = names.DOMAIN
        job = api.get(job_path)["metadata"].get("annotations") or {}
        print("LocustTest:", {k: v for k, v in verdict_on_test().items() if ours in k})
        print("Job:", {k: v for k, v in job.items() if ours in k})
        raise
    assert verdict_on_test()[names.REASON_ANNOTATION] == "regression:p95"
    judged = health(LOCUSTTEST_HEALTH, api.get(test_path))
    assert judged.status == "Degraded"
    assert "regression:p95" in judged.message

    wait_until(lambda: len(posts(cluster, NAMESPACE)) >= 4, 120, "four notifications")
    time.sleep(5)  # a fifth, if any, would be posted by now
    got = posts(cluster, NAMESPACE)
    assert len(got) == 4, [p["body"].get("verdict") for p in got]
    assert len({p["key"] for p in got}) == 4, "one post per run"
    assert [p["body"]["verdict"] for p in got] == ["passed", "passed", "passed", "failed"]
    assert got[-1]["body"]["reason"] == "regression:p95"
    wait_until(lambda: runs_counted(cluster, test.name, "failed") == 1, 120, "runs_total failed 1")
