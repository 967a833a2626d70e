"""The finisher's way to hand over Locust's report: a token of our audience and the URL.

From the configuration the webhook reads to the pod the API server stores; the finisher gets
no API rights, only a projected token its kubelet refreshes.
"""

import copy
from typing import Any

import pytest

from app.core import env_names, names
from app.core import finisher_spec as spec
from app.core.cluster_config import ConfigError, InjectionConfig, parse_cluster_config
from app.core.inject import mutate_pod
from testkit.pod_fixtures import apply_patch, load_pod

MASTER = "operator-go-2.2-master"
DEFAULT_URL = "http://locust-finisher-controller.locust-finisher.svc:8081/v1/reports"


def mutated(pod: dict[str, Any], document: dict[str, Any] | None = None) -> dict[str, Any]:
    mutation = mutate_pod(pod, parse_cluster_config(document, InjectionConfig()))
    assert mutation.decision == "mutate", mutation.reason
    return apply_patch(pod, mutation.ops)


def env(container: dict[str, Any]) -> dict[str, str]:
    return {entry["name"]: entry.get("value", "") for entry in container.get("env", [])}


def test_the_finisher_gets_a_projected_token_of_our_audience_and_the_url() -> None:
    pod = mutated(load_pod(MASTER))
    finisher = pod["spec"]["containers"][0]
    (mount,) = finisher["volumeMounts"]
    assert mount == {
        "name": spec.REPORT_TOKEN_VOLUME,
        "mountPath": spec.REPORT_TOKEN_DIR,
        "readOnly": True,
    }
    (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == spec.REPORT_TOKEN_VOLUME]
    assert volume["projected"]["sources"] == [
        {
            "serviceAccountToken": {
                "audience": names.REPORT_AUDIENCE,
                "expirationSeconds": 3600,
                "path": "token",
            }
        }
    ]
    assert env(finisher)[env_names.ENV_REPORT_URL] == DEFAULT_URL


def test_a_user_volume_of_that_name_is_left_alone() -> None:
    pod = load_pod(MASTER)
    users = {"name": spec.REPORT_TOKEN_VOLUME, "emptyDir": {}}
    pod["spec"]["volumes"].append(users)
    patched = mutated(copy.deepcopy(pod))
    names_ = [v["name"] for v in patched["spec"]["volumes"]]
    assert users in patched["spec"]["volumes"]
    assert len(names_) == len(set(names_)), "no two volumes of one name"
    ours = f"{spec.REPORT_TOKEN_VOLUME}-2"
    assert patched["spec"]["containers"][0]["volumeMounts"][0]["name"] == ours
    assert "projected" in next(v for v in patched["spec"]["volumes"] if v["name"] == ours)


def test_a_pod_without_volumes_gets_the_list() -> None:
    pod = load_pod(MASTER)
    pod["spec"].pop("volumes", None)
    patched = mutated(pod)
    assert [v["name"] for v in patched["spec"]["volumes"]] == [spec.REPORT_TOKEN_VOLUME]


def test_a_second_pass_changes_nothing() -> None:
    once = mutated(load_pod(MASTER))
    again = mutate_pod(once, InjectionConfig())
    assert (again.decision, again.ops) == ("skip", [])


def test_an_empty_report_url_keeps_no_report_and_adds_no_token() -> None:
    pod = mutated(load_pod(MASTER), {"reportUrl": ""})
    finisher = pod["spec"]["containers"][0]
    assert "volumeMounts" not in finisher
    assert env_names.ENV_REPORT_URL not in env(finisher)
    assert spec.REPORT_TOKEN_VOLUME not in [v["name"] for v in pod["spec"]["volumes"]]


def test_the_cluster_configuration_names_another_url() -> None:
    url = "http://reports.ops.svc:9000/v1/reports"
    finisher = mutated(load_pod(MASTER), {"reportUrl": url})["spec"]["containers"][0]
    assert env(finisher)[env_names.ENV_REPORT_URL] == url


@pytest.mark.parametrize("value", ["https://x/v1/reports", "ftp://x", 42, "http://a b"])
def test_a_bad_report_url_is_refused_naming_the_key(value: object) -> None:
    with pytest.raises(ConfigError, match="reportUrl"):
        parse_cluster_config({"reportUrl": value}, InjectionConfig())


def test_the_controller_strategy_adds_no_token() -> None:
    pod = load_pod(MASTER)
    pod["metadata"].setdefault("annotations", {})[names.STRATEGY_ANNOTATION] = "controller"
    patched = mutated(pod)
    assert spec.REPORT_TOKEN_VOLUME not in [v["name"] for v in patched["spec"]["volumes"]]
