"""The report receiver's fuzz campaign: hostile bodies, a judge, and a server to send them to.

``POST /v1/reports`` takes bytes from any pod with a token, so no body may cost the controller
a 5xx (the finisher would try again, and the log fills with tracebacks), its memory (the
replica, maybe the leader, is OOM-killed) or its event loop (every other report and the
controller's own work wait). The 2026-12 campaign found all three (R1, R3, R6); this one keeps
them found. Each input is a whole HTTP request, built from ``(seed, index)`` alone
(:func:`fuzz_input`) so a defect can be replayed with ``--show INDEX | nc``. The server is the
real receiver in its own process, as ``service.py`` runs it, against the fake API; before and
after each input it answers ``/fuzz/reset`` and ``/fuzz/stats`` (its peak RSS since the reset,
and the longest its loop went without a turn), so each input's cost is measured on its own.
:func:`judge` counts as a defect a 5xx, a status the input does not call for, a missing or
multi-line answer, an answer larger than a finisher reads, more than :data:`MEMORY_LIMIT` of
peak RSS, or a loop held :data:`LOOP_LIMIT` or longer. :func:`slowloris` measures slow senders.
"""

import argparse
import asyncio
import contextlib
import functools
import gzip
import importlib.util
import inspect
import json
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from aiohttp import web

from app.core import names
from app.core.artifacts import (
    FILES,
    LEFT_OUT_PART,
    POD_NAME_CLAIM,
    POD_UID_CLAIM,
    RECEIVER_PATH,
    REQUEST_LIMIT,
    LeftOut,
    encode_left_out,
)
from app.kube.client import KubeClient
from testkit.admission import TEST_KEY, job_made_pod, job_of
from testkit.fake_kube import FakeKube
from testkit.fuzz_report import fuzz_report

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "loadtests"
GOOD_TOKEN = "token-of-t-master-abc"
OTHER_TOKEN = "token-of-t-master-def"  # a second managed pod, for the slow senders
MEMORY_LIMIT = 16 * 1024 * 1024  # peak RSS one request may add
LOOP_LIMIT = 1.0  # seconds the loop may go without a turn
ANSWER_LIMIT = 16 * 1024  # what a finisher reads of an answer
CLIENT_TIMEOUT = 10.0
# The campaign's server cuts slow requests sooner than production does, so a stalled input
# costs seconds, not a quarter of a minute; slowloris() measures the production deadlines.
FUZZ_HEADER_SECONDS = 2.0
FUZZ_BODY_SECONDS = 2.0
EXAMPLES_KEPT = 3

OK = frozenset({200, 201})
REFUSED = frozenset({400})
TOO_LARGE = frozenset({413})
BAD = REFUSED | TOO_LARGE
EITHER = OK | BAD
NO_ANSWER = 0  # the server hung up without a status line

# ---------------------------------------------------------------------------------------
# The API the receiver meets


def _review(name: str, uid: str) -> dict[str, Any]:
    return {
        "authenticated": True,
        "audiences": [names.REPORT_AUDIENCE],
        "user": {
            "username": f"system:serviceaccount:{NAMESPACE}:default",
            "extra": {POD_NAME_CLAIM: [name], POD_UID_CLAIM: [uid]},
        },
    }


def fake_api() -> FakeKube:
    """Two managed pods and their tokens (``GOOD_TOKEN``, ``OTHER_TOKEN``); any other is bad."""
    return FakeKube(
        [
            job_made_pod("t-master-abc", "pod-uid", NAMESPACE),
            job_made_pod("t-master-def", "pod-uid-2", NAMESPACE),
        ],
        jobs=[job_of(NAMESPACE)],
        token_reviews={
            GOOD_TOKEN: _review("t-master-abc", "pod-uid"),
            OTHER_TOKEN: _review("t-master-def", "pod-uid-2"),
        },
        namespace=NAMESPACE,
    )


# ---------------------------------------------------------------------------------------
# Building requests


@dataclass(frozen=True)
class FuzzInput:
    """One whole HTTP request (raw bytes, sent in ``pieces``), and the statuses it calls for.

    ``pause`` seconds pass between pieces (a slow sender); ``answerless`` says that the server
    may hang up without an answer (headers that never end).
    """

    index: int
    family: str
    description: str
    pieces: tuple[bytes, ...]
    expect: frozenset[int]
    pause: float = 0.0
    answerless: bool = False

    @property
    def request(self) -> bytes:
        """The request as one byte string."""
        return b"".join(self.pieces)


MULTIPART = "multipart/form-data; boundary=b0undary"


