"""`wait` answers with the verdict of the run it follows: never a previous run's, never an
earlier attempt's; and its progress stays a few lines however long the test runs."""

import asyncio
import io
from typing import Any

import pytest

from app.core import names
from app.core.artifacts import STATS_JSON, artifacts_configmap
from app.core.results import FinishedTest
from app.core.summary import encode_summary
from app.kube.client import KubeClient
from app.waiting.artifacts import fetch_artifacts
from app.waiting.follow import (
    FAILED,
    PASSED,
    Follower,
    NoVerdictError,
    Patience,
    Progress,
    Target,
)
from testkit import fake_kube
from tests.waiting.conftest import printed
from tests.waiting.pods import exited, job, master_pod
from tests.waiting.summaries import summary

QUICK = Patience(image_pull=0.3, unschedulable=0.3, api_outage=0.3)
JOB = Target("default", job="t-master")


def verdict(result: str, pod_uid: str) -> dict[str, str]:
    """The controller's verdict annotations for the pod ``pod_uid``."""
    return {
        names.RESULT_ANNOTATION: result,
        names.EXIT_CODE_ANNOTATION: "0" if result == "passed" else "1",
        names.RESULT_OF_ANNOTATION: pod_uid,
        names.SUMMARY_ANNOTATION: encode_summary(summary(failing=result == "failed")),
    }


def ended(name: str, code: int, master_job: dict[str, Any], created: str) -> dict[str, Any]:
    return master_pod(
        name,
        master=exited(code),
        exporter=exited(0),
        phase="Succeeded" if code == 0 else "Failed",
        job=master_job,
        created=created,
    )


T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"


async def fails_with_its_own_pod(
    fake: fake_kube.FakeKube, following: "asyncio.Future[int]", out: io.StringIO, pod: Any
) -> None:
    """The pod ends failing, and that is the verdict the follower gives."""
    fake.put_pod(pod)
    assert await following == FAILED, out.getvalue()
    assert f"(pod {pod['metadata']['name']}): FAILED" in out.getvalue()


def thirty_minutes(progress: Progress, clock: "Clock") -> None:
    """A 30-minute test, looked at every 2 s, its numbers new at every look."""
    for look in range(900):
        clock.now = look * 2.0
        progress.show(f"pod Running; Locust running: {look} requests")


def start(client: KubeClient, out: io.StringIO) -> "asyncio.Future[int]":
    return asyncio.ensure_future(Follower(client, JOB, out, QUICK).follow(10, 0.02))


async def test_a_job_made_again_with_the_last_runs_verdict_waits_for_its_own_pod(
    fake: fake_kube.FakeKube, client: KubeClient
) -> None:
    # Re-applied from a copy of the last run's Job: its verdict annotations came along.
    again = job(uid="job-2")
    again["metadata"]["annotations"] = verdict("passed", "uid-t-master-old")
    fake.put_job(again)
    fake.put_pod(master_pod("t-master-new", job=again))
    out = io.StringIO()
    following = start(client, out)
    await printed(out, "pod Running")
    assert not following.done(), "the copied verdict is not this run's"
    await fails_with_its_own_pod(fake, following, out, ended("t-master-new", 1, again, T0))


async def test_a_job_deleted_and_made_again_while_followed_is_a_new_run(
    fake: fake_kube.FakeKube, client: KubeClient
) -> None:
    first = job(uid="job-1")
    fake.put_job(first)
    # The first run's master has exited 0; its finisher still waits for the final scrape.
    fake.put_pod(master_pod("t-master-a", master=exited(0), finisher={"running": {}}, job=first))
    out = io.StringIO()
    following = start(client, out)
    await printed(out, "(finishing)")

    second = job(uid="job-2")

    def rerun() -> None:
        fake.delete_pod("t-master-a")
        fake.put_job(second)

    fake.at_once(rerun)
    await printed(out, "job/t-master was made again (uid job-2)")
    await printed(out, "waiting for a pod of job/t-master")
    assert not following.done(), "the first run's exit code is not the second's verdict"
    await fails_with_its_own_pod(fake, following, out, ended("t-master-b", 1, second, T1))


