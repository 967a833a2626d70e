"""The controller loop against a small fake API (fast; the real API server is in tests/cluster)."""

import asyncio
import json
from typing import Any, cast
from unittest import mock

import aiohttp
import pytest

from app.controller.actions import Actor
from app.controller.controller import Controller
from app.controller.metrics import ControllerMetrics
from app.core import names
from app.core.admission_record import RECORD_ANNOTATION
from app.kube.client import GoneError, KubeClient, KubeError, UnreachableError, decode_watch_event
from testkit.admission import JOB_CONTROLLER, TEST_KEY, admit
from testkit.fake_kube import FakeKube, gone


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
    return admit(
        {
            "metadata": {
                "name": f"pod-{uid}",
                "namespace": "ns",
                "uid": uid,
                "resourceVersion": "5",
                "labels": {
                    names.MANAGED_LABEL: "true",
                    "batch.kubernetes.io/controller-uid": "job-uid",
                },
                "annotations": {names.STATUS_ANNOTATION: json.dumps(status), **(annotations or {})},
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": "job-1",
                        "uid": "job-uid",
                        "controller": True,
                    }
                ],
            },
            "spec": {"containers": [{"name": "m"}, {"name": "e"}]},
            "status": {
                "phase": "Succeeded",
                "podIP": "127.0.0.1",
                "containerStatuses": [
                    {
                        "name": "m",
                        "state": {
                            "terminated": {"exitCode": 0, "finishedAt": "2026-11-26T10:00:00Z"}
                        },
                    },
                    {
                        "name": "e",
                        "state": {
                            "terminated": {"exitCode": 0, "finishedAt": "2026-11-26T10:00:03Z"}
                        },
                    },
                ],
            },
        }
    )


JOB: dict[str, Any] = {
    "metadata": {"name": "job-1", "namespace": "ns", "uid": "job-uid"},
    "spec": {"selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "job-uid"}}},
}


def fake_kube(
    pods: list[dict[str, Any]],
    jobs: list[dict[str, Any]] | None = None,
    scripts: list[list[Any]] | None = None,
) -> FakeKube:
    """The API as these tests find it: JOB there, listed at resourceVersion 10, and a first
    watch that ends in 410 Gone (or each watch playing the next of ``scripts``)."""
    return FakeKube(
        pods,
        jobs=[JOB] if jobs is None else jobs,
        watch_scripts=[[gone()]] if scripts is None else scripts,
        version=10,
    )


def controller_on(fake: FakeKube) -> Controller:
    client = cast(KubeClient, fake)
    return Controller(
        client, Actor(client, "test"), ControllerMetrics(), clock=lambda: 2e9, key=TEST_KEY
    )


async def test_a_verdict_is_reported_once_even_by_a_second_controller_with_a_stale_view() -> None:
    fake = fake_kube([])
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
            names.RESULT_OF_ANNOTATION: "u1",
            names.SUMMARY_ANNOTATION: '{"version":1}',
            names.EXPORTER_STOPPED_ANNOTATION: "itself",
            names.HISTORY_RECORDED_ANNOTATION: "u1",
        }
    )
    fake = fake_kube([])
    controller = controller_on(fake)
    controller.observe(done)
    await controller.reconcile("u1")
    assert (fake.events, fake.patches) == ({}, [])


async def test_a_410_from_the_watch_means_a_relist_that_rebuilds_every_pod() -> None:
    fake = fake_kube([finished_pod("a"), finished_pod("b")])
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


def running_pod(uid: str = "u1") -> dict[str, Any]:
    pod = finished_pod(uid)
    pod["status"] = {
        "phase": "Running",
        "podIP": "127.0.0.1",
        "containerStatuses": [
            {"name": "m", "state": {"running": {}}},
            {"name": "e", "state": {"running": {}}},
        ],
    }
    return admit(pod)


async def until(condition: Any, what: str) -> None:
    for _ in range(300):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


async def watching(controller: Controller, condition: Any, what: str) -> None:
    """Run the controller's watch and workers until ``condition``; the watch must still run."""
    task = asyncio.ensure_future(controller.run())
    try:
        await until(condition, what)
        assert not task.done(), task
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def event(kind: str, pod: dict[str, Any], version: str) -> dict[str, Any]:
    pod = json.loads(json.dumps(pod))
    pod["metadata"]["resourceVersion"] = version
    return {"type": kind, "object": pod}


