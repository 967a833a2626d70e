"""The platforms users run: OpenShift's UID ranges, pod-level resources, LimitRanges, quotas.

Each refused the mutated master in 0.2 (measured on 1.36, docs/design.md) while admitting
it unmutated: a refusal, never a fail-open. Here each runs an operator-shaped test to its
verdict, all started together (tests/cluster/launches.py).

OpenShift cannot run here, so its ``restricted-v2`` SCC is emulated on the real API server,
as the stand-in the project allows: a MutatingAdmissionPolicy gives every pod of a namespace
labelled ``scc-emulation: restricted-v2`` the first UID of the namespace's
``openshift.io/sa.scc.uid-range`` (as the SCC assigns one), and a ValidatingAdmissionPolicy
refuses any container whose UID is outside that range (as the SCC does, after every
mutating webhook). With 0.2's fixed ``runAsUser: 65532`` the master pod was refused:
``runAsUser of container(s) locust-finisher=65532 not in the range [1000920000,
1000929999]``.
"""

from collections.abc import Iterator
from typing import Any

import pytest

from app.core import names
from app.core.injection_status import Fitting, read_status
from app.core.summary import decode_summary
from devcluster.cluster import LocalCluster
from tests.cluster.conftest import SharedCluster
from tests.cluster.launches import Launch, Started, start_selected
from tests.cluster.reporting import events_for

pytestmark = pytest.mark.cluster

UID_RANGE_ANNOTATION = "openshift.io/sa.scc.uid-range"
FIRST_UID = 1000920000
EMULATED = ("scc-emulation", "restricted-v2")
_POD_RULES = {
    "resourceRules": [
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}
    ],
    "namespaceSelector": {"matchLabels": dict([EMULATED])},
}
_FIRST = f"int(namespaceObject.metadata.annotations['{UID_RANGE_ANNOTATION}'].split('/')[0])"
_SIZE = f"int(namespaceObject.metadata.annotations['{UID_RANGE_ANNOTATION}'].split('/')[1])"
_UID_OF = (
    "(has(c.securityContext) && has(c.securityContext.runAsUser)"
    " ? c.securityContext.runAsUser : variables.podUid)"
)
SCC_EMULATION: list[dict[str, Any]] = [
    {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingAdmissionPolicy",
        "metadata": {"name": "emulated-scc-assigns-a-uid"},
        "spec": {
            "matchConstraints": _POD_RULES,
            "matchConditions": [
                {
                    "name": "no-uid-yet",
                    "expression": "!has(object.spec.securityContext)"
                    " || !has(object.spec.securityContext.runAsUser)",
                }
            ],
            "failurePolicy": "Fail",
            "reinvocationPolicy": "IfNeeded",
            "mutations": [
                {
                    "patchType": "ApplyConfiguration",
                    "applyConfiguration": {
                        "expression": "Object{spec: Object.spec{securityContext:"
                        f" Object.spec.securityContext{{runAsUser: {_FIRST}}}}}}}"
                    },
                }
            ],
        },
    },
    {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingAdmissionPolicyBinding",
        "metadata": {"name": "emulated-scc-assigns-a-uid"},
        "spec": {"policyName": "emulated-scc-assigns-a-uid"},
    },
    {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "emulated-scc-uid-range"},
        "spec": {
            "matchConstraints": _POD_RULES,
            "failurePolicy": "Fail",
            "variables": [
                {"name": "low", "expression": _FIRST},
                {"name": "high", "expression": f"{_FIRST} + {_SIZE} - 1"},
                {
                    "name": "podUid",
                    "expression": "has(object.spec.securityContext)"
                    " && has(object.spec.securityContext.runAsUser)"
                    " ? object.spec.securityContext.runAsUser : -1",
                },
                {
                    "name": "outside",
                    "expression": "(object.spec.containers + (has(object.spec.initContainers)"
                    " ? object.spec.initContainers : [])).filter(c,"
                    f" {_UID_OF} < variables.low || {_UID_OF} > variables.high)",
                },
            ],
            "validations": [
                {
                    "expression": "size(variables.outside) == 0",
                    "messageExpression": "'runAsUser of container(s) ' + variables.outside.map("
                    f"c, c.name + '=' + string({_UID_OF})).join(', ') + ' not in the range ['"
                    " + string(variables.low) + ', ' + string(variables.high) + ']'",
                }
            ],
        },
    },
    {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": "emulated-scc-uid-range"},
        "spec": {"policyName": "emulated-scc-uid-range", "validationActions": ["Deny"]},
    },
]

# What the master pod (two containers of 128Mi each) and its worker (128Mi) need beside the
# target (64Mi): the master fits, but not with the finisher's 32Mi.
QUOTA = {
    "apiVersion": "v1",
    "kind": "ResourceQuota",
    "metadata": {"name": "compute"},
    "spec": {"hard": {"requests.memory": "448Mi"}},
}
# The finisher's 10m and 32Mi requests are below this namespace's minimums.
LIMIT_RANGE = {
    "apiVersion": "v1",
    "kind": "LimitRange",
    "metadata": {"name": "minimums"},
    "spec": {"limits": [{"type": "Container", "min": {"cpu": "50m", "memory": "64Mi"}}]},
}

