"""Edge cases of recognising Locust masters, on small hand-built pods."""

import json
from typing import Any

import pytest

from app.core import env_names, names
from app.core import finisher_spec as spec
from app.core.classify import LocustMaster, NotManaged, classify_pod
from app.core.cluster_config import InjectionConfig
from app.core.inject import mutate_pod
from testkit.pod_fixtures import apply_patch


def opted_in(
    *containers: dict[str, Any],
    annotations: dict[str, str] | None = None,
    init: list[dict[str, Any]] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "kind": "Pod",
        "metadata": {"annotations": {names.INJECT_ANNOTATION: "true", **(annotations or {})}},
        "spec": {"containers": list(containers), **spec},
    }
    if init:
        pod["spec"]["initContainers"] = init
    return pod


MASTER = {"name": "m", "image": "locustio/locust", "args": ["--master", "--autostart"]}
EXPORTER = {"name": "e", "image": "containersol/locust_exporter:v0.5.2"}


def test_a_shell_wrapped_master_and_an_exporter_on_a_custom_port() -> None:
    master = {
        "name": "m",
        "image": "my/locust",
        "command": ["sh", "-c", "locust -f x.py --master -P 9000"],
    }
    exporter = {
        "name": "e",
        "image": "my/exporter@sha256:abc",
        "env": [{"name": "LOCUST_EXPORTER_WEB_LISTEN_ADDRESS", "value": ":9700"}],
        "ports": [{"containerPort": 9646}],
    }
    found = classify_pod(opted_in(master, exporter))
    assert isinstance(found, LocustMaster)
    assert found.exporter is not None
    assert (
        found.master_container,
        found.exporter.name,
        found.exporter.port,
        found.locust_web_port,
    ) == ("m", "e", 9700, 9000)


def test_containers_named_by_annotation_win_and_may_be_a_native_sidecar() -> None:
    sidecar = {"name": "exp", "image": "anything", "restartPolicy": "Always"}
    pod = opted_in(
        {"name": "a", "args": ["--master"]},
        {"name": "b", "args": ["--master"]},
        annotations={
            names.MASTER_CONTAINER_ANNOTATION: "b",
            names.EXPORTER_CONTAINER_ANNOTATION: "exp",
        },
        init=[sidecar],
    )
    found = classify_pod(pod)
    assert isinstance(found, LocustMaster)
    assert found.exporter is not None
    assert found.master_container == "b"
    assert found.exporter.native_sidecar


@pytest.mark.parametrize(
    ("pod", "reason"),
    [
        ("not a dict", "not a Pod"),
        ({"kind": "Deployment"}, "not a Pod"),
        (opted_in(), "no spec.containers"),
        (
            opted_in(
                {"name": "a", "args": ["--master"]}, {"name": "b", "args": ["--master"]}, EXPORTER
            ),
            "several containers carry --master",
        ),
        (opted_in(MASTER, annotations={names.EXPORTER_CONTAINER_ANNOTATION: "nope"}), "'nope'"),
        (opted_in(MASTER, annotations={names.MASTER_CONTAINER_ANNOTATION: "nope"}), "'nope'"),
        (opted_in({"args": ["--master"]}, EXPORTER), "has no name"),
        (
            opted_in(MASTER, {**EXPORTER, "image": "containersol/locust_exporter:0.4.3"}),
            "predates /quitquitquit",
        ),
        (
            opted_in(MASTER, EXPORTER, annotations={names.STATUS_ANNOTATION: "{}"}),
            "already mutated",
        ),
        (opted_in(MASTER, EXPORTER, {"name": names.FINISHER_CONTAINER}), "already has a container"),
        (opted_in(MASTER, EXPORTER, annotations={names.MIRROR_POD_ANNOTATION: "x"}), "mirror pod"),
        (
            {
                "kind": "Pod",
                "metadata": {"labels": {"managed-by": "locust-k8s-operator"}},
                "spec": {"containers": [MASTER]},
            },
            "without a performance-test-pod-name",
        ),
    ],
)
def test_pods_left_alone_say_why(pod: Any, reason: str) -> None:
    found = classify_pod(pod)
    assert isinstance(found, NotManaged)
    assert reason in found.reason


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"shareProcessNamespace": False}, "explicitly false"),
        ({"os": {"name": "windows"}}, "Windows"),
    ],
)
def test_the_finisher_needs_a_shared_process_namespace(spec: dict[str, Any], reason: str) -> None:
    mutation = mutate_pod(opted_in(MASTER, EXPORTER, **spec), InjectionConfig())
    assert mutation.decision == "skip"
    assert reason in mutation.reason
    assert "strategy: controller" in mutation.reason


def test_an_already_shared_process_namespace_is_not_patched_again() -> None:
    mutation = mutate_pod(opted_in(MASTER, EXPORTER, shareProcessNamespace=True), InjectionConfig())
    assert mutation.decision == "mutate"
    assert not any(op["path"] == "/spec/shareProcessNamespace" for op in mutation.ops)


