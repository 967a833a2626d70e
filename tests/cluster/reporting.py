"""Checks of what the controller records, shared by the cluster tests."""

from typing import Any

from app.core import names
from app.core.summary import decode_summary
from app.core.timestamps import parse_time
from devcluster.cluster import LocalCluster
from devcluster.processes import wait_until


def seconds(stamp: str) -> float:
    """A Kubernetes timestamp as epoch seconds."""
    parsed = parse_time(stamp)
    assert parsed is not None, f"not a timestamp: {stamp!r}"
    return parsed


def events_for(cluster: LocalCluster, namespace: str, kind: str, name: str) -> list[dict[str, Any]]:
    events = cluster.api().get(f"/api/v1/namespaces/{namespace}/events")["items"]
    return [
        e
        for e in events
        if e["involvedObject"]["kind"] == kind and e["involvedObject"]["name"] == name
    ]


def wait_for_report(
    cluster: LocalCluster, pod: dict[str, Any], job: str, result: str
) -> dict[str, Any]:
    """Wait until the controller reported on the pod and its Job; check both; the pod."""
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    found: dict[str, Any] = {}

    def reported() -> bool:
        found.update(cluster.api().get(f"/api/v1/namespaces/{namespace}/pods/{name}"))
        return names.SUMMARY_ANNOTATION in found["metadata"].get("annotations", {})

    wait_until(reported, 120, f"the controller's report on {name}")
    job_object = cluster.api().get(f"/apis/batch/v1/namespaces/{namespace}/jobs/{job}")
    for labelled in (found, job_object):
        # As a label too, so `kubectl get jobs -l locust-finisher.io/result=failed` finds it.
        assert labelled["metadata"]["labels"][names.RESULT_LABEL] == result
    for annotations in (found["metadata"]["annotations"], job_object["metadata"]["annotations"]):
        assert annotations[names.RESULT_ANNOTATION] == result
        assert annotations[names.EXIT_CODE_ANNOTATION] == ("0" if result == "passed" else "1")
        assert annotations[names.FINISHED_AT_ANNOTATION].endswith("Z")
        assert decode_summary(annotations[names.SUMMARY_ANNOTATION]) is not None
    verdict = "LoadTestPassed" if result == "passed" else "LoadTestFailed"
    for kind, object_name in (("Pod", name), ("Job", job)):
        verdicts = [
            e for e in events_for(cluster, namespace, kind, object_name) if e["reason"] == verdict
        ]
        assert len(verdicts) == 1, f"exactly one {verdict} Event on the {kind}"
        assert verdicts[0]["count"] == 1
    return found
