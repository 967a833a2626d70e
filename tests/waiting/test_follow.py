"""`wait`'s follower against a fake API server: what ends a wait early, and how."""

import asyncio
import io
import time

import pytest

from app.kube.client import KubeClient
from app.waiting.follow import FAILED, PASSED, Follower, NoVerdictError, Patience, Target
from testkit import fake_kube
from tests.waiting.conftest import printed
from tests.waiting.pods import UNSCHEDULABLE, exited, job, master_pod, waiting

QUICK = Patience(image_pull=0.3, unschedulable=0.3, api_outage=0.3)


async def follow(
    client: KubeClient,
    target: Target,
    limit: float = 10,
    patience: Patience = QUICK,
) -> tuple[int, str]:
    out = io.StringIO()
    code = await Follower(client, target, out, patience).follow(limit, 0.02)
    return code, out.getvalue()


POD = Target("default", pod="p")


@pytest.mark.parametrize(
    ("state", "shown"),
    [
        (waiting("ImagePullBackOff", 'Back-off pulling image "locust:typo"'), "locust:typo"),
        (waiting("ErrImagePull", "manifest unknown"), "ErrImagePull: manifest unknown"),
    ],
)
async def test_an_image_that_cannot_be_pulled_ends_the_wait_after_its_grace(
    fake: fake_kube.FakeKube, client: KubeClient, state: dict[str, object], shown: str
) -> None:
    fake.put_pod(master_pod("p", master=state, phase="Pending"))
    started = time.monotonic()
    with pytest.raises(
        NoVerdictError, match=rf"pod/p \(pod p\) cannot start, still after 0.3s: .*{shown}"
    ):
        await follow(client, POD)
    assert time.monotonic() - started >= QUICK.image_pull


async def test_a_pull_that_recovers_within_the_grace_is_waited_for(
    fake: fake_kube.FakeKube, client: KubeClient
) -> None:
    fake.put_pod(master_pod("p", master=waiting("ImagePullBackOff"), phase="Pending"))
    with pytest.raises(NoVerdictError, match=r"timed out after 0.5s .* locust ImagePullBackOff"):
        await follow(client, POD, limit=0.5, patience=Patience(image_pull=60))


async def test_a_sidecar_that_cannot_be_pulled_does_not_stop_the_test(
    fake: fake_kube.FakeKube, client: KubeClient
) -> None:
    # Locust runs; the exporter's image is missing. The verdict will still come.
    fake.put_pod(master_pod("p", exporter=waiting("ImagePullBackOff")))
    with pytest.raises(
        NoVerdictError, match=r"waiting for pod/p to finish; last seen: pod Running"
    ):
        await follow(client, POD, limit=0.8)


async def test_an_init_container_that_cannot_be_pulled_blocks_the_test(
    fake: fake_kube.FakeKube, client: KubeClient
) -> None:
    # A native sidecar (or any init container) comes before Locust: nothing runs without it.
    pod = master_pod(
        "p", master=waiting("PodInitializing"), init={"finisher": waiting("ErrImagePull")}
    )
    fake.put_pod(pod)
    with pytest.raises(NoVerdictError, match=r"container finisher: ErrImagePull"):
        await follow(client, POD)


async def test_a_missing_secret_ends_the_wait_at_once(
    fake: fake_kube.FakeKube, client: KubeClient
) -> None:
    state = waiting("CreateContainerConfigError", 'secret "env" not found')
    fake.put_pod(master_pod("p", master=state, phase="Pending"))
    started = time.monotonic()
    with pytest.raises(NoVerdictError, match=r'cannot start: .*secret "env" not found'):
        await follow(client, POD, patience=Patience())
    assert time.monotonic() - started < 2


async def test_an_unschedulable_pod_ends_the_wait_after_its_grace(
    fake: fake_kube.FakeKube, client: KubeClient
) -> None:
    fake.put_pod(master_pod("p", phase="Pending", conditions=[UNSCHEDULABLE]))
    with pytest.raises(NoVerdictError, match=r"unschedulable: 0/1 nodes are available"):
        await follow(client, POD)


async def test_a_pod_deleted_before_its_verdict_ends_the_wait(
    fake: fake_kube.FakeKube, client: KubeClient
) -> None:
    fake.put_pod(master_pod("p"))
    out = io.StringIO()
    follower = Follower(client, POD, out, QUICK)
    following = asyncio.ensure_future(follower.follow(10, 0.02))
    await printed(out, "pod Running")
    fake.delete_pod("p")
    with pytest.raises(NoVerdictError, match=r"pod/p was deleted before the test ended; last seen"):
        await following


