"""The controller holds a test Job's TTL while it runs and keeps the Job as long as asked.

Against a fake API whose Jobs take merge patches as the API server does: annotations and
spec fields merged (null removes), and a patch naming an older resourceVersion refused (409).
"""

import copy
import json
from typing import Any, cast

from app.controller.actions import Actor
from app.controller.controller import Controller
from app.controller.metrics import ControllerMetrics
from app.core import names
from app.kube.client import KubeClient
from testkit.admission import TEST_KEY, admit
from testkit.fake_kube import FakeKube
from tests.controller.test_controller_loop import JOB, finished_pod, running_pod


def a_job(ttl: int | None = 0) -> dict[str, Any]:
    job = copy.deepcopy(JOB)
    job["metadata"].update(resourceVersion="1", annotations={"owner": "ops"})
    if ttl is not None:
        job["spec"]["ttlSecondsAfterFinished"] = ttl
    return job


def fake_jobs(
    job: dict[str, Any] | None,
    namespace_annotations: dict[str, str] | None = None,
    meddle: int = 0,
) -> FakeKube:
    """The Job (if any), and namespace "ns" with annotations; ``meddle``: how many times someone
    else changes the Job between our read and our patch."""
    namespace = {"metadata": {"name": "ns", "annotations": namespace_annotations or {}}}
    fake = FakeKube(jobs=[] if job is None else [job], namespaces=[namespace])
    fake.conflicts = meddle
    return fake


def job_patches(fake: FakeKube) -> list[dict[str, Any]]:
    return [patch for path, patch in fake.patches if "/jobs/" in path and "spec" in patch]


def controller_on(fake: FakeKube) -> Controller:
    client = cast(KubeClient, fake)
    return Controller(
        client, Actor(client, "test"), ControllerMetrics(), clock=lambda: 2e9, key=TEST_KEY
    )


