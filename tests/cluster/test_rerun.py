"""A test re-run under the same name gets its own verdict, never the previous run's.

The first run passes; its master Job is then deleted and made again from a copy that still
carries the first run's verdict annotations (as ``kubectl get job -o yaml`` and a re-apply
would), now with a locustfile that fails. `wait` started on the re-run must answer with the
re-run's verdict, from the re-run's pod: the copied verdict names the first run's pod.
"""

from typing import Any

import pytest

from app.core import names
from devcluster import operator_shapes as shapes
from devcluster.api import ApiError
from devcluster.cluster import LocalCluster
from devcluster.loadtest import prepare_namespace, start_wait
from devcluster.processes import wait_until

pytestmark = pytest.mark.cluster

NAMESPACE = "rerun"


def recorded(cluster: LocalCluster, path: str) -> dict[str, Any] | None:
    """The Job's annotations once the verdict and its summary are on it."""
    try:
        job = cluster.api().get(path)
    except ApiError:
        return None
    annotations = dict(job["metadata"].get("annotations", {}))
    return annotations if names.SUMMARY_ANNOTATION in annotations else None


def test_a_rerun_under_the_same_name_gets_its_own_verdict(cluster: LocalCluster) -> None:
    prepare_namespace(cluster, NAMESPACE)
    test = shapes.LoadTest(
        name="again",
        namespace=NAMESPACE,
        run_time="4s",
        autoquit=5,
        cpu_request="10m",
        master_annotations={names.TTL_ANNOTATION: "1s", names.WAIT_FOR_SCRAPE_ANNOTATION: "false"},
    )
    first = start_wait(cluster, NAMESPACE, test.name)
    cluster.apply(shapes.load_test_objects(test))
    printed, _ = first.communicate(timeout=300)
    assert first.returncode == 0, printed

    path = f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{test.node_name}-master"
    wait_until(lambda: recorded(cluster, path) is not None, 60, "the first run's verdict")
    copied = recorded(cluster, path)
    assert copied is not None
    assert copied[names.RESULT_ANNOTATION] == "passed"
    first_pod = copied[names.RESULT_OF_ANNOTATION]

    jobs = (f"job/{test.node_name}-master", f"job/{test.node_name}-worker")
    cluster.kubectl("delete", "-n", NAMESPACE, *jobs, "--cascade=foreground", "--wait=true")
    rerun = shapes.load_test_objects(test, failing=True)
    for item in rerun:
        if item["kind"] == "Job" and item["metadata"]["name"] == f"{test.node_name}-master":
            item["metadata"]["annotations"] = {**item["metadata"].get("annotations", {}), **copied}
    cluster.apply(rerun)
    second = start_wait(cluster, NAMESPACE, test.name)
    printed, _ = second.communicate(timeout=300)
    assert second.returncode == 1, printed
    assert "FAILED" in printed
    pods = cluster.api().get(
        f"/api/v1/namespaces/{NAMESPACE}/pods", labelSelector=f"job-name={test.node_name}-master"
    )["items"]
    assert [pod["metadata"]["uid"] for pod in pods] != [first_pod]
    assert f"(pod {pods[0]['metadata']['name']})" in printed, "the re-run's own pod"
