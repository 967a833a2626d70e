"""The AdmissionReview v1 envelope, and the answer to it.

Only the envelope is a pydantic model; the pod inside stays a plain dict, so no field the
model does not know can be lost and no time is spent validating what the API server has
already validated. Every malformed review becomes a :class:`BadReviewError` with a one-line
message; the HTTP shell turns it into a 400.
"""

import binascii
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from app.core.admission_record import Admitter, seal_op
from app.core.classify import LocustMaster, classify_pod
from app.core.cluster_config import InjectionConfig
from app.core.fitting import NO_LIMITS, NamespaceLimits
from app.core.inject import Mutation, mutate_pod
from app.core.settings import warning

API_VERSION = "admission.k8s.io/v1"


class BadReviewError(ValueError):
    """The request is not an AdmissionReview we can answer (an HTTP 400)."""


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class GroupVersionKind(_Envelope):
    """``request.kind``: what kind of object is being admitted."""

    group: str = ""
    version: str = ""
    kind: str = ""


class GroupVersionResource(_Envelope):
    """``request.resource``: the REST resource the request is for."""

    group: str = ""
    version: str = ""
    resource: str = ""


class UserInfo(_Envelope):
    """``request.userInfo``: who made the request (the API server authenticated them)."""

    username: str = ""


class AdmissionRequest(_Envelope):
    """The parts of ``request`` we read."""

    uid: str
    kind: GroupVersionKind = GroupVersionKind()
    resource: GroupVersionResource = GroupVersionResource()
    subResource: str | None = None  # noqa: N815 - the API's own field name
    operation: str = ""
    namespace: str | None = None
    name: str | None = None
    object: dict[str, Any] | None = None
    dryRun: bool | None = None  # noqa: N815
    userInfo: UserInfo = UserInfo()  # noqa: N815


class AdmissionReview(_Envelope):
    """An ``admission.k8s.io/v1`` AdmissionReview as the API server sends it."""

    apiVersion: Literal["admission.k8s.io/v1"]  # noqa: N815
    kind: Literal["AdmissionReview"]
    request: AdmissionRequest


def parse_review(document: Any) -> AdmissionReview:
    """Validate the envelope of a decoded AdmissionReview.

    Raises:
        BadReviewError: naming the first thing that is wrong.
    """
    if not isinstance(document, dict):
        raise BadReviewError("body must be a JSON object (an AdmissionReview)")
    api_version = document.get("apiVersion")
    if api_version != API_VERSION:
        raise BadReviewError(f"apiVersion must be {API_VERSION}, got {_short(api_version)}")
    if document.get("kind") != "AdmissionReview":
        raise BadReviewError(f"kind must be AdmissionReview, got {_short(document.get('kind'))}")
    request = document.get("request")
    if not isinstance(request, dict):
        raise BadReviewError("request is missing: this is not an AdmissionReview request")
    if not isinstance(request.get("uid"), str) or not request["uid"]:
        raise BadReviewError("request.uid is missing or not a string")
    try:
        return AdmissionReview.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise BadReviewError(f"{where}: {first['msg']}") from None


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def decide(
    request: AdmissionRequest,
    config: InjectionConfig,
    key: bytes | None = None,
    now: float = 0.0,
    limits: NamespaceLimits = NO_LIMITS,
) -> Mutation:
    """What to do with the object under review; with ``key``, its admission record signed.

    ``limits`` are the LimitRanges and ResourceQuotas of the pod's namespace.
    """
    unhandled = _unhandled(request)
    if unhandled is not None or request.object is None:
        return Mutation("skip", unhandled or "the review carries no object")
    mutation = mutate_pod(request.object, config, limits)
    if key is None:
        return mutation
    admitter = Admitter(request.namespace or "", request.userInfo.username, key, now)
    op = seal_op(request.object, mutation.status, admitter)
    if op is not None:
        mutation.ops.append(op)  # a list mutate_pod made for this call alone
    return mutation


def needs_namespace_limits(request: AdmissionRequest) -> bool:
    """Whether deciding about this request needs its namespace's LimitRanges and quotas."""
    return (
        _unhandled(request) is None
        and bool(request.namespace)
        and isinstance(classify_pod(request.object), LocustMaster)
    )


def _unhandled(request: AdmissionRequest) -> str | None:
    """Why the webhook does not decide about this request at all (None: it does)."""
    if request.resource.resource != "pods" or request.kind.kind != "Pod":
        return f"not a Pod ({request.kind.kind or request.resource.resource})"
    if request.subResource:
        return f"subresource {request.subResource} is not handled"
    if request.operation != "CREATE":
        return f"only CREATE is handled, not {request.operation or 'nothing'}"
    return None


def response_for(uid: str, mutation: Mutation) -> dict[str, Any]:
    """The AdmissionReview answer: allowed, with a base64 JSON Patch if there is one."""
    response: dict[str, Any] = {
        "uid": uid,
        "allowed": True,
        "auditAnnotations": {"decision": mutation.decision, "reason": mutation.reason},
    }
    if mutation.ops:
        response["patchType"] = "JSONPatch"
        # binascii: base64.b64encode's own call, without its wrapper.
        response["patch"] = binascii.b2a_base64(orjson.dumps(mutation.ops), newline=False).decode()
    if mutation.warnings:
        response["warnings"] = [warning(text) for text in mutation.warnings]
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}


def fail_open_response(uid: str, problem: str) -> dict[str, Any]:
    """Admit the pod unchanged after an internal error: we never block a user's pod."""
    mutation = Mutation(
        "skip",
        f"internal error: {problem}",
        warnings=[f"locust-finisher: internal error, pod admitted unchanged ({problem})"],
    )
    return response_for(uid, mutation)
