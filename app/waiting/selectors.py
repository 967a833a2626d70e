"""A Job's label selector as the API's ``labelSelector`` query, so `wait` lists only its pods.

Listing by ``job-name=<name>`` would also return any pod a user labelled so; the Job's own
selector (its controller-uid label) and the pods' ownerReferences name the Job's pods alone.
"""

from collections.abc import Mapping
from typing import Any

from app.core import podview


def label_selector(selector: Mapping[str, Any]) -> str:
    """``matchLabels`` and ``matchExpressions`` in the query syntax the API server reads."""
    terms = [f"{key}={value}" for key, value in podview.mapping(selector, "matchLabels").items()]
    for expression in podview.objects(selector, "matchExpressions"):
        key = expression.get("key")
        operator = expression.get("operator")
        values = ",".join(str(v) for v in expression.get("values") or [])
        if operator == "In":
            terms.append(f"{key} in ({values})")
        elif operator == "NotIn":
            terms.append(f"{key} notin ({values})")
        elif operator == "Exists":
            terms.append(str(key))
        elif operator == "DoesNotExist":
            terms.append(f"!{key}")
    return ",".join(terms)


def owned_by(pod: Mapping[str, Any], uid: str) -> bool:
    """Whether the object with ``uid`` is the pod's controller."""
    return any(
        ref.get("uid") == uid and ref.get("controller") is True
        for ref in podview.objects(podview.mapping(pod, "metadata"), "ownerReferences")
    )
