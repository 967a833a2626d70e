"""Carrying out a run's notification: find its Secret, claim the run on its Job, post, mark it.

The shell around :class:`~app.core.reconcile.ReadNotifyTarget`, :class:`~app.core.reconcile.Notify`
and :class:`~app.core.reconcile.GiveUpNotifying`; app/core/notify_state.py says how the Job's
mark makes a notification once, across a failover. Each :class:`Notify` is one post: the
backoff between posts is the plan's (a ``wake_at``), so a receiver that is down never holds a
worker.

The URL is a credential (a Slack webhook's path is its secret): it is read from the Secret for
each post, kept in no log, Event, metric or error message, and never followed to a redirect.
A post is bounded in time (:data:`POST_TIMEOUT_SECONDS`) and in what is read of the answer
(:data:`ANSWER_BYTES`; only its status counts).
"""

import base64
import binascii
import dataclasses
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
import yaml

from app.controller.actions import BATCH
from app.controller.installation import first_line, read_installation_config
from app.controller.retention import JobReader
from app.core import names, podview
from app.core.cluster_config import ConfigError
from app.core.notification import Notification, slack_body
from app.core.notify_state import (
    Mark,
    MarkState,
    NotifySeen,
    choose_target,
    mark_patch,
    retryable,
)
from app.core.pod_facts import PodFacts
from app.core.reconcile import Notify, ReadNotifyTarget
from app.core.retention import JobSeen
from app.core.timestamps import format_time
from app.kube.client import KubeClient, KubeError, path_of
from app.logs import pod_log

log = logging.getLogger(__name__)

POST_TIMEOUT_SECONDS: Final = 10.0
ANSWER_BYTES: Final = 64 * 1024
MAX_URL_CHARS: Final = 2048
# The cluster's Secret name is read from the installation's ConfigMap at most this often.
CONFIG_SECONDS: Final = 30.0
FORMATS: Final = ("json", "slack")
SLACK_PREFIX: Final = "https://hooks.slack.com/"
USER_AGENT: Final = "locust-finisher-controller"

Post = Callable[[str, bytes, str], Awaitable[tuple[int, str]]]


class DestinationError(ValueError):
    """The Secret holds no usable destination; one line, without the URL."""


@dataclass(frozen=True)
class Destination:
    """Where to post, and in which body (``repr`` leaves the URL out)."""

    url: str = field(repr=False)
    format: str


def _value(data: Mapping[str, Any], key: str) -> str | None:
    encoded = data.get(key)
    if encoded is None:
        return None
    try:
        return base64.b64decode(str(encoded), validate=True).decode().strip()
    except (binascii.Error, UnicodeDecodeError):
        raise DestinationError(f"its key {key} is not base64 UTF-8 text") from None


def destination_of(secret: Mapping[str, Any]) -> Destination:
    """The Secret's ``url`` and ``format`` (``slack`` or ``json``; Slack's URLs default to it).

    Raises:
        DestinationError: no ``url``, not an http(s) URL, or an unknown ``format``.
    """
    data = podview.mapping(secret, "data")
    url = _value(data, "url")
    if not url:
        raise DestinationError("it has no key url")
    if (
        len(url) > MAX_URL_CHARS
        or not url.startswith(("https://", "http://"))
        or any(c.isspace() or not c.isprintable() for c in url)
    ):
        raise DestinationError(f"its url is not an http(s) URL of at most {MAX_URL_CHARS} chars")
    given = _value(data, "format")
    format_ = given or ("slack" if url.startswith(SLACK_PREFIX) else "json")
    if format_ not in FORMATS:
        raise DestinationError(f"its format must be one of {', '.join(FORMATS)}")
    return Destination(url, format_)


def encode_body(body: Notification, format_: str) -> bytes:
    """The request body in the destination's format."""
    document: Mapping[str, Any] = slack_body(body) if format_ == "slack" else body
    return json.dumps(document, separators=(",", ":")).encode()


async def post(
    url: str, body: bytes, key: str, timeout_seconds: float = POST_TIMEOUT_SECONDS
) -> tuple[int, str]:
    """POST ``body``; the HTTP status (0: no answer) and a detail that never holds the URL."""
    headers = {
        "Content-Type": "application/json",
        names.IDEMPOTENCY_HEADER: key,
        "User-Agent": USER_AGENT,
    }
    timeout = aiohttp.ClientTimeout(total=timeout_seconds)
    try:
        # trust_env: HTTPS_PROXY and NO_PROXY in the controller's environment are honoured.
        async with (
            aiohttp.ClientSession(timeout=timeout, trust_env=True) as session,
            session.post(url, data=body, headers=headers, allow_redirects=False) as answer,
        ):
            await answer.content.read(ANSWER_BYTES)
            return answer.status, answer.reason or ""
    except TimeoutError:
        return 0, f"no answer within {timeout_seconds:g}s"
    except (aiohttp.ClientError, OSError, ValueError) as error:
        # The type only: aiohttp's messages name the URL.
        return 0, type(error).__name__


