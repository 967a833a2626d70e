"""End to end on the real control plane, node (kubelet, containerd, runc) and Prometheus.

The load tests of this module start together when it starts (tests/cluster/launches.py),
each in its own namespace with its `wait` following it from the beginning, as CI would run
it; each test then collects its own and checks it. The tests marked ``oldest`` also run on
the oldest supported Kubernetes.
"""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.core import names
from app.core.cluster_config import takes_restart_rules
from app.core.summary import decode_summary
from devcluster import operator_shapes as shapes
from devcluster.cluster import LocalCluster
from devcluster.install import NAMESPACE, opt_in_namespace
from devcluster.loadtest import Outcome, start_wait
from devcluster.processes import wait_until
from tests.cluster.launches import TTL_SECONDS, Launch, Started, started_fixture
from tests.cluster.reporting import events_for, seconds, wait_for_report
from tests.waiting.junit_schema import read_junit

pytestmark = pytest.mark.cluster


# By the test that checks each.
LAUNCHES = {
    "test_a_passing_test_completes_with_its_final_numbers_in_prometheus": Launch(
        "e2e-pass", wait=()
    ),
    "test_a_failing_test_fails_the_pod_and_the_job_and_the_exporter_still_exits_0": Launch(
        "e2e-fail", failing=True, wait=()
    ),
    # No load test here reaches 100,000 requests a second: the check must fail.
    "test_a_test_locust_passes_but_a_check_fails_is_failed_and_its_pod_still_succeeds": Launch(
        "e2e-check",
        annotations=((names.CHECK_RPS_ANNOTATION, "100000"),),
        wait=("--report-dir", "{dir}", "--junit", "{dir}/junit.xml"),
    ),
    "test_an_operator_2_3_pod_with_a_native_sidecar_exporter_completes_after_the_final_scrape": (
        Launch("e2e-sidecar", version="go-2.3")
    ),
    "test_an_operator_1_x_java_pod_completes": Launch("e2e-java", version="java-1.1"),
    "test_a_restricted_namespace_admits_a_mutated_pod_whose_own_containers_comply": Launch(
        "e2e-restricted",
        restricted=True,
        namespace_labels=(("pod-security.kubernetes.io/enforce", "restricted"),),
    ),
}


started = started_fixture(LAUNCHES)


def assert_finished_cleanly(outcome: Outcome, passed: bool) -> None:
    assert outcome.phase == ("Succeeded" if passed else "Failed")
    assert outcome.job_condition == ("Complete" if passed else "Failed")
    master = outcome.terminated("e2e-master")
    assert master["exitCode"] == (0 if passed else 1)
    assert outcome.terminated(names.FINISHER_CONTAINER)["exitCode"] == 0
    # The pod ends within the TTL plus a scrape interval or so of the master's exit.
    ended = seconds(outcome.terminated(names.FINISHER_CONTAINER)["finishedAt"])
    assert TTL_SECONDS - 1 <= ended - seconds(master["finishedAt"]) <= TTL_SECONDS + 12


@pytest.mark.oldest
def test_a_passing_test_completes_with_its_final_numbers_in_prometheus(started: Started) -> None:
    outcome = started.outcome("e2e-pass")
    assert_finished_cleanly(outcome, passed=True)
    assert outcome.terminated("locust-metrics-exporter")["exitCode"] == 0
    assert outcome.locust_requests, "Locust printed its final stats"
    assert outcome.prometheus_requests == outcome.locust_requests
    summary = decode_summary(outcome.terminated(names.FINISHER_CONTAINER)["message"])
    assert summary is not None
    assert summary["requests"] == outcome.locust_requests
    assert summary["finalScrape"]["confirmed"]
    code, printed = started.printed("e2e-pass")
    assert code == 0, printed
    assert "job/e2e-master" in printed
    assert "PASSED" in printed
    assert f"{outcome.locust_requests} requests" in printed
    assert "Locust running:" in printed, "live numbers through the API server's pod proxy"
    # What the run was, in the controller's report: the Job names the test (no LocustTest
    # here), the kubelet's status gives the image's digest and the master's times.
    reported = wait_for_report(started.cluster, outcome.pod, "e2e-master", "passed")
    annotations = reported["metadata"]["annotations"]
    assert names.REASON_ANNOTATION not in annotations
    report = decode_summary(annotations[names.SUMMARY_ANNOTATION])
    assert report is not None
    assert "reason" not in report
    run = report["run"]
    master = outcome.terminated("e2e-master")
    assert (run["test"], run["namespace"]) == ("e2e-master", "e2e-pass")
    assert (run["users"], run["spawnRate"], run["runTimeSeconds"]) == (4, 4.0, 6.0)
    assert run["imageDigest"].startswith("sha256:")
    assert run["imageDigest"] in next(
        s["imageID"] for s in reported["status"]["containerStatuses"] if s["name"] == "e2e-master"
    )
    assert (run["startedAt"], run["endedAt"]) == (master["startedAt"], master["finishedAt"])
    assert run["locustVersion"][0].isdigit(), "read by the finisher from Locust's web UI"


