"""The controller loop against a small fake API (fast; the real API server is in tests/cluster)."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.controller.actions import Actor
from app.controller.controller import Controller
from app.controller.metrics import ControllerMetrics
from app.core import names
from app.kube.client import GoneError, KubeError, decode_watch_event


def finished_pod(uid: str = "u1", annotations: dict[str, str] | None = None) -> dict[str, Any]:
    status = {
        "strategy": "controller",
        "ttl": "1s",
        "waitForScrape": "auto",
        "maxWait": "5m",
        "masterContainer": "m",
        "exporterContainer": "e",
        "exporterSidecar": False,
        "exporterPort": 9,
    }
    return {
        "metadata": {
            "name": f"pod-{uid}",
            "namespace": "ns",
            "uid": uid,
            "resourceVersion": "5",
            "labels": {names.MANAGED_LABEL: "true"},
            "annotations": {names.STATUS_ANNOTATION: json.dumps(status), **(annotations or {})},
            "ownerReferences": [
                {"kind": "Job", "name": "job-1", "uid": "job-uid", "controller": True}
            ],
        },
        "spec": {"containers": [{"name": "m"}, {"name": "e"}]},
        "status": {
            "phase": "Succeeded",
            "podIP": "127.0.0.1",
            "containerStatuses": [
                {
                    "name": "m",
                    "state": {"terminated": {"exitCode": 0, "finishedAt": "2026-11-26T10:00:00Z"}},
                },
                {
                    "name": "e",
                    "state": {"terminated": {"exitCode": 0, "finishedAt": "2026-11-26T10:00:03Z"}},
                },
            ],
        },
    }


class FakeKube:
    """Records writes; Events with a name that exists answer 409, as the API server does."""

    def __init__(self, pods: list[dict[str, Any]]) -> None:
        self.pods = pods
        self.events: dict[str, dict[str, Any]] = {}
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.watch_calls = 0

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        name = body["metadata"]["name"]
        if name in self.events:
            raise KubeError(409, "already exists")
        self.events[name] = body
        return body

    async def merge_patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any]:
        self.patches.append((path, patch))
        return {}

    async def list_pages(self, path: str, **query: Any) -> AsyncIterator[dict[str, Any]]:
        yield {"items": self.pods, "metadata": {"resourceVersion": "10"}}

    async def watch(self, path: str, version: str, **query: Any) -> AsyncIterator[dict[str, Any]]:
        self.watch_calls += 1
        if self.watch_calls == 1:
            # As the client decodes the line the API server sends (it raises GoneError).
            yield decode_watch_event(
                b'{"type": "ERROR", "object": {"code": 410, "message": "too old resource version"}}'
            )
        await asyncio.sleep(3600)
        yield {}


def controller_on(fake: FakeKube) -> Controller:
    return Controller(fake, Actor(fake, "test"), ControllerMetrics(), clock=lambda: 2e9)  # type: ignore[arg-type]


async def test_a_verdict_is_reported_once_even_by_a_second_controller_with_a_stale_view() -> None:
    fake = FakeKube([])
    first = controller_on(fake)
    first.observe(finished_pod())
    await first.reconcile("u1")
    # A new leader sees the pod before our annotations reached its cache.
    second = controller_on(fake)
    second.observe(finished_pod())
    await second.reconcile("u1")

    reasons = sorted((e["involvedObject"]["kind"], e["reason"]) for e in fake.events.values())
    assert reasons == [
        ("Job", "ExporterStopped"),
        ("Job", "LoadTestPassed"),
        ("Pod", "ExporterStopped"),
        ("Pod", "LoadTestPassed"),
    ]
    written = {
        k: v for _, patch in fake.patches for k, v in patch["metadata"]["annotations"].items()
    }
    assert written[names.RESULT_ANNOTATION] == "passed"
    assert any("/jobs/job-1" in path for path, _ in fake.patches), "copied to the Job"


async def test_a_reported_pod_is_left_alone() -> None:
    done = finished_pod(
        annotations={
            names.RESULT_ANNOTATION: "passed",
            names.SUMMARY_ANNOTATION: '{"version":1}',
            names.EXPORTER_STOPPED_ANNOTATION: "itself",
        }
    )
    fake = FakeKube([])
    controller = controller_on(fake)
    controller.observe(done)
    await controller.reconcile("u1")
    assert (fake.events, fake.patches) == ({}, [])


async def test_a_410_from_the_watch_means_a_relist_that_rebuilds_every_pod() -> None:
    fake = FakeKube([finished_pod("a"), finished_pod("b")])
    controller = controller_on(fake)
    watching = asyncio.ensure_future(controller.watch())
    for _ in range(100):
        if fake.watch_calls >= 2:
            break
        await asyncio.sleep(0.01)
    watching.cancel()
    with pytest.raises(asyncio.CancelledError):
        await watching
    relists = controller.metrics.registry.get_sample_value(
        "locust_finisher_controller_relists_total", {"reason": "gone"}
    )
    assert relists == 1
    assert set(controller.facts) == {"a", "b"}


def test_a_watch_error_event_is_raised_as_the_error_it_carries() -> None:
    with pytest.raises(GoneError):
        decode_watch_event(b'{"type": "ERROR", "object": {"code": 410, "message": "too old"}}')
    with pytest.raises(KubeError) as caught:
        decode_watch_event(b'{"type": "ERROR", "object": {"code": 500, "message": "boom"}}')
    assert caught.value.status == 500
    event = decode_watch_event(b'{"type": "ADDED", "object": {"metadata": {"name": "p"}}}')
    assert event["object"]["metadata"]["name"] == "p"
