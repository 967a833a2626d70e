"""The controller's write policy: installed where the API has it, the same from both paths.

Its CEL is proven on a real API server (tests/cluster); here, that it renders where it
should, binds what it defines, and watches the controller's own ServiceAccount alone.
"""

import os
from pathlib import Path
from typing import Any

from tests.manifests.render import (
    CHART,
    MANIFESTS,
    NAMESPACE,
    Key,
    chart_objects,
    helm,
    kustomize_objects,
    objects,
)
from tests.manifests.test_chart_matches_kustomize import normalised

VAP = "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy"
POLICY: Key = ("ValidatingAdmissionPolicy", "", "locust-finisher-controller-writes")
BINDING: Key = ("ValidatingAdmissionPolicyBinding", "", "locust-finisher-controller-writes")
# Its second policy, for the report ConfigMaps (test_report_write_policy_cel.py).
REPORT_POLICY: Key = ("ValidatingAdmissionPolicy", "", "locust-finisher-controller-report-writes")
REPORT_BINDING: Key = (
    "ValidatingAdmissionPolicyBinding",
    "",
    "locust-finisher-controller-report-writes",
)


def relative(path: Path, start: Path) -> str:
    """kustomize takes only relative paths to other kustomizations."""
    return os.path.relpath(path, start)


def chart_on(kube_version: str, *args: str) -> dict[Key, dict[str, Any]]:
    rendered = helm(
        "template", "lf", str(CHART), "-n", NAMESPACE, "--kube-version", kube_version, *args
    )
    assert rendered.returncode == 0, rendered.stderr
    return objects(rendered.stdout)


def test_auto_installs_it_only_where_the_api_server_serves_it() -> None:
    assert POLICY not in chart_on("v1.28.15")
    assert POLICY not in chart_on("v1.29.10")
    with_api = chart_on("v1.30.0", "--api-versions", VAP)
    assert {POLICY, BINDING} <= set(with_api)
    assert POLICY not in chart_on(
        "v1.30.0", "--api-versions", VAP, "--set", "controller.writePolicy=false"
    )


def test_the_chart_and_the_kustomize_component_make_the_same_policy(tmp_path: Path) -> None:
    # The component on top of an overlay, as the component's own comment shows users.
    overlay = relative(MANIFESTS / "overlays" / "cert-manager", tmp_path)
    component = relative(MANIFESTS / "components" / "controller-write-policy", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources:\n  - {overlay}\ncomponents:\n  - {component}\n"
    )
    kustomized = kustomize_objects(tmp_path)
    chart = chart_objects("certManager.enabled=true", "controller.writePolicy=true")
    for key in (POLICY, BINDING, REPORT_POLICY, REPORT_BINDING):
        assert normalised(chart[key]) == normalised(kustomized[key]), key


def test_it_binds_its_own_policy_denies_and_fails_closed() -> None:
    found = chart_objects("controller.writePolicy=true")
    policy, binding = found[POLICY]["spec"], found[BINDING]["spec"]
    assert binding == {"policyName": POLICY[2], "validationActions": ["Deny"]}
    # A policy the API server cannot evaluate must not let a write through.
    assert policy["failurePolicy"] == "Fail"
    rules = {
        (rule["apiGroups"][0], rule["resources"][0], tuple(rule["operations"]))
        for rule in policy["matchConstraints"]["resourceRules"]
    }
    assert rules == {
        ("", "pods", ("UPDATE",)),
        ("batch", "jobs", ("UPDATE",)),
        ("", "services", ("UPDATE",)),
        ("locust.io", "locusttests", ("UPDATE",)),
    }


def test_it_concerns_the_controllers_service_account_and_no_one_else() -> None:
    found = chart_objects("controller.writePolicy=true", "controller.serviceAccount.name=lf-ctl")
    [condition] = found[POLICY]["spec"]["matchConditions"]
    assert condition["expression"] == (
        f'request.userInfo.username == "system:serviceaccount:{NAMESPACE}:lf-ctl"'
    )


def test_every_rule_says_what_it_refuses() -> None:
    validations = chart_objects("controller.writePolicy=true")[POLICY]["spec"]["validations"]
    text = " ".join(v["expression"] for v in validations)
    # Opted-in namespaces, pods the webhook mutated, nothing but our own keys, no spec change
    # but a Service's publishNotReadyAddresses (to true, and back), Jobs of Locust masters only.
    for needle in (
        'namespaceObject.metadata.labels[k] == "enabled"',
        '"locust-finisher.io/admission" in variables.oldAnnotations',
        'request.resource.resource != "jobs" || variables.locustTemplate',
        "object.spec == oldObject.spec",
        'k.startsWith("locust-finisher.io/")',
        'k == "publishNotReadyAddresses" ||',
        "variables.newSpec.publishNotReadyAddresses == true",
    ):
        assert needle in text, needle
    assert all(v["reason"] == "Forbidden" and v["message"] for v in validations)
