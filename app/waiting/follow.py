"""Follow one load test until it ends: progress while it runs, then the verdict and summary.

Exit codes are CI's contract: 0 passed, 1 failed, 2 anything else. Exit 1 must mean only
"Locust said the test failed", so every other ending (no access, an API server that cannot be
reached or is not one, a test that cannot start, a pod deleted, the timeout) is a
:class:`NoVerdictError` with one line saying why, never an exception's traceback.
Pods are watched, not polled: every state a pod passes through reaches the wait, its last
one too when the pod is deleted the moment it ends. Live numbers come from Locust's own
/stats/requests through the API server's pod proxy when the caller may use it
(``pods/proxy``); otherwise progress is the pod status alone.
"""

import asyncio
import contextlib
import math
import re
import shutil
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from app.core import names, podview
from app.core.compare_outputs import comparison_lines
from app.core.durations import format_duration
from app.core.injection_status import read_status
from app.core.load_test_status import (
    LoadTestStatus,
    blocker_of,
    job_failure,
    progress_line,
    status_of_test,
    summary_table,
)
from app.core.reasons import parse_reason
from app.core.results import FinishedTest
from app.core.settings import DEFAULT_SETTINGS, FinishSettings
from app.kube.client import (
    GoneError,
    KubeClient,
    KubeError,
    NotAnApiServerError,
    RefusedAnswerError,
    decode_json,
    path_of,
)
from app.waiting.selectors import label_selector, owned_by

PASSED, FAILED, UNDECIDED = 0, 1, 2

# A master Job runs one pod at a time, and a new one per retry (backoffLimit, 6 by default):
# pages of a few, and more pods than this is not a load test's Job.
PODS_PAGE = 10
MAX_PODS = 100
# Progress where no one watches a terminal (a CI log): a line at most this often, so that a
# 30-minute test is about 60 lines, not one per look.
LOG_PROGRESS_SECONDS = 30.0

JsonDict = dict[str, Any]
# What judges a finished test once more before it is shown (``wait --baseline``): given the
# test and the pod's settings, the test as it is to be reported.
# The finished test judged again (against a baseline), with the pod's settings and the client.
Rejudge = Callable[[FinishedTest, FinishSettings, KubeClient], Awaitable[FinishedTest]]


class NoVerdictError(Exception):
    """The wait ends without a verdict (exit 2); the message is one line for CI's log."""


@dataclass(frozen=True)
class Patience:
    """How long states that may still mend are given before the wait gives up on them."""

    # A registry hiccup or a slow pull-secret sync clears in seconds; a wrong name never does.
    image_pull: float = 120.0
    # Long enough for a cluster autoscaler to add a node.
    unschedulable: float = 300.0
    # An API server restart or a load balancer failover, once it has answered us.
    api_outage: float = 60.0

    def grace(self, blocker_kind: str) -> float:
        """The grace period of a :class:`~app.core.load_test_status.Blocker` kind."""
        return {"image": self.image_pull, "unschedulable": self.unschedulable}.get(
            blocker_kind, 0.0
        )


@dataclass(frozen=True)
class Target:
    """What to follow: a Job (the operator's ``<test>-master``) or one pod."""

    namespace: str
    job: str | None = None
    pod: str | None = None
    test: str | None = None  # the LocustTest's name, when the Job was found from it

    @property
    def label(self) -> str:
        """How to name it in messages."""
        return f"job/{self.job}" if self.job else f"pod/{self.pod}"


def describe(error: KubeError) -> str:
    """A failed call in words: the transport's own message, or the API server's answer."""
    if error.status == 0 or isinstance(error, NotAnApiServerError):
        return error.message
    return f"the API server answered {error.status}: {error.message}"


_NUMBERS = re.compile(r"[0-9][0-9.]*")


