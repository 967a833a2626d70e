"""The controller notifies a run once: one accepted post, marked on the Job, across a failover.

Against the fake API (Jobs take conditional merge patches as the API server does) and a
receiver that answers as scripted and, as a careful receiver does, accepts each
Idempotency-Key once. The real kube-apiserver and a receiver pod: tests/cluster/test_notify.py.
"""

import asyncio
import base64
import copy
import json
import logging
from typing import Any, cast

import pytest
from aiohttp import web

from app.controller.actions import Actor
from app.controller.controller import Controller
from app.controller.metrics import ControllerMetrics
from app.controller.notifier import ANSWER_BYTES, post
from app.core import names
from app.kube.client import KubeClient
from testkit.fake_kube import FakeKube
from tests.controller.test_controller_loop import JOB, finished_pod

URL = "https://hooks.example.test/services/T000/B000/a-secret-path"


class Receiver:
    """Answers posts with ``statuses`` in turn (then 200); accepts each key once."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.posts: list[tuple[str, dict[str, Any], str]] = []
        self.accepted: dict[str, dict[str, Any]] = {}

    async def __call__(self, url: str, body: bytes, key: str) -> tuple[int, str]:
        document = json.loads(body)
        self.posts.append((url, document, key))
        status = self.statuses.pop(0) if self.statuses else 200
        if 200 <= status < 300:
            self.accepted.setdefault(key, document)
        return status, "scripted"


def secret(name: str = names.NOTIFY_SECRET, namespace: str = "ns", **data: str) -> dict[str, Any]:
    values = {"url": URL, **data}
    return {
        "metadata": {"name": name, "namespace": namespace},
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in values.items()},
    }


def fake_api(
    namespace_annotations: dict[str, str] | None = None,
    secrets: list[dict[str, Any]] | None = None,
    cluster_config: str | None = None,
) -> FakeKube:
    job = copy.deepcopy(JOB)
    job["metadata"]["resourceVersion"] = "1"
    if namespace_annotations is None:
        namespace_annotations = {names.NOTIFY_SECRET_ANNOTATION: names.NOTIFY_SECRET}
    namespace = {"metadata": {"name": "ns", "annotations": namespace_annotations}}
    configmaps = []
    if cluster_config is not None:
        configmaps.append(
            {
                "metadata": {"name": names.CONFIG_MAP, "namespace": "locust-finisher"},
                "data": {names.CONFIG_MAP_KEY: cluster_config},
            }
        )
    fake = FakeKube(jobs=[job], namespaces=[namespace], configmaps=configmaps)
    for made in [secret()] if secrets is None else secrets:
        fake.kind("secrets").put(made)
    return fake


class Clock:
    def __init__(self) -> None:
        self.now = 2e9

    def __call__(self) -> float:
        return self.now


class Replica(Controller):
    """A controller whose wake-ups are noted, for the test to follow on its own clock."""

    wakes: dict[str, float | None]

    def _schedule(self, uid: str, wake_at: float | None) -> None:
        self.wakes[uid] = wake_at


def replica(fake: FakeKube, receiver: Receiver, clock: Clock) -> Replica:
    client = cast(KubeClient, fake)
    made = Replica(
        client,
        Actor(client, "test"),
        ControllerMetrics(),
        clock=clock,
        key=b"a test key of thirty-two bytes or more",
        send=receiver,
    )
    made.wakes = {}
    return made


async def run_until_quiet(controller: Replica, clock: Clock, seconds: float = 0.0) -> None:
    """Reconcile the pod, following its plan's wake-ups for ``seconds`` of its clock."""
    controller.observe(finished_pod())
    end = clock.now + seconds
    while True:
        controller.wakes.pop("u1", None)
        await controller.reconcile("u1")
        due = controller.wakes.get("u1")
        if due is None or due > end:
            return
        clock.now = max(due, clock.now)


def mark(fake: FakeKube) -> dict[str, Any] | None:
    text = (
        fake.jobs[("ns", "job-1")]["metadata"]
        .get("annotations", {})
        .get(names.NOTIFICATION_ANNOTATION)
    )
    return None if text is None else cast(dict[str, Any], json.loads(text))


def event_reasons(fake: FakeKube) -> list[str]:
    return sorted(e["reason"] for e in fake.events.values() if "Notification" in e["reason"])


async def test_one_run_is_one_post_with_its_verdict_and_the_job_says_it_was_sent() -> None:
    fake, receiver, clock = fake_api(), Receiver(), Clock()
    await run_until_quiet(replica(fake, receiver, clock), clock)
    assert len(receiver.posts) == 1
    url, body, key = receiver.posts[0]
    assert (url, key) == (URL, "u1")
    assert (body["uid"], body["job"], body["verdict"], body["namespace"]) == (
        "u1",
        "job-1",
        "passed",
        "ns",
    )
    assert (mark(fake) or {}).get("state") == "sent"
    assert event_reasons(fake) == ["NotificationSent", "NotificationSent"]  # pod and Job
    # Another leader, later, finds the mark: nothing is posted again.
    await run_until_quiet(replica(fake, receiver, clock), clock)
    assert len(receiver.posts) == 1