@pytest.mark.oldest
def test_a_failing_test_fails_the_pod_and_the_job_and_the_exporter_still_exits_0(
    started: Started,
) -> None:
    outcome = started.outcome("e2e-fail")
    assert_finished_cleanly(outcome, passed=False)
    wait_for_report(started.cluster, outcome.pod, "e2e-master", "failed")
    code, printed = started.printed("e2e-fail")
    assert code == 1, printed
    assert "FAILED" in printed
    assert "GET /fail" in printed
    assert outcome.terminated("locust-metrics-exporter")["exitCode"] == 0
    assert outcome.prometheus_requests == outcome.locust_requests


def test_a_test_locust_passes_but_a_check_fails_is_failed_and_its_pod_still_succeeds(
    started: Started,
) -> None:
    outcome = started.outcome("e2e-check")
    # Our code never turns a passed pod into a Failed one: the phase stays Locust's.
    assert_finished_cleanly(outcome, passed=True)
    code, printed = started.printed("e2e-check")
    assert code == 1, printed
    folder = started.folder_of(started.launches["e2e-check"])
    result = json.loads((folder / "summary.json").read_text())
    assert result["verdict"] == "failed"
    assert result["exitCode"] == 0
    assert [c["name"] for c in result["checks"] if not c["passed"]] == ["rps"]
    assert result["reason"] == "check:rps"
    # The JUnit file fails exactly on what failed the verdict, typed by its reason.
    junit = read_junit((folder / "junit.xml").read_text())
    assert junit.failing() == ["check rps"]
    assert junit.cases["check rps"].result[0].type == "check:rps"
    api, pod = started.cluster.api(), outcome.pod["metadata"]["name"]
    paths = ["/apis/batch/v1/namespaces/e2e-check/jobs/e2e-master"]
    paths.append(f"/api/v1/namespaces/e2e-check/pods/{pod}")

    def reasons() -> list[str | None]:
        return [
            api.get(path)["metadata"].get("annotations", {}).get(names.REASON_ANNOTATION)
            for path in paths
        ]

    wait_until(lambda: reasons() == ["check:rps"] * 2, 120, "the reason on the Job and pod")
    [event] = [
        e
        for e in events_for(started.cluster, "e2e-check", "Pod", pod)
        if e["reason"] == "LoadTestFailed"
    ]
    assert "reason check:rps" in event["message"]

    def labelled_failed() -> bool:
        listed = started.cluster.kubectl(
            "get", "jobs", "-n", "e2e-check", "-l", f"{names.RESULT_LABEL}=failed", "-o", "name"
        )
        return "job.batch/e2e-master" in listed

    wait_until(labelled_failed, 60, "the Job to be selectable by its failed verdict")


@pytest.mark.oldest
def test_an_operator_2_3_pod_with_a_native_sidecar_exporter_completes_after_the_final_scrape(
    started: Started,
) -> None:
    outcome = started.outcome("e2e-sidecar")
    assert_finished_cleanly(outcome, passed=True)
    assert outcome.prometheus_requests == outcome.locust_requests
    summary = decode_summary(outcome.terminated(names.FINISHER_CONTAINER)["message"])
    assert summary is not None
    assert summary["exporter"] == "left to kubelet (native sidecar)"
    assert summary["finalScrape"]["confirmed"]


def test_an_operator_1_x_java_pod_completes(started: Started) -> None:
    outcome = started.outcome("e2e-java")
    assert_finished_cleanly(outcome, passed=True)
    assert outcome.prometheus_requests == outcome.locust_requests


def test_a_restricted_namespace_admits_a_mutated_pod_whose_own_containers_comply(
    started: Started,
) -> None:
    outcome = started.outcome("e2e-restricted")
    finisher, master = outcome.pod["spec"]["containers"][:2]
    assert finisher["name"] == names.FINISHER_CONTAINER
    # Another UID than the finisher's (the image's 65532; no fixed one in the pod): the
    # finisher still sees the master end and ends the exporter.
    assert master["securityContext"]["runAsUser"] == 1000
    assert "runAsUser" not in finisher["securityContext"]
    assert_finished_cleanly(outcome, passed=True)


