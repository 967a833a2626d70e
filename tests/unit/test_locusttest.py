"""A LocustTest's master pod as each operator release makes it, against the captured pods.

tests/fixtures/pods holds master pods of each release as the API server admitted them; a
LocustTest asking for the same test must give the same pod where the webhook looks: labels,
annotations, containers, their images, arguments and environment, and the exporter's place.
"""

from typing import Any

import pytest

from app.core.locusttest import LocustTestError, master_job
from app.core.workloads import WorkloadError, job_pod, previews
from testkit.pod_fixtures import load_pod

SEED = "--locustfile /lotest/src/locustfile.py --host http://target:8080 --users 4 --spawn-rate 4 --run-time 10s"  # noqa: E501


def v2(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "locust.io/v2",
        "kind": "LocustTest",
        "metadata": {"name": name, "namespace": "golden"},
        "spec": {
            "image": "locustio/locust:2.47.0",
            "master": {"command": SEED, "autoquit": {"enabled": True, "timeout": 5}},
            "worker": {"command": SEED, "replicas": 1},
            "testFiles": {"configMapRef": "demo-locustfile"},
        },
    }


def v1(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "locust.io/v1",
        "kind": "LocustTest",
        "metadata": {"name": name, "namespace": "golden"},
        "spec": {
            "image": "locustio/locust:2.47.0",
            "masterCommandSeed": SEED,
            "workerCommandSeed": SEED,
            "workerReplicas": 1,
            "configMap": "demo-locustfile",
        },
    }


def where_the_webhook_looks(pod: dict[str, Any]) -> dict[str, Any]:
    def container(c: dict[str, Any]) -> tuple[Any, ...]:
        return (c["name"], c["image"], c.get("args"), c.get("env"), c.get("restartPolicy"))

    labels = {k: v for k, v in pod["metadata"]["labels"].items() if "controller-uid" not in k}
    return {
        "generateName": pod["metadata"]["generateName"],
        "labels": labels,
        "annotations": pod["metadata"].get("annotations"),
        "containers": [container(c) for c in pod["spec"]["containers"]],
        "initContainers": [container(c) for c in pod["spec"].get("initContainers", [])],
        "owner": [(o["kind"], o["name"]) for o in pod["metadata"]["ownerReferences"]],
    }


@pytest.mark.parametrize(
    ("operator", "test"),
    [("go-2.3", v2("t-go-23")), ("go-2.2", v2("t-go-22")), ("java-1.1", v1("t-java-11"))],
)
def test_the_master_pod_is_the_operators(operator: str, test: dict[str, Any]) -> None:
    captured = where_the_webhook_looks(load_pod(f"operator-{operator}-master"))
    made = where_the_webhook_looks(job_pod(master_job(test, operator)))
    if operator == "java-1.1":
        # The Java operator always quits 60 s after the run; the captured pods came from
        # devcluster/operator_shapes.py, which gives every version the test's --autoquit 5.
        name, image, args, env, policy = made["containers"][0]
        args = [*args[: args.index("--autoquit") + 1], "5", *args[args.index("--autoquit") + 2 :]]
        made["containers"][0] = (name, image, args, env, policy)
    assert made == captured


def test_a_v1_test_is_converted_as_the_go_operator_converts_it() -> None:
    pod = job_pod(master_job(v1("t-go-23"), "go-2.3"))
    args = pod["spec"]["containers"][0]["args"]
    assert args[-5:] == [
        "--autostart",
        "--autoquit",
        "60",
        "--enable-rebalancing",
        "--only-summary",
    ]
    assert pod["spec"]["initContainers"][0]["restartPolicy"] == "Always"


def test_the_masters_labels_and_annotations_reach_the_pod_but_not_over_the_operators() -> None:
    test = v2("t")
    test["spec"]["master"]["labels"] = {"team": "a", "managed-by": "me"}
    test["spec"]["master"]["annotations"] = {"locust-finisher.io/ttl": "1m"}
    test["spec"]["master"]["extraArgs"] = ["--exit-code-on-error", "0"]
    pod = job_pod(master_job(test))
    assert pod["metadata"]["labels"]["team"] == "a"
    assert pod["metadata"]["labels"]["managed-by"] == "locust-k8s-operator"
    assert pod["metadata"]["annotations"]["locust-finisher.io/ttl"] == "1m"
    assert pod["spec"]["containers"][0]["args"][-2:] == ["--exit-code-on-error", "0"]


def test_open_telemetry_means_no_exporter_and_no_scrape_annotations() -> None:
    test = v2("t")
    test["spec"]["observability"] = {"openTelemetry": {"enabled": True}}
    pod = job_pod(master_job(test))
    assert "initContainers" not in pod["spec"]
    assert [c["name"] for c in pod["spec"]["containers"]] == ["t-master"]
    assert "--otel" in pod["spec"]["containers"][0]["args"]
    assert "annotations" not in pod["metadata"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.update(apiVersion="locust.io/v3"), "apiVersion must be locust.io/v1"),
        (lambda t: t["spec"]["master"].update(command=7), "the master command must be"),
        (lambda t: t["spec"]["worker"].update(replicas=0), "replicas must be a whole number"),
        (lambda t: t["spec"]["master"].update(labels=["a"]), "master labels must be a mapping"),
        (lambda t: t["spec"].pop("image"), "the image must be a non-empty string"),
    ],
)
def test_a_bad_locusttest_is_one_line(change: Any, message: str) -> None:
    test = v2("t")
    change(test)
    with pytest.raises(WorkloadError, match=message) as raised:
        previews(test)
    assert "\n" not in str(raised.value)
    assert str(raised.value).startswith("locusttest/t: ")


def test_the_java_operator_serves_v1_only_and_the_official_operators_test_is_not_previewed() -> (
    None
):
    with pytest.raises(LocustTestError, match=r"serves locust\.io/v1 only"):
        master_job(v2("t"), "java-1.1")
    official = {"apiVersion": "locust.io/v1", "kind": "LocustTest", "metadata": {"name": "t"},
                "spec": {"args": "--autostart", "workers": 2}}  # fmt: skip
    with pytest.raises(LocustTestError, match="locustio/k8s-operator's LocustTest"):
        master_job(official)
