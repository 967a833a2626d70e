"""Pods as our webhook would have admitted them: with an admission record, signed.

The controller acts only on pods whose record verifies (app/core/admission_record.py), so a
test's pod gets one here, made the way the webhook makes it, for the creator the test says.
"""

import copy
import time
from typing import Any

from app.core import names
from app.core.admission_record import RECORD_ANNOTATION, Admission, controller_owner, digest, sign
from app.core.timestamps import parse_time

TEST_KEY = b"a test key of thirty-two bytes or more"
JOB_CONTROLLER = "system:serviceaccount:kube-system:job-controller"
CREATED = "2026-11-26T09:58:00Z"


def admit(
    pod: dict[str, Any], creator: str = JOB_CONTROLLER, key: bytes = TEST_KEY
) -> dict[str, Any]:
    """A copy of a mutated ``pod`` with the record the webhook would have signed for it."""
    admitted = copy.deepcopy(pod)
    metadata = admitted.setdefault("metadata", {})
    created = parse_time(metadata.setdefault("creationTimestamp", CREATED))
    assert created is not None
    annotations = metadata.setdefault("annotations", {})
    kind, uid = controller_owner(admitted)
    record = Admission(
        namespace=str(metadata.get("namespace", "")),
        creator=creator,
        owner_kind=kind,
        owner_uid=uid,
        status_digest=digest(str(annotations.get(names.STATUS_ANNOTATION, ""))),
        at=int(created),
    )
    annotations[RECORD_ANNOTATION] = sign(record, key)
    return admitted


def signed_now(
    pod: dict[str, Any], namespace: str, key: bytes, creator: str = JOB_CONTROLLER
) -> dict[str, Any]:
    """``pod`` (mutated) with the record our webhook would sign now, for a real API server.

    For benchmarks that create mutated pods without the webhook: the API server dates the pod
    when it is created, so the record carries this moment.
    """
    signed = copy.deepcopy(pod)
    annotations = signed["metadata"].setdefault("annotations", {})
    kind, uid = controller_owner(signed)
    status = str(annotations.get(names.STATUS_ANNOTATION, ""))
    record = Admission(namespace, creator, kind, uid, digest(status), int(time.time()))
    annotations[RECORD_ANNOTATION] = sign(record, key)
    return signed


def job_made_pod(
    name: str, uid: str, namespace: str, job: str = "t-master", job_uid: str = "job-uid"
) -> dict[str, Any]:
    """A managed pod the Job controller made for Job ``job``, admitted by our webhook."""
    pod = {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "labels": {names.MANAGED_LABEL: "true", "batch.kubernetes.io/job-name": job},
            "annotations": {names.STATUS_ANNOTATION: "{}"},
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job,
                                 "uid": job_uid, "controller": True}],
        }
    }  # fmt: skip
    return admit(pod)


def job_of(namespace: str, job: str = "t-master", job_uid: str = "job-uid") -> dict[str, Any]:
    """The Job that :func:`job_made_pod`'s pods belong to."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job, "namespace": namespace, "uid": job_uid},
        "spec": {"selector": {"matchLabels": {"batch.kubernetes.io/job-name": job}}},
    }
