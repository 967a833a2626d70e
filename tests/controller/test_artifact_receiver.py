"""The controller's report receiver against a small fake API: who may send, what is kept."""

import gzip
import json
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from aiohttp.test_utils import TestClient, TestServer

from app.controller.artifact_receiver import ArtifactReceiver
from app.core import names
from app.core.artifacts import (
    LEFT_OUT_PART,
    POD_NAME_CLAIM,
    POD_UID_CLAIM,
    RECEIVER_PATH,
    REPORT_HTML,
    STATS_JSON,
    kept_files,
    multipart_pieces,
)
from app.kube.client import KubeClient
from testkit.fake_kube import FakeKube

NAMESPACE = "loadtests"
GOOD_TOKEN = "token-of-t-master-abc"


def managed_pod(name: str = "t-master-abc", uid: str = "pod-uid", managed: bool = True) -> Any:
    return {
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "uid": uid,
            "labels": {names.MANAGED_LABEL: "true"} if managed else {},
            "ownerReferences": [
                {"apiVersion": "batch/v1", "kind": "Job", "name": "t-master",
                 "uid": "job-uid", "controller": True},
            ],
        }
    }  # fmt: skip


def token_status(pod_name: str, pod_uid: str) -> dict[str, Any]:
    return {
        "authenticated": True,
        "audiences": [names.REPORT_AUDIENCE],
        "user": {
            "username": f"system:serviceaccount:{NAMESPACE}:default",
            "extra": {POD_NAME_CLAIM: [pod_name], POD_UID_CLAIM: [pod_uid]},
        },
    }


def receiver_api() -> FakeKube:
    """The API the receiver meets: t-master-abc's pod, and a TokenReview for its token."""
    return FakeKube(
        [managed_pod()],
        token_reviews={GOOD_TOKEN: token_status("t-master-abc", "pod-uid")},
        namespace=NAMESPACE,
    )


@pytest.fixture
def api() -> FakeKube:
    return receiver_api()


@pytest.fixture
async def http(api: FakeKube) -> AsyncIterator[TestClient[Any, Any]]:
    receiver = ArtifactReceiver(cast(KubeClient, api), clock=lambda: 1_764_669_600.0)
    async with TestClient(TestServer(receiver.application())) as client:
        yield client


def body(**files: bytes) -> tuple[bytes, dict[str, str]]:
    parts = {name.replace("_", "."): ("application/gzip", data) for name, data in files.items()}
    boundary = "b0undary"
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    return b"".join(multipart_pieces(boundary, parts)), headers


async def send(
    http: TestClient[Any, Any], token: str | None = GOOD_TOKEN, **files: bytes
) -> tuple[int, dict[str, Any]]:
    data, headers = body(**files)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    response = await http.post(RECEIVER_PATH, data=data, headers=headers)
    text = await response.text()
    assert "\n" not in text.strip(), "one line"
    return response.status, json.loads(text)


HTML = gzip.compress(b"<html>Locust report</html>")
STATS = gzip.compress(b'{"stats": [], "errors": []}')
MULTIPART = "multipart/form-data; boundary=b"


async def test_a_report_is_kept_next_to_its_job_and_a_resend_overwrites_it(
    http: TestClient[Any, Any], api: FakeKube
) -> None:
    status, answer = await send(http, report_html=HTML, stats_json=STATS)
    assert status == 201, answer
    configmap = api.configmaps["t-master-abc-report"]
    assert configmap["metadata"]["ownerReferences"][0]["name"] == "t-master"
    assert configmap["metadata"]["labels"][names.REPORT_OF_LABEL] == "pod-uid"
    kept = kept_files(configmap)
    assert kept.files[REPORT_HTML] == b"<html>Locust report</html>"
    assert kept.kept_at == "2025-12-02T10:00:00Z"
    assert answer["kept"] == [REPORT_HTML, STATS_JSON]

    newer = gzip.compress(b"<html>newer</html>")
    status, _ = await send(http, report_html=newer)
    assert status == 200
    assert kept_files(api.configmaps["t-master-abc-report"]).files == {
        REPORT_HTML: b"<html>newer</html>"
    }


@pytest.mark.parametrize("token", [None, "stolen-or-expired"])
async def test_no_token_or_a_bad_one_is_401_and_nothing_is_read_or_kept(
    http: TestClient[Any, Any], api: FakeKube, token: str | None
) -> None:
    status, answer = await send(http, token, report_html=HTML)
    assert status == 401, answer
    assert not api.configmaps
    assert not any(path.startswith("GET") for path in api.requests), "no pod read for a stranger"


