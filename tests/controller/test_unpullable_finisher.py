"""A finisher whose image cannot be pulled: the controller opens the master's Service once."""

from collections.abc import Mapping
from typing import Any

from app.core import names
from testkit.fake_kube import FakeKube
from tests.controller.test_controller_loop import controller_on, fake_kube, running_pod

NOW = 2e9  # controller_on's clock
IMAGE = "ghcr.io/locust-finisher/finisher:does-not-exist"
POD_NAME_LABEL = {names.OPERATOR_POD_NAME_LABEL: "t-master"}


def stuck_pod(uid: str = "u1") -> dict[str, Any]:
    """locust-k8s-operator's master pod: the master and the exporter run, the finisher waits."""
    pod = running_pod(uid)
    pod["metadata"]["labels"].update(POD_NAME_LABEL)
    pod["spec"]["containers"].insert(0, {"name": names.FINISHER_CONTAINER, "image": IMAGE})
    pod["status"]["phase"] = "Pending"
    pod["status"]["startTime"] = "2033-05-18T03:32:50Z"  # NOW - 30 s: past the grace
    pod["status"]["containerStatuses"].insert(
        0,
        {
            "name": names.FINISHER_CONTAINER,
            "ready": False,
            "state": {
                "waiting": {
                    "reason": "ImagePullBackOff",
                    "message": f'Back-off pulling image "{IMAGE}"',
                }
            },
        },
    )
    return pod


def service(
    name: str, selector: dict[str, str] | None, owner: str | None = "job-uid", **spec: Any
) -> dict[str, Any]:
    """A Service of the test (its controller: the pod's Job), of the ``owner`` given, or none."""
    body: dict[str, Any] = {"metadata": {"name": name, "namespace": "ns"}, "spec": dict(spec)}
    if owner is not None:
        body["metadata"]["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "X", "name": "x", "uid": owner, "controller": True}
        ]
    if selector is not None:
        body["spec"]["selector"] = selector
    return body


def cluster() -> FakeKube:
    fake = fake_kube([])
    for svc in (
        service("t-master", POD_NAME_LABEL),  # the operator's, as devcluster/operator_shapes.py
        service("t-worker", {names.OPERATOR_POD_NAME_LABEL: "t-worker"}),
        service("by-hand", None),  # endpoints kept by hand: selects no pod
        service("empty", {}),
        service("already", POD_NAME_LABEL, publishNotReadyAddresses=True),
        # A3: another test's Service whose selector a forged pod's labels match.
        service("another-test", POD_NAME_LABEL, owner="another-test-uid"),
    ):
        fake.services[svc["metadata"]["name"]] = svc
    return fake


def service_patches(fake: FakeKube) -> list[str]:
    return [path.rsplit("/", 1)[1] for path, _ in fake.patches if "/services/" in path]


async def test_the_services_that_select_the_pod_publish_not_ready_addresses_once() -> None:
    fake = cluster()
    first = controller_on(fake)
    first.observe(stuck_pod())
    await first.reconcile("u1")

    assert service_patches(fake) == ["t-master"]
    master_service = fake.services["t-master"]
    assert master_service["spec"]["publishNotReadyAddresses"] is True
    assert (
        "cannot be pulled" in master_service["metadata"]["annotations"][names.FALLBACK_ANNOTATION]
    )
    for untouched in ("t-worker", "by-hand", "empty", "another-test"):
        assert "publishNotReadyAddresses" not in fake.services[untouched]["spec"], untouched

    assert fake.event_targets() == [
        ("Job", "job-1", "FinisherImageUnpullable"),
        ("Pod", "pod-u1", "FinisherImageUnpullable"),
    ]
    [message] = {e["message"] for e in fake.events.values()}
    for needle in (IMAGE, "ImagePullBackOff", "Service t-master now publishes not-ready"):
        assert needle in message, needle
    assert next(iter(fake.events.values()))["type"] == "Warning"
    assert (
        fake.written("pods")[names.FALLBACK_ANNOTATION]
        == "publishNotReadyAddresses set on Service t-master"
    )
    assert names.FALLBACK_ANNOTATION in fake.written("jobs")

    # Its own next look, and a new leader that sees the pod before our annotation: no more.
    await first.reconcile("u1")
    second = controller_on(fake)
    second.observe(stuck_pod())
    await second.reconcile("u1")
    assert service_patches(fake) == ["t-master"]
    assert len(fake.events) == 2
    assert (
        fake.written("pods")[names.FALLBACK_ANNOTATION]
        == "publishNotReadyAddresses set on Service t-master"
    )