@pytest.mark.parametrize(
    "cut",
    [
        UnreachableError("the API server dropped the connection: payload is not completed"),
        # Whatever the transport raises that the client did not turn into a KubeError.
        aiohttp.ClientPayloadError("Response payload is not completed"),
        ConnectionResetError("Connection reset by peer"),
    ],
    ids=["as-the-client-reports-it", "raw-payload-error", "raw-reset"],
)
async def test_a_cut_watch_stream_is_watched_again_from_the_last_version_seen(
    cut: BaseException,
) -> None:
    fake = fake_kube(
        [],
        scripts=[
            [event("ADDED", running_pod("a"), "11"), cut],
            [event("ADDED", running_pod("b"), "12")],
        ],
    )
    controller = controller_on(fake)
    await watching(controller, lambda: {"a", "b"} <= set(controller.facts), "both pods seen")
    # Resumed where the cut stream stopped: no re-list, no event missed or replayed.
    assert fake.watch_versions == ["10", "11"]
    assert fake.lists == 1


async def test_a_watch_that_keeps_failing_backs_off_and_never_ends() -> None:
    failures = [[UnreachableError("connection refused")] for _ in range(3)]
    fake = fake_kube([], scripts=[*failures, [event("ADDED", running_pod("late"), "20")]])
    controller = controller_on(fake)
    with mock.patch("app.controller.watching.MIN_BACKOFF_SECONDS", 0.01):
        await watching(controller, lambda: "late" in controller.facts, "the pod after 3 failures")
    assert fake.watch_calls == 4


