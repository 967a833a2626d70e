"""The trend metrics every controller replica serves from the history ConfigMaps."""

import asyncio
import copy
from typing import Any, cast

from prometheus_client import generate_latest

from app.controller.metrics import ControllerMetrics
from app.controller.trends import TrendView, trends_watch
from app.kube.client import KubeClient
from testkit.fake_kube import FakeKube
from testkit.history import a_run, history_configmap

CHECKOUT = history_configmap(
    "shop", "checkout", [a_run("r1", p95_ms=100), a_run("r2", p95_ms=180, rps=42)],
    {"passed": 12, "failed": 3}, uid="cm-checkout",
)  # fmt: skip
SEARCH = history_configmap(
    "shop", "search", [a_run("s1", "failed", failures=100)], {"passed": 0, "failed": 1},
    uid="cm-search",
)  # fmt: skip
# In another namespace, a test of the same name: another test.
OTHER_CHECKOUT = history_configmap(
    "staging", "checkout", [a_run("o1", p95_ms=90)], {"passed": 1}, uid="cm-staging"
)
NOT_A_HISTORY = {"metadata": {"name": "settings", "namespace": "shop", "uid": "cm-plain"}}


def changed(configmap: dict[str, Any], version: str) -> dict[str, Any]:
    changed = copy.deepcopy(configmap)
    changed["metadata"]["resourceVersion"] = version
    return changed


def watch_script() -> list[dict[str, Any]]:
    """Search runs again and passes; checkout's history expires and is deleted."""
    search = history_configmap(
        "shop", "search", [a_run("s1", "failed", failures=100), a_run("s2", p95_ms=70)],
        {"passed": 1, "failed": 1}, uid="cm-search",
    )  # fmt: skip
    return [
        {"type": "MODIFIED", "object": changed(search, "101")},
        {"type": "DELETED", "object": changed(CHECKOUT, "102")},
        {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "103"}}},
    ]


def trend_lines(metrics: ControllerMetrics) -> list[str]:
    """The trend series of a replica's /metrics page, as Prometheus scrapes it."""
    page = generate_latest(metrics.registry).decode()
    return [
        line
        for line in page.splitlines()
        if line.startswith(("locust_finisher_last_run_", "locust_finisher_runs_total"))
    ]


def sample(metrics: ControllerMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


async def watching(fakes: list[FakeKube], until: int) -> list[ControllerMetrics]:
    """A replica's watch of each fake's histories, run until each has seen ``until`` events."""
    metrics = [ControllerMetrics() for _ in fakes]
    watches = [
        trends_watch(cast(KubeClient, fake), m.registry)
        for fake, m in zip(fakes, metrics, strict=True)
    ]
    tasks = [asyncio.ensure_future(w.run()) for w in watches]
    for _ in range(200):
        if all(w.version == str(until) for w in watches):
            break
        await asyncio.sleep(0.01)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return metrics


async def test_two_replicas_reading_the_same_histories_serve_identical_series() -> None:
    histories = [SEARCH, CHECKOUT, OTHER_CHECKOUT, NOT_A_HISTORY]
    # The same objects, listed in another order (each replica lists at its own moment).
    fake = FakeKube(configmaps=histories, watch_scripts=[watch_script()])
    other = FakeKube(configmaps=histories[::-1], watch_scripts=[watch_script()])
    first, second = await watching([fake, other], until=103)
    assert trend_lines(first) == trend_lines(second)
    # ...and they are the histories' numbers, as the watch last told them.
    assert sample(first, "locust_finisher_last_run_passed", namespace="shop", test="search") == 1
    assert sample(first, "locust_finisher_last_run_p95_seconds", namespace="shop", test="search")
    assert (
        sample(
            first, "locust_finisher_runs_total", namespace="shop", test="search", result="passed"
        )
        == 1
    )
    assert (
        sample(first, "locust_finisher_last_run_p95_seconds", namespace="staging", test="checkout")
        == 0.09
    )
    # Checkout's history was deleted (expired): its series are gone, not left at old values.
    assert not [line for line in trend_lines(first) if 'namespace="shop",test="checkout"' in line]
    # The labelled ConfigMaps only were listed, in every namespace.
    assert fake.requests[0].startswith(
        "GET /api/v1/configmaps?page_size=20&labelSelector=locust-finisher.io/history=true"
    )


async def test_every_series_of_a_test_and_its_counts_by_result() -> None:
    fake = FakeKube(configmaps=[CHECKOUT])
    [metrics] = await watching([fake], until=100)
    of_checkout = {"namespace": "shop", "test": "checkout"}
    assert sample(metrics, "locust_finisher_last_run_requests", **of_checkout) == 1000
    assert sample(metrics, "locust_finisher_last_run_fail_ratio", **of_checkout) == 0
    assert sample(metrics, "locust_finisher_last_run_p95_seconds", **of_checkout) == 0.18
    assert sample(metrics, "locust_finisher_last_run_rps", **of_checkout) == 42
    assert sample(metrics, "locust_finisher_last_run_passed", **of_checkout) == 1
    runs = "locust_finisher_runs_total"
    assert sample(metrics, runs, result="passed", **of_checkout) == 12
    assert sample(metrics, runs, result="failed", **of_checkout) == 3
    assert sample(metrics, "locust_finisher_controller_trend_tests") == 1


def test_past_the_cap_a_test_gets_no_series_until_there_is_room() -> None:
    view = TrendView(most=2)
    for configmap in (CHECKOUT, SEARCH, OTHER_CHECKOUT):
        view.observe(copy.deepcopy(configmap))
    assert sorted(t.key for t in view.trends.values()) == [("shop", "checkout"), ("shop", "search")]
    assert view.left_out == {"cm-staging"}
    # A known test's next run is still shown; the left-out one waits for room.
    view.observe(copy.deepcopy(SEARCH))
    assert view.left_out == {"cm-staging"}
    view.observe_deleted(copy.deepcopy(CHECKOUT))
    view.observe(copy.deepcopy(OTHER_CHECKOUT))  # its next run
    assert sorted(t.key for t in view.trends.values()) == [
        ("shop", "search"),
        ("staging", "checkout"),
    ]
    assert view.left_out == set()


def test_a_configmap_that_stops_being_a_history_loses_its_series() -> None:
    view = TrendView()
    view.observe(copy.deepcopy(CHECKOUT))
    emptied = copy.deepcopy(CHECKOUT)
    emptied["metadata"]["annotations"] = {}
    view.observe(emptied)
    assert view.trends == {}


def test_a_full_list_forgets_the_histories_it_no_longer_has() -> None:
    view = TrendView()
    view.observe(copy.deepcopy(CHECKOUT))
    view.observe(copy.deepcopy(SEARCH))
    view.listed({"cm-search"})
    assert [t.test for t in view.trends.values()] == ["search"]
