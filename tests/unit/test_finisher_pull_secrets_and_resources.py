"""The cluster ConfigMap's ``finisherImagePullSecrets`` and ``finisherResources``, end to end:
from the document the webhook reads to the pod the API server stores."""

from typing import Any

import pytest

from app.core.cluster_config import ConfigError, InjectionConfig, parse_cluster_config
from app.core.inject import mutate_pod
from testkit.pod_fixtures import apply_patch, load_pod

MASTER = "operator-go-2.2-master"


def mutated(document: dict[str, Any], pod: dict[str, Any] | None = None) -> dict[str, Any]:
    config = parse_cluster_config(document, InjectionConfig())
    original = pod if pod is not None else load_pod(MASTER)
    mutation = mutate_pod(original, config)
    assert mutation.decision == "mutate", mutation.reason
    return apply_patch(original, mutation.ops)


def finisher(pod: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = pod["spec"]["containers"][0]
    assert container["name"] == "locust-finisher"
    return container


def test_pull_secrets_reach_a_pod_that_has_none() -> None:
    pod = mutated({"finisherImagePullSecrets": ["mirror-pull", "mirror-pull", "backup-pull"]})
    assert pod["spec"]["imagePullSecrets"] == [{"name": "mirror-pull"}, {"name": "backup-pull"}]


def test_pull_secrets_join_the_pods_own_without_repeating_them() -> None:
    pod = load_pod(MASTER)
    pod["spec"]["imagePullSecrets"] = [{"name": "team-registry"}, {"name": "mirror-pull"}]
    config = parse_cluster_config(
        {"finisherImagePullSecrets": ["mirror-pull", "backup-pull"]}, InjectionConfig()
    )
    ops = mutate_pod(pod, config).ops
    # One explicit op per missing Secret; never a rewrite of the pod's own list.
    assert {
        "op": "add",
        "path": "/spec/imagePullSecrets/-",
        "value": {"name": "backup-pull"},
    } in ops
    assert not [op for op in ops if op["path"] == "/spec/imagePullSecrets"]
    patched = apply_patch(pod, ops)
    assert patched["spec"]["imagePullSecrets"] == [
        {"name": "team-registry"},
        {"name": "mirror-pull"},
        {"name": "backup-pull"},
    ]


def test_pull_secrets_are_named_in_the_status_annotation_only_when_added() -> None:
    with_secret = mutated({"finisherImagePullSecrets": ["mirror-pull"]})
    without = mutated({})
    status = "locust-finisher.io/status"
    assert "imagePullSecrets" in with_secret["metadata"]["annotations"][status]
    assert "imagePullSecrets" not in without["metadata"]["annotations"][status]
    assert "imagePullSecrets" not in without["spec"]


def test_the_controller_strategy_adds_no_pull_secrets() -> None:
    config = parse_cluster_config(
        {"strategy": "controller", "finisherImagePullSecrets": ["mirror-pull"]},
        InjectionConfig(),
    )
    ops = mutate_pod(load_pod(MASTER), config).ops
    assert not [op for op in ops if "imagePullSecrets" in op["path"]]


def test_the_default_resources_are_the_documented_ones() -> None:
    assert finisher(mutated({}))["resources"] == {
        "requests": {"cpu": "10m", "memory": "32Mi"},
        "limits": {"cpu": "200m", "memory": "64Mi"},
    }


def test_a_resources_section_replaces_the_default_one_and_keeps_the_other() -> None:
    pod = mutated({"finisherResources": {"limits": {"memory": "128Mi", "cpu": 1}}})
    assert finisher(pod)["resources"] == {
        "requests": {"cpu": "10m", "memory": "32Mi"},
        "limits": {"memory": "128Mi", "cpu": "1"},
    }


def test_an_empty_limits_section_drops_the_limits() -> None:
    pod = mutated({"finisherResources": {"limits": {}}})
    assert finisher(pod)["resources"] == {"requests": {"cpu": "10m", "memory": "32Mi"}}


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"limits": {"memory": "lots"}}, "finisherResources.limits.memory: 'lots' is not"),
        ({"limits": {"memory": "-64Mi"}}, "finisherResources.limits.memory"),
        ({"requests": {"gpu": "1"}}, "unknown resource 'gpu'"),
        ({"request": {"cpu": "1"}}, "unknown key 'request'"),
        ({"requests": {"cpu": True}}, "finisherResources.requests.cpu"),
        ({"requests": ["cpu"]}, "finisherResources.requests must be a mapping"),
        ("small", "finisherResources must be a mapping"),
        # Above the default limit of 64Mi: the API server would refuse every mutated pod.
        ({"requests": {"memory": "100Mi"}}, "the memory request 100Mi is above its limit 64Mi"),
        ({"requests": {"cpu": "0.5"}, "limits": {"cpu": "300m"}}, "cpu request 0.5 is above"),
    ],
)
def test_bad_resources_are_refused_naming_the_key(resources: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_cluster_config({"finisherResources": resources}, InjectionConfig())
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "amounts",
    [
        {"requests": {"cpu": "1"}, "limits": {"cpu": "1000m"}},
        {"requests": {"memory": "1Gi"}, "limits": {"memory": "1073741824"}},
        {"requests": {"memory": "1G"}, "limits": {"memory": "1Gi"}},
        {"requests": {"cpu": "1e-1"}, "limits": {"cpu": "100m"}},
        {"requests": {"cpu": 0.25, "ephemeral-storage": "1Mi"}, "limits": {"cpu": "250m"}},
    ],
)
def test_equal_or_lower_requests_in_any_notation_are_accepted(amounts: object) -> None:
    parse_cluster_config({"finisherResources": amounts}, InjectionConfig())


@pytest.mark.parametrize(
    "secrets",
    [
        "mirror-pull",
        [{"name": "mirror-pull"}],
        ["Mirror_Pull"],
        [""],
        ["a" * 254],
    ],
)
def test_bad_pull_secrets_are_refused_naming_the_key(secrets: object) -> None:
    with pytest.raises(ConfigError, match="finisherImagePullSecrets"):
        parse_cluster_config({"finisherImagePullSecrets": secrets}, InjectionConfig())
