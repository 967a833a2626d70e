"""Whether a managed pod really belongs to the Job its ownerReference names.

Anyone who may create pods in a namespace writes their labels and ownerReferences, so a pod
that claims "Job X controls me" is only a claim. The controller writes verdicts onto a Job
only when the Job itself agrees, as the Job controller would: the same uid, and a selector
that selects the pod. A pod that fails the check still gets its own annotations and Events.
"""

from collections.abc import Mapping
from typing import Any

from app.core import podview
from app.core.pod_facts import PodFacts


def _expression_holds(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key = str(expression.get("key"))
    values = {str(v) for v in expression.get("values") or []}
    operator = expression.get("operator")
    if operator == "In":
        return labels.get(key) in values
    if operator == "NotIn":
        return labels.get(key) not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    return False  # an operator we do not know selects nothing, as the API server's would


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a label selector (``matchLabels`` and ``matchExpressions``) selects ``labels``.

    An empty selector selects nothing here: a Job always has one, so an empty one is not a
    Job's claim to any pod.
    """
    match_labels = podview.mapping(selector, "matchLabels")
    expressions = podview.objects(selector, "matchExpressions")
    if not match_labels and not expressions:
        return False
    return all(labels.get(str(k)) == v for k, v in match_labels.items()) and all(
        _expression_holds(e, labels) for e in expressions
    )


def job_owns(job: Mapping[str, Any], facts: PodFacts) -> bool:
    """Whether ``job`` is the pod's controller: the uid its ownerReference names, selecting it."""
    uid = podview.text(podview.mapping(job, "metadata"), "uid")
    if not uid or uid != facts.job_uid:
        return False
    return selects(podview.mapping(podview.mapping(job, "spec"), "selector"), dict(facts.labels))
