"""Whether a managed pod really belongs to the Job its ownerReference names.

The admission record says that the Job controller made the pod for the Job of that uid
(app/core/admission_record.py). The controller and the report receiver also ask the Job
itself, as the Job controller would: the same uid, and a selector that selects the pod; a Job
deleted and made again under its name is another Job. A pod that fails the check still gets
its own annotations and Events.
"""

from collections.abc import Mapping
from typing import Any

from app.core import podview


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


def job_owns(job: Mapping[str, Any], job_uid: str | None, labels: Mapping[str, str]) -> bool:
    """Whether ``job`` is a pod's controller: the uid it names (``job_uid``), selecting it."""
    uid = podview.text(podview.mapping(job, "metadata"), "uid")
    if not uid or uid != job_uid:
        return False
    return selects(podview.mapping(podview.mapping(job, "spec"), "selector"), labels)
