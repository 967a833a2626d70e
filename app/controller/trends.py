"""The trend metrics: every test's last run and its runs by result, on every replica.

Each replica, leader or not, lists and watches the history ConfigMaps (label
``locust-finisher.io/history=true``, every namespace) and keeps, per test, only what
:func:`app.core.trends.trend_of` reads of it. A Prometheus collector yields the series from
that view at each scrape, so a ConfigMap that is deleted (its test expired) takes its series
with it, and two replicas that read the same ConfigMaps serve the same series.

At most :data:`app.core.trends.MOST_TESTS` tests are served. A test past the cap gets no
series (it is counted in ``locust_finisher_controller_trend_tests_left_out``) until there is
room and its ConfigMap changes again (its next run), or the watch lists everything again.
"""

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from app.controller.watching import ListWatch
from app.core import names, podview
from app.core.trends import MOST_TESTS, RESULTS, Trend, trend_of
from app.kube.client import KubeClient, path_of

log = logging.getLogger(__name__)

HISTORY_SELECTOR = f"{names.HISTORY_LABEL}=true"
# A history ConfigMap holds at most ~256 KiB of runs (a forged one, 1 MiB): pages of 20
# keep one answer well within the client's size limit.
_PAGE_SIZE = 20
_LABELS = ("namespace", "test")


class TrendView:
    """The tests' trends by their ConfigMap's uid, as the list and the watch tell them."""

    def __init__(self, most: int = MOST_TESTS) -> None:
        self.most = most
        self.trends: dict[str, Trend] = {}
        # The uids of histories past the cap (at most ``most`` remembered: a lower bound).
        self.left_out: set[str] = set()

    def observe(self, obj: dict[str, Any]) -> None:
        """A history ConfigMap was listed, added or changed."""
        uid = str(podview.mapping(obj, "metadata").get("uid") or "")
        trend = trend_of(obj)
        if not uid or trend is None:
            self.forget(uid)
            return
        if uid not in self.trends and len(self.trends) >= self.most:
            if not self.left_out:
                log.warning(
                    "trend metrics for %d tests already: %s/%s and later tests get none",
                    self.most,
                    trend.namespace,
                    trend.test,
                )
            if len(self.left_out) < self.most:
                self.left_out.add(uid)
            return
        self.left_out.discard(uid)
        self.trends[uid] = trend

    def observe_deleted(self, obj: dict[str, Any]) -> None:
        """A history ConfigMap was deleted: its test's series go."""
        self.forget(str(podview.mapping(obj, "metadata").get("uid") or ""))

    def forget(self, uid: str) -> None:
        """No series for this ConfigMap (deleted, or not a history any more)."""
        self.trends.pop(uid, None)
        self.left_out.discard(uid)

    def listed(self, uids: set[str]) -> None:
        """After a full list, the ConfigMaps not in it are gone."""
        for uid in set(self.trends) - uids:
            del self.trends[uid]
        self.left_out &= uids
        log.info("listed the history of %d tests", len(self.trends))


class TrendCollector(Collector):
    """The series of a :class:`TrendView`, made at each scrape, ordered by namespace and test."""

    def __init__(self, view: TrendView) -> None:
        self.view = view

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """The trend series of every test in the view."""
        trends = sorted(self.view.trends.values(), key=lambda trend: trend.key)
        gauges = {
            "requests": GaugeMetricFamily(
                "locust_finisher_last_run_requests",
                "Requests of the test's last recorded run.",
                labels=_LABELS,
            ),
            "fail_ratio": GaugeMetricFamily(
                "locust_finisher_last_run_fail_ratio",
                "Failed requests / requests of the test's last recorded run (0 to 1).",
                labels=_LABELS,
            ),
            "p95_seconds": GaugeMetricFamily(
                "locust_finisher_last_run_p95_seconds",
                "95th percentile response time of the test's last recorded run.",
                labels=_LABELS,
            ),
            "rps": GaugeMetricFamily(
                "locust_finisher_last_run_rps",
                "Requests per second of the test's last recorded run.",
                labels=_LABELS,
            ),
            "passed": GaugeMetricFamily(
                "locust_finisher_last_run_passed",
                "1 if the test's last recorded run passed, 0 if it failed.",
                labels=_LABELS,
            ),
        }
        runs = CounterMetricFamily(
            "locust_finisher_runs",
            "Runs of the test recorded in its history, by result.",
            labels=(*_LABELS, "result"),
        )
        for trend in trends:
            labels = [trend.namespace, trend.test]
            if trend.last is not None:
                for name, gauge in gauges.items():
                    value = getattr(trend.last, name)
                    if value is not None:
                        gauge.add_metric(labels, float(value))
            for result in RESULTS:
                runs.add_metric([*labels, result], trend.runs[result])
        yield from gauges.values()
        yield runs
        shown = GaugeMetricFamily(
            "locust_finisher_controller_trend_tests",
            f"Tests with trend series (at most {MOST_TESTS:,}).",
        )
        shown.add_metric([], len(self.view.trends))
        yield shown
        left_out = GaugeMetricFamily(
            "locust_finisher_controller_trend_tests_left_out",
            "Tests with a history but no trend series: past the cap (at least this many).",
        )
        left_out.add_metric([], len(self.view.left_out))
        yield left_out


def trends_watch(client: KubeClient, registry: CollectorRegistry) -> ListWatch:
    """The list and watch of every history ConfigMap, its view served by ``registry``."""
    view = TrendView()
    registry.register(TrendCollector(view))
    return ListWatch(client, path_of("configmaps"), HISTORY_SELECTOR, view, page_size=_PAGE_SIZE)