LAUNCHES = {
    "test_an_openshift_namespace_runs_the_test_with_every_container_as_its_assigned_uid": Launch(
        "plat-openshift",
        namespace_labels=(EMULATED,),
        namespace_annotations=((UID_RANGE_ANNOTATION, f"{FIRST_UID}/10000"),),
        target_fixed_uid=False,
    ),
    "test_a_master_with_pod_level_resources_stays_valid_and_finishes": Launch(
        "plat-pod-resources", pod_level_resources=True
    ),
    "test_a_quota_the_master_just_fits_runs_the_test_without_the_finisher": Launch(
        "plat-quota", namespace_objects=(QUOTA,), target_resources=True, master_last=True
    ),
    "test_a_limit_range_above_the_finisher_s_defaults_fits_it_and_says_so": Launch(
        "plat-limits", namespace_objects=(LIMIT_RANGE,), target_resources=True, cpu_request="50m"
    ),
}


@pytest.fixture(scope="module")
def started(
    shared_cluster: SharedCluster,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Started]:
    cluster = shared_cluster.get()
    cluster.apply(SCC_EMULATION)
    try:
        yield from start_selected(LAUNCHES, shared_cluster, request, tmp_path_factory)
    finally:
        for item in reversed(SCC_EMULATION):
            cluster.kubectl("delete", item["kind"], item["metadata"]["name"], check=False)


def finished_with_the_finisher(started: Started, namespace: str) -> dict[str, Any]:
    """The master pod, once the test passed with its finisher ending it; the summary."""
    outcome = started.outcome(namespace)
    assert (outcome.phase, outcome.job_condition) == ("Succeeded", "Complete")
    assert outcome.terminated("e2e-master")["exitCode"] == 0
    finisher = outcome.terminated(names.FINISHER_CONTAINER)
    assert finisher["exitCode"] == 0
    summary = decode_summary(finisher["message"])
    assert summary is not None
    # It saw the master's numbers and ended the exporter itself.
    assert outcome.locust_requests
    assert summary["requests"] == outcome.locust_requests
    assert outcome.terminated("locust-metrics-exporter")["exitCode"] == 0
    return outcome.pod


def fitting_event(cluster: LocalCluster, pod: dict[str, Any], reason: str) -> str:
    events = events_for(cluster, pod["metadata"]["namespace"], "Pod", pod["metadata"]["name"])
    found = [event["message"] for event in events if event["reason"] == reason]
    assert found, f"no {reason} Event on the pod"
    return str(found[0])


def test_an_openshift_namespace_runs_the_test_with_every_container_as_its_assigned_uid(
    started: Started,
) -> None:
    pod = finished_with_the_finisher(started, "plat-openshift")
    assert pod["spec"]["securityContext"]["runAsUser"] == FIRST_UID
    finisher = next(c for c in pod["spec"]["containers"] if c["name"] == names.FINISHER_CONTAINER)
    assert "runAsUser" not in finisher["securityContext"]


def test_a_master_with_pod_level_resources_stays_valid_and_finishes(started: Started) -> None:
    pod = finished_with_the_finisher(started, "plat-pod-resources")
    # Its two containers' 10m and 128Mi each, and the finisher's 10m and 32Mi.
    assert pod["spec"]["resources"]["requests"] == {"cpu": "30m", "memory": "288Mi"}


def test_a_quota_the_master_just_fits_runs_the_test_without_the_finisher(started: Started) -> None:
    outcome = started.outcome("plat-quota")
    assert (outcome.phase, outcome.job_condition) == ("Succeeded", "Complete")
    containers = [c["name"] for c in outcome.pod["spec"]["containers"]]
    assert names.FINISHER_CONTAINER not in containers
    status = read_status(outcome.pod["metadata"]["annotations"])
    assert status is not None
    assert status.fitting is Fitting.LEFT_OUT
    assert "ResourceQuota compute" in status.fitting_reason
    # The controller ended the exporter, and said why the finisher was not there.
    annotations = outcome.pod["metadata"]["annotations"]
    assert annotations.get(names.EXPORTER_STOPPED_ANNOTATION) == "controller"
    message = fitting_event(started.cluster, outcome.pod, "FinisherLeftOut")
    assert "ResourceQuota compute has" in message


def test_a_limit_range_above_the_finisher_s_defaults_fits_it_and_says_so(
    started: Started,
) -> None:
    pod = finished_with_the_finisher(started, "plat-limits")
    finisher = next(c for c in pod["spec"]["containers"] if c["name"] == names.FINISHER_CONTAINER)
    assert finisher["resources"]["requests"] == {"cpu": "50m", "memory": "64Mi"}
    message = fitting_event(started.cluster, pod, "FinisherResized")
    assert "cpu request 10m -> 50m (LimitRange minimums minimum)" in message
