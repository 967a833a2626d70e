"""Goldens for what users write: each workload's pod, through the preview and the webhook.

``locust-finisher mutate -f <workload>`` makes the pod the workload's controller (or, for a
LocustTest, the operator) would create, and mutates it. Its golden holds that pod and the
webhook's decision on it; the webhook, handed the same pod in an AdmissionReview, must give
exactly the golden's patch, and so must the preview of the workload itself. Regenerate with
``UPDATE_GOLDEN=1`` and review the diff.
"""

import base64
import json
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from app.cli.main import main
from app.core.cluster_config import InjectionConfig
from app.core.inject import mutate_pod
from app.core.workloads import previews
from app.webhook.handler import handle_review
from testkit.pod_fixtures import FIXTURES, pod_review

WORKLOADS = FIXTURES / "workloads"
GOLDEN = FIXTURES / "golden" / "workloads"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
# Each fixture with the locust-k8s-operator release its LocustTests are made as.
CASES = [(path.stem, "go-2.3") for path in sorted(WORKLOADS.glob("*.yaml"))] + [
    ("locusttest-v1", "java-1.1"),
    ("locusttest-v2", "go-2.2"),
]
IDS = [f"{case}:{operator}" for case, operator in CASES]

# What a user expects of each preview, by hand: (source, decision); the goldens pin the rest.
EXPECTED = {
    "cronjob-annotated-master": [("cronjob/nightly", "mutate")],
    "deployment-annotated-master": [("deployment/locust-master", "mutate")],
    "job-annotated-master": [("job/nightly-master", "mutate")],
    "locusttest-v1": [("locusttest/search.soak", "mutate")],
    "locusttest-v2": [("locusttest/checkout.smoke", "mutate")],
    "multi-document": [("job/quick-master", "mutate"), ("deployment/quick-worker", "skip")],
    "statefulset-annotated-master": [("statefulset/locust", "mutate")],
}


def _documents(case: str) -> Any:
    documents = list(yaml.safe_load_all((WORKLOADS / f"{case}.yaml").read_text()))
    return documents[0] if len(documents) == 1 else {"kind": "List", "items": documents}


def _golden_path(case: str, operator: str) -> Path:
    suffix = "" if operator == "go-2.3" else f"-{operator}"
    return GOLDEN / f"{case}{suffix}.yaml"


def _through_the_webhook(pod: dict[str, Any]) -> list[Any]:
    answer = handle_review(orjson.dumps(pod_review(pod, namespace="loadtests")), InjectionConfig())
    response = orjson.loads(answer.body)["response"]
    assert response["allowed"] is True
    return json.loads(base64.b64decode(response["patch"])) if "patch" in response else []


def test_every_workload_has_an_expectation_and_a_golden_file() -> None:
    cases = {path.stem for path in WORKLOADS.glob("*.yaml")}
    assert cases == set(EXPECTED)
    goldens = {path.name for path in GOLDEN.glob("*.yaml")}
    assert goldens == {_golden_path(case, operator).name for case, operator in CASES}


@pytest.mark.parametrize(("case", "operator"), CASES, ids=IDS)
def test_the_preview_and_the_webhook_give_the_golden_patch(
    case: str, operator: str, capsys: pytest.CaptureFixture[str]
) -> None:
    found = previews(_documents(case), operator)
    results: list[dict[str, Any]] = []
    for preview in found:
        mutation = mutate_pod(preview.pod, InjectionConfig())
        results.append({
            "source": preview.source,
            "decision": mutation.decision,
            "reason": mutation.reason,
            "warnings": mutation.warnings,
            "pod": preview.pod,
            "patch": mutation.ops,
        })  # fmt: skip
    path = _golden_path(case, operator)
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump(results, sort_keys=False, width=100))
    golden = yaml.safe_load(path.read_text())
    assert results == golden
    expected = EXPECTED[case]
    assert [(r["source"].split(" ")[0], r["decision"]) for r in results] == expected

    for preview, pinned in zip(found, golden, strict=True):
        assert _through_the_webhook(preview.pod) == pinned["patch"]
    flags = ["--operator", operator]
    assert main(["mutate", "-f", str(WORKLOADS / f"{case}.yaml"), "-o", "patch", *flags]) == 0
    printed = json.loads(capsys.readouterr().out)
    patches = [printed] if len(golden) == 1 else printed
    assert patches == [pinned["patch"] for pinned in golden]