async def test_a_verdict_seen_before_the_pod_vanished_is_kept(
    fake: fake_kube.FakeKube, client: KubeClient
) -> None:
    # The master exited 1 and the finisher still waits for the final scrape; then the pod is
    # gone at once (ttlSecondsAfterFinished: 0, or someone deleted it).
    fake.put_pod(master_pod("p", master=exited(1), finisher={"running": {}}))
    out = io.StringIO()
    following = asyncio.ensure_future(Follower(client, POD, out, QUICK).follow(10, 0.02))
    await printed(out, "(finishing)")
    fake.delete_pod("p")
    assert await following == FAILED
    assert "the pod was deleted before the finisher left one" in out.getvalue()


async def test_a_job_that_failed_without_a_pod_ends_the_wait_with_its_reason(
    fake: fake_kube.FakeKube, client: KubeClient
) -> None:
    failed = job()
    failed["status"] = {
        "conditions": [
            {
                "type": "Failed",
                "status": "True",
                "reason": "DeadlineExceeded",
                "message": "Job was active longer than specified deadline",
            }
        ]
    }
    fake.put_job(failed)
    with pytest.raises(NoVerdictError, match=r"job/t-master failed without a verdict: Deadline"):
        await follow(client, Target("default", job="t-master"))


async def test_wait_job_follows_the_jobs_own_pod_not_any_pod_labelled_with_its_name(
    fake: fake_kube.FakeKube, client: KubeClient
) -> None:
    master_job = job()
    fake.put_job(master_job)
    fake.put_pod(master_pod("real", master=exited(0), phase="Succeeded", job=master_job))
    # Newer, labelled like the Job's pods, even with its controller-uid label; not owned by it.
    impostor = master_pod(
        "impostor",
        master=exited(1),
        phase="Failed",
        labels={"job-name": "t-master", "batch.kubernetes.io/controller-uid": "job-uid"},
        created="2026-01-01T00:05:00Z",
    )
    fake.put_pod(impostor)
    code, out = await follow(client, Target("default", job="t-master"))
    assert code == PASSED, out
    assert "pod real" in out
    assert any("controller-uid%3Djob-uid" in path for path in fake.requests), fake.requests


async def test_the_timeout_is_never_overshot_by_a_hung_request(
    fake: fake_kube.FakeKube, client: KubeClient
) -> None:
    fake.mode = "hang"
    started = time.monotonic()
    with pytest.raises(NoVerdictError, match=r"timed out after 0.5s waiting for the API server"):
        await follow(client, POD, limit=0.5)
    assert time.monotonic() - started < 1.5


async def running_follower(
    fake: fake_kube.FakeKube, client: KubeClient
) -> tuple["asyncio.Future[int]", io.StringIO]:
    """A follower that has seen pod p running."""
    fake.put_pod(master_pod("p"))
    out = io.StringIO()
    following = asyncio.ensure_future(Follower(client, POD, out, QUICK).follow(10, 0.02))
    await printed(out, "pod Running")
    return following, out


async def test_an_outage_after_the_first_answer_is_retried(
    fake: fake_kube.FakeKube, client: KubeClient
) -> None:
    following, out = await running_follower(fake, client)
    fake.mode = "error"
    await printed(out, "API error, retrying: the API server answered 500")
    fake.put_pod(master_pod("p", master=exited(0), phase="Succeeded"))
    fake.mode = "normal"
    assert await following == PASSED


async def test_an_outage_longer_than_its_grace_ends_the_wait(
    fake: fake_kube.FakeKube, client: KubeClient
) -> None:
    following, _ = await running_follower(fake, client)
    fake.mode = "drop"
    with pytest.raises(NoVerdictError, match=r"failed for over 0.3s: the API server dropped"):
        await following


@pytest.mark.parametrize("code", [PASSED, FAILED])
async def test_a_job_deleted_the_moment_its_pod_ends_still_gives_the_verdict(
    fake: fake_kube.FakeKube, client: KubeClient, code: int
) -> None:
    # ttlSecondsAfterFinished: 0: the pod ends, and it and its Job are gone before any poll
    # could see the end. Only the watch events carry it.
    master_job = job()
    fake.put_job(master_job)
    fake.put_pod(master_pod("p", job=master_job))
    out = io.StringIO()
    target = Target("default", job="t-master")
    following = asyncio.ensure_future(Follower(client, target, out, QUICK).follow(10, 0.05))
    await printed(out, "pod Running")
    summary = '{"version": 1, "requests": 580, "failures": 0}'
    ended = master_pod(
        "p",
        master=exited(code),
        exporter=exited(0),
        finisher={"terminated": {"exitCode": 0, "message": summary}},
        phase="Succeeded" if code == PASSED else "Failed",
        job=master_job,
    )

    def end_and_vanish() -> None:
        fake.put_pod(ended)
        fake.delete_pod("p")
        del fake.jobs[("default", "t-master")]

    fake.at_once(end_and_vanish)
    assert await following == code, out.getvalue()
    assert f"Locust exit code {code}" in out.getvalue()
    assert "580" in out.getvalue(), "the summary, from the pod's last state"
