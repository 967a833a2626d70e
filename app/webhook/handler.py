"""The /mutate hot path: request bytes in, AdmissionReview bytes out.

It does no network I/O and validates only the envelope. Every way a body can be wrong ends in
a 400 with a one-line message; every way we can be wrong ends in ``allowed: true`` with a
warning, because a pod must never be blocked by a bug of ours (``failurePolicy`` only
applies when the call itself fails).
"""

import logging
from dataclasses import dataclass
from typing import Literal

import orjson

from app.core.inject import InjectionConfig
from app.core.review import BadReviewError, decide, fail_open_response, parse_review, response_for

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


def content_type_problem(content_type: str | None) -> str | None:
    """Why a Content-Type is not acceptable, if it is not."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        return f"Content-Type must be application/json, got {content_type or 'none'!r}"
    return None


def handle_review(body: bytes, config: InjectionConfig) -> Answer:
    """Answer one AdmissionReview body (already size-checked)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        return bad_request(f"body is not valid JSON: {error}")
    try:
        review = parse_review(document)
    except BadReviewError as error:
        return bad_request(str(error))

    uid = review.request.uid
    try:
        mutation = decide(review.request, config)
        answer = response_for(uid, mutation)
    except Exception as error:  # a bug of ours: admit unchanged and say so
        log.exception("internal error on review %s; admitting unchanged", uid)
        return Answer(200, orjson.dumps(fail_open_response(uid, type(error).__name__)), "error")
    log.debug("review %s: %s (%s)", uid, mutation.decision, mutation.reason)
    outcome: Outcome = "mutated" if mutation.decision == "mutate" else "skipped"
    return Answer(200, orjson.dumps(answer), outcome)
