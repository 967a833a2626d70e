"""The webhook's matchConditions let through every pod the webhook would mutate.

The API server sends the webhook only pods that pass these CEL conditions, so a master the
classifier recognises but the conditions leave out is silently never finished (the official
operator's masters were, once). Evaluated with cel-python on every fixture pod, against the
chart and the kustomize base (test_chart_matches_kustomize keeps them equal).
"""

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.manifests.render import MANIFESTS, chart_objects, kustomize_objects

celpy = pytest.importorskip("celpy")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PODS = sorted((FIXTURES / "pods").glob("*.yaml"))


def _conditions(objects: dict[Any, dict[str, Any]]) -> list[str]:
    (webhook,) = [o for key, o in objects.items() if key[0] == "MutatingWebhookConfiguration"]
    return [c["expression"] for c in webhook["webhooks"][0]["matchConditions"]]


@pytest.fixture(scope="module")
def conditions() -> dict[str, list[str]]:
    return {
        "chart": _conditions(chart_objects()),
        "kustomize": _conditions(kustomize_objects(MANIFESTS / "base")),
    }


def _admitted(expressions: list[str], pod: dict[str, Any]) -> bool:
    environment = celpy.Environment()
    activation = {"object": celpy.json_to_cel(pod)}
    return all(
        bool(environment.program(environment.compile(e)).evaluate(activation)) for e in expressions
    )


@pytest.mark.parametrize("fixture", PODS, ids=lambda path: path.stem)
def test_every_pod_the_webhook_mutates_reaches_it(
    conditions: dict[str, list[str]], fixture: Path
) -> None:
    pod = yaml.safe_load(fixture.read_text())
    golden = yaml.safe_load((FIXTURES / "golden" / fixture.name).read_text())
    for source, expressions in conditions.items():
        if golden["decision"] == "mutate":
            assert _admitted(expressions, pod), f"{source} keeps {fixture.stem} from the webhook"


def test_a_pod_of_no_operator_never_reaches_it(conditions: dict[str, list[str]]) -> None:
    pod = {"metadata": {"name": "web", "labels": {"app": "web"}}, "spec": {"containers": []}}
    for source, expressions in conditions.items():
        assert not _admitted(expressions, pod), source
