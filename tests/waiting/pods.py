"""Master pods and Jobs in the states `wait` meets, as the API server returns them."""

import json
from typing import Any

from app.core import names

JsonDict = dict[str, Any]

RUNNING: JsonDict = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}


def waiting(reason: str, message: str = "") -> JsonDict:
    return {"waiting": {"reason": reason, **({"message": message} if message else {})}}


def exited(code: int) -> JsonDict:
    return {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}}


def master_pod(
    name: str = "t-master-abc",
    namespace: str = "default",
    *,
    master: JsonDict | None = None,
    exporter: JsonDict | None = None,
    finisher: JsonDict | None = None,
    init: dict[str, JsonDict] | None = None,
    phase: str = "Running",
    conditions: list[JsonDict] | None = None,
    job: JsonDict | None = None,
    labels: dict[str, str] | None = None,
    created: str = "2026-01-01T00:00:00Z",
) -> JsonDict:
    """A mutated master pod (containers ``locust`` and ``exporter``, maybe the finisher)."""
    statuses = [{"name": "locust", "state": master or RUNNING}]
    statuses.append({"name": "exporter", "state": exporter or RUNNING})
    if finisher is not None:
        statuses.append({"name": names.FINISHER_CONTAINER, "state": finisher})
    status_annotation = json.dumps({"masterContainer": "locust", "exporterContainer": "exporter"})
    metadata: JsonDict = {
        "name": name,
        "namespace": namespace,
        "uid": f"uid-{name}",
        "creationTimestamp": created,
        "labels": dict(labels or {}),
        "annotations": {names.STATUS_ANNOTATION: status_annotation},
    }
    if job is not None:
        uid = job["metadata"]["uid"]
        metadata["labels"].update(job["spec"]["selector"]["matchLabels"])
        metadata["labels"]["job-name"] = job["metadata"]["name"]
        metadata["ownerReferences"] = [
            {"kind": "Job", "name": job["metadata"]["name"], "uid": uid, "controller": True}
        ]
    status: JsonDict = {"phase": phase, "containerStatuses": statuses}
    if init:
        status["initContainerStatuses"] = [{"name": n, "state": s} for n, s in init.items()]
    if conditions:
        status["conditions"] = conditions
    return {
        "metadata": metadata,
        "spec": {
            "containers": [
                {"name": "locust", "args": ["--master"]},
                {"name": "exporter"},
            ]
        },
        "status": status,
    }


def job(name: str = "t-master", namespace: str = "default", uid: str = "job-uid") -> JsonDict:
    """A Job as the API server completes it: its selector is its own controller-uid."""
    return {
        "metadata": {"name": name, "namespace": namespace, "uid": uid},
        "spec": {"selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}},
        "status": {},
    }


UNSCHEDULABLE: JsonDict = {
    "type": "PodScheduled",
    "status": "False",
    "reason": "Unschedulable",
    "message": "0/1 nodes are available: 1 Insufficient memory.",
}
