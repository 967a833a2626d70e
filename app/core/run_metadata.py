"""What a run was, so that runs of the same test are compared and kept together.

Only the test's name lives here so far: the one rule that says which runs are one test's
(its history ConfigMap, ``history --test``, the trend metrics' ``test`` label). No I/O.
"""

from collections.abc import Mapping
from typing import Any, Final

from app.core import podview

# A Kubernetes object's name is at most this long; a test name is one.
TEST_NAME_LIMIT: Final = 253
# The owners whose name is the test's: each makes a new Job for every run of one test.
_TEST_OWNERS: Final = frozenset({("locust.io", "LocustTest"), ("batch", "CronJob")})


def test_name(job: Mapping[str, Any] | None, pod_name: str) -> str:
    """The test a run belongs to: its Job's controlling LocustTest or CronJob, else its Job.

    locust-k8s-operator makes Job ``<test>-master`` owned by LocustTest ``<test>``; a CronJob
    makes a Job of a new name every time. A pod without a Job is a test of its own.
    """
    if job is not None:
        owner = podview.controller_reference(job)
        group = (podview.text(owner, "apiVersion") or "").partition("/")[0]
        owner_name = podview.text(owner, "name")
        if owner_name and (group, podview.text(owner, "kind")) in _TEST_OWNERS:
            return owner_name[:TEST_NAME_LIMIT]
        job_name = podview.text(podview.mapping(job, "metadata"), "name")
        if job_name:
            return job_name[:TEST_NAME_LIMIT]
    return pod_name[:TEST_NAME_LIMIT]
