"""What is known of one run's notification, and when to post it again: pure, for plan().

Exactly once per run, across a controller failover, rests on a mark on the run's Job (which
outlives the pod), ``locust-finisher.io/notification``: JSON naming the pod's uid and a state.

- ``claimed``: written before the first post, conditional on the Job's resourceVersion, so two
  controllers that both think they lead cannot both claim the run;
- ``sent``: written once the receiver answered 2xx; nothing is posted for the run again;
- ``gave-up``: written when no post can succeed (refused, or out of attempts).

A leader that finds a claim without ``sent`` posts again with the same ``Idempotency-Key`` (the
pod's uid): its predecessor may have died after the receiver accepted a post and before
``sent`` was written, and only the receiver can tell. That is the one window left; the key
covers it for a receiver that drops a key it has seen (docs/reference.md).

Attempts and their times are the leader's own, in memory (:class:`NotifySeen`), as its quits
of an exporter are: a new leader starts the backoff over, once.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from app.core import names, podview
from app.core.cluster_config import secret_name

# Waits between posts: 1 s doubling to a minute, then a minute; 11 posts over about 5 minutes
# ride out a receiver's restart or a short outage, and bound what one run costs.
BACKOFF_SECONDS: Final = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0, 60.0)
# The answers worth asking again: timeout, throttled, and the server's own trouble.
RETRYABLE_STATUSES: Final = frozenset({408, 429})
# A mark is a few dozen bytes as we write it: a longer one is not ours.
MAX_MARK_CHARS: Final = 512


class MarkState(StrEnum):
    """Where a run's notification stands, as its Job's mark says."""

    CLAIMED = "claimed"
    SENT = "sent"
    GAVE_UP = "gave-up"


@dataclass(frozen=True)
class Mark:
    """The Job's notification mark for one pod."""

    of: str
    state: MarkState
    at: str  # RFC 3339: when it was claimed, sent or given up
    detail: str = ""  # the receiver's status, or why it was given up

    @property
    def final(self) -> bool:
        """Nothing is to be posted for the run any more."""
        return self.state is not MarkState.CLAIMED


def encode_mark(mark: Mark) -> str:
    """The annotation's value (compact JSON)."""
    document = {"of": mark.of, "state": mark.state.value, "at": mark.at}
    if mark.detail:
        document["detail"] = mark.detail[:200]
    return json.dumps(document, separators=(",", ":"))


def read_mark(job: Mapping[str, Any], pod_uid: str) -> Mark | None:
    """The Job's mark if it is about pod ``pod_uid`` (another attempt's is none of its)."""
    text = podview.text(podview.annotations(job), names.NOTIFICATION_ANNOTATION)
    if not text or len(text) > MAX_MARK_CHARS:
        return None
    try:
        document = json.loads(text)
        state = MarkState(document["state"])
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(document, dict) or document.get("of") != pod_uid or not pod_uid:
        return None
    return Mark(pod_uid, state, str(document.get("at") or ""), str(document.get("detail") or ""))


def mark_patch(job: Mapping[str, Any], mark: Mark, *, exclusive: bool) -> dict[str, Any] | None:
    """A merge patch writing ``mark`` on the Job, None for a Job not as the API server serves it.

    It names the Job's uid, and with ``exclusive`` the resourceVersion it was decided from: two
    controllers that both claim the run from the same Job cannot both succeed.
    """
    metadata = podview.mapping(job, "metadata")
    uid, version = podview.text(metadata, "uid"), podview.text(metadata, "resourceVersion")
    if not uid or (exclusive and not version):
        return None
    condition = {"uid": uid, **({"resourceVersion": version} if exclusive else {})}
    return {
        "metadata": {**condition, "annotations": {names.NOTIFICATION_ANNOTATION: encode_mark(mark)}}
    }


@dataclass(frozen=True)
class SecretRef:
    """The Secret that holds a notification's URL (key ``url``, optional ``format``)."""

    namespace: str
    name: str
    source: str  # where it was named, for Events: "namespace annotation", "cluster config"

    def describe(self) -> str:
        """``Secret ns/name (from the namespace annotation)``."""
        return f"Secret {self.namespace}/{self.name} (from the {self.source})"


@dataclass(frozen=True)
class NotifySeen:
    """One run's notification as the leader knows it: where to, and its own attempts.

    ``target`` None: no Secret is named for the pod's namespace nor the cluster.
    ``refused`` says why no post can succeed (a 4xx, no Secret, no URL): give up now.
    """

    target: SecretRef | None
    attempts: int = 0
    last_attempt_at: float = 0.0
    refused: str | None = None


def next_attempt_at(seen: NotifySeen, now: float) -> float | None:
    """When to post next; None when the attempts are spent or a post was refused."""
    if seen.refused is not None or seen.attempts > len(BACKOFF_SECONDS):
        return None
    if not seen.attempts:
        return now
    return seen.last_attempt_at + BACKOFF_SECONDS[seen.attempts - 1]


def retryable(status: int) -> bool:
    """Whether a receiver's HTTP status is worth another post (0: no answer at all)."""
    return status == 0 or status >= 500 or status in RETRYABLE_STATUSES


def choose_target(
    namespace: str, namespace_secret: str | None, cluster_secret: str, install_namespace: str
) -> NotifySeen:
    """Where a run in ``namespace`` is notified: its namespace's Secret, else the cluster's.

    ``namespace_secret`` is the namespace's annotation (None: not set; "": this namespace
    wants none); the Secret it names is always the namespace's own, never another's.
    """
    if namespace_secret is not None:
        name = namespace_secret.strip()
        if not name:
            return NotifySeen(None)
        target = SecretRef(namespace, name[:253], "namespace annotation")
        if not secret_name(name):
            return NotifySeen(target, refused=f"{name[:64]!r} is not a Secret's name")
        return NotifySeen(target)
    if not cluster_secret:
        return NotifySeen(None)
    return NotifySeen(SecretRef(install_namespace, cluster_secret, "cluster config"))
