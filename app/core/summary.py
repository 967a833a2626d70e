"""The test summary: written by the finisher, read by the controller and ``wait``.

The finisher writes it to its container's termination message, which Kubernetes keeps in
the pod status after the container ends (at most 4 KiB); the controller copies it into the
``locust-finisher.io/summary`` annotation of the pod and its Job, where CI finds it.
"""

import heapq
import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, NotRequired, TypedDict, cast

SUMMARY_LIMIT = 4096
SUMMARY_VERSION = 1


class EndpointSummary(TypedDict):
    """One request name's totals."""

    method: str
    name: str
    requests: int
    failures: int
    avgMs: float
    p95Ms: float


class ErrorSummary(TypedDict):
    """One kind of failure."""

    method: str
    name: str
    error: str
    occurrences: int


class FinalScrape(TypedDict):
    """Whether Prometheus collected the final numbers before the exporter ended.

    ``confirmed`` means a scrape after priming carried Locust's final numbers; it is never
    set when the exporter held no numbers from Locust (``exporterHadData`` false: Locust's
    web UI behind a login or a base path the exporter does not use), nor when no scrape
    could carry them: ``unconfirmable`` then says why (:class:`app.core.priming.Unconfirmable`).
    """

    primed: bool
    scrapedDuringTest: bool
    waited: bool
    confirmed: bool
    confirmedAt: NotRequired[str]
    exporterHadData: NotRequired[bool]
    unconfirmable: NotRequired[str]


class Trimmed(TypedDict, total=False):
    """How many entries of each list the summary does not show (it keeps the largest)."""

    endpoints: int
    errors: int
    notes: int


class CheckState(StrEnum):
    """What became of one check: it passed, it failed, or it could not be made at all.

    A check is not made when the summary lacks the number it reads (no summary, a master
    without a web UI, a percentile Locust did not report). That is neither a pass nor a
    failure, and every output says so in its own words.
    """

    PASSED = "passed"
    FAILED = "failed"
    NOT_MADE = "not-made"


class CheckResult(TypedDict):
    """One check of the verdict policy against the final numbers (app/core/checks.py).

    ``value`` is None and ``state`` not-made when the summary lacks the number the check
    reads. ``passed`` says whether the check lets the verdict pass: a check not made does,
    unless the pod (or ``wait --strict-checks``) asks for strict checks. Summaries written
    before ``state`` existed lack it: :func:`app.core.checks.check_state` reads both.
    """

    name: str
    limit: str
    value: str | None
    passed: bool
    reads: str
    state: NotRequired[CheckState]
    # Relative checks only (app/core/compare.py): the baseline's number and the change.
    baseline: NotRequired[str]
    delta: NotRequired[str]


class ArtifactsEntry(TypedDict):
    """The summary's ``report`` entry: whether Locust's artifacts were handed over to keep.

    Small by construction (four file names at most, a note of one short line), so it never
    crowds the totals out of the 4 KiB summary.
    """

    kept: bool
    bytes: int  # compressed, as kept
    leftOut: list[str]  # the files not kept (docs/reference.md says why each may be)
    note: NotRequired[str]


class RunMetadata(TypedDict, total=False):
    """What a run was, so that comparisons are like with like (app/core/run_metadata.py).

    The controller reads it from the pod and its Job when it reports; the finisher gives
    ``locustVersion``, which only Locust's web UI knows. Every string is bounded.
    """

    test: str  # the LocustTest's or CronJob's name, else the Job's, else the pod's
    namespace: str
    revision: str  # the pod's locust-finisher.io/revision annotation
    locustVersion: str
    image: str  # the master container's image, as in the pod spec
    imageDigest: str  # sha256:..., from the master's status imageID
    users: int
    spawnRate: float
    runTimeSeconds: float
    workers: int
    startedAt: str  # the master container's start and end (RFC 3339)
    endedAt: str


