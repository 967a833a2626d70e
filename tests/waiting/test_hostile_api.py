"""`wait` and `report` against a hostile API server: exit 2 in one line, bounded cost.

Whatever answers on the kubeconfig's address (a proxy, a compromised API server, a kept
report a locustfile made) may send JSON nested 100,000 deep, an object of 200 MB, a namespace
of many large ConfigMaps or gzip bombs. None of it may read as "the test failed" (exit 1),
print a traceback, take more than 256 MiB of memory or write more than 64 MiB.
"""

import copy
import json
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from app.core import names
from app.core.artifacts import (
    EXCEPTIONS_JSON,
    FAILURES_CSV,
    REPORT_HTML,
    STATS_JSON,
    artifacts_configmap,
)
from testkit import fake_kube
from tests.waiting.measured import MIB, Run, run_measured
from tests.waiting.pods import job, master_pod
from tests.waiting.test_artifacts import finished_test

NAMESPACE = "loadtests"
JOB_PATH = f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/t-master"
PODS_PATH = f"/api/v1/namespaces/{NAMESPACE}/pods"
CONFIGMAPS_PATH = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
PEAK_LIMIT = 256 * MIB
WRITTEN_LIMIT = 64 * MIB

Chunks = Callable[[], Iterable[bytes]]


@pytest.fixture
def fake() -> Iterator[fake_kube.FakeKube]:
    with fake_kube.running() as api:
        yield api


def arrange(fake: fake_kube.FakeKube, *, finished: bool = True) -> dict[str, Any]:
    """Job ``t-master`` and its pod, passed (with the controller's verdict) or running."""
    if not finished:
        master_job = job(namespace=NAMESPACE)
        fake.put_job(master_job)
        pod = master_pod("t-master-abc", NAMESPACE, job=master_job)
        fake.put_pod(pod)
        return pod
    return finished_test(fake)


def cli(tmp_path: Path, fake: fake_kube.FakeKube, *args: str) -> Run:
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig", fake.url)
    extra = ["--timeout", "60s", "--interval", "200ms"] if args[0] == "wait" else []
    return run_measured(*args, *extra, "--kubeconfig", str(kubeconfig), "-n", NAMESPACE,
                        cwd=tmp_path)  # fmt: skip


def assert_refused(run: Run, *words: str) -> None:
    """Exit 2, at most 3 lines on stderr and no traceback, within the memory and disk caps."""
    assert run.code == 2, run.describe()
    assert "Traceback" not in run.stderr, run.describe()
    assert 1 <= len(run.stderr_lines) <= 3, run.describe()
    assert all(word in run.stderr for word in words), run.describe()
    assert run.peak <= PEAK_LIMIT, run.describe()
    assert run.written <= WRITTEN_LIMIT, run.describe()


def deep(levels: int = 100_000) -> Chunks:
    return lambda: [b"[" * levels, b"]" * levels]


