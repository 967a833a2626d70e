"""The Grafana dashboard of the tests' trends, from the chart and from the kustomize component."""

import copy
import json
import re
from pathlib import Path
from typing import Any

from app.controller.trends import TrendCollector, TrendView
from testkit.dashboard import dashboard, queries
from testkit.history import a_run, history_configmap
from tests.manifests.render import MANIFESTS, chart_objects, kustomize_objects
from tests.manifests.test_chart_matches_kustomize import normalised
from tests.manifests.test_controller_write_policy import relative

DASHBOARD = ("ConfigMap", "locust-finisher", "locust-finisher-dashboard")
_METRIC = re.compile(r"\b(locust_finisher_\w+)\b")


def with_component(tmp_path: Path) -> dict[Any, dict[str, Any]]:
    # The component on top of an overlay, as the component's own comment shows users.
    overlay = relative(MANIFESTS / "overlays" / "cert-manager", tmp_path)
    component = relative(MANIFESTS / "components" / "grafana-dashboard", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources:\n  - {overlay}\ncomponents:\n  - {component}\n"
    )
    return kustomize_objects(tmp_path)


def test_the_chart_and_the_kustomize_component_ship_the_same_dashboard(tmp_path: Path) -> None:
    kustomized = with_component(tmp_path)[DASHBOARD]
    chart = chart_objects("certManager.enabled=true", "grafanaDashboard.enabled=true")[DASHBOARD]
    assert normalised(copy.deepcopy(chart)) == normalised(copy.deepcopy(kustomized))
    # The sidecar's default label, and the dashboard itself, as Grafana will read it.
    assert chart["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(chart["data"]["locust-finisher.json"]) == dashboard()


def test_the_chart_ships_it_only_when_asked_where_and_labelled_as_asked() -> None:
    assert DASHBOARD not in chart_objects()
    found = chart_objects(
        "grafanaDashboard.enabled=true",
        "grafanaDashboard.namespace=monitoring",
        "grafanaDashboard.label=dashboards",
        "grafanaDashboard.labelValue=loadtests",
        "grafanaDashboard.annotations.grafana_folder=Load tests",
    )
    configmap = found[("ConfigMap", "monitoring", "locust-finisher-dashboard")]
    assert configmap["metadata"]["labels"]["dashboards"] == "loadtests"
    assert "grafana_dashboard" not in configmap["metadata"]["labels"]
    assert configmap["metadata"]["annotations"] == {"grafana_folder": "Load tests"}


def served_metrics() -> set[str]:
    """The trend series a controller serves, by name (one test with a full history)."""
    view = TrendView()
    view.observe(history_configmap("ns", "t", [a_run("r1")], {"passed": 1}, uid="u"))
    return {
        sample.name
        for family in TrendCollector(view).collect()
        for sample in family.samples
        if not sample.name.startswith("locust_finisher_controller_")
    }


def test_the_dashboard_asks_for_every_trend_series_and_only_for_those() -> None:
    asked = {name for query in queries() for name in _METRIC.findall(query.promql)}
    assert asked == served_metrics()


def test_every_panel_query_follows_both_variables_and_counts_each_test_once() -> None:
    # Every replica serves the same series: a panel takes one per test, never their sum.
    panels = [query for query in queries() if not query.label]
    assert len(panels) >= 9
    for query in panels:
        assert 'namespace=~"$namespace", test=~"$test"' in query.promql, query.where
        assert "max by (namespace, test" in query.promql, query.where
    variables = {query.where: query for query in queries() if query.label}
    assert variables["variable namespace"].label == "namespace"
    assert '$namespace"' in variables["variable test"].promql
