"""History on a real API server: each run of a test is kept in its ConfigMap, past its Job.

Two runs of one test, each with a master Job of ``ttlSecondsAfterFinished: 0`` in a namespace
that says ``keep-passed: 0s``: each Job goes the moment its verdict is recorded, and the
test's history ConfigMap keeps both runs. Another test run beside the second has a history
of its own and leaves the first's alone. `history` then lists both runs, as text and JSON.
"""

import json
import subprocess
import sys
from typing import Any

import pytest

from app.core import history, names
from devcluster.api import ApiError
from devcluster.cluster import LocalCluster
from devcluster.loadtest import prepare_namespace, start_vanishing_test
from devcluster.processes import wait_until

pytestmark = pytest.mark.cluster

NAMESPACE = "history"


def configmap(cluster: LocalCluster, test: str) -> dict[str, Any] | None:
    path = f"/api/v1/namespaces/{NAMESPACE}/configmaps/{history.configmap_name(test)}"
    try:
        return dict(cluster.api().get(path))
    except ApiError:
        return None


def kept(cluster: LocalCluster, test: str) -> list[str]:
    return [entry["uid"] for entry in history.read_history(configmap(cluster, test))[0]]


def gone(cluster: LocalCluster, path: str) -> bool:
    try:
        cluster.api().get(path)
    except ApiError:
        return True
    return False


def run_to_the_end(cluster: LocalCluster, name: str) -> tuple[str, subprocess.Popen[str]]:
    # A run again: the last run's workers' Job, finished, would be applied unchanged.
    cluster.kubectl("delete", "job", f"{name}-worker", "-n", NAMESPACE, "--ignore-not-found")
    return start_vanishing_test(cluster, NAMESPACE, name, failing=False)


def passed(waiting: subprocess.Popen[str]) -> None:
    printed, _ = waiting.communicate(timeout=240)
    assert waiting.returncode == 0, printed


def history_cli(cluster: LocalCluster, test: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli.main", "history", "--test", test, "-n", NAMESPACE,
         "--kubeconfig", str(cluster.kubeconfig), *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


# Two runs one after the other, on top of the cluster's start.
@pytest.mark.timeout(900)
def test_two_runs_are_kept_past_their_jobs_and_another_test_keeps_its_own(
    cluster: LocalCluster,
) -> None:
    prepare_namespace(cluster, NAMESPACE)
    cluster.kubectl("annotate", "namespace", NAMESPACE, f"{names.KEEP_PASSED_ANNOTATION}=0s")
    test = "kept-master"  # no LocustTest owns the Job: the test is the Job's name

    first_job, waiting = run_to_the_end(cluster, "kept")
    passed(waiting)
    wait_until(lambda: len(kept(cluster, test)) == 1, 120, "the first run in the history")
    wait_until(lambda: gone(cluster, first_job), 120, "the first run's Job to be deleted")

    second_job, waiting = run_to_the_end(cluster, "kept")
    other_job, other_waiting = run_to_the_end(cluster, "other")
    passed(waiting)
    passed(other_waiting)
    wait_until(lambda: len(kept(cluster, test)) == 2, 120, "the second run in the history")
    wait_until(lambda: kept(cluster, "other-master") != [], 120, "the other test's history")
    wait_until(lambda: gone(cluster, second_job) and gone(cluster, other_job), 120, "Jobs gone")

    found = configmap(cluster, test)
    assert found is not None
    assert history.is_history(found)
    assert found["metadata"]["annotations"][names.TEST_ANNOTATION] == test
    assert "ownerReferences" not in found["metadata"]
    assert history.read_history(found)[1] == {"passed": 2, "failed": 0}
    assert kept(cluster, "other-master") != kept(cluster, test)
    assert not set(kept(cluster, "other-master")) & set(kept(cluster, test))

    header, *rows = history_cli(cluster, test).splitlines()
    assert header.split()[:2] == ["WHEN", "RESULT"]
    assert [row.split()[1] for row in rows] == ["passed", "passed"]
    document = json.loads(history_cli(cluster, test, "-o", "json"))
    assert [run["uid"] for run in document["runs"]] == kept(cluster, test)[::-1]
    assert all(run["numbers"]["requests"] > 0 for run in document["runs"])
    assert document["counts"] == {"passed": 2, "failed": 0}