async def test_a_failover_during_an_outage_still_gives_exactly_one_accepted_post() -> None:
    fake, receiver, clock = fake_api(), Receiver(503, 503), Clock()
    first = replica(fake, receiver, clock)
    await run_until_quiet(first, clock)  # one post, answered 503; the next is due in 1 s
    assert (mark(fake) or {}).get("state") == "claimed"
    # The retention waits for the notification: the Job keeps its mark until it is sent.
    assert names.RETENTION_ANNOTATION not in fake.jobs[("ns", "job-1")]["metadata"]["annotations"]
    first.forget("u1")  # the leader dies; a new one knows only what the API says
    second = replica(fake, receiver, clock)
    await run_until_quiet(second, clock, seconds=60)
    assert [status_key for _, _, status_key in receiver.posts] == ["u1", "u1", "u1"]
    assert list(receiver.accepted) == ["u1"]
    assert (mark(fake) or {}).get("state") == "sent"


async def test_a_receiver_that_refuses_is_not_posted_to_again_and_the_job_says_so() -> None:
    fake, receiver, clock = fake_api(), Receiver(404), Clock()
    await run_until_quiet(replica(fake, receiver, clock), clock, seconds=600)
    assert len(receiver.posts) == 1
    assert (mark(fake) or {}).get("state") == "gave-up"
    failed = [e for e in fake.events.values() if e["reason"] == "NotificationFailed"]
    assert failed
    assert "HTTP 404" in failed[0]["message"]


async def test_posts_back_off_and_end_after_a_bounded_number() -> None:
    fake, receiver, clock = fake_api(), Receiver(*[503] * 50), Clock()
    start = clock.now
    await run_until_quiet(replica(fake, receiver, clock), clock, seconds=3600)
    assert len(receiver.posts) == 11
    assert clock.now - start == pytest.approx(303, abs=1)  # 1 + 2 + ... + 32 + 4 x 60
    assert (mark(fake) or {}).get("state") == "gave-up"


async def test_a_missing_secret_is_said_once_and_nothing_is_posted() -> None:
    fake, receiver, clock = fake_api(secrets=[]), Receiver(), Clock()
    await run_until_quiet(replica(fake, receiver, clock), clock, seconds=600)
    assert receiver.posts == []
    assert (mark(fake) or {}).get("state") == "gave-up"
    (failed, *_) = [e for e in fake.events.values() if e["reason"] == "NotificationFailed"]
    assert (
        f"Secret ns/{names.NOTIFY_SECRET} (from the namespace annotation) not found"
        in (failed["message"])
    )


async def test_without_a_secret_named_nothing_is_read_posted_or_marked() -> None:
    fake, receiver, clock = fake_api(namespace_annotations={}), Receiver(), Clock()
    await run_until_quiet(replica(fake, receiver, clock), clock)
    assert receiver.posts == []
    assert mark(fake) is None
    assert not [r for r in fake.requests if "/secrets/" in r]
    # The Job's retention is settled as without notifications.
    assert (
        fake.jobs[("ns", "job-1")]["metadata"]["annotations"].get(names.RETENTION_ANNOTATION)
        is None
    )


async def test_the_clusters_secret_is_named_in_the_installations_config_map() -> None:
    config = "notifications: {secret: team-hook}\n"
    hook = secret("team-hook", "locust-finisher", format="slack")
    fake, receiver, clock = fake_api({}, [hook], config), Receiver(), Clock()
    await run_until_quiet(replica(fake, receiver, clock), clock)
    ((_, body, _),) = receiver.posts
    assert set(body) == {"text", "blocks"}
    assert body["text"].startswith("Load test job-1 passed")


async def test_the_url_is_in_no_log_event_or_mark(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake, receiver, clock = fake_api(), Receiver(503, 400), Clock()
    await run_until_quiet(replica(fake, receiver, clock), clock, seconds=600)
    assert len(receiver.posts) == 2
    said = caplog.text + json.dumps(list(fake.events.values())) + json.dumps(mark(fake))
    assert "a-secret-path" not in said
    assert "hooks.example.test" not in said


async def start(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def test_a_post_sends_the_key_follows_no_redirect_and_reads_a_bounded_answer() -> None:
    seen: list[dict[str, str]] = []

    async def hook(request: web.Request) -> web.StreamResponse:
        seen.append(
            {"key": request.headers[names.IDEMPOTENCY_HEADER], "body": await request.text()}
        )
        if request.path == "/moved":
            raise web.HTTPFound("/elsewhere")
        answer = web.StreamResponse(status=200)
        await answer.prepare(request)
        for _ in range(64):  # 4 MiB, if anyone read it all
            await answer.write(b"x" * 65536)
        return answer

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_post("/moved", hook)
    app.router.add_post("/elsewhere", hook)
    app.router.add_post("/slow", slow)
    runner, base = await start(app)
    try:
        assert await post(f"{base}/hook", b'{"a":1}', "uid-1") == (200, "OK")
        assert seen == [{"key": "uid-1", "body": '{"a":1}'}]
        status, _ = await post(f"{base}/moved", b"{}", "uid-1")
        assert status == 302
        assert len(seen) == 2  # /elsewhere never asked
        assert await post(f"{base}/slow", b"{}", "uid-1", timeout_seconds=0.3) == (
            0,
            "no answer within 0.3s",
        )
        assert await post("http://127.0.0.1:1/", b"{}", "uid-1") == (0, "ClientConnectorError")
    finally:
        await runner.cleanup()
    assert ANSWER_BYTES < 4 * 1024 * 1024
