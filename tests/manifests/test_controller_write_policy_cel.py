"""The write policy's CEL, evaluated on the updates the controller makes and must not make.

A model of the API server's evaluation (cel-python, a dev dependency); the API server itself
is the cluster test's. The rendered chart is the policy users get; the kustomize component
renders the same (test_controller_write_policy).
"""

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.manifests.render import chart_objects
from tests.manifests.test_controller_write_policy import POLICY

celpy = pytest.importorskip("celpy")
celtypes = pytest.importorskip("celpy.celtypes")

OPTED_IN = {"metadata": {"labels": {"locust-finisher.io/inject": "enabled"}}}
SERVICE: dict[str, Any] = {
    "metadata": {"name": "t-master", "annotations": {"owner": "ops"}, "labels": {"app": "t"}},
    "spec": {
        "selector": {"performance-test-pod-name": "t-master"},
        "ports": [{"name": "master-p1", "port": 5557, "protocol": "TCP"}],
        "clusterIP": "10.96.0.10",
        "type": "ClusterIP",
    },
}


@pytest.fixture(scope="module")
def policy() -> dict[str, Any]:
    spec: dict[str, Any] = chart_objects("controller.writePolicy=true")[POLICY]["spec"]
    return spec


def refusals(
    policy: dict[str, Any], old: dict[str, Any], new: dict[str, Any], resource: str = "services"
) -> list[str]:
    """The messages of the validations an update by the controller fails (a Service's)."""
    environment = celpy.Environment()

    def evaluate(expression: str, variables: dict[str, Any]) -> Any:
        activation = {
            "object": celpy.json_to_cel(new),
            "oldObject": celpy.json_to_cel(old),
            "namespaceObject": celpy.json_to_cel(OPTED_IN),
            # As the API server sends it: an empty subResource is left out, not "".
            "request": celpy.json_to_cel({"resource": {"resource": resource}}),
            "variables": celtypes.MapType(
                {celtypes.StringType(k): v for k, v in variables.items()}
            ),
        }
        return environment.program(environment.compile(expression)).evaluate(activation)

    variables: dict[str, Any] = {}
    for variable in policy["variables"]:
        variables[variable["name"]] = evaluate(variable["expression"], variables)
    return [
        rule["message"]
        for rule in policy["validations"]
        if evaluate(rule["expression"], variables) != celtypes.BoolType(True)
    ]


def changed(
    change: Callable[[dict[str, Any]], None], base: dict[str, Any] = SERVICE
) -> dict[str, Any]:
    service = copy.deepcopy(base)
    change(service)
    return service


def publishing(value: bool) -> Callable[[dict[str, Any]], None]:
    return lambda service: service["spec"].__setitem__("publishNotReadyAddresses", value)


def test_the_controllers_own_patch_is_allowed(policy: dict[str, Any]) -> None:
    def ours(service: dict[str, Any]) -> None:
        publishing(True)(service)
        service["metadata"]["annotations"]["locust-finisher.io/fallback"] = "why"

    assert refusals(policy, SERVICE, changed(ours)) == []
    assert refusals(policy, changed(publishing(False)), changed(publishing(True))) == []


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s["spec"].__setitem__("selector", {"app": "anything"}),
        lambda s: s["spec"]["ports"][0].__setitem__("port", 22),
        lambda s: s["spec"].__setitem__("externalIPs", ["203.0.113.7"]),
        lambda s: s["spec"].pop("clusterIP"),
        lambda s: s["metadata"]["annotations"].__setitem__("owner", "us"),
        lambda s: s["metadata"]["labels"].__setitem__("app", "other"),
    ],
    ids=["selector", "port", "field-added", "field-removed", "annotation", "label"],
)
def test_anything_else_on_a_service_is_refused(
    policy: dict[str, Any], change: Callable[[dict[str, Any]], None]
) -> None:
    def with_publish(service: dict[str, Any]) -> None:
        publishing(True)(service)
        change(service)

    assert refusals(policy, SERVICE, changed(with_publish)), "refused even with the allowed change"