class Notifier:
    """Keeps what the leader knows of each run's notification, and carries it out."""

    def __init__(
        self,
        client: KubeClient,
        jobs: JobReader,
        install_namespace: str,
        config_map: str = names.CONFIG_MAP,
        clock: Callable[[], float] = time.time,
        send: Post = post,
    ) -> None:
        self.client = client
        self.jobs = jobs
        self.install_namespace = install_namespace
        self.config_map = config_map
        self.clock = clock
        self.send = send
        self.seen: dict[str, NotifySeen] = {}
        self._cluster: tuple[float, str] | None = None

    def forget(self, pod_uid: str) -> None:
        """The pod is gone from our view."""
        self.seen.pop(pod_uid, None)

    def pending(self, pod_uid: str) -> bool:
        """Whether a post for the pod's run may still be due (keep a deleted pod till then)."""
        seen = self.seen.get(pod_uid)
        return seen is not None and seen.target is not None

    async def read_target(self, facts: PodFacts, action: ReadNotifyTarget) -> None:
        """Where the run is notified, for the next plan."""
        cluster = "" if action.namespace_secret is not None else await self._cluster_secret()
        self.seen[facts.uid] = choose_target(
            facts.namespace, action.namespace_secret, cluster, self.install_namespace
        )

    async def _cluster_secret(self) -> str:
        """The cluster's notification Secret, from the installation's ConfigMap (cached)."""
        now = time.monotonic()
        if self._cluster is not None and now - self._cluster[0] < CONFIG_SECONDS:
            return self._cluster[1]
        where = f"ConfigMap {self.install_namespace}/{self.config_map}"
        name = ""
        try:
            installed = await read_installation_config(
                self.client, self.install_namespace, self.config_map
            )
            name = installed.notify_secret
        except KubeError as error:
            if error.retryable:
                raise
            if error.status != 404:
                log.warning("%s not readable, no cluster notifications: %s", where, error)
        except (ConfigError, yaml.YAMLError) as error:
            log.warning("%s refused, no cluster notifications: %s", where, first_line(error))
        self._cluster = (now, name)
        return name

    async def notify(self, facts: PodFacts, action: Notify) -> int | None:
        """One post of the run's notification; the receiver's 2xx status once it is sent.

        Raises:
            KubeError: the API server could not be asked (retried by the controller).
        """
        pod = pod_log(log, facts.namespace, facts.name)
        seen = self.seen.get(facts.uid, NotifySeen(action.target))
        try:
            destination = await self._destination(action)
        except DestinationError as error:
            self.seen[facts.uid] = dataclasses.replace(seen, refused=str(error))
            return None
        if action.claim is not None and not await self.write_mark(facts, action.claim):
            return None  # the Job changed or went: the next plan reads it again
        status, detail = await self.send(
            destination.url, encode_body(action.body, destination.format), facts.uid
        )
        now = self.clock()
        what = f"notification to {action.target.describe()}, post {action.attempt}"
        if 200 <= status < 300:
            pod.info("%s: HTTP %d", what, status, extra={"action": "notify"})
            # Done here whether or not the mark lands: a next leader would post once more,
            # with the same key.
            self.seen[facts.uid] = NotifySeen(None)
            await self.write_mark(facts, self._sent(facts, status, now))
            return status
        answer = f"HTTP {status} {detail}".strip() if status else detail
        pod.warning("%s: %s", what, answer, extra={"action": "notify"})
        refused = None if retryable(status) else f"the receiver answered {answer}"
        self.seen[facts.uid] = NotifySeen(action.target, action.attempt, now, refused)
        return None

    def _sent(self, facts: PodFacts, status: int, now: float) -> dict[str, Any]:
        job = self.jobs.seen.get(facts.uid, JobSeen(None)).job or {}
        mark = Mark(facts.uid, MarkState.SENT, format_time(now), f"HTTP {status}")
        return mark_patch(job, mark, exclusive=False) or {}

    async def _destination(self, action: Notify) -> Destination:
        secret = action.target
        path = path_of("secrets", secret.namespace, secret.name)
        try:
            found = await self.client.get(path)
        except KubeError as error:
            if error.retryable:
                raise
            if error.status == 404:
                raise DestinationError(f"{secret.describe()} not found") from None
            if error.status == 403:
                raise DestinationError(
                    f"the controller may not read {secret.describe()} (docs/reference.md, "
                    "Notifications: which Secrets it may read)"
                ) from None
            raise DestinationError(f"{secret.describe()} not readable: {error}") from None
        try:
            return destination_of(found)
        except DestinationError as error:
            raise DestinationError(f"{secret.describe()}: {error}") from None

    async def give_up(self, facts: PodFacts, patch: Mapping[str, Any] | None) -> None:
        """Mark the run given up; this leader posts no more for it, whether or not it lands."""
        self.seen[facts.uid] = NotifySeen(None)
        await self.write_mark(facts, patch)

    async def write_mark(self, facts: PodFacts, patch: Mapping[str, Any] | None) -> bool:
        """Write a notification mark on the Job; False when the Job changed or is gone.

        Either way the Job is read again before the next decision that needs it.
        """
        if not patch or facts.job is None:
            self.jobs.seen.pop(facts.uid, None)
            return False
        path = path_of("jobs", facts.namespace, facts.job, group=BATCH)
        seen = self.jobs.seen.get(facts.uid, JobSeen(None))
        try:
            patched = await self.client.merge_patch(path, patch)
        except KubeError as error:
            if error.retryable:
                raise
            # 409: changed since read (perhaps claimed by another); 404, 422: gone or replaced.
            pod_log(log, facts.namespace, facts.name).info(
                "Job %s: notification mark not written: %s", facts.job, error
            )
            self.jobs.seen.pop(facts.uid, None)
            return False
        self.jobs.seen[facts.uid] = JobSeen(patched, seen.after_report, seen.namespace_annotations)
        return True
