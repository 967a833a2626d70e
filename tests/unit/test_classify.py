"""Edge cases of recognising Locust masters, on small hand-built pods."""

from typing import Any

import pytest

from app.core import names
from app.core.classify import LocustMaster, NotManaged, classify_pod
from app.core.inject import InjectionConfig, mutate_pod


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
        (opted_in(MASTER), "no container serves port 9646"),
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
    assert (found.locust_web_port, found.exporter.port) == (web_port, exporter_port)
    mutation = mutate_pod(pod, InjectionConfig())
    assert mutation.decision == "mutate"
    usable = (web_port, exporter_port) == (8090, 9647)
    assert bool(mutation.warnings) is not usable, mutation.warnings