def test_publishing_is_taken_back_only_where_the_controller_set_it(policy: dict[str, Any]) -> None:
    published = changed(publishing(True))
    assert refusals(policy, published, changed(publishing(False)))
    assert refusals(policy, published, SERVICE)

    def ours(service: dict[str, Any]) -> None:
        publishing(True)(service)
        service["metadata"]["annotations"]["locust-finisher.io/fallback"] = "why"

    def set_back(service: dict[str, Any]) -> None:
        service["spec"].pop("publishNotReadyAddresses")
        del service["metadata"]["annotations"]["locust-finisher.io/fallback"]

    assert refusals(policy, changed(ours), changed(set_back, changed(ours))) == []


JOB: dict[str, Any] = {
    "metadata": {"name": "t-master", "annotations": {"owner": "ops"}},
    "spec": {
        "ttlSecondsAfterFinished": 0,
        "backoffLimit": 0,
        "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "job-uid"}},
        "template": {
            "metadata": {"labels": {"managed-by": "locust-k8s-operator"}},
            "spec": {"containers": [{"name": "master", "image": "locust"}]},
        },
    },
}
HELD = "locust-finisher.io/held-ttl-seconds-after-finished"


def test_the_controller_may_hold_and_set_a_jobs_ttl_with_its_annotations(
    policy: dict[str, Any],
) -> None:

    def held(job: dict[str, Any]) -> None:
        job["spec"].pop("ttlSecondsAfterFinished")
        job["metadata"]["annotations"][HELD] = "0"

    def kept(job: dict[str, Any]) -> None:
        job["spec"]["ttlSecondsAfterFinished"] = 3600
        del job["metadata"]["annotations"][HELD]
        job["metadata"]["annotations"]["locust-finisher.io/retention"] = "keep-failed 1h"

    holding = changed(held, JOB)
    assert refusals(policy, JOB, holding, "jobs") == []
    assert refusals(policy, holding, changed(kept, holding), "jobs") == []


def test_a_job_that_runs_no_locust_master_is_never_written(policy: dict[str, Any]) -> None:
    """A2: even a fooled controller cannot hold, then zero, a backup Job's TTL."""
    backup = changed(lambda j: j["spec"]["template"].pop("metadata"), JOB)
    backup["spec"]["ttlSecondsAfterFinished"] = 604800

    def zeroed(job: dict[str, Any]) -> None:
        job["spec"]["ttlSecondsAfterFinished"] = 0
        job["metadata"]["annotations"]["locust-finisher.io/retention"] = "keep-passed 0s"

    assert "the locust-finisher controller writes only to Jobs that run Locust masters" in (
        refusals(policy, backup, changed(zeroed, backup), "jobs")
    )


@pytest.mark.parametrize(
    "change",
    [
        lambda j: j["spec"].__setitem__("backoffLimit", 6),
        lambda j: j["spec"]["template"]["spec"]["containers"][0].__setitem__("image", "evil"),
        lambda j: j["spec"].__setitem__("suspend", True),
        lambda j: j["spec"].pop("backoffLimit"),
        lambda j: j["metadata"]["annotations"].__setitem__("owner", "us"),
    ],
    ids=["field", "image", "field-added", "field-removed", "annotation"],
)
def test_anything_else_on_a_job_is_refused(
    policy: dict[str, Any], change: Callable[[dict[str, Any]], None]
) -> None:

    def with_ttl(job: dict[str, Any]) -> None:
        job["spec"]["ttlSecondsAfterFinished"] = 60
        change(job)

    assert refusals(policy, JOB, changed(with_ttl, JOB), "jobs"), "refused with the TTL change"


def test_a_pods_spec_is_still_never_the_controllers_to_change(policy: dict[str, Any]) -> None:
    pod = {"metadata": {"annotations": {"locust-finisher.io/status": "{}"}}, "spec": JOB["spec"]}
    no_ttl = changed(lambda p: p["spec"].pop("ttlSecondsAfterFinished"), pod)
    assert refusals(policy, pod, no_ttl, "pods")
