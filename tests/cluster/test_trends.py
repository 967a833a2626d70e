"""The trend metrics and the Grafana dashboard, on the real cluster and its Prometheus.

Three short tests run (two pass, one fails), each in its own namespace; their histories are
the controller's history ConfigMaps. Then every query the dashboard makes (read from the
dashboard's JSON, its variables put in as Grafana would) is asked of the local Prometheus,
which scrapes both controller replicas as any pod-annotation Prometheus does, and each must
return data about these tests.
"""

import contextlib
import json
import urllib.error
from collections.abc import Iterator
from typing import Any

import pytest

from app.core import names
from devcluster.cluster import LocalCluster
from devcluster.loadtest import Outcome
from devcluster.processes import wait_until
from testkit.dashboard import queries, substituted
from tests.cluster.conftest import SharedCluster
from tests.cluster.launches import Launch, Started

pytestmark = pytest.mark.cluster

LAUNCHES = [Launch("trend-a"), Launch("trend-b"), Launch("trend-c", failing=True)]
NAMESPACES = [launch.namespace for launch in LAUNCHES]
# Grafana's value of a multi-value variable: a regex of the values chosen.
CHOSEN = {"namespace": "(" + "|".join(NAMESPACES) + ")", "test": ".*"}


@pytest.fixture(scope="module")
def started(
    shared_cluster: SharedCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Started]:
    running = Started(shared_cluster.get(), tmp_path_factory.mktemp("trends"), LAUNCHES)
    yield running
    running.stop()


def histories(cluster: LocalCluster, namespace: str) -> list[dict[str, Any]]:
    listed = cluster.kubectl(
        "get", "configmaps", "-n", namespace, "-l", f"{names.HISTORY_LABEL}=true", "-o", "json"
    )
    items: list[dict[str, Any]] = json.loads(listed)["items"]
    return items


def recorded(cluster: LocalCluster, outcome: Outcome) -> str:
    """The run is in its test's history, as the controller keeps it: its test."""
    namespace = outcome.pod["metadata"]["namespace"]
    wait_until(lambda: bool(histories(cluster, namespace)), 120, "the controller's history")
    (kept,) = histories(cluster, namespace)
    return str(kept["metadata"]["annotations"][names.TEST_ANNOTATION])


def answered(cluster: LocalCluster) -> dict[str, list[Any]]:
    """What Prometheus answers to each of the dashboard's queries."""
    prometheus = cluster.prometheus
    assert prometheus is not None
    answers: dict[str, list[Any]] = {}
    for query in queries():
        promql = substituted(query.promql, CHOSEN)
        try:
            if query.label:
                answers[query.where] = prometheus.label_values(promql, query.label)
            else:
                answers[query.where] = prometheus.query(promql)
        except urllib.error.HTTPError as error:  # a query Prometheus refuses is a defect
            raise AssertionError(f"{query.where}: {promql}: {error.read()[:300]!r}") from None
    return answers


def shown_tests(answer: list[Any]) -> set[tuple[str, str]]:
    return {(s["metric"].get("namespace"), s["metric"].get("test")) for s in answer}


def missing(answers: dict[str, list[Any]], tests: set[tuple[str, str]]) -> list[str]:
    """What the answers lack: data at all, or data about each test run."""
    lacking = []
    for where, answer in answers.items():
        if where == "variable namespace":
            shown = set(answer) >= {namespace for namespace, _ in tests}
        elif where == "variable test":
            shown = set(answer) >= {test for _, test in tests}
        elif "by result" in where:
            shown = bool(answer)
        else:
            shown = shown_tests(answer) == tests
        if not shown:
            lacking.append(f"{where}: {answer}")
    return lacking


def test_every_dashboard_query_returns_data_about_the_tests_run(started: Started) -> None:
    cluster = started.cluster
    outcomes = {namespace: started.outcome(namespace) for namespace in NAMESPACES}
    assert [outcome.phase for outcome in outcomes.values()] == ["Succeeded", "Succeeded", "Failed"]
    tests = {(namespace, recorded(cluster, outcome)) for namespace, outcome in outcomes.items()}
    # Both replicas' next scrapes, and two samples for the dashboard's increase().
    with contextlib.suppress(RuntimeError):
        wait_until(
            lambda: not missing(answered(cluster), tests),
            90,
            "an answer about every test to every query of the dashboard",
            interval=2,
        )
    answers = answered(cluster)
    assert missing(answers, tests) == []
    # One series per test, whichever replica served it; the failed test's verdict is 0.
    passed = {s["metric"]["namespace"]: s["value"][1] for s in answers["Last verdicts (passed)"]}
    assert passed == {"trend-a": "1", "trend-b": "1", "trend-c": "0"}
    runs = {s["metric"]["result"]: float(s["value"][1]) for s in answers["Runs by result (A)"]}
    assert runs == {"passed": 2, "failed": 1}
