"""Goldens through both ways in, and under cluster configurations, as Istio's injector tests do.

The webhook (``handle_review``) and the preview (``locust-finisher mutate -o patch``) must
produce exactly the patch the golden pins, for the default configuration and for a cluster
default TTL, strategy controller and a custom finisher image.
"""

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from app.cli.main import main
from app.core.cluster_config import InjectionConfig
from app.core.finisher_spec import FinisherImage
from app.core.inject import mutate_pod
from app.core.settings import FinishSettings, Strategy
from app.webhook.handler import handle_review
from testkit.pod_fixtures import (
    FIXTURES,
    POD_FIXTURES,
    apply_patch,
    load_pod,
    pod_cases,
    pod_review,
)

GOLDEN = FIXTURES / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


@dataclass(frozen=True)
class Variant:
    """A cluster configuration, as the webhook gets it and as ``mutate`` flags give it."""

    name: str
    config: InjectionConfig
    flags: tuple[str, ...]
    cases: tuple[str, ...]


VARIANTS = (
    Variant("default", InjectionConfig(), (), tuple(pod_cases())),
    Variant(
        "cluster-ttl-90s",
        InjectionConfig(defaults=FinishSettings(ttl_seconds=90)),
        ("--ttl", "90s"),
        ("operator-go-2.2-master", "annotated-master"),
    ),
    Variant(
        "strategy-controller",
        InjectionConfig(defaults=FinishSettings(strategy=Strategy.CONTROLLER)),
        ("--strategy", "controller"),
        ("operator-go-2.2-master", "operator-go-2.3-master"),
    ),
    Variant(
        "restart-rules",
        InjectionConfig(restart_rules=True),
        ("--container-restart-rules",),
        ("operator-go-2.2-master", "operator-go-2.3-master"),
    ),
    Variant(
        "custom-image",
        InjectionConfig(image=FinisherImage(image="registry.example/lf/finisher:9.9")),
        ("--finisher-image", "registry.example/lf/finisher:9.9"),
        ("operator-java-1.1-master",),
    ),
)
CASES = [(variant, case) for variant in VARIANTS for case in variant.cases]


def _golden_path(variant: Variant, case: str) -> Path:
    if variant.name == "default":
        return GOLDEN / f"{case}.yaml"  # test_golden.py writes these
    return GOLDEN / variant.name / f"{case}.yaml"


def _review(case: str) -> bytes:
    return orjson.dumps(pod_review(load_pod(case)))


def _through_the_webhook(case: str, config: InjectionConfig) -> tuple[list[Any], list[str]]:
    answer = handle_review(_review(case), config)
    assert answer.status == 200
    response = orjson.loads(answer.body)["response"]
    assert response["allowed"] is True
    patch = json.loads(base64.b64decode(response["patch"])) if "patch" in response else []
    return patch, response.get("warnings", [])


def _through_the_cli(
    case: str, flags: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> list[Any]:
    path = POD_FIXTURES / f"{case}.yaml"
    assert main(["mutate", "-f", str(path), "-o", "patch", *flags]) == 0
    patch: list[Any] = json.loads(capsys.readouterr().out)
    return patch


@pytest.mark.parametrize(("variant", "case"), CASES, ids=[f"{v.name}:{c}" for v, c in CASES])
def test_the_webhook_and_the_preview_give_the_golden_patch(
    variant: Variant, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    mutation = mutate_pod(load_pod(case), variant.config)
    path = _golden_path(variant, case)
    if UPDATE and variant.name != "default":
        path.parent.mkdir(exist_ok=True)
        result: dict[str, Any] = {
            "decision": mutation.decision,
            "reason": mutation.reason,
            "warnings": mutation.warnings,
            "patch": mutation.ops,
        }
        if mutation.ops:
            result["patchedPod"] = apply_patch(load_pod(case), mutation.ops)
        path.write_text(yaml.safe_dump(result, sort_keys=False, width=100))
    golden = yaml.safe_load(path.read_text())

    webhook_patch, webhook_warnings = _through_the_webhook(case, variant.config)
    assert webhook_patch == golden["patch"]
    assert mutation.warnings == golden["warnings"]
    assert webhook_warnings == golden["warnings"]
    assert _through_the_cli(case, variant.flags, capsys) == golden["patch"]


def test_each_configuration_shows_in_the_patch() -> None:
    """The variants' goldens differ from the default exactly where the configuration says."""

    def status(variant: str, case: str) -> dict[str, Any]:
        golden = yaml.safe_load((GOLDEN / variant / f"{case}.yaml").read_text())
        annotations = golden["patchedPod"]["metadata"]["annotations"]
        return dict(json.loads(annotations["locust-finisher.io/status"]))

    assert status("cluster-ttl-90s", "operator-go-2.2-master")["ttl"] == "1m30s"
    assert status("cluster-ttl-90s", "annotated-master")["ttl"] != "1m30s", "annotation wins"
    assert status("strategy-controller", "operator-go-2.3-master")["strategy"] == "controller"
    custom = yaml.safe_load((GOLDEN / "custom-image" / "operator-java-1.1-master.yaml").read_text())
    finisher = custom["patchedPod"]["spec"]["containers"][0]
    assert finisher["image"] == "registry.example/lf/finisher:9.9"
