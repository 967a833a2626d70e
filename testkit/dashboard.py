"""The Grafana dashboard's queries, read from its JSON, as Prometheus would be asked them.

The dashboard (manifests/components/grafana-dashboard/locust-finisher.json, which the chart
links) is the one place its queries are written: tests read them from there, never from a
copy. Grafana's own parts are put as Grafana would: the template variables by their values,
``$__range`` by the time range, and a variable's ``label_values(selector, label)`` becomes
the label's values among the series ``selector`` matches.
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DASHBOARD = (
    Path(__file__).resolve().parents[1]
    / "manifests"
    / "components"
    / "grafana-dashboard"
    / "locust-finisher.json"
)
_LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$")


@dataclass(frozen=True)
class Query:
    """One query of the dashboard: where it is, and its PromQL (or the label it lists)."""

    where: str
    promql: str
    # For a template variable: the label whose values it lists among ``promql``'s series.
    label: str = ""


def dashboard() -> dict[str, Any]:
    """The dashboard's JSON."""
    document: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return document


def queries(document: Mapping[str, Any] | None = None) -> list[Query]:
    """Every query of the dashboard: its variables', then its panels' targets'."""
    document = document if document is not None else dashboard()
    found: list[Query] = []
    for variable in document["templating"]["list"]:
        if variable["type"] != "query":
            continue
        matched = _LABEL_VALUES.match(variable["query"])
        assert matched, f"variable {variable['name']}: {variable['query']}"
        found.append(Query(f"variable {variable['name']}", matched["selector"], matched["label"]))
    for panel in document["panels"]:
        for target in panel["targets"]:
            found.append(Query(f"{panel['title']} ({target['refId']})", target["expr"]))
    return found


def substituted(promql: str, values: Mapping[str, str], time_range: str = "1h") -> str:
    """``promql`` with the template variables' values and Grafana's ``$__range`` put in."""
    promql = promql.replace("$__range", time_range)
    for name, value in values.items():
        promql = promql.replace(f"${name}", value)
    assert "$" not in promql, promql
    return promql
