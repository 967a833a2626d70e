"""Every HTTP rule of /mutate, in one place: request in, AdmissionReview bytes out.

It knows no web framework: the route hands it the two headers that matter and the body as
a stream. Every way a request can be wrong (content type, size, JSON, envelope) ends in a
400 with a one-line message; every way we can be wrong ends in ``allowed: true`` with a
warning, because a pod must never be blocked by a bug of ours (``failurePolicy`` only
applies when the call itself fails). Each decision is logged once, naming the pod.
"""

import dataclasses
import logging
import time
from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import Literal

import orjson

from app.core import podview
from app.core.cluster_config import InjectionConfig
from app.core.fitting import NO_LIMITS, NamespaceLimits
from app.core.review import (
    AdmissionReview,
    BadReviewError,
    decide,
    fail_open_response,
    needs_namespace_limits,
    parse_review,
    response_for,
)
from app.logs import pod_fields
from app.webhook.namespace_limits import LimitsReader

# The API server never sends a request body over 3 MiB.
MAX_BODY_BYTES = 3 * 1024 * 1024

Outcome = Literal["mutated", "skipped", "error", "rejected"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    """An HTTP answer and how the request is counted."""

    status: int
    body: bytes
    outcome: Outcome


def bad_request(message: str) -> Answer:
    """A 400 whose body is the one-line reason."""
    return Answer(400, orjson.dumps({"error": message}), "rejected")


def _content_type_problem(content_type: str | None) -> str | None:
    """Why a Content-Type is not acceptable, if it is not."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        return f"Content-Type must be application/json, got {content_type or 'none'!r}"
    return None


async def _read_capped(content_length: str | None, body: AsyncIterable[bytes]) -> bytes | None:
    """The body, or None once it exceeds the cap (without buffering the rest)."""
    declared = content_length or ""
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in body:
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
    return b"".join(chunks)


async def answer_request(
    content_type: str | None,
    content_length: str | None,
    body: AsyncIterable[bytes],
    config: InjectionConfig,
    key: bytes | None = None,
    limits_of: LimitsReader | None = None,
) -> Answer:
    """Answer one POST /mutate; with ``key``, each admitted pod's record is signed.

    With ``limits_of``, a master pod's namespace's LimitRanges and quotas are read first.
    """
    problem = _content_type_problem(content_type)
    if problem is not None:
        return bad_request(problem)
    document = await _read_capped(content_length, body)
    if document is None:
        return bad_request(f"body exceeds {MAX_BODY_BYTES // (1024 * 1024)} MiB")
    review = _parse(document)
    if isinstance(review, Answer):
        return review
    if limits_of is None or not needs_namespace_limits(review.request):
        return _answer(review, config, key)
    limits, unread = await limits_of(review.request.namespace or "")
    return _answer(review, config, key, limits, unread)


def handle_review(body: bytes, config: InjectionConfig, key: bytes | None = None) -> Answer:
    """Answer one AdmissionReview body (already size-checked), with no namespace limits."""
    review = _parse(body)
    return review if isinstance(review, Answer) else _answer(review, config, key)


def _parse(body: bytes) -> AdmissionReview | Answer:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        return bad_request(f"body is not valid JSON: {error}")
    try:
        return parse_review(document)
    except BadReviewError as error:
        return bad_request(str(error))


def _answer(
    review: AdmissionReview,
    config: InjectionConfig,
    key: bytes | None,
    limits: NamespaceLimits = NO_LIMITS,
    unread: str | None = None,
) -> Answer:
    uid = review.request.uid
    try:
        mutation = decide(review.request, config, key, time.time(), limits)
        if unread is not None and mutation.decision == "mutate":
            mutation = dataclasses.replace(mutation, warnings=[*mutation.warnings, unread])
        answer = response_for(uid, mutation)
    except Exception as error:  # a bug of ours: admit unchanged and say so
        log.exception("internal error on review %s; admitting unchanged", uid)
        return Answer(200, orjson.dumps(fail_open_response(uid, type(error).__name__)), "error")
    # The admission warnings reach only the pod's creator, for a Job's pod the Job controller:
    # the log says them too, in one line (the status annotation and Events say them again).
    level = logging.WARNING if mutation.warnings else logging.INFO
    if log.isEnabledFor(level):  # the name is looked up only for a line we write
        name = review.request.name or podview.display_name(review.request.object) or "(unnamed)"
        pod = pod_fields(review.request.namespace, name)
        log.info("%s: %s", mutation.decision, mutation.reason, extra=pod)
        if mutation.warnings:
            warnings = " | ".join(mutation.warnings)
            log.warning("%s: warnings: %s", mutation.decision, warnings, extra=pod)
    outcome: Outcome = "mutated" if mutation.decision == "mutate" else "skipped"
    return Answer(200, orjson.dumps(answer), outcome)
