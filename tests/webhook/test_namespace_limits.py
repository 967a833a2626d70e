"""The webhook fits a master pod's finisher to its namespace's limits, read once per master pod."""

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

from app.core import names
from app.core.cluster_config import InjectionConfig
from app.core.fitting import NO_LIMITS, NamespaceLimits
from app.webhook.handler import answer_request
from testkit.pod_fixtures import load_pod, pod_review

QUOTA = {
    "metadata": {"name": "compute"},
    "status": {"hard": {"limits.memory": "2Gi"}, "used": {"limits.memory": "0"}},
}


class Reader:
    """A stand-in for the API: the namespaces asked about, and what it answers."""

    def __init__(self, limits: NamespaceLimits, unread: str | None = None) -> None:
        self.limits, self.unread = limits, unread
        self.asked: list[str] = []

    async def __call__(self, namespace: str) -> tuple[NamespaceLimits, str | None]:
        self.asked.append(namespace)
        return self.limits, self.unread


async def _body(document: dict[str, Any]) -> AsyncIterator[bytes]:
    yield json.dumps(document).encode()


async def review(case: str, reader: Reader) -> dict[str, Any]:
    answer = await answer_request(
        "application/json",
        None,
        _body(pod_review(load_pod(case), "load")),
        InjectionConfig(),
        limits_of=reader,
    )
    assert answer.status == 200
    response: dict[str, Any] = json.loads(answer.body)["response"]
    return response


def patched_containers(response: dict[str, Any]) -> list[str]:
    ops = json.loads(base64.b64decode(response["patch"]))
    return [op["value"]["name"] for op in ops if op["path"].startswith("/spec/containers/")]


async def test_a_quota_the_master_just_fits_admits_it_without_the_finisher_and_says_why() -> None:
    reader = Reader(NamespaceLimits(quotas=(QUOTA,)))
    response = await review("operator-go-2.2-master", reader)
    assert reader.asked == ["load"]
    assert response["allowed"] is True
    assert names.FINISHER_CONTAINER not in patched_containers(response)
    assert any("left out: ResourceQuota compute" in w for w in response["warnings"])


async def test_limits_that_could_not_be_read_leave_the_finisher_as_configured_with_a_warning() -> (
    None
):
    reader = Reader(NO_LIMITS, "LimitRanges and ResourceQuotas of load not read (403: forbidden)")
    response = await review("operator-go-2.2-master", reader)
    assert patched_containers(response) == [names.FINISHER_CONTAINER]
    assert any("not read (403: forbidden)" in w for w in response["warnings"])


async def test_workers_are_never_worth_a_read() -> None:
    reader = Reader(NO_LIMITS)
    response = await review("operator-go-2.2-worker", reader)
    assert reader.asked == []
    assert "patch" not in response
