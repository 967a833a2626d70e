"""Keep Locust's artifacts after the pod: read them in time, hand them over.

Locust serves its HTML report, stats, failures and exceptions (its artifacts) only while
the master runs; after the test stops it lingers for its ``--autoquit`` window. The worker
calls :meth:`ArtifactKeeper.fetch` in that window (at the first "stopped", and again
whenever the totals grew), and :meth:`ArtifactKeeper.hand_over` once the master has exited,
before the finisher ends: the controller decides what its ConfigMap next to the Job keeps
(app/core/artifacts.py has the rules both ends share).

The finisher's container has 64 MiB in all and must stay within half, and a test with
thousands of request names makes a report of megabytes. So each file is compressed as it is
read, never held whole, and one that grows past what one request could carry, or past
:data:`RAW_LIMIT` as read, or is still arriving after :data:`READ_SECONDS`, is given up at
once (app.finisher.http). What is held of the files at any moment, the copies kept and the
one being read together, fits one hand-over (1.8 MB): a file is read again while its last
copy is kept, and two copies of a file near that size would hold twice it (the extra
2 MiB took ``bench/finisher_memory.py``'s report-at-caps over 32 MiB). A kept file stays in
the pieces the compressor gave, from the read to the socket: joining them made one more
copy.
"""

import json
import logging
import os
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from app.core import finisher_spec as spec
from app.core.artifacts import (
    EXCEPTIONS_JSON,
    FAILURES_CSV,
    LEFT_OUT_PART,
    REPORT_HTML,
    REQUEST_FILES_LIMIT,
    SACRIFICE_ORDER,
    STATS_JSON,
    LeftOut,
    decode_left_out,
    encode_left_out,
    fit_request,
    multipart_pieces,
)
from app.core.summary import ArtifactsEntry
from app.finisher.config import FinisherConfig
from app.finisher.http import load_http_client

log = logging.getLogger(__name__)

# Locust 2.x's web UI (locust/web.py): the report page without its download link (as
# "Download report" saves it), the stats the UI polls, failures as CSV, exceptions as JSON.
LOCUST_PATHS: Mapping[str, str] = {
    REPORT_HTML: "/stats/report?download=1",
    STATS_JSON: "/stats/requests",
    FAILURES_CSV: "/stats/failures/csv",
    EXCEPTIONS_JSON: "/exceptions",
}
CONTENT_TYPE = "application/gzip"
# A report of thousands of names takes Locust seconds to render; the autoquit window is short.
# Each file's read ends by then, however slowly Locust answers.
READ_SECONDS = 15.0
# Locust's page for 5,000 request names is 3.6 MB; past this a file is given up as it streams.
RAW_LIMIT = 32 * 1024 * 1024
# The hand-over is bounded: the pod must not wait long for a controller that is not there.
SEND_ATTEMPTS = 3
SEND_SECONDS = 10.0
NOTE_LIMIT = 160
# The controller's answer: a line, what it kept and what it left out (four files at most).
_ANSWER_LIMIT = 16 * 1024


class _TooLargeError(Exception):
    """A file grew past what can be kept."""


@dataclass
class HandOverOutcome:
    """What became of the artifacts, for the summary."""

    kept: bool
    bytes: int = 0
    left_out: list[LeftOut] = field(default_factory=list)
    note: str = ""

    def summary(self) -> ArtifactsEntry:
        """The summary's entry about the artifacts (its ``report`` key)."""
        entry: ArtifactsEntry = {
            "kept": self.kept,
            "bytes": self.bytes,
            "leftOut": [item.file for item in self.left_out],
        }
        if self.note:
            entry["note"] = self.note[:NOTE_LIMIT]
        return entry


@dataclass(frozen=True)
class Gzip:
    """A kept file: its gzip in the pieces the compressor gave, never joined (see above)."""

    pieces: tuple[bytes, ...]
    size: int

    @classmethod
    def of(cls, data: bytes) -> "Gzip":
        """A gzip held in one piece."""
        return cls((data,), len(data))


