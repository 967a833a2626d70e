"""From what users write (Jobs, Deployments, LocustTests...) to the pod the webhook will see.

The webhook only ever sees pods, but users write workloads. ``mutate`` previews a workload by
making the pod its controller would create from its template, with the context the webhook
sees on it (namespace, ownerReference, the labels the controller adds), and mutating that.
What is unknowable before the workload exists (a generated name's suffix, a ReplicaSet's
hash, uids not in the manifest) is left out; none of it changes the webhook's decision.
"""

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from app.core import podview
from app.core.locusttest import DEFAULT_OPERATOR, LocustTestError, master_job

KINDS: Final = ("Pod", "Job", "CronJob", "Deployment", "StatefulSet", "LocustTest")
# More than any manifest holds; past it, a List is refused rather than previewed in part.
MAX_ITEMS: Final = 1000


class WorkloadError(ValueError):
    """The input holds something that cannot be previewed; the message is one line."""


@dataclass(frozen=True)
class Preview:
    """One pod to preview, and what it comes from (``job/t-master``), for messages."""

    source: str
    pod: dict[str, Any]


def previews(document: Any, operator: str = DEFAULT_OPERATOR) -> list[Preview]:
    """The pods ``document`` (one object or a ``List``) would have the webhook see.

    ``operator`` is the locust-k8s-operator release a LocustTest's master pod is made as.

    Raises:
        WorkloadError: for a kind that is not previewed, or a List that is not one.
    """
    if isinstance(document, dict) and document.get("kind") == "List":
        items = document.get("items")
        if not isinstance(items, list):
            raise WorkloadError("a List needs an items list")
        if len(items) > MAX_ITEMS:
            raise WorkloadError(f"a List of more than {MAX_ITEMS} items is not previewed")
        return [_preview(item, operator) for item in items]
    return [_preview(document, operator)]


def _preview(item: Any, operator: str) -> Preview:
    if not isinstance(item, dict):
        raise WorkloadError(f"expected {_expected()}, got {type(item).__name__}")
    kind = item.get("kind", "Pod")
    name = podview.text(podview.mapping(item, "metadata"), "name") or "(unnamed)"
    source = f"{str(kind).lower()}/{name}"
    if kind == "Pod":
        return Preview(podview.display_name(item) or "pod", item)
    if kind == "Job":
        return Preview(source, job_pod(item))
    if kind == "CronJob":
        return Preview(source, _cronjob_pod(item))
    if kind == "Deployment":
        return Preview(source, template_pod(item, generate_name=f"{name}-"))
    if kind == "StatefulSet":
        return Preview(source, _statefulset_pod(item, name))
    if kind == "LocustTest":
        try:
            job = master_job(item, operator)
        except LocustTestError as error:
            raise WorkloadError(f"{source}: {error}") from None
        return Preview(f"{source} (its master pod, as operator {operator} makes it)", job_pod(job))
    raise WorkloadError(f"expected {_expected()}, got {str(kind)[:60]}")


def _expected() -> str:
    return f"a {', '.join(KINDS[:-1])} or {KINDS[-1]}, a List of them, or an AdmissionReview"


def _template(spec: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    template = podview.mapping(spec, "template")
    if not podview.mapping(template, "spec"):
        raise WorkloadError(f"{where} has no pod template (spec.template.spec)")
    return template


def owner_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    """The controller ownerReference a controller puts on the pods it makes of ``owner``."""
    metadata = podview.mapping(owner, "metadata")
    reference: dict[str, Any] = {
        "apiVersion": podview.text(owner, "apiVersion") or "",
        "kind": podview.text(owner, "kind") or "",
        "name": podview.text(metadata, "name") or "",
    }
    if podview.text(metadata, "uid"):
        reference["uid"] = metadata["uid"]
    return {**reference, "controller": True, "blockOwnerDeletion": True}


def template_pod(
    workload: Mapping[str, Any],
    *,
    spec: Mapping[str, Any] | None = None,
    name: str | None = None,
    generate_name: str | None = None,
    labels: Mapping[str, str] | None = None,
    owned: bool = False,
) -> dict[str, Any]:
    """The pod made of the template in ``spec`` (the workload's own by default).

    It carries the workload's namespace, the template's labels (and ``labels``) and
    annotations and, when ``owned``, the workload as its controller.
    """
    where = f"{str(workload.get('kind')).lower()}/{podview.display_name(workload) or '(unnamed)'}"
    template = _template(podview.spec(workload) if spec is None else spec, where)
    template_metadata = podview.mapping(template, "metadata")
    metadata: dict[str, Any] = {"name": name} if name else {"generateName": generate_name}
    namespace = podview.text(podview.mapping(workload, "metadata"), "namespace")
    if namespace:
        metadata["namespace"] = namespace
    all_labels = {**podview.mapping(template_metadata, "labels"), **(labels or {})}
    if all_labels:
        metadata["labels"] = all_labels
    annotations = podview.mapping(template_metadata, "annotations")
    if annotations:
        metadata["annotations"] = dict(annotations)
    if owned:
        metadata["ownerReferences"] = [owner_reference(workload)]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata}
    return copy.deepcopy({**pod, "spec": template["spec"]})


def job_pod(job: Mapping[str, Any]) -> dict[str, Any]:
    """A Job's pod, with the labels the Job controller adds (uid-based ones if known)."""
    metadata = podview.mapping(job, "metadata")
    name = podview.text(metadata, "name") or ""
    labels = {"batch.kubernetes.io/job-name": name, "job-name": name}
    uid = podview.text(metadata, "uid")
    if uid:
        labels |= {"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid}
    return template_pod(job, generate_name=f"{name}-", labels=labels, owned=True)


def _cronjob_pod(cronjob: Mapping[str, Any]) -> dict[str, Any]:
    """A CronJob's pod: its Job's name has the schedule's time in it, unknown until then."""
    name = podview.display_name(cronjob) or ""
    job_spec = podview.spec(podview.mapping(podview.spec(cronjob), "jobTemplate"))
    return template_pod(cronjob, spec=job_spec, generate_name=f"{name}-")


def _statefulset_pod(statefulset: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The StatefulSet's first pod, ``<name>-0``."""
    pod_name = f"{name}-0"
    labels = {"statefulset.kubernetes.io/pod-name": pod_name, "apps.kubernetes.io/pod-index": "0"}
    return template_pod(statefulset, name=pod_name, labels=labels, owned=True)