def test_a_namespace_without_the_opt_in_label_is_left_alone(cluster: LocalCluster) -> None:
    cluster.kubectl("create", "namespace", "e2e-plain")
    test = shapes.LoadTest(name="plain", namespace="e2e-plain")
    cluster.apply([shapes.locustfile_configmap(test), shapes.master_job(test)])
    pod = wait_for_master_pod(cluster, "e2e-plain", "plain-master")
    assert names.FINISHER_CONTAINER not in [c["name"] for c in pod["spec"]["containers"]]
    assert names.STATUS_ANNOTATION not in pod["metadata"].get("annotations", {})


def test_the_stored_pod_is_what_mutate_previews(cluster: LocalCluster, tmp_path: Path) -> None:
    opt_in_namespace(cluster, "e2e-preview")
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "preview",
            "namespace": "e2e-preview",
            "annotations": {names.INJECT_ANNOTATION: "true", names.TTL_ANNOTATION: "1m"},
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {"name": "master", "image": "unknown.invalid/locust", "args": ["--master"]},
                {
                    "name": "exporter",
                    "image": "containersol/locust_exporter:v0.5.2",
                    "ports": [{"containerPort": 9646}],
                },
            ],
        },
    }
    (tmp_path / "pod.json").write_text(json.dumps(manifest))
    # As a user previews for this cluster: with restart rules where the webhook adds them.
    newer = takes_restart_rules(cluster.api().get("/version"))
    preview = json.loads(
        subprocess.run(
            [
                sys.executable,
                "-m",
                "app.cli.main",
                "mutate",
                "-f",
                str(tmp_path / "pod.json"),
                "-o",
                "json",
                *(["--container-restart-rules"] if newer else []),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    stored = cluster.api().create("/api/v1/namespaces/e2e-preview/pods", manifest)
    finisher = stored["spec"]["containers"][0]
    # The ServiceAccount admission plugin runs again after mutating webhooks and mounts the
    # pod's token into every container, ours included: the one field no preview can know.
    mounts = finisher.pop("volumeMounts", [])
    token_mounts = [m for m in mounts if "serviceaccount" in m["mountPath"]]
    assert len(token_mounts) == 1
    # Ours, the report token's, is in the preview too.
    finisher["volumeMounts"] = [m for m in mounts if m not in token_mounts]
    assert finisher == preview["spec"]["containers"][0]
    assert stored["spec"]["shareProcessNamespace"] is True
    assert stored["metadata"]["labels"] == preview["metadata"]["labels"]
    # The admission record is signed with the installation's key, which `mutate` never has.
    record = stored["metadata"]["annotations"].pop(names.ADMISSION_ANNOTATION)
    assert record.startswith("v1.")
    assert stored["metadata"]["annotations"] == preview["metadata"]["annotations"]
    assert [c["name"] for c in stored["spec"]["containers"]] == [
        c["name"] for c in preview["spec"]["containers"]
    ]
    cluster.api().delete("/api/v1/namespaces/e2e-preview/pods/preview", grace_period_seconds=0)


def test_wait_times_out_with_exit_2_and_says_why(cluster: LocalCluster) -> None:
    waiting = start_wait(cluster, "e2e-nothing-here", "e2e", "--timeout", "3s", "--interval", "1s")
    printed, _ = waiting.communicate(timeout=60)
    assert waiting.returncode == 2
    # One line, saying what it was still waiting for.
    assert (
        "timed out after 3s waiting for job/e2e-master to appear in namespace e2e-nothing-here"
        in printed
    ), printed


def wait_for_master_pod(cluster: LocalCluster, namespace: str, job: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def created() -> bool:
        found[:] = cluster.api().get(
            f"/api/v1/namespaces/{namespace}/pods", labelSelector=f"job-name={job}"
        )["items"]
        return bool(found)

    wait_until(created, 60, f"a pod of job {job}")
    return found[0]


def test_with_the_webhook_down_pods_are_still_created_unmutated(cluster: LocalCluster) -> None:
    deployment = "deployment/locust-finisher-webhook"
    cluster.kubectl("scale", "-n", NAMESPACE, deployment, "--replicas=0")

    def no_webhook_pods() -> bool:
        return not cluster.api().get(
            f"/api/v1/namespaces/{NAMESPACE}/pods",
            labelSelector="app.kubernetes.io/name=locust-finisher-webhook",
        )["items"]

    wait_until(no_webhook_pods, 60, "the webhook pods to be gone")
    try:
        opt_in_namespace(cluster, "e2e-down")
        test = shapes.LoadTest(name="down", namespace="e2e-down")
        cluster.apply([shapes.locustfile_configmap(test), shapes.master_job(test)])
        pod = wait_for_master_pod(cluster, "e2e-down", "down-master")
        assert names.FINISHER_CONTAINER not in [c["name"] for c in pod["spec"]["containers"]]
    finally:
        cluster.kubectl("scale", "-n", NAMESPACE, deployment, "--replicas=2")
        cluster.kubectl("rollout", "status", "-n", NAMESPACE, deployment, "--timeout=120s")