@pytest.mark.parametrize(
    ("master_args", "listen", "web_port", "exporter_port"),
    [
        (["--master", "--web-port", "²"], None, 8089, 9646),
        (["--master", "--web-port=99999999999999999999"], None, 8089, 9646),
        (["--master", "--web-port", "0"], None, 8089, 9646),
        (["--master"], ":²", 8089, 9646),
        (["--master"], ":99999999999999999999", 8089, 9646),
        (["--master"], ":70000", 8089, 9646),
        (["--master", "--web-port", "8090"], ":9647", 8090, 9647),
    ],
)
def test_ports_that_are_not_ports_fall_back_to_the_defaults_with_a_warning(
    master_args: list[str], listen: str | None, web_port: int, exporter_port: int
) -> None:
    exporter: dict[str, object] = {
        "name": "exporter",
        "image": "containersol/locust_exporter:v0.5.2",
    }
    if listen is not None:
        exporter["env"] = [{"name": "LOCUST_EXPORTER_WEB_LISTEN_ADDRESS", "value": listen}]
    pod = {
        "metadata": {"annotations": {"locust-finisher.io/inject": "true"}},
        "spec": {
            "containers": [
                {"name": "master", "image": "locustio/locust", "args": master_args},
                exporter,
            ]
        },
    }
    found = classify_pod(pod)
    assert isinstance(found, LocustMaster)
    assert found.exporter is not None
    assert (found.locust_web_port, found.exporter.port) == (web_port, exporter_port)
    mutation = mutate_pod(pod, InjectionConfig())
    assert mutation.decision == "mutate"
    usable = (web_port, exporter_port) == (8090, 9647)
    assert bool(mutation.warnings) is not usable, mutation.warnings


def official(component: str, *containers: dict[str, Any], **annotations: str) -> dict[str, Any]:
    """A pod as locustio/k8s-operator's Jobs make them: two locust.io labels, nothing else."""
    return {
        "kind": "Pod",
        "metadata": {
            "labels": {
                names.OFFICIAL_COMPONENT_LABEL: component,
                names.OFFICIAL_TEST_RUN_LABEL: "t",
                "job-name": f"t-{component}",
            },
            "annotations": annotations,
        },
        "spec": {"containers": list(containers)},
    }


OFFICIAL_MASTER = {"name": "locust-master", "args": ["--master", "--headless"]}


def test_the_official_operators_master_is_managed_without_an_exporter() -> None:
    found = classify_pod(official("master", OFFICIAL_MASTER))
    assert isinstance(found, LocustMaster)
    assert (found.origin, found.master_container, found.exporter) == (
        "locustio/k8s-operator",
        "locust-master",
        None,
    )
    assert "no exporter to end" in found.reason


@pytest.mark.parametrize(
    ("pod", "reason"),
    [
        (
            official("worker", {"name": "locust-worker", "args": ["--worker"]}),
            "locustio/k8s-operator worker pod",
        ),
        (official("configmap", OFFICIAL_MASTER), "component 'configmap'"),
        (
            official("master", OFFICIAL_MASTER, **{names.INJECT_ANNOTATION: "false"}),
            "opted out",
        ),
        (
            official("master", OFFICIAL_MASTER, **{names.EXPORTER_CONTAINER_ANNOTATION: "exp"}),
            "names 'exp'",
        ),
    ],
)
def test_other_official_operator_pods_say_why_they_are_left_alone(pod: Any, reason: str) -> None:
    found = classify_pod(pod)
    assert isinstance(found, NotManaged)
    assert reason in found.reason


def test_an_otel_operator_master_is_managed_without_an_exporter() -> None:
    pod: dict[str, Any] = {
        "kind": "Pod",
        "metadata": {
            "labels": {"managed-by": "locust-k8s-operator", "performance-test-pod-name": "t-master"}
        },
        "spec": {"containers": [{"name": "t-master", "args": ["--master", "--otel"]}]},
    }
    found = classify_pod(pod)
    assert isinstance(found, LocustMaster)
    assert (found.origin, found.exporter) == ("locust-k8s-operator", None)
    assert "OpenTelemetry mode?" in found.reason
    pod["metadata"]["annotations"] = {names.EXPORTER_CONTAINER_ANNOTATION: "gone"}
    named_wrongly = classify_pod(pod)
    assert isinstance(named_wrongly, NotManaged)
    assert "names 'gone'" in named_wrongly.reason


def test_an_opted_in_master_without_an_exporter_is_managed_without_one() -> None:
    found = classify_pod(opted_in(MASTER))
    assert isinstance(found, LocustMaster)
    assert (found.origin, found.master_container, found.exporter) == ("annotation", "m", None)
    assert "no container serves port 9646" in found.reason


@pytest.mark.parametrize("strategy", ["finisher", "controller"])
def test_a_master_without_an_exporter_gets_a_finisher_told_there_is_none(strategy: str) -> None:
    pod = official("master", OFFICIAL_MASTER, **{names.STRATEGY_ANNOTATION: strategy})
    mutation = mutate_pod(pod, InjectionConfig())
    assert mutation.decision == "mutate"
    patched = apply_patch(pod, mutation.ops)
    status = json.loads(patched["metadata"]["annotations"][names.STATUS_ANNOTATION])
    assert status["exporterContainer"] is None
    assert "exporterPort" not in status
    assert "exporterSidecar" not in status
    finisher = patched["spec"]["containers"][0]
    if strategy == "controller":
        assert finisher["name"] == "locust-master"
        assert "the controller records the verdict" in mutation.reason
        return
    env = {variable["name"]: variable["value"] for variable in finisher["env"]}
    assert env[env_names.ENV_EXPORTER_URL] == spec.EXPORTER_NONE
    assert env_names.ENV_EXPORTER_CONTAINER not in env
    assert env_names.ENV_EXPORTER_SIDECAR not in env
    # The finisher still finds the master's process: it needs the shared process namespace.
    assert patched["spec"]["shareProcessNamespace"] is True