async def test_a_pod_deleted_as_soon_as_it_ended_is_reported_on_its_job() -> None:
    # ttlSecondsAfterFinished: 0: the master's end and the deletion come one after the other;
    # the DELETED event's copy is the only place the verdict is left.
    failed = finished_pod("gone")
    failed["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] = 1
    failed["status"]["phase"] = "Failed"
    fake = fake_kube([running_pod("gone")], scripts=[[event("DELETED", failed, "11")]])
    fake.deleted_pods.add("pod-gone")
    controller = controller_on(fake)
    await watching(controller, lambda: fake.written("jobs"), "the verdict on the Job")
    assert fake.written("jobs")[names.RESULT_ANNOTATION] == "failed"
    assert fake.written("jobs")[names.EXIT_CODE_ANNOTATION] == "1"
    assert ("Job", "job-1", "LoadTestFailed") in fake.event_targets()
    assert not [g for g in fake.paths("GET") if "/pods/" in g], "never a GET of the pod"
    await until(lambda: "gone" not in controller.facts, "forgotten once reported")


async def test_with_its_job_gone_too_the_event_is_on_the_pod_and_names_the_job() -> None:
    fake = fake_kube([], jobs=[])
    fake.deleted_pods.add("pod-u1")
    controller = controller_on(fake)
    controller.observe_deleted(finished_pod())
    await controller.reconcile("u1")
    [verdict] = [e for e in fake.events.values() if e["reason"] == "LoadTestPassed"]
    assert verdict["involvedObject"]["kind"] == "Pod"
    assert "(Job job-1)" in verdict["message"]
    assert "u1" not in controller.facts


async def test_a_pod_deleted_before_its_master_ended_leaves_nothing_to_do() -> None:
    fake = fake_kube([])
    controller = controller_on(fake)
    controller.observe(running_pod())
    controller.observe_deleted(running_pod())
    assert controller.facts == {}


def impostor(selected: bool = True, creator: str = JOB_CONTROLLER, **owner: Any) -> dict[str, Any]:
    """A pod that claims job-1, as admitted by our webhook for ``creator``."""
    pod = finished_pod("evil")
    pod["metadata"]["ownerReferences"][0].update(owner)
    if not selected:
        del pod["metadata"]["labels"]["batch.kubernetes.io/controller-uid"]
    return admit(pod, creator=creator)


@pytest.mark.parametrize(
    "pod",
    [
        impostor(uid="made-up"),
        # The Job's real uid, but the Job's selector does not select it.
        impostor(selected=False),
        # The Job's own uid and selector, but the webhook saw a user, not the Job controller.
        impostor(creator="system:serviceaccount:ns:attacker"),
    ],
    ids=["wrong-uid", "not-selected", "made-by-a-user"],
)
async def test_a_pod_that_merely_claims_a_job_writes_nothing_to_that_job(
    pod: dict[str, Any],
) -> None:
    fake = fake_kube([])
    controller = controller_on(fake)
    controller.observe(pod)
    await controller.reconcile("evil")
    assert fake.written("jobs") == {}
    assert all(kind == "Pod" for kind, _, _ in fake.event_targets())
    assert fake.written("pods")[names.RESULT_ANNOTATION] == "passed", "its own pod is fine"


@pytest.mark.parametrize(
    "forge",
    ["no-record", "other-key", "status-changed", "record-of-another-namespace"],
)
async def test_a_pod_that_only_looks_admitted_is_left_alone(forge: str) -> None:
    pod = finished_pod("evil")
    annotations = pod["metadata"]["annotations"]
    if forge == "no-record":
        del annotations[RECORD_ANNOTATION]
    elif forge == "other-key":
        pod = admit(pod, key=b"another installation's key, 32 bytes+")
    elif forge == "status-changed":
        annotations[names.STATUS_ANNOTATION] = annotations[names.STATUS_ANNOTATION].replace(
            '"exporterPort": 9', '"exporterPort": 10250'
        )
    else:
        pod["metadata"]["namespace"] = "other"
    fake = fake_kube([])
    controller = controller_on(fake)
    controller.observe(pod)
    await controller.reconcile("evil")
    assert controller.facts == {}
    assert fake.patches == []
    assert fake.event_targets() == []
    assert controller.metrics.pods_refused._value.get() == 1


async def test_a_job_replaced_by_one_of_the_same_name_is_not_written() -> None:
    fake = fake_kube([])
    controller = controller_on(fake)
    controller.observe(finished_pod())
    assert await controller.actor.trusted_job(controller.facts["u1"]) == "job-uid"
    # Deleted and created again under the same name after we checked it.
    fake.jobs["job-1"] = {**JOB, "metadata": {**JOB["metadata"], "uid": "new-uid"}}
    await controller.reconcile("u1")
    assert fake.written("jobs") == {}


def checked_pod(limit: str) -> dict[str, Any]:
    """A finished pod with a finisher whose summary shows 3% failures, and a fail-ratio check."""
    pod = finished_pod()
    status = json.loads(pod["metadata"]["annotations"][names.STATUS_ANNOTATION])
    status.update({"strategy": "finisher", "checks.failRatio": limit})
    pod["metadata"]["annotations"][names.STATUS_ANNOTATION] = json.dumps(status)
    pod["spec"]["containers"].insert(0, {"name": names.FINISHER_CONTAINER})
    summary = {"version": 1, "requests": 100, "failures": 3, "exporter": "quit"}
    pod["status"]["containerStatuses"].insert(
        0,
        {
            "name": names.FINISHER_CONTAINER,
            "state": {
                "terminated": {
                    "exitCode": 0,
                    "finishedAt": "2026-11-26T10:00:04Z",
                    "message": json.dumps(summary),
                }
            },
        },
    )
    return admit(pod)


def labels_written(fake: FakeKube, kind: str) -> dict[str, str]:
    return {
        key: value
        for path, patch in fake.patches
        if f"/{kind}/" in path
        for key, value in patch["metadata"].get("labels", {}).items()
    }


@pytest.mark.parametrize(("limit", "result"), [("0.01", "failed"), ("0.05", "passed")])
async def test_the_checks_verdict_is_a_label_annotation_and_event_on_pod_and_job(
    limit: str, result: str
) -> None:
    fake = fake_kube([])
    controller = controller_on(fake)
    controller.observe(checked_pod(limit))
    await controller.reconcile("u1")

    for kind in ("pods", "jobs"):
        assert labels_written(fake, kind) == {names.RESULT_LABEL: result}
        assert fake.written(kind)[names.RESULT_ANNOTATION] == result
        assert fake.written(kind)[names.EXIT_CODE_ANNOTATION] == "0"
        [check] = json.loads(fake.written(kind)[names.SUMMARY_ANNOTATION])["checks"]
        assert (check["name"], check["limit"], check["value"]) == ("fail-ratio", limit, "0.03")
    reason = "LoadTestPassed" if result == "passed" else "LoadTestFailed"
    assert ("Job", "job-1", reason) in fake.event_targets()
    assert ("Pod", "pod-u1", reason) in fake.event_targets()
    [verdict] = [
        e
        for e in fake.events.values()
        if e["reason"] == reason and "job-1" in e["metadata"]["name"]
    ]
    assert f"fail-ratio 0.03 (limit {limit}) {result}" in verdict["message"]
    # The verdict is ours alone: nothing but our labels and annotations was written.
    assert all(
        set(patch["metadata"]) <= {"uid", "annotations", "labels"} for _, patch in fake.patches
    )
    assert all(set(patch) == {"metadata"} for _, patch in fake.patches)


async def test_a_pod_deleted_at_once_gets_the_checks_verdict_on_its_job() -> None:
    fake = fake_kube([])
    fake.deleted_pods.add("pod-u1")
    controller = controller_on(fake)
    controller.observe_deleted(checked_pod("0.01"))
    await controller.reconcile("u1")
    assert labels_written(fake, "jobs") == {names.RESULT_LABEL: "failed"}
    assert fake.written("jobs")[names.RESULT_ANNOTATION] == "failed"
    assert labels_written(fake, "pods") == {}, "a deleted pod is not written"
