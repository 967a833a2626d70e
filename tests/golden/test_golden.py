"""Golden tests of the one mutation function, on pods captured from the real API server.

Each ``tests/fixtures/pods/<case>.yaml`` is a pod as kube-apiserver hands it to a webhook
(captured by ``testkit/capture_pods.py``). Its golden file holds the decision, the
reason, the warnings, the JSON patch and the patched pod. Regenerate after a deliberate
change with ``UPDATE_GOLDEN=1 make test-unit`` and review the diff.
"""

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.core import names
from app.core.cluster_config import InjectionConfig
from app.core.inject import mutate_pod
from testkit.pod_fixtures import FIXTURES, apply_patch, load_pod, pod_cases, pod_rule_violations

GOLDEN = FIXTURES / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

# What a user expects of each case, written by hand: the golden files pin the details.
EXPECTED_DECISION = {
    "operator-java-1.1-master": ("mutate", "regular container"),
    "operator-go-2.2-master": ("mutate", "regular container"),
    "operator-go-2.3-master": ("mutate", "native sidecar"),
    "operator-opt-out-master": ("skip", "opted out"),
    "operator-go-2.2-otel-master": ("mutate", "OpenTelemetry mode?): no exporter to end"),
    "operator-java-0.2.1-master": ("skip", "predates /quitquitquit"),
    "operator-java-1.1-worker": ("skip", "worker"),
    "operator-go-2.2-worker": ("skip", "worker"),
    "operator-go-2.3-worker": ("skip", "worker"),
    "operator-go-2.2-otel-worker": ("skip", "worker"),
    "operator-java-0.2.1-worker": ("skip", "worker"),
    "operator-opt-out-worker": ("skip", "worker"),
    "operator-official-0.1.6-master": ("mutate", "(locustio/k8s-operator): master container"),
    "operator-official-0.1.6-worker": ("skip", "locustio/k8s-operator worker pod"),
    "annotated-master": ("mutate", "(annotation)"),
    "annotated-master-bad-values": ("mutate", "(annotation)"),
    "controller-strategy-master": ("mutate", "strategy controller"),
    "unannotated-master": ("skip", "not a Locust master"),
    "annotated-worker": ("skip", "worker"),
    "hostpid-master": ("skip", "hostPID"),
    # Mutated all the same, with a NoNumbers warning: the test still runs.
    "headless-master": ("mutate", "(annotation)"),
}


def _golden_path(case: str) -> Path:
    return GOLDEN / f"{case}.yaml"


def _result(case: str) -> dict[str, Any]:
    pod = load_pod(case)
    mutation = mutate_pod(pod, InjectionConfig())
    result: dict[str, Any] = {
        "decision": mutation.decision,
        "reason": mutation.reason,
        "warnings": mutation.warnings,
        "patch": mutation.ops,
    }
    if mutation.ops:
        result["patchedPod"] = apply_patch(pod, mutation.ops)
    return result


def test_every_case_has_an_expectation_and_a_golden_file() -> None:
    cases = set(pod_cases())
    assert cases == set(EXPECTED_DECISION), "a captured case lacks a hand-written expectation"
    goldens = {path.stem for path in GOLDEN.glob("*.yaml")}
    assert goldens == cases, f"orphaned or missing golden files: {goldens ^ cases}"


@pytest.mark.parametrize("case", pod_cases())
def test_mutation_matches_golden(case: str) -> None:
    result = _result(case)
    if UPDATE:
        _golden_path(case).write_text(yaml.safe_dump(result, sort_keys=False, width=100))
    golden = yaml.safe_load(_golden_path(case).read_text())
    assert result == golden


@pytest.mark.parametrize("case", pod_cases())
def test_decision_is_what_a_user_expects(case: str) -> None:
    decision, reason_part = EXPECTED_DECISION[case]
    mutation = mutate_pod(load_pod(case), InjectionConfig())
    assert mutation.decision == decision
    assert reason_part in mutation.reason


@pytest.mark.parametrize("case", [c for c, (d, _) in EXPECTED_DECISION.items() if d == "mutate"])
def test_patched_pod_keeps_the_pods_rules_and_a_second_pass_is_a_no_op(case: str) -> None:
    patched = apply_patch(load_pod(case), mutate_pod(load_pod(case), InjectionConfig()).ops)
    assert pod_rule_violations(patched) == []
    assert patched["metadata"]["labels"][names.MANAGED_LABEL] == "true"
    assert names.STATUS_ANNOTATION in patched["metadata"]["annotations"]

    again = mutate_pod(patched, InjectionConfig())
    assert again.decision == "skip"
    assert again.ops == []
    assert "already mutated" in again.reason


@pytest.mark.parametrize(
    "case",
    [c for c, (d, r) in EXPECTED_DECISION.items() if d == "mutate" and "controller" not in r],
)
def test_finisher_strategy_puts_the_finisher_first_and_shares_processes(case: str) -> None:
    original = load_pod(case)
    patched = apply_patch(original, mutate_pod(original, InjectionConfig()).ops)
    containers = patched["spec"]["containers"]
    assert containers[0]["name"] == names.FINISHER_CONTAINER
    assert containers[1:] == original["spec"]["containers"], "the user's containers are untouched"
    assert patched["spec"]["shareProcessNamespace"] is True
    assert containers[0]["lifecycle"]["postStart"]["exec"]["command"][:2] == [
        "locust-finisher",
        "await-ready",
    ]


def test_controller_strategy_only_labels_and_annotates() -> None:
    original = load_pod("controller-strategy-master")
    patched = apply_patch(original, mutate_pod(original, InjectionConfig()).ops)
    assert patched["spec"] == original["spec"]
    assert patched["metadata"]["labels"] == {names.MANAGED_LABEL: "true"}


def test_unusable_annotation_values_fall_back_with_a_warning_naming_each() -> None:
    mutation = mutate_pod(load_pod("annotated-master-bad-values"), InjectionConfig())
    assert mutation.decision == "mutate"
    assert len(mutation.warnings) == 3
    for annotation in (
        names.TTL_ANNOTATION,
        names.MAX_WAIT_ANNOTATION,
        names.WAIT_FOR_SCRAPE_ANNOTATION,
    ):
        assert any(w.startswith(annotation) for w in mutation.warnings), annotation
    assert all(len(w) <= 120 for w in mutation.warnings)
    env = {e["name"]: e["value"] for e in mutation.ops[1]["value"]["env"]}
    assert env["LOCUST_FINISHER_TTL"] == "auto"
    assert env["LOCUST_FINISHER_MAX_WAIT"] == "5m"
