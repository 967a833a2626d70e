"""The report write policy's CEL: the controller writes its report ConfigMaps and no other.

A model of the API server's evaluation (cel-python), as test_controller_write_policy_cel.py
does for the main policy; test_controller_write_policy.py checks that the kustomize
component renders the chart's.
"""

import copy
from typing import Any

import pytest

from app.core import names
from tests.manifests.render import chart_objects
from tests.manifests.test_controller_write_policy import REPORT_POLICY as POLICY

celpy = pytest.importorskip("celpy")
celtypes = pytest.importorskip("celpy.celtypes")

OPTED_IN = {"metadata": {"labels": {"locust-finisher.io/inject": "enabled"}}}
REPORT: dict[str, Any] = {
    "metadata": {
        "name": "t-master-abc-report",
        "labels": {names.REPORT_OF_LABEL: "pod-uid", names.REPORT_JOB_LABEL: "t-master"},
    },
    "binaryData": {"report.html.gz": "H4sI"},
}
USERS: dict[str, Any] = {"metadata": {"name": "app-settings"}, "data": {"url": "x"}}


@pytest.fixture(scope="module")
def policy() -> dict[str, Any]:
    spec: dict[str, Any] = chart_objects("controller.writePolicy=true")[POLICY]["spec"]
    return spec


def refusals(
    policy: dict[str, Any],
    old: dict[str, Any] | None,
    new: dict[str, Any],
    namespace: dict[str, Any] = OPTED_IN,
) -> list[str]:
    environment = celpy.Environment()
    request = {
        "resource": {"resource": "configmaps"},
        "operation": "CREATE" if old is None else "UPDATE",
    }
    activation = {
        "object": celpy.json_to_cel(new),
        "oldObject": celpy.json_to_cel(old),
        "namespaceObject": celpy.json_to_cel(namespace),
        "request": celpy.json_to_cel(request),
    }
    return [
        rule["message"]
        for rule in policy["validations"]
        if environment.program(environment.compile(rule["expression"])).evaluate(activation)
        != celtypes.BoolType(True)
    ]


def test_the_controller_creates_and_replaces_its_report_configmaps(policy: dict[str, Any]) -> None:
    assert refusals(policy, None, REPORT) == []
    newer = copy.deepcopy(REPORT)
    newer["binaryData"] = {"stats.json.gz": "H4sI"}
    assert refusals(policy, REPORT, newer) == []


def test_any_other_configmap_is_refused(policy: dict[str, Any]) -> None:
    assert refusals(policy, None, USERS), "creating one"
    labelled = copy.deepcopy(USERS)
    labelled["metadata"]["labels"] = dict(REPORT["metadata"]["labels"])
    assert refusals(policy, USERS, labelled), "taking a user's over by labelling it"
    other_pod = copy.deepcopy(REPORT)
    other_pod["metadata"]["labels"][names.REPORT_OF_LABEL] = "another-pod"
    assert refusals(policy, REPORT, other_pod), "turning one pod's report into another's"


def test_only_in_namespaces_that_opted_in(policy: dict[str, Any]) -> None:
    assert refusals(policy, None, REPORT, namespace={"metadata": {}})


def test_it_matches_only_the_controller_and_only_configmaps(policy: dict[str, Any]) -> None:
    (rule,) = policy["matchConstraints"]["resourceRules"]
    assert (rule["resources"], sorted(rule["operations"])) == (["configmaps"], ["CREATE", "UPDATE"])
    (condition,) = policy["matchConditions"]
    assert "system:serviceaccount:" in condition["expression"]
