"""The controller copies a test's verdict onto the LocustTest that owns its Job, once.

Against a fake API holding the Job (named and owned as an operator makes it) and the
LocustTest: what a person or Argo CD then reads on the LocustTest.
"""

import copy
from typing import Any

from app.controller.controller import Controller
from app.core import names
from app.core.retention import TTL_0_KEPT_SECONDS
from testkit.admission import admit
from testkit.fake_kube import FakeKube
from tests.controller.test_retention_loop import a_job, controller_on, pod

TEST_UID = "test-uid"


def locusttest(uid: str = TEST_UID, **annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "locust.io/v2",
        "kind": "LocustTest",
        "metadata": {"name": "checkout", "namespace": "ns", "uid": uid, "annotations": annotations},
        "spec": {"workerReplicas": 1},
    }


def owned_job(owner_uid: str = TEST_UID, name: str = "checkout-master") -> dict[str, Any]:
    job = a_job(ttl=0)  # the official operator's: held, then settled
    job["metadata"]["name"] = name
    owner = {"apiVersion": "locust.io/v2", "kind": "LocustTest", "name": "checkout"}
    job["metadata"]["ownerReferences"] = [
        {**owner, "uid": owner_uid, "controller": True, "blockOwnerDeletion": True}
    ]
    return job


def master_pod(
    exit_code: int = 0, job: str = "checkout-master", running: bool = False
) -> dict[str, Any]:
    made = copy.deepcopy(pod(running=running, exit_code=exit_code))
    made["metadata"]["ownerReferences"][0]["name"] = job
    return admit(made)


def fake(job: dict[str, Any], test: dict[str, Any] | None) -> FakeKube:
    namespace = {"metadata": {"name": "ns", "annotations": {}}}
    kube = FakeKube(jobs=[job], namespaces=[namespace])
    if test is not None:
        kube.kind("locusttests").put(test)
    return kube


async def run_test(controller: Controller, finished: dict[str, Any]) -> None:
    """The controller sees the pod start, then end."""
    job = finished["metadata"]["ownerReferences"][0]["name"]
    controller.observe(master_pod(running=True, job=job))
    await controller.reconcile("u1")
    controller.observe(finished)
    await controller.reconcile("u1")


def pod_mark(kube: FakeKube) -> str:
    return kube.written("pods")[names.TEST_ANNOTATED_ANNOTATION]


def locusttest_patches(kube: FakeKube) -> list[dict[str, Any]]:
    return [patch for path, patch in kube.patches if "/locusttests/" in path]


async def test_a_failed_tests_locusttest_says_failed_and_why_and_nothing_else_changes() -> None:
    kube = fake(owned_job(), locusttest(note="kept"))
    controller = controller_on(kube)
    await run_test(controller, master_pod(exit_code=1))
    stored = kube.kind("locusttests")[("ns", "checkout")]
    annotations = stored["metadata"]["annotations"]
    assert annotations[names.RESULT_ANNOTATION] == "failed"
    assert annotations[names.RESULT_OF_ANNOTATION] == "u1"
    assert annotations[names.FINISHED_AT_ANNOTATION]
    job_annotations = kube.jobs[("ns", "checkout-master")]["metadata"]["annotations"]
    assert annotations[names.SUMMARY_ANNOTATION] == job_annotations[names.SUMMARY_ANNOTATION]
    assert annotations["note"] == "kept"
    assert stored["spec"] == {"workerReplicas": 1}, "metadata only"
    (patch,) = locusttest_patches(kube)
    assert patch["metadata"]["uid"] == TEST_UID, "conditional on the LocustTest's uid"
    assert set(patch) == {"metadata"}
    assert pod_mark(kube) == "LocustTest checkout annotated"
    # Once: more looks at the pod patch it no more.
    await controller.reconcile("u1")
    assert len(locusttest_patches(kube)) == 1


async def test_a_passed_run_clears_the_reason_an_earlier_failed_run_left() -> None:
    earlier = locusttest(
        **{
            names.RESULT_ANNOTATION: "failed",
            names.REASON_ANNOTATION: "locust-exit",
            names.FINISHED_AT_ANNOTATION: "2020-01-01T00:00:00Z",
        }
    )
    kube = fake(owned_job(), earlier)
    await run_test(controller_on(kube), master_pod())
    annotations = kube.kind("locusttests")[("ns", "checkout")]["metadata"]["annotations"]
    assert annotations[names.RESULT_ANNOTATION] == "passed"
    assert names.REASON_ANNOTATION not in annotations


async def test_without_a_locusttest_the_pod_says_so_once_and_nothing_is_retried() -> None:
    kube = fake(owned_job(), None)  # no such CRD or object: 404
    controller = controller_on(kube)
    await run_test(controller, master_pod())
    assert pod_mark(kube).startswith("LocustTest checkout not read")
    reads = [p for p in kube.paths("GET") if "/locusttests/" in p]
    assert reads == ["/apis/locust.io/v2/namespaces/ns/locusttests/checkout"]
    await controller.reconcile("u1")
    assert len([p for p in kube.paths("GET") if "/locusttests/" in p]) == 1
    # The Job's retention is settled all the same: its held TTL of 0 is put back (as 10 min).
    job = kube.jobs[("ns", "checkout-master")]
    assert names.HELD_TTL_ANNOTATION not in job["metadata"]["annotations"]
    assert job["spec"]["ttlSecondsAfterFinished"] == TTL_0_KEPT_SECONDS


async def test_a_locusttest_made_again_under_the_name_is_not_written() -> None:
    kube = fake(owned_job(owner_uid=TEST_UID), locusttest(uid="made-again"))
    await run_test(controller_on(kube), master_pod())
    assert locusttest_patches(kube) == []
    assert "another uid" in pod_mark(kube)
    stored = kube.kind("locusttests")[("ns", "checkout")]["metadata"]["annotations"]
    assert names.RESULT_ANNOTATION not in stored


async def test_a_job_that_is_not_the_master_job_of_the_locusttest_it_names_writes_nothing() -> None:
    # Anyone who may create Jobs can name a LocustTest (uid and all) as a Job's owner.
    kube = fake(owned_job(name="payroll-master"), locusttest())
    await run_test(controller_on(kube), master_pod(job="payroll-master"))
    assert locusttest_patches(kube) == []
    assert not any("/locusttests/" in p for p in kube.paths("GET"))
    assert names.TEST_ANNOTATED_ANNOTATION not in kube.written("pods")
