"""A test's earlier runs: what the controller keeps of each, so verdicts can remember.

A run's pod and Job go when retention says so; the question "did it get worse?" outlives
them. The controller keeps the last runs of each test (namespace and test name) in one
ConfigMap in the test's namespace, which it alone writes: a few hundred bytes per run (the
totals, the verdict and what the run was, never the endpoints), at most :data:`DEFAULT_KEEP`
runs and :data:`HISTORY_BUDGET` bytes. ``history`` prints it, ``wait --baseline previous``
and the relative checks take their baseline from it, and the controller's trend metrics are
read from it, so every replica serves the same numbers.

Anyone who may edit ConfigMaps in the namespace may edit this one: it is read as untrusted
input (bounded, field by field, unknown fields dropped), and it only ever speaks about that
namespace's own tests. No I/O.
"""

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, NotRequired, TypedDict

from app.core import names, podview
from app.core.artifacts import json_depth
from app.core.run_metadata import MAX_NAME
from app.core.summary import SUMMARY_VERSION, RunMetadata, Summary
from app.core.timestamps import parse_time

HISTORY_KEY: Final = "runs.json"
# Every run of the test ever recorded, by result: the kept runs are only the last few.
COUNTS_KEY: Final = "counts.json"
DEFAULT_KEEP: Final = 20
# Most a test keeps; a ConfigMap holds 1 MiB, and every replica keeps the newest entry of each.
MOST_KEPT: Final = 100
# All of a test's runs, encoded; the oldest go first when they would not fit.
HISTORY_BUDGET: Final = 256 * 1024
# A test not run for this long has its history deleted (a setting may change it).
DEFAULT_EXPIRE_SECONDS: Final = 30 * 24 * 3600.0
# Anything deeper than an entry's own nesting (list > entry > checks > check) is not ours.
_DEPTH_LIMIT: Final = 5
_TEXT_LIMIT: Final = 256
_CHECKS_LIMIT: Final = 16

# The numbers a run is remembered by: the summary's totals, never its lists.
NUMBERS: Final = ("requests", "failures", "failRatio", "avgMs", "medianMs", "p95Ms", "p99Ms", "rps")
_WHOLE: Final = frozenset({"requests", "failures"})
_RUN_TEXTS: Final = (
    "test",
    "namespace",
    "revision",
    "locustVersion",
    "image",
    "imageDigest",
    "startedAt",
    "endedAt",
)
_RUN_NUMBERS: Final = ("spawnRate", "runTimeSeconds")
_RUN_COUNTS: Final = ("users", "workers")


class CheckOutcome(TypedDict):
    """One check of the run, as far as history needs it: which, and what became of it."""

    name: str
    state: str


class HistoryEntry(TypedDict):
    """One finished run of a test."""

    uid: str  # the master pod's
    result: str  # passed or failed
    finishedAt: str
    run: RunMetadata
    numbers: dict[str, float]
    reason: NotRequired[str]
    checks: NotRequired[list[CheckOutcome]]


def configmap_name(test: str) -> str:
    """The ConfigMap keeping ``test``'s runs: a stable name whatever the test is called."""
    digest = hashlib.sha256(test.encode()).hexdigest()[:10]
    return f"{names.HISTORY_CONFIGMAP_PREFIX}{digest}"


def entry_of(uid: str, result: str, summary: Summary) -> HistoryEntry:
    """What history keeps of a run whose verdict is ``result``, from its judged summary."""
    run = summary.get("run", {})
    entry: HistoryEntry = {
        "uid": uid,
        "result": result,
        "finishedAt": run.get("endedAt") or summary.get("masterFinishedAt", ""),
        "run": _run(run),
        "numbers": _numbers(summary),
    }
    if "reason" in summary:
        entry["reason"] = summary["reason"]
    checks = [_check(check) for check in summary.get("checks", [])]
    if checks:
        entry["checks"] = [c for c in checks if c is not None][:_CHECKS_LIMIT]
    return entry


def history_labels() -> dict[str, str]:
    """The labels every history ConfigMap has, and the selector that lists them all."""
    return {names.MANAGED_BY_LABEL: names.MANAGED_BY_VALUE, names.HISTORY_LABEL: "true"}


