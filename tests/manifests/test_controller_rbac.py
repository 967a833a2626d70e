"""The controller's ClusterRole: what it may do to Services, from either install path."""

from typing import Any

import pytest

from tests.manifests.render import MANIFESTS, chart_objects, kustomize_objects

ROLE = ("ClusterRole", "", "locust-finisher-controller")


def verbs_on(role: dict[str, Any], resource: str) -> set[str]:
    return {
        verb
        for rule in role["rules"]
        if "" in rule["apiGroups"] and resource in rule["resources"]
        for verb in rule["verbs"]
    }


@pytest.mark.parametrize("install", ["chart", "kustomize"])
def test_it_may_read_and_patch_services_and_nothing_more(install: str) -> None:
    # Patching publishNotReadyAddresses when a finisher's image cannot be pulled; never
    # creating, deleting or replacing a Service, nor watching them all.
    if install == "chart":
        found = chart_objects("certManager.enabled=true")
    else:
        found = kustomize_objects(MANIFESTS / "overlays" / "cert-manager")
    assert verbs_on(found[ROLE], "services") == {"get", "list", "patch"}


@pytest.mark.parametrize("install", ["chart", "kustomize"])
def test_it_may_read_a_namespace_for_its_retention_defaults_and_nothing_more(install: str) -> None:
    if install == "chart":
        found = chart_objects("certManager.enabled=true")
    else:
        found = kustomize_objects(MANIFESTS / "overlays" / "cert-manager")
    assert verbs_on(found[ROLE], "namespaces") == {"get"}


def test_security_md_states_its_cluster_wide_rights_as_shipped() -> None:
    # SECURITY.md's table is what a platform team reviews before installing: it must say
    # everything the ClusterRole grants, and nothing else.
    text = (MANIFESTS.parent / "SECURITY.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| controller ("))
    items = row.split(" | ")[1].split("; ")
    # "secrets: get of `name` alone": a verb, then the names it is limited to.
    stated = {
        resource: {verb.split(" ")[0] for verb in verbs.split(", ")}
        for resource, verbs in (item.split(": ") for item in items)
    }
    role = kustomize_objects(MANIFESTS / "base")[ROLE]
    granted: dict[str, set[str]] = {}
    for rule in role["rules"]:
        for resource in rule["resources"]:
            granted.setdefault(resource, set()).update(rule["verbs"])
            for name in rule.get("resourceNames", []):
                said = next(item for item in items if item.startswith(f"{resource}: "))
                assert f"of `{name}` alone" in said
    assert stated == granted


@pytest.mark.parametrize("install", ["chart", "kustomize"])
def test_it_may_read_secrets_of_one_name_only_never_list_them(install: str) -> None:
    if install == "chart":
        found = chart_objects("certManager.enabled=true")
    else:
        found = kustomize_objects(MANIFESTS / "overlays" / "cert-manager")
    rules = [r for r in found[ROLE]["rules"] if "secrets" in r["resources"]]
    assert rules == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["locust-finisher-notify"],
            "verbs": ["get"],
        }
    ]


@pytest.mark.parametrize("install", ["chart", "kustomize"])
def test_it_may_keep_and_expire_test_histories_in_configmaps(install: str) -> None:
    # Reports and histories: read by name, listed by label (the expiry sweep), created and
    # replaced, and deleted once a test has not run for history.expireAfter. The write policy
    # narrows each write to those ConfigMaps (test_report_write_policy_cel.py).
    if install == "chart":
        found = chart_objects("certManager.enabled=true")
    else:
        found = kustomize_objects(MANIFESTS / "overlays" / "cert-manager")
    assert verbs_on(found[ROLE], "configmaps") == {
        "get",
        "list",
        "watch",
        "create",
        "update",
        "delete",
    }
