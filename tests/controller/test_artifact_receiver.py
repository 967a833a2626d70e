"""The controller's report receiver against a small fake API: who may send, what is kept."""

import asyncio
import contextlib
import gzip
import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

import pytest
from aiohttp import web
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
from app.kube.client import KubeClient, KubeError
from testkit.admission import TEST_KEY, job_made_pod, job_of
from testkit.fake_kube import FakeKube

NAMESPACE = "loadtests"
GOOD_TOKEN = "token-of-t-master-abc"


def managed_pod(name: str = "t-master-abc", uid: str = "pod-uid", managed: bool = True) -> Any:
    pod = job_made_pod(name, uid, NAMESPACE)
    if not managed:
        del pod["metadata"]["labels"][names.MANAGED_LABEL]
    return pod


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
        jobs=[job_of(NAMESPACE)],
        token_reviews={GOOD_TOKEN: token_status("t-master-abc", "pod-uid")},
        namespace=NAMESPACE,
    )


@pytest.fixture
def api() -> FakeKube:
    return receiver_api()


@pytest.fixture
async def http(api: FakeKube) -> AsyncIterator[TestClient[Any, Any]]:
    receiver = ArtifactReceiver(cast(KubeClient, api), key=TEST_KEY, clock=lambda: 1_764_669_600.0)
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
    receiver = ArtifactReceiver(cast(KubeClient, api), key=TEST_KEY, budget=len(STATS) + 10)
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
    receiver = ArtifactReceiver(cast(KubeClient, api), key=TEST_KEY, request_limit=len(HTML) - 1)
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


