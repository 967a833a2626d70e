"""The finisher fitted into pod-level resources, LimitRanges and quotas, or left out: never refused.

The operator-shaped master here asks for 500m and 256Mi in all (limits: 2 CPUs and 2Gi); the
finisher for 10m and 32Mi (limits 200m and 64Mi).
"""

from typing import Any

from app.core import names
from app.core.cluster_config import InjectionConfig
from app.core.fitting import NO_LIMITS, NamespaceLimits
from app.core.inject import mutate_pod
from app.core.injection_status import Fitting, read_status
from app.core.settings import Strategy
from testkit.pod_fixtures import apply_patch, load_pod

MASTER = "operator-go-2.2-master"


def limit_range(*items: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "limits"}, "spec": {"limits": list(items)}}


def quota(hard: dict[str, str], used: dict[str, str] | None = None) -> dict[str, Any]:
    status = {"hard": hard, "used": used or {}}
    return {"metadata": {"name": "compute"}, "spec": {"hard": hard}, "status": status}


def admitted(
    pod: dict[str, Any], limits: NamespaceLimits = NO_LIMITS
) -> tuple[dict[str, Any], list[str]]:
    mutation = mutate_pod(pod, InjectionConfig(), limits)
    assert mutation.decision == "mutate", mutation.reason
    return apply_patch(pod, mutation.ops), mutation.warnings


def finisher(pod: dict[str, Any]) -> dict[str, Any] | None:
    found = [c for c in pod["spec"]["containers"] if c["name"] == names.FINISHER_CONTAINER]
    return found[0] if found else None


def test_pod_level_resources_grow_by_what_the_finisher_takes() -> None:
    pod = load_pod(MASTER)
    pod["spec"]["resources"] = {
        "requests": {"cpu": "500m", "memory": "256Mi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    }
    mutated, _ = admitted(pod)
    assert mutated["spec"]["resources"] == {
        "requests": {"cpu": "510m", "memory": "288Mi"},
        "limits": {"cpu": "2200m", "memory": "2112Mi"},
    }


def test_a_pod_without_pod_level_resources_gets_none() -> None:
    mutated, _ = admitted(load_pod(MASTER))
    assert "resources" not in mutated["spec"]


def test_a_limit_range_minimum_and_ratio_raise_the_requests_and_the_status_says_so() -> None:
    item = {"type": "Container", "min": {"cpu": "50m"}, "maxLimitRequestRatio": {"memory": "1"}}
    mutated, _ = admitted(load_pod(MASTER), NamespaceLimits(limit_ranges=(limit_range(item),)))
    container = finisher(mutated)
    assert container is not None
    assert container["resources"]["requests"] == {"cpu": "50m", "memory": "64Mi"}
    assert container["resources"]["limits"] == {"cpu": "200m", "memory": "64Mi"}
    status = read_status(mutated["metadata"]["annotations"])
    assert status is not None
    assert status.fitting is Fitting.RESIZED
    assert "cpu request 10m -> 50m (LimitRange limits minimum)" in status.fitting_reason
    assert "memory request 32Mi -> 64Mi (LimitRange limits limit/request ratio)" in (
        status.fitting_reason
    )


def test_a_limit_range_maximum_lowers_the_limits_down_to_what_the_finisher_needs() -> None:
    item = {"type": "Container", "max": {"cpu": "100m", "memory": "48Mi"}}
    mutated, _ = admitted(load_pod(MASTER), NamespaceLimits(limit_ranges=(limit_range(item),)))
    container = finisher(mutated)
    assert container is not None
    assert container["resources"]["limits"] == {"cpu": "100m", "memory": "48Mi"}


def test_a_limit_range_too_small_for_the_finisher_leaves_it_out_and_the_controller_finishes() -> (
    None
):
    item = {"type": "Container", "max": {"memory": "32Mi"}}
    pod = load_pod(MASTER)
    mutated, warnings = admitted(pod, NamespaceLimits(limit_ranges=(limit_range(item),)))
    assert finisher(mutated) is None
    assert mutated["spec"].get("shareProcessNamespace") is not True
    status = read_status(mutated["metadata"]["annotations"])
    assert status is not None
    assert status.fitting is Fitting.LEFT_OUT
    assert status.settings.strategy is Strategy.CONTROLLER
    assert "memory limit of 32Mi, below the 48Mi it needs" in status.fitting_reason
    assert any("left out" in warning for warning in warnings)


def test_a_quota_the_master_just_fits_leaves_the_finisher_out() -> None:
    hard = {"requests.cpu": "1", "requests.memory": "1Gi", "limits.memory": "2Gi"}
    used = {"requests.cpu": "200m", "requests.memory": "0", "limits.memory": "0"}
    pod = load_pod(MASTER)
    mutated, _ = admitted(pod, NamespaceLimits(quotas=(quota(hard, used),)))
    assert finisher(mutated) is None
    status = read_status(mutated["metadata"]["annotations"])
    assert status is not None
    assert status.fitting_reason == (
        "ResourceQuota compute has 2Gi of limits.memory left; the master pod needs 2Gi,"
        " 2112Mi with the finisher"
    )


def test_a_quota_with_room_for_both_changes_nothing() -> None:
    hard = {"requests.cpu": "4", "limits.memory": "8Gi", "pods": "10"}
    mutated, _ = admitted(load_pod(MASTER), NamespaceLimits(quotas=(quota(hard),)))
    assert finisher(mutated) is not None
    status = read_status(mutated["metadata"]["annotations"])
    assert status is not None
    assert status.fitting is Fitting.AS_CONFIGURED
    assert "fitting" not in mutated["metadata"]["annotations"][names.STATUS_ANNOTATION]


def test_a_pod_limit_range_the_master_just_fits_leaves_the_finisher_out() -> None:
    item = {"type": "Pod", "max": {"cpu": "2"}}
    mutated, _ = admitted(load_pod(MASTER), NamespaceLimits(limit_ranges=(limit_range(item),)))
    assert finisher(mutated) is None


def test_nonsense_in_a_limit_range_or_quota_is_ignored_not_fatal() -> None:
    nonsense = NamespaceLimits(
        limit_ranges=({"spec": {"limits": [{"type": "Container", "max": {"cpu": "lots"}}]}},),
        quotas=({"status": {"hard": {"limits.memory": ["1Gi"]}}},),
    )
    mutated, _ = admitted(load_pod(MASTER), nonsense)
    assert finisher(mutated) is not None