def head(
    length: int | None,
    *,
    content_type: str | None = MULTIPART,
    token: str | None = GOOD_TOKEN,
    method: str = "POST",
    path: str = RECEIVER_PATH,
    extra: bytes = b"",
) -> bytes:
    """A request's line and headers; ``length`` None sends none (then add ``extra``)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: receiver", "Connection: close"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return "\r\n".join(lines).encode() + b"\r\n" + extra + b"\r\n"


def part(name: bytes, content: bytes, content_type: bytes = b"application/gzip") -> bytes:
    """One part as :func:`app.core.artifacts.multipart_pieces` frames it (boundary b0undary)."""
    return (
        b"--b0undary\r\nContent-Disposition: form-data; name=\"" + name + b'"; filename="'
        + name + b'"\r\nContent-Type: ' + content_type + b"\r\n\r\n" + content + b"\r\n"
    )  # fmt: skip


END = b"--b0undary--\r\n"


def body(*parts: bytes) -> bytes:
    """Parts, then the closing boundary."""
    return b"".join(parts) + END


def whole(content: bytes, **options: Any) -> tuple[bytes, ...]:
    """A request of ``content`` with its own Content-Length."""
    return (head(len(content), **options), content)


def _gzip(rng: random.Random, size: int) -> bytes:
    # Random text compresses a little, like a report; level 1 keeps the generator fast.
    return gzip.compress(rng.randbytes(size // 2).hex().encode()[:size], compresslevel=1, mtime=0)


@functools.cache
def _bomb() -> bytes:
    """64 MiB of zeros as gzip (about 64 KB): the receiver keeps it, never inflates it."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip member
    zeros = bytes(1 << 20)
    return b"".join(deflater.compress(zeros) for _ in range(64)) + deflater.flush()


def _valid_parts(rng: random.Random) -> tuple[list[bytes], list[str]]:
    chosen = rng.sample(FILES, rng.randrange(1, len(FILES) + 1))
    sizes = [rng.choice([0, 10, 1000, 30_000, 200_000]) for _ in chosen]
    return [part(f.encode(), _gzip(rng, n)) for f, n in zip(chosen, sizes, strict=True)], chosen


def _notes(files: list[str]) -> bytes:
    missing = [LeftOut(f, "never read: Locust did not report 'stopped'") for f in FILES
               if f not in files]  # fmt: skip
    return encode_left_out(missing).encode()


def _valid(index: int, rng: random.Random) -> FuzzInput:
    parts, files = _valid_parts(rng)
    if len(files) < len(FILES) and rng.random() < 0.5:
        parts.append(part(LEFT_OUT_PART.encode(), _notes(files), b"application/json"))
    rng.shuffle(parts)
    return FuzzInput(index, "valid", f"{', '.join(files)}", whole(body(*parts)), OK)


def _flip(rng: random.Random, data: bytes, flips: int) -> bytes:
    mutable = bytearray(data)
    for _ in range(flips):
        mutable[rng.randrange(len(mutable))] = rng.randrange(256)
    return bytes(mutable)


