"""The Helm chart and the kustomize manifests install the same thing.

Both are written by hand, so each fix to one must reach the other: the chart with the
values that correspond to the cert-manager overlay must render exactly that overlay's
objects, once the labels only Helm adds are set aside.
"""

from typing import Any

import pytest
import yaml

from tests.manifests.render import (
    MANIFESTS,
    Key,
    chart_objects,
    kustomize_objects,
)

# Labels and annotations only Helm writes: release bookkeeping, and a rollout on changes.
HELM_LABELS = (
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "helm.sh/chart",
)
HELM_ANNOTATIONS = ("checksum/config",)
# Helm installs into a namespace it is given (--create-namespace); kustomize makes its own.
KUSTOMIZE_ONLY = {("Namespace", "", "locust-finisher")}


def _drop(mapping: Any, keys: tuple[str, ...]) -> None:
    if isinstance(mapping, dict):
        for key in keys:
            mapping.pop(key, None)


def normalised(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without Helm's own labels, with the webhook's configuration parsed."""
    metadata = obj["metadata"]
    _drop(metadata.get("labels"), HELM_LABELS)
    spec = obj.get("spec", {})
    _drop(spec.get("selector", {}).get("matchLabels"), HELM_LABELS)
    if obj["kind"] == "Service":
        _drop(spec.get("selector"), HELM_LABELS)
    template = spec.get("template", {}).get("metadata", {})
    _drop(template.get("labels"), HELM_LABELS)
    _drop(template.get("annotations"), HELM_ANNOTATIONS)
    if template.get("annotations") == {}:
        del template["annotations"]
    if obj["kind"] == "ConfigMap":
        # The same settings, whatever the comments and quoting.
        obj["data"] = {key: yaml.safe_load(value) for key, value in obj["data"].items()}
    return obj


@pytest.fixture(scope="module")
def both() -> tuple[dict[Key, dict[str, Any]], dict[Key, dict[str, Any]]]:
    chart = chart_objects("certManager.enabled=true")
    overlay = kustomize_objects(MANIFESTS / "overlays" / "cert-manager")
    return (
        {key: normalised(obj) for key, obj in chart.items()},
        {key: normalised(obj) for key, obj in overlay.items() if key not in KUSTOMIZE_ONLY},
    )


def test_both_make_the_same_objects(
    both: tuple[dict[Key, dict[str, Any]], dict[Key, dict[str, Any]]],
) -> None:
    chart, overlay = both
    assert sorted(chart) == sorted(overlay)


def test_every_object_is_the_same(
    both: tuple[dict[Key, dict[str, Any]], dict[Key, dict[str, Any]]],
) -> None:
    chart, overlay = both
    different = [key for key in sorted(set(chart) & set(overlay)) if chart[key] != overlay[key]]
    details = "\n".join(
        f"{key}:\n  chart:     {chart[key]}\n  kustomize: {overlay[key]}" for key in different
    )
    assert not different, details


def test_the_comparison_sees_a_difference_in_an_important_field(
    both: tuple[dict[Key, dict[str, Any]], dict[Key, dict[str, Any]]],
) -> None:
    chart, _ = both
    changed = chart_objects("certManager.enabled=true", "webhook.failurePolicy=Fail")
    key = ("MutatingWebhookConfiguration", "", "locust-finisher")
    assert normalised(changed[key]) != chart[key]