HISTORY_SELECTOR: Final = ",".join(f"{key}={value}" for key, value in history_labels().items())


def is_history(configmap: Mapping[str, Any]) -> bool:
    """Whether a ConfigMap is one of ours: a ConfigMap of our name but not ours is left alone."""
    labels = podview.mapping(podview.mapping(configmap, "metadata"), "labels")
    return all(labels.get(key) == value for key, value in history_labels().items())


def kept_test(configmap: Mapping[str, Any]) -> str:
    """The test a history ConfigMap keeps, as its annotation says (bounded)."""
    annotations = podview.mapping(podview.mapping(configmap, "metadata"), "annotations")
    return (podview.text(annotations, names.TEST_ANNOTATION) or "")[:MAX_NAME]


def read_history(configmap: Mapping[str, Any] | None) -> tuple[list[HistoryEntry], dict[str, int]]:
    """The kept runs and every run's count, from a history ConfigMap (none: nothing kept)."""
    data = podview.mapping(configmap, "data") if configmap is not None else {}
    return (
        decode_history(podview.text(data, HISTORY_KEY)),
        decode_counts(podview.text(data, COUNTS_KEY)),
    )


def history_data(entries: Iterable[HistoryEntry], counted: Mapping[str, int]) -> dict[str, str]:
    """A history ConfigMap's ``data``."""
    return {HISTORY_KEY: encode_history(entries), COUNTS_KEY: encode_counts(counted)}


def recorded(
    configmap: Mapping[str, Any] | None, entry: HistoryEntry, keep: int = DEFAULT_KEEP
) -> dict[str, str] | None:
    """The ConfigMap's ``data`` once ``entry`` is recorded; None if it is recorded already."""
    entries, counted = read_history(configmap)
    kept = append(entries, entry, keep)
    if kept is None:
        return None
    return history_data(kept, count_run(counted, entry["result"]))


def history_configmap(namespace: str, test: str, data: Mapping[str, str]) -> dict[str, Any]:
    """A new history ConfigMap for ``test``: no owner, so it outlives every Job of the test."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": configmap_name(test),
            "namespace": namespace,
            "labels": history_labels(),
            "annotations": {names.TEST_ANNOTATION: test},
        },
        "data": dict(data),
    }


def summary_of(entry: HistoryEntry) -> Summary:
    """An entry as a summary, for what compares runs (:mod:`app.core.compare`)."""
    summary: dict[str, Any] = {"version": SUMMARY_VERSION, **entry["numbers"], "run": entry["run"]}
    if entry["finishedAt"]:
        summary["masterFinishedAt"] = entry["finishedAt"]
    if "reason" in entry:
        summary["reason"] = entry["reason"]
    return summary  # type: ignore[return-value]


def append(
    entries: Sequence[HistoryEntry], entry: HistoryEntry, keep: int = DEFAULT_KEEP
) -> list[HistoryEntry] | None:
    """``entries`` with ``entry`` last, the oldest dropped past ``keep`` or the budget.

    None when ``entry``'s run is there already: recording a run twice (a retried action, a
    new leader) changes nothing.
    """
    if any(kept["uid"] == entry["uid"] for kept in entries):
        return None
    kept = [*entries, entry][-max(1, min(keep, MOST_KEPT)) :]
    while len(kept) > 1 and len(encode_history(kept).encode()) > HISTORY_BUDGET:
        kept.pop(0)
    return kept


def encode_history(entries: Iterable[HistoryEntry]) -> str:
    """The ConfigMap's ``runs.json``."""
    return json.dumps(list(entries), separators=(",", ":"))


def decode_history(text: str | None) -> list[HistoryEntry]:
    """The runs in a ConfigMap's ``runs.json``; what is not a run is skipped, never raised on."""
    if not text or len(text) > HISTORY_BUDGET * 2 or json_depth(text) > _DEPTH_LIMIT:
        return []
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return []
    if not isinstance(document, list):
        return []
    read = (_entry(item) for item in document[-MOST_KEPT:])
    return [entry for entry in read if entry is not None]