async def test_a_token_of_another_pod_of_that_name_is_403(
    http: TestClient[Any, Any], api: FakeKube
) -> None:
    # The pod was deleted and made again under the same name: the old token is not the new pod's.
    api.token_reviews["old-token"] = token_status("t-master-abc", "an-older-uid")
    status, answer = await send(http, "old-token", report_html=HTML)
    assert status == 403, answer
    assert not api.configmaps


async def test_a_pod_we_do_not_manage_is_403(http: TestClient[Any, Any], api: FakeKube) -> None:
    api.pods["plain"] = managed_pod("plain", "plain-uid", managed=False)
    api.token_reviews["plain-token"] = token_status("plain", "plain-uid")
    status, answer = await send(http, "plain-token", report_html=HTML)
    assert (status, answer["message"]) == (
        403,
        f"pod {NAMESPACE}/plain is not managed by locust-finisher",
    )


async def test_the_html_report_is_left_out_first_and_says_why(api: FakeKube) -> None:
    receiver = ArtifactReceiver(cast(KubeClient, api), budget=len(STATS) + 10)
    async with TestClient(TestServer(receiver.application())) as http:
        status, answer = await send(http, report_html=HTML, stats_json=STATS)
    assert status == 201
    assert answer["kept"] == [STATS_JSON]
    assert [entry["file"] for entry in answer["leftOut"]] == [REPORT_HTML]
    kept = kept_files(api.configmaps["t-master-abc-report"])
    assert list(kept.files) == [STATS_JSON]
    assert kept.left_out[0].file == REPORT_HTML
    assert "bytes compressed" in kept.left_out[0].reason


async def test_the_finishers_own_notes_on_missing_files_are_kept(
    http: TestClient[Any, Any], api: FakeKube
) -> None:
    notes = json.dumps([{"file": "failures.csv", "reason": "not read: HTTP 500"}]).encode()
    data, headers = body(stats_json=STATS)
    parts = {STATS_JSON: ("application/gzip", STATS), LEFT_OUT_PART: ("application/json", notes)}
    data = b"".join(multipart_pieces("b0undary", parts))
    headers["Authorization"] = f"Bearer {GOOD_TOKEN}"
    response = await http.post(RECEIVER_PATH, data=data, headers=headers)
    assert response.status == 201
    kept = kept_files(api.configmaps["t-master-abc-report"])
    assert [(e.file, e.reason) for e in kept.left_out] == [("failures.csv", "not read: HTTP 500")]


async def test_a_body_over_the_limit_is_413(api: FakeKube) -> None:
    receiver = ArtifactReceiver(cast(KubeClient, api), request_limit=len(HTML) - 1)
    async with TestClient(TestServer(receiver.application())) as http:
        status, answer = await send(http, report_html=HTML)
    assert status == 413, answer
    assert not api.configmaps


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b'{"report": "x"}', "application/json"),
        (b"".join(multipart_pieces("b", {"report.html": ("text/html", b"<html>")})), MULTIPART),
        (b"".join(multipart_pieces("b", {"../etc": ("application/gzip", HTML)})), MULTIPART),
        (b"".join(multipart_pieces("b", {})), MULTIPART),
    ],
    ids=["not-multipart", "not-gzip", "unknown-part", "empty"],
)  # fmt: skip
async def test_anything_but_our_files_is_400(
    http: TestClient[Any, Any], api: FakeKube, data: bytes, content_type: str
) -> None:
    headers = {"Content-Type": content_type, "Authorization": f"Bearer {GOOD_TOKEN}"}
    response = await http.post(RECEIVER_PATH, data=data, headers=headers)
    assert response.status == 400, await response.text()
    assert not api.configmaps


async def test_an_api_outage_is_503_so_the_finisher_tries_again(
    http: TestClient[Any, Any], api: FakeKube
) -> None:
    api.mode = "unavailable"
    status, answer = await send(http, report_html=HTML)
    assert status == 503, answer


async def test_a_configmap_of_that_name_that_is_not_this_pods_report_is_never_overwritten(
    http: TestClient[Any, Any], api: FakeKube
) -> None:
    users = {
        "metadata": {"name": "t-master-abc-report", "resourceVersion": "7"},
        "data": {"a": "b"},
    }
    api.configmaps["t-master-abc-report"] = users
    status, answer = await send(http, report_html=HTML)
    assert status == 409, answer
    assert api.configmaps["t-master-abc-report"]["data"] == {"a": "b"}
