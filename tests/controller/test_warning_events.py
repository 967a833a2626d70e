"""The webhook's warnings, said by the controller in Events on the pod and its Job, once."""

import json
from typing import Any

from app.core import names
from app.core.setting_warnings import SettingWarning, WarningReason
from testkit.admission import admit
from tests.controller.test_controller_loop import controller_on, fake_kube, running_pod

TYPO = SettingWarning(
    WarningReason.SETTING_IGNORED,
    names.MAX_WAIT_ANNOTATION,
    "-5m",
    "is not a duration like 45s or 2m",
    "using the default 5m",
)


def warned_pod(*annotations: tuple[str, str]) -> dict[str, Any]:
    """A running pod whose (signed) status carries the typo's warning."""
    pod = running_pod()
    metadata = pod["metadata"]
    status = json.loads(metadata["annotations"][names.STATUS_ANNOTATION])
    metadata["annotations"][names.STATUS_ANNOTATION] = json.dumps(
        {**status, "warnings": [TYPO.encode()]}
    )
    pod = admit(pod)
    pod["metadata"]["annotations"].update(dict(annotations))
    return pod


async def test_a_warning_is_an_event_on_the_pod_and_its_job_while_the_test_runs() -> None:
    fake = fake_kube([])
    controller = controller_on(fake)
    controller.observe(warned_pod())
    await controller.reconcile("u1")

    assert sorted(fake.event_targets()) == [
        ("Job", "job-1", "SettingIgnored"),
        ("Pod", "pod-u1", "SettingIgnored"),
    ]
    for event in fake.events.values():
        assert event["type"] == "Warning"
        assert event["message"] == (
            "locust-finisher.io/max-wait: '-5m' is not a duration like 45s or 2m; "
            "using the default 5m"
        )
    # The mark is the pod's own: nothing is written to the Job for it.
    assert fake.written("pods") == {names.WARNED_ANNOTATION: "SettingIgnored"}
    assert fake.written("jobs") == {}


async def test_the_warnings_are_said_once_also_by_a_new_leader() -> None:
    fake = fake_kube([])
    first = controller_on(fake)
    first.observe(warned_pod())
    await first.reconcile("u1")
    await first.reconcile("u1")
    events = dict(fake.events)
    assert len(events) == 2, "on the pod and on its Job"
    # A new leader, before the mark reached its cache: the Events' names make it the same.
    second = controller_on(fake)
    second.observe(warned_pod())
    await second.reconcile("u1")
    assert fake.events == events
    # Once the mark is seen, nothing is done at all.
    patches = len(fake.patches)
    third = controller_on(fake)
    third.observe(warned_pod((names.WARNED_ANNOTATION, "SettingIgnored")))
    await third.reconcile("u1")
    assert (fake.events, len(fake.patches)) == (events, patches)


async def test_warnings_a_status_does_not_sign_are_not_said() -> None:
    pod = running_pod()
    status = json.loads(pod["metadata"]["annotations"][names.STATUS_ANNOTATION])
    # Added after admission: the record's digest no longer fits, so the pod is not ours.
    pod["metadata"]["annotations"][names.STATUS_ANNOTATION] = json.dumps(
        {**status, "warnings": [TYPO.encode()]}
    )
    fake = fake_kube([])
    controller = controller_on(fake)
    controller.observe(pod)
    await controller.reconcile("u1")
    assert (fake.events, fake.patches) == ({}, [])
