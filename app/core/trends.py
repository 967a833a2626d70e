"""What the trend metrics say of one test, read from its history ConfigMap.

Prometheus sees a test's runs through the controller, with no Pushgateway and no change to
the locustfile: every replica reads the history ConfigMaps the leader writes and serves one
series per test with its last run's numbers, and a run counter by result. All replicas read
the same objects, so they serve the same values, and a failover changes nothing.

Of each test only this small record is kept (never its kept runs), so memory and the series
are bounded by the number of tests. A ConfigMap is untrusted input like every history
(:func:`app.core.history.decode_history` bounds its reading); one whose name is not the
history name of the test it claims is not read, so a namespace has one record per test. No I/O.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from app.core import history, podview

# Tests served at most; a test past it gets no series until there is room (see the view).
MOST_TESTS: Final = 10_000
RESULTS: Final = ("passed", "failed")


@dataclass(frozen=True)
class LastRun:
    """The numbers of a test's newest run, in the units its metrics have."""

    passed: bool
    requests: float | None
    fail_ratio: float | None
    p95_seconds: float | None
    rps: float | None


@dataclass(frozen=True)
class Trend:
    """One test as its metrics show it."""

    namespace: str
    test: str
    # None when the history keeps no readable run (its counts may still say some were made).
    last: LastRun | None
    # Every run recorded, by result (counts.json; the kept runs when it is missing).
    runs: Mapping[str, int]

    @property
    def key(self) -> tuple[str, str]:
        """What orders and tells apart the tests: namespace, then test."""
        return self.namespace, self.test


def whose(configmap: Mapping[str, Any]) -> tuple[str, str] | None:
    """The namespace and test a history ConfigMap is of; None if it is not one of ours."""
    metadata = podview.mapping(configmap, "metadata")
    namespace = podview.text(metadata, "namespace")
    # A name cut to its bound no longer hashes to the ConfigMap's name: refused with the rest.
    test = history.kept_test(configmap)
    if not namespace or not test or podview.text(metadata, "name") != history.configmap_name(test):
        return None
    return namespace, test


def trend_of(configmap: Mapping[str, Any]) -> Trend | None:
    """What the metrics show of the test whose history ``configmap`` is; None if it is none."""
    tested = whose(configmap)
    if tested is None:
        return None
    data = podview.mapping(configmap, "data")
    entries = history.decode_history(podview.text(data, history.HISTORY_KEY))
    counted = podview.text(data, history.COUNTS_KEY)
    runs = history.decode_counts(counted) if counted is not None else history.counts(entries)
    return Trend(
        namespace=tested[0],
        test=tested[1],
        last=_last_run(entries[-1]) if entries else None,
        runs={result: runs.get(result, 0) for result in RESULTS},
    )


def _last_run(entry: history.HistoryEntry) -> LastRun:
    numbers = entry["numbers"]
    p95_ms = numbers.get("p95Ms")
    return LastRun(
        passed=entry["result"] == "passed",
        requests=numbers.get("requests"),
        fail_ratio=numbers.get("failRatio"),
        p95_seconds=p95_ms / 1000 if p95_ms is not None else None,
        rps=numbers.get("rps"),
    )