class Progress:
    """Where the test stands, shown without flooding.

    In a CI log, a line whose words changed (the pod started, Locust began running) is printed
    at once, and one whose numbers alone changed at most every 30 s: a handful of lines and
    about sixty more for a 30-minute test. On a terminal it is one line, rewritten in place.
    """

    def __init__(self, out: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self.out = out
        self.clock = clock
        self.terminal = _is_terminal(out)
        self._printed_at: float | None = None
        self._printed_words = ""
        self._open = False  # a terminal's progress line, not ended yet

    def show(self, line: str) -> None:
        """Show ``line`` now on a terminal; in a log, if the last was 30 s ago or more."""
        stamped = f"[{time.strftime('%H:%M:%S')}] {line}"
        if self.terminal:
            # Cut to the terminal's width: a line that wraps cannot be rewritten with \r.
            width = max(shutil.get_terminal_size().columns - 1, 20)
            self.out.write(f"\r{stamped[:width]}\x1b[K")
            self.out.flush()
            self._open = True
            return
        now = self.clock()
        words = _NUMBERS.sub("#", line)
        if (
            self._printed_at is None
            or words != self._printed_words
            or now - self._printed_at >= LOG_PROGRESS_SECONDS
        ):
            print(stamped, file=self.out, flush=True)
            self._printed_at, self._printed_words = now, words

    def end(self) -> None:
        """End a terminal's progress line, so that what comes next has a line of its own."""
        if self._open:
            self.out.write("\n")
            self._open = False


class Follower:
    """Watches the test's pods (and looks at its Job) and reports what changes."""

    def __init__(
        self,
        client: KubeClient,
        target: Target,
        out: TextIO = sys.stdout,
        patience: Patience | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        strict_checks: bool = False,
        rejudge: Rejudge | None = None,
    ) -> None:
        self.client = client
        self.rejudge = rejudge
        self.strict_checks = strict_checks  # a check not made fails (wait --strict-checks)
        self.target = target
        self.out = out
        self.patience = patience or Patience()
        self.clock = clock
        self.progress = Progress(out, clock)
        self.stats_allowed = True
        # The test with its verdict, once there is one: what CI's output files are made from.
        self.finished: FinishedTest | None = None
        self._settings = DEFAULT_SETTINGS  # the finished pod's, for rejudge
        # What to say of the verdict once judged: the pod and Locust's exit code, its earlier
        # attempts, and whether its summary was lost with the pod.
        self._verdict_said: tuple[str, str] = ("", "")
        self._verdict_notes: list[str] = []
        self._summary_lost = False
        # What the API has told us so far, for the messages that end the wait.
        self._reached = False
        self._last_error: KubeError | None = None
        self._outage_since: float | None = None
        self._seen_job = False
        self._last_pod: JsonDict | None = None
        self._last_status: LoadTestStatus | None = None
        self._blocked_since: dict[str, float] = {}
        self._announced = ""
        # The pods followed, kept current by a watch from the list's resourceVersion.
        self._job_uid = ""
        self._pod_query: dict[str, str] = (
            {"fieldSelector": f"metadata.name={target.pod}"} if target.pod else {}
        )
        self._pods: dict[str, JsonDict] = {}
        self._pod_version: str | None = None
        # The run's pods that ended (uid: creationTimestamp, name, exit code): the Job's
        # earlier attempts, once a retry gives the verdict.
        self._ended: dict[str, tuple[str, str, int]] = {}

    def say(self, line: str) -> None:
        """Print one line now (below the progress line, on a terminal)."""
        self.progress.end()
        print(line, file=self.out, flush=True)

    async def follow(self, timeout_seconds: float, interval_seconds: float = 2.0) -> int:
        """Follow until the test ends; its exit code.

        Raises:
            NoVerdictError: when there will be no verdict, including at the timeout, which is
                never overshot (a hung request is cut at the deadline).
        """
        limit = asyncio.timeout(timeout_seconds)
        try:
            async with limit:
                return await self._follow(interval_seconds)
        except TimeoutError:
            if not limit.expired():
                raise
            waited = format_duration(round(timeout_seconds, 3))
            raise NoVerdictError(f"timed out after {waited} {self._waiting_for()}") from None

    async def _follow(self, interval_seconds: float) -> int:
        while True:
            try:
                job, pod = await self._job_and_pod()
            except KubeError as error:
                self._api_trouble(error)
                await asyncio.sleep(interval_seconds)
                continue
            verdict = await self._look(job, pod)
            if verdict is not None:
                return await self._conclude()
            try:
                await self._watch_pods(interval_seconds)
                self._answered()
            except KubeError as error:
                self._api_trouble(error)
                await asyncio.sleep(interval_seconds)

    def _api_trouble(self, error: KubeError) -> None:
        """Retry an outage of an API server that has answered before; give up on the rest."""
        self._last_error = error
        if error.status == 401:
            raise NoVerdictError(f"the API server refused the credentials: {error.message}")
        if error.status == 403:
            raise NoVerdictError(f"not allowed: {error.message}")
        if not error.retryable or not self._reached:
            # Never answered: a wrong address, CA or proxy far more often than an outage.
            raise NoVerdictError(describe(error))
        now = self.clock()
        since = self._outage_since = self._outage_since or now
        if now - since >= self.patience.api_outage:
            failing = format_duration(self.patience.api_outage)
            raise NoVerdictError(f"the API server failed for over {failing}: {describe(error)}")
        self._announce(f"API error, retrying: {describe(error)}")

    def _answered(self) -> None:
        """The API server answered: any outage is over."""
        self._reached, self._last_error, self._outage_since = True, None, None

    async def _get_or_none(self, path: str) -> JsonDict | None:
        try:
            found = await self.client.get(path)
        except KubeError as error:
            if error.status != 404:
                raise
            found = None
        self._answered()
        return found

    async def _job_and_pod(self) -> tuple[JsonDict | None, JsonDict | None]:
        """The Job (None for a pod target, or when gone) and the newest of its live pods."""
        namespace = self.target.namespace
        job: JsonDict | None = None
        if self.target.job:
            job = await self._get_or_none(path_of("jobs", namespace, self.target.job, "batch/v1"))
            if job is None:
                return None, None
            job = _readable(job)
            self._seen_job = True
            uid = str(podview.mapping(job, "metadata").get("uid") or "")
            if uid != self._job_uid:  # first seen, or deleted and made again under its name
                if self._job_uid:
                    self.say(f"{self.target.label} was made again (uid {uid}): following it")
                self._new_run()
                self._job_uid, self._pod_version = uid, None
                selector = label_selector(podview.mapping(podview.mapping(job, "spec"), "selector"))
                self._pod_query = {
                    "labelSelector": selector or f"batch.kubernetes.io/controller-uid={uid}"
                }
        if self._pod_version is None:
            await self._list_pods()
        newest = max(
            self._pods.values(),
            key=lambda p: podview.text(podview.mapping(p, "metadata"), "creationTimestamp") or "",
            default=None,
        )
        return job, newest

    def _new_run(self) -> None:
        """Forget every pod and state of the run followed so far: none of it is the new run's."""
        self._pods, self._ended, self._blocked_since = {}, {}, {}
        self._last_pod = self._last_status = None

    def _seen(self, pod: Mapping[str, Any], status: LoadTestStatus) -> None:
        """Note a pod of the run that has ended, as an attempt before any later one."""
        metadata = podview.mapping(pod, "metadata")
        uid = podview.text(metadata, "uid")
        if uid and status.exit_code is not None and len(self._ended) < MAX_PODS:
            created = podview.text(metadata, "creationTimestamp") or ""
            self._ended[uid] = (created, podview.text(metadata, "name") or "?", status.exit_code)

    def _earlier(self, pod: Mapping[str, Any]) -> list[tuple[str, str, int]]:
        """The run's pods that ended before ``pod`` was made: the Job's earlier attempts."""
        metadata = podview.mapping(pod, "metadata")
        uid = podview.text(metadata, "uid")
        created = podview.text(metadata, "creationTimestamp") or ""
        return sorted(e for u, e in self._ended.items() if u != uid and e[0] <= created)

    def _ours(self, pod: Mapping[str, Any]) -> bool:
        """A Job's pods are those it controls, by uid: a label anyone can set does not count."""
        if self.target.pod:
            return podview.text(podview.mapping(pod, "metadata"), "name") == self.target.pod
        return owned_by(pod, self._job_uid)

    async def _list_pods(self) -> None:
        pods: dict[str, JsonDict] = {}
        listed: JsonDict = {}
        path = path_of("pods", self.target.namespace)
        async for listed in self.client.list_pages(path, PODS_PAGE, **self._pod_query):
            self._answered()
            for pod in podview.objects(listed, "items"):
                if self._ours(pod):
                    readable = _readable(pod)
                    pods[str(podview.mapping(pod, "metadata").get("uid"))] = readable
                    self._seen(readable, status_of_test(readable, None))
            self._check_count(len(pods))
        self._pods = pods
        self._pod_version = str(podview.mapping(listed, "metadata").get("resourceVersion") or "")

    def _check_count(self, pods: int) -> None:
        if pods > MAX_PODS:
            raise NoVerdictError(f"{self.target.label} has more than {MAX_PODS} pods")

    async def _watch_pods(self, seconds: float) -> None:
        """Take the pods' changes for ``seconds``, each one, from where the last look ended.

        Each state comes from its watch event, so a pod deleted the moment it ends (a Job's
        ttlSecondsAfterFinished: 0) still shows its master's exit: the DELETED event carries
        the pod as it was last stored. A change that ends the test ends the window at once:
        CI hears the verdict when it is written, not at the next look.
        """
        if not self._pod_version:
            await asyncio.sleep(seconds)  # nothing to resume from: the next look lists again
            self._pod_version = None
            return
        window = asyncio.timeout(seconds)
        try:
            async with window:
                stream = self.client.watch(
                    path_of("pods", self.target.namespace),
                    self._pod_version,
                    timeout_seconds=max(1, math.ceil(seconds)),
                    **self._pod_query,
                )
                async with contextlib.aclosing(stream):
                    async for event in stream:
                        if self._apply(event):
                            return
        except GoneError:
            self._pod_version = None  # too old to resume from: list again
        except TimeoutError:
            if not window.expired():
                raise

    def _apply(self, event: JsonDict) -> bool:
        """Take one watch event; True when it may have ended the test (look now)."""
        pod = _readable(podview.mapping(event, "object"))
        metadata = podview.mapping(pod, "metadata")
        self._pod_version = podview.text(metadata, "resourceVersion") or self._pod_version
        if event.get("type") not in ("ADDED", "MODIFIED", "DELETED") or not self._ours(pod):
            return False
        uid = str(metadata.get("uid"))
        status = status_of_test(pod, None, strict_checks=self.strict_checks)
        self._seen(pod, status)
        if event.get("type") == "DELETED":
            self._pods.pop(uid, None)
            # Its last state: the verdict, if the master had exited, and the finisher's summary.
            if self._last_status is None or status.exit_code is not None:
                self._last_pod, self._last_status = pod, status
            return status.exit_code is not None
        self._pods[uid] = pod
        self._check_count(len(self._pods))
        if status.finished:  # kept too in case the pod is gone by the look (TTL 0)
            self._last_pod, self._last_status = pod, status
        return status.finished

    async def _look(self, job: JsonDict | None, pod: JsonDict | None) -> int | None:
        """One look at the test: its exit code once decided, else None to look again."""
        if pod is None:
            return self._absent(job)
        status = status_of_test(pod, job, strict_checks=self.strict_checks)
        self._last_pod, self._last_status = pod, status
        self._seen(pod, status)
        if status.finished:
            return self._finish(pod, status)
        self._check_blocker(pod)
        self._progress(progress_line(status, await self._live_stats(pod)))
        return None

    def _absent(self, job: JsonDict | None) -> int | None:
        """No pod to look at: not yet, replaced, or gone with or without its verdict."""
        last_pod, last_status = self._last_pod, self._last_status
        if last_pod is not None and last_status is not None and last_status.exit_code is not None:
            # Deleted after Locust exited (a Job's ttlSecondsAfterFinished: 0): the verdict
            # was seen, only the finisher's summary is lost.
            return self._finish(last_pod, last_status, gone=True)
        failure = job_failure(job)
        if failure:
            raise NoVerdictError(f"{self.target.label} failed without a verdict: {failure}")
        if last_pod is not None:
            pod_name = podview.display_name(last_pod) or "?"
            if job is None:
                gone = (
                    self.target.label
                    if self.target.pod
                    else f"{self.target.label} (pod {pod_name})"
                )
                seen = last_status.line if last_status else ""
                raise NoVerdictError(f"{gone} was deleted before the test ended; last seen: {seen}")
            self._announce(
                f"pod {pod_name} is gone; waiting for {self.target.label} to start another"
            )
            return None
        if self._seen_job and job is None:
            raise NoVerdictError(f"{self.target.label} was deleted before its pod started")
        where = f"in namespace {self.target.namespace}"
        if job is None:
            self._announce(f"waiting for {self.target.label} {where} to appear")
        else:
            self._announce(f"waiting for a pod of {self.target.label} {where}")
        return None

    def _announce(self, line: str) -> None:
        if line != self._announced:
            self.say(line)
            self._announced = line

    def _check_blocker(self, pod: JsonDict) -> None:
        """End the wait on a state that will not mend, or has not within its grace period."""
        blocker = blocker_of(pod)
        if blocker is None:
            self._blocked_since = {}
            return
        now = self.clock()
        since = self._blocked_since.get(blocker.kind, now)
        self._blocked_since = {blocker.kind: since}
        grace = self.patience.grace(blocker.kind)
        if now - since < grace:
            return
        pod_name = podview.display_name(pod) or "?"
        waited = f", still after {format_duration(grace)}" if grace else ""
        raise NoVerdictError(
            f"{self.target.label} (pod {pod_name}) cannot start{waited}: {blocker.reason}"
        )

    def _waiting_for(self) -> str:
        """What the wait was last waiting for, starting with "waiting for"."""
        if not self._reached and self._last_error is None:
            return "waiting for the API server's first answer"
        if self._last_error is not None:
            return f"waiting for the API server: {describe(self._last_error)}"
        if self._last_status is not None:
            last = f"waiting for {self.target.label} to finish; last seen: {self._last_status.line}"
            earlier = self._earlier(self._last_pod or {})
            return f"{last}; {_attempts(earlier)}" if earlier else last
        if self._seen_job:
            return f"waiting for a pod of {self.target.label}"
        return f"waiting for {self.target.label} to appear in namespace {self.target.namespace}"

    async def _live_stats(self, pod: JsonDict) -> JsonDict | None:
        if (
            not self.stats_allowed
            or podview.text(podview.mapping(pod, "status"), "phase") != "Running"
        ):
            return None
        injection = read_status(podview.annotations(pod))
        port = injection.locust_web_port if injection else names.LOCUST_DEFAULT_WEB_PORT
        name = pod["metadata"]["name"]
        path = path_of("pods", self.target.namespace, f"{name}:{port}") + "/proxy/stats/requests"
        try:
            # Short: the numbers are a nicety, the pod status is what the wait is for.
            return await self.client.request("GET", path, request_timeout=5)
        except KubeError as error:
            if error.status in (401, 403):
                self.stats_allowed = False  # no pods/proxy permission: pod status only
            return None

    def _progress(self, line: str) -> None:
        self.progress.show(line)

    def _finish(self, pod: JsonDict, status: LoadTestStatus, *, gone: bool = False) -> int:
        """Keep the test's verdict, to be judged against a baseline and said by _conclude."""
        metadata = podview.mapping(pod, "metadata")
        uid = podview.text(metadata, "uid") or ""
        self.finished = FinishedTest(
            passed=bool(status.passed),
            exit_code=status.exit_code,
            namespace=self.target.namespace,
            pod=str(pod["metadata"]["name"]),
            job=self.target.job,
            test=self.target.test,
            source=status.source or "pod status",
            summary=status.summary,
            reason=status.reason,
            pod_uid=uid,
            owner_uid=podview.text(podview.controller_reference(pod), "uid") or "",
        )
        injection = read_status(podview.annotations(pod))
        self._settings = injection.settings if injection else DEFAULT_SETTINGS
        earlier = self._earlier(pod)
        attempt = f", attempt {len(earlier) + 1}" if earlier else ""
        self._verdict_said = (
            f"{self.target.label} (pod {pod['metadata']['name']}{attempt})",
            f"Locust exit code {status.exit_code} (from the {status.source or 'pod status'})",
        )
        self._verdict_notes = [f"  the verdict is this pod's own; {_attempts(earlier)}"] * bool(
            earlier
        )
        self._summary_lost = gone and status.summary is None
        return PASSED if status.passed else FAILED

    async def _conclude(self) -> int:
        """Judge the finished test once more if asked (a baseline), then say its verdict."""
        finished = self.finished
        assert finished is not None  # set by _finish, which every verdict comes from
        if self.rejudge is not None:
            finished = self.finished = await self.rejudge(finished, self._settings, self.client)
        which, exit_code = self._verdict_said
        self.say(f"{which}: {'PASSED' if finished.passed else 'FAILED'}, {exit_code}")
        reason = parse_reason(finished.reason)
        if reason is not None:
            self.say(f"  reason {reason.code}: {reason.meaning}")
        for line in self._verdict_notes:
            self.say(line)
        if self._summary_lost and finished.summary is None:
            self.say("  (no summary: the pod was deleted before the finisher left one)")
        else:
            for line in summary_table(finished.summary):
                self.say(line)
        if finished.comparison is not None:
            for line in comparison_lines(finished.comparison, finished.baseline):
                self.say(line)
        return PASSED if finished.passed else FAILED


def _attempts(earlier: list[tuple[str, str, int]]) -> str:
    pods = ", ".join(f"pod {name} (Locust exit code {code})" for _, name, code in earlier)
    return f"earlier attempts failed: {pods}"


def _is_terminal(out: TextIO) -> bool:
    try:
        return out.isatty()
    except ValueError:  # closed
        return False


def _readable(pod: Mapping[str, Any]) -> JsonDict:
    """``pod`` without the JSON annotations that are refused unread (nested too deep, ...).

    The readers of those annotations take JSON that is not theirs as no annotation at all;
    this makes one nested deeper than the interpreter's recursion limit the same.
    """
    metadata = podview.mapping(pod, "metadata")
    annotations = podview.mapping(metadata, "annotations")
    refused = [key for key, value in annotations.items() if not _decodable(value)]
    if not refused:
        return dict(pod)
    kept = {key: value for key, value in annotations.items() if key not in refused}
    return {**pod, "metadata": {**metadata, "annotations": kept}}


def _decodable(value: Any) -> bool:
    if not isinstance(value, str) or not value.lstrip().startswith(("{", "[")):
        return True
    try:
        decode_json(value)
    except RefusedAnswerError as error:
        return str(error).startswith("is not JSON")
    return True