def _framing(index: int, rng: random.Random) -> FuzzInput:
    parts, _ = _valid_parts(rng)
    good = body(*parts)
    cut = rng.randrange(1, len(good))
    options: list[tuple[str, bytes, frozenset[int], str]] = [
        ("truncated", good[:cut], REFUSED, MULTIPART),
        ("no closing boundary", b"".join(parts), REFUSED, MULTIPART),
        ("closing boundary only", END, REFUSED, MULTIPART),
        ("empty body", b"", REFUSED, MULTIPART),
        ("wrong boundary", good, REFUSED, "multipart/form-data; boundary=other"),
        ("no boundary", good, REFUSED, "multipart/form-data"),
        ("boundary of 71", good, REFUSED, "multipart/form-data; boundary=" + "b" * 71),
        ("boundary empty", good, REFUSED, "multipart/form-data; boundary="),
        ("boundary quoted", good, OK, 'multipart/form-data; boundary="b0undary"'),
        ("bare LF", good.replace(b"\r\n", b"\n"), EITHER, MULTIPART),
        ("preamble", b"garbage\r\n" * rng.randrange(1, 500) + good, OK, MULTIPART),
        ("preamble line of 300 KB", b"x" * 300_000 + b"\r\n" + good, EITHER, MULTIPART),
        ("epilogue", good + rng.randbytes(rng.randrange(1, 5000)), EITHER, MULTIPART),
        ("a part twice", body(parts[0], parts[0]), REFUSED, MULTIPART),
        ("random bytes", rng.randbytes(rng.randrange(1, 20_000)), REFUSED, MULTIPART),
        ("flipped bytes", _flip(rng, good, rng.randrange(1, 30)), EITHER, MULTIPART),
        ("a slice repeated", good[:cut] + good[cut // 2 :], EITHER, MULTIPART),
        ("nested multipart", body(b"--b0undary\r\nContent-Type: multipart/mixed; boundary=c\r\n"
                                  b"\r\n--c\r\n\r\nx\r\n--c--\r\n"), REFUSED, MULTIPART),
        ("text/plain", good, REFUSED, "text/plain"),
        ("form-urlencoded", b"a=b", REFUSED, "application/x-www-form-urlencoded"),
        ("multipart/mixed", good, REFUSED, "multipart/mixed; boundary=b0undary"),
    ]  # fmt: skip
    what, content, expect, content_type = rng.choice(options)
    return FuzzInput(
        index, "framing", what, whole(content, content_type=content_type), expect
    )  # fmt: skip


def _part_headers(index: int, rng: random.Random) -> FuzzInput:
    gz = _gzip(rng, 100)
    disposition = b"Content-Disposition: form-data; name="
    heads: list[tuple[str, bytes, frozenset[int]]] = [
        ("NUL in the name", disposition + b'"report.html\0"', REFUSED),
        ("a header of 9000 bytes", disposition + b'"stats.json"\r\nX-L: ' + b"x" * 9000, REFUSED),
        ("a line of 200 KB", disposition + b'"stats.json"\r\nX-L: ' + b"x" * 200_000, REFUSED),
        ("300 headers", disposition + b'"stats.json"' + b"\r\nX: y" * 300, REFUSED),
        ("600,000 headers", disposition + b'"stats.json"' + b"\r\nX: y" * 600_000, BAD),
        ("no colon", disposition + b'"stats.json"\r\nno colon', REFUSED),
        ("no Content-Disposition", b"Content-Type: application/gzip", REFUSED),
        ("no name", b"Content-Disposition: form-data", REFUSED),
        ("RFC 5987 name", b"Content-Disposition: form-data; name*=UTF-8''stats.json", EITHER),
        ("Latin-1 name", disposition + b'"st\xe4ts.json"', REFUSED),
        ("path-like name", disposition + b'"../../stats.json"', REFUSED),
        ("a lying Content-Length", disposition + b'"stats.json"\r\nContent-Length: 99999', REFUSED),
        ("Content-Length -1", disposition + b'"stats.json"\r\nContent-Length: -1', REFUSED),
        ("base64", disposition + b'"stats.json"\r\nContent-Transfer-Encoding: base64', REFUSED),
        ("Content-Encoding gzip", disposition + b'"stats.json"\r\nContent-Encoding: gzip', REFUSED),
        ("_charset_", disposition + b'"_charset_"', REFUSED),
        ("name case", disposition + b'"STATS.JSON"', REFUSED),
        ("header folding", disposition + b'"stats.json"\r\n continued', EITHER),
    ]  # fmt: skip
    what, head_bytes, expect = rng.choice(heads)
    content = b"--b0undary\r\n" + head_bytes + b"\r\n\r\n" + gz + b"\r\n" + END
    return FuzzInput(index, "part-headers", what, whole(content), expect)


def _notes_family(index: int, rng: random.Random) -> FuzzInput:
    parts, files = _valid_parts(rng)
    note = {"file": "failures.csv", "reason": "x"}
    options: list[tuple[str, bytes, frozenset[int]]] = [
        ("600,000 entries (R1)", b"[" + b"{}," * 600_000 + b"{}]", TOO_LARGE),
        ("nested 100,000 deep", b"[" * 100_000 + b"]" * 100_000, TOO_LARGE),
        ("nested 4000 deep", b"[" * 4000 + b"]" * 4000, REFUSED),
        ("nested objects", b'[{"file": {"a": {"b": 1}}}]', REFUSED),
        ("9 entries", json.dumps([note] * 9).encode(), REFUSED),
        ("an unknown file", json.dumps([{"file": "../x", "reason": "r"}]).encode(), REFUSED),
        ("wrong types", json.dumps([{"file": 1, "reason": None}]).encode(), REFUSED),
        ("extra keys", json.dumps([{**note, "x": 1}]).encode(), REFUSED),
        ("not a list", b'{"file": "stats.json"}', REFUSED),
        ("not JSON", rng.randbytes(rng.randrange(1, 4000)), REFUSED),
        ("NaN", b"[NaN]", REFUSED),
        ("a 7 KB reason", json.dumps([{"file": "x", "reason": "r" * 7000}]).encode(), REFUSED),
        ("8 KiB + 1", b" " * 8192 + b"[]", TOO_LARGE),
        ("1.7 MB of spaces", b" " * 1_700_000 + b"[]", TOO_LARGE),
        ("lone surrogate", b'[{"file": "failures.csv", "reason": "\\ud800"}]', EITHER),
        ("notes twice", b"[]", REFUSED),
        ("10,000 notes parts", b"[]", REFUSED),
        ("notes alone", _notes([]), OK),
    ]  # fmt: skip
    what, notes, expect = rng.choice(options)
    notes_part = part(LEFT_OUT_PART.encode(), notes, b"application/json")
    if what == "notes twice":
        parts += [notes_part, notes_part]
    elif what == "10,000 notes parts":
        parts += [notes_part] * 10_000
    elif what == "notes alone":
        parts = [notes_part]
    elif "failures.csv" in files and expect == EITHER:
        parts = [notes_part]  # a note on a file that was sent is refused: send none
    else:
        parts.append(notes_part)
    return FuzzInput(index, "notes", what, whole(body(*parts)), expect)


def _parts_family(index: int, rng: random.Random) -> FuzzInput:
    tiny = part(b"stats.json", gzip.compress(b"{}", mtime=0))
    options: list[tuple[str, bytes, frozenset[int]]] = [
        ("6 parts", body(*[part(f.encode(), gzip.compress(b"x", mtime=0)) for f in FILES],
                         part(b"report.html", gzip.compress(b"y", mtime=0))), REFUSED),
        ("100 parts", body(*[tiny] * 100), REFUSED),
        ("50,000 parts", body(*[tiny] * 50_000), BAD),
        ("an unknown part", body(part(b"x.bin", gzip.compress(b"x", mtime=0))), REFUSED),
        ("not gzip", body(part(b"stats.json", b"{}")), REFUSED),
        ("empty part", body(part(b"stats.json", b"")), REFUSED),
        ("gzip bomb (64 MiB inflated)", body(part(b"report.html", _bomb())), OK),
        ("no parts", END, REFUSED),
    ]  # fmt: skip
    what, content, expect = rng.choice(options)
    return FuzzInput(index, "parts", what, whole(content), expect)


def _sizes(index: int, rng: random.Random) -> FuzzInput:
    choice = rng.randrange(6)
    if choice == 0:
        size = REQUEST_LIMIT - rng.randrange(1000, 20_000)
        content = body(part(b"report.html", b"\x1f\x8b" + rng.randbytes(size)))
        return FuzzInput(
            index, "sizes", f"a part of {size} bytes, at the limit", whole(content), OK
        )
    if choice == 1:
        size = REQUEST_LIMIT + rng.randrange(1, 20_000)
        content = body(part(b"report.html", b"\x1f\x8b" + rng.randbytes(size)))
        return FuzzInput(index, "sizes", f"a part of {size} bytes", whole(content), TOO_LARGE)
    if choice == 2:
        half = REQUEST_LIMIT // 2 + 1000
        content = body(*(part(f.encode(), b"\x1f\x8b" + rng.randbytes(half)) for f in FILES[:2]))
        return FuzzInput(index, "sizes", "two parts over the limit together", whole(content),
                         TOO_LARGE)  # fmt: skip
    if choice == 3:
        what, length = rng.choice([("10^18", 10**18), ("50 MiB", 50 << 20), ("-1", -1),
                                   ("not a number", "x1")])  # fmt: skip
        pieces = (head(None, extra=f"Content-Length: {length}\r\n".encode()), b"")
        expect = TOO_LARGE if isinstance(length, int) and length > 0 else REFUSED
        return FuzzInput(index, "sizes", f"Content-Length {what}", pieces, expect)
    if choice == 4:
        parts, _ = _valid_parts(rng)
        good = body(*parts)
        short = rng.randrange(1, len(good))
        pieces = (head(short), good)  # the rest is read as a next request: garbage
        # A cut just past the closing boundary leaves a whole report: then 200 is right.
        return FuzzInput(index, "sizes", "Content-Length short of the body", pieces, EITHER)
    content = body(part(b"stats.json", gzip.compress(b"{}", mtime=0)))
    pieces = (head(None, extra=b"Transfer-Encoding: chunked\r\n"),
              f"{len(content):x}\r\n".encode() + content + b"\r\n0\r\n\r\n")  # fmt: skip
    return FuzzInput(index, "sizes", "chunked, no Content-Length", pieces, frozenset({411}))


def _http(index: int, rng: random.Random) -> FuzzInput:
    content = body(part(b"stats.json", gzip.compress(b"{}", mtime=0)))
    options: list[tuple[str, tuple[bytes, ...], frozenset[int]]] = [
        ("no token", whole(content, token=None), frozenset({401})),
        ("a bad token", whole(content, token="stolen"), frozenset({401})),
        ("a token of 8 KiB", whole(content, token="t" * 8000), frozenset({401})),
        ("Basic auth", (head(len(content), token=None, extra=b"Authorization: Basic eDp5\r\n"),
                        content), frozenset({401})),
        ("GET", whole(b"", method="GET"), frozenset({405})),
        ("PUT", whole(content, method="PUT"), frozenset({405})),
        ("another path", whole(content, path="/v1/reports/x"), frozenset({404})),
        ("a path of 9000", whole(content, path="/" + "x" * 9000), REFUSED),
        ("no content type", whole(content, content_type=None), REFUSED),
        ("gzip as a whole", (head(len(gz := gzip.compress(content, mtime=0)),
                                  extra=b"Content-Encoding: gzip\r\n"), gz), REFUSED),
        ("a header line of 9000", (head(len(content), extra=b"X: " + b"y" * 9000 + b"\r\n"),
                                   content), REFUSED),
        ("200 headers", (head(len(content), extra=b"X: y\r\n" * 200), content), REFUSED),
        ("not HTTP", (rng.randbytes(rng.randrange(1, 2000)) + b"\r\n\r\n",), REFUSED),
        ("HTTP/2 preface", (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",), REFUSED),
        ("Expect 100-continue", (head(len(content), extra=b"Expect: 100-continue\r\n"),
                                 content), OK),
    ]  # fmt: skip
    what, pieces, expect = rng.choice(options)
    return FuzzInput(index, "http", what, pieces, expect)


def _slow(index: int, rng: random.Random) -> FuzzInput:
    parts, _ = _valid_parts(rng)
    content = body(*parts)
    if rng.random() < 0.05:
        request = head(len(content)) + content
        if rng.random() < 0.5:
            cut = rng.randrange(1, len(head(len(content))) - 4)
            return FuzzInput(index, "slow", "headers that stop", (request[:cut],),
                             frozenset({NO_ANSWER, 400}), answerless=True)  # fmt: skip
        cut = rng.randrange(len(head(len(content))), len(request) - 1)
        return FuzzInput(index, "slow", "a body that stops", (request[:cut],), frozenset({408}))
    step = max(1, len(content) // 5)
    pieces = [head(len(content))] + [content[k : k + step] for k in range(0, len(content), step)]
    return FuzzInput(index, "slow", f"{len(pieces)} pieces, 50 ms apart", tuple(pieces), OK,
                     pause=0.05)  # fmt: skip


# Families take turns in this order, so any run of len(SCHEDULE) inputs covers all of them.
SCHEDULE: list[Callable[[int, random.Random], FuzzInput]] = [
    *[_valid] * 3, *[_framing] * 6, *[_part_headers] * 4, *[_notes_family] * 5,
    *[_parts_family] * 2, *[_sizes] * 2, *[_http] * 3, _slow,
]  # fmt: skip


def fuzz_input(seed: int, index: int) -> FuzzInput:
    """Input number ``index`` of the campaign ``seed``: the same on every run."""
    rng = random.Random(f"{seed}:{index}")
    return SCHEDULE[index % len(SCHEDULE)](index, rng)


# ---------------------------------------------------------------------------------------
# Judging an answer


@dataclass
class Tally:
    """What the campaign saw; ``defects`` holds everything that fails it."""

    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    families: Counter[str] = field(default_factory=Counter)
    seconds: list[float] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")
    longest_loop: tuple[float, str] = (0.0, "")
    most_memory: tuple[int, str] = (0, "")
    largest_answer: tuple[int, str] = (0, "")
    aiohttp_400: int = 0  # answered by aiohttp's own parser, before the application
    largest_aiohttp_400: int = 0
    defects: dict[str, list[str]] = field(default_factory=dict)
    defect_counts: Counter[str] = field(default_factory=Counter)
    log_errors: int = 0
    wall_seconds: float = 0.0
    peak_rss_kib: int = 0

    def defect(self, kind: str, example: str) -> None:
        """Count a defect, keeping a few examples."""
        self.defect_counts[kind] += 1
        kept = self.defects.setdefault(kind, [])
        if len(kept) < EXAMPLES_KEPT:
            kept.append(example[:400])


@dataclass(frozen=True)
class Answer:
    """What came back: the status (0: none), the body, and what it cost the server."""

    status: int
    body: bytes
    content_type: str
    seconds: float
    loop_seconds: float
    memory: int  # bytes of peak RSS above the RSS before


def judge(sent: FuzzInput, answer: Answer, tally: Tally) -> None:
    """Count one answer and record what is wrong with it."""
    where = f"#{sent.index} {sent.family}: {sent.description}"
    tally.statuses[answer.status] += 1
    tally.seconds.append(answer.seconds)
    tally.slowest = max(tally.slowest, (answer.seconds, where))
    tally.longest_loop = max(tally.longest_loop, (answer.loop_seconds, where))
    tally.most_memory = max(tally.most_memory, (answer.memory, where))
    shown = f"{where} -> {answer.status} {answer.body[:160]!r}"
    if answer.status >= 500:
        tally.defect("5xx", shown)
    elif answer.status not in sent.expect:
        tally.defect("unexpected status", f"{shown} (expected {sorted(sent.expect)})")
    if answer.loop_seconds >= LOOP_LIMIT:
        tally.defect("event loop held", f"{where}: {answer.loop_seconds:.2f} s")
    if answer.memory > MEMORY_LIMIT:
        tally.defect("memory", f"{where}: +{answer.memory / 2**20:.1f} MiB")
    if answer.status in (NO_ANSWER,) or answer.status >= 500:
        return
    if answer.content_type.startswith("text/plain") and answer.status == 400:
        # aiohttp's HTTP parser refused the request before our application saw it, in its own
        # words: two lines that quote what it could not parse (as much as one read brought
        # in), to the sender only. Counted, not judged.
        tally.aiohttp_400 += 1
        tally.largest_aiohttp_400 = max(tally.largest_aiohttp_400, len(answer.body))
        return
    tally.largest_answer = max(tally.largest_answer, (len(answer.body), where))
    if len(answer.body) > ANSWER_LIMIT:
        tally.defect("answer too large", f"{where}: {len(answer.body)} bytes")
    try:
        message = json.loads(answer.body)["message"]
    except (ValueError, KeyError, TypeError):
        if answer.status not in (404, 405):  # aiohttp's router answers those in its words
            tally.defect("an answer without a message", shown)
        return
    if not isinstance(message, str) or b"\n" in answer.body.strip():
        tally.defect("an answer of more than one line", shown)


# ---------------------------------------------------------------------------------------
# The server: the receiver in its own process


def load_receiver(path: str | None) -> type[Any]:
    """ArtifactReceiver from ``path`` (another version of the file), or the project's own."""
    if path is None:
        from app.controller.artifact_receiver import ArtifactReceiver

        return ArtifactReceiver
    spec = importlib.util.spec_from_file_location("receiver_under_test", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return cast(type[Any], module.ArtifactReceiver)


def _status_kib(pid: int | str, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


async def _serve(port: int, receiver_file: str | None, fuzz_deadlines: bool) -> None:
    receiver_class = load_receiver(receiver_file)
    options: dict[str, Any] = {}
    accepted = inspect.signature(receiver_class).parameters
    if fuzz_deadlines and "header_seconds" in accepted:
        options = {"header_seconds": FUZZ_HEADER_SECONDS, "body_seconds": FUZZ_BODY_SECONDS}
    if "key" in accepted:
        options["key"] = TEST_KEY
    receiver = receiver_class(cast(KubeClient, fake_api()), **options)
    app: web.Application = receiver.application()
    lag = {"max": 0.0}

    async def beat() -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.002)
            lag["max"] = max(lag["max"], time.perf_counter() - before - 0.002)

    async def reset(request: web.Request) -> web.Response:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM starts again from VmRSS
        lag["max"] = 0.0
        return web.json_response({"rss_kib": _status_kib("self", "VmRSS")})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(
            {"hwm_kib": _status_kib("self", "VmHWM"), "loop_seconds": lag["max"]}
        )

    app.router.add_post("/fuzz/reset", reset)
    app.router.add_get("/fuzz/stats", stats)
    runner = web.AppRunner(app, access_log=None)  # as app/controller/service.py runs it
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    beating = asyncio.create_task(beat())
    print("ready", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        beating.cancel()
        await runner.cleanup()


def _more_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))


@contextlib.contextmanager
def receiver_process(receiver_file: str | None = None, *, fuzz_deadlines: bool = True) -> Any:
    """A receiver serving on 127.0.0.1 in a child process: yields (port, process, log path)."""
    with tempfile.TemporaryDirectory(prefix="receiver-fuzz-") as scratch:
        log_path = Path(scratch) / "receiver.log"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        command = [sys.executable, "-m", "testkit.receiver_fuzz", "serve", "--port", str(port)]
        if receiver_file:
            command += ["--receiver", receiver_file]
        if not fuzz_deadlines:
            command.append("--production-deadlines")
        with log_path.open("wb") as log:
            server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=log,
                                      stdin=subprocess.DEVNULL)  # fmt: skip
        try:
            assert server.stdout is not None
            if server.stdout.readline().strip() != b"ready":
                raise RuntimeError(f"the receiver did not start:\n{log_path.read_text()}")
            yield port, server, log_path
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


# ---------------------------------------------------------------------------------------
# The client: raw sockets, so that framing of our own reaches the server as it is


def _parse(received: bytes) -> tuple[int, int, int | None, str]:
    """(status, where the body starts, Content-Length, Content-Type) of a final answer so far.

    Interim answers (``100 Continue``) are skipped; the status is 0 until a head is complete.
    """
    at = 0
    while True:
        end = received.find(b"\r\n\r\n", at)
        if not received.startswith(b"HTTP/1.", at) or end < 0:
            return NO_ANSWER, -1, None, ""
        lines = received[at:end].split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        if status >= 200:
            break
        at = end + 4
    length: int | None = None
    content_type = ""
    for line in lines[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-length":
            length = int(value)
        elif key.strip().lower() == b"content-type":
            content_type = value.strip().decode(errors="replace")
    return status, end + 4, length, content_type


def _read_answer(sock: socket.socket, deadline: float) -> tuple[int, bytes, str]:
    received = b""
    while time.monotonic() < deadline and len(received) < 64 << 20:  # enough to measure
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except OSError:  # a timeout or a reset
            break
        if not chunk:
            break
        received += chunk
        status, start, length, _ = _parse(received)
        if status and length is not None and len(received) - start >= length:
            break
    status, start, _, content_type = _parse(received)
    return status, received[start:] if status else received, content_type


def exchange(port: int, sent: FuzzInput, timeout: float = CLIENT_TIMEOUT) -> tuple[int, bytes, str]:
    """Send ``sent`` on a fresh connection; (status, body, content type); status 0: none."""
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # No TIME_WAIT left behind: tens of thousands of connections would use up the ports.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        with contextlib.suppress(OSError):  # an early answer may close while we still send
            for number, piece in enumerate(sent.pieces):
                if number and sent.pause:
                    time.sleep(sent.pause)
                sock.sendall(piece)
        return _read_answer(sock, deadline)


class _Control:
    """The server's /fuzz/ routes, on one kept-alive connection."""

    def __init__(self, port: int) -> None:
        import http.client

        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)

    def call(self, method: str, path: str) -> dict[str, Any]:
        for attempt in (1, 2):  # the server closes an idle connection after its keep-alive
            try:
                self.connection.request(method, path)
                answer: dict[str, Any] = json.loads(self.connection.getresponse().read())
                return answer
            except (OSError, ValueError):
                self.connection.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def run_campaign(
    bodies: int, seed: int, budget: float = 900.0, receiver_file: str | None = None
) -> Tally:
    """Start a receiver, send it ``bodies`` inputs one at a time, and tally."""
    tally = Tally()
    with receiver_process(receiver_file) as (port, server, log_path):
        control = _Control(port)
        warm = _valid(-1, random.Random(0))
        exchange(port, warm)  # the first request's imports are not any input's cost
        started = time.perf_counter()
        deadline = time.monotonic() + budget
        for index in range(bodies):
            if time.monotonic() > deadline:
                tally.defect("time budget exhausted", f"stopped before input #{index}")
                break
            sent = fuzz_input(seed, index)
            tally.sent += 1
            tally.families[sent.family] += 1
            before = control.call("POST", "/fuzz/reset")["rss_kib"]
            began = time.perf_counter()
            status, answer_body, content_type = exchange(port, sent)
            seconds = time.perf_counter() - began
            stats = control.call("GET", "/fuzz/stats")
            answer = Answer(
                status, answer_body, content_type, seconds, stats["loop_seconds"],
                (stats["hwm_kib"] - before) * 1024,
            )  # fmt: skip
            judge(sent, answer, tally)
            if server.poll() is not None:
                tally.defect("the receiver process died", f"after #{index}: {server.returncode}")
                break
        tally.wall_seconds = time.perf_counter() - started
        tally.peak_rss_kib = _status_kib(server.pid, "VmHWM") if server.poll() is None else 0
        logged = log_path.read_text(errors="replace")
    tally.log_errors = logged.count("Traceback")
    return tally


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else 0.0


def report(tally: Tally, seed: int) -> str:
    """The figures, as a Markdown table and a list of defects."""
    statuses = ", ".join(f"{s or 'no answer'}: {n}" for s, n in sorted(tally.statuses.items()))
    rows = [
        ("inputs sent", f"{tally.sent} (seed {seed})"),
        ("answers by status", statuses),
        ("5xx", str(tally.defect_counts["5xx"])),
        ("unexpected statuses", str(tally.defect_counts["unexpected status"])),
        ("400 in aiohttp's own words (HTTP parser), largest",
         f"{tally.aiohttp_400}, {tally.largest_aiohttp_400} bytes"),
        ("receiver crashes", str(tally.defect_counts["the receiver process died"])),
        ("tracebacks in the receiver's log", str(tally.log_errors)),
        ("answer time p50 / p99 / max",
         f"{_quantile(tally.seconds, 0.5) * 1000:.1f} / {_quantile(tally.seconds, 0.99) * 1000:.1f}"
         f" / {tally.slowest[0] * 1000:.0f} ms ({tally.slowest[1][:70]})"),
        ("longest event-loop hold of one input",
         f"{tally.longest_loop[0] * 1000:.0f} ms ({tally.longest_loop[1][:70]})"),
        ("peak RSS growth of one input",
         f"+{tally.most_memory[0] / 2**20:.1f} MiB ({tally.most_memory[1][:70]})"),
        ("largest answer of the receiver's own",
         f"{tally.largest_answer[0]} bytes ({tally.largest_answer[1][:70]})"),
        ("receiver peak RSS", f"{tally.peak_rss_kib / 1024:.0f} MiB"),
        ("wall time", f"{tally.wall_seconds:.0f} s"),
    ]  # fmt: skip
    return fuzz_report(
        rows, f"inputs per family: {dict(tally.families)}", tally.defects, tally.defect_counts
    )


# ---------------------------------------------------------------------------------------
# Slow senders (R6)


@dataclass
class SlowResult:
    """When the server hung up on each slow connection (None: still open at the bound)."""

    phase: str
    lifetimes: list[float | None]
    real_report: tuple[int, float] = (0, 0.0)  # status and seconds of a report sent meanwhile

    @property
    def still_open(self) -> int:
        """Connections the server had not closed by the bound."""
        return sum(1 for life in self.lifetimes if life is None)

    @property
    def longest(self) -> float:
        """The longest a closed connection lived."""
        return max((life for life in self.lifetimes if life is not None), default=0.0)


async def _drip(port: int, first: bytes, rest: bytes, every: float, bound: float) -> float | None:
    started = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return 0.0
    try:
        writer.write(first)
        for byte in rest:
            writer.write(bytes([byte]))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every):
                    while await reader.read(65536):
                        pass
                    return time.monotonic() - started
            if time.monotonic() - started > bound:
                return None
        return None
    except OSError:
        return time.monotonic() - started
    finally:
        writer.close()


async def _slowloris(port: int, connections: int, every: float, bound: float) -> list[SlowResult]:
    content = body(part(b"stats.json", gzip.compress(b"{}", mtime=0)))
    # Half send their headers a byte at a time, without a token: anyone can.
    heads = [_drip(port, b"", head(len(content), token=None), every, bound)
             for _ in range(connections // 2)]  # fmt: skip
    # Half send their headers at once, with a managed pod's token, then the body a byte at a
    # time; the report sent meanwhile is the other pod's.
    bodies = [_drip(port, head(len(content), token=OTHER_TOKEN), content, every, bound)
              for _ in range(connections - connections // 2)]  # fmt: skip
    tasks = [asyncio.ensure_future(c) for c in [*heads, *bodies]]
    await asyncio.sleep(min(3.0, bound / 4))
    began = time.monotonic()
    status, _, _ = await asyncio.to_thread(
        exchange, port, FuzzInput(-1, "real", "a real report", whole(content), OK)
    )
    real = (status, time.monotonic() - began)
    lives = await asyncio.gather(*tasks)
    return [
        SlowResult("headers", list(lives[: len(heads)]), real),
        SlowResult("body", list(lives[len(heads) :]), real),
    ]


def slowloris(
    connections: int = 800, every: float = 2.0, bound: float = 40.0,
    receiver_file: str | None = None,
) -> list[SlowResult]:  # fmt: skip
    """``connections`` senders of a byte each ``every`` s, on 127.0.0.1, given up at ``bound``.

    The receiver runs with its production deadlines.
    """
    _more_files()
    with receiver_process(receiver_file, fuzz_deadlines=False) as (port, _, _):
        return asyncio.run(_slowloris(port, connections, every, bound))


def slow_report(results: list[SlowResult], bound: float) -> str:
    """One line for each phase."""
    lines = []
    for result in results:
        closed = [life for life in result.lifetimes if life is not None]
        lines.append(
            f"slow {result.phase}: {len(result.lifetimes)} connections, "
            f"{result.still_open} still open at {bound:g} s, closed after "
            f"{min(closed, default=0):.1f}-{result.longest:.1f} s"
        )
    status, seconds = results[0].real_report
    lines.append(f"a real report sent meanwhile: {status} in {seconds * 1000:.0f} ms")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``serve``: the server process of :func:`receiver_process`."""
    parser = argparse.ArgumentParser(description="the receiver fuzz campaign's server")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--receiver", help="another artifact_receiver.py to serve")
    parser.add_argument("--production-deadlines", action="store_true")
    args = parser.parse_args(argv)
    _more_files()
    asyncio.run(_serve(args.port, args.receiver, not args.production_deadlines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
