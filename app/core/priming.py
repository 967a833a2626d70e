"""Whether the exporter can hold Locust's final numbers: what a confirmed final scrape rests on.

A read of the exporter's /metrics makes it fetch Locust's /stats/requests and keep what it
got ("priming"). That holds only while Locust answers: once Locust has exited, the exporter
answers ``locust_up 0`` and keeps its per-request gauges from its last good fetch, which may
be long before the end. Taken for priming, such a read had the summary claim a confirmed
final scrape of 1261 requests against Locust's 1474 (issue 21). And Locust's own totals are
final only once its workers' last samples are in: workers report every 3 s, and the stop
does not wait for that report, so a master that exits within seconds of its stop may never
show its final totals to anyone.

So a final scrape is confirmed only when the read that primed the exporter found Locust up
and the exporter's totals no shorter than Locust's last known ones, and Locust's totals had
settled before its master exited; otherwise the summary says which of these failed
(:class:`Unconfirmable`).
"""

import re
from dataclasses import dataclass
from enum import StrEnum

# Locust's workers send their samples every WORKER_REPORT_INTERVAL (3 s), and its web UI
# caches /stats/requests for DEFAULT_CACHE_TIME (2 s): a read that starts this long after one
# that saw "stopped" shows a state taken a whole report interval after the stop.
WORKER_REPORT_SECONDS = 3.0
STATS_CACHE_SECONDS = 2.0
SETTLE_SECONDS = WORKER_REPORT_SECONDS + STATS_CACHE_SECONDS

# client_golang writes labels sorted by name; Locust's total row has no method.
_UP = re.compile(rb"^locust_up\s+(\S+)", re.MULTILINE)
_AGGREGATED = re.compile(
    rb'^locust_requests_num_(requests|failures)\{method="",name="Aggregated"\}\s+(\S+)',
    re.MULTILINE,
)


class Unconfirmable(StrEnum):
    """Why no scrape could carry Locust's final numbers; the summary's wire strings."""

    LOCUST_GONE = "locust-gone"
    EXPORTER_BEHIND = "exporter-behind"
    NOT_SETTLED = "not-settled"


_EXPLAINED = {
    Unconfirmable.LOCUST_GONE: (
        "the exporter was read only after Locust had gone (locust_up 0), so it holds the "
        "numbers of its last good read of Locust, not the final ones; keep Locust's "
        "--autoquit at 10 s or more"
    ),
    Unconfirmable.EXPORTER_BEHIND: (
        "the exporter's totals were short of Locust's own when it was read (its read of "
        "Locust failed or was not Locust's stats); check the exporter's log and --locust.uri"
    ),
    Unconfirmable.NOT_SETTLED: (
        f"Locust was not seen stopped for {SETTLE_SECONDS:g} s before it exited, so its "
        "workers' last samples may have come in after the last read and the final numbers "
        "may be short; keep Locust's --autoquit at 10 s or more"
    ),
}


def explain(reason: Unconfirmable) -> str:
    """One line for the finisher's log, the summary's reader and the FinalScrapeMissed Event."""
    return _EXPLAINED[reason]


def read_unconfirmable(text: object) -> Unconfirmable | None:
    """The reason a summary's ``finalScrape.unconfirmable`` names; None for anything else."""
    if not isinstance(text, str):
        return None
    try:
        return Unconfirmable(text)
    except ValueError:
        return None


def _sample(text: bytes) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _count(text: bytes) -> int | None:
    value = _sample(text)
    if value is None or not 0 <= value < 2**63:  # NaN, infinities, nonsense: no count
        return None
    return int(value)


@dataclass
class ExporterReading:
    """What one answer of the exporter says of Locust, filled in as its lines stream in."""

    locust_up: bool | None = None  # None: the answer had no locust_up line
    requests: int | None = None  # the Aggregated row's, when the answer had one
    failures: int | None = None

    def feed(self, lines: bytes) -> None:
        """Whole lines of the answer (the first of each sample counts)."""
        if self.locust_up is None and (up := _UP.search(lines)) is not None:
            value = _sample(up.group(1))
            self.locust_up = None if value is None else value != 0
        for match in _AGGREGATED.finditer(lines):
            field = "requests" if match.group(1) == b"requests" else "failures"
            if getattr(self, field) is None:
                setattr(self, field, _count(match.group(2)))


def reading_fault(reading: ExporterReading, known: tuple[int, int] | None) -> Unconfirmable | None:
    """Why this read did not prime the exporter with ``known`` totals; None if it did.

    ``known`` is (requests, failures) as the finisher last read them from Locust. An answer
    without the Aggregated row (a Locust that names it otherwise) cannot be compared: only
    ``locust_up`` then tells.
    """
    if reading.locust_up is False:
        return Unconfirmable.LOCUST_GONE
    if known is not None:
        requests, failures = known
        if (reading.requests is not None and reading.requests < requests) or (
            reading.failures is not None and reading.failures < failures
        ):
            return Unconfirmable.EXPORTER_BEHIND
    return None


@dataclass
class Settling:
    """Whether Locust's totals, as the finisher reads them, are its final ones.

    Times are the finisher's monotonic clock. The stop happened before the first read that
    saw "stopped" ended; a read that starts :data:`SETTLE_SECONDS` later shows Locust as it
    was at least one worker report after the stop, when every sample taken before it is in.
    """

    stopped_seen_at: float | None = None
    settled: bool = False

    def read(self, state: str, started: float, ended: float) -> None:
        """One read of Locust's stats: its ``state``, and when the read started and ended."""
        if state != "stopped":  # running (again: the web UI can start a new test)
            self.stopped_seen_at, self.settled = None, False
        elif self.stopped_seen_at is None:
            self.stopped_seen_at = ended
        elif started - self.stopped_seen_at >= SETTLE_SECONDS:
            self.settled = True


def unconfirmable(priming: Unconfirmable | None, settled: bool) -> Unconfirmable | None:
    """Why the final scrape cannot be confirmed, as the master exits: the priming read first."""
    if priming is not None:
        return priming
    return None if settled else Unconfirmable.NOT_SETTLED