def pod(
    running: bool = False,
    exit_code: int = 0,
    annotations: dict[str, str] | None = None,
    recorded: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The test's master pod; ``recorded`` adds settings the webhook recorded (cluster defaults)."""
    made = running_pod() if running else finished_pod()
    record = json.loads(made["metadata"]["annotations"][names.STATUS_ANNOTATION])
    made["metadata"]["annotations"][names.STATUS_ANNOTATION] = json.dumps(
        {**record, **(recorded or {})}
    )
    made["metadata"]["annotations"].update(annotations or {})
    if not running:
        made["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] = exit_code
    return admit(made)


async def run_test(controller: Controller, finished: dict[str, Any]) -> None:
    """The controller sees the pod start, then end."""
    controller.observe(pod(running=True))
    await controller.reconcile("u1")
    controller.observe(finished)
    await controller.reconcile("u1")


async def test_a_ttl_0_job_is_held_while_its_test_runs() -> None:
    fake = fake_jobs(a_job(ttl=0))
    controller = controller_on(fake)
    controller.observe(pod(running=True))
    await controller.reconcile("u1")
    job = fake.jobs["job-1"]
    assert "ttlSecondsAfterFinished" not in job["spec"], "the Job would go before the verdict"
    assert job["metadata"]["annotations"][names.HELD_TTL_ANNOTATION] == "0"
    assert job["metadata"]["annotations"]["owner"] == "ops"
    # Held once: later looks at the running pod do not read the Job again.
    reads = len(fake.paths("GET"))
    await controller.reconcile("u1")
    assert len(fake.paths("GET")) == reads


async def test_a_passed_tests_job_goes_at_once_with_the_namespaces_keep_passed_0s() -> None:
    fake = fake_jobs(a_job(ttl=0), {names.KEEP_PASSED_ANNOTATION: "0s"})
    await run_test(controller_on(fake), pod())
    job = fake.jobs["job-1"]
    annotations = job["metadata"]["annotations"]
    assert annotations[names.RESULT_ANNOTATION] == "passed", "the verdict is recorded first"
    assert job["spec"]["ttlSecondsAfterFinished"] == 0
    assert names.HELD_TTL_ANNOTATION not in annotations
    assert annotations[names.RETENTION_ANNOTATION] == "keep-passed 0s from the namespace"


async def test_a_failed_tests_job_is_kept_an_hour_with_the_namespaces_keep_failed() -> None:
    fake = fake_jobs(
        a_job(ttl=0), {names.KEEP_PASSED_ANNOTATION: "0s", names.KEEP_FAILED_ANNOTATION: "1h"}
    )
    await run_test(controller_on(fake), pod(exit_code=1))
    job = fake.jobs["job-1"]
    assert job["metadata"]["annotations"][names.RESULT_ANNOTATION] == "failed"
    assert job["metadata"]["labels"][names.RESULT_LABEL] == "failed"
    assert job["spec"]["ttlSecondsAfterFinished"] == 3600


async def test_the_pods_annotation_beats_the_namespace_and_the_cluster_default() -> None:
    fake = fake_jobs(a_job(ttl=None), {names.KEEP_FAILED_ANNOTATION: "1h"})
    finished = pod(
        exit_code=1,
        annotations={names.KEEP_FAILED_ANNOTATION: "forever"},
        recorded={"retention.failed": "5m"},
    )
    await run_test(controller_on(fake), finished)
    annotations = fake.jobs["job-1"]["metadata"]["annotations"]
    assert "ttlSecondsAfterFinished" not in fake.jobs["job-1"]["spec"]
    assert annotations[names.RETENTION_ANNOTATION] == "keep-failed forever from the pod"


async def test_a_bad_namespace_value_is_an_event_and_the_cluster_default_applies() -> None:
    fake = fake_jobs(a_job(ttl=None), {names.KEEP_PASSED_ANNOTATION: "soon"})
    await run_test(controller_on(fake), pod(recorded={"retention.passed": "10m"}))
    assert fake.jobs["job-1"]["spec"]["ttlSecondsAfterFinished"] == 600
    ignored = [e for e in fake.events.values() if e["reason"] == "RetentionIgnored"]
    assert {e["involvedObject"]["kind"] for e in ignored} == {"Pod", "Job"}
    assert all(e["type"] == "Warning" for e in ignored)
    assert "'soon'" in ignored[0]["message"]
    assert "keep-passed 10m from the cluster default" in ignored[0]["message"]


async def test_with_no_retention_set_the_held_ttl_is_put_back() -> None:
    fake = fake_jobs(a_job(ttl=30))
    await run_test(controller_on(fake), pod())
    job = fake.jobs["job-1"]
    assert job["spec"]["ttlSecondsAfterFinished"] == 30
    assert names.HELD_TTL_ANNOTATION not in job["metadata"]["annotations"]


async def test_with_nothing_set_and_nothing_held_the_job_is_not_touched() -> None:
    fake = fake_jobs(a_job(ttl=None))
    await run_test(controller_on(fake), pod())
    assert job_patches(fake) == []
    assert names.RETENTION_ANNOTATION not in fake.jobs["job-1"]["metadata"]["annotations"]


async def test_a_new_leader_decides_from_the_jobs_annotations_alone() -> None:
    fake = fake_jobs(a_job(ttl=0), {names.KEEP_FAILED_ANNOTATION: "1h"})
    first = controller_on(fake)
    first.observe(pod(running=True))
    await first.reconcile("u1")  # held; then the leader is gone
    second = controller_on(fake)
    second.observe(pod(running=True))
    await second.reconcile("u1")
    assert fake.jobs["job-1"]["metadata"]["annotations"][names.HELD_TTL_ANNOTATION] == "0"
    second.observe(pod(exit_code=1))
    await second.reconcile("u1")
    assert fake.jobs["job-1"]["spec"]["ttlSecondsAfterFinished"] == 3600
    # A third, after a user kept the Job longer by hand: the settled Job is not changed again.
    fake.jobs["job-1"]["spec"]["ttlSecondsAfterFinished"] = 86400
    patches = len(job_patches(fake))
    third = controller_on(fake)
    third.observe(pod(exit_code=1))
    await third.reconcile("u1")
    assert fake.jobs["job-1"]["spec"]["ttlSecondsAfterFinished"] == 86400
    assert len(job_patches(fake)) == patches


async def test_a_job_changed_between_read_and_patch_is_read_again() -> None:
    fake = fake_jobs(a_job(ttl=0), meddle=2)
    controller = controller_on(fake)
    controller.observe(pod(running=True))
    await controller.reconcile("u1")
    assert fake.jobs["job-1"]["metadata"]["annotations"][names.HELD_TTL_ANNOTATION] == "0"
    assert len([p for p in fake.paths("GET") if "/jobs/" in p]) == 3


async def test_a_ttl_a_user_set_on_the_held_job_stands() -> None:
    fake = fake_jobs(a_job(ttl=0), {names.KEEP_PASSED_ANNOTATION: "0s"})
    controller = controller_on(fake)
    controller.observe(pod(running=True))
    await controller.reconcile("u1")
    fake.jobs["job-1"]["spec"]["ttlSecondsAfterFinished"] = 7200  # kubectl patch, meanwhile
    controller.observe(pod())
    await controller.reconcile("u1")
    job = fake.jobs["job-1"]
    assert job["spec"]["ttlSecondsAfterFinished"] == 7200
    assert names.HELD_TTL_ANNOTATION not in job["metadata"]["annotations"]


async def test_a_job_gone_already_is_nothing_to_do() -> None:
    fake = fake_jobs(None, {names.KEEP_PASSED_ANNOTATION: "0s"})
    controller = controller_on(fake)
    await run_test(controller, pod())
    assert job_patches(fake) == []
    assert any(e["reason"] == "LoadTestPassed" for e in fake.events.values())


async def test_a_pod_deleted_at_once_still_gets_its_jobs_retention() -> None:
    fake = fake_jobs(a_job(ttl=0), {names.KEEP_PASSED_ANNOTATION: "1m"})
    controller = controller_on(fake)
    controller.observe(pod(running=True))
    await controller.reconcile("u1")
    controller.observe_deleted(pod())
    await controller.reconcile("u1")
    assert fake.jobs["job-1"]["spec"]["ttlSecondsAfterFinished"] == 60
    assert "u1" not in controller.facts