def huge(head: bytes, size: int = 200 * MIB, tail: bytes = b'"}') -> Chunks:
    """``head``, ``size`` bytes of padding inside a string, ``tail``: made while sent."""

    def chunks() -> Iterator[bytes]:
        padding = b"x" * MIB
        yield head
        for _ in range(size // MIB):
            yield padding
        yield tail

    return chunks


HUGE_JOB = b'{"kind": "Job", "metadata": {"name": "t-master", "uid": "job-uid"}, "pad": "'
COMMANDS = {
    "wait": ["wait", "--job", "t-master"],
    "report": ["report", "--job", "t-master", "--dir", "out"],
}


# ----------------------------------------------------------------- nesting (C1)


@pytest.mark.parametrize("command", COMMANDS)
def test_json_nested_100000_deep_is_one_line(
    tmp_path: Path, fake: fake_kube.FakeKube, command: str
) -> None:
    arrange(fake)
    fake.answers[f"GET {JOB_PATH}"] = deep()
    assert_refused(cli(tmp_path, fake, *COMMANDS[command]), "nested")


def test_a_watch_event_nested_100000_deep_is_one_line(
    tmp_path: Path, fake: fake_kube.FakeKube
) -> None:
    arrange(fake, finished=False)
    fake.answers[f"WATCH {PODS_PATH}"] = lambda: [*deep()(), b"\n"]
    assert_refused(cli(tmp_path, fake, *COMMANDS["wait"]), "nested")


def test_a_kept_stats_json_nested_100000_deep_is_not_read(
    tmp_path: Path, fake: fake_kube.FakeKube
) -> None:
    pod = arrange(fake)
    stats = zlib.compress(b"[" * 100_000 + b"]" * 100_000, wbits=31)
    fake.put_configmap(artifacts_configmap(pod, {STATS_JSON: stats}, [], "2026-12-02T10:00:00Z"))
    assert_refused(cli(tmp_path, fake, *COMMANDS["report"]), "no report kept", "stats.json")


# ----------------------------------------------------------------- size (C2)


@pytest.mark.parametrize("command", COMMANDS)
def test_an_object_of_200_mb_is_one_line(
    tmp_path: Path, fake: fake_kube.FakeKube, command: str
) -> None:
    arrange(fake)
    fake.answers[f"GET {JOB_PATH}"] = huge(HUGE_JOB)
    assert_refused(cli(tmp_path, fake, *COMMANDS[command]), "larger than")


def test_a_watch_event_of_200_mb_is_one_line(tmp_path: Path, fake: fake_kube.FakeKube) -> None:
    arrange(fake, finished=False)
    fake.answers[f"WATCH {PODS_PATH}"] = huge(
        b'{"type": "MODIFIED", "object": {"pad": "', tail=b'"}}\n'
    )
    assert_refused(cli(tmp_path, fake, *COMMANDS["wait"]), "larger than")


@pytest.mark.parametrize("command", COMMANDS)
def test_15_mib_of_empty_objects_is_one_line(
    tmp_path: Path, fake: fake_kube.FakeKube, command: str
) -> None:
    # Within the size cap, but each "{}," would cost 80 bytes decoded: 450 MiB in all.
    arrange(fake)
    fake.answers[f"GET {JOB_PATH}"] = lambda: [b'{"pad": [', b"{}," * (5 * MIB), b"{}]}"]
    assert_refused(cli(tmp_path, fake, *COMMANDS[command]), "JSON values")


def large_namespace(fake: fake_kube.FakeKube, pod: dict[str, Any], count: int = 150) -> None:
    """``count`` other Jobs' reports of about 1 MiB each, sharing one payload in memory."""
    payload = os.urandom(700 * 1024)  # does not compress: about 1 MiB of JSON each
    other = copy.deepcopy(pod)
    template = artifacts_configmap(other, {REPORT_HTML: payload}, [], "2026-12-01T00:00:00Z")
    for at in range(count):
        metadata = copy.deepcopy(template["metadata"])
        metadata["name"] = f"other-{at}-report"
        metadata["labels"][names.REPORT_OF_LABEL] = f"other-pod-{at}"
        metadata["labels"][names.REPORT_JOB_LABEL] = f"other-{at}"
        metadata["ownerReferences"][0].update(name=f"other-{at}", uid=f"other-job-{at}")
        fake.put_configmap({**template, "metadata": metadata})


def test_a_namespace_of_150_mb_of_reports_is_read_a_page_at_a_time(
    tmp_path: Path, fake: fake_kube.FakeKube
) -> None:
    pod = arrange(fake)
    large_namespace(fake, pod)
    fake.put_configmap(
        artifacts_configmap(pod, {REPORT_HTML: zlib.compress(b"<html>", wbits=31)}, [], "z")
    )
    run = cli(tmp_path, fake, *COMMANDS["report"])
    assert run.code == 0, run.describe()
    assert (tmp_path / "out" / REPORT_HTML).read_bytes() == b"<html>"
    assert run.peak <= PEAK_LIMIT, run.describe()
    listed = [p for p in fake.paths("GET") if p.startswith(CONFIGMAPS_PATH)]
    assert listed
    assert all("limit=" in p and "report-job" in p for p in listed), listed


def test_a_list_that_ignores_the_limit_is_one_line(
    tmp_path: Path, fake: fake_kube.FakeKube
) -> None:
    arrange(fake)
    fake.answers[f"GET {CONFIGMAPS_PATH}"] = huge(b'{"kind": "ConfigMapList", "items": [{"p": "',
                                                  tail=b'"}]}')  # fmt: skip
    assert_refused(cli(tmp_path, fake, *COMMANDS["report"]), "larger than")


def test_a_list_that_never_ends_is_one_line(tmp_path: Path, fake: fake_kube.FakeKube) -> None:
    pod = arrange(fake)
    other = artifacts_configmap(pod, {REPORT_HTML: os.urandom(700 * 1024)}, [], "z")
    other["metadata"]["ownerReferences"][0]["uid"] = "another-job"
    page = json.dumps(
        {"kind": "ConfigMapList", "metadata": {"continue": "more"}, "items": [other] * 4}
    ).encode()
    fake.answers[f"GET {CONFIGMAPS_PATH}"] = lambda: [page]
    assert_refused(cli(tmp_path, fake, *COMMANDS["report"]), "more than")


# ----------------------------------------------------------------- gzip bombs (C3)


@cache
def gzip_zeros(size: int) -> bytes:
    """``size`` zero bytes as gzip (about 1,000:1), made without holding them."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(MIB)
    parts = [deflate.compress(zeros) for _ in range(size // MIB)]
    return b"".join([*parts, deflate.flush()])


BOMBS = {
    "three-of-255-mib": {f: 255 * MIB for f in (REPORT_HTML, FAILURES_CSV, EXCEPTIONS_JSON)},
    "four-of-30-mib": {f: 30 * MIB for f in (REPORT_HTML, FAILURES_CSV, EXCEPTIONS_JSON)}
    | {STATS_JSON: 10 * MIB},
}


@pytest.mark.parametrize("bombs", BOMBS)
@pytest.mark.parametrize("command", ["report", "wait --report-dir"])
def test_gzip_bombs_in_a_kept_report_are_one_line(
    tmp_path: Path, fake: fake_kube.FakeKube, bombs: str, command: str
) -> None:
    pod = arrange(fake)
    files = {file: gzip_zeros(size) for file, size in BOMBS[bombs].items()}
    fake.put_configmap(artifacts_configmap(pod, files, [], "2026-12-02T10:00:00Z"))
    if command == "report":
        args = COMMANDS["report"]
    else:
        args = ["wait", "--job", "t-master", "--report-dir", "out"]
    run = cli(tmp_path, fake, *args)
    assert_refused(run, "MiB")
    out = tmp_path / "out"
    on_disk = sum(p.stat().st_size for p in out.iterdir()) if out.exists() else 0
    assert on_disk <= WRITTEN_LIMIT, run.describe()
    left = [p.name for p in out.iterdir()] if out.exists() else []
    assert not set(left) & set(files) - {STATS_JSON}, f"partial files left: {left}"
