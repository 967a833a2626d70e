"""The report write policy's CEL: the controller writes its report and history ConfigMaps only.

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
HISTORY: dict[str, Any] = {
    "metadata": {
        "name": "locust-finisher-history-0123456789",
        "labels": {names.MANAGED_BY_LABEL: names.MANAGED_BY_VALUE, names.HISTORY_LABEL: "true"},
    },
    "data": {"runs.json": "[]", "counts.json": "{}"},
}


@pytest.fixture(scope="module")
def policy() -> dict[str, Any]:
    spec: dict[str, Any] = chart_objects("controller.writePolicy=true")[POLICY]["spec"]
    return spec


def refusals(
    policy: dict[str, Any],
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    namespace: dict[str, Any] = OPTED_IN,
) -> list[str]:
    """The messages of the validations a write fails: a create (no ``old``), an update, or a
    delete (no ``new``)."""
    environment = celpy.Environment()
    operation = "CREATE" if old is None else "DELETE" if new is None else "UPDATE"
    request = {"resource": {"resource": "configmaps"}, "operation": operation}

    def evaluate(expression: str, variables: dict[str, Any]) -> Any:
        activation = {
            "object": celpy.json_to_cel(new),
            "oldObject": celpy.json_to_cel(old),
            "namespaceObject": celpy.json_to_cel(namespace),
            "request": celpy.json_to_cel(request),
            "variables": celtypes.MapType(
                {celtypes.StringType(k): v for k, v in variables.items()}
            ),
        }
        return environment.program(environment.compile(expression)).evaluate(activation)

    variables: dict[str, Any] = {}
    for variable in policy.get("variables", []):
        variables[variable["name"]] = evaluate(variable["expression"], variables)
    return [
        rule["message"]
        for rule in policy["validations"]
        if evaluate(rule["expression"], variables) != celtypes.BoolType(True)
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


def test_the_controller_creates_replaces_and_deletes_test_histories(
    policy: dict[str, Any],
) -> None:
    assert refusals(policy, None, HISTORY) == []
    newer = copy.deepcopy(HISTORY)
    newer["data"]["runs.json"] = '[{"uid": "u1"}]'
    assert refusals(policy, HISTORY, newer) == []
    assert refusals(policy, newer, None) == [], "an expired history"


def test_it_deletes_no_other_configmap(policy: dict[str, Any]) -> None:
    assert refusals(policy, USERS, None), "a user's"
    assert refusals(policy, REPORT, None), "a report: its Job's garbage collection deletes it"


def test_a_users_configmap_is_never_taken_over_as_a_history(policy: dict[str, Any]) -> None:
    labelled = copy.deepcopy(USERS)
    labelled["metadata"]["labels"] = dict(HISTORY["metadata"]["labels"])
    assert refusals(policy, USERS, labelled), "labelling it a history"
    unlabelled = copy.deepcopy(HISTORY)
    del unlabelled["metadata"]["labels"][names.HISTORY_LABEL]
    assert refusals(policy, HISTORY, unlabelled), "a history made into anything else"


def test_only_in_namespaces_that_opted_in(policy: dict[str, Any]) -> None:
    assert refusals(policy, None, REPORT, namespace={"metadata": {}})
    assert refusals(policy, None, HISTORY, namespace={"metadata": {}})


def test_it_matches_only_the_controller_and_only_configmaps(policy: dict[str, Any]) -> None:
    (rule,) = policy["matchConstraints"]["resourceRules"]
    assert (rule["resources"], sorted(rule["operations"])) == (
        ["configmaps"],
        ["CREATE", "DELETE", "UPDATE"],
    )
    (condition,) = policy["matchConditions"]
    assert "system:serviceaccount:" in condition["expression"]