class BaselineNumbers(TypedDict, total=False):
    """The baseline's numbers a verdict was judged against (app/core/compare.py)."""

    requests: int
    failRatio: float
    avgMs: float
    p95Ms: float
    p99Ms: float
    rps: float


class BaselineEntry(TypedDict):
    """The run a verdict's relative checks were judged against, compact (app/core/compare.py).

    ``uid`` is the baseline pod's uid ("" when not known, as for a file); ``differences``
    names the run metadata that differ from the current run's (or are not known).
    """

    uid: str
    revision: NotRequired[str]
    finishedAt: NotRequired[str]
    differences: list[str]
    numbers: BaselineNumbers


class Summary(TypedDict, total=False):
    """The compact JSON summary of one test (every field optional for forward compatibility)."""

    version: int
    masterFinishedAt: str
    statsAt: str
    state: str
    requests: int
    failures: int
    failRatio: float
    avgMs: float
    medianMs: float
    p95Ms: float
    p99Ms: float
    maxMs: float
    rps: float
    users: int
    workers: int
    endpoints: list[EndpointSummary]
    errors: list[ErrorSummary]
    finalScrape: FinalScrape
    exporter: str
    notes: list[str]
    leftOut: Trimmed
    checks: list[CheckResult]  # written by the controller, never by the finisher
    report: ArtifactsEntry
    run: RunMetadata
    reason: str  # the failed verdict's reason code (app/core/reasons.py); absent when passed
    baseline: BaselineEntry  # only when the verdict was judged against one


def _number(row: Mapping[str, Any], key: str) -> float:
    value = row.get(key)
    return round(float(value), 2) if isinstance(value, int | float) else 0.0


def _count(row: Mapping[str, Any], key: str) -> int:
    value = row.get(key)
    return int(value) if isinstance(value, int | float) else 0


TOP_ENDPOINTS = 5
TOP_ERRORS = 3


def summarize_stats(
    stats: Mapping[str, Any], top: int = TOP_ENDPOINTS, top_errors: int = TOP_ERRORS
) -> Summary:
    """The totals of a Locust ``/stats/requests`` document, with its largest entries."""
    rows = [row for row in stats.get("stats", []) or [] if isinstance(row, Mapping)]
    total = next((row for row in rows if row.get("name") in ("Aggregated", "Total")), {})
    # heapq keeps only the largest few: a test may have thousands of request names.
    endpoints = heapq.nlargest(
        top, (row for row in rows if row is not total), key=lambda row: _count(row, "num_requests")
    )
    all_errors = [e for e in stats.get("errors", []) or [] if isinstance(e, Mapping)]
    errors = heapq.nlargest(top_errors, all_errors, key=lambda e: _count(e, "occurrences"))
    left_out: Trimmed = {}
    if len(rows) - (1 if total else 0) > len(endpoints):
        left_out["endpoints"] = len(rows) - (1 if total else 0) - len(endpoints)
    if len(all_errors) > len(errors):
        left_out["errors"] = len(all_errors) - len(errors)
    summary: Summary = {
        "state": str(stats.get("state", "")),
        "requests": _count(total, "num_requests"),
        "failures": _count(total, "num_failures"),
        "failRatio": round(float(stats.get("fail_ratio") or 0.0), 4),
        "avgMs": _number(total, "avg_response_time"),
        "medianMs": _number(total, "median_response_time"),
    }
    # Percentiles only when Locust gave them: a check must not pass on a number that is not
    # there. Locust 2.x keeps response_time_percentile_<p> for each of its
    # PERCENTILES_TO_STATISTICS (0.95 and 0.99 unless a locustfile changes them); older
    # versions named the 99th ninety_ninth_response_time.
    p95 = _percentile(total, "response_time_percentile_0.95")
    if p95 is not None:
        summary["p95Ms"] = p95
    p99 = _percentile(total, "response_time_percentile_0.99", "ninety_ninth_response_time")
    if p99 is not None:
        summary["p99Ms"] = p99
    summary |= {
        "maxMs": _number(total, "max_response_time"),
        "rps": _number(total, "total_rps"),
        "users": _count(stats, "user_count"),
        "workers": _count(stats, "worker_count"),
        "endpoints": [
            {
                "method": str(row.get("method") or ""),
                "name": str(row.get("name") or "")[:80],
                "requests": _count(row, "num_requests"),
                "failures": _count(row, "num_failures"),
                "avgMs": _number(row, "avg_response_time"),
                "p95Ms": _number(row, "response_time_percentile_0.95"),
            }
            for row in endpoints
        ],
        "errors": [
            {
                "method": str(error.get("method") or ""),
                "name": str(error.get("name") or "")[:80],
                "error": str(error.get("error") or "")[:160],
                "occurrences": _count(error, "occurrences"),
            }
            for error in errors
        ],
    }
    if left_out:
        summary["leftOut"] = left_out
    return summary


