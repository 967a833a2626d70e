"""What the trend metrics read of a test's history ConfigMap (app/core/trends.py)."""

import json

import pytest

from app.core import history, names
from app.core.trends import LastRun, trend_of
from testkit.history import a_run, history_configmap


def test_the_last_run_is_the_newest_entry_in_the_metrics_units() -> None:
    runs = [a_run("a", p95_ms=100, rps=40), a_run("b", "failed", p95_ms=250, rps=30, failures=50)]
    trend = trend_of(history_configmap("loadtests", "checkout", runs, {"passed": 7, "failed": 2}))
    assert trend is not None
    assert (trend.namespace, trend.test) == ("loadtests", "checkout")
    assert trend.last == LastRun(
        passed=False, requests=1000, fail_ratio=0.05, p95_seconds=0.25, rps=30
    )
    # Every run ever recorded, not only the kept ones.
    assert trend.runs == {"passed": 7, "failed": 2}


def test_without_counts_the_kept_runs_are_counted() -> None:
    runs = [a_run("a"), a_run("b", "failed"), a_run("c")]
    trend = trend_of(history_configmap("loadtests", "checkout", runs))
    assert trend is not None
    assert trend.runs == {"passed": 2, "failed": 1}


def test_a_run_without_a_p95_has_no_p95() -> None:
    run = a_run("a")
    del run["numbers"]["p95Ms"]
    trend = trend_of(history_configmap("loadtests", "checkout", [run]))
    assert trend is not None
    assert trend.last is not None
    assert trend.last.p95_seconds is None
    assert trend.last.rps == 50


def test_a_configmap_claiming_another_tests_name_is_not_read() -> None:
    # Anyone who may write ConfigMaps in the namespace could label one as a history: one that
    # claims a test whose history it is not would make a second, conflicting series.
    forged = history_configmap("loadtests", "checkout", [a_run("x", p95_ms=1)])
    forged["metadata"]["name"] = "my-own-configmap"
    assert trend_of(forged) is None
    unnamed = history_configmap("loadtests", "checkout", [a_run("x")])
    del unnamed["metadata"]["annotations"][names.TEST_ANNOTATION]
    assert trend_of(unnamed) is None


@pytest.mark.parametrize(
    "runs_json",
    [
        "[" * 10_000 + "]" * 10_000,
        json.dumps([{"uid": "x", "result": "passed", "numbers": {"p95Ms": "fast"}}] * 10),
        "x" * (history.HISTORY_BUDGET * 2 + 1),
        '{"not": "a list"}',
        json.dumps([{"uid": "x", "result": "maybe"}]),
    ],
    ids=["deep", "wrong-types", "too-large", "not-a-list", "unknown-result"],
)
def test_a_hostile_history_gives_no_last_run_and_never_raises(runs_json: str) -> None:
    configmap = history_configmap("loadtests", "checkout", [], {"passed": 3, "failed": 0})
    configmap["data"][history.HISTORY_KEY] = runs_json
    trend = trend_of(configmap)
    assert trend is not None
    if trend.last is not None:  # the wrong-typed number is dropped, the run kept
        assert trend.last.p95_seconds is None
    assert trend.runs == {"passed": 3, "failed": 0}
