"""The CI identity's ClusterRoles grant exactly what `wait` and `report` ask of the API server.

`check` asks for the same rights (app/core/precheck.py); a role that grants less makes `wait`
exit 2 for want of a right, one that grants more gives CI an identity it does not need.
"""

from typing import Any

import pytest

from app.core.names import CI_LIVE_NUMBERS_ROLE, CI_ROLE
from app.core.precheck import CI_RIGHTS, LIVE_NUMBERS_RIGHT, Right
from release import release_manifests
from tests.manifests.render import MANIFESTS, Key, chart_objects, kustomize_objects, objects

CI: Key = ("ClusterRole", "", CI_ROLE)
LIVE_NUMBERS: Key = ("ClusterRole", "", CI_LIVE_NUMBERS_ROLE)
AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"


def granted(role: dict[str, Any]) -> set[Right]:
    """Each (group, resource, verb, subresource) a role's rules allow, wildcards refused."""
    rights: set[Right] = set()
    for rule in role["rules"]:
        assert not rule.get("resourceNames"), rule
        for group in rule["apiGroups"]:
            for named in rule["resources"]:
                resource, _, subresource = named.partition("/")
                for verb in rule["verbs"]:
                    assert "*" not in (group, resource, verb), rule
                    rights.add((group, resource, verb, subresource))
    return rights


def aggregated_into(role: dict[str, Any]) -> set[str]:
    labels = role["metadata"].get("labels", {})
    return {
        key.removeprefix(AGGREGATE)
        for key, value in labels.items()
        if key.startswith(AGGREGATE) and value == "true"
    }


@pytest.fixture(scope="module", params=["chart", "kustomize", "release"])
def installed(request: pytest.FixtureRequest) -> dict[Key, dict[str, Any]]:
    if request.param == "chart":
        return chart_objects()
    if request.param == "kustomize":
        return kustomize_objects(MANIFESTS / "base")
    return objects(release_manifests.render()["locust-finisher.yaml"])


def test_the_ci_role_grants_exactly_what_wait_and_report_ask_for(
    installed: dict[Key, dict[str, Any]],
) -> None:
    assert granted(installed[CI]) == set(CI_RIGHTS)


def test_live_numbers_are_a_role_of_their_own(installed: dict[Key, dict[str, Any]]) -> None:
    assert granted(installed[LIVE_NUMBERS]) == {LIVE_NUMBERS_RIGHT}
    assert LIVE_NUMBERS_RIGHT not in granted(installed[CI])


def test_the_read_only_role_joins_view_and_the_pod_proxy_only_edit(
    installed: dict[Key, dict[str, Any]],
) -> None:
    # view (and through it edit and admin) already reads Jobs, pods and ConfigMaps; a GET
    # through the pod proxy reaches the exporter's /quitquitquit, which no viewer may.
    assert aggregated_into(installed[CI]) == {"view"}
    assert aggregated_into(installed[LIVE_NUMBERS]) == {"edit"}


def test_the_chart_leaves_them_out_when_asked() -> None:
    found = chart_objects("ciRoles.enabled=false")
    assert CI not in found
    assert LIVE_NUMBERS not in found
    assert ("ClusterRole", "", "locust-finisher-controller") in found