def _percentile(row: Mapping[str, Any], *keys: str) -> float | None:
    """The first of ``keys`` that holds a number in ``row``, in ms; None if none does."""
    for key in keys:
        value = row.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return round(float(value), 2)
    return None


def encode_summary(summary: Summary, limit: int = SUMMARY_LIMIT) -> str:
    """Compact JSON no longer than ``limit`` bytes: lists are cut before totals.

    Whatever is dropped from a list is counted in ``leftOut``, so a reader knows.
    """
    trimmed: dict[str, Any] = {"version": SUMMARY_VERSION, **summary}
    given = summary.get("leftOut", {})
    left_out: dict[str, int] = {key: int(given[key]) for key in given}  # type: ignore[literal-required]

    def size() -> int:
        if left_out:
            trimmed["leftOut"] = left_out
        return len(json.dumps(trimmed, separators=(",", ":")).encode())

    # Notes go last: they say what happened, which matters more than one more endpoint.
    for key in ("errors", "endpoints", "notes"):
        while size() > limit and trimmed.get(key):
            trimmed[key] = trimmed[key][:-1]
            left_out[key] = left_out.get(key, 0) + 1
    encoded = json.dumps(trimmed, separators=(",", ":"))
    if len(encoded.encode()) > limit:
        encoded = _essentials(trimmed, limit)
    return encoded


# What a summary too large even without its lists keeps, most needed first: the verdict's
# reasons (its checks) and what the run was, before the rest of the totals.
_ESSENTIAL = ("version", "requests", "failures", "reason", "checks", "run")


def _essentials(summary: dict[str, Any], limit: int) -> str:
    """The essential fields, then the others in order, each only while the whole fits."""
    kept: dict[str, Any] = {}
    order = [*_ESSENTIAL, *(key for key in summary if key not in _ESSENTIAL)]
    encoded = "{}"
    for key in order:
        if key not in summary:
            continue
        candidate = json.dumps({**kept, key: summary[key]}, separators=(",", ":"))
        if len(candidate.encode()) <= limit:
            kept[key] = summary[key]
            encoded = candidate
    return encoded


def decode_summary(text: str | None) -> Summary | None:
    """A summary from a termination message or annotation; None if it is not one."""
    if not text:
        return None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):  # nested past the parser's depth: not a summary
        return None
    if not isinstance(document, dict) or "version" not in document:
        return None
    return cast(Summary, document)


def headline(summary: Summary) -> str:
    """One line for humans: requests, failures, latency, throughput."""
    parts = [
        f"{summary.get('requests', 0)} requests",
        f"{summary.get('failures', 0)} failures ({100 * summary.get('failRatio', 0.0):.2f}%)",
    ]
    if "p95Ms" in summary:
        parts.append(f"p95 {summary['p95Ms']:g} ms")
    if "rps" in summary:
        parts.append(f"{summary['rps']:g} req/s")
    return ", ".join(parts)