async def test_a_retried_pod_gives_its_own_verdict_and_names_the_failed_attempts(
    fake: fake_kube.FakeKube, client: KubeClient
) -> None:
    master_job = job()
    # The first attempt failed, and the controller recorded that on the Job; the Job runs a
    # new pod.
    master_job["metadata"]["annotations"] = verdict("failed", "uid-t-master-1")
    fake.put_job(master_job)
    fake.put_pod(ended("t-master-1", 1, master_job, T0))
    retry = master_pod("t-master-2", job=master_job, created=T1)
    fake.put_pod(retry)
    out = io.StringIO()
    following = start(client, out)
    await printed(out, "pod Running")
    assert not following.done(), "the first attempt's verdict is not the retry's"
    fake.put_pod(ended("t-master-2", 0, master_job, T1))
    assert await following == PASSED, out.getvalue()
    lines = out.getvalue()
    assert "job/t-master (pod t-master-2, attempt 2): PASSED" in lines
    assert "earlier attempts failed: pod t-master-1 (Locust exit code 1)" in lines


async def test_the_report_of_an_earlier_pod_of_the_same_name_is_not_this_runs(
    fake: fake_kube.FakeKube, client: KubeClient
) -> None:
    # A pod named p, deleted the moment it ended; an earlier pod named p had its report kept.
    earlier = master_pod("p", job=job(uid="job-old"))
    earlier["metadata"]["uid"] = "uid-p-old"
    kept = artifacts_configmap(earlier, {STATS_JSON: b"\x1f\x8b"}, [], T0)
    fake.put_configmap(kept)
    finished = FinishedTest(
        passed=True,
        exit_code=0,
        namespace="default",
        pod="p",
        pod_uid="uid-p",
        owner_uid="job-new",
    )
    assert await fetch_artifacts(client, finished) is None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_in_a_log_is_a_line_every_30_seconds_at_most() -> None:
    out, clock = io.StringIO(), Clock()
    progress = Progress(out, clock)
    thirty_minutes(progress, clock)
    lines = out.getvalue().splitlines()
    assert len(lines) == 60
    assert lines[0].endswith("0 requests")
    assert lines[1].endswith("15 requests"), "the next line 30 s later"


def test_progress_in_a_log_shows_a_change_of_state_at_once() -> None:
    out, clock = io.StringIO(), Clock()
    progress = Progress(out, clock)
    progress.show("pod Pending; e2e-master ContainerCreating")
    clock.now += 2
    progress.show("pod Running; e2e-master running; Locust running: 4 users, 12.5 req/s")
    clock.now += 2
    progress.show("pod Running; e2e-master running; Locust running: 4 users, 13.1 req/s")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert lines[1].endswith("Locust running: 4 users, 12.5 req/s")


def test_progress_on_a_terminal_is_one_line_rewritten_in_place() -> None:
    out, clock = Terminal(), Clock()
    progress = Progress(out, clock)
    thirty_minutes(progress, clock)
    shown = out.getvalue()
    assert "\n" not in shown
    assert shown.count("\r") == 900
    last = shown.rsplit("\r", 1)[1]
    assert last.startswith("[")
    assert "899 requests" in last
    progress.end()
    assert out.getvalue().endswith("\n"), "what comes next starts on a line of its own"


async def test_a_retry_that_never_ends_times_out_naming_the_failed_attempt(
    fake: fake_kube.FakeKube, client: KubeClient
) -> None:
    # The official operator's retry: its workers are gone, so the new master waits for ever.
    master_job = job()
    fake.put_job(master_job)
    fake.put_pod(ended("t-master-1", 1, master_job, T0))
    fake.put_pod(master_pod("t-master-2", job=master_job, created=T1))
    with pytest.raises(NoVerdictError) as ended_wait:
        await Follower(client, JOB, io.StringIO(), QUICK).follow(1, 0.02)
    message = str(ended_wait.value)
    assert message.startswith("timed out after 1s waiting for job/t-master to finish")
    assert message.endswith("earlier attempts failed: pod t-master-1 (Locust exit code 1)")