def previous(
    entries: Sequence[HistoryEntry],
    current: RunMetadata,
    differences: Callable[[RunMetadata, RunMetadata], Sequence[str]],
    exclude_uid: str = "",
) -> HistoryEntry | None:
    """The baseline ``previous`` means: the newest passed run with comparable metadata.

    ``differences`` says how two runs differ in what matters (users, run time, Locust's
    version...); ``exclude_uid`` is the current run's own pod, when it is recorded already.
    """
    for entry in reversed(entries):
        if entry["uid"] == exclude_uid or entry["result"] != "passed":
            continue
        if not differences(entry["run"], current):
            return entry
    return None


def expired(entries: Sequence[HistoryEntry], now: float, after_seconds: float) -> bool:
    """Whether a test's newest run ended more than ``after_seconds`` before ``now``."""
    if not entries:
        return True
    ended = parse_time(entries[-1]["finishedAt"])
    return ended is not None and now - ended > after_seconds


def counts(entries: Iterable[HistoryEntry]) -> dict[str, int]:
    """How many kept runs passed and failed."""
    counted = {"passed": 0, "failed": 0}
    for entry in entries:
        counted[entry["result"]] = counted.get(entry["result"], 0) + 1
    return counted


def count_run(counted: Mapping[str, int], result: str) -> dict[str, int]:
    """``counted`` (every run recorded, by result) with one more run of ``result``."""
    return {**counted, result: counted.get(result, 0) + 1}


def encode_counts(counted: Mapping[str, int]) -> str:
    """The ConfigMap's ``counts.json``."""
    return json.dumps(dict(counted), separators=(",", ":"), sort_keys=True)


def decode_counts(text: str | None) -> dict[str, int]:
    """Every run recorded, by result: passed and failed, each a whole number; else none."""
    counted = {"passed": 0, "failed": 0}
    if not text or len(text) > 256:
        return counted
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return counted
    if isinstance(document, dict):
        for result in counted:
            value = document.get(result)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                counted[result] = value
    return counted


# ------------------------------------------------------------------- reading


def _text(value: Any) -> str | None:
    return value[:_TEXT_LIMIT] if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _numbers(source: Mapping[str, Any]) -> dict[str, float]:
    numbers: dict[str, float] = {}
    for key in NUMBERS:
        value = _number(source.get(key))
        if value is not None:
            numbers[key] = int(value) if key in _WHOLE else value
    return numbers


def _run(source: Mapping[str, Any]) -> RunMetadata:
    run: dict[str, Any] = {}
    for key in _RUN_TEXTS:
        text = _text(source.get(key))
        if text is not None:
            run[key] = text
    for key in _RUN_NUMBERS:
        number = _number(source.get(key))
        if number is not None:
            run[key] = number
    for key in _RUN_COUNTS:
        number = _number(source.get(key))
        if number is not None:
            run[key] = int(number)
    return run  # type: ignore[return-value]


def _check(source: Any) -> CheckOutcome | None:
    if not isinstance(source, Mapping):
        return None
    name, state = _text(source.get("name")), _text(source.get("state"))
    if name is None:
        return None
    if state is None:  # a summary from before check states: passed says enough
        state = "passed" if source.get("passed") is True else "failed"
    return {"name": name[:64], "state": state[:16]}


def _entry(item: Any) -> HistoryEntry | None:
    if not isinstance(item, dict):
        return None
    uid, result = _text(item.get("uid")), _text(item.get("result"))
    if not uid or result not in ("passed", "failed"):
        return None
    entry: HistoryEntry = {
        "uid": uid,
        "result": result,
        "finishedAt": _text(item.get("finishedAt")) or "",
        "run": _run(podview.mapping(item, "run")),
        "numbers": _numbers(podview.mapping(item, "numbers")),
    }
    reason = _text(item.get("reason"))
    if reason:
        entry["reason"] = reason
    given = item.get("checks")
    if isinstance(given, list):
        checks = [c for c in map(_check, given[:_CHECKS_LIMIT]) if c is not None]
        if checks:
            entry["checks"] = checks
    return entry
