"""The verdict where GitOps tools look: on the LocustTest that owns a test's Job.

Argo CD, Flux and people look at the object they applied, the LocustTest, not at the Job an
operator made from it. So once the verdict is on the Job, the controller copies it onto the
LocustTest's annotations (metadata only: its spec and status are the operator's).

Anyone who may create a Job in a namespace may name any LocustTest there as its owner, uid
included (the uid is on every Job the operator made). The Job itself is verified already
(the pod is its own, by the signed admission record and ``job_owns``); here the claim on the
LocustTest must also hold as the operators make it: the controller ownerReference of group
``locust.io``, kind ``LocustTest``, with ``blockOwnerDeletion`` (both operators set it; with
the OwnerReferencesPermissionEnforcement admission plugin, setting it needs ``update`` on the
LocustTest's finalizers), a Job named ``<test>-master`` as both operators name the master Job,
and (:func:`refusal`) a LocustTest that exists with that very uid. What this
cannot tell apart is said in SECURITY.md.

Pure: the Job and the LocustTest in, decisions out; the controller reads and patches.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.core import names, podview
from app.core.timestamps import parse_time

GROUP = "locust.io"
KIND = "LocustTest"
PLURAL = "locusttests"


@dataclass(frozen=True)
class LocustTestRef:
    """The LocustTest a Job names as its controller."""

    api_version: str  # "locust.io/v1" or "locust.io/v2", as the ownerReference says
    name: str
    uid: str


def master_job_names(test: str) -> frozenset[str]:
    """The master Job's name each operator makes for LocustTest ``test``.

    locust-k8s-operator (Java and Go) replaces dots, locustio/k8s-operator does not.
    """
    return frozenset({f"{test}-master", f"{test.replace('.', '-')}-master"})


def owning_test(job: Mapping[str, Any]) -> LocustTestRef | None:
    """The LocustTest that controls ``job`` as an operator's master Job; None for any other."""
    owner = podview.controller_reference(job)
    api_version = podview.text(owner, "apiVersion") or ""
    name = podview.text(owner, "name") or ""
    uid = podview.text(owner, "uid") or ""
    group = api_version.rpartition("/")[0]
    if group != GROUP or podview.text(owner, "kind") != KIND or not name or not uid:
        return None
    if owner.get("blockOwnerDeletion") is not True:
        return None  # both operators set it; where the API server checks it, it is earned
    job_name = podview.text(podview.mapping(job, "metadata"), "name") or ""
    if job_name not in master_job_names(name):
        return None  # not what an operator makes of that LocustTest
    return LocustTestRef(api_version, name, uid)


def verdict_patch(job: Mapping[str, Any], pod_uid: str) -> dict[str, str | None] | None:
    """The verdict to copy from the Job onto its LocustTest, as a merge patch's annotations.

    The Job holds its latest pod's verdict (``result-of``); None when that is not ``pod_uid``'s
    (a newer attempt's verdict is there, and will be copied for that pod). An annotation the
    Job lacks (``reason`` of a passed test) is removed from the LocustTest, so that nothing of
    an earlier run is left there.
    """
    on_job = podview.annotations(job)
    if on_job.get(names.RESULT_OF_ANNOTATION) != pod_uid or not pod_uid:
        return None
    if on_job.get(names.RESULT_ANNOTATION) not in ("passed", "failed"):
        return None
    return {
        key: value if isinstance(value := on_job.get(key), str) else None
        for key in names.TEST_VERDICT_ANNOTATIONS
    }


def refusal(
    test: Mapping[str, Any], ref: LocustTestRef, verdict: Mapping[str, str | None]
) -> str | None:
    """Why the LocustTest as read is not to be written with ``verdict``; None to write it.

    ``test`` is what the API server has under the ownerReference's name.
    """
    metadata = podview.mapping(test, "metadata")
    if podview.text(test, "kind") != KIND or podview.text(metadata, "uid") != ref.uid:
        return f"LocustTest {ref.name} is not the one that owns the Job (another uid)"
    current = podview.annotations(test)
    pod_uid = verdict.get(names.RESULT_OF_ANNOTATION)
    if current.get(names.RESULT_OF_ANNOTATION) == pod_uid and all(
        current.get(key) == value for key, value in verdict.items()
    ):
        return f"LocustTest {ref.name} has this verdict already"
    theirs = parse_time(podview.text(current, names.FINISHED_AT_ANNOTATION))
    ours = parse_time(verdict.get(names.FINISHED_AT_ANNOTATION))
    if theirs is not None and ours is not None and theirs > ours:
        return f"LocustTest {ref.name} has a later run's verdict"
    return None