@pytest.mark.parametrize("refusal", [403, 422])
async def test_a_write_the_api_server_refuses_is_403_so_no_finisher_tries_again(
    http: TestClient[Any, Any], api: FakeKube, refusal: int
) -> None:
    """A write policy's denial (a namespace that is not opted in, say) will not change."""

    async def refused(path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        if "/configmaps" in path:
            raise KubeError(refusal, "denied by ValidatingAdmissionPolicy")
        return await FakeKube.create(api, path, body)

    api.create = refused  # type: ignore[method-assign]
    status, answer = await send(http, report_html=HTML)
    assert status == 403, answer
    assert "denied by ValidatingAdmissionPolicy" in answer["message"]


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


# ----------------------------------------------------------------- hostile bodies (R1, R3, R6)


def raw(parts: list[tuple[bytes, bytes]], boundary: bytes = b"b") -> bytes:
    """A multipart body of (part headers, content) pairs, exactly as given: framing of our own."""
    pieces = [b"--" + boundary + b"\r\n" + head + b"\r\n\r\n" + content + b"\r\n"
              for head, content in parts]  # fmt: skip
    return b"".join(pieces) + b"--" + boundary + b"--\r\n"


def named(name: bytes, content_type: bytes = b"application/gzip") -> bytes:
    return b'Content-Disposition: form-data; name="' + name + b'"\r\nContent-Type: ' + content_type


async def post_raw(
    http: TestClient[Any, Any], data: bytes, content_type: str = MULTIPART, **headers: str
) -> tuple[int, str]:
    sent = {"Content-Type": content_type, "Authorization": f"Bearer {GOOD_TOKEN}", **headers}
    response = await http.post(RECEIVER_PATH, data=data, headers=sent)
    text = await response.text()
    assert "\n" not in text.strip(), f"one line: {text[:200]!r}"
    return response.status, text


async def test_a_left_out_json_of_600000_entries_is_refused_at_once_with_a_short_answer(
    http: TestClient[Any, Any], api: FakeKube
) -> None:
    # R1: 1.8 MB of "{}," cost the receiver +253 MiB, 5 s of its loop and a 22 MB answer.
    notes = b"[" + b"{}," * 600_000 + b"{}]"
    started = time.monotonic()
    status, text = await post_raw(http, raw([(named(b"left-out.json"), notes)]))
    assert status == 413, text[:200]
    assert len(text) < 1024
    assert time.monotonic() - started < 3, "bounded work, with a wide margin"
    assert not api.configmaps


@pytest.mark.parametrize(
    ("notes", "why"),
    [
        (b"[" * 4000 + b"]" * 4000, "nested 4000 deep"),
        (b'[{"file": {"file": "x"}}]', "nested object"),
        (json.dumps([{"file": f, "reason": "r"} for f in ["failures.csv"] * 2]).encode(), "twice"),
        (json.dumps([{"file": "../etc/passwd", "reason": "r"}]).encode(), "not one of ours"),
        (json.dumps([{"file": "report.html", "reason": "r"}]).encode(), "but it was sent"),
        (json.dumps([{"file": "failures.csv", "reason": 5}]).encode(), "wrong type"),
        (b"{}", "not a list"),
        (b"\xff\xfe[]", "not UTF-8"),
        (b"[1e400", "not JSON"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
async def test_notes_that_no_finisher_writes_are_400(
    http: TestClient[Any, Any], api: FakeKube, notes: bytes, why: str
) -> None:
    parts = [(named(b"report.html"), HTML), (named(b"left-out.json", b"application/json"), notes)]
    status, text = await post_raw(http, raw(parts))
    assert status == 400, (why, text[:200])
    assert not api.configmaps


async def test_more_notes_than_files_or_a_second_notes_part_is_400(
    http: TestClient[Any, Any],
) -> None:
    notes = [{"file": "failures.csv", "reason": f"r{n}"} for n in range(9)]
    one = (named(b"left-out.json"), json.dumps(notes).encode())
    status, _ = await post_raw(http, raw([(named(b"report.html"), HTML), one]))
    assert status == 400
    small = (named(b"left-out.json"), b"[]")
    status, _ = await post_raw(http, raw([(named(b"report.html"), HTML), small, small]))
    assert status == 400


@pytest.mark.parametrize(
    "parts",
    [
        [(named(b"report.html\0"), HTML)],
        [(named(b"report.html") + b"\r\nX-Long: " + b"x" * 9000, HTML)],
        [(named(b"report.html") + b"".join(b"\r\nX-%d: y" % n for n in range(300)), HTML)],
        [(named(b"report.html") + b"\r\nno colon here", HTML)],
        [(b'Content-Disposition: form-data; name="_charset_"', b"x" * 100)],
        [(named(b"stats.json"), STATS)] + [(named(b"left-out.json"), b"[]")] * 10,
        [(b"Content-Type: multipart/mixed; boundary=c", b"--c\r\n\r\nx\r\n--c--")],
        [(named(b"report.html") + b"\r\nContent-Length: 999999", HTML)],
        [(named(b"report.html") + b"\r\nContent-Transfer-Encoding: base64", HTML)],
    ],
    ids=["nul-in-name", "long-header", "300-headers", "no-colon", "charset", "11-parts",
         "nested", "content-length-lie", "transfer-encoding"],
)  # fmt: skip
async def test_broken_part_headers_and_too_many_parts_are_400_never_500(
    http: TestClient[Any, Any], api: FakeKube, parts: list[tuple[bytes, bytes]]
) -> None:
    status, text = await post_raw(http, raw(parts))
    assert status == 400, text[:200]
    assert not api.configmaps


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"--b\r\n" + named(b"report.html") + b"\r\n\r\n" + HTML, MULTIPART),
        (raw([(named(b"report.html"), HTML)]), "multipart/form-data"),
        (raw([(named(b"report.html"), HTML)], b"b" * 80), f"{MULTIPART}{'b' * 79}"),
        (raw([(named(b"report.html"), HTML)]), "multipart/form-data; boundary=other"),
        (b"", MULTIPART),
    ],
    ids=["unterminated", "no-boundary", "boundary-too-long",
         "wrong-boundary", "empty"],
)  # fmt: skip
async def test_broken_framing_is_400(
    http: TestClient[Any, Any], data: bytes, content_type: str
) -> None:
    status, text = await post_raw(http, data, content_type)
    assert status == 400, text[:200]


async def test_a_compressed_or_unsized_body_is_refused_before_it_is_read(
    http: TestClient[Any, Any], api: FakeKube
) -> None:
    data = raw([(named(b"report.html"), HTML)])
    status, _ = await post_raw(http, gzip.compress(data), **{"Content-Encoding": "gzip"})
    assert status == 400

    async def chunked() -> AsyncIterator[bytes]:  # sent chunked: no Content-Length
        yield data

    response = await http.post(
        RECEIVER_PATH,
        data=chunked(),
        headers={"Content-Type": MULTIPART, "Authorization": f"Bearer {GOOD_TOKEN}"},
    )
    assert response.status == 411, await response.text()
    assert not api.configmaps


async def test_the_answer_stays_small_when_every_file_is_left_out(api: FakeKube) -> None:
    receiver = ArtifactReceiver(cast(KubeClient, api), key=TEST_KEY, budget=1)
    notes = [{"file": f, "reason": "é" * 600} for f in ("failures.csv", "exceptions.json")]
    parts = [(named(b"report.html"), HTML), (named(b"stats.json"), STATS),
             (named(b"left-out.json"), json.dumps(notes).encode())]  # fmt: skip
    async with TestClient(TestServer(receiver.application())) as http:
        status, text = await post_raw(http, raw(parts))
    assert status == 201, text
    answer = json.loads(text)
    assert [entry["file"] for entry in answer["leftOut"]] == [
        "failures.csv", "exceptions.json", REPORT_HTML, STATS_JSON
    ]  # fmt: skip
    assert len(text) < 16 * 1024, "what a finisher reads of an answer"


# Slow clients, over real sockets against a real server (R6).


@pytest.fixture
async def served(api: FakeKube) -> AsyncIterator[tuple[int, ArtifactReceiver]]:
    receiver = ArtifactReceiver(
        cast(KubeClient, api),
        key=TEST_KEY,
        header_seconds=1.0,
        body_seconds=1.0,
        slot_seconds=0.5,
        readers=2,
    )
    runner = web.AppRunner(receiver.application(), access_log=None)  # as service.py does
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield port, receiver
    finally:
        await runner.cleanup()


async def drip(port: int, head: bytes, body: bytes, every: float, bound: float) -> float | None:
    """Send ``head`` at once, then ``body`` a byte each ``every`` s: when the server hung up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    try:
        writer.write(head)
        for byte in body:
            if reader.at_eof() or time.monotonic() - started > bound:
                break
            writer.write(bytes([byte]))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every):
                    await reader.read(65536)
        while time.monotonic() - started < bound and not reader.at_eof():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.1):
                    await reader.read(65536)
        return time.monotonic() - started if reader.at_eof() else None
    except ConnectionError:
        return time.monotonic() - started
    finally:
        writer.close()


def request_head(length: int, token: str = GOOD_TOKEN) -> bytes:
    return (
        f"POST {RECEIVER_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: {MULTIPART}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


async def test_slow_headers_and_slow_bodies_are_cut_and_a_real_report_still_gets_through(
    served: tuple[int, ArtifactReceiver], api: FakeKube
) -> None:
    port, _ = served
    data = raw([(named(b"report.html"), HTML)])
    slow_headers = [drip(port, b"", request_head(len(data)), 0.2, 10) for _ in range(20)]
    slow_bodies = [drip(port, request_head(len(data)), data, 0.2, 10) for _ in range(20)]
    real = asyncio.create_task(drip(port, request_head(len(data)) + data, b"", 0.2, 10))
    ended = await asyncio.gather(*slow_headers, *slow_bodies)
    # Cut after 1 s (+ 2 s of lingering for a body); 10 s means never.
    assert all(seconds is not None and seconds < 6 for seconds in ended), ended
    assert (await real) is not None
    assert api.configmaps.get("t-master-abc-report") is not None


async def test_a_slow_body_gets_408_in_one_line(served: tuple[int, ArtifactReceiver]) -> None:
    port, _ = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_head(1000) + b"--b\r\n")
    answer = await asyncio.wait_for(reader.read(), 8)
    writer.close()
    head, _, text = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"\n" not in text.strip()


async def test_one_pod_cannot_take_every_turn_to_be_read(
    served: tuple[int, ArtifactReceiver],
) -> None:
    # Each body read is held until it ends (up to 1.8 MB): one token's slow bodies get one turn.
    port, _ = served
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_head(1000) + b"--b\r\n")  # read until the 1 s body deadline
    await asyncio.sleep(0.2)
    second, second_writer = await asyncio.open_connection("127.0.0.1", port)
    second_writer.write(request_head(1000) + b"--b\r\n")
    answer = await asyncio.wait_for(second.read(), 8)
    assert answer.startswith(b"HTTP/1.1 429"), answer[:200]
    for stream in (writer, second_writer):
        stream.close()
