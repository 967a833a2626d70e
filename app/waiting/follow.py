"""Follow one load test until it ends: progress while it runs, then the verdict and summary.

Exit codes are CI's contract: 0 passed, 1 failed, 2 timeout or error (with the reason).
Live numbers come from Locust's own /stats/requests through the API server's pod proxy
when the caller may use it (``pods/proxy``); otherwise progress is the pod status alone.
"""

import asyncio
import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

from app.core import names, podview
from app.core.injection_status import read_status
from app.core.load_test_status import LoadTestStatus, progress_line, status_of_test, summary_table
from app.kube.client import KubeClient, KubeError, path_of

PASSED, FAILED, UNDECIDED = 0, 1, 2


@dataclass(frozen=True)
class Target:
    """What to follow: a Job (the operator's ``<test>-master``) or one pod."""

    namespace: str
    job: str | None = None
    pod: str | None = None

    @property
    def label(self) -> str:
        """How to name it in messages."""
        return f"job/{self.job}" if self.job else f"pod/{self.pod}"


class Follower:
    """Polls the API and reports what changes."""

    def __init__(self, client: KubeClient, target: Target, out: TextIO = sys.stdout) -> None:
        self.client = client
        self.target = target
        self.out = out
        self.last_line = ""
        self.last_printed = 0.0
        self.stats_allowed = True

    def say(self, line: str) -> None:
        """Print one line now."""
        print(line, file=self.out, flush=True)

    async def _job_and_pod(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        namespace = self.target.namespace
        if self.target.pod:
            try:
                return None, await self.client.get(path_of("pods", namespace, self.target.pod))
            except KubeError as error:
                if error.status == 404:
                    return None, None
                raise
        assert self.target.job is not None
        try:
            job = await self.client.get(
                path_of("jobs", namespace, self.target.job, group="batch/v1")
            )
        except KubeError as error:
            if error.status == 404:
                return None, None
            raise
        pods = (
            await self.client.get(
                path_of("pods", namespace), labelSelector=f"job-name={self.target.job}"
            )
        )["items"]
        newest = max(pods, key=lambda p: p["metadata"].get("creationTimestamp", ""), default=None)
        return job, newest

    async def _live_stats(self, pod: dict[str, Any]) -> dict[str, Any] | None:
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
            return await self.client.get(path)
        except KubeError as error:
            if error.status in (401, 403):
                self.stats_allowed = False  # no pods/proxy permission: pod status only
            return None
        except ValueError:
            return None

    def _progress(self, line: str) -> None:
        now = time.monotonic()
        if line != self.last_line or now - self.last_printed > 30:
            self.say(f"[{time.strftime('%H:%M:%S')}] {line}")
            self.last_line, self.last_printed = line, now

    async def follow(self, timeout_seconds: float, interval_seconds: float = 2.0) -> int:
        """Poll until the test ends or the timeout passes; the exit code."""
        deadline = time.monotonic() + timeout_seconds
        announced_missing = False
        while True:
            try:
                job, pod = await self._job_and_pod()
            except KubeError as error:
                if error.status in (401, 403):
                    self.say(f"error: not allowed to read {self.target.label}: {error.message}")
                    return UNDECIDED
                self._progress(f"API error, retrying: {error}")
                job, pod = None, None
            if pod is None:
                if not announced_missing:
                    where = f"in namespace {self.target.namespace}"
                    self.say(f"waiting for {self.target.label} {where} to appear")
                    announced_missing = True
            else:
                status = status_of_test(pod, job)
                if status.finished:
                    return self._finish(pod, status)
                self._progress(progress_line(status, await self._live_stats(pod)))
            if time.monotonic() >= deadline:
                what = "did not appear" if pod is None else "is still running"
                self.say(f"timed out after {timeout_seconds:g}s: {self.target.label} {what}")
                return UNDECIDED
            await asyncio.sleep(interval_seconds)

    def _finish(self, pod: dict[str, Any], status: LoadTestStatus) -> int:
        verdict = "PASSED" if status.passed else "FAILED"
        self.say(
            f"{self.target.label} (pod {pod['metadata']['name']}): {verdict}, "
            f"Locust exit code {status.exit_code} (from the {status.source})"
        )
        for line in summary_table(status.summary):
            self.say(line)
        return PASSED if status.passed else FAILED
