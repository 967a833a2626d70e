"""History ConfigMaps as the controller writes them, made with app/core/history.py's encoders.

For tests and benchmarks that need a test's history without running the test: the trend
metrics' unit tests and their benchmark.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from app.core import history
from app.core.summary import Summary


def a_run(
    uid: str,
    result: str = "passed",
    *,
    test: str = "checkout",
    p95_ms: float = 120.0,
    rps: float = 50.0,
    requests: int = 1000,
    failures: int = 0,
    ended: str = "2025-01-01T00:00:00Z",
) -> history.HistoryEntry:
    """One run's entry, as the controller records it from its judged summary."""
    summary: Summary = {
        "version": 1,
        "requests": requests,
        "failures": failures,
        "failRatio": failures / requests if requests else 0.0,
        "avgMs": p95_ms / 2,
        "p95Ms": p95_ms,
        "rps": rps,
        "run": {"test": test, "endedAt": ended, "users": 10},
    }
    if result == "failed":
        summary["reason"] = "check:p95"
    return history.entry_of(uid, result, summary)


def history_configmap(
    namespace: str,
    test: str,
    entries: Sequence[history.HistoryEntry],
    counted: Mapping[str, int] | None = None,
    uid: str = "",
) -> dict[str, Any]:
    """The test's history ConfigMap holding ``entries`` (and ``counted``, every run by result)."""
    data = {history.HISTORY_KEY: history.encode_history(entries)}
    if counted is not None:
        data[history.COUNTS_KEY] = history.encode_counts(counted)
    made = history.history_configmap(namespace, test, data)
    if uid:
        made["metadata"]["uid"] = uid
    return made