async def test_within_the_grace_nothing_changes_and_the_pod_is_looked_at_again() -> None:
    fake = cluster()
    controller = controller_on(fake)
    pod = stuck_pod()
    pod["status"]["startTime"] = "2033-05-18T03:33:15Z"  # NOW - 5 s
    controller.observe(pod)
    await controller.reconcile("u1")
    assert (fake.patches, fake.events) == ([], {})
    assert "u1" in controller.timers, "back when the grace ends"


async def test_a_service_deleted_meanwhile_does_not_stop_the_rest() -> None:
    fake = cluster()
    fake.services["gone"] = service("gone", POD_NAME_LABEL)

    async def deleted_first(path: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        if path.endswith("/services/gone"):
            fake.services.pop("gone")
        return await FakeKube.merge_patch(fake, path, patch)

    fake.merge_patch = deleted_first  # type: ignore[method-assign]
    controller = controller_on(fake)
    controller.observe(stuck_pod())
    await controller.reconcile("u1")
    assert fake.services["t-master"]["spec"]["publishNotReadyAddresses"] is True
    assert "Service t-master now" in next(iter(fake.events.values()))["message"]


async def test_the_services_are_set_back_once_the_master_has_ended() -> None:
    fake = cluster()
    controller = controller_on(fake)
    controller.observe(stuck_pod())
    await controller.reconcile("u1")
    assert fake.services["t-master"]["spec"]["publishNotReadyAddresses"] is True
    assert fake.services["t-master"]["metadata"]["labels"][names.PUBLISHED_FOR_LABEL] == "u1"

    ended = stuck_pod()
    ended["metadata"]["annotations"][names.FALLBACK_ANNOTATION] = "set"
    ended["status"]["containerStatuses"][1]["state"] = {
        "terminated": {"exitCode": 0, "finishedAt": "2033-05-18T03:33:10Z"}
    }
    controller.observe(ended)
    await controller.reconcile("u1")
    master_service = fake.services["t-master"]
    assert master_service["spec"]["publishNotReadyAddresses"] is False
    assert names.FALLBACK_ANNOTATION not in master_service["metadata"].get("annotations", {})
    assert fake.services["already"]["spec"]["publishNotReadyAddresses"] is True, "not ours"
    assert (
        fake.written("pods")[names.FALLBACK_ENDED_ANNOTATION]
        == "publishNotReadyAddresses set back on t-master"
    )


async def test_a_service_without_an_owner_is_the_tests_only_when_its_job_has_none() -> None:
    """Made by hand (or by a tool that sets no owners), a Job and its Services own nothing."""
    for job_owner, opened in ((None, True), ("locust-test-uid", False)):
        fake = cluster()
        fake.services["by-hand-master"] = service("by-hand-master", POD_NAME_LABEL, owner=None)
        if job_owner is not None:
            fake.jobs["job-1"]["metadata"]["ownerReferences"] = [
                {"apiVersion": "v1", "kind": "LocustTest", "name": "t", "uid": job_owner,
                 "controller": True}
            ]  # fmt: skip
        controller = controller_on(fake)
        controller.observe(stuck_pod())
        await controller.reconcile("u1")
        published = fake.services["by-hand-master"]["spec"].get("publishNotReadyAddresses")
        assert (published is True) is opened, job_owner