class _Gzipped:
    """A body compressed as it arrives, given up once ``fits`` says its size does not fit."""

    def __init__(self, fits: Callable[[int], bool]) -> None:
        self.fits = fits
        self.compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
        self.pieces: list[bytes] = []
        self.size = 0

    def _keep(self, piece: bytes) -> None:
        self.size += len(piece)
        if not self.fits(self.size):
            raise _TooLargeError(f"{self.size} bytes compressed and counting")
        self.pieces.append(piece)

    def add(self, chunk: bytes) -> None:
        piece = self.compressor.compress(chunk)
        if piece:  # zlib holds back most of a compressible chunk: an empty piece says nothing
            self._keep(piece)

    def finish(self) -> Gzip:
        """The whole gzip, in its pieces (their join is the file; no copy is made of it)."""
        self._keep(self.compressor.flush())
        return Gzip(tuple(self.pieces), self.size)


class ArtifactKeeper:
    """Reads Locust's artifacts while they are there; hands them to the controller.

    What it holds of them, the copies kept and the one being read together, is never more
    than one hand-over may carry (``file_limit``), so its memory is bounded by that alone.
    """

    def __init__(
        self,
        config: FinisherConfig,
        *,
        token_file: Path = Path(spec.REPORT_TOKEN_FILE),
        file_limit: int = REQUEST_FILES_LIMIT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.locust = config.locust
        self.url = config.artifacts_url
        self.token_file = token_file
        self.file_limit = file_limit
        self.clock = clock
        self.sleep = sleep
        self.kept: dict[str, Gzip] = {}  # the latest complete copy of each file
        self.problems: dict[str, str] = {}  # why a file was not read, the last time
        self._let_go: set[str] = set()  # files whose copy made room for a read in progress

    # ----------------------------------------------------------------- while Locust serves

    def fetch(self) -> None:
        """Read each file again; keep the new copy of those read whole. Never raises."""
        if not self.url:
            return
        # The most valuable first, each within what the ones before it left of one request:
        # what one hand-over cannot carry is never sent, so it is not held either (four
        # files at their cap were 7 MiB, and 3.5 MiB more while one was read again).
        order = list(reversed(SACRIFICE_ORDER))
        for index, file in enumerate(order):
            path = LOCUST_PATHS[file]
            # A file's copy stands while it is read again (Locust may exit mid-read) as
            # long as both fit; when they do not, what goes to make room is the copies of
            # the files after it (read again next), the least valuable first, then its own.
            expendable = [*reversed(order[index + 1 :]), file]
            try:
                self.kept[file] = self._read(path, partial(self._room, expendable=expendable))
                self.problems.pop(file, None)
                self._let_go.discard(file)
            except _TooLargeError:
                self.kept.pop(file, None)
                self._let_go.discard(file)
                self.problems[file] = (
                    f"not kept: with the files before it, more than {self.file_limit} bytes "
                    "compressed, what one hand-over may carry"
                )
                log.info("Locust's %s not kept: %s", path, self.problems[file])
            except Exception as error:  # any failure to read is one file not refreshed
                lost = " (its copy read before made room for it)" if file in self._let_go else ""
                self.problems[file] = f"not read from Locust's {path}{lost}: {str(error)[:100]}"
                log.info("Locust's %s not read%s: %s", path, lost, error)

    def _room(self, size: int, expendable: list[str]) -> bool:
        """Whether a copy being read of ``size`` bytes fits one hand-over beside the kept ones.

        When it does not, the ``expendable`` copies are let go, in that order, until it does.
        """
        for file in expendable:
            if sum(copy.size for copy in self.kept.values()) + size <= self.file_limit:
                return True
            if self.kept.pop(file, None) is not None:
                self._let_go.add(file)
                log.info("Locust's %s let go to make room for a newer read", file)
        return sum(copy.size for copy in self.kept.values()) + size <= self.file_limit

    def _read(self, path: str, fits: Callable[[int], bool]) -> Gzip:
        body = _Gzipped(fits)
        # The read's own wall-clock deadline bounds a Locust that drips its answer; the raw
        # cap, one that streams zeros (they compress a thousandfold) for the whole window.
        status = self.locust.stream(
            path, body.add, limit=RAW_LIMIT, seconds=READ_SECONDS, idle=READ_SECONDS
        )
        if status != 200:
            raise OSError(f"HTTP {status}")
        return body.finish()

    # ----------------------------------------------------------------- after the master

    def hand_over(self) -> HandOverOutcome:
        """Send the kept files to the controller (bounded retries). Never raises."""
        try:
            return self._hand_over()
        except Exception as error:  # a bug of ours must not cost the summary
            log.exception("Locust's artifacts were not handed over")
            return HandOverOutcome(False, note=f"not handed over: {type(error).__name__}")

    def _hand_over(self) -> HandOverOutcome:
        if not self.url:
            return HandOverOutcome(False, note="no report URL: the webhook keeps no reports")
        missing = [
            LeftOut(file, self.problems.get(file, "never read: Locust did not report 'stopped'"))
            for file in LOCUST_PATHS
            if file not in self.kept
        ]
        # Only what one request cannot carry: the controller decides what its ConfigMap keeps.
        unsent = fit_request({file: copy.size for file, copy in self.kept.items()})
        files = {f: d for f, d in self.kept.items() if f not in {x.file for x in unsent}}
        left_out = [*missing, *unsent]
        if not files:
            return HandOverOutcome(False, left_out=left_out, note="nothing of Locust's report read")
        deadline = self.clock() + SEND_SECONDS
        note = ""
        for attempt in range(1, SEND_ATTEMPTS + 1):
            remaining = deadline - self.clock()
            if remaining <= 0:
                break
            status, body = self._send(files, left_out, remaining)
            answer = _message(body)
            if status in (200, 201):
                log.info("Locust's artifacts handed over: %s", answer)
                kept_bytes, decided = _decision(body)
                return HandOverOutcome(
                    True,
                    sum(copy.size for copy in files.values()) if kept_bytes is None else kept_bytes,
                    left_out if decided is None else decided,
                    answer,
                )
            note = f"not kept: {answer}" if status else f"controller unreachable: {answer}"
            log.warning("Locust's artifacts not handed over (attempt %d): %s", attempt, note)
            if status and status < 500:
                break  # refused: asking again gets the same answer
            self.sleep(min(0.5 * attempt, max(deadline - self.clock(), 0.0)))
        return HandOverOutcome(False, left_out=left_out, note=note)

    def _send(
        self, files: Mapping[str, Gzip], left_out: list[LeftOut], timeout: float
    ) -> tuple[int, str]:
        """One POST: (HTTP status, its body); status 0 (and why) when there was no answer."""
        load_http_client()
        import http.client

        try:
            token = self.token_file.read_text().strip()
        except OSError as error:
            return 0, f"no token to send it with: {error.strerror or error}"
        parts = urlsplit(self.url)
        # Random, so that no gzip stream is likely to contain it.
        boundary = f"locust-finisher-{os.urandom(16).hex()}"
        sent: dict[str, tuple[str, bytes | tuple[bytes, ...]]] = {
            file: (CONTENT_TYPE, copy.pieces) for file, copy in files.items()
        }
        if left_out:
            sent[LEFT_OUT_PART] = ("application/json", encode_left_out(left_out).encode())
        pieces = multipart_pieces(boundary, sent)
        connection = http.client.HTTPConnection(
            parts.hostname or "", parts.port or 80, timeout=max(timeout, 0.1)
        )
        try:
            connection.putrequest("POST", parts.path or "/")
            connection.putheader("Authorization", f"Bearer {token}")
            connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
            connection.putheader("Content-Length", str(sum(map(len, pieces))))
            connection.endheaders()
            for piece in pieces:  # never one copy of everything: it is sent as it is kept
                connection.send(piece)
            response = connection.getresponse()
            return response.status, response.read(_ANSWER_LIMIT).decode(errors="replace")
        except (OSError, http.client.HTTPException) as error:
            return 0, str(error)[:120] or type(error).__name__
        finally:
            connection.close()


def _decision(body: str) -> tuple[int | None, list[LeftOut] | None]:
    """What the controller kept (bytes) and left out, from its answer; None where it says not."""
    try:
        document = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(document, dict):
        return None, None
    size = document.get("bytes")
    left_out = document.get("leftOut")
    return (
        size if isinstance(size, int) and not isinstance(size, bool) else None,
        decode_left_out(json.dumps(left_out)) if isinstance(left_out, list) else None,
    )


def _message(body: str) -> str:
    """The answer's one line (its JSON ``message`` when it is JSON)."""
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    text = str(document.get("message") if isinstance(document, dict) else body)
    lines = text.strip().splitlines()
    return lines[0][:NOTE_LIMIT] if lines else "no answer"
